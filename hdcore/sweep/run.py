"""The sweep: every reference degraded, upscaled by every entry at every scale, and scored against itself.

For each reference image (files, folders and globs as ``upscale`` takes them; only regular files up to
``MAX_REFERENCE_BYTES`` and the engine's pixel limit), at each scale: the image is cut to a multiple of the
scale (``modcrop``) and turned into 8 bits, degraded (``degrade``), upscaled by the bicubic baseline and by
each entry ("provider" or "provider:model") through ``Engine.enhance``, one call at a time (so latencies are
not inflated by each other), and each output scored (``scores``). A failing entry is a row with its outcome
and reason, never a missing one. Cost and latency are the winning attempt's.

With an ``out_dir``, the results are rewritten there as rows complete (``WRITE_SHARE``), and one detail of
every output is saved (``files.crop_path``) for the report's galleries. With ``resume``, the successful rows
of a previous run in ``out_dir`` for the same image, entry, scale and degradation are kept instead of
recomputed; failed ones are tried again (a timeout or a missing token may have gone away). Rows for images,
entries or scales not asked for this time are left out of the new results.

Who sweeps each reference is a ``SweepRunner``: ``InProcess`` (one engine, one reference after another), or
``hdcore.distributed.RaySweep`` (a pool of workers on a Ray cluster). Either hands rows and crops to the
sweep on the caller's thread, which writes them as they come; the result lists the rows in reference, scale,
entry order whatever order they were made in.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np
from PIL import Image

from .. import images, metrics
from ..batch import expand_inputs
from ..engine import SCALES, Engine
from ..errors import AllTiersFailed, HDCoreError, InvalidInput
from ..qa import parse_entry
from . import files
from .degrade import DEGRADATIONS, bicubic_upscale, degrade, modcrop
from .imresize import to_uint8
from .results import BASELINE, BASELINE_MODEL, Key, SweepResult, SweepRow
from .scores import score

MAX_REFERENCE_BYTES = 256 << 20  # a 16 MP 16-bit PNG is ~100 MB; anything larger is not a reference image
MIN_LOW_RES_SIDE = 8  # smaller low-resolution inputs leave nothing to measure inside the cropped border
CROP_SIDE = 128  # the galleries' detail, in reference pixels
# The results are rewritten after a row unless that would spend more than this share of the time writing them:
# 2,000 rows take ~60 ms to write, so a long sweep rewrites at most every ~1.2 s and a short one after every row.
WRITE_SHARE = 0.05


@dataclass(frozen=True)
class SweepProgress:
    """Told after every row: ``done`` of ``total`` rows, this one, and whether it came from a previous run."""

    done: int
    total: int
    row: SweepRow
    reused: bool


Progress = Callable[[SweepProgress], None]


@dataclass(frozen=True)
class SweepPlan:
    """One sweep's settings, checked once, threaded through instead of six arguments."""

    entries: tuple[str, ...]
    scales: tuple[int, ...]
    degradation: str
    seed: int
    out_dir: Path | None

    @property
    def label(self) -> str:
        """The degradation as rows name it: "bicubic", or "realistic:<seed>" (another seed, other inputs)."""
        return self.degradation if self.degradation == "bicubic" else f"{self.degradation}:{self.seed}"

    @property
    def keeps_crops(self) -> bool:
        """Crops are only worth making when there is a folder to keep them in."""
        return self.out_dir is not None

    def keys(self, image: str) -> list[Key]:
        """Every row one reference gets, in the order the sweep makes them."""
        return [(image, entry, scale, self.label) for scale in self.scales for entry in self.entries]

    @classmethod
    def checked(cls, entries: Sequence[str], scales: Sequence[int], degradation: str, seed: int,
                out_dir: str | Path | None) -> SweepPlan:
        named = [entry.strip() for entry in entries if entry.strip()]
        if not named:
            raise InvalidInput("no entry to sweep: name at least one provider or provider:model")
        if not scales or any(scale not in SCALES for scale in scales):
            raise InvalidInput(f"scales must be among {', '.join(map(str, SCALES))}, not {list(scales)}")
        if degradation not in DEGRADATIONS:
            raise InvalidInput(f"unknown degradation {degradation!r}: choose {' or '.join(DEGRADATIONS)}")
        ordered = tuple(dict.fromkeys([BASELINE] + named))
        return cls(ordered, tuple(dict.fromkeys(scales)), degradation, seed, Path(out_dir) if out_dir else None)


@dataclass(frozen=True)
class ReferenceJob:
    """One reference to sweep at every scale, with the rows a previous run already has for it (resume)."""

    path: Path
    kept: Mapping[Key, SweepRow]

    def fully_kept(self, plan: SweepPlan) -> bool:
        return all(key in self.kept for key in plan.keys(str(self.path)))


class SweepSink(Protocol):
    """Where a reference's rows and crops go as they are made: the sweep itself, or a worker's collection."""

    def row(self, row: SweepRow, reused: bool) -> None: ...

    def crop(self, image: str, scale: int, name: str, png: bytes) -> None: ...


class SweepRunner(Protocol):
    """Sweeps the jobs into ``sink``, and returns a line for each reference (or scale of one) it could not use:
    here, one reference at a time (``InProcess``), or on a cluster (``hdcore.distributed``)."""

    def run(self, plan: SweepPlan, jobs: Sequence[ReferenceJob], sink: SweepSink) -> list[str]: ...


class InProcess:
    """The references one after another through one engine, one call at a time (latencies not inflated)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def run(self, plan: SweepPlan, jobs: Sequence[ReferenceJob], sink: SweepSink) -> list[str]:
        return [problem for job in jobs for problem in sweep_reference(self.engine, plan, job, sink)]


def run_sweep(
    references: Sequence[str | Path],
    entries: Sequence[str],
    scales: Sequence[int] = (2, 4),
    degradation: str = "bicubic",
    limit: int | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    engine: Engine | None = None,
    progress: Progress | None = None,
    *,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    runner: SweepRunner | None = None,
) -> SweepResult:
    """Sweep ``references`` x ``entries`` x ``scales`` (see the module docstring); the bicubic baseline is added.

    The arguments are the command line's options one for one, hence their number. ``limit``: at most this
    many references. ``seed``: the realistic degradation's; ``clock`` times the results' rewrites; ``runner``:
    who sweeps each reference (default: ``engine``, in this process). Raises InvalidInput for unusable
    settings, no reference at all, or a results file that cannot be resumed from; a reference that cannot be
    used is one of the result's ``problems``. Rows come back in reference, scale, entry order however they ran.
    """
    plan = SweepPlan.checked(entries, scales, degradation, seed, out_dir)
    paths, problems = find_references(references, limit)
    if not paths:
        raise InvalidInput("no reference image to sweep" + (f": {problems[0]}" if problems else ""))
    if plan.out_dir is not None:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    previous = {row.key: row for row in files.read_results(plan.out_dir)} if resume and plan.out_dir else {}
    jobs = [ReferenceJob(path, _kept(plan, path, previous)) for path in paths]
    sweep = _Sweep(plan, len(paths) * len(plan.scales) * len(plan.entries), progress, clock)
    runner = runner if runner is not None else InProcess(engine or Engine())
    try:
        problems += runner.run(plan, jobs, sweep)
    finally:
        sweep.save()
    return SweepResult(_in_order(sweep.rows, plan, paths), plan.entries, plan.scales, plan.label,
                       [str(p) for p in paths], problems, sweep.reused, plan.out_dir)


def _kept(plan: SweepPlan, path: Path, previous: Mapping[Key, SweepRow]) -> dict[Key, SweepRow]:
    """The successful rows of a previous run for this reference (failed ones are tried again)."""
    return {key: row for key in plan.keys(str(path)) if (row := previous.get(key)) is not None and row.ok}


def _in_order(rows: Sequence[SweepRow], plan: SweepPlan, paths: Sequence[Path]) -> list[SweepRow]:
    images = {str(path): index for index, path in enumerate(paths)}
    scales = {scale: index for index, scale in enumerate(plan.scales)}
    entries = {entry: index for index, entry in enumerate(plan.entries)}
    return sorted(rows, key=lambda row: (images[row.image], scales[row.scale], entries[row.entry]))


def find_references(patterns: Sequence[str | Path], limit: int | None = None) -> tuple[list[Path], list[str]]:
    """The reference files behind ``patterns`` (at most ``limit``), and a line for each that cannot be used."""
    found, problems = expand_inputs([str(pattern) for pattern in patterns])
    paths: list[Path] = []
    for entry in found:
        problem = _file_problem(entry.path)
        if problem:
            problems.append(f"{entry.path}: {problem}")
        elif limit is None or len(paths) < limit:
            paths.append(entry.path)
    return paths, problems


def _file_problem(path: Path) -> str:
    try:
        if not path.exists():
            return "file not found"
        if not path.is_file():  # a folder matched by name, a device, a pipe: reading it could block or never end
            return "not a regular file"
        size = path.stat().st_size
    except OSError as error:
        return f"cannot read it: {error.strerror or error}"
    if size > MAX_REFERENCE_BYTES:
        return f"larger than {MAX_REFERENCE_BYTES >> 20} MiB"
    return ""


def load_reference(path: Path, max_pixels: int) -> np.ndarray:
    """The reference as 8-bit RGB (16-bit references rounded to 8 bits, alpha dropped, gray made RGB)."""
    source = images.load_image(path, max_pixels=max_pixels)
    return to_uint8(source.color.astype(np.float64) * 255.0)


@dataclass(frozen=True)
class Case:
    """One reference at one scale: what every entry is given and scored against."""

    image: str  # the reference's name in the rows
    scale: int
    degradation: str  # as rows name it (``SweepPlan.label``)
    truth: np.ndarray  # the 8-bit reference, cut to a multiple of the scale
    low_res: np.ndarray  # the 8-bit degraded input, 1/scale of it


def sweep_reference(engine: Engine, plan: SweepPlan, job: ReferenceJob, sink: SweepSink) -> list[str]:
    """Sweep one reference at every scale into ``sink``; a line for each scale it could not be used at.

    Rows a previous run already has are handed on as reused, in their place; a reference whose rows are all
    there is not even read.
    """
    name = str(job.path)
    if job.fully_kept(plan):
        replay_kept(plan, job, sink)
        return []
    try:
        reference = load_reference(job.path, engine.config.max_input_pixels)
    except InvalidInput as error:
        return [f"{name}: {error}"]
    problems = []
    for scale in plan.scales:
        keys = [(name, entry, scale, plan.label) for entry in plan.entries]
        if all(key in job.kept for key in keys):  # nothing to compute: not even the degradation
            for key in keys:
                sink.row(job.kept[key], reused=True)
        elif min(reference.shape[:2]) < scale * MIN_LOW_RES_SIDE:
            problems.append(f"{name}: {reference.shape[1]}x{reference.shape[0]} is too small for {scale}x "
                            f"(at least {scale * MIN_LOW_RES_SIDE} px a side)")
        else:
            truth = modcrop(reference, scale)
            low_res = degrade(truth, scale, plan.degradation, plan.seed)
            _sweep_case(engine, plan, Case(name, scale, plan.label, truth, low_res), job.kept, sink)
    return problems


def replay_kept(plan: SweepPlan, job: ReferenceJob, sink: SweepSink) -> None:
    """Hand on the rows of a reference that a previous run already has in full, as reused."""
    for key in plan.keys(str(job.path)):
        sink.row(job.kept[key], reused=True)


def _sweep_case(engine: Engine, plan: SweepPlan, case: Case, kept: Mapping[Key, SweepRow], sink: SweepSink) -> None:
    box = detail_box(case.truth, CROP_SIDE)
    if plan.keeps_crops:
        sink.crop(case.image, case.scale, "reference", _png_of(case.truth, box))
    for entry in plan.entries:
        row = kept.get((case.image, entry, case.scale, case.degradation))
        if row is not None:
            sink.row(row, reused=True)
            continue
        row, output = run_entry(engine, entry, case)
        if output is not None and plan.keeps_crops:
            sink.crop(case.image, case.scale, entry, _png_of(output, box))
        sink.row(row, reused=False)


class _Sweep:
    """The rows so far, and where they go: the sink every runner hands its rows and crops to, on the caller's
    thread. One per ``run_sweep`` call."""

    def __init__(self, plan: SweepPlan, total: int, progress: Progress | None, clock: Callable[[], float]):
        self.plan, self.total, self.progress, self.clock = plan, total, progress, clock
        self.rows: list[SweepRow] = []
        self.reused = 0
        self.saved_at = -float("inf")
        self.save_cost = 0.0

    def row(self, row: SweepRow, reused: bool) -> None:
        self.rows.append(row)
        self.reused += reused
        if not reused and self.clock() - self.saved_at >= self.save_cost / WRITE_SHARE:
            self.save()
        if self.progress is not None:
            self.progress(SweepProgress(len(self.rows), self.total, row, reused))

    def crop(self, image: str, scale: int, name: str, png: bytes) -> None:
        if self.plan.out_dir is None:
            return
        path = files.crop_path(self.plan.out_dir, image, scale, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomically(path, png)

    def save(self) -> None:
        if self.plan.out_dir is not None:
            started = self.clock()
            files.write_results(self.plan.out_dir, self.rows)
            self.saved_at = self.clock()
            self.save_cost = self.saved_at - started


def run_entry(engine: Engine, entry: str, case: Case,
              clock: Callable[[], float] = time.perf_counter) -> tuple[SweepRow, np.ndarray | None]:
    """One entry's row for one case, and its 8-bit output (None when it failed)."""
    base = {"image": case.image, "entry": entry, "scale": case.scale, "degradation": case.degradation}
    if entry == BASELINE:
        started = clock()
        output = bicubic_upscale(case.low_res, case.scale)
        call = {"provider": BASELINE, "model": BASELINE_MODEL, "latency_s": clock() - started}
    else:
        provider, model = parse_entry(entry)
        try:
            result = engine.enhance(case.low_res, case.scale, provider, model)
        except AllTiersFailed as failure:
            return _failed_row(base, provider, model, failure.attempts), None
        except HDCoreError as error:  # an unknown provider, a model it does not serve, an image too large
            return SweepRow(**base, provider=provider, model=model, outcome="error", reason=str(error)), None
        winner = next(attempt for attempt in result.attempts if attempt.ok)
        output = to_uint8(images.as_float_rgb(result.image).astype(np.float64) * 255.0)
        call = {"provider": winner.provider, "model": winner.model, "latency_s": winner.latency_s,
                "cost_usd": winner.cost_usd, "cost_kind": winner.cost_kind}
    try:
        scores = score(output, case.truth, case.low_res, case.scale)
    except ValueError as error:  # an output of the wrong size: the engine checks, a scorer must not crash on it
        return SweepRow(**base, provider=call["provider"], model=call["model"], outcome="error",
                        reason=f"cannot score the output: {error}", latency_s=call["latency_s"]), None
    return SweepRow(**base, **call, outcome="ok", psnr_y=scores.psnr_y, ssim_y=scores.ssim_y,
                    lr_psnr=scores.lr_psnr, sharpness=scores.sharpness, niqe=scores.niqe), output


def _failed_row(base: dict[str, Any], provider: str, model: str | None, attempts: Iterable[Any]) -> SweepRow:
    tried = list(attempts)
    last = tried[-1] if tried else None
    return SweepRow(
        **base, provider=provider, model=(last.model if last and last.model else model),
        outcome=last.outcome if last else "error", reason=(last.reason if last else "") or "every tier failed",
        latency_s=sum(a.latency_s for a in tried), cost_usd=sum(a.cost_usd for a in tried),
        cost_kind=last.cost_kind if last and last.cost_usd else "none",
    )


def detail_box(image: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """The ``side`` x ``side`` box (left, top, right, bottom) with the most detail, among a 5x5 grid of them.

    Detail is the variance of the Laplacian: where upscalers differ most, as flat sky shows nothing.
    """
    height, width = image.shape[:2]
    side_x, side_y = min(side, width), min(side, height)
    best, best_box = -1.0, (0, 0, side_x, side_y)
    gray = image.astype(np.float32) / np.float32(255)
    for top in np.linspace(0, height - side_y, 5).round().astype(int):
        for left in np.linspace(0, width - side_x, 5).round().astype(int):
            detail = metrics.sharpness(gray[top : top + side_y, left : left + side_x])
            if detail > best:
                best, best_box = detail, (int(left), int(top), int(left) + side_x, int(top) + side_y)
    return best_box


def _png_of(image: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    """The detail ``box`` (left, top, right, bottom) of an 8-bit image, as PNG."""
    left, top, right, bottom = box
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right])).save(buffer, format="PNG")
    return buffer.getvalue()
