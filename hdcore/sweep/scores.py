"""The figures a sweep gives every output, by the protocol of the super-resolution literature.

- ``psnr_y`` / ``ssim_y``: PSNR and SSIM on the Y channel of ITU-R BT.601 YCbCr as MATLAB's ``rgb2ycbcr``
  computes it (Y = 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1], Y on the 0-255 scale), after cutting
  ``scale`` px off every border, on 8-bit images: what BasicSR's ``calculate_psnr`` / ``calculate_ssim``
  (``test_y_channel=True, crop_border=scale``) do, and how bicubic, SwinIR and HAT tables are measured. Y is
  not rounded after the conversion (BasicSR's choice; MATLAB's uint8 ``rgb2ycbcr`` rounds it, which moves
  PSNR by ~0.01 dB). SSIM is Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, K = 0.01 / 0.03, data
  range 255, population (co)variances, the mean over the pixels whose window lies inside the image.
- ``lr_psnr``: LR consistency, the output shrunk back by the scale with the same MATLAB bicubic against the
  low-resolution input it was given (RGB PSNR). For the bicubic degradation this is the exact inverse check
  (the reference itself scores infinity: it is what the input was made from; bicubic upscaling ~36-44 dB);
  for the realistic one it says how much of the input survives, noise and blur included.
- ``sharpness``: variance of the Laplacian (``hdcore.metrics.sharpness``); higher is sharper, noise included.
- ``niqe``: the no-reference naturalness score (``niqe``, lower is better) of the output's Y channel, with the
  same border cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import metrics
from .imresize import imresize, to_uint8
from .niqe import niqe

# MATLAB's rgb2ycbcr, luma row: for RGB in [0, 1] it gives Y in [16, 235]
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
Y_OFFSET = 16.0


@dataclass(frozen=True)
class Scores:
    psnr_y: float
    ssim_y: float
    lr_psnr: float
    sharpness: float
    niqe: float | None  # None for an output smaller than one NIQE patch (96 px)


def y_channel(rgb: np.ndarray) -> np.ndarray:
    """Float64 Y (0-255 scale, [16, 235]) of an 8-bit HxWx3 RGB image; an HxW image is taken as gray (R=G=B)."""
    array = np.asarray(rgb, dtype=np.float64) / 255.0
    if array.ndim == 2:
        return Y_OFFSET + array * Y_WEIGHTS.sum()
    return Y_OFFSET + array @ Y_WEIGHTS


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} image has nothing left inside a {border} px border")
    return image[border:-border, border:-border]


def psnr_y(output: np.ndarray, reference: np.ndarray, border: int) -> float:
    """PSNR in dB of the Y channels of two 8-bit RGB images, ``border`` px cut; ``inf`` when they are equal."""
    a, b = _y_pair(output, reference, border)
    return metrics.psnr(a / 255.0, b / 255.0)  # 10 log10(255^2 / MSE) on the 0-255 scale


def ssim_y(output: np.ndarray, reference: np.ndarray, border: int) -> float:
    """SSIM (Wang et al. 2004) of the Y channels of two 8-bit RGB images, ``border`` px cut."""
    a, b = _y_pair(output, reference, border)
    return metrics.ssim(a / 255.0, b / 255.0)  # SSIM is unchanged when data and range are scaled together


def lr_psnr(output: np.ndarray, low_res: np.ndarray, scale: int) -> float:
    """RGB PSNR of the output shrunk by ``scale`` (MATLAB bicubic, 8 bits) against the input it was made from."""
    shrunk = to_uint8(imresize(output, 1.0 / scale))
    return metrics.psnr(shrunk / 255.0, np.asarray(low_res) / 255.0)


def niqe_y(output: np.ndarray, border: int) -> float | None:
    return niqe(crop_border(y_channel(output), border))


def score(output: np.ndarray, reference: np.ndarray, low_res: np.ndarray, scale: int) -> Scores:
    """Every figure of one 8-bit output against its 8-bit reference and the 8-bit input it was given."""
    if output.shape != reference.shape:
        raise ValueError(f"the output is {output.shape[1]}x{output.shape[0]}, the reference "
                         f"{reference.shape[1]}x{reference.shape[0]}")
    return Scores(
        psnr_y=psnr_y(output, reference, scale),
        ssim_y=ssim_y(output, reference, scale),
        lr_psnr=lr_psnr(output, low_res, scale),
        sharpness=metrics.sharpness(output / np.float32(255)),
        niqe=niqe_y(output, scale),
    )


def finite_or_none(value: float | None) -> float | None:
    """JSON and CSV have no infinity: an infinite PSNR (identical images) is stored as None."""
    return value if value is not None and math.isfinite(value) else None


def _y_pair(output: np.ndarray, reference: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if np.shape(output) != np.shape(reference):
        raise ValueError(f"images differ in shape: {np.shape(output)} and {np.shape(reference)}")
    return crop_border(y_channel(output), border), crop_border(y_channel(reference), border)
