"""Reading the bytes behind each kind of input: bytes, base64, data URIs and paths."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdcore.errors import InvalidImage
from hdcore.images import load_image
from tests.images.helpers import WIDTH, HEIGHT, astronaut, encoded, assert_one_line, as_uint8, svg_bytes


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


def test_base64_jpeg_starting_with_a_slash_is_not_taken_for_a_path() -> None:
    text = base64.b64encode(encoded(Image.fromarray(astronaut()), "JPEG")).decode()
    assert text.startswith("/9j/")
    assert load_image(text).format == "JPEG"


def test_percent_encoded_data_uri_is_read() -> None:
    with pytest.raises(InvalidImage) as error:
        load_image("data:image/svg+xml,%3Csvg%20xmlns%3D%22http://www.w3.org/2000/svg%22/%3E")
    assert_one_line(error, "SVG is not supported")


def test_directory_is_rejected(tmp_path: Path) -> None:
    for source in (tmp_path, str(tmp_path)):
        with pytest.raises(InvalidImage) as error:
            load_image(source)
        assert_one_line(error, "is a directory", str(tmp_path))


UNUSABLE_TEXT_AND_PATHS = [
    ("", "empty input"),
    ("   \n", "empty input"),
    (svg_bytes().decode(), "SVG is not supported"),
    ("data:image/svg+xml;base64," + base64.b64encode(svg_bytes()).decode(), "SVG is not supported"),
    (base64.b64encode(svg_bytes()).decode(), "SVG is not supported"),
    ("this is not base64!", "not valid base64"),
    ("abcde", "not valid base64"),
    ("data:image/png;base64", "not a valid data URI"),
    ("data:image/png;base64,@@@@", "not a valid data URI"),
    ("data:image/png;base64,", "empty input"),
    ("/no/such/dir/photo.png", "file not found: /no/such/dir/photo.png"),
    ("missing.png", "file not found: missing.png"),
    (Path("/no/such/file.webp"), "file not found: /no/such/file.webp"),
    (12345, "unsupported source type int"),
]


@pytest.mark.parametrize("source, fragment", UNUSABLE_TEXT_AND_PATHS, ids=range(len(UNUSABLE_TEXT_AND_PATHS)))
def test_unusable_text_or_path_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)
