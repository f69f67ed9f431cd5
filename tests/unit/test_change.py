"""Small-count change flags, exact Poisson intervals, RAG and target rules."""

import math

import numpy as np
import pandas as pd
import pytest

from kpis import change
from kpis.registry import TargetRule


def test_garwood_interval_known_answers():
    # Published exact 95% limits (e.g. Ulm 1990 tables): 0 -> (0, 3.689), 1 -> (0.0253, 5.572),
    # 10 -> (4.795, 18.39).
    assert change.poisson_ci(0) == pytest.approx((0.0, 3.6889), abs=1e-3)
    assert change.poisson_ci(1) == pytest.approx((0.0253, 5.5716), abs=1e-3)
    assert change.poisson_ci(10) == pytest.approx((4.7954, 18.3904), abs=1e-3)


def test_interval_for_bad_counts_is_nan():
    assert all(math.isnan(v) for v in change.poisson_ci(-1))
    assert all(math.isnan(v) for v in change.poisson_ci(float("nan")))


def test_vectorised_interval_matches_the_scalar_one():
    low, high = change.poisson_ci_arrays([0, 1, 10, np.nan])
    for k, lo, hi in zip([0, 1, 10], low, high):
        assert (lo, hi) == pytest.approx(change.poisson_ci(k))
    assert np.isnan(low[3]) and np.isnan(high[3])


def test_rate_interval_per_thousand():
    rate, lo, hi = change.rate_ci(10, 5000)
    assert rate == pytest.approx(2.0)
    assert (lo, hi) == pytest.approx((4.7954 / 5, 18.3904 / 5), abs=1e-3)
    assert all(math.isnan(v) for v in change.rate_ci(3, 0))


def test_three_to_six_is_not_an_alarm():
    result = change.compare_counts(3, 6)
    assert result.p_value == pytest.approx(0.5078, abs=1e-3)  # 2 x P(X >= 6 | Bin(9, 1/2))
    assert not result.significant and result.direction == ""
    assert result.rate_ratio == pytest.approx(2.0)
    assert result.label == "no significant change"


def test_thirty_to_sixty_is_a_significant_rise():
    result = change.compare_counts(30, 60)
    assert result.p_value < 0.01 and result.significant and result.direction == "up"
    assert result.label.startswith("significant rise")


def test_a_fall_and_unequal_exposures():
    # 60 in 12 months against 20 in 12 months: a fall. 60 in 12 months against 20 in 4 months:
    # the same rate, no change.
    assert change.compare_counts(60, 20, 12, 12).direction == "down"
    same = change.compare_counts(60, 20, 12, 4)
    assert not same.significant and same.rate_ratio == pytest.approx(1.0)


def test_zero_counts_and_bad_exposures_do_not_raise():
    assert change.compare_counts(0, 0).p_value == 1.0
    assert math.isnan(change.compare_counts(0, 5).rate_ratio)
    assert not change.compare_counts(1, 2, 0, 1).significant


def test_compare_frame_adds_columns():
    frame = pd.DataFrame({"before": [3, 30], "after": [6, 60]})
    out = change.compare_frame(frame, "before", "after")
    assert out["significant"].tolist() == [False, True]
    assert out["change_label"].iloc[0] == "no significant change"


@pytest.mark.parametrize("value, target, higher, expected", [
    (100, 95, True, "green"), (92, 95, True, "amber"), (80, 95, True, "red"),
    (90, 95, False, "green"), (99, 95, False, "amber"), (110, 95, False, "red"),
    (95, 95, True, "green"), (None, 95, True, "none"), (90, None, True, "none"),
    (90, float("nan"), False, "none"),
])
def test_rag(value, target, higher, expected):
    assert change.rag_status(value, target, higher_is_better=higher) == expected


def test_change_from_baseline_target_uses_the_baseline_year_average():
    periods = pd.Series(pd.date_range("2024-01-01", periods=18, freq="MS"))
    # Jan-Mar 2024 belong to 2023/24; Apr 2024-Mar 2025 (values 100..111) to 2024/25.
    values = pd.Series([1000.0] * 3 + list(range(100, 112)) + [5000.0] * 3)
    rule = TargetRule(rule="change_from_baseline", baseline_fy="2024/25", change=-0.05)
    target, baseline = change.resolve_target(rule, periods, values)
    assert baseline == pytest.approx(105.5)
    assert target == pytest.approx(105.5 * 0.95)


def test_a_baseline_year_without_data_gives_no_target():
    periods = pd.Series(pd.date_range("2025-04-01", periods=6, freq="MS"))
    rule = TargetRule(rule="change_from_baseline", baseline_fy="2024/25", change=0.05)
    target, baseline = change.resolve_target(rule, periods, pd.Series([1.0] * 6))
    assert math.isnan(target) and math.isnan(baseline)


def test_absolute_target_and_no_rule():
    periods = pd.Series(pd.date_range("2025-04-01", periods=3, freq="MS"))
    assert change.resolve_target(TargetRule(rule="absolute", value=95.0), periods,
                                 pd.Series([1.0, 2, 3]))[0] == 95.0
    assert all(math.isnan(v) for v in change.resolve_target(None, periods, pd.Series([1.0, 2, 3])))


@pytest.mark.parametrize("k, n, p", [(6, 9, 0.5), (60, 90, 0.5), (0, 5, 0.3), (5, 5, 0.3),
                                     (17, 400, 0.02), (250, 400, 0.66), (3, 1000, 0.001),
                                     (40000, 90000, 0.45), (40900, 90000, 0.45), (4, 10, 0.5),
                                     (1, 3, 0.9), (12000, 30000, 0.2), (0, 30000, 0.0001)])
def test_fast_binomial_p_value_matches_scipy(k, n, p):
    from scipy import stats

    assert change.binomial_two_sided_p(k, n, p) == pytest.approx(stats.binomtest(k, n, p).pvalue,
                                                                 rel=1e-9, abs=1e-15)


def test_dispersion_of_a_poisson_series_is_about_one_and_of_a_volatile_one_larger():
    import numpy as np

    from kpis.change import estimate_dispersion

    rng = np.random.default_rng(7)
    assert estimate_dispersion(rng.poisson(10_000, 48).tolist()) < 1.6
    volatile = (10_000 * rng.lognormal(0, 0.05, 48)).round().tolist()
    assert estimate_dispersion(volatile) > 20
    assert estimate_dispersion([5, 6]) == 1.0  # too few months to say


def test_overdispersion_stops_a_one_percent_change_in_a_big_total_being_flagged():
    from kpis.change import compare_counts

    plain = compare_counts(128_739, 127_033)
    widened = compare_counts(128_739, 127_033, dispersion=40.0)
    assert plain.significant and not widened.significant
    # A real shift still shows: +15% with the same dispersion.
    assert compare_counts(9_517, 11_000, dispersion=8.0).significant
    # Small counts are unaffected in practice: 3 -> 6 is not an alarm either way.
    assert not compare_counts(3, 6).significant
