"""The request body's cap, enforced before the body is read: a declared ``Content-Length`` over the cap is
answered 413 at once, and a body without one (chunked) is counted as it streams in and cut off at the cap, so
the server never holds more than the cap of any request, and never reads the rest of one it refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .answers import send_error

Refused = Callable[[str, str], None]  # (path, outcome): what a layer reports when it answers instead of the app


@dataclass
class _Body:
    limit: int
    seen: int = 0
    started: bool = False  # the app began its answer
    answered: bool = False  # the 413 went out; whatever the app does next is dropped


class BodyCap:
    """An ASGI layer: bodies of requests under ``paths`` hold at most ``limit`` bytes."""

    def __init__(self, app: Any, *, limit: int, paths: tuple[str, ...], refused: Refused):
        self.app = app
        self.limit = limit
        self.paths = paths
        self.refused = refused

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared < 0:
            self.refused(scope["path"], "bad_input")
            return await send_error(send, 400, "Content-Length is not a whole number")
        if declared is not None and declared > self.limit:
            self.refused(scope["path"], "too_large")
            return await send_error(send, 413, f"request body too large: {declared:,} bytes, over the limit of "
                                               f"{self.limit:,} bytes")  # fmt: skip
        body = _Body(self.limit)

        async def counted() -> dict:
            if body.seen > body.limit:
                return {"type": "http.disconnect"}  # the app stops reading; the client is answered already
            message = await receive()
            if message["type"] == "http.request":
                body.seen += len(message.get("body", b""))
                if body.seen > body.limit:
                    await self._refuse(scope, send, body)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            if body.answered:
                return
            body.started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not body.answered:  # the app's own failure; one after the cut-off is the cut-off's doing
                raise

    async def _refuse(self, scope: dict, send: Callable, body: _Body) -> None:
        if body.started:
            return
        body.answered = True
        self.refused(scope["path"], "too_large")
        await send_error(send, 413, f"request body too large: over the limit of {self.limit:,} bytes")


def _content_length(scope: dict) -> int | None:
    """The declared length; None when there is none; -1 when it is not a whole number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None
