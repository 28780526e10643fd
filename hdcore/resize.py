"""High-quality resizing of float images (Lanczos), used wherever a size must be met exactly."""

from __future__ import annotations

import numpy as np
from PIL import Image


def lanczos_resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float32 HxW or HxWxC array to ``size`` = (width, height) with Lanczos, channel by channel.

    PIL's 32-bit float mode keeps full precision (no 8-bit rounding), so 16-bit sources stay 16-bit clean.
    """
    width, height = size
    if array.shape[1] == width and array.shape[0] == height:
        return array.astype(np.float32, copy=False)
    if array.ndim == 2:
        return _resize_plane(array, size)
    planes = [_resize_plane(array[:, :, c], size) for c in range(array.shape[2])]
    return np.stack(planes, axis=2)


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    resized = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
