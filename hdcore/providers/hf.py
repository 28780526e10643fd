"""Hugging Face Inference: the seed's primary tier (SD x4 upscaler for 4x, Real-ESRGAN for 2x).

One POST per upscale to ``{HDCORE_HF_BASE_URL}/models/{model}`` (the router; the seed's api-inference host now
answers 410) carrying a PNG of the request image, either as raw bytes or, when the caller gives a ``prompt``
option (SD x4 is text-guided), as HF's JSON form ``{"inputs": "<base64>", "parameters": {"prompt": ...}}``.

The tier's deadline (10 s by default) covers the whole exchange. ``requests`` only bounds each socket read, so a
server that drips its answer would never time out: the body is streamed with small reads, the deadline and the
cancel flag are checked between them, and a watchdog shuts the socket down under a read still blocked at the
deadline. ``cancel`` shuts it down the same way, so the worker thread stops at once.

Every answer maps onto hdcore's error tree; the token never appears in a message, a log record or a repr.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import socket
import threading
from typing import Any, Iterator, Mapping, Sequence

import requests
import urllib3.exceptions
from requests.auth import AuthBase

from .. import images
from ..attempts import Cost, ProviderOutput
from ..config import Secret, Setting, secret, text, url
from ..errors import (
    AuthError,
    BadOutput,
    InvalidImage,
    InvalidInput,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from .base import ModelInfo, OptionInfo, ProviderInfo, UpscaleRequest
from ..text import shortened
from .remote import (  # retry_after_seconds is also imported from here, as this module's public helper
    RemoteProvider,
    fitted,
    innermost,
    os_reason,
    png_bytes,
    retry_after_seconds,
    socket_wait,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # an 8192 x 8192 PNG fits; anything larger is not an answer we want
MAX_ERROR_BODY_BYTES = 64 * 1024  # enough for HF's JSON error; a proxy's huge HTML page is cut here
CHUNK_BYTES = 64 * 1024
NO_DEADLINE_SOCKET_TIMEOUT_S = 60.0  # bounds each socket wait when the tier is configured without a deadline

# The seed's api-inference host is retired (410); the router serves the same models.
DEFAULT_BASE_URL = "https://router.huggingface.co/hf-inference"
SD_X4 = "stabilityai/stable-diffusion-x4-upscaler"
DEFAULT_MODELS: dict[int, str | None] = {2: "nightmareai/real-esrgan", 3: None, 4: SD_X4}

TOKEN = Setting("HUGGINGFACE_TOKEN", secret, None, "turns on Hugging Face Inference (and the seed's Space)")
BASE_URL = Setting("HDCORE_HF_BASE_URL", url, DEFAULT_BASE_URL, "the Inference API's base URL")
MODEL_FOR_SCALE = {scale: Setting(f"HDCORE_HF_MODEL_X{scale}", text, DEFAULT_MODELS[scale], f"the model for {scale}x")
                   for scale in (2, 3, 4)}
PROMPT = OptionInfo("prompt", "Prompt", "text", "Guides the text-guided SD x4 upscaler, e.g. a sharp, detailed photo")

INFO = ProviderInfo(
    id="hf",
    label="Hugging Face Inference",
    short_label="Hugging Face",
    requires="HUGGINGFACE_TOKEN",
    default_timeout_s=10.0,  # the seed's deadline
    max_concurrency=2,  # the free tier rate-limits hard; two calls at once keep a batch from tripping it
    retry_safe=True,  # one HTTP call, billed only when it answers: a failed call can be sent again
    cost_note="free with a Hugging Face Pro account (rate-limited otherwise)",
    settings=(TOKEN, BASE_URL, *MODEL_FOR_SCALE.values()),
    identity=(TOKEN, BASE_URL),
    options=(PROMPT,),
)

MODEL_DESCRIPTIONS = {
    "stabilityai/stable-diffusion-x4-upscaler": "Stable Diffusion x4 upscaler: diffusion, text-guided (prompt)",
    "nightmareai/real-esrgan": "Real-ESRGAN: GAN super-resolution for real-world photos",
}

# What an HTTP header value can carry; a token outside it would make requests quote it in an exception.
_HEADER_SAFE_TOKEN = re.compile(r"[\x21-\x7e]+")


class HuggingFaceProvider(RemoteProvider):
    info = INFO
    late_phrase = "before the answer was complete"

    def __init__(self, config):
        super().__init__(config)
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[int, requests.Response] = {}  # id(request.cancel_event) -> streaming answer

    def __repr__(self) -> str:
        return f"HuggingFaceProvider(base_url={self.base_url!r}, configured={self.is_configured()})"

    # --- what this provider offers -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.config.get(BASE_URL)

    def model_per_scale(self) -> dict[int, str]:
        return {scale: model for scale, setting in MODEL_FOR_SCALE.items() if (model := self.config.get(setting))}

    def is_configured(self) -> bool:
        return bool(self.config.get(TOKEN))

    def models(self) -> Sequence[ModelInfo]:
        scales_by_model: dict[str, list[int]] = {}
        for scale, model in sorted(self.model_per_scale().items()):
            scales_by_model.setdefault(model, []).append(int(scale))
        return tuple(
            ModelInfo(model, tuple(scales), MODEL_DESCRIPTIONS.get(model, ""), ("prompt",) if model == SD_X4 else ())
            for model, scales in scales_by_model.items()
        )

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        model = self.model_per_scale().get(scale)
        if model is None:
            raise InvalidInput(f"no Hugging Face model is configured for {scale}x (set HDCORE_HF_MODEL_X{scale})")
        return model

    # --- one upscale ---------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        request = self._with_deadline(request)
        model = request.model or self.default_model(request.scale, request.options)
        self._stop_if_due(request, model)
        auth = _BearerAuth(self._token(model))
        content_type, body = _payload(request)
        with self._translated(request, model):
            data = self._exchange(request, model, auth, content_type, body)
        return self._output(data, request, model)

    def cancel(self, request: UpscaleRequest) -> None:
        with self._lock:
            response = self._in_flight.get(id(request.cancel_event))
        if response is not None:
            _cut(response)

    def _secret(self) -> Secret | None:
        return self.config.get(TOKEN)

    def _token(self, model: str) -> str:
        secret = self.config.get(TOKEN)
        if not secret:
            raise self._error(AuthError, "not configured (set HUGGINGFACE_TOKEN)", model)
        token = secret.reveal()
        if not _HEADER_SAFE_TOKEN.fullmatch(token):
            raise self._error(AuthError, "HUGGINGFACE_TOKEN holds characters an HTTP header cannot carry", model)
        return token

    # --- the HTTP exchange ---------------------------------------------------------------------------

    def _exchange(self, request: UpscaleRequest, model: str, auth: _BearerAuth, content_type: str,
                  body: bytes) -> bytes:
        url = f"{self.base_url}/models/{model}"
        log.debug("POST %s (%s, %d bytes)", url, content_type, len(body))
        response = self._session_for_calls().post(
            url,
            data=body,
            auth=auth,  # an auth object, not a header: requests would otherwise let ~/.netrc replace it
            headers={"Accept": "image/png", "Content-Type": content_type},
            stream=True,
            timeout=_socket_timeouts(request),
        )
        with self._watched(request, response):
            log.debug("Hugging Face answered HTTP %d for %s", response.status_code, model)
            if not 200 <= response.status_code < 300:
                raise self._http_error(response, request, model)
            return self._image_body(response, request, model)

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

    def _image_body(self, response: requests.Response, request: UpscaleRequest, model: str) -> bytes:
        declared = _declared_length(response)
        if declared is not None and declared > MAX_BODY_BYTES:
            raise self._error(BadOutput, f"answer of {declared:,} bytes is over the {MAX_BODY_BYTES:,}-byte limit",
                              model)
        data = self._read_up_to(response, request, model, MAX_BODY_BYTES)
        if len(data) > MAX_BODY_BYTES:
            raise self._error(BadOutput, f"answer is over the {MAX_BODY_BYTES:,}-byte limit", model)
        return data

    def _read_up_to(self, response: requests.Response, request: UpscaleRequest, model: str, limit: int) -> bytes:
        """The body, or its first ``limit`` bytes and a little more when it is longer.

        read1 returns whatever one socket read brings; iter_content would block until a whole chunk arrived.
        """
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            self._stop_if_due(request, model)
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        self._stop_if_due(request, model)  # a cut socket ends the body early: say why, not "truncated"
        return b"".join(chunks)

    # --- turning answers and failures into hdcore's errors -------------------------------------------

    def _http_error(self, response: requests.Response, request: UpscaleRequest, model: str) -> ProviderError:
        status = response.status_code
        detail, estimated = _error_detail(self._read_up_to(response, request, model, MAX_ERROR_BODY_BYTES))
        if status in (401, 403):
            return self._error(AuthError, f"Hugging Face rejected the token (HTTP {status})", model)
        if status in (404, 410):
            return self._error(PermanentError, f"model not served here (HTTP {status})", model)
        if status == 429:
            return self._rate_limited(response, model)
        if status == 503 and estimated is not None:
            return self._error(TransientError, f"model is loading (HTTP 503), ready in about {estimated:.0f} s", model)
        suffix = f": {detail}" if detail else ""
        if status >= 500:
            return self._error(TransientError, f"Hugging Face server error (HTTP {status}){suffix}", model)
        if 400 <= status < 500:
            return self._error(PermanentError, f"Hugging Face refused the request (HTTP {status}){suffix}", model)
        return self._error(TransientError, f"unexpected answer from Hugging Face (HTTP {status}){suffix}", model)

    def _rate_limited(self, response: requests.Response, model: str) -> RateLimited:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        wait = "" if retry_after is None else f", retry after {retry_after:.0f} s"
        return self._error(RateLimited, f"rate limited by Hugging Face (HTTP 429){wait}", model,
                           retry_after=retry_after)

    @contextlib.contextmanager
    def _translated(self, request: UpscaleRequest, model: str) -> Iterator[None]:
        """The one place where exceptions from requests, urllib3 and sockets become hdcore's errors."""
        try:
            yield
        except ProviderError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            raise self._foreign_error(error, request, model) from error

    def _foreign_error(self, error: Exception, request: UpscaleRequest, model: str) -> ProviderError:
        interruption = self._interruption(request, model)
        if interruption is not None:  # we cut the socket ourselves (cancel or deadline): that is the reason
            return interruption
        if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self._timed_out(model, "waiting for Hugging Face")
        return self._error(TransientError, f"connection to Hugging Face failed ({_root_cause(error)})", model)

    # --- the image that came back --------------------------------------------------------------------

    def _output(self, data: bytes, request: UpscaleRequest, model: str) -> ProviderOutput:
        try:
            color = images.decode_output(data, max_pixels=self.config.max_output_pixels)
        except InvalidImage as error:
            raise self._error(BadOutput, f"Hugging Face answered with no usable image: {error}", model) from error
        color, warnings = fitted(color, request.output_size, "Hugging Face")
        return ProviderOutput(image=color, model=model, cost=self._cost(model), warnings=warnings)

    def _cost(self, model: str) -> Cost:
        # Free with HF Pro, rate-limited otherwise (the seed). hdcore.prices is not asked: its "run:<model>"
        # figures are Replicate's catalogue prices, and nightmareai/real-esrgan would be billed at Replicate's rate.
        return Cost(0.0, "estimated")


class _BearerAuth(AuthBase):
    """Adds the bearer header at send time; its repr never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self._token}"
        return prepared

    def __repr__(self) -> str:
        return "_BearerAuth('********')"


def _payload(request: UpscaleRequest) -> tuple[str, bytes]:
    """(Content-Type, body): the PNG itself, or HF's JSON form when a prompt guides the model."""
    png = png_bytes(request.image)
    prompt = _prompt(request.options)
    if prompt is None:
        return "image/png", png
    document = {"inputs": base64.b64encode(png).decode("ascii"), "parameters": {"prompt": prompt}}
    return "application/json", json.dumps(document).encode("utf-8")


def _prompt(options: Mapping[str, Any]) -> str | None:
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


def _declared_length(response: requests.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _error_detail(body: bytes) -> tuple[str, float | None]:
    """HF's JSON error: ({"error": text or [texts], "estimated_time": seconds}) as (text, seconds)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "", None
    if not isinstance(payload, dict):
        return "", None
    error = payload.get("error") or ""
    text = "; ".join(map(str, error)) if isinstance(error, list) else str(error)
    estimated = payload.get("estimated_time")
    usable = isinstance(estimated, (int, float)) and not isinstance(estimated, bool) and math.isfinite(estimated)
    return shortened(text), float(estimated) if usable else None


def _root_cause(error: BaseException) -> str:
    """The innermost reason in requests' and urllib3's wrappers, e.g. "connection reset by peer"."""
    inner = innermost(error, _wrapped)
    return os_reason(inner) or shortened(str(inner)) or type(inner).__name__


def _wrapped(error: BaseException) -> BaseException | None:
    reason = getattr(error, "reason", None)  # urllib3's MaxRetryError
    if isinstance(reason, BaseException):
        return reason
    for arg in error.args:  # requests' and urllib3's errors carry their cause as an argument
        if isinstance(arg, BaseException):
            return arg
    return error.__cause__



PROVIDER = HuggingFaceProvider
