"""Colour under alpha 0 is the nearest visible colour, so an upscaled alpha edge shows no dark fringe."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hdcore import Engine
from hdcore.images import as_float_rgb, compose, load_image
from hdcore.images.bleed import bleed_transparent, edge_luminance_ratio
from hdcore.resize import lanczos_resize
from tests.images.helpers import astronaut, encoded, horizontal_ramp

ORANGE = (0.85, 0.55, 0.25)


def disk_over_black(size: int = 64, colour: tuple[float, float, float] = ORANGE) -> np.ndarray:
    """A hard-edged disk (alpha 1 inside, 0 outside) whose hidden pixels are black: float32 RGBA."""
    yy, xx = np.mgrid[:size, :size]
    alpha = (((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2) < (size * 0.36) ** 2).astype(np.float32)
    return np.dstack([alpha[:, :, None] * np.float32(colour), alpha])


def rgba_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255


def test_hidden_pixels_take_the_colour_of_the_visible_pixels_next_to_them() -> None:
    color = np.zeros((6, 9, 3), np.float32)
    alpha = np.zeros((6, 9), np.float32)
    color[:, :3], alpha[:, :3] = (1.0, 0.0, 0.0), 1.0  # red on the left
    color[:, 6:], alpha[:, 6:] = (0.0, 0.0, 1.0), 0.5  # half-transparent blue on the right
    bled = bleed_transparent(color, alpha)
    np.testing.assert_array_equal(bled[:, :3], color[:, :3])  # visible pixels keep their colour exactly
    np.testing.assert_array_equal(bled[:, 6:], color[:, 6:])
    np.testing.assert_allclose(bled[:, 3], [[1.0, 0.0, 0.0]] * 6)  # the hidden column next to red is red
    assert bled[:, 5, 2].min() > 0.5 and bled[:, 5, 0].max() < 0.5  # the one next to blue is mostly blue
    assert bled.min() >= 0.0 and bled.max() <= 1.0


def test_an_image_with_nothing_hidden_or_nothing_visible_is_left_alone() -> None:
    color = np.random.default_rng(1).random((5, 7, 3), dtype=np.float32)
    for alpha in (np.ones((5, 7), np.float32), np.zeros((5, 7), np.float32), None):
        assert bleed_transparent(color, alpha) is color


@pytest.mark.parametrize("size", [(1, 1), (1, 17), (13, 1), (33, 31)])
def test_every_hidden_pixel_is_filled_whatever_the_shape(size: tuple[int, int]) -> None:
    height, width = size
    color = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    color[-1, -1], alpha[-1, -1] = (0.2, 0.4, 0.6), 1.0  # one visible pixel, in the far corner
    np.testing.assert_allclose(bleed_transparent(color, alpha), np.broadcast_to(color[-1, -1], color.shape))


def test_load_image_bleeds_colour_under_alpha_0_for_files_and_arrays() -> None:
    rgba = np.dstack([astronaut(), horizontal_ramp(255)])  # the first column is fully transparent
    rgba[:, 0, :3] = 0
    for source in (rgba, encoded(Image.fromarray(rgba))):
        loaded = load_image(source)
        # each hidden pixel gets the mean of the visible ones in its 2x2 block: here two of the second column
        pairs = loaded.color[:, 1].reshape(-1, 2, 3).mean(axis=1)
        np.testing.assert_allclose(loaded.color[:, 0], np.repeat(pairs, 2, axis=0), atol=1e-6)
        np.testing.assert_array_equal(np.rint(loaded.color[:, 1:] * 255).astype(np.uint8), astronaut()[:, 1:])


def test_a_lanczos_upscale_of_a_hard_alpha_edge_has_no_darker_ring() -> None:
    rgba = disk_over_black()
    source = load_image(rgba)
    size = (64 * 4, 64 * 4)
    after = edge_luminance_ratio(rgba_of(compose(lanczos_resize(source.color, size), source)), ORANGE)
    before = edge_luminance_ratio(rgba_of(compose(lanczos_resize(rgba[:, :, :3], size), source)), ORANGE)
    assert after >= 0.99  # measured 1.000
    assert before < 0.6  # the colour as stored (black under alpha 0) gives the fringe: measured 0.49


def test_a_real_local_model_run_shows_no_darker_ring_at_a_hard_alpha_edge() -> None:
    rgba = disk_over_black()
    engine = Engine()
    result = engine.enhance(rgba, 2, "local", "waifu2x-photo")
    assert result.provider == "local" and result.image.mode == "RGBA"
    after = edge_luminance_ratio(rgba_of(result.image), ORANGE)
    unbled = engine.enhance(np.ascontiguousarray(rgba[:, :, :3]), 2, "local", "waifu2x-photo")
    before = edge_luminance_ratio(rgba_of(compose(as_float_rgb(unbled.image), load_image(rgba))), ORANGE)
    assert after >= 0.98  # measured 0.997
    assert before < 0.6  # measured 0.47


def test_the_fringe_measure_needs_an_edge_to_measure() -> None:
    with pytest.raises(ValueError):
        edge_luminance_ratio(np.ones((4, 4, 4), np.float32), ORANGE)
