"""The Replicate tier: Real-ESRGAN (the seed's pinned version) by default, SwinIR and Magic Image Refiner on request.

One prediction per request, never more: the prediction is created once (``Prefer: wait`` for a few seconds when
the deadline leaves room), then polled until it ends or the tier's deadline passes. Whenever we stop waiting
for a prediction that is still running (deadline, the caller's cancel, any error while waiting) we POST its
cancel so it stops billing. The SDK's ``run()`` is not used: it has no overall deadline and never cancels.

On the wire (replicate 1.0.7): ``GET /v1/models/{owner}/{name}`` to find a model's latest version (only for
models given without a version), ``POST /v1/predictions`` with ``{"version", "input"}``,
``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``. The output file is downloaded with a separate
HTTP client that never carries the token, only from Replicate's delivery hosts (or the configured API host),
with a size cap and the tier's deadline.

Options (``request.options``): ``face_enhance`` (Real-ESRGAN, default False); ``resemblance`` (default 0.75),
``creativity`` (default 0.25) and ``prompt`` (Magic Image Refiner).

The token lives in the SDK client's Authorization header only: every message we build is scrubbed of it, and
the output download never sends it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import numpy as np
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from ... import images
from ...attempts import Cost, ProviderOutput
from ...config import MAX_PIXELS, Config, Setting, secret, url, whole
from ...errors import (
    AuthError,
    BadOutput,
    Cancelled,
    InvalidImage,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    TransientError,
)
from ...prices import RUN, SECOND, PriceTable, model_name
from ...resize import lanczos_resize
from ..base import ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest
from ...text import shortened
from .models import DEFAULT_MODEL, MODELS, pinned_version, spec
from .transport import BoundedTimeouts, allowed_output_url, disable_sdk_retries, sdk_base_url
from ..remote import ASPECT_TOLERANCE, aspect_error, read_capped, redacted, retry_after_seconds

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
PREFER_WAIT_MAX_S = 5  # a create held open cannot be cancelled (its id is not known yet), so hold it briefly
PREFER_WAIT_MARGIN_S = 1.0  # left for the download after a synchronous answer
POLL_FIRST_S = 0.25
POLL_MAX_S = 1.0
NO_DEADLINE_CAP_S = 600.0  # when the tier has no timeout, still stop waiting for a prediction at some point
API_READ_TIMEOUT_S = 10.0  # one API call (create without wait, get, cancel) never needs longer
CONNECT_TIMEOUT_S = 5.0
VERSION_CACHE_S = 3600.0  # a model's latest version is looked up at most hourly
MIN_OUTPUT_BYTES_CAP = 64 * 1024 * 1024
OUTPUT_BYTES_PER_PIXEL = 4  # a PNG of an RGB photo stays well under this
DEFAULT_BASE_URL = "https://api.replicate.com/v1"
DEFAULT_MAX_INPUT_PIXELS = 2560 * 1440  # the seed: "max input 1440p recommended"

TOKEN = Setting("REPLICATE_API_TOKEN", secret, None, "turns on Replicate; billed per prediction")
BASE_URL = Setting("REPLICATE_BASE_URL", url, None, "the API's base URL (the SDK's own variable)")
BASE_URL_ALIAS = Setting("HDCORE_REPLICATE_BASE_URL", url, None, "the same, under hdcore's prefix")
MAX_INPUT_PIXELS = Setting("HDCORE_REPLICATE_MAX_INPUT_PIXELS", whole(1, MAX_PIXELS), DEFAULT_MAX_INPUT_PIXELS,
                           "larger inputs skip Replicate")
FACE_ENHANCE = OptionInfo("face_enhance", "Face enhance (Replicate Real-ESRGAN, GFPGAN)", "toggle",
                          "Restores faces with GFPGAN after the upscale", default=False)
PROMPT = OptionInfo("prompt", "Prompt", "text", "Guides the Magic Image Refiner, e.g. a sharp, detailed photo")

INFO = ProviderInfo(
    id="replicate",
    label="Replicate",
    short_label="Replicate",
    requires="REPLICATE_API_TOKEN",
    default_timeout_s=30.0,  # the seed's deadline
    max_concurrency=4,  # predictions at once from one process; Replicate queues more on its side anyway
    retry_safe=False,  # a create may have started a billed prediction: never repeat it
    bills_failed_calls=True,  # a failed or cancelled prediction is billed for the time it ran
    cost_note="per prediction: the price table's estimate, measured from predict_time when Replicate reports it",
    settings=(TOKEN, BASE_URL, BASE_URL_ALIAS, MAX_INPUT_PIXELS),
    identity=(TOKEN, BASE_URL, BASE_URL_ALIAS),
    options=(FACE_ENHANCE, PROMPT),
)


class ReplicateProvider(Provider):
    """Upscales through Replicate's HTTP API with the official SDK, one cancellable prediction per request."""

    info = INFO

    def __init__(self, config: Config):
        super().__init__(config)
        self.prices = PriceTable.from_config(config)
        self._clients_lock = threading.Lock()
        self._sdk_client: replicate.Client | None = None
        self._download_client: httpx.Client | None = None
        self._running_lock = threading.Lock()
        self._running: dict[int, str] = {}  # id(request) -> the id of its prediction, while it may still run
        self._versions: dict[str, tuple[str, float]] = {}  # model -> (latest version id, when it was looked up)
        self._last_response = threading.local()  # the Retry-After of this thread's latest API answer

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self.base_url!r})"

    # ----------------------------------------------------------------------------------- Provider interface

    @property
    def base_url(self) -> str:
        return self.config.get(BASE_URL) or self.config.get(BASE_URL_ALIAS) or DEFAULT_BASE_URL

    def models(self) -> Sequence[ModelInfo]:
        return tuple(ModelInfo(spec.name, (2, 3, 4), spec.description, spec.options) for spec in MODELS.values())

    def options_for(self, model: str | None) -> tuple[OptionInfo, ...]:
        return super().options_for(None if model is None else model_name(model))

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        return self.prices.estimate(model)

    def price_rows(self) -> list[dict[str, Any]]:
        """The price table in force, per run (estimates) and per second of hardware (measured costs)."""
        table, rows = self.prices, []
        for key, usd in table.prices.items():
            if key.startswith(RUN):
                model = key[len(RUN):]
                hardware = table.hardware.get(model, "")
                rows.append({"Item": model, "Unit": "per run (estimate)", "USD": usd,
                             "Note": f"runs on {hardware}" if hardware else ""})  # fmt: skip
            elif key.startswith(SECOND):
                hardware = key[len(SECOND):]
                users = sorted(m for m, h in table.hardware.items() if h == hardware)
                rows.append({"Item": hardware, "Unit": "per second (measured)", "USD": usd, "Note": ", ".join(users)})
        return rows

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return DEFAULT_MODEL

    def serves(self, model: str) -> bool:
        """A catalogue name, or one pinned to a version (``owner/name:version``)."""
        name, colon, version = model.partition(":")
        return name in MODELS and (not colon or bool(version))

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        return super().scales(None if model is None else model_name(model))

    def is_configured(self) -> bool:
        return bool(self.config.get(TOKEN))

    def skip_reason(self, request_size: tuple[int, int], scale: int) -> str:
        """Why a request of this size is not sent at all ("" when it is): Replicate's models are for <= 1440p."""
        width, height = request_size
        limit = self.config.get(MAX_INPUT_PIXELS)
        if width * height > limit:
            return f"input {width}x{height} exceeds Replicate's input limit of {limit:,} px (about 1440p); not sent"
        return ""

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        model = request.model or DEFAULT_MODEL
        self._refuse_unsendable(request, model)
        deadline = _deadline(request)
        payload = spec(model).build_input(_as_data_uri(request.image), request)  # bad options fail before I/O
        finished = self._run(model, payload, request, deadline)
        self._raise_unless_succeeded(finished, request, model)
        request.report(2, 3)
        image, warnings = self._output_image(finished, request, model, deadline)
        request.report(3, 3)
        return ProviderOutput(image=image, model=model, cost=self._cost(finished, model), warnings=tuple(warnings))

    def cancel(self, request: UpscaleRequest) -> None:
        """Called by the engine (from its own thread) when it gives up on ``request``: stop its prediction."""
        self._abandon(request)

    def _refuse_unsendable(self, request: UpscaleRequest, model: str) -> None:
        # The engine may skip such requests through skip_reason; refusing here too keeps a direct call safe.
        reason = self.skip_reason(request.size, request.scale)
        if reason:
            raise ProviderError(reason, provider=self.name, model=model)
        if not self.serves(model):
            raise PermanentError(f"{model} is not a model this tier runs", provider=self.name, model=model)

    # ---------------------------------------------------------------------------------------------- clients

    def _sdk(self) -> replicate.Client:
        with self._clients_lock:
            if self._sdk_client is None:
                self._sdk_client = self._new_sdk_client()
            return self._sdk_client

    def _new_sdk_client(self) -> replicate.Client:
        token = self.config.get(TOKEN)
        if not token:
            raise AuthError("no Replicate token configured (set REPLICATE_API_TOKEN)", provider=self.name)
        client = replicate.Client(
            api_token=token.reveal(),
            base_url=sdk_base_url(self.base_url),
            timeout=self._api_timeout(),
            event_hooks={"response": [self._remember_response]},
            transport=BoundedTimeouts(self._api_timeout()),
        )
        disable_sdk_retries(client)
        return client

    def _downloads(self) -> httpx.Client:
        # A client of its own: no Authorization header ever goes to a file host, and no redirects are followed.
        with self._clients_lock:
            if self._download_client is None:
                self._download_client = httpx.Client(follow_redirects=False, timeout=self._api_timeout())
            return self._download_client

    def _api_timeout(self) -> httpx.Timeout:
        tier = self.timeout() or NO_DEADLINE_CAP_S
        return httpx.Timeout(min(tier, API_READ_TIMEOUT_S), connect=min(tier, CONNECT_TIMEOUT_S))

    def _remember_response(self, response: httpx.Response) -> None:
        # ReplicateError keeps the status and body but not the headers; a 429's Retry-After is read from here.
        self._last_response.retry_after = response.headers.get("Retry-After")

    # ------------------------------------------------------------------------------------ starting and waiting

    def _run(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float) -> Prediction:
        """Create the prediction and wait for its end; cancel it whenever we stop waiting while it may run on."""
        prediction = self._start(model, payload, request, deadline)
        try:
            return self._wait(prediction, request, model, deadline)
        except BaseException:
            self._abandon(request)
            raise
        finally:
            self._forget(request)  # ended (or just cancelled): the engine's cancel() has nothing left to stop

    def _start(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float) -> Prediction:
        """Create the prediction (once: a create is never retried, it would be a second paid run) and register it."""
        with self._translated(model, "creating the prediction"):
            version = self._version(model)
            wait = _prefer_wait(deadline)
            params: dict[str, Any] = {"wait": wait} if wait else {}
            prediction = self._sdk().predictions.create(version=version, input=payload, **params)
        logger.debug("replicate: prediction %s for %s is %s", prediction.id, model, prediction.status)
        with self._running_lock:
            self._running[id(request)] = prediction.id
        request.report(1, 3)
        return prediction

    def _version(self, model: str) -> str:
        pinned = pinned_version(model)
        if pinned:
            return pinned
        cached = self._versions.get(model)
        if cached is not None and time.monotonic() - cached[1] < VERSION_CACHE_S:
            return cached[0]
        latest = self._sdk().models.get(model).latest_version
        if latest is None:
            raise PermanentError(f"{model} has no version to run", provider=self.name, model=model)
        self._versions[model] = (latest.id, time.monotonic())
        return latest.id

    def _wait(self, prediction: Prediction, request: UpscaleRequest, model: str, deadline: float) -> Prediction:
        """Poll until the prediction ends; raise (leaving the cancel to the caller) on deadline or cancel."""
        interval = POLL_FIRST_S
        while prediction.status not in TERMINAL:
            late = f"prediction still {prediction.status} at the deadline"
            self._check(request, model, deadline, late)
            request.cancel_event.wait(min(interval, max(0.0, deadline - time.monotonic())))
            self._check(request, model, deadline, late)
            prediction, pause = self._poll(prediction, model)
            interval = max(min(interval * 1.5, POLL_MAX_S), pause)
        return prediction

    def _poll(self, prediction: Prediction, model: str) -> tuple[Prediction, float]:
        """The prediction's latest state, and how long to pause before asking again.

        A failed poll is not a failed prediction: the prediction runs (and bills) on, so transient trouble
        (5xx, 429, a dropped connection, a slow answer) is waited out until the deadline.
        """
        try:
            with self._translated(model, "checking the prediction"):
                return self._sdk().predictions.get(prediction.id), 0.0
        except (TransientError, ProviderTimeout) as error:
            logger.debug("replicate: poll of %s failed (%s); polling on", prediction.id, error)
            return prediction, 0.0
        except RateLimited as error:
            logger.debug("replicate: poll of %s rate limited; polling on", prediction.id)
            return prediction, error.retry_after or POLL_MAX_S

    def _check(self, request: UpscaleRequest, model: str, deadline: float, late: str) -> None:
        """Raise Cancelled when the caller gave up, ProviderTimeout (saying ``late``) past the deadline."""
        if request.cancel_event.is_set():
            raise Cancelled("cancelled by the caller", provider=self.name, model=model)
        if time.monotonic() >= deadline:
            raise ProviderTimeout(late, provider=self.name, model=model)

    # ------------------------------------------------------------------------------------------- cancelling

    def _forget(self, request: UpscaleRequest) -> str | None:
        with self._running_lock:
            return self._running.pop(id(request), None)

    def _abandon(self, request: UpscaleRequest) -> None:
        """Cancel the request's prediction if it may still run; whoever gets here first does it, exactly once.

        The POST goes out from a thread of its own so the engine's fallback never waits on it; the thread is
        not a daemon, so a process that exits right after still sends it (bounded by the API timeout).
        """
        prediction_id = self._forget(request)
        if prediction_id is None:
            return
        threading.Thread(
            target=self._cancel_prediction, args=(prediction_id, request.model), name="hdcore-replicate-cancel"
        ).start()

    def _cancel_prediction(self, prediction_id: str, model: str | None) -> None:
        try:
            with self._translated(model, "cancelling the prediction"):
                self._sdk().predictions.cancel(prediction_id)
            logger.debug("replicate: cancelled prediction %s", prediction_id)
        except ProviderError as error:
            logger.warning("replicate: could not cancel prediction %s: %s", prediction_id, error)

    # ------------------------------------------------------------------------------------------- outcomes

    def _raise_unless_succeeded(self, prediction: Prediction, request: UpscaleRequest, model: str) -> None:
        if prediction.status == "succeeded":
            return
        if prediction.status == "failed":
            text = self._safe(str(prediction.error or "no error text"))
            raise TransientError(f"prediction failed: {text}", provider=self.name, model=model)
        if request.cancel_event.is_set():
            raise Cancelled("prediction cancelled", provider=self.name, model=model)
        # Someone else cancelled it (the dashboard, another client): a failed tier, not our caller giving up.
        raise TransientError("prediction was canceled on Replicate's side", provider=self.name, model=model)

    def _cost(self, prediction: Prediction, model: str) -> Cost:
        predict_time = (prediction.metrics or {}).get("predict_time")
        if isinstance(predict_time, (int, float)) and not isinstance(predict_time, bool):
            return self.prices.measured(model, float(predict_time))
        return self.prices.estimate(model)

    def _output_image(
        self, prediction: Prediction, request: UpscaleRequest, model: str, deadline: float
    ) -> tuple[np.ndarray, list[str]]:
        asked = spec(model).asked_scale(request.scale)
        planned = None if asked is None else (request.size[0] * asked, request.size[1] * asked)
        budget = max(planned[0] * planned[1] if planned else 0, self.config.max_output_pixels, 2048 * 2048)
        data = self._fetch(_output_url(prediction, self.name, model), request, model, deadline, budget)
        try:
            color = images.decode_output(data, max_pixels=budget)
        except InvalidImage as error:
            raise BadOutput(f"output is not an image: {error}", provider=self.name, model=model) from error
        return self._fitted(color, request, model, planned)

    def _fitted(
        self, color: np.ndarray, request: UpscaleRequest, model: str, planned: tuple[int, int] | None
    ) -> tuple[np.ndarray, list[str]]:
        """The output at exactly the requested size; a planned size (3x via 4x) is resized without a warning."""
        got = (color.shape[1], color.shape[0])
        wanted = request.output_size
        if got == wanted:
            return color, []
        # Not remote.fitted, the Hugging Face tiers' rule: here the shape is compared with the input's, another
        # shape is refused outright, and an answer of the right shape is resized up as well as down.
        if aspect_error(got, request.size) > ASPECT_TOLERANCE:
            width, height = request.size
            message = f"output is {got[0]}x{got[1]}, not the shape of the {width}x{height} input"
            raise BadOutput(message, provider=self.name, model=model)
        if got == planned:
            return lanczos_resize(color, wanted), []
        warning = f"Replicate returned {got[0]}x{got[1]}; resized to {wanted[0]}x{wanted[1]}"
        return lanczos_resize(color, wanted), [warning]

    # ------------------------------------------------------------------------------------------- download

    def _fetch(self, url: str, request: UpscaleRequest, model: str, deadline: float, pixels: int) -> bytes:
        limit = max(MIN_OUTPUT_BYTES_CAP, OUTPUT_BYTES_PER_PIXEL * pixels)
        if url.startswith("data:"):
            return self._from_data_uri(url, model, limit)
        if not allowed_output_url(url, self.base_url):
            host = urlsplit(url).hostname or url[:40]
            raise BadOutput(f"refusing to fetch output from {host}", provider=self.name, model=model)
        with self._translated(model, "downloading the output"):
            return self._download(url, request, model, deadline, limit)

    def _from_data_uri(self, uri: str, model: str, limit: int) -> bytes:
        if len(uri) > limit * 4 // 3 + 1024:
            raise BadOutput(f"output data URI is over {limit:,} bytes", provider=self.name, model=model)
        try:
            return images.read_source_bytes(uri)
        except InvalidImage as error:
            raise BadOutput(f"output is not an image: {error}", provider=self.name, model=model) from error

    def _download(self, url: str, request: UpscaleRequest, model: str, deadline: float, limit: int) -> bytes:
        """Stream the file, checking size, the deadline and the caller's cancel after every chunk."""
        left = max(0.05, deadline - time.monotonic())
        timeout = httpx.Timeout(min(left, API_READ_TIMEOUT_S), connect=min(left, CONNECT_TIMEOUT_S))
        with self._downloads().stream("GET", url, timeout=timeout) as response:
            self._check_download_status(response, model, limit)
            return read_capped(
                response.iter_bytes(),
                limit,
                lambda: self._too_large(limit, model),
                check_after=lambda: self._check(request, model, deadline, "output download unfinished at the deadline"),
            )

    def _check_download_status(self, response: httpx.Response, model: str, limit: int) -> None:
        status = response.status_code
        if status >= 500:
            raise TransientError(f"output download answered HTTP {status}", provider=self.name, model=model)
        if status != 200:
            raise BadOutput(f"output download answered HTTP {status}", provider=self.name, model=model)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit, model)

    def _too_large(self, limit: int, model: str) -> BadOutput:
        return BadOutput(f"output is over {limit:,} bytes", provider=self.name, model=model)

    # ---------------------------------------------------------------------------------------------- errors

    @contextmanager
    def _translated(self, model: str | None, doing: str) -> Iterator[None]:
        """The one place where SDK and HTTP failures become hdcore's typed errors, with safe one-line text."""
        try:
            yield
        except ReplicateError as error:
            raise self._from_api_error(error, model) from error
        except httpx.TimeoutException as error:
            raise ProviderTimeout(f"timed out {doing}", provider=self.name, model=model) from error
        except httpx.HTTPError as error:  # connection refused or reset, broken HTTP
            text = f"connection failed {doing}: {type(error).__name__}"
            raise TransientError(text, provider=self.name, model=model) from error
        except ValueError as error:  # JSON that does not parse, or lacks what the API promises
            text = f"unexpected answer from Replicate {doing}: {self._safe(str(error))}"
            raise TransientError(text, provider=self.name, model=model) from error

    def _from_api_error(self, error: ReplicateError, model: str | None) -> ProviderError:
        # Scrubbed in place too: the original stays chained as __cause__, and tracebacks print it.
        error.detail, error.title = self._scrubbed(error.detail), self._scrubbed(error.title)
        status = error.status
        detail = self._safe(error.detail or error.title or "")
        suffix = f": {detail}" if detail else ""
        where = {"provider": self.name, "model": model}
        if status in (401, 403):
            return AuthError(f"Replicate rejected the token (HTTP {status})", **where)
        if status in (404, 410):
            return PermanentError(f"model not served here (HTTP {status}){suffix}", **where)
        if status == 429:
            retry_after = retry_after_seconds(getattr(self._last_response, "retry_after", None))
            hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            return RateLimited(f"rate limited by Replicate (HTTP 429){hint}", retry_after=retry_after, **where)
        if status is None or status >= 500:
            return TransientError(f"Replicate server error (HTTP {status}){suffix}", **where)
        return PermanentError(f"Replicate refused the request (HTTP {status}){suffix}", **where)

    def _safe(self, text: str) -> str:
        """One line, short, and never the token (a server or proxy might echo it back)."""
        return shortened(self._scrubbed(text), ellipsis="…")

    def _scrubbed(self, text: str | None) -> str | None:
        # None passes through: ReplicateError's detail and title are scrubbed in place and may be absent
        return redacted(text, self.config.get(TOKEN), mask="***") if text else text


# ----------------------------------------------------------------------------------------------- helpers


def _deadline(request: UpscaleRequest) -> float:
    return request.deadline if request.deadline is not None else time.monotonic() + NO_DEADLINE_CAP_S


def _prefer_wait(deadline: float) -> int | None:
    """Seconds for ``Prefer: wait`` (1..PREFER_WAIT_MAX_S, leaving a margin before the deadline), or None."""
    seconds = math.floor(deadline - time.monotonic() - PREFER_WAIT_MARGIN_S)
    return min(seconds, PREFER_WAIT_MAX_S) if seconds >= 1 else None


def _as_data_uri(color: np.ndarray) -> str:
    pixels = np.clip(np.rint(color * 255.0), 0, 255).astype(np.uint8)
    return images.to_data_uri(images.encode_image(Image.fromarray(pixels, "RGB"), "png"))


def _output_url(prediction: Prediction, provider: str, model: str) -> str:
    """Image models answer with one URL or a list of them; the first is the image."""
    output = prediction.output
    if isinstance(output, list):
        output = next((item for item in output if isinstance(item, str)), None)
    if not isinstance(output, str) or not output.strip():
        raise BadOutput("prediction succeeded without an output file", provider=provider, model=model)
    return output.strip()


PROVIDER = ReplicateProvider
