"""The endpoints. Each upscale is admitted by the layers in front (key, body cap, queue), then becomes one job:
``Service.deliver`` in a worker thread, watched for the client leaving and for its deadline."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from ..batch import size_label
from ..errors import AllTiersFailed, Cancelled, HDCoreError
from .answers import bounded_json, error_response, status_for, validation_reason
from .jobs import Job
from .metrics import CONTENT_TYPE
from .queue import TICKET, Ticket
from .schemas import ErrorResponse, HDImageRequest, HDImageResponse, Readiness, UploadForm
from .service import Ask, Delivery, Service

logger = logging.getLogger("hdcore.serve")

JSON_ENDPOINT = "/api/ai/hd-image"
FILE_ENDPOINT = "/api/ai/hd-image/file"
ENDPOINTS = (JSON_ENDPOINT, FILE_ENDPOINT)
# Response headers stay within 4 KiB together: nginx's default proxy_buffer_size (4 KiB on most platforms)
# turns a bigger header block into a 502.
ATTEMPTS_HEADER_CHARS = 2560
WARNINGS_HEADER_CHARS = 768
READY_S = 30.0  # the most a readiness check may take before it counts as a failure
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
OUTCOMES = {400: "bad_input", 413: "too_large", 502: "failed"}

ERROR_STATUSES = (
    (400, "Bad input"), (401, "Missing or unknown API key"), (413, "Body or image too large"),
    (429, "Full: retry after Retry-After seconds"), (502, "Every tier failed"), (503, "Shutting down"),
    (504, "No image within the deadline"),
)  # fmt: skip
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in ERROR_STATUSES
}

# The JSON body is read by the route itself (parsed off the event loop), so its schema is given to OpenAPI here.
REQUEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": HDImageRequest.model_json_schema()}}}}  # fmt: skip

router = APIRouter()


@router.post(JSON_ENDPOINT, response_model=HDImageResponse, responses=ERRORS, summary="Upscale a base64 image",
             openapi_extra=REQUEST_BODY)  # fmt: skip
async def hd_image(request: Request) -> Response:
    """The seed's contract: the image as a data URI or base64 in, the upscaled one as a data URI out, with
    every tier tried. A text is never read as a file name."""
    service: Service = request.app.state.service
    if not _is_json(request.headers.get("content-type", "")):  # never guessed: a form post could be a CSRF
        service.metrics.answered(JSON_ENDPOINT, "bad_input")
        return error_response(400, "send the body as JSON, with Content-Type: application/json")
    raw = await request.body()  # within the body cap
    try:  # in a worker thread: a body at the 171 MB cap took 0.16 s to parse, time the event loop must not stop
        body = await run_in_threadpool(HDImageRequest.model_validate_json, raw)
    except ValidationError as error:
        service.metrics.answered(JSON_ENDPOINT, "bad_input")
        return error_response(400, validation_reason(error.errors()))
    del raw
    return await _run(request, Ask(body.image, body), JSON_ENDPOINT, lambda done: JSONResponse(done.to_json()))


@router.post(FILE_ENDPOINT, responses={**ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
             "description": "The image; X-HDCore-Attempts holds the attempts as JSON"}},
             response_class=Response, summary="Upscale an uploaded file")  # fmt: skip
async def hd_image_file(request: Request, form: Annotated[UploadForm, Form()]) -> Response:
    """The same run for a multipart upload; the answer is the image itself, the attempts in a header."""
    ask = Ask(await form.file.read(), form, form.file.filename or "upload")
    return await _run(request, ask, FILE_ENDPOINT, lambda done: Response(
        done.encoded.data, media_type=done.encoded.mime, headers=_result_headers(done, ask)))


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, bool]:
    return {"alive": True}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Ready to serve")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the in-process tiers load their models, a tier is configured, and the history answers."""
    service: Service = request.app.state.service
    try:
        problems = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, service.problems), READY_S)
    except TimeoutError:
        problems = [f"the readiness check took over {READY_S:g} s"]
    return JSONResponse({"ready": not problems, "problems": problems}, status_code=503 if problems else 200)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)


async def _run(request: Request, ask: Ask, endpoint: str, render: Callable[[Delivery], Response]) -> Response:
    """One job for an admitted request: its answer rendered by ``render``, or the error answer (the metrics are
    told either way). Rendering runs in the job's thread too: for a 100 MB PNG (a 64 MP output) the base64
    took 1.4 s and the JSON 2.3 s on a 2-core machine, time the event loop must not spend while other requests
    wait on it."""
    service: Service = request.app.state.service
    ticket: Ticket = request.scope[TICKET]
    job = Job()
    started = time.monotonic()

    def work(job: Job) -> tuple[Delivery, Response]:
        delivered = service.deliver(ask, job, ticket)
        return delivered, render(delivered)

    try:
        delivered, answer = await service.jobs.run(request, job, work, service.settings.deadline_s)
    except HDCoreError as error:
        return _refusal(service, endpoint, job, error, time.monotonic() - started)
    except Exception as error:  # a bug of ours: one line in the log, no traceback to the caller
        logger.error("hdcore serve: %s failed: %s: %s", endpoint, type(error).__name__, service.safe(str(error)))
        service.metrics.answered(endpoint, "error", seconds=time.monotonic() - started)
        return error_response(500, f"internal error ({type(error).__name__})")
    ticket.close(finished=True)
    result = delivered.result
    service.metrics.answered(endpoint, "ok", result.provider, result.attempts, time.monotonic() - started)
    return answer


def _refusal(service: Service, endpoint: str, job: Job, error: HDCoreError, seconds: float) -> Response:
    stop = job.stopped
    if stop is not None and isinstance(error, Cancelled):
        service.metrics.answered(endpoint, stop.outcome, seconds=seconds)
        headers = {"retry-after": str(stop.retry_after)} if stop.retry_after else {}
        return error_response(stop.status, stop.reason, headers)
    status = status_for(error)
    tried = error.attempts if isinstance(error, AllTiersFailed) else []
    service.metrics.answered(endpoint, OUTCOMES.get(status, "error"), attempts=tried, seconds=seconds)
    records = [{**attempt.to_dict(), "reason": service.safe(attempt.reason)} for attempt in tried]
    return error_response(status, service.safe(str(error)), attempts=records)


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _result_headers(delivered: Delivery, ask: Ask) -> dict[str, str]:
    result, chosen = delivered.result, ask.choices
    stem = SAFE_NAME.sub("_", ask.source_name.rsplit(".", 1)[0])[:80].strip("._") or "image"
    size = size_label(chosen.scale, chosen.width, chosen.height, chosen.longest_side)  # as the CLI names outputs
    headers = {
        "x-hdcore-provider": result.provider,
        "x-hdcore-model": result.model or "",
        "x-hdcore-cost-usd": f"{result.cost_usd:.6f}",
        "x-hdcore-attempts": bounded_json([a.to_dict() for a in result.attempts], ATTEMPTS_HEADER_CHARS),
        "x-hdcore-warnings": bounded_json(delivered.warnings, WARNINGS_HEADER_CHARS),
        "content-disposition": f'attachment; filename="{stem}_{size}.{delivered.encoded.format}"',
    }
    if delivered.run_id is not None:
        headers["x-hdcore-run-id"] = str(delivered.run_id)
    return headers
