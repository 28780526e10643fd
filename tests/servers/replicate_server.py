"""A Replicate HTTP API of ours on 127.0.0.1, faithful to what replicate-python 1.0.7 sends and reads.

Endpoints (all under ``/v1`` and behind ``Authorization: Bearer <token>``, except the files):

    POST /v1/predictions                           {"version": id, "input": {...}}        -> 201 prediction
    POST /v1/models/{owner}/{name}/predictions     {"input": {...}} (the model's latest version)
    GET  /v1/predictions/{id}
    POST /v1/predictions/{id}/cancel
    GET  /v1/models/{owner}/{name}                 with ``latest_version``
    GET  /v1/models/{owner}/{name}/versions/{id}
    GET  /files/{name}                             output files, like replicate.delivery (no token needed)

A prediction goes ``starting`` -> ``processing`` -> ``succeeded`` / ``failed`` / ``canceled`` over
``state.run_seconds``. Without ``Prefer: wait`` the create answers at once (status ``starting``); with
``Prefer: wait=N`` it holds up to N s and answers with the prediction as it then stands. Inputs are checked
against each model's schema (422 with Replicate's problem JSON otherwise); errors are problem JSON
``{"title", "detail", "status"}``. Outputs are file URLs on this server (``state.output_base`` may point them
elsewhere) or data URIs (``state.output_mode``); the refiner answers a list, the others a single string.

A test selects one fault with ``state.fault`` (see ``REPLICATE_FAULTS``); every request is recorded in
``state.requests``, every cancel in ``state.cancels``. Every wait is bounded and ends when the server stops.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.servers.base import HANG_SECONDS, LocalServer, QuietHandler, ServerState, upscaled_png

TOKEN = "r8_test_Secret_Token_0123456789abcdef"
REAL_ESRGAN = "nightmareai/real-esrgan"
SWINIR = "jingyunliang/swinir"
REFINER = "batouresearch/magic-image-refiner"
REAL_ESRGAN_VERSION = "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
SWINIR_VERSION = "660d922d33153019e8c263a3bba265de882e7f4f70396546b6c9c8f9d47a021a"
REFINER_VERSION = "507ddf6f977a7e30e46c0daefd30de7d563c72322f9e4cf7cbac52ef0f667b13"
SWINIR_TASKS = [
    "Real-World Image Super-Resolution-Large",
    "Real-World Image Super-Resolution-Medium",
    "Grayscale Image Denoising",
    "Color Image Denoising",
    "JPEG Compression Artifact Reduction",
]

REPLICATE_FAULTS = (
    "hang",  # create: read the request, then say nothing
    "reset",  # create: TCP reset after reading the request
    "500",  # create answers 500
    "429",  # create answers 429 with Retry-After (state.retry_after; None: no header)
    "410",  # create answers 410: the version is gone
    "echo-token",  # create answers 500 whose detail repeats the Authorization header (a careless proxy)
    "401",  # every API call answers 401
    "poll-500",  # every GET of a prediction answers 500; the prediction itself runs on
    "slow",  # the prediction stays processing until cancelled
    "failed",  # the prediction fails with state.error_text
    "canceled",  # the prediction is canceled by someone else
    "slow-download",  # the output file comes one byte at a time
    "non-image",  # the output file is an HTML page
    "truncated",  # the output file is the first half of a PNG
    "wrong-size",  # the output image is state.wrong_size
)
TERMINAL = ("succeeded", "failed", "canceled")
HOLD_STEP_S = 0.02


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    """The part of a version's OpenAPI schema that describes its input, as Replicate serves it."""
    return {"components": {"schemas": {"Input": {"type": "object", "required": ["image"], "properties": properties}}}}


MODEL_CATALOGUE: dict[str, dict[str, Any]] = {
    REAL_ESRGAN: {
        "version": REAL_ESRGAN_VERSION,
        "schema": _schema(
            {
                "image": {"type": "string", "format": "uri"},
                "scale": {"type": "number", "minimum": 0, "maximum": 10, "default": 4},
                "face_enhance": {"type": "boolean", "default": False},
            }
        ),
    },
    SWINIR: {
        "version": SWINIR_VERSION,
        "schema": _schema(
            {
                "image": {"type": "string", "format": "uri"},
                "task_type": {"enum": SWINIR_TASKS, "default": SWINIR_TASKS[0]},
                "noise": {"enum": [15, 25, 50], "default": 15},
                "jpeg": {"enum": [10, 20, 30, 40], "default": 40},
            }
        ),
    },
    REFINER: {
        "version": REFINER_VERSION,
        "schema": _schema(
            {
                "image": {"type": "string", "format": "uri"},
                "prompt": {"type": "string"},
                "resolution": {"enum": ["original", "1024", "2048"], "default": "original"},
                "resemblance": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.75},
                "creativity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.25},
                "hdr": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                "steps": {"type": "integer", "default": 20},
            }
        ),
    },
}


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created: float
    fault: str | None
    status: str = "starting"
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
    models: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(MODEL_CATALOGUE))
    predictions: dict[str, Prediction] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    cancels: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    def wait_for_cancel(self, timeout: float = 3.0) -> list[str]:
        """The cancels received, waiting (bounded) for the first: cancels are sent from a background thread."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.cancels:
            time.sleep(0.02)
        return list(self.cancels)


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
        return self._problem(404, "Not found", "Not found.")

    def do_POST(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        if not self._authorized():
            return None
        if match := re.fullmatch(r"/v1/predictions/([\w-]+)/cancel", self.path):
            return self._cancel(match.group(1))
        if self.path == "/v1/predictions":
            return self._create(body, model=None)
        if match := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/predictions", self.path):
            return self._create(body, model=f"{match.group(1)}/{match.group(2)}")
        return self._problem(404, "Not found", "Not found.")

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
        return self.send_json(
            200,
            {
                "url": f"https://replicate.com/{name}",
                "owner": owner,
                "name": model,
                "description": f"{name} (local test double)",
                "visibility": "public",
                "github_url": None,
                "paper_url": None,
                "license_url": None,
                "run_count": 1,
                "cover_image_url": None,
                "default_example": None,
                "latest_version": _version_json(entry),
            },
        )

    def _get_version(self, name: str, version: str) -> None:
        entry = self.state.models.get(name)
        if entry is None or entry["version"] != version:
            return self._problem(404, "Not found", f"Version {version} of {name} not found")
        return self.send_json(200, _version_json(entry))

    # ------------------------------------------------------------------------------------- predictions

    def _create(self, body: bytes, model: str | None) -> None:
        if self._create_fault_answered():
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._problem(400, "Bad request", "The request body is not JSON")
        model, version = self._resolve(model, request.get("version"))
        if model is None:
            return self._problem(422, "Invalid version or not permitted", "The specified version does not exist")
        problem = _input_problem(self.state.models[model]["schema"], request.get("input"))
        if problem:
            return self._problem(422, "Input validation failed", problem)
        prediction = self._new_prediction(model, version, request["input"])
        self._hold(prediction, _prefer_wait(self.headers.get("Prefer")))
        return self.send_json(201, self._prediction_json(prediction))

    def _create_fault_answered(self) -> bool:
        fault = self.state.fault
        if fault == "reset":
            self.reset_connection()
        elif fault == "hang":
            self.state.stop.wait(HANG_SECONDS)
            self.close_connection = True
        elif fault == "500":
            self._problem(500, "Internal Server Error", "Something went wrong")
        elif fault == "echo-token":
            self._problem(500, "Internal Server Error", f"upstream refused {self.headers.get('Authorization')}")
        elif fault == "429":
            headers = {} if self.state.retry_after is None else {"Retry-After": str(self.state.retry_after)}
            self._problem(429, "Too Many Requests", "Request was throttled.", headers)
        elif fault == "410":
            self._problem(410, "Gone", "This version has been removed")
        else:
            return False
        return True

    def _resolve(self, model: str | None, version: str | None) -> tuple[str | None, str]:
        """(model, version) for a create by version or by model name; model None when neither is known."""
        for name, entry in self.state.models.items():
            if (model is not None and name == model) or (model is None and entry["version"] == version):
                return name, entry["version"]
        return None, ""

    def _new_prediction(self, model: str, version: str, inputs: dict[str, Any]) -> Prediction:
        prediction = Prediction(uuid.uuid4().hex[:20], model, version, inputs, time.monotonic(), self.state.fault)
        with self.state.lock:
            self.state.predictions[prediction.id] = prediction
        return prediction

    def _hold(self, prediction: Prediction, seconds: float) -> None:
        """``Prefer: wait``: keep the request open until the prediction ends or ``seconds`` pass."""
        if not self.state.honour_wait:
            return
        end = time.monotonic() + min(seconds, HANG_SECONDS)
        while time.monotonic() < end and not self.state.stop.is_set():
            if self._advanced(prediction).status in TERMINAL:
                return
            time.sleep(HOLD_STEP_S)

    def _get_prediction(self, prediction_id: str) -> None:
        prediction = self.state.predictions.get(prediction_id)
        if prediction is None:
            return self._problem(404, "Not found", "Prediction not found")
        if self.state.fault == "poll-500":
            return self._problem(500, "Internal Server Error", "Something went wrong")
        return self.send_json(200, self._prediction_json(self._advanced(prediction)))

    def _cancel(self, prediction_id: str) -> None:
        prediction = self.state.predictions.get(prediction_id)
        if prediction is None:
            return self._problem(404, "Not found", "Prediction not found")
        with self.state.lock:
            self.state.cancels.append(prediction_id)
            if prediction.status not in TERMINAL:
                prediction.status = "canceled"
                prediction.completed = True
        return self.send_json(200, self._prediction_json(prediction))

    # ------------------------------------------------------------------------------------- the "model"

    def _advanced(self, prediction: Prediction) -> Prediction:
        """Move the prediction along its clock: starting, processing, then its outcome (a cancel wins a race)."""
        with self.state.lock:
            if prediction.status in TERMINAL:
                return prediction
            elapsed = time.monotonic() - prediction.created
            if prediction.fault == "slow" or elapsed < self.state.run_seconds:
                prediction.status = "processing" if elapsed >= self.state.run_seconds / 2 else "starting"
                return prediction
        outcome = self._outcome(prediction)  # made outside the lock: it decodes and encodes images
        with self.state.lock:
            if prediction.status not in TERMINAL:
                for name, value in outcome.items():
                    setattr(prediction, name, value)
                prediction.completed = True
        return prediction

    def _outcome(self, prediction: Prediction) -> dict[str, Any]:
        if prediction.fault == "failed":
            return {"status": "failed", "error": self.state.error_text}
        if prediction.fault == "canceled":
            return {"status": "canceled"}
        output = self._output_for(prediction)
        return {"status": "succeeded", "output": output, "predict_time": self.state.predict_time}

    def _output_for(self, prediction: Prediction) -> Any:
        data, content_type = self._output_file(prediction)
        if self.state.output_mode == "data-uri":
            reference = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        else:
            name = f"{prediction.id}.png"
            with self.state.lock:
                self.state.files[name] = data
            reference = f"{self.state.output_base or self._base_url()}/files/{name}"
        return [reference] if prediction.model == REFINER else reference

    def _output_file(self, prediction: Prediction) -> tuple[bytes, str]:
        fault = prediction.fault
        if fault == "non-image":
            return b"<!doctype html><html><body>Oops</body></html>", "text/html"
        source = _decode_data_uri(prediction.input["image"])
        png = upscaled_png(source, 1, self._output_size(prediction, source, fault))
        return (png[: len(png) // 2] if fault == "truncated" else png), "image/png"

    def _output_size(self, prediction: Prediction, source: bytes, fault: str | None) -> tuple[int, int]:
        if fault == "wrong-size":
            return self.state.wrong_size
        width, height = Image.open(io.BytesIO(source)).size
        inputs = prediction.input
        if prediction.model == REFINER:
            side = 1024 if inputs.get("resolution", "original") == "1024" else 2048
            return (side, side) if inputs.get("resolution") != "original" else (width, height)
        scale = 4 if prediction.model == SWINIR else float(inputs.get("scale", 4))
        return round(width * scale), round(height * scale)

    def _prediction_json(self, prediction: Prediction) -> dict[str, Any]:
        base = self._base_url()
        metrics = {} if prediction.predict_time is None else {"predict_time": prediction.predict_time}
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version,
            "input": prediction.input,
            "logs": "",
            "output": prediction.output,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": "2025-01-01T00:00:00.000000Z",
            "started_at": None if prediction.status == "starting" else "2025-01-01T00:00:00.100000Z",
            "completed_at": "2025-01-01T00:00:02.000000Z" if prediction.completed else None,
            "urls": {
                "get": f"{base}/v1/predictions/{prediction.id}",
                "cancel": f"{base}/v1/predictions/{prediction.id}/cancel",
            },
            "metrics": metrics if prediction.status == "succeeded" else {},
        }

    # ------------------------------------------------------------------------------------------- files

    def _send_file(self, name: str) -> None:
        data = self.state.files.get(name)
        if data is None:
            return self.send_bytes(404, b"not found", "text/plain")
        prediction = self.state.predictions.get(name.removesuffix(".png"))
        fault = prediction.fault if prediction else None
        content_type = "text/html" if fault == "non-image" else "image/png"
        if fault == "slow-download":
            return self.send_slowly(200, data, content_type)
        return self.send_bytes(200, data, content_type)

    def _base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


class ReplicateServer(LocalServer):
    """The server; its ``api_url`` is what ``Config.replicate_base_url`` takes (Replicate's form, with ``/v1``)."""

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
    return {
        "id": entry["version"],
        "created_at": "2023-01-01T00:00:00.000000Z",
        "cog_version": "0.8.6",
        "openapi_schema": entry["schema"],
    }


def _prefer_wait(header: str | None) -> float:
    """Seconds asked by ``Prefer: wait`` / ``Prefer: wait=N`` (Replicate allows 1..60); 0 without it."""
    if not header:
        return 0.0
    match = re.search(r"\bwait(?:=(\d+))?", header)
    if not match:
        return 0.0
    return float(min(60, max(1, int(match.group(1) or 60))))


def _input_problem(schema: dict[str, Any], inputs: Any) -> str:
    """Replicate's input validation, enough of it: required keys, no unknown keys, types, enums, ranges."""
    spec = schema["components"]["schemas"]["Input"]
    if not isinstance(inputs, dict):
        return "input: Invalid type. Expected: object"
    for key in spec["required"]:
        if key not in inputs:
            return f"input: {key} is required"
    for key, value in inputs.items():
        rule = spec["properties"].get(key)
        if rule is None:
            return f"input: Additional property {key} is not allowed"
        if problem := _value_problem(key, value, rule):
            return problem
    return ""


def _value_problem(key: str, value: Any, rule: dict[str, Any]) -> str:
    if "enum" in rule:
        return "" if value in rule["enum"] else f"{key}: {key} must be one of the following: {rule['enum']}"
    kind = rule.get("type")
    if kind == "boolean" and not isinstance(value, bool):
        return f"{key}: Invalid type. Expected: boolean"
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key}: Invalid type. Expected: {kind}"
        if not rule.get("minimum", value) <= value <= rule.get("maximum", value):
            return f"{key}: Must be between {rule.get('minimum')} and {rule.get('maximum')}"
    if kind == "string" and not isinstance(value, str):
        return f"{key}: Invalid type. Expected: string"
    if rule.get("format") == "uri" and not (value.startswith("data:") or value.startswith("http")):
        return f"{key}: Does not match format 'uri'"
    return ""


def _decode_data_uri(uri: str) -> bytes:
    try:
        return base64.b64decode(uri.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error) as error:
        raise ValueError(f"not a base64 data URI: {error}") from error
