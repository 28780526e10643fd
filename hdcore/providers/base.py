"""The one small interface every upscaling provider implements."""

from __future__ import annotations

import abc
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..attempts import ProviderOutput
from ..config import Config
from ..errors import Cancelled, ProviderTimeout

# progress(done, total): a provider calls it as its work advances (tiles for the local tier).
ProgressFn = Callable[[int, int], None]
# waiting(place): the job waits for a free slot; place 1 runs next.
WaitingFn = Callable[[int], None]


@dataclass(frozen=True)
class ModelInfo:
    """A model a provider serves, and the scales it can deliver (natively or by a final exact resize)."""

    name: str
    scales: tuple[int, ...]
    description: str = ""


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
            raise ProviderTimeout("deadline passed", provider=provider, model=self.model)

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def report_waiting(self, place: int) -> None:
        if self.waiting is not None:
            self.waiting(place)


class Provider(abc.ABC):
    """An upscaling service. Constructors do no I/O; clients and models are made on first use."""

    name: str = ""  # registry id, e.g. "local"
    label: str = ""  # shown to people, e.g. "Local (ncnn)"
    requires: str = ""  # what configures it, e.g. "HUGGINGFACE_TOKEN"; "" when nothing is needed
    # May the engine call upscale again after a TransientError? False where a call may have started paid
    # work that a repeat would pay for twice (a Replicate prediction, a Space job).
    retry_safe: bool = False

    def __init__(self, config: Config):
        self.config = config

    @abc.abstractmethod
    def models(self) -> Sequence[ModelInfo]:
        """Every model this provider can run."""

    @abc.abstractmethod
    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        """The model used when the caller names none."""

    @abc.abstractmethod
    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        """Return the colour image at ``request.output_size`` (or a size the engine will reject)."""

    def is_configured(self) -> bool:
        return True

    def skip_reason(self, request_size: tuple[int, int], scale: int) -> str:
        """Why a request of this (width, height) is not sent at all, or "" when it is (e.g. an input size limit)."""
        return ""

    def config_fingerprint(self) -> str:
        """A short hash of what configures the tier (tokens, endpoints), never the values themselves.

        A breaker disabled by a rejected token (401 / 403) comes back when this changes.
        """
        config = self.config
        parts = [
            secret.reveal() if secret else ""
            for secret in (config.huggingface_token, config.replicate_api_token)
        ]
        parts += [config.hf_base_url, config.replicate_base_url, config.space or ""]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    def cancel(self, request: UpscaleRequest) -> None:
        """Stop paid or long work for ``request`` (its cancel_event is already set). Default: nothing to stop."""

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        infos = self.models()
        if model is not None:
            infos = [info for info in infos if info.name == model]
        return tuple(sorted({scale for info in infos for scale in info.scales}))

    def serves(self, model: str) -> bool:
        return any(info.name == model for info in self.models())

    def timeout(self) -> float | None:
        return self.config.timeout_for(self.name)
