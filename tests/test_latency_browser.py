"""The kernel-free latency explorer in headless Chromium: it moves, and it agrees with Python.

Drives the twin's standalone page (the same HTML snippet the book embeds) and, when the book is
built (``make book``; ``$COINFER_BOOK_HTML`` to look elsewhere than ``_build/html``), chapter 6's
twin in the rendered page. Marked ``browser``; skips without Chromium, chromedriver or the built
book unless ``COINFER_REQUIRE_BROWSER=1``, which turns every skip into a failure.
"""

from __future__ import annotations

import random

import pytest
import torch

from browser_support import chapter_page, open_page
from coinfer.core.latency import DEVICES, SERVERS, NoFeasibleConfiguration, choose, scale_to_width
from coinfer.experiments.original import original_records
from coinfer.views.chooser import latency_output, latency_twin, slider_environment
from coinfer.views.latency import config_label
from coinfer.core.network import resnet18
from coinfer.results import Record
from coinfer.stats import selection_accuracy
from coinfer.views.explorer import format_seconds

pytestmark = pytest.mark.browser



@pytest.fixture(scope="module")
def records():
    """The width-1/8 network's real split points, plus pruned-and-encoded-like records of varied
    accuracy and size, so that threshold, memory and rate all change the choice."""
    torch.manual_seed(0)
    recs = original_records(resnet18(width=1 / 8), 0.91)
    by_split = {r.split: r for r in recs}
    # Validation accuracies differ from the test ones, in both directions, so that a chooser that
    # compared the test accuracy with the threshold would choose otherwise.
    for i, (split, sparsity, bits, acc, val) in enumerate([
            ("stem", 0.0, 4096.0, 0.905, 0.909), ("layer1.1", 0.3, 512.0, 0.899, 0.893),
            ("layer2.1", 0.5, 64.0, 0.893, 0.896), ("layer3.1", 0.6, 16.0, 0.897, 0.887),
            ("layer4.0", 0.7, 8.0, 0.902, 0.904), ("layer2.1", 0.2, 256.0, 0.908, 0.898)]):
        base = by_split[split]
        keep = (1 - sparsity) ** 2
        recs.append(Record(method="framework", split=split, accuracy=acc, device_macs=int(base.device_macs * keep),
                           device_params=int(base.device_params * keep), server_macs=base.server_macs,
                           bits_per_image=bits, sparsity=sparsity, code_size=f"c{i}", val_accuracy=val,
                           extra={"device_peak_activations": int(base.extra["device_peak_activations"] * (1 - sparsity))}))
    return recs


@pytest.fixture(scope="module")
def page(records, tmp_path_factory):
    device, server = scale_to_width(DEVICES["rpi3"], SERVERS["rtx2080ti"], 1 / 8)
    twin = latency_twin(records, device, server, threshold=0.89, element_id="latency-twin")
    path = tmp_path_factory.mktemp("twin") / "latency.html"
    twin.save(path)
    return path, twin


def _set(driver, name: str, position: int, root: str = "#latency-twin") -> None:
    driver.execute_script(
        "var e = document.querySelector(arguments[2] + ' input[data-slider=\"' + arguments[0] + '\"]');"
        "e.value = arguments[1]; e.dispatchEvent(new Event('input'));", name, position, root)


def _readout(driver, name: str, root: str = "#latency-twin") -> str:
    return driver.execute_script(
        "return document.querySelector(arguments[1] + ' [data-readout=\"' + arguments[0] + '\"]').textContent;",
        name, root)


def test_moving_the_rate_slider_changes_the_choice(browser, page):
    path, twin = page
    browser.get(path.as_uri())
    assert browser.execute_script("return document.getElementById('latency-twin').getAttribute('data-ready');") == "1"
    rates = next(s for s in twin.sliders if s.name == "rate")
    _set(browser, "rate", 0)                       # 1 KB/s
    slow = _readout(browser, "choice")
    _set(browser, "rate", len(rates.values) - 1)   # 10 MB/s
    fast = _readout(browser, "choice")
    assert slow != fast, (slow, fast)
    assert "@ input" in fast                       # a fast link sends the image
    assert "explorer error" not in browser.find_element("css selector", "#latency-twin").text


def test_javascript_choice_equals_python_choice(browser, page, records):
    path, twin = page
    browser.get(path.as_uri())
    sliders = {s.name: s for s in twin.sliders}
    rng = random.Random(0)
    settings = [{name: s.index for name, s in sliders.items()}]                       # the defaults
    settings += [{name: rng.randrange(len(s.values)) for name, s in sliders.items()} for _ in range(14)]
    settings.append({name: 0 for name in sliders})                                    # corner: nothing fits?
    checked_none = checked_some = 0
    for positions in settings:
        for name, position in positions.items():
            _set(browser, name, position)
        state = {name: sliders[name].values[p] for name, p in positions.items()}
        env, threshold = slider_environment(state)
        try:
            best = choose(records, env, threshold)
        except NoFeasibleConfiguration:
            assert _readout(browser, "choice") == "none fits", state
            for name, text in latency_output(records, state)["text"].items():
                assert _readout(browser, name) == text, (name, state)
            checked_none += 1
            continue
        shown = _readout(browser, "choice")
        assert shown == (f"{config_label(best.record)} (validation {100 * selection_accuracy(best.record):.2f}%, "
                         f"test {100 * best.record.accuracy:.2f}%)"), state
        assert _readout(browser, "latency") == format_seconds(best.latency.total_s), state
        # every readout the page shows is what the ipywidgets explorer's Python readout shows
        for name, text in latency_output(records, state)["text"].items():
            assert _readout(browser, name) == text, (name, state)
        checked_some += 1
    assert checked_some >= 8 and checked_none >= 1, (checked_some, checked_none)


def test_chapter6_twin_moves_in_the_built_book(browser):
    open_page(browser, chapter_page("06_latency"))
    roots = browser.execute_script(
        "return Array.from(document.querySelectorAll('.coinfer-explorer'))"
        ".filter(function (e) { return e.querySelector('input[data-slider=\"memory\"]'); })"
        ".map(function (e) { return e.id; });")
    assert len(roots) == 1, roots
    root = "#" + roots[0]
    assert browser.execute_script(f"return document.querySelector('{root}').getAttribute('data-ready');") == "1"
    last = browser.execute_script(f"return document.querySelector('{root} input[data-slider=\"rate\"]').max;")
    _set(browser, "rate", 0, root)
    slow = _readout(browser, "choice", root)
    _set(browser, "rate", int(last), root)
    fast = _readout(browser, "choice", root)
    assert slow != fast and "none fits" not in slow + fast, (slow, fast)
