"""The PostgreSQL backend against a real server: a server restart mid-run, and the URL's password, which no
message, repr or warning may ever show."""

from __future__ import annotations

import logging
import traceback

import pytest

from hdcore import webapp
from hdcore.attempts import Attempt
from hdcore.config import Config
from hdcore.engine import Engine
from hdcore.errors import AllTiersFailed, ConfigError, HistoryError
from hdcore.store import HistoryStore, open_store, store_key
from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry
from tests.postgres_cluster import PASSWORD, free_port

T0 = 1_700_000_000.0
NOON = 1_700_049_600.0  # 2023-11-15 12:00 UTC


def record(store: HistoryStore, name: str) -> int:
    failure = AllTiersFailed([Attempt(1, "replicate", "m", "error", "boom", 1.0, 0.002, "measured")])
    return store.record_failure(failure, input_size=(8, 8), scale=2, source_name=name, when=T0)


def assert_safe_one_line(message: str, *secrets: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    for secret in (PASSWORD, *secrets):
        assert secret not in message


def test_a_server_restart_fails_one_write_with_a_clear_error_and_the_next_one_succeeds(
    postgres_cluster, postgres_url: str
) -> None:
    store = open_store(postgres_url)
    record(store, "before")
    postgres_cluster.stop()
    try:
        with pytest.raises(HistoryError) as caught:
            record(store, "lost")
        with pytest.raises(HistoryError):
            store.spend_ledger().reserve("replicate", 0.01, max_per_day=5.0, now=NOON)  # no budget check: no hold
    finally:
        postgres_cluster.start()
    message = str(caught.value)
    assert message.startswith("cannot write history at postgresql://postgres:***@127.0.0.1:")
    assert "Connection refused" in message or "server closed the connection" in message
    assert_safe_one_line(message)

    record(store, "after")  # the pool's dead connections are replaced: no restart of the app needed
    postgres_cluster.stop()
    postgres_cluster.start()
    record(store, "unnoticed")  # a restart between two calls costs nothing: each connection is checked first
    assert [run.source_name for run in store.runs()] == ["unnoticed", "after", "before"]
    assert store.spend_ledger().reserve("replicate", 0.01, max_per_day=5.0, now=NOON) is not None
    store.close()


def test_a_run_the_database_could_not_take_is_still_delivered_with_a_warning() -> None:
    engine = Engine(Config(timeouts={}), scripted_registry(ScriptedProvider(Config(), "fast")))
    request = webapp.EnhanceRequest(data=png_bytes(photo((8, 8))), source_name="photo.png", scale=2)
    outcome = webapp.run_enhance(engine, request)
    unreachable = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/nowhere"

    warning = webapp.record_outcome(open_store(unreachable), outcome)

    assert outcome.ok and outcome.result.image.size == (16, 16)
    assert warning.startswith("This run was not saved to the history: cannot open history at postgresql://")
    assert_safe_one_line(warning)


def test_neither_the_logs_nor_a_printed_traceback_hold_the_password(postgres_cluster, postgres_url, caplog) -> None:
    for logger in ("sqlalchemy", "psycopg"):  # at their most talkative (SQLAlchemy sets itself to WARNING)
        caplog.set_level(logging.DEBUG, logger=logger)
    with open_store(postgres_url) as store:
        record(store, "logged")
        store.runs()
    failures = []
    for url in (postgres_cluster.url("nowhere"), postgres_cluster.url(password="wrong-" + PASSWORD[::-1])):
        with pytest.raises(HistoryError) as caught:
            open_store(url).count()
        failures.append("".join(traceback.format_exception(caught.value)))  # the whole chain, as a log would print it

    assert caplog.records and "hdcore_test" in caplog.text  # the logs were on, and saw the database
    for text in (caplog.text, *failures):
        assert PASSWORD not in text and PASSWORD[::-1] not in text


def test_a_wrong_password_is_named_without_showing_either_password(postgres_cluster) -> None:
    wrong = "Wr0ng-pa55word-shown-nowhere"
    store = open_store(postgres_cluster.url("postgres", password=wrong))
    with pytest.raises(HistoryError, match="password authentication failed") as caught:
        store.count()
    assert_safe_one_line(str(caught.value), wrong)


def test_a_password_in_the_query_is_hidden_too(postgres_url: str) -> None:
    url = postgres_url.replace(f"postgresql://postgres:{PASSWORD}@", "postgres://postgres@")
    url += f"&password={PASSWORD}&connect_timeout=5"
    with open_store(url) as store:
        assert store.count() == 0  # postgres:// works, and so does libpq's ?password=
        assert PASSWORD not in repr(store) and PASSWORD not in store.location
    broken = url.replace("/hdcore_test?", "/no_such_database?")
    with pytest.raises(HistoryError, match='database "no_such_database" does not exist') as caught:
        open_store(broken).count()
    assert_safe_one_line(str(caught.value))


def test_where_a_store_is_shows_everything_but_the_password(postgres_url: str) -> None:
    config = Config.from_env({"HDCORE_DATABASE_URL": postgres_url})
    store = open_store(config)
    assert store.location == postgres_url.split("?")[0].replace(PASSWORD, "***")  # the query may hold one too
    assert store.path is None
    for text in (repr(store), str(store), repr(config), store_key(config)):
        assert PASSWORD not in text
    assert store_key(config) != store_key(Config()) and len(store_key(config)) == 32


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PASSWORD}@db.example.com:port/hdcore",  # a port that is not a number
        f"postgresql://postgres:{PASSWORD}@[::1/hdcore",  # an unclosed IPv6 bracket
        f"mysql://postgres:{PASSWORD}@db.example.com/hdcore",
        f"postgresql+psycopg2://postgres:{PASSWORD}@db.example.com/hdcore",  # a driver we do not ship
        "postgresql://",
    ],
)
def test_an_unusable_url_is_a_config_error_that_does_not_repeat_it(url: str) -> None:
    with pytest.raises(ConfigError, match="HDCORE_DATABASE_URL") as caught:
        open_store(url)
    assert_safe_one_line(str(caught.value))
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)  # nothing chained


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "sqlite:///data/history.sqlite3", "no scheme"])
def test_the_setting_must_name_postgresql(url: str) -> None:
    with pytest.raises(ConfigError, match="HDCORE_DATABASE_URL must be a PostgreSQL URL") as caught:
        Config.from_env({"HDCORE_DATABASE_URL": url})
    assert "pw@" not in str(caught.value)


def test_without_a_database_url_the_store_is_the_sqlite_file_in_the_data_folder(tmp_path) -> None:
    store = open_store(Config.from_env({"HDCORE_DATA_DIR": str(tmp_path)}))
    assert store.path == tmp_path / "history.sqlite3"
    assert store_key(Config(data_dir=str(tmp_path))) == store_key(tmp_path)
