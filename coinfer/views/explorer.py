"""Explorers: sliders over precomputed results, live in Jupyter/Colab and in the static book.

Every figure of the paper is a view of a lookup table, and a reader learns most by moving through
it. A book page has two audiences: one runs it with a kernel (Colab, Jupyter) and can use
ipywidgets; the other reads the rendered HTML, where ipywidgets draw but never update. A chapter
writes its explorer's logic ONCE, as a Python function ``readout(state) -> output``, and gets both
forms from it:

* :func:`precomputed_explorer`: the kernel-free form. Python calls ``readout`` for every slider
  state (the product of the sliders' values) once, when the page is built, and embeds
  ``{state: output}`` in one self-contained HTML snippet (inline CSS and JS, no CDN, no kernel); the
  JavaScript only looks the state up and draws it;
* :func:`live_explorer`: the ipywidgets form, which calls the same ``readout`` whenever a slider
  moves and shows the same readouts and plot (drawn with matplotlib)::

      Python, once per page build                          browser, every slider move
      -------------------------------------------          ---------------------------------------
      sliders [Slider]  --product-->  states               <input type=range> x N --> state key
      readout(state) for every state --json-->  {key: output}   --lookup--> output --> readouts,
                                                                             inline SVG plot, bar

The output of ``readout`` (and of a JavaScript ``render``)::

    {
      "text": {readout_name: "string shown", ...},     # fills the readouts (as text)
      "html": {readout_name: "<b>markup</b>", ...},    # or as HTML
      "plot": {"series": [{"label", "points": [[x, y], ...], "color", "line": True, "marker": "circle",
                           "dash": "4 3", "size": 4}],
               "hlines": [{"y", "label", "color", "dash"}], "vlines": [{"x", "label", "color", "dash"}],
               "highlight": [{"x", "y", "label", "color", "marker": "star"}]},
      "bars": [{"label", "value", "color"}],           # one stacked horizontal bar (e.g. latency)
    }

Explorers whose slider space is too large to precompute (chapter 6's chooser: device, link and
server) use :func:`static_explorer` with a JavaScript ``render(data, state, util)`` function that
returns the same object; ``util`` offers formatting helpers matching :func:`format_int`,
:func:`format_fixed` and :func:`format_seconds` here (``util.int``, ``util.fixed(x, d)``,
``util.si(x, unit)``, ``util.seconds(t)``, ``util.index(name)``, ``util.argmin(array, key)``).
The runtime and its style are package data files, ``coinfer/views/static/explorer.js`` and
``explorer.css``.

Example (a tiny explorer; chapters 1, 2 and 5 build theirs the same way)::

    >>> from coinfer.views.explorer import Slider, Plot, precomputed_explorer
    >>> def readout(state):
    ...     return {"text": {"y": str(5 * 10 ** state["i"])},
    ...             "plot": {"series": [{"label": "y", "points": [[1, 5], [10, 50], [100, 500]]}]}}
    >>> twin = precomputed_explorer(sliders=[Slider("i", "point", values=[0, 1, 2])], readout=readout,
    ...                             readouts=[("y", "y value")], plot=Plot(xlabel="x", ylabel="y", logy=True))
    >>> twin.html.startswith('<div class="coinfer-explorer"')   # displays in Jupyter and the book
    True
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import io
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Sequence

# The number formats every explorer shows (re-exported here, where chapters and tests first looked).
from coinfer.views.style import format_fixed, format_int, format_macs, format_seconds  # noqa: F401

__all__ = [
    "Slider", "Plot", "StaticExplorer", "static_explorer", "precomputed_explorer", "live_explorer",
    "slider_states", "draw_plot", "columns", "format_int", "format_fixed", "format_seconds", "format_macs",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COUNTER = itertools.count()


# --------------------------------------------------------------------------------------------
# The kernel-free explorer builder
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slider:
    """A slider over a list of values.

    Sliders are always discrete: the ``<input type=range>`` moves over positions ``0..len(values)-1``
    and the render function receives ``values[position]``. Use :meth:`linear` and :meth:`log` for
    evenly or geometrically spaced numbers.

    Parameters
    ----------
    name : str
        Key in the ``state`` object the render function receives (a JavaScript identifier).
    label : str
        Text beside the slider, with its unit, e.g. ``"link rate (kB/s)"``.
    values : sequence of numbers or strings
        What the slider chooses between, in order.
    value : optional
        The initial value (must be one of ``values``); default the first.
    labels : sequence of str, optional
        How each value is shown beside the slider; default ``str(value)``.
    """

    name: str
    label: str
    values: tuple
    value: Any = None
    labels: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(s) for s in self.labels))
        if not _IDENT.match(self.name):
            raise ValueError(f"slider name {self.name!r} must be a JavaScript identifier "
                             "(letters, digits and _, not starting with a digit)")
        if len(self.values) < 2:
            raise ValueError(f"slider {self.name!r} needs at least 2 values, got {list(self.values)!r}")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"slider {self.name!r}: values must be distinct, got {list(self.values)!r} "
                             "(for Slider.log/linear: more digits or fewer steps)")
        if self.value is not None and self.value not in self.values:
            raise ValueError(f"slider {self.name!r}: initial value {self.value!r} is not one of its "
                             f"values {list(self.values)!r}")
        if self.labels is not None and len(self.labels) != len(self.values):
            raise ValueError(f"slider {self.name!r}: {len(self.labels)} labels for {len(self.values)} values")

    @property
    def index(self) -> int:
        """Initial position of the slider."""
        return 0 if self.value is None else self.values.index(self.value)

    @property
    def shown(self) -> tuple[str, ...]:
        return self.labels if self.labels is not None else tuple(_short(v) for v in self.values)

    @classmethod
    def linear(cls, name: str, label: str, start: float, stop: float, num: int,
               value: float | None = None, digits: int = 6) -> "Slider":
        """``num`` evenly spaced values from ``start`` to ``stop`` (inclusive)."""
        if num < 2:
            raise ValueError(f"slider {name!r}: num must be >= 2, got {num!r}")
        values = [round(start + (stop - start) * k / (num - 1), digits) for k in range(num)]
        return cls(name, label, values, value=_nearest(values, value))

    @classmethod
    def log(cls, name: str, label: str, start: float, stop: float, num: int,
            value: float | None = None, digits: int = 4) -> "Slider":
        """``num`` geometrically spaced values from ``start`` to ``stop`` (both > 0), rounded to
        ``digits`` significant digits."""
        if not (start > 0 and stop > 0):
            raise ValueError(f"slider {name!r}: a log slider needs start and stop > 0, got {start!r}, {stop!r}")
        if num < 2:
            raise ValueError(f"slider {name!r}: num must be >= 2, got {num!r}")
        ratio = (stop / start) ** (1 / (num - 1))
        values = [float(f"{start * ratio ** k:.{digits}g}") for k in range(num)]
        return cls(name, label, values, value=_nearest(values, value))

    def spec(self) -> dict:
        return {"name": self.name, "label": self.label, "values": list(self.values),
                "labels": list(self.shown), "index": self.index}


def _nearest(values: Sequence[float], value: float | None):
    if value is None:
        return None
    return min(values, key=lambda v: abs(v - value))


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Plot:
    """Axes of the explorer's inline SVG scatter plot.

    ``xlim``/``ylim`` fix the axes; left as ``None`` they are taken from the first drawing (all
    series, lines and highlights) and then kept, so the axes do not jump while sliders move. On a
    log axis, values <= 0 are drawn at the axis' lower edge (e.g. the server-only point, which puts
    0 MACs on the device).
    """

    xlabel: str
    ylabel: str
    logx: bool = False
    logy: bool = False
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    width: int = 560
    height: int = 340

    def spec(self) -> dict:
        return asdict(self)


@dataclass
class StaticExplorer:
    """A self-contained HTML explorer; displays itself in Jupyter and in the built book.

    Build it with :func:`static_explorer`. ``html`` is the snippet, ``element_id`` the id of its
    outer ``<div>``.
    """

    html: str
    element_id: str
    title: str = ""
    sliders: list = field(default_factory=list)

    def _repr_html_(self) -> str:
        return self.html

    def to_page(self, title: str | None = None) -> str:
        """A complete HTML page holding only this explorer (for sharing or testing)."""
        title = _html.escape(title or self.title or "coinfer explorer")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{title}</title></head>\n<body>\n{self.html}\n</body></html>\n")

    def save(self, path) -> None:
        """Write :meth:`to_page` to ``path``."""
        from pathlib import Path

        Path(path).write_text(self.to_page(), encoding="utf-8")


def columns(records, fields: Sequence[str]) -> dict[str, list]:
    """Records (e.g. a :class:`coinfer.results.LookupTable`'s) as JSON-able columns for a twin.

    ``columns(table.records, ["split", "accuracy", "device_macs", "bits_per_image"])`` gives
    ``{"split": [...], "accuracy": [...], ...}``: one list per field, in record order, which is
    smaller than a list of dicts and easy to scan in a render function (``data.accuracy[i]``).
    Dicts are accepted as records too.

    Parameters
    ----------
    records : iterable
        :class:`coinfer.results.Record` objects (or any objects with these attributes) or dicts.
    fields : sequence of str
        The fields to keep, in this order (units as in :class:`coinfer.results.Record`).

    Returns
    -------
    dict of str to list
        One list per field, one entry per record.

    Raises
    ------
    KeyError
        If a record lacks a field; the message lists the fields it has.

    Examples
    --------
    >>> from coinfer.views.explorer import columns
    >>> columns([{"split": "stem", "bits": 4096}, {"split": "pool", "bits": 512}], ["split", "bits"])
    {'split': ['stem', 'pool'], 'bits': [4096, 512]}
    """
    records = list(records)
    out = {}
    for name in fields:
        values = []
        for i, record in enumerate(records):
            row = record if isinstance(record, dict) else getattr(record, "__dict__", {})
            if name not in row:
                raise KeyError(f"record {i} has no field {name!r}; it has {sorted(row)}")
            values.append(row[name])
        out[name] = values
    return out


def _json_for_script(obj: Any) -> str:
    """JSON safe to embed in a ``<script>`` element (no ``</script>`` can end it early)."""
    try:
        text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except ValueError as error:
        raise ValueError(f"explorer data must be finite JSON numbers (no NaN or infinity): {error}") from error
    except TypeError as error:
        raise TypeError(f"explorer data must be JSON-serializable (lists, dicts, str, numbers): {error}") from error
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def static_explorer(data: Any, sliders: Sequence[Slider], render: str,
                    readouts: Sequence[tuple[str, str]] = (), plot: Plot | None = None,
                    title: str = "", note: str = "", element_id: str | None = None,
                    bars_label: str = "") -> StaticExplorer:
    """Build a kernel-free explorer (see the module docstring for the ``render`` contract).

    Parameters
    ----------
    data : JSON-able
        Precomputed numbers the render function reads (lists, dicts, strings, finite numbers).
    sliders : sequence of Slider
        The controls, shown top to bottom.
    render : str
        JavaScript source of a function expression ``function (data, state, util) {...}``.
    readouts : sequence of (name, label)
        Live text fields, filled from ``render(...).text[name]`` or ``.html[name]``.
    plot : Plot, optional
        Draw ``render(...).plot`` as an inline SVG scatter plot with these axes.
    title, note : str
        A heading above, and a small-print note below (plain text; escaped).
    element_id : str, optional
        Id of the outer ``<div>``; by default derived from the content plus a counter, so that
        several explorers, even identical ones, can live on one page.
    bars_label : str
        Caption of the stacked bar, if the render function returns ``bars``.

    Returns
    -------
    StaticExplorer
        Displays itself (``_repr_html_``); ``.html`` is the snippet.

    Examples
    --------
    >>> from coinfer.views.explorer import Slider, static_explorer
    >>> twin = static_explorer(
    ...     data={"bits": [4096, 512]},
    ...     sliders=[Slider("i", "split point", values=[0, 1], labels=["stem", "pool"])],
    ...     readouts=[("bits", "bits per image")],
    ...     render="function (data, state, util) { return {text: {bits: util.int(data.bits[state.i])}}; }")
    >>> "<script" in twin.html and 'type="range"' in twin.html
    True
    """
    sliders = list(sliders)
    if not sliders:
        raise ValueError("an explorer needs at least one Slider")
    names = [s.name for s in sliders]
    if len(set(names)) != len(names):
        raise ValueError(f"slider names must be unique, got {names!r}")
    if not isinstance(render, str) or "function" not in render and "=>" not in render:
        raise ValueError("render must be JavaScript source of a function expression, e.g. "
                         "'function (data, state, util) { return {text: {...}}; }'")
    readouts = [tuple(r) for r in readouts]
    for name, _ in readouts:
        if not _IDENT.match(name):
            raise ValueError(f"readout name {name!r} must be a JavaScript identifier")
    spec = {"sliders": [s.spec() for s in sliders], "plot": plot.spec() if plot else None,
            "data": data}
    payload = _json_for_script(spec)
    if element_id is None:
        digest = hashlib.sha1((payload + render).encode()).hexdigest()[:8]
        element_id = f"coinfer-x-{digest}-{next(_COUNTER)}"
    elif not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", element_id):
        raise ValueError(f"element_id {element_id!r} must start with a letter and hold only letters, "
                         "digits, - and _")
    e = _html.escape
    style = "<style>\n" + _static("explorer.css").replace("#ID", f"#{element_id}") + "</style>"
    parts = [f'<div class="coinfer-explorer" id="{element_id}">', style]
    if title:
        parts.append(f'<div class="cx-title">{e(title)}</div>')
    for s in sliders:
        sid = f"{element_id}-{s.name}"
        parts.append(
            f'<div class="cx-row"><label for="{sid}">{e(s.label)}</label>'
            f'<input type="range" id="{sid}" data-slider="{s.name}" min="0" max="{len(s.values) - 1}" '
            f'step="1" value="{s.index}" aria-label="{e(s.label)}">'
            f'<output data-slider-value="{s.name}" for="{sid}">{e(s.shown[s.index])}</output></div>')
    if readouts:
        parts.append('<table class="cx-readouts"><tbody>')
        for name, label in readouts:
            parts.append(f'<tr><th scope="row">{e(label)}</th><td data-readout="{name}">&ndash;</td></tr>')
        parts.append("</tbody></table>")
    parts.append('<div class="cx-bars" data-bars hidden>'
                 f'<div class="cx-bars-label">{e(bars_label)}</div><div class="cx-bar"></div>'
                 '<div class="cx-bar-legend"></div></div>')
    if plot:
        parts.append(f'<svg class="cx-plot" data-plot width="{plot.width}" height="{plot.height}" '
                     f'viewBox="0 0 {plot.width} {plot.height}" role="img" '
                     f'aria-label="{e(plot.ylabel)} against {e(plot.xlabel)}"></svg>'
                     '<div class="cx-legend" data-legend></div>')
    parts.append('<div class="cx-error" data-error hidden></div>')
    if note:
        parts.append(f'<div class="cx-note">{e(note)}</div>')
    parts.append(f'<script type="application/json" data-spec>{payload}</script>')
    parts.append("<script>\n(function () {\n" + f"var render = ({render});\n"
                 + _static("explorer.js").replace("__ID__", element_id) + "\n})();\n</script>")
    parts.append("</div>")
    return StaticExplorer(html="\n".join(parts), element_id=element_id, title=title, sliders=sliders)


@lru_cache(maxsize=None)
def _static(name: str) -> str:
    """The text of ``coinfer/views/static/<name>`` (package data)."""
    return resources.files("coinfer.views").joinpath("static", name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# One logic, two forms: precomputed (kernel-free) and live (ipywidgets)
# --------------------------------------------------------------------------------------------

Readout = Callable[[dict], dict]
_PARTS = ("text", "html", "plot", "bars")


def slider_states(sliders: Sequence[Slider]) -> list[tuple[tuple[int, ...], dict]]:
    """Every state of ``sliders``: the product of their values, as ``(positions, state)`` pairs.

    Parameters
    ----------
    sliders : sequence of Slider
        The explorer's controls.

    Returns
    -------
    list of (tuple of int, dict)
        The sliders' positions and ``{slider name: value}``, the first slider varying slowest.

    Examples
    --------
    >>> from coinfer.views.explorer import Slider, slider_states
    >>> slider_states([Slider("a", "a", [1, 2]), Slider("b", "b", ["x", "y"])])[1]
    ((0, 1), {'a': 1, 'b': 'y'})
    """
    grids = [range(len(s.values)) for s in sliders]
    return [(pos, {s.name: s.values[i] for s, i in zip(sliders, pos)}) for pos in itertools.product(*grids)]


def _check_output(output, state) -> dict:
    if not isinstance(output, dict) or set(output) - set(_PARTS):
        raise ValueError(f"readout({state!r}) must return a dict with keys among {_PARTS}, got "
                         f"{sorted(output) if isinstance(output, dict) else type(output).__name__}")
    return output


def precomputed_explorer(sliders: Sequence[Slider], readout: Readout,
                         readouts: Sequence[tuple[str, str]] = (), plot: Plot | None = None,
                         title: str = "", note: str = "", element_id: str | None = None,
                         bars_label: str = "", max_states: int = 2000) -> StaticExplorer:
    """A kernel-free explorer whose every slider state Python computed once.

    Calls ``readout(state)`` for each state of :func:`slider_states` and embeds the outputs; in the
    page, a slider move only looks its state up and draws it (the output's ``text``/``html`` fill
    the readouts, ``plot`` the inline SVG, ``bars`` the stacked bar). A part equal in several
    states (e.g. a plot that one slider does not change) is stored once.

    Parameters
    ----------
    sliders : sequence of Slider
        The controls, shown top to bottom.
    readout : callable
        ``readout(state) -> dict`` with keys among ``text``, ``html``, ``plot``, ``bars`` (see the
        module docstring); ``state`` maps each slider's name to its value. The same function
        serves :func:`live_explorer`.
    readouts : sequence of (name, label)
        The readout rows, filled from ``text[name]`` or ``html[name]``.
    plot : Plot, optional
        Axes of the inline SVG plot.
    title, note : str
        A heading above, and a small-print note below (plain text).
    element_id : str, optional
        Id of the outer ``<div>`` (default: derived from the content, unique on the page).
    bars_label : str
        Caption of the stacked bar.
    max_states : int
        Refuse slider spaces larger than this (the page would grow with them); use
        :func:`static_explorer` with a JavaScript ``render`` instead.

    Returns
    -------
    StaticExplorer

    Examples
    --------
    >>> from coinfer.views.explorer import Slider, precomputed_explorer
    >>> twin = precomputed_explorer([Slider("n", "n", [1, 2, 3])], lambda s: {"text": {"sq": str(s["n"] ** 2)}},
    ...                             readouts=[("sq", "n squared")])
    >>> '"states"' in twin.html and 'data-slider="n"' in twin.html
    True
    """
    sliders = list(sliders)
    states = slider_states(sliders)
    if len(states) > max_states:
        raise ValueError(f"{len(states):,} slider states exceed max_states={max_states:,}; precompute fewer "
                         "values, or write a JavaScript render for static_explorer")
    parts, index, fields, rows = [], {}, {}, {}

    def intern(value) -> int:
        key = _json_for_script(value)
        if key not in index:
            index[key] = len(parts)
            parts.append(value)
        return index[key]

    plots = []
    for positions, state in states:
        output = _check_output(readout(state), state)
        plots.append(output.get("plot"))
        # a part that is a dict (text, html, plot) is stored field by field, so that a readout or a
        # series several states share is stored once; a state is one index per (part, field)
        row = {}
        for name, value in output.items():
            for field_name, v in (value.items() if isinstance(value, dict) else [(None, value)]):
                row[fields.setdefault((name, field_name), len(fields))] = intern(v)
        rows[",".join(map(str, positions))] = row
    table = {key: [row.get(i, -1) for i in range(len(fields))] for key, row in rows.items()}
    data = {"sliders": [s.name for s in sliders], "fields": [list(f) for f in fields], "parts": parts,
            "states": table}
    if plot is not None:   # axes that hold every state (the first state's clipped the others' points)
        plot = replace(plot, xlim=plot.xlim or _limits(plots, "x", plot.logx), ylim=plot.ylim or _limits(plots, "y", plot.logy))
    return static_explorer(data, sliders, _static("lookup.js"), readouts=readouts, plot=plot, title=title,
                           note=note, element_id=element_id, bars_label=bars_label)


def _limits(plots: list, axis: str, log: bool) -> tuple[float, float] | None:
    """The limits explorer.js's ``extent`` takes from one drawing, over every state's: decades on a log
    axis (values <= 0 sit at its lower edge), 5 % of padding on a linear one; None without values."""
    values = [p[0 if axis == "x" else 1] for out in plots if out for s in out.get("series", []) for p in s["points"]]
    values += [h[axis] for out in plots if out for h in out.get("highlight", [])]
    values += [line[axis] for out in plots if out for line in out.get("vlines" if axis == "x" else "hlines", [])]
    values = [v for v in values if v is not None and math.isfinite(v) and (not log or v > 0)]
    if not values:
        return None
    low, high = min(values), max(values)
    if log:
        return 10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high))
    pad = (high - low) * 0.05 or 1.0
    return low - pad, high + pad


def live_explorer(sliders: Sequence[Slider], readout: Readout,
                  readouts: Sequence[tuple[str, str]] = (), plot: Plot | None = None, title: str = "",
                  bars_label: str = "", note: str = ""):
    """The ipywidgets form of :func:`precomputed_explorer`, for readers with a kernel (Jupyter, Colab).

    One selection slider per :class:`Slider`; each move calls ``readout(state)`` and shows its
    readouts as a table, its ``plot`` drawn by :func:`draw_plot` and its ``bars`` as one stacked bar
    (as the page draws them), in one HTML area, with ``note`` under it.

    Parameters
    ----------
    sliders, readout, readouts, plot, title, bars_label, note
        As for :func:`precomputed_explorer` and :func:`static_explorer`.

    Returns
    -------
    ipywidgets.VBox
        The sliders, then the HTML area (``children[-1]``; its ``value`` holds the readouts).

    Examples
    --------
    >>> from coinfer.views.explorer import Slider, live_explorer
    >>> box = live_explorer([Slider("n", "n", [1, 2, 3])], lambda s: {"text": {"sq": str(s["n"] ** 2)}},
    ...                     readouts=[("sq", "n squared")])
    >>> box.children[0].value = 3
    >>> "<b>9</b>" in box.children[-1].value
    True
    """
    import ipywidgets as w

    controls = [w.SelectionSlider(options=list(zip(s.shown, s.values)), value=s.values[s.index],
                                  description=s.label, continuous_update=True,
                                  style={"description_width": "190px"}, layout=w.Layout(width="600px"))
                for s in sliders]
    shown = w.HTML()
    labels = dict(readouts)

    def refresh(*_):
        state = {s.name: c.value for s, c in zip(sliders, controls)}
        out = _check_output(readout(state), state)
        cells = {k: _html.escape(v) for k, v in out.get("text", {}).items()}
        cells.update(out.get("html", {}))
        rows = "".join(f"<tr><td>{_html.escape(label)}</td><td><b>{cells[k]}</b></td></tr>"
                       for k, label in labels.items() if k in cells)
        image = ""
        if plot is not None and out.get("plot"):
            image = f'<img alt="{_html.escape(plot.ylabel)}" src="data:image/png;base64,{_plot_png(out["plot"], plot)}">'
        heading = f"<b>{_html.escape(title)}</b>" if title else ""
        shown.value = (f"{heading}<table>{rows}</table>{image}{_bars_html(out.get('bars') or [], bars_label)}"
                       + (f"<p><small>{_html.escape(note)}</small></p>" if note else ""))

    for control in controls:
        control.observe(refresh, names="value")
    refresh()
    return w.VBox([*controls, shown])


def _bars_html(bars: list[dict], label: str) -> str:
    """A readout's ``bars`` as one stacked bar with its legend, as explorer.js draws them (each bar's
    width its share of the total; every bar carries its colour)."""
    if not bars:
        return ""
    total = sum(max(b["value"], 0) for b in bars) or 1
    parts = "".join(f'<div title="{_html.escape(b["label"])}" style="width:{100 * max(b["value"], 0) / total:.4g}%;'
                    f'background:{b["color"]}"></div>' for b in bars)
    legend = " ".join(f'<span style="color:{b["color"]}">&#9632;</span> {_html.escape(b["label"])}' for b in bars)
    return (f'<div>{_html.escape(label)}</div><div style="display:flex;height:14px;width:560px">{parts}</div>'
            f"<div><small>{legend}</small></div>")


def _plot_png(output: dict, plot: Plot) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(plot.width / 90, plot.height / 90), constrained_layout=True)
    try:
        draw_plot(output, plot, ax=ax)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_MARKERS = {"circle": "o", "square": "s", "star": "*", "none": ""}


def draw_plot(output: dict, plot: Plot, ax=None):
    """Draw an explorer's ``plot`` output (series, lines, highlights) with matplotlib.

    Parameters
    ----------
    output : dict
        The ``plot`` part of a readout's output (see the module docstring).
    plot : Plot
        The axes: labels, log scales, limits.
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made otherwise.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views.explorer import Plot, draw_plot
    >>> ax = draw_plot({"series": [{"label": "a", "points": [[1, 2], [10, 20]]}], "hlines": [{"y": 5}]},
    ...                Plot("x", "y", logx=True))
    >>> ax.get_xscale(), len(ax.get_lines())
    ('log', 2)
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(plot.width / 90, plot.height / 90), constrained_layout=True)
    # As the page: a log axis spans its values' decades, and a value <= 0 (0 MACs: the server-only point)
    # sits at its lower edge; matplotlib dropped it.
    limits = {"x": plot.xlim or (_limits([output], "x", True) if plot.logx else None),
              "y": plot.ylim or (_limits([output], "y", True) if plot.logy else None)}

    def at(v, axis):
        log = plot.logx if axis == "x" else plot.logy
        return limits[axis][0] if log and limits[axis] and v <= 0 else v

    for h in output.get("hlines", []):
        ax.axhline(h["y"], color=h.get("color", "#888"), linestyle="--", linewidth=1.4, label=h.get("label"))
    for v in output.get("vlines", []):
        ax.axvline(v["x"], color=v.get("color", "#888"), linestyle="--", linewidth=1.4, label=v.get("label"))
    for s in output.get("series", []):
        if not s["points"]:
            continue
        xs, ys = zip(*[(at(x, "x"), at(y, "y")) for x, y in s["points"]])
        line = "-" if s.get("line", True) is not False and len(xs) > 1 else ""
        if line and s.get("dash"):
            line = "--"
        ax.plot(xs, ys, linestyle=line or "none", marker=_MARKERS.get(s.get("marker", "circle"), "o") or None,
                markersize=2 * s.get("size", 3.5), color=s.get("color", "#0072b2"), label=s.get("label") or None)
    for h in output.get("highlight", []):
        marker = _MARKERS.get(h.get("marker", "circle"), "o")
        ax.plot([at(h["x"], "x")], [at(h["y"], "y")], linestyle="none", marker=marker, markersize=2 * h.get("size", 8),
                color=h.get("color", "#d55e00"), markeredgecolor="#222", zorder=5)
        if h.get("label"):
            ax.annotate(h["label"], (at(h["x"], "x"), at(h["y"], "y")), textcoords="offset points", xytext=(8, 8),
                        fontsize=8)
    ax.set(xlabel=plot.xlabel, ylabel=plot.ylabel, xscale="log" if plot.logx else "linear",
           yscale="log" if plot.logy else "linear")
    if limits["x"]:
        ax.set_xlim(limits["x"])
    if limits["y"]:
        ax.set_ylim(limits["y"])
    ax.grid(True, alpha=0.3)
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.get_lines()):
        ax.legend(fontsize=7)
    return ax
