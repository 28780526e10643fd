"""hdcore: turn an ordinary image into an HD one through a chain of upscaling tiers.

    import hdcore
    result = hdcore.enhance("photo.jpg", scale=4)        # auto: cloud tiers with tokens, then the local models
    result.image.save("photo_x4.png")
    for attempt in result.attempts:                       # one record per tier tried
        print(attempt.provider, attempt.outcome, attempt.latency_s, attempt.cost_usd)

    hdcore.hd_image(b64, scale=4)                          # the seed's JSON contract ({"success": ..., "image": ...})
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from .attempts import Attempt
from .config import Config, Secret
from .contract import hd_image, hd_image_async
from .engine import EnhanceResult, Engine, ProgressEvent
from .errors import (
    AllTiersFailed,
    AuthError,
    BadOutput,
    Cancelled,
    ConfigError,
    HDCoreError,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    TransientError,
)
from .providers import ProviderSpec, Registry, default_registry

__all__ = [
    "AllTiersFailed", "Attempt", "AuthError", "BadOutput", "Cancelled", "Config", "ConfigError", "Engine",
    "EnhanceResult", "HDCoreError", "ImageTooLarge", "InvalidImage", "InvalidInput", "PermanentError",
    "ProgressEvent", "ProviderError", "ProviderSpec", "ProviderTimeout", "RateLimited", "Registry", "Secret",
    "TransientError", "default_engine", "default_registry", "enhance", "hd_image", "hd_image_async",
]

_default_engine: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """One engine per process, configured from the environment on first use."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            from .configured import configured_engine

            _default_engine = configured_engine()
        return _default_engine


def enhance(
    image: Any,
    scale: int = 4,
    provider: str | Sequence[str] = "auto",
    model: str | None = None,
    *,
    config: Config | None = None,
    **options: Any,
) -> EnhanceResult:
    """Upscale ``image`` (bytes, base64, data URI, path, PIL image or array). See ``Engine.enhance``."""
    from .configured import configured_engine

    engine = default_engine() if config is None else configured_engine(config)
    return engine.enhance(image, scale, provider, model, **options)
