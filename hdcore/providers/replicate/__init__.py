"""The Replicate tier: Real-ESRGAN (the seed's pinned version) by default; SwinIR, the Magic Image Refiner,
Clarity, Recraft crisp, Topaz and Google's upscaler on request (``models.py`` says what each takes).

One prediction per request, never more, safe by construction:

* every create carries ``Cancel-After`` (the time left to the tier's deadline plus a margin), so Replicate itself
  ends the prediction by then even if this process dies: ``aborted`` when it never started (not billed),
  ``canceled`` when it was running;
* official models are created by name (``POST /v1/models/{owner}/{name}/predictions``), the others by version
  (the seed's pin, or the model's latest version, looked up at most hourly);
* an input whose data URI would pass 1 MB goes through the Files API first (``POST /v1/files``) and the
  prediction gets the file's URL;
* the create is held open briefly (``Prefer: wait``) when the deadline leaves room, then polled until it ends or
  the deadline passes. Whenever we stop waiting for a prediction that may still run (deadline, the caller's
  cancel, any error while waiting) we POST its cancel, from a thread of its own.

The output file is fetched at once (Replicate keeps outputs about an hour) with a client that never carries the
token, only from Replicate's delivery hosts (or the configured API's own origin), size-capped, within the
deadline. The SDK's ``run()`` is not used: it has no overall deadline and never cancels.

Options (``request.options``): ``face_enhance`` (Real-ESRGAN, Topaz; default False); ``prompt``,
``resemblance`` and ``creativity`` (the refiner, Clarity).
"""

from __future__ import annotations

import base64
import io
import logging
import math
import threading
import time
from typing import Any, Mapping, Sequence

import httpx
import numpy as np
import replicate
from replicate.prediction import Prediction

from ...attempts import Cost, ProviderOutput
from ...config import MAX_PIXELS, Config, Setting, secret, seconds, url, whole
from ...errors import AuthError, Cancelled, PermanentError, ProviderError, ProviderTimeout, RateLimited, TransientError
from ...prices import PriceTable, model_name
from ..base import ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest
from ..remote import png_bytes
from .errors import CREATING, LOOKING_UP, UPLOADING, Translator
from .models import (
    DEFAULT_ALIASES, DEFAULT_MODEL, HARDWARE_PRICES, MODEL_PRICES, MODELS, canonical, pinned_version, spec,
)  # fmt: skip
from .output import API_READ_TIMEOUT_S, CONNECT_TIMEOUT_S, Download, decoded, fitted, output_url
from .transport import (
    BoundedTimeouts, CancelAfter, PredictionState, allowed_output_url, disable_sdk_retries, model_aliases,
    refuse_redirects, sdk_base_url,
)  # fmt: skip

__all__ = ["INFO", "PROVIDER", "ReplicateProvider", "allowed_output_url", "sdk_base_url"]

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
PREFER_WAIT_MAX_S = 5  # a create held open cannot be cancelled (its id is not known yet), so hold it briefly
PREFER_WAIT_MARGIN_S = 1.0  # left for the download after a synchronous answer
POLL_FIRST_S = 0.25
POLL_MAX_S = 1.0
NO_DEADLINE_CAP_S = 600.0  # when the tier has no timeout, still stop waiting for a prediction at some point
VERSION_CACHE_S = 3600.0  # a model's latest version is looked up at most hourly
DATA_URI_MAX_BYTES = 1_000_000  # Replicate recommends data URIs only under 1 MB; larger inputs are uploaded
DATA_URI_PREFIX = "data:image/png;base64,"
DEFAULT_BASE_URL = "https://api.replicate.com/v1"
DEFAULT_MAX_INPUT_PIXELS = 2560 * 1440  # the seed: "max input 1440p recommended"
# Cancel-After is the time left plus this: our own cancel at the deadline normally ends the prediction first;
# the header is the backstop, and must not fire while a create's answer (up to 5 s to connect) is in flight.
DEFAULT_CANCEL_AFTER_MARGIN_S = 5.0

TOKEN = Setting("REPLICATE_API_TOKEN", secret, None, "turns on Replicate; billed per prediction")
BASE_URL = Setting("REPLICATE_BASE_URL", url, None, "the API's base URL (the SDK's own variable)")
BASE_URL_ALIAS = Setting("HDCORE_REPLICATE_BASE_URL", url, None, "the same, under hdcore's prefix")
MAX_INPUT_PIXELS = Setting("HDCORE_REPLICATE_MAX_INPUT_PIXELS", whole(1, MAX_PIXELS), DEFAULT_MAX_INPUT_PIXELS,
                           "larger inputs skip Replicate")  # fmt: skip
MODEL_ALIASES = Setting("HDCORE_REPLICATE_MODEL_ALIASES", model_aliases, None,
                        'models that moved, as JSON {"old-owner/name": "new-owner/name"}')  # fmt: skip
CANCEL_AFTER_MARGIN = Setting("HDCORE_REPLICATE_CANCEL_AFTER_MARGIN", seconds(0.0, 600.0, off=False),
                              DEFAULT_CANCEL_AFTER_MARGIN_S, "seconds past the tier's deadline when Replicate "
                              "itself ends a prediction (Cancel-After)")  # fmt: skip
FACE_ENHANCE = OptionInfo("face_enhance", "Face enhance (Replicate: Real-ESRGAN with GFPGAN, Topaz)", "toggle",
                          "Restores faces after the upscale", default=False)  # fmt: skip
PROMPT = OptionInfo("prompt", "Prompt", "text", "Guides the Magic Image Refiner and Clarity, e.g. a sharp photo")

INFO = ProviderInfo(
    id="replicate",
    label="Replicate",
    short_label="Replicate",
    requires="REPLICATE_API_TOKEN",
    default_timeout_s=30.0,  # the seed's deadline
    max_concurrency=4,  # predictions at once from one process; Replicate queues more on its side anyway
    retry_safe=False,  # a create may have started a billed prediction: never repeat it
    bills_failed_calls=True,  # a failed or cancelled prediction is billed for the time it ran
    cost_note="per prediction: the price table's estimate, measured from predict_time for time-billed models",
    settings=(TOKEN, BASE_URL, BASE_URL_ALIAS, MAX_INPUT_PIXELS, MODEL_ALIASES, CANCEL_AFTER_MARGIN),
    identity=(TOKEN, BASE_URL, BASE_URL_ALIAS),
    options=(FACE_ENHANCE, PROMPT),
)


class ReplicateProvider(Provider):
    """Upscales through Replicate's HTTP API with the official SDK, one cancellable prediction per request."""

    info = INFO

    def __init__(self, config: Config):
        super().__init__(config)
        self.aliases = {**DEFAULT_ALIASES, **(config.get(MODEL_ALIASES) or {})}
        self.prices = PriceTable.declared("replicate", MODEL_PRICES, HARDWARE_PRICES, config.prices,
                                          unprefixed=True, aliases=self.aliases)  # fmt: skip
        self._clients_lock = threading.Lock()
        self._sdk_client: replicate.Client | None = None
        self._download_client: httpx.Client | None = None
        self._running_lock = threading.Lock()
        self._running: dict[int, str] = {}  # id(request) -> the id of its prediction, while it may still run
        self._versions: dict[str, tuple[str, float]] = {}  # model -> (latest version id, when it was looked up)
        self._last_response = threading.local()  # the Retry-After of this thread's latest API answer
        self._cancel_after = CancelAfter()
        self.translator = Translator(self.name, lambda: self.config.get(TOKEN),
                                     lambda: getattr(self._last_response, "retry_after", None))  # fmt: skip

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self.base_url!r})"

    # ----------------------------------------------------------------------------------- Provider interface

    @property
    def base_url(self) -> str:
        return self.config.get(BASE_URL) or self.config.get(BASE_URL_ALIAS) or DEFAULT_BASE_URL

    def models(self) -> Sequence[ModelInfo]:
        return tuple(spec.info() for spec in MODELS.values())

    def model_info(self, model: str) -> ModelInfo | None:
        return super().model_info(model_name(self._canonical(model)))

    def options_for(self, model: str | None) -> tuple[OptionInfo, ...]:
        return super().options_for(None if model is None else model_name(self._canonical(model)))

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        """The price table's figure for what the model would answer (its own scale where it asks one)."""
        model = self._canonical(model)
        asked = spec(model).asked_scale(scale) if self.serves(model) else None
        factor = asked or scale
        return self.prices.estimate(model, round(request_size[0] * factor) * round(request_size[1] * factor))

    def price_rows(self) -> list[dict[str, Any]]:
        """The price table in force: per model (estimates), per second of hardware (measured costs)."""
        return self.prices.rows()

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return DEFAULT_MODEL

    def serves(self, model: str) -> bool:
        """A catalogue name (or an old name of one), or one pinned to a version (``owner/name:version``)."""
        name, colon, version = self._canonical(model).partition(":")
        return name in MODELS and (not colon or bool(version))

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        return super().scales(None if model is None else model_name(self._canonical(model)))

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
        model = self._canonical(request.model or DEFAULT_MODEL)
        self._refuse_unsendable(request, model)
        deadline = _deadline(request)
        payload = spec(model).build_input("", request)  # bad options fail before any I/O
        file_id = None
        try:
            payload["image"], file_id = self._input_reference(request, model, deadline)
            finished = self._run(model, payload, request, deadline)
        finally:
            if file_id is not None:
                self._in_background(self._delete_file, file_id, model, "hdcore-replicate-cleanup")
        self._raise_unless_succeeded(finished, request, model)
        request.report(2, 3)
        image, warnings, pixels = self._output_image(finished, request, model, deadline)
        request.report(3, 3)
        cost = self.prices.measured(model, finished.predict_time, pixels)
        return ProviderOutput(image=image, model=model, cost=cost, warnings=tuple(warnings))

    def cancel(self, request: UpscaleRequest) -> None:
        """Called by the engine (from its own thread) when it gives up on ``request``: stop its prediction."""
        self._abandon(request)

    def _canonical(self, model: str) -> str:
        return canonical(model, self.aliases)

    def _refuse_unsendable(self, request: UpscaleRequest, model: str) -> None:
        # The engine skips such requests before calling (skip_reason, preflight); refusing here keeps a direct call
        # safe too.
        if not self.serves(model):
            raise PermanentError(f"{model} is not a model this tier runs", provider=self.name, model=model)
        reason = self.skip_reason(request.size, request.scale) or self.preflight(model, request.size, request.scale)
        if reason:
            raise ProviderError(reason, provider=self.name, model=model, cost_usd=0.0)

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
            event_hooks={"request": [self._cancel_after], "response": [self._remember_response, refuse_redirects]},
            transport=BoundedTimeouts(self._api_timeout()),
        )
        disable_sdk_retries(client)
        return client

    def _downloads(self) -> Download:
        # A client of its own: no Authorization header ever goes to a file host, and no redirects are followed.
        with self._clients_lock:
            if self._download_client is None:
                self._download_client = httpx.Client(follow_redirects=False, timeout=self._api_timeout())
            return Download(self._download_client, self.base_url, self.translator)

    def _api_timeout(self) -> httpx.Timeout:
        tier = self.timeout() or NO_DEADLINE_CAP_S
        return httpx.Timeout(min(tier, API_READ_TIMEOUT_S), connect=min(tier, CONNECT_TIMEOUT_S))

    def _remember_response(self, response: httpx.Response) -> None:
        # ReplicateError keeps the status and body but not the headers; a 429's Retry-After is read from here.
        self._last_response.retry_after = response.headers.get("Retry-After")

    # ------------------------------------------------------------------------------------------------ input

    def _input_reference(self, request: UpscaleRequest, model: str, deadline: float) -> tuple[str, str | None]:
        """The image as a data URI, or (over 1 MB) as the URL of a file uploaded with the Files API, and its id."""
        png = png_bytes(request.image)
        if len(DATA_URI_PREFIX) + math.ceil(len(png) / 3) * 4 <= DATA_URI_MAX_BYTES:
            return DATA_URI_PREFIX + base64.b64encode(png).decode("ascii"), None
        with self.translator.translated(model, UPLOADING):
            uploaded = self._sdk().files.create(io.BytesIO(png), filename="input.png", content_type="image/png")
        file_url = (uploaded.urls or {}).get("get")
        if not isinstance(file_url, str) or not file_url.startswith(("https://", "http://")):
            raise TransientError("the Files API answered without a file URL", provider=self.name, model=model)
        logger.debug("replicate: uploaded the %s byte input as file %s", len(png), uploaded.id)
        self._check(request, model, deadline, "input upload unfinished at the deadline")
        return file_url, uploaded.id

    def _delete_file(self, file_id: str, model: str | None) -> None:
        try:
            with self.translator.translated(model, "deleting the uploaded input"):
                self._sdk().files.delete(file_id)
        except ProviderError as error:
            logger.debug("replicate: could not delete uploaded file %s: %s", file_id, error)

    # ------------------------------------------------------------------------------------ starting and waiting

    def _run(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float) -> PredictionState:
        """Create the prediction and wait for its end; cancel it whenever we stop waiting while it may run on."""
        prediction = self._start(model, payload, request, deadline)
        try:
            return self._wait(prediction, request, model, deadline)
        except BaseException:
            self._abandon(request)
            raise
        finally:
            self._forget(request)  # ended (or just cancelled): the engine's cancel() has nothing left to stop

    def _start(self, model: str, payload: dict[str, Any], request: UpscaleRequest, deadline: float) -> PredictionState:
        """Create the prediction (once: a create is never retried, it would be a second paid run) and register it."""
        margin = self.config.get(CANCEL_AFTER_MARGIN)
        wait = _prefer_wait(deadline)
        params: dict[str, Any] = {"wait": wait} if wait else {}
        by_name = spec(model).route == "official" and ":" not in model
        version = None if by_name else self._version(model)
        with self.translator.translated(model, CREATING), self._cancel_after.applied(_left(deadline) + margin):
            if by_name:
                created: Prediction = self._sdk().models.predictions.create(model=model, input=payload, **params)
            else:
                created = self._sdk().predictions.create(version=version, input=payload, **params)
            prediction = PredictionState.from_json(created.dict())
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
        with self.translator.translated(model, LOOKING_UP):
            latest = self._sdk().models.get(model).latest_version
        if latest is None:
            raise PermanentError(f"{model} has no version to run", provider=self.name, model=model, cost_usd=0.0)
        self._versions[model] = (latest.id, time.monotonic())
        return latest.id

    def _wait(self, prediction: PredictionState, request: UpscaleRequest, model: str, deadline: float
              ) -> PredictionState:  # fmt: skip
        """Poll until the prediction ends; raise (leaving the cancel to the caller) on deadline or cancel.

        No sleep passes the deadline, whatever a Retry-After says."""
        interval = POLL_FIRST_S
        while prediction.status not in TERMINAL:
            late = f"prediction still {prediction.status} at the deadline"
            self._check(request, model, deadline, late)
            request.cancel_event.wait(min(interval, _left(deadline)))
            self._check(request, model, deadline, late)
            prediction, pause = self._poll(prediction, model, deadline)
            interval = max(min(interval * 1.5, POLL_MAX_S), pause)
        return prediction

    def _poll(self, prediction: PredictionState, model: str, deadline: float) -> tuple[PredictionState, float]:
        """The prediction's latest state, and how long to pause before asking again.

        A failed poll is not a failed prediction: the prediction runs (and bills) on, so transient trouble
        (5xx, 429, a dropped connection, a slow answer) is waited out until the deadline. Read as JSON, not
        with the SDK's model, which cannot hold ``aborted``.
        """
        try:
            with self.translator.translated(model, "checking the prediction"):
                answer = self._sdk()._request("GET", f"/v1/predictions/{prediction.id}", timeout=_until(deadline))
                return PredictionState.from_json(answer.json()), 0.0
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
        if time.monotonic() >= deadline:  # the engine's deadline: it words the timeout as its own
            raise ProviderTimeout(late, provider=self.name, model=model, at_deadline=True)

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
        if prediction_id is not None:
            self._in_background(self._cancel_prediction, prediction_id, request.model, "hdcore-replicate-cancel")

    def _in_background(self, work: Any, subject: str, model: str | None, name: str) -> None:
        threading.Thread(target=work, args=(subject, model), name=name).start()

    def _cancel_prediction(self, prediction_id: str, model: str | None) -> None:
        try:
            with self.translator.translated(model, "cancelling the prediction"):
                self._sdk()._request("POST", f"/v1/predictions/{prediction_id}/cancel")
            logger.debug("replicate: cancelled prediction %s", prediction_id)
        except ProviderError as error:
            logger.warning("replicate: could not cancel prediction %s: %s", prediction_id, error)

    # ------------------------------------------------------------------------------------------- outcomes

    def _raise_unless_succeeded(self, prediction: PredictionState, request: UpscaleRequest, model: str) -> None:
        status, where = prediction.status, {"provider": self.name, "model": model}
        billed = None if prediction.predict_time is None else self.prices.measured(model, prediction.predict_time).usd
        if status == "succeeded":
            return
        if status == "aborted":  # Replicate's own deadline (Cancel-After) passed before it started: not billed
            raise ProviderTimeout("Replicate aborted the prediction before it started (its Cancel-After deadline "
                                  "passed); not billed", cost_usd=0.0, **where)  # fmt: skip
        if status == "failed":
            text = self.translator.safe(str(prediction.error or "no error text"))
            raise TransientError(f"prediction failed: {text}", cost_usd=billed, **where)
        if request.cancel_event.is_set():
            raise Cancelled("prediction cancelled", cost_usd=billed, **where)
        # Replicate ended it at its Cancel-After deadline while it ran, or someone else cancelled it (the dashboard,
        # another client): a failed tier, not our caller giving up.
        raise TransientError("prediction was canceled on Replicate's side", cost_usd=billed, **where)

    def _output_image(
        self, prediction: PredictionState, request: UpscaleRequest, model: str, deadline: float
    ) -> tuple[np.ndarray, list[str], int]:
        """The output at the requested size, its warnings, and the pixels the model answered (what it bills)."""
        asked = spec(model).asked_scale(request.scale)
        planned = None if asked is None else (request.size[0] * asked, request.size[1] * asked)
        budget = max(planned[0] * planned[1] if planned else 0, self.config.max_output_pixels, 2048 * 2048)
        check = lambda: self._check(request, model, deadline, "output download unfinished at the deadline")  # noqa: E731
        data = self._downloads().fetch(output_url(prediction, self.name, model), model, budget, deadline, check)
        color = decoded(data, budget, self.name, model)
        image, warnings = fitted(color, request.output_size, request.size, planned,
                                 {"provider": self.name, "model": model})  # fmt: skip
        return image, warnings, color.shape[0] * color.shape[1]


# ----------------------------------------------------------------------------------------------- helpers


def _deadline(request: UpscaleRequest) -> float:
    return request.deadline if request.deadline is not None else time.monotonic() + NO_DEADLINE_CAP_S


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _until(deadline: float) -> httpx.Timeout:
    """One API call's timeout: no longer than the time left (and never 0: the deadline check says why it ends)."""
    left = max(0.05, _left(deadline))
    return httpx.Timeout(min(left, API_READ_TIMEOUT_S), connect=min(left, CONNECT_TIMEOUT_S))


def _prefer_wait(deadline: float) -> int | None:
    """Seconds for ``Prefer: wait`` (1..PREFER_WAIT_MAX_S, leaving a margin before the deadline), or None."""
    seconds_left = math.floor(deadline - time.monotonic() - PREFER_WAIT_MARGIN_S)
    return min(seconds_left, PREFER_WAIT_MAX_S) if seconds_left >= 1 else None


PROVIDER = ReplicateProvider
