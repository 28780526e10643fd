"""What a batch leaves behind: each output written atomically, ``attempts.csv`` (one row per tier tried per
image) and the zip of it all."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Sequence

from .. import images
from .inputs import SUFFIXES

if TYPE_CHECKING:
    from .run import ItemResult


def write_output(planned: Path, encoded: images.EncodedImage) -> Path:
    """Write beside the final name, then rename: a crash never leaves a partial file that resume would skip."""
    path = _with_written_suffix(planned, encoded.format)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(encoded.data)
    os.replace(partial, path)
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
    """One row per tier tried per image (one row for a skipped image or one refused before any tier)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerows(_csv_rows(result))
    return buffer.getvalue()


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
    """A zip of every output written or found (skipped) by the batch, plus ``attempts.csv``."""
    with zipfile.ZipFile(target, "w") as archive:
        names: set[str] = set()
        for result in results:
            if result.output is not None and result.output.is_file():
                name = _unique_name(str(Path(result.item.archive_name).with_suffix(result.output.suffix)), names)
                # Images are compressed already: storing them saves time and loses nothing.
                archive.write(result.output, name, compress_type=zipfile.ZIP_STORED)
        archive.writestr("attempts.csv", attempts_csv(results), compress_type=zipfile.ZIP_DEFLATED)


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        path = Path(name)
        candidate = str(path.with_name(f"{path.stem}-{number}{path.suffix}"))
    taken.add(candidate)
    return candidate
