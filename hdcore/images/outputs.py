"""What providers return (bytes, data URIs, PIL images, arrays), as float32 RGB in [0, 1]."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from PIL import Image

from ..config import DEFAULT_MAX_OUTPUT_PIXELS
from ..errors import ImageTooLarge, InvalidImage
from .decode import check_declared_size, decode_pixels, open_image
from .deep import DeepColorImage
from .formats import GRAY_MODES, WIDE_GRAY_MODES, format_name
from .planes import clean_unit, gray_to_rgb, planes_from_array, wide_gray_plane
from .sources import read_source_bytes


def decode_output(data: Any, *, max_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS) -> np.ndarray:
    """A provider's answer (bytes, base64, data URI, PIL image or array) as float32 HxWx3 RGB in [0, 1].

    Every failure, an over-limit size included, is an ``InvalidImage``. An answer comes from outside, so a string
    in it is never taken for a path: a server must not make us read our own files.
    """
    try:
        if isinstance(data, np.ndarray):
            return as_float_rgb(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = data if isinstance(data, Image.Image) else open_image(_answer_bytes(data, max_pixels), max_pixels)
            check_declared_size(image.size, max_pixels)
            decode_pixels(image, format_name(image.format))
            return as_float_rgb(image)
    except ImageTooLarge as error:
        raise InvalidImage(str(error)) from error


def _answer_bytes(data: Any, max_pixels: int) -> bytes:
    return read_source_bytes(data, allow_paths=False, max_pixels=max_pixels)


def as_float_rgb(image: Any) -> np.ndarray:
    """A PIL image (any mode) or uint8 / uint16 / float array as float32 HxWx3 in [0, 1]; alpha is dropped."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 3 and np.issubdtype(image.dtype, np.floating):
            return clean_unit(image)  # the common case, with a single copy
        return planes_from_array(image).color
    if isinstance(image, Image.Image):
        return _pil_to_float_rgb(image)
    raise InvalidImage(f"cannot read an image from {type(image).__name__}: expected a PIL image or a numpy array")


def _pil_to_float_rgb(image: Image.Image) -> np.ndarray:
    if image.size[0] <= 0 or image.size[1] <= 0:
        raise InvalidImage(f"zero-size image: {image.size[0]}x{image.size[1]} has no pixels")
    if isinstance(image, DeepColorImage):
        return image.deep[:, :, :3].astype(np.float32) / np.float32(65535)
    if image.mode in WIDE_GRAY_MODES:
        return gray_to_rgb(wide_gray_plane(image))
    if image.mode in GRAY_MODES:
        return gray_to_rgb(np.asarray(image.convert("L")).astype(np.float32) / np.float32(255))
    converted = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(converted).astype(np.float32) / np.float32(255)
