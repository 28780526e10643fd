"""Every error hdcore raises, split by what the caller can do about it.

    HDCoreError                      root: catch this to catch everything of ours
    ├── InvalidInput                 the caller's input is wrong; retrying will not help (CLI exit 2)
    │   ├── InvalidImage             empty, not an image, truncated, SVG/HTML/text, bad base64, missing path
    │   └── ImageTooLarge            declared input size or the output size exceeds a configured pixel limit
    ├── ConfigError                  a setting (environment variable or argument) has an unusable value
    ├── ProviderError                one tier failed; carries the provider and model; the engine tries the next
    │   ├── ProviderTimeout          no answer within the tier's deadline
    │   ├── RateLimited              the provider asked us to slow down; carries retry_after (seconds or None)
    │   ├── AuthError                the token was rejected (the token itself is never part of the message)
    │   ├── PermanentError           the model is not served there (HTTP 404 / 410); do not retry soon
    │   ├── RequestRejected          the service refused *this* request (HTTP 400, 413, 422...: too large, a bad
    │   │                            input); the tier is fine for other requests, so it says nothing about it
    │   ├── TransientError           5xx, connection trouble, model loading; worth retrying later
    │   ├── BadOutput                an answer arrived but it is not a valid image of the requested size
    │   └── Cancelled                the caller abandoned the request
    ├── AllTiersFailed               no tier produced an image; carries every attempt (CLI exit 3)
    ├── HistoryError                 the history store cannot be opened, read or written; the run is unaffected
    └── ClusterError                 a Ray cluster could not run a job (a worker lost for good, the cluster gone)

Messages are one line and safe to show a user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .attempts import Attempt


class HDCoreError(Exception):
    """Root of hdcore's errors."""


class InvalidInput(HDCoreError):
    """The input given by the caller cannot be used."""


class InvalidImage(InvalidInput):
    """The data is not a usable image."""


class ImageTooLarge(InvalidInput):
    """The image (or the image it would produce) exceeds a pixel limit."""


class ConfigError(HDCoreError):
    """A configuration value is unusable."""


class ProviderError(HDCoreError):
    """One tier failed. ``provider`` and ``model`` say which; ``cost_usd`` what the failed call is known to
    have cost (None: unknown)."""

    outcome = "error"

    def __init__(self, message: str, *, provider: str = "", model: str | None = None, cost_usd: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.cost_usd = cost_usd


class ProviderTimeout(ProviderError):
    """No answer in time. ``at_deadline``: raised by a provider's own check of the engine's deadline (the
    engine then words it as its own timeout), not a timeout of the service's."""

    outcome = "timeout"

    def __init__(self, message: str, *, at_deadline: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.at_deadline = at_deadline


class RateLimited(ProviderError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(ProviderError):
    pass


class PermanentError(ProviderError):
    pass


class RequestRejected(ProviderError):
    """The service refused this one request (an HTTP 4xx other than 401/403/404/410/429): the image is too
    large, an input is invalid. Not a verdict on the tier: another request may well succeed, so a breaker
    shared by every user must not open on it."""


class TransientError(ProviderError):
    pass


class BadOutput(ProviderError):
    pass


class Cancelled(ProviderError):
    pass


class AllTiersFailed(HDCoreError):
    """No tier produced an image. The message names each tier's reason."""

    def __init__(self, attempts: Sequence["Attempt"]):
        self.attempts = list(attempts)
        if self.attempts:
            reasons = "; ".join(f"{a.provider}: {a.reason or a.outcome}" for a in self.attempts)
        else:
            reasons = "no tier to try"
        super().__init__(f"every tier failed ({reasons})")


class HistoryError(HDCoreError):
    """The history store (SQLite file or PostgreSQL database) cannot be opened, read or written. The run itself
    is unaffected: a caller warns and still delivers the image."""


class ClusterError(HDCoreError):
    """The cluster a job was sent to could not finish it; what was written so far stays (``--resume``)."""
