"""Every decision the web app makes, in plain Python: the Streamlit pages only lay out what this module decides.

Nothing here imports Streamlit, so all of it is unit-tested without a browser or a script runner
(``tests/test_webapp.py``): settings from secrets and the environment, tier labels, which options apply to which
provider and model, the narration of a run from its progress events, the attempts table, the latency chart,
session totals, the comparison slider (``hdcore.webapp.compare_slider``), the 1:1 crops, the provider and price tables,
the History rows, and the Health page's figures, charts, budget lines and breaker table (``hdcore.health``).

No function here returns a token: settings are turned into a ``Config`` (whose tokens are ``Secret`` objects),
tiers are described by ``Engine.describe`` (configured or not, never the value), and every message shown to a
person goes through ``redact`` with the configured tokens.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import io
import math
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from .. import batch as batch_lib
from .. import health
from .. import images
from . import compare_slider
from .. import qa as qa_lib
from ..attempts import Attempt
from ..config import DEFAULT_MAX_INPUT_PIXELS, Config
from ..engine import SCALES, EnhanceResult, Engine, ProgressEvent
from ..errors import AllTiersFailed, Cancelled, HDCoreError, InvalidInput
from ..history import HistoryError, HistoryStore, RunRecord
from ..providers.local.families import PRESETS
from ..providers.local.auto_model import AUTO_MODEL
from ..prices import RUN, SECOND, PriceTable, model_name
from ..text import one_line

# ------------------------------------------------------------------------------------------------ settings

# What the uploader accepts (the browser filters by extension; hdcore then sniffs the content, never the name).
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif")
UPLOAD_FORMATS_TEXT = "PNG, JPEG, WebP, BMP, TIFF or GIF"

# The largest file an accepted image can be: every pixel stored raw at 4 bytes (8-bit RGBA or CMYK in an
# uncompressed BMP or TIFF; 16-bit gray is 2 bytes), plus 1 MiB for headers, EXIF and ICC profiles.
RAW_BYTES_PER_PIXEL = 4
HEADER_ALLOWANCE_MB = 1
MIB = 1024 * 1024  # Streamlit's server.maxUploadSize counts megabytes of 1024 * 1024 bytes


def upload_limit_mb(max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> int:
    """``server.maxUploadSize`` for hdcore's input limit: 16 MP x 4 bytes = 64 MiB, + 1 = 65."""
    return math.ceil(max_input_pixels * RAW_BYTES_PER_PIXEL / MIB) + HEADER_ALLOWANCE_MB


def settings_from(environ: Mapping[str, str], secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """The environment overlaid with the top-level scalar values of Streamlit secrets (secrets win).

    Tables (``[section]``) in secrets.toml are left alone: hdcore's settings are all top-level names.
    TOML numbers and booleans become text, as they would be in the environment.
    """
    merged = {str(key): str(value) for key, value in environ.items()}
    for key, value in (secrets or {}).items():
        if isinstance(value, bool):
            merged[str(key)] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            merged[str(key)] = str(value)
    return merged


def settings_key(settings: Mapping[str, str]) -> str:
    """A fingerprint of the settings hdcore reads (tokens included, hashed): the shared engine's cache key.

    Only a SHA-256 digest leaves this function, so the key can be logged or hashed by a cache without
    carrying a token. Unrelated environment variables do not change it.
    """
    relevant = sorted((k, v) for k, v in settings.items() if _is_hdcore_setting(k))
    digest = hashlib.sha256(repr(relevant).encode("utf-8")).hexdigest()
    return digest[:32]


def _is_hdcore_setting(name: str) -> bool:
    return name.startswith(("HDCORE_", "REPLICATE_")) or name == "HUGGINGFACE_TOKEN"


def load_config(settings: Mapping[str, str]) -> Config:
    """hdcore's ``Config`` from merged settings; raises ``ConfigError`` with a one-line reason."""
    return Config.from_env(settings)


def build_engine(settings: Mapping[str, str]) -> Engine:
    """The app's engine: the settings' config, and the history planner when an adaptive order or a cost cap is
    asked for (so the Auto chain the Health page explains is the one that runs)."""
    config = load_config(settings)
    return Engine(config, planner=health.planner_for(config, settings))


def secret_values(config: Config) -> list[str]:
    """The token values to blank out of anything shown (longest first, so overlapping ones are fully hidden)."""
    values = [s.reveal() for s in (config.huggingface_token, config.replicate_api_token) if s]
    return sorted({v for v in values if v}, key=len, reverse=True)


def redact(text: str, config: Config | None) -> str:
    """``text`` with every configured token replaced by ********. hdcore's messages never carry one; this is
    the app's second line of defence for text that did not come from hdcore."""
    if config is None:
        return text
    for value in secret_values(config):
        text = text.replace(value, "********")
    return text


def error_message(error: BaseException, config: Config | None = None) -> str:
    """A one-line, token-free message for any error."""
    text = one_line(str(error))
    if not isinstance(error, HDCoreError):
        text = f"unexpected {type(error).__name__}" + (f": {text}" if text else "")
    return redact(text or type(error).__name__, config)


# ------------------------------------------------------------------------------------------------- tiers

SHORT_LABELS = {"hf": "Hugging Face", "replicate": "Replicate", "space": "HF Space", "local": "Local", "lanczos": "Lanczos"}
AUTO = "auto"


def short_label(name: str) -> str:
    return SHORT_LABELS.get(name, name.replace("_", " ").title())


@dataclass(frozen=True)
class ModelView:
    name: str
    scales: tuple[int, ...]
    description: str


@dataclass(frozen=True)
class TierView:
    """One tier as people see it (never its token)."""

    name: str
    label: str  # the provider's own label, e.g. "Hugging Face Inference"
    short: str  # e.g. "Hugging Face"
    configured: bool
    status: str  # "configured" or "not configured (set HUGGINGFACE_TOKEN)"
    in_auto_chain: bool
    timeout_s: float | None
    models: tuple[ModelView, ...]

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(sorted({s for m in self.models for s in m.scales}))


def tier_view(engine: Engine, name: str) -> TierView:
    described = engine.describe(name)
    return TierView(
        name=name,
        label=described["label"],
        short=short_label(name),
        configured=bool(described["configured"]),
        status=described["status"],
        in_auto_chain=bool(described["in_auto_chain"]),
        timeout_s=described["timeout_s"],
        models=tuple(ModelView(m["name"], tuple(m["scales"]), m["description"]) for m in described["models"]),
    )


def tier_views(engine: Engine) -> list[TierView]:
    """Every tier the registry knows, in registry order (the auto chain first, then e.g. the baseline)."""
    return [tier_view(engine, name) for name in engine.registry.names()]


def provider_options(engine: Engine) -> list[str]:
    """The provider override's choices: "auto", then every tier, configured or not (never hidden)."""
    return [AUTO, *engine.registry.names()]


def provider_label(engine: Engine, name: str) -> str:
    if name == AUTO:
        return "Auto (" + " → ".join(short_label(t) for t in engine.plan(AUTO)) + ")"
    tier = tier_view(engine, name)
    return tier.short if tier.configured else f"{tier.short} — not configured"


AUTO_MODEL_NOTE = f"{AUTO_MODEL} model: "  # how the local tier's warning about its auto choice begins
DEFAULT_MODEL = ""  # the model choice meaning "the tier's default" (a select box cannot show None as a choice)


def model_options(engine: Engine, provider: str) -> list[str]:
    """DEFAULT_MODEL (each tier's default for the scale and options), then AUTO_MODEL where the tier picks a model
    per image (the local tier), then the tier's models; the auto chain: the default only."""
    if provider == AUTO:
        return [DEFAULT_MODEL]
    models = [m.name for m in tier_view(engine, provider).models]
    picks = [AUTO_MODEL] if AUTO_MODEL not in models and engine.provider(provider).serves(AUTO_MODEL) else []
    return [DEFAULT_MODEL, *picks, *models]


def model_label(model: str | None) -> str:
    if not model:
        return "Default for the scale"
    return "Auto (picked from the image)" if model == AUTO_MODEL else model


def chosen_model(choice: str | None) -> str | None:
    """The model for ``Engine.enhance``: None for the default."""
    return choice or None


def scale_options(engine: Engine, provider: str, model: str | None = DEFAULT_MODEL) -> list[int]:
    """The scales the chosen provider (and model) can deliver; for auto, what any configured tier delivers.

    A tier that reports no models (e.g. nothing installed) or a choice nobody can serve falls back to every
    scale, so the page always offers something and the run explains what went wrong.
    """
    if provider == AUTO:
        tiers = [tier_view(engine, name) for name in engine.plan(AUTO)]
        scales = {s for tier in tiers if tier.configured for s in tier.scales}
    else:
        tier = tier_view(engine, provider)
        models = [m for m in tier.models if not model or m.name == model]
        scales = {s for m in models for s in m.scales}
    return sorted(scales & set(SCALES)) or list(SCALES)


def default_scale(options: Sequence[int]) -> int:
    return 4 if 4 in options else max(options)


# ----------------------------------------------------------------------------------------------- options

FACE_ENHANCE = "face_enhance"
PROMPT = "prompt"
PRESET = "preset"
LOCAL = "local"

# Which (tier, model) pairs read which option. Models are compared without a ":version" pin.
OPTION_MODELS: dict[str, frozenset[tuple[str, str]]] = {
    FACE_ENHANCE: frozenset({("replicate", "nightmareai/real-esrgan")}),
    PROMPT: frozenset({("hf", "stabilityai/stable-diffusion-x4-upscaler"),
                       ("replicate", "batouresearch/magic-image-refiner")}),
}
PRESET_LABELS = {"fast": f"Fast ({PRESETS['fast']})", "best": f"Best ({PRESETS['best']})"}
PRESET_HELP = (
    f"Fast: {PRESETS['fast']}, a 1 MP photo to 4x in about 10 s on 2 CPU cores. "
    f"Best: {PRESETS['best']}, sharper, about 2 minutes per megapixel on a CPU."
)
OUTPUT_FORMATS = tuple(images.FORMATS)
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
FORMAT_HELP = "PNG is lossless and keeps transparency; a JPEG of a transparent image is written as PNG."


def tiers_that_run(engine: Engine, provider: str) -> list[str]:
    """The tiers a run would try: for auto, the configured ones of the chain; a named tier always."""
    if provider != AUTO:
        return [provider]
    return [name for name in engine.plan(AUTO) if engine.provider(name).is_configured()]


def model_for(engine: Engine, tier: str, model: str | None, scale: int) -> str | None:
    """The model ``tier`` would run: the chosen one if it serves it, else its default for ``scale``."""
    provider = engine.provider(tier)
    if model is not None and provider.serves(model):
        return model
    try:
        return provider.default_model(scale, {})
    except HDCoreError:
        return None


def applicable_options(engine: Engine, provider: str, model: str | None, scale: int) -> frozenset[str]:
    """The options worth showing: face enhance (Replicate's Real-ESRGAN), prompt (SD x4 on Hugging Face, the
    Magic Image Refiner on Replicate), local preset (the local tier with no model chosen)."""
    model = chosen_model(model)
    shown: set[str] = set()
    for tier in tiers_that_run(engine, provider):
        if tier == LOCAL and model is None:
            shown.add(PRESET)
        tier_model = model_for(engine, tier, model, scale)
        if tier_model is None:
            continue
        for option, pairs in OPTION_MODELS.items():
            if (tier, model_name(tier_model)) in pairs:
                shown.add(option)
    return frozenset(shown)


def enhance_options(
    shown: Iterable[str], *, face_enhance: bool = False, prompt: str = "", preset: str | None = None
) -> dict[str, Any]:
    """The keyword options for ``Engine.enhance``: only those that apply, and only when set."""
    shown = set(shown)
    options: dict[str, Any] = {}
    if FACE_ENHANCE in shown and face_enhance:
        options[FACE_ENHANCE] = True
    if PROMPT in shown and prompt.strip():
        options[PROMPT] = prompt.strip()
    if PRESET in shown and preset:
        options[PRESET] = preset
    return options


def quality_applies(output_format: str) -> bool:
    return images.DEFAULT_QUALITY.get(output_format) is not None


def default_quality(output_format: str) -> int | None:
    return images.DEFAULT_QUALITY.get(output_format)


# ------------------------------------------------------------------------------------------------ upload


@dataclass(frozen=True)
class UploadInfo:
    """An upload that decoded: its size and format, and an 8-bit copy for the comparison and the crops."""

    name: str
    size: tuple[int, int]
    format: str
    mode: str
    byte_count: int
    warnings: tuple[str, ...]
    image: Image.Image  # 8-bit RGB / RGBA / L / LA at full size, orientation applied

    @property
    def summary(self) -> str:
        width, height = self.size
        return f"{width} × {height} px · {human_bytes(self.byte_count)} {self.format or 'image'}"


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
    )


# ---------------------------------------------------------------------------------------------- narration


@dataclass(frozen=True)
class Narration:
    """What one progress event changes on the page."""

    label: str  # the st.status label
    line: str | None = None  # a line to add under the status, if any
    progress: tuple[float, str] | None = None  # (fraction, text) for the progress bar, if any
    clear_progress: bool = False


class Narrator:
    """Turns the engine's ProgressEvents into the words the page shows while a run goes on.

    "Hugging Face: timed out after 10.0 s → Replicate…" as the label; one line per tier tried; the local tier's
    tiles as a progress bar; "Waiting for a free slot: place N" while the local tier queues behind other jobs.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.label = "Starting…"
        self._last_failure: str | None = None

    def feed(self, event: ProgressEvent) -> Narration:
        name = short_label(event.provider)
        if event.stage == "start":
            model = f" ({event.model})" if event.model else ""
            line = f"{name}{model}: trying…"
            self.label = (f"{self._last_failure} → " if self._last_failure else "") + f"{name}…"
            return self._say(line, clear_progress=True)
        if event.stage == "waiting":
            self.label = f"{name}: waiting for a free slot: place {event.done}"
            return self._say(f"Waiting for a free slot: place {event.done}")
        if event.stage == "progress":
            total = max(event.total, 1)
            text = f"{name}: tile {min(event.done, total)} of {total}"
            return Narration(self.label, progress=(min(1.0, event.done / total), text))
        if event.stage == "ok":
            self.label = f"{name}: done in {event.message}" if event.message else f"{name}: done"
            return self._say(self.label, clear_progress=True)
        if event.stage == "failed":
            self._last_failure = f"{name}: {event.message or 'failed'}"
            self.label = self._last_failure
            return self._say(self._last_failure, clear_progress=True)
        if event.stage == "skipped":
            return self._say(f"{name}: skipped, {event.message}" if event.message else f"{name}: skipped")
        return Narration(self.label)

    @staticmethod
    def markdown(line: str) -> str:
        """A narration line as markdown that shows exactly its text."""
        return _md(line)

    def _say(self, line: str, clear_progress: bool = False) -> Narration:
        self.lines.append(line)
        return Narration(self.label, line=line, clear_progress=clear_progress)


class ProgressRelay:
    """Hands each ProgressEvent to ``render`` (the page); when ``render`` raises, the run is cancelled.

    The engine calls back on the caller's thread, where Streamlit raises its stop/rerun request (the user changed
    something, or pressed Stop) from the next element call. The relay keeps that exception, sets ``cancel`` so
    the engine abandons the tier at its next poll (Replicate predictions and Space jobs are cancelled, a queued
    local job leaves the line), and ``reraise`` hands it back once the engine has returned.
    """

    def __init__(self, render: Callable[[ProgressEvent], None]):
        self.render = render
        self.cancel = threading.Event()
        self.interrupted: BaseException | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.interrupted is not None:
            return
        try:
            self.render(event)
        except BaseException as error:  # noqa: BLE001 - every kind, Streamlit's control flow included
            self.interrupted = error
            self.cancel.set()

    def reraise(self) -> None:
        if self.interrupted is not None:
            raise self.interrupted


def done_label(result: EnhanceResult) -> str:
    return (
        f"Done by {short_label(result.provider)} ({result.model}) in {result.latency_s:.2f} s"
        + (f" · {money(result.cost_usd)}" if result.cost_usd else "")
    )


# --------------------------------------------------------------------------------------------------- a run


@dataclass(frozen=True)
class EnhanceRequest:
    """Everything the page collected for one run."""

    data: bytes
    source_name: str
    scale: int
    provider: str = AUTO
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    output_format: str = "png"
    quality: int | None = None


@dataclass
class RunOutcome:
    """The result of one run, or its readable failure; kept in the session to show until the next run."""

    request: EnhanceRequest
    result: EnhanceResult | None = None
    encoded: images.EncodedImage | None = None
    error: str = ""  # one line; "" on success
    failed_attempts: list[Attempt] = field(default_factory=list)  # when every tier failed
    time: float = 0.0
    source: UploadInfo | None = None  # the decoded upload: the "before" of the comparison and the crops
    narration: list[str] = field(default_factory=list)  # what the status said while the run went on
    _slider: compare_slider.Slider | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.encoded is not None

    @property
    def attempts(self) -> list[Attempt]:
        return self.result.attempts if self.result is not None else self.failed_attempts

    @property
    def warnings(self) -> list[str]:
        notes = list(self.result.warnings) if self.result else []
        notes += list(self.encoded.warnings) if self.encoded else []
        return notes

    @property
    def notes(self) -> str:
        """The result's and the encoder's warnings on one line (e.g. "device: cpu (2 threads) · 4x reached by
        2x then 2x"); "" when there are none. The auto model's choice is not one of them (``model_choice``)."""
        return " · ".join(w for w in self.warnings if not w.startswith(AUTO_MODEL_NOTE))

    @property
    def model_choice(self) -> str:
        """Why the local tier's auto model picked what it did ("auto model: waifu2x-photo (photo: ...)"), or ""."""
        return next((w for w in self.warnings if w.startswith(AUTO_MODEL_NOTE)), "")

    @property
    def download_name(self) -> str:
        fmt = self.encoded.format if self.encoded else self.request.output_format
        return download_name(self.request.source_name, self.request.scale, fmt)


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
            request.data, request.scale, request.provider, request.model,
            progress=progress, cancel=cancel, **dict(request.options),
        )  # fmt: skip
        encoded = result.encode(request.output_format, request.quality)
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


def scrubbed(attempts: Iterable[Attempt], config: Config) -> list[Attempt]:
    """The attempts with any configured token blanked out of their reasons (shown, and stored in the history).
    hdcore's tiers never put one there; a bug's message ("unexpected ...: <text>") might."""
    return [dataclasses.replace(a, reason=redact(a.reason, config)) if a.reason else a for a in attempts]


def failure_title(outcome: RunOutcome) -> str:
    return "Every tier failed" if outcome.failed_attempts else "Cannot enhance this image"


def failure_lines(attempts: Sequence[Attempt]) -> list[str]:
    """One line per tier tried: "Hugging Face: not configured (set HUGGINGFACE_TOKEN)"."""
    return [f"{short_label(a.provider)}: {a.reason or a.outcome}" for a in attempts]


def failure_markdown(outcome: RunOutcome) -> str:
    """The st.error body: the title, then each tier's reason as a list (or the one-line reason)."""
    if not outcome.failed_attempts:
        return outcome.error
    items = "\n".join(f"- **{short_label(a.provider)}**: {_md(a.reason or a.outcome)}" for a in outcome.failed_attempts)
    return f"**Every tier failed.**\n\n{items}"


def _md(text: str) -> str:
    """Text safe inside Streamlit markdown: no emphasis, links, HTML or $…$ maths from a server's message."""
    for char in "\\`*[]<>$~|":
        text = text.replace(char, "\\" + char)
    return text


def record_outcome(store: HistoryStore | None, outcome: RunOutcome) -> str | None:
    """Write the run to the history; returns a warning to show when the store cannot be written (the image is
    still delivered), or None. A run whose input never decoded is not recorded: no tier saw it."""
    if store is None:
        return None
    try:
        if outcome.ok:
            store.record_result(outcome.result, source_name=outcome.request.source_name, when=outcome.time)
        elif outcome.source is not None:
            error = AllTiersFailed(outcome.failed_attempts) if outcome.failed_attempts else HDCoreError(outcome.error)
            store.record_failure(
                error, input_size=outcome.source.size, scale=outcome.request.scale,
                source_name=outcome.request.source_name, thumbnail_of=outcome.source.image, when=outcome.time,
            )  # fmt: skip
    except HistoryError as error:
        return f"This run was not saved to the history: {one_line(str(error))}"
    return None


# ------------------------------------------------------------------------------------------- result views


def human_bytes(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    if count >= 1_000:
        return f"{count / 1_000:.0f} KB"
    return f"{count} B"


def money(usd: float) -> str:
    if usd == 0:
        return "$0"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:g} s"


def download_name(source_name: str, scale: int, output_format: str) -> str:
    stem = source_name.rsplit(".", 1)[0] if "." in source_name else source_name
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "image"
    extension = {"jpeg": "jpg"}.get(output_format, output_format)
    return f"{stem}_x{scale}.{extension}"


def output_summary(outcome: RunOutcome) -> str:
    """ "128 × 96 px · 24 KB PNG" """
    assert outcome.result is not None and outcome.encoded is not None
    width, height = outcome.result.output_size
    return f"{width} × {height} px · {human_bytes(len(outcome.encoded.data))} {outcome.encoded.format.upper()}"


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    help: str = ""


def headline(outcome: RunOutcome) -> list[Headline]:
    """The run in five figures: who produced it, output size, file size, time and cost."""
    result, encoded = outcome.result, outcome.encoded
    assert result is not None and encoded is not None
    width, height = result.output_size
    tried = sum(1 for a in result.attempts if a.outcome != "skipped")
    return [
        Headline("Produced by", short_label(result.provider), result.model or ""),
        Headline("Output", f"{width} × {height}", f"{result.scale}x of {result.input_size[0]} × {result.input_size[1]}"),
        Headline("File", human_bytes(len(encoded.data)), encoded.format.upper()),
        Headline("Time", f"{result.latency_s:.2f} s", f"{tried} tier(s) tried"),
        Headline("Cost", money(result.cost_usd), "sum over the tiers tried"),
    ]


def comparison(outcome: RunOutcome) -> compare_slider.Slider:
    """The before/after slider for a successful run (built once per outcome)."""
    assert outcome.result is not None
    if outcome._slider is None:
        result = outcome.result
        before = outcome.source.image if outcome.source is not None else _input_of(result)
        width, height = result.output_size
        outcome._slider = compare_slider.slider(
            before,
            result.image,
            before_label=f"Before · {before.width}×{before.height}",
            after_label=f"After · {width}×{height} · {short_label(result.provider)}",
            caption=f"Drag the divider (or focus it and use the arrow keys). {output_summary(outcome)}",
        )
    return outcome._slider


def _input_of(result: EnhanceResult) -> Image.Image:
    """Without the upload, the best "before" there is: the output shrunk back to the input's size."""
    return compare_slider.to_display(result.image).resize(result.input_size, Image.Resampling.LANCZOS)


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


# ------------------------------------------------------------------------------------- attempts and totals

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
            winner = outcome.result.provider
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
            Headline("Total cost", money(self.cost_usd), "every tier tried, this session"),
        ]


# ------------------------------------------------------------------------------------------ providers page


def tier_rows(engine: Engine) -> list[dict[str, Any]]:
    """The Providers page's table: one row per tier, configured ✓ or what is missing, never a token."""
    chain = engine.plan(AUTO)
    rows = []
    for tier in tier_views(engine):
        rows.append(
            {
                "Tier": tier.short,
                "Provider": tier.name,
                "Status": "✓ configured" if tier.configured else f"✗ {tier.status}",
                "Auto chain": f"#{chain.index(tier.name) + 1}" if tier.name in chain else "only when chosen",
                "Timeout": seconds(tier.timeout_s),
                "Scales": ", ".join(f"{s}x" for s in tier.scales) or "–",
                "Models": len(tier.models),
            }
        )
    return rows


def model_rows(tier: TierView) -> list[dict[str, Any]]:
    return [
        {"Model": m.name, "Scales": ", ".join(f"{s}x" for s in m.scales), "Description": m.description}
        for m in tier.models
    ]


FREE_TIERS = {
    "hf": "free tier / Pro subscription: recorded as $0",
    "space": "free (the Space's own hardware): recorded as $0",
    "local": "this machine's CPU/GPU: $0",
    "lanczos": "no model: $0",
}


def price_rows(config: Config) -> list[dict[str, Any]]:
    """The price table in force (defaults plus HDCORE_PRICES overrides), per run and per second."""
    table = PriceTable.from_config(config)
    rows = []
    for key, usd in table.prices.items():
        if key.startswith(RUN):
            model = key[len(RUN) :]
            hardware = table.hardware.get(model, "")
            rows.append({"Tier": "Replicate", "Item": model, "Unit": "per run (estimate)", "USD": usd,
                         "Note": f"runs on {hardware}" if hardware else ""})
        elif key.startswith(SECOND):
            hardware = key[len(SECOND) :]
            users = sorted(m for m, h in table.hardware.items() if h == hardware)
            rows.append({"Tier": "Replicate", "Item": hardware, "Unit": "per second (measured)", "USD": usd,
                         "Note": ", ".join(users)})
    for name, note in FREE_TIERS.items():
        rows.append({"Tier": short_label(name), "Item": "every run", "Unit": "per run", "USD": 0.0, "Note": note})
    return rows


def local_settings_rows(config: Config) -> list[dict[str, str]]:
    return [
        {"Setting": "Preset", "Value": f"{config.local_preset} ({PRESETS[config.local_preset]})"},
        {"Setting": "Device", "Value": config.local_device},
        {"Setting": "Jobs at once (HDCORE_LOCAL_JOBS)", "Value": str(config.local_jobs)},
        {"Setting": "CPU threads", "Value": str(config.local_threads or "every core")},
        {"Setting": "Tile", "Value": str(config.local_tile or "automatic per model")},
        {"Setting": "Max input", "Value": f"{config.max_input_pixels:,} px"},
        {"Setting": "Max output", "Value": f"{config.max_output_pixels:,} px"},
        {"Setting": "History folder (HDCORE_DATA_DIR)", "Value": config.data_dir},
    ]


@dataclass(frozen=True)
class ProbeReport:
    level: str  # "success", "warning" (skipped) or "error"
    text: str


def probe_report(attempt: Attempt, config: Config | None = None) -> ProbeReport:
    name = short_label(attempt.provider)
    if attempt.ok:
        cost = f", {money(attempt.cost_usd)} ({attempt.cost_kind})" if attempt.cost_usd else ""
        return ProbeReport("success", f"{name} answered in {attempt.latency_s:.2f} s with {attempt.model}{cost}.")
    if attempt.outcome == "skipped":
        return ProbeReport("warning", redact(f"{name} was not called: {attempt.reason}", config))
    return ProbeReport("error", redact(f"{name} failed ({attempt.outcome}) after {attempt.latency_s:.2f} s: "
                                       f"{attempt.reason}", config))


def probe(engine: Engine, name: str) -> ProbeReport:
    try:
        return probe_report(engine.probe(name), engine.config)
    except Exception as error:  # a probe must never crash the page
        return ProbeReport("error", f"{short_label(name)}: {error_message(error, engine.config)}")


# -------------------------------------------------------------------------------------------- history page

HISTORY_PAGE_SIZE = 50


def history_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The History page's table: time, thumbnail, input, scale, winner, per-tier latency and cost, totals."""
    rows = []
    for run in runs:
        width, height = run.input_size
        rows.append(
            {
                "Time": datetime.fromtimestamp(run.time, tz=timezone.utc),
                "Thumbnail": thumbnail_uri(run.thumbnail),
                "Source": run.source_name,
                "Input": f"{width} × {height}",
                "Scale": f"{run.scale}x",
                "Produced by": short_label(run.provider) if run.success and run.provider else "✗ failed",
                "Latency (s)": round(run.latency_s, 3),
                "Cost (USD)": round(run.cost_usd, 6),
                "Tiers": tiers_text(run),
                "Model": run.model or "",
                "Error": run.error,
            }
        )
    return rows


def tiers_text(run: RunRecord) -> str:
    """ "Hugging Face: timeout 10.00 s · Local: ok 0.41 s (+2 skipped)": each tier called, with its latency and
    its cost when it had one; the tiers skipped without a call are only counted."""
    parts, skipped = [], 0
    for a in run.attempts:
        if a.outcome == "skipped":
            skipped += 1
            continue
        cost = f" {money(a.cost_usd)}" if a.cost_usd else ""
        parts.append(f"{short_label(a.provider)}: {a.outcome} {a.latency_s:.2f} s{cost}")
    text = " · ".join(parts) or "no tier called"
    return text + (f" (+{skipped} skipped)" if skipped else "")


def thumbnail_uri(png: bytes | None) -> str | None:
    return None if not png else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def history_summary(runs: Sequence[RunRecord], total: int) -> list[Headline]:
    succeeded = sum(1 for r in runs if r.success)
    shown = len(runs)
    rate = f"{succeeded / shown:.0%}" if shown else "–"
    return [
        Headline("Runs recorded", f"{total:,}"),
        Headline("Succeeded (this page)", rate, f"{succeeded} of {shown}"),
        Headline("Cost (this page)", money(sum(r.cost_usd for r in runs))),
    ]


def page_count(total: int, size: int = HISTORY_PAGE_SIZE) -> int:
    return max(1, math.ceil(total / size))


# --------------------------------------------------------------------------------------------- health page


def health_settings(settings: Mapping[str, str]) -> health.HealthSettings:
    """The order mode and cost caps; raises ``ConfigError`` with a one-line reason."""
    return health.HealthSettings.from_env(settings)


def auto_ordering(
    engine: Engine, store: HistoryStore | None, settings: health.HealthSettings, now: float | None = None
) -> health.Ordering:
    """The Auto chain in the configured mode, and why. A history that cannot be read means no evidence, so the
    adaptive mode keeps the static order (the explanation says there is no history)."""
    return health.choose_order(
        engine.plan(AUTO), _figures_or_none(store, now), settings.order_mode,
        settings.max_cost_per_image, label=short_label,
    )  # fmt: skip


def _figures_or_none(store: HistoryStore | None, now: float | None) -> list[health.Figures]:
    if store is None:
        return []
    try:
        return health.figures(store, now=now)
    except HistoryError:
        return []


def figure_rows(figures: Sequence[health.Figures]) -> list[dict[str, Any]]:
    """The Health page's table: one row per provider and model (all models first) and window."""
    return [
        {
            "Provider": short_label(f.provider),
            "Model": "all models" if f.model == health.ALL_MODELS else (f.model or "–"),
            "Window": "1 h" if f.window_s == health.HOUR else f"{f.window_s // health.HOUR} h",
            "Attempts": f.attempts,
            "Success rate (%)": None if f.success_rate is None else round(100 * f.success_rate, 1),
            "Skipped": f.skipped,
            "p50 latency (s)": _finite(f.p50_latency_s, 2),
            "p95 latency (s)": _finite(f.p95_latency_s, 2),
            "Mean cost (USD)": _finite(f.mean_cost_usd, 6),
        }
        for f in figures
    ]


def hourly_rows(buckets: Sequence[health.HourBucket]) -> list[dict[str, Any]]:
    """Long-form rows for the Health page's charts: one per provider and hour."""
    return [
        {
            "Hour": datetime.fromtimestamp(b.start, tz=timezone.utc),
            "Provider": short_label(b.provider),
            "Success rate (%)": None if b.success_rate is None else round(100 * b.success_rate, 1),
            "p50 latency (s)": _finite(b.p50_latency_s, 2),
            "p95 latency (s)": _finite(b.p95_latency_s, 2),
            "Cost (USD)": round(b.cost_usd, 6),
        }
        for b in buckets
    ]


def budget_lines(
    engine: Engine, store: HistoryStore, settings: health.HealthSettings, now: float | None = None
) -> list[str]:
    """The caps, today's spend, and each Auto tier the budget guard would skip now (at 4x, default models)."""
    if settings.max_cost_per_image is None and settings.max_cost_per_day is None:
        return ["No cost cap is set (HDCORE_MAX_COST_PER_IMAGE, HDCORE_MAX_COST_PER_DAY)."]
    chain = engine.plan(AUTO)
    models = {tier: model_for(engine, tier, None, 4) for tier in chain}
    skips = health.budget_skips(
        chain, store, PriceTable.from_config(engine.config), settings.max_cost_per_image,
        settings.max_cost_per_day, now, models=models,
    )  # fmt: skip
    lines = [f"Per image: {_cap(settings.max_cost_per_image)} · per day: {_cap(settings.max_cost_per_day)} · "
             f"spent today (UTC): {money(health.spent_today(store, now))}"]  # fmt: skip
    lines += [f"{short_label(tier)} is skipped: {reason}" for tier, reason in skips.items()]
    return lines


def _cap(usd: float | None) -> str:
    return "no cap" if usd is None else money(usd)


def breaker_board(engine: Engine) -> Any | None:
    """Whatever holds the circuit breakers (``snapshot()`` and ``reset(provider, model=None)``): the engine's
    own if it has one, else the ``hdcore.engine.breaker`` module's; None while hdcore has no breakers."""
    try:
        module = importlib.import_module("hdcore.engine.breaker")
    except ImportError:
        return None
    for holder in (getattr(engine, "breakers", None), getattr(engine, "breaker", None), module):
        if callable(getattr(holder, "snapshot", None)) and callable(getattr(holder, "reset", None)):
            return holder
    return None


def breaker_rows(snapshot: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The breakers as a table; ``reopens_at`` (unix time) becomes a time, the reason one line."""
    rows = []
    for breaker in snapshot:
        reopens = breaker.get("reopens_at")
        rows.append(
            {
                "Provider": short_label(str(breaker.get("provider", ""))),
                "Model": breaker.get("model") or "all models",
                "State": str(breaker.get("state", "")),
                "Failures": breaker.get("failures"),
                "Retries at": datetime.fromtimestamp(reopens, tz=timezone.utc) if reopens else None,
                "Reason": one_line(str(breaker.get("reason") or "")),
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------- sidebar


def sidebar_lines(engine: Engine) -> list[str]:
    """One line per tier: ✓ configured / ○ not configured (with what to set)."""
    lines = []
    for tier in tier_views(engine):
        if tier.configured:
            lines.append(f"✓ **{tier.short}**")
        else:
            lines.append(f"○ {tier.short}  \n:small[:gray[{_md(tier.status)}]]")
    return lines



# ------------------------------------------------------------------------------------------ run quality


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


# -------------------------------------------------------------------------------------------------- QA page

QA_CROP_SIDE = 256  # output pixels of each crop in the QA grid, shown 1:1
QA_GRID_COLUMNS = 3


def qa_entry_options(engine: Engine) -> list[str]:
    """The QA page's choices: the Lanczos baseline first (always there), then every entry the engine can run."""
    entries = qa_lib.available_entries(engine)
    return [qa_lib.BASELINE, *(e for e in entries if e != qa_lib.BASELINE)]


def qa_default_entries(engine: Engine) -> list[str]:
    options = qa_entry_options(engine)
    return [e for e in (qa_lib.BASELINE, LOCAL) if e in options]


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
            "LR-PSNR (dB)": _finite(row.lr_psnr, 2),
            "LR-SSIM": _finite(row.lr_ssim, 4),
            "Sharpness": _finite(row.sharpness, 1),
        }
        if benchmark:
            line["PSNR (dB)"] = _finite(row.psnr, 2)
            line["SSIM"] = _finite(row.ssim, 4)
        line["Notes"] = row.error if not row.ok else " · ".join(row.warnings)
        table.append(line)
    return table


def _finite(value: float | None, digits: int) -> float | None:
    """A figure for a table cell; an infinite PSNR (identical images) is shown as an empty cell, not "inf"."""
    return None if value is None or not math.isfinite(value) else round(value, digits)


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


# ----------------------------------------------------------------------------------------------- Batch page

BATCH_UPLOAD_TYPES = (*UPLOAD_TYPES, "zip")
BATCH_MAX_IMAGES = 100  # images per batch, zip members included
ZIP_MAX_TOTAL_BYTES = 512 * MIB  # the declared, uncompressed size of a zip's images, all together
ZIP_MAX_MEMBER_BYTES = upload_limit_mb() * MIB  # one image: no more than the uploader accepts on its own
ZIP_MAX_MEMBERS = 10_000  # entries of any kind: a zip listing more is refused before anything is read


@dataclass(frozen=True)
class BatchInput:
    """One image of a batch: its name (a zip member keeps its folder) and its bytes."""

    name: str
    data: bytes


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def read_zip_images(
    name: str,
    data: bytes,
    *,
    max_images: int = BATCH_MAX_IMAGES,
    max_total_bytes: int = ZIP_MAX_TOTAL_BYTES,
    max_member_bytes: int = ZIP_MAX_MEMBER_BYTES,
) -> tuple[list[BatchInput], list[str]]:
    """The image members of a zip (by name: folders, hidden files and other files are left out and noted), and
    notes about what was left out.

    Zip bombs are refused from the central directory, before anything is decompressed: too many entries or images,
    an image declaring more than ``max_member_bytes``, or images declaring more than ``max_total_bytes`` together.
    Reading then stops at each member's declared size, so a member that lies about it cannot expand further.
    Raises ``InvalidInput`` with a one-line reason for a zip that cannot be used as a whole.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise InvalidInput(f"{name}: not a readable zip file ({one_line(str(error)) or 'bad zip'})") from None
    with archive:
        members = archive.infolist()
        if len(members) > ZIP_MAX_MEMBERS:
            raise InvalidInput(f"{name}: the zip lists {len(members):,} entries (at most {ZIP_MAX_MEMBERS:,})")
        wanted, notes = [], []
        for info in members:
            if info.is_dir():
                continue
            base = info.filename.rsplit("/", 1)[-1]
            if base.startswith(".") or "__MACOSX/" in info.filename or not _is_image_member(base):
                notes.append(f"{name}: {info.filename} left out (not an image)")
                continue
            if info.file_size > max_member_bytes:
                raise InvalidInput(f"{name}: {info.filename} declares {human_bytes(info.file_size)} uncompressed "
                                   f"(at most {human_bytes(max_member_bytes)} per image)")  # fmt: skip
            wanted.append(info)
        if len(wanted) > max_images:
            raise InvalidInput(f"{name}: the zip holds {len(wanted)} images (at most {max_images} per batch)")
        total = sum(info.file_size for info in wanted)
        if total > max_total_bytes:
            raise InvalidInput(f"{name}: its images declare {human_bytes(total)} uncompressed "
                               f"(at most {human_bytes(max_total_bytes)})")  # fmt: skip
        found = []
        for info in wanted:
            try:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError) as error:
                notes.append(f"{name}: {info.filename} cannot be read ({one_line(str(error)) or type(error).__name__})")
                continue
            found.append(BatchInput(_safe_member_name(info.filename), content[: info.file_size]))
    return found, notes


def _is_image_member(base: str) -> bool:
    return "." in base and "." + base.rsplit(".", 1)[1].lower() in batch_lib.IMAGE_SUFFIXES


def _safe_member_name(filename: str) -> str:
    """A member's path with no way out of the folder it is unpacked in ("../", "/", "C:", empty parts dropped)."""
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..") and not p.endswith(":")]
    return "/".join(parts) or "image"


def batch_inputs(uploads: Sequence[tuple[str, bytes]], max_images: int = BATCH_MAX_IMAGES
                 ) -> tuple[list[BatchInput], list[str]]:  # fmt: skip
    """The uploads as a batch: images as they are, each zip's image members; and one-line problems (a bad zip,
    members left out, too many images). Names are made unique ("photo.png", "photo-2.png")."""
    found: list[BatchInput] = []
    problems: list[str] = []
    for name, data in uploads:
        if is_zip_name(name):
            try:
                members, notes = read_zip_images(name, data, max_images=max_images)
            except InvalidInput as error:
                problems.append(one_line(str(error)))
                continue
            found += members
            problems += notes
        else:
            found.append(BatchInput(_safe_member_name(name), data))
    if len(found) > max_images:
        problems.append(f"{len(found)} images: only the first {max_images} are enhanced")
        found = found[:max_images]
    taken: set[str] = set()
    return [BatchInput(_unique_batch_name(i.name, taken), i.data) for i in found], problems


def _unique_batch_name(name: str, taken: set[str]) -> str:
    """Unique by folder and stem (case-insensitive), as the outputs are: "a.png" and "a.jpg" would both give
    "a_x2.png", so the second becomes "a-2.jpg"."""
    stem, dot, suffix = name.rpartition(".") if "." in name.rsplit("/", 1)[-1] else (name, "", "")
    candidate, number = name, 1
    while (candidate.rpartition(".")[0] if dot else candidate).lower() in taken:
        number += 1
        candidate = f"{stem}-{number}.{suffix}" if dot else f"{name}-{number}"
    taken.add((candidate.rpartition(".")[0] if dot else candidate).lower())
    return candidate


@dataclass(frozen=True)
class BatchUpdate:
    """What one report of a running batch changes: the batch's bar, and one image's bar."""

    overall: tuple[float, str]
    index: int
    item: tuple[float, str]


class BatchTracker:
    """A ``batch.BatchReporter`` that turns the batch's reports into progress-bar updates for ``render``.

    run_batch reports on the caller's thread, so ``render`` may draw Streamlit elements. When ``render`` raises
    (Streamlit's stop/rerun request), the batch is cancelled (``cancel``) and the error kept for ``reraise``.
    """

    def __init__(self, names: Sequence[str], render: Callable[[BatchUpdate], None]):
        self.names = list(names)  # each image's name, by its index in the batch
        self.total = len(self.names)
        self.render = render
        self.done = 0
        self.failed = 0
        self.cancel = threading.Event()
        self.interrupted: BaseException | None = None

    def overall(self) -> tuple[float, str]:
        failed = f", {self.failed} failed" if self.failed else ""
        return (self.done / self.total if self.total else 1.0, f"{self.done} of {self.total} images done{failed}")

    def started(self, item: Any) -> None:
        self._show(item.index, (0.0, f"{self._name(item)}: starting…"))

    def progress(self, item: Any, event: ProgressEvent) -> None:
        name = f"{self._name(item)} · {short_label(event.provider)}"
        if event.stage == "progress" and event.total > 0:
            self._show(item.index, (min(1.0, event.done / event.total), f"{name}: tile {event.done} of {event.total}"))
        elif event.stage == "start":
            self._show(item.index, (0.0, f"{name}: trying…"))
        elif event.stage == "waiting":
            self._show(item.index, (0.0, f"{name}: waiting for a free slot: place {event.done}"))
        elif event.stage == "failed":
            self._show(item.index, (0.0, f"{name}: {one_line(event.message) or 'failed'}"))

    def finished(self, result: Any) -> None:
        self.done += 1
        self.failed += result.status == "failed"
        name = self._name(result.item)
        if result.status == "failed":
            text = f"{name}: failed"
        elif result.status == "skipped":
            text = f"{name}: skipped"
        else:
            provider = result.record.get("provider", "")
            text = f"{name}: done by {short_label(provider)}" if provider else f"{name}: done"
        self._show(result.item.index, (1.0, text))

    def _name(self, item: Any) -> str:
        return self.names[item.index] if 0 <= item.index < len(self.names) else Path(item.source).name

    def _show(self, index: int, item: tuple[float, str]) -> None:
        if self.interrupted is not None:
            return
        try:
            self.render(BatchUpdate(self.overall(), index, item))
        except BaseException as error:  # noqa: BLE001 - Streamlit's control flow included
            self.interrupted = error
            self.cancel.set()

    def reraise(self) -> None:
        if self.interrupted is not None:
            raise self.interrupted




@dataclass
class BatchOutcome:
    """A finished batch: per-image results (paths relative to the batch, never the server's folders), the zip of
    the outputs with attempts.csv, and problems found before any image ran."""

    results: list[Any] = field(default_factory=list)  # batch.ItemResult, with item.source = the input's name
    zip_data: bytes = b""
    problems: list[str] = field(default_factory=list)
    error: str = ""  # the whole batch could not run (e.g. a model no tier serves)
    scale: int = 2

    @property
    def ok(self) -> list[Any]:
        return [r for r in self.results if r.status == "ok"]

    @property
    def failed(self) -> list[Any]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def zip_name(self) -> str:
        return f"hd_enhance_x{self.scale}.zip"


def run_batch_upload(
    engine: Engine,
    inputs: Sequence[BatchInput],
    settings: Any,
    reporter: Any = None,
    cancel: threading.Event | None = None,
) -> BatchOutcome:
    """Every input through ``batch.run_batch`` (remote tiers in parallel up to their limit, the local tier within
    its job gate; one failing image is its result, the others go on), then ``batch.write_zip`` into memory.

    The inputs are written to a private temporary folder that is gone when this returns; what comes back names
    each image as it was uploaded.
    """
    outcome = BatchOutcome(scale=settings.scale)
    with tempfile.TemporaryDirectory(prefix="hdcore-batch-") as work:
        inbox, outbox = Path(work, "in"), Path(work, "out")
        found = []
        for one in inputs:
            path = inbox / one.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(one.data)
            found.append(batch_lib.FoundInput(path, Path(one.name).parent))
        try:
            items, problems = batch_lib.plan_items(found, settings.scale, settings.format, out_dir=outbox)
            outcome.problems += [_relative(p, work) for p in problems]
            results = batch_lib.run_batch(items, engine, settings, reporter, cancel)
        except Cancelled:
            raise
        except Exception as error:  # a mistake shared by every image (unknown tier or model): one message
            outcome.error = error_message(error, engine.config)
            return outcome
        outcome.results = [_as_uploaded(result, inbox, work, engine.config) for result in results]
        buffer = io.BytesIO()
        batch_lib.write_zip(outcome.results, buffer)
        outcome.zip_data = _relabelled_zip(buffer.getvalue(), work)
    return outcome


def _relative(text: str, work: str) -> str:
    """``text`` without the temporary folder: "/tmp/hdcore-batch-x/in/a.png" -> "a.png"."""
    for folder in (str(Path(work, "in")), str(Path(work, "out")), work):
        text = text.replace(folder + "/", "").replace(folder, "")
    return text


def _as_uploaded(result: Any, inbox: Path, work: str, config: Config) -> Any:
    source = result.item.source.relative_to(inbox)
    item = dataclasses.replace(result.item, source=source)
    attempts = scrubbed(result.attempts, config)
    error = redact(_relative(one_line(result.error), work), config)
    return dataclasses.replace(result, item=item, error=error, attempts=attempts)


def _relabelled_zip(data: bytes, work: str) -> bytes:
    """The zip with attempts.csv's output column naming each file as it is in the zip, not where it was written."""
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            content = original.read(info)
            if info.filename == "attempts.csv":
                content = _relative(content.decode("utf-8"), work).encode("utf-8")
            copy.writestr(info, content, compress_type=info.compress_type)
    return target.getvalue()


def batch_rows(outcome: BatchOutcome) -> list[dict[str, Any]]:
    """One row per image: its name, status, who produced it, output size, latency, cost, quality, or its error."""
    rows = []
    for result in outcome.results:
        record = result.record
        size = record.get("output_size")
        quality = record.get("quality") or {}
        rows.append(
            {
                "Image": str(result.item.source),
                "Status": result.status,
                "Produced by": short_label(record["provider"]) if record.get("provider") else "",
                "Model": record.get("model") or "",
                "Output": f"{size[0]} × {size[1]}" if size else "",
                "Latency (s)": round(sum(a.latency_s for a in result.attempts), 3) if result.attempts else None,
                "Cost (USD)": round(record.get("cost_usd", 0.0), 6) if result.status == "ok" else None,
                "LR-PSNR (dB)": _finite(quality.get("lr_psnr"), 2),
                "Sharpness": _finite(quality.get("sharpness"), 1),
                "Error": result.error,
            }
        )
    return rows


def batch_summary(outcome: BatchOutcome) -> list[Headline]:
    cost = sum(a.cost_usd for r in outcome.results for a in r.attempts)
    return [
        Headline("Images", str(len(outcome.results))),
        Headline("Enhanced", str(len(outcome.ok))),
        Headline("Failed", str(len(outcome.failed))),
        Headline("Cost", money(cost), "every tier tried, every image"),
    ]


def batch_failure_lines(outcome: BatchOutcome) -> list[str]:
    """ "broken.png: cannot identify image file" for each image that failed."""
    return [f"{result.item.source}: {result.error or 'failed'}" for result in outcome.failed]
