"""The encoded bytes behind what a caller passes: bytes, base64 text, a data URI or (where allowed) a path.

A string is read as a path only when the caller allows paths: the library and the CLI do, the seed's JSON
contract and any HTTP front do not, since there a path would let a remote caller read the server's files, learn
which exist, hang the process on a FIFO or exhaust memory on ``/dev/zero``. With paths refused, text is only
ever base64 or a data URI, and no message depends on the file system. Where paths are allowed, only regular
files outside ``/dev``, ``/proc`` and ``/sys`` are read, opened without blocking, and their size is checked
before the first byte is read. Every source is bounded by ``max_source_bytes`` of the pixel limit.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import urllib.parse
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..errors import ImageTooLarge, InvalidImage
from ..text import shortened
from .sniff import describe_unreadable, magic_format, markup_kind

# Text is never a path or base64 longer than this; skipping the file-system lookup keeps huge strings cheap.
MAX_PATH_LENGTH = 4096
FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
NOT_BASE64_CHARACTER = re.compile(r"[^A-Za-z0-9+/\-_]")
# Devices, kernel and process files: never image files, and reading them can block, never end, or leak secrets.
SYSTEM_TREES = ("/dev", "/proc", "/sys")
# Uncompressed 16-bit RGBA (TIFF) takes 8 bytes a pixel, the most any accepted format needs for an image within
# the pixel limit; the 64 MiB floor leaves room for metadata and previews when the limit is small.
BYTES_PER_PIXEL_CAP = 8
MIN_SOURCE_BYTES_CAP = 64 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def max_source_bytes(max_pixels: int) -> int:
    """The most encoded bytes an image within ``max_pixels`` can take."""
    return max(MIN_SOURCE_BYTES_CAP, max_pixels * BYTES_PER_PIXEL_CAP)


def read_source_bytes(
    source: Any, *, allow_paths: bool = True, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS
) -> bytes:
    """The encoded bytes behind bytes, base64 text, a data URI or (with ``allow_paths``) a path.

    More bytes than an image within ``max_pixels`` can take is an ``ImageTooLarge``, found before reading.
    """
    limit = max_source_bytes(max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)  # no copy for bytes; the length of a memoryview's bytes, whatever its item size
        _check_length(len(data), limit, "image data")
        return data
    if isinstance(source, os.PathLike):
        if not allow_paths:
            raise InvalidImage("paths are not accepted here: send the image itself as bytes, base64 text or a data URI")
        return read_file(Path(source), limit)
    if isinstance(source, str):
        return _bytes_from_text(source, allow_paths, limit)
    kinds = "bytes, base64 text, a data URI, a path" if allow_paths else "bytes, base64 text, a data URI"
    raise InvalidImage(f"unsupported source type {type(source).__name__}: pass {kinds}, a PIL image or a numpy array")


def read_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, refused before reading when there are more than ``max_bytes``."""
    shown = shortened(str(path))
    real = _resolved(path, shown)
    if any(real == tree or real.startswith(tree + os.sep) for tree in SYSTEM_TREES):
        raise InvalidImage(f"not a regular file: {shown} is a device or system file")
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        descriptor = os.open(real, _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise InvalidImage(f"file not found: {shown}") from None
    except OSError as error:
        raise InvalidImage(f"cannot read file {shown}: {error.strerror or error}") from error
    try:
        _check_regular_file(os.fstat(descriptor), shown, max_bytes)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as file:
        try:
            data = file.read(max_bytes + 1)
        except OSError as error:
            raise InvalidImage(f"cannot read file {shown}: {error.strerror or error}") from error
    _check_length(len(data), max_bytes, f"file {shown}")  # it grew after it was measured
    return data


def _resolved(path: Path, shown: str) -> str:
    try:
        return os.path.realpath(path.expanduser())
    except (OSError, ValueError) as error:  # NUL characters, loops, names too long for the file system
        raise InvalidImage(f"cannot read file {shown}: {error}") from error


def _check_regular_file(info: os.stat_result, shown: str, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise InvalidImage(f"is a directory, not an image file: {shown}")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidImage(f"not a regular file: {shown} is a device, pipe or socket")
    _check_length(info.st_size, max_bytes, f"file {shown}")


def _check_length(length: int, limit: int, what: str) -> None:
    if length > limit:
        raise ImageTooLarge(
            f"{what} is too large: {length:,} bytes, over the limit of {limit:,} bytes "
            "for an image within the pixel limit"
        )


def _bytes_from_text(text: str, allow_paths: bool, limit: int) -> bytes:
    stripped = text.strip()
    if not stripped:
        raise InvalidImage("empty input: no image data")
    _check_length(len(stripped) * 3 // 4, limit, "image data")  # what the base64 would decode to, at most
    if stripped[:5].lower() == "data:":
        return _decode_data_uri(stripped)
    if stripped[0] in "<{[":
        raise InvalidImage(describe_unreadable(stripped.encode("utf-8", "replace")))
    if not allow_paths:
        return _decode_base64_only(stripped)
    path = _existing_path(stripped)
    if path is not None:
        return read_file(path, limit)
    return _decode_base64_or_path(stripped)


def _decode_base64_only(text: str) -> bytes:
    try:
        return decode_base64(text)
    except ValueError as error:
        raise InvalidImage(f"not valid base64 ({error}): send the image as base64 text or a data URI") from error


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
        decoded: bytes | None = decode_base64(text)
        reason = ""
    except ValueError as error:
        decoded, reason = None, str(error)
    recognisable = decoded is not None and (magic_format(decoded) or markup_kind(decoded))
    if not recognisable and _looks_like_path(text):
        raise InvalidImage(f"file not found: {shortened(text)}")
    if decoded is None:
        raise InvalidImage(f"not valid base64 ({reason}), and not an existing file either")
    return decoded


def _looks_like_path(text: str) -> bool:
    if len(text) > MAX_PATH_LENGTH or any(c.isspace() for c in text):
        return False
    return "/" in text or "\\" in text or text.startswith("~") or bool(FILE_EXTENSION.search(text))


def decode_base64(text: str) -> bytes:
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
            data = decode_base64(payload) if payload.strip() else b""
        except ValueError as error:
            raise InvalidImage(f"not a valid data URI: its base64 data does not decode ({error})") from error
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if not data:
        raise InvalidImage("empty input: the data URI carries no data")
    return data
