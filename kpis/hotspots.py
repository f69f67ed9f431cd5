"""Hotspot analysis: where incidents concentrate, whether it is significant, whether it is new.

Pure functions on small aggregated frames (cell or area counts from the aggregate tables); no
Streamlit and no database here.

Hotspot Index (Birmingham strategic assessment 2025)
    A cell's count divided by the mean count of the cells considered, shown in five classes
    0-0.5, 0.5-1, 1-2, 2-3, 3+ (each class holds its lower bound: an index of exactly 2 is "2-3").
    **The mean is taken over every grid cell of the partnership area (or of the LCSP when one is
    chosen), cells with no incident included**, not over the cells with at least one incident.
    The published map is consistent with that choice: its class counts (13,641 + 6,640 + 7,032 +
    1,970 + 1,020) add to 30,303 cells, which is the whole of Birmingham's 268 km2 tiled at about
    100 m (measured on the 2018 ward boundaries: 26,769 100-m squares have their centre in the city
    and 27,423 touch it), so every cell of the area was classified, empty ones included. A mean over
    non-empty cells only would classify far fewer cells than the area holds (parks, reservoirs and
    industrial land have no incidents) and could never put a cell at index 0; the largest class
    being 0-0.5 (45% of cells) is what the all-cells mean produces. A cell of the area is a grid
    square whose centre lies inside the area's boundary; a cell with incidents counted for the
    area but whose centre falls just outside the boundary is added to them, so no incident is lost.
    When no boundary is known the mean falls back to cells with at least one incident, and the
    result says so (``mean_over``).

Getis-Ord Gi* (Getis and Ord 1992; Ord and Getis 1995)
    A local z-score comparing the sum over a cell and its neighbours with what the area-wide mean
    would give: large positive values are clusters of high counts (hot spots), large negative ones
    clusters of low counts (cold spots). On the grid the neighbourhood is queen contiguity (the
    eight surrounding squares) *including the cell itself* (that is the "star"); on areas it is an
    adjacency list, again including the area itself. Significance bands use two-sided normal
    critical values: |z| > 1.645 (90%), 1.960 (95%), 2.576 (99%). With thousands of cells some
    cells pass 90% by chance (about one in ten under no clustering), so an optional
    Benjamini-Hochberg false discovery rate correction is offered (``fdr=True``), as ArcGIS does.

Emerging and persistent hotspots
    See :func:`classify_trend` for the precise definitions of new, intensifying, persistent,
    diminishing, historical and not a hotspot.

Repeat locations
    The concentration curve: the share of incidents accounted for by the top x% of locations,
    computed exactly from a frequency table (how many locations have n incidents) so the database
    never sends one row per location.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
import json
import math
import warnings

import mapclassify
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.stats import norm

from kpis import grid

# (label, lower bound inclusive, upper bound exclusive): the 2025 strategic assessment's classes.
HOTSPOT_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("0-0.5", 0.0, 0.5),
    ("0.5-1", 0.5, 1.0),
    ("1-2", 1.0, 2.0),
    ("2-3", 2.0, 3.0),
    ("3+", 3.0, math.inf),
)
HOTSPOT_CLASS_LABELS = tuple(label for label, _, _ in HOTSPOT_CLASSES)

# Two-sided critical values of the standard normal distribution, strictest first.
GI_LEVELS: tuple[tuple[float, float], ...] = ((0.99, 2.576), (0.95, 1.960), (0.90, 1.645))
GI_BANDS = (
    "Hot spot 99%", "Hot spot 95%", "Hot spot 90%", "Not significant",
    "Cold spot 90%", "Cold spot 95%", "Cold spot 99%",
)

TREND_CLASSES = ("New", "Intensifying", "Persistent", "Diminishing", "Historical", "Not a hotspot")

MAX_MAP_CELLS = 20_000  # pydeck costs ~90 bytes and ~12 us a row on every rerun (issue 5)

_QUEEN = tuple((dc, dr) for dc in (-1, 0, 1) for dr in (-1, 0, 1))  # includes (0, 0): Gi*
_ROW = 100_000  # cell id = column * _ROW + row (kpis.grid)


# --- Hotspot Index --------------------------------------------------------------------------


@dataclass(frozen=True)
class HotspotIndex:
    """Result of :func:`compute_hotspot_index`.

    ``cells``: one row per cell considered (cell_id, n, hotspot_index, hotspot_class), zero cells
    included when the area's cells were given; ``mean`` the mean count per cell; ``mean_over``
    "all cells in the area" or "cells with at least one incident"; ``class_counts`` the number
    of cells in each of the five classes.
    """

    cells: pd.DataFrame
    mean: float
    mean_over: str
    class_counts: pd.DataFrame


def classify_index(index: Sequence[float] | np.ndarray | pd.Series) -> pd.Categorical:
    """The published class (0-0.5, 0.5-1, 1-2, 2-3, 3+) of each index value; lower bounds inclusive."""
    values = np.asarray(index, dtype="float64")
    edges = [lo for _, lo, _ in HOTSPOT_CLASSES[1:]]
    codes = np.searchsorted(edges, values, side="right")
    codes = np.where(np.isfinite(values), codes, -1)
    return pd.Categorical.from_codes(codes, categories=list(HOTSPOT_CLASS_LABELS))


def class_counts(classes: pd.Categorical | pd.Series) -> pd.DataFrame:
    """Cells per class, every class listed (columns hotspot_class, lower, upper, cells, share)."""
    counts = pd.Series(pd.Categorical(classes, categories=list(HOTSPOT_CLASS_LABELS))).value_counts(
        sort=False
    )
    total = int(counts.sum())
    return pd.DataFrame({
        "hotspot_class": list(HOTSPOT_CLASS_LABELS),
        "lower": [lo for _, lo, _ in HOTSPOT_CLASSES],
        "upper": [hi for _, _, hi in HOTSPOT_CLASSES],
        "cells": counts.to_numpy(dtype="int64"),
        "share": counts.to_numpy(dtype="float64") / total if total else 0.0,
    })


def compute_hotspot_index(
    cell_counts: pd.DataFrame, area_cells: Sequence[int] | np.ndarray | None = None
) -> HotspotIndex:
    """Hotspot Index of each cell: its count over the mean count per cell of the area.

    ``cell_counts`` has columns cell_id, n. With ``area_cells`` (ids of every cell of the area,
    see :func:`cells_in_area`) the mean is over all of them, empty cells included (the
    published method); without it, over the cells with at least one incident.
    """
    counts = (
        cell_counts[["cell_id", "n"]].astype({"cell_id": "int64", "n": "int64"})
        .groupby("cell_id", as_index=False)["n"].sum()
    )
    counts = counts[counts["n"] > 0]
    if area_cells is not None:
        ids = np.union1d(np.asarray(area_cells, dtype="int64"), counts["cell_id"].to_numpy())
        cells = pd.DataFrame({"cell_id": ids}).merge(counts, on="cell_id", how="left")
        cells["n"] = cells["n"].fillna(0).astype("int64")
        mean_over = "all cells in the area"
    else:
        cells = counts.reset_index(drop=True)
        mean_over = "cells with at least one incident"
    mean = float(cells["n"].mean()) if len(cells) else 0.0
    cells["hotspot_index"] = cells["n"] / mean if mean > 0 else 0.0
    cells["hotspot_class"] = classify_index(cells["hotspot_index"])
    return HotspotIndex(
        cells=cells, mean=mean, mean_over=mean_over, class_counts=class_counts(cells["hotspot_class"])
    )


def _geometry(boundary: str | dict | shapely.Geometry) -> shapely.Geometry:
    if isinstance(boundary, shapely.Geometry):
        return boundary
    data = json.loads(boundary) if isinstance(boundary, str) else boundary
    if data.get("type") == "Feature":
        data = data["geometry"]
    return shapely.from_geojson(json.dumps(data))


def _to_bng(geom: shapely.Geometry) -> shapely.Geometry:
    def project(xy: np.ndarray) -> np.ndarray:
        e, n = grid.lonlat_to_bng(xy[:, 0], xy[:, 1])
        return np.column_stack([e, n])

    return shapely.transform(geom, project)


def area_geometry_bng(boundaries: Iterable[str | dict | shapely.Geometry]) -> shapely.Geometry:
    """The union of WGS84 GeoJSON boundaries, projected to the national grid (metres)."""
    geoms = [_to_bng(_geometry(b)) for b in boundaries if b is not None]
    if not geoms:
        return shapely.Polygon()
    return shapely.make_valid(shapely.union_all(geoms))


def cells_in_area(boundaries: Iterable[str | dict | shapely.Geometry], size_m: int) -> np.ndarray:
    """Ids of the grid cells of ``size_m`` metres whose centre lies inside the boundaries' union."""
    area = area_geometry_bng(boundaries)
    if area.is_empty:
        return np.empty(0, dtype="int64")
    x0, y0, x1, y1 = area.bounds
    cols = np.arange(math.floor(x0 / size_m), math.floor(x1 / size_m) + 1, dtype="int64")
    rows = np.arange(math.floor(y0 / size_m), math.floor(y1 / size_m) + 1, dtype="int64")
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
    shapely.prepare(area)
    inside = shapely.contains_xy(area, (cc + 0.5) * size_m, (rr + 0.5) * size_m)
    return np.sort(cc[inside] * _ROW + rr[inside])


# --- Getis-Ord Gi* --------------------------------------------------------------------------


def gi_star(values: np.ndarray, weights: sp.csr_matrix) -> np.ndarray:
    """Gi* z-score of each observation for a binary weights matrix that includes the diagonal.

    z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n sum_j w_ij^2 - W_i^2) / (n - 1))), with xbar
    and S the mean and (population) standard deviation over all n observations (Ord and Getis
    1995, eq. 2-3). Zero where the values do not vary or a neighbourhood is the whole region.
    """
    x = np.asarray(values, dtype="float64")
    n = x.size
    if n < 2:
        return np.zeros(n)
    w = sp.csr_matrix(weights, dtype="float64")
    xbar = x.mean()
    s = math.sqrt(max((x**2).mean() - xbar**2, 0.0))
    w_sum = np.asarray(w.sum(axis=1)).ravel()
    w_sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    lag = w @ x
    spread = (n * w_sq - w_sum**2) / (n - 1)
    denom = s * np.sqrt(np.clip(spread, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denom > 0, (lag - xbar * w_sum) / denom, 0.0)
    return z


def significance_bands(z: Sequence[float] | np.ndarray, *, fdr: bool = False) -> pd.Categorical:
    """Band of each z-score: hot or cold spot at 99/95/90%, or not significant.

    Without ``fdr`` a cell is significant at level c when |z| exceeds c's critical value
    (1.645, 1.960, 2.576). With ``fdr`` the two-sided p-values are corrected for the number of
    cells tested (Benjamini-Hochberg): a cell is significant at c when it survives the procedure
    at rate 1 - c.
    """
    z = np.nan_to_num(np.asarray(z, dtype="float64"))
    level = np.zeros(z.shape, dtype=int)  # 0 none, 1 = 90%, 2 = 95%, 3 = 99%
    if fdr and z.size:
        p = 2 * norm.sf(np.abs(z))
        order = np.argsort(p)
        ranked = p[order]
        m = z.size
        for rank, (confidence, _) in enumerate(reversed(GI_LEVELS), start=1):
            alpha = 1 - confidence
            passing = np.nonzero(ranked <= alpha * np.arange(1, m + 1) / m)[0]
            if passing.size:
                level[order[: passing[-1] + 1]] = rank
    else:
        for rank, (_, critical) in enumerate(reversed(GI_LEVELS), start=1):
            level[np.abs(z) > critical] = rank
    # codes into GI_BANDS: hot 99 = 0 ... not significant = 3 ... cold 99 = 6
    codes = np.where(level == 0, 3, np.where(z > 0, 3 - level, 3 + level))
    return pd.Categorical.from_codes(codes, categories=list(GI_BANDS))


def grid_weights(cell_ids: np.ndarray) -> sp.csr_matrix:
    """Queen contiguity (eight neighbours) plus the cell itself, for cells given by id."""
    ids = np.asarray(cell_ids, dtype="int64")
    n = ids.size
    if n == 0:
        return sp.csr_matrix((0, 0))
    order = np.argsort(ids)
    sorted_ids = ids[order]
    rows, cols = [], []
    for dc, dr in _QUEEN:
        target = ids + dc * _ROW + dr
        pos = np.searchsorted(sorted_ids, target)
        pos = np.clip(pos, 0, n - 1)
        found = sorted_ids[pos] == target
        rows.append(np.nonzero(found)[0])
        cols.append(order[pos[found]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))


def grid_gi_star(
    cell_counts: pd.DataFrame,
    region_cells: Sequence[int] | np.ndarray | None = None,
    *,
    fdr: bool = False,
) -> pd.DataFrame:
    """Gi* of grid cells: columns cell_id, n, gi_z, gi_band.

    The study region is ``region_cells`` (every cell of the area, see :func:`cells_in_area`)
    plus any cell with a count; without it, the rectangle of cells spanning the counted cells.
    Empty cells count as zeros: leaving them out would hide cold areas and inflate the mean.
    """
    counts = (
        cell_counts[["cell_id", "n"]].astype({"cell_id": "int64", "n": "int64"})
        .groupby("cell_id", as_index=False)["n"].sum()
    )
    if region_cells is not None:
        ids = np.union1d(np.asarray(region_cells, dtype="int64"), counts["cell_id"].to_numpy())
    elif len(counts):
        col, row = np.divmod(counts["cell_id"].to_numpy(), _ROW)
        cc, rr = np.meshgrid(np.arange(col.min(), col.max() + 1), np.arange(row.min(), row.max() + 1))
        ids = np.sort((cc * _ROW + rr).ravel())
    else:
        ids = np.empty(0, dtype="int64")
    cells = pd.DataFrame({"cell_id": ids}).merge(counts, on="cell_id", how="left")
    cells["n"] = cells["n"].fillna(0).astype("int64")
    cells["gi_z"] = gi_star(cells["n"].to_numpy(), grid_weights(ids))
    cells["gi_band"] = significance_bands(cells["gi_z"], fdr=fdr)
    return cells


def area_weights(codes: Sequence[str], adjacency: Mapping[str, Iterable[str]]) -> sp.csr_matrix:
    """Binary weights from an adjacency list, each area also its own neighbour (Gi*)."""
    position = {code: k for k, code in enumerate(codes)}
    rows, cols = [], []
    for code, k in position.items():
        neighbours = {code, *adjacency.get(code, ())}
        for other in neighbours:
            j = position.get(other)
            if j is not None:
                rows.append(k)
                cols.append(j)
    n = len(codes)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def area_gi_star(
    values: pd.Series, adjacency: Mapping[str, Iterable[str]], *, fdr: bool = False
) -> pd.DataFrame:
    """Gi* of areas: ``values`` indexed by area code (counts or rates); columns code, value, gi_z, gi_band."""
    codes = [str(c) for c in values.index]
    x = values.astype("float64").fillna(0.0).to_numpy()
    z = gi_star(x, area_weights(codes, adjacency))
    return pd.DataFrame({
        "code": codes, "value": x, "gi_z": z, "gi_band": significance_bands(z, fdr=fdr),
    })


def adjacency_from_boundaries(
    boundaries: Mapping[str, str | dict | shapely.Geometry], tolerance_m: float = 5.0
) -> dict[str, list[str]]:
    """Queen contiguity of areas from their WGS84 boundaries: areas within ``tolerance_m`` metres.

    A small tolerance absorbs the slivers and gaps that published boundaries have between
    neighbours; sharing a single corner counts (queen, as on the grid).
    """
    codes = list(boundaries)
    geoms = [_to_bng(_geometry(boundaries[c])) for c in codes]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=tolerance_m)
    adjacency: dict[str, list[str]] = {c: [] for c in codes}
    for a, b in zip(left, right):
        if a != b:
            adjacency[codes[a]].append(codes[b])
    return adjacency


# --- emerging and persistent hotspots --------------------------------------------------------


def classify_trend(
    current: pd.Series,
    earlier: pd.DataFrame,
    *,
    hot_threshold: float = 2.0,
    change: float = 0.25,
    current_hot: pd.Series | None = None,
    earlier_hot: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Classify cells or areas by how their hotspot status changed between periods.

    ``current`` holds a value per cell/area (index = cell id or area code) for the chosen
    period, ``earlier`` one column per earlier period of the same length. The value is the
    Hotspot Index by default: being relative to the area's mean in its own period, a city-wide
    rise or fall does not make every hotspot intensify or diminish. A cell is *hot* in a period
    when its value is at least ``hot_threshold`` (default 2: classes 2-3 and 3+), unless the
    caller passes ``current_hot`` / ``earlier_hot`` (e.g. Gi* hot spot at 95%). Missing values
    count as 0 and not hot. With ``before`` = mean of the earlier values:

    - New: hot now, hot in none of the earlier periods.
    - Intensifying: hot now, hot in at least one earlier period, now >= (1 + change) x before.
    - Diminishing: hot now, hot in at least one earlier period, now <= (1 - change) x before.
    - Persistent: hot now, hot in at least one earlier period, and within +/- change of before.
    - Historical: not hot now, hot in at least one earlier period.
    - Not a hotspot: hot in no period.

    Returns columns current, before, hot_now, periods_hot_before, trend (categorical, in
    :data:`TREND_CLASSES` order), indexed like the union of the inputs.
    """
    index = current.index.union(earlier.index)
    now = current.reindex(index).astype("float64").fillna(0.0)
    past = earlier.reindex(index).astype("float64").fillna(0.0)
    hot_now = (
        current_hot.reindex(index).fillna(False).astype(bool) if current_hot is not None
        else now >= hot_threshold
    )
    hot_past = (
        earlier_hot.reindex(index).fillna(False).astype(bool) if earlier_hot is not None
        else past >= hot_threshold
    )
    periods_hot = hot_past.sum(axis=1).astype("int64") if past.shape[1] else pd.Series(0, index=index)
    before = past.mean(axis=1) if past.shape[1] else pd.Series(0.0, index=index)
    was_hot = periods_hot > 0
    rising = now >= (1 + change) * before
    falling = now <= (1 - change) * before
    trend = np.select(
        [
            hot_now & ~was_hot,
            hot_now & was_hot & rising,
            hot_now & was_hot & falling,
            hot_now & was_hot,
            ~hot_now & was_hot,
        ],
        ["New", "Intensifying", "Diminishing", "Persistent", "Historical"],
        default="Not a hotspot",
    )
    return pd.DataFrame({
        "current": now,
        "before": before,
        "hot_now": hot_now.astype(bool),
        "periods_hot_before": periods_hot,
        "trend": pd.Categorical(trend, categories=list(TREND_CLASSES)),
    }, index=index)


# --- repeat locations: the concentration (80/20) curve --------------------------------------


def concentration_curve(
    counts: Sequence[float] | np.ndarray, locations: Sequence[float] | np.ndarray | None = None
) -> pd.DataFrame:
    """Cumulative share of incidents against share of locations, busiest locations first.

    ``counts`` are incidents per location; or, with ``locations``, a frequency table
    (``locations[k]`` places had ``counts[k]`` incidents each). Returns columns location_share
    and incident_share from (0, 0) to (1, 1); the curve is straight between rows, so
    interpolating it is exact.
    """
    n = np.asarray(counts, dtype="float64")
    k = np.ones_like(n) if locations is None else np.asarray(locations, dtype="float64")
    keep = (n > 0) & (k > 0)
    n, k = n[keep], k[keep]
    order = np.argsort(-n, kind="stable")
    n, k = n[order], k[order]
    incidents = n * k
    total_locations, total_incidents = k.sum(), incidents.sum()
    if total_incidents <= 0:
        return pd.DataFrame({"location_share": [0.0, 1.0], "incident_share": [0.0, 0.0]})
    return pd.DataFrame({
        "location_share": np.concatenate([[0.0], np.cumsum(k) / total_locations]),
        "incident_share": np.concatenate([[0.0], np.cumsum(incidents) / total_incidents]),
    })


def incident_share_of_top(curve: pd.DataFrame, location_share: float = 0.2) -> float:
    """Share of incidents at the busiest ``location_share`` of locations (0.2: the top 20%)."""
    return float(np.interp(location_share, curve["location_share"], curve["incident_share"]))


def location_share_for(curve: pd.DataFrame, incident_share: float = 0.8) -> float:
    """Smallest share of locations that accounts for ``incident_share`` of incidents."""
    if curve["incident_share"].iloc[-1] <= 0:
        return 0.0
    return float(np.interp(incident_share, curve["incident_share"], curve["location_share"]))


def repeat_location_table(top: pd.DataFrame, total_incidents: int) -> pd.DataFrame:
    """Top locations with their share and cumulative share of all incidents in the selection.

    ``top`` has at least columns location and n (busiest first, as the query returns them).
    """
    table = top.sort_values("n", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    share = table["n"] / total_incidents if total_incidents else 0.0
    table["share"] = share
    table["cumulative_share"] = table["share"].cumsum() if total_incidents else 0.0
    return table


# --- choropleth classes ---------------------------------------------------------------------

CHOROPLETH_SCHEMES = {"quantiles": "Quantiles", "natural_breaks": "Natural breaks (Fisher-Jenks)"}


@dataclass(frozen=True)
class Classes:
    """Classes of a choropleth: ``codes`` per value (-1 = missing), ``bins`` upper bounds, ``labels``."""

    codes: np.ndarray
    bins: tuple[float, ...]
    labels: tuple[str, ...]
    scheme: str


def rate_per_1000(n: Sequence[float] | pd.Series, population: Sequence[float] | pd.Series) -> np.ndarray:
    """Incidents per 1,000 residents; NaN where the population is missing or zero."""
    num = np.asarray(n, dtype="float64")
    den = np.asarray(population, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(den) & (den > 0), num * 1000.0 / den, np.nan)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def choropleth_classes(
    values: Sequence[float] | np.ndarray | pd.Series, scheme: str = "quantiles", k: int = 5,
    *, decimals: int = 0,
) -> Classes:
    """Classes of ``values`` by quantiles or natural breaks (Fisher-Jenks), mapclassify's.

    Fewer classes are made when there are fewer distinct values than ``k``; missing values get
    code -1. Labels read "low - high" with ``decimals`` places (0 for counts, 1 for rates).
    """
    if scheme not in CHOROPLETH_SCHEMES:
        raise ValueError(f"unknown classification scheme {scheme!r}; use one of {list(CHOROPLETH_SCHEMES)}")
    y = np.asarray(values, dtype="float64")
    ok = np.isfinite(y)
    codes = np.full(y.shape, -1, dtype=int)
    distinct = np.unique(y[ok])
    if distinct.size == 0:
        return Classes(codes=codes, bins=(), labels=(), scheme=scheme)
    if distinct.size == 1:
        codes[ok] = 0
        only = float(distinct[0])
        return Classes(codes=codes, bins=(only,), labels=(_fmt(only, decimals),), scheme=scheme)
    k = max(1, min(k, distinct.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mapclassify warns about ties it then handles
        if scheme == "quantiles":
            classifier = mapclassify.Quantiles(y[ok], k=k)
        else:
            classifier = mapclassify.FisherJenks(y[ok], k=k)
    bins = np.unique(np.asarray(classifier.bins, dtype="float64"))
    codes[ok] = np.searchsorted(bins, y[ok], side="left")
    codes[ok] = np.minimum(codes[ok], bins.size - 1)
    lows = [float(y[ok].min())] + [float(b) for b in bins[:-1]]
    labels = []
    for i, (lo, hi) in enumerate(zip(lows, bins)):
        low_text = _fmt(lo, decimals) if i == 0 else f">{_fmt(lo, decimals)}"
        labels.append(f"{low_text} - {_fmt(float(hi), decimals)}")
    return Classes(codes=codes, bins=tuple(float(b) for b in bins), labels=tuple(labels), scheme=scheme)


# --- map payload ----------------------------------------------------------------------------


def choose_cell_size(
    cells_per_size: Mapping[int, int], preferred: int, max_cells: int = MAX_MAP_CELLS
) -> int:
    """The finest cell size at least as coarse as ``preferred`` whose map has at most ``max_cells``.

    ``cells_per_size`` maps cell size (metres) to the number of cells the map would draw;
    the coarsest size is returned when none fits.
    """
    sizes = sorted(s for s in cells_per_size if s >= preferred) or sorted(cells_per_size)
    for size in sizes:
        if cells_per_size[size] <= max_cells:
            return size
    return sizes[-1]


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 3)
    return value


def cell_records(
    cells: pd.DataFrame,
    size_m: int,
    columns: Sequence[str] = (),
    *,
    max_cells: int = MAX_MAP_CELLS,
    geometry: str = "centre",
    decimals: int = 5,
) -> list[dict]:
    """Compact pydeck records for cells: ``cell`` id, its geometry and ``columns``.

    ``geometry="centre"`` gives ``position`` (the cell's centre, for a GridCellLayer of
    ``size_m`` metres: two numbers a cell); ``"polygon"`` gives ``polygon``, the four exact
    national-grid corners. Coordinates are rounded to ``decimals`` places (5: about a metre).
    Rows beyond ``max_cells`` (in the frame's order: sort the ones that matter first) are left
    out, so the payload stays bounded whatever the caller passes.
    """
    if geometry not in ("centre", "polygon"):
        raise ValueError(f"geometry must be 'centre' or 'polygon', not {geometry!r}")
    frame = cells.head(max_cells)
    if frame.empty:
        return []
    ids = frame["cell_id"].to_numpy(dtype="int64")
    if geometry == "centre":
        lon, lat = grid.cell_centres(ids, size_m)
        shapes = np.round(np.column_stack([lon, lat]), decimals).tolist()
    else:
        shapes = np.round(np.asarray(grid.cell_polygons(ids, size_m), dtype="float64"), decimals).tolist()
    key = "position" if geometry == "centre" else "polygon"
    values = {c: [_plain(v) for v in frame[c].tolist()] for c in columns}
    records = []
    for k, (cell, shape) in enumerate(zip(ids.tolist(), shapes)):
        record = {"cell": cell, key: shape}
        for c in columns:
            record[c] = values[c][k]
        records.append(record)
    return records


def _rings(polygon: shapely.Polygon, decimals: int) -> list[list[list[float]]]:
    rings = [polygon.exterior, *polygon.interiors]
    return [np.round(np.asarray(r.coords)[:, :2], decimals).tolist() for r in rings]


def area_records(
    areas: pd.DataFrame,
    columns: Sequence[str] = (),
    *,
    tolerance_deg: float = 1e-4,
    decimals: int = 5,
) -> list[dict]:
    """Compact pydeck records for areas: ``code``, ``polygon`` (outer ring then holes) and ``columns``.

    ``areas`` has columns code and boundary_geojson (WGS84). Boundaries are simplified to
    ``tolerance_deg`` (1e-4 degrees, about 7-11 m: invisible at city zoom) and rounded to
    ``decimals`` places; a multi-part area gives one record per part. Areas without a boundary
    are left out.
    """
    records = []
    for row in areas.itertuples(index=False):
        text = getattr(row, "boundary_geojson")
        if not isinstance(text, str) or not text:
            continue
        geom = shapely.simplify(_geometry(text), tolerance_deg, preserve_topology=True)
        parts = getattr(geom, "geoms", [geom])
        extra = {c: _plain(getattr(row, c)) for c in columns}
        for part in parts:
            if isinstance(part, shapely.Polygon) and not part.is_empty:
                records.append({"code": getattr(row, "code"), "polygon": _rings(part, decimals), **extra})
    return records


def areas_at_points(
    lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray,
    boundaries: Mapping[str, str | dict | shapely.Geometry],
) -> list[str | None]:
    """Code of the area containing each WGS84 point (None when none does)."""
    codes = list(boundaries)
    geoms = [_geometry(boundaries[c]) for c in codes]
    points = shapely.points(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    out: list[str | None] = [None] * len(points)
    if not geoms:
        return out
    tree = shapely.STRtree(geoms)
    point_idx, geom_idx = tree.query(points, predicate="within")
    for p, g in zip(point_idx, geom_idx):
        if out[p] is None:
            out[p] = codes[g]
    return out
