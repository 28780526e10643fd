"""What a batch leaves behind, under hostile names and a hostile disk: attempts.csv, outputs, the zip."""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from hdcore import Config, Engine, batch
from hdcore.attempts import Attempt
from tests.conftest import photo, png_bytes

ROOT = Path(__file__).resolve().parent.parent
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


# --- resume: only a complete output of this run's format and size is kept ---------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shots = tmp_path / "shots"
    shots.mkdir()
    for index, size in enumerate([(40, 32), (32, 24), (24, 24)]):
        photo(size).save(shots / f"photo{index}.png")
    return shots


def run_over(folder: Path, **changes) -> list[batch.ItemResult]:
    settings = batch.BatchSettings(**{"scale": 2, "provider": "lanczos", **changes})
    found, _ = batch.expand_inputs([str(folder)])
    items, _ = batch.plan_items(found, settings.scale, settings.format, folder / "out")
    return batch.run_batch(items, Engine(Config()), settings)


def test_resume_makes_an_empty_or_truncated_output_again(folder):
    first = run_over(folder)
    whole = first[2].output.read_bytes()
    first[0].output.write_bytes(b"")
    first[1].output.write_bytes(first[1].output.read_bytes()[:-20])  # cut short: no IEND
    first[2].output.write_bytes(whole[: len(whole) // 2])
    again = run_over(folder)
    assert [r.status for r in again] == ["ok", "ok", "ok"]
    assert [Image.open(r.output).size for r in again] == [(80, 64), (64, 48), (48, 48)]
    assert [r.status for r in run_over(folder)] == ["skipped"] * 3  # now they are complete


def test_resume_makes_an_output_of_another_size_or_format_again(folder):
    first = run_over(folder)
    photo((10, 10)).save(first[0].output)  # a complete PNG, but not what this run makes
    first[1].output.write_bytes(png_bytes(photo((64, 48))).replace(b"IHDR", b"IHDX"))  # right size, not a PNG
    assert [r.status for r in run_over(folder)] == ["ok", "ok", "skipped"]
    as_webp = run_over(folder, format="webp")  # the PNGs of the earlier run are not WebP outputs
    assert [r.status for r in as_webp] == ["ok"] * 3 and all(r.output.suffix == ".webp" for r in as_webp)
    assert [r.status for r in run_over(folder, format="webp")] == ["skipped"] * 3


def test_a_png_counts_for_a_jpeg_run_only_where_the_encoder_would_have_written_one(folder):
    Image.new("RGBA", (20, 10), (200, 10, 10, 128)).save(folder / "photo1.png")  # alpha: a JPEG run writes PNG
    first = run_over(folder, format="jpeg")
    assert [r.output.suffix for r in first] == [".jpg", ".png", ".jpg"]
    (folder / "out" / "photo0_x2.png").write_bytes(png_bytes(photo((80, 64))))  # a PNG beside an opaque input
    first[0].output.unlink()
    again = run_over(folder, format="jpeg")
    assert [(r.status, r.output.suffix) for r in again] == [("ok", ".jpg"), ("skipped", ".png"), ("skipped", ".jpg")]


def test_an_output_that_is_a_symlink_is_neither_trusted_nor_packed(folder, tmp_path):
    first = run_over(folder)
    secret = tmp_path / "secret.png"
    kept = first[0].output.read_bytes()
    secret.write_bytes(kept)  # a complete output of the right size, elsewhere
    first[0].output.unlink()
    first[0].output.symlink_to(secret)
    again = run_over(folder)
    assert again[0].status == "ok" and not again[0].output.is_symlink()  # made again, as a file of its own
    assert secret.read_bytes() == kept and again[0].record.get("skipped") is None  # left as it was
    again[1].output.unlink()
    again[1].output.symlink_to(secret)  # planted after the run, before the zip
    buffer = io.BytesIO()
    batch.write_zip(again, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert sorted(archive.namelist()) == ["attempts.csv", "photo0_x2.png", "photo2_x2.png"]
        rows = list(csv.DictReader(io.StringIO(archive.read("attempts.csv").decode(), newline="")))
    assert [row["output"] for row in rows] == ["photo0_x2.png", "", "photo2_x2.png"]  # names in the zip


def test_a_planted_temporary_is_never_written_through(folder, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (folder / "out").mkdir()
    for name in ("photo0_x2.png.part", ".photo0_x2.png.part", "photo0_x2.png.tmp"):
        (folder / "out" / name).symlink_to(victim)
    results = run_over(folder)
    assert [r.status for r in results] == ["ok"] * 3 and victim.read_text() == "precious"
    assert all(not p.name.endswith(".part") or p.is_symlink() for p in (folder / "out").iterdir())


def test_the_zip_names_are_unique_whatever_the_case_and_never_a_file_beside_a_folder(folder, tmp_path):
    results = run_over(folder)
    renamed = [dataclasses.replace(results[0], item=dataclasses.replace(results[0].item, archive_name="A_x2.png")),
               dataclasses.replace(results[1], item=dataclasses.replace(results[1].item, archive_name="a_x2.png")),
               dataclasses.replace(results[2], item=dataclasses.replace(results[2].item,
                                                                         archive_name="a_x2.png/b_x2.png"))]  # fmt: skip
    target = tmp_path / "all.zip"
    batch.write_zip(renamed, target)
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == ["A_x2.png", "a_x2-2.png", "a_x2.png-2/b_x2.png", "attempts.csv"]


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from hdcore.cli import main
sys.exit(main(sys.argv[2:]))
"""


def upscale_with_a_file_size_limit(limit: int, folder: Path, archive: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", FULL_DISK, str(limit), "upscale", str(folder), "--scale", "2", "--provider",
               "lanczos", "--out-dir", str(folder / "out"), "--zip", str(archive), "--no-progress"]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_full_disk_leaves_no_temporary_and_no_zip_behind(folder, tmp_path):
    archive = tmp_path / "all.zip"
    nothing_fits = upscale_with_a_file_size_limit(100, folder, archive)
    assert nothing_fits.returncode == 2 and "Traceback" not in nothing_fits.stderr
    assert nothing_fits.stderr.count("cannot write output: File too large") == 3
    assert list((folder / "out").iterdir()) == [] and not archive.exists()
    sizes = [len(png_bytes(photo(size).resize((size[0] * 2, size[1] * 2)))) for size in [(40, 32), (32, 24)]]
    only_outputs_fit = upscale_with_a_file_size_limit(max(sizes) * 2, folder, archive)  # but not the zip of them
    assert only_outputs_fit.returncode == 2, only_outputs_fit.stderr
    assert f"cannot write {archive}: File too large" in only_outputs_fit.stderr
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["photo0_x2.png", "photo1_x2.png", "photo2_x2.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots"]  # no zip, not even an empty one
