"""hdcore.webapp, the Providers page: tiers, settings, prices, probes; tested without Streamlit."""

from __future__ import annotations



from hdcore import webapp
from hdcore.attempts import Attempt
from hdcore.config import Config
from tests.webapp.helpers import engine_with, HF_SENTINEL


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
    assert local["HDCORE_LOCAL_PRESET"] == "budget" and local["HDCORE_LOCAL_JOBS"] == "2"
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


