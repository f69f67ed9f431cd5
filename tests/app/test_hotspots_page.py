"""The Hotspot map page through app.py: every view renders from the aggregates, the figures match
direct SQL, sensitive categories never reach cells (by area, under the disclosure rule: see
tests/app/test_hotspots_access.py), the drill-down works, a map click (sent by the browser) counts
only for a cell or area drawn on the map and is named from the page's data, and the map payload
stays under 2 MB at the default view."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import schema
from kpis import disclosure
from kpis import hotspots as hs
from kpis.periods import fy_period

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/hotspots.py"
FY = (dt.date(2025, 4, 1), dt.date(2026, 3, 1))  # the default period: 2025/26, by month
MAX_PAYLOAD = 2 * 1024 * 1024
VIEW_LABELS = {"index": "Hotspot Index", "gi": "Significance (Gi*)", "trend": "Emerging and persistent",
               "areas": "By area", "repeat": "Repeat locations"}


def open_page(query_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in (query_params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def decks(at: AppTest) -> list[dict]:
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def sql_scalar(engine, statement) -> int:
    with engine.connect() as conn:
        return int(conn.execute(statement).scalar_one() or 0)


def test_default_view_is_the_hotspot_index_with_five_classes(sample_engine):
    at = open_page()
    assert "Hotspot map" in [t.value for t in at.title]
    (deck,) = decks(at)
    layer_ids = [layer.get("id") for layer in deck["layers"]]
    assert all(layer_ids) and len(set(layer_ids)) == len(layer_ids)  # fixed, distinct ids
    assert "hotspots-index-250" in layer_ids
    legend = at.dataframe[0].value
    assert list(legend["Class"]) == list(hs.HOTSPOT_CLASS_LABELS)
    # The busiest cell on the map and in the table is the busiest 250 m cell in SQL
    # (non-sensitive categories only, domestic abuse left out).
    cm, cats = schema.agg_cell_month, schema.categories
    per_cell = (
        sa.select(cm.c.cell_id, sa.func.sum(cm.c.n - cm.c.n_domestic_abuse).label("n"))
        .select_from(cm.join(cats, sa.and_(cats.c.source == cm.c.source, cats.c.category == cm.c.category)))
        .where(cm.c.cell_size == 250, cm.c.month_start.between(*FY), cats.c.is_sensitive.is_(False))
        .group_by(cm.c.cell_id).subquery()
    )
    busiest = sql_scalar(sample_engine, sa.select(sa.func.max(per_cell.c.n)))
    table = at.dataframe[1].value
    assert table["Incidents"].iloc[0] == busiest
    cells = next(layer for layer in deck["layers"] if layer["id"] == "hotspots-index-250")["data"]
    assert max(c["n"] for c in cells) == busiest
    assert sum(legend["Cells"]) >= len(cells)  # empty cells of the area are counted, not drawn
    assert "mean count of all" in captions(at) and "synthetic" in captions(at)


@pytest.mark.parametrize("view", list(VIEW_LABELS))
def test_every_view_renders_from_a_link(view):
    at = open_page({"hotspots_view": VIEW_LABELS[view]})
    (deck,) = decks(at)
    assert all(layer.get("id") for layer in deck["layers"])
    assert len(at.get("deck_gl_json_chart")[0].proto.json.encode()) < MAX_PAYLOAD
    assert at.dataframe, "a table beside the map"
    assert at.get("download_button"), "a download beside the table"


def test_map_payload_stays_under_2_mb_at_the_default_view(app_database):
    import streamlit as st

    from pages import hotspots as page
    from pages.common.shell import Filters

    period = fy_period(2025)
    filters = Filters(period=period, previous=period.previous_year(), lcsp=None, ward=None,
                      lcsp_name=None, ward_name=None, membership_fy=2025,
                      data_end=dt.date(2026, 10, 31))
    categories = page.cached(page.hq.load_hotspot_categories)
    selection = page.selection_options(categories)["all"]
    settings = page.HotspotSettings(selection, "index", 250, "ward", "count", "quantiles",
                                    "index", False, ("pspo", "cctv", "knife_arch"))
    region = page.load_region(filters)
    data = page.compute_index_view(filters, settings, region)
    assert data.cell_size == 250 and len(data.records) > 1000
    deck = page.hotspot_deck(data, page.load_outlines(filters),
                             page.load_overlay_records(filters, settings.overlays),
                             page.view_state_for(region.boundary))
    payload = deck.to_json().encode()
    assert len(payload) < MAX_PAYLOAD, f"{len(payload):,} bytes"
    # pydeck's own indented JSON would be about three times bigger: the compact form matters.
    assert len(payload) * 2 < len(page.pdk.bindings.json_tools.serialize(deck).encode())
    st.cache_data.clear()


def test_a_coarser_cell_size_is_used_when_the_map_would_be_too_big(monkeypatch):
    monkeypatch.setattr(hs, "MAX_MAP_CELLS", 1000)
    at = open_page()
    assert "so the map uses 500 m cells" in captions(at) or "so the map uses 1000 m cells" in captions(at)
    (deck,) = decks(at)
    cells = next(layer for layer in deck["layers"] if layer["id"].startswith("hotspots-index-"))["data"]
    assert len(cells) <= 1000


def test_sensitive_categories_are_never_cells_only_areas_with_small_counts_withheld(sample_engine):
    what = "Sexual offences (sensitive: by area only)"
    at = open_page({"hotspots_what": what})
    assert not decks(at)
    assert any("never drawn as grid cells" in i.value for i in at.info)

    at = open_page({"hotspots_what": what, "hotspots_view": "By area", "hotspots_level": "LSOA"})
    (deck,) = decks(at)
    assert [layer["id"] for layer in deck["layers"] if layer["id"] == "hotspots-areas-lsoa"]
    table = at.dataframe[1].value
    assert len(table) == 650
    assert (table["Incidents"] == disclosure.WITHHELD).any()
    assert table.loc[table["Incidents"] == disclosure.WITHHELD, "Per 1,000 residents"].isna().all()
    shown = pd.to_numeric(table["Incidents"].str.replace(",", ""), errors="coerce").dropna()
    assert ((shown == 0) | (shown > 7)).all()
    assert "sensitive category" in captions(at)
    assert disclosure.note(disclosure.DisclosureRule()) in captions(at)
    # The grid views of all crime leave sensitive categories out, and say so.
    at = open_page({"hotspots_what": "All recorded crime"})
    assert "left out of grid cells" in captions(at)


def test_ward_choropleth_totals_equal_sql_and_rates_use_population(sample_engine):
    at = open_page({"hotspots_view": "By area"})
    table = at.dataframe[1].value
    mw = schema.agg_month_ward
    # Sensitive categories are left out of totals below partnership level (mapped on their own).
    total = sql_scalar(sample_engine, sa.select(sa.func.sum(mw.c.n)).where(
        mw.c.month_start.between(*FY), mw.c.ward_code != "",
        mw.c.category.notin_(("sexual_offences", "modern_slavery"))))
    assert len(table) == 69 and table["Incidents"].sum() == total
    assert any("left out of this total" in c.value for c in at.caption)
    row = table.iloc[0]
    assert row["Per 1,000 residents"] == pytest.approx(row["Incidents"] * 1000 / row["Residents"], abs=0.05)


def test_an_lcsp_and_an_asb_type_narrow_the_map(sample_engine):
    at = open_page({"lcsp": "LCSP-N", "hotspots_view": "By area", "hotspots_what": "All anti-social behaviour"})
    asb = at.selectbox(key="hotspots_asb_type")
    youth = next(o for o in asb.options if "outh" in o)
    asb.set_value("youth").run()
    assert not at.exception
    table = at.dataframe[1].value
    mw = schema.agg_month_ward
    expected = sql_scalar(sample_engine, sa.select(sa.func.sum(mw.c.n)).where(
        mw.c.month_start.between(*FY), mw.c.lcsp_code == "LCSP-N", mw.c.subcategory == "youth"))
    assert table["Incidents"].sum() == expected > 0
    assert youth


def test_choosing_a_cell_shows_its_counts_locations_and_links():
    at = open_page()
    focus = at.selectbox(key="hotspots_focus")
    assert focus.options[1].startswith("Cell in ")
    (deck,) = decks(at)
    busiest = next(layer for layer in deck["layers"] if layer["id"] == "hotspots-index-250")["data"][0]
    # (AppTest's select_index does not map formatted labels back to values: set the value.)
    focus.set_value(f"cell:250:{busiest['cell']}").run()
    assert not at.exception and not at.error
    assert "**Busiest locations here**" in [m.value for m in at.markdown]
    links = at.get("page_link")
    targets = {link.proto.page for link in links}
    assert any("boards" in t for t in targets) and any("calendar" in t for t in targets)
    # The cell is outlined on the map.
    (deck,) = decks(at)
    assert "hotspots-focus" in [layer["id"] for layer in deck["layers"]]


def test_choosing_an_area_in_the_list_shows_its_detail():
    at = open_page({"hotspots_view": "By area"})
    ward = at.dataframe[1].value["Code"].iloc[0]
    at.selectbox(key="hotspots_focus").set_value(f"area:ward:{ward}").run()
    assert not at.exception and not at.error
    assert "**Incidents by month and category**" in [m.value for m in at.markdown]
    assert at.selectbox(key="hotspots_focus").value == f"area:ward:{ward}"
    links = at.get("page_link")
    assert links and all(f"ward={ward}" in str(link.proto) or ward in str(link.proto) for link in links)


def test_a_map_click_is_read_from_the_selection_state():
    from pages import hotspots as page

    data = page.ViewData(layer_id="hotspots-index-250", kind="cells", cell_size=250, records=[
        {"cell": 163001150, "position": [-1.9, 52.48], "n": 42, "tip": "42 incidents"}])
    state = {"selection": {"indices": {"hotspots-index-250": [0]}, "objects": {
        "hotspots-index-250": [{"cell": 163001150, "n": 42, "tip": "42 incidents"}]}}}
    # A selection left from the 500 m layer is not read as a 250 m cell.
    stale = {"selection": {"objects": {"hotspots-index-500": [{"cell": 1, "tip": ""}]}}}
    assert page.pick_from(stale, data) is None
    assert page.pick_from(state, data) == ("cell:250:163001150", "The cell clicked: 42 incidents")
    other_layer = {"selection": {"objects": {"hotspots-overlay-pspo": [{"tip": "PSPO"}]}}}
    assert page.pick_from(other_layer, data) is None
    assert page.pick_from(None, data) is None
    areas = page.ViewData(layer_id="hotspots-areas-lsoa", kind="areas", level="lsoa",
                          records=[{"code": "SL0001", "name": "Acocks Green A", "tip": "x"}])
    state = {"selection": {"objects": {"hotspots-areas-lsoa": [{"code": "SL0001", "name": "Acocks Green A"}]}}}
    assert page.pick_from(state, areas) == ("area:lsoa:SL0001", "Acocks Green A")


HOSTILE_NAME = "[click](javascript:alert(1)) ![p](https://example.invalid/p.png)"


@pytest.mark.parametrize("obj", [
    {"cell": 163001150, "tip": HOSTILE_NAME},  # a cell not drawn on this map
    {"cell": "163001150"}, {"cell": "1; DROP TABLE incidents"}, {"cell": 10 ** 40},
    {"cell": 1.5}, {"cell": True}, {"cell": None}, {"cell": [1]}, {"cell": {"a": 1}},
    {"tip": "no cell"}, "not an object", None, 42,
])
def test_a_crafted_click_on_cells_is_no_click(obj):
    from pages import hotspots as page

    data = page.ViewData(layer_id="hotspots-index-250", kind="cells", cell_size=250, records=[
        {"cell": 163001151, "position": [-1.9, 52.48], "n": 3, "tip": "3 incidents"}])
    assert page.pick_from({"selection": {"objects": {data.layer_id: [obj]}}}, data) is None
    for state in ({"selection": {"objects": {data.layer_id: obj}}}, {"selection": obj},
                  {"selection": {"objects": obj}}, obj, [obj], "text"):
        assert page.pick_from(state, data) is None
    # The label of a real cell comes from the page's own records, never from the click.
    clicked = {"selection": {"objects": {
        data.layer_id: [{"cell": 163001151, "tip": HOSTILE_NAME}]}}}
    assert page.pick_from(clicked, data) == ("cell:250:163001151", "The cell clicked: 3 incidents")


@pytest.mark.parametrize("code", ["SW999", "", None, 7, ["SW001"], {"code": "SW001"},
                                  "SW001:x", "' OR 1=1 --"])
def test_a_crafted_click_on_areas_is_no_click(code):
    from pages import hotspots as page

    data = page.ViewData(layer_id="hotspots-areas-ward", kind="areas", level="ward",
                         records=[{"code": "SW001", "name": "Acocks Green", "tip": "x"}])
    state = {"selection": {"objects": {data.layer_id: [{"code": code, "name": HOSTILE_NAME}]}}}
    assert page.pick_from(state, data) is None
    state = {"selection": {"objects": {data.layer_id: [{"code": "SW001", "name": HOSTILE_NAME}]}}}
    assert page.pick_from(state, data) == ("area:ward:SW001", "Acocks Green")


def _proto_text(at: AppTest) -> str:
    return " ".join(str(node.proto) for node in at._tree if getattr(node, "proto", None))


def test_a_crafted_map_click_from_the_browser_changes_nothing():
    # The map's selection state is what the browser sends: a crafted one must not raise, nor
    # choose an area that is not on the map, nor put its text on the page.
    at = open_page({"hotspots_view": "By area"})
    layer = next(layer["id"] for layer in decks(at)[0]["layers"]
                 if layer["id"].startswith("hotspots-areas-"))
    for obj in ({"code": "SW999", "name": HOSTILE_NAME}, {"code": ["SW001"]}, {"code": None},
                "not an object"):
        at.session_state["hotspots_map"] = {"selection": {"indices": {layer: [0]},
                                                          "objects": {layer: [obj]}}}
        at.run()
        assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
        assert at.selectbox(key="hotspots_focus").value in ("", None)
        assert "example.invalid" not in _proto_text(at)
    # A real area clicked: chosen, and named from the page's data, not from the click.
    code = at.dataframe[1].value["Code"].iloc[0]
    name = at.dataframe[1].value.iloc[0, 0]
    at.session_state["hotspots_map"] = {"selection": {"indices": {layer: [0]}, "objects": {
        layer: [{"code": code, "name": HOSTILE_NAME}]}}}
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="hotspots_focus").value == f"area:ward:{code}"
    assert "example.invalid" not in _proto_text(at)
    # The detail's title: the area's name and code, escaped (plain text shows them as written).
    assert any(m.value.replace("\\", "").startswith(f"**{name} ({code})**") for m in at.markdown)

    at = open_page()  # the Hotspot Index: cells
    layer = next(layer["id"] for layer in decks(at)[0]["layers"]
                 if layer["id"].startswith("hotspots-index-"))
    for cell in ("abc", 10 ** 40, 1, {"x": 1}):
        at.session_state["hotspots_map"] = {"selection": {"indices": {layer: [0]},
                                                          "objects": {layer: [{"cell": cell}]}}}
        at.run()
        assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
        assert at.selectbox(key="hotspots_focus").value in ("", None)


def test_a_failing_query_gives_a_message_not_a_traceback(monkeypatch):
    from data_access import hotspot_queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(hotspot_queries, "load_cell_counts", broken)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("could not be shown" in e.value for e in at.error)
    assert not any("boom" in e.value for e in at.error)
