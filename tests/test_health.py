"""hdcore.health: rolling figures from hand-written attempts at a fixed time, the static and adaptive Auto order
with its explanation, the budget guard per image and per day, the settings, and the Health page (AppTest)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from hdcore import health, webapp
from hdcore.attempts import Attempt
from hdcore.config import BudgetSettings, Config, HedgeSettings, OrderSettings
from hdcore.errors import AllTiersFailed
from hdcore.health import ALL_MODELS, DAY, HOUR, Figures
from hdcore.history import HistoryStore
from tests.app.test_app import rendered_text, shown, walk

NOW = datetime(2024, 5, 17, 12, 30, tzinfo=timezone.utc).timestamp()
APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
HF_SENTINEL = "hf_SENTINEL_token_that_must_never_show_4242"


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as opened:
        yield opened


def attempt(provider: str, outcome: str = "ok", latency: float = 1.0, cost: float = 0.0, model: str | None = "m"):
    return Attempt(tier=1, provider=provider, model=model, outcome=outcome, latency_s=latency, cost_usd=cost)


def add(store: HistoryStore, when: float, *attempts: Attempt) -> None:
    """One run holding ``attempts`` at ``when`` (stored as a failure: the store keeps attempts as given)."""
    store.record_failure(AllTiersFailed(list(attempts)), input_size=(8, 8), scale=2, when=when)


def row(rows: list[Figures], provider: str, window: int, model: str | None = ALL_MODELS) -> Figures:
    return next(f for f in rows if f.provider == provider and f.window_s == window and f.model == model)


# ------------------------------------------------------------------------------------------------ figures


def test_figures_give_success_rate_percentiles_and_mean_cost(store):
    for second in range(1, 11):  # latencies 1..10 s within the hour; two failures
        outcome = "error" if second in (3, 7) else "ok"
        add(store, NOW - 60 * second, attempt("replicate", outcome, latency=float(second), cost=0.002))
    replicate = row(health.figures(store, now=NOW), "replicate", HOUR)
    assert (replicate.attempts, replicate.successes, replicate.failures) == (10, 8, 2)
    assert replicate.success_rate == pytest.approx(0.8)
    assert replicate.p50_latency_s == pytest.approx(5.5)
    assert replicate.p95_latency_s == pytest.approx(9.55)
    assert replicate.mean_cost_usd == pytest.approx(0.002)


def test_windows_leave_out_older_and_later_attempts(store):
    add(store, NOW - 600, attempt("hf", "ok", latency=2.0))
    add(store, NOW - 5 * HOUR, attempt("hf", "error", latency=8.0))
    add(store, NOW - 2 * DAY, attempt("hf", "error"))  # outside both windows
    add(store, NOW + 60, attempt("hf", "error"))  # after "now": not seen
    rows = health.figures(store, now=NOW)
    hour, day = row(rows, "hf", HOUR), row(rows, "hf", DAY)
    assert (hour.attempts, hour.successes, hour.p95_latency_s) == (1, 1, 2.0)
    assert (day.attempts, day.successes, day.success_rate) == (2, 1, 0.5)


def test_skipped_attempts_are_counted_apart(store):
    add(store, NOW - 60, attempt("hf", "skipped", latency=0.0, model=None), attempt("local", "ok", latency=3.0))
    add(store, NOW - 120, attempt("hf", "timeout", latency=30.0))
    rows = health.figures(store, now=NOW)
    hf = row(rows, "hf", HOUR)
    assert (hf.attempts, hf.skipped, hf.success_rate, hf.p50_latency_s) == (1, 1, 0.0, 30.0)
    per_model = {f.model for f in rows if f.provider == "hf"}
    assert per_model == {ALL_MODELS, None, "m"}


def test_an_empty_store_has_no_figures(store):
    assert health.figures(store, now=NOW) == []
    assert health.hourly(store, now=NOW) == []


def test_hourly_buckets_cover_the_last_day(store):
    add(store, NOW - 60, attempt("replicate", "ok", cost=0.01), attempt("local", "ok"))
    add(store, NOW - 120, attempt("replicate", "error", cost=0.01))
    add(store, NOW - 3 * HOUR, attempt("replicate", "ok", cost=0.01))
    add(store, NOW - 30 * HOUR, attempt("replicate", "ok"))  # older than a day
    buckets = health.hourly(store, now=NOW)
    replicate = [b for b in buckets if b.provider == "replicate"]
    assert [b.start for b in replicate] == [NOW - 30 * 60 - 3 * HOUR, NOW - 30 * 60]  # NOW is 12:30
    assert (replicate[1].attempts, replicate[1].success_rate, replicate[1].cost_usd) == (2, 0.5, pytest.approx(0.02))


# ---------------------------------------------------------------------------------------------- the order


def figures_for(provider: str, successes: int, attempts: int, p95: float = 1.0, cost: float = 0.0, window=HOUR):
    return Figures(provider, ALL_MODELS, window, attempts, successes, 0, p95 / 2, p95, cost)


CHAIN = ["hf", "replicate", "space", "local"]


def test_static_order_is_the_configured_one():
    ordering = health.choose_order(CHAIN, [figures_for("hf", 0, 5)], mode="static", label=webapp.short_label)
    assert ordering.order == CHAIN
    expected = "Static order: Hugging Face → Replicate → HF Space → Local (the configured order)."
    assert ordering.explanation == expected


def test_adaptive_order_puts_the_failing_tier_behind_and_says_why():
    rows = [figures_for("hf", 0, 5), figures_for("replicate", 5, 5, p95=4.0)]
    ordering = health.choose_order(CHAIN, rows, mode="adaptive", label=webapp.short_label)
    assert ordering.order == ["replicate", "hf", "space", "local"]
    assert ordering.explanation.startswith("Replicate first: Hugging Face failed 5 of 5 in the last hour.")


def test_adaptive_order_breaks_ties_on_p95_latency_then_cost():
    rows = [figures_for("hf", 5, 5, p95=9.0), figures_for("replicate", 5, 5, p95=2.0)]
    ordering = health.choose_order(CHAIN, rows, mode="adaptive")
    assert ordering.order[:2] == ["replicate", "hf"]
    assert "hf's p95 latency is 9.0 s against 2.0 s" in ordering.explanation
    rows = [figures_for("hf", 5, 5, cost=0.02), figures_for("replicate", 5, 5, cost=0.002)]
    assert health.choose_order(CHAIN, rows, mode="adaptive").order[:2] == ["replicate", "hf"]


def test_tiers_without_evidence_keep_their_static_place():
    # space has no history, hf too few attempts (it stays first); local beats replicate and takes its slot
    rows = [figures_for("hf", 0, 2), figures_for("replicate", 1, 4), figures_for("local", 4, 4, window=DAY)]
    ordering = health.choose_order(CHAIN, rows, mode="adaptive")
    assert ordering.order == ["hf", "local", "space", "replicate"]
    assert ordering.explanation.startswith("local in place 2: replicate failed 3 of 4 in the last hour")


def test_adaptive_without_history_keeps_the_static_order():
    ordering = health.choose_order(CHAIN, [], mode="adaptive")
    assert ordering.order == CHAIN and "no tier has 3 or more attempts" in ordering.explanation


def test_adaptive_ranks_a_tier_over_the_cost_budget_last():
    rows = [figures_for("hf", 5, 5, cost=0.05), figures_for("replicate", 4, 5, cost=0.002)]
    ordering = health.choose_order(CHAIN, rows, mode="adaptive", max_cost_per_image=0.01)
    assert ordering.order[:2] == ["replicate", "hf"]
    assert "hf costs about $0.0500 a run, over $0.0100" in ordering.explanation


def test_adaptive_order_that_does_not_change_says_who_stays_first():
    rows = [figures_for("hf", 5, 5), figures_for("replicate", 1, 5)]
    ordering = health.choose_order(CHAIN, rows, mode="adaptive")
    assert ordering.order == CHAIN
    assert "hf stays first: 5 of 5 succeeded in the last hour" in ordering.explanation


# --------------------------------------------------------------------------------------- cost from history


def test_spent_today_counts_todays_spend_only(store):
    add(store, NOW - 3600, attempt("replicate", "ok", cost=4.0), attempt("replicate", "ok", cost=0.98))
    add(store, NOW - 13 * HOUR, attempt("replicate", "ok", cost=100.0))  # yesterday (UTC)
    assert health.spent_today(store, NOW) == pytest.approx(4.98)
    assert health.spent_today(store, NOW + 12 * HOUR) == 0.0  # a new day


def test_an_unpriced_tiers_cost_is_its_mean_paid_attempt_of_the_last_day(store):
    add(store, NOW - 60, attempt("hf", "ok", cost=0.03), attempt("hf", "ok", cost=0.01), attempt("local", "ok"))
    add(store, NOW - 2 * DAY, attempt("hf", "ok", cost=9.0))  # too old to count
    assert health.mean_paid_cost(store, "hf", NOW) == pytest.approx(0.02)
    assert health.mean_paid_cost(store, "local", NOW) is None  # free: nothing paid to average


def test_todays_spend_counts_each_ledger_call_once_and_the_calls_still_open(store):
    ledger = store.spend_ledger()
    settled = ledger.reserve("replicate", 3.0, max_per_day=5.0, now=NOW - 60)
    ledger.settle(settled, 2.0)
    add(store, NOW - 50, attempt("replicate", "ok", cost=2.0))  # the same call, recorded with its run
    assert health.spent_today(store, NOW) == pytest.approx(2.0)

    ledger.reserve("replicate", 2.5, max_per_day=5.0, now=NOW - 10)  # another replica's call, still running
    assert health.spent_today(store, NOW) == pytest.approx(4.5)
    assert ledger.reserve("replicate", 2.0, max_per_day=5.0, now=NOW) is None  # $4.50 + $2.00 would pass $5


# ----------------------------------------------------------------------------------------------- the page


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    """No tokens from the machine; the history in a temporary folder."""
    for name in ("HUGGINGFACE_TOKEN", "REPLICATE_API_TOKEN", "HDCORE_SPACE", "HDCORE_ORDER_MODE",
                 "HDCORE_MAX_COST_PER_IMAGE", "HDCORE_MAX_COST_PER_DAY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data"
    monkeypatch.setenv("HDCORE_DATA_DIR", str(folder))
    return folder


def health_page(secrets: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    for key, value in (secrets or {}).items():
        app.secrets[key] = value
    app.run()
    app.switch_page("pages/health.py")
    app.run()
    assert not app.exception, app.exception
    return app


def test_health_page_with_an_empty_store(data_dir):
    app = health_page()
    assert app.title[0].value == "Health"
    assert app.info[0].value.startswith("No attempts in the last 24 hours")
    assert "Static order" in " ".join(caption.value for caption in app.caption)


def test_health_page_shows_figures_charts_budget_and_the_adaptive_order(data_dir, monkeypatch):
    monkeypatch.setenv("HDCORE_ORDER_MODE", "adaptive")
    monkeypatch.setenv("HDCORE_MAX_COST_PER_DAY", "5")
    with HistoryStore.in_folder(data_dir) as store:
        for minute in range(1, 6):
            add(store, health.time.time() - 60 * minute,
                attempt("hf", "error", latency=2.0), attempt("replicate", "ok", latency=3.0, cost=0.002))  # fmt: skip
    app = health_page({"HUGGINGFACE_TOKEN": HF_SENTINEL})
    captions = " ".join(shown(caption) for caption in app.caption)
    assert "Replicate first: Hugging Face failed 5 of 5 in the last hour" in captions
    assert "spent today (UTC): $0.0100" in captions
    rows = app.dataframe[0].value.to_dict("records")
    replicate = next(r for r in rows if (r["Provider"], r["Window"], r["Model"]) == ("Replicate", "1 h", "all models"))
    assert (replicate["Attempts"], replicate["Success rate (%)"], replicate["p95 latency (s)"]) == (5, 100.0, 3.0)
    charts = [node for node in walk(app._tree) if getattr(node, "type", "") == "vega_lite_chart"]
    assert len(charts) == 3  # success rate, p95 latency, cost: per hour
    assert HF_SENTINEL not in rendered_text(app)


def test_health_page_lists_breakers_and_resets_one(data_dir, monkeypatch):
    class Board:  # stands in for hdcore.engine.breaker, whichever shape it takes
        def __init__(self):
            self.resets = []

        def snapshot(self):
            return [{"provider": "hf", "model": None, "state": "open", "failures": 5, "reopens_at": None,
                     "reason": "5 failures in a row"}]  # fmt: skip

        def reset(self, provider, model=None):
            self.resets.append((provider, model))

    board = Board()
    monkeypatch.setattr(webapp, "breaker_board", lambda engine: board)
    app = health_page()
    assert app.dataframe[0].value.to_dict("records")[0]["State"] == "open"
    next(button for button in app.button if button.key == "reset-breaker-0").click().run()
    assert not app.exception and board.resets == [("hf", None)]


# ------------------------------------------------------------------------------------------ engine wiring


def test_the_engine_runs_the_adaptive_order_and_skips_over_budget_tiers(tmp_path):
    from hdcore import Engine
    from hdcore.attempts import Attempt, Cost
    from hdcore.health import HealthPlanner
    from hdcore.errors import TransientError
    from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry

    def failing(request):
        raise TransientError("down")

    config = Config(timeouts={}, hedge=HedgeSettings(enabled=False))
    flaky = ScriptedProvider(config, "flaky", failing)
    steady = ScriptedProvider(config, "steady")
    pricey = ScriptedProvider(config, "pricey", cost=Cost(1.0, "measured"))
    store = HistoryStore(tmp_path / "h.sqlite3")
    history_of_failures = [Attempt(1, "flaky", "m-default", "error", "down", 0.1) for _ in range(5)]
    history_of_successes = [Attempt(2, "steady", "m-default", "ok", "", 0.2) for _ in range(5)]
    history_of_spending = [Attempt(3, "pricey", "m-default", "ok", "", 0.2, 1.0, "measured") for _ in range(5)]
    for attempts in (history_of_failures, history_of_successes, history_of_spending):
        store.record_failure(AllTiersFailed(attempts), input_size=(8, 8), scale=2)

    config = config.with_changes(auto_order=OrderSettings("adaptive"), budget=BudgetSettings(max_per_image=0.5))
    planner = HealthPlanner(store, config.auto_order, config.budget)
    engine = Engine(config, scripted_registry(flaky, pricey, steady), planner=planner)
    result = engine.enhance(png_bytes(photo()), scale=2)

    assert result.provider == "steady"
    assert [(a.provider, a.outcome) for a in result.attempts][0] == ("steady", "ok")
    assert flaky.requests == [] and pricey.requests == []
    assert "order: steady first: flaky failed 5 of 5 in the last hour. Adaptive order: steady → flaky → pricey." \
        in result.warnings

    steady.behaviour = failing  # now every tier but the over-budget one fails: the guard must still hold
    with pytest.raises(AllTiersFailed) as caught:
        engine.enhance(png_bytes(photo()), scale=2)
    outcomes = [(a.provider, a.outcome) for a in caught.value.attempts]
    assert outcomes == [("steady", "error"), ("flaky", "error"), ("pricey", "skipped")]
    assert caught.value.attempts[-1].reason.startswith("over the per-image budget")
    assert pricey.requests == []


def test_a_named_provider_ignores_the_planner(tmp_path):
    from hdcore import Engine
    from hdcore.health import HealthPlanner
    from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry

    config = Config(timeouts={})
    only = ScriptedProvider(config, "only")
    planner = HealthPlanner(HistoryStore(tmp_path / "h.sqlite3"), OrderSettings("adaptive"), BudgetSettings(0.0, 0.0))
    result = Engine(config, scripted_registry(only), planner=planner).enhance(png_bytes(photo()), 2, "only")
    assert result.provider == "only" and len(only.requests) == 1
