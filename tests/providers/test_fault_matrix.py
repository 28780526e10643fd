"""One fault-injection matrix over the cloud tiers, through the engine, against our protocol servers on 127.0.0.1.

Every cell runs the chain [tier, lanczos] with a short deadline and hedging off, and checks the end state:

* the Lanczos image at the exact size, and on the cloud attempt its outcome and a one-line reason;
* no worker thread of the tier (``hdcore-<tier>...``) still alive shortly after the deadline;
* every Replicate prediction and fal request abandoned while it could still run is cancelled on the server;
* the token nowhere: log records (DEBUG, every logger), attempt reasons, the result dict, exception text.

Cells (tier x fault):

=============== ===== ========= ===== =====
fault           hf    replicate space fal
=============== ===== ========= ===== =====
hang            yes   yes       yes   yes ("slow" mode: the job never ends; fal also "queued")
slow drip       yes   yes (output file, one byte at a time; also "slow": the prediction never finishes)  fal yes
refused         yes   yes       yes   yes
reset           yes   yes       no    no
500             yes   yes       yes as the app's own error (gr.Error), not an HTTP status; fal yes
429 Retry-After yes   yes       no    yes (also a huge one, bounded)
401             yes   yes       no    yes
410 / 404       yes   yes       no    yes (404: no such app)
non-image       yes   yes       yes   yes
truncated       yes   yes       no    no
wrong-size      yes   yes       yes ("wrong-aspect")  fal yes
echoed token    -     yes (also altered: lower-cased, URL-encoded)  fal yes
redirect        -     -         -     yes (status and result to another host: never followed, the key never sent)
endless body    -     -         -     yes (the result, and the output file)
=============== ===== ========= ===== =====

What a Gradio server cannot produce (so the Space row has no cell for it): a Gradio app answers every call
through its own queue (a join, then server-sent events) and its own file route, so the app has no say over
the HTTP status (429 / 401 / 410 / 500 come from Hugging Face's front, not from a Space's code; an app's
failure arrives as an error event, the "error" cell), nor over the TCP connection (no reset), nor over how
the result file is streamed (no drip; uvicorn sends it whole), and the fault app writes only complete files
(no truncated image: "non-image" covers an unreadable answer).

Hostile servers (the end of this file), each cell also checking that nothing reached another host:

=================== ============================ =========================== ==================================
hostile answer      hf (HDCORE_HF_BASE_URL)      hf (Inference Providers)    space
=================== ============================ =========================== ==================================
echoed token        every spelling (case, %, +,  percent-encoded             in the app's error text, cut at 200
                    JSON, HTML, over the cut)
redirect elsewhere  not followed                 refused                     refused (a 307 from the Space)
huge Retry-After    bounded to an hour           bounded to an hour          (no HTTP status from an app)
huge length         refused before reading       refused before reading      refused before reading
endless body        cut at the cap               cut at the cap              (uvicorn sends files whole)
SSRF URL            (answers are the body)       refused, one message        refused, one message
never-ending queue  (one POST)                   ends at the deadline        ("slow" above)
=================== ============================ =========================== ==================================
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from hdcore import AllTiersFailed, Config, Engine, Secret
from hdcore.config import HedgeSettings
from hdcore.providers.space import SpaceProvider
from hdcore.providers.hf import HuggingFaceProvider
from hdcore.providers.lanczos import LanczosProvider
from hdcore.providers.replicate import ReplicateProvider
from hdcore.providers.fal import FalProvider
from hdcore.providers import ProviderSpec, Registry
from tests.conftest import photo, png_bytes
from tests.servers import hf_router as hf_server
from tests.servers import fal_server, replicate_server
from tests.servers.base import LocalServer, QuietHandler

HF_TIMEOUT = 1.0
REPLICATE_TIMEOUT = 1.5
SPACE_TIMEOUT = 1.5
THREAD_GRACE_S = 2.0  # worker threads must be gone by the deadline plus this
SPACE_TOKEN = "hf_FAULTS_space_Token_0123456789abcdef"
PROVIDERS = {"hf": HuggingFaceProvider, "replicate": ReplicateProvider, "space": SpaceProvider, "fal": FalProvider}


# --- helpers -------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on exit: connecting is refused


def chain(tier: str, config: Config) -> Engine:
    return Engine(config, Registry([ProviderSpec(tier, PROVIDERS[tier]), ProviderSpec("lanczos", LanczosProvider)]))


def tier_threads(tier: str, before: set[threading.Thread]) -> list[threading.Thread]:
    # By object, not by ident: an ident is reused once its thread ends, so a new cancel thread can wear an old one's
    return [t for t in threading.enumerate() if t.name.startswith(f"hdcore-{tier}") and t not in before
            and t.is_alive()]


def threads_gone(tier: str, before: set[threading.Thread], until: float) -> list[str]:
    while time.monotonic() < until and tier_threads(tier, before):
        time.sleep(0.02)
    return [t.name for t in tier_threads(tier, before)]


def run_cell(tier: str, config: Config, data: bytes, scale: int, deadline_s: float, token: str, caplog) -> Any:
    """Run [tier, lanczos]; check the delivered image, the threads and the token; return the tier's attempt."""
    before = set(threading.enumerate())
    started = time.monotonic()
    result = chain(tier, config).enhance(data, scale=scale, provider=[tier, "lanczos"])
    elapsed = time.monotonic() - started

    width, height = photo_size(data)
    attempt, fallback = result.attempts
    assert (result.provider, result.image.size) == ("lanczos", (width * scale, height * scale))
    assert (fallback.provider, fallback.outcome) == ("lanczos", "ok")
    assert attempt.provider == tier and attempt.outcome in ("error", "timeout")
    assert attempt.reason and "\n" not in attempt.reason
    assert elapsed < deadline_s + 1.0
    alive = threads_gone(tier, before, started + deadline_s + THREAD_GRACE_S)
    assert_token_absent(token, caplog, json.dumps(result.to_dict()), repr(result.attempts), attempt.reason)
    assert alive == [], f"{tier} worker still running {THREAD_GRACE_S} s after the deadline: {alive}"
    return attempt


def tier_alone_raises(tier: str, config: Config, data: bytes, scale: int, token: str, caplog) -> AllTiersFailed:
    """The same fault with no fallback: the exception the caller sees, checked for the token."""
    with pytest.raises(AllTiersFailed) as caught:
        chain(tier, config).enhance(data, scale=scale, provider=tier)
    error: BaseException | None = caught.value
    texts = []
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    assert_token_absent(token, caplog, *texts)
    return caught.value


def assert_token_absent(token: str, caplog, *texts: str) -> None:
    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)
    for text in texts:
        assert token not in text


def photo_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).size


class _AnotherHost(QuietHandler):
    """What a redirect or a foreign file URL points at: it must never be reached (least of all with a token)."""

    def do_GET(self) -> None:
        self.state.record(self, b"")
        self.send_bytes(200, png_bytes(photo((16, 12))), "image/png")

    do_POST = do_GET


@pytest.fixture(autouse=True)
def every_log_record(caplog):
    caplog.set_level(logging.DEBUG)  # requests, urllib3, httpx, the SDKs and gradio_client included
    return caplog


# --- Hugging Face Inference ----------------------------------------------------------------------------

HF_INPUT = (16, 12)
HF_CELLS = [
    # fault, outcome, the reason begins with
    ("hang", "timeout", "timed out after 1.0 s"),
    ("slow", "timeout", "timed out after 1.0 s"),
    ("refused", "error", "connection to Hugging Face failed"),
    ("reset", "error", "connection to Hugging Face failed (connection reset by peer)"),
    ("500", "error", "Hugging Face server error (HTTP 500): Internal Server Error"),
    ("429", "error", "rate limited by Hugging Face (HTTP 429), retry after 7 s"),
    ("401", "error", "Hugging Face rejected the token (HTTP 401)"),
    ("410", "error", "model not served here (HTTP 410)"),
    ("non-image", "error", "Hugging Face answered with no usable image: HTML is not an image"),
    ("truncated", "error", "Hugging Face answered with no usable image: truncated or corrupt PNG data"),
    ("wrong-size", "error", "output is 50x50"),
]


@pytest.mark.parametrize("fault, outcome, reason", HF_CELLS, ids=[c[0] for c in HF_CELLS])
def test_hf(fault, outcome, reason, every_log_record):
    with hf_server.hf_router() as server:
        base = f"http://127.0.0.1:{closed_port()}" if fault == "refused" else server.url
        server.state.fault = None if fault == "refused" else fault
        config = Config(timeouts={"hf": HF_TIMEOUT, "lanczos": None}, hedge=HedgeSettings(enabled=False)
                        ).with_settings({"HUGGINGFACE_TOKEN": hf_server.TOKEN, "HDCORE_HF_BASE_URL": base})
        data = png_bytes(photo(HF_INPUT))
        attempt = run_cell("hf", config, data, 2, HF_TIMEOUT, hf_server.TOKEN, every_log_record)
        assert attempt.outcome == outcome
        assert attempt.reason.startswith(reason), attempt.reason
        if outcome == "error":
            tier_alone_raises("hf", config, data, 2, hf_server.TOKEN, every_log_record)


# --- Replicate -----------------------------------------------------------------------------------------

REPLICATE_INPUT = (16, 12)
REPLICATE_CELLS = [
    # fault, outcome, reason fragment; every cell also checks that each prediction that could still run was cancelled
    ("hang", "timeout", "timed out after 1.5 s"),  # the create never answers: no prediction id, nothing to cancel
    ("slow", "timeout", "timed out after 1.5 s"),  # the prediction never finishes: it must be cancelled
    ("slow-download", "timeout", "timed out after 1.5 s"),  # the drip: the prediction has succeeded already
    ("refused", "error", "connection failed"),
    ("reset", "error", "connection failed creating the prediction"),
    ("500", "error", "Replicate server error (HTTP 500): Something went wrong"),
    ("429", "error", "rate limited by Replicate (HTTP 429); retry after 7 s"),
    ("401", "error", "Replicate rejected the token (HTTP 401)"),
    ("410", "error", "model not served here (HTTP 410): This version has been removed"),
    ("non-image", "error", "output is not an image"),
    ("truncated", "error", "output is not an image: truncated or corrupt PNG data"),
    ("wrong-size", "error", "output is 50x50, not the shape of the 16x12 input"),
    # the hostile-server cells
    ("echo-token-altered", "error", "upstream refused bearer *** (sent as BEARER%20***)"),
    ("429-huge", "error", "rate limited by Replicate (HTTP 429); retry after 3600 s"),
    ("endless-answer", "timeout", "timed out after 1.5 s"),
    ("redirect", "error", "Replicate answered a redirect (HTTP 307) creating the prediction; not followed"),
    ("output-elsewhere", "error", "refusing to fetch output from 127.0.0.1"),  # another port here: SSRF refused
    ("queued", "timeout", "timed out after 1.5 s"),  # waiting for hardware: cancelled (Cancel-After backs it up)
]
REPLICATE_SERVER_FAULT = {"429-huge": "429", "output-elsewhere": None}


@pytest.mark.parametrize("fault, outcome, reason", REPLICATE_CELLS, ids=[c[0] for c in REPLICATE_CELLS])
def test_replicate(fault, outcome, reason, every_log_record):
    with replicate_server.ReplicateServer() as server, LocalServer(_AnotherHost) as elsewhere:
        base = f"http://127.0.0.1:{closed_port()}/v1" if fault == "refused" else server.api_url
        server.state.fault = None if fault == "refused" else REPLICATE_SERVER_FAULT.get(fault, fault)
        server.state.redirect_to = elsewhere.url
        if fault == "429-huge":
            server.state.retry_after = "99999999999999999999"
        if fault == "output-elsewhere":
            server.state.output_base = elsewhere.url
        config = Config(timeouts={"replicate": REPLICATE_TIMEOUT, "lanczos": None}, hedge=HedgeSettings(enabled=False)
                        ).with_settings({"REPLICATE_API_TOKEN": replicate_server.TOKEN, "REPLICATE_BASE_URL": base})
        data = png_bytes(photo(REPLICATE_INPUT))
        attempt = run_cell("replicate", config, data, 2, REPLICATE_TIMEOUT, replicate_server.TOKEN, every_log_record)
        assert attempt.outcome == outcome
        assert reason in attempt.reason, attempt.reason

        with server.state.lock:
            predictions = dict(server.state.predictions)
        still_running = sorted(pid for pid, p in predictions.items() if p.status not in replicate_server.TERMINAL
                               or pid in server.state.cancels)
        if fault in ("slow", "queued"):
            assert predictions, f"the {fault} cell never created its prediction"
        # run_cell already waited for the hdcore-replicate* threads (the cancel's included): the cancels are in
        assert sorted(server.state.cancels) == still_running
        if fault in ("slow", "hang", "slow-download", "queued"):
            assert sorted(server.state.cancels) == sorted(
                pid for pid, p in predictions.items() if p.fault in ("slow", "queued"))
        assert len([p for p in server.state.paths("POST") if p == "/v1/predictions"]) <= 1  # never paid twice
        assert elsewhere.state.requests == []  # no redirect followed, no foreign file fetched
        assert all(r.headers.get("Cancel-After") == "7s" for r in server.state.creates())  # Replicate's own backstop
        if outcome == "error":
            tier_alone_raises("replicate", config, data, 2, replicate_server.TOKEN, every_log_record)


# --- the Space (a real Gradio server) ------------------------------------------------------------------

SPACE_INPUT = (24, 16)
SPACE_CELLS = [
    ("slow", "timeout", "timed out after 1.5 s"),  # hang: the job never ends; Gradio must see it cancelled
    ("refused", "error", "cannot reach the Space"),
    ("error", "error", "the Space failed: model crashed"),
    ("non-image", "error", "the Space answered with no usable image"),
    ("wrong-aspect", "error", "output is 96x128, expected 96x64"),
]


@pytest.fixture(scope="module")
def fault_space(tmp_path_factory) -> Iterator[tuple[str, Any]]:
    from tests.providers.test_space import QUIET_ENV, _serve

    with pytest.MonkeyPatch.context() as patch:
        for name, value in QUIET_ENV.items():
            patch.setenv(name, value)
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-faults")))
        pytest.importorskip("gradio")
        pytest.importorskip("gradio_client")
        from tests.servers.space_faults import add_hop_route, build_fault_app

        demo, log = build_fault_app()
        for url in _serve(demo):
            add_hop_route(demo)
            yield url, log


@pytest.mark.parametrize("fault, outcome, reason", SPACE_CELLS, ids=[c[0] for c in SPACE_CELLS])
def test_space(fault, outcome, reason, every_log_record, request):
    if fault == "refused":
        url, log = f"http://127.0.0.1:{closed_port()}", None
    else:
        url, log = request.getfixturevalue("fault_space")
    cancelled_before = log.count("cancelled") if log else 0
    config = Config(timeouts={"space": SPACE_TIMEOUT, "lanczos": None}, hedge=HedgeSettings(enabled=False)).with_settings(
        {"HDCORE_SPACE": url, "HDCORE_SPACE_ARGS": json.dumps([fault]), "HUGGINGFACE_TOKEN": SPACE_TOKEN})
    data = png_bytes(photo(SPACE_INPUT))
    attempt = run_cell("space", config, data, 4, SPACE_TIMEOUT, SPACE_TOKEN, every_log_record)
    assert attempt.outcome == outcome
    assert reason in attempt.reason, attempt.reason
    if fault == "slow":  # the abandoned job is cancelled on the Space, not left running
        end = time.monotonic() + 5.0
        while time.monotonic() < end and log.count("cancelled") <= cancelled_before:
            time.sleep(0.05)
        assert log.count("cancelled") > cancelled_before, "the Space kept running the abandoned job"
    if outcome == "error":
        tier_alone_raises("space", config, data, 4, SPACE_TOKEN, every_log_record)
    if log is not None:
        assert SPACE_TOKEN not in [h for h in log.token_headers if h]  # 127.0.0.1 is not Hugging Face


# --- fal -----------------------------------------------------------------------------------------------

FAL_TIMEOUT = 1.5
FAL_INPUT = (16, 12)
FAL_CELLS = [
    # fault, outcome, the reason begins with; cells whose request could still run check it was cancelled
    ("hang", "timeout", "timed out after 1.5 s"),  # the submit never answers: no request id, nothing to cancel
    ("queued", "timeout", "timed out after 1.5 s"),
    ("slow", "timeout", "timed out after 1.5 s"),
    ("slow-download", "timeout", "timed out after 1.5 s"),
    ("endless-file", "timeout", "timed out after 1.5 s"),
    ("refused", "error", "connection failed submitting the request"),
    ("500", "error", "fal server error (HTTP 500)"),
    ("429", "error", "rate limited by fal (HTTP 429); retry after 3600 s"),  # Retry-After 99999999999999999999
    ("401", "error", "fal rejected the key (HTTP 401)"),
    ("404", "error", "model not served here (HTTP 404)"),
    ("echo-key", "error", "fal server error (HTTP 500): gateway refused KEY%20"),
    ("status-redirect", "timeout", "timed out after 1.5 s"),
    ("result-redirect", "error", "fal answered a redirect (HTTP 307) fetching the result; not followed"),
    ("elsewhere", "error", "refusing to fetch output from 127.0.0.1"),
    ("endless", "error", "fal's answer fetching the result is over 1,048,576 bytes"),
    ("non-image", "error", "output is not an image"),
    ("wrong-size", "error", "output is 50x50, expected 32x24"),
]
FAL_STILL_RUNNING = ("queued", "slow", "status-redirect")


@pytest.mark.parametrize("fault, outcome, reason", FAL_CELLS, ids=[c[0] for c in FAL_CELLS])
def test_fal(fault, outcome, reason, every_log_record):
    with fal_server.FalServer() as server, LocalServer(_AnotherHost) as elsewhere:
        base = f"http://127.0.0.1:{closed_port()}" if fault == "refused" else server.url
        server.state.fault = None if fault == "refused" else fault
        server.state.redirect_to, server.state.retry_after = elsewhere.url, "99999999999999999999"
        config = Config(timeouts={"fal": FAL_TIMEOUT, "lanczos": None}, hedge=HedgeSettings(enabled=False)
                        ).with_settings({"FAL_KEY": fal_server.KEY, "HDCORE_FAL_BASE_URL": base})
        data = png_bytes(photo(FAL_INPUT))
        attempt = run_cell("fal", config, data, 2, FAL_TIMEOUT, fal_server.KEY, every_log_record)
        assert attempt.outcome == outcome
        assert attempt.reason.startswith(reason), attempt.reason
        assert_token_absent(fal_server.KEY.split(":")[1], every_log_record, attempt.reason)

        # run_cell already waited for the hdcore-fal* threads (the cancel's included): the cancels are in
        expected = sorted(server.state.jobs) if fault in FAL_STILL_RUNNING else []
        assert sorted(server.state.cancels) == expected
        assert len(server.state.submits()) <= 1  # never paid twice
        assert elsewhere.state.requests == []  # no redirect followed, no foreign file fetched, the key never left
        if outcome == "error":
            tier_alone_raises("fal", config, data, 2, fal_server.KEY, every_log_record)


# --- hostile servers: Hugging Face ---------------------------------------------------------------------

HF_ROUTED_MODEL = "acme/matrix-upscaler"
HF_HOSTILE_CELLS = [
    # route, fault, state changes, outcome, the reason begins with ("{refused}": the routed tier's one message)
    ("server", "echo-token", {"echo_style": "plain"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "echo-token", {"echo_style": "upper"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "echo-token", {"echo_style": "percent"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "echo-token", {"echo_style": "plus"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "echo-token", {"echo_style": "json-escaped"}, "error", "Hugging Face server error (HTTP 500)"),
    ("server", "echo-token", {"echo_style": "html"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "echo-token", {"echo_style": "straddle"}, "error", "Hugging Face server error (HTTP 500): upstream"),
    ("server", "redirect", {}, "error", "Hugging Face answered with a redirect (HTTP 307), not followed"),
    ("server", "429", {"retry_after": "99999999999999999999"}, "error",
     "rate limited by Hugging Face (HTTP 429), retry after 3600 s"),
    ("server", "413", {}, "error", "Hugging Face refused this request (HTTP 413)"),
    ("server", "huge-length", {}, "error", "answer of 10,000,000,000 bytes is over the"),
    ("server", "endless", {}, "error", "answer is over the"),
    ("providers", "echo-token", {"echo_style": "percent"}, "error", "Hugging Face server error (HTTP 500)"),
    ("providers", "redirect", {}, "error", "{refused}"),
    ("providers", "elsewhere", {}, "error", "{refused}"),
    ("providers", "429", {"retry_after": "1e308"}, "error",
     "rate limited by Hugging Face (HTTP 429), retry after 3600 s"),
    ("providers", "huge-length", {}, "error", "answer of 10,000,000,000 bytes is over the"),
    ("providers", "endless", {}, "error", "answer is over the"),
    ("providers", "queue-forever", {}, "timeout", "timed out after 1.0 s"),
]


def hf_hostile_config(route: str, server, timeout: float) -> Config:
    settings = {"HUGGINGFACE_TOKEN": hf_server.TOKEN}
    if route == "server":
        settings["HDCORE_HF_BASE_URL"] = server.url
    else:
        settings.update({"HDCORE_HF_ROUTER_URL": server.url, "HDCORE_HF_HUB_URL": server.url,
                         "HDCORE_HF_MODEL_X2": HF_ROUTED_MODEL})
    return Config(timeouts={"hf": timeout, "lanczos": None}, hedge=HedgeSettings(enabled=False)).with_settings(settings)


@pytest.fixture
def fresh_hub(monkeypatch):
    """huggingface_hub caches each model's provider mapping for the process and reads HF_HUB_OFFLINE once."""
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import _common

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    _common._fetch_inference_provider_mapping.cache_clear()


@pytest.mark.parametrize("route, fault, changes, outcome, reason", HF_HOSTILE_CELLS,
                         ids=[f"{c[0]}-{c[1]}-{'-'.join(map(str, c[2].values()))}" for c in HF_HOSTILE_CELLS])
def test_hf_hostile(route, fault, changes, outcome, reason, every_log_record, fresh_hub):
    from hdcore.providers.hf.routed import REFUSED
    from tests.providers.test_remote import leaked_fragments

    with hf_server.hf_router() as server, hf_server.hf_router() as elsewhere:
        server.state.mapped[HF_ROUTED_MODEL] = ("fal-ai", "fal-ai/matrix", 2)
        server.state.fault, server.state.drip_seconds = fault, 10_000.0
        server.state.redirect_to = elsewhere.url + "/models/" + hf_server.REAL_ESRGAN
        server.state.image_url = elsewhere.url + "/files/req1.png"
        for name, value in changes.items():
            setattr(server.state, name, value)
        # fal's client sleeps 0.5 s before its first poll: a cell that is no matter of time gets room to reach it
        deadline = HF_TIMEOUT if outcome == "timeout" else 3.0
        config = hf_hostile_config(route, server, deadline)
        attempt = run_cell("hf", config, png_bytes(photo(HF_INPUT)), 2, deadline, hf_server.TOKEN, every_log_record)

        assert attempt.outcome == outcome
        assert attempt.reason.startswith(reason.format(refused=REFUSED)), attempt.reason
        assert leaked_fragments(hf_server.TOKEN, attempt.reason, window=6) == []
        assert elsewhere.state.requests == []  # neither the token nor the image went anywhere else


# --- hostile servers: the Space ------------------------------------------------------------------------

SPACE_HOSTILE_CELLS = [
    # mode (the first argument), api name, outcome, the reason begins with
    ("echo:" + SPACE_TOKEN.upper(), "/predict", "error", "the Space failed: model crashed near"),
    ("echo:" + "x" * 170 + SPACE_TOKEN, "/predict", "error", "the Space failed: model crashed near"),
    ("echo:" + SPACE_TOKEN.replace("_", "%5f"), "/predict", "error", "the Space failed: model crashed near"),
    ("{elsewhere}/x.png", "/link", "error", "{refused}"),
    ("{closed}/x.png", "/link", "error", "{refused}"),
    ("{space}/hop?to={elsewhere}/x.png", "/link", "error", "{refused}"),
    ("big", "/predict", "error", "the Space's file of"),
]


@pytest.mark.parametrize("mode, api_name, outcome, reason", SPACE_HOSTILE_CELLS,
                         ids=["echo-upper", "echo-straddle", "echo-percent", "ssrf-open", "ssrf-closed",
                              "redirect-elsewhere", "big"])
def test_space_hostile(mode, api_name, outcome, reason, every_log_record, fault_space):
    from hdcore.providers.space.answer import REFUSED
    from tests.providers.test_remote import leaked_fragments

    url, log = fault_space
    with hf_server.hf_router() as elsewhere:
        argument = mode.format(elsewhere=elsewhere.url, closed=f"http://127.0.0.1:{closed_port()}", space=url)
        deadline = 5.0  # none of these cells is a matter of time: room for a loaded machine
        config = Config(timeouts={"space": deadline, "lanczos": None}, hedge=HedgeSettings(enabled=False)
                        ).with_settings({"HDCORE_SPACE": url, "HDCORE_SPACE_ARGS": json.dumps([argument]),
                                         "HDCORE_SPACE_API_NAME": api_name, "HUGGINGFACE_TOKEN": SPACE_TOKEN})
        attempt = run_cell("space", config, png_bytes(photo(SPACE_INPUT)), 4, deadline, SPACE_TOKEN, every_log_record)
        assert attempt.outcome == outcome
        assert attempt.reason.startswith(reason.format(refused=REFUSED)), attempt.reason
        assert leaked_fragments(SPACE_TOKEN, attempt.reason, window=6) == []
        assert elsewhere.state.requests == []
