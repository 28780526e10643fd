"""HD Enhance, the web app. Pages hold layout only; every decision lives in hdcore.webapp."""

import streamlit as st

from pages import common

st.set_page_config(page_title="HD Enhance", page_icon="✨", layout="wide")
navigation = st.navigation(
    [
        st.Page("pages/enhance.py", title="Enhance", icon=":material/auto_awesome:", default=True),
        st.Page("pages/qa.py", title="QA", icon=":material/compare:"),
        st.Page("pages/batch.py", title="Batch", icon=":material/photo_library:"),
        st.Page("pages/providers.py", title="Providers", icon=":material/hub:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
        st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:"),
    ],
    position="top",
)
common.sidebar()
navigation.run()
