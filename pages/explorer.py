"""Data explorer: any measure by any two dimensions as a pivot table with a chart beside it,
downloadable as CSV or XLSX, for analysts (roles with the "explore" capability).

- Measures: incidents, or the incidents flagged as domestic abuse, VAWG, weapon-enabled,
  alcohol-related, hate or repeat; as a count or a rate per 1,000 residents.
- Dimensions (rows and columns): period (month, financial quarter or financial year), area
  (whole partnership, LCSP, ward or LSOA), category, ASB type and source.
- Filters: the sidebar's period, LCSP and ward, and the page's sources and categories.

Everything is aggregated in SQL on the ``agg_*`` tables (:mod:`data_access.explorer_queries`),
through whitelisted names: nothing typed or linked reaches SQL as text. A pivot is capped (at
most 500 rows and 60 columns, said on the page).

Sensitive figures (the domestic abuse, VAWG and hate flags, and sensitive categories) below
partnership level follow the one disclosure rule (:mod:`kpis.disclosure`, through
:mod:`pages.common.protect`), so the explorer withholds exactly the cells every other page
withholds: a cell that is one of the rule's area figures (or a sum of them) for the sidebar's
period is withheld when the rule withholds it; a cell that is only part of one (a month or
quarter, a category, source or ASB type of a flag, a flag within categories) is not a figure the
rule vets and is withheld; so is every sensitive figure below partnership level for a period that
is not a whole financial year or the latest year to date; and a total is withheld whenever a cell
it adds up is. An LCSP manager sees their own LCSPs in full. Downloads carry the same cells as
the screen, are formula-safe (:mod:`kpis.exports`) and audited (:func:`ui.export_button`).
Page shape (STYLE): settings -> data -> compute -> render; settings are mirrored in
``st.query_params`` under the whitelisted :data:`QUERY_KEYS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import explorer_queries as eq
from data_access.connection import cached
from kpis import disclosure, exports
from kpis.disclosure import DisclosureRule
from kpis.text_safety import code_span
from pages.common import auth, protect, shell, ui
from pages.common.data_warnings import render_data_warnings, source_label
from pages.common.shell import Filters

MEASURE_LABELS = {
    "incidents": "Incidents",
    "domestic_abuse": "Domestic abuse",
    "vawg": "VAWG",
    "weapon": "Weapon-enabled",
    "alcohol": "Alcohol-related",
    "hate": "Hate-related",
    "repeat": "Repeat victim or caller",
}
MEASURE_HELP = ("Incidents, or those flagged as domestic abuse, violence against women and "
                "girls, weapon-enabled, alcohol-related, hate-related or a repeat victim/caller.")
# Measures whose counts are sensitive in themselves (the rule's flag keys): domestic abuse,
# VAWG and hate crime can point at victims in a small area.
SENSITIVE_FLAGS = {m: c for m, c in eq.MEASURES.items() if c in disclosure.SENSITIVE_FLAGS}
SHOW_LABELS = {"count": "Count", "rate": "Per 1,000 residents"}
DIMENSION_LABELS = {"period": "Period", "area": "Area", "category": "Category",
                    "asb_type": "ASB type", "source": "Source"}
NO_COLUMNS = "none"
GRAIN_LABELS = {"month": "Month", "quarter": "Quarter", "year": "Financial year"}
LEVEL_LABELS = {"partnership": "Whole partnership", "lcsp": "LCSP", "ward": "Ward",
                "lsoa": "LSOA"}
NOT_LOCATED = "Not located"
NO_TYPE = "No type given"
TOTAL = "Total"
CODE = "Code"
MAX_ROWS = eq.DEFAULT_MAX_ROWS
MAX_COLUMNS = eq.DEFAULT_MAX_COLUMNS
MAX_LINES = 7  # series in a line chart (the palette's yellow, eighth, is too pale for a line)
MAX_BARS = 20  # bars (rows) in a bar chart
MAX_BAR_SERIES = 6
WIDE_TABLE_COLUMNS = 4  # more columns than this and the table takes the page's width
_MAX_PARAM_LENGTH = 400
DEFAULTS = {"measure": "incidents", "show": "count", "rows": "area", "columns": "period",
            "grain": "month", "level": "lcsp"}

K_MEASURE = "explorer_measure"
K_SHOW = "explorer_show"
K_ROWS = "explorer_rows"
K_COLUMNS = "explorer_columns"
K_GRAIN = "explorer_grain"
K_LEVEL = "explorer_level"
K_SOURCES = "explorer_sources"
K_CATEGORIES = "explorer_categories"
K_SYNCED = "explorer_synced_params"
QUERY_KEYS = ("ex_measure", "ex_show", "ex_rows", "ex_cols", "ex_grain", "ex_level",
              "ex_sources", "ex_cats")
_CHOICES = (  # (query key, session key, allowed values, what a bad value is not)
    ("ex_measure", K_MEASURE, tuple(MEASURE_LABELS), "a measure"),
    ("ex_show", K_SHOW, tuple(SHOW_LABELS), "count or rate"),
    ("ex_rows", K_ROWS, eq.DIMENSIONS, "a dimension"),
    ("ex_cols", K_COLUMNS, (NO_COLUMNS, *eq.DIMENSIONS), "a dimension"),
    ("ex_grain", K_GRAIN, eq.GRAINS, "a period grain"),
    ("ex_level", K_LEVEL, eq.AREA_LEVELS, "an area level"),
)
_PLURALS = {"month": "months", "quarter": "quarters", "year": "financial years", "lcsp": "LCSPs",
            "ward": "wards", "lsoa": "LSOAs", "category": "categories", "asb_type": "ASB types",
            "source": "sources"}
LINE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MARKERS = ("circle", "diamond", "square", "triangle-up", "x", "cross", "star", "triangle-down")
PATTERNS = ("", "/", "x", ".", "\\", "-", "+", "|")


# --- settings -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ExplorerSettings:
    """What the analyst chose (widgets and link only)."""

    measure: str
    show: str  # count | rate
    rows: str
    columns: str | None  # None = a single value column
    grain: str
    level: str
    sources: tuple[str, ...]  # empty = every source
    categories: tuple[str, ...]  # empty = every category

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The row dimension, then the column dimension when there is one."""
        return (self.rows,) + ((self.columns,) if self.columns else ())

    @property
    def measure_label(self) -> str:
        """E.g. "Domestic abuse per 1,000 residents"."""
        label = MEASURE_LABELS[self.measure]
        return f"{label} per 1,000 residents" if self.show == "rate" else label


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def _apply_link(sources: list[str], categories: list[str]) -> list[str]:
    """Set the page's state from the link when it differs from what the page last wrote;
    returns a note for each value ignored."""
    params = {k: st.query_params[k] for k in QUERY_KEYS if k in st.query_params}
    if not params or params == st.session_state.get(K_SYNCED):
        return []
    state, ignored = st.session_state, []
    for key, value in params.items():
        if len(value) > _MAX_PARAM_LENGTH:
            ignored.append(f"{key}={code_span(value)} (too long)")
    params = {k: v for k, v in params.items() if len(v) <= _MAX_PARAM_LENGTH}
    # A link sets the whole view: what it does not say takes the default.
    for key, session_key, allowed, what in _CHOICES:
        state[session_key] = DEFAULTS[session_key.removeprefix("explorer_")]
        if key in params:
            if params[key] in allowed:
                state[session_key] = params[key]
            else:
                ignored.append(f"{key}={code_span(params[key])} (not {what})")
    if state[K_COLUMNS] == state[K_ROWS]:
        if "ex_cols" in params:
            ignored.append(f"ex_cols={code_span(params['ex_cols'])} (the same as the rows)")
        state[K_COLUMNS] = "period" if state[K_ROWS] != "period" else NO_COLUMNS
    for key, session_key, known, what in (("ex_sources", K_SOURCES, sources, "a source"),
                                          ("ex_cats", K_CATEGORIES, categories, "a category")):
        if key in params:
            values = _split(params[key])
            unknown = [v for v in values if v not in known]
            ignored += [f"{key}: {code_span(v)} (not {what} with data)" for v in unknown]
            state[session_key] = [v for v in dict.fromkeys(values) if v in known]
        else:
            state[session_key] = []
    return ignored


def _ensure_defaults() -> None:
    state = st.session_state
    for key, value in ((K_MEASURE, DEFAULTS["measure"]), (K_SHOW, DEFAULTS["show"]),
                       (K_ROWS, DEFAULTS["rows"]), (K_COLUMNS, DEFAULTS["columns"]),
                       (K_GRAIN, DEFAULTS["grain"]), (K_LEVEL, DEFAULTS["level"]),
                       (K_SOURCES, []), (K_CATEGORIES, [])):
        if key not in state:
            state[key] = value
    for session_key, allowed in ((K_MEASURE, MEASURE_LABELS), (K_SHOW, SHOW_LABELS),
                                 (K_ROWS, eq.DIMENSIONS), (K_GRAIN, eq.GRAINS),
                                 (K_LEVEL, eq.AREA_LEVELS)):
        if state[session_key] not in allowed:
            state[session_key] = DEFAULTS[session_key.removeprefix("explorer_")]
    if state[K_COLUMNS] not in (NO_COLUMNS, *eq.DIMENSIONS) or state[K_COLUMNS] == state[K_ROWS]:
        state[K_COLUMNS] = "period" if state[K_ROWS] != "period" else NO_COLUMNS


def category_names(categories: pd.DataFrame) -> dict[str, str]:
    """Category identifier -> label (the first label when sources label it differently)."""
    return dict(categories.drop_duplicates("category")[["category", "label"]].itertuples(
        index=False, name=None))


def show_settings(sources: list[str], categories: pd.DataFrame) -> ExplorerSettings:
    """The page's own controls (the period and area come from the sidebar)."""
    ignored = _apply_link(sources, list(categories["category"].unique()))
    _ensure_defaults()
    state = st.session_state
    names = category_names(categories)

    with st.container(border=True, key="explorer_settings"):
        c1, c2, c3, c4 = st.columns([1.3, 1.3, 1, 1])
        measure = c1.selectbox("Measure", tuple(MEASURE_LABELS), key=K_MEASURE,
                               format_func=MEASURE_LABELS.get, help=MEASURE_HELP)
        show = c2.radio("Show as", tuple(SHOW_LABELS), key=K_SHOW, format_func=SHOW_LABELS.get,
                        horizontal=True,
                        help="A rate divides each count by the residents of its area (over the "
                             "whole period of the cell, not per year).")
        rows = c3.selectbox("Rows", eq.DIMENSIONS, key=K_ROWS, format_func=DIMENSION_LABELS.get)
        column_options = (NO_COLUMNS, *[d for d in eq.DIMENSIONS if d != rows])
        if state[K_COLUMNS] not in column_options:
            state[K_COLUMNS] = NO_COLUMNS
        columns = c4.selectbox(
            "Columns", column_options, key=K_COLUMNS,
            format_func=lambda d: "None (one value)" if d == NO_COLUMNS else DIMENSION_LABELS[d])
        dims = {rows, columns}
        c5, c6, c7, c8 = st.columns([1.3, 1.3, 1, 1])
        grain = c5.radio("Period grain", eq.GRAINS, key=K_GRAIN, format_func=GRAIN_LABELS.get,
                         horizontal=True, disabled="period" not in dims,
                         help="Used when Period is the rows or the columns. Quarters and years "
                              "are financial (April to March).")
        level = c6.radio("Area level", eq.AREA_LEVELS, key=K_LEVEL, format_func=LEVEL_LABELS.get,
                         horizontal=True, disabled="area" not in dims,
                         help="Used when Area is the rows or the columns. LCSPs are as grouped "
                              "at each incident's date.")
        state[K_SOURCES] = [s for s in state[K_SOURCES] if s in sources]
        chosen_sources = c7.multiselect("Sources", sources, key=K_SOURCES,
                                        format_func=source_label, placeholder="All sources")
        offered = categories[categories["source"].isin(chosen_sources or sources)]
        category_codes = list(dict.fromkeys(offered["category"]))
        state[K_CATEGORIES] = [c for c in state[K_CATEGORIES] if c in category_codes]
        chosen_categories = c8.multiselect("Categories", category_codes, key=K_CATEGORIES,
                                           format_func=lambda c: names.get(c, c),
                                           placeholder="All categories")
    if ignored:
        st.warning("Some explorer settings in the link were not used: " + "; ".join(ignored)
                   + ".", icon=":material/link_off:")
    settings = ExplorerSettings(
        measure=measure, show=show, rows=rows,
        columns=None if columns == NO_COLUMNS else columns, grain=grain, level=level,
        sources=tuple(chosen_sources), categories=tuple(chosen_categories),
    )
    _write_link(settings)
    return settings


def _write_link(settings: ExplorerSettings) -> None:
    params = {"ex_measure": settings.measure, "ex_show": settings.show, "ex_rows": settings.rows,
              "ex_cols": settings.columns or NO_COLUMNS, "ex_grain": settings.grain,
              "ex_level": settings.level}
    if settings.sources:
        params["ex_sources"] = ",".join(settings.sources)
    if settings.categories:
        params["ex_cats"] = ",".join(settings.categories)
    shell.sync_query_params(params, QUERY_KEYS, K_SYNCED)


# --- data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExplorerData:
    """Small aggregated frames for one view."""

    pivot: eq.PivotData
    areas: pd.DataFrame | None  # code, name, population of the area level (None: not needed)
    area_population: float | None  # residents of the sidebar's area (or the partnership)
    partnership_name: str
    # Areas of the level with incidents in the period (within the sidebar's area) and their
    # LCSP: code, lcsp_code (None: not needed, or the level is the whole partnership).
    area_lcsps: pd.DataFrame | None = None
    sources: tuple[str, ...] = ()  # every source with data


def _population(frame: pd.DataFrame, code: str | None = None) -> float | None:
    rows = frame if code is None else frame[frame["code"] == code]
    if rows.empty or rows["population"].isna().all():
        return None
    return float(rows["population"].sum())


def unmixed_settings(settings: ExplorerSettings, filters: Filters,
                     categories: pd.DataFrame) -> tuple[ExplorerSettings, bool]:
    """Rule 4 of :mod:`kpis.disclosure`: below partnership level a figure adding categories up
    leaves the sensitive ones out (each is shown on its own, by the rule). Returns the settings
    to query with, and whether sensitive categories were left out."""
    below = filters.below_partnership or (
        "area" in settings.dimensions and settings.level != "partnership")
    if (not below or settings.measure in SENSITIVE_FLAGS or "category" in settings.dimensions):
        return settings, False
    offered = categories
    if settings.sources:
        offered = offered[offered["source"].isin(settings.sources)]
    chosen = list(settings.categories) or list(dict.fromkeys(offered["category"]))
    sensitive = set(offered.loc[offered["is_sensitive"].astype(bool), "category"])
    kept = [c for c in chosen if c not in sensitive]
    if not kept or len(kept) == len(chosen):  # a sensitive category alone, or none chosen
        return settings, False
    return replace(settings, categories=tuple(kept)), True


def load_explorer_data(settings: ExplorerSettings, filters: Filters) -> ExplorerData:
    """Ask the database for the pivot and, when needed, names and residents of areas."""
    pivot = cached(
        eq.load_pivot, measure=settings.measure, rows=settings.rows, columns=settings.columns,
        grain=settings.grain, level=settings.level, month_from=filters.month_from,
        month_to=filters.month_to, lcsp=filters.lcsp, ward=filters.ward,
        sources=settings.sources or None, categories=settings.categories or None,
        max_rows=MAX_ROWS, max_columns=MAX_COLUMNS,
    )
    fy = filters.membership_fy
    areas = area_lcsps = None
    if "area" in settings.dimensions and settings.level != "partnership":
        areas = cached(eq.load_area_populations, level=settings.level, fy_start=fy)
        area_lcsps = cached(eq.load_area_lcsps, level=settings.level,
                            month_from=filters.month_from, month_to=filters.month_to,
                            lcsp=filters.lcsp, ward=filters.ward)
    partnership = cached(eq.load_area_populations, level="partnership", fy_start=fy)
    name = str(partnership["name"].iloc[0]) if len(partnership) else "Whole partnership"
    population = None
    if settings.show == "rate":
        if filters.ward:
            population = _population(cached(eq.load_area_populations, level="ward", fy_start=fy),
                                     filters.ward)
        elif filters.lcsp:
            population = _population(cached(eq.load_area_populations, level="lcsp", fy_start=fy),
                                     filters.lcsp)
        else:
            population = _population(partnership)
            if population is None:  # no partnership row with residents: add up the wards
                population = _population(cached(eq.load_area_populations, level="ward",
                                                fy_start=fy))
    sources = tuple(cached(eq.load_sources)["source"])
    return ExplorerData(pivot, areas, population, name, area_lcsps, sources)


# --- compute ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PivotView:
    """The pivot ready to draw and download."""

    table: pd.DataFrame  # screen and downloads: numbers, WITHHELD where withheld, None no rate
    chart: pd.DataFrame  # rows x columns of plottable numbers (NaN where withheld), no totals
    row_keys: list  # keys of chart's rows, in order
    column_keys: list  # keys of chart's columns, in order
    row_title: str
    withheld: int  # cells withheld by the disclosure rule
    withheld_totals: int  # totals withheld because a cell they add up is
    sensitive_below: bool  # sensitive figures below partnership level are in the view
    notes: tuple[str, ...]
    empty: bool


def type_label(subcategory: str) -> str:
    """"vehicle_nuisance" -> "Vehicle nuisance"; "" -> "No type given"."""
    text = str(subcategory or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else NO_TYPE


def period_label(start: pd.Timestamp, grain: str) -> str:
    """"Apr 2025", "2025/26 Q1" or "2025/26"."""
    start = pd.Timestamp(start)
    fy = start.year if start.month >= 4 else start.year - 1
    label = f"{fy}/{(fy + 1) % 100:02d}"
    if grain == "month":
        return ui.fmt_month(start)
    if grain == "quarter":
        return f"{label} Q{(start.month - 4) % 12 // 3 + 1}"
    return label


def key_labels(name: str, keys: list, settings: ExplorerSettings, filters: Filters,
               data: ExplorerData, categories: pd.DataFrame) -> tuple[list, list[str]]:
    """The keys of one dimension in reading order, and their (unique) labels."""
    keys = list(dict.fromkeys(keys))
    if name == "period":
        ordered = sorted(keys)
        labels = [period_label(k, settings.grain) for k in ordered]
    elif name == "area":
        if settings.level == "partnership":
            ordered = keys
            labels = [filters.area_label if filters.below_partnership else data.partnership_name
                      for _ in keys]
        else:
            names = dict(zip(data.areas["code"], data.areas["name"])) if data.areas is not None \
                else {}
            label = {k: NOT_LOCATED if k == "" else names.get(k, k) for k in keys}
            ordered = sorted(keys, key=lambda k: (k == "", label[k].lower(), k))
            labels = [label[k] for k in ordered]
    elif name == "category":
        order = {c: i for i, c in enumerate(dict.fromkeys(categories["category"]))}
        names = category_names(categories)
        ordered = sorted(keys, key=lambda k: (order.get(k, len(order)), k))
        labels = [names.get(k, k) for k in ordered]
    elif name == "asb_type":
        ordered = sorted(keys, key=lambda k: (k == "", type_label(k).lower()))
        labels = [type_label(k) for k in ordered]
    else:
        ordered = sorted(keys, key=lambda k: source_label(k).lower())
        labels = [source_label(k) for k in ordered]
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    labels = [f"{label} ({key})" if seen[label] > 1 else label
              for label, key in zip(labels, ordered)]
    return ordered, labels


def _in_text(title: str) -> str:
    """A title inside a sentence: "Financial year" -> "financial year"; "LCSP", "ASB" stay."""
    return " ".join(w if w.isupper() else w.lower() for w in title.split(" "))


def dimension_title(name: str, settings: ExplorerSettings) -> str:
    """The header of a dimension: "Month", "LCSP", "Category"..."""
    if name == "period":
        return GRAIN_LABELS[settings.grain]
    if name == "area":
        return "Area" if settings.level == "partnership" else LEVEL_LABELS[settings.level]
    return DIMENSION_LABELS[name]


# --- the disclosure rule on the pivot -----------------------------------------------------

_LEVEL_RANK = {"partnership": 0, "lcsp": 1, "ward": 2, "lsoa": 3}


@dataclass(frozen=True)
class Protection:
    """The one disclosure rule as it applies to this viewer and the sidebar's period:
    :func:`pages.common.protect.rule` and :func:`pages.common.protect.withheld_map`, read once
    for the whole pivot. The default withholds every sensitive figure below partnership level."""

    rule: DisclosureRule = field(default_factory=DisclosureRule)
    cells: Mapping[str, frozenset[str]] | None = None  # None: not a standard period
    lcsp_of: Mapping[str, str | None] = field(default_factory=dict)  # ward/LSOA -> its LCSP

    def is_withheld(self, key: str, *, area_code: str, level: str, lcsp: str | None) -> bool:
        """:func:`pages.common.protect.is_withheld` for the sidebar's period."""
        if not self.rule.applies(level=level, lcsp=lcsp):
            return False
        if self.cells is None:
            return True
        return area_code in self.cells.get(key, frozenset())


def load_protection(data: ExplorerData, filters: Filters) -> Protection:
    """The rule for the current viewer and the sidebar's period."""
    lcsp_of = {}
    if data.area_lcsps is not None:
        lcsp_of = dict(zip(data.area_lcsps["code"], data.area_lcsps["lcsp_code"]))
    return Protection(protect.rule(), protect.withheld_map(filters.period), lcsp_of)


@dataclass(frozen=True)
class _Slice:
    """What one key of a dimension narrows its cells to."""

    area: tuple[str, str] | None = None  # (code, level) of an area key ("": not located)
    covers: bool = True  # False: a period key that is only part of the sidebar's period
    sources: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    split: bool = False  # an ASB type key: part of a category


_WHOLE = _Slice()


def _period_end(start: pd.Timestamp, grain: str) -> dt.date:
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    return (pd.Timestamp(start) + pd.DateOffset(months=months) - pd.Timedelta(days=1)).date()


def _slices(name: str | None, keys: list, settings: ExplorerSettings,
            filters: Filters) -> list[_Slice]:
    """The :class:`_Slice` of each key of one dimension (a single whole one for no dimension)."""
    if name is None:
        return [_WHOLE] * len(keys)
    if name == "period":
        start, end = filters.period.start, filters.period.end
        return [_Slice(covers=pd.Timestamp(k).date() <= start
                        and _period_end(k, settings.grain) >= end) for k in keys]
    if name == "area":
        if settings.level == "partnership":
            return [_WHOLE] * len(keys)
        return [_Slice(area=(k, settings.level)) for k in keys]
    if name == "category":
        return [_Slice(categories=frozenset({k})) for k in keys]
    if name == "source":
        return [_Slice(sources=frozenset({k})) for k in keys]
    return [_Slice(split=True) for _ in keys]  # ASB type


class _CellRule:
    """Decides, cell by cell, whether a figure is sensitive below partnership level and whether
    the disclosure rule withholds it (see the module docstring)."""

    def __init__(self, settings: ExplorerSettings, filters: Filters, categories: pd.DataFrame,
                 protection: Protection):
        self.settings, self.protection, self.categories = settings, protection, categories
        self.sidebar: tuple[str, str, str | None] | None = None  # (code, level, lcsp)
        if filters.ward:
            self.sidebar = (filters.ward, "ward", filters.lcsp)
        elif filters.lcsp:
            self.sidebar = (filters.lcsp, "lcsp", filters.lcsp)
        self.sources = frozenset(settings.sources) or None
        self.chosen = frozenset(settings.categories) or None
        self._memo: dict = {}
        self.split_withheld = False  # a cell withheld as part of a figure, not by the tree
        ruled = {k for k, codes in (protection.cells or {}).items() if codes}
        self.ruled = pd.Series([protect.category_key(s, c) in ruled for s, c in zip(
            categories["source"], categories["category"])], index=categories.index, dtype=bool)

    def composition(self, sources, chosen, split) -> tuple[tuple[str, ...], bool]:
        """The rule's measure keys a cell adds up, and whether it is exactly their sum (True)
        or only part of it."""
        memo_key = (sources, chosen, split)
        if memo_key in self._memo:
            return self._memo[memo_key]
        flag = SENSITIVE_FLAGS.get(self.settings.measure)
        if flag is not None:
            out = ((flag,), sources is None and chosen is None and not split)
        elif chosen is None:
            # Every category of the chosen sources: a whole source's total, as on the Overview.
            out = ((), True)
        else:
            # Sensitive categories, and any other the rule withholds somewhere (to protect
            # them): the explorer follows the rule's cells, whatever their reason.
            rows = self.categories[self.categories["category"].isin(chosen)
                                   & (self.categories["is_sensitive"] | self.ruled)]
            if sources is not None:
                rows = rows[rows["source"].isin(sources)]
            keys = tuple(sorted({protect.category_key(s, c)
                                 for s, c in zip(rows["source"], rows["category"])}))
            out = (keys, self.settings.measure == "incidents" and not split)
        self._memo[memo_key] = out
        return out

    def cell(self, row: _Slice, column: _Slice) -> tuple[bool, bool]:
        """(sensitive below partnership level, withheld) for one cell."""
        sources = row.sources or column.sources or self.sources
        chosen = row.categories or column.categories or self.chosen
        keys, exact = self.composition(sources, chosen, row.split or column.split)
        if not keys:
            return False, False
        area = self.sidebar
        for part in (row, column):
            if part.area is None:
                continue
            code, level = part.area
            if code == "" and area is not None:
                exact = False  # not located, within the sidebar's area: no figure of the rule
            elif area is None or _LEVEL_RANK[level] > _LEVEL_RANK[area[1]]:
                # The rule's tree has "not located" as an area of its own at every level.
                lcsp = code if level == "lcsp" else self.protection.lcsp_of.get(code)
                area = (code, level, lcsp)
        if area is None:
            return False, False  # the whole partnership is always shown
        code, level, lcsp = area
        protection = self.protection
        if not protection.rule.applies(level=level, lcsp=lcsp):
            return True, False  # an LCSP manager's own LCSP
        if protection.cells is None:
            return True, True  # not a standard period: nothing sensitive below partnership
        if not (exact and row.covers and column.covers):
            self.split_withheld = True
            return True, True
        return True, any(protection.is_withheld(k, area_code=code, level=level, lcsp=lcsp)
                         for k in keys)

    def might_be_sensitive(self, names: tuple[str, ...], filters: Filters) -> bool:
        """True when some cell of this view can hold a sensitive figure below partnership
        level (then every key of each dimension is listed, zero or not: a missing row would
        tell that its figure is zero)."""
        below = filters.below_partnership or (
            "area" in names and self.settings.level != "partnership")
        if not below:
            return False
        if self.settings.measure in SENSITIVE_FLAGS:
            return True
        if "category" not in names and self.chosen is None:
            return False
        chosen = self.categories
        if self.chosen is not None:
            chosen = chosen[chosen["category"].isin(self.chosen)]
        if self.sources is not None:
            chosen = chosen[chosen["source"].isin(self.sources)]
        return bool((chosen["is_sensitive"] | self.ruled[chosen.index]).any())


def _all_keys(name: str, found: list, capped: bool, cap: int, settings: ExplorerSettings,
              filters: Filters, data: ExplorerData, categories: pd.DataFrame) -> list:
    """Every key a dimension can have in this view (those with no incidents too), so that a
    key's absence cannot tell that a sensitive figure is zero."""
    if capped:
        return found
    extra: list = []
    if name == "period":
        starts = sorted({eq.period_start(m, settings.grain)
                         for m in eq.month_starts(filters.month_from, filters.month_to)})
        extra = [pd.Timestamp(s) for s in starts[-cap:]]
    elif name == "area" and settings.level != "partnership" and data.area_lcsps is not None:
        extra = list(data.area_lcsps["code"])
    elif name == "category":
        offered = categories
        if settings.sources:
            offered = offered[offered["source"].isin(settings.sources)]
        extra = [c for c in dict.fromkeys(offered["category"])
                 if not settings.categories or c in settings.categories]
    elif name == "source":
        extra = list(settings.sources or data.sources)
    # Even past the cap (it only keeps a table readable): an LCSP has no more than a few
    # hundred LSOAs, and a capped dimension is not completed at all.
    return list(dict.fromkeys([*found, *extra]))


def compute_pivot(data: ExplorerData, settings: ExplorerSettings, filters: Filters,
                  categories: pd.DataFrame, protection: Protection | None = None) -> PivotView:
    """Pivot the long counts, add totals, turn them into rates if asked, and withhold what the
    disclosure rule withholds, with every total that adds up a withheld cell."""
    protection = protection or Protection()
    long = data.pivot.frame
    row_title = dimension_title(settings.rows, settings)
    if long.empty:
        return PivotView(pd.DataFrame({row_title: []}), pd.DataFrame(), [], [], row_title, 0, 0,
                         False, (), True)
    if settings.columns:
        wide = long.pivot_table(index="row", columns="column", values="value", aggfunc="sum",
                                fill_value=0)
    else:
        wide = long.groupby("row")["value"].sum().to_frame(settings.measure_label)
    rule = _CellRule(settings, filters, categories, protection)
    found_rows, found_columns = list(wide.index), list(wide.columns)
    if rule.might_be_sensitive(settings.dimensions, filters):
        found_rows = _all_keys(settings.rows, found_rows, data.pivot.rows_capped,
                               data.pivot.max_rows, settings, filters, data, categories)
        if settings.columns:
            found_columns = _all_keys(settings.columns, found_columns, data.pivot.columns_capped,
                                      data.pivot.max_columns, settings, filters, data,
                                      categories)
    row_keys, row_labels = key_labels(settings.rows, found_rows, settings, filters, data,
                                      categories)
    if settings.columns:
        column_keys, column_labels = key_labels(settings.columns, found_columns, settings,
                                                filters, data, categories)
    else:
        column_keys, column_labels = [settings.measure_label], [settings.measure_label]
    counts = wide.reindex(index=row_keys, columns=column_keys, fill_value=0).to_numpy(np.int64)

    row_slices = _slices(settings.rows, row_keys, settings, filters)
    column_slices = _slices(settings.columns, column_keys, settings, filters)
    shape = (len(row_keys), len(column_keys))
    sensitive, hidden = np.zeros(shape, bool), np.zeros(shape, bool)
    for i, row in enumerate(row_slices):
        for j, column in enumerate(column_slices):
            sensitive[i, j], hidden[i, j] = rule.cell(row, column)
    # A total adding up a withheld cell is withheld too (it, less the cells shown, is the cell).
    hide_row_total, hide_column_total = hidden.any(axis=1), hidden.any(axis=0)
    hide_grand = bool(hidden.any())

    row_totals, column_totals = counts.sum(axis=1), counts.sum(axis=0)
    grand = int(counts.sum())
    values = counts.astype(float)
    row_total_values, column_total_values = row_totals.astype(float), column_totals.astype(float)
    grand_value = float(grand)
    notes: list[str] = []
    if settings.show == "rate":
        values, row_total_values, column_total_values, grand_value, rate_notes = _rates(
            values, row_total_values, column_total_values, grand_value, row_keys, column_keys,
            settings, data)
        notes += rate_notes

    def cell(value, count, withheld):
        if withheld:
            return disclosure.WITHHELD
        if value is None or pd.isna(value):
            return None
        return int(count) if settings.show == "count" else round(float(value), 2)

    table_rows = []
    show_code = settings.rows == "area" and settings.level != "partnership"
    for i, (key, label) in enumerate(zip(row_keys, row_labels)):
        record = {row_title: label}
        if show_code:
            record[CODE] = key if key else ""
        for j, column in enumerate(column_labels):
            record[column] = cell(values[i, j], counts[i, j], hidden[i, j])
        if settings.columns:
            record[TOTAL] = cell(row_total_values[i], row_totals[i], hide_row_total[i])
        table_rows.append(record)
    withheld_totals = 0
    if settings.columns:
        withheld_totals += int(hide_row_total.sum())
    if len(row_keys) > 1:
        capped = data.pivot.rows_capped
        record = {row_title: "Total of rows shown" if capped else TOTAL}
        if show_code:
            record[CODE] = ""
        for j, column in enumerate(column_labels):
            record[column] = cell(column_total_values[j], column_totals[j], hide_column_total[j])
        if settings.columns:
            record[TOTAL] = cell(grand_value, grand, hide_grand)
        table_rows.append(record)
        withheld_totals += int(hide_column_total.sum()) + int(hide_grand and bool(settings.columns))
    table = pd.DataFrame(table_rows)

    chart = pd.DataFrame(np.where(hidden, np.nan, values), index=row_labels,
                         columns=column_labels)
    if sensitive.any():
        protected = [disclosure.note(protection.rule)]
        if rule.split_withheld:
            protected.append(
                "Below partnership level the explorer gives sensitive figures only whole for "
                "the period: split by month or quarter, by category, source or ASB type, or "
                "counted within chosen sources, they are withheld.")
        notes[:0] = protected
    notes += _cap_notes(data.pivot, settings)
    return PivotView(table, chart, row_keys, column_keys, row_title, int(hidden.sum()),
                     withheld_totals, bool(sensitive.any()), tuple(notes), False)


def _rates(values, row_totals, column_totals, grand, row_keys, column_keys,
           settings: ExplorerSettings, data: ExplorerData):
    """Counts per 1,000 residents of each cell's area (the sidebar's area when no dimension is
    an area); "not located" rows and areas without residents get no rate."""
    notes = []
    population = data.area_population
    if settings.rows == "area" and settings.level != "partnership":
        pops = _area_populations(row_keys, data)
        values = values / pops[:, None] * 1000
        row_totals = row_totals / pops * 1000
        total_population = population
        if data.pivot.rows_capped:  # the total is of the rows shown: so are its residents
            total_population = np.nansum(pops) or None
        column_totals = column_totals / (total_population or np.nan) * 1000
        grand = grand / (total_population or np.nan) * 1000
    elif settings.columns == "area" and settings.level != "partnership":
        pops = _area_populations(column_keys, data)
        values = values / pops[None, :] * 1000
        column_totals = column_totals / pops * 1000
        total_population = population
        if data.pivot.columns_capped:
            total_population = np.nansum(pops) or None
        row_totals = row_totals / (total_population or np.nan) * 1000
        grand = grand / (total_population or np.nan) * 1000
    else:
        divisor = population or np.nan
        values, row_totals = values / divisor * 1000, row_totals / divisor * 1000
        column_totals, grand = column_totals / divisor * 1000, grand / divisor * 1000
    if population is None:
        notes.append("The number of residents of this area is not loaded, so rates cannot be "
                     "given for it.")
    notes.append("Rates are per 1,000 residents over the whole period of each cell (not per "
                 "year); incidents with no location have no rate.")
    return values, row_totals, column_totals, grand, notes


def _area_populations(keys: list, data: ExplorerData) -> np.ndarray:
    if data.areas is None:
        return np.full(len(keys), np.nan)
    pops = dict(zip(data.areas["code"], data.areas["population"]))
    return np.array([float(pops[k]) if k in pops and pd.notna(pops[k]) and pops[k] > 0
                     else np.nan for k in keys])


def _cap_notes(pivot: eq.PivotData, settings: ExplorerSettings) -> list[str]:
    notes = []
    for capped, name, shown, total in (
            (pivot.rows_capped, settings.rows, pivot.max_rows, pivot.row_keys),
            (pivot.columns_capped, settings.columns, pivot.max_columns, pivot.column_keys)):
        if not capped:
            continue
        what = _PLURALS.get(settings.grain if name == "period" else
                            settings.level if name == "area" else name, "values")
        if name == "period":
            notes.append(f"Showing the latest {shown:,} {what} of {total:,}, to keep the table "
                         "readable: choose a shorter period or a longer grain to see the rest.")
        else:
            notes.append(f"Showing the {shown:,} {what} with the most "
                         f"{MEASURE_LABELS[settings.measure].lower()} of {total:,}, to keep the "
                         "table readable: choose an LCSP or ward, or fewer categories, to see "
                         "the rest.")
    return notes


def display_table(table: pd.DataFrame, settings: ExplorerSettings) -> tuple[pd.DataFrame, dict]:
    """The table for the screen and its column formats: numbers stay numbers unless a value is
    withheld, when the figures are shown as text with "–" for the withheld ones."""
    label_columns = [c for c in table.columns[:2] if c in (table.columns[0], CODE)]
    numbers = [c for c in table.columns if c not in label_columns]
    numeric = all(pd.api.types.is_numeric_dtype(table[c]) and not table[c].isna().any()
                  for c in numbers)
    if numeric:
        fmt = "localized" if settings.show == "count" else "%.2f"
        return table, {c: st.column_config.NumberColumn(c, format=fmt) for c in numbers}
    shown = table.copy()
    formatter = ui.fmt_int if settings.show == "count" else (lambda v: ui.fmt_rate(v, 2))
    for column in numbers:
        shown[column] = [v if isinstance(v, str) else formatter(v) for v in table[column]]
    return shown, {}


def pivot_figure(view: PivotView, settings: ExplorerSettings) -> go.Figure:
    """Lines over time when a dimension is the period, otherwise horizontal bars; series differ
    by marker, dash or pattern as well as colour."""
    fig = go.Figure()
    chart = view.chart
    y_title = settings.measure_label
    if settings.columns == "period" or settings.rows == "period":
        keys, series = ((view.column_keys, chart) if settings.columns == "period"
                        else (view.row_keys, chart.T))
        # Months on a date axis; quarters and years as their labels ("2025/26 Q1").
        x = ([pd.Timestamp(k) for k in keys] if settings.grain == "month"
             else [period_label(k, settings.grain) for k in keys])
        series = _largest(series, MAX_LINES)
        for n, (name, values) in enumerate(series.iterrows()):
            fig.add_scatter(
                x=x, y=values.to_numpy(), name=str(name), mode="lines+markers",
                line={"dash": LINE_DASHES[n % len(LINE_DASHES)], "width": 2.5},
                marker={"symbol": MARKERS[n % len(MARKERS)], "size": 7},
                hovertemplate="%{y:,.2f}" if settings.show == "rate" else "%{y:,}",
            )
        if settings.grain == "month":
            fig.update_xaxes(tickformat="%b %y", hoverformat="%b %Y")
        else:
            fig.update_xaxes(type="category")
        fig = ui.style_figure(fig, height=440, y_title=y_title)
        if len(series) == 1:
            fig.update_layout(showlegend=False)
        return fig
    bars = _largest(chart, MAX_BARS)
    # Largest at the top (plotly draws the first bar at the bottom).
    bars = bars.loc[bars.sum(axis=1, skipna=True).sort_values(kind="stable").index]
    columns = _largest(bars.T, MAX_BAR_SERIES)
    for n, (name, values) in enumerate(columns.iterrows()):
        fig.add_bar(
            y=list(bars.index), x=values.to_numpy(), name=str(name), orientation="h",
            marker={"pattern": {"shape": PATTERNS[n % len(PATTERNS)]}},
            hovertemplate="%{x:,.2f}" if settings.show == "rate" else "%{x:,}",
        )
    fig = ui.style_figure(fig, height=max(320, 60 + 26 * len(bars) * max(1, len(columns) // 2)))
    fig.update_layout(barmode="group", hovermode="y unified", showlegend=len(columns) > 1)
    fig.update_xaxes(title_text=y_title, gridcolor="#D9D9D9", rangemode="tozero",
                     tickformat=",")
    fig.update_yaxes(title_text=None, gridcolor=None, showgrid=False, automargin=True)
    return fig


def _largest(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The ``limit`` rows with the largest sums, kept in their order."""
    if len(frame) <= limit:
        return frame
    keep = frame.sum(axis=1, skipna=True).nlargest(limit).index
    return frame[frame.index.isin(keep)]


def chart_note(view: PivotView, settings: ExplorerSettings) -> str | None:
    """Says when the chart shows fewer series or bars than the table."""
    chart = view.chart
    if settings.columns == "period" or settings.rows == "period":
        n = len(chart) if settings.columns == "period" else len(chart.columns)
        if n > MAX_LINES:
            return f"The chart shows the {MAX_LINES} largest of {n:,} lines; the table has all."
        return None
    parts = []
    if len(chart) > MAX_BARS:
        parts.append(f"the {MAX_BARS} largest of {len(chart):,} rows")
    if settings.columns and len(chart.columns) > MAX_BAR_SERIES:
        parts.append(f"the {MAX_BAR_SERIES} largest of {len(chart.columns):,} columns")
    return f"The chart shows {' and '.join(parts)}; the table has all." if parts else None


# --- render -------------------------------------------------------------------------------

def about_frame(settings: ExplorerSettings, filters: Filters, view: PivotView,
                categories: pd.DataFrame) -> pd.DataFrame:
    """What a download holds, for the XLSX's second sheet."""
    names = category_names(categories)
    rows = [
        ("Measure", settings.measure_label),
        ("Rows", dimension_title(settings.rows, settings)),
        ("Columns", dimension_title(settings.columns, settings) if settings.columns else "None"),
        ("Period", filters.period.label),
        ("Area", filters.area_label),
        ("Sources", ", ".join(source_label(s) for s in settings.sources) or "All"),
        ("Categories", ", ".join(names.get(c, c) for c in settings.categories) or "All"),
        ("Downloaded", dt.datetime.now().strftime("%d %b %Y %H:%M")),
        *[("Note", note) for note in view.notes],
    ]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def download_files(view: PivotView, settings: ExplorerSettings, filters: Filters,
                   categories: pd.DataFrame) -> dict[str, tuple[str, object, str]]:
    """The CSV and XLSX of the table on the screen (the same withheld cells): format ->
    (file name, a function making the bytes, MIME type). Files are made on click (a workbook
    of a big pivot takes a moment to write)."""
    name = f"explorer_{settings.measure}_{settings.rows}" + (
        f"_by_{settings.columns}" if settings.columns else "")
    about = about_frame(settings, filters, view, categories)
    return {
        "csv": (f"{name}.csv", partial(exports.to_csv_bytes, view.table), "text/csv"),
        "xlsx": (f"{name}.xlsx",
                 partial(exports.to_xlsx_bytes, {"Pivot": view.table, "About": about}),
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    }


def render_downloads(view: PivotView, settings: ExplorerSettings, filters: Filters,
                     categories: pd.DataFrame) -> None:
    """CSV and XLSX buttons for roles that may download (each click audited)."""
    if not auth.can("download"):
        st.caption("Downloads are not part of your role.")
        return
    files = download_files(view, settings, filters, categories)
    with st.container(horizontal=True):
        for fmt, (file_name, make, mime) in files.items():
            ui.export_button(f"Download {fmt.upper()}", make, file_name,
                             key=f"explorer_{fmt}", mime=mime, rows=len(view.table))


def render_explorer_page() -> None:
    """The Data explorer page."""
    st.title("Data explorer")
    if not auth.can("explore"):  # app.py does not offer the page; this is the second lock
        st.warning("The Data explorer is for analysts: your role does not include it.",
                   icon=":material/lock:")
        return
    filters = shell.current_filters()
    st.markdown(f"**{filters.period.label}** · **{filters.area_label_md}** · choose a measure, "
                "what goes in the rows and columns, and filters; the sidebar sets the period and "
                "area.")
    available = cached(eq.load_sources)
    sources = list(available["source"])
    categories = cached(eq.load_categories)
    settings = show_settings(sources, categories)
    render_data_warnings(list(settings.sources or sources), filters.period,
                         series_breaks="area" in settings.dimensions and settings.level == "lsoa")

    settings, unmixed = unmixed_settings(settings, filters, categories)
    data = load_explorer_data(settings, filters)
    view = compute_pivot(data, settings, filters, categories, load_protection(data, filters))
    if unmixed:
        st.caption(protect.unmixed_note())
    if view.empty:
        st.info("Nothing matches these filters: no incidents in the period, area, sources and "
                "categories chosen.", icon=":material/info:")
        return
    what = f"{settings.measure_label} by " + " and ".join(
        _in_text(dimension_title(d, settings)) for d in settings.dimensions)
    if view.sensitive_below:
        protect.audit_sensitive_view("explorer", what, filters)
    st.subheader(what)
    # The chart sits beside a narrow table; a wide one (months across) needs the full width,
    # with the chart under it.
    if len(view.table.columns) <= WIDE_TABLE_COLUMNS:
        table_area, chart_area = st.columns([3, 2], gap="medium")
    else:
        table_area, chart_area = st.container(), st.container()
    with table_area:
        shown, formats = display_table(view.table, settings)
        st.dataframe(shown, hide_index=True, width="stretch",
                     height=min(38 + 35 * len(shown), 720), column_config=formats,
                     key="explorer_table")
    with chart_area:
        if view.chart.isna().all().all():
            st.info("No chart: every figure in this view is withheld (see below).",
                    icon=":material/visibility_off:")
        else:
            st.plotly_chart(ui.safe_figure(pivot_figure(view, settings)), width="stretch",
                            key="explorer_chart",
                            config={"displaylogo": False})
            note = chart_note(view, settings)
            if note:
                st.caption(note)
    for line in view.notes:
        st.caption(line)
    if len(settings.sources or sources) > 1 and settings.measure == "incidents":
        st.caption("Counts from different sources are added together: a crime reported to "
                   "more than one partner can be in more than one source.")
    render_downloads(view, settings, filters, categories)


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Data explorer"):
        render_explorer_page()
