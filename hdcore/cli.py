"""``python -m hdcore``: upscale files, list providers, benchmark the local models.

Exit codes: 0 success, 2 bad input or usage, 3 every tier failed for some input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from . import images
from .config import Config
from .engine import SCALES, Engine, EnhanceResult, ProgressEvent
from .errors import AllTiersFailed, HDCoreError, InvalidInput

EXIT_OK, EXIT_USAGE, EXIT_ALL_FAILED = 0, 2, 3
PROVIDER_CHOICES = ("auto", "hf", "replicate", "space", "local", "lanczos")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
        return args.run(args, Engine(config))
    except HDCoreError as error:  # configuration problems found before any input was touched
        _error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hdcore", description="Turn ordinary images into HD ones.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upscale = commands.add_parser("upscale", help="upscale one or more images")
    upscale.add_argument("inputs", nargs="+", metavar="IN", help="image files")
    where = upscale.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for outputs (default: beside each input)")
    upscale.add_argument("--scale", type=int, choices=SCALES, default=4)
    upscale.add_argument("--provider", default="auto", help=f"one of {', '.join(PROVIDER_CHOICES)} (default auto)")
    upscale.add_argument("--fallback", action="store_true", help="with --provider NAME: fall back to the other tiers")
    upscale.add_argument("--model", help="model name (see `python -m hdcore providers`)")
    upscale.add_argument("--preset", choices=("fast", "best"), help="local tier preset (default from HDCORE_LOCAL_PRESET)")
    upscale.add_argument("--tile", type=_non_negative, metavar="N", help="local tile size in px, 0 = automatic")
    upscale.add_argument("--denoise", type=int, choices=(-1, 0, 1, 2, 3), help="denoise level (Real-CUGAN, waifu2x)")
    upscale.add_argument("--format", choices=images.FORMATS + ("jpg",), default=None, help="output format (default png)")
    upscale.add_argument("--quality", type=int, metavar="Q", help="JPEG / WebP quality 1-100")
    upscale.add_argument("--json", action="store_true", help="print one JSON object per input (JSON Lines)")
    upscale.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    upscale.set_defaults(run=_upscale)

    providers = commands.add_parser("providers", help="list every tier, whether it is configured, its models")
    providers.add_argument("--json", action="store_true")
    providers.add_argument("--probe", action="store_true", help="make a tiny real call to each configured tier")
    providers.set_defaults(run=_providers)

    bench = commands.add_parser("bench", help="measure the local models: kpx/s and peak memory")
    bench.add_argument("--models", help="comma list (default: every available local model)")
    bench.add_argument("--sizes", default="64,128", help="comma list of square input sizes in px (default 64,128)")
    bench.add_argument("--tile", type=_non_negative, default=0, help="tile size, 0 = each model's automatic size")
    bench.set_defaults(run=_bench)
    return parser


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


# --- upscale ---------------------------------------------------------------------------------------------


def _upscale(args: argparse.Namespace, engine: Engine) -> int:
    if args.output and len(args.inputs) > 1:
        _error("-o/--output takes one input; use --out-dir for several")
        return EXIT_USAGE
    if args.quality is not None and not 1 <= args.quality <= 100:
        _error("--quality must be between 1 and 100")
        return EXIT_USAGE
    engine.plan(args.provider, args.fallback)  # an unknown provider is a usage error before any work
    options = {key: value for key in ("preset", "tile", "denoise") if (value := getattr(args, key)) is not None}
    worst = EXIT_OK
    for path in args.inputs:
        worst = max(worst, _upscale_one(path, args, engine, options))
    return worst


def _upscale_one(path: str, args: argparse.Namespace, engine: Engine, options: dict[str, Any]) -> int:
    bar = _ProgressBar(enabled=not args.no_progress, label=Path(path).name)
    try:
        result = engine.enhance(
            Path(path), args.scale, args.provider, args.model, fallback=args.fallback, progress=bar, **options
        )
        encoded = result.encode(args.format or "png", args.quality)
        out_path = _output_path(path, args, encoded.format)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(encoded.data)
    except AllTiersFailed as error:
        bar.close()
        _report_failure(path, args, error, error.attempts)
        return EXIT_ALL_FAILED
    except InvalidInput as error:
        bar.close()
        _report_failure(path, args, error, [])
        return EXIT_USAGE
    except OSError as error:  # the output could not be written
        bar.close()
        _report_failure(path, args, InvalidInput(f"cannot write output: {error.strerror or error}"), [])
        return EXIT_USAGE
    bar.close()
    _report_success(path, out_path, args, result, list(encoded.warnings))
    return EXIT_OK


def _output_path(path: str, args: argparse.Namespace, written_format: str) -> Path:
    suffix = ".jpg" if written_format == "jpeg" else f".{written_format}"
    if args.output:
        out = Path(args.output)
        # The format actually written wins (RGBA asked as JPEG is written as PNG).
        return out if out.suffix.lower() in (suffix, ".jpeg" if suffix == ".jpg" else suffix) else out.with_suffix(suffix)
    folder = Path(args.out_dir) if args.out_dir else Path(path).parent
    return folder / f"{Path(path).stem}_x{args.scale}{suffix}"


def _report_success(
    path: str, out_path: Path, args: argparse.Namespace, result: EnhanceResult, encode_warnings: list[str]
) -> None:
    warnings = result.warnings + encode_warnings
    if args.json:
        record = {"input": path, "output": str(out_path), **result.to_dict(), "warnings": warnings}
        print(json.dumps(record), flush=True)
        return
    w, h = result.output_size
    cost = f", ${result.cost_usd:.4f}" if result.cost_usd else ""
    print(f"{path} -> {out_path} ({w}x{h}, {result.provider}/{result.model}, {result.latency_s:.1f} s{cost})")
    for warning in warnings:
        print(f"  warning: {warning}", file=sys.stderr)


def _report_failure(path: str, args: argparse.Namespace, error: Exception, attempts: list) -> None:
    if args.json:
        record = {"input": path, "success": False, "error": str(error), "attempts": [a.to_dict() for a in attempts]}
        print(json.dumps(record), flush=True)
    _error(f"{path}: {error}" if not attempts else f"{path}: every tier failed")
    for attempt in attempts:
        print(f"  tier {attempt.tier} {attempt.provider}: {attempt.outcome}: {attempt.reason}", file=sys.stderr)


class _ProgressBar:
    """A tqdm bar on stderr that follows the tiles of whichever tier is running."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled
        self.label = label
        self._bar = None
        self._key: tuple[int, str] | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled or event.stage != "progress" or event.total <= 1:
            return
        key = (event.tier, event.provider)
        if self._bar is None or key != self._key:
            self.close()
            from tqdm import tqdm

            self._bar = tqdm(total=event.total, desc=f"{self.label} [{event.provider}]", unit="tile", file=sys.stderr, leave=False)
            self._key = key
        self._bar.total = event.total
        self._bar.n = event.done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- providers -------------------------------------------------------------------------------------------


def _providers(args: argparse.Namespace, engine: Engine) -> int:
    rows = [engine.describe(name) for name in engine.registry.names()]
    if args.probe:
        for row in rows:
            row["probe"] = _probe(engine, row)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return EXIT_OK
    chain = engine.plan("auto")
    print(f"auto chain: {' -> '.join(chain)}")
    for row in rows:
        timeout = "none" if row["timeout_s"] is None else f"{row['timeout_s']:g} s"
        print(f"\n{row['name']:<10} {row['label']}")
        print(f"  status:  {row['status']}")
        print(f"  timeout: {timeout}")
        if "probe" in row:
            print(f"  probe:   {row['probe']['text']}")
        for model in row["models"]:
            scales = "/".join(f"{s}x" for s in model["scales"])
            print(f"  model:   {model['name']:<26} {scales:<9} {model['description']}")
    return EXIT_OK


def _probe(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    if not row["configured"]:
        return {"outcome": "skipped", "latency_s": 0.0, "text": "skipped (not configured)"}
    attempt = engine.probe(row["name"])
    text = f"{attempt.outcome} in {attempt.latency_s * 1000:.0f} ms" + (f": {attempt.reason}" if attempt.reason else "")
    return {"outcome": attempt.outcome, "latency_s": round(attempt.latency_s, 4), "reason": attempt.reason, "text": text}


# --- bench -----------------------------------------------------------------------------------------------


def _bench(args: argparse.Namespace, engine: Engine) -> int:
    from .local_bench import format_table, run_benchmark

    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        _error(f"--sizes must be a comma list of whole numbers, not {args.sizes!r}")
        return EXIT_USAGE
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    rows = run_benchmark(models=models, sizes=sizes, tile=args.tile)
    print(format_table(rows))
    return EXIT_OK


def _error(message: str, stream: TextIO | None = None) -> None:
    print(f"hdcore: error: {message}", file=stream or sys.stderr)
