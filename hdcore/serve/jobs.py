"""Engine calls as jobs: each runs in a worker thread with its own cancel flag, watched from the event loop.

A job is stopped (its flag set, so the engine abandons the tier it is on and a cloud tier cancels its paid
work, a Replicate prediction included) when

    the client disconnects       nobody is left to answer (499 in the metrics)
    the request's deadline passes                         504
    its place in the local line is beyond the bound       429 (see ``queue``)
    the server shuts down and the drain bound has passed  503

The first reason wins. ``Jobs`` knows every job in flight, so that a shutdown first waits for them (up to
``HDCORE_SERVE_DRAIN``), then stops the rest and waits for their threads, leaving nothing running or billing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, TypeVar

from starlette.requests import Request

from .answers import send_error
from .limits import Refused

T = TypeVar("T")
WATCH_S = 0.1  # how often a waiting request looks at its client and its deadline
STOP_GRACE_S = 10.0  # how long stopped jobs get to hand back (the engine leaves a tier within ~0.1 s of a cancel)


@dataclass(frozen=True)
class Stop:
    """Why a job was stopped, and what its caller is answered (if anyone is still there)."""

    status: int
    outcome: str  # the metrics' name for it
    reason: str
    retry_after: int | None = None


DISCONNECTED = Stop(499, "disconnected", "the client disconnected; the job was cancelled")
SHUTTING_DOWN = Stop(503, "shutting_down", "the server is shutting down; the job was cancelled", retry_after=5)


class Job:
    """One engine call's cancel flag, and why it was stopped (None while it was not)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.stopped: Stop | None = None
        self._lock = threading.Lock()

    def stop(self, why: Stop) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = why
        self.cancel.set()


class Jobs:
    """The jobs in flight, run on ``workers`` threads (one per request admitted: the queue bounds them)."""

    def __init__(self, workers: int, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.draining = False
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdcore-serve")
        self._running: dict[Job, asyncio.Future] = {}

    @property
    def count(self) -> int:
        return len(self._running)

    async def run(self, request: Request, job: Job, work: Callable[[Job], T], deadline_s: float) -> T:
        """``work(job)`` in a worker thread, stopped on disconnect or at the deadline; returns its value or
        raises what it raised (``job.stopped`` then says whether the job was stopped, and why)."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, job)
        self._running[job] = future
        future.add_done_callback(lambda _: self._running.pop(job, None))
        try:
            return await self._watched(request, job, future, deadline_s)
        except asyncio.CancelledError:  # the server gave up on this request (its graceful timeout)
            job.stop(SHUTTING_DOWN)
            raise

    async def _watched(self, request: Request, job: Job, future: asyncio.Future, deadline_s: float) -> Any:
        deadline = self.clock() + deadline_s
        while True:
            done, _ = await asyncio.wait({future}, timeout=WATCH_S)
            if done:
                return future.result()
            if job.stopped is not None:
                continue  # stopped: the engine leaves its tier within moments; wait for it to hand back
            if await request.is_disconnected():
                job.stop(DISCONNECTED)
            elif self.clock() >= deadline:
                job.stop(Stop(504, "deadline", f"no image within the request's deadline of {deadline_s:g} s"))

    def drain(self, bound_s: float) -> Coroutine[Any, Any, None]:
        """Refuse new work from now on; the awaitable gives the jobs in flight ``bound_s`` to finish, then
        stops the rest and waits for their threads (``STOP_GRACE_S`` at most)."""
        self.draining = True
        return self._drained(bound_s)

    async def _drained(self, bound_s: float) -> None:
        await self._wait_all(bound_s)
        for job in list(self._running):
            job.stop(SHUTTING_DOWN)
        await self._wait_all(STOP_GRACE_S)

    def close(self) -> None:
        """Stop whatever still runs and let the threads go (after ``drain``: nothing does)."""
        for job in list(self._running):
            job.stop(SHUTTING_DOWN)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _wait_all(self, bound_s: float) -> None:
        futures = set(self._running.values())
        if futures:
            await asyncio.wait(futures, timeout=bound_s)


class Draining:
    """An ASGI layer: once a shutdown began, requests under ``paths`` are answered 503 with Retry-After."""

    def __init__(self, app: Any, *, jobs: Jobs, paths: tuple[str, ...], refused: Refused):
        self.app = app
        self.jobs = jobs
        self.paths = paths
        self.refused = refused

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self.jobs.draining and scope["path"].startswith(self.paths):
            self.refused(scope["path"], "shutting_down")
            return await send_error(send, 503, "the server is shutting down; try another replica or retry",
                                    {"retry-after": str(SHUTTING_DOWN.retry_after)})  # fmt: skip
        return await self.app(scope, receive, send)
