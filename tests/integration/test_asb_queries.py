"""ASB seasonality queries on DuckDB and PostgreSQL: known answers from the generated incidents.

The sample dataset is wrapped to add a small monthly-only ASB source (``police_uk``, as police.uk
publishes it) with two months flagged incomplete, so that grain detection and the incomplete-month
list are tested on both databases.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from data_access import asb_queries as q
from data_access import bootstrap, engine as eng
from kpis import asb_seasonality as s
from sample_data.generator import build_dataset

START, END = dt.date(2022, 1, 1), dt.date(2024, 12, 31)
INCOMPLETE = [dt.date(2023, 6, 1), dt.date(2024, 9, 1)]


@dataclass
class WithMonthlySource:
    """The generated dataset plus a police.uk-like monthly ASB source."""

    base: object
    tables: dict
    monthly: pd.DataFrame

    def incident_frames(self):
        yield from self.base.incident_frames()
        yield self.monthly

    def incident_frame_count(self) -> int:
        return self.base.incident_frame_count() + 1


def _monthly_rows(areas: pd.DataFrame) -> pd.DataFrame:
    wards = areas[areas["level"] == "ward"].sort_values("code").head(3)
    rng = np.random.default_rng(0)
    rows = []
    for month in pd.date_range(START, END, freq="MS"):
        for ward, lcsp in zip(wards["code"], wards["parent_code"]):
            n = int(rng.poisson(40 if month.month in (7, 8) else 25))
            if month.date() in INCOMPLETE:
                n = 2
            rows += [(month, ward, lcsp)] * n
    frame = pd.DataFrame(rows, columns=["incident_date", "ward_code", "lcsp_code"])
    frame.insert(0, "incident_id", np.arange(len(frame)) + 10**12)
    return frame.assign(source="police_uk", category="Anti-social behaviour",
                        date_precision="month")


@pytest.fixture(scope="module")
def dataset():
    # No fund tables: they are another page's concern.
    base = build_dataset(start=START, end=END, scale=0.2, include_fund=False)
    tables = dict(base.tables)
    categories = tables["categories"]
    extra = categories.iloc[[-1]].copy()
    extra["source"], extra["category"], extra["label"] = (
        "police_uk", "Anti-social behaviour", "Anti-social behaviour (police.uk)")
    tables["categories"] = pd.concat([categories, extra], ignore_index=True)
    tables["source_months"] = pd.DataFrame({
        "source": "police_uk", "month_start": pd.to_datetime(INCOMPLETE),
        "is_complete": False, "note": "published short",
    })
    return WithMonthlySource(base, tables, _monthly_rows(tables["areas"]))


@pytest.fixture(scope="module")
def truth(dataset):
    """Every ASB incident of the dataset, straight from the generator (never from a database)."""
    frames = [f[f["source"] == "asb"] for f in dataset.base.incident_frames()]
    asb = pd.concat(frames, ignore_index=True)
    asb["subcategory"] = asb["subcategory"].astype(str)
    for col in ("ward_code", "lcsp_code"):
        asb[col] = asb[col].astype(str)
    return asb


@pytest.fixture(scope="module")
def duck(tmp_path_factory, dataset):
    url = f"duckdb:///{tmp_path_factory.mktemp('asb') / 'csp.duckdb'}"
    assert bootstrap.build_database(url, lambda: dataset)
    engine = eng.reader_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pg(pg_url_module, dataset):
    assert bootstrap.build_database(pg_url_module, lambda: dataset)
    engine = eng.reader_engine(pg_url_module)
    yield engine
    engine.dispose()


def test_sources_and_grains(duck, truth, dataset):
    sources = q.load_asb_sources(duck).set_index("source")
    assert sources.loc["asb", "grain"] == "day"
    assert bool(sources.loc["asb", "has_hours"])
    assert sources.loc["asb", "n"] == len(truth)
    assert sources.loc["asb", "first_date"] == truth["incident_date"].min()
    assert sources.loc["police_uk", "grain"] == "month"
    assert not bool(sources.loc["police_uk", "has_hours"])
    assert sources.loc["police_uk", "n"] == len(dataset.monthly)
    assert sources.loc["police_uk", "first_date"] == pd.Timestamp(START)
    assert sources.loc["police_uk", "last_date"] == pd.Timestamp(END)
    assert sources.loc["police_uk", "dated_share"] == 0
    # Recorded crime is not ASB and is not listed.
    assert set(sources.index) == {"asb", "police_uk"}
    categories = q.load_asb_categories(duck)
    assert categories[["source", "category"]].values.tolist() == [
        ["asb", "anti_social_behaviour"], ["police_uk", "Anti-social behaviour"]]


def test_types_largest_first(duck, truth):
    types = q.load_asb_types(duck, "asb")
    expected = truth["subcategory"].value_counts()
    assert dict(zip(types["subcategory"], types["n"])) == expected.to_dict()
    assert types["n"].is_monotonic_decreasing


def test_counts_by_grain_match_the_incidents(duck, truth):
    day = q.load_asb_counts(duck, source="asb", grain="day")
    week = q.load_asb_counts(duck, source="asb", grain="week")
    month = q.load_asb_counts(duck, source="asb", grain="month")
    for frame in (day, week, month):
        assert list(frame.columns) == ["period", "subcategory", "n"]
        assert frame["n"].sum() == len(truth)
        assert pd.api.types.is_datetime64_any_dtype(frame["period"])
    assert (week["period"].dt.day_of_week == 0).all()  # weeks are labelled by their Monday
    expected = truth.groupby([truth["incident_date"].dt.to_period("M").dt.start_time,
                              "subcategory"]).size()
    got = month.set_index(["period", "subcategory"])["n"]
    assert got.to_dict() == {k: v for k, v in expected.to_dict().items()}
    expected_week = truth.groupby(s.period_start(truth["incident_date"], "week")).size()
    assert week.groupby("period")["n"].sum().to_dict() == expected_week.to_dict()


def test_counts_for_an_area_a_type_and_a_date_range(duck, truth):
    lcsp = truth["lcsp_code"].value_counts().index[0]
    ward = truth.loc[truth["lcsp_code"] == lcsp, "ward_code"].value_counts().index[0]
    start, end = dt.date(2023, 3, 1), dt.date(2023, 8, 31)
    got = q.load_asb_counts(duck, source="asb", grain="day", start=start, end=end,
                            lcsp_code=lcsp, subcategories=["youth", "neighbour"], by="none")
    mask = ((truth["lcsp_code"] == lcsp) & truth["subcategory"].isin(["youth", "neighbour"])
            & truth["incident_date"].between(pd.Timestamp(start), pd.Timestamp(end)))
    assert list(got.columns) == ["period", "n"]
    assert got["n"].sum() == mask.sum()
    by_ward = q.load_asb_counts(duck, source="asb", grain="month", lcsp_code=lcsp, by="area")
    assert by_ward.groupby("area_code")["n"].sum().to_dict() == (
        truth[truth["lcsp_code"] == lcsp].groupby("ward_code").size().to_dict())
    one_ward = q.load_asb_counts(duck, source="asb", grain="week", ward_code=ward, by="area")
    assert set(one_ward["area_code"]) == {ward}
    by_lcsp = q.load_asb_counts(duck, source="asb", grain="month", by="area")
    assert by_lcsp.groupby("area_code")["n"].sum().to_dict() == (
        truth.groupby("lcsp_code").size().to_dict())
    # Nothing for an unknown area, and an empty frame keeps its columns.
    none = q.load_asb_counts(duck, source="asb", grain="week", ward_code="X' OR 1=1 --")
    assert none.empty and list(none.columns) == ["period", "subcategory", "n"]
    with pytest.raises(ValueError):
        q.load_asb_counts(duck, source="asb", grain="hour")


def test_monthly_source_has_no_daily_rows(duck, dataset):
    assert q.load_asb_counts(duck, source="police_uk", grain="day").empty
    month = q.load_asb_counts(duck, source="police_uk", grain="month", by="none")
    assert month["n"].sum() == len(dataset.monthly)
    assert len(month) == 36


def test_hour_weekday(duck, truth):
    got = q.load_asb_hour_weekday(duck, source="asb")
    timed = truth[truth["hour"].notna()]
    assert got["n"].sum() == len(timed)
    expected = timed.groupby([timed["incident_date"].dt.day_of_week,
                              timed["hour"].astype(int)]).size()
    assert got.set_index(["weekday", "hour"])["n"].to_dict() == expected.to_dict()
    lcsp = truth["lcsp_code"].value_counts().index[-1]
    part = q.load_asb_hour_weekday(duck, source="asb", lcsp_code=lcsp, subcategories=["youth"],
                                   start=dt.date(2024, 1, 15), end=dt.date(2024, 12, 31))
    mask = ((timed["lcsp_code"] == lcsp) & (timed["subcategory"] == "youth")
            & (timed["incident_date"] >= pd.Timestamp("2024-01-01")))
    assert part["n"].sum() == mask.sum()  # whole months: January counts from the 1st


def test_events_and_incomplete_months(duck, dataset):
    events = dataset.tables["events"]
    got = q.load_asb_events(duck, start=dt.date(2024, 10, 1), end=dt.date(2024, 11, 30),
                            kinds=["school_holiday", "local_event", "bank_holiday"])
    assert "Mischief fortnight (Halloween to Bonfire Night)" in set(got["name"])
    assert set(got["kind"]) <= {"school_holiday", "local_event", "bank_holiday"}
    start, end = pd.Timestamp("2024-10-01"), pd.Timestamp("2024-11-30")
    overlap = events[(pd.to_datetime(events["end_date"]) >= start)
                     & (pd.to_datetime(events["start_date"]) <= end)
                     & events["kind"].isin(["school_holiday", "local_event", "bank_holiday"])]
    assert len(got) == len(overlap)
    located = events.dropna(subset=["area_code"])
    if len(located):
        code = located["area_code"].iloc[0]
        ward_events = q.load_asb_events(duck, start=dt.date(2000, 1, 1), end=dt.date(2100, 1, 1),
                                        area_code=code)
        assert set(ward_events["area_code"].dropna()) == {code}
    months = q.load_incomplete_months(duck)
    assert months["month_start"].tolist() == list(pd.to_datetime(INCOMPLETE))
    assert q.load_incomplete_months(duck, "asb").empty


def test_calendar_from_the_database(duck):
    """The whole chain on the sample: weekly counts -> calendar -> back-test, youth ASB rises."""
    sources = q.load_asb_sources(duck).set_index("source")
    grain = s.calendar_grain(sources.loc["asb", "grain"])
    counts = q.load_asb_counts(duck, source="asb", grain=grain, subcategories=["youth"])
    cal = s.build_calendar(counts, grain, group_cols=["subcategory"],
                           data_start=sources.loc["asb", "first_date"],
                           data_end=sources.loc["asb", "last_date"])
    assert cal.grain == "week" and len(cal.table) == 52
    rises = cal.rises()
    # The generator plants summer and "mischief fortnight" peaks in youth ASB.
    assert rises["period_start"].dt.month.isin([7, 8, 10, 11]).any()
    monthly = q.load_asb_counts(duck, source="police_uk", grain="month")
    incomplete = q.load_incomplete_months(duck, "police_uk")["month_start"]
    bt = s.backtest(monthly, "month", group_cols=["subcategory"], incomplete_months=incomplete)
    assert not bt.periods.loc[bt.periods["period_start"].isin(incomplete), "scored"].any()


@pytest.mark.postgres
@pytest.mark.parametrize("name, params", [
    ("load_asb_sources", {}),
    ("load_asb_types", {"source": "asb"}),
    ("load_asb_categories", {}),
    ("load_asb_counts", {"source": "asb", "grain": "day"}),
    ("load_asb_counts", {"source": "asb", "grain": "week", "subcategories": ["youth", "other"]}),
    ("load_asb_counts", {"source": "asb", "grain": "month", "by": "area",
                         "start": dt.date(2023, 1, 1), "end": dt.date(2023, 12, 31)}),
    ("load_asb_counts", {"source": "police_uk", "grain": "month", "by": "none"}),
    ("load_asb_hour_weekday", {"source": "asb", "subcategories": ["neighbour"]}),
    ("load_asb_events", {"start": dt.date(2023, 1, 1), "end": dt.date(2023, 12, 31),
                         "kinds": ["school_holiday", "local_event"]}),
    ("load_incomplete_months", {}),
], ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}" for k in v))
def test_same_answers_on_postgres(duck, pg, name, params):
    fn = getattr(q, name)
    a = fn(duck, **params)
    b = fn(pg, **params)
    assert list(a.columns) == list(b.columns)
    key = [c for c in a.columns if c not in ("n", "dated_share", "note")]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


@pytest.mark.postgres
def test_area_events_on_postgres(duck, pg, dataset):
    lcsp = dataset.tables["areas"].query("level == 'lcsp'")["code"].iloc[0]
    params = {"start": dt.date(2022, 1, 1), "end": dt.date(2024, 12, 31), "area_code": lcsp}
    a = q.load_asb_events(duck, **params)
    b = q.load_asb_events(pg, **params)
    pd.testing.assert_frame_equal(a.sort_values("event_id").reset_index(drop=True),
                                  b.sort_values("event_id").reset_index(drop=True),
                                  check_dtype=False)
