"""The Community Safety Fund page in a real browser: ``streamlit run app.py`` in a subprocess on
a copy of the sample database with the fund tables added, opened in Debian's chromium (never a
downloaded browser) by a link to 2017/18, every section opened by clicking its tab.

The server and browser fixtures of ``test_browser.py`` live in that module, so this module has
its own small ones (same launch flags). Screenshots go to a temporary folder, or to
E2E_SCREENSHOT_DIR (outside the repository) to keep them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 2000}
TIMEOUT_MS = 60_000
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

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(database_url: str, log_path: Path):
    """A fresh ``streamlit run app.py`` on a free port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def fund_server(fund_db_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("fund_server") / "log.txt"
    with streamlit_server(fund_db_url, log) as base:
        yield base


@pytest.fixture(scope="module")
def fund_browser():
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def fund_shots(tmp_path_factory) -> Path:
    folder = os.environ.get("E2E_SCREENSHOT_DIR")
    if folder:
        path = Path(folder).resolve()
        if ROOT in path.parents or path == ROOT:
            raise ValueError("E2E_SCREENSHOT_DIR must be outside the repository")
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("fund_screenshots")


def wait_until_idle(page) -> None:
    """The script has finished and every chart and table has drawn."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden", timeout=TIMEOUT_MS)
    charts = page.locator('[data-testid="stPlotlyChart"]:visible')
    for index in range(charts.count()):
        charts.nth(index).locator(".main-svg").first.wait_for(timeout=TIMEOUT_MS)
    tables = page.locator('[data-testid="stDataFrame"]:visible')
    for index in range(tables.count()):
        tables.nth(index).locator("canvas").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)


def problems_on(page) -> list[str]:
    """Exception boxes and error messages on the page."""
    found = [f"exception box: {t[:200]}"
             for t in page.locator('[data-testid="stException"]').all_inner_texts()]
    found += page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    return found


def test_fund_page_2017_18_by_its_link_and_every_section(fund_browser, fund_server, fund_shots):
    page = fund_browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{fund_server}/fund?fund_year=2017/18", timeout=TIMEOUT_MS)
        page.get_by_role("heading", name="Community Safety Fund", exact=True).first.wait_for(
            timeout=TIMEOUT_MS)
        wait_until_idle(page)
        metrics = page.locator('[data-testid="stMetric"]')
        metrics.first.wait_for(timeout=TIMEOUT_MS)
        text = " | ".join(metrics.all_inner_texts())
        for expected in ("£1,990k", "£1,844k + £146k", "£1,976k", "£14k", "£1,528k", "77%",
                         "of allocation"):
            assert expected in text, f"{expected!r} not in the metrics: {text}"
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
            page.screenshot(path=str(fund_shots / f"fund-2017-18-{slug}.png"), full_page=True)
        assert "fund_section=years" in page.url
    finally:
        page.close()
