"""MATLAB's bicubic imresize: against an independent formula, Pillow away from the borders, and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from hdcore.sweep.imresize import imresize, to_uint8


def keys_cubic(t: float) -> float:
    """Keys (1981), a = -0.5, written out from the paper's piecewise definition."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t < 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def reference_resize_1d(line: list[float], scale: float) -> list[float]:
    """One line resized pixel by pixel: 0-based centres, the kernel stretched when shrinking, mirrored edges."""
    n = len(line)
    stretch = min(1.0, scale)
    out = []
    for i in range(math.ceil(n * scale)):
        centre = (i + 0.5) / scale - 0.5
        reach = 2 / stretch
        total = weight_sum = 0.0
        for j in range(math.floor(centre - reach) - 1, math.ceil(centre + reach) + 2):
            weight = stretch * keys_cubic(stretch * (centre - j))
            source = -j - 1 if j < 0 else (2 * n - 1 - j if j >= n else j)
            total += weight * line[source]
            weight_sum += weight
        out.append(total / weight_sum)
    return out


def reference_resize(image: np.ndarray, scale: float) -> np.ndarray:
    rows = np.array([reference_resize_1d(list(column), scale) for column in image.T]).T
    return np.array([reference_resize_1d(list(row), scale) for row in rows])


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3, 4])
def test_imresize_equals_an_independent_pixel_by_pixel_formula(scale):
    image = np.random.default_rng(7).uniform(0, 255, (13, 17))  # odd sizes: the mirrored edges matter
    if scale < 1:
        image = np.random.default_rng(7).uniform(0, 255, (24, 36))
    np.testing.assert_allclose(imresize(image, scale), reference_resize(image, scale), atol=1e-9)


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 4])
def test_a_constant_image_stays_exactly_constant_and_sizes_are_rounded_up(scale):
    image = np.full((25, 31, 3), 117.0)
    out = imresize(image, scale)
    assert out.shape == (math.ceil(25 * scale), math.ceil(31 * scale), 3)
    np.testing.assert_allclose(out, 117.0, atol=1e-10)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 4, 2, 3])
def test_imresize_agrees_with_pillows_bicubic_away_from_the_borders_and_not_at_them(scale):
    from skimage import data

    image = data.camera()[:120, :160].astype(np.float64)
    out = imresize(image, scale)
    pillow = Image.fromarray(image.astype(np.float32), mode="F").resize(out.shape[::-1], Image.Resampling.BICUBIC)
    pillow = np.asarray(pillow, dtype=np.float64)
    margin = math.ceil(4 / scale) if scale < 1 else 3 * math.ceil(scale)  # the kernel's reach, in output pixels
    inside = (slice(margin, -margin), slice(margin, -margin))
    np.testing.assert_allclose(out[inside], pillow[inside], atol=1e-3)  # Pillow computes in float32
    # At the edges MATLAB mirrors the image, Pillow renormalises the cut kernel: they must differ there.
    assert np.abs(out - pillow).max() > 0.5


def test_flipping_the_input_flips_the_output():
    image = np.random.default_rng(3).uniform(0, 255, (40, 28, 3))
    for scale in (1 / 4, 1 / 2, 2):
        np.testing.assert_allclose(imresize(image[::-1, ::-1], scale), imresize(image, scale)[::-1, ::-1], atol=1e-9)


def test_shrinking_keeps_a_linear_ramp_linear_inside_the_image():
    # A symmetric, normalised kernel on a half-pixel grid reproduces linear functions exactly.
    ramp = np.tile(np.arange(64, dtype=np.float64) * 2.0, (8, 1))
    out = imresize(ramp, 1 / 4)
    expected = (np.arange(16) * 4 + 1.5) * 2.0  # the centre of each 4-pixel cell
    np.testing.assert_allclose(out[:, 3:-3], np.tile(expected[3:-3], (2, 1)), atol=1e-9)


def test_eight_bit_rounding_is_matlabs_half_away_from_zero_with_saturation():
    values = np.array([-3.0, 0.49, 0.5, 1.5, 2.5, 254.5, 300.0])
    assert to_uint8(values).tolist() == [0, 0, 1, 2, 3, 255, 255]


def test_bad_scales_and_shapes_are_refused():
    with pytest.raises(ValueError, match="positive"):
        imresize(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="non-empty"):
        imresize(np.zeros((0, 4)), 2)
