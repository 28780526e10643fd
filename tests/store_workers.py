"""Processes that use one store at once (multiprocessing, spawn: each child is a fresh interpreter, as a replica
is). Every child waits at one barrier, so the work really overlaps; every wait is bounded."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from typing import Any, Callable, Sequence

WAIT_S = 60


def run_together(work: Callable, arguments: Sequence[tuple], here: Callable[[], Any] | None = None) -> list:
    """Run ``work(*args, start, results)`` in one child process per ``arguments`` entry; returns what each put in
    ``results``, in order. ``here`` runs in this process once every child is at the barrier. A child that fails
    fails the call, with its traceback."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(arguments) + 1)
    results = context.Queue()
    children = [context.Process(target=_child, args=(work, index, args, start, results), daemon=True)
                for index, args in enumerate(arguments)]  # fmt: skip
    for child in children:
        child.start()
    try:
        try:
            start.wait(timeout=WAIT_S)
        except threading.BrokenBarrierError:
            pass  # a child failed before the start: its answer says why
        else:
            if here is not None:
                here()
        answers = dict(results.get(timeout=WAIT_S) for _ in children)
        for child in children:
            child.join(timeout=WAIT_S)
    except queue.Empty as error:
        raise AssertionError("a child process did not answer in time") from error
    finally:
        for child in children:
            if child.is_alive():  # only after a failure above: never leave a process behind
                child.kill()
                child.join(timeout=WAIT_S)
    failures = [answer for answer in answers.values() if isinstance(answer, _Failure)]
    assert not failures, "\n".join(failure.text for failure in failures)
    return [answers[index] for index in range(len(children))]


class _Failure:
    def __init__(self, text: str):
        self.text = text


def _child(work: Callable, index: int, args: tuple, start, results) -> None:
    try:
        results.put((index, work(*args, start=start)))
    except BaseException:
        start.abort()  # the others stop waiting for this one
        results.put((index, _Failure(traceback.format_exc())))


# ------------------------------------------------------------------------------------------- the work


def write_runs(location: str, tag: str, count: int, *, start) -> int:
    """Record ``count`` failed runs of two attempts each, named ``<tag>-<i>``."""
    from hdcore.attempts import Attempt
    from hdcore.errors import AllTiersFailed
    from hdcore.store import open_store

    store = open_store(location)
    start.wait(timeout=WAIT_S)
    for i in range(count):
        failure = AllTiersFailed([Attempt(1, tag, None, "error", "boom"), Attempt(2, tag, None, "timeout", "slow")])
        store.record_failure(failure, input_size=(8, 8), scale=2, source_name=f"{tag}-{i}")
    store.close()
    return count


def open_store_at_once(location: str, *, start) -> int:
    """Open a store (creating or migrating its schema) at the same moment as the others; returns its count."""
    from hdcore.store import open_store

    store = open_store(location)
    start.wait(timeout=WAIT_S)
    with store:
        return store.count()


def reserve_spend(location: str, usd: float, cap: float, tries: int, now: float, *, start) -> list[str]:
    """Try ``tries`` reservations of ``usd`` under ``cap``; returns the holds taken."""
    from hdcore.store import open_store

    store = open_store(location)
    ledger = store.spend_ledger()
    ledger.spent_today(now)  # open the store before the barrier: the race is over the reservations
    start.wait(timeout=WAIT_S)
    with store:
        return [hold for _ in range(tries) if (hold := ledger.reserve("replicate", usd, cap, now=now)) is not None]
