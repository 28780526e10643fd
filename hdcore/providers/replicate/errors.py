"""The one place where the Replicate SDK's and httpx's failures become hdcore's typed errors, with safe text.

    401 / 403            AuthError          the token was rejected
    402                  PermanentError     the account needs credit: nothing will run soon
    404 / 410            PermanentError     the model or version is not served (only when creating; a prediction
                                            that vanished while polled is TransientError)
    429                  RateLimited        Retry-After, bounded (unpaid accounts may create 6 predictions a minute)
    other 4xx (422 ...)  RequestRejected    this request is refused (bad input, too large); the tier stays open
    5xx, no status       TransientError
    timeout              ProviderTimeout
    connection trouble   TransientError

An error raised before any prediction could exist (an HTTP answer to the create or to the upload) carries a known
cost of 0, so the budget does not keep the estimate as spent; a create that timed out may have started one, and
says nothing.

Every message is one line and never the token, not even echoed back altered (another case, URL-encoded): the
token is masked first, then the text shortened.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import httpx
from replicate.exceptions import ReplicateError

from ...config import Secret
from ...errors import (
    AuthError,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    TransientError,
)
from ...text import redacted, shortened
from ..remote import retry_after_seconds
from .transport import API_ANSWER_CAP, AnswerTooLarge, RedirectRefused

# A Retry-After longer than this is noise or hostile (a rate window is a minute; a daily quota reopens within a
# day at the latest, and the breaker tries again after this anyway); bounded so no clock arithmetic overflows.
MAX_RETRY_AFTER_S = 3600.0
CREATING = "creating the prediction"
UPLOADING = "uploading the input"
LOOKING_UP = "looking up the model's version"
NOTHING_STARTED = (CREATING, UPLOADING, LOOKING_UP)  # an HTTP answer to these means no prediction exists


class Translator:
    """Builds this tier's errors: typed by what the caller can do, one line, the token masked."""

    def __init__(self, provider: str, secret: Callable[[], Secret | None], retry_after: Callable[[], str | None]):
        self.provider = provider
        self._secret = secret  # read when needed: a provider is made before its client
        self._retry_after = retry_after  # the latest Retry-After header this thread received

    @contextmanager
    def translated(self, model: str | None, doing: str) -> Iterator[None]:
        try:
            yield
        except ReplicateError as error:
            raise self.from_api_error(error, model, doing) from error
        except AnswerTooLarge as error:
            raise TransientError(f"Replicate's answer {doing} is over {API_ANSWER_CAP:,} bytes",
                                 provider=self.provider, model=model) from error  # fmt: skip
        except RedirectRefused as error:
            cost = 0.0 if doing in NOTHING_STARTED else None  # an HTTP answer: nothing was created
            raise TransientError(f"Replicate answered a redirect ({error}) {doing}; not followed",
                                 provider=self.provider, model=model, cost_usd=cost) from error  # fmt: skip
        except httpx.TimeoutException as error:
            raise ProviderTimeout(f"timed out {doing}", provider=self.provider, model=model) from error
        except httpx.HTTPError as error:  # connection refused or reset, broken HTTP
            text = f"connection failed {doing}: {type(error).__name__}"
            raise TransientError(text, provider=self.provider, model=model) from error
        except ValueError as error:  # JSON that does not parse, or lacks what the API promises
            text = f"unexpected answer from Replicate {doing}: {self.safe(str(error))}"
            raise TransientError(text, provider=self.provider, model=model) from error

    def from_api_error(self, error: ReplicateError, model: str | None, doing: str) -> ProviderError:
        # Scrubbed in place too: the original stays chained as __cause__, and tracebacks print it.
        error.detail, error.title = self.scrubbed(error.detail), self.scrubbed(error.title)
        status = error.status
        detail = self.safe(error.detail or error.title or "")
        suffix = f": {detail}" if detail else ""
        where = {"provider": self.provider, "model": model, "cost_usd": 0.0 if doing in NOTHING_STARTED else None}
        if status in (401, 403):
            return AuthError(f"Replicate rejected the token (HTTP {status})", **where)
        if status == 402:
            return PermanentError(f"Replicate will not run it: the account needs credit (HTTP 402){suffix}", **where)
        if status in (404, 410):
            if doing in NOTHING_STARTED:
                return PermanentError(f"model not served here (HTTP {status}){suffix}", **where)
            return TransientError(f"Replicate answered HTTP {status} {doing}{suffix}", **where)
        if status == 429:
            return self._rate_limited(where)
        if status is None or status >= 500:
            return TransientError(f"Replicate server error (HTTP {status}){suffix}", **where)
        return RequestRejected(f"Replicate rejected the request (HTTP {status}){suffix}", **where)

    def _rate_limited(self, where: dict) -> RateLimited:
        retry_after = retry_after_seconds(self._retry_after())
        if retry_after is not None:
            retry_after = min(retry_after, MAX_RETRY_AFTER_S)
        hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(f"rate limited by Replicate (HTTP 429){hint}", retry_after=retry_after, **where)

    def safe(self, text: str) -> str:
        """One line, short, and never the token (a server or proxy might echo it back): masked, then shortened."""
        return shortened(self.scrubbed(text) or "", ellipsis="…")

    def scrubbed(self, text: str | None) -> str | None:
        # None passes through: ReplicateError's detail and title are scrubbed in place and may be absent
        if not text:
            return text
        secret = self._secret()
        return redacted(text, [secret], mask="***") if secret else text
