"""All of hdcore's settings in one object, read from the environment (or any mapping, such as Streamlit secrets)."""

from __future__ import annotations

import json
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

# Hugging Face Inference: the seed's api-inference host is retired (410); the router serves the same models.
DEFAULT_HF_BASE_URL = "https://router.huggingface.co/hf-inference"
DEFAULT_HF_MODELS: dict[int, str] = {4: "stabilityai/stable-diffusion-x4-upscaler", 2: "nightmareai/real-esrgan"}
DEFAULT_REPLICATE_BASE_URL = "https://api.replicate.com/v1"
DEFAULT_REPLICATE_MAX_INPUT_PIXELS = 2560 * 1440  # the seed: "max input 1440p recommended"
DEFAULT_SPACE = "akhaliq/Real-ESRGAN"  # the seed's last-resort Space, used when a Hugging Face token is set
DEFAULT_SPACE_API_NAME = "/predict"
DEFAULT_SPACE_ARGS: tuple = ("base",)  # the seed Space's second input: the model mode

# HDCORE_DATABASE_URL: the schemes that select PostgreSQL (psycopg 3 is the driver whichever is written);
# "postgres://" is what several hosts print.
DATABASE_URL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")

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
    local_jobs: int = 1  # local upscales at once per process; more wait in line
    data_dir: str = "data"  # where the app keeps its history (SQLite); relative to the working directory
    database_url: Secret | None = None  # a PostgreSQL URL: the history lives there instead (it holds a password)
    hf_base_url: str = DEFAULT_HF_BASE_URL
    hf_models: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_HF_MODELS))
    replicate_base_url: str = DEFAULT_REPLICATE_BASE_URL
    replicate_max_input_pixels: int = DEFAULT_REPLICATE_MAX_INPUT_PIXELS
    space: str | None = None  # Space id or URL; None: the seed's Space when a Hugging Face token is set
    space_api_name: str = DEFAULT_SPACE_API_NAME
    space_args: tuple = DEFAULT_SPACE_ARGS
    prices: Mapping[str, float] = field(default_factory=dict)  # overrides of hdcore.prices.DEFAULT_PRICES
    # Resilience (README "Resilience"): circuit breakers, retries of transient errors, hedged requests.
    breaker_failures: int = 5  # counted failures in a row that open a tier's breaker
    breaker_cooldown_s: float = 30.0  # open this long, then one trial call
    breaker_permanent_cooldown_s: float = 3600.0  # after 404 / 410
    # Retries of transient errors within a tier's deadline (retry-safe tiers only). A Config built by hand
    # makes one call per tier, as before; from the environment (the app, the CLI) the default is 2.
    retries: int = 0
    retry_backoff_s: float = 0.5  # the first backoff's bound; doubles each retry, full jitter
    hedge: bool = True  # hedged requests in the auto chain
    hedge_delay_s: float = 3.0  # hedge after this long when a tier has no latency history yet
    hedge_min_s: float = 0.5  # bounds of the p95-based hedge delay
    hedge_max_s: float = 10.0
    hedge_budget: float = 0.1  # at most this share of requests is hedged (token bucket)

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

        hf_models = dict(DEFAULT_HF_MODELS)
        for scale in (2, 3, 4):
            if (raw := text(f"HDCORE_HF_MODEL_X{scale}")) is not None:
                hf_models[scale] = raw

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
            data_dir=text("HDCORE_DATA_DIR") or "data",
            database_url=_database_url(text("HDCORE_DATABASE_URL")),
            local_jobs=_count("HDCORE_LOCAL_JOBS", text("HDCORE_LOCAL_JOBS"), 1),
            hf_base_url=(text("HDCORE_HF_BASE_URL") or DEFAULT_HF_BASE_URL).rstrip("/"),
            hf_models=hf_models,
            replicate_base_url=(
                text("REPLICATE_BASE_URL") or text("HDCORE_REPLICATE_BASE_URL") or DEFAULT_REPLICATE_BASE_URL
            ).rstrip("/"),
            replicate_max_input_pixels=_count(
                "HDCORE_REPLICATE_MAX_INPUT_PIXELS",
                text("HDCORE_REPLICATE_MAX_INPUT_PIXELS"),
                DEFAULT_REPLICATE_MAX_INPUT_PIXELS,
            ),
            space=text("HDCORE_SPACE"),
            space_api_name=text("HDCORE_SPACE_API_NAME") or DEFAULT_SPACE_API_NAME,
            space_args=_json_list("HDCORE_SPACE_ARGS", text("HDCORE_SPACE_ARGS"), DEFAULT_SPACE_ARGS),
            prices=_prices(text("HDCORE_PRICES")),
            breaker_failures=_count("HDCORE_BREAKER_FAILURES", text("HDCORE_BREAKER_FAILURES"), 5),
            breaker_cooldown_s=_positive("HDCORE_BREAKER_COOLDOWN", text("HDCORE_BREAKER_COOLDOWN"), 30.0),
            breaker_permanent_cooldown_s=_positive(
                "HDCORE_BREAKER_PERMANENT_COOLDOWN", text("HDCORE_BREAKER_PERMANENT_COOLDOWN"), 3600.0
            ),
            retries=_count("HDCORE_RETRIES", text("HDCORE_RETRIES"), 2, minimum=0),
            retry_backoff_s=_positive("HDCORE_RETRY_BACKOFF", text("HDCORE_RETRY_BACKOFF"), 0.5),
            hedge=_switch("HDCORE_HEDGE", text("HDCORE_HEDGE"), True),
            hedge_delay_s=_positive("HDCORE_HEDGE_DELAY", text("HDCORE_HEDGE_DELAY"), 3.0),
            hedge_budget=_positive("HDCORE_HEDGE_BUDGET", text("HDCORE_HEDGE_BUDGET"), 0.1),
        )


def _json_list(name: str, raw: str | None, default: tuple) -> tuple:
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a JSON list, such as [\"base\"]") from None
    if not isinstance(value, list):
        raise ConfigError(f"{name} must be a JSON list, such as [\"base\"]")
    return tuple(value)


def _prices(raw: str | None) -> dict[str, float]:
    """HDCORE_PRICES: a JSON object of price-table keys to USD, e.g. {"replicate:nightmareai/real-esrgan": 0.002}."""
    if raw is None:
        return {}
    message = 'HDCORE_PRICES must be a JSON object of names to USD amounts, such as {"replicate:gpu-t4": 0.000225}'
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(message) from None
    if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in value.values()):
        raise ConfigError(message)
    return {str(k): float(v) for k, v in value.items()}


def _database_url(raw: str | None) -> Secret | None:
    """HDCORE_DATABASE_URL, checked for its scheme only; the message never repeats the value (it holds a password)."""
    if raw is None:
        return None
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in DATABASE_URL_SCHEMES:
        raise ConfigError("HDCORE_DATABASE_URL must be a PostgreSQL URL: postgresql://user:password@host:port/database")
    return Secret(raw)


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


def _positive(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number, not {raw!r}")
    return value


def _switch(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")
