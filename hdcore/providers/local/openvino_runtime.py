"""Running the embedded models with OpenVINO on the CPU, from the ncnn files in the installed wheels.

The same shape as :mod:`hdcore.providers.local.ncnn_runtime`: :func:`load` returns a :class:`LoadedNet` for one variant,
:func:`run` upscales exactly ``scale`` x (same padding rules, Real-CUGAN 4x residual included), and
:func:`shared_features` computes the squeeze-excitation averages a tile alone would see, so that a tiler
can average them over all tiles and feed the result back to every tile through ``run(..., shared)``.

The model is built in code from the ``.param`` / ``.bin`` pair (:mod:`hdcore.providers.local.ncnn_graph`,
:mod:`hdcore.providers.local.openvino_graph`) with dynamic height and width, and compiled once per (file, precision,
threads) and process. Why dynamic: a tiler hands over several tile shapes per image (border tiles see less
context), and each static shape compiles anew (x4plus: 0.65-0.85 s each, 6 shapes for a 640x427 photo at
128 px tiles); padding every tile to one static shape instead costs the padding's compute (+27% pixels on
that photo). Measured there, bf16, 2 cores: dynamic 20.6 s first image / 16.6 s second; one padded static
shape 24.5 s / 21.3 s. A new shape costs a dynamic model ~0.15 s once (its kernels are then kept).

Up to three compiled models per variant, each made on first use: ``full`` (the whole net), ``features``
(stops at the shared blobs), ``fed`` (takes the shared blobs as inputs). Compiled models are shared by all
threads; each call takes its own infer request from a small pool.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar, Collection, Literal, Mapping

import numpy as np

try:
    import openvino as ov
except ImportError:  # no openvino wheel: the local tier keeps running on ncnn
    ov = None

from ...errors import ConfigError
from .families import LocalModelSpec, Padding
from .runtimes import default_threads, describe, finish_output, pad_input

Precision = Literal["f32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("f32", "bf16")
Mode = Literal["full", "features", "fed"]

_core_lock = threading.Lock()
_core: Any = None
_nets_lock = threading.Lock()
_nets: dict[tuple, _CompiledNet] = {}
_key_locks: dict[tuple, threading.Lock] = {}


def available() -> bool:
    """Whether OpenVINO is importable (otherwise the local tier runs on ncnn)."""
    return ov is not None


# --- precision -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuInfo:
    """What the precision choice needs to know about the CPU (from /proc/cpuinfo on Linux)."""

    vendor: str = ""  # "GenuineIntel", "AuthenticAMD", "" when unknown
    family: int = 0
    flags: frozenset[str] = frozenset()


def read_cpu_info(path: str = "/proc/cpuinfo") -> CpuInfo:
    """The first processor's vendor, family and flags; an empty CpuInfo where there is no such file."""
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            text = file.read(1 << 20)
    except OSError:
        return CpuInfo()
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    family = fields.get("cpu family", "0")
    return CpuInfo(fields.get("vendor_id", ""), int(family) if family.isdigit() else 0,
                   frozenset(fields.get("flags", "").split()))


def choose_precision(cpu: CpuInfo, capabilities: Collection[str]) -> Precision:
    """bf16 where it is measured faster than f32, f32 everywhere else.

    OpenVINO's own default is bf16 on any CPU with AVX512_BF16, so the hint is always set explicitly.
    - AMX-BF16 (Intel Sapphire Rapids and later): bf16 ran x4plus at 58-70 kpx/s against 9.4-10.6 f32.
    - AVX512_BF16 without AMX on Intel: bf16 was slower (6.1 against 9.3 kpx/s): f32.
    - AVX512_BF16 on AMD Zen 5 (family 26 and later): bf16 measured about 2x f32 on 2 cores (x4plus
      21.7-24.1 against 11.3-11.8 kpx/s; waifu2x photo 732-752 against 408-425; animevideov3 680-707
      against 356-367). Zen 4 (family 25) double-pumps AVX-512 and was not measured: f32.
    ``capabilities``: OpenVINO's OPTIMIZATION_CAPABILITIES for the CPU (bf16 needs "BF16" there).
    """
    if "BF16" not in capabilities:
        return "f32"
    if "amx_bf16" in cpu.flags:
        return "bf16"
    if "avx512_bf16" in cpu.flags and cpu.vendor == "AuthenticAMD" and cpu.family >= 26:
        return "bf16"
    return "f32"


def capabilities() -> tuple[str, ...]:
    """OpenVINO's optimization capabilities of the CPU (e.g. FP32, BF16, INT8); () without OpenVINO."""
    if not available():
        return ()
    return tuple(_openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def selectable_precisions() -> tuple[Precision, ...]:
    """The precisions this CPU can run at all (bf16 may be selectable and still not the best choice)."""
    return PRECISIONS if "BF16" in capabilities() else ("f32",)


def default_precision() -> Precision:
    return choose_precision(read_cpu_info(), capabilities())


# --- loading -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedNet:
    """A ready net for one variant (native scale, denoise level) of a model, on the CPU with OpenVINO."""

    spec: LocalModelSpec
    scale: int
    denoise: int
    threads: int
    precision: Precision
    cache_dir: str | None = None
    device: str = "cpu"
    runtime: ClassVar[str] = "openvino"

    @property
    def padding(self) -> Padding:
        return self.spec.padding[self.scale]

    @property
    def tile(self) -> int:
        """Automatic tile size (input px) on this runtime."""
        return self.spec.tiling(self.runtime)[0]

    @property
    def tile_pad(self) -> int:
        """Real context around each tile (input px) on this runtime."""
        return self.spec.tiling(self.runtime)[1]

    @property
    def description(self) -> str:
        """e.g. 'openvino cpu bf16 (2 threads)'"""
        return describe(self.runtime, self.device, self.precision, self.threads)


def load(spec: LocalModelSpec, scale: int, denoise: int, device_preference: str = "cpu", threads: int = 0,
         *, precision: str = "auto", cache_dir: os.PathLike | str | None = None) -> LoadedNet:
    """The net for one variant, its whole-net model compiled (or found in the process's cache).

    The first five parameters are ncnn_runtime.load's, so that a caller can use either runtime alike;
    the two keyword-only ones are this runtime's own settings.
    ``threads``: 0 = every core this process may use. ``precision``: "auto" (:func:`default_precision`),
    "f32" or "bf16". ``cache_dir``: OpenVINO's on-disk cache of compiled models (None: no disk cache).
    Raises FileNotFoundError when OpenVINO or the model's wheel is missing, ConfigError for a bad setting,
    ModelFileError (a ValueError) for a broken model file, RuntimeError when OpenVINO cannot compile it.
    """
    if device_preference not in ("auto", "cpu"):
        raise ConfigError(f"OpenVINO runs the local models on the cpu here, not on {device_preference!r}")
    if threads < 0:
        raise ConfigError(f"local threads must be 0 (every core) or more, not {threads}")
    paths = spec.files(scale, denoise)
    if paths is None or not available():
        missing = "openvino" if not available() else spec.package
        raise FileNotFoundError(f"{missing} is not installed: model {spec.name} is unavailable")
    if precision == "auto":
        precision = default_precision()
    if precision not in selectable_precisions():
        raise ConfigError(f"OpenVINO precision must be one of auto, {', '.join(selectable_precisions())} "
                          f"on this CPU, not {precision!r}")
    loaded = LoadedNet(spec, scale, denoise, threads or default_threads(), precision,  # type: ignore[arg-type]
                       os.fspath(cache_dir) if cache_dir is not None else None)
    _compiled(loaded, "full")
    return loaded


def clear_cache() -> None:
    """Forget every compiled model (tests; freeing memory). The on-disk cache stays."""
    with _nets_lock:
        _nets.clear()
        _key_locks.clear()


# --- running -------------------------------------------------------------------------------------------

def run(loaded: LoadedNet, image: np.ndarray, shared: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Upscale ``image`` (HxWx3 float32 in [0, 1]) by the net's native scale: exactly, and pixel-aligned.

    ``shared``: values for the spec's ``sync_blobs`` (global averages common to all tiles of one image),
    as :func:`shared_features` returns them; None (or empty) lets the net compute them from this image.
    """
    chw = pad_input(image, loaded.padding)
    inputs: dict[str, np.ndarray] = {loaded.spec.input_blob: chw[None]}
    mode: Mode = "fed" if shared else "full"
    if shared:
        inputs.update(_shared_inputs(loaded, shared))
    output = _compiled(loaded, mode).infer(inputs, image.shape)[0]
    return finish_output(output[0].transpose(1, 2, 0), image, loaded.padding, loaded.scale, loaded.spec.name)


def shared_features(loaded: LoadedNet, image: np.ndarray) -> dict[str, np.ndarray]:
    """The spec's ``sync_blobs`` as this image (a tile) alone would compute them, as vectors [C]."""
    if not loaded.spec.sync_blobs:
        return {}
    chw = pad_input(image, loaded.padding)
    values = _compiled(loaded, "features").infer({loaded.spec.input_blob: chw[None]}, image.shape)
    return {name: value.reshape(-1) for name, value in zip(loaded.spec.sync_blobs, values)}


def _shared_inputs(loaded: LoadedNet, shared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    expected = set(loaded.spec.sync_blobs)
    if set(shared) != expected:
        raise RuntimeError(f"{loaded.spec.name}: shared blobs must be exactly {sorted(expected) or 'none'}, "
                           f"not {sorted(shared)}")
    return {name: np.ascontiguousarray(value, dtype=np.float32).reshape(-1) for name, value in shared.items()}


class _CompiledNet:
    """One compiled model and a pool of idle infer requests (a request is used by one call at a time)."""

    def __init__(self, compiled: Any, name: str):
        self.compiled = compiled
        self.name = name
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def infer(self, inputs: Mapping[str, np.ndarray], image_shape: tuple[int, ...]) -> list[np.ndarray]:
        """Every output, copied: a request's output buffers are reused by its next inference."""
        with self._lock:
            request = self._idle.pop() if self._idle else self.compiled.create_infer_request()
        try:
            results = request.infer(dict(inputs))
            outputs = [np.array(results[index], dtype=np.float32, copy=True) for index in range(len(results))]
        except RuntimeError as error:
            raise RuntimeError(f"{self.name}: OpenVINO failed on a {image_shape[1]}x{image_shape[0]} input: "
                               f"{_first_line(error)}") from error
        with self._lock:
            self._idle.append(request)
        return outputs


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(error).__name__


def _openvino_core() -> Any:
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def _compiled(loaded: LoadedNet, mode: Mode) -> _CompiledNet:
    """The process-wide compiled model for this net and mode; compiled on first use, one compile per key."""
    param, _ = loaded.spec.files(loaded.scale, loaded.denoise)
    key = (str(param), loaded.precision, loaded.threads, loaded.cache_dir, mode)
    with _nets_lock:
        net = _nets.get(key)
        if net is not None:
            return net
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # other models compile meanwhile; this one compiles once
        with _nets_lock:
            net = _nets.get(key)
        if net is None:
            net = _CompiledNet(_compile(loaded, mode), loaded.spec.name)
            with _nets_lock:
                _nets[key] = net
        return net


def _compile(loaded: LoadedNet, mode: Mode) -> Any:
    from . import ncnn_graph
    from .openvino_graph import build_model

    spec = loaded.spec
    graph = ncnn_graph.load(*spec.files(loaded.scale, loaded.denoise))
    if mode == "features":
        model = build_model(graph, spec.sync_blobs)
    else:
        model = build_model(graph, [spec.output_blob], fed=spec.sync_blobs if mode == "fed" else ())
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": loaded.precision,
        "INFERENCE_NUM_THREADS": loaded.threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if loaded.cache_dir is not None:
        os.makedirs(loaded.cache_dir, exist_ok=True)
        config["CACHE_DIR"] = loaded.cache_dir
    try:
        return _openvino_core().compile_model(model, "CPU", config)
    except RuntimeError as error:
        raise RuntimeError(f"{spec.name}: OpenVINO could not compile the net: {_first_line(error)}") from error
