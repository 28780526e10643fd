"""What every runtime of the local models shares: input padding, exact output, tiling, the thread count.

A net is fed the image reflect-padded by its family's :class:`~hdcore.providers.local.families.Padding` (as CHW) and
returns at least ``scale`` x the unpadded image; :func:`finish_output` crops that to exactly ``scale`` x,
adds the nearest-neighbour upscale where the net predicts a residual, and clips to [0, 1]. Pure numpy.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from ...errors import ConfigError
from .families import LocalModelSpec, Padding
from .tiling import Tiler

RUNTIME_CHOICES = ("auto", "openvino", "ncnn")


class TiledNet(Protocol):
    """What a tiler needs from either runtime's loaded net."""

    @property
    def padding(self) -> Padding: ...

    @property
    def tile(self) -> int: ...

    @property
    def tile_pad(self) -> int: ...


def pad_input(image: np.ndarray, padding: Padding) -> np.ndarray:
    """Reflect-pad HWC ``image`` by the border on every side, plus bottom/right up to the size multiple; as CHW."""
    height, width = image.shape[:2]
    extra_h = -height % padding.multiple
    extra_w = -width % padding.multiple
    border = padding.border
    if border or extra_h or extra_w:
        image = np.pad(image, ((border, border + extra_h), (border, border + extra_w), (0, 0)), mode="reflect")
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def finish_output(output: np.ndarray, image: np.ndarray, padding: Padding, scale: int, model: str) -> np.ndarray:
    """The net's HWC ``output`` for ``image``, cropped to exactly ``scale`` x, residual added, clipped."""
    height, width = image.shape[:2]
    output = output[: height * scale, : width * scale]
    if output.shape[:2] != (height * scale, width * scale):
        raise RuntimeError(f"{model}: net returned {output.shape[1]}x{output.shape[0]} "
                           f"for a {width}x{height} input at {scale}x")
    if padding.add_nearest:
        output = output + np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return np.clip(output, 0.0, 1.0)


def tiler_for(loaded: TiledNet, tile: int = 0) -> Tiler:
    """The Tiler for one net: ``tile`` (0 = the net's automatic size) and the net's context, both rounded
    up to the net's grid so that every tile sees the same downsampling grid as an untiled run."""
    return grid_tiler(loaded.padding, tile or loaded.tile, loaded.tile_pad)


def spec_tiler(spec: LocalModelSpec, scale: int, runtime: str, tile: int = 0) -> Tiler:
    """The Tiler a net of ``spec`` at ``scale`` gets on ``runtime``, known before the net is loaded."""
    automatic, pad = spec.tiling(runtime)
    return grid_tiler(spec.padding[scale], tile or automatic, pad)


def grid_tiler(padding: Padding, tile: int, tile_pad: int) -> Tiler:
    """A Tiler with both sizes rounded up to the net's grid."""
    grid = padding.grid
    return Tiler(-(-tile // grid) * grid, -(-tile_pad // grid) * grid)


def describe(runtime: str, device: str, precision: str, threads: int) -> str:
    """The device note's words for where a net runs: 'openvino cpu bf16 (2 threads)', 'ncnn cpu (2 threads)',
    'ncnn gpu (Vulkan)' (ncnn's precision is its own choice, so it is not named)."""
    if device == "gpu":
        return f"{runtime} gpu (Vulkan)"
    named = f" {precision}" if runtime == "openvino" else ""
    return f"{runtime} cpu{named} ({threads} threads)"


def default_threads() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_runtime(preference: str, openvino_available: bool, vulkan_gpus: int) -> tuple[str, str | None]:
    """("openvino" or "ncnn", a one-line note or None) for a runtime preference "auto" | "openvino" | "ncnn".

    "auto": ncnn where a Vulkan GPU exists (ncnn runs there, OpenVINO here runs on the CPU only), else
    OpenVINO (about 2x ncnn on the CPU in f32; more in bf16), else ncnn with a note saying why.
    """
    if preference not in RUNTIME_CHOICES:
        raise ConfigError(f"local runtime must be one of {', '.join(RUNTIME_CHOICES)}, not {preference!r}")
    if preference == "openvino" and not openvino_available:
        raise ConfigError("the local runtime is set to 'openvino' but openvino is not installed")
    if preference == "ncnn" or (preference == "auto" and vulkan_gpus > 0):
        return "ncnn", None
    if not openvino_available:
        return "ncnn", "openvino is not installed: the local models run on ncnn"
    return "openvino", None
