"""HD Enhance, the web app. Pages hold layout only; every decision lives in hdcore."""

import streamlit as st

st.set_page_config(page_title="HD Enhance", page_icon="✨", layout="wide")
navigation = st.navigation([st.Page("pages/enhance.py", title="Enhance", icon="✨", default=True)])
navigation.run()
