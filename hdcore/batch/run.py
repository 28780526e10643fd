"""Running a batch: a pool of worker threads, one image each, one ``Engine.enhance`` call per image.

The engine holds every per-tier rule: a remote tier admits at most its declared number of calls at once (its
``max_concurrency``, or ``Config.concurrency``), waiting for a place before its deadline clock starts; the local
tier queues behind its own process-wide gate. Cost caps, the adaptive order and hedging apply to each image as
they apply to a single call. One failing image is recorded (exit code 2 bad input, 3 every tier failed) and the
others go on. A ``BatchReporter`` hears about each image's start, progress and end on the thread that called
``run_batch`` (UI toolkits such as Streamlit accept calls only from there).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Protocol, Sequence

from .. import images
from ..animated import AnimationResult, FrameProgress, enhance_animation, unpaid_tiers
from ..attempts import Attempt
from ..engine import Engine, EnhanceResult, ProgressEvent
from ..engine.target import resolve
from ..errors import AllTiersFailed, HDCoreError, InvalidInput
from .inputs import ANIMATED_SUFFIXES, BatchItem
from .outputs import write_output
from .resume import existing_output

EXIT_OK, EXIT_BAD_INPUT, EXIT_ALL_FAILED = 0, 2, 3

Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class BatchSettings:
    """How every image of a batch is upscaled and written."""

    scale: float = 4
    width: int | None = None  # a target size instead of the scale (see hdcore.engine.target)
    height: int | None = None
    longest_side: int | None = None
    fit: str = "within"
    provider: str | Sequence[str] = "auto"
    model: str | None = None
    fallback: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    format: str = "png"
    quality: int | None = None
    overwrite: bool = False
    copy_metadata: bool = True  # the source's EXIF, XMP and text into each output
    # Animated GIF / WebP / APNG: "all" upscales every frame into the same format; "first" makes a still of the
    # first frame (written in ``format``). Every frame runs on the tiers that need no token unless ``allow_paid``:
    # an animation is one call per frame.
    frames: Literal["all", "first"] = "all"
    allow_paid: bool = False


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
    chain = check_settings(engine, settings)
    worker = _Worker(engine, settings, cancel)
    pool = ThreadPoolExecutor(max_workers=min(max(1, len(items)), pool_size(engine, chain)),
                              thread_name_prefix="hdcore-batch")  # fmt: skip
    try:
        futures = [pool.submit(worker.process, item) for item in items]
        _deliver(worker.events, futures, reporter)
    finally:  # on Ctrl-C, images not yet started are dropped instead of waited for
        pool.shutdown(wait=False, cancel_futures=True)
    return [future.result() for future in futures]


def check_settings(engine: Engine, settings: BatchSettings) -> list[str]:
    """The chain every image will walk; raises for a mistake shared by all (an unknown tier, a model no tier of
    the chain serves), before any image is touched."""
    chain = engine.plan(settings.provider, settings.fallback)
    _check_model_is_served(engine, chain, settings.model)
    return chain


def process_item(engine: Engine, settings: BatchSettings, item: BatchItem) -> ItemResult:
    """One image, start to end, as a batch's worker does it (read, upscale, write; skipped when its output
    exists and ``settings.overwrite`` is off). Never raises: its failure is its result. What a worker of a
    cluster runs for each image (``hdcore.distributed``)."""
    return _Worker(engine, settings, None).process(item)


def pool_size(engine: Engine, chain: Sequence[str]) -> int:
    """Workers worth having: as many images as the busiest configured tier of the chain can take at once."""
    return max([1] + [engine.provider(name).parallel_jobs() for name in chain if engine.provider(name).is_configured()])


@dataclass
class _Worker:
    """What every worker thread of one batch shares."""

    engine: Engine
    settings: BatchSettings
    cancel: threading.Event | None
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # (kind, item, payload) to report

    def _output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        settings = self.settings
        return resolve(size, settings.scale, settings.width, settings.height, settings.longest_side, settings.fit).size

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
        limit = self.engine.config.max_input_pixels
        existing = None if settings.overwrite else existing_output(item, self._output_size, settings.format, limit)
        if existing is not None:
            return ItemResult(item, "skipped", EXIT_OK, existing, record=_skipped_record(item, existing))
        try:
            animation = self._animation_of(item)
            if animation is not None:
                return self._animate(item, *animation)
            result = self.engine.enhance(
                item.source, settings.scale, settings.provider, settings.model, width=settings.width,
                height=settings.height, longest_side=settings.longest_side, fit=settings.fit, fallback=settings.fallback,
                progress=lambda event: self.events.put(("progress", item, event)), cancel=self.cancel,
                **settings.options,
            )  # fmt: skip
            encoded = result.encode(settings.format, settings.quality, copy_metadata=settings.copy_metadata)
            written = write_output(item.output, encoded)
        except AllTiersFailed as error:
            return _failed(item, EXIT_ALL_FAILED, str(error), error.attempts)
        except HDCoreError as error:
            return _failed(item, EXIT_BAD_INPUT, str(error), [])
        except OSError as error:
            return _failed(item, EXIT_BAD_INPUT, f"cannot write output: {error.strerror or error}", [])
        return _succeeded(item, written, result, list(encoded.warnings))

    def _animation_of(self, item: BatchItem) -> tuple[bytes, images.AnimationHeader] | None:
        """The file's bytes and header when it is an animation to upscale frame by frame, else None."""
        if self.settings.frames != "all" or item.source.suffix.lower() not in ANIMATED_SUFFIXES:
            return None
        data = images.read_source_bytes(item.source, allow_paths=True, max_pixels=self.engine.config.max_input_pixels)
        header = images.probe_animation(data, max_pixels=self.engine.config.max_input_pixels)
        return None if header is None else (data, header)

    def _animate(self, item: BatchItem, data: bytes, header: images.AnimationHeader) -> ItemResult:
        """Every frame through the chain, written in the animation's own format (raises as ``engine.enhance``)."""
        settings = self.settings
        target = resolve(header.size, settings.scale, settings.width, settings.height, settings.longest_side,
                         settings.fit)  # fmt: skip  # the factor the estimate and the frames x pixels cap count with
        provider, fallback = settings.provider, settings.fallback
        if not settings.allow_paid:
            provider, fallback = unpaid_tiers(self.engine, provider, fallback), False
            if not provider:
                cloud = ", ".join(self.engine.plan(settings.provider))
                raise InvalidInput(f"an animation is one call per frame, and {cloud} runs in the cloud: allow paid "
                                   "tiers (--allow-paid) or take the first frame only (--first-frame)")  # fmt: skip
        result = enhance_animation(
            self.engine, data, target.factor, provider=_single(provider), model=settings.model,
            allow_paid=settings.allow_paid, quality=settings.quality, cancel=self.cancel, fallback=fallback,
            progress=lambda done: self.events.put(("progress", item, _frame_event(done))),
            width=settings.width, height=settings.height, longest_side=settings.longest_side, fit=settings.fit,
            **settings.options,
        )  # fmt: skip
        written = write_output(item.output, images.EncodedImage(result.data, result.format, result.mime))
        return _animated(item, written, result, target.factor)


def _single(provider: str | Sequence[str]) -> str | Sequence[str]:
    """One tier by its name (an "auto" model is then chosen once for every frame), a longer chain as a list."""
    return provider[0] if not isinstance(provider, str) and len(provider) == 1 else provider


def _frame_event(done: FrameProgress) -> ProgressEvent:
    """A frame finished, as a progress event whose message names what is counted ("frame", not a tile)."""
    winner = next((attempt for attempt in reversed(done.attempts) if attempt.ok), None)
    return ProgressEvent(
        tier=winner.tier if winner else 0, provider=winner.provider if winner else "", stage="progress",
        model=winner.model if winner else None, done=done.done, total=done.frames, message="frame",
    )  # fmt: skip


def _animated(item: BatchItem, written: Path, result: AnimationResult, factor: float) -> ItemResult:
    attempts = [attempt for frame in result.attempts for attempt in frame]
    winner = next(attempt for attempt in reversed(attempts) if attempt.ok)
    record = {
        "input": str(item.source), "output": str(written), "success": True, "provider": winner.provider,
        "model": winner.model, "format": result.format, "frames": result.frame_count, "scale": factor,
        "durations_ms": list(result.durations_ms), "loop": result.loop, "input_size": list(result.size),
        "output_size": list(result.output_size), "cost_usd": round(result.cost_usd, 6), "warnings": result.warnings,
        "attempts": [attempt.to_dict() for attempt in attempts],
    }  # fmt: skip
    return ItemResult(item, "ok", EXIT_OK, written, attempts=attempts, record=record)


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
        if reporter is None:
            continue
        if kind == "started":
            reporter.started(item)
        elif kind == "progress":
            reporter.progress(item, payload)
        else:
            reporter.finished(payload)


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

