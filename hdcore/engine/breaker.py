"""Circuit breakers: one per provider+model, shared by every engine in the process, so that a dead or slow tier
costs the user nothing after its first failure.

The states are the ones the literature names (Nygard, *Release It!*; pybreaker):

    closed     calls go through; outcomes are counted
    open       calls are skipped at once, with the reason and the time the breaker lets a trial through
    half-open  exactly one trial goes through: in the background when the tier can be probed for free (no user
               waits on a tier that may still be down), else the next user's call; its success closes the
               breaker, its failure reopens it for a longer cooldown

What opens it, and for how long (README "Resilience"):

    timeout, connection failure, 5xx   at once, for ``cooldown_s`` (15 s), doubling on each reopening
    (TransientError, ProviderTimeout)   without a success in between, up to ``max_cooldown_s`` (5 min)
    BadOutput, a provider bug          counted: ``fail_max`` in a row, or ``failure_rate`` of at least
                                       ``min_requests`` calls in the last ``window_s``, opens it as above
    PermanentError (404 / 410)         at once for ``permanent_cooldown_s`` (1 h): the model is not served
    RateLimited (429)                  at once for the provider's Retry-After, bounded to ``max_retry_after_s``
    AuthError (401 / 403)              until the provider's configuration changes (a fingerprint of it, never the
                                       token itself), however long that takes
    RequestRejected (400, 413, 422)    no verdict: that request was wrong, not the tier
    Cancelled                          no verdict: a half-open trial is simply handed back

Every duration from outside is bounded, so no Retry-After can put a reopening past what a clock can print.
States are small classes over the breaker's counters; time comes from an injectable clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable, Sequence

from ..config import BreakerSettings
from ..errors import (
    AuthError, Cancelled, PermanentError, ProviderTimeout, RateLimited, RequestRejected, TransientError,
)  # fmt: skip

Clock = Callable[[], float]
Prober = Callable[["CircuitBreaker"], bool]  # starts a background trial of the breaker's tier; False: cannot

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
MAX_DOUBLINGS = 16  # 2**16 x any cooldown is past any maximum: stop counting there


class BreakerListener:
    """Hooks with no-op defaults; override the ones you need (e.g. to log or to store history)."""

    def state_change(self, breaker: "CircuitBreaker", old: str, new: str) -> None:
        pass

    def failure(self, breaker: "CircuitBreaker", error: BaseException) -> None:
        pass

    def success(self, breaker: "CircuitBreaker") -> None:
        pass


# --- states -----------------------------------------------------------------------------------------------


class _State:
    name = ""

    def admit(self, breaker: "CircuitBreaker", fingerprint: str) -> str:
        """"" to let the call through, else why it is skipped."""
        raise NotImplementedError


class Closed(_State):
    name = CLOSED

    def admit(self, breaker: "CircuitBreaker", fingerprint: str) -> str:
        return ""


class Open(_State):
    name = OPEN

    def admit(self, breaker: "CircuitBreaker", fingerprint: str) -> str:
        if breaker.disabled_for is not None:
            if fingerprint != breaker.disabled_for:  # new token or endpoint: worth a fresh start
                breaker._enter(Closed())
                return ""
            return f"disabled after {breaker.cause}; until its configuration changes"
        if breaker.clock() >= breaker.reopens_at:
            breaker._enter(HalfOpen())
            return breaker.state.admit(breaker, fingerprint)
        return f"circuit open after {breaker.cause}; retry at {breaker.reopen_text()}"


class HalfOpen(_State):
    name = HALF_OPEN

    def admit(self, breaker: "CircuitBreaker", fingerprint: str) -> str:
        if breaker.trial_in_flight:  # one trial only: the others would pile onto a provider that may be down
            return "circuit half-open: a trial call is in flight"
        breaker.trial_in_flight = True
        prober = breaker.prober_now
        if prober is not None and prober(breaker):
            return "circuit half-open: checking the tier in the background"
        return ""  # no free background trial: this caller's call is the trial


# --- the breaker ------------------------------------------------------------------------------------------


class CircuitBreaker:
    """The breaker of one provider+model. Every method is thread-safe and does no I/O."""

    def __init__(
        self,
        provider: str,
        model: str | None,
        settings: BreakerSettings = BreakerSettings(),
        *,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        listeners: Sequence[BreakerListener] = (),
    ):  # the breaker's identity and settings, then its injectable parts (keywords, each with a default)
        self.provider = provider
        self.model = model
        self.settings = settings
        self.clock = clock
        self.wall = wall
        self.listeners = list(listeners)
        self.prober_now: Prober | None = None  # the prober of the admit in progress (set under the lock)
        self.state: _State = Closed()
        self.failures = 0  # counted failures in a row
        self.openings = 0  # reopenings without a success in between: each doubles the cooldown
        self.recent: deque[tuple[float, bool]] = deque()  # (clock time, failed) of the last window_s
        self.cause = ""
        self.opened_at: float | None = None  # clock time
        self.reopens_at = 0.0  # clock time
        self.disabled_for: str | None = None  # the config fingerprint that was rejected
        self.rate_limited = False  # opened by a 429: the provider asked us to wait, so never bypassed
        self.trial_in_flight = False
        self._lock = threading.Lock()

    @property
    def current_state(self) -> str:
        return self.state.name

    def admit(self, fingerprint: str = "", prober: Prober | None = None) -> str:
        """Before a call: "" to go ahead, else the skip reason. A half-open breaker admits one caller only, or
        none when ``prober`` can run the trial in the background."""
        if self.state.name == CLOSED:  # the common case answers without the lock: reading a reference is atomic
            return ""
        with self._lock:
            self.prober_now = prober
            try:
                return self.state.admit(self, fingerprint)
            finally:
                self.prober_now = None

    def bypassable(self) -> bool:
        """Open only for a cooldown of ours: when every tier of a chain is so, the engine may try them anyway.
        A Retry-After (429) or a rejected token (401 / 403) is never bypassed."""
        with self._lock:
            return self.state.name == OPEN and self.disabled_for is None and not self.rate_limited

    def reopens_in(self) -> float | None:
        """Seconds until an open breaker lets a trial through; None when it is not waiting on a clock."""
        with self._lock:
            if self.state.name != OPEN or self.disabled_for is not None:
                return None
            return max(0.0, self.reopens_at - self.clock())

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self.openings = 0
            self.trial_in_flight = False
            self._remember(failed=False)
            if self.state.name != CLOSED:
                self._enter(Closed())
        for listener in self.listeners:
            listener.success(self)

    def failed(self, error: BaseException, fingerprint: str = "") -> None:
        if isinstance(error, (Cancelled, RequestRejected)):  # no verdict on the tier
            self.released()
            return
        with self._lock:
            self.trial_in_flight = False
            self.failures += 1
            self._remember(failed=True)
            self._judge(error, fingerprint)
        for listener in self.listeners:
            listener.failure(self, error)

    def released(self) -> None:
        """The admitted call ended without a verdict (the caller gave up, it lost a hedged race, or the request
        itself was refused)."""
        with self._lock:
            self.trial_in_flight = False

    def reset(self) -> None:
        with self._lock:
            self.failures = 0
            self.openings = 0
            self.recent.clear()
            self._enter(Closed())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            is_open = self.state.name == OPEN
            return {
                "provider": self.provider,
                "model": self.model,
                "state": self.state.name,
                "failures": self.failures,
                "opened_at": self._as_wall(self.opened_at) if self.opened_at is not None else None,
                "reopens_at": self._as_wall(self.reopens_at) if is_open and self.disabled_for is None else None,
                "disabled": self.disabled_for is not None,
                "reason": self.cause if self.state.name != CLOSED else "",
            }

    def reopen_text(self) -> str:
        try:
            return time.strftime("%H:%M:%S", time.localtime(self._as_wall(self.reopens_at)))
        except (OverflowError, OSError, ValueError):  # a clock past what the OS can print: say it plainly
            return "a later time"

    # --- inside the lock ---

    def _judge(self, error: BaseException, fingerprint: str) -> None:
        settings = self.settings
        detail = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, AuthError):
            self._open(detail, cooldown=None, fingerprint=fingerprint)
        elif isinstance(error, PermanentError):
            self._open(detail, cooldown=settings.permanent_cooldown_s)
        elif isinstance(error, RateLimited):
            wait = error.retry_after if _finite_positive(error.retry_after) else settings.cooldown_s
            self._open(detail, cooldown=min(wait, settings.max_retry_after_s), rate_limited=True)
        elif isinstance(error, (ProviderTimeout, TransientError)) or self.state.name == HALF_OPEN:
            self._open(detail, cooldown=self._growing_cooldown())  # the tier is down or slow: spare the next caller
        elif self.failures >= settings.fail_max or self._failure_rate_reached():
            plural = "failure" if self.failures == 1 else "failures"
            self._open(f"{self.failures} {plural} (last: {detail})", cooldown=self._growing_cooldown())
        # else: a bad answer or a provider bug is counted; one alone does not open the breaker

    def _growing_cooldown(self) -> float:
        settings = self.settings
        self.openings = min(self.openings + 1, MAX_DOUBLINGS)
        return min(settings.max_cooldown_s, settings.cooldown_s * 2 ** (self.openings - 1))

    def _remember(self, failed: bool) -> None:
        now = self.clock()
        self.recent.append((now, failed))
        while self.recent and self.recent[0][0] < now - self.settings.window_s:
            self.recent.popleft()

    def _failure_rate_reached(self) -> bool:
        settings = self.settings
        if len(self.recent) < settings.min_requests:
            return False
        failed = sum(1 for _, was_failure in self.recent if was_failure)
        return failed / len(self.recent) >= settings.failure_rate

    def _open(self, cause: str, cooldown: float | None, fingerprint: str = "", rate_limited: bool = False) -> None:
        self.cause = cause
        self.rate_limited = rate_limited
        self.opened_at = self.clock()
        self.disabled_for = fingerprint if cooldown is None else None
        self.reopens_at = self.opened_at + (cooldown or 0.0)
        self._enter(Open())

    def _enter(self, state: _State) -> None:
        old = self.state.name
        self.state = state
        self.trial_in_flight = False
        if state.name == CLOSED:
            self.failures = 0
            self.disabled_for = None
            self.opened_at = None
        if old != state.name:
            for listener in self.listeners:
                listener.state_change(self, old, state.name)

    def _as_wall(self, clock_time: float) -> float:
        return self.wall() + (clock_time - self.clock())


def _finite_positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


class Breakers:
    """The breakers of one process, keyed by provider+model; engines share it (``process_breakers``)."""

    def __init__(
        self, *, clock: Clock = time.monotonic, wall: Clock = time.time, listeners: Sequence[BreakerListener] = ()
    ):
        self.clock = clock
        self.wall = wall
        self.listeners = list(listeners)
        self._breakers: dict[tuple[str, str | None], CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, model: str | None, settings: BreakerSettings = BreakerSettings()) -> CircuitBreaker:
        """The breaker of provider+model; made with ``settings`` on first use, shared after that."""
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.setdefault(
                    key,
                    CircuitBreaker(provider, model, settings, clock=self.clock, wall=self.wall,
                                   listeners=self.listeners),  # fmt: skip
                )
        return breaker

    def reset(self, provider: str | None = None, model: str | None = None) -> None:
        """Close the breakers of ``provider`` (every model unless ``model``), or every breaker when None."""
        for (name, model_name), breaker in list(self._breakers.items()):
            if provider is None or (name == provider and (model is None or model_name == model)):
                breaker.reset()

    def snapshot(self) -> list[dict[str, Any]]:
        return [breaker.snapshot() for breaker in list(self._breakers.values())]

    def clear(self) -> None:
        """Forget every breaker (and the settings each was made with), as a fresh process would."""
        with self._lock:
            self._breakers.clear()


process_breakers = Breakers()


def reset(provider: str | None = None, model: str | None = None) -> None:
    """Close this process's breakers of ``provider`` (and ``model``); the Health page's reset button."""
    process_breakers.reset(provider, model)


def snapshot() -> list[dict[str, Any]]:
    """Every breaker of this process: provider, model, state, failures, opened_at / reopens_at (epoch s), reason."""
    return process_breakers.snapshot()
