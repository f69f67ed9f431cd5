"""Board assembly on tiny hand-built frames: series, summaries, exceptions, comparisons, actions."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from kpis import priority_boards as pb
from kpis import registry as reg

REGISTRY = reg.load_registry()
CITY = "E08000025"


def _counts(kpi_id, area, values, start="2024-04-01"):
    months = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"kpi_id": kpi_id, "area_code": area, "month_start": months, "n": values})


def test_incident_series_fills_missing_months_with_zero():
    kpi = REGISTRY.kpi("knife_enabled")
    counts = _counts("knife_enabled", CITY, [5, 7]).iloc[[0]]  # only April has incidents
    out = pb.incident_series(kpi, counts, None, areas=[CITY], start=dt.date(2024, 4, 1),
                             end=dt.date(2024, 6, 30))
    assert out["value"].tolist() == [5.0, 0.0, 0.0]
    assert list(out.columns) == pb.SERIES_COLUMNS


def test_rate_series_uses_the_population_of_each_financial_year():
    kpi = REGISTRY.kpi("vwi_rate")
    counts = _counts("vwi_rate", "L1", [10, 10], start="2025-03-01")
    pops = pd.DataFrame({"area_code": ["L1", "L1"], "fy_start": [2024, 2025], "population": [5000.0, 10000.0]})
    out = pb.incident_series(kpi, counts, pops, areas=["L1"], start=dt.date(2025, 3, 1),
                             end=dt.date(2025, 4, 30))
    assert out["value"].tolist() == pytest.approx([2.0, 1.0])  # 10 per 5,000 then per 10,000
    assert out["denominator"].tolist() == [5000.0, 10000.0]


def test_a_rate_with_no_population_is_missing_not_infinite():
    kpi = REGISTRY.kpi("vwi_rate")
    pops = pd.DataFrame({"area_code": ["L1"], "fy_start": [2024], "population": [0.0]})
    out = pb.incident_series(kpi, _counts("vwi_rate", "L1", [4]), pops, areas=["L1"],
                             start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30))
    assert math.isnan(out["value"].iloc[0])


def test_quarterly_incident_kpis_sum_months():
    kpi = reg.Kpi(id="q", label="Q", board="vawg", unit="count", type="simple",
                  polarity="lower_is_better", frequency="quarterly", data="incidents",
                  measure=reg.Measure("recorded_crime"))
    out = pb.incident_series(kpi, _counts("q", CITY, [1, 2, 3, 4]), None, areas=[CITY],
                             start=dt.date(2024, 4, 1), end=dt.date(2024, 7, 31))
    assert out["period_start"].dt.month.tolist() == [4, 7]
    assert out["value"].tolist() == [6.0, 4.0]


def test_return_series_computes_ratios_and_guards_zero_denominators():
    kpi = REGISTRY.kpi("marac_repeat")  # percentage
    values = pd.DataFrame({
        "kpi_id": "marac_repeat", "area_code": CITY,
        "period_start": pd.to_datetime(["2025-04-01", "2025-05-01", "2025-06-01"]),
        "value": [np.nan, np.nan, 40.0], "numerator": [3, 3, np.nan], "denominator": [10, 0, np.nan],
        "target": np.nan, "baseline": np.nan,
    })
    out = pb.return_series(kpi, values)
    assert out["value"].iloc[0] == pytest.approx(30.0)
    assert math.isnan(out["value"].iloc[1]) and out["value"].iloc[2] == 40.0


def test_targets_are_set_per_area_from_the_rule_unless_supplied():
    kpi = REGISTRY.kpi("knife_enabled")  # 5% below the 2024/25 average
    months = pd.date_range("2024-04-01", periods=13, freq="MS")
    series = pd.DataFrame({
        "kpi_id": "knife_enabled", "area_code": ["A"] * 13 + ["B"] * 13,
        "period_start": list(months) * 2, "value": [100.0] * 13 + [20.0] * 13,
        "numerator": np.nan, "denominator": np.nan, "target": [np.nan] * 25 + [7.0],
        "baseline": np.nan,
    })
    out = pb.apply_targets(kpi, series)
    assert out[out.area_code == "A"]["target"].iloc[-1] == pytest.approx(95.0)
    assert out[out.area_code == "B"]["target"].iloc[-1] == 7.0  # supplied values win
    assert out[out.area_code == "B"]["baseline"].iloc[0] == pytest.approx(20.0)


def _series(kpi_id, values, target=np.nan, area=CITY):
    months = pd.date_range("2023-04-01", periods=len(values), freq="MS")
    return pd.DataFrame({"kpi_id": kpi_id, "area_code": area, "period_start": months,
                         "value": values, "numerator": np.nan, "denominator": np.nan,
                         "target": target, "baseline": np.nan})


FLAT = [9.0, 11.0] * 10


def test_summary_of_a_concerning_off_target_kpi_ranks_first():
    kpi = REGISTRY.kpi("knife_enabled")  # lower is better
    s = pb.summarise_kpi(kpi, _series("knife_enabled", FLAT + [20.0], target=10.0), area_code=CITY)
    assert s.has_data and s.latest_value == 20.0
    assert s.variation.code == "concerning_high" and s.rag == "red"
    assert s.exception_rank == pb.RANK_CONCERNING_OFF_TARGET and s.is_exception
    assert s.sparkline[-1] == 20.0 and len(s.sparkline) == pb.SPARKLINE_POINTS
    assert s.vs_target == "10 worse than target 10"


def test_an_improving_kpi_is_not_an_exception():
    kpi = REGISTRY.kpi("hate_crime")  # higher is better
    s = pb.summarise_kpi(kpi, _series("hate_crime", FLAT + [20.0]), area_code=CITY)
    assert s.variation.code == "improving_high" and s.exception_rank == pb.RANK_IMPROVING
    assert not s.is_exception and s.vs_target == "no target"


def test_a_kpi_with_no_values_says_so():
    s = pb.summarise_kpi(REGISTRY.kpi("hate_crime"), pb.empty_series(), area_code=CITY)
    assert not s.has_data and s.exception_rank == pb.RANK_NO_DATA
    assert s.variation.code == "too_few_points" and s.assurance.code == "no_target"


def test_board_overview_puts_exceptions_first_within_each_board():
    vr = REGISTRY.board_kpis("violence_reduction")
    series = pd.concat([
        _series(vr[0].id, FLAT),  # common cause
        _series(vr[1].id, FLAT + [20.0], target=10.0),  # concerning and off target
        _series(vr[2].id, FLAT + [10.0], target=5.0),  # off target only (lower is better)
    ])
    summaries = [pb.summarise_kpi(k, series, area_code=CITY) for k in vr[:3]]
    rows = pb.board_overview(REGISTRY, summaries)
    assert [r.board_id for r in rows] == [b.id for b in REGISTRY.boards]
    first = rows[0]
    assert [s.kpi.id for s in first.summaries] == [vr[1].id, vr[2].id, vr[0].id]
    assert first.counts["concerning"] == 1 and first.counts["off_target"] == 2
    table = pb.exception_table(rows)
    assert table["kpi_id"].tolist() == [vr[1].id, vr[2].id]
    assert rows[1].summaries == ()


def test_a_kpi_added_to_the_database_appears_on_its_board_with_no_code_change():
    definitions = pd.DataFrame([{
        "kpi_id": "fgm_referrals", "label": "FGM referrals", "board": "Violence Against Women and Girls",
        "unit": "count", "polarity": "higher_is_better", "frequency": "monthly",
        "description": "Referrals to the FGM clinic", "source": "NHS",
    }])
    registry = reg.merge_definitions(REGISTRY, definitions)
    months = pd.date_range("2024-04-01", periods=15, freq="MS")
    values = pd.DataFrame({"kpi_id": "fgm_referrals", "area_code": CITY, "period_start": months,
                           "value": np.arange(15, dtype=float), "numerator": np.nan,
                           "denominator": np.nan, "target": np.nan, "baseline": np.nan})
    series = pb.assemble_series(
        registry, level="partnership", area_codes=[CITY], counts=pd.DataFrame(), populations=None,
        values=values, actions=None, start=dt.date(2024, 4, 1), end=dt.date(2025, 6, 30),
    )
    summaries = [pb.summarise_kpi(k, series, area_code=CITY) for k in registry.kpis]
    vawg = next(r for r in pb.board_overview(registry, summaries) if r.board_id == "vawg")
    card = next(s for s in vawg.summaries if s.kpi.id == "fgm_referrals")
    assert card.has_data and card.latest_value == 14.0
    assert card.variation.code == "improving_high"  # a steady rise, higher is better


def test_assemble_series_skips_kpis_not_reported_at_the_level_and_cuts_to_the_window():
    counts = _counts("knife_enabled", "L1", [1] * 24, start="2023-04-01")
    series = pb.assemble_series(
        REGISTRY, level="lcsp", area_codes=["L1"], counts=counts, populations=None,
        values=pd.DataFrame(columns=["kpi_id", "area_code"]), actions=None,
        start=dt.date(2024, 4, 1), end=dt.date(2025, 3, 31), read_from=dt.date(2023, 4, 1),
    )
    kinds = set(series["kpi_id"])
    assert "knife_enabled" in kinds and "marac_repeat" not in kinds  # partnership only
    knife = series[series.kpi_id == "knife_enabled"]
    assert knife["period_start"].min() == pd.Timestamp("2024-04-01") and len(knife) == 12


def test_actions_kpi_is_the_share_complete_or_on_track():
    actions = pd.DataFrame({"board": ["Violence Reduction"] * 4 + ["VAWG"],
                            "status": ["complete", "on_track", "at_risk", "off_track", "complete"],
                            "due_date": pd.to_datetime(["2025-01-01"] * 5)})
    series = pb.assemble_series(
        REGISTRY, level="partnership", area_codes=[CITY], counts=pd.DataFrame(), populations=None,
        values=pd.DataFrame(columns=["kpi_id", "area_code"]), actions=actions,
        start=dt.date(2025, 4, 1), end=dt.date(2025, 9, 30),
    )
    vr = series[series.kpi_id == "vr_actions_on_track"]
    assert vr["value"].tolist() == [50.0] and vr["target"].tolist() == [80.0]
    assert series[series.kpi_id == "vawg_actions_on_track"]["value"].tolist() == [100.0]


def test_fetch_start_reaches_back_to_the_baseline_year():
    assert pb.fetch_start(REGISTRY, dt.date(2025, 10, 1)) == dt.date(2024, 4, 1)
    assert pb.history_start(dt.date(2025, 9, 30), 12) == dt.date(2024, 10, 1)


# --- comparisons ----------------------------------------------------------------------------------

def test_area_comparison_rates_intervals_and_verdicts():
    frame = pd.DataFrame({
        "area_code": ["A", "B", "C"], "area_name": ["Alpha", "Beta", "Gamma"],
        "n": [300, 100, 6], "population": [100_000.0, 100_000.0, 2_000.0],
        "n_previous": [250, 100, 3],
    })
    out = pb.area_comparison(frame)
    assert out["area_code"].tolist() == ["A", "C", "B"]  # highest rate first
    a = out.set_index("area_code")
    assert a.loc["A", "rate"] == pytest.approx(3.0)
    assert a.loc["A", "city_rate"] == pytest.approx(406 / 202_000 * 1000)
    assert a.loc["A", "rate_low"] < 3.0 < a.loc["A", "rate_high"]
    assert a.loc["A", "vs_city"] == "higher" and a.loc["B", "vs_city"] == "lower"
    assert a.loc["C", "vs_city"] == "similar"  # 3 per 1,000 but only 6 events
    assert a.loc["C", "change_label"] == "no significant change"  # 3 -> 6


def test_area_comparison_without_population_does_not_raise():
    frame = pd.DataFrame({"area_code": ["A"], "area_name": ["Alpha"], "n": [3], "population": [np.nan]})
    out = pb.area_comparison(frame)
    assert math.isnan(out["rate"].iloc[0]) and out["vs_city"].iloc[0] == "not tested"


# --- actions ---------------------------------------------------------------------------------------

def test_overdue_actions_are_flagged_against_the_as_at_date():
    actions = pd.DataFrame({
        "code": ["A", "B", "C", "D"], "status": ["on_track", "complete", "at_risk", "not_started"],
        "due_date": pd.to_datetime(["2025-06-30", "2025-01-31", "2025-12-31", "2025-03-31"]),
    })
    out = pb.action_summary(actions, as_at=dt.date(2025, 9, 30))
    assert out["code"].tolist() == ["D", "A", "B", "C"]  # overdue first, by due date
    assert out["overdue"].tolist() == [True, True, False, False]
    assert out["flag"].tolist() == ["OVERDUE", "OVERDUE", "", ""]
    assert out["days_overdue"].iloc[0] == 183
    assert out["status_label"].iloc[0] == "Not started"
    counts = pb.action_counts(actions, as_at=dt.date(2025, 9, 30))
    assert counts["overdue"] == 2 and counts["total"] == 4 and counts["complete"] == 1


def test_no_actions():
    out = pb.action_summary(pd.DataFrame(columns=["code", "status", "due_date"]), as_at=dt.date(2025, 1, 1))
    assert out.empty and "overdue" in out
    assert math.isnan(pb.actions_share(pd.DataFrame(columns=["status"]))[0])


@pytest.mark.parametrize("value, unit, text", [
    (12.345, "rate_per_1000", "12.35 per 1,000"), (87.46, "percentage", "87.5%"),
    (1200, "gbp", "£1,200"), (1234, "count", "1,234"), (2.5, "count", "2.5"),
    (float("nan"), "count", "no data"), (3.25, "days", "3.2 days"),
])
def test_format_value(value, unit, text):
    assert pb.format_value(value, unit) == text


def test_area_comparison_against_a_given_city():
    wards = pd.DataFrame({"area_code": ["W1", "W2"], "area_name": ["One", "Two"], "n": [50, 10],
                          "population": [10_000.0, 10_000.0]})
    out = pb.area_comparison(wards, reference=(1000, 1_000_000.0)).set_index("area_code")
    assert out.loc["W1", "city_rate"] == pytest.approx(1.0)
    assert out.loc["W1", "vs_city"] == "higher"  # 5 per 1,000 against 1 in the rest
    assert out.loc["W2", "vs_city"] == "similar"


def test_the_fast_assembly_matches_the_per_kpi_functions():
    rng = np.random.default_rng(7)
    kpis = [REGISTRY.kpi("vwi_rate"), REGISTRY.kpi("knife_enabled"), REGISTRY.kpi("hate_crime")]
    months = pd.date_range("2024-04-01", "2026-03-01", freq="MS")
    counts = pd.concat([
        pd.DataFrame({"kpi_id": k.id, "area_code": a, "month_start": months,
                      "n": rng.poisson(20, len(months))}).sample(frac=0.8, random_state=1)
        for k in kpis for a in ("L1", "L2")])
    pops = pd.DataFrame({"area_code": ["L1", "L2", "L1"], "fy_start": [2024, 2024, 2025],
                         "population": [5000.0, 7000.0, 5200.0]})
    window = dict(start=dt.date(2024, 4, 1), end=dt.date(2026, 3, 31))
    fast = pb.assemble_series(reg.Registry(REGISTRY.boards, tuple(kpis)), level="lcsp",
                              area_codes=["L1", "L2"], counts=counts, populations=pops,
                              values=pd.DataFrame(columns=["kpi_id", "area_code"]), actions=None,
                              **window)
    slow = pd.concat([pb.apply_targets(k, pb.incident_series(k, counts, pops, areas=["L1", "L2"], **window))
                      for k in kpis], ignore_index=True)
    key = ["kpi_id", "area_code", "period_start"]
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True),
                                  slow.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_the_fast_return_assembly_matches_return_series():
    kpi = REGISTRY.kpi("isva_referrals")  # 5% above the 2024/25 average
    months = pd.date_range("2024-04-01", "2025-09-01", freq="MS")
    values = pd.DataFrame({"kpi_id": kpi.id, "area_code": CITY, "period_start": months,
                           "value": np.arange(len(months), dtype=float) + 100, "numerator": np.nan,
                           "denominator": np.nan, "target": np.nan, "baseline": np.nan})
    fast = pb.assemble_series(reg.Registry(REGISTRY.boards, (kpi,)), level="partnership",
                              area_codes=[CITY], counts=pd.DataFrame(), populations=None,
                              values=values, actions=None, start=dt.date(2024, 4, 1),
                              end=dt.date(2025, 9, 30))
    slow = pb.apply_targets(kpi, pb.return_series(kpi, values))
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False)
    assert fast["target"].iloc[0] == pytest.approx(105.5 * 1.05)


def test_summarise_all_matches_summarise_kpi():
    kpis = REGISTRY.board_kpis("violence_reduction")[:3]
    series = pd.concat([_series(k.id, FLAT + [float(n)], target=10.0) for n, k in enumerate(kpis)])
    many = pb.summarise_all(kpis, series, area_code=CITY)
    one = [pb.summarise_kpi(k, series, area_code=CITY) for k in kpis]
    for a, b in zip(many, one):
        assert (a.latest_value, a.exception_rank, a.variation, a.assurance, a.sparkline) == \
               (b.latest_value, b.exception_rank, b.variation, b.assurance, b.sparkline)


def test_area_comparison_change_test_honours_dispersion():
    frame = pd.DataFrame({"area_code": ["A"], "area_name": ["Alpha"], "n": [1100], "n_previous": [1000],
                          "population": [100_000.0]})
    plain = pb.area_comparison(frame)
    wide = pb.area_comparison(frame.assign(dispersion=4.0))
    assert plain["change_label"].iloc[0].startswith("significant rise")
    assert wide["change_label"].iloc[0] == "no significant change"
