"""Who may call: API keys (``HDCORE_API_KEYS``) presented as ``Authorization: Bearer <key>`` or ``X-API-Key``,
and the rule that a server without keys binds to this machine only.

Keys are compared in constant time: both sides are hashed to SHA-256 first (so not even a key's length shows
in the timing), then ``hmac.compare_digest`` checks the presented digest against every key, without stopping at
the first match.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..config import Secret
from ..errors import ConfigError
from .answers import send_error
from .limits import Refused

LOCAL_NAMES = ("localhost",)


class ApiKeys:
    """The keys a caller may present; none configured means every caller is let in (a local-only server)."""

    def __init__(self, keys: Sequence[Secret]):
        self._digests = tuple(_digest(key.reveal()) for key in keys)

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def admits(self, presented: str | None) -> bool:
        if not self._digests:
            return True
        if not presented:
            return False
        offered = _digest(presented)
        matched = False
        for digest in self._digests:  # every key is compared, whichever matches: the time says nothing
            matched |= hmac.compare_digest(offered, digest)
        return matched


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return (headers.get("x-api-key") or "").strip() or None


def is_local_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: an address only this machine can reach."""
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: Iterable[Secret], anonymous: bool = False) -> None:
    """Refuse to serve an address other machines can reach without API keys, unless ``anonymous`` says a proxy
    in front authenticates callers."""
    if not any(keys) and not anonymous and not is_local_host(host):
        raise ConfigError(
            f"refusing to serve on {host} without API keys: set HDCORE_API_KEYS, bind 127.0.0.1, "
            "or pass --no-auth when a proxy in front checks callers"
        )


class RequireKey:
    """An ASGI layer: requests under ``paths`` need a configured key (when there are keys), else 401."""

    def __init__(self, app: Any, *, keys: ApiKeys, paths: tuple[str, ...], refused: Refused):
        self.app = app
        self.keys = keys
        self.paths = paths
        self.refused = refused

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self.keys.required and scope["path"].startswith(self.paths):
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            if not self.keys.admits(presented_key(headers)):
                self.refused(scope["path"], "unauthorized")
                return await send_error(send, 401, "missing or unknown API key: send Authorization: Bearer <key> "
                                                   "or X-API-Key: <key>", {"www-authenticate": "Bearer"})  # fmt: skip
        return await self.app(scope, receive, send)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()
