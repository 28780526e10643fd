"""Text shown to people: every message hdcore makes is one line, and a foreign text is cut to a readable length."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Any, Iterable, Mapping, Sequence

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


def terminal_safe(text: object) -> str:
    """``text`` as a terminal may print it: control characters (ESC sequences that set the title or clear the
    screen, BEL) and bidirectional overrides (which reorder what is shown) spelled out as ``\\x1b``, ``\\u202e``;
    line breaks and tabs kept. File names and servers' errors may hold any of them."""
    return "".join(_spelled(c) if _unprintable(c) else c for c in str(text))


def _unprintable(character: str) -> bool:
    if character in "\n\t":
        return False
    return unicodedata.category(character) == "Cc" or "\u202a" <= character <= "\u202e" or "\u2066" <= character <= "\u2069"


def _spelled(character: str) -> str:
    return repr(character)[1:-1] if ord(character) < 0x10000 else f"\\U{ord(character):08x}"


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


# A spreadsheet runs a cell that begins with one of these as a formula (=HYPERLINK(...) and DDE payloads), so a
# CSV cell of text from outside (a file name, a server's error) that begins with one gets a leading "'": the
# spreadsheet shows the text and hides the quote. A cell already beginning with "'" gets one more, so that
# reading the file back can take exactly one off.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SPREADSHEET_ESCAPE = "'"


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet will show rather than run (numbers and None pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS + (SPREADSHEET_ESCAPE,)):
        return SPREADSHEET_ESCAPE + value
    return value


def csv_table(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row of ``columns``, every text cell ``spreadsheet_safe``. Lines end in CRLF (RFC
    4180): the csv module quotes a cell holding a line ending's characters only, so with "\\n" a lone CR in a
    name would end its row early in every reader."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({name: spreadsheet_safe(record.get(name)) for name in columns})
    return buffer.getvalue()


def spreadsheet_restored(value: str) -> str:
    """The text ``spreadsheet_safe`` was given, from the cell it made."""
    escaped = value.startswith(SPREADSHEET_ESCAPE) and value[1:].startswith(FORMULA_STARTS + (SPREADSHEET_ESCAPE,))
    return value[1:] if escaped else value
