"""`saliency-web` in a real browser: Debian's headless Chromium driven by Selenium.

Shared by the browser tests and scripts/readme_pictures.py. Chromium runs with a fresh profile
and without any of its own network traffic (this machine reaches no outside host); the page and
the servers are on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars")


class WebProcess:
    """`python -m saliency_client.web` (what `saliency-web` runs) on a free loopback port."""

    def __init__(self, *targets: str, extra: tuple[str, ...] = ()) -> None:
        self.command = [sys.executable, "-m", "saliency_client.web", "--host", "127.0.0.1",
                        "--port", "0", *(w for t in targets for w in ("--target", t)), *extra]
        self.url = ""

    def __enter__(self) -> WebProcess:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the first line names the URL, or it died
        if "serving" not in line:
            self.process.kill()
            raise RuntimeError(f"saliency-web did not start: {line}{self.process.stderr.read()}")
        self.url = line.split()[2]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_browser(width: int = 1400, height: int = 1000) -> WebDriver:
    """Headless Chromium with a fresh profile, its console kept for `console_errors`."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='saliency-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


class Page:
    """The page in a browser, with waits bounded in time and screenshots on demand."""

    def __init__(self, driver: WebDriver, url: str, artefacts: Path | None = None) -> None:
        self.driver = driver
        self.url = url
        self.artefacts = artefacts
        self.shots = 0
        self.expected_errors: list[str] = []
        """Console messages a test provokes on purpose (a refused upload is logged as a failed
        load), each matched as a substring."""

    def open(self, query: str = "") -> None:
        self.driver.get(self.url + query)
        self.wait_js("return document.body.dataset.ready === '1'", "the page to start")

    def wait_js(self, script: str, what: str, timeout: float = 90.0) -> object:
        """Wait until `script` returns something true; fail naming `what` after `timeout`."""
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            lambda d: d.execute_script(script), message=f"timed out waiting for {what}"
        )

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def tab(self, view: str) -> None:
        self.click(f"nav.tabs button[data-view='{view}']")

    def shot(self, name: str, element: str | None = None) -> Path | None:
        """Save a screenshot (of the window, or one element) as the next numbered artefact."""
        if self.artefacts is None:
            return None
        self.artefacts.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = self.artefacts / f"{self.shots:02d}-{name}.png"
        time.sleep(0.2)  # let the last canvases paint before the capture
        target = self.find(element) if element else None
        if target is not None:
            target.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        """Every SEVERE browser console entry since the last call (uncaught errors, failed
        loads, console.error)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
