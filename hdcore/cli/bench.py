"""``hdcore bench``: the local models' speed and memory, the runtimes side by side, or the engine itself."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import whole
from ..errors import ConfigError
from .arguments import within
from .streams import EXIT_OK, EXIT_USAGE, print_error

SIDES = whole(8, 4096)  # a 4096 px square is 16 MP, the default input limit
TILES = whole(0, 4096)
MAX_REQUESTS = 100_000  # per tail-latency run of ``bench --engine``: minutes, never days


def add_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure the local models: kpx/s and peak memory")
    bench.add_argument("--models", help="comma list (default: every available local model)")
    bench.add_argument("--sizes", help="comma list of square input sizes in px (default 64,128; --runtimes: 256)")
    bench.add_argument("--tile", default="0",
                       help="tile size, 0 = each model's automatic size (with --runtimes: a comma list)")
    bench.add_argument("--runtimes", action="store_true",
                       help="every model on ncnn and OpenVINO at each precision: kpx/s, peak RSS, PSNR vs ncnn "
                            "(the first of --sizes is the input)")
    bench.add_argument("--photos", action="store_true",
                       help="whole photos (640x427, 1 MP) through the first of --models on OpenVINO, cold and warm")
    bench.add_argument("--engine", action="store_true",
                       help="measure the fallback engine instead: overhead, breaker skips, failover, hedging")
    bench.add_argument("--requests", type=within(whole(0, MAX_REQUESTS)), default=60,
                       help="requests per tail-latency run of --engine (default 60)")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace, engine: Any) -> int:
    if args.engine:
        from ..engine.bench import format_table, run_engine_benchmark

        print(format_table(run_engine_benchmark(requests=max(10, args.requests))))
        return EXIT_OK
    sizes = _numbers("--sizes", args.sizes or ("256" if args.runtimes else "64,128"), SIDES, "sides")
    tiles = _numbers("--tile", args.tile, TILES, "tile sizes")
    if sizes is None or tiles is None:
        return EXIT_USAGE
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if args.runtimes or args.photos:
        from ..providers.local import runtime_bench

        if args.photos:
            rows = runtime_bench.run_photo_benchmark(model=(models or ["realesrgan-x4plus"])[0], tile=tiles[0])
            print(runtime_bench.format_table(rows, runtime_bench.PHOTO_COLUMNS))
        if args.runtimes:
            print(runtime_bench.format_table(runtime_bench.run_runtime_benchmark(models, sizes[0], tiles)))
        return EXIT_OK
    if len(tiles) > 1:
        print_error("--tile takes one size, except with --runtimes")
        return EXIT_USAGE
    from ..providers.local.bench import format_table, run_benchmark

    print(format_table(run_benchmark(models=models, sizes=sizes, tile=tiles[0])))
    return EXIT_OK


def _numbers(flag: str, text: str, bounds: Any, what: str) -> list[int] | None:
    """A comma list of whole numbers within ``bounds``, or None after a one-line error naming the flag."""
    try:
        values = [bounds(flag, part.strip()) for part in text.split(",") if part.strip()]
    except ConfigError:
        values = []
    if not values:
        print_error(f"{flag} must be a comma list of {what} from {bounds.low:,} to {bounds.high:,} px, not {text!r}")
        return None
    return values
