"""Fixtures shared by every test area: the real crowd datasets and headless Chromium.

Area-specific fixtures live in tests/<area>/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets beside the checkout; tests using it skip in a user's clone."""
    if not (SHARED_DATASETS / "index.csv").exists():
        pytest.skip("../shared/datasets is not present (a user's clone)")
    return SHARED_DATASETS


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium, installed by scripts/install-chromium.sh when missing."""
    path = _chromium_path()
    if path is None:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-chromium.sh")],
            capture_output=True,
            text=True,
        )
        path = _chromium_path()
        if path is None:
            message = f"Chromium could not be installed: {result.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable: str):
    """A headless Chromium driven by Playwright, shared by the session's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
