"""Queries for the hotspot map: grid cells, area choropleths, boundaries, repeat locations, overlays.

Every function takes the engine first and returns a small frame; the database aggregates (sums
over months and categories happen in SQL), reading the ``agg_*`` tables. Statements are
parameterised SQLAlchemy Core that runs the same on DuckDB and PostgreSQL. Pages call these
through :func:`data_access.connection.cached`.

Common parameters: ``month_from`` / ``month_to`` are first days of months, inclusive;
``sources``, ``categories``, ``subcategories`` restrict to those values (None = all); ``lcsp``
restricts to one LCSP.

Data protection: grid cells, cell drill-downs and locations never include a category flagged
``is_sensitive`` in ``categories`` (sexual offences, modern slavery, ...): those are shown at
area level only, where the page suppresses small counts (:mod:`kpis.disclosure`).

Repeat locations need ``location_text``, which only ``incidents`` carries. Until an aggregate
``agg_location_month`` (month_start, source, category, subcategory, location_text, lsoa_code,
ward_code, lcsp_code, cell_250, n) exists, :func:`load_location_distribution` and
:func:`load_top_locations` group ``incidents`` in SQL and return a small result (a frequency
table, or a LIMITed top list); they are the two functions to switch to that table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.frames import read_frame
from kpis.grid import CELL_SIZES_M
from kpis.hotspots import cells_in_area

cm = schema.agg_cell_month
ml = schema.agg_month_lsoa
mw = schema.agg_month_ward
inc = schema.incidents
areas = schema.areas
cats = schema.categories

CHOROPLETH_LEVELS = ("lsoa", "ward", "lcsp")
UNLOCATED = ""  # code stored in the aggregates for incidents without a location


def _as_dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    # DuckDB returns datetime.date, PostgreSQL too; normalise to Timestamp for both.
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def _selection(
    table: sa.Table,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None,
    categories: Sequence[str] | None,
    subcategories: Sequence[str] | None,
    lcsp: str | None = None,
) -> list[sa.ColumnElement]:
    where = [table.c.month_start >= month_from, table.c.month_start <= month_to]
    if sources:
        where.append(table.c.source.in_(list(sources)))
    if categories:
        where.append(table.c.category.in_(list(categories)))
    if subcategories:
        where.append(table.c.subcategory.in_(list(subcategories)))
    if lcsp:
        where.append(table.c.lcsp_code == lcsp)
    return where


def _mappable(table: sa.Table) -> sa.ColumnElement:
    """Incidents that may be shown by cell: domestic-abuse-flagged ones never are.

    Domestic abuse is a flag on otherwise ordinary categories (violence, stalking), so excluding
    sensitive categories alone would still place it on the map; it is subtracted here and shown
    only at area level.
    """
    return table.c.n - table.c.n_domestic_abuse


def _not_sensitive(table: sa.Table) -> sa.ColumnElement:
    """Rows whose (source, category) is not flagged sensitive in ``categories``."""
    return ~sa.exists().where(
        cats.c.source == table.c.source,
        cats.c.category == table.c.category,
        cats.c.is_sensitive.is_(True),
    )


# --- reference ------------------------------------------------------------------------------


def load_hotspot_categories(engine: sa.Engine) -> pd.DataFrame:
    """Categories: columns source, category, label, is_asb, is_sensitive, sort_order."""
    statement = sa.select(
        cats.c.source, cats.c.category, cats.c.label, cats.c.is_asb, cats.c.is_sensitive,
        cats.c.sort_order,
    ).order_by(cats.c.sort_order, cats.c.source, cats.c.category)
    frame = read_frame(engine, statement)
    return frame.astype({"is_asb": bool, "is_sensitive": bool})


def load_subcategories(engine: sa.Engine) -> pd.DataFrame:
    """Subcategories present in the data (ASB types): columns source, category, subcategory."""
    statement = (
        sa.select(mw.c.source, mw.c.category, mw.c.subcategory)
        .where(mw.c.subcategory != "")
        .distinct()
        .order_by(mw.c.source, mw.c.category, mw.c.subcategory)
    )
    return read_frame(engine, statement)


# --- grid cells -----------------------------------------------------------------------------


def load_cell_counts(
    engine: sa.Engine,
    cell_size: int,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> pd.DataFrame:
    """Incidents per grid cell of ``cell_size`` metres: columns cell_id, n (sensitive excluded)."""
    if cell_size not in CELL_SIZES_M:
        raise ValueError(f"cell size must be one of {CELL_SIZES_M} metres, not {cell_size!r}")
    statement = (
        sa.select(cm.c.cell_id, sa.func.sum(_mappable(cm)).label("n"))
        .where(
            cm.c.cell_size == cell_size,
            *_selection(cm, month_from, month_to, sources, categories, subcategories, lcsp),
            _not_sensitive(cm),
            _mappable(cm) > 0,
        )
        .group_by(cm.c.cell_id)
        .order_by(cm.c.cell_id)
    )
    frame = read_frame(engine, statement)
    return frame.astype({"cell_id": "int64", "n": "int64"})


def load_cells_per_size(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> pd.DataFrame:
    """How many cells each grid size would draw: columns cell_size, cells, n (sensitive excluded)."""
    statement = (
        sa.select(
            cm.c.cell_size,
            sa.func.count(sa.distinct(cm.c.cell_id)).label("cells"),
            sa.func.sum(_mappable(cm)).label("n"),
        )
        .where(
            *_selection(cm, month_from, month_to, sources, categories, subcategories, lcsp),
            _not_sensitive(cm),
            _mappable(cm) > 0,
        )
        .group_by(cm.c.cell_size)
        .order_by(cm.c.cell_size)
    )
    frame = read_frame(engine, statement)
    return frame.astype({"cell_size": "int64", "cells": "int64", "n": "int64"})


def load_cell_detail(
    engine: sa.Engine,
    cell_size: int,
    cell_id: int,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> pd.DataFrame:
    """One cell's incidents by month and category: columns month_start, source, category, n."""
    statement = (
        sa.select(cm.c.month_start, cm.c.source, cm.c.category,
                  sa.func.sum(_mappable(cm)).label("n"))
        .where(
            cm.c.cell_size == cell_size,
            cm.c.cell_id == int(cell_id),
            *_selection(cm, month_from, month_to, sources, categories, subcategories, lcsp),
            _not_sensitive(cm),
            _mappable(cm) > 0,
        )
        .group_by(cm.c.month_start, cm.c.source, cm.c.category)
        .order_by(cm.c.month_start, cm.c.source, cm.c.category)
    )
    return _as_dates(read_frame(engine, statement), "month_start")


def area_cell_ids(engine: sa.Engine, area_code: str, cell_size: int) -> pd.DataFrame:
    """Every grid cell of an area (centre inside its boundary): column cell_id.

    These are the cells over which the Hotspot Index mean is taken (empty cells included); an
    area without a boundary gives no rows and the index falls back to non-empty cells.
    """
    statement = sa.select(areas.c.boundary_geojson).where(areas.c.code == area_code)
    with engine.connect() as conn:
        boundary = conn.execute(statement).scalar_one_or_none()
    ids = cells_in_area([boundary], cell_size) if boundary else []
    return pd.DataFrame({"cell_id": pd.Series(ids, dtype="int64")})


# --- areas ----------------------------------------------------------------------------------


def _area_list(level: str, lcsp: str | None) -> sa.Select:
    """Areas of ``level`` as currently drawn, optionally only those in (or equal to) ``lcsp``."""
    where = [areas.c.level == level]
    if lcsp:
        if level == "lcsp":
            where.append(areas.c.code == lcsp)
        elif level == "ward":
            where.append(areas.c.parent_code == lcsp)
        else:
            ward = areas.alias("parent_ward")
            where.append(
                areas.c.parent_code.in_(
                    sa.select(ward.c.code).where(ward.c.level == "ward", ward.c.parent_code == lcsp)
                )
            )
    return sa.select(areas.c.code).where(*where)


def load_area_counts(
    engine: sa.Engine,
    level: str,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> pd.DataFrame:
    """Incidents per area of ``level`` (lsoa, ward or lcsp), every area listed (zero when none).

    Columns code, name, parent_code, population, n. Areas are as currently drawn: an LCSP's
    count is the sum over the wards it holds now, so the number matches the polygon on the map
    even for years when wards were grouped differently; ``lcsp`` keeps the areas inside it.
    Sensitive categories are included: the page suppresses small counts.
    """
    if level not in CHOROPLETH_LEVELS:
        raise ValueError(f"level must be one of {CHOROPLETH_LEVELS}, not {level!r}")
    if level == "lsoa":
        counts = (
            sa.select(ml.c.lsoa_code.label("code"), sa.func.sum(ml.c.n).label("n"))
            .where(*_selection(ml, month_from, month_to, sources, categories, subcategories))
            .group_by(ml.c.lsoa_code)
        )
    elif level == "ward":
        counts = (
            sa.select(mw.c.ward_code.label("code"), sa.func.sum(mw.c.n).label("n"))
            .where(*_selection(mw, month_from, month_to, sources, categories, subcategories))
            .group_by(mw.c.ward_code)
        )
    else:
        ward = areas.alias("ward_now")
        counts = (
            sa.select(ward.c.parent_code.label("code"), sa.func.sum(mw.c.n).label("n"))
            .select_from(mw.join(ward, sa.and_(ward.c.code == mw.c.ward_code, ward.c.level == "ward")))
            .where(*_selection(mw, month_from, month_to, sources, categories, subcategories))
            .group_by(ward.c.parent_code)
        )
    counts = counts.subquery("counts")
    statement = (
        sa.select(
            areas.c.code, areas.c.name, areas.c.parent_code, areas.c.population,
            sa.func.coalesce(counts.c.n, 0).label("n"),
        )
        .select_from(areas.outerjoin(counts, counts.c.code == areas.c.code))
        .where(areas.c.code.in_(_area_list(level, lcsp)))
        .order_by(areas.c.code)
    )
    frame = read_frame(engine, statement)
    frame["n"] = frame["n"].astype("int64")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce")
    return frame


def load_selection_total(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> dict[str, int]:
    """All incidents in the selection and those without a location (not on any map): keys n, unlocated."""
    statement = sa.select(
        sa.func.coalesce(sa.func.sum(mw.c.n), 0),
        sa.func.coalesce(
            sa.func.sum(sa.case((mw.c.ward_code == UNLOCATED, mw.c.n), else_=0)), 0
        ),
    ).where(*_selection(mw, month_from, month_to, sources, categories, subcategories, lcsp))
    with engine.connect() as conn:
        total, unlocated = conn.execute(statement).one()
    return {"n": int(total), "unlocated": int(unlocated)}


def load_area_detail(
    engine: sa.Engine,
    level: str,
    code: str,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One area's incidents by month and category: columns month_start, source, category, n.

    Sensitive categories are included (the page suppresses small counts).
    """
    if level not in CHOROPLETH_LEVELS:
        raise ValueError(f"level must be one of {CHOROPLETH_LEVELS}, not {level!r}")
    table = ml if level == "lsoa" else mw
    where = _selection(table, month_from, month_to, sources, categories, subcategories)
    if level == "lsoa":
        where.append(ml.c.lsoa_code == code)
    elif level == "ward":
        where.append(mw.c.ward_code == code)
    else:
        where.append(mw.c.ward_code.in_(
            sa.select(areas.c.code).where(areas.c.level == "ward", areas.c.parent_code == code)
        ))
    statement = (
        sa.select(table.c.month_start, table.c.source, table.c.category,
                  sa.func.sum(table.c.n).label("n"))
        .where(*where)
        .group_by(table.c.month_start, table.c.source, table.c.category)
        .order_by(table.c.month_start, table.c.source, table.c.category)
    )
    return _as_dates(read_frame(engine, statement), "month_start")


def load_boundaries(engine: sa.Engine, level: str, lcsp: str | None = None) -> pd.DataFrame:
    """Areas of ``level`` with their boundaries: columns code, name, parent_code, population,
    centroid_lon, centroid_lat, boundary_geojson (WGS84 geometry text), boundary_source.
    """
    if level not in (*CHOROPLETH_LEVELS, "partnership"):
        raise ValueError(f"unknown area level {level!r}")
    statement = (
        sa.select(
            areas.c.code, areas.c.name, areas.c.parent_code, areas.c.population,
            areas.c.centroid_lon, areas.c.centroid_lat, areas.c.boundary_geojson,
            areas.c.boundary_source,
        )
        .where(areas.c.code.in_(_area_list(level, lcsp)))
        .order_by(areas.c.code)
    )
    return read_frame(engine, statement)


# --- repeat locations (from incidents until agg_location_month exists: see module docstring) --


def _location_where(
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None,
    categories: Sequence[str] | None,
    subcategories: Sequence[str] | None,
    lcsp: str | None,
) -> list[sa.ColumnElement]:
    where = [
        inc.c.month_start >= month_from, inc.c.month_start <= month_to,
        inc.c.location_text.is_not(None), inc.c.location_text != "",
        _not_sensitive(inc),
        inc.c.is_domestic_abuse.is_(False),  # never placed at a location (see _mappable)
    ]
    if sources:
        where.append(inc.c.source.in_(list(sources)))
    if categories:
        where.append(inc.c.category.in_(list(categories)))
    if subcategories:
        where.append(sa.func.coalesce(inc.c.subcategory, "").in_(list(subcategories)))
    if lcsp:
        where.append(inc.c.lcsp_code == lcsp)
    return where


def load_location_distribution(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
) -> pd.DataFrame:
    """How many locations had n incidents: columns n, locations (busiest first).

    A location is a location text within an LSOA (police.uk's "On or near X" names many
    points). Enough to draw the exact concentration curve without one row per location.
    """
    per_location = (
        sa.select(sa.func.count().label("n"))
        .where(*_location_where(month_from, month_to, sources, categories, subcategories, lcsp))
        .group_by(inc.c.location_text, inc.c.lsoa_code)
        .subquery("per_location")
    )
    statement = (
        sa.select(per_location.c.n, sa.func.count().label("locations"))
        .group_by(per_location.c.n)
        .order_by(per_location.c.n.desc())
    )
    frame = read_frame(engine, statement)
    return frame.astype({"n": "int64", "locations": "int64"})


def load_top_locations(
    engine: sa.Engine,
    month_from: dt.date,
    month_to: dt.date,
    sources: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    lcsp: str | None = None,
    limit: int = 20,
    cell_size: int | None = None,
    cell_id: int | None = None,
    area_level: str | None = None,
    area_code: str | None = None,
) -> pd.DataFrame:
    """The ``limit`` locations with most incidents, busiest first.

    Columns location, lsoa_code, ward_code, n, longitude, latitude (mean position of the
    location's incidents). Optionally within one grid cell or one area (lsoa, ward or lcsp).
    """
    where = _location_where(month_from, month_to, sources, categories, subcategories, lcsp)
    if cell_size is not None and cell_id is not None:
        if cell_size not in CELL_SIZES_M:
            raise ValueError(f"cell size must be one of {CELL_SIZES_M} metres, not {cell_size!r}")
        where.append(inc.c[f"cell_{cell_size}"] == int(cell_id))
    if area_level and area_code:
        column = {"lsoa": inc.c.lsoa_code, "ward": inc.c.ward_code, "lcsp": inc.c.lcsp_code}.get(area_level)
        if column is None:
            raise ValueError(f"unknown area level {area_level!r}")
        where.append(column == area_code)
    statement = (
        sa.select(
            inc.c.location_text.label("location"), inc.c.lsoa_code,
            sa.func.min(inc.c.ward_code).label("ward_code"),
            sa.func.count().label("n"),
            sa.func.avg(inc.c.longitude).label("longitude"),
            sa.func.avg(inc.c.latitude).label("latitude"),
        )
        .where(*where)
        .group_by(inc.c.location_text, inc.c.lsoa_code)
        .order_by(sa.func.count().desc(), inc.c.location_text, inc.c.lsoa_code)
        .limit(int(limit))
    )
    frame = read_frame(engine, statement)
    frame["n"] = frame["n"].astype("int64")
    for column in ("longitude", "latitude"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


# --- overlays -------------------------------------------------------------------------------


def load_overlays(
    engine: sa.Engine,
    month_from: dt.date | None = None,
    month_to: dt.date | None = None,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Map overlays (PSPO areas, CCTV cameras, knife-arch sites) in force at some time in the period.

    Columns overlay_id, kind, name, longitude, latitude, geometry_geojson, valid_from, valid_to.
    """
    o = schema.overlays
    where = []
    if kinds:
        where.append(o.c.kind.in_(list(kinds)))
    if month_to is not None:
        where.append(sa.or_(o.c.valid_from.is_(None), o.c.valid_from <= _month_end(month_to)))
    if month_from is not None:
        where.append(sa.or_(o.c.valid_to.is_(None), o.c.valid_to >= month_from))
    statement = (
        sa.select(o.c.overlay_id, o.c.kind, o.c.name, o.c.longitude, o.c.latitude,
                  o.c.geometry_geojson, o.c.valid_from, o.c.valid_to)
        .where(*where)
        .order_by(o.c.kind, o.c.name, o.c.overlay_id)
    )
    return _as_dates(read_frame(engine, statement), "valid_from", "valid_to")


def load_located_events(engine: sa.Engine, month_from: dt.date, month_to: dt.date) -> pd.DataFrame:
    """Events with a map position overlapping the period (operations, carnivals, markets).

    Columns event_id, name, kind, start_date, end_date, longitude, latitude, notes.
    """
    e = schema.events
    statement = (
        sa.select(e.c.event_id, e.c.name, e.c.kind, e.c.start_date, e.c.end_date, e.c.longitude,
                  e.c.latitude, e.c.notes)
        .where(
            e.c.longitude.is_not(None), e.c.latitude.is_not(None),
            e.c.start_date <= _month_end(month_to), e.c.end_date >= month_from,
        )
        .order_by(e.c.start_date, e.c.name)
    )
    return _as_dates(read_frame(engine, statement), "start_date", "end_date")


def _month_end(month_start: dt.date) -> dt.date:
    return (month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
