"""Community Safety Fund queries: the small frames the fund page and :mod:`kpis.fund_spend` need.

Every function takes an engine or a connection first and runs parameterised SQLAlchemy Core that
behaves the same on DuckDB and PostgreSQL; sums happen in the database. Money comes back as float
pounds (the database holds ``Numeric(14, 2)``), dates as ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pandas as pd
import sqlalchemy as sa

from data_access.schema import (fund_allocations, fund_projects, fund_returns, fund_spend,
                                fund_years)
from kpis.fund_spend import effective_through, last_quarter_start
from kpis.periods import fy_label

Bind = sa.engine.Engine | sa.engine.Connection

# Months before any real data: "nothing recorded yet" without a NULL in a comparison.
_NO_DATA = dt.date(1900, 1, 1)


@contextmanager
def _connection(bind: Bind) -> Iterator[sa.engine.Connection]:
    if isinstance(bind, sa.engine.Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _read(
    bind: Bind, stmt, money: tuple[str, ...] = (), dates: tuple[str, ...] = ()
) -> pd.DataFrame:
    with _connection(bind) as conn:
        result = conn.execute(stmt)
        df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in money:
        df[column] = pd.to_numeric(df[column], errors="coerce").astype("float64")
    for column in dates:
        df[column] = [None if v is None or pd.isna(v) else _as_date(v) for v in df[column]]
    return df


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


_YEAR_MONEY = ("grant_before_top_slice", "top_slice", "carry_forward_requested",
               "carry_forward_top_slice", "carry_forward_approved", "pdg_approval_limit")


def load_fund_years(bind: Bind) -> pd.DataFrame:
    """All fund years: the columns of ``fund_years`` (money as float), oldest first."""
    stmt = sa.select(fund_years).order_by(fund_years.c.fy_start)
    return _read(bind, stmt, money=_YEAR_MONEY)


def load_fund_year(bind: Bind, fy_start: int) -> dict | None:
    """One ``fund_years`` row as a dict (money as float), or None when the year is not loaded."""
    stmt = sa.select(fund_years).where(fund_years.c.fy_start == sa.bindparam("fy", fy_start))
    df = _read(bind, stmt, money=_YEAR_MONEY)
    return None if df.empty else df.iloc[0].to_dict() | {"fy_start": int(df.iloc[0]["fy_start"])}


def load_last_spend_month(bind: Bind, fy_start: int) -> dt.date | None:
    """First day of the latest month of ``fy_start`` with non-zero spend recorded, or None."""
    stmt = (
        sa.select(sa.func.max(fund_spend.c.month_start))
        .select_from(fund_spend.join(fund_projects,
                                     fund_projects.c.project_id == fund_spend.c.project_id))
        .where(fund_projects.c.fy_start == sa.bindparam("fy", fy_start), fund_spend.c.amount != 0)
    )
    with _connection(bind) as conn:
        value = conn.execute(stmt).scalar()
    return None if value is None else _as_date(value)


def load_project_finance(bind: Bind, fy_start: int, through: dt.date | None) -> pd.DataFrame:
    """One row per project of ``fy_start`` that has an allocation.

    Columns: project_id, priority, name, lcsp_code, provider, decision_date,
    carried_from_project_id, carry_forward_request (0 when none), allocation_new,
    allocation_carry_forward, allocation, spent_to_date and profile_to_date (months up to and
    including ``through``), profile_total, spent_last_quarter (the three months ending with
    ``through``). With ``through`` None nothing counts as spent yet.
    """
    through_value = through or _NO_DATA
    window_start = last_quarter_start(through) if through else _NO_DATA
    upto = fund_spend.c.month_start <= sa.bindparam("through", through_value, type_=sa.Date)
    in_window = sa.and_(upto, fund_spend.c.month_start >= sa.bindparam("window", window_start,
                                                                         type_=sa.Date))
    profile = sa.func.coalesce(fund_spend.c.profile_amount, 0)
    alloc = (
        sa.select(
            fund_allocations.c.project_id,
            sa.func.sum(sa.case((fund_allocations.c.funding == "new", fund_allocations.c.amount),
                                else_=0)).label("allocation_new"),
            sa.func.sum(sa.case((fund_allocations.c.funding == "carry_forward",
                                 fund_allocations.c.amount), else_=0))
            .label("allocation_carry_forward"),
            sa.func.sum(fund_allocations.c.amount).label("allocation"),
        )
        .group_by(fund_allocations.c.project_id)
        .subquery("alloc")
    )
    spend = (
        sa.select(
            fund_spend.c.project_id,
            sa.func.sum(sa.case((upto, fund_spend.c.amount), else_=0)).label("spent_to_date"),
            sa.func.sum(sa.case((upto, profile), else_=0)).label("profile_to_date"),
            sa.func.sum(profile).label("profile_total"),
            sa.func.sum(sa.case((in_window, fund_spend.c.amount), else_=0))
            .label("spent_last_quarter"),
        )
        .group_by(fund_spend.c.project_id)
        .subquery("spend")
    )
    p = fund_projects.c
    stmt = (
        sa.select(
            p.project_id, p.priority, p.name, p.lcsp_code, p.provider, p.decision_date,
            p.carried_from_project_id,
            sa.func.coalesce(p.carry_forward_request, 0).label("carry_forward_request"),
            alloc.c.allocation_new, alloc.c.allocation_carry_forward, alloc.c.allocation,
            sa.func.coalesce(spend.c.spent_to_date, 0).label("spent_to_date"),
            sa.func.coalesce(spend.c.profile_to_date, 0).label("profile_to_date"),
            sa.func.coalesce(spend.c.profile_total, 0).label("profile_total"),
            sa.func.coalesce(spend.c.spent_last_quarter, 0).label("spent_last_quarter"),
        )
        .select_from(fund_projects.join(alloc, alloc.c.project_id == p.project_id)
                     .outerjoin(spend, spend.c.project_id == p.project_id))
        .where(p.fy_start == sa.bindparam("fy", fy_start))
        .order_by(p.priority, p.project_id)
    )
    df = _read(bind, stmt, money=("carry_forward_request", "allocation_new",
                                  "allocation_carry_forward", "allocation", "spent_to_date",
                                  "profile_to_date", "profile_total", "spent_last_quarter"),
               dates=("decision_date",))
    df["carried_from_project_id"] = df["carried_from_project_id"].astype("Int64")
    return df


def load_monthly_spend(bind: Bind, fy_start: int, by: str | None = None) -> pd.DataFrame:
    """Spend and profile per month of ``fy_start``: month_start, [``by``], spent, profile.

    ``by`` is None (whole fund), "priority" or "lcsp_code".
    """
    keys = []
    if by is not None:
        if by not in ("priority", "lcsp_code"):
            raise ValueError(f"monthly spend cannot be split by {by!r}")
        keys = [fund_projects.c[by]]
    stmt = (
        sa.select(
            fund_spend.c.month_start, *keys,
            sa.func.sum(fund_spend.c.amount).label("spent"),
            sa.func.sum(sa.func.coalesce(fund_spend.c.profile_amount, 0)).label("profile"),
        )
        .select_from(fund_spend.join(fund_projects,
                                     fund_projects.c.project_id == fund_spend.c.project_id))
        .where(fund_projects.c.fy_start == sa.bindparam("fy", fy_start))
        .group_by(fund_spend.c.month_start, *keys)
        .order_by(fund_spend.c.month_start, *keys)
    )
    return _read(bind, stmt, money=("spent", "profile"), dates=("month_start",))


def load_returns(bind: Bind, fy_start: int) -> pd.DataFrame:
    """OPCC returns of ``fy_start``: return_id, name, due_date, submitted_date (None = not yet)."""
    r = fund_returns.c
    stmt = (sa.select(r.return_id, r.name, r.due_date, r.submitted_date)
            .where(r.fy_start == sa.bindparam("fy", fy_start))
            .order_by(r.due_date, r.return_id))
    return _read(bind, stmt, dates=("due_date", "submitted_date"))


def load_decisions(
    bind: Bind, fy_start: int | None = None, search: str | None = None
) -> pd.DataFrame:
    """The decisions register: every bid with its decision, reason, outcome and amount allocated.

    Columns: project_id, fy_start, financial_year, priority, name, lcsp_code, provider,
    bid_amount, bid_date, decision, decision_body, decision_date, decision_reason,
    outcome_evaluation, carried_from_project_id, allocated (0 for bids not funded). ``search``
    keeps bids whose text fields contain it (case-insensitive; % and _ are literal).
    """
    p = fund_projects.c
    alloc = (sa.select(fund_allocations.c.project_id,
                       sa.func.sum(fund_allocations.c.amount).label("allocated"))
             .group_by(fund_allocations.c.project_id).subquery("alloc"))
    stmt = (
        sa.select(
            p.project_id, p.fy_start, p.priority, p.name, p.lcsp_code, p.provider, p.bid_amount,
            p.bid_date, p.decision, p.decision_body, p.decision_date, p.decision_reason,
            p.outcome_evaluation, p.carried_from_project_id,
            sa.func.coalesce(alloc.c.allocated, 0).label("allocated"),
        )
        .select_from(fund_projects.outerjoin(alloc, alloc.c.project_id == p.project_id))
        .order_by(p.fy_start.desc(), p.decision_date.desc().nulls_last(), p.project_id)
    )
    if fy_start is not None:
        stmt = stmt.where(p.fy_start == sa.bindparam("fy", fy_start))
    text = (search or "").strip().lower()
    if "\x00" in text:
        # No stored text can hold NUL (PostgreSQL refuses it, so its driver would raise).
        stmt = stmt.where(sa.false())
    elif text:
        columns = (p.priority, p.name, p.lcsp_code, p.provider, p.decision, p.decision_body,
                   p.decision_reason, p.outcome_evaluation)
        stmt = stmt.where(sa.or_(*[sa.func.lower(c).contains(text, autoescape=True)
                                   for c in columns]))
    df = _read(bind, stmt, money=("bid_amount", "allocated"),
               dates=("bid_date", "decision_date"))
    df.insert(2, "financial_year", [fy_label(int(y)) for y in df["fy_start"]])
    df["carried_from_project_id"] = df["carried_from_project_id"].astype("Int64")
    return df


def load_multi_year(bind: Bind) -> pd.DataFrame:
    """Per financial year and priority: allocation, spent and profile_after_data.

    ``profile_after_data`` is the profile of months after the year's last month with recorded
    spend (all of it when nothing is recorded), from which a running year's forecast is made.
    Columns: fy_start, financial_year, priority, allocation, spent, profile_after_data.
    """
    p = fund_projects.c
    last = (
        sa.select(p.fy_start, sa.func.max(fund_spend.c.month_start).label("last_month"))
        .select_from(fund_spend.join(fund_projects, p.project_id == fund_spend.c.project_id))
        .where(fund_spend.c.amount != 0)
        .group_by(p.fy_start)
        .subquery("last_spend")
    )
    after = sa.or_(last.c.last_month.is_(None), fund_spend.c.month_start > last.c.last_month)
    spend = (
        sa.select(
            p.fy_start, p.priority,
            sa.func.sum(fund_spend.c.amount).label("spent"),
            sa.func.sum(sa.case((after, sa.func.coalesce(fund_spend.c.profile_amount, 0)),
                                else_=0)).label("profile_after_data"),
        )
        .select_from(fund_spend.join(fund_projects, p.project_id == fund_spend.c.project_id)
                     .outerjoin(last, last.c.fy_start == p.fy_start))
        .group_by(p.fy_start, p.priority)
        .subquery("spend")
    )
    alloc = (
        sa.select(p.fy_start, p.priority,
                  sa.func.sum(fund_allocations.c.amount).label("allocation"))
        .select_from(fund_allocations.join(fund_projects,
                                           p.project_id == fund_allocations.c.project_id))
        .group_by(p.fy_start, p.priority)
        .subquery("alloc")
    )
    stmt = (
        sa.select(
            alloc.c.fy_start, alloc.c.priority, alloc.c.allocation,
            sa.func.coalesce(spend.c.spent, 0).label("spent"),
            sa.func.coalesce(spend.c.profile_after_data, 0).label("profile_after_data"),
        )
        .select_from(alloc.outerjoin(spend, sa.and_(spend.c.fy_start == alloc.c.fy_start,
                                                    spend.c.priority == alloc.c.priority)))
        .order_by(alloc.c.fy_start, alloc.c.priority)
    )
    df = _read(bind, stmt, money=("allocation", "spent", "profile_after_data"))
    df.insert(1, "financial_year", [fy_label(int(y)) for y in df["fy_start"]])
    return df


@dataclass(frozen=True)
class FundYearData:
    """Everything the fund page draws for one year, read on one connection."""

    year: dict | None
    last_spend_month: dt.date | None
    through: dt.date | None  # March for a year that has ended, else last_spend_month
    projects: pd.DataFrame
    monthly: pd.DataFrame
    returns: pd.DataFrame


def load_fund_year_data(bind: Bind, fy_start: int, as_at: dt.date) -> FundYearData:
    """The year row, per-project finance, monthly spend by priority and the OPCC returns."""
    with _connection(bind) as conn:
        year = load_fund_year(conn, fy_start)
        last = load_last_spend_month(conn, fy_start)
        through = effective_through(fy_start, last, as_at)
        return FundYearData(
            year=year,
            last_spend_month=last,
            through=through,
            projects=load_project_finance(conn, fy_start, through),
            monthly=load_monthly_spend(conn, fy_start, by="priority"),
            returns=load_returns(conn, fy_start),
        )
