"""``HistoryStore``: record runs and read them back, the same way whichever backend holds them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from PIL import Image
from sqlalchemy import Connection, func, select

from ..attempts import Attempt
from ..errors import AllTiersFailed
from .backends import Backend, PostgresBackend, SQLiteBackend
from .database import Database
from . import sweeps as stored_sweeps
from .ledger import StoreSpendLedger
from .records import (
    MAX_NAME_CHARS,
    AttemptRow,
    RunRecord,
    attempt_from_row,
    bounded_name,
    bounded_text,
    finite,
    run_from_row,
)
from .schema import ATTEMPT_COLUMNS, attempts, runs
from .thumbnails import thumbnail_or_none

if TYPE_CHECKING:  # only for annotations: the engine may one day record history itself without a cycle
    from ..engine import EnhanceResult
    from ..sweep.results import SweepResult

HISTORY_FILE = "history.sqlite3"
_IDS_PER_QUERY = 500  # stays under SQLite's limit on bound parameters (999 in older builds)


class HistoryStore:
    """The history of runs, their attempts, and the spend ledger, in a SQLite file or a PostgreSQL database.

    ``HistoryStore(path)`` is a SQLite file; ``HistoryStore.at_url(url)`` a PostgreSQL database (or use
    ``open_store``). Safe to share between threads; other processes and replicas may use the same database at
    once. Nothing is opened until first use, which creates or migrates the schema. Every storage failure raises
    ``HistoryError`` with a one-line message, so a caller can warn and still deliver the image.
    """

    def __init__(self, where: str | os.PathLike | Backend):
        backend = SQLiteBackend(where) if isinstance(where, (str, os.PathLike)) else where
        self._database = Database(backend)
        self._ledger = StoreSpendLedger(self._database)

    @classmethod
    def in_folder(cls, data_dir: str | os.PathLike) -> "HistoryStore":
        return cls(Path(data_dir) / HISTORY_FILE)

    @classmethod
    def at_url(cls, url: str) -> "HistoryStore":
        """A PostgreSQL database; a URL that cannot be used raises ``ConfigError`` (without repeating it)."""
        return cls(PostgresBackend.from_url(url))

    @property
    def path(self) -> Path | None:
        """The SQLite file; None for a PostgreSQL database."""
        return self._database.backend.path

    @property
    def location(self) -> str:
        """Where the history is, safe to show: a file's path, or the database URL without its password."""
        return self._database.location

    def __repr__(self) -> str:
        return f"HistoryStore({self.location!r})"

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def spend_ledger(self) -> StoreSpendLedger:
        """Today's spend and the reservations for paid calls, shared by every process using this database."""
        return self._ledger

    def close(self) -> None:
        """Close the connections; a later call opens new ones."""
        self._database.close()

    # ------------------------------------------------------------------------------------------ writing

    def record_result(self, result: EnhanceResult, *, source_name: str = "", when: float | None = None) -> int:
        """Store a successful run; returns its id. Its costs are history: today's spend is the ledger's."""
        when = _now_or(when)
        row = _run_row(when, source_name, result.input_size, result.scale, result.attempts)
        row.update(success=True, provider=bounded_name(result.provider), model=bounded_name(result.model),
                   thumbnail=thumbnail_or_none(result.image))  # fmt: skip
        return self._insert_run(row, when, result.attempts)

    def record_failure(
        self,
        error: Exception,
        *,
        input_size: tuple[int, int],
        scale: int,
        source_name: str = "",
        thumbnail_of: Image.Image | None = None,
        when: float | None = None,
    ) -> int:
        """Store a failed run; an ``AllTiersFailed`` brings its attempts along. Returns the run's id."""
        tried = error.attempts if isinstance(error, AllTiersFailed) else []
        when = _now_or(when)
        row = _run_row(when, source_name, input_size, scale, tried)
        row.update(error=bounded_text(str(error) or type(error).__name__), thumbnail=thumbnail_or_none(thumbnail_of))
        return self._insert_run(row, when, tried)

    def _insert_run(self, row: dict, when: float, tried: Sequence[Attempt]) -> int:
        with self._database.transaction("write history", write=True) as connection:
            run_id = int(connection.execute(runs.insert(), row).inserted_primary_key[0])
            if tried:
                connection.execute(attempts.insert(), [_attempt_row(run_id, when, a) for a in tried])
        return run_id

    # ------------------------------------------------------------------------------------------ reading

    def runs(self, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        """Runs newest first, each with its attempts (in tier order)."""
        query = runs.select().order_by(runs.c.time.desc(), runs.c.id.desc())
        with self._database.transaction("read history", write=False) as connection:
            rows = connection.execute(query.limit(max(0, int(limit))).offset(max(0, int(offset)))).all()
            attempts_by_run = _attempts_of_runs(connection, [row.id for row in rows])
        return [run_from_row(row, attempts_by_run.get(row.id, ())) for row in rows]

    def count(self) -> int:
        with self._database.transaction("read history", write=False) as connection:
            return int(connection.execute(select(func.count()).select_from(runs)).scalar_one())

    def attempts(self, since: float | None = None, provider: str | None = None) -> list[AttemptRow]:
        """Attempts oldest first; ``since`` keeps those at or after that unix time, ``provider`` one tier's."""
        query = select(*ATTEMPT_COLUMNS).order_by(attempts.c.time, attempts.c.id)
        if since is not None:
            query = query.where(attempts.c.time >= float(since))
        if provider is not None:
            query = query.where(attempts.c.provider == provider)
        with self._database.transaction("read history", write=False) as connection:
            return [attempt_from_row(row) for row in connection.execute(query)]


    # ------------------------------------------------------------------------------------------ sweeps

    def record_sweep(self, result: SweepResult, *, name: str = "", when: float | None = None,
                     duration_s: float = 0.0) -> int:  # fmt: skip
        """Store a QA sweep (its settings, rows and leaderboard); ``name`` says what was swept. Returns its id."""
        return stored_sweeps.record(self._database, result, name, when, duration_s)

    def sweeps(self, limit: int = 50, offset: int = 0) -> list[stored_sweeps.SweepRecord]:
        """Stored sweeps newest first, without their rows."""
        return stored_sweeps.listed(self._database, limit, offset)

    def sweep(self, sweep_id: int) -> tuple[stored_sweeps.SweepRecord, SweepResult] | None:
        """One stored sweep with its rows (``leaderboard.compare`` takes two of them); None if there is none."""
        return stored_sweeps.one(self._database, sweep_id)

    def sweep_trend(self, scale: int | None = None,
                    degradation: str | None = None) -> list[stored_sweeps.TrendPoint]:  # fmt: skip
        """Each provider x model's mean PSNR-Y, SSIM-Y and NIQE in every stored sweep, oldest first."""
        return stored_sweeps.trend(self._database, scale, degradation)


def _run_row(
    when: float, source_name: str, input_size: tuple[int, int], scale: int, tried: Sequence[Attempt]
) -> dict:
    """A failed run's columns (the caller adds what a success changes), every value bounded for storage."""
    width, height = input_size
    return {
        "time": when, "source_name": bounded_text(source_name, MAX_NAME_CHARS), "input_width": int(width),
        "input_height": int(height), "scale": int(scale), "success": False, "provider": None, "model": None,
        "error": "", "cost_usd": sum(finite(a.cost_usd) for a in tried),
        "latency_s": sum(finite(a.latency_s) for a in tried), "thumbnail": None,
    }  # fmt: skip


def _attempt_row(run_id: int, when: float, attempt: Attempt) -> dict:
    return {
        "run_id": run_id, "time": when, "tier": int(attempt.tier), "provider": bounded_name(attempt.provider),
        "model": bounded_name(attempt.model), "outcome": bounded_name(attempt.outcome),
        "reason": bounded_text(attempt.reason), "latency_s": finite(attempt.latency_s),
        "cost_usd": finite(attempt.cost_usd), "cost_kind": bounded_name(attempt.cost_kind),
    }  # fmt: skip


def _attempts_of_runs(connection: Connection, run_ids: Sequence[int]) -> dict[int, tuple[AttemptRow, ...]]:
    grouped: dict[int, list[AttemptRow]] = {}
    for chunk in _chunks(run_ids, _IDS_PER_QUERY):
        query = select(*ATTEMPT_COLUMNS).where(attempts.c.run_id.in_(chunk))
        for row in connection.execute(query.order_by(attempts.c.run_id, attempts.c.tier, attempts.c.id)):
            attempt = attempt_from_row(row)
            grouped.setdefault(attempt.run_id, []).append(attempt)
    return {run_id: tuple(rows) for run_id, rows in grouped.items()}


def _chunks(values: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _now_or(when: float | None) -> float:
    return time.time() if when is None else float(when)
