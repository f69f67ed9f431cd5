"""Priority-board queries on DuckDB and PostgreSQL: same answers, and answers that add up."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import board_queries as bq
from data_access import bootstrap, schema
from data_access import engine as eng
from kpis import priority_boards as pb
from kpis.registry import load_registry, measure_specs, merge_definitions
from sample_data.generator import build_dataset

START, END = dt.date(2023, 4, 1), dt.date(2025, 9, 30)
REGISTRY = load_registry()
SPECS = measure_specs(REGISTRY.kpis)


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(start=START, end=END, scale=0.05, include_fund=False)


@pytest.fixture(scope="module")
def duck_url(tmp_path_factory, dataset):
    url = f"duckdb:///{tmp_path_factory.mktemp('boards') / 'csp.duckdb'}"
    assert bootstrap.build_database(url, lambda: dataset)
    return url


@pytest.fixture(scope="module")
def duck(duck_url):
    engine = eng.reader_engine(duck_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pg(pg_url_module, dataset):
    assert bootstrap.build_database(pg_url_module, lambda: dataset)
    engine = eng.reader_engine(pg_url_module)
    yield engine
    engine.dispose()


def _same(a: pd.DataFrame, b: pd.DataFrame, key: list[str]) -> None:
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


# --- counts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["partnership", "lcsp", "ward"])
def test_measure_counts_have_the_documented_columns(duck, level):
    counts = bq.load_measure_counts(duck, measures=SPECS, start=START, end=END, level=level)
    assert list(counts.columns) == ["kpi_id", "area_code", "month_start", "n"]
    assert pd.api.types.is_datetime64_any_dtype(counts["month_start"])
    assert set(counts["kpi_id"]) <= {s[0] for s in SPECS}
    assert (counts["n"] > 0).all()
    if level == "partnership":
        assert counts["area_code"].nunique() == 1
    else:
        assert "" not in set(counts["area_code"])


def test_measure_counts_match_the_raw_incidents(duck):
    counts = bq.load_measure_counts(duck, measures=SPECS, start=START, end=END)
    totals = counts.groupby("kpi_id")["n"].sum()
    i = schema.incidents
    with duck.connect() as conn:
        weapon = conn.execute(sa.select(sa.func.count()).where(
            i.c.source == "recorded_crime", i.c.is_weapon)).scalar_one()
        nte = conn.execute(sa.select(sa.func.count()).where(
            i.c.source == "recorded_crime",
            i.c.category.in_(["violence_with_injury", "violence_without_injury"]),
            i.c.is_alcohol)).scalar_one()
        asb = conn.execute(sa.select(sa.func.count()).where(i.c.source == "asb")).scalar_one()
    assert totals["knife_enabled"] == weapon > 0
    assert totals["nte_violence"] == nte > 0
    assert totals["asb_rate"] == asb > 0


def test_lcsp_and_ward_counts_add_up_to_the_located_total(duck):
    kw = {"measures": SPECS, "start": START, "end": END}
    city = bq.load_measure_counts(duck, level="partnership", **kw).groupby("kpi_id")["n"].sum()
    lcsp = bq.load_measure_counts(duck, level="lcsp", **kw).groupby("kpi_id")["n"].sum()
    ward = bq.load_measure_counts(duck, level="ward", **kw).groupby("kpi_id")["n"].sum()
    assert (lcsp <= city.reindex(lcsp.index)).all()
    pd.testing.assert_series_equal(lcsp, ward, check_names=False)
    one = bq.load_measure_counts(duck, level="ward", lcsp_code="LCSP-N", **kw)
    members = bq.load_populations(duck, level="ward", fy_starts=[2024], lcsp_code="LCSP-N")
    assert set(one["area_code"]) <= set(members["area_code"])


def test_an_empty_measure_list_gives_an_empty_frame(duck):
    out = bq.load_measure_counts(duck, measures=(), start=START, end=END)
    assert out.empty and list(out.columns) == ["kpi_id", "area_code", "month_start", "n"]


def test_bad_level_is_refused(duck):
    with pytest.raises(ValueError):
        bq.load_measure_counts(duck, measures=SPECS, start=START, end=END, level="county")


# --- populations -----------------------------------------------------------------------------------

def test_lcsp_population_is_the_sum_of_its_wards_in_force_that_year(duck):
    years = [2023, 2024, 2025]
    lcsp = bq.load_populations(duck, level="lcsp", fy_starts=years)
    wards = bq.load_populations(duck, level="ward", fy_starts=[2024])
    city = bq.load_populations(duck, level="partnership", fy_starts=[2024])
    assert lcsp["fy_start"].unique().tolist() == years
    total_2024 = lcsp[lcsp.fy_start == 2024]["population"].sum()
    assert total_2024 == pytest.approx(wards["population"].sum())
    assert city["population"].iloc[0] == pytest.approx(total_2024, rel=0.01)
    north = bq.load_populations(duck, level="ward", fy_starts=[2024], lcsp_code="LCSP-N")
    assert north["population"].sum() == pytest.approx(
        lcsp[(lcsp.fy_start == 2024) & (lcsp.area_code == "LCSP-N")]["population"].iloc[0])


# --- records ----------------------------------------------------------------------------------------

def test_kpi_values_definitions_and_actions(duck):
    values = bq.load_kpi_values(duck, kpi_ids=["marac_referrals"], start=dt.date(2024, 4, 1))
    assert set(values["kpi_id"]) == {"marac_referrals"}
    assert values["period_start"].min() >= pd.Timestamp("2024-04-01")
    definitions = bq.load_kpi_definitions(duck)
    assert {"vwi_rate", "marac_referrals"} <= set(definitions["kpi_id"])
    actions = bq.load_board_actions(duck)
    assert {"action_id", "owner", "due_date", "status"} <= set(actions.columns)
    labels = bq.load_action_board_labels(duck)
    mapped = {REGISTRY.board_id_for(b) for b in labels["board"]}
    assert {b.id for b in REGISTRY.boards} <= mapped
    one_board = bq.load_board_actions(duck, boards=[labels["board"].iloc[0]])
    assert len(one_board) == labels["n"].iloc[0]


# --- DuckDB and PostgreSQL agree ---------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.parametrize("level, lcsp", [("partnership", None), ("lcsp", None), ("ward", None),
                                         ("ward", "LCSP-C")])
def test_counts_identical_on_postgres(duck, pg, level, lcsp):
    kw = {"measures": SPECS, "start": START, "end": END, "level": level, "lcsp_code": lcsp}
    _same(bq.load_measure_counts(duck, **kw), bq.load_measure_counts(pg, **kw),
          ["kpi_id", "area_code", "month_start"])


@pytest.mark.postgres
@pytest.mark.parametrize("level", ["partnership", "lcsp", "ward"])
def test_populations_identical_on_postgres(duck, pg, level):
    kw = {"level": level, "fy_starts": (2023, 2024, 2025)}
    _same(bq.load_populations(duck, **kw), bq.load_populations(pg, **kw), ["area_code", "fy_start"])


@pytest.mark.postgres
def test_records_identical_on_postgres(duck, pg):
    _same(bq.load_kpi_values(duck), bq.load_kpi_values(pg), ["kpi_id", "area_code", "period_start"])
    _same(bq.load_kpi_definitions(duck), bq.load_kpi_definitions(pg), ["kpi_id"])
    _same(bq.load_board_actions(duck), bq.load_board_actions(pg), ["action_id"])
    _same(bq.load_board_areas(duck), bq.load_board_areas(pg), ["code"])
    assert bq.partnership_code(duck) == bq.partnership_code(pg)
    _same(bq.load_incident_months(duck), bq.load_incident_months(pg), ["first_month"])


def _overview(engine) -> pd.DataFrame:
    registry = merge_definitions(REGISTRY, bq.load_kpi_definitions(engine))
    start = pb.history_start(END)
    read_from = pb.fetch_start(registry, start)
    code = bq.partnership_code(engine)
    series = pb.assemble_series(
        registry, level="partnership", area_codes=[code],
        counts=bq.load_measure_counts(engine, measures=measure_specs(registry.kpis),
                                      start=read_from, end=END),
        populations=bq.load_populations(engine, level="partnership",
                                        fy_starts=range(read_from.year - 1, END.year + 1)),
        values=bq.load_kpi_values(engine, area_codes=[code], start=read_from, end=END),
        actions=bq.load_board_actions(engine), start=start, end=END, read_from=read_from, as_at=END,
    )
    summaries = [pb.summarise_kpi(k, series, area_code=code) for k in registry.kpis]
    return pb.summary_table(summaries)


@pytest.mark.postgres
def test_the_board_overview_is_identical_on_postgres(duck, pg):
    a, b = _overview(duck), _overview(pg)
    assert len(a) == len(REGISTRY.kpis)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


# --- a KPI added as data ----------------------------------------------------------------------------

def test_a_kpi_added_to_the_database_appears_on_its_board(duck_url, tmp_path):
    # Work on a copy so the other tests keep the sample as generated.
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(Path(eng.duckdb_path(duck_url)).resolve(), copy)
    url = f"duckdb:///{copy}"
    months = pd.date_range("2023-04-01", "2025-09-01", freq="MS")
    with eng.write_transaction(url) as conn:
        code = conn.execute(sa.select(schema.areas.c.code).where(
            schema.areas.c.level == "partnership")).scalar_one()
        conn.execute(schema.kpi_definitions.insert().values(
            kpi_id="fgm_referrals", label="Referrals to the FGM clinic",
            board="Violence Against Women and Girls", unit="count", polarity="higher_is_better",
            frequency="monthly", description="New referrals", source="NHS"))
        conn.execute(schema.kpi_values.insert(), [
            {"kpi_id": "fgm_referrals", "area_code": code, "period_start": m.date(),
             "period_grain": "month", "value": float(10 + (i % 3)), "is_provisional": False}
            for i, m in enumerate(months)
        ])
    engine = eng.reader_engine(url)
    try:
        table = _overview(engine)
    finally:
        engine.dispose()
    row = table.set_index("kpi_id").loc["fgm_referrals"]
    assert row["kpi"] == "Referrals to the FGM clinic"
    assert row["latest_value"] == float(10 + (len(months) - 1) % 3)
    registry = merge_definitions(REGISTRY, pd.DataFrame([{
        "kpi_id": "fgm_referrals", "label": "x", "board": "Violence Against Women and Girls",
        "unit": "count", "polarity": "higher_is_better", "frequency": "monthly"}]))
    assert "fgm_referrals" in [k.id for k in registry.board_kpis("vawg")]
