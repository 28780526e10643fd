"""Configuration from the environment: every variable, range-checked once, and secrets that never show themselves."""

import pytest

from hdcore import Engine
from hdcore.config import Config, NumberRange, Secret, known_settings
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
    assert provider(config, "local").default_model(4, {}) == "budget"  # the best model within the time budget, per image


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
        ("HDCORE_HF_TIMEOUT", "soon", "HDCORE_HF_TIMEOUT must be a number of seconds from 0.001 to 86,400 (or off), not 'soon'"),
        ("HDCORE_LOCAL_TIMEOUT", "-3", "HDCORE_LOCAL_TIMEOUT must be a number of seconds from 0.001"),
        ("HDCORE_MAX_INPUT_PIXELS", "lots", "HDCORE_MAX_INPUT_PIXELS must be a whole number from 1 to 2,147,483,648, not 'lots'"),
        ("HDCORE_MAX_OUTPUT_PIXELS", "0", "HDCORE_MAX_OUTPUT_PIXELS must be a whole number from 1 to"),
        ("HDCORE_LOCAL_PRESET", "turbo", "HDCORE_LOCAL_PRESET must be one of budget, fast, best, not 'turbo'"),
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


HOSTILE_NUMBERS = ("1e400", "-1e400", "1e12", "-1e12", "inf", "-inf", "nan", "9" * 5000, "-" + "9" * 5000, "0x10",
                   "1e3.5", "12abc", "--1", "1_000_000_000_000_000", "\x00", "\u0663" * 40 + "x")  # fmt: skip
HOSTILE_TEXT = ("[" * 100_000, '{"a":' * 100_000, "\x00", "\u00e9" * 100_000, "{}", "[]", "null", '"x"', "1e400")


@pytest.mark.parametrize("setting", [s for s in known_settings() if isinstance(s.parse, NumberRange)],
                         ids=lambda s: s.variable)  # fmt: skip
def test_every_numeric_setting_refuses_hostile_values_naming_itself_and_its_range(setting):
    bounds = setting.parse
    below, above = bounds.low - 1, bounds.high * 10 + 1
    for raw in (*HOSTILE_NUMBERS, repr(below), repr(above)):
        with pytest.raises(ConfigError) as caught:
            Config.from_env({setting.variable: raw})
        message = str(caught.value)
        assert message.startswith(f"{setting.variable} must be "), message
        assert bounds.range_text() in message and "\n" not in message and len(message) < 200, message
    for inside in (bounds.low, bounds.high):
        assert setting.read(str(int(inside) if bounds.whole_numbers else inside)) == inside


@pytest.mark.parametrize("setting", known_settings(), ids=lambda s: s.variable)
def test_every_setting_answers_hostile_text_with_a_value_or_a_one_line_config_error(setting):
    for raw in HOSTILE_TEXT + HOSTILE_NUMBERS:
        try:
            setting.read(raw)
        except ConfigError as error:
            message = str(error)
            assert message.startswith(setting.variable) and "\n" not in message and len(message) < 300, message


def test_a_numeric_error_names_the_allowed_range():
    with pytest.raises(ConfigError, match=r"^HDCORE_LOCAL_JOBS must be a whole number from 1 to 64, not 'lots'$"):
        Config.from_env({"HDCORE_LOCAL_JOBS": "lots"})
    with pytest.raises(ConfigError, match=r"^HDCORE_HF_TIMEOUT must be a number of seconds from 0.001 to 86,400"
                                          r" \(or off\), not '1e400'$"):  # fmt: skip
        Config.from_env({"HDCORE_HF_TIMEOUT": "1e400"})
    with pytest.raises(ConfigError, match=r"^HDCORE_LOCAL_TILE must be a whole number from 0 to 4,096, not '9{20}…'$"):
        Config.from_env({"HDCORE_LOCAL_TILE": "9" * 5000})
