"""What a batch leaves behind: each output written atomically, ``attempts.csv`` (one row per tier tried per
image) and the zip of it all.

Outputs and the zip are written through ``files.replaced_atomically`` (an exclusive temporary, renamed at the
end, removed on failure). The zip packs only outputs that are regular files, read without following a symlink:
one planted where an output belongs never puts another file into the zip.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, Sequence

from .. import images
from ..files import replaced_atomically
from ..text import csv_table
from .inputs import SUFFIXES
from .names import UniqueNames

if TYPE_CHECKING:
    from .run import ItemResult


def write_output(planned: Path, encoded: images.EncodedImage) -> Path:
    """Write beside the final name, then rename: a crash never leaves a partial file under the final name, and a
    failure (a full disk) leaves no temporary either."""
    path = _with_written_suffix(planned, encoded.format)
    with replaced_atomically(path) as file:
        file.write(encoded.data)
    return path


WRITTEN_SUFFIXES = {**SUFFIXES, "gif": ".gif"}  # an animation is written in its own format, GIF included


def _with_written_suffix(planned: Path, written_format: str) -> Path:
    accepted = {".jpg", ".jpeg"} if written_format == "jpeg" else {WRITTEN_SUFFIXES[written_format]}
    return planned if planned.suffix.lower() in accepted else planned.with_suffix(WRITTEN_SUFFIXES[written_format])


CSV_COLUMNS = (
    "input", "output", "status", "error", "tier", "provider", "model", "outcome", "reason", "latency_s",
    "cost_usd", "cost_kind", "lr_psnr", "lr_ssim", "sharpness",
)


def attempts_csv(results: Sequence["ItemResult"]) -> str:
    """One row per tier tried per image (one row for a skipped image or one refused before any tier). Names and
    servers' errors come from outside: ``csv_table`` makes each cell safe to open in a spreadsheet."""
    return csv_table([row for result in results for row in _csv_rows(result)], CSV_COLUMNS)


def _csv_rows(result: "ItemResult") -> list[dict[str, Any]]:
    base = {"input": str(result.item.source), "output": str(result.output or ""), "status": result.status,
            "error": result.error}
    if not result.attempts:
        return [base]
    quality = result.record.get("quality") or {}
    rows = []
    for attempt in result.attempts:
        row = {**base, **{key: value for key, value in attempt.to_dict().items() if key in CSV_COLUMNS}}
        if attempt.ok:
            row.update({key: quality.get(key) for key in ("lr_psnr", "lr_ssim", "sharpness")})
        rows.append(row)
    return rows


def write_zip(results: Sequence["ItemResult"], target: str | Path | IO[bytes]) -> None:
    """A zip of every output written or found (skipped) by the batch, plus ``attempts.csv``, whose output column
    names each file as it is in the zip. A file name ``target`` is written atomically: a failure (a full disk)
    leaves no zip, not even an empty one."""
    if isinstance(target, (str, os.PathLike)):
        with replaced_atomically(target) as file:
            _pack(results, file)
    else:
        _pack(results, target)


def _pack(results: Sequence["ItemResult"], target: IO[bytes]) -> None:
    names = UniqueNames()  # unique as an unzip tool on any system needs: by case, and never a file and a folder
    names.name("attempts.csv")
    packed = []
    with zipfile.ZipFile(target, "w") as archive:
        for result in results:
            entry = None
            if result.output is not None:
                wanted = PurePosixPath(result.item.archive_name).with_suffix(result.output.suffix).as_posix()
                entry = names.name(wanted)
                if not _pack_file(archive, result.output, entry):
                    entry = None
            packed.append(dataclasses.replace(result, output=Path(entry) if entry else None))
        archive.writestr("attempts.csv", attempts_csv(packed), compress_type=zipfile.ZIP_DEFLATED)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # a zip cannot hold an earlier time
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _pack_file(archive: zipfile.ZipFile, path: Path, entry: str) -> bool:
    """``path`` into ``archive`` as ``entry`` if it is a regular file (never through a symlink); False if not."""
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except OSError:  # gone, a symlink (ELOOP), unreadable
        return False
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return False
        member = zipfile.ZipInfo(entry, max(time.localtime(info.st_mtime)[:6], ZIP_EPOCH))
        member.external_attr = (stat.S_IMODE(info.st_mode) | stat.S_IFREG) << 16
        member.compress_type = zipfile.ZIP_STORED  # images are compressed already: storing loses nothing
        with archive.open(member, "w", force_zip64=info.st_size >= zipfile.ZIP64_LIMIT) as packed:
            shutil.copyfileobj(file, packed, 1 << 20)
    return True
