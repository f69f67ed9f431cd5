"""The synthetic sample: deterministic, schema-shaped, and carrying the patterns pages rely on.

One financial year (2024/25) at scale 1.0 is generated once per module (about 190k incidents,
under a second); geometry is checked with shapely.
"""

from __future__ import annotations

import datetime as dt
import importlib.util

import numpy as np
import pandas as pd
import pytest
import shapely

from data_access import schema
from sample_data import generator, geography, incidents, partnership
from sample_data.generator import build_dataset
from sample_data.geography import PARTNERSHIP_CODE, build_areas, build_geography

SEED = 20251
FY_START, FY_END = dt.date(2024, 4, 1), dt.date(2025, 3, 31)
VIOLENCE = list(incidents.VIOLENCE_CATEGORIES)


@pytest.fixture(scope="module")
def geo() -> geography.Geography:
    return build_geography(SEED)


@pytest.fixture(scope="module")
def year(geo) -> pd.DataFrame:
    frames = list(incidents.iter_incident_frames(geo, SEED, FY_START, FY_END))
    assert len(frames) == 12
    return pd.concat(frames, ignore_index=True)


def _geoms(frame: pd.DataFrame) -> np.ndarray:
    return shapely.from_geojson(frame["boundary_geojson"].to_numpy())


def _overlap_area(geoms: np.ndarray) -> float:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    return float(shapely.area(shapely.intersection(geoms[left[keep]], geoms[right[keep]])).sum())


# --- determinism -------------------------------------------------------------------------

def test_same_seed_gives_identical_frames(geo):
    a = incidents.month_frame(geo, SEED, 2024, 7, dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    b = incidents.month_frame(geo, SEED, 2024, 7, dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    pd.testing.assert_frame_equal(a, b)
    fresh = geography.build_geography.__wrapped__(SEED)  # bypass the cache: rebuilt from scratch
    pd.testing.assert_frame_equal(fresh.areas, geo.areas)
    pd.testing.assert_frame_equal(fresh.snap_points, geo.snap_points)


def test_different_seed_gives_different_data(geo):
    a = incidents.month_frame(geo, SEED, 2024, 7, dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    b = incidents.month_frame(geo, SEED + 1, 2024, 7, dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    assert len(a) != len(b) or not a["lsoa_code"].equals(b["lsoa_code"])
    other = geography.build_geography.__wrapped__(SEED + 1)
    assert not other.areas["boundary_geojson"].equals(geo.areas["boundary_geojson"])
    assert other.ward_names == geo.ward_names  # the names are real; only geometry and volumes vary


def test_a_month_is_reproducible_on_its_own(geo):
    whole = list(incidents.iter_incident_frames(geo, SEED, dt.date(2024, 5, 1), dt.date(2024, 7, 31)))
    alone = next(incidents.iter_incident_frames(geo, SEED, dt.date(2024, 7, 1), dt.date(2024, 7, 31)))
    pd.testing.assert_frame_equal(whole[-1], alone)


# --- geography ---------------------------------------------------------------------------

def test_area_counts_and_population(geo):
    areas, membership = build_areas(SEED)
    levels = areas["level"].value_counts()
    assert levels["partnership"] == 1 and levels["lcsp"] == 5 and levels["ward"] == 69
    assert 600 <= levels["lsoa"] <= 700
    wards = areas[areas["level"] == "ward"]
    assert wards["name"].is_unique and set(wards["code"]) == {f"SW{i:03d}" for i in range(1, 70)}
    lsoas = areas[areas["level"] == "lsoa"]
    assert lsoas["population"].between(1500, 2000).all()
    total = int(areas.loc[areas["code"] == PARTNERSHIP_CODE, "population"].iloc[0])
    assert 1_100_000 <= total <= 1_180_000
    assert lsoas["population"].sum() == wards["population"].sum() == total
    by_ward = lsoas.groupby("parent_code")["population"].sum()
    assert (by_ward.reindex(wards["code"]).to_numpy() == wards["population"].to_numpy()).all()
    assert set(areas.columns) == {c.name for c in schema.areas.columns}
    assert set(membership.columns) == {c.name for c in schema.area_membership.columns}


def test_polygons_are_valid_and_tile_without_overlap(geo):
    areas = geo.areas
    city = _geoms(areas[areas["level"] == "partnership"])[0]
    wards = _geoms(areas[areas["level"] == "ward"])
    lsoas = _geoms(areas[areas["level"] == "lsoa"])
    assert shapely.is_valid(wards).all() and shapely.is_valid(lsoas).all()
    assert _overlap_area(wards) < 1e-6 * city.area
    assert _overlap_area(lsoas) < 1e-6 * city.area
    # gap-free: the pieces add up to the whole
    assert shapely.area(wards).sum() == pytest.approx(city.area, rel=1e-4)
    assert shapely.area(lsoas).sum() == pytest.approx(city.area, rel=1e-4)
    # roughly Birmingham: the centre ward holds the city centre, Sutton lies north-east
    names = areas.loc[areas["level"] == "ward", "name"].tolist()
    assert shapely.contains_xy(wards[names.index("Ladywood")], -1.900, 52.478)
    sutton = wards[names.index("Sutton Trinity")].centroid
    assert sutton.y > 52.55 and sutton.x > -1.86
    minx, miny, maxx, maxy = city.bounds
    assert 15 <= (maxx - minx) * 68 <= 30 and 18 <= (maxy - miny) * 111 <= 30  # km


def test_lsoas_nest_in_their_wards(geo):
    areas = geo.areas.set_index("code")
    lsoas = areas[areas["level"] == "lsoa"]
    ward_geoms = dict(zip(areas.index[areas["level"] == "ward"],
                          _geoms(areas[areas["level"] == "ward"])))
    for code, geom in zip(lsoas.index[::25], _geoms(lsoas.iloc[::25])):
        ward = ward_geoms[lsoas.loc[code, "parent_code"]]
        assert shapely.area(shapely.difference(geom, ward)) < 1e-9


def test_snap_points_lie_in_their_lsoa(geo):
    points = geo.snap_points
    counts = points.groupby("lsoa_code").size()
    assert counts.between(20, 60).all() and len(counts) == len(geo.lsoa_codes)
    assert points["location_text"].str.startswith("On or near ").all()
    assert (points["location_text"] == "On or near Broad Street").any()
    lsoas = geo.areas[geo.areas["level"] == "lsoa"].set_index("code")
    sample = points.iloc[::97]
    polys = shapely.from_geojson(lsoas.loc[sample["lsoa_code"], "boundary_geojson"].to_numpy())
    inside = shapely.contains_xy(polys, sample["longitude"].to_numpy(), sample["latitude"].to_numpy())
    assert inside.mean() > 0.98  # a point may sit on a rounded boundary


def test_grouping_changes_once(geo):
    m = geo.membership
    ladywood = geo.ward_codes[geo.ward_index("Ladywood")]
    rows = m[m["child_code"] == ladywood].sort_values("fy_from")
    assert rows["parent_code"].tolist() == ["LCSP-W", "LCSP-C"]
    assert rows["fy_to"].iloc[0] == 2021 and pd.isna(rows["fy_to"].iloc[1])
    assert geo.ward_lcsp(2021)[geo.ward_index("Ladywood")] == "LCSP-W"
    assert geo.ward_lcsp(2022)[geo.ward_index("Ladywood")] == "LCSP-C"


# --- incidents: shape ----------------------------------------------------------------------

def test_incident_columns_match_schema(year):
    assert tuple(year.columns) == incidents.INCIDENT_COLUMNS
    table_cols = {c.name for c in schema.incidents.columns}
    assert set(year.columns) <= table_cols
    assert {"fy_start", "month_start", "cell_250", "import_id"}.isdisjoint(year.columns)
    assert year["incident_id"].is_unique and year["incident_id"].is_monotonic_increasing
    assert year["incident_date"].between(pd.Timestamp(FY_START), pd.Timestamp(FY_END)).all()
    assert set(year["source"].unique()) == {"recorded_crime", "asb"}
    assert year.loc[year["source"] == "asb", "source_ref"].isna().all()
    assert year.loc[year["source"] == "recorded_crime", "source_ref"].notna().all()
    assert set(year["category"].unique()) <= set(incidents.CATEGORY_NAMES)
    assert (year["date_precision"] == "day").all()


def test_volumes_and_missing_values(year):
    crime = year[year["source"] == "recorded_crime"]
    asb = year[year["source"] == "asb"]
    assert 115_000 <= len(crime) <= 145_000
    assert 52_000 <= len(asb) <= 68_000
    assert 0.87 <= crime["hour"].notna().mean() <= 0.93
    assert asb["hour"].notna().mean() > 0.98
    assert 0.01 <= year["longitude"].isna().mean() <= 0.03
    assert (year["longitude"].isna() == year["location_text"].isna()).all()
    assert year["lsoa_code"].notna().all()


def test_incidents_follow_membership_in_force(geo):
    frames = list(incidents.iter_incident_frames(geo, SEED, dt.date(2022, 3, 1), dt.date(2022, 4, 30)))
    both = pd.concat(frames, ignore_index=True)
    lsoa_parent = dict(zip(geo.lsoa_codes, np.array(geo.ward_codes)[geo.lsoa_ward]))
    assert (both["lsoa_code"].astype(str).map(lsoa_parent) == both["ward_code"].astype(str)).all()
    fy = np.where(both["incident_date"].dt.month >= 4, both["incident_date"].dt.year,
                  both["incident_date"].dt.year - 1)
    expected = np.empty(len(both), dtype=object)
    for year in (2021, 2022):
        lookup = dict(zip(geo.ward_codes, geo.ward_lcsp(year)))
        sel = fy == year
        expected[sel] = both.loc[sel, "ward_code"].astype(str).map(lookup).to_numpy()
    assert (both["lcsp_code"].astype(str).to_numpy() == expected).all()
    ladywood = geo.ward_codes[geo.ward_index("Ladywood")]
    lw = both[both["ward_code"] == ladywood]
    assert set(lw.loc[lw["incident_date"] < "2022-04-01", "lcsp_code"]) == {"LCSP-W"}
    assert set(lw.loc[lw["incident_date"] >= "2022-04-01", "lcsp_code"]) == {"LCSP-C"}


def test_scale_multiplies_volume(geo):
    one = incidents.month_frame(geo, SEED, 2024, 6, dt.date(2024, 6, 1), dt.date(2024, 6, 30))
    three = incidents.month_frame(geo, SEED, 2024, 6, dt.date(2024, 6, 1), dt.date(2024, 6, 30), 3.0)
    assert len(three) / len(one) == pytest.approx(3.0, rel=0.03)


# --- incidents: patterns ---------------------------------------------------------------------

def test_category_shares(year):
    crime = year[year["source"] == "recorded_crime"]
    shares = crime["category"].value_counts(normalize=True)
    assert shares[VIOLENCE].sum() == pytest.approx(0.39, abs=0.03)
    assert shares["shoplifting"] == pytest.approx(0.07, abs=0.015)
    assert shares["robbery"] == pytest.approx(0.035, abs=0.01)
    assert shares["sexual_offences"] == pytest.approx(0.03, abs=0.01)
    assert 0.085 <= crime["is_weapon"].mean() <= 0.105
    assert 0.13 <= crime["is_domestic_abuse"].mean() <= 0.20
    assert crime.loc[crime["category"] == "sexual_offences", "is_vawg"].all()
    assert crime.loc[~crime["category"].isin(VIOLENCE + ["sexual_offences", "criminal_damage_and_arson"]),
                     "is_domestic_abuse"].sum() == 0
    da = crime[crime["is_domestic_abuse"]]
    assert 0.2 <= da["is_repeat"].mean() <= 0.32


def test_asb_type_shares(year):
    asb = year[year["source"] == "asb"]
    shares = asb["subcategory"].value_counts(normalize=True)
    for sub, target in {"neighbour": 0.20, "vehicle_nuisance": 0.15, "aggressive_threatening": 0.15,
                        "youth": 0.10, "begging_rough_sleeping": 0.08}.items():
        assert shares[sub] == pytest.approx(target, abs=0.015), sub
    assert asb["category"].eq("anti_social_behaviour").all()
    assert 0.2 <= asb.loc[asb["subcategory"] == "neighbour", "is_repeat"].mean() <= 0.32


def test_asb_peaks_17_to_19(year):
    hours = year.loc[year["source"] == "asb", "hour"].dropna().astype(int)
    counts = np.bincount(hours, minlength=24)
    window = np.array([counts[np.arange(h, h + 3) % 24].sum() for h in range(24)])
    assert int(np.argmax(window)) == 17
    assert int(np.argmax(counts)) in (17, 18, 19)


def test_weekday_violence_peaks_midday_and_da_on_mondays(year):
    crime = year[year["source"] == "recorded_crime"]
    weekday = crime["incident_date"].dt.day_of_week
    vap = crime[crime["category"].isin(VIOLENCE) & (weekday < 5)]
    counts = np.bincount(vap["hour"].dropna().astype(int), minlength=24)
    window = np.array([counts[np.arange(h, h + 4) % 24].sum() for h in range(24)])
    assert int(np.argmax(window)) in (11, 12, 13)
    da_days = np.bincount(weekday[crime["is_domestic_abuse"]], minlength=7)
    assert int(np.argmax(da_days)) == 0
    nte = crime[crime["is_alcohol"] & crime["category"].isin(VIOLENCE)]
    assert nte["incident_date"].dt.day_of_week.isin([5, 6]).mean() > 0.35  # 2/7 if flat


def test_halloween_to_bonfire_night_rise(year):
    asb = year[year["source"] == "asb"].groupby("incident_date").size()
    before = asb["2024-10-07":"2024-10-20"].mean()
    mischief = asb["2024-10-31":"2024-11-05"].mean()
    assert mischief > 1.25 * before
    damage = year[year["category"] == "criminal_damage_and_arson"].groupby("incident_date").size()
    assert damage["2024-10-31":"2024-11-05"].mean() > 1.2 * damage["2024-10-07":"2024-10-20"].mean()


def test_summer_youth_asb_above_winter(year):
    youth = year[year["subcategory"] == "youth"]
    month = youth["incident_date"].dt.month
    assert (month == 8).sum() > 1.5 * (month == 1).sum()


def test_city_centre_violence_concentration(geo, year):
    pop = geo.areas.set_index("code")["population"]
    names = dict(zip(geo.ward_codes, geo.ward_names))
    vap = year[year["category"].isin(VIOLENCE)]
    rate = vap.groupby("ward_code", observed=True).size() / pop.reindex(geo.ward_codes).to_numpy() * 1000
    rate.index = rate.index.map(names)
    city = len(vap) / pop[PARTNERSHIP_CODE] * 1000
    assert rate["Ladywood"] > 3 * city
    for ward in ("Bordesley & Highgate", "Lozells", "Aston", "Stockland Green"):
        assert rate[ward] > 1.3 * city, ward
    assert rate[[n for n in rate.index if n.startswith("Sutton")]].max() < 0.6 * city
    asb = year[year["source"] == "asb"].groupby("ward_code", observed=True).size()
    asb_rate = (asb / pop.reindex(geo.ward_codes).to_numpy()).rename(index=names)
    top = set(asb_rate.sort_values(ascending=False).index[:6])
    assert {"Ladywood", "Erdington", "Yardley West & Stechford"} <= top


def test_repeat_locations(year):
    located = year.dropna(subset=["longitude"])
    per_point = located.groupby(["longitude", "latitude"]).size().sort_values(ascending=False)
    top_decile = per_point.iloc[: len(per_point) // 10].sum()
    assert top_decile > 0.3 * len(located)


def test_trends_built_in():
    def year_mean(kind: str, y: int) -> float:
        return float(np.mean([incidents._trend_level(kind, y + (m - 0.5) / 12) for m in range(1, 13)]))

    assert year_mean("shoplifting", 2024) / year_mean("shoplifting", 2023) == pytest.approx(1.34, abs=0.01)
    assert year_mean("robbery", 2024) < year_mean("robbery", 2023) < year_mean("robbery", 2022)
    shares = {s.category: 0.0 for s in incidents.STREAMS if s.source == "recorded_crime"}
    for s in incidents.STREAMS:
        if s.source == "recorded_crime":
            shares[s.category] += s.share
    kinds = {s.category: s.trend for s in incidents.STREAMS if s.source == "recorded_crime"}
    total = {y: sum(w * year_mean(kinds[c], y) for c, w in shares.items()) for y in (2023, 2024)}
    assert total[2024] / total[2023] - 1 == pytest.approx(-0.07, abs=0.01)


# --- partnership records and the dataset ---------------------------------------------------

def test_events_calendar(geo):
    events = partnership.events_frame(geo, range(2024, 2026))
    assert events["event_id"].is_unique
    assert set(events["kind"]) == {"bank_holiday", "school_holiday", "local_event", "operation"}
    assert set(events.columns) == {c.name for c in schema.events.columns}
    names = set(events["name"])
    for name in ("Birmingham Pride", "Frankfurt Christmas Market", "St Patrick's Day parade",
                 "Handsworth carnival", "Birmingham International Carnival", "Simmer Down festival",
                 "Summer holidays", "Christmas Day"):
        assert name in names, name
    summer = events[(events["name"] == "Summer holidays")
                    & (events["start_date"].map(lambda d: d.year) == 2025)].iloc[0]
    assert summer["start_date"] <= dt.date(2025, 7, 23) and summer["end_date"] >= dt.date(2025, 8, 31)
    assert (events["end_date"] >= events["start_date"]).all()


def test_dataset_tables_match_schema():
    # The Community Safety Fund part is written separately; without it the rest is still checked.
    include_fund = importlib.util.find_spec("sample_data.fund") is not None
    ds = build_dataset(seed=SEED, start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 31),
                       include_fund=include_fund)
    for name, frame in ds.tables.items():
        table = schema.metadata.tables[name]
        cols = {c.name for c in table.columns}
        assert set(frame.columns) <= cols, name
        required = {c.name for c in table.columns if not c.nullable and c.default is None
                    and c.name != "import_id"}
        assert required <= set(frame.columns), (name, required - set(frame.columns))
    info = dict(zip(ds.tables["dataset_info"]["key"], ds.tables["dataset_info"]["value"]))
    assert info["synthetic"] == "true" and info["seed"] == str(SEED)
    assert ds.incident_frame_count() == 2
    frames = list(ds.incident_frames())
    assert len(frames) == 2 and list(ds.incident_frames())[0].equals(frames[0])
    if include_fund:
        assert set(generator.FUND_TABLES) <= set(ds.tables)


def test_actions(geo):
    actions = partnership.actions_frame(SEED, dt.date(2026, 11, 21))
    assert actions["action_id"].is_unique
    assert set(actions["status"]) <= {"not_started", "on_track", "at_risk", "off_track", "complete"}
    boards = set(partnership.BOARDS.values())
    current = actions[actions["board"].isin(boards)]
    assert set(current["board"]) == boards
    assert current.groupby("board")["code"].nunique().between(8, 12).all()
    assert {"CC3(e)", "CSD4(a)", "VR1(a)", "VAWG2(b)", "SN3(e)", "ESOC1(a)", "DA2(c)"} <= set(actions["code"])
    overdue = current[(current["due_date"] < dt.date(2026, 11, 21)) & (current["status"] != "complete")]
    assert len(overdue) > 0
    assert current["lcsp_code"].notna().sum() >= 5


def test_overlays(geo):
    overlays = partnership.overlays_frame(geo, SEED)
    kinds = overlays["kind"].value_counts()
    assert kinds["pspo"] >= 3 and kinds["cctv"] == 15 and kinds["knife_arch"] == 6
    polys = shapely.from_geojson(overlays.loc[overlays["kind"] == "pspo", "geometry_geojson"].to_numpy())
    assert shapely.is_valid(polys).all()


def test_kpis_follow_the_registry(geo):
    registry = partnership.load_registry()
    defs, values = partnership.kpi_frames(geo, SEED, dt.date(2026, 10, 31), registry)
    kpis = registry["kpis"]
    assert set(defs["kpi_id"]) == {k["id"] for k in kpis}
    returns = {k["id"]: k for k in kpis if k.get("data") == "return"}
    assert set(values["kpi_id"]) == set(returns)
    assert not values.duplicated(["kpi_id", "area_code", "period_start"]).any()
    assert set(values.columns) <= {c.name for c in schema.kpi_values.columns}
    for kpi_id, k in returns.items():
        v = values[values["kpi_id"] == kpi_id]
        assert PARTNERSHIP_CODE in set(v["area_code"])
        if "lcsp" in (k.get("areas") or []):
            assert {"LCSP-N", "LCSP-E", "LCSP-S", "LCSP-W", "LCSP-C"} <= set(v["area_code"])
        assert v["period_start"].min() == dt.date(2022, 4, 1)
        last = dt.date(2026, 10, 1) if k.get("frequency", "monthly") == "monthly" else dt.date(2026, 7, 1)
        assert v["period_start"].max() == last
        assert (v["is_provisional"] == (v["period_start"] == last)).all()
        p = v[v["area_code"] == PARTNERSHIP_CODE].sort_values("period_start")
        base = p[(p["period_start"] >= dt.date(2024, 4, 1)) & (p["period_start"] < dt.date(2025, 4, 1))]
        assert p["baseline"].iloc[0] == pytest.approx(base["value"].mean(), abs=0.01)
        if k["unit"] == "percentage":
            assert (p["value"].between(0, 100)).all() and p["denominator"].notna().all()
    # a real shift for the SPC charts: assault admissions fall from September 2025
    aa = values[(values["kpi_id"] == "assault_admissions") & (values["area_code"] == PARTNERSHIP_CODE)]
    after = aa[aa["period_start"] >= dt.date(2025, 9, 1)]["value"].mean()
    before = aa[aa["period_start"] < dt.date(2025, 9, 1)]["value"].mean()
    assert after < 0.8 * before


def test_categories_frame():
    cats = incidents.categories_frame()
    assert set(cats.columns) == {c.name for c in schema.categories.columns}
    sensitive = set(cats.loc[cats["is_sensitive"], "category"])
    assert sensitive == {"sexual_offences", "modern_slavery"}
    assert cats.loc[cats["source"] == "asb", "is_asb"].all()
    assert len(cats) == 18 and cats["sort_order"].is_unique
