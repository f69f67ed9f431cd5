"""Headline measures and their change against the same period last year.

The Overview's cards are declared here as data (:data:`HEADLINE_MEASURES`): each names a source,
optionally some categories and optionally a flag count of the aggregate tables. The maths is pure:
it takes the small category-by-month frame the database aggregated and returns numbers.

A change between two counts is only *flagged* when it is unlikely to be chance: the exact
conditional test of two Poisson rates in :mod:`kpis.change` (3 -> 6 is not an alarm, p = 0.51;
300 -> 600 is), widened by the measure's own month-to-month overdispersion so that a 1% dip
in a city-wide total of 127,000 is not called significant just because the count is large.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from kpis import change

RECORDED_CRIME = "recorded_crime"
ASB = "asb"
SIGNIFICANCE_LEVEL = 0.05

# Home Office "violence against the person" covers homicide, violence with and without injury,
# stalking and harassment, and death or serious injury by unlawful driving.
VIOLENCE_AGAINST_THE_PERSON = (
    "homicide", "violence_with_injury", "violence_without_injury", "stalking_and_harassment",
    "death_or_serious_injury_unlawful_driving",
)


@dataclass(frozen=True)
class HeadlineMeasure:
    """One headline count: incidents of ``source`` (in ``categories``; with ``flag`` set)."""

    key: str
    label: str
    source: str
    categories: tuple[str, ...] | None = None  # None = every category of the source
    flag: str | None = None  # an aggregate flag count column, e.g. "n_domestic_abuse"
    sensitive: bool = False  # small counts are suppressed below partnership level
    help: str = ""


# Labels stay short enough for a card a quarter of a laptop screen wide; ``help`` says it in full.
HEADLINE_MEASURES: tuple[HeadlineMeasure, ...] = (
    HeadlineMeasure("total_recorded_crime", "Total recorded crime", RECORDED_CRIME,
                    help="All crimes recorded by the police."),
    HeadlineMeasure("asb_incidents", "ASB incidents", ASB,
                    help="Anti-social behaviour incidents reported to the police."),
    HeadlineMeasure("violence_against_the_person", "Violence (VAP)", RECORDED_CRIME,
                    categories=VIOLENCE_AGAINST_THE_PERSON,
                    help="Violence against the person: homicide, violence with and without "
                         "injury, stalking and harassment."),
    HeadlineMeasure("weapon_enabled", "Weapon-enabled", RECORDED_CRIME, flag="n_weapon",
                    help="Weapon-enabled offences: recorded crimes where a weapon was used or "
                         "threatened."),
    HeadlineMeasure("domestic_abuse", "Domestic abuse", RECORDED_CRIME,
                    flag="n_domestic_abuse", sensitive=True,
                    help="Recorded crimes the police flagged as domestic abuse related."),
    HeadlineMeasure("vawg", "VAWG", RECORDED_CRIME, flag="n_vawg", sensitive=True,
                    help="Recorded crimes flagged as violence against women and girls."),
    HeadlineMeasure("sexual_offences", "Sexual offences", RECORDED_CRIME,
                    categories=("sexual_offences",), sensitive=True,
                    help="Recorded rape and other sexual offences."),
    HeadlineMeasure("shoplifting", "Shoplifting", RECORDED_CRIME, categories=("shoplifting",),
                    help="Recorded shoplifting offences."),
)


@dataclass(frozen=True)
class Change:
    """A count compared with the same period last year."""

    current: int
    previous: int
    difference: int
    relative: float | None  # e.g. 0.12 for +12%; None when the previous count is 0
    p_value: float
    significant: bool

    @property
    def direction(self) -> str:
        """"up", "down" or "same"."""
        return "up" if self.difference > 0 else "down" if self.difference < 0 else "same"


def compare_counts(
    current: int, previous: int, *, alpha: float = SIGNIFICANCE_LEVEL, dispersion: float = 1.0
) -> Change:
    """Change from ``previous`` to ``current`` (equal exposures), tested by
    :func:`kpis.change.compare_counts` (exact conditional test of two Poisson rates, widened by
    the series' overdispersion ``dispersion``)."""
    current, previous = int(current), int(previous)
    if current < 0 or previous < 0:
        raise ValueError("counts cannot be negative")
    test = change.compare_counts(previous, current, alpha=alpha, dispersion=dispersion)
    return Change(
        current=current,
        previous=previous,
        difference=current - previous,
        relative=(current - previous) / previous if previous else None,
        p_value=test.p_value,
        significant=test.significant,
    )


def _selected(frame: pd.DataFrame, measure: HeadlineMeasure) -> pd.DataFrame:
    mask = frame["source"] == measure.source
    if measure.categories is not None:
        mask &= frame["category"].isin(measure.categories)
    return frame.loc[mask]


def measure_total(frame: pd.DataFrame, measure: HeadlineMeasure) -> int:
    """Total of ``measure`` in a frame of aggregate rows (columns source, category, n, n_*)."""
    if frame.empty:
        return 0
    return int(_selected(frame, measure)[measure.flag or "n"].sum())


def measure_by(frame: pd.DataFrame, measure: HeadlineMeasure, by: str | list[str]) -> pd.Series:
    """Totals of ``measure`` grouped by ``by`` (e.g. "month_start"), as a Series named "n"."""
    if frame.empty:
        return pd.Series(dtype="int64", name="n")
    grouped = _selected(frame, measure).groupby(by)[measure.flag or "n"].sum()
    return grouped.astype("int64").rename("n")


def _dispersion(current: pd.DataFrame, previous: pd.DataFrame, measure: HeadlineMeasure) -> float:
    """The measure's overdispersion, from its monthly counts in both periods."""
    if "month_start" not in current.columns:
        return 1.0
    phis = [change.estimate_dispersion(measure_by(f, measure, "month_start").sort_index().tolist())
            for f in (current, previous) if not f.empty]
    return max(phis) if phis else 1.0


def measure_dispersion(current: pd.DataFrame, previous: pd.DataFrame | None,
                       measure: HeadlineMeasure) -> float:
    """Partnership-wide overdispersion of ``measure`` (1.0 when it cannot be estimated)."""
    return _dispersion(current, previous if previous is not None else current.iloc[0:0], measure)


def area_dispersion(city_dispersion: float, area_count: float, city_count: float) -> float:
    """An area's overdispersion from the city's: extra-Poisson variance grows with the mean
    (negative binomial: phi = 1 + mean / k), so phi_area = 1 + (phi_city - 1) x area share."""
    if city_count <= 0 or city_dispersion <= 1:
        return 1.0
    return 1.0 + (city_dispersion - 1.0) * min(max(area_count / city_count, 0.0), 1.0)


def headline_table(
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    measures: Iterable[HeadlineMeasure] = HEADLINE_MEASURES,
) -> pd.DataFrame:
    """One row per measure: key, label, current, previous, difference, relative, p_value,
    significant, sensitive. ``previous`` None (no data a year earlier) leaves the change empty.
    """
    rows = []
    for measure in measures:
        now = measure_total(current, measure)
        row = {"key": measure.key, "label": measure.label, "current": now, "previous": None,
               "difference": None, "relative": None, "p_value": None, "significant": False,
               "sensitive": measure.sensitive}
        if previous is not None:
            result = compare_counts(now, measure_total(previous, measure),
                                    dispersion=_dispersion(current, previous, measure))
            row.update(previous=result.previous, difference=result.difference,
                       relative=result.relative, p_value=result.p_value,
                       significant=result.significant)
        rows.append(row)
    return pd.DataFrame(rows)


def rate_per_1000(count: float, population: float | None) -> float | None:
    """Incidents per 1,000 residents; None when the population is unknown or zero."""
    if population is None or pd.isna(population) or population <= 0:
        return None
    return 1000.0 * float(count) / float(population)
