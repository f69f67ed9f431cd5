"""Import the finance team's Community Safety Fund spreadsheet: spend by month and allocations.

Two kinds of file, CSV or XLSX, one table per file with a header row (column names are matched
case-insensitively; spaces and hyphens count as underscores):

Spend (``kind="spend"``), one row per project and month:
    financial_year   required  "2017/18"
    project_id       either    the id shown on the fund page (preferred), or
    project          either    the project's name exactly as on the fund page
    month            required  "2017-04", "Apr 2017", "April 2017", "01/04/2017" or a date cell
    amount           required  actual spend for the month in pounds: 1234.50, "£1,234.50";
                               "(1,234)" or "-1,234" for a credit. May be blank (= 0) only for
                               a future month that has a profile_amount
    profile_amount   optional  planned spend for the month in pounds (not negative)

Allocations (``kind="allocations"``), one row per project and source of funding:
    financial_year   required
    project_id / project  as above
    funding          required  "new" (this year's grant) or "carry_forward"
    amount           required  pounds, not negative

Every row is checked and every problem is collected (file, row, column, problem); if there is
any, nothing is written and :class:`FundImportError` carries the list. Otherwise the rows
replace any already held for the same key (project and month, or project and funding) inside
the caller's transaction, so loading the same file twice leaves the same figures. Each load is
logged in ``imports`` and spend rows point at their load through ``import_id``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from data_access.importers import common
from data_access.loading import log_import, next_id
from data_access.schema import fund_allocations, fund_projects, fund_spend, imports
from kpis.periods import fy_label, parse_fy

KINDS = ("spend", "allocations")
FUNDING = ("new", "carry_forward")
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000

COLUMN_DOCS = {
    "spend": (
        ("financial_year", "required", "Financial year, e.g. 2017/18"),
        ("project_id", "project_id or project", "Project id as shown on the fund page"),
        ("project", "project_id or project", "Project name exactly as on the fund page"),
        ("month", "required", "Month of spend: 2017-04, Apr 2017 or a date"),
        ("amount", "required", "Actual spend in pounds; (1,234) or -1,234 for a credit"),
        ("profile_amount", "optional", "Planned spend for the month in pounds"),
    ),
    "allocations": (
        ("financial_year", "required", "Financial year, e.g. 2017/18"),
        ("project_id", "project_id or project", "Project id as shown on the fund page"),
        ("project", "project_id or project", "Project name exactly as on the fund page"),
        ("funding", "required", "new (this year's grant) or carry_forward"),
        ("amount", "required", "Allocation in pounds"),
    ),
}
_REQUIRED = {"spend": ("financial_year", "month", "amount"),
             "allocations": ("financial_year", "funding", "amount")}
_ALIASES = {
    "project_name": "project", "name": "project", "id": "project_id", "year": "financial_year",
    "fy": "financial_year", "profile": "profile_amount", "planned": "profile_amount",
    "spend": "amount", "actual": "amount", "month_start": "month",
}
_MONEY_NUMBER = re.compile(r"([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?")
_MONTH_FORMATS = ("%Y-%m", "%Y-%m-%d", "%d/%m/%Y", "%m/%Y", "%b %Y", "%B %Y", "%b-%Y", "%B-%Y",
                  "%b-%y", "%b %y", "%Y/%m")


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import file; ``row`` is the spreadsheet row (header = 1)."""

    file: str
    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.problem}"


class FundImportError(Exception):
    """The file was not loaded; ``problems`` lists every reason found."""

    def __init__(self, problems: list[ImportProblem]):
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"fund import rejected: {first}{more}")


@dataclass(frozen=True)
class ImportResult:
    """What a successful load did."""

    import_id: int
    kind: str
    file_name: str
    rows_read: int
    rows_added: int
    rows_replaced: int


# --- parsing single values --------------------------------------------------------------------

def parse_money(value: object) -> Decimal:
    """Pounds from a cell: 1234.5, "1,234.50", "£1,234.50", "(1,234)" = -1234; else ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("is empty")
    if isinstance(value, bool):
        raise ValueError(f"is not an amount of money: {value!r}")
    if isinstance(value, (int, Decimal)):
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"is not an amount of money: {value!r}")
        pence = round(value * 100)
        if abs(value * 100 - pence) > 1e-6:
            raise ValueError(f"has more than two decimal places: {value!r}")
        return (Decimal(pence) / 100).quantize(Decimal("0.01"))
    if not isinstance(value, str):
        raise ValueError(f"is not an amount of money: {value!r}")
    text = value.strip().replace("\u00a0", "").replace(" ", "").replace("\u2212", "-")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    sign_seen = False
    for _ in range(2):  # "-£1,234" and "£-1,234" are both seen in finance extracts
        if text[:1] in ("-", "+"):
            if sign_seen:
                raise ValueError(f"is not an amount of money: {value!r}")
            negative ^= text[0] == "-"
            sign_seen = True
            text = text[1:]
        if text.upper().startswith("GBP"):
            text = text[3:]
        elif text.startswith("£"):
            text = text[1:]
    if sign_seen and value.strip().startswith("("):
        raise ValueError(f"uses both brackets and a sign: {value!r}")
    if not _MONEY_NUMBER.fullmatch(text):
        if re.fullmatch(r"[0-9,]+\.[0-9]{3,}", text):
            raise ValueError(f"has more than two decimal places: {value!r}")
        raise ValueError(f"is not an amount of money: {value!r}")
    amount = Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
    return -amount if negative else amount


def parse_month(value: object) -> dt.date:
    """First day of the month named by a cell: a date, "2017-04", "Apr 2017", "01/04/2017"."""
    if isinstance(value, dt.datetime):
        return value.date().replace(day=1)
    if isinstance(value, dt.date):
        return value.replace(day=1)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is empty" if value in (None, "") else f"is not a month: {value!r}")
    text = " ".join(value.strip().split())
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", text):
        text = text[:10]
    for fmt in _MONTH_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().replace(day=1)
        except ValueError:
            continue
    raise ValueError(f"is not a month (write 2017-04 or Apr 2017): {value!r}")


def parse_financial_year(value: object) -> int:
    """Start year from "2017/18" (or "2017-18"); ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("is empty")
    text = str(value).strip().replace("-", "/")
    try:
        return parse_fy(text)
    except ValueError:
        raise ValueError(f"is not a financial year (write 2017/18): {value!r}") from None


def _parse_project_id(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"is not a project id: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+(\.0+)?", text):
        return int(float(text)) if "." in text else int(text)
    raise ValueError(f"is not a project id: {value!r}")


def _normal_name(name: object) -> str:
    return " ".join(str(name).split()).casefold()


def _normal_header(name: object) -> str:
    text = re.sub(r"[\s\-]+", "_", str(name or "").strip().lower()).strip("_")
    text = text.replace("£", "").replace("(", "").replace(")", "").strip("_")
    return _ALIASES.get(text, text)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- reading files ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[tuple[int, dict]]  # (spreadsheet row number, {column: value})


def _read_csv(data: bytes) -> _Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Windows saves "CSV" in the Windows code page, where "£" is byte 0xA3.
        text = data.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, dict]] = []
    for record in reader:
        if header is None:
            if any(cell.strip() for cell in record):
                header = [_normal_header(c) for c in record]
            continue
        if not any(cell.strip() for cell in record):
            continue
        padded = record + [""] * (len(header) - len(record))
        rows.append((reader.line_num, dict(zip(header, padded))))
        if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
            rows[-1][1]["__extra__"] = True
    return _Table(header or [], rows)


def _read_xlsx(data: bytes, kind: str | None) -> _Table:
    import openpyxl  # read_only streams rows; _read_workbook has checked the archive and XML

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for ws in workbook.worksheets:
            if kind and ws.title.strip().lower() == kind:
                sheet = ws
        header: list[str] | None = None
        rows: list[tuple[int, dict]] = []
        for number, record in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = list(record)
            if header is None:
                if any(not _blank(v) for v in values):
                    header = [_normal_header(v) for v in values]
                continue
            if all(_blank(v) for v in values):
                continue
            if len(rows) > MAX_ROWS:
                break
            rows.append((number, dict(zip(header, values + [None] * (len(header) - len(values))))))
        return _Table(header or [], rows)
    finally:
        workbook.close()


def _read_workbook(file_name: str, data: bytes, kind: str | None) -> _Table:
    """An .xlsx upload read with the partnership importers' guards: never without defusedxml
    (an "XML bomb" or an external entity is then refused, not expanded), never a workbook
    packed like a zip bomb, and any read error a problem in the file."""
    def refused(message: str) -> FundImportError:
        return FundImportError([ImportProblem(file_name, None, None, f"the file {message}")])

    if not common.xml_is_defused():
        raise refused("cannot be read safely on this server: .xlsx reading needs the "
                      "defusedxml package (install it, and do not set "
                      "OPENPYXL_DEFUSEDXML=False); save the file as CSV")
    problem = common.xlsx_archive_problem(data, MAX_BYTES * common.MAX_UNPACKED_FACTOR)
    if problem:
        raise refused(problem)
    try:
        return _read_xlsx(data, kind)
    except Exception as exc:  # a damaged workbook raises anything from zipfile to XML errors
        raise refused(common.xlsx_failure(exc)) from None


def read_fund_file(file_name: str, data: bytes, kind: str | None = None) -> _Table:
    """Header and rows of a CSV or XLSX file; raises FundImportError when it cannot be read."""
    lower = file_name.lower()
    if len(data) > MAX_BYTES:
        raise FundImportError([ImportProblem(
            file_name, None, None, f"file is larger than {MAX_BYTES // 1024 // 1024} MB")])
    if lower.endswith(".csv"):
        try:
            table = _read_csv(data)
        except Exception as exc:  # the csv module's own errors (a NUL byte, a field too long)
            raise FundImportError([ImportProblem(
                file_name, None, None, f"could not be read as CSV: {type(exc).__name__}")]
            ) from None
    elif lower.endswith(".xlsx"):
        table = _read_workbook(file_name, data, kind)
    else:
        raise FundImportError([ImportProblem(
            file_name, None, None, "only .csv and .xlsx files can be imported (save an .xls "
                                   "file as .xlsx first)")])
    if not table.header:
        raise FundImportError([ImportProblem(file_name, None, None, "the file is empty")])
    if len(table.rows) > MAX_ROWS:
        raise FundImportError([ImportProblem(file_name, None, None,
                                             f"more than {MAX_ROWS:,} rows; split the file")])
    return table


def detect_kind(header: list[str]) -> str | None:
    """'allocations' when there is a funding column, 'spend' when there is a month column."""
    if "funding" in header:
        return "allocations"
    if "month" in header:
        return "spend"
    return None


# --- validation -------------------------------------------------------------------------------

def _project_lookup(conn: sa.engine.Connection, years: set[int]) -> tuple[dict, dict]:
    if not years:
        return {}, {}
    p = fund_projects.c
    stmt = (sa.select(p.project_id, p.fy_start, p.name, p.decision)
            .where(p.fy_start.in_(sa.bindparam("years", sorted(years), expanding=True))))
    by_id, by_name = {}, {}
    for project_id, fy, name, decision in conn.execute(stmt):
        by_id[int(project_id)] = (int(fy), name, decision)
        by_name.setdefault((int(fy), _normal_name(name)), []).append(int(project_id))
    return by_id, by_name


def validate_fund_rows(
    conn: sa.engine.Connection, file_name: str, table: _Table, kind: str
) -> list[ImportProblem]:
    """Every problem in a file already read with :func:`read_fund_file`; writes nothing.

    Needs only a read-only connection (the page's dry run uses one).
    """
    return _validate(conn, file_name, table, kind)[1]


def _validate(
    conn: sa.engine.Connection, file_name: str, table: _Table, kind: str
) -> tuple[list[dict], list[ImportProblem]]:
    problems: list[ImportProblem] = []

    def problem(row: int | None, column: str | None, text: str) -> None:
        problems.append(ImportProblem(file_name, row, column, text))

    header = set(table.header)
    missing = [c for c in _REQUIRED[kind] if c not in header]
    if "project_id" not in header and "project" not in header:
        missing.append("project_id or project")
    for column in missing:
        problem(1, column, "required column is missing")
    if missing:
        return [], problems
    if not table.rows:
        problem(None, None, "the file has a header but no rows")
        return [], problems

    years: set[int] = set()
    for _, values in table.rows:
        try:
            years.add(parse_financial_year(values.get("financial_year")))
        except ValueError:
            pass
    by_id, by_name = _project_lookup(conn, years)

    records: list[dict] = []
    seen: dict[tuple, int] = {}
    for number, values in table.rows:
        before = len(problems)
        if values.get("__extra__"):
            problem(number, None, "more cells than there are column headings")
        fy = None
        try:
            fy = parse_financial_year(values.get("financial_year"))
        except ValueError as exc:
            problem(number, "financial_year", str(exc))

        project_id = None
        raw_id, raw_name = values.get("project_id"), values.get("project")
        if _blank(raw_id) and _blank(raw_name):
            problem(number, "project_id", "give a project_id or a project name")
        elif not _blank(raw_id):
            try:
                project_id = _parse_project_id(raw_id)
            except ValueError as exc:
                problem(number, "project_id", str(exc))
            else:
                known = by_id.get(project_id)
                if fy is not None and known is None:
                    problem(number, "project_id",
                            f"unknown project {project_id} in {fy_label(fy)}")
                    project_id = None
                elif known is not None and fy is not None and known[0] != fy:
                    problem(number, "project_id",
                            f"project {project_id} belongs to {fy_label(known[0])}, "
                            f"not {fy_label(fy)}")
                    project_id = None
                elif known is not None and not _blank(raw_name) \
                        and _normal_name(raw_name) != _normal_name(known[1]):
                    problem(number, "project",
                            f"project {project_id} is {known[1]!r}, not {str(raw_name).strip()!r}")
                    project_id = None
        elif fy is not None:
            ids = by_name.get((fy, _normal_name(raw_name)), [])
            if not ids:
                problem(number, "project",
                        f"unknown project {str(raw_name).strip()!r} in {fy_label(fy)}")
            elif len(ids) > 1:
                problem(number, "project",
                        f"more than one project is called {str(raw_name).strip()!r} "
                        f"in {fy_label(fy)}; use project_id")
            else:
                project_id = ids[0]
        if project_id is not None and by_id[project_id][2] != "approved":
            problem(number, "project_id", f"project {project_id} is not approved "
                                          f"(decision: {by_id[project_id][2]})")
            project_id = None

        record: dict = {"project_id": project_id}
        if kind == "spend":
            month = None
            try:
                month = parse_month(values.get("month"))
            except ValueError as exc:
                problem(number, "month", str(exc))
            if month is not None and fy is not None and not (
                    dt.date(fy, 4, 1) <= month <= dt.date(fy + 1, 3, 1)):
                problem(number, "month", f"{month:%b %Y} is not in {fy_label(fy)}")
            profile = None
            if not _blank(values.get("profile_amount")):
                try:
                    profile = parse_money(values.get("profile_amount"))
                    if profile < 0:
                        problem(number, "profile_amount", "must not be negative")
                except ValueError as exc:
                    problem(number, "profile_amount", str(exc))
            amount = None
            if _blank(values.get("amount")) and profile is not None:
                amount = Decimal("0.00")  # a month still to come: profile only
            else:
                try:
                    amount = parse_money(values.get("amount"))
                except ValueError as exc:
                    problem(number, "amount", str(exc))
            record |= {"month_start": month, "amount": amount, "profile_amount": profile}
            key = (project_id, month)
        else:
            funding = re.sub(r"[\s\-]+", "_", str(values.get("funding") or "").strip().lower())
            funding = {"carryforward": "carry_forward", "cf": "carry_forward", "grant": "new"}.get(
                funding, funding)
            if funding not in FUNDING:
                problem(number, "funding",
                        f"must be new or carry_forward, not {values.get('funding')!r}")
            amount = None
            try:
                amount = parse_money(values.get("amount"))
                if amount < 0:
                    problem(number, "amount", "an allocation must not be negative")
            except ValueError as exc:
                problem(number, "amount", str(exc))
            record |= {"funding": funding, "amount": amount}
            key = (project_id, funding)
        if len(problems) == before:
            if key in seen:
                what = "month" if kind == "spend" else "funding"
                problem(number, None, f"duplicate row: same project and {what} as row {seen[key]}")
            else:
                seen[key] = number
                records.append(record)
    return records, problems


# --- writing ----------------------------------------------------------------------------------

def import_fund_file(
    conn: sa.engine.Connection,
    file_name: str,
    data: bytes,
    kind: str | None = None,
    *,
    loaded_by: str | None = None,
    loaded_at: dt.datetime | None = None,
) -> ImportResult:
    """Validate and load one spend or allocations file inside the caller's open transaction.

    Raises :class:`FundImportError` with every problem found, before anything is written.
    """
    table = read_fund_file(file_name, data, kind)
    kind = kind or detect_kind(table.header)
    if kind not in KINDS:
        raise FundImportError([ImportProblem(
            file_name, 1, None, "cannot tell spend from allocations: a spend file needs a month "
                                "column, an allocations file a funding column")])
    records, problems = _validate(conn, file_name, table, kind)
    if problems:
        raise FundImportError(problems)

    target = fund_spend if kind == "spend" else fund_allocations
    key_column = "month_start" if kind == "spend" else "funding"
    ids = sorted({r["project_id"] for r in records})
    existing = {
        (int(pid), k) for pid, k in conn.execute(
            sa.select(target.c.project_id, target.c[key_column])
            .where(target.c.project_id.in_(sa.bindparam("ids", ids, expanding=True))))
    }
    if kind == "spend":
        existing = {(pid, k.date() if isinstance(k, dt.datetime) else k) for pid, k in existing}
    replaced = [r for r in records if (r["project_id"], r[key_column]) in existing]

    import_id = next_id(conn, imports.c.import_id)
    if replaced:
        conn.execute(
            target.delete().where(target.c.project_id == sa.bindparam("b_project_id"),
                                  target.c[key_column] == sa.bindparam("b_key")),
            [{"b_project_id": r["project_id"], "b_key": r[key_column]} for r in replaced],
        )
    if kind == "spend":
        rows = [r | {"import_id": import_id} for r in records]
        months = [r["month_start"] for r in records]
        period = (min(months), max(months))
    else:
        rows = records
        period = (None, None)
    conn.execute(target.insert(), rows)
    stamp = {"loaded_at": loaded_at} if loaded_at is not None else {}
    log_import(
        conn, import_id=import_id, kind=f"fund_{kind}", source="finance",
        file_name=file_name[:300], loaded_by=loaded_by, rows_read=len(table.rows),
        rows_added=len(records) - len(replaced), rows_replaced=len(replaced), rows_rejected=0,
        period_from=period[0], period_to=period[1],
        notes=f"sha256 {hashlib.sha256(data).hexdigest()}", **stamp,
    )
    return ImportResult(import_id, kind, file_name, len(table.rows), len(records) - len(replaced),
                        len(replaced))


# --- templates --------------------------------------------------------------------------------

_EXAMPLES = {
    "spend": [
        {"financial_year": "2017/18", "project_id": "2017040", "project": "Mediation",
         "month": "2017-04", "amount": "1,234.50", "profile_amount": "1,416.67"},
        {"financial_year": "2017/18", "project_id": "", "project": "Mediation",
         "month": "2017-05", "amount": "(250.00)", "profile_amount": "1,416.67"},
    ],
    "allocations": [
        {"financial_year": "2017/18", "project_id": "2017040", "project": "Mediation",
         "funding": "new", "amount": "17,000"},
        {"financial_year": "2017/18", "project_id": "", "project": "LCSP East",
         "funding": "carry_forward", "amount": "3,000"},
    ],
}


def template_bytes(kind: str, fmt: str) -> bytes:
    """A sample file to fill in: ``kind`` spend or allocations, ``fmt`` csv or xlsx."""
    import pandas as pd

    from kpis.exports import to_csv_bytes, to_xlsx_bytes

    if kind not in KINDS or fmt not in ("csv", "xlsx"):
        raise ValueError(f"no template for {kind!r} as {fmt!r}")
    example = pd.DataFrame(_EXAMPLES[kind], columns=[c for c, _, _ in COLUMN_DOCS[kind]])
    if fmt == "csv":
        return to_csv_bytes(example)
    notes = pd.DataFrame(COLUMN_DOCS[kind], columns=["column", "needed", "meaning"])
    return to_xlsx_bytes({kind: example, "Notes": notes})
