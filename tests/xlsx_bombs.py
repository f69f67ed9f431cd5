"""Hostile .xlsx workbooks for the import tests, each a valid zip built from an ordinary one.

- ``billion_laughs(base, "shared_strings")``: xl/sharedStrings.xml starts with a DTD of nested
  entities (ten to the power nine "lol"s, about 3 GB if expanded) and a cell's text uses the
  last of them;
- ``billion_laughs(base, "worksheet")``: the same DTD at the top of xl/worksheets/sheet1.xml,
  with an inline-string cell that uses it;
- ``external_entity(base, path)``: a shared string that is an external entity naming a file on
  the server (XXE), which would copy the file's text into a cell;
- ``zip_bomb(base, text, megabytes)``: no XML trick, just one shared string of megabytes of one
  letter, packed a thousand to one (openpyxl keeps shared strings in memory);
- ``damaged_sheet(base)``: a sheet whose XML breaks after its first row.

``workbook(rows)`` is the ordinary workbook they start from (xlsxwriter: shared strings, as
Excel writes them).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence

import xlsxwriter

SHARED_STRINGS = "xl/sharedStrings.xml"
SHEET = "xl/worksheets/sheet1.xml"
LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'
                    for i in range(1, 10))
          + "]>")


def workbook(rows: Sequence[Sequence], sheet: str = "Sheet1") -> bytes:
    """An ordinary .xlsx with ``rows`` on one sheet (strings stored as shared strings)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = book.add_worksheet(sheet)
    for i, row in enumerate(rows):
        ws.write_row(i, 0, row)
    book.close()
    return buffer.getvalue()


def _rewrite(data: bytes, member: str, change: Callable[[str], str]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    assert member in source.namelist(), f"{member} not in the workbook"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info, change(body.decode("utf-8")) if info.filename == member
                            else body)
    return out.getvalue()


def _with_dtd(xml: str, dtd: str) -> str:
    declaration, rest = xml.split("?>", 1)  # the DTD goes after <?xml ...?>
    return declaration + "?>" + dtd + rest


def billion_laughs(base: bytes, where: str, text: str) -> bytes:
    """``base`` with a billion-laughs DTD in its shared strings (``where`` "shared_strings",
    the shared string ``text`` replaced by the bomb) or its first sheet ("worksheet", a cell
    added)."""
    if where == "shared_strings":
        return _rewrite(base, SHARED_STRINGS, lambda xml: _with_dtd(xml, LAUGHS).replace(
            f"<t>{text}</t>", "<t>&lol9;</t>"))
    if where == "worksheet":
        cell = '<row r="99"><c r="A99" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        return _rewrite(base, SHEET, lambda xml: _with_dtd(xml, LAUGHS).replace(
            "</sheetData>", cell + "</sheetData>"))
    raise ValueError(f"where must be shared_strings or worksheet, not {where!r}")


def external_entity(base: bytes, text: str, path: str) -> bytes:
    """``base`` with the shared string ``text`` replaced by an external entity reading
    ``path``."""
    dtd = f'<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file://{path}">]>'
    return _rewrite(base, SHARED_STRINGS, lambda xml: _with_dtd(xml, dtd).replace(
        f"<t>{text}</t>", "<t>&xxe;</t>"))


def damaged_sheet(base: bytes) -> bytes:
    """``base`` with its first sheet's XML broken after the first row (a truncated save)."""
    return _rewrite(base, SHEET, lambda xml: xml.replace('<row r="2"', '<oops><row r="2"', 1))


def zip_bomb(base: bytes, text: str, megabytes: int) -> bytes:
    """``base`` with the shared string ``text`` replaced by ``megabytes`` MB of one letter, which
    deflate packs about a thousand to one."""
    return _rewrite(base, SHARED_STRINGS, lambda xml: xml.replace(
        f"<t>{text}</t>", "<t>" + "A" * (megabytes * 1024 * 1024) + "</t>"))
