"""The importers on real published data (../shared/data), on DuckDB and on PostgreSQL.

- police.uk street files (all 12 City of London 2025 months and three West Yorkshire Julys):
  the database's counts by month and crime type equal those computed from the CSVs with pandas,
  in ``incidents`` and in the aggregate tables, and importing again changes nothing;
- Birmingham counts by LSOA, LSOA 2021 and ward boundaries and the LSOA lookup with population:
  totals by ward and month equal the source, and the five incomplete months are flagged.

Skipped, with the reason, when the shared data folder is absent (it is never in the repository).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import engine as eng
from data_access import schema
from data_access.importers.police_uk import category_of
from data_access.load import run_import

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("CSP_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
STREET = DATA / "police_uk" / "street"
COUNTS = DATA / "police_uk" / "birmingham_lsoa_month_category_counts_2023-05_2026-03.csv"
BOUNDARIES = DATA / "boundaries" / "birmingham"
LOOKUP = BOUNDARIES / "lsoa21_ward_constituency_locality_pop2021.csv"
INCOMPLETE = {"2023-06", "2023-07", "2023-08", "2024-09", "2025-03"}

pytestmark = pytest.mark.skipif(
    not (STREET.is_dir() and COUNTS.is_file() and LOOKUP.is_file()),
    reason=f"real data not found at {DATA} (the shared data folder beside the project; "
           "set CSP_SHARED_DATA to point elsewhere)")


def _read(url: str, query) -> pd.DataFrame:
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if eng.is_duckdb(url):
                # DuckDB hands over a DataFrame directly: much faster than rows through Python
                # for the 395k-row snapshots (the statements are this module's, no input).
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                return conn.connection.driver_connection.execute(sql).df()
            return pd.read_sql(query, conn)
    finally:
        engine.dispose()


def _month_text(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.strftime("%Y-%m")


def _csv_counts(files: list[Path]) -> pd.Series:
    frame = pd.concat([pd.read_csv(f, dtype=str) for f in files], ignore_index=True)
    frame["category"] = frame["Crime type"].map(category_of)
    return frame.groupby(["Month", "category"]).size().rename("n").sort_index()


def _db_counts(url: str, table: sa.Table, count) -> pd.Series:
    frame = _read(url, sa.select(table.c.month_start, table.c.category, count.label("n"))
                  .where(table.c.source == "police_uk")
                  .group_by(table.c.month_start, table.c.category))
    frame["Month"] = _month_text(frame["month_start"])
    return frame.set_index(["Month", "category"])["n"].astype("int64").sort_index()


# Incident columns as loaded (the rest are derived from these by the shared loader).
_LOADED = ("source", "source_ref", "category", "subcategory", "incident_date", "date_precision",
           "hour", "longitude", "latitude", "location_text", "lsoa_code", "ward_code", "lcsp_code")


def _snapshot(url: str) -> dict[str, pd.DataFrame]:
    """Every incident (ids aside) and aggregate row, in a stable order."""
    out = {}
    for table in (schema.incidents, *schema.AGGREGATE_TABLES):
        columns = [table.c[c] for c in _LOADED] if table is schema.incidents else list(table.c)
        frame = _read(url, sa.select(*columns))
        keys = [c.name for c in columns if c.name not in ("n",) and not c.name.startswith("n_")]
        out[table.name] = frame.sort_values(keys, na_position="first").reset_index(drop=True)
    return out


def _assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    for name, frame in before.items():
        same = len(frame) == len(after[name]) and (
            pd.util.hash_pandas_object(frame, index=False).to_numpy()
            == pd.util.hash_pandas_object(after[name], index=False).to_numpy()).all()
        if not same:  # the slow comparison, for its message
            pd.testing.assert_frame_equal(after[name], frame, obj=name)


def _street_files() -> tuple[list[Path], list[Path]]:
    city = sorted((STREET / "city-of-london").glob("2025-*-city-of-london-street.csv"))
    yorkshire = sorted((STREET / "west-yorkshire").glob("*-west-yorkshire-street.csv"))
    assert len(city) == 12 and len(yorkshire) == 3
    return city, yorkshire


def _check_street(url: str, reimport: list[Path]) -> None:
    city, yorkshire = _street_files()
    first = run_import("police-uk", [STREET / "city-of-london", STREET / "west-yorkshire"],
                       url=url, loaded_by="test")
    assert first.rows_read == first.rows_added == 8_875 + 87_348
    assert first.rows_replaced == 0

    expected = _csv_counts(city + yorkshire)
    pd.testing.assert_series_equal(_db_counts(url, schema.incidents, sa.func.count()), expected)
    pd.testing.assert_series_equal(
        _db_counts(url, schema.agg_month_ward, sa.func.sum(schema.agg_month_ward.c.n)), expected)
    pd.testing.assert_series_equal(
        _db_counts(url, schema.agg_month_lsoa, sa.func.sum(schema.agg_month_lsoa.c.n)), expected)

    i = schema.incidents.c
    facts = _read(url, sa.select(
        sa.func.count().label("rows"),
        sa.func.count(i.longitude).label("located"),
        sa.func.count(i.source_ref).label("with_id"),
        sa.func.count(i.hour).label("timed"),
        sa.func.min(i.date_precision).label("precision"),
    )).iloc[0]
    # West Yorkshire: 3,771 rows with no location; City of London: 625. ASB rows have no id.
    assert facts["rows"] - facts["located"] == 3_771 + 625
    assert facts["rows"] - facts["with_id"] == 18_826 + 128
    assert facts["timed"] == 0 and facts["precision"] == "month"
    # Located rows feed the hotspot grid; unlocated ones count but are not mapped.
    cells = _read(url, sa.select(sa.func.sum(schema.agg_cell_month.c.n)).where(
        schema.agg_cell_month.c.cell_size == 250)).iloc[0, 0]
    assert cells == facts["located"]

    before = _snapshot(url)
    again = run_import("police-uk", reimport, url=url, loaded_by="test")
    assert again.rows_added == again.rows_replaced > 0
    _assert_same(before, _snapshot(url))
    logged = _read(url, sa.select(schema.imports.c.notes))
    assert len(logged) == 15 + len(again.import_ids)
    assert set(logged["notes"]) == {"force: City of London Police", "force: West Yorkshire Police"}


def test_street_files_match_the_csvs_on_duckdb(tmp_path):
    _check_street(f"duckdb:///{tmp_path / 'street.duckdb'}",
                  reimport=[STREET / "west-yorkshire", STREET / "city-of-london"])


@pytest.mark.postgres
def test_street_files_match_the_csvs_on_postgres(pg_url):
    # Re-importing the smaller force keeps the PostgreSQL run short; DuckDB re-imports both.
    _check_street(pg_url, reimport=[STREET / "city-of-london"])


def test_the_zip_police_uk_gives_is_read(tmp_path):
    city, _ = _street_files()
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in city[:2]:
            z.write(f, f"{f.name[:7]}/{f.name}")
        # The site's download also holds outcomes files; they are not street-level crimes.
        z.writestr("2025-01/2025-01-city-of-london-outcomes.csv", "Crime ID,Month\nx,2025-01\n")
    url = f"duckdb:///{tmp_path / 'zip.duckdb'}"
    summary = run_import("police-uk", [archive], url=url, loaded_by="test")
    assert len(summary.files) == 2
    pd.testing.assert_series_equal(_db_counts(url, schema.incidents, sa.func.count()),
                                   _csv_counts(city[:2]))


def _source_totals() -> pd.DataFrame:
    counts = pd.read_csv(COUNTS)
    lookup = pd.read_csv(LOOKUP)
    joined = counts.merge(lookup[["lsoa21cd", "wd25cd"]], left_on="lsoa_code",
                          right_on="lsoa21cd", how="left", validate="many_to_one")
    assert joined["wd25cd"].notna().all()
    return (joined.groupby(["wd25cd", "month_str"])["crime_count"].sum()
            .rename_axis(["ward_code", "month"]).rename("n").astype("int64").sort_index())


def _db_ward_totals(url: str) -> pd.Series:
    w = schema.agg_month_ward.c
    frame = _read(url, sa.select(w.ward_code, w.month_start, sa.func.sum(w.n).label("n"))
                  .where(w.source == "police_uk").group_by(w.ward_code, w.month_start))
    frame["month"] = _month_text(frame["month_start"])
    return frame.set_index(["ward_code", "month"])["n"].astype("int64").sort_index()


def _check_birmingham(url: str, areas_first: bool, reimport: bool = True) -> None:
    def load_areas():
        run_import("boundaries", [BOUNDARIES / "lsoa21.geojson", BOUNDARIES / "wards_2018.geojson"],
                   url=url, loaded_by="test")
        return run_import("areas", [LOOKUP], url=url, loaded_by="test")

    if areas_first:
        load_areas()
    counts = run_import("police-uk-counts", [COUNTS], url=url, loaded_by="test")
    assert (counts.rows_read, counts.rows_added) == (124_000, 395_661)
    if not areas_first:
        lookup = load_areas()
        assert "395,661 incidents given a new ward or LCSP" in lookup.details

    expected = _source_totals()
    pd.testing.assert_series_equal(_db_ward_totals(url), expected)
    assert expected.sum() == 395_661

    sm = schema.source_months.c
    flags = _read(url, sa.select(sm.month_start, sm.is_complete).where(sm.source == "police_uk"))
    flags["month"] = _month_text(flags["month_start"])
    assert len(flags) == 35
    assert set(flags.loc[~flags["is_complete"].astype(bool), "month"]) == INCOMPLETE

    a = schema.areas.c
    levels = _read(url, sa.select(a.level, sa.func.count().label("n"),
                                  sa.func.sum(a.population).label("population"),
                                  sa.func.count(a.boundary_geojson).label("outlined"))
                   .group_by(a.level)).set_index("level")
    assert levels.loc["lsoa", "n"] == 659 and levels.loc["ward", "n"] == 69
    assert levels.loc["lcsp", "n"] == 5 and levels.loc["partnership", "n"] == 1
    assert (levels["population"] == 1_144_925).all()
    assert (levels["outlined"] == levels["n"]).all()  # LCSPs and the city outlined from wards

    # LCSP totals follow the lookup's grouping of wards (the council's five localities).
    lookup_frame = pd.read_csv(LOOKUP)
    locality = lookup_frame.drop_duplicates("wd25cd").set_index("wd25cd")["Locality"]
    by_lcsp = expected.groupby(expected.index.get_level_values(0).map(locality)).sum()
    names = _read(url, sa.select(a.code, a.name).where(a.level == "lcsp"))
    w = schema.agg_month_ward.c
    db_lcsp = _read(url, sa.select(w.lcsp_code, sa.func.sum(w.n).label("n")).group_by(w.lcsp_code))
    db_lcsp = db_lcsp.merge(names, left_on="lcsp_code", right_on="code").set_index("name")["n"]
    assert db_lcsp.astype("int64").sort_index().to_dict() == by_lcsp.sort_index().to_dict()

    if not reimport:
        return
    before = _snapshot(url)
    again = run_import("areas", [LOOKUP], url=url, loaded_by="test")
    assert (again.rows_added, again.rows_replaced) == (0, 0)
    recount = run_import("police-uk-counts", [COUNTS], url=url, loaded_by="test")
    assert recount.rows_replaced == recount.rows_added == 395_661
    _assert_same(before, _snapshot(url))


def test_birmingham_areas_then_counts_on_duckdb(tmp_path):
    _check_birmingham(f"duckdb:///{tmp_path / 'bham.duckdb'}", areas_first=True)


@pytest.mark.postgres
def test_birmingham_counts_then_areas_on_postgres(pg_url):
    # Areas after counts: the lookup re-places loaded incidents (UPDATE ... FROM a temporary
    # table). The re-import is checked on DuckDB; one pass keeps this run short.
    _check_birmingham(pg_url, areas_first=False, reimport=False)


def test_a_new_lcsp_grouping_applies_from_its_year(tmp_path):
    """Moving wards to a City Centre LCSP from 2025/26 leaves earlier months where they were."""
    url = f"duckdb:///{tmp_path / 'regroup.duckdb'}"
    run_import("areas", [LOOKUP], url=url, loaded_by="test")
    run_import("police-uk-counts", [COUNTS], url=url, loaded_by="test")
    lookup = pd.read_csv(LOOKUP)
    centre = {"Ladywood", "Soho & Jewellery Quarter", "Nechells"}
    lookup.loc[lookup["wd25nm"].isin(centre), "Locality"] = "City Centre"
    regrouped = tmp_path / "lookup_2025.csv"
    lookup.to_csv(regrouped, index=False)
    summary = run_import("areas", [regrouped], url=url, loaded_by="test", options={"fy_from": 2025})
    assert any("incidents given a new ward or LCSP" in d for d in summary.details)

    m = schema.area_membership.c
    spans = _read(url, sa.select(m.parent_code, m.fy_from, m.fy_to).where(
        m.child_code == lookup.loc[lookup["wd25nm"] == "Ladywood", "wd25cd"].iloc[0])
        .order_by(m.fy_from))
    assert spans["fy_from"].tolist() == [2000, 2025]
    assert spans["fy_to"].iloc[0] == 2024 and pd.isna(spans["fy_to"].iloc[1])
    assert spans["parent_code"].tolist() == ["LCSP-WEST", "LCSP-CITY-CENTRE"]

    w = schema.agg_month_ward.c
    centre_codes = lookup.loc[lookup["wd25nm"].isin(centre), "wd25cd"].unique().tolist()
    by_year = _read(url, sa.select(w.fy_start, w.lcsp_code, sa.func.sum(w.n).label("n"))
                    .where(w.ward_code.in_(centre_codes)).group_by(w.fy_start, w.lcsp_code))
    assert set(by_year.loc[by_year["fy_start"] < 2025, "lcsp_code"]) == {"LCSP-WEST"}
    assert set(by_year.loc[by_year["fy_start"] >= 2025, "lcsp_code"]) == {"LCSP-CITY-CENTRE"}
