"""The Enhance page's decisions: which options apply, the upload as the engine will see it, one run and its
outcome (recorded in the history), the headline figures, the comparison slider, 1:1 crops, the attempts table,
the latency chart, session totals and quality figures."""

from __future__ import annotations

import io
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from .. import images
from ..animated import AnimationResult
from ..attempts import Attempt
from ..config import Config
from ..engine import EnhanceResult, Engine, ProgressEvent
from ..errors import AllTiersFailed, Cancelled, HDCoreError
from ..history import HistoryError, HistoryStore
from ..text import one_line
from . import compare_slider
from .common import (
    AUTO, Headline, chosen_model, download_name, error_message,
    md_escape, scrubbed, short_label,
)
from ..text import human_bytes, usd
from ..providers.base import MODEL_CHOICE_NOTES, OptionInfo
from .sizing import OutputSize


OUTPUT_FORMATS = tuple(images.FORMATS)
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
FORMAT_HELP = "PNG is lossless and keeps transparency; a JPEG of a transparent image is written as PNG."


def tiers_that_run(engine: Engine, provider: str) -> list[str]:
    """The tiers a run would try: for auto, the configured ones of the chain; a named tier always."""
    if provider != AUTO:
        return [provider]
    return [name for name in engine.plan(AUTO) if engine.provider(name).is_configured()]


@dataclass(frozen=True)
class ShownOption:
    """An option to offer, as its provider declares it, with the default the page starts from."""

    info: OptionInfo
    default: Any


def applicable_options(engine: Engine, provider: str, model: str | None, scale: int) -> list[ShownOption]:
    """The options worth showing: those the model each running tier would use reads (as the providers declare
    them), in chain order, each once. ``scale``: the native one the first pass runs (``OutputSize.native_scale``)."""
    model = chosen_model(model)
    shown: dict[str, ShownOption] = {}
    for tier in tiers_that_run(engine, provider):
        tier_provider = engine.provider(tier)
        try:
            tier_model = None if model is None and tier_provider.options_for(None) else \
                tier_provider.model_for(model, scale, {})
        except HDCoreError:  # no model for this scale (the run will say so): nothing of it to offer
            continue
        for option in tier_provider.options_for(tier_model):
            if option.shown and option.name not in shown:
                shown[option.name] = ShownOption(option, tier_provider.option_default(option.name))
    return list(shown.values())


def enhance_options(shown: Iterable[ShownOption], values: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword options for ``Engine.enhance``: only those shown, and only when set (text trimmed)."""
    options: dict[str, Any] = {}
    for option in shown:
        value = values.get(option.info.name)
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, "", False):
            options[option.info.name] = value
    return options


def quality_applies(output_format: str) -> bool:
    return images.DEFAULT_QUALITY.get(output_format) is not None


def default_quality(output_format: str) -> int | None:
    return images.DEFAULT_QUALITY.get(output_format)




@dataclass(frozen=True)
class UploadInfo:
    """An upload that decoded: its size and format, and an 8-bit copy for the comparison and the crops."""

    name: str
    size: tuple[int, int]
    format: str
    mode: str
    byte_count: int
    warnings: tuple[str, ...]
    image: Image.Image  # 8-bit RGB / RGBA / L / LA at full size, orientation applied (an animation's first frame)
    animation: images.AnimationHeader | None = None  # an animated GIF, WebP or APNG: its frame count

    @property
    def summary(self) -> str:
        width, height = self.size
        frames = f" · {self.animation.frames} frames" if self.animation is not None else ""
        return f"{width} × {height} px · {human_bytes(self.byte_count)} {self.format or 'image'}{frames}"


def inspect_upload(name: str, data: bytes, config: Config) -> UploadInfo:
    """Decode an upload as the engine will (format sniffed, EXIF orientation, pixel limit from the header).

    Raises ``InvalidInput`` with hdcore's one-line reason for anything unusable.
    """
    source = images.load_image(data, max_pixels=config.max_input_pixels)
    color = np.rint(np.clip(source.color, 0, 1) * 255).astype(np.uint8)
    alpha = None if source.alpha is None else np.rint(np.clip(source.alpha, 0, 1) * 255).astype(np.uint8)
    if source.grayscale:
        planes = color[:, :, 0] if alpha is None else np.stack([color[:, :, 0], alpha], axis=2)
    else:
        planes = color if alpha is None else np.concatenate([color, alpha[:, :, None]], axis=2)
    return UploadInfo(
        name=name,
        size=source.size,
        format=source.format,
        mode=source.mode,
        byte_count=len(data),
        warnings=tuple(source.warnings),
        image=Image.fromarray(planes),
        animation=images.probe_animation(data, max_pixels=config.max_input_pixels),
    )




@dataclass(frozen=True)
class EnhanceRequest:
    """Everything the page collected for one run. The size is a ``scale`` (any factor from 1.1 to 8), or a
    ``width`` and/or ``height`` (``fit`` "within" or "fill"), or a ``longest_side``, as ``Engine.enhance`` takes it."""

    data: bytes
    source_name: str
    scale: float = 4
    provider: str = AUTO
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    output_format: str = "png"
    quality: int | None = None
    width: int | None = None
    height: int | None = None
    longest_side: int | None = None
    fit: str = "within"
    copy_metadata: bool = True  # the upload's EXIF, XMP and text into the output
    every_frame: bool = True  # an animation: every frame, the same format out (False: a still of the first)
    allow_paid: bool = False  # an animation: the user accepted the cloud tiers' estimated cost

    @property
    def size(self) -> OutputSize:
        return OutputSize(self.scale, self.width, self.height, self.longest_side, self.fit)


@dataclass
class RunOutcome:
    """The result of one run, or its readable failure; kept in the session to show until the next run."""

    request: EnhanceRequest
    result: EnhanceResult | None = None
    encoded: images.EncodedImage | None = None
    animation: AnimationResult | None = None  # every frame of an animated upload, upscaled
    error: str = ""  # one line; "" on success
    failed_attempts: list[Attempt] = field(default_factory=list)  # when every tier failed
    time: float = 0.0
    source: UploadInfo | None = None  # the decoded upload: the "before" of the comparison and the crops
    narration: list[str] = field(default_factory=list)  # what the status said while the run went on
    _slider: compare_slider.Slider | None = field(default=None, repr=False)
    _first_frame: Image.Image | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return (self.result is not None and self.encoded is not None) or self.animation is not None

    @property
    def attempts(self) -> list[Attempt]:
        """Every tier tried; for an animation, every frame's in order."""
        if self.animation is not None:
            return [attempt for frame in self.animation.attempts for attempt in frame]
        return self.result.attempts if self.result is not None else self.failed_attempts

    @property
    def produced_by(self) -> Attempt | None:
        """The attempt that delivered (an animation's last frame's), or None for a failed run."""
        return next((attempt for attempt in reversed(self.attempts) if attempt.ok), None) if self.ok else None

    @property
    def output_image(self) -> Image.Image:
        """The output as an image: the still, or an animation's first frame (decoded once)."""
        if self.result is not None:
            return self.result.image
        assert self.animation is not None
        if self._first_frame is None:
            with Image.open(io.BytesIO(self.animation.data)) as frames:
                self._first_frame = frames.convert("RGBA")
        return self._first_frame

    @property
    def output_size(self) -> tuple[int, int]:
        return self.animation.output_size if self.animation is not None else self.result.output_size

    @property
    def download(self) -> tuple[bytes, str, str]:
        """(data, format, MIME type) of the file to download: the encoded still or the animation."""
        if self.animation is not None:
            return self.animation.data, self.animation.format, self.animation.mime
        assert self.encoded is not None
        return self.encoded.data, self.encoded.format, self.encoded.mime

    def download_data(self) -> bytes:
        """The file's bytes; a callable, so the download button hands them over only when clicked."""
        return self.download[0]

    @property
    def warnings(self) -> list[str]:
        notes = list(self.result.warnings) if self.result else []
        notes += list(self.encoded.warnings) if self.encoded else []
        notes += list(self.animation.warnings) if self.animation else []
        return notes

    @property
    def notes(self) -> str:
        """The result's and the encoder's warnings on one line (e.g. "device: cpu (2 threads) · 4x reached by
        2x then 2x"); "" when there are none. The auto model's choice is not one of them (``model_choice``)."""
        return " · ".join(w for w in self.warnings if not w.startswith(MODEL_CHOICE_NOTES))

    @property
    def model_choice(self) -> str:
        """Why the tier picked the model it did ("auto model: waifu2x-photo (photo: ...)", "budget model: ..."), or ""."""
        return next((w for w in self.warnings if w.startswith(MODEL_CHOICE_NOTES)), "")

    @property
    def download_name(self) -> str:
        fmt = self.download[1] if self.ok else self.request.output_format
        return download_name(self.request.source_name, self.request.size.label, fmt)


def run_enhance(
    engine: Engine,
    request: EnhanceRequest,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
    source: UploadInfo | None = None,
    clock: Callable[[], float] | None = None,
) -> RunOutcome:
    """One run through the engine, never raising for the user's input, a tier's failure or a bug in a tier:
    each becomes ``RunOutcome.error``, a one-line message (for "every tier failed": each tier's reason).

    ``Cancelled`` (the caller's own cancel) is raised: the page is going away and shows nothing.
    """
    now = (clock or time.time)()
    outcome = RunOutcome(request=request, time=now, source=source)
    try:
        result = engine.enhance(
            request.data, request.scale, request.provider, request.model, width=request.width,
            height=request.height, longest_side=request.longest_side, fit=request.fit,
            progress=progress, cancel=cancel, **dict(request.options),
        )  # fmt: skip
        encoded = result.encode(request.output_format, request.quality, copy_metadata=request.copy_metadata)
    except Cancelled:
        raise
    except AllTiersFailed as error:
        outcome.failed_attempts = scrubbed(error.attempts, engine.config)
        outcome.error = error_message(error, engine.config)
        return outcome
    except Exception as error:  # bad input, bad option, or a bug: a message, never a crashed session
        outcome.error = error_message(error, engine.config)
        return outcome
    result.attempts = scrubbed(result.attempts, engine.config)
    outcome.result, outcome.encoded = result, encoded
    return outcome


def failure_title(outcome: RunOutcome) -> str:
    return "Every tier failed" if outcome.failed_attempts else "Cannot enhance this image"


def failure_lines(attempts: Sequence[Attempt]) -> list[str]:
    """One line per tier tried: "Hugging Face: not configured (set HUGGINGFACE_TOKEN)"."""
    return [f"{short_label(a.provider)}: {a.reason or a.outcome}" for a in attempts]


def failure_markdown(outcome: RunOutcome) -> str:
    """The st.error body: the title, then each tier's reason as a list (or the one-line reason)."""
    if not outcome.failed_attempts:
        return md_escape(outcome.error)
    items = "\n".join(f"- **{short_label(a.provider)}**: {md_escape(a.reason or a.outcome)}" for a in outcome.failed_attempts)
    return f"**Every tier failed.**\n\n{items}"


def record_outcome(store: HistoryStore | None, outcome: RunOutcome) -> str | None:
    """Write the run to the history; returns a warning to show when the store cannot be written (the image is
    still delivered), or None. A run whose input never decoded is not recorded: no tier saw it."""
    if store is None:
        return None
    try:
        if outcome.ok:
            result = outcome.result or _as_one_run(outcome)
            store.record_result(result, source_name=outcome.request.source_name, when=outcome.time)
        elif outcome.source is not None:
            error = AllTiersFailed(outcome.failed_attempts) if outcome.failed_attempts else HDCoreError(outcome.error)
            store.record_failure(
                error, input_size=outcome.source.size, scale=outcome.request.size.native_scale(outcome.source.size),
                source_name=outcome.request.source_name, thumbnail_of=outcome.source.image, when=outcome.time,
            )  # fmt: skip
    except HistoryError as error:
        return f"This run was not saved to the history: {one_line(str(error))}"
    return None


def _as_one_run(outcome: RunOutcome) -> EnhanceResult:
    """An animation as one run of the history: its first frame as the thumbnail, every frame's attempts."""
    animation, winner = outcome.animation, outcome.produced_by
    assert animation is not None and winner is not None
    factor = animation.output_size[0] / animation.size[0]
    return EnhanceResult(outcome.output_image, winner.provider, winner.model, factor, animation.size, outcome.attempts,
                         list(animation.warnings))  # fmt: skip




def output_summary(outcome: RunOutcome) -> str:
    """ "128 × 96 px · 24 KB PNG", "128 × 96 px · 20 frames · 310 KB GIF" """
    data, fmt, _ = outcome.download
    width, height = outcome.output_size
    frames = f" · {outcome.animation.frame_count} frames" if outcome.animation is not None else ""
    return f"{width} × {height} px{frames} · {human_bytes(len(data))} {fmt.upper()}"


def headline(outcome: RunOutcome) -> list[Headline]:
    """The run in five figures: who produced it, output size, file size, time and cost."""
    result, encoded = outcome.result, outcome.encoded
    assert result is not None and encoded is not None
    (width, height), (in_width, in_height) = result.output_size, result.input_size
    tried = sum(1 for a in result.attempts if a.outcome != "skipped")
    return [
        Headline("Produced by", short_label(result.provider), result.model or ""),
        Headline("Output", f"{width} × {height}", f"{result.scale:.3g}x of {in_width} × {in_height}"),
        Headline("File", human_bytes(len(encoded.data)), encoded.format.upper()),
        Headline("Time", f"{result.latency_s:.2f} s", f"{tried} tier(s) tried"),
        Headline("Cost", usd(result.cost_usd), "sum over the tiers tried"),
    ]


def comparison(outcome: RunOutcome) -> compare_slider.Slider:
    """The before/after slider for a successful run (built once per outcome)."""
    assert outcome.ok and outcome.produced_by is not None
    if outcome._slider is None:
        after = outcome.output_image
        before = outcome.source.image if outcome.source is not None else _input_of(outcome)
        width, height = outcome.output_size
        frame = " · first frame" if outcome.animation is not None else ""
        outcome._slider = compare_slider.slider(
            before,
            after,
            before_label=f"Before · {before.width}×{before.height}{frame}",
            after_label=f"After · {width}×{height} · {short_label(outcome.produced_by.provider)}{frame}",
            caption=f"Drag the divider (or focus it and use the arrow keys). {output_summary(outcome)}",
        )
    return outcome._slider


def _input_of(outcome: RunOutcome) -> Image.Image:
    """Without the upload, the best "before" there is: the output shrunk back to the input's size."""
    size = outcome.animation.size if outcome.animation is not None else outcome.result.input_size
    return compare_slider.to_display(outcome.output_image).resize(size, Image.Resampling.LANCZOS)


CROP_SIDE = 320  # output pixels shown 1:1 in the detail view


def crop_pair(
    before: Image.Image, after: Image.Image, center: tuple[float, float], side: int = CROP_SIDE
) -> tuple[Image.Image, Image.Image, tuple[int, int, int, int]]:
    """The same region of the output at 1:1 and of the input enlarged to match (nearest neighbour: the
    original pixels, as blocks). ``center`` is (x, y) in 0..1 of the image. Returns (before, after, box)."""
    out_w, out_h = after.size
    crop_w, crop_h = min(side, out_w), min(side, out_h)
    left = _clamped(round(center[0] * out_w - crop_w / 2), out_w - crop_w)
    top = _clamped(round(center[1] * out_h - crop_h / 2), out_h - crop_h)
    box = (left, top, left + crop_w, top + crop_h)
    after_crop = compare_slider.to_display(after.crop(box))
    fx, fy = before.width / out_w, before.height / out_h
    source_box = (left * fx, top * fy, (left + crop_w) * fx, (top + crop_h) * fy)
    before_crop = compare_slider.to_display(before).resize(
        (crop_w, crop_h), Image.Resampling.NEAREST, box=source_box
    )
    return before_crop, after_crop, box


def _clamped(value: int, upper: int) -> int:
    return max(0, min(value, max(upper, 0)))



COST_BASIS = {"measured": "measured", "estimated": "estimated", "none": "no charge"}
ATTEMPT_COLUMNS = ("Tier", "Provider", "Model", "Outcome", "Reason", "Latency (s)", "Cost (USD)", "Cost basis")


def attempt_rows(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """This run's attempts as table rows: tier, provider, model, outcome, reason, latency, cost.

    A skipped tier was never called: its latency and cost are empty rather than a misleading 0.
    """
    rows = []
    for a in attempts:
        called = a.outcome != "skipped"
        rows.append(
            {
                "Tier": a.tier,
                "Provider": short_label(a.provider),
                "Model": a.model or "",
                "Outcome": a.outcome,
                "Reason": a.reason,
                "Latency (s)": round(a.latency_s, 3) if called else None,
                "Cost (USD)": round(a.cost_usd, 6) if called else None,
                "Cost basis": COST_BASIS.get(a.cost_kind, a.cost_kind) if called else "",
            }
        )
    return rows


OUTCOME_COLORS = {"ok": "#16a34a", "timeout": "#f59e0b", "error": "#dc2626", "skipped": "#9ca3af"}


def latency_chart_rows(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """One bar per tier actually tried (skipped tiers took no time), labelled in chain order and coloured by
    outcome (green ok, amber timeout, red error)."""
    return [
        {
            "Tier": f"{a.tier}. {short_label(a.provider)}",
            "Latency (s)": round(a.latency_s, 3),
            "Outcome": a.outcome,
            "Color": OUTCOME_COLORS.get(a.outcome, OUTCOME_COLORS["error"]),
        }
        for a in attempts
        if a.outcome != "skipped"
    ]


@dataclass
class SessionTotals:
    """What this browser session has run so far: runs, cost, and latency per provider."""

    runs: int = 0
    succeeded: int = 0
    cost_usd: float = 0.0
    wins: dict[str, int] = field(default_factory=dict)
    tried: dict[str, int] = field(default_factory=dict)
    latency_sum: dict[str, float] = field(default_factory=dict)
    cost_by_provider: dict[str, float] = field(default_factory=dict)

    def record(self, outcome: RunOutcome) -> None:
        if not outcome.attempts and not outcome.ok:
            return  # the input never reached a tier (e.g. a bad file): not a run
        self.runs += 1
        if outcome.ok:
            self.succeeded += 1
            winner = outcome.produced_by.provider
            self.wins[winner] = self.wins.get(winner, 0) + 1
        for attempt in outcome.attempts:
            self.cost_usd += attempt.cost_usd
            if attempt.outcome == "skipped":
                continue
            name = attempt.provider
            self.tried[name] = self.tried.get(name, 0) + 1
            self.latency_sum[name] = self.latency_sum.get(name, 0.0) + attempt.latency_s
            self.cost_by_provider[name] = self.cost_by_provider.get(name, 0.0) + attempt.cost_usd

    def mean_latency(self, provider: str) -> float | None:
        count = self.tried.get(provider, 0)
        return self.latency_sum[provider] / count if count else None

    def rows(self) -> list[dict[str, Any]]:
        """Per provider tried this session: attempts, wins, mean latency, cost."""
        return [
            {
                "Provider": short_label(name),
                "Tried": self.tried[name],
                "Produced": self.wins.get(name, 0),
                "Mean latency (s)": round(self.latency_sum[name] / self.tried[name], 3),
                "Cost (USD)": round(self.cost_by_provider.get(name, 0.0), 6),
            }
            for name in sorted(self.tried, key=lambda n: -self.tried[n])
        ]

    @property
    def headline(self) -> list[Headline]:
        return [
            Headline("Runs this session", str(self.runs), f"{self.succeeded} produced an image"),
            Headline("Total cost", usd(self.cost_usd), "every tier tried, this session"),
        ]




def decibels(value: float | None) -> str:
    if value is None:
        return "–"
    return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"


def quality_figures(outcome: RunOutcome) -> list[Headline]:
    """The result's quality (``EnhanceResult.quality``, measured once and cached): LR-consistency and sharpness."""
    assert outcome.result is not None
    quality = outcome.result.quality
    sharp = quality.get("sharpness")
    ssim = quality.get("lr_ssim")
    return [
        Headline("LR-PSNR", decibels(quality.get("lr_psnr")),
                 "The output shrunk back to the input's size, against the input: higher is more faithful."),
        Headline("LR-SSIM", "–" if ssim is None else f"{ssim:.4f}", "Structural similarity of the same pair (1 = same)."),
        Headline("Sharpness", "–" if sharp is None else f"{sharp:.1f}",
                 "Variance of the Laplacian of the output: higher is crisper (or noisier)."),
    ]  # fmt: skip


