"""Drive Fig. 3's kernel-free threshold explorer in headless Chromium and compare every readout with
the Python computation (coinfer.views.tradeoff.tradeoff_summary) at several thresholds.

Marked ``browser``; skips when Chromium or chromedriver is missing, unless ``COINFER_REQUIRE_BROWSER=1``.
"""

import pytest

from browser_support import unavailable
from coinfer.views.tradeoff import THRESHOLD_DROPS, tradeoff_data, tradeoff_summary, tradeoff_twin
from coinfer.paths import results_dir
from coinfer.results import load_table

pytestmark = pytest.mark.browser
TABLE = results_dir() / "sweep_quick.json"


def test_twin_recomputes_the_fronts_and_the_check_like_python(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    if not TABLE.exists():
        unavailable(f"needs {TABLE} (python -m coinfer sweep --preset quick)")
    table = load_table(TABLE)
    data = tradeoff_data(table)
    page = tmp_path / "twin.html"
    tradeoff_twin(table).save(page)
    browser.get(page.as_uri())
    root = browser.find_element(By.CSS_SELECTOR, ".coinfer-explorer[data-ready='1']")
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
