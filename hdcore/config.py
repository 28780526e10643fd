"""All of hdcore's settings in one object, read from the environment (or any mapping, such as Streamlit secrets)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Mapping

from .errors import ConfigError

DEFAULT_MAX_INPUT_PIXELS = 16_777_216  # 16 MP, e.g. 4096 x 4096
DEFAULT_MAX_OUTPUT_PIXELS = 67_108_864  # 64 MP, e.g. 8192 x 8192

# The seed's per-tier deadlines; the local tier has none by default (it always finishes, only slower).
DEFAULT_TIMEOUTS: dict[str, float | None] = {"hf": 10.0, "replicate": 30.0, "space": 60.0, "local": None}

# Environment variable -> tier whose timeout it sets.
TIMEOUT_VARIABLES = {
    "HDCORE_HF_TIMEOUT": "hf",
    "HDCORE_REPLICATE_TIMEOUT": "replicate",
    "HDCORE_SPACE_TIMEOUT": "space",
    "HDCORE_LOCAL_TIMEOUT": "local",
}

LOCAL_PRESETS = ("fast", "best")
LOCAL_DEVICES = ("auto", "cpu", "gpu")


class Secret:
    """A token that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Config:
    huggingface_token: Secret | None = None
    replicate_api_token: Secret | None = None
    order: tuple[str, ...] | None = None  # None: the registry's default order
    timeouts: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    local_preset: str = "fast"
    local_tile: int = 0  # 0: chosen per model
    local_threads: int = 0  # 0: every core
    local_device: str = "auto"

    def timeout_for(self, tier: str) -> float | None:
        return self.timeouts.get(tier)

    def with_changes(self, **changes) -> "Config":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        """Build from ``env`` (default: ``os.environ``). Unset or empty variables keep their defaults."""
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name)
            if value is None:
                return None
            value = str(value).strip()
            return value or None

        timeouts = dict(DEFAULT_TIMEOUTS)
        for variable, tier in TIMEOUT_VARIABLES.items():
            if (raw := text(variable)) is not None:
                timeouts[tier] = _seconds(variable, raw)

        order = None
        if (raw := text("HDCORE_ORDER")) is not None:
            order = tuple(part.strip() for part in raw.split(",") if part.strip())
            if not order:
                raise ConfigError("HDCORE_ORDER names no tier")

        preset = (text("HDCORE_LOCAL_PRESET") or "fast").lower()
        if preset not in LOCAL_PRESETS:
            raise ConfigError(f"HDCORE_LOCAL_PRESET must be one of {', '.join(LOCAL_PRESETS)}, not {preset!r}")
        device = (text("HDCORE_LOCAL_DEVICE") or "auto").lower()
        if device not in LOCAL_DEVICES:
            raise ConfigError(f"HDCORE_LOCAL_DEVICE must be one of {', '.join(LOCAL_DEVICES)}, not {device!r}")

        return cls(
            huggingface_token=_secret(text("HUGGINGFACE_TOKEN")),
            replicate_api_token=_secret(text("REPLICATE_API_TOKEN")),
            order=order,
            timeouts=timeouts,
            max_input_pixels=_count("HDCORE_MAX_INPUT_PIXELS", text("HDCORE_MAX_INPUT_PIXELS"), DEFAULT_MAX_INPUT_PIXELS),
            max_output_pixels=_count("HDCORE_MAX_OUTPUT_PIXELS", text("HDCORE_MAX_OUTPUT_PIXELS"), DEFAULT_MAX_OUTPUT_PIXELS),
            local_preset=preset,
            local_tile=_count("HDCORE_LOCAL_TILE", text("HDCORE_LOCAL_TILE"), 0, minimum=0),
            local_threads=_count("HDCORE_LOCAL_THREADS", text("HDCORE_LOCAL_THREADS"), 0, minimum=0),
            local_device=device,
        )


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _seconds(name: str, raw: str) -> float | None:
    if raw.lower() in ("none", "off", "0"):
        return None  # no deadline
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0 or value != value:
        raise ConfigError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _count(name: str, raw: str | None, default: int, minimum: int = 1) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value
