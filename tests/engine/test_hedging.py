"""Hedged requests: a slow tier gets the next one started beside it; the first valid image wins."""

import dataclasses
import time

import pytest

from hdcore.attempts import Cost
from hdcore.config import Config
from hdcore.engine import Engine
from hdcore.engine.hedging import HedgeBudget, HedgeSettings, LatencyWindows, hedge_delay
from tests.conftest import ScriptedProvider, good, scripted_registry

# No history yet: hedge after 0.1 s (the default delay is a setting; only the p95-based delay is bounded).
CONFIG = Config(timeouts={"a": 5.0, "b": 5.0}, hedge=HedgeSettings(enabled=True, default_delay_s=0.1, budget=0.1))


def slow(seconds: float):
    """Answers after ``seconds`` unless cancelled first (as a well-behaved remote tier does)."""

    def behaviour(request):
        if request.cancel_event.wait(seconds):
            raise TimeoutError("cancelled")  # never seen: the engine has moved on
        return good(request)

    return behaviour


def eventually(condition, within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_slow_primary_is_hedged_and_the_fast_secondary_wins(photo_png):
    a = ScriptedProvider(CONFIG, "a", slow(3.0))
    b = ScriptedProvider(CONFIG, "b", cost=Cost(0.002, "estimated"))
    started = time.monotonic()
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert time.monotonic() - started < 1.5
    assert result.provider == "b"
    lost, won = result.attempts
    assert (lost.tier, lost.provider, lost.outcome) == (1, "a", "error")
    assert lost.reason == "hedged: lost the race to b; cancelled"
    assert 0.1 <= lost.latency_s < 1.5
    assert (won.tier, won.provider, won.outcome, won.cost_usd) == (2, "b", "ok", 0.002)
    assert "hedged: won the race against a" in won.warnings
    assert result.cost_usd == 0.002
    assert eventually(lambda: bool(a.cancelled)), "the loser's provider was not told to cancel"
    assert a.cancelled[0].cancel_event.is_set()


def test_the_primary_can_still_win_after_the_hedge_started(photo_png):
    a = ScriptedProvider(CONFIG, "a", slow(0.2))
    b = ScriptedProvider(CONFIG, "b", slow(3.0))
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert result.provider == "a"
    won, lost = result.attempts
    assert "hedged: won the race against b" in won.warnings
    assert lost.provider == "b" and lost.reason == "hedged: lost the race to a; cancelled"
    assert eventually(lambda: bool(b.cancelled))


def test_a_fast_primary_is_not_hedged(photo_png):
    a = ScriptedProvider(CONFIG, "a")
    b = ScriptedProvider(CONFIG, "b")
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert [attempt.provider for attempt in result.attempts] == ["a"] and not b.requests
    assert result.attempts[0].warnings == ()


def test_an_exhausted_budget_means_no_hedge(photo_png):
    a = ScriptedProvider(CONFIG, "a", slow(0.3))
    b = ScriptedProvider(CONFIG, "b", slow(3.0))
    engine = Engine(CONFIG.with_changes(hedge=dataclasses.replace(CONFIG.hedge, budget=0.01)), scripted_registry(a, b))
    first = engine.enhance(photo_png, scale=2)
    assert len(first.attempts) == 2  # the bucket's one starting hedge
    second = engine.enhance(photo_png, scale=2)
    assert [attempt.provider for attempt in second.attempts] == ["a"]
    assert len(b.requests) == 1


def test_hedging_off_means_no_hedge(photo_png):
    config = CONFIG.with_changes(hedge=Config.from_env({"HDCORE_HEDGE": "off"}).hedge)
    a = ScriptedProvider(config, "a", slow(0.3))
    b = ScriptedProvider(config, "b")
    result = Engine(config, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert [attempt.provider for attempt in result.attempts] == ["a"] and not b.requests


def test_a_named_provider_is_never_hedged(photo_png):
    a = ScriptedProvider(CONFIG, "a", slow(0.3))
    b = ScriptedProvider(CONFIG, "b")
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2, provider="a", fallback=True)
    assert [attempt.provider for attempt in result.attempts] == ["a"] and not b.requests


def test_a_primary_that_fails_before_the_hedge_falls_through_as_before(photo_png):
    from hdcore.errors import TransientError

    def down(request):
        raise TransientError("HTTP 503")

    a = ScriptedProvider(CONFIG, "a", down)
    b = ScriptedProvider(CONFIG, "b")
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert [(x.provider, x.outcome, x.reason) for x in result.attempts] == [("a", "error", "HTTP 503"), ("b", "ok", "")]


def test_the_hedge_delay_follows_the_observed_p95_within_its_bounds(photo_png):
    a = ScriptedProvider(CONFIG, "a")
    engine = Engine(CONFIG, scripted_registry(a, ScriptedProvider(CONFIG, "b")))
    assert engine.latency_p95("a", "m-default") is None
    engine.enhance(photo_png, scale=2)
    assert engine.latency_p95("a", "m-default") is not None
    settings = HedgeSettings(default_delay_s=3.0, min_delay_s=0.5, max_delay_s=10.0)
    assert hedge_delay(None, settings) == 3.0
    assert hedge_delay(0.05, settings) == 0.5
    assert hedge_delay(2.0, settings) == 2.0
    assert hedge_delay(60.0, settings) == 10.0


def test_latency_window_p95_interpolates_between_ranks_as_the_health_figures_do():
    window = LatencyWindows(size=100)
    for i in range(1, 101):
        window.record("a", "m", i / 100)
    assert window.latency_p95("a", "m") == pytest.approx(0.9505)
    window.record("a", "m", 5.0)  # the oldest (0.01) drops out
    assert window.latency_p95("a", "m") == pytest.approx(0.9605)


def test_budget_is_a_token_bucket_of_hedges_per_request():
    assert HedgeBudget(0.1).burst == 2.0  # 20 requests' worth
    budget = HedgeBudget(0.1, burst=1.0)
    assert budget.spend() and not budget.spend()
    for _ in range(9):
        budget.earn()
    assert not budget.spend()
    budget.earn()
    assert budget.spend()
    assert not HedgeBudget(0.0).spend()


def test_progress_of_a_hedged_run_arrives_on_the_calling_thread(photo_png):
    import threading

    a = ScriptedProvider(CONFIG, "a", slow(3.0))
    b = ScriptedProvider(CONFIG, "b")
    seen = []
    Engine(CONFIG, scripted_registry(a, b)).enhance(
        photo_png, scale=2, progress=lambda event: seen.append((event.provider, event.stage, threading.current_thread()))
    )
    assert all(thread is threading.current_thread() for *_, thread in seen)
    assert ("a", "start") in [(p, s) for p, s, _ in seen] and ("b", "ok") in [(p, s) for p, s, _ in seen]


def test_the_engine_benchmark_measures_and_prints_its_table():
    from hdcore.engine import bench as engine_bench

    assert 0 < engine_bench.overhead(5, hedge=True) < 0.5
    assert 0 < engine_bench.skip_time(50) < 0.01
    p50_off, p99_off, hedged_off = engine_bench.tail_latency(
        12, False, fast=0.005, slow=0.4, slow_share=0.2, secondary=0.02, budget=0.5
    )
    p50_on, p99_on, hedged_on = engine_bench.tail_latency(
        12, True, fast=0.005, slow=0.4, slow_share=0.2, secondary=0.02, budget=0.5
    )
    assert hedged_off == 0 and hedged_on >= 1 and p99_on < p99_off
    rows = [engine_bench.Row("skip, breaker open", "5 us", "< 1 ms", True)]
    assert "skip, breaker open" in engine_bench.format_table(rows)


def test_no_hedge_into_a_tier_that_would_be_skipped(photo_png):
    a = ScriptedProvider(CONFIG, "a", slow(0.3))
    b = ScriptedProvider(CONFIG, "b", configured=False)
    engine = Engine(CONFIG, scripted_registry(a, b))
    result = engine.enhance(photo_png, scale=2)
    assert [attempt.provider for attempt in result.attempts] == ["a"]
    assert engine.hedge_budget.spend(), "the budget was spent on a tier that could not run"
