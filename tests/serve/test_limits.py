"""Limits: the body cap before the body is read, the bounded queue (429 with Retry-After), the deadline."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from hdcore import Config
from tests.conftest import photo
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN, ReplicateServer, ReplicateState
from tests.serve.live import LiveServer, data_uri, service

READ_S = 10.0  # the most a test waits for an answer on a raw socket


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=READ_S)
    return connection


def read_answer(connection: socket.socket) -> bytes:
    """What the server sent before it closed the connection (bounded by READ_S)."""
    received = b""
    end = time.monotonic() + READ_S
    while time.monotonic() < end:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        received += chunk
    return received


def test_a_declared_length_over_the_cap_is_a_413_before_any_of_the_body_is_read():
    with LiveServer(service(max_body_bytes=1_000_000)) as server, connect(server.url) as connection:
        connection.sendall(b"POST /api/ai/hd-image HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 1000000000000\r\n\r\n" + b'{"image": "' + b"A" * 1000)  # fmt: skip
        answer = read_answer(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head.lower()
    assert b"request body too large: 1,000,000,000,000 bytes, over the limit of 1,000,000 bytes" in body


def test_a_chunked_body_is_cut_off_at_the_cap_and_the_rest_is_never_read():
    cap, attempted = 1_000_000, 256 * 1024 * 1024
    sent = 0
    with LiveServer(service(max_body_bytes=cap)) as server, connect(server.url) as connection:
        connection.sendall(b"POST /api/ai/hd-image HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b"10000\r\n" + b"A" * 0x10000 + b"\r\n"
        connection.settimeout(0.5)
        try:
            while sent < attempted:
                connection.sendall(chunk)
                sent += 0x10000
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and stopped reading: the kernel's buffers filled, or it closed
        connection.settimeout(READ_S)
        answer = read_answer(connection)
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert answer.startswith(b"HTTP/1.1 413 ") and b"over the limit of 1,000,000 bytes" in answer
    assert sent < 64 * 1024 * 1024  # a 256 MiB body was refused after the cap and what the socket buffers held
    assert 'hdcore_requests_total{endpoint="/api/ai/hd-image",outcome="too_large",provider="none"} 1.0' in metrics


def test_when_the_local_line_is_full_requests_get_429_with_retry_after_instead_of_piling_up():
    image = data_uri(photo((256, 256)))  # ~0.6 s each at 4x on 2 cores: a line forms behind the one running
    with LiveServer(service(Config(order=("local",)), max_waiting=1)) as server:
        post = lambda _: httpx.post(f"{server.url}/api/ai/hd-image", json={"image": image, "scale": 4},  # noqa: E731
                                    timeout=120)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(8)))
        queue = server.service.queue
        settled = (queue.active, queue.waiting)
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) == {200, 429} and statuses.count(200) >= 1, statuses
    for answer in answers:
        if answer.status_code == 429:
            body = answer.json()
            assert int(answer.headers["retry-after"]) >= 1 and body["success"] is False
            assert "retry after" in body["error"] and ("full" in body["error"] or "in line" in body["error"])
        else:
            assert answer.json()["provider"] == "local"
    assert settled == (0, 0)


def test_a_full_server_answers_429_at_once_without_reading_the_body():
    slow = ReplicateState(fault="slow", honour_wait=False)  # the prediction runs until cancelled
    with ReplicateServer(slow) as replicate:
        config = Config(order=("replicate",)).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        with LiveServer(service(config, max_active=1, deadline_s=20)) as server:
            body = {"image": data_uri(), "scale": 2}
            first = threading.Thread(target=lambda: httpx.post(f"{server.url}/api/ai/hd-image", json=body, timeout=30))
            first.start()
            _wait_for(lambda: replicate.state.paths("POST"))
            second = httpx.post(f"{server.url}/api/ai/hd-image", json=body, timeout=30)
            server.service.jobs.close()  # stop the first one: its prediction is cancelled
            first.join(30)
    assert second.status_code == 429 and second.headers["connection"] == "close"
    assert int(second.headers["retry-after"]) >= 1
    assert second.json()["error"].startswith("the server is full: 1 requests in progress")
    assert replicate.state.wait_for_cancel()


def test_a_request_past_its_deadline_is_a_504_and_its_paid_job_is_cancelled():
    slow = ReplicateState(fault="slow", honour_wait=False)
    with ReplicateServer(slow) as replicate:
        config = Config(order=("replicate",)).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        with LiveServer(service(config, deadline_s=1.0)) as server:
            answer = httpx.post(f"{server.url}/api/ai/hd-image", json={"image": data_uri(), "scale": 2}, timeout=30)
        cancels = replicate.state.wait_for_cancel()
    assert answer.status_code == 504
    assert answer.json()["error"] == "no image within the request's deadline of 1 s"
    assert len(cancels) == 1 and cancels[0] in replicate.state.predictions


def _wait_for(condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
