"""One database behind a backend: opened (and migrated) on first use, lent out one transaction at a time, every
storage failure translated into a one-line ``HistoryError`` that never carries a password."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import HistoryError
from ..text import error_text, one_line, shortened
from .backends import Backend, begin_write
from .schema import NewerSchema, migrate

MAX_DETAIL_CHARS = 300  # a driver's text after "cannot ... at <where>: " (a server error names host and port)
_STORAGE_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError, NewerSchema)


class Database:
    """Safe to share between threads: SQLAlchemy's pool lends each transaction its own connection.

    The engine belongs to the process that opened it: a forked child opens its own (SQLAlchemy's advice: the
    parent's connections are left to the parent). Nothing is opened in the constructor.
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._owner_pid = 0

    @property
    def location(self) -> str:
        return self.backend.location

    @contextmanager
    def transaction(self, verb: str, *, write: bool) -> Iterator[Connection]:
        """A connection in a transaction that commits when the block ends, or rolls back on an exception.
        ``verb`` names the work in an error: "cannot <verb> at <where>: <why>"."""
        with self._translated("open history"):
            engine = self._opened()
        with self._translated(verb), engine.connect() as connection:
            with begin_write(connection) if write else connection.begin():
                yield connection

    def error(self, verb: str, why: str) -> HistoryError:
        detail = shortened(self.backend.scrub(why), MAX_DETAIL_CHARS)
        return HistoryError(f"cannot {verb} at {self.location}: {self.backend.scrub(detail)}")

    def close(self) -> None:
        """Close every pooled connection; a later transaction opens new ones."""
        with self._lock:
            engine, self._engine = self._engine, None
            if engine is not None:
                engine.dispose(close=self._owner_pid == os.getpid())

    @contextmanager
    def _translated(self, verb: str) -> Iterator[None]:
        try:
            yield
        except _STORAGE_ERRORS as error:
            raise self.error(verb, _driver_text(error)) from error

    def _opened(self) -> Engine:
        """The engine, creating or migrating the schema the first time (and again after ``close``)."""
        with self._lock:
            if self._engine is not None and self._owner_pid == os.getpid():
                return self._engine
            if self._engine is not None:
                self._engine.dispose(close=False)
                self._engine = None
            engine = self.backend.create_engine()
            try:
                self.backend.prepare()
                with engine.connect() as connection:
                    migrate(connection, self.backend)
            except BaseException:
                engine.dispose()
                raise
            self._engine, self._owner_pid = engine, os.getpid()
            return engine


def _driver_text(error: BaseException) -> str:
    """The driver's own message: SQLAlchemy's wrapper adds the statement, its parameters (thumbnails included)
    and a link, none of which belongs in a one-line message."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return error_text(error.orig)
    if isinstance(error, SQLAlchemyError) and error.args:
        return one_line(error.args[0]) or type(error).__name__
    return error_text(error)
