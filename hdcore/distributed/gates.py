"""The engine's concurrency gates for a whole cluster: one ``GateKeeper`` (a Ray actor) holds every provider's
line, and every worker's engine enters through ``ClusterGates``, so a tier that takes one call at a time gets one
call at a time from the whole cluster, not one per worker.

A place is a lease. The holder renews it every ``LEASE_S / 4`` while its call runs, and a waiter shows itself
at every wait (``RECHECK_S``); a worker that dies (its node lost, its job killed) loses its place after
``LEASE_S`` and the line moves on without it. Within one keeper, the line is first come, first served, as
``JobGate``'s is.

``GateKeeper`` is plain Python (async methods: a Ray actor runs them on one event loop, so a call waiting for
its turn holds no thread); ``ClusterGates`` talks to it through a Ray actor handle.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..engine.gates import Gates
from ..errors import ConfigError
from ..text import one_line

LEASE_S = 30.0  # a dead holder's place is given back after this long; a live one renews it 4 times as often
RECHECK_S = 0.25  # how long one wait lasts before the caller re-runs its check (cancel, deadline)
CALL_TIMEOUT_S = 30.0  # a keeper that does not answer a quick call in this long is out of reach
ADMITTED, LOST = 0, -1  # what ``wait`` answers besides a place in the line (1 = next)
log = logging.getLogger(__name__)


@dataclass
class _Ticket:
    limit: int  # the limit its caller declared (every worker runs the same settings)
    seen: float  # when its holder last showed itself


@dataclass
class _Line:
    waiting: OrderedDict[str, _Ticket] = field(default_factory=OrderedDict)
    running: dict[str, _Ticket] = field(default_factory=dict)

    def admit_first(self) -> bool:
        """Move the first waiting ticket to running if its limit leaves room."""
        if not self.waiting:
            return False
        ticket_id, ticket = next(iter(self.waiting.items()))
        if len(self.running) >= ticket.limit:
            return False
        del self.waiting[ticket_id]
        self.running[ticket_id] = ticket
        return True

    def place(self, ticket_id: str) -> int:
        if ticket_id in self.running:
            return ADMITTED
        for place, waiting in enumerate(self.waiting, start=1):
            if waiting == ticket_id:
                return place
        return LOST


class GateKeeper:
    """Every provider's line of calls, for every worker of a cluster. ``clock`` times the leases."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, lease_s: float = LEASE_S):
        self._clock = clock
        self._lease_s = lease_s
        self._lines: dict[str, _Line] = {}
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None  # made on first use, in the event loop that runs us

    async def join(self, name: str, limit: int) -> str:
        """A ticket at the back of ``name``'s line; ``wait`` with it until it is admitted."""
        if limit < 1:
            raise ValueError(f"a gate needs a limit of at least 1, not {limit}")
        ticket_id = str(next(self._ids))
        async with self._condition():
            self._lines.setdefault(name, _Line()).waiting[ticket_id] = _Ticket(int(limit), self._clock())
        return ticket_id

    async def wait(self, name: str, ticket_id: str, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for the ticket's turn: ADMITTED (0) once it holds a place, else its place in
        the line (1 = next), or LOST when the keeper no longer knows it (it was not seen for a lease)."""
        condition = self._condition()
        loop = asyncio.get_running_loop()
        until = loop.time() + max(0.0, timeout_s)
        async with condition:
            while True:
                line = self._lines.setdefault(name, _Line())
                self._expire(line)
                if ticket_id in line.waiting:
                    line.waiting[ticket_id].seen = self._clock()
                while line.admit_first():
                    condition.notify_all()  # a larger limit may let the next one in too
                place = line.place(ticket_id)
                remaining = until - loop.time()
                if place in (ADMITTED, LOST) or remaining <= 0:
                    return place
                try:
                    await asyncio.wait_for(condition.wait(), remaining)
                except TimeoutError:
                    pass

    async def renew(self, name: str, ticket_id: str) -> bool:
        """The holder is alive; False when its place was already given back."""
        async with self._condition():
            ticket = self._lines.get(name, _Line()).running.get(ticket_id)
            if ticket is not None:
                ticket.seen = self._clock()
            return ticket is not None

    async def leave(self, name: str, ticket_id: str) -> None:
        """The call ended (or gave up waiting): its place goes to the next in line."""
        condition = self._condition()
        async with condition:
            line = self._lines.get(name)
            if line is not None:
                line.waiting.pop(ticket_id, None)
                line.running.pop(ticket_id, None)
            condition.notify_all()

    async def has_room(self, name: str, limit: int) -> bool:
        """Whether a call could start now without waiting (what a hedge asks before starting beside another)."""
        async with self._condition():
            line = self._lines.setdefault(name, _Line())
            self._expire(line)
            return not line.waiting and len(line.running) < limit

    async def counts(self, name: str) -> tuple[int, int]:
        """(running, waiting) for ``name``: what the cluster is doing with one tier now."""
        async with self._condition():
            line = self._lines.setdefault(name, _Line())
            self._expire(line)
            return len(line.running), len(line.waiting)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _expire(self, line: _Line) -> None:
        """Give back the places of holders (and waiters) not seen for a lease: they are gone."""
        oldest = self._clock() - self._lease_s
        for tickets in (line.running, line.waiting):
            for ticket_id in [t for t, ticket in tickets.items() if ticket.seen < oldest]:
                del tickets[ticket_id]
                log.warning("a worker's place at a gate was given back: not seen for %.0f s", self._lease_s)


class ClusterGates(Gates):
    """``Gates`` whose places are the cluster's (a ``GateKeeper`` actor), for ``Engine(gates=...)``."""

    def __init__(self, keeper: Any):
        super().__init__()
        self.keeper = keeper

    def gate(self, name: str, limit: int | None) -> ClusterGate | None:  # type: ignore[override]
        return None if limit is None else ClusterGate(self.keeper, name, limit)

    def has_room(self, name: str, limit: int | None) -> bool:
        return limit is None or bool(_answer(self.keeper.has_room.remote(name, limit)))


class ClusterGate:
    """One provider's gate, across the cluster: ``slot`` as ``JobGate.slot``."""

    def __init__(self, keeper: Any, name: str, limit: int):
        self.keeper, self.name, self.limit = keeper, name, limit

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None,
             check: Callable[[], None] | None = None) -> Iterator[None]:  # fmt: skip
        """Hold one of the cluster's ``limit`` places while the block runs (``JobGate.slot``'s arguments)."""
        ticket = self._enter(on_wait, check)
        try:
            with _Renewal(self.keeper, self.name, ticket):
                yield
        finally:
            self._leave(ticket)

    def _enter(self, on_wait: Callable[[int], None] | None, check: Callable[[], None] | None) -> str:
        """Join the line and wait for a place; leaving the line on the way out if ``check`` raises."""
        ticket = _answer(self.keeper.join.remote(self.name, self.limit))
        announced = None
        try:
            while True:
                place = _answer(self.keeper.wait.remote(self.name, ticket, RECHECK_S), RECHECK_S + CALL_TIMEOUT_S)
                if place == ADMITTED:
                    return ticket
                if place == LOST:  # not seen for a lease (a stalled worker): back in line
                    ticket = _answer(self.keeper.join.remote(self.name, self.limit))
                    continue
                if on_wait is not None and place != announced:
                    announced = place
                    on_wait(place)
                if check is not None:
                    check()
        except BaseException:
            self._leave(ticket)
            raise

    def _leave(self, ticket: str) -> None:
        try:
            _answer(self.keeper.leave.remote(self.name, ticket))
        except ConfigError as error:  # the place comes back when its lease runs out; the call itself is done
            log.warning("%s", error)


class _Renewal:
    """Renews a held place every LEASE_S / 4 from a daemon thread while the call runs."""

    def __init__(self, keeper: Any, name: str, ticket: str):
        self.keeper, self.name, self.ticket = keeper, name, ticket
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="hdcore-gate-lease", daemon=True)

    def __enter__(self) -> _Renewal:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=CALL_TIMEOUT_S)

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_S / 4):
            try:
                if not _answer(self.keeper.renew.remote(self.name, self.ticket)):
                    log.warning("a place at the %s gate was given back while its call ran", self.name)
            except ConfigError as error:  # the call goes on; the keeper will say so at leave
                log.warning("%s", error)


def _answer(reference: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    """The keeper's answer, or ConfigError naming why there is none (the engine hands back what the attempt
    held and the image fails with this reason: without the gates, a tier's limit cannot be kept)."""
    import ray
    from ray import exceptions

    try:
        return ray.get(reference, timeout=timeout_s)
    except exceptions.GetTimeoutError:
        raise ConfigError(f"the cluster's concurrency gates did not answer within {timeout_s:g} s") from None
    except exceptions.RayError as error:
        raise ConfigError(f"the cluster's concurrency gates cannot be reached: {one_line(str(error))[:200]}") from None
