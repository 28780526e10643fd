"""The persistent record of every run: what was asked, which tier won (or why all failed), cost, time, a thumbnail.

Stored in one SQLite file (``<data_dir>/history.sqlite3``) in WAL mode, so the app's History page can read while
other sessions write, and several threads and processes can record runs at once. Two tables:

    runs      one row per run (success or failure), with a small PNG thumbnail (never the full image)
    attempts  one row per tier tried, with its run's id; indexed by time and provider so rolling health
              figures per provider (last hour, last day) stay cheap

The schema version lives in ``PRAGMA user_version``; ``_MIGRATIONS`` takes any older file up to ``SCHEMA_VERSION``.
Every storage failure surfaces as ``HistoryError`` with a one-line message, so a caller can warn and still
deliver the image.
"""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .attempts import Attempt
from .errors import AllTiersFailed, HistoryError
from .images import ALPHA_MODES, WIDE_GRAY_MODES, wide_gray_plane
from .text import error_text

if TYPE_CHECKING:  # only for annotations: the engine may one day record history itself without a cycle
    from .engine import EnhanceResult

HISTORY_FILE = "history.sqlite3"
SCHEMA_VERSION = 1
THUMBNAIL_SIDE = 96
BUSY_TIMEOUT_MS = 15_000  # a writer waits this long for another session's write before giving up

# Index i holds the statements that take a file from version i to version i + 1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            source_name TEXT NOT NULL DEFAULT '',
            input_width INTEGER NOT NULL,
            input_height INTEGER NOT NULL,
            scale INTEGER NOT NULL,
            success INTEGER NOT NULL,
            provider TEXT,
            model TEXT,
            error TEXT NOT NULL DEFAULT '',
            cost_usd REAL NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0,
            thumbnail BLOB
        )""",
        "CREATE INDEX runs_by_time ON runs (time)",
        """CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            time REAL NOT NULL,
            tier INTEGER NOT NULL,
            provider TEXT NOT NULL,
            model TEXT,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            latency_s REAL NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            cost_kind TEXT NOT NULL DEFAULT 'none'
        )""",
        "CREATE INDEX attempts_by_run ON attempts (run_id)",
        "CREATE INDEX attempts_by_time ON attempts (time)",
        "CREATE INDEX attempts_by_provider_time ON attempts (provider, time)",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION, "every schema version needs its migration"

_RUN_VALUES = (
    "time, source_name, input_width, input_height, scale, success, provider, model, error, "
    "cost_usd, latency_s, thumbnail"
)  # the columns a new run supplies; the id is SQLite's
_RUN_COLUMNS = f"id, {_RUN_VALUES}"
_ATTEMPT_COLUMNS = "run_id, time, tier, provider, model, outcome, reason, latency_s, cost_usd, cost_kind"


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


class HistoryStore:
    """Reads and writes the history file. Safe to share between threads; other processes may use the same file.

    One connection per store, guarded by a lock: records are tiny, so serialising this process's statements costs
    nothing noticeable, while WAL mode and the busy timeout let other processes write at the same time.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._owner_pid = 0  # the process that opened the connection; a forked child must open its own

    @classmethod
    def in_folder(cls, data_dir: str | os.PathLike) -> "HistoryStore":
        return cls(Path(data_dir) / HISTORY_FILE)

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ writing

    def record_result(self, result: EnhanceResult, *, source_name: str = "", when: float | None = None) -> int:
        """Store a successful run; returns its id."""
        return self._insert_run(
            when=_now_or(when),
            source_name=source_name,
            input_size=result.input_size,
            scale=result.scale,
            success=True,
            provider=result.provider,
            model=result.model,
            error="",
            attempts=result.attempts,
            thumbnail=_thumbnail_or_none(result.image),
        )

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
        attempts = error.attempts if isinstance(error, AllTiersFailed) else []
        return self._insert_run(
            when=_now_or(when),
            source_name=source_name,
            input_size=input_size,
            scale=scale,
            success=False,
            provider=None,
            model=None,
            error=str(error) or type(error).__name__,
            attempts=attempts,
            thumbnail=_thumbnail_or_none(thumbnail_of),
        )

    def _insert_run(
        self,
        *,
        when: float,
        source_name: str,
        input_size: tuple[int, int],
        scale: int,
        success: bool,
        provider: str | None,
        model: str | None,
        error: str,
        attempts: Sequence[Attempt],
        thumbnail: bytes | None,
    ) -> int:
        width, height = input_size
        run_values = (
            when, source_name, int(width), int(height), int(scale), int(success), provider, model, error,
            sum(a.cost_usd for a in attempts), sum(a.latency_s for a in attempts), thumbnail,
        )  # fmt: skip
        with self._write() as connection:
            cursor = connection.execute(
                f"INSERT INTO runs ({_RUN_VALUES}) VALUES ({', '.join('?' * len(run_values))})",
                run_values,
            )
            run_id = int(cursor.lastrowid)
            connection.executemany(
                f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) VALUES ({', '.join('?' * 10)})",
                [_attempt_values(run_id, when, attempt) for attempt in attempts],
            )
        return run_id

    # ------------------------------------------------------------------------------------------ reading

    def runs(self, limit: int = 100, offset: int = 0) -> list[RunRecord]:
        """Runs newest first, each with its attempts (in tier order)."""
        with self._read() as connection:
            rows = connection.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY time DESC, id DESC LIMIT ? OFFSET ?",
                (max(0, int(limit)), max(0, int(offset))),
            ).fetchall()
            attempts_by_run = _attempts_of_runs(connection, [row[0] for row in rows])
        return [_run_from_row(row, attempts_by_run.get(row[0], ())) for row in rows]

    def count(self) -> int:
        with self._read() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def attempts(self, since: float | None = None, provider: str | None = None) -> list[AttemptRow]:
        """Attempts oldest first; ``since`` keeps those at or after that unix time, ``provider`` one tier's."""
        conditions, values = [], []
        if since is not None:
            conditions.append("time >= ?")
            values.append(float(since))
        if provider is not None:
            conditions.append("provider = ?")
            values.append(provider)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._read() as connection:
            rows = connection.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts {where} ORDER BY time, id", values
            ).fetchall()
        return [AttemptRow(*row) for row in rows]

    # ------------------------------------------------------------------------------------------ connection

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and self._owner_pid == os.getpid():
                connection.close()

    def _write(self) -> "_Transaction":
        return _Transaction(self, "write", write=True)

    def _read(self) -> "_Transaction":
        return _Transaction(self, "read", write=False)

    def _connect(self) -> sqlite3.Connection:
        """The open connection, opening (and creating or migrating) the file on first use. Call under the lock."""
        if self._connection is not None and self._owner_pid == os.getpid():
            return self._connection
        try:
            connection = _open_connection(self.path)
        except (sqlite3.Error, OSError) as error:
            raise self._error("open", error) from error
        self._connection, self._owner_pid = connection, os.getpid()
        return connection

    def _error(self, verb: str, error: BaseException) -> HistoryError:
        return HistoryError(f"cannot {verb} history at {self.path}: {error_text(error)}")


class _Transaction:
    """Holds the store's lock for one statement group; writes run in ``BEGIN IMMEDIATE`` and commit or roll back.

    IMMEDIATE takes the write lock up front: a deferred transaction that upgrades from read to write can fail
    with "database is locked" at once, without the busy timeout ever helping.
    """

    def __init__(self, store: HistoryStore, verb: str, *, write: bool):
        self.store, self.verb, self.write = store, verb, write
        self.connection: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        try:
            self.connection = self.store._connect()
            if self.write:
                self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            self.store._lock.release()
            raise self.store._error(self.verb, error) from error
        except BaseException:
            self.store._lock.release()
            raise
        return self.connection

    def __exit__(self, exc_type: type | None, exc: BaseException | None, traceback: object) -> None:
        try:
            self._finish(exc)
        finally:
            self.store._lock.release()

    def _finish(self, exc: BaseException | None) -> None:
        connection = self.connection
        assert connection is not None
        if self.write:
            try:
                connection.execute("COMMIT" if exc is None else "ROLLBACK")
            except sqlite3.Error as error:
                _roll_back_quietly(connection)
                if exc is None:
                    raise self.store._error(self.verb, error) from error
        if isinstance(exc, sqlite3.Error):
            raise self.store._error(self.verb, exc) from exc


def _open_connection(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False: the store's lock serialises use.
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        _configure(connection)
        _migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = _switch_to_wal(connection)
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"WAL journal mode unavailable (got {mode})")
    connection.execute("PRAGMA synchronous = NORMAL")  # safe in WAL: a crash of the app loses nothing committed
    connection.execute("PRAGMA foreign_keys = ON")


def _switch_to_wal(connection: sqlite3.Connection) -> str:
    """Set WAL mode, retrying while another process holds the lock.

    When several processes open a fresh file at once, the switch can answer "database is locked" at once,
    without waiting on the busy timeout, so the wait is done here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            return str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # errors raised by this module carry no code
        return "locked" in str(error)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # the primary code, under extended ones


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION; the check and the change share one write lock, so racing processes agree."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            newer = f"written by a newer hdcore (schema {version}; this one knows {SCHEMA_VERSION})"
            raise sqlite3.DatabaseError(newer)
        for statements in _MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        _roll_back_quietly(connection)
        raise


def _roll_back_quietly(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the original error is the one worth reporting


def _attempt_values(run_id: int, when: float, attempt: Attempt) -> tuple:
    return (
        run_id, when, attempt.tier, attempt.provider, attempt.model, attempt.outcome, attempt.reason,
        float(attempt.latency_s), float(attempt.cost_usd), attempt.cost_kind,
    )  # fmt: skip


def _attempts_of_runs(connection: sqlite3.Connection, run_ids: Sequence[int]) -> dict[int, tuple[AttemptRow, ...]]:
    grouped: dict[int, list[AttemptRow]] = {}
    for chunk in _chunks(run_ids, 500):  # stays under SQLite's limit on bound parameters
        rows = connection.execute(
            f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE run_id IN ({', '.join('?' * len(chunk))}) "
            "ORDER BY run_id, tier, id",
            chunk,
        ).fetchall()
        for row in rows:
            grouped.setdefault(row[0], []).append(AttemptRow(*row))
    return {run_id: tuple(rows) for run_id, rows in grouped.items()}


def _chunks(values: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _run_from_row(row: tuple, attempts: Iterable[AttemptRow]) -> RunRecord:
    (run_id, when, source_name, width, height, scale, success, provider, model, error, cost, latency, thumb) = row
    return RunRecord(
        id=run_id,
        time=when,
        source_name=source_name,
        input_size=(width, height),
        scale=scale,
        success=bool(success),
        provider=provider,
        model=model,
        error=error,
        cost_usd=cost,
        latency_s=latency,
        attempts=tuple(attempts),
        thumbnail=bytes(thumb) if thumb is not None else None,
    )


def _now_or(when: float | None) -> float:
    return time.time() if when is None else float(when)


# ---------------------------------------------------------------------------------------------- thumbnails



def thumbnail_png(image: Image.Image, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """A PNG no larger than ``max_side`` on its longer side, same aspect; 8-bit RGB, or RGBA if it has alpha."""
    small = _eight_bit(image)
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # only shrinks; keeps aspect
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _thumbnail_or_none(image: Image.Image | None) -> bytes | None:
    # The thumbnail is a courtesy: an image PIL cannot shrink or encode must not cost the run its record.
    if image is None:
        return None
    try:
        return thumbnail_png(image)
    except (OSError, ValueError):
        return None


def _eight_bit(image: Image.Image) -> Image.Image:
    """A new 8-bit RGB/RGBA copy. Wide gray (I;16, I, F) is rescaled: PIL's convert would clip it at 255."""
    if image.mode in WIDE_GRAY_MODES:
        return Image.fromarray(np.rint(wide_gray_plane(image) * 255).astype(np.uint8)).convert("RGB")
    transparent = image.mode in ALPHA_MODES or image.has_transparency_data
    return image.convert("RGBA" if transparent else "RGB")
