"""A gate that lets at most N jobs run at once; the others wait in arrival order and can see their place.

The local tier uses one per process: ncnn already spreads one job over every core, and two jobs at once
only slow each other down (and double the memory), so extra jobs queue instead.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

_RECHECK_S = 0.1  # how often a waiting job re-runs ``check`` (cancel, deadline)


class JobGate:
    def __init__(self, limit: int = 1):
        if limit < 1:
            raise ValueError(f"a job gate needs a limit of at least 1, not {limit}")
        self.limit = limit
        self._running = 0
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def slot(
        self, on_wait: Callable[[int], None] | None = None, check: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Hold one of the ``limit`` places while the block runs.

        ``on_wait(place)`` is called whenever this job's place in the line changes (1 = next to run);
        ``check()`` is called while waiting and may raise (cancel, deadline) to leave the line.
        """
        self._enter(on_wait, check)
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def _enter(self, on_wait: Callable[[int], None] | None, check: Callable[[], None] | None) -> None:
        ticket = object()
        announced = None
        with self._changed:
            self._waiting.append(ticket)
            try:
                while not (self._waiting[0] is ticket and self._running < self.limit):
                    place = self._waiting.index(ticket) + 1
                    if on_wait is not None and place != announced:
                        announced = place
                        on_wait(place)
                    self._changed.wait(_RECHECK_S)
                    if check is not None:
                        check()
            except BaseException:
                self._waiting.remove(ticket)
                self._changed.notify_all()
                raise
            self._waiting.popleft()
            self._running += 1
            self._changed.notify_all()


class Gates:
    """One gate per provider that declares a ``max_concurrency``: the most calls to it at once from one engine
    (a batch, the app's sessions). Entered before the tier's deadline clock starts, so waiting for a free
    place never eats a tier's deadline. Providers without a limit get no gate."""

    def __init__(self) -> None:
        self._gates: dict[str, JobGate] = {}
        self._lock = threading.Lock()

    def gate(self, name: str, limit: int | None) -> JobGate | None:
        if limit is None:
            return None
        with self._lock:  # an engine's config is frozen: a provider's limit never changes
            return self._gates.setdefault(name, JobGate(limit))

    def has_room(self, name: str, limit: int | None) -> bool:
        gate = self.gate(name, limit)
        return gate is None or (gate.running < gate.limit and gate.waiting == 0)
