"""The History page's decisions: stored runs as table rows with thumbnails, a summary, paging."""

from __future__ import annotations

import base64
import math
from datetime import datetime, timezone
from typing import Any, Sequence


from ..history import RunRecord
from .common import (
    Headline, short_label,
)
from ..text import usd


HISTORY_PAGE_SIZE = 50


def history_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The History page's table: time, thumbnail, input, scale, winner, per-tier latency and cost, totals."""
    rows = []
    for run in runs:
        width, height = run.input_size
        rows.append(
            {
                "Time": datetime.fromtimestamp(run.time, tz=timezone.utc),
                "Thumbnail": thumbnail_uri(run.thumbnail),
                "Source": run.source_name,
                "Input": f"{width} × {height}",
                "Scale": f"{run.scale}x",
                "Produced by": short_label(run.provider) if run.success and run.provider else "✗ failed",
                "Latency (s)": round(run.latency_s, 3),
                "Cost (USD)": round(run.cost_usd, 6),
                "Tiers": tiers_text(run),
                "Model": run.model or "",
                "Error": run.error,
            }
        )
    return rows


def tiers_text(run: RunRecord) -> str:
    """ "Hugging Face: timeout 10.00 s · Local: ok 0.41 s (+2 skipped)": each tier called, with its latency and
    its cost when it had one; the tiers skipped without a call are only counted."""
    parts, skipped = [], 0
    for a in run.attempts:
        if a.outcome == "skipped":
            skipped += 1
            continue
        cost = f" {usd(a.cost_usd)}" if a.cost_usd else ""
        parts.append(f"{short_label(a.provider)}: {a.outcome} {a.latency_s:.2f} s{cost}")
    text = " · ".join(parts) or "no tier called"
    return text + (f" (+{skipped} skipped)" if skipped else "")


def thumbnail_uri(png: bytes | None) -> str | None:
    return None if not png else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def history_summary(runs: Sequence[RunRecord], total: int) -> list[Headline]:
    succeeded = sum(1 for r in runs if r.success)
    shown = len(runs)
    rate = f"{succeeded / shown:.0%}" if shown else "–"
    return [
        Headline("Runs recorded", f"{total:,}"),
        Headline("Succeeded (this page)", rate, f"{succeeded} of {shown}"),
        Headline("Cost (this page)", usd(sum(r.cost_usd for r in runs))),
    ]


def page_count(total: int, size: int = HISTORY_PAGE_SIZE) -> int:
    return max(1, math.ceil(total / size))


