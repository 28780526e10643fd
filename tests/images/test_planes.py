"""Float planes from numpy arrays and from PIL's wide, premultiplied and integer modes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hdcore.errors import InvalidImage
from hdcore.images import load_image
from tests.images.helpers import WIDTH, HEIGHT, astronaut, camera, horizontal_ramp, gray16, as_uint8, assert_one_line


def test_numpy_arrays_of_every_supported_shape() -> None:
    gray = load_image(camera())
    assert gray.grayscale and gray.alpha is None and gray.bit_depth == 8
    np.testing.assert_array_equal(as_uint8(gray.color[:, :, 1]), camera())

    with_alpha = load_image(np.dstack([astronaut(), horizontal_ramp(255)]))
    assert not with_alpha.grayscale and with_alpha.alpha is not None
    np.testing.assert_array_equal(as_uint8(with_alpha.alpha), horizontal_ramp(255))

    deep = load_image(gray16())
    assert deep.grayscale and deep.bit_depth == 16 and deep.mode == "I;16"
    np.testing.assert_array_equal(np.rint(deep.color[:, :, 0] * 65535).astype(np.uint16), gray16())


def test_sixteen_bit_big_endian_and_32_bit_integer_gray_keep_full_precision() -> None:
    big_endian = Image.frombytes("I;16B", (WIDTH, HEIGHT), gray16().astype(">u2").tobytes())
    integer = Image.fromarray(gray16().astype(np.int32))
    assert integer.mode == "I"
    for image in (big_endian, integer):
        loaded = load_image(image)
        assert loaded.grayscale and loaded.bit_depth == 16
        np.testing.assert_array_equal(np.rint(loaded.color[:, :, 0] * 65535).astype(np.uint16), gray16())


def test_integer_gray_beyond_16_bits_is_clipped_with_a_warning() -> None:
    loaded = load_image(Image.fromarray(np.full((4, 4), 70000, dtype=np.int32)))
    assert loaded.color.max() == 1.0
    assert any("clipped" in note for note in loaded.warnings)


def test_premultiplied_modes_are_unpremultiplied() -> None:
    rgba = load_image(Image.new("RGBa", (4, 4), (100, 50, 20, 128)))
    np.testing.assert_array_equal(as_uint8(rgba.color[0, 0]), [199, 99, 39])
    assert as_uint8(rgba.alpha)[0, 0] == 128
    la = load_image(Image.new("La", (4, 4), (100, 128)))
    assert la.grayscale and as_uint8(la.color[0, 0, 0]) == 199


UNUSABLE_ARRAYS = [
    (np.zeros((0, 5), dtype=np.uint8), "zero-size image"),
    (np.zeros((4, 4, 5), dtype=np.uint8), "unsupported array shape"),
    (np.zeros((4, 4), dtype=np.complex64), "unsupported array type"),
]


@pytest.mark.parametrize("source, fragment", UNUSABLE_ARRAYS, ids=range(len(UNUSABLE_ARRAYS)))
def test_an_unusable_array_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)
