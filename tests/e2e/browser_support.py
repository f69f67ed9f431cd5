"""Shared pieces of the browser tests: a fresh ``streamlit run app.py`` and page helpers.

Debian's chromium only (``/usr/bin/chromium``); Playwright never downloads a browser. Imported
by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(database_url: str, log_path: Path, extra_args: Sequence[str] = ()):
    """A fresh ``streamlit run app.py`` on a free port reading ``database_url``; yields its URL.

    ``extra_args`` go to ``streamlit run`` after the server options (e.g. ``--secrets.files``).
    """
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1", *extra_args],
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


def wait_for_drawing(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Charts and tables load their code lazily: wait until each visible one has drawn."""
    charts = page.locator('[data-testid="stPlotlyChart"]:visible')
    for index in range(charts.count()):
        charts.nth(index).locator(".main-svg").first.wait_for(timeout=timeout_ms)
    tables = page.locator('[data-testid="stDataFrame"]:visible')  # not those in closed tabs
    for index in range(tables.count()):
        tables.nth(index).locator("canvas").first.wait_for(state="attached", timeout=timeout_ms)
    page.wait_for_timeout(300)


def wait_until_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """The script has finished and every chart and table has drawn."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden", timeout=timeout_ms)
    wait_for_drawing(page, timeout_ms)


def problems_on(page) -> list[str]:
    """Exception boxes and error messages on the page."""
    found = [f"exception box: {t[:200]}"
             for t in page.locator('[data-testid="stException"]').all_inner_texts()]
    found += page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    return found
