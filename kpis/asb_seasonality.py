"""ASB seasonality: when each ASB type can be predicted to rise, and whether the peaks were reduced.

The 2016-18 plan asked for an "ASB seasonality calendar detailing where and when the identified
ASB types can be predicted to rise" (output CC3(e)) and measured interventions by "reduced volume
of ASB calls for service in peak periods identified in the calendar". This module is the maths
behind it, as pure functions on small aggregated frames (a period and a count ``n``, plus any
grouping columns such as the ASB type or the area).

Method: the classical ratio-to-moving-average decomposition (Census method I, the first step of
X-11), chosen over STL because it needs no extra package and is easy to explain to a board:

1. Counts become a regular series at one *grain* (month, ISO week starting Monday, or day). Periods
   with no rows count 0; months flagged incomplete at the source, and every period touching one,
   are missing (NaN), never zero; periods cut off by the start or end of the data are dropped.
2. Trend = a centred moving average over one year: the 2x12 MA for months, 2x52 for weeks, 2x364
   for days. Half a year at each end has no centred average, so there the trend is a straight
   line fitted to the nearest year of moving-average values. Missing periods are interpolated for
   the average only.
3. Ratio = count / trend. The seasonal index of a season (month of the year, ISO week) is the mean
   ratio over the years, rescaled so that an average period is 1.0.
4. Band: an approximate 95% band, index +/- 1.96 standard errors, where the standard error is the
   larger of the spread between years and the Poisson noise of the counts (so a season seen in one
   year only, or built from small counts, gets an honest wide band).
5. A *predicted rise* is a period whose index is at least the threshold (default 1.15, i.e. 15%
   above an average period) and is significantly above 1.0: a one-sided z-test with the
   Benjamini-Hochberg false discovery rate held at 5% over the seasons of the year. With 52 weeks
   to choose from, a plain 95% test would mark about one week a year as a rise in a series that
   has no seasonality at all; this keeps a flat series flat.

Grain: police.uk gives the month only, so a monthly source gets a monthly calendar; a dated source
(partners' call data) gets weekly calendars and can also be profiled by month, day of year and
(when times are known) hour x weekday. Each result says which grain it used.

Forward calendar: expected count = recent level (mean of the last year's deseasonalised counts)
x trend (annual growth fitted on the last two years, capped at +/-25% a year) x seasonal index.
Expected extra incidents = expected - (level x trend), the part due to the season.

Back-test: for each of the most recent whole years N with enough history before it, the calendar
is built from data before N only and compared with what happened in N (see
:data:`REAL_PEAK_DEFINITION`). The same comparison gives peak-period performance: in the periods
the calendar marked as rises, actual against expected incidents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd
from scipy.stats import norm, poisson

GRAINS = ("day", "week", "month")
PERIODS_PER_YEAR = {"day": 364, "week": 52, "month": 12}
DEFAULT_THRESHOLD = 1.15
MAX_ANNUAL_GROWTH = 0.25
MIN_TRAIN_YEARS = 1.5
Z95 = 1.96
FALSE_DISCOVERY_RATE = 0.05
DRIVER_KINDS = ("bank_holiday", "school_holiday", "local_event")
METHOD = (
    "ratio to a centred one-year moving average (2x12 for months, 2x52 for weeks), averaged over "
    "the years; approximate 95% band from the spread between years or Poisson noise, whichever "
    "is larger; rises tested against 1.0 with a 5% false discovery rate"
)
REAL_PEAK_DEFINITION = (
    "a real peak is a {period} whose actual count was at least {threshold:.2f} times the average "
    "{period} of the same test year and above it by more than chance (one-sided 95% Poisson "
    "limit); incomplete months are left out"
)
Z_ONE_SIDED_95 = 1.645
_GRAIN_WORD = {"day": "day", "week": "week", "month": "month"}
_INDEX_COLUMNS = ["season", "index", "low", "high", "se", "significant", "years"]


def _check_grain(grain: str, allowed: Sequence[str] = GRAINS) -> None:
    if grain not in allowed:
        raise ValueError(f"grain must be one of {', '.join(allowed)}, not {grain!r}")


def calendar_grain(source_grain: str) -> str:
    """Grain of the forward calendar for a source: weeks when it is dated, months when monthly."""
    _check_grain(source_grain)
    return "week" if source_grain in ("day", "week") else "month"


# --- periods -------------------------------------------------------------------------------

def _datetimes(values: Iterable) -> pd.DatetimeIndex:
    if isinstance(values, pd.DatetimeIndex):
        return values
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values)
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(list(values), dtype=object)))


def period_start(dates: Iterable, grain: str) -> pd.DatetimeIndex:
    """First day of the period (day, ISO week from Monday, or month) containing each date."""
    _check_grain(grain)
    d = _datetimes(dates).normalize()
    if grain == "month":
        return pd.DatetimeIndex(d.to_period("M").start_time)
    if grain == "week":
        return d - pd.to_timedelta(d.day_of_week, unit="D")
    return d


def period_end(starts: Iterable, grain: str) -> pd.DatetimeIndex:
    """Last day of each period that starts on ``starts``."""
    s = _datetimes(starts)
    if grain == "month":
        return s + pd.offsets.MonthEnd(0)
    if grain == "week":
        return s + pd.Timedelta(days=6)
    return s


def period_labels(starts: Iterable, grain: str) -> list[str]:
    """Human labels: "Apr 2026", "w/c 06 Apr 2026" or "06 Apr 2026"."""
    s = _datetimes(starts)
    fmt = {"month": "%b %Y", "week": "w/c %d %b %Y", "day": "%d %b %Y"}[grain]
    return list(s.strftime(fmt))


def season_of(starts: Iterable, grain: str) -> np.ndarray:
    """Season number of each period: month 1-12, ISO week 1-53, or day of a non-leap year 1-365."""
    s = _datetimes(starts)
    if grain == "month":
        return s.month.to_numpy()
    if grain == "week":
        # ISO week = the week of the year holding the week's Thursday (isocalendar is ~100x slower).
        thursday = s - pd.to_timedelta(s.day_of_week, unit="D") + pd.Timedelta(days=3)
        return ((thursday.day_of_year.to_numpy() - 1) // 7 + 1).astype(int)
    return _non_leap_day_of_year(s)


def _non_leap_day_of_year(s: pd.DatetimeIndex) -> np.ndarray:
    # 29 February shares the 28th's slot so that 31 October is day 304 in every year.
    doy = s.day_of_year.to_numpy()
    after_feb = s.is_leap_year & (s.month > 2)
    return np.where(after_feb | (s.is_leap_year & (s.month == 2) & (s.day == 29)), doy - 1, doy)


def _period_range(first: pd.Timestamp, last: pd.Timestamp, grain: str) -> pd.DatetimeIndex:
    freq = {"month": "MS", "week": "7D", "day": "D"}[grain]
    return pd.date_range(first, last, freq=freq)


def _next_period(start: pd.Timestamp, grain: str) -> pd.Timestamp:
    if grain == "month":
        return start + pd.offsets.MonthBegin(1)
    return start + pd.Timedelta(days=7 if grain == "week" else 1)


def regular_series(
    counts: pd.DataFrame,
    grain: str,
    *,
    data_start: dt.date | None = None,
    data_end: dt.date | None = None,
    incomplete_months: Iterable = (),
) -> pd.Series:
    """Counts summed to ``grain`` on a regular index of period starts.

    ``counts`` has columns ``period`` (any date inside the period) and ``n``. Periods with no rows
    are 0; periods not wholly inside ``[data_start, data_end]`` (default: the span of ``counts``
    at its own finest dates) are dropped; periods touching an incomplete month are NaN.
    """
    _check_grain(grain)
    if counts.empty:
        return pd.Series(dtype="float64", name="n")
    dates = pd.to_datetime(counts["period"])
    first_day = pd.Timestamp(data_start) if data_start is not None else dates.min()
    last_day = pd.Timestamp(data_end) if data_end is not None else None
    starts = period_start(dates, grain)
    summed = pd.Series(counts["n"].to_numpy(dtype="float64"), index=starts).groupby(level=0).sum()
    index = _period_range(period_start([first_day], grain)[0], summed.index.max(), grain)
    if last_day is not None:
        index = _period_range(index[0], period_start([last_day], grain)[0], grain)
    series = summed.reindex(index, fill_value=0.0)
    ends = period_end(series.index, grain)
    keep = series.index >= first_day
    if last_day is not None:
        keep &= ends <= last_day
    series = series[keep]
    bad = {pd.Timestamp(m).to_period("M") for m in incomplete_months}
    if bad:
        touched = [
            bool({s.to_period("M"), e.to_period("M")} & bad)
            for s, e in zip(series.index, period_end(series.index, grain))
        ]
        series[np.array(touched, dtype=bool)] = np.nan
    series.index.name = "period_start"
    return series.rename("n")


# --- trend and seasonal index ----------------------------------------------------------------

def centred_moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (2 x ``window`` when even); NaN where it runs off either end."""
    values = np.asarray(values, dtype="float64")
    if window % 2:
        weights = np.full(window, 1.0 / window)
    else:
        weights = np.r_[0.5, np.ones(window - 1), 0.5] / window
    half = len(weights) // 2
    out = np.full(len(values), np.nan)
    if len(values) >= len(weights):
        out[half:len(values) - half] = np.convolve(values, weights, mode="valid")
    return out


def trend(series: pd.Series, grain: str) -> pd.Series:
    """One-year centred moving average, extended to the ends by a straight line."""
    _check_grain(grain)
    values = series.to_numpy(dtype="float64")
    return pd.Series(_trend_values(values, grain), index=series.index, name="trend")


def _trend_values(values: np.ndarray, grain: str) -> np.ndarray:
    if len(values) == 0 or not np.isfinite(values).any():
        return np.full(len(values), np.nan)
    per_year = PERIODS_PER_YEAR[grain]
    positions = np.arange(len(values))
    known = np.isfinite(values)
    # Missing periods are interpolated (constant beyond the ends) for the average only.
    filled = np.interp(positions, positions[known], values[known])
    ma = centred_moving_average(filled, per_year)
    ok = np.flatnonzero(~np.isnan(ma))
    if len(ok) == 0:
        ma[:] = np.nanmean(filled)
    elif len(ok) == 1:
        ma[:] = ma[ok[0]]
    else:
        head = ok[:per_year]
        tail = ok[-per_year:]
        slope, intercept = np.polyfit(head, ma[head], 1)
        ma[:ok[0]] = intercept + slope * positions[:ok[0]]
        slope, intercept = np.polyfit(tail, ma[tail], 1)
        ma[ok[-1] + 1:] = intercept + slope * positions[ok[-1] + 1:]
    # A steep line extended half a year can cross zero; a trend must stay a positive level.
    floor = max(0.05 * float(np.nanmean(filled)), 1e-9)
    return np.maximum(ma, floor)


def seasonal_ratios(series: pd.Series, grain: str) -> pd.DataFrame:
    """Each period's count over its trend, with its season: columns period_start, season, n,
    trend, ratio (NaN for missing periods)."""
    tr = trend(series, grain)
    return pd.DataFrame({
        "period_start": series.index,
        "season": season_of(series.index, grain),
        "n": series.to_numpy(),
        "trend": tr.to_numpy(),
        "ratio": (series / tr).to_numpy(),
    })


@dataclass(frozen=True)
class SeasonalProfile:
    """A seasonal index by season: columns season, index, low, high, se, significant (above 1.0
    after the false-discovery-rate control), years (values averaged)."""

    grain: str
    table: pd.DataFrame
    method: str = METHOD

    def lookup(self, seasons: Iterable[int]) -> pd.DataFrame:
        """The table's row for each season (ISO week 53 borrows week 52 when never seen)."""
        # The table holds every season 1..N in order, so season s is row s - 1.
        rows = _season_rows(np.asarray(list(seasons)), self.grain, self.table["years"].to_numpy())
        return pd.DataFrame({c: self.table[c].to_numpy()[rows] for c in self.table.columns})


def _all_seasons(grain: str) -> np.ndarray:
    return np.arange(1, {"month": 12, "week": 53, "day": 365}[grain] + 1)


def seasonal_profile(series: pd.Series, grain: str) -> SeasonalProfile:
    """Seasonal index (1.0 = an average period) with an approximate 95% band, from a series."""
    _check_grain(grain)
    arrays = _profile_arrays(series.to_numpy(dtype="float64"), season_of(series.index, grain),
                             grain)
    return SeasonalProfile(grain, pd.DataFrame({"season": _all_seasons(grain), **arrays}))


def _profile_arrays(
    values: np.ndarray, seasons: np.ndarray, grain: str
) -> dict[str, np.ndarray]:
    """The profile's columns (index, low, high, se, significant, years) for seasons 1..N.

    Plain arrays: a page builds dozens of profiles per view (a back-test refits one per past
    year and row), and pandas objects would cost more than the arithmetic.
    """
    size = len(_all_seasons(grain))
    flat = {"index": np.ones(size), "low": np.full(size, np.nan), "high": np.full(size, np.nan),
            "se": np.full(size, np.nan), "significant": np.zeros(size, dtype=bool),
            "years": np.zeros(size, dtype=int)}
    if not np.nansum(values) > 0:
        return flat
    tr = _trend_values(values, grain)
    ratio = values / tr
    ok = np.isfinite(ratio)
    season = seasons[ok]
    r = ratio[ok]
    k = np.bincount(season, minlength=size + 1)[1:].astype("float64")
    total = np.bincount(season, weights=r, minlength=size + 1)[1:]
    squares = np.bincount(season, weights=r * r, minlength=size + 1)[1:]
    # Poisson: var(n) ~ n, so var(n / trend) ~ ratio / trend.
    poisson = np.bincount(season, weights=r / tr[ok], minlength=size + 1)[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / k
        var_between = np.where(k >= 2, (squares - k * mean ** 2) / (k - 1), np.nan)
        poisson_var = poisson / k
    # An average period is 1.0 over the seasons of an ordinary year (ISO week 53 is extra).
    regular = mean[: min(PERIODS_PER_YEAR[grain], size)]
    scale = np.nanmean(regular) if np.isfinite(regular).any() else np.nan
    if not np.isfinite(scale) or scale <= 0:
        return flat
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.fmax(np.clip(var_between, 0, None) / k, poisson_var / k)) / scale
    index = mean / scale
    return {
        "index": np.where(np.isfinite(index), index, 1.0),
        "low": np.clip(index - Z95 * se, 0, None),
        "high": index + Z95 * se,
        "se": se,
        "significant": significantly_above_one(index, se),
        "years": k.astype(int),
    }


def _season_rows(seasons: np.ndarray, grain: str, years: np.ndarray) -> np.ndarray:
    """Row of each season in a profile (ISO week 53 borrows week 52 when never seen)."""
    seasons = np.asarray(seasons, dtype=int)
    if grain == "week" and years[52] == 0:
        seasons = np.where(seasons == 53, 52, seasons)
    return seasons - 1


def significantly_above_one(
    index: np.ndarray, se: np.ndarray, fdr: float = FALSE_DISCOVERY_RATE
) -> np.ndarray:
    """Which indices are above 1.0 beyond noise (one-sided z-tests, Benjamini-Hochberg)."""
    index = np.asarray(index, dtype="float64")
    se = np.asarray(se, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = norm.sf((index - 1.0) / se)
    return benjamini_hochberg(p, fdr)


def benjamini_hochberg(p: np.ndarray, fdr: float = FALSE_DISCOVERY_RATE) -> np.ndarray:
    """Which p-values are discoveries with the false discovery rate held at ``fdr`` (NaN: none)."""
    p = np.asarray(p, dtype="float64")
    out = np.zeros(len(p), dtype=bool)
    tested = np.flatnonzero(np.isfinite(p))
    if len(tested) == 0:
        return out
    order = tested[np.argsort(p[tested])]
    below = p[order] <= fdr * np.arange(1, len(order) + 1) / len(order)
    if below.any():
        out[order[:np.flatnonzero(below).max() + 1]] = True
    return out


def is_rise(index: pd.Series, significant: pd.Series, threshold: float) -> pd.Series:
    """A predicted rise: index at least ``threshold`` and significantly above 1.0."""
    return (index >= threshold) & significant.astype(bool)


def profile_by_group(
    counts: pd.DataFrame,
    grain: str,
    *,
    group_cols: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    data_start: dt.date | None = None,
    data_end: dt.date | None = None,
    incomplete_months: Iterable = (),
) -> pd.DataFrame:
    """Seasonal profiles of every group: group columns plus season, index, low, high, years,
    is_rise."""
    incomplete_months = list(incomplete_months)
    frames = []
    for key, part in _groups(counts, group_cols):
        series = regular_series(part, grain, data_start=data_start, data_end=data_end,
                                incomplete_months=incomplete_months)
        table = seasonal_profile(series, grain).table
        frames.append((key, table))
    out = _stack(frames, group_cols, _INDEX_COLUMNS)
    out["is_rise"] = is_rise(out["index"], out["significant"], threshold)
    return out


def hour_weekday_profile(
    counts: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """Hour x weekday index (1.0 = an average hour of the week) on the full 7 x 24 grid.

    ``counts`` has columns weekday (0 = Monday), hour (0-23) and n. Returns weekday, hour, n,
    index, low, high (Poisson 95% band), significant and is_peak.
    """
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    n = (counts.groupby(["weekday", "hour"])["n"].sum().reindex(grid, fill_value=0)
         if len(counts) else pd.Series(0, index=grid))
    out = n.rename("n").astype("float64").reset_index()
    mean = out["n"].mean()
    if mean <= 0:
        out["index"], out["low"], out["high"] = 1.0, np.nan, np.nan
        out["significant"], out["is_peak"] = False, False
        return out
    half = Z95 * np.sqrt(out["n"])
    out["index"] = out["n"] / mean
    out["low"] = ((out["n"] - half) / mean).clip(lower=0)
    out["high"] = (out["n"] + half) / mean
    # Under "no pattern" each cell is Poisson with the mean count; exact tail, since with 168
    # cells the normal approximation would flag too many in a flat week.
    out["significant"] = benjamini_hochberg(poisson.sf(out["n"] - 1, mean))
    out["is_peak"] = is_rise(out["index"], out["significant"], threshold)
    return out


def day_of_year_profile(daily: pd.Series) -> pd.DataFrame:
    """Index by day of the year from a daily series (weekday pattern smoothed out by a centred
    7-day mean): columns season (day of a non-leap year), month, day, index, years."""
    ratios = seasonal_ratios(daily, "day").dropna(subset=["ratio"])
    days = _all_seasons("day")
    by_day = ratios.groupby("season")["ratio"].agg(["mean", "count"]).reindex(days)
    # Circular smoothing over 7 days removes the day-of-week effect (1 January follows 31 December).
    values = by_day["mean"].to_numpy()
    padded = np.r_[values[-3:], values, values[:3]]
    smooth = pd.Series(padded).rolling(7, center=True, min_periods=1).mean().to_numpy()[3:-3]
    scale = np.nanmean(smooth)
    calendar = pd.date_range("2001-01-01", "2001-12-31", freq="D")  # a non-leap year
    return pd.DataFrame({
        "season": days,
        "month": calendar.month,
        "day": calendar.day,
        "index": smooth / scale if np.isfinite(scale) and scale > 0 else 1.0,
        "years": by_day["count"].fillna(0).astype(int).to_numpy(),
    })


# --- forward calendar ------------------------------------------------------------------------

def _level_and_growth(
    values: np.ndarray, factors: np.ndarray, per_year: int, max_growth: float
) -> tuple[float, float, float]:
    """(level, annual growth, position of the level) of a series deseasonalised by ``factors``.

    Positions count periods from the series' first period.
    """
    desea = values / np.where(factors > 0, factors, 1.0)
    positions = np.flatnonzero(np.isfinite(desea))
    if len(positions) == 0:
        return float("nan"), 0.0, float(len(values))
    last_year = positions[positions >= len(values) - per_year]
    if len(last_year) == 0:
        last_year = positions[-per_year:]
    level = float(desea[last_year].mean())
    growth = 0.0
    recent = positions[positions >= len(values) - 2 * per_year]
    if len(recent) >= MIN_TRAIN_YEARS * per_year and level > 0:
        slope = np.polyfit(recent.astype(float), np.log(desea[recent] + 0.5), 1)[0]
        growth = float(np.clip(np.exp(slope * per_year) - 1, -max_growth, max_growth))
    return level, growth, float(last_year.mean())


def _predict(
    values: np.ndarray, seasons: np.ndarray, future_seasons: np.ndarray,
    future_positions: np.ndarray, grain: str, max_growth: float,
    profile: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float, float]:
    """Seasonal columns and baseline for future periods: (profile rows for the future periods
    with "baseline" added, the whole profile, level, growth)."""
    profile = profile or _profile_arrays(values, seasons, grain)
    per_year = PERIODS_PER_YEAR[grain]
    factors = profile["index"][_season_rows(seasons, grain, profile["years"])]
    level, growth, position = _level_and_growth(values, factors, per_year, max_growth)
    rows = _season_rows(future_seasons, grain, profile["years"])
    ahead = {name: column[rows] for name, column in profile.items()}
    ahead["baseline"] = level * (1 + growth) ** ((future_positions - position) / per_year)
    return ahead, profile, level, growth


def forecast(
    series: pd.Series,
    grain: str,
    *,
    start: dt.date | None = None,
    periods: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_growth: float = MAX_ANNUAL_GROWTH,
    profile: SeasonalProfile | None = None,
) -> pd.DataFrame:
    """Forward calendar of one series: for each coming period the index, band, expected count.

    Starts at the period after the series (or at ``start``) for a year (``periods`` to change).
    Columns: period_start, period_end, label, season, index, low, high, years, baseline (level x
    trend), expected (baseline x index), extra (expected - baseline), significant, is_rise, level,
    annual_growth.
    """
    _check_grain(grain, ("week", "month"))
    profile = profile or seasonal_profile(series, grain)
    per_year = PERIODS_PER_YEAR[grain]
    if start is None:
        first = _next_period(series.index[-1], grain) if len(series) else pd.Timestamp.today()
    else:
        first = pd.Timestamp(start)
    first = period_start([first], grain)[0]
    count = periods or per_year
    last = (first + pd.DateOffset(months=count - 1) if grain == "month"
            else first + pd.Timedelta(weeks=count - 1))
    starts = _period_range(first, last, grain)
    if len(series):
        origin = series.index[0]
        if grain == "month":
            positions = ((starts.year - origin.year) * 12 + starts.month - origin.month)
        else:
            positions = (starts - origin).days // 7
        positions = np.asarray(positions, dtype=float)
    else:
        positions = np.zeros(len(starts))
    future_seasons = season_of(starts, grain)
    arrays = {c: profile.table[c].to_numpy() for c in _INDEX_COLUMNS if c != "season"}
    ahead, _, level, growth = _predict(
        series.to_numpy(dtype="float64"), season_of(series.index, grain), future_seasons,
        positions, grain, max_growth, profile=arrays)
    out = pd.DataFrame({
        "period_start": starts,
        "period_end": period_end(starts, grain),
        "label": period_labels(starts, grain),
        "season": future_seasons,
        "index": ahead["index"],
        "low": ahead["low"],
        "high": ahead["high"],
        "significant": ahead["significant"].astype(bool),
        "years": ahead["years"],
        "baseline": ahead["baseline"],
    })
    out["expected"] = out["baseline"] * out["index"]
    out["extra"] = out["expected"] - out["baseline"]
    out["is_rise"] = is_rise(out["index"], out["significant"], threshold)
    out["level"] = level
    out["annual_growth"] = growth
    return out


@dataclass(frozen=True)
class Calendar:
    """A forward calendar for every group (ASB type and/or area).

    ``table``: group columns plus the columns of :func:`forecast`. ``profiles``: the seasonal
    index of each group by season. ``grain``: the grain used ("week" or "month").
    """

    grain: str
    threshold: float
    table: pd.DataFrame
    profiles: pd.DataFrame
    method: str = METHOD

    def rises(self) -> pd.DataFrame:
        """The predicted rises only."""
        return self.table[self.table["is_rise"]].reset_index(drop=True)


def build_calendar(
    counts: pd.DataFrame,
    grain: str,
    *,
    group_cols: Sequence[str] = (),
    start: dt.date | None = None,
    periods: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    data_start: dt.date | None = None,
    data_end: dt.date | None = None,
    incomplete_months: Iterable = (),
    max_growth: float = MAX_ANNUAL_GROWTH,
) -> Calendar:
    """The forward calendar (a year from the period after the data, or from ``start``) for each
    group of ``counts`` (columns period, n and ``group_cols``) at ``grain`` (week or month)."""
    _check_grain(grain, ("week", "month"))
    incomplete_months = list(incomplete_months)
    series_by_group = [
        (key, regular_series(part, grain, data_start=data_start, data_end=data_end,
                             incomplete_months=incomplete_months))
        for key, part in _groups(counts, group_cols)
    ]
    if start is None and series_by_group:
        last = max((s.index[-1] for _, s in series_by_group if len(s)), default=None)
        start = _next_period(last, grain) if last is not None else None
    tables, profiles = [], []
    for key, series in series_by_group:
        profile = seasonal_profile(series, grain)
        table = forecast(series, grain, start=start, periods=periods, threshold=threshold,
                         max_growth=max_growth, profile=profile)
        tables.append((key, table))
        profiles.append((key, profile.table))
    table = _stack(tables, group_cols, ["period_start"])
    profile_table = _stack(profiles, group_cols, _INDEX_COLUMNS)
    profile_table["is_rise"] = is_rise(profile_table["index"], profile_table["significant"],
                                       threshold)
    return Calendar(grain, threshold, table, profile_table)


# --- back-test and peak-period performance -----------------------------------------------------

@dataclass(frozen=True)
class Backtest:
    """Calendars built from years before N compared with year N.

    ``periods``: group columns, window (e.g. "Apr 2025 - Mar 2026"), period_start, label, index,
    low, predicted (a predicted rise), expected, actual, real_peak. ``accuracy``: group columns,
    window, predicted, real, hits, precision, recall (None when undefined).
    """

    grain: str
    threshold: float
    periods: pd.DataFrame
    accuracy: pd.DataFrame
    definition: str


def _windows(values: np.ndarray, grain: str, min_train_years: float,
             max_windows: int | None) -> list[tuple[int, int]]:
    """(split, end) of each test year: whole years ending at the last period, each with
    ``min_train_years`` of data before it (the training data is ``values[:split]``)."""
    per_year = PERIODS_PER_YEAR[grain]
    known = np.cumsum(np.isfinite(values))
    end = len(values)
    out = []
    while end - per_year > 0:
        split = end - per_year
        if known[split - 1] < min_train_years * per_year:
            break
        out.append((split, end))
        if max_windows and len(out) >= max_windows:
            break
        end = split
    return out[::-1]


def backtest(
    counts: pd.DataFrame,
    grain: str,
    *,
    group_cols: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    data_start: dt.date | None = None,
    data_end: dt.date | None = None,
    incomplete_months: Iterable = (),
    min_train_years: float = MIN_TRAIN_YEARS,
    max_windows: int | None = None,
    max_growth: float = MAX_ANNUAL_GROWTH,
) -> Backtest:
    """Back-test the calendar on every whole past year with ``min_train_years`` of history."""
    _check_grain(grain, ("week", "month"))
    incomplete_months = list(incomplete_months)
    word = _GRAIN_WORD[grain]
    period_frames = []
    for key, part in _groups(counts, group_cols):
        series = regular_series(part, grain, data_start=data_start, data_end=data_end,
                                incomplete_months=incomplete_months)
        values = series.to_numpy(dtype="float64")
        seasons = season_of(series.index, grain)
        for split, end in _windows(values, grain, min_train_years, max_windows):
            ahead, _, _, _ = _predict(values[:split], seasons[:split], seasons[split:end],
                                      np.arange(split, end, dtype=float), grain, max_growth)
            actual = values[split:end]
            mean = np.nanmean(actual) if np.isfinite(actual).any() else np.nan
            index = ahead["index"]
            frame = pd.DataFrame({
                "window": window_label(series.index[split], series.index[end - 1], grain),
                "period_start": series.index[split:end],
                "label": period_labels(series.index[split:end], grain),
                "index": index,
                "low": ahead["low"],
                "predicted": (index >= threshold) & ahead["significant"].astype(bool),
                "expected": ahead["baseline"] * index,
                "actual": actual,
            })
            # Beyond chance too: with small counts a week 15% above average is often just noise.
            frame["real_peak"] = (
                (frame["actual"] >= threshold * mean)
                & (frame["actual"] > mean + Z_ONE_SIDED_95 * np.sqrt(mean))
                & (mean > 0)
            )
            # Excluded (incomplete) periods are neither predicted nor real peaks in the scoring.
            frame["scored"] = frame["actual"].notna()
            period_frames.append((key, frame))
    periods = _stack(period_frames, group_cols, ["window", "period_start"])
    accuracy = accuracy_table(periods, group_cols)
    definition = REAL_PEAK_DEFINITION.format(period=word, threshold=threshold)
    return Backtest(grain, threshold, periods, accuracy, definition)


def window_label(first: pd.Timestamp, last: pd.Timestamp, grain: str) -> str:
    """A test year's label: "Apr 2025 - Mar 2026", or by day for weeks ("2 Jan 2023 - 31 Dec
    2023") since 52 weeks rarely start and end with a month."""
    end = period_end([last], grain)[0]
    if grain == "month":
        return f"{first:%b %Y} - {end:%b %Y}"
    return f"{first.day} {first:%b %Y} - {end.day} {end:%b %Y}"


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def accuracy_table(periods: pd.DataFrame, group_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Precision and recall of predicted rises by group and window (scored periods only)."""
    columns = [*group_cols, "window", "predicted", "real", "hits", "precision", "recall"]
    if periods.empty:
        return pd.DataFrame(columns=columns)
    scored = periods[periods["scored"]]
    rows = []
    # Windows stay in time order (the periods frame is built in order), not alphabetical.
    for key, part in scored.groupby([*group_cols, "window"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        predicted = int(part["predicted"].sum())
        real = int(part["real_peak"].sum())
        hits = int((part["predicted"] & part["real_peak"]).sum())
        rows.append((*key, predicted, real, hits, _ratio(hits, predicted), _ratio(hits, real)))
    return pd.DataFrame(rows, columns=columns)


def overall_accuracy(result: Backtest) -> dict:
    """Pooled totals over every group and window: windows, predicted, real, hits, precision,
    recall."""
    acc = result.accuracy
    predicted, real, hits = (int(acc[c].sum()) if len(acc) else 0
                             for c in ("predicted", "real", "hits"))
    return {
        "windows": acc["window"].unique().tolist() if len(acc) else [],
        "predicted": predicted, "real": real, "hits": hits,
        "precision": _ratio(hits, predicted), "recall": _ratio(hits, real),
    }


def describe_accuracy(result: Backtest) -> str:
    """The back-test in plain words for the page."""
    summary = overall_accuracy(result)
    word = _GRAIN_WORD[result.grain]
    if not summary["windows"]:
        return (f"Not enough history to test the calendar: it needs at least "
                f"{MIN_TRAIN_YEARS:g} years of data before a whole year to predict.")
    years = len(summary["windows"])
    parts = [f"Tested on {years} past year{'s' if years > 1 else ''} "
             f"({', '.join(summary['windows'])}), each predicted from the years before it."]
    if summary["predicted"]:
        parts.append(
            f"Of {summary['predicted']} {word}s marked as rises, {summary['hits']} "
            f"({summary['precision']:.0%}) were real peaks."
        )
    else:
        parts.append(f"The calendar marked no {word}s as rises.")
    if summary["real"]:
        parts.append(
            f"It caught {summary['hits']} of {summary['real']} real peaks "
            f"({summary['recall']:.0%})."
        )
    else:
        parts.append("There were no real peaks in the tested years.")
    parts.append(f"Here {result.definition}.")
    return " ".join(parts)


def peak_performance(result: Backtest, group_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Actual against expected incidents in the periods each past calendar marked as rises.

    Columns: group columns, window, peaks, actual, expected, difference (actual - expected),
    pct_difference. A negative difference means fewer incidents than the calendar expected in
    its peak periods, which is what interventions aim for.
    """
    columns = [*group_cols, "window", "peaks", "actual", "expected", "difference",
               "pct_difference"]
    periods = result.periods
    if periods.empty:
        return pd.DataFrame(columns=columns)
    peaks = periods[periods["predicted"] & periods["scored"]]
    if peaks.empty:
        return pd.DataFrame(columns=columns)
    out = (peaks.groupby([*group_cols, "window"], sort=False)
           .agg(peaks=("period_start", "count"), actual=("actual", "sum"),
                expected=("expected", "sum"))
           .reset_index())
    out["difference"] = out["actual"] - out["expected"]
    out["pct_difference"] = np.where(out["expected"] > 0, out["difference"] / out["expected"],
                                     np.nan)
    return out[columns]


# --- named drivers -----------------------------------------------------------------------------

_EVENT_COLUMNS = ["name", "kind", "start_date", "end_date", "area_code"]


def bank_holidays(start: dt.date, end: dt.date) -> pd.DataFrame:
    """England and Wales bank holidays between two dates, as event rows (kind bank_holiday)."""
    years = range(pd.Timestamp(start).year, pd.Timestamp(end).year + 1)
    found = holidays.country_holidays("GB", subdiv="ENG", years=years)
    rows = [(name, "bank_holiday", day, day, None) for day, name in sorted(found.items())
            if pd.Timestamp(start) <= pd.Timestamp(day) <= pd.Timestamp(end)]
    out = pd.DataFrame(rows, columns=_EVENT_COLUMNS)
    out["start_date"] = pd.to_datetime(out["start_date"])
    out["end_date"] = pd.to_datetime(out["end_date"])
    return out


_YEAR_IN_NAME = re.compile(r"\s*\b(?:19|20)\d{2}(?:\s*/\s*\d{2,4})?\b\s*")


def event_key(name: str) -> str:
    """An event's name without its year, so "Pride 2024" and "Pride 2025" are one event."""
    return " ".join(_YEAR_IN_NAME.sub(" ", str(name)).split()).lower()


def recurring_events(events: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Events overlapping [start, end], adding a projection (the latest earlier occurrence moved
    on by whole years, ``projected`` True) for each yearly event not yet entered for the range."""
    columns = [*_EVENT_COLUMNS, "projected"]
    if events is None or events.empty:
        return pd.DataFrame(columns=columns)
    ev = events.copy()
    ev["start_date"] = pd.to_datetime(ev["start_date"])
    ev["end_date"] = pd.to_datetime(ev["end_date"])
    if "area_code" not in ev:
        ev["area_code"] = None
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    inside = ev[(ev["end_date"] >= lo) & (ev["start_date"] <= hi)].assign(projected=False)
    ev["key"] = ev["name"].map(event_key)
    have = {(event_key(n), k) for n, k in zip(inside["name"], inside["kind"])}
    projected = []
    for (key, kind), part in ev[ev["start_date"] < lo].groupby(["key", "kind"], sort=True):
        if (key, kind) in have:
            continue
        latest = part.sort_values("start_date").iloc[-1]
        for years in range(1, 4):
            shift = pd.DateOffset(years=years)
            s, e = latest["start_date"] + shift, latest["end_date"] + shift
            if e >= lo and s <= hi:
                projected.append({**latest[_EVENT_COLUMNS].to_dict(), "start_date": s,
                                  "end_date": e, "projected": True})
    out = pd.concat([inside[columns], pd.DataFrame(projected, columns=columns)],
                    ignore_index=True) if projected else inside[columns].reset_index(drop=True)
    return out.sort_values(["start_date", "name"]).reset_index(drop=True)


def driver_events(events: pd.DataFrame | None, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The named drivers for [start, end]: school holidays and local events from the events
    table (projected a year on when not yet entered) and England and Wales bank holidays from
    the ``holidays`` package (which replace the table's own bank-holiday rows). Columns: name,
    kind, start_date, end_date, area_code, projected."""
    kinds = [k for k in DRIVER_KINDS if k != "bank_holiday"]
    table = (events[events["kind"].isin(kinds)] if events is not None and len(events)
             else pd.DataFrame(columns=_EVENT_COLUMNS))
    local = recurring_events(table, start, end)
    national = bank_holidays(start, end).assign(projected=False)
    frames = [f for f in (local, national) if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*_EVENT_COLUMNS, "projected"])
    return (pd.concat(frames, ignore_index=True).sort_values(["start_date", "name"])
            .reset_index(drop=True))


def period_events(starts: Iterable, grain: str, events: pd.DataFrame) -> pd.DataFrame:
    """Which events overlap which periods: columns period_start, name, kind."""
    starts = pd.DatetimeIndex(pd.to_datetime(list(starts)))
    columns = ["period_start", "name", "kind"]
    if events is None or events.empty or len(starts) == 0:
        return pd.DataFrame(columns=columns)
    ends = period_end(starts, grain)
    ev_start = pd.to_datetime(events["start_date"]).to_numpy()
    ev_end = pd.to_datetime(events["end_date"]).to_numpy()
    overlap = ((ev_start[None, :] <= ends.to_numpy()[:, None])
               & (ev_end[None, :] >= starts.to_numpy()[:, None]))
    p, e = np.nonzero(overlap)
    return pd.DataFrame({
        "period_start": starts[p],
        "name": events["name"].to_numpy()[e],
        "kind": events["kind"].to_numpy()[e],
    }, columns=columns)


def annotate_events(table: pd.DataFrame, grain: str, events: pd.DataFrame) -> pd.DataFrame:
    """``table`` (with period_start) plus ``events``: the names of overlapping events, joined."""
    periods = pd.DatetimeIndex(pd.to_datetime(table["period_start"].unique()))
    hits = period_events(periods, grain, events)
    names = (hits.drop_duplicates(["period_start", "name"]).groupby("period_start")["name"]
             .agg(lambda s: "; ".join(s)) if len(hits) else pd.Series(dtype=str))
    out = table.copy()
    out["events"] = pd.to_datetime(out["period_start"]).map(names).fillna("")
    return out


def peak_drivers(
    calendar: Calendar, events: pd.DataFrame, group_cols: Sequence[str] = ()
) -> pd.DataFrame:
    """Which predicted rises line up with which events: group columns, period_start, label,
    index, expected, extra, name, kind. Rises that match no event are listed with kind ""."""
    rises = calendar.rises()
    columns = [*group_cols, "period_start", "label", "index", "expected", "extra", "name", "kind"]
    if rises.empty:
        return pd.DataFrame(columns=columns)
    hits = period_events(rises["period_start"].unique(), calendar.grain, events)
    out = rises.merge(hits, on="period_start", how="left")
    out["name"] = out["name"].fillna("")
    out["kind"] = out["kind"].fillna("")
    return out[columns].sort_values([*group_cols, "period_start", "name"]).reset_index(drop=True)


def driver_summary(drivers: pd.DataFrame) -> pd.DataFrame:
    """Events ranked by how many predicted rises they line up with: name, kind, rises."""
    matched = drivers[drivers["name"] != ""]
    if matched.empty:
        return pd.DataFrame(columns=["name", "kind", "rises"])
    return (matched.groupby(["name", "kind"], sort=True).size().rename("rises").reset_index()
            .sort_values(["rises", "name"], ascending=[False, True]).reset_index(drop=True))


# --- helpers -----------------------------------------------------------------------------------

def _groups(counts: pd.DataFrame, group_cols: Sequence[str]):
    if not group_cols:
        yield (), counts
        return
    for key, part in counts.groupby(list(group_cols), sort=True):
        yield (key if isinstance(key, tuple) else (key,)), part


def _stack(
    keyed: list[tuple[tuple, pd.DataFrame]], group_cols: Sequence[str], columns: Sequence[str]
) -> pd.DataFrame:
    """One frame from per-group frames, with the group columns first (empty: ``columns``)."""
    if not keyed:
        return pd.DataFrame(columns=[*group_cols, *columns])
    out = pd.concat([frame for _, frame in keyed], ignore_index=True)
    lengths = [len(frame) for _, frame in keyed]
    for position, column in enumerate(group_cols):
        values = np.empty(len(keyed), dtype=object)
        values[:] = [key[position] for key, _ in keyed]
        out.insert(position, column, np.repeat(values, lengths))
    return out
