"""What the server answers when it does not deliver an image: the seed's failure JSON with a one-line reason,
and the status that tells the caller what to do.

    400  the request is wrong (not an image, an unknown tier or option, a bad field)
    401  no key, or not a key of this server
    413  the body, or the image it holds, is over the limit
    429  the server is full (Retry-After says when to come back)
    502  every tier failed (each attempt says why)
    503  the server is shutting down (Retry-After)
    504  no image within the request's deadline
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from starlette.responses import JSONResponse

from ..errors import AllTiersFailed, ConfigError, HDCoreError, ImageTooLarge, InvalidInput
from ..text import one_line, shortened

Send = Callable[[dict[str, Any]], Awaitable[None]]

CLOSE = {"connection": "close"}  # when the body was not read: the connection cannot carry another request


def failure(reason: str, attempts: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {"success": False, "error": one_line(reason), "attempts": list(attempts)}


def error_response(status: int, reason: str, headers: Mapping[str, str] | None = None,
                   attempts: Sequence[Mapping[str, Any]] = ()) -> JSONResponse:  # fmt: skip
    return JSONResponse(failure(reason, attempts), status_code=status, headers=dict(headers or {}))


async def send_error(send: Send, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
    """An error answer from an ASGI layer, before the app ran; the connection closes after it."""
    body = json.dumps(failure(reason)).encode()
    fields = {"content-type": "application/json", "content-length": str(len(body)), **CLOSE, **(headers or {})}
    await send({"type": "http.response.start", "status": status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields.items()]})
    await send({"type": "http.response.body", "body": body})


def status_for(error: HDCoreError) -> int:
    """The status of an error the engine raised for this request."""
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, (InvalidInput, ConfigError)):  # a ConfigError here is the request's: an unknown tier
        return 400
    if isinstance(error, AllTiersFailed):
        return 502
    return 500


def validation_reason(problems: Sequence[Mapping[str, Any]]) -> str:
    """pydantic's list of problems as one line: the first, with where it is ("scale: Input should be 2, 3 or 4")."""
    first = problems[0] if problems else {}
    kind = first.get("type", "")
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind in ("missing", "model_type", "model_attributes_type", "dict_type") and not where:
        return "the body must be a JSON object with an image"
    message = shortened(str(first.get("msg", "invalid request")).removeprefix("Value error, "))
    return (f"{where}: {message}" if where else message) + more


def bounded_json(items: Iterable[Any], limit: int) -> str:
    """``items`` as compact ASCII JSON of at most ``limit`` characters, for a response header: first every text
    shortened, then items dropped from the end, with ``{"omitted": n}`` (or "n more") saying how many."""
    items = list(items)
    text = _compact(items)
    if len(text) <= limit:
        return text
    items = [_shortened_texts(item) for item in items]
    for keep in range(len(items), -1, -1):
        dropped = len(items) - keep
        marker = [] if not dropped else [{"omitted": dropped} if isinstance(items[-1], dict) else f"{dropped} more"]
        text = _compact(items[:keep] + marker)
        if len(text) <= limit:
            return text
    return "[]"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _shortened_texts(item: Any, limit: int = 80) -> Any:
    if isinstance(item, str):
        return shortened(item, limit)
    if isinstance(item, dict):
        return {key: _shortened_texts(value, limit) for key, value in item.items()}
    if isinstance(item, list):
        return [_shortened_texts(value, limit) for value in item]
    return item
