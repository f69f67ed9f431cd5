"""Every page through app.py with AppTest: it renders, the filters follow the link, bad links
and broken databases give a message instead of a traceback, and the Overview's figures match
direct SQL counts on the test database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import schema

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "pages/overview.py": "Overview",
    "pages/boards.py": "Priority boards",
    "pages/asb_calendar.py": "ASB seasonality calendar",
    "pages/hotspots.py": "Hotspot map",
    "pages/fund.py": "Community Safety Fund",
    "pages/explorer.py": "Data explorer",
    "pages/data_status.py": "Data status",
    "pages/admin.py": "Administration",
}
i = schema.incidents


def run_app(query_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    return at.run()


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return values[0]


def as_int(text: str) -> int:
    return int(text.replace(",", ""))


def sql_count(engine, start: dt.date, end: dt.date, source: str = "recorded_crime", **where) -> int:
    statement = sa.select(sa.func.count()).select_from(i).where(
        i.c.source == source, i.c.incident_date >= start, i.c.incident_date <= end,
        *[i.c[k] == v for k, v in where.items()],
    )
    with engine.connect() as conn:
        return conn.execute(statement).scalar_one()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("path, title", PAGES.items())
def test_every_page_renders_through_the_app(path, title):
    at = run_app()
    assert_clean(at)
    at.switch_page(path).run()
    assert_clean(at)
    assert title in [t.value for t in at.title]


def test_overview_total_equals_a_direct_sql_count(sample_engine):
    at = run_app()
    assert_clean(at)
    # The default period is the latest complete financial year.
    assert at.query_params["fy"] == "2025/26"
    fy = (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert as_int(metric(at, "Total recorded crime")) == sql_count(sample_engine, *fy)
    assert as_int(metric(at, "ASB incidents")) == sql_count(sample_engine, *fy, source="asb")
    assert as_int(metric(at, "Domestic abuse")) == sql_count(
        sample_engine, *fy, is_domestic_abuse=True)


def test_an_lcsp_in_the_link_changes_the_overview(sample_engine):
    whole = as_int(metric(run_app({"fy": "2025/26"}), "Total recorded crime"))
    at = run_app({"fy": "2025/26", "lcsp": "LCSP-N"})
    assert_clean(at)
    north = as_int(metric(at, "Total recorded crime"))
    assert north < whole
    # Below partnership level totals leave the sensitive categories out (shown on their own).
    sensitive = sql_count(sample_engine, dt.date(2025, 4, 1), dt.date(2026, 3, 31),
                          lcsp_code="LCSP-N", category="sexual_offences") + sql_count(
        sample_engine, dt.date(2025, 4, 1), dt.date(2026, 3, 31), lcsp_code="LCSP-N",
        category="modern_slavery")
    assert north == sql_count(sample_engine, dt.date(2025, 4, 1), dt.date(2026, 3, 31),
                              lcsp_code="LCSP-N") - sensitive
    assert as_int(metric(at, "Sexual offences")) == sql_count(
        sample_engine, dt.date(2025, 4, 1), dt.date(2026, 3, 31), lcsp_code="LCSP-N",
        category="sexual_offences")
    assert at.selectbox(key="shell_lcsp").value == "LCSP-N"


def test_a_month_range_in_the_link(sample_engine):
    at = run_app({"from": "2025-04", "to": "2025-06", "lcsp": "LCSP-S"})
    assert_clean(at)
    assert at.radio(key="shell_period_mode").value == "Months"
    assert as_int(metric(at, "ASB incidents")) == sql_count(
        sample_engine, dt.date(2025, 4, 1), dt.date(2025, 6, 30), source="asb",
        lcsp_code="LCSP-S")
    assert at.query_params["from"] == "2025-04" and at.query_params["to"] == "2025-06"


def test_a_month_range_survives_a_page_switch():
    # Streamlit can hand the range slider back its default after a page switch; the frame
    # must keep the user's range (found in the browser: Overview -> Data status lost it).
    at = run_app({"from": "2025-04", "to": "2025-05", "lcsp": "LCSP-N"})
    assert_clean(at)
    at.switch_page("pages/data_status.py").run()
    assert_clean(at)
    assert at.session_state["shell_months"] == (dt.date(2025, 4, 1), dt.date(2025, 5, 1))
    assert at.query_params["from"] == "2025-04" and at.query_params["to"] == "2025-05"
    assert at.query_params["lcsp"] == "LCSP-N"


def test_invalid_link_values_warn_and_fall_back():
    at = run_app({"fy": "1999/00", "lcsp": "<b>nope</b>", "ward": "W`x", "extra": "kept"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "fy=`1999/00`" in warnings and "lcsp=" in warnings and "ward=" in warnings
    assert at.query_params["fy"] == "2025/26"
    assert "lcsp" not in at.query_params and "ward" not in at.query_params
    assert at.query_params["extra"] == "kept"  # not the frame's to remove
    assert as_int(metric(at, "Total recorded crime")) > 0

    at = run_app({"from": "2025-13", "to": "garbage"})
    assert not at.exception
    assert any("from=" in w.value for w in at.warning)
    assert at.radio(key="shell_period_mode").value == "Financial year"


def test_choosing_filters_writes_the_link():
    at = run_app()
    at.selectbox(key="shell_lcsp").set_value("LCSP-W").run()
    assert_clean(at)
    assert at.query_params["lcsp"] == "LCSP-W"
    ward = at.selectbox(key="shell_ward").options[1]
    at.selectbox(key="shell_ward").select_index(1).run()
    assert_clean(at)
    assert at.query_params["ward"] and "By wards of West LCSP" in [s.value for s in at.subheader]
    assert ward
    # Back to all LCSPs: the ward goes too.
    at.selectbox(key="shell_lcsp").set_value("").run()
    assert "lcsp" not in at.query_params and "ward" not in at.query_params


def test_small_sensitive_counts_are_suppressed_below_partnership(sample_engine):
    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.ward_code, mw.c.lcsp_code, mw.c.month_start, sa.func.sum(mw.c.n))
        .where(mw.c.category == "sexual_offences", mw.c.ward_code != "")
        .group_by(mw.c.ward_code, mw.c.lcsp_code, mw.c.month_start)
        .having(sa.func.sum(mw.c.n).between(1, 7))
        .order_by(mw.c.month_start.desc(), mw.c.ward_code)
        .limit(1)
    )
    with sample_engine.connect() as conn:
        ward, lcsp, month, _ = conn.execute(statement).one()
    month = f"{month:%Y-%m}"
    at = run_app({"from": month, "to": month, "lcsp": lcsp, "ward": ward})
    assert_clean(at)
    # A single month is not a standard period: below partnership level it is withheld outright.
    assert metric(at, "Sexual offences") == "withheld"
    assert any("“withheld”" in c.value for c in at.caption)


def test_data_status_lists_sources_tables_and_revision():
    at = run_app()
    at.switch_page("pages/data_status.py").run()
    assert_clean(at)
    sources, imports, counts = at.dataframe[0].value, at.dataframe[1].value, at.dataframe[2].value
    assert set(sources["Source"]) == {"Recorded crime (police)", "ASB incidents (police)"}
    assert (sources["Gaps"] == "none").all()
    assert imports["Rows read"].iloc[0] == sources["Incidents"].sum()
    rows = dict(zip(counts["Table"], counts["Rows"]))
    assert rows["incidents"] == sources["Incidents"].sum()
    assert rows["agg_month_ward"] > 0
    text = " ".join(m.value for m in at.markdown)
    assert "DuckDB" in text and "synthetic sample data" in text


def test_a_failing_query_shows_a_message_not_a_traceback(monkeypatch):
    from data_access import queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(queries, "load_category_months", broken)
    at = run_app()
    assert not at.exception
    assert any("could not be shown" in e.value and "reference" in e.value for e in at.error)
    assert not any("boom" in e.value for e in at.error)


def test_an_unreachable_database_is_named_without_its_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://dash:s3cret@127.0.0.1:9/none")
    at = run_app()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "cannot reach its database" in message and "127.0.0.1:9" in message
    assert "s3cret" not in message


def test_an_empty_database_gets_the_load_command(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'empty.duckdb'}")
    at = run_app()
    assert not at.exception
    assert any("python -m sample_data.load" in w.value for w in at.warning)
    assert not (tmp_path / "empty.duckdb").exists()


def test_first_run_builds_the_default_database_with_a_progress_bar(monkeypatch, tmp_path):
    from data_access import engine as eng
    from sample_data import generator

    url = f"duckdb:///{tmp_path / 'default.duckdb'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(eng, "is_default_database", lambda candidate: candidate == url)
    real = generator.build_dataset
    calls = []

    def small_dataset(**kwargs):
        calls.append(kwargs)
        return real(scale=0.2, start=dt.date(2025, 3, 1), end=dt.date(2025, 6, 30),
                    include_fund=False)

    monkeypatch.setattr(generator, "build_dataset", small_dataset)
    at = run_app()
    assert_clean(at)
    assert len(calls) == 1
    assert (tmp_path / "default.duckdb").exists()
    # After the build the app reruns into the Overview of the new data.
    assert "Overview" in [t.value for t in at.title]
    assert as_int(metric(at, "Total recorded crime")) > 0


def test_a_malformed_database_url_gets_a_message(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "not a url")
    at = run_app()
    assert not at.exception
    assert any("not a valid database URL" in e.value for e in at.error)
