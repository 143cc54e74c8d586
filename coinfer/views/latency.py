"""Fig. 4 (latency vs link rate) and the latency explorer, drawn from lookup tables.

Shao & Zhang (2020), section V-C and Fig. 4: with a Raspberry Pi 3 and an RTX 2080 Ti, each method
deploys, at every link rate, its own fastest configuration from the lookup table (among those that
reach the accuracy threshold and fit the Pi's memory). The paper: below ~40 KB/s the framework keeps
the latency near 0.1 s while the baselines climb::

    Candidates (records + activations)      environment (device, server, memory model)
                 |                                        |
                 +---------> for each rate r on a log grid: choose_per_method(records, env(r))
                                              |
              LatencyCurve per method (Choice or NoFeasibleConfiguration at every rate)
                 |                                   |
     fig_latency_vs_rate (matplotlib)      latency_twin / latency_explorer (sliders)

The explorer's slider space (rate, device, memory, server, threshold) is too large to precompute,
so it comes as :func:`latency_output` (Python: :func:`coinfer.core.latency.choose`, shown by the
ipywidgets :func:`latency_explorer`) and :data:`LATENCY_RENDER` (its JavaScript copy, run by
:func:`latency_twin` in the static book); a browser test checks that the two agree at many
settings. Colours and labels come from :mod:`coinfer.views.style`. Units as in
:mod:`coinfer.core.latency`: FLOPs = 2 x MACs, 1 KB/s = 8000 bit/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from coinfer.core.latency import (BITS_PER_BYTE, DEVICES, KILO, PAPER_LOW_RATE_BPS, PAPER_LOW_RATE_LATENCY_S,
                                  PAPER_MEMORY, SERVERS, Choice, DeviceSpec, Environment, MemoryModel,
                                  NoFeasibleConfiguration, ServerSpec, choose, choose_per_method, format_rate,
                                  parse_rate, record_activations, scale_to_width)
from coinfer.core.network import SPLIT_POINTS
from coinfer.results import Record
from coinfer.views.style import format_fixed, format_seconds, hex_color, method_style, ordered_methods

#: The methods of the paper's Fig. 4: the framework and the three baselines (plus the PNG line,
#: server-based inference, where a table has it).
FIG4_METHODS = ("framework", "original", "2-step-pruning", "bottlenet++", "png")


def fig4_records(records: Sequence[Record], methods: Sequence[str] = FIG4_METHODS) -> list[Record]:
    """The records Fig. 4 compares: those of ``methods`` sent over an error-free link.

    Section V-C assumes error-free transmission, so records trained or evaluated through a noisy
    channel (chapter 4's JSCC, ``channel != "noiseless"``) and intermediate methods (e.g. pruning
    without encoding) are left out.
    """
    return [r for r in records if r.method in methods and r.channel == "noiseless"]


def rate_grid(start: str | float = "1KB/s", stop: str | float = "10MB/s", num: int = 61) -> np.ndarray:
    """``num`` link rates in bit/s, evenly spaced on a log axis from ``start`` to ``stop`` (inclusive):
    the x axis of Fig. 4.

    Parameters
    ----------
    start, stop : str or float
        Rates with a unit (``"1KB/s"``) or in bit/s.
    num : int
        How many rates (at least 2).

    Returns
    -------
    numpy.ndarray
        Rates in bit/s, increasing.

    Examples
    --------
    >>> from coinfer.views.latency import rate_grid
    >>> [round(r) for r in rate_grid("1KB/s", "100KB/s", 3)]
    [8000, 80000, 800000]
    """
    lo, hi = parse_rate(start), parse_rate(stop)
    if not hi > lo or num < 2:
        raise ValueError(f"rate grid needs stop > start and num >= 2, got {start!r}, {stop!r}, {num!r}")
    return np.geomspace(lo, hi, num)


def slider_rates_kBps(steps: Sequence[float] = (1, 1.5, 2, 3, 4, 5, 7)) -> list[float]:
    """The link rates an explorer's slider offers, in KB/s (1 KB/s = 8000 bit/s): ``steps`` in every
    decade from 1 KB/s to 10 MB/s, the range of the paper's Fig. 4.

    The default (1-1.5-2-3-4-5-7) puts the paper's 10, 40 and 1000 KB/s on the slider (chapter 6);
    ``(1, 2, 5)`` gives a coarser one.

    Parameters
    ----------
    steps : sequence of float
        Mantissas in [1, 10), increasing.

    Returns
    -------
    list of float
        Rates in KB/s, increasing, ending at 10,000.

    Examples
    --------
    >>> from coinfer.views.latency import slider_rates_kBps
    >>> slider_rates_kBps((1, 2, 5))
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    >>> 40 in slider_rates_kBps()
    True
    """
    return [m * 10 ** e for e in range(4) for m in steps] + [10_000]


def config_label(record: Record) -> str:
    """A short, unique description of a configuration (the explorer's JavaScript writes the same)."""
    text = f"{record.method} @ {record.split}"
    if record.sparsity:
        text += f", sparsity {record.sparsity:.2f}"
    if record.code_size:
        text += f", code {record.code_size}"
    if record.channel != "noiseless":
        text += f", {record.channel}"
    return text


@dataclass
class LatencyCurve:
    """One method's choice at every rate of a grid (``choices[i]`` belongs to ``rates_bps[i]``)."""

    method: str
    rates_bps: np.ndarray
    choices: list

    @property
    def total_s(self) -> np.ndarray:
        """Latency in seconds at each rate; NaN where nothing fits."""
        return np.array([c.latency.total_s if isinstance(c, Choice) else np.nan for c in self.choices])


def latency_curves(records: Sequence[Record], device: DeviceSpec, server: ServerSpec,
                   threshold: float | None, rates: Sequence[float] | None = None,
                   activations: Mapping[str, int] | None = None, memory: MemoryModel = PAPER_MEMORY,
                   methods: Sequence[str] | None = None) -> dict[str, LatencyCurve]:
    """Each method's best configuration at every link rate (the data of Fig. 4).

    Parameters
    ----------
    records : sequence of Record
        One or more methods' records (e.g. the ``records`` of a :class:`coinfer.core.latency.Candidates`).
    device, server : DeviceSpec, ServerSpec
    threshold : float or None
        Minimum accuracy (fraction).
    rates : sequence of float, optional
        Link rates in bit/s (default :func:`rate_grid`: 1 KB/s to 10 MB/s).
    activations : mapping, optional
        Peak activations per split for records that carry none.
    methods : sequence of str, optional
        Which methods (default: all in ``records``, in legend order).
    """
    rates = np.asarray(rate_grid() if rates is None else [parse_rate(r) for r in rates], dtype=float)
    methods = ordered_methods({r.method for r in records}) if methods is None else list(methods)
    curves = {m: LatencyCurve(m, rates, []) for m in methods}
    for rate in rates:
        env = Environment(device, server, float(rate), memory)
        per_method = choose_per_method(records, env, threshold, activations)
        for m in methods:
            curves[m].choices.append(per_method.get(m) or NoFeasibleConfiguration(m, 0, 0, 0, threshold,
                                                                                   device.budget_bytes, None, None))
    return curves


def fig_latency_vs_rate(candidates, ax=None, *, scaled: bool = True, device: DeviceSpec | None = None,
                        server: ServerSpec | None = None, threshold: float | None = None,
                        rates: Sequence[float] | None = None, memory: MemoryModel = PAPER_MEMORY,
                        mark_paper: bool = True, caption: bool = True, annotate_splits: bool = True):
    """Fig. 4 (figures 6.1 and 6.2): end-to-end latency against link rate, each method at its best
    configuration among the records of :func:`fig4_records`.

    Both axes are logarithmic; the x axis is in KB/s (1 KB = 1000 bytes). A method's line breaks
    where none of its records fits (accuracy or memory); where the chosen split point changes, a
    small label names the new one. With ``mark_paper`` the paper's statement (about 0.1 s below
    40 KB/s, for the framework) is drawn as dotted lines.

    Parameters
    ----------
    candidates : coinfer.core.latency.Candidates or LookupTable
        The lookup tables (:func:`coinfer.core.latency.load_candidates`): records, their
        network's width and activations, the preset's threshold; or one table (e.g. the sweep's,
        as ``python -m coinfer figure latency-vs-rate`` passes it).
    ax : matplotlib Axes, optional
        Where to draw; default a new 7.5 x 4.8 in figure (6.5 x 3.6 unscaled).
    scaled : bool
        True: the paper's Raspberry Pi 3 and RTX 2080 Ti slowed down to the tables' network width
        (:func:`coinfer.core.latency.scale_to_width`, figure 6.1); False: the real ones (figure 6.2).
    device, server : DeviceSpec, ServerSpec, optional
        Other hardware (overrides ``scaled``).
    threshold : float, optional
        Minimum accuracy, a fraction; default the tables' threshold.
    rates : sequence of float or str, optional
        Link rates (default :func:`rate_grid`: 61 rates from 1 KB/s to 10 MB/s).
    memory : MemoryModel
        The device's memory model.
    mark_paper : bool
        Draw the paper's statement.
    caption : bool
        Name the tables under the axes.
    annotate_splits : bool
        Label each change of the chosen split point.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import fig_latency_vs_rate
    >>> fig = fig_latency_vs_rate(load_candidates(preset="quick"))
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_yscale()
    ('log', 'log')
    """
    import matplotlib.pyplot as plt

    candidates = _as_candidates(candidates)
    default_device, default_server = fig4_hardware(candidates, scaled)
    device, server = device or default_device, server or default_server
    threshold = candidates.threshold() if threshold is None else threshold
    curves = latency_curves(fig4_records(candidates.records), device, server, threshold, rates,
                            candidates.activations, memory)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8) if scaled else (6.5, 3.6))
    for i, (method, curve) in enumerate(curves.items()):
        color, label = method_style(method, i).color, method_style(method, i).label
        kBps = curve.rates_bps / (BITS_PER_BYTE * KILO)
        totals = curve.total_s
        if np.all(np.isnan(totals)):
            reason = curve.choices[0].reason if isinstance(curve.choices[0], NoFeasibleConfiguration) else ""
            ax.plot([], [], color=color, label=f"{label}: nothing fits ({reason})")
            continue
        ax.plot(kBps, totals, color=color, lw=2, label=label)
        if annotate_splits:
            previous = None
            for x, t, c in zip(kBps, totals, curve.choices):
                key = c.record.split if isinstance(c, Choice) else None
                if key is not None and key != previous:
                    ax.annotate(key, (x, t), textcoords="offset points", xytext=(2, 5), fontsize=7, color=color)
                previous = key
    if mark_paper:
        low = PAPER_LOW_RATE_BPS / (BITS_PER_BYTE * KILO)
        ax.axvline(low, color="k", ls=":", lw=1)
        ax.axhline(PAPER_LOW_RATE_LATENCY_S, color="k", ls=":", lw=1)
        ax.text(low, PAPER_LOW_RATE_LATENCY_S, "  paper: framework ~0.1 s below 40 KB/s",
                fontsize=8, va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("uplink rate (KB/s; 1 KB = 1000 bytes = 8000 bits)")
    ax.set_ylabel("end-to-end latency per image (s)")
    thr = f"accuracy >= {threshold:.2%}" if threshold is not None else "any accuracy"
    ax.set_title(f"Latency vs link rate, each method at its best configuration ({thr})\n"
                 f"device: {device.name}; server: {server.name}", fontsize=9)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper right")
    if caption and candidates.sources:
        import textwrap

        lines = textwrap.wrap("Data: " + "; ".join(candidates.sources), 150)
        ax.figure.subplots_adjust(bottom=0.13 + 0.025 * len(lines))
        ax.figure.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="0.35", ha="left", va="bottom")
    return ax.figure


def _as_candidates(table):
    """A :class:`~coinfer.core.latency.Candidates` for one lookup table (its preset's network)."""
    from coinfer.config import get_preset
    from coinfer.core.latency import Candidates, split_activations
    from coinfer.core.network import resnet18

    if isinstance(table, Candidates):
        return table
    preset = get_preset(table.provenance.preset)
    return Candidates(records=list(table.records), activations=split_activations(resnet18(width=preset.width)),
                      width=preset.width, preset=preset.name, accuracy_drop=preset.accuracy_drop,
                      sources=[table.provenance.describe()])


def fig4_hardware(candidates, scaled: bool = True) -> tuple[DeviceSpec, ServerSpec]:
    """The paper's Raspberry Pi 3 and RTX 2080 Ti, scaled to the tables' network width or not.

    Parameters
    ----------
    candidates : coinfer.core.latency.Candidates
        The lookup tables (their ``width``).
    scaled : bool
        Slow the hardware down by the narrow network's share of the paper network's work and memory
        (:func:`coinfer.core.latency.scale_to_width`).

    Returns
    -------
    (DeviceSpec, ServerSpec)

    Examples
    --------
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import fig4_hardware
    >>> device, server = fig4_hardware(load_candidates(preset="quick"))
    >>> round(device.flops / 1e9, 3)
    0.395
    """
    device, server = DEVICES["rpi3"], SERVERS["rtx2080ti"]
    return scale_to_width(device, server, candidates.width) if scaled else (device, server)


def summarize_choices(records: Sequence[Record], device: DeviceSpec, server: ServerSpec, threshold: float | None,
                      at: Sequence[str] = ("10KB/s", "40KB/s", "1000KB/s"),
                      activations: Mapping[str, int] | None = None, memory: MemoryModel = PAPER_MEMORY) -> list[dict]:
    """Each method's choice at the rates ``at``, as rows for a table or a report.

    Parameters
    ----------
    records : sequence of Record
        The candidates (e.g. :func:`fig4_records`).
    device, server : DeviceSpec, ServerSpec
        The hardware.
    threshold : float or None
        Minimum accuracy, a fraction.
    at : sequence of str
        Link rates with their unit.
    activations : mapping, optional
        Peak activations per split for records that carry none.
    memory : MemoryModel
        The device's memory model.

    Returns
    -------
    list of dict
        One row per (rate, method), methods in legend order: the configuration and its latency
        terms in ms, or why none fits.

    Examples
    --------
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import fig4_hardware, fig4_records, summarize_choices
    >>> tables = load_candidates(preset="quick")
    >>> rows = summarize_choices(fig4_records(tables.records), *fig4_hardware(tables), tables.threshold(),
    ...                          at=["40KB/s"], activations=tables.activations)
    >>> rows[0]["rate"], rows[0]["method"]
    ('40 KB/s', 'framework')
    """
    methods = ordered_methods({r.method for r in records})
    rows = []
    for text in at:
        env = Environment(device, server, parse_rate(text), memory)
        per_method = choose_per_method(records, env, threshold, activations)
        for method in methods:
            c = per_method.get(method)
            row = {"rate": format_rate(env.rate_bps), "method": method}
            if isinstance(c, Choice):
                row.update(configuration=config_label(c.record), accuracy=round(c.record.accuracy, 4),
                           device_ms=c.latency.device_s * 1e3, link_ms=c.latency.communication_s * 1e3,
                           server_ms=c.latency.server_s * 1e3, total_ms=c.latency.total_s * 1e3,
                           memory_MB=c.footprint_bytes / 1e6)
            else:
                row.update(configuration=f"none fits ({c.reason if c else 'no records'})")
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# Chapter 6's tables
# --------------------------------------------------------------------------------------------------

def footprint_rows(records: Mapping[str, Record], budget_bytes: float,
                   memory: MemoryModel = PAPER_MEMORY) -> list[dict]:
    """The memory model at every split point: parameters, peak activations, footprint, its share of
    the whole network's and whether it fits ``budget_bytes``.

    Parameters
    ----------
    records : mapping of str to Record
        One record per split point (keys of :data:`coinfer.core.network.SPLIT_POINTS`, ``"output"``
        among them: the whole network), e.g. the original network's.
    budget_bytes : float
        The memory the device gives the model.
    memory : MemoryModel
        The memory model.

    Returns
    -------
    list of dict
        One row per split point, in network order.

    Examples
    --------
    >>> from coinfer.core.latency import DEVICES, original_records
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.views.latency import footprint_rows
    >>> records = {r.split: r for r in original_records(resnet18(width=1 / 8), accuracy=0.9)}
    >>> footprint_rows(records, DEVICES["rpi3"].budget_bytes)[-1]["share of the whole"]
    1.0
    """
    from coinfer.core.latency import footprint_bytes

    whole = footprint_bytes(records["output"], memory)
    rows = []
    for p in SPLIT_POINTS:
        size = footprint_bytes(records[p], memory)
        rows.append({"split": p, "device params (M)": records[p].device_params / 1e6,
                     "peak activations (k)": records[p].extra["device_peak_activations"] / 1e3,
                     "footprint (MB)": size / 1e6, "share of the whole": size / whole,
                     f"fits in {budget_bytes / 1e6:.0f} MB": size <= budget_bytes})
    return rows


def deepest_fit_rows(records: Sequence[Record], device: DeviceSpec, threshold: float, whole_macs: float,
                     activations: Mapping[str, int] | None = None,
                     memory: MemoryModel = PAPER_MEMORY) -> list[dict]:
    """Per method, the deepest split point among its records that reach ``threshold`` and fit the
    device's memory (the paper's "40% of the uncompressed and 90% of the compressed model").

    Parameters
    ----------
    records : sequence of Record
        The candidates.
    device : DeviceSpec
        Its ``budget_bytes`` is the memory for the model.
    threshold : float
        Minimum accuracy, a fraction.
    whole_macs : float
        The unsplit, unpruned network's MACs (the share's denominator).
    activations : mapping, optional
        Peak activations per split for records that carry none.
    memory : MemoryModel
        The memory model.

    Returns
    -------
    list of dict
        One row per method (alphabetical): the split, sparsity, footprint, budget and the share
        of the original network's MACs that runs on the device; ``"none"`` where nothing fits.

    Examples
    --------
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import deepest_fit_rows, fig4_hardware, fig4_records
    >>> tables = load_candidates(preset="quick")
    >>> device, _ = fig4_hardware(tables)
    >>> rows = deepest_fit_rows(fig4_records(tables.records), device, tables.threshold(), 1e7,
    ...                         tables.activations)
    >>> rows[0]["method"]
    '2-step-pruning'
    """
    from coinfer.core.latency import footprint_bytes

    rows = []
    for method in sorted({r.method for r in records}):
        fits = [r for r in records if r.method == method and r.accuracy >= threshold
                and footprint_bytes(r, memory, activations) <= device.budget_bytes]
        if not fits:
            rows.append({"method": method, "deepest split that fits": "none"})
            continue
        r = max(fits, key=lambda r: (SPLIT_POINTS.index(r.split), r.device_macs))
        rows.append({"method": method, "deepest split that fits": r.split, "sparsity": r.sparsity,
                     "footprint (MB)": footprint_bytes(r, memory, activations) / 1e6,
                     "budget (MB)": device.budget_bytes / 1e6,
                     "stages on the device (share of the original's MACs)": r.device_macs / whole_macs})
    return rows


def calibration_rows(rows) -> list[dict]:
    """:func:`coinfer.core.latency.calibrate`'s measurements as table rows (times in ms).

    Parameters
    ----------
    rows : sequence
        Objects with ``width``, ``split``, ``device_macs``, ``measured_s``, ``predicted_s``, ``ratio``.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from coinfer.views.latency import calibration_rows
    >>> row = SimpleNamespace(width=0.125, split="pool", device_macs=2e6, measured_s=0.002,
    ...                       predicted_s=0.001, ratio=2.0)
    >>> calibration_rows([row])[0]["measured ms"]
    2.0
    """
    return [{"width": f"{r.width:g}", "split": r.split, "device MMACs": r.device_macs / 1e6,
             "measured ms": r.measured_s * 1e3, "predicted ms": r.predicted_s * 1e3,
             "measured / predicted": r.ratio} for r in rows]


# --------------------------------------------------------------------------------------------------
# The explorer
# --------------------------------------------------------------------------------------------------

_RECORD_FIELDS = ("method", "split", "split_index", "sparsity", "code_size", "channel", "accuracy", "device_macs",
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
                     "accuracy": r.accuracy, "device_macs": r.device_macs, "server_macs": r.server_macs,
                     "bits": r.bits_per_image, "params": r.device_params,
                     "activations": record_activations(r, activations), "label": config_label(r)})
    from coinfer.views.explorer import columns

    return {"records": columns(rows, _RECORD_FIELDS), "methods": methods,
            "colors": {m: hex_color(method_style(m, i).color) for i, m in enumerate(methods)},
            "overhead_factor": memory.overhead_factor, "bytes_per_value": memory.bytes_per_value}


#: The explorer's rules in JavaScript: the same formulas, order of operations, comparisons and
#: tie-breaking as coinfer.core.latency.latency, footprint_bytes and choose (checked by a browser test).
#: Slider units: rate in KB/s, device in GFLOP/s, memory in MB available to the model, server in
#: TFLOP/s, accuracy threshold in percent.
LATENCY_RENDER = r"""function (data, state, util) {
  var rate = state.rate * 8000, df = state.device * 1e9, sf = state.server * 1e12;
  var budget = state.memory * 1e6 * 1.0, thr = state.accuracy / 100;
  function cmp(a, b) {            // coinfer.core.latency._sort_key
    var ka = [a.total, a.r.device_macs, a.r.bits, -a.r.accuracy], kb = [b.total, b.r.device_macs, b.r.bits, -b.r.accuracy];
    for (var i = 0; i < ka.length; i++) { if (ka[i] !== kb[i]) { return ka[i] < kb[i] ? -1 : 1; } }
    var sa = [a.r.method, a.r.split_index, a.r.sparsity, a.r.code_size, a.r.channel];
    var sb = [b.r.method, b.r.split_index, b.r.sparsity, b.r.code_size, b.r.channel];
    for (var j = 0; j < sa.length; j++) { if (sa[j] !== sb[j]) { return sa[j] < sb[j] ? -1 : 1; } }
    return 0;
  }
  var cols = data.records, names = Object.keys(cols), records = [];
  for (var i = 0; i < cols.method.length; i++) {
    var rec = {};
    names.forEach(function (f) { rec[f] = cols[f][i]; });
    records.push(rec);
  }
  var all = records.map(function (r) {
    var dev = 2 * r.device_macs / df, link = r.bits / rate, srv = 2 * r.server_macs / sf;
    var size = data.overhead_factor * (data.bytes_per_value * (r.params + r.activations));
    return {r: r, dev: dev, link: link, srv: srv, total: dev + link + srv, size: size,
            accurate: r.accuracy >= thr, fits: size <= budget};
  });
  var best = null, perMethod = {};
  all.forEach(function (c) {
    if (!(c.accurate && c.fits)) { return; }
    if (best === null || cmp(c, best) < 0) { best = c; }
    var m = c.r.method;
    if (!(m in perMethod) || cmp(c, perMethod[m]) < 0) { perMethod[m] = c; }
  });
  var series = data.methods.map(function (m) {
    return {label: m, color: data.colors[m], marker: "circle", size: 4, line: false,
            points: all.filter(function (c) { return c.r.method === m && c.accurate && c.fits; })
                       .map(function (c) { return [c.r.device_macs, c.r.bits]; })};
  });
  series.push({label: "does not fit (accuracy or memory)", color: "#c0c0c0", marker: "circle", size: 2.5, line: false,
               points: all.filter(function (c) { return !(c.accurate && c.fits); })
                          .map(function (c) { return [c.r.device_macs, c.r.bits]; })});
  var highlight = [];
  data.methods.forEach(function (m) {
    if (perMethod[m] && perMethod[m] !== best) {
      highlight.push({x: perMethod[m].r.device_macs, y: perMethod[m].r.bits, color: data.colors[m], marker: "circle", size: 6});
    }
  });
  var rows = data.methods.map(function (m) {
    var c = perMethod[m];
    var n = all.filter(function (a) { return a.r.method === m; });
    var why = [];
    if (!c) {
      if (n.some(function (a) { return !a.accurate; })) { why.push("accuracy"); }
      if (n.some(function (a) { return !a.fits; })) { why.push("memory"); }
    }
    return "<tr><td style='color:" + data.colors[m] + ";padding-right:10px'>" + m + "</td><td style='padding-right:10px'>" +
           (c ? c.r.label.replace(m + " @ ", "") + "</td><td>" + util.seconds(c.total)
              : "none fits</td><td>(" + why.join(" and ") + ")") + "</td></tr>";
  });
  var out = {html: {methods: "<table>" + rows.join("") + "</table>"}, plot: {series: series, highlight: highlight}};
  if (best === null) {
    out.text = {choice: "none fits", latency: "-", breakdown: "-",
                memory: "budget " + util.fixed(budget / 1e6, 2) + " MB", feasible: "0 of " + all.length};
    out.bars = [];
    return out;
  }
  highlight.push({x: best.r.device_macs, y: best.r.bits, label: "chosen", color: data.colors[best.r.method], marker: "star", size: 10});
  out.text = {
    choice: best.r.label + " (accuracy " + util.fixed(100 * best.r.accuracy, 2) + "%)",
    latency: util.seconds(best.total),
    breakdown: "device " + util.seconds(best.dev) + " + link " + util.seconds(best.link) + " + server " + util.seconds(best.srv),
    memory: util.fixed(best.size / 1e6, 2) + " MB of " + util.fixed(budget / 1e6, 2) + " MB",
    feasible: all.filter(function (c) { return c.accurate && c.fits; }).length + " of " + all.length
  };
  out.bars = [{label: "device " + util.seconds(best.dev), value: best.dev, color: "#1f77b4"},
              {label: "link " + util.seconds(best.link), value: best.link, color: "#ff7f0e"},
              {label: "server " + util.seconds(best.srv), value: best.srv, color: "#2ca02c"}];
  return out;
}"""


def _sliders(device: DeviceSpec, server: ServerSpec, threshold: float | None, records: Sequence[Record],
             rate: str | float = "40KB/s"):
    """The explorer's five sliders, centred on the given environment (values in slider units)."""
    from coinfer.views.explorer import Slider

    top = max(r.accuracy for r in records)
    acc_values = sorted({round(100 * top - 0.25 * k, 2) for k in range(0, 41)} |
                        ({round(100 * threshold, 2)} if threshold is not None else set()))
    acc_values = [a for a in acc_values if a >= 0]
    acc_default = round(100 * threshold, 2) if threshold is not None else acc_values[0]
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
        Slider("accuracy", "accuracy threshold (%)", acc_values, value=acc_default),
    ]


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
    return static_explorer(
        data=data, sliders=_sliders(device, server, threshold, records, rate), render=LATENCY_RENDER,
        readouts=_READOUTS,
        plot=Plot(**_PLANE),
        title="Latency explorer: which configuration answers fastest? (runs in the page, no kernel)",
        bars_label="latency of the chosen configuration",
        note=(note or "") + " Footprint = overhead factor x 4 bytes x (parameters + peak activations); "
             "1 KB/s = 8000 bit/s; FLOPs = 2 x MACs.", element_id=element_id)


def slider_environment(state: Mapping[str, float], memory: MemoryModel = PAPER_MEMORY) -> tuple[Environment, float]:
    """The :class:`Environment` and threshold that the explorers' slider values mean.

    Computed with the same operations as :data:`LATENCY_RENDER`, so Python and JavaScript agree to
    the last bit. ``state``: rate (KB/s), device (GFLOP/s), memory (MB), server (TFLOP/s),
    accuracy (%).
    """
    device = DeviceSpec("explorer device", state["device"] * 1e9, state["memory"] * 1e6, 1.0)
    server = ServerSpec("explorer server", state["server"] * 1e12)
    return Environment(device, server, state["rate"] * 8000, memory), state["accuracy"] / 100


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
        Slider values: rate (KB/s), device (GFLOP/s), memory (MB), server (TFLOP/s), accuracy (%).
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
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import fig4_records, latency_output
    >>> tables = load_candidates(preset="quick")
    >>> state = {"rate": 10, "device": 0.395, "memory": 6.35, "server": 0.221, "accuracy": 88.46}
    >>> latency_output(fig4_records(tables.records), state, tables.activations)["text"]["choice"]
    'framework @ layer3.1, sparsity 0.25, code c6-d16-l4 (accuracy 88.78%)'
    """
    env, thr = slider_environment(state, memory)
    budget = env.device.budget_bytes
    methods = ordered_methods({r.method for r in records})
    colors = {m: hex_color(method_style(m, i).color) for i, m in enumerate(methods)}
    fits = {id(r): memory.footprint_bytes(r.device_params, record_activations(r, activations)) <= budget
            for r in records}
    ok = [r for r in records if r.accuracy >= thr and fits[id(r)]]
    per_method = choose_per_method(records, env, thr, activations)
    try:
        best = choose(records, env, thr, activations=activations)
    except NoFeasibleConfiguration:
        best = None
    series = [{"label": m, "color": colors[m], "marker": "circle", "size": 4, "line": False,
               "points": [[r.device_macs, r.bits_per_image] for r in ok if r.method == m]} for m in methods]
    series.append({"label": "does not fit (accuracy or memory)", "color": "#c0c0c0", "marker": "circle",
                   "size": 2.5, "line": False,
                   "points": [[r.device_macs, r.bits_per_image] for r in records if not (r.accuracy >= thr and fits[id(r)])]})
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
            why = [w for w, bad in (("accuracy", any(r.accuracy < thr for r in mine)),
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
        "choice": f"{config_label(best.record)} (accuracy {format_fixed(100 * best.record.accuracy, 2)}%)",
        "latency": format_seconds(t.total_s),
        "breakdown": (f"device {format_seconds(t.device_s)} + link {format_seconds(t.communication_s)} + "
                      f"server {format_seconds(t.server_s)}"),
        "memory": f"{format_fixed(best.footprint_bytes / 1e6, 2)} MB of {format_fixed(budget / 1e6, 2)} MB",
        "feasible": f"{len(ok)} of {len(records)}"}
    out["plot"] = {"series": series, "highlight": highlight}
    out["bars"] = [{"label": f"device {format_seconds(t.device_s)}", "value": t.device_s, "color": "#1f77b4"},
                   {"label": f"link {format_seconds(t.communication_s)}", "value": t.communication_s,
                    "color": "#ff7f0e"},
                   {"label": f"server {format_seconds(t.server_s)}", "value": t.server_s, "color": "#2ca02c"}]
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
    >>> from coinfer.core.latency import load_candidates
    >>> from coinfer.views.latency import fig4_hardware, fig4_records, latency_explorer
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
                         title="Latency explorer: which configuration answers fastest?")
