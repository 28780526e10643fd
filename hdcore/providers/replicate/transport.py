"""How the Replicate tier talks HTTP: the SDK's base URL, which hosts an output may come from, a finite timeout
on every request, the SDK's own retries switched off, the ``Cancel-After`` header on every create, and the
prediction as the API answers it."""

from __future__ import annotations

import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import httpx
import replicate
from replicate.client import RetryTransport

from ...config import json_value
from ...errors import ConfigError

DELIVERY_DOMAIN = "replicate.delivery"
PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
# A prediction is a small JSON document, but its output may come inline as a data URI (up to the 64 MB output cap,
# base64): answers are cut off past that, so an endless one ends too.
API_ANSWER_CAP = 96 * 1024 * 1024
CREATE_PATH = re.compile(r"/v1/(models/[^/]+/[^/]+/)?predictions$")


def sdk_base_url(configured: str) -> str:
    """The SDK's paths already start with ``/v1``; hdcore's setting (like Replicate's docs) ends with it."""
    base = configured.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def allowed_output_url(url: str, api_base_url: str) -> bool:
    """Output files come from https Replicate delivery hosts, or from the API's own origin (a local server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and (host == DELIVERY_DOMAIN or host.endswith("." + DELIVERY_DOMAIN)):
        return True
    base = urlsplit(api_base_url)
    return bool(host) and _origin(parts) == _origin(base)


def _origin(parts: Any) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default_port
    except ValueError:  # a port that is not a number
        return ("", "", None)
    return parts.scheme, (parts.hostname or "").lower(), port


class AnswerTooLarge(httpx.ReadError):
    """An API answer passed ``API_ANSWER_CAP`` bytes."""


class AnswerTooSlow(httpx.ReadTimeout):
    """An API answer still arriving when its whole read time was spent (a drip: each chunk in time, never done)."""


class RedirectRefused(httpx.HTTPError):
    """The API answered a redirect: never followed (the token would go along)."""


class BoundedTimeouts(httpx.HTTPTransport):
    """Every request gets a finite timeout, and every answer a size cap and a total read time.

    The SDK sends a create without ``Prefer: wait`` with ``timeout=None``, which httpx reads as "wait forever": a
    stalled server would then keep the worker thread alive for good. httpx's read timeout bounds each wait for a
    chunk, not the body: an endless or dripping answer would never end, so the body is cut off at
    ``API_ANSWER_CAP`` bytes or once the read timeout has passed in all.
    """

    def __init__(self, fallback: httpx.Timeout):
        super().__init__()
        self._fallback = fallback.as_dict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        asked = request.extensions.get("timeout") or {}
        timeouts = {phase: asked[phase] if asked.get(phase) is not None else limit
                    for phase, limit in self._fallback.items()}  # fmt: skip
        request.extensions["timeout"] = timeouts
        response = super().handle_request(request)
        response.stream = _Bounded(response.stream, API_ANSWER_CAP, time.monotonic() + (timeouts.get("read") or 10.0))
        return response


class _Bounded(httpx.SyncByteStream):
    def __init__(self, stream: Any, limit: int, until: float):
        self._stream, self._limit, self._until = stream, limit, until

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._stream:
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(f"the answer is over {self._limit:,} bytes")
            if time.monotonic() > self._until:
                raise AnswerTooSlow("the answer took longer than its read timeout")
            yield chunk

    def close(self) -> None:
        self._stream.close()


def refuse_redirects(response: httpx.Response) -> None:
    """A response hook: a redirect from the API is an error, never a place to send the token."""
    if response.is_redirect:
        raise RedirectRefused(f"HTTP {response.status_code}")


def disable_sdk_retries(client: replicate.Client) -> None:
    """The SDK retries GETs on 429/503 up to 10 times, sleeping Retry-After each time with no cap: that would
    blow the tier's deadline from inside one call. The poll loop here does its own bounded waiting instead."""
    transport = getattr(client._client, "_transport", None)
    if isinstance(transport, RetryTransport):
        transport.max_attempts = 1


class CancelAfter:
    """Puts ``Cancel-After: <n>s`` on the prediction creates made inside ``applied(seconds)`` on this thread.

    replicate 1.0.7's ``predictions.create`` takes no headers, so this is an httpx request hook on the SDK's
    client. Replicate ends a prediction still queued at that deadline as ``aborted`` (not billed) and one still
    running as ``canceled``: whatever becomes of this process, the prediction stops billing by then.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def applied(self, seconds: float) -> Iterator[None]:
        self._local.value = cancel_after_value(seconds)
        try:
            yield
        finally:
            self._local.value = None

    def __call__(self, request: httpx.Request) -> None:
        value = getattr(self._local, "value", None)
        if value is not None and request.method == "POST" and CREATE_PATH.search(request.url.path):
            request.headers["Cancel-After"] = value


def cancel_after_value(seconds: float) -> str:
    """Whole seconds (rounded up) in the documented duration form, e.g. ``40s``; at least ``1s``."""
    return f"{max(1, math.ceil(seconds))}s"


@dataclass(frozen=True)
class PredictionState:
    """A prediction as the API answers it. Not the SDK's ``Prediction``: its status field predates
    ``Cancel-After`` and refuses ``aborted`` (replicate 1.0.7 raises a validation error on it)."""

    id: str
    status: str
    output: Any = None
    error: Any = None
    predict_time: float | None = None
    data_removed: bool = False

    @classmethod
    def from_json(cls, data: Any) -> "PredictionState":
        """Checked at the edge: an id fit for a URL path, a known status, a finite predict_time. ValueError else."""
        if not isinstance(data, Mapping):
            raise ValueError("the prediction is not a JSON object")
        prediction_id, status = data.get("id"), data.get("status")
        if not isinstance(prediction_id, str) or not PREDICTION_ID.fullmatch(prediction_id):
            raise ValueError("the prediction has no usable id")
        if status not in ("starting", "processing", "succeeded", "failed", "canceled", "aborted"):
            raise ValueError(f"unknown prediction status {str(status)[:40]!r}")
        metrics = data.get("metrics") if isinstance(data.get("metrics"), Mapping) else {}
        seconds = metrics.get("predict_time")
        usable = isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds)
        return cls(prediction_id, status, data.get("output"), data.get("error"), float(seconds) if usable else None,
                   data.get("data_removed") is True)  # fmt: skip


def model_aliases(variable: str, raw: str) -> dict[str, str]:
    """``HDCORE_REPLICATE_MODEL_ALIASES``: a JSON object of old ``owner/name`` to new ``owner/name``."""
    message = f'{variable} must be a JSON object of model names, such as {{"old-owner/model": "new-owner/model"}}'
    value = json_value(raw)  # None for anything that is no JSON, nesting past the parser's limit included
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(new, str) and MODEL_NAME.fullmatch(key) and MODEL_NAME.fullmatch(new)
        for key, new in value.items()
    ):
        raise ConfigError(message)
    return dict(value)
