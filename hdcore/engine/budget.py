"""The cost caps, held on every path: a paid tier whose estimate would pass the per-image or per-day cap is
skipped before anything is sent, with the reason recorded as its attempt.

Today's spend lives in a ``SpendLedger``: this process's ``MemoryLedger`` by default, or the history store's
(shared by every replica on one database). A paid call first *holds* its estimate (``reserve``), atomically
against the cap, so two calls (or two replicas) cannot both take the last dollar; when it ends, ``settle``
replaces the hold with what it cost. A hold never settled (a killed process) keeps counting: it may have been
billed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol

from ..attempts import Cost
from ..config import BudgetSettings
from ..errors import HistoryError
from ..text import usd

DAY = 86_400
log = logging.getLogger(__name__)


class SpendLedger(Protocol):
    def spent_today(self, now: float | None = None) -> float:
        """USD since 00:00 UTC: settled spend plus open holds."""

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        """Hold ``usd`` of today's budget for one paid call; None (nothing held) when today's spend plus every
        open hold plus ``usd`` would exceed ``max_per_day``. Returns a hold id."""

    def settle(self, hold: str, usd: float) -> None:
        """The call ended; its actual cost replaces the hold."""


def utc_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


class MemoryLedger:
    """Today's spend in this process. Entries are (time, usd); a hold is an entry settled later."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._entries: dict[str, tuple[float, float]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def spent_today(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        with self._lock:
            return self._spent_since(utc_midnight(now))

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        now = self.clock() if now is None else now
        with self._lock:
            if self._spent_since(utc_midnight(now)) + usd > max_per_day:
                return None
            hold = f"{provider}-{next(self._ids)}"
            self._entries[hold] = (now, usd)
            return hold

    def settle(self, hold: str, usd: float) -> None:
        with self._lock:
            if hold in self._entries:
                self._entries[hold] = (self._entries[hold][0], max(0.0, usd))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _spent_since(self, since: float) -> float:
        stale = [hold for hold, (when, _) in self._entries.items() if when < since - DAY]
        for hold in stale:  # yesterday's entries no longer count; keep the dict small
            del self._entries[hold]
        return sum(amount for when, amount in self._entries.values() if when >= since)


process_ledger = MemoryLedger()  # the default for every engine of this process, as ``process_breakers``


@dataclass(frozen=True)
class Verdict:
    """The budget's answer for one attempt: a skip reason ("" to go ahead), and the hold to settle later."""

    reason: str = ""
    hold: str | None = None
    estimate_usd: float = 0.0


class BudgetGuard:
    """Checks one attempt's estimate against the caps; ``history_estimate(provider)`` is the fallback for a
    model the price tables do not know (its mean paid cost over the stored history), None without history."""

    def __init__(self, settings: BudgetSettings, ledger: SpendLedger,
                 history_estimate: Callable[[str], float | None] | None = None):
        self.settings = settings
        self.ledger = ledger
        self.history_estimate = history_estimate

    def check(self, provider: str, estimate: Cost, spent_this_run: float) -> Verdict:
        settings = self.settings
        if not settings.capped:
            return Verdict()
        amount = self._amount(provider, estimate)
        if amount <= 0:
            return Verdict()  # a free tier is never skipped for cost
        cap = settings.max_per_image
        if cap is not None and spent_this_run + amount > cap:
            return Verdict(f"over the per-image budget: about {usd(amount)} a run, the cap is {usd(cap)}")
        if settings.max_per_day is None:
            return Verdict(estimate_usd=amount)
        try:
            hold = self.ledger.reserve(provider, amount, settings.max_per_day)
            if hold is None:
                spent = self.ledger.spent_today()
                return Verdict(f"over the daily budget: {usd(spent)} spent of {usd(settings.max_per_day)}")
        except HistoryError as error:  # a shared ledger out of reach: a paid call that cannot be counted is not made
            return Verdict(f"the daily budget cannot be checked ({error})")
        return Verdict(hold=hold, estimate_usd=amount)

    def would_skip(self, provider: str, estimate: Cost) -> str:
        """Why an attempt with this estimate would be skipped now, or "" (nothing is held: for display)."""
        settings, amount = self.settings, self._amount(provider, estimate)
        if not settings.capped or amount <= 0:
            return ""
        if settings.max_per_image is not None and amount > settings.max_per_image:
            return f"over the per-image budget: about {usd(amount)} a run, the cap is {usd(settings.max_per_image)}"
        try:
            spent = self.ledger.spent_today()
        except HistoryError:
            return "the daily budget cannot be checked"
        if settings.max_per_day is not None and spent + amount > settings.max_per_day:
            return f"over the daily budget: {usd(spent)} spent of {usd(settings.max_per_day)}"
        return ""

    def settle(self, verdict: Verdict, usd_spent: float) -> None:
        if verdict.hold is None:
            return
        try:
            self.ledger.settle(verdict.hold, usd_spent)
        except HistoryError as error:  # the hold keeps counting at its estimate: the cap stays on the safe side
            log.warning("could not settle a budget hold: %s", error)

    def _amount(self, provider: str, estimate: Cost) -> float:
        if estimate.kind != "none":
            return estimate.usd
        known = self.history_estimate(provider) if self.history_estimate is not None else None
        return known or 0.0
