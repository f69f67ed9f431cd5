"""Queries for the Data explorer: any measure by any two dimensions, aggregated in SQL.

Nothing a user types reaches SQL as text: measures, dimensions, period grains and area levels
are names looked up in the whitelists below (:data:`MEASURES`, :data:`DIMENSIONS`,
:data:`GRAINS`, :data:`AREA_LEVELS`), which map them to schema columns; anything else raises
``ValueError``. Filter values (sources, categories, areas, months) travel as bound parameters.
Everything reads the ``agg_*`` tables: ``agg_month_lsoa`` when LSOAs are asked for, else
``agg_month_ward``. Statements are SQLAlchemy Core that runs the same on DuckDB and PostgreSQL.
Pages call these through :func:`data_access.connection.cached`.

A pivot is guarded against being enormous: at most ``max_rows`` row keys and ``max_columns``
column keys come back. Periods keep the latest ones; any other dimension keeps the keys with the
largest totals (chosen by a sub-query in the database), and :class:`PivotData` says how many
there were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.frames import read_frame

# measure name -> the aggregate tables' count column
MEASURES: dict[str, str] = {
    "incidents": "n",
    "domestic_abuse": "n_domestic_abuse",
    "vawg": "n_vawg",
    "weapon": "n_weapon",
    "alcohol": "n_alcohol",
    "hate": "n_hate",
    "repeat": "n_repeat",
}
DIMENSIONS = ("period", "area", "category", "asb_type", "source")
GRAINS = ("month", "quarter", "year")  # year = financial year
AREA_LEVELS = ("partnership", "lcsp", "ward", "lsoa")
PARTNERSHIP_KEY = "*"  # the one area key when the area level is the whole partnership
DEFAULT_MAX_ROWS = 500
DEFAULT_MAX_COLUMNS = 60

_AREA_COLUMNS = {"lcsp": "lcsp_code", "ward": "ward_code", "lsoa": "lsoa_code"}
_SIMPLE_DIMENSIONS = {"category": "category", "asb_type": "subcategory", "source": "source"}


@dataclass(frozen=True)
class PivotData:
    """A measure by a row dimension (and a column dimension), as a long frame.

    ``frame`` has columns ``row`` and ``value`` (plus ``column`` when a column dimension was
    asked for). Period keys are the first day of the period (a Timestamp), area keys are codes
    ("" = not located, :data:`PARTNERSHIP_KEY` for the whole partnership), other keys are the
    stored identifiers. ``row_keys``/``column_keys`` count the keys before the caps.
    """

    frame: pd.DataFrame
    row_keys: int
    column_keys: int
    max_rows: int
    max_columns: int

    @property
    def rows_capped(self) -> bool:
        """True when some row keys were left out."""
        return self.row_keys > self.max_rows

    @property
    def columns_capped(self) -> bool:
        """True when some column keys were left out."""
        return self.column_keys > self.max_columns


def _const(value) -> sa.ColumnElement:
    # Rendered inline: DuckDB refuses bound parameters inside GROUP BY expressions. The values
    # are this module's constants, never input.
    return sa.literal(value, literal_execute=True)


def _check(name: str | None, allowed, what: str) -> None:
    if name not in allowed:
        raise ValueError(f"unknown {what} {name!r}; expected one of {', '.join(allowed)}")


def month_starts(month_from: dt.date, month_to: dt.date) -> list[dt.date]:
    """First days of the months from ``month_from`` to ``month_to`` inclusive."""
    out, current = [], month_from.replace(day=1)
    while current <= month_to:
        out.append(current)
        current = (current.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def period_start(month: dt.date, grain: str) -> dt.date:
    """The first day of the month, financial quarter or financial year holding ``month``."""
    if grain == "month":
        return month.replace(day=1)
    fy = month.year if month.month >= 4 else month.year - 1
    if grain == "year":
        return dt.date(fy, 4, 1)
    first = 4 + 3 * ((month.month - 4) % 12 // 3)  # 4, 7, 10 or 13 (= January)
    return dt.date(fy + (first > 12), (first - 1) % 12 + 1, 1)


def _period_columns(table: sa.Table, grain: str) -> list[sa.ColumnElement]:
    if grain == "month":
        return [table.c.month_start.label("p_month")]
    if grain == "year":
        return [table.c.fy_start.label("p_fy")]
    if "fy_quarter" in table.c:
        quarter = table.c.fy_quarter
    else:  # agg_month_lsoa has no quarter column: April-June is Q1
        month = sa.extract("month", table.c.month_start)
        quarter = sa.case((month <= _const(3), _const(4)), (month <= _const(6), _const(1)),
                          (month <= _const(9), _const(2)), else_=_const(3))
    return [table.c.fy_start.label("p_fy"), quarter.label("p_quarter")]


def _period_keys(frame: pd.DataFrame, grain: str) -> pd.Series:
    if grain == "month":
        return pd.to_datetime(frame["p_month"])
    fy = frame["p_fy"].astype("int64")
    if grain == "year":
        return pd.to_datetime(pd.DataFrame({"year": fy, "month": 4, "day": 1}))
    quarter = frame["p_quarter"].astype("int64")
    first = 4 + 3 * (quarter - 1)  # 4, 7, 10, 13
    return pd.to_datetime(pd.DataFrame({"year": fy + (first > 12), "month": (first - 1) % 12 + 1,
                                        "day": 1}))


def _dimension(table: sa.Table, name: str, grain: str, level: str,
               prefix: str) -> list[sa.ColumnElement]:
    """The grouping columns of one dimension (none for the whole partnership)."""
    if name == "period":
        return [c.label(f"{prefix}_{c.name}") for c in _period_columns(table, grain)]
    if name == "area":
        if level == "partnership":
            return []
        return [table.c[_AREA_COLUMNS[level]].label(f"{prefix}_key")]
    return [table.c[_SIMPLE_DIMENSIONS[name]].label(f"{prefix}_key")]


def _keys(frame: pd.DataFrame, name: str, grain: str, prefix: str) -> pd.Series:
    if name == "period":
        periods = frame[[c for c in frame.columns if c.startswith(f"{prefix}_p_")]]
        periods.columns = [c[len(prefix) + 1:] for c in periods.columns]
        return _period_keys(periods, grain)
    if f"{prefix}_key" not in frame:  # the whole partnership
        return pd.Series(PARTNERSHIP_KEY, index=frame.index, dtype=object)
    return frame[f"{prefix}_key"].astype(object).fillna("")


def load_pivot(
    engine: sa.Engine,
    *,
    measure: str,
    rows: str,
    columns: str | None,
    grain: str,
    level: str,
    month_from: dt.date,
    month_to: dt.date,
    lcsp: str | None = None,
    ward: str | None = None,
    sources: tuple[str, ...] | None = None,
    categories: tuple[str, ...] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> PivotData:
    """``measure`` summed by ``rows`` (and ``columns``) over months in [month_from, month_to].

    ``lcsp``/``ward`` restrict to an area (an LCSP as grouped at each incident's date, as on the
    Overview); ``sources``/``categories`` restrict to those (None = all). See :class:`PivotData`.
    """
    _check(measure, MEASURES, "measure")
    _check(rows, DIMENSIONS, "row dimension")
    if columns is not None:
        _check(columns, DIMENSIONS, "column dimension")
        if columns == rows:
            raise ValueError("rows and columns must be different dimensions")
    _check(grain, GRAINS, "period grain")
    _check(level, AREA_LEVELS, "area level")
    dims = {"r": rows, **({"c": columns} if columns else {})}
    table = (schema.agg_month_lsoa if level == "lsoa" and "area" in dims.values()
             else schema.agg_month_ward)

    # Periods are known without asking the database: keep the latest when there are too many.
    caps = {"r": max_rows, "c": max_columns}
    counts: dict[str, int] = {}
    for prefix, name in dims.items():
        if name == "period":
            starts = sorted({period_start(m, grain) for m in month_starts(month_from, month_to)})
            counts[prefix] = len(starts)
            if len(starts) > caps[prefix]:
                month_from = max(month_from, starts[-caps[prefix]])

    where = [table.c.month_start >= month_from, table.c.month_start <= month_to]
    if ward:
        where.append(table.c.ward_code == ward)
    elif lcsp:
        where.append(table.c.lcsp_code == lcsp)
    if sources is not None:
        where.append(table.c.source.in_(sa.bindparam("sources", tuple(sources), expanding=True)))
    if categories is not None:
        where.append(table.c.category.in_(
            sa.bindparam("categories", tuple(categories), expanding=True)))
    value = sa.func.sum(table.c[MEASURES[measure]])

    # Other dimensions: count their keys, and keep the largest when there are too many.
    keyed = {p: _dimension(table, n, grain, level, p) for p, n in dims.items()
             if n != "period" and not (n == "area" and level == "partnership")}
    if keyed:
        distinct = [sa.func.count(sa.distinct(cols[0].element)).label(p)
                    for p, cols in keyed.items()]
        found = read_frame(engine, sa.select(*distinct).where(*where)).iloc[0]
        restrict = []
        for prefix, cols in keyed.items():
            counts[prefix] = int(found[prefix] or 0)
            if counts[prefix] > caps[prefix]:
                key = cols[0].element
                top = (sa.select(key).where(*where).group_by(key)
                       .order_by(value.desc(), key).limit(caps[prefix]))
                restrict.append(key.in_(top))
        where += restrict
    for prefix, name in dims.items():
        counts.setdefault(prefix, 1)  # the whole partnership

    group = [c for p in dims for c in _dimension(table, dims[p], grain, level, p)]
    statement = sa.select(*group, value.label("value")).where(*where)
    if group:
        statement = statement.group_by(*[c.element for c in group])
    raw = read_frame(engine, statement)
    frame = pd.DataFrame({"row": _keys(raw, rows, grain, "r")})
    if columns:
        frame["column"] = _keys(raw, columns, grain, "c")
    frame["value"] = pd.to_numeric(raw["value"]).fillna(0).astype("int64")
    if not group and int(frame["value"].sum()) == 0:
        frame = frame.iloc[0:0]  # no rows matched: an empty pivot, not one row of zero
    return PivotData(frame.reset_index(drop=True), counts["r"], counts.get("c", 0),
                     max_rows, max_columns)


def load_sources(engine: sa.Engine) -> pd.DataFrame:
    """Sources with incidents in the aggregates: columns source, first_month, last_month, n."""
    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.source, sa.func.min(mw.c.month_start).label("first_month"),
                  sa.func.max(mw.c.month_start).label("last_month"),
                  sa.func.sum(mw.c.n).label("n"))
        .group_by(mw.c.source)
        .order_by(mw.c.source)
    )
    frame = read_frame(engine, statement)
    frame["n"] = pd.to_numeric(frame["n"]).astype("int64")
    return frame


def load_categories(engine: sa.Engine) -> pd.DataFrame:
    """The categories table: columns source, category, label, is_asb, is_sensitive, sort_order."""
    c = schema.categories.c
    statement = (sa.select(c.source, c.category, c.label, c.is_asb, c.is_sensitive, c.sort_order)
                 .order_by(c.sort_order, c.source, c.category))
    frame = read_frame(engine, statement)
    for column in ("is_asb", "is_sensitive"):
        frame[column] = frame[column].fillna(False).astype(bool)
    return frame


def load_area_lcsps(
    engine: sa.Engine,
    *,
    level: str,
    month_from: dt.date,
    month_to: dt.date,
    lcsp: str | None = None,
    ward: str | None = None,
) -> pd.DataFrame:
    """Areas of ``level`` (LCSP, ward or LSOA) with incidents in [month_from, month_to] (within
    ``lcsp``/``ward`` as :func:`load_pivot` restricts them), and the LCSP each lay in.

    Columns code ("" = not located) and lcsp_code; lcsp_code is None when the area lay in more
    than one LCSP in those months (the grouping changes between years).
    """
    _check(level, AREA_LEVELS[1:], "area level below the partnership")
    table = schema.agg_month_lsoa if level == "lsoa" else schema.agg_month_ward
    code = table.c[_AREA_COLUMNS[level]]
    where = [table.c.month_start >= month_from, table.c.month_start <= month_to]
    if ward:
        where.append(table.c.ward_code == ward)
    elif lcsp:
        where.append(table.c.lcsp_code == lcsp)
    statement = (
        sa.select(code.label("code"), sa.func.min(table.c.lcsp_code).label("lcsp_code"),
                  sa.func.count(sa.distinct(table.c.lcsp_code)).label("lcsps"))
        .where(*where).group_by(code).order_by(code)
    )
    frame = read_frame(engine, statement)
    frame["lcsp_code"] = frame["lcsp_code"].astype(object).where(
        pd.to_numeric(frame["lcsps"]) == 1, None)
    return frame[["code", "lcsp_code"]]


def load_area_populations(engine: sa.Engine, level: str, fy_start: int) -> pd.DataFrame:
    """Areas of ``level`` with their residents: columns code, name, population.

    An LCSP's residents are the sum of its wards in the grouping of financial year ``fy_start``
    (the grouping changes between years), or the stored figure when it has no wards then.
    """
    _check(level, AREA_LEVELS, "area level")
    a = schema.areas
    statement = (sa.select(a.c.code, a.c.name, a.c.population).where(a.c.level == level)
                 .order_by(a.c.name, a.c.code))
    frame = read_frame(engine, statement)
    if level == "lcsp" and len(frame):
        m, ward = schema.area_membership, a.alias("ward")
        summed = read_frame(engine, (
            sa.select(m.c.parent_code.label("code"),
                      sa.func.sum(ward.c.population).label("ward_population"))
            .select_from(m.join(ward, ward.c.code == m.c.child_code))
            .where(ward.c.level == "ward", m.c.fy_from <= fy_start,
                   sa.or_(m.c.fy_to.is_(None), m.c.fy_to >= fy_start))
            .group_by(m.c.parent_code)))
        frame = frame.merge(summed, on="code", how="left")
        frame["population"] = frame["ward_population"].where(
            frame["ward_population"].notna(), frame["population"])
        frame = frame.drop(columns="ward_population")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce")
    return frame
