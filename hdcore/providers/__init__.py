"""Upscaling providers, one module each, named by the id users type; and the registry of them.

Adding a provider means one module here (a ``ProviderInfo`` and a ``Provider`` subclass exported as
``PROVIDER``) and its id in ``PROVIDER_IDS``, where the order is the default Auto chain.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Iterable

from ..config import Config
from ..errors import ConfigError
from .base import ModelInfo, OptionInfo, Provider, ProviderInfo, UpscaleRequest

# The registry: every provider hdcore ships, in the Auto chain's default order (the seed's, with fal before
# Replicate: its default answers from warm GPUs within seconds, for about a cent a photo, where Replicate's
# community models may cold-boot past the deadline; the embedded local tier last); a provider whose info says
# ``in_auto_chain=False`` runs only when named.
PROVIDER_IDS = ("hf", "fal", "replicate", "space", "local", "lanczos")


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    factory: Callable[[Config], Provider]
    in_auto_chain: bool = True
    info: ProviderInfo | None = None  # None for providers made in code (tests); the shipped ones declare theirs


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

    def infos(self) -> list[ProviderInfo]:
        return [spec.info for spec in self._specs.values() if spec.info is not None]

    def spec(self, name: str) -> ProviderSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(f"unknown provider {name!r} (known: {', '.join(self._specs)})") from None

    def create(self, name: str, config: Config) -> Provider:
        return self.spec(name).factory(config)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def provider_class(provider_id: str) -> type[Provider]:
    """The provider class that ``hdcore.providers.<id>`` exports as ``PROVIDER``."""
    cls = importlib.import_module(f"{__name__}.{provider_id}").PROVIDER
    if cls.info.id != provider_id:
        raise ValueError(f"hdcore.providers.{provider_id} declares the id {cls.info.id!r}")
    return cls


def default_registry() -> Registry:
    """The providers hdcore ships (``PROVIDER_IDS``)."""
    specs = []
    for provider_id in PROVIDER_IDS:
        cls = provider_class(provider_id)
        specs.append(ProviderSpec(provider_id, cls, cls.info.in_auto_chain, cls.info))
    return Registry(specs)


__all__ = [
    "ModelInfo", "OptionInfo", "PROVIDER_IDS", "Provider", "ProviderInfo", "ProviderSpec", "Registry",
    "UpscaleRequest", "default_registry", "provider_class",
]  # fmt: skip
