"""``python -m hdcore``: upscale files, folders and globs; compare providers (QA, and sweeps over reference sets);
list providers; benchmark; serve the seed's HTTP API.

Exit codes: 0 success, 2 bad input or usage, 3 every tier failed for some input (for ``qa``: for every entry),
141 when the reader of a listing's output went away (``| head``); ``upscale`` finishes its images regardless.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any, Callable, Sequence, TextIO

from .. import batch, images
from ..config import CONCURRENCY, Config, whole
from ..engine import SCALES, Engine, ProgressEvent
from ..errors import HDCoreError
from ..files import write_atomically
from ..text import terminal_safe
from ..configured import configured_engine
from ..distributed.cluster import add_ray_arguments, ray_settings
from ..providers import PROVIDER_IDS, default_registry
from ..providers.local import LOCAL_PRESETS
from .progress import TqdmReporter
from . import bench
from .arguments import at_least
from .arguments import within as _within
from .streams import EXIT_ALL_FAILED, EXIT_OK, EXIT_READER_GONE, EXIT_USAGE, print_error, reader_may_leave
from .streams import silence_closed_streams
from ..sweep import command as sweep_command

_non_negative, _positive = at_least(0), at_least(1)

PROVIDER_CHOICES = ("auto", *PROVIDER_IDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
        if getattr(args, "jobs", None):  # --jobs: calls at once for every tier that declares a limit
            limited = {info.id: args.jobs for info in _registry_infos() if info.max_concurrency is not None}
            config = config.with_changes(concurrency={**limited, **config.concurrency})
        return args.run(args, configured_engine(config))
    except HDCoreError as error:  # configuration problems found before any input was touched
        _error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # a listing's reader left (``| head``): its output ends here, quietly
        silence_closed_streams()
        return EXIT_READER_GONE


def _registry_infos():
    from ..providers import default_registry

    return default_registry().infos()


def _declared_concurrency() -> str:
    """ "hf 2, fal 4, ..." as the providers declare it (``ProviderInfo.max_concurrency``)."""
    infos = default_registry().infos()
    return ", ".join(f"{info.id} {info.max_concurrency}" for info in infos if info.max_concurrency)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hdcore", description="Turn ordinary images into HD ones.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upscale = commands.add_parser("upscale", help="upscale images: files, folders, globs")
    upscale.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    where = upscale.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    where.add_argument("--out-dir", metavar="DIR", help="folder for outputs (default: beside each input)")
    size = upscale.add_argument_group("size (one of: a factor, a width and/or height, a longest side)")
    size.add_argument("--scale", type=_factor, default=None, metavar="F", help="any factor from 1.1 to 8 (default 4)")
    size.add_argument("--width", type=_positive, metavar="W", help="output width in px (fits within, aspect kept)")
    size.add_argument("--height", type=_positive, metavar="H", help="output height in px")
    size.add_argument("--longest-side", type=_positive, metavar="L", help="the output's longer side in px")
    size.add_argument("--fill", action="store_true",
                      help="with --width and --height: cover the box and crop its centre (default: fit within)")
    upscale.add_argument("--provider", default="auto", help=f"one of {', '.join(PROVIDER_CHOICES)} (default auto)")
    upscale.add_argument("--fallback", action="store_true", help="with --provider NAME: fall back to the other tiers")
    upscale.add_argument("--model", help="model name (see `python -m hdcore providers`)")
    upscale.add_argument("--preset", choices=LOCAL_PRESETS, help="local tier preset (default from HDCORE_LOCAL_PRESET)")
    upscale.add_argument("--tile", type=_non_negative, metavar="N", help="local tile size in px, 0 = automatic")
    upscale.add_argument("--denoise", type=int, choices=(-1, 0, 1, 2, 3), help="denoise level (Real-CUGAN, waifu2x)")
    upscale.add_argument("--format", choices=images.FORMATS + ("jpg",), default=None,
                         help="output format (default png; an animation keeps its own)")
    upscale.add_argument("--quality", type=int, metavar="Q", help="JPEG / WebP quality 1-100")
    upscale.add_argument("--no-metadata", action="store_true",
                         help="do not copy the EXIF, XMP and text of each input into its output")
    upscale.add_argument("--first-frame", action="store_true",
                         help="animated GIF / WebP / APNG: a still of the first frame (default: every frame)")
    upscale.add_argument("--allow-paid", action="store_true",
                         help="animations: let cloud tiers upscale the frames (one paid call per frame; default local)")
    upscale.add_argument("--json", action="store_true", help="print one JSON object per input (JSON Lines)")
    upscale.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    upscale.add_argument("--recursive", action="store_true",
                         help="folders: include subfolders; globs: ** spans folders")
    upscale.add_argument("--overwrite", action="store_true",
                         help="upscale even when the output exists (default: skip it; -o OUT always overwrites)")
    upscale.add_argument("--jobs", type=_within(CONCURRENCY), metavar="N",
                         help=f"images at once per remote tier (default {_declared_concurrency()})")
    upscale.add_argument("--zip", metavar="FILE", help="also pack the outputs and attempts.csv into this zip")
    add_ray_arguments(upscale)
    upscale.set_defaults(run=_upscale)

    qa = commands.add_parser("qa", help="one image through several providers/models, side by side")
    qa.add_argument("image", metavar="IMAGE", help="the image (with --reference: the high-resolution reference)")
    qa.add_argument("--providers", default="local,lanczos", metavar="LIST",
                    help="comma list of provider or provider:model (default local,lanczos)")
    qa.add_argument("--scale", type=int, choices=SCALES, default=4)
    qa.add_argument("--reference", action="store_true",
                    help="IMAGE is a reference: shrink it by the scale, upscale, score PSNR/SSIM against it")
    qa.add_argument("--preset", choices=LOCAL_PRESETS, help="local tier preset for entries without a model")
    qa.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    qa.add_argument("--json", action="store_true", help="print one JSON object per entry instead of the table")
    qa.set_defaults(run=_qa)

    qa_sweep = commands.add_parser("qa-sweep", help="score every provider/model on a set of reference images")
    sweep_command.add_arguments(qa_sweep)
    qa_sweep.set_defaults(run=sweep_command.run_command)

    providers = commands.add_parser("providers", help="list every tier, whether it is configured, its models")
    providers.add_argument("--json", action="store_true")
    providers.add_argument("--probe", action="store_true", help="make a tiny real call to each configured tier")
    providers.set_defaults(run=_providers)

    bench.add_parser(commands)

    serve = commands.add_parser("serve", help="serve the seed's HTTP API (POST /api/ai/hd-image) with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs "
                                                           "HDCORE_API_KEYS, or --no-auth)")
    serve.add_argument("--port", type=_within(whole(0, 65535)), default=8000, help="port (default 8000; 0 = any free port)")
    serve.add_argument("--no-auth", action="store_true",
                       help="serve a non-local address without API keys (a proxy in front checks callers)")
    serve.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info")
    serve.set_defaults(run=_serve)
    return parser


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 1.1 to 8, not {text!r}") from None
    if not 1.1 <= value <= 8:
        raise argparse.ArgumentTypeError(f"must be a number from 1.1 to 8, not {text!r}")
    return value


# --- upscale ---------------------------------------------------------------------------------------------


def _upscale(args: argparse.Namespace, engine: Engine) -> int:
    if args.quality is not None and not 1 <= args.quality <= 100:
        _error("--quality must be between 1 and 100")
        return EXIT_USAGE
    engine.plan(args.provider, args.fallback)  # an unknown provider is a usage error before any work
    sized = [flag for flag, value in (("--scale", args.scale), ("--width/--height", args.width or args.height),
                                      ("--longest-side", args.longest_side)) if value]  # fmt: skip
    if len(sized) > 1 or (args.fill and not (args.width and args.height)):
        _error("give one size: --scale, --width/--height (with --fill: both), or --longest-side")
        return EXIT_USAGE
    cluster = ray_settings(args)  # --ray without Ray installed: a usage error, before any work too
    found, problems = batch.expand_inputs(args.inputs, args.recursive)
    if args.output and (len(args.inputs) > 1 or len(found) > 1):
        _error("-o/--output takes one input; use --out-dir for several")
        return EXIT_USAGE
    label = batch.size_label(args.scale, args.width, args.height, args.longest_side)
    items, clashes = batch.plan_items(found, label, args.format or "png", args.out_dir, args.output)
    for problem in problems + clashes:
        _error(problem)
    cancel = threading.Event()
    try:
        if cluster is not None:
            results = _upscale_on_ray(items, engine, _batch_settings(args), cluster, _CliReporter(args, len(items)))
        else:
            results = batch.run_batch(items, engine, _batch_settings(args), _CliReporter(args, len(items)), cancel)
    except KeyboardInterrupt:
        cancel.set()  # running tiers stop at once instead of finishing their image
        raise
    worst = max(batch.exit_code(results), EXIT_USAGE if problems or clashes else EXIT_OK)
    if args.zip:
        worst = max(worst, _write_zip(results, args.zip))
    return worst


def _upscale_on_ray(items: list[batch.BatchItem], engine: Engine, settings: batch.BatchSettings, cluster: Any,
                    reporter: _CliReporter) -> list[batch.ItemResult]:  # fmt: skip
    """The batch on a pool of Ray workers, each with an engine of these settings (``hdcore.distributed``)."""
    from ..distributed import RayPool, run_batch_on_ray

    batch.check_settings(engine, settings)  # a model no tier serves: refused before a cluster starts
    return run_batch_on_ray(items, settings, RayPool.for_config(cluster, engine.config), reporter)


def _batch_settings(args: argparse.Namespace) -> batch.BatchSettings:
    options = {key: value for key in ("preset", "tile", "denoise") if (value := getattr(args, key)) is not None}
    return batch.BatchSettings(
        scale=args.scale if args.scale is not None else 4, width=args.width, height=args.height,
        longest_side=args.longest_side, fit="fill" if args.fill else "within",
        provider=args.provider, model=args.model, fallback=args.fallback, options=options,
        # An output named with -o is the caller's explicit wish; resume-by-skipping is for folders and globs.
        format=args.format or "png", quality=args.quality, overwrite=args.overwrite or bool(args.output),
        copy_metadata=not args.no_metadata, frames="first" if args.first_frame else "all", allow_paid=args.allow_paid,
    )


def _write_zip(results: list[batch.ItemResult], path: str) -> int:
    try:
        batch.write_zip(results, path)
    except OSError as error:
        _error(f"cannot write {path}: {error.strerror or error}")
        return EXIT_USAGE
    return EXIT_OK


class _CliReporter:
    """Progress bars on stderr, and one line (or JSON object) per input on stdout, in input order.

    Output is what the user reads, the images are what they asked for: a reader that goes away (``| head``)
    ends the output, never the batch.
    """

    def __init__(self, args: argparse.Namespace, total: int):
        self.args = args
        self.bars = TqdmReporter(total, enabled=not args.no_progress)
        self._waiting: dict[int, batch.ItemResult] = {}
        self._next = 0

    def started(self, item: batch.BatchItem) -> None:
        with reader_may_leave():
            self.bars.started(item)

    def progress(self, item: batch.BatchItem, event: ProgressEvent) -> None:
        with reader_may_leave():
            self.bars.progress(item, event)

    def finished(self, result: batch.ItemResult) -> None:
        with reader_may_leave():
            self.bars.finished(result)
        self._waiting[result.item.index] = result
        while self._next in self._waiting:  # print in input order, whatever order the images finish in
            _report(self._waiting.pop(self._next), self.args, self._say)
            self._next += 1
        if self._next == self.bars.total:
            with reader_may_leave():
                self.bars.close()

    def _say(self, line: str, stream: TextIO) -> None:
        with reader_may_leave():
            self.bars.write(terminal_safe(line), stream)  # names and servers' errors may hold escapes


Say = Callable[[str, TextIO], None]


def _report(result: batch.ItemResult, args: argparse.Namespace, say: Say) -> None:
    if args.json:
        say(json.dumps(result.record), sys.stdout)
    if result.status == "ok":
        _report_success(result, args.json, say)
    elif result.status == "skipped":
        _report_skipped(result, args.json, say)
    else:
        _report_failure(result, say)


def _report_success(result: batch.ItemResult, quiet: bool, say: Say) -> None:
    record = result.record
    if not quiet:
        w, h = record["output_size"]
        cost = f", ${record['cost_usd']:.4f}" if record["cost_usd"] else ""
        latency = sum(attempt.latency_s for attempt in result.attempts)
        say(f"{result.item.source} -> {result.output} ({w}x{h}, {record['provider']}/{record['model']}, "
            f"{latency:.1f} s{cost})", sys.stdout)
    for warning in record["warnings"]:
        say(f"  warning: {warning}", sys.stderr)


def _report_skipped(result: batch.ItemResult, quiet: bool, say: Say) -> None:
    if not quiet:
        say(f"{result.item.source} -> {result.output} skipped (exists)", sys.stdout)


def _report_failure(result: batch.ItemResult, say: Say) -> None:
    source = result.item.source
    say(f"hdcore: error: {source}: {result.error}" if not result.attempts
        else f"hdcore: error: {source}: every tier failed", sys.stderr)
    for attempt in result.attempts:
        say(f"  tier {attempt.tier} {attempt.provider}: {attempt.outcome}: {attempt.reason}", sys.stderr)


# --- qa --------------------------------------------------------------------------------------------------


def _qa(args: argparse.Namespace, engine: Engine) -> int:
    from .. import qa

    entries = [entry.strip() for entry in args.providers.split(",") if entry.strip()]
    if not entries:
        _error("--providers names no provider")
        return EXIT_USAGE
    options = {"preset": args.preset} if args.preset else {}
    rows = qa.compare(args.image, entries, args.scale, engine, reference=args.reference, **options)
    if args.json:
        for row in rows:
            print(json.dumps(_json_safe(row.to_record())))
    else:
        print(terminal_safe(qa.format_table(rows)))
    if args.csv and not _write_text(args.csv, qa.to_csv(rows)):
        return EXIT_USAGE
    return EXIT_OK if any(row.ok for row in rows) else EXIT_ALL_FAILED


def _write_text(path: str, text: str) -> bool:
    try:
        write_atomically(path, text)
    except OSError as error:
        _error(f"cannot write {path}: {error.strerror or error}")
        return False
    return True


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: an infinite PSNR (identical images) is written as null."""
    return {key: None if isinstance(value, float) and value in (float("inf"), float("-inf")) else value
            for key, value in record.items()}


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
    lines = [f"auto chain: {' -> '.join(chain)}"]
    for row in rows:
        timeout = "none" if row["timeout_s"] is None else f"{row['timeout_s']:g} s"
        lines += [f"\n{row['name']:<10} {row['label']}", f"  status:  {row['status']}", f"  timeout: {timeout}"]
        if "probe" in row:
            lines.append(f"  probe:   {row['probe']['text']}")  # a server's own words, maybe
        for model in row["models"]:
            scales = "/".join(f"{s}x" for s in model["scales"])
            lines.append(f"  model:   {model['name']:<26} {scales:<9} {model['description']}")
    print(terminal_safe("\n".join(lines)))
    return EXIT_OK


def _probe(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    if not row["configured"]:
        return {"outcome": "skipped", "latency_s": 0.0, "text": "skipped (not configured)"}
    attempt = engine.probe(row["name"])
    text = f"{attempt.outcome} in {attempt.latency_s * 1000:.0f} ms" + (f": {attempt.reason}" if attempt.reason else "")
    return {"outcome": attempt.outcome, "latency_s": round(attempt.latency_s, 4), "reason": attempt.reason, "text": text}


# --- serve -----------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, engine: Engine) -> int:
    from ..serve import serve  # FastAPI and uvicorn are imported only by this command

    return serve(args.host, args.port, config=engine.config, anonymous=args.no_auth, log_level=args.log_level)


_error = print_error
