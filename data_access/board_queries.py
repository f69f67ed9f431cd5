"""Queries for the priority-board pages: KPI counts, partner returns, populations and actions.

Every function takes the engine first, runs parameterised SQLAlchemy Core (the same statements on
DuckDB and PostgreSQL) and returns a small frame whose columns are listed in its docstring.
Incident KPIs are counted from ``agg_month_ward`` (month x category x ward), never from raw
incidents: one scan computes every requested KPI at once with conditional sums.

The SQL for a KPI measure is built only from the registry's whitelisted fields: the count column
comes from :data:`kpis.registry.FLAG_COLUMNS` (checked against the schema), and source, category
and subcategory names are bound parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from kpis.registry import FLAG_COLUMNS

AREA_LEVELS = ("partnership", "lcsp", "ward")
RETURN_DIGITS = 6  # significant figures kept from kpi_values (see _significant)
UNLOCATED = ""  # key value of incidents with no ward/LCSP in the aggregates

# (kpi_id, source, categories, subcategories, flag) as made by kpis.registry.measure_specs
MeasureSpec = tuple[str, str, tuple[str, ...], tuple[str, ...], str]


def _check_level(level: str) -> None:
    if level not in AREA_LEVELS:
        raise ValueError(f"level must be one of {AREA_LEVELS}, not {level!r}")


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _month_frame(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if len(frame):
        frame[column] = pd.to_datetime(frame[column]).dt.normalize()
    else:
        frame[column] = pd.Series(dtype="datetime64[ns]")
    return frame


def partnership_code(engine: sa.Engine) -> str | None:
    """Code of the partnership area (the first one, if a database somehow holds several)."""
    a = schema.areas
    with engine.connect() as conn:
        return conn.execute(
            sa.select(a.c.code).where(a.c.level == "partnership").order_by(a.c.code).limit(1)
        ).scalar_one_or_none()


def load_board_areas(engine: sa.Engine) -> pd.DataFrame:
    """Partnership, LCSPs and wards. Columns: code, name, level, parent_code, population."""
    a = schema.areas
    stmt = (
        sa.select(a.c.code, a.c.name, a.c.level, a.c.parent_code, a.c.population)
        .where(a.c.level.in_(AREA_LEVELS))
        .order_by(a.c.level, a.c.name)
    )
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


# Flags counted over every category (kpis.disclosure rule 4): each is protected as a whole.
_SENSITIVE_FLAGS = ("is_domestic_abuse", "is_vawg", "is_hate")


def _measure_sum(spec: MeasureSpec, index: int, *, unmixed: bool = False) -> sa.Label:
    """The sum of one KPI measure; ``unmixed`` leaves sensitive categories out of a measure that
    adds categories up (below partnership level: rule 4 of kpis.disclosure)."""
    kpi_id, source, categories, subcategories, flag = spec
    w = schema.agg_month_ward
    column_name = FLAG_COLUMNS[flag] if flag else "n"
    if column_name not in w.c:  # the registry and the schema disagree: refuse, never guess
        raise ValueError(f"KPI {kpi_id!r}: no aggregate column {column_name!r}")
    conditions = [w.c.source == sa.bindparam(f"src_{index}", source)]
    if categories:
        conditions.append(w.c.category.in_(sa.bindparam(f"cat_{index}", list(categories), expanding=True)))
    if subcategories:
        conditions.append(
            w.c.subcategory.in_(sa.bindparam(f"sub_{index}", list(subcategories), expanding=True))
        )
    if unmixed and not categories and flag not in _SENSITIVE_FLAGS:
        cats = schema.categories
        conditions.append(~sa.exists().where(
            cats.c.source == w.c.source, cats.c.category == w.c.category,
            cats.c.is_sensitive.is_(True)))
    return sa.func.sum(sa.case((sa.and_(*conditions), w.c[column_name]), else_=0)).label(f"m{index}")


def load_measure_counts(
    engine: sa.Engine,
    *,
    measures: Sequence[MeasureSpec],
    start: dt.date,
    end: dt.date,
    level: str = "partnership",
    lcsp_code: str | None = None,
) -> pd.DataFrame:
    """Monthly incident counts for KPI measures at one area level.

    ``measures``: (kpi_id, source, categories, subcategories, flag) tuples
    (:func:`kpis.registry.measure_specs`). ``level``: partnership (includes incidents with no
    ward), lcsp (the LCSP in force at the incident date) or ward; ``lcsp_code`` narrows wards (or
    LCSPs) to one LCSP. Months are those whose first day lies in [start, end]. Below partnership
    level a measure adding categories up leaves the sensitive ones out (kpis.disclosure rule 4).
    Columns: kpi_id, area_code, month_start (datetime64), n. Months with no incidents have no row.
    """
    _check_level(level)
    columns = ["kpi_id", "area_code", "month_start", "n"]
    measures = [tuple(m) for m in measures]
    if not measures:
        return _month_frame(pd.DataFrame(columns=columns), "month_start")
    w = schema.agg_month_ward
    sums = [_measure_sum(spec, i, unmixed=level != "partnership")
            for i, spec in enumerate(measures)]
    sources = sorted({spec[1] for spec in measures})
    where = [
        w.c.month_start >= _as_date(start), w.c.month_start <= _as_date(end),
        w.c.source.in_(sa.bindparam("sources", sources, expanding=True)),
    ]
    if lcsp_code:
        where.append(w.c.lcsp_code == lcsp_code)
    if level == "partnership":
        keys = [w.c.month_start]
    elif level == "lcsp":
        keys = [w.c.month_start, w.c.lcsp_code.label("area_code")]
        where.append(w.c.lcsp_code != UNLOCATED)
    else:
        keys = [w.c.month_start, w.c.ward_code.label("area_code")]
        where.append(w.c.ward_code != UNLOCATED)
    group = [w.c.month_start] + ([] if level == "partnership" else
                                 [w.c.lcsp_code if level == "lcsp" else w.c.ward_code])
    stmt = sa.select(*keys, *sums).where(*where).group_by(*group)
    with engine.connect() as conn:
        wide = pd.read_sql(stmt, conn)
    if level == "partnership":
        wide["area_code"] = partnership_code(engine) or "partnership"
    long = wide.melt(id_vars=["month_start", "area_code"], var_name="measure", value_name="n")
    ids = {f"m{i}": spec[0] for i, spec in enumerate(measures)}
    long["kpi_id"] = long["measure"].map(ids)
    long["n"] = pd.to_numeric(long["n"]).fillna(0).astype("int64")
    long = long[long["n"] > 0][columns]
    long = _month_frame(long, "month_start")
    return long.sort_values(["kpi_id", "area_code", "month_start"]).reset_index(drop=True)


def load_populations(
    engine: sa.Engine, *, level: str, fy_starts: Sequence[int], lcsp_code: str | None = None
) -> pd.DataFrame:
    """Residents per area and financial year.

    Wards and the partnership carry their population in ``areas``; an LCSP's population is the
    sum of its wards' populations under the ward->LCSP membership in force for that year (the
    grouping changes over time). A partnership with no population of its own gets the sum of its
    wards. ``lcsp_code`` narrows wards and LCSPs to one LCSP.
    Columns: area_code, fy_start, population (float).
    """
    _check_level(level)
    a, m = schema.areas, schema.area_membership
    ward, lcsp = a.alias("ward"), a.alias("lcsp")
    frames = []
    with engine.connect() as conn:
        for fy in sorted({int(y) for y in fy_starts}):
            in_force = sa.and_(m.c.fy_from <= fy, sa.or_(m.c.fy_to.is_(None), m.c.fy_to >= fy))
            membership = (
                sa.select(m.c.child_code, m.c.parent_code, ward.c.population)
                .join(ward, sa.and_(ward.c.code == m.c.child_code, ward.c.level == "ward"))
                .join(lcsp, sa.and_(lcsp.c.code == m.c.parent_code, lcsp.c.level == "lcsp"))
                .where(in_force)
            )
            if lcsp_code:
                membership = membership.where(m.c.parent_code == lcsp_code)
            sub = membership.subquery()
            if level == "lcsp":
                stmt = sa.select(sub.c.parent_code.label("area_code"),
                                 sa.func.sum(sub.c.population).label("population")
                                 ).group_by(sub.c.parent_code)
            elif level == "ward":
                if lcsp_code:
                    stmt = sa.select(sub.c.child_code.label("area_code"), sub.c.population)
                else:
                    stmt = sa.select(a.c.code.label("area_code"), a.c.population).where(a.c.level == "ward")
            else:
                ward_total = sa.select(sa.func.sum(a.c.population)).where(a.c.level == "ward").scalar_subquery()
                stmt = sa.select(
                    a.c.code.label("area_code"),
                    sa.func.coalesce(a.c.population, ward_total).label("population"),
                ).where(a.c.level == "partnership")
            part = pd.read_sql(stmt, conn)
            part["fy_start"] = fy
            frames.append(part)
    if not frames:
        return pd.DataFrame({"area_code": pd.Series(dtype=object), "fy_start": pd.Series(dtype="int64"),
                             "population": pd.Series(dtype="float64")})
    out = pd.concat(frames, ignore_index=True)
    out["population"] = pd.to_numeric(out["population"], errors="coerce").astype("float64")
    out["fy_start"] = out["fy_start"].astype("int64")
    return out[["area_code", "fy_start", "population"]].sort_values(
        ["area_code", "fy_start"]).reset_index(drop=True)


def load_kpi_values(
    engine: sa.Engine,
    *,
    kpi_ids: Sequence[str] | None = None,
    area_codes: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Partner-supplied KPI values.

    Columns: kpi_id, area_code, period_start (datetime64), period_grain, value, numerator,
    denominator, target, baseline, is_provisional.
    """
    v = schema.kpi_values
    stmt = sa.select(
        v.c.kpi_id, v.c.area_code, v.c.period_start, v.c.period_grain, v.c.value, v.c.numerator,
        v.c.denominator, v.c.target, v.c.baseline, v.c.is_provisional,
    )
    if kpi_ids is not None:
        stmt = stmt.where(v.c.kpi_id.in_(sa.bindparam("kpi_ids", list(kpi_ids), expanding=True)))
    if area_codes is not None:
        stmt = stmt.where(v.c.area_code.in_(sa.bindparam("areas", list(area_codes), expanding=True)))
    if start is not None:
        stmt = stmt.where(v.c.period_start >= _as_date(start))
    if end is not None:
        stmt = stmt.where(v.c.period_start <= _as_date(end))
    stmt = stmt.order_by(v.c.kpi_id, v.c.area_code, v.c.period_start)
    with engine.connect() as conn:
        frame = pd.read_sql(stmt, conn)
    for col in ("value", "numerator", "denominator", "target", "baseline"):
        frame[col] = _significant(pd.to_numeric(frame[col], errors="coerce").astype("float64"))
    return _month_frame(frame, "period_start")


def _significant(values: pd.Series, digits: int = RETURN_DIGITS) -> pd.Series:
    """Round to ``digits`` significant figures.

    ``sa.Float`` is a 4-byte FLOAT on DuckDB but an 8-byte double on PostgreSQL, so 38.85 reads
    back as 38.849998 from one and 38.85 from the other; six significant figures (all a 4-byte
    float keeps) gives both the same value, and no partner return is more precise than that.
    """
    x = values.to_numpy(dtype="float64", copy=True)
    ok = np.isfinite(x) & (x != 0)
    scale = np.zeros_like(x)
    scale[ok] = digits - 1 - np.floor(np.log10(np.abs(x[ok])))
    x[ok] = np.round(x[ok] * 10.0 ** scale[ok]) / 10.0 ** scale[ok]
    return pd.Series(x, index=values.index)


def load_kpi_definitions(engine: sa.Engine) -> pd.DataFrame:
    """KPI definitions held in the database.

    Columns: kpi_id, label, board, unit, polarity, frequency, description, source.
    """
    d = schema.kpi_definitions
    stmt = sa.select(d.c.kpi_id, d.c.label, d.c.board, d.c.unit, d.c.polarity, d.c.frequency,
                     d.c.description, d.c.source).order_by(d.c.kpi_id)
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def load_board_actions(
    engine: sa.Engine, *, boards: Sequence[str] | None = None, lcsp_code: str | None = None
) -> pd.DataFrame:
    """Outputs/actions, optionally for some boards (as written in the table, e.g. "Violence Reduction").

    ``lcsp_code`` keeps partnership-wide actions (no LCSP) and that LCSP's own.
    Columns: action_id, code, title, board, owner, lcsp_code, due_date, status, status_date, notes.
    """
    t = schema.actions
    stmt = sa.select(t.c.action_id, t.c.code, t.c.title, t.c.board, t.c.owner, t.c.lcsp_code,
                     t.c.due_date, t.c.status, t.c.status_date, t.c.notes)
    if boards is not None:
        stmt = stmt.where(t.c.board.in_(sa.bindparam("boards", list(boards), expanding=True)))
    if lcsp_code:
        stmt = stmt.where(sa.or_(t.c.lcsp_code.is_(None), t.c.lcsp_code == lcsp_code))
    stmt = stmt.order_by(t.c.due_date, t.c.code, t.c.action_id)
    with engine.connect() as conn:
        frame = pd.read_sql(stmt, conn)
    for col in ("due_date", "status_date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def load_action_board_labels(engine: sa.Engine) -> pd.DataFrame:
    """Distinct board names in the actions table with their action counts. Columns: board, n."""
    t = schema.actions
    stmt = sa.select(t.c.board, sa.func.count().label("n")).group_by(t.c.board).order_by(t.c.board)
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def load_incident_months(engine: sa.Engine) -> pd.DataFrame:
    """First and last month in the ward aggregate. Columns: first_month, last_month (one row)."""
    w = schema.agg_month_ward
    stmt = sa.select(sa.func.min(w.c.month_start).label("first_month"),
                     sa.func.max(w.c.month_start).label("last_month"))
    with engine.connect() as conn:
        frame = pd.read_sql(stmt, conn)
    for col in frame.columns:
        frame[col] = pd.to_datetime(frame[col])
    return frame


def load_sensitive_categories(engine: sa.Engine) -> tuple[str, ...]:
    """Names of the categories whose small counts are withheld below partnership level."""
    c = schema.categories
    stmt = sa.select(c.c.category).where(c.c.is_sensitive.is_(True)).distinct().order_by(c.c.category)
    with engine.connect() as conn:
        return tuple(conn.execute(stmt).scalars())
