"""Bad files for every importer: each problem is named (file, row, column, what), every problem is
listed, and a rejected import leaves the database exactly as it was.

Files are written into ``tmp_path``; the database is a small DuckDB file built by the importers
themselves (a police.uk month, an area lookup, a KPI value, an action and an event).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import engine as eng
from data_access import schema
from data_access.importers.common import ImportRejected, format_problems
from data_access.load import main, run_import

POLICE_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
                 "LSOA name,Crime type,Last outcome category,Context")


def police_csv(*rows: str, header: str = POLICE_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def police_row(crime_id="c1", month="2025-01", lon="-1.890000", lat="52.480000",
               location="On or near Broad Street", lsoa="E01000001", crime_type="Burglary",
               force="Test Police") -> str:
    return (f"{crime_id},{month},{force},{force},{lon},{lat},{location},{lsoa},Test 001A,"
            f"{crime_type},Under investigation,")


def write(tmp_path, name: str, text: str | bytes, encoding: str = "utf-8"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding=encoding, newline="")
    return path


def checksum(url: str) -> tuple[str, dict]:
    """The current DuckDB generation and, per table, its row count and an order-free hash."""
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    out = {}
    try:
        with engine.connect() as conn:
            for table in schema.metadata.sorted_tables:
                frame = pd.read_sql(sa.select(table), conn)
                digest = int(pd.util.hash_pandas_object(frame.astype(str), index=False).sum())
                out[table.name] = (len(frame), digest)
    finally:
        engine.dispose()
    return eng.database_generation(url), out


def rejected(url: str, kind: str, sources, **options) -> ImportRejected:
    """Run an import that must be refused; check the database did not change."""
    before = checksum(url)
    with pytest.raises(ImportRejected) as info:
        run_import(kind, sources, url=url, loaded_by="test", options=options)
    assert checksum(url) == before
    return info.value


def problem_texts(exc: ImportRejected) -> list[str]:
    return [str(p) for p in exc.problems]


LOOKUP = ("lsoa_code,lsoa_name,ward_code,ward_name,lcsp,population\n"
          "E01000001,Test 001A,E05000001,Ward One,North,1500\n"
          "E01000002,Test 001B,E05000002,Ward Two,South,1600\n")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("db")
    url = f"duckdb:///{folder / 'csp.duckdb'}"
    run_import("police-uk", [write(folder, "2025-01-test-street.csv", police_csv(
        police_row("c1"), police_row("c2", lsoa="E01000002", crime_type="Anti-social behaviour")))],
        url=url, loaded_by="test")
    run_import("areas", [write(folder, "lookup.csv", LOOKUP)], url=url, loaded_by="test")
    run_import("kpis", [write(folder, "kpi.csv", (
        "kpi_id,area_code,period,value\nct_requests,North,2025-04,3\n"))], url=url, loaded_by="test")
    run_import("events", [write(folder, "events.csv", (
        "name,kind,start_date,end_date\nSummer,school holiday,2025-07-22,2025-09-02\n"))],
        url=url, loaded_by="test")
    return url


@pytest.fixture
def fresh_url(tmp_path):
    return f"duckdb:///{tmp_path / 'fresh.duckdb'}"


def incidents(url: str) -> pd.DataFrame:
    engine = eng.reader_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.select(schema.incidents).order_by(schema.incidents.c.incident_id), conn)
    finally:
        engine.dispose()


# --- encodings, delimiters, Excel habits: handled -------------------------------------------

def test_windows_1252_file_with_pound_signs_is_read(tmp_path, fresh_url):
    path = write(tmp_path, "cp1252.csv", police_csv(police_row(location="On or near £1 Shop")),
                 encoding="cp1252")
    summary = run_import("police-uk", [path], url=fresh_url, loaded_by="test")
    assert summary.rows_added == 1
    assert incidents(fresh_url)["location_text"].tolist() == ["On or near £1 Shop"]


def test_bom_semicolons_and_decimal_commas_are_read(tmp_path, fresh_url):
    header = POLICE_HEADER.replace(",", ";")
    row = police_row(lon='"-1,8900"', lat='"52,4800"').replace(",", ";").replace('"-1;8900"', "-1,8900")
    row = row.replace('"52;4800"', "52,4800")
    path = write(tmp_path, "semi.csv", "\ufeff" + police_csv(row, header=header))
    run_import("police-uk", [path], url=fresh_url, loaded_by="test")
    got = incidents(fresh_url)
    assert got["longitude"].round(4).tolist() == [-1.89]
    assert got["latitude"].round(4).tolist() == [52.48]


def test_tab_separated_file_is_read(tmp_path, fresh_url):
    text = police_csv(police_row(), police_row("c2")).replace(",", "\t")
    summary = run_import("police-uk", [write(tmp_path, "tabs.csv", text)], url=fresh_url,
                         loaded_by="test")
    assert summary.rows_added == 2


def test_months_mangled_by_excel_are_read(tmp_path, fresh_url):
    # Opening a police.uk file in Excel and saving turns 2025-01 into Jan-25 or a serial number.
    path = write(tmp_path, "excel.csv", police_csv(police_row(month="Jan-25"),
                                                   police_row("c2", month="45658")))
    run_import("police-uk", [path], url=fresh_url, loaded_by="test")
    got = incidents(fresh_url)
    assert set(pd.to_datetime(got["month_start"]).dt.strftime("%Y-%m")) == {"2025-01"}
    assert set(got["date_precision"]) == {"month"} and got["hour"].isna().all()


def test_short_rows_are_padded_and_blank_rows_ignored(tmp_path, fresh_url):
    short = police_row().rsplit(",", 2)[0]  # no Last outcome category, no Context
    path = write(tmp_path, "short.csv", police_csv(short, ",,,,,,,,,,,", "", police_row("c2")))
    summary = run_import("police-uk", [path], url=fresh_url, loaded_by="test")
    assert summary.rows_added == 2


def test_police_uk_duplicates_are_kept_as_published(tmp_path, fresh_url):
    # police.uk repeats identical ASB rows (no Crime ID) and some Crime IDs: counts must match.
    asb = police_row("", crime_type="Anti-social behaviour")
    path = write(tmp_path, "dups.csv", police_csv(asb, asb, police_row("x"), police_row("x")))
    summary = run_import("police-uk", [path], url=fresh_url, loaded_by="test")
    assert summary.rows_added == 4 and summary.rows_rejected == 0


# --- police.uk street files: problems -------------------------------------------------------

def test_every_problem_is_named_and_listed(tmp_path, url):
    path = write(tmp_path, "bad.csv", police_csv(
        police_row("c1"),
        police_row("c2", month="2025-13", lon="abc"),
        police_row("c3") + ",surplus",
        police_row("c4", crime_type=""),
        police_row("c5", lat="n/a"),
        police_row("c6", lon="", lat="52.5"),
        police_row("c7", lon="12.5"),
    ))
    exc = rejected(url, "police-uk", [path])
    texts = problem_texts(exc)
    name = str(path)
    assert f"{name}, row 3, column 'Month': is not a month (write it as YYYY-MM) (found '2025-13')" in texts
    assert f"{name}, row 3, column 'Longitude': is not a number (found 'abc')" in texts
    assert any(t.startswith(f"{name}, row 4: has 13 fields but the header has 12") for t in texts)
    assert f"{name}, row 5, column 'Crime type': is empty" in texts
    assert f"{name}, row 6, column 'Latitude': is not a number (found 'n/a')" in texts
    assert f"{name}, row 7, column 'Longitude': is empty but the latitude is given" in texts
    assert any(t.startswith(f"{name}, row 8, column 'Longitude': is above the largest") for t in texts)
    assert len(exc.problems) == 7 and exc.rows_rejected == 6
    assert exc.rows_read == 7
    assert "7 problems found; nothing was imported." in exc.report()


def test_many_rows_with_the_same_problem_are_grouped(tmp_path, url):
    path = write(tmp_path, "lon.csv", police_csv(*[police_row(f"c{k}", lon="x") for k in range(40)]))
    exc = rejected(url, "police-uk", [path])
    assert len(exc.problems) == 40
    lines = format_problems(exc.problems)
    assert lines == [f"{path}, rows 2-41 (40 rows), column 'Longitude': is not a number (found 'x')"]


def test_missing_columns_are_named(tmp_path, url):
    header = POLICE_HEADER.replace(",Crime type", "").replace("Month,", "")
    path = write(tmp_path, "cols.csv", header + "\nc1,Test,Test,-1.8,52.4,Street,E01,Name,x,\n")
    texts = problem_texts(rejected(url, "police-uk", [path]))
    assert any(t.startswith(f"{path}, row 1, column 'Month': missing column; the header has: Crime ID")
               for t in texts)
    assert any("column 'Crime type': missing column" in t for t in texts)


def test_an_unknown_delimiter_shows_the_header_it_saw(tmp_path, url):
    path = write(tmp_path, "colons.csv", police_csv(police_row()).replace(",", ":"))
    texts = problem_texts(rejected(url, "police-uk", [path]))
    assert f"{path}, row 1, column 'Month': missing column; the header has: {POLICE_HEADER.replace(',', ':')}" in texts


def test_uploaded_zip_is_read_from_bytes(tmp_path, fresh_url):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2025-01/2025-01-test-street.csv", police_csv(police_row("c1")))
        archive.writestr("2025-02/2025-02-test-street.csv", police_csv(police_row("c2", month="2025-02")))
        archive.writestr("2025-02/2025-02-test-outcomes.csv", "Crime ID,Month\nc2,2025-02\n")
    summary = run_import("police-uk", [("download.zip", buffer.getvalue())], url=fresh_url,
                         loaded_by="test")
    assert summary.rows_added == 2 and summary.files == [
        "download.zip:2025-01/2025-01-test-street.csv", "download.zip:2025-02/2025-02-test-street.csv"]


def test_undecodable_bytes_are_rejected(tmp_path, url):
    data = police_csv(police_row()).encode() + "c9,2025-01,\x81\x8d".encode("latin-1") + b"\n"
    path = write(tmp_path, "mojibake.csv", data)
    (problem,) = rejected(url, "police-uk", [path]).problems
    assert problem.file == str(path) and problem.row == 3
    assert "neither UTF-8 nor Windows-1252" in problem.message


def test_binary_and_old_excel_files_are_rejected(tmp_path, url):
    binary = write(tmp_path, "binary.csv", b"\x00\x01\x02" * 100)
    old_xls = write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    texts = problem_texts(rejected(url, "kpis", [binary, old_xls]))
    assert any(str(binary) in t and "binary file" in t for t in texts)
    assert any(str(old_xls) in t and ".xls" in t for t in texts)


def test_over_size_files_are_rejected_before_reading(tmp_path, url):
    path = write(tmp_path, "big.csv", police_csv(*[police_row(f"c{k}") for k in range(50)]))
    (problem,) = rejected(url, "police-uk", [path], max_bytes=1000).problems
    assert problem.file == str(path) and "the limit is" in problem.message


def test_the_same_force_month_twice_is_rejected(tmp_path, url):
    a = write(tmp_path, "a.csv", police_csv(police_row("c1")))
    b = write(tmp_path, "b.csv", police_csv(police_row("c2")))
    texts = problem_texts(rejected(url, "police-uk", [a, b]))
    assert texts == [f"{b}, column 'Month': 2025-01 of Test Police is also in {a}; give each "
                     "force's month once (found '2025-01')"]


def test_missing_path_and_empty_folder(tmp_path, url):
    (tmp_path / "empty").mkdir()
    texts = problem_texts(rejected(url, "police-uk", [tmp_path / "nope.csv", tmp_path / "empty"]))
    assert f"{tmp_path / 'nope.csv'}: no such file or folder" in texts
    assert any(t.startswith(f"{tmp_path / 'empty'}: folder holds no .csv") for t in texts)


# --- counts ---------------------------------------------------------------------------------

COUNTS_HEADER = "lsoa_code,lsoa_name,borough,category,year,month,crime_count,month_str,month_complete"


def test_counts_problems_are_all_listed(tmp_path, url):
    path = write(tmp_path, "counts.csv", "\n".join([
        COUNTS_HEADER,
        "E01000001,A,Test,Burglary,2025,1,3,2025-01,True",
        "E01000001,A,Test,Burglary,2025,1,4,2025-01,True",
        "E01000001,A,Test,Robbery,2025,1,twelve,2025-01,True",
        "E01000001,A,Test,Drugs,2025,1,-2,2025-01,maybe",
        "E01000002,A,Test,Drugs,2025,1,2.5,2025-01,True",
    ]) + "\n")
    texts = problem_texts(rejected(url, "police-uk-counts", [path]))
    assert any(t.startswith(f"{path}, row 3: repeats the count for this LSOA, category and month "
                            "on row 2") for t in texts) is False  # reported only when values parse
    assert f"{path}, row 4, column 'crime_count': is not a number (found 'twelve')" in texts
    assert any(t.startswith(f"{path}, row 5, column 'crime_count': is below") for t in texts)
    assert f"{path}, row 5, column 'month_complete': is not yes or no (write TRUE or FALSE) (found 'maybe')" in texts
    assert f"{path}, row 6, column 'crime_count': is not a whole number (found '2.5')" in texts


def test_counts_duplicate_keys_are_rejected(tmp_path, url):
    path = write(tmp_path, "dup.csv", "\n".join([
        COUNTS_HEADER,
        "E01000001,A,Test,Burglary,2025,1,3,2025-01,True",
        "E01000001,A,Test,Burglary,2025,1,4,2025-01,True",
    ]) + "\n")
    (problem,) = rejected(url, "police-uk-counts", [path]).problems
    assert problem.row == 3 and "repeats the count for this LSOA, category and month on row 2" in problem.message


def test_counts_expand_and_flag_incomplete_months(tmp_path, fresh_url):
    path = write(tmp_path, "ok.csv", "\n".join([
        COUNTS_HEADER,
        "E01000001,A,Test,Burglary,2025,1,3,2025-01,True",
        "E01000001,A,Test,Violence and sexual offences,2025,2,2,2025-02,False",
        "E01000002,A,Test,Anti-social behaviour,2025,2,0,2025-02,False",
    ]) + "\n")
    summary = run_import("police-uk-counts", [path], url=fresh_url, loaded_by="test")
    assert (summary.rows_read, summary.rows_added) == (3, 5)
    again = run_import("police-uk-counts", [path], url=fresh_url, loaded_by="test")
    assert (again.rows_added, again.rows_replaced) == (5, 5)
    engine = eng.reader_engine(fresh_url)
    with engine.connect() as conn:
        months = dict(conn.execute(sa.select(schema.source_months.c.month_start,
                                             schema.source_months.c.is_complete)).all())
    engine.dispose()
    assert months == {dt.date(2025, 1, 1): True, dt.date(2025, 2, 1): False}
    got = incidents(fresh_url)
    assert got["category"].value_counts().to_dict() == {"burglary": 3,
                                                         "violence_and_sexual_offences": 2}


# --- partner extracts -----------------------------------------------------------------------

PARTNER_HEADER = "reference,date,time,category,subcategory,longitude,latitude,location,is_repeat"


def test_partner_problems_are_all_listed(tmp_path, url):
    path = write(tmp_path, "calls.csv", "\n".join([
        PARTNER_HEADER,
        "R1,2025-04-01,17:45,Anti-social behaviour,Neighbour,-1.89,52.48,Broad St,no",
        "R2,31/02/2025,17:45,Anti-social behaviour,Neighbour,,,,no",
        "R3,2025-04-01,25:99,Anti-social behaviour,Youth,,,,no",
        "R1,2025-04-02,18:00,Anti-social behaviour,Neighbour,,,,no",
        "R4,2025-04-03,,Anti-social behaviour,Youth,-1.89,,,perhaps",
        "R5,,,,,,,,",
    ]) + "\n")
    texts = problem_texts(rejected(url, "partner-incidents", [path], source="asb"))
    assert f"{path}, row 3, column 'date': is not a date (write it as YYYY-MM-DD or DD/MM/YYYY) (found '31/02/2025')" in texts
    assert f"{path}, row 4, column 'time': is not a time of day (write it as HH:MM, 24-hour clock) (found '25:99')" in texts
    assert f"{path}, row 6, column 'latitude': is empty but the longitude is given" in texts
    assert f"{path}, row 6, column 'is_repeat': is not yes or no (write TRUE or FALSE) (found 'perhaps')" in texts
    assert f"{path}, row 7, column 'date': is empty" in texts
    assert f"{path}, row 7, column 'category': is empty" in texts


def test_partner_reused_reference_is_a_problem(tmp_path, url):
    path = write(tmp_path, "ref.csv", "\n".join([
        PARTNER_HEADER,
        "R1,2025-04-01,17:45,Anti-social behaviour,Neighbour,,,,no",
        "R1,2025-04-02,18:00,Anti-social behaviour,Neighbour,,,,no",
    ]) + "\n")
    (problem,) = rejected(url, "partner-incidents", [path], source="asb").problems
    assert (problem.row, problem.column, problem.value) == (3, "reference", "R1")
    assert "repeats the reference on row 2 with different values" in problem.message


def test_partner_needs_a_source(tmp_path, url):
    path = write(tmp_path, "nosource.csv", PARTNER_HEADER + "\nR1,2025-04-01,,ASB,,,,,no\n")
    (problem,) = rejected(url, "partner-incidents", [path]).problems
    assert "--source" in problem.message
    (bad_name,) = rejected(url, "partner-incidents", [path], source="police_uk").problems
    assert "not a usable source name" in bad_name.message


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_partner_workbook_with_date_cells_title_rows_and_duplicates(tmp_path, fresh_url):
    data = _workbook({"Calls": [
        ["ASB calls for service, April 2025"],
        [],
        ["Reference", "Date", "Time", "Category", "ASB type", "Easting", "Northing", "Repeat"],
        ["A1", dt.datetime(2025, 4, 1), dt.time(17, 45), "Anti-social behaviour", "Neighbour-related",
         407250, 286420, "Y"],
        ["A2", 45749, 0.75, "Anti-social behaviour", "Youth-related", None, None, "N"],
        ["A2", 45749, 0.75, "Anti-social behaviour", "Youth-related", None, None, "N"],
        ["A3", "02/04/2025 22:10", None, "Anti-social behaviour", "Vehicle nuisance", None, None, None],
    ]})
    path = write(tmp_path, "calls.xlsx", data)
    summary = run_import("partner-incidents", [path], url=fresh_url, loaded_by="test",
                         options={"source": "council_asb"})
    assert (summary.rows_read, summary.rows_added, summary.rows_rejected) == (4, 3, 1)
    got = incidents(fresh_url).set_index("source_ref")
    assert got.loc["A1", "hour"] == 17 and got.loc["A2", "hour"] == 18 and got.loc["A3", "hour"] == 22
    assert str(got.loc["A2", "incident_date"])[:10] == "2025-04-02"
    assert got.loc["A1", "subcategory"] == "neighbour" and got.loc["A3", "subcategory"] == "vehicle_nuisance"
    assert abs(got.loc["A1", "longitude"] + 1.8937) < 0.01 and bool(got.loc["A1", "is_repeat"])
    # The same extract again replaces itself.
    again = run_import("partner-incidents", [path], url=fresh_url, loaded_by="test",
                       options={"source": "council_asb"})
    assert (again.rows_added, again.rows_replaced) == (3, 3)
    assert len(incidents(fresh_url)) == 3


# --- areas ----------------------------------------------------------------------------------

def test_lookup_problems_are_all_listed(tmp_path, url):
    path = write(tmp_path, "lookup.csv", (
        "lsoa_code,ward_code,lcsp,population\n"
        "E01000001,E05000001,North,1500\n"
        "E01000002,E05000001,South,many\n"
        "E01000001,E05000003,North,1200\n"
        ",E05000003,North,1000\n"))
    texts = problem_texts(rejected(url, "areas", [path]))
    assert f"{path}, row 3, column 'population': is not a number (found 'many')" in texts
    assert any(t.startswith(f"{path}, row 4: repeats the LSOA on row 2") for t in texts)
    assert f"{path}, row 5, column 'lsoa_code': is empty" in texts
    assert any("ward E05000001 is put in more than one LCSP (North, South; rows 2, 3)" in t
               for t in texts)


def test_boundary_problems(tmp_path, url):
    bad_json = write(tmp_path, "broken.geojson", '{"type": "FeatureCollection", "features": [')
    square = {"type": "Polygon", "coordinates": [[[-1.9, 52.4], [-1.8, 52.4], [-1.8, 52.5],
                                                  [-1.9, 52.4]]]}
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"WD24CD": "E05000001", "WD24NM": "One"}, "geometry": square},
        {"type": "Feature", "properties": {"WD24CD": "", "WD24NM": "No code"}, "geometry": square},
        {"type": "Feature", "properties": {"WD24CD": "E05000009", "WD24NM": "Point"},
         "geometry": {"type": "Point", "coordinates": [-1.9, 52.4]}},
    ]}
    wards = write(tmp_path, "wards.geojson", json.dumps(doc))
    texts = problem_texts(rejected(url, "boundaries", [bad_json, wards]))
    assert any(t.startswith(f"{bad_json}, row 1: is not valid JSON") for t in texts)
    assert f"{wards}, row 2, column 'WD24CD': feature has no area code" in texts
    assert any(t.startswith(f"{wards}, row 3, column 'geometry': is not a polygon") for t in texts)


def test_boundaries_of_the_wrong_level_are_refused(tmp_path, url):
    square = {"type": "Polygon", "coordinates": [[[-1.9, 52.4], [-1.8, 52.4], [-1.8, 52.5],
                                                  [-1.9, 52.4]]]}
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "E05000001"}, "geometry": square}]}
    path = write(tmp_path, "lsoas.geojson", json.dumps(doc))
    (problem,) = rejected(url, "boundaries", [path], level="lsoa").problems
    assert "already held as a ward, not a lsoa" in problem.message


# --- KPI returns, actions, events -----------------------------------------------------------

def test_kpi_return_problems_are_all_listed(tmp_path, url):
    path = write(tmp_path, "kpis.csv", (
        "kpi_id,area_code,period,value,target\n"
        "ct_requests,North,2025-05,4,\n"
        "no_such_kpi,North,2025-05,4,\n"
        "ct_requests,Atlantis,2025-05,4,\n"
        "ct_requests,North,2025/27 Q1,4,\n"
        "ct_requests,South,2025-05,four,\n"
        "ct_requests,South,2025-06,,5\n"))
    texts = problem_texts(rejected(url, "kpis", [path]))
    assert f"{path}, row 5, column 'period': is not a financial year like 2025/26 (found '2025/27 Q1')" in texts
    assert f"{path}, row 6, column 'value': is not a number (found 'four')" in texts
    assert f"{path}, row 7, column 'value': has no value (give value, or numerator and denominator)" in texts
    # Database checks come after the file checks pass:
    path2 = write(tmp_path, "kpis2.csv", (
        "kpi_id,area_code,period,value\nno_such_kpi,North,2025-05,4\nct_requests,Atlantis,2025-05,4\n"))
    texts = problem_texts(rejected(url, "kpis", [path2]))
    assert (f"{path2}, row 2, column 'kpi_id': is not a KPI the database or kpis/registry.yaml "
            "declares (found 'no_such_kpi')") in texts
    assert any(t.startswith(f"{path2}, row 3, column 'area_code': is not an area code or name")
               for t in texts)


def test_kpi_values_replace_and_compute_percentages(tmp_path, fresh_url, url):
    path = write(tmp_path, "kpis.csv", (
        "kpi_id,area_code,period,numerator,denominator,is_provisional\n"
        "ct_first_response_24h,North,2025/26 Q2,45,50,yes\n"))
    first = run_import("kpis", [path], url=url, loaded_by="test")
    again = run_import("kpis", [path], url=url, loaded_by="test")
    assert (first.rows_added, again.rows_added, again.rows_replaced) == (1, 0, 1)
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.kpi_values).where(
            schema.kpi_values.c.kpi_id == "ct_first_response_24h")).one()
    engine.dispose()
    assert (row.value, row.period_grain, str(row.period_start)[:10], row.is_provisional) == (
        90.0, "quarter", "2025-07-01", True)


def test_actions_sheet_with_rag_statuses(tmp_path, url):
    data = _workbook({
        "Read me": [["Fill in one row per output"]],
        "Actions": [["Code", "Title", "Board", "Owner", "LCSP", "Due date", "RAG"],
                    ["CC3(e)", "ASB seasonality calendar", "Safer Neighbourhoods", "CSP team",
                     None, dt.datetime(2026, 3, 31), "Amber"],
                    ["CC3(f)", "Interventions in peak periods", "safer_neighbourhoods", "LCSP chair",
                     "North", dt.datetime(2026, 6, 30), "Green"]],
    })
    path = write(tmp_path, "actions.xlsx", data)
    first = run_import("kpis", [path], url=url, loaded_by="test")
    again = run_import("kpis", [path], url=url, loaded_by="test")
    assert (first.rows_added, again.rows_added, again.rows_replaced) == (2, 0, 2)
    assert any("Read me" in w for w in first.warnings)
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.actions.c.code, schema.actions.c.board,
                                      schema.actions.c.status, schema.actions.c.lcsp_code)
                            .order_by(schema.actions.c.code)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("CC3(e)", "safer_neighbourhoods", "at_risk", None),
                                        ("CC3(f)", "safer_neighbourhoods", "on_track", "LCSP-NORTH")]
    bad = write(tmp_path, "bad_actions.csv", "code,title,board,status\nX1,Do it,safer_neighbourhoods,purple\n")
    (problem,) = rejected(url, "kpis", [bad]).problems
    assert (problem.row, problem.column, problem.value) == (2, "status", "purple")


def test_event_problems(tmp_path, url):
    path = write(tmp_path, "events.csv", (
        "name,kind,start_date,end_date\n"
        "Carnival,local event,2025-08-10,2025-08-09\n"
        "Fair,festival,2025-08-10,\n"))
    texts = problem_texts(rejected(url, "events", [path]))
    assert f"{path}, row 2, column 'end_date': is before the start date (found '2025-08-09')" in texts
    assert (f"{path}, row 3, column 'kind': is not school holiday, bank holiday, local event or "
            "operation (found 'festival')") in texts


# --- the command line -----------------------------------------------------------------------

def test_command_line_exit_status_and_messages(tmp_path, url, capsys):
    bad = write(tmp_path, "bad.csv", police_csv(police_row(lon="abc")))
    assert main(["police-uk", str(bad), "--database-url", url, "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert f"{bad}, row 2, column 'Longitude': is not a number (found 'abc')" in err
    assert "rows rejected:          1" in out
    good = write(tmp_path, "2025-03-test-street.csv", police_csv(police_row(month="2025-03")))
    assert main(["police-uk", str(good), "--database-url", url, "--quiet", "--by", "tester"]) == 0
    out, _ = capsys.readouterr()
    assert "rows added:             1" in out
    engine = eng.reader_engine(url)
    with engine.connect() as conn:
        who = conn.execute(sa.select(schema.imports.c.loaded_by, schema.imports.c.notes)
                           .order_by(schema.imports.c.import_id.desc()).limit(1)).one()
    engine.dispose()
    assert tuple(who) == ("tester", "force: Test Police")
    assert main(["partner-incidents", "--template"]) == 0
    assert capsys.readouterr().out.startswith("reference,date,time,category")


def test_dry_run_writes_nothing(tmp_path, url):
    good = write(tmp_path, "2025-04-test-street.csv", police_csv(police_row(month="2025-04")))
    before = checksum(url)
    summary = run_import("police-uk", [good], url=url, loaded_by="test", dry_run=True)
    assert summary.rows_added == 1 and "dry run" in summary.details[-1]
    assert checksum(url) == before
