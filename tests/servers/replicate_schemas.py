"""The models our Replicate API serves: each one's input schema (as its version's OpenAPI schema reads), whether it
is an official model (run by name) or a community one (run by version), what size it answers, and Replicate's
input validation, enough of it to answer 422 where Replicate would."""

from __future__ import annotations

from typing import Any

REAL_ESRGAN = "nightmareai/real-esrgan"
SWINIR = "jingyunliang/swinir"
REFINER = "fermatresearch/magic-image-refiner"
OLD_REFINER = "batouresearch/magic-image-refiner"
CLARITY = "philz1337x/clarity-upscaler"
RECRAFT_CRISP = "recraft-ai/recraft-crisp-upscale"
TOPAZ = "topazlabs/image-upscale"
GOOGLE_UPSCALER = "google/upscaler"
REAL_ESRGAN_VERSION = "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
SWINIR_VERSION = "660d922d33153019e8c263a3bba265de882e7f4f70396546b6c9c8f9d47a021a"
REFINER_VERSION = "507ddf6f977a7e30e46c0daefd30de7d563c72322f9e4cf7cbac52ef0f667b13"
CLARITY_VERSION = "dfad41707589d68ecdccd1dfa600d55a208f9310748e44bfe35b4a6291453d5e"
# Official models have versions too, but do not list them; these ids are the double's own.
CRISP_VERSION = "31c70d9026bbd25ee2b751825e19101e0321b8814c33863c88fe5d0d63c00c82"
TOPAZ_VERSION = "2fdc3b86a01d338ae89ad58e5d9241398a8a01de9b0dda41ba8a0434c8a00dc3"
GOOGLE_VERSION = "0d1e1b1e8b0c4c1d8e4b7c2a9f6e5d4c3b2a19081726354453627180919a8b7c"
SWINIR_TASKS = [
    "Real-World Image Super-Resolution-Large",
    "Real-World Image Super-Resolution-Medium",
    "Grayscale Image Denoising",
    "Color Image Denoising",
    "JPEG Compression Artifact Reduction",
]
TOPAZ_MODELS = ["Standard V2", "Low Resolution V2", "CGI", "High Fidelity V2", "Text Refine"]
CRISP_SCALE = 4  # Recraft documents a fixed scale without naming it; this double answers 4x
URI = {"type": "string", "format": "uri"}


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    """The part of a version's OpenAPI schema that describes its input, as Replicate serves it."""
    return {"components": {"schemas": {"Input": {"type": "object", "required": ["image"], "properties": properties}}}}


def catalogue() -> dict[str, dict[str, Any]]:
    """Every model the double serves; a fresh copy per server, so a test may change one."""
    return {
        REAL_ESRGAN: {"version": REAL_ESRGAN_VERSION, "official": False, "schema": _schema({
            "image": URI,
            "scale": {"type": "number", "minimum": 0, "maximum": 10, "default": 4},
            "face_enhance": {"type": "boolean", "default": False},
        })},
        SWINIR: {"version": SWINIR_VERSION, "official": False, "schema": _schema({
            "image": URI,
            "task_type": {"enum": SWINIR_TASKS, "default": SWINIR_TASKS[0]},
            "noise": {"enum": [15, 25, 50], "default": 15},
            "jpeg": {"enum": [10, 20, 30, 40], "default": 40},
        })},
        REFINER: {"version": REFINER_VERSION, "official": False, "schema": _schema({
            "image": URI,
            "prompt": {"type": "string"},
            "resolution": {"enum": ["original", "1024", "2048"], "default": "original"},
            "resemblance": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.75},
            "creativity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.25},
            "hdr": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
            "steps": {"type": "integer", "default": 20},
        })},
        CLARITY: {"version": CLARITY_VERSION, "official": False, "schema": _schema({
            "image": URI,
            "prompt": {"type": "string"},
            "negative_prompt": {"type": "string"},
            "scale_factor": {"type": "number", "default": 2},
            "dynamic": {"type": "number", "minimum": 1, "maximum": 50, "default": 6},
            "creativity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.35},
            "resemblance": {"type": "number", "minimum": 0, "maximum": 3, "default": 0.6},
            "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 100, "default": 18},
            "seed": {"type": "integer", "default": 1337},
            "sharpen": {"type": "number", "minimum": 0, "maximum": 10, "default": 0},
            "output_format": {"enum": ["webp", "jpg", "png"], "default": "png"},
        })},
        RECRAFT_CRISP: {"version": CRISP_VERSION, "official": True, "schema": _schema({"image": URI})},
        TOPAZ: {"version": TOPAZ_VERSION, "official": True, "schema": _schema({
            "image": URI,
            "enhance_model": {"enum": TOPAZ_MODELS, "default": "Standard V2"},
            "upscale_factor": {"enum": ["None", "2x", "4x", "6x"], "default": "None"},
            "output_format": {"enum": ["jpg", "png"], "default": "jpg"},
            "subject_detection": {"enum": ["None", "All", "Foreground", "Background"], "default": "None"},
            "face_enhancement": {"type": "boolean", "default": False},
            "face_enhancement_creativity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
            "face_enhancement_strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
        })},
        GOOGLE_UPSCALER: {"version": GOOGLE_VERSION, "official": True, "schema": _schema({
            "image": URI,
            "upscale_factor": {"enum": ["x2", "x4"], "default": "x2"},
            "compression_quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 80},
        })},
    }  # fmt: skip


def output_scale(model: str, inputs: dict[str, Any]) -> float | None:
    """The factor the model answers at, from its inputs; None for the refiner (its own square size)."""
    if model == REFINER:
        return None
    if model == SWINIR:
        return 4
    if model == RECRAFT_CRISP:
        return CRISP_SCALE
    if model == TOPAZ:
        return {"None": 1, "2x": 2, "4x": 4, "6x": 6}[inputs.get("upscale_factor", "None")]
    if model == GOOGLE_UPSCALER:
        return 4 if inputs.get("upscale_factor") == "x4" else 2
    if model == CLARITY:
        return float(inputs.get("scale_factor", 2))
    return float(inputs.get("scale", 4))


def answers_a_list(model: str) -> bool:
    return model in (REFINER, CLARITY)  # cog's list[Path] outputs


# --- validation ------------------------------------------------------------------------------------------


def input_problem(schema: dict[str, Any], inputs: Any) -> str:
    """Replicate's input validation, enough of it: required keys, no unknown keys, types, enums, ranges."""
    spec = schema["components"]["schemas"]["Input"]
    if not isinstance(inputs, dict):
        return "input: Invalid type. Expected: object"
    for key in spec["required"]:
        if key not in inputs:
            return f"input: {key} is required"
    for key, value in inputs.items():
        rule = spec["properties"].get(key)
        if rule is None:
            return f"input: Additional property {key} is not allowed"
        if problem := _value_problem(key, value, rule):
            return problem
    return ""


def _value_problem(key: str, value: Any, rule: dict[str, Any]) -> str:
    if "enum" in rule:
        return "" if value in rule["enum"] else f"{key}: {key} must be one of the following: {rule['enum']}"
    kind = rule.get("type")
    if kind == "boolean" and not isinstance(value, bool):
        return f"{key}: Invalid type. Expected: boolean"
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or kind == "integer" and value != int(value):
            return f"{key}: Invalid type. Expected: {kind}"
        if "minimum" in rule and value < rule["minimum"]:
            return f"{key}: Must be greater than or equal to {rule['minimum']}"
        if "maximum" in rule and value > rule["maximum"]:
            return f"{key}: Must be less than or equal to {rule['maximum']}"
    if kind == "string" and not isinstance(value, str):
        return f"{key}: Invalid type. Expected: string"
    if rule.get("format") == "uri" and not (isinstance(value, str) and value.startswith(("data:", "http"))):
        return f"{key}: Does not match format 'uri'"
    return ""
