"""Overview: the headline counts for the chosen period and area, each against the same period
last year, the monthly trend of crime and ASB, and a comparison of LCSPs (or of the wards of
the chosen LCSP) by count and rate per 1,000 residents.

A change is flagged (and coloured) only when an exact test says it is unlikely to be chance
(:mod:`kpis.headline`); sensitive figures below partnership level follow the one disclosure
rule (:mod:`kpis.disclosure`, :mod:`pages.common.protect`): small counts and anything they could be
worked out from are "withheld", the same cells as on every other page.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import queries
from data_access.connection import cached
from kpis import disclosure, headline
from kpis.headline import HEADLINE_MEASURES, HeadlineMeasure
from kpis.text_safety import plain
from pages.common import protect, shell, ui
from pages.common.data_warnings import render_data_warnings
from pages.common.shell import Filters

CARDS_PER_ROW = 4
MIN_SPARKLINE_MONTHS = 3
TREND_MEASURES = ("total_recorded_crime", "asb_incidents")
K_MEASURE = "overview_measure"
NOT_LOCATED = "Not located"
SIGNIFICANT = "Significant change"
COMPARISON_COLUMNS = ("Same period last year", "Change", "Change %", SIGNIFICANT)
MEASURES = {m.key: m for m in HEADLINE_MEASURES}


@dataclass(frozen=True)
class OverviewData:
    """What the page draws, as small aggregated frames."""

    current: pd.DataFrame  # month_start, source, category, n, n_* for the period
    previous: pd.DataFrame | None  # the same months a year earlier; None when not loaded
    areas_current: pd.DataFrame  # area_code, source, category, n, n_*
    areas_previous: pd.DataFrame | None
    membership: pd.DataFrame  # ward_code, ward_name, lcsp_code, lcsp_name, population


# --- data ---------------------------------------------------------------------------------

def load_overview(filters: Filters) -> OverviewData:
    """Ask the database for the period, the same period last year and the area breakdown."""
    area = {"lcsp": filters.lcsp, "ward": filters.ward}
    membership = cached(queries.load_ward_membership, fy_start=filters.membership_fy)
    level, wards = "lcsp", None
    if filters.lcsp:
        level = "ward"
        wards = tuple(membership.loc[membership["lcsp_code"] == filters.lcsp, "ward_code"])

    def by_area(month_from, month_to) -> pd.DataFrame:
        return cached(queries.load_area_category_totals, month_from=month_from,
                      month_to=month_to, level=level, wards=wards)

    current = cached(queries.load_category_months, month_from=filters.month_from,
                     month_to=filters.month_to, **area)
    previous = areas_previous = None
    if filters.previous is not None:
        prev_from = filters.previous.start.replace(day=1)
        prev_to = filters.previous.end.replace(day=1)
        previous = cached(queries.load_category_months, month_from=prev_from, month_to=prev_to,
                          **area)
        areas_previous = by_area(prev_from, prev_to)
    return OverviewData(current, previous, by_area(filters.month_from, filters.month_to),
                        areas_previous, membership)


# --- compute ------------------------------------------------------------------------------

def measure_key(measure: HeadlineMeasure) -> str | None:
    """The disclosure key of a sensitive measure (its flag or its one category); None if the
    measure is not sensitive."""
    if not measure.sensitive:
        return None
    if measure.flag:
        return protect.FLAG_KEYS[measure.flag]
    (category,) = measure.categories
    return protect.category_key(measure.source, category)


def _area_of(filters: Filters) -> tuple[str, str]:
    """(code, level) of the chosen area."""
    return (filters.ward, "ward") if filters.ward else (filters.lcsp, "lcsp")


def compute_cards(data: OverviewData, filters: Filters) -> pd.DataFrame:
    """Headline rows (see :func:`kpis.headline.headline_table`) plus ``withheld`` (the count is
    withheld) and ``suppressed`` (the count or its comparison is withheld), by the one rule."""
    table = headline.headline_table(data.current, data.previous)
    if filters.below_partnership:
        # Rule 4: figures adding categories up leave the sensitive ones out below partnership.
        code, level = _area_of(filters)
        unmixed = headline.headline_table(
            protect.unmixed(data.current, lcsp=filters.lcsp, level=level),
            protect.unmixed(data.previous, lcsp=filters.lcsp, level=level))
        ordinary = ~table["sensitive"].to_numpy()
        table.loc[ordinary] = unmixed.loc[ordinary].to_numpy()
    withheld, withheld_before, suppressed = [], [], []  # the count, last year's, either
    for row in table.itertuples():
        key = measure_key(MEASURES[row.key])
        now = before = False
        if key is not None and filters.below_partnership:
            code, level = _area_of(filters)
            now = protect.is_withheld(key, filters.period, area_code=code, level=level,
                                      lcsp=filters.lcsp)
            before = filters.previous is not None and protect.is_withheld(
                key, filters.previous, area_code=code, level=level, lcsp=filters.lcsp)
        withheld.append(now)
        withheld_before.append(before)
        suppressed.append(now or before)
    table["withheld"] = withheld
    table["previous_withheld"] = withheld_before
    table["suppressed"] = suppressed
    return table


def compute_area_table(
    data: OverviewData, measure: HeadlineMeasure, filters: Filters, lcsp_names: dict[str, str]
) -> pd.DataFrame:
    """One row per LCSP (or ward of the chosen LCSP): count, rate per 1,000 residents, last
    year's count, change and whether it is significant; small sensitive counts suppressed."""
    members = data.membership
    if filters.lcsp:
        members = members[members["lcsp_code"] == filters.lcsp]
        names = dict(zip(members["ward_code"], members["ward_name"]))
        population = dict(zip(members["ward_code"], members["population"]))
    else:
        names = dict(lcsp_names)
        # An LCSP's residents: the sum of its wards in the grouping in force (BRIEF).
        population = members.groupby("lcsp_code")["population"].sum(min_count=1).to_dict()

    def lcsp_of(code: str) -> str | None:
        return filters.lcsp if filters.lcsp else code

    def totals(frame: pd.DataFrame | None) -> pd.Series:
        if frame is None:
            return pd.Series(dtype="int64")
        if not measure.sensitive:  # every row is below partnership level: rule 4
            frame = protect.unmixed(frame, area_column="area_code", lcsp_of=lcsp_of)
        return headline.measure_by(frame, measure, "area_code")

    now, before = totals(data.areas_current), totals(data.areas_previous)
    city_phi = headline.measure_dispersion(data.current, data.previous, measure)
    city_count = max(float(now.sum()), 1.0)
    codes = list(names) + [c for c in now.index.union(before.index) if c not in names]
    rows, row_codes = [], []
    for code in codes:
        count = int(now.get(code, 0))
        previous = int(before.get(code, 0)) if data.areas_previous is not None else None
        if code not in names and count == 0 and not previous:
            continue
        row_codes.append(code)
        change = (headline.compare_counts(
            count, previous, dispersion=headline.area_dispersion(city_phi, count, city_count))
            if previous is not None else None)
        pop = population.get(code) if code else None
        rows.append({
            "Area": names.get(code, NOT_LOCATED if code == "" else code),
            "Count": count,
            "Per 1,000 residents": headline.rate_per_1000(count, pop),
            "Same period last year": previous,
            "Change": change.difference if change else None,
            "Change %": (round(100 * change.relative, 1)
                         if change and change.relative is not None else None),
            SIGNIFICANT: significance_text(change),
        })
    table = pd.DataFrame(rows, columns=["Area", "Count", "Per 1,000 residents",
                                        "Same period last year", "Change", "Change %",
                                        SIGNIFICANT])
    if data.areas_previous is None:
        table = table.drop(columns=list(COMPARISON_COLUMNS))
    key = measure_key(measure)
    if key is not None:
        # Every row of this table is below partnership level: the one rule, on the area tree.
        level = "ward" if filters.lcsp else "lcsp"
        def lcsp_of(code: str) -> str | None:
            return filters.lcsp if filters.lcsp else code

        mask_now = protect.withheld_codes(key, filters.period, level=level, codes=row_codes,
                                          lcsp_of=lcsp_of)
        comparison = [c for c in COMPARISON_COLUMNS[1:] if c in table]
        table = disclosure.withhold(table, mask_now, ["Count"],
                                    ["Per 1,000 residents", *comparison])
        if "Same period last year" in table and filters.previous is not None:
            mask_before = protect.withheld_codes(key, filters.previous, level=level,
                                                 codes=row_codes, lcsp_of=lcsp_of)
            table = disclosure.withhold(table, mask_before, ["Same period last year"], comparison)
    return table


def area_table_for_display(table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The area table and its column formats; a suppressed table is shown as text with "–"
    where a figure is withheld (st.dataframe would print "None")."""
    numeric = {
        "Count": ("localized", ui.fmt_int),
        "Per 1,000 residents": ("%.1f", ui.fmt_rate),
        "Same period last year": ("localized", ui.fmt_int),
        "Change": ("%+d", ui.fmt_signed_int),
        "Change %": ("%+.1f%%", lambda v: ui.NO_VALUE if pd.isna(v) else f"{v:+.1f}%"),
    }
    columns = {c: f for c, f in numeric.items() if c in table}
    if all(pd.api.types.is_numeric_dtype(table[c]) for c in columns):
        return table, {c: st.column_config.NumberColumn(format=f) for c, (f, _) in columns.items()}
    shown = table.copy()
    for column, (_, formatter) in columns.items():
        shown[column] = [v if isinstance(v, str) else formatter(v) for v in table[column]]
    if SIGNIFICANT in shown:
        shown[SIGNIFICANT] = shown[SIGNIFICANT].fillna(ui.NO_VALUE)
    return shown, {}


def compute_trend(data: OverviewData, measure: HeadlineMeasure,
                  filters: Filters | None = None) -> pd.DataFrame:
    """Monthly counts of ``measure``: columns Month, This period, Same month last year (below
    partnership level without the sensitive categories, rule 4)."""
    current, previous = data.current, data.previous
    if filters is not None and filters.below_partnership and not measure.sensitive:
        level = "ward" if filters.ward else "lcsp"
        current = protect.unmixed(current, lcsp=filters.lcsp, level=level)
        previous = protect.unmixed(previous, lcsp=filters.lcsp, level=level)
    now = headline.measure_by(current, measure, "month_start")
    frame = pd.DataFrame({"Month": now.index, "This period": now.to_numpy()})
    if previous is not None:
        before = headline.measure_by(previous, measure, "month_start")
        before.index = before.index + pd.DateOffset(years=1)
        frame["Same month last year"] = frame["Month"].map(before).astype("Int64")
    return frame


def significance_text(change: headline.Change | None) -> str:
    """"▲ rise" or "▼ fall" for a significant change, else "" (text and arrow, not colour)."""
    if change is None or not change.significant:
        return ""
    return f"{ui.UP} rise" if change.difference > 0 else f"{ui.DOWN} fall"


def span_text(months: pd.Series) -> str:
    """"Apr 2025 to Mar 2026" for a run of months."""
    if months.empty:
        return ""
    first, last = months.min(), months.max()
    return ui.fmt_month(first) if first == last else f"{ui.fmt_month(first)} to {ui.fmt_month(last)}"


def trend_figure(trend: pd.DataFrame) -> go.Figure:
    """This period (solid blue, circles) against last year (dashed orange, diamonds)."""
    fig = go.Figure()
    if "Same month last year" in trend:
        fig.add_scatter(
            x=trend["Month"], y=trend["Same month last year"], name="Same month last year",
            mode="lines+markers", line={"color": ui.PREVIOUS_COLOUR, "dash": "dash", "width": 2},
            marker={"symbol": "diamond", "size": 7},
            hovertemplate="%{y:,}",
        )
    fig.add_scatter(
        x=trend["Month"], y=trend["This period"], name="This period", mode="lines+markers",
        line={"color": ui.CURRENT_COLOUR, "width": 3}, marker={"symbol": "circle", "size": 7},
        hovertemplate="%{y:,}",
    )
    if len(trend) <= 12:  # month initials fit a half-width chart; the span goes in the title
        fig.update_xaxes(tickformat="%b", dtick="M1", title_text=span_text(trend["Month"]))
    else:
        fig.update_xaxes(tickformat="%b %y", dtick="M3")
    fig.update_xaxes(hoverformat="%b %Y")
    fig.update_layout(legend={"traceorder": "reversed"})  # "This period" first
    return ui.style_figure(fig, y_title="Incidents")


# --- render -------------------------------------------------------------------------------

def p_value_text(p_value: float) -> str:
    """p = 0.012, or p < 0.001."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def render_card(row, measure: HeadlineMeasure, data: OverviewData, filters: Filters) -> None:
    """One headline card: the count, its change on last year and whether that is significant."""
    if row.suppressed:
        shown = disclosure.WITHHELD if row.withheld else ui.fmt_int(row.current)
        st.metric(row.label, shown, help=measure.help)
        st.caption("Withheld to protect victims." if row.withheld else
                   "The change is withheld, to protect victims.")
        return
    spark = None
    if not (row.sensitive and filters.below_partnership):
        frame = data.current
        if filters.below_partnership:  # rule 4, as the card's own count
            frame = protect.unmixed(frame, lcsp=filters.lcsp,
                                    level="ward" if filters.ward else "lcsp")
        series = headline.measure_by(frame, measure, "month_start").tolist()
        spark = series if len(series) >= MIN_SPARKLINE_MONTHS else None
    if row.previous is None or pd.isna(row.previous):
        st.metric(row.label, ui.fmt_int(row.current), help=measure.help, chart_data=spark)
        st.caption("No data for the same period last year.")
        return
    if row.difference == 0:
        delta = 0
    elif row.relative is None:
        delta = ui.fmt_signed_int(row.difference)
    else:
        delta = f"{ui.fmt_signed_int(row.difference)} ({ui.fmt_pct(row.relative)})"
    st.metric(
        row.label, ui.fmt_int(row.current), delta=delta,
        # A rise in crime is bad news; colour only a change unlikely to be chance.
        delta_color="inverse" if row.significant else "off",
        help=measure.help, chart_data=spark,
    )
    if row.significant:
        verdict = (f"{ui.arrow(row.difference)} significant "
                   f"{'rise' if row.difference > 0 else 'fall'} ({p_value_text(row.p_value)})")
    else:
        verdict = "within normal variation"
    st.caption(f"Last year {ui.fmt_int(row.previous)} · {verdict}")


def render_cards(cards: pd.DataFrame, data: OverviewData, filters: Filters) -> None:
    """The headline metric cards, four to a row."""
    for start in range(0, len(cards), CARDS_PER_ROW):
        chunk = cards.iloc[start:start + CARDS_PER_ROW]
        for column, row in zip(st.columns(CARDS_PER_ROW), chunk.itertuples()):
            with column, st.container(border=True, height="stretch"):
                render_card(row, MEASURES[row.key], data, filters)


def render_overview_page() -> None:
    """The Overview page."""
    filters = shell.current_filters()
    context = shell.current_context()
    st.title("Overview")
    compared = (f", compared with {filters.previous.label}" if filters.previous
                else " (no data for the same period a year earlier)")
    st.markdown(f"**{filters.period.label}** · **{filters.area_label_md}**{compared}.")
    # The comparison is only as good as last year's data: its problems are named too.
    render_data_warnings(sorted({m.source for m in HEADLINE_MEASURES}), filters.period,
                         comparison=filters.previous)

    data = load_overview(filters)
    cards = compute_cards(data, filters)
    render_cards(cards, data, filters)
    notes = ["A change is coloured and flagged only when an exact test says it is unlikely to "
             "be chance (p < 0.05); ▲ is a rise, ▼ a fall."]
    if filters.below_partnership:
        notes.append(disclosure.note(protect.rule()))
        if not protect.rule().full_detail(filters.lcsp):
            notes.append(protect.unmixed_note())
        protect.audit_sensitive_view("overview", "headline figures incl. domestic abuse, VAWG, "
                                     "sexual offences", filters)
    st.caption(" ".join(notes))
    ui.download_button(headline_download(cards), "overview_headlines.csv",
                       key="overview_headline_download", label="Download headline figures (CSV)")

    st.subheader("Monthly trend")
    for column, key in zip(st.columns(2), TREND_MEASURES):
        measure = MEASURES[key]
        trend = compute_trend(data, measure, filters)
        with column:
            st.markdown(f"**{measure.label}** by month")
            table = trend.assign(Month=trend["Month"].dt.strftime("%b %Y"))
            ui.chart_with_data(trend_figure(trend), table,
                               key=f"overview_trend_{key}", file_name=f"trend_{key}.csv")

    level = f"wards of {filters.lcsp_name} LCSP" if filters.lcsp else "LCSP"
    st.subheader(f"By {plain(level)}")
    choice = st.selectbox("Measure", tuple(MEASURES), key=K_MEASURE,
                          format_func=lambda k: MEASURES[k].label)
    table = compute_area_table(data, MEASURES[choice], filters, context.lcsps)
    if MEASURES[choice].sensitive:
        protect.audit_sensitive_view("overview", f"{MEASURES[choice].label} by {level}", filters)
    shown, formats = area_table_for_display(table)
    st.dataframe(shown, hide_index=True, width="stretch", height="content", column_config=formats)
    population_note = ("LCSP residents are the sum of their wards' residents in the "
                       f"{filters.membership_fy}/{(filters.membership_fy + 1) % 100:02d} "
                       "grouping." if not filters.lcsp else "")
    withheld_note = (" " + (disclosure.note(protect.rule()) if MEASURES[choice].sensitive
                            else protect.unmixed_note()))
    st.caption(f"Counts for {filters.period.label}. {SIGNIFICANT}: ▲ or ▼ when an exact test "
               f"says the change on last year is unlikely to be chance. {population_note}"
               f"{withheld_note}")
    ui.download_button(table, f"overview_by_area_{choice}.csv", key="overview_area_download")


def headline_download(cards: pd.DataFrame) -> pd.DataFrame:
    """The headline cards as a table, with suppressed values withheld."""
    out = cards[["label", "current", "previous", "difference", "relative", "p_value",
                 "significant"]].copy()
    out["relative"] = (100 * out["relative"].astype("float64")).round(1)
    out.columns = ["Measure", "This period", "Same period last year", "Change", "Change %",
                   "p-value", "Significant"]
    out = out.astype(object)
    out.loc[cards["suppressed"].to_numpy(), ["Change", "Change %", "p-value", "Significant"]] = None
    out.loc[cards["withheld"].to_numpy(), "This period"] = disclosure.WITHHELD
    out.loc[cards["previous_withheld"].to_numpy(), "Same period last year"] = disclosure.WITHHELD
    return out


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Overview"):
        render_overview_page()
