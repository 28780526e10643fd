"""The spend ledger, against both backends: holds under a daily cap, settling, UTC days, spend recorded only as
attempts counted once, and processes racing for the last of the budget."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from hdcore.attempts import Attempt
from hdcore.errors import AllTiersFailed, HistoryError
from hdcore.store import HistoryStore, SpendLedger, open_store
from tests.store_workers import reserve_spend, run_together

NOON = datetime(2024, 5, 17, 12, 0, tzinfo=timezone.utc).timestamp()
MIDNIGHT = datetime(2024, 5, 18, 0, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def store(store_location):
    with open_store(store_location) as opened:
        yield opened


@pytest.fixture
def ledger(store: HistoryStore) -> SpendLedger:
    return store.spend_ledger()


def record_paid_run(store: HistoryStore, cost: float, when: float) -> None:
    paid = Attempt(1, "replicate", "real-esrgan", "error", "bad output", 2.0, cost, "measured")
    store.record_failure(AllTiersFailed([paid]), input_size=(8, 8), scale=2, when=when)


def test_a_hold_counts_until_it_is_settled_and_then_its_cost_does(ledger: SpendLedger) -> None:
    hold = ledger.reserve("replicate", 0.5, max_per_day=5.0, now=NOON)
    assert isinstance(hold, str)
    assert ledger.spent_today(NOON) == pytest.approx(0.5)

    ledger.settle(hold, 0.0023)
    assert ledger.spent_today(NOON) == pytest.approx(0.0023)
    ledger.settle(hold, 0.75)  # settling again corrects the amount, it does not add
    assert ledger.spent_today(NOON) == pytest.approx(0.75)


def test_a_hold_that_would_pass_the_cap_is_refused_and_holds_nothing(ledger: SpendLedger) -> None:
    assert ledger.reserve("replicate", 4.0, max_per_day=5.0, now=NOON) is not None
    assert ledger.reserve("replicate", 1.5, max_per_day=5.0, now=NOON) is None
    assert ledger.spent_today(NOON) == pytest.approx(4.0)
    assert ledger.reserve("replicate", 1.0, max_per_day=5.0, now=NOON) is not None  # exactly the cap fits


def test_a_hold_never_settled_keeps_counting(store: HistoryStore, store_location) -> None:
    store.spend_ledger().reserve("replicate", 2.0, max_per_day=5.0, now=NOON)
    store.close()  # the process that held it is gone
    with open_store(store_location) as later:
        assert later.spend_ledger().spent_today(NOON + 3600) == pytest.approx(2.0)
        assert later.spend_ledger().reserve("replicate", 3.5, max_per_day=5.0, now=NOON + 3600) is None


def test_ten_dimes_fill_a_dollar_exactly(ledger: SpendLedger) -> None:
    holds = [ledger.reserve("hf", 0.1, max_per_day=1.0, now=NOON) for _ in range(11)]
    assert [hold is not None for hold in holds] == [True] * 10 + [False]  # 0.1 * 10 sums to 0.9999999999999999
    assert ledger.spent_today(NOON) == pytest.approx(1.0)


def test_each_utc_day_has_its_own_budget(ledger: SpendLedger) -> None:
    last_second = MIDNIGHT - 1
    hold = ledger.reserve("replicate", 5.0, max_per_day=5.0, now=last_second)
    ledger.settle(hold, 5.0)  # settled after midnight: it still counts on the day it was held
    assert ledger.spent_today(last_second) == pytest.approx(5.0)
    assert ledger.reserve("replicate", 0.01, max_per_day=5.0, now=last_second) is None
    assert ledger.spent_today(MIDNIGHT) == 0.0
    assert ledger.reserve("replicate", 5.0, max_per_day=5.0, now=MIDNIGHT) is not None


def test_no_cap_and_free_calls_always_fit(ledger: SpendLedger) -> None:
    assert ledger.reserve("replicate", 1e6, max_per_day=math.inf, now=NOON) is not None
    assert ledger.reserve("local", 0.0, max_per_day=0.0, now=MIDNIGHT) is not None
    assert ledger.reserve("replicate", 0.01, max_per_day=-1.0, now=MIDNIGHT) is None


@pytest.mark.parametrize("usd", [float("nan"), -0.01, float("inf")])
def test_an_amount_that_is_not_a_price_is_refused(ledger: SpendLedger, usd: float) -> None:
    with pytest.raises(ValueError, match="usd must be a finite amount"):
        ledger.reserve("replicate", usd, max_per_day=5.0, now=NOON)
    hold = ledger.reserve("replicate", 0.1, max_per_day=5.0, now=NOON)
    with pytest.raises(ValueError, match="usd must be a finite amount"):
        ledger.settle(hold, usd)
    with pytest.raises(ValueError, match="NaN"):
        ledger.reserve("replicate", 0.1, max_per_day=float("nan"), now=NOON)


@pytest.mark.parametrize("hold", ["999999", "not-a-hold", "", "9" * 40])
def test_settling_an_unknown_hold_is_a_one_line_history_error(ledger: SpendLedger, hold: str) -> None:
    with pytest.raises(HistoryError, match="^cannot settle spend at .*: no hold") as caught:
        ledger.settle(hold, 0.5)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_spend_recorded_only_as_attempts_counts(store: HistoryStore, ledger: SpendLedger) -> None:
    record_paid_run(store, 4.5, when=NOON - 3600)
    record_paid_run(store, 100.0, when=NOON - 13 * 3600)  # the day before (UTC)
    assert ledger.spent_today(NOON) == pytest.approx(4.5)
    assert ledger.reserve("replicate", 0.6, max_per_day=5.0, now=NOON) is None
    assert ledger.reserve("replicate", 0.5, max_per_day=5.0, now=NOON) is not None


def test_a_call_both_settled_and_recorded_counts_once(store: HistoryStore, ledger: SpendLedger) -> None:
    hold = ledger.reserve("replicate", 0.5, max_per_day=5.0, now=NOON)
    ledger.settle(hold, 0.4)
    record_paid_run(store, 0.4, when=NOON + 5)  # the same call, in its run's record
    assert ledger.spent_today(NOON) == pytest.approx(0.4)
    ledger.reserve("replicate", 1.0, max_per_day=5.0, now=NOON + 10)  # a call still open counts too
    assert ledger.spent_today(NOON) == pytest.approx(1.4)


def test_two_processes_cannot_both_take_the_last_of_the_budget(store_location) -> None:
    where = str(store_location)
    with open_store(where) as store:
        store.spend_ledger().reserve("replicate", 4.4, max_per_day=5.0, now=NOON)  # $0.60 left: one $0.50 fits

    taken = run_together(reserve_spend, [(where, 0.5, 5.0, 1, NOON), (where, 0.5, 5.0, 1, NOON)])

    assert sorted(len(holds) for holds in taken) == [0, 1]
    with open_store(where) as store:
        assert store.spend_ledger().spent_today(NOON) == pytest.approx(4.9)


def test_processes_racing_for_holds_never_pass_the_cap(store_location) -> None:
    where = str(store_location)
    taken = run_together(reserve_spend, [(where, 0.1, 1.0, 10, NOON) for _ in range(3)])

    holds = [hold for holds in taken for hold in holds]
    assert len(holds) == len(set(holds)) == 10  # 30 tries, room for 10: exactly 10 succeed, each its own hold
    with open_store(where) as store:
        assert store.spend_ledger().spent_today(NOON) == pytest.approx(1.0)
