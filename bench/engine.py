"""Benchmark the fallback engine itself: overhead per attempt, breaker skips, failover, hedged tail latency.

    python bench/engine.py [--requests 60]

The same table as ``python -m hdcore bench --engine``; see hdcore.engine.bench.py for what is measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from hdcore.engine.bench import format_table, run_engine_benchmark  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="requests per tail-latency run (default 60)")
    args = parser.parse_args(argv)
    print(format_table(run_engine_benchmark(requests=max(10, args.requests))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
