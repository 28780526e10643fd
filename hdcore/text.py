"""Text shown to people: every message hdcore makes is one line, and a foreign text is cut to a readable length."""

from __future__ import annotations

import re
from typing import Any, Iterable

MAX_DETAIL_CHARS = 200  # a server's or library's own text is cut here, so that a message stays a readable line


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def shortened(text: object, limit: int = MAX_DETAIL_CHARS, ellipsis: str = "...") -> str:
    """``text`` on one line, cut to ``limit`` characters (the ellipsis included) when it is longer."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - len(ellipsis)] + ellipsis


def error_text(error: BaseException | None) -> str:
    """An error's message on one line, or its type's name when it has none."""
    text = one_line(error) if error is not None else ""
    return text or type(error).__name__


SECRET_MASK = "********"


def redacted(text: str, secrets: Iterable[Any], mask: str = SECRET_MASK) -> str:
    """``text`` with every token in ``secrets`` (``Secret`` objects or strings) blanked out, longest first so
    that overlapping tokens are fully hidden.

    A server or proxy may echo a token back, and not always as it was sent: in another case, URL-encoded
    (``%2F``, ``+`` for a space), JSON-escaped (``\\u0068``, ``\\/``) or HTML-escaped (``&#104;``), or any mix of
    these character by character. Every such spelling is masked. Mask first, then shorten: a token cut in two
    by shortening would survive as a prefix.
    """
    values = sorted({_revealed(s) for s in secrets} - {""}, key=len, reverse=True)
    for value in values:  # an empty token is no secret: replacing "" would put the mask between every character
        text = _echo_pattern(value).sub(mask, text)
    return text


def _echo_pattern(secret: str) -> re.Pattern[str]:
    """A pattern matching ``secret`` spelled any way an echo may alter it, one character at a time."""
    return re.compile("".join(_spellings(char) for char in secret), re.IGNORECASE)


def _spellings(char: str) -> str:
    code = ord(char)
    ways = [re.escape(char), "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))]
    ways += [rf"\\u{code:04x}", f"&#0*{code};", f"&#x0*{code:x};"] if code <= 0xFFFF else []
    ways += _EXTRA_SPELLINGS.get(char, [])
    return "(?:" + "|".join(ways) + ")"


# how JSON, HTML and form encoding spell a few characters besides the generic escapes above
_EXTRA_SPELLINGS: dict[str, list[str]] = {
    " ": [r"\+"],
    "/": [r"\\/"],
    '"': [r'\\"', "&quot;"],
    "\\": [r"\\\\"],
    "&": ["&amp;"],
    "<": ["&lt;"],
    ">": ["&gt;"],
    "'": ["&apos;"],
}


def masked_and_shortened(text: object, secrets: Iterable[Any], limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` on one line, every token masked, then cut to ``limit`` characters: in that order."""
    return shortened(redacted(one_line(text), secrets), limit)


def _revealed(secret: Any) -> str:
    if secret is None:
        return ""
    return secret.reveal() if hasattr(secret, "reveal") else str(secret)


def usd(amount: float) -> str:
    """$0, $0.0019, $4.98: four decimals under a dollar (cloud prices are fractions of a cent), cents above."""
    if amount == 0:
        return "$0"
    return f"${amount:.4f}" if abs(amount) < 1 else f"${amount:,.2f}"


def seconds(value: float | None) -> str:
    """ "1.5 s", or "none" for no value (a tier with no deadline)."""
    return "none" if value is None else f"{value:g} s"


def human_bytes(count: int) -> str:
    """ "1.5 MB", "24 KB", "512 B" (decimal units, as file managers show them)."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    if count >= 1_000:
        return f"{count / 1_000:.0f} KB"
    return f"{count} B"
