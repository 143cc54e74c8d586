"""Compare what two built books show a reader: the visible text of every page and its figures.

A refactor that must not change a number (issue 12) is checked by building the book before and
after and diffing what a reader sees: every glued value, printed table, cell output and caption is
visible text, so it appears here; code cells' sources, scripts (the explorers' embedded data; the
browser tests check those against Python) and styles are left out, and figures are compared by
count per page (their pixels change with any colour or font). Cells that measure this machine
(chapter 6's calibration, chapter 7's live server) differ between any two builds: build the old
commit twice to see that noise.

    python tools/compare_builds.py BEFORE/_build/html AFTER/_build/html [--pages book/05_tradeoff ...]

Exit status 1 when any page's text differs, 0 otherwise.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

SKIP = {"script", "style", "noscript", "svg", "nav", "header", "footer"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.depth = 0
        self.main = 0
        self.parts: list[str] = []
        self.images = 0
        self.divs: list[bool] = []   # for each open <div>: does it start a skipped region?

    def handle_starttag(self, tag, attrs):
        if tag == "div":
            # code cells' sources are not results: their module paths change in a refactor
            skip = "cell_input" in (dict(attrs).get("class") or "")
            self.divs.append(skip)
            self.depth += skip
        if tag in SKIP:
            self.depth += 1
        if tag == "img":
            self.images += 1
        if tag in ("p", "div", "tr", "li", "h1", "h2", "h3", "br", "pre"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "div" and self.divs:
            self.depth -= self.divs.pop()
        if tag in SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def page_text(path: Path) -> tuple[list[str], int]:
    """The visible text lines of one HTML page (whitespace collapsed) and its number of images."""
    parser = _Text()
    text = path.read_text(errors="ignore")
    body = text.split('<main', 1)[-1]          # the article, not the sidebar
    parser.feed(body)
    lines = [re.sub(r"\s+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return [line for line in lines if line], parser.images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--pages", nargs="*", help="pages to compare (default: every page of BEFORE)")
    ap.add_argument("--words", action="store_true",
                    help="compare word by word, so that a line wrapped differently is no change")
    ap.add_argument("--ignore-module-paths", action="store_true",
                    help="treat every dotted name coinfer.x.y as equal (a refactor that moves modules)")
    args = ap.parse_args(argv)
    pages = args.pages or sorted(str(p.relative_to(args.before).with_suffix(""))
                                 for p in args.before.rglob("*.html") if "_static" not in p.parts
                                 and "_sources" not in p.parts and p.name not in ("genindex.html", "search.html"))
    changed = 0
    for page in pages:
        old, new = args.before / f"{page}.html", args.after / f"{page}.html"
        if not new.exists():
            print(f"{page}: missing after"); changed += 1; continue
        (a, ia), (b, ib) = page_text(old), page_text(new)
        if args.ignore_module_paths:
            a, b = ([re.sub(r"coinfer(\.\w+)+", "coinfer.*", line) for line in lines] for lines in (a, b))
        if args.words:
            a, b = " ".join(a).split(), " ".join(b).split()
        diff = [d for d in difflib.unified_diff(a, b, lineterm="", n=0) if not d.startswith(("---", "+++", "@@"))]
        note = f"figures {ia} -> {ib}" if ia != ib else f"{ia} figures"
        print(f"{page}: {'same text' if not diff else f'{len(diff)} changed lines'}, {note}")
        for d in diff[:60]:
            print("   ", d[:200])
        changed += bool(diff)
    print(f"{changed} of {len(pages)} pages differ in text")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
