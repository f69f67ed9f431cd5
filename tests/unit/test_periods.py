"""Known answers for financial years, quarters and derived period columns."""

import datetime as dt

import pandas as pd
import pytest

from kpis import periods as p


@pytest.mark.parametrize("day, label, quarter", [
    (dt.date(2025, 4, 1), "2025/26", 1),
    (dt.date(2025, 6, 30), "2025/26", 1),
    (dt.date(2025, 7, 1), "2025/26", 2),
    (dt.date(2025, 12, 31), "2025/26", 3),
    (dt.date(2026, 1, 1), "2025/26", 4),
    (dt.date(2026, 3, 31), "2025/26", 4),
    (dt.date(1999, 4, 1), "1999/00", 1),
])
def test_financial_year_and_quarter(day, label, quarter):
    assert p.fy_of(day) == label
    assert p.fy_quarter(day) == quarter


def test_parse_fy_round_trips_and_rejects_nonsense():
    assert p.parse_fy("2025/26") == 2025
    assert p.fy_label(p.parse_fy("1999/00")) == "1999/00"
    for bad in ("2025/27", "2025-26", "25/26", "", "2025/2026", "x' OR 1=1 --"):
        with pytest.raises(ValueError):
            p.parse_fy(bad)


def test_quarter_periods():
    assert p.quarter_period(2025, 1) == p.Period(dt.date(2025, 4, 1), dt.date(2025, 6, 30), "2025/26 Q1")
    assert p.quarter_period(2025, 4) == p.Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31), "2025/26 Q4")
    with pytest.raises(ValueError):
        p.quarter_period(2025, 5)


def test_year_to_date_and_previous_year():
    ytd = p.year_to_date(2026, dt.date(2026, 10, 31))
    assert (ytd.start, ytd.end) == (dt.date(2026, 4, 1), dt.date(2026, 10, 31))
    assert ytd.previous_year().end == dt.date(2025, 10, 31)
    leap = p.Period(dt.date(2024, 2, 29), dt.date(2024, 2, 29), "leap day")
    assert leap.previous_year().start == dt.date(2023, 2, 28)
    assert len(p.fy_period(2025).months()) == 12


def test_complete_months_end():
    assert p.complete_months_end(dt.date(2026, 10, 31)) == dt.date(2026, 10, 31)
    assert p.complete_months_end(dt.date(2026, 11, 20)) == dt.date(2026, 10, 31)


def test_derived_columns_in_bulk():
    dates = pd.Series(pd.to_datetime(["2025-03-31", "2025-04-01", "2021-01-03", "2026-12-28"]))
    out = p.derive_period_columns(dates)
    assert out["financial_year"].tolist() == ["2024/25", "2025/26", "2020/21", "2026/27"]
    assert out["fy_start"].tolist() == [2024, 2025, 2020, 2026]
    assert out["fy_quarter"].tolist() == [4, 1, 4, 3]
    # 3 January 2021 is a Sunday in ISO week 53 of 2020; 28 December 2026 is ISO week 53 of 2026.
    assert list(zip(out["iso_year"], out["iso_week"])) == [(2025, 14), (2025, 14), (2020, 53), (2026, 53)]
    assert out["weekday"].tolist() == [0, 1, 6, 0]
    assert [str(d) for d in out["month_start"]] == ["2025-03-01", "2025-04-01", "2021-01-01", "2026-12-01"]
