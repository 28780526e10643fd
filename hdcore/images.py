"""Reading images in, and writing the upscaled result out, without losing what the source had.

``load_image`` accepts whatever a caller has (bytes, base64, a data URI, a path, a PIL image or a numpy array),
refuses what is not a usable raster image with a one-line ``InvalidImage`` / ``ImageTooLarge``, and returns a
``SourceImage``: float32 RGB in [0, 1] plus what the output must get back (alpha, grayscale, 16-bit depth, ICC
profile). ``compose`` rebuilds the final PIL image at the output size from the upscaled colour and that record;
``encode_image`` writes it as PNG, JPEG or WebP. ``decode_output`` and ``as_float_rgb`` turn what providers
return into the same float32 RGB form.

Pixels stay float32 from decoding to encoding, so nothing is rounded to 8 bits before it has to be.
"""

from __future__ import annotations

import base64
import binascii
import io
import numbers
import os
import re
import struct
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from .config import DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_OUTPUT_PIXELS
from .errors import ImageTooLarge, InvalidImage, InvalidInput
from .resize import lanczos_resize
from .text import error_text, shortened

FORMATS = ("png", "jpeg", "webp")

# Decoders we let loose on untrusted bytes. MPO is how Pillow names a camera JPEG that carries extra frames.
INPUT_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF", "GIF", "AVIF")
SUPPORTED_LIST = "PNG, JPEG, WebP, BMP, TIFF or GIF"
SEND_RASTER = "send a raster image such as PNG or JPEG"

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DEFAULT_QUALITY = {"png": None, "jpeg": 92, "webp": 90}
FORMAT_ALIASES = {"jpg": "jpeg"}
# Largest side each encoder can write; beyond it we fall back to PNG rather than fail.
MAX_SIDE = {"jpeg": 65_535, "webp": 16_383}
# From this JPEG quality on, chroma is kept at full resolution: subsampling would throw away upscaled detail.
FULL_CHROMA_QUALITY = 90

SIXTEEN_BIT_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
WIDE_GRAY_MODES = SIXTEEN_BIT_GRAY_MODES | {"I", "F"}
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
GRAY_MODES = frozenset({"1", "L", "LA", "La"}) | WIDE_GRAY_MODES
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")

# Text is never a path or base64 longer than this; skipping the file-system lookup keeps huge strings cheap.
MAX_PATH_LENGTH = 4096
FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
NOT_BASE64_CHARACTER = re.compile(r"[^A-Za-z0-9+/\-_]")
BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass
class SourceImage:
    """A decoded input: colour to upscale, and what the output must get back."""

    color: np.ndarray  # float32 HxWx3 RGB in [0, 1]; grayscale replicated into 3 channels
    alpha: np.ndarray | None  # float32 HxW in [0, 1], or None without a transparency channel
    grayscale: bool
    bit_depth: int  # 8 or 16
    icc_profile: bytes | None
    format: str  # sniffed from content ("PNG", "JPEG", ...); "" for in-memory images without one
    mode: str  # the PIL mode as decoded, before any conversion
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.color.shape[1]), int(self.color.shape[0])


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    format: str  # what was actually written: "png" | "jpeg" | "webp"
    mime: str
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------- loading


def load_image(source: Any, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> SourceImage:
    """Decode ``source`` into a ``SourceImage``; raise ``InvalidImage`` / ``ImageTooLarge`` when it is unusable."""
    if isinstance(source, np.ndarray):
        return _load_array(source, max_pixels)
    with warnings.catch_warnings():
        # Pillow's own warnings (decompression bomb, corrupt EXIF) are superseded by our checks and messages.
        warnings.simplefilter("ignore")
        if isinstance(source, Image.Image):
            return _load_pil(source, max_pixels)
        data = read_source_bytes(source)
        return _load_pil(_open_image(data, max_pixels), max_pixels, data)


def read_source_bytes(source: Any) -> bytes:
    """The encoded bytes behind bytes, base64 text, a data URI or a path."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, os.PathLike):
        return _read_file(Path(source))
    if isinstance(source, str):
        return _bytes_from_text(source)
    raise InvalidImage(
        f"unsupported source type {type(source).__name__}: pass bytes, base64 text, a data URI, a path, "
        "a PIL image or a numpy array"
    )


def _read_file(path: Path) -> bytes:
    shown = shortened(str(path))
    if path.is_dir():
        raise InvalidImage(f"is a directory, not an image file: {shown}")
    if not path.exists():
        raise InvalidImage(f"file not found: {shown}")
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidImage(f"cannot read file {shown}: {error.strerror or error}") from error


def _bytes_from_text(text: str) -> bytes:
    stripped = text.strip()
    if not stripped:
        raise InvalidImage("empty input: no image data")
    if stripped[:5].lower() == "data:":
        return _decode_data_uri(stripped)
    if stripped[0] in "<{[":
        raise InvalidImage(_describe_unreadable(stripped.encode("utf-8", "replace")))
    path = _existing_path(stripped)
    if path is not None:
        return _read_file(path)
    return _decode_base64_or_path(stripped)


def _existing_path(text: str) -> Path | None:
    if len(text) > MAX_PATH_LENGTH or "\n" in text:
        return None
    path = Path(text).expanduser()
    try:
        return path if path.exists() else None
    except (OSError, ValueError):  # names too long for the file system, NUL characters
        return None


def _decode_base64_or_path(text: str) -> bytes:
    """Base64 wins when it decodes to something recognisable; otherwise a path-like text was a missing file."""
    try:
        decoded: bytes | None = _decode_base64(text)
        reason = ""
    except ValueError as error:
        decoded, reason = None, str(error)
    recognisable = decoded is not None and (_magic_format(decoded) or _markup_kind(decoded))
    if not recognisable and _looks_like_path(text):
        raise InvalidImage(f"file not found: {shortened(text)}")
    if decoded is None:
        raise InvalidImage(f"not valid base64 ({reason}), and not an existing file either")
    return decoded


def _looks_like_path(text: str) -> bool:
    if len(text) > MAX_PATH_LENGTH or any(c.isspace() for c in text):
        return False
    return "/" in text or "\\" in text or text.startswith("~") or bool(FILE_EXTENSION.search(text))


def _decode_base64(text: str) -> bytes:
    """Standard or URL-safe alphabet, padding optional, whitespace ignored. ValueError says why not."""
    compact = "".join(text.split()).rstrip("=")
    if not compact:
        raise ValueError("no data")
    if bad := NOT_BASE64_CHARACTER.search(compact):
        raise ValueError(f"character {bad.group()!r} at position {bad.start()}")
    if len(compact) % 4 == 1:
        raise ValueError("its length is not possible for base64")
    standard = compact.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(str(error)) from error


def _decode_data_uri(uri: str) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma:
        raise InvalidImage("not a valid data URI: no ',' separates the header from the data")
    parameters = [part.strip().lower() for part in header[5:].split(";")[1:]]
    if "base64" in parameters:
        try:
            data = _decode_base64(payload) if payload.strip() else b""
        except ValueError as error:
            raise InvalidImage(f"not a valid data URI: its base64 data does not decode ({error})") from error
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if not data:
        raise InvalidImage("empty input: the data URI carries no data")
    return data


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Parse only the header; pixels are decoded later, after the declared size has been checked."""
    if not data.strip():
        raise InvalidImage("empty input: no image data")
    try:
        return Image.open(io.BytesIO(data), formats=_input_formats())
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(_bomb_message(error, max_pixels)) from error
    except MemoryError:
        raise
    except Exception as error:  # Pillow's plugins raise many kinds; every one means "unreadable"
        raise InvalidImage(_describe_unreadable(data, error)) from error


def _input_formats() -> tuple[str, ...]:
    Image.init()
    # Image.open raises KeyError for a format whose plugin this Pillow lacks, so offer only those present.
    return tuple(name for name in INPUT_FORMATS if name in Image.OPEN)


def _bomb_message(error: Exception, max_pixels: int) -> str:
    found = BOMB_PIXELS.search(str(error))
    declared = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow will decode"
    return (
        f"image too large: it declares {declared}, over the limit of {max_pixels:,} pixels "
        "(a possible decompression bomb)"
    )


def _load_pil(image: Image.Image, max_pixels: int, data: bytes = b"") -> SourceImage:
    format_name = _format_name(image.format)
    check_declared_size(image.size, max_pixels)
    notes = _frame_notes(image, format_name)
    _decode_pixels(image, format_name)
    mode = image.mode
    icc = image.info.get("icc_profile") or None
    image = _apply_orientation(image, notes)
    if image.mode == "CMYK":
        image, icc = _cmyk_to_srgb(image, icc, notes), None
    planes = _planes_from_pil(image, notes)
    grayscale = planes.grayscale or _png_declares_gray(data)
    icc = _keep_fitting_profile(icc, "GRAY" if grayscale else "RGB", notes)
    notes.extend(_png_precision_notes(data))
    return SourceImage(
        color=planes.color,
        alpha=planes.alpha,
        grayscale=grayscale,
        bit_depth=planes.bit_depth,
        icc_profile=icc,
        format=format_name,
        mode=mode,
        warnings=notes,
    )


def _format_name(pil_format: str | None) -> str:
    # An MPO is a JPEG with extra frames (previews, depth maps): to a user it is a JPEG.
    return "JPEG" if pil_format == "MPO" else (pil_format or "")


def check_declared_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an empty or over-limit size before any pixel is decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidImage(f"zero-size image: {width}x{height} has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image too large: {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} pixels"
        )


def _frame_notes(image: Image.Image, format_name: str) -> list[str]:
    try:
        frames = int(getattr(image, "n_frames", 1))
    except Exception:  # a broken later frame does not spoil the first one
        frames = 1
    if image.tell() != 0:  # counting frames can leave a broken file on another frame
        try:
            image.seek(0)
        except Exception as error:
            raise InvalidImage(f"corrupt {format_name or 'image'} data: {shortened(error_text(error))}") from error
    if frames <= 1 or format_name == "JPEG":
        return []
    if format_name == "TIFF":
        return [f"multi-page TIFF: only the first of {frames} pages is used"]
    return [f"animated {format_name or 'image'}: only the first of {frames} frames is used"]


def _decode_pixels(image: Image.Image, format_name: str) -> None:
    """Decode now, so truncated or corrupt data fails here with a clear message, not later in the pipeline."""
    try:
        image.load()
    except MemoryError:
        raise
    except Exception as error:
        raise InvalidImage(f"truncated or corrupt {format_name or 'image'} data: {shortened(error_text(error))}") from error


def _apply_orientation(image: Image.Image, notes: list[str]) -> Image.Image:
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        notes.append("the EXIF data is unreadable: its orientation is ignored")
        return image
    if orientation not in range(2, 9):
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        notes.append("the EXIF orientation could not be applied: the image is used as stored")
        return image


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """Colour-manage through the embedded CMYK profile when there is a usable one; else a plain conversion."""
    if icc and _profile_color_space(icc) == "CMYK":
        try:
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode="RGB",
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
        notes.append("the CMYK ICC profile could not be applied: colours converted without it")
    elif icc:
        notes.append("the ICC profile does not describe CMYK: colours converted without it")
    return image.convert("RGB")


@dataclass
class _Planes:
    color: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool
    bit_depth: int


def _planes_from_pil(image: Image.Image, notes: list[str]) -> _Planes:
    if image.mode in WIDE_GRAY_MODES:
        return _Planes(_gray_to_rgb(wide_gray_plane(image, notes)), None, True, 16)
    target = _eight_bit_target(image)
    try:
        converted = image if image.mode == target else image.convert(target)
    except (ValueError, OSError) as error:
        raise InvalidImage(f"unsupported colour mode {image.mode}: {shortened(error_text(error))}") from error
    values = np.asarray(converted).astype(np.float32)
    values /= np.float32(255)  # in place: a full-size float copy is already the largest allocation here
    if values.ndim == 2:
        values = values[:, :, np.newaxis]
    has_alpha = target in ("LA", "RGBA")
    alpha = np.ascontiguousarray(values[:, :, -1]) if has_alpha else None
    channels = values[:, :, :-1] if has_alpha else values
    grayscale = channels.shape[2] == 1
    color = _gray_to_rgb(channels[:, :, 0]) if grayscale else np.ascontiguousarray(channels)
    return _Planes(color, alpha, grayscale, 8)


def _eight_bit_target(image: Image.Image) -> str:
    """The PIL mode holding every channel the image has, at 8 bits; converting P/1/RGBa/La/YCbCr... into it."""
    transparent = image.mode in ALPHA_MODES or image.has_transparency_data
    if image.mode in GRAY_MODES:
        return "LA" if transparent else "L"
    return "RGBA" if transparent else "RGB"


def wide_gray_plane(image: Image.Image, notes: list[str] | None = None) -> np.ndarray:
    """I;16*, I and F as float32 in [0, 1], at full precision (PIL's convert to L or RGB would clip at 255)."""
    values = np.asarray(image)
    if image.mode == "F":
        plane = np.nan_to_num(values.astype(np.float32), nan=0.0)
        scale = 1.0 if plane.size == 0 or float(plane.max()) <= 1.0 else 65535.0  # [0, 1] floats or 16-bit range
    else:
        plane, scale = values.astype(np.float32), 65535.0
    if notes is not None and plane.size and (float(plane.min()) < 0 or float(plane.max()) > scale):
        notes.append("pixel values beyond the 16-bit range were clipped")
    return np.clip(plane / np.float32(scale), 0.0, 1.0)


def _gray_to_rgb(plane: np.ndarray) -> np.ndarray:
    return np.repeat(plane[:, :, np.newaxis].astype(np.float32, copy=False), 3, axis=2)


def _png_declares_gray(data: bytes) -> bool:
    """Pillow decodes 16-bit gray+alpha PNGs as RGBA; the header still says they are gray (colour type 4)."""
    return _is_png(data) and data[25] in (0, 4)


def _png_precision_notes(data: bytes) -> list[str]:
    if _is_png(data) and data[24] == 16 and data[25] in (2, 4, 6):
        return ["16-bit colour or alpha PNG: Pillow decodes it at 8 bits per channel"]
    return []


def _png_declares_zero_size(data: bytes) -> bool:
    return _is_png(data) and 0 in struct.unpack(">II", data[16:24])


def _is_png(data: bytes) -> bool:
    return len(data) >= 26 and data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"


def _load_array(array: np.ndarray, max_pixels: int) -> SourceImage:
    if array.ndim in (2, 3):
        check_declared_size((array.shape[1], array.shape[0]), max_pixels)
    planes = _planes_from_array(array)
    mode = _array_mode(planes)
    return SourceImage(planes.color, planes.alpha, planes.grayscale, planes.bit_depth, None, "", mode, [])


def _array_mode(planes: _Planes) -> str:
    if planes.grayscale:
        if planes.alpha is not None:
            return "LA"
        return "I;16" if planes.bit_depth == 16 else "L"
    return "RGBA" if planes.alpha is not None else "RGB"


def _planes_from_array(array: np.ndarray) -> _Planes:
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InvalidImage(f"unsupported array shape {array.shape}: expected HxW, HxWx3 or HxWx4")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImage(f"zero-size image: {array.shape[1]}x{array.shape[0]} has no pixels")
    values, bit_depth = _unit_range(array)
    channels = array.shape[2]
    has_alpha = channels in (2, 4)
    alpha = np.ascontiguousarray(values[:, :, -1]) if has_alpha else None
    color_channels = values[:, :, : channels - 1] if has_alpha else values
    grayscale = color_channels.shape[2] == 1
    color = _gray_to_rgb(color_channels[:, :, 0]) if grayscale else np.ascontiguousarray(color_channels)
    return _Planes(color, alpha, grayscale, bit_depth)


def _unit_range(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Array values as float32 in [0, 1], and the bit depth they came at."""
    if array.dtype == np.bool_:
        return array.astype(np.float32), 8
    if np.issubdtype(array.dtype, np.floating):
        return _clean_unit(array), 8
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidImage(f"unsupported array type {array.dtype}: expected uint8, uint16 or float")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255), 8
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535), 16
    # Other integer types (e.g. int64 from JSON): the value range says which depth they hold.
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise InvalidImage(f"array values {low}..{high} are outside 0..65535: not image data")
    maximum, depth = (255, 8) if high <= 255 else (65535, 16)
    return array.astype(np.float32) / np.float32(maximum), depth


# ------------------------------------------------------------------------------------------ ICC profiles


def _profile_color_space(icc: bytes) -> str | None:
    """'RGB', 'GRAY', 'CMYK', ... from the profile header; None when the bytes are not an ICC profile."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def _keep_fitting_profile(icc: bytes | None, color_space: str, notes: list[str]) -> bytes | None:
    """An output must not carry a profile for another colour space: viewers would misread its colours."""
    if not icc:
        return None
    found = _profile_color_space(icc)
    if found is None:
        notes.append("the embedded ICC profile is unreadable: dropped")
        return None
    if found != color_space:
        notes.append(f"the embedded ICC profile is for {found}, not {color_space}: dropped")
        return None
    return icc


# ------------------------------------------------------------------------------------- diagnosing bad data


def _describe_unreadable(data: bytes, error: Exception | None = None) -> str:
    """A one-line message saying what the data is, since it is not an image we read."""
    if _png_declares_zero_size(data):
        width, height = struct.unpack(">II", data[16:24])
        return f"zero-size image: {width}x{height} has no pixels"
    if format_name := _magic_format(data):
        # Pillow's "cannot identify image file <_io.BytesIO ...>" would only add noise.
        unidentified = error is None or isinstance(error, UnidentifiedImageError)
        reason = "its header cannot be read" if unidentified else shortened(error_text(error))
        return f"truncated or corrupt {format_name} data: {reason}"
    if kind := _markup_kind(data):
        return {
            "svg": f"SVG is not supported: {SEND_RASTER}",
            "html": f"HTML is not an image (perhaps an error page): {SEND_RASTER}",
            "xml": f"XML is not an image: {SEND_RASTER}",
            "json": f"JSON is not an image: {SEND_RASTER}",
        }[kind]
    if other := _other_known_format(data):
        return f"unsupported image format {other}: send {SUPPORTED_LIST}"
    if _text_head(data) is not None:
        return f"plain text is not an image: {SEND_RASTER}"
    return f"not an image: the data is not a {SUPPORTED_LIST} file"


def _magic_format(data: bytes) -> str | None:
    """The supported format the leading bytes announce, whether or not the rest is intact."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:2] == b"BM" and len(data) >= 14 and data[6:10] == b"\x00\x00\x00\x00":  # reserved bytes are zero
        return "BMP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


def _markup_kind(data: bytes) -> str | None:
    text = _text_head(data)
    if text is None or not text or text[0] not in "<{[":
        return None
    if text[0] in "{[":
        return "json"
    if "<svg" in text:
        return "svg"
    if text.startswith(("<!doctype html", "<html")) or "<html" in text or "<body" in text:
        return "html"
    return "xml"


def _text_head(data: bytes) -> str | None:
    """The start of ``data`` as lower-case text without leading space, or None when it is binary."""
    head = data[:4096]
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            head, codec = head[len(bom) :], encoding
            break
    else:
        codec = "utf-8"
    text = head.decode(codec, "replace")
    controls = sum(1 for c in text if (c < " " and c not in "\t\n\r\f") or c == "\ufffd")
    if controls > max(1, len(text) // 100):  # allow a character cut in half at the 4 KiB boundary
        return None
    return text.lstrip().lower()


def _other_known_format(data: bytes) -> str | None:
    """A format Pillow recognises but we do not accept, named for the message."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------- output


def check_output_size(
    size: tuple[int, int], scale: int, max_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
) -> tuple[int, int]:
    """The output size for ``scale``; ``ImageTooLarge`` when it would exceed ``max_pixels``."""
    if not scale > 0:
        raise InvalidInput(f"scale must be positive, not {scale}")
    width, height = size
    out_width, out_height = round(width * scale), round(height * scale)
    pixels = out_width * out_height
    if pixels > max_pixels:
        raise ImageTooLarge(
            f"output too large: {width}x{height} at {scale}x would be {out_width}x{out_height} = {pixels:,} pixels, "
            f"over the limit of {max_pixels:,} pixels"
        )
    return out_width, out_height


def compose(color: np.ndarray, source: SourceImage) -> Image.Image:
    """The final image at ``color``'s size: alpha upscaled with Lanczos, the source's mode and profile restored."""
    rgb = as_float_rgb(color)
    size = (rgb.shape[1], rgb.shape[0])
    alpha = None if source.alpha is None else _clean_unit(lanczos_resize(source.alpha, size))
    if source.grayscale:
        image = _gray_image(_luminance(rgb), alpha, source.bit_depth)
    else:
        image = _color_image(rgb, alpha)
    if source.icc_profile:
        image.info["icc_profile"] = source.icc_profile
    return image


def _clean_unit(values: np.ndarray) -> np.ndarray:
    """NaN to 0, infinities and overshoot clipped into [0, 1], as a new float32 array (the input is untouched)."""
    cleaned = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0, copy=False)
    return np.clip(cleaned, 0.0, 1.0, out=cleaned)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb @ LUMA_WEIGHTS, 0.0, 1.0)


def _quantize(values: np.ndarray, maximum: int, dtype: type) -> np.ndarray:
    return np.rint(values * np.float32(maximum)).astype(dtype)


def _gray_image(gray: np.ndarray, alpha: np.ndarray | None, bit_depth: int) -> Image.Image:
    if alpha is None and bit_depth == 16:
        return Image.fromarray(_quantize(gray, 65535, np.uint16))  # mode I;16
    if alpha is None:
        return Image.fromarray(_quantize(gray, 255, np.uint8))
    return Image.fromarray(_quantize(np.stack([gray, alpha], axis=2), 255, np.uint8))  # mode LA


def _color_image(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    if alpha is None:
        return Image.fromarray(_quantize(rgb, 255, np.uint8))
    return Image.fromarray(_quantize(np.concatenate([rgb, alpha[:, :, np.newaxis]], axis=2), 255, np.uint8))


# ---------------------------------------------------------------------------------------------- encoding


def encode_image(image: Image.Image, format: str = "png", quality: int | None = None) -> EncodedImage:
    """Write ``image`` as PNG, JPEG or WebP, embedding its ICC profile; warnings say what had to change."""
    wanted = _normalize_format(format)
    quality = _checked_quality(quality, wanted)
    notes: list[str] = []
    image = _drop_opaque_alpha(image) if wanted == "jpeg" else image
    written = _writable_format(image, wanted, notes)
    prepared = _prepare_mode(image, written, notes)
    icc = _keep_fitting_profile(image.info.get("icc_profile"), _color_space_of(prepared), notes)
    data = _save(prepared, written, quality, icc)
    return EncodedImage(data=data, format=written, mime=MIME_TYPES[written], warnings=tuple(notes))


def to_data_uri(encoded: EncodedImage) -> str:
    return f"data:{encoded.mime};base64,{base64.b64encode(encoded.data).decode('ascii')}"


def _normalize_format(format: str) -> str:
    name = str(format).strip().lower().lstrip(".")
    name = FORMAT_ALIASES.get(name, name)
    if name not in FORMATS:
        raise InvalidInput(f"unknown output format {format!r}: choose png, jpeg or webp")
    return name


def _checked_quality(quality: int | None, format_name: str) -> int | None:
    if quality is None:
        return DEFAULT_QUALITY[format_name]
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 1 <= quality <= 100:
        raise InvalidInput(f"quality must be a whole number from 1 to 100, not {quality!r}")
    return int(quality)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA_MODES or image.has_transparency_data


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """A fully opaque alpha channel carries nothing, so it need not stop an image from being a JPEG."""
    if image.mode not in ("RGBA", "LA") or image.getchannel("A").getextrema() != (255, 255):
        return image
    opaque = image.convert("RGB" if image.mode == "RGBA" else "L")
    opaque.info = dict(image.info)
    return opaque


def _writable_format(image: Image.Image, wanted: str, notes: list[str]) -> str:
    if wanted == "jpeg" and _has_alpha(image):
        notes.append("JPEG has no transparency: written as PNG")
        return "png"
    limit = MAX_SIDE.get(wanted)
    if limit is not None and max(image.size) > limit:
        notes.append(f"{wanted.upper()} is limited to {limit} pixels a side: written as PNG")
        return "png"
    return wanted


def _prepare_mode(image: Image.Image, format_name: str, notes: list[str]) -> Image.Image:
    """Convert to a mode the encoder writes faithfully (never through PIL's clipping 16-to-8-bit convert)."""
    mode = image.mode
    if mode in ("I;16", "I;16B") and format_name == "png":
        return image
    if mode in WIDE_GRAY_MODES and format_name == "png":
        return _with_info(Image.fromarray(_wide_to(image, 65535, np.uint16)), image)
    if mode in WIDE_GRAY_MODES:
        notes.append(f"{format_name.upper()} stores 8 bits per channel: the 16-bit image was written as 8-bit")
        image = _with_info(Image.fromarray(_wide_to(image, 255, np.uint8)), image)
    return _convert_for(image, format_name)


def _wide_to(image: Image.Image, maximum: int, dtype: type) -> np.ndarray:
    return _quantize(wide_gray_plane(image), maximum, dtype)


def _convert_for(image: Image.Image, format_name: str) -> Image.Image:
    target = _encoder_mode(image, format_name)
    return image if image.mode == target else _with_info(image.convert(target), image)


def _encoder_mode(image: Image.Image, format_name: str) -> str:
    gray, alpha = image.mode in GRAY_MODES, _has_alpha(image)
    if format_name == "png" and image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"):
        return image.mode
    if format_name == "jpeg":
        return "L" if gray else "RGB"
    if format_name == "webp":  # WebP has no gray modes
        return "RGBA" if alpha else "RGB"
    if gray:
        return "LA" if alpha else "L"
    return "RGBA" if alpha else "RGB"


def _with_info(converted: Image.Image, original: Image.Image) -> Image.Image:
    converted.info = {key: value for key, value in original.info.items() if key != "transparency"}
    return converted


def _color_space_of(image: Image.Image) -> str:
    return "GRAY" if image.mode in GRAY_MODES else "RGB"


def _save(image: Image.Image, format_name: str, quality: int | None, icc: bytes | None) -> bytes:
    options: dict[str, Any] = {"icc_profile": icc}
    if format_name == "jpeg":
        options.update(quality=quality, optimize=True)
        if quality is not None and quality >= FULL_CHROMA_QUALITY:
            options["subsampling"] = 0
    elif format_name == "webp":
        options.update(quality=quality)
    buffer = io.BytesIO()
    image.save(buffer, format_name.upper(), **options)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------ provider outputs


def decode_output(data: Any, *, max_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS) -> np.ndarray:
    """A provider's answer (bytes, base64, data URI, path, PIL image or array) as float32 HxWx3 RGB in [0, 1].

    Every failure, an over-limit size included, is an ``InvalidImage``.
    """
    try:
        if isinstance(data, np.ndarray):
            return as_float_rgb(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = data if isinstance(data, Image.Image) else _open_image(read_source_bytes(data), max_pixels)
            check_declared_size(image.size, max_pixels)
            _decode_pixels(image, _format_name(image.format))
            return as_float_rgb(image)
    except ImageTooLarge as error:
        raise InvalidImage(str(error)) from error


def as_float_rgb(image: Any) -> np.ndarray:
    """A PIL image (any mode) or uint8 / uint16 / float array as float32 HxWx3 in [0, 1]; alpha is dropped."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 3 and np.issubdtype(image.dtype, np.floating):
            return _clean_unit(image)  # the common case, with a single copy
        return _planes_from_array(image).color
    if isinstance(image, Image.Image):
        return _pil_to_float_rgb(image)
    raise InvalidImage(f"cannot read an image from {type(image).__name__}: expected a PIL image or a numpy array")


def _pil_to_float_rgb(image: Image.Image) -> np.ndarray:
    if image.size[0] <= 0 or image.size[1] <= 0:
        raise InvalidImage(f"zero-size image: {image.size[0]}x{image.size[1]} has no pixels")
    if image.mode in WIDE_GRAY_MODES:
        return _gray_to_rgb(wide_gray_plane(image))
    if image.mode in GRAY_MODES:
        return _gray_to_rgb(np.asarray(image.convert("L")).astype(np.float32) / np.float32(255))
    converted = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(converted).astype(np.float32) / np.float32(255)
