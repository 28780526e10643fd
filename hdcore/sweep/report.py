"""The sweep's report: one HTML file that opens offline, anywhere.

Self-contained by construction: styles inline, charts as inline SVG, crops as ``data:`` URIs, no script, no
link to anything outside the file. Every text that comes from outside (file names, reasons, model names) is
HTML-escaped. Per degradation and scale: the leaderboard, bar charts of PSNR-Y, SSIM-Y, NIQE, latency and cost
per entry (95 % intervals as whiskers), and for each entry the reference images where it gained the least
and the most PSNR-Y over bicubic, as the same detail of the reference, the bicubic baseline and the entry.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from . import files
from .leaderboard import label
from .results import BASELINE, SweepResult, SweepRow

CHART_WIDTH, BAR_HEIGHT, LABEL_WIDTH = 560, 22, 200
CHARTS = (  # column, title, digits, lower is better
    ("psnr_y", "PSNR-Y (dB), higher is better", 2, False),
    ("ssim_y", "SSIM-Y, higher is better", 4, False),
    ("niqe", "NIQE, lower is more natural", 2, True),
    ("latency_s", "Latency per call (s), lower is better", 3, True),
    ("cost_usd_mean", "Cost per image (USD), lower is better", 4, True),
)
TABLE_COLUMNS = (  # column, heading, digits
    ("images", "images", 0), ("failures", "failed", 0), ("psnr_y", "PSNR-Y dB", 2), ("ssim_y", "SSIM-Y", 4),
    ("niqe", "NIQE", 2), ("lr_psnr", "LR PSNR dB", 2), ("sharpness", "sharpness", 1), ("latency_s", "latency s", 3),
    ("cost_usd_mean", "cost / image $", 4), ("cost_usd_total", "cost total $", 4),
)

READING = (
    "PSNR-Y and SSIM-Y compare each output with the original reference on the luma (Y) channel, with a border "
    "as wide as the scale left out: the protocol of the super-resolution literature, so with the bicubic "
    "degradation the figures can be set beside published tables. LR PSNR shrinks the output back and compares "
    "it with the input it was given: how faithful it is to what it saw. NIQE is a no-reference score of how "
    "natural the output looks (lower is better), from a model the project fitted on public-domain photos; it "
    "ranks outputs against each other but is not the published NIQE scale, and on images under about 300 px "
    "it is noisy. Intervals are 95 % Student-t intervals of the mean over the images."
)
GAN_NOTE = (
    "GAN-trained models such as Real-ESRGAN and Real-CUGAN usually score lower PSNR-Y and SSIM-Y than bicubic "
    "or PSNR-oriented models such as waifu2x. That is expected, not a defect: they are trained to synthesise "
    "plausible texture, and any invented detail that is not exactly where the reference has it counts as pixel "
    "error, while a blurry average of the possible answers scores better on PSNR than one sharp guess. For "
    "them the perceptual score (NIQE here) and the crops below are the fairer view."
)
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:24px}h2{margin-top:36px;border-bottom:1px solid #ccc}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left;background:#f4f4f4}
.charts{display:flex;flex-wrap:wrap;gap:12px 28px}.note{background:#f7f7ef;padding:8px 12px;border-left:3px solid #cc9}
figure{display:inline-block;margin:4px 10px 10px 0;vertical-align:top}figcaption{font-size:12px;color:#555}
figure img{width:256px;height:256px;image-rendering:pixelated;border:1px solid #ccc;display:block}
.gallery{margin:6px 0 18px}.failed{color:#a33}
"""


def write_report(result: SweepResult, out_dir: str | Path) -> Path:
    """Write ``report.html`` into ``out_dir`` (reading the crops the sweep saved there); return its path."""
    folder = Path(out_dir)
    path = folder / files.REPORT
    files.write_atomically(path, render(result, folder))
    return path


def render(result: SweepResult, out_dir: Path | None) -> str:
    """The report's HTML; without ``out_dir`` (or a crop missing there) the galleries say so."""
    lines = result.leaderboard()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>QA sweep</title><style>{STYLE}</style></head><body>",
        "<h1>Provider QA sweep</h1>",
        _summary(result),
        f"<p>{_e(READING)}</p><p class='note'>{_e(GAN_NOTE)}</p>",
    ]
    for degradation, scale in dict.fromkeys((line["degradation"], line["scale"]) for line in lines):
        group = [line for line in lines if line["degradation"] == degradation and line["scale"] == scale]
        rows = [row for row in result.rows if row.degradation == degradation and row.scale == scale]
        parts += [f"<h2>{scale}x, {_e(degradation)} degradation</h2>", _table(group),
                  "<div class='charts'>" + "".join(_chart(group, *chart) for chart in CHARTS) + "</div>",
                  _galleries(rows, out_dir)]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary(result: SweepResult) -> str:
    scales = ", ".join(f"{scale}x" for scale in result.scales)
    text = (f"{len(result.references)} reference images, {_e(result.degradation)} degradation, scales {scales}; "
            f"{len(result.rows)} calls, {result.failures} failed")
    text += f", {result.reused} reused from a previous run" if result.reused else ""
    problems = "".join(f"<li>{_e(problem)}</li>" for problem in result.problems)
    failed = _failure_list(result.rows)
    return (f"<p>{text}.</p>" + (f"<p>Not used:</p><ul class='failed'>{problems}</ul>" if problems else "")
            + failed)


def _failure_list(rows: Sequence[SweepRow]) -> str:
    reasons: dict[tuple[str, str], int] = {}
    for row in rows:
        if not row.ok:
            key = (row.entry, f"{row.outcome}: {row.reason}")
            reasons[key] = reasons.get(key, 0) + 1
    if not reasons:
        return ""
    items = "".join(f"<li>{_e(entry)}: {_e(reason)} ({count}x)</li>"
                    for (entry, reason), count in reasons.items())
    return f"<p>Failed calls:</p><ul class='failed'>{items}</ul>"


def _table(lines: Sequence[dict[str, Any]]) -> str:
    head = "<tr><th>provider / model</th>" + "".join(f"<th>{_e(title)}</th>" for _, title, _ in TABLE_COLUMNS)
    body = []
    for line in lines:
        cells = "".join(f"<td class='n'>{_cell(line, name, digits)}</td>" for name, _, digits in TABLE_COLUMNS)
        body.append(f"<tr><td>{_e(label(line))}</td>{cells}</tr>")
    return f"<table>{head}</tr>{''.join(body)}</table>"


def _cell(line: dict[str, Any], name: str, digits: int) -> str:
    value = line[name]
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    high = line.get(f"{name}_high")
    return text + (f" ±{high - value:.{digits}f}" if high is not None else "")


def _chart(lines: Sequence[dict[str, Any]], name: str, title: str, digits: int, lower_better: bool) -> str:
    """A horizontal bar chart as inline SVG; PSNR and SSIM bars start near the lowest value, the rest at 0."""
    values = [line[name] for line in lines if line[name] is not None]
    if not values:
        return ""
    highs = [line.get(f"{name}_high") or line[name] for line in lines if line[name] is not None]
    lows = [line.get(f"{name}_low") or line[name] for line in lines if line[name] is not None]
    top = max(highs + values) or 1.0
    floor = 0.0 if lower_better else max(0.0, min(lows) - 0.1 * (top - min(lows)))
    span = (top - floor) or 1.0
    room = CHART_WIDTH - LABEL_WIDTH - 70  # the value's column is at the right

    def x_of(value: float) -> float:
        return LABEL_WIDTH + max(0.0, (value - floor) / span * room)

    height = BAR_HEIGHT * len(lines) + 28
    parts = [f"<svg width='{CHART_WIDTH}' height='{height}' role='img' aria-label='{_e(title)}'>",
             f"<text x='0' y='14' font-size='13' font-weight='600'>{_e(title)}</text>"]
    for i, line in enumerate(lines):
        parts += _bar(line, name, digits, x_of, 24 + i * BAR_HEIGHT)
    parts.append("</svg>")
    return "".join(parts)


def _bar(line: dict[str, Any], name: str, digits: int, x_of: Callable[[float], float], y: int) -> list[str]:
    """One entry's label, bar, interval whisker and value."""
    text_y = y + 15
    parts = [f"<text x='{LABEL_WIDTH - 6}' y='{text_y}' font-size='12' text-anchor='end'>{_e(label(line))}</text>"]
    value = line[name]
    if value is None:
        return parts + [f"<text x='{LABEL_WIDTH}' y='{text_y}' font-size='12' fill='#a33'>no image</text>"]
    colour = "#8a8a8a" if line["provider"] == BASELINE else "#4a78b0"
    width = max(1.0, x_of(value) - LABEL_WIDTH)
    parts.append(f"<rect x='{LABEL_WIDTH}' y='{y + 3}' width='{width:.1f}' height='{BAR_HEIGHT - 6}' "
                 f"fill='{colour}'/>")
    low, high = line.get(f"{name}_low"), line.get(f"{name}_high")
    if low is not None and high is not None:
        middle = y + BAR_HEIGHT / 2
        parts.append(f"<line x1='{x_of(low):.1f}' x2='{x_of(high):.1f}' y1='{middle}' y2='{middle}' "
                     "stroke='#222' stroke-width='1.2'/>")
    parts.append(f"<text x='{CHART_WIDTH - 4}' y='{text_y}' font-size='11' text-anchor='end'>{value:.{digits}f}</text>")
    return parts


@dataclass(frozen=True)
class GalleryPick:
    """One image of an entry's gallery: where it gained least (or most) PSNR-Y over the bicubic baseline."""

    title: str  # "least gain", "most gain", or "only image"
    row: SweepRow
    bicubic: SweepRow

    @property
    def gain(self) -> float:
        return self.row.psnr_y - self.bicubic.psnr_y


def gallery_picks(rows: Sequence[SweepRow]) -> list[tuple[str, list[GalleryPick]]]:
    """For each entry but the baseline (rows of one scale and degradation): its label and the images where it
    gained least and most over bicubic; entries with no scored image are left out."""
    baseline = {row.image: row for row in rows if row.entry == BASELINE and row.ok}
    picked = []
    for entry in dict.fromkeys(row.entry for row in rows if row.entry != BASELINE):
        scored = [row for row in rows if row.entry == entry and row.ok and row.image in baseline
                  and row.psnr_y is not None and baseline[row.image].psnr_y is not None]
        if not scored:
            continue
        ranked = sorted(scored, key=lambda row: row.psnr_y - baseline[row.image].psnr_y)
        ends = [("least gain", ranked[0]), ("most gain", ranked[-1])] if len(ranked) > 1 else [("only image",
                                                                                              ranked[0])]
        picked.append((scored[0].label, [GalleryPick(title, row, baseline[row.image]) for title, row in ends]))
    return picked


def _galleries(rows: Sequence[SweepRow], out_dir: Path | None) -> str:
    parts = []
    for label_text, picks in gallery_picks(rows):
        parts.append(f"<h3>{_e(label_text)}: the images where it gained least and most over bicubic</h3>")
        parts += [_gallery(pick, out_dir) for pick in picks]
    return "".join(parts)


def _gallery(pick: GalleryPick, out_dir: Path | None) -> str:
    row, bicubic = pick.row, pick.bicubic
    figures = [
        _figure(out_dir, row, "reference", "reference"),
        _figure(out_dir, row, BASELINE, f"bicubic: {scores_text(bicubic)}"),
        _figure(out_dir, row, row.entry, f"{row.label}: {scores_text(row)}"),
    ]
    return (f"<div class='gallery'><p>{_e(pick.title)} ({pick.gain:+.2f} dB): {_e(Path(row.image).name)}"
            f" <small>({_e(row.image)})</small></p>{''.join(figures)}</div>")


def _figure(out_dir: Path | None, row: SweepRow, name: str, caption: str) -> str:
    path = files.crop_path(out_dir, row.image, row.scale, name) if out_dir is not None else None
    if path is None or not path.is_file():
        return f"<figure><figcaption>{_e(caption)} (crop not available)</figcaption></figure>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{_e(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def scores_text(row: SweepRow) -> str:
    """"31.20 dB, SSIM 0.9012, NIQE 5.43": a row's figures, as captions show them."""
    parts = [f"{row.psnr_y:.2f} dB" if row.psnr_y is not None and math.isfinite(row.psnr_y) else "inf dB"]
    parts.append(f"SSIM {row.ssim_y:.4f}" if row.ssim_y is not None else "")
    parts.append(f"NIQE {row.niqe:.2f}" if row.niqe is not None else "")
    return ", ".join(part for part in parts if part)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
