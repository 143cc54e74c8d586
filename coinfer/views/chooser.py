"""Chapter 6's chooser explorer: for the sliders' link rate, device, memory, server and accuracy
threshold, which configuration of the lookup tables answers fastest (Shao & Zhang 2020, V-C).

Its slider space is too large to precompute, so it comes as :func:`latency_output` (Python:
:func:`coinfer.core.latency.choose`, shown by the ipywidgets :func:`latency_explorer`) and
:data:`LATENCY_RENDER` (its JavaScript copy, package data ``static/latency.js``, run by
:func:`latency_twin` in the static book); a browser test checks that the two agree at many
settings. Fig. 4 and chapter 6's tables are in :mod:`coinfer.views.latency`; colours and labels
come from :mod:`coinfer.views.style`. Units: FLOPs = 2 x MACs, 1 KB/s = 8000 bit/s.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Mapping, Sequence

from coinfer.core.latency import (PAPER_MEMORY, Choice, DeviceSpec, Environment, MemoryModel, NoFeasibleConfiguration,
                                  ServerSpec, choose, choose_per_method, record_activations)
from coinfer.units import parse_rate
from coinfer.core.network import SPLIT_POINTS
from coinfer.results import Record
from coinfer.stats import selection_accuracy
from coinfer.views.latency import config_label, slider_rates_kBps
from coinfer.views.publish import with_downloads
from coinfer.views.style import format_fixed, format_seconds, hex_color, method_style, ordered_methods


_RECORD_FIELDS = ("method", "split", "split_index", "sparsity", "code_size", "channel", "accuracy", "selection", "device_macs",
                  "server_macs", "bits", "params", "activations", "label")


def explorer_data(records: Sequence[Record], activations: Mapping[str, int] | None = None,
                  memory: MemoryModel = PAPER_MEMORY) -> dict:
    """The JSON-able numbers behind the latency explorers: every record (as columns, one list per
    field: :func:`coinfer.views.explorer.columns`), the memory model, the methods' colours."""
    methods = ordered_methods({r.method for r in records})
    rows = []
    for r in records:
        rows.append({"method": r.method, "split": r.split, "split_index": SPLIT_POINTS.index(r.split),
                     "sparsity": r.sparsity, "code_size": r.code_size, "channel": r.channel,
                     "accuracy": r.accuracy, "selection": selection_accuracy(r), "device_macs": r.device_macs, "server_macs": r.server_macs,
                     "bits": r.bits_per_image, "params": r.device_params,
                     "activations": record_activations(r, activations), "label": config_label(r)})
    from coinfer.views.explorer import columns

    return {"records": columns(rows, _RECORD_FIELDS), "methods": methods,
            "colors": {m: hex_color(method_style(m, i).color) for i, m in enumerate(methods)},
            "overhead_factor": memory.overhead_factor, "bytes_per_value": memory.bytes_per_value}


#: The explorer's rules in JavaScript (package data ``coinfer/views/static/latency.js``): the
#: same formulas, order of operations, comparisons and tie-breaking as
#: coinfer.core.latency.latency, footprint_bytes and choose, and the same output as
#: :func:`latency_output` (checked by a browser test). Slider units: rate in KB/s, device in
#: GFLOP/s, memory in MB available to the model, server in TFLOP/s, accuracy threshold as a
#: fraction (shown in percent).
LATENCY_RENDER = resources.files("coinfer.views").joinpath("static", "latency.js").read_text(encoding="utf-8")


def _percent(fraction: float) -> str:
    """An accuracy slider value (a fraction) as the slider shows it, in percent."""
    return format_fixed(100 * fraction, 2)


def _sliders(device: DeviceSpec, server: ServerSpec, threshold: float | None, records: Sequence[Record],
             rate: str | float = "40KB/s"):
    """The explorer's five sliders, centred on the given environment (values in slider units)."""
    from coinfer.views.explorer import Slider

    # Values are fractions (what choose() compares), shown in percent; the threshold itself is one
    # of them, exactly, so the explorer starts where the chapter's choice is made.
    top = max(selection_accuracy(r) for r in records)
    grid = {_percent(v): v for v in (round(top - 0.0025 * k, 4) for k in range(0, 41)) if v >= 0}
    if threshold is not None:
        grid[_percent(threshold)] = threshold
    acc_values = sorted(grid.values())
    acc_default = threshold if threshold is not None else acc_values[0]
    budget_MB = device.budget_bytes / 1e6
    rates = slider_rates_kBps()
    return [
        Slider("rate", "link rate (KB/s)", rates, value=min(rates, key=lambda v: abs(
            math.log(v) - math.log(parse_rate(rate) / 8000)))),
        Slider.log("device", "device speed (GFLOP/s)", device.flops / 1e9 / 100, device.flops / 1e9 * 100, 41,
                   value=device.flops / 1e9),
        Slider.log("memory", "device memory for the model (MB)", budget_MB / 30, budget_MB * 30, 41, value=budget_MB),
        Slider.log("server", "server speed (TFLOP/s)", server.flops / 1e12 / 100, server.flops / 1e12 * 100, 41,
                   value=server.flops / 1e12),
        Slider("accuracy", "accuracy threshold (%, validation split)", acc_values, value=acc_default,
               labels=[_percent(v) for v in acc_values]),
    ]


#: Under the explorer, in both forms: what its numbers mean.
_NOTE = "Footprint = overhead factor x 4 bytes x (parameters + peak activations); 1 KB/s = 8000 bit/s; FLOPs = 2 x MACs."

_READOUTS = [("choice", "chosen configuration"), ("latency", "end-to-end latency"),
             ("breakdown", "breakdown"), ("memory", "device memory used"),
             ("feasible", "configurations that fit"), ("methods", "best per method")]


def latency_twin(records: Sequence[Record], device: DeviceSpec, server: ServerSpec, threshold: float | None,
                 activations: Mapping[str, int] | None = None, memory: MemoryModel = PAPER_MEMORY,
                 rate: str | float = "40KB/s", note: str = "", element_id: str | None = None):
    """Kernel-free twin of :func:`latency_explorer` for the static book (see the module docstring).

    The sliders start at ``device``, ``server``, ``threshold`` and ``rate`` (rounded to the
    sliders' steps); the device slider sets the memory available to the model directly.
    """
    from coinfer.views.explorer import Plot, static_explorer

    data = explorer_data(records, activations, memory)
    return with_downloads(static_explorer(
        data=data, sliders=_sliders(device, server, threshold, records, rate), render=LATENCY_RENDER,
        readouts=_READOUTS,
        plot=Plot(**_PLANE),
        title="Latency explorer: which configuration answers fastest? (runs in the page, no kernel)",
        bars_label="latency of the chosen configuration", note=((note or "") + " " + _NOTE).strip(), element_id=element_id),
        "latency-explorer", rows=records, provenance={"description": note} if note else None)


def slider_environment(state: Mapping[str, float], memory: MemoryModel = PAPER_MEMORY) -> tuple[Environment, float]:
    """The :class:`Environment` and threshold that the explorers' slider values mean.

    Computed with the same operations as :data:`LATENCY_RENDER`, so Python and JavaScript agree to
    the last bit. ``state``: rate (KB/s), device (GFLOP/s), memory (MB), server (TFLOP/s),
    accuracy (the threshold as a fraction, used as it is: the slider holds the chapter's exact
    threshold, so the explorer's default choice is :func:`coinfer.core.latency.choose`'s).
    """
    device = DeviceSpec("explorer device", state["device"] * 1e9, state["memory"] * 1e6, 1.0)
    server = ServerSpec("explorer server", state["server"] * 1e12)
    return Environment(device, server, state["rate"] * 8000, memory), state["accuracy"]


def latency_output(records: Sequence[Record], state: Mapping[str, float],
                   activations: Mapping[str, int] | None = None, memory: MemoryModel = PAPER_MEMORY) -> dict:
    """What the latency explorer shows at one slider state, computed by :func:`coinfer.core.latency.choose`.

    The output :data:`LATENCY_RENDER` computes in the browser (same readouts, plot and bar):
    :func:`latency_explorer` shows it with a kernel, and the browser test compares the page's
    JavaScript with it.

    Parameters
    ----------
    records : sequence of Record
        The candidates.
    state : mapping
        Slider values: rate (KB/s), device (GFLOP/s), memory (MB), server (TFLOP/s), accuracy (a
        fraction, validation split).
    activations : mapping, optional
        Peak activations per split for records that carry none.
    memory : MemoryModel
        The device's memory model.

    Returns
    -------
    dict
        ``text`` (``choice``, ``latency``, ``breakdown``, ``memory``, ``feasible``), ``html``
        (``methods``: each method's best), ``plot`` (every record on the device MACs / bits plane)
        and ``bars`` (the chosen configuration's device, link and server times).

    Examples
    --------
    >>> from coinfer.experiments.candidates import load_candidates
    >>> from coinfer.views.latency import fig4_records
    >>> from coinfer.views.chooser import latency_output
    >>> tables = load_candidates(preset="quick")
    >>> state = {"rate": 10, "device": 0.395, "memory": 6.35, "server": 0.221,
    ...          "accuracy": tables.threshold()}          # validation accuracy, a fraction
    >>> latency_output(fig4_records(tables.records), state, tables.activations)["text"]["choice"]
    'framework @ layer3.1, sparsity 0.25, code c6-d8-l4 (validation 89.47%, test 89.29%)'
    """
    env, thr = slider_environment(state, memory)
    budget = env.device.budget_bytes
    methods = ordered_methods({r.method for r in records})
    colors = {m: hex_color(method_style(m, i).color) for i, m in enumerate(methods)}
    fits = {id(r): memory.footprint_bytes(r.device_params, record_activations(r, activations)) <= budget
            for r in records}
    ok = [r for r in records if selection_accuracy(r) >= thr and fits[id(r)]]
    per_method = choose_per_method(records, env, thr, activations)
    try:
        best = choose(records, env, thr, activations=activations)
    except NoFeasibleConfiguration:
        best = None
    series = [{"label": m, "color": colors[m], "marker": "circle", "size": 4, "line": False,
               "points": [[r.device_macs, r.bits_per_image] for r in ok if r.method == m]} for m in methods]
    series.append({"label": "does not fit (accuracy or memory)", "color": "#c0c0c0", "marker": "circle",
                   "size": 2.5, "line": False,
                   "points": [[r.device_macs, r.bits_per_image] for r in records if not (selection_accuracy(r) >= thr and fits[id(r)])]})
    highlight, rows = [], []
    for m in methods:
        c = per_method.get(m)
        if isinstance(c, Choice):
            if best is None or c.record != best.record:
                highlight.append({"x": c.record.device_macs, "y": c.record.bits_per_image, "color": colors[m],
                                  "marker": "circle", "size": 6})
            cell = f"{config_label(c.record).replace(m + ' @ ', '')}</td><td>{format_seconds(c.latency.total_s)}"
        else:
            mine = [r for r in records if r.method == m]
            why = [w for w, bad in (("accuracy", any(selection_accuracy(r) < thr for r in mine)),
                                    ("memory", any(not fits[id(r)] for r in mine))) if bad]
            cell = f"none fits</td><td>({' and '.join(why)})"
        rows.append(f"<tr><td style='color:{colors[m]};padding-right:10px'>{m}</td>"
                    f"<td style='padding-right:10px'>{cell}</td></tr>")
    out = {"html": {"methods": "<table>" + "".join(rows) + "</table>"}}
    if best is None:
        out["text"] = {"choice": "none fits", "latency": "-", "breakdown": "-",
                       "memory": f"budget {format_fixed(budget / 1e6, 2)} MB", "feasible": f"0 of {len(records)}"}
        out["plot"], out["bars"] = {"series": series, "highlight": highlight}, []
        return out
    t = best.latency
    highlight.append({"x": best.record.device_macs, "y": best.record.bits_per_image, "label": "chosen",
                      "color": colors[best.record.method], "marker": "star", "size": 10})
    out["text"] = {
        "choice": (f"{config_label(best.record)} (validation {format_fixed(100 * selection_accuracy(best.record), 2)}%, "
                   f"test {format_fixed(100 * best.record.accuracy, 2)}%)"),
        "latency": format_seconds(t.total_s),
        "breakdown": (f"device {format_seconds(t.device_s)} + link {format_seconds(t.communication_s)} + "
                      f"server {format_seconds(t.server_s)}"),
        "memory": f"{format_fixed(best.footprint_bytes / 1e6, 2)} MB of {format_fixed(budget / 1e6, 2)} MB",
        "feasible": f"{len(ok)} of {len(records)}"}
    out["plot"] = {"series": series, "highlight": highlight}
    out["bars"] = [{"label": f"device {format_seconds(t.device_s)}", "value": t.device_s, "color": "#0072b2"},
                   {"label": f"link {format_seconds(t.communication_s)}", "value": t.communication_s,
                    "color": "#e69f00"},
                   {"label": f"server {format_seconds(t.server_s)}", "value": t.server_s, "color": "#009e73"}]
    return out


_PLANE = dict(xlabel="device computation (MACs per image; 0 at the left edge)", ylabel="bits sent per image",
              logx=True, logy=True)


def latency_explorer(records: Sequence[Record], device: DeviceSpec, server: ServerSpec, threshold: float | None,
                     activations: Mapping[str, int] | None = None, memory: MemoryModel = PAPER_MEMORY,
                     rate: str | float = "40KB/s"):
    """The latency explorer with ipywidgets (Jupyter, Colab): the sliders of :func:`latency_twin`,
    and :func:`latency_output` (which calls :func:`coinfer.core.latency.choose`) on every move.

    Parameters
    ----------
    records : sequence of Record
        The candidates.
    device, server : DeviceSpec, ServerSpec
        Where the sliders start.
    threshold : float or None
        The accuracy threshold the slider starts at (a fraction).
    activations : mapping, optional
        Peak activations per split for records that carry none.
    memory : MemoryModel
        The device's memory model.
    rate : str or float
        The link rate the slider starts at.

    Returns
    -------
    ipywidgets.VBox
        The five sliders, then the readouts and the plane (``children[-1]``).

    Examples
    --------
    >>> from coinfer.experiments.candidates import load_candidates
    >>> from coinfer.views.latency import fig4_hardware, fig4_records
    >>> from coinfer.views.chooser import latency_explorer
    >>> tables = load_candidates(preset="quick")
    >>> box = latency_explorer(fig4_records(tables.records), *fig4_hardware(tables), tables.threshold(),
    ...                        activations=tables.activations, rate="10KB/s")
    >>> "framework @" in box.children[-1].value
    True
    """
    from coinfer.views.explorer import Plot, live_explorer

    return live_explorer(_sliders(device, server, threshold, records, rate),
                         lambda state: latency_output(records, state, activations, memory),
                         readouts=_READOUTS, plot=Plot(**_PLANE),
                         title="Latency explorer: which configuration answers fastest?",
                         bars_label="latency of the chosen configuration", note=_NOTE)
