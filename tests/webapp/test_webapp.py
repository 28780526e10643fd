"""hdcore.webapp: every decision the Streamlit pages make, tested without Streamlit."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdcore import webapp
from hdcore.attempts import Attempt, Cost
from hdcore.config import Config, known_settings
from hdcore.engine import Engine, ProgressEvent
from hdcore.errors import Cancelled, ConfigError, InvalidInput, ProviderTimeout
from hdcore.history import HistoryStore
from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry
from tests.webapp.streamlit_markdown import rendered

REPO = Path(__file__).resolve().parents[2]
HF_SENTINEL = "hf_SENTINEL_never_shown_1234567890"
REPLICATE_SENTINEL = "r8_SENTINEL_never_shown_0987654321"


def engine_with(**settings: str) -> Engine:
    return Engine(Config.from_env(settings))


def event(provider: str, stage: str, done: int = 0, total: int = 0, message: str = "", tier: int = 1,
          model: str | None = "m") -> ProgressEvent:  # fmt: skip
    return ProgressEvent(tier, provider, model, stage, done, total, message)


def request_for(image: Image.Image, **changes) -> webapp.EnhanceRequest:
    fields = dict(data=png_bytes(image), source_name="photo.png", scale=2, provider="auto")
    fields.update(changes)
    return webapp.EnhanceRequest(**fields)


def scripted_engine(*providers: ScriptedProvider, config: Config | None = None) -> Engine:
    return Engine(config or Config(), scripted_registry(*providers))


# ------------------------------------------------------------------------------------------------ settings


def test_upload_limit_matches_the_streamlit_config():
    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert webapp.upload_limit_mb() == 65  # 16 MP x 4 bytes = 64 MiB, + 1 MiB of headers
    assert settings["server"]["maxUploadSize"] == webapp.upload_limit_mb(Config().max_input_pixels)
    assert settings["browser"]["gatherUsageStats"] is False


def test_upload_limit_follows_the_pixel_limit():
    assert webapp.upload_limit_mb(1_000_000) == 5  # 4 MB raw = 3.8 MiB -> 4, + 1
    assert webapp.upload_limit_mb(2 * 16_777_216) == 129


def test_secrets_override_the_environment_and_only_scalars_count():
    merged = webapp.settings_from(
        {"HUGGINGFACE_TOKEN": "from-env", "HDCORE_HF_TIMEOUT": "10", "PATH": "/bin"},
        {"HUGGINGFACE_TOKEN": HF_SENTINEL, "HDCORE_HF_TIMEOUT": 5, "HDCORE_LOCAL_JOBS": 2,
         "flag": True, "section": {"HDCORE_ORDER": "local"}},
    )  # fmt: skip
    assert merged["HUGGINGFACE_TOKEN"] == HF_SENTINEL
    assert merged["HDCORE_HF_TIMEOUT"] == "5" and merged["HDCORE_LOCAL_JOBS"] == "2" and merged["flag"] == "true"
    assert "HDCORE_ORDER" not in merged and merged["PATH"] == "/bin"
    config = webapp.load_config(merged)
    assert config.values["HUGGINGFACE_TOKEN"].reveal() == HF_SENTINEL and HF_SENTINEL not in repr(config)
    assert config.timeout_for("hf") == 5.0 and config.values["HDCORE_LOCAL_JOBS"] == 2
    assert webapp.settings_from({"A": "1"}, None) == {"A": "1"}


def test_settings_key_changes_with_hdcore_settings_only_and_hides_tokens():
    base = {"HUGGINGFACE_TOKEN": HF_SENTINEL, "HOME": "/root"}
    key = webapp.settings_key(base)
    assert HF_SENTINEL not in key and re.fullmatch(r"[0-9a-f]{32}", key)
    assert webapp.settings_key({**base, "HOME": "/elsewhere"}) == key
    assert webapp.settings_key({**base, "HUGGINGFACE_TOKEN": "other"}) != key
    assert webapp.settings_key({**base, "HDCORE_LOCAL_JOBS": "2"}) != key
    assert webapp.settings_key({**base, "REPLICATE_API_TOKEN": "x"}) != key


def test_the_secrets_example_documents_every_setting_with_valid_values():
    example = (REPO / ".streamlit" / "secrets.toml.example").read_text()
    uncommented = "\n".join(re.sub(r"^# ([A-Z][A-Z0-9_]+ = )", r"\1", line) for line in example.splitlines())
    values = tomllib.loads(uncommented)
    read_by_hdcore = {setting.variable for setting in known_settings()}
    # an alias, a model with no default, the baseline's deadline (it has none), and a URL that is a secret of its own
    read_by_hdcore -= {"HDCORE_REPLICATE_BASE_URL", "HDCORE_HF_MODEL_X3", "HDCORE_LANCZOS_TIMEOUT", "HDCORE_DATABASE_URL"}
    assert read_by_hdcore <= set(values), read_by_hdcore - set(values)
    config = webapp.load_config(webapp.settings_from({}, values))  # every documented value is a valid one
    assert config.values["HUGGINGFACE_TOKEN"] and config.values["HDCORE_LOCAL_JOBS"] == 1 and config.data_dir == "data"
    assert "secrets.toml" in (REPO / ".gitignore").read_text()


def test_bad_settings_raise_a_config_error():
    with pytest.raises(ConfigError, match="HDCORE_LOCAL_PRESET"):
        webapp.load_config({"HDCORE_LOCAL_PRESET": "bogus"})


def test_redaction_blanks_every_configured_token():
    config = webapp.load_config({"HUGGINGFACE_TOKEN": HF_SENTINEL, "REPLICATE_API_TOKEN": REPLICATE_SENTINEL})
    text = f"failed with {HF_SENTINEL} and {REPLICATE_SENTINEL}"
    assert webapp.redact(text, config) == "failed with ******** and ********"
    assert webapp.redact(text, None) == text
    message = webapp.error_message(RuntimeError(f"boom\n{HF_SENTINEL}"), config)
    assert message == "unexpected RuntimeError: boom ********"
    assert webapp.error_message(InvalidInput("bad\nfile")) == "bad file"


def test_webapp_never_imports_streamlit():
    code = "import sys, hdcore.webapp, hdcore.webapp.compare_slider; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# ------------------------------------------------------------------------------------------------- tiers


def test_every_tier_is_offered_and_unconfigured_ones_say_so():
    engine = engine_with()
    assert webapp.provider_options(engine) == ["auto", "hf", "fal", "replicate", "space", "local", "lanczos"]
    labels = [webapp.provider_label(engine, name) for name in webapp.provider_options(engine)]
    assert labels == [
        "Auto (Hugging Face → fal → Replicate → HF Space → Local)",
        "Hugging Face — not configured",
        "fal — not configured",
        "Replicate — not configured",
        "HF Space — not configured",
        "Local",
        "Lanczos",
    ]
    configured = engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL)
    assert webapp.provider_label(configured, "hf") == "Hugging Face"
    assert webapp.provider_label(configured, "space") == "HF Space"  # the seed's Space, with the HF token


def test_tier_views_never_carry_a_token():
    engine = engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL, REPLICATE_API_TOKEN=REPLICATE_SENTINEL)
    shown = repr(webapp.tier_views(engine)) + repr(webapp.tier_rows(engine)) + repr(webapp.sidebar_lines(engine))
    assert HF_SENTINEL not in shown and REPLICATE_SENTINEL not in shown
    rows = {row["Provider"]: row for row in webapp.tier_rows(engine)}
    assert rows["hf"]["Status"] == "✓ configured" and rows["hf"]["Auto chain"] == "#1"
    assert rows["lanczos"]["Auto chain"] == "only when chosen"
    assert rows["hf"]["Timeout"] == "10 s" and rows["local"]["Timeout"] == "none"


def test_missing_tokens_are_named_in_the_tier_rows_and_sidebar():
    engine = engine_with()
    rows = {row["Provider"]: row for row in webapp.tier_rows(engine)}
    assert rows["hf"]["Status"] == "✗ not configured (set HUGGINGFACE_TOKEN)"
    assert rows["local"]["Status"] == "✓ configured"
    lines = webapp.sidebar_lines(engine)
    assert lines[0].startswith("○ Hugging Face") and "HUGGINGFACE_TOKEN" in rendered(lines[0]).text
    assert "✓ **Local**" in lines


def test_model_choices_per_provider():
    engine = engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL)
    assert webapp.model_options(engine, "auto") == [webapp.DEFAULT_MODEL]
    assert webapp.model_options(engine, "hf") == [
        "", "nightmareai/real-esrgan", "stabilityai/stable-diffusion-x4-upscaler",
    ]  # fmt: skip
    assert "waifu2x-photo" in webapp.model_options(engine, "local")
    assert webapp.model_label("") == "Default for the scale" and webapp.model_label("m") == "m"
    assert webapp.chosen_model("") is None and webapp.chosen_model("m") == "m"


def test_scales_follow_the_chosen_provider_and_model():
    engine = engine_with(HUGGINGFACE_TOKEN=HF_SENTINEL)
    assert webapp.scale_options(engine, "auto") == [2, 3, 4]
    assert webapp.scale_options(engine, "hf") == [2, 4]  # no 3x model configured there
    assert webapp.scale_options(engine, "hf", "stabilityai/stable-diffusion-x4-upscaler") == [4]
    assert webapp.scale_options(engine, "hf", "nightmareai/real-esrgan") == [2]
    assert webapp.scale_options(engine, "local", "waifu2x-photo") == [2, 3, 4]
    assert webapp.scale_options(engine_with(), "hf") == [2, 4]  # an unconfigured tier still shows its scales
    assert webapp.default_scale([2, 4]) == 4 and webapp.default_scale([2]) == 2


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
    assert preset.info.kind == "choice" and preset.default == "fast" and "fast" in preset.info.choices
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


# ------------------------------------------------------------------------------------------ providers page


def test_price_rows_show_the_table_in_force():
    rows = webapp.price_rows(engine_with())
    by_item = {(r["Tier"], r["Item"]): r for r in rows}
    assert by_item[("Replicate", "nightmareai/real-esrgan")]["USD"] == 0.0019
    assert by_item[("Replicate", "gpu-t4")]["Unit"] == "per second (measured)"
    assert by_item[("Hugging Face", "stabilityai/stable-diffusion-x4-upscaler")]["USD"] is None  # not served today
    overridden = webapp.price_rows(engine_with(HDCORE_PRICES='{"run:nightmareai/real-esrgan": 0.5}'))
    assert {(r["Item"], r["USD"]) for r in overridden} >= {("nightmareai/real-esrgan", 0.5)}


def test_settings_rows_show_what_each_tier_declares_and_never_a_token():
    engine = engine_with(HDCORE_LOCAL_JOBS="2", HUGGINGFACE_TOKEN=HF_SENTINEL)
    local = {r["Setting"]: r["Value"] for r in webapp.settings_rows(engine, "local")}
    assert local["HDCORE_LOCAL_PRESET"] == "fast" and local["HDCORE_LOCAL_JOBS"] == "2"
    assert local["HDCORE_LOCAL_TIMEOUT"] == "none" and "HDCORE_LOCAL_CONCURRENCY" not in local
    hf = {r["Setting"]: r["Value"] for r in webapp.settings_rows(engine, "hf")}
    assert hf["HUGGINGFACE_TOKEN"] == "set" and hf["HDCORE_HF_CONCURRENCY"] == "2" and hf["HDCORE_HF_TIMEOUT"] == "10 s"
    assert HF_SENTINEL not in repr(webapp.settings_rows(engine, "space"))
    limits = {r["Setting"]: r["Value"] for r in webapp.limits_rows(Config(data_dir="/tmp/d"))}
    assert limits["History folder (HDCORE_DATA_DIR)"] == "/tmp/d"


def test_probe_reports():
    ok = webapp.probe_report(Attempt(1, "replicate", "m", "ok", "", 1.234, 0.0019, "estimated"))
    assert ok == webapp.ProbeReport("success", "Replicate answered in 1.23 s with m, $0.0019 (estimated).")
    config = Config.from_env({"HUGGINGFACE_TOKEN": HF_SENTINEL})
    skipped = webapp.probe_report(Attempt(1, "hf", None, "skipped", "not configured"), config)
    assert skipped.level == "warning" and "not configured" in skipped.text
    failed = webapp.probe_report(Attempt(1, "hf", "m", "error", f"401 for {HF_SENTINEL}", 0.5), config)
    assert failed.level == "error" and HF_SENTINEL not in failed.text and "********" in failed.text
    assert webapp.probe(engine_with(), "hf").level == "warning"  # not configured: nothing is sent
    assert webapp.probe(engine_with(), "lanczos").level == "success"
    assert webapp.probe(engine_with(), "nope").level == "error"  # an unknown tier is a message, not a crash


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


# ------------------------------------------------------------------------------------------------- QA


def test_qa_entries_labels_and_defaults():
    engine = engine_with()
    options = webapp.qa_entry_options(engine)
    assert options[0] == "lanczos" and "local:auto" in options and "local:waifu2x-photo" in options
    assert not any(entry.startswith("hf") for entry in options)  # not configured: nothing to compare
    assert webapp.qa_default_entries(engine) == ["lanczos", "local"]
    assert webapp.qa_entry_label("lanczos") == "Lanczos (baseline)"
    assert webapp.qa_entry_label("local") == "Local (default model)"
    assert webapp.qa_entry_label("local:auto") == "Local · Auto (picked from the image)"


def test_run_qa_rows_charts_crops_and_failures():
    engine = engine_with()
    outcome = webapp.run_qa(engine, png_bytes(photo((64, 48))), ["lanczos", "nowhere"], 2, source_name="a b.png")
    assert outcome.error == "" and [row.ok for row in outcome.rows] == [True, False]
    table = webapp.qa_table_rows(outcome.rows)
    assert table[0]["Output"] == "128 × 96" and "PSNR (dB)" not in table[0]
    assert table[1]["Outcome"] == "error" and "nowhere" in table[1]["Notes"]
    assert [bar["Provider / model"] for bar in webapp.qa_chart_rows(outcome.rows, "Sharpness")] == ["lanczos"]
    crops, box = webapp.qa_crops(outcome, (1.0, 1.0), side=32)
    assert [label for label, _ in crops] == ["lanczos"] and crops[0][1].size == (32, 32) and box == (96, 64, 128, 96)
    assert outcome.csv_name == "a_b_x2_qa.csv"
    assert webapp.qa_charts(outcome) == ["LR-PSNR (dB)", "Sharpness"]


def test_run_qa_benchmark_and_errors():
    engine = engine_with()
    outcome = webapp.run_qa(engine, png_bytes(photo((64, 48))), ["lanczos"], 2, reference=True)
    [row] = webapp.qa_table_rows(outcome.rows)
    assert row["PSNR (dB)"] > 20 and 0 < row["SSIM"] <= 1 and outcome.csv_name.endswith("_benchmark.csv")
    assert webapp.qa_charts(outcome) == ["PSNR (dB)", "SSIM"]
    assert webapp.run_qa(engine, b"junk", ["lanczos"], 2).error  # one line, no exception
    assert webapp.run_qa(engine, png_bytes(photo((3, 3))), ["lanczos"], 4, reference=True).error
    assert webapp.run_qa(engine, png_bytes(photo()), [], 2).error == "choose at least one provider"


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
