"""XmR charts: limits, every signal rule with both polarities, icons, baselines, rebasing, short series."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from kpis import spc

# A flat, alternating series: mean 10, every moving range 2, so the limits are 10 +/- 5.32 and
# two sigma sits at 10 +/- 3.5467. Tests perturb it to make exactly one rule fire.
FLAT = [9.0, 11.0] * 10


def _months(n: int, start: str = "2023-04-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def test_limits_known_answer():
    mean, mr_bar, lcl, ucl = spc.xmr_limits([10, 12, 11, 15, 12])
    assert mean == pytest.approx(12.0)
    assert mr_bar == pytest.approx((2 + 1 + 4 + 3) / 4)
    assert ucl == pytest.approx(12.0 + 2.66 * 2.5)
    assert lcl == pytest.approx(12.0 - 2.66 * 2.5)


def test_limits_skip_missing_values():
    assert spc.xmr_limits([10, np.nan, 12])[:2] == pytest.approx((11.0, 2.0))


def test_flat_series_has_no_signal_and_the_documented_limits():
    chart = spc.compute_spc(FLAT)
    assert chart.mean == pytest.approx(10.0)
    assert chart.ucl == pytest.approx(15.32)
    assert chart.lcl == pytest.approx(4.68)
    assert chart.points["upper_2sigma"].iloc[0] == pytest.approx(10 + 2 / 3 * 5.32)
    assert (chart.points["signal"] == "").all()
    assert chart.variation.code == "common_cause"


def _with(values, at, new):
    out = list(values)
    for i, v in zip(at, new):
        out[i] = v
    return out


@pytest.mark.parametrize("higher_is_better, expected", [(True, "improving_high"), (False, "concerning_high")])
def test_a_point_above_the_upper_limit(higher_is_better, expected):
    x = FLAT + [16.0]  # 16 > 15.32 (the new point moves the limits but not enough)
    chart = spc.compute_spc(x, baseline=20, higher_is_better=higher_is_better)
    last = chart.points.iloc[-1]
    assert last["outside"] and last["signal"] == "high" and last["signal_rule"] == "outside"
    assert chart.points["outside"].sum() == 1
    assert chart.variation.code == expected


@pytest.mark.parametrize("higher_is_better, expected", [(True, "concerning_low"), (False, "improving_low")])
def test_a_point_below_the_lower_limit(higher_is_better, expected):
    chart = spc.compute_spc(FLAT + [4.0], baseline=20, higher_is_better=higher_is_better)
    assert chart.points["outside"].iloc[-1] and chart.points["signal"].iloc[-1] == "low"
    assert chart.variation.code == expected


@pytest.mark.parametrize("side, value", [("high", 11.0), ("low", 9.0)])
def test_a_run_of_seven_on_one_side_of_the_mean(side, value):
    x = FLAT + [value] * 7
    chart = spc.compute_spc(x, baseline=20)
    run = chart.points["run"].to_numpy()
    assert run[-7:].all() and not run[:19].any()
    assert set(chart.points["signal"].iloc[-7:]) == {side}


def test_a_run_of_six_is_not_a_signal():
    chart = spc.compute_spc(FLAT + [9.0] * 6, baseline=20)  # FLAT ends above the mean
    assert not chart.points["run"].any()
    assert chart.variation.code == "common_cause"


def test_a_point_on_the_mean_breaks_a_run():
    chart = spc.compute_spc(FLAT + [11.0] * 3 + [10.0] + [11.0] * 3, baseline=20)
    assert not chart.points["run"].any()


@pytest.mark.parametrize("rising, higher_is_better, expected", [
    (True, True, "improving_high"), (True, False, "concerning_high"),
    (False, True, "concerning_low"), (False, False, "improving_low"),
])
def test_a_trend_of_seven_points(rising, higher_is_better, expected):
    # Small steps inside the limits: seven points each above (or below) the one before. The
    # last points also sit beyond two sigma, so look at the trend flag itself.
    steps = [8.6, 9.0, 9.4, 9.8, 10.2, 10.6, 11.0]
    x = FLAT + (steps if rising else steps[::-1])
    chart = spc.compute_spc(x, baseline=20, higher_is_better=higher_is_better)
    trend = chart.points["trend"].to_numpy()
    assert trend[-7:].all() and trend.sum() == 7
    assert chart.points["signal_rule"].iloc[-1] == "trend"
    assert chart.variation.code == expected


def test_six_rising_points_are_not_a_trend():
    x = FLAT + [9.0, 9.4, 9.8, 10.2, 10.6, 11.0]  # FLAT ends on 11, so 9.0 starts afresh
    assert not spc.compute_spc(x, baseline=20).points["trend"].any()


def test_an_equal_neighbour_breaks_a_trend():
    x = FLAT + [8.6, 9.0, 9.4, 9.4, 9.8, 10.2, 10.6]
    assert not spc.compute_spc(x, baseline=20).points["trend"].any()


@pytest.mark.parametrize("side, near, higher_is_better, expected", [
    ("high", 14.0, True, "improving_high"), ("high", 14.0, False, "concerning_high"),
    ("low", 6.0, True, "concerning_low"), ("low", 6.0, False, "improving_low"),
])
def test_two_of_three_beyond_two_sigma(side, near, higher_is_better, expected):
    # 14 is beyond 13.55 (two sigma) but inside 15.32; the middle point sits on the mean.
    x = FLAT + [near, 10.0, near]
    chart = spc.compute_spc(x, baseline=20, higher_is_better=higher_is_better)
    flags = chart.points["two_of_three"].to_numpy()
    assert flags[-1] and flags[-3] and not flags[-2]
    assert not chart.points["outside"].any()
    assert chart.points["signal"].iloc[-1] == side
    assert chart.variation.code == expected


def test_one_of_three_beyond_two_sigma_is_not_a_signal():
    chart = spc.compute_spc(FLAT + [14.0, 10.0, 10.0], baseline=20)
    assert not chart.points["two_of_three"].any()


def test_two_sigma_points_on_opposite_sides_do_not_count():
    chart = spc.compute_spc(FLAT + [14.0, 6.0, 10.0], baseline=20)
    assert not chart.points["two_of_three"].any()


def test_variation_icon_reflects_the_latest_point_only():
    chart = spc.compute_spc(FLAT[:10] + [20.0] + FLAT[10:], baseline=10)
    assert chart.points["outside"].iloc[10]
    assert chart.variation.code == "common_cause"


def test_missing_values_are_skipped_not_signals():
    x = FLAT + [np.nan, 16.0]
    chart = spc.compute_spc(x, baseline=20)
    assert math.isnan(chart.points["moving_range"].iloc[20])
    assert chart.points["moving_range"].iloc[21] == pytest.approx(5.0)  # 16 vs the 11 before the gap
    assert chart.points["signal"].iloc[20] == ""
    assert chart.variation.code == "improving_high"


# --- baselines and rebasing ---------------------------------------------------------------------

def test_baseline_first_n_points_sets_the_limits_for_the_rest():
    x = FLAT[:12] + [20.0] * 8
    chart = spc.compute_spc(x, baseline=12)
    assert chart.points["in_baseline"].sum() == 12
    assert chart.mean == pytest.approx(10.0) and chart.ucl == pytest.approx(15.32)
    assert chart.points["outside"].iloc[12:].all()


def test_baseline_date_range():
    x = FLAT[:12] + [20.0] * 8
    periods = _months(20)
    chart = spc.compute_spc(x, periods, baseline=(dt.date(2023, 4, 1), dt.date(2024, 3, 31)))
    assert chart.points["in_baseline"].sum() == 12
    assert chart.mean == pytest.approx(10.0)


def test_a_baseline_range_without_data_falls_back_with_a_note():
    chart = spc.compute_spc(FLAT, _months(20), baseline=(dt.date(2010, 1, 1), dt.date(2010, 12, 31)))
    assert chart.points["in_baseline"].all()
    assert any("baseline" in note for note in chart.notes)


def test_a_baseline_of_one_point_is_refused():
    with pytest.raises(ValueError):
        spc.compute_spc(FLAT, baseline=1)


def test_rebasing_recalculates_limits_from_the_change_point():
    x = FLAT[:14] + [v + 10 for v in FLAT[:14]]  # the process shifts up by 10
    plain = spc.compute_spc(x)
    assert plain.points["run"].any() or plain.points["outside"].any()
    rebased = spc.compute_spc(x, _months(28), rebase_at=[dt.date(2024, 6, 1)])
    seg = rebased.points["segment"].to_numpy()
    assert (seg[:14] == 0).all() and (seg[14:] == 1).all()
    assert rebased.points["mean"].iloc[0] == pytest.approx(10.0)
    assert rebased.mean == pytest.approx(20.0) and rebased.ucl == pytest.approx(25.32)
    # the moving range across the change point is not used
    assert math.isnan(rebased.points["moving_range"].iloc[14])
    assert (rebased.points["signal"] == "").all()
    assert rebased.variation.code == "common_cause"


def test_rebase_position_must_be_inside_the_series():
    with pytest.raises(ValueError):
        spc.compute_spc(FLAT, rebase_at=[0])


def test_a_short_rebased_segment_has_no_signals_yet():
    x = FLAT + [30.0] * 5
    chart = spc.compute_spc(x, rebase_at=[20])
    assert (chart.points["signal"] == "").all()
    assert any("segment 2" in note for note in chart.notes)


# --- short series ------------------------------------------------------------------------------

def test_short_series_says_too_few_points_instead_of_inventing_signals():
    chart = spc.compute_spc([1, 2, 3, 4, 5, 6, 7, 8, 50], target=5, higher_is_better=False)
    assert not chart.enough_points
    assert (chart.points["signal"] == "").all()
    assert chart.variation.code == "too_few_points"
    assert chart.assurance.code == "too_few_points"
    assert math.isfinite(chart.ucl)  # limits are still drawn
    assert "too few points" in chart.notes[0]


def test_empty_and_all_missing_series():
    assert spc.compute_spc([]).variation.code == "too_few_points"
    assert spc.compute_spc([np.nan] * 15).variation.code == "too_few_points"


# --- assurance ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target, higher_is_better, expected", [
    (4.0, True, "met"), (16.0, True, "missed"), (10.0, True, "hit_and_miss"),
    (16.0, False, "met"), (4.0, False, "missed"), (10.0, False, "hit_and_miss"),
    (None, True, "no_target"), (float("nan"), False, "no_target"),
])
def test_assurance_icon(target, higher_is_better, expected):
    chart = spc.compute_spc(FLAT, target=target, higher_is_better=higher_is_better)
    assert chart.assurance.code == expected


def test_a_target_exactly_on_a_limit_counts_as_outside():
    assert spc.assurance_icon(4.68, 15.32, 4.68, higher_is_better=True).code == "met"
    assert spc.assurance_icon(4.68, 15.32, 15.32, higher_is_better=True).code == "missed"


def test_icons_never_rely_on_colour_alone():
    for icons in (spc.VARIATION_ICONS, spc.ASSURANCE_ICONS):
        texts = [(i.glyph, i.short) for i in icons.values()]
        assert len(set(texts)) == len(texts)  # glyph + words tell every icon apart
        for icon in icons.values():
            assert icon.label and icon.short and icon.glyph
            assert all(ord(ch) < 0x2600 for ch in icon.glyph)  # no emoji blocks
    improving, concerning = spc.VARIATION_ICONS["improving_high"], spc.VARIATION_ICONS["concerning_high"]
    assert improving.colour != concerning.colour and improving.short != concerning.short
