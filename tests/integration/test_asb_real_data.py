"""The ASB calendar and back-test on real Birmingham police.uk counts (monthly only).

Reads ../shared/data (never copied into the repository) and skips, saying why, when it is absent.
Five months are incomplete at the source (2023-06, 2023-07, 2023-08, 2024-09, 2025-03; 2024-09
has 10 ASB incidents instead of about 1,000): the calendar must leave them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis import asb_seasonality as s

DATA = (Path(__file__).resolve().parents[3] / "shared" / "data" / "police_uk"
        / "birmingham_lsoa_month_category_counts_2023-05_2026-03.csv")
KNOWN_INCOMPLETE = {"2023-06", "2023-07", "2023-08", "2024-09", "2025-03"}


@pytest.fixture(scope="module")
def asb():
    if not DATA.exists():
        pytest.skip(f"real police.uk counts not found at {DATA} (../shared/data is only on "
                    "developer and CI machines)")
    rows = pd.read_csv(DATA, usecols=["lsoa_code", "category", "month_str", "crime_count",
                                      "month_complete"])
    rows = rows[rows["category"] == "Anti-social behaviour"]
    counts = (rows.groupby("month_str", as_index=False)["crime_count"].sum()
              .rename(columns={"month_str": "period", "crime_count": "n"}))
    counts["period"] = pd.to_datetime(counts["period"])
    incomplete = pd.to_datetime(sorted(rows.loc[~rows["month_complete"].astype(bool),
                                                "month_str"].unique()))
    return counts, incomplete


def test_the_incomplete_months_are_the_known_five(asb):
    _, incomplete = asb
    assert {m.strftime("%Y-%m") for m in incomplete} == KNOWN_INCOMPLETE


def test_calendar_and_backtest_run_on_real_monthly_asb(asb):
    counts, incomplete = asb
    grain = s.calendar_grain("month")
    series = s.regular_series(counts, grain, incomplete_months=incomplete)
    assert len(series) == 35 and series.isna().sum() == 5
    cal = s.build_calendar(counts, grain, incomplete_months=incomplete)
    table = cal.table
    assert cal.grain == "month" and len(table) == 12
    assert table["period_start"].iloc[0] == pd.Timestamp("2026-04-01")
    assert np.isfinite(table[["index", "expected", "baseline"]].to_numpy()).all()
    assert (table["expected"] > 0).all()
    profile = cal.profiles.set_index("season")
    # Every month has at least two complete years of ratios; every band has a width.
    assert (profile["years"] >= 2).all()
    assert (profile["high"] > profile["low"]).all()
    # The short September 2024 (10 incidents) would otherwise drag September far below average.
    assert profile.loc[9, "index"] > 0.8
    # Summer is Birmingham's ASB season in these years.
    assert profile.loc[[6, 7, 8], "index"].min() > profile.loc[[12, 1, 2], "index"].max()

    bt = s.backtest(counts, grain, incomplete_months=incomplete)
    assert len(bt.accuracy) == 1  # 35 months: one whole year with 1.5 years before it
    scored = bt.periods[bt.periods["scored"]]
    assert not scored["period_start"].isin(incomplete).any()
    text = s.describe_accuracy(bt)
    assert text.startswith("Tested on 1 past year (Apr 2025 - Mar 2026)")
    perf = s.peak_performance(bt)
    assert set(perf.columns) >= {"actual", "expected", "difference"}


def test_events_line_up_with_the_real_calendar(asb):
    counts, incomplete = asb
    cal = s.build_calendar(counts, "month", incomplete_months=incomplete, threshold=1.1)
    start, end = cal.table["period_start"].min(), cal.table["period_end"].max()
    events = s.bank_holidays(start, end)
    drivers = s.peak_drivers(cal, events)
    assert set(drivers["period_start"]) == set(cal.rises()["period_start"])
    # The August bank holiday falls in August, a summer rise month.
    if pd.Timestamp("2026-08-01") in set(cal.rises()["period_start"]):
        assert "Late Summer Bank Holiday" in set(drivers["name"])
