"""Batch upscaling: many inputs (files, folders, globs) through the tier chain, in parallel where that pays.

- **Inputs**: ``expand_inputs`` turns files, folders (their images; ``recursive`` for subfolders) and glob
  patterns into a list; ``plan_items`` gives each its output path (mirroring subfolders under an output
  folder) and leaves out files that are another input's output (a resumed run over the folder it writes to).
- **Resume**: an input whose output already exists is skipped, unless ``overwrite``. Outputs are written to a
  temporary name and renamed, so an interrupted run never leaves a half-written file that would be skipped.
- **Parallelism**: a pool of worker threads, one image each. Every remote tier (a provider that needs a key or
  an endpoint: hf, replicate, space) admits at most its limit of images at once (``DEFAULT_REMOTE_JOBS``, or
  ``jobs`` for all). The wait for a free place happens *before* the tier's call, so it never eats into the
  tier's deadline; the chain is therefore walked here, one tier at a time, with the engine running each tier.
  The local tier needs no limit here: its process-wide gate (HDCORE_LOCAL_JOBS) queues local work already.
- **Failures**: one failing image is recorded (with its exit code: 2 bad input, 3 every tier failed) and the
  others go on.
- **Reporting**: a ``BatchReporter`` hears about each image's start, tile progress and end, always on the
  thread that called ``run_batch`` (UI toolkits such as Streamlit accept calls only from there).
  ``TqdmReporter`` draws a bar for the batch and one per running image on stderr.
- **Download**: ``write_zip`` packs the outputs and ``attempts.csv`` (one row per tier tried per image).
"""

from __future__ import annotations

import csv
import glob
import io
import os
import queue
import sys
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable, Literal, Mapping, Protocol, Sequence

from . import images
from .attempts import Attempt
from .engine import Engine, EnhanceResult, ProgressEvent
from .errors import AllTiersFailed, HDCoreError, InvalidInput

EXIT_OK, EXIT_BAD_INPUT, EXIT_ALL_FAILED = 0, 2, 3

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif"})
# Images a remote tier may work on at once. Conservative: free Hugging Face inference rate-limits quickly,
# a Space runs one job at a time per replica, Replicate scales out.
DEFAULT_REMOTE_JOBS: dict[str, int] = {"hf": 2, "replicate": 4, "space": 1}
FALLBACK_REMOTE_JOBS = 2  # a remote tier not in the table
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
GLOB_CHARACTERS = frozenset("*?[")

Status = Literal["ok", "skipped", "failed"]


# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class FoundInput:
    """An input file, and the subfolder it sits in below the folder or glob that found it."""

    path: Path
    subfolder: Path = Path()
    explicit: bool = True  # named on its own, not found in a folder or by a glob


def expand_inputs(patterns: Sequence[str], recursive: bool = False) -> tuple[list[FoundInput], list[str]]:
    """The files behind ``patterns`` (files, folders, globs), in order, each once; and what matched nothing.

    A name that is neither an existing folder nor a glob is kept as it is, so that reading it reports the
    problem ("file not found") like any other bad input.
    """
    found: list[FoundInput] = []
    problems: list[str] = []
    for pattern in patterns:
        matches = _expand_one(pattern, recursive)
        if matches is None:
            problems.append(_nothing_found(pattern))
        else:
            found.extend(matches)
    return _unique(found), problems


def _expand_one(pattern: str, recursive: bool) -> list[FoundInput] | None:
    path = Path(pattern).expanduser()
    if path.is_dir():
        return _images_in_folder(path, recursive) or None
    if path.exists() or not _is_glob(pattern):
        return [FoundInput(path)]
    root = _glob_root(pattern)
    matches = [Path(match) for match in sorted(glob.glob(os.path.expanduser(pattern), recursive=recursive))]
    files = [FoundInput(m, _subfolder(m, root), explicit=False) for m in matches if m.is_file() and _is_image_name(m)]
    return files or None


def _images_in_folder(folder: Path, recursive: bool) -> list[FoundInput]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in candidates if p.is_file() and _is_image_name(p))
    return [FoundInput(p, _subfolder(p, folder), explicit=False) for p in files]


def _is_glob(pattern: str) -> bool:
    return any(character in GLOB_CHARACTERS for character in pattern)


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _glob_root(pattern: str) -> Path:
    """The folder a glob searches from: its leading parts without wildcards."""
    parts = Path(os.path.expanduser(pattern)).parts
    plain = []
    for part in parts[:-1]:
        if _is_glob(part):
            break
        plain.append(part)
    return Path(*plain) if plain else Path()


def _subfolder(path: Path, root: Path) -> Path:
    try:
        return path.parent.relative_to(root)
    except ValueError:
        return Path()


def _nothing_found(pattern: str) -> str:
    if Path(pattern).expanduser().is_dir():
        return f"no images in folder {pattern}"
    return f"no image file matches {pattern}"


def _unique(found: list[FoundInput]) -> list[FoundInput]:
    seen: set[Path] = set()
    unique = []
    for entry in found:
        key = entry.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


# ------------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class BatchItem:
    """One input and where its output goes."""

    index: int
    source: Path
    output: Path  # with the requested format's suffix; the written one may differ (RGBA asked as JPEG: PNG)
    archive_name: str  # its name inside the zip


def output_suffix(format: str) -> str:
    """The file suffix for an output format name ("png", "jpeg" or "jpg", "webp")."""
    name = str(format).strip().lower().lstrip(".")
    name = images.FORMAT_ALIASES.get(name, name)
    if name not in SUFFIXES:
        raise InvalidInput(f"unknown output format {format!r}: choose png, jpeg or webp")
    return SUFFIXES[name]


def plan_items(
    found: Sequence[FoundInput],
    scale: int,
    format: str = "png",
    out_dir: str | Path | None = None,
    output: str | Path | None = None,
) -> tuple[list[BatchItem], list[str]]:
    """Each input's output path: ``output`` (one input), else ``out_dir``/subfolder, else beside the input,
    named ``<stem>_x<scale><suffix>``. Returns the items and the problems (two inputs, one output)."""
    suffix = output_suffix(format)
    planned = [(entry, _planned_output(entry, scale, suffix, out_dir, output)) for entry in found]
    outputs = {path.resolve() for _, path in planned}
    # A file found in a folder that is another input's output is a previous run's result, not an input.
    planned = [(e, p) for e, p in planned if e.explicit or e.path.resolve() not in outputs]
    items: list[BatchItem] = []
    problems: list[str] = []
    claimed: dict[Path, Path] = {}
    for entry, path in planned:
        first = claimed.setdefault(path.resolve(), entry.path)
        if first != entry.path:
            problems.append(f"{entry.path}: its output {path} is also {first}'s; use another --out-dir")
            continue
        items.append(BatchItem(len(items), entry.path, path, _archive_name(entry, path, out_dir)))
    return items, problems


def _planned_output(entry: FoundInput, scale: int, suffix: str, out_dir: str | Path | None,
                    output: str | Path | None) -> Path:
    if output is not None:
        return Path(output)
    name = f"{entry.path.stem}_x{scale}{suffix}"
    if out_dir is not None:
        return Path(out_dir) / entry.subfolder / name
    return entry.path.parent / name


def _archive_name(entry: FoundInput, path: Path, out_dir: str | Path | None) -> str:
    return (entry.subfolder / path.name).as_posix() if out_dir is not None else path.name


def existing_output(item: BatchItem) -> Path | None:
    """The output a previous run wrote for ``item``, if any (PNG too: the encoder falls back to it)."""
    for candidate in (item.output, item.output.with_suffix(".png")):
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------------------------ run


@dataclass(frozen=True)
class BatchSettings:
    """How every image of a batch is upscaled and written."""

    scale: int = 4
    provider: str | Sequence[str] = "auto"
    model: str | None = None
    fallback: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    format: str = "png"
    quality: int | None = None
    overwrite: bool = False
    jobs: int | None = None  # images at once per remote tier; None: DEFAULT_REMOTE_JOBS


@dataclass
class ItemResult:
    """What happened to one input."""

    item: BatchItem
    status: Status
    exit_code: int
    output: Path | None = None  # written, or found already there when skipped
    error: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # the JSON Lines record (quality included)


class BatchReporter(Protocol):
    def started(self, item: BatchItem) -> None: ...

    def progress(self, item: BatchItem, event: ProgressEvent) -> None: ...

    def finished(self, result: ItemResult) -> None: ...


def run_batch(
    items: Sequence[BatchItem],
    engine: Engine,
    settings: BatchSettings,
    reporter: BatchReporter | None = None,
    cancel: threading.Event | None = None,
) -> list[ItemResult]:
    """Upscale every item; results in item order. Raises only for a mistake shared by all (unknown tier, model).

    Setting ``cancel`` stops the running tiers; the images not finished fail with "cancelled".
    """
    chain = engine.plan(settings.provider, settings.fallback)
    _check_model_is_served(engine, chain, settings.model)
    limits = remote_limits(engine, chain, settings.jobs)
    run = _Run(engine, chain, {name: threading.BoundedSemaphore(n) for name, n in limits.items()}, settings, cancel)
    workers = min(max(1, len(items)), pool_size(engine, chain, limits))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdcore-batch")
    try:
        futures = [pool.submit(run.process, item) for item in items]
        _deliver(run.events, futures, reporter)
    finally:  # on Ctrl-C, images not yet started are dropped instead of waited for
        pool.shutdown(wait=False, cancel_futures=True)
    return [future.result() for future in futures]


@dataclass
class _Run:
    """What every worker of one batch shares."""

    engine: Engine
    chain: Sequence[str]
    gates: Mapping[str, threading.Semaphore]
    settings: BatchSettings
    cancel: threading.Event | None
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # (kind, item, payload) to report

    def process(self, item: BatchItem) -> ItemResult:
        """One image, start to end; never raises (its failure is its result)."""
        self.events.put(("started", item, None))
        try:
            result = self._upscale_or_skip(item)
        except Exception as error:  # the last resort: a bug must not stop the other images
            result = _failed(item, EXIT_ALL_FAILED, f"unexpected {type(error).__name__}: {error}", [])
        self.events.put(("finished", item, result))
        return result

    def _upscale_or_skip(self, item: BatchItem) -> ItemResult:
        settings = self.settings
        if not settings.overwrite and (existing := existing_output(item)) is not None:
            return ItemResult(item, "skipped", EXIT_OK, existing, record=_skipped_record(item, existing))
        try:
            data = images.read_source_bytes(item.source)
            result = enhance_through_chain(self.engine, data, self.chain, self.gates, settings,
                                           lambda event: self.events.put(("progress", item, event)), self.cancel)
            encoded = result.encode(settings.format, settings.quality)
            written = _write(item.output, encoded)
        except AllTiersFailed as error:
            return _failed(item, EXIT_ALL_FAILED, str(error), error.attempts)
        except HDCoreError as error:
            return _failed(item, EXIT_BAD_INPUT, str(error), [])
        except OSError as error:
            return _failed(item, EXIT_BAD_INPUT, f"cannot write output: {error.strerror or error}", [])
        return _succeeded(item, written, result, list(encoded.warnings))


def remote_limits(engine: Engine, chain: Sequence[str], jobs: int | None) -> dict[str, int]:
    """Images at once for each remote tier of ``chain`` (the local tier and the Lanczos baseline have none)."""
    limits = {}
    for name in chain:
        if engine.provider(name).requires:
            limits[name] = jobs or DEFAULT_REMOTE_JOBS.get(name, FALLBACK_REMOTE_JOBS)
    return limits


def pool_size(engine: Engine, chain: Sequence[str], limits: Mapping[str, int]) -> int:
    """Workers worth having: as many as the busiest configured tier of the chain can take at once."""
    sizes = [1]
    for name in chain:
        provider = engine.provider(name)
        if not provider.is_configured():
            continue
        if name in limits:
            sizes.append(limits[name])
        elif name == "local":
            sizes.append(engine.config.local_jobs)
        else:  # CPU-bound in this process, such as the Lanczos baseline
            sizes.append(os.cpu_count() or 1)
    return max(sizes)


def _check_model_is_served(engine: Engine, chain: Sequence[str], model: str | None) -> None:
    if model is not None and not any(engine.provider(name).serves(model) for name in chain):
        raise InvalidInput(f"no tier in {', '.join(chain)} serves model {model!r}")


def _deliver(events: queue.SimpleQueue, futures: list[Future], reporter: BatchReporter | None) -> None:
    """Hand the workers' reports to ``reporter`` on this thread until every image is done."""
    done = 0
    while done < len(futures):
        try:
            kind, item, payload = events.get(timeout=0.1)
        except queue.Empty:
            continue
        done += kind == "finished"
        if reporter is not None:
            _report(reporter, kind, item, payload)


def _report(reporter: BatchReporter, kind: str, item: BatchItem, payload: Any) -> None:
    if kind == "started":
        reporter.started(item)
    elif kind == "progress":
        reporter.progress(item, payload)
    else:
        reporter.finished(payload)


def enhance_through_chain(
    engine: Engine,
    data: Any,
    chain: Sequence[str],
    gates: Mapping[str, threading.Semaphore],
    settings: BatchSettings,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> EnhanceResult:
    """``engine.enhance`` over ``chain``, one tier at a time, each remote tier entered through its gate.

    The same attempts, order and fallback as one ``engine.enhance(data, provider=chain)`` call, except that a
    tier's wait for a free place does not count against its deadline.
    """
    attempts: list[Attempt] = []
    for tier, name in enumerate(chain, start=1):
        provider = engine.provider(name)
        if not provider.is_configured():  # recorded as the engine would, without decoding the image again
            attempts.append(Attempt(tier, name, settings.model, "skipped", engine.describe(name)["status"]))
            continue
        model = settings.model if settings.model is not None and provider.serves(settings.model) else None
        with gates.get(name) or nullcontext():
            try:
                result = engine.enhance(data, settings.scale, name, model, progress=_as_tier(progress, tier),
                                        cancel=cancel, **settings.options)
            except AllTiersFailed as failure:
                attempts += _renumbered(failure.attempts, tier)
                continue
        result.attempts[:] = attempts + _renumbered(result.attempts, tier)
        return result
    raise AllTiersFailed(attempts)


def _as_tier(progress: Callable[[ProgressEvent], None] | None, tier: int) -> Callable[[ProgressEvent], None] | None:
    if progress is None:
        return None
    return lambda event: progress(replace(event, tier=tier))


def _renumbered(attempts: Sequence[Attempt], tier: int) -> list[Attempt]:
    return [replace(attempt, tier=tier) for attempt in attempts]


def _write(planned: Path, encoded: images.EncodedImage) -> Path:
    """Write beside the final name, then rename: a crash never leaves a partial file that resume would skip."""
    path = _with_written_suffix(planned, encoded.format)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(encoded.data)
    os.replace(partial, path)
    return path


def _with_written_suffix(planned: Path, written_format: str) -> Path:
    accepted = {".jpg", ".jpeg"} if written_format == "jpeg" else {SUFFIXES[written_format]}
    return planned if planned.suffix.lower() in accepted else planned.with_suffix(SUFFIXES[written_format])


def _succeeded(item: BatchItem, written: Path, result: EnhanceResult, encode_warnings: list[str]) -> ItemResult:
    record = {"input": str(item.source), "output": str(written), **result.to_dict(),
              "warnings": list(result.warnings) + encode_warnings}
    return ItemResult(item, "ok", EXIT_OK, written, attempts=list(result.attempts), record=record)


def _skipped_record(item: BatchItem, existing: Path) -> dict[str, Any]:
    return {"input": str(item.source), "output": str(existing), "success": True, "skipped": True}


def _failed(item: BatchItem, code: int, error: str, attempts: Sequence[Attempt]) -> ItemResult:
    record = {"input": str(item.source), "success": False, "error": error,
              "attempts": [attempt.to_dict() for attempt in attempts]}
    return ItemResult(item, "failed", code, None, error, list(attempts), record)


def exit_code(results: Sequence[ItemResult]) -> int:
    """The worst of the images' exit codes (0 for an empty batch)."""
    return max((result.exit_code for result in results), default=EXIT_OK)


# ------------------------------------------------------------------------------------------------ zip


CSV_COLUMNS = (
    "input", "output", "status", "error", "tier", "provider", "model", "outcome", "reason", "latency_s",
    "cost_usd", "cost_kind", "lr_psnr", "lr_ssim", "sharpness",
)


def attempts_csv(results: Sequence[ItemResult]) -> str:
    """One row per tier tried per image (one row for a skipped image or one refused before any tier)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerows(_csv_rows(result))
    return buffer.getvalue()


def _csv_rows(result: ItemResult) -> list[dict[str, Any]]:
    base = {"input": str(result.item.source), "output": str(result.output or ""), "status": result.status,
            "error": result.error}
    if not result.attempts:
        return [base]
    quality = result.record.get("quality") or {}
    rows = []
    for attempt in result.attempts:
        row = {**base, **{key: value for key, value in attempt.to_dict().items() if key in CSV_COLUMNS}}
        if attempt.ok:
            row.update({key: quality.get(key) for key in ("lr_psnr", "lr_ssim", "sharpness")})
        rows.append(row)
    return rows


def write_zip(results: Sequence[ItemResult], target: str | Path | IO[bytes]) -> None:
    """A zip of every output written or found (skipped) by the batch, plus ``attempts.csv``."""
    with zipfile.ZipFile(target, "w") as archive:
        names: set[str] = set()
        for result in results:
            if result.output is not None and result.output.is_file():
                name = _unique_name(str(Path(result.item.archive_name).with_suffix(result.output.suffix)), names)
                # Images are compressed already: storing them saves time and loses nothing.
                archive.write(result.output, name, compress_type=zipfile.ZIP_STORED)
        archive.writestr("attempts.csv", attempts_csv(results), compress_type=zipfile.ZIP_DEFLATED)


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        path = Path(name)
        candidate = str(path.with_name(f"{path.stem}-{number}{path.suffix}"))
    taken.add(candidate)
    return candidate


# ------------------------------------------------------------------------------------------------ bars


class TqdmReporter:
    """A bar for the whole batch (when it has several images) and one per running image's tiles, on stderr."""

    def __init__(self, total: int, file: IO[str] | None = None, enabled: bool = True):
        self.total = total
        self.file = file or sys.stderr
        self.enabled = enabled
        self._batch: Any = None
        self._bars: dict[int, Any] = {}  # item index -> its tile bar
        self._rows: dict[int, int] = {}  # item index -> the screen row its bars use
        self._first_row = 1 if total > 1 else 0  # row 0 is the batch bar's

    def started(self, item: BatchItem) -> None:
        if self.enabled and self.total > 1 and self._batch is None:
            from tqdm import tqdm

            self._batch = tqdm(total=self.total, desc="batch", unit="image", file=self.file, position=0)

    def progress(self, item: BatchItem, event: ProgressEvent) -> None:
        if not self.enabled or event.stage != "progress" or event.total <= 1:
            return
        label = f"{item.source.name} [{event.provider}]"
        bar = self._bars.get(item.index)
        if bar is None or bar.desc != label:  # a new image, or the next tier of the same one
            self._close_bar(item.index)
            bar = self._new_bar(item.index, label, event.total)
        bar.total, bar.n = event.total, event.done
        bar.refresh()

    def finished(self, result: ItemResult) -> None:
        self._close_bar(result.item.index)
        self._rows.pop(result.item.index, None)
        if self._batch is not None:
            self._batch.update(1)

    def write(self, line: str, stream: IO[str]) -> None:
        """Print a line to ``stream`` without breaking the bars (they are cleared, then drawn again below it)."""
        if self._batch is None and not self._bars:
            print(line, file=stream, flush=True)
            return
        from tqdm import tqdm

        tqdm.write(line, file=stream)
        stream.flush()

    def close(self) -> None:
        for index in list(self._bars):
            self._close_bar(index)
        if self._batch is not None:
            self._batch.close()
            self._batch = None

    def _new_bar(self, index: int, label: str, total: int) -> Any:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit="tile", file=self.file, leave=False, position=self._row(index))
        self._bars[index] = bar
        return bar

    def _row(self, index: int) -> int:
        """The lowest screen row no other running image uses."""
        if index not in self._rows:
            used = set(self._rows.values())
            row = self._first_row
            while row in used:
                row += 1
            self._rows[index] = row
        return self._rows[index]

    def _close_bar(self, index: int) -> None:
        bar = self._bars.pop(index, None)
        if bar is not None:
            bar.close()
