"""Inference Providers through Hugging Face's router, with huggingface_hub's ``InferenceClient``.

``InferenceClient(provider=..., token=...).image_to_image(png, model=..., target_size=...)`` finds which provider
maps the model (``GET {hub}/api/models/{model}?expand=inferenceProviderMapping``; provider "auto" takes the
first), speaks that provider's protocol through ``https://router.huggingface.co/{provider}`` (fal-ai's queue:
submit, poll the status, fetch the result and then its image; hf-inference: one POST; ...) and answers an image.

The client has no overall deadline, no size cap and no cancel, polls a queue until it says COMPLETED, and fetches
whatever image URL a provider answers with. So every request it makes, in the thread of one of our calls, goes
through ``GuardedTransport`` (installed once as huggingface_hub's HTTP client factory; it passes every other
request through untouched):

* the deadline and the cancel flag are checked before each request and between the chunks of each answer, and
  each socket wait is bounded by the time left: a queue that never completes ends at the deadline;
* the token goes only to the router and the Hub (ours replaces any token saved on the machine); an answer's
  file is fetched, without credentials, only from the providers' file hosts (``OUTPUT_HOSTS``) or the router;
  any other address (another port, a private IP, a redirect elsewhere) is refused with one message, whatever
  the state of that address;
* every answer is capped (declared length first, then the bytes read) and must come uncompressed (we ask for
  ``identity``), so no gzip bomb grows past the cap while it is decoded.

``HDCORE_HF_ROUTER_URL`` and ``HDCORE_HF_HUB_URL`` name other addresses for the router and the Hub (a proxy, or
a test server): requests for the default ones are sent there instead, so the client's own logic still sees the
addresses it knows.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ...errors import BadOutput, PermanentError, ProviderError, TransientError
from ..remote import CallScope, Origin, declared_length, displayed_url, on_hosts, origin, png_bytes, socket_wait
from .catalogue import ADVICE
from .direct import http_error, prompt_option

log = logging.getLogger(__name__)

DEFAULT_ROUTER_URL = "https://router.huggingface.co"
DEFAULT_HUB_URL = "https://huggingface.co"
# Where a provider's answer may point, fetched without credentials: the file hosts of the providers that serve
# image-to-image through the router (fal-ai: v3.fal.media; replicate: replicate.delivery; huggingface_hub 2.4.0's
# provider helpers), and Hugging Face's own. together answers inline (base64). Others are refused.
OUTPUT_HOSTS = ("fal.media", "replicate.delivery", "huggingface.co", "hf.co")
NO_DEADLINE_SOCKET_TIMEOUT_S = 60.0
CREDENTIAL_HEADERS = ("authorization", "x-hf-authorization", "cookie", "proxy-authorization", "x-api-key")
REFUSED = "the provider's answer points to an address outside Hugging Face and its providers' file hosts; not fetched"
NOT_SERVED = "is not served by any Hugging Face provider for image-to-image today"


@dataclass(frozen=True)
class Route:
    """Where this call may go: the router and the Hub (credentialed), as configured, and the file hosts."""

    router_url: str
    hub_url: str

    def rebased(self) -> dict[Origin, str]:
        """The default addresses the client knows, mapped onto the configured ones (when they differ)."""
        pairs = ((DEFAULT_ROUTER_URL, self.router_url), (DEFAULT_HUB_URL, self.hub_url))
        return {origin(default): configured for default, configured in pairs if configured != default}

    def trusted(self) -> frozenset[Origin]:
        return frozenset({origin(self.router_url), origin(self.hub_url)})


@dataclass(frozen=True)
class _Guard:
    scope: CallScope
    route: Route
    token: str
    max_body_bytes: int

    def send(self, inner: Any, request: Any) -> Any:
        """One request of the client's, checked, sent where it may go, its answer capped."""
        import httpx2

        self.scope.stop_if_due()
        request = self._addressed(httpx2, request)
        wait = socket_wait(self.scope.request, NO_DEADLINE_SOCKET_TIMEOUT_S)
        request.extensions["timeout"] = {"connect": wait, "read": wait, "write": wait, "pool": wait}
        log.debug("%s %s", request.method, displayed_url(str(request.url)))
        response = inner.handle_request(request)
        try:
            self._check_answer(response)
        except BaseException:
            response.close()
            raise
        response.stream = _http_classes().capped(response.stream, self)
        return response

    def _addressed(self, httpx2: Any, request: Any) -> Any:
        url = str(request.url)
        target = self.route.rebased().get(origin(url))
        if target is not None:
            url = target + request.url.raw_path.decode("ascii")
        headers = httpx2.Headers(request.headers)
        headers["host"] = httpx2.URL(url).netloc.decode("ascii")
        headers["accept-encoding"] = "identity"
        if origin(url) in self.route.trusted():
            if "authorization" in headers:  # ours, never one saved on the machine; none where none was sent
                headers["authorization"] = f"Bearer {self.token}"
        elif request.method == "GET" and on_hosts(url, OUTPUT_HOSTS):
            for name in CREDENTIAL_HEADERS:
                headers.pop(name, None)
        else:
            raise self.scope.error(BadOutput, REFUSED)
        return httpx2.Request(request.method, url, headers=headers, stream=request.stream,
                              extensions=dict(request.extensions))

    def _check_answer(self, response: Any) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise self.scope.error(BadOutput, f"the answer came compressed ({encoding}) though none was asked for")
        declared = declared_length(response.headers)
        if declared is not None and declared > self.max_body_bytes:
            raise self.scope.error(BadOutput, f"answer of {declared:,} bytes is over the "
                                              f"{self.max_body_bytes:,}-byte limit")

    def chunk_arrived(self, size: int) -> None:
        self.scope.stop_if_due()
        if size > self.max_body_bytes:
            raise self.scope.error(BadOutput, f"answer is over the {self.max_body_bytes:,}-byte limit")


_CURRENT: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar("hdcore_hf_guard", default=None)


@dataclass(frozen=True)
class _HttpClasses:
    guarded: type  # the transport
    capped: type  # an answer's body, checked between chunks


_CLASSES: _HttpClasses | None = None


def _http_classes() -> _HttpClasses:
    """The two httpx2 subclasses, made on first use (httpx2 comes with huggingface_hub, imported only then)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import httpx2

    class GuardedTransport(httpx2.BaseTransport):
        """Passes a request through as is, unless it is made inside one of our calls (see the module doc)."""

        def __init__(self, inner: Any):
            self._inner = inner

        def handle_request(self, request: Any) -> Any:
            guard = _CURRENT.get()
            return self._inner.handle_request(request) if guard is None else guard.send(self._inner, request)

        def close(self) -> None:
            self._inner.close()

    class CappedStream(httpx2.SyncByteStream):
        """An answer's body, checked between chunks (deadline, cancel) and cut at the cap."""

        def __init__(self, stream: Any, guard: _Guard):
            self._stream = stream
            self._guard = guard

        def __iter__(self) -> Iterator[bytes]:
            size = 0
            for chunk in self._stream:
                size += len(chunk)
                self._guard.chunk_arrived(size)
                yield chunk

        def close(self) -> None:
            self._stream.close()

    _CLASSES = _HttpClasses(GuardedTransport, CappedStream)
    return _CLASSES


_INSTALL_LOCK = threading.Lock()
_installed = False


def install_guard() -> None:
    """Make huggingface_hub's shared HTTP client one whose every transport is guarded (once per process).

    huggingface_hub's documented hook is ``set_client_factory``; its default client (event hooks, redirects,
    proxies from the environment) is built as usual and its transports wrapped, so that nothing changes for
    any request made outside our calls. The wrapping uses two attributes of httpx2's Client; if they ever
    move, the route refuses to run rather than run unguarded.
    """
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        from huggingface_hub.utils import set_client_factory
        from huggingface_hub.utils._http import default_client_factory

        guarded = _http_classes().guarded

        def factory() -> Any:
            client = default_client_factory()
            client._transport = guarded(client._transport)
            client._mounts = {pattern: None if transport is None else guarded(transport)
                              for pattern, transport in client._mounts.items()}  # fmt: skip
            return client

        probe = default_client_factory()
        usable = hasattr(probe, "_transport") and hasattr(probe, "_mounts")
        probe.close()
        if not usable:
            raise RuntimeError("huggingface_hub's HTTP client cannot be guarded")
        set_client_factory(factory)
        _installed = True


@contextlib.contextmanager
def guarded(scope: CallScope, route: Route, token: str, max_body_bytes: int) -> Iterator[None]:
    install_guard()
    reset = _CURRENT.set(_Guard(scope, route, token, max_body_bytes))
    try:
        yield
    finally:
        _CURRENT.reset(reset)


# --- one call ------------------------------------------------------------------------------------------------


def image_to_image(scope: CallScope, route: Route, provider: str, token: str, max_body_bytes: int) -> Any:
    """The provider's answer as a PIL image (opened, not yet decoded), or the ProviderError the call ended in."""
    request = scope.request
    width, height = request.output_size
    prompt = prompt_option(request.options)
    try:
        from huggingface_hub import InferenceClient

        # a file named .png: the client labels a data URI by the file's name (raw bytes it would call JPEG),
        # and every provider helper takes a path (hf-inference takes no file object)
        with tempfile.TemporaryDirectory(prefix="hdcore-hf-", ignore_cleanup_errors=True) as folder:
            path = Path(folder) / "input.png"
            path.write_bytes(png_bytes(request.image))
            with guarded(scope, route, token, max_body_bytes):
                client = InferenceClient(provider=provider, token=token,  # type: ignore[arg-type]
                                         timeout=socket_wait(request, NO_DEADLINE_SOCKET_TIMEOUT_S))
                return client.image_to_image(path, prompt=prompt, model=scope.model,
                                             target_size={"width": width, "height": height})  # type: ignore[arg-type]
    except ProviderError:
        raise
    except Exception as error:  # the one place the client's (and httpx2's) exceptions become hdcore's
        raise translated(scope, error) from error


def translated(scope: CallScope, error: BaseException) -> ProviderError:
    import httpx2
    from huggingface_hub import errors as hub_errors

    interruption = scope.interruption()
    if interruption is not None:
        return interruption
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return scope.error(PermanentError, f"{scope.model} {NOT_SERVED} (the Hub knows no such model); {ADVICE}")
    if isinstance(error, hub_errors.OfflineModeIsEnabled):
        return scope.error(PermanentError, "HF_HUB_OFFLINE is set: Hugging Face cannot be reached from this process")
    if isinstance(error, hub_errors.HfHubHTTPError) and getattr(error, "response", None) is not None:
        return _status_error(scope, error.response)
    if isinstance(error, (hub_errors.InferenceTimeoutError, httpx2.TimeoutException, TimeoutError)):
        return scope.timed_out("waiting for Hugging Face")
    if isinstance(error, httpx2.TransportError):
        return scope.error(TransientError, f"connection to Hugging Face failed ({type(error).__name__}: {error})")
    if isinstance(error, StopIteration) or _says_not_supported(error):
        return scope.error(PermanentError, f"{scope.model} {NOT_SERVED}; {ADVICE}")
    if isinstance(error, (KeyError, IndexError, TypeError, ValueError)):  # an answer not of the provider's shape
        return scope.error(BadOutput, f"Hugging Face answered in an unexpected form ({type(error).__name__}: {error})")
    return scope.error(TransientError, f"the Hugging Face call failed ({type(error).__name__}: {error})")


def _status_error(scope: CallScope, response: Any) -> ProviderError:
    try:
        body = response.content[:64 * 1024]
    except Exception:  # a streamed answer the client did not read: its status says enough
        body = b""
    return http_error(scope, response.status_code, response.headers, body)


def _says_not_supported(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, ValueError) and ("is not supported by provider" in text
                                              or "No provider mapping found" in text
                                              or "not supported for task" in text
                                              or "doesn't support task" in text)


def provider_names() -> tuple[str, ...]:
    """The providers huggingface_hub can route image-to-image to (for the setting's check and the docs)."""
    from huggingface_hub.inference._providers import PROVIDERS

    return tuple(sorted(name for name, tasks in PROVIDERS.items() if "image-to-image" in tasks))
