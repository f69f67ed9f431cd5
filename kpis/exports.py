"""Safe spreadsheet exports (CSV and XLSX) shared by every page's download buttons.

A cell whose text begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is read
by Excel and LibreOffice as a formula when the file is opened or re-saved, which lets a project
name or a free-text reason typed by anyone run a formula on a finance officer's machine ("CSV
injection", OWASP). Such text gets a leading single quote, which spreadsheets show as plain text.
Genuine numbers (numeric dtypes, including negative amounts) are left as numbers, and so is text
that is nothing but a plain number such as "-12.50", which a spreadsheet reads as that number.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import re
from collections.abc import Mapping

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


def neutralise_formula(value: object) -> object:
    """``value`` with a leading quote if it is text a spreadsheet could read as a formula."""
    if not isinstance(value, str) or value == "":
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    # Leading spaces do not stop LibreOffice from evaluating " =1+1", so look past them.
    if value[0] in _FORMULA_START or value.lstrip(" ")[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _is_text_column(series: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(series)
        or pd.api.types.is_bool_dtype(series)
        or pd.api.types.is_datetime64_any_dtype(series)
        or pd.api.types.is_timedelta64_dtype(series)
    )


def _plain_cell(value: object) -> object:
    # Decimals (money read from the database) become floats so spreadsheets see numbers.
    if isinstance(value, decimal.Decimal):
        return float(value)
    return neutralise_formula(value)


def safe_frame_for_export(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with formula-like text neutralised in cells and column names."""
    out = df.copy()
    for column in out.columns:
        if _is_text_column(out[column]):
            out[column] = out[column].astype(object).map(_plain_cell)
    out.columns = [neutralise_formula(str(c)) for c in out.columns]
    return out


def _sheet_name(name: str, used: set[str]) -> str:
    # Excel limits: 31 characters, none of []:*?/\ and unique regardless of case.
    base = _SHEET_NAME_BAD.sub(" ", str(name)).strip("' ") or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """Workbook with one sheet per frame; text is never turned into formulas or links."""
    buffer = io.BytesIO()
    used: set[str] = set()
    options = {"strings_to_formulas": False, "strings_to_urls": False}
    with pd.ExcelWriter(
        buffer,
        engine="xlsxwriter",
        engine_kwargs={"options": options},
        date_format="yyyy-mm-dd",
        datetime_format="yyyy-mm-dd hh:mm",
    ) as writer:
        if not sheets:
            pd.DataFrame().to_excel(writer, sheet_name="Sheet1", index=False)
        for name, frame in sheets.items():
            safe = safe_frame_for_export(frame)
            # pandas writes datetime.date objects as text; make them real Excel dates.
            for column in safe.columns:
                values = safe[column].dropna()
                if len(values) and values.map(lambda v: isinstance(v, dt.date)).all():
                    safe[column] = pd.to_datetime(safe[column])
            sheet = _sheet_name(name, used)
            safe.to_excel(writer, sheet_name=sheet, index=False)
            worksheet = writer.sheets[sheet]
            for i, column in enumerate(safe.columns):
                width = max([len(str(column))] + [len(str(v)) for v in safe[column].head(200)])
                worksheet.set_column(i, i, min(max(width + 2, 8), 60))
    return buffer.getvalue()


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV in UTF-8 with a byte-order mark, so Excel shows "£" and accents correctly.

    Lines end with CRLF (RFC 4180). Besides being what Excel writes, it makes every field that
    holds a carriage return quoted: with pandas' default "\n" a lone "\r" went out unquoted,
    and a spreadsheet starts a new row there, so "Notes\r=HYPERLINK(...)" became a row starting
    with a live formula that the leading-quote rule never saw.
    """
    return (safe_frame_for_export(df).to_csv(index=False, lineterminator="\r\n")
            .encode("utf-8-sig"))
