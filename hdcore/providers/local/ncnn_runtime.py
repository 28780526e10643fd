"""Running the embedded models with ncnn: device choice, one cached net per model file, exact geometry.

One ``ncnn.Net`` is loaded per (model file, device, threads) and process, and shared by every thread: ncnn
nets are safe to use concurrently as long as each call makes its own ``Extractor``, which :func:`run` does.

:func:`run` applies the family's :class:`~hdcore.providers.local.families.Padding` so that the result is exactly
``scale`` x the input and pixel-aligned, whatever the input size. Arrays are RGB float32 HxWx3 in [0, 1].
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator, Mapping

import numpy as np

try:
    import ncnn
except ImportError:  # no ncnn wheel: the local tier reports itself unconfigured instead of failing to import
    ncnn = None

from ...errors import ConfigError
from .families import LocalModelSpec, Padding
from .runtimes import default_threads, describe, finish_output, pad_input

Device = str  # "cpu" or "gpu"

_gpu_lock = threading.Lock()
_gpu_count: int | None = None
_nets_lock = threading.Lock()
_nets: dict[tuple[str, str, int], ncnn.Net] = {}


@dataclass(frozen=True)
class LoadedNet:
    """A ready net for one variant (native scale, denoise level) of a model, on one device."""

    net: ncnn.Net
    spec: LocalModelSpec
    scale: int
    denoise: int
    device: Device
    threads: int

    runtime: ClassVar[str] = "ncnn"

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
        """e.g. 'ncnn cpu (2 threads)' or 'ncnn gpu (Vulkan)'"""
        return describe(self.runtime, self.device, "", self.threads)


def installed() -> bool:
    """Whether the ncnn runtime itself is importable."""
    return ncnn is not None


def gpu_count() -> int:
    """How many Vulkan GPUs ncnn sees; asked once per process.

    Without libvulkan, ncnn prints ``dlopen failed`` lines straight to file descriptor 2 (C level). On Linux
    we first look for the Vulkan loader ourselves: without it there is no GPU, and ncnn is never asked.
    Otherwise ncnn is asked with fd 2 pointed at /dev/null; that silences the whole process for a moment,
    so it is kept to the machines that have a loader (where ncnn rarely has anything to complain about).
    """
    global _gpu_count
    with _gpu_lock:
        if _gpu_count is None:
            if not installed() or (sys.platform.startswith("linux") and not _vulkan_loader_present()):
                _gpu_count = 0
            else:
                _gpu_count = _quietly(ncnn.get_gpu_count)
        return _gpu_count


def _vulkan_loader_present() -> bool:
    """Whether the library ncnn would dlopen for Vulkan can be loaded at all."""
    try:
        ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return False
    return True


def _quietly(function):
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                return function()
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def candidate_devices(preference: str) -> tuple[Device, ...]:
    """Devices to try, in order, for config.local_device = "auto" | "cpu" | "gpu"."""
    if preference == "cpu":
        return ("cpu",)
    if preference == "gpu":
        if gpu_count() == 0:
            raise ConfigError("HDCORE_LOCAL_DEVICE is 'gpu' but ncnn finds no Vulkan GPU")
        return ("gpu",)
    if preference == "auto":
        return ("gpu", "cpu") if gpu_count() > 0 else ("cpu",)
    raise ConfigError(f"local device must be one of auto, cpu, gpu, not {preference!r}")


def load(spec: LocalModelSpec, scale: int, denoise: int, device_preference: str = "auto",
         threads: int = 0) -> LoadedNet:
    """The cached net for one variant; on "auto", falls back to the CPU when the GPU cannot load or run it."""
    paths = spec.files(scale, denoise)
    if paths is None or not installed():
        missing = "ncnn" if not installed() else spec.package
        raise FileNotFoundError(f"{missing} is not installed: model {spec.name} is unavailable")
    threads = threads or default_threads()
    devices = candidate_devices(device_preference)
    for device in devices:

        def smoke_test(net: ncnn.Net, device: Device = device) -> None:
            if device == "gpu":  # a GPU can load a net it then fails to run: try a tiny image once
                run(LoadedNet(net, spec, scale, denoise, device, threads), np.zeros((8, 8, 3), np.float32))

        try:
            net = _cached_net(paths[0], paths[1], device, threads, smoke_test)
        except RuntimeError:
            if device == devices[-1]:
                raise
            continue  # the GPU cannot run this net: use the next device
        return LoadedNet(net, spec, scale, denoise, device, threads)
    raise AssertionError("unreachable: candidate_devices is never empty")


def _cached_net(param: os.PathLike, weights: os.PathLike, device: Device, threads: int,
                smoke_test: Callable[[ncnn.Net], None]) -> ncnn.Net:
    """The shared net for this file, device and thread count; created (and smoke-tested) on first use."""
    key = (str(param), device, threads)
    with _nets_lock:
        net = _nets.get(key)
        if net is None:
            net = _create_net(str(param), str(weights), device, threads)
            smoke_test(net)  # raises before caching: a net that cannot run is never handed out
            _nets[key] = net
        return net


def _create_net(param: str, weights: str, device: Device, threads: int) -> ncnn.Net:
    net = ncnn.Net()
    net.opt.use_vulkan_compute = device == "gpu"
    net.opt.num_threads = threads
    if device == "gpu":
        net.set_vulkan_device(0)
    if net.load_param(param) != 0 or net.load_model(weights) != 0:
        raise RuntimeError(f"ncnn could not load {os.path.basename(param)} on the {device}")
    return net


def clear_cache() -> None:
    """Forget every loaded net (tests; freeing memory)."""
    with _nets_lock:
        _nets.clear()


def run(loaded: LoadedNet, image: np.ndarray, shared: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Upscale ``image`` (HxWx3 float32 in [0, 1]) by the net's native scale: exactly, and pixel-aligned.

    ``shared``: values for the spec's ``sync_blobs`` (global averages common to all tiles of one image);
    None lets the net compute them from this image alone.
    """
    output = _forward(loaded, pad_input(image, loaded.padding), shared)
    return finish_output(output, image, loaded.padding, loaded.scale, loaded.spec.name)


def shared_features(loaded: LoadedNet, image: np.ndarray) -> dict[str, np.ndarray]:
    """The spec's ``sync_blobs`` as this image (a tile) alone would compute them; the net stops there."""
    padded = pad_input(image, loaded.padding)
    with _extractor(loaded, padded, None) as extractor:
        return {name: _extract(extractor, name, loaded) for name in loaded.spec.sync_blobs}


def _forward(loaded: LoadedNet, chw: np.ndarray, shared: Mapping[str, np.ndarray] | None) -> np.ndarray:
    with _extractor(loaded, chw, shared) as extractor:
        output = _extract(extractor, loaded.spec.output_blob, loaded)
    return output.transpose(1, 2, 0)


@contextmanager
def _extractor(loaded: LoadedNet, chw: np.ndarray,
               shared: Mapping[str, np.ndarray] | None) -> Iterator[ncnn.Extractor]:
    """A fresh Extractor fed with ``chw`` (and any shared blobs), keeping their arrays alive meanwhile.

    ``ncnn.Mat(array)`` borrows the array's memory without owning it: the arrays must stay referenced until
    every extract() has returned, or ncnn reads freed memory and the output is garbage. ``keep_alive`` holds
    them (and their Mats) for exactly that long.
    """
    extractor = loaded.net.create_extractor()
    keep_alive: list[object] = []
    try:
        _feed(extractor, keep_alive, loaded.spec.input_blob, chw)
        for name, value in (shared or {}).items():
            _feed(extractor, keep_alive, name, np.ascontiguousarray(value, dtype=np.float32))
        yield extractor
    finally:
        extractor.clear()
        keep_alive.clear()


def _feed(extractor: ncnn.Extractor, keep_alive: list[object], name: str, array: np.ndarray) -> None:
    mat = ncnn.Mat(array)
    keep_alive += [array, mat]
    if extractor.input(name, mat) != 0:
        raise RuntimeError(f"ncnn refused input blob {name!r}")


def _extract(extractor: ncnn.Extractor, name: str, loaded: LoadedNet) -> np.ndarray:
    status, mat = extractor.extract(name)
    if status != 0:
        raise RuntimeError(f"{loaded.spec.name}: ncnn failed to compute {name!r} (status {status})")
    return np.array(mat, dtype=np.float32, copy=True)  # own the data before the Mat goes away
