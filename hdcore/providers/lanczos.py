"""Plain Lanczos resampling: no model, no network. The baseline every other tier is compared against."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..attempts import ProviderOutput
from ..resize import lanczos_resize
from .base import ModelInfo, Provider, UpscaleRequest


class LanczosProvider(Provider):
    name = "lanczos"
    label = "Lanczos (baseline)"

    def models(self) -> Sequence[ModelInfo]:
        return (ModelInfo("lanczos", (2, 3, 4), "Lanczos resampling; the baseline, no model"),)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return "lanczos"

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        return ProviderOutput(image=lanczos_resize(request.image, request.output_size), model="lanczos")
