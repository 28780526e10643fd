"""Cost caps and the adaptive order hold on every path: the library, the CLI, a batch and the Batch page go
through the one chain walker, history or not. The paid tier is Replicate itself, driven by the real SDK
against our protocol server on 127.0.0.1 (its price table estimates $0.0019 a run)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import zipfile
from pathlib import Path

import pytest

import hdcore
from hdcore import AllTiersFailed, Config, Engine, batch
from hdcore.attempts import Attempt
from hdcore.config import BudgetSettings, HedgeSettings
from hdcore.engine.budget import MemoryLedger
from hdcore.errors import AllTiersFailed as Failed
from hdcore.history import HistoryStore
from tests.conftest import ScriptedProvider, good, photo, png_bytes, scripted_registry
from tests.servers.replicate_server import TOKEN, ReplicateServer
from tests.test_cli import run as run_cli

TINY_CAP = "0.0000001"  # below any paid call


@pytest.fixture
def replicate():
    with ReplicateServer() as server:
        server.state.run_seconds = 0.05
        yield server


def creates(server: ReplicateServer) -> list[str]:
    return [path for path in server.state.paths("POST") if path.endswith("/predictions")]


def paid_settings(server: ReplicateServer, **more: str) -> dict[str, str]:
    return {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": server.api_url, "HDCORE_ORDER": "replicate,lanczos",
            "HDCORE_HEDGE": "off", **more}  # fmt: skip


# ------------------------------------------------------------------------------------------- the library


def test_hdcore_enhance_skips_a_paid_tier_over_the_per_image_cap_with_no_history(replicate, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no history folder here, and none is created
    config = Config.from_env(paid_settings(replicate, HDCORE_MAX_COST_PER_IMAGE=TINY_CAP))
    result = hdcore.enhance(png_bytes(photo()), 2, config=config)
    assert [(a.provider, a.outcome) for a in result.attempts] == [("replicate", "skipped"), ("lanczos", "ok")]
    assert result.attempts[0].reason.startswith("over the per-image budget: about $0.0019 a run")
    assert creates(replicate) == [] and not (tmp_path / "data").exists()


def test_a_named_paid_tier_is_held_to_the_cap_too(replicate):
    config = Config.from_env(paid_settings(replicate, HDCORE_MAX_COST_PER_IMAGE=TINY_CAP))
    with pytest.raises(AllTiersFailed) as failed:
        Engine(config).enhance(png_bytes(photo()), 2, provider="replicate")
    assert failed.value.attempts[0].reason.startswith("over the per-image budget") and creates(replicate) == []


def test_the_daily_cap_lets_exactly_what_fits_through_even_at_once(replicate):
    # $0.0019 a run, a $0.005 day: two predictions fit, the third would not, however the calls interleave
    config = Config.from_env(paid_settings(replicate, HDCORE_MAX_COST_PER_DAY="0.005"))
    engine = Engine(config, ledger=MemoryLedger())
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(engine.enhance(png_bytes(photo()), 2)))
               for _ in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = sorted(r.provider for r in results)
    assert winners == ["lanczos", "lanczos", "replicate", "replicate"] and len(creates(replicate)) == 2
    skipped = [r.attempts[0].reason for r in results if r.provider == "lanczos"]
    assert all(reason.startswith("over the daily budget: $0.00") for reason in skipped)


def test_a_paid_failure_keeps_its_estimate_as_spent_and_a_free_tier_is_never_skipped():
    config = Config(timeouts={}, hedge=HedgeSettings(enabled=False), budget=BudgetSettings(max_per_day=0.015))
    cost = hdcore.attempts.Cost(0.01, "estimated")

    def failing(request):
        raise hdcore.TransientError("HTTP 500")

    paid = ScriptedProvider(config, "paid", failing, cost=cost, bills_failed_calls=True)
    free = ScriptedProvider(config, "free")
    ledger = MemoryLedger()
    engine = Engine(config, scripted_registry(paid, free), ledger=ledger)
    assert engine.enhance(png_bytes(photo()), 2).provider == "free"
    assert ledger.spent_today() == pytest.approx(0.01)  # the failed call may have been billed
    second = engine.enhance(png_bytes(photo()), 2)
    assert second.attempts[0].reason == "over the daily budget: $0.0100 spent of $0.0150" and len(paid.requests) == 1


# --------------------------------------------------------------------------------------------------- CLI


def test_the_cli_honours_the_per_image_cap(replicate, tmp_path):
    image = tmp_path / "tiny.png"
    photo((24, 16)).save(image)
    done = run_cli("upscale", str(image), "--json", "--scale", "2",
                   env={**paid_settings(replicate), "HDCORE_MAX_COST_PER_IMAGE": TINY_CAP})  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert [(a["provider"], a["outcome"]) for a in record["attempts"]] == [("replicate", "skipped"), ("lanczos", "ok")]
    assert "over the per-image budget" in record["attempts"][0]["reason"] and creates(replicate) == []


def history_where_replicate_failed(folder: Path) -> None:
    with HistoryStore.in_folder(folder) as store:
        failures = [Attempt(1, "replicate", "nightmareai/real-esrgan", "error", "HTTP 500", 0.5) for _ in range(5)]
        store.record_failure(Failed(failures), input_size=(8, 8), scale=2)
        for _ in range(3):
            store.record_failure(Failed([Attempt(1, "lanczos", "lanczos", "ok", "", 0.01)]), input_size=(8, 8), scale=2)


def test_the_cli_runs_the_adaptive_order_from_the_history(replicate, tmp_path):
    history_where_replicate_failed(tmp_path / "data")
    image = tmp_path / "tiny.png"
    photo((24, 16)).save(image)
    settings = {**paid_settings(replicate), "HDCORE_ORDER_MODE": "adaptive", "HDCORE_DATA_DIR": str(tmp_path / "data")}
    done = run_cli("upscale", str(image), "--json", "--scale", "2", env=settings)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["provider"] == "lanczos" and [a["provider"] for a in record["attempts"]] == ["lanczos"]
    assert any("replicate failed 5 of 5" in warning.lower() for warning in record["warnings"])
    assert creates(replicate) == []


# ------------------------------------------------------------------------------------------------- batch


def items(tmp_path: Path, count: int) -> list[batch.BatchItem]:
    found = []
    for index in range(count):
        path = tmp_path / f"in{index}.png"
        photo((16, 12)).save(path)
        found.append(batch.FoundInput(path))
    return batch.plan_items(found, 2, out_dir=tmp_path / "out")[0]


def test_a_batch_holds_the_daily_cap_across_its_images(replicate, tmp_path):
    engine = Engine(Config.from_env(paid_settings(replicate, HDCORE_MAX_COST_PER_DAY="0.005")), ledger=MemoryLedger())
    results = batch.run_batch(items(tmp_path, 4), engine, batch.BatchSettings(scale=2))
    providers = [r.record["provider"] for r in results]
    assert sorted(providers) == ["lanczos", "lanczos", "replicate", "replicate"] and len(creates(replicate)) == 2


def test_a_batch_runs_the_adaptive_order(replicate, tmp_path):
    history_where_replicate_failed(tmp_path / "data")
    config = Config.from_env({**paid_settings(replicate), "HDCORE_ORDER_MODE": "adaptive",
                              "HDCORE_DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    engine = hdcore.configured.configured_engine(config, {"HDCORE_DATA_DIR": str(tmp_path / "data")})
    results = batch.run_batch(items(tmp_path, 2), engine, batch.BatchSettings(scale=2))
    assert [[a.provider for a in r.attempts] for r in results] == [["lanczos"], ["lanczos"]]
    assert creates(replicate) == []


def test_a_batch_with_hedging_on_hedges(tmp_path):
    config = Config(timeouts={"slow": 5.0, "fast": 5.0},
                    hedge=HedgeSettings(enabled=True, default_delay_s=0.05, budget=1.0))  # fmt: skip

    def slow(request):
        request.cancel_event.wait(2.0)
        return good(request)

    engine = Engine(config, scripted_registry(ScriptedProvider(config, "slow", slow, max_concurrency=2),
                                              ScriptedProvider(config, "fast", max_concurrency=2)))  # fmt: skip
    started = time.monotonic()
    results = batch.run_batch(items(tmp_path, 2), engine, batch.BatchSettings(scale=2))
    assert time.monotonic() - started < 1.5
    for result in results:
        assert [(a.provider, a.outcome) for a in result.attempts] == [("slow", "error"), ("fast", "ok")]
        assert result.attempts[0].reason == "hedged: lost the race to fast; cancelled"


# --------------------------------------------------------------------------------------------- Batch page


def batch_page(secrets: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    from tests.app.test_app import APP

    app = AppTest.from_file(APP, default_timeout=240)
    for key, value in secrets.items():
        app.secrets[key] = value
    app.run()
    app.switch_page("pages/batch.py")
    app.run()
    assert not app.exception, app.exception
    app.radio[0].set_value(2)
    app.file_uploader[0].set_value([("one.png", png_bytes(photo((24, 16))), "image/png")])
    app.run()
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    with zipfile.ZipFile(io.BytesIO(app.session_state["batch"].zip_data)) as archive:
        return archive.read("attempts.csv").decode()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def app_data(monkeypatch, tmp_path):
    for name in ("HUGGINGFACE_TOKEN", "REPLICATE_API_TOKEN", "HDCORE_SPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HDCORE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_the_batch_page_honours_the_per_image_cap(replicate, app_data):
    rows = csv_rows(batch_page({**paid_settings(replicate), "HDCORE_MAX_COST_PER_IMAGE": TINY_CAP}))
    assert [(row["provider"], row["outcome"]) for row in rows] == [("replicate", "skipped"), ("lanczos", "ok")]
    assert rows[0]["reason"].startswith("over the per-image budget") and creates(replicate) == []


def test_the_batch_page_runs_the_adaptive_order(replicate, app_data):
    history_where_replicate_failed(app_data)
    rows = csv_rows(batch_page({**paid_settings(replicate), "HDCORE_ORDER_MODE": "adaptive"}))
    assert [(row["provider"], row["outcome"]) for row in rows] == [("lanczos", "ok")] and creates(replicate) == []
