"""MATLAB's ``imresize(image, scale, 'bicubic')``: the resampling every super-resolution benchmark is built on.

The published tables (bicubic x4 on Set5: 28.42 dB / 0.8104; SRCNN, EDSR, SwinIR, HAT) take their low-resolution
inputs from MATLAB's bicubic ``imresize``, so a sweep comparable with them must shrink its references the same
way. What makes it MATLAB's and not any bicubic:

- the cubic convolution kernel of Keys (1981) with a = -0.5;
- when shrinking, the kernel is stretched by 1/scale (and its height divided by it): antialiasing, so every
  input pixel under an output pixel contributes, as a camera's sensor integrates over it;
- pixel centres on a half-pixel grid: output pixel x (1-based) samples input position x/scale + 0.5(1 - 1/scale);
- the image extended by mirroring at its edges (``[1..n, n..1]``, the edge pixel repeated);
- the two dimensions resized one after the other, the one shrunk most first (rows first on a tie);
- computed in double precision; an 8-bit result rounded half away from zero and saturated (``to_uint8``).

Pillow's float BICUBIC uses the same kernel, grid and antialiasing but renormalises its window at the edges
instead of mirroring, so the two agree everywhere but within the kernel's reach of the border (the tests check
both this and an independent pixel-by-pixel formula).
"""

from __future__ import annotations

import math

import numpy as np

KERNEL_WIDTH = 4.0  # the cubic kernel's support, in input pixels, before stretching


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's and Pillow's)."""
    distance = np.abs(x)
    distance2, distance3 = distance**2, distance**3
    near = (1.5 * distance3 - 2.5 * distance2 + 1.0) * (distance <= 1)
    far = (-0.5 * distance3 + 2.5 * distance2 - 4.0 * distance + 2.0) * ((distance > 1) & (distance <= 2))
    return near + far


def imresize(image: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """``image`` (HxW or HxWxC, any numeric type) resized by ``scale`` as MATLAB's bicubic ``imresize``.

    The output has ``ceil(side * scale)`` pixels per side and is float64, unclipped (bicubic overshoots);
    ``to_uint8`` turns it into the 8-bit image MATLAB returns for an 8-bit input.
    """
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    array = np.asarray(image, dtype=np.float64)
    if array.ndim not in (2, 3) or 0 in array.shape[:2]:
        raise ValueError(f"expected a non-empty HxW or HxWxC image, got shape {array.shape}")
    sizes = [math.ceil(array.shape[axis] * scale) for axis in (0, 1)]
    # Resized by the same factor in both directions, the order only matters on a tie: rows first, as MATLAB.
    for axis in (0, 1):
        weights, indices = contributions(array.shape[axis], sizes[axis], scale, antialias)
        array = _resize_axis(array, axis, weights, indices)
    return array


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float values on the 0-255 scale as MATLAB's ``uint8()``: rounded half away from zero, saturated."""
    return np.clip(np.floor(np.asarray(image, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)


def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """For each output position, the weights of the input pixels it is made of, and their (0-based) indices.

    Both are ``out_length`` x P arrays; every row of weights sums to 1, and indices beyond the image are
    mirrored back into it.
    """
    stretch = scale < 1 and antialias
    kernel_width = KERNEL_WIDTH / scale if stretch else KERNEL_WIDTH
    positions = np.arange(1, out_length + 1, dtype=np.float64)
    centres = positions / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinates
    left = np.floor(centres - kernel_width / 2.0)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, np.newaxis] + np.arange(taps)[np.newaxis, :]
    offsets = centres[:, np.newaxis] - indices
    weights = scale * cubic(scale * offsets) if stretch else cubic(offsets)
    weights /= weights.sum(axis=1, keepdims=True)
    mirrored = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    indices = mirrored[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)  # the outermost taps often fall exactly on the kernel's zeros
    return weights[:, used], indices[:, used]


def _resize_axis(array: np.ndarray, axis: int, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Each output line along ``axis`` as the weighted sum of its input lines (one tap at a time, to bound memory)."""
    moved = np.moveaxis(array, axis, 0)
    shape = (weights.shape[0],) + (1,) * (moved.ndim - 1)
    out = np.zeros((weights.shape[0],) + moved.shape[1:], dtype=np.float64)
    for tap in range(weights.shape[1]):
        out += weights[:, tap].reshape(shape) * moved[indices[:, tap]]
    return np.moveaxis(out, 0, axis)
