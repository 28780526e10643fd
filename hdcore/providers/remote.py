"""What the cloud tiers (Hugging Face Inference, the Hugging Face Space, Replicate) share.

Each tier talks to its service its own way; what they have in common lives here, so that a rule (how an
error message is made safe, how an answer of another size is fitted, how Retry-After is read) is written once:

* ``RemoteProvider``: the tier's deadline for direct callers, the deadline/cancel checks made between steps, and
  the one place its errors are built (one line, the token blanked out).
* ``CallScope``: the same checks and error-making for one call, handed to the parts of a tier that do the
  exchange (so they never reach back into the provider).
* plain functions: token masking (then shortening), Retry-After parsing (bounded), the size-capped reading of a
  streamed body into one buffer, origins and host allow-lists, fitting an answer of another size to the
  requested one, the request image as a PNG.

Where the tiers really differ (the wording of a timeout, whether an answer may be a little short, which checks
come before a chunk is counted), the difference is a parameter here, not a second copy. Replicate uses only the
plain functions: its errors have wording of their own ("cancelled by the caller", no "timed out after ...") and
its deadline is capped even when the tier has none, so it does not share ``RemoteProvider``'s checks.
"""

from __future__ import annotations

import dataclasses
import email.utils
import io
import math
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
from PIL import Image

from ..config import Secret
from ..errors import Cancelled, ProviderError, ProviderTimeout
from ..resize import lanczos_resize
from ..text import masked_and_shortened
from ..text import redacted as redacted_all
from .base import Provider, UpscaleRequest

AnError = TypeVar("AnError", bound=ProviderError)

ASPECT_TOLERANCE = 0.02  # an answer of another size is resized only when its shape matches this closely
SECRET_MASK = "********"
# A message is our own words (under ~100 characters) and a server's text; the whole is masked, then cut here.
MAX_MESSAGE_CHARS = 300
# A 429 asking for longer is honoured for an hour: the breaker tries again then. A number from outside is never
# trusted further (1e308 s once overflowed time formatting and stopped every run).
MAX_RETRY_AFTER_S = 3600.0


class RemoteProvider(Provider):
    """A provider that calls a service over the network with a token, within the tier's deadline.

    A subclass names its token (``_secret``) and how a timeout mid-call reads (``late_phrase``), and builds every
    error it raises with ``_error``.
    """

    # ends "timed out after 10.0 s ..." when the deadline passes between two steps of a call; each tier says it
    # its own way (e.g. "before the Space answered")
    late_phrase: str

    def _secret(self) -> Secret | None:
        """The token this provider sends; it is blanked out of every message."""
        raise NotImplementedError

    def _with_deadline(self, request: UpscaleRequest) -> UpscaleRequest:
        """The engine sets the deadline; a direct caller gets the tier's timeout from now."""
        timeout = self.timeout()
        if request.deadline is not None or timeout is None:
            return request
        # replace() keeps the same cancel_event, so cancel(original request) still finds this call
        return dataclasses.replace(request, deadline=time.monotonic() + timeout)

    def scope(self, request: UpscaleRequest, model: str) -> "CallScope":
        """One call's checks and error-making, for the parts of this tier that do the exchange."""
        return CallScope(self.name, model, request, self.timeout(), self._secret(), self.late_phrase)

    def _stop_if_due(self, request: UpscaleRequest, model: str) -> None:
        self.scope(request, model).stop_if_due()

    def _interruption(self, request: UpscaleRequest, model: str) -> ProviderError | None:
        return self.scope(request, model).interruption()

    def _timed_out(self, model: str, while_doing: str) -> ProviderTimeout:
        return timed_out_error(self.name, model, self.timeout(), while_doing, self._secret())

    def _error(self, kind: type[AnError], message: str, model: str, **extra: Any) -> AnError:
        """Every error this provider raises is made here: one line, the token masked, then shortened."""
        return provider_error(kind, message, self.name, model, self._secret(), **extra)

    def _redacted(self, text: str) -> str:
        return redacted(text, self._secret())


@dataclass(frozen=True)
class CallScope:
    """One call of one tier: whether it must stop now (cancelled, past its deadline), and its errors, made
    one way (one line, the token masked, then shortened)."""

    provider: str
    model: str
    request: UpscaleRequest
    timeout: float | None
    secret: Secret | None
    late_phrase: str  # ends "timed out after 10.0 s ..." when the deadline passes between two steps

    def error(self, kind: type[AnError], message: str, **extra: Any) -> AnError:
        return provider_error(kind, message, self.provider, self.model, self.secret, **extra)

    def interruption(self) -> ProviderError | None:
        """Why the call must stop now (the caller cancelled, or the deadline passed), or None to go on."""
        if self.request.cancel_event.is_set():
            return self.error(Cancelled, "cancelled")
        if self.request.deadline is not None and time.monotonic() >= self.request.deadline:
            return self.timed_out(self.late_phrase)
        return None

    def stop_if_due(self) -> None:
        interruption = self.interruption()
        if interruption is not None:
            raise interruption

    def timed_out(self, while_doing: str) -> ProviderTimeout:
        return timed_out_error(self.provider, self.model, self.timeout, while_doing, self.secret)

    def masked(self, text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
        return masked_and_shortened(text, [self.secret], limit)


def provider_error(kind: type[AnError], message: str, provider: str, model: str, secret: Secret | None,
                   **extra: Any) -> AnError:  # fmt: skip
    return kind(masked_and_shortened(message, [secret], MAX_MESSAGE_CHARS), provider=provider, model=model, **extra)


def timed_out_error(provider: str, model: str, timeout: float | None, while_doing: str,
                    secret: Secret | None) -> ProviderTimeout:  # fmt: skip
    after = f"after {timeout:.1f} s" if timeout is not None else "at the deadline"
    return provider_error(ProviderTimeout, f"timed out {after} {while_doing}", provider, model, secret)


# --- messages ------------------------------------------------------------------------------------------


def redacted(text: str, secret: Secret | None, mask: str = SECRET_MASK) -> str:
    """``text`` with the token masked, however a server or proxy echoed it back (see ``hdcore.text.redacted``)."""
    return redacted_all(text, [secret], mask)


def innermost(error: BaseException, deeper: Callable[[BaseException], BaseException | None]) -> BaseException:
    """The last error reached by following ``deeper`` (how one client library wraps another's error) from ``error``."""
    inner = error
    for _ in range(10):  # the wrappers nest a few levels; never loop on a cycle
        wrapped = deeper(inner)
        if wrapped is None:
            break
        inner = wrapped
    return inner


def os_reason(error: BaseException) -> str | None:
    """The operating system's words for a socket failure, e.g. "connection refused"; None for other errors."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return None


# --- what a service's answer says ----------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from ``now``, within [0, MAX_RETRY_AFTER_S]: a number of seconds or an HTTP date.

    None when it says nothing usable (empty, not a number nor a date, NaN); any other value is clamped, so that
    ``99999999999999999999``, ``1e308``, ``inf`` or a date in the year 9999 all mean "an hour".
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now or datetime.now(timezone.utc))
    return bounded_seconds(seconds, MAX_RETRY_AFTER_S)


def bounded_seconds(seconds: float | None, maximum: float) -> float | None:
    """A duration from outside within [0, maximum]; None when it is no number at all."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return None
    return min(max(0.0, float(seconds)), maximum)


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    try:
        return (when - now).total_seconds()
    except OverflowError:  # a date at the edge of datetime's range
        return math.inf


def _no_check() -> None:
    pass


def read_capped(
    chunks: Iterable[bytes],
    limit: int,
    too_large: Callable[[], ProviderError],
    *,
    check_before: Callable[[], None] = _no_check,
    check_after: Callable[[], None] = _no_check,
) -> bytes:
    """A streamed body in one buffer, raising ``too_large()`` as soon as it passes ``limit`` bytes.

    ``check_before`` runs as each chunk arrives, before it is counted; ``check_after`` once it is kept (so that
    a body whose last chunk came after the deadline counts as late). Both are the caller's deadline and cancel
    checks, made between chunks because an HTTP client bounds only each socket wait, not the whole body.

    The chunks go straight into one ``BytesIO``, whose ``getvalue()`` hands its buffer over without a copy: a
    list of chunks joined at the end held the body twice at its peak (+589 MB RSS for a 700 MB answer).
    """
    buffer = io.BytesIO()
    size = 0
    for chunk in chunks:
        check_before()
        size += len(chunk)
        if size > limit:
            raise too_large()
        buffer.write(chunk)
        del chunk  # the buffer holds it now
        check_after()
    return buffer.getvalue()


def declared_length(headers: Any) -> int | None:
    """The Content-Length a server declared, or None when it declared none (or nonsense)."""
    value = headers.get("Content-Length") if headers is not None else None
    try:
        length = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return length if length >= 0 else None


# --- where a request may go ----------------------------------------------------------------------------

Origin = tuple[str, str, int | None]


def origin(url: str) -> Origin:
    """(scheme, host, port) of an http(s) URL, with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is no number: an origin nothing matches
        return scheme, "", -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def on_hosts(url: str, hosts: Iterable[str]) -> bool:
    """Whether an https URL is on one of ``hosts`` or a subdomain of one (``hf.space``: ``x.hf.space``)."""
    scheme, host, _ = origin(url)
    return scheme == "https" and bool(host) and any(host == known or host.endswith("." + known) for known in hosts)


def displayed_url(url: str) -> str:
    """A URL as people may see it: no user, password, query or fragment (any of them may hold a secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


# --- images --------------------------------------------------------------------------------------------


def aspect_error(got: tuple[int, int], reference: tuple[int, int]) -> float:
    """How far the shape (width / height) of ``got`` is from that of ``reference``, as a fraction."""
    return abs((got[0] / got[1]) / (reference[0] / reference[1]) - 1.0)


def fitted(
    color: np.ndarray, wanted: tuple[int, int], service: str, shortfall: float = 0.0
) -> tuple[np.ndarray, tuple[str, ...]]:
    """An answer of the same shape as asked, resized to the exact size; else left alone for the engine to reject.

    By default only down (``shortfall`` 0): Lanczos blowing up a smaller answer would pass off the baseline as
    the tier's work. ``shortfall`` is the fraction an answer may fall short of the size (1.0: any smaller answer,
    for a service known to answer at a fixed size). The warning names the ``service`` that answered
    ("Hugging Face returned 1024x1024: resized to ...").
    """
    got = (int(color.shape[1]), int(color.shape[0]))
    if got == wanted or not _resizable(got, wanted, shortfall):
        return color, ()
    note = f"{service} returned {got[0]}x{got[1]}: resized to {wanted[0]}x{wanted[1]} with Lanczos"
    return lanczos_resize(color, wanted), (note,)


def _resizable(got: tuple[int, int], wanted: tuple[int, int], shortfall: float) -> bool:
    same_shape = aspect_error(got, wanted) <= ASPECT_TOLERANCE
    floor = 1.0 - shortfall
    return same_shape and got[0] >= wanted[0] * floor and got[1] >= wanted[1] * floor


def png_bytes(color: np.ndarray) -> bytes:
    """The request image as an 8-bit RGB PNG (what the hosted models and Gradio image inputs take)."""
    pixels = np.rint(np.clip(color, 0.0, 1.0) * np.float32(255)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def socket_wait(request: UpscaleRequest, without_deadline: float) -> float:
    """How long one socket wait may last: until the deadline, or ``without_deadline`` seconds when there is none."""
    left = request.time_left()
    # never 0 at the deadline itself: urllib3 refuses a timeout <= 0; the deadline check that follows says why it ends
    return without_deadline if left is None else max(left, 0.001)
