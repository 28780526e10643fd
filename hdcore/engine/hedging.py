"""Hedged requests ("The Tail at Scale", Dean & Barroso): when a tier is slower than it usually is, start the
next tier beside it and keep whichever valid image comes first.

Three small pieces the engine combines:

    LatencyWindows   recent successful latencies per provider+model, and their p95
    hedge_delay      how long to wait before hedging: the p95, bounded, or a default with no history
    HedgeBudget      a token bucket: each request earns ``ratio`` of a hedge, a hedge spends one, so hedges
                     stay near ``ratio`` of requests (the extra spend is capped)
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Sequence

from ..config import HedgeSettings


class LatencyWindows:
    """The last ``size`` successful latencies of each provider+model, in memory."""

    def __init__(self, size: int = 100):
        self.size = size
        self._windows: dict[tuple[str, str | None], deque[float]] = {}
        self._lock = threading.Lock()

    def record(self, provider: str, model: str | None, latency_s: float) -> None:
        with self._lock:
            self._windows.setdefault((provider, model), deque(maxlen=self.size)).append(latency_s)

    def latency_p95(self, provider: str, model: str | None) -> float | None:
        """The 95th percentile of the window, or None before the first success."""
        with self._lock:
            window = sorted(self._windows.get((provider, model), ()))
        return percentile(window, 95)


def hedge_delay(p95: float | None, settings: HedgeSettings) -> float:
    if p95 is None:
        return settings.default_delay_s
    return min(settings.max_delay_s, max(settings.min_delay_s, p95))


class HedgeBudget:
    """A token bucket of hedges: ``earn()`` once per request adds ``ratio``; ``spend()`` takes one if there is one."""

    def __init__(self, ratio: float, burst: float | None = None):
        self.ratio = max(0.0, ratio)
        # The bucket holds what 20 requests earn (at least one hedge): slow answers come in bursts (a provider
        # having a bad minute), and a bucket of one would leave all but the first of them unhedged.
        self.burst = max(1.0, burst if burst is not None else 20 * self.ratio)
        self._tokens = self.burst if self.ratio > 0 else 0.0  # a zero budget means no hedging at all
        self._lock = threading.Lock()

    def earn(self) -> None:
        with self._lock:
            self._tokens = min(self.burst, self._tokens + self.ratio)

    def refund(self) -> None:
        """Give back a hedge spent on a tier that could not start after all."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1.0)

    def spend(self) -> bool:
        with self._lock:
            if self._tokens < 1.0 - 1e-9:  # ten earns of 0.1 sum to 0.999...; they are one hedge
                return False
            self._tokens -= 1.0
            return True


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default): p50 of 1..10 is 5.5, p95 is 9.55.

    The one percentile of hdcore: hedge delays and the Health page's p50 / p95 use it alike.
    """
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
