"""Encoding PNG, JPEG and WebP: format names, qualities, fallbacks and data URIs."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from hdcore.errors import InvalidInput
from hdcore.images import EncodedImage, encode_image, load_image, to_data_uri
from tests.images.helpers import WIDTH, HEIGHT, astronaut, gray16, reopen, assert_one_line, as_uint8


def test_format_names_are_case_insensitive_and_jpg_means_jpeg() -> None:
    image = Image.fromarray(astronaut())
    for name, expected in (("PNG", "png"), ("Jpg", "jpeg"), ("JPEG", "jpeg"), ("WebP", "webp")):
        result = encode_image(image, name)
        assert (result.format, result.mime) == (expected, f"image/{expected}")
        assert reopen(result.data).format == expected.upper()


@pytest.mark.parametrize("format_name", ["gif", "bmp", "", "tiff"])
def test_unknown_output_format_is_invalid_input(format_name: str) -> None:
    with pytest.raises(InvalidInput) as error:
        encode_image(Image.fromarray(astronaut()), format_name)
    assert_one_line(error, "unknown output format")


@pytest.mark.parametrize("quality", [0, 101, -5, 50.5, True, "90"])
def test_quality_out_of_range_is_invalid_input(quality) -> None:
    with pytest.raises(InvalidInput) as error:
        encode_image(Image.fromarray(astronaut()), "jpeg", quality)
    assert_one_line(error, "quality must be a whole number from 1 to 100")


def test_default_qualities_are_92_for_jpeg_and_90_for_webp() -> None:
    image = Image.fromarray(astronaut())
    assert encode_image(image, "jpeg").data == encode_image(image, "jpeg", 92).data
    assert encode_image(image, "jpeg").data != encode_image(image, "jpeg", 60).data
    assert encode_image(image, "webp").data == encode_image(image, "webp", 90).data
    assert len(encode_image(image, "webp", 10).data) < len(encode_image(image, "webp", 90).data)


def test_opaque_alpha_does_not_stop_a_jpeg() -> None:
    opaque = Image.fromarray(np.dstack([astronaut(), np.full((HEIGHT, WIDTH), 255, np.uint8)]))
    result = encode_image(opaque, "jpeg")
    assert result.format == "jpeg" and result.warnings == ()
    assert reopen(result.data).mode == "RGB"


def test_sixteen_bit_as_jpeg_is_scaled_not_clipped() -> None:
    result = encode_image(Image.fromarray(gray16()), "jpeg", 100)
    written = np.asarray(reopen(result.data)).astype(int)
    expected = np.rint(gray16() / 257).astype(int)
    assert np.abs(written - expected).mean() < 1.5
    assert any("8-bit" in note for note in result.warnings)


def test_webp_too_wide_falls_back_to_png() -> None:
    result = encode_image(Image.new("RGB", (16_384, 2), (10, 20, 30)), "webp")
    assert result.format == "png" and reopen(result.data).format == "PNG"
    assert any("16383" in note for note in result.warnings)


def test_data_uri_round_trips() -> None:
    result = encode_image(Image.fromarray(astronaut()), "png")
    uri = to_data_uri(result)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == result.data
    np.testing.assert_array_equal(as_uint8(load_image(uri).color), astronaut())


def test_encoded_image_is_frozen() -> None:
    result = encode_image(Image.fromarray(astronaut()))
    assert isinstance(result, EncodedImage)
    with pytest.raises(AttributeError):
        result.format = "jpeg"  # type: ignore[misc]
