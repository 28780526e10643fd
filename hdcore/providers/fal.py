"""The fal tier (fal.ai): SeedVR2 by default; ESRGAN, AuraSR, Clarity, Recraft crisp and Topaz on request.

fal serves models through a queue (fal.ai/docs/model-endpoints/queue): ``POST {queue}/{model}`` submits and
answers a ``request_id``; ``GET {queue}/{owner}/{alias}/requests/{id}/status`` says ``IN_QUEUE``,
``IN_PROGRESS`` or ``COMPLETED`` (with ``metrics.inference_time``); ``GET .../requests/{id}`` is the result;
``PUT .../requests/{id}/cancel`` cancels. Every call carries ``Authorization: Key <FAL_KEY>``.

This module speaks that protocol with httpx rather than fal's official client (fal-client 1.0.3), because the
client cannot be held to this tier's rules: its hosts are module constants read from the environment at import
(``FAL_RUN_HOST``, ``FAL_QUEUE_RUN_HOST``) and always https, so a per-configuration base URL (or a local test
server) cannot be set; each of its requests retries up to 10 times with backoff, whatever the deadline; its
key-bearing client follows redirects (httpx drops the header only when the origin changes); and it polls the
status, result and cancel URLs the submit's answer names, wherever they point. Here every URL is built from the configured base and the request id, nothing is retried,
nothing is followed, and every wait ends at the tier's deadline.

One request per upscale, never repeated (a submit may have started a billed run). The submit carries
``X-Fal-Request-Timeout`` (the time left), so fal drops a request still queued at our deadline even if this
process is gone; whenever we stop waiting for a request that may still run (deadline, the caller's cancel, an
error while waiting) we PUT its cancel, from a thread of its own. The output file is fetched with a client that
never carries the key, only from fal's own file hosts (or the configured base URL's origin), capped, within the
deadline.

Options (``request.options``): ``face_enhance`` (ESRGAN, Topaz); ``prompt``, ``creativity``, ``resemblance``
(Clarity).

Where each model's facts come from: its page on fal.ai (fal.ai/models/<id>/llms.txt, read 2026): the input
schema and the price; Recraft's own limits for crisp upscale (recraft.ai/docs/api-reference/tools/upscale).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import numpy as np

from .. import images
from ..attempts import Cost, ProviderOutput
from ..config import Config, Secret, Setting, secret, url
from ..errors import (
    AuthError, BadOutput, Cancelled, InvalidInput, PermanentError, ProviderError, ProviderTimeout, RateLimited,
    RequestRejected, TransientError,
)  # fmt: skip
from ..prices import ModelPrice, PriceTable
from ..resize import lanczos_resize
from ..text import redacted, shortened
from .base import ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest, option_value
from .remote import ASPECT_TOLERANCE, aspect_error, png_bytes, read_capped, retry_after_seconds

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://queue.fal.run"
FILE_HOSTS = ("fal.media", "fal.run")  # and their subdomains (v3.fal.media ...), over https
FAL_BUCKET = ("storage.googleapis.com", "/falserverless/")  # fal's older public bucket
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
POLL_FIRST_S = 0.25
POLL_MAX_S = 1.0
API_READ_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
NO_DEADLINE_CAP_S = 600.0
MAX_RETRY_AFTER_S = 3600.0  # a rate window is a minute; longer is noise, bounded so no clock arithmetic overflows
MIN_OUTPUT_BYTES_CAP = 64 * 1024 * 1024
OUTPUT_BYTES_PER_PIXEL = 4
MIN_REQUEST_TIMEOUT_S = 1.0  # fal refuses an X-Fal-Request-Timeout of 1 s or less
API_BODY_CAP = 1024 * 1024  # a queue answer is a small JSON document (images come as file URLs)
STATUSES = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
SUBMITTING = "submitting the request"
FETCHING = "fetching the result"

KEY = Setting("FAL_KEY", secret, None, "turns on fal.ai; billed per megapixel, per run or per compute second")
BASE_URL = Setting("HDCORE_FAL_BASE_URL", url, None, "the queue API's base URL (default https://queue.fal.run)")
FACE_ENHANCE = OptionInfo("face_enhance", "Face enhance (fal: ESRGAN, Topaz)", "toggle",
                          "Restores faces after the upscale", default=False)  # fmt: skip
PROMPT = OptionInfo("prompt", "Prompt", "text", "Guides fal's Clarity upscaler, e.g. a sharp, detailed photo")

INFO = ProviderInfo(
    id="fal",
    label="fal.ai",
    short_label="fal",
    requires="FAL_KEY",
    default_timeout_s=30.0,  # as Replicate's: warm queues answer an upscale in seconds
    max_concurrency=4,
    retry_safe=False,  # a submit may have started a billed run: never repeat it
    bills_failed_calls=True,  # a request cancelled while it ran is billed for its compute
    cost_note="per output megapixel, per run or per compute second: the price table's estimate, measured from "
    "fal's inference_time for models billed by time",
    settings=(KEY, BASE_URL),
    identity=(KEY, BASE_URL),
    options=(FACE_ENHANCE, PROMPT),
)


@dataclass(frozen=True)
class FalModel:
    name: str
    description: str
    build_input: Callable[[str, UpscaleRequest], dict[str, Any]]
    asked_scale: Callable[[int], int | None]  # None: a size of its own
    price: ModelPrice
    options: tuple[str, ...] = ()
    max_input_pixels: int | None = None
    max_input_side: int | None = None
    max_output_pixels: int | None = None

    def info(self) -> ModelInfo:
        return ModelInfo(self.name, (2, 3, 4), self.description, self.options, self.max_input_pixels,
                         self.max_input_side, self.max_output_pixels)  # fmt: skip


def _seedvr(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image_url": image, "upscale_mode": "factor", "upscale_factor": request.scale}


def _esrgan(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image_url": image, "scale": request.scale, "model": "RealESRGAN_x4plus",
            "face": _flag(request, "face_enhance")}  # fmt: skip


def _aura_sr(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image_url": image, "upscaling_factor": 4, "checkpoint": "v2"}  # 4x only; v2 at the same price


def _clarity(image: str, request: UpscaleRequest) -> dict[str, Any]:
    payload = {"image_url": image, "upscale_factor": request.scale,
               "creativity": _number(request, "creativity", 0.35), "resemblance": _number(request, "resemblance", 0.6)}
    prompt = option_value(request.options, "prompt", str, "fal")
    return {**payload, "prompt": prompt} if prompt else payload


def _crisp(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image_url": image}


def _topaz(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image_url": image, "model": "Standard V2", "upscale_factor": request.scale, "output_format": "png",
            "face_enhancement": _flag(request, "face_enhance")}  # fmt: skip


def _flag(request: UpscaleRequest, name: str) -> bool:
    return bool(option_value(request.options, name, bool, "fal"))


def _number(request: UpscaleRequest, name: str, default: float) -> float:
    value = request.options.get(name, default)
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not 0.0 <= number <= 1.0:
        raise InvalidInput(f"fal: option {name} must be a number from 0 to 1, not {value!r}")
    return number


SEEDVR = "fal-ai/seedvr/upscale/image"
MODELS: dict[str, FalModel] = {m.name: m for m in (
    FalModel(SEEDVR, "SeedVR2 (one-step diffusion restoration, exact 2x/3x/4x)", _seedvr, lambda s: s,
             ModelPrice("megapixel", 0.001, source="fal.ai model page, 2026")),
    FalModel("fal-ai/esrgan", "Real-ESRGAN x4plus (exact 2x/3x/4x), optional face_enhance", _esrgan, lambda s: s,
             ModelPrice("second", 0.00111, seconds_per_mp=1.0, source="fal.ai model page, 2026"), ("face_enhance",)),
    FalModel("fal-ai/aura-sr", "AuraSR v2 (GAN, 4x native; 2x/3x from 4x)", _aura_sr, lambda s: 4,
             ModelPrice("second", 0.001, seconds_per_mp=1.0, source="fal.ai model page, 2026")),
    FalModel("fal-ai/clarity-upscaler", "Clarity upscaler (diffusion); creativity, resemblance, prompt", _clarity,
             lambda s: s, ModelPrice("megapixel", 0.03, source="fal.ai model page, 2026"), ("prompt",)),
    FalModel("fal-ai/recraft/upscale/crisp", "Recraft crisp upscale (a fixed scale of its own)", _crisp,
             lambda s: None, ModelPrice("run", 0.004, source="fal.ai model page, 2026"),
             max_input_pixels=4096 * 4096, max_input_side=4096),
    FalModel("fal-ai/topaz/upscale/image", "Topaz, Standard V2 (exact 2x/3x/4x), optional face_enhance", _topaz,
             lambda s: s, ModelPrice("block", 0.08, block_mp=24, source="fal.ai model page, 2026"),
             ("face_enhance",), max_output_pixels=512_000_000),
)}  # fmt: skip


class FalProvider(Provider):
    """Upscales through fal's queue API, one cancellable request per upscale."""

    info = INFO

    def __init__(self, config: Config):
        super().__init__(config)
        self.prices = PriceTable.declared("fal", {m.name: m.price for m in MODELS.values()}, {}, config.prices)
        self._clients_lock = threading.Lock()
        self._api_client: httpx.Client | None = None
        self._file_client: httpx.Client | None = None
        self._running_lock = threading.Lock()
        self._running: dict[int, tuple[str, str]] = {}  # id(request) -> (model, request id) while it may run

    def __repr__(self) -> str:
        return f"FalProvider(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.config.get(BASE_URL) or DEFAULT_BASE_URL

    def models(self) -> Sequence[ModelInfo]:
        return tuple(model.info() for model in MODELS.values())

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return SEEDVR

    def is_configured(self) -> bool:
        return bool(self.config.get(KEY))

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        factor = (MODELS[model].asked_scale(scale) if model in MODELS else None) or scale
        return self.prices.estimate(model, round(request_size[0] * factor) * round(request_size[1] * factor))

    def price_rows(self) -> list[dict[str, Any]]:
        return self.prices.rows()

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        model = request.model or SEEDVR
        if model not in MODELS:
            raise PermanentError(f"{model} is not a model this tier runs", provider=self.name, model=model)
        reason = self.preflight(model, request.size, request.scale)
        if reason:  # the engine skips such a request first; a direct call is refused here
            raise ProviderError(reason, provider=self.name, model=model, cost_usd=0.0)
        payload = MODELS[model].build_input("data:image/png;base64,", request)  # bad options fail before I/O
        payload["image_url"] = "data:image/png;base64," + base64.b64encode(png_bytes(request.image)).decode("ascii")
        deadline = request.deadline if request.deadline is not None else time.monotonic() + NO_DEADLINE_CAP_S
        status, result = self._run(model, payload, request, deadline)
        request.report(2, 3)
        color = self._output(result, request, model, deadline)
        request.report(3, 3)
        seconds = _finite((status.get("metrics") or {}).get("inference_time"))
        cost = self.prices.measured(model, seconds, color.shape[0] * color.shape[1])
        image, warnings = self._fitted(color, request, model)
        return ProviderOutput(image=image, model=model, cost=cost, warnings=warnings)

    def cancel(self, request: UpscaleRequest) -> None:
        """Called by the engine (from its own thread) when it gives up on ``request``: cancel its fal request."""
        self._abandon(request)

    # ---------------------------------------------------------------------------------------------- clients

    def _api(self) -> httpx.Client:
        with self._clients_lock:
            if self._api_client is None:
                key = self.config.get(KEY)
                if not key:
                    raise AuthError("no fal key configured (set FAL_KEY)", provider=self.name)
                self._api_client = httpx.Client(base_url=self.base_url, follow_redirects=False,
                                                headers={"Authorization": f"Key {key.reveal()}"})  # fmt: skip
            return self._api_client

    def _files(self) -> httpx.Client:
        # A client of its own: the key never goes to a file host, and no redirect is followed.
        with self._clients_lock:
            if self._file_client is None:
                self._file_client = httpx.Client(follow_redirects=False)
            return self._file_client

    def _call(self, method: str, path: str, model: str, doing: str, deadline: float, **kwargs: Any) -> Any:
        """One API call within the deadline, its answer as JSON; any failure a typed error (never retried).

        The body is streamed and capped, the deadline checked after every chunk: an endless answer ends too."""
        left = max(0.05, deadline - time.monotonic())
        timeout = httpx.Timeout(min(left, API_READ_TIMEOUT_S), connect=min(left, CONNECT_TIMEOUT_S))
        late = lambda: self._past(deadline, model, f"timed out {doing}")  # noqa: E731
        too_large = lambda: self._error(TransientError, f"fal's answer {doing} is over {API_BODY_CAP:,} bytes", model)  # noqa: E731
        try:
            with self._api().stream(method, path, timeout=timeout, **kwargs) as response:
                body = read_capped(response.iter_bytes(), API_BODY_CAP, too_large, check_after=late)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(f"timed out {doing}", provider=self.name, model=model) from error
        except httpx.HTTPError as error:
            raise self._error(TransientError, f"connection failed {doing}: {type(error).__name__}", model) from error
        if response.status_code >= 300:
            raise self._from_status(response.status_code, response.headers, body, model, doing)
        try:
            return json.loads(body)
        except ValueError as error:
            raise self._error(TransientError, f"unexpected answer from fal {doing}", model) from error

    def _past(self, deadline: float, model: str, message: str) -> None:
        if time.monotonic() >= deadline:
            raise ProviderTimeout(message, provider=self.name, model=model)

    # ------------------------------------------------------------------------------------------- the queue

    def _run(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float
             ) -> tuple[dict, Any]:  # fmt: skip
        """Submit, wait for COMPLETED, fetch the result; cancel whenever we stop waiting while it may still run."""
        request_id = self._submit(model, payload, request, deadline)
        seen: dict[str, Any] = {"status": "IN_QUEUE"}  # the latest status, as polled
        try:
            self._wait(model, request_id, request, deadline, seen)
            self._forget(request)  # COMPLETED: nothing left to cancel
        except ProviderError as error:
            if error.cost_usd is None and seen.get("status") == "IN_QUEUE":
                error.cost_usd = 0.0  # it never started: fal bills nothing
            raise
        finally:
            self._abandon(request)  # stopped waiting while it may still run: cancel it now
        result = self._call("GET", f"{_app(model)}/requests/{request_id}", model, FETCHING, deadline)
        return seen, result

    def _submit(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float) -> str:
        headers = {}
        left = deadline - time.monotonic()
        if left > MIN_REQUEST_TIMEOUT_S:  # fal drops a request still queued by then, even if we are gone
            headers["X-Fal-Request-Timeout"] = f"{math.floor(left * 10) / 10:.1f}"
        answer = self._call("POST", model, model, SUBMITTING, deadline, json=payload, headers=headers)
        request_id = answer.get("request_id") if isinstance(answer, dict) else None
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            raise self._error(TransientError, "fal answered the submit without a usable request id", model)
        with self._running_lock:
            self._running[id(request)] = (model, request_id)
        logger.debug("fal: request %s for %s submitted", request_id, model)
        request.report(1, 3)
        return request_id

    def _wait(self, model: str, request_id: str, request: UpscaleRequest, deadline: float, seen: dict) -> None:
        """Poll the status into ``seen`` until COMPLETED; no sleep passes the deadline, whatever a Retry-After says.

        A failed poll is not a failed request: it runs (and bills) on, so transient trouble is waited out."""
        interval, path = POLL_FIRST_S, f"{_app(model)}/requests/{request_id}/status"
        while True:
            self._check(request, model, deadline, f"request still {seen.get('status')} at the deadline")
            pause = 0.0
            try:
                answer = self._call("GET", path, model, "checking the request", deadline)
                if isinstance(answer, dict) and answer.get("status") in STATUSES:
                    seen.clear()
                    seen.update(answer)
            except RateLimited as error:
                pause = error.retry_after or POLL_MAX_S
            except (TransientError, ProviderTimeout) as error:
                logger.debug("fal: status of %s failed (%s); polling on", request_id, error)
            if seen.get("status") == "COMPLETED":
                return
            request.cancel_event.wait(min(max(interval, pause), max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, POLL_MAX_S)

    def _check(self, request: UpscaleRequest, model: str, deadline: float, late: str) -> None:
        if request.cancel_event.is_set():
            raise Cancelled("cancelled by the caller", provider=self.name, model=model)
        if time.monotonic() >= deadline:  # the engine's deadline: it words the timeout as its own
            raise ProviderTimeout(late, provider=self.name, model=model, at_deadline=True)

    def _forget(self, request: UpscaleRequest) -> tuple[str, str] | None:
        with self._running_lock:
            return self._running.pop(id(request), None)

    def _abandon(self, request: UpscaleRequest) -> None:
        """Cancel the request's fal request if it may still run; whoever gets here first does it, exactly once."""
        running = self._forget(request)
        if running is not None:
            threading.Thread(target=self._cancel_request, args=running, name="hdcore-fal-cancel").start()

    def _cancel_request(self, model: str, request_id: str) -> None:
        try:
            self._call("PUT", f"{_app(model)}/requests/{request_id}/cancel", model, "cancelling the request",
                       time.monotonic() + API_READ_TIMEOUT_S)  # fmt: skip
            logger.debug("fal: cancelled request %s", request_id)
        except ProviderError as error:  # 400 ALREADY_COMPLETED included: nothing left to stop
            logger.debug("fal: cancel of request %s: %s", request_id, error)

    # ---------------------------------------------------------------------------------------------- output

    def _output(self, result: Any, request: UpscaleRequest, model: str, deadline: float) -> np.ndarray:
        """The result's image (``image``, or the first of ``images``), fetched and decoded."""
        image = result.get("image") if isinstance(result, dict) else None
        if image is None and isinstance(result, dict) and isinstance(result.get("images"), list) and result["images"]:
            image = result["images"][0]
        file_url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(file_url, str) or not file_url:
            raise self._error(BadOutput, "fal's result has no image", model)
        factor = MODELS[model].asked_scale(request.scale) or 4  # a model of its own size: assume up to 4x
        limit = max(request.size[0] * request.size[1] * factor * factor, self.config.max_output_pixels)
        data = self._fetch(file_url, request, model, deadline, limit)
        try:
            return images.decode_output(data, max_pixels=limit)
        except InvalidInput as error:
            raise self._error(BadOutput, f"output is not an image: {error}", model) from error

    def _fetch(self, file_url: str, request: UpscaleRequest, model: str, deadline: float, pixels: int) -> bytes:
        cap = max(MIN_OUTPUT_BYTES_CAP, OUTPUT_BYTES_PER_PIXEL * pixels)
        if file_url.startswith("data:"):
            try:
                return images.read_source_bytes(file_url[: cap * 4 // 3 + 1024], allow_paths=False)
            except InvalidInput as error:
                raise self._error(BadOutput, f"output is not an image: {error}", model) from error
        if not self._allowed_file_url(file_url):
            host = urlsplit(file_url).hostname or "an unnamed host"
            raise self._error(BadOutput, f"refusing to fetch output from {host}", model)
        left = max(0.05, deadline - time.monotonic())
        timeout = httpx.Timeout(min(left, API_READ_TIMEOUT_S), connect=min(left, CONNECT_TIMEOUT_S))
        try:
            with self._files().stream("GET", file_url, timeout=timeout) as response:
                if response.status_code != 200:
                    raise self._error(TransientError if response.status_code >= 500 else BadOutput,
                                      f"output download answered HTTP {response.status_code}", model)  # fmt: skip
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise self._error(BadOutput, f"output is over {cap:,} bytes", model)
                return read_capped(response.iter_bytes(), cap, lambda: self._error(BadOutput,
                                   f"output is over {cap:,} bytes", model), check_after=lambda: self._check(
                                   request, model, deadline, "output download unfinished at the deadline"))  # fmt: skip
        except httpx.TimeoutException as error:
            raise ProviderTimeout("timed out downloading the output", provider=self.name, model=model) from error
        except httpx.HTTPError as error:
            raise self._error(TransientError, f"connection failed downloading the output: {type(error).__name__}",
                              model) from error  # fmt: skip

    def _allowed_file_url(self, file_url: str) -> bool:
        """fal's own file hosts over https, or the configured base URL's origin (a local server)."""
        parts, base = urlsplit(file_url), urlsplit(self.base_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and (any(host == h or host.endswith("." + h) for h in FILE_HOSTS)
                                        or host == FAL_BUCKET[0] and parts.path.startswith(FAL_BUCKET[1])):  # fmt: skip
            return True
        try:
            return bool(host) and (parts.scheme, host, parts.port) == (base.scheme, (base.hostname or "").lower(),
                                                                       base.port)  # fmt: skip
        except ValueError:  # a port that is not a number
            return False

    def _fitted(self, color: np.ndarray, request: UpscaleRequest, model: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The exact size: the planned answer of a 4x-only model asked 2x or 3x is resized quietly, another answer of
        the input's shape with a warning; another shape is left for the engine to reject."""
        got, wanted = (color.shape[1], color.shape[0]), request.output_size
        if got == wanted or aspect_error(got, request.size) > ASPECT_TOLERANCE:
            return color, ()
        asked = MODELS[model].asked_scale(request.scale)
        planned = None if asked is None else (request.size[0] * asked, request.size[1] * asked)
        warnings = () if got == planned else (f"fal returned {got[0]}x{got[1]}; resized to {wanted[0]}x{wanted[1]}",)
        return lanczos_resize(color, wanted), warnings

    # ---------------------------------------------------------------------------------------------- errors

    def _from_status(self, status: int, headers: httpx.Headers, body: bytes, model: str, doing: str
                     ) -> ProviderError:  # fmt: skip
        detail = _detail(body)
        suffix = f": {detail}" if detail else ""
        # an HTTP answer refusing the submit means nothing was queued: it costs nothing
        where: dict[str, Any] = {"cost_usd": 0.0} if doing == SUBMITTING else {}
        if 300 <= status < 400:
            return self._error(TransientError, f"fal answered a redirect (HTTP {status}) {doing}; not followed",
                               model, **where)  # fmt: skip
        if status in (401, 403):
            return self._error(AuthError, f"fal rejected the key (HTTP {status})", model, **where)
        if status in (404, 410):
            if doing == SUBMITTING:
                return self._error(PermanentError, f"model not served here (HTTP {status}){suffix}", model, **where)
            return self._error(TransientError, f"fal answered HTTP {status} {doing}{suffix}", model)
        if status == 429:
            seconds = retry_after_seconds(headers.get("Retry-After"))
            seconds = None if seconds is None else min(seconds, MAX_RETRY_AFTER_S)
            hint = f"; retry after {seconds:g} s" if seconds is not None else ""
            return self._error(RateLimited, f"rate limited by fal (HTTP 429){hint}", model, retry_after=seconds,
                               **where)  # fmt: skip
        if status >= 500:
            return self._error(TransientError, f"fal server error (HTTP {status}){suffix}", model, **where)
        return self._error(RequestRejected, f"fal rejected the request (HTTP {status}){suffix}", model, **where)

    def _error(self, kind: type[ProviderError], message: str, model: str, **extra: Any) -> Any:
        """Every error this tier raises: one line, the key masked (in any echoed form), then shortened."""
        key: Secret | None = self.config.get(KEY)
        secrets = [key.reveal(), *key.reveal().split(":")] if key else []
        text = shortened(redacted(message, secrets), ellipsis="…")
        return kind(text, provider=self.name, model=model, **extra)


def _app(model: str) -> str:
    """The queue's path for a model's requests: its owner and alias only (``fal-ai/seedvr``)."""
    return "/".join(model.split("/")[:2])


def _finite(value: Any) -> float | None:
    usable = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if usable else None


def _detail(body: bytes) -> str:
    """fal's ``detail``: a message, or FastAPI's list of {loc, msg}, from the first 4 kB of an error's body."""
    try:
        detail = json.loads(body[:4096]).get("detail")
    except (ValueError, AttributeError):
        return ""
    if isinstance(detail, list):
        return "; ".join(f"{(item.get('loc') or ['?'])[-1]}: {item.get('msg', '')}" for item in detail[:3]
                         if isinstance(item, dict))  # fmt: skip
    return str(detail) if isinstance(detail, (str, int, float)) else ""


PROVIDER = FalProvider
