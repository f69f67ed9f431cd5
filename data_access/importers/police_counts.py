"""Monthly police.uk counts by LSOA x crime type (the API's shape), with a completeness flag.

Columns (as in ``birmingham_lsoa_month_category_counts_*.csv``): lsoa_code, lsoa_name, borough,
category (a police.uk crime type), year and month (or month_str "2025-01"), crime_count and
month_complete (False for a month police.uk published short).

How counts are stored - a choice between two designs:

1. expand each count into that many month-precision ``incidents`` rows with no location
   (``np.repeat``, vectorised: 395,661 rows for Birmingham's 35 months in a few seconds), or
2. write the counts straight into ``agg_month_lsoa`` / ``agg_month_ward``.

This module does (1). The aggregate tables are *derived* from ``incidents``: every other import
rebuilds the months it touches from ``incidents`` (:func:`data_access.aggregates.rebuild_aggregates`
deletes the month range first), so counts written only into aggregates would vanish the next
time anything touched those months; and every page, the data explorer and the data status page
read incidents' aggregates the same way whatever the source. Totals stay exact (one row per
crime), the rows carry ``date_precision`` "month", no hour and no point, so no page can map them
or place them on a day; 395k rows is small beside the millions the tables are sized for.

Rows get source ``police_uk`` and the same categories as street-level files
(:mod:`.police_uk`), so a partnership can switch from counts to street files. A file replaces
the months it covers for its area (the ``borough`` column, or ``--area``): earlier counts of the
same area in those months are deleted first, so importing again changes nothing. Loading counts
over months where street-level rows of the same LSOAs exist is refused (crimes would be counted
twice). ``month_complete`` goes to ``source_months`` (source ``police_uk``): a month is complete
only if every row of it says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.importers import store
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, Column, ImportRejected, ImportSummary, Problem, expand_inputs,
    parse_bool, parse_month, parse_number, parse_text, raise_if, read_table, report_duplicates,
)
from data_access.importers.police_uk import SOURCE, category_of, category_rows

Progress = Callable[[int, int, str], None]
KIND = "police-uk-counts"
INCOMPLETE_NOTE = "published incomplete at the source (police.uk)"

COLUMNS = (
    Column("lsoa_code", "lsoa_code", aliases=("LSOA code", "lsoa21cd", "lsoa11cd", "lsoa")),
    Column("lsoa_name", "lsoa_name", required=False, aliases=("LSOA name",)),
    Column("borough", "borough", required=False, aliases=("area", "local_authority", "lad")),
    Column("category", "category", aliases=("Crime type", "crime_type")),
    Column("year", "year", required=False),
    Column("month", "month", required=False),
    Column("month_str", "month_str", required=False, aliases=("period", "year_month")),
    Column("crime_count", "crime_count", aliases=("count", "crimes", "n")),
    Column("month_complete", "month_complete", required=False, aliases=("complete",)),
)


@dataclass
class CountsFile:
    """One validated counts file."""

    label: str
    area: str
    counts: pd.DataFrame  # lsoa_code, crime_type, month_start (datetime64), n
    completeness: pd.DataFrame  # month_start, is_complete
    rows_read: int


def read_police_counts(
    sources: Iterable, *, area: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> list[CountsFile]:
    """Read and check count files; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx"), max_bytes=max_bytes)
    raise_if(problems)
    out, rows_read = [], 0
    for n, f in enumerate(files, start=1):
        if progress:
            progress(n - 1, len(files), f"reading {f.name}")
        table = read_table(f, COLUMNS, problems, max_bytes=max_bytes)
        if table is None:
            continue
        rows_read += table.rows_in_file
        parsed = _validate(table, area, problems)
        if parsed is not None:
            out.append(parsed)
    if progress:
        progress(len(files), len(files), f"read {rows_read:,} rows")
    raise_if(problems, rows_read)
    return out


def _validate(table, area: str | None, problems: list[Problem]) -> CountsFile | None:
    before = len(problems)
    if table.has("month_str"):
        month = parse_month(table, "month_str", problems)
    elif table.has("year") and table.has("month"):
        year = parse_number(table, "year", problems, required=True, integer=True,
                            minimum=2000, maximum=2100)
        mon = parse_number(table, "month", problems, required=True, integer=True,
                           minimum=1, maximum=12)
        ok = year.notna() & mon.notna() & (year >= 2000) & (year <= 2100) & mon.between(1, 12)
        month = pd.to_datetime(pd.DataFrame({
            "year": year.where(ok, 2000), "month": mon.where(ok, 1), "day": 1}).astype(int))
        month = month.where(ok)
    elif table.has("month"):
        month = parse_month(table, "month", problems)
    else:
        problems.append(Problem(table.file, None, "month_str",
                                "missing column: give month_str (2025-01), or year and month"))
        return None
    lsoa = parse_text(table, "lsoa_code", problems, max_length=32)
    crime_type = parse_text(table, "category", problems)
    count = parse_number(table, "crime_count", problems, required=True, integer=True, minimum=0)
    complete = (parse_bool(table, "month_complete", problems) if table.has("month_complete")
                else pd.Series(True, index=table.frame.index))
    if len(problems) > before:
        return None
    key = pd.DataFrame({"lsoa_code": lsoa, "category": crime_type, "month": month})
    if report_duplicates(table, key, problems,
                         what="count for this LSOA, category and month").any():
        return None
    boroughs = sorted(set(table.col("borough")) - {""})
    file_area = area or (", ".join(boroughs) if boroughs else "")
    counts = pd.DataFrame({"lsoa_code": lsoa, "crime_type": crime_type, "month_start": month,
                           "n": count.astype("int64")})
    completeness = (pd.DataFrame({"month_start": month, "is_complete": complete})
                    .groupby("month_start", as_index=False)["is_complete"].all())
    return CountsFile(table.file, file_area, counts, completeness, len(table))


def expand_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """One month-precision incident row per counted crime (vectorised)."""
    repeat = counts["n"].to_numpy()
    categories = {t: category_of(t) for t in counts["crime_type"].unique()}
    return pd.DataFrame({
        "source": SOURCE,
        "source_ref": None,
        "category": np.repeat(counts["crime_type"].map(categories).to_numpy(dtype=object), repeat),
        "subcategory": "",
        "incident_date": np.repeat(counts["month_start"].to_numpy(), repeat),
        "date_precision": "month",
        "hour": None,
        "longitude": np.nan,
        "latitude": np.nan,
        "location_text": None,
        "lsoa_code": np.repeat(counts["lsoa_code"].to_numpy(dtype=object), repeat),
    })


def load_police_counts(
    conn: sa.Connection, files: list[CountsFile], *, loaded_by: str,
    progress: Progress | None = None,
) -> ImportSummary:
    """Write the counts as incidents, replacing the same area's months, flag incomplete months."""
    i = schema.incidents.c
    summary = ImportSummary(KIND, files=[f.label for f in files],
                            rows_read=sum(f.rows_read for f in files))
    types = set().union(*(set(f.counts["crime_type"]) for f in files)) if files else set()
    store.ensure_categories(conn, SOURCE, category_rows(types))
    lookup = store.AreaLookup.load(conn)
    next_id = store.new_incident_id(conn)
    street_imports = store.previous_imports(conn, "police-uk")
    problems: list[Problem] = []
    touched: set[dt.date] = set()
    total = int(sum(f.counts["n"].sum() for f in files))
    written = 0
    for f in files:
        months = store.as_dates(sorted(f.counts["month_start"].unique()))
        touched.update(months)
        earlier = store.previous_imports(conn, KIND, area=f.area)
        replaced = 0
        if earlier:
            replaced = store.delete_incidents(
                conn, i.source == SOURCE, i.month_start.in_(months), i.import_id.in_(earlier))
        lsoas = sorted(set(f.counts["lsoa_code"]))
        if street_imports:
            clash = store.months_of(conn, i.import_id.in_(street_imports),
                                    i.month_start.in_(months), i.lsoa_code.in_(lsoas))
            if clash:
                problems.append(Problem(f.label, None, None, (
                    "police.uk street-level rows are already loaded for "
                    + ", ".join(f"{m:%Y-%m}" for m in sorted(clash))
                    + " in these LSOAs; loading counts too would count crimes twice")))
                continue
        import_id = store.start_import(conn, kind=KIND, source=SOURCE, file_name=f.label,
                                       loaded_by=loaded_by, notes={"area": f.area})
        frame = expand_counts(f.counts)
        dates = frame["incident_date"]
        fy = np.where(dates.dt.month >= 4, dates.dt.year, dates.dt.year - 1)
        frame["ward_code"], frame["lcsp_code"] = lookup.assign(frame["lsoa_code"], fy)
        added = store.insert_incident_frame(conn, frame, first_id=next_id, import_id=import_id,
                                            progress=progress, done_before=written, total=total)
        next_id += added
        written += added
        _record_completeness(conn, f.completeness)
        store.finish_import(conn, import_id, rows_read=f.rows_read, rows_added=added,
                            rows_replaced=replaced, period_from=months[0], period_to=months[-1])
        summary.import_ids.append(import_id)
        summary.rows_added += added
        summary.rows_replaced += replaced
        summary.cover(months[0], months[-1])
        incomplete = f.completeness.loc[~f.completeness["is_complete"], "month_start"]
        summary.details.append(
            f"{f.area or f.label}: {len(f.counts):,} count rows -> {added:,} incidents "
            f"in {len(months)} months" + (f" (replacing {replaced:,})" if replaced else ""))
        if len(incomplete):
            summary.details.append("months incomplete at the source: "
                                   + ", ".join(f"{m:%Y-%m}" for m in incomplete))
        unmatched = int(frame["ward_code"].isna().sum())
        if unmatched:
            summary.details.append(
                f"{unmatched:,} crimes in LSOAs outside the loaded areas: no ward or LCSP yet "
                "(load the LSOA lookup to place them)")
    if problems:
        raise ImportRejected(problems, summary.rows_read)
    store.rebuild_months(conn, touched, progress)
    return summary


def _record_completeness(conn: sa.Connection, completeness: pd.DataFrame) -> None:
    sm = schema.source_months
    months = store.as_dates(completeness["month_start"])
    conn.execute(sa.delete(sm).where(sm.c.source == SOURCE, sm.c.month_start.in_(months)))
    conn.execute(sm.insert(), [
        {"source": SOURCE, "month_start": m, "is_complete": bool(c),
         "note": None if c else INCOMPLETE_NOTE}
        for m, c in zip(months, completeness["is_complete"])
    ])
