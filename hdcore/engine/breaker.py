"""Circuit breakers: one per provider+model, shared by every engine in the process.

The states are the ones the literature names (Nygard, *Release It!*; pybreaker):

    closed     calls go through; counted failures in a row are tallied
    open       calls are skipped at once, with the reason and the time the breaker lets a trial through
    half-open  exactly one trial call goes through; its success closes the breaker, its failure reopens it

What opens it, and for how long:

    timeout, TransientError (5xx, connection), BadOutput, a provider bug   counted; ``fail_max`` in a row opens
                                                                           it for ``cooldown_s``
    PermanentError (404 / 410)     opens it at once for ``permanent_cooldown_s`` (the model will not come back soon)
    RateLimited (429)              opens it at once for the provider's Retry-After (else ``cooldown_s``)
    AuthError (401 / 403)          opens it until the provider's configuration changes (a fingerprint of it,
                                   never the token itself), however long that takes
    Cancelled                      not a verdict on the provider: a half-open trial is simply handed back

States are small classes over the breaker's counters, so a state object holds nothing of its own; time comes
from an injectable clock, so tests never sleep.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

from ..config import BreakerSettings
from ..errors import AuthError, Cancelled, PermanentError, RateLimited

Clock = Callable[[], float]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


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
        return ""


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
    ):
        self.provider = provider
        self.model = model
        self.settings = settings
        self.clock = clock
        self.wall = wall
        self.listeners = list(listeners)
        self.state: _State = Closed()
        self.failures = 0
        self.cause = ""
        self.opened_at: float | None = None  # clock time
        self.reopens_at = 0.0  # clock time
        self.disabled_for: str | None = None  # the config fingerprint that was rejected
        self.trial_in_flight = False
        self._lock = threading.Lock()

    @property
    def current_state(self) -> str:
        return self.state.name

    def admit(self, fingerprint: str = "") -> str:
        """Before a call: "" to go ahead, else the skip reason. A half-open breaker admits one caller only."""
        if self.state.name == CLOSED:  # the common case answers without the lock: reading a reference is atomic
            return ""
        with self._lock:
            return self.state.admit(self, fingerprint)

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self.trial_in_flight = False
            if self.state.name != CLOSED:
                self._enter(Closed())
        for listener in self.listeners:
            listener.success(self)

    def failed(self, error: BaseException, fingerprint: str = "") -> None:
        if isinstance(error, Cancelled):
            self.released()
            return
        with self._lock:
            self.trial_in_flight = False
            self.failures += 1
            self._judge(error, fingerprint)
        for listener in self.listeners:
            listener.failure(self, error)

    def released(self) -> None:
        """The admitted call ended without a verdict (the caller gave up, or it lost a hedged race)."""
        with self._lock:
            self.trial_in_flight = False

    def reset(self) -> None:
        with self._lock:
            self.failures = 0
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
        return time.strftime("%H:%M:%S", time.localtime(self._as_wall(self.reopens_at)))

    # --- inside the lock ---

    def _judge(self, error: BaseException, fingerprint: str) -> None:
        detail = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, AuthError):
            self._open(f"{detail}", cooldown=None, fingerprint=fingerprint)
        elif isinstance(error, PermanentError):
            self._open(detail, cooldown=self.settings.permanent_cooldown_s)
        elif isinstance(error, RateLimited):
            self._open(detail, cooldown=error.retry_after or self.settings.cooldown_s)
        elif self.state.name == HALF_OPEN or self.failures >= self.settings.fail_max:
            plural = "failure" if self.failures == 1 else "failures"
            self._open(f"{self.failures} {plural} (last: {detail})", cooldown=self.settings.cooldown_s)

    def _open(self, cause: str, cooldown: float | None, fingerprint: str = "") -> None:
        self.cause = cause
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
                    CircuitBreaker(
                        provider, model, settings, clock=self.clock, wall=self.wall, listeners=self.listeners
                    ),
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
