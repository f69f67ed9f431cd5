"""Change flags that hold at small counts, confidence intervals, RAG and target rules.

Counts of crimes in a ward are small, and a rise from 3 to 6 is "+100%" but well within chance.
Counts are treated as Poisson:

- :func:`poisson_ci` gives the exact (Garwood, chi-square) 95% interval for a count, and
  :func:`rate_ci` the same interval as a rate per 1,000 residents;
- :func:`compare_counts` compares two counts with their exposures (months, or residents x months)
  by the exact conditional binomial test: given the total ``a + b``, under "no change" ``a`` is
  Binomial(a + b, Ea / (Ea + Eb)). A change is flagged only when the two-sided p-value is below
  the significance level (0.05 by default), so 3 -> 6 (p = 0.51) is not an alarm while
  30 -> 60 (p < 0.001) is.

RAG against a target is kept as an option (boards know it), with amber a tolerance band around the
target. Target rules (``change_from_baseline`` and ``absolute``) turn a registry rule and a baseline
year's values into the target each period is judged against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from kpis.periods import parse_fy
from kpis.registry import TargetRule

ALPHA = 0.05


@dataclass(frozen=True)
class Change:
    """A comparison of two counts (``before``/``after``, or area/rest of the city)."""

    count_a: float
    count_b: float
    rate_ratio: float  # (b / Eb) / (a / Ea); NaN when a's rate is 0
    p_value: float
    significant: bool
    direction: str  # "up", "down" or "" (no significant change)

    @property
    def label(self) -> str:
        """Plain words for a table: "significant rise (p = 0.003)" or "no significant change"."""
        if not self.significant:
            return "no significant change"
        word = "rise" if self.direction == "up" else "fall"
        return f"significant {word} (p = {_p_text(self.p_value)})"


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def poisson_ci(count: float, alpha: float = ALPHA) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval for a Poisson count: chi2(a/2, 2k)/2 to chi2(1-a/2, 2k+2)/2."""
    k = float(count)
    if not math.isfinite(k) or k < 0:
        return math.nan, math.nan
    lower = 0.0 if k == 0 else float(stats.chi2.ppf(alpha / 2, 2 * k) / 2)
    upper = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2)
    return lower, upper


def poisson_ci_arrays(counts, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`poisson_ci` (NaN for missing or negative counts)."""
    k = np.asarray(counts, dtype="float64")
    ok = np.isfinite(k) & (k >= 0)
    safe = np.where(ok, k, 0.0)
    with np.errstate(invalid="ignore"):
        lower = np.where(safe > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(safe, 1e-300)) / 2, 0.0)
        upper = stats.chi2.ppf(1 - alpha / 2, 2 * safe + 2) / 2
    return np.where(ok, lower, np.nan), np.where(ok, upper, np.nan)


def rate_ci(count: float, population: float, per: float = 1000.0, alpha: float = ALPHA) -> tuple[float, float, float]:
    """(rate, lower, upper) per ``per`` residents; NaN when the population is 0 or unknown."""
    if population is None or not math.isfinite(float(population)) or float(population) <= 0:
        return math.nan, math.nan, math.nan
    lower, upper = poisson_ci(count, alpha)
    scale = per / float(population)
    return float(count) * scale, lower * scale, upper * scale


_EXACT_LIMIT = 2_000_000  # beyond this many events scipy's binomtest is used directly


def binomial_two_sided_p(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial p-value, as ``scipy.stats.binomtest(k, n, p).pvalue``.

    The same "minimum likelihood" rule as scipy (the observed tail plus every outcome on the
    other side no more likely than the one observed, with scipy's 1e-7 relative tolerance), but
    the other tail's edge is found from one vectorised pmf over a window instead of scipy's
    binary search of scalar calls: the page runs dozens of these per rerun.
    """
    if n <= 0:
        return 1.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    if n > _EXACT_LIMIT:
        return float(stats.binomtest(k, n, p).pvalue)
    binom = stats.binom  # module-level calls: freezing a distribution costs more than the test
    d = float(binom.pmf(k, n, p)) * (1 + 1e-7)
    expected = p * n
    if k == expected:
        return 1.0
    sd = math.sqrt(n * p * (1 - p))
    span = int(abs(k - expected) + 12 * sd + 12)
    if k < expected:
        lo = int(math.ceil(expected))
        hi = min(n, lo + span)
        j = np.arange(lo, hi + 1)
        edge = np.flatnonzero(binom.pmf(j, n, p) <= d)
        if len(edge) == 0:
            if hi < n:  # the window was too short: fall back to scipy
                return float(stats.binomtest(k, n, p).pvalue)
            return min(1.0, float(binom.cdf(k, n, p)))
        return min(1.0, float(binom.cdf(k, n, p) + binom.sf(j[edge[0]] - 1, n, p)))
    hi = int(math.floor(expected))
    lo = max(0, hi - span)
    j = np.arange(lo, hi + 1)
    edge = np.flatnonzero(binom.pmf(j, n, p) <= d)
    if len(edge) == 0:
        if lo > 0:
            return float(stats.binomtest(k, n, p).pvalue)
        return min(1.0, float(binom.sf(k - 1, n, p)))
    return min(1.0, float(binom.cdf(j[edge[-1]], n, p) + binom.sf(k - 1, n, p)))


def estimate_dispersion(monthly_counts) -> float:
    """Overdispersion factor (>= 1) of a count series from its month-to-month changes.

    For Poisson counts the variance of the difference of two consecutive months is twice the
    mean; crime counts vary more than that (weather, events, operations), so a plain Poisson
    test calls almost every city-wide change "significant". phi = var(differences) / (2 x mean),
    floored at 1; differences rather than deviations from the mean keep a slow trend or the
    seasonal cycle from inflating it. Fewer than 4 months: 1.0 (nothing to estimate from).
    """
    values = np.asarray([v for v in monthly_counts if v is not None and math.isfinite(float(v))],
                        dtype=float)
    if len(values) < 4 or values.mean() <= 0:
        return 1.0
    diffs = np.diff(values)
    return float(max(1.0, diffs.var(ddof=1) / (2.0 * values.mean())))


def compare_counts(
    count_a: float, count_b: float, exposure_a: float = 1.0, exposure_b: float = 1.0,
    *, alpha: float = ALPHA, dispersion: float = 1.0,
) -> Change:
    """Exact conditional test of equal Poisson rates: is ``b`` (per its exposure) different from ``a``?

    ``dispersion`` (phi >= 1, see :func:`estimate_dispersion`) makes it a quasi-Poisson test:
    both counts are divided by phi before the exact test, so each carries the information of a
    Poisson count phi times smaller. The returned counts and ratio are the real ones.
    """
    a, b = float(count_a), float(count_b)
    ea, eb = float(exposure_a), float(exposure_b)
    if not all(math.isfinite(v) for v in (a, b, ea, eb)) or ea <= 0 or eb <= 0 or a < 0 or b < 0:
        return Change(a, b, math.nan, math.nan, False, "")
    ratio = (b / eb) / (a / ea) if a > 0 else math.nan
    phi = max(1.0, float(dispersion)) if math.isfinite(float(dispersion)) else 1.0
    total = int(round((a + b) / phi))
    if total == 0:
        return Change(a, b, ratio, 1.0, False, "")
    p = binomial_two_sided_p(int(round(b / phi)), total, eb / (ea + eb))
    significant = p < alpha
    direction = ""
    if significant:
        direction = "up" if b / eb > a / ea else "down"
    return Change(a, b, ratio, p, significant, direction)


def compare_frame(
    frame: pd.DataFrame, a: str, b: str, exposure_a: str | float = 1.0, exposure_b: str | float = 1.0,
    *, alpha: float = ALPHA,
) -> pd.DataFrame:
    """:func:`compare_counts` row by row; adds rate_ratio, p_value, significant, direction, change_label."""
    out = frame.copy()
    rows = []
    for rec in frame.to_dict("records"):
        ea = rec[exposure_a] if isinstance(exposure_a, str) else exposure_a
        eb = rec[exposure_b] if isinstance(exposure_b, str) else exposure_b
        rows.append(compare_counts(rec[a], rec[b], ea, eb, alpha=alpha))
    out["rate_ratio"] = [c.rate_ratio for c in rows]
    out["p_value"] = [c.p_value for c in rows]
    out["significant"] = [c.significant for c in rows]
    out["direction"] = [c.direction for c in rows]
    out["change_label"] = [c.label for c in rows]
    return out


# --- RAG against a target (an option; SPC is the default view) ----------------------------------

RAG_LABELS = {
    "green": "On target",
    "amber": "Near target",
    "red": "Off target",
    "none": "No target",
}
RAG_GLYPHS = {"green": "●", "amber": "◐", "red": "○", "none": "–"}


def rag_status(value: float, target: float | None, *, higher_is_better: bool, tolerance: float = 0.05) -> str:
    """"green" when on the good side of the target, "amber" within ``tolerance`` (a fraction of the
    target) on the bad side, "red" beyond it, "none" when there is no target or value."""
    if target is None or value is None:
        return "none"
    value, target = float(value), float(target)
    if not (math.isfinite(value) and math.isfinite(target)):
        return "none"
    gap = value - target if higher_is_better else target - value  # >= 0 is good
    if gap >= 0:
        return "green"
    if -gap <= abs(target) * tolerance:
        return "amber"
    return "red"


# --- target rules ---------------------------------------------------------------------------------

def baseline_average(periods: pd.Series, values: pd.Series, baseline_fy: str) -> float:
    """Mean value over the periods of a financial year ("2024/25"); NaN when none are present."""
    start_year = parse_fy(baseline_fy)
    when = pd.to_datetime(periods)
    lo, hi = pd.Timestamp(start_year, 4, 1), pd.Timestamp(start_year + 1, 4, 1)
    chosen = pd.to_numeric(values, errors="coerce")[((when >= lo) & (when < hi)).to_numpy()]
    chosen = chosen[np.isfinite(chosen)]
    return float(chosen.mean()) if len(chosen) else math.nan


def resolve_target(rule: TargetRule | None, periods: pd.Series, values: pd.Series) -> tuple[float, float]:
    """(target, baseline) for a KPI series under its rule; NaN where it cannot be set.

    ``change_from_baseline``: the baseline is the mean period value in ``baseline_fy`` and the
    target is baseline x (1 + change) (e.g. 5% below). ``absolute``: the target is the value.
    """
    if rule is None:
        return math.nan, math.nan
    if rule.rule == "absolute":
        return float(rule.value), math.nan
    baseline = baseline_average(periods, values, rule.baseline_fy)
    return rule.target_from_baseline(baseline), baseline
