"""Decoding every input format and mode into a SourceImage, and refusing what cannot be decoded."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from hdcore.errors import ImageTooLarge, InvalidImage
from hdcore.images import load_image
from tests.images.helpers import (
    WIDTH, HEIGHT, astronaut, horizontal_ramp, source_image, encoded, upscale_2x, srgb_profile, fake_profile,
    png_with_header, raw_png, assert_one_line, as_uint8, truncated,
)


def test_format_is_sniffed_from_content_not_the_file_name(tmp_path: Path) -> None:
    misnamed = tmp_path / "really_a_png.jpg"
    misnamed.write_bytes(encoded(Image.fromarray(astronaut())))
    assert load_image(misnamed).format == "PNG"


INPUT_CASES = [
    # (format written, source kind, expected grayscale, expected alpha, expected bit depth)
    ("PNG", "RGB", False, False, 8),
    ("PNG", "RGBA", False, True, 8),
    ("PNG", "L", True, False, 8),
    ("PNG", "LA", True, True, 8),
    ("PNG", "P", False, False, 8),
    ("PNG", "P+transparency", False, True, 8),
    ("PNG", "1", True, False, 8),
    ("PNG", "I;16", True, False, 16),
    ("JPEG", "RGB", False, False, 8),
    ("JPEG", "L", True, False, 8),
    ("WEBP", "RGB", False, False, 8),
    ("WEBP", "RGBA", False, True, 8),
    ("BMP", "RGB", False, False, 8),
    ("BMP", "L", True, False, 8),
    ("BMP", "P", False, False, 8),
    ("TIFF", "RGB", False, False, 8),
    ("TIFF", "RGBA", False, True, 8),
    ("TIFF", "LA", True, True, 8),
    ("TIFF", "I;16", True, False, 16),
    ("TIFF", "CMYK", False, False, 8),
    ("GIF", "P", False, False, 8),
    ("GIF", "P+transparency", False, True, 8),
]


@pytest.mark.parametrize("format_name, kind, grayscale, has_alpha, bit_depth", INPUT_CASES)
def test_each_input_format_and_mode_is_read(format_name, kind, grayscale, has_alpha, bit_depth) -> None:
    original = source_image(kind)
    options = {"lossless": True} if format_name == "WEBP" else {}
    loaded = load_image(encoded(original, format_name, **options))
    assert loaded.format == format_name
    assert (loaded.grayscale, loaded.alpha is not None, loaded.bit_depth) == (grayscale, has_alpha, bit_depth)
    assert loaded.size == (WIDTH, HEIGHT)
    assert loaded.color.min() >= 0.0 and loaded.color.max() <= 1.0
    if format_name != "JPEG" and kind != "I;16":  # lossless: the pixels come back exactly
        expected = np.asarray(original.convert("RGBA" if has_alpha else "RGB"))
        # Encoders may drop the colour of fully transparent pixels (lossless WebP does), so compare the visible ones.
        visible = expected[:, :, 3] > 0 if has_alpha else np.ones((HEIGHT, WIDTH), dtype=bool)
        np.testing.assert_array_equal(as_uint8(loaded.color)[visible], expected[:, :, :3][visible])
        if has_alpha:
            np.testing.assert_array_equal(as_uint8(loaded.alpha), expected[:, :, 3])


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
def test_avif_input_is_read() -> None:
    loaded = load_image(encoded(Image.fromarray(astronaut()), "AVIF", quality=90))
    assert loaded.format == "AVIF" and loaded.size == (WIDTH, HEIGHT)
    assert np.abs(as_uint8(loaded.color).astype(int) - astronaut()).mean() < 6


def test_cmyk_becomes_srgb_with_the_right_colours() -> None:
    patches = np.zeros((8, 32, 4), dtype=np.uint8)
    for index, ink in enumerate([(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]):
        patches[:, index * 8 : (index + 1) * 8] = ink
    cmyk = Image.frombytes("CMYK", (32, 8), patches.tobytes())
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0)]
    for format_name in ("TIFF", "JPEG"):  # JPEG: Pillow writes Adobe-inverted CMYK, which must come back upright
        loaded = load_image(encoded(cmyk, format_name, quality=100) if format_name == "JPEG" else encoded(cmyk, "TIFF"))
        assert loaded.mode == "CMYK" and not loaded.grayscale and loaded.icc_profile is None
        for index, colour in enumerate(expected):
            np.testing.assert_allclose(as_uint8(loaded.color[4, index * 8 + 4]), colour, atol=3, err_msg=format_name)


def test_cmyk_with_a_profile_for_another_colour_space_is_converted_without_it() -> None:
    cmyk = Image.fromarray(astronaut()).convert("CMYK")
    loaded = load_image(encoded(cmyk, "JPEG", icc_profile=srgb_profile()))
    assert loaded.icc_profile is None
    assert any("does not describe CMYK" in note for note in loaded.warnings)
    assert np.abs(as_uint8(loaded.color).astype(int) - astronaut()).mean() < 4


def test_cmyk_with_an_unusable_cmyk_profile_falls_back_to_a_plain_conversion() -> None:
    cmyk = Image.fromarray(astronaut()).convert("CMYK")
    loaded = load_image(encoded(cmyk, "TIFF", icc_profile=fake_profile(b"CMYK")))
    assert loaded.icc_profile is None
    assert "the CMYK ICC profile could not be applied: colours converted without it" in loaded.warnings
    np.testing.assert_array_equal(as_uint8(loaded.color), np.asarray(cmyk.convert("RGB")))


def test_exif_orientation_is_applied() -> None:
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels[:8, :8] = (255, 0, 0)  # a red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    loaded = load_image(encoded(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes()))
    assert loaded.size == (HEIGHT, WIDTH)
    # Turned clockwise, the stored top-left corner shows at the top right.
    assert as_uint8(loaded.color[2, HEIGHT - 3])[0] > 200
    assert as_uint8(loaded.color[2, 2])[0] < 50


def test_animated_gif_uses_the_first_frame_and_says_so() -> None:
    frames = [Image.fromarray(np.full((HEIGHT, WIDTH, 3), value, np.uint8)).convert("P") for value in (30, 130, 230)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    loaded = load_image(data)
    assert "animated GIF: only the first of 3 frames is used" in loaded.warnings
    assert abs(int(as_uint8(loaded.color).mean()) - 30) <= 2


def test_sixteen_bit_gray_with_alpha_png_stays_gray() -> None:
    gray_alpha = np.dstack([horizontal_ramp(65535, np.uint16), np.full((HEIGHT, WIDTH), 40000, np.uint16)])
    loaded = load_image(raw_png(WIDTH, HEIGHT, 16, 4, gray_alpha.astype(">u2")))
    assert loaded.grayscale and loaded.alpha is not None
    assert upscale_2x(loaded).mode == "LA"


def test_truncation_keeps_the_pillow_error_as_its_cause() -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(truncated("JPEG"))
    assert isinstance(error.value.__cause__, OSError)


def test_decompression_bomb_is_refused_from_its_header_alone() -> None:
    bomb = png_with_header(encoded(Image.new("RGB", (8, 8))), 100_000, 100_000)
    limit_before = Image.MAX_IMAGE_PIXELS
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning may escape either
        with pytest.raises(ImageTooLarge) as error:
            load_image(bomb)
    assert time.perf_counter() - started < 1.0
    assert_one_line(error, "image too large", "10,000,000,000 pixels")
    assert isinstance(error.value.__cause__, Image.DecompressionBombError)
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_declared_size_over_our_limit_is_refused_before_decoding() -> None:
    # 10000 x 10000 passes Pillow's hard limit (it only warns), so our own check must catch it.
    header_only = png_with_header(encoded(Image.new("RGB", (8, 8))), 10_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLarge) as error:
            load_image(header_only)
    assert_one_line(error, "10000x10000", "100,000,000 pixels", "16,777,216")


def test_max_pixels_applies_to_every_input_kind() -> None:
    for source in (encoded(Image.fromarray(astronaut())), Image.fromarray(astronaut()), astronaut()):
        with pytest.raises(ImageTooLarge) as error:
            load_image(source, max_pixels=1000)
        assert_one_line(error, "64x48", "3,072", "1,000")


UNDECODABLE = [
    (png_with_header(encoded(Image.new("RGB", (8, 8))), 0, 8), "zero-size image"),
    (Image.new("RGB", (0, 5)), "zero-size image"),
]


@pytest.mark.parametrize("source, fragment", UNDECODABLE, ids=range(len(UNDECODABLE)))
def test_an_image_without_pixels_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)
