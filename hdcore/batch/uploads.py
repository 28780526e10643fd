"""A batch from uploads: images as they are and the image members of zips, bounded before anything expands.

The limits hold for the batch as a whole, every upload together (``BatchLimits``): the uploads are planned from
what they declare (an image's own length; each zip's central directory, never its data), the plan is cut to the
first ``max_images`` images and to ``max_total_bytes`` declared together, and only then is any member read.
A zip that cannot be used at all is one problem line; a member that cannot be used is a note and the others go
on; the members that are no images are counted in one note per zip, with a few of their names.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import zipfile
from dataclasses import dataclass
from typing import Callable, Sequence

from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..errors import InvalidInput
from ..text import human_bytes, one_line
from .inputs import IMAGE_SUFFIXES
from .names import UniqueNames, display_name

# The largest file an accepted image can be: every pixel stored raw at 4 bytes (8-bit RGBA or CMYK in an
# uncompressed BMP or TIFF; 16-bit gray is 2 bytes), plus 1 MiB for headers, EXIF and ICC profiles.
RAW_BYTES_PER_PIXEL = 4
HEADER_ALLOWANCE_MB = 1
MIB = 1024 * 1024  # Streamlit's server.maxUploadSize counts megabytes of 1024 * 1024 bytes


def upload_limit_mb(max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> int:
    """The largest upload for hdcore's input limit, in MiB: 16 MP x 4 bytes = 64 MiB, + 1 = 65."""
    return math.ceil(max_input_pixels * RAW_BYTES_PER_PIXEL / MIB) + HEADER_ALLOWANCE_MB


BATCH_MAX_IMAGES = 100  # images per batch, zip members included
SHOWN_NAMES = 3  # of the files a zip's note counts as left out


@dataclass(frozen=True)
class BatchLimits:
    """What one batch may hold, all its uploads together."""

    max_images: int = BATCH_MAX_IMAGES
    max_total_bytes: int = 512 * MIB  # the images' declared, uncompressed sizes, all together
    max_member_bytes: int = upload_limit_mb() * MIB  # one image: no more than the uploader accepts on its own
    max_entries: int = 10_000  # a zip's entries of any kind
    # A zip's central directory, which zipfile parses whole on opening: 65 MiB of it lists ~800,000 entries and
    # took 5 s and 465 MiB to open (measured); 10,000 entries with 800-byte names fit in 8 MiB.
    max_directory_bytes: int = 8 * MIB


@dataclass(frozen=True)
class BatchInput:
    """One image of a batch: its safe, unique name (a zip member keeps its folder) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class _Planned:
    """An image the batch may take: its name as it came, its declared size, and how to read it."""

    name: str
    declared: int
    read: Callable[[], bytes]


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def batch_inputs(uploads: Sequence[tuple[str, bytes]], limits: BatchLimits = BatchLimits()
                 ) -> tuple[list[BatchInput], list[str]]:  # fmt: skip
    """The uploads as a batch: images as they are, each zip's image members, named safely and uniquely
    (``names.UniqueNames``: "photo.png", "photo-2.png"); and one-line problems (a bad zip, members left out,
    the images over the batch's limits)."""
    planned: list[_Planned] = []
    problems: list[str] = []
    with contextlib.ExitStack() as open_zips:
        for name, data in uploads:
            if not is_zip_name(name):
                planned.append(_Planned(name, len(data), lambda data=data: data))
                continue
            try:
                archive = open_zips.enter_context(_opened_zip(name, data, limits))
            except InvalidInput as error:
                problems.append(one_line(str(error)))
                continue
            members, notes = _zip_plan(name, archive, limits)
            planned += members
            problems += notes
        taken, cut = _within_limits(planned, limits)
        return _read(taken, problems + cut)


def _read(taken: list[_Planned], problems: list[str]) -> tuple[list[BatchInput], list[str]]:
    names = UniqueNames()
    found = []
    for one in taken:
        try:
            data = one.read()
        except InvalidInput as error:
            problems.append(one_line(str(error)))
            continue
        found.append(BatchInput(names.name(one.name), data))
    return found, problems


def _within_limits(planned: list[_Planned], limits: BatchLimits) -> tuple[list[_Planned], list[str]]:
    """The first images, in order, that fit the batch's image count and declared bytes; and what was cut."""
    problems = []
    if len(planned) > limits.max_images:
        problems.append(f"{len(planned)} images: only the first {limits.max_images} are enhanced")
        planned = planned[: limits.max_images]
    total, taken = 0, []
    for one in planned:
        if total + one.declared > limits.max_total_bytes:
            problems.append(f"the images after the first {len(taken)} declare more than "
                            f"{human_bytes(limits.max_total_bytes)} together: {len(planned) - len(taken)} left out")  # fmt: skip
            break
        total += one.declared
        taken.append(one)
    return taken, problems


@contextlib.contextmanager
def _opened_zip(name: str, data: bytes, limits: BatchLimits):
    shown = display_name(name)
    entries, directory_bytes = _central_directory(data)
    if entries > limits.max_entries:
        raise InvalidInput(f"{shown}: the zip lists {entries:,} entries (at most {limits.max_entries:,})")
    if directory_bytes > limits.max_directory_bytes:
        raise InvalidInput(f"{shown}: the zip's list of entries takes {human_bytes(directory_bytes)} "
                           f"(at most {human_bytes(limits.max_directory_bytes)})")  # fmt: skip
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise InvalidInput(f"{shown}: not a readable zip file ({one_line(str(error)) or 'bad zip'})") from None
    with archive:
        yield archive


def _zip_plan(name: str, archive: zipfile.ZipFile, limits: BatchLimits) -> tuple[list[_Planned], list[str]]:
    """A zip's image members (by name: folders, hidden files and other files are left out), from its central
    directory only; notes about what was left out. A member that lies about its size cannot expand further
    than it declared: reading stops there."""
    shown = display_name(name)
    planned, others, notes = [], [], []
    members = archive.infolist()
    if len(members) > limits.max_entries:  # the end record understated it
        return [], [f"{shown}: the zip lists {len(members):,} entries (at most {limits.max_entries:,})"]
    for info in members:
        if info.is_dir():
            continue
        base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if base.startswith(".") or "__MACOSX/" in info.filename or not _is_image_member(base):
            others.append(info.filename)
        elif info.file_size > limits.max_member_bytes:
            notes.append(f"{shown}: {display_name(info.filename)} left out: it declares "
                         f"{human_bytes(info.file_size)} uncompressed (at most {human_bytes(limits.max_member_bytes)} "
                         "per image)")  # fmt: skip
        else:
            planned.append(_Planned(info.filename, info.file_size, _member_reader(shown, archive, info)))
    if others:
        notes.insert(0, _left_out_note(shown, others))
    return planned, notes


def _left_out_note(shown: str, others: list[str]) -> str:
    """ "set.zip: readme.txt left out (not an image)", or "set.zip: 2,994 other files left out (not images):
    a.txt, b.doc, c.txt and 2,991 more"."""
    if len(others) == 1:
        return f"{shown}: {display_name(others[0])} left out (not an image)"
    names = ", ".join(display_name(name, 40) for name in others[:SHOWN_NAMES])
    more = f" and {len(others) - SHOWN_NAMES:,} more" if len(others) > SHOWN_NAMES else ""
    return f"{shown}: {len(others):,} other files left out (not images): {names}{more}"


def _member_reader(shown: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as member:
                return member.read(info.file_size + 1)[: info.file_size]
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError) as error:
            reason = one_line(str(error)) or type(error).__name__
            raise InvalidInput(f"{shown}: {display_name(info.filename)} cannot be read ({reason})") from None

    return read


def _is_image_member(base: str) -> bool:
    return "." in base and "." + base.rsplit(".", 1)[1].lower() in IMAGE_SUFFIXES


END_RECORD = b"PK\x05\x06"  # the end of central directory record: 22 bytes + a comment of up to 65,535
END_RECORD_SEARCH = 22 + 65_535
ZIP64_LOCATOR = b"PK\x06\x07"
ZIP64_END_RECORD = b"PK\x06\x06"


def _central_directory(data: bytes) -> tuple[int, int]:
    """The entry count and the size in bytes of a zip's central directory, from its end records (zip64
    included), read before zipfile parses the directory itself; (0, 0) when there is none (zipfile then
    says what is wrong)."""
    at = data.rfind(END_RECORD, max(0, len(data) - END_RECORD_SEARCH))
    if at < 0 or len(data) < at + 22:
        return 0, 0
    entries, size = struct.unpack_from("<HI", data, at + 10)
    locator = at - 20
    if (entries == 0xFFFF or size == 0xFFFFFFFF) and locator >= 0 and data[locator : locator + 4] == ZIP64_LOCATOR:
        (record,) = struct.unpack_from("<Q", data, locator + 8)
        if record + 56 <= len(data) and data[record : record + 4] == ZIP64_END_RECORD:
            entries, size = struct.unpack_from("<QQ", data, record + 32)
    return entries, size
