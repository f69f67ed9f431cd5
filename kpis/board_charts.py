"""Figures for the priority boards: XmR (SPC) charts and ranked area comparisons.

Builders return plotly figures and never render, so the page, the board pack (static images) and
tests share them. Meaning is never carried by colour alone: special-cause points also differ in
marker shape and legend text, limits and target differ in line dash, and every figure goes out
with a table beside it on the page.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kpis import spc
from kpis.priority_boards import KpiSummary, format_value

VALUE_COLOUR = "#4D4D4D"
LIMIT_COLOUR = "#7F7F7F"
TARGET_COLOUR = "#D55E00"  # Okabe-Ito vermillion: the target line, also dash-dotted
AXIS_TITLES = {"count": "Count", "rate_per_1000": "Per 1,000 residents", "percentage": "Per cent",
               "gbp": "£", "days": "Days"}
_MARKERS = {
    "improving": ("Special cause: improving", spc.BLUE, "circle"),
    "concerning": ("Special cause: concerning", spc.ORANGE, "diamond"),
}


def _style(fig: go.Figure, *, height: int, font_size: int, y_title: str | None) -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 8, "r": 8, "t": 48, "b": 8}, font={"size": font_size},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        plot_bgcolor="white", paper_bgcolor="white", hovermode="x unified",
    )
    fig.update_xaxes(showgrid=False, linecolor="#595959")
    fig.update_yaxes(gridcolor="#D9D9D9", title_text=y_title, tickformat=",")
    return fig


def spc_table(summary: KpiSummary) -> pd.DataFrame:
    """The chart's numbers: Month, Value, Mean, Lower limit, Upper limit, Target, Signal."""
    if summary.spc is None:
        return pd.DataFrame(columns=["Month", "Value", "Mean", "Lower limit", "Upper limit",
                                     "Target", "Signal"])
    c = summary.spc.columns
    n = len(c["value"])
    target = (summary.series["target"].to_numpy(dtype="float64") if len(summary.series) == n
              else np.full(n, np.nan))
    signal = [
        f"{cause} ({side}; rule: {rule.replace('_', ' ')})" if side else ""
        for cause, side, rule in zip(c["special_cause"], c["signal"], c["signal_rule"])
    ]
    periods = c["period"]
    months = (pd.DatetimeIndex(periods).strftime("%b %Y") if np.issubdtype(np.asarray(periods).dtype,
                                                                          np.datetime64)
              else [str(v) for v in periods])
    return pd.DataFrame({
        "Month": months, "Value": np.round(c["value"], 3), "Mean": np.round(c["mean"], 3),
        "Lower limit": np.round(c["lcl"], 3), "Upper limit": np.round(c["ucl"], 3),
        "Target": np.round(target, 3), "Signal": signal,
    })


def _layout(*, height: int, font_size: int, y_title: str | None, title: str | None) -> dict:
    layout = {
        "height": height, "margin": {"l": 8, "r": 8, "t": 48, "b": 8}, "font": {"size": font_size},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "hovermode": "x unified",
        "xaxis": {"showgrid": False, "linecolor": "#595959", "tickformat": "%b %Y"},
        "yaxis": {"gridcolor": "#D9D9D9", "title": {"text": y_title}, "tickformat": ","},
    }
    if title:
        layout["title"] = {"text": title, "font": {"size": font_size + 3}}
    return layout


def spc_figure(
    summary: KpiSummary, *, height: int = 320, font_size: int = 13, title: str | None = None,
    show_title: bool = True,
) -> go.Figure:
    """XmR chart: values, mean, natural process limits, target and special-cause points.

    Built in one constructor call from plain dicts: the page draws several per rerun and each
    ``add_*``/``update_*`` call re-validates the whole figure.
    """
    unit = summary.kpi.unit
    if summary.spc is None or len(summary.spc.columns["value"]) == 0:
        layout = _layout(height=height, font_size=font_size, y_title=None, title=None)
        layout["xaxis"]["visible"] = layout["yaxis"]["visible"] = False
        layout["annotations"] = [{"text": "No data for this period", "showarrow": False, "x": 0.5,
                                  "y": 0.5, "xref": "paper", "yref": "paper"}]
        return go.Figure(layout=layout)
    c = summary.spc.columns
    x = np.asarray(c["period"])
    hover = "%{y:,.2f}"
    traces = [
        {"type": "scatter", "x": x, "y": c["value"], "name": "Value",
         "mode": "lines+markers", "line": {"color": VALUE_COLOUR, "width": 2},
         "marker": {"size": 6, "color": VALUE_COLOUR}, "hovertemplate": hover, "showlegend": False},
        {"type": "scatter", "x": x, "y": c["mean"], "name": "Mean", "mode": "lines",
         "line": {"color": "#000000", "width": 1.5}, "hovertemplate": hover},
        {"type": "scatter", "x": x, "y": c["ucl"], "name": "Process limits",
         "mode": "lines", "legendgroup": "limits",
         "line": {"color": LIMIT_COLOUR, "width": 1.5, "dash": "dash"}, "hovertemplate": hover},
        {"type": "scatter", "x": x, "y": c["lcl"], "name": "Lower limit", "mode": "lines",
         "legendgroup": "limits", "showlegend": False,
         "line": {"color": LIMIT_COLOUR, "width": 1.5, "dash": "dash"}, "hovertemplate": hover},
    ]
    if len(summary.series) == len(x) and summary.series["target"].notna().any():
        traces.append({"type": "scatter", "x": x, "y": summary.series["target"].to_numpy(),
                       "name": "Target", "mode": "lines",
                       "line": {"color": TARGET_COLOUR, "width": 2, "dash": "dashdot"},
                       "hovertemplate": hover})
    for kind, (name, colour, symbol) in _MARKERS.items():
        chosen = c["special_cause"] == kind
        if chosen.any():
            traces.append({"type": "scatter", "x": x[chosen], "y": c["value"][chosen],
                           "name": name, "mode": "markers", "hovertemplate": hover,
                           "marker": {"size": 11, "color": colour, "symbol": symbol,
                                      "line": {"color": "#000000", "width": 1}}})
    layout = _layout(height=height, font_size=font_size, y_title=AXIS_TITLES.get(unit),
                     title=(title or summary.kpi.label) if show_title else None)
    starts = x[1:][np.diff(c["segment"]) > 0]
    layout["shapes"] = [{"type": "line", "xref": "x", "yref": "paper", "x0": when, "x1": when,
                         "y0": 0, "y1": 1, "line": {"color": "#000000", "width": 1, "dash": "dot"}}
                        for when in starts]
    return go.Figure(data=traces, layout=layout)


_VERDICT = {
    "higher": ("Significantly higher than the rest", "triangle-up", spc.ORANGE),
    "lower": ("Significantly lower than the rest", "triangle-down", spc.BLUE),
    "similar": ("Not significantly different", "circle", spc.GREY),
    "not tested": ("Not tested", "circle-open", spc.GREY),
}


def comparison_figure(
    frame: pd.DataFrame, *, title: str, value_title: str = "Per 1,000 residents",
    height: int | None = None, font_size: int = 13,
) -> go.Figure:
    """Ranked dot plot: one row per area (highest at the top) with its 95% interval and the city line.

    ``frame`` from :func:`kpis.priority_boards.area_comparison` (rate, rate_low, rate_high,
    city_rate, vs_city, area_name); without intervals (a partner return) the dots stand alone.
    """
    layout = {
        "height": height or max(280, 34 * len(frame) + 160),
        "margin": {"l": 8, "r": 8, "t": 96, "b": 8}, "font": {"size": font_size},
        # title above the legend: both sit in the taller top margin
        "title": {"text": title, "font": {"size": font_size + 3}, "y": 0.99, "yanchor": "top"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "hovermode": "closest",
        "xaxis": {"title": {"text": value_title}, "rangemode": "tozero", "showgrid": True,
                  "gridcolor": "#D9D9D9", "linecolor": "#595959", "tickformat": ","},
        "yaxis": {"showgrid": False},
    }
    if frame.empty:
        layout["annotations"] = [{"text": "No areas to compare", "showarrow": False, "x": 0.5,
                                  "y": 0.5, "xref": "paper", "yref": "paper"}]
        return go.Figure(layout=layout)
    ordered = frame.sort_values("rate", ascending=True, na_position="first")
    verdicts = ordered["vs_city"] if "vs_city" in ordered else pd.Series("not tested", index=ordered.index)
    traces = []
    for verdict, (name, symbol, colour) in _VERDICT.items():
        part = ordered[(verdicts == verdict).to_numpy()]
        if part.empty:
            continue
        trace = {"type": "scatter", "x": part["rate"].to_numpy(), "y": part["area_name"].to_numpy(),
                 "mode": "markers", "name": name,
                 "marker": {"size": 12, "symbol": symbol, "color": colour,
                            "line": {"color": "#000000", "width": 1}},
                 "hovertemplate": "%{y}: %{x:,.2f}<extra>" + name + "</extra>"}
        if "rate_low" in part and part["rate_low"].notna().any():
            trace["error_x"] = {"type": "data", "symmetric": False, "color": colour, "thickness": 2,
                                "array": (part["rate_high"] - part["rate"]).to_numpy(),
                                "arrayminus": (part["rate"] - part["rate_low"]).to_numpy()}
        traces.append(trace)
    layout["yaxis"].update({"categoryorder": "array", "categoryarray": ordered["area_name"].tolist()})
    if "city_rate" in frame and pd.notna(frame["city_rate"].iloc[0]):
        city = float(frame["city_rate"].iloc[0])
        layout["shapes"] = [{"type": "line", "xref": "x", "yref": "paper", "x0": city, "x1": city,
                             "y0": 0, "y1": 1, "line": {"color": "#000000", "width": 1.5, "dash": "dash"}}]
        layout["annotations"] = [{"text": f"City average {city:,.2f}", "x": city, "xref": "x",
                                  "y": 0, "yref": "paper", "xanchor": "left", "yanchor": "bottom",
                                  "showarrow": False}]
    return go.Figure(data=traces, layout=layout)


def value_caption(summary: KpiSummary) -> str:
    """One line of words for a card or slide: latest value, icons and target."""
    if not summary.has_data:
        return "No data for this period."
    when = f"{summary.latest_period:%b %Y}" if summary.latest_period is not None else ""
    return (f"{format_value(summary.latest_value, summary.kpi.unit)} in {when}; "
            f"{_lower_first(summary.variation.label)}; {_lower_first(summary.assurance.label)}; "
            f"{summary.vs_target}.")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
