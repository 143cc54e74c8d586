"""Drive the kernel-free explorers in headless Chromium: a standalone one, and chapter 1's in the
built book (``make book`` first; ``$COINFER_BOOK_HTML`` points elsewhere than ``_build/html``).

Marked ``browser``. They skip when Chromium, chromedriver or the built book are missing, unless
``COINFER_REQUIRE_BROWSER=1`` (set by .ci/run), which turns every skip into a failure.
"""

import re
from urllib.parse import urlparse

import pytest
import yaml

from coinfer.core.network import SPLIT_POINTS, resnet18
from coinfer.core.costs import profile_splits
from coinfer.views.amplification import rate_values_kBps, split_point_data, split_point_readout
from coinfer.views.explorer import Plot, Slider, static_explorer

from browser_support import BOOK, ROOT, chapter_page, eventually, open_page, unavailable

pytestmark = pytest.mark.browser

CHAPTER1 = BOOK / "book" / "01_data_amplification.html"
#: Hosts a page may load from: none. MathJax is served from the build's _static/mathjax
#: (sphinx-mathjax-offline), so the formulas render offline too.
ALLOWED_EXTERNAL_HOSTS: set[str] = set()
CIFAR_RAW_BITS = 24576


def _keys():
    from selenium.webdriver.common.keys import Keys

    return Keys


def _by():
    from selenium.webdriver.common.by import By

    return By


def readouts(explorer):
    return {cell.get_attribute("data-readout"): cell.text
            for cell in explorer.find_elements(_by().CSS_SELECTOR, "[data-readout]")}


def number(text):
    """The first number in ``text`` (thousands separators removed)."""
    return float(re.search(r"-?[\d,]*\.?\d+", text).group(0).replace(",", ""))


def seconds(text):
    """A duration shown as "655.4 ms" or "3.28 s", in seconds."""
    return number(text) * (1e-3 if text.endswith(" ms") else 1.0)


def assert_no_error(explorer):
    error = explorer.find_element(_by().CSS_SELECTOR, "[data-error]")
    assert error.get_attribute("hidden") is not None, error.text
    assert explorer.get_attribute("data-ready") == "1"


# ---------------------------------------------------------------------------------------------
# The builder, on a page of its own: two explorers, each moving independently.
# ---------------------------------------------------------------------------------------------

RENDER = """function (data, state, util) {
  var i = util.index("i");
  return {text: {y: util.int(data.y[i] * state.k)},
          plot: {series: [{label: "curve", points: data.x.map(function (x, j) { return [x, data.y[j]]; })},
                          {label: "feasible", points: [[10, 300]], line: false, marker: "square"},
                          {label: "none", points: []}],
                 highlight: [{x: data.x[i], y: data.y[i], label: "now"}],
                 hlines: [{y: 100, label: "line"}]},
          bars: [{label: "a", value: i + 1}, {label: "b", value: 1}]};
}"""


def test_standalone_explorers_move_with_the_arrow_keys_independently(browser, tmp_path):
    By, Keys = _by(), _keys()
    make = lambda: static_explorer(  # noqa: E731
        data={"x": [1, 10, 100, 1000], "y": [2000, 300, 40, 5]},
        sliders=[Slider("i", "point", values=[0, 1, 2, 3]), Slider("k", "factor", values=[1, 10], value=1)],
        readouts=[("y", "y times factor")], render=RENDER, plot=Plot("x", "y", logx=True, logy=True))
    first, second = make(), make()
    page = tmp_path / "two.html"
    page.write_text(f"<!DOCTYPE html><html><body>{first.html}{second.html}</body></html>")
    browser.get(page.as_uri())
    one = browser.find_element(By.ID, first.element_id)
    two = browser.find_element(By.ID, second.element_id)
    assert_no_error(one)
    assert readouts(one) == {"y": "2,000"} and readouts(two) == {"y": "2,000"}
    one.find_element(By.CSS_SELECTOR, 'input[data-slider="i"]').send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    one.find_element(By.CSS_SELECTOR, 'input[data-slider="k"]').send_keys(Keys.ARROW_RIGHT)
    assert readouts(one) == {"y": "400"}               # y[2] * 10
    assert readouts(two) == {"y": "2,000"}             # the other explorer did not move
    assert one.find_element(By.CSS_SELECTOR, 'output[data-slider-value="k"]').text == "10"
    # The plot: one polyline, four markers, a highlighted point that moved right, a legend.
    svg = one.find_element(By.CSS_SELECTOR, "svg[data-plot]")
    assert len(svg.find_elements(By.TAG_NAME, "polyline")) == 1      # only the curve has a line
    assert len(svg.find_elements(By.CSS_SELECTOR, "g[clip-path] circle")) == 4 + 1  # 4 markers + highlight
    assert len(svg.find_elements(By.CSS_SELECTOR, "g[clip-path] rect")) == 1        # the square marker
    moved = float(svg.find_element(By.CSS_SELECTOR, '[data-highlight="now"]').get_attribute("cx"))
    still = float(two.find_element(By.CSS_SELECTOR, '[data-highlight="now"]').get_attribute("cx"))
    assert moved > still
    assert "curve" in one.find_element(By.CSS_SELECTOR, "[data-legend]").text
    assert one.find_element(By.CSS_SELECTOR, "[data-bars]").get_attribute("hidden") is None


def test_a_failing_render_function_shows_its_error(browser, tmp_path):
    By = _by()
    broken = static_explorer(data={}, sliders=[Slider("i", "i", [0, 1])], readouts=[("y", "y")],
                             render="function (data, state) { return {text: {y: data.missing.field}}; }")
    page = tmp_path / "broken.html"
    broken.save(page)
    browser.get(page.as_uri())
    error = browser.find_element(By.CSS_SELECTOR, "[data-error]")
    assert error.get_attribute("hidden") is None and "explorer error" in error.text


# ---------------------------------------------------------------------------------------------
# Chapter 1 in the built book
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chapter1(browser):
    if not CHAPTER1.exists():
        unavailable(f"the built book is missing ({CHAPTER1}); run `make book` first")
    open_page(browser, CHAPTER1)
    return browser


@pytest.fixture(scope="module")
def points():
    data = split_point_data(profile_splits(resnet18(width=1.0)), 32, input_bits=CIFAR_RAW_BITS)
    return {p["point"]: p for p in data["points"]}


def twin_of(page):
    twins = page.find_elements(_by().CSS_SELECTOR, ".coinfer-explorer")
    assert len(twins) == 1, f"expected chapter 1 to hold one kernel-free explorer, found {len(twins)}"
    return twins[0]


def assert_shows(shown, expected):
    """The page's numbers equal Python's (compared as numbers, to a unit in the last digit)."""
    assert shown.keys() == expected.keys()
    for key in expected:
        if key == "shape":
            assert shown[key] == expected[key]
            continue
        want, got = number(expected[key]), number(shown[key])
        assert got == pytest.approx(want, rel=1e-3, abs=0.051), (key, shown[key], expected[key])
        assert shown[key].split()[-1] == expected[key].split()[-1]      # same unit


def test_chapter1_twin_moves_to_the_right_numbers(chapter1, points):
    By, Keys = _by(), _keys()
    twin = twin_of(chapter1)
    assert_no_error(twin)
    split = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="split"]')
    rate = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="rate"]')
    rates = rate_values_kBps()
    point_name = lambda: SPLIT_POINTS[int(split.get_attribute("value"))]  # noqa: E731
    rate_value = lambda: rates[int(rate.get_attribute("value"))]  # noqa: E731
    assert (point_name(), rate_value()) == ("layer2.1", 100)
    before = readouts(twin)
    assert_shows(before, split_point_readout(points["layer2.1"], 100, CIFAR_RAW_BITS))
    assert before["time"] == "1.31 s"                 # 1,048,576 bits at 800,000 bit/s

    split.send_keys(Keys.ARROW_RIGHT)                 # layer2.1 (s3) -> layer3.0
    assert point_name() == "layer3.0"
    after = readouts(twin)
    assert after != before
    assert_shows(after, split_point_readout(points["layer3.0"], 100, CIFAR_RAW_BITS))
    assert twin.find_element(By.CSS_SELECTOR, 'output[data-slider-value="split"]').text == "layer3.0"

    rate.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)  # 100 -> 50 -> 20 kB/s: time x5
    assert rate_value() == 20
    slower = readouts(twin)
    assert seconds(slower["time"]) == pytest.approx(seconds(after["time"]) * 5, rel=1e-3)
    assert_shows(slower, split_point_readout(points["layer3.0"], 20, CIFAR_RAW_BITS))

    split.send_keys(Keys.HOME)                        # server-based: the raw image is sent
    assert point_name() == "input"
    assert_shows(readouts(twin), split_point_readout(points["input"], 20, CIFAR_RAW_BITS))
    assert readouts(twin)["amplification"] == "1.00 x the input"


def test_chapter1_twin_needs_nothing_from_outside_the_page(chapter1):
    By = _by()
    twin = twin_of(chapter1)
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        assert not [e.get_attribute(attr) for e in twin.find_elements(By.TAG_NAME, tag) if e.get_attribute(attr)]
    # Everything the page requested: its own files, plus at most the allow-listed theme hosts.
    requested = chapter1.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    requested += [e.get_attribute("src") for e in chapter1.find_elements(By.CSS_SELECTOR, "script[src], img[src], iframe[src]")]
    requested += [e.get_attribute("href") for e in chapter1.find_elements(By.CSS_SELECTOR, "link[href]")
                  if (e.get_attribute("rel") or "") in ("stylesheet", "preload", "icon", "modulepreload")]
    external = {urlparse(u).hostname for u in requested if urlparse(u).scheme in ("http", "https")}
    assert external <= ALLOWED_EXTERNAL_HOSTS, f"the page loads from {sorted(external)}"


def test_chapter1_colab_button_opens_the_paired_notebook_on_main(chapter1):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner_repo = urlparse(config["repository"]["url"]).path.strip("/")
    links = [a.get_attribute("href") for a in chapter1.find_elements(_by().CSS_SELECTOR, "a[href*='colab']")]
    assert links, "no Colab launch button on chapter 1"
    assert all(h.endswith("blob/main/book/01_data_amplification.ipynb") for h in links), links
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/main/book/01_data_amplification.ipynb" in links
    assert (ROOT / "book" / "01_data_amplification.ipynb").exists()


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"] if re.match(r"book/\d\d_", c["file"])]


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda c: c.split("/")[-1])
def test_every_chapter_colab_button_opens_its_notebook_on_main(chapter):
    page = chapter_page(chapter.split("/")[-1])
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner, repo = urlparse(config["repository"]["url"]).path.strip("/").split("/")
    links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page.read_text()))
    want = f"https://colab.research.google.com/github/{owner}/{repo}/blob/main/{chapter}.ipynb"
    assert links == {want}, f"{chapter}: Colab button links {links}, expected {want}"
    assert (ROOT / f"{chapter}.ipynb").exists()


# ---------------------------------------------------------------------------------------------
# Chapter 2 (pruning) in the built book
# ---------------------------------------------------------------------------------------------

CHAPTER2 = BOOK / "book" / "02_pruning.html"


def test_chapter2_sparsity_twin_moves_to_the_recorded_numbers(browser):
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.views.pruning import pruning_data, pruning_records

    By, Keys = _by(), _keys()
    if not CHAPTER2.exists():
        unavailable(f"the built book is missing ({CHAPTER2}); run `make book` first")
    open_page(browser, CHAPTER2)
    twins = browser.find_elements(By.CSS_SELECTOR, ".coinfer-explorer")
    assert len(twins) == 1, f"expected chapter 2 to hold one kernel-free explorer, found {len(twins)}"
    twin = twins[0]
    assert_no_error(twin)
    data = pruning_data(pruning_records(load_table(results_dir() / "pruning_quick.json")),
                        profile_splits(resnet18(width=1 / 8)))
    slider = twin.find_element(By.CSS_SELECTOR, 'input[data-slider="sparsity"]')

    def check(k):
        assert int(slider.get_attribute("value")) == k
        shown = readouts(twin)
        for j, split in enumerate(data["splits"]):
            cell = data["grid"][k][j]
            text = shown[f"p{j}"]
            assert f"{100 * cell['accuracy']:.2f}%" in text, (split, text)
            assert f"{cell['device_macs'] / 1e6:.3f} M MACs" in text, (split, text)
            assert f"{round(cell['bits']):,} bits" in text, (split, text)
        return shown

    last = len(data["sparsities"]) - 1
    highest = eventually(lambda: check(last))            # starts at the highest sparsity
    slider.send_keys(Keys.ARROW_LEFT)
    assert eventually(lambda: check(last - 1)) != highest
    slider.send_keys(Keys.HOME)                          # sparsity 0: the unpruned network
    eventually(lambda: check(0))
    assert "100%" in readouts(twin)["p0"]
