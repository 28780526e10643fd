"""16-bit colour, which PIL has no mode for: read with OpenCV, carried on a ``DeepColorImage``, written as 16-bit PNG.

Pillow reads 16-bit RGB(A) PNG and TIFF at 8 bits per channel. OpenCV's decoders keep all 16 (in BGR order),
so for those files the pixels come from ``cv2.imdecode(..., IMREAD_UNCHANGED)``, which also leaves the EXIF
orientation alone for us to apply; everything else (header checks, ICC, EXIF) stays with Pillow. Where OpenCV
cannot help, the pixels are read at 8 bits and a warning says so.
"""

from __future__ import annotations

import functools
import io
import struct
from typing import Any

import numpy as np
from PIL import Image

from .formats import ALPHA_MODES, WIDE_GRAY_MODES
from .planes import Planes, quantize, split_channels
from .sniff import PNG_SIGNATURE, is_png

# Chunks a 16-bit PNG takes over from the one Pillow writes with the same options: profile, EXIF and text.
CARRIED_PNG_CHUNKS = (b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"eXIf", b"tEXt", b"zTXt", b"iTXt")
# zlib level 1: the low bytes of 16-bit samples are noise to zlib. On a 512 px upscaled photo, Pillow's default
# level 6 was only 1.0% smaller (1.298 vs 1.310 MB) for 57% more time (86 vs 55 ms).
PNG_COMPRESSION = 1


class DeepColorImage(Image.Image):
    """An RGB or RGBA image at 16 bits per channel.

    The PIL image itself is the 8-bit rounding (what previews, viewers and 8-bit encoders get); ``deep`` holds the
    full values (uint16 HxWx3 or HxWx4, RGB order) that a PNG is written from. What Pillow derives from it
    (``convert``, ``resize``, ``copy``) is a plain 8-bit image, so the 16-bit values never go stale.
    """

    deep: np.ndarray

    def __getstate__(self) -> list[Any]:
        return [*super().__getstate__(), self.deep]

    def __setstate__(self, state: list[Any]) -> None:
        super().__setstate__(state)
        self.deep = state[5]


def deep_color_image(rgb: np.ndarray, alpha: np.ndarray | None) -> DeepColorImage:
    """A ``DeepColorImage`` from float32 planes in [0, 1]."""
    values = rgb if alpha is None else np.concatenate([rgb, alpha[:, :, np.newaxis]], axis=2)
    image = Image.fromarray(quantize(values, 255, np.uint8))
    image.__class__ = DeepColorImage  # the image Pillow built, given its 16-bit values; no PIL internals touched
    image.deep = quantize(values, 65535, np.uint16)
    return image


@functools.cache
def opencv() -> Any | None:
    """The cv2 module, or None where it is not installed (or cannot load its shared libraries)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def deep_planes(data: bytes, image: Image.Image, name: str, notes: list[str]) -> Planes | None:
    """The pixels at 16 bits per channel for a 16-bit colour PNG or TIFF, or None where Pillow's 8 bits must do."""
    if image.mode in WIDE_GRAY_MODES or _bits_per_sample(data, image) != 16:
        return None  # 8-bit, or 16-bit gray, which Pillow reads at full depth itself
    lost = f"16-bit {name} {image.mode}: read at 8 bits per channel"
    if image.mode not in ("RGB", "RGBA"):
        notes.append(f"{lost} (only RGB and RGBA are read at full depth)")
        return None
    if not data:
        notes.append(f"{lost} (pass the file itself rather than a PIL image to read it at full depth)")
        return None
    cv2 = opencv()
    if cv2 is None:
        notes.append(f"{lost} (OpenCV, which reads it at full depth, is not installed)")
        return None
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        pixels = None
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[:2] != image.size[::-1]:
        notes.append(f"{lost} (OpenCV cannot read this file at full depth)")
        return None
    return _planes_from_bgr(pixels, image, gray=is_png(data) and data[25] == 4)


def _bits_per_sample(data: bytes, image: Image.Image) -> int:
    if is_png(data):
        return data[24]
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258, 8)  # BitsPerSample: one value, or one per sample
        return max((int(value) for value in (bits if isinstance(bits, tuple) else (bits,))), default=8)
    return 8


def _planes_from_bgr(pixels: np.ndarray, image: Image.Image, gray: bool) -> Planes:
    has_alpha = pixels.shape[2] == 4 and (image.mode in ALPHA_MODES or image.has_transparency_data)
    order = ([0] if gray else [2, 1, 0]) + ([3] if has_alpha else [])  # OpenCV's BGR(A) to (gray or RGB) + alpha
    values = pixels[:, :, order].astype(np.float32)
    values /= np.float32(65535)
    return split_channels(values, has_alpha=has_alpha, bit_depth=16)


def encode_deep_png(pixels: np.ndarray, png_options: dict[str, Any]) -> bytes | None:
    """A 16-bit PNG of ``pixels`` (uint16 RGB or RGBA) with what ``png_options`` would have Pillow embed.

    None when OpenCV is not there to write it.
    """
    cv2 = opencv()
    if cv2 is None:
        return None
    order = [2, 1, 0, 3][: pixels.shape[2]]  # RGB(A) to OpenCV's BGR(A)
    written, buffer = cv2.imencode(
        ".png", np.ascontiguousarray(pixels[:, :, order]), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    )
    if not written:
        return None
    return _with_chunks(buffer.tobytes(), _carried_chunks(png_options))


def _carried_chunks(png_options: dict[str, Any]) -> bytes:
    """The profile, EXIF and text chunks, exactly as Pillow writes them for an 8-bit PNG with the same options."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG", **png_options)
    return b"".join(chunk for kind, chunk in _chunks(buffer.getvalue()) if kind in CARRIED_PNG_CHUNKS)


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, the whole chunk: length, type, data and CRC) for each chunk of a well-formed PNG."""
    found, offset = [], len(PNG_SIGNATURE)
    while offset + 8 <= len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        end = offset + 12 + length
        found.append((png[offset + 4 : offset + 8], png[offset:end]))
        offset = end
    return found


def _with_chunks(png: bytes, extra: bytes) -> bytes:
    """``png`` with ``extra`` chunks right after IHDR, where every one of them may stand."""
    after_header = len(PNG_SIGNATURE) + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:after_header] + extra + png[after_header:]
