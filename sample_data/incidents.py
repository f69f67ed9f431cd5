"""Synthetic recorded crime and ASB incidents, generated one month at a time.

The model is an intensity per (day, ward, stream) where a *stream* is a category (or an ASB type,
or a slice of a violence category such as its domestic-abuse or night-time-economy part) with
its own volume, trend, seasonality, weekday and hour profile, geography and flag rates. Each
month draws Poisson counts from that array and expands them with ``np.repeat``; locations
(LSOA within ward, snap point within LSOA), hours and flags are then drawn for all rows at once.
There is no Python loop per incident, and each month has its own random stream, seeded from
(seed, year, month), so any month can be regenerated on its own.

Patterns built in (BRIEF, 2025 strategic assessment): violence about 39% of recorded crime,
shoplifting up about a third in 2024, robbery falling, total crime down about 7% in 2024; COVID
lockdowns (less crime, more ASB); summer and school-holiday ASB; the Halloween to Bonfire Night
"mischief fortnight"; December night-time economy violence; weekend-night violence; weekday
violence peaking 12:00-15:59; ASB peaking 17:00-19:00; a Monday peak in domestic abuse
reports; violence concentrated in the city centre, Lozells, Handsworth, Aston, Stockland Green
and Sparkbrook; ASB highest in Erdington, the Yardley wards and Ladywood; Sutton Coldfield
lowest; repeat locations from Zipf-weighted snap points.

Columns of each frame match ``data_access.schema.incidents`` without the derived ones. Text
columns are pandas Categoricals (cheap for millions of rows; values are plain strings).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from sample_data.geography import LCSPS, REAL_STREETS, Geography
from sample_data.partnership import bank_holidays, local_events, school_holidays

Progress = Callable[[int, int, str], None]

DEFAULT_START = dt.date(2020, 4, 1)
DEFAULT_END = dt.date(2026, 10, 31)
CRIME_PER_YEAR = 130_000  # at scale 1.0, 2024 level
ASB_PER_YEAR = 60_000
ID_MONTH_FACTOR = 100_000_000  # incident_id = yyyymm * 1e8 + row: unique, increasing, per-month stable

INCIDENT_COLUMNS = (
    "incident_id", "source", "source_ref", "category", "subcategory", "incident_date",
    "date_precision", "hour", "longitude", "latitude", "location_text", "lsoa_code", "ward_code",
    "lcsp_code", "is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat",
)
FLAGS = ("is_domestic_abuse", "is_vawg", "is_alcohol", "is_weapon", "is_hate", "is_repeat")

# source, category, label, sensitive (never mapped as points; small counts suppressed)
CATEGORIES: tuple[tuple[str, str, str, bool], ...] = (
    ("recorded_crime", "violence_with_injury", "Violence with injury", False),
    ("recorded_crime", "violence_without_injury", "Violence without injury", False),
    ("recorded_crime", "stalking_and_harassment", "Stalking and harassment", False),
    ("recorded_crime", "sexual_offences", "Sexual offences", True),
    ("recorded_crime", "robbery", "Robbery", False),
    ("recorded_crime", "burglary", "Burglary", False),
    ("recorded_crime", "vehicle_crime", "Vehicle crime", False),
    ("recorded_crime", "shoplifting", "Shoplifting", False),
    ("recorded_crime", "theft_from_the_person", "Theft from the person", False),
    ("recorded_crime", "other_theft", "Other theft", False),
    ("recorded_crime", "bicycle_theft", "Bicycle theft", False),
    ("recorded_crime", "criminal_damage_and_arson", "Criminal damage and arson", False),
    ("recorded_crime", "public_order", "Public order offences", False),
    ("recorded_crime", "drugs", "Drugs", False),
    ("recorded_crime", "possession_of_weapons", "Possession of weapons", False),
    ("recorded_crime", "modern_slavery", "Modern slavery", True),
    ("recorded_crime", "other_crime", "Other crime", False),
    ("asb", "anti_social_behaviour", "Anti-social behaviour", False),
)
VIOLENCE_CATEGORIES = ("violence_with_injury", "violence_without_injury", "stalking_and_harassment")
ASB_TYPES = (
    ("neighbour", "Neighbour-related"), ("vehicle_nuisance", "Vehicle nuisance"),
    ("aggressive_threatening", "Aggressive or threatening"), ("youth", "Youth-related"),
    ("begging_rough_sleeping", "Begging and rough sleeping"), ("environmental", "Environmental"),
    ("substance_misuse", "Substance misuse"), ("other", "Other ASB"),
)

# Weekday factors, Monday first.
_WD_FLAT = (1.0, 1.0, 1.0, 1.0, 1.03, 1.0, 0.97)
_WD_DA = (1.28, 1.0, 0.95, 0.92, 0.94, 0.96, 1.08)  # Monday reporting peak after weekends
_WD_NTE = (0.45, 0.4, 0.5, 0.75, 1.25, 2.1, 1.55)  # Sat/Sun carry the Fri/Sat night's early hours
_WD_VAP = (1.06, 1.06, 1.06, 1.05, 1.0, 0.9, 0.87)
_WD_ASB = (0.95, 0.94, 0.95, 0.97, 1.05, 1.1, 1.04)
_WD_RETAIL = (1.0, 1.0, 1.0, 1.0, 1.05, 1.12, 0.83)


@dataclass(frozen=True)
class Stream:
    """One component of the intensity model (see module docstring)."""

    source: str
    category: str
    subcategory: str
    share: float  # of its source's yearly volume (2024)
    spatial: str  # ward multiplier group (see _ward_multipliers)
    place: int  # 0 street, 1 retail, 2 night-time economy: which LSOAs and snap points
    hours: str  # hour profile (see _HOUR_PROFILES)
    weekday: tuple[float, ...] = _WD_FLAT
    trend: str = "crime"
    covid: str = "crime"
    amp: float = 0.05  # amplitude of the yearly cosine
    peak_doy: int = 196  # day of year at the yearly peak (mid July)
    school: float = 1.0
    mischief: float = 1.0
    december: float = 1.0
    bank_holiday: float = 1.0
    hour_known: float = 0.95
    loc_missing: float = 0.02
    da: float = 0.0
    vawg: float = 0.0
    alcohol: float = 0.0
    weapon: float = 0.0
    hate: float = 0.0
    repeat: float = 0.04


def _crime(category: str, share: float, spatial: str, hours: str = "general", **kw) -> Stream:
    return Stream("recorded_crime", category, "", share, spatial, kw.pop("place", 0), hours, **kw)


def _asb(sub: str, share: float, spatial: str = "asb", hours: str = "asb", **kw) -> Stream:
    kw.setdefault("weekday", _WD_ASB)
    return Stream("asb", "anti_social_behaviour", sub, share, spatial, kw.pop("place", 0), hours,
                  trend="asb", covid=kw.pop("covid", "asb"), hour_known=0.995, loc_missing=0.015,
                  **kw)


# Violence against the person (the first three categories) is 39% of crime; about 40% of it is
# domestic (reports peak on Mondays), 10-16% night-time economy (weekend nights, alcohol).
STREAMS: tuple[Stream, ...] = (
    _crime("violence_with_injury", 0.12 * 0.36, "da", "da", weekday=_WD_DA, covid="da", da=1.0,
           vawg=0.72, alcohol=0.15, weapon=0.08, repeat=0.27, bank_holiday=1.2, december=1.08,
           loc_missing=0.03),
    _crime("violence_with_injury", 0.12 * 0.16, "nte", "nte", weekday=_WD_NTE, covid="nte",
           place=2, december=1.3, vawg=0.15, alcohol=0.65, weapon=0.22, bank_holiday=1.3, amp=0.08),
    _crime("violence_with_injury", 0.12 * 0.48, "violence", "vap", weekday=_WD_VAP, vawg=0.12,
           alcohol=0.1, weapon=0.36, hate=0.02, amp=0.08, school=0.95),
    _crime("violence_without_injury", 0.16 * 0.40, "da", "da", weekday=_WD_DA, covid="da", da=1.0,
           vawg=0.72, alcohol=0.12, weapon=0.06, repeat=0.27, bank_holiday=1.2, december=1.08,
           loc_missing=0.03),
    _crime("violence_without_injury", 0.16 * 0.10, "nte", "nte", weekday=_WD_NTE, covid="nte",
           place=2, december=1.3, vawg=0.2, alcohol=0.55, weapon=0.12, hate=0.03, amp=0.08),
    _crime("violence_without_injury", 0.16 * 0.50, "violence", "vap", weekday=_WD_VAP, vawg=0.15,
           alcohol=0.06, weapon=0.26, hate=0.045, amp=0.07, school=0.95),
    _crime("stalking_and_harassment", 0.11 * 0.45, "da", "da", weekday=_WD_DA, covid="da", da=1.0,
           vawg=0.8, weapon=0.01, repeat=0.3, loc_missing=0.03),
    _crime("stalking_and_harassment", 0.11 * 0.55, "violence", "general", vawg=0.55, hate=0.03,
           weapon=0.01, repeat=0.12),
    _crime("sexual_offences", 0.03, "violence", "da", da=0.15, vawg=1.0, alcohol=0.1, amp=0.06,
           loc_missing=0.03),
    _crime("robbery", 0.035, "violence", "evening", trend="robbery", covid="acquisitive",
           weapon=0.45, amp=-0.06, peak_doy=15, school=1.1),
    _crime("burglary", 0.06, "property", "burglary", amp=-0.12, peak_doy=340, hour_known=0.65),
    _crime("vehicle_crime", 0.09, "property", "night", amp=-0.06, peak_doy=340, hour_known=0.7),
    _crime("shoplifting", 0.07, "retail", "retail", weekday=_WD_RETAIL, trend="shoplifting",
           covid="acquisitive", place=1, december=1.22, amp=0.0, hour_known=0.97),
    _crime("theft_from_the_person", 0.02, "theft_person", "retail", weekday=_WD_RETAIL,
           covid="acquisitive", place=2, december=1.35, amp=-0.05, peak_doy=350),
    _crime("other_theft", 0.075, "property", "general", amp=0.06),
    _crime("bicycle_theft", 0.01, "bicycle", "retail", amp=0.3, peak_doy=200, hour_known=0.8),
    _crime("criminal_damage_and_arson", 0.08, "property", "evening", da=0.08, mischief=1.7,
           school=1.08, hate=0.01, weapon=0.02, amp=0.05),
    _crime("public_order", 0.075, "violence", "evening", alcohol=0.18, hate=0.12, weapon=0.04,
           amp=0.08, school=1.05, mischief=1.2),
    _crime("drugs", 0.025, "drugs", "evening", covid="drugs", weapon=0.05, amp=0.05),
    _crime("possession_of_weapons", 0.015, "drugs", "evening", weapon=1.0, amp=0.05),
    _crime("modern_slavery", 0.003, "drugs", "general", vawg=0.5, amp=0.0, loc_missing=0.1),
    _crime("other_crime", 0.022, "general", "general", weapon=0.1, amp=0.0),
    # ASB types: the 2024 call themes (neighbour 20%, vehicle 15%, aggressive 15%, youth 10%,
    # begging 8%), the rest shared between environmental, substance misuse and other.
    _asb("neighbour", 0.20, amp=0.12, school=1.05, mischief=1.3, repeat=0.27, bank_holiday=1.15,
         covid="asb_lockdown", weekday=(0.98, 0.93, 0.93, 0.95, 1.03, 1.13, 1.1)),
    _asb("vehicle_nuisance", 0.15, spatial="asb_outer", amp=0.32, peak_doy=185, school=1.15,
         mischief=1.1, repeat=0.1, hours="asb_late"),
    _asb("aggressive_threatening", 0.15, spatial="asb_centre", amp=0.1, mischief=1.4, repeat=0.08),
    _asb("youth", 0.10, amp=0.38, peak_doy=205, school=1.45, mischief=2.4, repeat=0.08,
         hours="youth", weekday=(0.95, 0.92, 0.93, 0.95, 1.08, 1.14, 1.03)),
    _asb("begging_rough_sleeping", 0.08, spatial="asb_centre", place=1, amp=-0.08, peak_doy=15,
         december=1.3, repeat=0.12, hours="daytime"),
    _asb("environmental", 0.14, amp=0.2, peak_doy=170, mischief=1.9, repeat=0.06),
    _asb("substance_misuse", 0.09, spatial="asb_centre", amp=0.15, repeat=0.08, hours="asb_late"),
    _asb("other", 0.09, amp=0.08, mischief=1.3, repeat=0.06, covid="asb_lockdown"),
)

# Calendar-year mean level relative to 2024. Shoplifting +34% in 2024, robbery falling, total
# recorded crime about -7% in 2024 (BRIEF, 2025-28 strategy).
TRENDS: dict[str, dict[int, float]] = {
    "crime": {2018: 1.02, 2019: 1.04, 2020: 1.03, 2021: 1.06, 2022: 1.10, 2023: 1.10, 2024: 1.0,
              2025: 0.97, 2026: 0.95, 2027: 0.94},
    "shoplifting": {2018: 0.66, 2019: 0.64, 2020: 0.6, 2021: 0.6, 2022: 0.64, 2023: 0.746,
                    2024: 1.0, 2025: 1.17, 2026: 1.24, 2027: 1.28},
    "robbery": {2018: 1.5, 2019: 1.45, 2020: 1.36, 2021: 1.28, 2022: 1.2, 2023: 1.12, 2024: 1.0,
                2025: 0.9, 2026: 0.84, 2027: 0.8},
    "asb": {2018: 1.0, 2019: 1.04, 2020: 1.12, 2021: 1.1, 2022: 1.05, 2023: 1.03, 2024: 1.0,
            2025: 0.96, 2026: 0.94, 2027: 0.93},
}


# Month multipliers for the COVID-19 lockdowns (2020-21): less street crime and night life, more
# ASB (reported breaches), more drugs offences found by proactive patrols.
_LOCKDOWN = {(2020, 3): 0.8, (2020, 4): 0.35, (2020, 5): 0.45, (2020, 6): 0.65, (2020, 7): 0.85,
             (2020, 8): 0.9, (2020, 9): 0.9, (2020, 10): 0.8, (2020, 11): 0.45, (2020, 12): 0.7,
             (2021, 1): 0.35, (2021, 2): 0.4, (2021, 3): 0.5, (2021, 4): 0.65, (2021, 5): 0.8,
             (2021, 6): 0.9, (2021, 7): 0.95}


def _covid_factor(kind: str, year: int, month: int) -> float:
    lock = _LOCKDOWN.get((year, month), 1.0)
    strength = 1.0 - lock  # 0 normal, 0.65 deepest lockdown
    return {
        "crime": 1.0 - 0.35 * strength,
        "acquisitive": 1.0 - 0.8 * strength,
        "nte": 1.0 - 1.0 * strength * 0.85,
        "da": 1.0 + 0.15 * strength,
        "drugs": 1.0 + 0.5 * strength,
        "asb": 1.0 + 0.25 * strength,
        "asb_lockdown": 1.0 + 1.2 * strength,
    }[kind]


@lru_cache(maxsize=None)
def _trend_points(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Mid-year knots whose monthly linear interpolation has the TRENDS calendar-year means.

    A smooth trend (no step every January) that still hits the published year-on-year changes:
    solve the small linear system "mean of the interpolated months of year i = TRENDS[i]".
    """
    years = np.array(sorted(TRENDS[kind]), dtype=float)
    knots = years + 0.5
    months = (np.arange(12) + 0.5) / 12
    basis = np.eye(len(years))
    design = np.array([[np.interp(y + months, knots, basis[j]).mean() for j in range(len(years))]
                       for y in years])
    values = np.linalg.solve(design, np.array([TRENDS[kind][int(y)] for y in years]))
    return knots, values


def _trend_level(kind: str, t: float) -> float:
    knots, values = _trend_points(kind)
    return float(np.interp(t, knots, values))


# Ward multipliers on top of population (index by ward name).
_CENTRE_VIOLENCE = {"Ladywood": 5.0, "Soho & Jewellery Quarter": 2.2, "Nechells": 2.3,
                    "Bordesley & Highgate": 2.8, "Lozells": 1.9, "Handsworth": 1.7, "Aston": 1.8,
                    "Stockland Green": 1.8, "Sparkbrook & Balsall Heath East": 1.8}
_NTE = {"Ladywood": 16.0, "Bordesley & Highgate": 6.0, "Soho & Jewellery Quarter": 3.5,
        "Bournbrook & Selly Park": 2.5, "Sutton Trinity": 2.0, "Moseley": 1.6,
        "Brandwood & King's Heath": 1.6, "Erdington": 1.5, "Edgbaston": 1.3, "Harborne": 1.3}
_RETAIL = {"Ladywood": 12.0, "Sutton Trinity": 3.0, "Erdington": 3.0, "Northfield": 3.0,
           "Longbridge & West Heath": 2.5, "Brandwood & King's Heath": 2.2, "Soho & Jewellery Quarter": 2.0,
           "Handsworth": 2.0, "Acocks Green": 1.8, "Alum Rock": 1.7, "Sparkhill": 1.5,
           "Bordesley & Highgate": 1.5, "Small Heath": 1.4, "Perry Barr": 1.8, "Sheldon": 1.4}
_ASB = {"Erdington": 2.2, "Yardley East": 1.9, "Yardley West & Stechford": 2.0,
        "South Yardley": 1.8, "Ladywood": 2.6}
_ASB_CENTRE = {"Ladywood": 7.0, "Bordesley & Highgate": 2.5, "Soho & Jewellery Quarter": 2.0,
               "Erdington": 1.8, "Nechells": 1.5}
_THEFT_PERSON = {"Ladywood": 15.0, "Bordesley & Highgate": 3.0, "Soho & Jewellery Quarter": 2.0,
                 "Bournbrook & Selly Park": 1.8}
_BICYCLE = {"Bournbrook & Selly Park": 4.0, "Ladywood": 3.0, "Edgbaston": 1.8, "Moseley": 1.5}


def _ward_multipliers(geo: Geography) -> dict[str, np.ndarray]:
    names = geo.ward_names
    dep = geo.ward_deprivation - 3.0
    sutton = np.array([n.startswith("Sutton") for n in names])

    def special(table: dict[str, float], default: float = 1.0) -> np.ndarray:
        return np.array([table.get(n, default) for n in names])

    lower_sutton = np.where(sutton, 0.6, 1.0)
    return {
        "violence": np.exp(0.3 * dep) * special(_CENTRE_VIOLENCE) * lower_sutton,
        "nte": special(_NTE, 0.45) * np.where(sutton, 0.6, 1.0),
        "da": np.exp(0.32 * dep),
        "asb": np.exp(0.18 * dep) * special(_ASB) * np.where(sutton, 0.55, 1.0),
        "asb_outer": np.exp(0.2 * dep) * special(_ASB) * np.where(sutton, 0.6, 1.0),
        "asb_centre": np.exp(0.25 * dep) * special(_ASB_CENTRE) * np.where(sutton, 0.4, 1.0),
        "retail": special(_RETAIL, 0.55),
        "theft_person": special(_THEFT_PERSON, 0.5),
        "bicycle": special(_BICYCLE, 0.7),
        "property": np.exp(0.12 * dep) * np.where(sutton, 0.8, 1.0),
        "drugs": np.exp(0.4 * dep) * special(_CENTRE_VIOLENCE) * lower_sutton,
        "general": np.exp(0.2 * dep) * lower_sutton,
    }


# Local events: which spatial groups rise, and by how much, in the event's ward.
EVENT_EFFECTS: dict[str, dict[str, float]] = {
    "xmas_market": {"theft_person": 1.7, "nte": 1.15, "asb_centre": 1.25},
    "pride": {"nte": 1.9, "theft_person": 1.6, "asb_centre": 1.4},
    "st_patricks": {"nte": 2.2, "violence": 1.3, "asb_centre": 1.5},
    "carnival": {"violence": 1.4, "asb": 1.5, "theft_person": 2.5, "nte": 1.5},
    "festival": {"asb": 1.3, "theft_person": 2.0},
}


def _hour_profile(base: list[float], weekend_evening: float = 1.0, night_after: float = 1.0,
                  fri_sat_late: float = 1.0, weekend_day: float = 1.0) -> np.ndarray:
    """A (7, 24) weekday x hour weight table from a base 24-hour curve."""
    table = np.tile(np.asarray(base, dtype=float), (7, 1))
    table[4:6, 20:24] *= fri_sat_late  # Friday and Saturday late evening
    table[5:7, 0:5] *= night_after  # early hours of Saturday and Sunday
    table[5:7, 17:24] *= weekend_evening
    table[5:7, 8:17] *= weekend_day
    return table


_HOUR_PROFILES: dict[str, np.ndarray] = {
    # ASB calls peak 17:00-19:00 (BRIEF)
    "asb": _hour_profile([1.6, 1.1, 0.8, 0.6, 0.4, 0.4, 0.6, 1.2, 2.0, 2.8, 3.4, 3.9, 4.3, 4.5,
                          4.8, 5.5, 6.3, 7.6, 7.9, 7.3, 6.1, 5.2, 4.0, 2.7],
                         weekend_evening=1.1, night_after=1.4),
    "asb_late": _hour_profile([2.0, 1.4, 1.0, 0.7, 0.5, 0.4, 0.5, 0.9, 1.5, 2.0, 2.6, 3.0, 3.4,
                               3.7, 4.0, 4.6, 5.4, 6.9, 7.2, 7.0, 6.6, 6.0, 4.9, 3.4],
                              night_after=1.5),
    "youth": _hour_profile([0.8, 0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 1.6, 1.8, 2.2, 2.8, 3.0,
                            3.5, 5.0, 6.6, 7.8, 8.0, 7.4, 6.0, 4.4, 2.8, 1.6],
                           weekend_day=1.4),
    "daytime": _hour_profile([1.0, 0.8, 0.6, 0.5, 0.5, 0.8, 1.6, 3.0, 4.5, 5.4, 5.8, 6.0, 6.2,
                              6.0, 5.8, 5.8, 6.2, 6.8, 6.6, 5.2, 4.0, 3.0, 2.0, 1.4]),
    # Violence against the person on weekdays peaks 12:00-15:59 (2025 strategic assessment)
    "vap": _hour_profile([1.4, 1.0, 0.8, 0.6, 0.5, 0.5, 0.9, 1.9, 3.2, 4.2, 5.0, 5.8, 7.6, 7.9,
                          8.0, 8.1, 6.4, 5.4, 4.8, 4.3, 3.9, 3.4, 2.8, 2.0],
                         weekend_evening=1.35, night_after=2.2, weekend_day=0.8),
    "nte": _hour_profile([6.0, 5.0, 4.0, 2.5, 1.2, 0.5, 0.3, 0.3, 0.4, 0.5, 0.6, 0.8, 1.2, 1.4,
                          1.5, 1.6, 1.8, 2.2, 2.8, 3.4, 4.2, 5.2, 6.4, 7.0],
                         night_after=3.0, fri_sat_late=1.8),
    "da": _hour_profile([2.8, 2.3, 1.8, 1.4, 1.0, 0.8, 1.0, 1.7, 2.6, 3.3, 3.8, 4.3, 4.7, 4.8,
                         4.8, 5.0, 5.1, 5.2, 5.4, 5.5, 5.5, 5.3, 4.8, 3.8],
                        night_after=1.4),
    "retail": _hour_profile([0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 3.0, 5.0, 6.0, 6.5,
                             6.5, 6.8, 7.0, 7.2, 6.8, 5.5, 4.0, 3.0, 2.0, 1.0, 0.5]),
    "burglary": _hour_profile([4.0, 4.0, 4.0, 3.5, 3.0, 2.0, 1.5, 1.5, 2.0, 2.5, 3.0, 3.0, 3.0,
                               3.0, 3.0, 3.2, 3.6, 4.5, 5.2, 5.4, 5.2, 4.8, 4.6, 4.2]),
    "night": _hour_profile([5.0, 5.0, 4.8, 4.5, 4.0, 3.0, 2.0, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6,
                            2.6, 2.6, 2.8, 3.2, 3.8, 4.4, 4.8, 5.0, 5.2, 5.2, 5.1]),
    "evening": _hour_profile([3.0, 2.4, 1.8, 1.3, 0.9, 0.6, 0.6, 1.0, 1.6, 2.2, 2.8, 3.2, 3.6,
                              3.8, 4.0, 4.4, 5.0, 5.6, 6.0, 6.2, 6.2, 5.8, 5.0, 4.0],
                             night_after=1.6, fri_sat_late=1.2),
    "general": _hour_profile([2.0, 1.5, 1.2, 1.0, 0.8, 0.8, 1.2, 2.0, 3.0, 3.6, 4.0, 4.2, 4.4,
                              4.4, 4.5, 4.8, 5.0, 5.0, 4.8, 4.5, 4.2, 3.8, 3.2, 2.6]),
}


def categories_frame() -> pd.DataFrame:
    """The ``categories`` table: every category the sample uses, in display order."""
    rows = [{"source": s, "category": c, "label": label, "is_asb": s == "asb",
             "is_sensitive": sensitive, "sort_order": i + 1}
            for i, (s, c, label, sensitive) in enumerate(CATEGORIES)]
    return pd.DataFrame(rows)


# --- calendar factors, computed once per financial year ------------------------------------

def _in_spans(days: np.ndarray, spans: list[tuple[dt.date, dt.date]]) -> np.ndarray:
    out = np.zeros(len(days), dtype=bool)
    for a, b in spans:
        out |= (days >= np.datetime64(a)) & (days <= np.datetime64(b))
    return out


@lru_cache(maxsize=16)
def _fy_day_factors(fy: int) -> np.ndarray:
    """(days of the financial year, streams) relative daily intensity, mean 1 per stream."""
    start = np.datetime64(dt.date(fy, 4, 1))
    days = np.arange(start, np.datetime64(dt.date(fy + 1, 4, 1)), dtype="datetime64[D]")
    years = (fy, fy + 1)
    doy = (days - days.astype("datetime64[Y]")).astype(int) + 1
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1

    school = _in_spans(days, [(e.start, e.end) for y in (fy - 1, fy, fy + 1) for e in school_holidays(y)])
    bank = _in_spans(days, [(e.start, e.end) for y in years for e in bank_holidays(y)])
    mischief = ((month == 10) & (dom == 31)) | ((month == 11) & (dom <= 5))
    mischief_peak = ((month == 10) & (dom == 31)) | ((month == 11) & (dom == 5))
    december = (month == 12) & (dom <= 24)
    mad_friday = np.zeros(len(days), dtype=bool)
    for y in years:
        christmas = dt.date(y, 12, 25)
        friday = christmas - dt.timedelta(days=(christmas.weekday() - 4) % 7 or 7)
        mad_friday |= days == np.datetime64(friday)
    new_year = ((month == 12) & (dom == 31)) | ((month == 1) & (dom == 1))
    christmas_days = (month == 12) & ((dom == 25) | (dom == 26))

    out = np.empty((len(days), len(STREAMS)))
    for j, s in enumerate(STREAMS):
        f = 1.0 + s.amp * np.cos(2 * math.pi * (doy - s.peak_doy) / 365.25)
        f = f * np.asarray(s.weekday)[weekday]
        f = f * np.where(school, s.school, 1.0)
        f = f * np.where(bank, s.bank_holiday, 1.0)
        f = f * np.where(mischief, s.mischief, 1.0) * np.where(mischief_peak, math.sqrt(s.mischief), 1.0)
        f = f * np.where(december, s.december, 1.0)
        if s.spatial == "nte":
            f = f * np.where(mad_friday, 1.8, 1.0) * np.where(new_year, 2.2, 1.0)
        if s.da:
            f = f * np.where(christmas_days | new_year, 1.35 if s.da == 1.0 else 1.0, 1.0)
        out[:, j] = f / f.mean()
    return out


# --- the per-geography model ----------------------------------------------------------------

@dataclass(frozen=True)
class _Model:
    ward_share: np.ndarray  # (W, S) share of each stream's volume per ward
    yearly: np.ndarray  # (S,) volume per year at scale 1 (2024 level)
    lsoa_keys: np.ndarray  # place * 1000 + ward + cumulative within-ward weight
    point_keys: np.ndarray  # place * 10000 + lsoa + cumulative within-LSOA weight
    n_lsoa: int
    n_points: int
    hour_keys: np.ndarray  # (profile * 7 + weekday) + cumulative hour weight
    stream_profile: np.ndarray  # (S,) hour profile index
    stream_place: np.ndarray
    stream_category: np.ndarray  # codes into CATEGORY_NAMES
    stream_subcategory: np.ndarray  # codes into SUBCATEGORY_NAMES
    stream_source: np.ndarray  # 0 recorded_crime, 1 asb
    probs: dict[str, np.ndarray]  # flag / hour_known / loc_missing per stream
    point_lon: np.ndarray
    point_lat: np.ndarray
    point_text_code: np.ndarray
    location_texts: pd.Index
    ward_events: dict[int, list[tuple[np.datetime64, np.datetime64, int, np.ndarray]]]


CATEGORY_NAMES = tuple(c for _, c, _, _ in CATEGORIES)
SUBCATEGORY_NAMES = ("",) + tuple(t for t, _ in ASB_TYPES)
SOURCE_NAMES = ("recorded_crime", "asb")
LCSP_CODES = tuple(LCSPS)


def _cum_keys(owner: np.ndarray, weights: np.ndarray, base: float) -> np.ndarray:
    """``base + owner + cumulative share of weight within each owner`` (owners contiguous)."""
    w = np.asarray(weights, dtype=float)
    totals = np.bincount(owner, weights=w)
    cum = np.cumsum(w)
    starts = np.r_[0.0, np.cumsum(totals)[:-1]]
    within = (cum - starts[owner]) / totals[owner]
    last = np.r_[owner[1:] != owner[:-1], True]
    within[last] = 1.0  # exact 1.0 so a draw u < 1 never spills into the next owner
    return base + owner + within


@lru_cache(maxsize=4)
def _model(geo: Geography, seed: int) -> _Model:
    rng = np.random.default_rng([seed, 2])
    n_w, n_l, n_p = len(geo.ward_codes), len(geo.lsoa_codes), len(geo.point_lsoa)
    mult = _ward_multipliers(geo)
    ward_share = np.empty((n_w, len(STREAMS)))
    for j, s in enumerate(STREAMS):
        w = geo.ward_population * mult[s.spatial]
        ward_share[:, j] = w / w.sum()
    yearly = np.array([s.share * (CRIME_PER_YEAR if s.source == "recorded_crime" else ASB_PER_YEAR)
                       for s in STREAMS])

    # LSOA weights per place: residents times a fixed "heat"; retail and NTE places pull
    # shoplifting and night-time violence towards the LSOAs that hold shops and venues.
    heat = rng.lognormal(0.0, 0.5, n_l)
    n_nte = np.bincount(geo.point_lsoa, weights=(geo.point_kind == 2), minlength=n_l)
    texts = geo.snap_points["location_text"].to_numpy()
    real_names = {f"On or near {s}" for streets in REAL_STREETS.values() for s in streets}
    has_real = np.bincount(geo.point_lsoa, weights=np.isin(texts, list(real_names)), minlength=n_l) > 0
    lsoa_weight = (geo.lsoa_population * heat,
                   geo.lsoa_population * heat * (1 + 6 * has_real),
                   geo.lsoa_population * heat * (1 + 8 * n_nte))
    lsoa_keys = np.concatenate([_cum_keys(geo.lsoa_ward, w, 1000.0 * p) for p, w in enumerate(lsoa_weight)])

    # Zipf-like weights inside each LSOA: a few points take most incidents (repeat locations).
    order = np.lexsort((rng.random(n_p), geo.point_lsoa))
    rank = np.empty(n_p)
    starts = np.r_[0, np.flatnonzero(np.diff(geo.point_lsoa[order])) + 1]
    pos = np.arange(n_p) - np.repeat(starts, np.diff(np.r_[starts, n_p]))
    rank[order] = pos + 1
    zipf = rank ** -1.1
    point_weight = (zipf, zipf * np.where(geo.point_kind == 1, 25.0, 1.0),
                    zipf * np.where(geo.point_kind == 2, 30.0, 1.0))
    point_keys = np.concatenate([_cum_keys(geo.point_lsoa, w, 10000.0 * p)
                                 for p, w in enumerate(point_weight)])

    names = list(_HOUR_PROFILES)
    table = np.stack([_HOUR_PROFILES[n] for n in names])  # (P, 7, 24)
    cum = np.cumsum(table, axis=2) / table.sum(axis=2, keepdims=True)
    cum[:, :, -1] = 1.0
    hour_keys = (np.arange(len(names) * 7).reshape(len(names), 7, 1) + cum).ravel()

    probs = {f: np.array([getattr(s, f.removeprefix("is_").replace("domestic_abuse", "da"))
                          for s in STREAMS]) for f in FLAGS}
    probs["hour_known"] = np.array([s.hour_known for s in STREAMS])
    probs["loc_missing"] = np.array([s.loc_missing for s in STREAMS])

    location_texts = pd.Index(pd.unique(texts))
    ward_events: dict[int, list] = {}
    ward_idx = {n: i for i, n in enumerate(geo.ward_names)}
    for year in range(2015, 2035):
        evs = []
        for ev in local_events(year):
            if ev.ward and ev.key in EVENT_EFFECTS:
                m = np.array([EVENT_EFFECTS[ev.key].get(s.spatial, 1.0) for s in STREAMS])
                evs.append((np.datetime64(ev.start), np.datetime64(ev.end), ward_idx[ev.ward], m))
        ward_events[year] = evs

    return _Model(
        ward_share=ward_share, yearly=yearly, lsoa_keys=lsoa_keys, point_keys=point_keys,
        n_lsoa=n_l, n_points=n_p, hour_keys=hour_keys,
        stream_profile=np.array([names.index(s.hours) for s in STREAMS]),
        stream_place=np.array([s.place for s in STREAMS]),
        stream_category=np.array([CATEGORY_NAMES.index(s.category) for s in STREAMS]),
        stream_subcategory=np.array([SUBCATEGORY_NAMES.index(s.subcategory) for s in STREAMS]),
        stream_source=np.array([SOURCE_NAMES.index(s.source) for s in STREAMS]),
        probs=probs, point_lon=geo.snap_points["longitude"].to_numpy(),
        point_lat=geo.snap_points["latitude"].to_numpy(),
        point_text_code=location_texts.get_indexer(texts), location_texts=location_texts,
        ward_events=ward_events,
    )


# --- month generation ---------------------------------------------------------------------

def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def month_count(start: dt.date = DEFAULT_START, end: dt.date = DEFAULT_END) -> int:
    """How many monthly frames ``iter_incident_frames`` yields for the period."""
    return len(_months(start, end))


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


def month_frame(geo: Geography, seed: int, year: int, month: int, first: dt.date, last: dt.date,
                scale: float = 1.0) -> pd.DataFrame:
    """Incidents from ``first`` to ``last`` (inclusive, within one month)."""
    model = _model(geo, seed)
    rng = np.random.default_rng([seed, year, month, 7])
    fy = year if month >= 4 else year - 1
    offset = (first - dt.date(fy, 4, 1)).days
    n_days = (last - first).days + 1
    dayf = _fy_day_factors(fy)[offset:offset + n_days]  # (D, S)
    t = year + (month - 0.5) / 12
    level = np.array([_trend_level(s.trend, t) * _covid_factor(s.covid, year, month) for s in STREAMS])
    daily = model.yearly * level * scale / 365.25
    lam = (dayf * daily)[:, None, :] * model.ward_share[None, :, :]  # (D, W, S)
    first64 = np.datetime64(first)
    for a, b, w, m in model.ward_events.get(year, []):
        lo = max(int((a - first64).astype(int)), 0)
        hi = min(int((b - first64).astype(int)), n_days - 1)
        if lo <= hi:
            lam[lo:hi + 1, w, :] *= m

    counts = rng.poisson(lam.ravel())
    n = int(counts.sum())
    if n >= ID_MONTH_FACTOR:
        raise ValueError("scale too large: more than 100 million incidents in one month")
    cell = np.repeat(np.arange(lam.size, dtype=np.int64), counts)
    n_w, n_s = lam.shape[1], lam.shape[2]
    day, rem = np.divmod(cell, n_w * n_s)
    ward, stream = np.divmod(rem, n_s)
    place = model.stream_place[stream]

    # One searchsorted per level: keys are "place block + owner + cumulative share" (see _cum_keys)
    lsoa = np.searchsorted(model.lsoa_keys, 1000.0 * place + ward + rng.random(n), side="right")
    lsoa %= model.n_lsoa
    point = np.searchsorted(model.point_keys, 10000.0 * place + lsoa + rng.random(n), side="right")
    point %= model.n_points
    dates = first64 + day
    weekday = (dates.astype(np.int64) + 3) % 7
    hour_key = (model.stream_profile[stream] * 7 + weekday) + rng.random(n)
    hour = (np.searchsorted(model.hour_keys, hour_key, side="right") % 24).astype(np.int16)
    hour_missing = rng.random(n) >= model.probs["hour_known"][stream]
    loc_missing = rng.random(n) < model.probs["loc_missing"][stream]

    ids = (year * 100 + month) * ID_MONTH_FACTOR + np.arange(n, dtype=np.int64)
    source = model.stream_source[stream]
    lcsp_now = geo.ward_lcsp(fy)
    lcsp_code = np.array([LCSP_CODES.index(c) for c in lcsp_now])[ward]
    ref = pd.Series(ids, dtype="int64").astype("str")
    ref = ("CR" + ref).where(source == 0, None)

    frame = pd.DataFrame({
        "incident_id": ids,
        "source": _categorical(source, SOURCE_NAMES),
        "source_ref": ref,
        "category": _categorical(model.stream_category[stream], CATEGORY_NAMES),
        "subcategory": _categorical(model.stream_subcategory[stream], SUBCATEGORY_NAMES),
        "incident_date": dates.astype("datetime64[s]"),
        "date_precision": _categorical(np.zeros(n, dtype=np.int8), ("day",)),
        "hour": pd.arrays.IntegerArray(hour, hour_missing),
        "longitude": np.where(loc_missing, np.nan, model.point_lon[point]),
        "latitude": np.where(loc_missing, np.nan, model.point_lat[point]),
        "location_text": _categorical(np.where(loc_missing, -1, model.point_text_code[point]),
                                      model.location_texts),
        "lsoa_code": _categorical(lsoa, geo.lsoa_codes),
        "ward_code": _categorical(ward, geo.ward_codes),
        "lcsp_code": _categorical(lcsp_code, LCSP_CODES),
    })
    for flag in FLAGS:
        frame[flag] = rng.random(n) < model.probs[flag][stream]
    return frame


def iter_incident_frames(
    geo: Geography,
    seed: int,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield one incident DataFrame per calendar month from ``start`` to ``end`` (inclusive)."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    months = _months(start, end)
    for i, (year, month) in enumerate(months):
        first = max(start, dt.date(year, month, 1))
        next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
        last = min(end, next_month - dt.timedelta(days=1))
        frame = month_frame(geo, seed, year, month, first, last, scale)
        if progress:
            progress(i + 1, len(months), f"incidents {year}-{month:02d}")
        yield frame
