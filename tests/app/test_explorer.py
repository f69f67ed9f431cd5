"""The Data explorer through app.py with AppTest: its pivot totals equal direct SQL counts on
the test database, sensitive figures below partnership level follow the one disclosure rule
(and so do the totals that would reveal them), link values that are not whitelisted are ignored
with a warning, enormous pivots are capped, and the explorer's (and the data status page's new)
queries answer the same on DuckDB and PostgreSQL. (Roles, differencing attacks and downloads:
test_explorer_access.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import disclosure_queries as dq
from data_access import explorer_queries as eq
from data_access import queries, schema
from kpis import disclosure

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/explorer.py"
FY = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
i = schema.incidents


def open_explorer(**params: str) -> AppTest:
    """The explorer opened from the app, then given ``params`` as a link would give them."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def pivot(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value  # the page's one table


SENSITIVE = ("sexual_offences", "modern_slavery")


def sql_counts(engine, *group: str, start=FY[0], end=FY[1], plain: bool = False,
               **where) -> pd.Series | int:
    """Incident counts; ``plain`` leaves the sensitive categories out, as totals below
    partnership level do (rule 4 of kpis.disclosure)."""
    columns = [i.c[g] for g in group]
    statement = (sa.select(*columns, sa.func.count().label("n")).select_from(i)
                 .where(i.c.incident_date >= start, i.c.incident_date <= end,
                        *[i.c[k] == v for k, v in where.items()]))
    if plain:
        statement = statement.where(i.c.category.notin_(SENSITIVE))
    if columns:
        statement = statement.group_by(*columns)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(statement).all(), columns=[*group, "n"])
    if not group:
        return int(frame["n"].iloc[0])
    return frame.set_index(list(group))["n"]


def test_the_pivot_total_equals_a_direct_sql_count(sample_engine):
    at = open_explorer(fy="2025/26")
    table = pivot(at)
    # The default view: LCSPs by month of the latest complete financial year, every source.
    assert list(table.columns[:3]) == ["LCSP", "Code", "Apr 2025"]
    assert list(table.columns[-2:]) == ["Mar 2026", "Total"]
    total = table.set_index("LCSP")
    # By LCSP (below partnership level) the sensitive categories are left out of the totals.
    assert total.loc["Total", "Total"] == sql_counts(sample_engine, plain=True)
    by_lcsp = sql_counts(sample_engine, "lcsp_code", plain=True)
    for row in table[table["LCSP"] != "Total"].itertuples():
        assert row.Total == by_lcsp[row.Code]
    assert total.loc["Total", "Apr 2025"] == sql_counts(
        sample_engine, start=dt.date(2025, 4, 1), end=dt.date(2025, 4, 30), plain=True)
    assert any("leave out the sensitive categories" in c.value for c in at.caption)
    assert any(c.proto.id for c in at.get("plotly_chart"))  # the chart beside it

    # Categories of one source, one value column; chosen by link.
    at = open_explorer(fy="2025/26", ex_rows="category", ex_cols="none",
                       ex_sources="recorded_crime")
    table = pivot(at).set_index("Category")
    by_category = sql_counts(sample_engine, "category", source="recorded_crime")
    assert table.loc["Burglary", "Incidents"] == by_category["burglary"]
    assert table.loc["Total", "Incidents"] == by_category.sum()
    assert at.multiselect(key="explorer_sources").value == ["recorded_crime"]


def test_a_quarterly_ward_view_of_one_lcsp_matches_sql(sample_engine):
    at = open_explorer(fy="2025/26", lcsp="LCSP-N", ex_level="ward", ex_grain="quarter",
                       ex_measure="weapon")
    table = pivot(at).set_index("Code")
    assert list(table.columns[1:5]) == [f"2025/26 Q{q}" for q in (1, 2, 3, 4)]
    ward = table.index[0]
    expected = sql_counts(sample_engine, ward_code=ward, is_weapon=True,
                          start=dt.date(2025, 7, 1), end=dt.date(2025, 9, 30))
    assert table.loc[ward, "2025/26 Q2"] == expected
    assert table.loc[ward, "Total"] == sql_counts(sample_engine, ward_code=ward, is_weapon=True)


def _small_da_ward_month(engine) -> tuple[str, str, dt.date, int]:
    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.ward_code, mw.c.lcsp_code, mw.c.month_start,
                  sa.func.sum(mw.c.n_domestic_abuse))
        .where(mw.c.ward_code != "", mw.c.month_start >= FY[0], mw.c.month_start <= FY[1])
        .group_by(mw.c.ward_code, mw.c.lcsp_code, mw.c.month_start)
        .having(sa.func.sum(mw.c.n_domestic_abuse).between(1, 7))
        .order_by(mw.c.month_start, mw.c.ward_code)
        .limit(1)
    )
    with engine.connect() as conn:
        return tuple(conn.execute(statement).one())


def test_sensitive_figures_below_partnership_level_follow_the_one_rule(sample_engine):
    ward, lcsp, month, count = _small_da_ward_month(sample_engine)
    # By month: below partnership level that is not a standard period, so every ward's month is
    # withheld (not just the small ones), and so is every total that adds them up.
    at = open_explorer(fy="2025/26", lcsp=lcsp, ex_measure="domestic_abuse", ex_level="ward")
    table = pivot(at)
    column = f"{month:%b %Y}"
    assert table.set_index("Code").loc[ward, column] == disclosure.WITHHELD
    figures = table.drop(columns=["Ward", "Code"])
    assert (figures == disclosure.WITHHELD).all().all()
    notes = " ".join(c.value for c in at.caption)
    assert disclosure.note() in notes
    assert str(count) not in " ".join(map(str, figures.to_numpy().ravel()))
    # Nothing left to chart: said, not an empty chart.
    assert not at.get("plotly_chart")
    assert any("every figure in this view is withheld" in i.value for i in at.info)

    # For the whole financial year: exactly the cells the rule withholds, the rest as counted.
    at = open_explorer(fy="2025/26", lcsp=lcsp, ex_measure="domestic_abuse", ex_level="ward",
                       ex_cols="none")
    withheld = dq.load_withheld(sample_engine, FY[0], dt.date(2026, 3, 1),
                                disclosure.SUPPRESSION_THRESHOLD)["n_domestic_abuse"]
    by_ward = sql_counts(sample_engine, "ward_code", is_domestic_abuse=True)
    table = pivot(at)
    wards = table[table["Ward"] != "Total"]
    assert len(wards) > 1
    for code, value in zip(wards["Code"], wards["Domestic abuse"]):
        assert value == (disclosure.WITHHELD if code in withheld else by_ward.get(code, 0)), code

    # The same figure for the whole partnership by month is not withheld.
    at = open_explorer(fy="2025/26", ex_measure="domestic_abuse", ex_level="partnership")
    row = pivot(at).iloc[0]
    assert row[column] == sql_counts(sample_engine, is_domestic_abuse=True,
                                     start=month, end=month + pd.offsets.MonthEnd(0))
    assert disclosure.WITHHELD not in set(pivot(at).iloc[0])
    assert not any(disclosure.note() in c.value for c in at.caption)


def test_a_sensitive_category_is_withheld_in_a_month_range(sample_engine):
    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.ward_code, mw.c.lcsp_code)
        .where(mw.c.category == "sexual_offences", mw.c.ward_code != "",
               mw.c.month_start == dt.date(2025, 4, 1))
        .group_by(mw.c.ward_code, mw.c.lcsp_code)
        .having(sa.func.sum(mw.c.n).between(1, 7))
        .order_by(mw.c.ward_code).limit(1)
    )
    with sample_engine.connect() as conn:
        ward, lcsp = conn.execute(statement).one()
    with sample_engine.connect() as conn:
        ward_name = conn.execute(sa.select(schema.areas.c.name).where(
            schema.areas.c.code == ward)).scalar_one()
    at = open_explorer(**{"from": "2025-04", "to": "2025-04"}, lcsp=lcsp, ex_rows="category",
                       ex_cols="area", ex_level="ward", ex_sources="recorded_crime")
    table = pivot(at).set_index("Category")
    # One month is not a standard period: the category is withheld for every ward, small or
    # not, and so is each ward's total (it less the other categories would be the count).
    assert set(table.loc["Sexual offences"]) == {disclosure.WITHHELD}
    assert table.loc["Total", ward_name] == disclosure.WITHHELD
    # A category that is not sensitive keeps its figures beside it.
    burglary = pd.to_numeric(table.loc["Burglary"], errors="coerce")
    assert burglary.notna().all()
    assert burglary[ward_name] == sql_counts(sample_engine, ward_code=ward, category="burglary",
                                             start=dt.date(2025, 4, 1), end=dt.date(2025, 4, 30))


def test_unknown_values_in_the_link_are_ignored_with_a_warning():
    at = open_explorer(ex_rows="category;drop table incidents", ex_measure="everything",
                       ex_level="county", ex_cats="burglary,<b>x</b>")
    warning = " ".join(w.value for w in at.warning)
    assert "ex_rows=`category;drop table incidents`" in warning
    assert "ex_measure=`everything`" in warning and "ex_level=`county`" in warning
    assert "<b>x</b>" in warning  # quoted in a code span, never markup
    # The whitelisted defaults are used instead, and the link is rewritten to them.
    assert at.selectbox(key="explorer_rows").value == "area"
    assert at.selectbox(key="explorer_measure").value == "incidents"
    assert at.query_params["ex_rows"] == "area" and at.query_params["ex_level"] == "lcsp"
    assert at.multiselect(key="explorer_categories").value == ["burglary"]
    assert pivot(at).columns[0] == "LCSP"

    # Rows and columns the same dimension: the columns go.
    at = open_explorer(ex_rows="source", ex_cols="source")
    assert "ex_cols=`source` (the same as the rows)" in " ".join(w.value for w in at.warning)


def test_the_query_refuses_names_outside_the_whitelist(sample_engine):
    base = dict(measure="incidents", rows="area", columns=None, grain="month", level="lcsp",
                month_from=FY[0], month_to=FY[1])
    for bad in ({"measure": "n; drop table incidents"}, {"rows": "lsoa_code"},
                {"columns": "category", "rows": "category"}, {"grain": "week"},
                {"level": "county"}):
        with pytest.raises(ValueError):
            eq.load_pivot(sample_engine, **{**base, **bad})


def test_an_enormous_pivot_is_capped_and_says_so(sample_engine):
    at = open_explorer(fy="2025/26", ex_level="lsoa")
    table = pivot(at)
    assert len(table) == eq.DEFAULT_MAX_ROWS + 1  # and the total line
    assert table.iloc[-1, 0] == "Total of rows shown"
    notes = " ".join(c.value for c in at.caption)
    assert f"Showing the {eq.DEFAULT_MAX_ROWS} LSOAs with the most incidents of 6" in notes
    # The rows kept are the largest: none left out has more incidents than one shown.
    counts = sql_counts(sample_engine, "lsoa_code")
    shown = set(table["Code"].iloc[:-1])
    smallest_shown = counts[counts.index.isin(shown)].min()
    assert counts[~counts.index.isin(shown)].max() <= smallest_shown


def test_rates_per_1000_residents_use_each_areas_residents(sample_engine):
    at = open_explorer(fy="2025/26", ex_show="rate", ex_level="ward", ex_cols="none",
                       lcsp="LCSP-S")
    table = pivot(at).set_index("Code")
    ward = table.index[0]
    with sample_engine.connect() as conn:
        population = conn.execute(sa.select(schema.areas.c.population).where(
            schema.areas.c.code == ward)).scalar_one()
    expected = sql_counts(sample_engine, ward_code=ward, plain=True) / population * 1000
    assert table.loc[ward, "Incidents per 1,000 residents"] == pytest.approx(expected, abs=0.01)
    assert any("per 1,000 residents over the whole period" in c.value for c in at.caption)


def _answers(url: str) -> dict[str, object]:
    from data_access.engine import reader_engine

    engine = reader_engine(url)
    specs = {
        "lcsp_by_month": dict(rows="area", columns="period", grain="month", level="lcsp"),
        "lsoa_by_quarter": dict(rows="area", columns="period", grain="quarter", level="lsoa",
                                max_rows=40),
        "year_by_category": dict(rows="period", columns="category", grain="year",
                                 level="partnership"),
        "type_by_source": dict(rows="asb_type", columns="source", grain="month", level="ward",
                               lcsp="LCSP-N", sources=("asb", "recorded_crime")),
        "categories_by_ward": dict(rows="category", columns="area", grain="month", level="ward",
                                   max_columns=7, categories=("burglary", "robbery")),
    }
    try:
        out = {}
        for name, spec in specs.items():
            data = eq.load_pivot(engine, measure="incidents", month_from=dt.date(2024, 10, 1),
                                 month_to=dt.date(2025, 9, 1), **spec)
            frame = data.frame.sort_values([c for c in ("row", "column") if c in data.frame])
            out[name] = (frame.reset_index(drop=True), data.row_keys, data.column_keys)
        out["categories"] = eq.load_categories(engine)
        # The data status page's queries beside them.
        out["spans"] = queries.load_lsoa_spans(engine)
        out["boundaries"] = queries.load_boundary_sources(engine)
        out["latest_imports"] = queries.load_latest_imports_by_source(engine).drop(
            columns="loaded_at")
        out["lcsp_population"] = eq.load_area_populations(engine, "lcsp", 2025)
        out["lsoa_lcsps"] = eq.load_area_lcsps(engine, level="lsoa",
                                               month_from=dt.date(2024, 10, 1),
                                               month_to=dt.date(2025, 9, 1), lcsp="LCSP-N")
        out["ward_lcsps"] = eq.load_area_lcsps(engine, level="ward",
                                               month_from=dt.date(2024, 10, 1),
                                               month_to=dt.date(2025, 9, 1))
        out["sources"] = eq.load_sources(engine).assign(
            first_month=lambda f: pd.to_datetime(f["first_month"]),
            last_month=lambda f: pd.to_datetime(f["last_month"]))
        return out
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_explorer_and_data_status_queries_answer_the_same_on_duckdb_and_postgresql(
        tmp_path, pg_url):
    from data_access import bootstrap
    from sample_data.generator import build_dataset

    def dataset():
        return build_dataset(scale=0.05, start=dt.date(2024, 10, 1), end=dt.date(2025, 9, 30),
                             include_fund=False)

    duck_url = f"duckdb:///{tmp_path / 'csp.duckdb'}"
    assert bootstrap.build_database(duck_url, dataset)
    assert bootstrap.build_database(pg_url, dataset)
    duck, pg = _answers(duck_url), _answers(pg_url)
    for name, value in duck.items():
        if isinstance(value, tuple):
            pd.testing.assert_frame_equal(pg[name][0], value[0], obj=name, check_dtype=False)
            assert pg[name][1:] == value[1:], name
        else:
            pd.testing.assert_frame_equal(pg[name], value, obj=name, check_dtype=False)
    assert len(duck["lsoa_by_quarter"][0]["row"].unique()) == 40


def test_downloads_are_formula_safe_and_the_workbook_says_what_it_holds():
    import io

    import openpyxl

    from kpis import exports
    from kpis.periods import fy_period
    from pages import explorer
    from pages.common.shell import Filters

    # A category named by a partner as a formula (as a typed-in label can be).
    categories = pd.DataFrame({"source": "asb", "category": ["evil", "calm"],
                               "label": ["=HYPERLINK(\"http://x\",\"click\")", "Calm"],
                               "is_asb": True, "is_sensitive": False, "sort_order": [1, 2]})
    frame = pd.DataFrame({"row": ["evil", "calm"], "value": [12, 30]})
    data = explorer.ExplorerData(eq.PivotData(frame, 2, 0, 500, 60), None, None, "Partnership")
    settings = explorer.ExplorerSettings("incidents", "count", "category", None, "month", "lcsp",
                                         ("asb",), ())
    filters = Filters(fy_period(2025), None, None, None, None, None, 2025, FY[1])
    view = explorer.compute_pivot(data, settings, filters, categories)
    assert view.table["Incidents"].tolist() == [12, 30, 42]
    text = exports.to_csv_bytes(view.table).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text
    workbook = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx_bytes(
        {"Pivot": view.table, "About": explorer.about_frame(settings, filters, view, categories)})))
    assert workbook.sheetnames == ["Pivot", "About"]
    cell = workbook["Pivot"]["A2"]
    assert cell.value.startswith("'=") and cell.data_type == "s"
    about = {r[0]: r[1] for r in workbook["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Measure"] == "Incidents" and about["Period"] == "2025/26"


def test_an_lcsp_total_minus_its_other_categories_gives_no_sensitive_category():
    """Rule 4: "recorded crime by LCSP" leaves the sensitive categories out, so subtracting the
    LCSP's non-sensitive categories (from the categories-by-LCSP view) leaves nothing."""
    totals = pivot(open_explorer(fy="2025/26", ex_cols="none", ex_sources="recorded_crime"))
    totals = totals[totals["LCSP"] != "Total"].set_index("LCSP")["Incidents"]
    by_category = pivot(open_explorer(fy="2025/26", ex_rows="category", ex_cols="area",
                                      ex_sources="recorded_crime"))
    by_category = by_category[~by_category["Category"].isin(
        ["Sexual offences", "Modern slavery", "Total"])].drop(columns=["Category"])
    by_category = by_category.drop(columns=[c for c in by_category.columns if c == "Total"])
    assert set(totals.index) <= set(by_category.columns), by_category.columns
    for name, total in totals.items():
        values = pd.to_numeric(by_category[name].astype(str).str.replace(",", ""))
        assert int(total) == values.sum(), name
