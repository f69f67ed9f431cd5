"""Partnership records: KPI returns, outputs/actions and calendar events, from CSV or XLSX.

KPI values (kind ``kpis``; a sheet or file whose header has these columns):
    kpi_id        required  the KPI's id (as in kpis/registry.yaml or the kpi_definitions table)
    area_code     required  the area's code or exact name (partnership, LCSP or ward)
    period        required  a month (2025-04, Apr-25, a date) or a quarter ("2025/26 Q1")
    period_grain  optional  month or quarter (default: quarter for "Qn" periods, else month)
    value         optional  the figure; when blank it is numerator / denominator (x100 for a
                            percentage, x1,000 for a rate per 1,000)
    numerator, denominator, target, baseline   optional numbers
    is_provisional optional TRUE when the figure may still change
A value replaces the one held for the same KPI, area and period. A KPI id the database does not
hold yet but ``kpis/registry.yaml`` declares is added to ``kpi_definitions`` from there.

Outputs/actions (kind ``kpis`` too; the header decides):
    code, title, board, status required; owner, lcsp (code or name), due_date, status_date, notes
    optional. ``board`` is a board id or label; ``status`` is not started / on track / at risk /
    off track / complete, or Red / Amber / Green. A row replaces the action held for the same
    board, code and LCSP (keeping its id).

Events (kind ``events``): name, kind (school holiday, bank holiday, local event, operation),
start_date required; end_date (default: the start), area (code or name), longitude, latitude,
notes optional. Also the GOV.UK bank-holidays JSON feed (``--division``) and a school-terms
JSON list (``[{"name", "type": "holiday"|"term", "start", "end"}]``, holidays only). An event
replaces the one held with the same kind, name and start date.

A workbook may hold several sheets; sheets matching none of the layouts (notes, instructions)
are skipped with a warning. Every problem in every sheet is reported before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml

from data_access import schema
from data_access.importers import store
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, Column, ImportRejected, ImportSummary, Problem, RawSheet, Table,
    expand_inputs,
    header_match, make_table, parse_bool, parse_date, parse_month, parse_number, parse_text,
    raise_if, read_sheets, report_duplicates, slugify,
)
from kpis.periods import quarter_period

KPI_COLUMNS = (
    Column("kpi_id", "kpi_id", aliases=("kpi", "kpi_code", "indicator", "measure_id")),
    Column("area_code", "area_code", aliases=("area", "area_name")),
    Column("period", "period", aliases=("period_start", "month", "quarter")),
    Column("period_grain", "period_grain", required=False, aliases=("grain",)),
    Column("value", "value", required=False),
    Column("numerator", "numerator", required=False),
    Column("denominator", "denominator", required=False),
    Column("target", "target", required=False),
    Column("baseline", "baseline", required=False),
    Column("is_provisional", "is_provisional", required=False, aliases=("provisional",)),
)
ACTION_COLUMNS = (
    Column("code", "code", aliases=("output", "action_code", "ref")),
    Column("title", "title", aliases=("action", "description", "output_title")),
    Column("board", "board", aliases=("priority", "priority_board")),
    Column("status", "status", aliases=("rag", "rag_status")),
    Column("owner", "owner", required=False, aliases=("lead",)),
    Column("lcsp", "lcsp", required=False, aliases=("lcsp_code",)),
    Column("due_date", "due_date", required=False, aliases=("due", "deadline")),
    Column("status_date", "status_date", required=False, aliases=("updated", "as_at")),
    Column("notes", "notes", required=False, aliases=("comments", "update", "progress")),
)
EVENT_COLUMNS = (
    Column("name", "name", aliases=("event", "title")),
    Column("kind", "kind", aliases=("type", "event_type")),
    Column("start_date", "start_date", aliases=("start", "date", "from")),
    Column("end_date", "end_date", required=False, aliases=("end", "to")),
    Column("area", "area", required=False, aliases=("area_code", "ward")),
    Column("longitude", "longitude", required=False, aliases=("lon",)),
    Column("latitude", "latitude", required=False, aliases=("lat",)),
    Column("notes", "notes", required=False),
)

STATUSES = {
    "not_started": ("not started", "not yet started", "grey", "gray", "planned"),
    "on_track": ("on track", "green", "g", "in progress", "ongoing"),
    "at_risk": ("at risk", "amber", "a"),
    "off_track": ("off track", "red", "r", "delayed", "overdue"),
    "complete": ("complete", "completed", "done", "closed", "achieved", "blue"),
}
EVENT_KINDS = {
    "school_holiday": ("school holiday", "school holidays", "holiday", "half term"),
    "bank_holiday": ("bank holiday", "public holiday"),
    "local_event": ("local event", "event"),
    "operation": ("operation", "op", "police operation"),
}
_QUARTER = re.compile(r"^(?:(\d{4})/(\d{2})\s*Q([1-4])|Q([1-4])\s*(\d{4})/(\d{2}))$", re.I)


def _lookup_word(words: dict[str, tuple[str, ...]], text: str) -> str | None:
    key = slugify(text)
    for canonical, spellings in words.items():
        if key == canonical or key in {slugify(s) for s in spellings}:
            return canonical
    return None


def _csv(rows: Iterable[Iterable]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def template_csv() -> str:
    """A KPI-values template (an actions sheet takes code, title, board, status, ...)."""
    return _csv([
        ["kpi_id", "area_code", "period", "value", "numerator", "denominator", "target",
         "baseline", "is_provisional"],
        ["ct_requests", "E08000025", "2025-04", "12", "", "", "", "", "FALSE"],
        ["ct_first_response_24h", "E08000025", "2025/26 Q1", "", "45", "50", "90", "85", "TRUE"],
    ])


def events_template_csv() -> str:
    """An events template."""
    return _csv([
        ["name", "kind", "start_date", "end_date", "area", "longitude", "latitude", "notes"],
        ["Summer holidays", "school holiday", "2025-07-22", "2025-09-02", "", "", "", ""],
        ["Christmas market", "local event", "2025-11-13", "2025-12-23", "", "-1.9003", "52.4797",
         "Victoria Square and New Street"],
    ])


# --- reading ---------------------------------------------------------------------------------

@dataclass
class RecordsInput:
    """Validated KPI-value and action tables (area and KPI checks happen at load)."""

    files: list[str]
    kpi_tables: list[tuple[Table, pd.DataFrame]] = field(default_factory=list)
    action_tables: list[tuple[Table, pd.DataFrame]] = field(default_factory=list)
    event_tables: list[tuple[Table, pd.DataFrame]] = field(default_factory=list)
    rows_read: int = 0
    warnings: list[str] = field(default_factory=list)


def read_records(sources: Iterable, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RecordsInput:
    """Read KPI returns and action lists; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx"), max_bytes=max_bytes)
    raise_if(problems)
    out = RecordsInput([f.label for f in files])
    layouts = (("KPI values", KPI_COLUMNS, _kpi_frame, out.kpi_tables),
               ("outputs/actions", ACTION_COLUMNS, _action_frame, out.action_tables))
    for f in files:
        sheets = read_sheets(f, KPI_COLUMNS + ACTION_COLUMNS, problems, max_bytes=max_bytes)
        matched = 0
        for sheet in sheets:
            for _, spec, build, target in layouts:
                required = [c for c in spec if c.required]
                if header_match(sheet, required) == len(required):
                    table = make_table(sheet, spec, problems)
                    if table is not None:
                        out.rows_read += len(table)
                        frame = build(table, problems)
                        if frame is not None:
                            target.append((table, frame))
                    matched += 1
                    break
            else:
                if len(sheets) > 1:
                    out.warnings.append(f"{sheet.label}: not KPI values or actions; skipped")
        if sheets and not matched:
            best = max(sheets, key=lambda s: header_match(s, KPI_COLUMNS))
            spec = KPI_COLUMNS if header_match(best, KPI_COLUMNS) >= header_match(
                best, ACTION_COLUMNS) else ACTION_COLUMNS
            make_table(best, spec, problems)  # reports the missing columns
    raise_if(problems, out.rows_read)
    return out


def _kpi_frame(table: Table, problems: list[Problem]) -> pd.DataFrame | None:
    before = len(problems)
    kpi = parse_text(table, "kpi_id", problems, max_length=64)
    area = parse_text(table, "area_code", problems, max_length=200)
    text = table.col("period")
    quarter = text.str.match(_QUARTER.pattern, case=False).to_numpy()
    starts = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    grain = pd.Series("month", index=text.index, dtype=object)
    for k in np.flatnonzero(quarter):
        m = _QUARTER.match(text.iloc[k])
        year, yy, q = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (
            m.group(5), m.group(6), m.group(4))
        if (int(year) + 1) % 100 != int(yy):
            table.report(problems, np.arange(len(table)) == k, "period",
                         "is not a financial year like 2025/26")
            continue
        starts.iloc[k] = pd.Timestamp(quarter_period(int(year), int(q)).start)
        grain.iloc[k] = "quarter"
    rest = table.subset(~quarter)
    months = parse_month(rest, "period", problems)
    starts[~quarter] = months.to_numpy()
    if table.has("period_grain"):
        given = table.col("period_grain").str.lower().replace(
            {"monthly": "month", "quarterly": "quarter", "": None})
        bad = given.notna() & ~given.isin(["month", "quarter"])
        table.report(problems, bad.to_numpy(), "period_grain", "is not month or quarter")
        grain = given.where(given.isin(["month", "quarter"]), grain)
    off_quarter = (grain == "quarter") & starts.notna() & ~starts.dt.month.isin([1, 4, 7, 10])
    table.report(problems, off_quarter.to_numpy(), "period",
                 "is not the first month of a quarter (April, July, October or January)")
    numbers = {c: parse_number(table, c, problems) for c in
               ("value", "numerator", "denominator", "target", "baseline")}
    empty = numbers["value"].isna() & numbers["numerator"].isna()
    table.report(problems, empty.to_numpy(), "value", "has no value (give value, or numerator "
                 "and denominator)", with_value=False)
    provisional = parse_bool(table, "is_provisional", problems)
    if len(problems) > before:
        return None
    frame = pd.DataFrame({"kpi_id": kpi, "area": area, "period_start": starts,
                          "period_grain": grain, **numbers, "is_provisional": provisional})
    key = frame[["kpi_id", "area", "period_start"]].astype(str)
    if report_duplicates(table, key, problems, what="value for this KPI, area and period").any():
        return None
    return frame


def _action_frame(table: Table, problems: list[Problem]) -> pd.DataFrame | None:
    before = len(problems)
    code = parse_text(table, "code", problems, max_length=32)
    title = parse_text(table, "title", problems, max_length=300)
    board = parse_text(table, "board", problems, max_length=100)
    status_text = parse_text(table, "status", problems)
    status = status_text.map(lambda t: _lookup_word(STATUSES, t) if t else None)
    table.report(problems, (status.isna() & status_text.notna()).to_numpy(), "status", (
        "is not a status (not started, on track, at risk, off track, complete; "
        "or Red, Amber, Green)"))
    owner = parse_text(table, "owner", problems, required=False, max_length=120, truncate=True)
    lcsp = parse_text(table, "lcsp", problems, required=False, max_length=200)
    due = parse_date(table, "due_date", problems, required=False)
    status_date = parse_date(table, "status_date", problems, required=False)
    notes = parse_text(table, "notes", problems, required=False)
    if len(problems) > before:
        return None
    frame = pd.DataFrame({"code": code, "title": title, "board": board, "status": status,
                          "owner": owner, "lcsp": lcsp, "due_date": due,
                          "status_date": status_date, "notes": notes})
    key = frame[["board", "code", "lcsp"]].astype(str)
    if report_duplicates(table, key, problems, what="action (same board, code and LCSP)").any():
        return None
    return frame


# --- loading ---------------------------------------------------------------------------------

def _registry():
    """The validated KPI registry, or None when it cannot be read (then only the DB counts)."""
    from kpis.registry import RegistryError, load_registry

    try:
        return load_registry()
    except (OSError, RegistryError, yaml.YAMLError):
        return None


class _AreaNames:
    """Resolve an area given by code or by exact (case-insensitive) name."""

    def __init__(self, conn: sa.Connection, levels: tuple[str, ...] | None = None) -> None:
        a = schema.areas.c
        query = sa.select(a.code, a.name, a.level)
        if levels:
            query = query.where(a.level.in_(levels))
        rows = conn.execute(query).all()
        self.codes = {r.code.upper(): r.code for r in rows}
        names: dict[str, list[str]] = {}
        for r in rows:
            names.setdefault(str(r.name).strip().lower(), []).append(r.code)
        self.names = names

    def resolve(self, text: str) -> tuple[str | None, str | None]:
        """(code, None) or (None, why not)."""
        if text.upper() in self.codes:
            return self.codes[text.upper()], None
        found = self.names.get(text.strip().lower(), [])
        if len(found) == 1:
            return found[0], None
        if found:
            return None, f"names {len(found)} areas ({', '.join(found[:4])}): give the code"
        return None, "is not an area code or name held in the database (load the areas first)"


def _resolve_areas(table: Table, values: pd.Series, column: str, names: _AreaNames,
                   problems: list[Problem]) -> pd.Series:
    out = []
    for k, text in enumerate(values):
        if text is None:
            out.append(None)
            continue
        code, why = names.resolve(text)
        if why:
            problems.append(Problem(table.file, int(table.rows[k]), table.label(column), why, text))
        out.append(code)
    return pd.Series(out, index=values.index, dtype=object)


def load_records(conn: sa.Connection, data: RecordsInput, *, loaded_by: str) -> ImportSummary:
    """Write KPI values and actions (replacing the same keys); raises on unknown KPIs/areas."""
    summary = ImportSummary("kpis", files=data.files, rows_read=data.rows_read,
                            warnings=list(data.warnings))
    problems: list[Problem] = []
    names = _AreaNames(conn)
    registry = _registry()
    held = dict(conn.execute(sa.select(schema.kpi_definitions.c.kpi_id,
                                       schema.kpi_definitions.c.unit)).all())
    declared = {k.id: k for k in registry.kpis} if registry else {}
    new_defs: dict[str, dict] = {}
    prepared = []
    for table, frame in data.kpi_tables:
        frame = frame.copy()
        frame["area_code"] = _resolve_areas(table, frame["area"], "area_code", names, problems)
        for k, kpi in enumerate(frame["kpi_id"]):
            if kpi in held or kpi in new_defs:
                continue
            if kpi in declared:
                d = declared[kpi]
                new_defs[kpi] = {"kpi_id": kpi, "label": d.label, "board": d.board,
                                 "unit": d.unit, "polarity": d.polarity,
                                 "frequency": d.frequency, "description": d.description or None,
                                 "source": d.source or None}
            else:
                problems.append(Problem(table.file, int(table.rows[k]), table.label("kpi_id"), (
                    "is not a KPI the database or kpis/registry.yaml declares"), kpi))
        prepared.append((table, frame))
    action_ids = _prepare_actions(conn, data.action_tables, names, problems, summary)
    if problems:
        raise ImportRejected(problems, data.rows_read)
    if new_defs:
        conn.execute(schema.kpi_definitions.insert(), list(new_defs.values()))
        summary.details.append("KPI definitions added from the registry: "
                               + ", ".join(sorted(new_defs)))
    units = {**held, **{k: d["unit"] for k, d in new_defs.items()}}
    for table, frame in prepared:
        _write_kpi_values(conn, table, frame, units, loaded_by, summary)
    for (table, frame), ids in zip(data.action_tables, action_ids):
        _write_actions(conn, table, frame, ids, loaded_by, summary)
    return summary


def _write_kpi_values(conn, table: Table, frame: pd.DataFrame, units: dict, loaded_by: str,
                      summary: ImportSummary) -> None:
    kv = schema.kpi_values
    factor = frame["kpi_id"].map(lambda k: {"percentage": 100.0, "rate_per_1000": 1000.0}
                                 .get(units.get(k), 1.0))
    computed = frame["numerator"] / frame["denominator"].where(frame["denominator"] != 0) * factor
    frame["value"] = frame["value"].fillna(computed)
    import_id = store.start_import(conn, kind="kpis", source="kpi_return", file_name=table.file,
                                   loaded_by=loaded_by)
    rows = []
    for r in frame.itertuples():
        rows.append({"kpi_id": r.kpi_id, "area_code": r.area_code,
                     "period_start": r.period_start.date(), "period_grain": r.period_grain,
                     **{c: (None if pd.isna(getattr(r, c)) else float(getattr(r, c)))
                        for c in ("value", "numerator", "denominator", "target", "baseline")},
                     "is_provisional": bool(r.is_provisional), "import_id": import_id})
    keys = [{"b_kpi": r["kpi_id"], "b_area": r["area_code"], "b_period": r["period_start"]}
            for r in rows]
    existing = {(k, a, store.as_dates([p])[0]) for k, a, p in conn.execute(
        sa.select(kv.c.kpi_id, kv.c.area_code, kv.c.period_start).where(
            kv.c.kpi_id.in_(sa.bindparam("ids", sorted(set(frame["kpi_id"])), expanding=True))))}
    replaced = [k for k in keys if (k["b_kpi"], k["b_area"], k["b_period"]) in existing]
    if replaced:
        conn.execute(kv.delete().where(kv.c.kpi_id == sa.bindparam("b_kpi"),
                                       kv.c.area_code == sa.bindparam("b_area"),
                                       kv.c.period_start == sa.bindparam("b_period")), replaced)
    conn.execute(kv.insert(), rows)
    periods = [r["period_start"] for r in rows]
    store.finish_import(conn, import_id, rows_read=len(frame), rows_added=len(rows) - len(replaced),
                        rows_replaced=len(replaced), period_from=min(periods),
                        period_to=max(periods))
    summary.import_ids.append(import_id)
    summary.rows_added += len(rows) - len(replaced)
    summary.rows_replaced += len(replaced)
    summary.cover(min(periods), max(periods))
    summary.details.append(f"{table.file}: {len(rows):,} KPI values for "
                           f"{frame['kpi_id'].nunique()} KPIs")


def _known_boards(conn: sa.Connection) -> dict[str, str]:
    from kpis.registry import board_lookup

    registry = _registry()
    boards: dict[str, str] = {}
    if registry is not None:
        # ids, labels and acronyms ("VAWG") of the registry's boards
        boards.update({key.replace(" ", "_"): board for key, board in
                       board_lookup(registry.boards).items()})
    for table in (schema.actions, schema.kpi_definitions):
        for (b,) in conn.execute(sa.select(table.c.board).distinct()):
            boards.setdefault(slugify(b), b)
    return boards


def _prepare_actions(conn, tables, names_all: _AreaNames, problems: list[Problem],
                     summary: ImportSummary) -> list[list[int]]:
    """Resolve boards and LCSPs and choose ids (an existing action keeps its id)."""
    if not tables:
        return []
    ac = schema.actions.c
    boards = _known_boards(conn)
    lcsps = _AreaNames(conn, ("lcsp",))
    held = {(b, c, l or ""): i for i, b, c, l in conn.execute(
        sa.select(ac.action_id, ac.board, ac.code, ac.lcsp_code))}
    next_id = int(conn.execute(sa.select(sa.func.max(ac.action_id))).scalar() or 0) + 1
    out = []
    for table, frame in tables:
        resolved = frame["board"].map(lambda b: boards.get(slugify(b)))
        new_boards = sorted(set(frame.loc[resolved.isna(), "board"].map(slugify)))
        if new_boards:
            summary.warnings.append(f"{table.file}: new boards {', '.join(new_boards)}")
        frame["board"] = resolved.fillna(frame["board"].map(slugify))
        frame["lcsp_code"] = _resolve_areas(table, frame["lcsp"], "lcsp", lcsps, problems)
        ids = []
        for r in frame.itertuples():
            key = (r.board, r.code, r.lcsp_code or "")
            if key in held:
                ids.append(held[key])
            else:
                held[key] = next_id
                ids.append(next_id)
                next_id += 1
        out.append(ids)
    return out


def _write_actions(conn, table: Table, frame: pd.DataFrame, ids: list[int], loaded_by: str,
                   summary: ImportSummary) -> None:
    ac = schema.actions
    existing = {i for (i,) in conn.execute(sa.select(ac.c.action_id).where(
        ac.c.action_id.in_(sa.bindparam("ids", ids, expanding=True))))}
    if existing:
        conn.execute(ac.delete().where(ac.c.action_id.in_(
            sa.bindparam("ids", sorted(existing), expanding=True))))
    conn.execute(ac.insert(), [{
        "action_id": i, "code": r.code, "title": r.title, "board": r.board, "owner": r.owner,
        "lcsp_code": r.lcsp_code, "due_date": None if pd.isna(r.due_date) else r.due_date.date(),
        "status": r.status,
        "status_date": None if pd.isna(r.status_date) else r.status_date.date(), "notes": r.notes,
    } for i, r in zip(ids, frame.itertuples())])
    import_id = store.start_import(conn, kind="actions", source="action_plan",
                                   file_name=table.file, loaded_by=loaded_by)
    store.finish_import(conn, import_id, rows_read=len(frame), rows_added=len(ids) - len(existing),
                        rows_replaced=len(existing))
    summary.import_ids.append(import_id)
    summary.rows_added += len(ids) - len(existing)
    summary.rows_replaced += len(existing)
    summary.details.append(f"{table.file}: {len(ids):,} outputs/actions")


# --- events ----------------------------------------------------------------------------------

def read_events(sources: Iterable, *, division: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> RecordsInput:
    """Read events (CSV/XLSX, GOV.UK bank holidays JSON, school-terms JSON)."""
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx", ".json"),
                                    max_bytes=max_bytes)
    raise_if(problems)
    out = RecordsInput([f.label for f in files])
    for f in files:
        if f.name.lower().endswith(".json"):
            rows = _json_events(f.read(), f.label, division or "england-and-wales", problems)
            if rows is None:
                continue
            sheet_rows = [["name", "kind", "start_date", "end_date", "notes"], *rows]
            sheets = [RawSheet(f.label, sheet_rows, list(range(1, len(sheet_rows) + 1)))]
        else:
            sheets = read_sheets(f, EVENT_COLUMNS, problems, max_bytes=max_bytes)
        for sheet in sheets:
            table = make_table(sheet, EVENT_COLUMNS, problems)
            if table is None:
                continue
            out.rows_read += len(table)
            frame = _event_frame(table, problems)
            if frame is not None:
                out.event_tables.append((table, frame))
    raise_if(problems, out.rows_read)
    return out


def _json_events(data: bytes, label: str, division: str, problems: list[Problem]) -> list | None:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(label, None, None, f"is not valid JSON ({exc})"))
        return None
    if isinstance(doc, dict) and any(isinstance(v, dict) and "events" in v for v in doc.values()):
        if division not in doc:
            problems.append(Problem(label, None, None, (
                f"has no division '{division}' (it has: {', '.join(doc)}); use --division")))
            return None
        return [[e.get("title", ""), "bank_holiday", e.get("date", ""), e.get("date", ""),
                 e.get("notes", "")] for e in doc[division].get("events", [])]
    if isinstance(doc, list) and all(isinstance(e, dict) and {"name", "start"} <= set(e)
                                     for e in doc):
        return [[str(e["name"]).replace("_", " "), "school_holiday", e["start"], e.get("end", ""),
                 ""] for e in doc if str(e.get("type", "holiday")).lower() == "holiday"]
    problems.append(Problem(label, None, None, (
        "is neither the GOV.UK bank-holidays feed nor a list of school terms "
        '([{"name", "type", "start", "end"}])')))
    return None


def _event_frame(table: Table, problems: list[Problem]) -> pd.DataFrame | None:
    before = len(problems)
    name = parse_text(table, "name", problems, max_length=200)
    kind_text = parse_text(table, "kind", problems)
    kind = kind_text.map(lambda t: _lookup_word(EVENT_KINDS, t) if t else None)
    table.report(problems, (kind.isna() & kind_text.notna()).to_numpy(), "kind",
                 "is not school holiday, bank holiday, local event or operation")
    start = parse_date(table, "start_date", problems)
    end = parse_date(table, "end_date", problems, required=False).fillna(start)
    table.report(problems, (end < start).to_numpy(), "end_date", "is before the start date")
    area = parse_text(table, "area", problems, required=False)
    lon = parse_number(table, "longitude", problems, minimum=-11, maximum=3)
    lat = parse_number(table, "latitude", problems, minimum=49, maximum=61.5)
    notes = parse_text(table, "notes", problems, required=False)
    if len(problems) > before:
        return None
    frame = pd.DataFrame({"name": name, "kind": kind, "start_date": start.dt.normalize(),
                          "end_date": end.dt.normalize(), "area": area, "longitude": lon,
                          "latitude": lat, "notes": notes})
    key = frame[["kind", "name", "start_date"]].astype(str)
    if report_duplicates(table, key, problems, what="event (same kind, name and start)").any():
        return None
    return frame


def load_events(conn: sa.Connection, data: RecordsInput, *, loaded_by: str) -> ImportSummary:
    """Write events, replacing those with the same kind, name and start date."""
    ev = schema.events
    summary = ImportSummary("events", files=data.files, rows_read=data.rows_read)
    names = _AreaNames(conn)
    problems: list[Problem] = []
    resolved = [(t, f.assign(area_code=_resolve_areas(t, f["area"], "area", names, problems)))
                for t, f in data.event_tables]
    if problems:
        raise ImportRejected(problems, data.rows_read)
    held = {(k, n, store.as_dates([s])[0]): i for i, k, n, s in conn.execute(
        sa.select(ev.c.event_id, ev.c.kind, ev.c.name, ev.c.start_date))}
    next_id = int(conn.execute(sa.select(sa.func.max(ev.c.event_id))).scalar() or 0) + 1
    for table, frame in resolved:
        rows, replaced = [], []
        for r in frame.itertuples():
            key = (r.kind, r.name, r.start_date.date())
            if key in held:
                event_id = held[key]
                replaced.append(event_id)
            else:
                event_id = held[key] = next_id
                next_id += 1
            rows.append({"event_id": event_id, "name": r.name, "kind": r.kind,
                         "start_date": r.start_date.date(), "end_date": r.end_date.date(),
                         "area_code": r.area_code,
                         "longitude": None if pd.isna(r.longitude) else float(r.longitude),
                         "latitude": None if pd.isna(r.latitude) else float(r.latitude),
                         "notes": r.notes})
        if replaced:
            conn.execute(ev.delete().where(ev.c.event_id.in_(
                sa.bindparam("ids", replaced, expanding=True))))
        if rows:
            conn.execute(ev.insert(), rows)
        first = min((r["start_date"] for r in rows), default=None)
        last = max((r["end_date"] for r in rows), default=None)
        import_id = store.start_import(conn, kind="events", source="calendar", file_name=table.file,
                                       loaded_by=loaded_by)
        store.finish_import(conn, import_id, rows_read=len(frame),
                            rows_added=len(rows) - len(replaced), rows_replaced=len(replaced),
                            period_from=first, period_to=last)
        summary.import_ids.append(import_id)
        summary.rows_added += len(rows) - len(replaced)
        summary.rows_replaced += len(replaced)
        summary.cover(first, last)
        summary.details.append(f"{table.file}: {len(rows):,} events")
    return summary
