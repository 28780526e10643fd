"""QA sweeps in the history store, against both backends (a SQLite file, and a real PostgreSQL server): a sweep
reads back exactly as its results file, past sweeps list newest first, two stored sweeps compare, a provider's
quality over time, hostile and oversized names, and a schema 2 database migrated with nothing lost."""

from __future__ import annotations

import pytest
from PIL import Image
from sqlalchemy import insert

from hdcore import Config, Engine
from hdcore.errors import HistoryError
from hdcore.store import SCHEMA_VERSION, HistoryStore, open_store
from hdcore.store.backends import PostgresBackend, SQLiteBackend
from hdcore.store.schema import migrate, runs, sweep_rows
from hdcore.sweep import leaderboard
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.results import SweepResult
from hdcore.sweep.run import run_sweep

T0 = 1_700_000_000.0
DAY = 86_400.0


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> SweepResult:
    """A real sweep: two crops of scikit-image's public-domain photos, Lanczos and the bicubic baseline, 2x."""
    folder = tmp_path_factory.mktemp("references")
    Image.fromarray(sample_photo("astronaut")[30:110, 170:266]).save(folder / "astronaut.png")
    Image.fromarray(sample_photo("coffee")[150:230, 200:296]).save(folder / "coffee.png")
    return run_sweep([folder], ["lanczos", "hf"], (2,), engine=Engine(Config()))


def shifted(result: SweepResult, entry: str, psnr_gain: float) -> SweepResult:
    """The same sweep with one entry's PSNR-Y raised: a later sweep in which that provider got better."""
    records = [dict(record) for record in result.to_records()]
    for record in records:
        if record["entry"] == entry and record["psnr_y"] is not None:
            record["psnr_y"] = round(record["psnr_y"] + psnr_gain, 4)
    return SweepResult.from_records(records)


def test_a_stored_sweep_reads_back_exactly_as_its_results_file(store_location, swept):
    with open_store(store_location) as store:
        sweep_id = store.record_sweep(swept, name="refs/", when=T0, duration_s=2.5)
        summary, result = store.sweep(sweep_id)
    assert result.to_records() == swept.to_records()  # failed rows included: "hf" is not configured here
    assert (summary.name, summary.time, summary.degradation, summary.scales) == ("refs/", T0, "bicubic", (2,))
    assert summary.entries == ("bicubic", "lanczos", "hf") and summary.reference_count == 2
    assert (summary.row_count, summary.failures, summary.duration_s) == (6, 2, 2.5)
    assert result.leaderboard() == SweepResult.from_records(swept.to_records()).leaderboard()  # as results.json
    assert store.sweep(sweep_id + 1) is None


def test_past_sweeps_list_newest_first_and_two_of_them_compare(store_location, swept):
    with open_store(store_location) as store:
        first = store.record_sweep(swept, name="monday", when=T0)
        second = store.record_sweep(shifted(swept, "lanczos", 0.5), name="tuesday", when=T0 + DAY)
        listed = store.sweeps()
        (_, a), (_, b) = store.sweep(first), store.sweep(second)
    assert [(s.id, s.name) for s in listed] == [(second, "tuesday"), (first, "monday")]
    lines = {(line["provider"], line["scale"]): line for line in leaderboard.compare(a, b)}
    assert lines[("lanczos", 2)]["psnr_y_delta"] == pytest.approx(0.5, abs=1e-3)
    assert lines[("bicubic", 2)]["psnr_y_delta"] == pytest.approx(0.0)
    assert lines[("hf", 2)]["images"] == 0 and lines[("hf", 2)]["failures_b"] == 2


def test_a_providers_quality_over_time_is_one_point_per_sweep_and_line(store_location, swept):
    with open_store(store_location) as store:
        store.record_sweep(swept, when=T0 + DAY)  # recorded out of order: the trend is by date
        store.record_sweep(shifted(swept, "lanczos", -1.0), when=T0)
        points = store.sweep_trend(scale=2)
        assert store.sweep_trend(scale=4) == [] and store.sweep_trend(degradation="realistic:0") == []
    lanczos = [point for point in points if point.provider == "lanczos"]
    assert [point.time for point in lanczos] == [T0, T0 + DAY]
    assert lanczos[1].psnr_y - lanczos[0].psnr_y == pytest.approx(1.0, abs=1e-3)
    board = {line["provider"]: line for line in swept.leaderboard()}
    assert lanczos[1].psnr_y == pytest.approx(board["lanczos"]["psnr_y"], abs=1e-4)
    assert lanczos[1].ssim_y == pytest.approx(board["lanczos"]["ssim_y"], abs=1e-5) and lanczos[1].images == 2
    hf = [point for point in points if point.provider == "hf"]
    assert len(hf) == 2 and all(point.psnr_y is None and point.images == 0 for point in hf)  # failed, still there


def test_hostile_and_oversized_names_are_stored_bounded(store_location, swept):
    records = [dict(record) for record in swept.to_records()]
    records[0]["image"] = "<b>x\x00y</b>" + "n" * 3000
    hostile = SweepResult.from_records([{**record, "image": records[0]["image"]} for record in records[:3]])
    with open_store(store_location) as store:
        sweep_id = store.record_sweep(hostile, name="z" * 1000)
        summary, result = store.sweep(sweep_id)
    assert len(summary.name) == 255 and summary.name.endswith("…")
    stored = result.rows[0].image
    assert stored.startswith("<b>x\ufffdy</b>") and len(stored) == 2000 and stored.endswith("…")


def test_a_sweep_that_cannot_be_read_back_is_a_one_line_history_error(store_location, swept):
    with open_store(store_location) as store:
        sweep_id = store.record_sweep(swept)
    backend = backend_of(store_location)
    engine = backend.create_engine()
    with engine.begin() as connection:
        connection.execute(sweep_rows.update().where(sweep_rows.c.sweep_id == sweep_id).values(outcome="vanished"))
    engine.dispose()
    with open_store(store_location) as store, pytest.raises(HistoryError, match="outcome must be one of") as caught:
        store.sweep(sweep_id)
    assert "\n" not in str(caught.value)


def backend_of(location):
    if isinstance(location, str):
        return PostgresBackend.from_url(location)
    return SQLiteBackend(location / "history.sqlite3")


def test_a_schema_2_database_gains_the_sweep_tables_and_keeps_its_runs(store_location, swept):
    backend = backend_of(store_location)
    backend.prepare()
    engine = backend.create_engine()
    with engine.connect() as connection:
        migrate(connection, backend, target=2)
    with engine.begin() as connection:
        connection.execute(insert(runs).values(time=T0, input_width=8, input_height=8, scale=2, success=False,
                                               error="old"))  # fmt: skip
    engine.dispose()
    with open_store(store_location) as store:
        assert [run.error for run in store.runs()] == ["old"]
        assert store.sweeps() == []
        store.record_sweep(swept)
        assert len(store.sweeps()) == 1
    engine = backend.create_engine()
    with engine.connect() as connection:
        assert backend.schema_version(connection) == SCHEMA_VERSION == 3
    engine.dispose()


def test_the_listing_is_bounded(tmp_path, swept):
    store = HistoryStore(tmp_path / "history.sqlite3")
    for day in range(3):
        store.record_sweep(swept, when=T0 + day * DAY)
    assert [s.time for s in store.sweeps(limit=2)] == [T0 + 2 * DAY, T0 + DAY]
    assert [s.time for s in store.sweeps(limit=2, offset=2)] == [T0]
    assert store.sweeps(limit=-5) == []
