"""``/healthz`` and ``/readyz``: alive always; ready when the in-process tiers load their models, a tier is
configured, the history answers, and no shutdown has begun."""

from __future__ import annotations

import httpx

from hdcore import Config, Engine
from hdcore.serve import ServeSettings, Service
from hdcore.store import open_store
from tests.postgres_cluster import PASSWORD
from tests.serve.live import LiveServer, service


def readiness(url: str) -> tuple[int, dict]:
    answer = httpx.get(f"{url}/readyz", timeout=60)
    return answer.status_code, answer.json()


def test_ready_once_the_local_models_load_and_the_probe_is_not_repeated():
    served = service(Config(order=("local",)))
    with LiveServer(served) as server:
        first, second = readiness(server.url), readiness(server.url)
        alive = httpx.get(f"{server.url}/healthz", timeout=30).json()
    assert first == second == (200, {"ready": True, "problems": []}) and alive == {"alive": True}
    assert served._ready_tiers == {"local"}
    assert served.engine.latencies.latency_p95("local", "budget") is not None  # a real run of the default preset


def test_not_ready_when_no_tier_of_the_chain_is_configured():
    with LiveServer(service(Config(order=("replicate",)))) as server:
        status, body = readiness(server.url)
    assert (status, body["ready"]) == (503, False)
    assert body["problems"] == ["no tier of the auto chain (replicate) is configured"]


def test_not_ready_while_the_database_is_down_and_ready_again_after(postgres_cluster, postgres_url):
    served = Service(Engine(Config(order=("local",))), ServeSettings(), store=open_store(postgres_url))
    with LiveServer(served) as server:
        before = readiness(server.url)
        postgres_cluster.stop()
        try:
            during = readiness(server.url)
        finally:
            postgres_cluster.start()
        after = readiness(server.url)
    assert before[0] == 200 and after[0] == 200
    assert during[0] == 503 and during[1]["problems"][0].startswith("history: ")
    assert PASSWORD not in str(during)


def test_not_ready_once_a_shutdown_began():
    served = service(Config(order=("local",)))
    with LiveServer(served) as server:
        served.jobs.draining = True
        status, body = readiness(server.url)
        refused = httpx.post(f"{server.url}/api/ai/hd-image", json={"image": "x", "scale": 2}, timeout=30)
        served.jobs.draining = False
    assert status == 503 and body["problems"] == ["the server is shutting down"]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
