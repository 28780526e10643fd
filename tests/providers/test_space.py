"""The Space tier against real Gradio servers on 127.0.0.1, through the real gradio_client.

Two servers start once for the module: our own Space (space/app.py over hdcore's local tier, mode "base" =
preset "fast") and a scripted one (tests/servers/space_faults.py) whose ``mode`` argument picks a fault.
Nothing here reaches the internet: Gradio's analytics and the Hub are switched off before Gradio is imported.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from PIL import Image

from hdcore import Config, Engine, Secret
from hdcore.errors import (
    AuthError,
    Cancelled,
    PermanentError,
    ProviderTimeout,
    RateLimited,
    TransientError,
)
from hdcore.providers import space as hf_space
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.space import SpaceProvider
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers import ProviderSpec, Registry
from hdcore.resize import lanczos_resize
from tests.conftest import photo, png_bytes

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_TESTSECRETtoken1234567890"
QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
SMALL = (24, 16)
WAIT_S = 5.0  # the longest any test waits for a server-side event


# --- servers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet_gradio(tmp_path_factory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in QUIET_ENV.items():
            patch.setenv(name, value)
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))  # Gradio's file cache
        pytest.importorskip("gradio")
        pytest.importorskip("gradio_client")
        yield


@pytest.fixture(scope="module")
def space_url(quiet_gradio) -> Iterator[str]:
    """Our own Space, on hdcore's local tier."""
    app = _load_space_app()
    yield from _serve(app.build_app(provider="local"))


@pytest.fixture(scope="module")
def faults(quiet_gradio) -> Iterator[tuple[str, Any]]:
    from tests.servers.space_faults import build_fault_app

    demo, log = build_fault_app()
    for url in _serve(demo):
        yield url, log


def _load_space_app():
    spec = importlib.util.spec_from_file_location("hdcore_space_app", ROOT / "space" / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _serve(demo) -> Iterator[str]:
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, share=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- helpers -------------------------------------------------------------------------------------------


def space_config(url: str, *args: str, timeout: float | None = 20.0, token: str | None = None,
                 api_name: str | None = None) -> Config:
    settings = {"HDCORE_SPACE": url, "HDCORE_SPACE_ARGS": json.dumps(list(args or ("base",)))}
    settings.update({"HUGGINGFACE_TOKEN": token} if token is not None else {})
    settings.update({"HDCORE_SPACE_API_NAME": api_name} if api_name is not None else {})
    return Config(timeouts={"space": timeout}).with_settings(settings)


def engine(config: Config) -> Engine:
    registry = Registry([ProviderSpec("space", SpaceProvider), ProviderSpec("lanczos", LanczosProvider)])
    return Engine(config, registry)


def small_png(size: tuple[int, int] = SMALL) -> bytes:
    return png_bytes(photo(size))


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def wait_for(condition, seconds: float = WAIT_S) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- our own Space, through the tier -------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_our_space_answers_4x_and_the_tier_delivers_the_exact_size(space_url, scale):
    source = photo(SMALL)
    result = engine(space_config(space_url)).enhance(png_bytes(source), scale=scale, provider="space")

    wanted = (SMALL[0] * scale, SMALL[1] * scale)
    assert result.provider == "space"
    assert result.image.size == wanted
    attempt = result.attempts[0]
    assert (attempt.outcome, attempt.cost_usd, attempt.cost_kind) == ("ok", 0.0, "estimated")
    resized = [w for w in result.warnings if "resized" in w]
    if scale == 4:
        assert resized == []
    else:
        assert resized == [f"the Space returned 96x64: resized to {wanted[0]}x{wanted[1]} with Lanczos"]
    # the real picture came back, not noise: close to a plain Lanczos upscale of the input
    reference = lanczos_resize(as_array(source), wanted)
    assert psnr(as_array(result.image), reference) > 22


def test_our_space_has_the_seed_signature_for_any_gradio_client(space_url, tmp_path):
    from gradio_client import Client, handle_file

    path = tmp_path / "in.png"
    path.write_bytes(small_png())
    client = Client(space_url, verbose=False, download_files=False)
    try:
        answer = client.predict(handle_file(str(path)), "anime", api_name="/predict")
        assert Image.open(answer["path"]).size == (96, 64)  # the server runs here: its file is readable
        with pytest.raises(Exception, match="sepia is not in the list of choices"):
            client.predict(handle_file(str(path)), "sepia", api_name="/predict")
    finally:
        client.close()


def test_a_missing_endpoint_is_a_permanent_error(space_url):
    provider = SpaceProvider(space_config(space_url, api_name="/nope"))
    with pytest.raises(PermanentError, match="no such endpoint"):
        provider.upscale(request_for(small_png()))


def test_the_client_is_built_once_and_reused(space_url, monkeypatch):
    builds = count_client_builds(monkeypatch)
    provider = SpaceProvider(space_config(space_url))
    for _ in range(2):
        provider.upscale(request_for(small_png()))
    assert builds == [space_url]


# --- scripted answers and faults -----------------------------------------------------------------------


def test_the_seed_spaces_256px_answer_is_resized_with_a_warning(faults):
    url, _ = faults
    result = engine(space_config(url, "seed")).enhance(small_png(), scale=4, provider="space")

    assert result.provider == "space"
    assert result.image.size == (96, 64)
    assert "the Space returned 1024x680: resized to 96x64 with Lanczos" in result.warnings


def test_an_answer_smaller_than_asked_is_resized_up_with_a_warning(faults):
    url, _ = faults
    result = engine(space_config(url, "seed")).enhance(small_png((300, 200)), scale=4, provider=["space", "lanczos"])

    assert [a.outcome for a in result.attempts] == ["ok"]
    assert result.image.size == (1200, 800)
    assert "the Space returned 1024x680: resized to 1200x800 with Lanczos" in result.warnings


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("wrong-aspect", "output is 96x128, expected 96x64"),
        ("non-image", "the Space answered with no usable image"),
        ("error", "the Space failed: model crashed"),
    ],
)
def test_a_faulty_answer_fails_the_tier_and_the_next_tier_runs(faults, fault, reason):
    url, _ = faults
    result = engine(space_config(url, fault)).enhance(small_png(), scale=4, provider=["space", "lanczos"])

    failed = result.attempts[0]
    assert (failed.provider, failed.outcome) == ("space", "error")
    assert reason in failed.reason
    assert result.provider == "lanczos"
    assert result.image.size == (96, 64)


def test_a_tuple_of_images_uses_the_last_one(faults):
    url, _ = faults
    config = space_config(url, "x4", api_name="/pair")
    result = engine(config).enhance(small_png(), scale=4, provider="space")

    assert result.image.size == (96, 64)
    assert not any("resized" in w for w in result.warnings)


def test_a_slow_space_times_out_near_the_deadline_and_its_job_is_cancelled(faults):
    url, log = faults
    cancelled_before = log.count("cancelled")
    result = engine(space_config(url, "slow", timeout=1.0)).enhance(small_png(), scale=4,
                                                                       provider=["space", "lanczos"])

    timed_out = result.attempts[0]
    assert timed_out.outcome == "timeout"
    assert 0.9 <= timed_out.latency_s < 3.0
    assert result.provider == "lanczos"
    assert wait_for(lambda: log.count("cancelled") > cancelled_before), "the Space kept running the abandoned job"


def test_called_without_the_engine_the_tier_keeps_its_own_deadline_and_cancels_its_job(faults):
    url, log = faults
    provider = SpaceProvider(space_config(url, "slow", timeout=1.0))
    cancelled_before = log.count("cancelled")
    began = time.monotonic()
    with pytest.raises(ProviderTimeout, match="timed out after 1.0 s"):
        provider.upscale(request_for(small_png()))

    assert time.monotonic() - began < 3.0
    assert wait_for(lambda: log.count("cancelled") > cancelled_before), "the Space kept running the abandoned job"


def test_cancel_stops_the_running_job(faults):
    url, log = faults
    provider = SpaceProvider(space_config(url, "slow", timeout=None))
    request = request_for(small_png())
    started_before, cancelled_before = log.count("started"), log.count("cancelled")
    outcome: dict[str, BaseException] = {}
    worker = threading.Thread(target=lambda: _capture(outcome, provider.upscale, request), daemon=True)
    worker.start()
    assert wait_for(lambda: log.count("started") > started_before), "the job never started"

    began = time.monotonic()
    request.cancel_event.set()
    provider.cancel(request)
    worker.join(WAIT_S)

    assert isinstance(outcome.get("error"), Cancelled)
    assert time.monotonic() - began < 3.0
    assert wait_for(lambda: log.count("cancelled") > cancelled_before), "the Space did not see the cancel"


def test_an_unreachable_space_is_a_transient_error_at_once():
    closed = f"http://127.0.0.1:{_free_port()}"
    result = engine(space_config(closed)).enhance(small_png(), scale=2, provider=["space", "lanczos"])

    failed = result.attempts[0]
    assert failed.outcome == "error"
    assert failed.reason.startswith("cannot reach the Space")
    assert failed.latency_s < 3.0
    assert result.provider == "lanczos"


def test_without_a_space_or_a_token_the_tier_is_skipped():
    result = engine(Config()).enhance(small_png(), scale=2, provider=["space", "lanczos"])

    skipped = result.attempts[0]
    assert (skipped.outcome, skipped.reason) == ("skipped", "not configured (set HDCORE_SPACE or HUGGINGFACE_TOKEN)")
    assert SpaceProvider(Config().with_settings({"HUGGINGFACE_TOKEN": TOKEN})).is_configured()  # the seed's Space then
    assert SpaceProvider(Config().with_settings({"HUGGINGFACE_TOKEN": TOKEN})).source() == "akhaliq/Real-ESRGAN"


# --- the token -----------------------------------------------------------------------------------------


def test_the_token_never_shows_and_is_not_sent_to_other_hosts(faults, caplog):
    url, log = faults
    caplog.set_level(logging.DEBUG)
    headers_before = len(log.token_headers)
    config = space_config(url, "error", token=TOKEN)
    failed = engine(config).enhance(small_png(), scale=4, provider=["space", "lanczos"])
    closed = config.with_settings({"HDCORE_SPACE": f"http://127.0.0.1:{_free_port()}"})
    unreachable = engine(closed).enhance(small_png(), scale=4, provider=["space", "lanczos"])
    provider = SpaceProvider(config)

    shown = [caplog.text, repr(provider), repr(config), str(provider.models())]
    shown += [a.reason for a in failed.attempts + unreachable.attempts]
    assert all(TOKEN not in text for text in shown)
    assert failed.attempts[0].reason.startswith("the Space failed")  # the failing path did run
    assert log.token_headers[headers_before:] == [None]  # 127.0.0.1 is not Hugging Face: no token sent


@pytest.mark.parametrize(
    "source, sent",
    [
        ("owner/upscaler", TOKEN),
        ("https://owner-upscaler.hf.space", TOKEN),
        ("http://127.0.0.1:9", False),
        ("https://example.com/app", False),
    ],
)
def test_the_token_goes_only_to_hugging_face_and_a_failed_build_is_retried(monkeypatch, source, sent):
    tokens: list[Any] = []

    class Unreachable:
        def __init__(self, src, **kwargs):
            tokens.append(kwargs["token"])
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(hf_space, "_quiet_client_class", lambda: Unreachable)
    provider = SpaceProvider(Config().with_settings({"HDCORE_SPACE": source, "HUGGINGFACE_TOKEN": TOKEN}))
    for _ in range(2):
        with pytest.raises(TransientError, match="connection refused"):
            provider.upscale(request_for(small_png()))
    assert tokens == [sent, sent]  # the failure was not cached: the second call tried again


# --- every foreign error maps onto hdcore's tree -------------------------------------------------------


def _http_error(status: int, headers: dict[str, str] | None = None) -> Exception:
    import httpx

    request = httpx.Request("GET", "http://127.0.0.1/config")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


def _foreign_errors() -> list[tuple[str, Any, type, str]]:
    return [
        ("401", lambda: _http_error(401), AuthError, "HTTP 401"),
        ("403", lambda: _http_error(403), AuthError, "HTTP 403"),
        ("404", lambda: _http_error(404), PermanentError, "Space not found"),
        ("429", lambda: _http_error(429, {"Retry-After": "7"}), RateLimited, "HTTP 429"),
        ("503", lambda: _http_error(503), TransientError, "HTTP 503"),
        ("queue full", lambda: _gradio_utils().QueueError("Queue is full! Please try again."), RateLimited, "busy"),
        ("app error", lambda: _gradio_errors().AppError("boom"), TransientError, "the Space failed: boom"),
        ("auth", lambda: _gradio_errors().AuthenticationError("no"), AuthError, "credentials"),
        ("read timeout", lambda: _httpx().ReadTimeout("slow"), ProviderTimeout, "timed out"),
        ("connect", lambda: _httpx().ConnectError("refused"), TransientError, "cannot reach"),
        ("no endpoint", lambda: ValueError("Cannot find a function with `api_name`: /x."), PermanentError,
         "no such endpoint"),
        ("anything else", lambda: RuntimeError("odd"), TransientError, "RuntimeError: odd"),
        ("unknown Space", _unknown_repository, PermanentError, "Space not found"),
    ]


def _unknown_repository() -> Exception:
    """What the Hub raises for a Space id that does not exist (or is private, without a token): HTTP 401."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        import httpx2 as hub_http  # the HTTP library huggingface_hub 2.x builds its errors on
    except ImportError:
        import httpx as hub_http

    request = hub_http.Request("GET", "https://huggingface.co/api/spaces/owner/missing")
    return RepositoryNotFoundError("Repository Not Found", response=hub_http.Response(401, request=request))


def _httpx():
    import httpx

    return httpx


def _gradio_utils():
    from gradio_client import utils

    return utils


def _gradio_errors():
    from gradio_client import exceptions

    return exceptions


@pytest.mark.parametrize("label, make, kind, text", _foreign_errors(), ids=[e[0] for e in _foreign_errors()])
def test_foreign_errors_map_onto_hdcores_errors_chained(monkeypatch, label, make, kind, text):
    error = make()

    class Failing:
        def __init__(self, src, **kwargs):
            raise error

    monkeypatch.setattr(hf_space, "_quiet_client_class", lambda: Failing)
    provider = SpaceProvider(Config(timeouts={"space": 5.0}).with_settings({"HDCORE_SPACE": "http://127.0.0.1:9"}))
    with pytest.raises(kind) as raised:
        provider.upscale(request_for(small_png()))
    assert text in str(raised.value)
    assert raised.value.__cause__ is error
    assert (raised.value.provider, raised.value.model) == ("space", "http://127.0.0.1:9")
    if kind is RateLimited and label == "429":
        assert raised.value.retry_after == 7.0


# --- small helpers for direct provider calls -----------------------------------------------------------


def request_for(data: bytes, scale: int = 4) -> UpscaleRequest:
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255
    return UpscaleRequest(image=image, scale=scale)


def count_client_builds(monkeypatch) -> list[str]:
    builds: list[str] = []
    real = hf_space._quiet_client_class()

    class Counting(real):
        def __init__(self, src, **kwargs):
            builds.append(src)
            super().__init__(src, **kwargs)

    monkeypatch.setattr(hf_space, "_quiet_client_class", lambda: Counting)
    return builds


def _capture(outcome: dict[str, BaseException], call, *args) -> None:
    try:
        call(*args)
    except BaseException as error:  # handed to the test thread
        outcome["error"] = error
