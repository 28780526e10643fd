"""``python -m hdcore qa-sweep``: the sweep on the command line.

    python -m hdcore qa-sweep REFERENCES... --providers LIST [--scales 2,4] [--degradation bicubic|realistic]
                              [--limit N] [--out DIR] [--resume] [--seed N] [--no-progress]
                              [--ray [ADDRESS] [--workers N] [--worker-cpus N]]

Prints the leaderboard and writes results, leaderboard and report.html into ``--out``; when this machine keeps
a history (``configured.history_store``), the sweep is stored there too, for the QA page's past sweeps. With
``--ray``, the references are swept by a pool of workers on a Ray cluster (``hdcore.distributed``). Exit codes
as the other commands: 0 done, 2 bad usage or a reference that could not be used, 3 every entry failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from ..distributed.cluster import add_ray_arguments, ray_settings
from ..engine import SCALES, Engine
from ..errors import HistoryError, InvalidInput
from ..text import terminal_safe
from .degrade import DEGRADATIONS

if TYPE_CHECKING:
    from .results import SweepResult
    from .run import SweepProgress, SweepRunner

EXIT_OK, EXIT_USAGE, EXIT_ALL_FAILED = 0, 2, 3
DEFAULT_OUT = "qa-sweep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..cli.arguments import at_least  # the command line's package, loaded by the time it builds its parser

    parser.add_argument("references", nargs="+", metavar="REFERENCE",
                        help="high-resolution reference images: files, folders or glob patterns")
    parser.add_argument("--providers", required=True, metavar="LIST",
                        help="comma list of provider or provider:model (bicubic, the baseline, is always added)")
    parser.add_argument("--scales", default="2,4", type=_scales, metavar="LIST",
                        help=f"comma list among {', '.join(map(str, SCALES))} (default 2,4)")
    parser.add_argument("--degradation", choices=DEGRADATIONS, default="bicubic",
                        help="bicubic: MATLAB's bicubic downscale, the standard (default); realistic: "
                             "Real-ESRGAN's blur, resize, noise and JPEG, twice")
    parser.add_argument("--limit", type=at_least(1), metavar="N", help="at most N references")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--resume", action="store_true",
                        help="keep the successful rows already in DIR's results instead of recomputing them")
    parser.add_argument("--seed", type=int, default=0, help="the realistic degradation's seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_ray_arguments(parser)


def run_command(args: argparse.Namespace, engine: Engine) -> int:
    from . import files
    from .leaderboard import LEADERBOARD_COLUMNS, format_table
    from .report import write_report
    from .run import run_sweep

    entries = [entry.strip() for entry in args.providers.split(",") if entry.strip()]
    if not entries:
        return _error("--providers names no provider")
    runner = _runner(args, engine)  # a ConfigError (no Ray, a bad --workers) is main's usage error
    bar = _ProgressBar(enabled=not args.no_progress)
    started = time.monotonic()
    try:
        result = run_sweep(args.references, entries, args.scales, args.degradation, args.limit, args.out,
                           args.resume, engine, bar, seed=args.seed, runner=runner)
    except InvalidInput as error:
        return _error(str(error))
    except OSError as error:
        return _error(f"cannot write to {args.out}: {error.strerror or error}")
    finally:
        bar.close()
    lines = result.leaderboard()
    files.write_table(result.out_dir, files.LEADERBOARD_JSON, files.LEADERBOARD_CSV, _json_ready(lines),
                      LEADERBOARD_COLUMNS)
    report = write_report(result, result.out_dir)
    print(terminal_safe(format_table(lines)))
    print(terminal_safe(f"\nresults, leaderboard and {report.name} in {result.out_dir}"))
    _store(result, engine, ", ".join(args.references), time.monotonic() - started)
    for problem in result.problems:
        _error(problem)
    if result.every_entry_failed:
        return EXIT_ALL_FAILED
    return EXIT_USAGE if result.problems else EXIT_OK


def _runner(args: argparse.Namespace, engine: Engine) -> SweepRunner | None:
    """The pool of Ray workers ``--ray`` asks for, or None for this process (the engine given)."""
    settings = ray_settings(args)
    if settings is None:
        return None
    from ..distributed import RayPool, RaySweep

    return RaySweep(RayPool.for_config(settings, engine.config))


def _store(result: SweepResult, engine: Engine, name: str, duration_s: float) -> None:
    """Keep the sweep in this machine's history, if it keeps one; a history that cannot be written is a
    warning (the files are written already)."""
    from ..configured import history_store

    try:
        store = history_store(engine.config)
        if store is not None:
            with store:
                sweep_id = store.record_sweep(result, name=name, duration_s=duration_s)
            print(f"stored in the history at {store.location} as sweep {sweep_id}")
    except HistoryError as error:
        print(f"hdcore: warning: the sweep was not stored in the history: {error}", file=sys.stderr)


def _json_ready(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: round(value, 6) if isinstance(value, float) else value for key, value in line.items()}
            for line in lines]


class _ProgressBar:
    """A tqdm bar over the sweep's rows on stderr, naming the row just done."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: SweepProgress) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total, unit="row", file=sys.stderr, leave=False)
        self.bar.set_postfix_str(f"{event.row.scale}x {event.row.entry}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a comma list of whole numbers, not {text!r}") from None
    if not scales or any(scale not in SCALES for scale in scales):
        raise argparse.ArgumentTypeError(f"each scale must be one of {', '.join(map(str, SCALES))}")
    return scales


def _error(message: str) -> int:
    print(f"hdcore: error: {terminal_safe(message)}", file=sys.stderr)
    return EXIT_USAGE
