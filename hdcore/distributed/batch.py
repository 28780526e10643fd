"""``hdcore upscale`` batches on a Ray cluster: every image is one job for the pool's workers.

A worker does with its image exactly what an in-process batch worker does (``batch.process_item``: read it
from its path, upscale it through its engine, write the output next to where it was planned, atomically), so
the inputs and outputs must be at the same paths on every node (one machine, or a folder every node mounts).
An output is written the moment its image is done, so ``--resume`` (skipping what exists) works after a
killed run as it does in-process. The reporter hears of each image as it completes, on the caller's thread.
"""

from __future__ import annotations

from contextlib import closing
from functools import partial
from typing import Sequence

from ..batch import BatchItem, BatchReporter, BatchSettings, ItemResult, process_item
from ..engine import Engine
from .workers import RayPool, run_on_pool


def run_batch_on_ray(items: Sequence[BatchItem], settings: BatchSettings, pool: RayPool,
                     reporter: BatchReporter | None = None) -> list[ItemResult]:  # fmt: skip
    """``batch.run_batch`` on the pool: the results in item order. The caller checks the settings first
    (``batch.check_settings``): a mistake shared by every image is better found before a cluster starts."""
    results: dict[int, ItemResult] = {}
    with closing(run_on_pool(pool, list(items), partial(_upscale_job, settings))) as answers:
        for index, result in answers:
            results[index] = result
            if reporter is not None:
                reporter.started(result.item)
                reporter.finished(result)
    return [results[index] for index in sorted(results)]


def _upscale_job(settings: BatchSettings, engine: Engine, item: BatchItem) -> ItemResult:
    return process_item(engine, settings, item)
