"""The Providers page's decisions: one row per tier (configured or what is missing, never a token), each
tier's models and declared settings, the prices in force, and probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from ..attempts import Attempt
from ..config import Config
from ..engine import Engine
from .common import (
    AUTO, TierView, error_message,
    redact, short_label, tier_views,
)
from ..text import seconds, usd
from ..config import Secret



def tier_rows(engine: Engine) -> list[dict[str, Any]]:
    """The Providers page's table: one row per tier, configured ✓ or what is missing, never a token."""
    chain = engine.plan(AUTO)
    rows = []
    for tier in tier_views(engine):
        rows.append(
            {
                "Tier": tier.short,
                "Provider": tier.name,
                "Status": "✓ configured" if tier.configured else f"✗ {tier.status}",
                "Auto chain": f"#{chain.index(tier.name) + 1}" if tier.name in chain else "only when chosen",
                "Timeout": seconds(tier.timeout_s),
                "Scales": ", ".join(f"{s}x" for s in tier.scales) or "–",
                "Models": len(tier.models),
            }
        )
    return rows


def model_rows(tier: TierView) -> list[dict[str, Any]]:
    return [
        {"Model": m.name, "Scales": ", ".join(f"{s}x" for s in m.scales), "Description": m.description}
        for m in tier.models
    ]


def price_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every tier's prices as it declares them (the tables in force: defaults plus HDCORE_PRICES overrides)."""
    return [{"Tier": short_label(name), **row} for name in engine.registry.names()
            for row in engine.provider(name).price_rows()]


def settings_rows(engine: Engine, name: str) -> list[dict[str, str]]:
    """What configures a tier, as it declares it: each variable with its value (a token only as "set")."""
    provider = engine.provider(name)
    rows = []
    for setting in provider.info.settings:
        value = engine.config.get(setting)
        if isinstance(value, Secret):
            shown = "set" if value else "not set"
        else:
            shown = "–" if value in (None, "") else str(value)
        rows.append({"Setting": setting.variable, "Value": shown, "What it does": setting.help})
    rows.append({"Setting": provider.info.timeout_variable, "Value": seconds(provider.timeout()),
                 "What it does": "the tier's deadline"})  # fmt: skip
    if provider.max_concurrency() is not None:
        rows.append({"Setting": provider.info.concurrency_variable, "Value": str(provider.max_concurrency()),
                     "What it does": "calls at once from this app"})  # fmt: skip
    return rows


def limits_rows(config: Config) -> list[dict[str, str]]:
    return [
        {"Setting": "Max input", "Value": f"{config.max_input_pixels:,} px"},
        {"Setting": "Max output", "Value": f"{config.max_output_pixels:,} px"},
        {"Setting": "History folder (HDCORE_DATA_DIR)", "Value": config.data_dir},
    ]


@dataclass(frozen=True)
class ProbeReport:
    level: str  # "success", "warning" (skipped) or "error"
    text: str


def probe_report(attempt: Attempt, config: Config | None = None) -> ProbeReport:
    name = short_label(attempt.provider)
    if attempt.ok:
        cost = f", {usd(attempt.cost_usd)} ({attempt.cost_kind})" if attempt.cost_usd else ""
        return ProbeReport("success", f"{name} answered in {attempt.latency_s:.2f} s with {attempt.model}{cost}.")
    if attempt.outcome == "skipped":
        return ProbeReport("warning", redact(f"{name} was not called: {attempt.reason}", config))
    return ProbeReport("error", redact(f"{name} failed ({attempt.outcome}) after {attempt.latency_s:.2f} s: "
                                       f"{attempt.reason}", config))


def probe(engine: Engine, name: str) -> ProbeReport:
    try:
        return probe_report(engine.probe(name), engine.config)
    except Exception as error:  # a probe must never crash the page
        return ProbeReport("error", f"{short_label(name)}: {error_message(error, engine.config)}")


