"""Writing imported incidents: categories, area codes, import log, replacement and aggregates.

Shared by the incident importers. Every function takes a Connection already inside the caller's
one transaction (:func:`data_access.engine.write_transaction`).

Area codes: an incident's ward comes from its LSOA and its LCSP from its ward, each through
``area_membership`` in force in the incident's financial year (the LCSP grouping of wards
changes between years), falling back to ``areas.parent_code``. An LSOA outside the partnership's
lookup (police.uk files include crimes just over a force boundary) gets no ward and no LCSP:
the aggregates count it as "not located" so totals still match the source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from data_access.aggregates import rebuild_aggregates
from data_access.importers.common import format_notes, parse_notes
from data_access.loading import insert_incidents, log_import, next_id

Progress = Callable[[int, int, str], None]
INSERT_CHUNK_ROWS = 100_000


# --- categories --------------------------------------------------------------------------------

def known_categories(conn: sa.Connection, source: str) -> dict[str, str]:
    """Category -> label for ``source``."""
    c = schema.categories.c
    rows = conn.execute(sa.select(c.category, c.label).where(c.source == source)).all()
    return {r.category: r.label for r in rows}


def ensure_categories(
    conn: sa.Connection, source: str, wanted: dict[str, tuple[str, bool, bool]]
) -> list[str]:
    """Add the (category -> (label, is_asb, is_sensitive)) rows ``source`` lacks; returns them.

    Existing rows are left as they are: an administrator may have relabelled them.
    """
    have = known_categories(conn, source)
    missing = [k for k in wanted if k not in have]
    if not missing:
        return []
    c = schema.categories.c
    order = conn.execute(sa.select(sa.func.max(c.sort_order))).scalar() or 0
    conn.execute(schema.categories.insert(), [
        {"source": source, "category": k, "label": wanted[k][0][:120], "is_asb": wanted[k][1],
         "is_sensitive": wanted[k][2], "sort_order": order + i}
        for i, k in enumerate(missing, start=1)
    ])
    return missing


# --- areas -------------------------------------------------------------------------------------

class AreaLookup:
    """LSOA -> ward and ward -> LCSP, by financial year, as the database holds them."""

    def __init__(self, lsoa_ward: dict[str, list], ward_lcsp: dict[str, list],
                 known_wards: set[str]) -> None:
        self._lsoa_ward = lsoa_ward
        self._ward_lcsp = ward_lcsp
        self._known_wards = known_wards

    @classmethod
    def load(cls, conn: sa.Connection) -> "AreaLookup":
        """Read the lookup from ``areas`` and ``area_membership``."""
        a, m = schema.areas, schema.area_membership
        areas = pd.DataFrame(conn.execute(
            sa.select(a.c.code, a.c.level, a.c.parent_code)).all(),
            columns=["code", "level", "parent_code"])
        level = dict(zip(areas["code"], areas["level"]))
        links: dict[str, dict[str, list]] = {"lsoa": {}, "ward": {}}
        for row in conn.execute(sa.select(m.c.child_code, m.c.parent_code, m.c.fy_from, m.c.fy_to)):
            child_level, parent_level = level.get(row.child_code), level.get(row.parent_code)
            if (child_level, parent_level) in (("lsoa", "ward"), ("ward", "lcsp")):
                links[child_level].setdefault(row.child_code, []).append(
                    (row.fy_from, row.fy_to, row.parent_code))
        for row in areas.itertuples():
            # Fallback for an area with no membership history: its current parent, any year.
            if row.level in links and row.parent_code and row.code not in links[row.level]:
                if level.get(row.parent_code) == {"lsoa": "ward", "ward": "lcsp"}[row.level]:
                    links[row.level][row.code] = [(-10_000, None, row.parent_code)]
        for spans in (*links["lsoa"].values(), *links["ward"].values()):
            spans.sort(key=lambda s: s[0])
        wards = set(areas.loc[areas["level"] == "ward", "code"])
        return cls(links["lsoa"], links["ward"], wards)

    @staticmethod
    def _at(spans: list | None, fy: int) -> str | None:
        if not spans:
            return None
        for fy_from, fy_to, parent in spans:
            if fy_from <= fy and (fy_to is None or fy <= fy_to):
                return parent
        # Outside every recorded span: the nearest grouping (before the first, after the last).
        return spans[0][2] if fy < spans[0][0] else spans[-1][2]

    def assign(
        self, lsoa: pd.Series, fy_start: np.ndarray, ward: pd.Series | None = None
    ) -> tuple[pd.Series, pd.Series]:
        """Ward and LCSP codes (None when unknown) for each row; a given ward is kept."""
        frame = pd.DataFrame({
            "lsoa": lsoa.astype(object).where(lsoa.notna(), None).to_numpy(),
            "fy": np.asarray(fy_start, dtype="int64"),
            "ward": (ward.astype(object).where(ward.notna(), None).to_numpy()
                     if ward is not None else None),
        })
        keys = frame.drop_duplicates().reset_index(drop=True)
        wards, lcsps = [], []
        for lsoa_code, fy, given in keys.itertuples(index=False):
            w = given if given else self._at(self._lsoa_ward.get(lsoa_code), fy)
            wards.append(w)
            lcsps.append(self._at(self._ward_lcsp.get(w), fy) if w else None)
        keys["ward_code"], keys["lcsp_code"] = wards, lcsps
        merged = frame.merge(keys, on=["lsoa", "fy", "ward"], how="left", sort=False)
        return (pd.Series(merged["ward_code"].to_numpy(dtype=object), index=lsoa.index),
                pd.Series(merged["lcsp_code"].to_numpy(dtype=object), index=lsoa.index))

    def is_ward(self, code: str) -> bool:
        """Whether ``code`` is a ward the database knows."""
        return code in self._known_wards


class PointLocator:
    """The LSOA and ward each point falls in, from the boundaries held in ``areas``."""

    def __init__(self, levels: dict[str, tuple[np.ndarray, object]]) -> None:
        self._levels = levels

    @classmethod
    def load(cls, conn: sa.Connection) -> "PointLocator":
        """Index the LSOA and ward polygons (none when no boundaries are loaded)."""
        import shapely

        a = schema.areas.c
        levels = {}
        for level in ("lsoa", "ward"):
            rows = conn.execute(sa.select(a.code, a.boundary_geojson).where(
                a.level == level, a.boundary_geojson.is_not(None))).all()
            if rows:
                geoms = shapely.from_geojson([r.boundary_geojson for r in rows], on_invalid="ignore")
                levels[level] = (np.array([r.code for r in rows], dtype=object),
                                 shapely.STRtree(geoms))
        return cls(levels)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(LSOA codes, ward codes) of each point, None where no polygon holds it."""
        import shapely

        points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        out = {}
        for level in ("lsoa", "ward"):
            codes = np.full(len(points), None, dtype=object)
            if level in self._levels:
                names, tree = self._levels[level]
                point_idx, geom_idx = tree.query(points, predicate="within")
                codes[point_idx] = names[geom_idx]
            out[level] = codes
        return out["lsoa"], out["ward"]


# --- import log ----------------------------------------------------------------------------------

def start_import(conn: sa.Connection, *, kind: str, source: str | None, file_name: str,
                 loaded_by: str, notes: dict | None = None) -> int:
    """Log an import (counts filled in by :func:`finish_import`) and return its id."""
    return log_import(conn, kind=kind, source=source, file_name=file_name[-300:],
                      loaded_by=loaded_by[:120], notes=format_notes(notes or {}) or None)


def finish_import(conn: sa.Connection, import_id: int, **values) -> None:
    """Record an import's counts and period."""
    conn.execute(schema.imports.update()
                 .where(schema.imports.c.import_id == import_id).values(**values))


def previous_imports(conn: sa.Connection, kind: str, **match: str) -> list[int]:
    """Ids of earlier imports of ``kind`` whose notes carry every ``match`` key with that value."""
    im = schema.imports.c
    rows = conn.execute(sa.select(im.import_id, im.notes).where(im.kind == kind)).all()
    out = []
    for import_id, notes in rows:
        parsed = parse_notes(notes)
        if all(parsed.get(k, "") == v for k, v in match.items()):
            out.append(import_id)
    return out


# --- incidents -----------------------------------------------------------------------------------

def delete_incidents(conn: sa.Connection, *where: sa.ColumnElement) -> int:
    """Delete the incidents matching ``where``; returns how many there were."""
    i = schema.incidents
    n = conn.execute(sa.select(sa.func.count()).select_from(i).where(*where)).scalar_one()
    if n:
        conn.execute(sa.delete(i).where(*where))
    return int(n)


def months_of(conn: sa.Connection, *where: sa.ColumnElement) -> list[dt.date]:
    """Distinct ``month_start`` values of the incidents matching ``where``."""
    i = schema.incidents
    return [_as_date(m) for (m,) in conn.execute(sa.select(i.c.month_start).where(*where).distinct())]


def insert_incident_frame(
    conn: sa.Connection, frame: pd.DataFrame, *, first_id: int, import_id: int,
    progress: Progress | None = None, done_before: int = 0, total: int | None = None,
) -> int:
    """Give ids from ``first_id`` and insert through the shared loader (in chunks, with progress)."""
    frame = frame.reset_index(drop=True)
    frame["incident_id"] = np.arange(first_id, first_id + len(frame), dtype=np.int64)
    chunks = [frame.iloc[s:s + INSERT_CHUNK_ROWS] for s in range(0, len(frame), INSERT_CHUNK_ROWS)]
    total = total or len(frame)
    rows = 0

    def report(done_chunks: int, _total: int, _message: str) -> None:
        if progress:
            loaded = done_before + min(done_chunks * INSERT_CHUNK_ROWS, len(frame))
            progress(loaded, total, f"incidents written: {loaded:,}")

    if chunks:
        rows, _, _ = insert_incidents(conn, chunks, import_id=import_id, progress=report)
    return rows


def new_incident_id(conn: sa.Connection) -> int:
    """The next free incident id (taken before any delete, so ids are never reused in a write)."""
    return next_id(conn, schema.incidents.c.incident_id)


def rebuild_months(conn: sa.Connection, months: Iterable[dt.date],
                   progress: Progress | None = None) -> None:
    """Rebuild the aggregate tables for the given months, one contiguous run at a time."""
    runs = month_runs(months)
    for k, (first, last) in enumerate(runs, start=1):
        def step(done: int, total: int, message: str, k=k) -> None:
            if progress:
                progress((k - 1) * total + done, len(runs) * total, message)
        rebuild_aggregates(conn, first, last, progress=step)


def month_runs(months: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of months, as (first, last) pairs."""
    ordered = sorted({_as_date(m).replace(day=1) for m in months})
    runs: list[tuple[dt.date, dt.date]] = []
    for m in ordered:
        if runs and _next_month(runs[-1][1]) == m:
            runs[-1] = (runs[-1][0], m)
        else:
            runs.append((m, m))
    return runs


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def as_dates(values: Sequence) -> list[dt.date]:
    """Python dates of datetime-like values (for bound parameters)."""
    return [_as_date(v) for v in values]
