"""The replica setups: compose.yaml (no Docker engine here: its YAML and what it says are checked) and its
no-Docker twin, deploy/run_local.py, run for real (PostgreSQL, two app replicas, one API replica)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import yaml

from hdcore.cli import _parser as cli_parser
from hdcore.config import known_settings
from hdcore.serve.auth import check_bind
from hdcore.serve.jobs import STOP_GRACE_S
from hdcore.serve.settings import SERVE_SETTINGS, ServeSettings
from hdcore.store import open_store
from tests.postgres_cluster import PASSWORD, TEST_DATABASE, free_port
from tests.serve.live import clean_env, data_uri

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
START_S = 150.0
PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolated(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, as compose fills them in from ``env``."""
    def fill(match: re.Match) -> str:
        name, rest = match.group(1), match.group(0)[2 + len(match.group(1)):-1]
        return env.get(name) or (rest[2:] if rest.startswith(":-") else "")

    return PLACEHOLDER.sub(fill, value)


def test_compose_runs_postgres_two_app_replicas_one_api_replica_and_a_sticky_load_balancer():
    services = compose()["services"]
    assert set(services) == {"postgres", "app-1", "app-2", "api", "lb"}
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"lb"} and services["lb"]["ports"] == ["${HDCORE_PORT:-8080}:80"]
    database = services["postgres"]
    assert database["image"].startswith("postgres:") and "pg_isready" in database["healthcheck"]["test"][1]
    env = {"POSTGRES_PASSWORD": "pw123", "HDCORE_API_KEYS": "k" * 32, "STREAMLIT_COOKIE_SECRET": "c" * 32}
    urls = set()
    for name in ("app-1", "app-2", "api"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        urls.add(interpolated(service["environment"]["HDCORE_DATABASE_URL"], env))
    postgres = services["postgres"]["environment"]
    assert urls == {f"postgresql://{postgres['POSTGRES_USER']}:pw123@postgres:5432/{postgres['POSTGRES_DB']}"}
    for name in ("app-1", "app-2"):
        command = services[name]["command"]
        assert command[:5] == ["python", "-m", "streamlit", "run", "streamlit_app.py"]
        assert "--server.port=8501" in command and "--server.address=0.0.0.0" in command
        assert "_stcore/health" in services[name]["healthcheck"]["test"][-1]
    for name in ("app-1", "app-2"):  # one secret for both: a browser moved between them keeps its XSRF cookie
        secret = services[name]["environment"]["STREAMLIT_SERVER_COOKIE_SECRET"]
        assert secret == "${STREAMLIT_COOKIE_SECRET:?set STREAMLIT_COOKIE_SECRET}"


def test_the_api_service_is_a_valid_hdcore_serve_with_keys_and_time_to_drain():
    api = compose()["services"]["api"]
    args = cli_parser().parse_args(api["command"][3:])  # after "python -m hdcore"
    assert (args.command, args.host, args.port, args.no_auth) == ("serve", "0.0.0.0", 8000, False)
    assert api["environment"]["HDCORE_API_KEYS"].startswith("${HDCORE_API_KEYS:?")  # compose refuses to start without
    drain = api["environment"]["HDCORE_SERVE_DRAIN"]
    settings = ServeSettings.from_env({"HDCORE_API_KEYS": "k" * 32, "HDCORE_SERVE_DRAIN": drain})
    check_bind(args.host, settings.api_keys)
    assert int(api["stop_grace_period"].removesuffix("s")) > settings.drain_s + STOP_GRACE_S
    assert "/readyz" in api["healthcheck"]["test"][-1]
    read = {setting.variable for setting in (*known_settings(), *SERVE_SETTINGS)}
    for name in ("app-1", "app-2", "api"):
        hdcore_variables = {v for v in compose()["services"][name]["environment"] if v.startswith("HDCORE_")}
        assert hdcore_variables <= read, hdcore_variables - read


def test_the_caddyfile_pins_browsers_to_an_app_replica_and_sends_the_api_to_the_api():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    services = compose()["services"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["lb"]["volumes"]
    app_block = caddyfile[caddyfile.index("reverse_proxy app-1"):]
    assert re.search(r"reverse_proxy app-1:8501 app-2:8501 \{", caddyfile)
    assert "lb_policy cookie hdcore_replica" in app_block and "health_uri /_stcore/health" in app_block
    assert re.search(r"handle /api/\* \{\s+reverse_proxy api:8000", caddyfile)
    upstreams = set(re.findall(r"\b([a-z0-9-]+):(\d+)\b", caddyfile))
    assert upstreams == {("app-1", "8501"), ("app-2", "8501"), ("api", "8000")}
    assert {host for host, _ in upstreams} <= set(services)


def test_the_image_builds_from_files_that_exist():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+)", dockerfile, flags=re.MULTILINE)
    assert copied and all((ROOT / path).exists() for path in copied), copied
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile and "USER hdcore" in dockerfile
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git", ".streamlit/secrets.toml"} <= set(ignored)
    example = (DEPLOY / ".env.example").read_text()
    for name in ("POSTGRES_PASSWORD", "HDCORE_API_KEYS", "STREAMLIT_COOKIE_SECRET"):
        assert f"\n{name}=\n" in f"\n{example}"
    assert "/deploy/.env" in (ROOT / ".gitignore").read_text().split()


def test_run_local_starts_a_database_two_apps_and_the_api_on_one_history_and_stops_them_all():
    ports = [free_port() for _ in range(3)]
    command = [sys.executable, "deploy/run_local.py", "--app-ports", f"{ports[0]},{ports[1]}",
               "--api-port", str(ports[2])]  # fmt: skip
    script = subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip() for line in script.stdout), daemon=True).start()
    try:
        end = time.monotonic() + START_S
        while not any("ready:" in line or "error:" in line for line in lines) and time.monotonic() < end:
            time.sleep(0.2)
        assert any("ready:" in line for line in lines), "\n".join(lines)
        database_port = int(re.search(r"database: postgresql://postgres:\*\*\*@127\.0\.0\.1:(\d+)/", lines[0]).group(1))
        health = [httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30).text for port in ports[:2]]
        answer = httpx.post(f"http://127.0.0.1:{ports[2]}/api/ai/hd-image", timeout=60,
                            json={"image": data_uri(), "scale": 2, "provider": "lanczos"})  # fmt: skip
        url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{database_port}/{TEST_DATABASE}"
        with open_store(url) as store:
            recorded = {run.id: run.provider for run in store.runs()}
    finally:
        script.send_signal(signal.SIGTERM)
        code = script.wait(90)
    assert health == ["ok", "ok"] and answer.status_code == 200
    assert recorded == {answer.json()["run_id"]: "lanczos"}
    assert code == 0 and lines[-1] == "run_local: stopped" and PASSWORD not in "\n".join(lines)
    for port in (*ports, database_port):  # every replica and the database are gone
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
