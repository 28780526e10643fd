"""Data that is no image we read is named for what it is: empty, text, markup, another format, truncated."""

from __future__ import annotations

import pytest

from hdcore.errors import InvalidImage
from hdcore.images import load_image
from tests.images.helpers import assert_one_line, svg_bytes, truncated

NOT_IMAGES = [
    (b"", "empty input"),
    (b" \r\n\t ", "empty input"),
    (b"hello, this is a note and not a picture\n", "plain text is not an image"),
    (svg_bytes(), "SVG is not supported: send a raster image"),
    (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML is not an image"),
    (b'<?xml version="1.0"?><note>hi</note>', "XML is not an image"),
    (b'{"error": "model is loading"}', "JSON is not an image"),
    (bytes(range(256)) * 4, "not an image"),
    (b"P6\n4 4\n255\n" + bytes(48), "unsupported image format PPM"),
    (truncated("PNG"), "truncated or corrupt PNG"),
    (truncated("JPEG"), "truncated or corrupt JPEG"),
    (truncated("GIF"), "truncated or corrupt GIF"),
    (truncated("WEBP"), "truncated or corrupt WEBP"),
    (truncated("BMP"), "truncated or corrupt BMP"),
    (truncated("TIFF"), "truncated or corrupt TIFF"),
]


@pytest.mark.parametrize("source, fragment", NOT_IMAGES, ids=range(len(NOT_IMAGES)))
def test_data_that_is_no_image_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)
