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

from hdcore import Config, Engine
from hdcore.errors import (
    AuthError,
    BadOutput,
    Cancelled,
    ConfigError,
    PermanentError,
    ProviderTimeout,
    RateLimited,
    RequestRejected,
    TransientError,
)
from hdcore.providers import space as hf_space
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.space import SpaceProvider, answer
from hdcore.providers.space.known import KNOWN_SPACES, SpaceDeclaration
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers import ProviderSpec, Registry
from hdcore.resize import lanczos_resize
from tests.conftest import photo, png_bytes
from tests.providers.test_remote import leaked_fragments
from tests.servers.base import LocalServer, QuietHandler

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
    from tests.servers.space_faults import add_hop_route, build_fault_app

    demo, log = build_fault_app()
    for url in _serve(demo):
        add_hop_route(demo)
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
                 api_name: str | None = None, **declared: str) -> Config:
    settings = {"HDCORE_SPACE": url, "HDCORE_SPACE_ARGS": json.dumps(list(args or ("base",)))}
    settings.update({"HUGGINGFACE_TOKEN": token} if token is not None else {})
    settings.update({"HDCORE_SPACE_API_NAME": api_name} if api_name is not None else {})
    settings.update({f"HDCORE_SPACE_{name.upper()}": value for name, value in declared.items()})
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
    result = engine(space_config(url, "seed", input_width="256")).enhance(small_png(), scale=4, provider="space")

    assert result.provider == "space"
    assert result.image.size == (96, 64)
    assert "the Space returned 1024x680: resized to 96x64 with Lanczos" in result.warnings


def test_an_answer_smaller_than_asked_is_resized_up_with_a_warning(faults):
    url, _ = faults
    config = space_config(url, "seed", input_width="256")
    result = engine(config).enhance(small_png((300, 200)), scale=4, provider=["space", "lanczos"])

    assert [a.outcome for a in result.attempts] == ["ok"]
    assert result.image.size == (1200, 800)
    assert "the Space returned 1024x680: resized to 1200x800 with Lanczos" in result.warnings
    # it works at 256 px of the 300: its 4x is 3.41x of the original, and the user is told
    assert ("the Space works at 256 px wide: its 4x of this 300 px image is really 3.41x of the original; "
            "the rest to 4x is a Lanczos resize") in result.warnings


def test_an_undeclared_space_answering_far_larger_than_asked_is_refused_with_a_hint(faults):
    url, _ = faults
    with pytest.raises(BadOutput, match=r"image too large: 1024x680.*declare what the Space does"):
        SpaceProvider(space_config(url, "seed")).upscale(request_for(small_png()))


# --- what a Space declares, and what is sent --------------------------------------------------------------


def wide_png(width: int) -> bytes:
    height = width * 2 // 3
    return png_bytes(photo((300, 200)).resize((width, height)))


def test_a_space_that_works_below_the_inputs_width_is_skipped_before_anything_is_sent(faults):
    url, log = faults
    calls_before = len(log.token_headers)
    config = space_config(url, "seed", input_width="256", scales="4")
    result = engine(config).enhance(wide_png(1100), scale=4, provider=["space", "lanczos"])

    skipped = result.attempts[0]
    assert (skipped.provider, skipped.outcome) == ("space", "skipped")
    assert skipped.reason == ("the Space works at 256 px wide: its 4x of this 1100 px image holds only 0.93x of "
                              "the original's detail, worse than Lanczos; not sent")
    assert result.provider == "lanczos"
    assert len(log.token_headers) == calls_before  # the Space never saw the call


def test_the_seeds_space_declares_its_256_px_from_the_table_without_any_setting():
    provider = SpaceProvider(Config().with_settings({"HUGGINGFACE_TOKEN": TOKEN}))
    declared = provider.declaration()

    assert (declared.api_name, declared.args, declared.works_at_width) == ("/predict", ("base",), 256)
    assert provider.preflight("akhaliq/Real-ESRGAN", (2000, 1333), 4).startswith(
        "the Space works at 256 px wide: its 4x of this 2000 px image holds only 0.51x")
    assert provider.preflight("akhaliq/Real-ESRGAN", (1000, 667), 4) == ""  # 1.02x: sent, with a warning
    assert declared.verdict((1000, 667), 4)[1].startswith("the Space works at 256 px wide: its 4x of this 1000 px "
                                                          "image is really 1.02x")
    assert declared.verdict((200, 133), 4) == ("", "")  # it upsizes a small input first: nothing lost
    assert "works at 256 px wide" in provider.models()[0].description


@pytest.mark.parametrize("scale, native, argument", [(2, 2, "2x"), (3, 4, "4x"), (4, 4, "4x")])
def test_a_space_with_several_scales_is_called_at_the_smallest_one_that_covers_the_request(scale, native, argument):
    declared = KNOWN_SPACES["doevent/Face-Real-ESRGAN"]
    assert (declared.native_scale(scale), declared.arguments(scale)) == (native, (argument,))
    assert declared.answer_size((100, 50), scale) == (100 * native, 50 * native)


def test_settings_override_the_table_and_are_checked():
    config = Config().with_settings({"HDCORE_SPACE": "akhaliq/Real-ESRGAN", "HDCORE_SPACE_INPUT_WIDTH": "none",
                                     "HDCORE_SPACE_SCALES": "2,4", "HDCORE_SPACE_ARGS": '["{scale}x", 1]'})
    declared = SpaceProvider(config).declaration()

    assert declared == SpaceDeclaration("/predict", ("{scale}x", 1), (2, 4), None, declared.note)
    assert declared.arguments(3) == ("4x", 1)
    with pytest.raises(ConfigError, match="HDCORE_SPACE_SCALES must list the scales"):
        Config().with_settings({"HDCORE_SPACE_SCALES": "four"})
    with pytest.raises(ConfigError, match="HDCORE_SPACE_INPUT_WIDTH must be a width in pixels"):
        Config().with_settings({"HDCORE_SPACE_INPUT_WIDTH": "3"})


def test_a_space_is_free_in_its_price_rows():
    (row,) = SpaceProvider(Config().with_settings({"HDCORE_SPACE": "owner/app"})).price_rows()
    assert (row["Item"], row["USD"]) == ("owner/app", 0.0) and "bills its owner" in row["Note"]


# --- a hostile Space: where its answer points, how large it is, what its errors say ---------------------


def closed_url() -> str:
    return f"http://127.0.0.1:{_free_port()}/x.png"


class Recorder(QuietHandler):
    def do_GET(self) -> None:
        self.state.record(self, b"")
        self.send_bytes(200, small_png(), "image/png")


def test_an_answer_pointing_outside_the_space_is_refused_with_one_message_whatever_is_there(faults):
    url, _ = faults
    reasons = []
    with LocalServer(Recorder) as open_port:
        for target in (open_port.url + "/x.png", closed_url(), "http://10.0.0.9/x.png", "file:///etc/passwd",
                       "https://example.com/x.png", "http://127.0.0.1:1/x.png"):
            with pytest.raises(BadOutput) as caught:
                SpaceProvider(space_config(url, target, api_name="/link")).upscale(request_for(small_png()))
            reasons.append(str(caught.value))
        assert open_port.state.requests == []
    assert set(reasons) == {answer.REFUSED}


def test_a_redirect_from_the_space_to_another_host_is_refused_before_anything_reaches_it(faults):
    url, _ = faults
    with LocalServer(Recorder) as elsewhere:
        hop = f"{url}/hop?to={elsewhere.url}/x.png"
        with pytest.raises(BadOutput, match=answer.REFUSED):
            SpaceProvider(space_config(url, hop, api_name="/link")).upscale(request_for(small_png()))
        assert elsewhere.state.requests == []


class Hop(QuietHandler):
    """The Space's own origin, which holds the token (as an *.hf.space host would): /hop redirects elsewhere."""

    def do_GET(self) -> None:
        self.state.record(self, b"")
        if self.path.startswith("/hop"):
            return self.send_bytes(307, b"", "text/plain", {"Location": self.state.fault})
        if self.path.startswith("/endless"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.close_connection = True
            for _ in range(10_000):
                self.wfile.write(bytes(64 * 1024))
            return None
        return self.send_bytes(200, small_png(), "image/png")


class HFSpaceClient:
    """What ``answer.fetch`` reads of a gradio_client Client built for a Hugging Face Space: its root and the
    headers that carry the token. A Space on *.hf.space cannot run here; its origin is a local server."""

    def __init__(self, root: str):
        self.src_prefixed = root + "/gradio_api/"
        self.headers = {"x-hf-authorization": f"Bearer {TOKEN}"}
        self.cookies = {"session": TOKEN}
        self.ssl_verify = True


def test_no_credential_of_ours_follows_a_redirect_to_another_origin():
    with LocalServer(Hop) as space_origin, LocalServer(Hop) as elsewhere:
        space_origin.state.fault = elsewhere.url + "/x.png"
        scope = SpaceProvider(space_config(space_origin.url, timeout=5.0)).scope(request_for(small_png()), "m")
        with pytest.raises(BadOutput, match=answer.REFUSED):
            answer.fetch(scope, HFSpaceClient(space_origin.url), space_origin.url + "/hop", 10_000_000)
        same_origin = answer.fetch(scope, HFSpaceClient(space_origin.url), space_origin.url + "/file.png", 10_000_000)

    assert elsewhere.state.requests == []
    assert same_origin == small_png()
    assert space_origin.state.requests[0].headers.get("x-hf-authorization") == f"Bearer {TOKEN}"  # its own origin


def test_an_endless_answer_stops_at_the_cap():
    with LocalServer(Hop) as space_origin:
        scope = SpaceProvider(space_config(space_origin.url, timeout=5.0)).scope(request_for(small_png()), "m")
        started = time.monotonic()
        with pytest.raises(BadOutput, match="the Space's file is over the 2,000,000-byte limit"):
            answer.fetch(scope, HFSpaceClient(space_origin.url), space_origin.url + "/endless", 2_000_000)
    assert time.monotonic() - started < 2.0


def test_a_large_answer_is_refused_from_its_declared_length_by_a_cap_from_the_expected_size(faults):
    url, _ = faults
    provider = SpaceProvider(space_config(url, "big"))
    request = request_for(small_png())

    with pytest.raises(BadOutput, match=r"^the Space's file of [\d,]+ bytes is over the 1,146,880-byte limit$"):
        provider.upscale(request)
    assert provider._max_answer_pixels(request, provider.declaration()) == 96 * 64 * 2


def test_a_missing_answer_file_is_bad_output_not_a_missing_space(faults):
    url, _ = faults
    missing = f"{url}/gradio_api/file=/nowhere/x.png"
    with pytest.raises(BadOutput, match=r"could not be fetched \(HTTP 40\d\)"):
        SpaceProvider(space_config(url, missing, api_name="/link")).upscale(request_for(small_png()))


@pytest.mark.parametrize("spelled", [TOKEN, TOKEN.upper(), "x" * 170 + TOKEN, TOKEN.replace("_", "%5F")])
def test_the_spaces_error_text_is_masked_before_it_is_shortened(faults, spelled):
    url, _ = faults
    result = engine(space_config(url, "echo:" + spelled, token=TOKEN)).enhance(
        small_png(), scale=4, provider=["space", "lanczos"])

    reason = result.attempts[0].reason
    assert reason.startswith("the Space failed: model crashed near")
    assert leaked_fragments(TOKEN, reason, window=5) == []


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
        ("validation", lambda: _gradio_errors().ValidationError("too big"), RequestRejected,
         "the Space refused the input: too big"),
        ("413", lambda: _http_error(413), RequestRejected, "the Space refused this request (HTTP 413)"),
        ("429 forever", lambda: _http_error(429, {"Retry-After": "1e308"}), RateLimited, "HTTP 429"),
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
    if label == "429 forever":
        assert raised.value.retry_after == 3600.0


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
