"""The worker pool: Ray Data's actor pool, where each actor builds one Engine and keeps it for every job it
is given, so the local tier's models load once per worker.

    RayPool        the cluster (RaySettings), how each worker builds its engine, where the spend ledger lives
    WorkerEngine   the default: the driver's settings, the local tier sized to the worker's CPUs, the
                   cluster's gates and ledger
    run_on_pool    jobs in, (index, answer) out as each job completes, in whatever order they complete

Jobs and answers travel as pickles: between this job's own processes, as Ray itself carries every task.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..config import Config
from ..engine import Engine
from ..engine.budget import SpendLedger
from ..engine.gates import Gates
from ..errors import ClusterError
from ..text import one_line
from .cluster import RaySettings, Shared, connected, pool_size, start_shared
from .gates import ClusterGates
from .ledger import ClusterLedger, LedgerSource

EngineFactory = Callable[[Gates, SpendLedger], Engine]  # the cluster's gates and ledger -> a worker's engine


@dataclass(frozen=True)
class WorkerEngine:
    """The engine each worker builds: the driver's ``config`` (tokens included: the workers call the tiers),
    the local tier running ``threads`` threads unless HDCORE_LOCAL_THREADS says otherwise, and the adaptive
    order when the history is a PostgreSQL database the workers can read (a SQLite file is one machine's)."""

    config: Config
    threads: int = 1

    def __call__(self, gates: Gates, ledger: SpendLedger) -> Engine:
        from ..health import planner_for
        from ..providers.local import THREADS
        from ..store import open_store

        config = self.config
        if THREADS.variable not in config.values:  # ncnn would use every core of the node, not this worker's
            config = config.with_changes(values={**config.values, THREADS.variable: self.threads})
        store = open_store(config) if config.database_url else None
        return Engine(config, planner=planner_for(config, store), gates=gates, ledger=ledger)


@dataclass(frozen=True)
class RayPool:
    """Everything a job on the cluster needs besides its own work. Build it with ``for_config`` unless a test
    supplies its own engines."""

    settings: RaySettings
    make_engine: EngineFactory
    ledger: LedgerSource = field(default_factory=LedgerSource)

    @classmethod
    def for_config(cls, settings: RaySettings, config: Config, env: Mapping[str, str] | None = None) -> RayPool:
        """Workers with ``config``'s engine, and today's spend in the history this machine keeps, if any
        (``configured.history_store``: what the in-process engine would use)."""
        from ..configured import history_store

        ledger = LedgerSource()
        if history_store(config, env) is not None:  # the keeper gets where the history is, and no provider's token
            ledger = LedgerSource(Config(data_dir=os.path.abspath(config.data_dir), database_url=config.database_url))
        return cls(settings, WorkerEngine(config, settings.local_threads), ledger)


class PoolWorker:
    """One actor of the pool: its engine, built once, and the work it does on each job (``work(engine, job)``)."""

    def __init__(self, make_engine: EngineFactory, shared: Shared, work: Callable[[Engine, Any], Any]):
        self.work = work
        self.engine: Engine | None = None
        self.broken = ""  # why there is no engine: every job is answered with it (Ray would only say "failed")
        try:
            self.engine = make_engine(ClusterGates(shared.gates), ClusterLedger(shared.ledger))
        except Exception as error:
            self.broken = f"cannot build its engine: {_described(error)}"

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        answer: Any = _Failed(self.broken)
        if not self.broken:
            try:
                answer = self.work(self.engine, pickle.loads(row["job"]))
            except Exception as error:  # a bug: Ray would bury it in its own traceback; the driver says it in a line
                answer = _Failed(f"unexpected {_described(error)}")
        return {"index": row["index"], "answer": pickle.dumps(answer)}


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {one_line(str(error))[:200]}"


@dataclass(frozen=True)
class _Failed:
    """What a worker hands back for a job its work raised on."""

    reason: str


def run_on_pool(pool: RayPool, jobs: Sequence[Any], work: Callable[[Engine, Any], Any]) -> Iterator[tuple[int, Any]]:
    """``work(engine, job)`` for every job on the pool's workers; yields (the job's index, its answer) as each
    completes. Stopping the iteration (an exception in the caller) stops the pool."""
    if not jobs:
        return
    with connected(pool.settings) as ray:
        shared = start_shared(ray, pool.settings, pool.ledger)
        size = pool_size(ray, pool.settings, len(jobs))
        rows = [{"index": index, "job": pickle.dumps(job)} for index, job in enumerate(jobs)]
        # One job per block: Ray Data hands a block to one actor, so bigger blocks would serialise the jobs in it.
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        answers = dataset.map(
            PoolWorker, fn_constructor_args=(pool.make_engine, shared, work), num_cpus=pool.settings.worker_cpus,
            compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
        )  # fmt: skip
        try:
            for row in answers.iter_rows():
                answer = pickle.loads(row["answer"])
                if isinstance(answer, _Failed):
                    raise ClusterError(f"a worker failed: {answer.reason}")
                yield int(row["index"]), answer
        except ray.exceptions.RayError as error:  # a worker lost for good, the cluster gone, or a bug in one
            raise ClusterError(f"the Ray job failed: {root_cause(error)}") from None


def root_cause(error: BaseException) -> str:
    """The first line of the innermost error Ray wrapped (a task error wraps the worker's own), at most 200
    characters: Ray's own text starts with the actor's name and a traceback."""
    seen = error
    for _ in range(10):  # Ray nests a handful at most
        inner = getattr(seen, "cause", None) or seen.__cause__
        if inner is None or inner is seen:
            break
        seen = inner
    text = str(seen).strip().splitlines()
    return f"{type(seen).__name__}: {text[0][:200]}" if text else type(seen).__name__
