"""How each tier has been doing, from the history store: rolling figures and an adaptive Auto order.

Pure functions over ``HistoryStore.attempts`` (no network, no engine state), so the app, the engine and the
tests read the same numbers:

* ``figures``       success rate, p50 / p95 latency and mean cost per provider and model over rolling windows
                    (1 h and 24 h by default), plus one row per provider over all its models (``ALL_MODELS``).
                    Skipped attempts (tier not configured, scale not served) never reached the tier: they are
                    counted apart and left out of the success rate, latency and cost.
* ``choose_order``  the Auto chain as configured (``static``) or ranked by those figures (``adaptive``), with a
                    one-line explanation for people ("Replicate first: Hugging Face failed 5 of 5 in the last hour").
* ``HealthPlanner`` what the engine asks for the Auto order (``Config.auto_order``), and for the cost of a tier
                    the price tables do not know (the budget guard, ``hdcore.engine.budget``, holds the caps).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from .config import BudgetSettings, Config, OrderSettings
from .engine.hedging import percentile
from .errors import HistoryError
from .store import AttemptRow, HistoryStore
from .text import usd

HOUR = 3600
DAY = 86400
DEFAULT_WINDOWS = (HOUR, DAY)
ALL_MODELS = "*"  # the model of a provider's row over all its models (None is a real model value: "unknown")
MIN_SAMPLE = 3  # fewer counted attempts than this in a window is not evidence enough to move a tier
SKIPPED = "skipped"
OK = "ok"



# ------------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Figures:
    """One provider (and model, or ``ALL_MODELS``) over one window ending at ``now``."""

    provider: str
    model: str | None
    window_s: int
    attempts: int  # attempts that reached the tier (ok, error, timeout)
    successes: int
    skipped: int  # attempts the engine skipped: not counted in the figures below
    p50_latency_s: float | None
    p95_latency_s: float | None
    mean_cost_usd: float | None

    @property
    def failures(self) -> int:
        return self.attempts - self.successes

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


def figures(
    store: HistoryStore, now: float | None = None, windows: Sequence[int] = DEFAULT_WINDOWS
) -> list[Figures]:
    """Figures per (provider, model) and per provider over every window, from one read of the longest window.

    Rows come provider by provider (in order of first appearance), the ``ALL_MODELS`` row first, windows in the
    order given. Attempts later than ``now`` are left out, so a fixed ``now`` gives fixed figures.
    """
    now = time.time() if now is None else float(now)
    rows = [row for row in store.attempts(since=now - max(windows)) if row.time <= now]
    return figures_of(rows, now, windows)


def figures_of(rows: Iterable[AttemptRow], now: float, windows: Sequence[int] = DEFAULT_WINDOWS) -> list[Figures]:
    """``figures`` over attempts already read (e.g. by a caller that also charts them)."""
    groups: dict[tuple[str, str | None], list[AttemptRow]] = defaultdict(list)
    for row in rows:
        groups[(row.provider, ALL_MODELS)].append(row)
        groups[(row.provider, row.model)].append(row)
    return [
        _figures(provider, model, window, [r for r in attempts if r.time >= now - window])
        for (provider, model), attempts in groups.items()
        for window in windows
    ]


def _figures(provider: str, model: str | None, window: int, rows: Sequence[AttemptRow]) -> Figures:
    counted = [r for r in rows if r.outcome != SKIPPED]
    latencies = sorted(r.latency_s for r in counted)
    return Figures(
        provider=provider,
        model=model,
        window_s=int(window),
        attempts=len(counted),
        successes=sum(1 for r in counted if r.outcome == OK),
        skipped=len(rows) - len(counted),
        p50_latency_s=percentile(latencies, 50),
        p95_latency_s=percentile(latencies, 95),
        mean_cost_usd=sum(r.cost_usd for r in counted) / len(counted) if counted else None,
    )


@dataclass(frozen=True)
class HourBucket:
    """One provider over one hour: for the Health page's charts."""

    start: float  # unix time of the hour's start (UTC)
    provider: str
    attempts: int
    successes: int
    p50_latency_s: float | None
    p95_latency_s: float | None
    cost_usd: float  # spent in that hour (skipped attempts cost nothing)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


def hourly(store: HistoryStore, now: float | None = None, hours: int = 24) -> list[HourBucket]:
    """Per-hour, per-provider buckets over the last ``hours`` hours, oldest first; hours without attempts are
    left out (a chart joins its points)."""
    now = time.time() if now is None else float(now)
    first_hour = _hour_start(now) - (hours - 1) * HOUR
    groups: dict[tuple[float, str], list[AttemptRow]] = defaultdict(list)
    for row in store.attempts(since=first_hour):
        if row.time <= now and row.outcome != SKIPPED:
            groups[(_hour_start(row.time), row.provider)].append(row)
    return [_bucket(start, provider, rows) for (start, provider), rows in sorted(groups.items())]


def _bucket(start: float, provider: str, rows: Sequence[AttemptRow]) -> HourBucket:
    latencies = sorted(r.latency_s for r in rows)
    return HourBucket(
        start=start,
        provider=provider,
        attempts=len(rows),
        successes=sum(1 for r in rows if r.outcome == OK),
        p50_latency_s=percentile(latencies, 50),
        p95_latency_s=percentile(latencies, 95),
        cost_usd=sum(r.cost_usd for r in rows),
    )


def _hour_start(when: float) -> float:
    return math.floor(when / HOUR) * HOUR


# ---------------------------------------------------------------------------------------------- the order


@dataclass(frozen=True)
class Ordering:
    order: list[str]
    explanation: str


def choose_order(
    chain: Sequence[str],
    figures: Sequence[Figures],
    mode: str = "static",
    max_cost_per_image: float | None = None,
    *,
    label: Callable[[str], str] | None = None,
) -> Ordering:
    """The Auto chain to run, and why.

    ``static`` keeps ``chain`` (the configured or registry order). ``adaptive`` ranks the tiers that have
    evidence, using each provider's ``ALL_MODELS`` figures from the shortest window with at least ``MIN_SAMPLE``
    counted attempts (1 h, else 24 h). The ranking rule, in order:

    1. within the cost budget first: a tier whose mean cost exceeds ``max_cost_per_image`` goes after those that
       do not (the budget guard would skip it anyway);
    2. higher success rate;
    3. lower p95 latency;
    4. lower mean cost;
    5. the static order (the sort is stable).

    Tiers without enough evidence (no history, or only skipped attempts, as an unconfigured tier has) keep their
    static position; the ranked tiers are re-dealt into the positions the ranked tiers held. ``label`` names a
    tier in the explanation (default: its name).
    """
    chain = list(chain)
    name = label or (lambda provider: provider)
    if mode != "adaptive":
        return Ordering(chain, f"Static order: {_arrow(chain, name)} (the configured order).")
    evidence = {p: f for p in chain if (f := _evidence(p, figures)) is not None}
    ranked = sorted((p for p in chain if p in evidence), key=lambda p: _rank_key(evidence[p], max_cost_per_image))
    dealt = iter(ranked)
    order = [next(dealt) if p in evidence else p for p in chain]
    return Ordering(order, _explain(chain, order, evidence, max_cost_per_image, name))


def _evidence(provider: str, figures: Sequence[Figures]) -> Figures | None:
    """The provider's all-models figures from its shortest window with enough counted attempts."""
    rows = [f for f in figures if f.provider == provider and f.model == ALL_MODELS and f.attempts >= MIN_SAMPLE]
    return min(rows, key=lambda f: f.window_s, default=None)


def _rank_key(figures: Figures, max_cost: float | None) -> tuple:
    over_budget = max_cost is not None and (figures.mean_cost_usd or 0.0) > max_cost
    return (
        over_budget,
        -(figures.success_rate or 0.0),
        _or_inf(figures.p95_latency_s),
        _or_inf(figures.mean_cost_usd),
    )


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _explain(
    chain: list[str],
    order: list[str],
    evidence: Mapping[str, Figures],
    max_cost: float | None,
    name: Callable[[str], str],
) -> str:
    if not evidence:
        return (f"Adaptive order: {_arrow(order, name)}, as configured: no tier has {MIN_SAMPLE} or more "
                "attempts in the last 24 h yet.")  # fmt: skip
    if order == chain:
        first = order[0]
        why = f": {_record(evidence[first])}" if first in evidence else ""
        return f"Adaptive order: {_arrow(order, name)}, as configured; {name(first)} stays first{why}."
    moved = next(static for static, adaptive in zip(chain, order) if static != adaptive)
    winner = order[chain.index(moved)]
    reason = _why_behind(evidence[moved], evidence[winner], max_cost, name(moved))
    return f"{name(winner)} {_place(chain.index(moved))}: {reason}. Adaptive order: {_arrow(order, name)}."


def _why_behind(loser: Figures, winner: Figures, max_cost: float | None, loser_name: str) -> str:
    """Why ``loser`` went behind ``winner``, by the first rule of the ranking that tells them apart."""
    if _rank_key(loser, max_cost)[0]:
        return f"{loser_name} costs about {usd(loser.mean_cost_usd or 0.0)} a run, over {usd(max_cost or 0.0)}"
    if (loser.success_rate or 0.0) < (winner.success_rate or 0.0):
        return f"{loser_name} failed {loser.failures} of {loser.attempts} in {window_text(loser.window_s)}"
    if _or_inf(loser.p95_latency_s) > _or_inf(winner.p95_latency_s):
        return (f"{loser_name}'s p95 latency is {_seconds(loser.p95_latency_s)} against "
                f"{_seconds(winner.p95_latency_s)} in {window_text(loser.window_s)}")  # fmt: skip
    costs = (usd(loser.mean_cost_usd or 0.0), usd(winner.mean_cost_usd or 0.0))
    return f"{loser_name} costs about {costs[0]} a run against {costs[1]}"


def _record(figures: Figures) -> str:
    return f"{figures.successes} of {figures.attempts} succeeded in {window_text(figures.window_s)}"


def _place(index: int) -> str:
    return "first" if index == 0 else f"in place {index + 1}"


def _arrow(order: Sequence[str], name: Callable[[str], str]) -> str:
    return " → ".join(name(p) for p in order)


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} s"  # an explanation's figure: one decimal is enough


def window_text(window_s: int) -> str:
    """ "the last hour", "the last 24 h", "the last 90 s"."""
    if window_s == HOUR:
        return "the last hour"
    if window_s % HOUR == 0:
        return f"the last {window_s // HOUR} h"
    return f"the last {window_s} s"


# ------------------------------------------------------------------------------------------------- planner


def spent_today(store: HistoryStore, now: float | None = None) -> float:
    """USD spent since midnight UTC of ``now``'s day: the store's spend ledger (settled costs and open holds,
    and any paid attempt recorded without a hold)."""
    return store.spend_ledger().spent_today(now)


def mean_paid_cost(store: HistoryStore, provider: str, now: float | None = None) -> float | None:
    """A tier's mean cost over its paid attempts of the last 24 h (the budget's estimate for a model the price
    tables do not know), or None without any."""
    now = time.time() if now is None else float(now)
    paid = [row.cost_usd for row in store.attempts(since=now - DAY, provider=provider) if row.cost_usd > 0]
    return sum(paid) / len(paid) if paid else None


class HealthPlanner:
    """Arranges the Auto chain from the stored history (the adaptive order), and estimates an unpriced tier's
    cost from it. A history that cannot be read is no evidence: the configured order runs (a broken store must
    never stop an upscale)."""

    def __init__(self, store: HistoryStore, order: OrderSettings, budget: BudgetSettings,
                 label: Callable[[str], str] | None = None):
        self.store = store
        self.order = order
        self.budget = budget
        self.label = label

    def arrange(self, chain: Sequence[str]) -> Ordering:
        try:
            return choose_order(chain, figures(self.store), self.order.mode, self.budget.max_per_image,
                                label=self.label)  # fmt: skip
        except HistoryError:
            return Ordering(list(chain), "static order: the history cannot be read")

    def estimated_cost(self, provider: str) -> float | None:
        try:
            return mean_paid_cost(self.store, provider)
        except HistoryError:
            return None


def planner_for(config: Config, store: HistoryStore | None) -> HealthPlanner | None:
    """The planner the settings ask for (an adaptive order or a cost cap, with a history to read), or None for
    the configured order."""
    if store is None or (config.auto_order.mode == "static" and not config.budget.capped):
        return None
    return HealthPlanner(store, config.auto_order, config.budget)
