"""The real thing: ``streamlit run app.py`` in a subprocess, every page opened by its URL in
Debian's chromium (never a downloaded browser), checked for its heading and for error boxes.

Deep links are opened on a freshly started server: until ``st.navigation`` has run once in the
process, Streamlit's old automatic page list would answer them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from browser_support import ROOT, TIMEOUT_MS, streamlit_server, wait_for_drawing

pytestmark = pytest.mark.e2e

# url path -> (page file, heading); the Overview is the home page, at "/".
PAGES = {
    "data_status": ("pages/data_status.py", "Data status"),
    "": ("pages/overview.py", "Overview"),
    "boards": ("pages/boards.py", "Priority boards"),
    "asb_calendar": ("pages/asb_calendar.py", "ASB seasonality calendar"),
    "hotspots": ("pages/hotspots.py", "Hotspot map"),
    "fund": ("pages/fund.py", "Community Safety Fund"),
    "explorer": ("pages/explorer.py", "Data explorer"),
    "admin": ("pages/admin.py", "Administration"),
}
VIEWPORT = {"width": 1366, "height": 1600}  # a laptop width; tall, as Streamlit scrolls inside


def open_page(browser, url: str, heading: str, screenshot: Path, expect_text=()):
    """Open ``url``, wait for ``heading``, any ``expect_text`` and the script to finish.

    Returns (exception boxes, error texts, h1 headings, final URL, sidebar box values).
    """
    page = browser.new_page(viewport=VIEWPORT)
    started = time.monotonic()
    try:
        page.goto(url, timeout=TIMEOUT_MS)
        page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                               timeout=TIMEOUT_MS)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden",
                               timeout=TIMEOUT_MS)
        for text in expect_text:
            page.get_by_text(text, exact=False).first.wait_for(timeout=TIMEOUT_MS)
        print(f"{url}: ready in {time.monotonic() - started:.1f} s")
        wait_for_drawing(page)
        page.screenshot(path=str(screenshot), full_page=True)
        exceptions = page.locator('[data-testid="stException"]').count()
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        # Streamlit's own "Page not found" box (a deep link it could not route)
        errors += [t for t in page.get_by_role("dialog").all_inner_texts() if "not found" in t]
        headings = page.locator("h1").all_inner_texts()
        boxes = {
            box.get_attribute("aria-label"): box.input_value()
            for box in page.locator('[data-testid="stSidebar"] input[role="combobox"]').all()
        }
        return exceptions, errors, headings, page.url, boxes
    finally:
        page.close()


@pytest.fixture(scope="module")
def server(sample_db_url, tmp_path_factory):
    """One freshly started server for this module: the first test's request is its first."""
    with streamlit_server(sample_db_url, tmp_path_factory.mktemp("server") / "log.txt") as base:
        yield base


def test_a_deep_link_with_filters_on_a_fresh_server(browser, server, shots):
    # The server has answered nothing yet: the old automatic page list would serve this file
    # alone; it must come through app.py (the sidebar filters prove it) and keep its filters.
    exceptions, errors, headings, final_url, boxes = open_page(
        browser, f"{server}/data_status?fy=2024/25&lcsp=LCSP-N", "Data status",
        shots / "fresh-deep-link.png")
    assert exceptions == 0 and errors == []
    assert boxes["Financial year"] == "2024/25" and boxes["LCSP"] == "North"
    assert "Overview" not in headings
    assert "/data_status?" in final_url
    assert "fy=2024" in final_url and "lcsp=LCSP-N" in final_url


def test_every_page_by_its_link(browser, server, shots):
    for url_path, (file_name, heading) in PAGES.items():
        assert (ROOT / file_name).exists(), f"{file_name} is missing"
        exceptions, errors, headings, final_url, _ = open_page(
            browser, f"{server}/{url_path}", heading, shots / f"{url_path or 'home'}.png")
        assert exceptions == 0, f"{url_path}: exception box shown"
        assert errors == [], f"{url_path}: {errors}"
        assert heading in [h.strip() for h in headings], f"{url_path}: headings {headings}"
        if url_path:
            assert "Overview" not in headings, "the deep link fell back to the home page"
        assert final_url.split("?")[0].rstrip("/") == f"{server}/{url_path}".rstrip("/")


def test_a_copied_overview_link_reproduces_the_view(browser, server, shots):
    exceptions, errors, _, final_url, boxes = open_page(
        browser, f"{server}/?from=2025-04&to=2025-09&lcsp=LCSP-S", "Overview",
        shots / "overview-link.png", expect_text=("Apr 2025 to Sep 2025 · South LCSP",))
    assert exceptions == 0 and errors == []
    assert boxes["LCSP"] == "South"
    assert "from=2025-04" in final_url and "lcsp=LCSP-S" in final_url


def test_a_download_is_written_to_the_audit_log(browser, server, sample_db_url):
    """Each click on a download goes in the audit log (who, which file, how many rows)."""
    from data_access import access as store

    engine = store.make_access_engine(store.access_url(sample_db_url))
    store.ensure_access_store(engine)

    def exports() -> int:
        log = store.load_audit(engine, action="export", limit=10_000)
        return int((log["file_name"] == "overview_headlines.csv").sum())

    before = exports()
    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    try:
        page.goto(f"{server}/?fy=2025/26", timeout=TIMEOUT_MS)
        button = page.get_by_role("button", name="Download headline figures (CSV)")
        button.wait_for(timeout=TIMEOUT_MS)
        with page.expect_download(timeout=TIMEOUT_MS) as download:
            button.click()
        assert download.value.suggested_filename == "overview_headlines.csv"
        deadline = time.monotonic() + 20
        while exports() == before and time.monotonic() < deadline:
            time.sleep(0.3)
        assert exports() == before + 1
        line = store.load_audit(engine, action="export", limit=1).iloc[0]
        assert line["user_email"] == "demo@localhost" and line["user_role"] == "admin"
        assert line["rows"] == 8  # the eight headline measures
    finally:
        page.close()
        engine.dispose()
