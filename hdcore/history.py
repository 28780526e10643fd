"""The history store under its first name: everything here lives in ``hdcore.store`` (SQLite or PostgreSQL)."""

from __future__ import annotations

from .errors import HistoryError
from .store import (
    BUSY_TIMEOUT_MS,
    HISTORY_FILE,
    SCHEMA_VERSION,
    THUMBNAIL_SIDE,
    AttemptRow,
    HistoryStore,
    RunRecord,
    open_store,
    thumbnail_png,
)

__all__ = [
    "BUSY_TIMEOUT_MS", "HISTORY_FILE", "SCHEMA_VERSION", "THUMBNAIL_SIDE", "AttemptRow", "HistoryError",
    "HistoryStore", "RunRecord", "open_store", "thumbnail_png",
]  # fmt: skip
