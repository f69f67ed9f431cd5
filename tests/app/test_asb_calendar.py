"""The ASB seasonality calendar page through app.py: it renders, follows its link parameters and
the sidebar area, its past-day table matches a direct SQL count, bad links or a printable view
never show a traceback, and a role without downloads sees the page without any."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import schema

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/asb_calendar.py"
i = schema.incidents


def open_page(query_params: dict[str, str] | None = None, role: str | None = None) -> AppTest:
    """The app switched to the calendar (as ``role`` in the local demo mode; default admin)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if role is not None:
        at.session_state["auth_demo_role"] = role
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def frame_with(at: AppTest, column: str):
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with {column!r}"
    return frames[0]


def test_the_page_renders_with_its_calendar_and_accuracy():
    at = open_page()
    assert [t.value for t in at.title] == ["ASB seasonality calendar"]
    assert any("How far to trust it" in x.value for x in at.info)
    assert at.query_params["asb_source"] == "asb"
    assert at.query_params["asb_grain"] == "week"
    calendar = frame_with(at, "Seasonal index")
    assert calendar["Row"].iloc[0] == "All ASB"
    assert {"Youth", "Neighbour"} <= set(calendar["Row"])
    assert calendar.groupby("Row").size().eq(52).all()  # a year of weeks per row
    labels = [b.label for b in at.get("download_button")]
    assert "Download chart (PNG)" in labels and "Download CSV" in labels
    links = [p.proto for p in at.get("page_link") if "Hotspot map" in p.proto.label]
    assert links and links[0].page == "hotspots"
    # The hotspot map's own keys: what to map and the period of the sidebar.
    assert "hotspots_what=cat%3Aasb%3Aanti_social_behaviour" in links[0].query_string
    assert "fy=2025%2F26" in links[0].query_string


def test_link_parameters_set_the_view():
    at = open_page({"asb_rows": "areas", "asb_type": "youth", "asb_grain": "month",
                    "asb_threshold": "1.3"})
    assert not at.warning, [w.value for w in at.warning]
    assert at.radio(key="asb_calendar_rows").value == "areas"
    assert at.selectbox(key="asb_calendar_type").value == "youth"
    assert at.select_slider(key="asb_calendar_threshold").value == 1.3
    calendar = frame_with(at, "Seasonal index")
    assert calendar["Row"].iloc[0].startswith("Youth, Whole partnership")
    assert calendar.groupby("Row").size().eq(12).all()  # months
    links = [p.proto for p in at.get("page_link") if "Hotspot map" in p.proto.label]
    assert "hotspots_asb_type=youth" in links[0].query_string
    assert len(calendar["Row"].unique()) > 2  # the total and the LCSPs


def test_bad_link_parameters_are_ignored_with_a_warning():
    at = open_page({"asb_source": "nonsense", "asb_threshold": "9", "asb_type": "x' OR 1=1 --",
                    "asb_rows": "<script>"})
    warnings = " ".join(w.value for w in at.warning)
    assert "asb_source" in warnings and "asb_threshold" in warnings and "asb_type" in warnings
    assert at.query_params["asb_source"] == "asb"
    assert at.selectbox(key="asb_calendar_type").value == ""


def test_the_sidebar_area_narrows_everything(sample_engine):
    with sample_engine.connect() as conn:
        lcsp = conn.execute(sa.select(i.c.lcsp_code).where(i.c.source == "asb")
                            .group_by(i.c.lcsp_code).order_by(sa.func.count().desc())
                            .limit(1)).scalar_one()
        expected = conn.execute(sa.select(sa.func.count()).select_from(i).where(
            i.c.source == "asb", i.c.lcsp_code == lcsp, i.c.subcategory == "youth",
            i.c.incident_date >= dt.date(2025, 4, 1), i.c.incident_date <= dt.date(2026, 3, 31),
        )).scalar_one()
    at = open_page({"fy": "2025/26", "lcsp": lcsp, "asb_rows": "areas", "asb_type": "youth"})
    days = frame_with(at, "Weekday")
    # The day-by-day table of the past equals a direct count on the incidents.
    assert int(days["Incidents"].sum()) == expected
    calendar = frame_with(at, "Seasonal index")
    with sample_engine.connect() as conn:
        wards = set(conn.execute(sa.select(schema.areas.c.name).where(
            schema.areas.c.parent_code == lcsp)).scalars())
    rows = list(calendar["Row"].unique())
    assert "LCSP" in rows[0]
    assert set(rows[1:]) <= wards


def test_threshold_and_printable_view():
    at = open_page()
    rises_low = (frame_with(at, "Seasonal index")["Predicted rise"] != "no").sum()
    at.select_slider(key="asb_calendar_threshold").set_value(1.5).run()
    assert_clean(at)
    rises_high = (frame_with(at, "Seasonal index")["Predicted rise"] != "no").sum()
    assert rises_high <= rises_low
    at.toggle(key="asb_calendar_print").set_value(True).run()
    assert_clean(at)
    assert any(m.value == "### Whole partnership" for m in at.markdown)
    assert at.query_params["asb_print"] == "1"  # a link opens the printable view
    labels = [b.label for b in at.get("download_button")]
    assert "Download this page (HTML, prints on one page)" in labels


def test_a_viewer_sees_the_calendar_without_downloads():
    at = open_page(role="viewer")
    assert frame_with(at, "Seasonal index") is not None  # the page is all there ...
    assert any(t.value == "Peak-period performance" for t in at.subheader)
    assert not at.get("download_button")  # ... but nothing to download
    at.toggle(key="asb_calendar_print").set_value(True).run()
    assert_clean(at)
    assert any(m.value == "### Whole partnership" for m in at.markdown)
    assert not at.get("download_button")
    # A board member may download.
    at = open_page(role="board_member")
    assert "Download CSV" in [b.label for b in at.get("download_button")]
