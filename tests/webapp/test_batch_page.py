"""hdcore.webapp, the Batch page: uploads into a batch, its progress and results; tested without Streamlit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from hdcore import webapp
from hdcore.history import HistoryStore
from tests.conftest import photo, png_bytes
from tests.webapp.helpers import engine_with


# ---------------------------------------------------------------------------------------------- batch


def test_batch_upload_runs_reports_and_zips(tmp_path):
    import zipfile

    from hdcore.batch import BatchSettings

    inputs = [webapp.BatchInput("one.png", png_bytes(photo((24, 16)))), webapp.BatchInput("bad.png", b"text"),
              webapp.BatchInput("sub/two.png", png_bytes(photo((16, 16))))]  # fmt: skip
    updates: list[webapp.BatchUpdate] = []
    tracker = webapp.BatchTracker([one.name for one in inputs], updates.append)
    outcome = webapp.run_batch_upload(engine_with(), inputs, BatchSettings(scale=2, provider="lanczos"), tracker)
    assert [(str(r.item.source), r.status) for r in outcome.results] == [
        ("one.png", "ok"), ("bad.png", "failed"), ("sub/two.png", "ok")]  # fmt: skip
    assert webapp.batch_failure_lines(outcome)[0].startswith("bad.png: ") and "/tmp" not in outcome.failed[0].error
    rows = webapp.batch_rows(outcome)
    assert rows[0]["Output"] == "48 × 32" and rows[0]["Produced by"] == "Lanczos" and rows[1]["Error"]
    assert {f.label: f.value for f in webapp.batch_summary(outcome)}["Failed"] == "1"
    with zipfile.ZipFile(io.BytesIO(outcome.zip_data)) as archive:
        assert sorted(archive.namelist()) == ["attempts.csv", "one_x2.png", "sub/two_x2.png"]
        csv_text = archive.read("attempts.csv").decode()
        assert Image.open(io.BytesIO(archive.read("sub/two_x2.png"))).size == (32, 32)
    assert "sub/two.png,sub/two_x2.png,ok" in csv_text and "/tmp" not in csv_text
    assert updates[-1].overall == (1.0, "3 of 3 images done, 1 failed")
    assert {update.index for update in updates if update.item[0] == 1.0} == {0, 1, 2}
    assert any(update.item[1] == "sub/two.png: done by Lanczos" for update in updates)


def test_an_interrupted_batch_page_cancels_the_batch():
    class Stop(Exception):
        pass

    def render(update):
        raise Stop()

    tracker = webapp.BatchTracker(["a.png"], render)
    item = type("Item", (), {"index": 0, "source": Path("a.png")})()
    tracker.started(item)
    assert tracker.cancel.is_set() and isinstance(tracker.interrupted, Stop)
    with pytest.raises(Stop):
        tracker.reraise()


def test_a_mistake_shared_by_every_image_is_one_message():
    from hdcore.batch import BatchSettings

    outcome = webapp.run_batch_upload(engine_with(), [webapp.BatchInput("a.png", png_bytes(photo()))],
                                      BatchSettings(scale=2, provider="nowhere"))  # fmt: skip
    assert outcome.error and not outcome.results and outcome.zip_data == b""


def test_the_app_engine_gets_a_planner_only_when_the_settings_ask_for_one(tmp_path):
    from hdcore.health import HealthPlanner

    store = HistoryStore.in_folder(tmp_path)
    assert webapp.build_engine({}, store).planner is None
    adaptive = webapp.build_engine({"HDCORE_ORDER_MODE": "adaptive"}, store)
    assert isinstance(adaptive.planner, HealthPlanner) and adaptive.planner.order.mode == "adaptive"
    assert webapp.build_engine({"HDCORE_ORDER_MODE": "adaptive"}, None).planner is None  # no history to read


