"""Provider QA at dataset scale: reference images degraded, upscaled by every provider and model, and scored.

    from hdcore.sweep import run_sweep, write_report
    result = run_sweep(["refs/"], ["lanczos", "local:waifu2x-photo"], scales=(2, 4), out_dir="sweep")
    result.leaderboard()          # one line per provider x model x scale: means and 95 % intervals
    write_report(result, "sweep")  # sweep/report.html, self-contained

The pieces, in the order a sweep uses them: ``imresize`` (MATLAB's bicubic), ``degrade`` (how references become
inputs), ``run`` (the loop), ``scores`` with ``niqe`` (the figures), ``results`` (rows), ``leaderboard``
(aggregates and comparisons), ``files`` (the output folder), ``report`` (HTML), ``command`` (the CLI).
"""

from .leaderboard import compare, format_table
from .report import render, write_report
from .results import BASELINE, COLUMNS, SweepResult, SweepRow
from .run import SweepProgress, find_references, run_sweep

__all__ = [
    "BASELINE", "COLUMNS", "SweepProgress", "SweepResult", "SweepRow", "compare", "find_references",
    "format_table", "render", "run_sweep", "write_report",
]
