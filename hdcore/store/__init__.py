"""The persistent record of every run (what was asked, which tier won or why all failed, cost, time, a
thumbnail), and the spend ledger that keeps a daily budget across replicas.

One store, two real backends, the same SQLAlchemy Core queries for both:

* SQLite (the embedded default): ``<HDCORE_DATA_DIR>/history.sqlite3``, in WAL mode, so the app's History page
  reads while other sessions write, and several threads and processes can record runs at once;
* PostgreSQL (``HDCORE_DATABASE_URL=postgresql://…``): one database shared by every app and API replica, so
  their History, health figures and budget agree and survive restarts.

    store = open_store(Config.from_env())          # or a folder, or a PostgreSQL URL
    store.record_result(result, source_name="cat.png")
    store.runs(limit=20)                           # newest first, each with its attempts
    store.attempts(since=time.time() - 3600)       # for the health figures
    store.spend_ledger().reserve("replicate", 0.002, max_per_day=5.0)
    store.record_sweep(result, name="refs/")       # a QA sweep; store.sweeps(), .sweep(id), .sweep_trend()

Layout: ``schema`` (tables and migrations), ``backends`` (what SQLite and PostgreSQL each do their own way),
``database`` (open on first use, transactions, error translation), ``history_store`` (runs and attempts),
``ledger`` (spend), ``sweeps`` (QA sweeps), ``records`` (what reads return, and the bounds on what is written),
``thumbnails``.
Every storage failure raises ``HistoryError`` with a one-line message that never holds the URL's password.
"""

from __future__ import annotations

import hashlib
import os

from ..config import Config
from ..errors import HistoryError
from .backends import BUSY_TIMEOUT_MS, Backend, PostgresBackend, SQLiteBackend
from .history_store import HISTORY_FILE, HistoryStore
from .ledger import SpendLedger, StoreSpendLedger
from .records import AttemptRow, RunRecord
from .schema import SCHEMA_VERSION
from .sweeps import SweepRecord, TrendPoint
from .thumbnails import THUMBNAIL_SIDE, thumbnail_png

__all__ = [
    "BUSY_TIMEOUT_MS", "HISTORY_FILE", "SCHEMA_VERSION", "THUMBNAIL_SIDE", "AttemptRow", "Backend",
    "HistoryError", "HistoryStore", "PostgresBackend", "RunRecord", "SQLiteBackend", "SpendLedger",
    "StoreSpendLedger", "SweepRecord", "TrendPoint", "open_store", "store_key", "thumbnail_png",
]  # fmt: skip


def open_store(source: Config | str | os.PathLike) -> HistoryStore:
    """The store a configuration, a URL or a folder names; nothing is opened until first use.

    A ``Config`` with ``database_url`` (``HDCORE_DATABASE_URL``) is PostgreSQL, otherwise the SQLite file in its
    ``data_dir``; a text with ``://`` is a PostgreSQL URL; anything else is a folder for the SQLite file. A URL
    that cannot be used raises ``ConfigError`` without repeating it.
    """
    where = _where(source)
    if isinstance(where, str) and "://" in where:
        return HistoryStore.at_url(where)
    return HistoryStore.in_folder(where)


def store_key(source: Config | str | os.PathLike) -> str:
    """A digest naming the database ``source`` opens: a cache key that carries no password (only the SHA-256
    of the URL leaves this function)."""
    where = _where(source)
    identity = where if isinstance(where, str) and "://" in where else os.path.abspath(where)
    return hashlib.sha256(str(identity).encode("utf-8")).hexdigest()[:32]


def _where(source: Config | str | os.PathLike) -> str | os.PathLike:
    if isinstance(source, Config):
        return source.database_url.reveal() if source.database_url else source.data_dir
    return source
