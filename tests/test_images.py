"""Tests for hdcore.images: every input kind, format and mode in, every output format out, every rejection.

All test images are built here, from small crops of scikit-image's sample photos, so nothing binary is committed.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, features
from skimage import data as samples

from hdcore.config import DEFAULT_MAX_OUTPUT_PIXELS
from hdcore.errors import ImageTooLarge, InvalidImage, InvalidInput
from hdcore.images import (
    FORMATS,
    EncodedImage,
    SourceImage,
    as_float_rgb,
    check_output_size,
    compose,
    decode_output,
    encode_image,
    load_image,
    to_data_uri,
)
from hdcore.resize import lanczos_resize

WIDTH, HEIGHT = 64, 48


# ----------------------------------------------------------------------------------------------- helpers


def astronaut() -> np.ndarray:
    return np.ascontiguousarray(samples.astronaut()[100 : 100 + HEIGHT, 150 : 150 + WIDTH])


def camera() -> np.ndarray:
    return np.ascontiguousarray(samples.camera()[200 : 200 + HEIGHT, 220 : 220 + WIDTH])


def coffee() -> np.ndarray:
    return np.ascontiguousarray(samples.coffee()[150 : 150 + HEIGHT, 250 : 250 + WIDTH])


def horizontal_ramp(high: int, dtype: type = np.uint8) -> np.ndarray:
    return np.tile(np.linspace(0, high, WIDTH).round().astype(dtype), (HEIGHT, 1))


def gray16() -> np.ndarray:
    """16-bit gray whose values use the low byte, so an 8-bit detour would show."""
    return camera().astype(np.uint16) * 257 + np.uint16(3) - (camera() > 250).astype(np.uint16) * 6


def rgba_with_soft_alpha() -> Image.Image:
    return Image.fromarray(np.dstack([astronaut(), horizontal_ramp(255)]))


def palette_with_transparency() -> Image.Image:
    image = Image.fromarray(coffee()).convert("P")
    image.info["transparency"] = int(np.asarray(image)[0, 0])
    return image


def source_image(kind: str) -> Image.Image:
    """One image per mode family the pipeline must carry through."""
    makers = {
        "RGB": lambda: Image.fromarray(astronaut()),
        "RGBA": rgba_with_soft_alpha,
        "L": lambda: Image.fromarray(camera()),
        "LA": lambda: Image.fromarray(np.dstack([camera(), horizontal_ramp(255)])),
        "P": lambda: Image.fromarray(coffee()).convert("P"),
        "P+transparency": palette_with_transparency,
        "1": lambda: Image.fromarray(camera()).convert("1"),
        "I;16": lambda: Image.fromarray(gray16()),
        "CMYK": lambda: Image.fromarray(astronaut()).convert("CMYK"),
    }
    return makers[kind]()


def encoded(image: Image.Image, format_name: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def upscale_2x(source: SourceImage) -> Image.Image:
    width, height = source.size
    return compose(lanczos_resize(source.color, (width * 2, height * 2)), source)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def fake_profile(color_space: bytes) -> bytes:
    """A header-only ICC profile: enough for a container to carry and for a colour-space check to read."""
    header = bytearray(128)
    struct.pack_into(">I", header, 0, 128)
    header[12:16] = b"mntr"
    header[16:20] = color_space
    header[20:24] = b"XYZ "
    header[36:40] = b"acsp"
    return bytes(header)


def png_with_header(data: bytes, width: int, height: int) -> bytes:
    """Patch a PNG's IHDR (and its CRC) to declare another size; the pixel data stays as small as it was."""
    patched = bytearray(data)
    struct.pack_into(">II", patched, 16, width, height)
    struct.pack_into(">I", patched, 29, zlib.crc32(bytes(patched[12:29])) & 0xFFFFFFFF)
    return bytes(patched)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, samples_be: np.ndarray) -> bytes:
    """A PNG written by hand, for layouts Pillow cannot write (16-bit RGB, 16-bit gray+alpha)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + samples_be[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message


def as_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ input kinds


@pytest.fixture
def png_bytes() -> bytes:
    return encoded(Image.fromarray(astronaut()))


def test_every_input_kind_decodes_to_the_same_pixels(png_bytes: bytes, tmp_path: Path) -> None:
    standard = base64.b64encode(png_bytes).decode()
    assert "+" in standard or "/" in standard  # so the URL-safe variant really differs
    urlsafe_unpadded = base64.urlsafe_b64encode(png_bytes).decode().rstrip("=")
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    file_path = tmp_path / "photo.png"
    file_path.write_bytes(png_bytes)
    sources = [
        png_bytes,
        bytearray(png_bytes),
        memoryview(png_bytes),
        standard,
        urlsafe_unpadded,
        "  " + wrapped + "\n",
        "data:image/png;base64," + standard,
        str(file_path),
        file_path,
        Image.open(io.BytesIO(png_bytes)),
        astronaut(),
    ]
    for source in sources:
        loaded = load_image(source)
        assert loaded.size == (WIDTH, HEIGHT)
        assert loaded.color.dtype == np.float32 and loaded.color.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(as_uint8(loaded.color), astronaut(), err_msg=type(source).__name__)


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


def test_format_is_sniffed_from_content_not_the_file_name(tmp_path: Path) -> None:
    misnamed = tmp_path / "really_a_png.jpg"
    misnamed.write_bytes(encoded(Image.fromarray(astronaut())))
    assert load_image(misnamed).format == "PNG"


def test_base64_jpeg_starting_with_a_slash_is_not_taken_for_a_path() -> None:
    text = base64.b64encode(encoded(Image.fromarray(astronaut()), "JPEG")).decode()
    assert text.startswith("/9j/")
    assert load_image(text).format == "JPEG"


def test_percent_encoded_data_uri_is_read() -> None:
    with pytest.raises(InvalidImage) as error:
        load_image("data:image/svg+xml,%3Csvg%20xmlns%3D%22http://www.w3.org/2000/svg%22/%3E")
    assert_one_line(error, "SVG is not supported")


# -------------------------------------------------------------------------------- input formats and modes


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


def test_sixteen_bit_colour_png_is_read_at_eight_bits_with_a_warning() -> None:
    rgb16 = (np.dstack([horizontal_ramp(65535, np.uint16)] * 3)).astype(">u2")
    loaded = load_image(raw_png(WIDTH, HEIGHT, 16, 2, rgb16))
    assert not loaded.grayscale
    assert any("8 bits per channel" in note for note in loaded.warnings)
    np.testing.assert_allclose(loaded.color[0, -1], [1.0, 1.0, 1.0], atol=1 / 255)


def test_sixteen_bit_gray_with_alpha_png_stays_gray() -> None:
    gray_alpha = np.dstack([horizontal_ramp(65535, np.uint16), np.full((HEIGHT, WIDTH), 40000, np.uint16)])
    loaded = load_image(raw_png(WIDTH, HEIGHT, 16, 4, gray_alpha.astype(">u2")))
    assert loaded.grayscale and loaded.alpha is not None
    assert upscale_2x(loaded).mode == "LA"


def test_icc_profile_is_kept() -> None:
    profile = srgb_profile()
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", icc_profile=profile))
    assert loaded.icc_profile == profile


def test_profile_for_another_colour_space_is_dropped() -> None:
    loaded = load_image(encoded(Image.fromarray(camera()), "PNG", icc_profile=srgb_profile()))
    assert loaded.icc_profile is None
    assert any("dropped" in note for note in loaded.warnings)


# -------------------------------------------------------------------------------------- full round trips


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
    np.testing.assert_array_equal(written, np.asarray(rgba_with_soft_alpha()))


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


@pytest.mark.parametrize("output_format", FORMATS)
def test_icc_profile_bytes_are_identical_after_the_round_trip(output_format: str) -> None:
    profile = srgb_profile()
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", icc_profile=profile))
    result = encode_image(upscale_2x(loaded), output_format)
    assert reopen(result.data).info.get("icc_profile") == profile


def test_gray_profile_is_kept_for_gray_output_and_dropped_when_webp_makes_it_rgb() -> None:
    profile = fake_profile(b"GRAY")
    loaded = load_image(encoded(Image.fromarray(camera()), "PNG", icc_profile=profile))
    assert loaded.icc_profile == profile
    for output_format in ("png", "jpeg"):
        assert reopen(encode_image(upscale_2x(loaded), output_format).data).info.get("icc_profile") == profile
    webp = encode_image(upscale_2x(loaded), "webp")
    assert reopen(webp.data).info.get("icc_profile") is None
    assert any("GRAY" in note for note in webp.warnings)


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


# ----------------------------------------------------------------------------------------------- rejections


def _svg() -> bytes:
    return b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


def _truncated(format_name: str) -> bytes:
    options = {"lossless": True} if format_name == "WEBP" else {}
    data = encoded(Image.fromarray(astronaut()), format_name, **options)
    return data[: len(data) // 2]


REJECTIONS = [
    (b"", "empty input"),
    ("", "empty input"),
    ("   \n", "empty input"),
    (b" \r\n\t ", "empty input"),
    (b"hello, this is a note and not a picture\n", "plain text is not an image"),
    (_svg(), "SVG is not supported: send a raster image"),
    (_svg().decode(), "SVG is not supported"),
    ("data:image/svg+xml;base64," + base64.b64encode(_svg()).decode(), "SVG is not supported"),
    (base64.b64encode(_svg()).decode(), "SVG is not supported"),
    (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML is not an image"),
    (b'<?xml version="1.0"?><note>hi</note>', "XML is not an image"),
    (b'{"error": "model is loading"}', "JSON is not an image"),
    (bytes(range(256)) * 4, "not an image"),
    (b"P6\n4 4\n255\n" + bytes(48), "unsupported image format PPM"),
    (_truncated("PNG"), "truncated or corrupt PNG"),
    (_truncated("JPEG"), "truncated or corrupt JPEG"),
    (_truncated("GIF"), "truncated or corrupt GIF"),
    (_truncated("WEBP"), "truncated or corrupt WEBP"),
    (_truncated("BMP"), "truncated or corrupt BMP"),
    (_truncated("TIFF"), "truncated or corrupt TIFF"),
    ("this is not base64!", "not valid base64"),
    ("abcde", "not valid base64"),
    ("data:image/png;base64", "not a valid data URI"),
    ("data:image/png;base64,@@@@", "not a valid data URI"),
    ("data:image/png;base64,", "empty input"),
    ("/no/such/dir/photo.png", "file not found: /no/such/dir/photo.png"),
    ("missing.png", "file not found: missing.png"),
    (Path("/no/such/file.webp"), "file not found: /no/such/file.webp"),
    (png_with_header(encoded(Image.new("RGB", (8, 8))), 0, 8), "zero-size image"),
    (Image.new("RGB", (0, 5)), "zero-size image"),
    (np.zeros((0, 5), dtype=np.uint8), "zero-size image"),
    (np.zeros((4, 4, 5), dtype=np.uint8), "unsupported array shape"),
    (np.zeros((4, 4), dtype=np.complex64), "unsupported array type"),
    (12345, "unsupported source type int"),
]


@pytest.mark.parametrize("source, fragment", REJECTIONS, ids=range(len(REJECTIONS)))
def test_unusable_input_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)


def test_truncation_keeps_the_pillow_error_as_its_cause() -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(_truncated("JPEG"))
    assert isinstance(error.value.__cause__, OSError)


def test_directory_is_rejected(tmp_path: Path) -> None:
    for source in (tmp_path, str(tmp_path)):
        with pytest.raises(InvalidImage) as error:
            load_image(source)
        assert_one_line(error, "is a directory", str(tmp_path))


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


# -------------------------------------------------------------------------------------------- output size


def test_output_size_within_the_limit() -> None:
    assert check_output_size((100, 50), 4) == (400, 200)
    assert check_output_size((3, 3), 2, max_pixels=36) == (6, 6)


def test_output_size_over_the_limit_names_both_sizes_and_the_limit() -> None:
    with pytest.raises(ImageTooLarge) as error:
        check_output_size((4096, 4096), 4)
    assert_one_line(error, "4096x4096", "16384x16384", f"{DEFAULT_MAX_OUTPUT_PIXELS:,}")
    with pytest.raises(ImageTooLarge):
        check_output_size((3, 3), 2, max_pixels=35)


# ---------------------------------------------------------------------------------------------- encoding


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


# ------------------------------------------------------------------------------------ provider outputs


def test_decode_output_accepts_bytes_images_and_arrays() -> None:
    rgba = rgba_with_soft_alpha()
    data_uri = "data:image/png;base64," + base64.b64encode(encoded(rgba)).decode()
    for answer in (encoded(rgba), rgba, np.asarray(rgba), data_uri):
        decoded = decode_output(answer)
        assert decoded.dtype == np.float32 and decoded.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(as_uint8(decoded), astronaut())


def test_decode_output_rejects_what_does_not_decode() -> None:
    for answer in (b"", b"not an image at all", _truncated("PNG"), b'{"error": "busy"}'):
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
