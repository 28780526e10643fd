"""Schema migrations on start, against both backends: a schema 1 database (and a SQLite file exactly as schema 1
was written) is migrated in place with nothing lost, a failed migration changes nothing, and replicas starting
at once on an empty database agree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from hdcore.errors import HistoryError
from hdcore.store import SCHEMA_VERSION, HistoryStore, open_store
from hdcore.store.backends import Backend, PostgresBackend, SQLiteBackend
from hdcore.store.schema import attempts, migrate, runs
from tests.store_workers import open_store_at_once, run_together

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
LATER_THAT_DAY = T0 + 3600

# Schema 1 exactly as hdcore wrote it, as raw SQL, before the store moved to SQLAlchemy Core.
SQLITE_SCHEMA_1 = (
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
    "PRAGMA user_version = 1",
)


def sqlite_file_of_schema_1(path: Path) -> None:
    """A schema 1 file with two runs as that version wrote them: a success that cost $0.25, a failure."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        for statement in SQLITE_SCHEMA_1:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO runs (time, source_name, input_width, input_height, scale, success, provider, model, error, "
            "cost_usd, latency_s, thumbnail) VALUES (?, 'old.png', 64, 48, 4, 1, 'replicate', 'real-esrgan', '', "
            "0.25, 4.5, ?)",
            (T0, b"\x89PNG fake"),
        )
        connection.execute(
            "INSERT INTO attempts (run_id, time, tier, provider, model, outcome, reason, latency_s, cost_usd, "
            "cost_kind) VALUES (1, ?, 1, 'replicate', 'real-esrgan', 'ok', '', 4.5, 0.25, 'measured')",
            (T0,),
        )
        connection.execute(
            "INSERT INTO runs (time, input_width, input_height, scale, success, error) VALUES (?, 8, 8, 2, 0, 'boom')",
            (T0 + 1,),
        )


def backend_of(location) -> Backend:
    if isinstance(location, str) and "://" in location:
        return PostgresBackend.from_url(location)
    return SQLiteBackend(Path(location) / "history.sqlite3")


def engine_at_version(backend: Backend, version: int) -> Engine:
    """An engine on a database migrated only up to ``version``."""
    backend.prepare()
    engine = backend.create_engine()
    with engine.connect() as connection:
        migrate(connection, backend, target=version)
    return engine


def add_schema_1_rows(engine: Engine) -> None:
    """The same two runs as ``sqlite_file_of_schema_1``, written through the schema 1 tables."""
    with engine.begin() as connection:
        connection.execute(runs.insert().values(
            time=T0, source_name="old.png", input_width=64, input_height=48, scale=4, success=True,
            provider="replicate", model="real-esrgan", error="", cost_usd=0.25, latency_s=4.5,
            thumbnail=b"\x89PNG fake",
        ))  # fmt: skip
        connection.execute(attempts.insert().values(
            run_id=1, time=T0, tier=1, provider="replicate", model="real-esrgan", outcome="ok", reason="",
            latency_s=4.5, cost_usd=0.25, cost_kind="measured",
        ))  # fmt: skip
        connection.execute(runs.insert().values(
            time=T0 + 1, source_name="", input_width=8, input_height=8, scale=2, success=False, error="boom",
            cost_usd=0.0, latency_s=0.0,
        ))  # fmt: skip


def assert_schema_1_runs_kept(store: HistoryStore) -> None:
    failed, succeeded = store.runs()
    assert (succeeded.id, succeeded.source_name, succeeded.success, succeeded.thumbnail) == (
        1, "old.png", True, b"\x89PNG fake")  # fmt: skip
    assert [(a.provider, a.outcome, a.cost_usd) for a in succeeded.attempts] == [("replicate", "ok", 0.25)]
    assert (failed.id, failed.success, failed.error, failed.attempts) == (2, False, "boom", ())


def test_a_sqlite_file_written_by_schema_1_is_migrated_in_place(tmp_path: Path) -> None:
    sqlite_file_of_schema_1(tmp_path / "history.sqlite3")

    with open_store(tmp_path) as store:
        assert_schema_1_runs_kept(store)
        assert store.spend_ledger().spent_today(LATER_THAT_DAY) == pytest.approx(0.25)  # the old spend still counts
        assert store.spend_ledger().reserve("replicate", 0.8, max_per_day=1.0, now=LATER_THAT_DAY) is None
        assert store.record_failure(ValueError("new"), input_size=(1, 1), scale=2, when=T0 + 2) == 3
    with sqlite3.connect(tmp_path / "history.sqlite3") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_schema_1_database_is_migrated_with_nothing_lost(store_location) -> None:
    engine = engine_at_version(backend_of(store_location), 1)
    add_schema_1_rows(engine)
    engine.dispose()

    with open_store(store_location) as store:
        assert_schema_1_runs_kept(store)
        ledger = store.spend_ledger()
        hold = ledger.reserve("replicate", 0.5, max_per_day=1.0, now=LATER_THAT_DAY)
        ledger.settle(hold, 0.5)
        assert ledger.spent_today(LATER_THAT_DAY) == pytest.approx(0.75)  # the copied $0.25, once, and the new call


def test_a_failed_migration_changes_nothing_and_the_next_start_completes_it(store_location) -> None:
    backend = backend_of(store_location)
    engine = engine_at_version(backend, 1)
    add_schema_1_rows(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE spend_ledger (squatter INTEGER)")  # migration 2 cannot create it

    with pytest.raises(HistoryError, match="^cannot open history at .*already exists") as caught:
        open_store(store_location).count()
    assert "\n" not in str(caught.value)
    with engine.begin() as connection:
        assert backend.schema_version(connection) == 1
        connection.exec_driver_sql("DROP TABLE spend_ledger")
    engine.dispose()

    with open_store(store_location) as store:
        assert_schema_1_runs_kept(store)
        assert store.spend_ledger().spent_today(LATER_THAT_DAY) == pytest.approx(0.25)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path):
    """A folder for a new SQLite file, or a whole new PostgreSQL database (not just a schema)."""
    if request.param == "sqlite":
        return str(tmp_path / "data")
    return request.getfixturevalue("postgres_cluster").create_database()


def test_replicas_starting_at_once_on_an_empty_database_all_start(new_database: str) -> None:
    counts = run_together(open_store_at_once, [(new_database,) for _ in range(3)])

    assert counts == [0, 0, 0]
    backend = backend_of(new_database)
    engine = backend.create_engine()
    with engine.begin() as connection:
        assert backend.schema_version(connection) == SCHEMA_VERSION
    engine.dispose()


def test_postgresql_keeps_one_schema_version_row(postgres_cluster) -> None:
    url = postgres_cluster.create_database()
    with open_store(url) as store:
        store.count()
    with open_store(url) as store:  # a second start migrates nothing
        store.count()
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert {name for (name,) in tables} == {"runs", "attempts", "spend_ledger", "sweeps", "sweep_rows", "sweep_lines",
                                           "schema_version"}


def test_a_schema_named_in_the_url_holds_the_tables_and_nothing_else_does(postgres_cluster, postgres_url) -> None:
    with open_store(postgres_url) as store:  # ?options=-csearch_path=<schema>: as a shared database would use
        store.count()
    schema = postgres_url.rsplit("%3D", 1)[1]
    with psycopg.connect(postgres_cluster.url("hdcore_test")) as connection:
        query = "SELECT schemaname, tablename FROM pg_tables WHERE tablename = 'runs'"
        found = connection.execute(query).fetchall()
    assert (schema, "runs") in found and ("public", "runs") not in found


def test_a_postgresql_database_from_a_newer_schema_is_refused(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        store.count()
    with psycopg.connect(postgres_url) as connection:
        connection.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(HistoryError, match="^cannot open history at .*written by a newer hdcore"):
        open_store(postgres_url).count()
