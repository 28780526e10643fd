"""Every hdcore setting in one object, read from the environment (or any mapping, such as Streamlit secrets).

    Config
    ├── the chain's own settings    order, pixel limits, data folder, price overrides, per-tier timeout and
    │                               concurrency overrides (HDCORE_<ID>_TIMEOUT, HDCORE_<ID>_CONCURRENCY)
    ├── small nested settings       breaker, retry, hedge, auto_order, budget (as httpx has Timeout and Limits)
    └── values                      what each provider declares it reads (``Setting``), by variable name:
                                    tokens, endpoints, models; a provider module brings its own, so adding
                                    a provider never edits this file

Every value from outside is parsed and range-checked once, here, with a one-line ``ConfigError`` naming the
variable and what it accepts. Tokens become ``Secret`` objects that never show themselves.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping

from .errors import ConfigError

if TYPE_CHECKING:
    from .providers import Registry

DEFAULT_MAX_INPUT_PIXELS = 16_777_216  # 16 MP, e.g. 4096 x 4096
DEFAULT_MAX_OUTPUT_PIXELS = 67_108_864  # 64 MP, e.g. 8192 x 8192
# Bounds on what a setting (or a server's Retry-After) may say: a day is longer than any wait worth making, and
# far from the overflow of time formatting (1e20 s) or of the OS's timers.
MAX_SECONDS = 86_400.0
MAX_PIXELS = 1 << 31  # Pillow refuses images over ~179 MP in any case; 2 GP leaves room for outputs


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


# ------------------------------------------------------------------------------------------ parsing one value

Parser = Callable[[str, str], Any]  # (variable, raw text) -> value; raises ConfigError naming the variable


SHOWN_CHARS = 20  # of a refused value, echoed in its error: enough to recognise it, never a screenful


def shown_value(raw: str) -> str:
    """A refused value as its message quotes it: one line, at most SHOWN_CHARS characters."""
    line = " ".join(raw.split())
    return repr(line if len(line) <= SHOWN_CHARS else line[:SHOWN_CHARS] + "…")


def _figure(value: float) -> str:
    """A bound as people write it: 86,400 and 0.001 (never 1e+09)."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class NumberRange:
    """A parser for a number within [low, high], whole or not; with ``off``, "none" / "off" / "0" mean no
    value (None, e.g. no deadline). Every refusal names the variable and the range, in one line."""

    low: float
    high: float
    kind: str = "a number"  # "a whole number", "a number of seconds", "an amount in USD"
    whole_numbers: bool = False
    off: bool = False

    def __call__(self, variable: str, raw: str) -> Any:
        if self.off and raw.lower() in ("none", "off", "0"):
            return None
        value = self._value(raw)
        if value is None or not self.low <= value <= self.high:
            raise ConfigError(f"{variable} must be {self.kind} {self.range_text()}, not {shown_value(raw)}")
        return value

    def range_text(self) -> str:
        return f"from {_figure(self.low)} to {_figure(self.high)}" + (" (or off)" if self.off else "")

    def _value(self, raw: str) -> float | int | None:
        text = raw.replace("_", "")
        if len(text) > 40:  # no setting needs more digits; int() of thousands of them is slow and then refused
            return None
        try:
            value = int(text) if self.whole_numbers else float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None


def seconds(low: float = 0.0, high: float = MAX_SECONDS, off: bool = True) -> Parser:
    """A duration in seconds within [low, high]; with ``off``, "none" / "off" / "0" mean no deadline (None)."""
    return NumberRange(low, high, "a number of seconds", off=off)


def amount(low: float, high: float, what: str = "a number") -> Parser:
    return NumberRange(low, high, what)


def whole(low: int, high: int) -> Parser:
    return NumberRange(low, high, "a whole number", whole_numbers=True)


def choice(*values: str) -> Parser:
    def parse(variable: str, raw: str) -> str:
        value = raw.lower()
        if value not in values:
            raise ConfigError(f"{variable} must be one of {', '.join(values)}, not {shown_value(raw)}")
        return value

    return parse


def switch(variable: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"{variable} must be on or off, not {shown_value(raw)}")


def text(variable: str, raw: str) -> str:
    return raw


def url(variable: str, raw: str) -> str:
    """An http(s) base URL, without a trailing slash."""
    if not raw.lower().startswith(("http://", "https://")) or any(c.isspace() for c in raw):
        raise ConfigError(f"{variable} must be an http:// or https:// URL")  # never echo it: it may hold a password
    return raw.rstrip("/")


def secret(variable: str, raw: str) -> Secret:
    return Secret(raw)


# HDCORE_DATABASE_URL: the schemes that select PostgreSQL (psycopg 3 is the driver whichever is written);
# "postgres://" is what several hosts print.
DATABASE_URL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def database_url(variable: str, raw: str) -> Secret:
    """A PostgreSQL URL, checked for its scheme only; the message never repeats the value (it holds a password)."""
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in DATABASE_URL_SCHEMES:
        raise ConfigError(f"{variable} must be a PostgreSQL URL: postgresql://user:password@host:port/database")
    return Secret(raw)


def json_value(raw: str) -> Any:
    """``raw`` as JSON, or None when it is none (nesting deeper than the parser's recursion limit included)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def json_list(variable: str, raw: str) -> tuple:
    value = json_value(raw)
    if not isinstance(value, list):
        raise ConfigError(f'{variable} must be a JSON list, such as ["base"]')
    return tuple(value)


def json_prices(variable: str, raw: str) -> dict[str, float]:
    """A JSON object of price-table keys to USD, e.g. {"run:nightmareai/real-esrgan": 0.002}."""
    message = f'{variable} must be a JSON object of names to USD amounts, such as {{"replicate:gpu-t4": 0.000225}}'
    value = json_value(raw)
    if not isinstance(value, dict):
        raise ConfigError(message)
    prices = {}
    for key, usd in value.items():
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not 0 <= usd < 1e6:
            raise ConfigError(message)
        prices[str(key)] = float(usd)
    return prices


def order(variable: str, raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ConfigError(f"{variable} names no tier")
    return names


@dataclass(frozen=True)
class Setting:
    """One variable a part of hdcore reads: its name, how its text is parsed and checked, and its default."""

    variable: str
    parse: Parser = text
    default: Any = None
    help: str = ""

    def read(self, raw: str) -> Any:
        return self.parse(self.variable, raw)


# ---------------------------------------------------------------------------------------- nested settings


@dataclass(frozen=True)
class BreakerSettings:
    fail_max: int = 5  # bad answers in a row that open a closed breaker (a timeout or 5xx opens it at once)
    # Open this long after a timeout or a connection failure, doubling on each reopening without a success in
    # between: 15 s spares every caller of a dead tier but the first, and a tier back within a minute is found
    # again after 15 + 30 s at most.
    cooldown_s: float = 15.0
    max_cooldown_s: float = 300.0
    permanent_cooldown_s: float = 3600.0  # after 404 / 410
    max_retry_after_s: float = 3600.0  # a provider's Retry-After is honoured up to this
    failure_rate: float = 0.5  # this share of failures ...
    min_requests: int = 5  # ... among at least this many calls ...
    window_s: float = 60.0  # ... in this window opens it too (Portkey's rule), whatever their order


@dataclass(frozen=True)
class RetrySettings:
    # A Config built by hand makes one call per tier; from the environment (the app, the CLI) the default is 2.
    retries: int = 0
    backoff_s: float = 0.5  # the first backoff's bound; doubles each retry, full jitter


@dataclass(frozen=True)
class HedgeSettings:
    enabled: bool = True
    default_delay_s: float = 3.0  # before any history: a tier answering within 3 s is not worth a second call
    min_delay_s: float = 0.5  # below this a hedge would mostly duplicate calls that were about to finish
    max_delay_s: float = 10.0
    budget: float = 0.1  # hedges per request, on average (the bucket starts full: 20 requests' worth)


OrderMode = Literal["static", "adaptive"]


@dataclass(frozen=True)
class OrderSettings:
    mode: OrderMode = "static"  # "adaptive": the Auto chain ranked by each tier's recent record


@dataclass(frozen=True)
class BudgetSettings:
    """Cost caps in USD; None: no cap. They hold on every path (library, CLI, batch, app)."""

    max_per_image: float | None = None
    max_per_day: float | None = None

    @property
    def capped(self) -> bool:
        return self.max_per_image is not None or self.max_per_day is not None


# The chain's own variables (a provider's are declared in its module).
ORDER = Setting("HDCORE_ORDER", order, None, "the Auto chain, e.g. hf,replicate,space,local")
MAX_INPUT_PIXELS = Setting("HDCORE_MAX_INPUT_PIXELS", whole(1, MAX_PIXELS), DEFAULT_MAX_INPUT_PIXELS)
MAX_OUTPUT_PIXELS = Setting("HDCORE_MAX_OUTPUT_PIXELS", whole(1, MAX_PIXELS), DEFAULT_MAX_OUTPUT_PIXELS)
DATA_DIR = Setting("HDCORE_DATA_DIR", text, "data", "where the app keeps its history")
DATABASE_URL = Setting("HDCORE_DATABASE_URL", database_url, None, "postgresql://... for a history shared by replicas")
PRICES = Setting("HDCORE_PRICES", json_prices, None, "price-table overrides (USD)")
BREAKER_FAILURES = Setting("HDCORE_BREAKER_FAILURES", whole(1, 1000), 5)
BREAKER_COOLDOWN = Setting("HDCORE_BREAKER_COOLDOWN", amount(0, MAX_SECONDS, "a number of seconds"), 15.0)
BREAKER_MAX_COOLDOWN = Setting("HDCORE_BREAKER_MAX_COOLDOWN", amount(0, MAX_SECONDS, "a number of seconds"), 300.0)
BREAKER_PERMANENT_COOLDOWN = Setting(
    "HDCORE_BREAKER_PERMANENT_COOLDOWN", amount(0, MAX_SECONDS, "a number of seconds"), 3600.0
)
RETRIES = Setting("HDCORE_RETRIES", whole(0, 10), 2)
RETRY_BACKOFF = Setting("HDCORE_RETRY_BACKOFF", amount(0, 60, "a number of seconds"), 0.5)
HEDGE = Setting("HDCORE_HEDGE", switch, True)
HEDGE_DELAY = Setting("HDCORE_HEDGE_DELAY", amount(0, 600, "a number of seconds"), 3.0)
HEDGE_BUDGET = Setting("HDCORE_HEDGE_BUDGET", amount(0, 1, "a share of requests"), 0.1)
ORDER_MODE = Setting("HDCORE_ORDER_MODE", choice("static", "adaptive"), "static")
MAX_COST_PER_IMAGE = Setting("HDCORE_MAX_COST_PER_IMAGE", amount(0, 1e6, "an amount in USD"), None)
MAX_COST_PER_DAY = Setting("HDCORE_MAX_COST_PER_DAY", amount(0, 1e9, "an amount in USD"), None)

CHAIN_SETTINGS: tuple[Setting, ...] = (
    ORDER, MAX_INPUT_PIXELS, MAX_OUTPUT_PIXELS, DATA_DIR, DATABASE_URL, PRICES, BREAKER_FAILURES, BREAKER_COOLDOWN,
    BREAKER_MAX_COOLDOWN, BREAKER_PERMANENT_COOLDOWN, RETRIES, RETRY_BACKOFF, HEDGE, HEDGE_DELAY, HEDGE_BUDGET, ORDER_MODE,
    MAX_COST_PER_IMAGE, MAX_COST_PER_DAY,
)  # fmt: skip

TIMEOUT = seconds(0.001, MAX_SECONDS)
CONCURRENCY = whole(1, 256)


# ----------------------------------------------------------------------------------------------- Config


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any] = field(default_factory=dict)  # providers' declared settings, by variable
    order: tuple[str, ...] | None = None  # None: the registry's default order
    timeouts: Mapping[str, float | None] = field(default_factory=dict)  # by tier id; unset: its declared default
    concurrency: Mapping[str, int] = field(default_factory=dict)  # by tier id; unset: its declared default
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    data_dir: str = "data"  # where the app keeps its history (SQLite); relative to the working directory
    database_url: Secret | None = None  # a shared PostgreSQL history instead of the SQLite file
    prices: Mapping[str, float] = field(default_factory=dict)  # overrides of the providers' price tables
    breaker: BreakerSettings = BreakerSettings()
    retry: RetrySettings = RetrySettings()
    hedge: HedgeSettings = HedgeSettings()
    auto_order: OrderSettings = OrderSettings()
    budget: BudgetSettings = BudgetSettings()

    def get(self, setting: Setting) -> Any:
        """A provider's setting: the configured value, else the setting's default."""
        return self.values.get(setting.variable, setting.default)

    def timeout_for(self, tier: str, default: float | None = None) -> float | None:
        return self.timeouts[tier] if tier in self.timeouts else default

    def concurrency_for(self, tier: str, default: int | None = None) -> int | None:
        return self.concurrency.get(tier, default)

    def secrets(self) -> list[Secret]:
        """Every token this configuration holds (to blank out of anything shown)."""
        found = [value for value in self.values.values() if isinstance(value, Secret) and value]
        return found + ([self.database_url] if self.database_url else [])

    def with_changes(self, **changes: Any) -> "Config":
        return replace(self, **changes)

    def with_settings(self, raw: Mapping[str, str], registry: "Registry | None" = None) -> "Config":
        """This config with providers' settings given as text (as in the environment), parsed and checked."""
        declared = {s.variable: s for s in _provider_settings(registry)}
        values = dict(self.values)
        for variable, text_value in raw.items():
            if variable not in declared:
                raise ConfigError(f"no provider reads a setting named {variable}")
            values[variable] = declared[variable].read(str(text_value).strip())
        return replace(self, values=values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, registry: "Registry | None" = None) -> "Config":
        """Build from ``env`` (default: ``os.environ``). Unset or empty variables keep their defaults."""
        reader = _Reader(os.environ if env is None else env)
        registry = _registry(registry)
        values = {s.variable: value for s in _provider_settings(registry) if (value := reader.get(s)) is not None}
        timeouts, concurrency = {}, {}
        for info in registry.infos():
            if (raw := reader.raw(info.timeout_variable)) is not None:
                timeouts[info.id] = TIMEOUT(info.timeout_variable, raw)
            if info.max_concurrency is not None and (raw := reader.raw(info.concurrency_variable)) is not None:
                concurrency[info.id] = CONCURRENCY(info.concurrency_variable, raw)
        return cls(
            values=values,
            order=reader.get(ORDER),
            timeouts=timeouts,
            concurrency=concurrency,
            max_input_pixels=reader.value(MAX_INPUT_PIXELS),
            max_output_pixels=reader.value(MAX_OUTPUT_PIXELS),
            data_dir=reader.value(DATA_DIR),
            database_url=reader.get(DATABASE_URL),
            prices=reader.get(PRICES) or {},
            breaker=BreakerSettings(reader.value(BREAKER_FAILURES), reader.value(BREAKER_COOLDOWN),
                                    reader.value(BREAKER_MAX_COOLDOWN), reader.value(BREAKER_PERMANENT_COOLDOWN)),
            retry=RetrySettings(reader.value(RETRIES), reader.value(RETRY_BACKOFF)),
            hedge=replace(HedgeSettings(), enabled=reader.value(HEDGE), default_delay_s=reader.value(HEDGE_DELAY),
                          budget=reader.value(HEDGE_BUDGET)),  # fmt: skip
            auto_order=OrderSettings(reader.value(ORDER_MODE)),
            budget=BudgetSettings(reader.get(MAX_COST_PER_IMAGE), reader.get(MAX_COST_PER_DAY)),
        )


def known_settings(registry: "Registry | None" = None) -> list[Setting]:
    """Every variable hdcore reads: the chain's own, every provider's, each tier's timeout, and the concurrency
    of each tier that declares a limit."""
    registry = _registry(registry)
    per_tier = [Setting(info.timeout_variable, TIMEOUT) for info in registry.infos()]
    per_tier += [Setting(info.concurrency_variable, CONCURRENCY) for info in registry.infos()
                 if info.max_concurrency is not None]  # a tier working in this process has no such limit
    return [*CHAIN_SETTINGS, *_provider_settings(registry), *per_tier]


class _Reader:
    """Reads settings from one mapping: stripped text, empty meaning unset."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def raw(self, variable: str) -> str | None:
        value = self.env.get(variable)
        if value is None:
            return None
        return str(value).strip() or None

    def get(self, setting: Setting) -> Any:
        """The parsed value, or None when the variable is unset."""
        raw = self.raw(setting.variable)
        return None if raw is None else setting.read(raw)

    def value(self, setting: Setting) -> Any:
        """The parsed value, or the setting's default."""
        value = self.get(setting)
        return setting.default if value is None else value


def _registry(registry: "Registry | None") -> "Registry":
    if registry is not None:
        return registry
    from .providers import default_registry  # the providers declare what they read; imported only when asked

    return default_registry()


def _provider_settings(registry: "Registry | None") -> Iterable[Setting]:
    seen: dict[str, Setting] = {}
    for info in _registry(registry).infos():
        for setting in info.settings:
            seen.setdefault(setting.variable, setting)  # a shared token (e.g. HUGGINGFACE_TOKEN) is read once
    return list(seen.values())
