"""History: every run of this deployment, from the persistent store (SQLite in HDCORE_DATA_DIR, or the PostgreSQL
database of HDCORE_DATABASE_URL, shared by every replica)."""

import streamlit as st

from hdcore import webapp
from hdcore.errors import HDCoreError
from pages import common

st.title("History")
st.caption("Every run of this deployment, newest first: what was asked, which tier produced it, and each tier's "
           "latency and cost.")

try:
    store = common.history()
    total = store.count()
    pages = webapp.page_count(total)
    page = st.number_input("Page", 1, pages, 1) if pages > 1 else 1
    runs = store.runs(limit=webapp.HISTORY_PAGE_SIZE, offset=(page - 1) * webapp.HISTORY_PAGE_SIZE)
except HDCoreError as error:
    st.warning(f"The history cannot be read: {webapp.md_escape(webapp.one_line(str(error)))}")
    st.stop()

if not runs:
    st.info("No runs yet. Enhance an image and it will appear here.")
    st.stop()

common.headline(webapp.history_summary(runs, total))
st.dataframe(
    webapp.history_rows(runs),
    hide_index=True,
    width="stretch",
    row_height=64,
    column_config={
        "Time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss z"),
        "Thumbnail": st.column_config.ImageColumn(width="small"),
        "Tiers": st.column_config.TextColumn(width="large"),
        "Latency (s)": st.column_config.NumberColumn(format="%.2f s"),
        "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
    },
)
