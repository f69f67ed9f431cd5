"""Fixtures of the browser tests: one chromium per module and a screenshot folder.

Without Debian's chromium or Playwright every browser test is skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT

_MISSING = (
    f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped"
    if not os.path.exists(CHROMIUM)
    else "playwright is not installed (pip install -r requirements-dev.txt); browser tests skipped"
    if importlib.util.find_spec("playwright") is None
    else None
)


def pytest_collection_modifyitems(config, items):
    if _MISSING:
        skip = pytest.mark.skip(reason=_MISSING)
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Screenshots go to a temporary folder (E2E_SCREENSHOT_DIR to keep them), never into the
    repository."""
    folder = os.environ.get("E2E_SCREENSHOT_DIR")
    if folder:
        path = Path(folder).resolve()
        if ROOT in path.parents or path == ROOT:
            raise ValueError("E2E_SCREENSHOT_DIR must be outside the repository")
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
