"""Shared fixtures: a small sample database built once per session, and a throwaway PostgreSQL
database per test."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid

import pytest
import sqlalchemy as sa

from data_access import bootstrap

# Long enough for a complete financial year with the year before it (2024/25 vs 2025/26) and a
# running year; small enough to build in seconds.
SAMPLE_START = dt.date(2024, 4, 1)
SAMPLE_END = dt.date(2026, 10, 31)
SAMPLE_SCALE = 0.2
TEST_POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def build_sample(url: str) -> None:
    """Fill ``url`` with the small sample (no fund tables: they are another page's concern)."""
    from sample_data.generator import build_dataset

    def make():
        return build_dataset(scale=SAMPLE_SCALE, start=SAMPLE_START, end=SAMPLE_END,
                             include_fund=False)

    assert bootstrap.build_database(url, make), f"{url} already had data"


@pytest.fixture(scope="session")
def sample_db_url(tmp_path_factory) -> str:
    """URL of a small sample DuckDB database (2024-04 .. 2026-10, scale 0.2), built once."""
    url = f"duckdb:///{tmp_path_factory.mktemp('sample_db') / 'csp.duckdb'}"
    build_sample(url)
    return url


@pytest.fixture(scope="session")
def sample_engine(sample_db_url):
    """A read-only engine on the sample database, for direct SQL cross-checks."""
    from data_access.engine import reader_engine

    engine = reader_engine(sample_db_url)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def throwaway_postgres():
    """A fresh, empty PostgreSQL database (csp_test_<random>), dropped afterwards; skips the test
    with the reason when no server answers at TEST_POSTGRES_URL."""
    admin = sa.create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # no server here: say so rather than fail
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {TEST_POSTGRES_URL} ({type(exc).__name__}); "
                    "set TEST_POSTGRES_URL to run the PostgreSQL tests")
    name = f"csp_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')  # name made here, never input
    try:
        yield sa.engine.make_url(TEST_POSTGRES_URL).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,))
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture
def pg_url():
    """URL of a fresh, empty PostgreSQL database for one test."""
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(scope="module")
def pg_url_module():
    """URL of a fresh, empty PostgreSQL database shared by one test module."""
    with throwaway_postgres() as url:
        yield url
