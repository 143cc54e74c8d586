"""The printable book (``make pdf``): one PDF holding every page of the table of contents.

Reads ``_build/pdf/coinfer.pdf`` (``$COINFER_BOOK_PDF`` points elsewhere). Skips when it has not been
built, unless ``COINFER_REQUIRE_PDF=1`` (set by ``make pdf`` and so by CI), which makes it fail.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PDF = Path(os.environ.get("COINFER_BOOK_PDF", ROOT / "_build" / "pdf" / "coinfer.pdf"))

pytestmark = pytest.mark.pdf


def _pages_in_toc() -> list[str]:
    data = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [data["root"]] + [c["file"] for part in data["parts"] for c in part["chapters"]]


def _title(page: str) -> str:
    """The first level-1 heading of a page's MyST source, without markup."""
    for line in (ROOT / f"{page}.md").read_text().splitlines():
        if line.startswith("# "):
            return re.sub(r"[`*]", "", line[2:]).strip()
    raise AssertionError(f"{page}.md has no '# ' title")


@pytest.fixture(scope="module")
def pdf_text():
    if not PDF.exists():
        if os.environ.get("COINFER_REQUIRE_PDF") == "1":
            pytest.fail(f"{PDF} is missing: run `make pdf`")
        pytest.skip(f"{PDF} is missing: run `make pdf`")
    # PDFium reads the 400-page book's text in about a second; pypdf, pure Python, took 26 s here.
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(PDF)
    try:
        text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        return len(document), _normalize(text)
    finally:
        document.close()


def _normalize(text: str) -> str:
    """Text as printed and as written compare equal: ligatures (ﬁ) unfolded, words joined across
    a line-end hyphen (which PDFium reports as U+FFFE), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text.replace("\ufffe", "-"))
    return re.sub(r"-\s+", "-", " ".join(text.split()))


def test_the_pdf_has_a_book_length(pdf_text):
    pages, _ = pdf_text
    # Seven chapters with figures, exercises and the API reference: well over a hundred A4 pages.
    assert pages >= 80, f"the printed book has only {pages} pages"


def _first_words(page: str, words: int = 8) -> str | None:
    """The first words of a page's first paragraph as the built book shows them (``make book``'s pages,
    which ``make pdf`` prints from the same sources); None without a built book."""
    path = PDF.parent.parent / "html" / f"{page}.html"
    if not path.exists():
        return None
    built = path.read_text(encoding="utf-8")
    article = built.split('<article class="bd-article"', 1)[-1]
    for paragraph in re.findall(r"<p>(.*?)</p>", article, re.S):
        plain = " ".join(re.sub(r"<[^>]+>", "", paragraph).split())
        if len(plain.split()) >= words:
            return _normalize(html.unescape(" ".join(plain.split()[:words])))
    raise AssertionError(f"{page}: no paragraph of {words} words in its built page")


@pytest.mark.parametrize("page", _pages_in_toc())
def test_every_page_of_the_toc_is_printed(pdf_text, page):
    _, text = pdf_text
    title = _normalize(_title(page))
    assert title in text, f"{page}: its title {title!r} is not in {PDF.name}"
    # and its body: a title alone is also printed by any page that links to it (the course plan links them all)
    words = _first_words(page)
    if words is None:
        pytest.skip(f"{page}: its body is checked against the built book (make book), which is missing")
    assert words in text, f"{page}: its first paragraph ({words!r}...) is not in {PDF.name}"

