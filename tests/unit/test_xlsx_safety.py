"""Reading .xlsx uploads is protected against XML attacks: openpyxl parses with defusedxml, and
every importer that reads a workbook refuses a "billion laughs" bomb or an external entity
quickly, with a message naming the file, without expanding anything. The partnership importers
also refuse a workbook packed like a zip bomb, and a workbook whose XML is damaged past its
first rows is a problem in the file, not an internal error."""

from __future__ import annotations

import contextlib
import socket
import time
import tracemalloc
import xml.etree.ElementTree as ElementTree

import openpyxl
import pytest

from data_access import fund_import
from data_access.importers import common, records
from data_access.importers.common import ImportRejected
from tests.xlsx_bombs import (billion_laughs, damaged_sheet, external_entity, workbook,
                               zip_bomb)

EVENTS = [["name", "kind", "start_date"], ["Carnival", "local event", "2025-08-25"],
          ["Bonfire night", "local event", "2025-11-05"]]
ACTIONS = [["code", "title", "board", "status"],
           ["CC3(e)", "Seasonality calendar", "asb", "on track"]]
SPEND = [["financial_year", "project_id", "month", "amount"], ["2025/26", "1", "2025-04", "100"]]
LIMIT_SECONDS = 5
LIMIT_BYTES = 50 * 1024 * 1024  # Python allocations while reading; the bomb is ~3 GB expanded
SECRET_FILE = "/etc/hostname"


def hostile(rows, kind: str) -> bytes:
    """A workbook of ``rows`` made hostile: ``kind`` says where the DTD goes."""
    base = workbook(rows)
    if kind == "external_entity":
        return external_entity(base, rows[1][0], SECRET_FILE)
    return billion_laughs(base, kind, rows[1][0])


@contextlib.contextmanager
def quick_and_small():
    """Fail the test when the block takes seconds or allocates tens of megabytes."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < LIMIT_SECONDS, f"took {elapsed:.1f} s"
    assert peak < LIMIT_BYTES, f"peak {peak / 1e6:.0f} MB of Python memory"


def test_openpyxl_parses_with_defusedxml():
    assert openpyxl.DEFUSEDXML is True
    assert common.xml_is_defused()


def test_the_ordinary_workbooks_are_read():
    # The hostile files below differ from these only by their DTD.
    events = records.read_events([("events.xlsx", workbook(EVENTS))])
    assert [list(f["name"]) for _, f in events.event_tables] == [["Carnival", "Bonfire night"]]
    actions = records.read_records([("actions.xlsx", workbook(ACTIONS))])
    assert [list(f["title"]) for _, f in actions.action_tables] == [["Seasonality calendar"]]
    table = fund_import.read_fund_file("spend.xlsx", workbook(SPEND), "spend")
    assert table.header[:3] == ["financial_year", "project_id", "month"] and len(table.rows) == 1


KINDS = ["shared_strings", "worksheet", "external_entity"]
READERS = {
    "events": (lambda data: records.read_events([("bomb.xlsx", data)]), EVENTS),
    "kpis_and_actions": (lambda data: records.read_records([("bomb.xlsx", data)]), ACTIONS),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", READERS)
def test_the_importers_refuse_xml_bombs_naming_the_file(kind, reader):
    read, rows = READERS[reader]
    data = hostile(rows, kind)
    with quick_and_small(), pytest.raises(ImportRejected) as refused:
        read(data)
    problems = refused.value.problems
    assert [(p.file, p.row) for p in problems] == [("bomb.xlsx", None)]
    assert "refused" in problems[0].message and "XML bomb" in problems[0].message
    assert refused.value.rows_read == 0  # nothing was taken from the file


@pytest.mark.parametrize("kind", KINDS)
def test_read_table_reports_a_bomb_as_one_problem(kind):
    files, problems = common.expand_inputs([("lookup.xlsx", hostile(EVENTS, kind))],
                                           suffixes=(".xlsx",))
    with quick_and_small():
        table = common.read_table(files[0], records.EVENT_COLUMNS, problems)
    assert table is None
    assert [(p.file, "refused" in p.message) for p in problems] == [("lookup.xlsx", True)]


@pytest.mark.parametrize("kind", KINDS)
def test_the_fund_import_refuses_xml_bombs_naming_the_file(kind):
    data = hostile(SPEND, kind)
    with quick_and_small(), pytest.raises(fund_import.FundImportError) as refused:
        fund_import.read_fund_file("bomb.xlsx", data, "spend")
    problems = refused.value.problems
    assert [(p.file, p.row) for p in problems] == [("bomb.xlsx", None)]
    assert "refused" in problems[0].problem and "XML bomb" in problems[0].problem


def _fund_refusal(name: str, data: bytes) -> str:
    with quick_and_small(), pytest.raises(fund_import.FundImportError) as refused:
        fund_import.read_fund_file(name, data, "spend")
    problems = refused.value.problems
    assert [(p.file, p.row, p.column) for p in problems] == [(name, None, None)]
    return problems[0].problem


def test_the_fund_import_refuses_a_workbook_packed_like_a_zip_bomb_unread():
    data = zip_bomb(workbook(SPEND), "2025/26", 40)  # 40 MB of "A" in about 40 KB
    assert len(data) < fund_import.MAX_BYTES
    problem = _fund_refusal("packed.xlsx", data)
    assert "xl/sharedStrings.xml" in problem and "zip bomb" in problem


def test_the_fund_import_refuses_a_workbook_unpacking_past_its_limit(monkeypatch):
    data = workbook(SPEND + [["2025/26", str(n), "2025-04", "1"] for n in range(2000)])
    # The file is within the upload limit, and may unpack to no more than that limit.
    monkeypatch.setattr(fund_import, "MAX_BYTES", len(data))
    monkeypatch.setattr(common, "MAX_UNPACKED_FACTOR", 1)
    problem = _fund_refusal("big.xlsx", data)
    assert "would unpack to" in problem and "the limit is" in problem


def test_the_fund_import_reports_a_damaged_workbook_as_a_problem_in_the_file():
    problem = _fund_refusal("damaged.xlsx", damaged_sheet(workbook(SPEND)))
    assert problem.startswith("the file is not a readable .xlsx workbook ("), problem
    problem = _fund_refusal("spend.xlsx", b"PK\x03\x04 not really a workbook")
    assert problem == "the file is not a readable .xlsx workbook", problem


def test_without_defusedxml_the_fund_import_refuses_workbooks_unread(monkeypatch):
    from openpyxl.worksheet import _reader

    monkeypatch.setattr(_reader, "iterparse", ElementTree.iterparse)
    assert not common.xml_is_defused()
    problem = _fund_refusal("spend.xlsx", workbook(SPEND))
    assert "defusedxml" in problem and "save the file as CSV" in problem


def test_a_workbook_packed_like_a_zip_bomb_is_refused_unread():
    data = zip_bomb(workbook(EVENTS), "Carnival", 40)  # 40 MB of "A" in about 40 KB
    assert len(data) < 100_000
    with quick_and_small(), pytest.raises(ImportRejected) as refused:
        records.read_events([("packed.xlsx", data)])
    problems = refused.value.problems
    assert [(p.file, p.row) for p in problems] == [("packed.xlsx", None)]
    assert "xl/sharedStrings.xml" in problems[0].message and "zip bomb" in problems[0].message


def test_an_external_entity_never_reaches_a_cell():
    secret = open(SECRET_FILE, encoding="utf-8").read().strip() or socket.gethostname()
    with pytest.raises(ImportRejected) as refused:
        records.read_events([("bomb.xlsx", hostile(EVENTS, "external_entity"))])
    assert secret not in str(refused.value.report())


def test_a_damaged_sheet_is_a_problem_in_the_file_not_an_internal_error():
    # openpyxl's read-only mode parses a sheet while its rows are read: the damage after row 1
    # used to escape as a bare XML ParseError.
    with pytest.raises(ImportRejected) as refused:
        records.read_events([("damaged.xlsx", damaged_sheet(workbook(EVENTS)))])
    problems = refused.value.problems
    assert [(p.file, p.row) for p in problems] == [("damaged.xlsx", None)]
    assert problems[0].message.startswith("is not a readable .xlsx workbook (")


def test_without_defusedxml_workbooks_are_refused_unread(monkeypatch):
    # A server where openpyxl fell back to the standard parser (defusedxml missing, or
    # OPENPYXL_DEFUSEDXML=False) must not read workbooks at all.
    from openpyxl.worksheet import _reader

    monkeypatch.setattr(_reader, "iterparse", ElementTree.iterparse)
    assert not common.xml_is_defused()
    with pytest.raises(ImportRejected) as refused:
        records.read_events([("events.xlsx", workbook(EVENTS))])
    assert "defusedxml" in refused.value.problems[0].message
