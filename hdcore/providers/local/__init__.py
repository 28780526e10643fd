"""The embedded local tier: ncnn models running on this machine, no network, no key.

A request's scale is reached with the model's native scales: one pass when the scale is native, otherwise
the fewest passes that reach or pass it (a 2x model twice for 4x; twice then Lanczos down for 3x; a 4x model
then Lanczos down for 2x), followed by one exact Lanczos resize of the whole image. Every pass is tiled over
the whole image; tiles are never rescaled on their own.

Model "auto" (``model_selection.AUTO_MODEL``): the model is picked per image (photo or flat-colour art, tiny),
and the choice and its reason are the output's first warning.

Options (``request.options``): ``preset`` ("fast" | "best"), ``tile`` (input px, 0 = automatic per model;
default HDCORE_LOCAL_TILE), ``denoise`` (per model, see ``LocalModelSpec.denoise_levels``).
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import ncnn_runtime
from ...attempts import ProviderOutput
from ...config import Config, Setting, choice, whole
from ...errors import BadOutput, InvalidInput, PermanentError, TransientError
from ...engine.gates import JobGate
from .families import MODELS, PRESETS, LocalModelSpec, available_models
from .auto_model import AUTO_MODEL, choose_local_model
from ...resize import lanczos_resize
from .tiling import Tiler, TileError
from ..base import ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest

SCALES = (2, 3, 4)
MAX_PASSES = 4
LOCAL_PRESETS = tuple(PRESETS)
LOCAL_DEVICES = ("auto", "cpu", "gpu")

PRESET = Setting("HDCORE_LOCAL_PRESET", choice(*LOCAL_PRESETS), "fast", "the model used when none is chosen")
MAX_TILE = 4096  # input pixels a side: a 4096 px tile of a 4x model is a 16384 px, 3 GB float32 output tile
TILE = Setting("HDCORE_LOCAL_TILE", whole(0, MAX_TILE), 0, "tile size in input pixels; 0 = each model's automatic size")
THREADS = Setting("HDCORE_LOCAL_THREADS", whole(0, 1024), 0, "CPU threads; 0 = every core")
DEVICE = Setting("HDCORE_LOCAL_DEVICE", choice(*LOCAL_DEVICES), "auto", "auto, cpu or gpu (Vulkan)")
JOBS = Setting("HDCORE_LOCAL_JOBS", whole(1, 64), 1, "local upscales at once per process; more wait in line")

PRESET_OPTION = OptionInfo(
    "preset", "Local preset", "choice",
    f"Fast: {PRESETS['fast']}, a 1 MP photo to 4x in about 10 s on 2 CPU cores. "
    f"Best: {PRESETS['best']}, sharper, about 2 minutes per megapixel on a CPU.",
    choices=LOCAL_PRESETS, choice_labels={name: f"{name.title()} ({model})" for name, model in PRESETS.items()},
)  # fmt: skip
DENOISE_OPTION = OptionInfo("denoise", "Denoise", "text", "The model's denoise level (see each model)", shown=False)
TILE_OPTION = OptionInfo("tile", "Tile", "text", "Tile size in input pixels; 0 = automatic", shown=False)

INFO = ProviderInfo(
    id="local",
    label="Local (ncnn)",
    short_label="Local",
    default_timeout_s=None,  # it always finishes, only slower; its own job gate queues concurrent runs
    max_concurrency=None,
    cost_note="free (this machine's CPU, or its GPU through Vulkan)",
    settings=(PRESET, TILE, THREADS, DEVICE, JOBS),
    options=(PRESET_OPTION, DENOISE_OPTION, TILE_OPTION),
)


def plan_passes(target: int, native_scales: Sequence[int]) -> tuple[int, ...]:
    """Native scales to run, smallest first, reaching at least ``target`` with the fewest passes.

    Among plans of equal length, the one overshooting least wins (less work, less to throw away).
    Smallest factor first: a pass costs per input pixel, so a small first factor keeps later inputs small.
    """
    if target <= 1:
        return ()
    for length in range(1, MAX_PASSES + 1):
        plans = [tuple(sorted(combo)) for combo in itertools.combinations_with_replacement(native_scales, length)
                 if math.prod(combo) >= target]
        if plans:
            return min(plans, key=lambda plan: (math.prod(plan), plan))
    raise ValueError(f"{target}x cannot be reached with native scales {tuple(native_scales)}")


_GATES: dict[int, JobGate] = {}
_GATES_LOCK = threading.Lock()


def local_gate(limit: int) -> JobGate:
    """The process-wide gate for local jobs (one per limit, so every engine with that setting shares it)."""
    with _GATES_LOCK:
        return _GATES.setdefault(limit, JobGate(limit))


class _Ticker:
    """Turns per-tile callbacks from several passes into one increasing (done, total) stream."""

    def __init__(self, total: int, report: Callable[[int, int], None]):
        self.total = total
        self.done = 0
        self._report = report

    def tick(self) -> None:
        self.done += 1
        self._report(self.done, self.total)


class LocalProvider(Provider):
    info = INFO

    def __init__(self, config: Config):
        super().__init__(config)
        self.last_device: str | None = None  # "cpu" or "gpu": where the latest upscale ran

    # --- what this provider offers -------------------------------------------------------------------

    def models(self) -> Sequence[ModelInfo]:
        if not ncnn_runtime.installed():
            return ()
        return tuple(ModelInfo(spec.name, SCALES, spec.description, _options(spec)) for spec in available_models())

    def is_configured(self) -> bool:
        """Usable when ncnn and at least one model wheel are installed; nothing else to configure."""
        return bool(self.models())

    def serves(self, model: str) -> bool:
        # "auto" is not listed among the models: it is a choice among them, made per image in upscale
        return super().serves(model) or (model == AUTO_MODEL and self.is_configured())

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        return super().scales(None if model == AUTO_MODEL else model)

    def parallel_jobs(self) -> int:
        return self.config.get(JOBS)  # more would only wait at the process-wide gate, each holding its image

    def option_default(self, name: str) -> Any:
        return self.config.get(PRESET) if name == PRESET_OPTION.name else super().option_default(name)

    def options_for(self, model: str | None) -> tuple[OptionInfo, ...]:
        # with no model chosen, the preset picks one; "auto" picks per image among models of every kind
        return (PRESET_OPTION,) if model is None else super().options_for(model)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        preset = str(options.get("preset") or self.config.get(PRESET))
        if preset not in PRESETS:
            raise InvalidInput(f"unknown local preset {preset!r} (valid: {', '.join(PRESETS)})")
        name = PRESETS[preset]
        if MODELS[name].is_available():
            return name
        # The preset's wheel is missing: the first installed photo model, else any installed model.
        installed = available_models()
        photo = [spec.name for spec in installed if spec.kind == "photo"]
        return (photo or [spec.name for spec in installed] or [name])[0]

    # --- the work ------------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        if request.scale not in SCALES:
            raise InvalidInput(f"local models upscale by {', '.join(map(str, SCALES))}, not {request.scale}")
        name = request.model or self.default_model(request.scale, request.options)
        auto_note = ()
        if name == AUTO_MODEL:
            name, why = choose_local_model(request.image)
            auto_note = (f"auto model: {name} ({why})",)
        spec = self._spec(name)
        denoise = _denoise(spec, request.options.get("denoise"))
        tile = self._tile_option(request.options.get("tile"))
        passes = plan_passes(request.scale, spec.scales_for(denoise))
        image = _rgb(request.image)
        request.check(self.name)

        with local_gate(self.config.get(JOBS)).slot(request.report_waiting, lambda: request.check(self.name)):
            nets = self._load(spec, passes, denoise)
            tilers = [tiler_for(loaded, tile) for loaded in nets]
            ticker = _Ticker(_tick_count(spec, image.shape[:2], nets, tilers), request.report)
            for loaded, tiler in zip(nets, tilers):
                image = run_pass(loaded, tiler, image, ticker.tick, lambda: request.check(self.name))

        result = lanczos_resize(image, request.output_size)
        self.last_device = nets[0].device
        return ProviderOutput(image=result, model=spec.name, warnings=auto_note + _notes(nets, passes, request.scale))

    def _spec(self, name: str) -> LocalModelSpec:
        spec = MODELS.get(name)
        if spec is None:
            raise InvalidInput(f"unknown local model {name!r} (valid: {', '.join(MODELS)})")
        if not spec.is_available():
            raise PermanentError(f"{name} is not installed (pip install {spec.package.replace('_', '-')})",
                                 provider=self.name, model=name)
        return spec

    def _tile_option(self, value: Any) -> int:
        """Tile size in input pixels; 0 = the model's automatic size."""
        if value is None:
            return self.config.get(TILE)
        text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
        if not (text.isdigit() and len(text) <= len(str(MAX_TILE)) and int(text) <= MAX_TILE):
            shown = repr(value if len(repr(value)) <= 20 else f"{str(value)[:20]}…")
            raise InvalidInput(f"local option tile must be a whole number from 0 to {MAX_TILE:,} (0 = automatic), "
                               f"not {shown}")  # fmt: skip
        return int(text)

    def _load(self, spec: LocalModelSpec, passes: tuple[int, ...], denoise: int) -> list[ncnn_runtime.LoadedNet]:
        try:
            return [ncnn_runtime.load(spec, scale, denoise, self.config.get(DEVICE), self.config.get(THREADS))
                    for scale in passes]
        except FileNotFoundError as error:
            raise PermanentError(str(error), provider=self.name, model=spec.name) from error
        except RuntimeError as error:
            raise TransientError(str(error), provider=self.name, model=spec.name) from error


def _options(spec: LocalModelSpec) -> tuple[str, ...]:
    return ("denoise", "tile") if len(spec.denoise_levels) > 1 else ("tile",)


def _denoise(spec: LocalModelSpec, value: Any) -> int:
    if value is None:
        return spec.default_denoise
    levels = spec.denoise_levels
    try:
        level = int(value)
        valid = not isinstance(value, bool) and level == float(value)
    except (TypeError, ValueError):
        valid = False
    if not valid or level not in levels:
        choices = ", ".join(map(str, levels)) if len(levels) > 1 else f"{levels[0]} only (no denoise variants)"
        raise InvalidInput(f"{spec.name}: denoise must be one of {choices}, not {value!r}")
    return level


def _rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise InvalidInput(f"local models need an RGB image (HxWx3), got shape {array.shape}")
    return np.clip(array.astype(np.float32, copy=False), 0.0, 1.0)


def tiler_for(loaded: ncnn_runtime.LoadedNet, tile: int = 0) -> Tiler:
    """The Tiler for one net: ``tile`` (0 = the model's automatic size) and the model's context, both
    rounded up to the net's grid so that every tile sees the same downsampling grid as an untiled run."""
    grid = loaded.padding.grid
    size = tile or loaded.spec.tile
    return Tiler(-(-size // grid) * grid, -(-loaded.spec.tile_pad // grid) * grid)


def _needs_sync(spec: LocalModelSpec, tile_count: int) -> bool:
    return bool(spec.sync_blobs) and tile_count > 1


def _tick_count(spec: LocalModelSpec, size: tuple[int, int], nets: list[ncnn_runtime.LoadedNet],
                tilers: list[Tiler]) -> int:
    """Progress steps over all passes: one per tile, twice per tile when global averages are synced."""
    height, width = size
    total = 0
    for loaded, tiler in zip(nets, tilers):
        count = len(tiler.plan(height, width))
        total += count * (2 if _needs_sync(spec, count) else 1)
        height, width = height * loaded.scale, width * loaded.scale
    return total


def run_pass(loaded: ncnn_runtime.LoadedNet, tiler: Tiler, image: np.ndarray,
             tick: Callable[[], None] = lambda: None, check: Callable[[], None] = lambda: None) -> np.ndarray:
    """One native-scale pass over the whole image; ``tick`` after every tile, ``check`` before every tile."""
    shared = None
    if _needs_sync(loaded.spec, len(tiler.plan(*image.shape[:2]))):
        shared = _shared_averages(loaded, tiler, image, tick, check)
    try:
        return tiler.run(image, lambda crop: ncnn_runtime.run(loaded, crop, shared), loaded.scale,
                         progress=lambda done, total: tick(), check=check)
    except TileError as error:
        raise BadOutput(f"local model failed: {error}", provider="local", model=loaded.spec.name) from error


def _shared_averages(loaded: ncnn_runtime.LoadedNet, tiler: Tiler, image: np.ndarray,
                     tick: Callable[[], None], check: Callable[[], None]) -> dict[str, np.ndarray]:
    """The squeeze-excitation averages of the whole image, estimated from its tiles.

    An untiled run averages over the whole feature map; each tile alone would see only its own content and
    get its own channel gains (visible seams, ~39 dB vs untiled). So a first pass computes every tile's
    averages (the net stops right after the last one) and the mean, weighted by core area so that small
    border tiles count for what they cover, is fed to every tile. Tiled output then lands at 46-55 dB of
    the untiled one, for roughly 1.8x the time of an unsynced tiled pass.
    """
    sums: dict[str, np.ndarray] = {}
    tiles = tiler.plan(*image.shape[:2])
    for tile in tiles:
        check()
        try:
            features = ncnn_runtime.shared_features(loaded, tile.context.of(image))
        except RuntimeError as error:
            raise BadOutput(f"local model failed: {error}", provider="local", model=loaded.spec.name) from error
        weight = tile.core.height * tile.core.width
        for name, value in features.items():
            sums[name] = sums.get(name, 0) + value * weight
        tick()
    area = image.shape[0] * image.shape[1]
    return {name: (total / area).astype(np.float32) for name, total in sums.items()}


def _notes(nets: list[ncnn_runtime.LoadedNet], passes: tuple[int, ...], scale: int) -> tuple[str, ...]:
    device = nets[0].device
    notes = [f"device: {device}" + (f" ({nets[0].threads} threads)" if device == "cpu" else "")]
    if passes != (scale,):
        steps = " then ".join(f"{native}x" for native in passes)
        resize = "" if math.prod(passes) == scale else f", Lanczos to {scale}x"
        notes.append(f"{scale}x reached by {steps}{resize}")
    return tuple(notes)


PROVIDER = LocalProvider
