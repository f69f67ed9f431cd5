"""The KPI tables: aggregates of ``incidents`` at the grain each page needs.

Every import rebuilds the months it touched (delete the month range, insert from a grouped
select), in the same transaction as the import, so pages never see a half-built aggregate. The SQL
is portable SQLAlchemy Core: the same statements run on DuckDB and PostgreSQL.

Missing codes (an incident with no location has no LSOA, ward or cell) are stored as the empty
string in key columns so that counts still add up to the source total; pages treat "" as
"not located".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from data_access import schema
from kpis.grid import CELL_SIZES_M

i = schema.incidents
UNLOCATED = ""

_FLAG_SOURCES = {
    "n_domestic_abuse": i.c.is_domestic_abuse,
    "n_vawg": i.c.is_vawg,
    "n_alcohol": i.c.is_alcohol,
    "n_weapon": i.c.is_weapon,
    "n_hate": i.c.is_hate,
    "n_repeat": i.c.is_repeat,
}


def _const(value) -> sa.ColumnElement:
    # Rendered inline: DuckDB refuses bound parameters inside GROUP BY expressions. The values
    # are this module's constants, never input.
    return sa.literal(value, literal_execute=True)


def _code(column: sa.Column) -> sa.ColumnElement:
    return sa.func.coalesce(column, _const(UNLOCATED))


def _measures() -> list[sa.ColumnElement]:
    return [
        i.c.source,
        i.c.category,
        sa.func.coalesce(i.c.subcategory, _const("")).label("subcategory"),
        sa.func.count().label("n"),
        *[
            sa.func.sum(sa.case((flag, _const(1)), else_=_const(0))).label(name)
            for name, flag in _FLAG_SOURCES.items()
        ],
    ]


def _grouped(keys: list[sa.ColumnElement], *where: sa.ColumnElement) -> sa.Select:
    measures = _measures()
    group_by = [k for k in keys if not isinstance(k.element if isinstance(k, sa.Label) else k,
                                                  sa.BindParameter)]
    group_by += [i.c.source, i.c.category, measures[2]]
    return sa.select(*keys, *measures).where(*where).group_by(*group_by)


def _selects() -> dict[sa.Table, list[sa.Select]]:
    """For each aggregate table, the grouped selects that fill it (keys in table order)."""
    day = i.c.date_precision == "day"
    return {
        schema.agg_month_lsoa: [_grouped([
            i.c.month_start, i.c.fy_start, _code(i.c.lsoa_code).label("lsoa_code"),
            _code(i.c.ward_code).label("ward_code"), _code(i.c.lcsp_code).label("lcsp_code"),
        ])],
        schema.agg_month_ward: [_grouped([
            i.c.month_start, i.c.fy_start, i.c.fy_quarter,
            _code(i.c.ward_code).label("ward_code"), _code(i.c.lcsp_code).label("lcsp_code"),
        ])],
        schema.agg_day_ward: [_grouped([
            i.c.incident_date, i.c.month_start, i.c.iso_year, i.c.iso_week,
            _code(i.c.ward_code).label("ward_code"), _code(i.c.lcsp_code).label("lcsp_code"),
        ], day)],
        schema.agg_hour_weekday: [_grouped([
            i.c.month_start, i.c.weekday, i.c.hour, _code(i.c.lcsp_code).label("lcsp_code"),
        ], day, i.c.hour.is_not(None))],
        schema.agg_cell_month: [
            _grouped([
                sa.literal(size, sa.Integer, literal_execute=True).label("cell_size"),
                i.c[f"cell_{size}"].label("cell_id"),
                i.c.month_start,
                _code(i.c.lcsp_code).label("lcsp_code"),
            ], i.c[f"cell_{size}"].is_not(None))
            for size in CELL_SIZES_M
        ],
    }


def rebuild_aggregates(
    conn: sa.Connection,
    month_from: dt.date | None = None,
    month_to: dt.date | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, int]:
    """Rebuild every aggregate for months in [month_from, month_to] (all months when None).

    Returns the number of rows each table now holds for that range.
    """
    selects = _selects()
    counts: dict[str, int] = {}
    for step, (table, statements) in enumerate(selects.items(), start=1):
        month_col = table.c.month_start
        bounds = []
        if month_from is not None:
            bounds.append(month_col >= month_from)
        if month_to is not None:
            bounds.append(month_col <= month_to)
        conn.execute(sa.delete(table).where(*bounds))
        target_cols = [c.name for c in table.columns]
        for statement in statements:
            where = []
            if month_from is not None:
                where.append(i.c.month_start >= month_from)
            if month_to is not None:
                where.append(i.c.month_start <= month_to)
            conn.execute(table.insert().from_select(target_cols, statement.where(*where)))
        counts[table.name] = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*bounds)
        ).scalar_one()
        if progress:
            progress(step, len(selects), f"aggregate {table.name}: {counts[table.name]:,} rows")
    return counts
