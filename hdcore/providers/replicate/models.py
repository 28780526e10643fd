"""The models the Replicate tier runs: how each is asked for a scale, and what size it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ...errors import InvalidInput
from ...prices import model_name
from ..base import UpscaleRequest

REAL_ESRGAN = "nightmareai/real-esrgan"
SWINIR = "jingyunliang/swinir"
REFINER = "batouresearch/magic-image-refiner"
DEFAULT_MODEL = REAL_ESRGAN
REAL_ESRGAN_VERSION = "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"  # the seed's pin
SWINIR_TASK = "Real-World Image Super-Resolution-Large"  # the only SwinIR task that upscales (always 4x)

@dataclass(frozen=True)
class ReplicateModel:
    """A model this tier can run: how to ask it for a scale, and what size it answers with."""

    name: str
    description: str
    pinned_version: str | None
    build_input: Callable[[str, UpscaleRequest], dict[str, Any]]
    asked_scale: Callable[[int], int | None]  # None: the model answers with a size of its own (no plan)
    options: tuple[str, ...] = ()


def _real_esrgan_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    return {
        "image": image,
        "scale": _real_esrgan_scale(request.scale),
        "face_enhance": _flag(request.options, "face_enhance", False),
    }


def _real_esrgan_scale(scale: int) -> int:
    # 2x and 4x are the model's own passes; 3x asks 4x and the exact final resize brings it down.
    return 2 if scale == 2 else 4


def _swinir_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    # noise and jpeg only matter to SwinIR's denoising and JPEG tasks, so they are not sent.
    return {"image": image, "task_type": SWINIR_TASK}


def _refiner_input(image: str, request: UpscaleRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "image": image,
        "resolution": _refiner_resolution(request.output_size),
        "resemblance": _unit_number(request.options, "resemblance", 0.75),
        "creativity": _unit_number(request.options, "creativity", 0.25),
    }
    prompt = request.options.get("prompt")
    if prompt:
        payload["prompt"] = str(prompt)
    return payload


def _refiner_resolution(output_size: tuple[int, int]) -> str:
    # The refiner renders at 1024 or 2048 whatever it is given: pick the one that needs no upscaling after.
    return "1024" if max(output_size) <= 1024 else "2048"


MODELS: dict[str, ReplicateModel] = {
    REAL_ESRGAN: ReplicateModel(
        REAL_ESRGAN,
        "Real-ESRGAN (2x/4x native; 3x via 4x), optional face_enhance",
        REAL_ESRGAN_VERSION,
        _real_esrgan_input,
        _real_esrgan_scale,
        ("face_enhance",),
    ),
    SWINIR: ReplicateModel(
        SWINIR, "SwinIR real-world super-resolution (4x native)", None, _swinir_input, lambda scale: 4
    ),
    REFINER: ReplicateModel(
        REFINER,
        "Magic Image Refiner (renders at 1024 or 2048 px, then resized); resemblance, creativity",
        None,
        _refiner_input,
        lambda scale: None,
        ("prompt",),
    ),
}


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


def _unit_number(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key} must be a number from 0 to 1, not {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidInput(f"{key} must be a number from 0 to 1, not {value!r}")
    return number


def spec(model: str) -> ReplicateModel:
    return MODELS[model_name(model)]


def pinned_version(model: str) -> str | None:
    """``owner/name:version`` names its version; otherwise the model's own pin, if it has one."""
    _, _, version = model.partition(":")
    return version or spec(model).pinned_version


