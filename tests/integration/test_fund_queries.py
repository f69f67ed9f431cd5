"""Fund queries give the same answers on DuckDB and PostgreSQL as the pandas reference.

The database holds the sample years 2017 (as published), 2025 and 2026 (running on 2026-11-21);
PostgreSQL runs on a throwaway database (``pg_url_module``) and is skipped when no server answers.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from data_access import fund_queries as q
from data_access import loading, schema
from kpis import fund_spend as fs
from sample_data.fund import fund_frames

FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")
YEARS = [2017, 2025, 2026]
AS_AT = dt.date(2026, 11, 21)
K = 1000


@pytest.fixture(scope="module")
def frames():
    return fund_frames(3, YEARS)


@pytest.fixture(scope="module",
                params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, frames, tmp_path_factory):
    url = (f"duckdb:///{tmp_path_factory.mktemp('fundq') / 'fund.duckdb'}"
           if request.param == "duckdb" else request.getfixturevalue("pg_url_module"))
    eng = sa.create_engine(url)
    schema.metadata.create_all(eng)
    with eng.begin() as conn:  # the bulk loader the app uses
        for name in FUND_TABLES:
            loading.bulk_insert(conn, schema.metadata.tables[name], frames[name])
    yield eng
    eng.dispose()


def test_published_year_through_the_queries(engine):
    data = q.load_fund_year_data(engine, 2017, AS_AT)
    assert data.through == dt.date(2018, 3, 1) and data.last_spend_month == dt.date(2018, 3, 1)
    summary = fs.compute_year_summary(data.year, data.projects, as_at=AS_AT,
                                      spend_through=data.last_spend_month)
    assert (summary.resources, summary.allocated, summary.unallocated, summary.spent_to_date) == \
        (1_990 * K, 1_976 * K, 14 * K, 1_528 * K)
    assert (summary.slippage, summary.requested_carry_forward) == (348 * K, 114 * K)
    assert round(summary.pct_spent * 100) == 77
    table = fs.compute_project_table(data.projects, closed=True,
                                     quarter_start=fs.last_quarter_start(data.through))
    assert fs.carry_forward_completion(table)["carry_forward_spent"].sum() == 93 * K
    returns = fs.returns_status(data.returns, dt.date(2018, 4, 20)).set_index("name")
    assert returns.loc["Quarter 1 (Apr-Jun) performance", "days_late"] == 79
    assert data.monthly.groupby("month_start")["spent"].sum().sum() == 1_528 * K


@pytest.mark.parametrize("fy", YEARS)
def test_project_finance_matches_pandas(engine, frames, fy):
    through = fs.effective_through(fy, q.load_last_spend_month(engine, fy), AS_AT)
    got = q.load_project_finance(engine, fy, through).sort_values("project_id").reset_index(drop=True)
    want = fs.project_finance_from_frames(frames["fund_projects"], frames["fund_allocations"],
                                          frames["fund_spend"], fy, through)
    want = want.sort_values("project_id").reset_index(drop=True)
    assert list(got.columns) == list(fs.PROJECT_FINANCE_COLUMNS)
    for column in fs.PROJECT_FINANCE_COLUMNS:
        assert got[column].astype(object).where(got[column].notna(), None).tolist() == \
            want[column].astype(object).where(want[column].notna(), None).tolist(), column


def test_running_year_is_cut_at_october(engine):
    assert q.load_last_spend_month(engine, 2026) == dt.date(2026, 10, 1)
    assert q.load_last_spend_month(engine, 1999) is None
    empty = q.load_project_finance(engine, 2026, None)
    assert (empty["spent_to_date"] == 0).all() and (empty["profile_to_date"] == 0).all()


def test_monthly_spend_by_priority_and_lcsp(engine, frames):
    total = q.load_monthly_spend(engine, 2025)
    by_priority = q.load_monthly_spend(engine, 2025, by="priority")
    by_lcsp = q.load_monthly_spend(engine, 2025, by="lcsp_code")
    assert len(total) == 12
    assert by_priority["spent"].sum() == pytest.approx(total["spent"].sum())
    assert by_lcsp["profile"].sum() == pytest.approx(total["profile"].sum())
    with pytest.raises(ValueError):
        q.load_monthly_spend(engine, 2025, by="name")


def test_decisions_register_and_search(engine, frames):
    register = q.load_decisions(engine)
    assert len(register) == len(frames["fund_projects"])
    assert register["financial_year"].iloc[0] == "2026/27"  # newest first
    funded = register[register["decision"] == "approved"]
    assert (funded["allocated"] > 0).all()
    assert (register.loc[register["decision"] != "approved", "allocated"] == 0).all()
    hits = q.load_decisions(engine, 2017, "duplicates EXISTING")
    assert set(hits["name"]) == {"Street Pastors expansion (city centre)"}
    percent = q.load_decisions(engine, None, "100%")
    assert len(percent) == len(fs.search_decisions(register, "100%")) >= 1
    assert q.load_decisions(engine, None, "10_%").empty  # % and _ are literal
    assert len(q.load_decisions(engine, 2017, "'; drop table fund_projects; --")) == 0


def test_multi_year_totals(engine, frames):
    by_year = q.load_multi_year(engine)
    table = fs.multi_year_table(by_year, AS_AT)
    per_year = table.groupby("fy_start")[["allocation", "outturn"]].sum()
    assert per_year.loc[2017, "allocation"] == 1_976 * K
    assert per_year.loc[2017, "outturn"] == 1_528 * K
    running = q.load_fund_year_data(engine, 2026, AS_AT)
    summary = fs.compute_year_summary(running.year, running.projects, as_at=AS_AT,
                                      spend_through=running.last_spend_month)
    assert per_year.loc[2026, "outturn"] == pytest.approx(summary.forecast_outturn)
    assert table.loc[table["fy_start"] == 2026, "is_forecast"].all()


def test_years_and_returns(engine):
    years = q.load_fund_years(engine)
    assert years["fy_start"].tolist() == YEARS
    assert q.load_fund_year(engine, 1999) is None
    returns = q.load_returns(engine, 2026)
    assert len(returns) == 6 and returns["submitted_date"].isna().any()
    assert isinstance(returns["due_date"].iloc[0], dt.date)
