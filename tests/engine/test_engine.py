"""The fallback engine: order, skips, enforced deadlines, overrides, output checks, the all-failed error."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from PIL import Image

import hdcore
from hdcore import AllTiersFailed, Config, Engine, InvalidInput
from hdcore.attempts import Cost
from hdcore.errors import Cancelled, ConfigError, RateLimited, TransientError
from tests.conftest import ScriptedProvider, good, png_bytes, photo, scripted_registry, sleeper

CONFIG = Config(timeouts={"slow": 0.3, "fast": 5.0})


def engine_with(*providers, extra=(), config=CONFIG) -> Engine:
    return Engine(config, scripted_registry(*providers, extra=extra))


def failing(error):
    def behaviour(request):
        raise error

    return behaviour


def test_first_working_tier_wins_and_every_tier_tried_is_recorded(photo_png):
    broken = ScriptedProvider(CONFIG, "broken", failing(TransientError("HTTP 503: model loading")))
    working = ScriptedProvider(CONFIG, "working", cost=Cost(0.0019, "estimated"))
    unused = ScriptedProvider(CONFIG, "unused")
    result = engine_with(broken, working, unused).enhance(photo_png, scale=2)

    assert result.provider == "working"
    assert result.image.size == (128, 96)
    assert [(a.tier, a.provider, a.outcome) for a in result.attempts] == [(1, "broken", "error"), (2, "working", "ok")]
    assert result.attempts[0].reason == "HTTP 503: model loading"
    assert result.attempts[1].cost_usd == pytest.approx(0.0019)
    assert result.attempts[1].cost_kind == "estimated"
    assert result.attempts[1].output_size == (128, 96)
    assert unused.requests == []


def test_unconfigured_tier_is_skipped_at_once_with_its_reason(photo_png):
    no_token = ScriptedProvider(CONFIG, "cloud", configured=False)
    local = ScriptedProvider(CONFIG, "local")
    result = engine_with(no_token, local).enhance(photo_png, scale=4)

    skipped = result.attempts[0]
    assert (skipped.outcome, skipped.reason) == ("skipped", "not configured (set CLOUD_TOKEN)")
    assert skipped.latency_s == 0.0
    assert no_token.requests == []
    assert result.provider == "local"


def test_tier_without_the_scale_is_skipped(photo_png):
    only_4x = ScriptedProvider(CONFIG, "only4", scales=(4,))
    other = ScriptedProvider(CONFIG, "other")
    result = engine_with(only_4x, other).enhance(photo_png, scale=3)
    assert result.attempts[0].reason == "does not support 3x"
    assert result.image.size == (192, 144)


def test_deadline_is_enforced_even_when_the_provider_ignores_it(photo_png):
    slow = ScriptedProvider(CONFIG, "slow", sleeper(3.0))
    fast = ScriptedProvider(CONFIG, "fast")
    started = time.monotonic()
    result = engine_with(slow, fast).enhance(photo_png, scale=2)
    elapsed = time.monotonic() - started

    timed_out = result.attempts[0]
    assert timed_out.outcome == "timeout"
    assert timed_out.reason == "timed out after 0.3 s"
    assert 0.3 <= timed_out.latency_s < 1.0
    assert elapsed < 2.0, "the engine waited for the slow provider instead of moving on"
    assert result.provider == "fast"
    assert slow.cancelled and slow.cancelled[0].cancel_event.is_set()


def test_naming_one_provider_uses_only_it(photo_png):
    first = ScriptedProvider(CONFIG, "first")
    second = ScriptedProvider(CONFIG, "second", failing(TransientError("down")))
    engine = engine_with(first, second)

    with pytest.raises(AllTiersFailed) as caught:
        engine.enhance(photo_png, scale=2, provider="second")
    assert [a.provider for a in caught.value.attempts] == ["second"]
    assert first.requests == []

    result = engine.enhance(photo_png, scale=2, provider="second", fallback=True)
    assert [a.provider for a in result.attempts] == ["second", "first"]


def test_a_provider_outside_the_auto_chain_is_used_only_when_named(photo_png):
    chain = ScriptedProvider(CONFIG, "chain")
    baseline = ScriptedProvider(CONFIG, "baseline")
    engine = engine_with(chain, extra=[baseline])
    assert engine.plan("auto") == ["chain"]
    assert engine.enhance(photo_png, scale=2, provider="baseline").provider == "baseline"
    assert engine.enhance(photo_png, scale=2, provider=["baseline", "chain"]).provider == "baseline"


def test_configured_order_replaces_the_registry_order():
    a, b = ScriptedProvider(CONFIG, "a"), ScriptedProvider(CONFIG, "b")
    engine = engine_with(a, b, config=CONFIG.with_changes(order=("b", "a")))
    assert engine.plan("auto") == ["b", "a"]


def test_unknown_provider_is_a_config_error(photo_png):
    engine = engine_with(ScriptedProvider(CONFIG, "a"))
    with pytest.raises(ConfigError, match="unknown provider 'nope' \\(known: a\\)"):
        engine.enhance(photo_png, provider="nope")


@pytest.mark.parametrize(
    "bad_output, reason",
    [
        (lambda r: np.zeros((10, 10, 3), np.float32), "output is 10x10, expected 128x96"),
        (lambda r: b"<html>busy</html>", "output is not an image"),
        (lambda r: np.full((96, 128, 3), np.nan, np.float32), "output holds non-finite values"),
        (lambda r: Image.new("RGB", (129, 96)), "output is 129x96, expected 128x96"),
    ],
)
def test_bad_output_falls_through_to_the_next_tier(photo_png, bad_output, reason):
    liar = ScriptedProvider(CONFIG, "liar", bad_output)
    honest = ScriptedProvider(CONFIG, "honest")
    result = engine_with(liar, honest).enhance(photo_png, scale=2)
    assert result.attempts[0].outcome == "error"
    assert result.attempts[0].reason.startswith(reason)
    assert result.provider == "honest"


def test_png_bytes_from_a_provider_are_accepted(photo_png):
    as_png = ScriptedProvider(CONFIG, "png", lambda r: png_bytes(Image.fromarray((good(r) * 255).round().astype(np.uint8))))
    result = engine_with(as_png).enhance(photo_png, scale=2)
    assert result.image.size == (128, 96)


def test_all_tiers_failing_lists_every_tier_and_reason(photo_png):
    providers = [
        ScriptedProvider(CONFIG, "a", configured=False),
        ScriptedProvider(CONFIG, "b", failing(RateLimited("rate limited, retry after 30 s", retry_after=30))),
        ScriptedProvider(CONFIG, "c", lambda r: b"not an image"),
    ]
    with pytest.raises(AllTiersFailed) as caught:
        engine_with(*providers).enhance(photo_png)
    message = str(caught.value)
    assert [a.outcome for a in caught.value.attempts] == ["skipped", "error", "error"]
    assert "a: not configured (set A_TOKEN)" in message
    assert "b: rate limited, retry after 30 s" in message
    assert "c: output is not an image" in message
    assert "\n" not in message


def test_a_provider_bug_is_recorded_and_the_chain_goes_on(photo_png):
    buggy = ScriptedProvider(CONFIG, "buggy", failing(KeyError("width")))
    result = engine_with(buggy, ScriptedProvider(CONFIG, "ok")).enhance(photo_png, scale=2)
    assert result.attempts[0].reason == "unexpected KeyError: 'width'"


def test_bad_options_from_the_caller_stop_the_run_instead_of_falling_through(photo_png):
    picky = ScriptedProvider(CONFIG, "picky", failing(InvalidInput("denoise must be one of 0, 1, 2, 3")))
    after = ScriptedProvider(CONFIG, "after")
    with pytest.raises(InvalidInput, match="denoise"):
        engine_with(picky, after).enhance(photo_png, scale=2)
    assert after.requests == []


@pytest.mark.parametrize("scale, message", [
    (1, "scale 1 is a 1x enlargement; hdcore enlarges 1.1x to 8x"), (8.5, "hdcore enlarges 1.1x to 8x"),
    ("x", "scale must be a number from 1.1 to 8, not 'x'"), (True, "scale must be a number"),
    (float("nan"), "scale must be a number"), (float("inf"), "scale must be a number"),
])  # fmt: skip
def test_a_scale_outside_1_1_to_8_is_rejected_with_one_line(photo_png, scale, message):
    with pytest.raises(InvalidInput, match=message):
        engine_with(ScriptedProvider(CONFIG, "a")).enhance(photo_png, scale=scale)


def test_model_goes_to_the_tiers_that_serve_it(photo_png):
    plain = ScriptedProvider(CONFIG, "plain", failing(TransientError("down")))
    special = ScriptedProvider(CONFIG, "special", model_names=("default", "sharp"))
    result = engine_with(plain, special).enhance(photo_png, scale=2, model="sharp")
    assert plain.requests[0].model == "m-default"
    assert special.requests[0].model == "sharp"
    assert result.model == "sharp"
    with pytest.raises(InvalidInput, match="serves model 'nope'"):
        engine_with(plain, special).enhance(photo_png, scale=2, model="nope")


def test_options_reach_the_provider(photo_png):
    provider = ScriptedProvider(CONFIG, "p")
    engine_with(provider).enhance(photo_png, scale=2, preset="best", tile=64)
    assert dict(provider.requests[0].options) == {"preset": "best", "tile": 64}


def test_progress_events_arrive_on_the_calling_thread(photo_png):
    def tiled(request):
        for done in range(1, 4):
            request.report(done, 3)
            time.sleep(0.06)
        return good(request)

    events, threads = [], set()

    def on_progress(event):
        events.append((event.provider, event.stage, event.done, event.total))
        threads.add(threading.current_thread().name)

    provider = ScriptedProvider(CONFIG, "tiles", tiled)
    engine_with(provider).enhance(photo_png, scale=2, progress=on_progress)
    assert events[0] == ("tiles", "start", 0, 0)
    assert [e for e in events if e[1] == "progress"] == [("tiles", "progress", n, 3) for n in (1, 2, 3)]
    assert events[-1][1] == "ok"
    assert threads == {threading.current_thread().name}
    assert provider.threads[0] != threading.current_thread().name


def test_caller_can_cancel_a_running_tier(photo_png):
    slow = ScriptedProvider(CONFIG.with_changes(timeouts={}), "slowest", sleeper(3.0))
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        engine_with(slow, config=Config(timeouts={})).enhance(photo_png, scale=2, cancel=cancel)
    assert time.monotonic() - started < 1.5
    assert slow.cancelled


def test_hd_image_answers_with_the_seed_contract(photo_png):
    import base64

    engine = engine_with(ScriptedProvider(CONFIG, "a", failing(TransientError("down"))), ScriptedProvider(CONFIG, "b"))
    answer = hdcore.hd_image(base64.b64encode(photo_png).decode(), scale=2, engine=engine)
    assert answer["success"] is True
    assert answer["image"].startswith("data:image/png;base64,")
    assert answer["provider"] == "b"
    assert [a["outcome"] for a in answer["attempts"]] == ["error", "ok"]
    decoded = Image.open(__import__("io").BytesIO(base64.b64decode(answer["image"].split(",", 1)[1])))
    assert decoded.size == (128, 96)


def test_hd_image_failure_is_a_dict_not_an_exception(photo_png):
    import base64

    engine = engine_with(ScriptedProvider(CONFIG, "a", failing(TransientError("down"))))
    failed = hdcore.hd_image(base64.b64encode(photo_png).decode(), scale=2, engine=engine)
    assert failed == {"success": False, "error": "every tier failed (a: down)", "attempts": [failed["attempts"][0]]}
    assert failed["attempts"][0]["outcome"] == "error"
    bad = hdcore.hd_image("!!! not base64 !!!", engine=engine)
    assert bad["success"] is False and bad["attempts"] == [] and "base64" in bad["error"]


def test_hd_image_async_runs_off_the_event_loop(photo_png):
    import base64

    slow = ScriptedProvider(CONFIG, "fast", sleeper(0.6))  # long enough for a loaded machine to tick a few times
    engine = engine_with(slow)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        task = asyncio.create_task(ticker())
        answer = await hdcore.hd_image_async(base64.b64encode(photo_png).decode(), 2, engine=engine)
        task.cancel()
        return answer, ticks

    answer, ticks = asyncio.run(main())
    assert answer["success"] is True
    assert ticks >= 3, "the event loop was blocked while upscaling"


def test_cancelling_the_async_task_cancels_the_run(photo_png):
    slow = ScriptedProvider(Config(timeouts={}), "slowest", sleeper(2.0))
    engine = engine_with(slow, config=Config(timeouts={}))

    async def main():
        task = asyncio.create_task(hdcore.hd_image_async(photo_png, 2, engine=engine))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.monotonic() + 2
    while not slow.cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slow.cancelled, "the provider was never told to stop"
