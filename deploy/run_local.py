"""Replicas on this machine, without Docker: a throwaway PostgreSQL (made as the tests make theirs), two app
replicas (``streamlit run``) and one API replica (``hdcore serve``), all on 127.0.0.1, all on one database.

    python deploy/run_local.py [--app-ports 8501,8502] [--api-port 8000] [--database-url URL]

Each app replica has its own port (there is no load balancer here: that is compose.yaml's Caddy); open both
and every run made in one, or through the API, shows on the History and Health pages of the other.
``--database-url`` (or HDCORE_DATABASE_URL) uses that database instead of a throwaway one.
Ctrl-C or SIGTERM stops every process (the API drains its jobs first) and removes the throwaway database.
Every wait is bounded; the processes' output goes to log files in a temporary folder, named at the start.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres_cluster import TEST_DATABASE, PostgresCluster  # noqa: E402  (the repository's own helper)

START_S = 120.0  # two Streamlit processes and a server start on a busy 2-core machine in 10-30 s
STOP_S = 45.0  # the API's drain (HDCORE_SERVE_DRAIN, 30 s by default) and its cancels


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    logs = Path(tempfile.mkdtemp(prefix="hdcore-replicas-"))
    cluster = None if args.database_url else PostgresCluster.create()
    url = args.database_url or cluster.url(TEST_DATABASE)
    processes: dict[str, subprocess.Popen] = {}
    try:
        say(f"database: {masked(url)}" + (" (throwaway)" if cluster else ""))
        env = {**os.environ, "HDCORE_DATABASE_URL": url}
        commands = _commands(args)
        for name, (command, home, _) in commands.items():
            processes[name] = _start(command, env, logs / f"{name}.log")
            say(f"{name}: {home} (log: {logs / f'{name}.log'})")
        _wait_until_healthy(processes, commands, stop)
        say("ready: every replica answers; Ctrl-C stops them all")
        while not stop.wait(0.5):
            if failed := [name for name, process in processes.items() if process.poll() is not None]:
                raise RuntimeError(f"{', '.join(failed)} stopped on its own (see the logs)")
        shutil.rmtree(logs, ignore_errors=True)  # a clean stop: the logs are kept only to say what went wrong
        return 0
    except (RuntimeError, OSError) as error:
        say(f"error: {error}")
        return 1
    finally:
        _stop(processes)
        if cluster is not None:
            cluster.destroy()
        say("stopped")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python deploy/run_local.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-ports", default="8501,8502", help="the app replicas' ports (default 8501,8502)")
    parser.add_argument("--api-port", type=int, default=8000, help="the API replica's port (default 8000)")
    parser.add_argument("--database-url", default=os.environ.get("HDCORE_DATABASE_URL"),
                        help="a PostgreSQL URL to use instead of a throwaway database")  # fmt: skip
    return parser


def _commands(args: argparse.Namespace) -> dict[str, tuple[list[str], str, str]]:
    """Each replica's command line, its address for people, and the URL that answers once it is up."""
    commands = {}
    for index, port in enumerate(int(p) for p in args.app_ports.split(",") if p.strip()):
        home = f"http://127.0.0.1:{port}/"
        commands[f"app-{index + 1}"] = (
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", f"--server.port={port}",
             "--server.address=127.0.0.1", "--server.headless=true", "--browser.gatherUsageStats=false"],
            home, f"{home}_stcore/health",
        )  # fmt: skip
    home = f"http://127.0.0.1:{args.api_port}/"
    commands["api"] = ([sys.executable, "-m", "hdcore", "serve", "--port", str(args.api_port)], f"{home}docs",
                       f"{home}healthz")  # fmt: skip
    return commands


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def _wait_until_healthy(processes: dict[str, subprocess.Popen], commands: dict, stop: threading.Event) -> None:
    pending = {name: health for name, (_, _, health) in commands.items()}
    end = time.monotonic() + START_S
    while pending:
        if stop.is_set():
            raise RuntimeError("stopped before every replica was up")
        if time.monotonic() > end:
            raise RuntimeError(f"not up after {START_S:g} s: {', '.join(pending)} (see the logs)")
        for name in list(pending):
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with status {processes[name].returncode} (see its log)")
            if _answers(pending[name]):
                del pending[name]
        time.sleep(0.25)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    end = time.monotonic() + STOP_S
    for process in processes.values():
        try:
            process.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_S)


def masked(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def say(text: str) -> None:
    print(f"run_local: {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
