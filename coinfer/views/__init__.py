"""Figures and explorers: one module per chapter, one style table, one explorer runtime.

::

    style          one colour-blind-safe palette; one label, colour and marker per method (every
                   figure and explorer); figure_style, the decorator every fig_* function wears
    publish        under every figure: alt text and downloads (SVG, CSV, JSON with provenance)
    plane          the communication-computation plane (Fig. 1) that chapters 1, 2, 5 draw on
    explorer       the explorer runtime: precomputed_explorer / live_explorer (one readout, two
                   forms), static_explorer (JavaScript render; chapter 6's chooser)
    amplification  chapter 1: the communication-computation plane (Fig. 1), split-point explorer
    pruning        chapter 2: channel norms, schedules, pruning results, sparsity explorer
    encoding       chapter 3              jscc       chapter 4 (Fig. 5)
    rate           chapter 3's rate-accuracy curve and its rate-weight explorer
    tradeoff       chapter 5: Fig. 3, the dominance check, threshold explorer
    latency        chapter 6 (Fig. 4)     serving    chapter 7

Every book figure drawn from a committed table (or from what the library computes without one) is
registered in :data:`FIGURES`, and ``python -m coinfer figure NAME [--preset P] [--out F.png]``
draws it with :func:`draw_figure`. To register a figure: write it as ``fig_<name>(table, ax=None)
-> matplotlib.figure.Figure`` in its chapter's module, decorated with
:func:`~coinfer.views.style.figure_style` and ending with ``return publish(fig, "<name>", alt=...,
table=table)`` (:func:`~coinfer.views.publish.publish`: its alt text, said from the data it drew,
and its downloads), and add one line to :data:`FIGURES` naming the module, the function, the
chapter and the table it reads (the ``<table>`` of ``data/results/<table>_<preset>.json``, or
``None`` when the function computes its own data).
Modules are imported only when a figure is drawn, so that ``import coinfer.views.explorer`` stays light.

Examples
--------
>>> from coinfer.views import FIGURES
>>> FIGURES["tradeoff"].chapter, FIGURES["tradeoff"].table
(5, 'sweep')
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Callable, NamedTuple

__all__ = ["FigureEntry", "FIGURES", "figure_function", "figure_table", "draw_figure", "book_preset"]


class FigureEntry(NamedTuple):
    """Where a book figure lives: ``module``'s ``function`` draws it, in chapter ``chapter``, from
    the committed table ``table`` (``None``: the function computes what it draws)."""

    module: str
    function: str
    chapter: int
    table: str | None
    caption: str


#: Every registered book figure, by name (in book order).
FIGURES: dict[str, FigureEntry] = {
    "amplification": FigureEntry("coinfer.views.amplification", "fig_amplification", 1, None,
                                 "Figure 1.1: every split point of the full-width ResNet18 on the plane"),
    "pruning-schedule": FigureEntry("coinfer.views.pruning", "fig_schedule", 2, None,
                                    "Figure 2.2: sparsity over training, three schedules, two presets"),
    "pruning-results": FigureEntry("coinfer.views.pruning", "fig_pruning_results", 2, "pruning",
                                   "Figure 2.3: accuracy, device MACs and bits against the sparsity"),
    "pruning-plane": FigureEntry("coinfer.views.pruning", "fig_pruning_plane", 2, "pruning",
                                 "Figure 2.4: the pruned split points on the plane"),
    "codewords": FigureEntry("coinfer.views.encoding", "fig_codewords", 3, "encoding",
                             "Figure 3.1: the codewords learned for one element, per split point"),
    "accuracy-vs-bits": FigureEntry("coinfer.views.encoding", "fig_accuracy_vs_bits", 3, "encoding",
                                    "Figure 3.2: test accuracy against bits per image, per split point"),
    "real-vs-entropy": FigureEntry("coinfer.views.encoding", "fig_real_vs_entropy", 3, "encoding",
                                   "Figure 3.3: real encoded length against empirical entropy"),
    "rate-curve": FigureEntry("coinfer.views.rate", "fig_rate_curve", 3, "rate",
                              "Figure 3.4: validation accuracy against bits, codes trained with a rate term"),
    "jscc": FigureEntry("coinfer.views.jscc", "fig_jscc_vs_separate", 4, "jscc",
                        "Figure 4.1 (the paper's Fig. 5): JSCC against separate coding, AWGN and BSC"),
    "tradeoff": FigureEntry("coinfer.views.tradeoff", "fig_tradeoff", 5, "sweep",
                            "Figure 5.1 (the paper's Fig. 3): every method at the accuracy threshold"),
    "latency": FigureEntry("coinfer.views.latency", "fig_latency_vs_rate", 6, "sweep",
                           "Figure 6.1 (the paper's Fig. 4): end-to-end latency against the link rate"),
    "measured-latency": FigureEntry("coinfer.views.serving", "fig_measured_latency", 7, "serve_latency",
                                    "Figure 7.1: measured end-to-end latency against the uplink rate"),
    "search": FigureEntry("coinfer.views.search", "fig_search", 8, None,
                          "Figure 8.1: hypervolume found against trainings per sampler (the committed quick replay)"),
    # Not registered: Figure 2.1 (views.pruning.fig_channel_norms) draws a live pruner's masks on the
    # baseline checkpoint, from no table (views may not load checkpoints: that is train's job).
}


def figure_function(name: str) -> Callable:
    """The ``fig_*(table, ax=None)`` function of the registered figure ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.

    Examples
    --------
    >>> from coinfer.views import figure_function
    >>> figure_function("tradeoff").__name__
    'fig_tradeoff'
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; registered: {', '.join(FIGURES)}")
    entry = FIGURES[name]
    return getattr(importlib.import_module(entry.module), entry.function)


def figure_table(name: str, preset: str = "quick"):
    """The committed table the figure ``name`` draws, for ``preset`` (``None`` if it needs none).

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    preset : str
        Whose table: ``data/results/<table>_<preset>.json``.

    Returns
    -------
    coinfer.results.LookupTable or None

    Examples
    --------
    >>> from coinfer.views import figure_table
    >>> len(figure_table("tradeoff").records) > 0, figure_table("amplification")
    (True, None)
    """
    from coinfer.paths import table_path
    from coinfer.results import load_table

    figure_function(name)                 # an unknown name: the error lists the registered ones
    table = FIGURES[name].table
    if table is None:
        return None
    path = table_path(table, preset)
    if not path.exists():
        raise FileNotFoundError(f"figure {name!r} needs {path}; make it with `python -m coinfer run {table} "
                                f"--preset {preset}`")
    return load_table(path)


def draw_figure(name: str, preset: str = "quick"):
    """Draw the registered figure ``name`` from ``preset``'s committed table.

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    preset : str
        Whose table to read.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views import draw_figure
    >>> draw_figure("pruning-results").axes[0].get_ylabel()
    'test accuracy (%), mean ± std of 3 seeds'
    """
    function = figure_function(name)
    return function(figure_table(name, preset))


#: The environment variable that switches the book's chapters to another preset's tables.
PRESET_ENV = "COINFER_PRESET"


def book_preset(*needs: str | Callable[[str], Path]) -> str:
    """The preset a chapter draws: ``$COINFER_PRESET`` (default ``quick``) when every file the chapter
    needs exists for it, else ``quick``, said in one printed line that names the missing files.

    A chapter draws all its figures from one preset, never a mix: until the paper preset's tables
    exist (they take a GPU), ``COINFER_PRESET=paper`` still builds every chapter, from the quick ones.

    Parameters
    ----------
    *needs : str or callable
        A committed table's name (``"sweep"``: :func:`coinfer.paths.table_path`), or a function
        from a preset's name to a file the chapter reads (``coinfer.paths.search_replay_path``).

    Returns
    -------
    str
        The preset's name.

    Raises
    ------
    ValueError
        If ``$COINFER_PRESET`` names no preset; the message lists them.

    Examples
    --------
    >>> from coinfer.views import book_preset
    >>> book_preset("sweep", "pruning")          # unless $COINFER_PRESET names another preset
    'quick'
    """
    from coinfer.config import get_preset
    from coinfer.paths import table_path

    requested = os.environ.get(PRESET_ENV, "quick").strip() or "quick"
    try:
        get_preset(requested)
    except ValueError as error:
        raise ValueError(f"{PRESET_ENV}={requested!r}: {error}") from None
    files = [table_path(need, requested) if isinstance(need, str) else Path(need(requested)) for need in needs]
    missing = [f for f in files if not f.exists()]
    if not missing or requested == "quick":
        return requested
    commands = sorted({f"python -m coinfer run {need} --preset {requested}" for need, f in zip(needs, files)
                       if isinstance(need, str) and f in missing})
    print(f"{PRESET_ENV}={requested}: {', '.join(f.name for f in missing)} not found, so this chapter shows the "
          "quick preset's tables" + (f" (make them with: {'; '.join(commands)})" if commands else ""))
    return "quick"
