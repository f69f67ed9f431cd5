"""Nothing typed or linked reaches SQL as text, on DuckDB and on PostgreSQL.

Every query function that takes a value a user can influence (area codes, sources, categories,
ASB types, event kinds, KPI ids, search text) is called with injection payloads: it returns no
rows (or exactly the rows the value literally matches) and never an error. Names that choose a
column or a grouping (measures, dimensions, grains, area levels, cell sizes, split-by columns) are
whitelisted: anything else is a ValueError naming the value. In the fund register search ``%``
and ``_`` are ordinary characters. Imports store hostile text as text, and refuse XML bombs
without writing. After every test the incidents table is still there with all its rows.

The database is a copy of the small sample with the fund tables, a few engineered bids and a
month flagged incomplete added; on PostgreSQL a throwaway database filled the same way (skipped
when no server answers).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import asb_queries, board_queries, explorer_queries, fund_queries
from data_access import engine as eng
from data_access import hotspot_queries, loading, queries, schema
from data_access.importers.common import ImportRejected
from data_access.load import run_import
from sample_data.fund import fund_frames
from sample_data.generator import DEFAULT_SEED
from tests.conftest import build_sample, throwaway_postgres
from tests.xlsx_bombs import billion_laughs, workbook

PAYLOADS = {
    "or_1_eq_1": "' OR 1=1 --",
    "drop_table": "x');DROP TABLE incidents;--",
    "long": "x" * 10_000,
    "percent": "%",
    "underscore": "_",
}
FY = (dt.date(2025, 4, 1), dt.date(2026, 3, 1))  # months of 2025/26
DAYS = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")
# Bids whose text holds the LIKE wildcards literally, and near-misses a wildcard would match.
BIDS = {
    990001: "Youth diversion: 100% funded",
    990002: "Knife crime a_c outreach",
    990003: "Knife crime abc outreach",
    990004: "Night-time economy 50/50 split",
    990005: "Back\\slash project",
}


def _add_fund_and_bids(url: str) -> None:
    frames = fund_frames(DEFAULT_SEED, [2024, 2025, 2026])
    with eng.write_transaction(url) as conn:
        for name in FUND_TABLES:
            loading.bulk_insert(conn, schema.metadata.tables[name], frames[name])
        conn.execute(schema.fund_projects.insert(), [
            {"project_id": pid, "fy_start": 2025, "priority": "Test bids", "name": name,
             "decision": "rejected", "decision_reason": "engineered for the search tests"}
            for pid, name in BIDS.items()])
        conn.execute(schema.source_months.insert().values(
            source="asb", month_start=dt.date(2025, 6, 1), is_complete=False, note="test"))


@pytest.fixture(scope="module",
                params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, sample_db_url, tmp_path_factory):
    """(url, read-only engine) of a database with the sample, the fund and the test bids."""
    if request.param == "duckdb":
        copy = tmp_path_factory.mktemp("injection") / "csp.duckdb"
        shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), copy)
        url = f"duckdb:///{copy}"
        _add_fund_and_bids(url)
        engine = eng.reader_engine(url)
        yield url, engine
        engine.dispose()
        return
    with throwaway_postgres() as url:
        build_sample(url)
        _add_fund_and_bids(url)
        engine = eng.reader_engine(url)
        yield url, engine
        engine.dispose()


@pytest.fixture
def engine(db):
    return db[1]


def _incident_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)).scalar_one()


@pytest.fixture(scope="module")
def incidents(db) -> int:
    """The sample's incident count, read once."""
    return _incident_count(db[1])


@pytest.fixture(autouse=True)
def incidents_survive(db, incidents):
    """After every test the incidents table still exists with the same rows (the tests that
    import check again through a fresh engine, which sees a new DuckDB generation)."""
    yield
    with db[1].connect() as conn:
        assert sa.inspect(conn).has_table("incidents")
    assert _incident_count(db[1]) == incidents > 0


@pytest.fixture(scope="module")
def real(db):
    """Real values of each kind, for the control calls (which must find rows)."""
    _, engine = db
    with engine.connect() as conn:
        lcsp, ward = conn.execute(
            sa.select(schema.areas.c.parent_code, schema.areas.c.code)
            .where(schema.areas.c.level == "ward").order_by(schema.areas.c.code).limit(1)).one()
        kpi = conn.execute(sa.select(schema.kpi_values.c.kpi_id).limit(1)).scalar_one()
    return {"lcsp": lcsp, "ward": ward, "source": "asb", "category": "violence_with_injury",
            "asb_type": "vehicle_nuisance", "event_kind": "local_event", "kpi": kpi,
            "board": "Violence Reduction"}


def _rows(result) -> int:
    """How many rows a query result has (a frame, a pivot, or a total's count)."""
    if isinstance(result, explorer_queries.PivotData):
        return len(result.frame)
    if isinstance(result, dict):
        return int(result["n"])
    return len(result)


# Each case: the value it takes (a key of ``real``) and the call. With a payload a case must
# return nothing; with the real value something (so an empty answer means the value was used).
CASES = {
    "overview_lcsp": ("lcsp", lambda e, v: queries.load_category_months(e, *FY, lcsp=v)),
    "overview_ward": ("ward", lambda e, v: queries.load_category_months(e, *FY, ward=v)),
    "overview_wards": ("ward", lambda e, v: queries.load_area_category_totals(
        e, *FY, "ward", wards=(v,))),
    "explorer_lcsp": ("lcsp", lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="category", columns=None, grain="month", level="lcsp",
        month_from=FY[0], month_to=FY[1], lcsp=v)),
    "explorer_ward": ("ward", lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="period", columns="source", grain="quarter", level="ward",
        month_from=FY[0], month_to=FY[1], ward=v)),
    "explorer_sources": ("source", lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="area", columns=None, grain="year", level="lsoa",
        month_from=FY[0], month_to=FY[1], sources=(v,))),
    "explorer_categories": ("category", lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="area", columns="period", grain="month", level="lcsp",
        month_from=FY[0], month_to=FY[1], categories=(v, v))),
    "explorer_area_lcsps": ("lcsp", lambda e, v: explorer_queries.load_area_lcsps(
        e, level="ward", month_from=FY[0], month_to=FY[1], lcsp=v)),
    "asb_types": ("source", lambda e, v: asb_queries.load_asb_types(e, source=v)),
    "asb_counts_source": ("source", lambda e, v: asb_queries.load_asb_counts(
        e, source=v, grain="week", start=DAYS[0], end=DAYS[1])),
    "asb_counts_lcsp": ("lcsp", lambda e, v: asb_queries.load_asb_counts(
        e, source="asb", grain="month", lcsp_code=v, by="area")),
    "asb_counts_ward": ("ward", lambda e, v: asb_queries.load_asb_counts(
        e, source="asb", grain="day", start=DAYS[0], end=DAYS[1], ward_code=v)),
    "asb_counts_type": ("asb_type", lambda e, v: asb_queries.load_asb_counts(
        e, source="asb", grain="month", subcategories=[v])),
    "asb_hours_lcsp": ("lcsp", lambda e, v: asb_queries.load_asb_hour_weekday(
        e, source="asb", lcsp_code=v)),
    "asb_hours_type": ("asb_type", lambda e, v: asb_queries.load_asb_hour_weekday(
        e, source="asb", subcategories=[v])),
    "asb_event_kinds": ("event_kind", lambda e, v: asb_queries.load_asb_events(
        e, start=dt.date(2024, 4, 1), end=dt.date(2026, 10, 31), kinds=[v])),
    "hotspot_cells_source": ("source", lambda e, v: hotspot_queries.load_cell_counts(
        e, 250, *FY, sources=[v])),
    "hotspot_cells_category": ("category", lambda e, v: hotspot_queries.load_cell_counts(
        e, 500, *FY, sources=["recorded_crime"], categories=[v])),
    "hotspot_cells_type": ("asb_type", lambda e, v: hotspot_queries.load_cell_counts(
        e, 1000, *FY, sources=["asb"], subcategories=[v])),
    "hotspot_cells_lcsp": ("lcsp", lambda e, v: hotspot_queries.load_cell_counts(
        e, 250, *FY, lcsp=v)),
    "hotspot_areas_lcsp": ("lcsp", lambda e, v: hotspot_queries.load_area_counts(
        e, "ward", *FY, lcsp=v)),
    "hotspot_area_detail": ("ward", lambda e, v: hotspot_queries.load_area_detail(
        e, "ward", v, *FY)),
    "hotspot_boundaries": ("lcsp", lambda e, v: hotspot_queries.load_boundaries(
        e, "lsoa", lcsp=v)),
    "hotspot_top_locations": ("ward", lambda e, v: hotspot_queries.load_top_locations(
        e, *FY, area_level="ward", area_code=v)),
    "hotspot_total": ("lcsp", lambda e, v: hotspot_queries.load_selection_total(
        e, *FY, lcsp=v)),
    "board_counts_source": ("source", lambda e, v: board_queries.load_measure_counts(
        e, measures=[("k", v, (), (), "")], start=FY[0], end=FY[1])),
    "board_counts_lcsp": ("lcsp", lambda e, v: board_queries.load_measure_counts(
        e, measures=[("k", "recorded_crime", (), (), "")], start=FY[0], end=FY[1],
        level="ward", lcsp_code=v)),
    "board_counts_category": ("category", lambda e, v: board_queries.load_measure_counts(
        e, measures=[("k", "recorded_crime", (v,), (), "")], start=FY[0], end=FY[1],
        level="lcsp")),
    "board_populations": ("lcsp", lambda e, v: board_queries.load_populations(
        e, level="ward", fy_starts=(2025,), lcsp_code=v)),
    "board_kpi_ids": ("kpi", lambda e, v: board_queries.load_kpi_values(e, kpi_ids=[v])),
    "board_kpi_areas": ("lcsp", lambda e, v: board_queries.load_kpi_values(
        e, area_codes=[v, v])),
    "board_action_boards": ("board", lambda e, v: board_queries.load_board_actions(
        e, boards=[v])),
    "asb_incomplete": ("source", lambda e, v: asb_queries.load_incomplete_months(e, source=v)),
}
@pytest.mark.parametrize("case", CASES)
def test_values_are_bound_parameters(engine, real, case):
    kind, call = CASES[case]
    assert _rows(call(engine, real[kind])) > 0, "the control value found nothing"
    for name, payload in PAYLOADS.items():
        assert _rows(call(engine, payload)) == 0, f"payload {name} found rows"


def test_an_unknown_area_keeps_only_what_belongs_to_no_area(engine):
    # Events and actions without an area are partnership-wide: an unknown area code gets
    # exactly those, never everything (as "OR 1=1" would) and never an error.
    span = {"start": dt.date(2024, 4, 1), "end": dt.date(2026, 10, 31)}
    every_event = asb_queries.load_asb_events(engine, **span)
    every_action = board_queries.load_board_actions(engine)
    for name, payload in PAYLOADS.items():
        events = asb_queries.load_asb_events(engine, **span, area_code=payload)
        assert 0 < len(events) < len(every_event), name
        assert len(events) == every_event["area_code"].isna().sum(), name
        assert events["area_code"].isna().all(), name
        actions = board_queries.load_board_actions(engine, lcsp_code=payload)
        assert 0 < len(actions) < len(every_action), name
        assert len(actions) == every_action["lcsp_code"].isna().sum(), name


WHITELISTED = {
    "explorer_measure": lambda e, v: explorer_queries.load_pivot(
        e, measure=v, rows="area", columns=None, grain="month", level="lcsp",
        month_from=FY[0], month_to=FY[1]),
    "explorer_rows": lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows=v, columns=None, grain="month", level="lcsp",
        month_from=FY[0], month_to=FY[1]),
    "explorer_columns": lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="area", columns=v, grain="month", level="lcsp",
        month_from=FY[0], month_to=FY[1]),
    "explorer_grain": lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="period", columns=None, grain=v, level="lcsp",
        month_from=FY[0], month_to=FY[1]),
    "explorer_level": lambda e, v: explorer_queries.load_pivot(
        e, measure="incidents", rows="area", columns=None, grain="month", level=v,
        month_from=FY[0], month_to=FY[1]),
    "explorer_populations": lambda e, v: explorer_queries.load_area_populations(e, v, 2025),
    "explorer_area_lcsps": lambda e, v: explorer_queries.load_area_lcsps(
        e, level=v, month_from=FY[0], month_to=FY[1]),
    "overview_level": lambda e, v: queries.load_area_category_totals(e, *FY, v),
    "asb_grain": lambda e, v: asb_queries.load_asb_counts(e, source="asb", grain=v),
    "asb_by": lambda e, v: asb_queries.load_asb_counts(e, source="asb", grain="month", by=v),
    "hotspot_cell_size": lambda e, v: hotspot_queries.load_cell_counts(e, v, *FY),
    "hotspot_area_level": lambda e, v: hotspot_queries.load_area_counts(e, v, *FY),
    "hotspot_detail_level": lambda e, v: hotspot_queries.load_area_detail(e, v, "x", *FY),
    "hotspot_boundary_level": lambda e, v: hotspot_queries.load_boundaries(e, v),
    "hotspot_location_level": lambda e, v: hotspot_queries.load_top_locations(
        e, *FY, area_level=v, area_code="x"),
    "hotspot_location_cell_size": lambda e, v: hotspot_queries.load_top_locations(
        e, *FY, cell_size=v, cell_id=1),
    "board_level": lambda e, v: board_queries.load_measure_counts(
        e, measures=[("k", "asb", (), (), "")], start=FY[0], end=FY[1], level=v),
    "board_population_level": lambda e, v: board_queries.load_populations(
        e, level=v, fy_starts=(2025,)),
    "fund_split": lambda e, v: fund_queries.load_monthly_spend(e, 2025, by=v),
}


@pytest.mark.parametrize("case", WHITELISTED)
def test_names_outside_the_whitelists_are_refused(engine, case):
    for name, payload in PAYLOADS.items():
        with pytest.raises(ValueError) as refused:
            WHITELISTED[case](engine, payload)
        assert repr(payload)[:40] in str(refused.value), name  # it names what it refused


def _literal_hits(register: pd.DataFrame, needle: str) -> set[int]:
    """Bids whose text fields contain ``needle`` as plain text, found in Python."""
    columns = ("priority", "name", "lcsp_code", "provider", "decision", "decision_body",
               "decision_reason", "outcome_evaluation")
    needle = needle.strip().lower()
    return {int(row["project_id"]) for _, row in register.iterrows()
            if any(needle in str(row[c]).lower() for c in columns if pd.notna(row[c]))}


SEARCHES = ["%", "_", "100%", "a_c", "0/5", "\\", "/", "%_%", "c%", *PAYLOADS.values()]


def test_the_register_search_is_literal(engine):
    register = fund_queries.load_decisions(engine)
    for text in SEARCHES:
        found = fund_queries.load_decisions(engine, None, text)
        assert set(found["project_id"].astype(int)) == _literal_hits(register, text), text[:40]


def test_percent_and_underscore_are_not_wildcards(engine):
    def ids(text):
        return set(fund_queries.load_decisions(engine, 2025, text)["project_id"].astype(int))

    assert 990001 in ids("100%") and 990001 in ids("%")
    assert ids("a_c") == {990002}  # "abc" would match a wildcard "_"
    assert 990003 not in ids("_")
    assert ids("crime a%c") == set()  # as a wildcard, "%" would match "a_c" and "abc"
    assert ids("50/50") == {990004}  # "/" is SQLAlchemy's escape character
    assert ids("back\\slash") == {990005}


def test_a_search_with_a_nul_character_finds_nothing(engine):
    # PostgreSQL text cannot hold NUL, so nothing can contain it; the driver refuses to send
    # it at all, which must not become an error for the reader.
    assert fund_queries.load_decisions(engine, None, "a\x00b").empty


def _table_count(url: str, table: sa.Table = schema.incidents) -> int:
    reader = eng.reader_engine(url)
    try:
        with reader.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        reader.dispose()


def test_imported_text_is_stored_as_text(db, incidents):
    url, _ = db
    titles = [PAYLOADS["or_1_eq_1"], PAYLOADS["drop_table"], "'; DELETE FROM actions; --",
              "%_%", "Robert'); DROP TABLE kpi_values;--"]
    rows = "\n".join(f'T{i},"{t.replace(chr(34), chr(34) * 2)}",Violence Reduction,on track'
                     for i, t in enumerate(titles))
    data = f"code,title,board,status\n{rows}\n".encode()
    kpi_values = _table_count(url, schema.kpi_values)
    run_import("kpis", [("actions.csv", data)], url=url, loaded_by="test")
    reader = eng.reader_engine(url)
    try:
        with reader.connect() as conn:
            stored = dict(conn.execute(
                sa.select(schema.actions.c.code, schema.actions.c.title)
                .where(schema.actions.c.code.in_([f"T{i}" for i in range(len(titles))]))).all())
    finally:
        reader.dispose()
    assert stored == {f"T{i}": t for i, t in enumerate(titles)}
    assert _table_count(url, schema.kpi_values) == kpi_values
    assert _table_count(url) == incidents


def test_an_over_long_text_is_refused_with_its_row_and_column(db, incidents):
    url, _ = db
    data = f"code,title,board,status\nL1,{'x' * 10_000},Violence Reduction,on track\n".encode()
    actions = _table_count(url, schema.actions)
    with pytest.raises(ImportRejected) as refused:
        run_import("kpis", [("long.csv", data)], url=url, loaded_by="test")
    assert [(p.file, p.row, p.column) for p in refused.value.problems] == [
        ("long.csv", 2, "title")]
    assert (_table_count(url, schema.actions), _table_count(url)) == (actions, incidents)


def test_an_xml_bomb_is_refused_and_nothing_is_written(db, incidents):
    url, _ = db
    rows = [["name", "kind", "start_date"], ["Carnival", "local event", "2025-08-25"]]
    data = billion_laughs(workbook(rows), "shared_strings", "Carnival")
    events, imports = _table_count(url, schema.events), _table_count(url, schema.imports)
    with pytest.raises(ImportRejected) as refused:
        run_import("events", [("bomb.xlsx", data)], url=url, loaded_by="test")
    assert [p.file for p in refused.value.problems] == ["bomb.xlsx"]
    assert "XML bomb" in refused.value.problems[0].message
    assert (_table_count(url, schema.events), _table_count(url, schema.imports),
            _table_count(url)) == (events, imports, incidents)
