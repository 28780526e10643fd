"""What Hugging Face serves today, for the models this tier knows, as data.

Facts as of ``AS_OF`` (the model pages' "Inference Providers" box, hub-docs ``inference-providers/`` and
huggingface_hub 2.4.0's ``inference/_providers/``): the hf-inference provider "focuses mostly on CPU inference"
since July 2025 and lists no image-to-image task; no Inference Provider deploys the SD x4 upscaler or any
Real-ESRGAN; ``nightmareai/real-esrgan`` is a Replicate id, not a Hugging Face one. Image-to-image through the
router goes to providers such as fal-ai, replicate, together and wavespeed, for the models they map.

A model listed here as not served is skipped before anything is sent when it would go through Hugging Face's
own router; on an Inference Endpoint (or another server named by HDCORE_HF_BASE_URL) it runs as configured.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-12-01"  # when the facts below were last confirmed; re-check the model pages when this ages
SD_X4 = "stabilityai/stable-diffusion-x4-upscaler"
REAL_ESRGAN_REPLICATE_ID = "nightmareai/real-esrgan"

ADVICE = "deploy it on an Inference Endpoint (HDCORE_HF_ENDPOINT_URL) or choose a served model"
PROVIDERS_PRICE_NOTE = ("billed per call by Hugging Face at the serving provider's own rate (HF accounts get small "
                        "monthly credits); set HDCORE_PRICES {\"hf:<model>\": usd} for the budget")
ENDPOINT_PRICE_NOTE = ("an Inference Endpoint bills its owner per hour while it runs, whatever the calls; "
                       "a call adds nothing")


@dataclass(frozen=True)
class KnownModel:
    """What is known of one model: a description, whether any Inference Provider serves it today (and why
    not), and the input it takes where it runs (on an Endpoint)."""

    description: str
    unserved_because: str = ""  # "" when served, or not known either way
    max_input_side: int | None = None


KNOWN_MODELS: dict[str, KnownModel] = {
    SD_X4: KnownModel(
        "Stable Diffusion x4 upscaler: diffusion, text-guided (prompt)",
        unserved_because="is not served by any Hugging Face provider today",
        # its attention grows with the square of the input: a 512x512 input asked 256 GiB of a 15 GB GPU without
        # memory-efficient attention (diffusers issue 1434); Spaces built on it ask for less than 512x512
        max_input_side=512,
    ),
    REAL_ESRGAN_REPLICATE_ID: KnownModel(
        "Real-ESRGAN: GAN super-resolution for real-world photos (a Replicate model id)",
        unserved_because=("is a Replicate model id, not a Hugging Face one, and is not served by any Hugging Face "
                          "provider today"),
    ),
}


def unserved_reason(model: str) -> str:
    """Why ``model`` cannot go through Hugging Face's router today, in plain words, or "" when it may."""
    known = KNOWN_MODELS.get(model)
    if known is None or not known.unserved_because:
        return ""
    return f"{model} {known.unserved_because} (as of {AS_OF}); {ADVICE}"


def description(model: str) -> str:
    known = KNOWN_MODELS.get(model)
    return known.description if known is not None else ""
