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
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

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
class _Plan:
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

    @classmethod
    def checked(cls, entries: Sequence[str], scales: Sequence[int], degradation: str, seed: int,
                out_dir: str | Path | None) -> _Plan:
        named = [entry.strip() for entry in entries if entry.strip()]
        if not named:
            raise InvalidInput("no entry to sweep: name at least one provider or provider:model")
        if not scales or any(scale not in SCALES for scale in scales):
            raise InvalidInput(f"scales must be among {', '.join(map(str, SCALES))}, not {list(scales)}")
        if degradation not in DEGRADATIONS:
            raise InvalidInput(f"unknown degradation {degradation!r}: choose {' or '.join(DEGRADATIONS)}")
        ordered = tuple(dict.fromkeys([BASELINE] + named))
        return cls(ordered, tuple(dict.fromkeys(scales)), degradation, seed, Path(out_dir) if out_dir else None)


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
) -> SweepResult:
    """Sweep ``references`` x ``entries`` x ``scales`` (see the module docstring); the bicubic baseline is added.

    The arguments are the command line's options one for one, hence their number. ``limit``: at most this
    many references. ``seed``: the realistic degradation's; ``clock`` times the results' rewrites. Raises
    InvalidInput for unusable settings, no reference at all, or a results file that cannot be resumed from; a
    reference that cannot be used is one of the result's ``problems``.
    """
    plan = _Plan.checked(entries, scales, degradation, seed, out_dir)
    engine = engine or Engine()
    paths, problems = find_references(references, limit)
    if not paths:
        raise InvalidInput("no reference image to sweep" + (f": {problems[0]}" if problems else ""))
    if plan.out_dir is not None:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    previous = {row.key: row for row in files.read_results(plan.out_dir)} if resume and plan.out_dir else {}
    sweep = _Sweep(plan, engine, previous, progress, clock)
    try:
        problems += sweep.run(paths)
    finally:
        sweep.save()
    return SweepResult(sweep.rows, plan.entries, plan.scales, plan.label, [str(p) for p in paths],
                       problems, sweep.reused, plan.out_dir)


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
    degradation: str  # as rows name it (``_Plan.label``)
    truth: np.ndarray  # the 8-bit reference, cut to a multiple of the scale
    low_res: np.ndarray  # the 8-bit degraded input, 1/scale of it


class _Sweep:
    """The rows so far, and where they go. One per ``run_sweep`` call."""

    def __init__(self, plan: _Plan, engine: Engine, previous: dict[Key, SweepRow], progress: Progress | None,
                 clock: Callable[[], float]):
        self.plan, self.engine, self.previous, self.progress, self.clock = plan, engine, previous, progress, clock
        self.total = 0
        self.rows: list[SweepRow] = []
        self.reused = 0
        self.saved_at = -float("inf")
        self.save_cost = 0.0

    def run(self, paths: Sequence[Path]) -> list[str]:
        """Sweep every reference; a line for each one (or scale of one) that could not be used."""
        self.total = len(paths) * len(self.plan.scales) * len(self.plan.entries)
        return [problem for path in paths for problem in self.image(path)]

    def image(self, path: Path) -> list[str]:
        """Sweep one reference at every scale; a line for each scale it could not be used at."""
        name = str(path)
        try:
            reference = load_reference(path, self.engine.config.max_input_pixels)
        except InvalidInput as error:
            return [f"{name}: {error}"]
        problems = []
        for scale in self.plan.scales:
            keys = [(name, entry, scale, self.plan.label) for entry in self.plan.entries]
            kept = {key: row for key in keys if (row := self.previous.get(key)) is not None and row.ok}
            if len(kept) == len(keys):  # nothing to compute: not even the degradation
                for key in keys:
                    self._add(kept[key], reused=True)
            elif min(reference.shape[:2]) < scale * MIN_LOW_RES_SIDE:
                problems.append(f"{name}: {reference.shape[1]}x{reference.shape[0]} is too small for {scale}x "
                                f"(at least {scale * MIN_LOW_RES_SIDE} px a side)")
            else:
                truth = modcrop(reference, scale)
                low_res = degrade(truth, scale, self.plan.degradation, self.plan.seed)
                self._case(Case(name, scale, self.plan.label, truth, low_res), kept)
        return problems

    def _case(self, case: Case, kept: dict[Key, SweepRow]) -> None:
        box = detail_box(case.truth, CROP_SIDE)
        self._save_crop(case, "reference", case.truth, box)
        for entry in self.plan.entries:
            row = kept.get((case.image, entry, case.scale, case.degradation))
            if row is not None:
                self._add(row, reused=True)
                continue
            row, output = run_entry(self.engine, entry, case)
            if output is not None:
                self._save_crop(case, entry, output, box)
            self._add(row, reused=False)

    def _add(self, row: SweepRow, reused: bool) -> None:
        self.rows.append(row)
        self.reused += reused
        if not reused and self.clock() - self.saved_at >= self.save_cost / WRITE_SHARE:
            self.save()
        if self.progress is not None:
            self.progress(SweepProgress(len(self.rows), self.total, row, reused))

    def save(self) -> None:
        if self.plan.out_dir is not None:
            started = self.clock()
            files.write_results(self.plan.out_dir, self.rows)
            self.saved_at = self.clock()
            self.save_cost = self.saved_at - started

    def _save_crop(self, case: Case, name: str, image: np.ndarray, box: tuple[int, int, int, int]) -> None:
        if self.plan.out_dir is None:
            return
        path = files.crop_path(self.plan.out_dir, case.image, case.scale, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        left, top, right, bottom = box
        files.write_atomically(path, _png(image[top:bottom, left:right]))


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


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()
