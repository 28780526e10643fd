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
from typing import Callable, TypeVar

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

    def backoff(self, retry: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2**retry)), so callers spread out."""
        return self.random() * min(self.max_s, self.base_s * 2**retry)


NO_RETRIES = RetryPolicy(retries=0)


def retryable(error: BaseException) -> bool:
    return isinstance(error, TransientError)


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    deadline: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
    stopped: Callable[[], bool] = lambda: False,
    on_retry: Callable[[int, BaseException], None] = lambda retry, error: None,
) -> T:
    """``call()``, again after each retryable error while retries are left and the backoff ends before ``deadline``.

    ``deadline`` is on ``policy.clock``; ``stopped()`` true (the caller gave up) ends the retrying at once.
    """
    wait = policy.sleep or sleep
    retry = 0
    while True:
        try:
            return call()
        except BaseException as error:
            if not retryable(error) or retry >= policy.retries or stopped():
                raise
            delay = policy.backoff(retry)
            if deadline is not None and policy.clock() + delay >= deadline:
                raise  # the retry could not finish in time anyway; let the next tier have the rest
            retry += 1
            on_retry(retry, error)
            wait(delay)
            if stopped():
                raise
