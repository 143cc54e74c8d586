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
     fig_latency_vs_rate (matplotlib)      views.chooser: latency_twin / latency_explorer

The chooser explorer (sliders over rate, device, memory, server and threshold) is
:mod:`coinfer.views.chooser`. Colours and labels come from :mod:`coinfer.views.style`. Units as in
:mod:`coinfer.core.latency`: FLOPs = 2 x MACs, 1 KB/s = 8000 bit/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from coinfer.core.latency import (DEVICES, PAPER_LOW_RATE_BPS, PAPER_LOW_RATE_LATENCY_S, PAPER_MEMORY, SERVERS,
                                  Choice, DeviceSpec, Environment, MemoryModel, NoFeasibleConfiguration, ServerSpec,
                                  choose_per_method, scale_to_width)
from coinfer.units import BITS_PER_BYTE, KILO, format_rate, parse_rate
from coinfer.core.network import SPLIT_POINTS
from coinfer.results import Record
from coinfer.stats import seed_spread, selection_accuracy
from coinfer.views.publish import publish
from coinfer.views.style import figure_style, method_style, ordered_methods

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


@figure_style
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
        The lookup tables (:func:`coinfer.experiments.candidates.load_candidates`): records, their
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
    >>> from coinfer.experiments.candidates import load_candidates
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
        ax.plot(kBps, totals, color=color, lw=2, label=label, marker=method_style(method, i).marker, markevery=(i, 6),
                markersize=5)     # a marker every 6 rates: the methods differ in more than colour
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
    rows = [{"method": m, "rate_KBps": float(r) / (BITS_PER_BYTE * KILO), "latency_s": float(t),
             "split": c.record.split if isinstance(c, Choice) else None,
             "sparsity": c.record.sparsity if isinstance(c, Choice) else None,
             "code_size": c.record.code_size if isinstance(c, Choice) else None}
            for m, curve in curves.items() for r, t, c in zip(curve.rates_bps, curve.total_s, curve.choices)]
    return publish(ax.figure, "latency" if scaled else "latency-unscaled", alt=_latency_alt(curves, device, server),
                   rows=rows, provenance={"tables": list(candidates.sources), "device": device.name,
                                          "server": server.name, "threshold": threshold},
                   caption="End-to-end latency against the link rate (the paper's Fig. 4)")


def _latency_alt(curves: Mapping[str, LatencyCurve], device: DeviceSpec, server: ServerSpec) -> str:
    """What Fig. 4 shows: axes, methods, each method's latency at the lowest and highest rate."""
    parts = []
    for method, curve in curves.items():
        t = curve.total_s
        ok = ~np.isnan(t)
        if ok.any():
            parts.append(f"{method_style(method).label}: {t[ok][0]:.3g} s at {curve.rates_bps[ok][0] / 8e3:g} KB/s, "
                         f"{t[ok][-1]:.3g} s at {curve.rates_bps[ok][-1] / 8e3:g} KB/s")
        else:
            parts.append(f"{method_style(method).label}: no configuration fits")
    return (f"Line chart, both axes logarithmic: end-to-end latency per image in seconds (y) against the uplink "
            f"rate in KB/s (x), one line per method at its fastest feasible configuration (device: {device.name}; "
            f"server: {server.name}); small labels name each change of split point. " + "; ".join(parts) + ".")


def _as_candidates(table):
    """A :class:`~coinfer.core.latency.Candidates` for one lookup table (its preset's network)."""
    from coinfer.config import get_preset
    from coinfer.core.latency import Candidates

    if isinstance(table, Candidates):
        return table
    return Candidates.from_tables([table], width=get_preset(table.provenance.preset).width)


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
    >>> from coinfer.experiments.candidates import load_candidates
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
        One row per (rate, method), methods in legend order: the configuration, its test accuracy (the
        mean over seeds, ``accuracy_std`` their standard deviation) and its latency terms in ms, or why
        none fits.

    Examples
    --------
    >>> from coinfer.experiments.candidates import load_candidates
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
                           accuracy_std=None if seed_spread(c.record) is None else round(seed_spread(c.record), 4),
                           val_accuracy=round(selection_accuracy(c.record), 4),
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
        One record per split point (keys of :data:`coinfer.splits.SPLIT_POINTS`, ``"output"``
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
    >>> from coinfer.core.latency import DEVICES
    >>> from coinfer.experiments.original import original_records
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
    >>> from coinfer.experiments.candidates import load_candidates
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
        fits = [r for r in records if r.method == method and selection_accuracy(r) >= threshold
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
    """:func:`coinfer.experiments.calibration.calibrate`'s measurements as table rows (times in ms).

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


def calibration_facts(report: dict) -> dict:
    """What chapter 6 states about ``benchmarks/latency_calibration.py``'s committed report.

    Parameters
    ----------
    report : dict
        The report (``rows`` of width, split, device MACs, measured and predicted seconds, ratio;
        ``effective_flops`` and ``effective_flops_per_width``).

    Returns
    -------
    dict
        ``gflops`` (the effective speed over all parts); ``wide_low`` / ``wide_high`` and
        ``narrow_low`` / ``narrow_high`` (measured over predicted time of the widest and the narrowest
        network's parts past the stem); ``stem_ratio`` and ``stem_ms`` (the narrowest network's stem:
        mostly fixed cost); ``narrow_share`` (the narrowest network's FLOP/s over the widest's);
        ``whole_ratio`` (the widest network's deepest device part) and ``late_slowdown`` (at the widest:
        time per FLOP of the stages after ``layer2.1`` over that of those before it).

    Examples
    --------
    >>> from coinfer.views.latency import calibration_facts
    >>> rows = [{"width": w, "split": s, "device_macs": m * w, "measured_s": t * w, "predicted_s": 1.0, "ratio": r * w}
    ...         for w in (0.5, 1.0) for s, m, t, r in (("stem", 1, 3, 3.0), ("layer2.1", 5, 6, 1.2),
    ...                                               ("pool", 9, 18, 2.0))]
    >>> facts = calibration_facts({"rows": rows, "effective_flops": 2e9,
    ...                            "effective_flops_per_width": {"0.5": 1e9, "1.0": 2e9}})
    >>> facts["wide_low"], facts["wide_high"], facts["narrow_low"], facts["stem_ratio"], facts["late_slowdown"]
    (1.2, 2.0, 0.6, 1.5, 4.0)
    """
    rows = report["rows"]
    narrow, wide = min(r["width"] for r in rows), max(r["width"] for r in rows)
    stem = next(r for r in rows if r["width"] == narrow and r["split"] == "stem")
    past_stem = lambda width: [r["ratio"] for r in rows if r["width"] == width and r["split"] != "stem"]
    at_wide = {r["split"]: r for r in rows if r["width"] == wide}
    per_flop = lambda a, b: ((at_wide[b]["measured_s"] - at_wide[a]["measured_s"])
                             / (at_wide[b]["device_macs"] - at_wide[a]["device_macs"]))
    speeds = {float(w): f for w, f in report["effective_flops_per_width"].items()}
    return {"gflops": report["effective_flops"] / 1e9,
            "wide_low": min(past_stem(wide)), "wide_high": max(past_stem(wide)),
            "narrow_low": min(past_stem(narrow)), "narrow_high": max(past_stem(narrow)),
            "stem_ratio": stem["ratio"], "stem_ms": 1e3 * stem["measured_s"],
            "narrow_share": speeds[narrow] / speeds[wide], "whole_ratio": at_wide["pool"]["ratio"],
            "late_slowdown": per_flop("layer2.1", "pool") / per_flop("stem", "layer2.1")}


def first_rate_faster(curves: dict, method: str, than: str) -> float | None:
    """The slowest link rate (bit/s) of :func:`latency_curves` at which ``method``'s best configuration
    is faster than ``than``'s; None where it is at no rate of the grid (or a curve is missing).

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from coinfer.views.latency import first_rate_faster
    >>> curve = lambda *t: SimpleNamespace(rates_bps=np.array([8e3, 8e4, 8e5]), total_s=np.array(t))
    >>> first_rate_faster({"png": curve(9.0, 0.9, 0.09), "framework": curve(0.1, 0.1, 0.1)}, "png", "framework")
    800000.0
    """
    if method not in curves or than not in curves:
        return None
    faster = [float(rate) for rate, mine, theirs in zip(curves[method].rates_bps, curves[method].total_s,
                                                        curves[than].total_s) if mine < theirs]
    return min(faster) if faster else None
