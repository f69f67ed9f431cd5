"""Partnership records for the sample: calendar, map overlays, board actions and KPI returns.

- ``school_holidays`` / ``local_events`` / ``events_frame``: the calendar the ASB seasonality page
  lays over incidents (and which the incident generator uses to shape volumes).
- ``overlays_frame``: PSPO areas, redeployable CCTV cameras and knife-arch operation sites.
- ``actions_frame``: outputs/actions of the five 2025-28 priority boards, plus a few 2016-18 ones.
- ``kpi_frames``: definitions for every KPI in ``kpis/registry.yaml`` and monthly/quarterly values
  for the KPIs that partners supply as returns (``data: return``).

Dates here are approximations of Birmingham's pattern, not published calendars.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import holidays as holidays_lib
import numpy as np
import pandas as pd
import yaml
from dateutil.easter import easter

from sample_data.geography import (
    CENTRE_LAT, CENTRE_LON, LCSPS, PARTNERSHIP_CODE, Geography,
)

REGISTRY_PATH = Path(__file__).resolve().parent.parent / "kpis" / "registry.yaml"

# Board ids (as in kpis/registry.yaml) and the labels the actions table carries; the 2016-18
# plan's priorities keep their own labels.
BOARDS = {
    "violence_reduction": "Violence Reduction",
    "vawg": "Violence Against Women and Girls",
    "safer_neighbourhoods": "Safer Neighbourhoods",
    "exploitation_soc": "Exploitation and Serious Organised Crime",
    "domestic_abuse": "Domestic Abuse",
}


@dataclass(frozen=True)
class CalendarEvent:
    """One dated entry of the partnership calendar.

    ``key`` names the effect the incident generator applies (see ``incidents.EVENT_EFFECTS``);
    ``ward`` is a ward name when the event happens in one place.
    """

    name: str
    kind: str  # school_holiday, bank_holiday, local_event, operation
    start: dt.date
    end: dt.date
    key: str = ""
    ward: str | None = None
    lon: float | None = None
    lat: float | None = None
    notes: str | None = None


def _weekday_on_or_after(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def _weekday_on_or_before(day: dt.date, weekday: int) -> dt.date:
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


def _week_around(monday: dt.date) -> tuple[dt.date, dt.date]:
    """Saturday before to Sunday after a school week starting ``monday``."""
    return monday - dt.timedelta(days=2), monday + dt.timedelta(days=6)


def school_holidays(year: int) -> list[CalendarEvent]:
    """Approximate Birmingham school holidays that start in calendar ``year`` (weekends included)."""
    out = []
    feb = _week_around(_weekday_on_or_after(dt.date(year, 2, 12), 0))
    out.append(CalendarEvent("February half term", "school_holiday", *feb))
    sunday = easter(year)
    out.append(CalendarEvent("Easter holidays", "school_holiday", sunday - dt.timedelta(days=8),
                             sunday + dt.timedelta(days=7)))
    may_bh = _weekday_on_or_before(dt.date(year, 5, 31), 0)
    out.append(CalendarEvent("May half term", "school_holiday", *_week_around(may_bh)))
    out.append(CalendarEvent("Summer holidays", "school_holiday",
                             _weekday_on_or_before(dt.date(year, 7, 22), 5),
                             _weekday_on_or_after(dt.date(year, 9, 1), 6)))
    octo = _week_around(_weekday_on_or_after(dt.date(year, 10, 24), 0))
    out.append(CalendarEvent("October half term", "school_holiday", *octo))
    out.append(CalendarEvent("Christmas holidays", "school_holiday",
                             _weekday_on_or_after(dt.date(year, 12, 17), 5),
                             _weekday_on_or_after(dt.date(year + 1, 1, 2), 6)))
    return out


def bank_holidays(year: int) -> list[CalendarEvent]:
    """England and Wales bank holidays of ``year`` (from the ``holidays`` package)."""
    days = holidays_lib.UK(subdiv="ENG", years=year)
    return [CalendarEvent(name, "bank_holiday", day, day) for day, name in sorted(days.items())]


# Places of the local events (ward name, lon, lat).
_CENTRE = ("Ladywood", CENTRE_LON, CENTRE_LAT)
_SOUTHSIDE = ("Ladywood", -1.8965, 52.4745)
_DIGBETH = ("Bordesley & Highgate", -1.8850, 52.4745)
_HANDSWORTH_PARK = ("Handsworth", -1.9130, 52.5060)
_PERRY_PARK = ("Perry Barr", -1.9000, 52.5270)


def local_events(year: int) -> list[CalendarEvent]:
    """Local events of ``year`` that shift crime and ASB (none during the 2020-21 lockdowns)."""
    out = [CalendarEvent("Mischief fortnight (Halloween to Bonfire Night)", "local_event",
                         dt.date(year, 10, 31), dt.date(year, 11, 5), key="mischief",
                         notes="Fireworks, youth ASB and criminal damage rise")]
    covid_year = year == 2020
    if not covid_year:
        market_open = _weekday_on_or_after(dt.date(year, 11, 9), 3)
        out.append(CalendarEvent("Frankfurt Christmas Market", "local_event", market_open,
                                 dt.date(year, 12, 23), key="xmas_market", ward=_CENTRE[0],
                                 lon=_CENTRE[1], lat=_CENTRE[2],
                                 notes="New Street and Victoria Square; theft from the person rises"))
    if year >= 2022:
        parade = _weekday_on_or_after(dt.date(year, 3, 14), 6)
        out.append(CalendarEvent("St Patrick's Day parade", "local_event", parade, parade,
                                 key="st_patricks", ward=_DIGBETH[0], lon=_DIGBETH[1],
                                 lat=_DIGBETH[2], notes="Digbeth; night-time economy peak"))
    if year >= 2021:
        if year == 2021:  # Pride moved to September that year
            pride = _weekday_on_or_after(dt.date(2021, 9, 24), 5)
        else:
            pride = _weekday_on_or_before(dt.date(year, 5, 31), 0) - dt.timedelta(days=2)
        out.append(CalendarEvent("Birmingham Pride", "local_event", pride,
                                 pride + dt.timedelta(days=1), key="pride", ward=_SOUTHSIDE[0],
                                 lon=_SOUTHSIDE[1], lat=_SOUTHSIDE[2], notes="Southside / Hurst Street"))
    if year >= 2022:
        simmer = _weekday_on_or_after(dt.date(year, 7, 8), 6)
        out.append(CalendarEvent("Simmer Down festival", "local_event", simmer, simmer,
                                 key="festival", ward=_HANDSWORTH_PARK[0], lon=_HANDSWORTH_PARK[1],
                                 lat=_HANDSWORTH_PARK[2], notes="Handsworth Park"))
        hcarn = _weekday_on_or_after(dt.date(year, 8, 1), 5)
        out.append(CalendarEvent("Handsworth carnival", "local_event", hcarn,
                                 hcarn + dt.timedelta(days=1), key="carnival",
                                 ward=_HANDSWORTH_PARK[0], lon=_HANDSWORTH_PARK[1],
                                 lat=_HANDSWORTH_PARK[2], notes="Handsworth Park"))
        bank_monday = _weekday_on_or_before(dt.date(year, 8, 31), 0)
        intl = bank_monday - dt.timedelta(days=2)
        out.append(CalendarEvent("Birmingham International Carnival", "local_event", intl,
                                 bank_monday, key="carnival", ward=_PERRY_PARK[0],
                                 lon=_PERRY_PARK[1], lat=_PERRY_PARK[2], notes="Perry Park"))
    return out


def operations(year: int) -> list[CalendarEvent]:
    """Operation Sceptre knife-crime weeks (May and November)."""
    out = []
    for month in (5, 11):
        monday = _weekday_on_or_after(dt.date(year, month, 13), 0)
        out.append(CalendarEvent("Operation Sceptre knife crime week", "operation", monday,
                                 monday + dt.timedelta(days=6), key="sceptre",
                                 notes="Knife arches, weapon sweeps and amnesty bins"))
    return out


def calendar_events(year: int) -> list[CalendarEvent]:
    """Every calendar entry that starts in ``year``."""
    return bank_holidays(year) + school_holidays(year) + local_events(year) + operations(year)


def events_frame(geo: Geography, years: range | list[int]) -> pd.DataFrame:
    """The ``events`` table for calendar ``years``."""
    ward_code = dict(zip(geo.ward_names, geo.ward_codes))
    rows = []
    for year in years:
        for ev in calendar_events(year):
            rows.append({
                "name": ev.name, "kind": ev.kind, "start_date": ev.start, "end_date": ev.end,
                "area_code": ward_code.get(ev.ward) if ev.ward else None,
                "longitude": ev.lon, "latitude": ev.lat, "notes": ev.notes,
            })
    frame = pd.DataFrame(rows).sort_values(["start_date", "kind", "name"], kind="stable")
    frame.insert(0, "event_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame.reset_index(drop=True)


# --- map overlays --------------------------------------------------------------------------

# PSPO areas: (name, centre lon, lat, half-length m, half-width m, rotation deg, from, to)
_PSPOS = (
    ("City Centre PSPO (alcohol, begging, nuisance)", CENTRE_LON, CENTRE_LAT, 1300, 1000, 20,
     dt.date(2021, 10, 1), dt.date(2024, 9, 30)),
    ("City Centre PSPO (renewed)", CENTRE_LON, CENTRE_LAT, 1400, 1050, 20,
     dt.date(2024, 10, 1), dt.date(2027, 9, 30)),
    ("Soho Road PSPO (street drinking)", -1.9300, 52.5040, 900, 220, 60,
     dt.date(2022, 6, 1), dt.date(2025, 5, 31)),
    ("Alum Rock Road PSPO (street drinking, vehicle nuisance)", -1.8420, 52.4880, 800, 250, 115,
     dt.date(2023, 4, 1), dt.date(2026, 3, 31)),
    ("Stratford Road and Ladypool Road PSPO", -1.8700, 52.4560, 1000, 350, 135,
     dt.date(2023, 9, 1), dt.date(2026, 8, 31)),
    ("Erdington High Street PSPO", -1.8390, 52.5240, 600, 250, 20,
     dt.date(2024, 7, 1), dt.date(2027, 6, 30)),
    ("Northfield town centre PSPO", -1.9680, 52.4150, 500, 300, 0,
     dt.date(2025, 1, 1), dt.date(2027, 12, 31)),
)

# Redeployable CCTV: ward where the camera went (its point is drawn inside the ward).
_CCTV_WARDS = (
    "Erdington", "Yardley West & Stechford", "Yardley East", "South Yardley", "Ladywood",
    "Bordesley & Highgate", "Lozells", "Handsworth", "Aston", "Stockland Green",
    "Sparkbrook & Balsall Heath East", "Alum Rock", "Northfield", "Kingstanding", "Castle Vale",
)

_KNIFE_ARCH_SITES = (
    ("New Street station", -1.8990, 52.4778), ("Bullring", -1.8935, 52.4775),
    ("Broad Street", -1.9120, 52.4770), ("Digbeth Coach Station", -1.8850, 52.4760),
    ("Erdington High Street", -1.8390, 52.5240), ("Soho Road", -1.9300, 52.5040),
)


def _ellipse_geojson(lon: float, lat: float, half_len: float, half_wid: float, angle: float) -> str:
    """A rotated ellipse (metres) around lon/lat as GeoJSON text."""
    t = np.linspace(0, 2 * math.pi, 40, endpoint=False)
    a = math.radians(angle)
    x = half_len * np.cos(t) * math.cos(a) - half_wid * np.sin(t) * math.sin(a)
    y = half_len * np.cos(t) * math.sin(a) + half_wid * np.sin(t) * math.cos(a)
    m_lat = 111_200.0
    m_lon = 111_320.0 * math.cos(math.radians(lat))
    ring = [[round(lon + xi / m_lon, 6), round(lat + yi / m_lat, 6)] for xi, yi in zip(x, y)]
    ring.append(ring[0])
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def overlays_frame(geo: Geography, seed: int) -> pd.DataFrame:
    """The ``overlays`` table: PSPO areas, redeployable CCTV cameras and knife-arch sites."""
    rng = np.random.default_rng([seed, 5])
    rows = []
    for name, lon, lat, hl, hw, ang, start, end in _PSPOS:
        rows.append({"kind": "pspo", "name": name, "longitude": lon, "latitude": lat,
                     "geometry_geojson": _ellipse_geojson(lon, lat, hl, hw, ang),
                     "valid_from": start, "valid_to": end})
    points = geo.snap_points
    lsoa_ward = dict(zip(geo.lsoa_codes, geo.lsoa_ward))
    point_ward = points["lsoa_code"].map(lsoa_ward).to_numpy()
    for i, ward in enumerate(_CCTV_WARDS):
        candidates = np.flatnonzero(point_ward == geo.ward_index(ward))
        p = points.iloc[int(rng.choice(candidates))]
        start = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1200)))
        months = int(rng.integers(3, 13))
        end = start + dt.timedelta(days=30 * months)
        rows.append({"kind": "cctv", "name": f"Redeployable camera RC{i + 1:02d} ({ward})",
                     "longitude": float(p["longitude"]), "latitude": float(p["latitude"]),
                     "geometry_geojson": json.dumps({"type": "Point", "coordinates": [
                         float(p["longitude"]), float(p["latitude"])]}),
                     "valid_from": start, "valid_to": end if end < dt.date(2026, 11, 1) else None})
    weeks = [e for y in (2023, 2024, 2025, 2026) for e in operations(y)]
    for i, (name, lon, lat) in enumerate(_KNIFE_ARCH_SITES):
        week = weeks[(i * 3 + 1) % len(weeks)]
        day = week.start + dt.timedelta(days=int(rng.integers(0, 5)))
        rows.append({"kind": "knife_arch", "name": f"Knife arch: {name}", "longitude": lon,
                     "latitude": lat,
                     "geometry_geojson": json.dumps({"type": "Point", "coordinates": [lon, lat]}),
                     "valid_from": day, "valid_to": day + dt.timedelta(days=1)})
    frame = pd.DataFrame(rows)
    frame.insert(0, "overlay_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


# --- board outputs and actions --------------------------------------------------------------

OWNERS = (
    "West Midlands Police", "Birmingham City Council Community Safety Team",
    "West Midlands Fire Service", "Probation Service", "NHS Birmingham and Solihull ICB",
    "Office of the Police and Crime Commissioner", "West Midlands Violence Reduction Partnership",
    "Birmingham Children's Trust", "Public Health Birmingham", "Housing providers (Birmingham)",
)

# (code, title, board, lead owner index, one row per LCSP)
ACTIONS_2025_28: tuple[tuple[str, str, str, int, bool], ...] = (
    ("VR1(a)", "Refresh the Serious Violence Duty strategic needs assessment", "violence_reduction", 1, False),
    ("VR1(b)", "Agree the Birmingham Response Plan with the Violence Reduction Partnership", "violence_reduction", 6, False),
    ("VR2(a)", "Early intervention and protection from social harms for under-25s", "violence_reduction", 6, False),
    ("VR2(b)", "Strengthen prevention in schools and settings (trauma-informed practice)", "violence_reduction", 7, False),
    ("VR3(a)", "Place-based violence prevention plan for each LCSP", "violence_reduction", 1, True),
    ("VR3(b)", "Hospital navigators in emergency departments", "violence_reduction", 4, False),
    ("VR4(a)", "Disruption: knife crime operations and weapon sweeps (Operation Sceptre)", "violence_reduction", 0, False),
    ("VR4(b)", "Disruption: county lines and serious organised crime linked to violence", "violence_reduction", 0, False),
    ("VR5(a)", "Offensive Weapons Homicide Reviews embedded in partnership process", "violence_reduction", 1, False),
    ("VAWG1(a)", "Publish the VAWG strategy action plan and annual progress report", "vawg", 1, False),
    ("VAWG1(b)", "Safer night-time economy for women: venue staff training and Ask for Angela", "vawg", 0, False),
    ("VAWG2(a)", "Sexual violence: ISVA capacity and referral pathway review", "vawg", 4, False),
    ("VAWG2(b)", "Stalking and harassment: multi-agency stalking intervention programme", "vawg", 3, False),
    ("VAWG2(c)", "Online abuse: awareness programme with schools and colleges", "vawg", 7, False),
    ("VAWG3(a)", "Female genital mutilation and honour-based violence: practitioner training", "vawg", 8, False),
    ("VAWG3(b)", "Sexual exploitation and sex work coercion: outreach provision", "vawg", 1, False),
    ("VAWG4(a)", "Women's safety audits of city-centre walking routes (lighting, CCTV)", "vawg", 1, False),
    ("VAWG4(b)", "Counter-narrative communications challenging misogyny", "vawg", 6, False),
    ("SN1(a)", "Refresh the ASB seasonality calendar and arrange interventions before peaks", "safer_neighbourhoods", 1, False),
    ("SN1(b)", "Reduce ASB in neighbourhoods: problem-solving plans for top repeat locations", "safer_neighbourhoods", 0, True),
    ("SN2(a)", "Reduce neighbourhood crime: burglary and vehicle crime target hardening", "safer_neighbourhoods", 0, False),
    ("SN2(b)", "Business and retail crime: shop theft partnership with retailers", "safer_neighbourhoods", 0, False),
    ("SN3(a)", "Prevent hate crime: review third-party reporting centres", "safer_neighbourhoods", 1, False),
    ("SN3(b)", "Cohesion and tension monitoring reported to the board", "safer_neighbourhoods", 1, False),
    ("SN3(c)", "Road safety ASB: off-road bikes and parking around schools", "safer_neighbourhoods", 0, False),
    ("SN3(d)", "Reduce ASB and crime in the night-time economy", "safer_neighbourhoods", 0, False),
    ("SN3(e)", "Governance of the LCSPs: terms of reference and delivery plans", "safer_neighbourhoods", 1, True),
    ("SN4(a)", "ASB case reviews: first response within 24 hours and annual publication", "safer_neighbourhoods", 1, False),
    ("SN4(b)", "Reduce substance misuse associated with ASB: outreach and treatment referrals", "safer_neighbourhoods", 8, False),
    ("ESOC1(a)", "Map organised crime groups and urban street gangs with partners", "exploitation_soc", 0, False),
    ("ESOC1(b)", "Disruption plans (4P) for the highest-harm organised crime groups", "exploitation_soc", 0, False),
    ("ESOC2(a)", "Criminal and adult exploitation: first responder training to raise NRM referrals", "exploitation_soc", 1, False),
    ("ESOC2(b)", "Cuckooing: joint housing and police response protocol", "exploitation_soc", 9, False),
    ("ESOC3(a)", "Supported exempt accommodation: quality standards and enforcement", "exploitation_soc", 1, False),
    ("ESOC3(b)", "Clear, Hold, Build in a priority neighbourhood", "exploitation_soc", 0, False),
    ("ESOC4(a)", "Modern slavery and human trafficking: victim support pathway", "exploitation_soc", 1, False),
    ("ESOC4(b)", "Reduce adult re-referrals after disruption or safeguarding interventions", "exploitation_soc", 3, False),
    ("DA1(a)", "Domestic Abuse Hub: one-stop holistic support for survivors", "domestic_abuse", 1, False),
    ("DA1(b)", "Extend the IRIS programme in GP surgeries", "domestic_abuse", 4, False),
    ("DA2(a)", "Refuge provision: commission children and family work", "domestic_abuse", 1, False),
    ("DA2(b)", "Housing pathway for survivors (Housing Strategy 2023-28)", "domestic_abuse", 9, False),
    ("DA2(c)", "MARAC capacity review and repeat referral audit", "domestic_abuse", 0, False),
    ("DA3(a)", "Commission perpetrator interventions", "domestic_abuse", 3, False),
    ("DA3(b)", "Domestic Abuse Related Death Reviews: recommendations tracker", "domestic_abuse", 1, False),
    ("DA4(a)", "Operation Encompass notifications: quality review with schools", "domestic_abuse", 7, False),
    ("DA4(b)", "Public awareness campaign on coercive control and economic abuse", "domestic_abuse", 8, False),
)

# A few outputs of the 2016-18 plan, all long complete (the "corporate memory").
ACTIONS_2016_18: tuple[tuple[str, str, str, str, dt.date, str], ...] = (
    ("CC1(a)", "Identify victim support objectives shared with the OPCC and the Victims' Champion",
     "Crime and the Community", OWNERS[5], dt.date(2017, 6, 30), "complete"),
    ("CC3(a)", "Rapid assessment of target cohorts and geographies for ASB interventions",
     "Crime and the Community", OWNERS[1], dt.date(2017, 6, 30), "complete"),
    ("CC3(e)", "ASB seasonality calendar: where and when the identified ASB types can be predicted to rise",
     "Crime and the Community", OWNERS[1], dt.date(2017, 9, 30), "complete"),
    ("CC3(f)", "Arrange interventions to mitigate ASB rises identified in the calendar",
     "Crime and the Community", OWNERS[0], dt.date(2018, 3, 31), "complete"),
    ("CSD4(a)", "Decisions register: simple database of priorities, interventions and successes",
     "Continuous Scoping and Development", OWNERS[1], dt.date(2017, 12, 31), "complete"),
    ("CSD4(b)", "Decisions register: record every application and why it was accepted or rejected",
     "Continuous Scoping and Development", OWNERS[1], dt.date(2018, 3, 31), "complete"),
)

_NOTES = {
    "at_risk": ("Provider capacity is limited; mitigation agreed at the last board.",
                "Dependent on funding decision expected next quarter."),
    "off_track": ("Delayed: lead officer vacancy; revised date to be agreed.",
                  "Commissioning round failed to attract bids; re-tender planned."),
}


def actions_frame(seed: int, as_of: dt.date) -> pd.DataFrame:
    """The ``actions`` table as it stood on ``as_of`` (statuses depend on due dates).

    ``board`` holds the board's label ("Violence Reduction"), as partners write it.
    """
    rng = np.random.default_rng([seed, 6])
    rows = []
    status_date = as_of - dt.timedelta(days=int((as_of.weekday() - 3) % 7) + 7)  # a Thursday board
    window_start = dt.date(2025, 9, 30)  # 2025-28 plan: outputs due from its first autumn to 2027
    window_days = (dt.date(2027, 12, 31) - window_start).days
    for code, title, board, owner_i, local in ACTIONS_2025_28:
        due = window_start + dt.timedelta(days=int(rng.integers(0, window_days)))
        due = (due.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        targets = list(LCSPS) if local else [None]
        for lcsp in targets:
            status = _status(rng, due, as_of)
            owner = OWNERS[owner_i] if lcsp is None else f"LCSP chair ({LCSPS[lcsp]})"
            note = None
            if status in _NOTES:
                note = _NOTES[status][int(rng.integers(0, 2))]
            rows.append({"code": code, "title": title, "board": BOARDS[board], "owner": owner,
                         "lcsp_code": lcsp, "due_date": due, "status": status,
                         "status_date": status_date, "notes": note})
    for code, title, board, owner, due, status in ACTIONS_2016_18:
        rows.append({"code": code, "title": title, "board": board, "owner": owner,
                     "lcsp_code": None, "due_date": due, "status": status,
                     "status_date": due, "notes": "2016-18 strategic plan output"})
    frame = pd.DataFrame(rows)
    frame.insert(0, "action_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


def _status(rng: np.random.Generator, due: dt.date, as_of: dt.date) -> str:
    days_left = (due - as_of).days
    u = rng.random()
    if days_left < 0:  # past due: mostly done, some overdue
        return "complete" if u < 0.65 else ("off_track" if u < 0.85 else "at_risk")
    if days_left < 180:
        return ("complete" if u < 0.2 else "on_track" if u < 0.65 else "at_risk" if u < 0.85
                else "off_track")
    return "not_started" if u < 0.3 else "on_track" if u < 0.85 else "at_risk"


# --- KPI definitions and partner returns ------------------------------------------------------

KPI_VALUES_FROM = dt.date(2022, 4, 1)


@dataclass(frozen=True)
class ReturnShape:
    """How a return-based KPI behaves at partnership level.

    ``level``: count per period, or a percentage; ``denominator``: cases per period behind a
    percentage; ``shift``: (first month, change) - a real change for the SPC charts to find
    (relative for counts, percentage points for percentages); ``trend``: yearly relative drift;
    ``stock``: a running total (e.g. reviews open) rather than a flow.
    """

    level: float
    denominator: float = 0.0
    shift: tuple[dt.date, float] | None = None
    trend: float = 0.0
    stock: bool = False


RETURN_SHAPES: dict[str, ReturnShape] = {
    "assault_admissions": ReturnShape(22, shift=(dt.date(2025, 9, 1), -0.32)),
    "isva_referrals": ReturnShape(110, shift=(dt.date(2024, 10, 1), 0.22)),
    "nte_safety_survey": ReturnShape(52, denominator=400, shift=(dt.date(2025, 7, 1), 7.0)),
    "ct_requests": ReturnShape(45),
    "ct_accepted": ReturnShape(40, denominator=45),
    "ct_first_response_24h": ReturnShape(92, denominator=45, shift=(dt.date(2026, 1, 1), -14.0)),
    "nrm_referrals": ReturnShape(34, trend=0.12),
    "ocg_disruptions": ReturnShape(26),
    "exploitation_rereferrals": ReturnShape(22, denominator=120),
    "da_repeat_victims": ReturnShape(33, denominator=1700, shift=(dt.date(2025, 10, 1), 3.5)),
    "marac_referrals": ReturnShape(260, shift=(dt.date(2023, 10, 1), 0.15)),
    "marac_repeat": ReturnShape(32, denominator=260),
    "dardr_open": ReturnShape(12, stock=True),
}
# Units the registry may use for a KPI not listed above.
_DEFAULT_SHAPES = {
    "count": ReturnShape(50), "percentage": ReturnShape(60, denominator=200),
    "rate_per_1000": ReturnShape(0), "gbp": ReturnShape(10_000), "days": ReturnShape(14),
}


def load_registry(path: Path = REGISTRY_PATH) -> dict:
    """The KPI registry YAML (``boards`` and ``kpis``)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def _periods(frequency: str, end: dt.date) -> list[dt.date]:
    """Month or quarter starts from KPI_VALUES_FROM whose whole period ends on or before ``end``."""
    step = 3 if frequency == "quarterly" else 1
    out, cur = [], KPI_VALUES_FROM
    while True:
        nxt_month = cur.month - 1 + step
        nxt = dt.date(cur.year + nxt_month // 12, nxt_month % 12 + 1, 1)
        if nxt - dt.timedelta(days=1) > end:
            return out
        out.append(cur)
        cur = nxt


def _lcsp_weights(geo: Geography) -> dict[str, float]:
    """Each LCSP's share of partnership demand (residents weighted by deprivation)."""
    lcsp_now = geo.ward_lcsp(2025)
    w = geo.ward_population * np.exp(0.25 * (geo.ward_deprivation - 3))
    totals = {code: float(w[lcsp_now == code].sum()) for code in LCSPS}
    s = sum(totals.values())
    return {k: v / s for k, v in totals.items()}


def _fy_of(day: dt.date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def _target(kpi: dict, baseline: float) -> float | None:
    rule = (kpi.get("target") or {})
    if rule.get("rule") == "absolute":
        return float(rule["value"])
    if rule.get("rule") == "change_from_baseline":
        return baseline * (1 + float(rule.get("change", 0)))
    better = 1.05 if kpi.get("polarity") == "higher_is_better" else 0.95
    return baseline * better


def _series(rng: np.random.Generator, shape: ReturnShape, unit: str, periods: list[dt.date],
            weight: float, population: float, per_year: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, numerator, denominator) for one area's periods."""
    t = np.array([(p - KPI_VALUES_FROM).days / 365.25 for p in periods])
    season = 1 + 0.06 * np.cos(2 * math.pi * (np.array([p.month for p in periods]) - 7) / 12)
    shifted = np.array([shape.shift is not None and p >= shape.shift[0] for p in periods])
    scale_periods = 12 / per_year  # months in a period
    if unit == "percentage":
        pct = np.full(len(periods), shape.level) + (shape.shift[1] if shape.shift else 0) * shifted
        den = rng.poisson(max(shape.denominator * weight, 3), len(periods)).astype(float)
        den = np.maximum(den, 1)
        num = rng.binomial(den.astype(int), np.clip(pct / 100, 0, 1)).astype(float)
        return 100 * num / den, num, den
    mean = shape.level * weight * (1 + shape.trend * t) * season
    if shape.shift:
        mean = mean * np.where(shifted, 1 + shape.shift[1], 1.0)
    if shape.stock:
        steps = rng.integers(-2, 3, len(periods))
        value = np.clip(np.round(shape.level * weight + np.cumsum(steps) * 0.5), 0, None)
        return value, value, np.full(len(periods), np.nan)
    if unit == "rate_per_1000":
        level = shape.level or 2.0 * scale_periods
        num = rng.poisson(level * population / 1000 * season)
        return 1000 * num / population, num.astype(float), np.full(len(periods), population)
    if unit in ("gbp", "days"):
        value = np.round(rng.gamma(20, mean / 20), 2)
        return value, value, np.full(len(periods), np.nan)
    num = rng.poisson(np.maximum(mean, 0)).astype(float)
    return num, num, np.full(len(periods), np.nan)


def kpi_frames(geo: Geography, seed: int, end: dt.date,
               registry: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``kpi_definitions`` for every registry KPI and ``kpi_values`` for the ``data: return`` ones."""
    registry = load_registry() if registry is None else registry
    kpis = registry.get("kpis") or []
    defs = pd.DataFrame([{
        "kpi_id": k["id"], "label": k["label"], "board": k["board"], "unit": k["unit"],
        "polarity": k["polarity"], "frequency": k.get("frequency", "monthly"),
        "description": k.get("description"), "source": k.get("source"),
    } for k in kpis], columns=["kpi_id", "label", "board", "unit", "polarity", "frequency",
                               "description", "source"])

    weights = _lcsp_weights(geo)
    pops = geo.areas.set_index("code")["population"]
    frames = []
    for i, k in enumerate(kpis):
        if k.get("data") != "return":
            continue
        rng = np.random.default_rng([seed, 8, i])
        unit = k["unit"]
        shape = RETURN_SHAPES.get(k["id"], _DEFAULT_SHAPES.get(unit, ReturnShape(50)))
        frequency = k.get("frequency", "monthly")
        periods = _periods(frequency, end)
        if not periods:
            continue
        per_year = 4 if frequency == "quarterly" else 12
        if frequency == "quarterly" and unit != "percentage" and not shape.stock \
                and k["id"] not in RETURN_SHAPES:
            shape = ReturnShape(shape.level * 3, shape.denominator, shape.shift, shape.trend)
        levels = k.get("areas") or ["partnership"]
        areas: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if "lcsp" in levels:
            for code, w in weights.items():
                areas[code] = _series(rng, shape, unit, periods, w, float(pops[code]), per_year)
            parts = list(areas.values())
            if unit in ("count",) and not shape.stock:
                num = np.sum([p[1] for p in parts], axis=0)
                areas[PARTNERSHIP_CODE] = (num, num, np.full(len(periods), np.nan))
            elif unit in ("percentage", "rate_per_1000"):
                num = np.sum([p[1] for p in parts], axis=0)
                den = np.sum([p[2] for p in parts], axis=0)
                factor = 100 if unit == "percentage" else 1000
                areas[PARTNERSHIP_CODE] = (factor * num / den, num, den)
            else:
                areas[PARTNERSHIP_CODE] = _series(rng, shape, unit, periods, 1.0,
                                                  float(pops[PARTNERSHIP_CODE]), per_year)
        else:
            areas[PARTNERSHIP_CODE] = _series(rng, shape, unit, periods, 1.0,
                                              float(pops[PARTNERSHIP_CODE]), per_year)
        baseline_fy = int(str((k.get("target") or {}).get("baseline_fy", "2024/25"))[:4])
        in_base = np.array([_fy_of(p) == baseline_fy for p in periods])
        for code, (value, num, den) in areas.items():
            value = np.round(value, 2)
            baseline = float(np.mean(value[in_base])) if in_base.any() else float(np.mean(value))
            target = _target(k, baseline)
            frames.append(pd.DataFrame({
                "kpi_id": k["id"], "area_code": code, "period_start": periods,
                "period_grain": "quarter" if frequency == "quarterly" else "month",
                "value": value, "numerator": num, "denominator": den,
                "target": None if target is None else round(target, 2),
                "baseline": round(baseline, 2),
                "is_provisional": [p == periods[-1] for p in periods],
            }))
    columns = ["kpi_id", "area_code", "period_start", "period_grain", "value", "numerator",
               "denominator", "target", "baseline", "is_provisional"]
    values = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return defs, values[columns]
