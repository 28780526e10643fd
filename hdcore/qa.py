"""Provider QA: one image through several providers / models side by side, or a benchmark against a reference.

``compare(image, ["local:realesrgan-x4plus", "local:waifu2x-photo", "lanczos"], scale=2)`` upscales the image
with each entry ("provider" or "provider:model") and returns one ``QARow`` each: latency, cost, LR-consistency
(the output shrunk back to the input's size, PSNR / SSIM against the input) and sharpness, plus the output
image for side-by-side viewing (``crop_all`` cuts the same region out of every output). Unlike a run's
``EnhanceResult.quality`` (sampled beyond 1 MP for speed), QA measures every output whole.

Benchmark mode (``reference=True``): the image is a high-resolution reference. It is trimmed to a multiple of
the scale, shrunk by the scale with an area (box) filter, and that small image is upscaled by each entry;
each output is scored with PSNR / SSIM against the reference (``metrics``). Area shrinking is the same model of
a camera as the LR-consistency check; measured on skimage photos at 2x and 4x, it ranks providers as a Lanczos
shrink does (waifu2x-photo beats Lanczos by 0.2-2.5 dB either way).

One entry failing (unknown provider, a model it does not serve, every attempt failing) gives a row with its
error; the others go on. ``format_table`` and ``to_csv`` present the rows; ``BASELINE`` is always available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from . import images, metrics
from .engine import Engine, EnhanceResult
from .errors import AllTiersFailed, HDCoreError, InvalidInput
from .providers.local.auto_model import AUTO_MODEL
from .text import csv_table

BASELINE = "lanczos"
# QA is not in a hurry: it measures LR-consistency and sharpness on whole outputs, not on a sample.
WHOLE_IMAGE = 1 << 40

CSV_COLUMNS = (
    "entry", "provider", "model", "outcome", "error", "latency_s", "cost_usd", "cost_kind", "output_width",
    "output_height", "lr_psnr", "lr_ssim", "sharpness", "psnr", "ssim",
)


@dataclass
class QARow:
    """One entry's run: what it cost, how faithful and sharp its output is, and (benchmark) how close."""

    entry: str
    provider: str
    model: str | None
    outcome: str  # "ok", or the failed attempt's outcome ("error", "timeout", "skipped")
    error: str = ""
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cost_kind: str = "none"
    output_size: tuple[int, int] | None = None
    lr_psnr: float | None = None
    lr_ssim: float | None = None
    sharpness: float | None = None
    psnr: float | None = None  # against the reference (benchmark mode only)
    ssim: float | None = None
    warnings: tuple[str, ...] = ()
    image: Image.Image | None = field(default=None, repr=False, compare=False)  # the output, for viewing

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def label(self) -> str:
        """"provider/model", with the model asked for when another ran ("local/waifu2x-anime (auto)")."""
        label = f"{self.provider}/{self.model}" if self.model and self.model != self.provider else self.provider
        asked = parse_entry(self.entry)[1]
        return f"{label} ({asked})" if self.ok and asked and asked != self.model else label

    def to_record(self) -> dict[str, Any]:
        """The row without its image, as plain values (for CSV, JSON or a data frame)."""
        width, height = self.output_size or (None, None)
        return {
            "entry": self.entry, "provider": self.provider, "model": self.model, "outcome": self.outcome,
            "error": self.error, "latency_s": round(self.latency_s, 4), "cost_usd": round(self.cost_usd, 6),
            "cost_kind": self.cost_kind, "output_width": width, "output_height": height,
            "lr_psnr": self.lr_psnr, "lr_ssim": self.lr_ssim, "sharpness": self.sharpness,
            "psnr": self.psnr, "ssim": self.ssim,
        }


def parse_entry(entry: str) -> tuple[str, str | None]:
    """ "local:waifu2x-photo" -> ("local", "waifu2x-photo"); "lanczos" -> ("lanczos", None)."""
    provider, _, model = entry.strip().partition(":")
    return provider.strip(), (model.strip() or None)


def available_entries(engine: Engine) -> list[str]:
    """Every entry this engine can run now: each configured provider, and each of its models; Lanczos always."""
    entries: list[str] = []
    for name in engine.registry.names():
        provider = engine.provider(name)
        if name != BASELINE and not provider.is_configured():
            continue
        entries.append(name)
        entries += [f"{name}:{info.name}" for info in provider.models() if info.name != name]
        if provider.serves(AUTO_MODEL) and not any(info.name == AUTO_MODEL for info in provider.models()):
            entries.append(f"{name}:{AUTO_MODEL}")  # the per-image choice (local tier), not a model of its own
    return entries


def compare(
    image: Any,
    entries: Sequence[str],
    scale: int = 2,
    engine: Engine | None = None,
    reference: bool = False,
    on_row: Callable[[QARow], None] | None = None,
    **options: Any,
) -> list[QARow]:
    """Run ``image`` through each entry; with ``reference``, benchmark against it (see the module docstring).

    Raises InvalidInput for an unusable image (or a reference too small for the scale); every other failure
    is one row's error. ``on_row`` hears each row as it is done (for a progress display).
    """
    engine = engine or Engine()
    source = images.load_image(image, max_pixels=engine.config.max_input_pixels)
    truth = _trimmed(source.color, scale) if reference else None
    low_res = _shrunk(truth, scale) if truth is not None else source.color
    run_input = low_res if truth is not None else image
    rows = []
    for entry in entries:
        row = _run_entry(engine, run_input, entry, scale, low_res, truth, options)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _trimmed(color: np.ndarray, scale: int) -> np.ndarray:
    """The reference cut to a multiple of ``scale`` on each side, so that upscaled outputs match it exactly."""
    height, width = (color.shape[0] // scale) * scale, (color.shape[1] // scale) * scale
    if height == 0 or width == 0:
        raise InvalidInput(f"the reference ({color.shape[1]}x{color.shape[0]}) is too small for {scale}x")
    return color[:height, :width]


def _shrunk(reference: np.ndarray, scale: int) -> np.ndarray:
    return metrics.area_resize(reference, (reference.shape[1] // scale, reference.shape[0] // scale))


def _run_entry(engine: Engine, run_input: Any, entry: str, scale: int, low_res: np.ndarray,
               truth: np.ndarray | None, options: dict[str, Any]) -> QARow:
    provider, model = parse_entry(entry)
    try:
        result = engine.enhance(run_input, scale, provider, model, **options)
    except AllTiersFailed as failure:
        last = failure.attempts[-1]
        return QARow(entry, provider, last.model or model, last.outcome, last.reason, last.latency_s)
    except HDCoreError as error:  # an unknown provider, a model it does not serve, a bad option
        return QARow(entry, provider, model, "error", str(error))
    return _scored_row(entry, result, low_res, truth)


def _scored_row(entry: str, result: EnhanceResult, low_res: np.ndarray, truth: np.ndarray | None) -> QARow:
    output = images.as_float_rgb(result.image)
    quality = metrics.quality_report(low_res, output, max_output_pixels=WHOLE_IMAGE)
    row = QARow(
        entry=entry,
        provider=result.provider,
        model=result.model,
        outcome="ok",
        latency_s=result.latency_s,
        cost_usd=result.cost_usd,
        cost_kind=result.attempts[-1].cost_kind,
        output_size=result.output_size,
        lr_psnr=quality.get("lr_psnr"),
        lr_ssim=quality.get("lr_ssim"),
        sharpness=quality.get("sharpness"),
        warnings=tuple(result.warnings),
        image=result.image,
    )
    if truth is not None:
        row.psnr, row.ssim = metrics.psnr(output, truth), metrics.ssim(output, truth)
    return row


# ------------------------------------------------------------------------------------------ presenting


def format_table(rows: Sequence[QARow]) -> str:
    """A plain-text table, one line per row; failed rows' errors listed below it."""
    benchmark = any(row.psnr is not None for row in rows)
    header = ["provider/model", "outcome", "latency", "cost", "LR PSNR", "LR SSIM", "sharpness"]
    header += ["PSNR", "SSIM"] if benchmark else []
    lines = [header] + [_cells(row, benchmark) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in
                      enumerate(zip(line, widths))).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    text += [f"{row.entry}: {row.outcome}: {row.error}" for row in rows if not row.ok]
    return "\n".join(text)


def _cells(row: QARow, benchmark: bool) -> list[str]:
    cells = [row.label, row.outcome, f"{row.latency_s:.2f} s", f"${row.cost_usd:.4f}",
             _decibels(row.lr_psnr), _number(row.lr_ssim, 4), _number(row.sharpness, 1)]
    if benchmark:
        cells += [_decibels(row.psnr), _number(row.ssim, 4)]
    return cells


def _decibels(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf dB" if math.isinf(value) else f"{value:.2f} dB"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def to_records(rows: Sequence[QARow]) -> list[dict[str, Any]]:
    return [row.to_record() for row in rows]


def to_csv(rows: Sequence[QARow]) -> str:
    """The rows as CSV text with a header (CSV_COLUMNS); empty cells where a figure does not apply."""
    return csv_table(to_records(rows), CSV_COLUMNS)


def crop_box(size: tuple[int, int], center: tuple[float, float], side: int) -> tuple[int, int, int, int]:
    """A ``side`` x ``side`` box (left, top, right, bottom) around ``center`` (fractions 0-1), inside ``size``."""
    width, height = size
    side_x, side_y = min(side, width), min(side, height)
    left = min(max(0, round(center[0] * width - side_x / 2)), width - side_x)
    top = min(max(0, round(center[1] * height - side_y / 2)), height - side_y)
    return left, top, left + side_x, top + side_y


def crop_all(rows: Sequence[QARow], center: tuple[float, float], side: int) -> list[tuple[str, Image.Image]]:
    """The same region of every successful output (all outputs have one size), for a synchronized grid."""
    crops = []
    for row in rows:
        if row.image is not None:
            crops.append((row.label, row.image.crop(crop_box(row.image.size, center, side))))
    return crops
