"""QA sweeps in the history: each one's settings and totals, its rows, and its leaderboard, so that past sweeps
can be listed, two of them compared (``hdcore.sweep.leaderboard.compare``), and a provider's quality followed
from one sweep to the next (``trend``).

Rows are stored as ``SweepRow.to_record`` writes them to results.json (figures rounded, an infinite PSNR as
None): a stored sweep reads back exactly as its results file would. Every text is bounded on the way in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from .records import MAX_NAME_CHARS, bounded_name, bounded_text, finite
from .schema import sweep_lines, sweep_rows, sweeps

if TYPE_CHECKING:
    from ..sweep.results import SweepResult
    from .database import Database

LINE_FIGURES = ("psnr_y", "ssim_y", "lr_psnr", "sharpness", "niqe", "latency_s")
MAX_SWEEPS_LISTED = 1000


@dataclass(frozen=True)
class SweepRecord:
    """One stored sweep, as listed: when, what, its settings and totals (its rows come with ``result``)."""

    id: int
    time: float  # unix seconds (UTC), when it finished
    name: str  # what was swept ("" if unknown)
    degradation: str
    scales: tuple[int, ...]
    entries: tuple[str, ...]
    reference_count: int
    row_count: int
    failures: int
    duration_s: float
    cost_usd: float


@dataclass(frozen=True)
class TrendPoint:
    """One provider x model's means in one sweep: a point of its quality over time."""

    sweep_id: int
    time: float
    provider: str
    model: str
    scale: int
    degradation: str
    images: int
    psnr_y: float | None
    ssim_y: float | None
    niqe: float | None


def record(database: "Database", result: "SweepResult", name: str, when: float | None,
           duration_s: float) -> int:  # fmt: skip
    """Store ``result`` (settings, rows and leaderboard) in one transaction; returns the sweep's id."""
    when = time.time() if when is None else float(when)
    summary = {
        "time": when, "name": bounded_text(name, MAX_NAME_CHARS), "degradation": bounded_text(result.degradation),
        "scales": ",".join(str(int(scale)) for scale in result.scales),
        "entries": bounded_text(",".join(result.entries)), "reference_count": len(result.references),
        "row_count": len(result.rows), "failures": result.failures, "duration_s": finite(duration_s),
        "cost_usd": math.fsum(finite(row.cost_usd) for row in result.rows),
    }  # fmt: skip
    rows = [_row_values(record) for record in result.to_records()]
    lines = [_line_values(line) for line in result.leaderboard()]
    with database.transaction("record a sweep", write=True) as connection:
        sweep_id = int(connection.execute(sweeps.insert(), summary).inserted_primary_key[0])
        if rows:
            connection.execute(sweep_rows.insert(), [{**row, "sweep_id": sweep_id} for row in rows])
        if lines:
            connection.execute(sweep_lines.insert(), [{**line, "sweep_id": sweep_id} for line in lines])
    return sweep_id


def listed(database: "Database", limit: int, offset: int) -> list[SweepRecord]:
    """Sweeps newest first."""
    query = sweeps.select().order_by(sweeps.c.time.desc(), sweeps.c.id.desc())
    query = query.limit(max(0, min(int(limit), MAX_SWEEPS_LISTED))).offset(max(0, int(offset)))
    with database.transaction("read sweeps", write=False) as connection:
        return [_summary(row) for row in connection.execute(query)]


def one(database: "Database", sweep_id: int) -> tuple[SweepRecord, "SweepResult"] | None:
    """A sweep and its rows as a ``SweepResult`` (settings from its summary); None when there is no such id."""
    from ..sweep.results import SweepResult, SweepRow

    with database.transaction("read a sweep", write=False) as connection:
        found = connection.execute(sweeps.select().where(sweeps.c.id == int(sweep_id))).first()
        if found is None:
            return None
        records = _stored_rows(connection, int(sweep_id))
    summary = _summary(found)
    try:
        rows = [SweepRow.from_record(record) for record in records]
    except ValueError as error:  # only a database edited by hand: say which sweep, as any storage failure
        raise database.error("read a sweep", f"sweep {summary.id} holds a row that is not a sweep's: {error}")
    references = list(dict.fromkeys(row.image for row in rows))
    return summary, SweepResult(rows, summary.entries, summary.scales, summary.degradation, references)


def trend(database: "Database", scale: int | None, degradation: str | None) -> list[TrendPoint]:
    """Every provider x model's means, sweep by sweep, oldest first; only ``scale`` / ``degradation`` if given."""
    columns = (sweeps.c.id, sweeps.c.time, sweep_lines.c.provider, sweep_lines.c.model, sweep_lines.c.scale,
               sweep_lines.c.degradation, sweep_lines.c.images, sweep_lines.c.psnr_y, sweep_lines.c.ssim_y,
               sweep_lines.c.niqe)  # fmt: skip
    query = select(*columns).join(sweeps, sweeps.c.id == sweep_lines.c.sweep_id)
    if scale is not None:
        query = query.where(sweep_lines.c.scale == int(scale))
    if degradation is not None:
        query = query.where(sweep_lines.c.degradation == degradation)
    query = query.order_by(sweeps.c.time, sweeps.c.id, sweep_lines.c.provider, sweep_lines.c.model)
    with database.transaction("read sweeps", write=False) as connection:
        return [TrendPoint(int(row[0]), float(row[1]), *row[2:4], int(row[4]), row[5], int(row[6]), *row[7:])
                for row in connection.execute(query)]


def _stored_rows(connection: Connection, sweep_id: int) -> list[dict[str, Any]]:
    names = [column.name for column in sweep_rows.columns if column.name not in ("id", "sweep_id")]
    query = select(*(sweep_rows.c[name] for name in names)).where(sweep_rows.c.sweep_id == sweep_id)
    return [dict(zip(names, row)) for row in connection.execute(query.order_by(sweep_rows.c.id))]


def _row_values(record: dict[str, Any]) -> dict[str, Any]:
    values = dict(record)
    for name in ("image", "reason"):
        values[name] = bounded_text(values[name])
    for name in ("entry", "provider", "model", "degradation", "outcome", "cost_kind"):
        values[name] = bounded_name(values[name])
    values["latency_s"], values["cost_usd"] = finite(values["latency_s"]), finite(values["cost_usd"])
    return values


def _line_values(line: dict[str, Any]) -> dict[str, Any]:
    values = {"provider": bounded_text(line["provider"], MAX_NAME_CHARS),
              "model": bounded_text(line["model"] or "", MAX_NAME_CHARS), "scale": int(line["scale"]),
              "degradation": bounded_text(line["degradation"]), "images": int(line["images"]),
              "failures": int(line["failures"]), "cost_usd_total": finite(line["cost_usd_total"])}  # fmt: skip
    for name in LINE_FIGURES:
        value = line[name]
        values[name] = float(value) if value is not None and math.isfinite(value) else None
    return values


def _summary(row: Any) -> SweepRecord:
    scales = tuple(int(part) for part in row.scales.split(",") if part.strip().isdigit())
    entries = tuple(part for part in row.entries.split(",") if part)
    return SweepRecord(int(row.id), float(row.time), row.name, row.degradation, scales, entries,
                       int(row.reference_count), int(row.row_count), int(row.failures), float(row.duration_s),
                       float(row.cost_usd))  # fmt: skip
