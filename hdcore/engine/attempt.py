"""One attempt at one tier: admit (an ordered list of skip checks) → call within the deadline → judge.

    admit   configured → serves the scale → takes the input size → the model takes it (its declared limits) →
            within budget → breaker closed
            the first check with a reason skips the tier, in microseconds, with nothing sent
    call    through the provider's concurrency gate (waiting there never eats the deadline), then
            ``provider.upscale`` in a worker thread, retried for retry-safe tiers, abandoned at the deadline
    judge   the output decoded and size-checked; the breaker's verdict; the cost settled with the budget;
            the latency recorded for hedging; one ``Attempt`` record
"""

from __future__ import annotations

import logging
import queue
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from .. import images
from ..attempts import Attempt, ProviderOutput
from ..config import BreakerSettings
from ..errors import BadOutput, Cancelled, ConfigError, InvalidImage, InvalidInput, ProviderError
from ..providers.base import Provider, UpscaleRequest
from ..text import one_line
from .breaker import Breakers, CircuitBreaker
from .budget import BudgetGuard, Verdict
from .deadline import call_within_deadline
from .gates import Gates
from .hedging import LatencyWindows
from .retry import NO_RETRIES, RetryPolicy
from .run import Run
from .trial import background_prober

log = logging.getLogger(__name__)


@dataclass
class Admission:
    """A tier on its way in: what it would run, and what admitting it holds (a budget hold, a breaker trial)."""

    run: Run
    position: int  # 1-based place in the chain
    provider: Provider
    reason: str = ""  # why it is skipped; "" while admitted
    budget: Verdict = field(default_factory=Verdict)
    breaker: CircuitBreaker | None = None
    fingerprint: str = ""

    @cached_property
    def model(self) -> str:
        """The model this tier runs (may raise InvalidInput for bad options; asked only once it serves the scale)."""
        return self.provider.model_for(self.run.model, self.run.scale, self.run.options)

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def breaker_open(self) -> bool:
        """Skipped by a breaker open for a cooldown of ours (the kind a chain of open tiers may bypass)."""
        return bool(self.reason) and self.breaker is not None and self.breaker.bypassable()


Check = Callable[["Attempter", Admission], str]


def configured(attempter: "Attempter", admission: Admission) -> str:
    provider = admission.provider
    return "" if provider.is_configured() else provider.not_configured_reason()


def serves_scale(attempter: "Attempter", admission: Admission) -> str:
    provider, run = admission.provider, admission.run
    model = run.model if run.model is not None and provider.serves(run.model) else None
    return "" if run.scale in provider.scales(model) else f"does not support {run.scale}x"


def takes_input_size(attempter: "Attempter", admission: Admission) -> str:
    return admission.provider.skip_reason(admission.run.source.size, admission.run.scale)


def fits_the_model(attempter: "Attempter", admission: Admission) -> str:
    run = admission.run
    return admission.provider.preflight(admission.model, run.source.size, run.scale)


def within_budget(attempter: "Attempter", admission: Admission) -> str:
    run, provider = admission.run, admission.provider
    estimate = provider.estimate_cost(admission.model, run.source.size, run.scale)
    admission.budget = attempter.budget.check(provider.name, estimate, run.spend.usd)
    return admission.budget.reason


def breaker_closed(attempter: "Attempter", admission: Admission) -> str:
    provider = admission.provider
    admission.fingerprint = provider.config_fingerprint()
    breaker = attempter.breakers.get(admission.name, admission.model, attempter.breaker_settings)
    if admission.run.bypass_breakers and breaker.bypassable():
        return ""  # every tier of the chain was open for a cooldown of ours: try this one anyway (not a trial)
    admission.breaker = breaker
    try:
        return breaker.admit(admission.fingerprint, background_prober(provider, admission.model))
    except Exception:  # noqa: BLE001 - a breaker problem must never stop the chain: no breaker, no skip
        log.exception("circuit breaker of %s failed; the tier runs as if it were closed", admission.name)
        admission.breaker = None
        return ""


CHECKS: tuple[Check, ...] = (configured, serves_scale, takes_input_size, fits_the_model, within_budget, breaker_closed)


class Attempter:
    """Admits, runs and judges attempts. Holds what every attempt of one engine shares; no per-call state."""

    def __init__(self, *, breakers: Breakers, breaker_settings: BreakerSettings, budget: BudgetGuard,
                 gates: Gates, latencies: LatencyWindows, retry: RetryPolicy):  # fmt: skip  # the engine's parts
        self.breakers = breakers
        self.breaker_settings = breaker_settings
        self.budget = budget
        self.gates = gates
        self.latencies = latencies
        self.retry = retry

    # --- admit ---------------------------------------------------------------------------------------

    def admit(self, run: Run, position: int, provider: Provider) -> Admission:
        """The tier, admitted (``reason`` "") or skipped with the first check's reason (nothing left held)."""
        admission = Admission(run, position, provider)
        for check in CHECKS:
            reason = check(self, admission)
            if reason:
                admission.reason = reason
                self._release(admission, sent=False)
                return admission
        return admission

    def skipped(self, admission: Admission) -> Attempt:
        """The record of a skipped tier (the caller's model: a skipped tier never resolved one of its own,
        unless the budget or the breaker skipped it)."""
        model = admission.__dict__.get("model", admission.run.model)
        admission.run.notify(admission.position, admission.name, model, "skipped", message=admission.reason)
        return Attempt(admission.position, admission.name, model, "skipped", admission.reason)

    def has_room(self, provider: Provider) -> bool:
        return self.gates.has_room(provider.name, provider.max_concurrency())

    # --- call and judge ------------------------------------------------------------------------------

    def attempt(self, admission: Admission) -> tuple[Attempt, np.ndarray | None]:
        """Run an admitted tier. Returns its record and, on success, the validated colour image.

        Raises the caller's mistakes (InvalidInput, ConfigError) and Cancelled, after releasing what the
        admission held; every other failure is this tier's, recorded.
        """
        run, provider = admission.run, admission.provider
        gate = self.gates.gate(provider.name, provider.max_concurrency())
        try:
            with gate.slot(lambda place: self._waiting(admission, place), run.stop_if_cancelled) if gate \
                    else nullcontext():
                return self._call(admission)
        except (InvalidInput, ConfigError, Cancelled):
            self._release(admission, sent=True)
            raise

    def _call(self, admission: Admission) -> tuple[Attempt, np.ndarray | None]:
        run, provider = admission.run, admission.provider
        timeout = provider.timeout()
        started = time.monotonic()
        reports: queue.SimpleQueue[tuple[str, int, int]] = queue.SimpleQueue()
        request = UpscaleRequest(
            image=run.source.color, scale=run.scale, model=admission.model, options=run.options,
            deadline=None if timeout is None else started + timeout,
            progress=None if run.progress is None else lambda done, total: reports.put(("progress", done, total)),
            waiting=None if run.progress is None else lambda place: reports.put(("waiting", place, 0)),
        )  # fmt: skip

        def deliver() -> None:  # providers report from their worker thread; the caller hears on its own
            while not reports.empty():
                stage, done, total = reports.get()
                run.notify(admission.position, admission.name, admission.model, stage, done, total)  # type: ignore[arg-type]

        run.notify(admission.position, admission.name, admission.model, "start")
        retry = self.retry if provider.info.retry_safe else NO_RETRIES
        retries = 0
        try:
            outcome = call_within_deadline(provider, request, run.cancel, deliver if run.progress else None, retry)
            retries = outcome.retries
            color = validated(outcome.unwrap(), request, provider.name)
        except (InvalidInput, ConfigError, Cancelled):
            raise
        except Exception as error:  # a tier's failure, or a provider bug: neither may take the chain down
            return self._failed(admission, error, time.monotonic() - started, retries), None
        return self._succeeded(admission, outcome.value, request, time.monotonic() - started, retries), color

    def _succeeded(self, admission: Admission, output: Any, request: UpscaleRequest, latency: float,
                   retries: int) -> Attempt:  # fmt: skip
        if admission.breaker is not None:
            admission.breaker.succeeded()
        self.latencies.record(admission.name, admission.model, latency)
        self.budget.settle(admission.budget, output.cost.usd)
        admission.run.spend.add(output.cost.usd)
        note = (f"succeeded after {_retries(retries)} of transient errors",) if retries else ()
        attempt = Attempt(
            tier=admission.position, provider=admission.name, model=output.model or admission.model, outcome="ok",
            latency_s=latency, cost_usd=output.cost.usd, cost_kind=output.cost.kind,
            output_size=request.output_size, warnings=tuple(output.warnings) + note,
        )  # fmt: skip
        admission.run.notify(admission.position, admission.name, attempt.model, "ok", message=f"{latency:.1f} s")
        return attempt

    def _failed(self, admission: Admission, error: Exception, latency: float, retries: int) -> Attempt:
        if admission.breaker is not None:
            admission.breaker.failed(error, admission.fingerprint)
        self._settle_failure(admission, getattr(error, "cost_usd", None))
        if isinstance(error, ProviderError):
            reason, outcome, model = one_line(str(error)) or type(error).__name__, error.outcome, error.model
        else:
            reason, outcome, model = f"unexpected {type(error).__name__}: {one_line(str(error))}", "error", None
        attempt = Attempt(admission.position, admission.name, model or admission.model, outcome,
                          reason + _after(retries), latency)  # fmt: skip
        admission.run.notify(admission.position, admission.name, admission.model, "failed", message=attempt.reason)
        return attempt

    def lost(self, admission: Admission, winner: str, latency: float) -> Attempt:
        """The record of a hedged attempt cancelled because the other tier won (its own thread, stopping, hands
        back what it held); what it may have cost stays unknown."""
        return Attempt(admission.position, admission.name, admission.model, "error",
                       f"hedged: lost the race to {winner}; cancelled", latency)  # fmt: skip

    def _release(self, admission: Admission, sent: bool) -> None:
        """No verdict on the tier (skipped, the caller gave up, or it lost a race): hand back what it held.

        A request that was ``sent`` may have been billed; one that never left costs nothing."""
        if admission.breaker is not None and not admission.reason:
            admission.breaker.released()
        if sent:
            self._settle_failure(admission, None)
        else:
            self.budget.settle(admission.budget, 0.0)

    def _settle_failure(self, admission: Admission, known_cost: float | None) -> None:
        # A paid tier that may bill a failed call keeps its estimate as spent, unless the failure says its cost.
        billed = admission.provider.info.bills_failed_calls
        cost = known_cost if known_cost is not None else (admission.budget.estimate_usd if billed else 0.0)
        self.budget.settle(admission.budget, cost)
        admission.run.spend.add(cost)

    def _waiting(self, admission: Admission, place: int) -> None:
        admission.run.notify(admission.position, admission.name, admission.model, "waiting", place)


def validated(output: ProviderOutput, request: UpscaleRequest, name: str) -> np.ndarray:
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


def _retries(count: int) -> str:
    return f"{count} retry" if count == 1 else f"{count} retries"


def _after(retries: int) -> str:
    return f" (after {_retries(retries)})" if retries else ""
