"""ASB seasonality calendar: where and when each type of anti-social behaviour can be expected to
rise in the coming year, what lines up with the rises, how far the calendar can be trusted, and
whether past peaks were reduced.

The 2016-18 plan asked for "an ASB seasonality calendar detailing where and when the identified
ASB types can be predicted to rise" (output CC3(e)) so that interventions (CC3(f)) could be
arranged in advance, measured by "reduced volume of ASB calls for service in peak periods
identified in the calendar". The maths is in :mod:`kpis.asb_seasonality`; the counts come from
:mod:`data_access.asb_queries` (aggregated in SQL). Page shape (STYLE): settings -> data ->
render. View-defining settings are mirrored in ``st.query_params`` under whitelisted keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import os
import shutil
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import asb_queries as q
from data_access import connection, queries
from data_access.connection import cached
from kpis import asb_seasonality as seas
from kpis.exports import safe_frame_for_export
from kpis.text_safety import code_span, plain
from pages.common import shell, ui
from pages.common.data_warnings import render_data_warnings
from pages.common.shell import Filters

logger = logging.getLogger("csp_dashboard")
ROOT = Path(__file__).resolve().parent.parent

# Session keys carry the page's name; query keys are the only ones this page reads or writes.
K_SOURCE = "asb_calendar_source"
K_ROWS = "asb_calendar_rows"
K_TYPE = "asb_calendar_type"
K_GRAIN = "asb_calendar_grain"
K_THRESHOLD = "asb_calendar_threshold"
K_PRINT = "asb_calendar_print"
K_SYNCED = "asb_calendar_synced_params"
QUERY_KEYS = ("asb_source", "asb_rows", "asb_type", "asb_grain", "asb_threshold", "asb_print")

ALL_TYPES = ""  # the "All ASB" choice of the type box
ALL_ASB = "All ASB"
ROW_CHOICES = {"types": "ASB types", "areas": "Areas"}
GRAIN_CHOICES = {"week": "Weeks", "month": "Months"}
THRESHOLDS = tuple(round(1.05 + 0.05 * i, 2) for i in range(10))  # 1.05 .. 1.50
BACKTEST_YEARS = 3
SOURCE_NAMES = {
    "asb": "Partners' ASB calls and cases",
    "council_asb": "Council ASB cases",
    "police_calls": "Police calls for service",
    "police_uk": "police.uk (monthly)",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
RISE = ui.UP
# Blue (below average) - light grey - vermillion (above): Okabe-Ito ends, safe for every common
# colour-vision deficiency; rises are marked with a symbol as well.
DIVERGING = [[0.0, ui.OKABE_ITO["blue"]], [0.5, "#F2F2F2"], [1.0, ui.OKABE_ITO["vermillion"]]]
SEQUENTIAL = [[0.0, "#F2F7FB"], [0.5, "#56B4E9"], [1.0, "#00365A"]]
INDEX_SPAN = 0.5  # the colour scale runs from 0.5 to 1.5 so views are comparable
EVENT_STYLE = {  # kind: (row label, colour, marker) - the row label names the kind, not colour
    "school_holiday": ("School holidays", ui.OKABE_ITO["bluish_green"], "square"),
    "local_event": ("Local events", ui.OKABE_ITO["reddish_purple"], "diamond"),
    "bank_holiday": ("Bank holidays", ui.OKABE_ITO["black"], "circle"),
}
PRINT_CSS = """
<style>
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  [data-testid="stSidebar"], [data-testid="stHeader"], [data-testid="stToolbar"],
  [data-testid="stDownloadButton"], [data-testid="stElementToolbar"], .st-key-asb_calendar_settings,
  .st-key-asb_calendar_screen_only { display: none !important; }
  .block-container { padding: 0 !important; max-width: 100% !important; }
}
</style>
"""


def type_label(subcategory: str) -> str:
    """"vehicle_nuisance" -> "Vehicle nuisance"; "" (no type given) -> "All ASB"."""
    text = str(subcategory or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else ALL_ASB


def source_label(source: str) -> str:
    """A reader's name for a data source."""
    return SOURCE_NAMES.get(source, str(source).replace("_", " ").capitalize())


# --- settings -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CalendarSettings:
    """What the user chose (widgets and link only)."""

    source: str
    source_grain: str  # day (dated) | month (police.uk)
    has_hours: bool
    grain: str  # the calendar's grain: week | month
    rows: str  # types | areas
    asb_type: str  # "" = all ASB
    threshold: float
    printable: bool


def _nearest_threshold(text: str) -> float:
    value = float(text)
    if not THRESHOLDS[0] - 1e-9 <= value <= THRESHOLDS[-1] + 1e-9:
        raise ValueError("outside the range")
    return min(THRESHOLDS, key=lambda t: abs(t - value))


def _ignored(key: str, params: dict[str, str], expected: str) -> str:
    """A note on a value from the link that was not used: the key, the value (quoted, cut
    short) and what it should have been."""
    return f"{key}={code_span(params[key])} ({expected})"


def _apply_link(sources: pd.DataFrame) -> tuple[list[str], str | None]:
    """Set the page's state from the link when it differs from what the page last wrote.

    Returns the keys ignored and the ASB type asked for (checked once the source's types are
    known).
    """
    params = {k: st.query_params[k] for k in QUERY_KEYS if k in st.query_params}
    if not params or params == st.session_state.get(K_SYNCED):
        return [], None
    state, ignored = st.session_state, []
    if "asb_source" in params:
        if params["asb_source"] in set(sources["source"]):
            state[K_SOURCE] = params["asb_source"]
        else:
            ignored.append(_ignored("asb_source", params, "not a source of ASB data"))
    if "asb_rows" in params:
        if params["asb_rows"] in ROW_CHOICES:
            state[K_ROWS] = params["asb_rows"]
        else:
            ignored.append(_ignored("asb_rows", params, f"one of {', '.join(ROW_CHOICES)}"))
    if "asb_grain" in params:
        if params["asb_grain"] in GRAIN_CHOICES:
            state[K_GRAIN] = params["asb_grain"]
        else:
            ignored.append(_ignored("asb_grain", params, f"one of {', '.join(GRAIN_CHOICES)}"))
    if "asb_threshold" in params:
        try:
            state[K_THRESHOLD] = _nearest_threshold(params["asb_threshold"])
        except ValueError:
            ignored.append(_ignored("asb_threshold", params, f"a number from {THRESHOLDS[0]:.2f} "
                                    f"to {THRESHOLDS[-1]:.2f}"))
    if "asb_print" in params:
        if params["asb_print"] in ("0", "1"):
            state[K_PRINT] = params["asb_print"] == "1"
        else:
            ignored.append(_ignored("asb_print", params, "0 or 1"))
    asked_type = params.get("asb_type", ALL_TYPES)[:80]
    state[K_TYPE] = asked_type
    return ignored, asked_type


def show_settings(sources: pd.DataFrame) -> CalendarSettings:
    """The page's own controls (the area and period come from the sidebar)."""
    ignored, asked_type = _apply_link(sources)
    state = st.session_state
    codes = list(sources["source"])
    # The finest grain first: a dated source is the default when there is one.
    default = next((c for c in codes if sources.set_index("source").loc[c, "grain"] == "day"),
                   codes[0])
    if state.get(K_SOURCE) not in codes:
        state[K_SOURCE] = default
    state.setdefault(K_ROWS, "types")
    state.setdefault(K_THRESHOLD, seas.DEFAULT_THRESHOLD)
    if state.get(K_THRESHOLD) not in THRESHOLDS:
        state[K_THRESHOLD] = seas.DEFAULT_THRESHOLD

    with st.container(key="asb_calendar_settings"):
        c1, c2, c3, c4, c5 = st.columns([1.8, 1, 1.4, 1, 1.4])
        source = c1.selectbox("Data", codes, key=K_SOURCE, format_func=source_label,
                              help="police.uk gives the month only; partners' data has the day "
                                   "and time, so its calendar can go week by week.")
        info = sources.set_index("source").loc[source]
        types = cached(q.load_asb_types, source=source)
        type_codes = [ALL_TYPES] + [t for t in types["subcategory"] if t]
        if state.get(K_TYPE) not in type_codes:
            # A type from a link that this source lacks is reported; a type left over from
            # another source is quietly reset.
            if asked_type:
                ignored.append(f"asb_type={code_span(asked_type)} (not an ASB type of this "
                               "source)")
            state[K_TYPE] = ALL_TYPES
        rows = c2.radio("Rows", tuple(ROW_CHOICES), key=K_ROWS, format_func=ROW_CHOICES.get,
                        horizontal=True, help="One row per ASB type, or per area for one type.")
        asb_type = c3.selectbox("ASB type", type_codes, key=K_TYPE, format_func=type_label,
                                help="Narrows the area rows, the day calendar and the hours.")
        if info["grain"] == "day":
            if state.get(K_GRAIN) not in GRAIN_CHOICES:
                state[K_GRAIN] = "week"
            grain = c4.radio("Columns", tuple(GRAIN_CHOICES), key=K_GRAIN,
                             format_func=GRAIN_CHOICES.get, horizontal=True)
        else:
            grain = "month"
            c4.markdown("**Columns**")
            c4.caption("Months: this source gives the month only.")
        threshold = c5.select_slider(
            "Rise threshold", THRESHOLDS, key=K_THRESHOLD, format_func=lambda t: f"{t:.2f}",
            help="A period is a predicted rise when its seasonal index is at least this (1.15 = "
                 "15% above an average period) and the rise is unlikely to be chance.")
        printable = st.toggle("Printable one-page view", key=K_PRINT,
                              help="A compact page for an LCSP meeting: print it with the "
                                   "browser (Ctrl+P), A4 landscape.")
    if ignored:
        st.warning("Some settings in the link were not used: " + "; ".join(ignored) + ".",
                   icon=":material/link_off:")
    settings = CalendarSettings(
        source=source, source_grain=str(info["grain"]), has_hours=bool(info["has_hours"]),
        grain=seas.calendar_grain(str(info["grain"])) if grain not in GRAIN_CHOICES else grain,
        rows=rows, asb_type=asb_type, threshold=float(threshold), printable=bool(printable),
    )
    _write_link(settings)
    return settings


def _write_link(settings: CalendarSettings) -> None:
    params = {"asb_source": settings.source, "asb_rows": settings.rows,
              "asb_grain": settings.grain, "asb_threshold": f"{settings.threshold:.2f}"}
    if settings.asb_type:
        params["asb_type"] = settings.asb_type
    if settings.printable:
        params["asb_print"] = "1"
    shell.sync_query_params(params, QUERY_KEYS, K_SYNCED)


# --- data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalendarData:
    """Small aggregated frames for one view."""

    source: pd.Series  # the source's row of load_asb_sources
    counts: pd.DataFrame  # period, row, n: all history at the calendar grain
    row_order: tuple[str, ...]
    incomplete: tuple[pd.Timestamp, ...]
    events: pd.DataFrame  # the events table over the history and the coming year
    daily: pd.DataFrame | None  # period, n over the sidebar period (dated sources only)
    hours: pd.DataFrame | None  # weekday, hour, n over the sidebar period (timed sources)
    hours_area: str  # the area the hours describe
    area_names: dict[str, str]


def _area(filters: Filters) -> dict[str, str | None]:
    return {"lcsp_code": filters.lcsp, "ward_code": filters.ward}


def load_calendar_data(settings: CalendarSettings, filters: Filters,
                       lcsp_names: dict[str, str]) -> CalendarData:
    """Ask the database for the counts, events and incomplete months this view needs."""
    source = cached(q.load_asb_sources).set_index("source").loc[settings.source]
    area = _area(filters)
    types = (settings.asb_type,) if settings.asb_type else None
    membership = cached(queries.load_ward_membership, fy_start=filters.membership_fy)
    names = dict(lcsp_names)
    names.update(zip(membership["ward_code"], membership["ward_name"]))
    if settings.rows == "types":
        raw = cached(q.load_asb_counts, source=settings.source, grain=settings.grain,
                     by="subcategory", **area)
        # Rows with no type (police.uk has none) count in the total row only.
        parts = raw[raw["subcategory"] != ""]
        parts = parts.assign(row=parts["subcategory"].map(type_label))
        total_label = ALL_ASB
    else:
        raw = cached(q.load_asb_counts, source=settings.source, grain=settings.grain,
                     by="area", subcategories=types, **area)
        # "Not located" counts in the total row only.
        parts = raw[raw["area_code"] != ""]
        parts = parts.assign(row=parts["area_code"].map(lambda c: names.get(c, c)))
        total_label = f"{type_label(settings.asb_type)}, {filters.area_label}"
    order = list(parts.groupby("row")["n"].sum().sort_values(ascending=False).index)
    total = raw.groupby("period", as_index=False)["n"].sum().assign(row=total_label)
    # A single row that already holds every incident needs no total row above it.
    same = len(order) == 1 and parts["n"].sum() == raw["n"].sum()
    frames = [parts[["period", "row", "n"]]] if same else [total, parts[["period", "row", "n"]]]
    counts = pd.concat(frames, ignore_index=True)
    row_order = tuple(order if same else [total_label, *order])

    incomplete = tuple(cached(q.load_incomplete_months, source=settings.source)["month_start"])
    first = pd.Timestamp(source["first_date"]).date()
    last = pd.Timestamp(source["last_date"]).date()
    events = cached(q.load_asb_events, start=first, end=last + dt.timedelta(days=400),
                    kinds=seas.DRIVER_KINDS, area_code=filters.ward or filters.lcsp)

    daily = hours = None
    period = filters.period
    if settings.source_grain == "day":
        daily = cached(q.load_asb_counts, source=settings.source, grain="day",
                       start=period.start, end=period.end, subcategories=types, by="none",
                       **area)
    hours_area = filters.area_label
    if settings.has_hours:
        hours = cached(q.load_asb_hour_weekday, source=settings.source, start=period.start,
                       end=period.end, lcsp_code=filters.lcsp, subcategories=types)
        if filters.ward:
            hours_area = f"{filters.lcsp_name} LCSP (times are held by LCSP, not ward)"
    return CalendarData(source, counts, row_order, incomplete, events, daily, hours, hours_area,
                        names)


# --- compute ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalendarView:
    """Everything the page draws, computed from :class:`CalendarData`."""

    calendar: seas.Calendar
    backtest: seas.Backtest
    table: pd.DataFrame  # calendar rows (row, period, index, expected, ..., events)
    events_ahead: pd.DataFrame  # the named drivers in the calendar's year
    drivers: pd.DataFrame  # predicted rises x events
    driver_summary: pd.DataFrame
    performance: pd.DataFrame  # peak-period performance by row and year
    hour_profile: pd.DataFrame | None


def compute_view(data: CalendarData, settings: CalendarSettings) -> CalendarView:
    """Calendar, back-test, drivers and peak-period performance for one view (pure)."""
    window = {
        "data_start": pd.Timestamp(data.source["first_date"]),
        "data_end": pd.Timestamp(data.source["last_date"]),
        "incomplete_months": list(data.incomplete),
    }
    calendar = seas.build_calendar(data.counts, settings.grain, group_cols=["row"],
                                   threshold=settings.threshold, **window)
    # Rows in the page's order (the total first, then by volume), not alphabetical.
    rank = {row: n for n, row in enumerate(data.row_order)}
    ordered = (calendar.table.assign(_rank=calendar.table["row"].map(rank))
               .sort_values(["_rank", "period_start"], kind="stable").drop(columns="_rank")
               .reset_index(drop=True))
    calendar = replace(calendar, table=ordered)
    backtest = seas.backtest(data.counts, settings.grain, group_cols=["row"],
                             threshold=settings.threshold, max_windows=BACKTEST_YEARS, **window)
    table = calendar.table
    if len(table):
        start, end = table["period_start"].min(), table["period_end"].max()
        ahead = seas.driver_events(data.events, start.date(), end.date())
    else:
        ahead = seas.driver_events(None, dt.date.today(), dt.date.today())
    table = seas.annotate_events(table, settings.grain, ahead) if len(table) else table
    drivers = seas.peak_drivers(calendar, ahead, ["row"])
    hour_profile = (seas.hour_weekday_profile(data.hours, settings.threshold)
                    if data.hours is not None and data.hours["n"].sum() > 0 else None)
    performance = _in_row_order(seas.peak_performance(backtest, ["row"]), rank)
    backtest = replace(backtest, accuracy=_in_row_order(backtest.accuracy, rank))
    return CalendarView(calendar, backtest, table, ahead, drivers, seas.driver_summary(drivers),
                        performance, hour_profile)


def _in_row_order(frame: pd.DataFrame, rank: dict[str, int]) -> pd.DataFrame:
    """``frame`` sorted by the page's row order, keeping each row's years in time order."""
    if frame.empty:
        return frame
    return (frame.assign(_rank=frame["row"].map(rank)).sort_values("_rank", kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


@st.cache_data(ttl=connection.CACHE_TTL_SECONDS, max_entries=64, show_spinner=False)
def _cached_view_fields(_data: CalendarData, _settings: CalendarSettings, key: tuple) -> tuple:
    # Keyed by the view's parameters (and the data generation): the frames themselves are not
    # hashed. The back-test refits the calendar once per past year and type, about 0.3 s. A
    # tuple is cached, not the CalendarView: Streamlit runs this file as __main__, whose
    # classes pickle cannot find again.
    del key
    view = compute_view(_data, _settings)
    return tuple(getattr(view, f.name) for f in fields(CalendarView))


def cached_view(data: CalendarData, settings: CalendarSettings, filters: Filters) -> CalendarView:
    """:func:`compute_view` through a bounded cache keyed by the view's parameters."""
    return CalendarView(*_cached_view_fields(data, settings, view_key(settings, filters)))


def view_key(settings: CalendarSettings, filters: Filters) -> tuple:
    """Everything that defines a view's numbers, for the compute cache."""
    return (connection.generation(), connection.current_url(), settings.source, settings.grain,
            settings.rows, settings.asb_type, settings.threshold, filters.lcsp, filters.ward,
            filters.period.start, filters.period.end, filters.membership_fy)


def calendar_download(view: CalendarView, grain: str) -> pd.DataFrame:
    """The calendar as a table for people: one row per row x period."""
    t = view.table
    if t.empty:
        return pd.DataFrame(columns=["Row", "Period"])
    return pd.DataFrame({
        "Row": t["row"],
        "Period": t["label"],
        "Starts": t["period_start"].dt.date,
        "Ends": t["period_end"].dt.date,
        "Seasonal index": t["index"].round(3),
        "Band low (95%)": t["low"].round(3),
        "Band high (95%)": t["high"].round(3),
        "Years of data": t["years"],
        "Expected incidents": t["expected"].round(1),
        "Expected without the season": t["baseline"].round(1),
        "Extra from the season": t["extra"].round(1),
        "Predicted rise": np.where(t["is_rise"], f"{RISE} yes", "no"),
        "Events": t["events"],
    })


def performance_table(view: CalendarView, grain: str) -> pd.DataFrame:
    """Peak-period performance for people."""
    p = view.performance
    word = "weeks" if grain == "week" else "months"
    if p.empty:
        return pd.DataFrame(columns=["Row", "Year", f"Peak {word}", "Actual", "Expected",
                                     "Difference", "Difference %"])
    return pd.DataFrame({
        "Row": p["row"], "Year": p["window"], f"Peak {word}": p["peaks"],
        "Actual": p["actual"].round(0).astype(int), "Expected": p["expected"].round(0).astype(int),
        "Difference": p["difference"].round(0).astype(int),
        "Difference %": p["pct_difference"].round(3),
    })


def performance_sentence(view: CalendarView, row: str, grain: str) -> str:
    """The latest year's peak-period result for one row, in words."""
    p = view.performance
    p = p[p["row"] == row]
    word = "weeks" if grain == "week" else "months"
    if p.empty:
        return (f"No past calendar marked peak {word} for {row}, so there is no peak-period "
                "result to judge yet.")
    last = p.iloc[-1]
    direction = "fewer" if last["difference"] < 0 else "more"
    return (f"In {last['window']}, the {int(last['peaks'])} peak {word} that the calendar built "
            f"beforehand marked for {row} had {ui.fmt_int(last['actual'])} incidents against "
            f"{ui.fmt_int(last['expected'])} expected: {ui.fmt_int(abs(last['difference']))} "
            f"{direction} ({ui.fmt_pct(last['pct_difference'])}).")


def accuracy_text(view: CalendarView, first_row: str) -> str:
    """The back-test in words: the first row (the total) in full, then all rows pooled."""
    bt = view.backtest
    acc = bt.accuracy
    if acc.empty or len(acc["row"].unique()) == 1:
        return seas.describe_accuracy(bt)
    lead = replace(bt, accuracy=acc[acc["row"] == first_row],
                   periods=bt.periods[bt.periods["row"] == first_row])
    text = f"{first_row}: {seas.describe_accuracy(lead)}"
    pooled = seas.overall_accuracy(bt)
    if pooled["predicted"] and pooled["real"]:
        text += (f" Over all {len(acc['row'].unique())} rows: {pooled['hits']} of "
                 f"{pooled['predicted']} predicted rises were real peaks "
                 f"({pooled['precision']:.0%}), and {pooled['hits']} of {pooled['real']} real "
                 f"peaks were predicted ({pooled['recall']:.0%}); single types in small areas "
                 "are noisier than the total.")
    return text


def accuracy_table(view: CalendarView) -> pd.DataFrame:
    """Back-test precision and recall by row and year, for people."""
    a = view.backtest.accuracy
    if a.empty:
        return pd.DataFrame(columns=["Row", "Year", "Predicted rises", "Real peaks", "Both",
                                     "Precision", "Recall"])
    return pd.DataFrame({
        "Row": a["row"], "Year": a["window"], "Predicted rises": a["predicted"],
        "Real peaks": a["real"], "Both": a["hits"],
        "Precision": a["precision"].astype(float).round(2),
        "Recall": a["recall"].astype(float).round(2),
    })


# --- figures ------------------------------------------------------------------------------

def _hover(t: pd.DataFrame) -> list[str]:
    out = []
    for r in t.itertuples():
        band = (f" (95% band {r.low:.2f}–{r.high:.2f})" if np.isfinite(r.low)
                else " (too little history for a band)")
        rise = f"<br><b>{RISE} predicted rise</b>" if r.is_rise else ""
        events = f"<br>Events: {html.escape(r.events)}" if r.events else ""
        out.append(
            f"<b>{html.escape(str(r.row))}</b><br>{r.label}<br>Seasonal index {r.index:.2f}{band}"
            f"<br>Expected {r.expected:,.0f} incidents ({r.extra:+,.0f} from the season)"
            f"{rise}{events}"
        )
    return out


def calendar_figure(view: CalendarView, row_order: tuple[str, ...], grain: str,
                    threshold: float) -> go.Figure:
    """Rows x coming periods coloured by seasonal index, rises marked ▲, events above."""
    t = view.table
    rows = [r for r in row_order if r in set(t["row"])] or sorted(t["row"].unique())
    periods_ = sorted(t["period_start"].unique())
    # Cells are centred on the middle of their period so that event bars (real dates) line up.
    half = pd.Timedelta(days=3.5) if grain == "week" else pd.Timedelta(days=15)
    centres = [p + half for p in periods_]
    cells = t.assign(hover=_hover(t) if len(t) else []).set_index(["row", "period_start"])
    full = pd.MultiIndex.from_product([rows, periods_], names=["row", "period_start"])
    cells = cells.reindex(full)
    shape = (len(rows), len(periods_))
    z = cells["index"].to_numpy(dtype=float).reshape(shape)
    marks = cells["is_rise"].fillna(False).to_numpy(dtype=bool).reshape(shape)
    hover = cells["hover"].fillna("").to_numpy(dtype=object).reshape(shape)
    # Fixed pixel heights: the event strip keeps its three rows however few calendar rows. The
    # layout is written out whole (two stacked axes sharing x): make_subplots and one update
    # per shape cost more than the rest of the page.
    strip_px, rows_px, gap_px = 84, max(120, 30 * len(rows)), 8
    total = strip_px + rows_px + gap_px
    split = rows_px / total
    traces = _event_strip_traces(view.events_ahead)
    traces.append(go.Heatmap(
        z=z, x=centres, y=rows, xaxis="x2", yaxis="y2",
        zmin=1 - INDEX_SPAN, zmax=1 + INDEX_SPAN, zmid=1.0, colorscale=DIVERGING,
        text=np.where(marks, RISE, ""), texttemplate="%{text}",
        textfont={"size": 12, "color": "#000000"},
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        xgap=1, ygap=2, name="Seasonal index",
        colorbar={"title": {"text": "Seasonal index<br>(1.0 = average)"},
                  "tickvals": [0.5, 0.75, 1.0, 1.25, 1.5],
                  # A short calendar lends its colour bar the event strip's height too.
                  "len": split if len(rows) > 6 else 1.0, "y": 0, "yanchor": "bottom"},
    ))
    # School holidays drawn through the calendar as dotted outlines: no fill, so the cell colours
    # stay true.
    holidays = view.events_ahead[view.events_ahead["kind"] == "school_holiday"]
    shapes = [{
        "type": "rect", "xref": "x2", "yref": "y2 domain", "y0": 0, "y1": 1,
        "x0": ev.start_date - pd.Timedelta(hours=12), "x1": ev.end_date + pd.Timedelta(hours=12),
        "line": {"color": EVENT_STYLE["school_holiday"][1], "width": 1.5, "dash": "dot"},
        "fillcolor": "rgba(0,0,0,0)", "layer": "above",
    } for ev in holidays.itertuples()]
    word = "week" if grain == "week" else "month"
    layout = {
        "title": {"text": f"Seasonal index by {word}: {RISE} = predicted rise "
                          f"(index ≥ {threshold:.2f}, unlikely to be chance)",
                  "font": {"size": 15}},
        "height": total + 120, "hovermode": "closest", "showlegend": False,
        "margin": {"l": 8, "r": 8, "t": 48, "b": 8}, "plot_bgcolor": "white",
        "font": {"size": 13}, "shapes": shapes,
        "xaxis": {"anchor": "y", "matches": "x2", "showticklabels": False, "showgrid": False},
        "yaxis": {"domain": [split + gap_px / total, 1], "autorange": "reversed",
                  "showgrid": False, "categoryorder": "array",
                  "categoryarray": [v[0] for v in EVENT_STYLE.values()]},
        "xaxis2": {"anchor": "y2", "tickformat": "%b<br>%Y", "dtick": "M1",
                   "ticklabelmode": "period", "showgrid": False},
        "yaxis2": {"domain": [0, split], "autorange": "reversed"},
    }
    return go.Figure(data=traces, layout=layout)


def _event_strip_traces(events: pd.DataFrame) -> list[go.Scatter]:
    """Events as bars on three labelled rows (the label names the kind, not the colour)."""
    traces = []
    for kind, (label, colour, symbol) in EVENT_STYLE.items():
        part = events[events["kind"] == kind] if len(events) else events
        xs, texts = [], []
        for ev in part.itertuples():
            name = ev.name + (" (date assumed from last year)" if getattr(ev, "projected", False)
                              else "")
            span = f"{ev.start_date:%d %b} – {ev.end_date:%d %b %Y}"
            xs += [ev.start_date, ev.end_date + pd.Timedelta(hours=23), None]
            texts += [f"{html.escape(name)}<br>{span}"] * 2 + [None]
        traces.append(go.Scatter(
            x=xs or [None], y=[label] * max(len(xs), 1), mode="lines+markers",
            line={"color": colour, "width": 9},
            marker={"symbol": symbol, "size": 8, "color": colour},
            hovertext=texts or [None], hovertemplate="%{hovertext}<extra></extra>",
            name=label, connectgaps=False, xaxis="x", yaxis="y",
        ))
    return traces


def day_calendar_figure(daily: pd.DataFrame, title: str) -> go.Figure:
    """A GitHub-style year of days: weeks across, Monday to Sunday down, darker = more ASB."""
    d = daily.copy()
    d["week"] = seas.period_start(d["period"], "week")
    d["weekday"] = d["period"].dt.day_of_week
    grid = d.pivot(index="weekday", columns="week", values="n").reindex(index=range(7))
    weeks = pd.DatetimeIndex(grid.columns)
    # Every cell's date (weekday down, week across), formatted in one vectorised call.
    days = pd.DatetimeIndex((weeks.to_numpy()[None, :]
                             + np.arange(7)[:, None] * np.timedelta64(1, "D")).ravel())
    values = grid.to_numpy(dtype=float)
    counts = np.where(np.isfinite(values), values, 0).astype(int).ravel()
    hover = np.array([f"{day}: {n:,} incidents" if ok else f"{day}: no data" for day, n, ok in
                      zip(days.strftime("%a %d %b %Y"), counts, np.isfinite(values).ravel())],
                     dtype=object).reshape(values.shape)
    fig = go.Figure(go.Heatmap(
        z=values, x=list(weeks), y=list(WEEKDAYS),
        colorscale=SEQUENTIAL, zmin=0, zmax=max(1.0, float(np.nanmax(values, initial=0))),
        xgap=2, ygap=2, hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
        colorbar={"title": {"text": "Incidents"}},
    ))
    fig.update_layout(title={"text": title, "font": {"size": 15}}, height=270,
                      margin={"l": 8, "r": 8, "t": 44, "b": 8}, plot_bgcolor="white",
                      font={"size": 13})
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickformat="%b %Y", dtick="M1", showgrid=False)
    return fig


def hour_weekday_figure(profile: pd.DataFrame, title: str) -> go.Figure:
    """Hour x weekday index (1.0 = an average hour of the week), peaks marked ▲."""
    z = profile.pivot(index="weekday", columns="hour", values="index").reindex(index=range(7))
    n = profile.pivot(index="weekday", columns="hour", values="n").reindex(index=range(7))
    peak = profile.pivot(index="weekday", columns="hour", values="is_peak").reindex(
        index=range(7)).fillna(False).astype(bool)
    hours = [f"{h:02d}:00" for h in z.columns]
    hover = [[f"{WEEKDAYS[i]} {h:02d}:00–{h:02d}:59: {int(n.iat[i, j]):,} incidents, index "
              f"{z.iat[i, j]:.2f}" + (f" {RISE} peak" if peak.iat[i, j] else "")
              for j, h in enumerate(z.columns)] for i in range(7)]
    fig = go.Figure(go.Heatmap(
        z=z.to_numpy(dtype=float), x=hours, y=list(WEEKDAYS), zmin=0, zmax=2, zmid=1.0,
        colorscale=DIVERGING, xgap=1, ygap=1,
        text=np.where(peak.to_numpy(), RISE, ""), texttemplate="%{text}",
        textfont={"size": 11, "color": "#000000"},
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        colorbar={"title": {"text": "Index<br>(1.0 = average hour)"}},
    ))
    fig.update_layout(title={"text": title, "font": {"size": 15}}, height=320,
                      margin={"l": 8, "r": 8, "t": 44, "b": 8}, plot_bgcolor="white",
                      font={"size": 13})
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(dtick=2)
    return fig


# --- static images ------------------------------------------------------------------------

def image_export_available() -> bool:
    """Whether the server can render a chart to PNG (kaleido drives a Chromium browser)."""
    return bool(os.environ.get("BROWSER_PATH") or shutil.which("chromium")
                or Path("/usr/bin/chromium").exists())


def figure_png(fig: go.Figure, width: int = 1500) -> bytes:
    """The figure as a PNG (kaleido with the system Chromium; a few seconds)."""
    if not os.environ.get("BROWSER_PATH") and Path("/usr/bin/chromium").exists():
        os.environ["BROWSER_PATH"] = "/usr/bin/chromium"
    # A static export does not grow its margins to fit the axis labels as the browser does.
    labels = [str(v) for trace in fig.data for v in (trace.y if trace.y is not None else ())]
    left = 20 + 7 * max((len(v) for v in labels), default=10)
    static = go.Figure(fig).update_layout(margin={"l": left, "r": 20, "t": 60, "b": 70},
                                          font={"family": "Arial, sans-serif"})
    height = int(fig.layout.height or 500) + 60
    return static.to_image(format="png", width=width, height=height, scale=1)


def one_page_html(title: str, lines: list[str], fig: go.Figure, rises: pd.DataFrame) -> bytes:
    """A self-contained one-page summary (the chart as an embedded PNG) for printing or email."""
    try:
        image = base64.b64encode(figure_png(fig, width=1400)).decode("ascii")
        chart = f'<img alt="Seasonal calendar chart" src="data:image/png;base64,{image}">'
    except Exception:  # no browser for kaleido: the tables still tell the story
        logger.exception("calendar image for the one-page summary failed")
        chart = "<p><em>The chart image could not be made on this server.</em></p>"
    table = safe_frame_for_export(rises).to_html(index=False, escape=True, border=0)
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>@page {{ size: A4 landscape; margin: 10mm; }} body {{ font-family: Arial, sans-serif;
font-size: 11px; color: #1A1A1A; }} h1 {{ font-size: 18px; margin: 0 0 4px; }}
img {{ width: 100%; }} table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ccc; padding: 2px 6px; text-align: left; }}</style>
</head><body><h1>{html.escape(title)}</h1>{body}{chart}
<h2>Predicted rises</h2>{table}</body></html>"""
    return page.encode("utf-8")


# --- render -------------------------------------------------------------------------------

def _context_lines(data: CalendarData, view: CalendarView, settings: CalendarSettings,
                   filters: Filters) -> list[str]:
    t = view.table
    grain_word = "week" if settings.grain == "week" else "month"
    first = pd.Timestamp(data.source["first_date"]).date()
    last = pd.Timestamp(data.source["last_date"]).date()
    source_says = ("dated, so the calendar can go week by week" if settings.source_grain == "day"
                   else "the month only, so the calendar goes month by month")
    lines = [
        f"{filters.area_label} · {source_label(settings.source)}: {source_says}.",
        (f"Calendar by {grain_word} for {t['label'].iloc[0]} to {t['label'].iloc[-1]}, built from "
         f"{ui.fmt_day(first)} to {ui.fmt_day(last)}." if len(t) else "No calendar: no data."),
    ]
    incomplete = [m for m in data.incomplete
                  if pd.Timestamp(first) <= m <= pd.Timestamp(last)]
    if incomplete:
        shown = ", ".join(f"{m:%b %Y}" for m in incomplete)
        lines.append(f"Left out as incomplete at the source: {shown}.")
    return lines


def rises_table(view: CalendarView) -> pd.DataFrame:
    """Predicted rises with their expected extra incidents and the events they line up with."""
    r = view.calendar.rises()
    if r.empty:
        return pd.DataFrame(columns=["Row", "Period", "Seasonal index", "Expected incidents",
                                     "Extra from the season", "Events"])
    r = r.merge(view.table[["row", "period_start", "events"]], on=["row", "period_start"],
                how="left")
    return pd.DataFrame({
        "Row": r["row"], "Period": r["label"], "Seasonal index": r["index"].round(2),
        "Expected incidents": r["expected"].round(0).astype(int),
        "Extra from the season": r["extra"].round(0).astype(int),
        "Events": r["events"].fillna(""),
    })


def render_hotspot_links(view: CalendarView, settings: CalendarSettings, filters: Filters,
                         context: shell.DataContext) -> None:
    """Links to the hotspot map for the same ASB type and area: the sidebar period, and last
    year's biggest predicted peak."""
    if not (ROOT / "pages" / "hotspots.py").is_file():
        return
    # The hotspot map's own link keys: what to map ("cat:<source>:<category>" for the source's
    # ASB category, or the whole source) and the ASB type.
    categories = cached(q.load_asb_categories)
    mine = categories[categories["source"] == settings.source]
    what = (f"cat:{settings.source}:{mine['category'].iloc[0]}" if len(mine) == 1
            else f"source:{settings.source}")
    base = {"hotspots_what": what}
    if settings.asb_type:
        base["hotspots_asb_type"] = settings.asb_type
    if filters.lcsp:
        base["lcsp"] = filters.lcsp
    if filters.ward:
        base["ward"] = filters.ward
    what_label = type_label(settings.asb_type)
    # The same period as the sidebar, as the frame itself writes it (a financial year or months).
    period = {k: st.query_params[k] for k in ("fy", "from", "to") if k in st.query_params}
    same = {**base, **(period or {"from": f"{filters.month_from:%Y-%m}",
                                  "to": f"{filters.month_to:%Y-%m}"})}
    links = [(f"Hotspot map: {what_label}, {filters.period.label}", same)]
    row = ALL_ASB if settings.rows == "types" and not settings.asb_type else None
    if settings.rows == "types" and settings.asb_type:
        row = type_label(settings.asb_type)
    rises = view.calendar.rises()
    if row is not None:
        rises = rises[rises["row"] == row]
    if len(rises):
        top = rises.sort_values("extra", ascending=False).iloc[0]
        month = (top["period_start"] - pd.DateOffset(years=1)).date().replace(day=1)
        if month in context.months:
            peak = dict(base, **{"from": f"{month:%Y-%m}", "to": f"{month:%Y-%m}"})
            links.append((f"Hotspot map: {what_label} in {month:%B %Y}, a year before the biggest "
                          "predicted rise", peak))
    with st.container(key="asb_calendar_screen_only"):
        for label, params in links:
            st.page_link("pages/hotspots.py", label=plain(label), icon=":material/map:",
                         query_params=params)


def render_calendar(view: CalendarView, data: CalendarData, settings: CalendarSettings,
                    filters: Filters) -> go.Figure:
    """The forward calendar with its table and downloads; returns the figure."""
    fig = calendar_figure(view, data.row_order, settings.grain, settings.threshold)
    table = calendar_download(view, settings.grain)
    ui.chart_with_data(fig, safe_frame_for_export(table), key="asb_calendar_calendar",
                       file_name=f"asb_calendar_{settings.source}_{settings.grain}.csv")
    if image_export_available():
        ui.export_button(
            "Download chart (PNG)", lambda: figure_png(fig),
            f"asb_calendar_{settings.source}_{settings.grain}.png", mime="image/png",
            key="asb_calendar_png", icon=":material/image:",
        )
    return fig


def render_past(data: CalendarData, view: CalendarView, settings: CalendarSettings,
                filters: Filters) -> None:
    """The past by day (GitHub-style) and by hour of the week, for the sidebar period."""
    what = type_label(settings.asb_type)
    st.subheader(f"The past: {plain(what)}, {filters.period.label}")
    if data.daily is None:
        st.info("This source gives the month only (police.uk), so there is no day-by-day "
                "calendar or hour of the week. Choose partners' data above for those.",
                icon=":material/info:")
        return
    if data.daily.empty:
        st.info("No dated ASB in this period and area.", icon=":material/info:")
    else:
        daily = data.daily[["period", "n"]]
        fig = day_calendar_figure(daily, f"{what} by day, {filters.area_label}")
        table = pd.DataFrame({"Date": daily["period"].dt.date,
                              "Weekday": daily["period"].dt.day_name(), "Incidents": daily["n"]})
        ui.chart_with_data(fig, table, key="asb_calendar_days",
                           file_name="asb_by_day.csv",
                           caption="Days with no incidents are blank.")
    if view.hour_profile is None:
        st.info("No ASB with a known time in this period and area.", icon=":material/info:")
        return
    hp = view.hour_profile
    fig = hour_weekday_figure(hp, f"{what} by hour of the week, {data.hours_area}")
    table = pd.DataFrame({"Weekday": [WEEKDAYS[w] for w in hp["weekday"]],
                          "Hour": [f"{h:02d}:00" for h in hp["hour"]],
                          "Incidents": hp["n"].astype(int), "Index": hp["index"].round(2),
                          "Peak": np.where(hp["is_peak"], f"{RISE} yes", "no")})
    top = hp.sort_values("index", ascending=False).head(3)
    busiest = "; ".join(f"{WEEKDAYS[r.weekday]} {r.hour:02d}:00 ({r.index:.1f}x)"
                        for r in top.itertuples())
    ui.chart_with_data(fig, table, key="asb_calendar_hours", file_name="asb_by_hour.csv",
                       caption=f"Busiest hours: {busiest}. {RISE} marks hours above average "
                               "beyond chance.")


def render_performance(view: CalendarView, data: CalendarData, settings: CalendarSettings) -> None:
    """Did the peaks come down? Actual against expected in past peak periods."""
    st.subheader("Peak-period performance")
    st.caption("For each past year, the calendar was rebuilt from the years before it; its "
               "peak periods are compared with what then happened. Fewer incidents than "
               "expected in the peaks is what interventions aim for.")
    first_row = data.row_order[0] if data.row_order else ALL_ASB
    st.markdown(plain(performance_sentence(view, first_row, settings.grain)))
    table = performance_table(view, settings.grain)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"Difference %": st.column_config.NumberColumn(format="percent")})
    ui.download_button(safe_frame_for_export(table), "asb_peak_performance.csv",
                       key="asb_calendar_performance_download")


def render_method(view: CalendarView) -> None:
    """How the calendar is made, for analysts."""
    with st.expander("How the calendar is made"):
        st.markdown(
            "- **Seasonal index**: each period's count divided by a centred one-year moving "
            "average (the trend), averaged over the years and scaled so that an average period "
            "is 1.0. The 95% band comes from the spread between years or the Poisson noise of "
            "the counts, whichever is larger.\n"
            "- **Predicted rise**: index at least the threshold *and* significantly above 1.0 "
            "(one-sided test, false discovery rate 5% across the year), so that a flat series "
            "shows no rises.\n"
            "- **Expected incidents**: the last year's level with the season taken out, times "
            "the trend (capped at ±25% a year), times the seasonal index.\n"
            f"- **Back-test**: {view.backtest.definition}.\n"
            "- Months flagged incomplete at the source are left out, never counted as zero. "
            "Events dated only in earlier years are assumed to fall on the same dates a year on."
        )
        st.dataframe(accuracy_table(view), hide_index=True, width="stretch")


def render_asb_calendar_page() -> None:
    """The ASB seasonality calendar page."""
    filters = shell.current_filters()
    context = shell.current_context()
    st.title("ASB seasonality calendar")
    sources = cached(q.load_asb_sources)
    if sources.empty:
        st.info("No anti-social behaviour data is loaded, so there is no calendar to show.",
                icon=":material/info:")
        return
    settings = show_settings(sources)
    render_data_warnings([settings.source], filters.period)
    data = load_calendar_data(settings, filters, context.lcsps)
    if data.counts.empty:
        st.info(f"No ASB from {plain(source_label(settings.source))} in "
                f"{filters.area_label_md}.",
                icon=":material/info:")
        return
    view = cached_view(data, settings, filters)
    lines = _context_lines(data, view, settings, filters)
    accuracy = accuracy_text(view, data.row_order[0] if data.row_order else ALL_ASB)

    if settings.printable:
        render_printable(view, data, settings, filters, lines, accuracy)
        return
    # The lines name areas, ASB types and sources from the data: shown as text.
    st.markdown(" ".join(plain(line) for line in lines))
    st.info(f"**How far to trust it.** {plain(accuracy)}", icon=":material/fact_check:")
    st.subheader("The coming year")
    render_calendar(view, data, settings, filters)

    st.subheader("What lines up with the rises")
    rises = rises_table(view)
    if rises.empty:
        st.markdown(f"No period reaches the threshold of {settings.threshold:.2f} beyond chance "
                    "in this view. Lower the threshold to see smaller seasonal rises.")
    else:
        summary = view.driver_summary
        if len(summary):
            top = "; ".join(f"{plain(r.name)} ({r.rises})" for r in summary.head(4).itertuples())
            st.markdown(f"Events overlapping the most predicted rises (number of rises): {top}.")
        left, right = st.columns([5, 2])
        with left:
            st.dataframe(rises, hide_index=True, width="stretch",
                         column_config={"Events": st.column_config.TextColumn(width="large")})
            ui.download_button(safe_frame_for_export(rises), "asb_predicted_rises.csv",
                               key="asb_calendar_rises_download")
        with right:
            table = summary.rename(columns={"name": "Event", "kind": "Kind",
                                            "rises": "Rises"})
            table["Kind"] = table["Kind"].map(lambda k: EVENT_STYLE.get(k, (k,))[0])
            st.dataframe(table[["Event", "Rises", "Kind"]], hide_index=True, width="stretch")
    render_hotspot_links(view, settings, filters, context)
    render_past(data, view, settings, filters)
    render_performance(view, data, settings)
    render_method(view)


def render_printable(view: CalendarView, data: CalendarData, settings: CalendarSettings,
                     filters: Filters, lines: list[str], accuracy: str) -> None:
    """One page for an LCSP meeting: the calendar, its rises and how far to trust it."""
    st.html(PRINT_CSS)
    title = f"ASB seasonality calendar: {filters.area_label}"
    st.markdown(f"### {filters.area_label_md}")
    st.markdown("  \n".join(plain(line) for line in [*lines, f"How far to trust it: {accuracy}"]))
    fig = calendar_figure(view, data.row_order, settings.grain, settings.threshold)
    st.plotly_chart(ui.safe_figure(fig), width="stretch", key="asb_calendar_print_chart",
                    config={"displaylogo": False, "staticPlot": True})
    rises = rises_table(view)
    if rises.empty:
        st.markdown("No predicted rises at this threshold.")
    else:
        shown = rises.head(25).assign(**{"Seasonal index": rises["Seasonal index"].head(25)
                                         .map(lambda v: f"{v:.2f}")})
        # st.table renders its cells as markdown: rows and events are names from the data.
        st.table(shown.assign(**{c: shown[c].map(plain) for c in ("Row", "Period", "Events")}))
        if len(rises) > 25:
            st.caption(f"First 25 of {len(rises)} predicted rises; the CSV has them all.")
    first_row = data.row_order[0] if data.row_order else ALL_ASB
    st.markdown(plain(performance_sentence(view, first_row, settings.grain)))
    st.caption(f"Printed from the community safety dashboard on {ui.fmt_day(dt.date.today())}. "
               f"{RISE} = predicted rise. Use the browser's Print (Ctrl+P), A4 landscape.")
    with st.container(key="asb_calendar_screen_only"):
        ui.export_button(
            "Download this page (HTML, prints on one page)",
            lambda: one_page_html(title, [*lines, f"How far to trust it: {accuracy}"], fig,
                                  rises),
            "asb_calendar_one_page.html", mime="text/html", key="asb_calendar_html",
            icon=":material/print:",
        )
        ui.download_button(safe_frame_for_export(calendar_download(view, settings.grain)),
                           "asb_calendar.csv", key="asb_calendar_print_csv",
                           label="Download the calendar (CSV)")


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the ASB seasonality calendar"):
        render_asb_calendar_page()
