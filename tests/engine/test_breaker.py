"""Circuit breakers: the closed / open / half-open state machine on a fake clock, and the engine's use of it."""

import time

import pytest

from hdcore import AllTiersFailed
from hdcore.attempts import Cost
from tests.conftest import ScriptedProvider, good, scripted_registry
from hdcore.engine import breaker as breaker_module
from hdcore.engine.breaker import CLOSED, HALF_OPEN, OPEN, BreakerListener, Breakers, BreakerSettings, CircuitBreaker
from hdcore.config import Config, HedgeSettings, Secret
from hdcore.engine import Engine
from hdcore.errors import (
    AuthError,
    BadOutput,
    Cancelled,
    PermanentError,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    TransientError,
)

CONFIG = Config(timeouts={"a": 1.0, "b": 1.0}, hedge=HedgeSettings(enabled=False))


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(settings=BreakerSettings(fail_max=3, cooldown_s=15.0, max_cooldown_s=300.0, permanent_cooldown_s=3600.0),
         listeners=()):  # fmt: skip
    clock = FakeClock()
    return CircuitBreaker("hf", "m", settings, clock=clock, wall=lambda: 1_700_000_000.0, listeners=listeners), clock


@pytest.mark.parametrize("error", [ProviderTimeout("timed out after 10.0 s"), TransientError("connection refused")])
def test_the_first_timeout_or_connection_failure_opens_at_once_for_a_short_cooldown(error):
    breaker, clock = make()
    breaker.failed(error)
    assert breaker.current_state == OPEN
    reason = breaker.admit()
    assert reason.startswith(f"circuit open after {error}; retry at ")
    assert reason.endswith(breaker.reopen_text()) and len(breaker.reopen_text()) == 8  # HH:MM:SS
    clock.advance(14.9)
    assert breaker.admit() != ""
    clock.advance(0.2)
    assert breaker.admit() == "" and breaker.current_state == HALF_OPEN


def test_the_cooldown_doubles_on_each_reopening_up_to_its_maximum_and_a_success_resets_it():
    breaker, clock = make()
    waits = []
    for _ in range(7):
        breaker.failed(ProviderTimeout("timed out"))
        waits.append(breaker.reopens_in())
        clock.advance(waits[-1] + 0.01)
        assert breaker.admit() == ""  # the trial
    assert waits == pytest.approx([15.0, 30.0, 60.0, 120.0, 240.0, 300.0, 300.0])
    breaker.succeeded()
    breaker.failed(ProviderTimeout("timed out"))
    assert breaker.reopens_in() == pytest.approx(15.0)


def test_bad_answers_count_in_a_row_and_a_success_in_between_starts_again():
    breaker, _ = make(BreakerSettings(fail_max=3, min_requests=100))  # the failure-rate rule out of the way
    breaker.failed(BadOutput("output is 1x1"))
    breaker.failed(BadOutput("output is 1x1"))
    breaker.succeeded()
    breaker.failed(BadOutput("output is 1x1"))
    breaker.failed(BadOutput("output is 1x1"))
    assert breaker.current_state == CLOSED
    breaker.failed(BadOutput("output is 1x1"))
    assert breaker.admit().startswith("circuit open after 3 failures (last: output is 1x1); retry at ")


def test_a_failure_rate_over_the_window_opens_it_whatever_the_order():
    settings = BreakerSettings(fail_max=10, failure_rate=0.5, min_requests=6, window_s=60.0)
    breaker, clock = make(settings)
    for _ in range(3):
        breaker.failed(BadOutput("x"))
        breaker.succeeded()
        clock.advance(1.0)
    assert breaker.current_state == CLOSED  # 3 of 6 failed, but the last call succeeded
    breaker.failed(BadOutput("x"))
    assert breaker.current_state == OPEN  # 4 of 7 in the window
    breaker.reset()
    clock.advance(120)  # the window forgets
    breaker.failed(BadOutput("x"))
    assert breaker.current_state == CLOSED


def test_half_open_lets_one_trial_through_and_its_success_closes():
    breaker, clock = make()
    breaker.failed(TransientError("x"))
    clock.advance(15.1)
    assert breaker.admit() == "" and breaker.current_state == HALF_OPEN
    assert breaker.admit() == "circuit half-open: a trial call is in flight"  # concurrent callers are skipped
    breaker.succeeded()
    assert breaker.current_state == CLOSED and breaker.admit() == "" and breaker.failures == 0


def test_a_free_tier_is_checked_in_the_background_and_no_caller_waits_on_it():
    breaker, clock = make()
    breaker.failed(TransientError("x"))
    clock.advance(15.1)
    started = []
    assert breaker.admit(prober=lambda b: started.append(b) or True) == "circuit half-open: checking the tier in the background"
    assert started == [breaker] and breaker.admit() == "circuit half-open: a trial call is in flight"
    breaker.succeeded()  # what the background trial reports
    assert breaker.current_state == CLOSED


def test_a_failed_trial_reopens_for_a_longer_cooldown():
    breaker, clock = make()
    breaker.failed(TransientError("x"))
    clock.advance(15.1)
    assert breaker.admit() == ""
    breaker.failed(ProviderTimeout("timed out"))
    assert breaker.current_state == OPEN and breaker.reopens_in() == pytest.approx(30.0)


def test_a_cancelled_trial_hands_the_trial_back_without_a_verdict():
    breaker, clock = make()
    breaker.failed(TransientError("x"))
    clock.advance(15.1)
    assert breaker.admit() == ""
    breaker.failed(Cancelled("lost the race"))
    assert breaker.current_state == HALF_OPEN and breaker.admit() == ""


def test_a_rejected_request_is_no_verdict_on_the_tier():
    breaker, _ = make()
    for _ in range(10):
        breaker.failed(RequestRejected("Hugging Face refused this request (HTTP 413)"))
    assert breaker.current_state == CLOSED and breaker.failures == 0


def test_404_opens_at_once_for_the_long_cooldown():
    breaker, clock = make()
    breaker.failed(PermanentError("model not served here (HTTP 404)"))
    assert breaker.current_state == OPEN
    assert breaker.admit().startswith("circuit open after model not served here (HTTP 404); retry at")
    clock.advance(3599)
    assert breaker.admit() != ""
    clock.advance(2)
    assert breaker.admit() == ""


def test_429_opens_for_retry_after():
    breaker, clock = make()
    breaker.failed(RateLimited("rate limited (HTTP 429); retry after 7 s", retry_after=7.0))
    assert breaker.admit() != "" and not breaker.bypassable()
    assert breaker.snapshot()["reopens_at"] == pytest.approx(1_700_000_007.0)
    clock.advance(7.1)
    assert breaker.admit() == ""


@pytest.mark.parametrize("retry_after", [1e20, 1e308, float("inf"), float("nan"), -5.0])
def test_a_huge_or_senseless_retry_after_is_bounded_and_never_breaks_the_breaker(retry_after):
    breaker, clock = make()
    breaker.failed(RateLimited("rate limited (HTTP 429)", retry_after=retry_after))
    assert 0 < breaker.reopens_in() <= 3600.0
    assert breaker.admit().startswith("circuit open after rate limited (HTTP 429); retry at ")
    assert breaker.snapshot()["reopens_at"] is not None
    clock.advance(3600.1)
    assert breaker.admit() == ""


def test_401_disables_until_the_config_fingerprint_changes():
    breaker, clock = make()
    breaker.failed(AuthError("Hugging Face rejected the token (HTTP 401)"), fingerprint="fp-old")
    clock.advance(10 * 3600)
    assert breaker.admit("fp-old") == (
        "disabled after Hugging Face rejected the token (HTTP 401); until its configuration changes"
    )
    assert breaker.snapshot()["reopens_at"] is None and breaker.snapshot()["disabled"]
    assert breaker.admit("fp-new") == "" and breaker.current_state == CLOSED


def test_fingerprint_follows_the_token_and_never_holds_it():
    old = ScriptedProvider(Config(values={"SCRIPTED_TOKEN": Secret("hf_old_value")}), "a")
    new = ScriptedProvider(Config(values={"SCRIPTED_TOKEN": Secret("hf_new_value")}), "a")
    assert old.config_fingerprint() != new.config_fingerprint()
    assert "hf_old_value" not in old.config_fingerprint()
    assert old.config_fingerprint() == ScriptedProvider(Config(values={"SCRIPTED_TOKEN": Secret("hf_old_value")}), "a").config_fingerprint()


def test_listeners_hear_state_changes():
    heard = []

    class Listener(BreakerListener):
        def state_change(self, breaker, old, new):
            heard.append((old, new))

    breaker, clock = make(listeners=[Listener()])
    breaker.failed(TransientError("x"))
    clock.advance(16)
    breaker.admit()
    breaker.succeeded()
    assert heard == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_registry_snapshot_and_reset():
    breakers = Breakers(clock=FakeClock(), wall=lambda: 1_700_000_000.0)
    breakers.get("hf", "m1").failed(PermanentError("HTTP 404"))
    breakers.get("hf", "m2").failed(PermanentError("HTTP 404"))
    breakers.get("replicate", "r").failed(PermanentError("HTTP 410"))
    rows = {(row["provider"], row["model"]): row for row in breakers.snapshot()}
    assert rows[("hf", "m1")]["state"] == OPEN and rows[("hf", "m1")]["reason"] == "HTTP 404"
    assert set(rows[("hf", "m1")]) >= {"provider", "model", "state", "failures", "opened_at", "reopens_at", "reason"}
    breakers.reset("hf", "m1")
    assert breakers.get("hf", "m1").current_state == CLOSED and breakers.get("hf", "m2").current_state == OPEN
    breakers.reset("hf")
    assert breakers.get("hf", "m2").current_state == CLOSED and breakers.get("replicate", "r").current_state == OPEN


def test_module_functions_act_on_the_process_breakers():
    breaker_module.process_breakers.get("x", None).failed(PermanentError("gone"))
    assert [row["state"] for row in breaker_module.snapshot() if row["provider"] == "x"] == [OPEN]
    breaker_module.reset("x")
    assert [row["state"] for row in breaker_module.snapshot() if row["provider"] == "x"] == [CLOSED]


# --- in the engine ----------------------------------------------------------------------------------------


def failing(error):
    def behaviour(request):
        raise error

    return behaviour


def test_engine_skips_an_open_tier_with_its_reason_and_closes_it_after_a_good_trial(photo_png):
    clock = FakeClock()
    breakers = Breakers(clock=clock)
    config = CONFIG.with_changes(breaker=BreakerSettings(cooldown_s=30.0))
    a = ScriptedProvider(config, "a", failing(TransientError("HTTP 503")), cost=Cost(0.001, "estimated"))
    b = ScriptedProvider(config, "b")
    engine = Engine(config, scripted_registry(a, b), breakers=breakers)
    engine.enhance(photo_png, scale=2)
    assert len(a.requests) == 1
    result = engine.enhance(photo_png, scale=2)
    assert len(a.requests) == 1, "the first failure spares the next caller: no call to an open tier"
    assert result.attempts[0].outcome == "skipped"
    assert result.attempts[0].reason.startswith("circuit open after HTTP 503; retry at ")
    assert result.provider == "b"

    a.behaviour = ScriptedProvider(config, "ok").behaviour
    clock.advance(31)
    result = engine.enhance(photo_png, scale=2)  # a paid tier: the next caller's call is the trial
    assert result.provider == "a" and breakers.get("a", "m-default").current_state == CLOSED


def test_a_free_tier_comes_back_through_a_background_trial(photo_png):
    clock = FakeClock()
    breakers = Breakers(clock=clock)
    a = ScriptedProvider(CONFIG, "a", failing(TransientError("connection refused")))
    b = ScriptedProvider(CONFIG, "b")
    engine = Engine(CONFIG, scripted_registry(a, b), breakers=breakers)
    engine.enhance(photo_png, scale=2)
    a.behaviour = b.behaviour  # it is back
    clock.advance(16)
    result = engine.enhance(photo_png, scale=2)
    assert result.provider == "b" and result.attempts[0].reason == "circuit half-open: checking the tier in the background"
    deadline = time.monotonic() + 5
    while breakers.get("a", "m-default").current_state != CLOSED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert breakers.get("a", "m-default").current_state == CLOSED and len(a.requests) == 2  # the trial's call
    assert engine.enhance(photo_png, scale=2).provider == "a"


def test_when_every_tier_is_open_they_are_tried_anyway_rather_than_fail(photo_png):
    a = ScriptedProvider(CONFIG, "a", failing(TransientError("HTTP 502")))
    b = ScriptedProvider(CONFIG, "b", failing(ProviderTimeout("timed out")))
    engine = Engine(CONFIG, scripted_registry(a, b))
    with pytest.raises(AllTiersFailed):
        engine.enhance(photo_png, scale=2)  # both fail: both open
    b.behaviour = good
    result = engine.enhance(photo_png, scale=2)
    assert result.provider == "b" and len(b.requests) == 2
    assert "every tier's breaker was open, so each was tried anyway" in result.warnings


def test_a_single_tier_still_cools_down(photo_png):
    a = ScriptedProvider(CONFIG, "a", failing(TransientError("HTTP 502")))
    engine = Engine(CONFIG, scripted_registry(a))
    for _ in range(3):
        with pytest.raises(AllTiersFailed):
            engine.enhance(photo_png, scale=2)
    assert len(a.requests) == 1


def test_a_retry_after_is_honoured_even_when_every_tier_is_open(photo_png):
    a = ScriptedProvider(CONFIG, "a", failing(RateLimited("rate limited (HTTP 429)", retry_after=60.0)))
    b = ScriptedProvider(CONFIG, "b", failing(RateLimited("rate limited (HTTP 429)", retry_after=60.0)))
    engine = Engine(CONFIG, scripted_registry(a, b))
    for _ in range(2):
        with pytest.raises(AllTiersFailed):
            engine.enhance(photo_png, scale=2)
    assert (len(a.requests), len(b.requests)) == (1, 1)


def test_a_broken_breaker_or_planner_never_stops_the_chain(photo_png, monkeypatch):
    from hdcore.engine.breaker import CircuitBreaker as Breaker

    class BrokenPlanner:
        def arrange(self, chain):
            raise OverflowError("cannot convert float infinity to integer")

        def estimated_cost(self, provider):
            return None

    a = ScriptedProvider(CONFIG, "a")
    monkeypatch.setattr(Breaker, "admit", lambda self, *args, **kwargs: 1 / 0)
    result = Engine(CONFIG, scripted_registry(a), planner=BrokenPlanner()).enhance(photo_png, scale=2)
    assert result.provider == "a" and "order: the configured one" in " ".join(result.warnings)


def test_breakers_are_shared_by_engines_of_one_process(photo_png):
    a = ScriptedProvider(CONFIG, "a", failing(PermanentError("model not served here (HTTP 404)")))
    b = ScriptedProvider(CONFIG, "b")
    Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    result = Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert result.attempts[0].outcome == "skipped" and "HTTP 404" in result.attempts[0].reason
    assert len(a.requests) == 1
    breaker_module.reset("a")
    Engine(CONFIG, scripted_registry(a, b)).enhance(photo_png, scale=2)
    assert len(a.requests) == 2


def test_engine_reenables_a_rejected_tier_when_its_token_changes(photo_png):
    old = CONFIG.with_changes(values={"SCRIPTED_TOKEN": Secret("hf_old")})
    breakers = Breakers()
    a = ScriptedProvider(old, "a", failing(AuthError("rejected the token (HTTP 401)")))
    b = ScriptedProvider(old, "b")
    Engine(old, scripted_registry(a, b), breakers=breakers).enhance(photo_png, scale=2)
    skipped = Engine(old, scripted_registry(a, b), breakers=breakers).enhance(photo_png, scale=2).attempts[0]
    assert skipped.outcome == "skipped" and skipped.reason.endswith("until its configuration changes")
    new = old.with_changes(values={"SCRIPTED_TOKEN": Secret("hf_new")})
    a.config = new
    a.behaviour = b.behaviour
    assert Engine(new, scripted_registry(a, b), breakers=breakers).enhance(photo_png, scale=2).provider == "a"


def test_skipping_an_open_tier_takes_well_under_a_millisecond(photo_png):
    """A correctness bound (the skip makes no call and starts no thread), not a speed target."""
    breakers = Breakers()
    a = ScriptedProvider(CONFIG, "a")
    engine = Engine(CONFIG, scripted_registry(a), breakers=breakers)
    breakers.get("a", "m-default").failed(PermanentError("gone"))
    from hdcore import images
    from hdcore.engine.run import Run

    run = Run(images.load_image(photo_png), 2, None, {})
    runs = 1000
    started = time.perf_counter()
    for _ in range(runs):
        admission = engine.attempter.admit(run, 1, a)
    mean = (time.perf_counter() - started) / runs
    assert engine.attempter.skipped(admission).outcome == "skipped" and not a.requests
    assert mean < 0.001, f"{mean * 1e6:.0f} us per skip"
