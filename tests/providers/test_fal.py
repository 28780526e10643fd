"""The fal tier against our fal queue API on 127.0.0.1, through the engine: submit, status, result and cancel as
fal documents them, each model sent the inputs its schema takes, every fault a typed one-line reason while the
Lanczos tier delivers, an abandoned request cancelled within seconds, and the key nowhere but on fal's API."""

from __future__ import annotations

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

import pytest

from hdcore import AllTiersFailed, Config, Engine, InvalidInput
from hdcore.attempts import Attempt, Cost
from hdcore.config import BudgetSettings, HedgeSettings
from hdcore.engine.budget import MemoryLedger
from hdcore.errors import Cancelled, PermanentError, ProviderTimeout, RateLimited, RequestRejected
from hdcore.images import load_image
from hdcore.providers import ProviderSpec, Registry
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.fal import FalProvider
from hdcore.providers.lanczos import LanczosProvider
from tests.conftest import photo, png_bytes
from tests.servers.base import LocalServer, QuietHandler
from tests.servers.fal_server import KEY, SCHEMAS, FalServer

TIER = 1.5
SLOW_TIER = 4.0
SECRET_PART = KEY.split(":")[1]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDVR = "fal-ai/seedvr/upscale/image"


@pytest.fixture
def server():
    with FalServer() as running:
        yield running


class _Recorder(QuietHandler):
    """Another host: whatever reaches it is recorded, and answered with an image."""

    def do_GET(self) -> None:
        self.state.record(self, b"")
        self.send_bytes(200, png_bytes(photo((32, 24))), "image/png")

    do_PUT = do_POST = do_GET


@pytest.fixture
def elsewhere(server):
    with LocalServer(_Recorder) as other:
        server.state.redirect_to = other.url
        yield other


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    return caplog


def config_for(server: FalServer, tier: float = TIER, **settings: str) -> Config:
    config = Config(timeouts={"fal": tier, "lanczos": None}, hedge=HedgeSettings(enabled=False))
    return config.with_settings({"FAL_KEY": KEY, "HDCORE_FAL_BASE_URL": server.url, **settings})


def engine_for(server: FalServer, tier: float = TIER, ledger: MemoryLedger | None = None) -> Engine:
    registry = Registry([ProviderSpec("fal", FalProvider), ProviderSpec("lanczos", LanczosProvider)])
    config = config_for(server, tier)
    if ledger is not None:
        config = config.with_changes(budget=BudgetSettings(max_per_day=10.0))
    return Engine(config, registry, ledger=ledger)


def image(size: tuple[int, int] = (16, 12)) -> bytes:
    return png_bytes(photo(size))


def fal_attempt(result) -> Attempt:
    return next(attempt for attempt in result.attempts if attempt.provider == "fal")


def submitted(server: FalServer) -> tuple[str, dict[str, Any], dict[str, str]]:
    (submit,) = server.state.submits()
    return submit.path, json.loads(submit.body), submit.headers


def direct_request(tier: float = TIER, scale: int = 2, **options: Any) -> UpscaleRequest:
    return UpscaleRequest(load_image(image()).color, scale, options=options, deadline=time.monotonic() + tier)


def assert_key_hidden(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    forms = (KEY, SECRET_PART, SECRET_PART.lower(), SECRET_PART.upper(), quote(f"Key {KEY}".upper(), safe=""))
    for text in (caplog.text, *texts, *(record.getMessage() for record in caplog.records)):
        assert not any(form in text for form in forms)


# ----------------------------------------------------------------------------------------------- successes


def test_the_queue_protocol_submit_status_result(server, every_log_line):
    result = engine_for(server).enhance(image(), scale=2)

    attempt = fal_attempt(result)
    assert (result.provider, attempt.outcome, result.image.size, result.warnings) == ("fal", "ok", (32, 24), [])
    path, body, headers = submitted(server)
    assert path == f"/{SEEDVR}" and headers["Authorization"] == f"Key {KEY}"
    assert body == {"image_url": body["image_url"], "upscale_mode": "factor", "upscale_factor": 2}
    assert body["image_url"].startswith("data:image/png;base64,")
    (job_id,) = server.state.jobs
    gets = [r.path for r in server.state.requests if r.method == "GET"]
    assert f"/fal-ai/seedvr/requests/{job_id}/status" in gets  # the app's owner and alias, not the full id
    assert gets[-2:] == [f"/fal-ai/seedvr/requests/{job_id}", f"/files/{job_id}.png"]
    assert server.state.cancels == []  # it completed: nothing to cancel
    assert (attempt.cost_kind, attempt.cost_usd) == ("estimated", pytest.approx(0.001 * 32 * 24 / 1e6))
    assert_key_hidden(every_log_line, json.dumps(result.to_dict()))


def test_the_submit_carries_the_deadline_so_fal_drops_a_request_still_queued_then(server):
    engine_for(server, SLOW_TIER).enhance(image(), scale=2)

    timeout = float(submitted(server)[2]["X-Fal-Request-Timeout"])
    assert SLOW_TIER - 0.3 < timeout <= SLOW_TIER


@pytest.mark.parametrize(
    ("model", "scale", "inputs", "warnings"),
    [
        ("fal-ai/esrgan", 3, {"image_url": ..., "scale": 3, "model": "RealESRGAN_x4plus", "face": True}, []),
        ("fal-ai/aura-sr", 2, {"image_url": ..., "upscaling_factor": 4, "checkpoint": "v2"}, []),  # 4x, then resized
        ("fal-ai/clarity-upscaler", 4,
         {"image_url": ..., "upscale_factor": 4, "creativity": 0.35, "resemblance": 0.6}, []),
        ("fal-ai/recraft/upscale/crisp", 2, {"image_url": ...}, ["fal returned 64x48; resized to 32x24"]),
        ("fal-ai/topaz/upscale/image", 3, {"image_url": ..., "model": "Standard V2", "upscale_factor": 3,
                                           "output_format": "png", "face_enhancement": True}, []),
    ],
)
def test_each_model_gets_the_inputs_its_schema_takes(server, model, scale, inputs, warnings):
    result = engine_for(server, SLOW_TIER).enhance(image(), scale=scale, model=model, face_enhance=True)

    path, body, _ = submitted(server)
    assert path == f"/{model}" and body == {**inputs, "image_url": body["image_url"]}
    assert (result.provider, result.model, result.image.size) == ("fal", model, (16 * scale, 12 * scale))
    assert result.warnings == warnings


def test_a_model_billed_by_time_costs_fals_inference_time(server):
    result = engine_for(server, SLOW_TIER).enhance(image(), scale=2, model="fal-ai/esrgan")

    attempt = fal_attempt(result)
    assert (attempt.cost_kind, attempt.cost_usd) == ("measured", pytest.approx(0.9 * 0.00111))


def test_estimates_follow_each_models_price_model():
    provider = FalProvider(Config(prices={"fal:fal-ai/clarity-upscaler": 0.05}))

    assert provider.estimate_cost(SEEDVR, (1000, 1000), 2) == Cost(pytest.approx(0.004), "estimated")  # 4 MP
    assert provider.estimate_cost("fal-ai/clarity-upscaler", (1000, 1000), 2).usd == pytest.approx(0.2)  # overridden
    assert provider.estimate_cost("fal-ai/recraft/upscale/crisp", (1000, 1000), 4).usd == 0.004
    assert provider.estimate_cost("fal-ai/topaz/upscale/image", (3000, 2000), 4).usd == pytest.approx(0.32)  # 96 MP
    assert provider.estimate_cost("fal-ai/aura-sr", (500, 500), 2).usd == pytest.approx(0.001 * 4)  # 4 MP at 4x
    rows = {row["Item"]: row for row in provider.price_rows()}
    assert rows[SEEDVR]["Unit"] == "per output megapixel" and rows["fal-ai/esrgan"]["Unit"] == "per second of compute"


# ------------------------------------------------------------------------------------------------- faults

FAULTS = [
    # fault, outcome, reason fragment, whether the abandoned request must be cancelled
    ("hang", "timeout", "timed out after 1.5 s", False),
    ("500", "error", "fal server error (HTTP 500): Internal Server Error", False),
    ("429", "error", "rate limited by fal (HTTP 429); retry after 7 s", False),
    ("401", "error", "fal rejected the key (HTTP 401)", False),
    ("404", "error", "model not served here (HTTP 404): Application not found", False),
    ("echo-key", "error", "fal server error (HTTP 500): gateway refused KEY%20", False),
    ("queued", "timeout", "timed out after 1.5 s", True),
    ("slow", "timeout", "timed out after 1.5 s", True),
    ("status-500", "timeout", "timed out after 1.5 s", True),
    ("status-redirect", "timeout", "timed out after 1.5 s", True),
    ("result-redirect", "error", "fal answered a redirect (HTTP 307) fetching the result; not followed", False),
    ("elsewhere", "error", "refusing to fetch output from 127.0.0.1", False),
    ("endless", "error", "fal's answer fetching the result is over 1,048,576 bytes", False),
    ("non-image", "error", "output is not an image", False),
    ("wrong-size", "error", "output is 50x50, expected 32x24", False),
    ("endless-file", "timeout", "timed out after 1.5 s", False),
    ("slow-download", "timeout", "timed out after 1.5 s", False),
]


@pytest.mark.parametrize(("fault", "outcome", "reason", "cancelled"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_falls_back_to_lanczos_with_a_typed_reason(server, elsewhere, every_log_line, fault, outcome, reason,
                                                         cancelled):  # fmt: skip
    server.state.fault = fault
    started = time.monotonic()
    result = engine_for(server).enhance(image(), scale=2)
    elapsed = time.monotonic() - started

    attempt = fal_attempt(result)
    assert (result.provider, result.image.size) == ("lanczos", (32, 24))
    assert (attempt.outcome, attempt.reason.startswith(reason), "\n" in attempt.reason) == (outcome, True, False), \
        attempt.reason
    assert elapsed < TIER + 1.0
    assert len(server.state.submits()) == 1  # a submit is never repeated: it would be a second paid run
    if cancelled:
        assert server.state.wait_for_cancel() == list(server.state.jobs)  # within seconds of the deadline
    assert elsewhere.state.requests == []  # no redirect was followed, no foreign file fetched: the key never left
    assert_key_hidden(every_log_line, json.dumps(result.to_dict()), repr(result.attempts))


def test_an_input_fal_refuses_fails_this_attempt_only_and_says_why(server):
    SCHEMAS[SEEDVR]["properties"]["upscale_factor"]["maximum"] = 1.5
    try:
        with pytest.raises(RequestRejected) as caught:
            FalProvider(config_for(server, SLOW_TIER)).upscale(direct_request(SLOW_TIER))
    finally:
        SCHEMAS[SEEDVR]["properties"]["upscale_factor"]["maximum"] = 10

    assert str(caught.value) == "fal rejected the request (HTTP 422): upscale_factor: Input should be between 1 and 1.5"
    assert server.state.cancels == []  # it had completed (with its error): nothing to cancel


def test_a_huge_retry_after_is_bounded_and_a_refused_submit_costs_nothing(server):
    server.state.fault, server.state.retry_after = "429", "1e308"
    with pytest.raises(RateLimited) as caught:
        FalProvider(config_for(server)).upscale(direct_request())

    assert (caught.value.retry_after, caught.value.cost_usd) == (3600.0, 0.0)


def test_a_request_given_up_while_still_queued_knows_it_cost_nothing(server):
    server.state.fault = "queued"
    with pytest.raises(ProviderTimeout) as caught:
        FalProvider(config_for(server)).upscale(direct_request())

    assert caught.value.cost_usd == 0.0  # fal bills compute, and it never started
    assert server.state.wait_for_cancel() == list(server.state.jobs)


def test_a_request_abandoned_while_it_ran_keeps_its_estimate_in_the_budget(server):
    server.state.fault = "slow"
    ledger = MemoryLedger()
    engine_for(server, ledger=ledger).enhance(image(), scale=2)

    assert ledger.spent_today() == pytest.approx(0.001 * 32 * 24 / 1e6)


def test_the_callers_cancel_cancels_the_request_on_fal(server):
    server.state.fault = "slow"
    cancel = threading.Event()
    threading.Timer(0.4, cancel.set).start()
    with pytest.raises(Cancelled):
        engine_for(server, SLOW_TIER).enhance(image(), scale=2, cancel=cancel)

    assert server.state.wait_for_cancel() == list(server.state.jobs) and len(server.state.cancels) == 1


def test_an_abandoned_request_is_cancelled_within_seconds_of_the_deadline(server):
    server.state.fault = "slow"
    with pytest.raises(ProviderTimeout):
        FalProvider(config_for(server)).upscale(direct_request())
    gave_up = time.monotonic()

    assert server.state.wait_for_cancel(timeout=2.0) == list(server.state.jobs)
    assert time.monotonic() - gave_up < 2.0


def test_when_our_process_dies_fal_drops_the_request_still_queued_at_its_timeout(server):
    server.state.fault = "queued"
    code = (
        "import time\n"
        "from hdcore import Config\n"
        "from hdcore.images import load_image\n"
        "from hdcore.providers.base import UpscaleRequest\n"
        "from hdcore.providers.fal import FalProvider\n"
        f"config = Config().with_settings({{'FAL_KEY': {KEY!r}, 'HDCORE_FAL_BASE_URL': {server.url!r}}})\n"
        f"request = UpscaleRequest(load_image({image()!r}).color, 2, deadline=time.monotonic() + 2.0)\n"
        "FalProvider(config).upscale(request)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        end = time.monotonic() + 30
        while not server.state.jobs and time.monotonic() < end and worker.poll() is None:
            time.sleep(0.02)
        assert server.state.jobs, "the worker never submitted its request"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    (job,) = server.state.jobs.values()
    time.sleep(max(0.0, job.start_timeout - (time.monotonic() - job.created)) + 0.1)
    from tests.servers.fal_server import advanced

    assert advanced(server.state, job).error == (504, "Request timed out before it started")  # never ran, never billed
    assert job.started is None and server.state.cancels == []


def test_an_echoed_key_is_masked_in_any_form(server, every_log_line):
    server.state.fault = "echo-key"
    with pytest.raises(AllTiersFailed) as caught:
        engine_for(server).enhance(image(), scale=2, provider="fal")

    assert_key_hidden(every_log_line, str(caught.value), repr(caught.value.attempts))


# ------------------------------------------------------------------------------------ configuration, hosts


def test_without_a_key_the_tier_is_skipped_as_not_configured():
    engine = Engine(Config(), Registry([ProviderSpec("fal", FalProvider), ProviderSpec("lanczos", LanczosProvider)]))
    result = engine.enhance(image(), scale=2)

    assert (fal_attempt(result).outcome, fal_attempt(result).reason) == ("skipped", "not configured (set FAL_KEY)")


def test_a_bad_option_or_an_unknown_model_fails_before_anything_is_sent(server):
    provider = FalProvider(config_for(server))
    with pytest.raises(InvalidInput, match="fal: option creativity must be a number from 0 to 1"):
        provider.upscale(UpscaleRequest(load_image(image()).color, 2, model="fal-ai/clarity-upscaler",
                                        options={"creativity": 7}))  # fmt: skip
    with pytest.raises(PermanentError, match="fal-ai/nothing is not a model this tier runs"):
        provider.upscale(UpscaleRequest(load_image(image()).color, 2, model="fal-ai/nothing"))
    assert server.state.requests == []


def test_the_constructor_does_no_io_and_nothing_shows_the_key(server):
    provider = FalProvider(config_for(server))
    assert server.state.requests == []
    provider._api()

    for text in (repr(provider), str(provider), repr(provider.config), str(vars(provider))):
        assert KEY not in text and SECRET_PART not in text


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://v3.fal.media/files/abc/out.png", True),
        ("https://fal.media/files/abc/out.png", True),
        ("https://v3b.fal.media/files/b/out.png", True),
        ("http://v3.fal.media/files/abc/out.png", False),  # only over https
        ("https://evilfal.media/out.png", False),
        ("https://fal.media.evil.example/out.png", False),
        ("https://storage.googleapis.com/falserverless/gallery/out.png", True),
        ("https://storage.googleapis.com/someone-else/out.png", False),
        ("http://127.0.0.1:8000/files/out.png", True),  # the configured base URL's own origin
        ("http://127.0.0.1:8001/files/out.png", False),
        ("file:///etc/passwd", False),
    ],
)
def test_output_file_host_allow_list(url, allowed):
    provider = FalProvider(Config().with_settings({"FAL_KEY": KEY, "HDCORE_FAL_BASE_URL": "http://127.0.0.1:8000"}))

    assert provider._allowed_file_url(url) is allowed
