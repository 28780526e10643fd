"""The seed's JSON contract as functions: ``hd_image`` and its asyncio twin ``hd_image_async``.

Success: {"success": true, "image": "data:image/png;base64,...", "provider": ..., "model": ..., "attempts": [...]}
Failure: {"success": false, "error": "...", "attempts": [...]}

Neither raises once called, whatever the arguments: a wrong type is a failure answer naming the argument, and an
error no check foresaw (a bug) is one too, as "unexpected <type>: <message>" without any configured token.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Mapping

from . import images
from .engine import Engine
from .errors import AllTiersFailed, HDCoreError, InvalidInput
from .text import one_line, redacted, shortened


def hd_image(image_base64: Any = None, scale: Any = 4, *, engine: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Upscale a base64 string or data URI (or bytes, a PIL image, an array) and answer with the seed's JSON.

    Text is never read as a file path: the contract is for callers who must not reach the server's files.
    ``kwargs`` are ``Engine.enhance``'s: provider, model, fallback, progress, cancel and the providers' options.
    """
    from . import default_engine

    secrets: list[Any] = []
    try:
        if engine is not None and not isinstance(engine, Engine):
            raise InvalidInput(f"engine must be an hdcore Engine, not {type(engine).__name__}")
        engine = engine or default_engine()
        secrets = engine.config.secrets()
        _check_arguments(kwargs)
        if image_base64 is None:
            raise InvalidInput("no image given: send it as base64 text, a data URI or bytes")
        if isinstance(image_base64, (str, os.PathLike)):  # a base64 or data URI contract: a path is never opened
            image_base64 = images.read_source_bytes(
                image_base64, allow_paths=False, max_pixels=engine.config.max_input_pixels
            )
        result = engine.enhance(image_base64, scale, **kwargs)
        encoded = result.encode("png")
        answer = result.to_dict()
        answer["image"] = images.to_data_uri(encoded)
        answer["warnings"] = list(result.warnings) + list(encoded.warnings)
        return answer
    except AllTiersFailed as error:
        return _failure(str(error), secrets, [a.to_dict() for a in error.attempts])
    except HDCoreError as error:
        return _failure(str(error), secrets)
    except Exception as error:  # the last resort of a contract that never raises: a bug is an answer too
        return _failure(f"unexpected {type(error).__name__}: {shortened(redacted(str(error), secrets))}", secrets)


async def hd_image_async(image_base64: Any = None, scale: Any = 4, **kwargs: Any) -> dict[str, Any]:
    """``hd_image`` for async callers: runs in a worker thread; cancelling the task cancels the run (the caller's
    own ``cancel`` event, when it passes one, is the one set)."""
    cancel = kwargs.pop("cancel", None)
    cancel = threading.Event() if cancel is None else cancel
    try:
        return await asyncio.to_thread(hd_image, image_base64, scale, cancel=cancel, **kwargs)
    except asyncio.CancelledError:
        if callable(getattr(cancel, "set", None)):
            cancel.set()
        raise


def _check_arguments(kwargs: Mapping[str, Any]) -> None:
    """Refuse, with the argument's name, what ``Engine.enhance`` would trip over with a TypeError."""
    if clash := sorted(set(kwargs) & {"image", "scale", "self"}):
        raise InvalidInput(f"{clash[0]} is given twice: the image and the scale are the first two arguments")
    provider = kwargs.get("provider", "auto")
    names = [provider] if isinstance(provider, str) else provider if isinstance(provider, (list, tuple)) else None
    if not names or not all(isinstance(name, str) and name for name in names):
        raise InvalidInput('provider must be "auto", a tier\'s name or a list of names')
    if not isinstance(kwargs.get("model"), (str, type(None))):
        raise InvalidInput("model must be a model's name or None")
    if not isinstance(kwargs.get("fallback", False), bool):
        raise InvalidInput("fallback must be true or false")
    if not callable(kwargs.get("progress") or (lambda event: None)):
        raise InvalidInput("progress must be a function of one progress event")
    cancel = kwargs.get("cancel")
    if cancel is not None and not (callable(getattr(cancel, "is_set", None)) and callable(getattr(cancel, "set", None))):
        raise InvalidInput("cancel must be a threading.Event")


def _failure(message: str, secrets: list[Any], attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"success": False, "error": one_line(redacted(message, secrets)), "attempts": attempts or []}
