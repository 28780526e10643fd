"""One POST of the PNG to one URL, with ``requests``: a dedicated Inference Endpoint, or a server that speaks
the hf-inference protocol (``{HDCORE_HF_BASE_URL}/models/{model}``).

The body is the PNG itself, or, when the caller gives a ``prompt`` (SD x4 is text-guided), HF's JSON form
``{"inputs": "<base64>", "parameters": {"prompt": ...}}``; the answer is the image.

The tier's deadline covers the whole exchange. ``requests`` only bounds each socket read, so a server that
drips its answer would never time out: the body is streamed with small reads, the deadline and the cancel flag
are checked between them, and a watchdog shuts the socket down under a read still blocked at the deadline.
``cancel`` shuts it down the same way, so the worker thread stops at once.

Redirects are never followed: the token and the user's image go to the configured host and nowhere else
(requests would re-send a 307's body, and ~/.netrc could lend a redirect target credentials).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import socket
import threading
from typing import Any, Iterator, Mapping

import requests
import urllib3.exceptions
from requests.auth import AuthBase

from ...errors import (
    AuthError,
    BadOutput,
    InvalidInput,
    PermanentError,
    ProviderError,
    RateLimited,
    RequestRejected,
    TransientError,
)
from ..base import UpscaleRequest
from ..remote import (
    CallScope,
    MAX_RETRY_AFTER_S,
    bounded_seconds,
    declared_length,
    displayed_url,
    innermost,
    os_reason,
    png_bytes,
    retry_after_seconds,
    socket_wait,
)

log = logging.getLogger(__name__)

MAX_ERROR_BODY_BYTES = 64 * 1024  # enough for HF's JSON error; a proxy's huge HTML page is cut here
CHUNK_BYTES = 64 * 1024
NO_DEADLINE_SOCKET_TIMEOUT_S = 60.0  # bounds each socket wait when the tier is configured without a deadline

# What an HTTP header value can carry; a token outside it would make requests quote it in an exception.
_HEADER_SAFE_TOKEN = re.compile(r"[\x21-\x7e]+")


def header_safe(token: str) -> bool:
    return bool(_HEADER_SAFE_TOKEN.fullmatch(token))


class DirectRoute:
    """POSTs to one URL at a time; holds the shared session and the answers still streaming (for ``cancel``)."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[int, requests.Response] = {}  # id(request.cancel_event) -> streaming answer

    @property
    def started(self) -> bool:
        return self._session is not None

    def call(self, scope: CallScope, url: str, token: str, max_body_bytes: int) -> bytes:
        """The answer's body (the image), or the ProviderError the exchange ended in."""
        content_type, body = payload(scope.request)
        try:
            return self._exchange(scope, url, _BearerAuth(token), content_type, body, max_body_bytes)
        except ProviderError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            raise _foreign_error(scope, error) from error

    def cancel(self, request: UpscaleRequest) -> None:
        with self._lock:
            response = self._in_flight.get(id(request.cancel_event))
        if response is not None:
            _cut(response)

    def _exchange(self, scope: CallScope, url: str, auth: _BearerAuth, content_type: str, body: bytes,
                  max_body_bytes: int) -> bytes:  # fmt: skip
        log.debug("POST %s (%s, %d bytes)", displayed_url(url), content_type, len(body))
        response = self._session_for_calls().post(
            url,
            data=body,
            auth=auth,  # an auth object, not a header: requests would otherwise let ~/.netrc replace it
            headers={"Accept": "image/png", "Content-Type": content_type},
            stream=True,
            timeout=_socket_timeouts(scope.request),
            allow_redirects=False,
        )
        with self._watched(scope.request, response):
            log.debug("Hugging Face answered HTTP %d for %s", response.status_code, scope.model)
            if not 200 <= response.status_code < 300:
                raise http_error(scope, response.status_code, response.headers,
                                 _read_up_to(scope, response, MAX_ERROR_BODY_BYTES))
            return _image_body(scope, response, max_body_bytes)

    def _session_for_calls(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                self._session = requests.Session()
            return self._session

    @contextlib.contextmanager
    def _watched(self, request: UpscaleRequest, response: requests.Response) -> Iterator[None]:
        """While the body streams, ``cancel`` and a deadline watchdog can cut the socket under a blocked read."""
        key = id(request.cancel_event)
        with self._lock:
            self._in_flight[key] = response
        left = request.time_left()
        watchdog = None if left is None else threading.Timer(left, _cut, args=(response,))
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.cancel()
            with self._lock:
                self._in_flight.pop(key, None)
            response.close()


def _image_body(scope: CallScope, response: requests.Response, limit: int) -> bytes:
    declared = declared_length(response.headers)
    if declared is not None and declared > limit:
        raise scope.error(BadOutput, f"answer of {declared:,} bytes is over the {limit:,}-byte limit")
    data = _read_up_to(scope, response, limit)
    if len(data) > limit:
        raise scope.error(BadOutput, f"answer is over the {limit:,}-byte limit")
    return data


def _read_up_to(scope: CallScope, response: requests.Response, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes and a little more when it is longer, in one buffer.

    read1 returns whatever one socket read brings; iter_content would block until a whole chunk arrived.
    """
    buffer = io.BytesIO()
    while buffer.tell() <= limit:
        scope.stop_if_due()
        chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
        if not chunk:
            break
        buffer.write(chunk)
    scope.stop_if_due()  # a cut socket ends the body early: say why, not "truncated"
    return buffer.getvalue()


# --- turning answers and failures into hdcore's errors -----------------------------------------------------


def http_error(scope: CallScope, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """What an HTTP status (and HF's JSON error body) means for this tier. Only 404/410 say "not served"."""
    detail, estimated = error_detail(body)
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        return scope.error(AuthError, f"Hugging Face rejected the token (HTTP {status})")
    if status in (404, 410):
        return scope.error(PermanentError, f"model not served here (HTTP {status})")
    if status == 429:
        retry_after = retry_after_seconds(headers.get("Retry-After"))
        wait = "" if retry_after is None else f", retry after {retry_after:.0f} s"
        return scope.error(RateLimited, f"rate limited by Hugging Face (HTTP 429){wait}", retry_after=retry_after)
    if status == 503 and estimated is not None:
        return scope.error(TransientError, f"model is loading (HTTP 503), ready in about {estimated:.0f} s")
    if status >= 500:
        return scope.error(TransientError, f"Hugging Face server error (HTTP {status}){suffix}")
    if 400 <= status < 500:  # about this request (too large, a bad input): this attempt fails, the tier stays up
        return scope.error(RequestRejected, f"Hugging Face refused this request (HTTP {status}){suffix}")
    if 300 <= status < 400:
        return scope.error(PermanentError, f"Hugging Face answered with a redirect (HTTP {status}), not followed: "
                                           "the token and the image go only to the configured address")
    return scope.error(TransientError, f"unexpected answer from Hugging Face (HTTP {status}){suffix}")


def error_detail(body: bytes) -> tuple[str, float | None]:
    """HF's JSON error ({"error": text or [texts], "estimated_time": seconds}) as (text, bounded seconds).

    The text is whole (at most MAX_ERROR_BODY_BYTES): the error built from it is masked first, then shortened.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return "", None
    if not isinstance(document, dict):
        return "", None
    error = document.get("error") or ""
    text = "; ".join(map(str, error)) if isinstance(error, list) else str(error)
    return text, bounded_seconds(document.get("estimated_time"), MAX_RETRY_AFTER_S)


def _foreign_error(scope: CallScope, error: Exception) -> ProviderError:
    interruption = scope.interruption()
    if interruption is not None:  # we cut the socket ourselves (cancel or deadline): that is the reason
        return interruption
    if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return scope.timed_out("waiting for Hugging Face")
    return scope.error(TransientError, f"connection to Hugging Face failed ({_root_cause(error)})")


def _root_cause(error: BaseException) -> str:
    """The innermost reason in requests' and urllib3's wrappers, e.g. "connection reset by peer"."""
    inner = innermost(error, _wrapped)
    return os_reason(inner) or str(inner) or type(inner).__name__


def _wrapped(error: BaseException) -> BaseException | None:
    reason = getattr(error, "reason", None)  # urllib3's MaxRetryError
    if isinstance(reason, BaseException):
        return reason
    for arg in error.args:  # requests' and urllib3's errors carry their cause as an argument
        if isinstance(arg, BaseException):
            return arg
    return error.__cause__


# --- the request -------------------------------------------------------------------------------------------


class _BearerAuth(AuthBase):
    """Adds the bearer header at send time; its repr never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self._token}"
        return prepared

    def __repr__(self) -> str:
        return "_BearerAuth('********')"


def payload(request: UpscaleRequest) -> tuple[str, bytes]:
    """(Content-Type, body): the PNG itself, or HF's JSON form when a prompt guides the model."""
    png = png_bytes(request.image)
    prompt = prompt_option(request.options)
    if prompt is None:
        return "image/png", png
    document = {"inputs": base64.b64encode(png).decode("ascii"), "parameters": {"prompt": prompt}}
    return "application/json", json.dumps(document).encode("utf-8")


def prompt_option(options: Mapping[str, Any]) -> str | None:
    prompt = options.get("prompt")
    if prompt is None or prompt == "":
        return None
    if not isinstance(prompt, str):
        raise InvalidInput(f"prompt must be text, not {type(prompt).__name__}")
    return prompt


def _socket_timeouts(request: UpscaleRequest) -> tuple[float, float]:
    """(connect, read) for requests: each socket wait ends by the deadline; the watchdog bounds the total."""
    wait = socket_wait(request, NO_DEADLINE_SOCKET_TIMEOUT_S)
    return wait, wait


def _cut(response: requests.Response) -> None:
    """Shut the socket under a read blocked in another thread; closing the response would wait for that read."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
