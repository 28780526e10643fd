"""``hdcore serve``: the seed's HTTP API over the engine, with FastAPI and uvicorn.

    POST /api/ai/hd-image        {"image": "data:image/...;base64,...", "scale": 4} -> the seed's JSON answer
    POST /api/ai/hd-image/file   a multipart upload -> the image bytes, the attempts in X-HDCore-Attempts
    GET  /healthz                alive
    GET  /readyz                 the in-process tiers load their models, the history answers
    GET  /metrics                Prometheus: requests, attempts and latency per tier, cost, breakers, queue
    GET  /docs, /openapi.json    the generated OpenAPI description

The modules, in the order a request passes through them:

    settings   HDCORE_API_KEYS and the serve limits, parsed once; the body cap derived from the pixel limit
    auth       API keys, compared in constant time; no keys: bind to this machine only
    limits     the body cap, before the body is read
    queue      admission: requests in flight and the line in front of a tier, bounded; Retry-After
    jobs       each engine call in a worker thread, cancelled on disconnect, deadline or shutdown
    service    the engine (the one chain walker), the history, the work of one request
    routes     the endpoints; answers  the JSON errors and their status; metrics  /metrics
    app        create_app: the layers and the routes; server  uvicorn with the drain on shutdown
"""

from .app import create_app
from .server import Server, serve, server_for
from .service import Ask, Delivery, Service
from .settings import ServeSettings, body_cap

__all__ = ["Ask", "Delivery", "ServeSettings", "Server", "Service", "body_cap", "create_app", "serve", "server_for"]
