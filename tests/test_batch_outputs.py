"""What a batch leaves behind, under hostile names and a hostile disk: attempts.csv, outputs, the zip."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hdcore import batch
from hdcore.attempts import Attempt

FORMULAS = ("=HYPERLINK(\"http:x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR")


def failed_result(index: int, name: str, error: str, reason: str) -> batch.ItemResult:
    item = batch.BatchItem(index, Path(name), Path(f"out/{index}.png"), f"{index}.png")
    attempt = Attempt(1, "hf", "m", "error", reason)
    return batch.ItemResult(item, "failed", 3, None, error, [attempt])


def test_attempts_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    results = [failed_result(i, text + ".png", text, text) for i, text in enumerate(FORMULAS)]
    rows = list(csv.DictReader(io.StringIO(batch.attempts_csv(results), newline="")))
    assert len(rows) == len(FORMULAS)
    for row, text in zip(rows, FORMULAS):
        assert (row["input"], row["error"], row["reason"]) == ("'" + text + ".png", "'" + text, "'" + text)
    cells = [cell for row in rows for cell in row.values()]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert rows[0]["latency_s"] == "0.0" and rows[0]["tier"] == "1"  # numbers stay numbers
