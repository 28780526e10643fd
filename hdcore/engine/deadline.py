"""One provider call within its deadline: a worker thread, waited on until the deadline, whatever it does."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable

from ..attempts import ProviderOutput
from ..errors import Cancelled, ProviderTimeout
from ..providers.base import Provider, UpscaleRequest
from .retry import NO_RETRIES, Outcome, RetryPolicy, call_with_retries

POLL_S = 0.05  # how often a waiting engine looks at the caller's cancel flag and at progress reports


def call_within_deadline(
    provider: Provider,
    request: UpscaleRequest,
    cancel: threading.Event,
    on_wake: Callable[[], None] | None = None,
    retry: RetryPolicy = NO_RETRIES,
) -> Outcome[ProviderOutput]:
    """``provider.upscale(request)`` (retried per ``retry``) in a worker thread; stop waiting at the deadline.

    Returns the call's outcome (its value or error, and its retry count). Raises ``Cancelled`` when ``cancel``
    is set and ``ProviderTimeout`` at the deadline, after telling the provider to cancel its work. A daemon
    thread, not an executor: a provider that ignores its deadline must not hold up interpreter exit.
    """
    done: Future[Outcome[ProviderOutput]] = Future()

    def work() -> None:
        done.set_result(call_with_retries(
            lambda: provider.upscale(request), retry, deadline=request.deadline,
            sleep=request.cancel_event.wait,  # a backoff ends early when the tier is abandoned
            stopped=request.cancel_event.is_set,
        ))  # fmt: skip

    threading.Thread(target=work, name=f"hdcore-{provider.name}", daemon=True).start()
    while True:
        try:
            outcome = done.result(_wait_step(request))
            break
        except FutureTimeout:
            pass
        if on_wake is not None:
            on_wake()
        if cancel.is_set():
            _abandon(provider, request)
            raise Cancelled("cancelled by the caller", provider=provider.name, model=request.model)
        if request.deadline is not None and time.monotonic() >= request.deadline:
            _abandon(provider, request)
            raise timed_out(provider, request)
    if on_wake is not None:
        on_wake()
    error = outcome.error
    if isinstance(error, ProviderTimeout) and error.at_deadline and provider.timeout() is not None:
        # The provider's own check noticed the engine's deadline first (a race under load): the same reason.
        return Outcome(error=timed_out(provider, request), retries=outcome.retries)
    return outcome


def timed_out(provider: Provider, request: UpscaleRequest) -> ProviderTimeout:
    timeout = provider.timeout()
    after = f"after {timeout:.1f} s" if timeout is not None else "at the deadline"
    return ProviderTimeout(f"timed out {after}", provider=provider.name, model=request.model)


def _wait_step(request: UpscaleRequest) -> float:
    left = request.time_left()
    return POLL_S if left is None else min(POLL_S, left)


def _abandon(provider: Provider, request: UpscaleRequest) -> None:
    request.cancel_event.set()
    try:
        provider.cancel(request)
    except Exception:  # cancelling is best effort; the attempt is already lost
        pass
