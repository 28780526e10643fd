"""``GET /metrics``: the server's figures in Prometheus' text format, with the official client.

    hdcore_requests_total{endpoint, provider, outcome}   answered requests; provider is the winning tier
                                                          ("none" without an image), outcome ok / failed /
                                                          bad_input / too_large / unauthorized / rejected /
                                                          deadline / disconnected / shutting_down / error
    hdcore_request_seconds{endpoint}                      each job's time, from its start to its answer
    hdcore_attempts_total{provider, outcome}              every tier tried (ok / error / timeout / skipped)
    hdcore_attempt_seconds{provider}                      each tier's latency (histogram), skips left out
    hdcore_cost_usd_total{provider}                       what the attempts cost, measured or estimated
    hdcore_breaker_state{provider, model, state}          1 for each breaker's current state, 0 for the others
    hdcore_queue_waiting, hdcore_requests_active          the line in front of the tiers, requests in flight
    hdcore_queue_limit, hdcore_requests_limit             their bounds

Each server has its own registry, so two servers in one process (the tests) never share a figure.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from ..attempts import Attempt
from ..engine.breaker import CLOSED, HALF_OPEN, OPEN, Breakers
from .queue import WorkQueue

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a Lanczos resize (milliseconds) to a slow Space or a best-preset local run (minutes).
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
BREAKER_STATES = (CLOSED, HALF_OPEN, OPEN)
NO_PROVIDER = "none"


class ServeMetrics:
    def __init__(self, breakers: Breakers, queue: WorkQueue):
        self.registry = CollectorRegistry()
        self.requests = Counter("hdcore_requests", "Answered requests by endpoint, winning provider and outcome",
                                ("endpoint", "provider", "outcome"), registry=self.registry)  # fmt: skip
        self.request_seconds = Histogram("hdcore_request_seconds", "Time of each job, from its start to its answer",
                                         ("endpoint",), buckets=SECONDS_BUCKETS, registry=self.registry)  # fmt: skip
        self.attempts = Counter("hdcore_attempts", "Tiers tried, by provider and outcome", ("provider", "outcome"),
                                registry=self.registry)  # fmt: skip
        self.attempt_seconds = Histogram("hdcore_attempt_seconds", "Latency of each tier's attempts", ("provider",),
                                         buckets=SECONDS_BUCKETS, registry=self.registry)  # fmt: skip
        self.cost = Counter("hdcore_cost_usd", "USD the attempts cost (measured, else estimated)", ("provider",),
                            registry=self.registry)  # fmt: skip
        self.registry.register(_LiveFigures(breakers, queue))

    def answered(self, endpoint: str, outcome: str, provider: str | None = None,
                 attempts: Sequence[Attempt] = (), seconds: float | None = None) -> None:  # fmt: skip
        """One request answered: its outcome, its time, and every tier it tried."""
        self.requests.labels(endpoint, provider or NO_PROVIDER, outcome).inc()
        if seconds is not None:
            self.request_seconds.labels(endpoint).observe(seconds)
        for attempt in attempts:
            self.attempts.labels(attempt.provider, attempt.outcome).inc()
            if attempt.outcome != "skipped":
                self.attempt_seconds.labels(attempt.provider).observe(attempt.latency_s)
            if attempt.cost_usd > 0:
                self.cost.labels(attempt.provider).inc(attempt.cost_usd)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveFigures:
    """What is read at scrape time: the breakers' states and the queue's counters."""

    def __init__(self, breakers: Breakers, queue: WorkQueue):
        self.breakers = breakers
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily("hdcore_breaker_state", "1 for each circuit breaker's current state",
                                   labels=("provider", "model", "state"))  # fmt: skip
        for breaker in self.breakers.snapshot():
            for state in BREAKER_STATES:
                labels = (breaker["provider"], breaker["model"] or "", state)
                states.add_metric(labels, float(breaker["state"] == state))
        yield states
        yield from _gauges((
            ("hdcore_queue_waiting", "Requests waiting in the local tier's line", self.queue.waiting),
            ("hdcore_queue_limit", "Requests that may wait in that line", self.queue.max_waiting),
            ("hdcore_requests_active", "Requests in flight", self.queue.active),
            ("hdcore_requests_limit", "Requests that may be in flight", self.queue.max_active),
        ))  # fmt: skip

    def describe(self) -> list[Metric]:
        return []


def _gauges(rows: Iterable[tuple[str, str, float]]) -> Iterator[Metric]:
    for name, documentation, value in rows:
        yield GaugeMetricFamily(name, documentation, value=value)
