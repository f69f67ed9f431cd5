"""The database layer on DuckDB and PostgreSQL: schema, migrations, writes, reads, concurrency."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from data_access import bootstrap, engine as eng, migrate, schema
from data_access.aggregates import rebuild_aggregates
from data_access.loading import insert_incidents
from sample_data.generator import build_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SMALL = {"start": dt.date(2025, 1, 1), "end": dt.date(2025, 6, 30), "scale": 0.1}


@pytest.fixture(scope="module")
def small_dataset():
    return build_dataset(**SMALL)


@pytest.fixture(scope="module")
def duck_url(tmp_path_factory, small_dataset):
    url = f"duckdb:///{tmp_path_factory.mktemp('duck') / 'csp.duckdb'}"
    assert bootstrap.build_database(url, lambda: small_dataset)
    return url


@pytest.fixture(scope="module")
def pg_loaded(pg_url_module, small_dataset):
    assert bootstrap.build_database(pg_url_module, lambda: small_dataset)
    return pg_url_module


def _table_frame(url: str, table: sa.Table) -> pd.DataFrame:
    engine = eng.reader_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(sa.select(table), conn)
    finally:
        engine.dispose()
    key = [c.name for c in table.columns if c.name not in ("n",) and not c.name.startswith("n_")]
    for col in frame.columns:
        if frame[col].dtype == object and col.endswith(("_date", "_start")):
            frame[col] = pd.to_datetime(frame[col])
    return frame.sort_values(key).reset_index(drop=True)


def _columns_in_database(url: str) -> set[tuple[str, str]]:
    columns = sa.table("columns", sa.column("table_name"), sa.column("column_name"),
                       sa.column("table_schema"), schema="information_schema")
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(columns.c.table_name, columns.c.column_name)
            .where(columns.c.table_schema.in_(["main", "public"]))
            .where(columns.c.table_name != "alembic_version")
        ).all()
        revision = migrate.current_revision(conn)
    engine.dispose()
    assert revision == migrate.head_revision()
    return {(t, c) for t, c in rows}


def _columns_in_schema() -> set[tuple[str, str]]:
    return {(t.name, c.name) for t in schema.metadata.sorted_tables for c in t.columns}


def test_migrations_build_the_schema_on_duckdb(duck_url):
    assert _columns_in_database(duck_url) == _columns_in_schema()


@pytest.mark.postgres
def test_migrations_build_the_schema_on_postgres(pg_loaded):
    assert _columns_in_database(pg_loaded) == _columns_in_schema()
    engine = eng.make_engine(pg_loaded)
    with engine.connect() as conn:
        # Types, nullability and indexes too: autogenerate finds nothing left to migrate.
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("table", [*schema.AGGREGATE_TABLES, schema.areas, schema.kpi_values,
                                   schema.fund_spend], ids=lambda t: t.name)
def test_duckdb_and_postgres_hold_identical_tables(duck_url, pg_loaded, table):
    duck = _table_frame(duck_url, table)
    pg = _table_frame(pg_loaded, table)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, pg, check_dtype=False, check_exact=False, rtol=1e-9)


def test_aggregates_add_up_to_the_incidents(duck_url):
    engine = eng.reader_engine(duck_url)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)).scalar_one()
        for table in (schema.agg_month_lsoa, schema.agg_month_ward):
            assert conn.execute(sa.select(sa.func.sum(table.c.n))).scalar_one() == total
        located = conn.execute(
            sa.select(sa.func.count()).where(schema.incidents.c.cell_250.is_not(None))
        ).scalar_one()
        per_size = conn.execute(
            sa.select(schema.agg_cell_month.c.cell_size, sa.func.sum(schema.agg_cell_month.c.n))
            .group_by(schema.agg_cell_month.c.cell_size)
        ).all()
        assert {size: n for size, n in per_size} == {250: located, 500: located, 1000: located}
        vawg = conn.execute(
            sa.select(sa.func.count()).where(schema.incidents.c.is_vawg)
        ).scalar_one()
        assert conn.execute(sa.select(sa.func.sum(schema.agg_month_ward.c.n_vawg))).scalar_one() == vawg
    engine.dispose()


def test_reader_engine_refuses_writes_on_duckdb(duck_url):
    engine = eng.reader_engine(duck_url)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(schema.events.delete())
    engine.dispose()


@pytest.mark.postgres
def test_reader_engine_refuses_writes_on_postgres(pg_loaded):
    engine = eng.reader_engine(pg_loaded)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        conn.execute(schema.events.delete())
    engine.dispose()


def _incident_count(url: str) -> int:
    engine = eng.reader_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failed_write_changes_nothing(kind, duck_url, request):
    url = duck_url if kind == "duckdb" else request.getfixturevalue("pg_loaded")
    before, generation = _incident_count(url), eng.database_generation(url)
    with pytest.raises(RuntimeError, match="half-way"):
        with eng.write_transaction(url) as conn:
            conn.execute(sa.delete(schema.incidents))
            raise RuntimeError("import failed half-way")
    assert _incident_count(url) == before
    assert eng.database_generation(url) == generation
    if kind == "duckdb":
        folder = eng.duckdb_path(url).parent
        assert len(list(folder.glob("*.g*.duckdb"))) == 1, "the failed copy was left behind"


def test_reader_sessions_and_an_import_run_together(tmp_path, small_dataset):
    """A separate process reads in a loop while this one imports twice: neither fails."""
    url = f"duckdb:///{tmp_path / 'busy.duckdb'}"
    bootstrap.build_database(url, lambda: small_dataset)
    before = _incident_count(url)
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(PROJECT_ROOT)!r})
            import sqlalchemy as sa
            from data_access import engine as eng, schema
            url, engines, seen, errors = {url!r}, {{}}, set(), 0
            deadline = time.time() + 60
            while time.time() < deadline:
                gen = eng.database_generation(url)
                engine = engines.get(gen) or engines.setdefault(gen, eng.reader_engine(url))
                try:
                    with engine.connect() as conn:
                        n = conn.execute(sa.select(sa.func.sum(schema.agg_month_ward.c.n))).scalar()
                    if not seen:
                        print("READY", flush=True)
                    seen.add(int(n))
                except Exception as exc:
                    errors += 1
                    print("ERROR", type(exc).__name__, exc, flush=True)
                if len(seen) >= 3:
                    break
                time.sleep(0.01)
            print("SEEN", sorted(seen), "ERRORS", errors, flush=True)
            sys.exit(1 if errors else 0)
        """)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert reader.stdout.readline().strip() == "READY"
    extra = next(iter(small_dataset.incident_frames())).head(500).copy()
    for round_ in (1, 2):
        extra["incident_id"] = extra["incident_id"] + 10_000_000 * round_
        with eng.write_transaction(url) as conn:
            insert_incidents(conn, [extra])
            month = pd.Timestamp(extra["incident_date"].min()).date().replace(day=1)
            rebuild_aggregates(conn, month, month)
    out, _ = reader.communicate(timeout=90)
    assert reader.returncode == 0, out
    assert f"SEEN [{before}, {before + 500}, {before + 1000}]" in out, out
    assert _incident_count(url) == before + 1000


def test_an_old_plain_duckdb_file_is_adopted_by_the_generation_scheme(tmp_path):
    path = tmp_path / "plain.duckdb"
    engine = sa.create_engine(f"duckdb:///{path}")
    with engine.begin() as conn:
        migrate.upgrade(conn)
    engine.dispose()
    url = f"duckdb:///{path}"
    with eng.write_transaction(url) as conn:
        conn.execute(schema.dataset_info.insert().values(key="name", value="adopted"))
    assert path.is_symlink()
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.dataset_info.c.value)).scalar_one() == "adopted"
    engine.dispose()


def test_building_the_database_twice_keeps_the_first(duck_url, small_dataset):
    generation = eng.database_generation(duck_url)
    assert bootstrap.build_database(duck_url, lambda: small_dataset) is False
    assert eng.database_generation(duck_url) == generation
    assert os.path.islink(eng.duckdb_path(duck_url))
