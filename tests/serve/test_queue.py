"""The admission queue on its own, with a clock the test moves: bounds, the line, Retry-After from the pace."""

from __future__ import annotations

from hdcore.engine import ProgressEvent
from hdcore.serve.queue import DEFAULT_JOB_S, MAX_RETRY_AFTER_S, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def waiting(place: int) -> ProgressEvent:
    return ProgressEvent(1, "local", "m", "waiting", done=place)


def running() -> ProgressEvent:
    return ProgressEvent(1, "local", "m", "progress", done=1, total=4)


def test_requests_beyond_the_active_bound_are_not_admitted_until_one_closes():
    queue = WorkQueue(max_active=2, max_waiting=4, clock=Clock())
    first, second = queue.admit(), queue.admit()
    assert first is not None and second is not None and queue.admit() is None and queue.active == 2
    first.close()
    first.close()  # closing twice frees one place, not two
    assert queue.active == 1 and queue.admit() is not None and queue.admit() is None


def test_a_job_beyond_the_line_bound_is_told_to_leave_and_a_full_line_stops_admission():
    queue = WorkQueue(max_active=10, max_waiting=2, clock=Clock())
    tickets = [queue.admit() for _ in range(4)]
    stays = [ticket.observe(waiting(place)) for ticket, place in zip(tickets, (1, 2, 3, 4))]
    assert stays == [True, True, False, False]
    assert queue.waiting == 4 and queue.admit() is None  # 2 or more waiting: the line is full
    for ticket in tickets[2:]:
        ticket.close()
    assert queue.waiting == 2 and queue.admit() is None
    tickets[0].observe(running())  # its turn came: it no longer waits
    assert queue.waiting == 1 and queue.admit() is not None


def test_a_wait_in_a_cloud_tiers_line_is_not_counted_nor_bounded():
    queue = WorkQueue(max_active=10, max_waiting=1, clock=Clock())
    ticket = queue.admit()
    assert ticket.observe(ProgressEvent(1, "replicate", "m", "waiting", done=9), bounded=False)
    assert queue.waiting == 0


def test_with_no_line_allowed_any_job_that_must_wait_leaves():
    queue = WorkQueue(max_active=10, max_waiting=0, clock=Clock())
    ticket = queue.admit()
    assert ticket.observe(waiting(1)) is False and queue.admit() is None


def test_retry_after_follows_the_pace_of_finished_jobs_and_the_line_ahead():
    clock = Clock()
    queue = WorkQueue(max_active=10, max_waiting=10, clock=clock)
    assert queue.retry_after() == DEFAULT_JOB_S  # no job finished yet: the assumed pace, one job ahead
    ticket = queue.admit()
    clock.now += 2.0
    ticket.close(finished=True)
    assert queue.retry_after() == 2  # one 2 s job ahead at the measured pace
    _running, *waiters = [queue.admit() for _ in range(4)]
    for place, waiter in enumerate(waiters, 1):
        waiter.observe(waiting(place))
    assert queue.retry_after() == 8  # 3 waiting + this one, 2 s each, one running
    unfinished = queue.admit()
    clock.now += 1000.0
    unfinished.close()  # a refused or failed job says nothing about the pace
    assert queue.retry_after() == 8
    slow = WorkQueue(max_active=10, max_waiting=10, clock=clock)
    job = slow.admit()
    clock.now += 10_000.0
    job.close(finished=True)
    assert slow.retry_after() == MAX_RETRY_AFTER_S
