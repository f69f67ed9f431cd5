"""App tests run against the small sample database with Streamlit's caches emptied between
tests (st.cache_data and st.cache_resource outlive a single AppTest in one process)."""

from __future__ import annotations

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def app_database(sample_db_url, monkeypatch):
    """Point the app at the sample database and start every test with empty caches."""
    monkeypatch.setenv("DATABASE_URL", sample_db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sample_db_url
    st.cache_data.clear()
    st.cache_resource.clear()

