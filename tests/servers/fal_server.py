"""A fal queue API of ours on 127.0.0.1, as fal.ai documents it (fal.ai/docs/model-endpoints/queue).

    POST /{model id}                                  submit: {"request_id", "response_url", "status_url",
                                                      "cancel_url", "queue_position"}
    GET  /{owner}/{alias}/requests/{id}/status        202 {"status": "IN_QUEUE", "queue_position"} |
                                                      202 {"status": "IN_PROGRESS", "logs"} |
                                                      200 {"status": "COMPLETED", "logs", "metrics": {"inference_time"}}
    GET  /{owner}/{alias}/requests/{id}               the result: {"image": {"url", "width", "height", ...}};
                                                      a failed request answers its error (422 for a bad input)
    PUT  /{owner}/{alias}/requests/{id}/cancel        202 {"status": "CANCELLATION_REQUESTED"} |
                                                      400 {"status": "ALREADY_COMPLETED"}
    GET  /files/{name}                                output files (fal.media's part; no key needed)

Every API call needs ``Authorization: Key <key>``. A request waits in the queue ``state.queue_seconds``, runs
``state.run_seconds``, then completes; one still queued past its ``X-Fal-Request-Timeout`` completes with an
error and is never run. Inputs are checked against each model's schema (stricter than fal: an unknown field is
refused too, so a misspelt one cannot pass), and a bad one fails the request (422 on its result).

``state.fault`` selects one fault (``FAL_FAULTS``); every request is recorded, every cancel in
``state.cancels``. Every wait is bounded and ends when the server stops.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from PIL import Image

from tests.servers.base import HANG_SECONDS, LocalServer, QuietHandler, ServerState, upscaled_png

KEY = "fal_key_id_0123:fal_SECRET_key_part_0123456789abcdef"
FAL_FAULTS = (
    "hang",  # submit: read the request, then say nothing
    "500",  # submit answers 500
    "429",  # submit answers 429 with Retry-After (state.retry_after)
    "401",  # every API call answers 401
    "404",  # submit answers 404: no such app
    "echo-key",  # submit answers 500 whose detail repeats the Authorization header, upper-cased and URL-encoded
    "queued",  # the request waits in the queue until cancelled (or past its X-Fal-Request-Timeout)
    "slow",  # the request stays IN_PROGRESS until cancelled
    "status-500",  # every status poll answers 500; the request itself runs on
    "status-redirect",  # every status poll answers 307 to state.redirect_to (another host)
    "result-redirect",  # the result answers 307 to state.redirect_to
    "elsewhere",  # the result's image URL is on state.redirect_to (another host)
    "endless",  # the result answers 200 with a body that never ends
    "non-image",  # the output file is an HTML page
    "wrong-size",  # the output image is state.wrong_size
    "endless-file",  # the output file never ends (no Content-Length)
    "slow-download",  # the output file comes one byte at a time
)
IMAGE_URL = {"type": "string", "format": "uri"}


def _properties(**extra: dict[str, Any]) -> dict[str, Any]:
    return {"image_url": IMAGE_URL, **extra}


# What each model's page on fal.ai documents (fal.ai/models/<id>/llms.txt); "scale" says the answer's factor.
SCHEMAS: dict[str, dict[str, Any]] = {
    "fal-ai/seedvr/upscale/image": {"properties": _properties(
        upscale_mode={"enum": ["target", "factor"]}, upscale_factor={"type": "number", "minimum": 1, "maximum": 10},
        target_resolution={"enum": ["720p", "1080p", "1440p", "2160p"]}, seed={"type": "integer"},
    ), "scale": lambda i: i.get("upscale_factor", 2)},
    "fal-ai/esrgan": {"properties": _properties(
        scale={"type": "number", "minimum": 1, "maximum": 8}, tile={"type": "integer"}, face={"type": "boolean"},
        model={"enum": ["RealESRGAN_x4plus", "RealESRGAN_x2plus", "RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4_v3",
                        "RealESRGAN_x4_wdn_v3", "RealESRGAN_x4_anime_v3"]},
        output_format={"enum": ["png", "jpeg"]},
    ), "scale": lambda i: i.get("scale", 2)},
    "fal-ai/aura-sr": {"properties": _properties(
        upscaling_factor={"enum": [4]}, overlapping_tiles={"type": "boolean"}, checkpoint={"enum": ["v1", "v2"]},
    ), "scale": lambda i: 4},
    "fal-ai/clarity-upscaler": {"properties": _properties(
        prompt={"type": "string"}, negative_prompt={"type": "string"},
        upscale_factor={"type": "number", "minimum": 1, "maximum": 4},
        creativity={"type": "number", "minimum": 0, "maximum": 1},
        resemblance={"type": "number", "minimum": 0, "maximum": 1},
        guidance_scale={"type": "number", "minimum": 0, "maximum": 20},
        num_inference_steps={"type": "integer", "minimum": 4, "maximum": 50}, seed={"type": "integer"},
    ), "scale": lambda i: i.get("upscale_factor", 2)},
    "fal-ai/recraft/upscale/crisp": {"properties": _properties(
        sync_mode={"type": "boolean"}, enable_safety_checker={"type": "boolean"},
    ), "scale": lambda i: 4},  # Recraft's fixed factor is not documented; this double answers 4x
    "fal-ai/topaz/upscale/image": {"properties": _properties(
        model={"enum": ["Low Resolution V2", "Standard V2", "CGI", "High Fidelity V2", "Text Refine", "Recovery",
                        "Redefine", "Recovery V2", "Standard MAX", "Wonder", "Wonder 3"]},
        upscale_factor={"type": "number", "minimum": 1, "maximum": 4}, crop_to_fill={"type": "boolean"},
        output_format={"enum": ["jpeg", "png"]}, subject_detection={"enum": ["All", "Foreground", "Background"]},
        face_enhancement={"type": "boolean"},
    ), "scale": lambda i: i.get("upscale_factor", 2)},
}  # fmt: skip


@dataclass
class Job:
    id: str
    model: str
    input: dict[str, Any]
    created: float
    fault: str | None
    start_timeout: float | None
    status: str = "IN_QUEUE"
    started: float | None = None
    error: tuple[int, Any] | None = None  # (HTTP status, detail) of a failed request
    inference_time: float | None = None
    cancelled: bool = False


@dataclass
class FalState(ServerState):
    key: str = KEY
    retry_after: int | str | None = 7
    queue_seconds: float = 0.05
    run_seconds: float = 0.15
    inference_time: float | None = 0.9  # reported as metrics.inference_time; None: no metrics
    wrong_size: tuple[int, int] = (50, 50)
    redirect_to: str = "http://127.0.0.1:9/elsewhere"  # another host, for the redirect faults
    jobs: dict[str, Job] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    cancels: list[str] = field(default_factory=list)

    def submits(self) -> list[Any]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def wait_for_cancel(self, timeout: float = 3.0) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.cancels:
            time.sleep(0.02)
        return list(self.cancels)


class FalHandler(QuietHandler):
    state: FalState

    def do_POST(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        if self._authorized():
            self._submit(self.path.lstrip("/"), body)

    def do_GET(self) -> None:
        self.state.record(self, b"")
        if self.path.startswith("/files/"):
            return self._send_file(self.path.removeprefix("/files/"))
        if not self._authorized():
            return None
        path = self.path.split("?", 1)[0]
        if match := re.fullmatch(r"/([\w.-]+/[\w.-]+)/requests/([\w-]+)/status", path):
            return self._status(match.group(2))
        if match := re.fullmatch(r"/([\w.-]+/[\w.-]+)/requests/([\w-]+)", path):
            return self._result(match.group(2))
        return self.send_json(404, {"detail": "Not Found"})

    def do_PUT(self) -> None:
        self.state.record(self, self.read_body())
        if not self._authorized():
            return None
        if match := re.fullmatch(r"/([\w.-]+/[\w.-]+)/requests/([\w-]+)/cancel", self.path):
            return self._cancel(match.group(2))
        return self.send_json(404, {"detail": "Not Found"})

    def _authorized(self) -> bool:
        if self.state.fault == "401" or self.headers.get("Authorization") != f"Key {self.state.key}":
            self.send_json(401, {"detail": "Unauthorized: no valid key"})
            return False
        return True

    # --------------------------------------------------------------------------------------------- submit

    def _submit(self, model: str, body: bytes) -> None:
        fault = self.state.fault
        if fault == "hang":
            self.state.stop.wait(HANG_SECONDS)
            self.close_connection = True
            return None
        if fault in ("500", "404", "echo-key", "429"):
            return self._submit_fault(fault)
        if model not in SCHEMAS:
            return self.send_json(404, {"detail": f"Application '{model}' not found"})
        try:
            inputs = json.loads(body or b"{}")
        except ValueError:
            return self.send_json(400, {"detail": "The body is not JSON"})
        timeout = self.headers.get("X-Fal-Request-Timeout")
        job = Job(uuid.uuid4().hex, model, inputs if isinstance(inputs, dict) else {}, time.monotonic(), fault,
                  float(timeout) if timeout else None)  # fmt: skip
        problem = _input_problem(SCHEMAS[model]["properties"], inputs)
        if problem:
            job.error = (422, [{"loc": ["body", problem[0]], "msg": problem[1], "type": "value_error"}])
        with self.state.lock:
            self.state.jobs[job.id] = job
        base = f"{self.base_url()}/{_app(model)}/requests/{job.id}"
        return self.send_json(200, {"request_id": job.id, "response_url": base, "status_url": f"{base}/status",
                                    "cancel_url": f"{base}/cancel", "queue_position": 0})  # fmt: skip

    def _submit_fault(self, fault: str) -> None:
        if fault == "500":
            return self.send_json(500, {"detail": "Internal Server Error"})
        if fault == "404":
            return self.send_json(404, {"detail": "Application not found"})
        if fault == "echo-key":
            authorization = self.headers.get("Authorization") or ""
            return self.send_json(500, {"detail": f"gateway refused {quote(authorization.upper(), safe='')}"})
        headers = {} if self.state.retry_after is None else {"Retry-After": str(self.state.retry_after)}
        return self.send_json(429, {"detail": "Too many requests"}, headers)

    # ------------------------------------------------------------------------------------ status, result

    def _status(self, job_id: str) -> None:
        job = self.state.jobs.get(job_id)
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        if self.state.fault == "status-500":
            return self.send_json(500, {"detail": "Internal Server Error"})
        if self.state.fault == "status-redirect":
            return self._redirect()
        advanced(self.state, job)
        if job.status == "IN_QUEUE":
            return self.send_json(202, {"status": "IN_QUEUE", "queue_position": 0, "response_url": ""})
        if job.status == "IN_PROGRESS":
            return self.send_json(202, {"status": "IN_PROGRESS", "logs": []})
        metrics = {} if job.inference_time is None else {"inference_time": job.inference_time}
        answer = {"status": "COMPLETED", "logs": [], "metrics": metrics}
        if job.error is not None:
            answer.update(error=str(job.error[1]), error_type="request_error")
        return self.send_json(200, answer)

    def _result(self, job_id: str) -> None:
        job = self.state.jobs.get(job_id)
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        if advanced(self.state, job).status != "COMPLETED":
            return self.send_json(400, {"detail": "Request is still in progress"})
        if job.error is not None:
            return self.send_json(job.error[0], {"detail": job.error[1]})
        if job.fault == "result-redirect":
            return self._redirect()
        if job.fault == "endless":
            return self.send_endless(200, "application/json", b'{"image": {"url": "', filler=b"A")
        return self.send_json(200, {"image": self._image(job), "seed": 42})

    def _image(self, job: Job) -> dict[str, Any]:
        data, width, height = _output_file(self.state, job)
        name = f"{job.id}.png"
        with self.state.lock:
            self.state.files[name] = data
        base = self.state.redirect_to if job.fault == "elsewhere" else self.base_url()
        return {"url": f"{base}/files/{name}", "width": width, "height": height, "content_type": "image/png",
                "file_name": name, "file_size": len(data)}  # fmt: skip

    def _cancel(self, job_id: str) -> None:
        job = self.state.jobs.get(job_id)
        if job is None:
            return self.send_json(404, {"detail": "Request not found"})
        advanced(self.state, job)
        with self.state.lock:
            self.state.cancels.append(job_id)
            if job.status == "COMPLETED":
                return self.send_json(400, {"status": "ALREADY_COMPLETED"})
            job.status, job.cancelled, job.error = "COMPLETED", True, (400, "Request was cancelled")
        return self.send_json(202, {"status": "CANCELLATION_REQUESTED"})

    # ----------------------------------------------------------------------------------------------- files

    def _send_file(self, name: str) -> None:
        data = self.state.files.get(name)
        job = self.state.jobs.get(name.removesuffix(".png"))
        fault = job.fault if job else None
        if data is None:
            return self.send_bytes(404, b"not found", "text/plain")
        if fault == "non-image":
            return self.send_bytes(200, b"<!doctype html><html><body>Oops</body></html>", "text/html")
        if fault == "endless-file":
            return self.send_endless(200, "image/png", data[:64], filler=b"A")
        if fault == "slow-download":
            return self.send_slowly(200, data, "image/png")
        return self.send_bytes(200, data, "image/png")

    def _redirect(self) -> None:
        self.send_response(307)
        self.send_header("Location", f"{self.state.redirect_to}/stolen")
        self.send_header("Content-Length", "0")
        self.end_headers()


def advanced(state: FalState, job: Job) -> Job:
    """Move the request along its clock: queued, running, completed; a start timeout drops it from the queue."""
    with state.lock:
        if job.status == "COMPLETED":
            return job
        now = time.monotonic()
        waited = now - job.created
        if job.status == "IN_QUEUE":
            if job.start_timeout is not None and waited >= job.start_timeout:
                job.status, job.error = "COMPLETED", (504, "Request timed out before it started")
                return job
            if job.fault == "queued" or waited < state.queue_seconds:
                return job
            job.status, job.started = "IN_PROGRESS", now
        if job.fault == "slow" or now - (job.started or now) < state.run_seconds:
            return job
        job.status, job.inference_time = "COMPLETED", state.inference_time
        return job


def _output_file(state: FalState, job: Job) -> tuple[bytes, int, int]:
    source = _decode_data_uri(job.input["image_url"])
    width, height = Image.open(io.BytesIO(source)).size
    scale = float(SCHEMAS[job.model]["scale"](job.input))
    size = state.wrong_size if job.fault == "wrong-size" else (round(width * scale), round(height * scale))
    return upscaled_png(source, 1, size), size[0], size[1]


class FalServer(LocalServer):
    """The server; its ``url`` is what ``HDCORE_FAL_BASE_URL`` takes."""

    def __init__(self, state: FalState | None = None):
        super().__init__(FalHandler, state or FalState())

    def __exit__(self, *exc: Any) -> None:
        self.state.stop.set()
        super().__exit__(*exc)


# ------------------------------------------------------------------------------------------------ helpers


def _app(model: str) -> str:
    return "/".join(model.split("/")[:2])


def _input_problem(properties: dict[str, Any], inputs: Any) -> tuple[str, str] | None:
    """(field, message) for the first input the schema refuses, as FastAPI words it; None when all is well."""
    if not isinstance(inputs, dict):
        return "body", "Input should be a valid dictionary"
    if "image_url" not in inputs:
        return "image_url", "Field required"
    for key, value in inputs.items():
        rule = properties.get(key)
        if rule is None:
            return key, "Extra inputs are not permitted"
        if "enum" in rule and value not in rule["enum"]:
            return key, f"Input should be {', '.join(map(repr, rule['enum']))}"
        kind = rule.get("type")
        if kind == "boolean" and not isinstance(value, bool):
            return key, "Input should be a valid boolean"
        if kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return key, f"Input should be a valid {kind}"
            if not rule.get("minimum", value) <= value <= rule.get("maximum", value):
                return key, f"Input should be between {rule.get('minimum')} and {rule.get('maximum')}"
        if kind == "string" and not isinstance(value, str):
            return key, "Input should be a valid string"
    if not str(inputs["image_url"]).startswith("data:") or _decode_data_uri(inputs["image_url"]) is None:
        return "image_url", "Could not read the image"
    return None


def _decode_data_uri(uri: str) -> bytes | None:
    try:
        return base64.b64decode(uri.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error):
        return None
