"""What every upscaling provider is: capabilities declared as data, and one small interface.

A provider module declares a ``ProviderInfo`` (labels, timeout, concurrency, retry safety, cost note, the
settings it reads and which of them identify it, the options its models read) and a ``Provider`` subclass whose
``upscale`` does the work. Callers (the engine, the CLI, the app, batch limits) read those fields; none of them
asks which provider it is.
"""

from __future__ import annotations

import abc
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping, Sequence

import numpy as np

from ..attempts import Cost, ProviderOutput
from ..config import Config, Secret, Setting
from ..errors import Cancelled, InvalidInput, ProviderTimeout

# progress(done, total): a provider calls it as its work advances (tiles for the local tier).
ProgressFn = Callable[[int, int], None]
# waiting(place): the job waits for a free slot; place 1 runs next.
WaitingFn = Callable[[int], None]

OptionKind = Literal["toggle", "text", "choice"]

# A model a provider may serve besides its listed ones: "pick the model for this image" (the local tier does).
AUTO_MODEL = "auto"
# How a tier's note on a model it picked per image begins ("auto model: waifu2x-photo (photo: ...)"); the app
# shows such a note as the model choice, apart from the other notes.
MODEL_CHOICE_NOTES = (f"{AUTO_MODEL} model: ", "budget model: ")


@dataclass(frozen=True)
class OptionInfo:
    """A request option a model reads (``enhance(..., face_enhance=True)``), described for the app's widget."""

    name: str
    label: str
    kind: OptionKind
    help: str = ""
    choices: tuple[str, ...] = ()  # for "choice"
    choice_labels: Mapping[str, str] = field(default_factory=dict)
    default: Any = None
    shown: bool = True  # False: read from the library and the CLI (``--tile``), not offered by the app


@dataclass(frozen=True)
class ModelInfo:
    """A model a provider serves, the scales it can deliver (natively or by a final exact resize), and the
    options it reads."""

    name: str
    scales: tuple[int, ...]
    description: str = ""
    options: tuple[str, ...] = ()
    # What the model takes, checked before anything is sent (a paid call that must fail is never made):
    max_input_pixels: int | None = None  # width x height of the input
    max_input_side: int | None = None  # the longer side of the input
    max_output_pixels: int | None = None  # width x height of what it would answer at the requested scale


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider is, as data. ``id`` is the registry id users type (and its module's name)."""

    id: str
    label: str  # e.g. "Hugging Face Inference"
    short_label: str  # e.g. "Hugging Face"
    requires: str = ""  # what configures it, for people (e.g. "HUGGINGFACE_TOKEN"); "" when nothing is needed
    default_timeout_s: float | None = None  # None: no deadline (the tier always finishes, only slower)
    # Calls at once per engine (a batch, the app's sessions); None for a tier that works in this process and
    # queues its own jobs (the local tier's gate) or needs no limit (the Lanczos baseline).
    max_concurrency: int | None = None
    # May the engine call upscale again after a TransientError? False where a call may have started paid work
    # that a repeat would pay for twice (a Replicate prediction, a Space job).
    retry_safe: bool = False
    # May a failed or abandoned call still have been billed? The budget then keeps its estimate as spent.
    bills_failed_calls: bool = False
    in_auto_chain: bool = True  # False: only run when named (e.g. the Lanczos baseline)
    cost_note: str = ""  # how it is billed, for people
    settings: tuple[Setting, ...] = ()  # what it reads from the configuration
    identity: tuple[Setting, ...] = ()  # the settings whose change makes it a new tier (a new token, endpoint)
    options: tuple[OptionInfo, ...] = ()  # every option any of its models reads

    @property
    def timeout_variable(self) -> str:
        return f"HDCORE_{self.id.upper()}_TIMEOUT"

    @property
    def concurrency_variable(self) -> str:
        return f"HDCORE_{self.id.upper()}_CONCURRENCY"

    def option(self, name: str) -> OptionInfo | None:
        return next((option for option in self.options if option.name == name), None)


@dataclass(frozen=True)
class UpscaleRequest:
    """One upscale call: the colour image as float32 RGB HxWx3 in [0, 1], and how to run it."""

    image: np.ndarray
    scale: int
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None  # time.monotonic() value; None: no deadline
    progress: ProgressFn | None = None
    waiting: WaitingFn | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    @property
    def output_size(self) -> tuple[int, int]:
        width, height = self.size
        return round(width * self.scale), round(height * self.scale)

    def time_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def check(self, provider: str = "") -> None:
        """Raise if the caller gave up or the deadline passed; long-running providers call it between steps."""
        if self.cancel_event.is_set():
            raise Cancelled("cancelled", provider=provider, model=self.model)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise ProviderTimeout("deadline passed", provider=provider, model=self.model, at_deadline=True)

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def report_waiting(self, place: int) -> None:
        if self.waiting is not None:
            self.waiting(place)


class Provider(abc.ABC):
    """An upscaling service. Constructors do no I/O; clients and models are made on first use."""

    info: ClassVar[ProviderInfo]

    def __init__(self, config: Config):
        self.config = config

    @property
    def name(self) -> str:
        return self.info.id

    @property
    def label(self) -> str:
        return self.info.label

    # --- what it serves ------------------------------------------------------------------------------

    @abc.abstractmethod
    def models(self) -> Sequence[ModelInfo]:
        """Every model this provider can run."""

    @abc.abstractmethod
    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        """The model used when the caller names none."""

    def model_for(self, model: str | None, scale: int, options: Mapping[str, Any]) -> str:
        """The model this tier runs for a request: the caller's when this tier serves it, else its default.

        The one answer to "which model would this tier run" (the breaker key, the latency window, the price
        estimate, the attempt record and the app's option widgets all use it).
        """
        return model if model is not None and self.serves(model) else self.default_model(scale, options)

    def is_configured(self) -> bool:
        return True

    def not_configured_reason(self) -> str:
        return f"not configured (set {self.info.requires})" if self.info.requires else "not configured"

    def skip_reason(self, request_size: tuple[int, int], scale: int) -> str:
        """Why a request of this (width, height) is not sent at all, or "" when it is (e.g. an input size limit)."""
        return ""

    def model_info(self, model: str) -> ModelInfo | None:
        return next((info for info in self.models() if info.name == model), None)

    def preflight(self, model: str, request_size: tuple[int, int], scale: int) -> str:
        """Why ``model`` cannot take this request, from what it declares (input pixels and side, output
        pixels), or "" when it can."""
        info = self.model_info(model)
        if info is None:
            return ""
        width, height = request_size
        if info.max_input_pixels is not None and width * height > info.max_input_pixels:
            return f"input {width}x{height} is over {model}'s limit of {info.max_input_pixels:,} px; not sent"
        if info.max_input_side is not None and max(width, height) > info.max_input_side:
            return f"input {width}x{height} is over {model}'s limit of {info.max_input_side} px a side; not sent"
        output = round(width * scale) * round(height * scale)
        if info.max_output_pixels is not None and output > info.max_output_pixels:
            return f"{scale}x would make {output:,} px, over {model}'s output limit of {info.max_output_pixels:,}"
        return ""

    def options_for(self, model: str | None) -> tuple[OptionInfo, ...]:
        """The options a request to ``model`` reads (None: the options that choose the default model)."""
        if model is None:
            return ()
        names = next((info.options for info in self.models() if info.name == model), ())
        return tuple(option for option in self.info.options if option.name in names)

    def option_default(self, name: str) -> Any:
        """The value an option takes when the request does not give it."""
        option = self.info.option(name)
        return None if option is None else option.default

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        """What one call would cost, before it is made (the budget guard asks). Default: free."""
        return Cost(0.0, "estimated")

    def price_rows(self) -> list[dict[str, Any]]:
        """The prices in force, for people: Item, Unit, USD, Note. Default: free, with the cost note."""
        return [{"Item": "every run", "Unit": "per run", "USD": 0.0, "Note": self.info.cost_note}]

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        infos = self.models()
        if model is not None:
            infos = [info for info in infos if info.name == model]
        return tuple(sorted({scale for info in infos for scale in info.scales}))

    def serves(self, model: str) -> bool:
        return any(info.name == model for info in self.models())

    def timeout(self) -> float | None:
        return self.config.timeout_for(self.name, self.info.default_timeout_s)

    def max_concurrency(self) -> int | None:
        return self.config.concurrency_for(self.name, self.info.max_concurrency)

    def parallel_jobs(self) -> int:
        """Images worth having in flight at once for this tier (a batch's pool size): its concurrency limit, or
        every core for a tier that works in this process."""
        return self.max_concurrency() or os.cpu_count() or 1

    def config_fingerprint(self) -> str:
        """A short hash of what configures the tier (its identity settings), never the values themselves.

        A breaker disabled by a rejected token (401 / 403) comes back when this changes.
        """
        parts = []
        for setting in self.info.identity:
            value = self.config.get(setting)
            parts.append(value.reveal() if isinstance(value, Secret) else "" if value is None else str(value))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    # --- the work ------------------------------------------------------------------------------------

    @abc.abstractmethod
    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        """Return the colour image at ``request.output_size`` (or a size the engine will reject)."""

    def cancel(self, request: UpscaleRequest) -> None:
        """Stop paid or long work for ``request`` (its cancel_event is already set). Default: nothing to stop."""


def option_value(options: Mapping[str, Any], name: str, kind: type, provider: str) -> Any:
    """A request option of the expected type, or None when it is not given; else a one-line InvalidInput."""
    value = options.get(name)
    if value is None or value == "":
        return None
    if kind is bool and not isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidInput(f"{provider}: option {name} must be {kind.__name__}, not {type(value).__name__}")
    return value
