"""The output image: its size limit, the mode family and depth restored, alpha resized with Lanczos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hdcore.config import DEFAULT_MAX_OUTPUT_PIXELS
from hdcore.errors import ImageTooLarge
from hdcore.images import FORMATS, check_output_size, compose, encode_image, load_image
from hdcore.resize import lanczos_resize
from tests.images.helpers import (
    WIDTH, HEIGHT, astronaut, camera, coffee, gray16, rgba_with_soft_alpha, source_image, encoded, reopen,
    upscale_2x, assert_one_line,
)


def test_output_size_within_the_limit() -> None:
    assert check_output_size((100, 50), 4) == (400, 200)
    assert check_output_size((3, 3), 2, max_pixels=36) == (6, 6)


def test_output_size_over_the_limit_names_both_sizes_and_the_limit() -> None:
    with pytest.raises(ImageTooLarge) as error:
        check_output_size((4096, 4096), 4)
    assert_one_line(error, "4096x4096", "16384x16384", f"{DEFAULT_MAX_OUTPUT_PIXELS:,}")
    with pytest.raises(ImageTooLarge):
        check_output_size((3, 3), 2, max_pixels=35)


ROUND_TRIPS = {
    # source kind: expected reopened mode for png, jpeg, webp
    "RGB": ("RGB", "RGB", "RGB"),
    "RGBA": ("RGBA", "RGBA", "RGBA"),
    "L": ("L", "L", "RGB"),
    "LA": ("LA", "LA", "RGBA"),
    "P": ("RGB", "RGB", "RGB"),
    "P+transparency": ("RGBA", "RGBA", "RGBA"),
    "1": ("L", "L", "RGB"),
    "I;16": ("I;16", "L", "RGB"),
    "CMYK": ("RGB", "RGB", "RGB"),
}


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("kind", list(ROUND_TRIPS))
def test_round_trip_keeps_mode_family_and_size(kind: str, output_format: str) -> None:
    source_format = "TIFF" if kind == "CMYK" else "PNG"
    loaded = load_image(encoded(source_image(kind), source_format))
    result = encode_image(upscale_2x(loaded), output_format)
    written = reopen(result.data)
    expected_mode = ROUND_TRIPS[kind][FORMATS.index(output_format)]
    assert written.mode == expected_mode
    assert written.size == (WIDTH * 2, HEIGHT * 2)
    has_alpha = "A" in expected_mode
    wrote_png_for_alpha = output_format == "jpeg" and has_alpha
    assert result.format == ("png" if wrote_png_for_alpha else output_format)
    assert written.format == result.format.upper()
    assert ("JPEG has no transparency: written as PNG" in result.warnings) == wrote_png_for_alpha
    if kind == "I;16" and output_format != "png":
        assert any("8-bit" in note for note in result.warnings)
    if loaded.grayscale and expected_mode == "RGB":  # WebP has no gray mode: gray stays neutral
        channels = np.asarray(written).astype(int)
        assert np.abs(channels[:, :, 0] - channels[:, :, 1]).max() <= 3


def test_upscaled_photo_stays_close_to_a_lanczos_reference() -> None:
    loaded = load_image(encoded(Image.fromarray(coffee()), "PNG"))
    written = np.asarray(reopen(encode_image(upscale_2x(loaded), "png").data)).astype(int)
    reference = np.asarray(Image.fromarray(coffee()).resize((WIDTH * 2, HEIGHT * 2), Image.Resampling.LANCZOS))
    assert np.abs(written - reference.astype(int)).max() <= 2


def test_sixteen_bit_precision_survives_the_round_trip() -> None:
    loaded = load_image(encoded(Image.fromarray(gray16()), "PNG"))
    same_size = reopen(encode_image(compose(loaded.color, loaded), "png").data)
    assert same_size.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(same_size), gray16())

    upscaled = np.asarray(reopen(encode_image(upscale_2x(loaded), "png").data)).astype(np.int64)
    assert upscaled.max() > 255
    assert np.any(upscaled % 257 != 0)


def test_eight_bit_values_survive_the_round_trip_exactly() -> None:
    loaded = load_image(rgba_with_soft_alpha())
    written = np.asarray(reopen(encode_image(compose(loaded.color, loaded), "png").data))
    original = np.asarray(rgba_with_soft_alpha())
    visible = original[:, :, 3] > 0  # under alpha 0 the colour is the nearest visible one (see test_bleed)
    np.testing.assert_array_equal(written[visible], original[visible])
    np.testing.assert_array_equal(written[:, :, 3], original[:, :, 3])


def test_alpha_is_upscaled_with_lanczos_not_bilinear() -> None:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    disk = (((yy - 24) ** 2 + (xx - 32) ** 2) < 15**2).astype(np.uint8) * 255
    loaded = load_image(np.dstack([astronaut(), disk]))
    size = (WIDTH * 3, HEIGHT * 3)
    result = compose(lanczos_resize(loaded.color, size), loaded)
    alpha = np.asarray(result.getchannel("A")).astype(int)
    lanczos = np.rint(lanczos_resize(disk.astype(np.float32) / 255, size) * 255).astype(int)
    bilinear = np.asarray(Image.fromarray(disk).resize(size, Image.Resampling.BILINEAR)).astype(int)
    assert np.abs(alpha - lanczos).max() <= 1
    assert np.abs(alpha - bilinear).max() >= 10


def test_grayscale_output_is_601_luminance() -> None:
    loaded = load_image(camera())
    colourful = astronaut().astype(np.float32) / 255
    gray = np.asarray(compose(colourful, loaded)).astype(int)
    expected = np.asarray(Image.fromarray(astronaut()).convert("L")).astype(int)
    assert np.abs(gray - expected).max() <= 1


def test_compose_cleans_nan_and_overshoot() -> None:
    loaded = load_image(astronaut())
    color = np.full((HEIGHT, WIDTH, 3), 1.5, dtype=np.float32)
    color[0, 0] = np.nan
    color[0, 1] = -0.5
    pixels = np.asarray(compose(color, loaded))
    assert tuple(pixels[0, 0]) == (0, 0, 0) and tuple(pixels[0, 1]) == (0, 0, 0)
    assert tuple(pixels[5, 5]) == (255, 255, 255)
