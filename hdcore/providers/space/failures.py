"""What each failure of gradio_client, httpx or the Hub means for the Space tier, in hdcore's error tree.

The texts returned here are whole: the error built from them is masked, then shortened (``remote``).
"""

from __future__ import annotations

from typing import Any

from ...errors import (
    AuthError,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    TransientError,
)
from ..remote import innermost, os_reason, retry_after_seconds

Classified = tuple[type[ProviderError], str, dict[str, Any]]


def classify(error: Exception) -> Classified:
    """(error class, message, extra arguments) for an exception raised by gradio_client, httpx or the Hub."""
    import httpx
    from gradio_client import exceptions as gradio_errors
    from gradio_client import utils as gradio_utils

    if _is_unknown_repository(error):  # the Hub answers 401 or 404 for an unknown or private Space
        return PermanentError, "Space not found (a private Space also needs HUGGINGFACE_TOKEN)", {}
    status = _http_status(error)
    if status is not None:
        return _classify_status(status, error)
    if isinstance(error, gradio_errors.AuthenticationError):
        return AuthError, "the Space refused our credentials", {}
    if isinstance(error, gradio_errors.AppError):
        return TransientError, f"the Space failed: {error.message}", {}
    if isinstance(error, gradio_errors.ValidationError):  # about this input: not a verdict on the Space
        return RequestRejected, f"the Space refused the input: {error}", {}
    if isinstance(error, (gradio_utils.QueueError, gradio_utils.TooManyRequestsError)):
        return RateLimited, f"the Space is busy: {error}", {"retry_after": None}
    if isinstance(error, gradio_utils.InvalidAPIEndpointError):
        return PermanentError, "the Space does not offer this endpoint through its API", {}
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return ProviderTimeout, "waiting for the Space", {}
    if isinstance(error, (httpx.TransportError, OSError)):
        return TransientError, f"cannot reach the Space ({root_cause(error)})", {}
    if isinstance(error, ValueError) and _mentions_missing_endpoint(str(error)):
        return PermanentError, f"the Space has no such endpoint: {error}", {}
    if isinstance(error, ValueError) and ("Could not find Space" in str(error) or "invalid state" in str(error)):
        return PermanentError, f"the Space is not available: {error}", {}
    return TransientError, f"the Space call failed ({type(error).__name__}: {error})", {}


def _classify_status(status: int, error: Exception) -> Classified:
    if status in (401, 403):
        return AuthError, f"the Space refused access (HTTP {status}): a private Space needs HUGGINGFACE_TOKEN", {}
    if status in (404, 410):
        return PermanentError, f"Space not found (HTTP {status})", {}
    if status == 429:
        return RateLimited, "the Space is rate limiting us (HTTP 429)", {"retry_after": _retry_after(error)}
    if status == 503:
        return TransientError, "the Space is busy or starting (HTTP 503)", {}
    if status >= 500:
        return TransientError, f"the Space's server failed (HTTP {status})", {}
    return RequestRejected, f"the Space refused this request (HTTP {status})", {}


def _is_unknown_repository(error: BaseException) -> bool:
    try:
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:  # the Hub library is gradio_client's dependency; without it there is no such error
        return False
    return isinstance(error, RepositoryNotFoundError)


def _http_status(error: BaseException) -> int | None:
    """The HTTP status behind httpx's and the Hub's errors (the Hub raises httpx errors' subclasses)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    return retry_after_seconds(headers.get("Retry-After"))


def _mentions_missing_endpoint(text: str) -> bool:
    return "Cannot find a function with `api_name`" in text or "Invalid function index" in text


def breaks_client(error: BaseException) -> bool:
    """Failures after which the cached client is not trusted: the app restarted, moved or went away.

    An error raised by the app's own code (AppError), a timeout or a cancel says nothing against the client.
    """
    if isinstance(error, (ProviderError, TimeoutError)):
        return False
    try:
        from gradio_client import exceptions as gradio_errors
    except ImportError:
        return True
    return not isinstance(error, (gradio_errors.AppError, gradio_errors.ValidationError))


def root_cause(error: BaseException) -> str:
    """The innermost reason, e.g. "connection refused"."""
    inner = innermost(error, lambda outer: outer.__cause__ or outer.__context__)
    return os_reason(inner) or str(inner) or str(error) or type(error).__name__
