"""Writing an image as PNG, JPEG or WebP, faithfully: full depth where the format has it, the ICC profile kept."""

from __future__ import annotations

import base64
import io
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InvalidInput
from .formats import (
    ALPHA_MODES,
    DEFAULT_QUALITY,
    FORMAT_ALIASES,
    FORMATS,
    FULL_CHROMA_QUALITY,
    GRAY_MODES,
    MAX_SIDE,
    MIME_TYPES,
    WIDE_GRAY_MODES,
)
from .deep import DeepColorImage, encode_deep_png
from .metadata import METADATA_KEY, Metadata, keep_fitting_profile, save_options
from .planes import quantize, wide_gray_plane


_EIGHT_BIT_NOTE = "{} stores 8 bits per channel: the 16-bit image was written as 8-bit"


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    format: str  # what was actually written: "png" | "jpeg" | "webp"
    mime: str
    warnings: tuple[str, ...] = ()


def encode_image(
    image: Image.Image,
    format: str = "png",
    quality: int | None = None,
    *,
    copy_metadata: bool = True,
    metadata: Metadata | None = None,
) -> EncodedImage:
    """Write ``image`` as PNG, JPEG or WebP with its ICC profile; warnings say what had to change.

    ``copy_metadata``: also write the EXIF, XMP and text that ``compose`` put on the image (or ``metadata``),
    as far as the format carries them. A ``DeepColorImage`` is written as a 16-bit PNG.
    """
    wanted = _normalize_format(format)
    quality = _checked_quality(quality, wanted)
    notes: list[str] = []
    carried = (metadata or image.info.get(METADATA_KEY) or Metadata()) if copy_metadata else Metadata()
    deep = image.deep if isinstance(image, DeepColorImage) else None
    image = _drop_opaque_alpha(image) if wanted == "jpeg" else image
    written = _writable_format(image, wanted, notes)
    data = None
    if deep is not None and written == "png":
        icc = keep_fitting_profile(image.info.get("icc_profile"), "RGB", notes)
        data = encode_deep_png(deep, {"icc_profile": icc, **save_options(carried, "png", notes)})
    if data is None:  # not 16-bit colour, or no OpenCV to write it
        if deep is not None:
            notes.append(_EIGHT_BIT_NOTE.format(written.upper()))
        prepared = _prepare_mode(image, written, notes)
        icc = keep_fitting_profile(image.info.get("icc_profile"), _color_space_of(prepared), notes)
        data = _save(prepared, written, quality, {"icc_profile": icc, **save_options(carried, written, notes)})
    return EncodedImage(data=data, format=written, mime=MIME_TYPES[written], warnings=tuple(dict.fromkeys(notes)))


def to_data_uri(encoded: EncodedImage) -> str:
    return f"data:{encoded.mime};base64,{base64.b64encode(encoded.data).decode('ascii')}"


def _normalize_format(format: str) -> str:
    name = str(format).strip().lower().lstrip(".")
    name = FORMAT_ALIASES.get(name, name)
    if name not in FORMATS:
        raise InvalidInput(f"unknown output format {format!r}: choose png, jpeg or webp")
    return name


def _checked_quality(quality: int | None, format_name: str) -> int | None:
    if quality is None:
        return DEFAULT_QUALITY[format_name]
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 1 <= quality <= 100:
        raise InvalidInput(f"quality must be a whole number from 1 to 100, not {quality!r}")
    return int(quality)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA_MODES or image.has_transparency_data


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """A fully opaque alpha channel carries nothing, so it need not stop an image from being a JPEG."""
    if image.mode not in ("RGBA", "LA") or image.getchannel("A").getextrema() != (255, 255):
        return image
    opaque = image.convert("RGB" if image.mode == "RGBA" else "L")
    opaque.info = dict(image.info)
    return opaque


def _writable_format(image: Image.Image, wanted: str, notes: list[str]) -> str:
    if wanted == "jpeg" and _has_alpha(image):
        notes.append("JPEG has no transparency: written as PNG")
        return "png"
    limit = MAX_SIDE.get(wanted)
    if limit is not None and max(image.size) > limit:
        notes.append(f"{wanted.upper()} is limited to {limit} pixels a side: written as PNG")
        return "png"
    return wanted


def _prepare_mode(image: Image.Image, format_name: str, notes: list[str]) -> Image.Image:
    """Convert to a mode the encoder writes faithfully (never through PIL's clipping 16-to-8-bit convert)."""
    mode = image.mode
    if mode in ("I;16", "I;16B") and format_name == "png":
        return image
    if mode in WIDE_GRAY_MODES and format_name == "png":
        return _with_info(Image.fromarray(_wide_to(image, 65535, np.uint16)), image)
    if mode in WIDE_GRAY_MODES:
        notes.append(_EIGHT_BIT_NOTE.format(format_name.upper()))
        image = _with_info(Image.fromarray(_wide_to(image, 255, np.uint8)), image)
    return _convert_for(image, format_name)


def _wide_to(image: Image.Image, maximum: int, dtype: type) -> np.ndarray:
    return quantize(wide_gray_plane(image), maximum, dtype)


def _convert_for(image: Image.Image, format_name: str) -> Image.Image:
    target = _encoder_mode(image, format_name)
    return image if image.mode == target else _with_info(image.convert(target), image)


def _encoder_mode(image: Image.Image, format_name: str) -> str:
    gray, alpha = image.mode in GRAY_MODES, _has_alpha(image)
    if format_name == "png" and image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"):
        return image.mode
    if format_name == "jpeg":
        return "L" if gray else "RGB"
    if format_name == "webp":  # WebP has no gray modes
        return "RGBA" if alpha else "RGB"
    if gray:
        return "LA" if alpha else "L"
    return "RGBA" if alpha else "RGB"


def _with_info(converted: Image.Image, original: Image.Image) -> Image.Image:
    converted.info = {key: value for key, value in original.info.items() if key != "transparency"}
    return converted


def _color_space_of(image: Image.Image) -> str:
    return "GRAY" if image.mode in GRAY_MODES else "RGB"


def _save(image: Image.Image, format_name: str, quality: int | None, options: dict[str, Any]) -> bytes:
    if format_name == "jpeg":
        options.update(quality=quality, optimize=True)
        if quality is not None and quality >= FULL_CHROMA_QUALITY:
            options["subsampling"] = 0
    elif format_name == "webp":
        options.update(quality=quality)
    buffer = io.BytesIO()
    image.save(buffer, format_name.upper(), **options)
    return buffer.getvalue()
