"""The serve settings: read from the environment once, range-checked, the body cap derived from the pixel limit."""

from __future__ import annotations

import pytest

from hdcore import Config
from hdcore.errors import ConfigError
from hdcore.images import max_source_bytes
from hdcore.serve import ServeSettings, body_cap
from hdcore.serve.settings import ENVELOPE_BYTES


def test_defaults_and_values_from_the_environment():
    assert ServeSettings.from_env({}) == ServeSettings()
    settings = ServeSettings.from_env({"HDCORE_SERVE_DEADLINE": "12.5", "HDCORE_SERVE_MAX_ACTIVE": "3",
                                       "HDCORE_SERVE_QUEUE": "0", "HDCORE_SERVE_DRAIN": "0",
                                       "HDCORE_SERVE_MAX_BODY": "2_000_000"})  # fmt: skip
    assert (settings.deadline_s, settings.max_active, settings.max_waiting, settings.drain_s) == (12.5, 3, 0, 0.0)
    assert settings.max_body_bytes == 2_000_000


def test_the_body_cap_is_the_largest_image_within_the_pixel_limit_as_base64_plus_its_envelope():
    default = ServeSettings.from_env({})
    assert default.max_body_bytes == body_cap(Config().max_input_pixels)
    assert body_cap(16_777_216) == -(-max_source_bytes(16_777_216) * 4 // 3) + ENVELOPE_BYTES  # 171 MiB for 16 MP
    bigger = ServeSettings.from_env({"HDCORE_MAX_INPUT_PIXELS": "40000000"})
    assert bigger.max_body_bytes == body_cap(40_000_000) > default.max_body_bytes


@pytest.mark.parametrize("variable, value, fragment", [
    ("HDCORE_SERVE_DEADLINE", "0", "HDCORE_SERVE_DEADLINE must be a number of seconds from 1 to 86,400, not '0'"),
    ("HDCORE_SERVE_MAX_ACTIVE", "0", "HDCORE_SERVE_MAX_ACTIVE must be a whole number from 1 to 4,096, not '0'"),
    ("HDCORE_SERVE_QUEUE", "many", "HDCORE_SERVE_QUEUE must be a whole number from 0 to 4,096"),
    ("HDCORE_SERVE_MAX_BODY", "10", "HDCORE_SERVE_MAX_BODY must be a whole number from 1,024 to"),
])  # fmt: skip
def test_an_unusable_value_is_a_one_line_error_naming_the_variable(variable, value, fragment):
    with pytest.raises(ConfigError) as refused:
        ServeSettings.from_env({variable: value})
    assert str(refused.value).startswith(fragment) and "\n" not in str(refused.value)
