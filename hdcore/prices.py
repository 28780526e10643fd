"""What a cloud run costs: one price table, configurable, used to report a cost with each attempt.

Two kinds of figure:

* ``run:<model>``      USD per run, the catalogue's typical figure; an *estimate* (the real bill depends on the
                       input size and the hardware's speed that day).
* ``second:<hardware>`` USD per second of prediction time on that hardware; times a prediction's reported
                       ``metrics.predict_time`` it gives a *measured* cost (Replicate bills public models by it).

``HARDWARE`` says which hardware each model runs on. Every default here is a public catalogue figure
(Replicate's model pages and hardware price list), not a quote: override any of them with ``Config.prices``
(``HDCORE_PRICES``), e.g. ``{"run:nightmareai/real-esrgan": 0.002, "second:gpu-t4": 0.000225}``.
The ``replicate:<model>`` / ``replicate:<hardware>`` spelling shown in hdcore.config is accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .attempts import Cost
from .config import Config

RUN = "run:"
SECOND = "second:"
PROVIDER_PREFIX = "replicate:"  # the spelling hdcore.config's HDCORE_PRICES message uses

# Catalogue figures (USD). Per run: the seed's table. Per second: Replicate's public hardware prices.
DEFAULT_PRICES: dict[str, float] = {
    "run:nightmareai/real-esrgan": 0.0019,
    "run:jingyunliang/swinir": 0.01,
    "run:batouresearch/magic-image-refiner": 0.02,
    "second:cpu": 0.000100,
    "second:gpu-t4": 0.000225,
    "second:gpu-l40s": 0.000975,
    "second:gpu-a40-large": 0.000725,
    "second:gpu-a100-large": 0.001400,
}

# The hardware each model runs on, from its catalogue page (the owner may move it; override with care).
HARDWARE: dict[str, str] = {
    "nightmareai/real-esrgan": "gpu-t4",
    "jingyunliang/swinir": "gpu-t4",
    "batouresearch/magic-image-refiner": "gpu-a100-large",
}


def model_name(model: str) -> str:
    """``owner/name`` without a ``:version`` pin: prices belong to the model, not to one version of it."""
    return model.split(":", 1)[0]


@dataclass(frozen=True)
class PriceTable:
    """Per-run estimates, per-second hardware prices, and which hardware each model runs on."""

    prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    hardware: Mapping[str, str] = field(default_factory=lambda: dict(HARDWARE))

    @classmethod
    def from_config(cls, config: Config) -> "PriceTable":
        return cls.with_overrides(config.prices)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> "PriceTable":
        """The defaults with ``overrides`` applied; keys of other providers are left for them and ignored here."""
        prices = dict(DEFAULT_PRICES)
        for key, usd in overrides.items():
            if (normalized := _normalized_key(key)) is not None:
                prices[normalized] = float(usd)
        return cls(prices=prices)

    def estimate(self, model: str) -> Cost:
        """The catalogue's per-run figure; no cost at all for a model the table does not know."""
        usd = self.prices.get(RUN + model_name(model))
        return Cost(usd, "estimated") if usd is not None else Cost()

    def per_second(self, model: str) -> float | None:
        hardware = self.hardware.get(model_name(model))
        return None if hardware is None else self.prices.get(SECOND + hardware)

    def measured(self, model: str, predict_time: float | None) -> Cost:
        """``predict_time`` seconds at the model's hardware price; the estimate when either is unknown."""
        rate = self.per_second(model)
        if predict_time is None or rate is None or predict_time < 0:
            return self.estimate(model)
        return Cost(predict_time * rate, "measured")


def _normalized_key(key: str) -> str | None:
    """``run:``/``second:`` keys as they are; ``replicate:<hardware>`` and ``replicate:<model>`` mapped onto them."""
    if key.startswith((RUN, SECOND)):
        return key
    if key.startswith(PROVIDER_PREFIX):
        name = key[len(PROVIDER_PREFIX) :]
        return SECOND + name if "/" not in name else RUN + model_name(name)
    return None
