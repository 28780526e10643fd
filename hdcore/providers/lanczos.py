"""Plain Lanczos resampling: no model, no network. The baseline every other tier is compared against."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..attempts import ProviderOutput
from ..resize import lanczos_resize
from .base import ModelInfo, Provider, ProviderInfo, UpscaleRequest

INFO = ProviderInfo(
    id="lanczos",
    label="Lanczos (baseline)",
    short_label="Lanczos",
    in_auto_chain=False,  # the baseline the QA page compares against; never an upscaler anyone asked for
    cost_note="free (resampling in this process)",
)


class LanczosProvider(Provider):
    info = INFO

    def models(self) -> Sequence[ModelInfo]:
        return (ModelInfo("lanczos", (2, 3, 4), "Lanczos resampling; the baseline, no model"),)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return "lanczos"

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        return ProviderOutput(image=lanczos_resize(request.image, request.output_size), model="lanczos")


PROVIDER = LanczosProvider
