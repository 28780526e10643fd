"""The QA page's decisions: which entries (provider or provider:model) to compare, one comparison run, its
table, charts and synchronized 1:1 crops."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from PIL import Image

from .. import qa as qa_lib
from ..engine import Engine
from ..text import one_line
from . import compare_slider
from .enhance_page import ShownOption, applicable_options
from .common import (
    AUTO, download_name, error_message,
    finite, model_label, redact, short_label,
)


QA_CROP_SIDE = 256  # output pixels of each crop in the QA grid, shown 1:1
QA_GRID_COLUMNS = 3


def qa_entry_options(engine: Engine) -> list[str]:
    """The QA page's choices: the Lanczos baseline first (always there), then every entry the engine can run."""
    entries = qa_lib.available_entries(engine)
    return [qa_lib.BASELINE, *(e for e in entries if e != qa_lib.BASELINE)]


def qa_default_entries(engine: Engine) -> list[str]:
    """The baseline, and the tiers that need nothing configured (they always run, at no cost)."""
    free = [name for name in engine.plan(AUTO) if not engine.provider(name).info.requires]
    options = qa_entry_options(engine)
    return [e for e in (qa_lib.BASELINE, *free) if e in options]


def qa_options(engine: Engine, entries: Sequence[str], scale: int) -> list[ShownOption]:
    """The options of the entries that run their tier's default model (the local preset, say), each once."""
    shown: dict[str, ShownOption] = {}
    for entry in entries:
        provider, model = qa_lib.parse_entry(entry)
        if model is None and provider in engine.registry:
            for option in applicable_options(engine, provider, None, scale):
                shown.setdefault(option.info.name, option)
    return list(shown.values())


def qa_entry_label(entry: str) -> str:
    """ "local:waifu2x-photo" -> "Local · waifu2x-photo"; "local" -> "Local (default model)"."""
    provider, model = qa_lib.parse_entry(entry)
    if provider == qa_lib.BASELINE:
        return "Lanczos (baseline)"
    if model is None:
        return f"{short_label(provider)} (default model)"
    return f"{short_label(provider)} · {model_label(model)}"


@dataclass
class QAOutcome:
    """A QA run: one row per entry (failed entries included), or the one-line reason it could not start."""

    rows: list[Any] = field(default_factory=list)  # qa.QARow
    error: str = ""
    reference: bool = False
    scale: int = 2
    source_name: str = ""

    @property
    def ok_rows(self) -> list[Any]:
        return [row for row in self.rows if row.ok]

    @property
    def csv_name(self) -> str:
        stem = download_name(self.source_name or "image", self.scale, "csv").rsplit(".", 1)[0]
        return f"{stem}_{'benchmark' if self.reference else 'qa'}.csv"


def run_qa(
    engine: Engine,
    data: bytes,
    entries: Sequence[str],
    scale: int,
    *,
    reference: bool = False,
    source_name: str = "",
    on_row: Callable[[Any], None] | None = None,
    **options: Any,
) -> QAOutcome:
    """``qa.compare`` for the page: never raises for the user's input (an unusable image, a reference too small,
    nothing chosen): each is ``QAOutcome.error``. One entry failing is that row's error; the others go on."""
    outcome = QAOutcome(reference=reference, scale=scale, source_name=source_name)
    if not entries:
        outcome.error = "choose at least one provider"
        return outcome
    try:
        outcome.rows = qa_lib.compare(data, list(entries), scale, engine, reference=reference, on_row=on_row,
                                      **options)  # fmt: skip
    except Exception as error:  # bad image or a bug: a message, never a crashed session
        outcome.error = error_message(error, engine.config)
    for row in outcome.rows:
        row.error = redact(one_line(row.error), engine.config)
    return outcome


def qa_table_rows(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """One table row per entry: latency, cost, LR-consistency, sharpness, and (benchmark) PSNR / SSIM."""
    benchmark = any(row.psnr is not None for row in rows)
    table = []
    for row in rows:
        width, height = row.output_size or (None, None)
        line = {
            "Provider / model": row.label,
            "Outcome": row.outcome,
            "Latency (s)": round(row.latency_s, 3),
            "Cost (USD)": round(row.cost_usd, 6),
            "Output": f"{width} × {height}" if width else "",
            "LR-PSNR (dB)": finite(row.lr_psnr, 2),
            "LR-SSIM": finite(row.lr_ssim, 4),
            "Sharpness": finite(row.sharpness, 1),
        }
        if benchmark:
            line["PSNR (dB)"] = finite(row.psnr, 2)
            line["SSIM"] = finite(row.ssim, 4)
        line["Notes"] = row.error if not row.ok else " · ".join(row.warnings)
        table.append(line)
    return table


QA_CHARTS = {"PSNR (dB)": "psnr", "SSIM": "ssim", "LR-PSNR (dB)": "lr_psnr", "Sharpness": "sharpness",
             "Latency (s)": "latency_s"}  # fmt: skip


def qa_chart_rows(rows: Sequence[Any], column: str) -> list[dict[str, Any]]:
    """Bars for one figure (a key of QA_CHARTS), one per successful entry with a finite value."""
    attribute = QA_CHARTS[column]
    bars = []
    for row in rows:
        value = getattr(row, attribute)
        if row.ok and value is not None and math.isfinite(value):
            bars.append({"Provider / model": row.label, column: round(float(value), 4)})
    return bars


def qa_charts(outcome: QAOutcome) -> list[str]:
    """The bar charts worth drawing: PSNR and SSIM in benchmark mode, else LR-PSNR and sharpness."""
    return ["PSNR (dB)", "SSIM"] if outcome.reference else ["LR-PSNR (dB)", "Sharpness"]


def qa_crops(outcome: QAOutcome, center: tuple[float, float], side: int = QA_CROP_SIDE
             ) -> tuple[list[tuple[str, Image.Image]], tuple[int, int, int, int] | None]:  # fmt: skip
    """The same region of every output at 1:1 (``qa.crop_all``), ready to show, and the box in output pixels."""
    crops = [(label, compare_slider.to_display(image)) for label, image in qa_lib.crop_all(outcome.rows, center, side)]
    first = next((row.image for row in outcome.rows if row.image is not None), None)
    return crops, (qa_lib.crop_box(first.size, center, side) if first is not None else None)


