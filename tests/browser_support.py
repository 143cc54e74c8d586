"""What the browser tests share: where the built book is, one way to start headless Chromium, and the
rule for a missing prerequisite (Chromium, chromedriver, the built book): the test skips, unless
``COINFER_REQUIRE_BROWSER=1`` (set by ``make browser-test`` and so by CI), which makes it fail.

``make book`` builds the book into ``_build/html``; ``$COINFER_BOOK_HTML`` points elsewhere.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("COINFER_BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Without the background-networking flags Chromium keeps trying to reach the internet.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")


def unavailable(reason: str):
    """Skip the test, or fail it where the browser tests are required."""
    if os.environ.get("COINFER_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def chapter_page(name: str) -> Path:
    """The built HTML page of ``book/<name>.md``."""
    path = BOOK / "book" / f"{name}.html"
    if not path.exists():
        unavailable(f"the built book is missing ({path}); run `make book` first")
    return path


def open_page(browser, path: Path):
    """Navigate to ``path`` and wait until its explorers are in the DOM (twice in CI, on a loaded
    machine, a page showed none right after ``get()``); returns ``browser``."""
    from selenium.webdriver.common.by import By

    browser.get(path.as_uri())

    def loaded():
        assert browser.find_elements(By.CSS_SELECTOR, ".coinfer-explorer"), browser.current_url

    eventually(loaded)
    return browser


def start_chromium():
    """A headless Chromium driven by Selenium, offline."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def eventually(check, timeout: float = 10.0, interval: float = 0.1):
    """``check()``'s result once it stops raising AssertionError (a loaded machine may deliver a key
    press's input event late); re-raises the last failure after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
