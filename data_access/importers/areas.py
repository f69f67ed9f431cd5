"""Areas: ONS boundaries (GeoJSON) and the LSOA -> ward -> LCSP lookup with population.

Boundaries (kind ``boundaries``): a GeoJSON FeatureCollection of wards or LSOAs as ONS publishes
them (2011 or 2021 LSOA codes; any ward vintage), in WGS84 or British National Grid (converted
to WGS84). The code and name properties are found by their ONS names (``LSOA21CD``/``LSOA21NM``,
``WD18CD``/``WD18NM``, lower or upper case) or plain ``code``/``name``/``ward_name``; the level
comes from the property (or ``--level``, or the codes: E01/W01 LSOAs, E05/W05 wards). Each
feature's polygon (coordinates to 6 decimals, about 0.1 m) and centroid are written to the
``areas`` row of its code, which is added when new. LCSP and partnership outlines are then
rebuilt as the union of their wards.

Lookup (kind ``areas``): one row per LSOA with its ward, optionally the LCSP the ward belongs to
and the LSOA's population (columns found by ONS names too: ``lsoa21cd``, ``wd25cd``,
``usual_residents_2021``; the LCSP column is ``lcsp``, ``locality`` or ``--lcsp-column``). Ward,
LCSP and partnership populations are the sums of their LSOAs. The grouping holds for financial
years ``--fy-from`` to ``--fy-to`` (default: every year, :data:`FY_FROM_START` onwards): a new
grouping from 2019/20 closes the earlier one at 2018/19 in ``area_membership`` and leaves the
years before alone, so incidents keep the LCSP of their own date. Loading the same lookup again
changes nothing. Incidents already loaded get their ward and LCSP from the new lookup and the
aggregates are rebuilt for the months that changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.importers import store
from data_access.importers.common import (
    DEFAULT_MAX_BYTES, Column, ImportRejected, ImportSummary, Problem, expand_inputs,
    parse_number, parse_text, raise_if, read_table, report_duplicates, slugify,
)
from data_access.loading import bulk_insert
from kpis.periods import fy_label

Progress = Callable[[int, int, str], None]
FY_FROM_START = 2000  # "every year": earlier than any incident a partnership will load
COORD_DECIMALS = 6

_CODE_FIELDS = re.compile(r"^(lsoa|wd|ward)\d{2}cd$", re.I)
_NAME_FIELDS = re.compile(r"^(lsoa|wd|ward)\d{2}nm$", re.I)
_PLAIN_CODE = ("code", "lsoa_code", "ward_code", "areacode", "area_code", "geo_code", "id")
_PLAIN_NAME = ("name", "lsoa_name", "ward_name", "areaname", "area_name", "geo_label")


# --- boundaries ------------------------------------------------------------------------------

@dataclass
class BoundaryFile:
    """The validated features of one GeoJSON file."""

    label: str
    level: str
    source_label: str  # areas.boundary_source, e.g. "ONS LSOA 2021"
    frame: pd.DataFrame  # code, name, geojson, lon, lat
    repaired: int = 0


def read_boundaries(
    sources: Iterable, *, level: str | None = None, code_field: str | None = None,
    name_field: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> list[BoundaryFile]:
    """Read and check GeoJSON boundary files; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".geojson", ".json"), max_bytes=max_bytes)
    raise_if(problems)
    out = []
    for n, f in enumerate(files, start=1):
        if progress:
            progress(n - 1, len(files), f"reading {f.name}")
        parsed = _read_geojson(f, level, code_field, name_field, problems)
        if parsed is not None:
            out.append(parsed)
    raise_if(problems, sum(len(b.frame) for b in out))
    return out


def _read_geojson(f, level, code_field, name_field, problems) -> BoundaryFile | None:
    import shapely
    from shapely.geometry import shape

    try:
        doc = json.loads(f.read().decode("utf-8-sig"))
    except UnicodeDecodeError:
        problems.append(Problem(f.label, None, None, "is not UTF-8 text (GeoJSON must be)"))
        return None
    except json.JSONDecodeError as exc:
        problems.append(Problem(f.label, exc.lineno, None, (
            f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")))
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not features:
        problems.append(Problem(f.label, None, None,
                                "is not a GeoJSON FeatureCollection with features"))
        return None
    keys = list(dict.fromkeys(k for feat in features[:50]
                              for k in ((feat or {}).get("properties") or {})))
    code_key = code_field or _pick(keys, _CODE_FIELDS, _PLAIN_CODE)
    name_key = name_field or _pick(keys, _NAME_FIELDS, _PLAIN_NAME, prefer_prefix=code_key)
    if code_key is None or code_key not in keys:
        problems.append(Problem(f.label, None, code_field, (
            "no property holding the area code (use --code-field); properties: " + ", ".join(keys))))
        return None
    before = len(problems)
    codes, names, geoms = [], [], []
    for number, feat in enumerate(features, start=1):
        props = (feat or {}).get("properties") or {}
        code = str(props.get(code_key) or "").strip()
        if not code:
            problems.append(Problem(f.label, number, code_key, "feature has no area code"))
            continue
        if len(code) > 32:
            problems.append(Problem(f.label, number, code_key, "is longer than 32 characters", code))
            continue
        try:
            geom = shape(feat.get("geometry") or {})
        except Exception:  # shapely raises several types for malformed geometry
            geom = None
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(f.label, number, "geometry",
                                    "is not a polygon (a boundary must be a Polygon or MultiPolygon)",
                                    code))
            continue
        codes.append(code)
        names.append(str(props.get(name_key) or "").strip() if name_key else "")
        geoms.append(geom)
    if len(problems) > before:
        return None
    dup = pd.Series(codes).duplicated()
    for k in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(f.label, int(k) + 1, code_key, "repeats an area code", codes[k]))
    found_level = level or _level_of(code_key, codes)
    if found_level is None:
        problems.append(Problem(f.label, None, code_key, (
            "cannot tell whether these are wards or LSOAs: add --level ward or --level lsoa")))
    if len(problems) > before:
        return None
    geoms = np.array(geoms, dtype=object)
    if _is_national_grid(doc, geoms):
        from pyproj import Transformer
        to_wgs84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))
    centroids = shapely.centroid(geoms)
    frame = pd.DataFrame({
        "code": codes,
        "name": [n or c for n, c in zip(names, codes)],
        "geojson": shapely.to_geojson(geoms),
        "lon": np.round(shapely.get_x(centroids), COORD_DECIMALS),
        "lat": np.round(shapely.get_y(centroids), COORD_DECIMALS),
    })
    vintage = re.search(r"(\d{2})cd$", code_key, re.I)
    if vintage:
        year = f"20{vintage.group(1)}"
    else:  # a year in the file name, e.g. wards_2018.geojson
        year = (re.findall(r"(?:19|20)\d{2}", Path(f.name).stem) or [""])[-1]
    source_label = f"ONS {'LSOA' if found_level == 'lsoa' else 'wards'} {year}".strip()
    return BoundaryFile(f.label, found_level, source_label[:100], frame, int(invalid.sum()))


def _pick(keys, pattern, plain, prefer_prefix: str | None = None) -> str | None:
    matched = [k for k in keys if pattern.match(k)]
    if prefer_prefix and matched:
        stem = prefer_prefix[:-2].lower()
        same = [k for k in matched if k[:-2].lower() == stem]
        if same:
            return same[0]
    if matched:
        return matched[0]
    lowered = {k.lower(): k for k in keys}
    return next((lowered[p] for p in plain if p in lowered), None)


def _level_of(code_key: str, codes: list[str]) -> str | None:
    key = code_key.lower()
    if key.startswith("lsoa"):
        return "lsoa"
    if key.startswith(("wd", "ward")):
        return "ward"
    prefixes = {c[:3] for c in codes}
    if prefixes <= {"E01", "W01"}:
        return "lsoa"
    if prefixes <= {"E05", "W05"}:
        return "ward"
    return None


def _is_national_grid(doc: dict, geoms: np.ndarray) -> bool:
    crs = json.dumps(doc.get("crs") or "")
    if "27700" in crs:
        return True
    import shapely
    bounds = shapely.total_bounds(geoms)
    return bool(np.abs(bounds).max() > 180)


def load_boundaries(
    conn: sa.Connection, files: list[BoundaryFile], *, loaded_by: str,
    progress: Progress | None = None,
) -> ImportSummary:
    """Write boundaries into ``areas`` (adding new codes) and rebuild LCSP outlines."""
    a = schema.areas
    summary = ImportSummary("boundaries", files=[f.label for f in files])
    existing = dict(conn.execute(sa.select(a.c.code, a.c.level)).all())
    problems: list[Problem] = []
    for f in files:
        clash = [c for c in f.frame["code"] if c in existing and existing[c] != f.level]
        for code in clash:
            problems.append(Problem(f.label, None, None, (
                f"area {code} is already held as a {existing[code]}, not a {f.level}"), code))
    if problems:
        raise ImportRejected(problems, sum(len(f.frame) for f in files))
    for n, f in enumerate(files, start=1):
        new = ~f.frame["code"].isin(list(existing))
        old = f.frame[~new]
        if len(old):
            conn.execute(
                a.update().where(a.c.code == sa.bindparam("b_code")).values(
                    name=sa.bindparam("b_name"), boundary_geojson=sa.bindparam("b_geojson"),
                    centroid_lon=sa.bindparam("b_lon"), centroid_lat=sa.bindparam("b_lat"),
                    boundary_source=sa.bindparam("b_source")),
                [{"b_code": r.code, "b_name": r.name[:200], "b_geojson": r.geojson, "b_lon": r.lon,
                  "b_lat": r.lat, "b_source": f.source_label} for r in old.itertuples()])
        added = f.frame[new]
        if len(added):
            conn.execute(a.insert(), [
                {"code": r.code, "name": r.name[:200], "level": f.level, "parent_code": None,
                 "population": None, "centroid_lon": r.lon, "centroid_lat": r.lat,
                 "boundary_geojson": r.geojson, "boundary_source": f.source_label}
                for r in added.itertuples()])
        existing.update(dict.fromkeys(f.frame["code"], f.level))
        import_id = store.start_import(conn, kind="boundaries", source="ons", file_name=f.label,
                                       loaded_by=loaded_by,
                                       notes={"level": f.level, "boundaries": f.source_label})
        store.finish_import(conn, import_id, rows_read=len(f.frame), rows_added=int(new.sum()),
                            rows_replaced=len(old))
        summary.import_ids.append(import_id)
        summary.rows_read += len(f.frame)
        summary.rows_added += int(new.sum())
        summary.rows_replaced += len(old)
        summary.details.append(f"{Path(f.label).name}: {len(f.frame):,} {f.level} boundaries "
                               f"({f.source_label})")
        if f.repaired:
            summary.warnings.append(f"{f.label}: {f.repaired} invalid polygons were repaired")
        if progress:
            progress(n, len(files), f"boundaries written: {Path(f.label).name}")
    refresh_group_boundaries(conn)
    return summary


def refresh_group_boundaries(conn: sa.Connection) -> int:
    """Outline each LCSP and the partnership as the union of its wards; returns areas updated."""
    import shapely

    a = schema.areas
    rows = pd.DataFrame(conn.execute(sa.select(
        a.c.code, a.c.level, a.c.parent_code, a.c.boundary_geojson)).all(),
        columns=["code", "level", "parent_code", "geojson"])
    wards = rows[(rows["level"] == "ward") & rows["geojson"].notna()]
    if wards.empty:
        return 0
    shapes = shapely.from_geojson(wards["geojson"].tolist(), on_invalid="ignore")
    geoms = dict(zip(wards["code"], shapes))
    updates = []
    lcsps = rows[rows["level"] == "lcsp"]
    all_wards = rows[rows["level"] == "ward"]
    for group in [*lcsps.itertuples(), *rows[rows["level"] == "partnership"].itertuples()]:
        if group.level == "lcsp":
            members = all_wards.loc[all_wards["parent_code"] == group.code, "code"].tolist()
        else:
            members = all_wards.loc[all_wards["parent_code"].isin(
                lcsps.loc[lcsps["parent_code"] == group.code, "code"]), "code"].tolist()
        if not members or any(m not in geoms for m in members):
            continue
        union = shapely.union_all([geoms[m] for m in members])
        union = shapely.transform(union, lambda xy: np.round(xy, COORD_DECIMALS))
        centre = union.centroid
        updates.append({"b_code": group.code, "b_geojson": shapely.to_geojson(union),
                        "b_lon": round(centre.x, COORD_DECIMALS),
                        "b_lat": round(centre.y, COORD_DECIMALS)})
    if updates:
        conn.execute(a.update().where(a.c.code == sa.bindparam("b_code")).values(
            boundary_geojson=sa.bindparam("b_geojson"), centroid_lon=sa.bindparam("b_lon"),
            centroid_lat=sa.bindparam("b_lat"), boundary_source="union of its wards"), updates)
    return len(updates)


# --- the LSOA -> ward -> LCSP lookup ---------------------------------------------------------

def lookup_columns(lcsp_column: str | None = None) -> tuple[Column, ...]:
    """Expected lookup columns (``lcsp_column`` names the LCSP column exactly when given)."""
    lcsp = (Column("lcsp", lcsp_column, required=True) if lcsp_column else
            Column("lcsp", "lcsp", required=False, aliases=("lcsp_name", "locality")))
    return (
        Column("lsoa_code", "lsoa_code", aliases=("lsoa", "lsoa_cd"), pattern=r"lsoa\d\dcd"),
        Column("lsoa_name", "lsoa_name", required=False, pattern=r"lsoa\d\dnm"),
        Column("ward_code", "ward_code", aliases=("ward_cd",), pattern=r"wd\d\dcd"),
        Column("ward_name", "ward_name", required=False, aliases=("ward",), pattern=r"wd\d\dnm"),
        lcsp,
        Column("lcsp_code", "lcsp_code", required=False),
        Column("population", "population", required=False,
               aliases=("usual_residents", "residents", "pop"),
               pattern=r"(usual_residents|population|pop)_?\w*"),
        Column("partnership_code", "partnership_code", required=False,
               aliases=("local_authority_code", "lad_code"), pattern=r"lad\d\dcd"),
        Column("partnership_name", "partnership_name", required=False,
               aliases=("local_authority", "lad_name"), pattern=r"lad\d\dnm"),
    )


_TEMPLATE = (
    ("lsoa_code", "lsoa_name", "ward_code", "ward_name", "lcsp", "population"),
    ("E01008881", "Birmingham 067A", "E05011169", "South Yardley", "East", "1745"),
    ("E01008882", "Birmingham 066A", "E05011182", "Tyseley & Hay Mills", "East", "2055"),
)


def template_csv() -> str:
    """A CSV template for the lookup."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(_TEMPLATE)
    return buffer.getvalue()


@dataclass
class LookupInput:
    """A validated lookup, ready to write."""

    label: str
    frame: pd.DataFrame  # lsoa_code, lsoa_name, ward_code, ward_name, lcsp, lcsp_code, population
    has_lcsp: bool
    has_population: bool
    fy_from: int
    fy_to: int | None
    partnership_code: str | None
    partnership_name: str | None
    warnings: list[str] = field(default_factory=list)


def read_lookup(
    sources: Iterable, *, lcsp_column: str | None = None, fy_from: int | None = None,
    fy_to: int | None = None, partnership_code: str | None = None,
    partnership_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
) -> LookupInput:
    """Read and check one lookup file; raises ImportRejected listing every problem."""
    files, problems = expand_inputs(sources, suffixes=(".csv", ".xlsx"), max_bytes=max_bytes)
    if len(files) > 1:
        problems.append(Problem(", ".join(f.label for f in files), None, None,
                                "give one lookup file at a time"))
    fy_from = FY_FROM_START if fy_from is None else fy_from
    if fy_to is not None and fy_to < fy_from:
        problems.append(Problem("--fy-to", None, None, "is before --fy-from"))
    raise_if(problems)
    f = files[0]
    table = read_table(f, lookup_columns(lcsp_column), problems, max_bytes=max_bytes)
    raise_if(problems)
    lsoa = parse_text(table, "lsoa_code", problems, max_length=32)
    ward = parse_text(table, "ward_code", problems, max_length=32)
    lcsp = parse_text(table, "lcsp", problems, required=table.has("lcsp"), max_length=200)
    population = parse_number(table, "population", problems, minimum=0,
                              required=table.has("population"))
    report_duplicates(table, ["lsoa_code"], problems, what="LSOA")
    frame = pd.DataFrame({
        "lsoa_code": lsoa, "lsoa_name": table.col("lsoa_name").str.slice(0, 200),
        "ward_code": ward, "ward_name": table.col("ward_name").str.slice(0, 200), "lcsp": lcsp,
        "lcsp_code": table.col("lcsp_code").str.slice(0, 32),
        "population": population.round(),
    })
    if table.has("lcsp"):
        groups = frame.dropna(subset=["ward_code", "lcsp"]).groupby("ward_code")["lcsp"].nunique()
        for code in groups[groups > 1].index:
            rows = table.rows[(frame["ward_code"] == code).to_numpy()]
            names = sorted(set(frame.loc[frame["ward_code"] == code, "lcsp"]))
            problems.append(Problem(table.file, int(rows[0]), table.label("lcsp"), (
                f"ward {code} is put in more than one LCSP ({', '.join(names)}; rows "
                f"{', '.join(map(str, rows[:6]))})")))
    raise_if(problems, len(table))
    lad_codes = sorted(set(table.col("partnership_code")) - {""})
    lad_names = sorted(set(table.col("partnership_name")) - {""})
    return LookupInput(
        table.file, frame, table.has("lcsp"), table.has("population"), fy_from, fy_to,
        partnership_code or (lad_codes[0] if len(lad_codes) == 1 else None),
        partnership_name or (lad_names[0] if len(lad_names) == 1 else None))


def _apply_span(spans: list[tuple[str, int, int | None]], parent: str, fy_from: int,
                fy_to: int | None) -> list[tuple[str, int, int | None]]:
    """A child's (parent, fy_from, fy_to) spans with [fy_from, fy_to] set to ``parent``."""
    inf = 10**6
    to = inf if fy_to is None else fy_to
    out = []
    for p, a, b in spans:
        b_ = inf if b is None else b
        if a < fy_from:
            out.append((p, a, min(b_, fy_from - 1)))
        if b_ > to:
            out.append((p, max(a, to + 1), b_))
    out = [s for s in out if s[1] <= s[2]]
    out.append((parent, fy_from, to))
    out.sort(key=lambda s: s[1])
    merged: list[tuple[str, int, int]] = []
    for p, a, b in out:
        if merged and merged[-1][0] == p and merged[-1][2] + 1 == a:
            merged[-1] = (p, merged[-1][1], b)
        else:
            merged.append((p, a, b))
    return [(p, a, None if b >= inf else b) for p, a, b in merged]


def load_lookup(
    conn: sa.Connection, data: LookupInput, *, loaded_by: str, progress: Progress | None = None,
) -> ImportSummary:
    """Write the areas and their grouping for the years given; re-place loaded incidents."""
    a, m = schema.areas, schema.area_membership
    summary = ImportSummary("areas", files=[data.label], rows_read=len(data.frame))
    current = pd.DataFrame(conn.execute(sa.select(a.c.code, a.c.name, a.c.level, a.c.parent_code,
                                                  a.c.population)).all(),
                           columns=["code", "name", "level", "parent_code", "population"])
    level_of = dict(zip(current["code"], current["level"]))
    f = data.frame

    partnerships = current.loc[current["level"] == "partnership", ["code", "name"]]
    p_code = data.partnership_code or (partnerships["code"].iloc[0] if len(partnerships) == 1
                                       else "PARTNERSHIP")
    known_name = dict(zip(partnerships["code"], partnerships["name"]))
    p_name = data.partnership_name or known_name.get(p_code) or "Partnership"

    lcsp_codes: dict[str, str] = {}
    if data.has_lcsp:
        held = current[current["level"] == "lcsp"]
        existing_lcsp = {str(n).lower(): c for c, n in zip(held["code"], held["name"])}
        for name, code in f[["lcsp", "lcsp_code"]].drop_duplicates("lcsp").itertuples(index=False):
            # "City Centre" -> LCSP-CITY-CENTRE
            made_up = "LCSP-" + slugify(name).upper().replace("_", "-")
            lcsp_codes[name] = code or existing_lcsp.get(name.lower()) or made_up

    wards = f.drop_duplicates("ward_code").set_index("ward_code")
    want: dict[str, dict] = {}  # code -> areas row
    pop_known = data.has_population and f["population"].notna().all()
    ward_pop = f.groupby("ward_code")["population"].sum() if pop_known else None
    want[p_code] = {"name": p_name, "level": "partnership", "parent_code": None,
                    "population": int(f["population"].sum()) if pop_known else None}
    for name, code in lcsp_codes.items():
        members = wards.index[wards["lcsp"] == name]
        want[code] = {"name": name, "level": "lcsp", "parent_code": p_code,
                      "population": int(ward_pop[members].sum()) if pop_known else None}
    for code, row in wards.iterrows():
        want[code] = {"name": row["ward_name"] or None, "level": "ward",
                      "parent_code": lcsp_codes.get(row["lcsp"]) if data.has_lcsp else None,
                      "population": int(ward_pop[code]) if pop_known else None}
    for row in f.itertuples():
        want[row.lsoa_code] = {"name": row.lsoa_name or None, "level": "lsoa",
                               "parent_code": row.ward_code,
                               "population": None if pd.isna(row.population) else int(row.population)}

    problems = [Problem(data.label, None, None, (
        f"area {code} is already held as a {level_of[code]}, not a {row['level']}"), code)
        for code, row in want.items() if code in level_of and level_of[code] != row["level"]]
    if problems:
        raise ImportRejected(problems, len(f))

    # areas: insert new codes, update names/parents/populations of known ones (boundaries kept)
    current_grouping = data.fy_to is None
    inserts, updates = [], []
    for code, row in want.items():
        if code not in level_of:
            inserts.append({"code": code, "name": (row["name"] or code)[:200], "level": row["level"],
                            "parent_code": row["parent_code"], "population": row["population"]})
            continue
        values = {}
        if row["name"]:
            values["name"] = row["name"][:200]
        if row["parent_code"] and current_grouping:
            values["parent_code"] = row["parent_code"]
        if row["population"] is not None:
            values["population"] = row["population"]
        if values:
            updates.append((code, values))
    if inserts:
        conn.execute(a.insert(), inserts)
    changed = 0
    before = current.set_index("code")
    for code, values in updates:
        old = before.loc[code]
        if any(_differs(old[k], v) for k, v in values.items()):
            conn.execute(a.update().where(a.c.code == code).values(**values))
            changed += 1

    # area_membership: set the grouping for [fy_from, fy_to], keep other years
    links = [(lsoa, ward) for lsoa, ward in zip(f["lsoa_code"], f["ward_code"])]
    if data.has_lcsp:
        links += [(w, lcsp_codes[r["lcsp"]]) for w, r in wards.iterrows()]
        links += [(c, p_code) for c in lcsp_codes.values()]
    children = [c for c, _ in links]
    existing = pd.DataFrame(conn.execute(sa.select(m.c.child_code, m.c.parent_code, m.c.fy_from,
                                                   m.c.fy_to).where(
        m.c.child_code.in_(sa.bindparam("children", children, expanding=True)))).all(),
        columns=["child_code", "parent_code", "fy_from", "fy_to"])
    by_child: dict[str, list] = {}
    for r in existing.itertuples():
        by_child.setdefault(r.child_code, []).append(
            (r.parent_code, int(r.fy_from), None if pd.isna(r.fy_to) else int(r.fy_to)))
    new_rows = []
    for child, parent in links:
        for p, fy_a, fy_b in _apply_span(by_child.get(child, []), parent, data.fy_from, data.fy_to):
            new_rows.append({"child_code": child, "parent_code": p, "fy_from": fy_a, "fy_to": fy_b})
    old_set = {(r.child_code, r.parent_code, int(r.fy_from),
                None if pd.isna(r.fy_to) else int(r.fy_to)) for r in existing.itertuples()}
    new_set = {(r["child_code"], r["parent_code"], r["fy_from"], r["fy_to"]) for r in new_rows}
    if old_set != new_set:
        conn.execute(sa.delete(m).where(m.c.child_code.in_(
            sa.bindparam("children", children, expanding=True))))
        conn.execute(m.insert(), new_rows)

    reassigned, months = reassign_incidents(conn, sorted(set(f["lsoa_code"])), sorted(wards.index))
    if months:
        store.rebuild_months(conn, months, progress)
    refresh_group_boundaries(conn)
    import_id = store.start_import(conn, kind="areas", source="lookup", file_name=data.label,
                                   loaded_by=loaded_by,
                                   notes={"fy_from": data.fy_from, "fy_to": data.fy_to})
    store.finish_import(conn, import_id, rows_read=len(f), rows_added=len(inserts),
                        rows_replaced=changed)
    summary.import_ids.append(import_id)
    summary.rows_added = len(inserts)
    summary.rows_replaced = changed
    population = f", population {int(f['population'].sum()):,}" if pop_known else ""
    summary.details.append(
        f"{f['lsoa_code'].nunique():,} LSOAs, {len(wards):,} wards, {len(lcsp_codes):,} LCSPs in "
        f"{p_name} ({p_code}){population}")
    until = f" to {fy_label(data.fy_to)}" if data.fy_to else " on"
    summary.details.append(f"grouping holds from {fy_label(data.fy_from)}{until}")
    if reassigned:
        summary.details.append(f"{reassigned:,} incidents given a new ward or LCSP")
    return summary


def _differs(old, new) -> bool:
    if old is None or (isinstance(old, float) and np.isnan(old)):
        return new is not None
    return old != new


def reassign_incidents(conn: sa.Connection, lsoas: list[str],
                       wards: list[str]) -> tuple[int, list]:
    """Re-derive ward and LCSP of incidents in these LSOAs (or, lacking an LSOA, these wards).

    Returns (incidents changed, months they fall in) so the caller rebuilds those aggregates.
    """
    i = schema.incidents
    lookup = store.AreaLookup.load(conn)
    pairs = pd.DataFrame(conn.execute(
        sa.select(i.c.lsoa_code, i.c.ward_code, i.c.fy_start).where(sa.or_(
            i.c.lsoa_code.in_(sa.bindparam("lsoas", lsoas, expanding=True)),
            sa.and_(i.c.lsoa_code.is_(None),
                    i.c.ward_code.in_(sa.bindparam("wards", wards, expanding=True))),
        )).distinct()).all(), columns=["lsoa_code", "ward_code", "fy_start"])
    if pairs.empty:
        return 0, []
    by_lsoa = pairs[pairs["lsoa_code"].notna()].drop_duplicates(["lsoa_code", "fy_start"])
    by_ward = pairs[pairs["lsoa_code"].isna()].drop_duplicates(["ward_code", "fy_start"])
    new_ward, new_lcsp = lookup.assign(by_lsoa["lsoa_code"], by_lsoa["fy_start"].to_numpy())
    keyed_lsoa = pd.DataFrame({"k_code": by_lsoa["lsoa_code"].to_numpy(),
                               "k_fy": by_lsoa["fy_start"].to_numpy(),
                               "k_ward": new_ward.to_numpy(), "k_lcsp": new_lcsp.to_numpy()})
    _, ward_lcsp = lookup.assign(pd.Series([None] * len(by_ward), dtype=object),
                                 by_ward["fy_start"].to_numpy(), by_ward["ward_code"])
    keyed_ward = pd.DataFrame({"k_code": by_ward["ward_code"].to_numpy(),
                               "k_fy": by_ward["fy_start"].to_numpy(),
                               "k_ward": by_ward["ward_code"].to_numpy(),
                               "k_lcsp": ward_lcsp.to_numpy()})
    changed, months = 0, set()
    for keyed, match_column in ((keyed_lsoa, i.c.lsoa_code), (keyed_ward, i.c.ward_code)):
        if keyed.empty:
            continue
        tmp = sa.Table(f"tmp_reassign_{match_column.name}", sa.MetaData(),
                       sa.Column("k_code", sa.String(32)), sa.Column("k_fy", sa.Integer),
                       sa.Column("k_ward", sa.String(32)), sa.Column("k_lcsp", sa.String(32)),
                       prefixes=["TEMPORARY"])
        tmp.create(conn)
        try:
            bulk_insert(conn, tmp, keyed)
            differs = sa.or_(i.c.ward_code.is_distinct_from(tmp.c.k_ward),
                             i.c.lcsp_code.is_distinct_from(tmp.c.k_lcsp))
            join = (match_column == tmp.c.k_code, i.c.fy_start == tmp.c.k_fy)
            extra = (i.c.lsoa_code.is_(None),) if match_column is i.c.ward_code else ()
            hits = conn.execute(sa.select(i.c.month_start, sa.func.count()).select_from(
                i.join(tmp, sa.and_(*join))).where(differs, *extra).group_by(i.c.month_start)).all()
            if hits:
                conn.execute(sa.update(i).where(*join, differs, *extra).values(
                    ward_code=tmp.c.k_ward, lcsp_code=tmp.c.k_lcsp))
                changed += sum(n for _, n in hits)
                months.update(store.as_dates([h[0] for h in hits]))
        finally:
            tmp.drop(conn)
    return changed, sorted(months)
