"""Tables and figures of the Community Safety Fund page: pure pandas and plotly, no Streamlit.

Tables carry the column names people read (money in whole pounds, in columns named "... (£)";
percentages as numbers 0-100 in columns named "% ..."). Figures are built, not drawn, and never
rely on colour alone: bars carry their amounts as text, series differ by pattern or line style
too, and flags are words with a glyph (▲ Overspend, ▼ Underspend). Colours are Okabe & Ito's
colour-blind-safe palette, as in ``pages/common/ui.py``.

Amounts in the headline are in thousands, as the partnership's annual report prints them:
:func:`fmt_k` (1,990,000 -> "£1,990k").
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kpis import exports
from kpis import fund_spend as fs
from kpis.periods import fy_label

# Okabe & Ito (2008): blue, orange, bluish green, vermillion.
ALLOCATION_COLOUR = "#0072B2"
PROFILE_COLOUR = "#E69F00"
SPEND_COLOUR = "#009E73"
DECREASE_COLOUR = "#D55E00"
GRID_COLOUR = "#D9D9D9"
NO_VALUE = "–"
FLAG_GLYPHS = {"Overspend": "▲ Overspend", "Underspend": "▼ Underspend", "": ""}


# --- formats ----------------------------------------------------------------------------------

def fmt_k(value: float | None) -> str:
    """Pounds in thousands as the annual report prints them: 1990000 -> "£1,990k"."""
    if value is None or pd.isna(value):
        return NO_VALUE
    sign = "-" if value < 0 else ""
    amount = abs(float(value))
    if amount < 1000:
        return f"{sign}£{amount:,.0f}"
    return f"{sign}£{amount / 1000:,.0f}k"


def fmt_k_signed(value: float) -> str:
    """A change in thousands with its sign: "+£146k", "-£29k", "£0"."""
    if not value:
        return fmt_k(0)
    return ("+" if value > 0 else "") + fmt_k(value)


def pct_number(share: pd.Series) -> pd.Series:
    """A share (0.773) as a percentage number (77.3) for a "%" column; missing stays missing."""
    return (pd.to_numeric(share, errors="coerce") * 100).round(1)


def lcsp_label(code: object, names: dict[str, str]) -> str:
    """An LCSP's name from its code; projects for the whole partnership are "City-wide"."""
    if code is None or pd.isna(code) or code == "":
        return fs.NO_LCSP
    return names.get(code, str(code))


def breakdown_line(s: fs.YearSummary) -> str:
    """The sums behind the headline (markdown): resources and the carry-forward requested."""
    grant = f"{fmt_k(s.grant_for_allocation)} grant"
    if s.top_slice:
        grant += f" ({fmt_k(s.grant_before_top_slice)} less {fmt_k(s.top_slice)} top-slice)"
    carry = f"{fmt_k(s.carry_forward_approved)} carry-forward approved"
    if s.carry_forward_top_slice:
        carry += (f" ({fmt_k(s.carry_forward_requested_in)} requested less "
                  f"{fmt_k(s.carry_forward_top_slice)} OPCC top-slice)")
    line = f"**Resources** {fmt_k(s.resources)} = {grant} + {carry}."
    if s.requested_carry_forward:
        parts = [f"{fmt_k(s.project_carry_forward_requests)} for projects"]
        if s.is_closed and s.unallocated > 0:
            parts.append(f"{fmt_k(s.unallocated)} unallocated")
        line += (f" **Carry-forward requested** to {fy_label(s.fy_start + 1)}: "
                 + " + ".join(parts) + ".")
    return line


# --- tables -----------------------------------------------------------------------------------

def _outturn_column(closed: bool) -> str:
    return "Outturn (£)" if closed else "Forecast outturn (£)"


def _group_table(out: pd.DataFrame, label: str, names, closed: bool) -> pd.DataFrame:
    # What a reader scans first (allocation, spend, outturn, flag) comes first.
    return pd.DataFrame({
        label: list(names),
        "Allocation (£)": out["allocation"],
        "Spent (£)": out["spent_to_date"],
        "% spent": pct_number(out["pct_spent"]),
        _outturn_column(closed): out["forecast_outturn"],
        "Variance (£)": out["variance"],
        "Flag": out["flag"].map(FLAG_GLYPHS),
        "Projects": out["n_projects"],
        "Projects flagged": out["n_flagged"],
        "Profile to date (£)": out["profile_to_date"],
        "Carry-forward allocation (£)": out["allocation_carry_forward"],
        "New allocation (£)": out["allocation_new"],
        "Carry-forward requested (£)": out["carry_forward_request"],
    })


def priority_table(projects: pd.DataFrame, rule: fs.FlagRule, closed: bool) -> pd.DataFrame:
    """Per priority and a Total row: allocation (by source), spend, outturn, variance, flag.

    ``projects`` is :func:`kpis.fund_spend.compute_project_table`'s frame.
    """
    out = fs.summarise_by(projects, "priority", rule)
    return _group_table(out, "Priority", out["priority"], closed)


def lcsp_table(projects: pd.DataFrame, rule: fs.FlagRule, closed: bool,
               names: dict[str, str]) -> pd.DataFrame:
    """Per LCSP (devolved budgets and local projects), City-wide projects and a Total row."""
    out = fs.summarise_by(projects, "lcsp_code", rule)
    labels = [c if c in (fs.NO_LCSP, "Total") else lcsp_label(c, names) for c in out["lcsp_code"]]
    return _group_table(out, "LCSP", labels, closed)


def project_table(projects: pd.DataFrame, closed: bool, names: dict[str, str]) -> pd.DataFrame:
    """One row per funded project with its figures, flags and why."""
    p = projects
    yes = {True: "Yes", False: ""}
    return pd.DataFrame({
        "ID": p["project_id"],
        "Project": p["name"],
        "Priority": p["priority"],
        "LCSP": [lcsp_label(c, names) for c in p["lcsp_code"]],
        "Allocation (£)": p["allocation"],
        "Spent (£)": p["spent_to_date"],
        "% spent": pct_number(p["pct_spent"]),
        _outturn_column(closed): p["forecast_outturn"],
        "Variance (£)": p["variance"],
        "Flag": p["flag"].map(FLAG_GLYPHS),
        "Why flagged": p["flag_reason"],
        "Behind profile": p["behind_profile"].map(yes),
        "No spend last quarter": p["no_spend_last_quarter"].map(yes),
        "Profile to date (£)": p["profile_to_date"],
        "Carry-forward allocation (£)": p["allocation_carry_forward"],
        "New allocation (£)": p["allocation_new"],
        "Carry-forward requested (£)": p["carry_forward_request"],
        "Provider": p["provider"],
    })


def silent_projects_table(projects: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Projects with money left and nothing spent in the last three months of data."""
    silent = fs.no_spend_last_quarter(projects)
    return pd.DataFrame({
        "ID": silent["project_id"],
        "Project": silent["name"],
        "Priority": silent["priority"],
        "LCSP": [lcsp_label(c, names) for c in silent["lcsp_code"]],
        "Allocation (£)": silent["allocation"],
        "Spent (£)": silent["spent_to_date"],
        "Approved": silent["decision_date"],
    })


def carry_forward_table(projects: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Projects funded by carry-forward from the previous year and how far they have got."""
    cf = fs.carry_forward_completion(projects)
    return pd.DataFrame({
        "ID": cf["project_id"],
        "Project": cf["name"],
        "Priority": cf["priority"],
        "LCSP": [lcsp_label(c, names) for c in cf["lcsp_code"]],
        "Carried from project": cf["carried_from_project_id"],
        "Carry-forward (£)": cf["allocation_carry_forward"],
        "Spent from carry-forward (£)": cf["carry_forward_spent"],
        "Remaining (£)": cf["carry_forward_remaining"],
        "% complete": pct_number(cf["pct_complete"]),
        "Status": cf["status"],
    })


def waterfall_table(steps: pd.DataFrame) -> pd.DataFrame:
    """The waterfall's steps (:func:`kpis.fund_spend.waterfall_steps`): change, running total."""
    return pd.DataFrame({
        "Step": steps["step"],
        "Amount (£)": steps["amount"],
        "Running total (£)": steps["running_total"],
    })


def returns_table(status: pd.DataFrame) -> pd.DataFrame:
    """Each OPCC return (:func:`kpis.fund_spend.returns_status`): due, submitted, status."""
    return pd.DataFrame({
        "Return": status["name"],
        "Due": status["due_date"],
        "Submitted": status["submitted_date"],
        "Status": status["label"],
        "Days late": status["days_late"],
    })


def profile_table(profile: pd.DataFrame) -> pd.DataFrame:
    """Spend against profile per month or quarter (:func:`kpis.fund_spend.spend_profile`)."""
    return pd.DataFrame({
        "Period": profile["period"],
        "Spent (£)": profile["spent"],
        "Profile (£)": profile["profile"],
        "Cumulative spent (£)": profile["cumulative_spent"],
        "Cumulative profile (£)": profile["cumulative_profile"],
    })


def register_table(register: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The decisions register (``load_decisions``) as read: one row per bid."""
    return pd.DataFrame({
        "Year": register["financial_year"],
        "ID": register["project_id"],
        "Bid": register["name"],
        "Priority": register["priority"],
        "LCSP": [lcsp_label(c, names) for c in register["lcsp_code"]],
        "Provider": register["provider"],
        "Bid (£)": register["bid_amount"],
        "Allocated (£)": register["allocated"],
        "Decision": register["decision"].astype(object).map(
            lambda d: d.capitalize() if isinstance(d, str) else NO_VALUE),
        "Decided by": register["decision_body"],
        "Decision date": register["decision_date"],
        "Reason": register["decision_reason"],
        "Outcome evaluation": register["outcome_evaluation"],
    })


def multi_year_tables(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(totals per year, per year and priority) from :func:`kpis.fund_spend.multi_year_table`."""
    basis = {True: "Forecast", False: "Outturn"}
    detail = pd.DataFrame({
        "Year": table["financial_year"],
        "Priority": table["priority"],
        "Allocation (£)": table["allocation"],
        "Outturn (£)": table["outturn"],
        "Basis": table["is_forecast"].map(basis),
        "% of allocation": pct_number(table["pct_of_allocation"]),
    })
    totals = (table.groupby(["fy_start", "financial_year"], as_index=False)
              .agg(allocation=("allocation", "sum"), outturn=("outturn", "sum"),
                   is_forecast=("is_forecast", "any")))
    share = totals["outturn"] / totals["allocation"].where(totals["allocation"] != 0)
    by_year = pd.DataFrame({
        "Year": totals["financial_year"],
        "Allocation (£)": totals["allocation"].round(2),
        "Outturn (£)": totals["outturn"].round(2),
        "Basis": totals["is_forecast"].map(basis),
        "% of allocation": pct_number(share),
    })
    return by_year, detail


# --- the year's financial return --------------------------------------------------------------

def financial_return_xlsx(summary: fs.YearSummary, projects: pd.DataFrame,
                          returns: pd.DataFrame | None) -> bytes:
    """Workbook: Summary, By priority, Projects, Carry-forward, Returns (formula-safe)."""
    return exports.to_xlsx_bytes(fs.financial_return_sheets(summary, projects, returns))


def financial_return_csv(summary: fs.YearSummary, projects: pd.DataFrame) -> bytes:
    """The return's Projects sheet as CSV, one row per project (formula-safe)."""
    return exports.to_csv_bytes(fs.financial_return_sheets(summary, projects)["Projects"])


# --- figures ----------------------------------------------------------------------------------

def _layout(height: int, **extra) -> dict:
    """The dashboard's figure look (as ``ui.style_figure``), given once at construction."""
    layout = {
        "height": height,
        "margin": {"l": 8, "r": 8, "t": 40, "b": 8},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left",
                   "x": 0},
        "font": {"size": 14},
        "plot_bgcolor": "white",
        "hovermode": "x unified",
    }
    layout.update(extra)
    return layout


def _value_axis(**extra) -> dict:
    return {"tickprefix": "£", "tickformat": ",.0f", "gridcolor": GRID_COLOUR, "showgrid": True,
            "rangemode": "tozero", **extra}


def _category_axis(**extra) -> dict:
    return {"showgrid": False, "linecolor": "#595959", **extra}


def _bar(name: str, x, y, colour: str, pattern: str = "", text=None,
         orientation: str = "v") -> go.Bar:
    value = "x" if orientation == "h" else "y"
    return go.Bar(name=name, x=x, y=y, orientation=orientation, text=text,
                  textposition="outside", cliponaxis=False,
                  marker={"color": colour, "pattern": {"shape": pattern, "fillmode": "overlay",
                                                       "fgcolor": "#FFFFFF"}},
                  hovertemplate=f"{name}: £%{{{value}:,.0f}}<extra></extra>")


def waterfall_figure(summary: fs.YearSummary, steps: pd.DataFrame) -> go.Figure:
    """Grant to outturn, each step labelled with its signed amount (not colour alone)."""
    labels = [fmt_k(a) if m != "relative" else fmt_k_signed(a)
              for a, m in zip(steps["amount"], steps["measure"])]
    # Room either side for the labels outside the longest bars.
    widest = max([0.0, *steps["running_total"], *steps["amount"].abs()])
    lowest = min([0.0, *steps["running_total"]])
    outturn = "outturn" if summary.is_closed else "forecast outturn"
    return go.Figure(
        go.Waterfall(
            orientation="h", y=steps["step"], x=steps["amount"], measure=steps["measure"],
            text=labels, textposition="outside", cliponaxis=False,
            increasing={"marker": {"color": SPEND_COLOUR}},
            decreasing={"marker": {"color": DECREASE_COLOUR}},
            totals={"marker": {"color": ALLOCATION_COLOUR}},
            connector={"line": {"color": "#8C8C8C", "width": 1}},
            hovertemplate="%{y}: £%{x:,.0f}<extra></extra>",
        ),
        layout=_layout(
            440, hovermode="closest", showlegend=False,
            title={"text": f"From grant to {outturn}, {summary.financial_year}",
                   "font": {"size": 15}},
            xaxis=_value_axis(range=[lowest * 1.22, widest * 1.22 or 1], rangemode="normal"),
            yaxis=_category_axis(autorange="reversed"),
        ),
    )


def priority_figure(table: pd.DataFrame) -> go.Figure:
    """Allocation, profile to date and spend per priority (:func:`priority_table`), the three
    told apart by pattern as well as colour."""
    rows = table[table["Priority"] != "Total"]
    names = rows["Priority"]
    return go.Figure(
        [
            _bar("Allocation", rows["Allocation (£)"], names, ALLOCATION_COLOUR, "",
                 [fmt_k(v) for v in rows["Allocation (£)"]], "h"),
            _bar("Profile to date", rows["Profile to date (£)"], names, PROFILE_COLOUR, "/",
                 None, "h"),
            _bar("Spent", rows["Spent (£)"], names, SPEND_COLOUR, ".",
                 [fmt_k(v) for v in rows["Spent (£)"]], "h"),
        ],
        layout=_layout(max(300, 110 * len(rows) + 80), barmode="group", hovermode="y unified",
                       xaxis=_value_axis(), yaxis=_category_axis(autorange="reversed")),
    )


def profile_figure(profile: pd.DataFrame, cumulative: bool) -> go.Figure:
    """Spend (bars) against profile (dashed line with diamonds), per period or running totals
    (:func:`kpis.fund_spend.spend_profile`)."""
    spent = profile["cumulative_spent"] if cumulative else profile["spent"]
    planned = profile["cumulative_profile"] if cumulative else profile["profile"]
    return go.Figure(
        [
            _bar("Spent", profile["period"], spent, SPEND_COLOUR),
            go.Scatter(name="Profile", x=profile["period"], y=planned, mode="lines+markers",
                       line={"color": PROFILE_COLOUR, "dash": "dash", "width": 3},
                       marker={"symbol": "diamond", "size": 9},
                       hovertemplate="Profile: £%{y:,.0f}<extra></extra>"),
        ],
        layout=_layout(360, xaxis=_category_axis(),
                       yaxis=_value_axis(title={"text": "Running total"} if cumulative
                                         else None)),
    )


def multi_year_figure(by_year: pd.DataFrame) -> go.Figure:
    """Allocation and outturn per year (:func:`multi_year_tables`); a running year's outturn is
    a forecast, named so on the axis."""
    years = [y + (" (forecast)" if b == "Forecast" else "")
             for y, b in zip(by_year["Year"], by_year["Basis"])]
    return go.Figure(
        [
            _bar("Allocation", years, by_year["Allocation (£)"], ALLOCATION_COLOUR, "",
                 [fmt_k(v) for v in by_year["Allocation (£)"]]),
            _bar("Outturn", years, by_year["Outturn (£)"], SPEND_COLOUR, "/",
                 [fmt_k(v) for v in by_year["Outturn (£)"]]),
        ],
        layout=_layout(360, barmode="group", xaxis=_category_axis(), yaxis=_value_axis()),
    )
