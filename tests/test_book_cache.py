"""The book keeps its executed chapters in jupyter-cache (``execute_notebooks: cache``), and a build reuses
them only when nothing they depend on changed (book/_ext/coinfer_book.py): ``make book`` executes every
chapter, and the printed book built right after it (``make pdf``) reuses those executions.

Fast tests check the fingerprint and the cache guard; ``test_a_tiny_book_...`` builds a one-chapter
book five times (about half a minute)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import load_book_extension

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


ext = load_book_extension()


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("book/01_x.md", "coinfer/core/a.py", "data/results/t.json", "data/checkpoints/quick/c.pt",
                 "_config.yml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


def test_the_fingerprint_changes_with_every_input_a_chapter_reads_and_nothing_else(tmp_path):
    root = _project(tmp_path)
    env = {"COINFER_PRESET": "quick", "OMP_NUM_THREADS": "1", "HOME": "/root"}
    first = ext.inputs_fingerprint(root, env)
    assert ext.inputs_fingerprint(root, env) == first
    # The build's own settings, other variables and files outside the inputs (the data set, the build) do not count.
    assert ext.inputs_fingerprint(root, {**env, "COINFER_BOOK_OUTDIR": "/x", "HOME": "/y"}) == first
    (root / "data" / "FashionMNIST").mkdir()
    (root / "data" / "FashionMNIST" / "raw").write_text("images")
    (root / "_build").mkdir()
    (root / "_build" / "page.html").write_text("built")
    assert ext.inputs_fingerprint(root, env) == first
    # A setting of the chapters or the thread count does.
    assert ext.inputs_fingerprint(root, {**env, "COINFER_PRESET": "paper"}) != first
    assert ext.inputs_fingerprint(root, {**env, "OMP_NUM_THREADS": "2"}) != first
    # And so does each input file, its contents or its name.
    for name in ("book/01_x.md", "coinfer/core/a.py", "data/results/t.json", "data/checkpoints/quick/c.pt",
                 "_config.yml"):
        path = root / name
        path.write_text("changed")
        assert ext.inputs_fingerprint(root, env) != first, name
        path.write_text(name)
    assert ext.inputs_fingerprint(root, env) == first
    (root / "data" / "results" / "t.json").rename(root / "data" / "results" / "u.json")
    assert ext.inputs_fingerprint(root, env) != first


def test_a_cache_made_from_other_inputs_is_emptied_and_one_from_the_same_inputs_kept(tmp_path):
    cache = tmp_path / "_build" / ".jupyter_cache"
    assert not ext.cache_matching(cache, "a")               # nothing recorded yet: a fresh cache
    cache.mkdir(parents=True)
    (cache / "global.db").write_text("executed chapters")
    assert ext.cache_matching(cache, "a") and (cache / "global.db").exists()
    assert not ext.cache_matching(cache, "b") and not cache.exists()
    assert (tmp_path / "_build" / ".jupyter_cache.inputs").read_text() == "b"
    assert not ext.cache_matching(cache, "b")               # the same inputs, but no cache left to reuse


def test_the_book_is_executed_through_the_cache_that_make_book_empties():
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert "cache" not in CONFIG["execute"]                  # the default beside each build: _build/.jupyter_cache
    book_target = (ROOT / "Makefile").read_text().split("\nbook:")[1].split("\n\n")[0]
    assert "_build/.jupyter_cache" in book_target.split("$(JUPYTER_BOOK)")[0]


_CHAPTER = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# A chapter

```{code-cell} ipython3
import os
from pathlib import Path

with open(Path(os.environ["RUNS"]), "a") as runs:
    runs.write("run\\n")
# as coinfer.views.publish writes a figure's downloads beside its page
(Path(os.environ["COINFER_BOOK_OUTDIR"]) / "figure-data").mkdir(parents=True, exist_ok=True)
(Path(os.environ["COINFER_BOOK_OUTDIR"]) / "figure-data" / "figure.csv").write_text("a,b\\n")
assert os.environ.get("BREAK") != "1", "a failing cell"
print(os.environ.get("COINFER_SETTING", "none"))
```
"""


def _build(book: Path, runs: Path, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(book), "-W", "-n"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COINFER_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=book,
                          env={**environ, "RUNS": str(runs), **env})


@pytest.mark.slow
def test_a_tiny_book_reuses_its_executed_chapter_only_for_the_same_inputs_and_still_fails_on_a_failing_cell(tmp_path):
    book = tmp_path / "book"
    (book / "_ext").mkdir(parents=True)
    shutil.copy(ROOT / "book" / "_ext" / "coinfer_book.py", book / "_ext")
    config = {"title": "tiny", "execute": {k: CONFIG["execute"][k] for k in ("execute_notebooks", "timeout",
                                                                              "allow_errors", "run_in_temp")},
              "sphinx": {"local_extensions": {"coinfer_book": "_ext"},
                         "config": {"nb_execution_raise_on_error": True}},
              "only_build_toc_files": True}
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapter\n")
    (book / "chapter.md").write_text(_CHAPTER)
    runs = tmp_path / "runs.txt"
    first = _build(book, runs)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = _build(book, runs)                              # same inputs: the cached chapter is reused
    assert again.returncode == 0 and "reusing the chapters executed" in again.stdout
    assert runs.read_text().count("run") == 1
    # a new output folder reusing the executions gets the files they wrote beside their pages
    for made in ("html", ".doctrees"):
        shutil.rmtree(book / "_build" / made)
    moved = _build(book, runs)
    assert moved.returncode == 0 and runs.read_text().count("run") == 1
    assert (book / "_build" / "html" / "figure-data" / "figure.csv").read_text() == "a,b\n"
    changed = _build(book, runs, COINFER_SETTING="other")   # another setting: executed again
    assert changed.returncode == 0 and runs.read_text().count("run") == 2
    page = (book / "_build" / "html" / "chapter.html").read_text()
    assert "other" in page
    for made in (".jupyter_cache", ".doctrees"):             # emptied, as make book does: executed, and
        shutil.rmtree(book / "_build" / made)
    broken = _build(book, runs, COINFER_SETTING="other", BREAK="1")
    assert broken.returncode != 0 and "a failing cell" in broken.stdout + broken.stderr
