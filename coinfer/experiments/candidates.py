"""The chooser's candidates read from the committed lookup tables.

Section II-D: "When we need to deploy a DNN to the network edge, we can choose the best model from
the table." :func:`load_candidates` reads one preset's tables (by default the sweep's, chapter 5)
into a :class:`coinfer.core.latency.Candidates` (merged records, the activations of the unpruned
network for records that carry none, the tables' accuracy threshold). The chooser itself is
:mod:`coinfer.core.latency`.

Example::

    >>> from coinfer.experiments.candidates import load_candidates
    >>> tables = load_candidates(preset="quick")
    >>> tables.methods[:2], round(tables.threshold(), 4)
    (['png', 'on-device'], 0.8906)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from coinfer.config import get_preset
from coinfer.core.latency import Candidates
from coinfer.paths import table_path
from coinfer.results import load_table


def default_table_paths(preset: str = "quick") -> list[Path]:
    """The lookup tables the latency tools read unless told otherwise.

    The sweep's table (``python -m coinfer run sweep``, chapter 5: every method's configurations,
    evaluated the same way) when it exists; else the float32 ``original`` table
    (:mod:`coinfer.experiments.original`). Other tables (one step's own results, measurements) are
    not read by default: they may repeat configurations with other numbers.

    Parameters
    ----------
    preset : str
        Whose tables.

    Returns
    -------
    list of pathlib.Path
        One path (:func:`coinfer.paths.table_path`).

    Examples
    --------
    >>> from coinfer.experiments.candidates import default_table_paths
    >>> [p.name for p in default_table_paths("quick")]
    ['sweep_quick.json']
    """
    sweep = table_path("sweep", preset)
    return [sweep] if sweep.exists() else [table_path("original-float32", preset)]


def load_candidates(paths: str | Path | Sequence | None = None, preset: str = "quick") -> Candidates:
    """Records of the lookup tables at ``paths`` (default: :func:`default_table_paths`).

    All tables must come from the same preset (a quick table and a paper table describe different
    networks) and the same baseline. Later tables replace records of the same configuration in
    earlier ones.

    Parameters
    ----------
    paths : str, Path or sequence of them, optional
        Lookup table files (one path alone is one table).
    preset : str
        Whose default tables to read when ``paths`` is not given.

    Returns
    -------
    coinfer.core.latency.Candidates

    Raises
    ------
    FileNotFoundError
        If a table is missing; the message says how to build one.
    ValueError
        If ``paths`` is empty, or the tables come from different presets or baselines.

    Examples
    --------
    >>> from coinfer.experiments.candidates import load_candidates
    >>> from coinfer.paths import table_path
    >>> tables = load_candidates([table_path("original-float32", "quick")])
    >>> len(tables.records), tables.width, tables.activations["input"]
    (12, 0.125, 3072)
    >>> len(load_candidates(table_path("original-float32", "quick")).records)      # one table, not in a list
    12
    """
    paths = default_table_paths(preset) if paths is None else [paths] if isinstance(paths, (str, Path)) else paths
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("load_candidates needs one or more lookup tables, got none; give paths=None for the "
                         f"default tables of preset {preset!r} ({', '.join(map(str, default_table_paths(preset)))})")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no lookup table at {', '.join(missing)}; build one with 'python -m coinfer run sweep "
                                f"--preset {preset}' or 'python -m coinfer run original-float32 --preset {preset}', "
                                "or name tables with --table")
    tables = [load_table(p) for p in paths]
    return Candidates.from_tables(tables, width=get_preset(tables[0].provenance.preset).width)
