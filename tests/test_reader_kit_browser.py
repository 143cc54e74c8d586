"""The reader's kit in the built book, in headless Chromium (``make book`` first): every image has alt
text, every download link (figures, explorers, the Results page) resolves to a file of the build,
every registered figure sits on its chapter's page with its downloads, and a figure stays a light
card with dark text in the theme's dark mode.

Marked ``browser``; skips without Chromium or the built book unless ``COINFER_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from coinfer.paths import committed_tables
from coinfer.views import FIGURES

from browser_support import BOOK, eventually, unavailable

pytestmark = pytest.mark.browser


def _pages() -> list[Path]:
    if not (BOOK / "book" / "01_data_amplification.html").exists():
        unavailable(f"the built book is missing ({BOOK}); run `make book` first")
    return sorted(p for p in BOOK.rglob("*.html") if not p.relative_to(BOOK).parts[0].startswith("_"))


def _chapter(number: int) -> Path:
    return next(p for p in _pages() if p.parent.name == "book" and p.name.startswith(f"{number:02d}_"))


def _load(browser, page: Path):
    browser.get(page.as_uri())
    eventually(lambda: browser.execute_script("return document.readyState") == "complete" or None)
    return browser


IMAGES = """return Array.from(document.images).map(function (i) {
  return {alt: i.getAttribute('alt'), src: i.getAttribute('src').slice(0, 60), loaded: i.complete && i.naturalWidth > 0};
});"""

DOWNLOADS = """return Array.from(document.querySelectorAll('a[download], a.download')).map(function (a) {
  return {href: a.href, text: a.textContent.trim()};
});"""


def _file_of(href: str) -> Path:
    url = urlparse(href)
    assert url.scheme == "file", f"a download that is not a file of the build: {href[:80]}"
    return Path(unquote(url.path))


def test_every_image_of_every_page_has_alt_text_and_loads(browser):
    images = 0
    for page in _pages():
        for image in _load(browser, page).execute_script(IMAGES):
            images += 1
            where = f"{page.relative_to(BOOK)}: <img src={image['src']!r}>"
            assert image["alt"] and image["alt"].strip(), f"{where} has no alt text"
            assert image["loaded"], f"{where} did not load"
    assert images >= len(FIGURES)


def test_every_download_link_resolves_to_a_file_of_the_build(browser):
    links = 0
    for page in _pages():
        for link in _load(browser, page).execute_script(DOWNLOADS):
            path = _file_of(link["href"])
            assert path.is_file() and path.stat().st_size > 0, f"{page.relative_to(BOOK)}: {link} -> {path}"
            assert BOOK.resolve() in path.resolve().parents, f"{link} leaves the build"
            links += 1
    assert links >= 3 * len(FIGURES)


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_registered_figure_is_on_its_chapters_page_with_svg_csv_and_json(browser, name):
    from selenium.webdriver.common.by import By

    page = _load(browser, _chapter(FIGURES[name].chapter))
    figures = page.find_elements(By.CSS_SELECTOR, f'figure.coinfer-figure[data-figure="{name}"]')
    assert len(figures) == 1, f"figure {name!r} is not on {_chapter(FIGURES[name].chapter).name}"
    names = sorted(a.get_attribute("download") for a in figures[0].find_elements(By.CSS_SELECTOR, "a[download]"))
    assert names == sorted(f"{name}.{ext}" for ext in ("csv", "json", "svg"))
    alt = figures[0].find_element(By.TAG_NAME, "img").get_attribute("alt")
    assert len(alt) > 150, alt


def test_every_explorer_is_followed_by_its_datas_downloads(browser):
    explorers = 0
    for number in range(1, 9):
        found = _load(browser, _chapter(number)).execute_script(
            "return Array.from(document.querySelectorAll('.coinfer-explorer')).map(function (e) {"
            "  var n = e.nextElementSibling; return [e.id, !!n && n.classList.contains('coinfer-downloads')]; });")
        for element_id, has_links in found:
            assert has_links, f"explorer {element_id} in chapter {number} has no downloads"
        explorers += len(found)
    assert explorers >= 6


def test_the_results_page_lists_and_offers_every_committed_file(browser):
    _pages()                                     # skips (or fails, when required) without the built book
    page = _load(browser, BOOK / "book" / "results.html")
    offered = {Path(_file_of(link["href"])).name for link in page.execute_script(DOWNLOADS)}
    committed = {p.name for p in committed_tables()}
    assert committed <= offered, committed - offered
    text = page.execute_script("return document.querySelector('main').innerText")
    for needle in ("python -m coinfer run sweep --preset quick", "x86_64", "Wall time", "Regenerate"):
        assert needle in text


def test_a_figure_is_a_light_card_with_dark_lines_in_dark_mode(browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    page = _load(browser, _chapter(5))
    page.execute_script("document.documentElement.dataset.theme = 'dark';"
                        "document.documentElement.dataset.mode = 'dark';")
    background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    rgb = [int(v) for v in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
    assert sum(rgb) / 3 < 60, f"the page is not dark: {background}"
    image = page.find_element(By.CSS_SELECTOR, 'figure[data-figure="tradeoff"] img')
    page.execute_script("arguments[0].scrollIntoView({block: 'center'});", image)
    shot = Image.open(io.BytesIO(image.screenshot_as_png)).convert("L")
    pixels = shot.tobytes()          # one byte per pixel ("L")
    light = sum(p > 170 for p in pixels) / len(pixels)
    dark = sum(p < 80 for p in pixels) / len(pixels)
    assert light > 0.7, f"only {light:.0%} of the figure is light in dark mode"
    assert dark > 0.005, f"no dark text or lines left on the figure ({dark:.2%})"
