"""The frame, Overview and Data status queries give the same answers on DuckDB and PostgreSQL,
and the Overview's aggregates agree with counts of the raw incidents."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import bootstrap, queries, schema
from data_access.engine import reader_engine

SMALL = {"scale": 0.1, "start": dt.date(2024, 10, 1), "end": dt.date(2025, 9, 30),
         "include_fund": False}
FROM, TO = dt.date(2025, 4, 1), dt.date(2025, 9, 1)


def _answers(engine: sa.Engine) -> dict[str, object]:
    membership = queries.load_ward_membership(engine, 2025)
    wards = tuple(membership.loc[membership["lcsp_code"] == "LCSP-N", "ward_code"])
    imports = queries.load_imports(engine).drop(columns=["loaded_at"])
    return {
        "range": queries.load_data_range(engine),
        "areas": queries.load_areas(engine),
        "membership": membership,
        "info": queries.load_dataset_info(engine),
        "imports": imports,
        "months": queries.load_category_months(engine, FROM, TO),
        "months_lcsp": queries.load_category_months(engine, FROM, TO, lcsp="LCSP-N"),
        "months_ward": queries.load_category_months(engine, FROM, TO, ward=wards[0]),
        "by_lcsp": queries.load_area_category_totals(engine, FROM, TO, "lcsp"),
        "by_ward": queries.load_area_category_totals(engine, FROM, TO, "ward", wards=wards),
        "source_months": queries.load_source_months(engine),
        "incomplete": queries.load_incomplete_months(engine),
        "tables": queries.load_table_counts(engine),
        "revision": queries.load_schema_revision(engine),
    }


def _normalise(value):
    if isinstance(value, pd.DataFrame):
        frame = value.copy()
        for column in frame.columns:
            if frame[column].dtype == object and frame[column].map(
                    lambda v: isinstance(v, dt.date)).any():
                frame[column] = pd.to_datetime(frame[column])
            elif pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].astype("datetime64[ns]")
            elif pd.api.types.is_integer_dtype(frame[column]):
                frame[column] = frame[column].astype("int64")
        return frame.reset_index(drop=True)
    return value


@pytest.fixture(scope="module")
def small_dataset():
    from sample_data.generator import build_dataset

    return build_dataset(**SMALL)


@pytest.fixture(scope="module")
def duck_answers(tmp_path_factory, small_dataset):
    url = f"duckdb:///{tmp_path_factory.mktemp('queries') / 'csp.duckdb'}"
    assert bootstrap.build_database(url, lambda: small_dataset)
    engine = reader_engine(url)
    try:
        yield _answers(engine), engine
    finally:
        engine.dispose()


def test_overview_aggregates_match_raw_incident_counts(duck_answers):
    answers, engine = duck_answers
    i = schema.incidents
    with engine.connect() as conn:
        raw = pd.read_sql(
            sa.select(i.c.source, i.c.lcsp_code, sa.func.count().label("n"),
                      sa.func.sum(sa.case((i.c.is_domestic_abuse, 1), else_=0)).label("da"))
            .where(i.c.month_start >= FROM, i.c.month_start <= TO)
            .group_by(i.c.source, i.c.lcsp_code), conn)
    months = answers["months"]
    assert months["n"].sum() == raw["n"].sum()
    assert months["n_domestic_abuse"].sum() == raw["da"].sum()
    north = raw[raw["lcsp_code"] == "LCSP-N"]
    assert answers["months_lcsp"]["n"].sum() == north["n"].sum()
    by_lcsp = answers["by_lcsp"].groupby("area_code")["n"].sum()
    assert by_lcsp["LCSP-N"] == north["n"].sum()
    assert answers["range"]["first_month"] == SMALL["start"]
    assert answers["range"]["last_day"] == SMALL["end"]
    counts = dict(zip(answers["tables"]["table"], answers["tables"]["rows"]))
    assert counts["incidents"] == answers["source_months"]["n"].sum()
    assert answers["revision"]["current"] == answers["revision"]["head"]


@pytest.mark.postgres
def test_the_same_answers_on_postgresql(duck_answers, small_dataset, pg_url):
    assert bootstrap.build_database(pg_url, lambda: small_dataset)
    engine = reader_engine(pg_url)
    try:
        on_postgres = _answers(engine)
    finally:
        engine.dispose()
    on_duckdb, _ = duck_answers
    for name, expected in on_duckdb.items():
        got = on_postgres[name]
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(_normalise(got), _normalise(expected),
                                          check_dtype=False, obj=name)
        else:
            assert got == expected, name
