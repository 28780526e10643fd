"""Sweeps and batches on a real Ray cluster on this machine (2 CPUs, 127.0.0.1): the same rows as in-process
with local models, Lanczos and the cloud tiers against their protocol servers; a killed sweep resumes from what
it wrote; a batch resumes by skipping what exists; and the caps of the remote tiers hold across the cluster: a
tier limited to one call at a time never sees two, and the daily budget is one budget for every worker (each
shown next to what the same job does when every worker keeps its own, so the checks can fail)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdcore import Config, Engine
from hdcore.batch import BatchSettings, expand_inputs, plan_items, run_batch
from hdcore.config import BudgetSettings
from hdcore.distributed import LedgerSource, RayPool, RaySettings, RaySweep, WorkerEngine, run_batch_on_ray
from hdcore.engine.budget import MemoryLedger
from hdcore.distributed.cluster import start_shared
from hdcore.distributed.gates import ClusterGates
from hdcore.distributed.workers import run_on_pool
from hdcore.errors import Cancelled, ClusterError, ConfigError
from hdcore.sweep import files
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.run import SweepProgress, run_sweep
from tests.distributed.conftest import LOOPBACK_ONLY
from tests.servers import hf_router as hf_server
from tests.servers.base import LocalServer
from tests.servers.replicate_server import TOKEN as REPLICATE_TOKEN
from tests.servers.replicate_server import ReplicateServer, ReplicateState

ROOT = Path(__file__).resolve().parents[2]
CLOUD_TIMEOUT_S = 20.0
REAL_ESRGAN_PER_RUN = 0.0019  # Replicate's catalogue figure: what each call costs without measured metrics
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "astronaut", "coffee", "chelsea", "rocket")


def crops(folder: Path, count: int, side: int = 96) -> Path:
    """``count`` different crops of scikit-image's public-domain photos, written as PNG references."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = sample_photo(PHOTOS[index % len(PHOTOS)])
        top, left = 10 + 7 * index, 20 + 11 * index
        Image.fromarray(photo[top : top + side, left : left + side + 24]).save(folder / f"ref-{index}.png")
    return folder


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> Path:
    return crops(tmp_path_factory.mktemp("references"), 2, side=120)


@dataclass
class InFlight(hf_server.HFRouterState):
    """The HF router, holding each request ``hold_s`` and counting how many it serves at once."""

    hold_s: float = 0.4
    in_flight: int = 0
    most: int = 0
    counter: threading.Lock = field(default_factory=threading.Lock)


class CountingHandler(hf_server.HFRouterHandler):
    state: InFlight

    def do_POST(self) -> None:
        with self.state.counter:
            self.state.in_flight += 1
            self.state.most = max(self.state.most, self.state.in_flight)
        try:
            time.sleep(self.state.hold_s)
            super().do_POST()
        finally:
            with self.state.counter:
                self.state.in_flight -= 1


def counting_router(hold_s: float) -> LocalServer:
    return LocalServer(CountingHandler, InFlight(hold_s=hold_s))


def hf_settings(router: LocalServer) -> dict[str, str]:
    return {"HUGGINGFACE_TOKEN": hf_server.TOKEN, "HDCORE_HF_BASE_URL": router.url}


def cloud_config(router: LocalServer, replicate: ReplicateServer, **changes) -> Config:
    config = Config(timeouts={"hf": CLOUD_TIMEOUT_S, "replicate": CLOUD_TIMEOUT_S}, **changes)
    return config.with_settings({**hf_settings(router), "REPLICATE_API_TOKEN": REPLICATE_TOKEN,
                                 "REPLICATE_BASE_URL": replicate.api_url})  # fmt: skip


def pool(address: str, scope: str, make_engine, workers: int = 2) -> RayPool:
    return RayPool(RaySettings(address, workers=workers, scope=scope), make_engine, LedgerSource())


@dataclass(frozen=True)
class OwnGates:
    """Workers whose engines keep their own gates: what the cluster's gates are compared with."""

    config: Config

    def __call__(self, gates, ledger) -> Engine:
        return Engine(self.config, ledger=ledger)


@dataclass(frozen=True)
class OwnLedger:
    """Workers whose engines keep their own spend ledger."""

    config: Config

    def __call__(self, gates, ledger) -> Engine:
        return Engine(self.config, gates=gates, ledger=MemoryLedger())


def without_latency(records: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "latency_s"} for record in records]


def batch_items(folder: Path, out_dir: Path):
    found, problems = expand_inputs([str(folder)])
    items, clashes = plan_items(found, 2, "png", out_dir)
    assert not problems and not clashes
    return items


# ------------------------------------------------------------------------------------------------ gates


def test_a_call_waiting_at_the_clusters_gate_sees_its_place_and_leaves_the_line_when_cancelled(ray_cluster, scope):
    import ray

    shared = start_shared(ray, RaySettings(ray_cluster, scope=scope), LedgerSource())
    gate = ClusterGates(shared.gates).gate("space", 1)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    places: list[int] = []

    def give_up() -> None:
        if places:
            raise Cancelled("cancelled by the caller")

    with pytest.raises(Cancelled):
        with gate.slot(on_wait=places.append, check=give_up):
            pytest.fail("admitted while the only place was held")
    assert places == [1] and ray.get(shared.gates.counts.remote("space")) == (1, 0)  # it left the line
    release.set()
    holder.join(30)
    assert ray.get(shared.gates.counts.remote("space")) == (0, 0)
    assert ClusterGates(shared.gates).has_room("space", 1) and ClusterGates(shared.gates).gate("local", None) is None


# ------------------------------------------------------------------------------------------------ sweeps


def test_a_sweep_on_the_cluster_gives_the_same_rows_as_in_process(ray_cluster, scope, references, tmp_path):
    entries = ["lanczos", "local:waifu2x-photo", "hf", "replicate"]
    with counting_router(hold_s=0.0) as router, ReplicateServer(ReplicateState(predict_time=None)) as replicate:
        config = cloud_config(router, replicate)
        here = run_sweep([references], entries, (2, 4), engine=Engine(config))
        events: list[SweepProgress] = []
        there = run_sweep([references], entries, (2, 4), out_dir=tmp_path, progress=events.append,
                          runner=RaySweep(pool(ray_cluster, scope, WorkerEngine(config))))  # fmt: skip
    assert here.failures == 0 and len(here.rows) == 2 * 2 * 5
    assert without_latency(there.to_records()) == without_latency(here.to_records())  # scores, costs, order
    assert {row.cost_kind for row in there.rows if row.entry == "replicate"} == {"estimated"}
    assert [event.done for event in events] == list(range(1, 21)) and not any(event.reused for event in events)
    written = json.loads((tmp_path / files.RESULTS_JSON).read_text())
    assert without_latency(written) == without_latency(there.to_records())
    for row in there.rows:  # every output's crop was made on a worker and written by the driver
        assert files.crop_path(tmp_path, row.image, row.scale, row.entry).is_file()


def test_a_killed_sweep_on_the_cluster_resumes_from_the_rows_it_wrote(ray_cluster, scope, tmp_path):
    folder = crops(tmp_path / "refs", 6)
    out = tmp_path / "out"
    with counting_router(hold_s=0.5) as router:  # a slow cloud tier: the sweep lasts long enough to be killed
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HDCORE_", "HUGGINGFACE", "REPLICATE"))}
        environment.update(LOOPBACK_ONLY, **hf_settings(router), HDCORE_DATA_DIR=str(tmp_path / "data"))
        command = [sys.executable, "-m", "hdcore", "qa-sweep", str(folder), "--providers", "lanczos,hf", "--scales",
                   "2,4", "--out", str(out), "--no-progress", "--ray", ray_cluster, "--workers", "2"]  # fmt: skip
        process = subprocess.Popen(command, cwd=ROOT, env=environment, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            wait_for_rows(out / files.RESULTS_JSON, at_least=6, process=process)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the driver and anything it started: a real kill
            process.wait(timeout=30)
        partial = json.loads((out / files.RESULTS_JSON).read_text())  # as the kill left it
        assert 6 <= len(partial) < 36, "the sweep was not killed midway"

        events: list[SweepProgress] = []
        config = Config(timeouts={"hf": CLOUD_TIMEOUT_S}).with_settings(hf_settings(router))
        resumed = run_sweep([folder], ["lanczos", "hf"], (2, 4), out_dir=out, resume=True, progress=events.append,
                            runner=RaySweep(pool(ray_cluster, scope, WorkerEngine(config))))  # fmt: skip
        fresh = run_sweep([folder], ["lanczos", "hf"], (2, 4), engine=Engine(config))
    assert resumed.reused == len(partial) == sum(event.reused for event in events)  # not run again
    by_key = {(r["image"], r["entry"], r["scale"]): r for r in resumed.to_records()}
    assert all(by_key[(r["image"], r["entry"], r["scale"])] == r for r in partial)  # latencies included
    assert without_latency(resumed.to_records()) == without_latency(fresh.to_records()) and resumed.failures == 0


def test_a_pool_the_cluster_cannot_hold_is_a_one_line_error_not_a_wait(ray_cluster, scope, references):
    too_many = pool(ray_cluster, scope, WorkerEngine(Config()), workers=3)
    with pytest.raises(ConfigError, match=r"^3 worker\(s\) of 1 CPU need 3 CPUs; the cluster has 2$"):
        run_sweep([references], ["lanczos"], (2,), runner=RaySweep(too_many))


def unbuildable(gates, ledger) -> Engine:
    raise ConfigError("HDCORE_LOCAL_THREADS must be at most 1,024, not 5,000")


def broken_work(engine: Engine, job: int) -> int:
    raise RuntimeError(f"job {job}\nwent wrong")


@pytest.mark.parametrize("make_engine, work, message", [
    (unbuildable, broken_work, "cannot build its engine: ConfigError: HDCORE_LOCAL_THREADS must be at most 1,024"),
    (WorkerEngine(Config()), broken_work, "unexpected RuntimeError: job 0 went wrong"),
], ids=["an engine a worker cannot build", "a bug in the work"])  # fmt: skip
def test_a_worker_that_cannot_do_its_job_is_one_line_naming_why(ray_cluster, scope, make_engine, work, message):
    with pytest.raises(ClusterError, match="^a worker failed: ") as caught:
        list(run_on_pool(pool(ray_cluster, scope, make_engine, workers=1), [0], work))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def wait_for_rows(path: Path, at_least: int, process: subprocess.Popen, timeout_s: float = 180.0) -> list[dict]:
    """The rows in a results file once it holds ``at_least`` (polled: it is replaced atomically)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file():
            rows = json.loads(path.read_text())
            if len(rows) >= at_least:
                return rows
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended first: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError(f"no {at_least} rows in {path} within {timeout_s:g} s")


# ------------------------------------------------------------------------------------------------ batches


def test_a_batch_on_the_cluster_writes_what_in_process_writes_and_resumes_by_skipping_it(
    ray_cluster, scope, references, tmp_path
):
    settings = BatchSettings(scale=2, provider="local", model="waifu2x-photo")
    config = Config()
    here = run_batch(batch_items(references, tmp_path / "here"), Engine(config), settings)
    ray_pool = pool(ray_cluster, scope, WorkerEngine(config))
    items = batch_items(references, tmp_path / "ray")
    there = run_batch_on_ray(items, settings, ray_pool)
    assert [r.status for r in there] == [r.status for r in here] == ["ok", "ok"]
    for ours, theirs in zip(here, there):
        assert np.array_equal(np.asarray(Image.open(ours.output)), np.asarray(Image.open(theirs.output)))
        assert theirs.record["model"] == "waifu2x-photo" and theirs.item == items[theirs.item.index]
    there[1].output.unlink()  # as if the run had been killed before the second image was written
    again = run_batch_on_ray(items, settings, ray_pool)
    assert [r.status for r in again] == ["skipped", "ok"] and again[1].output.is_file()


@pytest.mark.parametrize("shared", [True, False], ids=["cluster gates", "each worker's own gates"])
def test_a_tier_limited_to_one_call_at_a_time_never_sees_two_from_the_cluster(ray_cluster, scope, tmp_path, shared):
    folder = crops(tmp_path / "refs", 8, side=32)
    # 8 calls of 0.8 s: long enough that both workers are up before one of them could finish them all alone.
    with counting_router(hold_s=0.8) as router:
        config = Config(concurrency={"hf": 1}, timeouts={"hf": CLOUD_TIMEOUT_S}).with_settings(hf_settings(router))
        make_engine = WorkerEngine(config) if shared else OwnGates(config)
        results = run_batch_on_ray(batch_items(folder, tmp_path / "out"), BatchSettings(scale=2, provider="hf"),
                                   pool(ray_cluster, scope, make_engine))  # fmt: skip
        most, served = router.state.most, len(router.state.requests)
    assert [r.status for r in results] == ["ok"] * 8 and served == 8
    assert most == (1 if shared else 2)


@pytest.mark.parametrize("shared", [True, False], ids=["cluster ledger", "each worker's own ledger"])
def test_the_daily_budget_is_one_budget_for_every_worker(ray_cluster, scope, tmp_path, shared):
    folder = crops(tmp_path / "refs", 8, side=32)
    budget = BudgetSettings(max_per_day=3 * REAL_ESRGAN_PER_RUN + 0.0003)  # three calls fit, a fourth does not
    # Predictions of 1 s: long enough that both workers are up before one of them could make all 8 alone.
    with ReplicateServer(ReplicateState(predict_time=None, run_seconds=1.0)) as replicate:
        config = Config(timeouts={"replicate": CLOUD_TIMEOUT_S}, budget=budget).with_settings(
            {"REPLICATE_API_TOKEN": REPLICATE_TOKEN, "REPLICATE_BASE_URL": replicate.api_url})
        make_engine = WorkerEngine(config) if shared else OwnLedger(config)
        results = run_batch_on_ray(batch_items(folder, tmp_path / "out"), BatchSettings(scale=2, provider="replicate"),
                                   pool(ray_cluster, scope, make_engine))  # fmt: skip
        created = len(replicate.state.predictions)
    succeeded = [r for r in results if r.status == "ok"]
    if shared:
        assert len(succeeded) == 3 and created == 3  # the other five were never sent
        assert all("over the daily budget" in r.attempts[0].reason for r in results if r.status == "failed")
    else:
        assert len(succeeded) > 3  # three per worker: the cap would not hold
