"""A Replicate HTTP API of ours on 127.0.0.1, faithful to what replicate-python 1.0.7 sends and reads.

Endpoints (all under ``/v1`` and behind ``Authorization: Bearer <token>``, except the output files):

    POST   /v1/predictions                         {"version": id | "owner/name" (official) | "owner/name:id"}
    POST   /v1/models/{owner}/{name}/predictions   {"input": {...}}: official models only (others: 404)
    GET    /v1/predictions/{id}
    POST   /v1/predictions/{id}/cancel
    GET    /v1/models/{owner}/{name}               with ``latest_version``
    GET    /v1/models/{owner}/{name}/versions/{id}
    POST   /v1/files                               multipart ``content``: 201 with ``urls.get`` (Files API)
    GET    /v1/files/{id}     DELETE /v1/files/{id}
    GET    /files/{name}                           output files, like replicate.delivery (no token needed)

A prediction goes ``starting`` -> ``processing`` -> ``succeeded`` / ``failed`` / ``canceled`` over
``state.run_seconds``. Without ``Prefer: wait`` the create answers at once (status ``starting``); with
``Prefer: wait=N`` it holds up to N s and answers with the prediction as it then stands. A ``Cancel-After``
duration (``40s``, ``1m30s``, ``500ms``, or bare seconds) is Replicate's deadline for the prediction: past it, one
still ``starting`` ends ``aborted`` (no metrics: not billed), one ``processing`` ends ``canceled`` (billed for the
time it ran). ``state.deadline_scale`` shortens every such deadline, so a test sees them without waiting.

Inputs are checked against each model's schema (422 with Replicate's problem JSON otherwise); an input image is a
data URI or the URL of a file uploaded here. Errors are problem JSON ``{"title", "detail", "status"}``. Outputs
are file URLs on this server (``state.output_base`` may point them elsewhere) or data URIs
(``state.output_mode``); the refiner and Clarity answer a list, the others a single string.

A test selects one fault with ``state.fault`` (see ``REPLICATE_FAULTS``); every request is recorded in
``state.requests``, every cancel in ``state.cancels``. Every wait is bounded and ends when the server stops.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any
from urllib.parse import quote

from PIL import Image

from tests.servers.base import HANG_SECONDS, LocalServer, QuietHandler, ServerState, upscaled_png
from tests.servers.replicate_schemas import (  # noqa: F401  (the names tests import from here)
    CLARITY, CLARITY_VERSION, CRISP_SCALE, GOOGLE_UPSCALER, OLD_REFINER, REAL_ESRGAN, REAL_ESRGAN_VERSION,
    RECRAFT_CRISP, REFINER, REFINER_VERSION, SWINIR, SWINIR_VERSION, TOPAZ, answers_a_list, catalogue,
    input_problem, output_scale,
)  # fmt: skip

TOKEN = "r8_test_Secret_Token_0123456789abcdef"
REPLICATE_FAULTS = (
    "hang",  # create: read the request, then say nothing
    "reset",  # create: TCP reset after reading the request
    "500",  # create answers 500
    "429",  # create answers 429 with Retry-After (state.retry_after; None: no header)
    "410",  # create answers 410: the version is gone
    "echo-token",  # create answers 500 whose detail repeats the Authorization header (a careless proxy)
    "echo-token-altered",  # the same, lower-cased and URL-encoded
    "endless-answer",  # create answers 201 with a body that never ends
    "redirect",  # create answers 307 to state.redirect_to (another host)
    "401",  # every API call answers 401
    "poll-500",  # every GET of a prediction answers 500; the prediction itself runs on
    "poll-429",  # every GET of a prediction answers 429 with Retry-After (state.retry_after)
    "queued",  # the prediction waits for hardware (stays starting) until cancelled or past its Cancel-After
    "slow",  # the prediction stays processing until cancelled or past its Cancel-After
    "failed",  # the prediction fails with state.error_text
    "canceled",  # the prediction is canceled by someone else
    "slow-download",  # the output file comes one byte at a time
    "expired-output",  # the output file is gone (Replicate deletes outputs after about an hour): 404
    "non-image",  # the output file is an HTML page
    "truncated",  # the output file is the first half of a PNG
    "wrong-size",  # the output image is state.wrong_size
)
TERMINAL = ("succeeded", "failed", "canceled", "aborted")
HOLD_STEP_S = 0.02
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    source: bytes  # the input image, resolved from its data URI or uploaded file
    created: float
    fault: str | None
    cancel_after: float | None = None  # seconds from creation, as the header said (before deadline_scale)
    status: str = "starting"
    started: float | None = None
    output: Any = None
    error: str | None = None
    predict_time: float | None = None
    completed: bool = False


@dataclass
class ReplicateState(ServerState):
    token: str = TOKEN
    retry_after: int | str | None = 7
    run_seconds: float = 0.2  # how long a prediction runs once created
    predict_time: float | None = 1.8  # reported as metrics.predict_time; None: no metrics at all
    output_mode: str = "url"  # "url" | "data-uri"
    output_base: str | None = None  # where output URLs point; None: this server
    wrong_size: tuple[int, int] = (50, 50)
    error_text: str = "CUDA out of memory.\nTried to allocate 2.00 GiB"
    honour_wait: bool = True  # False: Prefer: wait is ignored, as by an older API
    deadline_scale: float = 1.0  # Cancel-After deadlines run this much faster (a test need not wait them out)
    redirect_to: str = "http://127.0.0.1:9"  # another host, for the redirect fault
    models: dict[str, dict[str, Any]] = field(default_factory=catalogue)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # outputs, by name
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # Files API: id -> {"data", "json"}
    deleted_uploads: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    def creates(self) -> list[Any]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and re.fullmatch(
                r"/v1/(models/[\w.-]+/[\w.-]+/)?predictions", r.path)]  # fmt: skip

    def wait_for_cancel(self, timeout: float = 3.0) -> list[str]:
        """The cancels received, waiting (bounded) for the first: cancels are sent from a background thread."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.cancels:
            time.sleep(0.02)
        return list(self.cancels)

    def status_after(self, prediction_id: str, timeout: float) -> str:
        """The prediction's status once ``timeout`` has passed or it has ended, as a poll would see it then."""
        end = time.monotonic() + timeout
        while True:
            status = advanced(self, self.predictions[prediction_id]).status
            if status in TERMINAL or time.monotonic() >= end:
                return status
            time.sleep(0.02)


class ReplicateHandler(QuietHandler):
    state: ReplicateState

    # ----------------------------------------------------------------------------------------- dispatch

    def do_GET(self) -> None:
        self.state.record(self, b"")
        if self.path.startswith("/files/"):
            return self._send_file(self.path.removeprefix("/files/"))
        if not self._authorized():
            return None
        if match := re.fullmatch(r"/v1/predictions/([\w-]+)", self.path):
            return self._get_prediction(match.group(1))
        if match := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)", self.path):
            return self._get_model(f"{match.group(1)}/{match.group(2)}")
        if match := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/versions/(\w+)", self.path):
            return self._get_version(f"{match.group(1)}/{match.group(2)}", match.group(3))
        if (match := re.fullmatch(r"/v1/files/(\w+)", self.path)) and match.group(1) in self.state.uploads:
            return self.send_json(200, self.state.uploads[match.group(1)]["json"])
        return self._problem(404, "Not found", "The requested resource could not be found.")

    def do_POST(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        if not self._authorized():
            return None
        if match := re.fullmatch(r"/v1/predictions/([\w-]+)/cancel", self.path):
            return self._cancel(match.group(1))
        if self.path == "/v1/predictions":
            return self._create(body, by_name=None)
        if match := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/predictions", self.path):
            return self._create(body, by_name=f"{match.group(1)}/{match.group(2)}")
        if self.path == "/v1/files":
            return self._upload(body)
        return self._problem(404, "Not found", "The requested resource could not be found.")

    def do_DELETE(self) -> None:
        self.state.record(self, b"")
        if not self._authorized():
            return None
        if (match := re.fullmatch(r"/v1/files/(\w+)", self.path)) and match.group(1) in self.state.uploads:
            with self.state.lock:
                del self.state.uploads[match.group(1)]
                self.state.deleted_uploads.append(match.group(1))
            return self.send_bytes(204, b"", "application/json")
        return self._problem(404, "Not found", "The requested resource could not be found.")

    def _authorized(self) -> bool:
        if self.state.fault == "401" or self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            return False
        return True

    def _problem(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"title": title, "detail": detail, "status": status}).encode()
        self.send_bytes(status, body, "application/problem+json", headers)

    # ------------------------------------------------------------------------------------------ models

    def _get_model(self, name: str) -> None:
        entry = self.state.models.get(name)
        if entry is None:
            return self._problem(404, "Not found", f"Model {name} not found")
        owner, model = name.split("/")
        return self.send_json(200, {
            "url": f"https://replicate.com/{name}", "owner": owner, "name": model,
            "description": f"{name} (local test double)", "visibility": "public", "github_url": None,
            "paper_url": None, "license_url": None, "run_count": 1, "cover_image_url": None,
            "default_example": None, "latest_version": _version_json(entry),
        })  # fmt: skip

    def _get_version(self, name: str, version: str) -> None:
        entry = self.state.models.get(name)
        if entry is not None and entry["official"]:
            return self._problem(404, "Not found", "This model is an official model and does not expose a list "
                                 "of versions.")  # fmt: skip
        if entry is None or entry["version"] != version:
            return self._problem(404, "Not found", f"Version {version} of {name} not found")
        return self.send_json(200, _version_json(entry))

    # ------------------------------------------------------------------------------------- predictions

    def _create(self, body: bytes, by_name: str | None) -> None:
        if self._create_fault_answered():
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._problem(400, "Bad request", "The request body is not JSON")
        if by_name is not None and not self.state.models.get(by_name, {}).get("official"):
            return self._problem(404, "Not found", "The requested resource could not be found.")
        model = by_name or self._model_of_version(request.get("version"))
        if model is None:
            return self._problem(422, "Invalid version or not permitted", "The specified version does not exist "
                                 "(or perhaps you don't have permission to use it?)")  # fmt: skip
        problem = input_problem(self.state.models[model]["schema"], request.get("input"))
        source = None if problem else self._input_image(request["input"]["image"])
        if problem or source is None:
            return self._problem(422, "Input validation failed", problem or "image: could not fetch the file")
        cancel_after = _duration(self.headers.get("Cancel-After"))
        if cancel_after == -1.0:
            return self._problem(400, "Bad request", "Cancel-After must be a duration such as 40s or 1m30s")
        prediction = self._new_prediction(model, request["input"], source, cancel_after)
        self._hold(prediction, _prefer_wait(self.headers.get("Prefer")))
        return self.send_json(201, self._prediction_json(prediction))

    def _create_fault_answered(self) -> bool:
        fault, authorization = self.state.fault, self.headers.get("Authorization") or ""
        if fault == "reset":
            self.reset_connection()
        elif fault == "hang":
            self.state.stop.wait(HANG_SECONDS)
            self.close_connection = True
        elif fault == "500":
            self._problem(500, "Internal Server Error", "Something went wrong")
        elif fault == "echo-token":
            self._problem(500, "Internal Server Error", f"upstream refused {authorization}")
        elif fault == "echo-token-altered":
            self._problem(500, "Internal Server Error", f"upstream refused {authorization.lower()} "
                          f"(sent as {quote(authorization.upper(), safe='')})")  # fmt: skip
        elif fault == "429":
            headers = {} if self.state.retry_after is None else {"Retry-After": str(self.state.retry_after)}
            self._problem(429, "Too Many Requests", "Request was throttled. Your rate limit for creating "
                          "predictions is reduced to 6 requests per minute with a burst of 1.", headers)  # fmt: skip
        elif fault == "410":
            self._problem(410, "Gone", "This version has been removed")
        elif fault == "endless-answer":
            self.send_endless(201, "application/json", b'{"id": "')
        elif fault == "redirect":
            self.send_response(307)
            self.send_header("Location", f"{self.state.redirect_to}/v1/predictions")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            return False
        return True

    def _model_of_version(self, version: Any) -> str | None:
        """The model a create's ``version`` names: a version id, ``owner/name:id``, or an official ``owner/name``."""
        if not isinstance(version, str):
            return None
        name, _, version_id = version.rpartition(":") if ":" in version else ("", "", version)
        for model, entry in self.state.models.items():
            if name and name == model and entry["version"] == version_id:
                return model
            if not name and (entry["version"] == version_id or entry["official"] and version_id == model):
                return model
        return None

    def _input_image(self, reference: str) -> bytes | None:
        if reference.startswith("data:"):
            try:
                return base64.b64decode(reference.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error):
                return None
        match = re.fullmatch(re.escape(self.base_url()) + r"/v1/files/(\w+)", reference)
        upload = self.state.uploads.get(match.group(1)) if match else None
        return None if upload is None else upload["data"]

    def _new_prediction(self, model: str, inputs: dict, source: bytes, cancel_after: float | None) -> Prediction:
        version = self.state.models[model]["version"]
        prediction = Prediction(uuid.uuid4().hex[:20], model, version, inputs, source, time.monotonic(),
                                self.state.fault, cancel_after)  # fmt: skip
        with self.state.lock:
            self.state.predictions[prediction.id] = prediction
        return prediction

    def _hold(self, prediction: Prediction, seconds: float) -> None:
        """``Prefer: wait``: keep the request open until the prediction ends or ``seconds`` pass."""
        if not self.state.honour_wait:
            return
        end = time.monotonic() + min(seconds, HANG_SECONDS)
        while time.monotonic() < end and not self.state.stop.is_set():
            if advanced(self.state, prediction).status in TERMINAL:
                return
            time.sleep(HOLD_STEP_S)

    def _get_prediction(self, prediction_id: str) -> None:
        prediction = self.state.predictions.get(prediction_id)
        if prediction is None:
            return self._problem(404, "Not found", "Prediction not found")
        if self.state.fault == "poll-500":
            return self._problem(500, "Internal Server Error", "Something went wrong")
        if self.state.fault == "poll-429":
            return self._problem(429, "Too Many Requests", "Request was throttled.",
                                 {"Retry-After": str(self.state.retry_after)})
        return self.send_json(200, self._prediction_json(advanced(self.state, prediction)))

    def _cancel(self, prediction_id: str) -> None:
        prediction = self.state.predictions.get(prediction_id)
        if prediction is None:
            return self._problem(404, "Not found", "Prediction not found")
        advanced(self.state, prediction)
        with self.state.lock:
            self.state.cancels.append(prediction_id)
            if prediction.status not in TERMINAL:
                _end(prediction, "canceled")
        return self.send_json(200, self._prediction_json(prediction))

    # ------------------------------------------------------------------------------------------- files

    def _upload(self, body: bytes) -> None:
        """The Files API: one multipart part named ``content``, as the SDK's ``files.create`` sends it."""
        message = BytesParser(policy=default_policy).parsebytes(
            f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode() + body)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        content = parts.get("content")
        if content is None:
            return self._problem(400, "Bad request", "The content field is required")
        data = content.get_payload(decode=True) or b""
        file_id = uuid.uuid4().hex[:24]
        entry = {
            "id": file_id, "name": content.get_filename() or "file", "content_type": content.get_content_type(),
            "size": len(data), "etag": hashlib.md5(data).hexdigest(),
            "checksums": {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()},
            "metadata": {}, "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
            "urls": {"get": f"{self.base_url()}/v1/files/{file_id}"},
        }  # fmt: skip
        with self.state.lock:
            self.state.uploads[file_id] = {"data": data, "json": entry}
        return self.send_json(201, entry)

    def _send_file(self, name: str) -> None:
        data = self.state.files.get(name)
        prediction = self.state.predictions.get(name.removesuffix(".png"))
        fault = prediction.fault if prediction else None
        if data is None or fault == "expired-output":
            return self.send_bytes(404, b"not found", "text/plain")
        content_type = "text/html" if fault == "non-image" else "image/png"
        if fault == "slow-download":
            return self.send_slowly(200, data, content_type)
        return self.send_bytes(200, data, content_type)

    # ------------------------------------------------------------------------------------- the answers

    def _prediction_json(self, prediction: Prediction) -> dict[str, Any]:
        base = self.base_url()
        if prediction.status == "succeeded" and prediction.output is None:
            prediction.output = self._output_for(prediction)
        metrics = {} if prediction.predict_time is None else {"predict_time": prediction.predict_time}
        return {
            "id": prediction.id, "model": prediction.model, "version": prediction.version, "input": prediction.input,
            "logs": "", "output": prediction.output, "error": prediction.error, "status": prediction.status,
            "created_at": "2026-01-01T00:00:00.000000Z",
            "started_at": None if prediction.started is None else "2026-01-01T00:00:00.100000Z",
            "completed_at": "2026-01-01T00:00:02.000000Z" if prediction.completed else None,
            "urls": {"get": f"{base}/v1/predictions/{prediction.id}",
                     "cancel": f"{base}/v1/predictions/{prediction.id}/cancel"},
            "metrics": metrics if prediction.status in ("succeeded", "failed", "canceled") else {},
        }  # fmt: skip

    def _output_for(self, prediction: Prediction) -> Any:
        data, content_type = _output_file(self.state, prediction)
        if self.state.output_mode == "data-uri":
            reference = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        else:
            name = f"{prediction.id}.png"
            with self.state.lock:
                self.state.files[name] = data
            reference = f"{self.state.output_base or self.base_url()}/files/{name}"
        return [reference] if answers_a_list(prediction.model) else reference


# ------------------------------------------------------------------------------------- the "model" runs


def advanced(state: ReplicateState, prediction: Prediction) -> Prediction:
    """Move the prediction along its clock: queued, running, then its outcome; its Cancel-After ends it first."""
    with state.lock:
        if prediction.status in TERMINAL:
            return prediction
        now = time.monotonic()
        elapsed = now - prediction.created
        if prediction.cancel_after is not None and elapsed >= prediction.cancel_after * state.deadline_scale:
            _end(prediction, "aborted" if prediction.status == "starting" else "canceled")
            return prediction
        if prediction.fault == "queued" or elapsed < state.run_seconds / 2:
            return prediction
        if prediction.started is None:
            prediction.status, prediction.started = "processing", now
        if prediction.fault == "slow" or elapsed < state.run_seconds:
            return prediction
        if prediction.fault == "failed":
            _end(prediction, "failed")
            prediction.error = state.error_text
        elif prediction.fault == "canceled":
            _end(prediction, "canceled")
        else:
            _end(prediction, "succeeded")
            prediction.predict_time = state.predict_time
        return prediction


def _end(prediction: Prediction, status: str) -> None:
    """End a prediction; the time it ran is what Replicate bills (none when it never started: ``aborted``)."""
    prediction.status, prediction.completed = status, True
    if prediction.started is not None:
        prediction.predict_time = round(time.monotonic() - prediction.started, 3)


def _output_file(state: ReplicateState, prediction: Prediction) -> tuple[bytes, str]:
    if prediction.fault == "non-image":
        return b"<!doctype html><html><body>Oops</body></html>", "text/html"
    png = upscaled_png(prediction.source, 1, _output_size(state, prediction))
    return (png[: len(png) // 2] if prediction.fault == "truncated" else png), "image/png"


def _output_size(state: ReplicateState, prediction: Prediction) -> tuple[int, int]:
    if prediction.fault == "wrong-size":
        return state.wrong_size
    width, height = Image.open(io.BytesIO(prediction.source)).size
    scale = output_scale(prediction.model, prediction.input)
    if scale is None:  # the refiner: a square of its resolution, or the input's own size
        resolution = prediction.input.get("resolution", "original")
        return (width, height) if resolution == "original" else (int(resolution), int(resolution))
    return round(width * scale), round(height * scale)


class ReplicateServer(LocalServer):
    """The server; its ``api_url`` is what ``REPLICATE_BASE_URL`` takes (Replicate's form, with ``/v1``)."""

    def __init__(self, state: ReplicateState | None = None):
        super().__init__(ReplicateHandler, state or ReplicateState())

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def __exit__(self, *exc: Any) -> None:
        self.state.stop.set()  # ends every hang and hold at once
        super().__exit__(*exc)


# ------------------------------------------------------------------------------------------------ helpers


def _version_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["version"], "created_at": "2023-01-01T00:00:00.000000Z", "cog_version": "0.8.6",
            "openapi_schema": entry["schema"]}  # fmt: skip


def _prefer_wait(header: str | None) -> float:
    """Seconds asked by ``Prefer: wait`` / ``Prefer: wait=N`` (Replicate allows 1..60); 0 without it."""
    if not header:
        return 0.0
    match = re.search(r"\bwait(?:=(\d+))?", header)
    if not match:
        return 0.0
    return float(min(60, max(1, int(match.group(1) or 60))))


def _duration(header: str | None) -> float | None:
    """``Cancel-After`` in seconds: Go-style units (``1m30s``, ``500ms``) or bare seconds; None without the header,
    -1 for one that does not parse."""
    if header is None:
        return None
    text = header.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not text or DURATION.sub("", text):
        return -1.0
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * units[unit] for number, unit in DURATION.findall(text))
