"""The cluster's gate keeper and ledger keeper as plain Python (what runs inside their Ray actors): first come
first served within each tier's limit, places given back when their holder vanishes, and the ledger opened
only when first asked."""

from __future__ import annotations

import asyncio

import pytest

from hdcore.distributed.gates import ADMITTED, LOST, GateKeeper
from hdcore.distributed.ledger import LedgerKeeper, LedgerSource
from hdcore.distributed.cluster import RaySettings
from hdcore.errors import ConfigError


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(coroutine):
    return asyncio.run(coroutine)


def test_calls_are_admitted_in_arrival_order_within_the_limit():
    async def scenario():
        keeper = GateKeeper()
        first, second, third = [await keeper.join("hf", 2) for _ in range(3)]
        places = [await keeper.wait("hf", ticket, 0) for ticket in (third, first, second)]
        assert places == [1, ADMITTED, ADMITTED]  # the third waits though it asked first: the line is the order
        assert await keeper.counts("hf") == (2, 1) and not await keeper.has_room("hf", 2)
        await keeper.leave("hf", first)
        assert await keeper.wait("hf", third, 0) == ADMITTED
        assert await keeper.counts("other") == (0, 0) and await keeper.has_room("other", 1)

    run(scenario())


def test_a_waiter_is_woken_the_moment_a_place_is_given_back():
    async def scenario():
        keeper = GateKeeper()
        holder, waiter = await keeper.join("space", 1), await keeper.join("space", 1)
        assert await keeper.wait("space", holder, 0) == ADMITTED
        waiting = asyncio.create_task(keeper.wait("space", waiter, 10.0))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        loop = asyncio.get_running_loop()
        released = loop.time()
        await keeper.leave("space", holder)
        assert await asyncio.wait_for(waiting, 5.0) == ADMITTED
        assert loop.time() - released < 1.0  # not at the end of its 10 s wait

    run(scenario())


def test_the_place_of_a_holder_not_seen_for_a_lease_goes_to_the_next_in_line():
    async def scenario():
        clock = ManualClock()
        keeper = GateKeeper(clock=clock, lease_s=30.0)
        holder, waiter = await keeper.join("hf", 1), await keeper.join("hf", 1)
        assert await keeper.wait("hf", holder, 0) == ADMITTED
        clock.now = 20.0
        assert await keeper.renew("hf", holder) and await keeper.wait("hf", waiter, 0) == 1
        clock.now = 45.0  # renewed at 20 s: still its place
        assert await keeper.wait("hf", waiter, 0) == 1
        clock.now = 51.0  # not renewed for 31 s: a dead worker
        assert await keeper.wait("hf", waiter, 0) == ADMITTED
        assert not await keeper.renew("hf", holder)

    run(scenario())


def test_a_waiter_that_stopped_asking_loses_its_ticket_and_is_told_so():
    async def scenario():
        clock = ManualClock()
        keeper = GateKeeper(clock=clock, lease_s=30.0)
        holder, stalled, behind = [await keeper.join("hf", 1) for _ in range(3)]
        assert await keeper.wait("hf", holder, 0) == ADMITTED
        clock.now = 25.0
        await keeper.renew("hf", holder)
        assert await keeper.wait("hf", behind, 0) == 2
        clock.now = 40.0  # "stalled" last showed itself at 0 s; "behind" at 25 s
        assert await keeper.wait("hf", behind, 0) == 1
        assert await keeper.wait("hf", stalled, 0) == LOST

    run(scenario())


def test_a_gate_without_room_for_anyone_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        run(GateKeeper().join("hf", 0))


def test_the_ledger_keeper_opens_its_ledger_on_first_use_and_holds_the_cap():
    keeper = LedgerKeeper(LedgerSource())
    assert keeper._ledger is None  # constructing it did nothing
    first = keeper.reserve("replicate", 0.4, max_per_day=1.0, now=1_700_000_000.0)
    assert first is not None and keeper.reserve("replicate", 0.7, 1.0, now=1_700_000_000.0) is None
    keeper.settle(first, 0.1)
    assert keeper.spent_today(now=1_700_000_000.0) == pytest.approx(0.1)


def test_a_history_keeper_runs_where_its_sqlite_file_is_and_is_named_by_a_digest(tmp_path):
    from hdcore import Config

    sqlite = LedgerSource(Config(data_dir=str(tmp_path)))
    postgres = LedgerSource(Config.from_env({"HDCORE_DATABASE_URL": "postgresql://u:pw-secret@db.example/h"}))
    assert sqlite.on_this_machine and not postgres.on_this_machine and not LedgerSource().on_this_machine
    assert "pw-secret" not in postgres.key and len(postgres.key) == 32 and LedgerSource().key == "memory"
    ledger = sqlite.open()
    hold = ledger.reserve("replicate", 0.25, max_per_day=1.0)
    ledger.settle(hold, 0.25)
    assert (tmp_path / "history.sqlite3").is_file() and ledger.spent_today() == pytest.approx(0.25)


@pytest.mark.parametrize("workers, cpus, message", [(0, 1.0, "--workers must be 1 or more"),
                                                    (None, 0.0, "--worker-cpus must be a number of CPUs above 0")])
def test_unusable_pool_settings_are_one_line_errors(workers, cpus, message):
    with pytest.raises(ConfigError, match=message):
        RaySettings(workers=workers, worker_cpus=cpus)
    assert RaySettings(worker_cpus=0.5).local_threads == 1 and RaySettings(worker_cpus=3.0).local_threads == 3


def test_a_pools_ledger_is_the_history_this_machine_keeps_and_carries_no_token(tmp_path, monkeypatch):
    from hdcore import Config
    from hdcore.distributed import RayPool

    monkeypatch.chdir(tmp_path)
    config = Config.from_env({"HDCORE_DATA_DIR": "data", "HUGGINGFACE_TOKEN": "hf_pool_secret_1234"})
    pool = RayPool.for_config(RaySettings(worker_cpus=2), config, env={"HDCORE_DATA_DIR": "data"})
    assert pool.ledger.config.data_dir == str(tmp_path / "data") and pool.ledger.config.values == {}
    assert "hf_pool_secret_1234" not in repr(pool.ledger) and pool.make_engine.threads == 2
    assert RayPool.for_config(RaySettings(), config, env={}).ledger == LedgerSource()  # no history here: the cluster's


def test_a_workers_engine_runs_the_local_tier_on_its_own_cpus_unless_told_otherwise():
    from hdcore import Config
    from hdcore.distributed import WorkerEngine
    from hdcore.engine.budget import MemoryLedger
    from hdcore.engine.gates import Gates

    gates, ledger = Gates(), MemoryLedger()
    engine = WorkerEngine(Config(), threads=3)(gates, ledger)
    assert engine.config.values["HDCORE_LOCAL_THREADS"] == 3 and engine.attempter.gates is gates
    assert engine.attempter.budget.ledger is ledger
    told = Config.from_env({"HDCORE_LOCAL_THREADS": "1"})
    assert WorkerEngine(told, threads=3)(gates, ledger).config.values["HDCORE_LOCAL_THREADS"] == 1
