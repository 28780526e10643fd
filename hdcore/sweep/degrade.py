"""How a sweep makes its low-resolution inputs from high-resolution references.

Both degradations take an 8-bit RGB reference already cut to a multiple of the scale (``modcrop``) and return
the 8-bit low-resolution image, exactly 1/scale of its size.

- ``bicubic``: the standard of the super-resolution literature, MATLAB's bicubic ``imresize`` by 1/scale with
  antialiasing (``imresize``), rounded to 8 bits. Published tables (Set5, Set14, DIV2K) are measured this way.
- ``realistic``: after Real-ESRGAN's second-order degradation (Wang et al. 2021, "Training Real-World Blind
  Super-Resolution with Pure Synthetic Data"), run twice: blur with a random isotropic or anisotropic Gaussian
  kernel, resize by a random factor with a random resampler, add Gaussian or Poisson noise (colour or gray),
  compress as JPEG; then resize to the final size and compress once more, in random order. The ranges are
  Real-ESRGAN's training defaults (``RealisticSettings``). Left out: its generalized-Gaussian, plateau and sinc
  kernels (the sinc filter's ringing), and the resamplers are Pillow's (antialiased when shrinking) instead of
  PyTorch's. Every draw comes from a generator seeded by the reference's pixels, the scale and the sweep's
  seed (``image_seed``), so a sweep is reproducible and every provider sees the same input.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from .imresize import imresize, to_uint8

Degradation = Literal["bicubic", "realistic"]
DEGRADATIONS: tuple[str, ...] = ("bicubic", "realistic")

# ITU-R BT.601 luma, as OpenCV's BGR2GRAY (Real-ESRGAN makes its gray noise from it)
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])
RESAMPLERS = (Image.Resampling.BOX, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)  # "area", bilinear, bicubic


@dataclass(frozen=True)
class StageSettings:
    """One order of the realistic degradation; the defaults are Real-ESRGAN's first order."""

    blur_probability: float = 1.0
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    isotropic_probability: float = 0.45 / (0.45 + 0.25)  # Real-ESRGAN's iso : aniso weights
    sigma_range: tuple[float, float] = (0.2, 3.0)
    resize_probabilities: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_probability: float = 0.5  # else Poisson
    noise_sigma_range: tuple[float, float] = (1.0, 30.0)  # on the 0-255 scale
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_probability: float = 0.4
    jpeg_quality_range: tuple[int, int] = (30, 95)


@dataclass(frozen=True)
class RealisticSettings:
    first: StageSettings = StageSettings()
    second: StageSettings = StageSettings(
        blur_probability=0.8, kernel_sizes=(21,), sigma_range=(0.2, 1.5), resize_probabilities=(0.3, 0.4, 0.3),
        resize_range=(0.3, 1.2), noise_sigma_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5),
    )
    final_jpeg_range: tuple[int, int] = (30, 95)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` cut to a multiple of ``scale`` on each side (from the bottom and right), as the benchmarks do."""
    height, width = (image.shape[0] // scale) * scale, (image.shape[1] // scale) * scale
    if height == 0 or width == 0:
        raise ValueError(f"the image ({image.shape[1]}x{image.shape[0]}) is smaller than {scale} px")
    return image[:height, :width]


def degrade(reference: np.ndarray, scale: int, kind: str, seed: int = 0) -> np.ndarray:
    """The 8-bit low-resolution input for an 8-bit ``reference`` whose sides are multiples of ``scale``."""
    if kind == "bicubic":
        return bicubic_downscale(reference, scale)
    if kind == "realistic":
        return realistic_degrade(reference, scale, image_seed(reference, scale, seed))
    raise ValueError(f"unknown degradation {kind!r}: choose {' or '.join(DEGRADATIONS)}")


def bicubic_downscale(reference: np.ndarray, scale: int) -> np.ndarray:
    return to_uint8(imresize(reference, 1.0 / scale))


def bicubic_upscale(low_res: np.ndarray, scale: int) -> np.ndarray:
    """The literature's bicubic baseline: MATLAB's bicubic ``imresize`` up by ``scale``, in 8 bits."""
    return to_uint8(imresize(low_res, float(scale)))


def image_seed(reference: np.ndarray, scale: int, seed: int) -> int:
    """A seed from the reference's pixels, the scale and the sweep's seed: the same image gets the same draws."""
    digest = hashlib.sha256(f"{seed}:{scale}:{reference.shape}:".encode())
    digest.update(np.ascontiguousarray(reference).tobytes())
    return int.from_bytes(digest.digest()[:8], "little")


def realistic_degrade(
    reference: np.ndarray, scale: int, seed: int, settings: RealisticSettings = RealisticSettings()
) -> np.ndarray:
    """Real-ESRGAN's second-order degradation (see the module docstring), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    target = (reference.shape[1] // scale, reference.shape[0] // scale)
    image = np.asarray(reference, dtype=np.float64) / 255.0
    image = _stage(image, settings.first, rng, image.shape[1::-1])
    image = _stage(image, settings.second, rng, target)
    if rng.random() < 0.5:
        image = _jpeg(_resize(image, target, rng), rng, settings.final_jpeg_range)
    else:
        image = _resize(_jpeg(image, rng, settings.final_jpeg_range), target, rng)
    return to_uint8(image * 255.0)


def _stage(image: np.ndarray, stage: StageSettings, rng: np.random.Generator, base: tuple[int, int]) -> np.ndarray:
    """Blur, resize (relative to ``base`` = (width, height)), noise, JPEG: one order of the degradation."""
    if rng.random() < stage.blur_probability:
        image = blur(image, gaussian_kernel(rng, stage))
    factor = _resize_factor(rng, stage)
    size = (max(1, round(base[0] * factor)), max(1, round(base[1] * factor)))
    image = _resize(image, size, rng)
    image = _noise(image, rng, stage)
    return _jpeg(image, rng, stage.jpeg_quality_range)


def gaussian_kernel(rng: np.random.Generator, stage: StageSettings) -> np.ndarray:
    """A random isotropic or anisotropic (rotated) Gaussian kernel of a random odd size, summing to 1."""
    size = int(rng.choice(stage.kernel_sizes))
    if rng.random() < stage.isotropic_probability:
        sigma = rng.uniform(*stage.sigma_range)
        sigma_x = sigma_y = sigma
        angle = 0.0
    else:
        sigma_x, sigma_y = rng.uniform(*stage.sigma_range), rng.uniform(*stage.sigma_range)
        angle = rng.uniform(-math.pi, math.pi)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    inverse = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    offsets = np.arange(size) - size // 2
    grid = np.stack(np.meshgrid(offsets, offsets, indexing="xy"), axis=-1).astype(np.float64)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", grid, inverse, grid))
    return kernel / kernel.sum()


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (HxWxC float) convolved with a square odd ``kernel``, edges reflected (OpenCV's default).

    Through the FFT: a 21x21 kernel over a 2 MP image takes ~0.3 s this way, against ~10 s tap by tap.
    """
    radius = kernel.shape[0] // 2
    height, width = image.shape[:2]
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    shape = padded.shape[:2]
    spectrum = np.fft.rfft2(kernel, s=shape)
    out = np.empty_like(image)
    for channel in range(image.shape[2]):
        full = np.fft.irfft2(np.fft.rfft2(padded[:, :, channel]) * spectrum, s=shape)
        out[:, :, channel] = full[2 * radius : 2 * radius + height, 2 * radius : 2 * radius + width]
    return out


def _resize_factor(rng: np.random.Generator, stage: StageSettings) -> float:
    direction = rng.choice(3, p=stage.resize_probabilities)
    if direction == 0:
        return rng.uniform(1.0, stage.resize_range[1])
    if direction == 1:
        return rng.uniform(stage.resize_range[0], 1.0)
    return 1.0


def _resize(image: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``image`` resized to ``size`` = (width, height) with a random resampler (drawn even when the size holds)."""
    resampler = RESAMPLERS[int(rng.integers(len(RESAMPLERS)))]
    if image.shape[1::-1] == tuple(size):
        return image
    planes = [Image.fromarray(image[:, :, c].astype(np.float32), mode="F").resize(size, resampler)
              for c in range(image.shape[2])]
    return np.clip(np.stack([np.asarray(p, dtype=np.float64) for p in planes], axis=2), 0.0, 1.0)


def _noise(image: np.ndarray, rng: np.random.Generator, stage: StageSettings) -> np.ndarray:
    gaussian = rng.random() < stage.gaussian_noise_probability
    gray = rng.random() < stage.gray_noise_probability
    if gaussian:
        sigma = rng.uniform(*stage.noise_sigma_range) / 255.0
        shape = image.shape[:2] + ((1,) if gray else (image.shape[2],))
        noise = rng.normal(0.0, sigma, shape)
    else:
        noise = rng.uniform(*stage.poisson_scale_range) * _poisson_noise(image, rng, gray)
    return np.clip(image + noise, 0.0, 1.0)


def _poisson_noise(image: np.ndarray, rng: np.random.Generator, gray: bool) -> np.ndarray:
    """Shot noise as Real-ESRGAN draws it: counts at a power of two above the image's number of 8-bit levels."""
    source = (image @ GRAY_WEIGHTS)[:, :, np.newaxis] if gray else image
    quantised = np.round(np.clip(source, 0.0, 1.0) * 255.0)
    levels = int(np.count_nonzero(np.bincount(quantised.astype(np.int64).ravel(), minlength=256)))
    counts = 2.0 ** math.ceil(math.log2(max(levels, 2)))
    quantised /= 255.0
    return rng.poisson(quantised * counts) / counts - quantised


def _jpeg(image: np.ndarray, rng: np.random.Generator, quality_range: tuple[int, int]) -> np.ndarray:
    quality = int(rng.integers(quality_range[0], quality_range[1] + 1))
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image * 255.0)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64) / 255.0
