"""Community Safety Fund: resources, allocation, spend, slippage, forecast, OPCC returns and the
decisions register, one financial year at a time, with the year's financial return to download
and an import of the finance team's spend and allocations spreadsheet.

- The fund year is this page's own control (``?fund_year=2017/18``). It starts at the sidebar's
  financial year when the fund has that year, else at the latest fund year.
- Headline figures (resources, allocated, unallocated, spend, outturn, slippage, carry-forward
  requested) are in thousands of pounds as the partnership's annual report prints them; tables
  show whole pounds. Definitions are in :mod:`kpis.fund_spend`.
- Sections are tabs that draw only when open (``?fund_section=returns``): summary and
  waterfall, priorities and LCSPs, projects (flags with a configurable rule, silent projects,
  carry-forward completion), spend profile, returns to the OPCC, decisions register, all years.
- Returns are judged "as at" a day: today for a running year; for a year that has ended, its
  year-end report date (the last working day before the year-end return falls due: 20 April
  2018 for 2017/18), so a closed year reads as its report did. The reader can change the day.
- Imports (expander at the foot, for roles that may import): a dry run lists every problem
  (file, row, column, problem); the Import button writes all rows or none through
  ``data_access.engine.write_transaction``.
- Downloads (the financial return, each table's CSV) are offered to roles that may download
  and each click is audited (:func:`pages.common.ui.export_button`); other roles see none.

Measures are in :mod:`kpis.fund_spend`; the tables people read and the figures are built in
:mod:`kpis.fund_charts` (pure, testable; this script only chooses, loads and draws).

The sidebar's LCSP and ward filters do not apply: the fund is managed for the whole partnership
(the LCSP table shows the devolved budgets).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from functools import partial

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import connection, fund_import
from data_access import engine as eng
from data_access import fund_queries as fq
from data_access.connection import cached
from data_access.engine import write_transaction
from kpis import exports, periods
from kpis import fund_charts as fc
from kpis import fund_spend as fs
from kpis.periods import fy_label
from kpis.text_safety import code_span, plain
from pages.common import auth, shell, ui

logger = logging.getLogger("csp_dashboard.fund")

TITLE = "Community Safety Fund"
SECTIONS = {
    "summary": "Summary",
    "priorities": "Priorities and LCSPs",
    "projects": "Projects",
    "profile": "Spend profile",
    "returns": "OPCC returns",
    "decisions": "Decisions register",
    "years": "All years",
}
SECTION_SLUGS = {label: slug for slug, label in SECTIONS.items()}

# Query parameters this page owns (whitelisted; values validated before use).
P_YEAR, P_SECTION = "fund_year", "fund_section"
URL_KEYS = (P_YEAR, P_SECTION)

K_YEAR = "fund_fy"
K_SECTION = "fund_section_tab"
K_SYNCED = "fund_synced_params"
K_RULE_UNDER = "fund_rule_underspend_pct"
K_RULE_OVER = "fund_rule_overspend_pct"
K_RULE_MIN = "fund_rule_min_amount"
K_RULE_BEHIND = "fund_rule_behind_pct"
K_PROJECT_PRIORITY = "fund_projects_priority"
K_FLAGGED_ONLY = "fund_projects_flagged_only"
K_GRAIN = "fund_profile_grain"
K_PROFILE_SCOPE = "fund_profile_scope"
K_CUMULATIVE = "fund_profile_cumulative"
K_SEARCH = "fund_register_search"
K_ALL_YEARS = "fund_register_all_years"
K_DECISIONS = "fund_register_decisions"
K_RETURNS_AS_AT = "fund_returns_as_at_"  # + the year: each year keeps its own day
K_IMPORT_KIND = "fund_import_kind"
K_IMPORT_NONCE = "fund_import_nonce"
K_IMPORT_DONE = "fund_import_done"
K_IMPORT_CHECKED = "fund_import_checked"
K_IMPORT_REQUESTED = "fund_import_requested"

# Streamlit forgets a widget's value in a run that does not draw it: widgets inside a closed tab,
# and every widget of this page while the reader is on another page. Their values are copied
# here at the end of each run and put back at the start of the next.
K_KEPT = "fund_kept_values"
_KEPT_KEYS = (K_YEAR, K_SECTION, K_RULE_UNDER, K_RULE_OVER, K_RULE_MIN, K_RULE_BEHIND,
              K_PROJECT_PRIORITY, K_FLAGGED_ONLY, K_GRAIN, K_PROFILE_SCOPE, K_CUMULATIVE,
              K_SEARCH, K_ALL_YEARS, K_DECISIONS)

RULE_DEFAULTS = {K_RULE_UNDER: 10.0, K_RULE_OVER: 0.0, K_RULE_MIN: 1000.0, K_RULE_BEHIND: 25.0}
MONEY_FORMAT = "accounting"  # 1,234 and (1,234) for a negative, as finance returns print
PCT_FORMAT = "%.0f%%"
ALL_PRIORITIES = ""
WHOLE_FUND = ""
GRAINS = {"month": "Month", "quarter": "Quarter"}
LOADED_BY = "dashboard import"
IMPORT_KINDS = {"spend": "Spend by month", "allocations": "Allocations"}


# --- formats ----------------------------------------------------------------------------------

def plural(count: int, word: str) -> str:
    """ "1 row", "2 rows", "1,234 rows"."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FundSettings:
    """What the reader chose on this page (the fund year and the open section)."""

    fy: int
    section: str  # a key of SECTIONS
    today: dt.date
    rule: fs.FlagRule


def _is_kept(key: object) -> bool:
    return key in _KEPT_KEYS or (isinstance(key, str) and key.startswith(K_RETURNS_AS_AT))


def restore_widget_values() -> None:
    """Put back the page's widget values (see K_KEPT) before any widget is drawn."""
    state = st.session_state
    for key, value in state.get(K_KEPT, {}).items():
        if key not in state:
            state[key] = value
    for key in list(state.keys()):
        if _is_kept(key):
            state[key] = state[key]


def remember_widget_values() -> None:
    """Copy the page's widget values aside at the end of a run (see K_KEPT)."""
    state = st.session_state
    st.session_state[K_KEPT] = {k: state[k] for k in list(state.keys()) if _is_kept(k)}


def _shell_fy() -> int | None:
    """The sidebar's financial year (None when no incident data gives the sidebar a period)."""
    try:
        filters = shell.current_filters()
    except shell.NoIncidentData:
        return None
    return periods.fy_start_year(filters.period.end)


def _apply_url(years: list[int]) -> list[str]:
    """Take the page's settings from a link; returns notes on values ignored."""
    url = {k: st.query_params[k] for k in URL_KEYS if k in st.query_params}
    if not url or url == st.session_state.get(K_SYNCED):
        return []
    ignored = []
    if P_YEAR in url:
        try:
            fy = periods.parse_fy(url[P_YEAR][:20])
            if fy not in years:
                raise ValueError("not a fund year")
            st.session_state[K_YEAR] = fy
        except ValueError:
            ignored.append(f"{P_YEAR}={code_span(url[P_YEAR])} (a fund year such as "
                           f"{fy_label(years[0])})")
    if P_SECTION in url:
        if url[P_SECTION] in SECTIONS:
            st.session_state[K_SECTION] = SECTIONS[url[P_SECTION]]
        else:
            ignored.append(f"{P_SECTION}={code_span(url[P_SECTION])} (one of "
                           f"{', '.join(SECTIONS)})")
    return ignored


def _write_url(settings: FundSettings) -> None:
    params = {P_YEAR: fy_label(settings.fy), P_SECTION: settings.section}
    for key in URL_KEYS:
        if st.query_params.get(key) != params[key]:
            st.query_params[key] = params[key]
    st.session_state[K_SYNCED] = params


def current_rule() -> fs.FlagRule:
    """The flag rule from the reader's settings (defaults until changed)."""
    values = {k: float(st.session_state.get(k, v)) for k, v in RULE_DEFAULTS.items()}
    return fs.FlagRule(underspend_pct=values[K_RULE_UNDER] / 100,
                       overspend_pct=values[K_RULE_OVER] / 100,
                       min_amount=values[K_RULE_MIN],
                       behind_profile_pct=values[K_RULE_BEHIND] / 100)


def show_year_select(years: list[int], today: dt.date) -> int:
    """The fund year box (newest first); returns the chosen start year."""
    state = st.session_state
    if state.get(K_YEAR) not in years:
        shell_fy = _shell_fy()
        state[K_YEAR] = shell_fy if shell_fy in years else years[0]

    def label(fy: int) -> str:
        return fy_label(fy) + ("" if fs.is_year_closed(fy, today) else " (in progress)")

    st.selectbox("Fund year", years, key=K_YEAR, format_func=label,
                 help="The Community Safety Fund year (April to March). It starts at the "
                      "sidebar's financial year when the fund has that year.")
    return int(state[K_YEAR])


# --- data -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FundYearView:
    """One fund year, computed: what the headline, the sections and the exports draw."""

    data: fq.FundYearData
    summary: fs.YearSummary
    projects: pd.DataFrame  # fs.compute_project_table
    returns_as_at: dt.date
    returns: pd.DataFrame  # fs.returns_status
    next_return: dict | None
    lcsp_names: dict[str, str]


def report_date(fy: int, returns: pd.DataFrame, today: dt.date) -> dt.date:
    """The day a year's figures are read at: today while it runs; once it has ended, its
    year-end report date, the last working day before the year-end return falls due."""
    if not fs.is_year_closed(fy, today):
        return today
    due = [d for d in returns["due_date"] if d is not None and d > fs.year_end(fy)]
    # Without a return after the year end, the OPCC's usual deadline (late April) stands in.
    day = max(due) if due else dt.date(fy + 1, 4, 23)
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return min(day, today)


def returns_day(fy: int, default: dt.date) -> dt.date:
    """The reader's "as at" day for the year's returns (``default`` until changed)."""
    value = st.session_state.get(f"{K_RETURNS_AS_AT}{fy}")
    return value if isinstance(value, dt.date) else default


def lcsp_names() -> dict[str, str]:
    """LCSP code -> name from the loaded areas (codes stand in when no areas are known)."""
    context = shell.current_context()
    return dict(context.lcsps) if context is not None else {}


def load_year_view(fy: int, today: dt.date, rule: fs.FlagRule) -> FundYearView | None:
    """The year's figures through the cached queries; None when the year has no row."""
    data = cached(fq.load_fund_year_data, fy_start=fy, as_at=today)
    if data.year is None:
        return None
    summary = fs.compute_year_summary(data.year, data.projects, as_at=today,
                                      spend_through=data.last_spend_month)
    projects = fs.compute_project_table(data.projects, rule, closed=summary.is_closed,
                                        quarter_start=fs.last_quarter_start(data.through))
    as_at = returns_day(fy, report_date(fy, data.returns, today))
    return FundYearView(
        data=data, summary=summary, projects=projects, returns_as_at=as_at,
        returns=fs.returns_status(data.returns, as_at),
        next_return=fs.next_deadline(data.returns, as_at), lcsp_names=lcsp_names(),
    )


# --- render helpers ---------------------------------------------------------------------------

def _column_config(frame: pd.DataFrame) -> dict:
    config = {}
    for column in frame.columns:
        if column.endswith("(£)"):
            config[column] = st.column_config.NumberColumn(column, format=MONEY_FORMAT, step=1)
        elif column.startswith("%"):
            config[column] = st.column_config.NumberColumn(column, format=PCT_FORMAT)
        elif column in ("Due", "Submitted", "Approved", "Decision date"):
            config[column] = st.column_config.DateColumn(column, format="D MMM YYYY")
        elif column in ("ID", "Carried from project"):
            config[column] = st.column_config.NumberColumn(column, format="%d")
        elif column in ("Project", "Bid"):
            config[column] = st.column_config.TextColumn(column, width="medium")
        elif column == "Priority":
            config[column] = st.column_config.TextColumn(column, width="medium")
    return config


def csv_download(frame: pd.DataFrame, file_name: str, *, key: str,
                 label: str = "Download CSV") -> None:
    """A formula-safe CSV download of ``frame`` (built only when clicked), for roles that may
    download; each click is audited. Other roles see nothing."""
    ui.export_button(label, partial(exports.to_csv_bytes, frame), file_name, key=key,
                     mime="text/csv", rows=len(frame))


def show_table(frame: pd.DataFrame, *, key: str, file_name: str, height: int | str = "auto",
               caption: str | None = None) -> None:
    """A table in whole pounds with its CSV download."""
    st.dataframe(frame, hide_index=True, width="stretch", height=height,
                 column_config=_column_config(frame), placeholder=ui.NO_VALUE)
    if caption:
        st.caption(caption)
    csv_download(frame, file_name, key=f"{key}_csv")


def show_chart(fig: go.Figure, key: str) -> None:
    """A plotly chart (its data is always in a table beside or below it)."""
    ui.plotly_chart(fig, key=key)


def _slug(fy: int) -> str:
    return fy_label(fy).replace("/", "-")


# --- headline ---------------------------------------------------------------------------------

def render_headline(view: FundYearView) -> None:
    """Resources, allocation, spend, outturn, slippage, carry-forward and the next return."""
    s = view.summary
    closed = s.is_closed
    row = st.columns(4)
    row[0].metric("Resources", fc.fmt_k(s.resources), border=True,
                  delta=f"{fc.fmt_k(s.grant_for_allocation)} + {fc.fmt_k(s.carry_forward_approved)}",
                  delta_color="off", delta_arrow="off",
                  help="Grant less top-slice, plus the carry-forward the OPCC approved.")
    share = s.allocated / s.resources if s.resources else None
    row[1].metric("Allocated", fc.fmt_k(s.allocated), border=True,
                  delta=f"{share:.0%}" if share is not None else None,
                  delta_description="of resources", delta_color="off", delta_arrow="off",
                  help="New allocations plus carry-forward allocations to projects.")
    row[2].metric("Unallocated", fc.fmt_k(s.unallocated), border=True,
                  help="Resources less allocated.")
    spend_label = "Year-end spend" if closed else "Spent to date"
    pct = f"{s.pct_spent:.0%}" if pd.notna(s.pct_spent) else None
    row[3].metric(spend_label, fc.fmt_k(s.spent_to_date), border=True, delta=pct,
                  delta_description="of allocation", delta_color="off", delta_arrow="off",
                  help="Spend recorded " + ("for the year." if closed else
                                            f"to {ui.fmt_month(s.spend_through)}."))
    row = st.columns(4)
    row[0].metric("Outturn" if closed else "Forecast outturn", fc.fmt_k(s.forecast_outturn),
                  border=True,
                  help="The year's spend." if closed else
                  "Spend to date plus the profile still to come; missed profile is assumed "
                  "to slip, not to be caught up.")
    row[1].metric("Slippage", fc.fmt_k(s.slippage), border=True,
                  help="Allocated less outturn less carry-forward requested for projects: "
                       "spend that slips into next year through timing.")
    amounts = [fc.fmt_k(s.project_carry_forward_requests)]
    if closed and s.unallocated > 0:
        amounts.append(fc.fmt_k(s.unallocated))
    row[2].metric("Carry-forward requested", fc.fmt_k(s.requested_carry_forward), border=True,
                  delta=" + ".join(amounts) if s.requested_carry_forward else None,
                  delta_color="off", delta_arrow="off",
                  help="Asked of the OPCC to carry into next year: project requests, plus the "
                       "unallocated balance once the year has ended.")
    nxt = view.next_return
    if nxt is None:
        row[3].metric("Next OPCC return", "None due", border=True,
                      help=f"No return outstanding as at {ui.fmt_day(view.returns_as_at)}.")
    else:
        days = nxt["days_to_go"]
        row[3].metric("Next OPCC return", ui.fmt_day(nxt["due_date"]), border=True,
                      delta=plain(nxt["name"]), delta_color="off", delta_arrow="off",
                      help=f"Due {'today' if days == 0 else f'in {days} days'} "
                           f"(as at {ui.fmt_day(view.returns_as_at)}).")
    st.markdown(fc.breakdown_line(s))
    late = view.returns[view.returns["status"].isin(("Late", "Overdue"))]
    notes = []
    if closed:
        notes.append(f"{s.financial_year} has ended: spend is the year's outturn")
    elif s.spend_through is not None:
        notes.append(f"Spend recorded to {ui.fmt_month(s.spend_through)}; the forecast adds the "
                     "profile for later months")
    else:
        notes.append("No spend recorded yet this year")
    notes.append(f"{s.n_projects} funded projects")
    if len(late):
        notes.append(f"{len(late)} OPCC return{'s' if len(late) > 1 else ''} late or overdue "
                     f"as at {ui.fmt_day(view.returns_as_at)}")
    st.caption(" · ".join(notes) + ".")


# --- sections ---------------------------------------------------------------------------------

def render_summary(view: FundYearView, settings: FundSettings) -> None:
    """The waterfall from grant to outturn with its table beside it."""
    s = view.summary
    steps = fs.waterfall_steps(s)
    chart, table = st.columns(2)
    with chart:
        show_chart(fc.waterfall_figure(s, steps), "fund_waterfall")
    with table:
        show_table(fc.waterfall_table(steps), key="fund_waterfall",
                   file_name=f"fund_waterfall_{_slug(s.fy_start)}.csv")
    notes = view.data.year.get("notes")
    if notes:
        st.caption(f"Notes on {s.financial_year}: {plain(notes)}")
    st.caption(
        "Resources = grant - top-slice + carry-forward approved. Unallocated = resources - "
        "allocated. Slippage = allocated - outturn - carry-forward requested for projects. "
        "Carry-forward money is spent first.")


def render_rule_controls() -> None:
    """The flag rule (an expander; changes apply to the tables and the exports)."""
    with st.expander("Flag rules: when is a budget under- or overspent?",
                     icon=":material/tune:"):
        cols = st.columns(4)
        for key, value in RULE_DEFAULTS.items():
            st.session_state.setdefault(key, value)
        cols[0].number_input("Underspend: outturn below budget by more than (%)", 0.0, 100.0,
                             step=5.0, key=K_RULE_UNDER, format="%.0f")
        cols[1].number_input("Overspend: outturn above budget by more than (%)", 0.0, 100.0,
                             step=1.0, key=K_RULE_OVER, format="%.0f")
        cols[2].number_input("Ignore differences under (£)", 0.0, 1_000_000.0, step=500.0,
                             key=K_RULE_MIN, format="%.0f")
        cols[3].number_input("Behind profile: spend short of profile by more than (%)", 0.0,
                             100.0, step=5.0, key=K_RULE_BEHIND, format="%.0f",
                             help="Running years only.")
        st.caption("Budget = allocation less any carry-forward requested. Flags are words "
                   "(▲ Overspend, ▼ Underspend), so they read without colour.")


def render_priorities(view: FundYearView, settings: FundSettings) -> None:
    """Allocation, profile, spend, outturn and variance per priority and per LCSP."""
    render_rule_controls()
    fy = _slug(settings.fy)
    closed = view.summary.is_closed
    by_priority = fc.priority_table(view.projects, settings.rule, closed)
    st.subheader("By priority")
    show_chart(fc.priority_figure(by_priority), "fund_priority_chart")
    show_table(by_priority, key="fund_priorities", file_name=f"fund_priorities_{fy}.csv")
    st.subheader("By LCSP")
    show_table(fc.lcsp_table(view.projects, settings.rule, closed, view.lcsp_names),
               key="fund_lcsps",
               file_name=f"fund_lcsps_{fy}.csv",
               caption="Each LCSP's devolved budget; projects for the whole partnership are "
                       "City-wide.")


def render_projects(view: FundYearView, settings: FundSettings) -> None:
    """Every funded project with flags; silent projects; carry-forward completion."""
    render_rule_controls()
    table = fc.project_table(view.projects, view.summary.is_closed, view.lcsp_names)
    priorities = sorted(table["Priority"].dropna().unique())
    if st.session_state.get(K_PROJECT_PRIORITY) not in (ALL_PRIORITIES, *priorities):
        st.session_state[K_PROJECT_PRIORITY] = ALL_PRIORITIES
    cols = st.columns([3, 2], vertical_alignment="bottom")
    cols[0].selectbox("Priority", (ALL_PRIORITIES, *priorities), key=K_PROJECT_PRIORITY,
                      format_func=lambda p: p or "All priorities")
    cols[1].toggle("Flagged projects only", key=K_FLAGGED_ONLY)
    shown = table
    if st.session_state[K_PROJECT_PRIORITY]:
        shown = shown[shown["Priority"] == st.session_state[K_PROJECT_PRIORITY]]
    if st.session_state.get(K_FLAGGED_ONLY):
        shown = shown[(shown["Flag"] != "") | (shown["Behind profile"] == "Yes")]
    fy = _slug(settings.fy)
    show_table(shown.reset_index(drop=True), key="fund_projects",
               file_name=f"fund_projects_{fy}.csv",
               caption=f"{len(shown)} of {len(table)} projects. Variance = outturn - budget "
                       "(negative: underspend).")

    st.subheader("No spend in the last quarter")
    silent = fc.silent_projects_table(view.projects, view.lcsp_names)
    window = fs.last_quarter_start(view.data.through)
    if window is None:
        st.info("No spend is recorded for this year yet.", icon=":material/info:")
    elif silent.empty:
        st.success(f"Every project with money left recorded spend between "
                   f"{ui.fmt_month(window)} and {ui.fmt_month(view.data.through)}.",
                   icon=":material/check_circle:")
    else:
        show_table(silent, key="fund_silent", file_name=f"fund_no_spend_last_quarter_{fy}.csv",
                   caption=f"{len(silent)} projects with money left recorded no spend from "
                           f"{ui.fmt_month(window)} to {ui.fmt_month(view.data.through)} "
                           "(projects approved before that window).")

    st.subheader("Carry-forward projects")
    cf = fc.carry_forward_table(view.projects, view.lcsp_names)
    if cf.empty:
        st.info(f"No carry-forward from {fy_label(settings.fy - 1)} was allocated to projects.",
                icon=":material/info:")
    else:
        done = int((cf["Status"] == "Complete").sum())
        show_table(cf, key="fund_carry_forward", file_name=f"fund_carry_forward_{fy}.csv",
                   caption=f"{done} of {len(cf)} complete; {fc.fmt_k(cf['Spent from carry-forward (£)'].sum())} "
                           f"of {fc.fmt_k(cf['Carry-forward (£)'].sum())} carried forward spent "
                           "(carry-forward money is spent first).")


def render_profile(view: FundYearView, settings: FundSettings) -> None:
    """Spend against profile by month or quarter, for the fund or one priority."""
    monthly = view.data.monthly
    priorities = sorted(monthly["priority"].dropna().unique()) if len(monthly) else []
    state = st.session_state
    state.setdefault(K_GRAIN, "month")
    if state.get(K_PROFILE_SCOPE) not in (WHOLE_FUND, *priorities):
        state[K_PROFILE_SCOPE] = WHOLE_FUND
    cols = st.columns([2, 3, 2], vertical_alignment="bottom")
    cols[0].segmented_control("Show by", tuple(GRAINS), key=K_GRAIN, format_func=GRAINS.get,
                              required=True)
    cols[1].selectbox("Spend of", (WHOLE_FUND, *priorities), key=K_PROFILE_SCOPE,
                      format_func=lambda p: p or "The whole fund")
    cols[2].toggle("Running totals", key=K_CUMULATIVE)
    if monthly.empty:
        st.info("No spend or profile is recorded for this year.", icon=":material/info:")
        return
    scope = state[K_PROFILE_SCOPE]
    rows = monthly[monthly["priority"] == scope] if scope else monthly
    profile = fs.spend_profile(rows, view.data.through, state[K_GRAIN] or "month")
    table = fc.profile_table(profile)
    chart, data = st.columns([3, 2])
    with chart:
        show_chart(fc.profile_figure(profile, bool(state.get(K_CUMULATIVE))),
                   "fund_profile_chart")
    with data:
        show_table(table, key="fund_profile",
                   file_name=f"fund_spend_profile_{_slug(settings.fy)}_{state[K_GRAIN]}.csv")
    through = view.data.through
    if view.summary.is_closed:
        recorded = "The year has ended: all its spend is recorded."
    elif through is not None:
        recorded = (f"Spend is recorded to {ui.fmt_month(through)}; later periods show the "
                    "profile only.")
    else:
        recorded = "No spend is recorded yet."
    st.caption("Bars: spend recorded; dashed line with diamonds: the profile (planned spend). "
               + recorded)


def render_returns(view: FundYearView, settings: FundSettings) -> None:
    """Each return to the OPCC with its status as at a day, and the next deadline."""
    key = f"{K_RETURNS_AS_AT}{settings.fy}"
    default = report_date(settings.fy, view.data.returns, settings.today)
    st.session_state.setdefault(key, default)
    cols = st.columns([2, 5], vertical_alignment="bottom")
    cols[0].date_input("Status as at", key=key, format="DD/MM/YYYY",
                       help="Today for a running year; for a year that has ended, its year-end "
                            "report date.")
    closed_note = (f"{ui.fmt_day(default)} is the {view.summary.financial_year} year-end report "
                   "date." if view.summary.is_closed else "")
    cols[1].caption(
        "On time / Late (days after the due date) for submitted returns; Overdue (days since "
        "due) or Outstanding (not yet due) for the rest. " + closed_note)
    table = fc.returns_table(view.returns)
    if table.empty:
        st.info("No returns are recorded for this year.", icon=":material/info:")
        return
    show_table(table, key="fund_returns",
               file_name=f"fund_opcc_returns_{_slug(settings.fy)}.csv")
    submitted = int(table["Submitted"].notna().sum())
    late = int((view.returns["status"] == "Late").sum())
    line = f"{submitted} of {len(table)} submitted, {late} late."
    nxt = view.next_return
    if nxt is not None:
        days = nxt["days_to_go"]
        line += (f" Next deadline: **{plain(nxt['name'])}**, "
                 f"due {ui.fmt_day(nxt['due_date'])} "
                 f"({'today' if days == 0 else f'in {days} days'}).")
    st.markdown(line)


def render_decisions(view: FundYearView, settings: FundSettings) -> None:
    """The decisions register: every bid, its decision and why; searchable."""
    state = st.session_state
    cols = st.columns([4, 3, 2], vertical_alignment="bottom")
    cols[0].text_input("Search the register", key=K_SEARCH, max_chars=100,
                       placeholder="Words in a bid, provider, reason or outcome",
                       help="Finds the text anywhere in the bid's name, priority, LCSP, "
                            "provider, decision, reason or outcome (any case; % and _ are "
                            "ordinary characters).")
    cols[2].toggle("All years", key=K_ALL_YEARS,
                   help="Search every fund year: the partnership's corporate memory.")
    all_years = bool(state.get(K_ALL_YEARS))
    register = cached(fq.load_decisions, fy_start=None if all_years else settings.fy)
    decisions = sorted(register["decision"].dropna().unique())
    kept = [d for d in state.get(K_DECISIONS, []) if d in decisions]
    if kept != state.get(K_DECISIONS):
        state[K_DECISIONS] = kept
    cols[1].multiselect("Decision", decisions, key=K_DECISIONS, placeholder="Any decision",
                        format_func=str.capitalize)
    found = fs.search_decisions(register, state.get(K_SEARCH, ""),
                                decisions=state[K_DECISIONS] or None)
    table = fc.register_table(found, view.lcsp_names)
    scope = "all years" if all_years else view.summary.financial_year
    show_table(table, key="fund_register",
               file_name=f"fund_decisions_{'all_years' if all_years else _slug(settings.fy)}.csv",
               caption=f"{len(table)} of {len(register)} bids ({scope}). Decided by: PDG = "
                       "Partnership Delivery Group (bids under £100k), Board = the executive "
                       "board (£100k and over).")


def render_years(view: FundYearView, settings: FundSettings) -> None:
    """Allocation and outturn per year and priority."""
    table = fs.multi_year_table(cached(fq.load_multi_year), settings.today)
    if table.empty:
        st.info("No fund years with allocations are loaded.", icon=":material/info:")
        return
    by_year, detail = fc.multi_year_tables(table)
    chart, data = st.columns([3, 2])
    with chart:
        show_chart(fc.multi_year_figure(by_year), "fund_years_chart")
    with data:
        show_table(by_year, key="fund_years_totals", file_name="fund_all_years.csv")
    st.subheader("Per year and priority")
    show_table(detail, key="fund_years_detail", file_name="fund_all_years_by_priority.csv",
               caption="A running year's outturn is a forecast: spend to date plus the profile "
                       "still to come.")


RENDER = {
    "summary": render_summary,
    "priorities": render_priorities,
    "projects": render_projects,
    "profile": render_profile,
    "returns": render_returns,
    "decisions": render_decisions,
    "years": render_years,
}


# --- import -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DryRun:
    """The outcome of checking an uploaded file without writing it."""

    rows: int
    problems: tuple[fund_import.ImportProblem, ...]


def dry_run(file_name: str, data: bytes, kind: str) -> DryRun:
    """Read and check every row of the file against the loaded projects; writes nothing."""
    try:
        table = fund_import.read_fund_file(file_name, data, kind)
    except fund_import.FundImportError as exc:
        return DryRun(0, tuple(exc.problems))
    seems = fund_import.detect_kind(table.header)
    if seems is not None and seems != kind:
        return DryRun(len(table.rows), (fund_import.ImportProblem(
            file_name, 1, None, f"this looks like a {seems} file (chosen: {kind}); choose "
                                f"'{IMPORT_KINDS[seems]}' above"),))
    # The importer's own row checks, on the read-only engine (no write transaction needed).
    with connection.get_engine().connect() as conn:
        problems = fund_import.validate_fund_rows(conn, file_name, table, kind)
    return DryRun(len(table.rows), tuple(problems))


def problems_table(problems) -> pd.DataFrame:
    """Every problem found: file, row, column, problem."""
    return pd.DataFrame({
        "File": [p.file for p in problems],
        "Row": pd.array([p.row for p in problems], dtype="Int64"),
        "Column": [p.column or "" for p in problems],
        "Problem": [p.problem for p in problems],
    })


def run_import(file_name: str, data: bytes, kind: str) -> fund_import.ImportResult:
    """Load the file in one all-or-nothing write; the next run reads the new data."""
    with write_transaction(connection.current_url()) as conn:
        result = fund_import.import_fund_file(conn, file_name, data, kind, loaded_by=LOADED_BY)
    connection.clear_caches()
    return result



def _checked(file_name: str, data: bytes, kind: str) -> DryRun:
    """The dry run, once per file, kind and data generation (reruns reuse it)."""
    token = (hashlib.sha256(data).hexdigest(), file_name, kind, connection.generation())
    held = st.session_state.get(K_IMPORT_CHECKED)
    if held is not None and held[0] == token:
        return held[1]
    result = dry_run(file_name, data, kind)
    st.session_state[K_IMPORT_CHECKED] = (token, result)
    return result


def render_import() -> None:
    """Import spend or allocations from the finance team's CSV or XLSX, with a dry run."""
    state = st.session_state
    done = state.pop(K_IMPORT_DONE, None)
    with st.expander("Import spend or allocations", icon=":material/upload_file:",
                     expanded=done is not None):
        if done is not None:
            st.success(done, icon=":material/check_circle:")
        st.markdown(
            "Load the finance team's spreadsheet: **spend** (one row per project and month) or "
            "**allocations** (one row per project and source of funding). Every row is checked "
            "first and every problem listed; nothing is written unless the whole file is "
            "right. Loading the same file again replaces the same rows, so figures do not "
            "double.")
        state.setdefault(K_IMPORT_KIND, "spend")
        kind = st.radio("The file holds", tuple(IMPORT_KINDS), key=K_IMPORT_KIND,
                        format_func=IMPORT_KINDS.get, horizontal=True)
        docs = pd.DataFrame(fund_import.COLUMN_DOCS[kind],
                            columns=["Column", "Needed", "Meaning"])
        st.dataframe(docs, hide_index=True, width="stretch")
        cols = st.columns(2)
        # Empty templates (no data; the import itself is for administrators only).
        for col, fmt in zip(cols, ("csv", "xlsx")):
            col.download_button(
                f"Template ({fmt.upper()})",
                data=lambda f=fmt: fund_import.template_bytes(kind, f),
                file_name=f"fund_{kind}_template.{fmt}", key=f"fund_template_{fmt}",
                mime="text/csv" if fmt == "csv" else
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                icon=":material/download:", on_click="ignore")
        nonce = state.setdefault(K_IMPORT_NONCE, 0)
        uploaded = st.file_uploader("Spend or allocations file (CSV or XLSX)",
                                    type=["csv", "xlsx"], key=f"fund_import_file_{nonce}",
                                    max_upload_size=fund_import.MAX_BYTES // (1024 * 1024))
        if uploaded is None:
            return
        data = uploaded.getvalue()
        checked = _checked(uploaded.name, data, kind)
        if checked.problems:
            count = len(checked.problems)
            st.error(f"Dry run: {plural(count, 'problem')} in {plain(uploaded.name)}; nothing "
                     "was imported. Correct the file and upload it again.",
                     icon=":material/error:")
            table = problems_table(checked.problems)
            st.dataframe(table, hide_index=True, width="stretch")
            csv_download(table, "fund_import_problems.csv", key="fund_import_problems_csv",
                         label="Download the problems (CSV)")
            return
        st.success(f"Dry run: {plain(uploaded.name)} is valid "
                   f"({plural(checked.rows, 'row')} checked). Nothing is written until you press "
                   "Import.", icon=":material/fact_check:")
        # The click is kept by a callback: a button's own return value does not always reach
        # a page script run through st.navigation (seen with AppTest).
        st.button("Import", key="fund_import_button", type="primary", icon=":material/upload:",
                  on_click=state.__setitem__, args=(K_IMPORT_REQUESTED, True))
        if not state.pop(K_IMPORT_REQUESTED, False):
            return
        try:
            with st.spinner("Importing…"):
                result = run_import(uploaded.name, data, kind)
        except fund_import.FundImportError as exc:
            st.error("The import was refused and nothing was written:",
                     icon=":material/error:")
            st.dataframe(problems_table(exc.problems), hide_index=True, width="stretch")
            return
        except eng.DatabaseFault as exc:  # read-only, or not answering: nothing was written
            logger.warning("fund import: %s", exc, exc_info=exc)
            st.error(f"The import could not be completed: {plain(str(exc))}",
                     icon=":material/cloud_off:")
            return
        except Exception:
            reference = uuid.uuid4().hex[:8]
            logger.exception("fund import failed (reference %s)", reference)
            st.error("The import failed and nothing was written. Try again in a moment; if it "
                     "keeps happening, tell the dashboard's administrator and quote reference "
                     f"**{reference}**.", icon=":material/error:")
            return
        state[K_IMPORT_DONE] = (
            f"Imported {plain(result.file_name)} ({IMPORT_KINDS[result.kind].lower()}): "
            f"{plural(result.rows_read, 'row')} read, {result.rows_added:,} added, "
            f"{result.rows_replaced:,} replaced (import {result.import_id}). The figures on "
            "this page include it.")
        state[K_IMPORT_NONCE] = nonce + 1  # a fresh uploader: the file is not loaded twice
        state.pop(K_IMPORT_CHECKED, None)
        st.rerun()  # draw the page again from the new data, with the summary above


# --- the page ---------------------------------------------------------------------------------

def render_fund_page() -> None:
    """The Community Safety Fund page: settings, data, then the open section."""
    st.title(TITLE)
    years_frame = cached(fq.load_fund_years)
    years = sorted((int(y) for y in years_frame["fy_start"]), reverse=True)
    if not years:
        st.info("No Community Safety Fund years are loaded yet. The fund's years, projects and "
                "allocations come with the partnership's data (see the README); spend and "
                "allocations for known projects can then be imported here.",
                icon=":material/info:")
        return
    restore_widget_values()
    today = dt.date.today()
    ignored = _apply_url(years)
    if ignored:
        st.warning("Some settings in the link were not used: " + "; ".join(ignored) + ".",
                   icon=":material/link_off:")
    downloads = auth.can("download")
    top = st.columns([2, 2, 2, 3] if downloads else [2, 4, 3], vertical_alignment="bottom")
    with top[0]:
        fy = show_year_select(years, today)
    state = st.session_state
    if state.get(K_SECTION) not in SECTION_SLUGS:
        state[K_SECTION] = SECTIONS["summary"]
    rule = current_rule()
    view = load_year_view(fy, today, rule)
    if view is None:
        st.info(f"No figures are loaded for {fy_label(fy)}.", icon=":material/info:")
        return
    if downloads:
        with top[1]:
            render_exports_button(view, "xlsx")
        with top[2]:
            render_exports_button(view, "csv")
    else:
        top[1].caption("Downloads of the financial return and tables are not part of your "
                       "role.")
    render_headline(view)
    # Tabs that track state draw only the open section: each run does one section's work.
    tabs = st.tabs(list(SECTIONS.values()), key=K_SECTION, on_change="rerun")
    settings = FundSettings(fy=fy, section=SECTION_SLUGS.get(state[K_SECTION], "summary"),
                            today=today, rule=rule)
    _write_url(settings)
    for slug, tab in zip(SECTIONS, tabs):
        if tab.open:
            with tab:
                RENDER[slug](view, settings)
    remember_widget_values()
    if auth.can("import"):  # a write to the database: administrators only
        render_import()


def render_exports_button(view: FundYearView, fmt: str) -> None:
    """One of the two financial-return downloads (XLSX or CSV), built only when clicked, for
    roles that may download (each click audited)."""
    slug = _slug(view.summary.fy_start)
    if fmt == "xlsx":
        ui.export_button(
            "Financial return (XLSX)",
            lambda: fc.financial_return_xlsx(view.summary, view.projects, view.returns),
            f"csf_financial_return_{slug}.xlsx", key="fund_export_xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            rows=len(view.projects),
            help="Summary, by priority, projects, carry-forward and OPCC returns; text a "
                 "spreadsheet could read as a formula is neutralised.")
    else:
        ui.export_button(
            "Financial return (CSV)",
            lambda: fc.financial_return_csv(view.summary, view.projects),
            f"csf_financial_return_{slug}.csv", key="fund_export_csv", mime="text/csv",
            rows=len(view.projects),
            help="One row per project; text a spreadsheet could read as a formula is "
                 "neutralised.")


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Community Safety Fund page"):
        render_fund_page()
