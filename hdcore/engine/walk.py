"""The fallback engine: the one walk over the chain that every entry point (library, CLI, batch, app) takes.

    plan      the tiers to try: the Auto chain (arranged by the planner: adaptive order), one tier, or a list
    for each tier, one step:
      skip    a check of the admission refused it (not configured, scale, input size, budget, breaker)
      attempt it runs alone within its deadline
      race    in Auto, once it outlasts its hedge delay, the next tier starts beside it
    result    the first valid image, composed with the source's alpha; else AllTiersFailed with every attempt

The engine knows providers only through a ``Registry`` and the data they declare; it never branches on a name.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, Sequence

import numpy as np

from .. import images
from ..attempts import Attempt
from ..config import Config
from ..errors import AllTiersFailed, ConfigError, InvalidInput
from ..providers import Registry, default_registry
from ..providers.base import Provider
from .attempt import Admission, Attempter
from .breaker import Breakers, process_breakers
from .budget import BudgetGuard, SpendLedger, process_ledger
from .gates import Gates
from .hedging import HedgeBudget, LatencyWindows, hedge_delay
from .race import race
from .result import EnhanceResult, ProgressCallback
from .retry import RetryPolicy
from .run import Run

SCALES = (2, 3, 4)


class Planner(Protocol):
    """Arranges the Auto chain (``hdcore.health.HealthPlanner``): returns .order and .explanation."""

    def arrange(self, chain: Sequence[str]) -> Any: ...

    def estimated_cost(self, provider: str) -> float | None: ...


class Engine:
    """Runs upscales through a chain of providers. Safe to share between threads.

    ``breakers``: the circuit breakers to consult (default: the process's, shared by every engine); ``retry``:
    the backoff of transient errors (default: from the config); ``latencies``: the recent latencies that time
    hedged requests (default: this engine's own window); ``planner``: arranges the Auto chain from history
    (default: the configured order); ``ledger``: today's spend for the daily cap (default: this process's);
    ``gates``: the per-provider concurrency gates (default: this engine's own; a cluster passes gates that every
    worker's engine shares).
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
        ledger: SpendLedger | None = None,
        gates: Gates | None = None,
    ):  # keyword parts, each with a default: an engine is built with the ones a caller wants to replace
        self.config = config if config is not None else Config.from_env()
        self.registry = registry if registry is not None else default_registry()
        self.planner = planner
        self.latencies = latencies if latencies is not None else LatencyWindows()
        self.hedge = self.config.hedge
        self.hedge_budget = HedgeBudget(self.hedge.budget)
        self.breakers = breakers if breakers is not None else process_breakers
        self.attempter = Attempter(
            breakers=self.breakers,
            breaker_settings=self.config.breaker,
            budget=BudgetGuard(self.config.budget, ledger if ledger is not None else process_ledger,
                               planner.estimated_cost if planner is not None else None),  # fmt: skip
            gates=gates if gates is not None else Gates(),
            latencies=self.latencies,
            retry=retry if retry is not None else RetryPolicy.from_settings(self.config.retry),
        )
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    # --- the tiers -----------------------------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self.registry.create(name, self.config)
            return self._providers[name]

    def latency_p95(self, provider: str, model: str | None) -> float | None:
        """The recent p95 latency of provider+model, or None without history (what times a hedge)."""
        return self.latencies.latency_p95(provider, model)

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

    def describe(self, name: str) -> dict[str, Any]:
        """A tier as people see it: configured or not (never its token), its models and timeout."""
        provider = self.provider(name)
        configured = provider.is_configured()
        return {
            "name": name,
            "label": provider.label,
            "configured": configured,
            "status": "configured" if configured else provider.not_configured_reason(),
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

    # --- the walk ------------------------------------------------------------------------------------

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
        source = images.load_image(image, max_pixels=self.config.max_input_pixels)  # decoded once per run
        images.check_output_size(source.size, scale, self.config.max_output_pixels)
        self._check_model_is_served(chain, model)
        auto = provider == "auto"
        run = Run(source, scale, model, options, progress, cancel if cancel is not None else threading.Event(),
                  hedging=auto and self.hedge.enabled)  # fmt: skip
        order, note = self._arranged(chain) if auto else (chain, "")
        if run.hedging:
            self.hedge_budget.earn()
        attempts: list[Attempt] = []
        index = 0
        while index < len(order):
            run.stop_if_cancelled()
            tried, color = self._step(run, order, index)
            attempts += tried
            index += len(tried)
            if color is not None:
                return _result(run, attempts, color, note)
        raise AllTiersFailed(attempts)

    def _step(self, run: Run, order: list[str], index: int) -> tuple[list[Attempt], np.ndarray | None]:
        """One tier of the walk: skipped, attempted alone, or raced against the next one."""
        admission = self.attempter.admit(run, index + 1, self.provider(order[index]))
        if admission.reason:
            return [self.attempter.skipped(admission)], None
        if run.hedging and index + 1 < len(order):
            hedge_at = time.monotonic() + hedge_delay(self.latency_p95(admission.name, admission.model), self.hedge)
            admit_next = lambda caller: self._hedge(caller, order, index + 1)  # noqa: E731
            return race(self.attempter, admission, hedge_at, self.hedge_budget, admit_next)
        attempt, color = self.attempter.attempt(admission)
        return [attempt], color

    def _hedge(self, run: Run, order: list[str], index: int) -> Admission | None:
        """The next tier admitted to run beside a slow one, or None when it cannot start now (its gate is full,
        or a check skips it: the walk reaches it later and records why)."""
        provider = self.provider(order[index])
        if not self.attempter.has_room(provider):
            return None
        admission = self.attempter.admit(run, index + 1, provider)
        return None if admission.reason else admission

    def _arranged(self, chain: list[str]) -> tuple[list[str], str]:
        """The Auto chain as the planner arranges it, and a note when the order changed."""
        if self.planner is None:
            return chain, ""
        arranged = self.planner.arrange(chain)
        note = f"order: {arranged.explanation}" if arranged.order != chain else ""
        return list(arranged.order), note

    def _check_model_is_served(self, chain: list[str], model: str | None) -> None:
        if model is not None and not any(self.provider(name).serves(model) for name in chain):
            raise InvalidInput(f"no tier in {', '.join(chain)} serves model {model!r}")


def _result(run: Run, attempts: list[Attempt], color: np.ndarray, note: str) -> EnhanceResult:
    winner = next(attempt for attempt in reversed(attempts) if attempt.ok)
    return EnhanceResult(
        image=images.compose(color, run.source),
        provider=winner.provider,
        model=winner.model,
        scale=run.scale,
        input_size=run.source.size,
        attempts=attempts,
        warnings=list(run.source.warnings) + list(winner.warnings) + ([note] if note else []),
        source_format=run.source.format,
        _source_color=run.source.color,
    )


def _check_scale(scale: Any) -> int:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"scale must be one of 2, 3, 4, not {scale!r}") from None
    if value not in SCALES:
        raise InvalidInput(f"scale must be one of 2, 3, 4, not {scale!r}")
    return int(value)


__all__ = ["Engine", "Planner", "SCALES"]
