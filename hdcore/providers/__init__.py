"""Upscaling providers, one module each. ``hdcore.registry`` says which exist and in what order."""

from .base import ModelInfo, Provider, UpscaleRequest

__all__ = ["ModelInfo", "Provider", "UpscaleRequest"]
