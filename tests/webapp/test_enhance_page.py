"""hdcore.webapp, the Enhance page: options, a run, uploads, results, interruptions, quality, sizes; tested without Streamlit."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from hdcore import webapp
from hdcore.attempts import Attempt, Cost
from hdcore.config import Config
from hdcore.engine import ProgressEvent
from hdcore.errors import Cancelled, InvalidInput, ProviderTimeout
from tests.conftest import ScriptedProvider, photo, png_bytes
from tests.webapp.streamlit_markdown import rendered
from tests.webapp.helpers import engine_with, event, HF_SENTINEL, REPLICATE_SENTINEL, request_for, scripted_engine


# ----------------------------------------------------------------------------------------------- options


def shown_names(engine, provider, model, scale) -> list[str]:
    return [option.info.name for option in webapp.applicable_options(engine, provider, model, scale)]


def test_options_shown_where_they_apply_as_the_providers_declare_them():
    plain = engine_with()
    assert shown_names(plain, "auto", None, 4) == ["preset"]
    assert shown_names(plain, "local", "", 4) == ["preset"]
    assert shown_names(plain, "local", "waifu2x-anime", 2) == []  # denoise and tile are for the library and CLI
    assert shown_names(plain, "lanczos", None, 2) == []

    tokens = engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL, REPLICATE_API_TOKEN=REPLICATE_SENTINEL)
    assert shown_names(tokens, "auto", None, 4) == ["prompt", "face_enhance", "preset"]  # in chain order, once
    assert shown_names(tokens, "auto", None, 2) == ["face_enhance", "preset"]
    assert shown_names(tokens, "hf", None, 4) == ["prompt"]  # SD x4 at 4x
    assert shown_names(tokens, "hf", None, 2) == []  # Real-ESRGAN at 2x takes no prompt
    assert shown_names(tokens, "replicate", None, 4) == ["face_enhance"]
    refiner = "batouresearch/magic-image-refiner"
    assert shown_names(tokens, "replicate", refiner, 4) == ["prompt"]
    # a forced tier shows its options even before its token is set
    assert shown_names(plain, "replicate", None, 2) == ["face_enhance"]
    preset = webapp.applicable_options(plain, "local", None, 4)[0]
    assert preset.info.kind == "choice" and preset.default == "budget" and "fast" in preset.info.choices
    best = engine_with(HDCORE_LOCAL_PRESET="best")
    assert webapp.applicable_options(best, "local", None, 4)[0].default == "best"  # the configured preset


def test_only_applicable_options_reach_the_engine():
    shown = webapp.applicable_options(engine_with(REPLICATE_API_TOKEN=REPLICATE_SENTINEL), "auto", None, 2)
    options = webapp.enhance_options(shown, {"face_enhance": True, "prompt": "sharp", "preset": "best"})
    assert options == {"face_enhance": True, "preset": "best"}
    assert webapp.enhance_options(shown, {"face_enhance": False, "preset": None}) == {}
    prompt = webapp.applicable_options(engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL), "hf", None, 4)
    assert webapp.enhance_options(prompt, {"prompt": "  a cat  "}) == {"prompt": "a cat"}
    assert webapp.enhance_options(prompt, {"prompt": "   "}) == {}


def test_quality_applies_to_lossy_formats_only():
    assert webapp.OUTPUT_FORMATS == ("png", "jpeg", "webp")
    assert not webapp.quality_applies("png") and webapp.default_quality("png") is None
    assert webapp.quality_applies("jpeg") and webapp.default_quality("jpeg") == 92
    assert webapp.quality_applies("webp") and webapp.default_quality("webp") == 90


# ---------------------------------------------------------------------------------------------- narration


def test_narration_of_a_fallback_chain():
    narrator = webapp.Narrator()
    said = narrator.feed(event("hf", "start", model="stabilityai/stable-diffusion-x4-upscaler"))
    assert said.label == "Hugging Face…" and said.line == "Hugging Face (stabilityai/stable-diffusion-x4-upscaler): trying…"
    said = narrator.feed(event("hf", "failed", message="timed out after 10.0 s"))
    assert said.line == "Hugging Face: timed out after 10.0 s"
    said = narrator.feed(event("replicate", "start", tier=2, model="nightmareai/real-esrgan"))
    assert said.label == "Hugging Face: timed out after 10.0 s → Replicate…"
    said = narrator.feed(event("space", "skipped", tier=3, message="not configured (set HDCORE_SPACE)"))
    assert said.line == "HF Space: skipped, not configured (set HDCORE_SPACE)"
    said = narrator.feed(event("local", "waiting", 2, tier=4))
    assert said.line == "Waiting for a free slot: place 2" and "place 2" in said.label
    said = narrator.feed(event("local", "progress", 3, 12, tier=4))
    assert said.progress == (0.25, "Local: tile 3 of 12") and said.line is None
    said = narrator.feed(event("local", "ok", message="0.4 s", tier=4))
    assert said.label == "Local: done in 0.4 s" and said.clear_progress
    assert narrator.lines[-1] == "Local: done in 0.4 s" and len(narrator.lines) == 6


# --------------------------------------------------------------------------------------------------- a run


def test_a_successful_run_is_encoded_and_described():
    engine = scripted_engine(ScriptedProvider(Config(), "fast", cost=Cost(0.002, "estimated")))
    image = photo((20, 10))
    source = webapp.inspect_upload("photo.png", png_bytes(image), engine.config)
    outcome = webapp.run_enhance(engine, request_for(image, output_format="jpeg", quality=80), source=source,
                                 clock=lambda: 1234.0)  # fmt: skip
    assert outcome.ok and outcome.error == "" and outcome.time == 1234.0
    assert outcome.encoded.format == "jpeg" and outcome.download_name == "photo_x2.jpg"
    assert webapp.output_summary(outcome).startswith("40 × 20 px · ") and webapp.output_summary(outcome).endswith(" JPEG")
    figures = {h.label: h.value for h in webapp.headline(outcome)}
    assert figures == {"Produced by": "Fast", "Output": "40 × 20", "File": figures["File"], "Time": figures["Time"],
                       "Cost": "$0.0020"}  # fmt: skip
    assert webapp.done_label(outcome.result).startswith("Done by Fast (m-default) in ")


def test_every_tier_failing_lists_each_reason():
    def late(request):
        raise ProviderTimeout("timed out after 10.0 s", provider="slow")

    engine = scripted_engine(ScriptedProvider(Config(), "slow", late), ScriptedProvider(Config(), "off", configured=False))
    outcome = webapp.run_enhance(engine, request_for(photo((8, 8))))
    assert not outcome.ok and webapp.failure_title(outcome) == "Every tier failed"
    assert webapp.failure_lines(outcome.attempts) == ["Slow: timed out after 10.0 s", "Off: not configured (set OFF_TOKEN)"]
    text = webapp.failure_markdown(outcome)
    assert text.startswith("**Every tier failed.**") and "Off: not configured (set OFF_TOKEN)" in rendered(text).text


def test_bad_input_and_bad_options_become_one_line_messages():
    engine = scripted_engine(ScriptedProvider(Config(), "fast"))
    bad = webapp.run_enhance(engine, request_for(photo((8, 8)), data=b"just some text, not an image"))
    assert not bad.ok and bad.attempts == [] and "\n" not in bad.error and "text" in bad.error
    assert webapp.failure_title(bad) == "Cannot enhance this image" and rendered(webapp.failure_markdown(bad)).text == bad.error
    quality = webapp.run_enhance(engine, request_for(photo((8, 8)), output_format="jpeg", quality=500))
    assert not quality.ok and "quality" in quality.error


def test_a_tier_bug_never_shows_a_token():
    def leaky(request):
        raise RuntimeError(f"bug while sending {HF_SENTINEL}")

    config = Config.from_env({"HUGGINGFACE_TOKEN": HF_SENTINEL})
    engine = scripted_engine(ScriptedProvider(config, "leaky", leaky), ScriptedProvider(config, "fast"), config=config)
    outcome = webapp.run_enhance(engine, request_for(photo((8, 8))))
    assert outcome.ok
    assert outcome.attempts[0].reason == "unexpected RuntimeError: bug while sending ********"
    assert HF_SENTINEL not in repr(webapp.attempt_rows(outcome.attempts))


def test_a_cancelled_run_raises():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        webapp.run_enhance(scripted_engine(ScriptedProvider(Config(), "fast")), request_for(photo((8, 8))),
                           cancel=cancel)  # fmt: skip


def test_progress_events_reach_the_callback():
    seen: list[str] = []
    engine = scripted_engine(ScriptedProvider(Config(), "fast"))
    webapp.run_enhance(engine, request_for(photo((8, 8))), progress=lambda e: seen.append(e.stage))
    assert seen == ["start", "ok"]


# ----------------------------------------------------------------------------------------------- uploads


def test_inspect_upload_decodes_as_the_engine_does():
    info = webapp.inspect_upload("a.png", png_bytes(photo((30, 20))), Config())
    assert info.size == (30, 20) and info.format == "PNG" and info.image.mode == "RGB"
    assert info.summary.startswith("30 × 20 px · ") and info.summary.endswith("PNG")
    rgba = Image.new("RGBA", (4, 3), (10, 20, 30, 128))
    assert webapp.inspect_upload("t.png", png_bytes(rgba), Config()).image.mode == "RGBA"
    gray = webapp.inspect_upload("g.png", png_bytes(Image.new("L", (4, 3), 77)), Config())
    assert gray.image.mode == "L" and gray.image.getpixel((0, 0)) == 77
    with pytest.raises(InvalidInput, match="text"):
        webapp.inspect_upload("n.png", b"plain text, no picture", Config())
    with pytest.raises(InvalidInput):
        webapp.inspect_upload("big.png", png_bytes(photo((30, 20))), Config(max_input_pixels=100))


# ------------------------------------------------------------------------------------------- result views


def test_human_figures():
    assert webapp.human_bytes(999) == "999 B" and webapp.human_bytes(24_400) == "24 KB"
    assert webapp.human_bytes(3_200_000) == "3.2 MB"
    assert webapp.usd(0) == "$0" and webapp.usd(0.0019) == "$0.0019" and webapp.usd(12.5) == "$12.50"
    assert webapp.seconds(None) == "none" and webapp.seconds(10.0) == "10 s"
    assert webapp.download_name("my photo.jpeg", 4, "png") == "my_photo_x4.png"
    assert webapp.download_name("noext", 2, "jpeg") == "noext_x2.jpg"
    assert webapp.download_name("../..", 2, "webp") == "image_x2.webp"
    long = webapp.download_name("é" * 5000 + ".png", 2, "png")  # a name from the uploader: any length
    assert long.endswith("_x2.png") and len(long.encode()) <= 200 and long.startswith("éé")


def test_attempt_rows_and_latency_chart():
    attempts = [
        Attempt(1, "hf", None, "skipped", "not configured (set HUGGINGFACE_TOKEN)"),
        Attempt(2, "replicate", "nightmareai/real-esrgan", "timeout", "timed out after 30.0 s", 30.01234),
        Attempt(3, "local", "waifu2x-photo", "ok", "", 0.41, 0.0, "none", (64, 48)),
    ]
    rows = webapp.attempt_rows(attempts)
    assert list(rows[0]) == list(webapp.ATTEMPT_COLUMNS)
    assert rows[0]["Provider"] == "Hugging Face" and rows[0]["Latency (s)"] is None and rows[0]["Cost (USD)"] is None
    assert rows[1] == {"Tier": 2, "Provider": "Replicate", "Model": "nightmareai/real-esrgan", "Outcome": "timeout",
                       "Reason": "timed out after 30.0 s", "Latency (s)": 30.012, "Cost (USD)": 0.0,
                       "Cost basis": "no charge"}  # fmt: skip
    bars = webapp.latency_chart_rows(attempts)
    assert [b["Tier"] for b in bars] == ["2. Replicate", "3. Local"]
    assert [b["Color"] for b in bars] == [webapp.OUTCOME_COLORS["timeout"], webapp.OUTCOME_COLORS["ok"]]


def test_session_totals():
    totals = webapp.SessionTotals()
    engine = scripted_engine(ScriptedProvider(Config(), "fast", cost=Cost(0.01, "estimated")))
    ok = webapp.run_enhance(engine, request_for(photo((8, 8))))
    failed = webapp.RunOutcome(request_for(photo((8, 8))), failed_attempts=[
        Attempt(1, "fast", "m", "timeout", "slow", 2.0), Attempt(2, "off", None, "skipped", "no token")])
    not_a_run = webapp.RunOutcome(request_for(photo((8, 8))), error="not an image")
    for outcome in (ok, failed, not_a_run):
        totals.record(outcome)
    assert totals.runs == 2 and totals.succeeded == 1 and totals.cost_usd == pytest.approx(0.01)
    assert totals.mean_latency("fast") == pytest.approx((ok.attempts[0].latency_s + 2.0) / 2)
    assert totals.mean_latency("off") is None
    [row] = totals.rows()
    assert row["Provider"] == "Fast" and row["Tried"] == 2 and row["Produced"] == 1 and row["Cost (USD)"] == 0.01
    assert [h.value for h in totals.headline] == ["2", "$0.0100"]


def test_crop_pair_shows_the_same_spot_at_one_to_one():
    before = Image.fromarray(np.arange(10 * 8 * 3, dtype=np.uint8).reshape(8, 10, 3))
    after = before.resize((40, 32), Image.Resampling.NEAREST)
    left, right, box = webapp.crop_pair(before, after, (0.5, 0.5), side=16)
    assert left.size == right.size == (16, 16) and box == (12, 8, 28, 24)
    assert np.array_equal(np.asarray(left), np.asarray(right))  # nearest both ways: the same pixels
    _, _, corner = webapp.crop_pair(before, after, (1.0, 1.0), side=16)
    assert corner == (24, 16, 40, 32)  # clamped inside the image
    small_left, small_right, whole = webapp.crop_pair(before, after, (0.0, 0.0), side=500)
    assert whole == (0, 0, 40, 32) and small_right.size == (40, 32)


def test_comparison_is_built_once_per_outcome():
    engine = scripted_engine(ScriptedProvider(Config(), "fast"))
    image = photo((20, 10))
    source = webapp.inspect_upload("photo.png", png_bytes(image), engine.config)
    outcome = webapp.run_enhance(engine, request_for(image), source=source)
    slider = webapp.comparison(outcome)
    assert slider is webapp.comparison(outcome)
    assert "Before · 20×10" in slider.html and "After · 40×20 · Fast" in slider.html
    outcome._slider, outcome.source = None, None
    assert "Before · 20×10" in webapp.comparison(outcome).html  # without the upload: the output shrunk back


# ---------------------------------------------------------------------------------------- interruptions


class Interrupted(BaseException):
    """Stands for Streamlit's stop/rerun request, which is a BaseException raised from an element call."""


def test_an_interrupted_page_cancels_the_run():
    def slow(request):
        request.report(1, 10)
        time.sleep(5)  # ignores its cancel flag: the engine still stops waiting for it
        raise AssertionError("never used")

    provider = ScriptedProvider(Config(), "slow", slow)
    engine = scripted_engine(provider)
    seen: list[str] = []

    def render(event: ProgressEvent) -> None:
        seen.append(event.stage)
        if event.stage == "progress":
            raise Interrupted()

    relay = webapp.ProgressRelay(render)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        webapp.run_enhance(engine, request_for(photo((8, 8))), progress=relay, cancel=relay.cancel)
    assert time.monotonic() - started < 2.0
    assert isinstance(relay.interrupted, Interrupted) and relay.cancel.is_set()
    assert len(provider.cancelled) == 1  # the tier was told to stop (a Replicate prediction would be cancelled)
    assert seen == ["start", "progress"]  # nothing more is rendered once the page is going away
    with pytest.raises(Interrupted):
        relay.reraise()


def test_a_relay_that_renders_fine_changes_nothing():
    relay = webapp.ProgressRelay(lambda event: None)
    outcome = webapp.run_enhance(scripted_engine(ScriptedProvider(Config(), "fast")), request_for(photo((8, 8))),
                                 progress=relay, cancel=relay.cancel)  # fmt: skip
    assert outcome.ok and relay.interrupted is None and not relay.cancel.is_set()
    relay.reraise()  # nothing to hand back


# ------------------------------------------------------------------------------- auto model and quality


def test_the_local_tier_offers_the_auto_model_once():
    engine = engine_with()
    local = webapp.model_options(engine, "local")
    assert local[:2] == [webapp.DEFAULT_MODEL, "auto"] and local.count("auto") == 1
    assert "auto" not in webapp.model_options(engine, "lanczos") and webapp.model_options(engine, "auto") == [""]
    assert webapp.model_label("auto") == "Auto (picked from the image)"
    assert webapp.scale_options(engine, "local", "auto") == [2, 3, 4]
    assert shown_names(engine, "local", "auto", 2) == []  # the model is picked, not preset


def test_the_auto_models_reason_is_apart_from_the_notes():
    outcome = webapp.run_enhance(engine_with(), request_for(photo((32, 24)), provider="local", model="auto"))
    assert outcome.ok, outcome.error
    assert outcome.model_choice.startswith("auto model: ") and outcome.result.model in outcome.model_choice
    assert "auto model" not in outcome.notes and "device:" in outcome.notes
    lanczos = webapp.run_enhance(engine_with(), request_for(photo((32, 24)), provider="lanczos"))
    assert lanczos.model_choice == ""


def test_quality_figures_of_a_run():
    outcome = webapp.run_enhance(engine_with(), request_for(photo((32, 24)), provider="lanczos"))
    figures = {figure.label: figure.value for figure in webapp.quality_figures(outcome)}
    assert list(figures) == ["LR-PSNR", "LR-SSIM", "Sharpness"]
    assert figures["LR-PSNR"].endswith(" dB") and 0 < float(figures["LR-SSIM"]) <= 1
    assert webapp.decibels(float("inf")) == "∞ dB" and webapp.decibels(None) == "–"


# ------------------------------------------------------------------------------------- sizes and metadata


def camera_jpeg(size: tuple[int, int] = (40, 30)) -> bytes:
    """A photo with the EXIF a camera writes: make, model, time taken, exposure."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Hasselblad", "500C/M"  # Make, Model
    exif.get_ifd(0x8769).update({0x9003: "1969:07:20 20:17:40", 0x829A: 0.004})  # DateTimeOriginal, ExposureTime
    buffer = io.BytesIO()
    photo(size).save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def test_a_width_is_reached_exactly_and_names_the_download():
    data = camera_jpeg()
    outcome = webapp.run_enhance(engine_with(), webapp.EnhanceRequest(data, "moon.jpg", provider="lanczos", width=100))
    assert outcome.ok and outcome.result.output_size == (100, 75)
    assert outcome.download_name == "moon_w100.png" and outcome.request.size.label == "w100"
    assert {h.label: h.help for h in webapp.headline(outcome)}["Output"] == "2.5x of 40 × 30"
    filled = webapp.run_enhance(engine_with(), webapp.EnhanceRequest(data, "moon.jpg", provider="lanczos", width=64,
                                                                     height=64, fit="fill"))  # fmt: skip
    assert filled.result.output_size == (64, 64) and filled.download_name == "moon_64x64.png"


@pytest.mark.parametrize("copy_metadata", [True, False])
def test_the_metadata_toggle_decides_whether_the_camera_fields_reach_the_download(copy_metadata):
    request = webapp.EnhanceRequest(camera_jpeg(), "moon.jpg", scale=2, provider="lanczos", copy_metadata=copy_metadata)
    outcome = webapp.run_enhance(engine_with(), request)
    with Image.open(io.BytesIO(outcome.download_data())) as downloaded:
        exif = downloaded.getexif()
        camera = (exif.get(0x010F), exif.get(0x0110), exif.get_ifd(0x8769).get(0x9003))
    assert camera == (("Hasselblad", "500C/M", "1969:07:20 20:17:40") if copy_metadata else (None, None, None))


def test_a_batch_by_width_names_its_outputs_and_zip_by_that_width():
    import zipfile

    from hdcore.batch import BatchSettings

    settings = BatchSettings(width=40, provider="lanczos", copy_metadata=False)
    outcome = webapp.run_batch_upload(engine_with(), [webapp.BatchInput("a.jpg", camera_jpeg((20, 10)))], settings)
    assert outcome.zip_name == "hd_enhance_w40.zip" and outcome.zip_bytes() == outcome.zip_data
    with zipfile.ZipFile(io.BytesIO(outcome.zip_data)) as archive:
        written = Image.open(io.BytesIO(archive.read("a_w40.png")))
        assert written.size == (40, 20) and not written.getexif()


def test_too_many_files_in_one_upload_is_one_line():
    assert webapp.too_many_files(webapp.BATCH_MAX_IMAGES) == ""
    assert webapp.too_many_files(130) == "130 files uploaded: a batch takes at most 100; remove 30 to go on"
