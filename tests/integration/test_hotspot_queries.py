"""Hotspot queries on DuckDB and PostgreSQL: the same answers as pandas on the generated incidents,
and, with the real Birmingham data in ../shared/data, ward totals equal to police.uk's."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from data_access import bootstrap, engine as eng
from data_access import hotspot_queries as hq
from data_access.loading import prepare_incidents
from kpis import hotspots as h
from sample_data.generator import build_dataset

SMALL = {"start": dt.date(2024, 1, 1), "end": dt.date(2025, 6, 30), "scale": 0.1}
PERIOD = (dt.date(2024, 4, 1), dt.date(2025, 3, 1))  # financial year 2024/25


@pytest.fixture(scope="module")
def small_dataset():
    # The fund tables play no part here; leaving them out keeps this test off their schema.
    return build_dataset(**SMALL, include_fund=False)


@pytest.fixture(scope="module")
def incidents(small_dataset) -> pd.DataFrame:
    """Every generated incident with its derived columns, and whether its category is sensitive."""
    frame = pd.concat([prepare_incidents(f) for f in small_dataset.incident_frames()],
                      ignore_index=True)
    cats = small_dataset.tables["categories"]
    sensitive = set(zip(cats.loc[cats["is_sensitive"], "source"], cats.loc[cats["is_sensitive"], "category"]))
    frame["sensitive"] = [(s, c) in sensitive for s, c in zip(frame["source"], frame["category"])]
    # What may be placed in a cell or at a location: not sensitive and not domestic abuse.
    frame["mappable"] = ~frame["sensitive"] & ~frame["is_domestic_abuse"]
    frame["month_start"] = pd.to_datetime(frame["month_start"])
    return frame


@pytest.fixture(scope="module")
def duck_url(tmp_path_factory, small_dataset):
    url = f"duckdb:///{tmp_path_factory.mktemp('hotspots') / 'csp.duckdb'}"
    assert bootstrap.build_database(url, lambda: small_dataset)
    return url


@pytest.fixture(scope="module")
def pg_url(pg_url_module, small_dataset):
    assert bootstrap.build_database(pg_url_module, lambda: small_dataset)
    return pg_url_module


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request):
    url = request.getfixturevalue("duck_url" if request.param == "duckdb" else "pg_url")
    engine = eng.reader_engine(url)
    yield engine
    engine.dispose()


def _in_period(frame: pd.DataFrame, period=PERIOD) -> pd.DataFrame:
    lo, hi = (pd.Timestamp(d) for d in period)
    return frame[(frame["month_start"] >= lo) & (frame["month_start"] <= hi)]


# --- grid cells -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [250, 500, 1000])
def test_cell_counts_equal_the_located_non_sensitive_incidents(engine, incidents, size):
    got = hq.load_cell_counts(engine, size, *PERIOD)
    rows = _in_period(incidents)
    rows = rows[rows["mappable"] & rows[f"cell_{size}"].notna()]
    expected = rows.groupby(f"cell_{size}").size()
    assert got["n"].sum() == len(rows) > 0
    assert dict(zip(got["cell_id"], got["n"])) == {int(k): int(v) for k, v in expected.items()}


def test_cell_counts_filter_by_category_subcategory_and_lcsp(engine, incidents):
    got = hq.load_cell_counts(engine, 500, *PERIOD, sources=["asb"], categories=["anti_social_behaviour"],
                              subcategories=["youth", "neighbour"], lcsp="LCSP-N")
    rows = _in_period(incidents)
    rows = rows[rows["mappable"] & (rows["source"] == "asb") & rows["subcategory"].isin(["youth", "neighbour"])
                & (rows["lcsp_code"] == "LCSP-N") & rows["cell_500"].notna()]
    assert got["n"].sum() == len(rows) > 0
    assert got["cell_id"].nunique() == rows["cell_500"].nunique()


def test_sensitive_categories_never_reach_cells_or_locations(engine, incidents):
    sensitive = sorted(incidents.loc[incidents["sensitive"], "category"].unique())
    assert sensitive, "the sample should have sensitive categories"
    assert hq.load_cell_counts(engine, 250, *PERIOD, categories=sensitive).empty
    assert hq.load_location_distribution(engine, *PERIOD, categories=sensitive).empty
    assert hq.load_top_locations(engine, *PERIOD, categories=sensitive).empty
    # ... but they do reach areas, where the page suppresses small counts.
    assert hq.load_area_counts(engine, "ward", *PERIOD, categories=sensitive)["n"].sum() > 0


def test_cells_per_size_count_distinct_cells(engine, incidents):
    got = hq.load_cells_per_size(engine, *PERIOD).set_index("cell_size")
    rows = _in_period(incidents)
    rows = rows[rows["mappable"]]
    for size in (250, 500, 1000):
        assert got.loc[size, "cells"] == rows[f"cell_{size}"].nunique()
    assert got.loc[250, "cells"] > got.loc[500, "cells"] > got.loc[1000, "cells"]


def test_cell_detail_adds_up_to_the_cell(engine):
    cells = hq.load_cell_counts(engine, 250, *PERIOD)
    busiest = cells.sort_values("n").iloc[-1]
    detail = hq.load_cell_detail(engine, 250, int(busiest["cell_id"]), *PERIOD)
    assert detail["n"].sum() == busiest["n"]
    assert set(detail.columns) == {"month_start", "source", "category", "n"}
    assert detail["month_start"].min() >= pd.Timestamp(PERIOD[0])


def test_area_cells_cover_the_partnership(engine, incidents):
    ids = hq.area_cell_ids(engine, "E08000025", 500)["cell_id"]
    located = _in_period(incidents)["cell_500"].dropna().astype("int64")
    # Incidents lie inside the city outline, so nearly all fall in cells centred inside it.
    assert located.isin(ids).mean() > 0.95
    index = h.compute_hotspot_index(hq.load_cell_counts(engine, 500, *PERIOD), ids)
    assert index.mean_over == "all cells in the area"
    assert index.class_counts["cells"].sum() >= len(ids)
    assert hq.area_cell_ids(engine, "NO-SUCH-AREA", 500).empty


# --- areas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level,column", [("lsoa", "lsoa_code"), ("ward", "ward_code")])
def test_area_counts_equal_the_incidents(engine, incidents, small_dataset, level, column):
    got = hq.load_area_counts(engine, level, *PERIOD)
    areas = small_dataset.tables["areas"]
    assert len(got) == (areas["level"] == level).sum()  # every area listed, zero or not
    expected = _in_period(incidents).groupby(column).size()
    got = got.set_index("code")
    assert got["n"].sum() == expected.sum()
    assert (got.loc[expected.index, "n"].to_numpy() == expected.to_numpy()).all()
    assert got["population"].gt(0).all()


def test_lcsp_counts_use_the_wards_each_lcsp_holds_now(engine, incidents, small_dataset):
    got = hq.load_area_counts(engine, "lcsp", *PERIOD).set_index("code")
    areas = small_dataset.tables["areas"]
    ward_lcsp = areas[areas["level"] == "ward"].set_index("code")["parent_code"]
    rows = _in_period(incidents)
    expected = rows["ward_code"].map(ward_lcsp).value_counts()
    assert got.loc[expected.index, "n"].tolist() == expected.tolist()
    # Filtered to one LCSP: only that LCSP's wards, and their counts are whole.
    wards = hq.load_area_counts(engine, "ward", *PERIOD, lcsp="LCSP-C")
    assert set(wards["code"]) == set(ward_lcsp[ward_lcsp == "LCSP-C"].index)
    assert wards["n"].sum() == expected["LCSP-C"]
    lsoas = hq.load_area_counts(engine, "lsoa", *PERIOD, lcsp="LCSP-C")
    assert lsoas["n"].sum() == expected["LCSP-C"]


def test_selection_total_and_area_detail(engine, incidents):
    rows = _in_period(incidents)
    total = hq.load_selection_total(engine, *PERIOD)
    assert total == {"n": len(rows), "unlocated": int(rows["ward_code"].isna().sum())}
    wards = hq.load_area_counts(engine, "ward", *PERIOD).set_index("code")
    code = wards["n"].idxmax()
    detail = hq.load_area_detail(engine, "ward", code, *PERIOD)
    assert detail["n"].sum() == wards.loc[code, "n"]
    lcsp = hq.load_area_detail(engine, "lcsp", "LCSP-S", *PERIOD)
    assert lcsp["n"].sum() == hq.load_area_counts(engine, "lcsp", *PERIOD).set_index("code").loc["LCSP-S", "n"]


def test_boundaries_parse_and_join_to_the_counts(engine):
    wards = hq.load_boundaries(engine, "ward")
    assert len(wards) == 69
    geoms = [shapely.from_geojson(g) for g in wards["boundary_geojson"]]
    assert all(g.is_valid and not g.is_empty for g in geoms)
    assert set(wards["code"]) == set(hq.load_area_counts(engine, "ward", *PERIOD)["code"])
    assert len(hq.load_boundaries(engine, "ward", lcsp="LCSP-N")) < 69
    assert len(hq.load_boundaries(engine, "partnership")) == 1


# --- repeat locations and overlays ----------------------------------------------------------


def test_location_distribution_and_top_locations(engine, incidents):
    rows = _in_period(incidents)
    rows = rows[rows["mappable"] & rows["location_text"].notna()]
    per_location = rows.groupby(["location_text", "lsoa_code"], observed=True).size()
    dist = hq.load_location_distribution(engine, *PERIOD)
    assert (dist["n"] * dist["locations"]).sum() == len(rows)
    assert dist["locations"].sum() == len(per_location)
    curve = h.concentration_curve(dist["n"], dist["locations"])
    expected_curve = h.concentration_curve(per_location.to_numpy())
    assert h.incident_share_of_top(curve, 0.2) == pytest.approx(h.incident_share_of_top(expected_curve, 0.2))

    top = hq.load_top_locations(engine, *PERIOD, limit=10)
    assert top["n"].tolist() == per_location.sort_values(ascending=False).head(10).tolist()
    assert top[["longitude", "latitude"]].notna().all().all()


def test_top_locations_within_a_cell_and_an_area(engine, incidents):
    cells = hq.load_cell_counts(engine, 250, *PERIOD)
    busiest = cells.sort_values("n").iloc[-1]
    top = hq.load_top_locations(engine, *PERIOD, cell_size=250, cell_id=int(busiest["cell_id"]), limit=50)
    # Every located incident of the cell has a location text in the sample.
    assert top["n"].sum() == busiest["n"]
    ward = hq.load_top_locations(engine, *PERIOD, area_level="ward", area_code="SW001", limit=5)
    assert len(ward) == 5 and set(ward["ward_code"]) == {"SW001"}


def test_overlays_in_force_during_the_period(engine, small_dataset):
    every = hq.load_overlays(engine)
    assert set(every["kind"]) == {"pspo", "cctv", "knife_arch"}
    assert len(every) == len(small_dataset.tables["overlays"])
    some = hq.load_overlays(engine, *PERIOD, kinds=["knife_arch"])
    assert set(some["kind"]) == {"knife_arch"} and 0 < len(some) < (every["kind"] == "knife_arch").sum()
    lo, hi = pd.Timestamp(PERIOD[0]), pd.Timestamp("2025-03-31")
    assert ((some["valid_from"].isna() | (some["valid_from"] <= hi))
            & (some["valid_to"].isna() | (some["valid_to"] >= lo))).all()
    events = hq.load_located_events(engine, *PERIOD)
    assert events[["longitude", "latitude"]].notna().all().all()


@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_frames(duck_url, pg_url):
    engines = [eng.reader_engine(duck_url), eng.reader_engine(pg_url)]
    calls = [
        lambda e: hq.load_cell_counts(e, 250, *PERIOD, categories=["robbery", "burglary"]),
        lambda e: hq.load_area_counts(e, "lcsp", *PERIOD),
        lambda e: hq.load_area_counts(e, "lsoa", *PERIOD, sources=["asb"], lcsp="LCSP-E"),
        lambda e: hq.load_location_distribution(e, *PERIOD),
        lambda e: hq.load_top_locations(e, *PERIOD, limit=15).drop(columns=["longitude", "latitude"]),
        lambda e: hq.load_cell_detail(e, 1000, int(hq.load_cell_counts(e, 1000, *PERIOD)["cell_id"].iloc[0]), *PERIOD),
        lambda e: hq.load_subcategories(e),
        lambda e: hq.load_hotspot_categories(e),
    ]
    try:
        for call in calls:
            duck, pg = (call(e).reset_index(drop=True) for e in engines)
            pd.testing.assert_frame_equal(duck, pg, check_dtype=False)
    finally:
        for e in engines:
            e.dispose()


# --- real Birmingham data (../shared/data): ward totals equal police.uk's ---------------------

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
COUNTS_CSV = SHARED / "police_uk" / "birmingham_lsoa_month_category_counts_2023-05_2026-03.csv"
LOOKUP_CSV = SHARED / "boundaries" / "birmingham" / "lsoa21_ward_constituency_locality_pop2021.csv"
WARDS_GEOJSON = SHARED / "boundaries" / "birmingham" / "wards_2018.geojson"
LSOA_GEOJSON = SHARED / "boundaries" / "birmingham" / "lsoa21.geojson"
REAL_FILES = (COUNTS_CSV, LOOKUP_CSV, WARDS_GEOJSON, LSOA_GEOJSON)


@dataclass
class _PoliceUkDataset:
    """police.uk monthly LSOA counts as a dataset for ``bootstrap.build_database``."""

    tables: dict[str, pd.DataFrame]
    counts: pd.DataFrame = field(repr=False)

    def incident_frame_count(self) -> int:
        return self.counts["month_str"].nunique()

    def incident_frames(self):
        next_id = 1
        for month, group in self.counts.groupby("month_str", sort=True):
            repeat = group["crime_count"].to_numpy()
            rows = group.loc[group.index.repeat(repeat)]
            frame = pd.DataFrame({
                "incident_id": np.arange(next_id, next_id + len(rows), dtype=np.int64),
                "source": "police_uk",
                "category": rows["category"].to_numpy(),
                "incident_date": pd.Timestamp(f"{month}-01"),
                "date_precision": "month",
                "lsoa_code": rows["lsoa_code"].to_numpy(),
                "ward_code": rows["ward_code"].to_numpy(),
                "lcsp_code": rows["lcsp_code"].to_numpy(),
            })
            next_id += len(rows)
            yield frame


def _features(path: Path, code_key: str) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {f["properties"][code_key]: json.dumps(f["geometry"]) for f in data["features"]}


@pytest.fixture(scope="module")
def real_birmingham(tmp_path_factory):
    missing = [str(p) for p in REAL_FILES if not p.exists()]
    if missing:
        pytest.skip(f"real Birmingham data not available (missing {', '.join(missing)}); "
                    "it lives in ../shared/data beside the project and is never copied into it")
    lookup = pd.read_csv(LOOKUP_CSV)
    counts = pd.read_csv(COUNTS_CSV)
    lookup["lcsp_code"] = "LOC-" + lookup["Locality"].str.upper()
    counts = counts.merge(
        lookup[["lsoa21cd", "wd25cd", "lcsp_code"]].rename(columns={"lsoa21cd": "lsoa_code", "wd25cd": "ward_code"}),
        on="lsoa_code", how="left",
    )
    wards = _features(WARDS_GEOJSON, "code")
    lsoas = _features(LSOA_GEOJSON, "lsoa21cd")
    ward_rows = lookup.groupby("wd25cd").agg(name=("wd25nm", "first"), parent_code=("lcsp_code", "first"),
                                             population=("usual_residents_2021", "sum"))
    lcsp_rows = lookup.groupby("lcsp_code").agg(name=("Locality", "first"),
                                                population=("usual_residents_2021", "sum"))
    ward_geoms = {c: shapely.from_geojson(g) for c, g in wards.items()}
    area_rows = [("E08000025", "Birmingham", "partnership", None, lookup["usual_residents_2021"].sum(),
                  shapely.to_geojson(shapely.union_all(list(ward_geoms.values()))))]
    for code, row in lcsp_rows.iterrows():
        members = [ward_geoms[w] for w in ward_rows.index[ward_rows["parent_code"] == code]]
        area_rows.append((code, row["name"], "lcsp", "E08000025", row["population"],
                          shapely.to_geojson(shapely.union_all(members))))
    for code, row in ward_rows.iterrows():
        area_rows.append((code, row["name"], "ward", row["parent_code"], row["population"], wards[code]))
    for _, row in lookup.iterrows():
        area_rows.append((row["lsoa21cd"], row["LSOA21NM"], "lsoa", row["wd25cd"],
                          row["usual_residents_2021"], lsoas.get(row["lsoa21cd"])))
    areas = pd.DataFrame(area_rows, columns=["code", "name", "level", "parent_code", "population",
                                             "boundary_geojson"])
    areas["population"] = areas["population"].astype("int64")
    areas["boundary_source"] = "ONS (real)"
    categories = pd.DataFrame({"source": "police_uk", "category": sorted(counts["category"].unique())})
    categories["label"] = categories["category"]
    categories["is_asb"] = categories["category"] == "Anti-social behaviour"
    categories["is_sensitive"] = False
    categories["sort_order"] = np.arange(len(categories))
    dataset = _PoliceUkDataset(tables={"areas": areas, "categories": categories}, counts=counts)
    url = f"duckdb:///{tmp_path_factory.mktemp('real') / 'birmingham.duckdb'}"
    assert bootstrap.build_database(url, lambda: dataset)
    engine = eng.reader_engine(url)
    yield engine, counts, lookup
    engine.dispose()


def test_real_ward_choropleth_totals_equal_police_uk(real_birmingham):
    engine, counts, _ = real_birmingham
    first, last = dt.date(2023, 5, 1), dt.date(2026, 3, 1)
    wards = hq.load_area_counts(engine, "ward", first, last).set_index("code")
    expected = counts.groupby("ward_code")["crime_count"].sum()
    assert len(wards) == 69
    assert wards["n"].sum() == counts["crime_count"].sum() == 395_661
    assert wards.loc[expected.index, "n"].tolist() == expected.tolist()
    # One financial year and one category, and the LSOA and locality levels, add up the same way.
    fy = counts[counts["month_str"].between("2024-04", "2025-03")]
    asb = fy[fy["category"] == "Anti-social behaviour"]
    got = hq.load_area_counts(engine, "ward", dt.date(2024, 4, 1), dt.date(2025, 3, 1),
                              categories=["Anti-social behaviour"]).set_index("code")
    assert got.loc[asb.groupby("ward_code")["crime_count"].sum().index, "n"].tolist() == \
        asb.groupby("ward_code")["crime_count"].sum().tolist()
    lsoa = hq.load_area_counts(engine, "lsoa", first, last).set_index("code")
    assert lsoa["n"].sum() == 395_661
    assert (lsoa.loc[counts.groupby("lsoa_code")["crime_count"].sum().index, "n"].to_numpy()
            == counts.groupby("lsoa_code")["crime_count"].sum().to_numpy()).all()
    localities = hq.load_area_counts(engine, "lcsp", first, last).set_index("code")
    assert localities["n"].to_dict() == counts.groupby("lcsp_code")["crime_count"].sum().to_dict()


def test_real_ward_rates_classes_and_gi_star(real_birmingham):
    engine, _, lookup = real_birmingham
    wards = hq.load_area_counts(engine, "ward", dt.date(2024, 4, 1), dt.date(2025, 3, 1))
    assert wards["population"].sum() == lookup["usual_residents_2021"].sum()
    rates = h.rate_per_1000(wards["n"], wards["population"])
    classes = h.choropleth_classes(rates, "natural_breaks", k=5, decimals=1)
    assert len(classes.labels) == 5 and (classes.codes >= 0).all()
    boundaries = hq.load_boundaries(engine, "ward")
    adjacency = h.adjacency_from_boundaries(dict(zip(boundaries["code"], boundaries["boundary_geojson"])))
    assert all(adjacency[c] for c in adjacency)  # every ward touches another
    gi = h.area_gi_star(pd.Series(rates, index=wards["code"]), adjacency).set_index("code")
    # The city centre ward (Ladywood, E05011151) is the highest-rate ward and a significant hot spot.
    assert gi["value"].idxmax() == "E05011151"
    assert gi.loc["E05011151", "gi_band"].startswith("Hot spot")


def test_domestic_abuse_never_counts_in_cells_or_locations(engine):
    """Domestic abuse is a flag on ordinary categories: cells and locations must leave it out."""
    import sqlalchemy as sa

    from data_access import schema

    i = schema.incidents
    with engine.connect() as conn:
        month = conn.execute(sa.select(sa.func.max(i.c.month_start))).scalar_one()
        expected = conn.execute(
            sa.select(sa.func.count()).where(
                i.c.month_start == month, i.c.cell_1000.is_not(None),
                i.c.is_domestic_abuse.is_(False), i.c.category.not_in(["sexual_offences", "modern_slavery"]),
            )
        ).scalar_one()
        with_da = conn.execute(
            sa.select(sa.func.count()).where(i.c.month_start == month, i.c.cell_1000.is_not(None),
                                             i.c.is_domestic_abuse.is_(True))
        ).scalar_one()
    assert with_da > 0
    cells = hq.load_cell_counts(engine, 1000, month, month)
    assert int(cells["n"].sum()) == expected
    assert (cells["n"] > 0).all()
