"""How views look: one palette, one style per method (legend label, colour and marker), one format
per number.

Every view that draws a method (Fig. 3's trade-off, Fig. 4's latency, Fig. 5's channels, the
explorers) asks :func:`method_style` here, so that a method looks the same in every chapter::

    record.method --method_style--> MethodStyle(label, color, marker) --> matplotlib / explorer JSON

Colours come from one colour-blind-safe palette, Okabe and Ito's eight (:data:`PALETTE`), and every
method also has a marker of its own, so that no figure relies on colour alone. Every book figure
is drawn inside :func:`figure_style` (a decorator): matplotlib's colour cycle (``"C0"``, ``"C1"``,
...) is the palette there, and the figure is white, so that it reads the same in the book's light
and dark themes. :func:`hex_color` turns a colour into ``"#rrggbb"`` for the explorers' inline
SVG. The framework is orange, as in the paper's Fig. 3; its JSCC variant (chapter 4) vermillion.

Examples
--------
>>> from coinfer.views.style import method_style
>>> method_style("framework").color, method_style("original").marker
('#E69F00', 's')
"""

from __future__ import annotations

import functools
import math
import textwrap
from typing import Callable, Iterable, NamedTuple

__all__ = ["PALETTE", "CYCLE", "GREY", "MARKERS", "MethodStyle", "METHOD_STYLES", "method_style", "ordered_methods",
           "hex_color", "figure_rc", "figure_style", "format_int", "format_fixed", "format_seconds",
           "format_macs", "data_note"]

#: The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"): eight colours that stay
#: distinct for deuteranopes, protanopes and tritanopes.
PALETTE: dict[str, str] = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
#: A neutral grey for what is context, not a method (raw images, thresholds, masked channels).
GREY = "#7F7F7F"
#: matplotlib's colour cycle inside :func:`figure_style` (``"C0"`` is blue, ``"C1"`` orange, ...):
#: the palette, the most distinct first; yellow last (weakest on white).
CYCLE: tuple[str, ...] = tuple(PALETTE[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky",
                                                    "black", "yellow"))


class MethodStyle(NamedTuple):
    """How one method is drawn: legend ``label``, matplotlib ``color``, matplotlib ``marker``."""

    label: str
    color: str
    marker: str


#: Every method of the committed tables, in legend order. Colours from :data:`PALETTE` (a colour is
#: shared only by methods of different chapters' figures); every method has its own marker.
METHOD_STYLES: dict[str, MethodStyle] = {
    # chapters 3, 5 and 6: the framework and the three baselines of Fig. 3 and Fig. 4
    "framework": MethodStyle("our framework (pruning + two-step encoding)", PALETTE["orange"], "o"),
    "original": MethodStyle("original network + 8-bit Huffman", PALETTE["blue"], "s"),
    "2-step-pruning": MethodStyle("2-Step Pruning + 8-bit Huffman", PALETTE["green"], "^"),
    "bottlenet++": MethodStyle("BottleNet++ (8-bit values)", PALETTE["purple"], "D"),
    "png": MethodStyle("PNG of the image (server-based)", GREY, "*"),
    "on-device": MethodStyle("on-device inference (sends the class index)", PALETTE["black"], "H"),
    # chapter 2: pruning alone
    "framework-pruned": MethodStyle("pruned device part (no encoding)", PALETTE["vermillion"], "v"),
    "fine-tuned-control": MethodStyle("control: fine-tuned, unpruned", PALETTE["black"], "8"),
    # chapter 4: transmission over a noisy channel (Fig. 5)
    "framework-jscc": MethodStyle("JSCC (learned, through the channel)", PALETTE["vermillion"], "p"),
    "framework-jscc-mismatch": MethodStyle("JSCC, trained at another channel quality", PALETTE["purple"], "x"),
    "learned-source-coding+capacity": MethodStyle("learned source coding + capacity-achieving code",
                                                  PALETTE["sky"], "<"),
    "original-huffman+capacity": MethodStyle("original feature (8-bit Huffman) at capacity", PALETTE["green"], ">"),
    "png+capacity": MethodStyle("input image (PNG) at capacity", GREY, "d"),
    # chapter 7: measured on the running system
    "measured:framework": MethodStyle("framework, measured end to end", PALETTE["orange"], "P"),
    "measured:original": MethodStyle("original network, measured end to end", PALETTE["blue"], "X"),
}

#: Markers for series that are not methods (split points, served configurations), in order.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")

#: For methods not in :data:`METHOD_STYLES`: colours and markers of none of the Fig. 3 methods.
_SPARE = (PALETTE["sky"], PALETTE["vermillion"], PALETTE["black"], PALETTE["yellow"], GREY)
_SPARE_MARKERS = ("h", "H", "8", "1", "2")


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
    MethodStyle(label='BottleNet++ (8-bit values)', color='#CC79A7', marker='D')
    >>> method_style("my-method", index=1)
    MethodStyle(label='my-method', color='#D55E00', marker='H')
    """
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    return MethodStyle(method, _SPARE[index % len(_SPARE)], _SPARE_MARKERS[index % len(_SPARE_MARKERS)])


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
        Any matplotlib colour: ``"#E69F00"``, ``"0.45"``, ``"tab:orange"``.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.style import hex_color, method_style
    >>> hex_color(method_style("framework").color), hex_color("0.45")
    ('#e69f00', '#737373')
    """
    from matplotlib.colors import to_hex

    return to_hex(color)


def figure_rc() -> dict:
    """The matplotlib settings every book figure is drawn with (:func:`figure_style` applies them).

    The colour cycle is :data:`CYCLE`, and the figure and its axes are white, also when saved: the
    pydata theme's dark mode shows a figure as the white card it was drawn on, black text and all,
    instead of black text on a dark page.

    Returns
    -------
    dict
        For ``matplotlib.rc_context``.

    Examples
    --------
    >>> from coinfer.views.style import CYCLE, figure_rc
    >>> rc = figure_rc()
    >>> rc["axes.prop_cycle"].by_key()["color"] == list(CYCLE), rc["savefig.facecolor"]
    (True, 'white')
    """
    from cycler import cycler

    return {"axes.prop_cycle": cycler(color=list(CYCLE)), "figure.facecolor": "white",
            "axes.facecolor": "white", "savefig.facecolor": "white", "savefig.transparent": False,
            "image.cmap": "cividis"}


def figure_style(function: Callable) -> Callable:
    """Decorate a ``fig_*`` function: it draws inside ``matplotlib.rc_context(figure_rc())``.

    An axes takes its colour cycle when it is made, so a line drawn without a colour in the
    function's axes takes the palette's, while the caller's own plots keep the caller's settings.
    (A ``"C1"`` string is looked up when the figure is *drawn*, outside the function: write
    ``CYCLE[1]`` instead.)

    Parameters
    ----------
    function : callable
        A figure function.

    Returns
    -------
    callable
        The same function (name, docstring, signature), drawing in the book's style.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from coinfer.views.style import figure_style, hex_color
    >>> @figure_style
    ... def fig_two():
    ...     fig, ax = plt.subplots()
    ...     ax.plot([0, 1])
    ...     ax.plot([1, 0])
    ...     return fig
    >>> fig = fig_two()
    >>> hex_color(fig.axes[0].get_lines()[1].get_color()), fig.get_facecolor()
    ('#e69f00', (1.0, 1.0, 1.0, 1.0))
    """
    @functools.wraps(function)
    def draw(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(figure_rc()):
            return function(*args, **kwargs)

    return draw


# --------------------------------------------------------------------------------------------
# Number formats, shared by every view (the explorers' JavaScript util mirrors them).
# --------------------------------------------------------------------------------------------
# Rounding is Python's: the exact binary value, halves to even (0.125 -> "0.12", 2.5 -> "2");
# util.fixed and util.int in static/explorer.js round the same way, ties included, so that a
# kernel explorer and its page copy show the same digits (tests/test_views_js.py).

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
