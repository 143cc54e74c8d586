"""How views look: one style per method (legend label, colour, marker) and one format per number.

Every view that draws a method (Fig. 3's trade-off, Fig. 4's latency, Fig. 5's channels, the
explorers) asks :func:`method_style` here, so that a method looks the same in every chapter::

    record.method --method_style--> MethodStyle(label, color, marker) --> matplotlib / explorer JSON

Colours are matplotlib names; :func:`hex_color` turns one into ``"#rrggbb"`` for the explorers'
inline SVG. The framework is orange, as in the paper's Fig. 3; its JSCC variant (chapter 4) red.

Examples
--------
>>> from coinfer.views.style import method_style
>>> method_style("framework").color, method_style("original").marker
('tab:orange', 's')
"""

from __future__ import annotations

import math
import textwrap
from typing import Iterable, NamedTuple

__all__ = ["MethodStyle", "METHOD_STYLES", "method_style", "ordered_methods", "hex_color",
           "format_int", "format_fixed", "format_seconds", "format_macs", "data_note"]


class MethodStyle(NamedTuple):
    """How one method is drawn: legend ``label``, matplotlib ``color``, matplotlib ``marker``."""

    label: str
    color: str
    marker: str


#: Every method of the committed tables, in legend order.
METHOD_STYLES: dict[str, MethodStyle] = {
    # chapters 3, 5 and 6: the framework and the three baselines of Fig. 3 and Fig. 4
    "framework": MethodStyle("our framework (pruning + two-step encoding)", "tab:orange", "o"),
    "original": MethodStyle("original network + 8-bit Huffman", "tab:blue", "s"),
    "2-step-pruning": MethodStyle("2-Step Pruning + 8-bit Huffman", "tab:green", "^"),
    "bottlenet++": MethodStyle("BottleNet++ (8-bit values)", "tab:purple", "D"),
    "png": MethodStyle("PNG of the image (server-based)", "0.45", "*"),
    # chapter 2: pruning alone
    "framework-pruned": MethodStyle("pruned device part (no encoding)", "tab:brown", "s"),
    # chapter 4: transmission over a noisy channel (Fig. 5)
    "framework-jscc": MethodStyle("JSCC (learned, through the channel)", "tab:red", "o"),
    "framework-jscc-mismatch": MethodStyle("JSCC, trained at another channel quality", "tab:pink", "x"),
    "learned-source-coding+capacity": MethodStyle("learned source coding + capacity-achieving code",
                                                  "tab:blue", "s"),
    "original-huffman+capacity": MethodStyle("original feature (8-bit Huffman) at capacity", "tab:green", "^"),
    "png+capacity": MethodStyle("input image (PNG) at capacity", "tab:gray", "d"),
    # chapter 7: measured on the running system
    "measured:framework": MethodStyle("framework, measured end to end", "tab:orange", "P"),
    "measured:original": MethodStyle("original network, measured end to end", "tab:blue", "X"),
}

_SPARE = ("tab:olive", "tab:cyan", "tab:pink", "tab:brown", "tab:red")


def method_style(method: str, index: int = 0) -> MethodStyle:
    """The label, colour and marker of ``method``.

    Parameters
    ----------
    method : str
        A record's ``method`` (e.g. ``"framework"``, ``"bottlenet++"``).
    index : int
        For a method not in :data:`METHOD_STYLES`: which spare colour to take (its position among
        the unknown methods of a figure), so that two unknown methods differ. Its label is its name.

    Returns
    -------
    MethodStyle

    Examples
    --------
    >>> from coinfer.views.style import method_style
    >>> method_style("bottlenet++")
    MethodStyle(label='BottleNet++ (8-bit values)', color='tab:purple', marker='D')
    >>> method_style("my-method", index=1)
    MethodStyle(label='my-method', color='tab:cyan', marker='o')
    """
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    return MethodStyle(method, _SPARE[index % len(_SPARE)], "o")


def ordered_methods(methods: Iterable[str]) -> list[str]:
    """``methods`` in legend order: those of :data:`METHOD_STYLES` first, then the others by name.

    Parameters
    ----------
    methods : iterable of str
        Method names (duplicates are dropped).

    Returns
    -------
    list of str

    Examples
    --------
    >>> from coinfer.views.style import ordered_methods
    >>> ordered_methods(["zeta", "original", "framework", "original"])
    ['framework', 'original', 'zeta']
    """
    methods = set(methods)
    known = [m for m in METHOD_STYLES if m in methods]
    return known + sorted(methods - set(known))


def hex_color(color: str) -> str:
    """A matplotlib colour as ``"#rrggbb"`` (for the explorers' SVG).

    Parameters
    ----------
    color : str
        Any matplotlib colour: ``"tab:orange"``, ``"0.45"``, ``"#d62728"``.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import hex_color, method_style
    >>> hex_color(method_style("framework").color), hex_color("0.45")
    ('#ff7f0e', '#737373')
    """
    from matplotlib.colors import to_hex

    return to_hex(color)


# --------------------------------------------------------------------------------------------
# Number formats, shared by every view (the explorers' JavaScript util mirrors them).
# --------------------------------------------------------------------------------------------

def format_int(x: float) -> str:
    """``1234567.8`` -> ``"1,234,568"`` (rounded, thousands separators).

    Parameters
    ----------
    x : float
        Any finite number (bits, MACs, ...); the unit is the caller's.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import format_int
    >>> format_int(1234567.8), format_int(24576)
    ('1,234,568', '24,576')
    """
    return f"{round(x):,}"


def format_fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals and thousands separators.

    Parameters
    ----------
    x : float
        The number.
    digits : int
        Decimals to keep (rounded).

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import format_fixed
    >>> format_fixed(65536 / 8e3, 1), format_fixed(1234.5678, 2)
    ('8.2', '1,234.57')
    """
    return f"{x:,.{digits}f}"


def format_seconds(t: float) -> str:
    """A duration: ``"26.2 ms"`` below one second, ``"1.05 s"`` above, ``"inf"`` when unbounded.

    Parameters
    ----------
    t : float
        Seconds.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import format_seconds
    >>> format_seconds(0.0262), format_seconds(1.048576), format_seconds(float("inf"))
    ('26.2 ms', '1.05 s', 'inf')
    """
    if not math.isfinite(t):
        return "inf"
    return f"{t * 1e3:,.1f} ms" if t < 1 else f"{t:,.2f} s"


def format_macs(macs: float) -> str:
    """``154076160`` -> ``"154.08 M MACs"`` (multiply-accumulates, in millions).

    Parameters
    ----------
    macs : float
        Multiply-accumulates (FLOPs = 2 x MACs).

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import format_macs
    >>> format_macs(154076160)
    '154.08 M MACs'
    """
    return f"{macs / 1e6:,.2f} M MACs"


def data_note(table, extra: str = "", label: str = "Data:", width: int = 76) -> str:
    """The line under a figure or table: where its numbers come from, wrapped to the page's width.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        The table drawn; its provenance (dataset, preset, hardware, commit, date) is described.
    extra : str
        More text after the provenance (e.g. the wall time and command).
    label : str
        What comes first (``""`` for nothing).
    width : int
        Characters per line (76 fits a code cell's output at the book's default width).

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.style import data_note
    >>> note = data_note(load_table(results_dir() / "pruning_quick.json"))
    >>> note.startswith("Data: fashion-mnist, preset 'quick'"), max(map(len, note.splitlines())) <= 76
    (True, True)
    """
    return textwrap.fill(" ".join(part for part in (label, table.provenance.describe(), extra) if part), width)
