"""Chapter 3's kernel-free code-size explorer, driven in headless Chromium in the built book
(``make book`` first; ``$COINFER_BOOK_HTML`` points elsewhere than ``_build/html``)."""

from __future__ import annotations

import pytest

from browser_support import ROOT, chapter_page, open_page
from coinfer.views.encoding import code_size_data, code_size_readout
from coinfer.results import load_table

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def page(browser):
    return open_page(browser, chapter_page("03_feature_encoding"))


def _twin(page, slider: str):
    """The chapter's one kernel-free explorer that has a slider named ``slider``."""
    from selenium.webdriver.common.by import By

    twins = [t for t in page.find_elements(By.CSS_SELECTOR, ".coinfer-explorer")
             if t.find_elements(By.CSS_SELECTOR, f'input[data-slider="{slider}"]')]
    assert len(twins) == 1, len(twins)
    return twins[0]


def test_chapter3_twin_shows_the_tables_numbers(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    data = code_size_data(load_table(ROOT / "data" / "results" / "encoding_quick.json"))
    twin = _twin(page, "size")                     # the code-size explorer (the rate one has a weight slider)
    assert twin.get_attribute("data-ready") == "1"
    assert twin.find_element(By.CSS_SELECTOR, "[data-error]").get_attribute("hidden") is not None
    split = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="split"]')
    size = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="size"]')

    def shown():
        return {c.get_attribute("data-readout"): c.text for c in twin.find_elements(By.CSS_SELECTOR, "[data-readout]")}

    def expected():   # the explorer's one Python readout at the sliders' state
        state = {"split": data["splits"][int(split.get_attribute("value"))]["split"],
                 "size": int(size.get_attribute("value"))}
        return code_size_readout(data, state)["text"]

    for key, value in expected().items():
        assert shown()[key] == value, key
    before = shown()
    size.send_keys(Keys.ARROW_RIGHT)
    split.send_keys(Keys.HOME)
    assert shown() != before
    for key, value in expected().items():
        assert shown()[key] == value, key


def test_chapter3_rate_twin_shows_the_rate_tables_numbers(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from coinfer.views.rate import rate_data, rate_readout

    data = rate_data(load_table(ROOT / "data" / "results" / "rate_quick.json"))
    splits = list(dict.fromkeys(r["split"] for r in data["rows"]))
    weights = sorted({r["weight"] for r in data["rows"] if r["weight"] is not None})
    twin = _twin(page, "weight")
    assert twin.get_attribute("data-ready") == "1"
    split = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="split"]')
    weight = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="weight"]')

    def shown():
        return {c.get_attribute("data-readout"): c.text for c in twin.find_elements(By.CSS_SELECTOR, "[data-readout]")}

    def expected():   # the explorer's one Python readout at the sliders' state
        state = {"split": splits[int(split.get_attribute("value"))], "weight": weights[int(weight.get_attribute("value"))]}
        return rate_readout(data, state)["text"]

    for key, value in expected().items():
        assert shown()[key] == value, key
    before = shown()
    weight.send_keys(Keys.END)                     # the largest weight: fewer bits, less accuracy
    assert shown() != before
    for key, value in expected().items():
        assert shown()[key] == value, key
    split.send_keys(Keys.HOME)
    for key, value in expected().items():
        assert shown()[key] == value, key
