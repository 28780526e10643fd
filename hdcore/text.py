"""Text shown to people: every message hdcore makes is one line, and a foreign text is cut to a readable length."""

from __future__ import annotations

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
