"""The Community Safety Fund page through app.py with AppTest.

With 2017/18 chosen the page shows exactly what the partnership published: resources GBP 1,990k
(1,844k grant + 146k carry-forward), allocated 1,976k, unallocated 14k, year-end spend 1,528k
(77% of allocation), the allocation subtotals per priority of ``fund_2017_18_allocations.csv``
and the OPCC returns with the quarter 1 performance return 79 days late. Also: links, the
register search (``%`` and ``_`` literal), the exports (none for a role without downloads),
and the import (administrators only; dry run listing every problem; all-or-nothing write; the
same file twice changes nothing more).

The shared sample database (tests/conftest.py) is built without the fund tables, so this module
copies it and adds them (2017/18 as published plus the sample's years).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
from pathlib import Path

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from data_access import engine as eng
from data_access import fund_queries as fq
from data_access import loading, schema
from kpis import fund_charts as fc
from kpis import fund_spend as fs
from sample_data.fund import fund_frames, read_published_allocations
from sample_data.generator import DEFAULT_SEED
from tests.app.markdown_text import as_shown
from tests.app.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/fund.py"
FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")
SAMPLE_FUND_YEARS = [2024, 2025, 2026]  # the years of tests/conftest.py's sample
K = 1000
WEBSITE = 2017047  # "Website", allocated GBP 12k in March 2018, nothing spent in 2017/18


def copy_with_fund(source_url: str, folder: Path) -> str:
    """A copy of the sample DuckDB database with the fund tables added; returns its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "csp_fund.duckdb"
    shutil.copyfile(os.path.realpath(eng.duckdb_path(source_url)), target)
    url = f"duckdb:///{target}"
    frames = fund_frames(DEFAULT_SEED, SAMPLE_FUND_YEARS)
    with eng.write_transaction(url) as conn:
        for name in FUND_TABLES:
            loading.bulk_insert(conn, schema.metadata.tables[name], frames[name])
    return url


@pytest.fixture(scope="module")
def fund_db_url(sample_db_url, tmp_path_factory) -> str:
    return copy_with_fund(sample_db_url, tmp_path_factory.mktemp("fund_db"))


@pytest.fixture(autouse=True)
def fund_database(app_database, fund_db_url, monkeypatch) -> str:
    """Every test here reads the copy with the fund (caches are emptied by app_database)."""
    monkeypatch.setenv("DATABASE_URL", fund_db_url)
    return fund_db_url


@pytest.fixture
def writable_fund_db(sample_db_url, tmp_path, monkeypatch) -> str:
    """A private copy for a test that imports (writes)."""
    url = copy_with_fund(sample_db_url, tmp_path / "writable")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


# --- helpers ----------------------------------------------------------------------------------

def open_fund(year: int | None = 2017, section: str | None = None,
              query_params: dict[str, str] | None = None, role: str | None = None,
              signed_in: bool = False) -> AppTest:
    """The app, switched to the fund page, the fund year chosen in its box, a section open
    (as ``role`` in the local demo mode, default admin; or as an administrator signed in, for
    a test that imports: once real data is imported the demo mode switches itself off)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    if signed_in:
        sign_in(at, role="admin")
    elif role is not None:
        at.session_state["auth_demo_role"] = role
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert_clean(at)
    if year is not None:
        at.selectbox(key="fund_fy").set_value(year).run()
    if section is not None:
        open_section(at, section)
    return at


def open_section(at: AppTest, label: str) -> AppTest:
    """Open a tab (as a click would: the tabs' state is the open tab's label)."""
    at.session_state["fund_section_tab"] = label
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label: str):
    found = [m for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return found[0]


def table_with(at: AppTest, column: str):
    """The first table on the page with ``column``."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with {column!r}")


def published_by_priority() -> dict[str, tuple[int, int]]:
    """(carry-forward, new allocation) in pounds per priority, from the published CSV."""
    table = read_published_allocations()
    sums = table.groupby("priority")[["carry_forward_2016_17_k", "allocation_2017_18_k"]].sum()
    return {p: (int(r.carry_forward_2016_17_k) * K, int(r.allocation_2017_18_k) * K)
            for p, r in sums.iterrows()}


def spend_csv(rows: list[tuple]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["financial_year", "project_id", "project", "month", "amount",
                     "profile_amount"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# --- 2017/18 as published ---------------------------------------------------------------------

def test_2017_18_headline_figures_are_exactly_as_published():
    at = open_fund(2017)
    assert_clean(at)
    assert "Community Safety Fund" in [t.value for t in at.title]
    assert at.selectbox(key="fund_fy").value == 2017
    assert at.query_params["fund_year"] == "2017/18"
    resources = metric(at, "Resources")
    assert resources.value == "£1,990k"
    assert resources.delta == "£1,844k + £146k"
    text = " ".join(m.value for m in at.markdown)
    assert ("**Resources** £1,990k = £1,844k grant (£1,873k less £29k top-slice) + £146k "
            "carry-forward approved (£211k requested less £65k OPCC top-slice).") in text
    assert metric(at, "Allocated").value == "£1,976k"
    assert metric(at, "Unallocated").value == "£14k"
    spend = metric(at, "Year-end spend")
    assert spend.value == "£1,528k"
    assert (spend.delta, spend.proto.delta_description) == ("77%", "of allocation")
    assert metric(at, "Outturn").value == "£1,528k"
    assert metric(at, "Slippage").value == "£348k"
    requested = metric(at, "Carry-forward requested")
    assert requested.value == "£114k"
    assert requested.delta == "£100k + £14k"
    assert ("**Carry-forward requested** to 2018/19: £100k for projects + £14k unallocated."
            in text)


def test_2017_18_waterfall_runs_from_grant_to_outturn():
    at = open_fund(2017)  # the Summary tab is open by default
    steps = table_with(at, "Step").set_index("Step")
    assert steps.loc["Grant 2017/18", "Amount (£)"] == 1_873 * K
    assert steps.loc["Resources", "Running total (£)"] == 1_990 * K
    assert steps.loc["Allocated", "Running total (£)"] == 1_976 * K
    assert steps.loc["Outturn", "Running total (£)"] == 1_528 * K
    chart = at.get("plotly_chart")
    assert len(chart) == 1


def test_2017_18_priority_subtotals_match_the_published_table():
    at = open_fund(2017, "Priorities and LCSPs")
    table = table_with(at, "Priority").set_index("Priority")
    published = published_by_priority()
    assert set(table.index) == set(published) | {"Total"}
    for priority, (carry_forward, new) in published.items():
        row = table.loc[priority]
        assert row["Carry-forward allocation (£)"] == carry_forward, priority
        assert row["New allocation (£)"] == new, priority
        assert row["Allocation (£)"] == carry_forward + new, priority
    total = table.loc["Total"]
    assert (total["Carry-forward allocation (£)"], total["New allocation (£)"],
            total["Allocation (£)"], total["Spent (£)"]) == (146 * K, 1_830 * K, 1_976 * K,
                                                              1_528 * K)
    assert round(total["% spent"]) == 77
    # The published subtotals in GBP k (allocated_by_priority in published_figures.yaml).
    assert table.loc["2 Deterrence and Prevention", "Allocation (£)"] == 545 * K
    assert table.loc["4 Crime and The Community", "Allocation (£)"] == 632 * K
    lcsps = table_with(at, "LCSP").set_index("LCSP")
    # GBP 60k devolved to each LCSP; South and East also hold local projects.
    assert lcsps.loc["North", "New allocation (£)"] == lcsps.loc["West", "New allocation (£)"] \
        == 60 * K


def test_2017_18_opcc_returns_as_at_the_year_end_report():
    at = open_fund(2017, "OPCC returns")
    assert at.query_params["fund_section"] == "returns"
    assert at.date_input(key="fund_returns_as_at_2017").value == dt.date(2018, 4, 20)
    returns = table_with(at, "Return").set_index("Return")
    late = returns.loc["Quarter 1 (Apr-Jun) performance"]
    assert (late["Status"], late["Days late"]) == ("Late (79 days)", 79)
    assert late["Due"] == dt.date(2017, 7, 31) and late["Submitted"] == dt.date(2017, 10, 18)
    assert returns.loc["Quarter 4 / Year-End", "Status"] == "Outstanding"
    on_time = ["Financial Plan 2017/18", "Quarter 1 (Apr-Jun) financial", "Quarter 2 (Jul-Sep)",
               "Quarter 3 (Oct-Dec)"]
    assert list(returns.loc[on_time, "Status"]) == ["On time"] * 4
    text = " ".join(as_shown(m.value) for m in at.markdown)
    assert "5 of 6 submitted, 1 late." in text
    assert "Next deadline: **Quarter 4 / Year-End**, due 23 Apr 2018 (in 3 days)." in text
    assert metric(at, "Next OPCC return").value == "23 Apr 2018"

    # A later "as at" day: the year-end return becomes overdue.
    at.date_input(key="fund_returns_as_at_2017").set_value(dt.date(2018, 5, 1)).run()
    assert_clean(at)
    returns = table_with(at, "Return").set_index("Return")
    assert returns.loc["Quarter 4 / Year-End", "Status"] == "Overdue (8 days)"


def test_2017_18_projects_flags_and_carry_forward():
    at = open_fund(2017, "Projects")
    projects = table_with(at, "Why flagged")
    assert len(projects) == 51
    guns = projects[projects["Project"].str.startswith("Guns & Gangs")].iloc[0]
    assert guns["Carry-forward requested (£)"] == 100 * K
    assert set(projects["Flag"]) <= {"", "▲ Overspend", "▼ Underspend"}
    cf = table_with(at, "Spent from carry-forward (£)")
    assert cf["Carry-forward (£)"].sum() == 146 * K
    assert cf["Spent from carry-forward (£)"].sum() == 93 * K

    # A stricter rule flags more projects; the rule lives in the page's expander.
    flagged = (projects["Flag"] != "").sum()
    at.number_input(key="fund_rule_underspend_pct").set_value(0.0).run()
    at.number_input(key="fund_rule_min_amount").set_value(0.0).run()
    assert_clean(at)
    stricter = table_with(at, "Why flagged")
    assert (stricter["Flag"] != "").sum() > flagged
    # The rule survives a visit to another tab, and to another page.
    open_section(at, "Summary")
    open_section(at, "Projects")
    assert at.number_input(key="fund_rule_underspend_pct").value == 0.0
    at.switch_page("pages/overview.py").run()
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert at.selectbox(key="fund_fy").value == 2017
    assert at.number_input(key="fund_rule_underspend_pct").value == 0.0
    assert (table_with(at, "Why flagged")["Flag"] != "").sum() > flagged


def test_spend_profile_by_quarter_adds_up_to_the_year():
    at = open_fund(2017, "Spend profile")
    at.get("button_group")[0].set_value("quarter").run()
    assert_clean(at)
    profile = table_with(at, "Period")
    assert list(profile["Period"]) == ["Q1", "Q2", "Q3", "Q4"]
    assert profile["Spent (£)"].sum() == 1_528 * K
    assert profile["Cumulative spent (£)"].iloc[-1] == 1_528 * K


def test_the_register_search_is_literal():
    at = open_fund(2017, "Decisions register")
    everything = table_with(at, "Bid")
    assert len(everything) == 56  # 51 funded projects and 5 bids rejected or deferred
    search = at.text_input(key="fund_register_search")

    search.set_value("football").run()
    assert_clean(at)
    found = table_with(at, "Bid")
    assert list(found["Bid"]) == ["Youth diversion football league"]
    assert list(found["Decision"]) == ["Deferred"]

    search.set_value("100%").run()  # a literal percent sign, not "anything"
    found = table_with(at, "Bid")
    assert list(found["Bid"]) == ["Mental Health Pathfinder"]
    search.set_value("_").run()  # no bid has an underscore
    assert table_with(at, "Bid").empty

    search.set_value("").run()
    at.multiselect(key="fund_register_decisions").set_value(["rejected"]).run()
    rejected = table_with(at, "Bid")
    assert len(rejected) == 3 and set(rejected["Decision"]) == {"Rejected"}
    at.toggle(key="fund_register_all_years").set_value(True).run()
    assert_clean(at)
    assert len(table_with(at, "Bid")) > 3
    assert set(table_with(at, "Bid")["Year"]) > {"2017/18"}


def test_the_financial_return_exports():
    at = open_fund(2017)
    labels = [b.label for b in at.get("download_button")]
    assert "Financial return (XLSX)" in labels and "Financial return (CSV)" in labels

    # What the buttons send (built on click): the functions they call, on the same data.
    engine = eng.reader_engine(os.environ["DATABASE_URL"])
    today = dt.date.today()
    data = fq.load_fund_year_data(engine, 2017, today)
    engine.dispose()
    summary = fs.compute_year_summary(data.year, data.projects, as_at=today,
                                      spend_through=data.last_spend_month)
    projects = fs.compute_project_table(data.projects, closed=True,
                                        quarter_start=fs.last_quarter_start(data.through))
    returns = fs.returns_status(data.returns, dt.date(2018, 4, 20))
    book = openpyxl.load_workbook(io.BytesIO(fc.financial_return_xlsx(summary, projects, returns)))
    assert book.sheetnames == ["Summary", "By priority", "Projects", "Carry-forward", "Returns"]
    summary_rows = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary_rows["Total resources"] == 1_990 * K
    assert summary_rows["Spent to date"] == 1_528 * K
    csv_text = fc.financial_return_csv(summary, projects).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("project_id,priority,name")
    assert len(csv_text.splitlines()) == 52


def test_a_viewer_sees_the_fund_without_downloads_or_the_import():
    at = open_fund(2017, role="viewer")
    assert metric(at, "Resources") is not None
    assert not at.get("download_button")
    assert any("not part of your role" in c.value for c in at.caption)
    assert not at.get("file_uploader") and not at.expander  # importing writes: admins only
    for label in ("Priorities and LCSPs", "Projects", "Spend profile", "OPCC returns",
                  "Decisions register", "All years"):
        open_section(at, label)
        assert at.dataframe, label  # each section's tables are there ...
        assert not at.get("download_button"), label  # ... without their downloads
    # A board member downloads but does not import.
    at = open_fund(2017, role="board_member")
    labels = [b.label for b in at.get("download_button")]
    assert "Financial return (XLSX)" in labels and "Download CSV" in labels
    assert not at.get("file_uploader")


def test_all_years_view_marks_the_running_year_as_forecast():
    at = open_fund(2017, "All years")
    by_year = table_with(at, "Basis")
    assert "Priority" not in by_year.columns
    rows = by_year.set_index("Year")
    assert rows.loc["2017/18", "Allocation (£)"] == 1_976 * K
    assert rows.loc["2017/18", "Outturn (£)"] == 1_528 * K
    assert rows.loc["2026/27", "Basis"] == "Forecast"


# --- year choice and links --------------------------------------------------------------------

def test_the_fund_year_follows_the_sidebar_then_the_link():
    at = open_fund(year=None)
    # The sidebar's year (the latest complete one, 2025/26) is a fund year, so it is the default.
    assert at.selectbox(key="fund_fy").value == 2025
    assert metric(at, "Outturn").value.startswith("£")
    assert "2017/18" in at.selectbox(key="fund_fy").options

    at = open_fund(year=None, query_params={"fund_year": "2017/18", "fund_section": "returns"})
    assert at.selectbox(key="fund_fy").value == 2017
    assert table_with(at, "Return") is not None

    at = open_fund(year=None, query_params={"fund_year": "1999/00", "fund_section": "nope"})
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "fund_year" in warning and "fund_section" in warning
    assert at.selectbox(key="fund_fy").value == 2025


def test_a_running_year_forecasts_from_the_profile():
    at = open_fund(2026)
    assert_clean(at)
    assert metric(at, "Spent to date").value.startswith("£")
    assert metric(at, "Forecast outturn").value.startswith("£")
    assert "2026/27 (in progress)" in at.selectbox(key="fund_fy").options


# --- import -----------------------------------------------------------------------------------

def test_import_dry_run_lists_every_problem_and_writes_nothing():
    at = open_fund(2017)
    bad = spend_csv([
        ("2017/18", WEBSITE, "", "2018-03", "twelve", ""),            # text in a money field
        ("2017/18", 9999999, "", "2018-03", "100", ""),              # unknown project
        ("2017/18", "", "No such project", "2018-02", "100", ""),    # unknown project by name
        ("2017/18", WEBSITE, "", "2018-01", "(1,234)", ""),          # a credit: fine
        ("2017/18", WEBSITE, "", "2018-01", "50", ""),               # duplicate of the row above
    ])
    at.file_uploader(key="fund_import_file_0").set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    assert any("4 problems" in e.value and "nothing was imported" in e.value for e in at.error)
    problems = table_with(at, "Problem")
    assert list(problems["Row"]) == [2, 3, 4, 6]
    assert list(problems["File"].unique()) == ["bad.csv"]
    assert "amount" in set(problems["Column"])
    assert not [b for b in at.button if b.key == "fund_import_button"]
    assert metric(at, "Year-end spend").value == "£1,528k"

    missing = b"financial_year,project,amount\n2017/18,Website,100\n"
    at.file_uploader(key="fund_import_file_0").set_value(("m.csv", missing, "text/csv")).run()
    problems = table_with(at, "Problem")
    assert list(problems["Column"]) == ["month"]
    assert "required column is missing" in problems["Problem"].iloc[0]


def test_import_writes_all_rows_once_and_the_page_shows_them(writable_fund_db):
    at = open_fund(2017, signed_in=True)
    good = spend_csv([("2017/18", WEBSITE, "Website", "2018-03", "£12,000.00", "12000")])
    at.file_uploader(key="fund_import_file_0").set_value(("spend.csv", good, "text/csv")).run()
    assert_clean(at)
    assert any("spend.csv is valid (1 row checked)" in as_shown(s.value) for s in at.success)
    at.button(key="fund_import_button").click().run()
    assert_clean(at)
    assert any("Imported spend.csv" in as_shown(s.value)
               and "1 row read, 0 added, 1 replaced" in s.value for s in at.success)
    assert metric(at, "Year-end spend").value == "£1,540k"  # 1,528k + 12k

    # The same file again (a new uploader after an import): the same figures, nothing doubled.
    at.file_uploader(key="fund_import_file_1").set_value(("spend.csv", good, "text/csv")).run()
    at.button(key="fund_import_button").click().run()
    assert_clean(at)
    assert metric(at, "Year-end spend").value == "£1,540k"
