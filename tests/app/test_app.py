"""The Streamlit app driven by AppTest: upload, enhance, the comparison, the attempts table, provider override,
options, bad uploads, queueing, the history, and that no token ever reaches a page or a log."""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from hdcore.engine.breaker import process_breakers

from hdcore.providers.local import local_gate
from tests.conftest import photo, png_bytes
from tests.webapp.streamlit_markdown import rendered

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
HF_SENTINEL = "hf_SENTINEL_token_that_must_never_show_4242"
REPLICATE_SENTINEL = "r8_SENTINEL_token_that_must_never_show_2424"
FAL_SENTINEL = "fal_id_SENTINEL:fal_secret_that_must_never_show_4224"
TOKENS = ("HUGGINGFACE_TOKEN", "REPLICATE_API_TOKEN", "HDCORE_SPACE")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No tokens from the machine, and the history in a temporary folder (never the repository's data/)."""
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HDCORE_DATA_DIR", str(tmp_path / "data"))


def started_app(page: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=240)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, app.exception
    return app


def upload(app: AppTest, name: str, data: bytes, mime: str = "image/png") -> None:
    app.file_uploader[0].set_value((name, data, mime))
    app.run()
    assert not app.exception, app.exception


def choose(app: AppTest, label: str, value) -> None:
    next(box for box in app.selectbox if box.label == label).set_value(value)
    app.run()


def enhance(app: AppTest) -> None:
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception


def attempts_rows(app: AppTest) -> list[dict]:
    return app.dataframe[0].value.to_dict("records")


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def shown(element) -> str:
    """What a person reads of a markdown element (st.error, st.caption...): its text as the page renders it."""
    return rendered(element.value).text


def markdown_texts(app: AppTest) -> list[str]:
    return [shown(element) for element in app.markdown]


def status_labels(app: AppTest) -> list[str]:
    return [rendered(block.label).text for block in app.get("status")]


def walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def rendered_text(app: AppTest) -> str:
    """Every element and block of the page as protobuf text and bytes (dataframes carry Arrow bytes)."""
    parts = []
    for node in walk(app._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
            parts.append(proto.SerializeToString().decode("latin-1"))
    return "\n".join(parts)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed on exit: connections are refused at once


# ------------------------------------------------------------------------------------------------ pages


def test_page_asks_for_an_upload_first():
    app = started_app()
    assert app.title[0].value == "HD Enhance"
    assert "Upload" in app.info[0].value
    providers = app.selectbox[0]
    assert providers.label == "Provider" and providers.options[0].startswith("Auto (")
    assert "Hugging Face — not configured" in providers.options  # shown, not hidden
    assert app.button[0].label == "Enhance" and app.button[0].disabled
    sidebar = " ".join(shown(element) for element in app.sidebar.markdown)
    assert "HUGGINGFACE_TOKEN" in sidebar and "✓ Local" in sidebar


@pytest.mark.parametrize("provider, expected", [("lanczos", "Lanczos"), ("auto", "Local")])
def test_upload_and_enhance_shows_the_comparison_and_attempts(provider, expected):
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    app.radio[0].set_value(2)
    choose(app, "Provider", provider)
    enhance(app)
    rows = attempts_rows(app)
    assert rows[-1]["Provider"] == expected and rows[-1]["Outcome"] == "ok"
    assert all(row["Outcome"] == "skipped" for row in rows[:-1])
    figures = metrics(app)
    assert figures["Produced by"] == expected and figures["Output"] == "64 × 48"
    assert figures["Runs this session"] == "1" and figures["Cost"] == "$0"
    [frame] = app.get("iframe")
    assert frame.proto.srcdoc.count('src="data:image/') == 2 and "Before · 32×24" in frame.proto.srcdoc
    [download] = app.get("download_button")
    assert download.proto.label == "Download PNG"
    captions = [image.proto.imgs[0].caption for image in app.get("image")]
    assert "Before (nearest neighbour)" in captions and "After, 1:1 — x 0–64, y 0–48" in captions
    assert any(label.startswith(f"Done by {expected}") for label in status_labels(app))
    assert not app.error and not app.warning


def test_the_result_stays_through_later_reruns():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    enhance(app)
    choose(app, "Output format", "webp")  # any later change reruns the page: the last result is still shown
    assert metrics(app)["Output"] == "128 × 96" and len(app.get("iframe")) == 1
    assert any(label.startswith("Done by Lanczos") for label in status_labels(app))
    app.button[0].click().run()
    assert metrics(app)["Runs this session"] == "2"
    assert app.get("download_button")[0].proto.label == "Download WEBP"


def test_provider_override_forces_one_tier():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "local")
    choose(app, "Model", "waifu2x-anime")
    app.radio[0].set_value(2)
    enhance(app)
    [row] = attempts_rows(app)
    assert row["Provider"] == "Local" and row["Model"] == "waifu2x-anime" and row["Outcome"] == "ok"
    assert metrics(app)["Output"] == "64 × 48"


def test_forcing_an_unconfigured_tier_lists_its_reason():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "hf")
    assert [option for option in app.radio[0].options] == ["2×", "4×", "Custom…"]  # the scales Hugging Face has
    enhance(app)
    [error] = app.error
    assert error.value.startswith("**Every tier failed.**")
    assert shown(error) == "Every tier failed.\nHugging Face: not configured (set HUGGINGFACE_TOKEN)"
    [row] = attempts_rows(app)
    assert row["Provider"] == "Hugging Face" and row["Outcome"] == "skipped"
    assert any(label == "Every tier failed" for label in status_labels(app))
    assert not app.get("iframe")


def option_toggles(app: AppTest) -> list[str]:
    """The toggles a provider's options add (the metadata toggle is always there)."""
    return [toggle.label for toggle in app.toggle if toggle.label != "Copy metadata (EXIF, XMP)"]


def test_options_follow_the_provider(monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", REPLICATE_SENTINEL)
    app = started_app()
    assert [radio.label for radio in app.radio] == ["Scale", "Local preset"]
    assert option_toggles(app) == ["Face enhance (Replicate: Real-ESRGAN with GFPGAN, Topaz)"]
    choose(app, "Provider", "lanczos")
    assert [radio.label for radio in app.radio] == ["Scale"] and not option_toggles(app)
    choose(app, "Provider", "replicate")
    choose(app, "Model", "fermatresearch/magic-image-refiner")
    assert [box.label for box in app.text_input] == ["Prompt"] and not option_toggles(app)
    choose(app, "Output format", "jpeg")
    assert [slider.label for slider in app.slider] == ["Quality"] and app.slider[0].value == 92


def test_bad_upload_gets_a_one_line_error():
    app = started_app()
    upload(app, "notes.png", b"this is plain text, not a picture", "image/png")
    assert len(app.error) == 1
    message = shown(app.error[0])
    assert message.startswith("notes.png: ") and "text" in message and "\n" not in message
    assert app.button[0].disabled  # nothing to run
    assert not app.get("iframe") and not app.get("status")


def test_truncated_image_gets_a_one_line_error():
    app = started_app()
    upload(app, "cut.png", png_bytes(photo((32, 24)))[:200])
    [error] = app.error
    assert "\n" not in error.value and "truncated" in shown(error).lower()


def test_bad_settings_are_a_message_not_a_crash(monkeypatch):
    monkeypatch.setenv("HDCORE_LOCAL_PRESET", "bogus")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception
    assert shown(app.error[0]).startswith("The configuration cannot be used: HDCORE_LOCAL_PRESET")


# ------------------------------------------------------------------------------------------ concurrency


def test_a_queued_local_job_shows_its_place():
    gate = local_gate(1)  # the process-wide gate the app's local tier uses (HDCORE_LOCAL_JOBS=1)
    holding, release = threading.Event(), threading.Event()

    def other_session() -> None:
        with gate.slot():
            holding.set()
            release.wait(60)

    def release_once_queued() -> None:
        deadline = time.monotonic() + 60
        while gate.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the engine delivers the report on its next poll
        release.set()

    threads = [threading.Thread(target=other_session), threading.Thread(target=release_once_queued)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    try:
        app = started_app()
        upload(app, "astronaut.png", png_bytes(photo((32, 24))))
        choose(app, "Provider", "local")
        enhance(app)
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert "Waiting for a free slot: place 1" in markdown_texts(app)
    assert attempts_rows(app)[-1]["Outcome"] == "ok"


# ------------------------------------------------------------------------------------------------ history


def test_runs_are_listed_on_the_history_page():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    enhance(app)
    choose(app, "Provider", "hf")
    enhance(app)  # a failed run is history too
    app.switch_page("pages/history.py")
    app.run()
    assert not app.exception
    rows = app.dataframe[0].value.to_dict("records")
    assert [row["Produced by"] for row in rows] == ["✗ failed", "Lanczos"]
    assert rows[1]["Input"] == "32 × 24" and rows[1]["Scale"] == "4x" and rows[1]["Source"] == "astronaut.png"
    assert rows[1]["Thumbnail"].startswith("data:image/png;base64,")
    assert "not configured" in rows[0]["Error"]
    assert metrics(app)["Runs recorded"] == "2"


def test_with_a_database_url_the_history_is_the_one_every_replica_shares(monkeypatch, tmp_path, postgres_url):
    from hdcore.errors import InvalidImage
    from hdcore.store import open_store
    from tests.postgres_cluster import PASSWORD

    monkeypatch.setenv("HDCORE_DATABASE_URL", postgres_url)
    with open_store(postgres_url) as other_replica:
        other_replica.record_failure(InvalidImage("not an image"), input_size=(8, 8), scale=2, source_name="theirs.png")
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    enhance(app)
    app.switch_page("pages/history.py")
    app.run()

    assert not app.exception and not app.warning
    assert [row["Source"] for row in app.dataframe[0].value.to_dict("records")] == ["astronaut.png", "theirs.png"]
    with open_store(postgres_url) as other_replica:
        assert other_replica.count() == 2
    assert not (tmp_path / "data").exists()  # nothing went to the SQLite default
    assert PASSWORD not in rendered_text(app)


def test_an_unwritable_history_still_delivers_the_image(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("HDCORE_DATA_DIR", str(blocker))
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    enhance(app)
    [warning] = app.warning
    assert shown(warning).startswith("This run was not saved to the history: cannot open history")
    assert app.get("download_button") and metrics(app)["Output"] == "128 × 96"
    app.switch_page("pages/history.py")
    app.run()
    assert not app.exception and shown(app.warning[0]).startswith("The history cannot be read")


def test_enhance_page_explains_the_auto_order(monkeypatch):
    monkeypatch.setenv("HDCORE_ORDER_MODE", "adaptive")
    app = started_app()
    captions = [shown(caption) for caption in app.caption]
    assert any("Adaptive order: Hugging Face → fal → Replicate → HF Space → Local" in text for text in captions)
    choose(app, "Provider", "lanczos")
    assert not any("Adaptive order" in shown(caption) for caption in app.caption)  # a forced tier has no order


def test_health_page_is_in_the_navigation():
    app = started_app("pages/health.py")
    assert app.title[0].value == "Health" and app.info[0].value.startswith("No attempts")


def test_empty_history_says_so():
    app = started_app("pages/history.py")
    assert app.info[0].value.startswith("No runs yet")


# ---------------------------------------------------------------------------------------------- secrets


def test_no_token_appears_on_any_page_or_in_the_logs(monkeypatch, caplog, capfd):
    """Both tokens set (one as a Streamlit secret, one in the environment), every cloud tier configured and
    failing against a closed port on 127.0.0.1, a run that falls back to the local tier, a probe of every
    tier, and every page: the sentinel values appear in no element, no block and no log line."""
    caplog.set_level(logging.DEBUG)
    dead = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("REPLICATE_API_TOKEN", REPLICATE_SENTINEL)
    monkeypatch.setenv("FAL_KEY", FAL_SENTINEL)
    monkeypatch.setenv("HDCORE_HF_BASE_URL", dead)
    monkeypatch.setenv("REPLICATE_BASE_URL", dead)
    monkeypatch.setenv("HDCORE_FAL_BASE_URL", dead)
    monkeypatch.setenv("HDCORE_SPACE", dead + "/")

    app = AppTest.from_file(APP, default_timeout=240)
    app.secrets["HUGGINGFACE_TOKEN"] = HF_SENTINEL
    app.run()
    assert not app.exception
    seen = [rendered_text(app)]
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    app.radio[0].set_value(2)
    enhance(app)
    rows = attempts_rows(app)
    assert [row["Provider"] for row in rows] == ["Hugging Face", "fal", "Replicate", "HF Space", "Local"]
    assert [row["Outcome"] for row in rows][:4] == ["error"] * 4  # each cloud tier was called with its token
    assert rows[-1]["Outcome"] == "ok"
    seen.append(rendered_text(app))

    app.switch_page("pages/providers.py")
    app.run()
    for tier in ("hf", "fal", "replicate", "space"):
        next(button for button in app.button if button.key == f"probe-{tier}").click().run()
        assert not app.exception
        seen.append(rendered_text(app))
    assert any("failed" in element.value for element in app.error)
    app.switch_page("pages/history.py")
    app.run()
    assert not app.exception
    seen.append(rendered_text(app))
    app.switch_page("pages/qa.py")
    app.run()
    process_breakers.clear()  # the enhance run opened each cloud tier's breaker: call them again here
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    app.multiselect[0].set_value(["hf", "replicate", "lanczos"]).run()
    app.button[0].click().run()
    assert not app.exception
    assert [row["Outcome"] for row in app.dataframe[0].value.to_dict("records")] == ["error", "error", "ok"]
    seen.append(rendered_text(app))
    app.switch_page("pages/batch.py")
    app.run()
    assert not app.exception
    seen.append(rendered_text(app))
    app.switch_page("pages/health.py")
    app.run()
    assert not app.exception and app.dataframe  # the fallback run above gives every tier figures
    seen.append(rendered_text(app))

    everything = "\n".join(seen) + caplog.text + "".join(capfd.readouterr())
    assert "Hugging Face" in everything and "astronaut.png" in everything  # the scan does see the pages
    assert HF_SENTINEL not in everything
    assert REPLICATE_SENTINEL not in everything
    assert FAL_SENTINEL not in everything and FAL_SENTINEL.split(":")[1] not in everything


# ---------------------------------------------------------------------------------- auto model, quality


def test_auto_model_says_why_and_quality_is_shown():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "local")
    model_box = next(box for box in app.selectbox if box.label == "Model")
    assert "Auto (picked from the image)" in model_box.options
    choose(app, "Model", "auto")
    app.radio[0].set_value(2)
    enhance(app)
    [info] = app.info
    assert shown(info).startswith("auto model: ") and "(" in shown(info)  # the model and why it was picked
    assert not app.warning and not app.error
    figures = metrics(app)
    assert figures["LR-PSNR"].endswith(" dB") and float(figures["LR-PSNR"].split()[0]) > 20
    assert 0 < float(figures["LR-SSIM"]) <= 1 and float(figures["Sharpness"]) > 0
    captions = " ".join(shown(caption) for caption in app.caption)
    assert "auto model" not in captions  # shown once, as the info, not among the notes


# -------------------------------------------------------------------------------------------------- QA


def qa_run(app: AppTest, image, reference: bool = False) -> None:
    upload(app, "astronaut.png", png_bytes(image))
    assert app.multiselect[0].value == ["lanczos", "local"]  # the baseline and the local tier's default preset
    app.radio[0].set_value(2)
    if reference:
        app.toggle[0].set_value(True)
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception


def test_qa_page_compares_two_providers_with_crops_and_csv():
    app = started_app("pages/qa.py")
    assert app.title[0].value == "Provider QA" and "Lanczos (baseline)" in app.multiselect[0].options
    qa_run(app, photo((64, 48)))
    rows = app.dataframe[0].value.to_dict("records")
    # the local tier's default preset: the best model within the time budget, x4plus for a 64x48 photo
    assert [row["Provider / model"] for row in rows] == ["lanczos", "local/realesrgan-x4plus"]
    for row in rows:
        assert row["Outcome"] == "ok" and row["Output"] == "128 × 96" and row["Cost (USD)"] == 0
        assert row["LR-PSNR (dB)"] > 25 and 0.9 < row["LR-SSIM"] <= 1 and row["Sharpness"] > 0
        assert row["Latency (s)"] > 0
    assert "PSNR (dB)" not in rows[0]  # no reference, no PSNR against it
    [download] = app.get("download_button")
    assert download.proto.label == "Download CSV"
    [crops] = app.get("iframe")  # one crop per output, side by side in one zoomable view
    labels = re.findall(r'<span class="tag before">([^<]*)</span>', crops.proto.srcdoc)
    assert labels == ["lanczos", "local/realesrgan-x4plus"]
    assert crops.proto.srcdoc.count('src="data:image/') == 2
    app.slider[0].set_value(0).run()  # the crop position applies to every output
    assert any("x 0–128" in caption.value for caption in app.caption)
    assert not app.error and not app.exception


def test_qa_benchmark_scores_psnr_and_ssim_against_the_reference():
    app = started_app("pages/qa.py")
    qa_run(app, photo((64, 48)), reference=True)
    rows = app.dataframe[0].value.to_dict("records")
    assert len(rows) == 2
    for row in rows:
        assert row["Outcome"] == "ok" and row["Output"] == "64 × 48"  # shrunk to 32 × 24, then back
        assert 15 < row["PSNR (dB)"] < 60 and 0.5 < row["SSIM"] <= 1
    assert app.subheader[0].value == "Benchmark against the reference"
    assert len(app.get("vega_lite_chart")) == 2  # PSNR and SSIM bars
    assert app.get("download_button")[0].proto.label == "Download CSV"


def test_qa_bad_image_is_a_one_line_error():
    app = started_app("pages/qa.py")
    upload(app, "notes.png", b"not a picture at all")
    app.button[0].click()
    app.run()
    [error] = app.error
    assert "\n" not in error.value and not app.exception


# ----------------------------------------------------------------------------------------------- Batch


def test_batch_page_enhances_many_files_and_reports_the_broken_one():
    import io
    import zipfile

    app = started_app("pages/batch.py")
    assert app.title[0].value == "Batch"
    choose(app, "Provider", "lanczos")
    app.radio[0].set_value(2)
    app.file_uploader[0].set_value([
        ("one.png", png_bytes(photo((24, 16))), "image/png"),
        ("broken.png", b"this is plain text, not a picture", "image/png"),
        ("two.png", png_bytes(photo((20, 20))), "image/png"),
    ])  # fmt: skip
    app.run()
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    figures = metrics(app)
    assert (figures["Images"], figures["Enhanced"], figures["Failed"]) == ("3", "2", "1")
    [error] = app.error
    assert shown(error).startswith("broken.png: ") and "\n" not in error.value
    rows = app.dataframe[0].value.to_dict("records")
    assert [(row["Image"], row["Status"]) for row in rows] == [("one.png", "ok"), ("broken.png", "failed"),
                                                                ("two.png", "ok")]  # fmt: skip
    [download] = app.get("download_button")
    assert download.proto.label == "Download hd_enhance_x2.zip"
    outcome = app.session_state["batch"]
    with zipfile.ZipFile(io.BytesIO(outcome.zip_data)) as archive:
        assert sorted(archive.namelist()) == ["attempts.csv", "one_x2.png", "two_x2.png"]
        attempts = archive.read("attempts.csv").decode()
    assert "broken.png,,failed," in attempts and "/tmp" not in attempts


def test_batch_page_reads_a_zip_and_says_what_it_left_out():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shots/a.png", png_bytes(photo((16, 12))))
        archive.writestr("readme.txt", "not an image")
    app = started_app("pages/batch.py")
    choose(app, "Provider", "lanczos")
    app.file_uploader[0].set_value([("shots.zip", buffer.getvalue(), "application/zip"),
                                    ("bad.zip", b"not a zip", "application/zip")])  # fmt: skip
    app.run()
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    warnings = [shown(warning) for warning in app.warning]
    assert "shots.zip: readme.txt left out (not an image)" in warnings
    assert any(w.startswith("bad.zip: not a readable zip file") for w in warnings)
    assert metrics(app)["Enhanced"] == "1"
    assert app.dataframe[0].value.to_dict("records")[0]["Image"] == "shots/a.png"


# ------------------------------------------------------------------------- sizes, metadata, animations


def number_box(app: AppTest, label: str):
    return next(box for box in app.number_input if box.label == label)


def captions(app: AppTest) -> list[str]:
    return [shown(caption) for caption in app.caption]


def test_a_width_is_previewed_before_the_run_and_reached_exactly():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    choose(app, "Output size", "box")
    [error] = app.error  # the default width, 3840 px, is a 120x enlargement of 32 px
    assert "enlarges 1.1x to 8x" in shown(error) and "\n" not in error.value and app.button[0].disabled
    number_box(app, "Width (px)").set_value(100).run()
    assert ":material/aspect_ratio: Output: 32 × 24 → 100 × 75 px · 3.12×: 4×, then resized" in captions(app)
    assert not app.error and not app.button[0].disabled
    enhance(app)
    assert metrics(app)["Output"] == "100 × 75"
    [download] = app.get("download_button")
    assert download.proto.label == "Download PNG" and download.proto.ignore_rerun  # a download does not rerun
    assert download.proto.deferred_file_id and not download.proto.url  # the bytes are made on the click
    outcome = app.session_state["outcome"]
    assert outcome.download_name == "astronaut_w100.png"
    assert Image.open(io.BytesIO(outcome.download_data())).size == (100, 75)


def test_a_custom_factor_and_fill_and_crop_reach_their_sizes():
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    choose(app, "Provider", "lanczos")
    app.radio[0].set_value("custom").run()
    number_box(app, "Factor").set_value(2.5).run()
    enhance(app)
    assert metrics(app)["Output"] == "80 × 60"
    choose(app, "Output size", "box")
    number_box(app, "Width (px)").set_value(64).run()
    number_box(app, "Height (px)").set_value(64).run()
    next(radio for radio in app.radio if radio.label == "Fit").set_value("fill").run()
    assert any(text.endswith("64 × 64 px · 2.67×: 3×, then resized, centre cropped") for text in captions(app))
    enhance(app)
    assert metrics(app)["Output"] == "64 × 64"


def camera_jpeg(size: tuple[int, int] = (40, 30)) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Hasselblad", "500C/M"  # Make, Model
    exif.get_ifd(0x8769).update({0x9003: "1969:07:20 20:17:40", 0x829A: 0.004})  # DateTimeOriginal, ExposureTime
    buffer = io.BytesIO()
    photo(size).save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def camera_fields(data: bytes) -> tuple:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return exif.get(0x010F), exif.get(0x0110), exif.get_ifd(0x8769).get(0x9003)


def test_metadata_is_copied_by_default_and_left_out_when_the_toggle_is_off():
    app = started_app()
    upload(app, "moon.jpg", camera_jpeg(), "image/jpeg")
    choose(app, "Provider", "lanczos")
    toggle = next(toggle for toggle in app.toggle if toggle.label == "Copy metadata (EXIF, XMP)")
    assert toggle.value is True
    enhance(app)
    camera = ("Hasselblad", "500C/M", "1969:07:20 20:17:40")
    assert camera_fields(app.session_state["outcome"].download_data()) == camera
    next(toggle for toggle in app.toggle if toggle.label == "Copy metadata (EXIF, XMP)").set_value(False).run()
    enhance(app)
    assert camera_fields(app.session_state["outcome"].download_data()) == (None, None, None)


def test_an_animated_gif_is_counted_estimated_and_upscaled_frame_by_frame():
    from tests.test_animated import DURATIONS, FRAMES, film

    app = started_app()
    upload(app, "pan.gif", film(loop=3), "image/gif")
    summary = next(text for text in captions(app) if text.startswith("pan.gif · 64 × 48 px · "))
    assert summary.endswith(" GIF · 20 frames")
    animation = next(radio for radio in app.radio if radio.label == "Animation")
    assert animation.options == ["Every frame", "First frame only"] and animation.value is True
    app.radio[0].set_value(2).run()
    estimate = next(c for c in captions(app) if c.startswith(":material/animation: 20 frames of 64x48 to 128x96 (2x)"))
    assert "waifu2x-photo on the local tier" in estimate and "animated GIF" in estimate
    assert "Output format" not in [box.label for box in app.selectbox]  # the animation keeps its own format
    enhance(app)
    assert any(label.startswith("Done by Local (waifu2x-photo): 20 frames in ") for label in status_labels(app))
    outcome = app.session_state["outcome"]
    assert outcome.download_name == "pan_x2.gif" and app.get("download_button")[0].proto.label == "Download GIF"
    with Image.open(io.BytesIO(outcome.download_data())) as downloaded:
        durations = []
        for index in range(downloaded.n_frames):
            downloaded.seek(index)
            durations.append(downloaded.info["duration"])
        assert downloaded.size == (128, 96) and downloaded.info["loop"] == 3
    assert durations == DURATIONS
    [row] = attempts_rows(app)
    assert (row["Provider"], row["Frames"], row["Outcome"]) == ("Local", FRAMES, "ok")
    assert len(app.get("iframe")) == 2  # the comparison of the first frames, and the animation playing
    assert metrics(app)["Output"] == "128 × 96" and metrics(app)["Runs this session"] == "1"


def test_the_first_frame_only_is_a_still_as_before():
    from tests.test_animated import film

    app = started_app()
    upload(app, "pan.gif", film(), "image/gif")
    choose(app, "Provider", "lanczos")
    next(radio for radio in app.radio if radio.label == "Animation").set_value(False).run()
    assert "Output format" in [box.label for box in app.selectbox]
    app.radio[0].set_value(2).run()
    enhance(app)
    outcome = app.session_state["outcome"]
    assert outcome.animation is None and outcome.download_name == "pan_x2.png"
    assert "only the first of 20 frames is used" in outcome.notes


def test_cloud_tiers_run_the_frames_only_once_their_cost_is_accepted(monkeypatch):
    from tests.test_animated import film

    monkeypatch.setenv("REPLICATE_API_TOKEN", REPLICATE_SENTINEL)
    app = started_app()
    upload(app, "pan.gif", film(), "image/gif")
    app.radio[0].set_value(2).run()
    [consent] = app.checkbox
    assert consent.label == "Use the cloud tiers for every frame: Replicate about $0.0380 for 20 frames"
    assert consent.value is False
    enhance(app)
    assert [row["Provider"] for row in attempts_rows(app)] == ["Local"]  # Replicate was never sent a frame
    choose(app, "Provider", "replicate")
    enhance(app)
    [error] = app.error
    assert shown(error).startswith("Replicate runs in the cloud and an animation is one paid call per frame")


def test_an_animation_over_the_frames_by_pixels_cap_cannot_start():
    frames = [Image.new("RGB", (300, 300), (index * 4, 80, 160)) for index in range(60)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    app = started_app()
    upload(app, "long.gif", buffer.getvalue(), "image/gif")
    [error] = app.error  # 60 frames at 4x: 60 x 1200 x 1200 = 86.4 MP, over the 64 MP the library allows
    assert shown(error).startswith("animation too large: 60 frames of 1200x1200") and "\n" not in error.value
    assert app.button[0].disabled


def test_the_uploaders_take_what_the_pixel_limit_allows(monkeypatch):
    monkeypatch.setenv("HDCORE_MAX_INPUT_PIXELS", "4000000")  # 4 MP x 4 bytes = 15.3 MiB, + 1 MiB: 17
    app = started_app()
    assert app.file_uploader[0].proto.max_upload_size_mb == 17
    app.switch_page("pages/batch.py").run()
    assert app.file_uploader[0].proto.max_upload_size_mb == 17


def test_the_batch_page_takes_a_folder_and_refuses_too_many_files_in_one_line():
    app = started_app("pages/batch.py")
    assert not app.file_uploader[0].proto.accept_directory
    next(toggle for toggle in app.toggle if toggle.label == "Upload a folder").set_value(True).run()
    assert app.file_uploader[0].proto.accept_directory and app.file_uploader[0].proto.multiple_files
    tiny = png_bytes(photo((4, 4)))
    app.file_uploader[0].set_value([(f"shot{index}.png", tiny, "image/png") for index in range(101)]).run()
    [error] = app.error
    assert shown(error) == "101 files uploaded: a batch takes at most 100; remove 1 to go on"
    assert app.button[0].disabled


def test_a_batch_by_width_names_its_zip_by_that_width():
    app = started_app("pages/batch.py")
    choose(app, "Provider", "lanczos")
    choose(app, "Output size", "box")
    number_box(app, "Width (px)").set_value(40).run()
    assert ":material/aspect_ratio: Output: 40 px wide, the height to match" in captions(app)
    app.file_uploader[0].set_value([("one.png", png_bytes(photo((20, 10))), "image/png")]).run()
    app.button[0].click().run()
    assert not app.exception, app.exception
    [download] = app.get("download_button")
    assert download.proto.label == "Download hd_enhance_w40.zip" and download.proto.deferred_file_id
    assert app.dataframe[0].value.to_dict("records")[0]["Output"] == "40 × 20"
