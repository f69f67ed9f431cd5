"""What is wrong with the loaded data, for the Data status page and as warnings on other pages.

- months a source published short (``source_months``: police.uk flags some months incomplete);
- gaps: months with no rows between a source's first and last month, and months of the chosen
  period outside what a source covers;
- series breaks: a change of LSOA boundaries (police.uk moved from 2011 to 2021 LSOA codes)
  shows as codes in steady use that stop at one month while new codes start, so LSOA figures on
  either side are not like for like (:func:`find_series_breaks`).

A page that draws figures from some sources calls :func:`render_data_warnings` with those
sources and its period; it shows one ``st.warning`` listing what affects that view, or nothing.
The detection is pure (frames in, frames out) so it is tested without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import streamlit as st

from data_access import connection, queries
from kpis.periods import Period
from kpis.text_safety import plain
from pages.common import ui

SOURCE_LABELS = {
    "recorded_crime": "Recorded crime (police)",
    "asb": "ASB incidents (police)",
    "police_uk": "police.uk street-level crime",
    "council_asb": "Council ASB cases",
    "calls": "Police calls for service",
}
# A code's absence on the other side of a month counts as a break only when chance would explain
# it less than 1 time in 100 among all the source's codes: with r incidents a month, k months
# without any has probability exp(-r k) under a Poisson model, so sparse codes (a few incidents
# a year) never trigger it.
BREAK_CHANCE = 0.01
MIN_BREAK_CODES = 3  # codes stopping plus codes starting (a split or a merge is at least 3)
MONTHS_SHOWN = 6


def source_label(source: str) -> str:
    """A reader's name for a source ("police_uk" -> "police.uk street-level crime")."""
    return SOURCE_LABELS.get(source, str(source).replace("_", " ").capitalize())


def month_list(months: Iterable, limit: int = MONTHS_SHOWN) -> str:
    """"Jun 2023, Jul 2023 and 3 more"; "none" when there are none."""
    months = sorted(pd.Timestamp(m) for m in months)
    if not months:
        return "none"
    shown = ", ".join(ui.fmt_month(m) for m in months[:limit])
    more = len(months) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def month_gaps(present: Iterable) -> list[pd.Timestamp]:
    """Months with no data between the first and the last month present."""
    present = {pd.Timestamp(m) for m in present}
    if not present:
        return []
    expected = pd.date_range(min(present), max(present), freq="MS")
    return [m for m in expected if m not in present]


def find_series_breaks(spans: pd.DataFrame, source_months: pd.DataFrame) -> pd.DataFrame:
    """Months where a source's LSOA codes change: columns source, month_start, ended, started.

    ``spans`` is :func:`data_access.queries.load_lsoa_spans` (per source and code: first and
    last month, incidents); ``source_months`` is :func:`~data_access.queries.load_source_months`.
    At a month M (not a source's first), *ended* codes were last seen in the source's previous
    month with data and *started* codes are first seen in M; each counts only when its absence
    on the other side is unlikely to be chance (:data:`BREAK_CHANCE`, from its monthly rate
    over the source's months on its own side).
    A break needs codes ending and codes starting, at least :data:`MIN_BREAK_CODES` in all: new
    codes alone are new coverage, codes stopping alone a shrinking area.
    """
    rows = []
    for source, codes in spans.groupby("source", sort=True):
        months = sorted(pd.Timestamp(m) for m in source_months.loc[
            (source_months["source"] == source) & (source_months["n"] > 0), "month_start"])
        if len(months) < 2:
            continue
        index = {m: i for i, m in enumerate(months)}
        first = codes["first_month"].map(lambda m: index.get(pd.Timestamp(m)))
        last = codes["last_month"].map(lambda m: index.get(pd.Timestamp(m)))
        ok = first.notna() & last.notna()
        codes, first, last = codes[ok], first[ok].astype(int), last[ok].astype(int)
        # A code's monthly rate is taken over the whole of the source on its side of the
        # month (as if it had been in use all along): a code seen once early on is then a
        # sparse code, not a steady one that stopped.
        n, last_at, first_at = codes["n"].to_numpy(), last.to_numpy(), first.to_numpy()
        months_after = len(months) - 1 - last_at
        months_before = first_at
        # Many codes are tested at once: the chance is shared among them (Bonferroni), so a
        # source of hundreds of sparse LSOAs does not throw up a few by luck.
        limit = math.log(len(codes) / BREAK_CHANCE)  # exp(-r k) < chance / codes
        steady_end = (months_after > 0) & (n / (last_at + 1) * months_after > limit)
        steady_start = (months_before > 0) & (n / (len(months) - first_at) * months_before > limit)
        ended = pd.Series(last.to_numpy()[steady_end]).value_counts()
        started = pd.Series(first.to_numpy()[steady_start]).value_counts()
        for i in range(1, len(months)):
            n_ended, n_started = int(ended.get(i - 1, 0)), int(started.get(i, 0))
            if n_ended and n_started and n_ended + n_started >= MIN_BREAK_CODES:
                rows.append({"source": source, "month_start": months[i],
                             "ended": n_ended, "started": n_started})
    return pd.DataFrame(rows, columns=["source", "month_start", "ended", "started"])


def break_text(row, lsoa_boundaries: str | None = None) -> str:
    """One sentence on a series break, for a warning."""
    previous = ui.fmt_month(row.month_start - pd.DateOffset(months=1))
    text = (f"**{plain(source_label(row.source))}**: {row.ended:,} LSOA codes in use up to "
            f"{previous} stop and {row.started:,} new codes start in "
            f"{ui.fmt_month(row.month_start)}, probably a change of LSOA boundaries (such as "
            "police.uk's move from 2011 to 2021 codes). LSOA figures either side of "
            f"{ui.fmt_month(row.month_start)} are not like for like.")
    if lsoa_boundaries:
        text += f" LSOAs loaded: {lsoa_boundaries}."
    return text


def period_problems(
    sources: Iterable[str], period: Period, source_months: pd.DataFrame,
    incomplete: pd.DataFrame, breaks: pd.DataFrame | None = None,
) -> list[str]:
    """What in ``period`` weakens figures from ``sources``: one markdown line per problem."""
    first, last = pd.Timestamp(period.start.replace(day=1)), pd.Timestamp(period.end.replace(day=1))
    lines = []
    for source in sorted(set(sources)):
        name = plain(source_label(source))  # a source name can come from a partner's file
        present = set(source_months.loc[(source_months["source"] == source)
                                        & (source_months["n"] > 0), "month_start"])
        short = [m for m in incomplete.loc[incomplete["source"] == source, "month_start"]
                 if first <= m <= last]
        if short:
            lines.append(f"**{name}**: {month_list(short)} "
                         f"{'was' if len(short) == 1 else 'were'} published incomplete at the "
                         "source, so counts for "
                         f"{'that month' if len(short) == 1 else 'those months'} are too low.")
        if not present:
            continue
        gaps = [m for m in month_gaps(present) if first <= m <= last]
        if gaps:
            lines.append(f"**{name}**: no data for {month_list(gaps)} (a gap in what is "
                         "loaded).")
        before = [m for m in pd.date_range(first, last, freq="MS") if m < min(present)]
        after = [m for m in pd.date_range(first, last, freq="MS") if m > max(present)]
        if before or after:
            covered = f"{ui.fmt_month(min(present))} to {ui.fmt_month(max(present))}"
            lines.append(f"**{name}**: loaded only for {covered}, so part of "
                         f"{period.label} has no data from it.")
        if breaks is not None:
            for row in breaks[breaks["source"] == source].itertuples():
                # A break matters when the period spans it (both sides are in view).
                if first < row.month_start <= last:
                    lines.append(break_text(row))
    return lines


def render_data_warnings(sources: list[str], period: Period, *,
                         comparison: Period | None = None, series_breaks: bool = False) -> None:
    """A warning naming incomplete months, gaps (and, with ``series_breaks``, LSOA code changes)
    of ``sources`` within ``period`` and the ``comparison`` period; nothing when the data are
    whole."""
    source_months = connection.cached(queries.load_source_months)
    incomplete = connection.cached(queries.load_incomplete_months)
    breaks = None
    if series_breaks:
        breaks = find_series_breaks(connection.cached(queries.load_lsoa_spans), source_months)
    lines = period_problems(sources, period, source_months, incomplete, breaks)
    if comparison is not None:
        lines += [f"In the comparison period ({comparison.label}), {line}"
                  for line in period_problems(sources, comparison, source_months, incomplete)]
    if lines:
        st.warning("Check the data before comparing: \n" + "\n".join(f"- {line}" for line in lines)
                   + "\n\nSee the Data status page for every source.",
                   icon=":material/report:")


def lsoa_boundary_text(boundaries: pd.DataFrame) -> str | None:
    """"659 from ONS LSOA 2021" for the LSOA level of ``load_boundary_sources``, or None."""
    rows = boundaries[boundaries["level"] == "lsoa"]
    if rows.empty:
        return None
    parts = [f"{int(r.areas):,} from {plain(r.boundary_source)}" if r.boundary_source
             else f"{int(r.areas):,} with no boundary source recorded" for r in rows.itertuples()]
    return "; ".join(parts)
