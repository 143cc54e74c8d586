"""The book's sources: table of contents, Colab install cells, paired notebooks, build settings.

These run without building the book (fast). The built pages are tested in test_book_browser.py.
"""

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load_sync_tool():
    spec = importlib.util.spec_from_file_location("sync_colab_cells", ROOT / "tools" / "sync_colab_cells.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _load_sync_tool()
CHAPTERS = sync.chapters(ROOT)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    files += [c["file"] for c in toc.get("chapters", [])]
    return files


def test_there_are_chapters_and_every_one_is_in_the_table_of_contents():
    assert CHAPTERS, "no book/NN_*.md chapters found"
    listed = toc_files()
    for md in CHAPTERS:
        assert f"book/{md.stem}" in listed, f"{md.name} is not in _toc.yml, so it would not be built"
    for entry in listed:
        assert (ROOT / f"{entry}.md").exists(), f"_toc.yml lists {entry}, which does not exist"


def test_config_builds_every_chapter_strictly_and_links_colab_to_main():
    assert CONFIG["execute"]["execute_notebooks"] == "cache"     # emptied by make book (tests/test_book_cache.py)
    assert CONFIG["execute"]["allow_errors"] is False
    assert CONFIG["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert CONFIG["only_build_toc_files"] is True
    assert "**.ipynb" in CONFIG["exclude_patterns"]
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_is_what_the_sync_script_writes_for_the_configured_repository(md):
    url, branch = sync.read_repository(ROOT / "_config.yml")
    cell = sync.install_cell_of(jupytext.read(md))
    assert cell is not None, f"{md.name}: the first code cell must be tagged {sync.TAG!r}"
    assert cell.source == sync.colab_cell_source(url, branch), (
        f"{md.name}: its Colab install cell is out of date with _config.yml; run "
        "`python tools/sync_colab_cells.py`")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_exists_matches_its_markdown_and_has_no_outputs(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing; run `python tools/sync_colab_cells.py`"
    nb = nbformat.read(ipynb, as_version=4)
    nbformat.validate(nb)
    text = jupytext.read(md)
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells] == \
           [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in text.cells], (
        f"{ipynb.name} is out of sync with {md.name}; run `python tools/sync_colab_cells.py`")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name} holds outputs"
    assert nb.metadata["jupytext"]["formats"] == "ipynb,md:myst"


def test_sync_check_reports_nothing_to_do():
    assert sync.main(["--check"]) == 0


def test_changing_the_repository_url_changes_the_cell_and_a_stale_cell_is_detected(tmp_path):
    old = sync.colab_cell_source("https://github.com/a/b", "main")
    new = sync.colab_cell_source("https://github.com/c/d", "main")
    assert old != new and "https://github.com/c/d" in new
    md = tmp_path / "01_x.md"
    md.write_text(CHAPTERS[0].read_text())
    assert sync.sync_chapter(md, new, check=True)           # out of date: the real URL differs
    assert sync.sync_chapter(md, new) and sync.install_cell_of(jupytext.read(md)).source == new
    assert sync.sync_chapter(md, new) == []                  # idempotent
    assert (tmp_path / "01_x.ipynb").exists()
    with pytest.raises(ValueError, match="repository.url"):
        bad = tmp_path / "_config.yml"
        bad.write_text("repository: {url: 'git@github.com:x/y', branch: main}\n")
        sync.read_repository(bad)


def test_sync_inserts_an_install_cell_into_a_chapter_that_lacks_one(tmp_path):
    md = tmp_path / "02_new.md"
    md.write_text("---\njupytext:\n  formats: ipynb,md:myst\n  text_representation: {extension: .md, "
                  "format_name: myst}\nkernelspec: {display_name: Python 3, language: python, name: python3}\n"
                  "---\n\n# New\n\n```{code-cell} ipython3\nx = 1\n```\n")
    source = sync.colab_cell_source("https://github.com/a/b", "main")
    sync.sync_chapter(md, source)
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == source and code[1].source == "x = 1"
    assert "# New" in md.read_text()


def _run_install_cell(source, monkeypatch, in_colab):
    calls = []
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(("run", cmd)))
    monkeypatch.setattr(os, "chdir", lambda path: calls.append(("chdir", path)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    url, branch = sync.read_repository(ROOT / "_config.yml")
    assert _run_install_cell(sync.colab_cell_source(url, branch), monkeypatch, in_colab=False) == []


def test_install_cell_in_colab_clones_installs_without_replacing_torch_and_enters_the_book(monkeypatch):
    import importlib.metadata

    source = sync.colab_cell_source("https://github.com/someone/coinfer", "main")
    calls = _run_install_cell(source, monkeypatch, in_colab=True)
    (_, clone), (_, pip), (_, chdir) = calls
    assert clone[:2] == ["git", "clone"] and "https://github.com/someone/coinfer" in clone
    assert clone[clone.index("--branch") + 1] == "main"
    assert pip[1:4] == ["-m", "pip", "install"] and pip[-1] == "/content/coinfer-repo[book]"
    constraints = Path(pip[pip.index("-c") + 1]).read_text().splitlines()
    assert f"torch=={importlib.metadata.version('torch')}" in constraints
    assert chdir == "/content/coinfer-repo/book"


def test_a_notebook_from_plain_jupytext_counts_as_synced_but_one_with_outputs_does_not():
    md = CHAPTERS[0]
    plain = jupytext.writes(jupytext.read(md), fmt="ipynb")     # random cell ids
    assert sync.same_notebook(plain, sync.paired_notebook_text(md))
    nb = nbformat.reads(plain, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    assert not sync.same_notebook(nbformat.writes(nb), sync.paired_notebook_text(md))


def test_a_test_marked_for_a_step_after_the_book_must_live_where_that_step_looks():
    """``make browser-test``, ``make pdf`` and ``make fresh-env-test`` collect only the files named for
    their marker (conftest.MARKER_FILES); a marked test elsewhere stops the collection instead of being
    skipped by the step that should run it."""
    from conftest import _check_marker_files

    def item(path, marker):
        return types.SimpleNamespace(nodeid=f"{path}::test_x", path=Path(path),
                               get_closest_marker=lambda name: name if name == marker else None)

    _check_marker_files([item("tests/test_book_browser.py", "browser"), item("tests/test_book_pdf.py", "pdf"),
                         item("tests/test_fresh_env.py", "fresh_env"), item("tests/test_book.py", None)])
    with pytest.raises(pytest.UsageError, match=r"tests/test_book\.py::test_x \(marked browser: .*test_\*browser\*\.py"):
        _check_marker_files([item("tests/test_book.py", "browser")])
