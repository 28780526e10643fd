"""Today's spend for a whole cluster: one ``LedgerKeeper`` (a Ray actor) holds the ledger, and every worker's
engine reserves and settles through ``ClusterLedger``, so the daily cap counts every worker's paid calls
against one budget (a hold is taken before each call, atomically, as on one machine).

What the keeper holds is the driver's ledger (``LedgerSource``): the history's, when the machine that starts
the job keeps one (its SQLite file: the keeper then runs on that machine; or a PostgreSQL database, reachable
from anywhere, shared with the app's replicas), or a ledger of the cluster's own for the day otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..engine.budget import MemoryLedger, SpendLedger
from ..errors import HistoryError
from ..text import one_line

CALL_TIMEOUT_S = 30.0  # a reservation is one indexed sum and an insert; 30 s only bounds a lost keeper


@dataclass(frozen=True)
class LedgerSource:
    """Where the cluster's ledger lives: the history ``config`` names, or (``config`` None) the keeper itself."""

    config: Config | None = None

    @property
    def key(self) -> str:
        """Names the keeper: one per history database (a digest, never the URL), one for the cluster's own."""
        from ..store import store_key

        return "memory" if self.config is None else store_key(self.config)

    @property
    def on_this_machine(self) -> bool:
        """A SQLite history is a file on the driver's machine: the keeper must run there."""
        return self.config is not None and not self.config.database_url

    def open(self) -> SpendLedger:
        if self.config is None:
            return MemoryLedger()
        from ..store import open_store

        return open_store(self.config).spend_ledger()


class LedgerKeeper:
    """The ``SpendLedger`` methods, for every worker of a cluster; the ledger is opened on first use."""

    def __init__(self, source: LedgerSource):
        self._source = source
        self._ledger: SpendLedger | None = None

    def spent_today(self, now: float | None = None) -> float:
        return self._opened().spent_today(now)

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        return self._opened().reserve(provider, usd, max_per_day, now)

    def settle(self, hold: str, usd: float) -> None:
        self._opened().settle(hold, usd)

    def _opened(self) -> SpendLedger:
        if self._ledger is None:
            self._ledger = self._source.open()
        return self._ledger


class ClusterLedger:
    """A ``SpendLedger`` that asks the cluster's ``LedgerKeeper`` actor. Any failure to get an answer is a
    ``HistoryError``: the budget guard then refuses the paid call, as it does when a shared database is down."""

    def __init__(self, keeper: Any):
        self.keeper = keeper

    def spent_today(self, now: float | None = None) -> float:
        return float(_answer(self.keeper.spent_today.remote(now)))

    def reserve(self, provider: str, usd: float, max_per_day: float, now: float | None = None) -> str | None:
        return _answer(self.keeper.reserve.remote(provider, usd, max_per_day, now))

    def settle(self, hold: str, usd: float) -> None:
        _answer(self.keeper.settle.remote(hold, usd))


def _answer(reference: Any) -> Any:
    import ray
    from ray import exceptions

    try:
        return ray.get(reference, timeout=CALL_TIMEOUT_S)
    except exceptions.RayTaskError as error:  # the ledger's own error, raised in the keeper: the same, one line
        cause = getattr(error, "cause", None)
        if isinstance(cause, (HistoryError, ValueError)):
            raise type(cause)(one_line(str(cause))) from None
        raise HistoryError(f"the cluster's spend ledger failed: {_short(error)}") from None
    except exceptions.GetTimeoutError:
        raise HistoryError(f"the cluster's spend ledger did not answer within {CALL_TIMEOUT_S:g} s") from None
    except exceptions.RayError as error:
        raise HistoryError(f"the cluster's spend ledger cannot be reached: {_short(error)}") from None


def _short(error: BaseException) -> str:
    return one_line(str(error))[:200] or type(error).__name__
