"""hdcore.webapp, settings, tiers, labels and the sidebar: what every page shares; tested without Streamlit."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from hdcore import webapp
from hdcore.config import Config, known_settings
from hdcore.errors import ConfigError, InvalidInput
from tests.webapp.streamlit_markdown import rendered
from tests.webapp.helpers import engine_with, HF_SENTINEL, REPLICATE_SENTINEL, REPO


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


