"""``GET /metrics``, scraped and parsed as Prometheus would: requests by provider and outcome, attempts and
their latency per tier, cost, breaker states, the queue."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hdcore import Config
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN, ReplicateServer, ReplicateState
from tests.serve.live import LiveServer, data_uri, service


def scraped(url: str) -> dict[str, dict[tuple, float]]:
    """Every sample by name, keyed by its labels (sorted pairs)."""
    answer = httpx.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_the_metrics_count_requests_attempts_latency_cost_breakers_and_the_queue():
    with ReplicateServer(ReplicateState(predict_time=2.0)) as replicate:
        config = Config(order=("replicate", "lanczos"), prices={"second:gpu-t4": 0.001}).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        with LiveServer(service(config, max_waiting=3, max_active=7)) as server:
            post = lambda **body: httpx.post(f"{server.url}/api/ai/hd-image", timeout=60,  # noqa: E731
                                             json={"image": data_uri(), "scale": 2, **body})
            assert post().status_code == 200  # replicate, 2 s at $0.001/s
            assert post(provider="lanczos").status_code == 200
            assert post(scale=9).status_code == 400
            replicate.state.fault = "500"
            assert post(provider="replicate").status_code == 502
            samples = scraped(server.url)
            (state,) = [b["state"] for b in server.service.engine.breakers.snapshot() if b["provider"] == "replicate"]
    requests = samples["hdcore_requests_total"]
    endpoint = ("endpoint", "/api/ai/hd-image")
    assert requests[(endpoint, ("outcome", "ok"), ("provider", "replicate"))] == 1
    assert requests[(endpoint, ("outcome", "ok"), ("provider", "lanczos"))] == 1
    assert requests[(endpoint, ("outcome", "bad_input"), ("provider", "none"))] == 1
    assert requests[(endpoint, ("outcome", "failed"), ("provider", "none"))] == 1
    attempts = samples["hdcore_attempts_total"]
    assert attempts[(("outcome", "ok"), ("provider", "replicate"))] == 1
    assert attempts[(("outcome", "error"), ("provider", "replicate"))] == 1
    assert samples["hdcore_attempt_seconds_count"][(("provider", "replicate"),)] == 2
    assert samples["hdcore_attempt_seconds_bucket"][(("le", "+Inf"), ("provider", "replicate"))] == 2
    assert samples["hdcore_request_seconds_count"][(endpoint,)] == 4  # every one ran a job (the engine refused 9x)
    assert abs(samples["hdcore_cost_usd_total"][(("provider", "replicate"),)] - 0.002) < 1e-9
    breaker = {labels: value for labels, value in samples["hdcore_breaker_state"].items()
               if ("provider", "replicate") in labels}  # fmt: skip
    assert sum(breaker.values()) == 1 and breaker[(("model", "nightmareai/real-esrgan"), ("provider", "replicate"),
                                                   ("state", state))] == 1  # fmt: skip
    assert samples["hdcore_queue_waiting"][()] == 0 and samples["hdcore_queue_limit"][()] == 3
    assert samples["hdcore_requests_active"][()] == 0 and samples["hdcore_requests_limit"][()] == 7
