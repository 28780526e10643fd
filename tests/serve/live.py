"""A real uvicorn on 127.0.0.1 for the tests: in a thread of this process, serving a ``Service`` the test builds,
or ``python -m hdcore serve`` as a subprocess configured by its environment. Every start and stop is bounded."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

from hdcore import Config, Engine
from hdcore.serve import ServeSettings, Service, server_for
from tests.conftest import photo

ROOT = Path(__file__).resolve().parents[2]
START_S = 60.0  # a subprocess imports FastAPI, uvicorn and hdcore on a busy 2-core machine
STOP_S = 30.0
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
API_KEY = "test-key-Secret-0123456789-abcdef"


def data_uri(image: Image.Image | None = None, format: str = "PNG") -> str:
    buffer = io.BytesIO()
    (image or photo()).save(buffer, format=format)
    mime = "jpeg" if format == "JPEG" else format.lower()
    return f"data:image/{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def decoded(uri: str) -> Image.Image:
    header, _, payload = uri.partition(",")
    assert header.startswith("data:image/") and header.endswith(";base64"), header[:40]
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def service(config: Config | None = None, **settings: Any) -> Service:
    """A service over a fresh engine for ``config``, with ``settings`` (ServeSettings fields) and no history."""
    return Service(Engine(config or Config()), ServeSettings(**settings))


class LiveServer:
    """``service`` served by uvicorn in a thread, on a socket bound here (no port race)."""

    def __init__(self, served: Service):
        self.service = served
        self.server = server_for(served, log_config=None)  # logging left to pytest, so caplog sees every line
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self._socket])),
                                        name="live-uvicorn", daemon=True)  # fmt: skip

    def __enter__(self) -> "LiveServer":
        self._thread.start()
        end = time.monotonic() + START_S
        while not self.server.started and self._thread.is_alive() and time.monotonic() < end:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self._thread.join(STOP_S)
        self._socket.close()
        assert not self._thread.is_alive(), "uvicorn did not stop"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any hdcore, Hugging Face or Replicate setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    return {**env, **extra}


class ServeProcess:
    """``python -m hdcore serve --port 0 ARGS`` with ``env``; its port is read from its log, SIGTERM stops it."""

    def __init__(self, env: dict[str, str], *args: str):
        self.command = [sys.executable, "-m", "hdcore", "serve", "--port", "0", *args]
        self.env = env
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None
        self.url = ""

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> "ServeProcess":
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + START_S
        while time.monotonic() < end and self.process.poll() is None and not self.url:
            time.sleep(0.05)
        if not self.url:
            self.stop()
            raise AssertionError(f"hdcore serve did not start:\n{self.log}")
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if not self.url and (found := LISTENING.search(line)):
                self.url = f"http://127.0.0.1:{found.group(1)}"

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_S) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()
            try:
                return self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(STOP_S)

    def __exit__(self, *exc: Any) -> None:
        self.stop()
