"""Build the whole synthetic dataset: small tables in memory, incidents as a monthly stream.

``build_dataset`` returns a :class:`Dataset` whose ``tables`` hold every small table keyed by its
name in :mod:`data_access.schema` and whose ``incident_frames()`` yields one DataFrame per month,
so tens of millions of incidents never sit in memory at once. The loader
(``data_access.bootstrap.load_dataset``) writes both; nothing here touches a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from sample_data.geography import Geography, build_geography
from sample_data.incidents import (
    DEFAULT_END, DEFAULT_START, categories_frame, iter_incident_frames, month_count,
)
from sample_data.partnership import actions_frame, events_frame, kpi_frames, overlays_frame

Progress = Callable[[int, int, str], None]

DEFAULT_SEED = 20251
DATASET_NAME = "Birmingham (synthetic sample)"
FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")


@dataclass(frozen=True, eq=False)  # identity hash: it holds frames
class Dataset:
    """A generated dataset: small tables plus a re-iterable monthly incident stream."""

    tables: dict[str, pd.DataFrame]
    geography: Geography
    seed: int
    scale: float
    start: dt.date
    end: dt.date
    progress: Progress | None = field(default=None, compare=False)

    def incident_frames(self) -> Iterator[pd.DataFrame]:
        """One incident DataFrame per month; each call starts again from the first month."""
        return iter_incident_frames(self.geography, self.seed, self.start, self.end, self.scale,
                                    progress=self.progress)

    def incident_frame_count(self) -> int:
        """How many frames ``incident_frames()`` yields."""
        return month_count(self.start, self.end)


def _fy(day: dt.date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def fund_tables(seed: int, fy_starts: list[int]) -> dict[str, pd.DataFrame]:
    """Community Safety Fund tables from ``sample_data.fund`` (written separately)."""
    try:
        from sample_data.fund import fund_frames
    except ImportError as exc:  # pragma: no cover - only while the fund module is being written
        raise ImportError("sample_data.fund is missing: the Community Safety Fund generator "
                          "(fund_frames) must be installed alongside sample_data") from exc
    frames = fund_frames(seed, fy_starts)
    return {name: frames[name] for name in FUND_TABLES if name in frames}


def build_dataset(
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
    progress: Progress | None = None,
    *,
    include_fund: bool = True,
) -> Dataset:
    """Generate the small tables now; incidents are generated lazily by ``incident_frames()``."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    geo = build_geography(seed)
    areas, membership = geo.areas.copy(), geo.membership.copy()
    as_of = end + dt.timedelta(days=21)  # the day the sample pretends to be (report date)
    kpi_definitions, kpi_values = kpi_frames(geo, seed, end)
    tables: dict[str, pd.DataFrame] = {
        "dataset_info": dataset_info_frame(seed, scale, start, end),
        "areas": areas,
        "area_membership": membership,
        "categories": categories_frame(),
        "events": events_frame(geo, range(start.year - 1, end.year + 2)),
        "overlays": overlays_frame(geo, seed),
        "actions": actions_frame(seed, as_of),
        "kpi_definitions": kpi_definitions,
        "kpi_values": kpi_values,
        "source_months": pd.DataFrame(columns=["source", "month_start", "is_complete", "note"]),
    }
    if include_fund:
        tables.update(fund_tables(seed, list(range(_fy(start), _fy(end) + 1))))
    return Dataset(tables=tables, geography=geo, seed=seed, scale=scale, start=start, end=end,
                   progress=progress)


def dataset_info_frame(seed: int, scale: float, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Key/value facts the data status page shows about a generated database."""
    rows = {
        "name": DATASET_NAME,
        "synthetic": "true",
        "generator": "sample_data",
        "seed": str(seed),
        "scale": f"{scale:g}",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "note": "Synthetic sample: invented incidents, boundaries and returns; real ward names only.",
    }
    return pd.DataFrame({"key": list(rows), "value": list(rows.values())})
