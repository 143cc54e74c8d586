"""The book as a classroom and a reference needs it: API page, glossary, bibliography, citation
files, exercises, Colab buttons, the publishing workflow, and a build that fails on broken links.

Fast tests read the sources; ``test_a_broken_reference_fails_the_build`` builds two tiny books
(about half a minute). Every chapter's Colab button in the built book: tests/test_book_browser.py.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
OWNER, REPO = urlparse(REPO_URL).path.strip("/").split("/")
PAGES_URL = f"https://{OWNER.lower()}.github.io/{REPO}/"
#: The paper authors' own code: the one GitHub address that is not ours.
AUTHORS_CODE = "https://github.com/shaojiawei07/Edge_Inference_three-step_framework"


def toc():
    data = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [data["root"]] + [c["file"] for part in data.get("parts", []) for c in part.get("chapters", [])]
    return files + [c["file"] for c in data.get("chapters", [])]


CHAPTERS = [f for f in toc() if re.match(r"book/\d\d_", f)]


# --- API reference ------------------------------------------------------------------------------

def public_modules() -> list[str]:
    return sorted("coinfer." + ".".join(p.relative_to(ROOT / "coinfer").with_suffix("").parts)
                  for p in (ROOT / "coinfer").rglob("*.py") if not p.stem.startswith("_"))


def test_api_page_documents_every_public_module_of_coinfer():
    listed = re.findall(r"^\.\. (?:automodule|coinfer-module):: (coinfer(?:\.\w+)*)\s*$",
                        (ROOT / "book" / "api.md").read_text(), re.M)
    assert len(listed) == len(set(listed)), "a module is listed twice in book/api.md"
    missing = sorted(set(public_modules()) - set(listed))
    assert not missing, f"add to book/api.md (one line each): {['.. coinfer-module:: ' + m for m in missing]}"
    packages = {"coinfer." + ".".join(p.parent.relative_to(ROOT / "coinfer").parts)
                for p in (ROOT / "coinfer").rglob("__init__.py") if p.parent != ROOT / "coinfer"}
    stale = sorted(set(listed) - set(public_modules()) - packages - {"coinfer"})     # a package may be listed
    assert not stale, f"book/api.md lists modules that do not exist: {stale}"
    assert "book/api" in toc()
    for ext in ("sphinx.ext.autodoc", "sphinx.ext.napoleon"):
        assert ext in CONFIG["sphinx"]["extra_extensions"]


CORE = ("core/network", "core/costs", "data", "config", "results", "train", "paths", "views/amplification", "views/explorer",
        "views/style", "views/plane", "views/pruning", "views/tradeoff", "experiments/device_report")


def _public_functions(module: str):
    tree = ast.parse((ROOT / "coinfer" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node


@pytest.mark.parametrize("module", CORE)
def test_core_public_functions_document_parameters_and_an_example(module):
    """Numpy-style docstrings: a Parameters section for functions that take any, and an example."""
    problems = []
    for fn in _public_functions(module):
        doc = ast.get_docstring(fn) or ""
        args = [a.arg for a in fn.args.args + fn.args.kwonlyargs if a.arg not in ("self", "cls")]
        if args and "Parameters\n" not in doc:
            problems.append(f"{fn.name}: no Parameters section")
        for arg in args:
            if "Parameters\n" in doc and not re.search(rf"^\s*(?:\w+,\s*)*\**{arg}(?:,\s*\w+)*\s*(?::|$)", doc, re.M):
                problems.append(f"{fn.name}: parameter {arg!r} undocumented")
        if ">>>" not in doc:
            problems.append(f"{fn.name}: no example (>>>)")
    assert not problems, f"coinfer/{module}.py: " + "; ".join(problems)


# Every module's docstring examples run as doctests: tests/test_docstring_examples.py.


# --- Glossary, bibliography, citation ------------------------------------------------------------

GLOSSARY_TERMS = ["split point", "data amplification", "activation pruning", "structured pruning", "sparsity",
                  "compaction", "JSCC", "channel use", "AWGN", "BSC", "SNR", "capacity", "entropy coding",
                  "range coding", "Huffman coding", "codeword", "MACs", "FLOPs", "lookup table", "Pareto front"]


def glossary_terms() -> set[str]:
    text = (ROOT / "book" / "glossary.md").read_text()
    body = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return {line.strip() for line in body.splitlines() if line and not line.startswith((" ", ":"))}


def test_glossary_defines_the_terms_of_the_paper():
    assert "book/glossary" in toc()
    missing = [t for t in GLOSSARY_TERMS if t not in glossary_terms()]
    assert not missing, f"book/glossary.md lacks {missing}"


def test_every_term_link_in_the_book_has_an_entry():
    terms = {t.lower() for t in glossary_terms()}
    for page in toc():
        for role in re.findall(r"\{term\}`([^`]+)`", (ROOT / f"{page}.md").read_text()):
            target = re.search(r"<([^>]+)>$", role)
            name = " ".join((target.group(1) if target else role).split()).lower()
            assert name in terms, f"{page}.md links the glossary term {name!r}, which is not defined"


REQUIRED_REFERENCES = {"shao2020communication", "kang2017neurosurgeon", "shi2019twostep", "shao2020bottlenet",
                       "li2018jalad", "bourtsoulatze2019deepjscc", "choi2019neural", "zhu2018prune",
                       "he2016resnet", "krizhevsky2009cifar", "xiao2017fashion", "shannon1948mathematical"}


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M))


def test_bibliography_covers_the_paper_and_the_works_it_builds_on():
    assert REQUIRED_REFERENCES <= bib_keys(), sorted(REQUIRED_REFERENCES - bib_keys())
    assert "book/references.bib" in CONFIG["bibtex_bibfiles"]


def test_every_chapter_cites_and_every_citation_exists():
    keys = bib_keys()
    for page in toc():
        text = (ROOT / f"{page}.md").read_text()
        cited = [k.strip() for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text) for k in group.split(",")]
        assert set(cited) <= keys, f"{page}.md cites {sorted(set(cited) - keys)}, missing from references.bib"
        if page in CHAPTERS:
            assert cited, f"{page}.md cites nothing; cite the paper section it re-derives"


def test_citation_files_agree_with_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert cff["cff-version"] == "1.2.0" and cff["version"] == version
    assert cff["references"][0]["title"].startswith("Communication-Computation Trade-Off")
    page = (ROOT / "book" / "how_to_cite.md").read_text()
    assert "@article{shao2020communication" in page and "@software{coinfer" in page and f"version = {{{version}}}" in page
    assert "book/how_to_cite" in toc()


# --- The repository's address, written once --------------------------------------------------------

def _addresses(text: str) -> set[str]:
    return set(re.findall(r"https://(?:github\.com|colab\.research\.google\.com/github)/[\w.-]+/[\w.-]+"
                          r"|https://[\w-]+\.github\.io/[\w.-]+", text))


@pytest.mark.parametrize("path", ["README.md", "CITATION.cff", "book/how_to_cite.md", "book/intro.md"])
def test_links_to_the_repository_and_the_published_book_agree_with_config(path):
    text = (ROOT / path).read_text()
    ours = {a for a in _addresses(text) if not a.startswith(AUTHORS_CODE)}
    allowed = {REPO_URL, f"https://colab.research.google.com/github/{OWNER}/{REPO}", PAGES_URL.rstrip("/")}
    assert ours <= allowed, f"{path} links {sorted(ours - allowed)}; the repository is {REPO_URL} (_config.yml)"


def test_readme_links_the_published_book():
    assert f"<{PAGES_URL}>" in (ROOT / "README.md").read_text()
    assert (ROOT / "CITATION.cff").read_text().count(PAGES_URL) == 1


def test_pages_workflow_builds_the_book_and_deploys_it_on_push_to_main():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    on = flow.get("on", flow.get(True))              # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build = flow["jobs"]["build"]["steps"]
    runs = "\n".join(s.get("run", "") for s in build)
    assert "make book" in runs and "dataset-fashion-mnist" in runs
    uses = [s.get("uses", "") for s in build]
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html" and uses.index(upload["uses"]) > uses.index("actions/checkout@v4")
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


# --- Chapters: run time, exercises, what to remember ----------------------------------------------

@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.split("/")[-1])
def test_chapter_states_its_run_time_and_ends_with_graded_exercises_and_what_to_remember(chapter):
    text = (ROOT / f"{chapter}.md").read_text()
    head = text[:text.index("\n## ")] if "\n## " in text else text
    assert re.search(r":::\{admonition\} Run time", head), f"{chapter}: a 'Run time' admonition near the top"
    assert "Colab" in head and "quick" in head and "paper" in head
    tail = text[text.rindex("\n## Exercises"):] if "\n## Exercises" in text else ""
    assert tail, f"{chapter}: needs a final '## Exercises' section"
    for level in ("easy", "medium", "hard"):
        assert re.search(rf"\*\*\({level}\)\*\*", tail, re.I), f"{chapter}: no exercise marked **({level})**"
    assert tail.count(":class: dropdown") >= 3, f"{chapter}: each exercise needs a solution in a dropdown"
    assert ":::{admonition} What to remember" in tail, f"{chapter}: needs a 'What to remember' box at the end"


def test_course_plan_covers_every_chapter_in_two_to_four_sessions():
    text = (ROOT / "book" / "course_plan.md").read_text()
    for chapter in CHAPTERS:
        assert f"{{doc}}`{chapter.split('/')[-1]}`" in text, f"course plan does not schedule {chapter}"
    for sessions in ("two", "three", "four"):
        assert f"## In {sessions} sessions" in text
    assert "book/course_plan" in toc()


def test_framework_diagram_is_generated_and_shows_the_three_steps():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_framework_diagram as diagram
    finally:
        sys.path.pop(0)
    svg = diagram.draw()
    assert svg == (ROOT / "book" / "_static" / "framework.svg").read_text(), "run `make diagram`"
    committed = (ROOT / "book" / "_static" / "framework.svg").stat().st_mtime_ns
    with pytest.raises(SystemExit):
        diagram.main(["--help"])                          # it wrote the committed file before it looked
    assert (ROOT / "book" / "_static" / "framework.svg").stat().st_mtime_ns == committed
    for words in ("split point", "mask", "recover", "sparsity", "dimension reduction", "source coding",
                  "entropy coding", "JSCC", "lookup table"):
        assert words.lower() in svg.lower(), f"the framework diagram does not show {words!r}"
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)                 # well-formed


# --- The build refuses broken references ----------------------------------------------------------

_TINY_PAGE = """# Page

See {{doc}}`{doc}`, {{ref}}`the label <{ref}>`, the term {{term}}`{term}` and {{cite:p}}`{cite}`.

(good-label)=
## A section
"""


def _tiny_book(tmp: Path, doc="glossary", ref="good-label", term="split point", cite="shao2020communication"):
    tmp.mkdir()
    config = {k: CONFIG[k] for k in ("title", "parse", "sphinx")}
    config["sphinx"] = {"extra_extensions": [e for e in CONFIG["sphinx"]["extra_extensions"] if "mathjax" not in e],
                        "config": {"nitpicky": True}}
    config.update(bibtex_bibfiles=["references.bib"], execute={"execute_notebooks": "off"}, only_build_toc_files=True)
    (tmp / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: glossary\n  - file: refs\n")
    (tmp / "index.md").write_text(_TINY_PAGE.format(doc=doc, ref=ref, term=term, cite=cite))
    (tmp / "glossary.md").write_text("# Glossary\n\n```{glossary}\nsplit point\n  Where the network is cut.\n```\n")
    (tmp / "refs.md").write_text("# References\n\n```{bibliography}\n```\n")
    shutil.copy(ROOT / "book" / "references.bib", tmp / "references.bib")
    # The same command as `make book`: jupyter-book build -W -n, plus --keep-going to see every error.
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(tmp), "-W", "-n", "--keep-going"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)


@pytest.mark.slow
def test_a_broken_reference_fails_the_build(tmp_path):
    good = _tiny_book(tmp_path / "good")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    bad = _tiny_book(tmp_path / "bad", doc="no_such_page", ref="no-such-label", term="no such term",
                     cite="nosuch2099")
    log = bad.stdout + bad.stderr
    assert bad.returncode != 0, "a book with broken references built without an error"
    for target in ("no_such_page", "no-such-label", "no such term", "nosuch2099"):
        assert target in log, f"the build did not report the broken reference {target!r}:\n{log[-3000:]}"
