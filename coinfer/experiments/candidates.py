"""The chooser's candidates: records of the committed lookup tables, with what :func:`choose` needs.

Section II-D: "When we need to deploy a DNN to the network edge, we can choose the best model from
the table." :func:`load_candidates` reads one preset's tables (by default the sweep's, chapter 5),
merges them, and adds the peak activations of the unpruned network for records that carry none;
:meth:`Candidates.threshold` is the tables' accuracy threshold
(:func:`coinfer.results.table_threshold`). The chooser itself is :mod:`coinfer.core.latency`.

Example::

    >>> from coinfer.experiments.candidates import load_candidates
    >>> tables = load_candidates(preset="quick")
    >>> tables.methods[:2], round(tables.threshold(), 4)
    (['png', 'original'], 0.8846)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from coinfer.config import get_preset
from coinfer.core.latency import split_activations
from coinfer.core.network import resnet18
from coinfer.paths import table_path
from coinfer.results import Record, accuracy_threshold, load_table, merge_tables


@dataclass
class Candidates:
    """Records from one or more lookup tables, ready for :func:`coinfer.core.latency.choose`.

    ``activations`` bounds the peak activations of records that carry none (those of the unpruned
    network of the tables' width); ``width`` is that network's width; ``baseline_accuracy`` and
    ``accuracy_drop`` come from the tables' provenance (``None`` for tables written before they
    were recorded); ``sources`` describe the tables.
    """

    records: list[Record]
    activations: dict[str, int]
    width: float
    preset: str
    baseline_accuracy: float | None = None
    accuracy_drop: float | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        """The methods of the records, in order of first appearance."""
        return list(dict.fromkeys(r.method for r in self.records))

    def threshold(self) -> float:
        """The tables' accuracy threshold: their baseline accuracy minus their preset's drop.

        Raises
        ------
        ValueError
            If the tables do not carry their baseline accuracy (give a threshold explicitly).
        """
        if self.baseline_accuracy is None or self.accuracy_drop is None:
            raise ValueError("the tables do not record their baseline accuracy and drop; give the accuracy "
                             "threshold explicitly (e.g. --threshold 88%)")
        return accuracy_threshold(self.baseline_accuracy, self.accuracy_drop)


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


def load_candidates(paths: Sequence | None = None, preset: str = "quick") -> Candidates:
    """Records of the lookup tables at ``paths`` (default: :func:`default_table_paths`).

    All tables must come from the same preset (a quick table and a paper table describe different
    networks) and the same baseline. Later tables replace records of the same configuration in
    earlier ones.

    Parameters
    ----------
    paths : sequence of str or Path, optional
        Lookup table files.
    preset : str
        Whose default tables to read when ``paths`` is not given.

    Returns
    -------
    Candidates

    Raises
    ------
    FileNotFoundError
        If a table is missing; the message says how to build one.
    ValueError
        If the tables come from different presets or baselines.

    Examples
    --------
    >>> from coinfer.experiments.candidates import load_candidates
    >>> from coinfer.paths import table_path
    >>> tables = load_candidates([table_path("original-float32", "quick")])
    >>> len(tables.records), tables.width, tables.activations["input"]
    (12, 0.125, 3072)
    """
    paths = [Path(p) for p in (default_table_paths(preset) if paths is None else paths)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no lookup table at {', '.join(missing)}; build one with 'python -m coinfer run sweep "
                                f"--preset {preset}' or 'python -m coinfer run original-float32 --preset {preset}', "
                                "or name tables with --table")
    tables = [load_table(p) for p in paths]
    presets = {t.provenance.preset for t in tables}
    if len(presets) != 1:
        raise ValueError(f"the tables come from different presets {sorted(presets)}; choose among one preset's tables")
    baselines = {(t.provenance.baseline_accuracy, t.provenance.accuracy_drop) for t in tables
                 if t.provenance.baseline_accuracy is not None}
    if len(baselines) > 1:
        raise ValueError(f"the tables come from different baselines (accuracy, drop) {sorted(baselines)}")
    baseline, drop = baselines.pop() if baselines else (None, None)
    spec = get_preset(presets.pop())
    return Candidates(records=merge_tables(tables), activations=split_activations(resnet18(width=spec.width)),
                      width=spec.width, preset=spec.name, baseline_accuracy=baseline, accuracy_drop=drop,
                      sources=[t.provenance.describe() for t in tables])
