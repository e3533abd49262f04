"""Fixtures of the web page's tests: `saliency-web` over the demo server, and a real browser.

Screenshots of the browser tests go to tmp/artefacts/web/ at the repository's root (or
$SALIENCY_TEST_ARTEFACTS); the test run's summary says where.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import ServerThread
from tests.web.page import Page, WebProcess, start_browser

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("SALIENCY_TEST_ARTEFACTS", ROOT / "tmp" / "artefacts" / "web"))


@pytest.fixture(scope="session")
def web(demo_server: ServerThread) -> Iterator[WebProcess]:
    """`saliency-web` (a process of its own) with the demo server as its target "demo"."""
    with WebProcess(f"demo={demo_server.target}") as process:
        yield process


@pytest.fixture
def page(web: WebProcess, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The page in a fresh headless Chromium; the test fails on any console error unless it
    declares the ones it provokes with `page.expected_errors`."""
    driver = start_browser()
    shots = ARTEFACTS / request.node.name
    shutil.rmtree(shots, ignore_errors=True)  # this run's screenshots only
    view = Page(driver, web.url, shots)
    try:
        yield view
        errors = [e for e in view.console_errors()
                  if not any(expected in e for expected in view.expected_errors)]
        assert errors == [], f"console errors: {errors}"
    finally:
        driver.quit()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTEFACTS.is_dir() and any(ARTEFACTS.rglob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {ARTEFACTS}")
