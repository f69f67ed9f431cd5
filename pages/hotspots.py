"""Hotspot map: where crime and ASB concentrate, whether it is significant, and whether it is new.

Five views of one selection (the period, LCSP and ward of the shared filters; what to map and the
ASB type chosen here):

- Hotspot Index: each grid cell's count over the mean count of all the area's cells (the 2025
  strategic assessment's measure), in its five published classes, with the class counts;
- Significance (Gi*): Getis-Ord Gi* hot and cold spots at 90/95/99%;
- Emerging and persistent: this period against the same period in earlier years;
- By area: a choropleth by LSOA, ward or LCSP, counts or rates per 1,000 residents;
- Repeat locations: the busiest locations and the 80/20 concentration curve.

Maps are pydeck, drawn from the aggregate tables only: cells and areas, never incident points.
Every layer has a fixed ``id`` (otherwise each rerun resends it), and the grid moves to a coarser
cell size when a map would hold more than 20,000 cells. Sensitive categories are never drawn as
cells or points; by area they follow the one disclosure rule (:mod:`kpis.disclosure`, asked
through :mod:`pages.common.protect`), so the map's fill, its tooltips, the legend, the table and
its download withhold the same cells as every other page. Click a cell or an area, or choose it
in the list under the map, to see its counts by category and month and its busiest locations,
with links to the same area on the boards and the calendar.

The maths is in :mod:`kpis.hotspots`, the queries in :mod:`data_access.hotspot_queries`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize

from data_access import hotspot_queries as hq
from data_access import queries
from data_access.connection import cached
from kpis import disclosure, grid
from kpis import hotspots as hs
from kpis.periods import Period, fy_label
from kpis.text_safety import plain
from pages.common import protect, shell, ui
from pages.common.data_warnings import render_data_warnings
from pages.common.shell import Filters

# --- session keys (page-prefixed); the view-defining ones are bound to the URL --------------
K_WHAT = "hotspots_what"
K_ASB = "hotspots_asb_type"
K_VIEW = "hotspots_view"
K_SIZE = "hotspots_cell_size"
K_LEVEL = "hotspots_level"
K_MEASURE = "hotspots_measure"
K_SCHEME = "hotspots_scheme"
K_HOT = "hotspots_hot_rule"
K_FDR = "hotspots_fdr"
K_OVERLAYS = "hotspots_overlays"
K_FOCUS = "hotspots_focus"
K_MAP = "hotspots_map"
K_PICK = "hotspots_last_pick"

VIEWS = {
    "index": "Hotspot Index",
    "gi": "Significance (Gi*)",
    "trend": "Emerging and persistent",
    "areas": "By area",
    "repeat": "Repeat locations",
}
GRID_VIEWS = ("index", "gi", "trend")
LEVELS = {"lsoa": "LSOA", "ward": "Ward", "lcsp": "LCSP"}
MEASURES = {"count": "Count", "rate": "Rate per 1,000 residents"}
HOT_RULES = {"index": "Hotspot Index 2 or more", "gi": "Gi* hot spot at 95% or more"}
OVERLAYS = {"pspo": "PSPO areas", "cctv": "CCTV cameras", "knife_arch": "Knife-arch sites",
            "events": "Events and operations"}
SOURCE_LABELS = {"recorded_crime": "All recorded crime", "asb": "All anti-social behaviour",
                 "police_uk": "All police.uk crime and ASB"}
TOP_CELLS = 30
TOP_LOCATIONS = 20
MAP_HEIGHT = 560
EARLIER_YEARS = 2

# Colours. Ordered classes use viridis (perceptually even, readable with every common
# colour-vision deficiency), darkest for the highest class; significance uses ColorBrewer RdBu
# (colour-blind safe); trend classes the Okabe-Ito set. Colour is never the only cue: every
# map has a tooltip, a legend table with counts and a table of the cells or areas beside it.
INDEX_COLOURS = ("#FDE725", "#5EC962", "#21918C", "#3B528B", "#440154")
INDEX_ALPHA = (70, 150, 190, 215, 235)
CHOROPLETH_COLOURS = ("#FDE725", "#5EC962", "#21918C", "#3B528B", "#440154")
WITHHELD_COLOUR = "#BDBDBD"
GI_COLOURS = {
    "Hot spot 99%": "#B2182B", "Hot spot 95%": "#EF8A62", "Hot spot 90%": "#FDDBC7",
    "Not significant": "#F7F7F7",
    "Cold spot 90%": "#D1E5F0", "Cold spot 95%": "#67A9CF", "Cold spot 99%": "#2166AC",
}
TREND_COLOURS = {
    "New": ui.OKABE_ITO["vermillion"], "Intensifying": ui.OKABE_ITO["reddish_purple"],
    "Persistent": ui.OKABE_ITO["orange"], "Diminishing": ui.OKABE_ITO["sky_blue"],
    "Historical": ui.OKABE_ITO["blue"], "Not a hotspot": "#F7F7F7",
}
OVERLAY_COLOURS = {"pspo": "#009E73", "cctv": "#000000", "knife_arch": "#CC79A7", "events": "#0072B2"}


def _rgba(hex_colour: str, alpha: int = 200) -> list[int]:
    h = hex_colour.lstrip("#")
    return [int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), alpha]


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What to map: the query filters, and whether it is (or contains) a sensitive category."""

    key: str
    label: str
    sources: tuple[str, ...] | None
    categories: tuple[str, ...] | None
    subcategories: tuple[str, ...] | None = None
    sensitive: bool = False  # one sensitive category: areas only, under the disclosure rule
    includes_sensitive: bool = False  # the source has sensitive categories, left out here
    is_asb: bool = False

    def params(self) -> dict:
        """Keyword arguments for the hotspot queries."""
        return {"sources": self.sources, "categories": self.categories,
                "subcategories": self.subcategories}

    @property
    def measure_key(self) -> str | None:
        """The disclosure rule's key for a sensitive category (None for other selections)."""
        if not (self.sensitive and self.sources and self.categories):
            return None
        return protect.category_key(self.sources[0], self.categories[0])

    @property
    def short_label(self) -> str:
        """The label without its "(sensitive: ...)" note."""
        return self.label.split(" (")[0]


@dataclass(frozen=True)
class HotspotSettings:
    """Everything the page's widgets decided."""

    selection: Selection
    view: str
    cell_size: int
    level: str
    measure: str
    scheme: str
    hot_rule: str
    fdr: bool
    overlays: tuple[str, ...]


def selection_options(categories: pd.DataFrame) -> dict[str, Selection]:
    """The "what to map" choices: everything, each source, then each category.

    Everything on this page is below partnership level, so the selections that add categories
    up leave the sensitive ones out (rule 4 of :mod:`kpis.disclosure`: otherwise "all crime"
    minus every other category would give them); each is offered on its own.
    """
    sensitive = categories[categories["is_sensitive"]]
    plain = tuple(dict.fromkeys(categories.loc[~categories["is_sensitive"], "category"]))
    options = {"all": Selection("all", "All crime and ASB", None,
                                plain if not sensitive.empty else None,
                                includes_sensitive=not sensitive.empty)}
    for source in dict.fromkeys(categories["source"]):
        rows = categories[categories["source"] == source]
        mixed = bool(rows["is_sensitive"].any())
        options[f"source:{source}"] = Selection(
            f"source:{source}", SOURCE_LABELS.get(source, f"All {source}"), (source,),
            tuple(rows.loc[~rows["is_sensitive"], "category"]) if mixed else None,
            includes_sensitive=mixed, is_asb=bool(rows["is_asb"].all()),
        )
    for row in categories.itertuples(index=False):
        key = f"cat:{row.source}:{row.category}"
        label = row.label + (" (sensitive: by area only)" if row.is_sensitive else "")
        options[key] = Selection(key, label, (row.source,), (row.category,),
                                 sensitive=bool(row.is_sensitive),
                                 includes_sensitive=bool(row.is_sensitive), is_asb=bool(row.is_asb))
    return options


def _subcategory_label(code: str) -> str:
    return code.replace("_", " ").capitalize() if code else "All ASB types"


def read_settings(categories: pd.DataFrame, subcategories: pd.DataFrame) -> HotspotSettings:
    """Draw the page's controls and return what they say."""
    options = selection_options(categories)
    view = st.segmented_control("View", tuple(VIEWS), key=K_VIEW, bind="query-params",
                                default="index", required=True, format_func=lambda k: VIEWS[k])
    top = st.columns([3, 2, 5])
    what = top[0].selectbox("What to map", tuple(options), key=K_WHAT, bind="query-params",
                            format_func=lambda k: options[k].label)
    selection = options[what]
    if selection.is_asb:
        asb_codes = tuple(subcategories.loc[subcategories["source"].isin(selection.sources or ()),
                                            "subcategory"].drop_duplicates())
        asb = top[1].selectbox("ASB type", ("", *asb_codes), key=K_ASB, bind="query-params",
                               format_func=_subcategory_label)
        if asb:
            selection = Selection(selection.key, f"{selection.label}: {_subcategory_label(asb)}",
                                  selection.sources, selection.categories, (asb,),
                                  is_asb=True)
    else:
        top[1].selectbox("ASB type", ("",), format_func=_subcategory_label, disabled=True,
                         help="For anti-social behaviour only.", key=f"{K_ASB}_disabled")
    row = st.columns([2, 3, 3, 2])
    cell_size, level, measure, scheme = grid.CELL_SIZES_M[0], "ward", "count", "quantiles"
    hot_rule, fdr = "index", False
    if view in GRID_VIEWS:
        cell_size = row[0].segmented_control(
            "Cell size", grid.CELL_SIZES_M, key=K_SIZE, bind="query-params", default=250,
            required=True, format_func=lambda s: f"{s} m" if s < 1000 else "1 km",
            help="Square cells on the British National Grid. A coarser size is used "
                 "automatically when a map would hold more than 20,000 cells.")
    if view == "gi":
        fdr = row[1].toggle("Correct for many tests", key=K_FDR,
                            help="Benjamini-Hochberg false discovery rate: with thousands of "
                                 "cells, about one in ten passes 90% by chance alone.")
    if view == "trend":
        hot_rule = row[1].selectbox("A hotspot is", tuple(HOT_RULES), key=K_HOT,
                                    format_func=lambda k: HOT_RULES[k])
    if view == "areas":
        level = row[0].segmented_control("Areas", tuple(LEVELS), key=K_LEVEL, bind="query-params",
                                         default="ward", required=True,
                                         format_func=lambda k: LEVELS[k])
        measure = row[1].segmented_control("Measure", tuple(MEASURES), key=K_MEASURE,
                                           bind="query-params", default="count", required=True,
                                           format_func=lambda k: MEASURES[k])
        scheme = row[2].segmented_control("Classes", tuple(hs.CHOROPLETH_SCHEMES), key=K_SCHEME,
                                          bind="query-params", default="quantiles",
                                          required=True,
                                          format_func=lambda k: hs.CHOROPLETH_SCHEMES[k])
    overlays = top[2].multiselect("Overlays", tuple(OVERLAYS), key=K_OVERLAYS,
                                  default=["pspo"], format_func=lambda k: OVERLAYS[k])
    return HotspotSettings(selection, view, int(cell_size), level, measure, scheme, hot_rule,
                           bool(fdr), tuple(overlays))


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """The area the maps cover: the ward, else the LCSP, else the partnership."""

    code: str
    name: str
    level: str
    boundary: str | None
    synthetic: bool


@dataclass
class ViewData:
    """What a view draws: the main layer's records, its legend and table, notes and choices."""

    layer_id: str
    kind: str  # cells | areas | locations | none
    records: list[dict] = field(default_factory=list)
    legend: pd.DataFrame | None = None  # Class, colour, counts
    table: pd.DataFrame | None = None  # beside the map (and its download)
    table_title: str = ""
    focus: dict[str, str] = field(default_factory=dict)  # focus key -> label
    notes: list[str] = field(default_factory=list)
    message: str | None = None  # shown instead of a map
    cell_size: int | None = None
    level: str | None = None  # area level of an area view
    curve: pd.DataFrame | None = None


def load_region(filters: Filters) -> Region:
    """The boundary the grid and the map view are fitted to."""
    if filters.ward:
        frame = cached(hq.load_boundaries, level="ward", lcsp=filters.lcsp)
        frame = frame[frame["code"] == filters.ward]
        level = "ward"
    elif filters.lcsp:
        frame = cached(hq.load_boundaries, level="lcsp", lcsp=filters.lcsp)
        level = "lcsp"
    else:
        frame = cached(hq.load_boundaries, level="partnership")
        level = "partnership"
    if frame.empty:
        return Region("", filters.area_label, level, None, False)
    row = frame.iloc[0]
    source = str(row["boundary_source"] or "")
    return Region(str(row["code"]), str(row["name"]), level,
                  row["boundary_geojson"] if isinstance(row["boundary_geojson"], str) else None,
                  "synthetic" in source.lower())


def _period_params(filters: Filters) -> dict:
    return {"month_from": filters.month_from, "month_to": filters.month_to}


def _cells(filters: Filters, selection: Selection, size: int, region: Region,
           period: Period | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Cell counts for the selection (inside the region when a ward is chosen) and the region's cells."""
    months = ({"month_from": period.start.replace(day=1), "month_to": period.end.replace(day=1)}
              if period else _period_params(filters))
    counts = cached(hq.load_cell_counts, cell_size=size, lcsp=filters.lcsp, **months,
                    **selection.params())
    region_cells = None
    if region.code and region.boundary:
        ids = cached(hq.area_cell_ids, area_code=region.code, cell_size=size)["cell_id"].to_numpy()
        if len(ids):
            region_cells = ids
            if filters.ward:  # a ward: the cells whose centre lies in it
                counts = counts[counts["cell_id"].isin(ids)]
    return counts, region_cells


def choose_size(filters: Filters, selection: Selection, preferred: int) -> tuple[int, str | None]:
    """The cell size to draw, coarser than asked when the map would hold too many cells."""
    per_size = cached(hq.load_cells_per_size, lcsp=filters.lcsp, **_period_params(filters),
                      **selection.params())
    counts = dict(zip(per_size["cell_size"], per_size["cells"]))
    if not counts:
        return preferred, None
    size = hs.choose_cell_size(counts, preferred, hs.MAX_MAP_CELLS)
    note = None
    if size != preferred:
        note = (f"{preferred} m cells would draw {counts[preferred]:,} cells (more than "
                f"{hs.MAX_MAP_CELLS:,}), so the map uses {size} m cells.")
    return size, note


def _ward_names(filters: Filters) -> tuple[dict[str, str], dict[str, str]]:
    wards = cached(hq.load_boundaries, level="ward", lcsp=filters.lcsp)
    return (dict(zip(wards["code"], wards["name"])),
            dict(zip(wards["code"], wards["boundary_geojson"])))


def _cell_wards(cell_ids: np.ndarray, size: int, filters: Filters) -> list[str]:
    names, shapes = _ward_names(filters)
    if len(cell_ids) == 0:
        return []
    lon, lat = grid.cell_centres(np.asarray(cell_ids, dtype="int64"), size)
    return [names.get(code, "outside the wards") if code else "outside the wards"
            for code in hs.areas_at_points(lon, lat, shapes)]


def _focus_cells(frame: pd.DataFrame, size: int, filters: Filters, score: str) -> dict[str, str]:
    top = frame.sort_values([score, "n"], ascending=False).head(TOP_CELLS)
    wards = _cell_wards(top["cell_id"].to_numpy(), size, filters)
    return {f"cell:{size}:{cid}": f"Cell in {ward}: {n:,} incidents"
            for cid, n, ward in zip(top["cell_id"], top["n"], wards)}


def _as_text(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Withheld count columns mix numbers and "withheld": show them all as text (one type)."""
    out = frame.copy()
    for column in columns:
        out[column] = [v if isinstance(v, str) else ui.fmt_int(v) for v in out[column]]
    return out


def _legend(labels, colours, counts, what: str) -> pd.DataFrame:
    total = sum(counts)
    return pd.DataFrame({
        "Key": [""] * len(labels), "Class": list(labels), what: list(counts),
        "Share": [c / total if total else 0.0 for c in counts], "_colour": list(colours),
    })


def compute_index_view(filters: Filters, settings: HotspotSettings, region: Region) -> ViewData:
    """Hotspot Index cells, the five classes and their counts."""
    size, note = choose_size(filters, settings.selection, settings.cell_size)
    # The id names the cell size: a selection made on another size's layer is not read as this one's.
    data = ViewData(layer_id=f"hotspots-index-{size}", kind="cells", cell_size=size)
    if note:
        data.notes.append(note)
    counts, region_cells = _cells(filters, settings.selection, size, region)
    result = hs.compute_hotspot_index(counts, region_cells)
    cells = result.cells
    drawn = cells[cells["n"] > 0].sort_values("hotspot_index", ascending=False)
    codes = drawn["hotspot_class"].cat.codes.to_numpy()
    drawn = drawn.assign(
        fill=[_rgba(INDEX_COLOURS[c], INDEX_ALPHA[c]) for c in codes],
        tip=[f"{n:,} incidents · index {i:.2f} · class {k}"
             for n, i, k in zip(drawn["n"], drawn["hotspot_index"], drawn["hotspot_class"])],
    )
    data.records = hs.cell_records(drawn, size, ["n", "fill", "tip"], max_cells=hs.MAX_MAP_CELLS)
    classes = result.class_counts
    data.legend = _legend(classes["hotspot_class"], INDEX_COLOURS, classes["cells"], "Cells")
    top = drawn.head(TOP_CELLS)
    data.table = pd.DataFrame({
        "Rank": np.arange(1, len(top) + 1),
        "Ward": _cell_wards(top["cell_id"].to_numpy(), size, filters),
        "Incidents": top["n"].to_numpy(),
        "Hotspot Index": top["hotspot_index"].round(2).to_numpy(),
        "Class": top["hotspot_class"].astype(str).to_numpy(),
    })
    data.table_title = f"Top {len(top)} cells"
    data.focus = _focus_cells(drawn, size, filters, "hotspot_index")
    where = ("all " if result.mean_over == "all cells in the area" else "") + \
        f"{len(cells):,} {size} m cells" + (
            " of the area (empty cells included)" if result.mean_over == "all cells in the area"
            else " with at least one incident (no boundary known)")
    data.notes.append(
        f"Hotspot Index = a cell's count ÷ the mean count of {where}: mean "
        f"{result.mean:.2f} incidents per cell. Classes as in the 2025 strategic assessment; "
        f"cells with no incidents are counted in 0-0.5 but not drawn."
    )
    return data


def compute_gi_view(filters: Filters, settings: HotspotSettings, region: Region) -> ViewData:
    """Gi* hot and cold spots on the grid."""
    size, note = choose_size(filters, settings.selection, settings.cell_size)
    data = ViewData(layer_id=f"hotspots-gi-{size}", kind="cells", cell_size=size)
    if note:
        data.notes.append(note)
    counts, region_cells = _cells(filters, settings.selection, size, region)
    cells = hs.grid_gi_star(counts, region_cells, fdr=settings.fdr)
    significant = cells[cells["gi_band"] != "Not significant"].copy()
    significant = significant.sort_values("gi_z", ascending=False, key=abs)
    significant = significant.assign(
        fill=[_rgba(GI_COLOURS[b], 210) for b in significant["gi_band"]],
        tip=[f"{b} · z = {z:.2f} · {n:,} incidents"
             for b, z, n in zip(significant["gi_band"], significant["gi_z"], significant["n"])],
    )
    data.records = hs.cell_records(significant, size, ["n", "fill", "tip"], max_cells=hs.MAX_MAP_CELLS)
    bands = cells["gi_band"].value_counts().reindex(hs.GI_BANDS, fill_value=0)
    data.legend = _legend(hs.GI_BANDS, [GI_COLOURS[b] for b in hs.GI_BANDS], bands.tolist(), "Cells")
    hot = cells[cells["gi_band"].astype(str).str.startswith("Hot")].sort_values("gi_z", ascending=False)
    top = hot.head(TOP_CELLS)
    data.table = pd.DataFrame({
        "Rank": np.arange(1, len(top) + 1),
        "Ward": _cell_wards(top["cell_id"].to_numpy(), size, filters),
        "Incidents": top["n"].to_numpy(),
        "Gi* z": top["gi_z"].round(2).to_numpy(),
        "Significance": top["gi_band"].astype(str).to_numpy(),
    })
    data.table_title = f"Strongest {len(top)} hot spots"
    data.focus = _focus_cells(hot if not hot.empty else cells, size, filters, "gi_z")
    data.notes.append(
        "Getis-Ord Gi*: each cell with its eight neighbours against the area-wide mean, over "
        f"{len(cells):,} cells (empty cells count as zero). Hot/cold at 90%, 95%, 99% means "
        "|z| above 1.645, 1.960, 2.576"
        + ("; corrected for testing many cells (false discovery rate)." if settings.fdr else
           ". Uncorrected: with this many cells some pass 90% by chance; switch on the "
           "correction to be stricter.")
        + " Only significant cells are drawn."
    )
    return data


def period_name(period: Period) -> str:
    """"2024/25" for a whole financial year, else "Apr 2025 to Sep 2025"."""
    if (period.start.month, period.start.day) == (4, 1) and period.end == dt.date(period.start.year + 1, 3, 31):
        return fy_label(period.start.year)
    return f"{ui.fmt_month(period.start)} to {ui.fmt_month(period.end)}"


def earlier_periods(filters: Filters) -> list[Period]:
    """The same period in each of the previous years that the data reach."""
    context = shell.current_context()
    first = context.first_month if context else filters.period.start
    out, period = [], filters.period
    for _ in range(EARLIER_YEARS):
        period = period.previous_year()
        if period.start.replace(day=1) < first:
            break
        out.append(period)
    return out


def compute_trend_view(filters: Filters, settings: HotspotSettings, region: Region) -> ViewData:
    """Cells classified new, intensifying, persistent, diminishing or historical."""
    earlier = earlier_periods(filters)
    data = ViewData(layer_id=f"hotspots-trend-{settings.cell_size}", kind="cells")
    if not earlier:
        data.kind = "none"
        data.message = ("Emerging and persistent hotspots compare this period with the same "
                        "period in earlier years, and the data do not reach back far enough. "
                        "Choose a later period.")
        return data
    size, note = choose_size(filters, settings.selection, settings.cell_size)
    data.layer_id, data.cell_size = f"hotspots-trend-{size}", size
    if note:
        data.notes.append(note)
    periods = [filters.period, *earlier]
    index_cols, hot_cols, counts_now = {}, {}, None
    for k, period in enumerate(periods):
        counts, region_cells = _cells(filters, settings.selection, size, region, period)
        if k == 0:
            counts_now = counts
        result = hs.compute_hotspot_index(counts, region_cells)
        index_cols[period_name(period)] = result.cells.set_index("cell_id")["hotspot_index"]
        if settings.hot_rule == "gi":
            gi = hs.grid_gi_star(counts, region_cells).set_index("cell_id")["gi_band"]
            hot_cols[period_name(period)] = gi.isin(["Hot spot 95%", "Hot spot 99%"])
    labels = [period_name(p) for p in periods]
    current = index_cols[labels[0]]
    before = pd.DataFrame({label: index_cols[label] for label in labels[1:]})
    kwargs = {}
    if settings.hot_rule == "gi":
        kwargs = {"current_hot": hot_cols[labels[0]],
                  "earlier_hot": pd.DataFrame({label: hot_cols[label] for label in labels[1:]})}
    trend = hs.classify_trend(current, before, **kwargs)
    trend.index.name = "cell_id"
    trend = trend.reset_index().merge(counts_now, on="cell_id", how="left")
    trend["n"] = trend["n"].fillna(0).astype("int64")
    shown = trend[trend["trend"] != "Not a hotspot"].sort_values("current", ascending=False)
    shown = shown.assign(
        fill=[_rgba(TREND_COLOURS[t], 215) for t in shown["trend"]],
        tip=[f"{t} · index now {c:.2f}, before {b:.2f} · {n:,} incidents now"
             for t, c, b, n in zip(shown["trend"], shown["current"], shown["before"], shown["n"])],
    )
    data.records = hs.cell_records(shown, size, ["n", "fill", "tip"], max_cells=hs.MAX_MAP_CELLS)
    counts = trend["trend"].value_counts().reindex(hs.TREND_CLASSES, fill_value=0)
    data.legend = _legend(hs.TREND_CLASSES, [TREND_COLOURS[t] for t in hs.TREND_CLASSES],
                          counts.tolist(), "Cells")
    order = {t: i for i, t in enumerate(hs.TREND_CLASSES)}
    top = (shown.assign(_order=shown["trend"].astype(str).map(order))
           .sort_values(["_order", "current"], ascending=[True, False]).head(TOP_CELLS * 2))
    data.table = pd.DataFrame({
        "Class": top["trend"].astype(str).to_numpy(),
        "Ward": _cell_wards(top["cell_id"].to_numpy(), size, filters),
        "Index now": top["current"].round(2).to_numpy(),
        "Index before (mean)": top["before"].round(2).to_numpy(),
        "Periods hot before": top["periods_hot_before"].to_numpy(),
        "Incidents now": top["n"].to_numpy(),
    })
    data.table_title = "Cells that are or were hotspots"
    data.focus = _focus_cells(shown.assign(score=shown["current"]), size, filters, "score")
    rule = ("its Hotspot Index is 2 or more" if settings.hot_rule == "index"
            else "it is a Gi* hot spot at 95% or more")
    data.notes.append(
        f"{labels[0]} against {' and '.join(labels[1:])}. A cell is a "
        f"hotspot in a period when {rule}. New: a hotspot now and in no earlier period. "
        "Intensifying / persistent / diminishing: a hotspot now and before, with the index now "
        "at least 25% above / within 25% of / at least 25% below its earlier mean. Historical: "
        "a hotspot before but not now. The index is relative to each period's own mean, so a "
        "city-wide rise or fall does not by itself move a cell between classes."
    )
    return data


def area_lcsps(filters: Filters, level: str,
               ward_of_lsoa: dict[str, str] | None = None) -> Callable[[str], str | None]:
    """The LCSP each area of ``level`` lies in, as the disclosure rule groups it: wards by the
    grouping of the filters' financial year; an LSOA by its ward (``ward_of_lsoa``)."""
    if level == "lcsp":
        return lambda code: code
    membership = cached(queries.load_ward_membership, fy_start=filters.membership_fy)
    lcsp_of_ward = dict(zip(membership["ward_code"], membership["lcsp_code"]))
    if level == "ward":
        return lcsp_of_ward.get
    wards = ward_of_lsoa or {}
    return lambda code: lcsp_of_ward.get(wards.get(code))


def withheld_areas(filters: Filters, selection: Selection, level: str, codes,
                   lcsp_of: Callable[[str], str | None]) -> np.ndarray:
    """True where this viewer may not see the selection's count for the area (the one rule,
    on the complete area tree: see :mod:`pages.common.protect`)."""
    codes = list(codes)
    key = selection.measure_key
    if key is None:
        return np.zeros(len(codes), dtype=bool)
    return np.asarray(protect.withheld_codes(key, filters.period, level=level, codes=codes,
                                             lcsp_of=lcsp_of), dtype=bool).reshape(len(codes))


def _area_tip(name: str, n: int, rate: float, label: str, withheld: bool) -> str:
    # A withheld area's tooltip carries no figure at all: neither its count nor its rate.
    if withheld:
        return f"{name}: incidents {disclosure.WITHHELD}"
    rate_text = ui.NO_VALUE if pd.isna(rate) else f"{rate:.1f}"
    return f"{name}: {n:,} incidents · {rate_text} per 1,000 residents · {label}"


def compute_area_view(filters: Filters, settings: HotspotSettings, region: Region) -> ViewData:
    """Choropleth of counts or rates by LSOA, ward or LCSP; a sensitive category under the
    disclosure rule (withheld areas grey, with no figure in the tooltip, table or download)."""
    level = settings.level
    selection = settings.selection
    data = ViewData(layer_id=f"hotspots-areas-{level}", kind="areas", level=level)
    counts = cached(hq.load_area_counts, level=level, lcsp=filters.lcsp,
                    **_period_params(filters), **selection.params())
    shapes = cached(hq.load_boundaries, level=level, lcsp=filters.lcsp)
    if filters.ward and level == "lsoa":
        counts = counts[counts["parent_code"] == filters.ward]
    frame = counts.merge(shapes[["code", "boundary_geojson"]], on="code", how="left")
    frame = frame.reset_index(drop=True)
    frame["rate"] = hs.rate_per_1000(frame["n"], frame["population"])
    lcsp_of = area_lcsps(filters, level, dict(zip(frame["code"], frame["parent_code"])))
    withheld = withheld_areas(filters, selection, level, frame["code"], lcsp_of)
    value_col = "rate" if settings.measure == "rate" else "n"
    values = frame[value_col].astype("float64").where(~withheld)
    classes = hs.choropleth_classes(values, settings.scheme, k=5,
                                    decimals=1 if settings.measure == "rate" else 0)
    k = len(classes.labels)
    palette = tuple(CHOROPLETH_COLOURS[int(i)] for i in np.linspace(0, 4, k).round()) if k else ()
    label_of = [disclosure.WITHHELD if w else (classes.labels[c] if c >= 0 else "No value")
                for c, w in zip(classes.codes, withheld)]
    fills = [_rgba(palette[c], 200) if c >= 0 else _rgba(WITHHELD_COLOUR, 150)
             for c in classes.codes]
    frame = frame.assign(
        fill=fills,
        tip=[_area_tip(name, n, r, lab, w) for name, n, r, lab, w in
             zip(frame["name"], frame["n"], frame["rate"], label_of, withheld)],
    )
    data.records = hs.area_records(frame, ["name", "fill", "tip"])
    legend_labels = list(classes.labels)
    legend_colours = list(palette)
    legend_counts = [int((classes.codes == c).sum()) for c in range(k)]
    if withheld.any():
        legend_labels.append(disclosure.WITHHELD)
        legend_colours.append(WITHHELD_COLOUR)
        legend_counts.append(int(withheld.sum()))
    data.legend = _legend(legend_labels, legend_colours, legend_counts, "Areas")
    # Withheld areas go last, in code order: sorted among the others by their hidden value,
    # their place in the list would tell it.
    table = pd.DataFrame({
        LEVELS[level]: frame["name"], "Code": frame["code"], "Incidents": frame["n"],
        "Residents": frame["population"], "Per 1,000 residents": frame["rate"].round(1),
        "Class": label_of, "_withheld": withheld,
        "_value": frame[value_col].astype("float64").where(~withheld),
    }).sort_values(["_withheld", "_value", "Code"], ascending=[True, False, True],
                   na_position="last", kind="stable")
    if selection.measure_key is not None:
        table = _as_text(disclosure.withhold(table, table["_withheld"].to_numpy(), ["Incidents"],
                                             ["Per 1,000 residents"]), ["Incidents"])
    data.table = table.drop(columns=["_withheld", "_value"])
    data.table_title = f"{LEVELS[level]}s by {MEASURES[settings.measure].lower()}"
    data.focus = {f"area:{level}:{c}": f"{name} ({c})"
                  for c, name in zip(table["Code"], table[LEVELS[level]])}
    scheme = hs.CHOROPLETH_SCHEMES[settings.scheme]
    data.notes.append(
        f"{MEASURES[settings.measure]} by {LEVELS[level]} in {k} class{'es' if k != 1 else ''} "
        f"({scheme}). Areas as "
        "drawn now: an LCSP's count is the sum of the wards it holds today."
    )
    if selection.measure_key is not None:
        data.notes.append(
            f"{plain(selection.short_label)} is a sensitive category. "
            f"{disclosure.note(protect.rule())} Withheld areas are grey on the map, with no "
            "count or rate in the tooltip, table or download; classes are made from the other "
            "areas only."
        )
    return data


def compute_repeat_view(filters: Filters, settings: HotspotSettings) -> ViewData:
    """Busiest locations and the concentration curve."""
    data = ViewData(layer_id="hotspots-locations", kind="locations")
    params = {"lcsp": filters.lcsp, **_period_params(filters), **settings.selection.params()}
    area = {"area_level": "ward", "area_code": filters.ward} if filters.ward else {}
    top = cached(hq.load_top_locations, limit=TOP_LOCATIONS, **params, **area)
    dist = cached(hq.load_location_distribution, **params)
    total = int((dist["n"] * dist["locations"]).sum())
    curve = hs.concentration_curve(dist["n"], dist["locations"])
    data.curve = curve
    table = hs.repeat_location_table(top, total)
    data.table = pd.DataFrame({
        "Rank": table["rank"], "Location": table["location"], "LSOA": table["lsoa_code"],
        "Incidents": table["n"], "Share of all": table["share"],
        "Cumulative share": table["cumulative_share"],
    })
    data.table_title = f"Top {len(table)} locations"
    biggest = max(table["n"].max(), 1) if len(table) else 1
    data.records = [
        {"position": [round(lon, 5), round(lat, 5)], "n": int(n),
         "radius": 40 + 160 * math.sqrt(n / biggest),
         "fill": _rgba(ui.OKABE_ITO["vermillion"], 200),
         "tip": f"#{r} {loc}: {n:,} incidents ({s:.1%} of all)"}
        for r, loc, n, lon, lat, s in zip(table["rank"], table["location"], table["n"],
                                          table["longitude"], table["latitude"], table["share"])
        if pd.notna(lon) and pd.notna(lat)
    ]
    locations = int(dist["locations"].sum())
    if locations:
        top20 = hs.incident_share_of_top(curve, 0.2)
        need = hs.location_share_for(curve, 0.8)
        data.notes.append(
            f"{locations:,} locations had at least one incident. The busiest 20% of them account "
            f"for {top20:.0%} of incidents; 80% of incidents happen at {need:.0%} of locations."
        )
    if filters.ward:
        data.notes.append("The list is for the chosen ward; the curve for the whole selection.")
    data.notes.append("A location is a street-level name within an LSOA.")
    return data


def load_outlines(filters: Filters) -> list[dict]:
    """Ward outlines for orientation (the chosen LCSP's wards, or all)."""
    wards = cached(hq.load_boundaries, level="ward", lcsp=filters.lcsp)
    return hs.area_records(wards, ["name"], tolerance_deg=2e-4)


def load_overlay_records(filters: Filters, kinds: tuple[str, ...]) -> dict[str, list[dict]]:
    """Overlay records by kind for the chosen period."""
    out: dict[str, list[dict]] = {}
    table_kinds = tuple(k for k in kinds if k != "events")
    if table_kinds:
        frame = cached(hq.load_overlays, kinds=table_kinds, **_period_params(filters))
        for kind in table_kinds:
            rows = frame[frame["kind"] == kind]
            if kind == "pspo":
                shapes = rows.rename(columns={"overlay_id": "code", "geometry_geojson": "boundary_geojson"})
                shapes = shapes.assign(tip=[f"PSPO: {n}" for n in shapes["name"]], label="PSPO")
                records = hs.area_records(shapes, ["tip", "label"])
                for record in records:
                    ring = np.asarray(record["polygon"][0])
                    record["centre"] = [round(float(ring[:, 0].mean()), 5),
                                        round(float(ring[:, 1].mean()), 5)]
                out[kind] = records
            else:
                out[kind] = [
                    {"position": [round(x, 5), round(y, 5)], "tip": f"{row_name}",
                     "label": "CCTV" if kind == "cctv" else "Knife arch"}
                    for x, y, row_name in zip(rows["longitude"], rows["latitude"], rows["name"])
                    if pd.notna(x) and pd.notna(y)
                ]
    if "events" in kinds:
        events = cached(hq.load_located_events, **_period_params(filters))
        out["events"] = [
            {"position": [round(x, 5), round(y, 5)],
             "tip": f"{n} ({ui.fmt_day(s.date())} to {ui.fmt_day(e.date())})", "label": "Event"}
            for n, x, y, s, e in zip(events["name"], events["longitude"], events["latitude"],
                                     events["start_date"], events["end_date"])
        ]
    return out


# --- figures --------------------------------------------------------------------------------


def view_state_for(boundary: str | None, fallback: tuple[float, float] = (-1.89, 52.48)) -> pdk.ViewState:
    """A view that fits ``boundary`` (WGS84 GeoJSON) in a map about 600 x 560 pixels."""
    if not boundary:
        return pdk.ViewState(longitude=fallback[0], latitude=fallback[1], zoom=10.5)
    x0, y0, x1, y1 = hs._geometry(boundary).bounds
    lat = (y0 + y1) / 2
    lon_span = max(x1 - x0, 1e-3)
    lat_span = max((y1 - y0) / math.cos(math.radians(lat)), 1e-3)
    zoom = min(math.log2(600 * 360 / (256 * lon_span)), math.log2(MAP_HEIGHT * 360 / (256 * lat_span)))
    return pdk.ViewState(longitude=(x0 + x1) / 2, latitude=lat, zoom=round(zoom - 0.25, 2))


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation.

    pydeck indents its JSON by two spaces, one number per line: for a polygon map that is three
    times the size (measured: 2.46 MB instead of 0.84 MB for 4,302 cells), and Streamlit sends
    ``to_json()`` as it is.
    """

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"),
                          ensure_ascii=False)


def hotspot_deck(
    data: ViewData,
    outlines: list[dict],
    overlays: dict[str, list[dict]],
    view_state: pdk.ViewState,
    focus_polygon: list | None = None,
) -> pdk.Deck:
    """The map: outlines, the view's main (pickable) layer, overlays and the focus outline."""
    layers = [pdk.Layer(
        "PolygonLayer", data=outlines, id="hotspots-outlines", get_polygon="polygon",
        filled=False, stroked=True, get_line_color=[60, 60, 60, 140], line_width_min_pixels=1,
        pickable=False,
    )]
    if data.kind == "cells":
        # Square cells from their centres: two numbers a cell instead of four corners (a third
        # of the payload and of the time to build it). deck.gl draws them square in metres on
        # the Web Mercator plane, not on the national grid: neighbours can be out by a metre or
        # two, which shows only when zoomed in far beyond street level (under a pixel at 15).
        layers.append(pdk.Layer(
            "GridCellLayer", data=data.records, id=data.layer_id, get_position="position",
            cell_size=data.cell_size, offset=[0, 0], extruded=False, get_fill_color="fill",
            pickable=True, auto_highlight=True,
        ))
    elif data.kind == "areas":
        layers.append(pdk.Layer(
            "PolygonLayer", data=data.records, id=data.layer_id, get_polygon="polygon",
            get_fill_color="fill", stroked=True, get_line_color=[255, 255, 255, 220],
            line_width_min_pixels=1, pickable=True, auto_highlight=True,
        ))
    elif data.kind == "locations":
        layers.append(pdk.Layer(
            "ScatterplotLayer", data=data.records, id=data.layer_id, get_position="position",
            get_radius="radius", radius_min_pixels=4,
            get_fill_color="fill", stroked=True, get_line_color=[0, 0, 0, 255],
            line_width_min_pixels=1, pickable=True, auto_highlight=True,
        ))
    if overlays.get("pspo"):
        # Outline only: a click inside a PSPO reaches the cell or area under it.
        layers.append(pdk.Layer(
            "PolygonLayer", data=overlays["pspo"], id="hotspots-overlay-pspo",
            get_polygon="polygon", filled=False, stroked=True,
            get_line_color=_rgba(OVERLAY_COLOURS["pspo"], 255), line_width_min_pixels=3,
            pickable=True,
        ))
        labels = [{"centre": r["centre"], "label": r["label"]} for r in overlays["pspo"]]
        layers.append(pdk.Layer(
            "TextLayer", data=labels, id="hotspots-overlay-pspo-labels",
            get_position="centre", get_text="label", get_size=12,
            get_color=_rgba(OVERLAY_COLOURS["pspo"], 255),
            background=True, get_background_color=[255, 255, 255, 220],
        ))
    for kind in ("cctv", "knife_arch", "events"):
        if overlays.get(kind):
            colour = OVERLAY_COLOURS[kind]
            layers.append(pdk.Layer(
                "ScatterplotLayer", data=overlays[kind], id=f"hotspots-overlay-{kind}",
                # pydeck reads a plain string as an accessor expression: say it is a literal.
                get_position="position", get_radius=6, radius_units=pdk.types.String("pixels"),
                get_fill_color=_rgba(colour, 255), stroked=True,
                get_line_color=[255, 255, 255, 255], line_width_min_pixels=2, pickable=True,
            ))
            # A text label as well as a colour: the kind is never shown by colour alone.
            layers.append(pdk.Layer(
                "TextLayer", data=overlays[kind], id=f"hotspots-overlay-{kind}-labels",
                get_position="position", get_text="label", get_size=12,
                get_color=_rgba(colour, 255), get_pixel_offset=[0, -14],
                background=True, get_background_color=[255, 255, 255, 220],
            ))
    if focus_polygon:
        layers.append(pdk.Layer(
            "PolygonLayer", data=[{"polygon": focus_polygon}], id="hotspots-focus",
            get_polygon="polygon", filled=False, stroked=True, get_line_color=[0, 0, 0, 255],
            line_width_min_pixels=3, pickable=False,
        ))
    return CompactDeck(
        layers=layers, initial_view_state=view_state, map_style=None,
        tooltip={"text": "{tip}"},
    )


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    """The concentration curve with the 80/20 reference lines."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="Evenly spread",
                    line={"color": ui.PREVIOUS_COLOUR, "dash": "dash", "width": 2},
                    hoverinfo="skip")
    fig.add_scatter(x=curve["location_share"], y=curve["incident_share"], mode="lines",
                    name="Locations, busiest first", line={"color": ui.CURRENT_COLOUR, "width": 3},
                    hovertemplate="Top %{x:.0%} of locations: %{y:.0%} of incidents<extra></extra>")
    fig.add_vline(x=0.2, line={"color": "#595959", "dash": "dot", "width": 1})
    fig.add_hline(y=0.8, line={"color": "#595959", "dash": "dot", "width": 1})
    fig.update_layout(hovermode="closest")
    ui.style_figure(fig, height=340, y_title="Share of incidents")
    fig.update_xaxes(title_text="Share of locations (busiest first)", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return fig


def detail_figure(detail: pd.DataFrame) -> go.Figure:
    """Stacked monthly bars by category (the six largest, the rest as "Other")."""
    fig = go.Figure()
    totals = detail.groupby("label")["n"].sum().sort_values(ascending=False)
    keep = list(totals.index[:6])
    frame = detail.assign(label=detail["label"].where(detail["label"].isin(keep), "Other"))
    frame = frame.groupby(["month_start", "label"], as_index=False)["n"].sum()
    for k, label in enumerate([*keep, "Other"]):
        rows = frame[frame["label"] == label]
        if rows.empty:
            continue
        fig.add_bar(x=rows["month_start"], y=rows["n"], name=label,
                    marker={"color": ui.PALETTE[k % len(ui.PALETTE)],
                            # patterns as well as colours: categories not told apart by colour alone
                            "pattern": {"shape": ["", "/", ".", "x", "-", "|", "+"][k % 7]}},
                    hovertemplate=f"{label}: %{{y:,}}<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat="%b %Y")
    ui.style_figure(fig, height=380, y_title="Incidents")
    # Up to seven categories: the legend goes under the bars so it never covers the title.
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
                      margin={"l": 8, "r": 8, "t": 40, "b": 8})
    return fig


# --- render ---------------------------------------------------------------------------------


def pick_from(state, data: ViewData) -> tuple[str, str] | None:
    """(focus key, label) of the object clicked on the map (the chart's selection state), if any.

    The selection comes from the browser, so it is only a pointer: a cell or area counts only
    when it is one drawn on this map (the view's own records), and its label is made from the
    page's own data, never taken from the payload. Anything else is no click at all."""
    try:
        objects = state["selection"]["objects"][data.layer_id]
        obj = objects[0]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(obj, dict):
        return None
    if data.kind == "cells" and data.cell_size:
        cell = obj.get("cell")
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        if isinstance(cell, bool) or not isinstance(cell, int):
            return None  # cell ids are integers in the records sent
        record = next((r for r in data.records if r.get("cell") == cell), None)
        if record is None:
            return None
        return f"cell:{data.cell_size}:{cell}", f"The cell clicked: {record.get('tip', '')}"
    if data.kind == "areas" and data.level:
        code = obj.get("code")
        record = next((r for r in data.records if r.get("code") == code), None) \
            if isinstance(code, str) else None
        if record is None:
            return None
        return f"area:{data.level}:{code}", str(record.get("name") or code)
    return None


def _escape_markdown(text: str) -> str:
    return text.replace("*", r"\*")


def render_legend(legend: pd.DataFrame) -> None:
    """The legend as a table: a colour key, the class label and the counts."""
    colours = legend["_colour"].tolist()
    shown = legend.drop(columns=["_colour"])
    styler = shown.style.apply(lambda _: [f"background-color: {c}" for c in colours],
                               subset=["Key"]).format({"Share": "{:.1%}"})
    st.dataframe(styler, hide_index=True, width="stretch")


def _links(filters: Filters, lcsp: str | None, ward: str | None, name: str) -> None:
    params = {k: st.query_params[k] for k in ("fy", "from", "to") if k in st.query_params}
    if lcsp:
        params["lcsp"] = lcsp
    if ward:
        params["ward"] = ward
    cols = st.columns(2)
    cols[0].page_link("pages/boards.py", label=f"Priority boards for {plain(name)}",
                      icon=":material/flag:", query_params=params)
    cols[1].page_link("pages/asb_calendar.py", label=f"ASB calendar for {plain(name)}",
                      icon=":material/calendar_month:", query_params=params)


def _area_context(level: str, code: str, filters: Filters) -> tuple[str | None, str | None, str]:
    """(lcsp, ward, name) of an area, for the links."""
    if level == "lcsp":
        frame = cached(hq.load_boundaries, level="lcsp")
        name = dict(zip(frame["code"], frame["name"])).get(code, code)
        return code, None, f"{name} LCSP"
    wards = cached(hq.load_boundaries, level="ward")
    ward_parent = dict(zip(wards["code"], wards["parent_code"]))
    ward_name = dict(zip(wards["code"], wards["name"]))
    ward = code
    if level == "lsoa":
        lsoas = cached(hq.load_boundaries, level="lsoa", lcsp=filters.lcsp)
        ward = dict(zip(lsoas["code"], lsoas["parent_code"])).get(code)
    if ward not in ward_parent:
        return None, None, "this area"
    return ward_parent[ward], ward, f"{ward_name[ward]} ward"


WHOLE_PERIOD = "Whole period"


def detail_table(detail: pd.DataFrame, filters: Filters, level: str | None, code: str,
                 lcsp: str | None) -> tuple[pd.DataFrame, list[str], bool]:
    """One area's (or cell's) incidents by month and category, with a whole-period row, under
    the disclosure rule: (table, sensitive category labels, their months withheld?).

    ``detail`` has columns month_start, source, category, n, label, sensitive; ``level`` is the
    area's level (None for a grid cell). Below partnership level a sensitive category's monthly
    figures are withheld (rule 3: months could be differenced) and its whole-period figure is
    withheld where the area tree says so, the same cell as on the map.
    """
    table = detail.pivot_table(index="month_start", columns="label", values="n",
                               aggfunc="sum", fill_value=0)
    table.index = pd.DatetimeIndex(table.index).strftime("%b %Y")
    total = table.sum().to_frame().T
    total.index = [WHOLE_PERIOD]
    table = pd.concat([table, total]).astype("int64")
    table.columns.name = None
    table = table.rename_axis("Month").reset_index()
    keys: dict[str, set[str]] = {}
    for s, c, label in detail.loc[detail["sensitive"], ["source", "category", "label"]].itertuples(
            index=False):
        keys.setdefault(label, set()).add(protect.category_key(s, c))
    sensitive_labels = sorted(keys)
    if not sensitive_labels:
        return table, [], False
    # A grid cell (never sensitive by query) or an unknown area: withhold everything sensitive.
    months_withheld = level is None or protect.rule().applies(level=level, lcsp=lcsp)
    is_total = (table["Month"] == WHOLE_PERIOD).to_numpy()
    for label in sensitive_labels:
        total_withheld = level is None or any(
            protect.is_withheld(key, filters.period, area_code=code, level=level, lcsp=lcsp)
            for key in sorted(keys[label]))
        mask = np.where(is_total, total_withheld, months_withheld)
        table = disclosure.withhold(table, mask, [label])
    return _as_text(table, sensitive_labels), sensitive_labels, months_withheld


def render_detail(focus: str, filters: Filters, settings: HotspotSettings, labels: dict[str, str]) -> None:
    """Counts by category and month, busiest locations and links for the chosen cell or area."""
    kind, level_or_size, code = focus.split(":", 2)
    params = {**_period_params(filters), **settings.selection.params()}
    level: str | None = None
    if kind == "cell":
        size = int(level_or_size)
        detail = cached(hq.load_cell_detail, cell_size=size, cell_id=int(code), lcsp=filters.lcsp,
                        **params)
        top = cached(hq.load_top_locations, limit=5, cell_size=size, cell_id=int(code),
                     lcsp=filters.lcsp, **params)
        lon, lat = grid.cell_centres(np.array([int(code)]), size)
        names, shapes = _ward_names(filters)
        ward = hs.areas_at_points(lon, lat, shapes)[0]
        wards = cached(hq.load_boundaries, level="ward")
        lcsp = dict(zip(wards["code"], wards["parent_code"])).get(ward)
        name = f"{names.get(ward, 'its')} ward" if ward else "the area"
        title = f"{size} m cell in {names.get(ward, 'the area')}"
    else:
        level = level_or_size
        detail = cached(hq.load_area_detail, level=level, code=code, **params)
        top = cached(hq.load_top_locations, limit=5, area_level=level, area_code=code, **params)
        lcsp, ward, name = _area_context(level, code, filters)
        title = labels.get(focus, code)
    if level is None:
        rule_lcsp = None
    elif level == "lsoa":
        rule_lcsp = area_lcsps(filters, "ward")(ward) if ward else None
    else:
        rule_lcsp = area_lcsps(filters, level)(code)
    categories = cached(hq.load_hotspot_categories)
    label_of = {(s, c): lab for s, c, lab in zip(categories["source"], categories["category"],
                                                  categories["label"])}
    sensitive = {(s, c) for s, c, flag in zip(categories["source"], categories["category"],
                                              categories["is_sensitive"]) if flag}
    detail = detail.assign(
        label=[label_of.get((s, c), c) for s, c in zip(detail["source"], detail["category"])],
        sensitive=[(s, c) in sensitive for s, c in zip(detail["source"], detail["category"])],
    )
    st.markdown(f"**{plain(title)}** · {filters.period.label} · {plain(settings.selection.label)}")
    if detail.empty:
        st.info("No incidents here for this selection and period.", icon=":material/info:")
        return
    left, right = st.columns([3, 2])
    with left:
        chartable = detail[~detail["sensitive"]]
        table, sensitive_labels, months_withheld = detail_table(detail, filters, level, code,
                                                                rule_lcsp)
        if sensitive_labels:
            protect.audit_sensitive_view("hotspots", f"categories of {title}", filters)
        st.markdown("**Incidents by month and category**")
        ui.chart_with_data(detail_figure(chartable), table,
                           key="hotspots_detail", file_name="hotspot_detail.csv")
        if sensitive_labels:
            where = ("below partnership level their monthly figures are withheld (given for "
                     "the whole partnership only) and the whole-period figure follows the rule. "
                     + disclosure.note(protect.rule())) if months_withheld else \
                "shown in full: this area is in your own LCSP."
            st.caption(f"{', '.join(map(plain, sensitive_labels))} (sensitive): in the table "
                       f"only; {where}")
    with right:
        st.markdown("**Busiest locations here**")
        if top.empty:
            st.caption("No named locations.")
        else:
            st.dataframe(top[["location", "n"]].rename(columns={"location": "Location",
                                                                "n": "Incidents"}),
                         hide_index=True, width="stretch")
        _links(filters, lcsp, ward, name)


def _focus_polygon(focus: str | None, data: ViewData) -> list | None:
    if not focus:
        return None
    kind, level_or_size, code = focus.split(":", 2)
    if kind == "cell":
        return grid.cell_polygons(np.array([int(code)]), int(level_or_size))[0]
    for record in data.records:
        if record.get("code") == code:
            return record["polygon"][0]
    return None


def render_notes(data: ViewData, settings: HotspotSettings, filters: Filters, region: Region) -> None:
    """Explanations under the map: method, data protection, the data's limits."""
    notes = list(data.notes)
    selection = settings.selection
    if selection.includes_sensitive:
        notes.append("Sensitive categories (sexual offences, modern slavery) are left out of "
                     "this total and mapped on their own, by area only, with small counts "
                     "withheld.")
    if data.kind in ("cells", "locations") and not selection.sensitive:
        notes.append("Offences flagged domestic abuse are left out of grid cells and locations; "
                     "they are shown only by area, with small counts withheld.")
    total = cached(hq.load_selection_total, lcsp=filters.lcsp, **_period_params(filters),
                   **selection.params())
    if total["unlocated"]:
        if selection.measure_key is not None and filters.lcsp and \
                protect.rule().applies(level="lcsp", lcsp=filters.lcsp):
            # An LCSP's total and its unlocated count of a sensitive category are figures below
            # partnership level (the total less the unlocated is the LCSP's count on the map).
            notes.append("Some incidents have no location and are on no map.")
        else:
            notes.append(f"{total['unlocated']:,} of {total['n']:,} incidents have no location "
                         "and are on no map.")
    categories = cached(hq.load_hotspot_categories)
    sources = selection.sources or tuple(categories["source"].unique())
    if "police_uk" in sources:
        notes.append("police.uk locations are approximate by design: each crime is moved to "
                     "one of about 750,000 anonymous map points, so cells and locations show "
                     "where those points are, not exact addresses.")
    if region.synthetic:
        notes.append("Sample data: ward names are real but every boundary, cell and location is "
                     "synthetic.")
    st.caption(" ".join(notes))


def render_hotspots_page() -> None:
    """The Hotspot map page."""
    filters = shell.current_filters()
    st.title("Hotspot map")
    st.markdown(f"**{filters.period.label}** · **{filters.area_label_md}**")
    categories = cached(hq.load_hotspot_categories)
    subcategories = cached(hq.load_subcategories)
    settings = read_settings(categories, subcategories)
    region = load_region(filters)
    selection = settings.selection
    render_data_warnings(list(selection.sources or categories["source"].unique()), filters.period)

    if settings.view in (*GRID_VIEWS, "repeat") and selection.sensitive:
        data = ViewData(layer_id="hotspots-none", kind="none", message=(
            f"{plain(selection.short_label)} is a sensitive category, so it is never drawn as "
            "grid cells or locations, which could point at victims. Choose **By area** to see it "
            "by LSOA, ward or LCSP, with small counts withheld."))
    elif settings.view == "index":
        data = compute_index_view(filters, settings, region)
    elif settings.view == "gi":
        data = compute_gi_view(filters, settings, region)
    elif settings.view == "trend":
        data = compute_trend_view(filters, settings, region)
    elif settings.view == "areas":
        data = compute_area_view(filters, settings, region)
        if selection.measure_key is not None:
            protect.audit_sensitive_view(
                "hotspots", f"{selection.short_label} by {LEVELS[settings.level]}", filters)
    else:
        data = compute_repeat_view(filters, settings)

    if data.message:
        st.info(data.message, icon=":material/info:")
        return

    outlines = load_outlines(filters)
    overlays = load_overlay_records(filters, settings.overlays)
    # A new click on the map (its state from the last run) chooses that cell or area in the
    # list under the map, which can then be changed freely; the map outlines the choice.
    picked = pick_from(st.session_state.get(K_MAP), data)
    pick = picked[0] if picked else None
    options = dict(data.focus)
    if picked and pick not in options:
        options[pick] = picked[1]
    if pick and pick != st.session_state.get(K_PICK):
        st.session_state[K_PICK] = pick
        st.session_state[K_FOCUS] = pick
    if st.session_state.get(K_FOCUS) not in ("", *options):
        st.session_state[K_FOCUS] = ""
    focus_now = st.session_state.get(K_FOCUS) or None

    map_col, side_col = st.columns([5, 4])
    with map_col:
        deck = hotspot_deck(data, outlines, overlays, view_state_for(region.boundary),
                            _focus_polygon(focus_now, data))
        st.pydeck_chart(
            deck, height=MAP_HEIGHT, on_select="rerun", selection_mode="single-object",
            key=K_MAP, alt=f"{VIEWS[settings.view]} map of {selection.label}, "
                           f"{filters.period.label}, {filters.area_label}. The same figures "
                           "are in the tables beside the map.",
        )
    with side_col:
        if data.legend is not None:
            st.markdown(f"**{_escape_markdown(VIEWS[settings.view])}: legend**")
            render_legend(data.legend)
        if data.table is not None:
            st.markdown(f"**{data.table_title}**")
            st.dataframe(data.table, hide_index=True, width="stretch", height=300,
                         column_config={
                             "Share of all": st.column_config.NumberColumn(format="percent"),
                             "Cumulative share": st.column_config.NumberColumn(format="percent"),
                         })
            ui.download_button(data.table, f"hotspots_{settings.view}.csv",
                               key="hotspots_table_download")
    render_notes(data, settings, filters, region)

    if data.curve is not None:
        curve_table = pd.DataFrame({"Share of locations": data.curve["location_share"],
                                    "Share of incidents": data.curve["incident_share"]}).round(4)
        st.markdown("**How concentrated incidents are: the 80/20 curve**")
        ui.chart_with_data(curve_figure(data.curve), curve_table, key="hotspots_curve",
                           file_name="hotspot_concentration_curve.csv")

    if data.kind not in ("cells", "areas"):
        return
    st.subheader("Details")
    focus = st.selectbox(
        "Cell or area", ("", *options), key=K_FOCUS,
        format_func=lambda k: options.get(k, "Click a cell or area on the map, or choose one here"),
    )
    if focus:
        render_detail(focus, filters, settings, options)


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Hotspot map"):
        render_hotspots_page()
