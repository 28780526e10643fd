"""Benchmark the sweep in-process against a local Ray cluster with 1 and 2 workers, side by side.

    python bench/ray_sweep.py [--references 32] [--side 160] [--repeat 3] [--remote-delay 0.5]

Two workloads over the same references (crops of scikit-image's public-domain photos, 2x, bicubic degradation):

    local    the embedded tier's waifu2x-photo model (CPU-bound: ncnn, every thread the process is given)
    remote   a cloud tier (Hugging Face's protocol on 127.0.0.1) that answers after --remote-delay seconds,
             at most 2 calls at once across the cluster (its declared limit): latency-bound, as real ones are

Each configuration runs ``--repeat`` times, interleaved (a busy moment on the machine hits every one alike). The
table gives references per minute over the whole job (median and best), Ray's pool start included (every job
starts its own pool of workers: "pool start" is a one-reference job, almost nothing but that), and once the pool
runs (from the first reference done to the last: the pace a long sweep settles at). The Ray cluster is started
once, on 127.0.0.1, with 2 CPUs.

Measured on a 2-core machine shared with other work (load average 6 to 15 while it ran, so only the ratios
within one run mean anything), 48 references of 160 px, 2 runs each: once running, the local model swept
719 refs/min in-process (ncnn on both cores), 648 on one single-threaded worker and 855 on two; the remote
tier (0.5 s a call, 2 at once) 101 in-process (one call at a time), 100 on one worker and 164 on two. A pool
takes 2.3 to 7.7 s to start (new worker processes importing hdcore), so a sweep of a few seconds is faster
in-process; the pool pays off on long sweeps and on more machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from PIL import Image  # noqa: E402

from hdcore import Config, Engine  # noqa: E402
from hdcore.distributed import LedgerSource, RayPool, RaySettings, RaySweep, WorkerEngine  # noqa: E402
from hdcore.sweep.niqe_fit import sample_photo  # noqa: E402
from hdcore.sweep.run import SweepProgress, run_sweep  # noqa: E402
from tests.servers import hf_router  # noqa: E402
from tests.servers.base import LocalServer  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


class DelayedHandler(hf_router.HFRouterHandler):
    delay_s = 0.5

    def do_POST(self) -> None:
        time.sleep(self.delay_s)
        super().do_POST()


def write_references(folder: Path, count: int, side: int) -> None:
    for index in range(count):
        photo = sample_photo(PHOTOS[index % len(PHOTOS)])
        top, left = (17 * index) % (photo.shape[0] - side), (23 * index) % (photo.shape[1] - side)
        Image.fromarray(photo[top : top + side, left : left + side]).save(folder / f"ref-{index:03d}.png")


@dataclass(frozen=True)
class Timing:
    total_s: float  # the whole job, a pool's start included
    steady_s: float  # from the first reference done to the last: the pool's pace once it runs


def timed(run: Callable[[Callable[[SweepProgress], None]], object], rows_per_reference: int) -> Timing:
    """Time ``run(progress)``; a reference is done when its last row arrives."""
    started = time.perf_counter()
    rows: dict[str, int] = {}
    done: list[float] = []

    def progress(event: SweepProgress) -> None:
        rows[event.row.image] = rows.get(event.row.image, 0) + 1
        if rows[event.row.image] == rows_per_reference:
            done.append(time.perf_counter())

    run(progress)
    return Timing(time.perf_counter() - started, done[-1] - done[0])


def configurations(folder: Path, entry: str, config: Config, address: str) -> dict[str, Callable]:
    def in_process(progress: Callable[[SweepProgress], None]) -> object:
        return run_sweep([folder], [entry], (2,), engine=Engine(config), progress=progress)

    def on_ray(workers: int) -> Callable:
        settings = RaySettings(address, workers=workers, scope=f"bench-{workers}")
        pool = RayPool(settings, WorkerEngine(config, settings.local_threads), LedgerSource())
        return lambda progress: run_sweep([folder], [entry], (2,), runner=RaySweep(pool), progress=progress)

    return {"in-process": in_process, "Ray, 1 worker": on_ray(1), "Ray, 2 workers": on_ray(2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=32, help="references per sweep (default 32)")
    parser.add_argument("--side", type=int, default=160, help="each reference's side in px (default 160)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (default 3)")
    parser.add_argument("--remote-delay", type=float, default=0.5, help="the remote tier's answer time (s)")
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a single-node cluster on 127.0.0.1
    import ray

    ray.init(num_cpus=2, object_store_memory=256 << 20, include_dashboard=False, configure_logging=False,
             log_to_driver=False)  # fmt: skip
    DelayedHandler.delay_s = args.remote_delay
    rows = []
    try:
        with tempfile.TemporaryDirectory() as work, LocalServer(DelayedHandler, hf_router.HFRouterState()) as server:
            folder = Path(work)
            write_references(folder, args.references, args.side)
            remote = Config(timeouts={"hf": 60.0}).with_settings(
                {"HUGGINGFACE_TOKEN": hf_router.TOKEN, "HDCORE_HF_BASE_URL": server.url})
            address = ray.get_runtime_context().gcs_address
            for workload, entry, config in (("local", "local:waifu2x-photo", Config()), ("remote", "hf", remote)):
                runs = configurations(folder, entry, config, address)
                times: dict[str, list[Timing]] = {name: [] for name in runs}
                for _ in range(args.repeat):
                    for name, run in runs.items():
                        times[name].append(timed(run, rows_per_reference=2))  # the bicubic baseline and the entry
                rows += [(workload, name, measured) for name, measured in times.items()]
            one = folder / "ref-000.png"
            one_worker = RaySettings(address, workers=1, scope="bench-start")
            start = RayPool(one_worker, WorkerEngine(Config()), LedgerSource())
            starts = [timed(lambda progress: run_sweep([one], ["lanczos"], (2,), runner=RaySweep(start),
                                                       progress=progress), 2).total_s for _ in range(args.repeat)]
    finally:
        ray.shutdown()
    print(format_table(rows, args.references))
    print(f"\nRay pool start (a one-reference job): median {statistics.median(starts):.2f} s, best {min(starts):.2f} s")
    return 0


def format_table(rows: list[tuple[str, str, list[Timing]]], references: int) -> str:
    """References per minute: over the whole job (median and best of the runs), and once the pool runs."""
    lines = [f"{'workload':<8}  {'configuration':<15}  {'refs/min, whole job':>19}  {'best':>6}  "
             f"{'refs/min, once running':>22}  {'whole job s':>11}"]  # fmt: skip
    for workload, name, measured in rows:
        total = statistics.median(t.total_s for t in measured)
        best = min(t.total_s for t in measured)
        steady = statistics.median(t.steady_s for t in measured)
        lines.append(f"{workload:<8}  {name:<15}  {60 * references / total:>19.1f}  {60 * references / best:>6.1f}  "
                     f"{60 * (references - 1) / steady:>22.1f}  {total:>11.2f}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
