"""The Health page's decisions: the Auto order and why, rolling figures and hourly charts per tier, the cost
caps and today's spend, and the circuit breakers."""

from __future__ import annotations

import importlib
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence


from .. import health
from ..engine import Engine
from ..errors import HDCoreError
from ..history import HistoryError, HistoryStore
from ..text import one_line
from .common import (
    AUTO, finite, short_label,
)
from ..text import usd



def auto_ordering(engine: Engine, store: HistoryStore | None, now: float | None = None) -> health.Ordering:
    """The Auto chain in the configured mode, and why. A history that cannot be read means no evidence, so the
    adaptive mode keeps the static order (the explanation says there is no history)."""
    config = engine.config
    return health.choose_order(
        engine.plan(AUTO), _figures_or_none(store, now), config.auto_order.mode,
        config.budget.max_per_image, label=short_label,
    )  # fmt: skip


def _figures_or_none(store: HistoryStore | None, now: float | None) -> list[health.Figures]:
    if store is None:
        return []
    try:
        return health.figures(store, now=now)
    except HistoryError:
        return []


def figure_rows(figures: Sequence[health.Figures]) -> list[dict[str, Any]]:
    """The Health page's table: one row per provider and model (all models first) and window."""
    return [
        {
            "Provider": short_label(f.provider),
            "Model": "all models" if f.model == health.ALL_MODELS else (f.model or "–"),
            "Window": "1 h" if f.window_s == health.HOUR else f"{f.window_s // health.HOUR} h",
            "Attempts": f.attempts,
            "Success rate (%)": None if f.success_rate is None else round(100 * f.success_rate, 1),
            "Skipped": f.skipped,
            "p50 latency (s)": finite(f.p50_latency_s, 2),
            "p95 latency (s)": finite(f.p95_latency_s, 2),
            "Mean cost (USD)": finite(f.mean_cost_usd, 6),
        }
        for f in figures
    ]


def hourly_rows(buckets: Sequence[health.HourBucket]) -> list[dict[str, Any]]:
    """Long-form rows for the Health page's charts: one per provider and hour."""
    return [
        {
            "Hour": datetime.fromtimestamp(b.start, tz=timezone.utc),
            "Provider": short_label(b.provider),
            "Success rate (%)": None if b.success_rate is None else round(100 * b.success_rate, 1),
            "p50 latency (s)": finite(b.p50_latency_s, 2),
            "p95 latency (s)": finite(b.p95_latency_s, 2),
            "Cost (USD)": round(b.cost_usd, 6),
        }
        for b in buckets
    ]


def budget_lines(engine: Engine, store: HistoryStore, now: float | None = None) -> list[str]:
    """The caps, today's spend, and each Auto tier the budget guard would skip now (a 1 MP image at 4x with
    its default model)."""
    budget = engine.config.budget
    if not budget.capped:
        return ["No cost cap is set (HDCORE_MAX_COST_PER_IMAGE, HDCORE_MAX_COST_PER_DAY)."]
    lines = [f"Per image: {_cap(budget.max_per_image)} · per day: {_cap(budget.max_per_day)} · "
             f"spent today (UTC): {usd(health.spent_today(store, now))}"]  # fmt: skip
    for tier in engine.plan(AUTO):
        provider = engine.provider(tier)
        try:
            estimate = provider.estimate_cost(provider.model_for(None, 4, {}), (1024, 1024), 4)
        except HDCoreError:
            continue
        reason = engine.attempter.budget.would_skip(tier, estimate)
        if reason:
            lines.append(f"{short_label(tier)} is skipped: {reason}")
    return lines


def _cap(amount: float | None) -> str:
    return "no cap" if amount is None else usd(amount)


def breaker_board(engine: Engine) -> Any | None:
    """Whatever holds the circuit breakers (``snapshot()`` and ``reset(provider, model=None)``): the engine's
    own if it has one, else the ``hdcore.engine.breaker`` module's; None while hdcore has no breakers."""
    try:
        module = importlib.import_module("hdcore.engine.breaker")
    except ImportError:
        return None
    for holder in (getattr(engine, "breakers", None), getattr(engine, "breaker", None), module):
        if callable(getattr(holder, "snapshot", None)) and callable(getattr(holder, "reset", None)):
            return holder
    return None


def breaker_rows(snapshot: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The breakers as a table; ``reopens_at`` (unix time) becomes a time, the reason one line."""
    rows = []
    for breaker in snapshot:
        reopens = breaker.get("reopens_at")
        rows.append(
            {
                "Provider": short_label(str(breaker.get("provider", ""))),
                "Model": breaker.get("model") or "all models",
                "State": str(breaker.get("state", "")),
                "Failures": breaker.get("failures"),
                "Retries at": datetime.fromtimestamp(reopens, tz=timezone.utc) if reopens else None,
                "Reason": one_line(str(breaker.get("reason") or "")),
            }
        )
    return rows


