"""Safe CSV/XLSX exports: formula-like text is neutralised, numbers stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io

import openpyxl
import pandas as pd
import pytest

from kpis import exports
from kpis.exports import neutralise_formula, safe_frame_for_export, to_csv_bytes, to_xlsx_bytes


@pytest.mark.parametrize("text", ["=1+1", "+44 121", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://x","y")', "  =1+1", " @x"])
def test_formula_like_text_gets_a_quote(text):
    assert neutralise_formula(text) == "'" + text


@pytest.mark.parametrize("value", ["Mediation", "", "12", "-12.50", "+3", "a=b", "GBP -5", None,
                                   -1234, -12.5, 0, 3.0, decimal.Decimal("-1.50"),
                                   dt.date(2017, 4, 1)])
def test_everything_else_is_left_alone(value):
    result = neutralise_formula(value)
    assert result is value or result == value


def test_safe_frame_neutralises_text_cells_and_headers_only():
    df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "ok"], "=bad": [1, 2],
                       "amount": [-1234.5, 10.0]})
    safe = safe_frame_for_export(df)
    assert safe["name"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert list(safe.columns) == ["name", "'=bad", "amount"]
    assert safe["amount"].tolist() == [-1234.5, 10.0]
    assert pd.api.types.is_numeric_dtype(safe["amount"])
    assert df["name"].iloc[0].startswith("=")  # the input frame is not changed


def test_csv_has_bom_and_neutralised_cells():
    raw = to_csv_bytes(pd.DataFrame({"name": ["@evil", "£ fine"], "amount": [-5, 6]}))
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig").splitlines()
    assert text == ["name,amount", "'@evil,-5", "£ fine,6"]


def test_xlsx_keeps_numbers_and_writes_no_formulas():
    frame = pd.DataFrame({
        "name": ["=1+1", "-2+3", "plain"],
        "amount": [-1234.5, 0.0, 99.99],
        "money": [decimal.Decimal("-1.50"), decimal.Decimal("2"), decimal.Decimal("3.25")],
        "day": [dt.date(2017, 4, 1), dt.date(2017, 5, 1), None],
        "link": ["http://example.org", "x", "y"],
    })
    workbook = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({"Projects": frame})))
    sheet = workbook["Projects"]
    rows = list(sheet.iter_rows(min_row=2))
    assert [r[0].value for r in rows] == ["'=1+1", "'-2+3", "plain"]
    assert all(r[0].data_type == "s" for r in rows)  # strings, never formulas
    assert [r[1].value for r in rows] == [-1234.5, 0, 99.99]
    assert all(r[1].data_type == "n" for r in rows)
    assert [r[2].value for r in rows] == [-1.5, 2, 3.25]
    assert rows[0][3].is_date and rows[0][3].value.date() == dt.date(2017, 4, 1)
    assert rows[0][4].hyperlink is None


def test_xlsx_sheet_names_are_valid_and_unique():
    frame = pd.DataFrame({"a": [1]})
    names = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({
        "By priority/LCSP": frame, "by priority lcsp": frame, "x" * 40: frame}))).sheetnames
    assert names[0] == "By priority LCSP"
    assert names[1] != names[0] and names[1].lower() != names[0].lower()
    assert all(len(n) <= 31 for n in names)


def test_empty_workbook_is_still_a_workbook():
    assert openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({}))).sheetnames == ["Sheet1"]


# Every character a spreadsheet reads as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = {"=": "=1+1", "+": "+SUM(A1:A2)", "-": "-2+3", "@": "@SUM(A1)",
                  "tab": "\t=1+1", "cr": "\r=1+1"}


def hostile_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "text": list(FORMULA_STARTS.values()),
        "amount": [-1234.5, -1.0, 0.0, 2.5, -99.0, 7.0],
        "count": [-3, -2, -1, 0, 1, 2],
        "money": [decimal.Decimal("-1.50")] * 6,
        "note": ["-12.50", "plain", "a=b", "GBP -5", "", None],
    })


def test_csv_read_back_has_every_formula_start_quoted_and_numbers_as_numbers():
    raw = to_csv_bytes(hostile_frame())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [r["text"] for r in rows] == ["'" + t for t in FORMULA_STARTS.values()]
    # Negative numbers are written as plain numbers, which a spreadsheet reads as numbers.
    assert [r["amount"] for r in rows] == ["-1234.5", "-1.0", "0.0", "2.5", "-99.0", "7.0"]
    assert [r["count"] for r in rows] == ["-3", "-2", "-1", "0", "1", "2"]
    assert {r["money"] for r in rows} == {"-1.5"}
    assert [r["note"] for r in rows] == ["-12.50", "plain", "a=b", "GBP -5", "", ""]


def test_xlsx_read_back_has_every_formula_start_quoted_and_numbers_as_numbers():
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({"Data": hostile_frame()})))
    rows = list(book["Data"].iter_rows(min_row=2))
    text = [r[0] for r in rows]
    # A carriage return is stored as Excel's "_x000D_" escape, which openpyxl leaves as it is.
    assert [c.value.replace("_x000D_", "\r") for c in text] == \
        ["'" + t for t in FORMULA_STARTS.values()]
    assert {c.data_type for c in text} == {"s"}
    for column, expected in ((1, [-1234.5, -1, 0, 2.5, -99, 7]), (2, [-3, -2, -1, 0, 1, 2]),
                             (3, [-1.5] * 6)):
        assert [r[column].value for r in rows] == expected
        assert {r[column].data_type for r in rows} == {"n"}
    assert [r[4].value for r in rows][:4] == ["-12.50", "plain", "a=b", "GBP -5"]
    assert {r[4].data_type for r in rows[:4]} == {"s"}  # text that looks numeric stays text


def test_a_line_break_inside_a_cell_cannot_start_a_row_with_a_formula():
    # A spreadsheet starts a new row at an unquoted CR or LF: text after it must stay inside
    # its quoted cell, or "=HYPERLINK(...)" would open a row of its own, unquoted.
    texts = ["Notes\r=2+5", "Notes\r@SUM(A1:A2)", "Notes\n-1+1", "a\r\n+1"]
    raw = to_csv_bytes(pd.DataFrame({"note": texts, "n": [1, 2, 3, 4]})).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows == [["note", "n"], *[[t, str(n)] for n, t in enumerate(texts, start=1)]]
    outside_quotes = raw.split('"')[::2]  # the file with every quoted field taken out
    assert all(not line.startswith(("=", "+", "-", "@"))
               for part in outside_quotes for line in part.replace("\r", "\n").split("\n"))


def test_formula_like_headers_are_quoted_in_both_formats():
    frame = pd.DataFrame({"=HYPERLINK(\"http://x\")": ["a"], "@who": [1]})
    assert to_csv_bytes(frame).decode("utf-8-sig").splitlines()[0] == \
        "\"'=HYPERLINK(\"\"http://x\"\")\",'@who"
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({"S": frame})))["S"]
    assert [c.value for c in sheet[1]] == ["'=HYPERLINK(\"http://x\")", "'@who"]


def test_the_workbook_writer_never_makes_formulas_or_links_even_unquoted(monkeypatch):
    # The second line of defence: with the quoting switched off, xlsxwriter's
    # strings_to_formulas / strings_to_urls options (both off) still write text as text.
    monkeypatch.setattr(exports, "safe_frame_for_export", lambda df: df.copy())
    frame = pd.DataFrame({"a": ["=1+1", "http://example.org", "@SUM(A1)"]})
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx_bytes({"S": frame})))["S"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == ["=1+1", "http://example.org", "@SUM(A1)"]
    assert {c.data_type for c in cells} == {"s"}  # "f" would be a formula
    assert all(c.hyperlink is None for c in cells)
