"""The QA page's sweeps, driven by AppTest: a sweep run from the browser on an uploaded zip of references
(progress per entry, the leaderboard, charts, crops, downloads, kept in the history), two past sweeps side by
side with each provider's quality over time, and uploads that leave nothing to sweep."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from hdcore import Config, Engine
from hdcore.store import open_store
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.results import SweepResult
from hdcore.sweep.run import run_sweep
from tests.app.test_app import shown, isolated, started_app  # noqa: F401  (isolated: the same clean settings, autouse)
from tests.conftest import png_bytes

T0 = 1_700_000_000.0
DAY = 86_400.0


def reference_png(name: str, top: int) -> bytes:
    return png_bytes(Image.fromarray(sample_photo(name)[top : top + 96, 150:270]))


def references_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("refs/astronaut.png", reference_png("astronaut", 30))
        archive.writestr("refs/coffee.png", reference_png("coffee", 150))
        archive.writestr("refs/readme.txt", "not an image")
    return buffer.getvalue()


def by_key(elements, key: str):
    return next(element for element in elements if element.key == key)


def run_the_sweep(app: AppTest, uploads: list[tuple[str, bytes, str]], entries: list[str]) -> None:
    by_key(app.file_uploader, "sweep-uploads").set_value(uploads)
    app.run()
    by_key(app.multiselect, "sweep-entries").set_value(entries).run()
    by_key(app.button, "sweep-run").click().run()
    assert not app.exception, app.exception


def test_a_sweep_runs_on_an_uploaded_zip_and_is_kept_in_the_history(tmp_path):
    app = started_app("pages/qa.py")
    assert [tab.label for tab in app.tabs] == ["One image", "Sweep a reference set", "Past sweeps"]
    run_the_sweep(app, [("refs.zip", references_zip(), "application/zip")], ["lanczos"])

    assert [shown(warning) for warning in app.warning] == ["refs.zip: refs/readme.txt left out (not an image)"]
    bars = {bar.proto.text: bar.proto.value for bar in app.get("progress")}
    assert bars["Bicubic (baseline): 2 of 2"] == 100 and bars["Lanczos: 2 of 2"] == 100
    assert bars["4 of 4 calls done"] == 100
    board = app.dataframe[0].value.to_dict("records")
    assert sorted(row["Provider / model"] for row in board) == ["bicubic", "lanczos"]
    for row in board:
        assert row["Scale"] == "2×" and row["Images"] == 2 and row["Failed"] == 0 and 20 < row["PSNR-Y (dB)"] < 45
        assert 0.5 < row["SSIM-Y"] < 1 and row["± (dB)"] > 0
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Download results.csv", "Download leaderboard.csv", "Download report.html"]
    # PSNR-Y, SSIM-Y and latency bars (96 px references hold no NIQE patch), and the Past sweeps tab's trend
    assert len(app.get("vega_lite_chart")) == 4
    galleries = app.get("iframe")  # lanczos's least and most gain over bicubic, three crops each
    assert len(galleries) == 2 and all(frame.proto.srcdoc.count('src="data:image/') == 3 for frame in galleries)

    outcome = app.session_state["sweep"]
    report, results = outcome.report_html(), outcome.results_csv()
    assert "refs/astronaut.png" in report and report.count("<svg") == 4 and "/tmp" not in report
    assert results.splitlines()[1].startswith("refs/astronaut.png,bicubic,") and "/tmp" not in results
    assert "stored in the history as sweep 1" in " ".join(shown(caption) for caption in app.caption)
    with open_store(tmp_path / "data") as store:
        [stored] = store.sweeps()
        _, result = store.sweep(stored.id)
    assert stored.name == "refs.zip" and result.to_records() == outcome.result.to_records()
    assert by_key(app.selectbox, "past-a").options == [f"#1 · {stored_label(stored)}"]  # the Past sweeps tab


def stored_label(record) -> str:
    from hdcore.webapp import past_sweep_label

    return past_sweep_label(record).split(" · ", 1)[1]


def test_nothing_to_sweep_is_a_one_line_error_with_what_was_left_out():
    app = started_app("pages/qa.py")
    run_the_sweep(app, [("bad.zip", b"this is not a zip", "application/zip")], ["lanczos"])
    [warning] = app.warning
    assert shown(warning).startswith("bad.zip: not a readable zip file")
    [error] = app.error
    assert shown(error) == "upload reference images, or a zip of them" and not app.dataframe


@pytest.fixture
def two_sweeps(tmp_path) -> tuple[int, int]:
    """Two sweeps in the page's history a day apart; in the later one Lanczos scores 0.5 dB more."""
    folder = tmp_path / "refs"
    folder.mkdir()
    for name, top in (("astronaut", 30), ("coffee", 150)):
        (folder / f"{name}.png").write_bytes(reference_png(name, top))
    earlier = run_sweep([folder], ["lanczos"], (2,), engine=Engine(Config()))
    records = [dict(record) for record in earlier.to_records()]
    for record in records:
        if record["entry"] == "lanczos":
            record["psnr_y"] = round(record["psnr_y"] + 0.5, 4)
    with open_store(tmp_path / "data") as store:
        first = store.record_sweep(earlier, name="monday", when=T0)
        second = store.record_sweep(SweepResult.from_records(records), name="tuesday", when=T0 + DAY)
    return first, second


def test_two_past_sweeps_side_by_side_and_each_providers_quality_over_time(two_sweeps):
    first, second = two_sweeps
    app = started_app("pages/qa.py")
    listed = app.dataframe[0].value.to_dict("records")
    assert [(row["Sweep"], row["Swept"]) for row in listed] == [(f"#{second}", "tuesday"), (f"#{first}", "monday")]
    assert (by_key(app.selectbox, "past-a").value, by_key(app.selectbox, "past-b").value) == (first, second)
    compared = {row["Provider / model"]: row for row in app.dataframe[1].value.to_dict("records")}
    assert compared["lanczos"]["Δ PSNR-Y (dB)"] == pytest.approx(0.5, abs=1e-3)
    assert compared["bicubic"]["Δ PSNR-Y (dB)"] == pytest.approx(0.0) and compared["lanczos"]["Images in both"] == 2

    [trend] = app.get("vega_lite_chart")  # one line per provider, a point per sweep date
    assert "Provider / model" in trend.proto.spec and "Date" in trend.proto.spec
    by_key(app.selectbox, "past-a").set_value(second)
    by_key(app.selectbox, "past-b").set_value(first).run()
    compared = {row["Provider / model"]: row for row in app.dataframe[1].value.to_dict("records")}
    assert compared["lanczos"]["Δ PSNR-Y (dB)"] == pytest.approx(-0.5, abs=1e-3)
    assert not app.exception and not app.error
