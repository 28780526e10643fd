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

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from .. import images
from ..attempts import Attempt
from ..config import Config
from ..errors import AllTiersFailed, ConfigError, InvalidInput
from ..providers import Registry, default_registry
from ..providers.base import Provider
from ..resize import lanczos_resize
from .attempt import Admission, Attempter
from .breaker import Breakers, process_breakers
from .budget import BudgetGuard, SpendLedger, process_ledger
from .gates import Gates
from .hedging import HedgeBudget, LatencyWindows, hedge_delay
from .race import race
from .result import EnhanceResult, ProgressCallback
from .retry import RetryPolicy
from .run import Run
from .target import Target, resolve

SCALES = (2, 3, 4)  # the native scales; any factor from 1.1 to 8 is reached from them (engine.target)
log = logging.getLogger(__name__)


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
        """A tiny real call to one tier (a 16x16 image at 2x): is it reachable, and how fast does it answer?

        Someone asked to check the tier, so a breaker open for a cooldown of ours does not stop the call (its
        outcome closes or reopens the breaker); a Retry-After or a rejected token still does.
        """
        tiny = np.linspace(0.0, 1.0, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
        source = images.load_image(tiny)
        walk = self._walk(Run(source, 2, None, {}, bypass_breakers=True), self.plan(name))
        return walk.attempts[-1]

    # --- the walk ------------------------------------------------------------------------------------

    def enhance(
        self,
        image: Any,
        scale: int = 4,
        provider: str | Sequence[str] = "auto",
        model: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
        longest_side: int | None = None,
        fit: str = "within",
        fallback: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> EnhanceResult:  # the seed's four (image, scale, provider, model), then keywords for size and control
        """Upscale ``image``, trying each tier until one returns a valid image.

        Size: ``scale`` (2, 3, 4, or any factor from 1.1 to 8), or ``width`` and/or ``height`` (fit within the
        box; ``fit="fill"`` covers it and crops the centre), or ``longest_side``; see ``engine.target``.
        ``provider``: "auto" (the configured chain), one tier's name (only it, unless ``fallback``), or a list.
        ``model``: used by the tiers that serve it; the others use their default.
        ``options``: passed to providers (e.g. preset="best", tile=256, denoise=0).
        Raises InvalidInput for bad input, AllTiersFailed when no tier produced an image.
        """
        chain = self.plan(provider, fallback)
        source = images.load_image(image, max_pixels=self.config.max_input_pixels)  # decoded once per run
        target = resolve(source.size, scale, width, height, longest_side, fit)
        self._check_sizes(source.size, target)
        self._check_model_is_served(chain, model)
        auto = provider == "auto"
        cancel = cancel if cancel is not None else threading.Event()
        order, note = self._arranged(chain) if auto else (chain, "")
        attempts: list[Attempt] = []
        color = source.color
        for number, native in enumerate(target.passes):
            stage = source if number == 0 else dataclasses.replace(source, color=color, alpha=None)
            run = Run(stage, native, model, options, progress, cancel, hedging=auto and self.hedge.enabled)
            walk, bypassed = self._walk_or_bypass(run, order)
            attempts += walk.attempts
            if walk.color is None:
                raise AllTiersFailed(attempts)
            color = walk.color
            note = "; ".join(filter(None, [note, bypassed]))
        return _result(source, target, attempts, color, note)

    def _walk_or_bypass(self, run: Run, order: list[str]) -> tuple["_Walk", str]:
        if run.hedging:
            self.hedge_budget.earn()
        walk = self._walk(run, order)
        if walk.color is None and walk.every_tier_open:
            # Every tier was skipped by a breaker open for a cooldown of ours (Portkey's rule): try them anyway
            # rather than fail. A chain of one tier still cools down (LiteLLM's lesson), and a Retry-After or a
            # rejected token is never bypassed (those breakers are not bypassable).
            return self._walk(run.bypassing_breakers(), order), "every tier's breaker was open, so each was tried anyway"
        return walk, ""

    def _check_sizes(self, size: tuple[int, int], target: Target) -> None:
        """Every size the run makes within the output limit: each pass's, the final resize's."""
        limit = self.config.max_output_pixels
        reached = size
        for native in target.passes:
            reached = images.check_output_size(reached, native, limit)
        images.check_output_size(target.resized, 1, limit)

    def _walk(self, run: Run, order: list[str]) -> "_Walk":
        """The tiers of ``order`` in turn until one delivers."""
        walk = _Walk()
        index = 0
        while index < len(order):
            run.stop_if_cancelled()
            tried, color, skipped_open = self._step(run, order, index)
            walk.attempts += tried
            walk.skipped_open += skipped_open
            index += len(tried)
            if color is not None:
                walk.color = color
                break
        return walk

    def _step(self, run: Run, order: list[str], index: int) -> tuple[list[Attempt], np.ndarray | None, int]:
        """One tier of the walk: skipped, attempted alone, or raced against the next one. Also says whether the
        tier was skipped by a breaker open for a cooldown of ours (1) or not (0)."""
        admission = self.attempter.admit(run, index + 1, self.provider(order[index]))
        if admission.reason:
            return [self.attempter.skipped(admission)], None, int(admission.breaker_open)
        if run.hedging and index + 1 < len(order):
            hedge_at = time.monotonic() + hedge_delay(self.latency_p95(admission.name, admission.model), self.hedge)
            admit_next = lambda caller: self._hedge(caller, order, index + 1)  # noqa: E731
            return (*race(self.attempter, admission, hedge_at, self.hedge_budget, admit_next), 0)
        attempt, color = self.attempter.attempt(admission)
        return [attempt], color, 0

    def _hedge(self, run: Run, order: list[str], index: int) -> Admission | None:
        """The next tier admitted to run beside a slow one, or None when it cannot start now (its gate is full,
        or a check skips it: the walk reaches it later and records why)."""
        provider = self.provider(order[index])
        if not self.attempter.has_room(provider):
            return None
        admission = self.attempter.admit(run, index + 1, provider)
        return None if admission.reason else admission

    def _arranged(self, chain: list[str]) -> tuple[list[str], str]:
        """The Auto chain as the planner arranges it, and a note when the order changed. A planner problem never
        stops the chain: the configured order runs."""
        if self.planner is None:
            return chain, ""
        try:
            arranged = self.planner.arrange(chain)
            if sorted(arranged.order) != sorted(chain):
                raise ValueError("the planner changed the set of tiers")
        except Exception as error:  # noqa: BLE001 - any planner failure: the configured order, and say so
            log.warning("the planner failed (%s); the configured order runs", error)
            return chain, "order: the configured one (the history could not be read)"
        note = f"order: {arranged.explanation}" if arranged.order != chain else ""
        return list(arranged.order), note

    def _check_model_is_served(self, chain: list[str], model: str | None) -> None:
        if model is not None and not any(self.provider(name).serves(model) for name in chain):
            raise InvalidInput(f"no tier in {', '.join(chain)} serves model {model!r}")


@dataclass
class _Walk:
    attempts: list[Attempt] = field(default_factory=list)
    color: np.ndarray | None = None
    skipped_open: int = 0  # tiers skipped by a breaker open for a cooldown of ours

    @property
    def every_tier_open(self) -> bool:
        """Nothing ran, and the tiers that could have run (two or more) were all skipped only because their
        breakers were cooling down. A single runnable tier still cools down (LiteLLM's lesson)."""
        return self.skipped_open >= 2 and all(a.outcome == "skipped" for a in self.attempts)


def _result(source: images.SourceImage, target: Target, attempts: list[Attempt], color: np.ndarray,
            note: str) -> EnhanceResult:  # fmt: skip
    winner = next(attempt for attempt in reversed(attempts) if attempt.ok)
    notes = list(source.warnings) + list(winner.warnings)
    if not target.is_native:
        steps = " then ".join(f"{native}x" for native in target.passes)
        shape = "" if target.crop is None else f", centre {target.size[0]}x{target.size[1]} cropped"
        notes.append(f"{target.factor:.3g}x: {steps}, resized to {target.resized[0]}x{target.resized[1]}{shape}")
    resized = lanczos_resize(color, target.resized)
    image = images.compose(resized, source)
    if target.crop is not None:
        image = images.crop(image, target.crop)
    return EnhanceResult(
        image=image,
        provider=winner.provider,
        model=winner.model,
        scale=target.factor,
        input_size=source.size,
        attempts=attempts,
        warnings=notes + ([note] if note else []),
        source_format=source.format,
        _source_color=source.color,
    )


__all__ = ["Engine", "Planner", "SCALES"]
