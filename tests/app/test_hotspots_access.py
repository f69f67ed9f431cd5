"""The Hotspot map under roles and the one disclosure rule (through app.py, local demo mode).

A sensitive category by LSOA, ward or LCSP: the table, the map's tooltips, its legend and the
CSV download withhold the same areas and carry no withheld number; no withheld area can be
worked out from what the three levels show (checked against the true counts in SQL); a month
range withholds everything sensitive below partnership level; an LCSP manager sees their own
LCSP in full and nothing more; and the view is audited.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import access as store
from data_access import schema
from kpis.disclosure import SUPPRESSION_THRESHOLD, WITHHELD

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/hotspots.py"
FY = (dt.date(2025, 4, 1), dt.date(2026, 3, 1))  # the default period, 2025/26, by month
SEXUAL = "Sexual offences (sensitive: by area only)"
SLAVERY = "Modern slavery (sensitive: by area only)"
CATEGORY = {SEXUAL: "sexual_offences", SLAVERY: "modern_slavery"}
LEVEL_PARAM = {"lsoa": "LSOA", "ward": "Ward", "lcsp": "LCSP"}


@pytest.fixture
def downloads(monkeypatch):
    """The bytes of every download the page offers, by file name (as the button would send)."""
    from pages.common import ui

    seen: dict[str, bytes] = {}
    original = ui.export_button

    def record(label, data, file_name, **kwargs):
        shown = original(label, data, file_name, **kwargs)
        if shown:
            seen[file_name] = data
        return shown

    monkeypatch.setattr(ui, "export_button", record)
    return seen


def open_page(params: dict[str, str], role: str = "analyst", lcsps: list[str] | None = None
              ) -> AppTest:
    """The page through app.py as ``role`` (an LCSP manager of ``lcsps``)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    return rerun_as(at, role, lcsps)


def rerun_as(at: AppTest, role: str, lcsps: list[str] | None = None, **state: str) -> AppTest:
    """Run the page again in the same session (and caches) as ``role``, with widget ``state``."""
    at.session_state["auth_demo_role"] = role
    if lcsps is not None:
        at.session_state["auth_demo_lcsps"] = lcsps
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def area_params(what: str, level: str, **extra: str) -> dict[str, str]:
    return {"hotspots_what": what, "hotspots_view": "By area",
            "hotspots_level": LEVEL_PARAM[level], **extra}


def area_layer(at: AppTest, level: str) -> list[dict]:
    (deck,) = [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]
    layer_id = f"hotspots-areas-{level}"
    return next(layer for layer in deck["layers"] if layer["id"] == layer_id)["data"]


def page_view(at: AppTest, level: str) -> dict:
    """What the page shows by area: table, legend, map records (one per area), as codes."""
    legend, table = at.dataframe[0].value, at.dataframe[1].value
    records = {r["code"]: r for r in area_layer(at, level)}
    return {"table": table.set_index("Code"), "legend": legend, "records": records}


def detail_table(at: AppTest) -> pd.DataFrame:
    """The drill-down's table of incidents by month and category."""
    (table,) = [d.value for d in at.dataframe if "Month" in d.value.columns]
    return table


def shown_values(table: pd.DataFrame) -> dict[str, int | None]:
    """Code -> the count shown (None where withheld)."""
    return {code: None if v == WITHHELD else int(str(v).replace(",", ""))
            for code, v in table["Incidents"].items()}


def true_counts(engine, category: str, months=FY) -> dict[str, dict[str, int]]:
    """The true counts of ``category`` by level -> area code (every area, zeros included), with
    the tree: lsoa -> ward and ward -> LCSP."""
    a, ml = schema.areas, schema.agg_month_lsoa
    with engine.connect() as conn:
        areas = pd.DataFrame(conn.execute(sa.select(a.c.code, a.c.level, a.c.parent_code)).all(),
                             columns=["code", "level", "parent_code"])
        counts = dict(conn.execute(
            sa.select(ml.c.lsoa_code, sa.func.sum(ml.c.n))
            .where(ml.c.category == category, ml.c.month_start.between(*months))
            .group_by(ml.c.lsoa_code)).all())
    parent = dict(zip(areas["code"], areas["parent_code"]))
    out = {"lsoa": {}, "ward": {}, "lcsp": {}}
    for code in areas.loc[areas["level"] == "ward", "code"]:
        out["ward"][code] = 0
    for code in areas.loc[areas["level"] == "lcsp", "code"]:
        out["lcsp"][code] = 0
    for code in areas.loc[areas["level"] == "lsoa", "code"]:
        n = int(counts.get(code, 0))
        out["lsoa"][code] = n
        out["ward"][parent[code]] += n
        out["lcsp"][parent[parent[code]]] += n
    out["parent"] = parent
    return out


def assert_view_agrees(view: dict, truth: dict[str, int], download: bytes | None) -> set[str]:
    """The table, map records, legend and download withhold the same areas, no withheld figure
    is anywhere, and every shown figure is the true one. Returns the withheld codes."""
    table = view["table"]
    values = shown_values(table)
    withheld = {code for code, v in values.items() if v is None}
    for code, v in values.items():
        if v is not None:
            assert v == truth[code], code
    assert table.loc[sorted(withheld), "Per 1,000 residents"].isna().all()
    assert (table.loc[sorted(withheld), "Class"] == WITHHELD).all()
    # The map: a withheld area's tooltip has no number, and its record no other field.
    records = view["records"]
    assert set(records) == set(table.index)
    for code, record in records.items():
        assert set(record) == {"code", "polygon", "name", "fill", "tip"}
        figures = record["tip"].split(":", 1)[1]
        if code in withheld:
            assert not re.search(r"\d", figures), record["tip"]
            assert WITHHELD in figures
        else:
            assert f"{truth[code]:,} incidents" in figures
    legend = view["legend"].set_index("Class")
    if withheld:
        assert legend.loc[WITHHELD, "Areas"] == len(withheld)
    else:
        assert WITHHELD not in legend.index
    if download is not None:
        csv = pd.read_csv(io.BytesIO(download), dtype=str, keep_default_na=False,
                          encoding="utf-8-sig").set_index("Code")
        assert set(csv.index[csv["Incidents"] == WITHHELD]) == withheld
        assert (csv.loc[sorted(withheld), "Per 1,000 residents"] == "").all()
        shown = csv.drop(index=sorted(withheld))
        assert [int(v.replace(",", "")) for v in shown["Incidents"]] == \
            [truth[c] for c in shown.index]
    return withheld


def assert_cannot_be_worked_out(children_of: dict[str, list[str]], parent_withheld: set[str],
                                child_withheld: set[str], truth: dict[str, int]) -> None:
    """Within every shown parent the withheld children are none, or two or more adding up to
    more than the threshold (and than their number); a withheld parent has a withheld child."""
    for parent, children in children_of.items():
        hidden = [truth[c] for c in children if c in child_withheld]
        if parent in parent_withheld:
            assert hidden or not children, f"{parent} is the sum of its shown children"
            continue
        if hidden:
            total = sum(hidden)
            assert len(hidden) >= 2 and total > max(SUPPRESSION_THRESHOLD, len(hidden)), \
                (parent, hidden)


def children(truth: dict, level: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for code in truth[level]:
        out.setdefault(truth["parent"][code], []).append(code)
    return out


@pytest.mark.parametrize("level", ["ward", "lsoa"])
def test_table_map_legend_and_download_withhold_the_same_areas(level, sample_engine, downloads):
    truth = true_counts(sample_engine, "sexual_offences")
    at = open_page(area_params(SEXUAL, level))
    withheld = assert_view_agrees(page_view(at, level), truth[level],
                                  downloads["hotspots_areas.csv"])
    small = {c for c, n in truth[level].items() if 1 <= n <= SUPPRESSION_THRESHOLD}
    assert small and small <= withheld
    # A withheld area is never placed among the others by its hidden value: they come last.
    codes = list(at.dataframe[1].value["Code"])
    assert codes[-len(withheld):] == sorted(withheld)
    assert "withheld" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("what", [SEXUAL, SLAVERY])
def test_no_withheld_area_can_be_worked_out_from_the_other_levels(what, sample_engine, downloads):
    truth = true_counts(sample_engine, CATEGORY[what])
    withheld = {}
    for level in ("lcsp", "ward", "lsoa"):
        at = open_page(area_params(what, level))
        withheld[level] = assert_view_agrees(page_view(at, level), truth[level],
                                             downloads["hotspots_areas.csv"])
    # The partnership total is shown (it is never withheld): its LCSPs, then each LCSP's wards,
    # then each ward's LSOAs.
    assert_cannot_be_worked_out({"partnership": list(truth["lcsp"])}, set(), withheld["lcsp"],
                                truth["lcsp"])
    assert_cannot_be_worked_out(children(truth, "ward"), withheld["lcsp"], withheld["ward"],
                                truth["ward"])
    assert_cannot_be_worked_out(children(truth, "lsoa"), withheld["ward"], withheld["lsoa"],
                                truth["lsoa"])
    assert withheld["ward"] and withheld["lsoa"]
    if what == SLAVERY:  # the sample's case where primary suppression alone would give one away
        small = {c for c, n in truth["lcsp"].items() if 1 <= n <= SUPPRESSION_THRESHOLD}
        assert withheld["lcsp"] - small


def test_a_month_range_withholds_every_sensitive_figure_below_partnership_level(sample_engine):
    months = {"from": "2025-05", "to": "2025-10"}
    for level in ("lcsp", "ward"):
        at = open_page(area_params(SEXUAL, level, **months), role="viewer")
        view = page_view(at, level)
        assert (view["table"]["Incidents"] == WITHHELD).all()
        assert view["table"]["Per 1,000 residents"].isna().all()
        tips = [r["tip"].split(":", 1)[1] for r in view["records"].values()]
        assert tips and not any(re.search(r"\d", tip) for tip in tips)
        assert list(view["legend"]["Class"]) == [WITHHELD]
    # The drill-down of a ward: the sensitive column has no figure, months nor whole period.
    ward = view["table"].index[0]
    at.selectbox(key="hotspots_focus").set_value(f"area:ward:{ward}").run()
    assert not at.exception and not at.error
    detail = detail_table(at)
    assert (detail["Sexual offences"] == WITHHELD).all()
    # A category that is not sensitive keeps its numbers for the same months.
    at = open_page({"hotspots_view": "By area", "hotspots_what": "Burglary",
                    "hotspots_level": "Ward", **months}, role="viewer")
    assert not (at.dataframe[1].value["Incidents"] == WITHHELD).any()


def test_an_lcsp_manager_sees_their_own_wards_in_full_and_no_more(sample_engine, downloads):
    truth = true_counts(sample_engine, "sexual_offences")
    own = "LCSP-N"
    own_wards = {w for w, parent in truth["parent"].items() if parent == own and w in truth["ward"]}
    # A viewer first, in the same session: the manager must not be served the viewer's cells.
    at = open_page(area_params(SEXUAL, "ward"), role="viewer")
    viewer_withheld = {c for c, v in shown_values(at.dataframe[1].value.set_index("Code")).items()
                       if v is None}
    assert viewer_withheld & own_wards
    assert not downloads  # a viewer has no download
    at = rerun_as(at, "lcsp_manager", [own])
    withheld = assert_view_agrees(page_view(at, "ward"), truth["ward"],
                                  downloads["hotspots_areas.csv"])
    assert not withheld & own_wards, "their own LCSP's wards in full"
    assert any(1 <= truth["ward"][w] <= SUPPRESSION_THRESHOLD for w in own_wards)
    others = {w for w in truth["ward"] if w not in own_wards}
    assert {w for w in others if 1 <= truth["ward"][w] <= SUPPRESSION_THRESHOLD} <= withheld
    # What they see of other LCSPs cannot be worked out, even knowing their own wards.
    at = rerun_as(at, "lcsp_manager", [own], hotspots_level="lcsp")
    lcsp_withheld = assert_view_agrees(page_view(at, "lcsp"), truth["lcsp"],
                                       downloads["hotspots_areas.csv"])
    assert own not in lcsp_withheld
    assert_cannot_be_worked_out(children(truth, "ward"), lcsp_withheld, withheld, truth["ward"])
    # The drill-down of one of their wards shows the months; another LCSP's ward does not.
    at = rerun_as(at, "lcsp_manager", [own], hotspots_level="ward")
    busiest_own = max(own_wards, key=truth["ward"].get)
    at.selectbox(key="hotspots_focus").set_value(f"area:ward:{busiest_own}").run()
    detail = detail_table(at)
    assert WITHHELD not in set(detail["Sexual offences"])
    assert detail.iloc[-1]["Sexual offences"] == f"{truth['ward'][busiest_own]:,}"
    other = max(others, key=truth["ward"].get)
    at.selectbox(key="hotspots_focus").set_value(f"area:ward:{other}").run()
    detail = detail_table(at)
    assert (detail["Sexual offences"].iloc[:-1] == WITHHELD).all()
    expected = WITHHELD if other in withheld else f"{truth['ward'][other]:,}"
    assert detail.iloc[-1]["Sexual offences"] == expected  # the same cell as on their map


def test_the_drill_down_withholds_months_and_the_same_whole_period_as_the_map(sample_engine):
    truth = true_counts(sample_engine, "sexual_offences")
    at = open_page(area_params(SEXUAL, "ward"), role="viewer")
    values = shown_values(at.dataframe[1].value.set_index("Code"))
    for code in (next(c for c, v in values.items() if v is None),
                 next(c for c, v in values.items() if v)):
        at.selectbox(key="hotspots_focus").set_value(f"area:ward:{code}").run()
        assert not at.exception and not at.error
        detail = detail_table(at)
        assert detail.iloc[-1]["Month"] == "Whole period"
        assert (detail["Sexual offences"].iloc[:-1] == WITHHELD).all()
        expected = WITHHELD if values[code] is None else f"{truth['ward'][code]:,}"
        assert detail.iloc[-1]["Sexual offences"] == expected
        assert "monthly figures are withheld" in " ".join(c.value for c in at.caption)
    assert not at.get("download_button"), "a viewer has no downloads"
    # "All recorded crime" by area leaves the sensitive categories out (rule 4), drill-down too.
    at = open_page({"hotspots_view": "By area", "hotspots_what": "All recorded crime"},
                   role="viewer")
    code = next(c for c, v in values.items() if v is None)
    at.selectbox(key="hotspots_focus").set_value(f"area:ward:{code}").run()
    detail = detail_table(at)
    assert "Sexual offences" not in detail.columns and "Modern slavery" not in detail.columns
    assert pd.api.types.is_integer_dtype(detail["Burglary"])  # other categories keep numbers


def test_a_sensitive_category_by_area_is_audited(sample_db_url):
    engine = store.make_access_engine(store.access_url(sample_db_url))

    def lines() -> int:
        audit = store.load_audit(engine, action="view", limit=10_000)
        return int(((audit["page"] == "hotspots")
                    & audit["detail"].str.startswith("Sexual offences by Ward;")).sum())

    try:
        before = lines()
        open_page(area_params(SEXUAL, "ward"), role="viewer")
        assert lines() == before + 1
        open_page({"hotspots_view": "By area", "hotspots_what": "Burglary"}, role="viewer")
        assert lines() == before + 1  # not for a category that is not sensitive
    finally:
        engine.dispose()


def test_an_lcsps_unlocated_count_of_a_sensitive_category_is_not_given(monkeypatch):
    from data_access import hotspot_queries

    # The sample places every incident: say that 3 of 120 in the LCSP have no location.
    def load_selection_total(engine, **params) -> dict[str, int]:
        return {"n": 120, "unlocated": 3}

    # (the result cache finds a query by its module and name)
    load_selection_total.__module__ = hotspot_queries.__name__
    monkeypatch.setattr(hotspot_queries, "load_selection_total", load_selection_total)
    params = area_params(SEXUAL, "ward", lcsp="LCSP-N")
    at = open_page(params, role="viewer")
    notes = " ".join(c.value for c in at.caption)
    assert "Some incidents have no location" in notes and "3 of 120" not in notes
    at = open_page(params, role="lcsp_manager", lcsps=["LCSP-N"])
    assert "3 of 120 incidents have no location" in " ".join(c.value for c in at.caption)
    at = open_page({**params, "hotspots_what": "Burglary"}, role="viewer")
    assert "3 of 120 incidents have no location" in " ".join(c.value for c in at.caption)
