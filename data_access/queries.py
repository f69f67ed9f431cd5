"""Queries for the app frame (filters, freshness), the Overview and the Data status pages.

Every function takes the engine first and returns a small frame or value; the database does the
aggregating, on the ``agg_*`` tables (only the data status page counts whole tables). Statements
are parameterised SQLAlchemy Core that runs the same on DuckDB and PostgreSQL. Pages call these
through :func:`data_access.connection.cached`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.frames import read_frame
from data_access.migrate import head_revision

mw = schema.agg_month_ward
dw = schema.agg_day_ward
areas = schema.areas
membership = schema.area_membership

_FLAG_COLUMNS = schema.FLAG_COUNTS


def _as_date(value: Any) -> dt.date | None:
    if value is None or (not isinstance(value, dt.date) and pd.isna(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def _area_filter(table: sa.Table, lcsp: str | None, ward: str | None) -> list[sa.ColumnElement]:
    # A ward is compared with itself whichever LCSP it belonged to a year earlier; an LCSP means
    # its wards as grouped at each incident's date (the lcsp_code stored with the incident).
    if ward:
        return [table.c.ward_code == ward]
    if lcsp:
        return [table.c.lcsp_code == lcsp]
    return []


# --- the app frame -----------------------------------------------------------------------

def load_data_range(engine: sa.Engine) -> dict[str, dt.date | None]:
    """The span of incident data: keys first_month, last_month (first days of months) and
    last_day (the latest dated incident, or the end of the last month when none is dated);
    all None when no incidents are loaded.
    """
    with engine.connect() as conn:
        first, last = conn.execute(
            sa.select(sa.func.min(mw.c.month_start), sa.func.max(mw.c.month_start))
        ).one()
        last_day = conn.execute(sa.select(sa.func.max(dw.c.incident_date))).scalar_one()
    first, last, last_day = _as_date(first), _as_date(last), _as_date(last_day)
    if last is not None:
        # A monthly-only source (police.uk) counts the whole of its last month.
        if last_day is None or last_day < last:
            next_month = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            last_day = next_month - dt.timedelta(days=1)
    return {"first_month": first, "last_month": last, "last_day": last_day}


def load_areas(engine: sa.Engine) -> pd.DataFrame:
    """Partnership, LCSPs and wards: columns code, name, level, parent_code, population."""
    statement = (
        sa.select(areas.c.code, areas.c.name, areas.c.level, areas.c.parent_code,
                  areas.c.population)
        .where(areas.c.level.in_(("partnership", "lcsp", "ward")))
        .order_by(areas.c.level, areas.c.name)
    )
    return read_frame(engine, statement)


def load_ward_membership(engine: sa.Engine, fy_start: int) -> pd.DataFrame:
    """Wards and the LCSP each belonged to in financial year ``fy_start``.

    Columns ward_code, ward_name, lcsp_code, lcsp_name, population (the ward's residents).
    """
    ward = areas.alias("ward")
    lcsp = areas.alias("lcsp")
    statement = (
        sa.select(
            ward.c.code.label("ward_code"), ward.c.name.label("ward_name"),
            lcsp.c.code.label("lcsp_code"), lcsp.c.name.label("lcsp_name"),
            ward.c.population,
        )
        .select_from(
            membership.join(ward, ward.c.code == membership.c.child_code)
            .join(lcsp, lcsp.c.code == membership.c.parent_code)
        )
        .where(
            ward.c.level == "ward", lcsp.c.level == "lcsp",
            membership.c.fy_from <= fy_start,
            sa.or_(membership.c.fy_to.is_(None), membership.c.fy_to >= fy_start),
        )
        .order_by(lcsp.c.name, ward.c.name)
    )
    return read_frame(engine, statement)


def load_dataset_info(engine: sa.Engine) -> dict[str, str]:
    """The dataset_info key/value pairs (e.g. name, synthetic, seed)."""
    t = schema.dataset_info
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(sa.select(t.c.key, t.c.value)).all()}


def load_imports(engine: sa.Engine, limit: int = 10) -> pd.DataFrame:
    """The latest ``limit`` imports, newest first: columns import_id, kind, source, file_name,
    loaded_by, loaded_at, rows_read, rows_added, rows_replaced, rows_rejected, period_from,
    period_to.
    """
    t = schema.imports
    statement = (
        sa.select(t.c.import_id, t.c.kind, t.c.source, t.c.file_name, t.c.loaded_by,
                  t.c.loaded_at, t.c.rows_read, t.c.rows_added, t.c.rows_replaced,
                  t.c.rows_rejected, t.c.period_from, t.c.period_to)
        .order_by(t.c.loaded_at.desc(), t.c.import_id.desc())
        .limit(limit)
    )
    return read_frame(engine, statement)


# --- the Overview ------------------------------------------------------------------------

def load_category_months(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    lcsp: str | None = None,
    ward: str | None = None,
) -> pd.DataFrame:
    """Incidents by month, source and category for months in [month_from, month_to] and an area.

    Columns month_start, source, category, n and the flag counts n_domestic_abuse, n_vawg,
    n_alcohol, n_weapon, n_hate, n_repeat. A few hundred rows per year.
    """
    flags = [sa.func.sum(mw.c[f]).label(f) for f in _FLAG_COLUMNS]
    statement = (
        sa.select(mw.c.month_start, mw.c.source, mw.c.category, sa.func.sum(mw.c.n).label("n"),
                  *flags)
        .where(mw.c.month_start >= month_from, mw.c.month_start <= month_to,
               *_area_filter(mw, lcsp, ward))
        .group_by(mw.c.month_start, mw.c.source, mw.c.category)
        .order_by(mw.c.month_start, mw.c.source, mw.c.category)
    )
    frame = read_frame(engine, statement)
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    for column in ("n", *_FLAG_COLUMNS):
        frame[column] = frame[column].astype("int64")
    return frame


def load_area_category_totals(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    level: str,
    wards: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Incidents by area, source and category for months in [month_from, month_to].

    ``level`` "lcsp" groups by LCSP (the LCSP of the ward at the incident date); "ward" groups
    by ward, only the ``wards`` given when not None. Columns area_code ("" = not located),
    source, category, n and the flag counts n_domestic_abuse ... n_repeat.
    """
    if level not in ("lcsp", "ward"):
        raise ValueError(f"level must be 'lcsp' or 'ward', not {level!r}")
    code = mw.c.lcsp_code if level == "lcsp" else mw.c.ward_code
    where = [mw.c.month_start >= month_from, mw.c.month_start <= month_to]
    if level == "ward" and wards is not None:
        where.append(mw.c.ward_code.in_(sa.bindparam("wards", tuple(wards), expanding=True)))
    flags = [sa.func.sum(mw.c[f]).label(f) for f in _FLAG_COLUMNS]
    statement = (
        sa.select(code.label("area_code"), mw.c.source, mw.c.category,
                  sa.func.sum(mw.c.n).label("n"), *flags)
        .where(*where)
        .group_by(code, mw.c.source, mw.c.category)
        .order_by(code, mw.c.source, mw.c.category)
    )
    frame = read_frame(engine, statement)
    for column in ("n", *_FLAG_COLUMNS):
        frame[column] = frame[column].astype("int64")
    return frame


# --- the Data status page ----------------------------------------------------------------

def load_source_months(engine: sa.Engine) -> pd.DataFrame:
    """Incidents by source and month over all data: columns source, month_start, n."""
    statement = (
        sa.select(mw.c.source, mw.c.month_start, sa.func.sum(mw.c.n).label("n"))
        .group_by(mw.c.source, mw.c.month_start)
        .order_by(mw.c.source, mw.c.month_start)
    )
    frame = read_frame(engine, statement)
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    frame["n"] = frame["n"].astype("int64")
    return frame


def load_incomplete_months(engine: sa.Engine) -> pd.DataFrame:
    """Months a source flagged as incomplete: columns source, month_start, note."""
    t = schema.source_months
    statement = (
        sa.select(t.c.source, t.c.month_start, t.c.note)
        .where(t.c.is_complete.is_(False))
        .order_by(t.c.source, t.c.month_start)
    )
    frame = read_frame(engine, statement)
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    return frame


def load_table_counts(engine: sa.Engine) -> pd.DataFrame:
    """Rows in every table of the schema: columns table, rows (one UNION ALL query)."""
    selects = [
        sa.select(
            sa.literal(table.name, sa.String, literal_execute=True).label("table"),
            sa.func.count().label("rows"),
        ).select_from(table)
        for table in schema.metadata.sorted_tables
    ]
    frame = read_frame(engine, sa.union_all(*selects))
    frame["rows"] = frame["rows"].astype("int64")
    return frame.sort_values("table").reset_index(drop=True)


def load_schema_revision(engine: sa.Engine) -> dict[str, str | None]:
    """The database's schema revision and the newest this code knows: keys current, head."""
    # Read alembic_version directly: migrate.current_revision needs Alembic's DuckDB dialect
    # registration, which only the migration environment loads.
    version = sa.table("alembic_version", sa.column("version_num"))
    with engine.connect() as conn:
        current = None
        if sa.inspect(conn).has_table("alembic_version"):
            current = conn.execute(sa.select(version.c.version_num)).scalar()
    return {"current": current, "head": head_revision()}


def load_latest_imports_by_source(engine: sa.Engine) -> pd.DataFrame:
    """The newest import of each source (kind and source as logged): columns source, kind,
    file_name, loaded_by, loaded_at, period_from, period_to. Imports with no source (areas,
    boundaries, KPI returns) are grouped under source None."""
    t = schema.imports
    rank = sa.func.row_number().over(
        partition_by=t.c.source, order_by=(t.c.loaded_at.desc(), t.c.import_id.desc())
    ).label("rank")
    ranked = sa.select(t.c.source, t.c.kind, t.c.file_name, t.c.loaded_by, t.c.loaded_at,
                       t.c.period_from, t.c.period_to, rank).subquery()
    statement = (
        sa.select(*[c for c in ranked.c if c.name != "rank"])
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.source)
    )
    return read_frame(engine, statement)


def load_lsoa_spans(engine: sa.Engine) -> pd.DataFrame:
    """Each LSOA code of each source: the first and last month it has incidents, how many, and
    whether the partnership's lookup places it in a ward. Columns source, lsoa_code,
    first_month, last_month, n, in_lookup. A few thousand rows; used to find series breaks (a
    change of LSOA boundaries shows as codes that stop and others that start)."""
    ml = schema.agg_month_lsoa
    statement = (
        sa.select(ml.c.source, ml.c.lsoa_code,
                  sa.func.min(ml.c.month_start).label("first_month"),
                  sa.func.max(ml.c.month_start).label("last_month"),
                  sa.func.sum(ml.c.n).label("n"),
                  sa.func.max(ml.c.ward_code).label("ward_code"))
        .where(ml.c.lsoa_code != "")
        .group_by(ml.c.source, ml.c.lsoa_code)
        .order_by(ml.c.source, ml.c.lsoa_code)
    )
    frame = read_frame(engine, statement)
    for column in ("first_month", "last_month"):
        frame[column] = pd.to_datetime(frame[column])
    frame["n"] = pd.to_numeric(frame["n"]).astype("int64")
    # Unmatched LSOAs carry "" as their ward in the aggregates.
    frame["in_lookup"] = frame.pop("ward_code").fillna("") != ""
    return frame


def load_boundary_sources(engine: sa.Engine) -> pd.DataFrame:
    """Where each level's areas came from: columns level, boundary_source, areas."""
    statement = (
        sa.select(areas.c.level, areas.c.boundary_source, sa.func.count().label("areas"))
        .group_by(areas.c.level, areas.c.boundary_source)
        .order_by(areas.c.level, areas.c.boundary_source)
    )
    frame = read_frame(engine, statement)
    frame["areas"] = frame["areas"].astype("int64")
    return frame
