"""Upscaling providers, one module each, and the registry: which exist and the order of the "auto" chain.

Adding a provider means one module here and one line in ``default_registry``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Iterable

from ..config import Config
from ..errors import ConfigError
from .base import ModelInfo, Provider, UpscaleRequest


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    factory: Callable[[Config], Provider]
    in_auto_chain: bool = True  # False: only used when named (e.g. the Lanczos baseline)


class Registry:
    """An ordered set of provider specs. The order of specs with ``in_auto_chain`` is the default chain."""

    def __init__(self, specs: Iterable[ProviderSpec]):
        self._specs: dict[str, ProviderSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"provider {spec.name!r} registered twice")
            self._specs[spec.name] = spec

    def names(self) -> list[str]:
        return list(self._specs)

    def auto_chain(self) -> list[str]:
        return [spec.name for spec in self._specs.values() if spec.in_auto_chain]

    def spec(self, name: str) -> ProviderSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(f"unknown provider {name!r} (known: {', '.join(self._specs)})") from None

    def create(self, name: str, config: Config) -> Provider:
        return self.spec(name).factory(config)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def _lazy(module: str, cls: str) -> Callable[[Config], Provider]:
    """A factory that imports its module only when the provider is first built (keeps import time low)."""

    def factory(config: Config) -> Provider:
        return getattr(importlib.import_module(module, __package__), cls)(config)

    return factory


def default_registry() -> Registry:
    """The providers hdcore ships, in the seed's order, with the embedded local tier last."""
    return Registry(
        [
            ProviderSpec("hf", _lazy(".hf", "HuggingFaceProvider")),
            ProviderSpec("replicate", _lazy(".replicate", "ReplicateProvider")),
            ProviderSpec("space", _lazy(".space", "SpaceProvider")),
            ProviderSpec("local", _lazy(".local", "LocalProvider")),
            ProviderSpec("lanczos", _lazy(".lanczos", "LanczosProvider"), in_auto_chain=False),
        ]
    )


__all__ = ["ModelInfo", "Provider", "ProviderSpec", "Registry", "UpscaleRequest", "default_registry"]
