"""The spend ledger: one daily budget (UTC days) shared by every process and replica on one database.

Before a paid call, ``reserve`` holds its estimated cost if today's spend, every open hold and this one fit
under the cap, checking and inserting in one transaction under the backend's spend lock (SQLite's write lock,
PostgreSQL's advisory lock), so two replicas can never both take the last dollar. When the call ends,
``settle`` puts its actual cost in place of the hold. A hold never settled (the process died mid-call) keeps
counting: the call may well have been billed.

Today's spend is the larger of two sums over the day, never their total: the ledger's (settled costs and open
holds) and the recorded attempts' costs. A paid call made through the ledger shows in both (settled when it
ends, recorded with its run), so adding them would count it twice; the ledger is never the smaller then,
since it also holds open calls and those whose run could not be recorded. Spend recorded by a process that
never reserves (or before the ledger existed: migrating copies those costs into it) is still counted through
the attempts.

There is no read cache: the figure is two indexed sums, 1.4 ms (SQLite) and 2.0 ms (PostgreSQL on 127.0.0.1)
with 4 000 attempts that day (bench/store.py), next to seconds for any paid call; and ``reserve`` must never
see a stale one.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Protocol

from sqlalchemy import Connection, func, select

from .records import MAX_NAME_CHARS, bounded_text
from .schema import attempts, spend_ledger

if TYPE_CHECKING:
    from .database import Database

DAY = 86_400
# Float sums of prices drift by about 1e-16 per addition: a billionth of a dollar never decides a hold.
TOLERANCE_USD = 1e-9


class SpendLedger(Protocol):
    def spent_today(self, now: float | None = None) -> float: ...  # USD since 00:00 UTC: settled spend + open holds

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        """Atomically hold `usd` of today's budget for one paid call. None (nothing held) when today's spend
        plus every open hold plus `usd` would exceed `max_per_day`. Returns a hold id."""
        ...

    def settle(self, hold: str, usd: float) -> None: ...  # the call ended; its actual cost replaces the hold


class StoreSpendLedger:
    """``SpendLedger`` over a history database. ``clock`` gives the time when a call passes no ``now``."""

    def __init__(self, database: "Database", clock: Callable[[], float] = time.time):
        self._database = database
        self._clock = clock

    def spent_today(self, now: float | None = None) -> float:
        """USD spent on ``now``'s UTC day: the larger of the ledger (settled + open holds) and the attempts."""
        day = _day_start(self._now(now))
        with self._database.transaction("read spend", write=False) as connection:
            return _spent(connection, day)

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        """Hold ``usd`` for one paid call on ``provider``, or None when it would take the day over
        ``max_per_day`` (math.inf: no cap). A negative or non-finite ``usd``, or a NaN cap, is a ValueError."""
        usd = _amount("usd", usd)
        if math.isnan(float(max_per_day)):
            raise ValueError("max_per_day must be an amount of USD, not NaN")
        when = self._now(now)
        with self._database.transaction("reserve spend", write=True) as connection:
            self._database.backend.lock_spend(connection)
            if _spent(connection, _day_start(when)) + usd > float(max_per_day) + TOLERANCE_USD:
                return None
            provider = bounded_text(provider, MAX_NAME_CHARS)
            hold = spend_ledger.insert().values(time=when, provider=provider, reserved_usd=usd)
            return str(connection.execute(hold).inserted_primary_key[0])

    def settle(self, hold: str, usd: float) -> None:
        """Put the call's actual cost in place of its hold (settling again corrects the amount). An unknown hold
        raises ``HistoryError``."""
        usd = _amount("usd", usd)
        number = _hold_number(hold)
        statement = spend_ledger.update().where(spend_ledger.c.id == number)
        with self._database.transaction("settle spend", write=True) as connection:
            settled = number is not None and connection.execute(
                statement.values(settled_usd=usd, settled_time=self._clock())
            ).rowcount == 1
        if not settled:
            raise self._database.error("settle spend", f"no hold {str(hold)[:40]!r}")

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)


def _spent(connection: Connection, day: float) -> float:
    counted = func.coalesce(spend_ledger.c.settled_usd, spend_ledger.c.reserved_usd)  # an open hold counts whole
    in_ledger = select(func.coalesce(func.sum(counted), 0.0))
    in_attempts = select(func.coalesce(func.sum(attempts.c.cost_usd), 0.0))
    ledger_total = connection.execute(in_ledger.where(*_on_day(spend_ledger.c.time, day))).scalar_one()
    attempts_total = connection.execute(in_attempts.where(*_on_day(attempts.c.time, day))).scalar_one()
    return max(float(ledger_total), float(attempts_total))


def _on_day(column, day: float) -> tuple:
    return column >= day, column < day + DAY


def _day_start(when: float) -> float:
    """00:00 UTC of ``when``'s day: unix time counts no leap seconds, so every UTC day is 86 400 of them."""
    return math.floor(when / DAY) * DAY


def _hold_number(hold: str) -> int | None:
    """The ledger row a hold id names (``reserve`` returns its row id as text); None for anything else."""
    return int(hold) if isinstance(hold, str) and hold.isascii() and hold.isdigit() and len(hold) <= 18 else None


def _amount(name: str, value: float) -> float:
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{name} must be a finite amount of USD, 0 or more, not {value!r}")
    return amount
