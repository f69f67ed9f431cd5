"""Community Safety Fund measures: resources, allocation, spend, slippage, forecast and returns.

Pure functions on the small frames of :mod:`data_access.fund_queries` (or built from the raw fund
tables with :func:`project_finance_from_frames`); no database, no Streamlit. Money is in pounds.

Definitions (the 2017/18 year-end report of the Birmingham CSP is the worked example):

- grant for allocation = grant before top-slice - top-slice (1,873k - 29k = 1,844k);
- resources = grant for allocation + carry-forward approved (1,844k + 146k = 1,990k);
- allocated = new allocations + carry-forward allocations (1,830k + 146k = 1,976k);
- unallocated = resources - allocated (14k);
- forecast outturn, per project: for a year that has ended, the spend recorded; for a running
  year, spend to date + the profile still to come after the last month with recorded spend.
  Profile missed so far is assumed to slip, not to be caught up: the cautious reading finance
  officers use for a slippage forecast;
- carry-forward requested for projects = the part of an allocation formally asked of the OPCC to
  carry into the next year (``carry_forward_request``; 2017/18: Guns & Gangs 100k);
- slippage = allocated - forecast outturn - carry-forward requested for projects
  (1,976k - 1,528k - 100k = 348k: spend that slips into the next year through timing);
- requested carry-forward = project requests + the unallocated balance once the year has ended
  (100k + 14k = 114k), as the partnership asks for both;
- carry-forward money is spent first, so a project's carry-forward spend is its spend up to its
  carry-forward allocation (2017/18: 93k of 146k).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from kpis.periods import fy_label, fy_quarter

# Columns of the per-project frame (see data_access.fund_queries.load_project_finance).
PROJECT_FINANCE_COLUMNS = (
    "project_id", "priority", "name", "lcsp_code", "provider", "decision_date",
    "carried_from_project_id", "carry_forward_request", "allocation_new",
    "allocation_carry_forward", "allocation", "spent_to_date", "profile_to_date",
    "profile_total", "spent_last_quarter",
)
_SUM_COLUMNS = (
    "allocation_new", "allocation_carry_forward", "allocation", "carry_forward_request",
    "spent_to_date", "profile_to_date", "profile_total", "forecast_outturn", "variance",
)
REGISTER_TEXT_COLUMNS = (
    "financial_year", "priority", "name", "lcsp_code", "provider", "decision", "decision_body",
    "decision_reason", "outcome_evaluation",
)
NO_LCSP = "City-wide"


# --- periods ----------------------------------------------------------------------------------

def year_end(fy_start: int) -> dt.date:
    """31 March that closes the financial year."""
    return dt.date(fy_start + 1, 3, 31)


def is_year_closed(fy_start: int, as_at: dt.date) -> bool:
    """True once the financial year has ended on ``as_at``."""
    return as_at > year_end(fy_start)


def effective_through(
    fy_start: int, last_spend_month: dt.date | None, as_at: dt.date
) -> dt.date | None:
    """Month (first day) up to which spend counts: March for an ended year, else the data's."""
    if is_year_closed(fy_start, as_at):
        return dt.date(fy_start + 1, 3, 1)
    return last_spend_month


def last_quarter_start(through: dt.date | None) -> dt.date | None:
    """First day of the three-month window that ends with the month ``through``."""
    if through is None:
        return None
    month_index = through.year * 12 + through.month - 1 - 2
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


# --- building the per-project frame from raw tables (tests, and the generator's own checks) ----

def project_finance_from_frames(
    projects: pd.DataFrame,
    allocations: pd.DataFrame,
    spend: pd.DataFrame,
    fy_start: int,
    through: dt.date | None,
) -> pd.DataFrame:
    """The per-project frame of ``load_project_finance``, computed in pandas from the tables."""
    p = projects[projects["fy_start"] == fy_start]
    a = allocations[allocations["project_id"].isin(p["project_id"])].copy()
    a["amount"] = a["amount"].astype(float)
    alloc = a.pivot_table(index="project_id", columns="funding", values="amount", aggfunc="sum",
                          fill_value=0.0)
    alloc = alloc.reindex(columns=["new", "carry_forward"], fill_value=0.0)
    alloc.columns = ["allocation_new", "allocation_carry_forward"]
    alloc["allocation"] = alloc.sum(axis=1)
    s = spend[spend["project_id"].isin(alloc.index)].copy()
    months = pd.to_datetime(s["month_start"]).dt.date
    amount = s["amount"].astype(float)
    profile = s["profile_amount"].astype(float).fillna(0.0)
    upto = months <= through if through is not None else pd.Series(False, index=s.index)
    q_start = last_quarter_start(through)
    in_quarter = upto & (months >= q_start) if q_start is not None else upto
    agg = pd.DataFrame({
        "project_id": s["project_id"],
        "spent_to_date": amount.where(upto, 0.0),
        "profile_to_date": profile.where(upto, 0.0),
        "profile_total": profile,
        "spent_last_quarter": amount.where(in_quarter, 0.0),
    }).groupby("project_id").sum()
    out = (p.set_index("project_id")
           .join(alloc, how="inner")
           .join(agg, how="left")
           .reset_index())
    for column in ("spent_to_date", "profile_to_date", "profile_total", "spent_last_quarter"):
        out[column] = out[column].fillna(0.0)
    out["carry_forward_request"] = pd.to_numeric(out["carry_forward_request"]).fillna(0.0)
    out = out[list(PROJECT_FINANCE_COLUMNS)].sort_values(["priority", "project_id"])
    return out.reset_index(drop=True)


# --- year summary and waterfall -----------------------------------------------------------------

@dataclass(frozen=True)
class YearSummary:
    """Headline figures of one financial year of the fund (pounds)."""

    fy_start: int
    financial_year: str
    grant_before_top_slice: float
    top_slice: float
    grant_for_allocation: float
    carry_forward_requested_in: float
    carry_forward_top_slice: float
    carry_forward_approved: float
    resources: float
    allocated_new: float
    allocated_carry_forward: float
    allocated: float
    unallocated: float
    spent_to_date: float
    pct_spent: float  # of the allocation
    profile_to_date: float
    forecast_outturn: float
    project_carry_forward_requests: float
    slippage: float
    requested_carry_forward: float
    is_closed: bool
    spend_through: dt.date | None
    n_projects: int

    def as_dict(self) -> dict:
        """Plain dict, for tables and exports."""
        return asdict(self)


def _money(value: float) -> float:
    return float(round(float(value), 2))


def compute_year_summary(
    year: Mapping,
    projects: pd.DataFrame,
    *,
    as_at: dt.date,
    spend_through: dt.date | None,
) -> YearSummary:
    """Resources, allocated, unallocated, spend, forecast outturn, slippage and carry-forward."""
    fy = int(year["fy_start"])
    closed = is_year_closed(fy, as_at)
    through = effective_through(fy, spend_through, as_at)
    grant = float(year["grant_before_top_slice"])
    top_slice = float(year["top_slice"])
    cf_approved = float(year.get("carry_forward_approved") or 0)
    resources = grant - top_slice + cf_approved
    allocated = float(projects["allocation"].sum())
    spent = float(projects["spent_to_date"].sum())
    remaining = projects["profile_total"] - projects["profile_to_date"]
    forecast = spent if closed else float((projects["spent_to_date"] + remaining).sum())
    project_cf = float(projects["carry_forward_request"].fillna(0).sum())
    unallocated = resources - allocated
    return YearSummary(
        fy_start=fy,
        financial_year=str(year.get("financial_year") or fy_label(fy)),
        grant_before_top_slice=_money(grant),
        top_slice=_money(top_slice),
        grant_for_allocation=_money(grant - top_slice),
        carry_forward_requested_in=_money(year.get("carry_forward_requested") or 0),
        carry_forward_top_slice=_money(year.get("carry_forward_top_slice") or 0),
        carry_forward_approved=_money(cf_approved),
        resources=_money(resources),
        allocated_new=_money(projects["allocation_new"].sum()),
        allocated_carry_forward=_money(projects["allocation_carry_forward"].sum()),
        allocated=_money(allocated),
        unallocated=_money(unallocated),
        spent_to_date=_money(spent),
        pct_spent=spent / allocated if allocated else float("nan"),
        profile_to_date=_money(projects["profile_to_date"].sum()),
        forecast_outturn=_money(forecast),
        project_carry_forward_requests=_money(project_cf),
        slippage=_money(allocated - forecast - project_cf),
        requested_carry_forward=_money(project_cf + (max(unallocated, 0.0) if closed else 0.0)),
        is_closed=closed,
        spend_through=through,
        n_projects=int(len(projects)),
    )


def waterfall_steps(summary: YearSummary) -> pd.DataFrame:
    """Steps from grant to outturn: ``step``, ``amount``, ``measure`` (plotly), ``running_total``.

    ``measure`` is "absolute" for the first bar, "relative" for a change and "total" for a
    subtotal, as ``plotly.graph_objects.Waterfall`` expects.
    """
    this, previous, following = (summary.financial_year, fy_label(summary.fy_start - 1),
                                 fy_label(summary.fy_start + 1))
    outturn = "Outturn" if summary.is_closed else "Forecast outturn"
    rows = [
        (f"Grant {this}", summary.grant_before_top_slice, "absolute"),
        ("Top-slice", -summary.top_slice, "relative"),
        (f"Carry-forward from {previous} (requested)", summary.carry_forward_requested_in,
         "relative"),
        ("OPCC top-slice of carry-forward", -summary.carry_forward_top_slice, "relative"),
        ("Resources", summary.resources, "total"),
        ("Unallocated", -summary.unallocated, "relative"),
        ("Allocated", summary.allocated, "total"),
        ("Slippage (timing)", -summary.slippage, "relative"),
        (f"Carry-forward to {following} (requested)", -summary.project_carry_forward_requests,
         "relative"),
        (outturn, summary.forecast_outturn, "total"),
    ]
    # The approved carry-forward may differ from requested - top-slice when the OPCC cut it.
    gap = summary.carry_forward_approved - (summary.carry_forward_requested_in
                                            - summary.carry_forward_top_slice)
    if abs(gap) >= 0.005:
        rows.insert(4, ("Carry-forward not approved", gap, "relative"))
    df = pd.DataFrame(rows, columns=["step", "amount", "measure"])
    df["amount"] = df["amount"].astype(float) + 0.0  # no "-0" in tables
    running, totals = 0.0, []
    for amount, measure in zip(df["amount"], df["measure"]):
        running = amount if measure in ("absolute", "total") else running + amount
        totals.append(round(running, 2))
    df["running_total"] = totals
    return df


# --- per project, priority and LCSP ----------------------------------------------------------

@dataclass(frozen=True)
class FlagRule:
    """When a project or group is flagged (all thresholds configurable; defaults in brackets).

    - Overspend: forecast outturn exceeds the allocation to be spent this year (allocation less
      any carry-forward requested) by more than ``overspend_pct`` of it [0%] and by at least
      ``min_amount`` pounds [1,000].
    - Underspend: forecast outturn falls short of it by more than ``underspend_pct`` [10%] and by
      at least ``min_amount``.
    - Behind profile (running year only): spend to date falls short of the profile to date by
      more than ``behind_profile_pct`` [25%] and by at least ``min_amount``.
    """

    underspend_pct: float = 0.10
    overspend_pct: float = 0.0
    min_amount: float = 1000.0
    behind_profile_pct: float = 0.25

    def __post_init__(self) -> None:
        for name in ("underspend_pct", "overspend_pct", "behind_profile_pct", "min_amount"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, not {value!r}")


def _flags(budget: pd.Series, forecast: pd.Series, rule: FlagRule) -> tuple[pd.Series, pd.Series]:
    variance = forecast - budget
    over = (variance > budget.abs() * rule.overspend_pct) & (variance >= rule.min_amount)
    under = (-variance > budget.abs() * rule.underspend_pct) & (-variance >= rule.min_amount)
    flag = pd.Series(np.select([over, under], ["Overspend", "Underspend"], ""), index=budget.index)
    pct = variance / budget.where(budget != 0)
    reason = [
        "" if f == "" else
        f"Forecast GBP {abs(v):,.0f} {'above' if v > 0 else 'below'} budget"
        + ("" if np.isnan(p) else f" ({abs(p):.0%})")
        for f, v, p in zip(flag, variance, pct)
    ]
    return flag, pd.Series(reason, index=budget.index)


def compute_project_table(
    projects: pd.DataFrame,
    rule: FlagRule = FlagRule(),
    *,
    closed: bool,
    quarter_start: dt.date | None = None,
) -> pd.DataFrame:
    """Per project: % spent, forecast outturn, variance, flags, no spend in the last quarter.

    Adds ``budget_this_year`` (allocation less carry-forward requested), ``profile_remaining``,
    ``forecast_outturn``, ``pct_spent``, ``variance`` (forecast - budget; negative = underspend),
    ``variance_pct``, ``flag`` ("Overspend", "Underspend" or ""), ``flag_reason``,
    ``behind_profile`` and ``no_spend_last_quarter`` (nothing recorded in the three months to the
    last month of data while money is left, for projects approved before that window opened).
    """
    df = projects.copy()
    df["carry_forward_request"] = pd.to_numeric(df["carry_forward_request"]).fillna(0.0)
    df["budget_this_year"] = df["allocation"] - df["carry_forward_request"]
    df["profile_remaining"] = (df["profile_total"] - df["profile_to_date"]).clip(lower=0.0)
    df["forecast_outturn"] = df["spent_to_date"] + (0.0 if closed else df["profile_remaining"])
    df["pct_spent"] = df["spent_to_date"] / df["allocation"].where(df["allocation"] != 0)
    df["variance"] = df["forecast_outturn"] - df["budget_this_year"]
    df["variance_pct"] = df["variance"] / df["budget_this_year"].where(df["budget_this_year"] != 0)
    df["flag"], df["flag_reason"] = _flags(df["budget_this_year"], df["forecast_outturn"], rule)
    shortfall = df["profile_to_date"] - df["spent_to_date"]
    df["behind_profile"] = ((not closed)
                            & (shortfall > df["profile_to_date"] * rule.behind_profile_pct)
                            & (shortfall >= rule.min_amount))
    decided = pd.to_datetime(df["decision_date"]).dt.date
    before_window = decided.isna() | (decided < quarter_start) if quarter_start else True
    df["no_spend_last_quarter"] = (df["spent_last_quarter"] == 0) \
        & (df["spent_to_date"] < df["budget_this_year"]) & before_window
    for column in ("budget_this_year", "profile_remaining", "forecast_outturn", "variance"):
        df[column] = df[column].round(2)
    return df


def summarise_by(table: pd.DataFrame, by: str, rule: FlagRule = FlagRule()) -> pd.DataFrame:
    """Totals per ``by`` ("priority" or "lcsp_code") with % spent, variance and the group's flag.

    Projects without an LCSP are grouped as "City-wide". A last row "Total" sums everything.
    """
    if by not in ("priority", "lcsp_code", "provider"):
        raise ValueError(f"cannot summarise the fund by {by!r}")
    df = table.copy()
    df[by] = df[by].fillna(NO_LCSP if by == "lcsp_code" else "Unknown")
    df["budget_this_year"] = df["allocation"] - df["carry_forward_request"]
    df["n_projects"] = 1
    df["n_flagged"] = (df["flag"] != "").astype(int)
    df["n_no_spend_last_quarter"] = df["no_spend_last_quarter"].astype(int)
    counts = ["n_projects", "n_flagged", "n_no_spend_last_quarter"]
    out = df.groupby(by, sort=True)[[*_SUM_COLUMNS, "budget_this_year", *counts]].sum()
    out = out.reset_index()
    total = {by: "Total"} | out.drop(columns=[by]).sum(numeric_only=True).to_dict()
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    for column in [*_SUM_COLUMNS, "budget_this_year"]:
        out[column] = out[column].astype(float).round(2)
    for column in ("n_projects", "n_flagged", "n_no_spend_last_quarter"):
        out[column] = out[column].astype(int)
    out["pct_spent"] = out["spent_to_date"] / out["allocation"].where(out["allocation"] != 0)
    budget = out["budget_this_year"]
    out["variance_pct"] = out["variance"] / budget.where(budget != 0)
    out["flag"], out["flag_reason"] = _flags(budget, out["forecast_outturn"], rule)
    return out


def no_spend_last_quarter(table: pd.DataFrame) -> pd.DataFrame:
    """Projects flagged by ``compute_project_table`` as silent in the last quarter of data."""
    columns = ["project_id", "priority", "name", "lcsp_code", "allocation", "spent_to_date",
               "decision_date"]
    return table.loc[table["no_spend_last_quarter"], columns].reset_index(drop=True)


def carry_forward_completion(table: pd.DataFrame) -> pd.DataFrame:
    """Projects funded by carry-forward: carry-forward spent (spent first), remaining, status."""
    df = table[table["allocation_carry_forward"] > 0].copy()
    df["carry_forward_spent"] = np.minimum(df["spent_to_date"].clip(lower=0.0),
                                           df["allocation_carry_forward"])
    df["carry_forward_remaining"] = df["allocation_carry_forward"] - df["carry_forward_spent"]
    df["pct_complete"] = df["carry_forward_spent"] / df["allocation_carry_forward"]
    df["status"] = np.select(
        [df["carry_forward_spent"] >= df["allocation_carry_forward"],
         df["carry_forward_spent"] <= 0],
        ["Complete", "Not started"], "In progress")
    columns = ["project_id", "priority", "name", "lcsp_code", "carried_from_project_id",
               "allocation_carry_forward", "carry_forward_spent", "carry_forward_remaining",
               "pct_complete", "status"]
    return df[columns].reset_index(drop=True)


# --- spend profile by month or quarter --------------------------------------------------------

def spend_profile(
    monthly: pd.DataFrame, through: dt.date | None, grain: str = "month"
) -> pd.DataFrame:
    """Spend against profile per month (or quarter), with cumulative columns.

    ``monthly`` has ``month_start``, ``spent``, ``profile`` (any extra key columns are summed
    over). Actual spend after ``through`` is unknown, so it is NaN rather than zero.
    """
    if grain not in ("month", "quarter"):
        raise ValueError(f"grain must be month or quarter, not {grain!r}")
    df = monthly.groupby("month_start", as_index=False)[["spent", "profile"]].sum()
    df["month_start"] = pd.to_datetime(df["month_start"]).dt.date
    df = df.sort_values("month_start").reset_index(drop=True)
    if through is None:
        df["spent"] = np.nan
    else:
        df.loc[df["month_start"] > through, "spent"] = np.nan
    if grain == "quarter":
        df["period"] = df["month_start"].map(lambda d: f"Q{fy_quarter(d)}")
        first = df.groupby("period", sort=False)["month_start"].first()
        df = df.groupby("period", sort=False).agg(
            spent=("spent", lambda s: s.sum(min_count=1)), profile=("profile", "sum"))
        df.insert(0, "month_start", first)
        df = df.reset_index()
    else:
        df.insert(0, "period", df["month_start"].map(lambda d: d.strftime("%b %Y")))
    df["cumulative_profile"] = df["profile"].cumsum()
    df["cumulative_spent"] = df["spent"].cumsum().where(df["spent"].notna())
    return df


# --- returns to the OPCC ----------------------------------------------------------------------

def returns_status(returns: pd.DataFrame, as_at: dt.date) -> pd.DataFrame:
    """Each return with ``status`` (On time, Late, Overdue, Outstanding), ``days_late``, ``label``.

    Late = submitted after the due date (days late = submitted - due); Overdue = not submitted
    and the due date has passed on ``as_at`` (days late counted to ``as_at``); Outstanding = not
    submitted and not yet due.
    """
    df = returns.copy()
    due = pd.to_datetime(df["due_date"]).dt.date
    submitted = pd.to_datetime(df["submitted_date"]).dt.date
    statuses, days, labels = [], [], []
    for d, s in zip(due, submitted):
        if s is not None and not pd.isna(s):
            late = (s - d).days
            status = "Late" if late > 0 else "On time"
            n = max(late, 0)
        elif as_at > d:
            status, n = "Overdue", (as_at - d).days
        else:
            status, n = "Outstanding", 0
        statuses.append(status)
        days.append(n)
        unit = "day" if n == 1 else "days"
        labels.append(f"{status} ({n} {unit})" if status in ("Late", "Overdue") else status)
    df["due_date"] = due
    df["submitted_date"] = [None if pd.isna(s) else s for s in submitted]
    df["status"] = statuses
    df["days_late"] = pd.Series(days, index=df.index, dtype="int64")
    df["label"] = labels
    return df.sort_values(["due_date", "name"]).reset_index(drop=True)


def next_deadline(returns: pd.DataFrame, as_at: dt.date) -> dict | None:
    """The earliest return not yet submitted that falls due on or after ``as_at`` (else None)."""
    status = returns_status(returns, as_at)
    upcoming = status[status["status"] == "Outstanding"]
    if upcoming.empty:
        return None
    row = upcoming.iloc[0]
    return {"name": row["name"], "due_date": row["due_date"],
            "days_to_go": (row["due_date"] - as_at).days}


# --- decisions register -----------------------------------------------------------------------

def search_decisions(
    register: pd.DataFrame,
    text: str | None = None,
    *,
    decisions: Iterable[str] | None = None,
    bodies: Iterable[str] | None = None,
    priorities: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Bids whose text fields contain ``text`` (case-insensitive, literal), optionally filtered."""
    mask = pd.Series(True, index=register.index)
    needle = (text or "").strip().casefold()
    if needle:
        found = pd.Series(False, index=register.index)
        for column in REGISTER_TEXT_COLUMNS:
            if column in register.columns:
                values = register[column].astype(object).where(register[column].notna(), "")
                found |= values.map(lambda v: needle in str(v).casefold())
        mask &= found
    for column, wanted in (("decision", decisions), ("decision_body", bodies),
                           ("priority", priorities)):
        if wanted is not None:
            mask &= register[column].isin(list(wanted))
    return register[mask].reset_index(drop=True)


# --- multi-year view --------------------------------------------------------------------------

def multi_year_table(by_year: pd.DataFrame, as_at: dt.date) -> pd.DataFrame:
    """Allocation and outturn per year and priority (forecast outturn for a running year).

    ``by_year`` has ``fy_start``, ``financial_year``, ``priority``, ``allocation``, ``spent`` and
    ``profile_after_data`` (profile after each year's last month of recorded spend).
    """
    df = by_year.copy()
    closed = df["fy_start"].map(lambda fy: is_year_closed(int(fy), as_at))
    df["outturn"] = (df["spent"] + np.where(closed, 0.0, df["profile_after_data"])).round(2)
    df["is_forecast"] = ~closed
    df["pct_of_allocation"] = df["outturn"] / df["allocation"].where(df["allocation"] != 0)
    return df.sort_values(["fy_start", "priority"]).reset_index(drop=True)


# --- the year's financial return --------------------------------------------------------------

_SUMMARY_LABELS = (
    ("grant_before_top_slice", "Grant before top-slice"),
    ("top_slice", "Top-slice"),
    ("grant_for_allocation", "Grant for allocation"),
    ("carry_forward_requested_in", "Carry-forward requested from previous year"),
    ("carry_forward_top_slice", "OPCC top-slice of carry-forward"),
    ("carry_forward_approved", "Carry-forward approved"),
    ("resources", "Total resources"),
    ("allocated_new", "Allocated from grant"),
    ("allocated_carry_forward", "Allocated from carry-forward"),
    ("allocated", "Total allocated"),
    ("unallocated", "Unallocated"),
    ("spent_to_date", "Spent to date"),
    ("forecast_outturn", "Forecast outturn"),
    ("slippage", "Slippage (timing)"),
    ("project_carry_forward_requests", "Carry-forward requested for projects"),
    ("requested_carry_forward", "Total carry-forward requested"),
)


def summary_table(summary: YearSummary) -> pd.DataFrame:
    """The year summary as label / amount rows (pounds)."""
    rows = [(label, getattr(summary, key)) for key, label in _SUMMARY_LABELS]
    rows.append(("Spent as % of allocation", round(summary.pct_spent * 100, 1)))
    return pd.DataFrame(rows, columns=["item", "amount_gbp"])


def financial_return_sheets(
    summary: YearSummary,
    project_table: pd.DataFrame,
    returns_table: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """The year's financial return: Summary, By priority, Projects, Carry-forward, Returns."""
    project_columns = [
        "project_id", "priority", "name", "lcsp_code", "provider", "allocation_carry_forward",
        "allocation_new", "allocation", "profile_to_date", "spent_to_date", "forecast_outturn",
        "carry_forward_request", "variance", "flag",
    ]
    by_priority = summarise_by(project_table, "priority")[
        ["priority", "allocation_carry_forward", "allocation_new", "allocation", "spent_to_date",
         "forecast_outturn", "carry_forward_request", "variance", "pct_spent"]]
    sheets = {
        "Summary": summary_table(summary),
        "By priority": by_priority,
        "Projects": project_table[project_columns],
        "Carry-forward": carry_forward_completion(project_table),
    }
    if returns_table is not None:
        sheets["Returns"] = returns_table[["name", "due_date", "submitted_date", "status",
                                           "days_late"]]
    return sheets
