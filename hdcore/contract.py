"""The seed's JSON contract as functions: ``hd_image`` and its asyncio twin ``hd_image_async``.

Success: {"success": true, "image": "data:image/png;base64,...", "provider": ..., "model": ..., "attempts": [...]}
Failure: {"success": false, "error": "...", "attempts": [...]}   (never raises for bad input or failed tiers)
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from . import images
from .engine import Engine
from .errors import AllTiersFailed, HDCoreError


def hd_image(image_base64: Any, scale: int = 4, *, engine: Engine | None = None, **kwargs: Any) -> dict[str, Any]:
    """Upscale a base64 string or data URI (or bytes, a PIL image, an array) and answer with the seed's JSON.

    Text is never read as a file path: the contract is for callers who must not reach the server's files.
    """
    from . import default_engine

    try:
        engine = engine or default_engine()
        if isinstance(image_base64, (str, os.PathLike)):  # a base64 or data URI contract: a path is never opened
            image_base64 = images.read_source_bytes(
                image_base64, allow_paths=False, max_pixels=engine.config.max_input_pixels
            )
        result = engine.enhance(image_base64, scale, **kwargs)
    except AllTiersFailed as error:
        return {"success": False, "error": str(error), "attempts": [a.to_dict() for a in error.attempts]}
    except HDCoreError as error:
        return {"success": False, "error": str(error), "attempts": []}
    encoded = result.encode("png")
    answer = result.to_dict()
    answer["image"] = images.to_data_uri(encoded)
    answer["warnings"] = list(result.warnings) + list(encoded.warnings)
    return answer


async def hd_image_async(image_base64: Any, scale: int = 4, **kwargs: Any) -> dict[str, Any]:
    """``hd_image`` for async callers: runs in a worker thread; cancelling the task cancels the run."""
    cancel = threading.Event()
    try:
        return await asyncio.to_thread(hd_image, image_base64, scale, cancel=cancel, **kwargs)
    except asyncio.CancelledError:
        cancel.set()
        raise
