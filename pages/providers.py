"""Providers: each tier's configuration (configured or what is missing, never a token), models, timeouts,
the price table, and a probe button per tier."""

import streamlit as st

from hdcore import webapp
from pages import common

engine = common.engine()
config = engine.config

st.title("Providers")
st.caption(
    "The auto chain tries these tiers in order; a tier without its token is skipped, never hidden. "
    "Tokens are read from secrets or the environment and are never displayed."
)

st.dataframe(webapp.tier_rows(engine), hide_index=True, width="stretch")

for tier in webapp.tier_views(engine):
    icon = ":material/check_circle:" if tier.configured else ":material/radio_button_unchecked:"
    with st.expander(webapp.md_escape(f"{tier.label} — {tier.status}"), icon=icon):
        facts = st.columns(3)
        facts[0].metric("Timeout", webapp.seconds(tier.timeout_s))
        facts[1].metric("Scales", ", ".join(f"{s}×" for s in tier.scales) or "–")
        facts[2].metric("Models", len(tier.models))
        if tier.models:
            st.dataframe(webapp.model_rows(tier), hide_index=True, width="stretch")
        st.dataframe(webapp.settings_rows(engine, tier.name), hide_index=True, width="stretch")
        help_text = "Sends a 16×16 image at 2×. On Replicate that is a real, billed prediction (a fraction of a cent)."
        if st.button(f"Probe {tier.short}", key=f"probe-{tier.name}", icon=":material/network_ping:", help=help_text):
            with st.spinner(f"Probing {tier.short}…"):
                report = webapp.probe(engine, tier.name)
            getattr(st, report.level)(webapp.md_escape(report.text))  # a server's error text, as text

st.subheader("Limits")
st.dataframe(webapp.limits_rows(config), hide_index=True, width="stretch")

st.subheader("Prices")
st.caption(
    "Each tier's prices as it declares them. Replicate bills by prediction time on each model's hardware: a "
    "measured cost when the prediction reports its time, else the per-run estimate. Override any figure with "
    "HDCORE_PRICES."
)
st.dataframe(
    webapp.price_rows(engine),
    hide_index=True,
    width="stretch",
    column_config={"USD": st.column_config.NumberColumn(format="$%.6f")},
)
