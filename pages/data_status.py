"""Data status: how fresh and complete each source is, what was loaded when and by whom, how
many rows each table holds, and which database and schema revision the dashboard reads.

Analysts check here before trusting a figure: a month missing from a source, or a month the
source itself published short, changes every comparison that includes it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access import connection, queries, schema
from data_access import engine as eng
from pages.common import shell, ui

SOURCE_LABELS = {
    "recorded_crime": "Recorded crime (police)",
    "asb": "ASB incidents (police)",
    "police_uk": "police.uk street-level crime",
    "council_asb": "Council ASB cases",
    "calls": "Police calls for service",
}
AGGREGATE_NAMES = {t.name for t in schema.AGGREGATE_TABLES}
_TABLE_GROUPS = {
    **{name: "aggregate" for name in AGGREGATE_NAMES},
    "incidents": "facts",
    **{name: "reference" for name in ("areas", "area_membership", "categories", "events",
                                       "overlays")},
}


def _month_list(months: list[pd.Timestamp], limit: int = 6) -> str:
    shown = ", ".join(ui.fmt_month(m) for m in months[:limit])
    more = len(months) - limit
    return shown + (f" and {more} more" if more > 0 else "") if months else "none"


def compute_source_coverage(source_months: pd.DataFrame, incomplete: pd.DataFrame) -> pd.DataFrame:
    """One row per source: Source, First month, Last month, Months with data, Incidents,
    Gaps (months with no rows between the first and the last), Flagged incomplete."""
    rows = []
    sources = sorted(set(source_months["source"]) | set(incomplete["source"]))
    for source in sources:
        months = source_months.loc[source_months["source"] == source]
        present = set(months.loc[months["n"] > 0, "month_start"])
        flagged = sorted(incomplete.loc[incomplete["source"] == source, "month_start"])
        if present:
            expected = pd.date_range(min(present), max(present), freq="MS")
            gaps = [m for m in expected if m not in present]
        else:
            gaps = []
        rows.append({
            "Source": SOURCE_LABELS.get(source, source),
            "First month": ui.fmt_month(min(present)) if present else ui.NO_VALUE,
            "Last month": ui.fmt_month(max(present)) if present else ui.NO_VALUE,
            "Months with data": len(present),
            "Incidents": int(months["n"].sum()),
            "Gaps": _month_list(gaps),
            "Flagged incomplete": _month_list(flagged),
        })
    return pd.DataFrame(rows, columns=["Source", "First month", "Last month", "Months with data",
                                       "Incidents", "Gaps", "Flagged incomplete"])


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
    coverage = compute_source_coverage(connection.cached(queries.load_source_months),
                                       connection.cached(queries.load_incomplete_months))
    if coverage.empty:
        st.info("No incidents are loaded yet.", icon=":material/info:")
    else:
        st.dataframe(coverage, hide_index=True, width="stretch",
                     column_config={"Incidents": st.column_config.NumberColumn(format="localized")})
        st.caption("Gaps are months with no rows between a source's first and last month; "
                   "months flagged incomplete are those the source itself published short.")

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
