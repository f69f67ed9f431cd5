"""Reading partners' files robustly, and reporting every problem in them.

What real CSV and spreadsheet files do, and what happens here:

- encodings: UTF-8 (with or without the byte-order mark Excel writes), Windows-1252 (Excel's
  "CSV" on a UK PC, where a pound sign is byte 0xA3) and UTF-16 ("Unicode text") are decoded;
  anything else, or a binary file named .csv, is a problem;
- delimiters: comma, semicolon (European Excel), tab or pipe, chosen by which one turns the
  header into the expected columns; with a semicolon a decimal comma ("-1,8990") is accepted;
- a title block above the header: the header is the first of the opening rows that names the
  most expected columns;
- ragged rows: short rows (missing trailing fields) are padded with empty values; a row with
  more non-empty fields than the header is a problem (usually an unquoted delimiter); empty
  trailing fields and empty rows are ignored;
- Excel: .xlsx workbooks (any sheet whose header matches), date cells, and dates or times that
  became serial numbers (45658 = 2025-01-01, 0.75 = 18:00) or "Jan-25" months after a round
  trip through Excel; the old .xls format is refused with advice;
- size: files (and what a zip would unpack to) above a limit are refused before reading;
- hostile workbooks: openpyxl parses .xlsx XML with defusedxml, so a workbook that declares
  entities (a "billion laughs" bomb, an external entity reading a server file) is refused with
  a problem naming it, and no workbook is read on a server where defusedxml is not in use.

Row numbers are the ones a spreadsheet shows (the header is its own row, usually row 1). Every
check collects :class:`Problem` records instead of stopping at the first, and an importer that
found any raises :class:`ImportRejected` with all of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # one file; raise with --max-mb for a big force's year
MAX_UNPACKED_FACTOR = 20  # a zip or workbook may unpack to at most this many times the limit
MAX_PART_RATIO = 100  # a workbook part may unpack to at most 100 times its packed size (POI)
_RATIO_GRACE_BYTES = 1024 * 1024  # small parts may pack tighter (an empty sheet is mostly tags)
DELIMITERS = (",", ";", "\t", "|")
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's day 0 (it counts 1900 as a leap year)
# Serial numbers read as dates only in this window (1990-01-01 .. 2099-12-31), so that an
# ordinary count in a date column is reported rather than turned into a date.
_SERIAL_MIN, _SERIAL_MAX = 32874, 73050

# --- problems and summaries ----------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (file, row, column) and what."""

    file: str
    row: int | None
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (found {_show(self.value)})"
        return text


def _show(value: str, width: int = 40) -> str:
    text = str(value)
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _ranges(numbers: Sequence[int], limit: int = 8) -> str:
    parts, start, prev = [], None, None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append((start, prev))
            start = prev = n
    if start is not None:
        parts.append((start, prev))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts[:limit])
    if len(parts) > limit:
        text += ", …"
    return text


def format_problems(problems: Sequence[Problem], limit: int = 60) -> list[str]:
    """One line per kind of problem (same file, column and message), naming all its rows."""
    groups: dict[tuple, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: (p.file, p.row or 0)):
        groups.setdefault((p.file, p.column, p.message), []).append(p)
    lines = []
    for (file, column, message), items in groups.items():
        if len(items) == 1:
            lines.append(str(items[0]))
            continue
        rows = sorted({p.row for p in items if p.row is not None})
        where = file
        if len(rows) == 1:
            where += f", row {rows[0]}"
        elif rows:
            where += f", rows {_ranges(rows)} ({len(rows):,} rows)"
        if column:
            where += f", column '{column}'"
        values = list(dict.fromkeys(p.value for p in items if p.value is not None))
        text = f"{where}: {message}"
        if values:
            shown = ", ".join(_show(v) for v in values[:3])
            text += f" (found {shown}{', …' if len(values) > 3 else ''})"
        lines.append(text)
    if len(lines) > limit:
        hidden = len(lines) - limit
        lines = lines[:limit] + [f"… and {hidden:,} more kinds of problem"]
    return lines


class ImportRejected(Exception):
    """The input has problems; nothing was written. ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[Problem], rows_read: int = 0) -> None:
        self.problems = list(problems)
        self.rows_read = rows_read
        super().__init__(self.report())

    @property
    def rows_rejected(self) -> int:
        """Distinct rows with at least one problem (a whole-file problem counts as one)."""
        return len({(p.file, p.row) for p in self.problems})

    def report(self, limit: int = 60) -> str:
        """A readable message: how many problems, then one line per kind of problem."""
        n = len(self.problems)
        head = f"{n:,} problem{'s' if n != 1 else ''} found; nothing was imported."
        return "\n".join([head, *("  " + line for line in format_problems(self.problems, limit))])


@dataclass
class ImportSummary:
    """What an import did, for the command line, the admin page and the tests."""

    kind: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_added: int = 0
    rows_replaced: int = 0
    rows_rejected: int = 0
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    import_ids: list[int] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def cover(self, first: dt.date | None, last: dt.date | None) -> None:
        """Widen the period to include [first, last]."""
        if first is not None:
            self.period_from = first if self.period_from is None else min(self.period_from, first)
        if last is not None:
            self.period_to = last if self.period_to is None else max(self.period_to, last)

    def lines(self) -> list[str]:
        """The printed summary."""
        out = [
            f"{self.kind}: {len(self.files)} file{'s' if len(self.files) != 1 else ''}",
            f"  rows read:     {self.rows_read:>10,}",
            f"  rows added:    {self.rows_added:>10,}",
            f"  rows replaced: {self.rows_replaced:>10,}",
            f"  rows rejected: {self.rows_rejected:>10,}",
        ]
        if self.period_from is not None:
            out.append(f"  period:        {self.period_from:%Y-%m-%d} to {self.period_to:%Y-%m-%d}")
        out += [f"  {d}" for d in self.details]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def raise_if(problems: Sequence[Problem], rows_read: int = 0) -> None:
    """Raise :class:`ImportRejected` when any problem was found."""
    if problems:
        raise ImportRejected(problems, rows_read)


# --- inputs: files, folders, zips and uploads ------------------------------------------------

@dataclass(frozen=True)
class InputFile:
    """One file to read: from disk, from inside a zip, or uploaded bytes."""

    label: str  # how messages name it
    name: str  # the bare file name (its suffix decides the format)
    size: int  # bytes (uncompressed size for a zip member)
    _reader: Callable[[], bytes] = field(repr=False, compare=False)

    def read(self) -> bytes:
        """The file's bytes."""
        return self._reader()


def _is_zip(data_head: bytes) -> bool:
    return data_head[:4] == b"PK\x03\x04"


def _zip_members(
    label: str, opener: Callable[[], io.BufferedIOBase | io.BytesIO], suffixes: tuple[str, ...],
    prefer: str | None, max_bytes: int, problems: list[Problem],
) -> list[InputFile]:
    try:
        with opener() as handle, zipfile.ZipFile(handle) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        problems.append(Problem(label, None, None, "is not a readable zip archive"))
        return []
    infos = [i for i in infos if not _hidden(i.filename) and i.filename.lower().endswith(suffixes)]
    if prefer and any(i.filename.lower().endswith(prefer) for i in infos):
        infos = [i for i in infos if i.filename.lower().endswith(prefer)]
    if not infos:
        problems.append(Problem(label, None, None, f"holds no {' or '.join(suffixes)} files"))
        return []
    total = sum(i.file_size for i in infos)
    if total > max_bytes * MAX_UNPACKED_FACTOR:
        problems.append(Problem(label, None, None, (
            f"would unpack to {total / 1e6:,.0f} MB; the limit is "
            f"{max_bytes * MAX_UNPACKED_FACTOR / 1e6:,.0f} MB")))
        return []
    out = []
    for info in sorted(infos, key=lambda i: i.filename):
        def read(info=info) -> bytes:
            with opener() as handle, zipfile.ZipFile(handle) as archive:
                return archive.read(info)
        out.append(InputFile(f"{label}:{info.filename}", Path(info.filename).name, info.file_size,
                             read))
    return out


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "__MACOSX", "~$")) for part in Path(path).parts)


def expand_inputs(
    sources: Iterable, *, suffixes: tuple[str, ...] = (".csv",), prefer: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[InputFile], list[Problem]]:
    """The files named by ``sources``: paths to files, folders or zips, or (name, bytes) uploads.

    Folders and zips contribute the files ending in ``suffixes``; when some end in ``prefer``
    (police.uk's "-street.csv") only those. Files over ``max_bytes`` are problems.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    files: list[InputFile] = []
    problems: list[Problem] = []
    for source in sources:
        if isinstance(source, tuple):
            name, data = source
            if _is_zip(data[:4]) and name.lower().endswith(".zip"):
                files += _zip_members(name, lambda data=data: io.BytesIO(data), suffixes, prefer,
                                      max_bytes, problems)
            else:
                files.append(InputFile(name, Path(name).name, len(data), lambda data=data: data))
            continue
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.name.lower().endswith(suffixes)
                           and not _hidden(str(p.relative_to(path))))
            if prefer and any(p.name.lower().endswith(prefer) for p in found):
                found = [p for p in found if p.name.lower().endswith(prefer)]
            if not found:
                problems.append(Problem(str(path), None, None,
                                        f"folder holds no {' or '.join(suffixes)} files"))
            for p in found:
                files.append(_disk_file(p))
        elif path.is_file():
            with open(path, "rb") as handle:
                head = handle.read(4)
            if _is_zip(head) and path.suffix.lower() == ".zip":
                files += _zip_members(str(path), lambda path=path: open(path, "rb"), suffixes,
                                      prefer, max_bytes, problems)
            else:
                files.append(_disk_file(path))
        else:
            problems.append(Problem(str(path), None, None, "no such file or folder"))
    for f in files:
        if f.size > max_bytes:
            problems.append(Problem(f.label, None, None, (
                f"is {f.size / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.1f} MB "
                "(split the file, or raise the limit with --max-mb)")))
    return files, problems


def _disk_file(path: Path) -> InputFile:
    return InputFile(str(path), path.name, path.stat().st_size, path.read_bytes)


# --- decoding and splitting into rows -------------------------------------------------------

def decode_text(data: bytes, label: str, problems: list[Problem]) -> str | None:
    """The text of a CSV file (UTF-8, UTF-16 or Windows-1252), or None with a problem."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            problems.append(Problem(label, None, None, "is damaged UTF-16 text"))
            return None
    if b"\x00" in data[:8192]:
        problems.append(Problem(label, None, None, (
            "is a binary file, not CSV text (an Excel workbook saved with a .csv name? "
            "save it as CSV, or as .xlsx)")))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        line = data[: utf8_error.start].count(b"\n") + 1
        byte = data[utf8_error.start: utf8_error.start + 1].hex()
        problems.append(Problem(label, line, None, (
            f"is neither UTF-8 nor Windows-1252 text (byte 0x{byte} cannot be read); "
            "save it as 'CSV UTF-8'")))
        return None


@dataclass
class RawSheet:
    """Rows of text cells from one CSV file or one worksheet, before the header is known.

    Either ``rows`` (lists of any length) or ``matrix`` (a regular 2-D object array from the
    fast CSV parser, NaN where a short row has no field) holds the cells.
    """

    label: str
    rows: list[list[str]] | None
    numbers: list[int] | np.ndarray  # the spreadsheet row number of each row
    decimal_comma: bool = False
    matrix: np.ndarray | None = None

    def head(self, n: int = 20) -> list[list[str]]:
        """The first ``n`` rows as lists of text."""
        if self.matrix is None:
            return self.rows[:n]
        return [["" if isinstance(c, float) else c for c in row] for row in self.matrix[:n].tolist()]


@dataclass(frozen=True)
class Column:
    """An expected column: canonical ``name``, documented ``label`` and accepted spellings."""

    name: str
    label: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    pattern: str | None = None  # a regex on the normalised header, e.g. r"lsoa\d\dcd"

    def matches(self, normalised: str) -> bool:
        """Whether a (normalised) header cell names this column."""
        return _column_matches(self, normalised)


@lru_cache(maxsize=4096)
def _column_matches(column: Column, normalised: str) -> bool:
    if normalised in {norm(column.name), norm(column.label), *map(norm, column.aliases)}:
        return True
    return bool(column.pattern and re.fullmatch(column.pattern, normalised))


def norm(text: str) -> str:
    """A header as compared: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).replace("\ufeff", "").lower()).strip("_")


def _match_count(header: Sequence[str], spec: Sequence[Column]) -> int:
    cells = [norm(h) for h in header]
    return sum(any(col.matches(c) for c in cells) for col in spec)


def _choose_delimiter(text: str, spec: Sequence[Column]) -> str:
    lines = text[:65536].splitlines()[:30]
    sample = "\n".join(lines)
    best, best_score = ",", None
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(r)]
        if not rows:
            continue
        header = max(rows[:10], key=lambda r: _match_count(r, spec))
        width = len(header)
        consistent = sum(len(r) == width for r in rows) / len(rows)
        score = (_match_count(header, spec), width > 1, round(consistent, 1), width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def csv_sheet(data: bytes, label: str, spec: Sequence[Column],
              problems: list[Problem]) -> RawSheet | None:
    """Decode and split a CSV file into rows (delimiter chosen by the expected columns)."""
    text = decode_text(data, label, problems)
    if text is None:
        return None
    delimiter = _choose_delimiter(text, spec)
    decimal_comma = delimiter == ";"
    try:
        # The fast C parser reads a regular file; it refuses a row with too many fields, and
        # then the csv module reads the file row by row so that each such row is reported.
        matrix = pd.read_csv(
            io.StringIO(text), sep=delimiter, header=None, dtype=object, na_filter=False,
            skip_blank_lines=False, engine="c", quotechar='"', doublequote=True,
        ).to_numpy(dtype=object)
        return RawSheet(label, None, np.arange(1, len(matrix) + 1), decimal_comma, matrix)
    except (pd.errors.ParserError, ValueError):
        pass
    except pd.errors.EmptyDataError:
        return RawSheet(label, [], [], decimal_comma)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        problems.append(Problem(label, None, None, f"cannot be read as CSV: {exc}"))
        return None
    return RawSheet(label, rows, list(range(1, len(rows) + 1)), decimal_comma)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def xlsx_sheets(data: bytes, label: str, max_bytes: int, problems: list[Problem]) -> list[RawSheet]:
    """Every worksheet of an .xlsx workbook as rows of text (dates as ISO text)."""
    import openpyxl  # imported here: only spreadsheet imports pay for it

    if not xml_is_defused():
        problems.append(Problem(label, None, None, (
            "cannot be read safely on this server: .xlsx reading needs the defusedxml package "
            "(install it, and do not set OPENPYXL_DEFUSEDXML=False); save the file as CSV")))
        return []
    refused = xlsx_archive_problem(data, max_bytes * MAX_UNPACKED_FACTOR)
    if refused:
        problems.append(Problem(label, None, None, refused))
        return []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        problems.append(Problem(label, None, None, xlsx_failure(exc)))
        return []
    sheets = []
    try:
        # A read-only workbook parses each sheet's XML while its rows are read, so damage
        # past the first rows shows up here rather than when the workbook is opened.
        for ws in book.worksheets:
            rows, numbers = [], []
            for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                rows.append([_cell_text(v) for v in values])
                numbers.append(number)
            sheets.append(RawSheet(f"{label} [{ws.title}]", rows, numbers))
    except Exception as exc:
        problems.append(Problem(label, None, None, xlsx_failure(exc)))
        return []
    finally:
        book.close()
    return sheets


def xlsx_archive_problem(data: bytes, max_unpacked: int) -> str | None:
    """Why the .xlsx archive ``data`` must not be opened, or None.

    openpyxl holds a workbook's shared strings in memory (about twice their unpacked size), so
    a small file packed like a zip bomb would take gigabytes: a 150 KB upload with one 150 MB
    string took 300-400 MB. Refused: more than ``max_unpacked`` bytes in all, or any part
    packed more than :data:`MAX_PART_RATIO` to one (Apache POI's rule; real workbooks pack
    their XML about 5 to 20 to one).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile:
        return "is not a readable .xlsx workbook"
    unpacked = sum(i.file_size for i in parts)
    if unpacked > max_unpacked:
        return (f"would unpack to {unpacked / 1e6:,.0f} MB; the limit is "
                f"{max_unpacked / 1e6:,.0f} MB")
    for part in parts:
        if part.file_size > _RATIO_GRACE_BYTES and \
                part.file_size > MAX_PART_RATIO * max(part.compress_size, 1):
            return (f"was refused: its part {part.filename} would unpack to "
                    f"{part.file_size / 1e6:,.0f} MB from {part.compress_size / 1e3:,.0f} KB, "
                    "packed far tighter than any real workbook (a \"zip bomb\"); save the data "
                    "again from Excel, or as CSV")
    return None


def xml_is_defused() -> bool:
    """True when openpyxl parses sheets and shared strings with defusedxml (it does so when the
    package is installed, unless OPENPYXL_DEFUSEDXML=False)."""
    from openpyxl.reader import strings
    from openpyxl.worksheet import _reader

    return all(getattr(m.iterparse, "__module__", "").startswith("defusedxml")
               for m in (strings, _reader))


def xlsx_failure(exc: BaseException) -> str:
    """Why an .xlsx workbook could not be read, in a sentence for the person loading it.

    openpyxl parses the workbook's XML with defusedxml, which refuses any entity declaration (an
    "XML bomb" such as billion laughs, or an external entity reading a server file): Excel never
    writes one, so such a file is refused as unsafe rather than called damaged.
    """
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # then xml_is_defused() has already refused the workbook
        DefusedXmlException = ()  # noqa: N806
    cause, seen = exc, set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, DefusedXmlException):
            return ("was refused: its XML declares entities or a DTD, which Excel never writes "
                    "and which can be used to attack the server (an \"XML bomb\"); save the "
                    "data again from Excel as a new .xlsx, or as CSV")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    # openpyxl wraps XML errors in a long ValueError; the first line says enough.
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"is not a readable .xlsx workbook ({detail[:160]})"


def read_sheets(
    f: InputFile, spec: Sequence[Column], problems: list[Problem], *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[RawSheet]:
    """A CSV file (one sheet) or an .xlsx workbook (every worksheet) as rows of text."""
    if f.size > max_bytes:
        return []  # already reported by expand_inputs
    data = f.read()
    if data[:4] == b"\xd0\xcf\x11\xe0":
        problems.append(Problem(f.label, None, None, (
            "is an old-style Excel .xls workbook; save it as .xlsx or as CSV UTF-8")))
        return []
    if _is_zip(data[:4]) or f.name.lower().endswith((".xlsx", ".xlsm")):
        return xlsx_sheets(data, f.label, max_bytes, problems)
    sheet = csv_sheet(data, f.label, spec, problems)
    return [sheet] if sheet is not None else []


# --- tables: the header matched to expected columns -----------------------------------------

@dataclass
class Table:
    """Rows of one file as text, with columns renamed to the canonical names of a spec."""

    file: str
    frame: pd.DataFrame  # every value a str, "" when empty, stripped of surrounding space
    rows: np.ndarray  # spreadsheet row number of each frame row
    headers: dict[str, str]  # canonical name -> header text as written in the file
    decimal_comma: bool = False
    short_rows: int = 0
    dropped_rows: int = 0  # rows refused while splitting (too many fields), already reported

    @property
    def rows_in_file(self) -> int:
        """Data rows the file holds (blank rows aside), including refused ones."""
        return len(self.frame) + self.dropped_rows

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, column: str) -> bool:
        """Whether the file has this column."""
        return column in self.headers

    def label(self, column: str) -> str:
        """The column as the file names it (for messages)."""
        return self.headers.get(column, column)

    def col(self, column: str) -> pd.Series:
        """A column's text ("" everywhere when the file lacks it)."""
        if column in self.frame:
            return self.frame[column]
        return pd.Series([""] * len(self.frame), index=self.frame.index, dtype="str")

    def report(self, problems: list[Problem], mask, column: str | None, message: str,
               with_value: bool = True) -> None:
        """Add a problem for every row where ``mask`` is true."""
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(idx):
            return
        values = self.col(column).to_numpy() if (with_value and column) else None
        label = self.label(column) if column else None
        for i in idx:
            value = None if values is None else str(values[i])
            problems.append(Problem(self.file, int(self.rows[i]), label, message, value))

    def subset(self, mask) -> "Table":
        """The rows where ``mask`` is true (row numbers kept)."""
        mask = np.asarray(mask, dtype=bool)
        return Table(self.file, self.frame[mask].reset_index(drop=True), self.rows[mask],
                     self.headers, self.decimal_comma)


def header_match(sheet: RawSheet, spec: Sequence[Column]) -> int:
    """How many of ``spec``'s columns the best of the sheet's opening rows names."""
    return max((_match_count(r, spec) for r in sheet.head()), default=0)


def make_table(sheet: RawSheet, spec: Sequence[Column], problems: list[Problem]) -> Table | None:
    """Find the header, check the expected columns are there and build the :class:`Table`."""
    opening = [(i, r) for i, r in enumerate(sheet.head()) if any(c.strip() for c in r)]
    if not opening:
        problems.append(Problem(sheet.label, None, None, "is empty"))
        return None
    header_at, header = max(opening, key=lambda ir: (_match_count(ir[1], spec), -ir[0]))
    header = [h.strip().replace("\ufeff", "") for h in header]
    while header and not header[-1]:
        header.pop()
    width = len(header)
    header_row = int(sheet.numbers[header_at])

    positions: dict[str, int] = {}
    for pos, cell in enumerate(header):
        key = norm(cell)
        for col in spec:
            if col.matches(key):
                if col.name in positions:
                    problems.append(Problem(sheet.label, header_row, cell, (
                        f"names the same column as '{header[positions[col.name]]}' "
                        f"(columns {positions[col.name] + 1} and {pos + 1})")))
                else:
                    positions[col.name] = pos
                break
    missing = [col for col in spec if col.required and col.name not in positions]
    for col in missing:
        problems.append(Problem(sheet.label, header_row, col.label, (
            "missing column; the header has: " + ", ".join(h for h in header if h))))
    if missing:
        return None

    numbers = np.asarray(sheet.numbers[header_at + 1:], dtype=np.int64)
    if sheet.matrix is not None:
        body, keep, short, refused = _regular_body(sheet, header_at, width, numbers, problems)
    else:
        body, keep, short, refused = _ragged_body(sheet, header_at, width, numbers, problems)
    names = sorted(positions, key=positions.get)
    frame = pd.DataFrame({
        name: pd.Series(body[:, positions[name]], dtype="str").fillna("").str.strip()
        for name in names
    }, index=pd.RangeIndex(len(body)))
    blank = (frame == "").all(axis=1).to_numpy() if len(names) else np.zeros(len(frame), bool)
    keep &= ~blank
    frame = frame[keep].reset_index(drop=True)
    return Table(sheet.label, frame, numbers[keep],
                 {n: header[positions[n]] for n in names}, sheet.decimal_comma, short, refused)


def _too_many_fields(label: str, row_number: int, row: list, width: int,
                     problems: list[Problem]) -> None:
    used = max(i for i, c in enumerate(row) if str(c).strip()) + 1
    extra = next(c for c in row[width:] if str(c).strip())
    problems.append(Problem(label, row_number, None, (
        f"has {used} fields but the header has {width}: a value may contain the delimiter "
        "without quotes"), extra))


def _regular_body(sheet: RawSheet, header_at: int, width: int, numbers: np.ndarray,
                  problems: list[Problem]) -> tuple[np.ndarray, np.ndarray, int, int]:
    body = sheet.matrix[header_at + 1:]
    keep = np.ones(len(body), dtype=bool)
    absent = pd.isna(body) if body.size else np.zeros(body.shape, bool)
    blank_line = absent.all(axis=1) if body.shape[1] else np.ones(len(body), bool)
    if body.shape[1] > width:
        extra = body[:, width:]
        filled = np.zeros(len(body), bool)
        for j in range(extra.shape[1]):
            filled |= (pd.Series(extra[:, j], dtype="str").fillna("").str.strip() != "").to_numpy()
        for k in np.flatnonzero(filled):
            cells = ["" if isinstance(c, float) else c for c in body[k].tolist()]
            _too_many_fields(sheet.label, int(numbers[k]), cells, width, problems)
        keep &= ~filled
        body = body[:, :width]
    elif body.shape[1] < width:
        pad = np.full((len(body), width - body.shape[1]), np.nan, dtype=object)
        body = np.hstack([body, pad])
        absent = pd.isna(body)
    short = int((absent[:, :width].any(axis=1) & ~blank_line).sum()) if len(body) else 0
    refused = int((~keep).sum())
    keep &= ~blank_line
    return body, keep, short, refused


def _ragged_body(sheet: RawSheet, header_at: int, width: int, numbers: np.ndarray,
                 problems: list[Problem]) -> tuple[np.ndarray, np.ndarray, int, int]:
    body = sheet.rows[header_at + 1:]
    keep = np.ones(len(body), dtype=bool)
    short = refused = 0
    fixed = []
    for k, row in enumerate(body):
        n = len(row)
        if n == width:
            fixed.append(row)
        elif not any(str(c).strip() for c in row):
            keep[k] = False
            fixed.append([""] * width)
        elif n > width:
            if any(str(c).strip() for c in row[width:]):
                _too_many_fields(sheet.label, int(numbers[k]), row, width, problems)
                keep[k] = False
                refused += 1
            fixed.append(row[:width])
        else:
            short += 1
            fixed.append(list(row) + [""] * (width - n))
    matrix = np.array(fixed, dtype=object) if fixed else np.empty((0, width), dtype=object)
    return matrix.reshape(len(fixed), width), keep, short, refused


def read_table(
    f: InputFile, spec: Sequence[Column], problems: list[Problem], *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Table | None:
    """The one table in a CSV file, or the first worksheet whose header fits ``spec``."""
    sheets = read_sheets(f, spec, problems, max_bytes=max_bytes)
    if not sheets:
        return None
    required = [c for c in spec if c.required]
    fitting = [s for s in sheets if header_match(s, required) == len(required)]
    return make_table(fitting[0] if fitting else sheets[0], spec, problems)


# --- value parsers: vectorised, reporting every bad cell -------------------------------------

def _factorized(values: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Apply ``parse`` to the distinct values only (a month column has one or two)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = parse(pd.Series(uniques, dtype=object)).to_numpy()
    if len(parsed) == 0:
        return np.empty(len(values), dtype=parsed.dtype)
    return parsed[codes]


def parse_text(table: Table, column: str, problems: list[Problem], *, required: bool = True,
               max_length: int | None = None, truncate: bool = False) -> pd.Series:
    """Text values (None where empty); empty required cells and over-long codes are problems."""
    values = table.col(column)
    empty = (values == "").to_numpy()
    if required and table.has(column):
        table.report(problems, empty, column, "is empty", with_value=False)
    if max_length is not None:
        long = (values.str.len() > max_length).to_numpy()
        if truncate:
            values = values.str.slice(0, max_length)
        else:
            table.report(problems, long, column, f"is longer than {max_length} characters")
    out = values.astype(object).where(~empty, None)
    return out


def _clean_number_text(values: pd.Series, decimal_comma: bool) -> pd.Series:
    text = values.str.replace(r"[£$€%\s]", "", regex=True)
    comma = text.str.contains(",", regex=False)
    if not comma.any():
        pass
    elif decimal_comma:
        text = text.where(~comma, text.str.replace(".", "", regex=False)
                          .str.replace(",", ".", regex=False))
    else:
        # Commas only as thousands separators (1,234,567.5); "1,5" stays and is reported.
        thousands = comma & text.str.fullmatch(r"[-+(]?\d{1,3}(,\d{3})+(\.\d*)?\)?")
        text = text.where(~thousands, text.str.replace(",", "", regex=False))
    # Accounting negatives: (1,234) means -1234.
    bracketed = text.str.startswith("(") & text.str.endswith(")")
    if bracketed.any():
        text = text.where(~bracketed, "-" + text.str.slice(1, -1))
    return text


def parse_number(table: Table, column: str, problems: list[Problem], *, required: bool = False,
                 integer: bool = False, minimum: float | None = None,
                 maximum: float | None = None) -> pd.Series:
    """Numbers (NaN where empty); pound signs, thousands separators and "(12)" are accepted."""
    values = table.col(column)
    empty = (values == "").to_numpy()
    numbers = pd.to_numeric(_clean_number_text(values, table.decimal_comma), errors="coerce")
    numbers = numbers.astype("float64")
    bad = ~empty & numbers.isna().to_numpy()
    table.report(problems, bad, column, "is not a number")
    if required and table.has(column):
        table.report(problems, empty, column, "is empty", with_value=False)
    ok = numbers.notna().to_numpy()
    if integer:
        fractional = ok & (np.floor(numbers.to_numpy()) != numbers.to_numpy())
        table.report(problems, fractional, column, "is not a whole number")
    if minimum is not None:
        table.report(problems, ok & (numbers.to_numpy() < minimum), column,
                     f"is below the smallest allowed value, {minimum:g}")
    if maximum is not None:
        table.report(problems, ok & (numbers.to_numpy() > maximum), column,
                     f"is above the largest allowed value, {maximum:g}")
    return numbers


_DATE_FORMATS = (
    "%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%y", "%d/%m/%y %H:%M", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d",
    "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y",
)
_MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%m/%Y", "%b-%y", "%b %Y", "%B %Y", "%b-%Y", "%B-%Y", "%b %y")


def _by_formats(values: pd.Series, formats: Sequence[str]) -> pd.Series:
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    todo = values != ""
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(values[todo], format=fmt, errors="coerce")
        hit = parsed.notna()
        out.loc[parsed.index[hit]] = parsed[hit].astype("datetime64[us]")
        todo.loc[parsed.index[hit]] = False
    return out


def _excel_serials(values: pd.Series) -> pd.Series:
    serial = pd.to_numeric(values, errors="coerce")
    serial = serial.where((serial >= _SERIAL_MIN) & (serial <= _SERIAL_MAX))
    days = pd.to_timedelta(serial.round(6), unit="D")
    return (EXCEL_EPOCH + days).astype("datetime64[us]").dt.round("s")


def _parse_dates(values: pd.Series) -> pd.Series:
    out = _by_formats(values, _DATE_FORMATS)
    return out.fillna(_excel_serials(values))


def parse_date(table: Table, column: str, problems: list[Problem], *,
               required: bool = True) -> pd.Series:
    """Dates, with a time of day when one is given (NaT where empty).

    Accepts ISO (2025-01-31), UK (31/01/2025, 31-Jan-2025), either with a time, and Excel serial
    numbers; US month-first dates are not guessed at.
    """
    values = table.col(column)
    empty = (values == "").to_numpy()
    parsed = pd.Series(_factorized(values, _parse_dates), index=values.index)
    parsed = parsed.astype("datetime64[us]")
    bad = ~empty & parsed.isna().to_numpy()
    table.report(problems, bad, column, "is not a date (write it as YYYY-MM-DD or DD/MM/YYYY)")
    if required and table.has(column):
        table.report(problems, empty, column, "is empty", with_value=False)
    return parsed


def _parse_months(values: pd.Series) -> pd.Series:
    out = _by_formats(values, _MONTH_FORMATS)
    rest = out.isna() & (values != "")
    if rest.any():
        out[rest] = _parse_dates(values[rest])
    return out.dt.to_period("M").dt.start_time.astype("datetime64[us]")


def parse_month(table: Table, column: str, problems: list[Problem], *,
                required: bool = True) -> pd.Series:
    """First day of the month named (2025-01, Jan-25, January 2025, a date, an Excel serial)."""
    values = table.col(column)
    empty = (values == "").to_numpy()
    parsed = pd.Series(_factorized(values, _parse_months), index=values.index)
    parsed = parsed.astype("datetime64[us]")
    bad = ~empty & parsed.isna().to_numpy()
    table.report(problems, bad, column, "is not a month (write it as YYYY-MM)")
    if required and table.has(column):
        table.report(problems, empty, column, "is empty", with_value=False)
    return parsed


_TIME_RE = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2}[ T])?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?$")


def _hour_of(text: str) -> float:
    m = _TIME_RE.match(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if m.group(4):
            if not 1 <= hour <= 12:
                return np.nan
            hour = hour % 12 + (12 if m.group(4).lower() == "pm" else 0)
        return float(hour) if hour < 24 and minute < 60 else np.nan
    if re.fullmatch(r"\d{3,4}", text):  # 1745 or 945, as many police systems write times
        hour, minute = divmod(int(text), 100)
        return float(hour) if hour < 24 and minute < 60 else np.nan
    try:
        fraction = float(text)  # an Excel time stored as a fraction of a day
    except ValueError:
        return np.nan
    if 0 <= fraction < 1:
        return float(int(fraction * 24 + 1e-9))
    return np.nan


def parse_hour(table: Table, column: str, problems: list[Problem]) -> pd.Series:
    """Hour of day 0-23 from a time (17:45, 5:45 PM, 1745, an Excel fraction); <NA> when empty."""
    values = table.col(column)
    empty = (values == "").to_numpy()
    hours = _factorized(values, lambda u: u.map(lambda t: np.nan if t == "" else _hour_of(t)))
    hours = pd.Series(hours.astype("float64"), index=values.index)
    table.report(problems, ~empty & hours.isna().to_numpy(), column,
                 "is not a time of day (write it as HH:MM, 24-hour clock)")
    return hours.round().astype("Int16")


_TRUE = {"true", "t", "yes", "y", "1", "x"}
_FALSE = {"false", "f", "no", "n", "0", ""}


def parse_bool(table: Table, column: str, problems: list[Problem]) -> pd.Series:
    """Yes/no flags (TRUE/FALSE, Yes/No, Y/N, 1/0; empty is no)."""
    values = table.col(column).str.lower()
    truth = values.isin(_TRUE).to_numpy()
    bad = ~(truth | values.isin(_FALSE).to_numpy())
    table.report(problems, bad, column, "is not yes or no (write TRUE or FALSE)")
    return pd.Series(truth, index=values.index)


def report_duplicates(table: Table, key: Sequence[str] | pd.DataFrame, problems: list[Problem],
                      *, what: str = "row") -> np.ndarray:
    """Rows repeating an earlier row's key are problems naming that row; returns their mask.

    ``key`` is a list of the table's columns or a frame of parsed key values, row for row.
    """
    if not isinstance(key, pd.DataFrame):
        key = table.frame[[k for k in key if k in table.frame]]
    frame = key
    frame = frame.reset_index(drop=True)
    dup = frame.duplicated(keep=False).to_numpy()
    later = np.zeros(len(table), bool)
    if not dup.any():
        return later
    label = ", ".join(table.label(c) for c in frame.columns)
    first_row: dict[tuple, int] = {}
    for i in np.flatnonzero(dup):
        k = tuple(frame.iloc[i])
        if k in first_row:
            later[i] = True
            problems.append(Problem(table.file, int(table.rows[i]), None, (
                f"repeats the {what} on row {first_row[k]} (same {label})"),
                " / ".join(map(str, k))))
        else:
            first_row[k] = int(table.rows[i])
    return later


# --- small helpers ---------------------------------------------------------------------------

def slugify(text: str) -> str:
    """A category-style identifier: "Criminal damage & arson" -> "criminal_damage_and_arson"."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower().replace("&", " and ")).strip("_")


def format_notes(values: dict[str, object]) -> str:
    """``imports.notes`` text: "force: City of London Police; lsoa: 2011"."""
    return "; ".join(f"{k}: {v}" for k, v in values.items() if v not in (None, ""))


def parse_notes(text: str | None) -> dict[str, str]:
    """The inverse of :func:`format_notes` (unknown text is ignored)."""
    out = {}
    for part in (text or "").split("; "):
        key, sep, value = part.partition(": ")
        if sep:
            out[key.strip()] = value.strip()
    return out


def month_floor(values: pd.Series) -> pd.Series:
    """First day of each value's month (datetime64)."""
    return pd.to_datetime(values).dt.to_period("M").dt.start_time


def fy_start_of(dates: pd.Series) -> np.ndarray:
    """Financial-year start year of each date (April-March)."""
    d = pd.to_datetime(dates)
    year, month = d.dt.year.to_numpy(), d.dt.month.to_numpy()
    return np.where(month >= 4, year, year - 1)


def who_am_i() -> str:
    """The operator's name for the imports log ($USER, else the login name, else "unknown")."""
    name = os.environ.get("USER") or os.environ.get("USERNAME")
    if not name:
        import getpass
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return name
