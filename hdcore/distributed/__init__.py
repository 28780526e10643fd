"""hdcore on a Ray cluster, when one machine is not enough: sweeps (``RaySweep``) and ``upscale`` batches
(``run_batch_on_ray``) on a pool of workers, with the remote tiers' caps held across the whole cluster.

    from hdcore.distributed import RayPool, RaySettings, RaySweep
    pool = RayPool.for_config(RaySettings("auto", workers=2), config)
    run_sweep(["refs/"], ["lanczos", "local"], runner=RaySweep(pool), out_dir="sweep")

What each worker has of its own, and what the cluster shares:

    per worker   one Engine, built once (the local tier's models load once per worker, its ncnn threads
                 sized to the worker's CPUs); its circuit breakers, latency windows and hedging budget
    shared       the concurrency gates (``gates.GateKeeper``: a tier that takes N calls at once gets N from
                 the whole cluster), the spend ledger (``ledger.LedgerKeeper``: one daily budget, the
                 history's when the driver keeps one), and the history store itself
    the driver   plans the work, writes results and outputs as they arrive (so ``--resume`` works), reports

Modules: ``cluster`` (connecting, the pool's size, the keepers, the command-line options), ``gates``,
``ledger``, ``workers`` (the actor pool on Ray Data), ``sweep``, ``batch``. Ray is an optional extra: the
modules import without it, and using one without Ray installed is a one-line ConfigError.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RAY_MISSING": "cluster", "RaySettings": "cluster", "add_ray_arguments": "cluster", "ray_settings": "cluster",
    "require_ray": "cluster", "ClusterGates": "gates", "GateKeeper": "gates", "ClusterLedger": "ledger",
    "LedgerKeeper": "ledger", "LedgerSource": "ledger", "RayPool": "workers", "WorkerEngine": "workers",
    "RaySweep": "sweep", "run_batch_on_ray": "batch",
}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
