"""Reaching a Ray cluster, sizing the worker pool, and starting the parts every worker shares.

    RaySettings      where the cluster is, how many workers, how many CPUs each
    connected        ray.init (and ray.shutdown at the end, when it was this call that connected)
    start_shared     the cluster's GateKeeper and LedgerKeeper, named and detached: every job on the cluster
                     (two sweeps at once, a batch beside them) shares one line per tier and one budget
    pool_size        how many workers a job gets

Ray is imported here on first use only: without it installed, ``require_ray`` is a one-line ConfigError.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ConfigError
from .gates import GateKeeper
from .ledger import LedgerKeeper, LedgerSource

RAY_REQUIREMENT = "ray[data]==2.60.0"
RAY_MISSING = f"--ray needs Ray, which is not installed: pip install '{RAY_REQUIREMENT}'"
NAMESPACE = "hdcore"  # the named keepers live here, apart from other applications' actors
AUTO = "auto"
CONNECT_TIMEOUT_S = 5.0  # a cluster's head answers a TCP connect in milliseconds, even across regions


@dataclass(frozen=True)
class RaySettings:
    """``address``: "auto" (this machine's cluster: one already running here, or RAY_ADDRESS, else a new one for
    this job), or a cluster's address ("head:6379", "ray://head:10001"). ``workers``: the pool's size (default:
    as many as the cluster's CPUs hold). ``worker_cpus``: CPUs each worker reserves, and the local tier's
    threads (at least one). ``scope``: the keepers' names: jobs with the same scope share caps."""

    address: str = AUTO
    workers: int | None = None
    worker_cpus: float = 1.0
    scope: str = "hdcore"

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be 1 or more, not {self.workers}")
        if not (math.isfinite(self.worker_cpus) and 0 < self.worker_cpus <= 1024):
            raise ConfigError(f"--worker-cpus must be a number of CPUs above 0, not {self.worker_cpus:g}")

    @property
    def local_threads(self) -> int:
        return max(1, int(self.worker_cpus))


@dataclass(frozen=True)
class Shared:
    """Handles to the cluster's keepers, passed to every worker (Ray carries actor handles between processes)."""

    gates: Any
    ledger: Any


def require_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra: Ray Data and pyarrow)
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


@contextmanager
def connected(settings: RaySettings) -> Iterator[Any]:
    """The ``ray`` module, connected to the cluster ``settings`` names (an already-connected process keeps its
    connection). Ray's usage statistics stay off unless RAY_USAGE_STATS_ENABLED says otherwise; Ray Data's
    progress bars and logs give way to hdcore's own progress."""
    ray = require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ours = not ray.is_initialized()
    if ours:
        if settings.address != AUTO:
            check_reachable(settings.address)
        try:
            ray.init(address=None if settings.address == AUTO else settings.address, namespace=NAMESPACE,
                     include_dashboard=False, configure_logging=False, log_to_driver=False)  # fmt: skip
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise ConfigError(f"cannot reach the Ray cluster at {settings.address}: {_first_line(error)}") from None
    _quiet_ray_data(ray)
    try:
        yield ray
    finally:
        if ours:
            ray.shutdown()


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A ConfigError unless something answers at ``address`` ("host:port" or "ray://host:port"): ray.init waits
    minutes for an address where nothing listens (measured: over 5 minutes, retrying every 5 s)."""
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    host = host.strip("[]")  # an IPv6 address in brackets
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--ray must be auto, host:port or ray://host:port, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def pool_size(ray: Any, settings: RaySettings, jobs: int) -> int:
    """Workers for ``jobs`` jobs: ``settings.workers``, or as many as the cluster's CPUs hold; never more than
    the jobs. A pool the cluster cannot hold is a ConfigError (it would wait for CPUs that never come)."""
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    fits = int(cpus // settings.worker_cpus)
    if fits < 1 or (settings.workers is not None and settings.workers > fits):
        wanted = settings.workers or 1
        raise ConfigError(f"{wanted} worker(s) of {settings.worker_cpus:g} CPU need "
                          f"{wanted * settings.worker_cpus:g} CPUs; the cluster has {cpus:g}")  # fmt: skip
    return max(1, min(jobs, settings.workers or fits))


def start_shared(ray: Any, settings: RaySettings, source: LedgerSource) -> Shared:
    """The scope's keepers, started on first use and found again by name by every later job.

    Detached: they outlive the job that started them, so a second job shares the first one's places and
    budget; they hold no CPU. A keeper of a SQLite history is placed on this (the driver's) machine.
    """
    common = {"namespace": NAMESPACE, "lifetime": "detached", "get_if_exists": True, "num_cpus": 0}
    gates = ray.remote(GateKeeper).options(name=f"{settings.scope}-gates", **common).remote()
    placement = {}
    if source.on_this_machine:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        placement = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=here, soft=False)}
    ledger = ray.remote(LedgerKeeper).options(name=f"{settings.scope}-ledger-{source.key}", **common,
                                              **placement).remote(source)  # fmt: skip
    return Shared(gates, ledger)


def _quiet_ray_data(ray: Any) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes (progress bars off, ...) are not the user's


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def add_ray_arguments(parser: Any) -> None:
    """``--ray [ADDRESS]``, ``--workers N``, ``--worker-cpus N`` on a command (``upscale``, ``qa-sweep``)."""
    from ..cli.arguments import at_least  # the command line's package, loaded by the time it builds its parser

    parser.add_argument("--ray", nargs="?", const=AUTO, metavar="ADDRESS",
                        help="run on a Ray cluster: its address (head:6379, ray://head:10001), or auto (default) for "
                             "this machine's: one already running here, else a new one for this command")
    parser.add_argument("--workers", type=at_least(1), metavar="N",
                        help="with --ray: workers in the pool (default: as many as the cluster's CPUs hold)")
    parser.add_argument("--worker-cpus", type=_cpus, default=1.0, metavar="N",
                        help="with --ray: CPUs each worker reserves, and its local tier's threads (default 1)")


def ray_settings(args: Any) -> RaySettings | None:
    """The command's Ray settings, or None to run in this process. ``--workers`` or ``--worker-cpus`` without
    ``--ray`` is a ConfigError (they would be silently ignored)."""
    if args.ray is None:
        if args.workers is not None or args.worker_cpus != 1.0:
            raise ConfigError("--workers and --worker-cpus need --ray")
        return None
    require_ray()
    return RaySettings(address=args.ray, workers=args.workers, worker_cpus=args.worker_cpus)


def _cpus(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of CPUs, not {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1024):
        raise argparse.ArgumentTypeError("must be a number of CPUs above 0")
    return value
