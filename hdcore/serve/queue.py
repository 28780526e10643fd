"""Admission to the engine: a bounded number of requests in flight, and a bounded line in front of the tiers
that work in this process.

The local tier runs ``HDCORE_LOCAL_JOBS`` jobs at once behind its process-wide job gate; every other job of
its waits in that gate's line and reports its place (the engine's "waiting" progress events). Without a
bound, a burst would pile up there, each job holding its decoded image while its caller waits for minutes of
CPU time. (A cloud tier's line, in front of its concurrency limit, moves at the service's pace and is bounded
by ``max_active`` alone.) So:

    admit     a request is let in while fewer than ``max_active`` are in flight and fewer than ``max_waiting``
              wait in such a line; else 429 at once, before its body is read
    observe   a job whose place in that line is beyond ``max_waiting`` leaves it (cancelled, 429): requests
              admitted at the same moment cannot all take the last place
    close     its time is remembered, and Retry-After is the time the line ahead needs at that pace
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from ..engine import ProgressEvent
from .answers import send_error
from .limits import Refused

DEFAULT_JOB_S = 5.0  # the pace assumed before any job has finished (a local 4x of ~1 MP on 2 cores: ~10 s)
SMOOTHING = 0.2  # weight of the latest job in the moving average of job times
MAX_RETRY_AFTER_S = 600


class WorkQueue:
    """Counts the requests in flight and those waiting in an in-process tier's line. Thread-safe: tickets are
    observed from the engine's worker threads, admitted and closed on the event loop."""

    def __init__(self, max_active: int, max_waiting: int, clock: Callable[[], float] = time.monotonic):
        self.max_active = max_active
        self.max_waiting = max_waiting
        self.clock = clock
        self._active = 0
        self._waiting = 0
        self._job_s: float | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return self._waiting

    def admit(self) -> "Ticket | None":
        """A ticket for one request, or None when the server is full."""
        with self._lock:
            if self._active >= self.max_active or self._waiting >= max(1, self.max_waiting):
                return None
            self._active += 1
        return Ticket(self)

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the jobs ahead at the recent pace, shared by those running."""
        with self._lock:
            pace = self._job_s if self._job_s is not None else DEFAULT_JOB_S
            running = max(1, self._active - self._waiting)
            ahead = self._waiting + 1
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(pace * ahead / running)))

    def full_reason(self) -> str:
        return (f"the server is full: {self._active} requests in progress, {self._waiting} of them waiting "
                f"(limits {self.max_active} in progress, {self.max_waiting} waiting)")  # fmt: skip

    def _set_waiting(self, change: int) -> None:
        with self._lock:
            self._waiting += change

    def _closed(self, seconds: float | None, waiting: bool) -> None:
        with self._lock:
            self._active -= 1
            self._waiting -= 1 if waiting else 0
            if seconds is not None:
                self._job_s = seconds if self._job_s is None else (1 - SMOOTHING) * self._job_s + SMOOTHING * seconds


class Ticket:
    """One admitted request: follows its job's progress events, and says when the job must leave a line."""

    def __init__(self, queue: WorkQueue):
        self.queue = queue
        self.started = queue.clock()
        self.waiting = False
        self.closed = False
        self._lock = threading.Lock()

    def observe(self, event: ProgressEvent, bounded: bool = True) -> bool:
        """Follow one event; False when the job waits beyond the line's bound and must leave it. ``bounded``:
        the event's tier works in this process, so its line counts (any other event ends a wait)."""
        with self._lock:
            waiting = event.stage == "waiting" and bounded
            if waiting != self.waiting and not self.closed:
                self.waiting = waiting
                self.queue._set_waiting(1 if waiting else -1)
        return not waiting or event.done <= self.queue.max_waiting

    def close(self, finished: bool = False) -> None:
        """The request is over; ``finished``: its job ran to an image, so its time sets the pace."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            seconds = self.queue.clock() - self.started if finished else None
            self.queue._closed(seconds, self.waiting)


TICKET = "hdcore.ticket"  # where the admitted request's ticket is kept in the ASGI scope


class Admit:
    """An ASGI layer: requests under ``paths`` get a ticket (in ``scope[TICKET]``) or a 429 with Retry-After."""

    def __init__(self, app: Any, *, queue: WorkQueue, paths: tuple[str, ...], refused: Refused):
        self.app = app
        self.queue = queue
        self.paths = paths
        self.refused = refused

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            return await self.app(scope, receive, send)
        ticket = self.queue.admit()
        if ticket is None:
            self.refused(scope["path"], "rejected")
            wait = self.queue.retry_after()
            return await send_error(send, 429, f"{self.queue.full_reason()}; retry after {wait} s",
                                    {"retry-after": str(wait)})  # fmt: skip
        scope[TICKET] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            ticket.close()  # a no-op when the route closed it with its job's time
