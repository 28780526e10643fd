"""Configuration from the environment, and secrets that never show themselves."""

import pytest

from hdcore.config import DEFAULT_TIMEOUTS, Config, Secret
from hdcore.errors import ConfigError


def test_defaults_follow_the_seed():
    config = Config.from_env({})
    assert config.timeout_for("hf") == 10.0
    assert config.timeout_for("replicate") == 30.0
    assert config.timeout_for("space") == 60.0
    assert config.timeout_for("local") is None
    assert config.huggingface_token is None and config.replicate_api_token is None
    assert config.order is None
    assert config.local_preset == "fast"


def test_every_variable_is_read():
    config = Config.from_env(
        {
            "HUGGINGFACE_TOKEN": "hf_secret",
            "REPLICATE_API_TOKEN": "r8_secret",
            "HDCORE_ORDER": "local, lanczos",
            "HDCORE_HF_TIMEOUT": "2.5",
            "HDCORE_REPLICATE_TIMEOUT": "7",
            "HDCORE_SPACE_TIMEOUT": "none",
            "HDCORE_LOCAL_TIMEOUT": "120",
            "HDCORE_MAX_INPUT_PIXELS": "1_000_000",
            "HDCORE_MAX_OUTPUT_PIXELS": "9000000",
            "HDCORE_LOCAL_PRESET": "BEST",
            "HDCORE_LOCAL_TILE": "128",
            "HDCORE_LOCAL_THREADS": "1",
            "HDCORE_LOCAL_DEVICE": "cpu",
            "HDCORE_LOCAL_JOBS": "3",
            "HDCORE_DATA_DIR": "/srv/hd",
        }
    )
    assert config.huggingface_token.reveal() == "hf_secret"
    assert config.replicate_api_token.reveal() == "r8_secret"
    assert config.order == ("local", "lanczos")
    assert dict(config.timeouts) == {"hf": 2.5, "replicate": 7.0, "space": None, "local": 120.0}
    assert (config.max_input_pixels, config.max_output_pixels) == (1_000_000, 9_000_000)
    assert (config.local_preset, config.local_tile, config.local_threads, config.local_device) == ("best", 128, 1, "cpu")
    assert (config.local_jobs, config.data_dir) == (3, "/srv/hd")


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("HDCORE_HF_TIMEOUT", "soon", "HDCORE_HF_TIMEOUT must be a number of seconds, not 'soon'"),
        ("HDCORE_LOCAL_TIMEOUT", "-3", "HDCORE_LOCAL_TIMEOUT must be a positive number of seconds"),
        ("HDCORE_MAX_INPUT_PIXELS", "lots", "HDCORE_MAX_INPUT_PIXELS must be a whole number, not 'lots'"),
        ("HDCORE_MAX_OUTPUT_PIXELS", "0", "HDCORE_MAX_OUTPUT_PIXELS must be at least 1"),
        ("HDCORE_LOCAL_PRESET", "turbo", "HDCORE_LOCAL_PRESET must be one of fast, best, not 'turbo'"),
        ("HDCORE_LOCAL_DEVICE", "tpu", "HDCORE_LOCAL_DEVICE must be one of auto, cpu, gpu"),
        ("HDCORE_ORDER", " , ", "HDCORE_ORDER names no tier"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({variable: value})
    assert str(caught.value).startswith(message)


def test_secrets_never_show_themselves():
    config = Config.from_env({"HUGGINGFACE_TOKEN": "hf_topsecret", "REPLICATE_API_TOKEN": "r8_topsecret"})
    for text in (repr(config), str(config), repr(config.huggingface_token), f"{config.replicate_api_token}"):
        assert "topsecret" not in text
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_defaults_are_not_shared_between_configs():
    first = Config()
    first.timeouts["hf"] = 1.0  # a caller mutating its copy must not change anyone else's
    assert Config().timeout_for("hf") == DEFAULT_TIMEOUTS["hf"] == 10.0
