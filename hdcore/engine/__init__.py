"""The fallback engine: tries tiers in order, enforces each tier's deadline, checks every output.

The engine knows providers only through a ``Registry``; it never branches on a provider's name.
Before a tier runs, its circuit breaker may skip it (``breaker``); inside the tier's deadline, transient
errors of retry-safe providers are retried (``retry``); in the auto chain a tier slower than its p95 gets the
next tier started beside it (``hedging``).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence

import numpy as np
from PIL import Image

from .. import images, metrics
from ..attempts import Attempt, ProviderOutput
from .breaker import Breakers, BreakerSettings, process_breakers
from ..config import Config
from ..errors import (
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
from .hedging import HedgeBudget, HedgeSettings, LatencyWindows, hedge_delay
from ..providers.base import Provider, UpscaleRequest
from ..providers import Registry, default_registry
from .retry import NO_RETRIES, RetryPolicy, call_with_retries
from ..text import one_line

SCALES = (2, 3, 4)
_CHECK_TIMEOUT = "deadline passed"  # UpscaleRequest.check's message
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


class Planner(Protocol):
    """Arranges the Auto chain (``hdcore.health.HealthPlanner``): returns .order, .skips and .explanation."""

    def arrange(self, chain: Sequence[str], models: Mapping[str, str | None]) -> Any: ...


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
    """Runs upscales through a chain of providers. Safe to share between threads.

    ``breakers``: the circuit breakers to consult (default: the process's, shared by every engine);
    ``retry``: the backoff of transient errors (default: from the config); ``latencies``: the recent latencies
    that time hedged requests (default: this engine's own window).
    """

    def __init__(
        self,
        config: Config | None = None,
        registry: Registry | None = None,
        *,
        breakers: Breakers | None = None,
        retry: RetryPolicy | None = None,
        latencies: LatencyWindows | None = None,
        planner: Planner | None = None,
    ):
        self.config = config if config is not None else Config.from_env()
        self.registry = registry if registry is not None else default_registry()
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()
        config = self.config
        self.breakers = breakers if breakers is not None else process_breakers
        self.breaker_settings = BreakerSettings(
            config.breaker_failures, config.breaker_cooldown_s, config.breaker_permanent_cooldown_s
        )
        self.retry = retry if retry is not None else RetryPolicy(retries=config.retries, base_s=config.retry_backoff_s)
        self.latencies = latencies if latencies is not None else LatencyWindows()
        self.hedge = HedgeSettings(
            config.hedge, config.hedge_delay_s, config.hedge_min_s, config.hedge_max_s, config.hedge_budget
        )
        self.hedge_budget = HedgeBudget(self.hedge.budget)
        self.planner = planner  # arranges the Auto chain from history (adaptive order, budget guard); None: static

    def latency_p95(self, provider: str, model: str | None) -> float | None:
        """The recent p95 latency of provider+model, or None without history (what times a hedge)."""
        return self.latencies.latency_p95(provider, model)

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

        chain, planned_skips, order_note = self._arranged(chain, provider, scale, model, options)
        hedging = self.hedge.enabled and provider == "auto"  # a named provider is the caller's choice alone
        if hedging:
            self.hedge_budget.earn()
        attempts: list[Attempt] = []
        index = 0
        while index < len(chain):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the caller")
            if chain[index] in planned_skips:
                reason = planned_skips[chain[index]]
                _notifier(progress, index + 1, chain[index])(None, "skipped", message=reason)
                attempts.append(Attempt(index + 1, chain[index], None, "skipped", reason))
                index += 1
                continue
            if hedging and index + 1 < len(chain) and chain[index + 1] not in planned_skips:
                tried, color = self._race(index, chain, source, scale, model, options, progress, cancel)
            else:
                attempt, color = self._attempt(index + 1, chain[index], source, scale, model, options, progress, cancel)
                tried = [attempt]
            attempts += tried
            index += len(tried)
            if color is not None:
                winner = next(attempt for attempt in tried if attempt.ok)
                return EnhanceResult(
                    image=images.compose(color, source),
                    provider=winner.provider,
                    model=winner.model,
                    scale=scale,
                    input_size=source.size,
                    attempts=attempts,
                    warnings=list(source.warnings) + list(winner.warnings) + ([order_note] if order_note else []),
                    source_format=source.format,
                    _source_color=source.color,
                )
        raise AllTiersFailed(attempts)

    def _arranged(
        self, chain: list[str], provider: str | Sequence[str], scale: int, model: str | None, options: dict[str, Any]
    ) -> tuple[list[str], dict[str, str], str]:
        """The Auto chain as the planner arranges it (order, budget skips, a note when the order changed)."""
        if self.planner is None or provider != "auto":
            return chain, {}, ""
        models = {
            name: model if model is not None and self.provider(name).serves(model)
            else self.provider(name).default_model(scale, options)
            for name in chain
        }
        arranged = self.planner.arrange(chain, models)
        note = f"order: {arranged.explanation}" if arranged.order != chain else ""
        return arranged.order, arranged.skips, note

    def _race(
        self,
        index: int,
        chain: list[str],
        source: images.SourceImage,
        scale: int,
        model: str | None,
        options: dict[str, Any],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> tuple[list[Attempt], np.ndarray | None]:
        """Run tier ``index``; once it outlasts its hedge delay, start the next tier beside it (budget allowing).

        The first valid image wins and the other tier is cancelled. Returns the attempts (one tier's, or both
        in tier order) and the winner's colour. Progress still reaches the caller on the caller's thread.
        """
        events: queue.SimpleQueue[ProgressEvent] = queue.SimpleQueue()
        forward = None if progress is None else events.put
        changed = threading.Event()

        def start(i: int) -> _Runner:
            def run(stop: threading.Event) -> tuple[Attempt, np.ndarray | None]:
                return self._attempt(i + 1, chain[i], source, scale, model, options, forward, stop)

            return _Runner(chain[i], i + 1, run, changed)

        runners = [start(index)]
        hedge_at = runners[0].started + self._hedge_delay(chain[index], scale, model, options)
        try:
            while True:
                changed.clear()
                _deliver(events, progress)
                broken = next((r for r in runners if r.finished.is_set() and r.error is not None), None)
                if broken is not None:
                    raise broken.error
                if any(r.won for r in runners) or all(r.finished.is_set() for r in runners):
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the caller")
                now = time.monotonic()
                if len(runners) == 1 and now >= hedge_at and self._runnable(chain[index + 1], source, scale, model) \
                        and self.hedge_budget.spend():
                    runners.append(start(index + 1))
                changed.wait(_POLL_S if len(runners) > 1 or now >= hedge_at else min(_POLL_S, hedge_at - now))
        except BaseException:
            for runner in runners:
                runner.stop.set()
            for runner in runners:  # let them tell their providers to cancel before the caller hears of it
                runner.finished.wait(1.0)
            raise
        _deliver(events, progress)
        return self._race_record(runners, scale, model, options), next((r.color for r in runners if r.won), None)

    def _race_record(
        self, runners: list["_Runner"], scale: int, model: str | None, options: dict[str, Any]
    ) -> list[Attempt]:
        """The attempts of a race in tier order, the winner and the loser marked; the loser is cancelled."""
        if len(runners) == 1:
            return [runners[0].attempt]
        winner = next((r for r in runners if r.won), None)
        records = []
        for runner in runners:
            if runner is not winner and runner.won:  # finished too, just after the winner: its cost is real
                reason = f"hedged: lost the race to {winner.name}; finished second"
                records.append(replace(runner.attempt, outcome="error", reason=reason))
            elif winner is None or (runner.finished.is_set() and runner is not winner):
                records.append(runner.attempt)  # both failed, or this one failed before the other won
            elif runner is winner:
                other = next(r.name for r in runners if r is not winner)
                records.append(replace(runner.attempt, warnings=runner.attempt.warnings + (f"hedged: won the race against {other}",)))
            else:
                runner.stop.set()  # its provider is told to cancel (Replicate prediction, Gradio job)
                records.append(self._lost(runner, winner.name, scale, model, options))
        return sorted(records, key=lambda attempt: attempt.tier)

    def _lost(self, runner: "_Runner", winner: str, scale: int, model: str | None, options: dict[str, Any]) -> Attempt:
        # A cancelled call reports no cost of its own; what it may have cost stays unknown ("none").
        provider = self.provider(runner.name)
        return Attempt(
            tier=runner.tier,
            provider=runner.name,
            model=_safe_tier_model(provider, model, scale, options),
            outcome="error",
            reason=f"hedged: lost the race to {winner}; cancelled",
            latency_s=time.monotonic() - runner.started,
        )

    def _runnable(self, name: str, source: images.SourceImage, scale: int, model: str | None) -> bool:
        """Worth a hedge: configured, has the scale, takes the size (a skipped tier would waste the budget)."""
        provider = self.provider(name)
        return not (_skip_reason(provider, scale, model) or provider.skip_reason(source.size, scale))

    def _hedge_delay(self, name: str, scale: int, model: str | None, options: dict[str, Any]) -> float:
        tier_model = _safe_tier_model(self.provider(name), model, scale, options)
        return hedge_delay(self.latency_p95(name, tier_model), self.hedge)

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

        tier_model = _tier_model(provider, model, scale, options)
        breaker = self.breakers.get(name, tier_model, self.breaker_settings)
        fingerprint = provider.config_fingerprint()
        if breaker_reason := breaker.admit(fingerprint):  # open: skipped in microseconds, no thread, no call
            notify(tier_model, "skipped", message=breaker_reason)
            return Attempt(tier, name, tier_model, "skipped", breaker_reason), None

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
        retried = [0]  # how often the worker sent the request again after a transient error
        try:
            retry = self.retry if provider.retry_safe else NO_RETRIES
            output = _run_within_deadline(
                provider, request, timeout, cancel, deliver_reports if progress else None, retry, retried
            )
            color = _validated(output, request, name)
        except (InvalidInput, ConfigError):
            breaker.released()
            raise  # the caller's mistake: no other tier would do better
        except Cancelled:
            breaker.released()  # the caller gave up (or the tier lost a hedged race): no verdict on the tier
            raise
        except ProviderError as error:
            breaker.failed(error, fingerprint)
            attempt = _failed(tier, name, tier_model, error, time.monotonic() - started, retried[0])
            notify(tier_model, "failed", message=attempt.reason)
            return attempt, None
        except Exception as error:  # a provider bug must not take the whole chain down
            breaker.failed(error, fingerprint)
            reason = f"unexpected {type(error).__name__}: {one_line(str(error))}" + _after(retried[0])
            attempt = Attempt(tier, name, tier_model, "error", reason, time.monotonic() - started)
            notify(tier_model, "failed", message=reason)
            return attempt, None

        breaker.succeeded()
        latency = time.monotonic() - started
        self.latencies.record(name, tier_model, latency)
        note = (f"succeeded after {_retries(retried[0])} of transient errors",) if retried[0] else ()

        attempt = Attempt(
            tier=tier,
            provider=name,
            model=output.model or tier_model,
            outcome="ok",
            latency_s=latency,
            cost_usd=output.cost.usd,
            cost_kind=output.cost.kind,
            output_size=request.output_size,
            warnings=tuple(output.warnings) + note,
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


class _Runner:
    """One tier's attempt on a thread of its own, so the caller can watch it and hedge beside it."""

    def __init__(self, name: str, tier: int, run: Callable[[threading.Event], tuple[Attempt, np.ndarray | None]],
                 changed: threading.Event):
        self.name = name
        self.tier = tier
        self.stop = threading.Event()  # the attempt's cancel flag: set when the caller gives up or it lost
        self.finished = threading.Event()
        self.started = time.monotonic()
        self.attempt: Attempt | None = None
        self.color: np.ndarray | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._work, args=(run, changed), name=f"hdcore-race-{name}", daemon=True).start()

    @property
    def won(self) -> bool:
        return self.finished.is_set() and self.color is not None

    def _work(self, run: Callable[[threading.Event], tuple[Attempt, np.ndarray | None]], changed: threading.Event):
        try:
            self.attempt, self.color = run(self.stop)
        except BaseException as error:  # handed to the caller's thread, unless the runner was stopped
            self.error = error if not self.stop.is_set() else None
        finally:
            self.finished.set()
            changed.set()


def _deliver(events: queue.SimpleQueue, progress: ProgressCallback | None) -> None:
    while progress is not None and not events.empty():
        progress(events.get())


def _tier_model(provider: Provider, model: str | None, scale: int, options: dict[str, Any]) -> str:
    return model if model is not None and provider.serves(model) else provider.default_model(scale, options)


def _safe_tier_model(provider: Provider, model: str | None, scale: int, options: dict[str, Any]) -> str | None:
    try:
        return _tier_model(provider, model, scale, options)
    except Exception:  # bad options surface when the tier runs; here the model only keys latencies
        return model


def _retries(count: int) -> str:
    return f"{count} retry" if count == 1 else f"{count} retries"


def _after(retries: int) -> str:
    return f" (after {_retries(retries)})" if retries else ""


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
    retry: RetryPolicy = NO_RETRIES,
    retried: list[int] | None = None,
) -> ProviderOutput:
    """Run ``provider.upscale`` in a worker thread and stop waiting at the deadline, whatever the provider does.

    A daemon thread, not an executor: a provider that ignores its deadline must not hold up interpreter exit.
    """
    box: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            box["output"] = call_with_retries(
                lambda: provider.upscale(request),
                retry,
                deadline=request.deadline,
                sleep=request.cancel_event.wait,  # a backoff ends early when the tier is abandoned
                stopped=request.cancel_event.is_set,
                on_retry=lambda count, error: retried.__setitem__(0, count) if retried is not None else None,
            )
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
        error = box["error"]
        if isinstance(error, ProviderTimeout) and str(error) == _CHECK_TIMEOUT and timeout is not None:
            # The provider's own check noticed the engine's deadline first (a race under load): same reason.
            raise ProviderTimeout(
                f"timed out after {timeout:.1f} s", provider=provider.name, model=request.model
            ) from error
        raise error
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


def _failed(tier: int, name: str, model: str | None, error: ProviderError, latency: float, retries: int = 0) -> Attempt:
    return Attempt(
        tier=tier,
        provider=name,
        model=error.model or model,
        outcome=error.outcome,
        reason=(one_line(str(error)) or type(error).__name__) + _after(retries),
        latency_s=latency,
    )


def _notifier(progress: ProgressCallback | None, tier: int, name: str):
    def notify(model: str | None, stage: Stage, done: int = 0, total: int = 0, message: str = "") -> None:
        if progress is not None:
            progress(ProgressEvent(tier, name, model, stage, done, total, message))

    return notify
