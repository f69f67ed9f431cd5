"""The Load data page and what the data status page and other pages say after imports.

Every test that writes works on its own copy of the session's sample database (the shared one
is only ever read). A small police.uk-shaped CSV written here is checked (nothing changes),
imported (summary shown, data status updated), and a bad file gets every problem listed with
nothing changed. An incomplete month and a change of LSOA codes (a series break) show on the
data status page, and as warnings on the pages whose period they fall in.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import engine as eng
from data_access import schema
from data_access.load import run_import
from pages.common.data_warnings import find_series_breaks
from tests.app.markdown_text import as_shown
from tests.app.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/admin.py"
STREET_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
                 "LSOA name,Crime type,Last outcome category,Context")
FORCE = "West Midlands Police"


def street_csv(month: str, lsoas: list[str], per_lsoa: int = 5,
               extra: tuple[str, ...] = ()) -> bytes:
    """A police.uk street-level file: ``per_lsoa`` burglaries (every 3rd an ASB row with no
    Crime ID) in each LSOA, plus ``extra`` raw lines."""
    lines = [STREET_HEADER]
    for n, lsoa in enumerate(lsoas):
        for k in range(per_lsoa):
            asb = k % 3 == 2
            crime_id = "" if asb else f"{month}-{n:03d}-{k:02d}"
            kind = "Anti-social behaviour" if asb else "Burglary"
            outcome = "" if asb else "Under investigation"
            lines.append(f"{crime_id},{month},{FORCE},{FORCE},-1.8904,52.4862,On or near Broad "
                         f"Street,{lsoa},Birmingham {lsoa},{kind},{outcome},")
    lines += extra
    return ("\n".join(lines) + "\n").encode()


def counts_csv(month: str, lsoas: list[str], complete: bool) -> bytes:
    """A police.uk counts file for one month."""
    flag = "TRUE" if complete else "FALSE"
    rows = ["lsoa_code,lsoa_name,borough,category,crime_count,month_str,month_complete"]
    rows += [f"{lsoa},Birmingham {lsoa},Birmingham,Burglary,7,{month},{flag}" for lsoa in lsoas]
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture
def scratch_db(sample_db_url, tmp_path, monkeypatch) -> str:
    """A throwaway copy of the sample database, which the app then reads and writes."""
    target = tmp_path / "scratch.duckdb"
    shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), target)
    url = f"duckdb:///{target}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def read(url: str, statement) -> list:
    engine = eng.make_engine(url, read_only=True, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def police_uk_rows(url: str) -> int:
    i = schema.incidents
    statement = sa.select(sa.func.count()).select_from(i).where(i.c.source == "police_uk")
    return read(url, statement)[0][0]


ADMIN = "admin@example.gov.uk"


def open_page(path: str = PAGE, **params: str) -> AppTest:
    # Signed in: once real data is imported the local demo mode (no sign-in) switches off.
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), ADMIN, "admin")
    at.run()
    at.switch_page(path).run()
    for key, value in params.items():
        at.query_params[key] = value
    if params:
        at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader[0].set_value([(name, data, "text/csv") for name, data in files]).run()
    assert_clean(at)
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def source_row(at: AppTest, label: str) -> pd.Series:
    sources = at.dataframe[0].value
    assert label in set(sources["Source"]), sources
    return sources.set_index("Source").loc[label]


# --- the Load data page ----------------------------------------------------------------------

def test_a_good_file_is_checked_then_imported_and_the_data_status_shows_it(scratch_db):
    at = open_page()
    assert "Administration" in [t.value for t in at.title]
    assert any(f"Loaded by **{ADMIN}**" in as_shown(c.value) for c in at.caption)
    assert at.button(key="admin_check").disabled  # nothing uploaded yet
    lsoas = [f"SL{n:04d}" for n in range(1, 11)]
    good = street_csv("2026-09", lsoas)
    generation = eng.database_generation(scratch_db)

    upload(at, ("2026-09-west-midlands-street.csv", good))
    at.button(key="admin_check").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert any("passed every check" in s.value and "Nothing has been changed" in s.value
               for s in at.success)
    assert metrics(at) == {"Rows read": "50", "Rows added": "50", "Rows replaced": "0",
                           "Rows rejected": "0"}
    assert eng.database_generation(scratch_db) == generation  # a check writes nothing
    assert police_uk_rows(scratch_db) == 0

    at.button(key="admin_import").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert any("Imported 2026-09-west-midlands-street.csv" in as_shown(s.value)
               for s in at.success)
    assert metrics(at) == {"Rows read": "50", "Rows added": "50", "Rows replaced": "0",
                           "Rows rejected": "0"}
    assert any("West Midlands Police 2026-09: 50 rows" in as_shown(m.value) for m in at.markdown)
    assert police_uk_rows(scratch_db) == 50
    im = schema.imports
    logged = read(scratch_db, sa.select(im.c.loaded_by, im.c.file_name, im.c.rows_added)
                  .where(im.c.kind == "police-uk"))
    assert logged == [(ADMIN, "2026-09-west-midlands-street.csv", 50)]
    assert not at.file_uploader[0].value  # the uploader starts again empty

    at.switch_page("pages/data_status.py").run()
    assert_clean(at)
    row = source_row(at, "police.uk street-level crime")
    assert row["Last month"] == "Sep 2026" and row["Incidents"] == 50
    assert row["Last import"].endswith(f"by {ADMIN}")
    assert at.dataframe[1].value["Who"].iloc[0] == ADMIN

    # The same month again replaces it: importing twice changes nothing.
    at.switch_page(PAGE).run()
    upload(at, ("2026-09-west-midlands-street.csv", good))
    at.button(key="admin_import").click().run()
    assert metrics(at)["Rows replaced"] == "50" and metrics(at)["Rows added"] == "50"
    assert police_uk_rows(scratch_db) == 50


def test_a_bad_file_lists_every_problem_and_changes_nothing(scratch_db):
    at = open_page()
    bad = street_csv("2026-08", ["SL0001"], per_lsoa=2, extra=(
        f",2026-13,{FORCE},{FORCE},-1.89,52.48,On or near X,SL0002,B,Burglary,,",
        f",2026-08,{FORCE},{FORCE},east,152.48,On or near X,SL0002,B,,,",
    ))
    missing = b"Crime ID,Month,Longitude,Latitude\n1,2026-08,-1.8,52.4\n"
    generation = eng.database_generation(scratch_db)
    imports_before = read(scratch_db, sa.select(sa.func.count()).select_from(schema.imports))

    upload(at, ("bad.csv", bad), ("short.csv", missing))
    for button in ("admin_check", "admin_import"):
        at.button(key=button).click().run()
        assert_clean(at)
        message = " ".join(e.value for e in at.error)
        assert "Nothing was imported and nothing was changed" in message
        problems = at.dataframe[0].value
        assert list(problems.columns) == ["File", "Row", "Column", "Problem", "Found"]
        found = {(r.File, None if pd.isna(r.Row) else int(r.Row), r.Column, r.Problem)
                 for r in problems.itertuples()}
        # Every problem, not the first: three in row 4 of bad.csv, one in row 5... (rows as a
        # spreadsheet numbers them: the header is row 1)
        assert ("bad.csv", 4, "Month", "is not a month (write it as YYYY-MM)") in found
        assert ("bad.csv", 5, "Longitude", "is not a number") in found
        assert ("bad.csv", 5, "Latitude", "is above the largest allowed value, 61.5") in found
        assert ("bad.csv", 5, "Crime type", "is empty") in found
        assert any(f == "short.csv" and c == "Reported by" and p.startswith("missing column")
                   for f, _, c, p in found)
        assert len(problems) >= 9  # and the other missing columns of short.csv
        assert any(b.label == "Download the problems (CSV)" for b in at.get("download_button"))
    assert eng.database_generation(scratch_db) == generation
    assert read(scratch_db, sa.select(sa.func.count()).select_from(schema.imports)) \
        == imports_before
    assert police_uk_rows(scratch_db) == 0


def test_kinds_with_a_template_offer_it(scratch_db):
    at = open_page()
    assert not any("template" in b.label for b in at.get("download_button"))  # police.uk
    at.selectbox(key="admin_kind").set_value("partner-incidents").run()
    assert_clean(at)
    assert any(b.label == "Download a template (CSV)" for b in at.get("download_button"))
    assert at.selectbox(key="admin_partner_source").value == "asb"
    assert at.file_uploader[0].proto.type == [".csv", ".xlsx", ".zip"]


def test_an_unexpected_failure_shows_a_reference_not_a_traceback(scratch_db, monkeypatch):
    from data_access import load

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(load, "run_import", broken)
    at = open_page()
    upload(at, ("2026-09-street.csv", street_csv("2026-09", ["SL0001"])))
    at.button(key="admin_import").click().run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "internal error" in message and "reference" in message
    assert "secret" not in message and "fire" not in message


# --- the data status page and warnings elsewhere -------------------------------------------

def _load_changing_lsoas(url: str) -> None:
    """Street files for Dec 2025 - Mar 2026 whose LSOA codes change in Feb 2026 (six codes stop,
    six others start: a change of LSOA boundaries), and counts for Apr 2026 published short."""
    before = [f"SL{n:04d}" for n in range(1, 7)]
    after = [f"E0103{n:04d}" for n in range(1, 7)]
    files = [(f"{m}-west-midlands-street.csv", street_csv(m, codes, per_lsoa=12))
             for m, codes in (("2025-12", before), ("2026-01", before), ("2026-02", after),
                              ("2026-03", after))]
    run_import("police-uk", files, url=url, loaded_by="analyst")
    run_import("police-uk-counts", [("counts.csv", counts_csv("2026-04", after, False))],
               url=url, loaded_by="analyst")


def test_the_data_status_page_shows_an_incomplete_month_and_a_series_break(scratch_db):
    _load_changing_lsoas(scratch_db)
    at = open_page("pages/data_status.py")
    assert not at.error, [e.value for e in at.error]
    row = source_row(at, "police.uk street-level crime")
    assert row["Flagged incomplete"] == "Apr 2026"
    assert row["Series breaks"] == "Feb 2026"
    assert row["Last month"] == "Apr 2026" and row["Gaps"] == "none"
    assert row["Last import"].endswith("by analyst")
    for other in ("Recorded crime (police)", "ASB incidents (police)"):
        assert source_row(at, other)["Series breaks"] == "none"
    warning = as_shown(" ".join(w.value for w in at.warning))
    assert "Apr 2026 was published incomplete at the source" in warning
    assert "6 LSOA codes in use up to Jan 2026 stop and 6 new codes start in Feb 2026" in warning
    assert "650 from synthetic sample geometry" in warning  # the LSOAs loaded


def test_pages_warn_about_problems_in_their_period(scratch_db):
    _load_changing_lsoas(scratch_db)
    at = open_page("pages/explorer.py", **{"from": "2025-11", "to": "2026-04",
                                           "ex_sources": "police_uk", "ex_level": "lsoa"})
    warning = as_shown(" ".join(w.value for w in at.warning))
    assert "Apr 2026 was published incomplete at the source" in warning
    assert "loaded only for Dec 2025 to Apr 2026" in warning  # Nov 2025 has none
    assert "LSOA codes in use up to Jan 2026 stop" in warning  # LSOAs are on screen
    # A period before the problems: no warning.
    at = open_page("pages/explorer.py", fy="2024/25", ex_sources="recorded_crime")
    assert not at.warning, [w.value for w in at.warning]

    # The Overview (recorded crime and ASB) warns about an incomplete month of its own sources.
    with eng.write_transaction(scratch_db) as conn:
        conn.execute(schema.source_months.insert().values(
            source="asb", month_start=dt.date(2025, 6, 1), is_complete=False))
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), ADMIN, "admin")
    at.query_params["fy"] = "2025/26"
    at.run()
    assert_clean(at)
    warning = as_shown(" ".join(w.value for w in at.warning))
    assert "ASB incidents (police)" in warning and "Jun 2025 was published incomplete" in warning
    at.query_params["fy"] = "2024/25"
    at.run()
    assert not any("published incomplete" in w.value for w in at.warning)


# --- series breaks: the detection itself -----------------------------------------------------

def _spans(counts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(spans, source months) as the queries give them, from source/lsoa/month/n rows."""
    seen = counts[counts["n"] > 0]
    spans = (seen.groupby(["source", "lsoa_code"])
             .agg(first_month=("month_start", "min"), last_month=("month_start", "max"),
                  n=("n", "sum")).reset_index())
    months = seen.groupby(["source", "month_start"])["n"].sum().reset_index()
    return spans, months


def test_a_change_of_lsoa_codes_is_a_series_break_and_chance_is_not():
    months = pd.date_range("2022-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(7)
    rows = []
    for m, month in enumerate(months):
        for code in range(200):  # steady codes in use throughout
            rows.append(("police_uk", f"A{code:03d}", month, rng.poisson(15)))
        for code in range(12):  # 12 codes replaced by 14 in Jul 2023 (a boundary change)
            name = f"OLD{code:02d}" if month < pd.Timestamp("2023-07-01") else None
            if name:
                rows.append(("police_uk", name, month, rng.poisson(15)))
        if month >= pd.Timestamp("2023-07-01"):
            rows += [("police_uk", f"NEW{code:02d}", month, rng.poisson(13)) for code in range(14)]
        # A sparse source: a case or two a year in each of 600 LSOAs.
        rows += [("council_asb", f"S{code:03d}", month, rng.poisson(0.15)) for code in range(600)]
    counts = pd.DataFrame(rows, columns=["source", "lsoa_code", "month_start", "n"])
    breaks = find_series_breaks(*_spans(counts))
    assert breaks.to_dict("records") == [{"source": "police_uk",
                                          "month_start": pd.Timestamp("2023-07-01"),
                                          "ended": 12, "started": 14}]

    # New coverage alone (codes start, none stop) is not a break.
    grown = counts[~counts["lsoa_code"].str.startswith("OLD")]
    assert find_series_breaks(*_spans(grown)).empty
