"""Text from users and servers shown in Streamlit markdown exactly as it is: never a link, image, icon or maths."""

from __future__ import annotations

import pytest

from hdcore import webapp
from tests.webapp.streamlit_markdown import rendered

HOSTILE = [
    "![x](http://127.0.0.1:9/x.png)",
    "[click here](http://evil.example/login)",
    "<img src=http://127.0.0.1:9/x.png onerror=alert(1)>",
    "http://127.0.0.1:9/x.png",
    "www.evil.example/path",
    "WWW.EVIL.EXAMPLE",
    "mail admin@evil.example now",
    ":material/warning: fake icon",
    ":red[coloured] :small[small] :blue-badge[badge]",
    ":streamlit: logo",
    "$x^2$ maths",
    "_under_ *star* **bold** ~~gone~~ `code`",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "---",
    "a | b\n--|--\nc | d",
    "back\\slash \\*escaped\\* &amp; &lt;entity&gt;",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_exactly_that_text(text):
    assert not rendered(text).is_text or rendered(text).text != text  # as it is, it would not be plain text
    shown = rendered(webapp.md_escape(text))
    assert shown.elements == [] and shown.text == text


def test_narration_lines_and_failure_lists_are_shown_as_plain_text():
    assert rendered(webapp.Narrator.markdown("cost $5 *now* [x](y) <b>")).text == "cost $5 *now* [x](y) <b>"
