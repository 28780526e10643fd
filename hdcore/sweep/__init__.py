"""Provider QA at dataset scale: reference images degraded, upscaled by every provider and model, and scored.

    from hdcore.sweep import run_sweep, write_report
    result = run_sweep(["refs/"], ["lanczos", "local:waifu2x-photo"], scales=(2, 4), out_dir="sweep")
    result.leaderboard()          # one line per provider x model x scale: means and 95 % intervals
    write_report(result, "sweep")  # sweep/report.html, self-contained
    run_sweep(..., runner=hdcore.distributed.RaySweep(pool))  # the same sweep on a Ray cluster

The pieces, in the order a sweep uses them: ``imresize`` (MATLAB's bicubic), ``degrade`` (how references become
inputs), ``run`` (the loop), ``scores`` with ``niqe`` (the figures), ``results`` (rows), ``leaderboard``
(aggregates and comparisons), ``files`` (the output folder), ``report`` (HTML), ``command`` (the CLI).
The names below are imported on first use, so the command line does not pay for the sweep unless it runs one.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BASELINE": "results", "COLUMNS": "results", "SweepResult": "results", "SweepRow": "results",
    "InProcess": "run", "SweepPlan": "run", "SweepProgress": "run", "SweepRunner": "run", "find_references": "run",
    "run_sweep": "run",
    "compare": "leaderboard", "format_table": "leaderboard",
    "render": "report", "write_report": "report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
