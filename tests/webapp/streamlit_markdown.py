"""What Streamlit 1.67's renderer makes of a markdown string, as far as links, images, HTML and icons go.

Streamlit parses with remark (CommonMark + GFM + directives + maths) and then rewrites the text it found
(read from ``streamlit/static/static/js/StreamlitMarkdown.*.js``): GFM's autolink literal turns ``http://…``,
``www.…`` and ``a@b.c`` inside text into links, ``:streamlit:`` becomes the logo image, ``:name:`` shortcodes
become emoji, ``:material/name:`` an icon and ``:name[…]`` a coloured span or badge; ``$…$`` is maths. This
module parses with markdown-it-py (CommonMark) and applies those rewrites' own patterns to the text, so a test can
ask what a string from outside would become on the page without a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

WORD_JOINER = "\u2060"
# The patterns of Streamlit's bundle (mdast-util-gfm-autolink-literal and Streamlit's own plugins).
AUTOLINK = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
EMAIL = re.compile(r"(?<![^\s\W])([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")
LOGO = re.compile(r":streamlit:")
SHORTCODE = re.compile(r":(?!material/|streamlit:)[\w+-][\w_+-]*:")  # emoji, when the source has one too
DIRECTIVE = re.compile(r"(?<!\\):[A-Za-z]")  # in the source: :red[…], :small[…], :material/x: (an icon)
MATHS = re.compile(r"(?<!\\)\$(?![\s$])[^$\n]*?[^\s$\\]\$(?!\d)")

_parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@dataclass
class Rendered:
    text: str  # what a person reads
    elements: list[str] = field(default_factory=list)  # what else the renderer makes: "link", "image", "html"...

    @property
    def is_text(self) -> bool:
        return not self.elements


def rendered(markdown: str) -> Rendered:
    """``markdown`` as Streamlit would show it: its text, and any link, image, HTML, icon or maths in it."""
    result = Rendered("")
    source = markdown.replace("\\\\", "")  # an escaped backslash escapes nothing after it
    if MATHS.search(source):
        result.elements.append("maths")
    if DIRECTIVE.search(source):
        result.elements.append("directive")
    emoji = SHORTCODE.search(source) is not None  # Streamlit loads remark-emoji only then
    for block in _parser.parse(markdown):
        if block.type not in ("paragraph_open", "paragraph_close", "inline"):
            result.elements.append(block.type.removesuffix("_open"))  # a list, heading, quote, rule, HTML...
        if block.type == "paragraph_open" and result.text:
            result.text += "\n"
        for token in block.children or []:
            _visit(token, result, emoji)
    return result


def _visit(token, result: Rendered, emoji: bool) -> None:
    kinds = {"link_open": "link", "autolink": "link", "image": "image", "html_inline": "html", "em_open": "emphasis",
             "strong_open": "emphasis", "s_open": "strikethrough", "code_inline": "code"}  # fmt: skip
    if token.type in kinds:
        result.elements.append(kinds[token.type])
    if token.type in ("text", "code_inline"):
        text = token.content
        if token.type == "text":
            for name, pattern in (("link", AUTOLINK), ("email link", EMAIL), ("image", LOGO)):
                if pattern.search(text):
                    result.elements.append(name)
            if emoji and SHORTCODE.search(text):
                result.elements.append("emoji")
        result.text += text.replace(WORD_JOINER, "")
    elif token.type in ("softbreak", "hardbreak"):
        result.text += "\n"
    for child in token.children or []:
        _visit(child, result, emoji)
