"""The QA page's sweep decisions without Streamlit: a sweep over uploads names references as uploaded (never the
server's folders), its crops follow, a history that cannot be written is a note, progress per entry, and the
past sweeps' comparison and trend tables."""

from __future__ import annotations

import pytest
from PIL import Image

from hdcore import Config, Engine
from hdcore.batch import BatchInput
from hdcore.store import HistoryStore
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.results import SweepRow
from hdcore.sweep.run import SweepProgress
from hdcore.store.sweeps import TrendPoint
from hdcore.webapp import qa_page
from tests.conftest import png_bytes


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


def reference(name: str, side: int = 96) -> BatchInput:
    return BatchInput(f"set/{name}.png", png_bytes(Image.fromarray(sample_photo(name)[20 : 20 + side, 40 : 40 + side])))


def test_a_sweep_of_uploads_names_each_reference_as_uploaded_and_its_crops_follow(engine, tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite3")
    tiny = BatchInput("tiny.png", png_bytes(Image.fromarray(sample_photo("coffee")[:12, :12])))
    outcome = qa_page.run_sweep_upload(engine, [reference("astronaut"), reference("chelsea"), tiny], ["lanczos"],
                                       [2], "bicubic", store=store, name="set.zip")  # fmt: skip
    assert not outcome.error and outcome.result.references == ["set/astronaut.png", "set/chelsea.png", "tiny.png"]
    assert outcome.problems == ["tiny.png: 12x12 is too small for 2x (at least 16 px a side)"]
    assert {row.image for row in outcome.result.rows} == {"set/astronaut.png", "set/chelsea.png"}
    [(scale, entry)] = qa_page.sweep_gallery_choices(outcome)
    galleries = qa_page.sweep_gallery(outcome, scale, entry)
    assert [len(g.panes) for g in galleries] == [3, 3] and galleries[0].title.startswith("least gain (")
    assert all(pane.size == (96, 96) for g in galleries for _, pane in g.panes)
    assert outcome.stored == "stored in the history as sweep 1" and store.sweeps()[0].name == "set.zip"
    work = outcome.out_dir.parent
    assert work.is_dir() and str(work) not in outcome.results_csv() + outcome.report_html()
    del outcome  # the session's next sweep replaces it: its private folder goes with it
    assert not work.exists()


@pytest.mark.parametrize("inputs, entries, scales, message", [
    ([], ["lanczos"], [2], "upload reference images, or a zip of them"),
    (["ref"], [], [2], "choose at least one provider"),
    (["ref"], ["lanczos"], [], "choose at least one scale"),
])  # fmt: skip
def test_an_incomplete_form_is_a_one_line_error_before_any_work(engine, inputs, entries, scales, message):
    uploads = [reference("astronaut") for _ in inputs]
    outcome = qa_page.run_sweep_upload(engine, uploads, entries, scales, "bicubic")
    assert outcome.error == message and outcome.result is None and outcome.work is None


def test_nothing_usable_is_the_sweeps_own_one_line_error_without_the_servers_folders(engine):
    broken = BatchInput("notes.png", b"not a picture")
    outcome = qa_page.run_sweep_upload(engine, [broken], ["lanczos"], [2], "bicubic")
    assert outcome.error.startswith("no reference could be swept: notes.png: ") and "/tmp" not in outcome.error
    assert outcome.problems == [] and outcome.result is None
    assert outcome.work is None


def test_a_history_that_cannot_be_written_is_a_note_and_the_sweep_is_kept(engine, tmp_path):
    (tmp_path / "blocked").write_text("a file, not a folder")
    store = HistoryStore(tmp_path / "blocked" / "history.sqlite3")
    outcome = qa_page.run_sweep_upload(engine, [reference("astronaut")], ["lanczos"], [2], "bicubic", store=store)
    assert outcome.stored.startswith("not stored in the history: cannot ") and len(outcome.result.rows) == 2


def test_progress_is_counted_per_entry_with_its_failures():
    seen: list[qa_page.SweepUpdate] = []
    tracker = qa_page.SweepTracker(qa_page.sweep_entries(["hf", "lanczos", "hf"]), per_entry=2, render=seen.append)
    failed = SweepRow("a.png", "hf", "hf", None, 2, "bicubic", "skipped", "not configured")
    for done, row in enumerate([failed, SweepRow("a.png", "lanczos", "lanczos", "lanczos", 2, "bicubic", "ok")], 1):
        tracker(SweepProgress(done, 6, row, reused=False))
    assert tracker.entries == ["bicubic", "hf", "lanczos"]
    assert seen[0] == qa_page.SweepUpdate((1 / 6, "1 of 6 calls done"), "hf",
                                          (0.5, "Hugging Face (default model): 1 of 2, 1 failed"))  # fmt: skip
    assert seen[1].bar == (0.5, "Lanczos: 1 of 2")


def test_the_trend_keeps_one_scale_and_degradation_and_only_scored_points():
    points = [TrendPoint(1, 1_700_000_000.0, "lanczos", "lanczos", 2, "bicubic", 5, 30.1, 0.9, None),
              TrendPoint(2, 1_700_086_400.0, "lanczos", "lanczos", 2, "bicubic", 5, 30.4, 0.9, None),
              TrendPoint(2, 1_700_086_400.0, "local", "waifu2x-photo", 2, "bicubic", 5, 32.0, 0.9, None),
              TrendPoint(2, 1_700_086_400.0, "lanczos", "lanczos", 4, "bicubic", 5, 25.0, 0.7, None),
              TrendPoint(2, 1_700_086_400.0, "hf", "m", 2, "bicubic", 0, None, None, None)]  # fmt: skip
    assert qa_page.trend_choices(points) == ([2, 4], ["bicubic"])
    rows = qa_page.trend_rows(points, "PSNR-Y (dB)", 2, "bicubic")
    assert [(row["Provider / model"], row["PSNR-Y (dB)"]) for row in rows] == [
        ("lanczos", 30.1), ("lanczos", 30.4), ("local/waifu2x-photo", 32.0)]
    assert rows[0]["Date"].isoformat() == "2023-11-14T22:13:20"
    assert qa_page.trend_rows(points, "NIQE", 2, "bicubic") == []
    assert qa_page.trend_chart("NIQE")["encoding"]["y"] == {"field": "NIQE", "type": "quantitative",
                                                            "scale": {"zero": False}}
