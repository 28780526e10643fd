"""Test images for hdcore.images, all built here from small crops of scikit-image's sample photos,
so nothing binary is committed."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms
from skimage import data as samples

from hdcore.images import SourceImage, compose
from hdcore.resize import lanczos_resize

WIDTH, HEIGHT = 64, 48


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(samples.astronaut()[100 : 100 + HEIGHT, 150 : 150 + WIDTH])


def camera() -> np.ndarray:
    return np.ascontiguousarray(samples.camera()[200 : 200 + HEIGHT, 220 : 220 + WIDTH])


def coffee() -> np.ndarray:
    return np.ascontiguousarray(samples.coffee()[150 : 150 + HEIGHT, 250 : 250 + WIDTH])


def horizontal_ramp(high: int, dtype: type = np.uint8) -> np.ndarray:
    return np.tile(np.linspace(0, high, WIDTH).round().astype(dtype), (HEIGHT, 1))


def gray16() -> np.ndarray:
    """16-bit gray whose values use the low byte, so an 8-bit detour would show."""
    return camera().astype(np.uint16) * 257 + np.uint16(3) - (camera() > 250).astype(np.uint16) * 6


def rgb16() -> np.ndarray:
    """16-bit colour over the whole range whose low bytes differ from the high ones: any 8-bit detour shows."""
    return astronaut().astype(np.uint16) * 256 + coffee()


def rgba_with_soft_alpha() -> Image.Image:
    return Image.fromarray(np.dstack([astronaut(), horizontal_ramp(255)]))


def palette_with_transparency() -> Image.Image:
    image = Image.fromarray(coffee()).convert("P")
    image.info["transparency"] = int(np.asarray(image)[0, 0])
    return image


def source_image(kind: str) -> Image.Image:
    """One image per mode family the pipeline must carry through."""
    makers = {
        "RGB": lambda: Image.fromarray(astronaut()),
        "RGBA": rgba_with_soft_alpha,
        "L": lambda: Image.fromarray(camera()),
        "LA": lambda: Image.fromarray(np.dstack([camera(), horizontal_ramp(255)])),
        "P": lambda: Image.fromarray(coffee()).convert("P"),
        "P+transparency": palette_with_transparency,
        "1": lambda: Image.fromarray(camera()).convert("1"),
        "I;16": lambda: Image.fromarray(gray16()),
        "CMYK": lambda: Image.fromarray(astronaut()).convert("CMYK"),
    }
    return makers[kind]()


def encoded(image: Image.Image, format_name: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def upscale_2x(source: SourceImage) -> Image.Image:
    width, height = source.size
    return compose(lanczos_resize(source.color, (width * 2, height * 2)), source)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def fake_profile(color_space: bytes) -> bytes:
    """A header-only ICC profile: enough for a container to carry and for a colour-space check to read."""
    header = bytearray(128)
    struct.pack_into(">I", header, 0, 128)
    header[12:16] = b"mntr"
    header[16:20] = color_space
    header[20:24] = b"XYZ "
    header[36:40] = b"acsp"
    return bytes(header)


def png_with_header(data: bytes, width: int, height: int) -> bytes:
    """Patch a PNG's IHDR (and its CRC) to declare another size; the pixel data stays as small as it was."""
    patched = bytearray(data)
    struct.pack_into(">II", patched, 16, width, height)
    struct.pack_into(">I", patched, 29, zlib.crc32(bytes(patched[12:29])) & 0xFFFFFFFF)
    return bytes(patched)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, samples_be: np.ndarray) -> bytes:
    """A PNG written by hand, for layouts Pillow cannot write (16-bit RGB, 16-bit gray+alpha)."""
    rows = b"".join(b"\x00" + samples_be[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    chunks = png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def png_with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """``png`` with one more chunk right after its IHDR (8-byte signature + 25-byte IHDR)."""
    return png[:33] + png_chunk(kind, body) + png[33:]


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message


def as_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 255).astype(np.uint8)


def svg_bytes() -> bytes:
    return b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


def truncated(format_name: str) -> bytes:
    options = {"lossless": True} if format_name == "WEBP" else {}
    data = encoded(Image.fromarray(astronaut()), format_name, **options)
    return data[: len(data) // 2]
