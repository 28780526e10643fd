"""A hedged race ("The Tail at Scale", Dean & Barroso): run a tier; once it outlasts its hedge delay, start the
next tier beside it (budget allowing); the first valid image wins and the other is cancelled."""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from typing import Callable

import numpy as np

from ..attempts import Attempt
from .attempt import Admission, Attempter
from .deadline import POLL_S
from .hedging import HedgeBudget
from .result import ProgressEvent
from .run import Run


class _Runner:
    """One tier's attempt on a thread of its own, so the caller can watch it and hedge beside it."""

    def __init__(self, attempter: Attempter, admission: Admission, changed: threading.Event):
        self.admission = admission
        self.started = time.monotonic()
        self.attempt: Attempt | None = None
        self.color: np.ndarray | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        threading.Thread(target=self._work, args=(attempter, changed), name=f"hdcore-race-{admission.name}",
                         daemon=True).start()  # fmt: skip

    @property
    def stop(self) -> threading.Event:
        return self.admission.run.cancel  # set when the caller gives up or this runner lost

    @property
    def won(self) -> bool:
        return self.finished.is_set() and self.color is not None

    def _work(self, attempter: Attempter, changed: threading.Event) -> None:
        try:
            self.attempt, self.color = attempter.attempt(self.admission)
        except BaseException as error:  # handed to the caller's thread, unless the runner was stopped
            self.error = error if not self.stop.is_set() else None
        finally:
            self.finished.set()
            changed.set()


def race(
    attempter: Attempter,
    first: Admission,
    hedge_at: float,
    budget: HedgeBudget,
    admit_next: Callable[[Run], Admission | None],
) -> tuple[list[Attempt], np.ndarray | None]:
    """Run ``first``; at ``hedge_at`` (monotonic time) admit the next tier with ``admit_next`` and race them.

    Returns the attempts (one tier's, or both in tier order) and the winner's colour. Progress still reaches the
    caller on the caller's thread; the caller's cancel stops both.
    """
    caller = first.run
    events: queue.SimpleQueue[ProgressEvent] = queue.SimpleQueue()
    forward = None if caller.progress is None else events.put
    changed = threading.Event()

    def start(admission: Admission) -> _Runner:
        runner_run = caller.for_runner(threading.Event(), forward)
        return _Runner(attempter, dataclasses.replace(admission, run=runner_run), changed)

    runners = [start(first)]
    try:
        while True:
            changed.clear()
            _deliver(events, caller)
            broken = next((r for r in runners if r.finished.is_set() and r.error is not None), None)
            if broken is not None:
                raise broken.error
            if any(r.won for r in runners) or all(r.finished.is_set() for r in runners):
                break
            caller.stop_if_cancelled()
            now = time.monotonic()
            if len(runners) == 1 and now >= hedge_at and budget.spend():
                hedge = admit_next(caller)
                if hedge is None:
                    budget.refund()
                    hedge_at = float("inf")  # the next tier cannot run now: no hedge in this race
                else:
                    runners.append(start(hedge))
            changed.wait(POLL_S if len(runners) > 1 or now >= hedge_at else min(POLL_S, hedge_at - now))
    except BaseException:
        for runner in runners:
            runner.stop.set()
        for runner in runners:  # let them tell their providers to cancel before the caller hears of it
            runner.finished.wait(1.0)
        raise
    _deliver(events, caller)
    return _record(attempter, runners), next((r.color for r in runners if r.won), None)


def _record(attempter: Attempter, runners: list[_Runner]) -> list[Attempt]:
    """The attempts of a race in tier order, the winner and the loser marked; the loser is cancelled."""
    if len(runners) == 1:
        return [runners[0].attempt]
    winner = next((r for r in runners if r.won), None)
    records = []
    for runner in runners:
        if runner is not winner and runner.won:  # finished too, just after the winner: its cost is real
            reason = f"hedged: lost the race to {winner.admission.name}; finished second"
            records.append(dataclasses.replace(runner.attempt, outcome="error", reason=reason))
        elif winner is None or (runner.finished.is_set() and runner is not winner):
            records.append(runner.attempt)  # both failed, or this one failed before the other won
        elif runner is winner:
            other = next(r.admission.name for r in runners if r is not winner)
            note = f"hedged: won the race against {other}"
            records.append(dataclasses.replace(runner.attempt, warnings=runner.attempt.warnings + (note,)))
        else:
            runner.stop.set()  # its provider is told to cancel (Replicate prediction, Gradio job)
            records.append(attempter.lost(runner.admission, winner.admission.name, time.monotonic() - runner.started))
    return sorted(records, key=lambda attempt: attempt.tier)


def _deliver(events: queue.SimpleQueue, run: Run) -> None:
    while run.progress is not None and not events.empty():
        run.progress(events.get())

