"""16-bit colour end to end: 16-bit RGB(A) PNG, TIFF and uint16 arrays in, 16-bit PNG out, a warning wherever not."""

from __future__ import annotations

import io
import pickle

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from hdcore.images import compose, encode_image, load_image
from hdcore.images import deep as deep_module
from hdcore.resize import lanczos_resize
from tests.images.helpers import (
    HEIGHT, WIDTH, astronaut, encoded, horizontal_ramp, png_with_chunk, raw_png, rgb16, upscale_2x,
)


def read_16_bit(data: bytes) -> np.ndarray:
    """A PNG or TIFF as OpenCV reads it, turned from BGR(A) to RGB(A)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return pixels[:, :, [2, 1, 0, 3][: pixels.shape[2]]]


def as_uint16(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 65535).astype(np.uint16)


def tiff_16_bit(pixels: np.ndarray) -> bytes:
    written, buffer = cv2.imencode(".tiff", np.ascontiguousarray(pixels[:, :, [2, 1, 0, 3][: pixels.shape[2]]]))
    assert written
    return buffer.tobytes()


def rgba16() -> np.ndarray:
    """Alpha from 1 to 65535: every pixel is visible, so every colour must come back (hidden ones are bled)."""
    return np.dstack([rgb16(), np.maximum(horizontal_ramp(65535, np.uint16), 1)])


SIXTEEN_BIT_FILES = {
    "RGB PNG": lambda: (raw_png(WIDTH, HEIGHT, 16, 2, rgb16().astype(">u2")), rgb16()),
    "RGBA PNG": lambda: (raw_png(WIDTH, HEIGHT, 16, 6, rgba16().astype(">u2")), rgba16()),
    "RGB TIFF": lambda: (tiff_16_bit(rgb16()), rgb16()),
    "RGBA TIFF": lambda: (tiff_16_bit(rgba16()), rgba16()),
}


@pytest.mark.parametrize("kind", list(SIXTEEN_BIT_FILES))
def test_sixteen_bit_colour_files_are_read_at_full_depth(kind: str) -> None:
    data, pixels = SIXTEEN_BIT_FILES[kind]()
    loaded = load_image(data)
    assert loaded.bit_depth == 16 and not loaded.grayscale and loaded.warnings == []
    np.testing.assert_array_equal(as_uint16(loaded.color), pixels[:, :, :3])
    if pixels.shape[2] == 4:
        np.testing.assert_array_equal(as_uint16(loaded.alpha), pixels[:, :, 3])
    else:
        assert loaded.alpha is None


@pytest.mark.parametrize("kind", list(SIXTEEN_BIT_FILES))
def test_sixteen_bit_colour_comes_back_exactly_as_a_16_bit_png(kind: str) -> None:
    data, pixels = SIXTEEN_BIT_FILES[kind]()
    loaded = load_image(data)
    result = encode_image(compose(loaded.color, loaded), "png")
    assert result.format == "png" and result.warnings == ()
    written = read_16_bit(result.data)
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, pixels)  # max error 0: float32 holds every 16-bit value exactly


def test_a_uint16_array_comes_back_exactly_as_a_16_bit_png() -> None:
    loaded = load_image(rgb16())
    assert loaded.bit_depth == 16
    written = read_16_bit(encode_image(compose(loaded.color, loaded), "png").data)
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, rgb16())


def test_an_upscaled_16_bit_image_keeps_values_between_8_bit_steps() -> None:
    loaded = load_image(rgb16())
    written = read_16_bit(encode_image(upscale_2x(loaded), "png").data).astype(np.int64)
    assert written.shape == (HEIGHT * 2, WIDTH * 2, 3)
    expected = np.rint(lanczos_resize(loaded.color, (WIDTH * 2, HEIGHT * 2)) * 65535)
    np.testing.assert_array_equal(written, expected)
    assert np.count_nonzero(written % 257) > written.size // 2  # most values are no 8-bit value scaled up


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
def test_sixteen_bit_colour_written_in_an_8_bit_format_says_so(output_format: str) -> None:
    loaded = load_image(rgb16())
    result = encode_image(upscale_2x(loaded), output_format)
    assert result.format == output_format
    note = f"{output_format.upper()} stores 8 bits per channel: the 16-bit image was written as 8-bit"
    assert note in result.warnings
    written = np.asarray(Image.open(io.BytesIO(result.data))).astype(int)
    reference = np.asarray(upscale_2x(loaded).convert("RGB")).astype(int)
    assert np.abs(written - reference).mean() < 3


def test_a_16_bit_rgba_image_wanted_as_jpeg_stays_16_bit_as_png() -> None:
    loaded = load_image(rgba16())
    result = encode_image(compose(loaded.color, loaded), "jpeg")
    assert result.format == "png" and "JPEG has no transparency: written as PNG" in result.warnings
    np.testing.assert_array_equal(read_16_bit(result.data), rgba16())


def test_sixteen_bit_gray_with_alpha_is_read_at_full_depth_and_says_its_output_is_8_bit() -> None:
    gray = horizontal_ramp(65535, np.uint16)
    alpha = np.full((HEIGHT, WIDTH), 40000, np.uint16)
    loaded = load_image(raw_png(WIDTH, HEIGHT, 16, 4, np.dstack([gray, alpha]).astype(">u2")))
    assert loaded.grayscale and loaded.bit_depth == 16
    np.testing.assert_array_equal(as_uint16(loaded.color[:, :, 0]), gray)
    np.testing.assert_array_equal(as_uint16(loaded.alpha), alpha)
    assert any("16-bit gray with alpha" in note and "8 bits" in note for note in loaded.warnings)


def test_the_exif_orientation_turns_16_bit_colour_too() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    stored = rgb16()
    png = raw_png(WIDTH, HEIGHT, 16, 2, stored.astype(">u2"))
    # eXIf holds the TIFF structure without the "Exif\0\0" prefix
    loaded = load_image(png_with_chunk(png, b"eXIf", exif.tobytes()[6:]))
    assert loaded.size == (HEIGHT, WIDTH) and loaded.bit_depth == 16
    np.testing.assert_array_equal(as_uint16(loaded.color), np.rot90(stored, -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(Image.fromarray(astronaut()), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    loaded = load_image(data)
    np.testing.assert_array_equal(np.rint(loaded.color * 255).astype(np.uint8), expected)


def test_without_opencv_16_bit_colour_is_read_and_written_at_8_bits_with_warnings(monkeypatch) -> None:
    monkeypatch.setattr(deep_module, "opencv", lambda: None)  # a system where OpenCV is not installed
    loaded = load_image(raw_png(WIDTH, HEIGHT, 16, 2, rgb16().astype(">u2")))
    assert loaded.bit_depth == 8
    assert any("read at 8 bits per channel" in note and "OpenCV" in note for note in loaded.warnings)
    array = load_image(rgb16())
    result = encode_image(compose(array.color, array), "png")
    assert Image.open(io.BytesIO(result.data)).mode == "RGB"
    assert "PNG stores 8 bits per channel: the 16-bit image was written as 8-bit" in result.warnings


def test_what_pillow_derives_from_a_16_bit_image_is_plain_and_pickling_keeps_the_16_bits() -> None:
    loaded = load_image(rgb16())
    image = compose(loaded.color, loaded)
    assert isinstance(image, deep_module.DeepColorImage)
    np.testing.assert_array_equal(np.asarray(image), np.rint(rgb16() / 257).astype(np.uint8))
    for derived in (image.copy(), image.convert("RGB"), image.resize((8, 8))):
        assert type(derived) is Image.Image
    revived = pickle.loads(pickle.dumps(image))
    np.testing.assert_array_equal(revived.deep, rgb16())
    np.testing.assert_array_equal(np.asarray(revived), np.asarray(image))


def test_an_opened_16_bit_tiff_passed_as_a_pil_image_says_its_colour_is_read_at_8_bits() -> None:
    image = Image.open(io.BytesIO(tiff_16_bit(rgb16())))
    loaded = load_image(image)
    assert loaded.bit_depth == 8
    assert any("read at 8 bits per channel" in note and "pass the file itself" in note for note in loaded.warnings)
