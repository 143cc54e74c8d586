"""Chapter 4's kernel-free SNR and p explorers, driven in headless Chromium in the built book
(``make book`` first; ``$COINFER_BOOK_HTML`` points elsewhere than ``_build/html``).

The twins compute in JavaScript what :func:`coinfer.views.jscc.awgn_readout` and
:func:`coinfer.views.jscc.bsc_readout` compute in Python; these tests move the sliders and compare."""

from __future__ import annotations

import pytest

from browser_support import ROOT, chapter_page, open_page
from coinfer.core import channel as ch
from coinfer.views.jscc import (BANDWIDTH_SLIDER_MHZ, FLIP_SLIDER, SNR_SLIDER_DB, awgn_output, awgn_readout, bsc_output,
                                _uses, bsc_readout, explorer_data)
from coinfer.results import load_table

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def page(browser):
    return open_page(browser, chapter_page("04_jscc"))


@pytest.fixture(scope="module")
def data():
    return explorer_data(load_table(ROOT / "data" / "results" / "jscc_quick.json"))


def _twins(page):
    from selenium.webdriver.common.by import By

    twins = page.find_elements(By.CSS_SELECTOR, ".coinfer-explorer")
    assert len(twins) == 2, "chapter 4 shows the AWGN and the BSC twin"
    for twin in twins:
        assert twin.find_element(By.CSS_SELECTOR, "[data-error]").get_attribute("hidden") is not None
    return twins


def _shown(twin):
    from selenium.webdriver.common.by import By

    return {c.get_attribute("data-readout"): c.text for c in twin.find_elements(By.CSS_SELECTOR, "[data-readout]")}


def _fmt_time(t):
    return f"{t * 1e6:,.2f} µs" if t < 1e-3 else f"{t * 1e3:,.1f} ms"


def test_awgn_twin_matches_python(page, data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    twin = _twins(page)[0]
    snr = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="snr"]')
    bw = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="bw"]')
    for _ in range(3):
        snr_db = SNR_SLIDER_DB[int(snr.get_attribute("value"))]
        w = BANDWIDTH_SLIDER_MHZ[int(bw.get_attribute("value"))] * 1e6
        expected, shown = awgn_readout(data, snr_db, w), _shown(twin)
        assert shown["cap"].startswith(f"{ch.awgn_capacity_per_real_use(snr_db):.3f} bit per real use")
        for method in ("png_capacity", "original_huffman_capacity", "learned_source_coding_capacity"):
            key = {"png_capacity": "png+capacity", "original_huffman_capacity": "original-huffman+capacity",
                   "learned_source_coding_capacity": "learned-source-coding+capacity"}[method]
            assert shown[method].startswith(_fmt_time(expected["latency"][key])), (method, shown[method])
        if expected["jscc"]:
            assert shown["jscc"].startswith(_fmt_time(expected["latency"]["framework-jscc"]))
            assert f"k = {_uses(expected['jscc'])} real uses" in shown["jscc"]   # each seed's where they differ
        else:
            assert shown["jscc"].startswith("no JSCC code")
        assert shown == awgn_output(data, {"snr": snr_db, "bw": BANDWIDTH_SLIDER_MHZ[int(bw.get_attribute("value"))]})["text"]
        snr.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        bw.send_keys(Keys.ARROW_RIGHT)


def test_bsc_twin_matches_python(page, data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    twin = _twins(page)[1]
    p_slider = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="p"]')
    seen = set()
    for _ in range(4):
        p = FLIP_SLIDER[int(p_slider.get_attribute("value"))]
        expected, shown = bsc_readout(data, p), _shown(twin)
        assert shown["cap"].startswith(f"{ch.bsc_capacity(p):.4f}")
        assert shown["png_capacity"].startswith(f"{expected['uses']['png+capacity']:,.1f} uses")
        if expected["jscc"]:
            assert shown["jscc"].startswith(f"{_uses(expected['jscc'])} uses")
        assert shown == bsc_output(data, {"p": p})["text"]
        seen.add(shown["jscc"])
        p_slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert len(seen) > 1, "moving p changes the JSCC readout"
