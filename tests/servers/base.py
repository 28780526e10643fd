"""A threaded HTTP server on 127.0.0.1 with a recorded request log and the faults every protocol server shares.

Every wait here is bounded, so a test that forgets to stop a server still ends by itself.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

HANG_SECONDS = 30.0  # longer than any tier deadline used in the tests, short enough to end by itself
FAULTS = (
    "hang", "slow", "500", "429", "401", "410", "non-image", "truncated", "wrong-size", "reset",
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ServerState:
    """What a test sets (``fault``) and reads back (``requests``)."""

    fault: str | None = None
    retry_after: int = 7
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # set when the server stops: waits end

    def record(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.requests.append(Recorded(handler.command, handler.path, dict(handler.headers), body))


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def reset_connection(self) -> None:
        """Close with RST instead of FIN: the client sees 'connection reset by peer'."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def hang(self) -> None:
        time.sleep(HANG_SECONDS)
        self.close_connection = True

    def send_endless(self, status: int, content_type: str, first: bytes, filler: bytes = b" ") -> None:
        """Chunked, never finishing: ``first`` padded with ``filler`` to 64 kB, every 10 ms until the client goes
        away or the server stops."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = first + filler * (65536 - len(first))
        end = time.monotonic() + HANG_SECONDS
        try:
            while time.monotonic() < end and not self.state.stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def base_url(self) -> str:
        """This server's own URL, as its answers name it."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def send_slowly(self, status: int, body: bytes, content_type: str, seconds: float = 20.0) -> None:
        """Headers at once, then the body a byte at a time: a read timeout per chunk never fires."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = seconds / max(1, len(body))
        try:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(min(step, 0.5))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class LocalServer:
    """Runs ``handler_class`` on 127.0.0.1:<free port> in a daemon thread; use as a context manager."""

    def __init__(self, handler_class: type[QuietHandler], state: ServerState | None = None):
        self.state = state or ServerState()
        handler = type(handler_class.__name__, (handler_class,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def upscaled_png(image_bytes: bytes, scale: int, size: tuple[int, int] | None = None) -> bytes:
    """What a faithful upscaler answers: the input resized by ``scale`` (or to ``size`` for wrong-size faults)."""
    source = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    target = size or (source.width * scale, source.height * scale)
    buffer = io.BytesIO()
    source.resize(target, Image.Resampling.BICUBIC).save(buffer, format="PNG")
    return buffer.getvalue()
