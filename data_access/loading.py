"""Bulk writes: derived incident columns and fast inserts on DuckDB and PostgreSQL.

Derived columns (financial year, quarter, month, ISO week, weekday, grid cells) are computed once,
here, when incidents are loaded, so no page or query derives them per view. Inserts take the fast
path of each database (DuckDB reads the DataFrame directly; PostgreSQL uses COPY) and fall back to
SQLAlchemy ``executemany`` elsewhere. All functions take a Connection that is already inside the
caller's transaction, so a failure anywhere leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

import pandas as pd
import sqlalchemy as sa

from data_access import schema
from kpis.grid import CELL_SIZES_M, cell_ids
from kpis.periods import derive_period_columns

Progress = Callable[[int, int, str], None]

INCIDENT_INPUT_COLUMNS = (
    "incident_id", "source", "source_ref", "category", "subcategory", "incident_date",
    "date_precision", "hour", "longitude", "latitude", "location_text", "lsoa_code", "ward_code",
    "lcsp_code", "is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat",
)
_FLAG_COLUMNS = ("is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat")


def prepare_incidents(frame: pd.DataFrame, import_id: int | None = None) -> pd.DataFrame:
    """Incident rows with every schema column, derived columns computed in bulk."""
    missing = [c for c in ("incident_id", "source", "category", "incident_date") if c not in frame]
    if missing:
        raise ValueError(f"incident frame lacks columns: {', '.join(missing)}")
    out = pd.DataFrame(index=frame.index)
    for col in INCIDENT_INPUT_COLUMNS:
        out[col] = frame[col] if col in frame else None
    out["incident_date"] = pd.to_datetime(out["incident_date"]).dt.normalize()
    out["subcategory"] = out["subcategory"].fillna("").astype(str)
    out["date_precision"] = out["date_precision"].fillna("day")
    out["hour"] = pd.array(out["hour"], dtype="Int16")
    for flag in _FLAG_COLUMNS:
        out[flag] = out[flag].fillna(False).astype(bool)
    out["longitude"] = pd.to_numeric(out["longitude"], errors="coerce").astype("float64")
    out["latitude"] = pd.to_numeric(out["latitude"], errors="coerce").astype("float64")
    periods = derive_period_columns(out["incident_date"])
    for col in periods:
        out[col] = periods[col]
    out["month_start"] = pd.to_datetime(out["month_start"])
    lon, lat = out["longitude"].to_numpy(), out["latitude"].to_numpy()
    for size in CELL_SIZES_M:
        out[f"cell_{size}"] = pd.array(cell_ids(lon, lat, size), dtype="Int64")
    out["import_id"] = import_id
    out["import_id"] = pd.array(out["import_id"], dtype="Int64")
    return out[[c.name for c in schema.incidents.columns]]


def bulk_insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named as ``table``'s); returns the row count."""
    if frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame[columns]
    dialect = conn.dialect.name
    if dialect == "duckdb":
        raw = conn.connection.driver_connection
        view = f"_bulk_{table.name}"
        raw.register(view, frame)
        try:
            col_list = ", ".join(f'"{c}"' for c in columns)
            # Names come from the schema, never from input; the rows travel as a registered frame.
            raw.execute(f'INSERT INTO "{table.name}" ({col_list}) SELECT {col_list} FROM "{view}"')
        finally:
            raw.unregister(view)
        return len(frame)
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        col_list = ", ".join(f'"{c}"' for c in columns)
        # Rows travel as values, not as CSV text for the server to split: psycopg writes COPY's
        # text format itself, escaping every backslash, tab and line break and sending None as
        # NULL, so any string (one holding a lone carriage return, or exactly "\N") arrives
        # exactly as it was. Names come from the schema, never from input.
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({col_list}) FROM STDIN') as copy:
                for row in _copy_rows(table, frame):
                    copy.write_row(row)
        return len(frame)
    records = _records(frame)
    conn.execute(table.insert(), records)
    return len(records)


def _copy_rows(table: sa.Table, frame: pd.DataFrame) -> Iterator[tuple]:
    """The rows of ``frame`` as tuples of plain Python values (None where missing)."""
    return zip(*(_copy_values(frame[c], table.c[c]) for c in frame.columns))


def _copy_values(series: pd.Series, column: sa.Column) -> list:
    """One column as Python values for COPY: None for every kind of missing value, dates as
    dates, numbers and flags as Python numbers and bools."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.dt.date if isinstance(column.type, sa.Date) else series
    else:
        values = series
    return values.astype(object).where(series.notna(), None).tolist()


def _records(frame: pd.DataFrame) -> list[dict]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")


def insert_incidents(
    conn: sa.Connection,
    frames: Iterable[pd.DataFrame],
    *,
    import_id: int | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> tuple[int, dt.date | None, dt.date | None]:
    """Derive and insert incident frames; returns (rows, first month, last month)."""
    rows, first, last = 0, None, None
    for i, frame in enumerate(frames, start=1):
        prepared = prepare_incidents(frame, import_id)
        rows += bulk_insert(conn, schema.incidents, prepared)
        if len(prepared):
            lo = prepared["month_start"].min().date()
            hi = prepared["month_start"].max().date()
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
        if progress:
            progress(i, total or i, f"incidents loaded: {rows:,}")
    return rows, first, last


def next_id(conn: sa.Connection, column: sa.Column) -> int:
    """One more than the largest value in an integer id column (ids are given, not generated)."""
    current = conn.execute(sa.select(sa.func.max(column))).scalar()
    return int(current or 0) + 1


def log_import(conn: sa.Connection, **values) -> int:
    """Record an import in the ``imports`` table and return its id."""
    import_id = values.pop("import_id", None) or next_id(conn, schema.imports.c.import_id)
    values.setdefault("loaded_at", dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    conn.execute(schema.imports.insert().values(import_id=import_id, **values))
    return import_id
