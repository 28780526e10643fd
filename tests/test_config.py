"""Configuration from the environment: every variable, range-checked once, and secrets that never show themselves."""

import pytest

from hdcore import Engine
from hdcore.config import Config, Secret, known_settings
from hdcore.errors import ConfigError
from hdcore.providers import default_registry


def provider(config: Config, name: str):
    return Engine(config).provider(name)


def test_defaults_follow_the_seed():
    config = Config.from_env({})
    assert provider(config, "hf").timeout() == 10.0
    assert provider(config, "replicate").timeout() == 30.0
    assert provider(config, "space").timeout() == 60.0
    assert provider(config, "local").timeout() is None
    assert config.secrets() == []
    assert config.order is None
    assert provider(config, "local").default_model(4, {}) == "waifu2x-photo"  # the "fast" preset


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
            "HDCORE_HF_CONCURRENCY": "3",
            "HDCORE_MAX_INPUT_PIXELS": "1_000_000",
            "HDCORE_MAX_OUTPUT_PIXELS": "9000000",
            "HDCORE_LOCAL_PRESET": "BEST",
            "HDCORE_LOCAL_TILE": "128",
            "HDCORE_LOCAL_THREADS": "1",
            "HDCORE_LOCAL_DEVICE": "cpu",
            "HDCORE_LOCAL_JOBS": "3",
            "HDCORE_DATA_DIR": "/srv/hd",
            "HDCORE_ORDER_MODE": "adaptive",
            "HDCORE_MAX_COST_PER_IMAGE": "0.01",
            "HDCORE_MAX_COST_PER_DAY": "5",
            "HDCORE_BREAKER_FAILURES": "3",
            "HDCORE_HEDGE": "off",
        }
    )
    assert sorted(s.reveal() for s in config.secrets()) == ["hf_secret", "r8_secret"]
    assert config.order == ("local", "lanczos")
    assert dict(config.timeouts) == {"hf": 2.5, "replicate": 7.0, "space": None, "local": 120.0}
    assert provider(config, "hf").max_concurrency() == 3 and provider(config, "replicate").max_concurrency() == 4
    assert (config.max_input_pixels, config.max_output_pixels) == (1_000_000, 9_000_000)
    values = {name: config.values[name] for name in
              ("HDCORE_LOCAL_PRESET", "HDCORE_LOCAL_TILE", "HDCORE_LOCAL_THREADS", "HDCORE_LOCAL_DEVICE", "HDCORE_LOCAL_JOBS")}
    assert values == {"HDCORE_LOCAL_PRESET": "best", "HDCORE_LOCAL_TILE": 128, "HDCORE_LOCAL_THREADS": 1,
                      "HDCORE_LOCAL_DEVICE": "cpu", "HDCORE_LOCAL_JOBS": 3}  # fmt: skip
    assert config.data_dir == "/srv/hd"
    assert (config.auto_order.mode, config.budget.max_per_image, config.budget.max_per_day) == ("adaptive", 0.01, 5.0)
    assert config.breaker.fail_max == 3 and config.hedge.enabled is False


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
        ("HDCORE_ORDER_MODE", "random", "HDCORE_ORDER_MODE must be one of static, adaptive"),
        ("HDCORE_MAX_COST_PER_DAY", "-1", "HDCORE_MAX_COST_PER_DAY must be an amount in USD from 0"),
        ("HDCORE_HF_BASE_URL", "ftp://x", "HDCORE_HF_BASE_URL must be an http:// or https:// URL"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({variable: value})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["1e400", "1e12", "inf", "nan", "99999999999999999999"])
def test_a_huge_or_infinite_number_of_seconds_is_refused_at_the_edge(value):
    with pytest.raises(ConfigError, match=r"^HDCORE_HF_TIMEOUT must be"):
        Config.from_env({"HDCORE_HF_TIMEOUT": value})


def test_secrets_never_show_themselves():
    config = Config.from_env({"HUGGINGFACE_TOKEN": "hf_topsecret", "REPLICATE_API_TOKEN": "r8_topsecret"})
    for text in (repr(config), str(config), *(repr(s) for s in config.secrets()), *(f"{s}" for s in config.secrets())):
        assert "topsecret" not in text
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_defaults_are_not_shared_between_configs():
    first = Config()
    first.timeouts["hf"] = 1.0  # a caller mutating its copy must not change anyone else's
    assert Config().timeouts == {} and provider(Config(), "hf").timeout() == 10.0


def test_settings_given_as_text_are_parsed_as_the_environment_would_be():
    config = Config().with_settings({"HDCORE_LOCAL_TILE": " 64 ", "HUGGINGFACE_TOKEN": "hf_x"})
    assert config.values["HDCORE_LOCAL_TILE"] == 64 and config.values["HUGGINGFACE_TOKEN"] == Secret("hf_x")
    with pytest.raises(ConfigError, match="no provider reads a setting named HDCORE_NOPE"):
        Config().with_settings({"HDCORE_NOPE": "1"})


def test_every_provider_declares_its_own_settings_and_each_tier_gets_its_timeout_and_concurrency_variables():
    variables = {setting.variable for setting in known_settings()}
    for info in default_registry().infos():
        assert {s.variable for s in info.settings} <= variables
        assert info.timeout_variable in variables
        assert (info.concurrency_variable in variables) == (info.max_concurrency is not None)
        assert set(info.identity) <= set(info.settings)
