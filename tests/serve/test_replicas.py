"""Replicas on one PostgreSQL: a run made through the API shows in the History and Health figures of the app
processes, and a daily budget holds in total across two API processes (the Replicate protocol server bills)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from hdcore.store import open_store
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN, ReplicateServer, ReplicateState
from tests.serve.live import ServeProcess, clean_env, data_uri
from tests.serve.replica_workers import read_history, record_a_run
from tests.store_workers import run_together

PRICE = 0.01  # USD per Replicate run (the prediction reports no time: the estimate is what is billed)
CAP = 0.05  # USD per day: room for exactly five runs


def test_a_run_through_the_api_shows_in_the_history_and_health_of_the_app_processes(postgres_url):
    with ServeProcess(clean_env(HDCORE_DATABASE_URL=postgres_url)) as api:
        answer = httpx.post(f"{api.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2, "provider": "lanczos"},
                            timeout=60)  # fmt: skip
        ready = httpx.get(f"{api.url}/readyz", timeout=60)
        app_runs = run_together(record_a_run, [(postgres_url, "app-1.png"), (postgres_url, "app-2.png")])
        seen = run_together(read_history, [(postgres_url,), (postgres_url,)])
    assert answer.status_code == 200 and ready.json() == {"ready": True, "problems": []}
    api_run = answer.json()["run_id"]
    assert isinstance(api_run, int)
    for replica in seen:  # each app process sees the API's run and both app runs, with their attempts
        runs = {run_id: (name, provider, tiers) for run_id, name, provider, tiers in replica["runs"]}
        assert runs[api_run] == ("api", "lanczos", ["lanczos"])
        assert {runs[run_id][0] for run_id in app_runs} == {"app-1.png", "app-2.png"}
        assert ("lanczos", 3) in replica["figures"]  # the Health page counts all three attempts
    assert "pw-Sentinel" not in api.log


def test_a_daily_budget_is_never_exceeded_in_total_across_two_api_processes(postgres_url):
    with ReplicateServer(ReplicateState(predict_time=None, run_seconds=0.3)) as replicate:
        env = clean_env(HDCORE_DATABASE_URL=postgres_url, REPLICATE_API_TOKEN=REPLICATE_TOKEN,
                        REPLICATE_BASE_URL=replicate.api_url, HDCORE_MAX_COST_PER_DAY=str(CAP),
                        HDCORE_PRICES=f'{{"run:nightmareai/real-esrgan": {PRICE}}}')  # fmt: skip
        with ServeProcess(env) as first, ServeProcess(env) as second:
            urls = [first.url, second.url] * 6  # twelve paid requests at once, six on each replica
            post = lambda url: httpx.post(f"{url}/api/ai/hd-image", timeout=60,  # noqa: E731
                                          json={"image": data_uri(), "scale": 2, "provider": "replicate"})
            with ThreadPoolExecutor(len(urls)) as pool:
                answers = list(pool.map(post, urls))
        predictions = len(replicate.state.predictions)
    paid = [answer.json() for answer in answers if answer.status_code == 200]
    refused = [answer.json() for answer in answers if answer.status_code != 200]
    assert len(paid) == 5 and predictions == 5  # $0.05 buys five runs, whichever replica asks
    assert abs(sum(answer["cost_usd"] for answer in paid) - CAP) < 1e-9
    assert {answer["attempts"][0]["reason"].split(":")[0] for answer in refused} == {"over the daily budget"}
    assert all(answer["attempts"][0]["outcome"] == "skipped" for answer in refused)
    with open_store(postgres_url) as store:
        assert abs(store.spend_ledger().spent_today() - CAP) < 1e-9
    assert REPLICATE_TOKEN not in first.log + second.log
