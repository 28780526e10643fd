"""The Enhance page's decisions for an animated upload (GIF, WebP, APNG): every frame or the first, the frame
count and a time estimate before starting, the cloud tiers only once the user accepts their cost, one run of
every frame with a bar that follows the frames, and what the page shows of the result.

An animation is one engine call per frame, so the tiers that need no token (the local tier, then Lanczos) run
it; a cloud tier would bill every frame, and runs only with ``EnhanceRequest.allow_paid``. Frames x pixels are
capped by the library (``hdcore.animated.DEFAULT_MAX_FRAME_PIXELS``) before any frame is decoded.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .. import images
from ..animated import FrameProgress, enhance_animation, estimate_animation, frame_options, unpaid_tiers
from ..engine import Engine
from ..errors import AllTiersFailed, Cancelled, HDCoreError, InvalidInput
from ..text import human_bytes, usd
from .common import Headline, chosen_model, error_message, scrubbed, short_label
from .enhance_page import COST_BASIS, EnhanceRequest, RunOutcome, UploadInfo
from .sizing import OutputSize

FRAME_CHOICES = (True, False)  # EnhanceRequest.every_frame
FRAME_LABELS = {True: "Every frame", False: "First frame only"}
FRAME_HELP = "Every frame: the animation comes back in its own format, its timing and loop kept. First frame: a still."
# The player carries the file itself as a data URI (a third bigger as base64): past 16 MB the page would be slow to
# receive it on every new result, and the download has it anyway.
MAX_PLAYER_BYTES = 16_000_000
PLAYER_WIDTH = 640  # CSS pixels at most


def runs_every_frame(request: EnhanceRequest, upload: UploadInfo | None) -> bool:
    return upload is not None and upload.animation is not None and request.every_frame


def upload_notes(upload: UploadInfo, every_frame: bool) -> tuple[str, ...]:
    """What decoding the upload as a still noted ("only the first of 20 frames is used"): nothing of it holds
    when every frame runs, each decoded whole from the animation."""
    return () if every_frame and upload.animation is not None else upload.warnings


def animation_factor(size: OutputSize, frame_size: tuple[int, int]) -> float:
    """The factor the frames are enlarged by (the estimate and the frames x pixels cap count with it); a width or
    longest side becomes the factor that reaches it. ``InvalidInput`` when the size cannot be reached."""
    factor = size.target(frame_size).factor
    return int(factor) if float(factor).is_integer() else factor


def animation_tiers(engine: Engine, provider: str, allow_paid: bool) -> str | list[str]:
    """The tiers every frame may use: the chosen ones once their cost is accepted, else those without a token.
    ``InvalidInput`` when only cloud tiers were chosen and their cost is not accepted."""
    if allow_paid:
        return provider
    tiers = unpaid_tiers(engine, provider)
    if not tiers:
        raise InvalidInput(f"{short_label(provider)} runs in the cloud and an animation is one paid call per frame: "
                           "accept the estimated cost, or choose the local tier")  # fmt: skip
    return tiers[0] if len(tiers) == 1 else tiers  # one tier by name: an "auto" model is then kept for every frame


@dataclass(frozen=True)
class AnimationPlan:
    """What the page says before an animation runs."""

    estimate: str = ""  # "20 frames of 480x270 to 960x540 (2x): about 5 s with waifu2x-photo on the local tier"
    error: str = ""  # why it cannot run (over the frames x pixels cap, a size out of range): one line
    cloud_cost: str = ""  # the configured cloud tiers' price for every frame; "" when the chain has none


def plan_animation(engine: Engine, request: EnhanceRequest, header: images.AnimationHeader) -> AnimationPlan:
    """Frames, sizes and time with the model the first tier without a token would run, checked against the
    library's frames x pixels cap; and the price of every frame on each configured cloud tier of the chain."""
    native = request.size.native_scale(header.size)
    model = chosen_model(request.model)
    try:
        factor = animation_factor(request.size, header.size)
        local = unpaid_tiers(engine, request.provider)
        if local:
            model = engine.provider(local[0]).model_for(model, native, frame_options(request.options))
        estimate = estimate_animation(request.data, factor, model=model, allow_paths=False)
    except HDCoreError as error:
        return AnimationPlan(error=error_message(error, engine.config))
    return AnimationPlan(estimate.describe(), cloud_cost=_cloud_cost(engine, request, header, native))


def _cloud_cost(engine: Engine, request: EnhanceRequest, header: images.AnimationHeader, native: int) -> str:
    """ "Hugging Face about $0.0380 for 20 frames" for the configured cloud tiers of the chosen chain."""
    prices = []
    for name in engine.plan(request.provider):
        tier = engine.provider(name)
        if tier.info.requires and tier.is_configured():
            model = tier.model_for(chosen_model(request.model), native, frame_options(request.options))
            cost = tier.estimate_cost(model, header.size, native)
            prices.append(f"{short_label(name)} about {usd(cost.usd * header.frames)}")
    return f"{', '.join(prices)} for {header.frames} frames" if prices else ""


def run_animation(
    engine: Engine,
    request: EnhanceRequest,
    *,
    progress: Callable[[FrameProgress], None] | None = None,
    cancel: threading.Event | None = None,
    source: UploadInfo | None = None,
    clock: Callable[[], float] | None = None,
) -> RunOutcome:
    """Every frame of the upload through the engine (``hdcore.animated.enhance_animation``), never raising for
    the user's input or a tier's failure: each becomes ``RunOutcome.error``, one line. ``Cancelled`` is raised."""
    outcome = RunOutcome(request=request, time=(clock or time.time)(), source=source)
    try:
        header = images.probe_animation(request.data, max_pixels=engine.config.max_input_pixels)
        if header is None:
            raise InvalidInput("not an animation: the image has a single frame")
        animation = enhance_animation(
            engine, request.data, animation_factor(request.size, header.size),
            provider=animation_tiers(engine, request.provider, request.allow_paid), model=chosen_model(request.model),
            allow_paid=request.allow_paid, allow_paths=False, progress=progress, cancel=cancel, width=request.width,
            height=request.height, longest_side=request.longest_side, fit=request.fit, **dict(request.options),
        )  # fmt: skip
    except Cancelled:
        raise
    except AllTiersFailed as error:  # one frame found no tier: its attempts say why
        outcome.failed_attempts = scrubbed(error.attempts, engine.config)
        outcome.error = error_message(error, engine.config)
        return outcome
    except Exception as error:  # bad input, over the cap, or a bug: a message, never a crashed session
        outcome.error = error_message(error, engine.config)
        return outcome
    animation.attempts = [tuple(scrubbed(frame, engine.config)) for frame in animation.attempts]
    outcome.animation = animation
    return outcome


def frame_progress(done: FrameProgress) -> tuple[float, str]:
    """The bar after a frame: (fraction, "Frame 3 of 20 · about 12 s left")."""
    left = f" · about {done.remaining_s:.0f} s left" if done.done < done.frames else ""
    return done.done / max(done.frames, 1), f"Frame {done.done} of {done.frames}{left}"


def animation_done_label(outcome: RunOutcome) -> str:
    """ "Done by Local (waifu2x-photo): 20 frames in 6.10 s" """
    animation, winner = outcome.animation, outcome.produced_by
    assert animation is not None and winner is not None
    cost = f" · {usd(animation.cost_usd)}" if animation.cost_usd else ""
    return (f"Done by {short_label(winner.provider)} ({winner.model}): {animation.frame_count} frames in "
            f"{animation.elapsed_s:.2f} s{cost}")  # fmt: skip


def animation_headline(outcome: RunOutcome) -> list[Headline]:
    """The animation in five figures: who produced it, output size, file, time and cost."""
    animation, winner = outcome.animation, outcome.produced_by
    assert animation is not None and winner is not None
    (width, height), (in_width, in_height) = animation.output_size, animation.size
    per_frame = animation.elapsed_s / max(animation.frame_count, 1)
    return [
        Headline("Produced by", short_label(winner.provider), winner.model or ""),
        Headline("Output", f"{width} × {height}", f"{animation.frame_count} frames of {in_width} × {in_height}"),
        Headline("File", human_bytes(len(animation.data)), f"animated {animation.format.upper()}"),
        Headline("Time", f"{animation.elapsed_s:.2f} s", f"{per_frame:.2f} s a frame"),
        Headline("Cost", usd(animation.cost_usd), "every frame, every tier tried"),
    ]


def frame_attempt_rows(outcome: RunOutcome) -> list[dict[str, Any]]:
    """The attempts of every frame, one row per tier, model and outcome: how many frames, their time and cost."""
    groups: dict[tuple, dict[str, Any]] = {}
    for attempt in outcome.attempts:
        called = attempt.outcome != "skipped"
        key = (attempt.tier, attempt.provider, attempt.model, attempt.outcome, "" if attempt.ok else attempt.reason)
        row = groups.setdefault(key, {
            "Tier": attempt.tier, "Provider": short_label(attempt.provider), "Model": attempt.model or "",
            "Outcome": attempt.outcome, "Reason": key[4], "Frames": 0, "Latency (s)": 0.0 if called else None,
            "Cost (USD)": 0.0 if called else None, "Cost basis": COST_BASIS.get(attempt.cost_kind, attempt.cost_kind)
            if called else "",
        })  # fmt: skip
        row["Frames"] += 1
        if called:
            row["Latency (s)"] = round(row["Latency (s)"] + attempt.latency_s, 3)
            row["Cost (USD)"] = round(row["Cost (USD)"] + attempt.cost_usd, 6)
    return list(groups.values())


def animation_player(outcome: RunOutcome) -> str | None:
    """A self-contained document that plays the upscaled animation (the browser decodes GIF, WebP and APNG
    itself), at most PLAYER_WIDTH wide; None when the file is over MAX_PLAYER_BYTES."""
    animation = outcome.animation
    assert animation is not None
    if len(animation.data) > MAX_PLAYER_BYTES:
        return None
    width, height = animation.output_size
    shown = min(width, PLAYER_WIDTH)
    uri = f"data:{animation.mime};base64,{base64.b64encode(animation.data).decode('ascii')}"
    shape = f'width="{shown}" height="{round(height * shown / width)}"'
    return (f'<!doctype html><html><body style="margin:0"><img src="{uri}" alt="The upscaled animation" {shape} '
            'style="display:block;max-width:100%;height:auto"></body></html>')  # fmt: skip
