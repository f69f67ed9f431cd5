"""Reporting periods used across the partnership.

Conventions (BRIEF): the financial year runs April to March and is written "2025/26";
quarter 1 is April-June; ISO weeks follow ISO 8601. Everything here is pure and works on
scalars (``datetime.date``) or, for the ``*_series`` helpers, on pandas Series in bulk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

FY_START_MONTH = 4


def fy_start_year(day: dt.date) -> int:
    """Calendar year in which the financial year containing ``day`` starts."""
    return day.year if day.month >= FY_START_MONTH else day.year - 1


def fy_label(start_year: int) -> str:
    """Label of the financial year starting in April of ``start_year``: 2025 -> "2025/26"."""
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def fy_of(day: dt.date) -> str:
    """Financial-year label of a date."""
    return fy_label(fy_start_year(day))


def parse_fy(label: str) -> int:
    """Start year of a label such as "2025/26"; raises ValueError on anything else."""
    text = str(label).strip()
    parts = text.split("/")
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()) or len(parts[0]) != 4:
        raise ValueError(f"not a financial year like 2025/26: {label!r}")
    start = int(parts[0])
    if (start + 1) % 100 != int(parts[1]):
        raise ValueError(f"financial year halves do not follow on: {label!r}")
    return start


def fy_quarter(day: dt.date) -> int:
    """Financial quarter 1-4 (Q1 = April-June)."""
    return (day.month - FY_START_MONTH) % 12 // 3 + 1


@dataclass(frozen=True)
class Period:
    """A closed date interval with a human label."""

    start: dt.date
    end: dt.date  # inclusive
    label: str

    def previous_year(self) -> "Period":
        """The same period one year earlier (29 February falls back to the 28th)."""
        return Period(_minus_year(self.start), _minus_year(self.end), f"{self.label} a year earlier")

    def months(self) -> list[dt.date]:
        """First days of the months this period touches."""
        out, cur = [], self.start.replace(day=1)
        while cur <= self.end:
            out.append(cur)
            cur = (cur.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return out


def _minus_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def fy_period(start_year: int) -> Period:
    """The whole financial year as a Period."""
    return Period(dt.date(start_year, 4, 1), dt.date(start_year + 1, 3, 31), fy_label(start_year))


def quarter_period(start_year: int, quarter: int) -> Period:
    """Quarter ``quarter`` (1-4) of the financial year starting in ``start_year``."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, not {quarter!r}")
    first_month = (FY_START_MONTH - 1 + 3 * (quarter - 1)) % 12 + 1
    year = start_year if first_month >= FY_START_MONTH else start_year + 1
    start = dt.date(year, first_month, 1)
    end_month_first = (start.replace(day=28) + dt.timedelta(days=4 + 62)).replace(day=1)
    return Period(start, end_month_first - dt.timedelta(days=1), f"{fy_label(start_year)} Q{quarter}")


def year_to_date(start_year: int, data_end: dt.date) -> Period:
    """Financial year ``start_year`` cut at ``data_end`` when the year is still running."""
    whole = fy_period(start_year)
    if data_end >= whole.end:
        return whole
    return Period(whole.start, data_end, f"{whole.label} to {data_end:%d %b %Y}")


def complete_months_end(data_end: dt.date) -> dt.date:
    """Last day of the last complete month on or before ``data_end``."""
    next_day = data_end + dt.timedelta(days=1)
    if next_day.day == 1:
        return data_end
    return data_end.replace(day=1) - dt.timedelta(days=1)


# --- vectorised derivations, computed once when incidents are loaded -------------------

def derive_period_columns(dates: pd.Series) -> pd.DataFrame:
    """Financial year (label and start), quarter, month start, ISO year/week and weekday.

    ``dates`` is a Series of datetime64 or ``date`` values. Weekday is 0 = Monday.
    """
    d = pd.to_datetime(dates)
    year = d.dt.year.to_numpy()
    month = d.dt.month.to_numpy()
    fy_start = np.where(month >= FY_START_MONTH, year, year - 1)
    labels = {int(y): fy_label(int(y)) for y in np.unique(fy_start)}
    iso = d.dt.isocalendar()
    return pd.DataFrame(
        {
            "fy_start": fy_start.astype("int32"),
            "financial_year": pd.Series(fy_start).map(labels).to_numpy(),
            "fy_quarter": ((month - FY_START_MONTH) % 12 // 3 + 1).astype("int16"),
            "month_start": (d.dt.to_period("M").dt.start_time).dt.date.to_numpy(),
            "iso_year": iso["year"].astype("int32").to_numpy(),
            "iso_week": iso["week"].astype("int16").to_numpy(),
            "weekday": d.dt.day_of_week.astype("int16").to_numpy(),
        },
        index=dates.index,
    )
