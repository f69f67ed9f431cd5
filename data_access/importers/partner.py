"""Partner extracts with date and time: police calls for service, council ASB cases and the like.

The layout (CSV, or the first matching sheet of an .xlsx; a template comes from
``python -m data_access.load partner-incidents --template`` or :func:`template_csv`):

=================  ========  =====================================================================
column             needed    what
=================  ========  =====================================================================
reference          yes       the partner's own id for the call or case, unique in the file
date               yes       2025-04-01 or 01/04/2025; may carry the time (2025-04-01 17:45)
time               no        17:45 (24-hour); blank when not known
category           yes       e.g. "Anti-social behaviour", "Violence with injury"
subcategory        no        the ASB type (Neighbour, Vehicle nuisance, Youth-related, ...)
longitude          no        WGS84 decimal degrees, with latitude
latitude           no
easting            no        British National Grid metres, instead of longitude/latitude
northing           no
location           no        a street or place description
lsoa_code          no        when known; otherwise found from the point and the LSOA boundaries
ward_code          no        when neither the LSOA nor a point is known
is_domestic_abuse  no        TRUE/FALSE (also yes/no, 1/0); blank is FALSE
is_vawg            no        violence against women and girls
is_alcohol         no
is_weapon          no
is_hate            no
is_repeat          no        a repeat caller, victim or location
source             no        only when one file mixes sources; otherwise ``--source``
=================  ========  =====================================================================

Sources are names such as ``asb`` (police ASB calls for service: what the ASB pages and KPIs
read, as in the sample), ``recorded_crime`` (police recorded crime with date and time),
``council_asb`` (the council's ASB cases) or ``calls`` (all police calls for service); ``police_uk``
is reserved for the police.uk importers. Categories and subcategories are stored as identifiers
("Vehicle nuisance" -> ``vehicle_nuisance``); a category the source does not have yet is added
to ``categories`` with the text as its label.

Replacement: an extract replaces, for its source, every row with the same reference and every
row dated within the period it covers (``--period-from``/``--period-to``, by default its first
and last date), so loading a corrected extract again changes nothing else. An exact duplicate
row is skipped (counted as rejected); the same reference with different values is a problem.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.importers import store
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, Column, ImportSummary, Problem, expand_inputs, parse_bool, parse_date,
    parse_hour, parse_number, parse_text, raise_if, read_table, slugify,
)

Progress = Callable[[int, int, str], None]
KIND = "partner-incidents"
FLAGS = ("is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat")
ASB_SOURCES = ("asb", "council_asb")
RESERVED_SOURCES = ("police_uk", "sample_data")
# Categories whose small counts can point at victims (kpis.disclosure): sexual offences, domestic
# abuse, exploitation (child sexual/criminal exploitation, county lines), modern slavery and
# trafficking, hate crime. A category is sensitive when its identifier contains one of these.
SENSITIVE_WORDS = ("sexual", "rape", "domestic", "slavery", "trafficking", "exploitation",
                   "hate")
# Spellings of the ASB types partners use -> the identifiers the dashboard's ASB pages use.
ASB_TYPE_ALIASES = {
    "neighbour_related": "neighbour", "neighbour_dispute": "neighbour", "neighbours": "neighbour",
    "vehicle_related_nuisance": "vehicle_nuisance", "vehicle_nuisance_inappropriate_use":
    "vehicle_nuisance", "aggressive_or_threatening": "aggressive_threatening",
    "aggressive_threatening_behaviour": "aggressive_threatening", "youth_related": "youth",
    "youths": "youth", "begging_and_rough_sleeping": "begging_rough_sleeping",
    "begging_vagrancy": "begging_rough_sleeping", "environmental_public_space": "environmental",
    "other_asb": "other", "drug_alcohol_related": "substance_misuse",
}

CATEGORY_ALIASES = {
    "asb": "anti_social_behaviour", "antisocial_behaviour": "anti_social_behaviour",
    "anti_social_behavior": "anti_social_behaviour",
}

COLUMNS = (
    Column("reference", "reference", aliases=("ref", "id", "incident_id", "case_id", "call_id",
                                              "incident_number", "log_number", "urn")),
    Column("date", "date", aliases=("incident_date", "date_time", "datetime", "created",
                                    "reported_date", "call_date")),
    Column("time", "time", required=False, aliases=("incident_time", "call_time")),
    Column("category", "category", aliases=("type", "incident_type", "crime_type", "offence")),
    Column("subcategory", "subcategory", required=False, aliases=("asb_type", "sub_type", "subtype")),
    Column("longitude", "longitude", required=False, aliases=("lon", "lng", "long", "x_wgs84")),
    Column("latitude", "latitude", required=False, aliases=("lat", "y_wgs84")),
    Column("easting", "easting", required=False, aliases=("x", "grid_easting")),
    Column("northing", "northing", required=False, aliases=("y", "grid_northing")),
    Column("location", "location", required=False, aliases=("location_text", "address", "street")),
    Column("lsoa_code", "lsoa_code", required=False, aliases=("lsoa", "lsoa21cd", "lsoa11cd")),
    Column("ward_code", "ward_code", required=False, aliases=("ward",), pattern=r"wd\d\dcd"),
    Column("is_domestic_abuse", "is_domestic_abuse", required=False,
           aliases=("domestic_abuse", "domestic", "da_flag")),
    Column("is_vawg", "is_vawg", required=False, aliases=("vawg",)),
    Column("is_alcohol", "is_alcohol", required=False, aliases=("alcohol", "alcohol_related")),
    Column("is_weapon", "is_weapon", required=False, aliases=("weapon", "weapon_enabled")),
    Column("is_hate", "is_hate", required=False, aliases=("hate", "hate_crime")),
    Column("is_repeat", "is_repeat", required=False,
           aliases=("repeat", "repeat_caller", "repeat_victim")),
    Column("source", "source", required=False),
)

_EXAMPLES = (
    ("CAD-25-000123", "2025-04-01", "17:45", "Anti-social behaviour", "Neighbour-related",
     "-1.8904", "52.4862", "", "", "On or near Broad Street", "", "", "FALSE", "FALSE", "FALSE",
     "FALSE", "FALSE", "TRUE"),
    ("CAD-25-000124", "01/04/2025", "", "Anti-social behaviour", "Vehicle nuisance",
     "", "", "407250", "286420", "Park Road", "", "", "", "", "", "", "", ""),
    ("ASB-0451", "2025-04-02 22:10", "", "Anti-social behaviour", "Youth-related",
     "", "", "", "", "", "E01009151", "", "no", "no", "yes", "no", "no", "no"),
)


def layout() -> list[tuple[str, str, str]]:
    """The documented layout as (column, needed, what) rows, for the admin page."""
    rows = []
    for line in (__doc__ or "").splitlines():
        m = re.match(r"^(\w+)\s{2,}(yes|no)\s{2,}(.*)$", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3).strip()))
    return rows


def template_csv() -> str:
    """A CSV template with the documented columns and three example rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [c.name for c in COLUMNS if c.name != "source"]
    writer.writerow(header)
    for row in _EXAMPLES:
        writer.writerow(row)
    return buffer.getvalue()


@dataclass
class PartnerFile:
    """The validated rows of one extract."""

    label: str
    source: str
    frame: pd.DataFrame  # incident columns (no ids, no area codes yet), plus category labels
    labels: dict[str, str]  # category id -> the partner's text
    period: tuple[dt.date, dt.date]
    rows_read: int
    duplicates: int = 0
    needs_point_lookup: bool = False
    warnings: list[str] = field(default_factory=list)


def read_partner(
    sources: Iterable, *, source: str | None = None, period_from: dt.date | None = None,
    period_to: dt.date | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> list[PartnerFile]:
    """Read and check partner extracts; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx"), max_bytes=max_bytes)
    if source is not None and not _valid_source(source):
        problems.append(Problem("--source", None, None, (
            f"'{source}' is not a usable source name: lower-case letters, digits and _ "
            f"(not {', '.join(RESERVED_SOURCES)})")))
    raise_if(problems)
    out, rows_read = [], 0
    for n, f in enumerate(files, start=1):
        if progress:
            progress(n - 1, len(files), f"reading {f.name}")
        table = read_table(f, COLUMNS, problems, max_bytes=max_bytes)
        if table is None:
            continue
        rows_read += table.rows_in_file
        out += _validate(table, source, period_from, period_to, problems)
    if progress:
        progress(len(files), len(files), f"read {rows_read:,} rows")
    raise_if(problems, rows_read)
    return out


def _valid_source(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9_]{1,31}", name)) and name not in RESERVED_SOURCES


def _validate(table, source: str | None, period_from, period_to,
              problems: list[Problem]) -> list[PartnerFile]:
    before = len(problems)
    ref = parse_text(table, "reference", problems, max_length=80)
    when = parse_date(table, "date", problems)
    hour = parse_hour(table, "time", problems) if table.has("time") else None
    category_text = parse_text(table, "category", problems, max_length=80)
    sub_text = parse_text(table, "subcategory", problems, required=False, max_length=80)
    lon = parse_number(table, "longitude", problems, minimum=-11, maximum=3)
    lat = parse_number(table, "latitude", problems, minimum=49, maximum=61.5)
    east = parse_number(table, "easting", problems, minimum=0, maximum=700_000)
    north = parse_number(table, "northing", problems, minimum=0, maximum=1_300_000)
    for name_a, name_b in (("longitude", "latitude"), ("easting", "northing")):
        empty_a = (table.col(name_a) == "").to_numpy()
        empty_b = (table.col(name_b) == "").to_numpy()
        table.report(problems, ~empty_a & empty_b, name_b,
                     f"is empty but the {name_a} is given", with_value=False)
        table.report(problems, ~empty_b & empty_a, name_a,
                     f"is empty but the {name_b} is given", with_value=False)
    location = parse_text(table, "location", problems, required=False, max_length=200,
                          truncate=True)
    lsoa = parse_text(table, "lsoa_code", problems, required=False, max_length=32)
    ward = parse_text(table, "ward_code", problems, required=False, max_length=32)
    flags = {f: parse_bool(table, f, problems) for f in FLAGS}
    if table.has("source"):
        file_source = table.col("source").where(table.col("source") != "", source or "")
        bad = ~file_source.map(_valid_source).to_numpy()
        table.report(problems, bad, "source", "is not a usable source name (e.g. asb, council_asb)")
    elif source is None:
        problems.append(Problem(table.file, None, "source",
                                "no source given: add --source (e.g. asb, council_asb)"))
        return []
    else:
        file_source = pd.Series(source, index=table.frame.index)
    if period_from is not None or period_to is not None:
        day = when.dt.date
        outside = when.notna() & (((day < period_from) if period_from else False)
                                  | ((day > period_to) if period_to else False))
        table.report(problems, outside.to_numpy(), "date",
                     f"is outside the period given ({period_from or '...'} to {period_to or '...'})")
    if len(problems) > before:
        return []

    if hour is None:
        hour = pd.Series(pd.NA, index=table.frame.index, dtype="Int16")
    timed_in_date = table.col("date").str.contains(":", regex=False)
    hour = hour.where(hour.notna(), pd.Series(when.dt.hour, dtype="Int16").where(timed_in_date))

    if east.notna().any():
        from pyproj import Transformer
        to_wgs84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
        use = east.notna() & lon.isna()
        x, y = to_wgs84.transform(east[use].to_numpy(), north[use].to_numpy())
        lon, lat = lon.copy(), lat.copy()
        lon[use], lat[use] = x, y

    labels: dict[tuple[str, str], str] = {}
    category = category_text.map(lambda t: CATEGORY_ALIASES.get(slugify(t), slugify(t)))
    for s, c, text in zip(file_source, category, category_text):
        labels.setdefault((s, c), text)
    sub = sub_text.map(lambda t: "" if t is None else _subcategory(t))
    frame = pd.DataFrame({
        "source": file_source, "source_ref": ref, "category": category, "subcategory": sub,
        "incident_date": when.dt.normalize(), "date_precision": "day", "hour": hour,
        "longitude": lon, "latitude": lat,
        "location_text": location, "lsoa_code": lsoa, "ward_code": ward, **flags,
    })
    # Duplicates: an identical row is a copy and is skipped; a reused reference is a problem.
    exact = frame.duplicated(keep="first").to_numpy()
    key = frame[["source", "source_ref"]]
    reused = key.duplicated(keep="first").to_numpy() & ~exact
    if reused.any():
        first_row: dict[tuple, int] = {}
        for k, r in zip(key.itertuples(index=False), table.rows):
            first_row.setdefault(tuple(k), int(r))
        for i in np.flatnonzero(reused):
            k = tuple(key.iloc[i])
            problems.append(Problem(table.file, int(table.rows[i]), table.label("reference"), (
                f"repeats the reference on row {first_row[k]} with different values"), k[1]))
        return []
    out = []
    for s in sorted(set(file_source)):
        mine = (file_source == s).to_numpy()
        rows = frame[mine & ~exact].reset_index(drop=True)
        dates = rows["incident_date"]
        period = (period_from or dates.min().date(), period_to or dates.max().date())
        pf = PartnerFile(table.file, str(s), rows,
                         {c: t for (src, c), t in labels.items() if src == s}, period,
                         rows_read=int(mine.sum()), duplicates=int((mine & exact).sum()))
        pf.needs_point_lookup = bool((rows["lsoa_code"].isna() & rows["ward_code"].isna()
                                      & rows["longitude"].notna()).any())
        out.append(pf)
    return out


def _subcategory(text: str) -> str:
    slug = slugify(text)
    return ASB_TYPE_ALIASES.get(slug, slug)


def _category_rows(source: str, labels: dict[str, str]) -> dict[str, tuple[str, bool, bool]]:
    rows = {}
    for category, text in labels.items():
        is_asb = source in ASB_SOURCES or "anti_social" in category
        sensitive = any(w in category for w in SENSITIVE_WORDS)
        rows[category] = (text, is_asb, sensitive)
    return rows


def load_partner(
    conn: sa.Connection, files: list[PartnerFile], *, loaded_by: str,
    progress: Progress | None = None,
) -> ImportSummary:
    """Write the extracts, replacing each source's rows for the same references and period."""
    i = schema.incidents.c
    summary = ImportSummary(KIND, files=sorted({f.label for f in files}),
                            rows_read=sum(f.rows_read for f in files),
                            rows_rejected=sum(f.duplicates for f in files))
    lookup = store.AreaLookup.load(conn)
    locator = store.PointLocator.load(conn) if any(f.needs_point_lookup for f in files) else None
    next_id = store.new_incident_id(conn)
    touched: set[dt.date] = set()
    total = sum(len(f.frame) for f in files)
    written = 0
    for f in files:
        store.ensure_categories(conn, f.source, _category_rows(f.source, f.labels))
        refs = sorted(set(f.frame["source_ref"]))
        in_period = sa.and_(i.incident_date >= f.period[0], i.incident_date <= f.period[1])
        same_ref = i.source_ref.in_(sa.bindparam("refs", refs, expanding=True))
        where = (i.source == f.source, sa.or_(in_period, same_ref))
        touched.update(store.months_of(conn, *where))
        replaced = store.delete_incidents(conn, *where)
        import_id = store.start_import(conn, kind=KIND, source=f.source, file_name=f.label,
                                       loaded_by=loaded_by)
        frame = f.frame.copy()
        if locator is not None:
            need = frame["lsoa_code"].isna() & frame["ward_code"].isna() & frame["longitude"].notna()
            if need.any():
                found_lsoa, found_ward = locator.locate(frame.loc[need, "longitude"].to_numpy(),
                                                        frame.loc[need, "latitude"].to_numpy())
                frame.loc[need, "lsoa_code"] = found_lsoa
                frame.loc[need, "ward_code"] = np.where(pd.isna(found_lsoa), found_ward, None)
        dates = frame["incident_date"]
        fy = np.where(dates.dt.month >= 4, dates.dt.year, dates.dt.year - 1)
        frame["ward_code"], frame["lcsp_code"] = lookup.assign(frame["lsoa_code"], fy,
                                                               frame["ward_code"])
        added = store.insert_incident_frame(conn, frame, first_id=next_id, import_id=import_id,
                                            progress=progress, done_before=written, total=total)
        next_id += added
        written += added
        month_starts = frame["incident_date"].dt.to_period("M").dt.start_time
        months = store.as_dates(sorted(month_starts.unique()))
        touched.update(months)
        store.finish_import(conn, import_id, rows_read=f.rows_read, rows_added=added,
                            rows_replaced=replaced, rows_rejected=f.duplicates,
                            period_from=f.period[0], period_to=f.period[1])
        summary.import_ids.append(import_id)
        summary.rows_added += added
        summary.rows_replaced += replaced
        summary.cover(f.period[0], f.period[1])
        timed = int(frame["hour"].notna().sum())
        located = int(frame["longitude"].notna().sum())
        no_area = int(frame["ward_code"].isna().sum())
        summary.details.append(
            f"{f.source}: {added:,} rows ({timed:,} with a time, {located:,} with a point"
            + (f", {no_area:,} outside the loaded areas" if no_area else "") + ")")
        if f.duplicates:
            summary.warnings.append(f"{f.label}: {f.duplicates:,} exact duplicate rows skipped")
    store.rebuild_months(conn, touched, progress)
    return summary
