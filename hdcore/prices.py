"""What a cloud run costs: one price table per provider, overridable, for the estimate before a call (the budget
guard's) and the cost measured after it (the History's).

A provider declares how each of its models is billed (a ``ModelPrice``) and, where it bills by time on some
hardware, the USD per second of each hardware; ``PriceTable.declared`` applies the overrides (``HDCORE_PRICES``).

Units, all in USD:

    run        per run
    megapixel  per megapixel of output
    block      per started block of ``block_mp`` megapixels of output (Topaz bills so)
    second     per second of compute: the estimate assumes ``seconds_per_mp`` per output megapixel (at least one);
               the measured cost is the provider's reported compute time at this price

A model billed per run that names its ``hardware`` (Replicate's public models) is billed by time really: its
per-run figure is the estimate, and the prediction's ``predict_time`` at that hardware's price is the measured
cost. Every other figure is the estimate, made from the requested output size: a price table is a catalogue,
not a quote.

Override keys (``HDCORE_PRICES``), namespaced by provider:

    "<provider>:<model>"             the model's price in its own unit      "fal:fal-ai/esrgan": 0.0012
    "<provider>:<unit>:<model>"      the model billed in that unit instead  "replicate:run:owner/model": 0.002
    "<provider>:second:<hardware>"   a hardware's price per second          "replicate:second:gpu-t4": 0.000225
    "<provider>:<hardware>"          the same (a name without a "/")        "replicate:gpu-t4": 0.000225
    "run:<model>", "second:<hardware>"   without a provider: the table that accepts ``unprefixed`` keys (Replicate's,
                                     the only one before tables were namespaced)

A key another provider's table owns is left to it; an unknown model gets a price of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping

from .attempts import Cost
from .config import Config

Unit = Literal["run", "megapixel", "block", "second"]
UNITS: tuple[str, ...] = ("run", "megapixel", "block", "second")
UNIT_TEXT = {
    "run": "per run",
    "megapixel": "per output megapixel",
    "block": "per started {block:g} MP of output",
    "second": "per second of compute",
}
RUN = "run:"
SECOND = "second:"


def model_name(model: str) -> str:
    """``owner/name`` without a ``:version`` pin: prices belong to the model, not to one version of it."""
    return model.split(":", 1)[0]


@dataclass(frozen=True)
class ModelPrice:
    """How one model is billed (see the module's units) and where the figure comes from."""

    unit: Unit
    usd: float
    hardware: str = ""  # Replicate: the hardware whose per-second price times predict_time is the real bill
    block_mp: float = 0.0  # "block": the output megapixels one block covers
    seconds_per_mp: float = 0.0  # "second": compute seconds per output megapixel, for the estimate
    source: str = ""  # for people: where the figure was read, and when

    def for_output(self, output_pixels: int) -> float:
        """USD for one run answering ``output_pixels`` pixels."""
        megapixels = max(0, output_pixels) / 1e6
        if self.unit == "megapixel":
            return self.usd * megapixels
        if self.unit == "block":
            return self.usd * max(1, math.ceil(megapixels / self.block_mp)) if self.block_mp > 0 else self.usd
        if self.unit == "second":
            return self.usd * self.seconds_per_mp * max(1.0, megapixels)
        return self.usd

    @property
    def unit_text(self) -> str:
        return UNIT_TEXT[self.unit].format(block=self.block_mp)


@dataclass(frozen=True)
class PriceTable:
    """One provider's prices in force: its declared figures with the overrides applied."""

    provider: str = "replicate"
    models: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(_replicate_catalogue()[0]))
    rates: Mapping[str, float] = field(default_factory=lambda: dict(_replicate_catalogue()[1]))
    aliases: Mapping[str, str] = field(default_factory=dict)  # an old model name -> the name it is priced under

    @classmethod
    def declared(
        cls,
        provider: str,
        models: Mapping[str, ModelPrice],
        rates: Mapping[str, float] | None = None,
        overrides: Mapping[str, float] | None = None,
        *,
        unprefixed: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> "PriceTable":
        """The provider's figures with ``overrides`` applied; keys of other providers are left for them.

        ``unprefixed``: this table also takes the keys written without a provider (``run:...``, ``second:...``).
        (Six parameters: the table's four parts as data, and two keyword-only choices of how keys are read.)
        """
        table = cls(provider, dict(models), dict(rates or {}), dict(aliases or {}))
        for key, usd in (overrides or {}).items():
            table = table._overridden(key, float(usd), unprefixed)
        return table

    @classmethod
    def from_config(cls, config: Config) -> "PriceTable":
        """Replicate's catalogue with the configured overrides (what this module offered before tables were
        per provider; the Replicate tier builds its own the same way)."""
        return cls.with_overrides(config.prices)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> "PriceTable":
        models, rates = _replicate_catalogue()
        return cls.declared("replicate", models, rates, overrides, unprefixed=True)

    # --- reading --------------------------------------------------------------------------------------

    def price(self, model: str) -> ModelPrice | None:
        name = model_name(model)
        return self.models.get(self.aliases.get(name, name))

    def estimate(self, model: str, output_pixels: int = 0) -> Cost:
        """What one run should cost before it is made; no cost at all for a model the table does not know."""
        price = self.price(model)
        return Cost(price.for_output(output_pixels), "estimated") if price is not None else Cost()

    def per_second(self, model: str) -> float | None:
        """USD per reported compute second, or None when the model is not billed by time (or its rate is unknown)."""
        price = self.price(model)
        if price is None:
            return None
        if price.unit == "second":
            return price.usd
        return self.rates.get(price.hardware) if price.hardware else None

    def measured(self, model: str, seconds: float | None, output_pixels: int = 0) -> Cost:
        """``seconds`` of reported compute at the model's per-second price; the estimate when either is unknown."""
        rate = self.per_second(model)
        if seconds is None or rate is None or not math.isfinite(seconds) or seconds < 0:
            return self.estimate(model, output_pixels)
        return Cost(seconds * rate, "measured")

    def rows(self) -> list[dict[str, Any]]:
        """The table for people (the Providers page): Item, Unit, USD, Note; estimates first, then hardware."""
        rows = []
        for model, price in self.models.items():
            measured = f"measured from predict_time on {price.hardware}" if price.hardware else ""
            note = "; ".join(part for part in (measured, price.source) if part)
            unit = price.unit_text + (" (estimate)" if price.hardware else "")
            rows.append({"Item": model, "Unit": unit, "USD": price.usd, "Note": note})
        for hardware, usd in self.rates.items():
            users = sorted(model for model, price in self.models.items() if price.hardware == hardware)
            rows.append({"Item": hardware, "Unit": "per second (measured)", "USD": usd, "Note": ", ".join(users)})
        return rows

    # --- overrides ------------------------------------------------------------------------------------

    def _overridden(self, key: str, usd: float, unprefixed: bool) -> "PriceTable":
        prefix = f"{self.provider}:"
        if key.startswith(prefix):
            rest = key[len(prefix) :]
        elif unprefixed and key.startswith((RUN, SECOND)):
            rest = key
        else:
            return self  # another provider's key
        unit, _, name = rest.partition(":") if rest.split(":", 1)[0] in UNITS else ("", "", rest)
        if "/" not in name:  # a hardware name: its price per second
            return replace(self, rates={**self.rates, name: usd}) if name and unit in ("", "second") else self
        model = self.aliases.get(model_name(name), model_name(name))
        known = self.models.get(model)
        if known is None:
            price = ModelPrice(unit or "run", usd, source="HDCORE_PRICES")  # type: ignore[arg-type]
        else:
            price = replace(known, unit=unit or known.unit, usd=usd, source="HDCORE_PRICES")  # type: ignore[arg-type]
        return replace(self, models={**self.models, model: price})


def _replicate_catalogue() -> tuple[Mapping[str, ModelPrice], Mapping[str, float]]:
    # ``PriceTable()`` is Replicate's catalogue, as it was before tables were per provider (hdcore.animated
    # estimates with it); the figures themselves are declared with the Replicate tier's models.
    from .providers.replicate.models import HARDWARE_PRICES, MODEL_PRICES

    return MODEL_PRICES, HARDWARE_PRICES
