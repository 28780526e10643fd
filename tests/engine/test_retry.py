"""Retries of transient errors: backoff with jitter inside the tier's deadline, never for unsafe providers."""

import pytest

from hdcore.config import Config, HedgeSettings
from hdcore.engine import Engine
from hdcore.errors import AuthError, BadOutput, PermanentError, ProviderTimeout, TransientError
from hdcore.engine.retry import RetryPolicy, call_with_retries
from tests.conftest import ScriptedProvider, good, scripted_registry

CONFIG = Config(timeouts={"a": 5.0, "b": 5.0}, hedge=HedgeSettings(enabled=False))


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, error=None):
    """Fails ``failures`` times with a transient error, then succeeds."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise error or TransientError("HTTP 503")
        return "image"

    return call, calls


def policy(fake: FakeTime, **changes) -> RetryPolicy:
    settings = dict(retries=3, base_s=0.5, max_s=4.0, sleep=fake.sleep, clock=fake.clock, random=lambda: 1.0)
    settings.update(changes)
    return RetryPolicy(**settings)


def test_transient_errors_are_retried_with_exponential_backoff():
    fake = FakeTime()
    call, calls = flaky(2)
    outcome = call_with_retries(call, policy(fake), deadline=100.0)
    assert (outcome.value, outcome.error, outcome.retries) == ("image", None, 2)
    assert len(calls) == 3
    assert fake.sleeps == [0.5, 1.0]  # base * 2**n, at the top of its jitter range here


def test_jitter_spreads_the_backoff_below_its_bound():
    fake = FakeTime()
    call, _ = flaky(1)
    call_with_retries(call, policy(fake, random=lambda: 0.25), deadline=100.0)
    assert fake.sleeps == [0.125]


def test_retries_stop_at_the_limit():
    fake = FakeTime()
    call, calls = flaky(10)
    outcome = call_with_retries(call, policy(fake, retries=2), deadline=100.0)
    assert isinstance(outcome.error, TransientError)
    with pytest.raises(TransientError):
        outcome.unwrap()
    assert len(calls) == 3


def test_never_past_the_deadline():
    fake = FakeTime()
    call, calls = flaky(10)
    outcome = call_with_retries(call, policy(fake, retries=10), deadline=3.0)
    assert isinstance(outcome.error, TransientError)
    with pytest.raises(TransientError):
        outcome.unwrap()
    assert sum(fake.sleeps) < 3.0 and fake.now < 3.0
    assert fake.sleeps == [0.5, 1.0]  # the next backoff (2 s) would end past the deadline


@pytest.mark.parametrize(
    "error", [ProviderTimeout("timed out"), AuthError("401"), PermanentError("404"), BadOutput("1x1")]
)
def test_other_errors_are_not_retried(error):
    fake = FakeTime()
    call, calls = flaky(1, error)
    outcome = call_with_retries(call, policy(fake), deadline=100.0)
    assert isinstance(outcome.error, type(error))
    with pytest.raises(type(error)):
        outcome.unwrap()
    assert len(calls) == 1 and fake.sleeps == []


def fails_then_works(failures: int):
    seen = []

    def behaviour(request):
        seen.append(1)
        if len(seen) <= failures:
            raise TransientError("HTTP 503")
        return good(request)

    return behaviour


def test_engine_retries_a_retry_safe_provider_and_records_it(photo_png):
    a = ScriptedProvider(CONFIG, "a", fails_then_works(2), retry_safe=True)
    engine = Engine(CONFIG, scripted_registry(a), retry=RetryPolicy(retries=2, base_s=0.01))
    result = engine.enhance(photo_png, scale=2)
    assert result.provider == "a" and len(a.requests) == 3
    assert "succeeded after 2 retries of transient errors" in result.attempts[0].warnings


def test_engine_records_retries_of_a_tier_that_still_failed(photo_png):
    a = ScriptedProvider(CONFIG, "a", fails_then_works(5), retry_safe=True)
    b = ScriptedProvider(CONFIG, "b")
    engine = Engine(CONFIG, scripted_registry(a, b), retry=RetryPolicy(retries=1, base_s=0.01))
    result = engine.enhance(photo_png, scale=2)
    assert result.attempts[0].reason == "HTTP 503 (after 1 retry)"
    assert len(a.requests) == 2 and result.provider == "b"


def test_engine_never_retries_a_provider_that_is_not_retry_safe(photo_png):
    a = ScriptedProvider(CONFIG, "a", fails_then_works(1))  # retry_safe defaults to False (a paid create)
    b = ScriptedProvider(CONFIG, "b")
    engine = Engine(CONFIG, scripted_registry(a, b), retry=RetryPolicy(retries=3, base_s=0.01))
    result = engine.enhance(photo_png, scale=2)
    assert len(a.requests) == 1 and result.provider == "b"
    assert result.attempts[0].reason == "HTTP 503"


def test_providers_declare_whether_they_may_be_retried():
    from hdcore.providers.space import SpaceProvider
    from hdcore.providers.hf import HuggingFaceProvider
    from hdcore.providers.replicate import ReplicateProvider

    assert HuggingFaceProvider.info.retry_safe is True
    assert ReplicateProvider.info.retry_safe is False  # a create may have started a billed prediction
    assert SpaceProvider.info.retry_safe is False  # the Space job may have started


def test_retry_settings_come_from_the_environment():
    config = Config.from_env({"HDCORE_RETRIES": "0", "HDCORE_RETRY_BACKOFF": "0.2"})
    assert config.retry.retries == 0 and config.retry.backoff_s == 0.2
    assert Engine(config).attempter.retry.retries == 0


def test_retries_are_on_from_the_environment_and_off_for_a_hand_built_config():
    assert Config.from_env({}).retry.retries == 2
    assert Config().retry.retries == 0  # one call per tier, as before, for callers who build their own Config
