"""Print the whole book as one PDF, offline: ``make pdf`` -> ``_build/pdf/coinfer.pdf``.

Jupyter Book 1's own PDF builders need a LaTeX installation (``pdflatex``) or pyppeteer, which
downloads its own Chromium; neither works offline. So the book is built as one HTML page with
Sphinx's ``singlehtml`` builder (warnings as errors, as ``make book``; the chapters that ``make book``
executed are reused when nothing they depend on changed since, else executed here), and the
Chromium that the browser tests already use prints that page. ``book/_static/print.css`` is the
print style: no sidebars or buttons, code that wraps instead of running off the page, and
each kernel-free explorer printed as the figure and readouts of its initial slider state (its
JavaScript runs before printing; the sliders themselves are hidden).

    python tools/print_book.py [--skip-build] [--out _build/pdf/coinfer.pdf]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    """The first Chromium-like browser on PATH; an error that says how to install one otherwise."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("print_book: no Chromium found (tried " + ", ".join(BROWSERS) + "); "
                     "install it, e.g. `sudo apt-get install chromium`")


def build_single_html() -> Path:
    """Build the book as one HTML page (``_build/singlehtml/index.html``), executing every chapter that
    ``make book`` did not execute from the same inputs (book/_ext/coinfer_book.py)."""
    from jupyter_book.cli.main import main as jupyter_book

    try:
        jupyter_book(["build", str(ROOT), "--builder", "singlehtml", "-W", "-n"], standalone_mode=False)
    except SystemExit as stop:                       # click ends with SystemExit(0) on success
        if stop.code not in (0, None):
            raise
    return single_page(ROOT / "_build" / "singlehtml")


def single_page(folder: Path) -> Path:
    """The one page of a singlehtml build, placed where its relative links work.

    The book's root document is ``book/intro``, so Sphinx writes the page to ``book/intro.html``
    (``index.html`` only redirects there) while its links (``_static/``, ``_images/``) are relative
    to the build folder itself; a copy at the top makes them resolve.
    """
    source = folder / "book" / "intro.html"
    if not source.exists():
        raise SystemExit(f"print_book: the singlehtml build did not write {source}")
    page = folder / "coinfer-book.html"
    page.write_text(source.read_text())
    return page


def print_pdf(page: Path, out: Path, browser: str | None = None, budget_ms: int = 20_000) -> Path:
    """Print ``page`` with headless Chromium into ``out`` (A4 by the print style), after its scripts ran."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [browser or find_browser(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--no-first-run",
           "--no-pdf-header-footer", f"--virtual-time-budget={budget_ms}",
           f"--print-to-pdf={out}", page.resolve().as_uri()]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if not out.exists() or out.stat().st_size == 0:
        raise SystemExit(f"print_book: Chromium wrote no PDF to {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-build", action="store_true", help="print the existing _build/singlehtml")
    ap.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "coinfer.pdf")
    args = ap.parse_args(argv)
    page = single_page(ROOT / "_build" / "singlehtml") if args.skip_build else build_single_html()
    out = print_pdf(page, args.out)
    print(f"print_book: {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
