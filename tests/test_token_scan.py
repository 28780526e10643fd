"""The token scan: every secret hdcore reads set to a sentinel, every tier pointed at a server on 127.0.0.1 that
echoes the request's headers (its token included) back in its error, and then the library (logging at DEBUG,
every logger), the CLI (stdout and stderr), the app (every page, every element) and the history (the database's
own bytes, SQLite and PostgreSQL): no sentinel anywhere, in any spelling."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import hdcore
from hdcore.config import DATABASE_URL, Config, Secret, known_settings
from hdcore.configured import configured_engine
from hdcore.errors import AllTiersFailed
from hdcore.store import HistoryStore, open_store
from tests.app.test_app import APP, rendered_text
from tests.conftest import photo, png_bytes
from tests.servers.hostile import HostileState, hostile_server

ROOT = Path(__file__).resolve().parent
LOGGERS = ("", "hdcore", "httpx", "httpcore", "urllib3", "requests", "replicate", "gradio_client", "huggingface_hub",
           "sqlalchemy", "psycopg", "streamlit", "PIL")  # fmt: skip
CLOUD_TIERS = ("hf", "replicate", "space")


def sentinel(variable: str) -> str:
    return f"tok_SENTINEL_{variable.lower()}_7e1f4242"


def secret_settings(include_database: bool = False) -> dict[str, str]:
    """Every setting whose value is a secret, set to its sentinel (the database URL only when asked: it moves the
    history to PostgreSQL)."""
    found = {}
    for setting in known_settings():
        if setting is DATABASE_URL:
            continue
        try:
            value = setting.read(sentinel(setting.variable))
        except Exception:
            continue
        if isinstance(value, Secret):
            found[setting.variable] = sentinel(setting.variable)
    assert {"HUGGINGFACE_TOKEN", "REPLICATE_API_TOKEN"} <= set(found)
    return found


def spellings(secret: str) -> set[str]:
    """The sentinel as a leak might spell it: as is, in either case, URL-encoded, in base64."""
    return {secret, secret.upper(), secret.lower(), urllib.parse.quote(secret, safe=""),
            base64.b64encode(secret.encode()).decode().rstrip("=")}  # fmt: skip


def assert_no_sentinel(where: str, text: str | bytes, secrets) -> None:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    for secret in secrets:
        for spelling in spellings(secret):
            assert spelling.encode() not in data, f"{spelling} found in {where}"


@pytest.fixture
def echo():
    """A server for every cloud tier: each request answered 400 with its own credentials in the error text."""
    text = "rejected {credentials}"
    state = HostileState(status=400, body=json.dumps({"error": text, "detail": text}), content_type="application/json")
    with hostile_server(state) as server:
        yield server


@pytest.fixture
def environment(echo, tmp_path, monkeypatch):
    """The sentinels and the echoing server in the environment, the history in a temporary folder."""
    values = {**secret_settings(), "HDCORE_HF_BASE_URL": echo.url, "REPLICATE_BASE_URL": echo.url,
              "HDCORE_SPACE": echo.url + "/", "HDCORE_DATA_DIR": str(tmp_path / "data"), "HDCORE_RETRIES": "0"}  # fmt: skip
    for name in list(os.environ):
        if name.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE")):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def debug_logging(caplog) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def echoed(echo, secrets) -> None:
    """The servers did receive the tokens (so the scan below has something to find, were it leaked)."""
    headers = " ".join(str(request.headers) for request in echo.state.requests)
    assert any(secret in headers for secret in secrets), "no tier sent its token: the scan would prove nothing"


# ---------------------------------------------------------------------------------------------- library


def test_no_token_reaches_the_librarys_results_logs_or_history(environment, echo, caplog, capfd, tmp_path):
    debug_logging(caplog)
    secrets = [environment[name] for name in secret_settings()]
    engine = configured_engine()
    image = png_bytes(photo((24, 16)))
    result = engine.enhance(image, 2)  # every cloud tier refuses, echoing its token; the local tier delivers
    assert result.provider == "local" and [a.outcome for a in result.attempts][:3] == ["error"] * 3
    probes = [engine.probe(tier).to_dict() for tier in CLOUD_TIERS]
    with pytest.raises(AllTiersFailed) as failed:
        engine.enhance(image, 2, list(CLOUD_TIERS))
    answer = hdcore.hd_image(base64.b64encode(image).decode(), 2, engine=engine, provider=list(CLOUD_TIERS))
    store = HistoryStore.in_folder(tmp_path / "library-history")
    store.record_result(result, source_name="a.png")
    store.record_failure(failed.value, input_size=(24, 16), scale=2, source_name="a.png")
    echoed(echo, secrets)

    outputs = [json.dumps(result.to_dict()), json.dumps(probes), str(failed.value), json.dumps(answer),
               repr(engine.config), json.dumps([run for run in store.runs(limit=10)], default=str)]  # fmt: skip
    assert_no_sentinel("results", "\n".join(outputs), secrets)
    assert_no_sentinel("logs", caplog.text + "".join(f"{r.args}" for r in caplog.records), secrets)
    assert_no_sentinel("stdout/stderr", "".join(capfd.readouterr()), secrets)
    assert "rejected" in " ".join(a.reason for a in result.attempts)  # the echoed errors did reach the results
    for file in (tmp_path / "library-history").iterdir():
        assert_no_sentinel(f"the history file {file.name}", file.read_bytes(), secrets)


# -------------------------------------------------------------------------------------------------- CLI


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hdcore", *args], cwd=ROOT.parent, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=240)  # fmt: skip


def test_no_token_reaches_the_clis_output(environment, echo, tmp_path):
    secrets = [environment[name] for name in secret_settings()]
    source = tmp_path / "a.png"
    photo((24, 16)).save(source)
    runs = [
        cli("upscale", str(source), "--scale", "2", "--json", "--out-dir", str(tmp_path / "out"), "--zip",
            str(tmp_path / "all.zip"), env=environment),
        cli("upscale", str(source), "--scale", "2", "--provider", "hf", "--overwrite", "--out-dir",
            str(tmp_path / "out"), env=environment),
        cli("providers", "--probe", "--json", env=environment),
        cli("providers", "--probe", env=environment),
        cli("qa", str(source), "--providers", "hf,replicate,space,lanczos", "--scale", "2", "--csv",
            str(tmp_path / "qa.csv"), env=environment),
    ]  # fmt: skip
    echoed(echo, secrets)
    for run in runs:
        assert "Traceback" not in run.stderr, run.stderr
        assert_no_sentinel(f"the output of {run.args[3:5]}", run.stdout + run.stderr, secrets)
    assert "rejected" in runs[2].stdout  # the echoed error text did reach the output
    for written in (tmp_path / "all.zip", tmp_path / "qa.csv"):
        assert_no_sentinel(written.name, written.read_bytes(), secrets)


# -------------------------------------------------------------------------------------------------- app


def every_page(app: AppTest) -> list[str]:
    """Run the app through each page (a run that falls back to the local tier, a probe of every tier, QA and a
    batch with the cloud tiers, the history and health pages); the rendered elements of each."""
    seen = [rendered_text(app)]
    app.file_uploader[0].set_value(("a.png", png_bytes(photo((24, 16))), "image/png")).run()
    app.radio[0].set_value(2).run()
    app.button[0].click().run()
    seen.append(rendered_text(app))
    app.switch_page("pages/providers.py").run()
    for tier in CLOUD_TIERS:
        next(button for button in app.button if button.key == f"probe-{tier}").click().run()
        seen.append(rendered_text(app))
    app.switch_page("pages/qa.py").run()
    app.file_uploader[0].set_value(("a.png", png_bytes(photo((24, 16))), "image/png")).run()
    app.multiselect[0].set_value(["hf", "replicate", "lanczos"]).run()
    app.button[0].click().run()
    seen.append(rendered_text(app))
    app.switch_page("pages/batch.py").run()
    next(box for box in app.selectbox if box.label == "Provider").set_value("hf").run()
    app.file_uploader[0].set_value([("b.png", png_bytes(photo((16, 12))), "image/png")]).run()
    app.button[0].click().run()
    seen.append(rendered_text(app))
    for page in ("pages/history.py", "pages/health.py"):
        app.switch_page(page).run()
        seen.append(rendered_text(app))
    assert not app.exception, app.exception
    return seen


def test_no_token_reaches_any_page_or_the_history_database(environment, echo, caplog, capfd, tmp_path):
    debug_logging(caplog)
    secrets = [environment[name] for name in secret_settings()]
    app = AppTest.from_file(APP, default_timeout=240)
    app.secrets["HUGGINGFACE_TOKEN"] = environment["HUGGINGFACE_TOKEN"]  # one from secrets.toml, the rest from env
    app.run()
    pages = every_page(app)
    echoed(echo, secrets)
    assert "rejected" in "".join(pages) and "a.png" in "".join(pages)  # the scan does see the pages
    assert_no_sentinel("the pages", "\n".join(pages), secrets)
    assert_no_sentinel("logs", caplog.text, secrets)
    assert_no_sentinel("stdout/stderr", "".join(capfd.readouterr()), secrets)
    files = [file for file in (tmp_path / "data").rglob("*") if file.is_file()]  # the OpenVINO cache included
    assert any(file.suffix == ".sqlite3" for file in files), "the app wrote no history"
    for file in files:
        assert_no_sentinel(f"the data file {file.name}", file.read_bytes(), secrets)


def test_no_database_password_reaches_any_page_log_or_output(environment, echo, caplog, capfd, tmp_path,
                                                              postgres_cluster, monkeypatch):  # fmt: skip
    """The history in PostgreSQL, reached with a password that is a sentinel too: the pages, logs and CLI never
    show it, and neither do the server's own files."""
    password = sentinel(DATABASE_URL.variable)
    with postgres_cluster.admin() as connection:
        connection.execute(f"CREATE ROLE scan LOGIN SUPERUSER PASSWORD '{password}'")
    database = postgres_cluster.create_database().rsplit("/", 1)[1]
    url = f"postgresql://scan:{password}@127.0.0.1:{postgres_cluster.port}/{database}"
    assert Config.from_env({DATABASE_URL.variable: url}).database_url == Secret(url)
    monkeypatch.setenv(DATABASE_URL.variable, url)
    debug_logging(caplog)
    secrets = [environment[name] for name in secret_settings()] + [password]
    app = AppTest.from_file(APP, default_timeout=240)
    app.run()
    pages = every_page(app)
    assert open_store(Config.from_env()).count() >= 1  # the runs went into PostgreSQL
    source = tmp_path / "a.png"
    photo((24, 16)).save(source)
    run = cli("upscale", str(source), "--scale", "2", "--json", "--out-dir", str(tmp_path / "out"),
              env={**environment, DATABASE_URL.variable: url})  # fmt: skip
    closed = cli("upscale", str(source), "--scale", "2", "--overwrite", "--out-dir", str(tmp_path / "out"),
                 env={**environment, DATABASE_URL.variable: url.replace(f":{postgres_cluster.port}/", ":9/")})  # fmt: skip
    assert_no_sentinel("the pages", "\n".join(pages), secrets)
    assert_no_sentinel("logs", caplog.text, secrets)
    assert_no_sentinel("stdout/stderr", "".join(capfd.readouterr()) + run.stdout + run.stderr + closed.stdout
                       + closed.stderr, secrets)  # fmt: skip
    for file in postgres_cluster.folder.rglob("*"):
        if file.is_file() and file.name != "password":
            assert_no_sentinel(f"the server's {file.name}", file.read_bytes(), [s for s in secrets if s != password])
