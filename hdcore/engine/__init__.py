"""The chain: the walk over the tiers (``walk``), one attempt (``attempt``: admit → call → judge), the hedged
race (``race``), the result types (``result``), and beside them the circuit breakers, retries, hedging, the
concurrency gates, the cost budget and the deadline worker."""

from .result import EnhanceResult, ProgressCallback, ProgressEvent, Stage
from .walk import SCALES, Engine, Planner

__all__ = ["Engine", "EnhanceResult", "Planner", "ProgressCallback", "ProgressEvent", "SCALES", "Stage"]
