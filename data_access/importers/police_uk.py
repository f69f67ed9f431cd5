"""police.uk street-level crime files: the monthly 12-column CSVs of any force.

Input: files, a folder (searched recursively), or the zip data.police.uk gives (its
``YYYY-MM/YYYY-MM-<force>-street.csv`` members; outcomes and stop-and-search files in the same
download are skipped). Columns: Crime ID, Month, Reported by, Falls within, Longitude, Latitude,
Location, LSOA code, LSOA name, Crime type, Last outcome category, Context.

What is stored (``incidents``, source ``police_uk``):

- every row, as police.uk publishes it: anti-social behaviour rows have no Crime ID, and the site
  itself repeats some Crime IDs and some identical ASB rows, so no row is dropped as a duplicate
  (counts then equal the files'); the same force-month given twice in one import is refused;
- the date is the month only: ``incident_date`` is the first of the month, ``date_precision``
  "month" and ``hour`` NULL, so no page places police.uk rows on a day or an hour;
- rows with no location ("No location", empty coordinates) are kept for counts and not mapped;
- crime types become categories of source ``police_uk``, named as the sample's recorded-crime
  categories where police.uk has the same one; police.uk does not split "Violence and sexual
  offences", so that is a category of its own; missing ``categories`` rows are added;
- LSOA codes as in the file (2011 codes until police.uk moved to 2021 ones), ward and LCSP from
  the partnership's lookup when the LSOA is in it (else NULL: crimes over the border);
- re-importing a month replaces that month for that force (the force is the file's
  "Reported by"): each force's file is logged in ``imports`` with ``notes`` "force: <name>", and
  the earlier rows of the same force and month are deleted first, so importing again changes
  nothing. Aggregates are rebuilt for the months touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.importers import store
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, Column, ImportRejected, ImportSummary, InputFile, Problem, expand_inputs,
    parse_month, parse_number, parse_text, raise_if, read_table, slugify,
)

Progress = Callable[[int, int, str], None]
KIND = "police-uk"
SOURCE = "police_uk"

COLUMNS = (
    Column("crime_id", "Crime ID"),
    Column("month", "Month"),
    Column("reported_by", "Reported by"),
    Column("falls_within", "Falls within"),
    Column("longitude", "Longitude"),
    Column("latitude", "Latitude"),
    Column("location", "Location"),
    Column("lsoa_code", "LSOA code"),
    Column("lsoa_name", "LSOA name"),
    Column("crime_type", "Crime type"),
    Column("last_outcome", "Last outcome category", required=False),
    Column("context", "Context", required=False),
)

# police.uk crime type -> category (the sample's recorded-crime names where they coincide).
CRIME_TYPES: dict[str, str] = {
    "Anti-social behaviour": "anti_social_behaviour",
    "Bicycle theft": "bicycle_theft",
    "Burglary": "burglary",
    "Criminal damage and arson": "criminal_damage_and_arson",
    "Drugs": "drugs",
    "Other crime": "other_crime",
    "Other theft": "other_theft",
    "Possession of weapons": "possession_of_weapons",
    "Public order": "public_order",
    "Robbery": "robbery",
    "Shoplifting": "shoplifting",
    "Theft from the person": "theft_from_the_person",
    "Vehicle crime": "vehicle_crime",
    # police.uk publishes violence and sexual offences as one type; it is not split here.
    "Violence and sexual offences": "violence_and_sexual_offences",
    # Types used before May 2013.
    "Violent crime": "violent_crime",
    "Public disorder and weapons": "public_disorder_and_weapons",
}
ASB_TYPE = "Anti-social behaviour"
# Great Britain and Northern Ireland with a margin: a point outside is a damaged row.
LON_RANGE, LAT_RANGE = (-11.0, 3.0), (49.0, 61.5)


def category_of(crime_type: str) -> str:
    """The stored category of a police.uk crime type (unknown types keep a slug of their name)."""
    return CRIME_TYPES.get(crime_type) or slugify(crime_type)


def category_rows(crime_types: Iterable[str]) -> dict[str, tuple[str, bool, bool]]:
    """``categories`` rows (label, is_asb, is_sensitive) for these police.uk crime types.

    None is sensitive: police.uk already publishes every one of them on public maps at the same
    anonymised points.
    """
    known = list(CRIME_TYPES)
    ordered = sorted(set(crime_types),
                     key=lambda t: (known.index(t) if t in known else len(known), t))
    return {category_of(t): (t, t == ASB_TYPE, False) for t in ordered}


@dataclass
class ForceFile:
    """The validated rows of one file for one force."""

    label: str
    force: str
    frame: pd.DataFrame  # incident columns, before ids and area codes
    rows_read: int
    no_location: int


@dataclass
class PoliceUkInput:
    """Everything read from the files, ready to write."""

    files: list[str]
    parts: list[ForceFile]
    rows_read: int
    warnings: list[str]


def read_police_uk(
    sources: Iterable, *, max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
) -> PoliceUkInput:
    """Read and check police.uk street files; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".csv",), prefer="-street.csv",
                                    max_bytes=max_bytes)
    raise_if(problems)
    parts: list[ForceFile] = []
    warnings: list[str] = []
    seen_digest: dict[str, str] = {}
    seen_month: dict[tuple[str, pd.Timestamp], str] = {}
    rows_read = 0
    for n, f in enumerate(files, start=1):
        if progress:
            progress(n - 1, len(files), f"reading {f.name}")
        data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen_digest:
            warnings.append(f"{f.label} is the same file as {seen_digest[digest]}; read once")
            continue
        seen_digest[digest] = f.label
        table = read_table(InputFile(f.label, f.name, len(data), lambda data=data: data),
                           COLUMNS, problems, max_bytes=max_bytes)
        if table is None:
            continue
        rows_read += table.rows_in_file
        for part in _validate(table, problems):
            for month in part.frame["incident_date"].unique():
                key = (part.force, pd.Timestamp(month))
                if key in seen_month:
                    problems.append(Problem(f.label, None, "Month", (
                        f"{pd.Timestamp(month):%Y-%m} of {part.force} is also in "
                        f"{seen_month[key]}; give each force's month once"),
                        f"{pd.Timestamp(month):%Y-%m}"))
                seen_month[key] = f.label
            parts.append(part)
    if progress:
        progress(len(files), len(files), f"read {rows_read:,} rows")
    raise_if(problems, rows_read)
    return PoliceUkInput([f.label for f in files], parts, rows_read, warnings)


def _validate(table, problems: list[Problem]) -> list[ForceFile]:
    before = len(problems)
    month = parse_month(table, "month", problems)
    crime_type = parse_text(table, "crime_type", problems)
    lon = parse_number(table, "longitude", problems, minimum=LON_RANGE[0], maximum=LON_RANGE[1])
    lat = parse_number(table, "latitude", problems, minimum=LAT_RANGE[0], maximum=LAT_RANGE[1])
    lon_empty = (table.col("longitude") == "").to_numpy()
    lat_empty = (table.col("latitude") == "").to_numpy()
    table.report(problems, lat_empty & ~lon_empty, "latitude",
                 "is empty but the longitude is given", with_value=False)
    table.report(problems, lon_empty & ~lat_empty, "longitude",
                 "is empty but the latitude is given", with_value=False)
    lsoa = parse_text(table, "lsoa_code", problems, required=False, max_length=32)
    crime_id = parse_text(table, "crime_id", problems, required=False, max_length=80)
    location = parse_text(table, "location", problems, required=False, max_length=200,
                          truncate=True)
    force = table.col("reported_by").where(table.col("reported_by") != "", table.col("falls_within"))
    table.report(problems, (force == "").to_numpy(), "reported_by",
                 "is empty (and so is 'Falls within'): the force is not known", with_value=False)
    if len(problems) > before:
        return []
    located = lon.notna() & lat.notna()
    frame = pd.DataFrame({
        "source": SOURCE,
        "source_ref": crime_id,
        "category": crime_type.map(category_of),
        "crime_type": crime_type,
        "subcategory": "",
        "incident_date": month,
        "date_precision": "month",
        "hour": None,
        "longitude": lon.where(located),
        "latitude": lat.where(located),
        "location_text": location.where(located.to_numpy(), None),
        "lsoa_code": lsoa,
        "force": force,
    })
    parts = []
    for name, rows in frame.groupby("force", sort=True):
        parts.append(ForceFile(table.file, str(name), rows.drop(columns="force"), len(rows),
                               int((~located[rows.index]).sum())))
    return parts


def load_police_uk(
    conn: sa.Connection, data: PoliceUkInput, *, loaded_by: str,
    progress: Progress | None = None,
) -> ImportSummary:
    """Write the files' rows, replacing the same force-months, and rebuild their aggregates."""
    i = schema.incidents.c
    summary = ImportSummary(KIND, files=list(data.files), rows_read=data.rows_read,
                            warnings=list(data.warnings))
    store.ensure_categories(conn, SOURCE, category_rows(
        set().union(*(set(p.frame["crime_type"]) for p in data.parts)) if data.parts else []))
    lookup = store.AreaLookup.load(conn)
    next_id = store.new_incident_id(conn)
    counts_imports = store.previous_imports(conn, "police-uk-counts")
    problems: list[Problem] = []
    touched: set = set()
    total = sum(len(p.frame) for p in data.parts)
    written = 0
    no_location = unmatched = 0
    for part in data.parts:
        months = store.as_dates(sorted(part.frame["incident_date"].unique()))
        touched.update(months)
        earlier = store.previous_imports(conn, KIND, force=part.force)
        replaced = 0
        if earlier:
            replaced = store.delete_incidents(
                conn, i.source == SOURCE, i.month_start.in_(months), i.import_id.in_(earlier))
        lsoas = sorted(set(part.frame["lsoa_code"].dropna()))
        if counts_imports and lsoas:
            clash = store.months_of(conn, i.import_id.in_(counts_imports),
                                    i.month_start.in_(months), i.lsoa_code.in_(lsoas))
            if clash:
                problems.append(Problem(part.label, None, None, (
                    "police.uk counts by LSOA are already loaded for "
                    + ", ".join(f"{m:%Y-%m}" for m in sorted(clash))
                    + " in these LSOAs; loading street-level rows too would count crimes twice")))
                continue
        import_id = store.start_import(conn, kind=KIND, source=SOURCE, file_name=part.label,
                                       loaded_by=loaded_by, notes={"force": part.force})
        frame = part.frame.drop(columns="crime_type")
        fy = np.where(frame["incident_date"].dt.month >= 4, frame["incident_date"].dt.year,
                      frame["incident_date"].dt.year - 1)
        frame["ward_code"], frame["lcsp_code"] = lookup.assign(frame["lsoa_code"], fy)
        added = store.insert_incident_frame(
            conn, frame, first_id=next_id, import_id=import_id, progress=progress,
            done_before=written, total=total)
        next_id += added
        written += added
        no_location += part.no_location
        unmatched += int((frame["lsoa_code"].notna() & frame["ward_code"].isna()).sum())
        store.finish_import(conn, import_id, rows_read=part.rows_read, rows_added=added,
                            rows_replaced=replaced, period_from=months[0], period_to=months[-1])
        summary.import_ids.append(import_id)
        summary.rows_added += added
        summary.rows_replaced += replaced
        summary.cover(months[0], months[-1])
        summary.details.append(
            f"{part.force} {', '.join(f'{m:%Y-%m}' for m in months)}: {added:,} rows"
            + (f" (replacing {replaced:,})" if replaced else ""))
    if problems:
        raise ImportRejected(problems, data.rows_read)
    store.rebuild_months(conn, touched, progress)
    if no_location:
        summary.details.append(f"{no_location:,} rows with no location kept for counts, not mapped")
    if unmatched:
        summary.details.append(
            f"{unmatched:,} rows in LSOAs outside the loaded areas: counted, with no ward or LCSP")
    return summary
