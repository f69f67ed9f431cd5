"""Priority-board performance, assembled from small frames: series, summaries, comparisons, actions.

Pure pandas (no database, no Streamlit). The page and the board pack both call these, so the
screen and the pack can never disagree.

The shape every KPI is brought to is a *series frame* with columns
``kpi_id, area_code, period_start, value, numerator, denominator, target, baseline`` (one row per
area and period). :func:`incident_series`, :func:`return_series` and :func:`actions_series` build it
from what :mod:`data_access.board_queries` returns; :func:`summarise_kpi` turns one area's series
into a :class:`KpiSummary` (latest value, sparkline, SPC icons, target, exception rank);
:func:`board_overview` lays the summaries out board by board with exceptions first.

Below partnership level a sensitive KPI (:func:`is_sensitive`) keeps no monthly series: the page
replaces its summary with :func:`protected_summary`, a figure for a period the disclosure rule
(:mod:`kpis.disclosure`) allows, or the withheld label.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpis import change, disclosure, spc
from kpis.periods import parse_fy
from kpis.registry import Kpi, Registry, safe_ratio

SERIES_COLUMNS = ["kpi_id", "area_code", "period_start", "value", "numerator", "denominator",
                  "target", "baseline"]
SPARKLINE_POINTS = 13
COMPLETE_STATUSES = ("complete",)
ON_TRACK_STATUSES = ("complete", "on_track")
STATUS_LABELS = {
    "not_started": "Not started", "on_track": "On track", "at_risk": "At risk",
    "off_track": "Off track", "complete": "Complete",
}

# Exception ranks: lower is more urgent. Board chairs want what changed for the worse and what is
# off track first; good news next; then what the data cannot yet tell.
RANK_CONCERNING_OFF_TARGET = 0
RANK_CONCERNING = 1
RANK_MISSING_TARGET = 2
RANK_OFF_TARGET = 3
RANK_IMPROVING = 4
RANK_NEAR_TARGET = 5
RANK_HIT_AND_MISS = 6
RANK_COMMON = 7
RANK_TOO_FEW_POINTS = 8
RANK_NO_DATA = 9
RANK_PROTECTED = 10  # monthly figures withheld below partnership level: last, whatever they are
EXCEPTION_RANKS = (RANK_CONCERNING_OFF_TARGET, RANK_CONCERNING, RANK_MISSING_TARGET, RANK_OFF_TARGET)


def empty_series() -> pd.DataFrame:
    """A series frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in SERIES_COLUMNS}).astype(
        {"kpi_id": object, "area_code": object, "period_start": "datetime64[ns]"}
    )


# --- disclosure ----------------------------------------------------------------------------------

# Incident flags whose counts can point at victims in small areas: the flags of
# kpis.disclosure.SENSITIVE_FLAGS (domestic abuse, VAWG, hate crime) by their registry names.
SENSITIVE_FLAG_NAMES = ("is_domestic_abuse", "is_vawg", "is_hate")
# Partner returns that count victims of sensitive crimes (sexual violence, modern slavery,
# domestic abuse): the registry has no measure for a return, so they are named here.
SENSITIVE_RETURNS = frozenset({"isva_referrals", "nrm_referrals", "marac_referrals",
                               "marac_repeat", "da_repeat_victims", "exploitation_rereferrals"})
PROTECTED_NOTE = ("Monthly figures of this measure are shown for the whole partnership only, "
                  "to protect victims.")


def is_sensitive(kpi: Kpi, sensitive_categories: Iterable[str] = ()) -> bool:
    """Whether the one disclosure rule (:mod:`kpis.disclosure`) covers this KPI's figures below
    partnership level: a sensitive category or flag, or a return that counts such victims."""
    if kpi.data == "return":
        return kpi.id in SENSITIVE_RETURNS
    if kpi.measure is None:
        return False
    return kpi.is_sensitive(sensitive_categories) or kpi.measure.flag in SENSITIVE_FLAG_NAMES


@dataclass(frozen=True)
class ProtectedFigure:
    """What a KPI shows below partnership level instead of its monthly series: the figure for
    a period the disclosure rule allows (or :data:`kpis.disclosure.WITHHELD`)."""

    text: str  # e.g. "105" or "withheld"
    period: str  # e.g. "2025/26" or "Sep 2026"
    withheld: bool


def protected_figure(value: float | None, unit: str, period: str, withheld: bool) -> ProtectedFigure:
    """The figure a protected KPI shows: the value in its unit, or the one withheld label."""
    if withheld:
        return ProtectedFigure(disclosure.WITHHELD, period, True)
    return ProtectedFigure(format_value(math.nan if value is None else value, unit), period, False)


def protected_summary(kpi: Kpi, area_code: str, figure: ProtectedFigure) -> KpiSummary:
    """A summary with no monthly series, SPC, target or exception: only ``figure``. Nothing
    derived from the withheld series (icons, rank, sparkline) survives, so neither the card,
    its place on the board nor the exception list can give it away."""
    return KpiSummary(
        kpi=kpi, area_code=area_code, has_data=figure.text != format_value(math.nan, kpi.unit),
        latest_period=None, latest_value=math.nan, sparkline=(), spc=None, target=math.nan,
        baseline=math.nan, rag="none", exception_rank=RANK_PROTECTED,
        exception_reason="monthly figures shown for the whole partnership only",
        series=empty_series(), protected=figure,
    )


def return_area_tree(kpi: Kpi, values: pd.DataFrame, *, partnership_code: str,
                     lcsp_codes: Sequence[str]) -> pd.DataFrame | None:
    """The area tree (see :meth:`kpis.disclosure.DisclosureRule.protect_tree`) of one period's
    partner-return values: the partnership (always shown) and every LCSP as its children.

    ``values``: kpi_values rows of that period (area_code, value, numerator). The count is the
    numerator, or the value of a count KPI; an LCSP with no return counts 0. None when the counts
    are not known (a percentage supplied without its numerator): then nothing below
    partnership level can be shown.
    """
    def count_of(rows: pd.DataFrame) -> float | None:
        if rows.empty:
            return 0.0
        numerator = pd.to_numeric(rows["numerator"], errors="coerce").iloc[-1]
        if pd.notna(numerator):
            return float(numerator)
        value = pd.to_numeric(rows["value"], errors="coerce").iloc[-1]
        if kpi.unit == "count" and pd.notna(value):
            return float(value)
        return None if pd.notna(value) else 0.0

    counts = {code: count_of(values[values["area_code"] == code]) for code in lcsp_codes}
    if any(n is None for n in counts.values()):
        return None
    parent = count_of(values[values["area_code"] == partnership_code])
    rows = [{"area_code": partnership_code, "level": "partnership", "parent_code": None,
             "lcsp_code": None, "n": parent if parent is not None else sum(counts.values())}]
    rows += [{"area_code": code, "level": "lcsp", "parent_code": partnership_code,
              "lcsp_code": code, "n": n} for code, n in counts.items()]
    tree = pd.DataFrame(rows)
    tree["n"] = tree["n"].round().astype("int64")
    return tree


# --- periods ------------------------------------------------------------------------------------

def month_starts(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """First days of the months from ``start``'s month to ``end``'s month inclusive."""
    return pd.date_range(pd.Timestamp(start).to_period("M").start_time,
                         pd.Timestamp(end).to_period("M").start_time, freq="MS")


def quarter_start(when: pd.Series) -> pd.Series:
    """First day of the financial quarter (April, July, October, January) of each date."""
    when = pd.to_datetime(when)
    month = ((when.dt.month - 1) // 3) * 3 + 1
    return pd.to_datetime(pd.DataFrame({"year": when.dt.year, "month": month, "day": 1}))


def fy_start_of(when: pd.Series) -> pd.Series:
    """Start year of the financial year of each date."""
    when = pd.to_datetime(when)
    return (when.dt.year - (when.dt.month < 4).astype(int)).astype("int64")


# --- series frames --------------------------------------------------------------------------------

def incident_series(
    kpi: Kpi,
    counts: pd.DataFrame,
    populations: pd.DataFrame | None,
    *,
    areas: Sequence[str],
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """Series for an incidents KPI from monthly counts.

    ``counts``: kpi_id, area_code, month_start, n (months with no row count as zero);
    ``populations``: area_code, fy_start, population (needed for rates). Quarterly KPIs sum months.
    """
    months = month_starts(start, end)
    own = counts[counts["kpi_id"] == kpi.id] if len(counts) else counts
    grid = pd.MultiIndex.from_product([list(areas), months], names=["area_code", "period_start"])
    n = pd.Series(0.0, index=grid)
    if len(own):
        got = own.assign(period_start=pd.to_datetime(own["month_start"])).groupby(
            ["area_code", "period_start"])["n"].sum().astype("float64")
        got = got[got.index.isin(grid)]
        n.loc[got.index] = got
    frame = n.rename("numerator").reset_index()
    if kpi.frequency == "quarterly":
        frame["period_start"] = quarter_start(frame["period_start"])
        frame = frame.groupby(["area_code", "period_start"], as_index=False)["numerator"].sum()
    frame["kpi_id"] = kpi.id
    if kpi.denominator == "population":
        pop = _population_for(frame, populations)
        frame["denominator"] = pop
        frame["value"] = safe_ratio(frame["numerator"], frame["denominator"], kpi.scale)
    else:
        frame["denominator"] = np.nan
        frame["value"] = frame["numerator"]
    frame["target"] = np.nan
    frame["baseline"] = np.nan
    return frame[SERIES_COLUMNS]


def _population_for(frame: pd.DataFrame, populations: pd.DataFrame | None) -> pd.Series:
    if populations is None or populations.empty:
        return pd.Series(np.nan, index=frame.index)
    fy = fy_start_of(frame["period_start"])
    pop = populations.set_index(["area_code", "fy_start"])["population"].astype("float64")
    pop = pop[~pop.index.duplicated()]
    keys = pd.MultiIndex.from_arrays([frame["area_code"], fy])
    out = pop.reindex(keys).to_numpy()
    # A year with no membership row (beyond the last loaded year) uses the area's latest figure.
    latest = populations.sort_values("fy_start").groupby("area_code")["population"].last()
    fallback = frame["area_code"].map(latest).to_numpy(dtype="float64")
    return pd.Series(np.where(np.isnan(out), fallback, out), index=frame.index)


def return_series(kpi: Kpi, values: pd.DataFrame) -> pd.DataFrame:
    """Series for a partner-supplied KPI from ``kpi_values`` rows (value, or numerator/denominator)."""
    own = values[values["kpi_id"] == kpi.id].copy() if len(values) else pd.DataFrame()
    if own.empty:
        return empty_series()
    for col in ("value", "numerator", "denominator", "target", "baseline"):
        if col not in own:
            own[col] = np.nan
        own[col] = pd.to_numeric(own[col], errors="coerce").astype("float64")
    computed = safe_ratio(own["numerator"], own["denominator"], kpi.scale)
    own["value"] = own["value"].where(own["value"].notna(), computed)
    own["period_start"] = pd.to_datetime(own["period_start"])
    return own[SERIES_COLUMNS].sort_values(["area_code", "period_start"]).reset_index(drop=True)


def actions_share(actions: pd.DataFrame) -> tuple[float, int, int]:
    """(percentage complete or on track, that count, all actions); NaN when there are none."""
    if actions is None or actions.empty:
        return math.nan, 0, 0
    good = int(actions["status"].isin(ON_TRACK_STATUSES).sum())
    total = len(actions)
    return safe_ratio(good, total, 100.0), good, total


def actions_series(kpi: Kpi, actions: pd.DataFrame, *, area_code: str, as_at: dt.date) -> pd.DataFrame:
    """Series for an actions KPI: the current share of the board's actions complete or on track.

    The actions table holds current statuses only, so this is one point (the month of ``as_at``);
    a partner who keeps the history supplies it as ``kpi_values`` rows instead.
    """
    value, good, total = actions_share(actions)
    if total == 0:
        return empty_series()
    return pd.DataFrame([{
        "kpi_id": kpi.id, "area_code": area_code,
        "period_start": pd.Timestamp(as_at).to_period("M").start_time,
        "value": value, "numerator": float(good), "denominator": float(total),
        "target": np.nan, "baseline": np.nan,
    }])[SERIES_COLUMNS]


def apply_targets(kpi: Kpi, series: pd.DataFrame) -> pd.DataFrame:
    """Fill missing target/baseline from the KPI's rule, area by area (supplied values win)."""
    if series.empty or kpi.target is None:
        return series
    parts = []
    for _, part in series.groupby("area_code", sort=False):
        part = part.sort_values("period_start").copy()
        target, baseline = change.resolve_target(kpi.target, part["period_start"], part["value"])
        part["target"] = part["target"].fillna(target)
        part["baseline"] = part["baseline"].fillna(baseline)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def history_start(end: dt.date, months: int = 36) -> dt.date:
    """First month of an SPC window of ``months`` months ending with ``end``'s month."""
    return (pd.Timestamp(end).to_period("M") - (months - 1)).start_time.date()


def fetch_start(registry: Registry, start: dt.date) -> dt.date:
    """Earliest month to read: the window start or the earliest baseline year a target needs."""
    earliest = pd.Timestamp(start)
    for k in registry.kpis:
        if k.target is not None and k.target.rule == "change_from_baseline":
            earliest = min(earliest, pd.Timestamp(parse_fy(k.target.baseline_fy), 4, 1))
    return earliest.date()


def _baseline_start(kpi: Kpi) -> int | None:
    if kpi.target is None or kpi.target.rule != "change_from_baseline":
        return None
    return parse_fy(kpi.target.baseline_fy)


def _incident_block(
    kpis: Sequence[Kpi], counts: pd.DataFrame, populations: pd.DataFrame | None,
    areas: Sequence[str], read_from: dt.date, end: dt.date,
) -> pd.DataFrame:
    """Monthly series of many incidents KPIs at once, targets applied (numpy, not per-KPI pandas).

    Same answers as :func:`incident_series` then :func:`apply_targets` for each monthly KPI; the
    page calls this on every rerun, so it avoids building and concatenating a frame per KPI.
    """
    months = month_starts(read_from, end)
    n_k, n_a, n_m = len(kpis), len(areas), len(months)
    if n_k == 0 or n_a == 0 or n_m == 0:
        return empty_series()
    num = np.zeros((n_k, n_a, n_m))
    if len(counts):
        ki = pd.Index([k.id for k in kpis]).get_indexer(counts["kpi_id"])
        ai = pd.Index(list(areas)).get_indexer(counts["area_code"])
        mi = months.get_indexer(pd.to_datetime(counts["month_start"]))
        ok = (ki >= 0) & (ai >= 0) & (mi >= 0)
        np.add.at(num, (ki[ok], ai[ok], mi[ok]), counts["n"].to_numpy(dtype="float64")[ok])
    fy = months.year.to_numpy() - (months.month.to_numpy() < 4)
    den = np.full((n_a, n_m), np.nan)
    if populations is not None and len(populations):
        grid = pd.DataFrame({"area_code": np.repeat(list(areas), n_m), "period_start": np.tile(months, n_a)})
        den = _population_for(grid, populations).to_numpy(dtype="float64").reshape(n_a, n_m)
    value = num.copy()
    denominator = np.full((n_k, n_a, n_m), np.nan)
    target = np.full((n_k, n_a), np.nan)
    baseline = np.full((n_k, n_a), np.nan)
    for k, kpi in enumerate(kpis):
        if kpi.denominator == "population":
            denominator[k] = den
            ok = np.isfinite(den) & (den != 0)
            value[k] = np.where(ok, num[k] * kpi.scale / np.where(ok, den, 1.0), np.nan)
        if kpi.target is None:
            continue
        if kpi.target.rule == "absolute":
            target[k] = kpi.target.value
            continue
        in_base = fy == _baseline_start(kpi)
        if in_base.any():
            chosen = value[k][:, in_base]
            have = np.isfinite(chosen).sum(axis=1)
            sums = np.nansum(chosen, axis=1)
            baseline[k] = np.where(have > 0, sums / np.maximum(have, 1), np.nan)
            target[k] = baseline[k] * (1.0 + kpi.target.change)
    return pd.DataFrame({
        "kpi_id": np.repeat([k.id for k in kpis], n_a * n_m),
        "area_code": np.tile(np.repeat(list(areas), n_m), n_k),
        "period_start": np.tile(months.to_numpy(), n_k * n_a),
        "value": value.ravel(), "numerator": num.ravel(), "denominator": denominator.ravel(),
        "target": np.repeat(target.ravel(), n_m), "baseline": np.repeat(baseline.ravel(), n_m),
    })


def _return_block(kpis: Sequence[Kpi], values: pd.DataFrame, areas: Sequence[str]) -> pd.DataFrame:
    """Partner-return series of many KPIs at once, targets applied (see :func:`return_series`)."""
    if not kpis or values is None or values.empty:
        return empty_series()
    by_id = {k.id: k for k in kpis}
    own = values[values["kpi_id"].isin(list(by_id)) & values["area_code"].isin(list(areas))]
    if own.empty:
        return empty_series()
    own = own.copy()
    for col in ("value", "numerator", "denominator", "target", "baseline"):
        if col not in own:
            own[col] = np.nan
        own[col] = pd.to_numeric(own[col], errors="coerce").astype("float64")
    own["period_start"] = pd.to_datetime(own["period_start"])
    scale = own["kpi_id"].map({k: v.scale for k, v in by_id.items()}).to_numpy(dtype="float64")
    computed = safe_ratio(own["numerator"].to_numpy(), own["denominator"].to_numpy())
    own["value"] = own["value"].where(own["value"].notna(), pd.Series(computed * scale, index=own.index))
    rule_target = own["kpi_id"].map({k: (v.target.value if v.target and v.target.rule == "absolute" else np.nan)
                                     for k, v in by_id.items()}).astype("float64")
    base_year = own["kpi_id"].map({k: _baseline_start(v) for k, v in by_id.items()}).astype("float64")
    change_by = own["kpi_id"].map({k: (v.target.change if v.target and v.target.rule == "change_from_baseline"
                                      else np.nan) for k, v in by_id.items()}).astype("float64")
    in_base = (fy_start_of(own["period_start"]).to_numpy() == base_year.to_numpy())
    base_mean = own["value"].where(in_base).groupby([own["kpi_id"], own["area_code"]]).transform("mean")
    computed_target = rule_target.where(rule_target.notna(), base_mean * (1.0 + change_by))
    own["target"] = own["target"].fillna(computed_target)
    own["baseline"] = own["baseline"].fillna(base_mean.where(change_by.notna()))
    return own[SERIES_COLUMNS].sort_values(["kpi_id", "area_code", "period_start"]).reset_index(drop=True)


def assemble_series(
    registry: Registry,
    *,
    level: str,
    area_codes: Sequence[str],
    counts: pd.DataFrame,
    populations: pd.DataFrame | None,
    values: pd.DataFrame,
    actions: pd.DataFrame | None,
    start: dt.date,
    end: dt.date,
    read_from: dt.date | None = None,
    as_at: dt.date | None = None,
) -> pd.DataFrame:
    """Series frames of every registry KPI reported at ``level``, targets applied, cut to [start, end].

    ``counts``/``populations``: from the board queries for ``area_codes`` (read from ``read_from``,
    which reaches back to baseline years); ``values``: kpi_values rows; ``actions``: the actions
    table (actions KPIs are partnership-level). Targets come from supplied values first, else from
    the KPI's rule computed on the area's own series.
    """
    read_from = read_from or start
    lo, hi = pd.Timestamp(start).to_period("M").start_time, pd.Timestamp(end)
    reported = [k for k in registry.kpis if k.exists_for(level)]
    supplied = set(values["kpi_id"]) if len(values) else set()
    monthly_incidents = [k for k in reported if k.data == "incidents" and k.frequency == "monthly"]
    returns = [k for k in reported if k.data == "return" or (k.data == "actions" and k.id in supplied)]
    parts = [
        _incident_block(monthly_incidents, counts, populations, area_codes, read_from, end),
        _return_block(returns, values, area_codes),
    ]
    action_boards = None
    if actions is not None and len(actions):
        action_boards = actions["board"].map(registry.board_id_for)
    for kpi in reported:
        if kpi.data == "incidents" and kpi.frequency != "monthly":
            parts.append(apply_targets(kpi, incident_series(
                kpi, counts, populations, areas=area_codes, start=read_from, end=end)))
        elif (kpi.data == "actions" and kpi.id not in supplied and level == "partnership"
              and actions is not None and area_codes):
            board_actions = actions[action_boards == kpi.board] if action_boards is not None else actions
            parts.append(apply_targets(kpi, actions_series(
                kpi, board_actions, area_code=area_codes[0], as_at=as_at or end)))
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_series()
    series = pd.concat(parts, ignore_index=True)
    when = pd.to_datetime(series["period_start"])
    return series[(when >= lo) & (when <= hi)].reset_index(drop=True)


# --- one KPI ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KpiSummary:
    """What a KPI card, a meeting slide and the pack need for one KPI in one area."""

    kpi: Kpi
    area_code: str
    has_data: bool
    latest_period: pd.Timestamp | None
    latest_value: float
    sparkline: tuple[float, ...]
    spc: spc.SpcResult | None
    target: float
    baseline: float
    rag: str  # green | amber | red | none
    exception_rank: int
    exception_reason: str
    series: pd.DataFrame = field(repr=False, compare=False, default_factory=empty_series)
    # Set below partnership level for a sensitive KPI: the monthly series is withheld and this
    # figure is shown instead (see protected_summary).
    protected: ProtectedFigure | None = None

    @property
    def is_protected(self) -> bool:
        """True when the monthly series is withheld (disclosure rule) and only a figure shows."""
        return self.protected is not None

    @property
    def variation(self) -> spc.Icon:
        """MDC variation icon (too few points when there is no chart)."""
        return self.spc.variation if self.spc else spc.VARIATION_ICONS["too_few_points"]

    @property
    def assurance(self) -> spc.Icon:
        """MDC assurance icon."""
        if self.spc:
            return self.spc.assurance
        return spc.ASSURANCE_ICONS["no_target" if not math.isfinite(self.target) else "too_few_points"]

    @property
    def is_exception(self) -> bool:
        """Special-cause concerning or off target."""
        return self.exception_rank in EXCEPTION_RANKS

    @property
    def vs_target(self) -> str:
        """Plain words: "12.3 worse than target 11.0", "on target (target 95)" or "no target"."""
        if not (math.isfinite(self.target) and math.isfinite(self.latest_value)):
            return "no target"
        gap = self.latest_value - self.target
        if not self.kpi.higher_is_better:
            gap = -gap
        tgt = format_value(self.target, self.kpi.unit)
        if gap >= 0:
            return f"meets target {tgt}"
        if self.kpi.unit == "percentage":
            return f"{abs(gap):.1f} points worse than target {tgt}"
        return f"{format_value(abs(gap), self.kpi.unit)} worse than target {tgt}"


def format_value(value: float, unit: str) -> str:
    """A value in its unit for cards and tables ("12.3 per 1,000", "87.5%", "£1,200", "1,234")."""
    if value is None or not math.isfinite(float(value)):
        return "no data"
    value = float(value)
    if unit == "rate_per_1000":
        # monthly rates in small areas are well below 1: keep three significant-ish figures
        return f"{value:,.{3 if abs(value) < 1 else 2}f} per 1,000"
    if unit == "percentage":
        return f"{value:.1f}%"
    if unit == "gbp":
        return f"£{value:,.0f}"
    if unit == "days":
        return f"{value:,.1f} days"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def exception_rank(variation: spc.Icon, assurance: spc.Icon, rag: str, has_data: bool) -> tuple[int, str]:
    """(rank, reason): special-cause concerning and off target first (see the RANK_* constants)."""
    if not has_data:
        return RANK_NO_DATA, "no data for the period"
    concerning = variation.code.startswith("concerning")
    # Red (beyond the tolerance) or consistently missed is off target; amber is near it, which a
    # board notes but does not treat as an exception.
    off = rag == "red" or assurance.code == "missed"
    if concerning and off:
        return RANK_CONCERNING_OFF_TARGET, "special cause concerning and off target"
    if concerning:
        return RANK_CONCERNING, "special cause concerning"
    if assurance.code == "missed":
        return RANK_MISSING_TARGET, "target consistently missed"
    if off:
        return RANK_OFF_TARGET, "latest value off target"
    if variation.code.startswith("improving"):
        return RANK_IMPROVING, "special cause improving"
    if rag == "amber":
        return RANK_NEAR_TARGET, "latest value just short of target"
    if assurance.code == "hit_and_miss":
        return RANK_HIT_AND_MISS, "target hit and miss"
    if variation.code == "too_few_points":
        return RANK_TOO_FEW_POINTS, "too few points to judge"
    return RANK_COMMON, "common cause variation"


def summarise_kpi(
    kpi: Kpi,
    series: pd.DataFrame,
    *,
    area_code: str,
    baseline: int | tuple | None = None,
    rebase_at: Iterable = (),
    sparkline_points: int = SPARKLINE_POINTS,
    rag_tolerance: float = 0.05,
) -> KpiSummary:
    """Summary of one KPI in one area: SPC on the whole series, the latest point against target."""
    own = series[(series["kpi_id"] == kpi.id) & (series["area_code"] == area_code)] if len(series) else series
    return _summarise_own(kpi, own, area_code, baseline, rebase_at, sparkline_points, rag_tolerance)


def summarise_all(
    kpis: Iterable[Kpi], series: pd.DataFrame, *, area_code: str, **options
) -> list[KpiSummary]:
    """:func:`summarise_kpi` for many KPIs, splitting ``series`` once rather than once per KPI."""
    own = series[series["area_code"] == area_code] if len(series) else series
    ids = own["kpi_id"].to_numpy() if len(own) else np.array([], dtype=object)
    # The assembled series holds each KPI's rows together: slice runs rather than take rows.
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    runs = list(zip(np.r_[0, cut], np.r_[cut, len(ids)])) if len(ids) else []
    spans = {ids[a]: slice(int(a), int(b)) for a, b in runs}
    if len(spans) != len(runs):  # not contiguous after all
        spans = {key: rows for key, rows in own.groupby("kpi_id", sort=False).indices.items()}
    out = []
    for kpi in kpis:
        rows = spans.get(kpi.id)
        part = own.iloc[rows] if rows is not None else empty_series()
        out.append(_summarise_own(kpi, part, area_code, options.get("baseline"),
                                  options.get("rebase_at", ()),
                                  options.get("sparkline_points", SPARKLINE_POINTS),
                                  options.get("rag_tolerance", 0.05)))
    return out


def _summarise_own(
    kpi: Kpi, own: pd.DataFrame, area_code: str, baseline, rebase_at, sparkline_points: int,
    rag_tolerance: float,
) -> KpiSummary:
    if not len(own):
        own = empty_series()
    elif not own["period_start"].is_monotonic_increasing:
        own = own.sort_values("period_start").reset_index(drop=True)
    else:
        own = own.reset_index(drop=True)
    values = own["value"].to_numpy(dtype="float64")
    valid = np.flatnonzero(np.isfinite(values))
    if len(valid) == 0:
        rank, reason = exception_rank(spc.VARIATION_ICONS["too_few_points"],
                                      spc.ASSURANCE_ICONS["no_target"], "none", False)
        return KpiSummary(kpi, area_code, False, None, math.nan, (), None, math.nan, math.nan,
                          "none", rank, reason, own)
    last = valid[-1]
    target = float(own["target"].iloc[last])
    base = float(own["baseline"].iloc[last])
    latest = float(values[last])
    chart = spc.compute_spc(
        values, own["period_start"], higher_is_better=kpi.higher_is_better,
        target=target if math.isfinite(target) else None, baseline=baseline, rebase_at=rebase_at,
    )
    rag = change.rag_status(latest, target, higher_is_better=kpi.higher_is_better,
                            tolerance=rag_tolerance)
    rank, reason = exception_rank(chart.variation, chart.assurance, rag, True)
    return KpiSummary(
        kpi=kpi, area_code=area_code, has_data=True,
        latest_period=pd.Timestamp(own["period_start"].iloc[last]), latest_value=latest,
        sparkline=tuple(float(v) for v in values[-sparkline_points:]),
        spc=chart, target=target, baseline=base, rag=rag, exception_rank=rank,
        exception_reason=reason, series=own,
    )


# --- boards ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardRow:
    """One board on the overview: its KPI summaries, exceptions first."""

    board_id: str
    label: str
    summaries: tuple[KpiSummary, ...]

    @property
    def exceptions(self) -> tuple[KpiSummary, ...]:
        """KPIs that are special-cause concerning or off target."""
        return tuple(s for s in self.summaries if s.is_exception)

    @property
    def counts(self) -> dict[str, int]:
        """Numbers of KPIs concerning, off target, improving and without data."""
        return {
            "kpis": len(self.summaries),
            "concerning": sum(s.variation.code.startswith("concerning") for s in self.summaries),
            "off_target": sum(s.rag == "red" or s.assurance.code == "missed"
                              for s in self.summaries),
            "improving": sum(s.variation.code.startswith("improving") for s in self.summaries),
            "no_data": sum(not s.has_data for s in self.summaries),
        }


def order_summaries(summaries: Iterable[KpiSummary], registry: Registry) -> list[KpiSummary]:
    """Exceptions first (by rank), then registry order."""
    position = {k.id: i for i, k in enumerate(registry.kpis)}
    return sorted(summaries, key=lambda s: (s.exception_rank, position.get(s.kpi.id, 10**6)))


def board_overview(registry: Registry, summaries: Iterable[KpiSummary]) -> list[BoardRow]:
    """One row per board in registry order, each with its KPI summaries exceptions-first."""
    by_board: dict[str, list[KpiSummary]] = {b.id: [] for b in registry.boards}
    for s in summaries:
        by_board.setdefault(s.kpi.board, []).append(s)
    return [
        BoardRow(b.id, b.label, tuple(order_summaries(by_board.get(b.id, []), registry)))
        for b in registry.boards
    ]


def exception_table(rows: Iterable[BoardRow]) -> pd.DataFrame:
    """Every exception across boards, most urgent first: the pack's and meeting mode's agenda.

    Columns: board, kpi_id, kpi, latest_period, latest, vs_target, variation, assurance, reason, rank.
    """
    records = []
    for row in rows:
        for s in row.exceptions:
            records.append({
                "board": row.label, "kpi_id": s.kpi.id, "kpi": s.kpi.label,
                "latest_period": s.latest_period, "latest": format_value(s.latest_value, s.kpi.unit),
                "vs_target": s.vs_target, "variation": s.variation.text,
                "assurance": s.assurance.text, "reason": s.exception_reason, "rank": s.exception_rank,
            })
    frame = pd.DataFrame(records, columns=["board", "kpi_id", "kpi", "latest_period", "latest",
                                           "vs_target", "variation", "assurance", "reason", "rank"])
    return frame.sort_values("rank", kind="stable").reset_index(drop=True)


def summary_table(summaries: Iterable[KpiSummary]) -> pd.DataFrame:
    """The KPI cards as a table (the accessible twin of the cards, and the CSV download)."""
    records = []
    for s in summaries:
        if s.protected is not None:
            records.append({
                "kpi_id": s.kpi.id, "kpi": s.kpi.label, "unit": s.kpi.unit,
                "latest_period": None, "latest_value": None,
                "latest": f"{s.protected.text} ({s.protected.period})", "target": None,
                "vs_target": "", "variation": "", "assurance": "", "rag": "",
                "exception": s.exception_reason,
            })
            continue
        records.append({
            "kpi_id": s.kpi.id, "kpi": s.kpi.label, "unit": s.kpi.unit,
            "latest_period": s.latest_period, "latest_value": s.latest_value,
            "latest": format_value(s.latest_value, s.kpi.unit),
            "target": s.target, "vs_target": s.vs_target,
            "variation": s.variation.label, "assurance": s.assurance.label,
            "rag": change.RAG_LABELS[s.rag], "exception": s.exception_reason,
        })
    return pd.DataFrame(records, columns=[
        "kpi_id", "kpi", "unit", "latest_period", "latest_value", "latest", "target", "vs_target",
        "variation", "assurance", "rag", "exception",
    ])


# --- LCSP and ward comparisons ----------------------------------------------------------------------

def area_comparison(
    frame: pd.DataFrame, *, per: float = 1000.0, alpha: float = change.ALPHA,
    reference: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Areas against the city: rate per 1,000 with exact Poisson CIs and an exact test vs the rest.

    ``frame``: area_code, area_name, n (count in the period), population; optional n_previous and
    population_previous (the same period a year earlier) add a change-over-time test, and an
    optional dispersion column (phi >= 1) makes that test quasi-Poisson. Each area is
    compared with the *rest* of the city (so the two counts are independent), not with a city
    total that contains it. Adds: rate, rate_low, rate_high, city_rate, vs_city ("higher",
    "lower", "similar"), vs_city_p, and when previous counts are given change_label, change_p.
    Sorted by rate, highest first.
    """
    out = frame.copy()
    n = pd.to_numeric(out["n"], errors="coerce").astype("float64").fillna(0.0)
    pop = pd.to_numeric(out["population"], errors="coerce").astype("float64")
    low, high = change.poisson_ci_arrays(n.to_numpy(), alpha)
    out["rate"] = safe_ratio(n, pop, per)
    out["rate_low"] = safe_ratio(pd.Series(low, index=out.index), pop, per)
    out["rate_high"] = safe_ratio(pd.Series(high, index=out.index), pop, per)
    if reference is not None:
        total_n, total_pop = float(reference[0]), float(reference[1])
    else:
        total_n, total_pop = float(n.sum()), float(pop[pop > 0].sum()) if pop.notna().any() else math.nan
    out["city_rate"] = safe_ratio(total_n, total_pop, per)
    verdicts, ps = [], []
    for area_n, area_pop in zip(n, pop):
        rest_n, rest_pop = total_n - area_n, total_pop - area_pop
        result = change.compare_counts(rest_n, area_n, rest_pop, area_pop, alpha=alpha)
        verdicts.append({"up": "higher", "down": "lower"}.get(result.direction, "similar")
                        if math.isfinite(result.p_value) else "not tested")
        ps.append(result.p_value)
    out["vs_city"] = verdicts
    out["vs_city_p"] = ps
    if "n_previous" in out:
        prev_pop = out["population_previous"] if "population_previous" in out else pop
        # Over time counts vary more than Poisson (weather, events, operations): an optional
        # per-area dispersion (change.estimate_dispersion of its monthly counts) widens the test.
        phis = out["dispersion"] if "dispersion" in out else pd.Series(1.0, index=out.index)
        results = [change.compare_counts(a, b, ea, eb, alpha=alpha, dispersion=phi)
                   for a, b, ea, eb, phi in zip(out["n_previous"], n, prev_pop, pop, phis)]
        out["change_label"] = [r.label for r in results]
        out["change_p"] = [r.p_value for r in results]
    return out.sort_values(["rate", "area_name"], ascending=[False, True],
                           na_position="last").reset_index(drop=True)


# --- actions ------------------------------------------------------------------------------------------

def action_summary(actions: pd.DataFrame, *, as_at: dt.date) -> pd.DataFrame:
    """The board's actions with overdue flagged against ``as_at``, overdue first then by due date.

    Adds: status_label, overdue (due before ``as_at`` and not complete), days_overdue, flag
    (a text marker, so the flag is not carried by colour alone).
    """
    out = actions.copy()
    if out.empty:
        for col, dtype in (("status_label", object), ("overdue", bool), ("days_overdue", "Int64"),
                           ("flag", object)):
            out[col] = pd.Series(dtype=dtype)
        return out
    due = pd.to_datetime(out["due_date"])
    as_at_ts = pd.Timestamp(as_at)
    out["status_label"] = out["status"].map(STATUS_LABELS).fillna(out["status"].astype(str))
    out["overdue"] = (due < as_at_ts) & ~out["status"].isin(COMPLETE_STATUSES)
    out["overdue"] = out["overdue"].fillna(False).astype(bool)
    out["days_overdue"] = ((as_at_ts - due).dt.days.where(out["overdue"])).astype("Int64")
    out["flag"] = np.where(out["overdue"], "OVERDUE", "")
    return out.sort_values(["overdue", "due_date"], ascending=[False, True],
                           na_position="last", kind="stable").reset_index(drop=True)


def action_counts(actions: pd.DataFrame, *, as_at: dt.date) -> dict[str, int]:
    """Numbers of actions by status, plus overdue and total."""
    summary = action_summary(actions, as_at=as_at)
    counts = {status: int((summary["status"] == status).sum()) if len(summary) else 0
              for status in STATUS_LABELS}
    counts["overdue"] = int(summary["overdue"].sum()) if len(summary) else 0
    counts["total"] = len(summary)
    return counts
