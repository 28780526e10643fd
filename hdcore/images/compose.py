"""The output image: its size checked against the limit, and rebuilt from upscaled colour and the source's record."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..config import DEFAULT_MAX_OUTPUT_PIXELS
from ..errors import ImageTooLarge, InvalidInput
from ..resize import lanczos_resize
from .decode import SourceImage
from .deep import DeepColorImage, deep_color_image
from .formats import LUMA_WEIGHTS
from .metadata import METADATA_KEY
from .outputs import as_float_rgb
from .planes import clean_unit, quantize


def check_output_size(
    size: tuple[int, int], scale: int, max_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
) -> tuple[int, int]:
    """The output size for ``scale``; ``ImageTooLarge`` when it would exceed ``max_pixels``."""
    if not scale > 0:
        raise InvalidInput(f"scale must be positive, not {scale}")
    width, height = size
    out_width, out_height = round(width * scale), round(height * scale)
    pixels = out_width * out_height
    if pixels > max_pixels:
        raise ImageTooLarge(
            f"output too large: {width}x{height} at {scale}x would be {out_width}x{out_height} = {pixels:,} pixels, "
            f"over the limit of {max_pixels:,} pixels"
        )
    return out_width, out_height


def compose(color: np.ndarray, source: SourceImage) -> Image.Image:
    """The final image at ``color``'s size: alpha upscaled with Lanczos, the source's mode and profile restored.

    A 16-bit colour source gives a ``DeepColorImage``, which a PNG is written from at 16 bits per channel.
    The source's EXIF, XMP and text travel in ``image.info[METADATA_KEY]`` for ``encode_image`` to write.
    """
    rgb = as_float_rgb(color)
    size = (rgb.shape[1], rgb.shape[0])
    alpha = None if source.alpha is None else clean_unit(lanczos_resize(source.alpha, size))
    if source.grayscale:
        image = _gray_image(luminance(rgb), alpha, source.bit_depth)
    elif source.bit_depth == 16:
        image = deep_color_image(rgb, alpha)
    else:
        image = _color_image(rgb, alpha)
    if source.icc_profile:
        image.info["icc_profile"] = source.icc_profile
    if not source.metadata.empty:
        image.info[METADATA_KEY] = source.metadata.for_size(size)
    return image


def crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """``box`` (left, top, right, bottom) of a composed image, its 16-bit values, profile and metadata kept."""
    cropped = image.crop(box)  # Pillow copies ``info`` (profile, metadata) to the new image
    left, top, right, bottom = box
    if isinstance(image, DeepColorImage):
        cropped.__class__ = DeepColorImage
        cropped.deep = np.ascontiguousarray(image.deep[top:bottom, left:right])
    if METADATA_KEY in image.info:
        cropped.info[METADATA_KEY] = image.info[METADATA_KEY].for_size(cropped.size)
    return cropped


def luminance(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb @ LUMA_WEIGHTS, 0.0, 1.0)


def _gray_image(gray: np.ndarray, alpha: np.ndarray | None, bit_depth: int) -> Image.Image:
    if alpha is None and bit_depth == 16:
        return Image.fromarray(quantize(gray, 65535, np.uint16))  # mode I;16
    if alpha is None:
        return Image.fromarray(quantize(gray, 255, np.uint8))
    return Image.fromarray(quantize(np.stack([gray, alpha], axis=2), 255, np.uint8))  # mode LA


def _color_image(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    if alpha is None:
        return Image.fromarray(quantize(rgb, 255, np.uint8))
    return Image.fromarray(quantize(np.concatenate([rgb, alpha[:, :, np.newaxis]], axis=2), 255, np.uint8))
