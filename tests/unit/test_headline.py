"""Known answers for headline measures, the change test and small-count suppression."""

import math

import pandas as pd
import pytest

from kpis import disclosure, headline
from kpis.headline import HeadlineMeasure


def test_three_to_six_is_not_an_alarm():
    change = headline.compare_counts(6, 3)
    assert change.difference == 3 and change.relative == pytest.approx(1.0)
    # P(X >= 6 or X <= 3 | X ~ Bin(9, 1/2)) = 2 * 130 / 512
    assert change.p_value == pytest.approx(260 / 512)
    assert not change.significant
    assert change.direction == "up"


def test_a_doubling_of_hundreds_is_significant():
    change = headline.compare_counts(600, 300)
    assert change.significant and change.p_value < 1e-10


def test_a_fall_is_tested_the_same_way():
    assert headline.compare_counts(300, 600).significant
    assert headline.compare_counts(300, 600).direction == "down"


def test_no_counts_and_zero_baseline():
    assert headline.compare_counts(0, 0).p_value == 1.0
    change = headline.compare_counts(5, 0)
    assert change.relative is None and change.difference == 5
    # 5 against 0: P = 2 * 0.5**5 = 0.0625, not significant at 5%
    assert change.p_value == pytest.approx(0.0625)
    assert not change.significant


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        headline.compare_counts(-1, 1)


def _aggregates() -> pd.DataFrame:
    return pd.DataFrame({
        "month_start": pd.to_datetime(["2025-04-01", "2025-04-01", "2025-05-01", "2025-05-01",
                                       "2025-05-01"]),
        "source": ["recorded_crime", "recorded_crime", "recorded_crime", "asb",
                   "recorded_crime"],
        "category": ["violence_with_injury", "shoplifting", "violence_with_injury",
                     "anti_social_behaviour", "sexual_offences"],
        "n": [10, 4, 6, 20, 2],
        "n_domestic_abuse": [3, 0, 1, 0, 1],
    })


def test_measure_totals_pick_source_categories_and_flags():
    frame = _aggregates()
    measures = {m.key: m for m in headline.HEADLINE_MEASURES}
    assert headline.measure_total(frame, measures["total_recorded_crime"]) == 22
    assert headline.measure_total(frame, measures["asb_incidents"]) == 20
    assert headline.measure_total(frame, measures["violence_against_the_person"]) == 16
    assert headline.measure_total(frame, measures["domestic_abuse"]) == 5
    assert headline.measure_total(frame.iloc[0:0], measures["shoplifting"]) == 0
    by_month = headline.measure_by(frame, measures["total_recorded_crime"], "month_start")
    assert by_month.tolist() == [14, 8]


def test_headline_table_with_and_without_last_year():
    frame = _aggregates()
    measures = [HeadlineMeasure("crime", "Crime", "recorded_crime"),
                HeadlineMeasure("sex", "Sexual offences", "recorded_crime",
                                categories=("sexual_offences",), sensitive=True)]
    previous = frame.assign(n=frame["n"] * 2)
    table = headline.headline_table(frame, previous, measures)
    assert table["current"].tolist() == [22, 2]
    assert table["previous"].tolist() == [44, 4]
    assert table["relative"].tolist() == [-0.5, -0.5]
    assert table["sensitive"].tolist() == [False, True]
    alone = headline.headline_table(frame, None, measures)
    assert alone["previous"].isna().all() and not alone["significant"].any()


def test_rate_per_1000():
    assert headline.rate_per_1000(25, 5000) == 5.0
    assert headline.rate_per_1000(25, 0) is None
    assert headline.rate_per_1000(25, None) is None
    assert headline.rate_per_1000(25, math.nan) is None


def test_suppression_bands_one_to_seven_and_blanks_what_derives_from_them():
    frame = pd.DataFrame({
        "area": ["A", "B", "C", "D"],
        "count": [0, 1, 7, 8],
        "previous": [9, 12, 3, 20],
        "rate": [0.0, 0.1, 0.7, 0.8],
        "change": [-9, -11, 4, -12],
    })
    out = disclosure.suppress_small_counts(
        frame, ["count", "previous"],
        dependent={"count": ["rate", "change"], "previous": ["change"]},
    )
    assert out["count"].tolist() == [0, "withheld", "withheld", 8]
    assert out["previous"].tolist() == [9, 12, "withheld", 20]
    assert out["rate"].tolist() == [0.0, None, None, 0.8]
    assert out["change"].tolist() == [-9, None, None, -12]
    # The input is left alone.
    assert frame["count"].tolist() == [0, 1, 7, 8]


def test_is_suppressed_edges():
    assert disclosure.SUPPRESSION_THRESHOLD == 7
    assert [disclosure.is_suppressed(n) for n in (0, 1, 7, 8)] == [False, True, True, False]
    assert not disclosure.is_suppressed(None)
    assert disclosure.suppressed_label() == disclosure.WITHHELD == "withheld"
    assert disclosure.suppress_small_counts(
        pd.DataFrame({"n": [3]}), ["n"], threshold=2)["n"].tolist() == [3]


def test_an_area_inherits_overdispersion_in_proportion_to_its_share():
    from kpis.headline import area_dispersion

    assert area_dispersion(21.0, 127_000, 127_000) == 21.0
    assert area_dispersion(21.0, 12_700, 127_000) == 3.0
    assert area_dispersion(1.0, 500, 127_000) == 1.0
    assert area_dispersion(21.0, 10, 0) == 1.0
