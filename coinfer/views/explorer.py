"""Explorers: sliders over precomputed results, live in Jupyter/Colab and in the static book.

Every figure of the paper is a view of a lookup table, and a reader learns most by moving through
it. A book page has two audiences: one runs it with a kernel (Colab, Jupyter) and can use
ipywidgets; the other reads the rendered HTML, where ipywidgets draw but never update. So each
explorer comes in two forms:

* an **ipywidgets explorer** that calls coinfer live (e.g. :func:`split_point_explorer`), and
* a **kernel-free twin** (e.g. :func:`split_point_twin`) built with :func:`static_explorer`:
  precomputed data (JSON) + slider definitions + a small JavaScript ``render`` function, turned into
  one self-contained HTML snippet (inline CSS and JS, no CDN, no kernel) that moves in the rendered
  book and in any notebook front end::

      Python (once, when the page is built)            browser (every slider move)
      ------------------------------------             -----------------------------------------
      data (lists/dicts)  --json-->  <script type=application/json>  --> render(data, state, util)
      sliders [Slider]    ------->   <input type=range> x N                |  returns {text, html,
      render (JS source)  ------->   inline <script>                       |  plot, bars}
                                                                           v
                                            readouts, inline SVG scatter plot, stacked bar

The ``render`` contract (JavaScript), for chapter authors::

    function (data, state, util) {
      // data : the JSON-able object given to static_explorer(data=...)
      // state: {slider_name: current value, ...}; util.index(name) gives the slider position
      return {
        text: {readout_name: "string shown", ...},      // fills the readouts (as text)
        html: {readout_name: "<b>markup</b>", ...},     // or as HTML
        plot: {series: [{label, points: [[x, y], ...], color, line: true, marker: "circle",
                         dash: "4 3", size: 4}],
               hlines: [{y, label, color, dash}], vlines: [{x, label, color, dash}],
               highlight: [{x, y, label, color, marker: "star"}]},
        bars: [{label, value, color}],                  // one stacked horizontal bar (e.g. latency)
      };
    }

A lookup-table explorer (e.g. chapter 6: pick, for the sliders' device, link and server, the
fastest record that fits) passes the table as columns (:func:`columns`) and lets ``render``
scan them: infeasible and feasible records as two series (``line: false``), the chosen one as a
``highlight``, its latency terms as ``bars``, and a readout saying so when nothing fits.

``util`` offers formatting helpers that match :func:`format_int`, :func:`format_fixed` and
:func:`format_seconds` here: ``util.int(x)`` ("1,234"), ``util.fixed(x, d)``, ``util.si(x, unit)``
("2.10 M" + unit), ``util.seconds(t)`` ("26.2 ms" / "1.05 s"), ``util.index(name)``, and
``util.argmin(array, key)``.

Example (a tiny twin; chapters 2-6 build theirs the same way)::

    >>> from coinfer.views.explorer import Slider, Plot, static_explorer
    >>> twin = static_explorer(
    ...     data={"x": [1, 10, 100], "y": [5, 50, 500]},
    ...     sliders=[Slider("i", "point", values=[0, 1, 2])],
    ...     readouts=[("y", "y value")],
    ...     render="function (data, state, util) { return {text: {y: util.int(data.y[state.i])}}; }",
    ...     plot=Plot(xlabel="x", ylabel="y", logx=True, logy=True))
    >>> twin.html.startswith('<div class="coinfer-explorer"')   # displays in Jupyter and the book
    True
"""

from __future__ import annotations

import hashlib
import html as _html
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

__all__ = [
    "Slider", "Plot", "StaticExplorer", "static_explorer", "columns",
    "format_int", "format_fixed", "format_seconds", "format_macs",
    "rate_values_kBps", "split_point_data", "split_point_readout",
    "split_point_explorer", "split_point_twin",
    "pruning_data", "pruning_explorer", "pruning_twin",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COUNTER = itertools.count()


# --------------------------------------------------------------------------------------------
# Number formatting shared by the Python explorers and the JavaScript twins (kept identical so
# that a test can compare what the two show).
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
    >>> from coinfer.views.explorer import format_int
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
    >>> from coinfer.views.explorer import format_fixed
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
    >>> from coinfer.views.explorer import format_seconds
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
    >>> from coinfer.views.explorer import format_macs
    >>> format_macs(154076160)
    '154.08 M MACs'
    """
    return f"{macs / 1e6:,.2f} M MACs"


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
    parts = [f'<div class="coinfer-explorer" id="{element_id}">', _STYLE.replace("#ID", f"#{element_id}")]
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
                 + _RUNTIME.replace("__ID__", element_id) + "\n})();\n</script>")
    parts.append("</div>")
    return StaticExplorer(html="\n".join(parts), element_id=element_id, title=title, sliders=sliders)


_STYLE = """<style>
#ID { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px;
      border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 14px; margin: 8px 0;
      max-width: 640px; background: #fff; color: #1f2328; }
#ID .cx-title { font-weight: 600; margin-bottom: 6px; }
#ID .cx-row { display: flex; align-items: center; gap: 10px; margin: 4px 0; }
#ID .cx-row label { flex: 0 0 190px; }
#ID .cx-row input[type=range] { flex: 1 1 auto; }
#ID .cx-row output { flex: 0 0 120px; font-variant-numeric: tabular-nums; font-weight: 600; }
#ID table.cx-readouts { border-collapse: collapse; margin: 6px 0; }
#ID table.cx-readouts th { text-align: left; font-weight: normal; padding: 2px 12px 2px 0; color: #57606a; }
#ID table.cx-readouts td { font-variant-numeric: tabular-nums; font-weight: 600; padding: 2px 0; }
#ID .cx-bar { display: flex; height: 18px; width: 100%; border-radius: 3px; overflow: hidden; background: #eee; }
#ID .cx-bar > div { height: 100%; }
#ID .cx-bar-legend span { margin-right: 12px; font-size: 12px; }
#ID .cx-bars-label { font-size: 12px; color: #57606a; }
#ID svg.cx-plot { display: block; max-width: 100%; height: auto; }
#ID svg.cx-plot text { font-size: 11px; fill: #1f2328; }
#ID .cx-legend span { margin-right: 14px; font-size: 12px; white-space: nowrap; }
#ID .cx-swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
#ID .cx-error { color: #b42318; font-family: monospace; white-space: pre-wrap; }
#ID .cx-note { font-size: 12px; color: #57606a; margin-top: 6px; }
</style>"""

# The runtime shared by every explorer: reads the spec, wires the sliders, calls ``render`` and
# draws its result. Plain ES5-compatible JavaScript, no dependencies.
_RUNTIME = r"""
var root = document.getElementById("__ID__");
var spec = JSON.parse(root.querySelector("script[data-spec]").textContent);
var SVGNS = "http://www.w3.org/2000/svg";
var inputs = {};
spec.sliders.forEach(function (s) { inputs[s.name] = root.querySelector('input[data-slider="' + s.name + '"]'); });
var util = {
  int: function (x) { return Math.round(x).toLocaleString("en-US"); },
  fixed: function (x, d) { return x.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d}); },
  seconds: function (t) {
    if (!isFinite(t)) { return "inf"; }
    return t < 1 ? util.fixed(t * 1e3, 1) + " ms" : util.fixed(t, 2) + " s";
  },
  si: function (x, unit) {
    var p = [[1e12, " T"], [1e9, " G"], [1e6, " M"], [1e3, " k"]];
    for (var i = 0; i < p.length; i++) { if (Math.abs(x) >= p[i][0]) { return util.fixed(x / p[i][0], 2) + p[i][1] + (unit || ""); } }
    return util.fixed(x, x === Math.round(x) ? 0 : 2) + " " + (unit || "");
  },
  index: function (name) { return parseInt(inputs[name].value, 10); },
  argmin: function (arr, key) {
    var best = -1, bestv = Infinity;
    arr.forEach(function (a, i) { var v = key ? key(a, i) : a; if (v < bestv) { bestv = v; best = i; } });
    return best;
  }
};
function el(name, attrs, parent) {
  var e = document.createElementNS(SVGNS, name);
  for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) { e.setAttribute(k, attrs[k]); } }
  if (parent) { parent.appendChild(e); }
  return e;
}
var limits = null;
function extent(out, pl) {
  var xs = [], ys = [];
  (out.series || []).forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
  (out.highlight || []).forEach(function (h) { xs.push(h.x); ys.push(h.y); });
  (out.hlines || []).forEach(function (h) { ys.push(h.y); });
  (out.vlines || []).forEach(function (v) { xs.push(v.x); });
  function lim(vals, log, fixed) {
    if (fixed) { return fixed; }
    vals = vals.filter(function (v) { return isFinite(v) && (!log || v > 0); });
    if (!vals.length) { return log ? [1, 10] : [0, 1]; }
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (log) { return [Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi)))]; }
    var pad = (hi - lo) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  return {x: lim(xs, pl.logx, pl.xlim), y: lim(ys, pl.logy, pl.ylim)};
}
function ticks(lim, log) {
  var t = [];
  if (log) {
    for (var e = Math.floor(Math.log10(lim[0])); e <= Math.ceil(Math.log10(lim[1])); e++) {
      var v = Math.pow(10, e); if (v >= lim[0] * 0.999 && v <= lim[1] * 1.001) { t.push(v); }
    }
    return t;
  }
  var span = lim[1] - lim[0], step = Math.pow(10, Math.floor(Math.log10(span / 5)));
  if (span / step > 10) { step *= 2; } if (span / step > 10) { step *= 2.5; }
  for (var v2 = Math.ceil(lim[0] / step) * step; v2 <= lim[1] + 1e-9 * span; v2 += step) { t.push(v2); }
  return t;
}
function tickLabel(v, log) {
  if (log) { var e = Math.round(Math.log10(v)); return e >= -2 && e <= 3 ? String(v) : "1e" + e; }
  return Math.abs(v) >= 1e4 ? v.toExponential(1) : String(Math.round(v * 1e6) / 1e6);
}
function markerShape(g, kind, x, y, size, color) {
  if (kind === "star") {
    var pts = [];
    for (var k = 0; k < 10; k++) {
      var r = k % 2 ? size * 0.45 : size, a = Math.PI / 2 + k * Math.PI / 5;
      pts.push((x + r * Math.cos(a)).toFixed(2) + "," + (y - r * Math.sin(a)).toFixed(2));
    }
    return el("polygon", {points: pts.join(" "), fill: color, stroke: "#222", "stroke-width": 0.8}, g);
  }
  if (kind === "square") { return el("rect", {x: x - size, y: y - size, width: 2 * size, height: 2 * size, fill: color}, g); }
  return el("circle", {cx: x, cy: y, r: size, fill: color}, g);
}
function drawPlot(out) {
  var svg = root.querySelector("svg[data-plot]");
  if (!svg || !out) { return; }
  var pl = spec.plot, W = pl.width, H = pl.height, m = {l: 64, r: 12, t: 10, b: 44};
  if (!limits) { limits = extent(out, pl); }
  var lx = limits.x, ly = limits.y;
  function sx(v) {
    if (pl.logx) { v = v > 0 ? Math.log10(v) : Math.log10(lx[0]); return m.l + (v - Math.log10(lx[0])) / (Math.log10(lx[1]) - Math.log10(lx[0])) * (W - m.l - m.r); }
    return m.l + (v - lx[0]) / (lx[1] - lx[0]) * (W - m.l - m.r);
  }
  function sy(v) {
    if (pl.logy) { v = v > 0 ? Math.log10(v) : Math.log10(ly[0]); return H - m.b - (v - Math.log10(ly[0])) / (Math.log10(ly[1]) - Math.log10(ly[0])) * (H - m.t - m.b); }
    return H - m.b - (v - ly[0]) / (ly[1] - ly[0]) * (H - m.t - m.b);
  }
  while (svg.firstChild) { svg.removeChild(svg.firstChild); }
  var axes = el("g", {}, svg);
  ticks(lx, pl.logx).forEach(function (v) {
    var x = sx(v);
    el("line", {x1: x, x2: x, y1: m.t, y2: H - m.b, stroke: "#e5e7eb"}, axes);
    el("text", {x: x, y: H - m.b + 14, "text-anchor": "middle"}, axes).textContent = tickLabel(v, pl.logx);
  });
  ticks(ly, pl.logy).forEach(function (v) {
    var y = sy(v);
    el("line", {x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: "#e5e7eb"}, axes);
    el("text", {x: m.l - 4, y: y + 4, "text-anchor": "end"}, axes).textContent = tickLabel(v, pl.logy);
  });
  el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "none", stroke: "#57606a"}, axes);
  el("text", {x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle"}, axes).textContent = pl.xlabel;
  el("text", {x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
              transform: "rotate(-90 14 " + (m.t + H - m.b) / 2 + ")"}, axes).textContent = pl.ylabel;
  var legend = root.querySelector("[data-legend]"), items = [];
  // Data are clipped to the plot area, so that points outside fixed limits do not spill over.
  var clip = el("clipPath", {id: "__ID__-clip"}, el("defs", {}, svg));
  el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b}, clip);
  var g = el("g", {"clip-path": "url(#__ID__-clip)"}, svg);
  (out.hlines || []).forEach(function (h) {
    el("line", {x1: m.l, x2: W - m.r, y1: sy(h.y), y2: sy(h.y), stroke: h.color || "#888",
                "stroke-dasharray": h.dash || "6 4", "stroke-width": 1.5}, g);
    if (h.label) { items.push([h.label, h.color || "#888"]); }
  });
  (out.vlines || []).forEach(function (v) {
    el("line", {x1: sx(v.x), x2: sx(v.x), y1: m.t, y2: H - m.b, stroke: v.color || "#888",
                "stroke-dasharray": v.dash || "6 4", "stroke-width": 1.5}, g);
    if (v.label) { items.push([v.label, v.color || "#888"]); }
  });
  (out.series || []).forEach(function (s) {
    var color = s.color || "#1f77b4";
    if (s.line !== false && s.points.length > 1) {
      el("polyline", {points: s.points.map(function (p) { return sx(p[0]).toFixed(2) + "," + sy(p[1]).toFixed(2); }).join(" "),
                      fill: "none", stroke: color, "stroke-width": 1.8, "stroke-dasharray": s.dash || null}, g);
    }
    if (s.marker !== "none") {
      s.points.forEach(function (p) { markerShape(g, s.marker || "circle", sx(p[0]), sy(p[1]), s.size || 3.5, color); });
    }
    if (s.label) { items.push([s.label, color]); }
  });
  (out.highlight || []).forEach(function (h) {
    var x = sx(h.x), y = sy(h.y);
    var shape = markerShape(g, h.marker || "circle", x, y, h.size || 8, h.color || "#d62728");
    shape.setAttribute("data-highlight", h.label || "");
    if (h.marker !== "star") { shape.setAttribute("fill-opacity", "0.85"); shape.setAttribute("stroke", "#222"); }
    if (h.label) {
      el("text", {x: Math.min(x + 10, W - m.r - 4), y: Math.max(y - 10, m.t + 10),
                  "text-anchor": x + 10 > W - 120 ? "end" : "start"}, svg).textContent = h.label;
    }
  });
  if (legend) {
    legend.innerHTML = "";
    items.forEach(function (it) {
      var span = document.createElement("span"), sw = document.createElement("span");
      sw.className = "cx-swatch"; sw.style.background = it[1];
      span.appendChild(sw); span.appendChild(document.createTextNode(it[0])); legend.appendChild(span);
    });
  }
}
function drawBars(bars) {
  var box = root.querySelector("[data-bars]");
  if (!bars || !bars.length) { box.hidden = true; return; }
  box.hidden = false;
  var bar = box.querySelector(".cx-bar"), leg = box.querySelector(".cx-bar-legend");
  bar.innerHTML = ""; leg.innerHTML = "";
  var total = bars.reduce(function (a, b) { return a + Math.max(b.value, 0); }, 0) || 1;
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];
  bars.forEach(function (b, i) {
    var color = b.color || palette[i % palette.length], d = document.createElement("div");
    d.style.width = (100 * Math.max(b.value, 0) / total) + "%"; d.style.background = color; d.title = b.label;
    bar.appendChild(d);
    var s = document.createElement("span"), sw = document.createElement("span");
    sw.className = "cx-swatch"; sw.style.background = color;
    s.appendChild(sw); s.appendChild(document.createTextNode(b.label)); leg.appendChild(s);
  });
}
function update() {
  var state = {};
  spec.sliders.forEach(function (s) {
    var i = parseInt(inputs[s.name].value, 10);
    state[s.name] = s.values[i];
    root.querySelector('output[data-slider-value="' + s.name + '"]').textContent = s.labels[i];
  });
  var err = root.querySelector("[data-error]");
  try {
    var out = render(spec.data, state, util) || {};
    var k, cell;
    for (k in (out.text || {})) { cell = root.querySelector('[data-readout="' + k + '"]'); if (cell) { cell.textContent = out.text[k]; } }
    for (k in (out.html || {})) { cell = root.querySelector('[data-readout="' + k + '"]'); if (cell) { cell.innerHTML = out.html[k]; } }
    if (out.plot) { drawPlot(out.plot); }
    drawBars(out.bars);
    err.hidden = true;
  } catch (e) {
    err.hidden = false; err.textContent = "explorer error: " + e;
    if (window.console) { console.error(e); }
  }
}
spec.sliders.forEach(function (s) { inputs[s.name].addEventListener("input", update); });
update();
root.setAttribute("data-ready", "1");
"""


# --------------------------------------------------------------------------------------------
# Chapter 1: the split-point explorer (ipywidgets) and its kernel-free twin
# --------------------------------------------------------------------------------------------

def rate_values_kBps() -> list[float]:
    """Link rates offered by the split-point explorers, in kB/s (1 kB/s = 8,000 bit/s).

    1-2-5 steps from 1 kB/s to 10 MB/s, the range of the paper's Fig. 4 (its "KBps").

    Returns
    -------
    list of float
        Rates in kB/s, increasing.

    Examples
    --------
    >>> from coinfer.views.explorer import rate_values_kBps
    >>> rate_values_kBps()
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    """
    return [m * 10 ** e for e in range(0, 4) for m in (1, 2, 5)] + [10_000]


def split_point_data(rows, bits_per_element: int = 32, input_bits: float | None = None,
                     input_label: str = "") -> dict:
    """The JSON-able numbers behind the split-point explorers, one entry per split point.

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        From :func:`coinfer.core.costs.profile_splits`.
    bits_per_element : int
        Bits per feature element on the link: 32 (float32) or 8 (8-bit quantized).
    input_bits : float, optional
        Size of the input image as a server-based system sends it (bits per image). When given,
        the ``input`` split point sends this instead of its float32 tensor, and each point's
        amplification is its bits over this.
    input_label : str
        What ``input_bits`` measures, e.g. ``"CIFAR-10 image, raw"``.

    Returns
    -------
    dict
        ``points`` (one dict per split point: ``device_macs``, ``server_macs``, ``shape``,
        ``bits`` per image, ``label``), ``bits_per_element``, ``input_bits``, ``input_label``.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> rows = profile_splits(resnet18(width=1 / 16))
    >>> from coinfer.views.explorer import split_point_data
    >>> data = split_point_data(rows, bits_per_element=32, input_bits=24576)
    >>> data["points"][0]["bits"], data["points"][5]["label"], data["points"][5]["bits"]
    (24576, 'layer2.1 (s3)', 65536)
    """
    if bits_per_element not in (8, 32):
        raise ValueError(f"bits_per_element must be 8 or 32, got {bits_per_element!r}")
    if input_bits is not None and not input_bits > 0:
        raise ValueError(f"input_bits must be > 0 bits per image, got {input_bits!r}")
    points = []
    for r in rows:
        bits = r.feature_elements * bits_per_element
        if r.point == "input" and input_bits is not None:
            bits = input_bits
        points.append({"point": r.point, "paper": r.paper_name,
                       "label": f"{r.point} ({r.paper_name})" if r.paper_name else r.point,
                       "device_macs": r.device_macs, "server_macs": r.server_macs,
                       "shape": "x".join(map(str, r.feature_shape)), "bits": bits})
    return {"points": points, "bits_per_element": bits_per_element,
            "input_bits": input_bits, "input_label": input_label}


def split_point_readout(point: dict, rate_kBps: float, input_bits: float | None = None) -> dict:
    """What the split-point explorers show for one entry of :func:`split_point_data` at a link
    rate of ``rate_kBps`` kB/s (1 kB = 1,000 bytes = 8,000 bits).

    Returns formatted strings: ``device`` (MACs), ``shape``, ``bits`` (per image), ``time``
    (to send them), ``amplification`` (bits over the input's, when ``input_bits`` is given).

    Parameters
    ----------
    point : dict
        One entry of ``split_point_data(...)["points"]``.
    rate_kBps : float
        Link rate in kB/s (> 0).
    input_bits : float, optional
        The input image's bits, for the amplification readout.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> rows = profile_splits(resnet18(width=1 / 16))
    >>> from coinfer.views.explorer import split_point_data, split_point_readout
    >>> s3 = split_point_data(rows, 32, input_bits=24576)["points"][5]
    >>> split_point_readout(s3, rate_kBps=100, input_bits=24576)
    {'device': '1.35 M MACs', 'shape': '8x16x16', 'bits': '65,536 bits (8.2 kB)', 'time': '81.9 ms', 'amplification': '2.67 x the input'}
    """
    if not rate_kBps > 0:
        raise ValueError(f"rate_kBps must be > 0 kB/s, got {rate_kBps!r}")
    bits = point["bits"]
    out = {"device": format_macs(point["device_macs"]), "shape": point["shape"],
           "bits": f"{format_int(bits)} bits ({format_fixed(bits / 8e3, 1)} kB)",
           "time": format_seconds(bits / (rate_kBps * 8e3))}
    if input_bits:
        out["amplification"] = f"{format_fixed(bits / input_bits, 2)} x the input"
    return out


_SPLIT_RENDER = r"""function (data, state, util) {
  var i = util.index("split"), p = data.points[i], rate = state.rate;   // rate in kB/s
  var seconds = p.bits / (rate * 8e3);
  var text = {
    device: util.fixed(p.device_macs / 1e6, 2) + " M MACs",
    shape: p.shape,
    bits: util.int(p.bits) + " bits (" + util.fixed(p.bits / 8e3, 1) + " kB)",
    time: util.seconds(seconds)
  };
  if (data.input_bits) { text.amplification = util.fixed(p.bits / data.input_bits, 2) + " x the input"; }
  var n = data.points.length, first = data.points[0], last = data.points[n - 1];
  var pts = data.points.slice(1, n - 1).map(function (q) { return [q.device_macs, q.bits]; });
  var plot = {
    series: [{label: "split points (" + data.bits_per_element + "-bit features)", points: pts, color: "#1f77b4"}],
    highlight: [
      {x: first.device_macs, y: first.bits, marker: "star", color: "#1f77b4", size: 9},
      {x: last.device_macs, y: last.bits, marker: "star", color: "#d62728", size: 9},
      {x: p.device_macs, y: p.bits, label: p.label, color: "#ff7f0e"}],
    hlines: data.input_bits ? [{y: data.input_bits, label: data.input_label, color: "#7f7f7f"}] : []
  };
  return {text: text, plot: plot};
}"""


def split_point_twin(rows, bits_per_element: int = 32, input_bits: float | None = None,
                     input_label: str = "input image", split: str = "layer2.1",
                     rate_kBps: float = 100) -> StaticExplorer:
    """Kernel-free twin of :func:`split_point_explorer` for the static book.

    Sliders over the split points and the link rate (kB/s); readouts of the device's MACs, the
    feature's shape, bits per image, the time to send them and the amplification over the input;
    the communication-computation plane with the chosen point highlighted.

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        From :func:`coinfer.core.costs.profile_splits`.
    bits_per_element : {32, 8}
        Bits per feature element on the link.
    input_bits : float, optional
        The input image's size in bits (server-based inference sends it).
    input_label : str
        Legend of the input line, e.g. ``"CIFAR-10 image, raw (24,576 bits)"``.
    split : str
        Initial split point.
    rate_kBps : float
        Initial link rate in kB/s (the nearest offered rate is chosen).

    Returns
    -------
    StaticExplorer

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> rows = profile_splits(resnet18(width=1 / 16))
    >>> from coinfer.views.explorer import split_point_twin
    >>> twin = split_point_twin(rows, input_bits=24576, split="stem", rate_kBps=40)
    >>> 'data-slider="split"' in twin.html and 'data-slider="rate"' in twin.html
    True
    """
    data = split_point_data(rows, bits_per_element, input_bits, input_label)
    points = [p["point"] for p in data["points"]]
    if split not in points:
        raise ValueError(f"unknown split point {split!r}; valid: {', '.join(points)}")
    rates = rate_values_kBps()
    readouts = [("device", "device computation"), ("shape", "feature shape"),
                ("bits", "bits to send per image"), ("time", "time to send")]
    if input_bits:
        readouts.append(("amplification", "size vs input"))
    return static_explorer(
        data=data,
        sliders=[Slider("split", "split point", values=points, value=split,
                        labels=[p["label"] for p in data["points"]]),
                 Slider("rate", "link rate (kB/s)", values=rates, value=_nearest(rates, rate_kBps),
                        labels=[f"{r:g} kB/s" for r in rates])],
        readouts=readouts, render=_SPLIT_RENDER,
        plot=Plot(xlabel="device computation (MACs per image; 0 drawn at the left edge)",
                  # stars: server-based (left) and on-device inference (right)
                  ylabel="bits sent per image", logx=True, logy=True),
        title="Split-point explorer (runs in the page, no kernel)",
        note=("1 kB/s = 8,000 bit/s; MACs = multiply-accumulates (FLOPs = 2 x MACs). "
              "Numbers precomputed with coinfer.core.costs.profile_splits."))


def split_point_explorer(rows, bits_per_element: int = 32, input_bits: float | None = None,
                         split: str = "layer2.1", rate_kBps: float = 100):
    """ipywidgets explorer for Jupyter/Colab: sliders over split points and link rate (kB/s).

    Shows the device part's MACs, the feature's shape and size in bits, the time to send it at the
    chosen rate and, if ``input_bits`` is given, its size relative to the input image. Needs a
    running kernel; in the static book use :func:`split_point_twin`.

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        From :func:`coinfer.core.costs.profile_splits`.
    bits_per_element : {32, 8}
        Bits per feature element on the link.
    input_bits : float, optional
        The input image's size in bits.
    split : str
        Initial split point.
    rate_kBps : float
        Initial link rate in kB/s (the slider spans 1 to 10,000 kB/s, logarithmically).

    Returns
    -------
    ipywidgets.VBox
        The two sliders and a table of readouts (the same strings as :func:`split_point_readout`).

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> rows = profile_splits(resnet18(width=1 / 16))
    >>> from coinfer.views.explorer import split_point_explorer
    >>> box = split_point_explorer(rows, input_bits=24576)     # display(box) in Jupyter or Colab
    >>> "65,536 bits" in box.children[2].value
    True
    """
    import ipywidgets as w

    data = split_point_data(rows, bits_per_element, input_bits)
    by_point = {p["point"]: p for p in data["points"]}
    if split not in by_point:
        raise ValueError(f"unknown split point {split!r}; valid: {', '.join(by_point)}")
    point = w.SelectionSlider(options=[(p["label"], p["point"]) for p in data["points"]], value=split,
                              description="split point", continuous_update=True,
                              style={"description_width": "100px"}, layout=w.Layout(width="520px"))
    rate = w.FloatLogSlider(value=rate_kBps, base=10, min=0, max=4, step=0.05, description="rate (kB/s)",
                            style={"description_width": "100px"}, layout=w.Layout(width="520px"))
    shown = w.HTML()

    def refresh(*_):
        values = split_point_readout(by_point[point.value], rate.value, input_bits)
        labels = {"device": "device computation", "shape": "feature shape", "bits": "bits to send per image",
                  "time": "time to send", "amplification": "size vs input"}
        shown.value = ("<table>" + "".join(f"<tr><td>{labels[k]}</td><td><b>{_html.escape(v)}</b></td></tr>"
                                           for k, v in values.items()) + "</table>")

    point.observe(refresh, names="value")
    rate.observe(refresh, names="value")
    refresh()
    return w.VBox([point, rate, shown])


# --------------------------------------------------------------------------------------------
# Chapter 2: the sparsity explorer (ipywidgets) and its kernel-free twin
# --------------------------------------------------------------------------------------------

def pruning_data(records, rows, bits_per_element: int = 32) -> dict:
    """The JSON-able numbers behind the sparsity explorers.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations (method ``"framework-pruned"``), several split points and sparsities,
        e.g. ``load_table("data/results/pruning_quick.json").records``.
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points (:func:`coinfer.core.costs.profile_splits`), drawn as the
        original curve.
    bits_per_element : {32, 8}
        32: ``bits_per_image`` of the records (float32 features); 8: their ``extra["feature_bits_8bit"]``.

    Returns
    -------
    dict
        ``splits`` and ``sparsities`` (the grid's axes), ``grid[k][j]`` (accuracy as a fraction,
        device MACs and parameters, bits per image at sparsity ``k`` and split ``j``), ``original``
        (the unpruned curve as ``[MACs, bits]`` pairs) and ``bits_per_element``.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> records = load_table(results_dir() / "pruning_quick.json").records   # chapter 2's table
    >>> rows = profile_splits(resnet18(width=1 / 8))
    >>> from coinfer.views.explorer import pruning_data
    >>> data = pruning_data(records, rows)
    >>> data["splits"], data["sparsities"]
    (['layer1.1', 'layer2.1', 'layer3.1'], [0.0, 0.25, 0.5, 0.75])
    """
    if bits_per_element not in (8, 32):
        raise ValueError(f"bits_per_element must be 8 or 32, got {bits_per_element!r}")
    records = list(records)
    if not records:
        raise ValueError("no pruned records to explore")
    splits = [r.point for r in rows if any(rec.split == r.point for rec in records)]
    sparsities = sorted({round(rec.sparsity, 6) for rec in records})
    by_key = {(rec.split, round(rec.sparsity, 6)): rec for rec in records}
    missing = [(s, p) for s in splits for p in sparsities if (s, p) not in by_key]
    if missing:
        raise ValueError(f"records miss (split, sparsity) pairs {missing[:4]}; every split point needs "
                         "every sparsity for the slider")

    def bits(rec):
        return rec.bits_per_image if bits_per_element == 32 else rec.extra["feature_bits_8bit"]

    grid = [[{"accuracy": by_key[(s, p)].accuracy, "device_macs": by_key[(s, p)].device_macs,
              "device_params": by_key[(s, p)].device_params, "bits": bits(by_key[(s, p)])}
             for s in splits] for p in sparsities]
    original = [[r.device_macs, r.feature_elements * bits_per_element] for r in rows[1:-1]]
    return {"splits": splits, "sparsities": sparsities, "grid": grid, "original": original,
            "bits_per_element": bits_per_element}


_PRUNING_RENDER = r"""function (data, state, util) {
  var k = util.index("sparsity"), row = data.grid[k], colors = ["#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
  var html = {};
  var highlight = [];
  data.splits.forEach(function (s, j) {
    var c = row[j], base = data.grid[0][j];
    html["p" + j] = "accuracy <b>" + util.fixed(100 * c.accuracy, 2) + "%</b> &middot; device <b>" +
      util.fixed(c.device_macs / 1e6, 3) + " M MACs</b> (" + util.fixed(100 * c.device_macs / base.device_macs, 0) +
      "%) &middot; sends <b>" + util.int(c.bits) + " bits</b> (" + util.fixed(100 * c.bits / base.bits, 0) + "%)";
    highlight.push({x: c.device_macs, y: c.bits, label: s, color: colors[j % colors.length]});
  });
  var pruned = row.map(function (c) { return [c.device_macs, c.bits]; });
  return {html: html, plot: {
    series: [{label: "original network, every split point", points: data.original, color: "#1f77b4"},
             {label: "pruned, sparsity " + util.fixed(data.sparsities[k], 2), points: pruned, color: "#ff7f0e", dash: "4 3"}],
    highlight: highlight}};
}"""


def pruning_twin(records, rows, bits_per_element: int = 32, sparsity: float | None = None,
                 note: str = "") -> StaticExplorer:
    """Kernel-free twin of :func:`pruning_explorer`: a slider over the recorded sparsities.

    For each split point of the records: test accuracy, device MACs and bits sent (and their
    fraction of the unpruned values); the communication-computation plane with the original curve
    and the pruned points.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations, every split point at every sparsity (as for :func:`pruning_data`).
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points.
    bits_per_element : {32, 8}
        Float32 or 8-bit features.
    sparsity : float, optional
        Initial slider position (the nearest recorded sparsity; default the largest).
    note : str
        Small print under the explorer (e.g. the table's provenance).

    Returns
    -------
    StaticExplorer

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> records = load_table(results_dir() / "pruning_quick.json").records   # chapter 2's table
    >>> rows = profile_splits(resnet18(width=1 / 8))
    >>> from coinfer.views.explorer import pruning_twin
    >>> twin = pruning_twin(records, rows, sparsity=0.5)
    >>> 'data-slider="sparsity"' in twin.html
    True
    """
    data = pruning_data(records, rows, bits_per_element)
    values = data["sparsities"]
    start = values[-1] if sparsity is None else _nearest(values, sparsity)
    return static_explorer(
        data=data,
        sliders=[Slider("sparsity", "channel sparsity", values=values, value=start,
                        labels=[f"{100 * v:.0f}%" for v in values])],
        readouts=[(f"p{j}", f"split after {s}") for j, s in enumerate(data["splits"])],
        render=_PRUNING_RENDER,
        plot=Plot(xlabel="device computation (MACs per image)",
                  ylabel=f"bits sent per image ({bits_per_element}-bit features)", logx=True, logy=True),
        title="Sparsity explorer (runs in the page, no kernel)",
        note=note or ("MACs = multiply-accumulates (FLOPs = 2 x MACs), thop on the compacted device part; "
                      "percentages relative to the unpruned network."))


def pruning_explorer(records, rows, bits_per_element: int = 32, sparsity: float | None = None):
    """ipywidgets explorer for Jupyter/Colab: a slider over the recorded sparsities, redrawing the
    communication-computation plane (matplotlib) and a table of accuracy, MACs and bits.

    Needs a running kernel; in the static book use :func:`pruning_twin`.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations, every split point at every sparsity.
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points.
    bits_per_element : {32, 8}
        Float32 or 8-bit features.
    sparsity : float, optional
        Initial slider position (default the largest recorded sparsity).

    Returns
    -------
    ipywidgets.VBox
        The slider and the output area it redraws.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> records = load_table(results_dir() / "pruning_quick.json").records   # chapter 2's table
    >>> rows = profile_splits(resnet18(width=1 / 8))
    >>> from coinfer.views.explorer import pruning_explorer
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):   # it clears its output area when drawn
    ...     box = pruning_explorer(records, rows)          # display(box) in Jupyter or Colab
    >>> len(box.children)
    2
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    data = pruning_data(records, rows, bits_per_element)
    values = data["sparsities"]
    slider = w.SelectionSlider(options=[(f"{100 * v:.0f}%", v) for v in values],
                               value=values[-1] if sparsity is None else _nearest(values, sparsity),
                               description="sparsity", style={"description_width": "80px"},
                               layout=w.Layout(width="480px"))
    out = w.Output()

    def refresh(*_):
        k = values.index(slider.value)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
            xs, ys = zip(*data["original"])
            ax.plot(xs, ys, "o-", color="tab:blue", label="original network, every split point")
            cells = data["grid"][k]
            ax.plot([c["device_macs"] for c in cells], [c["bits"] for c in cells], "s--", color="tab:orange",
                    label=f"pruned, sparsity {slider.value:.2f}")
            for s, c in zip(data["splits"], cells):
                ax.annotate(f"{s}\n{100 * c['accuracy']:.1f}%", (c["device_macs"], c["bits"]),
                            textcoords="offset points", xytext=(5, 5), fontsize=8)
            ax.set(xscale="log", yscale="log", xlabel="device computation (MACs per image)",
                   ylabel=f"bits sent per image ({bits_per_element}-bit)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            plt.show()

    slider.observe(refresh, names="value")
    refresh()
    return w.VBox([slider, out])
