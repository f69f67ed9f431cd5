"""The national-grid hotspot cells: ids, sizes and geometry."""

import numpy as np

from kpis import grid


def test_a_point_falls_in_the_cell_whose_square_contains_it():
    # Birmingham city centre (Victoria Square), about E406900 N286900 on the national grid.
    lon, lat = np.array([-1.9030]), np.array([52.4797])
    e, n = grid.lonlat_to_bng(lon, lat)
    assert 406_000 < e[0] < 408_000 and 286_000 < n[0] < 288_000
    for size in grid.CELL_SIZES_M:
        cell = grid.cell_ids(lon, lat, size)[0]
        e0, n0 = grid.cell_bounds_bng(np.array([cell]), size)
        assert e0[0] <= e[0] < e0[0] + size and n0[0] <= n[0] < n0[0] + size


def test_missing_locations_have_no_cell():
    ids = grid.cell_ids(np.array([np.nan, -1.9]), np.array([52.48, np.nan]), 250)
    assert np.isnan(ids).all()


def test_cells_are_the_right_size_on_the_ground():
    cell = grid.cell_ids(np.array([-1.9]), np.array([52.48]), 250).astype("int64")
    ring = grid.cell_polygons(cell, 250)[0]
    lons = [pt[0] for pt in ring]
    lats = [pt[1] for pt in ring]
    # 250 m is about 0.00225 degrees of latitude and 0.0037 of longitude at 52.5 N.
    assert abs((max(lats) - min(lats)) - 0.00225) < 0.0002
    assert abs((max(lons) - min(lons)) - 0.0037) < 0.0003
    centre_lon, centre_lat = grid.cell_centres(cell, 250)
    assert min(lons) < centre_lon[0] < max(lons) and min(lats) < centre_lat[0] < max(lats)


def test_neighbouring_points_share_a_coarse_cell_more_often_than_a_fine_one():
    rng = np.random.default_rng(1)
    lon = -1.9 + rng.normal(0, 0.01, 2000)
    lat = 52.48 + rng.normal(0, 0.01, 2000)
    counts = [len(np.unique(grid.cell_ids(lon, lat, s))) for s in grid.CELL_SIZES_M]
    assert counts[0] > counts[1] > counts[2]
