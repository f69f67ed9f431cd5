"""Safe CSV/XLSX exports: formula-like text is neutralised, numbers stay numbers."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import openpyxl
import pandas as pd
import pytest

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
