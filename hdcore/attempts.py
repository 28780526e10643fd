"""The record of one tier's attempt, and the result of a whole run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Outcome = Literal["ok", "timeout", "error", "skipped"]
CostKind = Literal["measured", "estimated", "none"]


@dataclass(frozen=True)
class Attempt:
    """What happened when the engine tried one tier."""

    tier: int  # 1-based position in the chain that was run
    provider: str
    model: str | None
    outcome: Outcome
    reason: str = ""
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cost_kind: CostKind = "none"
    output_size: tuple[int, int] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["output_size"] = list(self.output_size) if self.output_size else None
        data["warnings"] = list(self.warnings)
        data["latency_s"] = round(self.latency_s, 4)
        return data


@dataclass
class Cost:
    """A provider's cost for one call: measured (reported by the provider) or estimated (price table)."""

    usd: float = 0.0
    kind: CostKind = "none"


@dataclass(frozen=True)
class ProviderOutput:
    """What a provider returns: the upscaled colour image and what it cost."""

    image: object  # PIL.Image.Image (8-bit RGB) or numpy float32 HxWx3 in [0, 1]
    model: str | None = None
    cost: Cost = field(default_factory=Cost)
    warnings: tuple[str, ...] = ()
