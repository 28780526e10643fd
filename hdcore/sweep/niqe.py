"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik 2013): a no-reference score.

How far an image's local statistics are from those of pristine photos: lower is more natural (a sharp, clean
photo scores ~4-9 on this model; blur, noise and JPEG blocking push it up). Unlike PSNR it does not punish a
model for inventing plausible texture that differs from the reference, which is why GAN upscalers are judged on
it. The algorithm follows the authors' ``computequality.m``:

1. the image (the Y channel on the 0-255 scale) is cut to a multiple of 96 px and normalised into MSCN
   coefficients: (I - mu) / (sigma + 1) with a 7x7 Gaussian window (sigma 7/6), edges replicated;
2. per 96x96 patch, 18 features: a generalized Gaussian fit of the coefficients (shape, variance) and an
   asymmetric one of the products of neighbours in 4 directions (shape, mean, left and right variances);
   the same again on the image halved with MATLAB's bicubic ``imresize`` (48x48 patches): 36 features;
3. a multivariate Gaussian fitted to the image's patches is compared with the pristine model's:
   sqrt((mu_p - mu)^T ((Sigma_p + Sigma) / 2)^+ (mu_p - mu)).

The pristine model is the project's own (``niqe_pristine.json``), fitted by ``niqe_fit`` on scikit-image's
public-domain / CC0 sample photos as the authors fitted theirs (patches sharper than 0.75 of each image's
sharpest); its scores are therefore not the published NIQE numbers, only comparable with each other. It needs
at least one 96x96 patch and is steadier with more (a 512 px image has 25): below ~300 px treat it as noisy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from .imresize import imresize

PATCH = 96
SHARPNESS_THRESHOLD = 0.75  # the authors' fraction of an image's sharpest patch kept for the pristine model
FEATURES = 36
MODEL_FILE = Path(__file__).with_name("niqe_pristine.json")

_SHAPES = np.arange(0.2, 10.0 + 1e-9, 0.001)  # the authors' search grid for the distributions' shape
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # horizontal, vertical and the two diagonal neighbours
_WINDOW_SIGMA, _WINDOW_RADIUS = 7 / 6, 3


def _log_gamma(values: np.ndarray) -> np.ndarray:
    return np.array([math.lgamma(v) for v in np.ravel(values)]).reshape(np.shape(values))


_GGD_RATIOS = np.exp(_log_gamma(1 / _SHAPES) + _log_gamma(3 / _SHAPES) - 2 * _log_gamma(2 / _SHAPES))
_AGGD_RATIOS = np.exp(2 * _log_gamma(2 / _SHAPES) - _log_gamma(1 / _SHAPES) - _log_gamma(3 / _SHAPES))


@dataclass(frozen=True)
class NiqeModel:
    """A multivariate Gaussian over the 36 patch features of pristine photos."""

    mean: np.ndarray  # (36,)
    covariance: np.ndarray  # (36, 36)
    patches: int  # how many patches it was fitted on
    source: str = ""  # where the photos came from, and their licence

    def to_json(self) -> dict:
        return {"source": self.source, "patch": PATCH, "sharpness_threshold": SHARPNESS_THRESHOLD,
                "patches": self.patches, "mean": self.mean.tolist(), "covariance": self.covariance.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> NiqeModel:
        mean = np.asarray(data["mean"], dtype=np.float64)
        covariance = np.asarray(data["covariance"], dtype=np.float64)
        if mean.shape != (FEATURES,) or covariance.shape != (FEATURES, FEATURES):
            raise ValueError(f"a NIQE model has {FEATURES} means and a {FEATURES}x{FEATURES} covariance")
        return cls(mean, covariance, int(data["patches"]), str(data.get("source", "")))


@lru_cache(maxsize=1)
def shipped_model() -> NiqeModel:
    """The pristine model that ships with hdcore (read once)."""
    return NiqeModel.from_json(json.loads(MODEL_FILE.read_text(encoding="utf-8")))


def niqe(gray: np.ndarray, model: NiqeModel | None = None) -> float | None:
    """NIQE of a gray image on the 0-255 scale (lower is better); None when it is smaller than one patch."""
    features, _ = patch_features(gray)
    if len(features) == 0:
        return None
    model = model or shipped_model()
    mean = features.mean(axis=0)
    covariance = np.cov(features, rowvar=False) if len(features) > 1 else np.zeros((FEATURES, FEATURES))
    difference = model.mean - mean
    distance = difference @ np.linalg.pinv((model.covariance + covariance) / 2) @ difference
    return float(math.sqrt(max(0.0, distance)))


def fit(grays: Iterable[np.ndarray], source: str = "") -> NiqeModel:
    """The pristine model of some photos: the features of each one's sharpest patches, pooled (``niqe_fit``)."""
    kept = []
    for gray in grays:
        features, sharpness = patch_features(gray)
        if len(features):
            kept.append(features[sharpness > SHARPNESS_THRESHOLD * sharpness.max()])
    pooled = np.concatenate(kept)
    if len(pooled) <= FEATURES:
        raise ValueError(f"{len(pooled)} pristine patches are too few to fit {FEATURES} features")
    return NiqeModel(pooled.mean(axis=0), np.cov(pooled, rowvar=False), len(pooled), source)


def patch_features(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 36 features of each 96x96 patch (row by row), and each patch's sharpness (mean local deviation)."""
    plane = np.asarray(gray, dtype=np.float64)
    rows, cols = plane.shape[0] // PATCH, plane.shape[1] // PATCH
    if rows == 0 or cols == 0:
        return np.zeros((0, FEATURES)), np.zeros(0)
    plane = plane[: rows * PATCH, : cols * PATCH]
    coefficients, deviation = mscn(plane)
    fine = _scale_features(_patches(coefficients, PATCH))
    coarse = _scale_features(_patches(mscn(imresize(plane, 0.5))[0], PATCH // 2))
    sharpness = _patches(deviation, PATCH).mean(axis=(1, 2))
    return np.concatenate([fine, coarse], axis=1), sharpness


def mscn(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients, and the local deviation they were divided by (+1)."""
    mean = _gaussian_filter(plane)
    deviation = np.sqrt(np.abs(_gaussian_filter(plane * plane) - mean * mean))
    return (plane - mean) / (deviation + 1.0), deviation


def _gaussian_filter(plane: np.ndarray) -> np.ndarray:
    """The 7x7 Gaussian window (sigma 7/6) of MATLAB's fspecial, separably, edges replicated (imfilter's)."""
    offsets = np.arange(-_WINDOW_RADIUS, _WINDOW_RADIUS + 1)
    kernel = np.exp(-0.5 * (offsets / _WINDOW_SIGMA) ** 2)
    kernel /= kernel.sum()
    r = _WINDOW_RADIUS
    padded = np.pad(plane, r, mode="edge")
    vertical = sum(k * padded[i : i + plane.shape[0]] for i, k in enumerate(kernel))
    return sum(k * vertical[:, i : i + plane.shape[1]] for i, k in enumerate(kernel))


def _patches(plane: np.ndarray, side: int) -> np.ndarray:
    rows, cols = plane.shape[0] // side, plane.shape[1] // side
    blocks = plane[: rows * side, : cols * side].reshape(rows, side, cols, side)
    return blocks.transpose(0, 2, 1, 3).reshape(rows * cols, side, side)


def _scale_features(patches: np.ndarray) -> np.ndarray:
    """18 features per patch: GGD (shape, variance), then AGGD (shape, mean, left, right variance) x 4 shifts."""
    flat = patches.reshape(len(patches), -1)
    columns = list(_ggd(flat))
    for shift in _SHIFTS:
        # Within the patch and wrapping round, as the authors' circshift does.
        products = patches * np.roll(patches, shift, axis=(1, 2))
        columns += _aggd(products.reshape(len(patches), -1))
    return np.stack(columns, axis=1)


def _ggd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    variance = np.mean(values * values, axis=1)
    ratio = variance / np.maximum(np.mean(np.abs(values), axis=1), 1e-12) ** 2
    return _SHAPES[_nearest(_GGD_RATIOS, ratio)], variance


def _aggd(values: np.ndarray) -> list[np.ndarray]:
    negative, positive = values < 0, values > 0
    left = np.sqrt(np.sum(values**2 * negative, axis=1) / np.maximum(negative.sum(axis=1), 1))
    right = np.sqrt(np.sum(values**2 * positive, axis=1) / np.maximum(positive.sum(axis=1), 1))
    skew = left / np.maximum(right, 1e-12)
    ratio = np.mean(np.abs(values), axis=1) ** 2 / np.maximum(np.mean(values * values, axis=1), 1e-12)
    normalised = ratio * (skew**3 + 1) * (skew + 1) / (skew**2 + 1) ** 2
    shape = _SHAPES[_nearest(_AGGD_RATIOS, normalised)]
    spread = np.sqrt(np.exp(_log_gamma(1 / shape) - _log_gamma(3 / shape)))
    beta_left, beta_right = left * spread, right * spread
    mean = (beta_right - beta_left) * np.exp(_log_gamma(2 / shape) - _log_gamma(1 / shape))
    return [shape, mean, beta_left**2, beta_right**2]


def _nearest(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the entry of a monotonic ``table`` nearest to each value (the authors' argmin, without the matrix)."""
    increasing = table[-1] > table[0]
    ordered = table if increasing else table[::-1]
    above = np.clip(np.searchsorted(ordered, values), 1, len(ordered) - 1)
    below = above - 1
    index = np.where(np.abs(ordered[below] - values) <= np.abs(ordered[above] - values), below, above)
    return index if increasing else len(table) - 1 - index
