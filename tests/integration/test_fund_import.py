"""Importing the finance team's spend and allocation spreadsheets (CSV and XLSX).

Runs on a DuckDB file and on PostgreSQL (a throwaway database from the ``pg_url`` fixture,
skipped with the reason when no server answers). The database starts with the sample 2017/18
fund rows, written by the same bulk loader the app uses.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from data_access import loading, schema
from data_access.fund_import import (FundImportError, ImportProblem, import_fund_file,
                                     read_fund_file, template_bytes)
from sample_data.fund import fund_frames

FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")
MEDIATION = 2017040  # "Mediation", GBP 17k new allocation in 2017/18
MENTORING = 2017013  # "Specialist Intensive Mentoring", GBP 60k
STREET_PASTORS = 2017052  # a rejected bid


@pytest.fixture(scope="module")
def frames():
    return fund_frames(7, [2017])


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path, frames):
    url = (f"duckdb:///{tmp_path / 'fund.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_url"))
    eng = sa.create_engine(url)
    schema.metadata.create_all(eng)
    with eng.begin() as conn:
        for name in FUND_TABLES:
            loading.bulk_insert(conn, schema.metadata.tables[name], frames[name])
    yield eng
    eng.dispose()


def _csv(path, header, rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(data)
    return data


def _xlsx(path, header, rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Spend"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path.read_bytes()


def _snapshot(engine) -> dict:
    """The fund tables' rows (import_id aside: it records which load last wrote a row)."""
    out = {}
    with engine.connect() as conn:
        for name in ("fund_allocations", "fund_spend"):
            table = schema.metadata.tables[name]
            columns = [c for c in table.c if c.name != "import_id"]
            out[name] = sorted(tuple(r) for r in conn.execute(sa.select(*columns)))
    return out


def _load(engine, name, data, kind=None):
    with engine.begin() as conn:
        return import_fund_file(conn, name, data, kind, loaded_by="test",
                                loaded_at=dt.datetime(2026, 11, 21, 9, 0))


def _spend(engine, project_id, month):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(schema.fund_spend.c.amount, schema.fund_spend.c.profile_amount)
            .where(schema.fund_spend.c.project_id == project_id,
                   schema.fund_spend.c.month_start == month)).one()


def _problems(excinfo) -> list[ImportProblem]:
    return excinfo.value.problems


SPEND_HEADER = ["financial_year", "project_id", "project", "month", "amount", "profile_amount"]
GOOD_SPEND = [
    ["2017/18", MEDIATION, "Mediation", "2017-04", "£1,234.50", "1,416.67"],
    ["2017/18", "", "mediation ", "May 2017", "(1,234)", ""],
    ["2017/18", MENTORING, "", "01/06/2017", "5000", "5000"],
    ["2017/18", MENTORING, "", "2018-03", "", "4,000"],  # future month: profile only
]


# --- good files ---------------------------------------------------------------------------------

def test_good_spend_csv_loads_with_money_formats(engine, tmp_path):
    result = _load(engine, "spend.csv", _csv(tmp_path / "spend.csv", SPEND_HEADER, GOOD_SPEND))
    assert (result.kind, result.rows_read, result.rows_added + result.rows_replaced) == ("spend", 4, 4)
    assert result.rows_replaced == 4  # the sample already holds every month of these projects
    assert _spend(engine, MEDIATION, dt.date(2017, 4, 1)) == (Decimal("1234.50"), Decimal("1416.67"))
    assert _spend(engine, MEDIATION, dt.date(2017, 5, 1))[0] == Decimal("-1234.00")
    assert _spend(engine, MEDIATION, dt.date(2017, 5, 1))[1] is None
    assert _spend(engine, MENTORING, dt.date(2018, 3, 1)) == (Decimal("0.00"), Decimal("4000.00"))
    with engine.connect() as conn:
        log = conn.execute(sa.select(schema.imports)).mappings().one()
        stamped = conn.execute(sa.select(sa.func.count()).where(
            schema.fund_spend.c.import_id == result.import_id)).scalar()
    assert log["kind"] == "fund_spend" and log["rows_replaced"] == 4 and log["loaded_by"] == "test"
    assert (log["period_from"], log["period_to"]) == (dt.date(2017, 4, 1), dt.date(2018, 3, 1))
    assert stamped == 4


def test_good_spend_xlsx_loads_with_numbers_and_dates(engine, tmp_path):
    rows = [
        ["2017/18", MEDIATION, "Mediation", dt.datetime(2017, 4, 1), 1234.5, 1416.67],
        ["2017/18", MEDIATION, None, "Jul 2017", "(1,234)", None],
        [None, None, None, None, None, None],  # blank rows are skipped
        ["2017/18", MENTORING, None, dt.date(2017, 8, 15), -50, 5000],
    ]
    data = _xlsx(tmp_path / "spend.xlsx", SPEND_HEADER, rows)
    result = _load(engine, "spend.xlsx", data)
    assert result.rows_read == 3
    assert _spend(engine, MEDIATION, dt.date(2017, 4, 1)) == (Decimal("1234.50"), Decimal("1416.67"))
    assert _spend(engine, MEDIATION, dt.date(2017, 7, 1))[0] == Decimal("-1234.00")
    assert _spend(engine, MENTORING, dt.date(2017, 8, 1))[0] == Decimal("-50.00")


def test_allocations_csv_replaces_by_project_and_funding(engine, tmp_path):
    header = ["Financial Year", "Project ID", "Funding", "Amount (£)"]
    rows = [["2017/18", MEDIATION, "new", "£24,000"], ["2017/18", MEDIATION, "Carry forward", "500"]]
    result = _load(engine, "alloc.csv", _csv(tmp_path / "alloc.csv", header, rows))
    assert (result.kind, result.rows_added, result.rows_replaced) == ("allocations", 1, 1)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(schema.fund_allocations.c.funding,
                                          schema.fund_allocations.c.amount)
                                .where(schema.fund_allocations.c.project_id == MEDIATION)).all())
    assert got == {"new": Decimal("24000.00"), "carry_forward": Decimal("500.00")}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_same_file_twice_gives_the_same_database(engine, tmp_path, fmt):
    write = _csv if fmt == "csv" else _xlsx
    data = write(tmp_path / f"spend.{fmt}", SPEND_HEADER, GOOD_SPEND)
    first = _load(engine, f"spend.{fmt}", data)
    once = _snapshot(engine)
    second = _load(engine, f"spend.{fmt}", data)
    assert _snapshot(engine) == once
    assert second.rows_added == 0 and second.rows_replaced == first.rows_added + first.rows_replaced
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.imports)).scalar() == 2


@pytest.mark.parametrize(("kind", "fmt"), [("spend", "csv"), ("spend", "xlsx"),
                                           ("allocations", "csv"), ("allocations", "xlsx")])
def test_downloadable_templates_import_cleanly(engine, kind, fmt):
    data = template_bytes(kind, fmt)
    header = read_fund_file(f"template.{fmt}", data).header
    assert header[:2] == ["financial_year", "project_id"]
    result = _load(engine, f"template.{fmt}", data)
    assert result.kind == kind and result.rows_read == 2


# --- bad files: nothing is written, every problem is reported -----------------------------------

def test_missing_columns(engine, tmp_path):
    before = _snapshot(engine)
    data = _csv(tmp_path / "bad.csv", ["project", "month", "spend_typo"], [["Mediation", "2017-04", "5"]])
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "bad.csv", data, "spend")
    problems = _problems(excinfo)
    assert {(p.row, p.column, p.problem) for p in problems} == {
        (1, "financial_year", "required column is missing"),
        (1, "amount", "required column is missing"),
    }
    assert _snapshot(engine) == before


def test_text_in_money_fields_and_every_problem_listed(engine, tmp_path):
    before = _snapshot(engine)
    rows = [
        ["2017/18", MEDIATION, "", "2017-04", "twelve pounds", "100"],
        ["2017/18", MEDIATION, "", "2017-05", "100", "abc"],
        ["2017/18", MEDIATION, "", "2017-06", "=1+1", ""],
        ["2017/18", MEDIATION, "", "2017-07", "12.345", ""],
        ["2017/18", MEDIATION, "", "2017-08", "(1,234)", ""],  # fine on its own
        ["2017/18", MEDIATION, "", "2017-09", "", ""],
        ["2017/18", MEDIATION, "", "2017-10", "5", "-5"],
    ]
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "bad.csv", _csv(tmp_path / "bad.csv", SPEND_HEADER, rows))
    got = {(p.row, p.column) for p in _problems(excinfo)}
    assert got == {(2, "amount"), (3, "profile_amount"), (4, "amount"), (5, "amount"),
                   (7, "amount"), (8, "profile_amount")}
    text = {p.row: p.problem for p in _problems(excinfo)}
    assert "not an amount of money" in text[2] and "'twelve pounds'" in text[2]
    assert "two decimal places" in text[5]
    assert text[7] == "is empty"
    assert str(_problems(excinfo)[0]) == "bad.csv, row 2, column amount: " + text[2]
    assert _snapshot(engine) == before  # the good row 6 was not written either


def test_duplicate_rows(engine, tmp_path):
    rows = [
        ["2017/18", MEDIATION, "", "2017-04", "1", ""],
        ["2017/18", "", "Mediation", "April 2017", "2", ""],  # same project and month by name
        ["2017/18", MEDIATION, "", "2017-05", "1", ""],
        ["2017/18", MEDIATION, "", "2017-05", "1", ""],
    ]
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "dup.csv", _csv(tmp_path / "dup.csv", SPEND_HEADER, rows))
    problems = _problems(excinfo)
    assert [(p.row, p.problem) for p in problems] == [
        (3, "duplicate row: same project and month as row 2"),
        (5, "duplicate row: same project and month as row 4"),
    ]


def test_unknown_project_and_other_row_problems(engine, tmp_path):
    before = _snapshot(engine)
    rows = [
        ["2017/18", "", "No Such Project", "2017-04", "1", ""],
        ["2017/18", 9999999, "", "2017-04", "1", ""],
        ["2018/19", MEDIATION, "", "2018-04", "1", ""],  # project belongs to another year
        ["2017/18", MEDIATION, "Website", "2017-04", "1", ""],  # id and name disagree
        ["2017/18", STREET_PASTORS, "", "2017-04", "1", ""],  # rejected bid
        ["2017/18", MEDIATION, "", "2018-04", "1", ""],  # month outside the year
        ["17/18", MEDIATION, "", "2017-04", "1", ""],
        ["2017/18", "", "", "2017-04", "1", ""],
        ["2017/18", MEDIATION, "", "someday", "1", ""],
    ]
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "bad.csv", _csv(tmp_path / "bad.csv", SPEND_HEADER, rows))
    by_row = {p.row: (p.column, p.problem) for p in _problems(excinfo)}
    assert by_row[2] == ("project", "unknown project 'No Such Project' in 2017/18")
    assert by_row[3] == ("project_id", "unknown project 9999999 in 2017/18")
    assert by_row[4] == ("project_id", f"project {MEDIATION} belongs to 2017/18, not 2018/19")
    assert by_row[5][0] == "project" and "'Mediation'" in by_row[5][1]
    assert by_row[6] == ("project_id", f"project {STREET_PASTORS} is not approved (decision: rejected)")
    assert by_row[7] == ("month", "Apr 2018 is not in 2017/18")
    assert by_row[8][0] == "financial_year"
    assert by_row[9] == ("project_id", "give a project_id or a project name")
    assert by_row[10][0] == "month"
    assert _snapshot(engine) == before


def test_bad_allocations(engine, tmp_path):
    header = ["financial_year", "project", "funding", "amount"]
    rows = [["2017/18", "Mediation", "grant-ish", "100"], ["2017/18", "Website", "new", "(1,234)"],
            ["2017/18", "Website", "new", "£12,000"], ["2017/18", "website", "NEW", "12000"]]
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "alloc.csv", _csv(tmp_path / "alloc.csv", header, rows))
    assert [(p.row, p.column) for p in _problems(excinfo)] == [(2, "funding"), (3, "amount"), (5, None)]


def test_failure_inside_the_callers_transaction_leaves_nothing(engine, tmp_path):
    good = _csv(tmp_path / "good.csv", SPEND_HEADER, GOOD_SPEND)
    bad = _csv(tmp_path / "bad.csv", SPEND_HEADER, [["2017/18", MEDIATION, "", "2017-04", "x", ""]])
    before = _snapshot(engine)
    with pytest.raises(FundImportError):
        with engine.begin() as conn:  # one transaction for both: the second file fails
            import_fund_file(conn, "good.csv", good)
            import_fund_file(conn, "bad.csv", bad)
    assert _snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.imports)).scalar() == 0


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("spend.xlsx", b"PK\x03\x04 not really a workbook", "is not a readable .xlsx workbook"),
    ("spend.xls", b"\xd0\xcf\x11\xe0", "only .csv and .xlsx"),
    ("spend.csv", b"", "the file is empty"),
    ("spend.csv", b"financial_year,project,month,amount\n", "the file has a header but no rows"),
    ("spend.csv", b"a,b\n1,2\n", "cannot tell spend from allocations"),
])
def test_unreadable_files(engine, name, data, expected):
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, name, data)
    assert expected in _problems(excinfo)[0].problem


def test_windows_excel_csv_with_pound_sign(engine):
    data = ("financial_year,project_id,month,amount\r\n"
            f"2017/18,{MEDIATION},2017-04,£1,234.50\r\n").encode("cp1252")
    # an unquoted "£1,234.50" splits into two cells: reported, not mis-read as 1 pound
    with pytest.raises(FundImportError) as excinfo:
        _load(engine, "excel.csv", data)
    assert any("more cells" in p.problem for p in _problems(excinfo))
    data = ("financial_year,project_id,month,amount\r\n"
            f'2017/18,{MEDIATION},2017-04,"£1,234.50"\r\n').encode("cp1252")
    _load(engine, "excel.csv", data)
    assert _spend(engine, MEDIATION, dt.date(2017, 4, 1))[0] == Decimal("1234.50")
