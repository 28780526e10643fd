"""``--ray`` on the command line when Ray is not installed (simulated: ``import ray`` fails in the child): a
one-line usage error before any work, and the same commands without ``--ray`` run in-process as before."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from hdcore.distributed.cluster import RAY_MISSING
from hdcore.sweep.niqe_fit import sample_photo

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_RAY = "import sys; sys.modules['ray'] = None; from hdcore.cli import main; sys.exit(main(sys.argv[1:]))"


def run_without_ray(*args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    return subprocess.run([sys.executable, "-c", WITHOUT_RAY, *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=240)  # fmt: skip


@pytest.fixture
def reference(tmp_path) -> Path:
    path = tmp_path / "astronaut.png"
    Image.fromarray(sample_photo("astronaut")[30:126, 170:266]).save(path)
    return path


def commands(reference: Path, out: Path) -> list[list[str]]:
    sweep = ["qa-sweep", str(reference), "--providers", "lanczos", "--scales", "2", "--out", str(out)]
    upscale = ["upscale", str(reference), "--provider", "lanczos", "--scale", "2", "--out-dir", str(out)]
    return [sweep + ["--no-progress"], upscale + ["--no-progress"]]


@pytest.mark.parametrize("which", ["qa-sweep", "upscale"])
def test_ray_without_ray_installed_is_a_one_line_usage_error_before_any_work(reference, tmp_path, which):
    command = next(c for c in commands(reference, tmp_path / "out") if c[0] == which)
    result = run_without_ray(*command, "--ray")
    assert result.returncode == 2 and result.stderr == f"hdcore: error: {RAY_MISSING}\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("which", ["qa-sweep", "upscale"])
def test_without_ray_the_same_commands_run_in_process(reference, tmp_path, which):
    command = next(c for c in commands(reference, tmp_path / "out") if c[0] == which)
    result = run_without_ray(*command)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "out").iterdir())


def test_pool_options_without_ray_are_refused_rather_than_ignored(reference, tmp_path):
    result = run_without_ray(*commands(reference, tmp_path / "out")[0], "--workers", "2")
    assert result.returncode == 2 and result.stderr == "hdcore: error: --workers and --worker-cpus need --ray\n"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed on exit: connections are refused at once


@pytest.mark.parametrize("address, message", [
    ("closed", "cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"),
    ("nohost", "--ray must be auto, host:port or ray://host:port, not 'nohost'"),
])  # fmt: skip
def test_a_cluster_that_is_not_there_is_a_one_line_error_in_seconds_not_a_wait(reference, tmp_path, address, message):
    port = closed_port()
    where = f"127.0.0.1:{port}" if address == "closed" else address
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
    result = subprocess.run([sys.executable, "-m", "hdcore", *commands(reference, tmp_path / "out")[1], "--ray", where],
                            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and result.stderr == f"hdcore: error: {message.format(port=port)}\n"
