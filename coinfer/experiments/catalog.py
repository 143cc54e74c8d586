"""The catalog of committed results: every JSON file under ``data/results``, what it holds, where it is used.

The book's "Results" page (book/results.md) is drawn from :func:`table_catalog` when the book is
built, so a new table file appears there by itself::

    data/results/**/*.json --table_catalog--> [CatalogEntry(path, table, preset, description,
                                                 chapters, provenance, command, records), ...]

A lookup table (:func:`coinfer.results.load_table`) is described by ``coinfer.experiments.TABLES``
(what it holds, the chapter it was made for) and its own provenance; any other JSON result (the
search's replay) by its ``schema`` and ``provenance``. The chapters that use a file are the one
``TABLES`` names and every chapter whose text names the file (``"sweep_``,
``table_path("sweep"``, ``search_replay`` for ``search/replay_quick.json``).

Examples
--------
>>> from coinfer.experiments.catalog import table_catalog
>>> sweep = next(e for e in table_catalog() if e.path == "sweep_quick.json")
>>> sweep.table, sweep.preset, sweep.records, sweep.chapters[0][0]
('sweep', 'quick', 85, 5)
>>> sweep.command
'python -m coinfer run sweep --preset quick'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CatalogEntry", "table_catalog", "book_chapters"]


@dataclass(frozen=True)
class CatalogEntry:
    """One committed results file.

    Parameters
    ----------
    path : str
        Relative to the results folder, e.g. ``"sweep_quick.json"``, ``"search/replay_quick.json"``.
    table, preset : str
        The table's name (``"sweep"``) and preset (``"quick"``), from the file name and provenance.
    schema : str
        ``"coinfer.lookup-table"`` or another result's schema.
    description : str
        What it holds (``coinfer.experiments.TABLES``), or ``""`` for an unregistered file.
    chapters : list of (int, str, str)
        ``(number, document, title)`` of every chapter that uses it, e.g.
        ``(5, "book/05_tradeoff", "5. The trade-off ...")``.
    provenance : dict
        As stored in the file.
    command : str
        The command that regenerates it: ``python -m coinfer run <table> --preset <preset>`` for a
        registered table, else the one the provenance recorded.
    records : int
        Number of records (lookup tables) or of top-level entries (``runs`` for the replay).
    methods : list of str
        The records' methods, in order of appearance (lookup tables).
    """

    path: str
    table: str
    preset: str
    schema: str
    description: str
    chapters: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    command: str = ""
    records: int = 0
    methods: list = field(default_factory=list)


def book_chapters(book: Path) -> dict[int, tuple[str, str]]:
    """The numbered chapters of the book: ``{number: (document, title)}``.

    Parameters
    ----------
    book : pathlib.Path
        The ``book/`` folder (chapters are ``NN_*.md`` with a ``# N. Title`` heading).

    Returns
    -------
    dict

    Examples
    --------
    >>> from coinfer.paths import project_root
    >>> from coinfer.experiments.catalog import book_chapters
    >>> book_chapters(project_root() / "book")[5][0]
    'book/05_tradeoff'
    """
    out = {}
    for md in sorted(Path(book).glob("[0-9][0-9]_*.md")):
        heading = re.search(r"^# (\d+)\.\s*(.+)$", md.read_text(encoding="utf-8"), re.MULTILINE)
        if heading:
            out[int(heading.group(1))] = (f"{Path(book).name}/{md.stem}", f"{heading.group(1)}. {heading.group(2)}")
    return out


def _mentions(table: str, folder: str) -> re.Pattern:
    """How a chapter's code names a file: ``f"sweep_{PRESET}``, ``"sweep_quick``, ``("sweep"``; a file
    in a subfolder (``search/replay_quick.json``) by ``search_replay``, ``search/replay`` or its path
    function, ``search_replay_path``."""
    if folder:
        # search_replay_path / search/replay; "x.json" (a path put together: measured / "x.json"); and a tagged
        # file, replay_quick_server_macs, by its path or load function given the tag: load_replay(p, "server_macs")
        tagged = re.fullmatch(r"(.+?)_(?:quick|paper)_(.+)", table)
        return re.compile(r"(?<![\w-])" + re.escape(folder) + r"[_/]" + re.escape(table) + r"(?:_path)?\b"
                          + r"|[\"']" + re.escape(table) + r"\.json[\"']"
                          + (rf"|(?<![\w-])(?:{re.escape(folder)}_|load_){re.escape(tagged[1])}(?:_path)?"
                             + rf"\([^)\n]*[\"']{re.escape(tagged[2])}[\"']" if tagged else ""))
    # followed by its preset, or quoted whole (not "sweep's" in prose), but not as a glue name, a column
    # or a key (glue("rate", ...), set_index(["rate", "method"]), budget["jscc"]: not the tables)
    name = re.escape(table)
    return re.compile(r"(?<![\w-])" + name + r"(?:_\{|_quick\b|_paper\b)|(?<!glue\()(?<!\[)[\"']" + name + r"[\"']")


def table_catalog(results: Path | None = None, book: Path | None = None) -> list[CatalogEntry]:
    """Every ``*.json`` under ``results`` (recursively), described; sorted by chapter, then path.

    Parameters
    ----------
    results : pathlib.Path, optional
        Default :func:`coinfer.paths.results_dir`.
    book : pathlib.Path, optional
        The book's folder, to find the chapters that use each file; default ``<root>/book``.

    Returns
    -------
    list of CatalogEntry

    Raises
    ------
    coinfer.results.SchemaError
        For a file that claims to be a lookup table and is not a valid one.
    """
    from coinfer.experiments import TABLES
    from coinfer.paths import committed_tables, project_root, results_dir
    from coinfer.results import SCHEMA, load_table

    results = Path(results) if results is not None else results_dir()
    book = Path(book) if book is not None else project_root() / "book"
    chapters = book_chapters(book) if book.is_dir() else {}
    # Pages that run code without a chapter number (the paper preset at scale reads the benchmarks): sorted after
    # the chapters (the numbers from 90 only order them; the Results page names such a page by its title).
    for n, md in enumerate(sorted(set(book.glob("*.md")) - {book / f"{d.split('/')[-1]}.md" for d, _ in chapters.values()})
                           if book.is_dir() else [], start=90):
        text = md.read_text(encoding="utf-8")
        if "{code-cell}" in text and (heading := re.search(r"^# (.+)$", text, re.MULTILINE)):
            chapters[n] = (f"{book.name}/{md.stem}", heading.group(1).strip())
    texts = {n: (book.parent / f"{doc}.md").read_text(encoding="utf-8") for n, (doc, _) in chapters.items()}
    entries = []
    for path in committed_tables(results):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        schema = str(data.get("schema", ""))
        # A result without a provenance block (the live search's summary) names them at its top level.
        provenance = (data["provenance"] if isinstance(data.get("provenance"), dict) else
                      {k: data[k] for k in ("dataset", "preset", "command", "git_commit", "hardware", "date",
                                            "wall_time_s") if k in data})
        preset = str(provenance.get("preset") or data.get("preset") or "")
        stem = path.stem
        table = stem[: -len(preset) - 1] if preset and stem.endswith(f"_{preset}") else stem
        folder = path.parent.relative_to(results).as_posix()
        folder = "" if folder == "." else folder
        methods: list[str] = []
        if schema == SCHEMA:
            loaded = load_table(path)                 # a broken table fails the build, by name
            count = len(loaded.records)
            methods = list(dict.fromkeys(r.method for r in loaded.records))
        else:
            count = len(data.get("records", data.get("runs", [])))
        registered = TABLES.get(table) if not folder else None
        numbers = set()
        if registered is not None:
            match = re.match(r"(\d+)\.", registered.chapter)
            if match:
                numbers.add(int(match.group(1)))
        pattern = _mentions(table, folder)
        numbers |= {n for n, text in texts.items() if pattern.search(text)}
        command = (f"python -m coinfer run {table} --preset {preset}" if registered is not None and preset
                   else str(provenance.get("command") or data.get("command") or ""))
        entries.append(CatalogEntry(
            path=path.relative_to(results).as_posix(), table=table, preset=preset, schema=schema,
            description=registered.description if registered is not None else "",
            chapters=[(n, *chapters[n]) for n in sorted(numbers) if n in chapters],
            provenance=provenance, command=command, records=count, methods=methods))
    return sorted(entries, key=lambda e: (e.chapters[0][0] if e.chapters else 99, e.path))
