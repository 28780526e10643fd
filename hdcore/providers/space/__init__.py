"""The Hugging Face Space tier: the seed's last resort, a Gradio app called through ``gradio_client``.

``HDCORE_SPACE`` names the app: a Space id (the seed's ``akhaliq/Real-ESRGAN``, used when only a Hugging Face
token is set) or a full URL. What the app does is declared (``known.py``): its endpoint and arguments, the
scales it runs at, and the width it really works at, from HDCORE_SPACE_* settings or the table of known Spaces.
A Space whose answer would hold less detail than the input is skipped before anything is sent; one that adds
less than asked runs with a warning the user sees. Each upscale uploads a PNG of the request image and calls
the endpoint with it followed by the declared arguments.

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
  ``*.hf.space``); every other call is made with ``token=False``. Its own requests follow no redirect (httpx's
  default, which it keeps for every call we make).
* Its own download of output files leaves a directory behind in the system temp folder per file, follows
  redirects with the token and fetches any URL the answer names, so it is off (``download_files=False``): the
  answer's file is fetched here (``answer.py``), only from the Space and Hugging Face's file hosts, within the
  deadline and a cap derived from the size the Space should answer at. The input PNG lives in a temporary
  directory removed after the call.
* ``analytics_enabled=False`` does not stop its telemetry thread in 2.7.2 (it is ORed with the environment
  variable), so a subclass turns telemetry off.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ... import images
from ...attempts import Cost, ProviderOutput
from ...config import Secret, Setting, json_list, text
from ...errors import (
    BadOutput,
    ConfigError,
    ImageTooLarge,
    InvalidImage,
    PermanentError,
    ProviderError,
    ProviderTimeout,
)
from ..base import ModelInfo, ProviderInfo, UpscaleRequest
from ..hf import TOKEN
from ..remote import RemoteProvider, displayed_url, fitted, on_hosts, png_bytes
from . import answer as answers
from .failures import breaks_client, classify
from .known import KNOWN_SPACES, SpaceDeclaration, scale_list, width_or_none

if TYPE_CHECKING:
    from gradio_client import Client
    from gradio_client.client import Job

log = logging.getLogger(__name__)

SCALES = (2, 3, 4)  # what the tier delivers: the app's answer is fitted to the exact size
DEFAULT_SPACE = "akhaliq/Real-ESRGAN"  # the seed's last-resort Space, used when a Hugging Face token is set
# An answer is at most twice the pixels the declaration says (rounding, a Space a little off its word), at 8
# bytes a pixel (16-bit RGBA, uncompressed), plus room for a PNG's own chunks: a 24x16 input at 4x may take
# 1.2 MB, not the 537 MB that the configured output limit alone allowed.
ANSWER_SLACK = 2
BYTES_PER_PIXEL_CAP = 8
ANSWER_MARGIN_BYTES = 1024 * 1024

SPACE = Setting("HDCORE_SPACE", text, None, "a Space id or URL (see space/README.md to host our own)")
API_NAME = Setting("HDCORE_SPACE_API_NAME", text, None,
                   "the Space's endpoint (default: the known Space's, or /predict)")
ARGS = Setting("HDCORE_SPACE_ARGS", json_list, None,
               'the arguments after the image; "{scale}" becomes the scale used (default: the known Space\'s)')
NATIVE_SCALES = Setting("HDCORE_SPACE_SCALES", scale_list, None, "the scales the Space's app runs at, e.g. 2,4,8")
INPUT_WIDTH = Setting("HDCORE_SPACE_INPUT_WIDTH", width_or_none, None,
                      "the width the Space resizes every input to before its model runs (none: as it is)")

INFO = ProviderInfo(
    id="space",
    label="Hugging Face Space",
    short_label="HF Space",
    requires="HDCORE_SPACE or HUGGINGFACE_TOKEN",
    default_timeout_s=60.0,  # the seed's deadline
    max_concurrency=1,  # a free Space runs one job at a time; more would only queue on its side
    cost_note="free (a public Space; a private or paid one bills its owner)",
    settings=(TOKEN, SPACE, API_NAME, ARGS, NATIVE_SCALES, INPUT_WIDTH),
    identity=(TOKEN, SPACE),
)


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
        source = self.source()
        return displayed_url(source) if source.startswith(("http://", "https://")) else source

    def declaration(self) -> SpaceDeclaration:
        """What the Space does: the settings where given, else the known Space's entry, else our own app's."""
        known = KNOWN_SPACES.get(self.source().strip(), SpaceDeclaration())
        width = self.config.get(INPUT_WIDTH)
        return SpaceDeclaration(
            api_name=self.config.get(API_NAME) or known.api_name,
            args=self.config.get(ARGS) if self.config.get(ARGS) is not None else known.args,
            native_scales=self.config.get(NATIVE_SCALES) or known.native_scales,
            works_at_width=known.works_at_width if width is None else (width or None),
            note=known.note,
        )

    def models(self) -> Sequence[ModelInfo]:
        declared = self.declaration()
        natives = "/".join(f"{scale}x" for scale in declared.native_scales)
        works = f", works at {declared.works_at_width} px wide" if declared.works_at_width else ""
        note = f"; {declared.note}" if declared.note else ""
        description = f"Gradio app, called with gradio_client (free): runs at {natives}{works}{note}"
        return (ModelInfo(self.source_label(), SCALES, description),)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return self.source_label()

    def preflight(self, model: str, request_size: tuple[int, int], scale: int) -> str:
        """Not sent when the Space's effective input limit would make its answer worse than Lanczos."""
        reason, _ = self.declaration().verdict(request_size, scale)
        return reason or super().preflight(model, request_size, scale)

    def price_rows(self) -> list[dict[str, Any]]:
        return [{"Item": self.source_label(), "Unit": "per run", "USD": 0.0,
                 "Note": "free for a public Space; a Space on paid hardware bills its owner per hour, not the caller"}]

    # --- one upscale ---------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        request = self._with_deadline(request)
        model = self.source_label()
        scope = self.scope(request, model)
        declared = self.declaration()
        reason, warning = declared.verdict(request.size, request.scale)
        if reason:  # a direct caller: the engine's preflight would have skipped it
            raise scope.error(PermanentError, reason)
        with self._translated(request, model):
            client = self._client_for(request, model)
            try:
                result = self._call(client, request, model, declared)
                data = self._download(client, result, request, model, declared)
            except BaseException as error:
                if breaks_client(error) and self._interruption(request, model) is None:
                    self._forget(client)
                raise
        return self._output(data, request, model, declared, warning)

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
        log.debug("connecting to Space %s", self.source_label())
        started = time.monotonic()
        client = _quiet_client_class()(
            source,
            token=self._token_for(source),
            verbose=False,
            download_files=False,
            analytics_enabled=False,
        )
        log.debug("connected to Space %s in %.2f s", self.source_label(), time.monotonic() - started)
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

    def _call(self, client: Client, request: UpscaleRequest, model: str, declared: SpaceDeclaration) -> Any:
        from gradio_client import handle_file

        with tempfile.TemporaryDirectory(prefix="hdcore-space-", ignore_cleanup_errors=True) as folder:
            path = Path(folder) / "input.png"
            path.write_bytes(png_bytes(request.image))
            self._stop_if_due(request, model)
            job = client.submit(handle_file(str(path)), *declared.arguments(request.scale),
                                api_name=declared.api_name)
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

    # --- the answer: fetched from where it may be, within a cap from the size it should have ------------

    def _download(self, client: Client, result: Any, request: UpscaleRequest, model: str,
                  declared: SpaceDeclaration) -> bytes:  # fmt: skip
        location = answers.file_location(result, client.src_prefixed)
        if location is None:
            raise self._error(BadOutput, f"the Space answered with no image file ({answers.kind_of(result)})", model)
        limit = self._max_answer_pixels(request, declared) * BYTES_PER_PIXEL_CAP + ANSWER_MARGIN_BYTES
        return answers.fetch(self.scope(request, model), client, location, limit)

    def _max_answer_pixels(self, request: UpscaleRequest, declared: SpaceDeclaration) -> int:
        width, height = declared.answer_size(request.size, request.scale)
        wanted = request.output_size
        return min(self.config.max_output_pixels, max(width * height, wanted[0] * wanted[1]) * ANSWER_SLACK)

    def _output(self, data: bytes, request: UpscaleRequest, model: str, declared: SpaceDeclaration,
                warning: str) -> ProviderOutput:  # fmt: skip
        try:
            color = images.decode_output(data, max_pixels=self._max_answer_pixels(request, declared))
        except InvalidImage as error:
            hint = ("; declare what the Space does (HDCORE_SPACE_SCALES, HDCORE_SPACE_INPUT_WIDTH)"
                    if isinstance(error.__cause__, ImageTooLarge) else "")
            raise self._error(BadOutput, f"the Space answered with no usable image: {error}{hint}", model) from error
        # A Space answers at its own scale (the seed's at 1024 px wide whatever was asked): a same-shape answer is
        # resized to the exact size, up or down, and the warning says so.
        color, warnings = fitted(color, request.output_size, "the Space", shortfall=1.0)
        warnings = (warning, *warnings) if warning else warnings
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
        kind, message, extra = classify(error)
        if kind is ProviderTimeout:
            return self._timed_out(model, message)
        return self._error(kind, message, model, **extra)


# --- sources and tokens --------------------------------------------------------------------------------


def _checked_source(source: str) -> str:
    text_value = source.strip()
    if text_value.startswith(("http://", "https://")):
        return text_value
    owner, slash, name = text_value.partition("/")
    if slash and owner and name and "/" not in name and " " not in text_value:
        return text_value
    raise ConfigError(f"HDCORE_SPACE must be a Space id such as {DEFAULT_SPACE} or an http(s) URL, not {text_value!r}")


def _is_hugging_face(source: str) -> bool:
    if not source.startswith(("http://", "https://")):
        return True  # a Space id: the client resolves it through the Hub
    return on_hosts(source, answers.HF_FILE_HOSTS)


_QUIET_CLIENT: type | None = None


def _quiet_client_class() -> type:
    """gradio_client's Client without its telemetry thread (see the module docstring)."""
    global _QUIET_CLIENT
    if _QUIET_CLIENT is None:
        try:
            from gradio_client import Client
        except ImportError as error:
            raise PermanentError("gradio_client is not installed (pip install gradio_client)",
                                 provider=SpaceProvider.info.id) from error

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


PROVIDER = SpaceProvider
