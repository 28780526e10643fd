"""The QA page's decisions: which entries (provider or provider:model) to compare, one comparison run, its
table, charts and synchronized 1:1 crops; a sweep over an uploaded set of references (bounded as the Batch
page's uploads), its progress per entry, leaderboard, charts, galleries and downloads; past sweeps from the
history, two of them side by side, and each provider's quality over time."""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image

from .. import qa as qa_lib
from ..batch.uploads import BatchInput
from ..engine import Engine
from ..errors import HistoryError
from ..sweep import files as sweep_files
from ..sweep import leaderboard as sweep_leaderboard
from ..sweep import report as sweep_report
from ..sweep import results as sweep_results
from ..text import csv_table, one_line, shortened
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


SWEEP_SCALES = (2, 3, 4)
SWEEP_DEFAULT_SCALES = [2]  # one scale by default: a 4x sweep on the app's CPU takes about three times longer
SWEEP_DEGRADATIONS = {"bicubic": "Bicubic (the literature's protocol)",
                      "realistic": "Realistic (blur, noise, JPEG, twice)"}  # fmt: skip
PAST_SWEEPS_LISTED = 200
SWEEP_CHARTS = {"PSNR-Y (dB)": "psnr_y", "SSIM-Y": "ssim_y", "NIQE": "niqe", "Latency (s)": "latency_s"}
TREND_FIGURES = {"PSNR-Y (dB)": "psnr_y", "SSIM-Y": "ssim_y", "NIQE": "niqe"}


def sweep_entries(chosen: Sequence[str]) -> list[str]:
    """The entries a sweep runs, in its order: the bicubic baseline first, then the chosen ones, each once."""
    return list(dict.fromkeys([sweep_results.BASELINE, *chosen]))


@dataclass(frozen=True)
class SweepUpdate:
    """What one finished row changes: the sweep's bar, and its entry's bar."""

    overall: tuple[float, str]
    entry: str
    bar: tuple[float, str]


class SweepTracker:
    """The sweep's progress callback: counts rows per entry (every entry does ``per_entry`` rows: references x
    scales) and hands ``render`` the two bars to redraw. The sweep calls it on the page's thread; when
    ``render`` raises (Streamlit's stop or rerun), the sweep stops there, its finished rows kept."""

    def __init__(self, entries: Sequence[str], per_entry: int, render: Callable[[SweepUpdate], None]):
        self.entries = list(entries)
        self.per_entry = max(1, per_entry)
        self.render = render
        self.done = dict.fromkeys(self.entries, 0)
        self.failed = dict.fromkeys(self.entries, 0)

    def bar(self, entry: str) -> tuple[float, str]:
        failed = f", {self.failed[entry]} failed" if self.failed[entry] else ""
        return (min(1.0, self.done[entry] / self.per_entry),
                f"{sweep_entry_label(entry)}: {self.done[entry]} of {self.per_entry}{failed}")  # fmt: skip

    def __call__(self, event: Any) -> None:  # a sweep.SweepProgress
        entry = event.row.entry
        self.done[entry] = self.done.get(entry, 0) + 1
        self.failed[entry] = self.failed.get(entry, 0) + (not event.row.ok)
        overall = (event.done / event.total if event.total else 1.0, f"{event.done} of {event.total} calls done")
        self.render(SweepUpdate(overall, entry, self.bar(entry) if entry in self.entries else (1.0, entry)))


def sweep_entry_label(entry: str) -> str:
    """As ``qa_entry_label``, but in a sweep the baseline is bicubic (MATLAB's, as published tables use) and
    Lanczos is one more entry."""
    if entry == sweep_results.BASELINE:
        return "Bicubic (baseline)"
    return short_label(entry) if entry == qa_lib.BASELINE else qa_entry_label(entry)


@dataclass
class SweepOutcome:
    """A sweep run from the page: its result (references named as uploaded), problems, and where it was stored.

    The crops stay in a private temporary folder (``work``) for the galleries and the report until this outcome
    is dropped (the session's next sweep, or the session's end)."""

    result: Any = None  # sweep.SweepResult
    error: str = ""
    problems: list[str] = field(default_factory=list)
    name: str = ""
    stored: str = ""  # "stored in the history as sweep 3", or why it was not
    work: tempfile.TemporaryDirectory | None = None

    @property
    def out_dir(self) -> Path | None:
        return Path(self.work.name, "out") if self.work is not None else None

    def results_csv(self) -> str:
        return csv_table(self.result.to_records(), sweep_results.COLUMNS)

    def leaderboard_csv(self) -> str:
        return csv_table(self.result.leaderboard(), sweep_leaderboard.LEADERBOARD_COLUMNS)

    def report_html(self) -> str:
        return sweep_report.render(self.result, self.out_dir)


def run_sweep_upload(engine: Engine, inputs: Sequence[BatchInput], entries: Sequence[str], scales: Sequence[int],
                     degradation: str, *, progress: Callable[[Any], None] | None = None, store: Any = None,
                     name: str = "") -> SweepOutcome:  # fmt: skip  # the sweep form's fields, one for one
    """``sweep.run_sweep`` over uploaded references: never raises for the user's input (nothing chosen, no
    usable reference: ``error``; an unusable image: one of ``problems``). With ``store``, the sweep is kept in
    the history; a history that cannot be written is a note in ``stored``, never a lost sweep."""
    from ..sweep.run import run_sweep

    outcome = SweepOutcome(name=name)
    outcome.error = _sweep_form_problem(inputs, entries, scales)
    if outcome.error:
        return outcome
    work = tempfile.TemporaryDirectory(prefix="hdcore-sweep-")
    inbox = Path(work.name, "in")
    try:
        paths = _written(inputs, inbox)
        started = time.monotonic()
        result = run_sweep([str(path) for path in paths], list(entries), list(scales), degradation,
                           out_dir=Path(work.name, "out"), engine=engine, progress=progress)  # fmt: skip
    except Exception as error:  # the sweep's settings, or a bug: one line; Streamlit's stop is no Exception
        work.cleanup()
        outcome.error = redact(_unfoldered(error_message(error, engine.config), inbox), engine.config)
        return outcome
    except BaseException:
        work.cleanup()
        raise
    outcome.result = _as_uploaded(result, inbox, Path(work.name, "out"), engine.config)
    outcome.problems = list(outcome.result.problems)
    if not outcome.result.rows:  # every reference was unusable: nothing to show or keep
        work.cleanup()
        outcome.result, outcome.problems = None, outcome.problems[1:]
        outcome.error = f"no reference could be swept: {result.problems[0] if result.problems else 'none given'}"
        outcome.error = redact(_unfoldered(outcome.error, inbox), engine.config)
        return outcome
    outcome.work = work
    if store is not None:
        outcome.stored = _stored(store, outcome.result, name, time.monotonic() - started)
    return outcome


def _sweep_form_problem(inputs: Sequence[BatchInput], entries: Sequence[str], scales: Sequence[int]) -> str:
    if not inputs:
        return "upload reference images, or a zip of them"
    if not entries:
        return "choose at least one provider"
    return "" if scales else "choose at least one scale"


def _written(inputs: Sequence[BatchInput], inbox: Path) -> list[Path]:
    paths = []
    for one in inputs:  # names are batch_inputs' safe, unique ones: no way out of the inbox
        path = inbox / one.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(one.data)
        paths.append(path)
    return paths


def _unfoldered(text: str, inbox: Path) -> str:
    """``text`` without the private folder: "/tmp/hdcore-sweep-x/in/a.png: ..." -> "a.png: ..."."""
    return text.replace(str(inbox) + "/", "").replace(str(inbox), "")


def _as_uploaded(result: Any, inbox: Path, out_dir: Path, config: Any) -> Any:
    """The result with each reference named as it was uploaded (its crops moved to match), reasons redacted."""
    names = {image: _unfoldered(image, inbox) for image in result.references}
    for image, name in names.items():
        crops = out_dir / sweep_files.CROPS / sweep_files.image_id(image)
        if crops.is_dir():
            os.replace(crops, out_dir / sweep_files.CROPS / sweep_files.image_id(name))
    rows = [dataclasses.replace(row, image=names.get(row.image, row.image),
                                reason=redact(_unfoldered(row.reason, inbox), config)) for row in result.rows]
    problems = [redact(_unfoldered(problem, inbox), config) for problem in result.problems]
    return dataclasses.replace(result, rows=rows, references=list(names.values()), problems=problems, out_dir=out_dir)


def _stored(store: Any, result: Any, name: str, duration_s: float) -> str:
    try:
        return f"stored in the history as sweep {store.record_sweep(result, name=name, duration_s=duration_s)}"
    except HistoryError as error:
        return f"not stored in the history: {one_line(str(error))}"


def sweep_name(uploads: Sequence[str]) -> str:
    """What a sweep from the page is called in the history: the uploaded names ("refs.zip, extra.png")."""
    return ", ".join(uploads)


def sweep_leaderboard_rows(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard as a table: one row per provider x model x scale, means with the 95 % half-width."""
    table = []
    for line in lines:
        high = line["psnr_y_high"]
        table.append({
            "Provider / model": sweep_leaderboard.label(line), "Scale": f"{line['scale']}×",
            "Images": line["images"], "Failed": line["failures"], "PSNR-Y (dB)": finite(line["psnr_y"], 2),
            "± (dB)": None if high is None else round(high - line["psnr_y"], 2),
            "SSIM-Y": finite(line["ssim_y"], 4), "NIQE": finite(line["niqe"], 2),
            "LR-PSNR (dB)": finite(line["lr_psnr"], 2), "Sharpness": finite(line["sharpness"], 1),
            "Latency (s)": finite(line["latency_s"], 3), "Cost (USD)": round(line["cost_usd_total"], 6),
        })  # fmt: skip
    return table


def sweep_chart_rows(lines: Sequence[dict[str, Any]], column: str, scale: int) -> list[dict[str, Any]]:
    """Bars for one figure (a key of SWEEP_CHARTS) at one scale: one per line with a value."""
    name = SWEEP_CHARTS[column]
    return [{"Provider / model": sweep_leaderboard.label(line), column: round(float(line[name]), 4)}
            for line in lines if line["scale"] == scale and line[name] is not None and math.isfinite(line[name])]


@dataclass(frozen=True)
class SweepGallery:
    """One image of an entry's gallery: the same detail of the reference, the bicubic baseline and the entry."""

    title: str
    panes: list[tuple[str, Image.Image]]


def sweep_gallery_choices(outcome: SweepOutcome) -> list[tuple[int, str]]:
    """(scale, entry) pairs that have a gallery, in the leaderboard's order."""
    rows = outcome.result.rows
    return [(scale, entry) for scale in outcome.result.scales
            for entry in dict.fromkeys(r.entry for r in rows
                                       if r.scale == scale and r.ok and r.entry != sweep_results.BASELINE)]


def sweep_gallery(outcome: SweepOutcome, scale: int, entry: str) -> list[SweepGallery]:
    """The images where ``entry`` gained least and most PSNR-Y over bicubic at ``scale``, as crop panes."""
    rows = [row for row in outcome.result.rows if row.scale == scale and row.entry in (entry, sweep_results.BASELINE)]
    galleries = []
    for _, picks in sweep_report.gallery_picks(rows):
        for pick in picks:
            named = [("reference", "reference"),
                     (sweep_results.BASELINE, f"bicubic: {sweep_report.scores_text(pick.bicubic)}"),
                     (entry, f"{pick.row.label}: {sweep_report.scores_text(pick.row)}")]  # fmt: skip
            panes = [(caption, image) for name, caption in named
                     if (image := _crop(outcome, pick.row.image, scale, name)) is not None]
            if panes:
                galleries.append(SweepGallery(f"{pick.title} ({pick.gain:+.2f} dB): {pick.row.image}", panes))
    return galleries


def _crop(outcome: SweepOutcome, image: str, scale: int, name: str) -> Image.Image | None:
    path = sweep_files.crop_path(outcome.out_dir, image, scale, name) if outcome.out_dir else None
    if path is None or not path.is_file():
        return None
    with Image.open(path) as crop:
        return crop.convert("RGB")


def past_sweeps(store: Any) -> tuple[list[Any], str]:
    """The stored sweeps newest first, and a warning when the history cannot be read (the page goes on)."""
    try:
        return store.sweeps(limit=PAST_SWEEPS_LISTED), ""
    except HistoryError as error:
        return [], f"Past sweeps cannot be read: {one_line(str(error))}"


def past_sweep_label(record: Any) -> str:
    """ "#3 · 2026-12-01 21:30 UTC · refs.zip · 2×, 4× · bicubic · 5 references"."""
    when = datetime.fromtimestamp(record.time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scales = ", ".join(f"{scale}×" for scale in record.scales)
    parts = [f"#{record.id}", when, record.name or "unnamed", scales, record.degradation,
             f"{record.reference_count} reference{'s' if record.reference_count != 1 else ''}"]  # fmt: skip
    return " · ".join(shortened(part, 60) for part in parts)


def past_sweep_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"Sweep": f"#{r.id}", "When (UTC)": datetime.fromtimestamp(r.time, tz=timezone.utc).replace(tzinfo=None),
             "Swept": r.name, "Entries": ", ".join(r.entries), "Scales": ", ".join(f"{s}×" for s in r.scales),
             "Degradation": r.degradation, "References": r.reference_count, "Calls": r.row_count,
             "Failed": r.failures, "Cost (USD)": round(r.cost_usd, 6)} for r in records]  # fmt: skip


def sweep_comparison_rows(store: Any, first: int, second: int) -> tuple[list[dict[str, Any]], str]:
    """``leaderboard.compare`` of two stored sweeps as a table (B minus A, over the images both scored), or
    a one-line reason it cannot be shown."""
    try:
        a, b = store.sweep(first), store.sweep(second)
    except HistoryError as error:
        return [], f"cannot read the sweeps: {one_line(str(error))}"
    if a is None or b is None:
        return [], "that sweep is no longer in the history"
    table = []
    for line in sweep_leaderboard.compare(a[1], b[1]):
        table.append({
            "Provider / model": sweep_leaderboard.label(line), "Scale": f"{line['scale']}×",
            "Degradation": line["degradation"], "Images in both": line["images"],
            "PSNR-Y A": finite(line["psnr_y_a"], 2), "PSNR-Y B": finite(line["psnr_y_b"], 2),
            "Δ PSNR-Y (dB)": finite(line["psnr_y_delta"], 3), "Δ SSIM-Y": finite(line["ssim_y_delta"], 4),
            "Δ NIQE": finite(line["niqe_delta"], 3), "Δ latency (s)": finite(line["latency_s_delta"], 3),
            "Failed A": line["failures_a"], "Failed B": line["failures_b"],
        })  # fmt: skip
    return table, ""


def trend_choices(points: Sequence[Any]) -> tuple[list[int], list[str]]:
    """The scales and degradations the stored sweeps cover: a provider's quality is only comparable within one."""
    return sorted({p.scale for p in points}), sorted({p.degradation for p in points})


def trend_rows(points: Sequence[Any], column: str, scale: int, degradation: str) -> list[dict[str, Any]]:
    """One point per sweep and provider x model with a value of ``column`` (a key of TREND_FIGURES): a line each."""
    name = TREND_FIGURES[column]
    rows = []
    for point in points:
        value = getattr(point, name)
        if point.scale == scale and point.degradation == degradation and value is not None:
            model = point.model if point.model not in ("", point.provider, "matlab-imresize") else ""
            rows.append({"Date": datetime.fromtimestamp(point.time, tz=timezone.utc).replace(tzinfo=None),
                         "Provider / model": f"{point.provider}/{model}" if model else point.provider,
                         column: round(float(value), 4)})  # fmt: skip
    return rows


def trend_chart(column: str) -> dict[str, Any]:
    """The Vega-Lite spec of the quality-over-time lines: a point per sweep, the axis fitted to the values (from
    zero, a 0.3 dB change would be a flat line)."""
    return {
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "Date", "type": "temporal", "title": "Sweep date (UTC)"},
            "y": {"field": column, "type": "quantitative", "scale": {"zero": False}},
            "color": {"field": "Provider / model", "type": "nominal"},
            "tooltip": [{"field": "Provider / model"}, {"field": "Date", "type": "temporal"}, {"field": column}],
        },
    }


def past_trend(store: Any) -> tuple[list[Any], str]:
    """Every stored provider x model's means by sweep date, and a warning when the history cannot be read."""
    try:
        return store.sweep_trend(), ""
    except HistoryError as error:
        return [], f"The quality over time cannot be read: {one_line(str(error))}"
