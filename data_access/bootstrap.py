"""Creating and filling a database: schema (Alembic) plus a dataset, in one write transaction.

``data_access`` never imports ``sample_data``: the caller (the app, or a command) hands over a
zero-argument function that builds a dataset, which is any object with ``tables`` (a dict of table
name -> DataFrame) and ``incident_frames()`` (an iterator of incident DataFrames).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

import pandas as pd
import sqlalchemy as sa

from data_access import engine as eng
from data_access import schema
from data_access.aggregates import rebuild_aggregates
from data_access.loading import bulk_insert, insert_incidents, log_import
from data_access.migrate import upgrade

Progress = Callable[[int, int, str], None]

# Tables a dataset may carry, in an order that respects references between them.
DATASET_TABLES = (
    "dataset_info", "areas", "area_membership", "categories", "events", "overlays",
    "kpi_definitions", "kpi_values", "actions", "fund_years", "fund_projects", "fund_allocations",
    "fund_spend", "fund_returns", "source_months",
)


class Dataset(Protocol):
    """What a dataset builder returns."""

    tables: dict[str, pd.DataFrame]

    def incident_frames(self): ...

    def incident_frame_count(self) -> int: ...


def has_data(url: str) -> bool:
    """True when the database exists with the schema and holds areas or any imported data.

    Imports count too: a database that so far holds only an imported police.uk file must never
    be mistaken for an empty one and rebuilt with sample data.
    """
    if not eng.database_exists(url):
        return False
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table("areas"):
                return False
            for table in (schema.areas, schema.imports):
                if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() > 0:
                    return True
            return False
    finally:
        engine.dispose()


def load_dataset(
    conn: sa.Connection, dataset: Dataset, *, progress: Progress | None = None, loaded_by: str = "system"
) -> dict[str, int]:
    """Write every table of ``dataset`` and its incidents, then build the aggregates."""
    counts: dict[str, int] = {}
    total_steps = dataset.incident_frame_count() + 6
    for name in DATASET_TABLES:
        frame = dataset.tables.get(name)
        if frame is not None and len(frame):
            counts[name] = bulk_insert(conn, schema.metadata.tables[name], frame)
    import_id = log_import(
        conn, kind="sample", source="sample_data", file_name="generated sample dataset",
        loaded_by=loaded_by,
    )

    def incident_progress(done: int, _total: int, message: str) -> None:
        if progress:
            progress(done, total_steps, message)

    rows, first, last = insert_incidents(
        conn, dataset.incident_frames(), import_id=import_id, progress=incident_progress,
        total=total_steps,
    )
    counts["incidents"] = rows
    done_before = dataset.incident_frame_count()

    def aggregate_progress(step: int, _total: int, message: str) -> None:
        if progress:
            progress(done_before + step, total_steps, message)

    counts.update(rebuild_aggregates(conn, progress=aggregate_progress))
    conn.execute(
        schema.imports.update().where(schema.imports.c.import_id == import_id).values(
            rows_read=rows, rows_added=rows, period_from=first, period_to=last,
        )
    )
    if progress:
        progress(total_steps, total_steps, "database ready")
    return counts


def build_database(
    url: str,
    make_dataset: Callable[[], Dataset],
    *,
    progress: Progress | None = None,
    only_if_missing: bool = True,
) -> bool:
    """Create the schema and fill the database from ``make_dataset()``; True when it built one.

    With ``only_if_missing`` a database that already has data is left alone; concurrent callers
    (several sessions opening a fresh app) build it once.
    """
    lock = contextlib.nullcontext()
    if eng.is_duckdb(url):
        link = eng.duckdb_path(url)
        lock = eng.file_lock(link.with_name(link.name + ".bootstrap.lock"))
    with lock:
        if only_if_missing and has_data(url):
            return False
        dataset = make_dataset()
        with eng.write_transaction(url, fresh=eng.is_duckdb(url)) as conn:
            upgrade(conn)
            if not eng.is_duckdb(url):
                # A server database is rebuilt in place, still inside the one transaction.
                for table in reversed(schema.metadata.sorted_tables):
                    conn.execute(sa.delete(table))
            load_dataset(conn, dataset, progress=progress)
        return True
