"""The encoded bytes behind what a caller passes: bytes, base64 text, a data URI or a path."""

from __future__ import annotations

import base64
import binascii
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import InvalidImage
from ..text import shortened
from .sniff import describe_unreadable, magic_format, markup_kind

# Text is never a path or base64 longer than this; skipping the file-system lookup keeps huge strings cheap.
MAX_PATH_LENGTH = 4096
FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
NOT_BASE64_CHARACTER = re.compile(r"[^A-Za-z0-9+/\-_]")


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
        raise InvalidImage(describe_unreadable(stripped.encode("utf-8", "replace")))
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
