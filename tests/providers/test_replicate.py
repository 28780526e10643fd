"""The Replicate tier with the real replicate SDK against our Replicate API on 127.0.0.1, through the engine.

Every fault ends in a typed, one-line reason on the Replicate attempt while the Lanczos tier delivers the image,
within the tier's deadline; an abandoned prediction is cancelled on the server; the token shows up nowhere.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any

import pytest
import replicate

from hdcore import AllTiersFailed, Config, Engine, InvalidInput, Secret
from hdcore.attempts import Attempt, Cost
from hdcore.errors import Cancelled, RateLimited, TransientError
from hdcore.images import load_image
from hdcore.prices import PriceTable
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers.replicate import ReplicateProvider, allowed_output_url, sdk_base_url
from hdcore.providers import ProviderSpec, Registry
from tests.conftest import photo, png_bytes
from tests.servers.base import LocalServer, QuietHandler
from tests.servers.replicate_server import (
    REAL_ESRGAN,
    REAL_ESRGAN_VERSION,
    REFINER,
    REFINER_VERSION,
    SWINIR,
    SWINIR_VERSION,
    TOKEN,
    ReplicateServer,
)

FAST_TIER = 1.5  # seconds: every fault test ends within about this
SYNC_TIER = 4.0  # long enough for the provider to ask for Prefer: wait
SMALL = (16, 12)


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
    config = Config(timeouts={"replicate": tier, "lanczos": None}, prices=prices or {})
    return config.with_settings({"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": server.api_url, **settings})


def engine_for(server: ReplicateServer, tier: float = FAST_TIER, **changes: Any) -> Engine:
    registry = Registry([ProviderSpec("replicate", ReplicateProvider), ProviderSpec("lanczos", LanczosProvider)])
    return Engine(config_for(server, tier, **changes), registry)


def image(size: tuple[int, int] = SMALL) -> bytes:
    return png_bytes(photo(size))


def replicate_attempt(result) -> Attempt:
    return next(attempt for attempt in result.attempts if attempt.provider == "replicate")


def created_inputs(server: ReplicateServer) -> list[dict[str, Any]]:
    creates = [r for r in server.state.requests if r.method == "POST" and r.path == "/v1/predictions"]
    return [json.loads(r.body) for r in creates]


def assert_token_hidden(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for text in (caplog.text, *texts):
        assert TOKEN not in text
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


# ----------------------------------------------------------------------------------------------- successes


def test_success_with_prefer_wait_answers_in_one_round_trip(server, every_log_line):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    attempt = replicate_attempt(result)
    assert (result.provider, attempt.outcome, result.image.size) == ("replicate", "ok", (32, 24))
    creates = [r for r in server.state.requests if r.path == "/v1/predictions"]
    assert len(creates) == 1 and creates[0].headers["Prefer"].startswith("wait=")
    assert not any(path.startswith("/v1/predictions/") for path in server.state.paths("GET"))  # no polling
    body = created_inputs(server)[0]
    assert body["version"] == REAL_ESRGAN_VERSION
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
    prices = {"second:gpu-t4": 0.001}
    result = engine_for(server, SYNC_TIER, prices=prices).enhance(image(), scale=2)

    assert replicate_attempt(result).cost_usd == pytest.approx(1.8 * 0.001)


def test_data_uri_output_is_accepted(server):
    server.state.output_mode = "data-uri"
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2)

    assert (result.provider, result.image.size) == ("replicate", (32, 24))
    assert not any(path.startswith("/files/") for path in server.state.paths())


def test_3x_asks_4x_and_is_resized_exactly_without_a_warning(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=3)

    assert created_inputs(server)[0]["input"]["scale"] == 4
    assert (result.provider, result.image.size, result.warnings) == ("replicate", (48, 36), [])


def test_face_enhance_option_is_passed_through(server):
    engine_for(server, SYNC_TIER).enhance(image(), scale=2, face_enhance=True)

    assert created_inputs(server)[0]["input"]["face_enhance"] is True


def test_swinir_gets_its_schema_inputs_and_its_latest_version_once(server):
    engine = engine_for(server, SYNC_TIER)
    first = engine.enhance(image(), scale=2, model=SWINIR)
    engine.enhance(image(), scale=2, model=SWINIR)

    assert (first.provider, first.model, first.image.size, first.warnings) == ("replicate", SWINIR, (32, 24), [])
    assert server.state.paths("GET").count(f"/v1/models/{SWINIR}") == 1  # the version lookup is cached
    body = created_inputs(server)[0]
    assert body["version"] == SWINIR_VERSION
    assert set(body["input"]) == {"image", "task_type"}
    assert body["input"]["task_type"] == "Real-World Image Super-Resolution-Large"


def test_refiner_gets_its_schema_inputs_and_its_square_answer_is_resized_with_a_warning(server):
    result = engine_for(server, SYNC_TIER).enhance(image((32, 32)), scale=4, model=REFINER, creativity=0.4)

    body = created_inputs(server)[0]
    assert body["version"] == REFINER_VERSION
    assert body["input"]["resolution"] == "1024"
    assert (body["input"]["resemblance"], body["input"]["creativity"]) == (0.75, 0.4)
    assert (result.provider, result.image.size) == ("replicate", (128, 128))
    assert result.warnings == ["Replicate returned 1024x1024; resized to 128x128"]


def test_refiner_square_answer_for_a_wide_input_is_bad_output(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=REFINER)

    attempt = replicate_attempt(result)
    assert (attempt.outcome, result.provider) == ("error", "lanczos")
    assert attempt.reason == "output is 1024x1024, not the shape of the 16x12 input"


def test_bad_refiner_option_is_the_callers_mistake_and_nothing_is_sent(server):
    with pytest.raises(InvalidInput, match="resemblance must be a number from 0 to 1"):
        engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=REFINER, resemblance=3)
    assert server.state.requests == []


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
    ("failed", "error", "prediction failed: CUDA out of memory. Tried to allocate 2.00 GiB", False),
    ("canceled", "error", "prediction was canceled on Replicate's side", False),
    ("non-image", "error", "output is not an image", False),
    ("truncated", "error", "output is not an image: truncated or corrupt PNG data", False),
    ("wrong-size", "error", "output is 50x50, not the shape of the 16x12 input", False),
    ("slow", "timeout", "", True),
    ("poll-500", "timeout", "", True),
    ("slow-download", "timeout", "", False),
]


@pytest.mark.parametrize(("fault", "outcome", "reason", "cancelled"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_falls_back_to_lanczos_with_a_typed_reason(server, every_log_line, fault, outcome, reason, cancelled):
    server.state.fault = fault
    started = time.monotonic()
    result = engine_for(server).enhance(image(), scale=2)
    elapsed = time.monotonic() - started

    attempt = replicate_attempt(result)
    assert (result.provider, result.image.size) == ("lanczos", (32, 24))
    assert attempt.outcome == outcome
    assert reason in attempt.reason and "\n" not in attempt.reason
    assert elapsed < FAST_TIER + 1.0
    creates = [p for p in server.state.paths("POST") if p == "/v1/predictions"]
    assert len(creates) == 1  # a create is never retried: it would be a second paid prediction
    if cancelled:
        assert server.state.wait_for_cancel() == list(server.state.predictions)
    assert_token_hidden(every_log_line, str(result.to_dict()), repr(result.attempts))


def direct_request(tier: float = FAST_TIER) -> UpscaleRequest:
    """A request as the engine makes it, for calling the provider itself."""
    return UpscaleRequest(load_image(image()).color, 2, deadline=time.monotonic() + tier)


def test_rate_limit_without_retry_after_has_none(server):
    server.state.fault, server.state.retry_after = "429", None
    with pytest.raises(RateLimited) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    assert caught.value.retry_after is None
    assert str(caught.value) == "rate limited by Replicate (HTTP 429)"


def test_an_echoed_token_is_scrubbed_from_the_error_and_its_chained_cause(server):
    server.state.fault = "echo-token"
    with pytest.raises(TransientError) as caught:
        ReplicateProvider(config_for(server)).upscale(direct_request())

    cause = caught.value.__cause__
    for text in (str(caught.value), repr(caught.value), str(cause), repr(cause)):
        assert TOKEN not in text


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


def test_skip_reason_names_the_limit_before_anything_runs():
    provider = ReplicateProvider(Config().with_settings({"REPLICATE_API_TOKEN": TOKEN}))

    assert provider.skip_reason((2560, 1440), 4) == ""
    assert "4000x3000 exceeds Replicate's input limit of 3,686,400 px" in provider.skip_reason((4000, 3000), 2)


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


def test_versioned_model_names_are_served():
    provider = ReplicateProvider(Config().with_settings({"REPLICATE_API_TOKEN": TOKEN}))

    assert provider.serves(f"{SWINIR}:{SWINIR_VERSION}") and provider.serves(SWINIR)
    assert provider.scales(f"{SWINIR}:{SWINIR_VERSION}") == (2, 3, 4)
    assert not provider.serves("someone/else") and not provider.serves(f"{SWINIR}:")


def test_the_server_answers_the_sdks_own_run_path(server):
    # replicate.run() is not what the tier uses, but the double must answer it as Replicate does:
    # POST /v1/predictions with Prefer: wait, then GET .../versions/{id}; and the official-model create path.
    client = replicate.Client(api_token=TOKEN, base_url=server.url)
    source = f"data:image/png;base64,{base64.b64encode(image()).decode()}"
    output = client.run(f"{REAL_ESRGAN}:{REAL_ESRGAN_VERSION}", input={"image": source, "scale": 2})
    by_model = client.models.predictions.create(model=REAL_ESRGAN, input={"image": source}, wait=2)

    assert output.startswith(f"{server.url}/files/")  # FileOutput only wraps https: and data: outputs
    assert f"/v1/models/{REAL_ESRGAN}/versions/{REAL_ESRGAN_VERSION}" in server.state.paths("GET")
    assert (by_model.status, by_model.version) == ("succeeded", REAL_ESRGAN_VERSION)


# ---------------------------------------------------------------------------------------------------- prices


def test_price_table_defaults_and_overrides():
    table = PriceTable.with_overrides({"run:jingyunliang/swinir": 0.5, "replicate:gpu-a100-large": 0.002, "hf:x": 1})

    assert table.estimate("nightmareai/real-esrgan:abc") == Cost(0.0019, "estimated")
    assert table.estimate(SWINIR) == Cost(0.5, "estimated")
    assert table.measured(REFINER, 2.0) == Cost(pytest.approx(0.004), "measured")
    assert table.measured(SWINIR, None) == Cost(0.5, "estimated")
    assert table.estimate("someone/else") == Cost()
