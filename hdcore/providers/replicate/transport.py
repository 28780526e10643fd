"""How the Replicate tier talks HTTP: the SDK's base URL, which hosts an output may come from, a finite timeout
on every request, and the SDK's own retries switched off."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import replicate
from replicate.client import RetryTransport

DELIVERY_DOMAIN = "replicate.delivery"


def sdk_base_url(configured: str) -> str:
    """The SDK's paths already start with ``/v1``; hdcore's setting (like Replicate's docs) ends with it."""
    base = configured.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def allowed_output_url(url: str, api_base_url: str) -> bool:
    """Output files come from https Replicate delivery hosts, or from the API's own origin (a local server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and (host == DELIVERY_DOMAIN or host.endswith("." + DELIVERY_DOMAIN)):
        return True
    base = urlsplit(api_base_url)
    return bool(host) and _origin(parts) == _origin(base)


def _origin(parts: Any) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default_port
    except ValueError:  # a port that is not a number
        return ("", "", None)
    return parts.scheme, (parts.hostname or "").lower(), port



class BoundedTimeouts(httpx.HTTPTransport):
    """Every request gets a finite timeout. The SDK sends a create without ``Prefer: wait`` with ``timeout=None``,
    which httpx reads as "wait forever": a stalled server would then keep the worker thread alive for good."""

    def __init__(self, fallback: httpx.Timeout):
        super().__init__()
        self._fallback = fallback.as_dict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            phase: asked.get(phase) if asked.get(phase) is not None else limit for phase, limit in self._fallback.items()
        }
        return super().handle_request(request)


def disable_sdk_retries(client: replicate.Client) -> None:
    """The SDK retries GETs on 429/503 up to 10 times, sleeping Retry-After each time with no cap: that would
    blow the tier's deadline from inside one call. The poll loop here does its own bounded waiting instead."""
    transport = getattr(client._client, "_transport", None)
    if isinstance(transport, RetryTransport):
        transport.max_attempts = 1
