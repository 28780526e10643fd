"""What travels from source to output besides pixels: ICC profile, EXIF (camera fields, no orientation, no
thumbnail), XMP, PNG text and JPEG comments; and what ``copy_metadata=False`` leaves out."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from hdcore.images import FORMATS, Metadata, compose, encode_image, load_image
from tests.images.helpers import (
    HEIGHT, WIDTH, astronaut, camera, encoded, fake_profile, png_with_chunk, raw_png, reopen, rgb16, srgb_profile,
    upscale_2x,
)

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' tiff:Orientation="6"><dc:creator>Ada Lovelace</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>'
)


def test_icc_profile_is_kept() -> None:
    profile = srgb_profile()
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", icc_profile=profile))
    assert loaded.icc_profile == profile


def test_profile_for_another_colour_space_is_dropped() -> None:
    loaded = load_image(encoded(Image.fromarray(camera()), "PNG", icc_profile=srgb_profile()))
    assert loaded.icc_profile is None
    assert any("dropped" in note for note in loaded.warnings)


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


# ------------------------------------------------------------------------------------------ EXIF and XMP


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS R5"
    exif[ExifTags.Base.Orientation] = orientation
    photo = exif.get_ifd(ExifTags.IFD.Exif)
    photo[ExifTags.Base.DateTimeOriginal] = "2024:05:17 09:30:12"
    photo[ExifTags.Base.ExposureTime] = IFDRational(1, 250)
    photo[ExifTags.Base.FNumber] = IFDRational(28, 10)
    photo[ExifTags.Base.ISOSpeedRatings] = 100
    photo[ExifTags.Base.ExifImageWidth] = WIDTH
    photo[ExifTags.Base.ExifImageHeight] = HEIGHT
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    return exif


THUMBNAIL_MARK = b"THUMBNAIL-OF-THE-OLD-SIZE"


def with_thumbnail(exif_bytes: bytes) -> bytes:
    """EXIF whose IFD0 links to an IFD1 holding a (tiny, recognisable) JPEG thumbnail, as cameras write."""
    tiff = bytearray(exif_bytes[6:])  # without "Exif\0\0"
    order = ">" if tiff[:2] == b"MM" else "<"
    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    (entries,) = struct.unpack_from(order + "H", tiff, ifd0)
    thumbnail = b"\xff\xd8" + THUMBNAIL_MARK + b"\xff\xd9"
    if len(tiff) % 2:
        tiff += b"\x00"
    ifd1 = len(tiff)
    data_offset = ifd1 + 2 + 2 * 12 + 4
    tiff += struct.pack(order + "H", 2)
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, data_offset)  # JPEGInterchangeFormat
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, len(thumbnail))  # JPEGInterchangeFormatLength
    tiff += struct.pack(order + "I", 0) + thumbnail
    struct.pack_into(order + "I", tiff, ifd0 + 2 + 12 * entries, ifd1)  # IFD0's "next IFD" now points at IFD1
    return b"Exif\x00\x00" + bytes(tiff)


def camera_jpeg(orientation: int = 6) -> bytes:
    exif = with_thumbnail(camera_exif(orientation).tobytes())
    return encoded(Image.fromarray(astronaut()), "JPEG", quality=95, exif=exif, xmp=XMP, comment=b"shot on a tripod")


def test_the_test_source_really_has_a_thumbnail_and_an_orientation() -> None:
    source = Image.open(io.BytesIO(camera_jpeg()))
    assert source.getexif().get_ifd(ExifTags.IFD.IFD1)[0x0202] == len(THUMBNAIL_MARK) + 4
    assert source.getexif()[ExifTags.Base.Orientation] == 6 and b'tiff:Orientation="6"' in source.info["xmp"]


@pytest.mark.parametrize("output_format", FORMATS)
def test_camera_fields_and_xmp_survive_into_every_output_format(output_format: str) -> None:
    loaded = load_image(camera_jpeg())
    assert loaded.size == (HEIGHT, WIDTH)  # orientation 6 was applied
    result = encode_image(upscale_2x(loaded), output_format)
    assert result.warnings == ()
    written = reopen(result.data)
    exif = written.getexif()
    assert (exif[ExifTags.Base.Make], exif[ExifTags.Base.Model]) == ("Canon", "EOS R5")
    assert exif[ExifTags.Base.Orientation] == 1
    photo = exif.get_ifd(ExifTags.IFD.Exif)
    assert photo[ExifTags.Base.DateTimeOriginal] == "2024:05:17 09:30:12"
    assert photo[ExifTags.Base.ExposureTime] == IFDRational(1, 250)
    assert photo[ExifTags.Base.FNumber] == IFDRational(28, 10) and photo[ExifTags.Base.ISOSpeedRatings] == 100
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    xmp = written.info["xmp"]
    assert b"<dc:creator>Ada Lovelace</dc:creator>" in xmp and b'tiff:Orientation="1"' in xmp


@pytest.mark.parametrize("output_format", FORMATS)
def test_the_exif_thumbnail_of_the_old_size_never_reaches_the_output(output_format: str) -> None:
    data = encode_image(upscale_2x(load_image(camera_jpeg())), output_format).data
    assert THUMBNAIL_MARK not in data
    assert reopen(data).getexif().get_ifd(ExifTags.IFD.IFD1) == {}


def test_the_exif_pixel_dimensions_name_the_output_size() -> None:
    written = reopen(encode_image(upscale_2x(load_image(camera_jpeg(orientation=1))), "png").data)
    photo = written.getexif().get_ifd(ExifTags.IFD.Exif)
    assert (photo[ExifTags.Base.ExifImageWidth], photo[ExifTags.Base.ExifImageHeight]) == (WIDTH * 2, HEIGHT * 2)


def test_a_jpeg_comment_survives_into_a_jpeg() -> None:
    written = reopen(encode_image(upscale_2x(load_image(camera_jpeg())), "jpeg").data)
    assert written.info["comment"] == b"shot on a tripod"


@pytest.mark.parametrize("output_format", FORMATS)
def test_copy_metadata_false_writes_no_exif_xmp_text_or_comment_but_keeps_the_profile(output_format: str) -> None:
    profile = srgb_profile()
    source = Image.open(io.BytesIO(camera_jpeg()))
    data = encoded(source, "JPEG", exif=source.info["exif"], xmp=XMP, comment=b"c", icc_profile=profile)
    result = encode_image(upscale_2x(load_image(data)), output_format, copy_metadata=False)
    written = reopen(result.data)
    assert dict(written.getexif()) == {}
    assert "xmp" not in written.info and "comment" not in written.info and "XML:com.adobe.xmp" not in written.info
    assert written.info.get("icc_profile") == profile


def test_png_text_chunks_are_kept_in_a_png() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Title", "Harbour at dawn")
    text.add_itxt("Description", "Gdańsk, 5 o'clock", lang="pl", tkey="Opis")
    text.add_text("Comment", "long " * 400, zip=True)
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", pnginfo=text))
    written = reopen(encode_image(upscale_2x(loaded), "png").data)
    assert written.text["Title"] == "Harbour at dawn"
    assert written.text["Description"] == "Gdańsk, 5 o'clock" and written.text["Description"].lang == "pl"
    assert written.text["Comment"] == "long " * 400


def test_a_16_bit_png_keeps_its_exif_xmp_and_text() -> None:
    png = raw_png(WIDTH, HEIGHT, 16, 2, rgb16().astype(">u2"))
    png = png_with_chunk(png, b"eXIf", camera_exif(orientation=3).tobytes()[6:])
    png = png_with_chunk(png, b"tEXt", b"Title\x00Harbour at dawn")
    png = png_with_chunk(png, b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
    loaded = load_image(png)
    result = encode_image(compose(loaded.color, loaded), "png")
    written = reopen(result.data)
    assert written.mode == "RGB" and result.warnings == ()
    exif = written.getexif()
    assert exif[ExifTags.Base.Make] == "Canon" and exif[ExifTags.Base.Orientation] == 1
    assert written.text["Title"] == "Harbour at dawn"
    assert b"Ada Lovelace" in written.info["xmp"] and b'tiff:Orientation="1"' in written.info["xmp"]
    pixels = cv2.imdecode(np.frombuffer(result.data, np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    np.testing.assert_array_equal(pixels, rgb16()[::-1, ::-1])  # orientation 3 applied, 16 bits kept


def test_an_xmp_orientation_alone_is_applied_and_then_set_to_1() -> None:
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", pnginfo=_xmp_text(XMP)))
    assert loaded.size == (HEIGHT, WIDTH)
    written = reopen(encode_image(compose(loaded.color, loaded), "png").data)
    assert written.getexif().get(ExifTags.Base.Orientation, 1) == 1
    assert b'tiff:Orientation="1"' in written.info["xmp"]
    reloaded = load_image(encode_image(compose(loaded.color, loaded), "png").data)
    assert reloaded.size == (HEIGHT, WIDTH)  # not turned a second time


def _xmp_text(xmp: bytes) -> PngImagePlugin.PngInfo:
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", xmp.decode())
    return text


def test_a_tiffs_layout_tags_are_not_copied_as_exif() -> None:
    tiff = encoded(Image.fromarray(astronaut()), "TIFF", tiffinfo={ExifTags.Base.Make: "Nikon", 305: "scanner 2"})
    written = reopen(encode_image(upscale_2x(load_image(tiff)), "jpeg").data)
    exif = written.getexif()
    assert exif[ExifTags.Base.Make] == "Nikon" and exif[ExifTags.Base.Software] == "scanner 2"
    for layout in (256, 257, 258, 259, 262, 273, 277, 278, 279):  # sizes, samples, strips of the old file
        assert layout not in exif


def test_xmp_too_large_for_a_jpeg_segment_is_left_out_of_a_jpeg_with_a_warning_and_kept_in_a_png() -> None:
    big = XMP.replace(b"Ada Lovelace", b"A" * 70_000)
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", pnginfo=_xmp_text(big)))
    jpeg = encode_image(upscale_2x(loaded), "jpeg")
    assert any("XMP" in note and "JPEG segment" in note for note in jpeg.warnings)
    assert "xmp" not in reopen(jpeg.data).info
    assert b"A" * 70_000 in reopen(encode_image(upscale_2x(loaded), "png").data).info["xmp"]


def test_metadata_over_a_megabyte_is_not_carried() -> None:
    huge = XMP.replace(b"Ada Lovelace", b"A" * 1_100_000)
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", pnginfo=_xmp_text(huge)))
    assert loaded.metadata.xmp == b""
    assert any("XMP" in note and "not copied" in note for note in loaded.warnings)


def test_metadata_given_to_encode_replaces_what_the_image_carries() -> None:
    image = upscale_2x(load_image(camera_jpeg()))
    written = reopen(encode_image(image, "png", metadata=Metadata(xmp=b"<x:xmpmeta/>")).data)
    assert written.info["xmp"] == b"<x:xmpmeta/>" and dict(written.getexif()) == {}
