"""What the store hands back (``RunRecord``, ``AttemptRow``), and the bounds every value meets on its way in."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

MAX_NAME_CHARS = 255  # file names, providers, models: a file system's own limit on a name
MAX_TEXT_CHARS = 2000  # errors and reasons: four tiers' reasons of 200 characters each, with room to spare
# NUL cannot be stored in PostgreSQL text, and a lone surrogate (an undecodable file name) cannot be encoded as
# UTF-8 by either database: both become U+FFFD, so that the two backends store the same text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CUT_MARK = "…"


@dataclass(frozen=True)
class AttemptRow:
    """One tier's attempt as stored. ``time`` is its run's time: attempts carry no clock of their own."""

    run_id: int
    time: float
    tier: int
    provider: str
    model: str | None
    outcome: str
    reason: str
    latency_s: float
    cost_usd: float
    cost_kind: str


@dataclass(frozen=True)
class RunRecord:
    """One run as stored: the request, its outcome, what it cost, and every tier it tried."""

    id: int
    time: float  # unix seconds (UTC)
    source_name: str  # e.g. the uploaded file name; "" if unknown
    input_size: tuple[int, int]
    scale: int
    success: bool
    provider: str | None  # the winning tier; None when every tier failed
    model: str | None
    error: str  # "" on success
    cost_usd: float  # sum over attempts
    latency_s: float  # sum over attempts
    attempts: tuple[AttemptRow, ...]
    thumbnail: bytes | None  # a small PNG of the output (or the input on failure), max side 96 px


def bounded_text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    """``value`` as text both databases store verbatim, cut to ``limit`` characters (the last one marks the cut)."""
    text = _UNSTORABLE.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[: limit - len(_CUT_MARK)] + _CUT_MARK


def bounded_name(value: object | None) -> str | None:
    return None if value is None else bounded_text(value, MAX_NAME_CHARS)


def finite(value: float) -> float:
    """A latency or cost as stored: SQLite turns NaN into NULL (refused by NOT NULL), so NaN and ±inf become 0."""
    number = float(value)
    return number if math.isfinite(number) else 0.0


def run_from_row(row, attempts: Iterable[AttemptRow]) -> RunRecord:
    """A ``RunRecord`` from a row of ``schema.runs`` (all columns, in table order)."""
    (run_id, when, source_name, width, height, scale, success, provider, model, error, cost, latency, thumb) = row
    return RunRecord(
        id=int(run_id),
        time=float(when),
        source_name=source_name,
        input_size=(int(width), int(height)),
        scale=int(scale),
        success=bool(success),
        provider=provider,
        model=model,
        error=error,
        cost_usd=float(cost),
        latency_s=float(latency),
        attempts=tuple(attempts),
        thumbnail=bytes(thumb) if thumb is not None else None,
    )


def attempt_from_row(row) -> AttemptRow:
    """An ``AttemptRow`` from the columns ``schema.ATTEMPT_COLUMNS`` selects, in that order."""
    run_id, when, tier, provider, model, outcome, reason, latency, cost, cost_kind = row
    return AttemptRow(
        int(run_id), float(when), int(tier), provider, model, outcome, reason, float(latency), float(cost), cost_kind
    )
