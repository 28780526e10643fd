"""A server that answers every request with the same error, whose text a test chooses: markdown, HTML, or the
request's own headers echoed back (a proxy that reflects the token it was sent)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .base import LocalServer, QuietHandler, ServerState


@dataclass
class HostileState(ServerState):
    status: int = 500
    # "{headers}" in the body becomes every header of the request; "{credentials}" the ones that carry a token
    body: str = "error"
    content_type: str = "text/plain"


class HostileHandler(QuietHandler):
    state: HostileState

    def _answer(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        every = " ".join(f"{name}: {value}" for name, value in self.headers.items())
        credentials = " ".join(f"{name}: {value}" for name, value in self.headers.items()
                               if any(word in name.lower() for word in ("auth", "token", "key", "cookie")))  # fmt: skip
        text = self.state.body
        for placeholder, value in (("{headers}", every), ("{credentials}", credentials)):
            text = text.replace(placeholder, json.dumps(value)[1:-1] if "json" in self.state.content_type else value)
        self.send_bytes(self.state.status, text.encode("utf-8"), self.state.content_type)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


def hostile_server(state: HostileState | None = None) -> LocalServer:
    return LocalServer(HostileHandler, state or HostileState())
