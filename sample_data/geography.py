"""Synthetic Birmingham-like geography: partnership, LCSPs, 69 wards, about 650 LSOAs.

Ward names are Birmingham's real 2018 wards placed roughly where they are; every boundary is
invented (a Voronoi tessellation of the ward seed points clipped to a hand-drawn city outline,
each ward again split into 9-10 LSOA cells), so nothing here is ONS geometry. Geometry is built
in a local metric plane (metres east/north of the city centre) so the cells are not squashed by
longitude degrees, then stored as WGS84 GeoJSON.

Also made here: per-LSOA "snap points", like police.uk's anonymised map points, with a
street-like ``location_text`` ("On or near Broad Street"). Incidents are placed on them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, Polygon, mapping

PARTNERSHIP_CODE = "E08000025"
PARTNERSHIP_NAME = "Birmingham (synthetic sample)"
BOUNDARY_SOURCE = "synthetic sample geometry"

LCSPS = {"LCSP-N": "North", "LCSP-E": "East", "LCSP-S": "South", "LCSP-W": "West", "LCSP-C": "Central"}

# The one regrouping in the sample: these wards moved from West to Central in 2022/23, so the
# dashboard's "LCSP in force at the date" logic has something to show.
MOVED_WARDS = ("Ladywood", "Soho & Jewellery Quarter")
MOVE_FY = 2022
WARD_FY_FROM = 2018  # Birmingham's current wards date from May 2018
LSOA_FY_FROM = 2015
LCSP_FY_FROM = 2015

# name, approximate lon, lat of the ward's middle, current LCSP, deprivation 1 (least) - 5 (most).
# Deprivation is a rough synthetic score used to shape crime volumes, not the IMD.
WARDS: tuple[tuple[str, float, float, str, int], ...] = (
    ("Acocks Green", -1.818, 52.446, "LCSP-E", 3),
    ("Allens Cross", -1.990, 52.417, "LCSP-S", 5),
    ("Alum Rock", -1.842, 52.488, "LCSP-C", 5),
    ("Aston", -1.882, 52.502, "LCSP-C", 5),
    ("Balsall Heath West", -1.897, 52.455, "LCSP-C", 5),
    ("Bartley Green", -2.003, 52.433, "LCSP-W", 4),
    ("Billesley", -1.866, 52.424, "LCSP-S", 4),
    ("Birchfield", -1.905, 52.510, "LCSP-W", 5),
    ("Bordesley & Highgate", -1.882, 52.470, "LCSP-C", 5),
    ("Bordesley Green", -1.853, 52.474, "LCSP-C", 5),
    ("Bournbrook & Selly Park", -1.928, 52.446, "LCSP-S", 3),
    ("Bournville & Cotteridge", -1.940, 52.424, "LCSP-S", 2),
    ("Brandwood & King's Heath", -1.893, 52.428, "LCSP-S", 3),
    ("Bromford & Hodge Hill", -1.808, 52.497, "LCSP-E", 5),
    ("Castle Vale", -1.780, 52.519, "LCSP-N", 5),
    ("Druids Heath & Monyhull", -1.887, 52.399, "LCSP-S", 5),
    ("Edgbaston", -1.927, 52.463, "LCSP-W", 2),
    ("Erdington", -1.838, 52.526, "LCSP-N", 4),
    ("Frankley Great Park", -2.012, 52.402, "LCSP-S", 5),
    ("Garretts Green", -1.775, 52.467, "LCSP-E", 5),
    ("Glebe Farm & Tile Cross", -1.763, 52.478, "LCSP-E", 5),
    ("Gravelly Hill", -1.848, 52.509, "LCSP-N", 5),
    ("Hall Green North", -1.843, 52.437, "LCSP-S", 3),
    ("Hall Green South", -1.840, 52.418, "LCSP-S", 2),
    ("Handsworth", -1.922, 52.504, "LCSP-W", 5),
    ("Handsworth Wood", -1.933, 52.522, "LCSP-W", 3),
    ("Harborne", -1.955, 52.461, "LCSP-W", 2),
    ("Heartlands", -1.858, 52.487, "LCSP-C", 5),
    ("Highter's Heath", -1.862, 52.403, "LCSP-S", 4),
    ("Holyhead", -1.947, 52.507, "LCSP-W", 5),
    ("King's Norton North", -1.925, 52.408, "LCSP-S", 4),
    ("King's Norton South", -1.930, 52.392, "LCSP-S", 5),
    ("Kingstanding", -1.887, 52.551, "LCSP-N", 5),
    ("Ladywood", -1.905, 52.478, "LCSP-C", 4),
    ("Longbridge & West Heath", -1.972, 52.395, "LCSP-S", 4),
    ("Lozells", -1.903, 52.500, "LCSP-C", 5),
    ("Moseley", -1.880, 52.443, "LCSP-S", 2),
    ("Nechells", -1.872, 52.492, "LCSP-C", 5),
    ("Newtown", -1.897, 52.491, "LCSP-C", 5),
    ("North Edgbaston", -1.937, 52.483, "LCSP-W", 4),
    ("Northfield", -1.968, 52.414, "LCSP-S", 3),
    ("Oscott", -1.905, 52.540, "LCSP-N", 4),
    ("Perry Barr", -1.903, 52.526, "LCSP-W", 3),
    ("Perry Common", -1.870, 52.539, "LCSP-N", 5),
    ("Pype Hayes", -1.808, 52.522, "LCSP-N", 4),
    ("Quinton", -1.995, 52.458, "LCSP-W", 3),
    ("Rubery & Rednal", -1.998, 52.386, "LCSP-S", 3),
    ("Shard End", -1.768, 52.492, "LCSP-E", 5),
    ("Sheldon", -1.752, 52.453, "LCSP-E", 2),
    ("Small Heath", -1.862, 52.467, "LCSP-C", 5),
    ("Soho & Jewellery Quarter", -1.918, 52.492, "LCSP-C", 4),
    ("South Yardley", -1.805, 52.459, "LCSP-E", 4),
    ("Sparkbrook & Balsall Heath East", -1.876, 52.459, "LCSP-C", 5),
    ("Sparkhill", -1.858, 52.450, "LCSP-S", 5),
    ("Stirchley", -1.914, 52.431, "LCSP-S", 3),
    ("Stockland Green", -1.860, 52.521, "LCSP-N", 5),
    ("Sutton Four Oaks", -1.838, 52.592, "LCSP-N", 1),
    ("Sutton Mere Green", -1.812, 52.598, "LCSP-N", 1),
    ("Sutton Reddicap", -1.803, 52.563, "LCSP-N", 3),
    ("Sutton Roughley", -1.790, 52.583, "LCSP-N", 1),
    ("Sutton Trinity", -1.826, 52.568, "LCSP-N", 2),
    ("Sutton Vesey", -1.848, 52.557, "LCSP-N", 1),
    ("Sutton Walmley & Minworth", -1.782, 52.540, "LCSP-N", 1),
    ("Sutton Wylde Green", -1.830, 52.545, "LCSP-N", 1),
    ("Tyseley & Hay Mills", -1.830, 52.457, "LCSP-E", 5),
    ("Ward End", -1.830, 52.497, "LCSP-E", 5),
    ("Weoley & Selly Oak", -1.963, 52.437, "LCSP-S", 4),
    ("Yardley East", -1.782, 52.478, "LCSP-E", 4),
    ("Yardley West & Stechford", -1.808, 52.481, "LCSP-E", 5),
)

# A hand-drawn outline (lon, lat) about 20 km x 25 km: the main city plus the Sutton Coldfield lobe.
OUTLINE: tuple[tuple[float, float], ...] = (
    (-1.845, 52.612), (-1.815, 52.614), (-1.785, 52.604), (-1.772, 52.586), (-1.768, 52.562),
    (-1.758, 52.547), (-1.764, 52.530), (-1.758, 52.514), (-1.748, 52.499), (-1.738, 52.482),
    (-1.728, 52.463), (-1.736, 52.444), (-1.770, 52.437), (-1.800, 52.428), (-1.818, 52.410),
    (-1.845, 52.396), (-1.870, 52.386), (-1.905, 52.381), (-1.940, 52.378), (-1.975, 52.376),
    (-2.008, 52.374), (-2.028, 52.392), (-2.030, 52.414), (-2.024, 52.436), (-2.030, 52.458),
    (-2.010, 52.474), (-1.978, 52.478), (-1.958, 52.494), (-1.965, 52.512), (-1.952, 52.530),
    (-1.928, 52.545), (-1.910, 52.558), (-1.890, 52.570), (-1.872, 52.576), (-1.862, 52.596),
)

CENTRE_LON, CENTRE_LAT = -1.898, 52.479
_M_PER_DEG_LAT = 111_200.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LAT))

# Real street names near the places they belong to (used for snap points in those wards).
REAL_STREETS: dict[str, tuple[str, ...]] = {
    "Ladywood": (
        "Broad Street", "New Street", "Corporation Street", "Colmore Row", "Bull Street",
        "Hurst Street", "Smallbrook Queensway", "Station Street", "John Bright Street",
        "Navigation Street", "Moor Street Queensway", "Bennetts Hill", "Gas Street",
        "Suffolk Street Queensway", "Hill Street", "Temple Row", "Edgbaston Street",
        "Ladywood Middleway", "Monument Road",
    ),
    "Bordesley & Highgate": (
        "Digbeth High Street", "Bradford Street", "Floodgate Street", "Fazeley Street",
        "Deritend High Street", "Moseley Road", "Highgate Road",
    ),
    "Soho & Jewellery Quarter": (
        "Vyse Street", "Warstone Lane", "Frederick Street", "Livery Street", "Great Hampton Street",
    ),
    "Handsworth": ("Soho Road", "Rookery Road", "Holyhead Road"),
    "Lozells": ("Lozells Road", "Villa Road", "Wheeler Street"),
    "Aston": ("Witton Road", "Lichfield Road", "Park Road"),
    "Sparkbrook & Balsall Heath East": ("Ladypool Road", "Stoney Lane", "Stratford Road"),
    "Sparkhill": ("Stratford Road", "Warwick Road"),
    "Alum Rock": ("Alum Rock Road", "Washwood Heath Road"),
    "Erdington": ("Erdington High Street", "Sutton New Road", "Orphanage Road"),
    "Sutton Trinity": ("The Parade", "Birmingham Road", "Lower Parade"),
    "Northfield": ("Bristol Road South", "Church Road", "Vicarage Road"),
    "Brandwood & King's Heath": ("Alcester Road South", "York Road"),
    "Bournbrook & Selly Park": ("Bristol Road", "Tiverton Road", "Dawlish Road"),
    "Stockland Green": ("Slade Road", "Marsh Hill"),
    "Nechells": ("Nechells Park Road", "Saltley Road", "Cato Street"),
}

_STREET_STEMS = (
    "Church", "Victoria", "Station", "Park", "Albert", "Mill", "Windsor", "Grange", "Oak", "Elm",
    "Chester", "Warwick", "Coventry", "Stratford", "Alcester", "Bristol", "Pershore", "Hagley",
    "Lichfield", "Kingsbury", "Tyburn", "Coleshill", "Lode", "Gospel", "Shirley", "Yardley Wood",
    "Holly", "Beech", "Ash", "Willow", "Hawthorn", "Sycamore", "Chestnut", "Rowan", "Cedar",
    "Linden", "Laburnum", "Acacia", "Maple", "Poplar", "Hazel", "Brook", "Meadow", "Greenwood",
    "Highfield", "Westfield", "Eastfield", "Orchard", "Manor", "Priory", "Abbey", "Chapel",
    "School", "Green", "Moor", "Heath", "Fox", "Hollybank", "Cherry", "Lime", "Alder", "Birch",
    "Pinewood", "Springfield", "Fairfield", "Sandy", "Rose", "Lilac", "Primrose", "Bluebell",
    "Kenilworth", "Leamington", "Solihull", "Dudley", "Walsall", "Wolverhampton", "Tamworth",
    "Cannock", "Rugby", "Malvern", "Ludlow", "Hereford", "Severn", "Avon", "Trent", "Tame",
    "Rea", "Cole", "Clent", "Lickey", "Wychall", "Bells", "Merritts", "Reservoir", "Canal",
    "Wharf", "Foundry", "Forge", "Tannery", "Mint", "Gunmakers", "Needle", "Button", "Pen",
)
_STREET_TYPES = (
    "Road", "Road", "Road", "Street", "Street", "Lane", "Lane", "Avenue", "Close", "Grove",
    "Drive", "Crescent", "Way", "Croft", "Gardens", "Walk", "Place",
)
# police.uk-style place descriptions; the first three are where shoplifting happens, the
# next two are night-time economy venues.
RETAIL_PLACES = ("Supermarket", "Shopping Area", "Petrol Station")
NTE_PLACES = ("Nightclub", "Theatre/Concert Hall")
OTHER_PLACES = (
    "Parking Area", "Sports/Recreation Area", "Further/Higher Educational Building", "Hospital",
    "Park/Open Space", "Pedestrian Subway", "Bus/Coach Station", "Conference/Exhibition Centre",
)
# NTE streets: snap points on them count as night-time economy locations.
NTE_STREETS = frozenset({"Broad Street", "Hurst Street", "Digbeth High Street", "Gas Street",
                         "Bristol Road", "Alcester Road South", "The Parade", "Floodgate Street"})


@dataclass(frozen=True, eq=False)  # hashed by identity (it holds frames)
class Geography:
    """Everything the incident generator needs about places, as frames and index arrays.

    ``ward_*`` arrays are ordered like ``ward_codes``; LSOAs are stored contiguously per ward
    (``lsoa_ward`` is non-decreasing) and snap points contiguously per LSOA.
    """

    areas: pd.DataFrame
    membership: pd.DataFrame
    snap_points: pd.DataFrame  # point_id, lsoa_code, longitude, latitude, location_text, kind
    ward_codes: tuple[str, ...]
    ward_names: tuple[str, ...]
    ward_population: np.ndarray
    ward_deprivation: np.ndarray
    lsoa_codes: tuple[str, ...]
    lsoa_ward: np.ndarray  # ward index of each LSOA
    lsoa_population: np.ndarray
    point_lsoa: np.ndarray  # LSOA index of each snap point
    point_kind: np.ndarray  # 0 street, 1 retail, 2 night-time economy

    def ward_index(self, name: str) -> int:
        """Position of a ward (by name) in the ward arrays."""
        return self.ward_names.index(name)

    def ward_lcsp(self, fy_start: int) -> np.ndarray:
        """LCSP code of every ward in force in the financial year starting ``fy_start``."""
        m = self.membership
        rows = m[m["child_code"].str.startswith("SW")
                 & (m["fy_from"] <= fy_start)
                 & (m["fy_to"].isna() | (m["fy_to"] >= fy_start))]
        lookup = dict(zip(rows["child_code"], rows["parent_code"]))
        return np.array([lookup[c] for c in self.ward_codes], dtype=object)


def _to_xy(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(lon) - CENTRE_LON) * _M_PER_DEG_LON, (np.asarray(lat) - CENTRE_LAT) * _M_PER_DEG_LAT


def _to_lonlat_coords(coords: np.ndarray) -> np.ndarray:
    out = np.empty_like(coords)
    out[:, 0] = coords[:, 0] / _M_PER_DEG_LON + CENTRE_LON
    out[:, 1] = coords[:, 1] / _M_PER_DEG_LAT + CENTRE_LAT
    return out


def _voronoi_cells(points: np.ndarray, clip: shapely.Geometry) -> list[shapely.Geometry]:
    """Voronoi cells of ``points`` clipped to ``clip``, returned in the order of ``points``."""
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=clip.envelope.buffer(2000))
    parts = list(cells.geoms)
    # voronoi_polygons does not keep input order: match each cell to the point inside it.
    owner = np.full(len(points), -1)
    pts = shapely.points(points)
    for j, cell in enumerate(parts):
        hit = np.flatnonzero(shapely.contains(cell, pts))
        owner[hit] = j
    if (owner < 0).any():
        raise RuntimeError("a Voronoi seed fell outside every cell")
    return [shapely.intersection(parts[j], clip) for j in owner]


def _largest_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type == "Polygon":
        return geom
    return max(geom.geoms, key=lambda g: g.area)


def _random_points_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points inside ``geom`` (rejection sampling on its bounding box)."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out = np.empty((0, 2))
    while len(out) < n:
        cand = np.column_stack([rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)])
        cand = cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]
        out = np.vstack([out, cand])
    return out[:n]


def _split_ward(ward: shapely.Geometry, n: int, rng: np.random.Generator) -> list[shapely.Geometry]:
    """Split a ward into ``n`` LSOA cells of similar size (Voronoi + two Lloyd relaxations)."""
    pts = _random_points_in(ward, n, rng)
    for _ in range(2):
        cells = _voronoi_cells(pts, ward)
        cents = np.array([[c.centroid.x, c.centroid.y] for c in cells])
        # keep a centroid only if it is inside the ward (a concave ward can push it out)
        inside = shapely.contains_xy(ward, cents[:, 0], cents[:, 1])
        pts = np.where(inside[:, None], cents, pts)
    return _voronoi_cells(pts, ward)


def _as_coverage(cells: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """The same cells rebuilt from one noded set of boundary lines.

    Cells clipped separately get different intermediate vertices on a shared edge, so rounding
    coordinates would open slivers between them. Polygonizing the noded union of all boundaries
    gives every shared edge the same vertices on both sides: an exact, gap-free coverage.
    """
    lines = shapely.union_all(shapely.boundary(np.array(cells, dtype=object)))
    faces = np.array(list(shapely.polygonize(list(lines.geoms)).geoms), dtype=object)
    tree = shapely.STRtree(np.array(cells, dtype=object))
    points = shapely.point_on_surface(faces)
    owner = np.full(len(faces), -1)
    face_idx, cell_idx = tree.query(points, predicate="within")
    owner[face_idx] = cell_idx
    if (owner < 0).any():  # a face outside every cell (numerical sliver): give it to the nearest
        lost = np.flatnonzero(owner < 0)
        owner[lost] = tree.query_nearest(points[lost])[1]
    return [_largest_polygon(shapely.union_all(faces[owner == i])) for i in range(len(cells))]


def _round_coords(coords: np.ndarray) -> np.ndarray:
    return np.round(_to_lonlat_coords(coords), 6)  # about 0.1 m


def _geojson(geom_xy: shapely.Geometry) -> tuple[str, float, float]:
    """GeoJSON text (WGS84, 6 decimals) and centroid lon/lat of a metric geometry."""
    geom = shapely.transform(geom_xy, _round_coords)
    if not geom.is_valid:
        geom = _largest_polygon(shapely.make_valid(geom))
    c = geom.centroid
    # json of the rounded floats keeps the text short ("52.43384", not "52.433839999999996")
    return json.dumps(mapping(geom), separators=(",", ":")), round(c.x, 6), round(c.y, 6)


def _street_names(rng: np.random.Generator, k: int) -> list[str]:
    stems = rng.choice(len(_STREET_STEMS), size=k, replace=False)
    types = rng.integers(0, len(_STREET_TYPES), size=k)
    return [f"{_STREET_STEMS[s]} {_STREET_TYPES[t]}" for s, t in zip(stems, types)]


def _snap_points(
    lsoa_xy: list[shapely.Geometry], lsoa_ward_names: list[str], rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Anonymous map points per LSOA with a street-like description."""
    frames, kinds, owners = [], [], []
    for i, (geom, ward_name) in enumerate(zip(lsoa_xy, lsoa_ward_names)):
        n = int(rng.integers(20, 61))
        xy = _random_points_in(geom, n, rng)
        streets = _street_names(rng, int(rng.integers(6, 14)))
        real = REAL_STREETS.get(ward_name, ())
        if real:
            # wards with known streets get up to four real names beside invented ones
            take = rng.choice(len(real), size=min(len(real), 4), replace=False)
            streets = [real[t] for t in take] + streets[:6]
        names = [f"On or near {streets[s]}" for s in rng.integers(0, len(streets), size=n)]
        kind = np.zeros(n, dtype=np.int8)
        for j, name in enumerate(names):
            if name[11:] in NTE_STREETS:
                kind[j] = 2
        # a few police.uk-style place points in every LSOA: one or two shops, sometimes a venue
        n_retail = int(rng.integers(1, 3))
        for j in range(n_retail):
            names[j] = f"On or near {RETAIL_PLACES[int(rng.integers(0, len(RETAIL_PLACES)))]}"
            kind[j] = 1
        if rng.random() < 0.5:
            names[n_retail] = f"On or near {OTHER_PLACES[int(rng.integers(0, len(OTHER_PLACES)))]}"
        if ward_name in ("Ladywood", "Bordesley & Highgate", "Soho & Jewellery Quarter",
                         "Bournbrook & Selly Park") or rng.random() < 0.08:
            names[n_retail + 1] = f"On or near {NTE_PLACES[int(rng.integers(0, len(NTE_PLACES)))]}"
            kind[n_retail + 1] = 2
        ll = _to_lonlat_coords(xy)
        frames.append(pd.DataFrame({"longitude": ll[:, 0].round(6), "latitude": ll[:, 1].round(6),
                                    "location_text": names}))
        kinds.append(kind)
        owners.append(np.full(n, i, dtype=np.int32))
    points = pd.concat(frames, ignore_index=True)
    return points, np.concatenate(owners), np.concatenate(kinds)


@lru_cache(maxsize=4)
def build_geography(seed: int = 20251) -> Geography:
    """Build (and cache) the whole synthetic geography for ``seed``."""
    rng = np.random.default_rng([seed, 1])
    outline = Polygon(np.column_stack(_to_xy(*np.array(OUTLINE).T)))
    names = [w[0] for w in WARDS]
    seeds = np.column_stack(_to_xy(np.array([w[1] for w in WARDS]), np.array([w[2] for w in WARDS])))
    ward_geoms = [_largest_polygon(g) for g in _voronoi_cells(seeds, outline)]
    order = np.argsort(names)
    ward_codes = [f"SW{i + 1:03d}" for i in range(len(WARDS))]

    n_lsoa = np.full(len(WARDS), 9)
    n_lsoa[rng.choice(len(WARDS), size=650 - 9 * len(WARDS), replace=False)] = 10

    area_rows, member_rows = [], []
    lsoa_xy, lsoa_ward, lsoa_ward_names, lsoa_codes = [], [], [], []
    for wi in order:
        cells = [_largest_polygon(c) for c in _split_ward(ward_geoms[wi], int(n_lsoa[wi]), rng)]
        cells.sort(key=lambda c: (-round(c.centroid.y, -2), c.centroid.x))  # north-west first
        for li, cell in enumerate(cells):
            lsoa_xy.append(cell)
            lsoa_ward.append(wi)
            lsoa_ward_names.append(names[wi])
            lsoa_codes.append(f"SL{len(lsoa_codes) + 1:04d}")
    lsoa_xy = _as_coverage(lsoa_xy)
    # Wards and LCSPs are unions of LSOAs, so every level shares the same edges.
    merged = {wi: shapely.union_all([g for g, w in zip(lsoa_xy, lsoa_ward) if w == wi]) for wi in order}
    ward_geoms = [_largest_polygon(merged[wi]) for wi in range(len(WARDS))]
    outline = shapely.union_all(ward_geoms)
    # LSOA populations 1,500-2,000, nudged so the city totals about 1.14 million
    lsoa_pop = rng.integers(1500, 2001, size=len(lsoa_codes))
    lsoa_pop = np.clip(np.round(lsoa_pop * 1_140_000 / lsoa_pop.sum()), 1500, 2000).astype(int)
    lsoa_ward_arr = np.array(lsoa_ward)
    ward_pop = np.bincount(lsoa_ward_arr, weights=lsoa_pop, minlength=len(WARDS)).astype(int)

    # Ward order in all arrays = alphabetical, so codes SW001.. follow the names.
    remap = np.empty(len(WARDS), dtype=int)
    remap[order] = np.arange(len(WARDS))
    lsoa_ward_arr = remap[lsoa_ward_arr]
    ward_names = tuple(names[i] for i in order)
    ward_xy = [ward_geoms[i] for i in order]
    ward_lcsp_now = [WARDS[i][3] for i in order]
    ward_pop = ward_pop[order]
    ward_dep = np.array([WARDS[i][4] for i in order], dtype=float)

    gj, cx, cy = _geojson(outline)
    area_rows.append((PARTNERSHIP_CODE, PARTNERSHIP_NAME, "partnership", None, int(ward_pop.sum()),
                      cx, cy, gj))
    for code, lname in LCSPS.items():
        members = [g for g, lc in zip(ward_xy, ward_lcsp_now) if lc == code]
        pop = int(sum(p for p, lc in zip(ward_pop, ward_lcsp_now) if lc == code))
        gj, cx, cy = _geojson(shapely.union_all(members))
        area_rows.append((code, lname, "lcsp", PARTNERSHIP_CODE, pop, cx, cy, gj))
        member_rows.append((code, PARTNERSHIP_CODE, LCSP_FY_FROM, None))
    for wi, (code, wname) in enumerate(zip(ward_codes, ward_names)):
        gj, cx, cy = _geojson(ward_xy[wi])
        area_rows.append((code, wname, "ward", ward_lcsp_now[wi], int(ward_pop[wi]), cx, cy, gj))
        if wname in MOVED_WARDS:
            member_rows.append((code, "LCSP-W", WARD_FY_FROM, MOVE_FY - 1))
            member_rows.append((code, ward_lcsp_now[wi], MOVE_FY, None))
        else:
            member_rows.append((code, ward_lcsp_now[wi], WARD_FY_FROM, None))
    letters = {}
    for li, code in enumerate(lsoa_codes):
        wi = int(lsoa_ward_arr[li])
        k = letters.get(wi, 0)
        letters[wi] = k + 1
        gj, cx, cy = _geojson(lsoa_xy[li])
        area_rows.append((code, f"{ward_names[wi]} {chr(65 + k)}", "lsoa", ward_codes[wi],
                          int(lsoa_pop[li]), cx, cy, gj))
        member_rows.append((code, ward_codes[wi], LSOA_FY_FROM, None))

    areas = pd.DataFrame(area_rows, columns=["code", "name", "level", "parent_code", "population",
                                             "centroid_lon", "centroid_lat", "boundary_geojson"])
    areas["population"] = areas["population"].astype("int64")
    areas["boundary_source"] = BOUNDARY_SOURCE
    membership = pd.DataFrame(member_rows, columns=["child_code", "parent_code", "fy_from", "fy_to"])
    membership["fy_from"] = membership["fy_from"].astype("int64")
    membership["fy_to"] = membership["fy_to"].astype("Int64")

    points, point_lsoa, point_kind = _snap_points(
        lsoa_xy, [ward_names[int(w)] for w in lsoa_ward_arr], rng)
    points.insert(0, "lsoa_code", np.array(lsoa_codes, dtype=object)[point_lsoa])
    points.insert(0, "point_id", np.arange(len(points), dtype=np.int64))
    points["kind"] = np.array(["street", "retail", "nte"], dtype=object)[point_kind]

    return Geography(
        areas=areas, membership=membership, snap_points=points,
        ward_codes=tuple(ward_codes), ward_names=ward_names,
        ward_population=ward_pop.astype(float), ward_deprivation=ward_dep,
        lsoa_codes=tuple(lsoa_codes), lsoa_ward=lsoa_ward_arr, lsoa_population=lsoa_pop.astype(float),
        point_lsoa=point_lsoa, point_kind=point_kind,
    )


def build_areas(seed: int = 20251) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``areas`` and ``area_membership`` tables for ``seed`` (fresh copies)."""
    geo = build_geography(seed)
    return geo.areas.copy(), geo.membership.copy()
