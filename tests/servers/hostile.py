"""A server that answers every request with the same error, whose text a test chooses: markdown, HTML, or the
request's own headers echoed back (a proxy that reflects the token it was sent)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import LocalServer, QuietHandler, ServerState


@dataclass
class HostileState(ServerState):
    status: int = 500
    body: str = "error"
    echo_headers: bool = False  # add every header of the request (its token included) to the answer
    content_type: str = "text/plain"


class HostileHandler(QuietHandler):
    state: HostileState

    def _answer(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        text = self.state.body
        if self.state.echo_headers:
            text += " " + " ".join(f"{name}: {value}" for name, value in self.headers.items())
        self.send_bytes(self.state.status, text.encode("utf-8"), self.state.content_type)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


def hostile_server(state: HostileState | None = None) -> LocalServer:
    return LocalServer(HostileHandler, state or HostileState())
