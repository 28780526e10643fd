"""Running the app: uvicorn, with hdcore's drain on shutdown.

On SIGTERM / SIGINT uvicorn stops accepting connections and waits for the open ones. ``Server`` first tells
the jobs a drain began: new work is answered 503, the jobs in flight get ``HDCORE_SERVE_DRAIN`` seconds to
finish, then they are cancelled (a Replicate prediction is cancelled, so nothing is left billing) and their
callers answered 503. uvicorn's own graceful timeout is set past that, as the last resort.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Mapping

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from ..config import Config
from .app import create_app
from .auth import check_bind
from .jobs import STOP_GRACE_S
from .service import Service
from .settings import ServeSettings

logger = logging.getLogger("uvicorn.error")  # uvicorn's own log: the line looks like the ones around it
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service):
        super().__init__(config)
        self.service = service

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            keys = "API keys required" if self.service.keys.required else "no API keys"
            logger.info("hdcore serve: listening on http://%s:%s (%s)", host, port, keys)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drained = asyncio.ensure_future(self.service.jobs.drain(self.service.settings.drain_s))
        await super().shutdown(sockets)
        await drained


def server_for(service: Service, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
               log_config: dict[str, Any] | None = LOGGING_CONFIG) -> Server:  # fmt: skip
    """A server for ``service`` (not started: ``.run()``, or ``.serve(sockets=[...])`` on a bound socket).
    ``log_config`` None leaves logging as the caller set it up (uvicorn's default configures its own)."""
    config = uvicorn.Config(
        create_app(service), host=host, port=port, log_level=log_level, log_config=log_config,
        server_header=False, timeout_graceful_shutdown=int(service.settings.drain_s + STOP_GRACE_S) + 1,
    )  # fmt: skip
    return Server(config, service)


def serve(host: str = "127.0.0.1", port: int = 8000, *, config: Config | None = None, anonymous: bool = False,
          log_level: str = "info", env: Mapping[str, str] | None = None) -> int:  # fmt: skip  # the command's flags
    """``hdcore serve``: run until SIGTERM / SIGINT. Refuses a non-local address without API keys unless
    ``anonymous`` (a proxy in front checks callers). Raises ``ConfigError`` for unusable settings."""
    config = config if config is not None else Config.from_env(env)
    settings = ServeSettings.from_env(env, config)
    check_bind(host, settings.api_keys, anonymous)
    server = server_for(Service.configured(config, settings, env), host, port, log_level)
    server.run()
    return 0 if server.started else 1
