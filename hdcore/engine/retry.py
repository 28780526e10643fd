"""Retries of transient failures inside one tier's deadline: exponential backoff with full jitter.

Only ``TransientError`` (5xx, connection trouble, a model still loading) is retried. A timeout of the whole
tier, a rejected token, a model that is not served and a bad answer would fail the same way again. A provider
whose call may already have started paid work (a Replicate prediction, a Space job) declares
``retry_safe = False`` and is never retried: the engine never repeats a paid create.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from ..config import RetrySettings
from ..errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # at most this many calls after the first
    base_s: float = 0.5  # the first backoff's upper bound; it doubles each time
    max_s: float = 4.0  # no single backoff is longer
    # Injectable so tests never sleep: sleep(seconds) may return early (e.g. ``cancel_event.wait``).
    sleep: Callable[[float], object] | None = field(default=None, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> "RetryPolicy":
        return cls(retries=settings.retries, base_s=settings.backoff_s)

    def backoff(self, retry: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2**retry)), so callers spread out."""
        return self.random() * min(self.max_s, self.base_s * 2**retry)


NO_RETRIES = RetryPolicy(retries=0)


def retryable(error: BaseException) -> bool:
    return isinstance(error, TransientError)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How a call ended after its retries: its value or its error, and how often it was sent again."""

    value: T | None = None
    error: BaseException | None = None
    retries: int = 0

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    deadline: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
    stopped: Callable[[], bool] = lambda: False,
) -> Outcome[T]:
    """``call()``, again after each retryable error while retries are left and the backoff ends before ``deadline``.

    Never raises what ``call`` raises: the error comes back in the ``Outcome`` with the retry count.
    ``deadline`` is on ``policy.clock``; ``stopped()`` true (the caller gave up) ends the retrying at once.
    """
    wait = policy.sleep or sleep
    retry = 0
    while True:
        try:
            return Outcome(value=call(), retries=retry)
        except BaseException as error:  # handed back, not raised: the caller decides what it means
            if not retryable(error) or retry >= policy.retries or stopped():
                return Outcome(error=error, retries=retry)
            delay = policy.backoff(retry)
            if deadline is not None and policy.clock() + delay >= deadline:
                return Outcome(error=error, retries=retry)  # no time to retry: the next tier gets the rest
            retry += 1
            wait(delay)
            if stopped():
                return Outcome(error=error, retries=retry)
