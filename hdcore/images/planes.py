"""Pixels as float32 planes in [0, 1]: colour (always RGB), alpha, and the depth they came at.

Every decoded image, PIL or numpy, becomes a ``Planes``; nothing is rounded to 8 bits on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import InvalidImage
from ..text import error_text, shortened
from .formats import ALPHA_MODES, GRAY_MODES, WIDE_GRAY_MODES


@dataclass
class Planes:
    color: np.ndarray  # float32 HxWx3 RGB in [0, 1]; grayscale replicated into 3 channels
    alpha: np.ndarray | None  # float32 HxW in [0, 1], or None without a transparency channel
    grayscale: bool
    bit_depth: int  # 8 or 16


def planes_from_pil(image: Image.Image, notes: list[str]) -> Planes:
    if image.mode in WIDE_GRAY_MODES:
        return Planes(gray_to_rgb(wide_gray_plane(image, notes)), None, True, 16)
    target = _eight_bit_target(image)
    try:
        converted = image if image.mode == target else image.convert(target)
    except (ValueError, OSError) as error:
        raise InvalidImage(f"unsupported colour mode {image.mode}: {shortened(error_text(error))}") from error
    values = np.asarray(converted).astype(np.float32)
    values /= np.float32(255)  # in place: a full-size float copy is already the largest allocation here
    if values.ndim == 2:
        values = values[:, :, np.newaxis]
    return split_channels(values, has_alpha=target in ("LA", "RGBA"), bit_depth=8)


def _eight_bit_target(image: Image.Image) -> str:
    """The PIL mode holding every channel the image has, at 8 bits; converting P/1/RGBa/La/YCbCr... into it."""
    transparent = image.mode in ALPHA_MODES or image.has_transparency_data
    if image.mode in GRAY_MODES:
        return "LA" if transparent else "L"
    return "RGBA" if transparent else "RGB"


def split_channels(values: np.ndarray, *, has_alpha: bool, bit_depth: int) -> Planes:
    """HxWxC float values (C = 1..4, alpha last when there is one) as planes."""
    alpha = np.ascontiguousarray(values[:, :, -1]) if has_alpha else None
    channels = values[:, :, :-1] if has_alpha else values
    grayscale = channels.shape[2] == 1
    color = gray_to_rgb(channels[:, :, 0]) if grayscale else np.ascontiguousarray(channels)
    return Planes(color, alpha, grayscale, bit_depth)


def wide_gray_plane(image: Image.Image, notes: list[str] | None = None) -> np.ndarray:
    """I;16*, I and F as float32 in [0, 1], at full precision (PIL's convert to L or RGB would clip at 255)."""
    values = np.asarray(image)
    if image.mode == "F":
        plane = np.nan_to_num(values.astype(np.float32), nan=0.0)
        scale = 1.0 if plane.size == 0 or float(plane.max()) <= 1.0 else 65535.0  # [0, 1] floats or 16-bit range
    else:
        plane, scale = values.astype(np.float32), 65535.0
    if notes is not None and plane.size and (float(plane.min()) < 0 or float(plane.max()) > scale):
        notes.append("pixel values beyond the 16-bit range were clipped")
    return np.clip(plane / np.float32(scale), 0.0, 1.0)


def gray_to_rgb(plane: np.ndarray) -> np.ndarray:
    return np.repeat(plane[:, :, np.newaxis].astype(np.float32, copy=False), 3, axis=2)


def planes_from_array(array: np.ndarray) -> Planes:
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InvalidImage(f"unsupported array shape {array.shape}: expected HxW, HxWx3 or HxWx4")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImage(f"zero-size image: {array.shape[1]}x{array.shape[0]} has no pixels")
    values, bit_depth = _unit_range(array)
    return split_channels(values, has_alpha=array.shape[2] in (2, 4), bit_depth=bit_depth)


def array_mode(planes: Planes) -> str:
    """The PIL mode an array's planes correspond to, for the record."""
    if planes.grayscale:
        if planes.alpha is not None:
            return "LA"
        return "I;16" if planes.bit_depth == 16 else "L"
    return "RGBA" if planes.alpha is not None else "RGB"


def _unit_range(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Array values as float32 in [0, 1], and the bit depth they came at."""
    if array.dtype == np.bool_:
        return array.astype(np.float32), 8
    if np.issubdtype(array.dtype, np.floating):
        return clean_unit(array), 8
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidImage(f"unsupported array type {array.dtype}: expected uint8, uint16 or float")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255), 8
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535), 16
    # Other integer types (e.g. int64 from JSON): the value range says which depth they hold.
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise InvalidImage(f"array values {low}..{high} are outside 0..65535: not image data")
    maximum, depth = (255, 8) if high <= 255 else (65535, 16)
    return array.astype(np.float32) / np.float32(maximum), depth


def clean_unit(values: np.ndarray) -> np.ndarray:
    """NaN to 0, infinities and overshoot clipped into [0, 1], as a new float32 array (the input is untouched)."""
    cleaned = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0, copy=False)
    return np.clip(cleaned, 0.0, 1.0, out=cleaned)


def quantize(values: np.ndarray, maximum: int, dtype: type) -> np.ndarray:
    return np.rint(values * np.float32(maximum)).astype(dtype)


def oriented(planes: Planes, orientation: int) -> Planes:
    """The planes as a viewer shows them, given the EXIF orientation (1-8) of how they are stored."""
    if orientation not in ORIENTATIONS:
        return planes
    turn = ORIENTATIONS[orientation]
    alpha = None if planes.alpha is None else np.ascontiguousarray(turn(planes.alpha))
    return Planes(np.ascontiguousarray(turn(planes.color)), alpha, planes.grayscale, planes.bit_depth)


# EXIF orientation -> the transform that displays the stored pixels upright, on arrays indexed [row, column]:
# the same as Pillow's ImageOps.exif_transpose (2 mirror, 3 turn 180, 4 flip, 5 transpose, 6 turn clockwise,
# 7 transverse, 8 turn counter-clockwise), done on float planes so 16-bit colour is turned as well.
ORIENTATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}
