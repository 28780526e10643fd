"""Batches: inputs from folders and globs, resume, one broken file among good ones, per-tier limits, the zip."""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from hdcore import Config, Engine, InvalidInput, batch
from hdcore.cli.progress import TqdmReporter
from hdcore.errors import TransientError
from tests.conftest import ScriptedProvider, good, photo, scripted_registry


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """A folder of real photo crops, one broken PNG, a text file and a subfolder with one more photo."""
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    for i, size in enumerate([(40, 32), (32, 24), (24, 24)]):
        photo(size).save(folder / f"photo{i}.png")
    (folder / "broken.png").write_bytes((folder / "photo0.png").read_bytes()[:120])
    (folder / "notes.txt").write_text("not an image")
    photo((20, 16)).save(folder / "sub" / "deep.jpg", quality=90)
    return folder


def lanczos(**changes) -> batch.BatchSettings:
    return batch.BatchSettings(**{"scale": 2, "provider": "lanczos", **changes})


def run_folder(folder: Path, settings: batch.BatchSettings, recursive: bool = False, out_dir=None):
    found, problems = batch.expand_inputs([str(folder)], recursive)
    items, clashes = batch.plan_items(found, settings.scale, settings.format, out_dir)
    assert problems == clashes == []
    return batch.run_batch(items, Engine(Config()), settings)


# --- inputs ----------------------------------------------------------------------------------------------


def test_a_folder_gives_its_images_only_and_recursive_adds_subfolders(shots):
    found, problems = batch.expand_inputs([str(shots)])
    assert [f.path.name for f in found] == ["broken.png", "photo0.png", "photo1.png", "photo2.png"]
    assert problems == []
    deep, _ = batch.expand_inputs([str(shots)], recursive=True)
    assert [f.path.relative_to(shots).as_posix() for f in deep][-1] == "sub/deep.jpg"
    assert deep[-1].subfolder == Path("sub")


def test_globs_files_and_missing_names(shots, tmp_path):
    found, problems = batch.expand_inputs(
        [str(shots / "photo*.png"), str(shots / "photo1.png"), str(tmp_path / "missing.png"), str(shots / "*.gif")]
    )
    assert [f.path.name for f in found] == ["photo0.png", "photo1.png", "photo2.png", "missing.png"]  # once each
    assert problems == [f"no image file matches {shots / '*.gif'}"]
    recursive, _ = batch.expand_inputs([str(shots / "**" / "*.jpg")], recursive=True)
    assert [(f.path.name, f.subfolder) for f in recursive] == [("deep.jpg", Path("sub"))]


def test_outputs_go_beside_the_input_or_mirror_subfolders_under_out_dir(shots, tmp_path):
    found, _ = batch.expand_inputs([str(shots)], recursive=True)
    beside, _ = batch.plan_items(found, 4, "jpeg")
    assert beside[1].output == shots / "photo0_x4.jpg"
    under, _ = batch.plan_items(found, 4, "png", out_dir=tmp_path / "hd")
    assert under[-1].output == tmp_path / "hd" / "sub" / "deep_x4.png"
    assert under[-1].archive_name == "sub/deep_x4.png"


def test_a_previous_runs_outputs_in_the_folder_are_not_inputs(shots):
    (shots / "photo0_x2.png").write_bytes(b"an earlier output")
    found, _ = batch.expand_inputs([str(shots)])
    items, _ = batch.plan_items(found, 2)
    assert "photo0_x2.png" not in [item.source.name for item in items]


def test_two_inputs_with_one_output_are_reported(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        photo((8, 8)).save(tmp_path / folder / "same.png")
    found, _ = batch.expand_inputs([str(tmp_path / "a"), str(tmp_path / "b")])
    items, clashes = batch.plan_items(found, 2, out_dir=tmp_path / "out")
    assert len(items) == 1 and len(clashes) == 1 and "also" in clashes[0]


# --- running ---------------------------------------------------------------------------------------------


def test_one_broken_file_is_reported_and_the_others_are_written(shots):
    results = run_folder(shots, lanczos())
    by_name = {r.item.source.name: r for r in results}
    broken = by_name.pop("broken.png")
    assert (broken.status, broken.exit_code) == ("failed", 2)
    assert "truncated" in broken.error and broken.record["success"] is False
    for result in by_name.values():
        assert result.status == "ok" and result.exit_code == 0
        width, height = Image.open(result.item.source).size
        assert Image.open(result.output).size == (width * 2, height * 2)
        assert set(result.record["quality"]) >= {"lr_psnr", "lr_ssim", "sharpness"}
    assert batch.exit_code(results) == 2
    assert [r.item.index for r in results] == list(range(4))  # in input order


def test_resume_skips_existing_outputs_unless_overwrite(shots):
    first = run_folder(shots, lanczos())
    written = {r.output: r.output.stat().st_mtime_ns for r in first if r.status == "ok"}
    time.sleep(0.01)
    again = run_folder(shots, lanczos())
    assert [r.status for r in again] == ["failed", "skipped", "skipped", "skipped"]
    assert all(r.record == {"input": str(r.item.source), "output": str(r.output), "success": True, "skipped": True}
               for r in again[1:])
    assert {r.output: r.output.stat().st_mtime_ns for r in again[1:]} == written  # untouched
    forced = run_folder(shots, lanczos(overwrite=True))
    assert [r.status for r in forced] == ["failed", "ok", "ok", "ok"]


def test_a_half_written_file_is_not_an_existing_output(shots, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photo0_x2.png.part").write_bytes(b"interrupted")
    results = run_folder(shots, lanczos(), out_dir=tmp_path / "out")
    assert results[1].status == "ok"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo0_x2.png", "photo0_x2.png.part",
                                                                   "photo1_x2.png", "photo2_x2.png"]  # fmt: skip
    assert (tmp_path / "out" / "photo0_x2.png.part").read_bytes() == b"interrupted"  # never written through


def test_a_model_no_tier_serves_is_refused_before_any_work(shots):
    found, _ = batch.expand_inputs([str(shots)])
    items, _ = batch.plan_items(found, 2)
    with pytest.raises(InvalidInput, match="serves model 'nope'"):
        batch.run_batch(items, Engine(Config()), lanczos(model="nope"))


class Gauge:
    """Counts how many calls run at once."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return good(request)


def items_for(tmp_path: Path, count: int) -> list[batch.BatchItem]:
    found = []
    for i in range(count):
        path = tmp_path / f"in{i}.png"
        photo((16, 12)).save(path)
        found.append(batch.FoundInput(path))
    return batch.plan_items(found, 2, out_dir=tmp_path / "out")[0]


def test_a_remote_tier_runs_in_parallel_up_to_its_declared_limit(tmp_path):
    gauge = Gauge(0.15)
    config = Config(timeouts={"cloud": 5.0})
    engine = Engine(config, scripted_registry(ScriptedProvider(config, "cloud", gauge, max_concurrency=3)))
    assert batch.pool_size(engine, ["cloud"]) == 3
    results = batch.run_batch(items_for(tmp_path, 6), engine, batch.BatchSettings(scale=2))
    assert [r.status for r in results] == ["ok"] * 6
    assert gauge.most == 3


def test_the_configured_concurrency_overrides_the_declared_one(tmp_path):
    gauge = Gauge(0.15)
    config = Config(timeouts={"cloud": 5.0}, concurrency={"cloud": 2})
    engine = Engine(config, scripted_registry(ScriptedProvider(config, "cloud", gauge, max_concurrency=4)))
    batch.run_batch(items_for(tmp_path, 6), engine, batch.BatchSettings(scale=2))
    assert gauge.most == 2


def test_waiting_for_a_place_does_not_eat_into_the_tiers_deadline(tmp_path):
    # One place on "cloud" (0.3 s a call, 0.5 s deadline) but three workers (for "other"): the third image
    # waits 0.6 s for its place; counted against the deadline, it would time out and fall through.
    config = Config(timeouts={"cloud": 0.5, "other": 5.0})
    cloud = ScriptedProvider(config, "cloud", Gauge(0.3), max_concurrency=1)
    other = ScriptedProvider(config, "other", max_concurrency=3)
    engine = Engine(config, scripted_registry(cloud, other))
    assert batch.pool_size(engine, ["cloud", "other"]) == 3
    results = batch.run_batch(items_for(tmp_path, 3), engine, batch.BatchSettings(scale=2))
    assert [[(a.tier, a.provider, a.outcome) for a in r.attempts] for r in results] == [[(1, "cloud", "ok")]] * 3
    assert other.requests == []


def test_the_chain_falls_back_tier_by_tier_with_numbered_attempts(tmp_path):
    config = Config(timeouts={})

    def unavailable(request):
        raise TransientError("HTTP 503")

    failing = ScriptedProvider(config, "first", unavailable)
    unconfigured = ScriptedProvider(config, "second", configured=False)
    working = ScriptedProvider(config, "third")
    engine = Engine(config, scripted_registry(failing, unconfigured, working))
    [result] = batch.run_batch(items_for(tmp_path, 1), engine, batch.BatchSettings(scale=2))
    assert [(a.tier, a.provider, a.outcome) for a in result.attempts] == [
        (1, "first", "error"), (2, "second", "skipped"), (3, "third", "ok")]
    assert result.attempts[1].reason == "not configured (set SECOND_TOKEN)" and unconfigured.requests == []
    assert result.record["provider"] == "third"


def test_every_tier_failing_is_exit_3_for_that_image(tmp_path):
    config = Config(timeouts={})
    engine = Engine(config, scripted_registry(ScriptedProvider(config, "down", configured=False)))
    [result] = batch.run_batch(items_for(tmp_path, 1), engine, batch.BatchSettings(scale=2))
    assert (result.status, result.exit_code) == ("failed", 3)
    assert "every tier failed" in result.error and result.attempts[0].outcome == "skipped"


def test_the_reporter_hears_everything_on_the_calling_thread(shots):
    heard: list[tuple[str, str]] = []
    caller = threading.current_thread()

    class Recorder:
        def started(self, item):
            heard.append(("started", threading.current_thread() is caller))

        def progress(self, item, event):
            heard.append(("progress", threading.current_thread() is caller))

        def finished(self, result):
            heard.append(("finished", threading.current_thread() is caller))

    found, _ = batch.expand_inputs([str(shots)])
    items, _ = batch.plan_items(found, 2)
    settings = batch.BatchSettings(scale=2, provider="local", options={"tile": 16})  # several tiles per image
    batch.run_batch(items, Engine(Config()), settings, Recorder())
    kinds = [kind for kind, _ in heard]
    assert kinds.count("started") == kinds.count("finished") == 4 and "progress" in kinds
    assert all(on_caller for _, on_caller in heard)


def test_tqdm_bars_for_the_batch_and_each_image(shots):
    stream = io.StringIO()
    found, _ = batch.expand_inputs([str(shots)])
    items, _ = batch.plan_items(found, 2)
    bars = TqdmReporter(len(items), file=stream)
    batch.run_batch(items, Engine(Config()), batch.BatchSettings(scale=2, provider="local", options={"tile": 16, "preset": "fast"}), bars)
    bars.close()
    text = stream.getvalue()
    assert "batch" in text and "4/4" in text
    assert "[local]" in text and "tile" in text  # 16 px tiles: several per image, so a tile bar


# --- zip -------------------------------------------------------------------------------------------------


def test_the_zip_holds_the_outputs_and_a_csv_of_the_attempts(shots, tmp_path):
    results = run_folder(shots, lanczos(), recursive=True, out_dir=tmp_path / "hd")
    target = tmp_path / "results.zip"
    batch.write_zip(results, target)
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        rows = list(csv.DictReader(io.StringIO(archive.read("attempts.csv").decode())))
        assert Image.open(io.BytesIO(archive.read("sub/deep_x2.png"))).size == (40, 32)
    assert sorted(names) == ["attempts.csv", "photo0_x2.png", "photo1_x2.png", "photo2_x2.png", "sub/deep_x2.png"]
    assert [(Path(r["input"]).name, r["status"], r["outcome"]) for r in rows] == [
        ("broken.png", "failed", ""), ("photo0.png", "ok", "ok"), ("photo1.png", "ok", "ok"),
        ("photo2.png", "ok", "ok"), ("deep.jpg", "ok", "ok")]
    assert "truncated" in rows[0]["error"]
    assert float(rows[1]["lr_ssim"]) > 0.9 and rows[1]["provider"] == "lanczos"


def test_a_zip_can_be_built_in_memory_for_a_download(shots):
    results = run_folder(shots, lanczos())
    buffer = io.BytesIO()
    batch.write_zip(results, buffer)
    assert len(zipfile.ZipFile(io.BytesIO(buffer.getvalue())).namelist()) == 4
