"""What a sweep writes in its ``--out`` folder, and reads back from it to resume.

    results.csv / results.json          one row per reference image x entry x scale (``results.COLUMNS``)
    leaderboard.csv / leaderboard.json  one line per provider x model x scale (``leaderboard.LEADERBOARD_COLUMNS``)
    report.html                         the self-contained report (``report``)
    crops/<image id>/x<scale>/*.png     the same detail of the reference, the bicubic baseline and each entry

Every file is written to a temporary name and renamed (``hdcore.files.write_atomically``: created exclusively,
never through a symlink), so a run killed mid-write leaves the previous complete file. The sweep rewrites the results as rows complete (``run.WRITE_SHARE``), so a killed run loses at most
the last second or so of rows.

CSV cells of text go through ``hdcore.text.spreadsheet_safe`` (reference names come from users), so a spreadsheet
shows a name beginning with ``=``, ``+``, ``-`` or ``@`` instead of running it; reading the file back is exact.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import InvalidInput
from ..files import write_atomically
from ..text import csv_table, spreadsheet_restored
from .results import COLUMNS, SweepRow

RESULTS_JSON, RESULTS_CSV = "results.json", "results.csv"
LEADERBOARD_JSON, LEADERBOARD_CSV = "leaderboard.json", "leaderboard.csv"
REPORT = "report.html"
CROPS = "crops"
MAX_RESULTS_BYTES = 64 << 20  # a results file to resume from; 64 MiB holds ~200,000 rows


def write_table(out_dir: Path, json_name: str, csv_name: str, records: list[dict[str, Any]],
                columns: Sequence[str]) -> None:
    """``records`` as a JSON list and as CSV with a header, both in ``out_dir``."""
    write_atomically(out_dir / json_name, json.dumps(records, indent=1, allow_nan=False) + "\n")
    write_atomically(out_dir / csv_name, csv_table(records, columns))


def write_results(out_dir: Path, rows: Iterable[SweepRow]) -> None:
    write_table(out_dir, RESULTS_JSON, RESULTS_CSV, [row.to_record() for row in rows], COLUMNS)


def read_results(out_dir: Path) -> list[SweepRow]:
    """The rows of a previous run in ``out_dir`` (results.json, else results.csv); none when there is neither.

    InvalidInput names the file and the first bad row when one is not a sweep's results.
    """
    for name, parse in ((RESULTS_JSON, _parse_json), (RESULTS_CSV, _parse_csv)):
        path = out_dir / name
        if path.is_file():
            if path.stat().st_size > MAX_RESULTS_BYTES:
                raise InvalidInput(f"cannot resume from {path}: larger than {MAX_RESULTS_BYTES >> 20} MiB")
            try:
                records = parse(path.read_bytes().decode("utf-8"))  # no newline translation: a CR in a cell stays
                return [_row(number, record) for number, record in enumerate(records, start=1)]
            except (ValueError, UnicodeDecodeError, csv.Error) as error:
                raise InvalidInput(f"cannot resume from {path}: {error}") from error
    return []


def _parse_json(text: str) -> list[Any]:
    records = json.loads(text)
    if not isinstance(records, list):
        raise ValueError("not a list of rows")
    return records


def _parse_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not set(COLUMNS) <= set(reader.fieldnames):
        raise ValueError(f"the header must name {', '.join(COLUMNS)}")
    return [{key: spreadsheet_restored(value) if isinstance(value, str) else value for key, value in record.items()}
            for record in reader]


def _row(number: int, record: Any) -> SweepRow:
    try:
        return SweepRow.from_record(record)
    except ValueError as error:
        raise ValueError(f"row {number}: {error}") from None


# ---------------------------------------------------------------------------------------------- crops


def image_id(image: str) -> str:
    """A folder name for a reference's crops, safe whatever the file is called."""
    return hashlib.sha256(image.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def crop_name(entry: str) -> str:
    """A file name for an entry's crop: readable where the entry is, unique by a hash of it."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", entry)[:40]
    return f"{readable}-{hashlib.sha256(entry.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}.png"


def crop_path(out_dir: Path, image: str, scale: int, name: str) -> Path:
    """Where the crop of ``name`` ("reference", "bicubic" or an entry) for one image and scale lives."""
    file = f"{name}.png" if name == "reference" else crop_name(name)
    return out_dir / CROPS / image_id(image) / f"x{scale}" / file
