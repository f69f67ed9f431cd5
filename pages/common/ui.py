"""Small shared render helpers: number formats, the colour-blind-safe palette, chart + data.

Every chart goes out with its numbers beside it (a table and a CSV download), so no reader
depends on seeing colour or a picture (WCAG 2.2 AA: 1.1.1, 1.4.1).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kpis import exports
from pages.common import auth

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency. Blue and vermillion carry the most contrast on white (5.1:1 and 3.5:1).
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# Order for categorical series: darkest first so two-series charts stay legible when printed.
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion",
                                  "reddish_purple", "sky_blue", "black", "yellow")]
CURRENT_COLOUR = OKABE_ITO["blue"]
PREVIOUS_COLOUR = OKABE_ITO["orange"]

UP = "▲"
DOWN = "▼"
NO_VALUE = "–"


def fmt_int(value: float | int | None) -> str:
    """12345 -> "12,345"; missing -> "–"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return NO_VALUE
    return f"{int(round(value)):,}"


def fmt_signed_int(value: float | int | None) -> str:
    """Signed with a thousands separator: +1,234 / -56 / 0."""
    if value is None or pd.isna(value):
        return NO_VALUE
    return f"{int(round(value)):+,}" if value else "0"


def fmt_pct(value: float | None, signed: bool = True, digits: int = 1) -> str:
    """0.052 -> "+5.2%"; missing -> "–"."""
    if value is None or pd.isna(value):
        return NO_VALUE
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def fmt_rate(value: float | None, digits: int = 1) -> str:
    """A rate per 1,000 residents: 12.345 -> "12.3"."""
    if value is None or pd.isna(value):
        return NO_VALUE
    return f"{value:,.{digits}f}"


def fmt_day(day: dt.date | None) -> str:
    """31 Oct 2026."""
    return NO_VALUE if day is None else f"{day:%d %b %Y}".lstrip("0")


def fmt_month(day: dt.date | pd.Timestamp | None) -> str:
    """Oct 2026."""
    return NO_VALUE if day is None or pd.isna(day) else f"{day:%b %Y}"


def arrow(difference: float | None) -> str:
    """▲ for a rise, ▼ for a fall, nothing otherwise: direction never by colour alone."""
    if difference is None or pd.isna(difference) or difference == 0:
        return ""
    return UP if difference > 0 else DOWN


# Fields that carry data. Hover text is not here: builders that write it (the ASB calendar)
# mark it up themselves and escape the data in it (html.escape).
_DATA_FIELDS = ("name", "x", "y", "text", "customdata", "labels", "ids")


def _inert(value):
    """A data value with its angle brackets made entities (plotly shows them as text)."""
    if isinstance(value, str):
        return value.replace("<", "&lt;").replace(">", "&gt;") if ("<" in value or ">" in value) \
            else value
    if isinstance(value, (list, tuple)):
        return type(value)(_inert(v) for v in value)
    if getattr(getattr(value, "dtype", None), "kind", "") in ("O", "U"):
        return np.array([_inert(v) for v in value.tolist()], dtype=object)
    return value


def safe_figure(fig: go.Figure) -> go.Figure:
    """``fig`` with text that came from data (trace names, categories, hover text) unable to
    render as markup: plotly draws a subset of HTML in chart text, links included. The figure's
    own formatting (titles, hover templates) is left alone."""
    for trace in fig.data:
        for field in _DATA_FIELDS:
            if field in trace and trace[field] is not None:
                cleaned = _inert(trace[field])
                if cleaned is not trace[field]:
                    trace[field] = cleaned
    for axis in ("xaxis", "yaxis"):
        ticks = fig.layout[axis].ticktext
        if ticks is not None:
            fig.layout[axis].ticktext = _inert(list(ticks))
    return fig


def plotly_chart(fig: go.Figure, *, key: str, target=None, **kwargs) -> None:
    """``st.plotly_chart`` of :func:`safe_figure` ``(fig)``, full width, no plotly logo."""
    (target or st).plotly_chart(safe_figure(fig), width="stretch", key=key,
                                config={"displaylogo": False}, **kwargs)


def style_figure(fig: go.Figure, *, height: int = 320, y_title: str | None = None) -> go.Figure:
    """The shared look: Okabe-Ito colours, legend on top, compact margins, readable fonts."""
    fig.update_layout(
        colorway=PALETTE,
        height=height,
        margin={"l": 8, "r": 8, "t": 36, "b": 8},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        font={"size": 14},
        hovermode="x unified",
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=False, linecolor="#595959")
    fig.update_yaxes(gridcolor="#D9D9D9", rangemode="tozero", title_text=y_title, tickformat=",")
    return fig


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as formula-safe UTF-8 CSV (with a byte-order mark so Excel reads £ and accents).

    Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading quote;
    numbers, negative ones included, stay numbers (kpis.exports).
    """
    return exports.to_csv_bytes(frame)


def export_button(
    label: str,
    data,
    file_name: str,
    *,
    key: str,
    mime: str,
    rows: int | None = None,
    capability: str = "download",
    icon: str = ":material/download:",
    container=None,
    **kwargs,
) -> bool:
    """A download for users whose role has ``capability``; each click goes in the audit log
    (who, what file, how many rows). Returns False (drawing nothing) for other roles.

    ``data`` may be bytes or a callable making them on click (Streamlit calls it lazily).
    """
    if not auth.can(capability):
        return False
    target = container if container is not None else st
    target.download_button(
        label, data=data, file_name=file_name, mime=mime, key=key, icon=icon,
        on_click=auth.audit_export, args=(None, file_name, rows), **kwargs,
    )
    return True


def download_button(
    frame: pd.DataFrame, file_name: str, *, key: str, label: str = "Download CSV"
) -> None:
    """A formula-safe CSV download of ``frame`` (for roles allowed to download; audited)."""
    if not auth.can("download"):  # nothing to make for a role without downloads
        return
    export_button(label, csv_bytes(frame), file_name, key=key, mime="text/csv", rows=len(frame))


def chart_with_data(
    fig: go.Figure,
    table: pd.DataFrame,
    *,
    key: str,
    file_name: str,
    caption: str | None = None,
) -> None:
    """A chart with its data one click away (a Table tab) and a CSV download under it."""
    chart_tab, table_tab = st.tabs(["Chart", "Table"])
    with chart_tab:
        st.plotly_chart(safe_figure(fig), width="stretch", key=f"{key}_chart",
                        config={"displaylogo": False})
    with table_tab:
        st.dataframe(table, hide_index=True, width="stretch")
    if caption:
        st.caption(caption)
    download_button(table, file_name, key=f"{key}_download")
