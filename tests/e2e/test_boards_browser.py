"""Priority boards in a real browser: board detail by its link, and meeting mode driven by its
Next button and the Right arrow key, on a fresh ``streamlit run app.py`` (Debian's chromium)."""

from __future__ import annotations

import pytest

from browser_support import TIMEOUT_MS, problems_on, streamlit_server, wait_until_idle

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1400, "height": 1800}


@pytest.fixture(scope="module")
def server(sample_db_url, tmp_path_factory):
    with streamlit_server(sample_db_url, tmp_path_factory.mktemp("boards") / "log.txt") as base:
        yield base


def _open(browser, url: str):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url, timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Priority boards", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    wait_until_idle(page)
    return page


def test_board_detail_by_its_link(browser, server, shots):
    page = _open(browser, f"{server}/boards?board_view=detail&board=violence_reduction&fy=2025/26")
    try:
        page.get_by_text("Violence with injury per 1,000 residents").first.wait_for(timeout=TIMEOUT_MS)
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # SPC charts drawn
        assert problems_on(page) == []
        assert "board=violence_reduction" in page.url
        page.screenshot(path=str(shots / "boards-detail.png"), full_page=True)
    finally:
        page.close()


def test_meeting_mode_steps_through_the_slides(browser, server, shots):
    page = _open(browser, f"{server}/boards?board_view=meeting")
    try:
        # One KPI per screen, large type, no sidebar.
        title = page.locator(".boards-slide-title")
        title.first.wait_for(timeout=TIMEOUT_MS)
        first = title.first.inner_text()
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        page.get_by_role("button", name="Next").click()
        wait_until_idle(page)
        page.wait_for_function(
            "t => document.querySelector('.boards-slide-title')?.innerText !== t", arg=first,
            timeout=TIMEOUT_MS)
        second = title.first.inner_text()
        page.keyboard.press("ArrowRight")
        wait_until_idle(page)
        page.wait_for_function(
            "t => document.querySelector('.boards-slide-title')?.innerText !== t", arg=second,
            timeout=TIMEOUT_MS)
        assert len({first, second, title.first.inner_text()}) == 3
        assert problems_on(page) == []
        page.screenshot(path=str(shots / "boards-meeting.png"), full_page=True)
    finally:
        page.close()
