"""hdcore.webapp, the History page: stored runs as rows; tested without Streamlit."""

from __future__ import annotations

from pathlib import Path


from hdcore import webapp
from hdcore.attempts import Attempt, Cost
from hdcore.config import Config
from hdcore.history import HistoryStore
from tests.conftest import ScriptedProvider, photo, png_bytes
from tests.webapp.helpers import request_for, scripted_engine


# -------------------------------------------------------------------------------------------- history page


def test_runs_are_recorded_and_listed(tmp_path: Path):
    store = HistoryStore.in_folder(tmp_path)
    engine = scripted_engine(ScriptedProvider(Config(), "fast", cost=Cost(0.002, "measured")))
    image = photo((20, 10))
    source = webapp.inspect_upload("photo.png", png_bytes(image), engine.config)
    ok = webapp.run_enhance(engine, request_for(image), source=source, clock=lambda: 1_700_000_000.0)
    assert webapp.record_outcome(store, ok) is None
    failed = webapp.RunOutcome(request_for(image, scale=4), source=source, time=1_700_000_100.0, error="every tier failed",
                               failed_attempts=[Attempt(1, "hf", "m", "timeout", "timed out after 10.0 s", 10.0)])
    assert webapp.record_outcome(store, failed) is None
    assert webapp.record_outcome(store, webapp.RunOutcome(request_for(image), error="not an image")) is None
    assert webapp.record_outcome(None, ok) is None

    runs = store.runs()
    assert len(runs) == 2  # the undecodable upload reached no tier and is not a run
    newest, oldest = webapp.history_rows(runs)
    assert newest["Produced by"] == "✗ failed" and newest["Scale"] == "4x" and newest["Error"] == "every tier failed (hf: timed out after 10.0 s)"
    assert newest["Tiers"] == "Hugging Face: timeout 10.00 s"
    assert oldest["Produced by"] == "Fast" and oldest["Input"] == "20 × 10" and oldest["Source"] == "photo.png"
    assert oldest["Cost (USD)"] == 0.002 and oldest["Tiers"].startswith("Fast: ok ") and oldest["Tiers"].endswith("$0.0020")
    assert oldest["Time"].year == 2023 and oldest["Thumbnail"].startswith("data:image/png;base64,")
    figures = {h.label: h.value for h in webapp.history_summary(runs, store.count())}
    assert figures == {"Runs recorded": "2", "Succeeded (this page)": "50%", "Cost (this page)": "$0.0020"}
    store.close()


def test_an_unwritable_history_is_a_warning(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    engine = scripted_engine(ScriptedProvider(Config(), "fast"))
    outcome = webapp.run_enhance(engine, request_for(photo((8, 8))))
    warning = webapp.record_outcome(HistoryStore.in_folder(blocker), outcome)
    assert warning.startswith("This run was not saved to the history: cannot open history")


def test_history_paging_and_skipped_tiers():
    assert webapp.page_count(0) == 1 and webapp.page_count(50) == 1 and webapp.page_count(51) == 2
    assert webapp.thumbnail_uri(None) is None and webapp.thumbnail_uri(b"") is None


