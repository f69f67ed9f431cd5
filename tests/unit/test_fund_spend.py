"""Community Safety Fund: known answers from the published 2017/18 year, flag rules, returns.

The 2017/18 figures come from the Birmingham CSP annual report 2017/18
(../shared/reference/published_figures.yaml and fund_2017_18_allocations.csv); the sample data
ships a copy of that allocation table, which is read here and cross-checked with the original
when it is present.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from kpis import fund_spend as fs
from kpis.exports import to_xlsx_bytes
from sample_data.fund import (ALLOCATIONS_CSV, PRIORITIES_2025_28, fund_frames,
                              read_published_allocations)

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
ALL_YEARS = [2017, 2020, 2021, 2022, 2023, 2024, 2025, 2026]
AS_AT = dt.date(2026, 11, 21)
REPORT_DATE = dt.date(2018, 4, 20)  # the 2017/18 year-end report, before the Q4 deadline
K = 1000

# Published subtotals: carry-forward from 2016/17 and new allocations, GBP k.
PUBLISHED_BY_PRIORITY = {
    "1 Scoping & Development": (0, 50),
    "2 Deterrence and Prevention": (32, 513),
    "3 Supporting The Vulnerable": (0, 749),
    "4 Crime and The Community": (114, 518),
}


@pytest.fixture(scope="module")
def frames():
    return fund_frames(42, ALL_YEARS)


def _year_view(frames, fy, as_at=AS_AT):
    year = frames["fund_years"].set_index("fy_start").loc[fy].to_dict() | {"fy_start": fy}
    spend = frames["fund_spend"].merge(frames["fund_projects"][["project_id", "fy_start"]])
    spend = spend[(spend["fy_start"] == fy) & (spend["amount"] != 0)]
    last = max(spend["month_start"]) if len(spend) else None
    through = fs.effective_through(fy, last, as_at)
    projects = fs.project_finance_from_frames(frames["fund_projects"], frames["fund_allocations"],
                                              frames["fund_spend"], fy, through)
    summary = fs.compute_year_summary(year, projects, as_at=as_at, spend_through=last)
    table = fs.compute_project_table(projects, closed=summary.is_closed,
                                     quarter_start=fs.last_quarter_start(through))
    return summary, table, through


@pytest.fixture(scope="module")
def year_2017(frames):
    return _year_view(frames, 2017)


# --- the published year ----------------------------------------------------------------------

def test_2017_year_summary_matches_the_published_report(year_2017):
    summary, _, _ = year_2017
    assert summary.financial_year == "2017/18"
    assert summary.grant_before_top_slice == 1_873 * K
    assert summary.top_slice == 29 * K
    assert summary.grant_for_allocation == 1_844 * K
    assert summary.carry_forward_requested_in == 211 * K
    assert summary.carry_forward_top_slice == 65 * K
    assert summary.carry_forward_approved == 146 * K
    assert summary.resources == 1_990 * K
    assert summary.allocated == 1_976 * K
    assert summary.allocated_new == 1_830 * K
    assert summary.allocated_carry_forward == 146 * K
    assert summary.unallocated == 14 * K
    assert summary.spent_to_date == 1_528 * K
    assert summary.forecast_outturn == 1_528 * K
    assert round(summary.pct_spent * 100) == 77
    assert summary.slippage == 348 * K
    assert summary.project_carry_forward_requests == 100 * K
    assert summary.requested_carry_forward == 114 * K
    assert summary.is_closed and summary.spend_through == dt.date(2018, 3, 1)
    assert summary.n_projects == 51


def test_2017_matches_published_figures_yaml(year_2017):
    yaml = pytest.importorskip("yaml")
    path = REFERENCE / "published_figures.yaml"
    if not path.exists():
        pytest.skip(f"published figures not present at {path}")
    published = yaml.safe_load(path.read_text())["community_safety_fund_2017_18"]
    summary, table, _ = year_2017
    assert summary.resources == published["total_resources"] * K
    assert summary.allocated == published["allocated_total"] * K
    assert summary.unallocated == published["unallocated"] * K
    assert summary.spent_to_date == published["year_end_spend"] * K
    assert summary.slippage == published["slippage_timing"] * K
    assert summary.requested_carry_forward == published["carry_forward_request_to_2018_19"] * K
    assert fs.carry_forward_completion(table)["carry_forward_spent"].sum() == \
        published["carry_forward_projects_spend"] * K
    by_priority = fs.summarise_by(table, "priority").set_index("priority")
    for priority, (cf, new) in published["allocated_by_priority"].items():
        assert by_priority.loc[priority, "allocation_carry_forward"] == cf * K
        assert by_priority.loc[priority, "allocation_new"] == new * K


def test_2017_subtotals_per_priority_from_the_shipped_csv(year_2017):
    _, table, _ = year_2017
    shipped = read_published_allocations()
    expected = shipped.groupby("priority")[["carry_forward_2016_17_k", "allocation_2017_18_k"]].sum()
    by_priority = fs.summarise_by(table, "priority").set_index("priority")
    for priority, row in expected.iterrows():
        assert by_priority.loc[priority, "allocation_carry_forward"] == row["carry_forward_2016_17_k"] * K
        assert by_priority.loc[priority, "allocation_new"] == row["allocation_2017_18_k"] * K
        assert tuple(row) == PUBLISHED_BY_PRIORITY[priority]
    assert by_priority.loc["Total", "allocation"] == 1_976 * K
    assert by_priority.loc["Total", "spent_to_date"] == 1_528 * K


def test_shipped_csv_is_the_published_reference():
    original = REFERENCE / "fund_2017_18_allocations.csv"
    if not original.exists():
        pytest.skip(f"reference allocations not present at {original}")
    assert ALLOCATIONS_CSV.read_bytes() == original.read_bytes()


def test_2017_has_every_published_project_with_its_allocation(frames, year_2017):
    _, table, _ = year_2017
    shipped = read_published_allocations()
    got = table.set_index("name")
    assert sorted(got.index) == sorted(shipped["project"])
    for row in shipped.itertuples():
        assert got.loc[row.project, "allocation_carry_forward"] == row.carry_forward_2016_17_k * K
        assert got.loc[row.project, "allocation_new"] == row.allocation_2017_18_k * K
    lcsp = got[got.index.str.startswith("LCSP ")]["lcsp_code"].to_dict()
    assert lcsp == {"LCSP North": "LCSP-N", "LCSP East": "LCSP-E", "LCSP South": "LCSP-S",
                    "LCSP West": "LCSP-W"}


def test_2017_carry_forward_projects_spent_93k_of_146k(year_2017):
    _, table, _ = year_2017
    completion = fs.carry_forward_completion(table)
    assert completion["allocation_carry_forward"].sum() == 146 * K
    assert completion["carry_forward_spent"].sum() == 93 * K
    yarn = completion.set_index("name").loc["TFUN Legal / Operation Yarn"]
    assert yarn["status"] == "Not started" and yarn["carry_forward_remaining"] == 16 * K


def test_2017_guns_and_gangs_is_a_carry_forward_request_not_an_underspend(year_2017):
    _, table, _ = year_2017
    guns = table.set_index("name").loc["Guns & Gangs (carried forward to 2018/19)"]
    assert guns["allocation"] == 100 * K and guns["spent_to_date"] == 0
    assert guns["carry_forward_request"] == 100 * K
    assert guns["variance"] == 0 and guns["flag"] == ""
    assert not guns["no_spend_last_quarter"]


def test_2017_waterfall_runs_from_grant_to_outturn(year_2017):
    summary, _, _ = year_2017
    steps = fs.waterfall_steps(summary).set_index("step")
    assert steps["running_total"].iloc[0] == 1_873 * K
    assert steps.loc["Resources", "running_total"] == 1_990 * K
    assert steps.loc["Allocated", "running_total"] == 1_976 * K
    assert steps.loc["Slippage (timing)", "amount"] == -348 * K
    assert steps.loc["Carry-forward to 2018/19 (requested)", "amount"] == -100 * K
    assert steps.loc["Outturn", "running_total"] == 1_528 * K
    # each subtotal equals the running sum of the steps before it
    running = 0.0
    for row in fs.waterfall_steps(summary).itertuples():
        if row.measure == "total":
            assert row.amount == pytest.approx(running)
        running = row.amount if row.measure != "relative" else running + row.amount


def test_2017_returns_q1_performance_79_days_late(frames):
    returns = frames["fund_returns"][frames["fund_returns"]["fy_start"] == 2017]
    status = fs.returns_status(returns, REPORT_DATE).set_index("name")
    assert len(status) == 6
    q1 = status.loc["Quarter 1 (Apr-Jun) performance"]
    assert q1["status"] == "Late" and q1["days_late"] == 79 and q1["label"] == "Late (79 days)"
    on_time = ["Financial Plan 2017/18", "Quarter 1 (Apr-Jun) financial", "Quarter 2 (Jul-Sep)",
               "Quarter 3 (Oct-Dec)"]
    assert (status.loc[on_time, "status"] == "On time").all()
    assert status.loc["Quarter 4 / Year-End", "status"] == "Outstanding"
    assert fs.next_deadline(returns, REPORT_DATE) == {
        "name": "Quarter 4 / Year-End", "due_date": dt.date(2018, 4, 23), "days_to_go": 3}
    late = fs.returns_status(returns, dt.date(2018, 5, 1)).set_index("name")
    assert late.loc["Quarter 4 / Year-End", "label"] == "Overdue (8 days)"
    assert fs.next_deadline(returns, dt.date(2018, 5, 1)) is None


def test_2017_decisions_pdg_under_100k_board_at_or_above(frames):
    projects = frames["fund_projects"][frames["fund_projects"]["fy_start"] == 2017]
    for row in projects.itertuples():
        assert row.decision_body == ("PDG" if row.bid_amount < 100 * K else "Board")
        assert row.decision_reason
    approved = projects[projects["decision"] == "approved"]
    assert len(approved) == 51
    assert set(projects["decision"]) >= {"approved", "rejected", "deferred"}
    board = set(approved.loc[approved["decision_body"] == "Board", "name"])
    assert board == {"Domestic Homicide Review Administration/ Officers",
                     "Domestic Homicide Review Team", "Guns & Gangs (carried forward to 2018/19)"}


def test_2017_is_the_same_whatever_the_seed_or_years():
    one = fund_frames(1, [2017])
    other = fund_frames(999, [2026, 2017, 2018])
    for name, frame in one.items():
        key = "fy_start" if "fy_start" in frame.columns else None
        theirs = other[name]
        if key:
            theirs = theirs[theirs[key] == 2017]
        else:
            theirs = theirs[theirs["project_id"] // 1000 == 2017]
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), theirs.reset_index(drop=True),
                                      check_dtype=False)


# --- generated years -------------------------------------------------------------------------

def test_generator_is_deterministic_and_ids_unique(frames):
    again = fund_frames(42, ALL_YEARS)
    for name in frames:
        pd.testing.assert_frame_equal(frames[name], again[name])
    assert frames["fund_projects"]["project_id"].is_unique
    assert frames["fund_returns"]["return_id"].is_unique
    assert not frames["fund_spend"].duplicated(["project_id", "month_start"]).any()
    assert not frames["fund_allocations"].duplicated(["project_id", "funding"]).any()
    assert sorted(frames["fund_years"]["fy_start"]) == ALL_YEARS
    different = fund_frames(43, ALL_YEARS)["fund_spend"]["amount"].sum()
    assert different != frames["fund_spend"]["amount"].sum()


@pytest.mark.parametrize("fy", [2020, 2021, 2022, 2023, 2024, 2025, 2026])
def test_generated_years_add_up(frames, fy):
    summary, table, _ = _year_view(frames, fy)
    assert 0 <= summary.unallocated <= 0.06 * summary.resources
    assert summary.allocated == pytest.approx(summary.allocated_new + summary.allocated_carry_forward)
    projects = frames["fund_projects"][frames["fund_projects"]["fy_start"] == fy]
    for row in projects.itertuples():
        assert row.decision_body == ("PDG" if row.bid_amount < 100 * K else "Board")
    if fy >= 2025:
        assert set(projects["priority"]) <= set(PRIORITIES_2025_28)
    else:
        assert not set(projects["priority"]) & set(PRIORITIES_2025_28)
    assert set(table["lcsp_code"].dropna()) >= {"LCSP-N", "LCSP-E", "LCSP-S", "LCSP-W", "LCSP-C"}
    assert set(projects["decision"]) & {"rejected", "deferred"}


def test_carry_forward_links_to_the_previous_year(frames):
    projects = frames["fund_projects"]
    linked = projects.dropna(subset=["carried_from_project_id"])
    assert len(linked)
    ids = set(projects["project_id"])
    for row in linked.itertuples():
        assert row.carried_from_project_id in ids
        assert row.carried_from_project_id // 1000 == row.fy_start - 1
    years = frames["fund_years"].set_index("fy_start")
    for fy in (2021, 2022, 2023, 2024, 2025, 2026):  # previous year generated: request = its ask
        previous, _, _ = _year_view(frames, fy - 1)
        assert years.loc[fy, "carry_forward_requested"] == previous.requested_carry_forward


def test_running_year_has_spend_to_october_and_returns_outstanding(frames):
    summary, table, through = _year_view(frames, 2026)
    assert not summary.is_closed and through == dt.date(2026, 10, 1)
    spend = frames["fund_spend"].merge(frames["fund_projects"][["project_id", "fy_start"]])
    spend = spend[spend["fy_start"] == 2026]
    assert spend.loc[spend["month_start"] > dt.date(2026, 10, 1), "amount"].eq(0).all()
    assert spend.loc[spend["month_start"] > dt.date(2026, 10, 1), "profile_amount"].sum() > 0
    assert 0.2 < summary.spent_to_date / summary.allocated < 0.8
    assert summary.forecast_outturn > summary.spent_to_date
    returns = frames["fund_returns"][frames["fund_returns"]["fy_start"] == 2026]
    status = fs.returns_status(returns, AS_AT)
    assert "Overdue" in set(status["status"]) and "Outstanding" in set(status["status"])
    assert fs.next_deadline(returns, AS_AT)["due_date"] > AS_AT
    pending = frames["fund_projects"].query("fy_start == 2026 and decision == 'pending'")
    assert len(pending) >= 1


# --- flag rules on hand-built frames -----------------------------------------------------------

def _projects(**overrides) -> pd.DataFrame:
    base = {
        "project_id": 1, "priority": "P", "name": "Project", "lcsp_code": None, "provider": None,
        "decision_date": dt.date(2025, 4, 15), "carried_from_project_id": None,
        "carry_forward_request": 0.0, "allocation_new": 10_000.0,
        "allocation_carry_forward": 0.0, "allocation": 10_000.0, "spent_to_date": 10_000.0,
        "profile_to_date": 10_000.0, "profile_total": 10_000.0, "spent_last_quarter": 500.0,
    }
    rows = []
    for i, row in enumerate(overrides.get("rows", [{}]), start=1):
        rows.append(base | {"project_id": i, "name": f"Project {i}"} | row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("spent", "expected"), [
    (10_000, ""),       # on budget
    (9_000, ""),        # exactly 10% under: not more than the tolerance
    (8_999, "Underspend"),
    (11_000, "Overspend"),  # over by 1,000: at the minimum amount
    (10_999, ""),       # over by less than the minimum amount
])
def test_default_flag_rule_on_a_closed_year(spent, expected):
    table = fs.compute_project_table(_projects(rows=[{"spent_to_date": spent}]), closed=True)
    assert table["flag"].iloc[0] == expected
    assert table["variance"].iloc[0] == spent - 10_000
    assert (table["flag_reason"].iloc[0] == "") == (expected == "")


def test_flag_rule_is_configurable():
    frame = _projects(rows=[{"spent_to_date": 9_500}, {"spent_to_date": 10_300}])
    strict = fs.FlagRule(underspend_pct=0.02, overspend_pct=0.0, min_amount=100)
    flags = fs.compute_project_table(frame, strict, closed=True)["flag"].tolist()
    assert flags == ["Underspend", "Overspend"]
    lenient = fs.FlagRule(underspend_pct=0.5, overspend_pct=0.5, min_amount=0)
    assert fs.compute_project_table(frame, lenient, closed=True)["flag"].tolist() == ["", ""]
    with pytest.raises(ValueError):
        fs.FlagRule(underspend_pct=-0.1)
    with pytest.raises(Exception):
        strict.min_amount = 5  # frozen


def test_running_year_forecast_is_spend_plus_remaining_profile():
    frame = _projects(rows=[{"spent_to_date": 3_000, "profile_to_date": 6_000,
                             "profile_total": 12_000, "allocation": 12_000,
                             "allocation_new": 12_000}])
    table = fs.compute_project_table(frame, closed=False)
    assert table["forecast_outturn"].iloc[0] == 9_000
    assert table["variance"].iloc[0] == -3_000
    assert table["flag"].iloc[0] == "Underspend"
    assert bool(table["behind_profile"].iloc[0])  # 50% behind, more than 25%
    closed = fs.compute_project_table(frame, closed=True)
    assert closed["forecast_outturn"].iloc[0] == 3_000 and not closed["behind_profile"].iloc[0]


def test_behind_profile_threshold():
    frame = _projects(rows=[{"spent_to_date": 7_500, "profile_to_date": 10_000,
                             "profile_total": 20_000, "allocation": 20_000},
                            {"spent_to_date": 7_499, "profile_to_date": 10_000,
                             "profile_total": 20_000, "allocation": 20_000}])
    table = fs.compute_project_table(frame, closed=False)
    assert table["behind_profile"].tolist() == [False, True]


def test_no_spend_last_quarter_rule():
    window = dt.date(2026, 8, 1)
    frame = _projects(rows=[
        {"spent_last_quarter": 0, "spent_to_date": 2_000},                      # silent: flagged
        {"spent_last_quarter": 10, "spent_to_date": 2_000},                     # spending
        {"spent_last_quarter": 0, "spent_to_date": 10_000},                     # fully spent
        {"spent_last_quarter": 0, "spent_to_date": 0, "decision_date": dt.date(2026, 9, 1)},  # new
        {"spent_last_quarter": 0, "spent_to_date": 0, "carry_forward_request": 10_000},  # carried
    ])
    table = fs.compute_project_table(frame, closed=False, quarter_start=window)
    assert table["no_spend_last_quarter"].tolist() == [True, False, False, False, False]
    assert fs.no_spend_last_quarter(table)["project_id"].tolist() == [1]


def test_summaries_by_priority_and_lcsp():
    frame = _projects(rows=[
        {"priority": "A", "lcsp_code": "LCSP-N", "spent_to_date": 5_000},
        {"priority": "A", "lcsp_code": None, "spent_to_date": 10_000},
        {"priority": "B", "lcsp_code": "LCSP-N", "spent_to_date": 12_000},
    ])
    table = fs.compute_project_table(frame, closed=True)
    by_priority = fs.summarise_by(table, "priority").set_index("priority")
    assert by_priority.loc["A", "allocation"] == 20_000
    assert by_priority.loc["A", "spent_to_date"] == 15_000
    assert by_priority.loc["A", "pct_spent"] == 0.75
    assert by_priority.loc["A", "flag"] == "Underspend"
    assert by_priority.loc["A", "n_flagged"] == 1
    assert by_priority.loc["B", "flag"] == "Overspend"
    assert by_priority.loc["Total", "spent_to_date"] == 27_000
    by_lcsp = fs.summarise_by(table, "lcsp_code").set_index("lcsp_code")
    assert by_lcsp.loc["LCSP-N", "spent_to_date"] == 17_000
    assert by_lcsp.loc["City-wide", "spent_to_date"] == 10_000
    with pytest.raises(ValueError):
        fs.summarise_by(table, "name; drop table")


def test_returns_status_rules():
    returns = pd.DataFrame({
        "name": ["early", "on the day", "a day late", "not due", "overdue", "due today"],
        "due_date": [dt.date(2026, 6, 12)] * 4 + [dt.date(2026, 10, 30), dt.date(2026, 11, 21)],
        "submitted_date": [dt.date(2026, 6, 1), dt.date(2026, 6, 12), dt.date(2026, 6, 13),
                           None, None, None],
    })
    returns.loc[3, "due_date"] = dt.date(2027, 1, 29)
    status = fs.returns_status(returns, AS_AT).set_index("name")
    assert status.loc["early", "label"] == "On time"
    assert status.loc["on the day", "label"] == "On time"
    assert status.loc["a day late", "label"] == "Late (1 day)"
    assert status.loc["not due", "label"] == "Outstanding"
    assert status.loc["overdue", "label"] == "Overdue (22 days)"
    assert status.loc["due today", "status"] == "Outstanding"
    assert fs.next_deadline(returns, AS_AT)["name"] == "due today"


def test_decisions_search_is_case_insensitive_and_literal(frames):
    register = frames["fund_projects"].assign(
        financial_year=lambda d: d["fy_start"].map(lambda y: f"{y}/{(y + 1) % 100:02d}"))
    found = fs.search_decisions(register, "DUPLICATES existing")
    assert "Street Pastors expansion (city centre)" in set(found["name"])
    assert set(found["decision"]) == {"rejected"}
    assert len(fs.search_decisions(register, "100%")) >= 1  # "100% attendance"
    assert fs.search_decisions(register, "10_%").empty  # no regex, no wildcards
    assert fs.search_decisions(register, "(").shape[0] >= 1  # brackets are not regex
    assert len(fs.search_decisions(register, "")) == len(register)
    rejected = fs.search_decisions(register, None, decisions=["rejected"], bodies=["Board"])
    assert set(rejected["decision"]) <= {"rejected"} and set(rejected["decision_body"]) <= {"Board"}
    assert len(fs.search_decisions(register, "lcsp-w")) >= 1  # code column searched too


def test_spend_profile_by_month_and_quarter():
    months = [dt.date(2026, m, 1) for m in (4, 5, 6, 7)]
    monthly = pd.DataFrame({"month_start": months * 2, "priority": ["A"] * 4 + ["B"] * 4,
                            "spent": [1, 2, 3, 4] * 2, "profile": [2, 2, 2, 2] * 2})
    by_month = fs.spend_profile(monthly, dt.date(2026, 6, 1))
    assert by_month["spent"].tolist()[:3] == [2, 4, 6] and pd.isna(by_month["spent"].iloc[3])
    assert by_month["cumulative_profile"].tolist() == [4, 8, 12, 16]
    assert by_month["cumulative_spent"].tolist()[:3] == [2, 6, 12]
    by_quarter = fs.spend_profile(monthly, dt.date(2026, 6, 1), "quarter")
    assert by_quarter["period"].tolist() == ["Q1", "Q2"]
    assert by_quarter["spent"].iloc[0] == 12 and pd.isna(by_quarter["spent"].iloc[1])
    assert by_quarter["profile"].tolist() == [12, 4]


def test_multi_year_table_forecasts_only_the_running_year():
    by_year = pd.DataFrame({"fy_start": [2025, 2026], "financial_year": ["2025/26", "2026/27"],
                            "priority": ["A", "A"], "allocation": [100.0, 200.0],
                            "spent": [90.0, 50.0], "profile_after_data": [5.0, 120.0]})
    table = fs.multi_year_table(by_year, AS_AT)
    assert table["outturn"].tolist() == [90.0, 170.0]
    assert table["is_forecast"].tolist() == [False, True]


def test_financial_return_workbook(frames, year_2017):
    summary, table, _ = year_2017
    returns = fs.returns_status(frames["fund_returns"].query("fy_start == 2017"), REPORT_DATE)
    sheets = fs.financial_return_sheets(summary, table, returns)
    assert list(sheets) == ["Summary", "By priority", "Projects", "Carry-forward", "Returns"]
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(sheets)))
    items = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert items["Total resources"] == 1_990_000
    assert items["Total allocated"] == 1_976_000
    assert items["Unallocated"] == 14_000
    assert items["Spent to date"] == 1_528_000
    assert items["Spent as % of allocation"] == 77.3
    totals = [r for r in book["By priority"].iter_rows(values_only=True) if r[0] == "Total"][0]
    assert totals[3] == 1_976_000
