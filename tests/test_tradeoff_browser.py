"""Drive Fig. 3's kernel-free threshold explorer in headless Chromium and compare every readout with
the Python computation (coinfer.figures.tradeoff_summary) at several thresholds.

Marked ``browser``; skips when Chromium or chromedriver is missing, unless ``COINFER_REQUIRE_BROWSER=1``.
"""

import os
import shutil

import pytest

from coinfer.figures import THRESHOLD_DROPS, tradeoff_data, tradeoff_summary, tradeoff_twin
from coinfer.paths import results_dir
from coinfer.results import load_table

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
TABLE = results_dir() / "sweep_quick.json"


def test_twin_recomputes_the_fronts_and_the_check_like_python(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)) or not TABLE.exists():
        if os.environ.get("COINFER_REQUIRE_BROWSER") == "1":
            pytest.fail("needs chromium, chromedriver and data/results/sweep_quick.json")
        pytest.skip("needs chromium, chromedriver and data/results/sweep_quick.json")
    table = load_table(TABLE)
    data = tradeoff_data(table)
    page = tmp_path / "twin.html"
    tradeoff_twin(table).save(page)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        root = driver.find_element(By.CSS_SELECTOR, ".coinfer-explorer[data-ready='1']")
        slider = root.find_element(By.CSS_SELECTOR, "input[type=range]")
        position = THRESHOLD_DROPS.index(data["default_drop"])
        for step in (0, -4, -4, 12):   # default, then 1 and 2 points higher, then 1 point lower
            if step:
                slider.send_keys((Keys.ARROW_RIGHT if step > 0 else Keys.ARROW_LEFT) * abs(step))
                position += step
            shown = {c.get_attribute("data-readout"): c.text
                     for c in root.find_elements(By.CSS_SELECTOR, "[data-readout]")}
            assert shown == tradeoff_summary(data, THRESHOLD_DROPS[position]), THRESHOLD_DROPS[position]
        assert root.find_elements(By.CSS_SELECTOR, "svg path, svg polyline, svg circle")
    finally:
        driver.quit()
