"""What ``hdcore serve`` reads from the environment, parsed and range-checked once, as every hdcore setting is.

    HDCORE_API_KEYS          comma list of keys a caller must present; none: the server binds to this machine only
    HDCORE_SERVE_DEADLINE    seconds a request may take, end to end, before its job is cancelled (504)
    HDCORE_SERVE_MAX_ACTIVE  requests in the engine at once; more are answered 429 before their body is read
    HDCORE_SERVE_QUEUE       of those, how many may wait in the local tier's line (its job gate); more: 429
    HDCORE_SERVE_DRAIN       seconds a shutdown waits for jobs in flight before cancelling them (503)
    HDCORE_SERVE_MAX_BODY    bytes a request body may hold; default: what an image within the pixel limit needs
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping

from ..config import MAX_SECONDS, Config, Secret, Setting, seconds, whole
from ..errors import ConfigError
from ..images import max_source_bytes

MIN_KEY_CHARS = 16  # shorter keys can be guessed; a generated key (``secrets.token_urlsafe(32)``) has 43
# What a request carries besides the image's base64: the data URI's header, the JSON fields, a multipart
# form's boundaries and part headers. 64 KiB is far more than any of them needs.
ENVELOPE_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 40  # what HDCORE_SERVE_MAX_BODY may say at most (1 TiB): a typo, not a real limit


def api_keys(variable: str, raw: str) -> tuple[Secret, ...]:
    """A comma list of keys; each long enough and printable (a header carries it). Never echoed back."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for index, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"{variable}: key {index} has {len(key)} characters; each needs {MIN_KEY_CHARS} or more")
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            raise ConfigError(f"{variable}: key {index} must be printable ASCII without spaces")
    return tuple(Secret(key) for key in keys)


API_KEYS = Setting("HDCORE_API_KEYS", api_keys, (), "comma list of API keys; none: serve on 127.0.0.1 only")
DEADLINE = Setting("HDCORE_SERVE_DEADLINE", seconds(1, MAX_SECONDS, off=False), 300.0,
                   "seconds a request may take before its job is cancelled")  # fmt: skip
MAX_ACTIVE = Setting("HDCORE_SERVE_MAX_ACTIVE", whole(1, 4096), 32, "requests in the engine at once")
QUEUE = Setting("HDCORE_SERVE_QUEUE", whole(0, 4096), 8, "requests that may wait in the local tier's line")
DRAIN = Setting("HDCORE_SERVE_DRAIN", seconds(0, 3600, off=False), 30.0,
                "seconds a shutdown waits for jobs in flight before cancelling them")  # fmt: skip
MAX_BODY = Setting("HDCORE_SERVE_MAX_BODY", whole(1024, MAX_BODY_BYTES), None, "bytes a request body may hold")
SERVE_SETTINGS = (API_KEYS, DEADLINE, MAX_ACTIVE, QUEUE, DRAIN, MAX_BODY)


def body_cap(max_input_pixels: int) -> int:
    """The most bytes a request can need to carry an image within ``max_input_pixels``: the largest encoded file
    such an image can be (``images.max_source_bytes``), inflated by 4/3 as base64, plus the envelope."""
    return math.ceil(max_source_bytes(max_input_pixels) * 4 / 3) + ENVELOPE_BYTES


@dataclass(frozen=True)
class ServeSettings:
    api_keys: tuple[Secret, ...] = ()
    deadline_s: float = DEADLINE.default
    max_active: int = MAX_ACTIVE.default
    max_waiting: int = QUEUE.default
    drain_s: float = DRAIN.default
    max_body_bytes: int = body_cap(Config().max_input_pixels)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, config: Config | None = None) -> "ServeSettings":
        """From ``env`` (default ``os.environ``); the body cap follows ``config``'s pixel limit unless set."""
        env = os.environ if env is None else env
        config = config if config is not None else Config.from_env(env)
        values = {setting.variable: _read(env, setting) for setting in SERVE_SETTINGS}
        return cls(
            api_keys=values[API_KEYS.variable],
            deadline_s=values[DEADLINE.variable],
            max_active=values[MAX_ACTIVE.variable],
            max_waiting=values[QUEUE.variable],
            drain_s=values[DRAIN.variable],
            max_body_bytes=values[MAX_BODY.variable] or body_cap(config.max_input_pixels),
        )


def _read(env: Mapping[str, str], setting: Setting) -> object:
    raw = str(env.get(setting.variable) or "").strip()
    return setting.read(raw) if raw else setting.default
