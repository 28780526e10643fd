"""The formats and PIL modes the image code speaks of, named once."""

from __future__ import annotations

import numpy as np

FORMATS = ("png", "jpeg", "webp")

# Decoders we let loose on untrusted bytes. MPO is how Pillow names a camera JPEG that carries extra frames.
INPUT_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF", "GIF", "AVIF")
SUPPORTED_LIST = "PNG, JPEG, WebP, BMP, TIFF or GIF"
SEND_RASTER = "send a raster image such as PNG or JPEG"

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DEFAULT_QUALITY = {"png": None, "jpeg": 92, "webp": 90}
FORMAT_ALIASES = {"jpg": "jpeg"}
# Largest side each encoder can write; beyond it we fall back to PNG rather than fail.
MAX_SIDE = {"jpeg": 65_535, "webp": 16_383}
# From this JPEG quality on, chroma is kept at full resolution: subsampling would throw away upscaled detail.
FULL_CHROMA_QUALITY = 90

SIXTEEN_BIT_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
WIDE_GRAY_MODES = SIXTEEN_BIT_GRAY_MODES | {"I", "F"}
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
GRAY_MODES = frozenset({"1", "L", "LA", "La"}) | WIDE_GRAY_MODES
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")


def format_name(pil_format: str | None) -> str:
    """The name a user knows a decoded file by: an MPO (a JPEG with previews or depth maps) is a JPEG."""
    return "JPEG" if pil_format == "MPO" else (pil_format or "")
