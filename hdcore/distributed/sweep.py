"""The sweep on a Ray cluster: ``RaySweep`` is a ``SweepRunner`` whose references are swept by the pool's
workers, one reference (every scale, every entry) per job, one call at a time per worker.

Each worker reads its reference from its path (one machine, or a folder every node mounts), sweeps it with its
own engine exactly as the in-process runner does (``sweep_reference``), and hands back the rows and the crops;
the driver writes them as each reference completes, so a killed run resumes from what was written. References
whose rows a previous run already has are not sent at all.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

from ..engine import Engine
from ..sweep.results import SweepRow
from ..text import one_line
from ..sweep.run import ReferenceJob, SweepPlan, SweepSink, replay_kept, sweep_reference
from .workers import RayPool, run_on_pool


@dataclass
class Collected:
    """A worker's sink: what one reference produced, to hand back to the driver."""

    rows: list[tuple[SweepRow, bool]] = field(default_factory=list)
    crops: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def row(self, row: SweepRow, reused: bool) -> None:
        self.rows.append((row, reused))

    def crop(self, image: str, scale: int, name: str, png: bytes) -> None:
        self.crops.append((image, scale, name, png))

    def hand_to(self, sink: SweepSink) -> None:
        """Crops first: a row in the results always has its crop on disk."""
        for crop in self.crops:
            sink.crop(*crop)
        for row, reused in self.rows:
            sink.row(row, reused)


class RaySweep:
    """A ``SweepRunner`` on the pool's workers (``run_sweep(..., runner=RaySweep(pool))``)."""

    def __init__(self, pool: RayPool):
        self.pool = pool

    def run(self, plan: SweepPlan, jobs: Sequence[ReferenceJob], sink: SweepSink) -> list[str]:
        remote = []
        for job in jobs:
            if job.fully_kept(plan):
                replay_kept(plan, job, sink)
            else:
                remote.append(job)
        problems: dict[int, list[str]] = {}
        with closing(run_on_pool(self.pool, remote, partial(_sweep_job, plan))) as answers:
            for index, collected in answers:
                collected.hand_to(sink)
                problems[index] = collected.problems
        return [problem for index in sorted(problems) for problem in problems[index]]


def _sweep_job(plan: SweepPlan, engine: Engine, job: ReferenceJob) -> Collected:
    """What a worker does with one reference; a bug on one reference is its problem, the others go on."""
    collected = Collected()
    try:
        collected.problems = sweep_reference(engine, plan, job, collected)
    except Exception as error:
        collected.problems = [f"{job.path}: unexpected {type(error).__name__}: {one_line(str(error))[:200]}"]
    return collected
