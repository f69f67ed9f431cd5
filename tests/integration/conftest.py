"""Fixtures for database tests: a throwaway PostgreSQL database per test module."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _admin_engine() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="module")
def pg_url_module():
    """URL of a fresh, empty PostgreSQL database, dropped after the module's tests."""
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # no server on this machine
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__}); "
                    "set TEST_POSTGRES_URL to run the PostgreSQL tests")
    name = f"csp_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')  # name generated here, not input
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()
