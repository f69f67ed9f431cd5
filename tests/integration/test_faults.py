"""Database faults on the write path and their classification, on DuckDB and PostgreSQL.

- An import that fails half-way (after its rows were written inside the transaction) leaves
  nothing: the same incidents, aggregates and imports log, and no DuckDB generation file behind.
- PostgreSQL stopping in the middle of an import (a TCP proxy in front of the server, shut down
  with every live connection) leaves nothing either, and says the database is not answering.
- A database that refuses writes (PostgreSQL ``default_transaction_read_only``, a DuckDB folder
  that cannot be written) makes an import fail with a clear message and change nothing, while
  reading keeps working; the command line says the same in one line.
- An unreachable database (a closed port) fails an import at once with a clear message.
- :func:`engine.failure_kind` tells "not answering", "too slow" and "read-only" apart from a
  query's own errors.
"""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy as sa

from data_access import engine as eng
from data_access import load, schema
from data_access.importers import store
from tests.conftest import build_sample, throwaway_postgres
from tests.fault_support import (
    TcpProxy, closed_port, read_only_database, read_only_folder, server_of, street_csv, with_port,
)
from tests.integration.test_database import _incident_count


def snapshot(url: str) -> dict:
    """What an import could change: row counts of the written tables and the whole imports log."""
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                      for t in (schema.incidents, schema.agg_month_ward, schema.agg_month_lsoa,
                                schema.categories, schema.imports)}
            log = conn.execute(sa.select(schema.imports).order_by(schema.imports.c.import_id)).all()
    finally:
        engine.dispose()
    return {"counts": counts, "imports": [tuple(row) for row in log]}


def duckdb_files(url: str) -> list[str]:
    """The database's files and links (the writers' lock file aside)."""
    return sorted(p.name for p in eng.duckdb_path(url).parent.iterdir()
                  if not p.name.endswith(".lock"))


@pytest.fixture
def duck_copy(sample_db_url, tmp_path) -> str:
    """A private copy of the session's sample database (which stays read-only)."""
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), folder / "csp.duckdb")
    return f"duckdb:///{folder / 'csp.duckdb'}"


@pytest.fixture(scope="module")
def pg_sample():
    """The small sample in a throwaway PostgreSQL database (every test here leaves it as it was)."""
    with throwaway_postgres() as url:
        build_sample(url)
        yield url


class HalfWay(RuntimeError):
    pass


def fail_after_writing(monkeypatch) -> list[int]:
    """Make the police.uk import fail at its last step (rebuilding aggregates), once its rows
    are in the transaction; returns a list that receives the row count seen at that moment."""
    seen: list[int] = []
    real = store.rebuild_months

    def rebuild_then_fail(conn, months, progress=None):
        seen.append(conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)
                                 .where(schema.incidents.c.source == "police_uk")).scalar_one())
        real(conn, months, progress)
        raise HalfWay("import failed half-way")

    monkeypatch.setattr(store, "rebuild_months", rebuild_then_fail)
    return seen


# --- an import failing half-way ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_import_that_fails_half_way_leaves_nothing_behind(kind, request, tmp_path, monkeypatch):
    url = request.getfixturevalue("duck_copy" if kind == "duckdb" else "pg_sample")
    before = snapshot(url)
    generation = eng.database_generation(url)
    files = duckdb_files(url) if kind == "duckdb" else None
    seen = fail_after_writing(monkeypatch)

    with pytest.raises(HalfWay):
        load.run_import("police-uk", [street_csv(tmp_path / "2026-09-street.csv")], url=url,
                        loaded_by="test")

    assert seen == [30], "the rows were written inside the transaction before the failure"
    assert snapshot(url) == before
    assert eng.database_generation(url) == generation
    if kind == "duckdb":
        assert duckdb_files(url) == files, "the failed generation was left behind"


@pytest.mark.postgres
def test_postgres_stopping_during_an_import_leaves_nothing_and_says_so(pg_sample, tmp_path,
                                                                       monkeypatch):
    before = snapshot(pg_sample)
    with TcpProxy(server_of(pg_sample)) as proxy:
        url = with_port(pg_sample, proxy.port)
        real = store.rebuild_months

        def server_stops(conn, months, progress=None):
            proxy.stop()  # every connection dropped, as when the server shuts down
            real(conn, months, progress)

        monkeypatch.setattr(store, "rebuild_months", server_stops)
        with pytest.raises(eng.DatabaseUnavailable) as failure:
            load.run_import("police-uk", [street_csv(tmp_path / "street.csv")], url=url,
                            loaded_by="test")
    message = str(failure.value)
    assert "is not answering" in message and "nothing was changed" in message
    assert snapshot(pg_sample) == before


# --- a database that refuses writes ----------------------------------------------------------

@pytest.mark.postgres
def test_a_read_only_postgres_database_refuses_an_import_and_still_reads(pg_sample, tmp_path,
                                                                          capsys):
    before = snapshot(pg_sample)
    csv = street_csv(tmp_path / "street.csv")
    with read_only_database(pg_sample):
        with pytest.raises(eng.DatabaseReadOnly) as failure:
            load.run_import("police-uk", [csv], url=pg_sample, loaded_by="test")
        message = str(failure.value)
        assert "refuses writes" in message and "read-only transaction" in message
        assert "nothing was changed" in message
        assert _incident_count(pg_sample) == before["counts"]["incidents"]

        # The command line: exit status 1 and one clear line, no traceback.
        assert load.main(["police-uk", str(csv), "--database-url", pg_sample, "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "DatabaseReadOnly" in err and "refuses writes" in err
        assert "Traceback" not in err
    assert snapshot(pg_sample) == before


def test_a_read_only_duckdb_folder_refuses_an_import_and_still_reads(duck_copy, tmp_path):
    before = snapshot(duck_copy)
    files = duckdb_files(duck_copy)
    csv = street_csv(tmp_path / "street.csv")
    with read_only_folder(eng.duckdb_path(duck_copy).parent):
        with pytest.raises(eng.DatabaseReadOnly) as failure:
            load.run_import("police-uk", [csv], url=duck_copy, loaded_by="test")
        message = str(failure.value)
        assert "refuses writes" in message and "nothing was changed" in message
        assert duckdb_files(duck_copy) == files
        assert _incident_count(duck_copy) == before["counts"]["incidents"]
    assert snapshot(duck_copy) == before
    # Once the folder is writable again the same import goes through.
    summary = load.run_import("police-uk", [csv], url=duck_copy, loaded_by="test")
    assert summary.rows_added == 30


# --- an unreachable database -----------------------------------------------------------------

def test_an_import_into_an_unreachable_database_fails_at_once_and_clearly(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none"
    with pytest.raises(eng.DatabaseUnavailable) as failure:
        load.run_import("police-uk", [street_csv(tmp_path / "street.csv")], url=url,
                        loaded_by="test")
    message = str(failure.value)
    assert "is not answering" in message and "nothing was changed" in message
    assert "Connection refused" in message
    assert isinstance(failure.value.__cause__, sa.exc.OperationalError)


# --- telling database failures apart -------------------------------------------------------------

def error_of(url: str, sql: str, **options) -> BaseException:
    engine = eng.make_engine(url, poolclass=sa.pool.NullPool, **options)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{sql!r} did not fail")


def test_failure_kinds_without_a_server(duck_copy):
    refused = error_of(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x", "select 1")
    assert eng.failure_kind(refused) == eng.UNAVAILABLE
    assert eng.failure_kind(error_of(duck_copy, "select * from no_such_table")) is None
    assert eng.failure_kind(RuntimeError("boom")) is None
    assert eng.failure_kind(PermissionError(13, "Permission denied")) == eng.READ_ONLY
    wrapped = RuntimeError("page failed")
    wrapped.__cause__ = refused
    assert eng.failure_kind(wrapped) == eng.UNAVAILABLE


@pytest.mark.postgres
def test_failure_kinds_on_postgres(pg_sample):
    slow = error_of(pg_sample, "set statement_timeout = 50; select pg_sleep(2)")
    assert eng.failure_kind(slow) == eng.TIMEOUT
    read_only = error_of(pg_sample, "delete from events", read_only=True)
    assert eng.failure_kind(read_only) == eng.READ_ONLY
    assert eng.failure_kind(error_of(pg_sample, "select * from no_such_table")) is None
