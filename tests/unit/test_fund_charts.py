"""Known answers for the fund page's tables and figures (kpis.fund_charts) on the published
2017/18 year, built from the sample frames without a database."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kpis import fund_charts as fc
from kpis import fund_spend as fs
from sample_data.fund import fund_frames, read_published_allocations

AS_AT = dt.date(2026, 11, 21)
K = 1000


@pytest.fixture(scope="module")
def year_2017():
    frames = fund_frames(3, [2017])
    through = dt.date(2018, 3, 1)
    raw = fs.project_finance_from_frames(frames["fund_projects"], frames["fund_allocations"],
                                         frames["fund_spend"], 2017, through)
    year = frames["fund_years"].iloc[0].to_dict()
    summary = fs.compute_year_summary(year, raw, as_at=AS_AT, spend_through=through)
    projects = fs.compute_project_table(raw, closed=True,
                                        quarter_start=fs.last_quarter_start(through))
    return summary, projects


@pytest.mark.parametrize("value, text", [
    (1_990_000, "£1,990k"), (14_000, "£14k"), (1_527_600, "£1,528k"), (0, "£0"),
    (500, "£500"), (-29_000, "-£29k"), (None, "–"), (float("nan"), "–"),
])
def test_fmt_k(value, text):
    assert fc.fmt_k(value) == text


def test_fmt_k_signed():
    assert [fc.fmt_k_signed(v) for v in (146_000, -65_000, 0)] == ["+£146k", "-£65k", "£0"]


def test_breakdown_line_states_the_published_sums(year_2017):
    summary, _ = year_2017
    assert fc.breakdown_line(summary) == (
        "**Resources** £1,990k = £1,844k grant (£1,873k less £29k top-slice) + £146k "
        "carry-forward approved (£211k requested less £65k OPCC top-slice). "
        "**Carry-forward requested** to 2018/19: £100k for projects + £14k unallocated.")


def test_priority_table_has_the_published_subtotals(year_2017):
    summary, projects = year_2017
    table = fc.priority_table(projects, fs.FlagRule(), closed=True).set_index("Priority")
    published = read_published_allocations().groupby("priority")[
        ["carry_forward_2016_17_k", "allocation_2017_18_k"]].sum()
    for priority, row in published.iterrows():
        assert table.loc[priority, "Carry-forward allocation (£)"] == \
            row["carry_forward_2016_17_k"] * K
        assert table.loc[priority, "New allocation (£)"] == row["allocation_2017_18_k"] * K
    assert table.loc["Total", "Allocation (£)"] == 1_976 * K
    assert table.loc["Total", "Outturn (£)"] == 1_528 * K
    assert round(table.loc["Total", "% spent"]) == 77
    assert set(table["Flag"]) <= {"", "▲ Overspend", "▼ Underspend"}


def test_tables_name_lcsps_and_say_city_wide(year_2017):
    _, projects = year_2017
    names = {"LCSP-N": "North", "LCSP-E": "East", "LCSP-S": "South", "LCSP-W": "West"}
    lcsps = fc.lcsp_table(projects, fs.FlagRule(), True, names).set_index("LCSP")
    assert list(lcsps.index) == ["City-wide", "East", "North", "South", "West", "Total"]
    assert lcsps.loc["North", "New allocation (£)"] == 60 * K
    table = fc.project_table(projects, True, names)
    assert "Outturn (£)" in table.columns and "Forecast outturn (£)" not in table.columns
    assert fc.project_table(projects, False, names).columns.tolist().count(
        "Forecast outturn (£)") == 1
    cf = fc.carry_forward_table(projects, names)
    assert cf["Spent from carry-forward (£)"].sum() == 93 * K


def test_waterfall_figure_labels_every_step(year_2017):
    summary, _ = year_2017
    steps = fs.waterfall_steps(summary)
    fig = fc.waterfall_figure(summary, steps)
    trace = fig.data[0]
    assert list(trace.text) == ["£1,873k", "-£29k", "+£211k", "-£65k", "£1,990k", "-£14k",
                                "£1,976k", "-£348k", "-£100k", "£1,528k"]
    assert fig.layout.title.text == "From grant to outturn, 2017/18"
    table = fc.waterfall_table(steps)
    assert table["Running total (£)"].iloc[-1] == 1_528 * K


def test_figures_tell_series_apart_without_colour(year_2017):
    _, projects = year_2017
    by_priority = fc.priority_table(projects, fs.FlagRule(), closed=True)
    fig = fc.priority_figure(by_priority)
    assert [t.marker.pattern.shape for t in fig.data] == ["", "/", "."]
    assert len(fig.data[0].y) == 4  # the Total row is not a bar
    monthly = pd.DataFrame({"month_start": [dt.date(2017, 4, 1), dt.date(2017, 5, 1)],
                            "spent": [10.0, 20.0], "profile": [15.0, 15.0]})
    profile = fs.spend_profile(monthly, dt.date(2017, 5, 1))
    fig = fc.profile_figure(profile, cumulative=True)
    assert fig.data[0].type == "bar" and fig.data[1].line.dash == "dash"
    assert list(fig.data[0].y) == [10.0, 30.0]
