"""Providers' answers as float RGB: every kind accepted, every bad one an InvalidImage."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from hdcore.errors import InvalidImage
from hdcore.images import as_float_rgb, decode_output
from tests.images.helpers import (
    WIDTH, HEIGHT, astronaut, camera, coffee, horizontal_ramp, gray16, rgba_with_soft_alpha, encoded,
    assert_one_line, as_uint8, truncated,
)


def test_decode_output_accepts_bytes_images_and_arrays() -> None:
    rgba = rgba_with_soft_alpha()
    data_uri = "data:image/png;base64," + base64.b64encode(encoded(rgba)).decode()
    for answer in (encoded(rgba), rgba, np.asarray(rgba), data_uri):
        decoded = decode_output(answer)
        assert decoded.dtype == np.float32 and decoded.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(as_uint8(decoded), astronaut())


def test_decode_output_rejects_what_does_not_decode() -> None:
    for answer in (b"", b"not an image at all", truncated("PNG"), b'{"error": "busy"}'):
        with pytest.raises(InvalidImage) as error:
            decode_output(answer)
        assert_one_line(error)


def test_decode_output_over_its_limit_is_invalid_image() -> None:
    with pytest.raises(InvalidImage) as error:
        decode_output(encoded(Image.fromarray(astronaut())), max_pixels=100)
    assert_one_line(error, "too large")


def test_as_float_rgb_handles_every_kind_without_clipping_16_bits() -> None:
    from_16_bit_image = as_float_rgb(Image.fromarray(gray16()))
    np.testing.assert_array_equal(np.rint(from_16_bit_image[:, :, 2] * 65535).astype(np.uint16), gray16())

    wide = np.dstack([gray16()] * 3)
    np.testing.assert_allclose(as_float_rgb(wide), wide / 65535, atol=1e-6)

    floats = np.array([[[np.nan, -1.0, 2.0]]], dtype=np.float64)
    np.testing.assert_array_equal(as_float_rgb(floats), [[[0.0, 0.0, 1.0]]])

    assert as_float_rgb(camera()).shape == (HEIGHT, WIDTH, 3)
    assert as_float_rgb(np.dstack([astronaut(), horizontal_ramp(255)])).shape == (HEIGHT, WIDTH, 3)
    palette = as_float_rgb(Image.fromarray(coffee()).convert("P"))
    assert palette.shape == (HEIGHT, WIDTH, 3) and palette.dtype == np.float32
