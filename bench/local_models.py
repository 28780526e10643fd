"""Benchmark the embedded local models: speed (input kpx/s), tiling overhead and peak memory.

    python bench/local_models.py [--sizes 64,128] [--models realesrgan-x4plus,waifu2x-photo] [--tile 0]
                                 [--threads 0] [--no-untiled]

Each (model, size) runs in its own subprocess; see hdcore.providers.local.bench.py for what is measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from hdcore.providers.local.bench import format_table, run_benchmark  # noqa: E402


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128", help="input sizes in px, comma-separated (default 64,128)")
    parser.add_argument("--models", default="", help="model names, comma-separated (default: every installed)")
    parser.add_argument("--tile", type=int, default=0, help="tile size in input px (default 0: per model)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: every core)")
    parser.add_argument("--no-untiled", action="store_true",
                        help="skip the untiled run (its memory grows with the image size)")
    args = parser.parse_args(argv)
    rows = run_benchmark(_names(args.models) or None, [int(size) for size in _names(args.sizes)],
                         tile=args.tile, threads=args.threads, untiled=not args.no_untiled)
    print(format_table(rows))
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
