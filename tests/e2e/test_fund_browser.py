"""The Community Safety Fund page in a real browser: ``streamlit run app.py`` in a subprocess on
a copy of the sample database with the fund tables added, opened in Debian's chromium (never a
downloaded browser) by a link to 2017/18, every section opened by clicking its tab.

Server and page helpers come from ``browser_support``; the browser and screenshot folder are the
fixtures of ``conftest.py``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from browser_support import TIMEOUT_MS, problems_on, streamlit_server, wait_until_idle

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1400, "height": 2000}
FUND_TABLES = ("fund_years", "fund_projects", "fund_allocations", "fund_spend", "fund_returns")
SECTIONS = {  # tab label -> text drawn outside a table (tables are drawn on a canvas)
    "Summary": "Resources = grant - top-slice",
    "Priorities and LCSPs": "By LCSP",
    "Projects": "Carry-forward projects",
    "Spend profile": "dashed line with diamonds",
    "OPCC returns": "5 of 6 submitted, 1 late.",
    "Decisions register": "56 of 56 bids (2017/18)",
    "All years": "Per year and priority",
}

@pytest.fixture(scope="module")
def fund_db_url(sample_db_url, tmp_path_factory) -> str:
    """A copy of the shared sample database (built without the fund) with the fund added."""
    from data_access import engine as eng
    from data_access import loading, schema
    from sample_data.fund import fund_frames
    from sample_data.generator import DEFAULT_SEED

    target = tmp_path_factory.mktemp("fund_e2e_db") / "csp_fund.duckdb"
    shutil.copyfile(os.path.realpath(eng.duckdb_path(sample_db_url)), target)
    url = f"duckdb:///{target}"
    frames = fund_frames(DEFAULT_SEED, [2024, 2025, 2026])
    with eng.write_transaction(url) as conn:
        for name in FUND_TABLES:
            loading.bulk_insert(conn, schema.metadata.tables[name], frames[name])
    return url


@pytest.fixture(scope="module")
def fund_server(fund_db_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("fund_server") / "log.txt"
    with streamlit_server(fund_db_url, log) as base:
        yield base


def test_fund_page_2017_18_by_its_link_and_every_section(browser, fund_server, shots):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{fund_server}/fund?fund_year=2017/18", timeout=TIMEOUT_MS)
        page.get_by_role("heading", name="Community Safety Fund", exact=True).first.wait_for(
            timeout=TIMEOUT_MS)
        wait_until_idle(page)
        metrics = page.locator('[data-testid="stMetric"]')
        # Each figure must appear in a metric card; waiting for each (rather than reading the
        # cards once) rides out a rerun that is still replacing them.
        for expected in ("£1,990k", "£1,844k + £146k", "£1,976k", "£14k", "£1,528k", "77%",
                         "of allocation"):
            metrics.filter(has_text=expected).first.wait_for(timeout=TIMEOUT_MS)
        page.get_by_text("£1,844k grant (£1,873k less £29k top-slice) + £146k carry-forward "
                         "approved").first.wait_for(timeout=TIMEOUT_MS)
        assert problems_on(page) == []
        assert "fund_year=2017%2F18" in page.url or "fund_year=2017/18" in page.url
        page.get_by_role("button", name="Financial return (XLSX)").wait_for(timeout=TIMEOUT_MS)

        for label, marker in SECTIONS.items():
            page.get_by_role("tab", name=label, exact=True).click()
            page.get_by_text(marker, exact=False).first.wait_for(timeout=TIMEOUT_MS)
            wait_until_idle(page)
            assert problems_on(page) == [], label
            slug = label.lower().replace(" ", "_")
            page.screenshot(path=str(shots / f"fund-2017-18-{slug}.png"), full_page=True)
        assert "fund_section=years" in page.url
    finally:
        page.close()
