"""What the HTTP front serves with: one engine (the one chain walker, as for every other entry point), the
history when this machine keeps one, the admission queue, the jobs in flight and the metrics.

``Service.deliver`` is one request's work, run in a worker thread: the image's bytes (base64 or a data URI,
never a path), one ``Engine.enhance`` with the job's cancel flag, the encoded output, and the run recorded in
the history (a history that cannot be written costs a warning, never the image).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .. import images
from ..config import Config, Secret
from ..configured import history_store
from ..engine import Engine, EnhanceResult, ProgressEvent
from ..engine.target import resolve
from ..errors import AllTiersFailed, HDCoreError, HistoryError
from ..health import planner_for
from ..images.decode import open_image
from ..store import HistoryStore
from ..text import one_line, redacted
from .auth import ApiKeys
from .jobs import Job, Jobs, Stop
from .metrics import ServeMetrics
from .queue import Ticket, WorkQueue
from .schemas import UpscaleChoices
from .settings import ServeSettings

PROBE_S = 20.0  # the most a readiness probe of a tier waits (a first model load takes ~1 s on 2 cores)
PROBE_SIDE = 16


@dataclass(frozen=True)
class Ask:
    """One request for an upscale, as a route parsed it."""

    image: bytes | str  # the encoded file, or base64 / a data URI
    choices: UpscaleChoices = field(default_factory=UpscaleChoices)
    source_name: str = "api"


@dataclass(frozen=True)
class Delivery:
    result: EnhanceResult
    encoded: images.EncodedImage
    run_id: int | None
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        """The seed's success answer (the same keys as ``hdcore.hd_image``), plus the run's id in the history."""
        answer = self.result.to_dict()
        answer.update(image=images.to_data_uri(self.encoded), warnings=self.warnings, run_id=self.run_id)
        return answer


class Service:
    """Shared by every request of one server; safe across threads."""

    def __init__(self, engine: Engine, settings: ServeSettings, store: HistoryStore | None = None,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.engine = engine
        self.settings = settings
        self.store = store
        self.keys = ApiKeys(settings.api_keys)
        self.queue = WorkQueue(settings.max_active, settings.max_waiting, clock)
        self.jobs = Jobs(settings.max_active, clock)
        self.metrics = ServeMetrics(engine.breakers, self.queue)
        self._ready_tiers: set[str] = set()  # tiers whose probe passed once (their models stay loaded)

    @classmethod
    def configured(cls, config: Config | None = None, settings: ServeSettings | None = None,
                   env: Mapping[str, str] | None = None) -> "Service":  # fmt: skip
        """The service as the environment configures it: the engine with its planner and the history's spend
        ledger (so a daily cap holds across replicas on one database), and the history itself."""
        config = config if config is not None else Config.from_env(env)
        store = history_store(config, env)
        engine = Engine(config, planner=planner_for(config, store), ledger=store.spend_ledger() if store else None)
        return cls(engine, settings if settings is not None else ServeSettings.from_env(env, config), store)

    def secrets(self) -> list[Secret]:
        """Every token and key this server holds, to blank out of anything it says."""
        return self.engine.config.secrets() + list(self.settings.api_keys)

    def safe(self, text: str) -> str:
        return redacted(one_line(text), self.secrets())

    # ------------------------------------------------------------------------------------------ the work

    def deliver(self, ask: Ask, job: Job, ticket: Ticket) -> Delivery:
        """One upscale (in a worker thread). Raises what the engine raises; every failed run is recorded."""
        config, chosen = self.engine.config, ask.choices
        data = ask.image if isinstance(ask.image, bytes) else images.read_source_bytes(
            ask.image, allow_paths=False, max_pixels=config.max_input_pixels)  # fmt: skip
        try:
            result = self.engine.enhance(
                data, chosen.scale, chosen.provider, chosen.model, width=chosen.width, height=chosen.height,
                longest_side=chosen.longest_side, fit=chosen.fit, fallback=chosen.fallback,
                progress=self._line_keeper(job, ticket), cancel=job.cancel,
            )  # fmt: skip
        except AllTiersFailed as error:
            self._record_failure(error, data, ask)
            raise
        encoded = result.encode(chosen.format, chosen.quality)
        run_id, note = self._record(result, ask.source_name)
        warnings = list(result.warnings) + list(encoded.warnings) + ([note] if note else [])
        return Delivery(result, encoded, run_id, warnings)

    def works_here(self, tier: str) -> bool:
        """Whether a tier works in this process (the local models): such a tier declares no concurrency limit,
        it queues its own jobs (``ProviderInfo.max_concurrency``)."""
        return self.engine.provider(tier).max_concurrency() is None

    def _line_keeper(self, job: Job, ticket: Ticket) -> Callable[[ProgressEvent], None]:
        """The progress callback that takes a job out of an in-process tier's line when its place is beyond the
        bound."""

        def progress(event: ProgressEvent) -> None:
            if not ticket.observe(event, bounded=self.works_here(event.provider)):
                wait = self.queue.retry_after()
                job.stop(Stop(429, "rejected", f"too many requests waiting for {event.provider}: this one was "
                                               f"number {event.done} in line, the limit is {self.queue.max_waiting}; "
                                               f"retry after {wait} s", retry_after=wait))  # fmt: skip

        return progress

    def _record(self, result: EnhanceResult, source_name: str) -> tuple[int | None, str]:
        if self.store is None:
            return None, ""
        try:
            return self.store.record_result(result, source_name=source_name), ""
        except HistoryError as error:
            return None, f"this run was not saved to the history: {self.safe(str(error))}"

    def _record_failure(self, error: AllTiersFailed, data: bytes, ask: Ask) -> None:
        if self.store is None:
            return
        chosen = ask.choices
        try:
            size = open_image(data, self.engine.config.max_input_pixels).size  # the header only: it decoded
            factor = resolve(size, chosen.scale, chosen.width, chosen.height, chosen.longest_side, chosen.fit).factor
            self.store.record_failure(error, input_size=size, scale=factor, source_name=ask.source_name)
        except HDCoreError:  # the history cannot be written (or the header read): the caller still hears why
            pass

    # ---------------------------------------------------------------------------------------- readiness

    def problems(self) -> list[str]:
        """What keeps this server from serving (in a worker thread): the in-process tiers of the chain that
        cannot load their models, no configured tier at all, an unreachable history, a shutdown."""
        found = ["the server is shutting down"] if self.jobs.draining else []
        chain = self.engine.plan("auto")
        configured = [name for name in chain if self.engine.provider(name).is_configured()]
        if not configured:
            found.append(f"no tier of the auto chain ({', '.join(chain)}) is configured")
        for name in configured:
            if self.works_here(name) and name not in self._ready_tiers:
                found += self._probe(name)
        if self.store is not None:
            try:
                self.store.runs(limit=1)
            except HistoryError as error:
                found.append(f"history: {self.safe(str(error))}")
        return found

    def _probe(self, name: str) -> list[str]:
        """A tiny real run of a tier that works on this machine: its models load and answer."""
        tiny = np.linspace(0.0, 1.0, PROBE_SIDE * PROBE_SIDE * 3, dtype=np.float32).reshape(PROBE_SIDE, PROBE_SIDE, 3)
        give_up = threading.Event()
        timer = threading.Timer(PROBE_S, give_up.set)
        timer.start()
        try:
            self.engine.enhance(tiny, 2, name, cancel=give_up)
        except Exception as error:  # any failure is the answer: not ready
            if give_up.is_set():
                return [f"{name}: no answer to a {PROBE_SIDE} px probe within {PROBE_S:g} s"]
            return [f"{name}: {self.safe(str(error)) or type(error).__name__}"]
        finally:
            timer.cancel()
        self._ready_tiers.add(name)
        return []

    def close(self) -> None:
        self.jobs.close()
        if self.store is not None:
            self.store.close()
