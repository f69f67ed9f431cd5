"""Data explorer: a placeholder until its own issue lands."""

import streamlit as st

from pages.common import shell

shell.ensure_session_defaults()
st.title("Data explorer")
st.info(
    "This page is not built yet. It will let analysts pick any source, category, area and "
    "period, see the aggregated counts as a table and a chart, and download them.",
    icon=":material/construction:",
)
