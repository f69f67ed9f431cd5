"""Hotspot maths with known answers: index classes, Gi*, emerging classes, the 80/20 curve."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely

from kpis import grid, hotspots as h

ROW = 100_000


def _cell(col: int, row: int) -> int:
    return (4000 + col) * ROW + (1000 + row)


def _bng_square_geojson(e0: float, n0: float, e1: float, n1: float) -> str:
    """A national-grid rectangle as WGS84 GeoJSON text (densified so its edges stay straight)."""
    ring = shapely.segmentize(shapely.box(e0, n0, e1, n1), 10).exterior
    xy = np.asarray(ring.coords)
    to_wgs = grid._to_wgs84()
    lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
    return json.dumps({"type": "Polygon", "coordinates": [[[x, y] for x, y in zip(lon, lat)]]})


# --- Hotspot Index ----------------------------------------------------------------------------


def test_index_classes_hold_their_lower_bound():
    values = [0, 0.49, 0.5, 0.99, 1, 1.99, 2, 2.99, 3, 10]
    got = list(h.classify_index(values))
    assert got == ["0-0.5", "0-0.5", "0.5-1", "0.5-1", "1-2", "1-2", "2-3", "2-3", "3+", "3+"]


def test_index_mean_is_over_every_cell_of_the_area_empty_ones_included():
    counts = pd.DataFrame({"cell_id": [1, 2, 3], "n": [6, 3, 1]})
    area = [1, 2, 3, 4, 5, 6]  # three empty cells
    result = h.compute_hotspot_index(counts, area)
    assert result.mean_over == "all cells in the area"
    assert result.mean == pytest.approx(10 / 6)
    by_cell = result.cells.set_index("cell_id")
    assert by_cell.loc[1, "hotspot_index"] == pytest.approx(3.6)
    assert list(by_cell["hotspot_class"]) == ["3+", "1-2", "0.5-1", "0-0.5", "0-0.5", "0-0.5"]
    assert list(result.class_counts["cells"]) == [3, 1, 1, 0, 1]
    assert result.class_counts["share"].sum() == pytest.approx(1.0)
    # By construction the mean index over the cells considered is 1.
    assert result.cells["hotspot_index"].mean() == pytest.approx(1.0)


def test_index_falls_back_to_cells_with_incidents_without_a_boundary():
    counts = pd.DataFrame({"cell_id": [1, 2, 3, 4], "n": [6, 3, 1, 0]})
    result = h.compute_hotspot_index(counts)
    assert result.mean_over == "cells with at least one incident"
    assert result.mean == pytest.approx(10 / 3)
    assert list(result.cells["hotspot_class"]) == ["1-2", "0.5-1", "0-0.5"]


def test_published_class_counts_are_consistent_with_a_mean_index_of_one():
    # Published 2025 map: 13,641 / 6,640 / 7,032 / 1,970 / 1,020 cells. The index averages 1
    # over the cells it was computed on, so the class bounds must bracket 1.
    cells = np.array([13641, 6640, 7032, 1970, 1020])
    lower = np.array([0, 0.5, 1, 2, 3])
    upper = np.array([0.5, 1, 2, 3, math.inf])
    assert (cells * lower).sum() / cells.sum() < 1
    assert (cells[:-1] * upper[:-1]).sum() / cells.sum() + 3 * cells[-1] / cells.sum() > 1


def test_cells_in_area_are_those_whose_centre_is_inside():
    # A 1 km square on 250 m grid lines, drawn a few metres inside: exactly 4 x 4 cells.
    boundary = _bng_square_geojson(406_005, 286_005, 406_995, 286_995)
    ids = h.cells_in_area([boundary], 250)
    cols, rows = np.divmod(ids, ROW)
    assert len(ids) == 16
    assert set(cols) == {406_000 // 250 + k for k in range(4)}
    assert set(rows) == {286_000 // 250 + k for k in range(4)}
    assert len(h.cells_in_area([boundary], 500)) == 4
    assert len(h.cells_in_area([], 250)) == 0


# --- Getis-Ord Gi* ----------------------------------------------------------------------------


@pytest.fixture()
def planted_grid():
    """12 x 12 cells of 1 with a 3 x 3 cluster of 6 and one isolated cell of 6."""
    rows = []
    for c in range(12):
        for r in range(12):
            value = 6 if (2 <= c <= 4 and 2 <= r <= 4) or (c, r) == (9, 9) else 1
            rows.append((_cell(c, r), value))
    return pd.DataFrame(rows, columns=["cell_id", "n"])


def test_gi_star_of_the_cluster_centre_matches_the_hand_calculation(planted_grid):
    result = h.grid_gi_star(planted_grid).set_index("cell_id")
    # n = 144, sum x = 194, sum x^2 = 494: xbar = 1.3472, S = 1.2711; the centre's
    # neighbourhood (itself + 8) sums to 54 with 9 weights:
    # z = (54 - 9 xbar) / (S sqrt((144 * 9 - 81) / 143)) = 11.3025
    xbar = 194 / 144
    s = math.sqrt(494 / 144 - xbar**2)
    expected = (54 - 9 * xbar) / (s * math.sqrt((144 * 9 - 81) / 143))
    assert result.loc[_cell(3, 3), "gi_z"] == pytest.approx(expected)
    assert expected == pytest.approx(11.3025, abs=1e-4)


def test_a_planted_cluster_is_significant_and_an_isolated_high_cell_is_not(planted_grid):
    result = h.grid_gi_star(planted_grid).set_index("cell_id")
    cluster = [_cell(c, r) for c in range(2, 5) for r in range(2, 5)]
    assert (result.loc[cluster, "gi_band"] == "Hot spot 99%").all()
    isolated = result.loc[_cell(9, 9)]
    assert isolated["n"] == 6
    assert isolated["gi_band"] != "Hot spot 99%"
    assert abs(isolated["gi_z"]) < 1.645  # not even at 90%
    # Under the false discovery rate correction the cluster still stands.
    fdr = h.grid_gi_star(planted_grid, fdr=True).set_index("cell_id")
    assert fdr.loc[_cell(3, 3), "gi_band"] == "Hot spot 99%"
    assert fdr.loc[_cell(9, 9), "gi_band"] == "Not significant"


def test_gi_star_fills_empty_cells_of_the_region_with_zeros():
    counts = pd.DataFrame({"cell_id": [_cell(0, 0), _cell(2, 2)], "n": [5, 5]})
    result = h.grid_gi_star(counts)  # no region: the 3 x 3 rectangle spanning the cells
    assert len(result) == 9 and result["n"].sum() == 10
    region = [_cell(c, r) for c in range(5) for r in range(5)]
    assert len(h.grid_gi_star(counts, region)) == 25


def test_significance_bands_use_the_normal_critical_values():
    z = [3.0, 2.0, 1.7, 1.0, -1.7, -2.0, -3.0, 2.576, 1.645]
    assert list(h.significance_bands(z)) == [
        "Hot spot 99%", "Hot spot 95%", "Hot spot 90%", "Not significant",
        "Cold spot 90%", "Cold spot 95%", "Cold spot 99%", "Hot spot 95%", "Not significant",
    ]


def test_area_gi_star_on_an_adjacency_list():
    values = pd.Series({"A": 10.0, "B": 10.0, "C": 1.0, "D": 1.0, "E": 1.0})
    adjacency = {"A": ["B"], "B": ["A", "C"], "C": ["B", "D"], "D": ["C", "E"], "E": ["D"]}
    result = h.area_gi_star(values, adjacency).set_index("code")
    x = values.to_numpy()
    xbar, s, n = x.mean(), x.std(), len(x)
    # A's neighbourhood is {A, B}: sum 20 with 2 weights.
    expected_a = (20 - 2 * xbar) / (s * math.sqrt((n * 2 - 4) / (n - 1)))
    assert result.loc["A", "gi_z"] == pytest.approx(expected_a)
    assert result.loc["A", "gi_z"] > 0 > result.loc["E", "gi_z"]


def test_adjacency_from_boundaries_is_queen_contiguity():
    # Four 1 km squares in a 2 x 2 block plus one far away: corners count as neighbours.
    sq = {
        "SW": _bng_square_geojson(400_000, 280_000, 401_000, 281_000),
        "SE": _bng_square_geojson(401_000, 280_000, 402_000, 281_000),
        "NW": _bng_square_geojson(400_000, 281_000, 401_000, 282_000),
        "NE": _bng_square_geojson(401_000, 281_000, 402_000, 282_000),
        "FAR": _bng_square_geojson(410_000, 290_000, 411_000, 291_000),
    }
    adjacency = h.adjacency_from_boundaries(sq)
    assert sorted(adjacency["SW"]) == ["NE", "NW", "SE"]
    assert adjacency["FAR"] == []


# --- emerging and persistent ----------------------------------------------------------------


def test_emerging_classification_table():
    # Hotspot Index now and in two earlier periods; hot = index >= 2.
    cases = {
        #            now   p1    p2   expected
        "new":       (2.5, 1.0, 0.5, "New"),
        "intense":   (4.0, 2.0, 2.0, "Intensifying"),
        "steady":    (2.5, 2.4, 2.6, "Persistent"),
        "waning":    (2.0, 3.5, 3.0, "Diminishing"),
        "gone":      (1.0, 2.5, 0.5, "Historical"),
        "never":     (1.5, 1.9, 0.0, "Not a hotspot"),
        "returning": (2.2, 1.8, 2.0, "Persistent"),  # hot in one earlier period counts
    }
    current = pd.Series({k: v[0] for k, v in cases.items()})
    earlier = pd.DataFrame({"p1": {k: v[1] for k, v in cases.items()},
                            "p2": {k: v[2] for k, v in cases.items()}})
    result = h.classify_trend(current, earlier)
    assert {k: result.loc[k, "trend"] for k in cases} == {k: v[3] for k, v in cases.items()}
    assert result.loc["intense", "periods_hot_before"] == 2
    assert list(result["trend"].cat.categories) == list(h.TREND_CLASSES)


def test_emerging_classification_accepts_another_hot_rule_and_missing_cells():
    current = pd.Series({"a": 5.0, "b": 1.0})
    earlier = pd.DataFrame({"p1": {"a": 5.0, "c": 3.0}})
    hot_now = pd.Series({"a": False, "b": True})  # e.g. Gi* significance instead of the index
    hot_before = pd.DataFrame({"p1": {"a": True, "c": False}})
    result = h.classify_trend(current, earlier, current_hot=hot_now, earlier_hot=hot_before)
    assert result.loc["a", "trend"] == "Historical"
    assert result.loc["b", "trend"] == "New"
    assert result.loc["c", "trend"] == "Not a hotspot"


# --- repeat locations -----------------------------------------------------------------------


def test_the_80_20_curve():
    counts = [40, 40, 5, 5, 2, 2, 2, 2, 1, 1]  # 100 incidents at 10 locations
    curve = h.concentration_curve(counts)
    assert curve.iloc[0].tolist() == [0.0, 0.0] and curve.iloc[-1].tolist() == [1.0, 1.0]
    assert h.incident_share_of_top(curve, 0.2) == pytest.approx(0.8)
    assert h.location_share_for(curve, 0.8) == pytest.approx(0.2)
    assert h.incident_share_of_top(curve, 0.1) == pytest.approx(0.4)
    # The same curve from the frequency table the database returns.
    table = h.concentration_curve([40, 5, 2, 1], locations=[2, 2, 4, 2])
    assert h.incident_share_of_top(table, 0.2) == pytest.approx(0.8)
    assert h.incident_share_of_top(table, 0.5) == pytest.approx(0.92)  # 40+40+5+5+2 of 100


def test_repeat_location_table_shares():
    top = pd.DataFrame({"location": ["x", "y"], "n": [30, 20]})
    table = h.repeat_location_table(top, total_incidents=100)
    assert table["rank"].tolist() == [1, 2]
    assert table["cumulative_share"].tolist() == pytest.approx([0.3, 0.5])


# --- choropleth classes ---------------------------------------------------------------------


def test_quantile_and_natural_break_classes():
    q = h.choropleth_classes(np.arange(1, 11), "quantiles", k=5)
    assert q.codes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert len(q.labels) == 5 and q.labels[0].startswith("1 - ")
    values = [1, 2, 3, 50, 51, 52, 100, 101, np.nan]
    nb = h.choropleth_classes(values, "natural_breaks", k=3)
    assert nb.codes.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, -1]
    assert nb.bins == (3.0, 52.0, 101.0)


def test_choropleth_makes_fewer_classes_when_values_repeat():
    classes = h.choropleth_classes([0, 0, 0, 5, 5], "quantiles", k=5)
    assert len(classes.labels) == 2 and classes.codes.tolist() == [0, 0, 0, 1, 1]
    assert h.choropleth_classes([3, 3], "natural_breaks").labels == ("3",)
    with pytest.raises(ValueError):
        h.choropleth_classes([1, 2], "equal_interval")


def test_rates_per_1000_guard_a_missing_population():
    rates = h.rate_per_1000([10, 10, 10], [2000, 0, np.nan])
    assert rates[0] == pytest.approx(5.0) and np.isnan(rates[1]) and np.isnan(rates[2])


# --- map payload ----------------------------------------------------------------------------


def test_a_coarser_cell_size_is_chosen_when_the_map_would_be_too_big():
    per_size = {250: 40_000, 500: 12_000, 1000: 3_000}
    assert h.choose_cell_size(per_size, 250) == 500
    assert h.choose_cell_size(per_size, 250, max_cells=50_000) == 250
    assert h.choose_cell_size(per_size, 1000) == 1000
    assert h.choose_cell_size({250: 9, 500: 9, 1000: 9}, 250, max_cells=1) == 1000


def test_cell_records_are_compact_and_bounded():
    cells = pd.DataFrame({"cell_id": [_cell(0, 0), _cell(1, 0)], "n": [3, 1],
                          "hotspot_index": [1.23456, np.nan]})
    records = h.cell_records(cells, 250, ["n", "hotspot_index"], geometry="polygon")
    assert records[0]["cell"] == _cell(0, 0) and len(records[0]["polygon"]) == 4
    centres = h.cell_records(cells, 250, ["n"])
    lon, lat = grid.cell_centres(np.array([_cell(0, 0)]), 250)
    assert centres[0]["position"] == [round(lon[0], 5), round(lat[0], 5)]
    assert records[0]["hotspot_index"] == 1.235 and records[1]["hotspot_index"] is None
    assert isinstance(records[0]["n"], int)
    json.dumps(records)  # plain types only
    assert len(h.cell_records(cells, 250, ["n"], max_cells=1)) == 1


def test_area_records_split_multipolygons_and_drop_missing_boundaries():
    a = json.loads(_bng_square_geojson(400_000, 280_000, 401_000, 281_000))
    b = json.loads(_bng_square_geojson(403_000, 280_000, 404_000, 281_000))
    multi = json.dumps({"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]})
    areas = pd.DataFrame({"code": ["M", "X"], "boundary_geojson": [multi, None], "n": [5, 1]})
    records = h.area_records(areas, ["n"])
    assert [r["code"] for r in records] == ["M", "M"] and records[0]["n"] == 5
    ring = records[0]["polygon"][0]
    assert ring[0] == ring[-1] and len(ring) < 200  # closed, and simplified from ~400 points
    assert all(len(str(x).split(".")[-1]) <= 5 for x in ring[0])


def test_areas_at_points():
    boundaries = {"A": _bng_square_geojson(400_000, 280_000, 401_000, 281_000),
                  "B": _bng_square_geojson(401_000, 280_000, 402_000, 281_000)}
    e = np.array([400_500.0, 401_500.0, 405_000.0])
    n = np.array([280_500.0, 280_500.0, 280_500.0])
    lon, lat = grid._to_wgs84().transform(e, n)
    assert h.areas_at_points(lon, lat, boundaries) == ["A", "B", None]
