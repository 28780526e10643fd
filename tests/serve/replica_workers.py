"""What an app replica does with the shared store, run in child processes (``tests.store_workers.run_together``):
record a run of its own, and read the History and the health figures as its pages do."""

from __future__ import annotations

from tests.store_workers import WAIT_S


def record_a_run(location: str, name: str, *, start) -> int:
    """An app replica's upscale, recorded as the Enhance page records it; returns the run's id."""
    from hdcore import Config, Engine
    from hdcore.store import open_store
    from tests.conftest import photo

    store = open_store(location)
    result = Engine(Config()).enhance(photo((20, 16)), 2, "lanczos")
    start.wait(timeout=WAIT_S)
    with store:
        return store.record_result(result, source_name=name)


def read_history(location: str, *, start) -> dict:
    """What the History and Health pages of an app replica read: the runs, and the attempts' figures."""
    from hdcore import health
    from hdcore.store import open_store

    store = open_store(location)
    start.wait(timeout=WAIT_S)
    with store:
        runs = [(run.id, run.source_name, run.provider, [a.provider for a in run.attempts]) for run in store.runs()]
        figures = sorted((f.provider, f.attempts) for f in health.figures(store)
                         if f.model == health.ALL_MODELS and f.window_s == health.DEFAULT_WINDOWS[0])
    return {"runs": runs, "figures": figures}
