"""Resume: the output a previous run left for an input, if and only if this run would have written it.

A file at the output's name is trusted only when it is a regular file (not a symlink: it would put another file
into the zip), complete (a PNG ends with IEND, a JPEG with EOI, a WebP's RIFF header counts its length), of the
format this run writes (PNG only where the encoder falls back to it: a JPEG asked for an image with alpha, or a
side over the format's limit), at the size this run makes (the input's upright size, from its header, times the
scale), and decodes whole. Anything else (0 bytes, cut short, another size or format) is made again.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from .. import images
from ..errors import HDCoreError
from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..images.formats import ALPHA_MODES, MAX_SIDE
from .inputs import SUFFIXES, BatchItem

PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
ANIMATION_FORMATS = {".gif": "gif", ".webp": "webp", ".png": "png", ".apng": "png"}  # an animation keeps its own
BYTES_PER_OUTPUT_PIXEL = 8  # 16-bit RGBA, uncompressed: no output file of a given size can be larger
ORIENTATION = 0x0112
TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def existing_output(item: BatchItem, scale: float | Callable[[tuple[int, int]], tuple[int, int]], format: str = "png",
                    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> Path | None:  # fmt: skip
    """The complete output a previous run wrote for ``item`` (see the module's rules), else None.

    ``scale``: the factor, or a function from the input's (width, height) to the output's (a target size)."""
    expected = _expected_output(item.source, scale, max_input_pixels)
    if expected is None:  # the input cannot be read: the run will say why
        return None
    size, has_alpha = expected
    wanted = images.FORMAT_ALIASES.get(format, format)
    candidates = list(_candidates(item.output, wanted, size, has_alpha))
    own = ANIMATION_FORMATS.get(item.source.suffix.lower())
    if own is not None and _is_animation(item.source, max_input_pixels):  # written in its own format
        candidates.append((item.output.with_suffix(item.source.suffix.lower()), own))
    for path, written in candidates:
        if _is_complete(path, written, size):
            return path
    return None


def _is_animation(source: Path, max_pixels: int) -> bool:
    try:
        return images.probe_animation(images.read_source_bytes(source, max_pixels=max_pixels)) is not None
    except HDCoreError:
        return False


def _candidates(output: Path, wanted: str, size: tuple[int, int], has_alpha: bool) -> Iterator[tuple[Path, str]]:
    yield output, wanted
    falls_back = (wanted == "jpeg" and has_alpha) or max(size) > MAX_SIDE.get(wanted, max(size))
    if wanted != "png" and falls_back:
        yield output.with_suffix(SUFFIXES["png"]), "png"


def _expected_output(source: Path, scale: float | Callable[[tuple[int, int]], tuple[int, int]],
                     max_pixels: int) -> tuple[tuple[int, int], bool] | None:  # fmt: skip
    """The output size a run makes from ``source`` (its upright size times ``scale``) and whether it may have
    alpha, from the input's header; None when it cannot be read."""
    try:
        # Never a FIFO or a device (opened without blocking), never more bytes than an input may have.
        data = images.read_source_bytes(source, max_pixels=max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                orientation = image.getexif().get(ORIENTATION, 1)
                has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info
    except Exception:  # Pillow's plugins raise many kinds; every one means "cannot tell"
        return None
    if orientation in TRANSPOSED:
        width, height = height, width
    if callable(scale):
        try:
            return scale((width, height)), has_alpha
        except HDCoreError:  # a size the run will refuse: nothing written before is its output
            return None
    return (round(width * scale), round(height * scale)), has_alpha


def _is_complete(path: Path, written: str, size: tuple[int, int]) -> bool:
    data = _regular_file_bytes(path, size[0] * size[1] * BYTES_PER_OUTPUT_PIXEL + (1 << 20))
    if not data or not _ends_whole(data, written):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[written]]) as image:
                if image.size != size:
                    return False
                image.load()
    except Exception:  # truncated, corrupt, or another format under this name
        return False
    return True


def _regular_file_bytes(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file, opened without following a symlink, of at most ``limit``
    bytes; else nothing."""
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except OSError:  # missing, a symlink (ELOOP), unreadable
        return b""
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return b""
        return file.read(limit + 1)


def _ends_whole(data: bytes, written: str) -> bool:
    """Whether the file is all there: a decoder may accept a PNG cut after its pixels, or a JPEG without EOI."""
    if written == "png":
        return data.endswith(b"IEND\xaeB`\x82")
    if written == "jpeg":
        return data.endswith(b"\xff\xd9")
    if written == "gif":
        return data.endswith(b";")  # the GIF trailer
    return len(data) >= 12 and data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") + 8 == len(data)

