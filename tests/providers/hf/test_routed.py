"""The Hugging Face tier's other routes, with the real huggingface_hub ``InferenceClient``: Inference Providers
through the router (fal-ai's queue, hf-inference) and a dedicated Inference Endpoint, against our router, Hub
and Endpoint on 127.0.0.1 (tests/servers/hf_router.py); and the seed's models, which nobody serves today.

A hostile router may answer anything: every cell checks that the tier ends by its deadline, refuses what it must
with one message, and that the token reaches only the router and the Hub.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from hdcore import Config, Engine
from hdcore.attempts import Cost
from hdcore.errors import BadOutput, PermanentError, ProviderTimeout, RateLimited, RequestRejected, TransientError
from hdcore.providers import ProviderSpec, Registry
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.hf import IMAGE_TO_IMAGE_PROVIDERS, HuggingFaceProvider, routed
from hdcore.providers.hf.catalogue import SD_X4
from hdcore.providers.lanczos import LanczosProvider
from hdcore.webapp import providers_page
from tests.conftest import photo, png_bytes
from tests.providers.test_remote import leaked_fragments
from tests.servers.hf_router import ECHO_STYLES, REAL_ESRGAN, TOKEN, hf_router, png_size

FAL_MODEL = "acme/sharp-upscaler"  # an image-to-image model fal-ai maps, as the Hub says
HFI_MODEL = "acme/hfi-upscaler"  # one the hf-inference provider serves
SIZE = (16, 12)
DEADLINE = 1.0


@pytest.fixture(autouse=True)
def fresh_hub_state(monkeypatch, caplog):
    """huggingface_hub caches each model's provider mapping for the process, and reads HF_HUB_OFFLINE once at
    import (another test module sets it while it imports gradio): each test starts from what it configures."""
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import _common, hf_inference

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    _common._fetch_inference_provider_mapping.cache_clear()
    hf_inference._check_supported_task.cache_clear()
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text


@pytest.fixture
def router():
    with hf_router() as server:
        server.state.mapped[FAL_MODEL] = ("fal-ai", "fal-ai/sharp-upscaler", 4)
        server.state.mapped[HFI_MODEL] = ("hf-inference", HFI_MODEL, 4)
        server.state.model_scales[HFI_MODEL] = 4
        yield server


def routed_config(server, model: str = FAL_MODEL, provider: str = "auto", timeout: float = 5.0, **extra) -> Config:
    settings = {"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_HF_ROUTER_URL": server.url, "HDCORE_HF_HUB_URL": server.url,
                "HDCORE_HF_MODEL_X4": model, "HDCORE_HF_MODEL_X2": model, "HDCORE_HF_PROVIDER": provider, **extra}
    return Config(timeouts={"hf": timeout, "lanczos": None}).with_settings(settings)


def hf_then_lanczos(config: Config) -> Engine:
    return Engine(config, Registry([ProviderSpec("hf", HuggingFaceProvider), ProviderSpec("lanczos", LanczosProvider)]))


def request_for(scale: int = 4, size: tuple[int, int] = SIZE) -> UpscaleRequest:
    return UpscaleRequest(image=np.asarray(photo(size), dtype=np.float32) / 255, scale=scale)


def header(recorded, name: str) -> str | None:
    return next((value for key, value in recorded.headers.items() if key.lower() == name.lower()), None)


def authorized(server) -> list[str]:
    with server.state.lock:
        return [r.path for r in server.state.requests if header(r, "Authorization") is not None]


def hf_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "hdcore-hf" and t.is_alive()]


# ------------------------------------------------------------------------------ the seed's models today


def test_with_only_a_token_the_seeds_models_are_skipped_plainly_before_anything_is_sent(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a request was made for a model nobody serves")

    monkeypatch.setattr(socket, "create_connection", no_network)
    config = Config(timeouts={"lanczos": None}).with_settings({"HUGGINGFACE_TOKEN": TOKEN})
    engine = hf_then_lanczos(config)
    results = {scale: engine.enhance(png_bytes(photo(SIZE)), scale=scale) for scale in (2, 4)}

    for scale, model in ((2, REAL_ESRGAN), (4, SD_X4)):
        skipped = results[scale].attempts[0]
        assert (skipped.provider, skipped.model, skipped.outcome) == ("hf", model, "skipped")
        assert "not served by any Hugging Face provider today" in skipped.reason
        assert skipped.reason.endswith("deploy it on an Inference Endpoint (HDCORE_HF_ENDPOINT_URL) "
                                       "or choose a served model")
        assert results[scale].provider == "lanczos"
    assert "a Replicate model id" in results[2].attempts[0].reason


def test_the_providers_page_and_the_probe_say_so_too(monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(AssertionError("sent")))
    engine = Engine(Config().with_settings({"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_SPACE": "http://127.0.0.1:9"}))
    tier = next(t for t in providers_page.tier_views(engine) if t.name == "hf")
    rows = providers_page.model_rows(tier)
    report = providers_page.probe(engine, "hf")

    assert all("not served by any Hugging Face provider today" in row["Description"] for row in rows)
    assert report.level == "warning" and "Hugging Face was not called: " in report.text
    assert "not served by any Hugging Face provider today" in report.text
    prices = {row["Item"]: row for row in providers_page.price_rows(engine) if row["Tier"] == "Hugging Face"}
    assert prices[SD_X4]["USD"] is None and "not served" in prices[SD_X4]["Note"]


def test_the_cli_probe_says_so_without_a_request(tmp_path):
    from tests.test_cli import run

    env = {"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_SPACE": "http://127.0.0.1:9", "HDCORE_DATA_DIR": str(tmp_path)}
    result = run("providers", "--probe", "--json", env=env, timeout=120)
    probes = {row["name"]: row["probe"] for row in map(json.loads, result.stdout.splitlines())}

    assert result.returncode == 0, result.stderr
    assert probes["hf"]["outcome"] == "skipped" and "not served by any Hugging Face provider" in probes["hf"]["text"]
    assert TOKEN not in result.stdout + result.stderr


def test_a_proxy_router_is_not_assumed_to_be_hugging_faces(router):
    router.state.mapped[SD_X4] = ("fal-ai", "fal-ai/sd-x4", 4)
    result = hf_then_lanczos(routed_config(router, model=SD_X4)).enhance(png_bytes(photo(SIZE)), scale=4)
    assert (result.provider, result.attempts[0].outcome) == ("hf", "ok")


# ---------------------------------------------------------------------------------- Inference Providers


def test_auto_routes_a_served_model_through_fal_ais_queue_with_the_exact_size(router):
    result = hf_then_lanczos(routed_config(router)).enhance(png_bytes(photo(SIZE)), scale=2)

    assert (result.provider, result.model, result.image.size) == ("hf", FAL_MODEL, (32, 24))
    assert result.attempts[0].warnings == ()  # the provider answered at the target size itself
    paths = router.state.paths()
    assert paths[-5:] == [
        f"/api/models/{FAL_MODEL}?expand=inferenceProviderMapping",
        "/fal-ai/fal-ai/sharp-upscaler?_subdomain=queue",
        "/fal-ai/fal-ai/sharp-upscaler/requests/req1/status?_subdomain=queue",
        "/fal-ai/fal-ai/sharp-upscaler/requests/req1?_subdomain=queue",
        "/files/req1.png",
    ]
    submit = next(r for r in router.state.requests if r.method == "POST")
    document = json.loads(submit.body)
    assert document["image_size"] == {"width": 32, "height": 24}
    assert document["image_url"].startswith("data:image/png;base64,")
    assert header(submit, "Authorization") == f"Bearer {TOKEN}"
    assert header(submit, "Accept-Encoding") == "identity"


def test_a_named_provider_is_used_and_hf_inference_gets_hfs_json_form(router):
    result = hf_then_lanczos(routed_config(router, model=HFI_MODEL, provider="hf-inference")).enhance(
        png_bytes(photo(SIZE)), scale=4, prompt="a sharp photo")

    assert (result.provider, result.image.size) == ("hf", (64, 48))
    posted = next(r for r in router.state.requests if r.method == "POST")
    assert posted.path == f"/hf-inference/models/{HFI_MODEL}"
    assert json.loads(posted.body)["parameters"] == {"prompt": "a sharp photo", "target_size": {"width": 64,
                                                                                               "height": 48}}


def test_a_model_no_provider_maps_is_not_served_and_the_tier_is_then_skipped_at_no_cost(router):
    router.state.model_scales["acme/unmapped"] = 4  # on the Hub, mapped to no provider
    engine = hf_then_lanczos(routed_config(router, model="acme/unmapped"))
    first = engine.enhance(png_bytes(photo(SIZE)), scale=4)
    sent = len(router.state.requests)
    later = engine.enhance(png_bytes(photo(SIZE)), scale=4)

    assert first.attempts[0].outcome == "error"
    assert first.attempts[0].reason.startswith("acme/unmapped is not served by any Hugging Face provider")
    assert later.attempts[0].outcome == "skipped" and len(router.state.requests) == sent


def test_a_model_the_hub_does_not_know_is_a_permanent_error(router):
    with pytest.raises(PermanentError, match="the Hub knows no such model"):
        HuggingFaceProvider(routed_config(router, model="nobody/nothing")).upscale(request_for())


def test_a_provider_named_in_the_setting_must_be_one_huggingface_hub_routes_image_to_image_to():
    assert IMAGE_TO_IMAGE_PROVIDERS == routed.provider_names()


def test_a_price_given_for_a_routed_model_feeds_the_estimate_and_the_price_rows(router):
    priced = HuggingFaceProvider(routed_config(router).with_changes(prices={f"hf:{FAL_MODEL}": 0.004}))
    unpriced = HuggingFaceProvider(routed_config(router))

    assert priced.estimate_cost(FAL_MODEL, SIZE, 4) == Cost(0.004, "estimated")
    assert unpriced.estimate_cost(FAL_MODEL, SIZE, 4) == Cost(0.0, "none")
    (row,) = priced.price_rows()
    assert (row["Item"], row["USD"]) == (FAL_MODEL, 0.004) and "serving provider's own rate" in row["Note"]


def test_requests_outside_our_calls_pass_through_the_installed_client_untouched(router):
    from huggingface_hub.utils import get_session

    HuggingFaceProvider(routed_config(router)).upscale(request_for())  # installs the guarded client
    with hf_router() as elsewhere:
        answer = get_session().get(elsewhere.url + "/api/models/x/y")
    assert answer.status_code == 404 and elsewhere.state.paths() == ["/api/models/x/y"]


# -------------------------------------------------------------------------------------- hostile routers

HOSTILE = [
    # fault, error class, the message begins with
    ("hang", ProviderTimeout, "timed out after 1.0 s"),
    ("slow", ProviderTimeout, "timed out after 1.0 s"),  # the image drips a byte at a time
    ("queue-forever", ProviderTimeout, "timed out after 1.0 s"),  # fal's status never says COMPLETED
    ("huge-length", BadOutput, "answer of 10,000,000,000 bytes is over the"),
    ("endless", BadOutput, "answer is over the"),
    ("500", TransientError, "Hugging Face server error (HTTP 500)"),
    ("413", RequestRejected, "Hugging Face refused this request (HTTP 413): Payload Too Large"),
    ("reset", TransientError, "connection to Hugging Face failed"),
]


@pytest.mark.parametrize("fault, kind, message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_router_ends_the_call_by_its_deadline_with_a_typed_error(router, fault, kind, message):
    router.state.fault, router.state.drip_seconds = fault, 10_000.0
    # fal's client sleeps 0.5 s before its first poll: a fault that is no matter of time gets room to be reached
    deadline = DEADLINE if kind is ProviderTimeout else 5.0
    provider = HuggingFaceProvider(routed_config(router, timeout=deadline))
    started = time.monotonic()
    with pytest.raises(kind) as caught:
        provider.upscale(request_for())

    assert str(caught.value).startswith(message), str(caught.value)
    assert time.monotonic() - started < deadline + 0.5
    assert TOKEN not in str(caught.value)


def test_a_huge_retry_after_through_the_router_is_bounded(router):
    router.state.fault, router.state.retry_after = "429", "1e308"
    with pytest.raises(RateLimited) as caught:
        HuggingFaceProvider(routed_config(router)).upscale(request_for())
    assert caught.value.retry_after == 3600.0


@pytest.mark.parametrize("style", ECHO_STYLES)
def test_a_token_echoed_by_the_router_in_any_spelling_is_masked(router, style):
    router.state.fault, router.state.echo_style = "echo-token", style
    with pytest.raises(TransientError) as caught:
        HuggingFaceProvider(routed_config(router)).upscale(request_for())
    assert leaked_fragments(TOKEN, str(caught.value), window=6) == []


def test_a_redirect_to_another_host_is_refused_and_nothing_reaches_it(router):
    with hf_router() as elsewhere:
        router.state.fault, router.state.redirect_to = "redirect", elsewhere.url + "/steal"
        with pytest.raises(BadOutput, match="not fetched"):
            HuggingFaceProvider(routed_config(router)).upscale(request_for())
        assert elsewhere.state.requests == []


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/x.png"


def test_an_answer_pointing_anywhere_else_is_refused_with_one_message_whatever_is_there(router):
    reasons = []
    with hf_router() as open_port:
        for target in (open_port.url + "/files/req1.png", closed_url(), "http://10.0.0.7/a.png",
                       "https://example.com/a.png", "file:///etc/passwd", "http://[::1]:80/a.png"):
            router.state.fault, router.state.image_url = "elsewhere", target
            with pytest.raises(BadOutput) as caught:
                HuggingFaceProvider(routed_config(router)).upscale(request_for())
            reasons.append(str(caught.value))
        assert open_port.state.requests == []
    assert set(reasons) == {routed.REFUSED}


def test_an_answer_on_a_providers_file_host_is_fetched_without_any_credential():
    import httpx2

    guard = routed._Guard(scope=None, route=routed.Route(routed.DEFAULT_ROUTER_URL, routed.DEFAULT_HUB_URL),
                          token=TOKEN, max_body_bytes=1000)  # type: ignore[arg-type]
    request = httpx2.Request("GET", "https://v3.fal.media/files/x.png",
                             headers={"Authorization": "Bearer x", "x-hf-authorization": "y", "Cookie": "z=1"})
    to_router = httpx2.Request("POST", "https://router.huggingface.co/fal-ai/x", headers={"Authorization": "Bearer o"})
    fetched, routed_post = guard._addressed(httpx2, request), guard._addressed(httpx2, to_router)

    assert {"authorization", "x-hf-authorization", "cookie"}.isdisjoint(fetched.headers.keys())
    assert str(fetched.url) == "https://v3.fal.media/files/x.png"
    assert routed_post.headers["authorization"] == f"Bearer {TOKEN}"  # ours replaces the machine's


def test_after_a_hostile_deadline_no_worker_is_left_polling(router):
    router.state.fault = "queue-forever"
    engine = hf_then_lanczos(routed_config(router, timeout=DEADLINE))
    result = engine.enhance(png_bytes(photo(SIZE)), scale=4)
    polls = len(router.state.paths())
    time.sleep(1.0)  # a polling loop left behind would keep asking every 0.5 s

    assert result.attempts[0].outcome == "timeout" and result.provider == "lanczos"
    assert len(router.state.paths()) == polls
    assert hf_threads() == []


# ---------------------------------------------------------------------------------- Inference Endpoints


def test_an_endpoint_is_called_as_is_with_the_token_and_nothing_else_is_asked(router):
    router.state.endpoints["/ep/upscaler"] = 4
    config = Config(timeouts={"hf": 5.0}).with_settings(
        {"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_HF_ENDPOINT_URL": router.url + "/ep/upscaler?x=1"})
    provider = HuggingFaceProvider(config)
    result = hf_then_lanczos(config).enhance(png_bytes(photo(SIZE)), scale=2)

    assert [(m.name, m.scales) for m in provider.models()] == [(router.url + "/ep/upscaler", (2, 3, 4))]
    assert (result.provider, result.image.size) == ("hf", (32, 24))
    assert result.warnings == ["Hugging Face returned 64x48: resized to 32x24 with Lanczos"]
    assert router.state.paths() == ["/ep/upscaler?x=1"]
    assert authorized(router) == ["/ep/upscaler?x=1"]
    (row,) = provider.price_rows()
    assert row["Unit"] == "per hour the Endpoint runs" and row["USD"] is None


def test_a_scales_own_endpoint_wins_and_other_scales_keep_their_route(router):
    router.state.endpoints["/ep/x2"] = 2
    router.state.model_scales["acme/x4"] = 4
    config = Config(timeouts={"hf": 5.0}).with_settings(
        {"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_HF_ENDPOINT_URL_X2": router.url + "/ep/x2",
         "HDCORE_HF_BASE_URL": router.url, "HDCORE_HF_MODEL_X4": "acme/x4"})
    plans = HuggingFaceProvider(config).plans()

    assert (plans[2].kind, plans[4].kind, 3 in plans) == ("endpoint", "server", False)
    assert hf_then_lanczos(config).enhance(png_bytes(photo(SIZE)), scale=2).image.size == (32, 24)
    assert router.state.paths() == ["/ep/x2"]


def test_an_endpoints_input_limit_is_checked_before_sending(router):
    config = Config().with_settings({"HUGGINGFACE_TOKEN": TOKEN, "HDCORE_HF_ENDPOINT_URL": router.url + "/ep",
                                     "HDCORE_HF_ENDPOINT_MAX_INPUT_PIXELS": "100"})
    result = hf_then_lanczos(config).enhance(png_bytes(photo(SIZE)), scale=2)
    assert result.attempts[0].outcome == "skipped" and "limit of 100 px" in result.attempts[0].reason
    assert router.state.requests == []


def test_our_endpoint_speaks_what_the_real_inference_client_sends(router):
    from huggingface_hub import InferenceClient

    router.state.endpoints["/ep/upscaler"] = 4
    client = InferenceClient(model=router.url + "/ep/upscaler", token=TOKEN, timeout=5)
    image = client.image_to_image(png_bytes(photo(SIZE)), target_size={"width": 40, "height": 30})

    assert isinstance(image, Image.Image) and image.size == (40, 30)
    (posted,) = router.state.requests
    assert header(posted, "Authorization") == f"Bearer {TOKEN}"
    assert json.loads(posted.body)["parameters"] == {"target_size": {"width": 40, "height": 30}}
    assert png_size(png_bytes(image)) == (40, 30)
