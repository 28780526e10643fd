"""The tables, in SQLAlchemy Core, and the migrations that bring any older database up to ``SCHEMA_VERSION``.

    runs          one row per run (success or failure), with a small PNG thumbnail (BLOB / bytea)
    attempts      one row per tier tried, with its run's id; indexed by time and provider so rolling health
                  figures per provider (last hour, last day) stay cheap
    spend_ledger  one row per paid call: the amount held before the call, the amount it cost once it ended
                  (schema 2; filled from the attempts' costs when an older database is migrated)
    sweeps        one row per QA sweep: when, what was swept, its settings and totals (schema 3)
    sweep_rows    one row per reference image x entry x scale of a sweep (``hdcore.sweep.results.COLUMNS``)
    sweep_lines   its leaderboard: one line per provider x model x scale x degradation, with the means that
                  a provider's quality over time is drawn from (indexed by provider and model)

The same definitions serve SQLite and PostgreSQL. ``MIGRATIONS[i]`` takes a database from version i to i + 1;
``migrate`` runs them at start under the backend's schema lock, so replicas starting at once agree. A migration
that one day changes an existing table keeps that table's earlier definition inside its own step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    select,
)

from .backends import begin_write

if TYPE_CHECKING:
    from .backends import Backend

metadata = MetaData()

# sqlite_autoincrement: ids are never reused, as schema 1 files (written as raw SQL) already promise.
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Double, nullable=False),
    Column("source_name", Text, nullable=False, server_default=""),
    Column("input_width", Integer, nullable=False),
    Column("input_height", Integer, nullable=False),
    Column("scale", Integer, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("provider", Text),
    Column("model", Text),
    Column("error", Text, nullable=False, server_default=""),
    Column("cost_usd", Double, nullable=False, server_default="0"),
    Column("latency_s", Double, nullable=False, server_default="0"),
    Column("thumbnail", LargeBinary),
    Index("runs_by_time", "time"),
    sqlite_autoincrement=True,
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("time", Double, nullable=False),
    Column("tier", Integer, nullable=False),
    Column("provider", Text, nullable=False),
    Column("model", Text),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("latency_s", Double, nullable=False, server_default="0"),
    Column("cost_usd", Double, nullable=False, server_default="0"),
    Column("cost_kind", Text, nullable=False, server_default="none"),
    Index("attempts_by_run", "run_id"),
    Index("attempts_by_time", "time"),
    Index("attempts_by_provider_time", "provider", "time"),
    sqlite_autoincrement=True,
)

spend_ledger = Table(
    "spend_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Double, nullable=False),  # when the hold was taken: the UTC day it counts on
    Column("provider", Text, nullable=False),
    Column("reserved_usd", Double, nullable=False),
    Column("settled_usd", Double),  # None while the call is open: the hold counts instead
    Column("settled_time", Double),
    Index("spend_ledger_by_time", "time"),
    sqlite_autoincrement=True,
)

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Double, nullable=False),  # when it finished
    Column("name", Text, nullable=False, server_default=""),  # what was swept: a folder, a zip's name
    Column("degradation", Text, nullable=False),  # as rows name it: "bicubic", "realistic:<seed>"
    Column("scales", Text, nullable=False),  # "2,4"
    Column("entries", Text, nullable=False),  # "bicubic,lanczos,local:waifu2x-photo", in sweep order
    Column("reference_count", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("duration_s", Double, nullable=False, server_default="0"),
    Column("cost_usd", Double, nullable=False, server_default="0"),
    Index("sweeps_by_time", "time"),
    sqlite_autoincrement=True,
)


def _score_columns() -> list[Column]:
    return [Column(name, Double) for name in ("psnr_y", "ssim_y", "lr_psnr", "sharpness", "niqe")]


sweep_rows = Table(
    "sweep_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sweep_id", Integer, ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False),
    Column("image", Text, nullable=False),
    Column("entry", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("model", Text),
    Column("scale", Integer, nullable=False),
    Column("degradation", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    *_score_columns(),  # None where the call failed, or (PSNR) where output and reference were identical
    Column("latency_s", Double, nullable=False, server_default="0"),
    Column("cost_usd", Double, nullable=False, server_default="0"),
    Column("cost_kind", Text, nullable=False, server_default="none"),
    Index("sweep_rows_by_sweep", "sweep_id", "id"),
    sqlite_autoincrement=True,
)

sweep_lines = Table(
    "sweep_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sweep_id", Integer, ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False, server_default=""),
    Column("scale", Integer, nullable=False),
    Column("degradation", Text, nullable=False),
    Column("images", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    *_score_columns(),  # the means over the images scored
    Column("latency_s", Double),
    Column("cost_usd_total", Double, nullable=False, server_default="0"),
    Index("sweep_lines_by_sweep", "sweep_id"),
    Index("sweep_lines_by_provider", "provider", "model"),
    sqlite_autoincrement=True,
)

ATTEMPT_COLUMNS = (
    attempts.c.run_id, attempts.c.time, attempts.c.tier, attempts.c.provider, attempts.c.model,
    attempts.c.outcome, attempts.c.reason, attempts.c.latency_s, attempts.c.cost_usd, attempts.c.cost_kind,
)  # fmt: skip


class NewerSchema(Exception):
    """The database was written by a newer hdcore; this one must not touch it."""


def _create_runs_and_attempts(connection: Connection) -> None:
    metadata.create_all(connection, tables=[runs, attempts], checkfirst=False)


def _add_spend_ledger(connection: Connection) -> None:
    """The ledger, seeded with every cost already recorded, settled: a day that began before the upgrade keeps
    its spend, and from then on the ledger alone is never smaller than the attempts (see ``ledger``)."""
    spend_ledger.create(connection, checkfirst=False)
    paid = select(attempts.c.time, attempts.c.provider, attempts.c.cost_usd, attempts.c.cost_usd, attempts.c.time)
    connection.execute(
        spend_ledger.insert().from_select(
            ["time", "provider", "reserved_usd", "settled_usd", "settled_time"],
            paid.where(attempts.c.cost_usd > 0).order_by(attempts.c.id),
        )
    )


def _add_sweeps(connection: Connection) -> None:
    metadata.create_all(connection, tables=[sweeps, sweep_rows, sweep_lines], checkfirst=False)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_create_runs_and_attempts, _add_spend_ledger, _add_sweeps)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: Connection, backend: "Backend", target: int = SCHEMA_VERSION) -> None:
    """Bring the database to ``target`` in one transaction under the backend's schema lock (the check and the
    change under one lock, so that racing replicas agree). ``connection`` must not be in a transaction yet."""
    with begin_write(connection):
        backend.lock_schema(connection)
        found = backend.schema_version(connection)
        if found > SCHEMA_VERSION:
            raise NewerSchema(f"written by a newer hdcore (schema {found}; this one knows {SCHEMA_VERSION})")
        for step in MIGRATIONS[found:target]:
            step(connection)
        if found < target:
            backend.set_schema_version(connection, target)
