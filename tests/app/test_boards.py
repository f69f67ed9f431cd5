"""The Priority boards page through app.py: overview, board detail, meeting mode, links, errors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import schema
from data_access import engine as eng
from kpis.registry import load_registry
from tests.app.markdown_text import as_shown

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/boards.py"
REGISTRY = load_registry()
i = schema.incidents


def open_boards(query_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metrics(at: AppTest) -> dict[str, str]:
    """Metric cards by label as shown (labels from the data are escaped markdown)."""
    return {as_shown(m.label): m.value for m in at.metric}


def subheaders(at: AppTest) -> list[str]:
    """Subheaders of the page itself (the sidebar has its own)."""
    return [as_shown(s.value) for s in at.main.subheader]


def test_overview_has_a_row_per_board_and_a_card_per_kpi():
    at = open_boards()
    assert_clean(at)
    assert "Priority boards" in [t.value for t in at.title]
    assert [b.label for b in REGISTRY.boards] == [
        s for s in subheaders(at) if s != "Board pack"]
    assert "Board pack" in subheaders(at)
    assert {b.label for b in at.get("download_button")} >= {
        "Download board pack (PDF)", "Download board pack (PowerPoint)"}
    cards = metrics(at)
    assert set(cards) == {k.label for k in REGISTRY.kpis}
    assert at.query_params["board_view"] == "overview"
    text = " ".join(m.value for m in at.markdown)
    assert "exception" in text
    # icons are words and glyphs in badges, never colour alone
    assert any("Common cause" in m.value or "Concerning" in m.value for m in at.markdown)


def test_a_card_equals_a_direct_sql_count(sample_engine):
    at = open_boards({"fy": "2025/26"})
    assert_clean(at)
    march = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    statement = sa.select(sa.func.count()).select_from(i).where(
        i.c.source == "recorded_crime", i.c.is_weapon,
        i.c.incident_date >= march[0], i.c.incident_date <= march[1])
    with sample_engine.connect() as conn:
        expected = conn.execute(statement).scalar_one()
    assert metrics(at)["Weapon-enabled offences"] == f"{expected:,}"


def test_board_detail_from_a_link_shows_each_kpi_comparisons_and_actions():
    at = open_boards({"board_view": "detail", "board": "vawg"})
    assert_clean(at)
    heads = subheaders(at)
    for kpi in REGISTRY.board_kpis("vawg"):
        assert kpi.label in heads
    assert {"LCSPs compared", "Ward drill-down", "Outputs and actions"} <= set(heads)
    assert [as_shown(h.value) for h in at.header] == ["Violence Against Women and Girls"]
    tables = [d.value for d in at.dataframe]
    actions = next(t for t in tables if "Overdue" in t.columns)
    assert set(actions["Overdue"]) <= {"OVERDUE", ""}
    flagged = actions[actions["Overdue"] == "OVERDUE"]
    assert (flagged["Status"] != "Complete").all() and (flagged["Days overdue"] > 0).all()
    lcsp = next(t for t in tables if "Against the rest of the city" in t.columns and len(t) == 5)
    assert {"95% CI low", "95% CI high", "Per 1,000 residents"} <= set(lcsp.columns)
    assert at.query_params["board"] == "vawg"


def test_open_board_button_goes_to_detail():
    at = open_boards()
    at.button(key="boards_open_domestic_abuse").click().run()
    assert_clean(at)
    assert at.query_params["board_view"] == "detail" and at.query_params["board"] == "domestic_abuse"
    assert [as_shown(h.value) for h in at.header] == ["Domestic Abuse"]


def test_meeting_mode_steps_through_slides():
    at = open_boards({"board_view": "meeting", "board": "all"})
    assert_clean(at)
    html = " ".join(m.value for m in at.markdown)
    assert "stSidebar" in html and "Slide 1 of" in html  # the sidebar is hidden
    assert at.button(key="boards_prev").disabled
    at.button(key="boards_next").click().run()
    assert_clean(at)
    assert at.query_params["board_slide"] == "2"
    assert "Slide 2 of" in " ".join(m.value for m in at.markdown)
    at.button(key="boards_prev").click().run()
    assert at.query_params["board_slide"] == "1"
    at.button(key="boards_leave_meeting").click().run()
    assert at.query_params["board_view"] == "overview"


def test_meeting_mode_link_to_a_slide():
    at = open_boards({"board_view": "meeting", "board": "safer_neighbourhoods", "board_slide": "2"})
    assert_clean(at)
    assert "Slide 2 of" in " ".join(m.value for m in at.markdown)


def test_an_lcsp_changes_the_cards_and_leaves_out_kpis_not_reported_by_lcsp():
    whole = metrics(open_boards({"fy": "2025/26"}))
    at = open_boards({"fy": "2025/26", "lcsp": "LCSP-N"})
    assert_clean(at)
    north = metrics(at)
    assert "Modern slavery offences" not in north  # partnership only
    assert north["Weapon-enabled offences"] != whole["Weapon-enabled offences"]
    text = " ".join(m.value for m in at.markdown)
    assert "North LCSP" in text
    assert any("not reported for LCSPs" in c.value for c in at.caption)


def test_sensitive_counts_for_a_ward_follow_the_one_rule(sample_engine):
    from data_access import disclosure_queries as dq

    mw = schema.agg_month_ward
    statement = (
        sa.select(mw.c.ward_code, mw.c.lcsp_code)
        .where(mw.c.ward_code != "", mw.c.n_vawg > 0)
        .group_by(mw.c.ward_code, mw.c.lcsp_code)
        .order_by(sa.func.sum(mw.c.n_vawg), mw.c.ward_code)
        .limit(1)
    )
    with sample_engine.connect() as conn:
        ward, lcsp = conn.execute(statement).one()
        count = conn.execute(sa.select(sa.func.sum(mw.c.n_vawg)).where(
            mw.c.ward_code == ward, mw.c.month_start >= dt.date(2025, 4, 1),
            mw.c.month_start <= dt.date(2026, 3, 1))).scalar_one()
    withheld = dq.load_withheld(sample_engine, dt.date(2025, 4, 1), dt.date(2026, 3, 1), 7)
    at = open_boards({"fy": "2025/26", "lcsp": lcsp, "ward": ward})
    assert_clean(at)
    shown = metrics(at)["VAWG-flagged offences"]
    # Below partnership level: the year's count (no monthly series), withheld as the rule says.
    if ward in withheld["n_vawg"]:
        assert shown == "withheld"
        assert any("withheld" in c.value for c in at.caption)
    else:
        assert shown == f"{count:,}" and (count == 0 or count > 7)
    assert "1-7" not in " ".join(m.value for m in at.metric)

def test_invalid_link_values_warn_and_fall_back():
    at = open_boards({"board_view": "slideshow", "board": "<script>", "board_slide": "x"})
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    # Each value is named, quoted as code (shown as text, never as markup).
    assert "board_view=`slideshow`" in warning and "board_slide=`x`" in warning
    assert "board=`<script>`" in warning and warning.count("<script>") == 1
    assert at.query_params["board_view"] == "overview"


def test_spc_options_rebase_without_error():
    at = open_boards({"board_view": "detail", "board": "violence_reduction"})
    at.radio(key="boards_limits_from").set_value("First 12 points").run()
    assert_clean(at)
    months = at.selectbox(key="boards_rebase").options
    at.selectbox(key="boards_rebase").set_value(months[len(months) // 2]).run()
    assert_clean(at)
    at.toggle(key="boards_show_rag").set_value(True).run()
    assert_clean(at)
    assert any("target" in m.value.lower() for m in at.markdown)


def test_a_failing_query_shows_a_message_not_a_traceback(monkeypatch):
    from data_access import board_queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(board_queries, "load_measure_counts", broken)
    at = open_boards()
    assert not at.exception
    assert any("could not be shown" in e.value for e in at.error)
    assert not any("boom" in e.value for e in at.error)


def test_a_kpi_added_to_the_database_appears_on_its_board(sample_db_url, tmp_path, monkeypatch):
    copy = tmp_path / "with_new_kpi.duckdb"
    shutil.copyfile(eng.duckdb_path(sample_db_url).resolve(), copy)
    url = f"duckdb:///{copy}"
    months = pd.date_range("2024-04-01", "2026-03-01", freq="MS")
    with eng.write_transaction(url) as conn:
        city = conn.execute(sa.select(schema.areas.c.code).where(
            schema.areas.c.level == "partnership")).scalar_one()
        conn.execute(schema.kpi_definitions.insert().values(
            kpi_id="fgm_referrals", label="Referrals to the FGM clinic",
            board="Violence Against Women and Girls", unit="count", polarity="higher_is_better",
            frequency="monthly", description="New referrals", source="NHS"))
        conn.execute(schema.kpi_values.insert(), [
            {"kpi_id": "fgm_referrals", "area_code": city, "period_start": m.date(),
             "period_grain": "month", "value": 40.0 + n, "is_provisional": False}
            for n, m in enumerate(months)])
    monkeypatch.setenv("DATABASE_URL", url)
    at = open_boards({"fy": "2025/26", "board_view": "detail", "board": "vawg"})
    assert_clean(at)
    assert "Referrals to the FGM clinic" in subheaders(at)
    at = open_boards({"fy": "2025/26"})
    assert metrics(at)["Referrals to the FGM clinic"] == f"{40 + len(months) - 1}"
