"""The history store, against both backends (a SQLite file, and a real PostgreSQL server): round trips, ordering,
filters, hostile and oversized values, concurrent writers; then the SQLite file itself (WAL, errors), thumbnails."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdcore.attempts import Attempt
from hdcore.engine import EnhanceResult
from hdcore.errors import AllTiersFailed, HDCoreError, InvalidImage
from hdcore.history import (
    HISTORY_FILE,
    SCHEMA_VERSION,
    AttemptRow,
    HistoryError,
    HistoryStore,
    RunRecord,
    open_store,
    thumbnail_png,
)
from tests.store_workers import run_together, write_runs

T0 = 1_700_000_000.0


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.uint8)[np.newaxis, :].repeat(height, axis=0)
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], axis=2)).convert(mode)


def timed_out(tier: int = 1, provider: str = "hf") -> Attempt:
    return Attempt(tier, provider, "m-slow", "timeout", "no answer within 30 s", 30.0, 0.0, "none")


def succeeded(tier: int = 2, provider: str = "replicate") -> Attempt:
    return Attempt(tier, provider, "real-esrgan", "ok", "", 4.5, 0.0023, "measured", (128, 96))


def make_result(attempts: list[Attempt] | None = None, size: tuple[int, int] = (64, 48)) -> EnhanceResult:
    attempts = [timed_out(), succeeded()] if attempts is None else attempts
    return EnhanceResult(
        image=gradient((size[0] * 2, size[1] * 2)),
        provider=attempts[-1].provider,
        model=attempts[-1].model,
        scale=2,
        input_size=size,
        attempts=attempts,
    )


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.fixture
def store(store_location):
    with open_store(store_location) as opened:
        yield opened


# ---------------------------------------------------------------------------------------------- round trips


def test_success_round_trip_keeps_every_field(store: HistoryStore) -> None:
    run_id = store.record_result(make_result(), source_name="cat.png", when=T0)

    [run] = store.runs()
    assert isinstance(run, RunRecord)
    assert (run.id, run.time, run.source_name, run.input_size, run.scale) == (run_id, T0, "cat.png", (64, 48), 2)
    assert (run.success, run.provider, run.model, run.error) == (True, "replicate", "real-esrgan", "")
    assert run.cost_usd == pytest.approx(0.0023)
    assert run.latency_s == pytest.approx(34.5)
    assert run.attempts == (
        AttemptRow(run_id, T0, 1, "hf", "m-slow", "timeout", "no answer within 30 s", 30.0, 0.0, "none"),
        AttemptRow(run_id, T0, 2, "replicate", "real-esrgan", "ok", "", 4.5, 0.0023, "measured"),
    )
    assert run.thumbnail is not None and png_size(run.thumbnail) == (96, 72)  # the 128x96 output, shrunk


def test_failure_round_trip_keeps_attempts_error_and_input_thumbnail(store: HistoryStore) -> None:
    error = AllTiersFailed([timed_out(1, "hf"), Attempt(2, "local", None, "error", "out of memory", 1.25)])
    run_id = store.record_failure(
        error, input_size=(300, 150), scale=4, source_name="big.jpg", thumbnail_of=gradient((300, 150)), when=T0
    )

    [run] = store.runs()
    assert (run.id, run.time, run.source_name, run.input_size, run.scale) == (run_id, T0, "big.jpg", (300, 150), 4)
    assert (run.success, run.provider, run.model) == (False, None, None)
    assert run.error == str(error) and "out of memory" in run.error
    assert run.cost_usd == 0.0
    assert run.latency_s == pytest.approx(31.25)
    assert [(a.tier, a.provider, a.model, a.outcome, a.reason) for a in run.attempts] == [
        (1, "hf", "m-slow", "timeout", "no answer within 30 s"),
        (2, "local", None, "error", "out of memory"),
    ]
    assert run.thumbnail is not None and png_size(run.thumbnail) == (96, 48)


def test_failure_without_attempts_or_thumbnail(store: HistoryStore) -> None:
    store.record_failure(InvalidImage("not an image: HTML page"), input_size=(0, 0), scale=2, when=T0)

    [run] = store.runs()
    assert (run.success, run.error, run.attempts, run.thumbnail) == (False, "not an image: HTML page", (), None)
    assert (run.source_name, run.cost_usd, run.latency_s) == ("", 0.0, 0.0)
    assert store.attempts() == []


def test_time_defaults_to_now(store: HistoryStore) -> None:
    before = time.time()
    store.record_result(make_result())
    assert before <= store.runs()[0].time <= time.time()


# ---------------------------------------------------------------------------------------------- reading


def test_runs_are_newest_first_with_limit_and_offset(store: HistoryStore) -> None:
    for name, when in [("b", T0 + 20), ("a", T0 + 10), ("d", T0 + 40), ("c", T0 + 30), ("c2", T0 + 30)]:
        store.record_result(make_result(), source_name=name, when=when)

    assert [run.source_name for run in store.runs()] == ["d", "c2", "c", "b", "a"]  # ties: the later record first
    assert [run.source_name for run in store.runs(limit=2)] == ["d", "c2"]
    assert [run.source_name for run in store.runs(limit=2, offset=3)] == ["b", "a"]
    assert store.runs(offset=5) == []
    assert store.count() == 5
    assert all(len(run.attempts) == 2 for run in store.runs())


def test_attempts_filters_and_ordering(store: HistoryStore) -> None:
    store.record_result(make_result([timed_out(1, "hf"), succeeded(2, "replicate")]), when=T0 + 100)
    store.record_result(make_result([succeeded(1, "hf")]), when=T0)
    store.record_failure(AllTiersFailed([timed_out(1, "replicate")]), input_size=(8, 8), scale=2, when=T0 + 200)

    everything = store.attempts()
    assert [(a.time, a.tier, a.provider) for a in everything] == [
        (T0, 1, "hf"),
        (T0 + 100, 1, "hf"),
        (T0 + 100, 2, "replicate"),
        (T0 + 200, 1, "replicate"),
    ]
    assert [(a.time, a.outcome) for a in store.attempts(provider="hf")] == [(T0, "ok"), (T0 + 100, "timeout")]
    assert [a.time for a in store.attempts(since=T0 + 100)] == [T0 + 100, T0 + 100, T0 + 200]
    assert [a.time for a in store.attempts(since=T0 + 50, provider="replicate")] == [T0 + 100, T0 + 200]
    assert store.attempts(provider="nobody") == []


HOSTILE_NAMES = [
    "chat 🐱 été.png",
    "'); DROP TABLE runs; --.png",
    'quote " back\\slash %s %(x)s ? :name $1.png',
    "right-to-left \u202egnp.exe",
    "new\nline\ttab.png",
    "日本語の写真.jpg",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_and_reasons_are_stored_verbatim(store: HistoryStore, name: str) -> None:
    attempt = Attempt(1, "local", name, "error", f"failed on {name}", 0.5)
    store.record_failure(AllTiersFailed([attempt]), input_size=(8, 8), scale=2, source_name=name, when=T0)

    [run] = store.runs()
    assert run.source_name == name
    assert (run.attempts[0].model, run.attempts[0].reason) == (name, f"failed on {name}")
    assert store.count() == 1  # the table is still there


def test_text_neither_database_can_hold_becomes_a_replacement_character(store: HistoryStore) -> None:
    store.record_failure(InvalidImage("bad"), input_size=(1, 1), scale=2, source_name="nul\x00and\udcff.png")
    assert store.runs()[0].source_name == "nul\ufffdand\ufffd.png"


def test_oversized_values_are_cut_to_their_bound(store: HistoryStore) -> None:
    huge = Attempt(1, "p" * 10_000, "m" * 10_000, "error", "r" * 100_000, float("nan"), float("inf"))
    store.record_failure(AllTiersFailed([huge]), input_size=(8, 8), scale=2, source_name="n" * 10_000, when=T0)

    [run] = store.runs()
    [attempt] = run.attempts
    assert len(run.source_name) == len(attempt.provider) == len(attempt.model) == 255
    assert run.source_name.endswith("n…") and len(attempt.reason) == 2000 and len(run.error) == 2000
    assert (attempt.latency_s, attempt.cost_usd, run.cost_usd) == (0.0, 0.0, 0.0)  # not numbers: stored as 0


def test_thumbnails_are_stored_byte_for_byte(store: HistoryStore) -> None:
    result = make_result()
    store.record_result(result, when=T0)
    assert store.runs()[0].thumbnail == thumbnail_png(result.image)


def test_many_runs_come_back_with_their_own_attempts(store: HistoryStore) -> None:
    for i in range(1200):  # over the 500 run ids read per query
        store.record_failure(AllTiersFailed([timed_out(1, f"p{i}")]), input_size=(8, 8), scale=2, when=T0 + i)
    runs = store.runs(limit=2000)
    assert len(runs) == 1200 and runs[0].time == T0 + 1199
    assert all(run.attempts[0].provider == f"p{int(run.time - T0)}" for run in runs)


def test_runs_survive_a_new_store(store_location) -> None:
    first = open_store(store_location)
    run_id = first.record_result(make_result(), source_name="kept.png", when=T0)
    also_open = open_store(store_location)  # a second session, while the first is still open
    assert [run.id for run in also_open.runs()] == [run_id]
    first.close()
    also_open.close()

    reopened = open_store(store_location)
    [run] = reopened.runs()
    assert (run.id, run.source_name, len(run.attempts)) == (run_id, "kept.png", 2)
    reopened.close()


# ---------------------------------------------------------------------------------------------- the file


def test_no_file_until_first_use_then_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / HISTORY_FILE
    store = HistoryStore(path)
    assert not path.parent.exists()

    assert store.count() == 0
    assert path.exists()
    store.close()


def test_in_folder_uses_the_history_file(tmp_path: Path) -> None:
    store = HistoryStore.in_folder(tmp_path / "data")
    assert Path(store.path) == tmp_path / "data" / HISTORY_FILE


def test_close_then_use_again_reopens(store: HistoryStore) -> None:
    store.record_result(make_result(), when=T0)
    store.close()
    store.record_result(make_result(), when=T0 + 1)
    assert store.count() == 2


def test_file_is_in_wal_mode_with_schema_version_and_indexes(tmp_path: Path) -> None:
    with HistoryStore.in_folder(tmp_path) as store:
        store.record_result(make_result(), when=T0)
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexed = leading_index_columns(connection, "attempts")
    assert {"time", "provider", "run_id"} <= indexed


def leading_index_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    """The first column of each index on ``table``: the columns a filter can use an index for."""
    query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
    names = [row[0] for row in connection.execute(query, (table,))]
    return {connection.execute(f"PRAGMA index_info({name})").fetchone()[2] for name in names}


# ---------------------------------------------------------------------------------------------- concurrency


def test_threads_sharing_one_store_lose_nothing(store: HistoryStore) -> None:
    write_from_threads(lambda: store, threads=4, records=25)
    assert_all_rows_present(store, {f"thread{t}-{i}" for t in range(4) for i in range(25)})


def test_threads_and_processes_writing_at_once_lose_nothing(store_location) -> None:
    # Nothing is created yet: the writers also race to create the schema.
    where = str(store_location)
    run_together(
        write_runs,
        [(where, f"proc{p}", 20) for p in range(2)],
        here=lambda: write_from_threads(lambda: open_store(where), threads=4, records=25),  # a store per thread
    )

    expected = {f"thread{t}-{i}" for t in range(4) for i in range(25)} | {
        f"proc{p}-{i}" for p in range(2) for i in range(20)
    }
    with open_store(where) as reader:
        assert_all_rows_present(reader, expected)


def write_from_threads(store_for_thread, *, threads: int, records: int) -> None:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            store = store_for_thread()
            start.wait()
            for i in range(records):
                store.record_result(make_result(), source_name=f"thread{thread}-{i}", when=T0 + i)
        except BaseException as error:  # surfaced below: an exception in a thread would otherwise vanish
            errors.append(error)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []


def assert_all_rows_present(store: HistoryStore, expected_names: set[str]) -> None:
    runs = store.runs(limit=10_000)
    names = [run.source_name for run in runs]
    assert len(names) == len(expected_names) == store.count()
    assert set(names) == expected_names
    assert len({run.id for run in runs}) == len(runs)
    assert len(store.attempts()) == 2 * len(expected_names)
    assert all(len(run.attempts) == 2 and {a.run_id for a in run.attempts} == {run.id} for run in runs)


# ---------------------------------------------------------------------------------------------- thumbnails


@pytest.mark.parametrize(
    ("size", "expected"),
    [((300, 150), (96, 48)), ((40, 200), (19, 96)), ((96, 96), (96, 96)), ((10, 5), (10, 5)), ((1000, 3), (96, 1))],
)
def test_thumbnail_fits_96_and_keeps_aspect(size: tuple[int, int], expected: tuple[int, int]) -> None:
    data = thumbnail_png(gradient(size))
    assert data.startswith(b"\x89PNG")
    assert png_size(data) == expected


def test_thumbnail_respects_a_smaller_max_side() -> None:
    assert png_size(thumbnail_png(gradient((300, 150)), max_side=32)) == (32, 16)


def test_thumbnail_does_not_touch_the_callers_image() -> None:
    image = gradient((300, 150))
    thumbnail_png(image)
    assert image.size == (300, 150)


@pytest.mark.parametrize(("mode", "thumbnail_mode"), [("RGBA", "RGBA"), ("LA", "RGBA"), ("L", "RGB"), ("P", "RGB")])
def test_thumbnail_is_8_bit_rgb_or_rgba(mode: str, thumbnail_mode: str) -> None:
    with Image.open(io.BytesIO(thumbnail_png(gradient((200, 100), mode)))) as image:
        assert image.mode == thumbnail_mode


def test_thumbnail_of_16_bit_gray_is_scaled_not_clipped() -> None:
    mid_gray = Image.fromarray(np.full((100, 200), 32768, dtype=np.uint16))
    assert mid_gray.mode.startswith("I;16")
    with Image.open(io.BytesIO(thumbnail_png(mid_gray))) as image:
        assert image.mode == "RGB"
        assert image.getpixel((10, 10)) == (128, 128, 128)  # PIL's plain convert would clip it to 255


# ---------------------------------------------------------------------------------------------- errors


def test_unwritable_path_raises_a_one_line_history_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = HistoryStore(blocker / HISTORY_FILE)

    with pytest.raises(HistoryError) as caught:
        store.record_result(make_result())
    message = str(caught.value)
    assert isinstance(caught.value, HDCoreError)
    assert message.startswith(f"cannot open history at {blocker / HISTORY_FILE}: ")
    assert "\n" not in message and len(message) > len(f"cannot open history at {blocker / HISTORY_FILE}: ")
    with pytest.raises(HistoryError):
        store.count()


def test_corrupt_file_raises_history_error(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE
    path.write_bytes(b"this is not a database, just some text that is long enough" * 40)
    with pytest.raises(HistoryError, match="^cannot open history at .*not a database"):
        HistoryStore(path).runs()


def test_file_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer"):
        HistoryStore(path).count()
