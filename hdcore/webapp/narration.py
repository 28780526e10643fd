"""A run told as it happens: the narration lines and labels of the status box, from the engine's progress
events, and the relay that carries them onto Streamlit's thread and turns a page interruption into a cancel."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


from ..engine import EnhanceResult, ProgressEvent
from .common import (
    md_escape, short_label,
)
from ..text import usd



@dataclass(frozen=True)
class Narration:
    """What one progress event changes on the page."""

    label: str  # the st.status label
    line: str | None = None  # a line to add under the status, if any
    progress: tuple[float, str] | None = None  # (fraction, text) for the progress bar, if any
    clear_progress: bool = False


class Narrator:
    """Turns the engine's ProgressEvents into the words the page shows while a run goes on.

    "Hugging Face: timed out after 10.0 s → Replicate…" as the label; one line per tier tried; the local tier's
    tiles as a progress bar; "Waiting for a free slot: place N" while the local tier queues behind other jobs.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.label = "Starting…"
        self._last_failure: str | None = None

    def feed(self, event: ProgressEvent) -> Narration:
        name = short_label(event.provider)
        if event.stage == "start":
            model = f" ({event.model})" if event.model else ""
            line = f"{name}{model}: trying…"
            self.label = (f"{self._last_failure} → " if self._last_failure else "") + f"{name}…"
            return self._say(line, clear_progress=True)
        if event.stage == "waiting":
            self.label = f"{name}: waiting for a free slot: place {event.done}"
            return self._say(f"Waiting for a free slot: place {event.done}")
        if event.stage == "progress":
            total = max(event.total, 1)
            text = f"{name}: tile {min(event.done, total)} of {total}"
            return Narration(self.label, progress=(min(1.0, event.done / total), text))
        if event.stage == "ok":
            self.label = f"{name}: done in {event.message}" if event.message else f"{name}: done"
            return self._say(self.label, clear_progress=True)
        if event.stage == "failed":
            self._last_failure = f"{name}: {event.message or 'failed'}"
            self.label = self._last_failure
            return self._say(self._last_failure, clear_progress=True)
        if event.stage == "skipped":
            return self._say(f"{name}: skipped, {event.message}" if event.message else f"{name}: skipped")
        return Narration(self.label)

    @staticmethod
    def markdown(line: str) -> str:
        """A narration line as markdown that shows exactly its text."""
        return md_escape(line)

    def _say(self, line: str, clear_progress: bool = False) -> Narration:
        self.lines.append(line)
        return Narration(self.label, line=line, clear_progress=clear_progress)


class ProgressRelay:
    """Hands each ProgressEvent to ``render`` (the page); when ``render`` raises, the run is cancelled.

    The engine calls back on the caller's thread, where Streamlit raises its stop/rerun request (the user changed
    something, or pressed Stop) from the next element call. The relay keeps that exception, sets ``cancel`` so
    the engine abandons the tier at its next poll (Replicate predictions and Space jobs are cancelled, a queued
    local job leaves the line), and ``reraise`` hands it back once the engine has returned.
    """

    def __init__(self, render: Callable[[ProgressEvent], None]):
        self.render = render
        self.cancel = threading.Event()
        self.interrupted: BaseException | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.interrupted is not None:
            return
        try:
            self.render(event)
        except BaseException as error:  # noqa: BLE001 - every kind, Streamlit's control flow included
            self.interrupted = error
            self.cancel.set()

    def reraise(self) -> None:
        if self.interrupted is not None:
            raise self.interrupted


def done_label(result: EnhanceResult) -> str:
    return (
        f"Done by {short_label(result.provider)} ({result.model}) in {result.latency_s:.2f} s"
        + (f" · {usd(result.cost_usd)}" if result.cost_usd else "")
    )


