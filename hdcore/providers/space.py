"""The Hugging Face Space tier: the seed's last resort, a Gradio app called through ``gradio_client``.

``HDCORE_SPACE`` names the app: a Space id (the seed's ``akhaliq/Real-ESRGAN``, used when only a Hugging Face
token is set) or a full URL. Each upscale uploads a PNG of the request image and calls
``HDCORE_SPACE_API_NAME`` with it followed by ``HDCORE_SPACE_ARGS`` (the seed Space takes a mode, "base").

How gradio_client 2.7.2 behaves, and what this module does about it:

* ``Client(...)`` talks to the network while it is built (for a Space id: the Hub's space info and runtime,
  and a 2 s polling loop while the Space is building; then the app's ``/config`` and ``/info``). It is built
  on first use inside a tier call, so that time counts against the tier's deadline, and cached; a failed
  build is not cached, and a client whose connection broke is dropped, so a later call builds a new one.
* ``predict()`` has no timeout. ``submit()`` returns a Job; ``Job.result(timeout=...)`` bounds the wait and
  ``Job.cancel()`` tells the app to drop the event (a queued event never runs; a running async handler is
  cancelled). ``cancel(request)``, called from another thread, cancels the job that request started.
* The client sends its token (as ``x-hf-authorization``) to whatever host it is pointed at, and with no token
  it reads one saved on the machine. The configured token therefore goes only to Hugging Face hosts (a Space id,
  ``*.hf.space``); every other call is made with ``token=False``.
* Its own download of output files leaves a directory behind in the system temp folder per file and is not
  size-bounded, so it is off (``download_files=False``): the answer's file is streamed into memory here,
  within the deadline and a size cap. The input PNG lives in a temporary directory removed after the call.
* ``analytics_enabled=False`` does not stop its telemetry thread in 2.7.2 (it is ORed with the environment
  variable), so a subclass turns telemetry off.

The seed Space shrinks inputs to 256 px wide before its 4x pass and always answers at 4x: an answer at least
the requested size with the same shape (within 2%) is resized to the exact size with Lanczos, and a warning
says so; any other size is left for the engine to reject as bad output.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .. import images
from ..attempts import Cost, ProviderOutput
from ..config import Secret, Setting, json_list, text
from ..errors import (
    AuthError,
    BadOutput,
    ConfigError,
    InvalidImage,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    TransientError,
)
from .base import ModelInfo, ProviderInfo, UpscaleRequest
from .hf import TOKEN
from ..text import shortened
from .remote import (
    RemoteProvider,
    fitted,
    innermost,
    os_reason,
    png_bytes,
    read_capped,
    socket_wait,
)

if TYPE_CHECKING:
    from gradio_client import Client
    from gradio_client.client import Job

log = logging.getLogger(__name__)

SCALES = (2, 3, 4)
DEFAULT_SPACE = "akhaliq/Real-ESRGAN"  # the seed's last-resort Space, used when a Hugging Face token is set

SPACE = Setting("HDCORE_SPACE", text, None, "a Space id or URL (see space/README.md to host our own)")
API_NAME = Setting("HDCORE_SPACE_API_NAME", text, "/predict", "the Space's endpoint")
ARGS = Setting("HDCORE_SPACE_ARGS", json_list, ("base",), "the arguments after the image (the seed Space's mode)")

INFO = ProviderInfo(
    id="space",
    label="Hugging Face Space",
    short_label="HF Space",
    requires="HDCORE_SPACE or HUGGINGFACE_TOKEN",
    default_timeout_s=60.0,  # the seed's deadline
    max_concurrency=1,  # a free Space runs one job at a time; more would only queue on its side
    cost_note="free (a public Space; a private or paid one bills its owner)",
    settings=(TOKEN, SPACE, API_NAME, ARGS),
    identity=(TOKEN, SPACE),
)
CHUNK_BYTES = 64 * 1024
BYTES_PER_PIXEL_CAP = 8  # a 16-bit RGBA PNG stored uncompressed; no real answer is larger per pixel
SOCKET_TIMEOUT_S = 30.0  # each read of the output file, when the tier runs without a deadline
HF_HOSTS = ("hf.space", "huggingface.co")  # where the Hugging Face token may be sent
REMOTE_PREFIXES = ("http://", "https://", "data:")


class SpaceProvider(RemoteProvider):
    info = INFO
    late_phrase = "before the Space answered"

    def __init__(self, config):
        super().__init__(config)
        self._client: Client | None = None
        self._client_lock = threading.Lock()  # guards self._client
        self._build_lock = threading.Lock()  # one build at a time; waiters give up at their deadline
        self._jobs_lock = threading.Lock()
        self._jobs: dict[int, Job] = {}  # id(request.cancel_event) -> the job that request submitted

    def __repr__(self) -> str:
        return f"SpaceProvider(source={self.source_label()!r}, configured={self.is_configured()})"

    # --- what this provider offers -------------------------------------------------------------------

    def is_configured(self) -> bool:
        return bool(self.config.get(SPACE)) or bool(self.config.get(TOKEN))

    def source(self) -> str:
        return self.config.get(SPACE) or DEFAULT_SPACE

    def source_label(self) -> str:
        """The source as people see it: a URL without credentials, query or fragment."""
        return _displayed(self.source())

    def models(self) -> Sequence[ModelInfo]:
        return (ModelInfo(self.source_label(), SCALES, "Gradio app, called with gradio_client (free)"),)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return self.source_label()

    # --- one upscale ---------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        request = self._with_deadline(request)
        model = self.source_label()
        with self._translated(request, model):
            client = self._client_for(request, model)
            try:
                answer = self._call(client, request, model)
                data = self._download(client, answer, request, model)
            except BaseException as error:
                if _breaks_client(error) and self._interruption(request, model) is None:
                    self._forget(client)
                raise
        return self._output(data, request, model)

    def cancel(self, request: UpscaleRequest) -> None:
        with self._jobs_lock:
            job = self._jobs.get(id(request.cancel_event))
        if job is not None:
            # Job.cancel() posts to the app (up to httpx's 5 s): the engine, moving on to the next tier, must not wait
            threading.Thread(target=_cancel_quietly, args=(job,), name="hdcore-space-cancel", daemon=True).start()

    def _secret(self) -> Secret | None:
        return self.config.get(TOKEN)

    # --- the client: built lazily, inside the deadline, cached ---------------------------------------

    def _client_for(self, request: UpscaleRequest, model: str) -> Client:
        self._stop_if_due(request, model)
        left = request.time_left()
        if not self._build_lock.acquire(timeout=-1 if left is None else left):
            raise self._timed_out(model, "waiting for another call to connect to the Space")
        try:
            client = self._cached_client()
            if client is None:
                self._stop_if_due(request, model)
                client = self._new_client()
                with self._client_lock:
                    self._client = client
        finally:
            self._build_lock.release()
        self._stop_if_due(request, model)  # connecting may have used up the deadline
        return client

    def _cached_client(self) -> Client | None:
        with self._client_lock:
            return self._client

    def _new_client(self) -> Client:
        source = _checked_source(self.source())
        log.debug("connecting to Space %s", _displayed(source))
        started = time.monotonic()
        client = _quiet_client_class()(
            source,
            token=self._token_for(source),
            verbose=False,
            download_files=False,
            analytics_enabled=False,
        )
        log.debug("connected to Space %s in %.2f s", _displayed(source), time.monotonic() - started)
        return client

    def _token_for(self, source: str) -> str | bool:
        """The configured token for Hugging Face hosts; False elsewhere (False also stops the saved-token lookup)."""
        secret = self.config.get(TOKEN)
        if not secret or not _is_hugging_face(source):
            return False
        return secret.reveal()

    def _forget(self, client: Client) -> None:
        with self._client_lock:
            if self._client is client:
                self._client = None
        with contextlib.suppress(Exception):
            client.close()  # stops its heartbeat thread

    # --- the call: submit, wait within the deadline, cancel when abandoned ---------------------------

    def _call(self, client: Client, request: UpscaleRequest, model: str) -> Any:
        from gradio_client import handle_file

        with tempfile.TemporaryDirectory(prefix="hdcore-space-", ignore_cleanup_errors=True) as folder:
            path = Path(folder) / "input.png"
            path.write_bytes(png_bytes(request.image))
            self._stop_if_due(request, model)
            job = client.submit(handle_file(str(path)), *self.config.get(ARGS), api_name=self.config.get(API_NAME))
            with self._registered(request, job):
                return self._result(job, request)

    @contextlib.contextmanager
    def _registered(self, request: UpscaleRequest, job: Job) -> Iterator[None]:
        key = id(request.cancel_event)
        with self._jobs_lock:
            self._jobs[key] = job
        try:
            if request.cancel_event.is_set():  # cancel() ran before the job was registered
                _cancel_quietly(job)
            yield
        finally:
            with self._jobs_lock:
                self._jobs.pop(key, None)

    def _result(self, job: Job, request: UpscaleRequest) -> Any:
        try:
            return job.result(timeout=request.time_left())
        except TimeoutError:  # concurrent.futures' timeout: the deadline came first; _translated says so
            _cancel_quietly(job)
            raise

    # --- the output file: streamed into memory, within the deadline and a size cap -------------------

    def _download(self, client: Client, answer: Any, request: UpscaleRequest, model: str) -> bytes:
        import httpx

        location = _file_location(answer, client.src_prefixed)
        if location is None:
            raise self._error(BadOutput, f"the Space answered with no image file ({_kind(answer)})", model)
        if location.startswith("data:"):
            return self._inline(location, model)
        limit = self._max_answer_pixels(request) * BYTES_PER_PIXEL_CAP + 1024 * 1024
        same_origin = _origin(location) == _origin(client.src_prefixed)
        # the client's headers carry the token (Hugging Face hosts only): never send them to another origin
        headers = client.headers if same_origin else {}
        cookies = client.cookies if same_origin else {}
        timeout = httpx.Timeout(socket_wait(request, SOCKET_TIMEOUT_S))
        with httpx.stream("GET", location, headers=headers, cookies=cookies, timeout=timeout,
                          follow_redirects=same_origin, verify=client.ssl_verify) as response:
            response.raise_for_status()
            return self._body(response, request, model, limit)

    def _inline(self, data_uri: str, model: str) -> bytes:
        try:
            return images.read_source_bytes(data_uri)
        except InvalidImage as error:
            raise self._error(BadOutput, f"the Space answered with no usable image: {error}", model) from error

    def _body(self, response: Any, request: UpscaleRequest, model: str, limit: int) -> bytes:
        return read_capped(
            response.iter_bytes(CHUNK_BYTES),
            limit,
            lambda: self._error(BadOutput, f"the Space's file is over the {limit:,}-byte limit", model),
            check_before=lambda: self._stop_if_due(request, model),
        )

    # --- the image that came back --------------------------------------------------------------------

    def _max_answer_pixels(self, request: UpscaleRequest) -> int:
        # the seed Space answers 1024 px wide even for a tiny input: the configured output limit is the bound
        wanted = request.output_size
        return max(self.config.max_output_pixels, wanted[0] * wanted[1])

    def _output(self, data: bytes, request: UpscaleRequest, model: str) -> ProviderOutput:
        try:
            color = images.decode_output(data, max_pixels=self._max_answer_pixels(request))
        except InvalidImage as error:
            raise self._error(BadOutput, f"the Space answered with no usable image: {error}", model) from error
        # The seed Space shrinks inputs to 256 px wide before its 4x pass, so it answers 1024 px wide whatever
        # was asked. Like Replicate's fixed-size refiner, a same-shape answer is resized to the exact size, up
        # or down, and the warning says so (an upward resize carries less detail than the request implies).
        color, warnings = fitted(color, request.output_size, "the Space", shortfall=1.0)
        return ProviderOutput(image=color, model=model, cost=Cost(0.0, "estimated"), warnings=warnings)

    # --- turning failures into hdcore's errors -------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, request: UpscaleRequest, model: str) -> Iterator[None]:
        """The one place where gradio_client's, httpx's and the Hub's exceptions become hdcore's errors."""
        try:
            yield
        except (ProviderError, ConfigError):
            raise
        except Exception as error:
            raise self._foreign_error(error, request, model) from error

    def _foreign_error(self, error: Exception, request: UpscaleRequest, model: str) -> ProviderError:
        interruption = self._interruption(request, model)
        if interruption is not None:  # we cancelled the job ourselves: that is the reason, not its fallout
            return interruption
        kind, message, extra = _classify(error)
        if kind is ProviderTimeout:
            return self._timed_out(model, message)
        return self._error(kind, message, model, **extra)


# --- what each failure means ---------------------------------------------------------------------------


def _classify(error: Exception) -> tuple[type[ProviderError], str, dict[str, Any]]:
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
        return TransientError, f"the Space failed: {shortened(str(error.message))}", {}
    if isinstance(error, gradio_errors.ValidationError):
        return PermanentError, f"the Space refused the input: {shortened(str(error))}", {}
    if isinstance(error, (gradio_utils.QueueError, gradio_utils.TooManyRequestsError)):
        return RateLimited, f"the Space is busy: {shortened(str(error))}", {"retry_after": None}
    if isinstance(error, gradio_utils.InvalidAPIEndpointError):
        return PermanentError, "the Space does not offer this endpoint through its API", {}
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return ProviderTimeout, "waiting for the Space", {}
    if isinstance(error, (httpx.TransportError, OSError)):
        return TransientError, f"cannot reach the Space ({_root_cause(error)})", {}
    if isinstance(error, ValueError) and _mentions_missing_endpoint(str(error)):
        return PermanentError, f"the Space has no such endpoint: {shortened(str(error))}", {}
    if isinstance(error, ValueError) and ("Could not find Space" in str(error) or "invalid state" in str(error)):
        return PermanentError, f"the Space is not available: {shortened(str(error))}", {}
    return TransientError, f"the Space call failed ({type(error).__name__}: {shortened(str(error))})", {}


def _classify_status(status: int, error: Exception) -> tuple[type[ProviderError], str, dict[str, Any]]:
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
    return PermanentError, f"the Space refused the request (HTTP {status})", {}


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
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _mentions_missing_endpoint(text: str) -> bool:
    return "Cannot find a function with `api_name`" in text or "Invalid function index" in text


def _breaks_client(error: BaseException) -> bool:
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


# --- sources and tokens --------------------------------------------------------------------------------


def _checked_source(source: str) -> str:
    text = source.strip()
    if text.startswith(("http://", "https://")):
        return text
    owner, slash, name = text.partition("/")
    if slash and owner and name and "/" not in name and " " not in text:
        return text
    raise ConfigError(f"HDCORE_SPACE must be a Space id such as {DEFAULT_SPACE} or an http(s) URL, not {text!r}")


def _is_hugging_face(source: str) -> bool:
    if not source.startswith(("http://", "https://")):
        return True  # a Space id: the client resolves it through the Hub
    host = (urllib.parse.urlsplit(source).hostname or "").lower()
    return any(host == known or host.endswith("." + known) for known in HF_HOSTS)


def _displayed(source: str) -> str:
    if not source.startswith(("http://", "https://")):
        return source
    parts = urllib.parse.urlsplit(source)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


_QUIET_CLIENT: type | None = None


def _quiet_client_class() -> type:
    """gradio_client's Client without its telemetry thread (see the module docstring)."""
    global _QUIET_CLIENT
    if _QUIET_CLIENT is None:
        try:
            from gradio_client import Client
        except ImportError as error:
            raise PermanentError("gradio_client is not installed (pip install gradio_client)",
                                 provider=SpaceProvider.name) from error

        class QuietClient(Client):
            def _telemetry_thread(self) -> None:
                pass

        _QUIET_CLIENT = QuietClient
    return _QUIET_CLIENT


def _cancel_quietly(job: Any) -> None:
    try:
        job.cancel()  # posts /cancel to the app; bounded by httpx's default 5 s timeout
    except Exception:  # cancelling is best effort; the attempt is already lost
        log.debug("cancelling the Space job failed", exc_info=True)


# --- reading the answer --------------------------------------------------------------------------------


def _file_location(answer: Any, root: str) -> str | None:
    """Where the answer's image is: an http(s) URL (or a data URI), or None when the answer holds no file.

    Gradio answers with FileData (a dict with ``path`` and usually ``url``); gradio 3 apps with ``name``;
    some Spaces with a tuple of images (e.g. before/after), whose last one is the result.
    """
    if isinstance(answer, (list, tuple)):
        for item in reversed(answer):
            location = _file_location(item, root)
            if location is not None:
                return location
        return None
    if isinstance(answer, dict):
        url = answer.get("url")
        if isinstance(url, str) and url.startswith(REMOTE_PREFIXES):
            return url
        path = answer.get("path") or answer.get("name")
        return _file_url(path, root) if isinstance(path, str) and path else None
    if isinstance(answer, str) and answer:
        return answer if answer.startswith(REMOTE_PREFIXES) else _file_url(answer, root)
    return None


def _file_url(path: str, root: str) -> str:
    """A file on the app's machine, as the app serves it (what gradio_client itself downloads)."""
    from gradio_client.utils import encode_file_path

    return root + "file=" + encode_file_path(path)


def _kind(answer: Any) -> str:
    return type(answer).__name__ if not isinstance(answer, str) else "text"


# --- messages ------------------------------------------------------------------------------------------


def _root_cause(error: BaseException) -> str:
    """The innermost reason, e.g. "connection refused"."""
    inner = innermost(error, lambda outer: outer.__cause__ or outer.__context__)
    return os_reason(inner) or shortened(str(inner) or str(error)) or type(error).__name__


PROVIDER = SpaceProvider
