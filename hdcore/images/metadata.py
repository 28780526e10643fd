"""What a file says about itself beyond its pixels: ICC profile, EXIF, XMP, PNG text and JPEG comments.

``read_metadata`` takes from a decoded image what an upscaled copy may carry: the EXIF without what described
the old pixels (orientation set to 1 because it has been applied, the IFD1 thumbnail of the old size, TIFF layout
tags), XMP with its orientation set to 1, PNG text chunks and a JPEG comment, each bounded in size. ``compose``
puts the ``Metadata`` on the output image (``METADATA_KEY`` in its info) with the EXIF pixel dimensions
updated, and ``save_options`` turns it into what each encoder writes: EXIF and XMP in JPEG (APP1), PNG (eXIf,
iTXt ``XML:com.adobe.xmp``) and WebP, PNG text in PNG, the comment in JPEG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from PIL import ExifTags, Image, PngImagePlugin

METADATA_KEY = "hdcore.metadata"  # where an output image carries its Metadata (PIL info)
XMP_TEXT_KEY = "XML:com.adobe.xmp"  # the PNG iTXt keyword of XMP packets
# A camera's EXIF is ~10-60 KB, an editor's XMP rarely over a few hundred KB: anything beyond is not a record
# worth copying into every output (Pillow itself reads up to 64 MB of PNG text).
MAX_METADATA_BYTES = 1024 * 1024
JPEG_SEGMENT_BYTES = 65_533  # the most one JPEG marker segment holds (EXIF, comment)
JPEG_XMP_BYTES = JPEG_SEGMENT_BYTES - len(b"http://ns.adobe.com/xap/1.0/\x00")
COMPRESSED_TEXT_CHARS = 1024  # longer PNG text goes into compressed chunks

# TIFF tags that describe how the old file stored its pixels (size, layout, strips, tiles, sub-images) or that
# travel separately (XMP 700, ICC 34675), plus Photoshop's blocks (34377, 37724), which hold previews and layers.
LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 317, 320, 322, 323, 324,
     325, 330, 338, 339, 513, 514, 530, 700, 34377, 34675, 37724}
)
SUB_IFDS = (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo)
XMP_ORIENTATION = (
    re.compile(rb"(tiff:Orientation\s*=\s*[\"'])\d+([\"'])"),
    re.compile(rb"(<tiff:Orientation>\s*)\d+(\s*</tiff:Orientation>)"),
)


@dataclass(frozen=True)
class Metadata:
    """What an output copies from its source besides pixels and ICC profile; empty fields are not written."""

    exif: bytes = b""  # "Exif\0\0" + TIFF structure: orientation 1, no thumbnail, no layout tags
    xmp: bytes = b""
    text: tuple[tuple[str, str], ...] = ()  # PNG text chunks (keyword, text), in file order
    comment: bytes = b""  # a JPEG comment (COM)

    @property
    def empty(self) -> bool:
        return not (self.exif or self.xmp or self.text or self.comment)

    def for_size(self, size: tuple[int, int]) -> Metadata:
        """The same record for an image of ``size`` (the EXIF pixel dimensions, where present, say so)."""
        if not self.exif:
            return self
        exif = Image.Exif()
        exif.load(self.exif)
        photo = exif.get_ifd(ExifTags.IFD.Exif)
        dimensions = (ExifTags.Base.ExifImageWidth, ExifTags.Base.ExifImageHeight)
        if not any(tag in photo for tag in dimensions):
            return self
        photo[dimensions[0]], photo[dimensions[1]] = size
        return replace(self, exif=exif.tobytes())


def read_metadata(image: Image.Image, notes: list[str]) -> tuple[Metadata, int]:
    """What an upscaled copy of ``image`` may carry, and the EXIF orientation (1-8) of its stored pixels."""
    exif, orientation = _exif_and_orientation(image, notes)
    metadata = Metadata(
        exif=_bounded(exif, "EXIF", notes),
        xmp=_bounded(upright_xmp(_as_bytes(image.info.get("xmp"))), "XMP", notes),
        text=_png_text(image, notes),
        comment=_bounded(_as_bytes(image.info.get("comment")), "comment", notes),
    )
    return metadata, orientation


def _exif_and_orientation(image: Image.Image, notes: list[str]) -> tuple[bytes, int]:
    try:
        exif = image.getexif()  # Pillow falls back on XMP's tiff:Orientation when EXIF has none
        orientation = exif.get(ExifTags.Base.Orientation, 1)
        cleaned = clean_exif(exif)
    except Exception:  # Pillow's EXIF parser raises many kinds on damaged data
        notes.append("the EXIF data is unreadable: its orientation is ignored and it is not copied")
        return b"", 1
    try:
        data = cleaned.tobytes() if _has_tags(cleaned) else b""
    except Exception:
        notes.append("the EXIF data cannot be rewritten: it is not copied")
        data = b""
    return data, orientation if isinstance(orientation, int) else 1


def clean_exif(exif: Image.Exif) -> Image.Exif:
    """A new EXIF with what still holds for an upscaled copy: camera, time, exposure, GPS; orientation 1.

    Never the IFD1 thumbnail (it shows the old pixels at the old size) nor the tags of the old file's layout.
    """
    cleaned = Image.Exif()
    for tag, value in exif.items():
        if tag not in LAYOUT_TAGS and tag not in SUB_IFDS:
            cleaned[tag] = value
    if ExifTags.Base.Orientation in cleaned:
        cleaned[ExifTags.Base.Orientation] = 1
    for pointer in SUB_IFDS:
        found = dict(exif.get_ifd(pointer)) if pointer in exif else {}
        if pointer == ExifTags.IFD.Exif and ExifTags.IFD.Interop in found:
            # a stored offset into the old file: replaced by the interoperability directory itself
            found[ExifTags.IFD.Interop] = dict(exif.get_ifd(ExifTags.IFD.Interop))
        if found:
            cleaned.get_ifd(pointer).update(found)
    return cleaned


def _has_tags(exif: Image.Exif) -> bool:
    return len(exif) > 0 or any(exif.get_ifd(pointer) for pointer in SUB_IFDS)


def upright_xmp(xmp: bytes) -> bytes:
    """XMP with tiff:Orientation set to 1: the orientation has been applied to the pixels."""
    for pattern in XMP_ORIENTATION:
        xmp = pattern.sub(rb"\g<1>1\g<2>", xmp)
    return xmp


def _png_text(image: Image.Image, notes: list[str]) -> tuple[tuple[str, str], ...]:
    chunks = getattr(image, "text", None) if image.format == "PNG" else None
    if not isinstance(chunks, dict):
        return ()
    kept, total = [], 0
    for key, value in chunks.items():
        if key == XMP_TEXT_KEY or not isinstance(value, str):
            continue
        total += len(key) + len(value)
        if total > MAX_METADATA_BYTES:
            notes.append(f"PNG text over {MAX_METADATA_BYTES:,} bytes: the rest of it is not copied")
            break
        kept.append((key, value))
    return tuple(kept)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value) if isinstance(value, (bytes, bytearray)) else b""


def _bounded(data: bytes, what: str, notes: list[str]) -> bytes:
    if len(data) > MAX_METADATA_BYTES:
        notes.append(f"the {what} data is {len(data):,} bytes, over {MAX_METADATA_BYTES:,}: it is not copied")
        return b""
    return data


def save_options(metadata: Metadata, format_name: str, notes: list[str]) -> dict[str, Any]:
    """Pillow's save options that write ``metadata`` into a ``format_name`` file, as far as the format carries it."""
    if format_name == "png":
        return _png_options(metadata)
    if format_name == "webp":
        return {"exif": metadata.exif, "xmp": metadata.xmp}
    # JPEG. Every option is given, empty ones too: Pillow would otherwise write the image's own info["comment"].
    options: dict[str, Any] = {}
    for key, label, limit in (("exif", "EXIF", JPEG_SEGMENT_BYTES), ("xmp", "XMP", JPEG_XMP_BYTES),
                              ("comment", "comment", JPEG_SEGMENT_BYTES)):
        value = getattr(metadata, key)
        if len(value) > limit:
            notes.append(f"the {label} is {len(value):,} bytes, more than a JPEG segment holds: not copied")
            value = b""
        options[key] = value
    return options


def _png_options(metadata: Metadata) -> dict[str, Any]:
    text = PngImagePlugin.PngInfo()
    for key, value in metadata.text:
        text.add_text(key, value, zip=len(value) > COMPRESSED_TEXT_CHARS)
    if metadata.xmp:
        text.add_itxt(XMP_TEXT_KEY, metadata.xmp.decode("utf-8", "replace"))
    options: dict[str, Any] = {"pnginfo": text}
    if metadata.exif:
        options["exif"] = metadata.exif
    return options


def profile_color_space(icc: bytes) -> str | None:
    """'RGB', 'GRAY', 'CMYK', ... from the profile header; None when the bytes are not an ICC profile."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def keep_fitting_profile(icc: bytes | None, color_space: str, notes: list[str]) -> bytes | None:
    """An output must not carry a profile for another colour space: viewers would misread its colours."""
    if not icc:
        return None
    found = profile_color_space(icc)
    if found is None:
        notes.append("the embedded ICC profile is unreadable: dropped")
        return None
    if found != color_space:
        notes.append(f"the embedded ICC profile is for {found}, not {color_space}: dropped")
        return None
    return icc
