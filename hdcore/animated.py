"""Upscaling animated GIF, WebP and APNG: every frame through the engine, the animation written back whole.

    estimate = estimate_animation(data, 2)              # frames, pixels, time (and cost), before any work
    print(estimate.describe())
    result = enhance_animation(engine, data, 2)          # local tiers only, unless allow_paid=True
    Path("out.gif").write_bytes(result.data)

Each frame is one ``Engine.enhance`` call on the full RGBA frame, so it gets what a still image gets (colour
bleeding under transparency, alpha upscaled with Lanczos, output checks). Frames × output pixels is capped
before anything is decoded. Cloud tiers bill or rate-limit per call, and an animation is one call per frame, so
they are refused unless the caller passes ``allow_paid=True`` after its user accepted the estimate. A still
image from an animation stays available as before: ``load_image`` / ``Engine.enhance`` use the first frame
and say so in a warning.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from .attempts import Attempt
from .errors import Cancelled, InvalidInput
from .images import check_output_size
from .images.animation import (
    AnimationHeader,
    Frame,
    check_animation_pixels,
    probe_animation,
    read_animation,
    write_animation,
)
from .images.sources import read_source_bytes
from .prices import PriceTable

if TYPE_CHECKING:
    from .engine import Engine

# Frames x output pixels of one animation: its upscaled frames are held as RGBA (4 bytes a pixel) until the
# encoder has written them all, so 64 MP is 256 MB, e.g. 60 frames of 1280x720 at 2x from 640x360.
DEFAULT_MAX_FRAME_PIXELS = 64_000_000
# Seconds per input megapixel of the local tier, end to end, on 2 idle CPU cores running OpenVINO bf16 (AMD
# Zen 5): waifu2x-photo 3.1 s at 2x (20 frames of 160x120 in 1.45 s warm), 5x that at 3x and 4x (two passes,
# the second on 4x the pixels); Real-ESRGAN x4plus ~85 s (a 1224x816 photo at 4x in 79-88 s, `bench --photos`).
# A CPU running f32 (no AMX or Zen 5 bf16) takes about twice as long (x4plus 5.9 against 12.8 kpx/s here).
LOCAL_SECONDS_PER_MEGAPIXEL = {
    "waifu2x-photo": {2: 3.1, 3: 15.5, 4: 15.5},
    "realesrgan-x4plus": {2: 85.0, 3: 85.0, 4: 85.0},
}
# What an engine call costs beyond the model's work: 7 ms (min) to 12 ms (median) for a 16 px frame, local tier.
SECONDS_PER_FRAME = 0.01
ESTIMATE_MODEL = "waifu2x-photo"  # what the local tier runs when no model is named (the "fast" preset)


@dataclass(frozen=True)
class AnimationEstimate:
    """What upscaling an animation takes, known before any frame is run."""

    format: str  # "gif", "webp" or "png" (APNG)
    frames: int
    size: tuple[int, int]
    scale: int
    output_size: tuple[int, int]
    model: str
    seconds: float | None  # None: no measured speed for this model; progress reports it after the first frame
    cost_usd: float | None  # the model's catalogue price per run x frames; None where it has none

    @property
    def input_pixels(self) -> int:
        return self.frames * self.size[0] * self.size[1]

    @property
    def output_pixels(self) -> int:
        return self.frames * self.output_size[0] * self.output_size[1]

    def describe(self) -> str:
        """One line for people, e.g. '20 frames of 480x270 to 960x540 (2x): about 5 s with waifu2x-photo'."""
        (width, height), (out_width, out_height) = self.size, self.output_size
        line = f"{self.frames} frames of {width}x{height} to {out_width}x{out_height} ({self.scale}x)"
        if self.seconds is not None:
            line += f": about {_duration_text(self.seconds)} with {self.model} on the local tier"
        else:
            line += f": time measured from the first frame with {self.model}"
        if self.cost_usd is not None:
            line += f", about ${self.cost_usd:.4f}"
        return line


def _duration_text(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


@dataclass(frozen=True)
class FrameProgress:
    """Passed to ``progress`` after each frame."""

    done: int
    frames: int
    elapsed_s: float
    remaining_s: float  # the mean time of the frames done so far, times the frames left
    attempts: tuple[Attempt, ...]  # this frame's


@dataclass
class AnimationResult:
    data: bytes
    format: str
    mime: str
    frame_count: int
    size: tuple[int, int]
    output_size: tuple[int, int]
    durations_ms: tuple[int, ...]
    loop: int | None
    attempts: list[tuple[Attempt, ...]]  # one tuple per frame, in order
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def cost_usd(self) -> float:
        return sum(attempt.cost_usd for frame in self.attempts for attempt in frame)


def estimate_animation(
    source: Any,
    scale: int,
    *,
    model: str | None = None,
    allow_paths: bool = True,
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
) -> AnimationEstimate:
    """Frames, sizes, time and cost of upscaling ``source``; ``ImageTooLarge`` over ``max_frame_pixels``."""
    header = _header(read_source_bytes(source, allow_paths=allow_paths, max_pixels=max_frame_pixels))
    return _estimate(header, scale, model, max_frame_pixels)


# Twelve parameters: the engine's own (provider, model, progress, cancel, options) plus what an animation adds
# (the paid-tier gate, paths, the cap, the quality, a clock), all keyword-only.
def frame_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options every frame runs with: the local time budget is per image and an animation is many, so
    the budget preset (the default) becomes the fast one for frames, as the estimate assumes; "best" stays."""
    return {**options, "preset": "fast"} if options.get("preset") in (None, "budget") else dict(options)


def enhance_animation(
    engine: Engine,
    source: Any,
    scale: int,
    *,
    provider: str | Sequence[str] = "local",
    model: str | None = None,
    allow_paid: bool = False,
    allow_paths: bool = True,
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
    quality: int | None = None,
    progress: Callable[[FrameProgress], None] | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> AnimationResult:
    """Upscale every frame of an animated GIF, WebP or APNG with ``engine.enhance``; the same format back.

    ``allow_paid``: cloud tiers may be used (pass it once the user accepted ``estimate_animation``'s figures).
    ``quality``: for lossy WebP. ``options`` go to ``engine.enhance`` (fallback=, preset=, tile=, ...).
    """
    _refuse_cloud_tiers(engine, provider, bool(options.get("fallback")), allow_paid)
    data = read_source_bytes(source, allow_paths=allow_paths, max_pixels=max_frame_pixels)
    header = _header(data)
    _estimate(header, scale, model, max_frame_pixels)  # the cap, before any frame is decoded
    check_output_size(header.size, scale, engine.config.max_output_pixels)
    animation = read_animation(data, max_pixels=engine.config.max_input_pixels, max_total_pixels=max_frame_pixels)
    started = clock()
    call = {"scale": scale, "provider": provider, "model": model, "cancel": cancel, **frame_options(options)}
    frames, attempts, notes = _run_frames(engine, animation.frames, call, progress, clock)
    encoded = write_animation(replace(animation, frames=frames), quality=quality)
    return AnimationResult(
        data=encoded.data,
        format=encoded.format,
        mime=encoded.mime,
        frame_count=len(frames),
        size=animation.size,
        output_size=(frames[0].pixels.shape[1], frames[0].pixels.shape[0]),
        durations_ms=animation.durations_ms,
        loop=animation.loop,
        attempts=attempts,
        warnings=list(dict.fromkeys(notes)),
        elapsed_s=clock() - started,
    )


def _header(data: bytes) -> AnimationHeader:
    header = probe_animation(data)
    if header is None:
        raise InvalidInput("not an animation: the image has a single frame (upscale it as a still image)")
    return header


def _estimate(header: AnimationHeader, scale: int, model: str | None, max_frame_pixels: int) -> AnimationEstimate:
    output_size = check_output_size(header.size, scale, max_frame_pixels)  # one frame over the cap: all are
    width, height = header.size
    check_animation_pixels(header.frames, output_size, max_frame_pixels, f" (from {width}x{height} at {scale}x)")
    name = model or ESTIMATE_MODEL
    per_megapixel = LOCAL_SECONDS_PER_MEGAPIXEL.get(name, {}).get(scale)
    seconds = None if per_megapixel is None else header.pixels / 1e6 * per_megapixel + header.frames * SECONDS_PER_FRAME
    price = PriceTable().estimate(name)
    cost = price.usd * header.frames if price.kind == "estimated" else None
    return AnimationEstimate(header.format, header.frames, header.size, scale, output_size, name, seconds, cost)


def unpaid_tiers(engine: Engine, provider: str | Sequence[str] = "auto", fallback: bool = False) -> list[str]:
    """The tiers of ``provider``'s chain that need no token or endpoint (they run on this machine): what an
    animation may use until its user accepts the cloud's cost. Empty when every tier of the chain is a cloud one."""
    return [name for name in engine.plan(provider, fallback) if not engine.provider(name).info.requires]


def _refuse_cloud_tiers(engine: Engine, provider: str | Sequence[str], fallback: bool, allow_paid: bool) -> None:
    """Cloud tiers bill or rate-limit each call, and an animation is a call per frame: only with ``allow_paid``.

    A tier that needs a token or endpoint (``requires``) sends the image off this machine; one that is not
    configured would be skipped anyway.
    """
    if allow_paid:
        return
    chain = engine.plan(provider, fallback)
    cloud = [name for name in chain if engine.provider(name).info.requires and engine.provider(name).is_configured()]
    if cloud:
        raise InvalidInput(
            f"an animation is one call per frame, and {', '.join(cloud)} would run in the cloud: "
            "pass allow_paid=True once the estimated cost is accepted, or use provider='local'"
        )


def _run_frames(
    engine: Engine,
    frames: Sequence[Frame],
    call: dict[str, Any],
    progress: Callable[[FrameProgress], None] | None,
    clock: Callable[[], float],
) -> tuple[tuple[Frame, ...], list[tuple[Attempt, ...]], list[str]]:
    """Each frame through ``engine.enhance(**call)``: the upscaled frames, each one's attempts, all warnings.

    ``call["cancel"]``, when set, stops the run between frames (and the engine within one).
    """
    started = clock()
    done: list[Frame] = []
    attempts: list[tuple[Attempt, ...]] = []
    notes: list[str] = []
    for index, frame in enumerate(frames):
        if call["cancel"] is not None and call["cancel"].is_set():
            raise Cancelled("cancelled by the caller")
        result = engine.enhance(frame.pixels, **call)
        if index == 0 and isinstance(call["provider"], str) and result.provider == call["provider"]:
            # an "auto" model is chosen per image: one choice for every frame keeps them from flickering
            call = {**call, "model": result.model}
        done.append(replace(frame, pixels=_rgba8(result.image)))
        attempts.append(tuple(result.attempts))
        notes.extend(result.warnings)
        if progress is not None:
            elapsed = clock() - started
            remaining = elapsed / (index + 1) * (len(frames) - index - 1)
            progress(FrameProgress(index + 1, len(frames), elapsed, remaining, attempts[-1]))
    return tuple(done), attempts, notes


def _rgba8(image: Image.Image) -> np.ndarray:
    return np.asarray(image if image.mode == "RGBA" else image.convert("RGBA"))
