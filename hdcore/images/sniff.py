"""What a byte string is, told from its first bytes: the format it announces, or why it is no image we read."""

from __future__ import annotations

import io
import struct

from PIL import Image, UnidentifiedImageError

from ..text import error_text, shortened
from .formats import SEND_RASTER, SUPPORTED_LIST

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def describe_unreadable(data: bytes, error: Exception | None = None) -> str:
    """A one-line message saying what the data is, since it is not an image we read."""
    if png_declares_zero_size(data):
        width, height = struct.unpack(">II", data[16:24])
        return f"zero-size image: {width}x{height} has no pixels"
    if format_name := magic_format(data):
        # Pillow's "cannot identify image file <_io.BytesIO ...>" would only add noise.
        unidentified = error is None or isinstance(error, UnidentifiedImageError)
        reason = "its header cannot be read" if unidentified else shortened(error_text(error))
        return f"truncated or corrupt {format_name} data: {reason}"
    if kind := markup_kind(data):
        return {
            "svg": f"SVG is not supported: {SEND_RASTER}",
            "html": f"HTML is not an image (perhaps an error page): {SEND_RASTER}",
            "xml": f"XML is not an image: {SEND_RASTER}",
            "json": f"JSON is not an image: {SEND_RASTER}",
        }[kind]
    if other := _other_known_format(data):
        return f"unsupported image format {other}: send {SUPPORTED_LIST}"
    if text_head(data) is not None:
        return f"plain text is not an image: {SEND_RASTER}"
    return f"not an image: the data is not a {SUPPORTED_LIST} file"


def magic_format(data: bytes) -> str | None:
    """The supported format the leading bytes announce, whether or not the rest is intact."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:2] == b"BM" and len(data) >= 14 and data[6:10] == b"\x00\x00\x00\x00":  # reserved bytes are zero
        return "BMP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


def markup_kind(data: bytes) -> str | None:
    text = text_head(data)
    if text is None or not text or text[0] not in "<{[":
        return None
    if text[0] in "{[":
        return "json"
    if "<svg" in text:
        return "svg"
    if text.startswith(("<!doctype html", "<html")) or "<html" in text or "<body" in text:
        return "html"
    return "xml"


def text_head(data: bytes) -> str | None:
    """The start of ``data`` as lower-case text without leading space, or None when it is binary."""
    head = data[:4096]
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            head, codec = head[len(bom) :], encoding
            break
    else:
        codec = "utf-8"
    text = head.decode(codec, "replace")
    controls = sum(1 for c in text if (c < " " and c not in "\t\n\r\f") or c == "\ufffd")
    if controls > max(1, len(text) // 100):  # allow a character cut in half at the 4 KiB boundary
        return None
    return text.lstrip().lower()


def _other_known_format(data: bytes) -> str | None:
    """A format Pillow recognises but we do not accept, named for the message."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except Exception:
        return None


def is_png(data: bytes) -> bool:
    return len(data) >= 26 and data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"


def png_declares_zero_size(data: bytes) -> bool:
    return is_png(data) and 0 in struct.unpack(">II", data[16:24])


def png_declares_gray(data: bytes) -> bool:
    """Pillow decodes 16-bit gray+alpha PNGs as RGBA; the header still says they are gray (colour type 4)."""
    return is_png(data) and data[25] in (0, 4)


def png_bit_depth(data: bytes) -> int:
    """Bits per sample from a PNG header, 0 when ``data`` is no PNG."""
    return data[24] if is_png(data) else 0
