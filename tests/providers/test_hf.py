"""The Hugging Face tier with real ``requests`` against our HF router on 127.0.0.1.

Each fault is checked twice: through the engine with the chain [hf, lanczos] (the attempt's outcome and reason,
the Lanczos image delivered, the latency bounded) and on the provider itself (the typed error). The token must
never appear in a reason, a result, an exception, a log record or a repr; an autouse fixture checks every log
record of every test.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import numpy as np
import pytest
from PIL import Image

from hdcore import Config, Engine
from hdcore.errors import (
    AuthError,
    BadOutput,
    Cancelled,
    InvalidInput,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    TransientError,
)
from hdcore.providers import hf as huggingface
from hdcore.providers.base import ModelInfo, UpscaleRequest
from hdcore.providers.hf import HuggingFaceProvider, direct
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers import ProviderSpec, Registry
from hdcore.providers.remote import MAX_RETRY_AFTER_S
from tests.conftest import photo, png_bytes
from tests.providers.test_remote import leaked_fragments
from tests.servers.base import upscaled_png
from tests.servers.hf_router import ECHO_STYLES, REAL_ESRGAN, SD_X4, TOKEN, hf_router

TIMEOUT = 1.0
INPUT_SIZE = (16, 12)


@pytest.fixture
def router():
    with hf_router() as server:
        yield server


@pytest.fixture(autouse=True)
def token_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    leaking = [record.getMessage() for record in caplog.records if TOKEN in record.getMessage()]
    assert leaking == []
    assert TOKEN not in caplog.text


def hf_config(server, token: str = TOKEN, models: dict[int, str] | None = None, timeout: float = TIMEOUT) -> Config:
    settings = {"HUGGINGFACE_TOKEN": token, "HDCORE_HF_BASE_URL": server.url}
    settings.update({f"HDCORE_HF_MODEL_X{scale}": model for scale, model in (models or {}).items()})
    return Config(timeouts={"hf": timeout}).with_settings(settings)


def hf_then_lanczos(config: Config) -> Engine:
    return Engine(config, Registry([ProviderSpec("hf", HuggingFaceProvider), ProviderSpec("lanczos", LanczosProvider)]))


def input_png() -> bytes:
    return png_bytes(photo(INPUT_SIZE))


def request_for(scale: int, **fields) -> UpscaleRequest:
    color = np.asarray(photo(INPUT_SIZE), dtype=np.float32) / 255
    return UpscaleRequest(image=color, scale=scale, **fields)


def assert_token_absent(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


def error_chain_texts(error: BaseException) -> list[str]:
    texts = []
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return texts


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --------------------------------------------------------------------------------------------- success


@pytest.mark.parametrize("scale, model", [(4, SD_X4), (2, REAL_ESRGAN)])
def test_upscale_posts_the_png_with_the_bearer_token_and_returns_the_models_image(router, caplog, scale, model):
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=scale)

    (sent,) = router.state.requests
    assert (sent.method, sent.path) == ("POST", f"/models/{model}")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "image/png"
    assert sent.headers["Content-Type"] == "image/png"
    assert np.array_equal(pixels(sent.body), np.asarray(photo(INPUT_SIZE)))  # the input, losslessly
    assert (result.provider, result.model, result.scale) == ("hf", model, scale)
    assert result.image.size == (16 * scale, 12 * scale)
    assert np.array_equal(np.asarray(result.image), pixels(upscaled_png(sent.body, scale)))  # the server's image
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.cost_usd, attempt.cost_kind) == ("ok", 0.0, "estimated")
    assert any(f"POST {router.url}/models/{model}" in record.getMessage() for record in caplog.records)
    assert_token_absent(json.dumps(result.to_dict()))


def test_a_prompt_sends_hfs_json_form_with_the_image_in_base64(router):
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=4, prompt="a sharp photo of an astronaut")

    (sent,) = router.state.requests
    assert sent.headers["Content-Type"] == "application/json"
    document = json.loads(sent.body)
    assert document["parameters"] == {"prompt": "a sharp photo of an astronaut"}
    assert np.array_equal(pixels(base64.b64decode(document["inputs"])), np.asarray(photo(INPUT_SIZE)))
    assert (result.provider, result.image.size) == ("hf", (64, 48))


def test_a_prompt_that_is_not_text_is_the_callers_mistake(router):
    with pytest.raises(InvalidInput, match="^prompt must be text, not int$"):
        hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=4, prompt=42)
    assert router.state.requests == []


def test_a_model_named_by_the_caller_is_the_one_posted_to(router):
    router.state.model_scales["acme/custom-x4"] = 4
    provider = HuggingFaceProvider(hf_config(router))
    output = provider.upscale(request_for(4, model="acme/custom-x4"))

    assert router.state.requests[0].path == "/models/acme/custom-x4"
    assert output.model == "acme/custom-x4"
    assert output.image.shape == (48, 64, 3)


def test_a_larger_answer_of_the_same_shape_is_resized_exactly_with_a_warning(router):
    router.state.model_scales[REAL_ESRGAN] = 4  # the 2x model answers 4x
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=2)

    assert (result.provider, result.image.size) == ("hf", (32, 24))
    assert result.warnings == ["Hugging Face returned 64x48: resized to 32x24 with Lanczos"]
    assert result.attempts[0].warnings == ("Hugging Face returned 64x48: resized to 32x24 with Lanczos",)


def test_a_smaller_answer_is_not_blown_up_but_rejected_by_the_engine(router):
    router.state.model_scales[SD_X4] = 2  # the 4x model answers 2x
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=4)

    assert result.attempts[0].reason == "output is 32x24, expected 64x48"
    assert (result.provider, result.image.size) == ("lanczos", (64, 48))


def test_an_answer_of_another_shape_is_rejected_by_the_engine(router):
    router.state.fault = "wrong-size"  # 50x50 for a 64x48 request
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=4)

    assert (result.attempts[0].outcome, result.attempts[0].reason) == ("error", "output is 50x50, expected 64x48")
    assert (result.provider, result.image.size) == ("lanczos", (64, 48))


# ------------------------------------------------------------------------------------ what is offered


def test_without_a_token_the_tier_is_skipped_and_nothing_is_sent(router):
    result = hf_then_lanczos(hf_config(router, token="")).enhance(input_png(), scale=4)

    skipped = result.attempts[0]
    assert (skipped.outcome, skipped.reason) == ("skipped", "not configured (set HUGGINGFACE_TOKEN)")
    assert result.provider == "lanczos"
    assert router.state.requests == []


def test_a_scale_without_a_configured_model_is_not_supported(router):
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=3)

    assert (result.attempts[0].outcome, result.attempts[0].reason) == ("skipped", "does not support 3x")
    assert router.state.requests == []


def test_a_configured_3x_model_makes_3x_supported(router):
    router.state.model_scales["acme/x3"] = 3
    config = hf_config(router, models={2: REAL_ESRGAN, 3: "acme/x3", 4: SD_X4})
    result = hf_then_lanczos(config).enhance(input_png(), scale=3)

    assert (result.provider, result.model, result.image.size) == ("hf", "acme/x3", (48, 36))


def test_models_lists_each_configured_model_with_its_scales_and_limits(router):
    default = HuggingFaceProvider(hf_config(router))
    shared = HuggingFaceProvider(hf_config(router, models={2: "acme/any", 4: "acme/any"}))

    assert [(m.name, m.scales) for m in default.models()] == [(REAL_ESRGAN, (2,)), (SD_X4, (4,))]
    assert default.scales() == (2, 4)
    assert default.model_info(SD_X4).max_input_side == 512  # its attention runs out of memory beyond
    assert shared.models() == (ModelInfo("acme/any", (2, 4), ""),)


def test_a_request_over_a_models_declared_limit_is_not_sent(router):
    result = hf_then_lanczos(hf_config(router)).enhance(png_bytes(Image.new("RGB", (600, 40))), scale=4)

    assert result.attempts[0].outcome == "skipped"
    assert result.attempts[0].reason == f"input 600x40 is over {SD_X4}'s limit of 512 px a side; not sent"
    assert router.state.requests == []


def test_the_token_is_in_no_repr(router):
    provider = HuggingFaceProvider(hf_config(router))
    assert_token_absent(repr(provider), repr(provider.config), str(vars(provider)))


# --------------------------------------------------------------------------------------------- faults

# fault, the error the provider raises, how the reason starts
FAULTS = [
    ("500", TransientError, "Hugging Face server error (HTTP 500): Internal Server Error"),
    ("503", TransientError, "model is loading (HTTP 503), ready in about 20 s"),
    ("429", RateLimited, "rate limited by Hugging Face (HTTP 429), retry after 7 s"),
    ("401", AuthError, "Hugging Face rejected the token (HTTP 401)"),
    ("410", PermanentError, "model not served here (HTTP 410)"),
    ("non-image", BadOutput, "Hugging Face answered with no usable image: HTML is not an image"),
    ("json", BadOutput, "Hugging Face answered with no usable image: JSON is not an image"),
    ("truncated", BadOutput, "Hugging Face answered with no usable image: truncated or corrupt PNG data"),
    ("cut", TransientError, "connection to Hugging Face failed (IncompleteRead("),
    ("reset", TransientError, "connection to Hugging Face failed (connection reset by peer)"),
    ("413", RequestRejected, "Hugging Face refused this request (HTTP 413): Payload Too Large"),
    ("422", RequestRejected, "Hugging Face refused this request (HTTP 422): Input validation error"),
    ("echo-token", TransientError, "Hugging Face server error (HTTP 500): upstream refused header Bearer ********"),
    ("endless", BadOutput, "answer is over the 1,"),
    ("hang", ProviderTimeout, "timed out after 1.0 s"),
    ("slow", ProviderTimeout, "timed out after 1.0 s"),
    ("stall", ProviderTimeout, "timed out after 1.0 s"),
]
WAITS_FOR_THE_DEADLINE = {"hang", "slow", "stall"}


def test_only_404_and_410_mean_not_served_any_other_4xx_is_about_this_request(router):
    router.state.fault = "413"
    with pytest.raises(RequestRejected) as rejected:
        HuggingFaceProvider(hf_config(router, timeout=5.0)).upscale(request_for(4))
    with pytest.raises(PermanentError) as gone:
        HuggingFaceProvider(hf_config(router, models={4: "nobody/missing"})).upscale(request_for(4))

    assert not isinstance(rejected.value, PermanentError) and rejected.value.outcome == "error"
    assert str(gone.value) == "model not served here (HTTP 404)"


@pytest.mark.parametrize("fault, error_class, reason", FAULTS, ids=[fault for fault, *_ in FAULTS])
def test_each_fault_is_recorded_and_the_next_tier_delivers(router, fault, error_class, reason):
    router.state.fault = fault
    started = time.monotonic()
    result = hf_then_lanczos(hf_config(router)).enhance(input_png(), scale=4)
    elapsed = time.monotonic() - started

    hf, fallback = result.attempts
    assert (hf.provider, hf.model, hf.outcome) == ("hf", SD_X4, error_class.outcome)
    assert hf.reason.startswith(reason)
    assert (fallback.provider, fallback.outcome) == ("lanczos", "ok")
    assert (result.provider, result.image.size) == ("lanczos", (64, 48))
    assert len(router.state.requests) == 1
    if fault in WAITS_FOR_THE_DEADLINE:
        assert TIMEOUT - 0.05 <= hf.latency_s < TIMEOUT + 1.0
    else:
        assert hf.latency_s < 0.8  # it failed fast, without waiting for the deadline
    assert elapsed < TIMEOUT + 1.0
    assert_token_absent(json.dumps(result.to_dict()))


@pytest.mark.parametrize("fault, error_class, reason", FAULTS, ids=[fault for fault, *_ in FAULTS])
def test_each_fault_raises_its_typed_error_from_the_provider_itself(router, fault, error_class, reason):
    router.state.fault = fault
    provider = HuggingFaceProvider(hf_config(router))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider.upscale(request_for(4))  # no engine: the provider keeps its own 1 s deadline
    elapsed = time.monotonic() - started

    assert type(caught.value) is error_class
    assert (caught.value.provider, caught.value.model) == ("hf", SD_X4)
    assert str(caught.value).startswith(reason)
    assert elapsed < (TIMEOUT + 0.3 if fault in WAITS_FOR_THE_DEADLINE else 0.8)
    assert_token_absent(*error_chain_texts(caught.value), repr(provider))


def test_a_wrong_token_is_rejected_without_showing_it(router):
    wrong = "hf_wrong_Token_fedcba9876543210"
    with pytest.raises(AuthError) as caught:
        HuggingFaceProvider(hf_config(router, token=wrong)).upscale(request_for(4))

    assert str(caught.value) == "Hugging Face rejected the token (HTTP 401)"
    assert all(wrong not in text for text in error_chain_texts(caught.value))


def test_a_token_a_header_cannot_carry_is_refused_before_sending_without_showing_it(router):
    unsafe = "hf_two words"  # requests would quote it in its InvalidHeader message
    with pytest.raises(AuthError, match="^HUGGINGFACE_TOKEN holds characters an HTTP header cannot carry$") as caught:
        HuggingFaceProvider(hf_config(router, token=unsafe)).upscale(request_for(4))
    assert all(unsafe not in text for text in error_chain_texts(caught.value))
    assert router.state.requests == []


def test_an_unknown_model_is_a_permanent_error(router):
    with pytest.raises(PermanentError, match=r"^model not served here \(HTTP 404\)$"):
        HuggingFaceProvider(hf_config(router, models={4: "nobody/missing"})).upscale(request_for(4))


def test_an_answer_over_the_size_cap_is_refused_before_it_is_read(router, monkeypatch):
    monkeypatch.setattr(huggingface, "MAX_BODY_BYTES", 1000)
    with pytest.raises(BadOutput, match=r"^answer of [\d,]+ bytes is over the 1,000-byte limit$"):
        HuggingFaceProvider(hf_config(router)).upscale(request_for(4))


# ----------------------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    "header, expected",
    [(7, 7.0), ("0", 0.0), (None, None), ("99999999999999999999", MAX_RETRY_AFTER_S), ("1e308", MAX_RETRY_AFTER_S),
     ("inf", MAX_RETRY_AFTER_S), ("-5", 0.0), ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S)],
)
def test_retry_after_in_seconds_is_put_on_the_rate_limited_error_bounded(router, header, expected):
    router.state.fault, router.state.retry_after = "429", header
    with pytest.raises(RateLimited) as caught:
        HuggingFaceProvider(hf_config(router)).upscale(request_for(4))
    assert caught.value.retry_after == expected


def test_retry_after_as_an_http_date_becomes_seconds_from_now(router):
    router.state.fault = "429"
    router.state.retry_after = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    with pytest.raises(RateLimited) as caught:
        HuggingFaceProvider(hf_config(router)).upscale(request_for(4))
    assert 115 <= caught.value.retry_after <= 120


def test_a_huge_retry_after_opens_the_tier_for_an_hour_and_every_later_run_still_ends_in_an_image(router):
    router.state.fault, router.state.retry_after = "429", "99999999999999999999"
    engine = hf_then_lanczos(hf_config(router, timeout=5.0))
    first = engine.enhance(input_png(), scale=4)
    later = engine.enhance(input_png(), scale=4)  # the breaker now holds the bounded wait: no overflow anywhere

    assert first.attempts[0].reason == "rate limited by Hugging Face (HTTP 429), retry after 3600 s"
    assert (later.provider, later.attempts[0].outcome) == ("lanczos", "skipped")
    assert len(router.state.requests) == 1


def test_a_huge_estimated_loading_time_is_bounded(router):
    router.state.fault, router.state.estimated_time = "503", 1e308
    with pytest.raises(TransientError, match=r"^model is loading \(HTTP 503\), ready in about 3600 s$"):
        HuggingFaceProvider(hf_config(router, timeout=5.0)).upscale(request_for(4))


# ---------------------------------------------------------------------------------- hostile answers


@pytest.mark.parametrize("style", ECHO_STYLES)
def test_a_token_echoed_back_in_any_spelling_is_masked_in_the_reason(router, style):
    router.state.fault, router.state.echo_style = "echo-token", style
    result = hf_then_lanczos(hf_config(router, timeout=5.0)).enhance(input_png(), scale=4)

    reason = result.attempts[0].reason
    assert reason.startswith("Hugging Face server error (HTTP 500): upstream")
    assert leaked_fragments(TOKEN, reason, window=6) == []
    assert leaked_fragments(TOKEN, json.dumps(result.to_dict()), window=6) == []


def test_a_redirect_is_not_followed_so_neither_the_token_nor_the_image_reach_another_host(router):
    with hf_router() as elsewhere:
        router.state.fault, router.state.redirect_to = "redirect", elsewhere.url + "/models/" + SD_X4
        with pytest.raises(PermanentError, match=r"answered with a redirect \(HTTP 307\), not followed"):
            HuggingFaceProvider(hf_config(router, timeout=5.0)).upscale(request_for(4))
        assert elsewhere.state.requests == []
    assert len(router.state.requests) == 1


def test_an_answer_declaring_a_huge_length_is_refused_before_it_is_read(router):
    router.state.fault = "huge-length"
    started = time.monotonic()
    with pytest.raises(BadOutput, match=r"^answer of 10,000,000,000 bytes is over the [\d,]+-byte limit$"):
        HuggingFaceProvider(hf_config(router, timeout=5.0)).upscale(request_for(4))
    assert time.monotonic() - started < 0.5


def test_the_answer_cap_follows_the_size_asked_not_a_fixed_64_mb(router):
    provider = HuggingFaceProvider(hf_config(router, timeout=5.0))
    small, large = request_for(4), UpscaleRequest(image=np.zeros((500, 500, 3), np.float32), scale=4)

    assert provider._max_answer_bytes(small) == 64 * 48 * 4 * 8 + 1024 * 1024
    assert provider._max_answer_bytes(large) == huggingface.MAX_BODY_BYTES  # 2000x2000 x 4 x 8 B is over 64 MiB


# ------------------------------------------------------------------------------------- cancel, deadline


def run_in_thread(provider: HuggingFaceProvider, request: UpscaleRequest) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def work() -> None:
        try:
            box["output"] = provider.upscale(request)
        except ProviderError as error:
            box["error"] = error
        box["ended"] = time.monotonic()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, box


def test_cancel_stops_a_download_blocked_in_a_read_at_once(router):
    router.state.fault = "stall"  # half the image, then silence: only cutting the socket ends the read
    provider = HuggingFaceProvider(hf_config(router, timeout=10.0))
    request = request_for(4)
    thread, box = run_in_thread(provider, request)
    time.sleep(0.3)

    cancelled_at = time.monotonic()
    request.cancel_event.set()  # what the engine does when it gives up: set the flag, then call cancel()
    provider.cancel(request)
    thread.join(timeout=2.0)

    assert isinstance(box.get("error"), Cancelled)
    assert box["ended"] - cancelled_at < 0.3, "the worker stayed blocked in its read"


def test_the_deadline_cuts_a_read_that_is_blocked_when_it_passes(router):
    # a byte every 0.5 s: no single socket read times out, so only the watchdog can end the call on time
    router.state.fault, router.state.drip_seconds = "slow", 10_000.0
    provider = HuggingFaceProvider(hf_config(router, timeout=0.7))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"^timed out after 0\.7 s"):
        provider.upscale(request_for(4))
    assert 0.7 <= time.monotonic() - started < 1.0


def test_the_deadline_is_checked_between_reads_even_where_the_socket_cannot_be_cut(router, monkeypatch):
    monkeypatch.setattr(direct, "_cut", lambda response: None)  # as if urllib3 hid its socket from us
    router.state.fault = "slow"  # a byte every few milliseconds: each read returns, none times out
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"^timed out after 1\.0 s before the answer was complete$"):
        HuggingFaceProvider(hf_config(router)).upscale(request_for(4))
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.2


def test_cancel_before_the_call_sends_nothing(router):
    request = request_for(4)
    request.cancel_event.set()
    with pytest.raises(Cancelled):
        HuggingFaceProvider(hf_config(router)).upscale(request)
    assert router.state.requests == []


def test_the_session_is_made_on_first_use_not_in_the_constructor(router):
    provider = HuggingFaceProvider(hf_config(router))
    assert not provider._direct.started
    provider.upscale(request_for(2))
    assert provider._direct.started
