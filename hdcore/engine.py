"""The fallback engine: tries tiers in order, enforces each tier's deadline, checks every output.

The engine knows providers only through a ``Registry``; it never branches on a provider's name.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np
from PIL import Image

from . import images, metrics
from .attempts import Attempt, ProviderOutput
from .config import Config
from .errors import (
    AllTiersFailed,
    BadOutput,
    Cancelled,
    ConfigError,
    HDCoreError,
    InvalidImage,
    InvalidInput,
    ProviderError,
    ProviderTimeout,
)
from .providers.base import Provider, UpscaleRequest
from .registry import Registry, default_registry

SCALES = (2, 3, 4)
_POLL_S = 0.05  # how often a waiting engine looks at the caller's cancel flag and at progress reports

Stage = Literal["start", "waiting", "progress", "ok", "failed", "skipped"]


@dataclass(frozen=True)
class ProgressEvent:
    """What the engine is doing now; passed to the caller's ``progress`` callback.

    "waiting": the tier's job is queued behind others (``done`` is its place in line, 1 = next);
    "progress": ``done`` of ``total`` steps (tiles) are finished.
    """

    tier: int
    provider: str
    model: str | None
    stage: Stage
    done: int = 0
    total: int = 0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class EnhanceResult:
    """The upscaled image and the record of every tier that was tried."""

    image: Image.Image
    provider: str
    model: str | None
    scale: int
    input_size: tuple[int, int]
    attempts: list[Attempt]
    warnings: list[str] = field(default_factory=list)
    source_format: str = ""
    # The input colour, kept only until ``quality`` has been measured; never shown or compared.
    _source_color: np.ndarray | None = field(default=None, repr=False, compare=False)
    _quality: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def output_size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def cost_usd(self) -> float:
        return sum(attempt.cost_usd for attempt in self.attempts)

    @property
    def latency_s(self) -> float:
        return sum(attempt.latency_s for attempt in self.attempts)

    @property
    def quality(self) -> dict[str, Any]:
        """LR-consistency and sharpness (``metrics.quality_report``), measured on first use and then cached.

        Empty when the result was built without its source colour.
        """
        if self._quality is None:
            source = self._source_color
            if source is None:  # never given, or another thread has just measured it
                return self._quality or {}
            self._quality = metrics.quality_report(source, images.as_float_rgb(self.image))
            self._source_color = None  # the figures were all it was kept for
        return self._quality

    def encode(self, format: str = "png", quality: int | None = None) -> images.EncodedImage:
        return images.encode_image(self.image, format, quality)

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": True,
            "provider": self.provider,
            "model": self.model,
            "scale": self.scale,
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "cost_usd": round(self.cost_usd, 6),
            "warnings": list(self.warnings),
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "quality": metrics.json_safe(self.quality),
        }


class Engine:
    """Runs upscales through a chain of providers. Safe to share between threads."""

    def __init__(self, config: Config | None = None, registry: Registry | None = None):
        self.config = config if config is not None else Config.from_env()
        self.registry = registry if registry is not None else default_registry()
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def provider(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self.registry.create(name, self.config)
            return self._providers[name]

    def describe(self, name: str) -> dict[str, Any]:
        """A tier as people see it: configured or not (never its token), its models and timeout."""
        provider = self.provider(name)
        configured = provider.is_configured()
        return {
            "name": name,
            "label": provider.label,
            "configured": configured,
            "status": "configured" if configured else _not_configured(provider),
            "in_auto_chain": name in self.plan("auto"),
            "timeout_s": provider.timeout(),
            "models": [
                {"name": m.name, "scales": list(m.scales), "description": m.description} for m in provider.models()
            ],
        }

    def probe(self, name: str) -> Attempt:
        """A tiny real call to one tier (a 16x16 image at 2x): is it reachable, and how fast does it answer?"""
        tiny = np.linspace(0.0, 1.0, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
        try:
            return self.enhance(tiny, 2, name).attempts[-1]
        except AllTiersFailed as error:
            return error.attempts[-1]

    def plan(self, provider: str | Sequence[str] = "auto", fallback: bool = False) -> list[str]:
        """The tiers to try, in order."""
        auto = list(self.config.order or self.registry.auto_chain())
        if isinstance(provider, str):
            chain = auto if provider == "auto" else [provider]
            if provider != "auto" and fallback:
                chain += [name for name in auto if name != provider]
        else:
            chain = list(provider)
        for name in chain:
            self.registry.spec(name)  # raises ConfigError naming the unknown tier
        if not chain:
            raise ConfigError("no tier to try")
        return chain

    def enhance(
        self,
        image: Any,
        scale: int = 4,
        provider: str | Sequence[str] = "auto",
        model: str | None = None,
        *,
        fallback: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> EnhanceResult:
        """Upscale ``image`` by ``scale`` (2, 3 or 4), trying each tier until one returns a valid image.

        ``provider``: "auto" (the configured chain), one tier's name (only it, unless ``fallback``), or a list.
        ``model``: used by the tiers that serve it; the others use their default.
        ``options``: passed to providers (e.g. preset="best", tile=256, denoise=0).
        Raises InvalidInput for bad input, AllTiersFailed when no tier produced an image.
        """
        scale = _check_scale(scale)
        chain = self.plan(provider, fallback)
        source = images.load_image(image, max_pixels=self.config.max_input_pixels)
        images.check_output_size(source.size, scale, self.config.max_output_pixels)
        self._check_model_is_served(chain, model)

        attempts: list[Attempt] = []
        for tier, name in enumerate(chain, start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the caller")
            attempt, color = self._attempt(tier, name, source, scale, model, options, progress, cancel)
            attempts.append(attempt)
            if color is not None:
                return EnhanceResult(
                    image=images.compose(color, source),
                    provider=name,
                    model=attempt.model,
                    scale=scale,
                    input_size=source.size,
                    attempts=attempts,
                    warnings=list(source.warnings) + list(attempt.warnings),
                    source_format=source.format,
                    _source_color=source.color,
                )
        raise AllTiersFailed(attempts)

    def _check_model_is_served(self, chain: list[str], model: str | None) -> None:
        if model is not None and not any(self.provider(name).serves(model) for name in chain):
            raise InvalidInput(f"no tier in {', '.join(chain)} serves model {model!r}")

    def _attempt(
        self,
        tier: int,
        name: str,
        source: images.SourceImage,
        scale: int,
        model: str | None,
        options: dict[str, Any],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> tuple[Attempt, np.ndarray | None]:
        """Try one tier. Returns its record and, on success, the validated colour image."""
        provider = self.provider(name)
        notify = _notifier(progress, tier, name)
        skip_reason = _skip_reason(provider, scale, model) or provider.skip_reason(source.size, scale)
        if skip_reason:
            notify(None, "skipped", message=skip_reason)
            return Attempt(tier, name, model, "skipped", skip_reason), None

        tier_model = model if model is not None and provider.serves(model) else provider.default_model(scale, options)
        timeout = provider.timeout()
        started = time.monotonic()
        # Providers report from their worker thread; the caller's callback runs on the caller's thread
        # (UI toolkits such as Streamlit only accept calls from there).
        reports: queue.SimpleQueue[tuple[Stage, int, int]] = queue.SimpleQueue()
        request = UpscaleRequest(
            image=source.color,
            scale=scale,
            model=tier_model,
            options=options,
            deadline=None if timeout is None else started + timeout,
            progress=None if progress is None else lambda done, total: reports.put(("progress", done, total)),
            waiting=None if progress is None else lambda place: reports.put(("waiting", place, 0)),
        )

        def deliver_reports() -> None:
            while not reports.empty():
                stage, done, total = reports.get()
                notify(tier_model, stage, done, total)

        notify(tier_model, "start")
        try:
            output = _run_within_deadline(provider, request, timeout, cancel, deliver_reports if progress else None)
            color = _validated(output, request, name)
        except (InvalidInput, ConfigError):
            raise  # the caller's mistake: no other tier would do better
        except Cancelled:
            raise
        except ProviderError as error:
            attempt = _failed(tier, name, tier_model, error, time.monotonic() - started)
            notify(tier_model, "failed", message=attempt.reason)
            return attempt, None
        except Exception as error:  # a provider bug must not take the whole chain down
            reason = f"unexpected {type(error).__name__}: {_one_line(str(error))}"
            attempt = Attempt(tier, name, tier_model, "error", reason, time.monotonic() - started)
            notify(tier_model, "failed", message=reason)
            return attempt, None

        attempt = Attempt(
            tier=tier,
            provider=name,
            model=output.model or tier_model,
            outcome="ok",
            latency_s=time.monotonic() - started,
            cost_usd=output.cost.usd,
            cost_kind=output.cost.kind,
            output_size=request.output_size,
            warnings=tuple(output.warnings),
        )
        notify(attempt.model, "ok", message=f"{attempt.latency_s:.1f} s")
        return attempt, color


def _check_scale(scale: Any) -> int:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"scale must be one of 2, 3, 4, not {scale!r}") from None
    if value not in SCALES:
        raise InvalidInput(f"scale must be one of 2, 3, 4, not {scale!r}")
    return int(value)


def _not_configured(provider: Provider) -> str:
    return f"not configured (set {provider.requires})" if provider.requires else "not configured"


def _skip_reason(provider: Provider, scale: int, model: str | None) -> str:
    if not provider.is_configured():
        return _not_configured(provider)
    if model is not None and provider.serves(model):
        scales = provider.scales(model)
    else:
        scales = provider.scales()
    if scale not in scales:
        return f"does not support {scale}x"
    return ""


def _run_within_deadline(
    provider: Provider,
    request: UpscaleRequest,
    timeout: float | None,
    cancel: threading.Event | None,
    on_wake: Callable[[], None] | None = None,
) -> ProviderOutput:
    """Run ``provider.upscale`` in a worker thread and stop waiting at the deadline, whatever the provider does.

    A daemon thread, not an executor: a provider that ignores its deadline must not hold up interpreter exit.
    """
    box: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            box["output"] = provider.upscale(request)
        except BaseException as error:  # handed to the waiting thread, which re-raises it
            box["error"] = error
        finally:
            finished.set()

    threading.Thread(target=work, name=f"hdcore-{provider.name}", daemon=True).start()
    polling = cancel is not None or on_wake is not None
    while not finished.wait(_wait_step(request, polling)):
        if on_wake is not None:
            on_wake()
        if cancel is not None and cancel.is_set():
            _abandon(provider, request)
            raise Cancelled("cancelled by the caller", provider=provider.name, model=request.model)
        if request.deadline is not None and time.monotonic() >= request.deadline:
            _abandon(provider, request)
            raise ProviderTimeout(f"timed out after {timeout:.1f} s", provider=provider.name, model=request.model)
    if on_wake is not None:
        on_wake()
    if "error" in box:
        raise box["error"]
    return box["output"]


def _wait_step(request: UpscaleRequest, polling: bool) -> float | None:
    left = request.time_left()
    if not polling:
        return left
    return _POLL_S if left is None else min(_POLL_S, left)


def _abandon(provider: Provider, request: UpscaleRequest) -> None:
    request.cancel_event.set()
    try:
        provider.cancel(request)
    except Exception:  # cancelling is best effort; the attempt is already lost
        pass


def _validated(output: ProviderOutput, request: UpscaleRequest, name: str) -> np.ndarray:
    """The output as float RGB, if it decodes and has exactly the requested size; else BadOutput."""
    raw = output.image
    if isinstance(raw, np.ndarray) and raw.dtype.kind == "f" and not np.isfinite(raw).all():
        # decoding would quietly turn NaN into black; a model that produced NaN is broken
        raise BadOutput("output holds non-finite values", provider=name, model=request.model)
    try:
        color = images.decode_output(raw)
    except (InvalidImage, ValueError, TypeError) as error:
        raise BadOutput(f"output is not an image: {error}", provider=name, model=request.model) from error
    width, height = color.shape[1], color.shape[0]
    expected = request.output_size
    if (width, height) != expected:
        raise BadOutput(
            f"output is {width}x{height}, expected {expected[0]}x{expected[1]}", provider=name, model=request.model
        )
    return color


def _failed(tier: int, name: str, model: str | None, error: ProviderError, latency: float) -> Attempt:
    return Attempt(
        tier=tier,
        provider=name,
        model=error.model or model,
        outcome=error.outcome,
        reason=_one_line(str(error)) or type(error).__name__,
        latency_s=latency,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _notifier(progress: ProgressCallback | None, tier: int, name: str):
    def notify(model: str | None, stage: Stage, done: int = 0, total: int = 0, message: str = "") -> None:
        if progress is not None:
            progress(ProgressEvent(tier, name, model, stage, done, total, message))

    return notify
