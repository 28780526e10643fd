"""The two places a history can live, and the little each one does its own way.

    SQLiteBackend    one file, in WAL mode (readers never wait for a writer; other processes may write at once),
                     a 15 s busy timeout, and ``BEGIN IMMEDIATE`` for every write; the schema version is the
                     file's ``PRAGMA user_version``; the file's write lock serialises migrations and reservations
    PostgresBackend  a pooled psycopg 3 engine that checks a connection before lending it (a restarted server
                     costs one failed call, not a dead pool); the schema version is the ``schema_version`` table;
                     ``pg_advisory_xact_lock`` serialises migrations and reservations across replicas

Everything else (the tables, every query) is the same SQLAlchemy Core for both, in ``history_store``. A backend's
``location`` is safe to show: the PostgreSQL URL's password and query (which may carry one too) are left out,
and ``scrub`` blanks them out of any text a driver produces.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import sqlalchemy
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, RootTransaction, Table, event, func, select
from sqlalchemy.engine import URL, make_url

from ..config import DATABASE_URL_SCHEMES
from ..errors import ConfigError

BUSY_TIMEOUT_MS = 15_000  # a writer waits this long for another's write (SQLite) or lock (PostgreSQL)
STATEMENT_TIMEOUT_MS = 30_000  # no statement of ours takes a second; this only bounds a stuck server
CONNECT_TIMEOUT_S = 10
# A hosted database allows 20 to 100 connections in all. A process holds at most POOL_SIZE + POOL_OVERFLOW per
# store (the app opens two: the pages' and the planner's), so several replicas fit.
POOL_SIZE = 3
POOL_OVERFLOW = 4
POOL_TIMEOUT_S = 15
POOL_RECYCLE_S = 1800  # hosts and load balancers drop connections idle for long; renew them before that
WRITE_OPTION = "hdcore_write"  # execution option of a write transaction: SQLite begins it IMMEDIATE
# Advisory lock keys: "hdcore" in ASCII, then 1 for the schema and 2 for the spend ledger.
SCHEMA_LOCK_KEY = 0x6864636F726501
SPEND_LOCK_KEY = 0x6864636F726502
_MASK = "***"


class Backend(Protocol):
    location: str  # where the history is, safe to show (no password)
    path: Path | None  # the SQLite file; None for a server

    def prepare(self) -> None: ...  # before the first connection: create what the database needs (folders)
    def create_engine(self) -> Engine: ...  # no I/O: connections open on first use
    def lock_schema(self, connection: Connection) -> None: ...
    def lock_spend(self, connection: Connection) -> None: ...
    def schema_version(self, connection: Connection) -> int: ...
    def set_schema_version(self, connection: Connection, version: int) -> None: ...
    def scrub(self, text: str) -> str: ...


def begin_write(connection: Connection) -> RootTransaction:
    """Begin a write transaction (``BEGIN IMMEDIATE`` in SQLite: see ``SQLiteBackend``)."""
    return connection.execution_options(**{WRITE_OPTION: True}).begin()


class SQLiteBackend:
    """One SQLite file.

    Writes begin IMMEDIATE: a deferred transaction that upgrades from read to write can fail with "database is
    locked" at once, without the busy timeout ever helping. Reads begin DEFERRED, for one consistent snapshot.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.location = str(self.path)

    def prepare(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def create_engine(self) -> Engine:
        # check_same_thread=False: the pool hands a connection to one thread at a time, not always the same one.
        engine = sqlalchemy.create_engine(
            URL.create("sqlite+pysqlite", database=str(self.path)),
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine

    def lock_schema(self, connection: Connection) -> None:
        pass  # BEGIN IMMEDIATE already holds the file's write lock

    lock_spend = lock_schema

    def schema_version(self, connection: Connection) -> int:
        return int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())

    def set_schema_version(self, connection: Connection, version: int) -> None:
        connection.exec_driver_sql(f"PRAGMA user_version = {int(version)}")

    def scrub(self, text: str) -> str:
        return text


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # isolation_level=None: sqlite3 issues no BEGIN of its own; _begin_sqlite does (SQLAlchemy's pysqlite recipe).
    dbapi_connection.isolation_level = None
    try:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = _switch_to_wal(dbapi_connection)
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"WAL journal mode unavailable (got {mode})")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")  # safe in WAL: a crash of the app loses no commit
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        dbapi_connection.close()
        raise


def _begin_sqlite(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


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


_schema_version = Table("schema_version", MetaData(), Column("version", Integer, nullable=False))


class PostgresBackend:
    """One PostgreSQL database, shared by every replica. Build it with ``from_url``."""

    path = None

    def __init__(self, url: URL, secrets: frozenset[str]):
        self.url = url
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))  # longest first: overlaps fully hidden
        self.location = url.set(drivername="postgresql", query={}).render_as_string(hide_password=True)

    @classmethod
    def from_url(cls, raw: str) -> "PostgresBackend":
        """From ``HDCORE_DATABASE_URL`` (postgresql://, postgres:// or postgresql+psycopg://). A URL that cannot
        be used raises ``ConfigError``; no message repeats it, nor chains an error that would."""
        raw = raw.strip()
        scheme, _, rest = raw.partition("://")
        if scheme.lower() not in DATABASE_URL_SCHEMES or not rest:
            raise ConfigError("HDCORE_DATABASE_URL must be a PostgreSQL URL: postgresql://user:password@host/database")
        try:
            url = make_url(f"postgresql+psycopg://{rest}")  # a port that is not a number raises ValueError
            written_password = urlsplit(raw).password
        except (sqlalchemy.exc.ArgumentError, ValueError):
            raise ConfigError(
                "HDCORE_DATABASE_URL is not a valid URL (check the port, and percent-encode @ : / in the password)"
            ) from None
        return cls(url, _secrets_of(raw, url, written_password))

    def prepare(self) -> None:
        pass

    def create_engine(self) -> Engine:
        defaults = {"connect_timeout": CONNECT_TIMEOUT_S}
        engine = sqlalchemy.create_engine(
            self.url,
            pool_pre_ping=True,  # a connection the server dropped (restart, idle timeout) is replaced, not lent
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_S,
            pool_recycle=POOL_RECYCLE_S,
            connect_args={k: v for k, v in defaults.items() if k not in self.url.query},  # the URL's own win
        )
        event.listen(engine, "connect", _configure_postgres)
        return engine

    def lock_schema(self, connection: Connection) -> None:
        connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))

    def lock_spend(self, connection: Connection) -> None:
        connection.execute(select(func.pg_advisory_xact_lock(SPEND_LOCK_KEY)))

    def schema_version(self, connection: Connection) -> int:
        if connection.execute(select(func.to_regclass(_schema_version.name))).scalar() is None:
            return 0
        return int(connection.execute(select(func.max(_schema_version.c.version))).scalar() or 0)

    def set_schema_version(self, connection: Connection, version: int) -> None:
        _schema_version.create(connection, checkfirst=True)
        connection.execute(_schema_version.delete())
        connection.execute(_schema_version.insert().values(version=int(version)))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


def _configure_postgres(dbapi_connection, _record: object) -> None:
    # SET rather than the startup "options": connection poolers (PgBouncer, Supavisor) refuse that parameter.
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    dbapi_connection.commit()


def _secrets_of(raw: str, url: URL, written_password: str | None) -> frozenset[str]:
    """Every text that would give the password away: as written (percent-encoded) and decoded, in the URL's
    query (libpq also takes ?password= and ?sslpassword=), and the whole URL."""
    candidates = {raw, url.password, written_password}
    for key in ("password", "sslpassword"):
        value = url.query.get(key)
        candidates.update((value,) if isinstance(value, str) else value or ())
    return frozenset(str(c) for c in candidates if c)
