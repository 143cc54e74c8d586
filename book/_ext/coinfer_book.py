"""The book's reader's kit, at build time (registered in _config.yml, sphinx.local_extensions):

* the kernels that execute the chapters learn where the built pages go (``COINFER_BOOK_SRCDIR``,
  ``COINFER_BOOK_OUTDIR``), so that every figure's downloads (``coinfer.views.publish``) are written
  beside its page, in ``_build/html/book/figure-data/``;
* ``.. coinfer-results::`` (book/results.md) lists every committed results file
  (:func:`coinfer.experiments.catalog.table_catalog`): what it holds, the chapters that use it, its
  provenance, the command that regenerates it and a download. A new table file appears by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


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
    from coinfer.results import SCHEMA

    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 26 10 40 24", "",
             "   * - file", "     - records", "     - used in", "     - made"]
    for e in entries:
        used = ", ".join(f":doc:`{n} </{doc}>`" for n, doc, _ in e.chapters) or "no chapter"
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
                  ("Commit", (f"{_literal(commit[:10])}" if commit else "not recorded")
                   + (f" (coinfer {p['coinfer_version']})" if p.get("coinfer_version") else "")),
                  ("Date", str(p.get("date", ""))[:19].replace("T", " ") + " UTC" if p.get("date") else "not recorded"),
                  ("Wall time", _minutes(p.get("wall_time_s")))]
        if isinstance(p.get("baseline_accuracy"), float) and isinstance(p.get("accuracy_drop"), (int, float)):
            fields.append(("Accuracy threshold", f"baseline {100 * p['baseline_accuracy']:.2f} % minus "
                                                 f"{p['accuracy_drop']:g} points"))
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


def setup(app):
    app.connect("builder-inited", _tell_kernels)
    app.add_directive("coinfer-results", CoinferResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
