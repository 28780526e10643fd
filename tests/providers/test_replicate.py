"""The Replicate tier with the real replicate SDK against our Replicate API on 127.0.0.1, through the engine.

Every fault ends in a typed, one-line reason on the Replicate attempt while the Lanczos tier delivers the image,
within the tier's deadline; every create carries Cancel-After, so Replicate itself ends an abandoned prediction;
an abandoned prediction is also cancelled on the server; the token shows up nowhere.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import replicate

from hdcore import AllTiersFailed, Config, Engine, InvalidInput
from hdcore.config import BudgetSettings, HedgeSettings
from hdcore.attempts import Attempt
from hdcore.engine.budget import MemoryLedger
from hdcore.errors import Cancelled, ProviderTimeout, RateLimited, RequestRejected, TransientError
from hdcore.images import load_image
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers.replicate import ReplicateProvider, allowed_output_url, sdk_base_url
from hdcore.providers import ProviderSpec, Registry
from tests.conftest import photo, png_bytes
from tests.servers.base import LocalServer, QuietHandler
from tests.servers.replicate_server import (
    REAL_ESRGAN,
    REAL_ESRGAN_VERSION,
    RECRAFT_CRISP,
    SWINIR,
    SWINIR_VERSION,
    TOKEN,
    ReplicateServer,
)

FAST_TIER = 1.5  # seconds: every fault test ends within about this
SYNC_TIER = 4.0  # long enough for the provider to ask for Prefer: wait
SMALL = (16, 12)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def server():
    with ReplicateServer() as running:
        yield running


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and the SDK included
    return caplog


def config_for(server: ReplicateServer, tier: float = FAST_TIER, prices: dict | None = None, **settings: str) -> Config:
    config = Config(timeouts={"replicate": tier, "lanczos": None}, prices=prices or {},
                    hedge=HedgeSettings(enabled=False))  # fmt: skip
    return config.with_settings({"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": server.api_url, **settings})


def engine_for(server: ReplicateServer, tier: float = FAST_TIER, ledger: MemoryLedger | None = None,
               **changes: Any) -> Engine:  # fmt: skip
    registry = Registry([ProviderSpec("replicate", ReplicateProvider), ProviderSpec("lanczos", LanczosProvider)])
    config = config_for(server, tier, **changes)
    if ledger is not None:
        config = config.with_changes(budget=BudgetSettings(max_per_day=10.0))
    return Engine(config, registry, ledger=ledger)


def image(size: tuple[int, int] = SMALL) -> bytes:
    return png_bytes(photo(size))


def replicate_attempt(result) -> Attempt:
    return next(attempt for attempt in result.attempts if attempt.provider == "replicate")


def created_bodies(server: ReplicateServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.state.creates()]


def assert_token_hidden(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    forms = (TOKEN, TOKEN.lower(), TOKEN.upper(), quote(f"Bearer {TOKEN}".upper(), safe=""))
    for text in (caplog.text, *texts):
        assert not any(form in text for form in forms)
    assert all(TOKEN.lower() not in record.getMessage().lower() for record in caplog.records)


def direct_request(tier: float = FAST_TIER, data: bytes | None = None, **options: Any) -> UpscaleRequest:
    """A request as the engine makes it, for calling the provider itself."""
    return UpscaleRequest(load_image(data or image()).color, 2, options=options, deadline=time.monotonic() + tier)


# ----------------------------------------------------------------------------------------------- successes


def test_success_with_prefer_wait_answers_in_one_round_trip(server, every_log_line):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (result.provider, attempt.outcome, result.image.size) == ("replicate", "ok", (32, 24))
    creates = server.state.creates()
    assert len(creates) == 1 and creates[0].headers["Prefer"].startswith("wait=")
    assert not any(path.startswith("/v1/predictions/") for path in server.state.paths("GET"))  # no polling
    body = created_bodies(server)[0]
    assert creates[0].path == "/v1/predictions" and body["version"] == REAL_ESRGAN_VERSION  # the seed's pin
    assert body["input"]["image"].startswith("data:image/png;base64,")
    assert (body["input"]["scale"], body["input"]["face_enhance"]) == (2, False)
    assert creates[0].headers["Authorization"] == f"Bearer {TOKEN}"  # so the log check below means something
    assert_token_hidden(every_log_line, str(result.to_dict()))


def test_success_by_polling_when_the_deadline_leaves_no_room_to_wait(server):
    result = engine_for(server, FAST_TIER).enhance(image(), scale=4)

    assert (result.provider, result.image.size) == ("replicate", (64, 48))
    assert "Prefer" not in server.state.requests[0].headers
    prediction_id = next(iter(server.state.predictions))
    assert f"/v1/predictions/{prediction_id}" in server.state.paths("GET")
    assert server.state.cancels == []  # it finished: nothing to cancel


@pytest.mark.parametrize(("tier", "header"), [(FAST_TIER, "7s"), (SYNC_TIER, "9s")])
def test_every_create_carries_cancel_after_the_deadline_plus_the_margin(server, tier, header):
    engine_for(server, tier).enhance(image(), scale=2)

    (create,) = server.state.creates()
    assert create.headers["Cancel-After"] == header  # the tier's time left + 5 s, whole seconds rounded up
    (prediction,) = server.state.predictions.values()
    assert prediction.cancel_after == float(header.removesuffix("s"))  # the server read the deadline


def test_the_cancel_after_margin_is_a_setting(server):
    engine_for(server, 10.0, HDCORE_REPLICATE_CANCEL_AFTER_MARGIN="30").enhance(image(), scale=2)

    assert server.state.creates()[0].headers["Cancel-After"] == "40s"


def test_cost_is_measured_from_predict_time(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (attempt.cost_kind, attempt.cost_usd) == ("measured", pytest.approx(1.8 * 0.000225))


def test_cost_is_the_catalogue_estimate_without_metrics(server):
    server.state.predict_time = None
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (attempt.cost_kind, attempt.cost_usd) == ("estimated", pytest.approx(0.0019))


def test_price_overrides_from_config_reach_the_cost(server):
    prices = {"replicate:second:gpu-t4": 0.001}
    result = engine_for(server, SYNC_TIER, prices=prices).enhance(image(), scale=2)

    assert replicate_attempt(result).cost_usd == pytest.approx(1.8 * 0.001)


def test_data_uri_output_is_accepted(server):
    server.state.output_mode = "data-uri"
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    assert (result.provider, result.image.size) == ("replicate", (32, 24))
    assert not any(path.startswith("/files/") for path in server.state.paths())


def test_3x_asks_4x_and_is_resized_exactly_without_a_warning(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=3)

    assert created_bodies(server)[0]["input"]["scale"] == 4
    assert (result.provider, result.image.size, result.warnings) == ("replicate", (48, 36), [])


def test_face_enhance_option_is_passed_through(server):
    engine_for(server, SYNC_TIER).enhance(image(), scale=2, face_enhance=True)

    assert created_bodies(server)[0]["input"]["face_enhance"] is True


def test_swinir_gets_its_schema_inputs_and_its_latest_version_once(server):
    engine = engine_for(server, SYNC_TIER)
    first = engine.enhance(image(), scale=2, model=SWINIR)
    engine.enhance(image(), scale=2, model=SWINIR)

    assert (first.provider, first.model, first.image.size, first.warnings) == ("replicate", SWINIR, (32, 24), [])
    assert server.state.paths("GET").count(f"/v1/models/{SWINIR}") == 1  # the version lookup is cached
    body = created_bodies(server)[0]
    assert body["version"] == SWINIR_VERSION
    assert set(body["input"]) == {"image", "task_type"}
    assert body["input"]["task_type"] == "Real-World Image Super-Resolution-Large"


def test_bad_refiner_option_is_the_callers_mistake_and_nothing_is_sent(server):
    with pytest.raises(InvalidInput, match="resemblance must be a number from 0 to 1"):
        engine_for(server, SYNC_TIER).enhance(image(), scale=2, model="fermatresearch/magic-image-refiner",
                                              resemblance=3)  # fmt: skip
    assert server.state.requests == []


# --------------------------------------------------------------------------------- the Files API for inputs


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    from PIL import Image

    return png_bytes(Image.fromarray(pixels))


def test_an_input_over_1_mb_is_uploaded_and_the_prediction_gets_the_file_url(server):
    data = noise_png((620, 600))  # ~1.1 MB of PNG: ~1.5 MB as a data URI
    result = engine_for(server, 20.0).enhance(data, scale=2)

    assert (result.provider, result.image.size) == ("replicate", (1240, 1200))
    (upload,) = [r for r in server.state.requests if r.method == "POST" and r.path == "/v1/files"]
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    (file_id,) = [entry["json"]["id"] for entry in server.state.uploads.values()] or server.state.deleted_uploads
    assert created_bodies(server)[0]["input"]["image"] == f"{server.url}/v1/files/{file_id}"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and file_id not in server.state.deleted_uploads:
        time.sleep(0.02)
    assert server.state.deleted_uploads == [file_id]  # the user's image is not left on Replicate for a day


def test_an_input_under_1_mb_goes_as_a_data_uri(server):
    engine_for(server, SYNC_TIER).enhance(noise_png((300, 300)), scale=2)  # ~270 kB

    assert created_bodies(server)[0]["input"]["image"].startswith("data:image/png;base64,")
    assert "/v1/files" not in server.state.paths("POST")


# ----------------------------------------------------------------------------------- aborted and the deadline


def test_a_prediction_still_queued_at_its_cancel_after_is_aborted_and_not_billed(server):
    server.state.fault, server.state.deadline_scale = "queued", 0.05  # "7s" ends it after 0.35 s
    ledger = MemoryLedger()
    result = engine_for(server, FAST_TIER, ledger=ledger).enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (result.provider, attempt.outcome) == ("lanczos", "timeout")
    assert attempt.reason == ("Replicate aborted the prediction before it started (its Cancel-After deadline "
                              "passed); not billed")  # fmt: skip
    assert [p.status for p in server.state.predictions.values()] == ["aborted"]
    assert ledger.spent_today() == 0.0  # the budget keeps nothing for it
    assert server.state.cancels == []  # it had already ended: nothing left to cancel


def test_an_aborted_prediction_raises_a_timeout_that_knows_it_cost_nothing(server):
    server.state.fault, server.state.deadline_scale = "queued", 0.05
    with pytest.raises(ProviderTimeout) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    assert caught.value.cost_usd == 0.0 and "aborted" in str(caught.value)


def test_a_prediction_abandoned_at_the_deadline_keeps_its_estimate_in_the_budget(server):
    server.state.fault = "slow"
    ledger = MemoryLedger()
    engine_for(server, FAST_TIER, ledger=ledger).enhance(image(), scale=2)

    assert server.state.wait_for_cancel() == list(server.state.predictions)
    assert ledger.spent_today() == pytest.approx(0.0019)  # it ran: it may have been billed


def test_when_our_process_dies_replicate_still_ends_the_prediction_by_its_cancel_after(server):
    """The worker process is killed (SIGKILL) while its prediction runs: no cancel can be sent, and the
    Cancel-After the server received ends the prediction anyway."""
    server.state.fault, server.state.deadline_scale = "slow", 0.2  # "9s" ends it 1.8 s after creation
    code = (
        "import time\n"
        "from hdcore import Config\n"
        "from hdcore.images import load_image\n"
        "from hdcore.providers.base import UpscaleRequest\n"
        "from hdcore.providers.replicate import ReplicateProvider\n"
        f"config = Config(timeouts={{'replicate': 4.0}}).with_settings({{'REPLICATE_API_TOKEN': {TOKEN!r}, "
        f"'REPLICATE_BASE_URL': {server.api_url!r}}})\n"
        f"request = UpscaleRequest(load_image({image()!r}).color, 2, deadline=time.monotonic() + 4.0)\n"
        "ReplicateProvider(config).upscale(request)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not server.state.predictions and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.02)
        assert server.state.predictions, "the worker never created its prediction"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    (prediction_id,) = server.state.predictions
    assert server.state.status_after(prediction_id, timeout=3.0) == "canceled"  # ended while it ran: billed
    assert server.state.cancels == []  # no cancel ever came from the killed process
    assert server.state.creates()[0].headers["Cancel-After"] == "9s"


# ------------------------------------------------------------------------------------------------- faults

FAULTS = [
    # fault, outcome, reason fragment, whether the abandoned prediction must be cancelled
    ("500", "error", "Replicate server error (HTTP 500): Something went wrong", False),
    ("429", "error", "rate limited by Replicate (HTTP 429); retry after 7 s", False),
    ("401", "error", "Replicate rejected the token (HTTP 401)", False),
    ("410", "error", "model not served here (HTTP 410): This version has been removed", False),
    ("reset", "error", "connection failed creating the prediction", False),
    ("hang", "timeout", "", False),
    ("echo-token", "error", "upstream refused Bearer ***", False),
    ("echo-token-altered", "error", "upstream refused bearer *** (sent as BEARER%20***)", False),
    ("redirect", "error", "Replicate answered a redirect (HTTP 307) creating the prediction; not followed", False),
    ("endless-answer", "timeout", "", False),
    ("failed", "error", "prediction failed: CUDA out of memory. Tried to allocate 2.00 GiB", False),
    ("canceled", "error", "prediction was canceled on Replicate's side", False),
    ("non-image", "error", "output is not an image", False),
    ("truncated", "error", "output is not an image: truncated or corrupt PNG data", False),
    ("wrong-size", "error", "output is 50x50, not the shape of the 16x12 input", False),
    ("expired-output", "error", "the output file is gone (HTTP 404): Replicate keeps outputs about an hour", False),
    ("slow", "timeout", "", True),
    ("queued", "timeout", "", True),
    ("poll-500", "timeout", "", True),
    ("poll-429", "timeout", "", True),
    ("slow-download", "timeout", "", False),
]


@pytest.mark.parametrize(("fault", "outcome", "reason", "cancelled"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_falls_back_to_lanczos_with_a_typed_reason(server, every_log_line, fault, outcome, reason, cancelled):
    with LocalServer(_AnyFile) as elsewhere:
        server.state.fault, server.state.redirect_to = fault, elsewhere.url
        started = time.monotonic()
        result = engine_for(server).enhance(image(), scale=2)
        elapsed = time.monotonic() - started
    assert elsewhere.state.requests == []  # a redirect is never followed: the token never goes elsewhere

    attempt = replicate_attempt(result)
    assert (result.provider, result.image.size) == ("lanczos", (32, 24))
    assert attempt.outcome == outcome
    assert reason in attempt.reason and "\n" not in attempt.reason
    assert elapsed < FAST_TIER + 1.0
    assert len(server.state.creates()) == 1  # a create is never retried: it would be a second paid prediction
    if cancelled:
        assert server.state.wait_for_cancel() == list(server.state.predictions)
    assert_token_hidden(every_log_line, str(result.to_dict()), repr(result.attempts))


def test_a_huge_retry_after_on_the_create_is_bounded_to_an_hour_and_costs_nothing(server):
    server.state.fault, server.state.retry_after = "429", "99999999999999999999"
    with pytest.raises(RateLimited) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    assert caught.value.retry_after == 3600.0 and caught.value.cost_usd == 0.0
    assert str(caught.value) == "rate limited by Replicate (HTTP 429); retry after 3600 s"


def test_a_huge_retry_after_while_polling_never_sleeps_past_the_deadline(server):
    server.state.fault, server.state.retry_after = "poll-429", "1e308"
    server.state.honour_wait = False
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        ReplicateProvider(config_for(server)).upscale(direct_request(FAST_TIER))

    assert time.monotonic() - started < FAST_TIER + 0.5
    assert server.state.wait_for_cancel() == list(server.state.predictions)


def test_rate_limit_without_retry_after_has_none(server):
    server.state.fault, server.state.retry_after = "429", None
    with pytest.raises(RateLimited) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    assert caught.value.retry_after is None
    assert str(caught.value) == "rate limited by Replicate (HTTP 429)"


def test_an_input_replicate_refuses_fails_this_attempt_only_and_says_why(server):
    # The server validates as Replicate does: a schema that allows at most 2x refuses the 4x pass with 422.
    server.state.models[REAL_ESRGAN]["schema"]["components"]["schemas"]["Input"]["properties"]["scale"]["maximum"] = 2
    with pytest.raises(RequestRejected) as caught:
        ReplicateProvider(config_for(server)).upscale(UpscaleRequest(load_image(image()).color, 4,
                                                                     deadline=time.monotonic() + FAST_TIER))

    assert str(caught.value) == "Replicate rejected the request (HTTP 422): scale: Must be less than or equal to 2"
    assert caught.value.cost_usd == 0.0  # refused before anything ran
    assert len(server.state.creates()) == 1 and server.state.predictions == {}


def test_an_echoed_token_is_scrubbed_from_the_error_and_its_chained_cause(server):
    server.state.fault = "echo-token-altered"
    with pytest.raises(TransientError) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    cause = caught.value.__cause__
    for text in (str(caught.value), repr(caught.value), str(cause), repr(cause)):
        assert TOKEN.lower() not in text.lower() and quote(TOKEN.upper(), safe="") not in text


def test_a_token_at_the_cut_is_masked_before_the_text_is_shortened(server):
    server.state.fault = "failed"
    server.state.error_text = "x" * 190 + " " + TOKEN + " and more"
    with pytest.raises(TransientError) as caught:
        ReplicateProvider(config_for(server, SYNC_TIER)).upscale(direct_request(SYNC_TIER))

    assert TOKEN[:8] not in str(caught.value) and "***" in str(caught.value)


def test_when_every_tier_fails_the_error_text_has_no_token(server, every_log_line):
    server.state.fault = "echo-token"
    with pytest.raises(AllTiersFailed) as caught:
        engine_for(server).enhance(image(), scale=2, provider="replicate")

    assert "upstream refused Bearer ***" in str(caught.value)
    assert_token_hidden(every_log_line, str(caught.value), repr(caught.value), repr(caught.value.attempts))


def test_unknown_model_version_lookup_is_permanent(server):
    del server.state.models[SWINIR]
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=SWINIR)

    attempt = replicate_attempt(result)
    assert (attempt.outcome, attempt.reason) == ("error", f"model not served here (HTTP 404): Model {SWINIR} not found")


# -------------------------------------------------------------------------------------------- cancelling


def test_caller_cancel_stops_the_polled_prediction(server):
    server.state.fault, server.state.honour_wait = "slow", False  # answered at once, then polled
    cancel = threading.Event()
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            engine_for(server, 5.0).enhance(image(), scale=2, cancel=cancel)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    _wait_until(lambda: any(server.state.predictions) and "/v1/predictions/" in "".join(server.state.paths("GET")))
    cancel.set()
    worker.join(timeout=3)

    assert isinstance(outcome.get("error"), Cancelled)
    assert server.state.wait_for_cancel() == list(server.state.predictions)


def test_cancel_during_a_held_create_still_cancels_once_the_id_is_known(server):
    server.state.fault = "slow"  # the create is held for its whole Prefer: wait
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        engine_for(server, SYNC_TIER).enhance(image(), scale=2, cancel=cancel)

    assert time.monotonic() - started < 1.0  # the caller is not kept waiting for the held create
    assert server.state.wait_for_cancel(timeout=SYNC_TIER) == list(server.state.predictions)
    assert len(server.state.cancels) == 1


def _wait_until(condition, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


# -------------------------------------------------------------------------------------------- input limit


def test_oversize_input_is_refused_without_any_request(server):
    result = engine_for(server, SYNC_TIER, HDCORE_REPLICATE_MAX_INPUT_PIXELS="100").enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (result.provider, attempt.outcome) == ("lanczos", "skipped")
    assert attempt.reason == "input 16x12 exceeds Replicate's input limit of 100 px (about 1440p); not sent"
    assert server.state.requests == []


def test_a_models_own_limit_skips_the_tier_before_anything_is_sent(server):
    result = engine_for(server, SYNC_TIER).enhance(_wide_png(), scale=2, model=RECRAFT_CRISP)

    attempt = replicate_attempt(result)
    assert (result.provider, attempt.outcome) == ("lanczos", "skipped")
    assert attempt.reason == f"input 4100x8 is over {RECRAFT_CRISP}'s limit of 4096 px a side; not sent"
    assert server.state.requests == []


def _wide_png() -> bytes:
    from PIL import Image

    return png_bytes(Image.new("RGB", (4100, 8), (120, 80, 40)))


# ------------------------------------------------------------------------------------------ output hosts


class _AnyFile(QuietHandler):
    def do_GET(self) -> None:
        self.state.record(self, b"")
        self.send_bytes(200, image(), "image/png")


def test_output_on_another_host_is_refused_and_never_fetched(server):
    with LocalServer(_AnyFile) as elsewhere:
        port = elsewhere.url.rsplit(":", 1)[1]
        server.state.output_base = f"http://localhost:{port}"
        result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

        attempt = replicate_attempt(result)
        assert (result.provider, attempt.outcome) == ("lanczos", "error")
        assert attempt.reason == "refusing to fetch output from localhost"
        assert elsewhere.state.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://replicate.delivery/pbxt/abc/out.png", True),
        ("https://tjzk.replicate.delivery/models/out.png", True),
        ("http://replicate.delivery/pbxt/abc/out.png", False),  # only over https
        ("https://replicate.delivery.evil.example/out.png", False),
        ("https://evilreplicate.delivery/out.png", False),
        ("https://replicate.delivery@evil.example/out.png", False),
        ("http://127.0.0.1:8000/files/out.png", True),  # the configured API's own origin
        ("http://127.0.0.1:8001/files/out.png", False),  # same host, another port: another server
        ("http://localhost:8000/files/out.png", False),
        ("file:///etc/passwd", False),
    ],
)
def test_output_host_allow_list(url, allowed):
    assert allowed_output_url(url, "http://127.0.0.1:8000/v1") is allowed


# -------------------------------------------------------------------------------------- client and secrets


def test_constructor_does_no_io_and_the_sdk_client_is_built_once(server):
    provider = ReplicateProvider(config_for(server))
    assert server.state.requests == []

    client = provider._sdk()
    assert provider._sdk() is client
    assert client._client._transport.max_attempts == 1  # the SDK's own unbounded GET retries are off


def test_token_is_in_no_repr_or_str(server):
    provider = ReplicateProvider(config_for(server))
    provider._sdk()

    for text in (repr(provider), str(provider), repr(provider.config), str(vars(provider))):
        assert TOKEN not in text


def test_base_url_in_replicates_documented_form_is_given_to_the_sdk_without_v1():
    assert sdk_base_url("https://api.replicate.com/v1") == "https://api.replicate.com"
    assert sdk_base_url("https://api.replicate.com/v1/") == "https://api.replicate.com"
    assert sdk_base_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_unconfigured_without_a_token():
    assert ReplicateProvider(Config()).is_configured() is False


def test_the_server_answers_the_sdks_own_run_path(server):
    # replicate.run() is not what the tier uses, but the double must answer it as Replicate does:
    # POST /v1/predictions with Prefer: wait, then GET .../versions/{id}; and the official-model create path,
    # which Replicate answers 404 for a community model.
    client = replicate.Client(api_token=TOKEN, base_url=server.url)
    source = f"data:image/png;base64,{base64.b64encode(image()).decode()}"
    output = client.run(f"{REAL_ESRGAN}:{REAL_ESRGAN_VERSION}", input={"image": source, "scale": 2})
    by_name = client.models.predictions.create(model=RECRAFT_CRISP, input={"image": source}, wait=2)
    with pytest.raises(replicate.exceptions.ReplicateError) as community:
        client.models.predictions.create(model=REAL_ESRGAN, input={"image": source})

    assert output.startswith(f"{server.url}/files/")  # FileOutput only wraps https: and data: outputs
    assert f"/v1/models/{REAL_ESRGAN}/versions/{REAL_ESRGAN_VERSION}" in server.state.paths("GET")
    assert by_name.status == "succeeded"
    assert community.value.status == 404
