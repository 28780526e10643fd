"""A half-open breaker's trial in the background: a tiny image through the tier, on a thread of its own, so no
user's request is the one that finds out whether a tier is back.

Only for a tier that can be probed for free (its price estimate for the tiny call is zero and a failed call is
not billed); a paid tier's trial is the next user's call, as before.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..errors import HDCoreError
from ..providers.base import Provider, UpscaleRequest
from .breaker import CircuitBreaker, Prober
from .deadline import call_within_deadline

TRIAL_SIDE = 16  # px: the probe's image, as ``Engine.probe`` sends
TRIAL_TIMEOUT_S = 30.0  # for a tier configured without a deadline


def background_prober(provider: Provider, model: str) -> Prober | None:
    """A prober for ``provider``'s ``model``, or None when a trial would cost money."""
    scale = min(provider.scales(model) or (2,))
    try:
        estimate = provider.estimate_cost(model, (TRIAL_SIDE, TRIAL_SIDE), scale)
    except HDCoreError:
        return None
    if estimate.usd > 0 or provider.info.bills_failed_calls:
        return None

    def start(breaker: CircuitBreaker) -> bool:
        threading.Thread(target=_trial, args=(provider, model, scale, breaker),
                         name=f"hdcore-trial-{provider.name}", daemon=True).start()  # fmt: skip
        return True

    return start


def _trial(provider: Provider, model: str, scale: int, breaker: CircuitBreaker) -> None:
    from .attempt import validated  # the attempt's own output check: a trial passes only what a call would

    image = np.linspace(0.0, 1.0, TRIAL_SIDE * TRIAL_SIDE * 3, dtype=np.float32).reshape(TRIAL_SIDE, TRIAL_SIDE, 3)
    timeout = provider.timeout() or TRIAL_TIMEOUT_S
    request = UpscaleRequest(image=image, scale=scale, model=model, deadline=time.monotonic() + timeout)
    try:
        outcome = call_within_deadline(provider, request, threading.Event())
        validated(outcome.unwrap(), request, provider.name)
    except Exception as error:  # the trial failed: the breaker reopens for a longer cooldown
        breaker.failed(error)
        return
    breaker.succeeded()
