"""Image quality figures for an upscale: full-reference PSNR / SSIM, LR-consistency and a no-reference sharpness.

All functions take float arrays in [0, 1], HxW (gray) or HxWx3 (RGB), and use only numpy and Pillow.

- ``psnr``: 10·log10(1 / MSE) over every channel; ``inf`` for identical images.
- ``ssim``: Wang, Bovik, Sheikh & Simoncelli (2004) on luminance (ITU-R 601, as ``images``), with an 11×11
  Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03, data range 1, population
  (co)variances, averaged over the pixels whose window lies inside the image. This is what
  ``skimage.metrics.structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`` computes (checked in the tests to 1e-3).
- ``lr_consistency``: the output shrunk back to the input's size with an area (box) filter, then PSNR / SSIM
  against the input. An upscaler faithful to what it was given scores high; one that invents or shifts content
  scores low. Area averaging is the simplest model of how a camera sensor integrates light over a pixel.
- ``sharpness``: the variance of the Laplacian of the luminance on the 0-255 scale (the classic "variance of
  Laplacian" focus measure, as ``cv2.Laplacian(gray, cv2.CV_64F).var()`` computes it). No reference is
  needed; higher is sharper. It depends on the pixel scale, so compare it only between images of one size.
  (OpenCV also counts the border pixels, with reflected neighbours; here only the interior ones count.)

``quality_report`` bundles the run figures and bounds their cost: an output larger than 1 MP is measured on an
evenly spaced grid of 16 windows covering 1 MP rather than whole (see ``sample_windows``). Measured on a 4 MP
output (1024² at 2x): 26 ms sampled (0.13 s whole), against 1.8-5 s for the fast local model's run itself;
a 16 MP output (4x): 45-70 ms, mostly turning the output into floats.
On skimage photos at 2x and 4x, the sampled figures stay within 2 dB (LR PSNR), 0.001 (LR SSIM) and a few per
cent (sharpness) of the whole-image ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # window radius = int(3.5 * 1.5 + 0.5) = 5: an 11x11 window, as skimage
SSIM_K1, SSIM_K2 = 0.01, 0.03

# quality_report measures whole images up to this many output pixels, and a grid of windows beyond it.
DEFAULT_SAMPLE_PIXELS = 1 << 20  # 1 MP of output (e.g. 0.25 MP of input at 2x)
SAMPLE_GRID = 4  # windows per side when sampling: 16 windows spread over the whole image


# --------------------------------------------------------------------------------------- basic figures


def luminance(image: np.ndarray) -> np.ndarray:
    """Float32 HxW luminance of an HxWx3 RGB image (an HxW image is returned as float32)."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 3:
        return array @ LUMA_WEIGHTS
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]; ``inf`` when they are identical."""
    _check_same_shape(a, b)
    mse = _mse(a, b)
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004) of the luminance of two images in [0, 1]; 1 when identical."""
    _check_same_shape(a, b)
    total, count = _ssim_sum(luminance(a), luminance(b))
    return total / count


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luminance, on the 0-255 scale. No reference; higher is sharper."""
    total, squares, count = _laplacian_moments(luminance(image))
    return _variance(total, squares, count)


def lr_consistency(output: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """``{"psnr", "ssim"}`` of ``output`` shrunk to ``source``'s size (area filter) against ``source``."""
    height, width = np.asarray(source).shape[:2]
    shrunk = area_resize(output, (width, height))
    return {"psnr": psnr(shrunk, source), "ssim": ssim(shrunk, source)}


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink a float HxW or HxWxC image to ``size`` = (width, height) by area averaging (PIL's box filter)."""
    array = np.asarray(image, dtype=np.float32)
    if (array.shape[1], array.shape[0]) == tuple(size):
        return array
    if array.ndim == 2:
        return _box_plane(array, size)
    return np.stack([_box_plane(array[:, :, c], size) for c in range(array.shape[2])], axis=2)


def _box_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(image.resize(tuple(size), Image.Resampling.BOX), dtype=np.float32)


# ------------------------------------------------------------------------------------------ internals


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} and {np.shape(b)}")


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    # float64: in float32, the mean of many tiny squared differences loses the digits PSNR is made of
    difference = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.mean(difference * difference))


def _gaussian_kernel(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return (weights / weights.sum()).astype(np.float32)


def _ssim_radius(height: int, width: int) -> int:
    """The standard radius (5), shrunk for images too small to hold an 11x11 window."""
    standard = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    return max(0, min(standard, (min(height, width) - 1) // 2))


def _filter_valid(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable filtering without padding: only the pixels whose whole window is inside the image.

    skimage pads and then crops exactly this border away, so the padding never reaches the mean.
    """
    span = len(kernel)
    rows = plane.shape[0] - span + 1
    vertical = kernel[0] * plane[:rows]
    for k in range(1, span):
        vertical += kernel[k] * plane[k : k + rows]
    cols = plane.shape[1] - span + 1
    out = kernel[0] * vertical[:, :cols]
    for k in range(1, span):
        out += kernel[k] * vertical[:, k : k + cols]
    return out


def _ssim_sum(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """The sum of the SSIM map over the valid pixels, and their count (so windows can be pooled)."""
    kernel = _gaussian_kernel(_ssim_radius(*x.shape))
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.float32, copy=False)
    mu_x, mu_y = _filter_valid(x, kernel), _filter_valid(y, kernel)
    var_x = _filter_valid(x * x, kernel) - mu_x * mu_x
    var_y = _filter_valid(y * y, kernel) - mu_y * mu_y
    cov = _filter_valid(x * y, kernel) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    ssim_map = numerator / denominator
    return float(ssim_map.sum(dtype=np.float64)), int(ssim_map.size)


def _laplacian_moments(gray: np.ndarray) -> tuple[float, float, int]:
    """Sum, sum of squares and count of the 4-neighbour Laplacian (0-255 scale) over the interior pixels."""
    if min(gray.shape) < 3:
        return 0.0, 0.0, 0
    g = gray.astype(np.float32, copy=False) * np.float32(255)
    laplacian = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    values = laplacian.astype(np.float64)
    return float(values.sum()), float((values * values).sum()), int(values.size)


def _variance(total: float, squares: float, count: int) -> float:
    if count == 0:
        return 0.0
    mean = total / count
    return max(0.0, squares / count - mean * mean)


# --------------------------------------------------------------------------------------- run report


@dataclass(frozen=True)
class Window:
    """A rectangle of the input image: left, top, width, height (pixels)."""

    left: int
    top: int
    width: int
    height: int


def sample_windows(size: tuple[int, int], scale: float, max_output_pixels: int = DEFAULT_SAMPLE_PIXELS) -> list[Window]:
    """Input windows to measure: the whole image when its output fits the budget, else a SAMPLE_GRID² grid.

    The grid's windows are spread evenly from edge to edge, so the sample sees the whole picture (a centre
    crop would miss borders, where upscalers most often go wrong), and together cover at most the budget.
    """
    width, height = size
    if width * height * scale * scale <= max_output_pixels:
        return [Window(0, 0, width, height)]
    side = max(1, int(math.sqrt(max_output_pixels / (scale * scale)) / SAMPLE_GRID))
    window_w, window_h = min(side, width), min(side, height)
    lefts = _spread(width - window_w, SAMPLE_GRID)
    tops = _spread(height - window_h, SAMPLE_GRID)
    return [Window(left, top, window_w, window_h) for top in tops for left in lefts]


def _spread(room: int, count: int) -> list[int]:
    """``count`` evenly spaced offsets from 0 to ``room`` (fewer when there is no room)."""
    if room <= 0:
        return [0]
    return sorted({round(room * i / (count - 1)) for i in range(count)})


def quality_report(
    source: np.ndarray, output: np.ndarray, max_output_pixels: int = DEFAULT_SAMPLE_PIXELS
) -> dict[str, Any]:
    """LR-consistency and sharpness of a run, measured on at most ``max_output_pixels`` of the output.

    ``source`` is the input colour and ``output`` the upscaled one (HxWx3, or HxW gray, in [0, 1]).
    Returns ``{"lr_psnr": dB, "lr_ssim": 0-1, "sharpness": Laplacian variance (0-255 scale), "sampled":
    the fraction of the image measured}``; ``lr_psnr`` is ``inf`` when the shrunk output equals the input.
    """
    source, output = _three_channels(source), _three_channels(output)
    in_h, in_w = source.shape[:2]
    scale_x, scale_y = output.shape[1] / in_w, output.shape[0] / in_h
    windows = sample_windows((in_w, in_h), max(scale_x, scale_y), max_output_pixels)
    pooled = _Pooled()
    for window in windows:
        low = _crop(source, window)
        pooled.add(low, _crop_scaled(output, window, scale_x, scale_y))
    return pooled.report(sampled=min(1.0, sum(w.width * w.height for w in windows) / (in_w * in_h)))


class _Pooled:
    """Sums over windows, so the figures are those of all sampled pixels together (not a mean of means)."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.values = 0
        self.ssim_total, self.ssim_count = 0.0, 0
        self.laplacian = [0.0, 0.0, 0]  # sum, sum of squares, count

    def add(self, low: np.ndarray, high: np.ndarray) -> None:
        shrunk = area_resize(high, (low.shape[1], low.shape[0]))
        self.squared_error += _mse(shrunk, low) * low.size
        self.values += low.size
        total, count = _ssim_sum(luminance(shrunk), luminance(low))
        self.ssim_total, self.ssim_count = self.ssim_total + total, self.ssim_count + count
        for i, part in enumerate(_laplacian_moments(luminance(high))):
            self.laplacian[i] += part

    def report(self, sampled: float) -> dict[str, Any]:
        mse = self.squared_error / self.values
        return {
            "lr_psnr": math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse),
            "lr_ssim": self.ssim_total / self.ssim_count,
            "sharpness": _variance(*self.laplacian),
            "sampled": sampled,
        }


def _three_channels(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    return np.repeat(array[:, :, np.newaxis], 3, axis=2) if array.ndim == 2 else array


def _crop(image: np.ndarray, window: Window) -> np.ndarray:
    return image[window.top : window.top + window.height, window.left : window.left + window.width]


def _crop_scaled(output: np.ndarray, window: Window, scale_x: float, scale_y: float) -> np.ndarray:
    """The output region covering an input window (exact for whole-number scales)."""
    left, top = round(window.left * scale_x), round(window.top * scale_y)
    right = round((window.left + window.width) * scale_x)
    bottom = round((window.top + window.height) * scale_y)
    return _crop(output, Window(left, top, right - left, bottom - top))


def json_safe(report: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """The report for JSON: floats rounded; an infinite PSNR (identical images) becomes None."""
    safe: dict[str, Any] = {}
    for key, value in report.items():
        if isinstance(value, float):
            safe[key] = round(value, digits) if math.isfinite(value) else None
        else:
            safe[key] = value
    return safe
