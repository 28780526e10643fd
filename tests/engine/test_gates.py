"""The job gate: a limit on jobs at once, arrival order, visible places, leaving the line."""

import threading
import time

import pytest

from hdcore.engine.gates import JobGate


def test_at_most_limit_jobs_run_at_once_and_all_finish():
    gate = JobGate(2)
    peak, running, lock = [0], [0], threading.Lock()

    def job():
        with gate.slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert peak[0] == 2
    assert (gate.running, gate.waiting) == (0, 0)


def test_waiting_jobs_see_their_place_and_run_in_arrival_order():
    gate = JobGate(1)
    order, places = [], {}
    release = threading.Event()

    def job(name):
        places[name] = []
        with gate.slot(on_wait=places[name].append):
            order.append(name)
            if name == "first":
                release.wait(5)

    first = threading.Thread(target=job, args=("first",))
    first.start()
    time.sleep(0.05)
    later = []
    for name in ("second", "third"):
        later.append(threading.Thread(target=job, args=(name,)))
        later[-1].start()
        time.sleep(0.05)
    assert gate.waiting == 2
    release.set()
    for thread in [first, *later]:
        thread.join(5)
    assert order == ["first", "second", "third"]
    assert places["first"] == []
    assert places["second"] == [1]
    assert places["third"][0] == 2  # then 1, unless "second" was already done when it looked again
    assert places["third"] == sorted(places["third"], reverse=True)


def test_a_waiting_job_can_leave_the_line():
    gate = JobGate(1)
    with gate.slot():
        calls = [0]

        def check():
            calls[0] += 1
            if calls[0] >= 2:
                raise TimeoutError("deadline passed while waiting")

        with pytest.raises(TimeoutError):
            with gate.slot(check=check):
                pass
        assert gate.waiting == 0
    assert gate.running == 0


def test_a_second_local_job_waits_and_the_caller_sees_its_place():
    from skimage import data

    from hdcore import Config, Engine
    from tests.conftest import photo

    engine = Engine(Config().with_settings({"HDCORE_LOCAL_JOBS": "1"}))
    first_started = threading.Event()
    events = []

    def first():
        engine.enhance(data.astronaut(), 2, "local", model="waifu2x-photo", tile=32,  # 256 tiles
                       progress=lambda e: first_started.set() if e.stage == "progress" else None)

    runner = threading.Thread(target=first)
    runner.start()
    assert first_started.wait(60)
    result = engine.enhance(photo((16, 16)), 2, "local", progress=events.append)
    runner.join(60)
    waiting = [e for e in events if e.stage == "waiting"]
    assert waiting and waiting[0].done == 1 and waiting[0].provider == "local"
    assert result.image.size == (32, 32)


def test_an_engine_enters_through_the_gates_it_is_given():
    from hdcore import Config, Engine
    from hdcore.engine.gates import Gates
    from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry

    class Recording(Gates):  # what a cluster's gates look like to the engine: the same two calls
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[tuple[str, int | None]] = []

        def gate(self, name, limit):
            self.asked.append((name, limit))
            return super().gate(name, limit)

    config = Config()
    gates = Recording()
    limited = ScriptedProvider(config, "remote", max_concurrency=1)
    engine = Engine(config, scripted_registry(limited), gates=gates)
    engine.enhance(png_bytes(photo((16, 12))), 2, "remote")
    assert gates.asked == [("remote", 1)]
