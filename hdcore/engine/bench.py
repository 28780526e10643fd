"""Benchmark the fallback engine itself (not the models): overhead, breaker skips, failover, hedging.

Every tier here is scripted in memory, so the numbers are the engine's own work and waits:

    overhead per attempt     a no-op provider, many runs; the provider's own time is subtracted
    skip, breaker open       one attempt at a tier whose breaker is open (no thread, no call)
    failover after timeout   a primary that ignores its deadline, then a no-op tier: total time past the deadline
    p50 / p99 end to end     a slow primary (90% fast, 10% slow, seeded) and a steady secondary, hedging off / on
    load, local tier         8 concurrent enhances of a 256x256 photo at 4x (preset "fast") from 8 threads on one
                             Engine, in a fresh subprocess: all must succeed; wall time and peak RSS (VmHWM)

Used by ``python -m hdcore bench --engine`` and ``python bench/engine.py``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..attempts import ProviderOutput
from .breaker import Breakers
from ..config import Config, HedgeSettings
from . import Engine
from .run import Run
from ..errors import PermanentError
from ..images import load_image
from ..providers.base import ModelInfo, Provider, ProviderInfo, UpscaleRequest
from ..providers import ProviderSpec, Registry

SIZE = 16  # a tiny input: the engine's work, not pixel work, is measured


@dataclass(frozen=True)
class Row:
    name: str
    measured: str
    target: str
    met: bool


class _Scripted(Provider):
    """A provider that waits ``delay()`` seconds (ending early when cancelled) and returns a ready image."""

    def __init__(self, config: Config, name: str, delay: Callable[[], float] = lambda: 0.0, ignore_cancel=False):
        super().__init__(config)
        self.info = ProviderInfo(id=name, label=name, short_label=name)
        self.delay = delay
        self.ignore_cancel = ignore_cancel
        self.busy_s = 0.0  # the provider's own time, subtracted from the engine's

    def models(self) -> Sequence[ModelInfo]:
        return (ModelInfo("m", (2, 3, 4)),)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return "m"

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        started = time.perf_counter()
        seconds = self.delay()
        if seconds and self.ignore_cancel:
            time.sleep(seconds)
        elif seconds:
            request.cancel_event.wait(seconds)
        width, height = request.output_size
        image = np.zeros((height, width, 3), np.float32)
        self.busy_s += time.perf_counter() - started
        return ProviderOutput(image=image, model="m")


def _engine(config: Config, *providers: _Scripted, breakers: Breakers | None = None) -> Engine:
    registry = Registry([ProviderSpec(p.name, (lambda c, p=p: p)) for p in providers])
    return Engine(config, registry, breakers=breakers or Breakers())


def _image() -> np.ndarray:
    return np.linspace(0, 1, SIZE * SIZE * 3, dtype=np.float32).reshape(SIZE, SIZE, 3)


def overhead(runs: int, hedge: bool) -> float:
    """Mean engine time per attempt (s) around a provider that does nothing."""
    provider = _Scripted(Config(), "noop")
    config = Config(timeouts={"noop": 10.0, "spare": 10.0}, hedge=HedgeSettings(enabled=hedge))
    engine = _engine(config, provider, _Scripted(config, "spare"))
    image = _image()
    engine.enhance(image, 2)  # warm up (imports, first allocations)
    provider.busy_s = 0.0
    started = time.perf_counter()
    for _ in range(runs):
        engine.enhance(image, 2)
    return (time.perf_counter() - started - provider.busy_s) / runs


def skip_time(runs: int) -> float:
    """Mean time (s) to skip a tier whose breaker is open."""
    breakers = Breakers()
    engine = _engine(Config(), _Scripted(Config(), "down"), breakers=breakers)
    breakers.get("down", "m").failed(PermanentError("model not served here (HTTP 404)"))
    run = Run(load_image(_image()), 2, None, {})
    provider = engine.provider("down")
    started = time.perf_counter()
    for _ in range(runs):
        admission = engine.attempter.admit(run, 1, provider)
    assert admission.reason and engine.attempter.skipped(admission).outcome == "skipped"
    return (time.perf_counter() - started) / runs


def failover(timeout: float, runs: int) -> float:
    """Worst time (s) from the start to the next tier's image, when the first tier times out."""
    config = Config(timeouts={"stuck": timeout, "next": 10.0}, hedge=HedgeSettings(enabled=False))
    stuck = _Scripted(config, "stuck", lambda: timeout + 1.0, ignore_cancel=True)
    engine = _engine(config, stuck, _Scripted(config, "next"))
    worst = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        result = engine.enhance(_image(), 2)
        assert result.provider == "next"
        worst = max(worst, time.perf_counter() - started)
    return worst


def tail_latency(requests: int, hedge: bool, fast: float, slow: float, slow_share: float, secondary: float,
                 budget: float) -> tuple[float, float, int]:
    """p50, p99 (s) and the number of hedged requests, for a slow-tailed primary and a steady secondary."""
    draws = random.Random(7)
    slow_ones = {i for i in range(requests) if draws.random() < slow_share}
    counter = iter(range(10**9))
    config = Config(
        timeouts={"primary": 30.0, "secondary": 30.0},
        # 0.1 s before any history, and the bounds scaled down with the latencies (0.5 s in production)
        hedge=HedgeSettings(enabled=hedge, default_delay_s=0.1, min_delay_s=0.1, budget=budget),
    )
    primary = _Scripted(config, "primary", lambda: slow if next(counter) in slow_ones else fast)
    engine = _engine(config, primary, _Scripted(config, "secondary", lambda: secondary))
    image = _image()
    latencies, hedged = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        result = engine.enhance(image, 2)
        latencies.append(time.perf_counter() - started)
        hedged += len(result.attempts) > 1
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return statistics.median(latencies), p99, hedged


LOAD_SIZE = 256
LOAD_SCALE = 4


def load_photo(size: int = LOAD_SIZE) -> tuple[np.ndarray, str]:
    """A real photo: a ``size`` crop of scikit-image's astronaut (a test-only dependency, imported lazily).

    Without scikit-image, a photo-like stand-in (smooth shading, edges, fine texture, seeded noise) is made,
    and the name returned says so.
    """
    try:
        from skimage import data
    except ImportError:
        rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) / size
        noise = np.random.default_rng(7).normal(0, 0.04, (size, size, 3)).astype(np.float32)
        shade = np.stack([0.6 * rows + 0.2, 0.5 * cols + 0.25, 0.4 * (1 - rows) + 0.3], axis=-1)
        disc = ((rows - 0.45) ** 2 + (cols - 0.55) ** 2 < 0.08)[..., None] * np.array([0.3, -0.1, -0.2], np.float32)
        texture = 0.05 * np.sin(40 * rows + 25 * cols)[..., None]
        image = np.clip(shade + disc + texture + noise, 0, 1)
        return (image * 255).astype(np.uint8), f"synthetic {size}x{size} photo (scikit-image not installed)"
    return data.astronaut()[0:size, 128 : 128 + size], f"astronaut {size}x{size} crop"


def _load_child(calls: int) -> dict[str, Any]:
    """The load run itself (in the fresh process): ``calls`` threads, one Engine, the local tier only."""
    image, source = load_photo()
    engine = Engine(Config(hedge=HedgeSettings(enabled=False)).with_settings({"HDCORE_LOCAL_PRESET": "fast"}))
    start = threading.Barrier(calls)
    outcomes: list[str] = [""] * calls

    def call(i: int) -> None:
        start.wait()
        try:
            result = engine.enhance(image, LOAD_SCALE, provider="local")
            ok = result.provider == "local" and result.image.size == (LOAD_SIZE * LOAD_SCALE,) * 2
            outcomes[i] = "ok" if ok else f"wrong result {result.provider} {result.image.size}"
        except Exception as error:  # reported, not raised: the row says how many failed
            outcomes[i] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=call, args=(i,), name=f"bench-load-{i}") for i in range(calls)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"calls": calls, "ok": outcomes.count("ok"), "errors": [o for o in outcomes if o != "ok"],
            "wall_s": wall, "peak_rss_kb": _vm_hwm_kb(), "source": source, "local_jobs": engine.provider("local").parallel_jobs()}


def _vm_hwm_kb() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None  # not Linux: no figure


def load(calls: int = 8, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run ``_load_child`` in a fresh interpreter, so the peak RSS belongs to this run alone."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    code = f"import json; from hdcore.engine.bench import _load_child; print(json.dumps(_load_child({int(calls)})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout_s)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"calls": calls, "ok": 0, "errors": [tail], "wall_s": float("nan"), "peak_rss_kb": None,
                "source": "", "local_jobs": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_row(figures: Mapping[str, Any]) -> Row:
    rss = figures["peak_rss_kb"]
    memory = f"peak RSS {rss / 1024:.0f} MiB" if rss else "peak RSS n/a"
    measured = f"{figures['ok']}/{figures['calls']} ok, {figures['wall_s']:.1f} s wall, {memory}"
    name = f"load: {figures['calls']} concurrent local enhances ({LOAD_SIZE}px photo, {LOAD_SCALE}x, fast)"
    return Row(name, measured, "all succeed", figures["ok"] == figures["calls"])


def run_engine_benchmark(requests: int = 60, runs: int = 300, load_calls: int = 8) -> list[Row]:
    rows = []
    for hedge in (False, True):
        per = overhead(runs, hedge)
        label = "engine overhead per attempt" + (" (auto, hedging armed)" if hedge else "")
        rows.append(Row(label, f"{per * 1000:.2f} ms", "<= 5 ms", per <= 0.005))
    skip = skip_time(runs * 10)
    rows.append(Row("skip, breaker open", f"{skip * 1e6:.0f} us", "< 1 ms", skip < 0.001))
    timeout = 0.2
    worst = failover(timeout, 5)
    rows.append(Row(f"failover after a {timeout:g} s timeout", f"{worst * 1000:.0f} ms",
                    f"<= {(timeout + 0.05) * 1000:.0f} ms", worst <= timeout + 0.05))
    shape = dict(fast=0.02, slow=1.0, slow_share=0.1, secondary=0.08, budget=0.25)
    p50_off, p99_off, _ = tail_latency(requests, False, **shape)
    p50_on, p99_on, hedged = tail_latency(requests, True, **shape)
    rows.append(Row("p50 / p99, hedging off", f"{p50_off * 1000:.0f} / {p99_off * 1000:.0f} ms", "-", True))
    rows.append(Row(f"p50 / p99, hedging on ({hedged} of {requests} hedged)",
                    f"{p50_on * 1000:.0f} / {p99_on * 1000:.0f} ms", "p99 <= half of off", p99_on <= p99_off / 2))
    if load_calls:
        figures = load(load_calls)
        rows.append(load_row(figures))
        for error in figures["errors"][:3]:
            print(f"load: {error}", file=sys.stderr)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = ("measure", "measured", "target", "met")
    cells = [header] + [(r.name, r.measured, r.target, "yes" if r.met else "NO") for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    note = ("primary: 90% 20 ms, 10% 1 s (seeded); secondary 80 ms; hedge after the p95 bounded to 0.1-10 s "
            "(0.1 s before history); hedge budget 25% of requests\n"
            f"load: {LOAD_SIZE}x{LOAD_SIZE} astronaut crop (scikit-image; a synthetic stand-in without it), "
            "one Engine, 8 threads started together, local tier only (HDCORE_LOCAL_JOBS runs at once, the rest "
            "wait in line); peak RSS is VmHWM of a fresh process that ran only this")
    return "\n".join(lines + ["", note])
