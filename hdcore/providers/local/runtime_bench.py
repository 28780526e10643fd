"""The local models on every runtime side by side: ncnn f32, OpenVINO f32 and (where the CPU can) bf16.

:func:`run_runtime_benchmark` measures, per model and runtime/precision, input kpx/s of a tiled pass (the
fastest and the median of the repeats), the peak resident memory, and the PSNR of the output against ncnn
f32 on the same real photo. :func:`run_photo_benchmark` times whole photos through a model (first and
second image in one process), with OpenVINO's on-disk cache cold and then warm. ``format_table`` prints.

Memory is measured in a fresh subprocess per runtime (as in :mod:`hdcore.providers.local.bench`): only the process's
own peak resident size sees the runtimes' C allocations, and only a fresh process gives a peak (and a cold
start) that belongs to one measurement. Speed is measured in one subprocess per model that runs every
runtime in turn, round after round: the machine is shared, and its load changes over minutes, so only
interleaved rounds give ratios that mean something. Outputs travel back through .npy files for the PSNR.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .bench import bench_image, peak_rss_mb
from .runtimes import grid_tiler, tiler_for
from .tiling import Tiler

REFERENCE = ("ncnn", "f32")


def runtime_variants() -> list[tuple[str, str]]:
    """(runtime, precision) pairs this machine can run: ncnn f32, then OpenVINO at each precision."""
    from . import openvino_runtime

    variants = [REFERENCE]
    if openvino_runtime.available():
        variants += [("openvino", precision) for precision in openvino_runtime.selectable_precisions()]
    return variants


def run_runtime_benchmark(models: Sequence[str] | None = None, size: int = 256, tiles: Sequence[int] = (0,),
                          repeats: int = 3, threads: int = 0, timeout: float = 1800.0,
                          runtimes: Sequence[str] = ("ncnn", "openvino")) -> list[dict[str, Any]]:
    """One row per (model, runtime, precision, tile): kpx/s (best and median), peak RSS, PSNR vs ncnn f32.

    ``models``: names from MODELS (default: every installed one), each at its smallest native scale and
    default denoise; ``size``: the square input (a real photo); ``tiles``: tile sizes (0 = the model's
    automatic size), each measured on every runtime; ``repeats``: timed rounds after one warm-up;
    ``runtimes``: which to measure (the PSNR column needs "ncnn", whose f32 output is the reference).
    Speed and memory are measured with each runtime's own tiling; the PSNR with ncnn's tiling on every
    runtime, so that it shows the runtimes' numerical difference and not a different seam placement.
    """
    from .families import MODELS, available_models

    names = list(models) if models else [spec.name for spec in available_models()]
    variants = [(runtime, precision, tile) for runtime, precision in runtime_variants() if runtime in runtimes
                for tile in tiles]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hdcore-bench-") as folder:
        for name in names:
            if name not in MODELS:
                rows.append({"model": name, "error": f"unknown model (valid: {', '.join(MODELS)})"})
                continue
            common = {"model": name, "size": size, "threads": threads}
            rows += _model_rows(common, variants, repeats, timeout, Path(folder))
    return rows


def _model_rows(common: dict[str, Any], variants: list[tuple[str, str, int]], repeats: int, timeout: float,
                folder: Path) -> list[dict[str, Any]]:
    """Memory and output: one subprocess per variant. Speed: one subprocess running every variant in turn,
    round after round, so that a change in the machine's load hits all of them alike."""
    outputs = [folder / f"{common['model']}-{runtime}-{precision}-{tile}.npy" for runtime, precision, tile in variants]
    rows = []
    for (runtime, precision, tile), output in zip(variants, outputs):
        job = dict(common, runtime=runtime, precision=precision, tile=tile, output=str(output))
        rows.append(_in_subprocess("memory", job, timeout))
    speeds = _in_subprocess("speed", dict(common, variants=variants, repeats=repeats), timeout)
    reference = next((output for variant, output in zip(variants, outputs) if variant[:2] == REFERENCE), None)
    for index, (row, output) in enumerate(zip(rows, outputs)):
        if "error" not in row:
            row.update(speeds["rates"][index] if "rates" in speeds else {"error": speeds["error"]})
        rows[index] = _with_psnr(row, output, reference)
    return rows


def _with_psnr(row: dict[str, Any], output: Path, reference: Path | None) -> dict[str, Any]:
    if "error" in row or reference is None or not output.is_file() or not reference.is_file():
        return row
    return dict(row, psnr_db=psnr(np.load(output), np.load(reference)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two [0, 1] images, in dB (inf when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1 / mse))


def run_photo_benchmark(model: str = "realesrgan-x4plus", photos: Sequence[str] = ("rocket", "1mp"),
                        precision: str = "auto", tile: int = 0, threads: int = 0,
                        timeout: float = 1800.0) -> list[dict[str, Any]]:
    """Whole photos through one OpenVINO model: a first and a second image per process, for a process
    with an empty on-disk cache (cold) and one that finds it filled (warm). Photos: see :func:`load_photo`."""
    from .families import MODELS

    if model not in MODELS:
        return [{"model": model, "error": f"unknown model (valid: {', '.join(MODELS)})"}]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hdcore-ov-cache-") as cache:
        for name in photos:
            for start in ("cold", "warm"):
                if start == "cold":
                    for entry in os.scandir(cache):
                        os.unlink(entry.path)
                job = {"model": model, "photo": name, "precision": precision, "tile": tile, "threads": threads,
                       "cache_dir": cache}
                rows.append(dict(_in_subprocess("photo", job, timeout), start=start))
    return rows


def _in_subprocess(kind: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    label = {key: job[key] for key in ("model", "runtime", "precision", "tile", "photo") if key in job}
    package_parent = str(Path(__file__).resolve().parent.parent)  # so the child finds hdcore uninstalled
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run([sys.executable, "-m", "hdcore.providers.local.runtime_bench", kind, json.dumps(job)],
                              capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return dict(label, error=f"timed out after {timeout:.0f} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return dict(label, error=reason)
    return json.loads(lines[-1])


# --- the subprocess side -------------------------------------------------------------------------------

def _load(model: str, runtime: str, precision: str, threads: int, cache_dir: str | None = None):
    """(runtime module, loaded net) for the model's smallest native scale and default denoise."""
    from . import ncnn_runtime, openvino_runtime
    from .families import MODELS

    spec = MODELS[model]
    scale = spec.native_scales[0]
    if runtime == "ncnn":
        return ncnn_runtime, ncnn_runtime.load(spec, scale, spec.default_denoise, "cpu", threads)
    loaded = openvino_runtime.load(spec, scale, spec.default_denoise, "cpu", threads, precision=precision,
                                   cache_dir=cache_dir)
    return openvino_runtime, loaded


def tiled_pass(runtime, loaded, tiler: Tiler, image: np.ndarray) -> np.ndarray:
    """One native-scale pass over ``image``, tiled as the local provider tiles it, on either runtime:
    where the net has shared averages and there are several tiles, they are the core-area-weighted mean
    of every tile's own, fed to every tile."""
    tiles = tiler.plan(*image.shape[:2])
    shared = None
    if loaded.spec.sync_blobs and len(tiles) > 1:
        sums: dict[str, np.ndarray] = {}
        for piece in tiles:
            weight = piece.core.height * piece.core.width
            for name, value in runtime.shared_features(loaded, piece.context.of(image)).items():
                sums[name] = sums.get(name, 0) + value * weight
        area = image.shape[0] * image.shape[1]
        shared = {name: (total / area).astype(np.float32) for name, total in sums.items()}
    return tiler.run(image, lambda crop: runtime.run(loaded, crop, shared), loaded.scale)


def measure_memory(model: str, runtime: str, precision: str, size: int, tile: int, threads: int,
                   output: str) -> dict[str, Any]:
    """Load and run one tiled pass in this fresh process: its time and peak RSS. The output saved to
    ``output`` comes from a pass tiled as ncnn tiles (the same pass where the runtime tiles alike)."""
    start = time.perf_counter()
    module, loaded = _load(model, runtime, precision, threads)
    image, own, reference = bench_image(size), tiler_for(loaded, tile), _ncnn_tiler(loaded, tile)
    result = tiled_pass(module, loaded, own, image)
    row = {
        "model": model, "scale": loaded.scale, "runtime": runtime, "precision": precision, "size": size,
        "threads": loaded.threads, "tile": own.tile_size, "tile_pad": own.tile_pad,
        "first_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
    }
    same = (own.tile_size, own.tile_pad) == (reference.tile_size, reference.tile_pad)
    np.save(output, result if same else tiled_pass(module, loaded, reference, image))
    return row


def _ncnn_tiler(loaded, tile: int) -> Tiler:
    """The tiling ncnn would use for this net (the spec's own tile advice)."""
    return grid_tiler(loaded.padding, tile or loaded.spec.tile, loaded.spec.tile_pad)


def measure_speed(model: str, variants: Sequence[Sequence[Any]], size: int, threads: int,
                  repeats: int) -> dict[str, Any]:
    """kpx/s of every (runtime, precision, tile): one warm-up each, then ``repeats`` interleaved rounds."""
    image = bench_image(size)
    passes = []
    for runtime, precision, tile in variants:
        module, loaded = _load(model, runtime, precision, threads)
        tiler = tiler_for(loaded, tile)
        passes.append(lambda module=module, loaded=loaded, tiler=tiler: tiled_pass(module, loaded, tiler, image))
    for run_pass in passes:
        run_pass()  # warm-up, not timed: allocations, compiled kernels for new tile shapes
    times: list[list[float]] = [[] for _ in passes]
    for _ in range(max(1, repeats)):
        for index, run_pass in enumerate(passes):
            times[index].append(_seconds(run_pass))
    kpx = size * size / 1000
    return {"rates": [{"kpx_s": kpx / min(spent), "kpx_s_median": kpx / float(np.median(spent))}
                      for spent in times]}


def _seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def load_photo(name: str) -> np.ndarray:
    """A real photo as float32 RGB: "rocket" (640x427, scikit-image), "1mp" (a 1224x816 crop of
    scikit-image's retina, 1.0 MP), or any other scikit-image data photo by name."""
    from skimage import data

    if name == "1mp":
        array = data.retina()[300:1116, 90:1314]
    else:
        array = getattr(data, name)()
    return np.ascontiguousarray(array[..., :3], dtype=np.float32) / 255.0


def measure_photo(model: str, photo: str, precision: str, tile: int, threads: int, cache_dir: str) -> dict[str, Any]:
    """Load (compile or read the disk cache) and upscale the photo twice, timing each step."""
    image = load_photo(photo)
    start = time.perf_counter()
    module, loaded = _load(model, "openvino", precision, threads, cache_dir)
    load_seconds = time.perf_counter() - start
    tiler = tiler_for(loaded, tile)
    first = _seconds(lambda: tiled_pass(module, loaded, tiler, image))
    second = _seconds(lambda: tiled_pass(module, loaded, tiler, image))
    return {
        "model": model, "photo": f"{photo} {image.shape[1]}x{image.shape[0]}", "runtime": "openvino",
        "precision": loaded.precision, "threads": loaded.threads, "tile": tiler.tile_size,
        "load_s": load_seconds, "first_s": load_seconds + first, "second_s": second,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- printing ------------------------------------------------------------------------------------------

RUNTIME_COLUMNS = (
    ("model", "model", "{}"), ("scale", "x", "{}"), ("runtime", "runtime", "{}"), ("precision", "precision", "{}"),
    ("tile", "tile", "{}"), ("tile_pad", "context", "{}"), ("kpx_s", "kpx/s best", "{:.1f}"), ("kpx_s_median", "kpx/s median", "{:.1f}"),
    ("first_s", "load + 1st pass s", "{:.2f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"), ("psnr_db", "PSNR vs ncnn f32", "{:.1f} dB"),
)
PHOTO_COLUMNS = (
    ("model", "model", "{}"), ("photo", "photo", "{}"), ("precision", "precision", "{}"), ("tile", "tile", "{}"),
    ("start", "disk cache", "{}"), ("load_s", "load s", "{:.2f}"), ("first_s", "load + first image s", "{:.1f}"),
    ("second_s", "second image s", "{:.1f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]] = RUNTIME_COLUMNS) -> str:
    """A plain-text table, one line per row; failed measurements show their error."""
    header = [title for _, title, _ in columns]
    body = [[_cell(row, key, form) for key, _, form in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [" ".join(str(row[key]) for key in ("model", "runtime", "precision", "tile", "photo") if key in row)
              + f": {row['error']}" for row in rows if "error" in row]
    return "\n".join(lines)


def _cell(row: dict[str, Any], key: str, form: str) -> str:
    value = row.get(key)
    if value is None:
        return "failed" if "error" in row and key == "scale" else ""
    return form.format(value)


if __name__ == "__main__":  # the subprocess side of run_runtime_benchmark / run_photo_benchmark
    side = {"memory": measure_memory, "speed": measure_speed, "photo": measure_photo}[sys.argv[1]]
    print(json.dumps(side(**json.loads(sys.argv[2]))))
