"""The small PNG kept with each run (never the full image): at most 96 px on its longer side, 8-bit."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..images import ALPHA_MODES, WIDE_GRAY_MODES, wide_gray_plane

THUMBNAIL_SIDE = 96


def thumbnail_png(image: Image.Image, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """A PNG no larger than ``max_side`` on its longer side, same aspect; 8-bit RGB, or RGBA if it has alpha."""
    small = _eight_bit(image)
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # only shrinks; keeps aspect
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def thumbnail_or_none(image: Image.Image | None) -> bytes | None:
    # The thumbnail is a courtesy: an image PIL cannot shrink or encode must not cost the run its record.
    if image is None:
        return None
    try:
        return thumbnail_png(image)
    except (OSError, ValueError):
        return None


def _eight_bit(image: Image.Image) -> Image.Image:
    """A new 8-bit RGB/RGBA copy. Wide gray (I;16, I, F) is rescaled: PIL's convert would clip it at 255."""
    if image.mode in WIDE_GRAY_MODES:
        return Image.fromarray(np.rint(wide_gray_plane(image) * 255).astype(np.uint8)).convert("RGB")
    transparent = image.mode in ALPHA_MODES or image.has_transparency_data
    return image.convert("RGBA" if transparent else "RGB")
