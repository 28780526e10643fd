"""A batch from uploads: images as they are and the image members of zips, bounded before anything expands."""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from typing import Sequence

from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..errors import InvalidInput
from ..text import human_bytes, one_line
from .inputs import IMAGE_SUFFIXES

# The largest file an accepted image can be: every pixel stored raw at 4 bytes (8-bit RGBA or CMYK in an
# uncompressed BMP or TIFF; 16-bit gray is 2 bytes), plus 1 MiB for headers, EXIF and ICC profiles.
RAW_BYTES_PER_PIXEL = 4
HEADER_ALLOWANCE_MB = 1
MIB = 1024 * 1024  # Streamlit's server.maxUploadSize counts megabytes of 1024 * 1024 bytes


def upload_limit_mb(max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> int:
    """The largest upload for hdcore's input limit, in MiB: 16 MP x 4 bytes = 64 MiB, + 1 = 65."""
    return math.ceil(max_input_pixels * RAW_BYTES_PER_PIXEL / MIB) + HEADER_ALLOWANCE_MB


BATCH_MAX_IMAGES = 100  # images per batch, zip members included
ZIP_MAX_TOTAL_BYTES = 512 * MIB  # the declared, uncompressed size of a zip's images, all together
ZIP_MAX_MEMBER_BYTES = upload_limit_mb() * MIB  # one image: no more than the uploader accepts on its own
ZIP_MAX_MEMBERS = 10_000  # entries of any kind: a zip listing more is refused before anything is read


@dataclass(frozen=True)
class BatchInput:
    """One image of a batch: its name (a zip member keeps its folder) and its bytes."""

    name: str
    data: bytes


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def read_zip_images(
    name: str,
    data: bytes,
    *,
    max_images: int = BATCH_MAX_IMAGES,
    max_total_bytes: int = ZIP_MAX_TOTAL_BYTES,
    max_member_bytes: int = ZIP_MAX_MEMBER_BYTES,
) -> tuple[list[BatchInput], list[str]]:
    """The image members of a zip (by name: folders, hidden files and other files are left out and noted), and
    notes about what was left out.

    Zip bombs are refused from the central directory, before anything is decompressed: too many entries or images,
    an image declaring more than ``max_member_bytes``, or images declaring more than ``max_total_bytes`` together.
    Reading then stops at each member's declared size, so a member that lies about it cannot expand further.
    Raises ``InvalidInput`` with a one-line reason for a zip that cannot be used as a whole.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise InvalidInput(f"{name}: not a readable zip file ({one_line(str(error)) or 'bad zip'})") from None
    with archive:
        members = archive.infolist()
        if len(members) > ZIP_MAX_MEMBERS:
            raise InvalidInput(f"{name}: the zip lists {len(members):,} entries (at most {ZIP_MAX_MEMBERS:,})")
        wanted, notes = [], []
        for info in members:
            if info.is_dir():
                continue
            base = info.filename.rsplit("/", 1)[-1]
            if base.startswith(".") or "__MACOSX/" in info.filename or not _is_image_member(base):
                notes.append(f"{name}: {info.filename} left out (not an image)")
                continue
            if info.file_size > max_member_bytes:
                raise InvalidInput(f"{name}: {info.filename} declares {human_bytes(info.file_size)} uncompressed "
                                   f"(at most {human_bytes(max_member_bytes)} per image)")  # fmt: skip
            wanted.append(info)
        if len(wanted) > max_images:
            raise InvalidInput(f"{name}: the zip holds {len(wanted)} images (at most {max_images} per batch)")
        total = sum(info.file_size for info in wanted)
        if total > max_total_bytes:
            raise InvalidInput(f"{name}: its images declare {human_bytes(total)} uncompressed "
                               f"(at most {human_bytes(max_total_bytes)})")  # fmt: skip
        found = []
        for info in wanted:
            try:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError) as error:
                notes.append(f"{name}: {info.filename} cannot be read ({one_line(str(error)) or type(error).__name__})")
                continue
            found.append(BatchInput(_safe_member_name(info.filename), content[: info.file_size]))
    return found, notes


def _is_image_member(base: str) -> bool:
    return "." in base and "." + base.rsplit(".", 1)[1].lower() in IMAGE_SUFFIXES


def _safe_member_name(filename: str) -> str:
    """A member's path with no way out of the folder it is unpacked in ("../", "/", "C:", empty parts dropped)."""
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..") and not p.endswith(":")]
    return "/".join(parts) or "image"


def batch_inputs(uploads: Sequence[tuple[str, bytes]], max_images: int = BATCH_MAX_IMAGES
                 ) -> tuple[list[BatchInput], list[str]]:  # fmt: skip
    """The uploads as a batch: images as they are, each zip's image members; and one-line problems (a bad zip,
    members left out, too many images). Names are made unique ("photo.png", "photo-2.png")."""
    found: list[BatchInput] = []
    problems: list[str] = []
    for name, data in uploads:
        if is_zip_name(name):
            try:
                members, notes = read_zip_images(name, data, max_images=max_images)
            except InvalidInput as error:
                problems.append(one_line(str(error)))
                continue
            found += members
            problems += notes
        else:
            found.append(BatchInput(_safe_member_name(name), data))
    if len(found) > max_images:
        problems.append(f"{len(found)} images: only the first {max_images} are enhanced")
        found = found[:max_images]
    taken: set[str] = set()
    return [BatchInput(_unique_batch_name(i.name, taken), i.data) for i in found], problems


def _unique_batch_name(name: str, taken: set[str]) -> str:
    """Unique by folder and stem (case-insensitive), as the outputs are: "a.png" and "a.jpg" would both give
    "a_x2.png", so the second becomes "a-2.jpg"."""
    stem, dot, suffix = name.rpartition(".") if "." in name.rsplit("/", 1)[-1] else (name, "", "")
    candidate, number = name, 1
    while (candidate.rpartition(".")[0] if dot else candidate).lower() in taken:
        number += 1
        candidate = f"{stem}-{number}.{suffix}" if dot else f"{name}-{number}"
    taken.add((candidate.rpartition(".")[0] if dot else candidate).lower())
    return candidate


