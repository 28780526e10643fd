"""One run's facts, carried as one frozen object through the walk, every attempt and every race."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .. import images
from ..errors import Cancelled
from .result import ProgressCallback, ProgressEvent, Stage


class RunSpend:
    """What this run's attempts cost (or may have cost): the per-image budget counts it. Shared by a race's
    runners, hence the lock."""

    def __init__(self) -> None:
        self._usd = 0.0
        self._lock = threading.Lock()

    @property
    def usd(self) -> float:
        with self._lock:
            return self._usd

    def add(self, usd: float) -> None:
        with self._lock:
            self._usd += max(0.0, usd)


@dataclass(frozen=True)
class Run:
    """The image, what the caller asked for, and how to reach the caller (progress, cancel).

    ``hedging``: an Auto run may start the next tier beside a slow one. A race's runners each get a copy with
    their own ``cancel`` (set when the caller gives up or the runner lost) and a ``progress`` that queues
    events for the caller's thread.
    """

    source: images.SourceImage
    scale: int
    model: str | None
    options: Mapping[str, Any]
    progress: ProgressCallback | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    hedging: bool = False
    spend: RunSpend = field(default_factory=RunSpend)
    bypass_breakers: bool = False  # every tier was open: this walk tries them anyway

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def stop_if_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled by the caller")

    def notify(self, tier: int, provider: str, model: str | None, stage: Stage, done: int = 0, total: int = 0,
               message: str = "") -> None:  # fmt: skip  # the fields of one ProgressEvent, not a long list
        if self.progress is not None:
            self.progress(ProgressEvent(tier, provider, model, stage, done, total, message))

    def for_runner(self, cancel: threading.Event, progress: ProgressCallback | None) -> "Run":
        return replace(self, cancel=cancel, progress=progress)

    def bypassing_breakers(self) -> "Run":
        return replace(self, bypass_breakers=True, hedging=False)
