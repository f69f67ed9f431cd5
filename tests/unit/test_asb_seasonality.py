"""Known answers for the ASB seasonality calendar on synthetic series with planted seasonality."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from kpis import asb_seasonality as s


def monthly(years=range(2019, 2025), base=200.0, peaks=None, growth=0.0, seed=1):
    """Poisson monthly counts with multipliers ``peaks`` {month: factor} and yearly growth."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-01", freq="MS")
    factor = np.array([(peaks or {}).get(m, 1.0) for m in months.month])
    lam = base * factor * (1 + growth) ** (np.arange(len(months)) / 12)
    return pd.DataFrame({"period": months, "n": rng.poisson(lam)})


def daily(start="2021-01-04", end="2024-12-29", per_day=20.0, week_peaks=None, seed=3):
    """Poisson daily counts with multipliers ``week_peaks`` {iso week: factor}."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    weeks = days.isocalendar().week.to_numpy()
    factor = np.array([(week_peaks or {}).get(int(w), 1.0) for w in weeks])
    return pd.DataFrame({"period": days, "n": rng.poisson(per_day * factor)})


# --- periods and series ------------------------------------------------------------------------

def test_period_helpers():
    days = [dt.date(2025, 10, 29), dt.date(2025, 11, 2), dt.date(2024, 2, 29)]
    assert list(s.period_start(days, "week")) == [pd.Timestamp("2025-10-27")] * 2 + [
        pd.Timestamp("2024-02-26")]
    assert list(s.period_start(days, "month").month) == [10, 11, 2]
    assert s.period_labels([pd.Timestamp("2026-04-06")], "week") == ["w/c 06 Apr 2026"]
    assert s.period_labels([pd.Timestamp("2026-04-01")], "month") == ["Apr 2026"]
    assert list(s.season_of([pd.Timestamp("2020-12-28")], "week")) == [53]
    # 31 October is the same day of the (non-leap) year in a leap year.
    halloweens = [pd.Timestamp("2024-10-31"), pd.Timestamp("2025-10-31")]
    assert list(s.season_of(halloweens, "day")) == [304, 304]
    assert s.calendar_grain("day") == "week"
    assert s.calendar_grain("month") == "month"
    with pytest.raises(ValueError):
        s.calendar_grain("hour")


def test_regular_series_fills_gaps_drops_partial_periods_and_excludes_incomplete_months():
    counts = pd.DataFrame({
        "period": pd.to_datetime(["2025-01-01", "2025-01-15", "2025-03-03", "2025-04-10",
                                  "2025-05-20"]),
        "n": [1, 2, 3, 4, 5],
    })
    monthly_series = s.regular_series(counts, "month", data_end=dt.date(2025, 5, 20),
                                      incomplete_months=[dt.date(2025, 4, 1)])
    # February had no rows (0); April is incomplete (NaN); May is cut off by data_end.
    assert monthly_series.index.tolist() == list(
        pd.date_range("2025-01-01", "2025-04-01", freq="MS"))
    assert monthly_series.iloc[:3].tolist() == [3.0, 0.0, 3.0]
    assert np.isnan(monthly_series.iloc[3])
    weekly = s.regular_series(counts, "week", data_start=dt.date(2025, 1, 1),
                              data_end=dt.date(2025, 5, 20))
    # 1 January 2025 is a Wednesday: that week starts before the data and is dropped.
    assert weekly.index[0] == pd.Timestamp("2025-01-06")
    assert weekly.index[-1] == pd.Timestamp("2025-05-12")
    assert weekly.sum() == 2 + 3 + 4  # the week of 19 May runs past data_end


def test_centred_moving_average_and_trend_of_a_straight_line():
    line = np.arange(40, dtype=float) * 3 + 50
    ma = s.centred_moving_average(line, 12)
    assert np.isnan(ma[:6]).all() and np.isnan(ma[-6:]).all()
    np.testing.assert_allclose(ma[6:-6], line[6:-6])
    series = pd.Series(line, index=pd.date_range("2020-01-01", periods=40, freq="MS"))
    # The ends are extended along the fitted line, so a straight line is its own trend.
    np.testing.assert_allclose(s.trend(series, "month").to_numpy(), line)


def test_benjamini_hochberg():
    index = np.array([1.5, 1.02, 0.8, 1.3, np.nan])
    se = np.array([0.1, 0.1, 0.1, 0.1, 0.1])
    assert s.significantly_above_one(index, se).tolist() == [True, False, False, True, False]


# --- seasonal profiles: planted peaks found, flat series flat --------------------------------

def test_planted_monthly_peaks_are_found_with_the_right_size():
    counts = monthly(peaks={7: 1.5, 8: 1.5}, growth=0.05)
    cal = s.build_calendar(counts, "month")
    assert cal.grain == "month"
    profile = cal.profiles.set_index("season")
    assert set(profile.index[profile["is_rise"]]) == {7, 8}
    # Two months at 1.5 in a year: an average month is 13/12, so July's index is 1.5 / (13/12).
    assert profile.loc[7, "index"] == pytest.approx(1.5 * 12 / 13, abs=0.06)
    assert profile.loc[1, "index"] == pytest.approx(12 / 13, abs=0.06)
    assert (profile["low"] <= profile["index"]).all()
    assert (profile["index"] <= profile["high"]).all()
    table = cal.table
    assert len(table) == 12 and table["period_start"].iloc[0] == pd.Timestamp("2025-01-01")
    assert table.loc[table["is_rise"], "label"].tolist() == ["Jul 2025", "Aug 2025"]
    assert (table.loc[table["is_rise"], "extra"] > 0).all()
    # Growth of 5% a year is recovered and expected = baseline x index.
    assert table["annual_growth"].iloc[0] == pytest.approx(0.05, abs=0.03)
    np.testing.assert_allclose(table["expected"], table["baseline"] * table["index"])


def test_a_flat_poisson_series_yields_no_peaks():
    # The false discovery rate is 5%, so a flat series shows a rise in about 1 run in 20; over
    # 10 runs of each kind at most one run may show one (with these seeds: no month or week run,
    # one hour-of-week run).
    runs_with_rises = {"month": 0, "week": 0, "hour": 0}
    for seed in range(10):
        months = s.build_calendar(monthly(base=60, seed=seed), "month")
        runs_with_rises["month"] += bool(months.table["is_rise"].any()
                                         or months.profiles["is_rise"].any())
        weeks = s.build_calendar(daily(per_day=6, seed=seed), "week")
        assert weeks.grain == "week"
        runs_with_rises["week"] += bool(weeks.table["is_rise"].any())
        hours = s.hour_weekday_profile(pd.DataFrame({
            "weekday": np.repeat(range(7), 24), "hour": np.tile(range(24), 7),
            "n": np.random.default_rng(seed).poisson(40, 168),
        }))
        runs_with_rises["hour"] += bool(hours["is_peak"].any())
    assert max(runs_with_rises.values()) <= 1, runs_with_rises


def test_planted_weekly_peaks_are_found():
    counts = daily(week_peaks={30: 1.6, 31: 1.6, 32: 1.6, 33: 1.6, 44: 1.8})
    cal = s.build_calendar(counts, "week")
    assert cal.grain == "week"
    assert len(cal.table) == 52
    assert sorted(cal.table.loc[cal.table["is_rise"], "season"]) == [30, 31, 32, 33, 44]
    assert cal.table["period_start"].iloc[0] == pd.Timestamp("2024-12-30")


def test_monthly_only_series_with_incomplete_months():
    counts = monthly(years=range(2022, 2025), base=1000, peaks={7: 1.3, 8: 1.3}, seed=7)
    # A police.uk-style month published nearly empty: flagged incomplete, it must not count.
    short = counts["period"] == pd.Timestamp("2023-09-01")
    counts.loc[short, "n"] = 10
    flagged = s.build_calendar(counts, "month", incomplete_months=[dt.date(2023, 9, 1)])
    profile = flagged.profiles.set_index("season")
    assert profile.loc[9, "years"] == 2  # three Septembers, one left out
    assert profile.loc[9, "index"] == pytest.approx(12 / 12.6, abs=0.08)
    assert set(profile.index[profile["is_rise"]]) == {7, 8}
    unflagged = s.build_calendar(counts, "month").profiles.set_index("season")
    assert unflagged.loc[9, "index"] < 0.75  # what would go wrong without the flag


def test_hour_weekday_peaks_at_planted_evening_hours():
    rng = np.random.default_rng(5)
    grid = pd.DataFrame({"weekday": np.repeat(range(7), 24), "hour": np.tile(range(24), 7)})
    lam = np.where(grid["hour"].between(17, 19), 300, 100)
    # Only some cells present: the grid is completed with zeros.
    counts = grid.assign(n=rng.poisson(lam)).iloc[:-5]
    out = s.hour_weekday_profile(counts)
    assert len(out) == 168 and out["n"].iloc[-1] == 0
    assert set(out.loc[out["is_peak"], "hour"]) == {17, 18, 19}
    assert out["index"].mean() == pytest.approx(1.0)


def test_day_of_year_profile_finds_halloween():
    rng = np.random.default_rng(2)
    days = pd.date_range("2020-01-01", "2024-12-31", freq="D")
    halloween = (days.month == 10) & (days.day >= 28) | (days.month == 11) & (days.day <= 5)
    series = pd.Series(rng.poisson(np.where(halloween, 60, 20)).astype(float), index=days)
    out = s.day_of_year_profile(series)
    assert len(out) == 365
    top = out.nlargest(5, "index")
    assert ((top["month"] == 10) & (top["day"] >= 28) | (top["month"] == 11)).all()
    assert out["index"].mean() == pytest.approx(1.0)


def test_groups_are_profiled_separately():
    a = monthly(peaks={12: 1.6}, seed=11).assign(subcategory="begging")
    b = monthly(peaks={7: 1.6}, seed=12).assign(subcategory="youth")
    cal = s.build_calendar(pd.concat([a, b]), "month", group_cols=["subcategory"],
                           threshold=1.2)
    rises = cal.rises()
    assert rises[["subcategory", "season"]].values.tolist() == [["begging", 12], ["youth", 7]]
    profiles = s.profile_by_group(pd.concat([a, b]), "month", group_cols=["subcategory"])
    assert profiles.groupby("subcategory").size().tolist() == [12, 12]


def test_threshold_moves_the_rises():
    counts = monthly(peaks={6: 1.2, 7: 1.5, 8: 1.5}, base=500)
    low = set(s.build_calendar(counts, "month", threshold=1.05).rises()["season"])
    high = set(s.build_calendar(counts, "month", threshold=1.3).rises()["season"])
    assert low == {6, 7, 8} and high == {7, 8}


# --- back-test and peak-period performance -------------------------------------------------------

def test_backtest_on_a_planted_series_has_high_precision_and_recall():
    counts = daily(per_day=20, week_peaks={30: 1.6, 31: 1.6, 32: 1.6, 33: 1.6, 44: 1.8})
    bt = s.backtest(counts, "week")
    summary = s.overall_accuracy(bt)
    assert summary["windows"] == ["2 Jan 2023 - 31 Dec 2023", "1 Jan 2024 - 29 Dec 2024"]
    assert summary["precision"] >= 0.8 and summary["recall"] >= 0.8
    text = s.describe_accuracy(bt)
    assert "Tested on 2 past years" in text and "real peak is a week" in text
    monthly_bt = s.backtest(monthly(peaks={7: 1.5, 8: 1.5}), "month")
    assert s.overall_accuracy(monthly_bt)["precision"] == 1.0
    assert s.overall_accuracy(monthly_bt)["recall"] == 1.0
    assert len(monthly_bt.accuracy) == 4  # 2021-2024, each with at least 1.5 years before it


def test_backtest_of_a_flat_series_predicts_nothing_and_says_so():
    bt = s.backtest(monthly(base=400, seed=4), "month")
    summary = s.overall_accuracy(bt)
    assert summary["predicted"] == 0 and summary["precision"] is None
    assert "marked no months as rises" in s.describe_accuracy(bt)
    assert s.peak_performance(bt).empty


def test_backtest_needs_history():
    bt = s.backtest(monthly(years=range(2024, 2026)), "month")
    assert bt.accuracy.empty
    assert "Not enough history" in s.describe_accuracy(bt)


def test_peak_performance_shows_reduced_peaks():
    counts = monthly(base=500, peaks={7: 1.6, 8: 1.6}, seed=9)
    # Interventions in the last year take the summer peak away.
    last_summer = counts["period"].isin(pd.to_datetime(["2024-07-01", "2024-08-01"]))
    counts.loc[last_summer, "n"] = (counts.loc[last_summer, "n"] / 1.6).round().astype(int)
    perf = s.peak_performance(s.backtest(counts, "month")).set_index("window")
    assert perf.loc["Jan 2024 - Dec 2024", "peaks"] == 2
    assert perf.loc["Jan 2024 - Dec 2024", "pct_difference"] == pytest.approx(-0.375, abs=0.08)
    assert perf.loc["Jan 2023 - Dec 2023", "pct_difference"] == pytest.approx(0.0, abs=0.08)


# --- named drivers -------------------------------------------------------------------------------

def test_bank_holidays_for_england():
    out = s.bank_holidays(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert len(out) == 8 and set(out["kind"]) == {"bank_holiday"}
    assert pd.Timestamp("2025-04-18") in set(out["start_date"])  # Good Friday


def test_recurring_events_are_projected_to_the_coming_year():
    events = pd.DataFrame({
        "name": ["Birmingham Pride 2024", "Summer holidays", "Summer holidays", "Pride 2025 extra"],
        "kind": ["local_event", "school_holiday", "school_holiday", "local_event"],
        "start_date": pd.to_datetime(["2024-05-25", "2024-07-20", "2025-07-19", "2025-06-01"]),
        "end_date": pd.to_datetime(["2024-05-26", "2024-09-01", "2025-08-31", "2025-06-01"]),
    })
    out = s.recurring_events(events, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert out["name"].tolist() == ["Birmingham Pride 2024", "Pride 2025 extra", "Summer holidays"]
    assert out["projected"].tolist() == [True, False, False]
    assert out["start_date"].iloc[0] == pd.Timestamp("2025-05-25")
    assert s.event_key("Birmingham Pride 2024") == "birmingham pride"


def test_peaks_are_matched_to_events():
    counts = daily(week_peaks={30: 1.6, 31: 1.6, 32: 1.6, 33: 1.6, 44: 1.8})
    cal = s.build_calendar(counts, "week")
    events = pd.DataFrame({
        "name": ["Summer holidays", "Mischief fortnight", "Christmas market"],
        "kind": ["school_holiday", "local_event", "local_event"],
        "start_date": pd.to_datetime(["2025-07-19", "2025-10-25", "2025-11-13"]),
        "end_date": pd.to_datetime(["2025-08-31", "2025-11-08", "2025-12-23"]),
    })
    drivers = s.peak_drivers(cal, events)
    by_week = drivers.groupby("period_start")["name"].apply(set)
    assert by_week[pd.Timestamp("2025-10-27")] == {"Mischief fortnight"}
    assert by_week[pd.Timestamp("2025-07-21")] == {"Summer holidays"}
    summary = s.driver_summary(drivers)
    assert summary.iloc[0].tolist() == ["Summer holidays", "school_holiday", 4]
    annotated = s.annotate_events(cal.table, "week", events)
    events_of = annotated.set_index("period_start")["events"]
    assert events_of[pd.Timestamp("2025-11-03")] == "Mischief fortnight"
    assert events_of[pd.Timestamp("2025-01-06")] == ""


def test_driver_events_take_bank_holidays_from_the_package():
    events = pd.DataFrame({
        "name": ["Boxing Day (our own entry)", "Summer holidays 2025", "Police operation"],
        "kind": ["bank_holiday", "school_holiday", "operation"],
        "start_date": pd.to_datetime(["2025-12-26", "2025-07-19", "2025-08-01"]),
        "end_date": pd.to_datetime(["2025-12-26", "2025-08-31", "2025-08-02"]),
    })
    out = s.driver_events(events, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert set(out["kind"]) == {"bank_holiday", "school_holiday"}  # operations are not drivers
    assert "Boxing Day (our own entry)" not in set(out["name"])
    assert pd.Timestamp("2026-04-03") in set(out.loc[out["kind"] == "bank_holiday", "start_date"])
    summer = out[out["kind"] == "school_holiday"].iloc[0]
    assert summer["projected"] and summer["start_date"] == pd.Timestamp("2026-07-19")
    assert s.driver_events(None, dt.date(2026, 1, 1), dt.date(2026, 1, 31))["name"].tolist() == [
        "New Year's Day"]
