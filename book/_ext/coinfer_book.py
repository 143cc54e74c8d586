"""The book's reader's kit, at build time (registered in _config.yml, sphinx.local_extensions):

* the kernels that execute the chapters learn where the built pages go (``COINFER_BOOK_SRCDIR``,
  ``COINFER_BOOK_OUTDIR``), so that every figure's downloads (``coinfer.views.publish``) are written
  beside its page, in ``_build/html/book/figure-data/``;
* ``.. coinfer-results::`` (book/results.md) lists every committed results file
  (:func:`coinfer.experiments.catalog.table_catalog`): what it holds, the chapters that use it, its
  provenance, the command that regenerates it and a download. A new table file appears by itself;
* the executed chapters kept in jupyter-cache (``execute_notebooks: cache``) are reused only by a build
  of the same inputs: the cache is emptied when the chapters, the library, the stored results, the
  ``COINFER_*`` settings or the packages differ from those of the build that filled it
  (:func:`inputs_fingerprint`). ``make book`` empties it anyway, so it executes every chapter; the
  printed book (``make pdf``) built right after it reuses those executions instead of running them again,
  and the files they wrote beside their pages (:func:`keep_written_files`);
* each chapter's kernel is stopped at once when the chapter has run (:func:`_kill_kernels_when_done`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)


def _minutes(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "not recorded"
    return f"{seconds:,.1f} s" if seconds < 60 else f"{seconds / 60:,.1f} min"


def _literal(text) -> str:
    text = str(text).replace("`", "'")
    return f"``{text}``" if text else "not recorded"


def results_rst(entries, results_root: str = "/data/results") -> list[str]:
    """The Results page's body, as reStructuredText lines: a summary table, then one section per file.

    Parameters
    ----------
    entries : list of coinfer.experiments.catalog.CatalogEntry
        :func:`coinfer.experiments.catalog.table_catalog`.
    results_root : str
        The results folder as a Sphinx path (``/`` is the book's source root), for the downloads.

    Returns
    -------
    list of str
    """
    from coinfer.results import SCHEMA, Provenance

    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 26 10 40 24", "",
             "   * - file", "     - records", "     - used in", "     - made"]
    for e in entries:
        # a chapter by its number ("5. Trade-off" -> 5), a page without one by its title
        used = ", ".join(f":doc:`{title.split('. ', 1)[0] if title[:1].isdigit() else title} </{doc}>`"
                         for _, doc, title in e.chapters) or "no chapter"
        lines += [f"   * - :download:`{e.path} <{results_root}/{e.path}>`", f"     - {e.records}",
                  f"     - {used}", f"     - {str(e.provenance.get('date', ''))[:10] or 'not recorded'}"]
    lines.append("")
    for e in entries:
        title = e.path
        p = e.provenance
        what = e.description or (f"a ``{e.schema}`` file" if e.schema else "a JSON result")
        what = what[0].upper() + what[1:]
        kind = "records" if e.schema == SCHEMA else "entries"
        lines += [title, "^" * len(title), "",
                  f"{what}: {e.records} {kind}"
                  + (f" of the methods {', '.join(f'``{m}``' for m in e.methods)}." if e.methods else "."), ""]
        used = ", ".join(f":doc:`{title} </{doc}>`" for _, doc, title in e.chapters) or "no chapter yet"
        commit = str(p.get("git_commit") or p.get("table_commit") or "")
        fields = [("Used in", used),
                  ("Data", (p.get("dataset") or (f"the table of {_literal(p['table'])}" if p.get("table")
                                                  else "not recorded")) + f", preset {_literal(e.preset)}"),
                  ("Hardware", p.get("hardware") or "not recorded"),
                  ("Commit", (_literal(Provenance.short_commit(commit)) if commit else "not recorded")
                   + (f" (coinfer {p['coinfer_version']})" if p.get("coinfer_version") else "")),
                  ("Date", str(p.get("date", ""))[:19].replace("T", " ") + " UTC" if p.get("date") else "not recorded"),
                  ("Wall time", _minutes(p.get("wall_time_s")))]
        if isinstance(p.get("baseline_accuracy"), float) and isinstance(p.get("accuracy_drop"), (int, float)):
            drop, val = p["accuracy_drop"], p.get("baseline_val_accuracy")
            fields.append(("Accuracy threshold",   # decided on validation where the table has it; test only reported
                           (f"baseline {100 * val:.2f} % minus {drop:g} points on the validation split, which "
                            f"decides; {100 * p['baseline_accuracy']:.2f} % minus {drop:g} on the test split, "
                            "which is only reported" if isinstance(val, float) and p.get("validation") else
                            f"baseline {100 * p['baseline_accuracy']:.2f} % minus {drop:g} points (test split)")))
        fields.append(("Regenerate", _literal(e.command)))
        if p.get("command") and p.get("command") != e.command:
            fields.append(("Recorded command", _literal(p["command"])))
        fields.append(("Download", f":download:`{e.path.rsplit('/', 1)[-1]} <{results_root}/{e.path}>`"))
        lines += [f":{name}: {value}" for name, value in fields] + [""]
    return lines


class CoinferResults(SphinxDirective):
    has_content = False

    def run(self):
        from coinfer.experiments.catalog import table_catalog
        from coinfer.paths import results_dir

        root = Path(self.env.srcdir)
        results = results_dir().resolve()
        entries = table_catalog(results, root / "book")
        for path in sorted(results.rglob("*.json")):
            self.env.note_dependency(str(path))
        # Downloads name the results folder from the source root, or, when COINFER_HOME puts it
        # elsewhere (a smoke run's tables), from this page's folder.
        if results.is_relative_to(root.resolve()):
            results_root = "/" + results.relative_to(root.resolve()).as_posix()
        else:
            results_root = Path(os.path.relpath(results, Path(self.env.doc2path(self.env.docname)).resolve().parent)).as_posix()
        source, _ = self.get_source_info()
        section = nodes.section()
        section.document = self.state.document
        nested_parse_with_titles(self.state, StringList(results_rst(entries, results_root), source=source), section)
        return section.children


def _tell_kernels(app):
    """Kernels inherit this process's environment: where figure files go (coinfer.views.publish)."""
    os.environ["COINFER_BOOK_SRCDIR"] = str(Path(app.srcdir).resolve())
    os.environ["COINFER_BOOK_OUTDIR"] = str(Path(app.outdir).resolve())


# What an executed chapter depends on, besides its own code (which jupyter-cache matches): the files it
# reads, the settings its kernel inherits and the packages that draw and format its outputs.
FINGERPRINT_FOLDERS = ("book", "coinfer", "data/results", "data/checkpoints")
FINGERPRINT_FILES = ("_config.yml", "_toc.yml", "pyproject.toml")
FINGERPRINT_PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "ipywidgets", "myst-nb")


def inputs_fingerprint(root: Path, environ=None) -> str:
    """SHA-256 over everything a built chapter's outputs depend on: the files under
    ``FINGERPRINT_FOLDERS`` and ``FINGERPRINT_FILES`` of ``root`` (names and contents), the ``COINFER_*``
    settings and ``OMP_NUM_THREADS`` of ``environ`` (default: this process's), except the build's own
    ``COINFER_BOOK_*``, Python's version and those of ``FINGERPRINT_PACKAGES``."""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256()
    paths = [root / name for name in FINGERPRINT_FILES if (root / name).is_file()]
    for folder in FINGERPRINT_FOLDERS:
        paths += sorted(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    settings = sorted((k, v) for k, v in environ.items()
                      if (k.startswith("COINFER_") and not k.startswith("COINFER_BOOK_")) or k == "OMP_NUM_THREADS")
    versions = []
    for package in FINGERPRINT_PACKAGES:
        try:
            versions.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((package, None))
    digest.update(repr((settings, sys.version, versions)).encode())
    return digest.hexdigest()


def cache_matching(cache: Path, fingerprint: str) -> bool:
    """Keep the executed chapters in ``cache`` only if they were made from inputs with ``fingerprint``:
    otherwise empty it and record ``fingerprint`` beside it (``<cache>.inputs``). True if kept (False
    also when there is no cache, as after ``make book`` emptied it)."""
    stamp = cache.with_name(cache.name + ".inputs")
    if cache.is_dir() and stamp.exists() and stamp.read_text() == fingerprint:
        return True
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(written_files_store(cache), ignore_errors=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return False


def written_files_store(cache: Path) -> Path:
    """Where the files the cached executions wrote are kept (``<cache>.files``), emptied with the cache."""
    return cache.with_name(cache.name + ".files")


def keep_written_files(outdir: Path, page_dirs, store: Path) -> None:
    """The files the chapters' kernels wrote beside their pages (``figure-data/``,
    :func:`coinfer.views.publish.output_folder`) belong to the executions the cache keeps: this
    build's are copied into ``store``, and ``store``'s, written by the build that executed the
    chapters, into this build, so that a build reusing the executions links to files it has."""
    from coinfer.views.publish import FOLDER

    for page_dir in sorted(set(page_dirs)):
        built, kept = outdir / page_dir / FOLDER, store / page_dir / FOLDER
        if built.is_dir():
            shutil.copytree(built, kept, dirs_exist_ok=True)
        if kept.is_dir():
            shutil.copytree(kept, built, dirs_exist_ok=True)


def _execution_cache(app) -> Path:
    return Path(app.config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache").resolve()


def _keep_written_files(app, exception):
    if exception is None and app.config.nb_execution_mode == "cache":
        keep_written_files(Path(app.outdir), (Path(doc).parent for doc in app.env.found_docs),
                           written_files_store(_execution_cache(app)))


def _check_execution_cache(app):
    """Under ``execute_notebooks: cache``, drop cached chapters that other inputs made (:func:`cache_matching`)."""
    app.coinfer_inputs_changed = False
    if app.config.nb_execution_mode != "cache":
        return
    cache = _execution_cache(app)
    if cache_matching(cache, inputs_fingerprint(Path(app.srcdir).resolve())):
        logger.info(f"coinfer_book: reusing the chapters executed in {cache} (same inputs)")
    else:
        app.coinfer_inputs_changed = True


def _reread_when_inputs_changed(app, env, added, changed, removed):
    """Sphinx re-reads only the pages whose source changed; a page's outputs also change with its inputs,
    so when they did (the cache was emptied) every page is read, and its chapter executed, again."""
    return sorted(env.found_docs) if getattr(app, "coinfer_inputs_changed", False) else []


def _kill_kernels_when_done():
    """A chapter's kernel is discarded once its last output arrived; asked to shut down gracefully, it
    runs Python's exit (torch's and matplotlib's teardown) for 1 to 3 s more, nine times per build. myst-nb
    gives no way to pass nbclient's ``shutdown_kernel``, so its default is set here, for this build."""
    from nbclient import NotebookClient

    NotebookClient.shutdown_kernel.default_value = "immediate"


def setup(app):
    _kill_kernels_when_done()
    app.connect("builder-inited", _tell_kernels)
    app.connect("builder-inited", _check_execution_cache)
    app.connect("env-get-outdated", _reread_when_inputs_changed)
    app.connect("build-finished", _keep_written_files)
    app.add_directive("coinfer-results", CoinferResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
