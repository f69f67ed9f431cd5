"""Community Safety Fund sample data: 2017/18 exactly as published, other years generated.

2017/18 comes from the Birmingham CSP annual report 2017/18 (``fund_2017_18_allocations.csv``
beside this module is a copy of the partnership's published allocation table): grant GBP 1,873k
less a GBP 29k top-slice for analyst posts; GBP 211k carry-forward requested from 2016/17, of which
GBP 146k approved after a GBP 65k OPCC top-slice; 51 projects allocated GBP 1,976k of GBP 1,990k;
year-end spend GBP 1,528k, i.e. slippage GBP 348k plus the GBP 100k Guns & Gangs allocation that
was requested to carry into 2018/19; the carry-forward projects spent GBP 93k of their 146k; and
the six OPCC returns with the quarter 1 performance return 79 days late. Project-level spend by
month, the spend profile and the decision dates are synthetic but add up to those totals exactly.

Any other financial year is generated in the same shape from ``seed`` (deterministic): the
2016-18 priorities before 2025/26 and the 2025-28 priority boards from 2025/26; five LCSP devolved
budgets; carry-forward projects linked to the previous year's when that year is generated too;
rejected, deferred (and, in the running year, pending) bids in the decisions register; monthly
spend recorded up to the month before ``as_at`` and profile only after it; returns outstanding.

All money is in pounds. Column names and order follow :mod:`data_access.schema`.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access import schema
from kpis.periods import fy_label

PUBLISHED_FY = 2017
AS_AT = dt.date(2026, 11, 21)
PDG_LIMIT = 100_000
ALLOCATIONS_CSV = Path(__file__).with_name("fund_2017_18_allocations.csv")

LCSP_CODES = {"North": "LCSP-N", "East": "LCSP-E", "South": "LCSP-S", "West": "LCSP-W",
              "Central": "LCSP-C"}

PRIORITIES_2016_18 = (
    "1 Scoping & Development",
    "2 Deterrence and Prevention",
    "3 Supporting The Vulnerable",
    "4 Crime and The Community",
)
PRIORITIES_2025_28 = (
    "Violence Reduction",
    "Violence Against Women and Girls",
    "Safer Neighbourhoods",
    "Exploitation and Serious Organised Crime",
    "Domestic Abuse",
)

_MONEY_COLUMNS = {
    "fund_years": ("grant_before_top_slice", "top_slice", "carry_forward_requested",
                   "carry_forward_top_slice", "carry_forward_approved", "pdg_approval_limit"),
    "fund_projects": ("bid_amount", "carry_forward_request"),
    "fund_allocations": ("amount",),
    "fund_spend": ("amount", "profile_amount"),
    "fund_returns": (),
}
_TABLES = {
    "fund_years": schema.fund_years,
    "fund_projects": schema.fund_projects,
    "fund_allocations": schema.fund_allocations,
    "fund_spend": schema.fund_spend,
    "fund_returns": schema.fund_returns,
}


@dataclass
class _Year:
    """Everything generated for one financial year, plus what the next year inherits."""

    fy: int
    year: dict
    projects: list[dict] = field(default_factory=list)
    allocations: list[dict] = field(default_factory=list)
    spend: list[dict] = field(default_factory=list)
    returns: list[dict] = field(default_factory=list)
    unallocated: int = 0
    carry_forward_out: list[tuple[dict, int]] = field(default_factory=list)  # (project, amount)


# --- public entry point -----------------------------------------------------------------------

def fund_frames(
    seed: int, fy_starts: list[int], *, as_at: dt.date = AS_AT
) -> dict[str, pd.DataFrame]:
    """Frames fund_years, fund_projects, fund_allocations, fund_spend and fund_returns.

    2017/18 is always included, exactly as published; other years are generated from ``seed``.
    """
    built: dict[int, _Year] = {}
    for fy in sorted(set(int(y) for y in fy_starts) | {PUBLISHED_FY}):
        if fy == PUBLISHED_FY:
            built[fy] = _published_2017()
        else:
            built[fy] = _generated_year(seed, fy, built.get(fy - 1), as_at)
    rows: dict[str, list[dict]] = {name: [] for name in _TABLES}
    for year in built.values():
        rows["fund_years"].append(year.year)
        rows["fund_projects"].extend(year.projects)
        rows["fund_allocations"].extend(year.allocations)
        rows["fund_spend"].extend(year.spend)
        rows["fund_returns"].extend(year.returns)
    return {name: _frame(name, rows[name]) for name in _TABLES}


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    columns = [c.name for c in _TABLES[name].columns]
    df = pd.DataFrame(rows)
    for column in columns:
        if column not in df.columns:
            df[column] = None
    df = df[columns]
    for column in _MONEY_COLUMNS[name]:
        df[column] = pd.to_numeric(df[column]).astype("float64")
    # Nullable integer ids are Int64 (whole numbers in bulk copies); other nullable columns hold
    # None rather than NaN, so no NaN can reach a Numeric column.
    for column in _TABLES[name].columns:
        if not df[column.name].isna().any():
            continue
        if isinstance(column.type, sa.Integer):
            df[column.name] = df[column.name].astype("Int64")
        else:
            df[column.name] = df[column.name].astype(object).where(df[column.name].notna(), None)
    return df.reset_index(drop=True)


# --- shared helpers ---------------------------------------------------------------------------

def _months(fy: int) -> list[dt.date]:
    return [dt.date(fy if m >= 4 else fy + 1, m, 1) for m in (*range(4, 13), 1, 2, 3)]


def _split(total: int, weights) -> list[int]:
    """Split whole pounds over weights exactly (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    if total == 0 or w.sum() <= 0:
        out = [0] * len(w)
        if total and len(w):
            out[-1] = total
        return out
    raw = w / w.sum() * total
    floor = np.floor(raw).astype(int)
    rest = int(total - floor.sum())
    order = np.argsort(-(raw - floor), kind="stable")
    floor[order[:rest]] += 1
    return [int(v) for v in floor]


def _profile_weights(kind: str, start: int) -> np.ndarray:
    """Planned spend over the 12 months (0 = April) of a project starting in month ``start``."""
    w = np.zeros(12)
    start = min(max(start, 0), 11)
    if kind == "staff":
        w[start:] = 1.0
    elif kind == "one_off":
        w[min(start + 1, 11)] = 0.7
        w[min(start + 2, 11)] += 0.3
    elif kind == "carry_forward":
        w[start:min(start + 6, 12)] = np.linspace(1.5, 0.5, len(w[start:min(start + 6, 12)]))
    else:  # commissioned: invoices build up as delivery gets going
        w[start:] = np.linspace(0.6, 1.4, 12 - start)
    return w


def _actual_weights(profile: np.ndarray, rng: np.random.Generator, last: int, lag: int,
                    fold: bool) -> np.ndarray:
    """Actual spend shape: the profile delayed by ``lag`` months (invoices come late), with noise.

    Months after ``last`` carry no spend. With ``fold`` (a closed year or a finished project)
    anything that would fall later is booked in ``last``, like year-end accruals; without it (a
    running year cut at the last recorded month) it is simply not spent yet.
    """
    shifted = np.zeros(12)
    for i, value in enumerate(profile):
        if i + lag <= last or fold:
            shifted[min(i + lag, last)] += value
    noise = rng.lognormal(0.0, 0.35, 12)
    w = shifted * noise
    w[last + 1:] = 0.0
    if w.sum() <= 0:
        w[last] = 1.0
    return w


def _spend_rows(project_id: int, fy: int, profile_total: int, kind: str, start: int,
                spend_total: int, rng: np.random.Generator, *, last: int = 11,
                lag: int = 1, recorded_to: int = 11) -> list[dict]:
    """Twelve monthly rows: profile over the year, actual spend up to ``recorded_to``."""
    profile_w = _profile_weights(kind, start)
    profile = _split(profile_total, profile_w)
    actual = [0] * 12
    if recorded_to >= 0 and spend_total:
        cut = min(last, recorded_to)
        actual = _split(spend_total, _actual_weights(profile_w, rng, cut, lag, fold=cut == last))
    return [
        {"project_id": project_id, "month_start": month, "amount": actual[i],
         "profile_amount": profile[i], "import_id": None}
        for i, month in enumerate(_months(fy))
    ]


def _body(amount: float, limit: int = PDG_LIMIT) -> str:
    # Bids under the delegated limit are decided by the Partnership Delivery Group (2017/18 on).
    return "PDG" if amount < limit else "Board"


def _weekday_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


# --- 2017/18 as published ---------------------------------------------------------------------

# Synthetic detail behind the published totals. Carry-forward projects (2016/17 money) spent
# GBP 86k between them; LCSP East and West spend their GBP 3k and 4k carried forward first,
# which makes GBP 93k. Operation Yarn waits on an April 2018 appeal, so nothing was spent.
_CF_SPEND_2017 = {
    "Off Road Bike Signage": 14_870,
    "Public Space POs": 12_340,
    "Burglary Project": 6_000,
    "Redeployable CCTV": 17_915,
    "TFUN Legal / Operation Yarn": 0,
    "TFUN Flynn Pardoe": 9_455,
    "Fast & Furious Film": 3_980,
    "General Road Safety": 21_440,
}
# Spend as a share of the new allocation where the report explains it; others are drawn.
_FIXED_RATIO_2017 = {
    "Guns & Gangs (carried forward to 2018/19)": 0.0,
    "Website": 0.0,  # allocated in March 2018
    "Integrated Offender Management (IOM) Barriers": 0.0,  # budget carried into 2018/19
    "Mental Health Pathfinder": 0.45,  # approved in quarter 3
    "Liberate Modern Day Slavery": 0.62,  # approved in quarter 2
    "Taxi Marshalls": 1.05,
    "MARAC administration": 1.02,
    "SEGWEB Hosting": 1.0,
    "Street Doctors": 1.0,
}
_DECISION_2017 = {  # name: (decision date, spend start month index)
    "Liberate Modern Day Slavery": (dt.date(2017, 8, 17), 5),
    "Mental Health Pathfinder": (dt.date(2017, 11, 16), 8),
    "Website": (dt.date(2018, 3, 15), 11),
}
_OUTCOMES_2017 = {
    "Knife Crime Early Intervention Project Officer x 2":
        "All young people completed 'One Knife One Life'; no recorded reoffending among "
        "participants (YOS, 2017/18).",
    "Liberate Modern Day Slavery":
        "551 modern slavery awareness sessions; GBP 175k Home Office funding secured for a "
        "2018/19 pathway pilot.",
    "Mental Health Pathfinder":
        "Pathfinder teacher in post from quarter 3; case study pupil back to 100% attendance.",
    "Multi Systemic Therapy":
        "Extra therapist capacity took referrals from the gangs' operational group.",
    "Integrated Offender Management (IOM) Barriers":
        "Budget carried forward in 2018/19 for Police and Probation to meet offenders' "
        "employment costs.",
    "Guns & Gangs (carried forward to 2018/19)":
        "March 2018 Board agreed to use the GBP 100k for a quick response development "
        "programme; carry-forward to 2018/19 requested from the OPCC, approval awaited.",
    "TFUN Legal / Operation Yarn":
        "Outcome of the April 2018 appeal awaited to decide whether the funding is still needed.",
    "Conies Road Safety":
        "Piloted in East Birmingham; funding for West Birmingham granted on the evaluation.",
    "Street Intervention Team":
        "Supported the City Centre ASB Enforcement Officers and a co-ordinator role.",
    "Sexually Harmful Behaviour - Integrative Child Therapist":
        "Positive yearly evaluation referenced in the Birmingham Youth Justice Plan 2017/18.",
}
_PROVIDERS_2017 = {
    "Youth Offending Service": ("Sexually Harmful", "Gender Specific", "Knife Crime",
                                "Anti-Social Behaviour Worker", "Multi Systemic"),
    "West Midlands Police": ("IOM", "Integrated Offender", "GPS-enabled", "Redeployable CCTV",
                             "Guns & Gangs"),
    "Barnardo's": ("Barnardo's",),
    "SIFA Fireside": ("SIFA",),
    "Victim Support": ("Victim Support",),
    "Birmingham & Solihull Women's Aid": ("DV Helpline",),
}
_REJECTED_2017 = (
    ("4 Crime and The Community", "Street Pastors expansion (city centre)", 35_000, "rejected",
     dt.date(2017, 6, 15), "Duplicates existing provision: the Street Intervention Team and the "
     "City Centre ASB Enforcement Officers already cover the night-time economy."),
    ("2 Deterrence and Prevention", "Knife arches for secondary schools (capital purchase)",
     24_000, "rejected", dt.date(2017, 8, 17), "Capital purchase outside the Community Safety "
     "Fund grant conditions; referred to the OPCC capital bid round."),
    ("4 Crime and The Community", "Citywide CCTV control room upgrade", 180_000, "deferred",
     dt.date(2017, 7, 27), "Deferred pending the council's CCTV review; resubmit with confirmed "
     "match funding."),
    ("3 Supporting The Vulnerable", "Online hate crime reporting app", 15_000, "rejected",
     dt.date(2017, 9, 21), "No evidence of demand in the strategic assessment; True Vision "
     "already provides online reporting."),
    ("2 Deterrence and Prevention", "Youth diversion football league", 28_000, "deferred",
     dt.date(2017, 11, 16), "Deferred for a costed delivery plan with outcome measures."),
)
_RETURNS_2017 = (
    ("Financial Plan 2017/18", dt.date(2017, 6, 12), dt.date(2017, 6, 1)),
    ("Quarter 1 (Apr-Jun) financial", dt.date(2017, 7, 31), dt.date(2017, 7, 31)),
    ("Quarter 1 (Apr-Jun) performance", dt.date(2017, 7, 31), dt.date(2017, 10, 18)),
    ("Quarter 2 (Jul-Sep)", dt.date(2017, 10, 31), dt.date(2017, 10, 31)),
    ("Quarter 3 (Oct-Dec)", dt.date(2018, 1, 31), dt.date(2018, 1, 31)),
    ("Quarter 4 / Year-End", dt.date(2018, 4, 23), None),
)


def read_published_allocations(path: Path = ALLOCATIONS_CSV) -> pd.DataFrame:
    """The published 2017/18 allocation table: priority, project, carry-forward and new (GBP k)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    df = pd.DataFrame(rows)
    for column in ("carry_forward_2016_17_k", "allocation_2017_18_k"):
        df[column] = df[column].astype(int)
    return df


def _kind_2017(name: str) -> str:
    lowered = name.lower()
    if name.startswith("LCSP "):
        return "commissioned"
    if any(w in lowered for w in ("signage", "cameras", "gating", "website", "hosting", "film",
                                  "street doctors", "barriers")):
        return "one_off"
    if any(w in lowered for w in ("officer", "worker", "co-ordinator", "administration", "advisor",
                                  "team", "therapist", "helpline", "marshalls", "mediation")):
        return "staff"
    return "commissioned"


def _provider_2017(name: str) -> str:
    if name.startswith("LCSP "):
        return f"{name} (devolved budget)"
    for provider, keys in _PROVIDERS_2017.items():
        if any(k in name for k in keys):
            return provider
    return "Birmingham City Council"


def _lcsp_2017(name: str) -> str | None:
    if name.startswith("LCSP "):
        return LCSP_CODES[name.split(" ", 1)[1]]
    # Local projects: Conies was piloted in East Birmingham, Bournbrook is in Selly Oak (South).
    return {"Conies Road Safety": "LCSP-E", "Bournbrook Gating": "LCSP-S"}.get(name)


def _published_2017() -> _Year:
    fy = PUBLISHED_FY
    table = read_published_allocations()
    rng = np.random.default_rng(20172018)  # fixed: 2017/18 never depends on the caller's seed
    year = _Year(fy, {
        "fy_start": fy, "financial_year": fy_label(fy),
        "grant_before_top_slice": 1_873_000, "top_slice": 29_000,
        "carry_forward_requested": 211_000, "carry_forward_top_slice": 65_000,
        "carry_forward_approved": 146_000, "pdg_approval_limit": PDG_LIMIT,
        "notes": "Top-slice GBP 29k for analyst posts (HOCS, 12 May 2017); carry-forward from "
                 "2016/17 approved by the OPCC on 22 May 2017 less GBP 65k OPCC top-slice. "
                 "Carry-forward request to 2018/19: GBP 114k (Guns & Gangs GBP 100k and GBP 14k "
                 "unallocated), approval awaited.",
    })
    # Year-end spend per project: carry-forward projects as above; new allocations drawn, then
    # scaled so that the whole year spends exactly GBP 1,528k.
    new_target = 1_528_000 - sum(_CF_SPEND_2017.values()) - 3_000 - 4_000
    new_alloc = {r.project: r.allocation_2017_18_k * 1000 for r in table.itertuples()
                 if r.allocation_2017_18_k > 0}
    ratio = {name: _FIXED_RATIO_2017.get(name, rng.uniform(0.72, 1.0)) for name in new_alloc}
    flexible = [n for n in new_alloc if n not in _FIXED_RATIO_2017]
    free = list(flexible)
    for _ in range(20):  # scale the drawn ratios to the target, capping at the allocation
        held = sum(ratio[n] * new_alloc[n] for n in new_alloc if n not in free)
        factor = (new_target - held) / sum(ratio[n] * new_alloc[n] for n in free)
        for n in free:
            ratio[n] = min(ratio[n] * factor, 1.0)
        if not any(ratio[n] >= 1.0 for n in free):
            break
        free = [n for n in free if ratio[n] < 1.0]
    new_spend = {n: int(round(ratio[n] * a)) for n, a in new_alloc.items()}
    largest = max(flexible, key=lambda n: new_spend[n])
    new_spend[largest] += new_target - sum(new_spend.values())

    for seq, row in enumerate(table.itertuples(), start=1):
        pid = fy * 1000 + seq
        cf = row.carry_forward_2016_17_k * 1000
        new = row.allocation_2017_18_k * 1000
        name = row.project
        if new:
            decided, start = _DECISION_2017.get(name, (None, None))
            if decided is None:
                body = _body(new)
                decided = dt.date(2017, 4, 27) if body == "Board" else rng.choice(
                    [dt.date(2017, 5, 18), dt.date(2017, 6, 15)])
                start = decided.month - 3  # spend starts the month after the decision
            reason = (f"Meets priority {row.priority}; evidence of need in the 2016/17 strategic "
                      "assessment; costed delivery plan with outcome measures.")
            if name.startswith("LCSP "):
                reason = "Devolved LCSP budget (GBP 60k each) for the local delivery plan."
            if name == "Mediation":
                reason += " Increased by GBP 7k in March 2018."
            bid, body = new, _body(new)
        else:  # a 2016/17 project finishing with carried-forward money
            decided, start, bid, body = dt.date(2017, 5, 22), 0, cf, _body(cf)
            reason = ("2016/17 project carried forward to complete; carry-forward approved by the "
                      "OPCC on 22 May 2017.")
        year.projects.append({
            "project_id": pid, "fy_start": fy, "priority": row.priority, "name": name,
            "lcsp_code": _lcsp_2017(name), "provider": _provider_2017(name),
            "bid_amount": bid, "bid_date": decided - dt.timedelta(days=int(rng.integers(21, 42))),
            "decision": "approved", "decision_body": body, "decision_date": decided,
            "decision_reason": reason, "outcome_evaluation": _OUTCOMES_2017.get(name),
            "carried_from_project_id": None,
            "carry_forward_request": 100_000 if name.startswith("Guns & Gangs") else None,
        })
        if cf:
            year.allocations.append({"project_id": pid, "funding": "carry_forward", "amount": cf})
        if new:
            year.allocations.append({"project_id": pid, "funding": "new", "amount": new})
        if new:
            spend = new_spend[name] + (cf if cf else 0)  # LCSP East/West spend their cf first
            kind = _kind_2017(name)
            if name.startswith("Guns & Gangs"):
                kind, start = "commissioned", 6  # to be commissioned jointly with the OPCC
            year.spend += _spend_rows(pid, fy, cf + new, kind, start, spend, rng)
        else:
            # Carry-forward projects finish early: no spend after October 2017.
            year.spend += _spend_rows(pid, fy, cf, "carry_forward", 0, _CF_SPEND_2017[name], rng,
                                      last=int(rng.integers(3, 7)), lag=1)
    for i, (priority, name, amount, decision, decided, reason) in enumerate(_REJECTED_2017):
        year.projects.append({
            "project_id": fy * 1000 + len(table) + 1 + i, "fy_start": fy, "priority": priority,
            "name": name, "lcsp_code": None, "provider": None, "bid_amount": amount,
            "bid_date": decided - dt.timedelta(days=28), "decision": decision,
            "decision_body": _body(amount), "decision_date": decided, "decision_reason": reason,
            "outcome_evaluation": None, "carried_from_project_id": None,
            "carry_forward_request": None,
        })
    for i, (name, due, submitted) in enumerate(_RETURNS_2017, start=1):
        year.returns.append({"return_id": fy * 100 + i, "fy_start": fy, "name": name,
                             "due_date": due, "submitted_date": submitted})
    year.unallocated = 14_000
    guns = next(p for p in year.projects if p["name"].startswith("Guns & Gangs"))
    year.carry_forward_out = [(guns, 100_000)]
    return year


# --- generated years --------------------------------------------------------------------------

# (name, kind, low k, high k, provider, LCSP) per priority; LCSP budgets are added separately.
_TEMPLATES_2016_18 = {
    "1 Scoping & Development": (
        ("Strategic assessment analyst support", "staff", 30, 45, "Birmingham City Council"),
        ("Civil Orders Partnership", "staff", 40, 60, "Birmingham City Council"),
        ("Partnership communications and website", "one_off", 8, 15, "Birmingham City Council"),
        ("Partnership training programme", "commissioned", 10, 20, "Birmingham City Council"),
    ),
    "2 Deterrence and Prevention": (
        ("Knife Crime Early Intervention Project Officers", "staff", 60, 70,
         "Youth Offending Service"),
        ("Integrated Offender Management Co-ordinator", "staff", 20, 35, "West Midlands Police"),
        ("GPS-enabled Offender Tags", "commissioned", 40, 70, "West Midlands Police"),
        ("Specialist Intensive Mentoring", "commissioned", 50, 80, "St Basils"),
        ("Multi Systemic Therapy", "staff", 40, 50, "Youth Offending Service"),
        ("Anti-Social Behaviour Workers (YOS)", "staff", 50, 55, "Youth Offending Service"),
        ("Sexually Harmful Behaviour Therapist", "staff", 30, 36, "Youth Offending Service"),
        ("Street Doctors sessions", "one_off", 3, 8, "Street Doctors"),
        ("Gangs and Violence Intervention Programme", "commissioned", 90, 150,
         "West Midlands Police"),
    ),
    "3 Supporting The Vulnerable": (
        ("Domestic Homicide Review Team", "staff", 150, 200, "Birmingham City Council"),
        ("Domestic Homicide Review Administration", "staff", 100, 160, "Birmingham City Council"),
        ("DV Helpline", "staff", 45, 55, "Birmingham & Solihull Women's Aid"),
        ("Independent Sexual Violence Advisor", "staff", 20, 40,
         "Rape and Sexual Violence Project"),
        ("MARAC administration", "staff", 25, 35, "Birmingham City Council"),
        ("Barnardo's - CSE", "commissioned", 55, 70, "Barnardo's"),
        ("Modern Slavery Co-ordinator", "staff", 30, 40, "Birmingham City Council"),
        ("Psychological support for rough sleepers", "commissioned", 15, 20, "SIFA Fireside"),
        ("Mental Health Pathfinder", "commissioned", 40, 55, "Birmingham City Council"),
        ("Forced Marriage, Honour Violence & FGM Community Engagement", "commissioned", 15, 25,
         "Birmingham City Council"),
    ),
    "4 Crime and The Community": (
        ("City Centre ASB Enforcement Officers", "staff", 40, 50, "Birmingham City Council"),
        ("Victim Support - BRAVE", "commissioned", 80, 100, "Victim Support"),
        ("Taxi Marshalls", "staff", 35, 45, "Birmingham City Council"),
        ("Business crime reduction (FaceWatch)", "commissioned", 15, 25, "FaceWatch"),
        ("Mediation service", "staff", 12, 20, "Birmingham City Council"),
        ("Redeployable CCTV cameras", "one_off", 10, 30, "Birmingham City Council"),
        ("Street Intervention Team", "staff", 15, 20, "Birmingham City Council"),
        ("Burglary target hardening", "one_off", 8, 20, "West Midlands Police"),
    ),
}
_TEMPLATES_2025_28 = {
    "Violence Reduction": (
        ("Serious Violence Duty delivery co-ordinator", "staff", 45, 60,
         "Birmingham City Council"),
        ("Knife crime education in schools", "commissioned", 40, 70, "Youth Offending Service"),
        ("Hotspot guardianship and place-based prevention", "commissioned", 80, 140,
         "West Midlands Police"),
        ("A&E youth violence navigators", "staff", 50, 75, "Redthread"),
        ("Knife arch and weapons sweep operations", "one_off", 5, 12, "West Midlands Police"),
        ("Detached youth work in hotspot areas", "commissioned", 40, 65,
         "Birmingham Youth Service"),
    ),
    "Violence Against Women and Girls": (
        ("Independent Sexual Violence Advisors", "staff", 40, 70,
         "Rape and Sexual Violence Project"),
        ("Stalking advocacy service", "staff", 35, 55, "Birmingham & Solihull Women's Aid"),
        ("Online abuse awareness for schools", "commissioned", 15, 30, "Birmingham City Council"),
        ("FGM and honour-based abuse community engagement", "commissioned", 15, 30,
         "Birmingham City Council"),
        ("Night-time economy welfare and Ask for Angela", "commissioned", 20, 40,
         "Birmingham City Council"),
        ("Sexual exploitation outreach", "commissioned", 45, 70, "Barnardo's"),
    ),
    "Safer Neighbourhoods": (
        ("ASB case review co-ordinator", "staff", 35, 45, "Birmingham City Council"),
        ("Neighbourhood mediation service", "staff", 25, 40, "Birmingham City Council"),
        ("Redeployable CCTV cameras", "one_off", 15, 35, "Birmingham City Council"),
        ("Night-time economy taxi marshals", "staff", 35, 50, "Birmingham City Council"),
        ("Hate crime third-party reporting centres", "commissioned", 10, 25,
         "Birmingham City Council"),
        ("Retail crime partnership", "commissioned", 15, 30, "Birmingham BIDs"),
        ("Off-road bike signage and enforcement", "one_off", 8, 20, "West Midlands Police"),
    ),
    "Exploitation and Serious Organised Crime": (
        ("Modern slavery pathway co-ordinator", "staff", 35, 50, "Birmingham City Council"),
        ("Criminal exploitation navigators", "staff", 60, 90, "St Giles Trust"),
        ("Adult exploitation safe accommodation", "commissioned", 40, 80,
         "Birmingham City Council"),
        ("OCG disruption partnership analyst", "staff", 35, 45, "West Midlands Police"),
        ("National Referral Mechanism support", "commissioned", 15, 30, "Birmingham City Council"),
    ),
    "Domestic Abuse": (
        ("Domestic Abuse Related Death Reviews team", "staff", 140, 190,
         "Birmingham City Council"),
        ("MARAC administration", "staff", 28, 38, "Birmingham City Council"),
        ("Domestic abuse helpline", "staff", 45, 60, "Birmingham & Solihull Women's Aid"),
        ("Domestic abuse perpetrator programme", "commissioned", 50, 90, "Cranstoun"),
        ("Children's domestic abuse recovery groups", "commissioned", 20, 35, "Barnardo's"),
    ),
}
# Where a 2016-18 priority's work sits among the 2025-28 boards (for carried-forward projects).
_PRIORITY_SUCCESSOR = {
    "1 Scoping & Development": "Safer Neighbourhoods",
    "2 Deterrence and Prevention": "Violence Reduction",
    "3 Supporting The Vulnerable": "Exploitation and Serious Organised Crime",
    "4 Crime and The Community": "Safer Neighbourhoods",
}
_UNFUNDED_BIDS = (  # (name, decision, reason, priority index in the year's list)
    ("Additional street pastor patrols", "rejected",
     "Duplicates existing provision: night-time economy marshals are already funded.", -1),
    ("Knife arches for secondary schools (capital)", "rejected",
     "Capital purchase outside the grant conditions; referred to the OPCC capital fund.", 0),
    ("Citywide CCTV control room upgrade", "deferred",
     "Deferred pending the council's CCTV review; resubmit with confirmed match funding.", -1),
    ("Community safety mobile app", "rejected",
     "No evidence of demand; duplicates the police online reporting service.", 0),
    ("Youth diversion football league", "deferred",
     "Deferred for a costed delivery plan with outcome measures.", 1),
    ("Private security patrols for retail parks", "rejected",
     "Benefits private premises only; not an eligible use of the fund.", -1),
    ("Graffiti removal contract", "rejected",
     "Core council service: the fund does not replace mainstream budgets.", -1),
    ("Domestic abuse awareness billboard campaign", "deferred",
     "Deferred to align with the regional VAWG communications campaign.", 2),
)
_OUTCOME_TEXT = (
    "Evaluation received: targets met; {n} people supported.",
    "Evaluation received: {n} referrals, {p}% completed the programme.",
    "Quarterly monitoring complete; outcomes reported to the board.",
    "Evaluation received: partial delivery, recruitment delayed until quarter 2.",
    "Evaluation received: {n} sessions delivered; positive feedback from partners.",
)


def _priorities(fy: int) -> tuple[str, ...]:
    return PRIORITIES_2025_28 if fy >= 2025 else PRIORITIES_2016_18


def _templates(fy: int) -> dict:
    return _TEMPLATES_2025_28 if fy >= 2025 else _TEMPLATES_2016_18


def _lcsp_names(fy: int) -> list[str]:
    # Birmingham added a City Centre LCSP (Central) in 2019/20.
    return ["North", "East", "South", "West"] + (["Central"] if fy >= 2019 else [])


def _return_schedule(fy: int) -> list[tuple[str, dt.date]]:
    label = fy_label(fy)
    return [
        (f"Financial Plan {label}", _weekday_before(dt.date(fy, 6, 12))),
        ("Quarter 1 (Apr-Jun) financial", _weekday_before(dt.date(fy, 7, 31))),
        ("Quarter 1 (Apr-Jun) performance", _weekday_before(dt.date(fy, 7, 31))),
        ("Quarter 2 (Jul-Sep)", _weekday_before(dt.date(fy, 10, 31))),
        ("Quarter 3 (Oct-Dec)", _weekday_before(dt.date(fy + 1, 1, 31))),
        ("Quarter 4 / Year-End", _weekday_before(dt.date(fy + 1, 4, 23))),
    ]


def _generated_year(seed: int, fy: int, previous: _Year | None, as_at: dt.date) -> _Year:
    rng = np.random.default_rng([int(seed), fy])
    label, prev_label = fy_label(fy), fy_label(fy - 1)
    months = _months(fy)
    # Actuals are recorded up to the month before as_at (finance closes a month in the next).
    last_actual = as_at.replace(day=1) - dt.timedelta(days=1)
    recorded_to = sum(1 for m in months if m <= last_actual) - 1  # -1 = nothing yet, 11 = closed
    is_closed = recorded_to >= 11

    grant = int(rng.integers(1_120, 1_320)) * 1000
    top_slice = int(round(grant * rng.uniform(0.02, 0.035) / 1000)) * 1000
    # Carry-forward into this year: what the previous year asked for, when it is generated.
    if previous is not None:
        cf_items = [(p["name"], _PRIORITY_SUCCESSOR.get(p["priority"], p["priority"])
                     if fy >= 2025 else p["priority"], p["lcsp_code"], p["provider"],
                     p["project_id"], amt) for p, amt in previous.carry_forward_out]
        if previous.unallocated:
            # 2017/18 asked to carry its unallocated balance forward "for infrastructure costs".
            infrastructure = "Safer Neighbourhoods" if fy >= 2025 else "1 Scoping & Development"
            cf_items.append(("Partnership infrastructure costs", infrastructure, None,
                             "Birmingham City Council", None, previous.unallocated))
        cf_requested = sum(item[-1] for item in cf_items)
        cf_top_slice = 0
    else:
        templates = [(p, t) for p, ts in _templates(fy - 1).items() for t in ts]
        picks = rng.choice(len(templates), size=int(rng.integers(2, 5)), replace=False)
        cf_items = []
        for i in picks:
            priority, (name, _, lo, hi, provider) = templates[i]
            amount = int(rng.integers(5, max(6, lo))) * 1000
            priority = _PRIORITY_SUCCESSOR.get(priority, priority) if fy >= 2025 else priority
            cf_items.append((name, priority, None, provider, None, amount))
        cf_requested = sum(item[-1] for item in cf_items) + int(rng.integers(0, 4)) * 5000
        cf_top_slice = cf_requested - sum(item[-1] for item in cf_items)
    cf_approved = cf_requested - cf_top_slice

    year = _Year(fy, {
        "fy_start": fy, "financial_year": label, "grant_before_top_slice": grant,
        "top_slice": top_slice, "carry_forward_requested": cf_requested,
        "carry_forward_top_slice": cf_top_slice, "carry_forward_approved": cf_approved,
        "pdg_approval_limit": PDG_LIMIT,
        "notes": f"Top-slice GBP {top_slice // 1000}k for analyst posts and LCSP managers.",
    })
    seq = 0

    def next_id() -> int:
        nonlocal seq
        seq += 1
        return fy * 1000 + seq

    def decision_date(lo: dt.date, hi: dt.date) -> dt.date:
        span = max((hi - lo).days, 0)
        return _weekday_before(lo + dt.timedelta(days=int(rng.integers(0, span + 1))))

    year_end = dt.date(fy + 1, 3, 31)
    latest_decision = min(year_end, as_at - dt.timedelta(days=1))

    # New allocations: every LCSP's devolved budget and most template projects.
    unallocated = int(rng.integers(0, 26) if is_closed else rng.integers(20, 60)) * 1000
    pool = grant - top_slice - unallocated
    chosen = []
    for priority, templates in _templates(fy).items():
        for name, kind, lo, hi, provider in templates:
            if rng.random() < 0.8:
                amount = float(rng.uniform(lo, hi)) * 1000
                chosen.append([priority, name, kind, amount, provider, None])
    lcsp_priority = "Safer Neighbourhoods" if fy >= 2025 else "4 Crime and The Community"
    lcsp_budget = 40_000
    for lcsp in _lcsp_names(fy):
        chosen.append([lcsp_priority, f"LCSP {lcsp}", "commissioned", lcsp_budget,
                       f"LCSP {lcsp} (devolved budget)", LCSP_CODES[lcsp]])
    scalable = [c for c in chosen if c[5] is None]
    fixed_total = sum(c[3] for c in chosen if c[5] is not None)
    factor = (pool - fixed_total) / sum(c[3] for c in scalable)
    for c in scalable:
        c[3] = max(1000, int(round(c[3] * factor / 1000)) * 1000)
    biggest = max(scalable, key=lambda c: c[3])
    biggest[3] += pool - sum(int(c[3]) for c in chosen)

    bundles = []  # (project row, allocation funding, amount, kind, start)
    for priority, name, kind, amount, provider, lcsp in chosen:
        amount = int(amount)
        late = rng.random() < 0.12
        lo, hi = (dt.date(fy, 9, 1), dt.date(fy + 1, 1, 31)) if late else \
            (dt.date(fy, 4, 1), dt.date(fy, 7, 15))
        decided = decision_date(lo, min(hi, latest_decision))
        bid = amount
        reason = (f"Meets the {priority} priority; evidence of need in the strategic assessment; "
                  "costed delivery plan with outcome measures.")
        if lcsp:
            reason = f"Devolved LCSP budget (GBP {amount // 1000}k) for the local delivery plan."
        elif rng.random() < 0.15:
            bid = int(round(amount * rng.uniform(1.1, 1.4) / 1000)) * 1000
            reason = (f"Approved at a reduced amount (bid GBP {bid:,}); scope limited to the "
                      "highest-need areas.")
        elif rng.random() < 0.3:
            reason = ("Continuation of an established service with a positive evaluation in "
                      f"{prev_label}.")
        project = {
            "project_id": next_id(), "fy_start": fy, "priority": priority, "name": name,
            "lcsp_code": lcsp, "provider": provider, "bid_amount": bid,
            "bid_date": decided - dt.timedelta(days=int(rng.integers(14, 45))),
            "decision": "approved", "decision_body": _body(bid), "decision_date": decided,
            "decision_reason": reason, "outcome_evaluation": None,
            "carried_from_project_id": None, "carry_forward_request": None,
        }
        start = months.index(decided.replace(day=1)) + 1 if decided.replace(day=1) in months else 0
        bundles.append((project, "new", amount, kind, min(start, 11)))
    for name, priority, lcsp, provider, from_id, amount in cf_items:
        decided = _weekday_before(dt.date(fy, 5, 20))
        project = {
            "project_id": next_id(), "fy_start": fy, "priority": priority, "name": name,
            "lcsp_code": lcsp, "provider": provider, "bid_amount": amount,
            "bid_date": dt.date(fy, 4, 10), "decision": "approved",
            "decision_body": _body(amount), "decision_date": decided,
            "decision_reason": f"Carried forward from {prev_label} to complete; carry-forward "
                               "approved by the OPCC.",
            "outcome_evaluation": None, "carried_from_project_id": from_id,
            "carry_forward_request": None,
        }
        bundles.append((project, "carry_forward", amount, "carry_forward", 0))

    # Spend: closed years spend most of their allocation; the running year up to recorded_to.
    cf_out_candidates = [b for b in bundles if b[1] == "new" and b[0]["lcsp_code"] is None]
    n_cf_out = int(rng.integers(0, 3)) if is_closed else 0
    ids = [b[0]["project_id"] for b in cf_out_candidates]
    cf_out_ids = {ids[i] for i in rng.choice(len(ids), size=n_cf_out, replace=False)}
    overspend_ids = {ids[i] for i in rng.choice(len(ids), size=2, replace=False)}
    for project, funding, amount, kind, start in bundles:
        pid = project["project_id"]
        profile_w = _profile_weights(kind, start)
        if is_closed:
            if pid in cf_out_ids:
                ratio = rng.uniform(0.2, 0.6)
            elif pid in overspend_ids:
                ratio = rng.uniform(1.02, 1.10)
            elif funding == "carry_forward":
                ratio = rng.uniform(0.6, 1.0)
            else:
                ratio = rng.uniform(0.8, 1.0) if rng.random() > 0.15 else rng.uniform(0.4, 0.8)
            spend = int(round(amount * ratio))
            if pid in cf_out_ids:
                project["carry_forward_request"] = amount - spend
                year.carry_forward_out.append((project, amount - spend))
            last = int(rng.integers(4, 8)) if funding == "carry_forward" else 11
        else:
            planned = _split(amount, profile_w)
            to_date = sum(planned[: recorded_to + 1]) if recorded_to >= 0 else 0
            roll = rng.random()
            ratio = 0.0 if roll < 0.1 else (
                1.2 if pid in overspend_ids else rng.uniform(0.7, 1.05))
            spend = int(round(to_date * ratio))
            last = 11
        year.spend += _spend_rows(pid, fy, amount, kind, start, spend, rng, last=last,
                                  recorded_to=recorded_to)
        year.allocations.append({"project_id": pid, "funding": funding, "amount": amount})
        if is_closed and funding == "new" and rng.random() < 0.4:
            text = _OUTCOME_TEXT[int(rng.integers(0, len(_OUTCOME_TEXT)))]
            project["outcome_evaluation"] = text.format(n=int(rng.integers(20, 400)),
                                                        p=int(rng.integers(60, 96)))
        year.projects.append(project)
    year.unallocated = unallocated

    # Bids that were not funded: rejected and deferred, and pending ones in a running year.
    priorities = _priorities(fy)
    picks = rng.choice(len(_UNFUNDED_BIDS), size=int(rng.integers(2, 5)), replace=False)
    for i in picks:
        name, decision, reason, p_index = _UNFUNDED_BIDS[int(i)]
        amount = int(rng.integers(10, 150)) * 1000
        decided = decision_date(dt.date(fy, 4, 15), min(dt.date(fy + 1, 2, 28), latest_decision))
        year.projects.append({
            "project_id": next_id(), "fy_start": fy, "priority": priorities[p_index],
            "name": name, "lcsp_code": None, "provider": None, "bid_amount": amount,
            "bid_date": decided - dt.timedelta(days=28), "decision": decision,
            "decision_body": _body(amount), "decision_date": decided,
            "decision_reason": reason, "outcome_evaluation": None,
            "carried_from_project_id": None, "carry_forward_request": None,
        })
    if not is_closed:
        for k in range(int(rng.integers(1, 3))):
            amount = int(rng.integers(8, 60)) * 1000
            year.projects.append({
                "project_id": next_id(), "fy_start": fy,
                "priority": priorities[k % len(priorities)],
                "name": ("Winter night-time economy safety campaign",
                         "Hate crime awareness training")[k],
                "lcsp_code": None, "provider": "Birmingham City Council", "bid_amount": amount,
                "bid_date": max(dt.date(fy, 4, 1), as_at - dt.timedelta(days=20 + 10 * k)),
                "decision": "pending", "decision_body": _body(amount), "decision_date": None,
                "decision_reason": "Awaiting the next PDG meeting.", "outcome_evaluation": None,
                "carried_from_project_id": None, "carry_forward_request": None,
            })

    # Returns to the OPCC: mostly on time, the odd one late, none submitted before its period ends.
    for i, (name, due) in enumerate(_return_schedule(fy), start=1):
        roll = rng.random()
        submitted = due - dt.timedelta(days=int(rng.integers(0, 8))) if roll > 0.2 else \
            due + dt.timedelta(days=int(rng.integers(1, 40)))
        if submitted >= as_at:
            submitted = None
        year.returns.append({"return_id": fy * 100 + i, "fy_start": fy, "name": name,
                             "due_date": due, "submitted_date": submitted})
    if not is_closed:
        # The running year always has an overdue return, chasing project officers' figures.
        overdue = [r for r in year.returns if r["due_date"] < as_at]
        if overdue:
            overdue[-1]["submitted_date"] = None
    return year
