"""Jobs: a client that leaves cancels its paid job, concurrent requests each get their own image, and a
shutdown lets jobs in flight finish, or cancels them past its drain bound, leaving nothing billing."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hdcore import Config
from tests.conftest import photo
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN, ReplicateServer, ReplicateState
from tests.serve.live import API_KEY, LiveServer, ServeProcess, clean_env, data_uri, decoded, service


def replicate_config(replicate: ReplicateServer) -> Config:
    return Config(order=("replicate",)).with_settings(
        {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})


def wait_for(condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_client_that_disconnects_cancels_its_replicate_prediction():
    with ReplicateServer(ReplicateState(fault="slow", honour_wait=False)) as replicate:
        with LiveServer(service(replicate_config(replicate))) as server:
            with pytest.raises(httpx.ReadTimeout):  # the client gives up: its connection closes
                httpx.post(f"{server.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2},
                           timeout=httpx.Timeout(30.0, read=1.5))  # fmt: skip
            cancels = replicate.state.wait_for_cancel(timeout=10)
            wait_for(lambda: server.service.jobs.count == 0)
            metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    created = [p for p in replicate.state.predictions]
    assert len(created) == 1 and cancels == created
    assert replicate.state.predictions[created[0]].status == "canceled"
    assert 'hdcore_requests_total{endpoint="/api/ai/hd-image",outcome="disconnected",provider="none"} 1.0' in metrics


def test_sixteen_concurrent_requests_each_get_their_own_image():
    sizes = [(24 + 2 * i, 16 + i) for i in range(16)]
    with ReplicateServer(ReplicateState(run_seconds=0.3)) as replicate:
        with LiveServer(service(replicate_config(replicate))) as server:
            post = lambda size: httpx.post(f"{server.url}/api/ai/hd-image", timeout=60,  # noqa: E731
                                           json={"image": data_uri(photo(size)), "scale": 2})
            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(post, sizes))
    assert [answer.status_code for answer in answers] == [200] * 16
    assert [decoded(answer.json()["image"]).size for answer in answers] == [(2 * w, 2 * h) for w, h in sizes]
    assert len(replicate.state.predictions) == 16  # one prediction each, none shared or repeated


# uvicorn, once shut down, re-raises the signal that stopped it, as a process without its handler would end.
GRACEFUL = (0, -signal.SIGTERM)


def shutdown_env(replicate: ReplicateServer, **extra: str) -> dict[str, str]:
    return clean_env(HDCORE_ORDER="replicate", REPLICATE_API_TOKEN=REPLICATE_TOKEN,
                     REPLICATE_BASE_URL=replicate.api_url, HDCORE_API_KEYS=API_KEY, **extra)  # fmt: skip


def start_request(url: str, answers: list) -> threading.Thread:
    def post() -> None:
        try:
            answers.append(httpx.post(f"{url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2},
                                      headers={"X-API-Key": API_KEY}, timeout=60))  # fmt: skip
        except httpx.HTTPError as error:
            answers.append(error)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_a_shutdown_lets_the_job_in_flight_finish_and_then_exits():
    answers: list = []
    with ReplicateServer(ReplicateState(run_seconds=2.0, honour_wait=False)) as replicate:
        with ServeProcess(shutdown_env(replicate, HDCORE_SERVE_DRAIN="30")) as server:
            client = start_request(server.url, answers)
            wait_for(lambda: replicate.state.paths("POST"))
            server.terminate()
            code = server.wait()
            client.join(30)
            with pytest.raises(httpx.ConnectError):  # the port is closed: nothing new is taken
                httpx.get(f"{server.url}/healthz", timeout=5)
    (answer,) = answers
    assert code in GRACEFUL and "Finished server process" in server.log
    assert answer.status_code == 200 and answer.json()["provider"] == "replicate"
    assert decoded(answer.json()["image"]).size == (128, 96)
    assert replicate.state.cancels == []
    assert REPLICATE_TOKEN not in server.log and API_KEY not in server.log


def test_a_shutdown_past_its_drain_bound_cancels_the_paid_job_and_answers_503():
    answers: list = []
    with ReplicateServer(ReplicateState(fault="slow", honour_wait=False)) as replicate:
        with ServeProcess(shutdown_env(replicate, HDCORE_SERVE_DRAIN="0.5")) as server:
            client = start_request(server.url, answers)
            wait_for(lambda: replicate.state.paths("POST"))
            server.terminate()
            code = server.wait()
            client.join(30)
            cancels = replicate.state.wait_for_cancel(timeout=10)
    (answer,) = answers
    assert code in GRACEFUL and "Finished server process" in server.log
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "the server is shutting down; the job was cancelled"
    assert cancels == list(replicate.state.predictions)  # the prediction stopped billing before the exit
    assert REPLICATE_TOKEN not in server.log + answer.text and API_KEY not in server.log + answer.text
