"""Load real data into the dashboard's database: ``python -m data_access.load <kind> <path...>``.

Kinds:
  police-uk          police.uk street-level monthly CSVs: files, a folder, or the site's zip
  police-uk-counts   monthly counts by LSOA x police.uk crime type, with month_complete
  partner-incidents  partner extracts with date and time (--source; see --template)
  boundaries         ONS GeoJSON of wards or LSOAs (2011 or 2021 codes)
  areas              the LSOA -> ward -> LCSP lookup with population (--fy-from for a regrouping)
  kpis               KPI values and outputs/actions from a CSV or XLSX return
  fund               Community Safety Fund spend or allocations (see data_access.fund_import)
  events             calendar events (CSV/XLSX, GOV.UK bank-holidays JSON, school terms JSON)

Writes to DATABASE_URL (the embedded DuckDB file when unset) or --database-url. A database that
does not exist yet is created with the schema and no sample data. Each run is one transaction:
when any file has a problem, every problem is listed (file, row, column, what) and nothing is
written; the exit status is then 1. A summary (rows read, added, replaced, rejected) is printed
and each file is logged in the ``imports`` table with who loaded it and when.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from data_access import engine as eng
from data_access import migrate, schema
from data_access.importers import areas, partner, police_counts, police_uk, records
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, ImportRejected, ImportSummary, Problem, expand_inputs, who_am_i,
)
from data_access.progress import TextProgress

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Kind:
    """One kind of import: reads and checks files, then writes inside the transaction."""

    name: str
    help: str
    read: Callable[..., object]  # (sources, options, progress) -> parsed input
    load: Callable[..., ImportSummary]  # (conn, parsed, options, loaded_by, progress) -> summary
    template: Callable[[dict], str] | None = None  # (options) -> a CSV template


def _fund_read(sources: Sequence, options: dict, progress: Progress | None) -> list:
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx"),
                                    max_bytes=options["max_bytes"])
    if problems:
        raise ImportRejected(problems)
    return [(f.label, f.read()) for f in files]


def _fund_load(conn: sa.Connection, files: list, options: dict, loaded_by: str,
               progress: Progress | None) -> ImportSummary:
    try:
        from data_access import fund_import
    except ImportError as exc:  # the fund importer ships separately
        raise RuntimeError("the fund importer (data_access/fund_import.py) is not installed") from exc
    summary = ImportSummary("fund", files=[label for label, _ in files])
    problems: list[Problem] = []
    for n, (label, data) in enumerate(files, start=1):
        try:
            result = fund_import.import_fund_file(conn, label, data, options.get("fund_kind"),
                                                   loaded_by=loaded_by)
        except fund_import.FundImportError as exc:
            problems += [Problem(p.file, p.row, p.column, p.problem) for p in exc.problems]
            continue
        summary.rows_read += result.rows_read
        summary.rows_added += result.rows_added
        summary.rows_replaced += result.rows_replaced
        summary.import_ids.append(result.import_id)
        summary.details.append(f"{label}: {result.kind}")
        if progress:
            progress(n, len(files), f"loaded {Path(label).name}")
    if problems:
        raise ImportRejected(problems, summary.rows_read)
    return summary


def _fund_template(kind: str) -> str:
    from data_access import fund_import
    return fund_import.template_bytes(kind, "csv").decode("utf-8-sig")


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("police-uk", "police.uk street-level monthly CSVs (files, a folder or the site's zip)",
         lambda s, o, p: police_uk.read_police_uk(s, max_bytes=o["max_bytes"], progress=p),
         lambda c, d, o, by, p: police_uk.load_police_uk(c, d, loaded_by=by, progress=p)),
    Kind("police-uk-counts", "monthly counts by LSOA x police.uk crime type",
         lambda s, o, p: police_counts.read_police_counts(
             s, area=o.get("area"), max_bytes=o["max_bytes"], progress=p),
         lambda c, d, o, by, p: police_counts.load_police_counts(c, d, loaded_by=by, progress=p)),
    Kind("partner-incidents", "partner extracts with date and time (calls, council ASB cases)",
         lambda s, o, p: partner.read_partner(
             s, source=o.get("source"), period_from=o.get("period_from"),
             period_to=o.get("period_to"), max_bytes=o["max_bytes"], progress=p),
         lambda c, d, o, by, p: partner.load_partner(c, d, loaded_by=by, progress=p),
         lambda o: partner.template_csv()),
    Kind("boundaries", "ONS GeoJSON boundaries of wards or LSOAs",
         lambda s, o, p: areas.read_boundaries(
             s, level=o.get("level"), code_field=o.get("code_field"),
             name_field=o.get("name_field"), max_bytes=o["max_bytes"], progress=p),
         lambda c, d, o, by, p: areas.load_boundaries(c, d, loaded_by=by, progress=p)),
    Kind("areas", "the LSOA -> ward -> LCSP lookup with population",
         lambda s, o, p: areas.read_lookup(
             s, lcsp_column=o.get("lcsp_column"), fy_from=o.get("fy_from"),
             fy_to=o.get("fy_to"), partnership_code=o.get("partnership_code"),
             partnership_name=o.get("partnership_name"), max_bytes=o["max_bytes"]),
         lambda c, d, o, by, p: areas.load_lookup(c, d, loaded_by=by, progress=p),
         lambda o: areas.template_csv()),
    Kind("kpis", "KPI values and outputs/actions from a CSV or XLSX return",
         lambda s, o, p: records.read_records(s, max_bytes=o["max_bytes"]),
         lambda c, d, o, by, p: records.load_records(c, d, loaded_by=by),
         lambda o: records.template_csv()),
    Kind("fund", "Community Safety Fund spend or allocations (CSV or XLSX)",
         _fund_read, _fund_load, lambda o: _fund_template(o.get("fund_kind") or "spend")),
    Kind("events", "calendar events: CSV/XLSX, GOV.UK bank holidays or school terms JSON",
         lambda s, o, p: records.read_events(s, division=o.get("division"),
                                             max_bytes=o["max_bytes"]),
         lambda c, d, o, by, p: records.load_events(c, d, loaded_by=by),
         lambda o: records.events_template_csv()),
)}


class _DryRun(Exception):
    """Raised inside the transaction to discard a trial import."""


def ensure_schema(conn: sa.Connection) -> bool:
    """Create or upgrade the schema; True when the database was new (no tables yet)."""
    inspector = sa.inspect(conn)
    revision = migrate.current_revision(conn)
    if revision is None and inspector.has_table("incidents"):
        return False  # built with metadata.create_all (tests): leave it as it is
    if revision != migrate.head_revision():
        migrate.upgrade(conn)
    if revision is None:
        # Mark the database as holding imported data so nothing mistakes it for an empty one.
        conn.execute(schema.dataset_info.insert().values(key="origin", value="imported data"))
        return True
    return False


def run_import(
    kind: str, sources: Sequence, *, url: str | None = None, loaded_by: str | None = None,
    options: dict | None = None, progress: Progress | None = None, dry_run: bool = False,
) -> ImportSummary:
    """Read, check and load ``sources`` as ``kind`` in one transaction; returns the summary.

    Raises :class:`ImportRejected` (with every problem) when a file is not acceptable; the
    database is then unchanged. ``sources`` are paths or (file name, bytes) uploads.
    """
    spec = KINDS[kind]
    options = {"max_bytes": DEFAULT_MAX_BYTES, **(options or {})}
    url = url or eng.database_url()
    parsed = spec.read(list(sources), options, progress)
    by = loaded_by or who_am_i()
    summary: ImportSummary | None = None
    try:
        with eng.write_transaction(url) as conn:
            created = ensure_schema(conn)
            summary = spec.load(conn, parsed, options, by, progress)
            if created:
                summary.details.append(f"created a new database at {eng.safe_url(url)}")
            if dry_run:
                raise _DryRun
    except _DryRun:
        summary.details.append("dry run: everything was checked and nothing was written")
    return summary


def _fy_start(text: str) -> int:
    text = text.strip()
    if text.isdigit() and len(text) == 4:
        return int(text)
    from kpis.periods import parse_fy
    try:
        return parse_fy(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _date(text: str):
    import datetime as dt
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date like 2025-04-01: {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m data_access.load", description=__doc__.split("\n\n")[0],
        epilog="\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS), help="what the files hold")
    parser.add_argument("paths", nargs="*", help="files, folders or zips")
    parser.add_argument("--database-url", default=None,
                        help="target database (default: DATABASE_URL)")
    parser.add_argument("--by", default=None, help="who is loading (default: $USER)")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024,
                        help="largest file accepted, in MB (default: %(default).0f)")
    parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show a traceback on failure")
    parser.add_argument("--template", action="store_true",
                        help="print a CSV template for this kind and exit")
    group = parser.add_argument_group("partner-incidents")
    group.add_argument("--source", help="source name, e.g. asb, council_asb, calls")
    group.add_argument("--period-from", type=_date, help="first day the extract covers")
    group.add_argument("--period-to", type=_date, help="last day the extract covers")
    group = parser.add_argument_group("police-uk-counts")
    group.add_argument("--area", help="the area a counts file covers (default: its borough column)")
    group = parser.add_argument_group("boundaries")
    group.add_argument("--level", choices=("ward", "lsoa"), help="default: from the codes")
    group.add_argument("--code-field", help="property holding the area code")
    group.add_argument("--name-field", help="property holding the area name")
    group = parser.add_argument_group("areas")
    group.add_argument("--fy-from", type=_fy_start, help="first financial year of this grouping")
    group.add_argument("--fy-to", type=_fy_start, help="last financial year of this grouping")
    group.add_argument("--lcsp-column",
                       help="column naming each ward's LCSP (default: lcsp, locality)")
    group.add_argument("--partnership-code", help="code of the partnership area")
    group.add_argument("--partnership-name", help="name of the partnership area")
    group = parser.add_argument_group("fund and events")
    group.add_argument("--fund-kind", choices=("spend", "allocations"),
                       help="default: from the header")
    group.add_argument("--division", default="england-and-wales",
                       help="GOV.UK bank holidays division (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 loaded, 1 rejected or failed)."""
    args = build_parser().parse_args(argv)
    spec = KINDS[args.kind]
    if args.template:
        if spec.template is None:
            print(f"no template for {args.kind}", file=sys.stderr)
            return 2
        sys.stdout.write(spec.template(vars(args)))
        return 0
    if not args.paths:
        print(f"give the files to load: python -m data_access.load {args.kind} PATH ...",
              file=sys.stderr)
        return 2
    options = {k: v for k, v in vars(args).items() if v is not None}
    options["max_bytes"] = int(args.max_mb * 1024 * 1024)
    url = args.database_url or eng.database_url()
    progress = None if args.quiet else TextProgress()
    started = time.perf_counter()
    try:
        summary = run_import(args.kind, args.paths, url=url, loaded_by=args.by, options=options,
                             progress=progress, dry_run=args.dry_run)
    except ImportRejected as exc:
        print(exc.report(), file=sys.stderr)
        rejected = ImportSummary(args.kind, files=list(args.paths), rows_read=exc.rows_read,
                                 rows_rejected=exc.rows_rejected)
        print("\n".join(rejected.lines()))
        return 1
    except Exception as exc:  # one clear line for the operator, not a traceback
        if args.debug:
            traceback.print_exc()
        print(f"error: could not load into {eng.safe_url(url)}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    print(f"loaded into {eng.safe_url(url)} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # output piped into `head`: stop quietly
        sys.stderr.close()
        raise SystemExit(0)
