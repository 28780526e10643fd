"""Health: how each tier has been doing (from the history store), its circuit breakers, the Auto order and why,
and the cost caps. Layout only; the figures come from hdcore.health through hdcore.webapp."""

import streamlit as st

from hdcore import health, webapp
from hdcore.errors import HDCoreError
from pages import common

engine = common.engine()

st.title("Health")
st.caption("Success rate, latency and cost of each tier over the last hour and day, from this deployment's history.")

st.subheader("Auto order")
ordering = common.auto_ordering()
st.markdown(" → ".join(f"**{webapp.md_escape(webapp.short_label(tier))}**" for tier in ordering.order))
st.caption(f"Mode: {engine.config.auto_order.mode} (HDCORE_ORDER_MODE). {webapp.Narrator.markdown(ordering.explanation)}")

board = webapp.breaker_board(engine)
if board is not None:  # hdcore.engine.breaker may not exist in this version: then there is nothing to show
    st.subheader("Circuit breakers")
    snapshot = board.snapshot()
    if not snapshot:
        st.caption("No breaker has tripped.")
    else:
        st.dataframe(webapp.breaker_rows(snapshot), hide_index=True, width="stretch")
        for index, breaker in enumerate(snapshot):
            if str(breaker.get("state", "")).lower() != "closed":
                name = webapp.short_label(str(breaker.get("provider", "")))
                label = webapp.md_escape(f"Reset {name} {breaker.get('model') or ''}".strip())
                if st.button(label, key=f"reset-breaker-{index}"):
                    board.reset(breaker.get("provider"), breaker.get("model"))
                    st.rerun()

try:
    store = common.history()
    figures = health.figures(store)
    buckets = health.hourly(store)
    budget = webapp.budget_lines(engine, store)
except HDCoreError as error:
    st.warning(f"The history cannot be read: {webapp.md_escape(webapp.one_line(str(error)))}")
    st.stop()

st.subheader("Budget")
for line in budget:
    st.caption(webapp.Narrator.markdown(line))

st.subheader("Tiers")
if not figures:
    st.info("No attempts in the last 24 hours. Enhance an image and its tiers' figures will appear here.")
    st.stop()
st.dataframe(
    webapp.figure_rows(figures),
    hide_index=True,
    width="stretch",
    column_config={
        "Success rate (%)": st.column_config.NumberColumn(format="%.0f%%"),
        "p50 latency (s)": st.column_config.NumberColumn(format="%.2f s"),
        "p95 latency (s)": st.column_config.NumberColumn(format="%.2f s"),
        "Mean cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
    },
)

st.subheader("Last 24 hours, by hour (UTC)")
rows = webapp.hourly_rows(buckets)
rate, latency, cost = st.columns(3)
rate.caption("Success rate (%)")
rate.line_chart(rows, x="Hour", y="Success rate (%)", color="Provider", height=220)
latency.caption("p95 latency (s)")
latency.line_chart(rows, x="Hour", y="p95 latency (s)", color="Provider", height=220)
cost.caption("Cost (USD)")
cost.bar_chart(rows, x="Hour", y="Cost (USD)", color="Provider", height=220)
