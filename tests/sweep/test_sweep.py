"""The sweep end to end on real photos: rows, baselines checked independently, failures, resume, files, report, CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio

from hdcore import Config, Engine, InvalidInput
from hdcore.sweep import files, leaderboard, report
from hdcore.sweep.degrade import bicubic_downscale, modcrop
from hdcore.sweep.imresize import imresize, to_uint8
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.results import COLUMNS, SweepResult, SweepRow
from hdcore.sweep.run import SweepProgress, run_sweep
from hdcore.text import csv_table, spreadsheet_safe

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = ["lanczos", "local:waifu2x-photo"]
HOSTILE = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> Path:
    """Two crops of scikit-image's public-domain / CC0 photos, written as PNG references."""
    folder = tmp_path_factory.mktemp("references")
    Image.fromarray(sample_photo("astronaut")[30:150, 170:314]).save(folder / "astronaut.png")
    Image.fromarray(sample_photo("coffee")[150:270, 200:344]).save(folder / "coffee.png")
    return folder


@pytest.fixture(scope="module")
def sweep(references, engine, tmp_path_factory) -> SweepResult:
    return run_sweep([references], ENTRIES, (2, 4), out_dir=tmp_path_factory.mktemp("out"), engine=engine)


def y_psnr_by_skimage(output: np.ndarray, reference: np.ndarray, scale: int) -> float:
    crop = (slice(scale, -scale), slice(scale, -scale))
    return peak_signal_noise_ratio(rgb2ycbcr(reference)[:, :, 0][crop], rgb2ycbcr(output)[:, :, 0][crop],
                                   data_range=255)


def row_of(result: SweepResult, image: str, entry: str, scale: int) -> SweepRow:
    return next(r for r in result.rows if Path(r.image).name == image and r.entry == entry and r.scale == scale)


def test_every_reference_entry_and_scale_is_a_row_with_the_bicubic_baseline_first(sweep):
    assert len(sweep.rows) == 2 * 2 * 3 and sweep.failures == 0 and not sweep.problems
    assert [row.entry for row in sweep.rows[:3]] == ["bicubic", "lanczos", "local:waifu2x-photo"]
    for row in sweep.rows:
        assert row.ok and row.degradation == "bicubic" and row.cost_kind == "none" and row.latency_s >= 0
        assert 20 < row.psnr_y < 45 and 0.5 < row.ssim_y < 1 and row.lr_psnr > 30 and row.sharpness > 0
        assert row.niqe is not None  # 120x144 holds one NIQE patch
    local = row_of(sweep, "astronaut.png", "local:waifu2x-photo", 2)
    assert (local.provider, local.model) == ("local", "waifu2x-photo") and local.latency_s > 0
    assert local.psnr_y > row_of(sweep, "astronaut.png", "bicubic", 2).psnr_y  # the model beats interpolation


@pytest.mark.parametrize("scale", [2, 4])
def test_the_bicubic_row_agrees_with_an_independent_computation(sweep, references, scale):
    truth = modcrop(sample_photo("astronaut")[30:150, 170:314], scale)
    upscaled = to_uint8(imresize(to_uint8(imresize(truth, 1 / scale)), scale))
    row = row_of(sweep, "astronaut.png", "bicubic", scale)
    assert row.psnr_y == pytest.approx(y_psnr_by_skimage(upscaled, truth, scale), abs=0.005)


@pytest.mark.parametrize("scale", [2, 4])
def test_the_lanczos_row_agrees_with_pillows_lanczos_scored_by_skimage(sweep, scale):
    truth = modcrop(sample_photo("coffee")[150:270, 200:344], scale)
    low_res = bicubic_downscale(truth, scale)
    upscaled = np.asarray(Image.fromarray(low_res).resize(truth.shape[1::-1], Image.Resampling.LANCZOS))
    row = row_of(sweep, "coffee.png", "lanczos", scale)
    # Pillow's 8-bit path rounds its fixed-point sums differently from hdcore's float one: ~0.01 dB apart.
    assert row.psnr_y == pytest.approx(y_psnr_by_skimage(upscaled, truth, scale), abs=0.02)


def test_the_leaderboard_has_one_line_per_provider_model_and_scale_with_intervals(sweep):
    lines = sweep.leaderboard()
    assert [(line["scale"], leaderboard.label(line)) for line in lines][:3] == [
        (2, "local/waifu2x-photo"), (2, "lanczos"), (2, "bicubic")]  # best PSNR-Y first within a scale
    assert [line["scale"] for line in lines] == [2, 2, 2, 4, 4, 4]
    for line in lines:
        values = [r.psnr_y for r in sweep.rows if leaderboard.group_key(r)[:3] == (line["provider"], line["model"],
                                                                                     line["scale"])]
        assert line["images"] == 2 and line["failures"] == 0
        assert line["psnr_y"] == pytest.approx(np.mean(values))
        assert line["psnr_y_low"] < line["psnr_y"] < line["psnr_y_high"]
        assert tuple(line) == leaderboard.LEADERBOARD_COLUMNS


def test_the_results_files_hold_every_row_with_plain_column_names(sweep):
    records = json.loads((sweep.out_dir / files.RESULTS_JSON).read_text())
    assert records == sweep.to_records() and len(records) == 12
    with open(sweep.out_dir / files.RESULTS_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [SweepRow.from_record(r).to_record() for r in rows] == records


def test_failing_entries_are_counted_as_failed_rows_and_the_others_go_on(references, engine):
    result = run_sweep([references], ["local:no-such-model", "hf", "nope", "lanczos"], (2,), engine=engine)
    by_entry = {row.entry: row for row in result.rows if "astronaut" in row.image}
    unknown_model = by_entry["local:no-such-model"]
    assert unknown_model.outcome == "error" and "no-such-model" in unknown_model.reason
    assert by_entry["hf"].outcome == "skipped" and by_entry["hf"].reason == "not configured (set HUGGINGFACE_TOKEN)"
    assert by_entry["nope"].outcome == "error" and "unknown provider 'nope'" in by_entry["nope"].reason
    assert by_entry["lanczos"].ok and result.failures == 6 and not result.every_entry_failed
    lines = {leaderboard.label(line): line for line in result.leaderboard()}
    assert lines["hf"]["failures"] == 2 and lines["hf"]["images"] == 0 and lines["hf"]["psnr_y"] is None
    assert leaderboard.label(result.leaderboard()[-1]) in {"local/no-such-model", "hf", "nope"}  # failures last
    assert run_sweep([references], ["hf"], (2,), engine=engine).every_entry_failed


def test_a_killed_run_resumes_without_recomputing_the_rows_it_finished(references, engine, tmp_path):
    class Killed(Exception):
        pass

    def kill_after_five(event: SweepProgress) -> None:
        if event.done == 5:
            raise Killed

    with pytest.raises(Killed):
        run_sweep([references], ENTRIES, (2, 4), out_dir=tmp_path, engine=engine, progress=kill_after_five)
    partial = json.loads((tmp_path / files.RESULTS_JSON).read_text())
    assert len(partial) == 5  # written as the rows completed

    events: list[SweepProgress] = []
    resumed = run_sweep([references], ENTRIES, (2, 4), out_dir=tmp_path, resume=True, engine=engine,
                        progress=events.append)
    assert [event.reused for event in events] == [True] * 5 + [False] * 7 and resumed.reused == 5
    assert resumed.to_records()[:5] == partial  # the same rows, latencies included: not run again
    fresh = run_sweep([references], ENTRIES, (2, 4), engine=engine)
    assert [r.psnr_y for r in resumed.rows] == pytest.approx([r.psnr_y for r in fresh.rows], abs=1e-4)  # rounded


class ManualClock:
    def __init__(self, step_per_call: float = 0.0):
        self.now, self.step = 0.0, step_per_call

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_results_are_rewritten_as_rows_complete_unless_writing_would_dominate(references, engine, tmp_path):
    def written(folder: Path) -> int:
        return len(json.loads((folder / files.RESULTS_JSON).read_text()))

    quick_writes = ManualClock()  # writing takes no time on this clock; each row a second
    seen: list[int] = []

    def one_second_per_row(event: SweepProgress) -> None:
        seen.append(written(tmp_path / "a"))
        quick_writes.now += 1.0

    run_sweep([references], ["lanczos"], (2,), out_dir=tmp_path / "a", engine=engine, progress=one_second_per_row,
              clock=quick_writes)
    assert seen == [1, 2, 3, 4]
    slow_writes = ManualClock(step_per_call=1.0)  # a write costs as much as a row: rewrite far less often
    seen.clear()
    run_sweep([references], ["lanczos"], (2,), out_dir=tmp_path / "b", engine=engine,
              progress=lambda event: seen.append(written(tmp_path / "b")), clock=slow_writes)
    assert seen == [1] * 4 and written(tmp_path / "b") == 4  # and every row once the sweep ends


def test_resume_tries_failed_rows_again_and_reads_a_csv_when_there_is_no_json(references, engine, tmp_path):
    run_sweep([references], ["lanczos"], (2,), out_dir=tmp_path, engine=engine)
    records = json.loads((tmp_path / files.RESULTS_JSON).read_text())
    records[1] = {**records[1], "outcome": "timeout", "reason": "no answer", "psnr_y": None}
    (tmp_path / files.RESULTS_CSV).write_text(csv_table(records, COLUMNS))
    (tmp_path / files.RESULTS_JSON).unlink()
    resumed = run_sweep([references], ["lanczos"], (2,), out_dir=tmp_path, resume=True, engine=engine)
    assert resumed.reused == 3 and resumed.failures == 0 and resumed.rows[1].psnr_y is not None


def test_a_symlink_planted_at_a_temporary_name_is_never_written_through(references, engine, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    for name in (files.RESULTS_JSON, files.RESULTS_CSV, files.REPORT):
        (out / f".{name}.partial").symlink_to(victim)
    run_sweep([references / "astronaut.png"], ["lanczos"], (2,), out_dir=out, engine=engine)
    assert victim.read_text() == "precious" and json.loads((out / files.RESULTS_JSON).read_text())


def test_resuming_from_a_file_that_is_not_a_sweeps_results_is_a_clear_error(references, engine, tmp_path):
    (tmp_path / files.RESULTS_JSON).write_text(json.dumps([{"image": "a.png", "entry": "lanczos", "scale": "x"}]))
    with pytest.raises(InvalidInput, match=r"cannot resume from .*results.json: row 1: "):
        run_sweep([references], ["lanczos"], (2,), out_dir=tmp_path, resume=True, engine=engine)


def test_csv_cells_that_would_run_as_formulas_are_neutralised_and_read_back_exactly(engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative names: the cell begins with the file's own name
    names = ["=HYPERLINK(1).png", "+1.png", "-2.png", "@SUM.png", "'quoted.png", "plain\rname.png"]
    for name in names:
        Image.fromarray(sample_photo("chelsea")[:64, :64]).save(tmp_path / name)
    run_sweep(names, ["lanczos"], (2,), out_dir="out", engine=engine)
    text = (tmp_path / "out" / files.RESULTS_CSV).read_bytes().decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [row[0] for row in rows[::2]] == ["'=HYPERLINK(1).png", "'+1.png", "'-2.png", "'@SUM.png", "''quoted.png",
                                            "plain\rname.png"]  # a CR inside a name is quoted: one row still
    assert all(cell == "" or not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    (tmp_path / "out" / files.RESULTS_JSON).unlink()
    assert [row.image for row in files.read_results(tmp_path / "out")][::2] == names  # from the CSV, exactly
    assert spreadsheet_safe(-2.5) == -2.5 and spreadsheet_safe(None) is None  # numbers are not text


def test_references_that_cannot_be_used_are_reported_and_the_others_go_on(references, engine, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(sample_photo("coffee")[:20, :20]).save(tmp_path / "tiny.png")
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # reading it would block forever: it must never be opened
    result = run_sweep([references / "astronaut.png", tmp_path / "notes.png", tmp_path / "tiny.png", pipe,
                        tmp_path / "missing.png"], ["lanczos"], (2, 4), engine=engine)
    problems = "\n".join(result.problems)
    assert "notes.png: " in problems and "pipe.png: not a regular file" in problems
    assert "missing.png: file not found" in problems and "tiny.png: 20x20 is too small for 4x" in problems
    assert {Path(row.image).name for row in result.rows} == {"astronaut.png", "tiny.png"}  # tiny still at 2x
    limited = run_sweep([references], ["lanczos"], (2,), limit=1, engine=engine)
    assert limited.references == [str(references / "astronaut.png")]
    with pytest.raises(InvalidInput, match="no reference image to sweep"):
        run_sweep([tmp_path / "missing.png"], ["lanczos"], (2,), engine=engine)


def test_unusable_settings_are_refused_before_any_work(references, engine):
    for entries, scales, degradation, message in ((["lanczos"], (5,), "bicubic", "scales must be among"),
                                                  ([" "], (2,), "bicubic", "no entry to sweep"),
                                                  (["lanczos"], (2,), "blurry", "unknown degradation")):
        with pytest.raises(InvalidInput, match=message):
            run_sweep([references], entries, scales, degradation, engine=engine)


def test_a_realistic_sweep_is_reproducible(references, engine):
    first, second = (run_sweep([references], ["lanczos"], (4,), "realistic", engine=engine, seed=3) for _ in range(2))
    assert [r.psnr_y for r in first.rows] == [r.psnr_y for r in second.rows]
    assert first.degradation == "realistic:3" and {r.degradation for r in first.rows} == {"realistic:3"}
    bicubic = run_sweep([references], ["lanczos"], (4,), engine=engine)
    assert np.mean([r.psnr_y for r in first.rows]) < np.mean([r.psnr_y for r in bicubic.rows])


def test_t_quantiles_and_intervals_match_scipy():
    from scipy import stats

    for df in list(range(1, 60)) + [100, 250, 1000]:
        assert leaderboard.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-6)
    values = [31.2, 29.8, 33.1, 30.4, 28.9]
    mean, low, high = leaderboard.mean_interval(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values)) and (low, high) == pytest.approx(expected)
    assert leaderboard.mean_interval([3.0]) == (3.0, None, None)


def test_two_sweeps_compare_per_entry_on_the_images_both_scored(sweep):
    later = [dict(record) for record in sweep.to_records()]
    for record in later:
        if record["entry"] == "lanczos" and record["scale"] == 2:
            record["psnr_y"] += 1.0 if "astronaut" in record["image"] else 0.0
        if record["entry"] == "local:waifu2x-photo" and "coffee" in record["image"] and record["scale"] == 4:
            record.update(outcome="timeout", psnr_y=None)
    later.append({**later[0], "entry": "replicate", "provider": "replicate", "model": "x"})
    lines = {(line["provider"], line["model"], line["scale"]): line
             for line in leaderboard.compare(SweepResult.from_records(sweep.to_records()),
                                             SweepResult.from_records(later))}
    lanczos = lines[("lanczos", "lanczos", 2)]
    assert lanczos["images"] == 2 and lanczos["psnr_y_delta"] == pytest.approx(0.5, abs=1e-3)
    assert lines[("bicubic", "matlab-imresize", 2)]["psnr_y_delta"] == pytest.approx(0.0)
    local = lines[("local", "waifu2x-photo", 4)]
    assert local["images"] == 1 and local["failures_b"] == 1 and local["failures_a"] == 0  # paired: astronaut only
    assert lines[("replicate", "x", 2)]["images"] == 0 and lines[("replicate", "x", 2)]["psnr_y_delta"] is None


def test_a_stored_sweep_comes_back_from_its_records(sweep):
    again = SweepResult.from_records(sweep.to_records())
    assert again.to_records() == sweep.to_records() and again.scales == (2, 4)
    assert again.entries == ("bicubic", *ENTRIES) and len(again.references) == 2


def test_the_html_report_opens_offline_and_escapes_a_hostile_file_name(engine, tmp_path):
    folder = tmp_path / "refs"
    folder.mkdir()
    Image.fromarray(sample_photo("chelsea")[:120, :160]).save(folder / HOSTILE)
    Image.fromarray(sample_photo("astronaut")[:120, :160]).save(folder / "astronaut.png")
    out = tmp_path / "out"
    result = run_sweep([folder], ENTRIES + ["hf"], (2,), out_dir=out, engine=engine)
    text = report.write_report(result, out).read_text()
    assert "http" not in text and "<script" not in text.lower() and "<link" not in text.lower()
    assert " src='data:image/png;base64," in text and "src='x'" not in text.replace("src='data:", "")
    assert HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;.png" in text
    assert text.count("<svg") == 5 and "GAN-trained models" in text and "perceptual score" in text
    assert "not configured (set HUGGINGFACE_TOKEN)" in text  # the failures are listed, not hidden
    # Each entry's gallery: the same crop of the reference, the bicubic baseline and the entry, twice (2 images).
    assert text.count("<img ") == 2 * 2 * 3


def run_cli(*args: str, **settings: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    environment.update(settings)
    return subprocess.run([sys.executable, "-m", "hdcore", "qa-sweep", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=240)


def test_the_command_prints_the_leaderboard_and_writes_every_file(references, tmp_path):
    out = tmp_path / "out"
    result = run_cli(str(references), "--providers", "lanczos", "--scales", "2", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    header, rule, *lines = result.stdout.splitlines()[:4]
    assert header.split()[:4] == ["provider/model", "scale", "images", "failed"] and set(rule) <= {"-", " "}
    assert lines[0].split()[:4] == ["lanczos", "2x", "2", "0"]
    for name in (files.RESULTS_CSV, files.RESULTS_JSON, files.LEADERBOARD_CSV, files.LEADERBOARD_JSON, files.REPORT):
        assert (out / name).is_file()
    board = json.loads((out / files.LEADERBOARD_JSON).read_text())
    assert [(line["provider"], line["images"]) for line in board] == [("lanczos", 2), ("bicubic", 2)]


def test_the_command_exits_3_when_every_entry_fails_and_2_on_bad_usage(references, tmp_path):
    failed = run_cli(str(references), "--providers", "hf", "--scales", "2", "--out", str(tmp_path / "a"),
                     "--no-progress")
    assert failed.returncode == 3 and "Traceback" not in failed.stderr
    for args, fragment in (([str(references), "--providers", " , "], "--providers names no provider"),
                           ([str(tmp_path / "none.png"), "--providers", "lanczos"], "no reference image to sweep"),
                           ([str(references), "--providers", "lanczos", "--scales", "5"], "each scale must be one of")):
        bad = run_cli(*args, "--out", str(tmp_path / "b"), "--no-progress")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr and fragment in bad.stderr, bad.stderr


def test_the_command_stores_the_sweep_in_the_history_this_machine_keeps(references, tmp_path):
    from hdcore.store import open_store

    result = run_cli(str(references), "--providers", "lanczos", "--scales", "2", "--out", str(tmp_path / "out"),
                     "--no-progress", HDCORE_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("as sweep 1")
    with open_store(tmp_path / "data") as store:
        [listed] = store.sweeps()
        _, stored = store.sweep(listed.id)
    assert listed.name == str(references) and listed.entries == ("bicubic", "lanczos") and listed.duration_s > 0
    assert stored.to_records() == json.loads((tmp_path / "out" / files.RESULTS_JSON).read_text())


def test_a_history_that_cannot_be_written_is_a_warning_and_the_files_are_still_there(references, tmp_path):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the history folder should be")
    result = run_cli(str(references), "--providers", "lanczos", "--scales", "2", "--out", str(tmp_path / "out"),
                     "--no-progress", HDCORE_DATA_DIR=str(blocked))
    assert result.returncode == 0 and (tmp_path / "out" / files.REPORT).is_file()
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith("hdcore: warning: the sweep was not stored in the history: cannot ")
