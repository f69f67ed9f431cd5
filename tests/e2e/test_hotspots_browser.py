"""The Hotspot map in a real browser: the map draws, a click on a cell or an area selects it
(pydeck ``on_select="rerun"``) and opens its details under the map, and the tooltip of an area
whose sensitive count is withheld shows no number.

``streamlit run app.py`` on the small sample database, Debian's chromium (never a downloaded
browser). Screenshots go to a temporary folder (E2E_SCREENSHOT_DIR to keep them), never into the
repository.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from browser_support import streamlit_server

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

TIMEOUT_MS = 90_000
# Points inside the map (fractions of its width and height) to try in turn: the city centre,
# where cells are densest, first.
CLICK_POINTS = ((0.45, 0.55), (0.5, 0.5), (0.4, 0.5), (0.55, 0.6), (0.5, 0.4), (0.35, 0.6))

@pytest.fixture(scope="module")
def base_url(sample_db_url, tmp_path_factory):
    with streamlit_server(sample_db_url, tmp_path_factory.mktemp("logs") / "streamlit.log") as base:
        yield base


def _settle(page) -> None:
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1500, "height": 1900})
    page.goto(url, timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Hotspot map", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stDeckGlJsonChart"] canvas').first.wait_for(timeout=TIMEOUT_MS)
    _settle(page)
    return page


def _click_until(page, expected: str) -> bool:
    """Click points of the map until ``expected`` appears in the page (a selection was made).

    Each point is hovered first and clicked only once deck.gl shows its tooltip there: the map
    is then drawn and something pickable is under the pointer (on a busy machine the first
    frames can take a few seconds).
    """
    chart = page.locator('[data-testid="stDeckGlJsonChart"]').first
    tooltip = page.locator(".deck-tooltip")
    for _ in range(2):
        for fx, fy in CLICK_POINTS:
            box = chart.bounding_box()
            x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
            page.mouse.move(x - 3, y - 3)
            page.mouse.move(x, y)
            try:
                tooltip.first.wait_for(state="visible", timeout=3000)
            except sync_api.TimeoutError:
                continue
            page.mouse.click(x, y)
            _settle(page)
            try:
                page.get_by_text(expected).first.wait_for(timeout=5000)
                return True
            except sync_api.TimeoutError:
                continue
    return False


def _no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_clicking_a_cell_opens_its_details(browser, base_url, shots):
    page = _open(browser, f"{base_url}/hotspots")
    try:
        _no_errors(page)
        assert page.get_by_text("Hotspot Index = a cell's count").count()
        assert _click_until(page, "Busiest locations here"), "no click selected a cell"
        # the details heading, e.g. "250 m cell in Ladywood", and the links (waited for: the
        # script may still be drawing the rest of the details)
        page.get_by_text("m cell in").first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_role("link", name="Priority boards for").first.wait_for(timeout=TIMEOUT_MS)
        _no_errors(page)
        page.screenshot(path=str(shots / "hotspots_cell_click.png"), full_page=True)
    finally:
        page.close()


def test_clicking_an_area_opens_its_details(browser, base_url, shots):
    page = _open(browser, f"{base_url}/hotspots?hotspots_view=By+area")
    try:
        page.get_by_text("Wards by count").first.wait_for(timeout=TIMEOUT_MS)
        assert _click_until(page, "Busiest locations here"), "no click selected an area"
        page.get_by_role("link", name="ASB calendar for").first.wait_for(timeout=TIMEOUT_MS)
        _no_errors(page)
        page.screenshot(path=str(shots / "hotspots_area_click.png"), full_page=True)
    finally:
        page.close()


def _tooltips(page, points) -> list[str]:
    """The deck.gl tooltip text at each point of the map that shows one."""
    chart = page.locator('[data-testid="stDeckGlJsonChart"]').first
    tooltip = page.locator(".deck-tooltip").first
    texts = []
    for fx, fy in points:
        box = chart.bounding_box()
        x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
        page.mouse.move(x - 3, y - 3)
        page.mouse.move(x, y)
        try:
            tooltip.wait_for(state="visible", timeout=3000)
        except sync_api.TimeoutError:
            continue
        texts.append(tooltip.inner_text())
    return texts


def test_a_withheld_area_shows_no_number_in_its_tooltip(browser, base_url, shots):
    query = urlencode({"hotspots_view": "By area", "hotspots_level": "LSOA",
                       "hotspots_what": "Sexual offences (sensitive: by area only)"})
    page = _open(browser, f"{base_url}/hotspots?{query}")
    try:
        page.get_by_text("LSOAs by count").first.wait_for(timeout=TIMEOUT_MS)
        _no_errors(page)
        # Most LSOAs are withheld for a sensitive category over a year: a grid of points over
        # the city finds some.
        points = [(0.3 + 0.1 * i, 0.3 + 0.1 * j) for i in range(5) for j in range(5)]
        texts = _tooltips(page, points)
        withheld = [t for t in texts if "withheld" in t]
        assert withheld, texts
        for text in withheld:
            assert not re.search(r"\d", text.split(":", 1)[1]), text
        page.screenshot(path=str(shots / "hotspots_withheld_tooltip.png"), full_page=True)
    finally:
        page.close()
