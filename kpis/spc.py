"""Statistical process control: XmR charts as in NHS England's "Making Data Count" (MDC).

An XmR chart plots each value (X) against its mean, with *natural process limits* at
mean +/- 2.66 x the mean moving range (2.66 = 3 / 1.128, the d2 constant for ranges of two points,
so the limits sit three sigma from the mean). A point is *special cause* variation when a rule
fires; otherwise the process shows *common cause* variation and a single month's rise is noise.

Rules (MDC, with the counts this partnership adopted):
- ``outside``: a point above the upper or below the lower limit;
- ``run``: 7 or more consecutive points above, or below, the mean (a point exactly on the mean
  breaks a run);
- ``trend``: 7 or more consecutive points each higher (or each lower) than the one before (an
  equal neighbour breaks a trend);
- ``two_of_three``: 2 of 3 consecutive points beyond two sigma (two thirds of the way from the
  mean to a limit) on the same side; the points beyond are flagged.

Limits come from a *baseline* (the first N points or a date range, default the whole series) and
can be *rebased*: from each change point the limits are recalculated from the points that follow.
Moving ranges never span a change point. Missing values (a month with no denominator) are skipped.

With fewer than :data:`MIN_POINTS` points the chart still shows its mean and limits but no
signals: the icons say "too few points" rather than inventing a signal.

Icons follow MDC: variation (special cause improving / concerning / common cause, judged on the
latest point and the KPI's polarity) and assurance (whether the limits show the target will be met
consistently, missed consistently, or hit and miss). Each icon has a text label, a short label and
a plain glyph as well as a colour-blind-safe colour (Okabe-Ito), so colour never carries meaning
alone.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

LIMIT_FACTOR = 2.66  # 3 / d2, d2 = 1.128 for moving ranges of two points
RUN_LENGTH = 7
TREND_LENGTH = 7
MIN_POINTS = 12  # below this, no signals: MDC advises at least 12-20 points for limits

# Okabe-Ito colour-blind-safe colours, as MDC uses blue for improvement and orange for concern.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREY = "#6E6E6E"

RULES = ("outside", "two_of_three", "trend", "run")  # precedence when rules disagree on a side


@dataclass(frozen=True)
class Icon:
    """An MDC icon as text: never colour alone."""

    code: str
    label: str  # full sentence for tables, tooltips and screen readers
    short: str  # two or three words for compact cards
    glyph: str  # a plain (non-emoji) character that differs between meanings
    colour: str

    @property
    def text(self) -> str:
        """Glyph and short label together, e.g. "▲ Concerning"."""
        return f"{self.glyph} {self.short}"


VARIATION_ICONS = {
    "improving_high": Icon("improving_high", "Special cause variation: improving (higher values)",
                           "Improving", "▲", BLUE),
    "improving_low": Icon("improving_low", "Special cause variation: improving (lower values)",
                          "Improving", "▼", BLUE),
    "concerning_high": Icon("concerning_high", "Special cause variation: concerning (higher values)",
                            "Concerning", "▲", ORANGE),
    "concerning_low": Icon("concerning_low", "Special cause variation: concerning (lower values)",
                           "Concerning", "▼", ORANGE),
    "common_cause": Icon("common_cause", "Common cause variation: no significant change",
                         "Common cause", "~", GREY),
    "too_few_points": Icon("too_few_points", f"Too few points for SPC (fewer than {MIN_POINTS})",
                           "Too few points", "·", GREY),
}

ASSURANCE_ICONS = {
    "met": Icon("met", "Target consistently met: the target lies outside the limits on the good side",
                "Consistently met", "P", BLUE),
    "missed": Icon("missed", "Target consistently missed: the target lies outside the limits on the bad side",
                   "Consistently missed", "F", ORANGE),
    "hit_and_miss": Icon("hit_and_miss", "Hit and miss: the target lies within the limits",
                         "Hit and miss", "?", GREY),
    "no_target": Icon("no_target", "No target set", "No target", "–", GREY),
    "too_few_points": Icon("too_few_points", f"Too few points to judge the target (fewer than {MIN_POINTS})",
                           "Too few points", "·", GREY),
}


@dataclass(frozen=True)
class SpcResult:
    """An XmR chart: one row per point in ``points`` plus the icons.

    ``points`` columns: period, value, segment (0, 1, ... after each rebase), in_baseline,
    moving_range, mean, ucl, lcl, upper_2sigma, lower_2sigma, outside, run, trend, two_of_three
    (booleans), signal ("high", "low" or ""), signal_rule (the rule that decided the side),
    special_cause ("improving", "concerning" or "").
    """

    columns: Mapping[str, np.ndarray] = field(repr=False, compare=False)
    variation: Icon
    assurance: Icon
    enough_points: bool
    mean: float  # of the latest segment
    ucl: float
    lcl: float
    notes: tuple[str, ...] = ()

    @cached_property
    def points(self) -> pd.DataFrame:
        """The chart's points as a frame (built on first use: the overview needs only the icons)."""
        return pd.DataFrame(dict(self.columns))

    @property
    def latest_special_cause(self) -> str:
        """"improving", "concerning" or "" for the latest non-missing point."""
        valid = np.flatnonzero(np.isfinite(self.columns["value"]))
        return "" if len(valid) == 0 else str(self.columns["special_cause"][valid[-1]])


# --- limits ------------------------------------------------------------------------------------

def xmr_limits(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, mean moving range, lower limit, upper limit) of consecutive values (NaN skipped)."""
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    mr_bar = float(np.abs(np.diff(x)).mean()) if len(x) > 1 else math.nan
    return mean, mr_bar, mean - LIMIT_FACTOR * mr_bar, mean + LIMIT_FACTOR * mr_bar


# --- rules on a clean (no-missing) array ----------------------------------------------------------

def _runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Flag every element of maximal True-runs at least ``length`` long."""
    out = np.zeros(len(mask), dtype=bool)
    start = None
    for i, flag in enumerate(np.append(mask, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= length:
                out[start:i] = True
            start = None
    return out


def _trend(x: np.ndarray, length: int, rising: bool) -> np.ndarray:
    """Flag points in sequences of ``length`` or more points each beyond the one before."""
    if len(x) < 2:
        return np.zeros(len(x), dtype=bool)
    step = np.diff(x) > 0 if rising else np.diff(x) < 0
    # a run of k qualifying steps covers k + 1 points
    steps = _runs(step, length - 1)
    out = np.zeros(len(x), dtype=bool)
    out[1:] |= steps
    out[:-1] |= steps
    return out


def _two_of_three(beyond: np.ndarray) -> np.ndarray:
    out = np.zeros(len(beyond), dtype=bool)
    for i in range(len(beyond) - 2):
        window = beyond[i:i + 3]
        if window.sum() >= 2:
            out[i:i + 3] |= window
    return out


def _segment_rules(x: np.ndarray, mean: float, lcl: float, ucl: float) -> dict[str, np.ndarray]:
    """Per-rule high/low flags for one segment's points."""
    sigma2 = (ucl - mean) * 2.0 / 3.0 if math.isfinite(ucl) else math.nan
    with np.errstate(invalid="ignore"):
        above, below = x > mean, x < mean
        hi2, lo2 = x > mean + sigma2, x < mean - sigma2
        flags = {
            "outside_high": x > ucl, "outside_low": x < lcl,
            "run_high": _runs(above, RUN_LENGTH), "run_low": _runs(below, RUN_LENGTH),
            "trend_high": _trend(x, TREND_LENGTH, rising=True),
            "trend_low": _trend(x, TREND_LENGTH, rising=False),
            "two_of_three_high": _two_of_three(hi2), "two_of_three_low": _two_of_three(lo2),
        }
    return flags


# --- the chart ---------------------------------------------------------------------------------

def _as_periods(periods: Sequence | None, n: int) -> np.ndarray:
    """Periods as an array: datetime64 when they are dates, else as given (positions by default)."""
    if periods is None:
        return np.arange(n)
    if isinstance(periods, (pd.Series, pd.DatetimeIndex)) and pd.api.types.is_datetime64_any_dtype(periods):
        out = np.asarray(periods, dtype="datetime64[ns]")
    else:
        items = list(periods)
        if items and all(isinstance(v, (dt.date, pd.Timestamp, np.datetime64)) for v in items):
            out = pd.to_datetime(pd.Series(items)).to_numpy()
        else:
            out = np.asarray(items, dtype=object)
    if len(out) != n:
        raise ValueError(f"{len(out)} periods for {n} values")
    return out


def _positions(marks: Iterable, periods: np.ndarray) -> list[int]:
    """Positions of change points given as ints (positions) or dates (first period on/after)."""
    out = []
    for mark in marks:
        if isinstance(mark, (int, np.integer)) and not isinstance(mark, bool):
            pos = int(mark)
        else:
            when = pd.Timestamp(mark)
            later = np.flatnonzero(pd.to_datetime(pd.Series(periods)).to_numpy() >= when.to_datetime64())
            if len(later) == 0:
                raise ValueError(f"rebase point {mark} is after the last period")
            pos = int(later[0])
        if not 0 < pos < len(periods):
            raise ValueError(f"rebase point {mark!r} must fall inside the series")
        out.append(pos)
    return sorted(set(out))


def compute_spc(
    values: Sequence[float],
    periods: Sequence | None = None,
    *,
    higher_is_better: bool = True,
    target: float | None = None,
    baseline: int | tuple | None = None,
    rebase_at: Iterable = (),
    min_points: int = MIN_POINTS,
) -> SpcResult:
    """Build an XmR chart with MDC signals and icons.

    ``baseline``: None (all points of the first segment), an int N (its first N points) or a
    (start, end) pair of dates (inclusive). ``rebase_at``: positions or dates where the process
    changed; limits are recalculated from each. ``target``: the latest target, for assurance.
    """
    try:
        x_all = np.asarray(values, dtype="float64").ravel()
    except (TypeError, ValueError):  # None or text among the values: treat as missing
        x_all = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").to_numpy(dtype="float64")
    n = len(x_all)
    per = _as_periods(periods, n)
    notes: list[str] = []
    valid = np.isfinite(x_all)
    cuts = [0, *_positions(rebase_at, per), n]
    segment = np.zeros(n, dtype=int)
    for s, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        segment[a:b] = s

    in_baseline = np.zeros(n, dtype=bool)
    first = np.flatnonzero(valid & (segment == 0))
    if baseline is None:
        in_baseline[first] = True
    elif isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        if baseline < 2:
            raise ValueError("a baseline needs at least 2 points")
        in_baseline[first[:baseline]] = True
    else:
        start, end = (pd.Timestamp(v).to_datetime64() for v in baseline)
        when = pd.to_datetime(pd.Series(per)).to_numpy()[first]
        chosen = first[(when >= start) & (when <= end)]
        if len(chosen) < 2:
            notes.append("the baseline period has fewer than 2 points; limits use the whole series")
            chosen = first
        in_baseline[chosen] = True

    cols = {k: np.full(n, np.nan) for k in ("moving_range", "mean", "ucl", "lcl")}
    flags = {f"{r}_{side}": np.zeros(n, dtype=bool) for r in RULES for side in ("high", "low")}
    enough = int(valid.sum()) >= min_points
    if not enough:
        notes.append(f"too few points for SPC signals ({int(valid.sum())}, fewer than {min_points})")
    for s in range(len(cuts) - 1):
        idx = np.flatnonzero(valid & (segment == s))
        if len(idx) == 0:
            continue
        x = x_all[idx]
        use = idx[in_baseline[idx]] if s == 0 else idx
        mean, mr_bar, lcl, ucl = xmr_limits(x_all[use])
        cols["moving_range"][idx[1:]] = np.abs(np.diff(x))
        cols["mean"][idx], cols["ucl"][idx], cols["lcl"][idx] = mean, ucl, lcl
        if not enough:
            continue
        if len(idx) < min_points:
            notes.append(f"segment {s + 1} has {len(idx)} points: no signals until {min_points}")
            continue
        for name, flag in _segment_rules(x, mean, lcl, ucl).items():
            flags[name][idx] = flag

    sigma2 = (cols["ucl"] - cols["mean"]) * 2.0 / 3.0
    signal = np.full(n, "", dtype=object)
    signal_rule = np.full(n, "", dtype=object)
    for rule in reversed(RULES):  # the highest-precedence rule is written last and wins
        for side in ("high", "low"):
            hit = flags[f"{rule}_{side}"]
            signal[hit], signal_rule[hit] = side, rule
    good = "high" if higher_is_better else "low"
    special = np.where(signal == "", "", np.where(signal == good, "improving", "concerning"))

    columns = {
        "period": per, "value": x_all, "segment": segment, "in_baseline": in_baseline,
        **cols, "upper_2sigma": cols["mean"] + sigma2, "lower_2sigma": cols["mean"] - sigma2,
        **{r: flags[f"{r}_high"] | flags[f"{r}_low"] for r in RULES},
        "signal": signal, "signal_rule": signal_rule, "special_cause": special,
    }
    last = np.flatnonzero(valid)[-1] if valid.any() else None
    mean = float(cols["mean"][last]) if last is not None else math.nan
    ucl = float(cols["ucl"][last]) if last is not None else math.nan
    lcl = float(cols["lcl"][last]) if last is not None else math.nan
    if not enough or last is None:
        variation = VARIATION_ICONS["too_few_points"]
    elif not signal[last]:
        variation = VARIATION_ICONS["common_cause"]
    else:
        variation = VARIATION_ICONS[f"{special[last]}_{signal[last]}"]
    return SpcResult(
        columns=columns,
        variation=variation,
        assurance=assurance_icon(lcl, ucl, target, higher_is_better=higher_is_better,
                                 enough_points=enough),
        enough_points=enough, mean=mean, ucl=ucl, lcl=lcl, notes=tuple(notes),
    )


def variation_icon(points: pd.DataFrame, *, enough_points: bool = True) -> Icon:
    """MDC variation icon for the latest non-missing point of a computed chart."""
    valid = points[points["value"].notna()]
    if not enough_points or valid.empty:
        return VARIATION_ICONS["too_few_points"]
    last = valid.iloc[-1]
    if not last["signal"]:
        return VARIATION_ICONS["common_cause"]
    return VARIATION_ICONS[f"{last['special_cause']}_{last['signal']}"]


def assurance_icon(
    lcl: float, ucl: float, target: float | None, *, higher_is_better: bool, enough_points: bool = True
) -> Icon:
    """MDC assurance icon: where the target sits relative to the natural process limits."""
    if target is None or not math.isfinite(float(target)):
        return ASSURANCE_ICONS["no_target"]
    if not enough_points or not (math.isfinite(lcl) and math.isfinite(ucl)):
        return ASSURANCE_ICONS["too_few_points"]
    target = float(target)
    # A target on a limit counts as outside it: every point the process will produce is then on
    # the target's good (or bad) side.
    if higher_is_better:
        if target <= lcl:
            return ASSURANCE_ICONS["met"]
        if target >= ucl:
            return ASSURANCE_ICONS["missed"]
    else:
        if target >= ucl:
            return ASSURANCE_ICONS["met"]
        if target <= lcl:
            return ASSURANCE_ICONS["missed"]
    return ASSURANCE_ICONS["hit_and_miss"]
