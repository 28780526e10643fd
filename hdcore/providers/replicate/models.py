"""The models the Replicate tier runs: how each is addressed, what it takes (its input schema and its size
limits), what size it answers with, and how it is billed.

Where each fact comes from (read 2026):

* ``nightmareai/real-esrgan``: the seed's pinned version; ``image``, ``scale`` (0-10), ``face_enhance``.
* ``jingyunliang/swinir``: ``image``, ``task_type`` (only "Real-World Image Super-Resolution-Large" upscales, 4x).
* ``fermatresearch/magic-image-refiner`` (moved from ``batouresearch/``, whose name stays accepted): ``image``,
  ``prompt``, ``resolution`` ("original" / "1024" / "2048"), ``resemblance`` and ``creativity`` (0-1).
* ``philz1337x/clarity-upscaler``: its cog ``predict.py`` (github.com/philz1337x/clarity-upscaler): ``image``,
  ``scale_factor`` (number), ``creativity`` (0-1), ``resemblance`` (0-3), ``prompt``, ``output_format``
  (webp/jpg/png), answering a list of files; outputs up to 13k x 13k (its README, 2024-05-24); about $0.015 a
  run on an L40S (Replicate's model page).
* ``recraft-ai/recraft-crisp-upscale``: an official model taking only ``image``; Recraft's API reference
  (recraft.ai/docs/api-reference/tools/upscale): input up to 16 MP with sides of 32-4096 px, a fixed scale of its
  own; $0.006 a run on Replicate.
* ``topazlabs/image-upscale``: an official model: ``image``, ``enhance_model`` (Standard V2, Low Resolution V2,
  CGI, High Fidelity V2, Text Refine), ``upscale_factor`` ("None", "2x", "4x", "6x"), ``output_format`` (jpg/png),
  ``face_enhancement``; billed by output megapixels in 24 MP blocks (Topaz's price list), $0.05-0.10 for photos.
* ``google/upscaler``: an official model (Imagen upscale): ``image``, ``upscale_factor`` ("x2" / "x4"),
  ``compression_quality``; Vertex AI documents outputs of at most 17 megapixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from ...errors import InvalidInput
from ...prices import ModelPrice, model_name
from ..base import ModelInfo, UpscaleRequest

REAL_ESRGAN = "nightmareai/real-esrgan"
SWINIR = "jingyunliang/swinir"
REFINER = "fermatresearch/magic-image-refiner"
OLD_REFINER = "batouresearch/magic-image-refiner"
CLARITY = "philz1337x/clarity-upscaler"
RECRAFT_CRISP = "recraft-ai/recraft-crisp-upscale"
TOPAZ = "topazlabs/image-upscale"
GOOGLE_UPSCALER = "google/upscaler"
DEFAULT_MODEL = REAL_ESRGAN
REAL_ESRGAN_VERSION = "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"  # the seed's pin
SWINIR_TASK = "Real-World Image Super-Resolution-Large"  # the only SwinIR task that upscales (always 4x)
# Models that moved to another owner: the old name is still accepted (HDCORE_REPLICATE_MODEL_ALIASES adds more).
DEFAULT_ALIASES = {OLD_REFINER: REFINER}

# "official": POST /v1/models/{owner}/{name}/predictions (Replicate keeps these models warm and prices them per
# run); "version": POST /v1/predictions with a version id, the seed's pin or the model's latest version.
Route = Literal["official", "version"]


@dataclass(frozen=True)
class ReplicateModel:
    """A model this tier can run: how to ask it for a scale, what it takes, what it answers and costs."""

    name: str
    description: str
    route: Route
    pinned_version: str | None
    build_input: Callable[[str, UpscaleRequest], dict[str, Any]]
    asked_scale: Callable[[int], int | None]  # None: the model answers with a size of its own (no plan)
    price: ModelPrice
    options: tuple[str, ...] = ()
    max_input_pixels: int | None = None
    max_input_side: int | None = None
    max_output_pixels: int | None = None

    def info(self) -> ModelInfo:
        return ModelInfo(
            self.name, (2, 3, 4), self.description, self.options,
            self.max_input_pixels, self.max_input_side, self.max_output_pixels,
        )  # fmt: skip


# --- inputs, one builder per schema ---------------------------------------------------------------------


def _real_esrgan_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {
        "image": image,
        "scale": _two_or_four(request.scale),
        "face_enhance": _flag(request.options, "face_enhance", False),
    }


def _two_or_four(scale: int) -> int:
    # 2x and 4x are the models' own passes; 3x asks 4x and the exact final resize brings it down.
    return 2 if scale == 2 else 4


def _swinir_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    # noise and jpeg only matter to SwinIR's denoising and JPEG tasks, so they are not sent.
    return {"image": image, "task_type": SWINIR_TASK}


def _refiner_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "image": image,
        "resolution": _refiner_resolution(request.output_size),
        "resemblance": _number(request.options, "resemblance", 0.75, 0.0, 1.0),
        "creativity": _number(request.options, "creativity", 0.25, 0.0, 1.0),
    }
    return _with_prompt(payload, request)


def _refiner_resolution(output_size: tuple[int, int]) -> str:
    # The refiner renders at 1024 or 2048 whatever it is given: pick the one that needs no upscaling after.
    return "1024" if max(output_size) <= 1024 else "2048"


def _clarity_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "image": image,
        "scale_factor": request.scale,
        "creativity": _number(request.options, "creativity", 0.35, 0.0, 1.0),
        "resemblance": _number(request.options, "resemblance", 0.6, 0.0, 3.0),
        "output_format": "png",  # lossless: the chain's own encoder writes the user's format
    }
    return _with_prompt(payload, request)


def _crisp_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image": image}


def _topaz_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {
        "image": image,
        "enhance_model": "Standard V2",
        "upscale_factor": f"{_two_or_four(request.scale)}x",
        "output_format": "png",
        "face_enhancement": _flag(request.options, "face_enhance", False),
    }


def _google_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {"image": image, "upscale_factor": f"x{_two_or_four(request.scale)}"}


def _with_prompt(payload: dict[str, Any], request: UpscaleRequest) -> dict[str, Any]:
    prompt = request.options.get("prompt")
    if prompt:
        payload["prompt"] = str(prompt)
    return payload


def _as_asked(scale: int) -> int:
    return scale


def _own_size(scale: int) -> None:
    return None


def _four(scale: int) -> int:
    return 4


# --- the catalogue ---------------------------------------------------------------------------------------

MODELS: dict[str, ReplicateModel] = {
    model.name: model
    for model in (
        ReplicateModel(
            REAL_ESRGAN, "Real-ESRGAN (2x/4x native; 3x via 4x), optional face_enhance", "version",
            REAL_ESRGAN_VERSION, _real_esrgan_input, _two_or_four,
            ModelPrice("run", 0.0019, hardware="gpu-t4", source="the seed's table"), ("face_enhance",),
        ),
        ReplicateModel(
            SWINIR, "SwinIR real-world super-resolution (4x native)", "version", None, _swinir_input, _four,
            ModelPrice("run", 0.01, hardware="gpu-t4", source="the seed's table"),
        ),
        ReplicateModel(
            REFINER, "Magic Image Refiner (renders at 1024 or 2048 px, then resized); resemblance, creativity",
            "version", None, _refiner_input, _own_size,
            ModelPrice("run", 0.02, hardware="gpu-a100-large", source="the seed's table"), ("prompt",),
        ),
        ReplicateModel(
            CLARITY, "Clarity upscaler (diffusion, any scale); creativity, resemblance, prompt", "version", None,
            _clarity_input, _as_asked,
            ModelPrice("run", 0.015, hardware="gpu-l40s", source="Replicate's model page, 2026"), ("prompt",),
            max_output_pixels=13_000 * 13_000,
        ),
        ReplicateModel(
            RECRAFT_CRISP, "Recraft crisp upscale (sharper and cleaner; a fixed scale of its own)", "official",
            None, _crisp_input, _own_size, ModelPrice("run", 0.006, source="Replicate's model page, 2026"),
            max_input_pixels=4096 * 4096, max_input_side=4096,
        ),
        ReplicateModel(
            TOPAZ, "Topaz image upscale, Standard V2 (2x/4x; 3x via 4x), optional face_enhance", "official", None,
            _topaz_input, _two_or_four,
            ModelPrice("block", 0.05, block_mp=24, source="Replicate's model page and Topaz's price list, 2026"),
            ("face_enhance",), max_output_pixels=512_000_000,
        ),
        ReplicateModel(
            GOOGLE_UPSCALER, "Google upscaler, Imagen (2x/4x; 3x via 4x)", "official", None, _google_input,
            _two_or_four, ModelPrice("run", 0.005, source="lumenfall.ai's catalogue, 2026"),
            max_output_pixels=17_000_000,
        ),
    )
}  # fmt: skip

# The models' prices, by name, and the per-second price of each hardware that time-billed models run on
# (Replicate's public hardware prices); both overridable with HDCORE_PRICES ("replicate:...").
MODEL_PRICES: dict[str, ModelPrice] = {name: model.price for name, model in MODELS.items()}
HARDWARE_PRICES: dict[str, float] = {
    "cpu": 0.000100,
    "gpu-t4": 0.000225,
    "gpu-l40s": 0.000975,
    "gpu-a40-large": 0.000725,
    "gpu-a100-large": 0.001400,
}


# --- options ----------------------------------------------------------------------------------------------


def _flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(f"{key} must be true or false, not {value!r}")


def _number(options: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:  # NaN fails this too
        raise InvalidInput(f"{key} must be a number from {low:g} to {high:g}, not {value!r}")
    return number


# --- names ------------------------------------------------------------------------------------------------


def canonical(model: str, aliases: Mapping[str, str]) -> str:
    """The model's current name (an old owner's name mapped to the new one), keeping a ``:version`` pin."""
    name, colon, version = model.partition(":")
    return aliases.get(name, name) + colon + version


def spec(model: str) -> ReplicateModel:
    return MODELS[model_name(model)]


def pinned_version(model: str) -> str | None:
    """``owner/name:version`` names its version; otherwise the model's own pin, if it has one."""
    _, _, version = model.partition(":")
    return version or spec(model).pinned_version
