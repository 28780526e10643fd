"""``create_app``: the FastAPI application, with the layers every upscale passes before it reaches a route.

    Draining    a shutdown began: 503 with Retry-After
    RequireKey  an API key, when the server has keys (the upscales and /metrics; /healthz and /readyz stay open
                for load balancers)
    BodyCap     a body over the cap: 413, before it is read
    Admit       the server is full: 429 with Retry-After, before the body is read
    routes      the job; its errors as JSON with a one-line reason (``answers``)
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..text import shortened
from .answers import error_response, validation_reason
from .auth import RequireKey
from .jobs import Draining
from .limits import BodyCap
from .queue import Admit
from .routes import ENDPOINTS, FILE_ENDPOINT, router
from .service import Service

WORK = ("/api/",)
PROTECTED = ("/api/", "/metrics")
DESCRIPTION = (
    "The seed's `POST /api/ai/hd-image` over hdcore's fallback chain (Hugging Face Inference, Replicate, a "
    "Hugging Face Space, the embedded local models). Send `Authorization: Bearer <key>` or `X-API-Key` when "
    "the server has keys (HDCORE_API_KEYS)."
)


def create_app(service: Service) -> FastAPI:
    """The application serving ``service``; nothing runs until a server starts it."""
    app = FastAPI(title="HD Enhance", summary="Turn an ordinary image into an HD one", description=DESCRIPTION,
                  version="1", lifespan=_lifespan(service))  # fmt: skip
    app.state.service = service
    app.openapi = lambda: _openapi(app)
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(HTTPException, _http_error)

    def refused(path: str, outcome: str) -> None:
        service.metrics.answered(path if path in ENDPOINTS else "other", outcome)

    # Each layer added wraps the ones before it: listed from the innermost to the outermost.
    app.add_middleware(Admit, queue=service.queue, paths=WORK, refused=refused)
    app.add_middleware(BodyCap, limit=service.settings.max_body_bytes, paths=WORK, refused=refused)
    app.add_middleware(RequireKey, keys=service.keys, paths=PROTECTED, refused=refused)
    app.add_middleware(Draining, jobs=service.jobs, paths=WORK, refused=refused)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, with the upload's body named multipart: FastAPI names a form model holding the file
    (which keeps the form strict: an unknown field is refused) as a urlencoded form."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        content = schema["paths"][FILE_ENDPOINT]["post"]["requestBody"]["content"]
        content["multipart/form-data"] = content.pop("application/x-www-form-urlencoded")
    return app.openapi_schema


def _lifespan(service: Service):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await service.jobs.drain(0.0)  # whatever the server stopped waiting for is stopped, nothing left billing
        service.close()

    return lifespan


async def _bad_request(request: Request, error: RequestValidationError) -> Response:
    """FastAPI's list of problems as one line: the first, with where it is ("scale: Input should be 2, 3 or 4")."""
    service: Service = request.app.state.service
    service.metrics.answered(request.url.path if request.url.path in ENDPOINTS else "other", "bad_input")
    return error_response(400, validation_reason(error.errors()))


async def _http_error(request: Request, error: HTTPException) -> Response:
    reason = error.detail if isinstance(error.detail, str) else "request refused"
    return error_response(error.status_code, f"{reason}: {request.method} {shortened(request.url.path, 80)}"
                          if error.status_code in (404, 405) else reason, getattr(error, "headers", None))  # fmt: skip
