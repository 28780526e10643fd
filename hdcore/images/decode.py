"""Decoding any input into a ``SourceImage``, refusing what is not a usable raster image with one line."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageCms

from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..errors import ImageTooLarge, InvalidImage
from ..text import error_text, shortened
from .formats import INPUT_FORMATS, format_name
from .metadata import Metadata, keep_fitting_profile, profile_color_space, read_metadata
from .bleed import bleed_transparent
from .deep import deep_planes
from .planes import array_mode, oriented, planes_from_array, planes_from_pil
from .sniff import describe_unreadable, png_declares_gray
from .sources import read_source_bytes

BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass
class SourceImage:
    """A decoded input: colour to upscale, and what the output must get back."""

    color: np.ndarray  # float32 HxWx3 RGB in [0, 1]; gray replicated; under alpha 0: the nearest visible colour
    alpha: np.ndarray | None  # float32 HxW in [0, 1], or None without a transparency channel
    grayscale: bool
    bit_depth: int  # 8 or 16
    icc_profile: bytes | None
    format: str  # sniffed from content ("PNG", "JPEG", ...); "" for in-memory images without one
    mode: str  # the PIL mode as decoded, before any conversion
    warnings: list[str] = field(default_factory=list)
    metadata: Metadata = field(default_factory=Metadata)  # EXIF, XMP, text for the output (see metadata)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.color.shape[1]), int(self.color.shape[0])


def load_image(source: Any, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS, allow_paths: bool = True) -> SourceImage:
    """Decode ``source`` into a ``SourceImage``; raise ``InvalidImage`` / ``ImageTooLarge`` when it is unusable.

    ``allow_paths=False`` (the seed contract, HTTP fronts): a string is base64 or a data URI, never a file name.
    """
    if isinstance(source, np.ndarray):
        return _load_array(source, max_pixels)
    with warnings.catch_warnings():
        # Pillow's own warnings (decompression bomb, corrupt EXIF) are superseded by our checks and messages.
        warnings.simplefilter("ignore")
        if isinstance(source, Image.Image):
            return _load_pil(source, max_pixels)
        data = read_source_bytes(source, allow_paths=allow_paths, max_pixels=max_pixels)
        return _load_pil(open_image(data, max_pixels), max_pixels, data)


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Parse only the header; pixels are decoded later, after the declared size has been checked."""
    if not data.strip():
        raise InvalidImage("empty input: no image data")
    try:
        return Image.open(io.BytesIO(data), formats=_input_formats())
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(_bomb_message(error, max_pixels)) from error
    except MemoryError:
        raise
    except Exception as error:  # Pillow's plugins raise many kinds; every one means "unreadable"
        raise InvalidImage(describe_unreadable(data, error)) from error


def _input_formats() -> tuple[str, ...]:
    Image.init()
    # Image.open raises KeyError for a format whose plugin this Pillow lacks, so offer only those present.
    return tuple(name for name in INPUT_FORMATS if name in Image.OPEN)


def _bomb_message(error: Exception, max_pixels: int) -> str:
    found = BOMB_PIXELS.search(str(error))
    declared = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow will decode"
    return (
        f"image too large: it declares {declared}, over the limit of {max_pixels:,} pixels "
        "(a possible decompression bomb)"
    )


def _load_pil(image: Image.Image, max_pixels: int, data: bytes = b"") -> SourceImage:
    name = format_name(image.format)
    check_declared_size(image.size, max_pixels)
    notes = _frame_notes(image, name)
    decode_pixels(image, name)
    mode = image.mode
    icc = image.info.get("icc_profile") or None
    metadata, orientation = read_metadata(image, notes)
    planes = deep_planes(data, image, name, notes)
    if planes is None and image.mode == "CMYK":
        image, icc = _cmyk_to_srgb(image, icc, notes), None
    planes = oriented(planes or planes_from_pil(image, notes), orientation)
    grayscale = planes.grayscale or png_declares_gray(data)
    if grayscale and planes.alpha is not None and planes.bit_depth == 16:
        notes.append("16-bit gray with alpha: the output is written at 8 bits per channel (no 16-bit mode for it)")
    icc = keep_fitting_profile(icc, "GRAY" if grayscale else "RGB", notes)
    return SourceImage(
        color=bleed_transparent(planes.color, planes.alpha),
        alpha=planes.alpha,
        grayscale=grayscale,
        bit_depth=planes.bit_depth,
        icc_profile=icc,
        format=name,
        mode=mode,
        warnings=notes,
        metadata=metadata,
    )


def check_declared_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an empty or over-limit size before any pixel is decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidImage(f"zero-size image: {width}x{height} has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image too large: {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} pixels"
        )


def _frame_notes(image: Image.Image, name: str) -> list[str]:
    try:
        frames = int(getattr(image, "n_frames", 1))
    except Exception:  # a broken later frame does not spoil the first one
        frames = 1
    if image.tell() != 0:  # counting frames can leave a broken file on another frame
        try:
            image.seek(0)
        except Exception as error:
            raise InvalidImage(f"corrupt {name or 'image'} data: {shortened(error_text(error))}") from error
    if frames <= 1 or name == "JPEG":
        return []
    if name == "TIFF":
        return [f"multi-page TIFF: only the first of {frames} pages is used"]
    return [f"animated {name or 'image'}: only the first of {frames} frames is used"]


def decode_pixels(image: Image.Image, name: str) -> None:
    """Decode now, so truncated or corrupt data fails here with a clear message, not later in the pipeline."""
    try:
        image.load()
    except MemoryError:
        raise
    except Exception as error:
        raise InvalidImage(f"truncated or corrupt {name or 'image'} data: {shortened(error_text(error))}") from error


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """Colour-manage through the embedded CMYK profile when there is a usable one; else a plain conversion."""
    if icc and profile_color_space(icc) == "CMYK":
        try:
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode="RGB",
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
        notes.append("the CMYK ICC profile could not be applied: colours converted without it")
    elif icc:
        notes.append("the ICC profile does not describe CMYK: colours converted without it")
    return image.convert("RGB")


def _load_array(array: np.ndarray, max_pixels: int) -> SourceImage:
    if array.ndim in (2, 3):
        check_declared_size((array.shape[1], array.shape[0]), max_pixels)
    planes = planes_from_array(array)
    color = bleed_transparent(planes.color, planes.alpha)
    return SourceImage(color, planes.alpha, planes.grayscale, planes.bit_depth, None, "", array_mode(planes), [])
