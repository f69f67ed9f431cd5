"""Data status: how fresh and complete each source is, what was loaded when and by whom, how
many rows each table holds, and which database and schema revision the dashboard reads.

Analysts check here before trusting a figure: a month missing from a source, a month the source
itself published short, or a change of LSOA boundaries part-way through a series (a *series
break*, :func:`pages.common.data_warnings.find_series_breaks`) changes every comparison that
includes it. The pages that draw from a source repeat its problems for their own period
(:func:`pages.common.data_warnings.render_data_warnings`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access import connection, queries, schema
from data_access import engine as eng
from kpis.text_safety import plain
from pages.common import shell, ui
from pages.common.data_warnings import (
    break_text, find_series_breaks, lsoa_boundary_text, month_gaps, month_list, source_label,
)

# The sample generator logs one import for all the sources it writes.
SAMPLE_IMPORT_SOURCE = "sample_data"
AGGREGATE_NAMES = {t.name for t in schema.AGGREGATE_TABLES}
_TABLE_GROUPS = {
    **{name: "aggregate" for name in AGGREGATE_NAMES},
    "incidents": "facts",
    **{name: "reference" for name in ("areas", "area_membership", "categories", "events",
                                       "overlays")},
}


def _month_list(months: list[pd.Timestamp], limit: int = 6) -> str:
    return month_list(months, limit)


def _last_import_text(row) -> str:
    when = pd.Timestamp(row.loaded_at)
    return f"{ui.fmt_day(when.date())} {when:%H:%M} by {row.loaded_by or 'unknown'}"


def compute_source_coverage(
    source_months: pd.DataFrame,
    incomplete: pd.DataFrame,
    breaks: pd.DataFrame | None = None,
    last_imports: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per source: Source, First month, Last month (the latest period loaded), Months
    with data, Incidents (rows), Gaps (months with no rows between the first and the last),
    Flagged incomplete; with ``breaks`` (:func:`find_series_breaks`) Series breaks, and with
    ``last_imports`` (:func:`queries.load_latest_imports_by_source`) Last import (when, who)."""
    rows = []
    sources = sorted(set(source_months["source"]) | set(incomplete["source"]))
    imports = {}
    if last_imports is not None:
        imports = {r.source: r for r in last_imports.itertuples() if r.source is not None}
    for source in sources:
        months = source_months.loc[source_months["source"] == source]
        present = set(months.loc[months["n"] > 0, "month_start"])
        flagged = sorted(incomplete.loc[incomplete["source"] == source, "month_start"])
        row = {
            "Source": source_label(source),
            "First month": ui.fmt_month(min(present)) if present else ui.NO_VALUE,
            "Last month": ui.fmt_month(max(present)) if present else ui.NO_VALUE,
            "Months with data": len(present),
            "Incidents": int(months["n"].sum()),
            "Gaps": _month_list(month_gaps(present)),
            "Flagged incomplete": _month_list(flagged),
        }
        if breaks is not None:
            row["Series breaks"] = _month_list(list(breaks.loc[breaks["source"] == source,
                                                               "month_start"]))
        if last_imports is not None:
            latest = imports.get(source, imports.get(SAMPLE_IMPORT_SOURCE))
            row["Last import"] = _last_import_text(latest) if latest is not None else ui.NO_VALUE
        rows.append(row)
    columns = ["Source", "First month", "Last month", "Months with data", "Incidents", "Gaps",
               "Flagged incomplete"]
    if breaks is not None:
        columns.append("Series breaks")
    if last_imports is not None:
        columns.append("Last import")
    return pd.DataFrame(rows, columns=columns)


def incomplete_text(source: str, months: list[pd.Timestamp]) -> str:
    """One sentence on a source's incomplete months, for a warning."""
    return (f"**{plain(source_label(source))}**: {_month_list(months, 12)} "
            f"{'was' if len(months) == 1 else 'were'} published incomplete at the source; "
            "counts for them are too low and comparisons that include them understate.")


def compute_imports_table(imports: pd.DataFrame) -> pd.DataFrame:
    """The imports log for people: When, Who, What, File, Rows read/added/replaced/rejected."""
    return pd.DataFrame({
        "When": pd.to_datetime(imports["loaded_at"]).dt.strftime("%d %b %Y %H:%M"),
        "Who": imports["loaded_by"],
        "What": imports["kind"] + imports["source"].map(lambda s: f" ({s})" if s else ""),
        "File": imports["file_name"],
        "Period": [f"{ui.fmt_month(a)} to {ui.fmt_month(b)}" if pd.notna(a) else ui.NO_VALUE
                   for a, b in zip(imports["period_from"], imports["period_to"])],
        "Rows read": imports["rows_read"],
        "Added": imports["rows_added"],
        "Replaced": imports["rows_replaced"],
        "Rejected": imports["rows_rejected"],
    })


def render_data_status_page() -> None:
    """The Data status page."""
    st.title("Data status")
    context = shell.current_context()
    if context is not None:
        st.markdown(f"**{context.freshness()}**")

    st.subheader("Sources")
    source_months = connection.cached(queries.load_source_months)
    incomplete = connection.cached(queries.load_incomplete_months)
    breaks = find_series_breaks(connection.cached(queries.load_lsoa_spans), source_months)
    coverage = compute_source_coverage(
        source_months, incomplete, breaks,
        connection.cached(queries.load_latest_imports_by_source))
    if coverage.empty:
        st.info("No incidents are loaded yet.", icon=":material/info:")
    else:
        st.dataframe(coverage, hide_index=True, width="stretch",
                     column_config={"Incidents": st.column_config.NumberColumn(format="localized")})
        st.caption("Last month is the latest month loaded. Gaps are months with no rows between "
                   "a source's first and last month; months flagged incomplete are those the "
                   "source itself published short; a series break is a month where the LSOA "
                   "codes in use change.")
        lines = [incomplete_text(source, list(group["month_start"]))
                 for source, group in incomplete.groupby("source", sort=True)]
        boundaries = lsoa_boundary_text(connection.cached(queries.load_boundary_sources))
        lines += [break_text(row, boundaries) for row in breaks.itertuples()]
        if lines:
            st.warning("\n".join(f"- {line}" for line in lines), icon=":material/report:")

    st.subheader("Latest imports")
    imports = connection.cached(queries.load_imports, limit=10)
    if imports.empty:
        st.info("No imports are logged.", icon=":material/info:")
    else:
        number = st.column_config.NumberColumn(format="localized")
        st.dataframe(compute_imports_table(imports), hide_index=True, width="stretch",
                     column_config={c: number for c in ("Rows read", "Added", "Replaced",
                                                        "Rejected")})

    url = connection.current_url()
    revision = connection.cached(queries.load_schema_revision)
    st.subheader("Database")
    kind = "DuckDB (embedded file)" if eng.is_duckdb(url) else "PostgreSQL"
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Kind:** {kind}  \n**Address:** `{eng.safe_url(url)}`")
    with right:
        current, head = revision["current"] or "none", revision["head"]
        st.markdown(f"**Schema revision:** {current} (this code expects {head})")
        if revision["current"] != head:
            st.warning("The database schema is behind this version of the dashboard. Upgrade it "
                       "with `alembic -c data_access/alembic.ini upgrade head`.",
                       icon=":material/warning:")

    st.subheader("Rows per table")
    counts = connection.cached(queries.load_table_counts)
    counts.insert(1, "Kind", counts["table"].map(_TABLE_GROUPS).fillna("partnership records"))
    counts.columns = ["Table", "Kind", "Rows"]
    left, right = st.columns([3, 2])
    with left:
        st.dataframe(counts, hide_index=True, width="stretch", height="content",
                     column_config={"Rows": st.column_config.NumberColumn(format="localized")})
    with right:
        info = connection.cached(queries.load_dataset_info)
        if info:
            st.markdown("**About this dataset**")
            st.dataframe(pd.DataFrame({"Key": list(info), "Value": list(info.values())}),
                         hide_index=True, width="stretch")
    ui.download_button(counts, "table_row_counts.csv", key="data_status_counts_download")


# Streamlit runs a page as __main__; importing the module (tests) draws nothing.
if __name__ == "__main__":
    shell.ensure_session_defaults()
    with shell.page_guard("the Data status page"):
        render_data_status_page()
