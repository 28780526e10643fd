"""Speed and memory of the embedded local models: ``run_benchmark`` measures, ``format_table`` prints.

Each (model, size) is measured in a fresh subprocess, because ncnn allocates in C: only the process's own
peak resident size (``VmHWM`` in /proc/self/status) sees that memory, and only a fresh process gives a
peak that belongs to one measurement. In the subprocess the image is run through one native-scale pass
twice: tiled (as the provider runs it) and untiled, so the tiling overhead is a ratio from one process.
"extra px" is the context that tiling computes twice (deterministic); "overhead" is the measured time ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MIN_SECONDS = 1.0  # repeat a measurement (twice at least) until this much time was spent ...
MAX_REPEATS = 50  # ... and keep the fastest run: the least disturbed by the rest of the machine


def run_benchmark(models: Sequence[str] | None = None, sizes: Sequence[int] = (64, 128), tile: int = 0,
                  threads: int = 0, untiled: bool = True, timeout: float = 900.0) -> list[dict[str, Any]]:
    """One row per (model, input size): seconds and input kpx/s tiled and untiled, overhead, peak RSS.

    ``models``: names from hdcore.providers.local.families.MODELS (default: every installed one); ``tile``: 0 = each
    model's automatic tile size; ``untiled``: also run the whole image as one tile (memory grows with the
    image: Real-ESRGAN x4plus needs ~60 KB per input pixel). Each model runs at its smallest native scale
    with its default denoise. Run it on an otherwise idle machine: ncnn's OpenMP threads spin, and two
    processes sharing the cores slow each other down several-fold.
    """
    from .families import MODELS, available_models

    names = list(models) if models else [spec.name for spec in available_models()]
    rows = []
    for name in names:
        for size in sizes:
            if name in MODELS:
                rows.append(_measure_in_subprocess(name, size, tile, threads, untiled, timeout))
            else:
                rows.append({"model": name, "size": size, "error": f"unknown model (valid: {', '.join(MODELS)})"})
    return rows


def _measure_in_subprocess(model: str, size: int, tile: int, threads: int, untiled: bool,
                           timeout: float) -> dict[str, Any]:
    job = json.dumps({"model": model, "size": size, "tile": tile, "threads": threads, "untiled": untiled})
    package_parent = str(Path(__file__).resolve().parent.parent)  # so the child finds hdcore uninstalled
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run([sys.executable, "-m", "hdcore.providers.local.bench", job], capture_output=True,
                              text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"model": model, "size": size, "error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"model": model, "size": size, "error": reason}
    return json.loads(lines[-1])


def measure(model: str, size: int, tile: int = 0, threads: int = 0, untiled: bool = True) -> dict[str, Any]:
    """The measurement itself; runs inside the subprocess."""
    from . import ncnn_runtime
    from .families import MODELS
    from . import run_pass, tiler_for

    spec = MODELS[model]
    scale = spec.native_scales[0]
    loaded = ncnn_runtime.load(spec, scale, spec.default_denoise, "cpu", threads)
    tiler = tiler_for(loaded, tile)
    image = bench_image(size)

    tiles = tiler.plan(size, size)
    tiled_seconds = _best_time(lambda: run_pass(loaded, tiler, image))
    pixels = size * size
    row = {
        "model": model, "scale": scale, "size": size, "device": loaded.device, "threads": loaded.threads,
        "tile": tiler.tile_size, "tile_pad": tiler.tile_pad, "tiles": len(tiles),
        "extra_pixels": sum(tile.context.height * tile.context.width for tile in tiles) / pixels - 1,
        "seconds": tiled_seconds, "kpx_s": pixels / tiled_seconds / 1000, "peak_rss_mb": peak_rss_mb(),
    }
    if untiled:
        untiled_seconds = _best_time(lambda: ncnn_runtime.run(loaded, image))
        row.update(untiled_seconds=untiled_seconds, untiled_kpx_s=pixels / untiled_seconds / 1000,
                   overhead=tiled_seconds / untiled_seconds - 1, untiled_peak_rss_mb=peak_rss_mb())
    return row


def bench_image(size: int) -> np.ndarray:
    """A real photo (skimage's astronaut) cropped, or mirrored out, to size x size.

    scikit-image is a test dependency only; without it, a deterministic textured image stands in (ncnn's
    speed does not depend on content, so the timings stay comparable).
    """
    try:
        from skimage import data
    except ImportError:
        return _synthetic_image(size)
    photo = data.astronaut().astype(np.float32) / 255.0
    if size > photo.shape[0]:
        extra = size - photo.shape[0]
        photo = np.pad(photo, ((0, extra), (0, extra), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(photo[:size, :size])


def _synthetic_image(size: int) -> np.ndarray:
    """Smooth colour gradients, edges and fine noise: photo-like statistics, same every time."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / max(size, 1)
    noise = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    planes = [0.5 + 0.3 * np.sin(7 * x + 3 * y + phase) + 0.15 * np.sign(np.sin(23 * x * y + phase))
              for phase in (0.0, 2.1, 4.2)]
    return np.clip(np.stack(planes, axis=2) + 0.05 * noise, 0.0, 1.0).astype(np.float32)


def _best_time(function) -> float:
    function()  # warm-up, not timed: the first run at a new size pays for ncnn's allocations
    times: list[float] = []
    while len(times) < 2 or (len(times) < MAX_REPEATS and sum(times) < MIN_SECONDS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB), C allocations included."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


COLUMNS = (
    ("model", "model", "{}"), ("scale", "x", "{}"), ("size", "input", "{0}x{0}"), ("tile", "tile", "{}"),
    ("tiles", "tiles", "{}"), ("extra_pixels", "extra px", "{:+.0%}"), ("seconds", "s", "{:.3f}"),
    ("kpx_s", "kpx/s", "{:.1f}"),
    ("untiled_kpx_s", "untiled kpx/s", "{:.1f}"), ("overhead", "overhead", "{:+.0%}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"), ("untiled_peak_rss_mb", "untiled RSS MB", "{:.0f}"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table, one line per row; failed measurements show their error."""
    header = [title for _, title, _ in COLUMNS]
    body = [[_cell(row, key, form) for key, _, form in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [f"{row['model']} {row['size']}x{row['size']}: {row['error']}" for row in rows if "error" in row]
    return "\n".join(lines)


def _cell(row: dict[str, Any], key: str, form: str) -> str:
    if "error" in row and key not in ("model", "size"):
        return "failed" if key == "scale" else ""
    value = row.get(key)
    return "" if value is None else form.format(value)


if __name__ == "__main__":  # the subprocess side of run_benchmark
    print(json.dumps(measure(**json.loads(sys.argv[1]))))
