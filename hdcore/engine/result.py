"""What a run gives back: the progress events on the way, and the result at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
from PIL import Image

from .. import images, metrics
from ..attempts import Attempt

Stage = Literal["start", "waiting", "progress", "ok", "failed", "skipped"]


@dataclass(frozen=True)
class ProgressEvent:
    """What the engine is doing now; passed to the caller's ``progress`` callback.

    "waiting": the tier's job is queued behind others (``done`` is its place in line, 1 = next);
    "progress": ``done`` of ``total`` steps (tiles) are finished.
    """

    tier: int
    provider: str
    model: str | None
    stage: Stage
    done: int = 0
    total: int = 0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class EnhanceResult:
    """The upscaled image and the record of every tier that was tried."""

    image: Image.Image
    provider: str
    model: str | None
    scale: int
    input_size: tuple[int, int]
    attempts: list[Attempt]
    warnings: list[str] = field(default_factory=list)
    source_format: str = ""
    # The input colour, kept only until ``quality`` has been measured; never shown or compared.
    _source_color: np.ndarray | None = field(default=None, repr=False, compare=False)
    _quality: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def output_size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def cost_usd(self) -> float:
        return sum(attempt.cost_usd for attempt in self.attempts)

    @property
    def latency_s(self) -> float:
        return sum(attempt.latency_s for attempt in self.attempts)

    @property
    def quality(self) -> dict[str, Any]:
        """LR-consistency and sharpness (``metrics.quality_report``), measured on first use and then cached.

        Empty when the result was built without its source colour.
        """
        if self._quality is None:
            source = self._source_color
            if source is None:  # never given, or another thread has just measured it
                return self._quality or {}
            self._quality = metrics.quality_report(source, images.as_float_rgb(self.image))
            self._source_color = None  # the figures were all it was kept for
        return self._quality

    def encode(self, format: str = "png", quality: int | None = None, *, copy_metadata: bool = True
               ) -> images.EncodedImage:  # fmt: skip
        """The image as PNG, JPEG or WebP; ``copy_metadata``: with the source's EXIF, XMP and text."""
        return images.encode_image(self.image, format, quality, copy_metadata=copy_metadata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": True,
            "provider": self.provider,
            "model": self.model,
            "scale": self.scale,
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "cost_usd": round(self.cost_usd, 6),
            "warnings": list(self.warnings),
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "quality": metrics.json_safe(self.quality),
        }
