"""Database schema (SQLAlchemy 2 Core), portable between DuckDB and PostgreSQL.

Money is stored in pounds (``Numeric(14, 2)``), dates as ``Date``, financial years both as a
label ("2025/26") and as the start year (2025) so queries can range over them. Ids are given by
the loader (``autoincrement=False``): DuckDB has no SERIAL.

Tables fall in four groups:
- reference: ``areas``, ``area_membership`` (which LCSP a ward belongs to in which years),
  ``categories``, ``events``, ``overlays``;
- facts: ``incidents`` with period and grid columns derived once at load;
- aggregates (``agg_*``): maintained by :mod:`data_access.aggregates` at the grain each page needs;
- partnership records: KPI definitions/values, actions, Community Safety Fund tables, imports log.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

AREA_LEVELS = ("partnership", "lcsp", "ward", "lsoa")
MONEY = sa.Numeric(14, 2)

# --- reference ---------------------------------------------------------------------------

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),  # one of AREA_LEVELS
    sa.Column("parent_code", sa.String(32)),  # current parent; history in area_membership
    sa.Column("population", sa.Integer),
    sa.Column("centroid_lon", sa.Double),
    sa.Column("centroid_lat", sa.Double),
    sa.Column("boundary_geojson", sa.Text),  # a GeoJSON geometry object, WGS84
    sa.Column("boundary_source", sa.String(100)),  # e.g. "synthetic", "ONS wards 2018"
    sa.CheckConstraint("level in ('partnership','lcsp','ward','lsoa')", name="ck_areas_level"),
)
sa.Index("ix_areas_level_parent", areas.c.level, areas.c.parent_code)

# The grouping of wards into LCSPs is data and changes between years (Birmingham added a City
# Centre LCSP in 2019/20). A membership row holds for financial years from..to inclusive.
area_membership = sa.Table(
    "area_membership",
    metadata,
    sa.Column("child_code", sa.String(32), primary_key=True),
    sa.Column("parent_code", sa.String(32), primary_key=True),
    sa.Column("fy_from", sa.Integer, primary_key=True),  # start year, e.g. 2019 for 2019/20
    sa.Column("fy_to", sa.Integer),  # inclusive; NULL = still current
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),  # e.g. "recorded_crime", "asb"
    sa.Column("category", sa.String(80), primary_key=True),
    sa.Column("label", sa.String(120), nullable=False),
    sa.Column("is_asb", sa.Boolean, nullable=False, default=False),
    # Sensitive categories are never mapped as points and small counts are suppressed.
    sa.Column("is_sensitive", sa.Boolean, nullable=False, default=False),
    sa.Column("sort_order", sa.Integer, nullable=False, default=0),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    # school_holiday, bank_holiday, local_event, operation
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("area_code", sa.String(32)),  # NULL = whole partnership
    sa.Column("longitude", sa.Double),
    sa.Column("latitude", sa.Double),
    sa.Column("notes", sa.Text),
)
sa.Index("ix_events_dates", events.c.start_date, events.c.end_date)

# Map overlays: PSPO areas, redeployable CCTV cameras, knife-arch operation sites.
overlays = sa.Table(
    "overlays",
    metadata,
    sa.Column("overlay_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),  # pspo, cctv, knife_arch
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("longitude", sa.Double),
    sa.Column("latitude", sa.Double),
    sa.Column("geometry_geojson", sa.Text),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
)

# --- facts -------------------------------------------------------------------------------

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("incident_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("source", sa.String(32), nullable=False),  # recorded_crime, asb, police_uk, ...
    sa.Column("source_ref", sa.String(80)),  # the partner's own id, e.g. police.uk Crime ID
    sa.Column("category", sa.String(80), nullable=False),
    sa.Column("subcategory", sa.String(80)),  # ASB type, or crime sub-type
    sa.Column("incident_date", sa.Date, nullable=False),
    sa.Column("date_precision", sa.String(8), nullable=False, default="day"),  # day | month
    sa.Column("hour", sa.SmallInteger),  # NULL when the time is not known
    sa.Column("longitude", sa.Double),
    sa.Column("latitude", sa.Double),
    sa.Column("location_text", sa.String(200)),
    sa.Column("lsoa_code", sa.String(32)),
    sa.Column("ward_code", sa.String(32)),
    sa.Column("lcsp_code", sa.String(32)),  # LCSP of the ward at the incident date
    sa.Column("is_domestic_abuse", sa.Boolean, nullable=False, default=False),
    sa.Column("is_vawg", sa.Boolean, nullable=False, default=False),
    sa.Column("is_alcohol", sa.Boolean, nullable=False, default=False),
    sa.Column("is_weapon", sa.Boolean, nullable=False, default=False),
    sa.Column("is_hate", sa.Boolean, nullable=False, default=False),
    sa.Column("is_repeat", sa.Boolean, nullable=False, default=False),  # repeat victim/caller
    # derived once at load (kpis.periods.derive_period_columns, kpis.grid.cell_ids)
    sa.Column("fy_start", sa.Integer, nullable=False),
    sa.Column("financial_year", sa.String(7), nullable=False),
    sa.Column("fy_quarter", sa.SmallInteger, nullable=False),
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("iso_year", sa.Integer, nullable=False),
    sa.Column("iso_week", sa.SmallInteger, nullable=False),
    sa.Column("weekday", sa.SmallInteger, nullable=False),  # 0 = Monday
    sa.Column("cell_250", sa.BigInteger),
    sa.Column("cell_500", sa.BigInteger),
    sa.Column("cell_1000", sa.BigInteger),
    sa.Column("import_id", sa.Integer),
)
sa.Index("ix_incidents_month", incidents.c.month_start)
sa.Index("ix_incidents_source_month", incidents.c.source, incidents.c.month_start)

# --- aggregates ("KPI tables"): one per chart grain, rebuilt by month range on import -------
# Each carries the flag counts so a page can ask for "domestic abuse offences" without the raw
# table. Counts are exact; suppression for public views is applied when data leaves for a screen.

_FLAG_COUNTS = ("n_domestic_abuse", "n_vawg", "n_alcohol", "n_weapon", "n_hate", "n_repeat")


def _agg_table(name: str, *key_columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *key_columns,
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("category", sa.String(80), nullable=False),
        sa.Column("subcategory", sa.String(80), nullable=False, default=""),
        sa.Column("n", sa.Integer, nullable=False),
        *[sa.Column(f, sa.Integer, nullable=False, default=0) for f in _FLAG_COUNTS],
    )


# month x category x LSOA (with ward and LCSP carried so no join is needed)
agg_month_lsoa = _agg_table(
    "agg_month_lsoa",
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("fy_start", sa.Integer, nullable=False),
    sa.Column("lsoa_code", sa.String(32), nullable=False),
    sa.Column("ward_code", sa.String(32), nullable=False),
    sa.Column("lcsp_code", sa.String(32), nullable=False),
)
sa.Index("ix_agg_month_lsoa", agg_month_lsoa.c.month_start, agg_month_lsoa.c.category)

# month x category x ward: headline tables, LCSP and ward comparisons
agg_month_ward = _agg_table(
    "agg_month_ward",
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("fy_start", sa.Integer, nullable=False),
    sa.Column("fy_quarter", sa.SmallInteger, nullable=False),
    sa.Column("ward_code", sa.String(32), nullable=False),
    sa.Column("lcsp_code", sa.String(32), nullable=False),
)
sa.Index("ix_agg_month_ward", agg_month_ward.c.month_start, agg_month_ward.c.lcsp_code)

# day x category x ward: calendars and daily series (timed and dated sources only)
agg_day_ward = _agg_table(
    "agg_day_ward",
    sa.Column("incident_date", sa.Date, nullable=False),
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("iso_year", sa.Integer, nullable=False),
    sa.Column("iso_week", sa.SmallInteger, nullable=False),
    sa.Column("ward_code", sa.String(32), nullable=False),
    sa.Column("lcsp_code", sa.String(32), nullable=False),
)
sa.Index("ix_agg_day_ward", agg_day_ward.c.incident_date, agg_day_ward.c.category)

# month x weekday x hour x category x LCSP: hour-by-weekday heatmaps (timed sources only)
agg_hour_weekday = _agg_table(
    "agg_hour_weekday",
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("weekday", sa.SmallInteger, nullable=False),
    sa.Column("hour", sa.SmallInteger, nullable=False),
    sa.Column("lcsp_code", sa.String(32), nullable=False),
)
sa.Index("ix_agg_hour_weekday", agg_hour_weekday.c.month_start, agg_hour_weekday.c.category)

# cell x month x category at each grid size: hotspot maps (located incidents only)
agg_cell_month = _agg_table(
    "agg_cell_month",
    sa.Column("cell_size", sa.Integer, nullable=False),
    sa.Column("cell_id", sa.BigInteger, nullable=False),
    sa.Column("month_start", sa.Date, nullable=False),
    sa.Column("lcsp_code", sa.String(32), nullable=False),
)
sa.Index(
    "ix_agg_cell_month", agg_cell_month.c.cell_size, agg_cell_month.c.month_start,
    agg_cell_month.c.category,
)

AGGREGATE_TABLES = (agg_month_lsoa, agg_month_ward, agg_day_ward, agg_hour_weekday, agg_cell_month)
FLAG_COUNTS = _FLAG_COUNTS

# --- partnership records -------------------------------------------------------------------

kpi_definitions = sa.Table(
    "kpi_definitions",
    metadata,
    sa.Column("kpi_id", sa.String(64), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("board", sa.String(100), nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),  # count, rate_per_1000, percentage, gbp, days
    sa.Column("polarity", sa.String(24), nullable=False),  # higher_is_better | lower_is_better
    sa.Column("frequency", sa.String(16), nullable=False, default="monthly"),
    sa.Column("description", sa.Text),
    sa.Column("source", sa.String(120)),
)

kpi_values = sa.Table(
    "kpi_values",
    metadata,
    sa.Column("kpi_id", sa.String(64), primary_key=True),
    sa.Column("area_code", sa.String(32), primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),  # first day of the month or quarter
    sa.Column("period_grain", sa.String(8), nullable=False, default="month"),  # month | quarter
    sa.Column("value", sa.Double),
    sa.Column("numerator", sa.Double),
    sa.Column("denominator", sa.Double),
    sa.Column("target", sa.Double),
    sa.Column("baseline", sa.Double),
    sa.Column("is_provisional", sa.Boolean, nullable=False, default=False),
    sa.Column("import_id", sa.Integer),
)
sa.Index("ix_kpi_values_period", kpi_values.c.period_start)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(32), nullable=False),  # e.g. CC3(e)
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("board", sa.String(100), nullable=False),
    sa.Column("owner", sa.String(120)),
    sa.Column("lcsp_code", sa.String(32)),
    sa.Column("due_date", sa.Date),
    # not_started, on_track, at_risk, off_track, complete
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("status_date", sa.Date),
    sa.Column("notes", sa.Text),
)

# Community Safety Fund: one row per financial year. All money in pounds.
fund_years = sa.Table(
    "fund_years",
    metadata,
    sa.Column("fy_start", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("financial_year", sa.String(7), nullable=False),
    sa.Column("grant_before_top_slice", MONEY, nullable=False),
    sa.Column("top_slice", MONEY, nullable=False),  # e.g. analyst posts
    sa.Column("carry_forward_requested", MONEY, nullable=False, default=0),
    sa.Column("carry_forward_top_slice", MONEY, nullable=False, default=0),
    sa.Column("carry_forward_approved", MONEY, nullable=False, default=0),
    sa.Column("pdg_approval_limit", MONEY, nullable=False, default=100000),
    sa.Column("notes", sa.Text),
)

fund_projects = sa.Table(
    "fund_projects",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fy_start", sa.Integer, nullable=False),
    sa.Column("priority", sa.String(120), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("lcsp_code", sa.String(32)),  # devolved LCSP budgets and local projects
    sa.Column("provider", sa.String(200)),
    sa.Column("bid_amount", MONEY),
    sa.Column("bid_date", sa.Date),
    sa.Column("decision", sa.String(16), nullable=False),  # approved, rejected, deferred, pending
    sa.Column("decision_body", sa.String(32)),  # PDG (under the limit) or Board
    sa.Column("decision_date", sa.Date),
    sa.Column("decision_reason", sa.Text),
    sa.Column("outcome_evaluation", sa.Text),
    sa.Column("carried_from_project_id", sa.Integer),  # carry-forward from the previous year
    # Part of this year's allocation formally requested from the OPCC to carry into the next
    # year (2017/18: Guns & Gangs GBP 100k), as opposed to slippage from timing.
    sa.Column("carry_forward_request", MONEY),
)
sa.Index("ix_fund_projects_fy", fund_projects.c.fy_start)

fund_allocations = sa.Table(
    "fund_allocations",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("funding", sa.String(16), primary_key=True),  # new | carry_forward
    sa.Column("amount", MONEY, nullable=False),
)

fund_spend = sa.Table(
    "fund_spend",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("month_start", sa.Date, primary_key=True),
    sa.Column("amount", MONEY, nullable=False),  # actual spend recorded for the month
    sa.Column("profile_amount", MONEY),  # planned spend for the month
    sa.Column("import_id", sa.Integer),
)

fund_returns = sa.Table(
    "fund_returns",
    metadata,
    sa.Column("return_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fy_start", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("submitted_date", sa.Date),
)

# Every load is logged: the data status page reads who loaded what, when.
imports = sa.Table(
    "imports",
    metadata,
    sa.Column("import_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32)),
    sa.Column("file_name", sa.String(300)),
    sa.Column("loaded_by", sa.String(120)),
    sa.Column("loaded_at", sa.DateTime, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False, default=0),
    sa.Column("rows_added", sa.Integer, nullable=False, default=0),
    sa.Column("rows_replaced", sa.Integer, nullable=False, default=0),
    sa.Column("rows_rejected", sa.Integer, nullable=False, default=0),
    sa.Column("period_from", sa.Date),
    sa.Column("period_to", sa.Date),
    sa.Column("notes", sa.Text),
)

# Months known to be incomplete at the source (police.uk publishes some months short).
source_months = sa.Table(
    "source_months",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("month_start", sa.Date, primary_key=True),
    sa.Column("is_complete", sa.Boolean, nullable=False, default=True),
    sa.Column("note", sa.Text),
)

# Key/value facts about the database itself (dataset name, synthetic or real, generator seed).
dataset_info = sa.Table(
    "dataset_info",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text),
)

# --- access: who may see what, and who saw what ---------------------------------------------
# Written while the dashboard runs (role changes, the audit log). On PostgreSQL they live here;
# the embedded DuckDB keeps them in a SQLite file beside it (see data_access.access), because
# every DuckDB write copies the whole file. Roles are names from kpis.access.ROLES.

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("email", sa.String(254), primary_key=True),  # lower case, as signed in
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("display_name", sa.String(200)),
    sa.Column("granted_by", sa.String(254), nullable=False),
    sa.Column("granted_at", sa.DateTime, nullable=False),
)

# An LCSP manager's own LCSPs (full detail there, the public-safe view elsewhere).
user_lcsps = sa.Table(
    "user_lcsps",
    metadata,
    sa.Column("email", sa.String(254), primary_key=True),
    sa.Column("lcsp_code", sa.String(32), primary_key=True),
)

# DPA 2018 s.62 logging: who viewed which sensitive view, who exported what, who changed access.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("event_id", sa.Integer, sa.Sequence("audit_log_event_id_seq"), primary_key=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False),  # UTC
    sa.Column("user_email", sa.String(254), nullable=False),
    sa.Column("user_role", sa.String(20), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # view, export, import, grant, revoke, ...
    sa.Column("page", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("file_name", sa.String(200)),
    sa.Column("rows", sa.Integer),
)
sa.Index("ix_audit_log_occurred_at", audit_log.c.occurred_at)

ACCESS_TABLES = (user_roles, user_lcsps, audit_log)
