"""Benchmark the history store on both backends, side by side: the calls a run and the pages make.

    python bench/store.py [--runs 2000] [--repeat 200] [--url postgresql://...]

Without ``--url``, a throwaway PostgreSQL cluster is started on 127.0.0.1 (Debian's server binaries, as the
tests do) and removed at the end. Each call is timed ``--repeat`` times on a store already holding ``--runs``
runs (two attempts each, one paid) spread over the last day; the table gives the median and the minimum.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from hdcore.attempts import Attempt  # noqa: E402
from hdcore.errors import AllTiersFailed  # noqa: E402
from hdcore.store import HistoryStore, open_store  # noqa: E402


def fill(store: HistoryStore, runs: int, now: float) -> None:
    for i in range(runs):
        tried = [Attempt(1, "hf", "m", "timeout", "slow", 10.0), Attempt(2, "replicate", "r", "ok", "", 4.0, 0.002)]
        store.record_failure(AllTiersFailed(tried), input_size=(64, 48), scale=2, when=now - 86_000 * i / runs)


def timings(store: HistoryStore, repeat: int, now: float) -> dict[str, list[float]]:
    ledger = store.spend_ledger()
    tried = [Attempt(1, "replicate", "r", "ok", "", 4.0, 0.002, "measured")]

    def reserve_and_settle() -> None:
        ledger.settle(ledger.reserve("replicate", 0.002, max_per_day=1e9, now=now), 0.002)

    calls: dict[str, Callable[[], object]] = {
        "record a run (1 attempt)": lambda: store.record_failure(
            AllTiersFailed(tried), input_size=(8, 8), scale=2, when=now),
        "runs(limit=50) (History page)": lambda: store.runs(limit=50),
        "attempts(last 24 h) (Health page)": lambda: store.attempts(since=now - 86_400),
        "spent_today": lambda: ledger.spent_today(now),
        "reserve + settle": reserve_and_settle,
    }  # fmt: skip
    measured: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():  # interleaved, so a busy moment on the machine hits every call alike
            start = time.perf_counter()
            call()
            measured[name].append(time.perf_counter() - start)
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs in the store before timing (default 2000)")
    parser.add_argument("--repeat", type=int, default=200, help="timings per call (default 200)")
    parser.add_argument("--url", help="an existing PostgreSQL database (its tables are created if missing)")
    args = parser.parse_args(argv)
    cluster = None
    if args.url is None:
        from tests.postgres_cluster import PostgresCluster

        cluster = PostgresCluster.create()
    try:
        url = args.url or cluster.create_database()
        now = time.time()
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            for backend, where in (("SQLite", folder), ("PostgreSQL", url)):
                with open_store(where) as store:
                    fill(store, args.runs, now)
                    results[backend] = timings(store, args.repeat, now)
        print(f"{args.runs} runs stored, {args.repeat} timings per call; milliseconds, median (min)")
        print(f"{'call':36} {'SQLite':>16} {'PostgreSQL':>16}")
        for name in results["SQLite"]:
            cells = [f"{statistics.median(t) * 1e3:7.2f} ({min(t) * 1e3:5.2f})" for t in
                     (results["SQLite"][name], results["PostgreSQL"][name])]  # fmt: skip
            print(f"{name:36} {cells[0]:>16} {cells[1]:>16}")
    finally:
        if cluster is not None:
            cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
