"""What the cloud tiers (Hugging Face Inference, the Hugging Face Space, Replicate) share.

Each tier talks to its service its own way; what they have in common lives here, so that a rule (how an
error message is made safe, how an answer of another size is fitted, how Retry-After is read) is written once:

* ``RemoteProvider``: the tier's deadline for direct callers, the deadline/cancel checks made between steps, and
  the one place its errors are built (one line, the token blanked out).
* plain functions: message shortening and token blanking, Retry-After parsing, the size-capped reading of a
  streamed body, fitting an answer of another size to the requested one, the request image as a PNG.

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
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
from PIL import Image

from ..config import Secret
from ..errors import Cancelled, ProviderError, ProviderTimeout
from ..resize import lanczos_resize
from ..text import one_line
from .base import Provider, UpscaleRequest

AnError = TypeVar("AnError", bound=ProviderError)

ASPECT_TOLERANCE = 0.02  # an answer of another size is resized only when its shape matches this closely
SECRET_MASK = "********"


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

    def _stop_if_due(self, request: UpscaleRequest, model: str) -> None:
        interruption = self._interruption(request, model)
        if interruption is not None:
            raise interruption

    def _interruption(self, request: UpscaleRequest, model: str) -> ProviderError | None:
        """Why the call must stop now (the caller cancelled, or the deadline passed), or None to go on."""
        if request.cancel_event.is_set():
            return self._error(Cancelled, "cancelled", model)
        if request.deadline is not None and time.monotonic() >= request.deadline:
            return self._timed_out(model, self.late_phrase)
        return None

    def _timed_out(self, model: str, while_doing: str) -> ProviderTimeout:
        timeout = self.timeout()
        after = f"after {timeout:.1f} s" if timeout is not None else "at the deadline"
        return self._error(ProviderTimeout, f"timed out {after} {while_doing}", model)

    def _error(self, kind: type[AnError], message: str, model: str, **extra: Any) -> AnError:
        """Every error this provider raises is made here: one line, the token blanked out."""
        return kind(self._redacted(one_line(message)), provider=self.name, model=model, **extra)

    def _redacted(self, text: str) -> str:
        return redacted(text, self._secret())


# --- messages ------------------------------------------------------------------------------------------


def redacted(text: str, secret: Secret | None, mask: str = SECRET_MASK) -> str:
    """``text`` with the token blanked out: a server or proxy may echo it back in an error."""
    # an empty token is no secret, and replacing "" would put the mask between every character
    return text.replace(secret.reveal(), mask) if secret else text


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
    """Retry-After as seconds from ``now``: it is either a number of seconds or an HTTP date. None if unusable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = _seconds_until(value.strip(), now or datetime.now(timezone.utc))
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return (when - now).total_seconds()


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
    """A streamed body joined, raising ``too_large()`` as soon as it passes ``limit`` bytes.

    ``check_before`` runs as each chunk arrives, before it is counted; ``check_after`` once it is kept (so that
    a body whose last chunk came after the deadline counts as late). Both are the caller's deadline and cancel
    checks, made between chunks because the HTTP client bounds only each socket wait, not the whole body.
    """
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        check_before()
        size += len(chunk)
        if size > limit:
            raise too_large()
        kept.append(chunk)
        check_after()
    return b"".join(kept)


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
