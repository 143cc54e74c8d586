"""Chapter 5 (paper sections II-D and V-B, Fig. 3): every method at the accuracy threshold.

    lookup table (python -m coinfer sweep) --accuracy >= threshold--> points per method
         --pareto_front--> one curve per method --plot_tradeoff / fig_tradeoff--> Fig. 3
         --dominance_check--> which baseline points the framework does not beat (printed)
         --tradeoff_summary(data, drop)--> the threshold explorer's readout (twin and ipywidgets)

(:func:`dominance_check`'s example runs it on the committed quick table; the chapter's tables and the
numbers its text states: :mod:`coinfer.views.tradeoff_tables`.)
"""

from __future__ import annotations

from typing import Sequence

from coinfer.results import accuracy_threshold
from coinfer.stats import margin_over_threshold, selection_accuracy, selection_threshold
from coinfer.views.plane import add_curve
from coinfer.views.explorer import Plot, Slider, live_explorer, precomputed_explorer
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import figure_style, hex_color, method_style

__all__ = ["FIG3_METHODS", "pareto_front", "tradeoff_points", "dominance_check", "plot_tradeoff", "fig_tradeoff",
           "THRESHOLD_DROPS", "tradeoff_readout",
           "tradeoff_data", "tradeoff_summary", "tradeoff_twin", "tradeoff_explorer"]

#: Fig. 3's methods in legend order (their label, colour and marker: coinfer.views.style).
FIG3_METHODS = ("framework", "original", "2-step-pruning", "bottlenet++")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates, minimizing both coordinates, sorted by the first.

    ``a`` dominates ``b`` when ``a <= b`` in both coordinates and ``a != b``. Of equal points the
    first is kept.

    Parameters
    ----------
    points : sequence of (float, float)
        For Fig. 3, ``(device MACs, bits per image)`` pairs.

    Returns
    -------
    list of int
        Indices into ``points`` of the front, by increasing first coordinate.

    Examples
    --------
    >>> from coinfer.views.tradeoff import pareto_front
    >>> pareto_front([(1, 5), (2, 2), (3, 3), (5, 1)])          # (3, 3) is dominated by (2, 2)
    [0, 1, 3]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1], i))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def _dominates(a, b) -> bool:
    return a.device_macs <= b.device_macs and a.bits_per_image <= b.bits_per_image and \
        (a.device_macs < b.device_macs or a.bits_per_image < b.bits_per_image)


def tradeoff_points(table, threshold: float | None = None) -> dict:
    """Per method, the records at or above the accuracy threshold and the indices of their Pareto front.

    Returns ``{"threshold": t, "methods": {method: {"records": [...], "front": [...], "tried": n}},
    "on_device": record or None}`` (``tried``: records of that method before the threshold;
    ``on_device``: the on-device record where it meets the threshold).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction, compared with validation accuracies; default the table's
        (:func:`coinfer.stats.selection_threshold`).

    Returns
    -------
    dict
        As above; ``records`` and ``front`` hold :class:`~coinfer.results.Record` objects, the
        front's sorted by device MACs.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import tradeoff_points
    >>> framework = tradeoff_points(table)["methods"]["framework"]
    >>> len(framework["records"]), framework["tried"]        # at the threshold, of all tried
    (13, 60)
    """
    threshold = selection_threshold(table) if threshold is None else float(threshold)
    out = {}
    for method in FIG3_METHODS:
        tried = table.select(method=method, channel="noiseless")
        ok = [r for r in tried if selection_accuracy(r, table) >= threshold]
        front = pareto_front([(r.device_macs, r.bits_per_image) for r in ok])
        out[method] = {"records": ok, "front": [ok[i] for i in front], "tried": len(tried)}
    # on-device inference, not a method of the figure: the plane's other end, drawn and checked beside it
    device = [r for r in table.select(method="on-device") if selection_accuracy(r, table) >= threshold]
    return {"threshold": threshold, "methods": out, "on_device": device[0] if device else None}


def _say(text: str) -> None:
    """Print ``text`` wrapped to a code cell's output width (76 characters) at the book's default width."""
    print(__import__("textwrap").fill(text, 76, subsequent_indent="    "))


def dominance_check(table, threshold: float | None = None, verbose: bool = True) -> dict:
    """The paper's claim: no baseline point has both less device computation and fewer bits.

    For every baseline point at or above the threshold, finds whether some framework point (also at
    or above it) dominates it, i.e. needs no more MACs *and* no more bits, and strictly less of one.

    Returns
    -------
    dict
        ``threshold``; ``not_dominated``: ``{method: [record, ...]}`` baseline points no framework
        point dominates; ``above_png``: those of them that send more bits than the input's PNG (so
        server-based inference beats them anyway); ``dominated``/``total``: counts per method;
        ``claim_holds``: the paper's sentence, i.e. no baseline point beats a point of the
        framework's Pareto front in both coordinates (``beats_framework``: such (baseline,
        framework) pairs), or None where no framework point reaches the threshold (nothing to check,
        not a claim that holds); ``beaten_by_on_device``: front points that on-device inference (not a
        baseline of the paper's Fig. 3; the whole network on the device, sending its decision) dominates
        at the threshold; ``framework_points``; ``front_margins``: each front point with its margin
        over the threshold in standard errors (:func:`coinfer.stats.margin_over_threshold`; a front
        resting on points within ~2 SE could change with other seeds). ``verbose`` prints a summary.

    ``claim_holds`` asks whether the framework's curve is never beaten; ``not_dominated``, whether it
    beats every baseline point (impossible where a baseline needs less computation than any tried).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction, compared with validation accuracies; default the table's
        (:func:`coinfer.stats.selection_threshold`).
    verbose : bool
        Print a summary.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import dominance_check
    >>> check = dominance_check(table, verbose=False)
    >>> check["claim_holds"], check["dominated"]["bottlenet++"], check["total"]["bottlenet++"]
    (True, 9, 9)
    """
    data = tradeoff_points(table, threshold)
    framework = data["methods"]["framework"]["records"]
    front = data["methods"]["framework"]["front"]
    png = (table.select(method="png") or [None])[0]
    result = {"threshold": data["threshold"], "framework_points": len(framework), "not_dominated": {},
              "dominated": {}, "total": {}, "beats_framework": [], "above_png": {}}
    for method, entry in data["methods"].items():
        if method == "framework":
            continue
        free = [r for r in entry["records"] if not any(_dominates(f, r) for f in framework)]
        result["not_dominated"][method] = free
        # Points that send more bits than the image's PNG are beaten by server-based inference anyway.
        result["above_png"][method] = [r for r in free if png is not None and r.bits_per_image > png.bits_per_image]
        result["total"][method] = len(entry["records"])
        result["dominated"][method] = len(entry["records"]) - len(free)
        result["beats_framework"] += [(r, f) for r in entry["records"] for f in front if _dominates(r, f)]
    # The paper's sentence: for each point on the framework's curve (its Pareto front), no point of
    # another method is better in both coordinates.
    result["claim_holds"] = not result["beats_framework"] if front else None
    result["front_margins"] = [(f, margin_over_threshold(f, table)) for f in front]
    # Not one of the paper's baselines, but always at hand: the whole network on the device, sending its
    # decision. A front point it dominates (at the last split, the codec only adds) is no configuration to use.
    device = data["on_device"]
    result["beaten_by_on_device"] = [f for f in front if device is not None and _dominates(device, f)]
    if verbose:
        _say(f"accuracy threshold {100 * result['threshold']:.2f}%; framework points at or above it: "
              f"{len(framework)}")
        for method in result["total"]:
            free = result["not_dominated"][method]
            _say(f"  {method:>15}: {result['dominated'][method]} of {result['total'][method]} points at the "
                  f"threshold dominated by a framework point"
                  + ("" if not free else "; not dominated: " + ", ".join(
                      f"{r.split} {r.code_size or ''} ({r.device_macs / 1e6:.2f} MMACs, {r.bits_per_image:,.0f} bits)"
                      for r in free))
                  + ("" if not result["above_png"][method] else
                     f" ({len(result['above_png'][method])} of them send more bits than the PNG image)"))
        if margins := [m for _, m in result["front_margins"] if m is not None]:
            _say(f"  the framework's front: {len(margins)} points, validation accuracy above the threshold by "
                 f"{min(margins):.1f} to {max(margins):.1f} standard errors (over {front[0].seeds} seeds)")
        if result["beaten_by_on_device"]:
            _say(f"  on-device inference ({device.device_macs / 1e6:.2f} MMACs, {device.bits_per_image:.0f} bits) "
                 f"dominates {len(result['beaten_by_on_device'])} point(s) of the framework's front: "
                 + ", ".join(f"{f.split} {f.code_size}" for f in result["beaten_by_on_device"]))
        _say("  claim 'no baseline point has both fewer MACs and fewer bits than a point of the framework's "
              "curve': "
              + ("holds" if result["claim_holds"] else
                 "cannot be checked: no framework point reaches the threshold" if result["claim_holds"] is None else
                 f"fails for {len(result['beats_framework'])} pair(s), e.g. "
                 f"{result['beats_framework'][0][0].method} {result['beats_framework'][0][0].split} beats framework "
                 f"{result['beats_framework'][0][1].split} {result['beats_framework'][0][1].code_size}"))
    return result


def plot_tradeoff(table, threshold: float | None = None, *, ax=None, show_all: bool = True,
                  show_below: bool = True, legend: bool = True, caption: bool = True):
    """Fig. 3: device computation vs communication per image, each method at the accuracy threshold.

    Every record at or above the threshold is a faint marker; each method's Pareto front is a line.
    The PNG record (server-based inference: the device sends the image) is a horizontal line.
    Both axes are logarithmic; computation is in MACs (FLOPs = 2 x MACs).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        From ``python -m coinfer sweep`` (e.g. ``load_table("data/results/sweep_quick.json")``).
    threshold : float, optional
        Accuracy fraction, compared with validation accuracies; default the table's
        (:func:`coinfer.stats.selection_threshold`).
    show_all : bool
        Also draw the points off the front.
    show_below : bool
        Also draw the configurations below the threshold, as small hollow markers (context only:
        they take no part in the fronts).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes; a new figure is made otherwise.
    legend : bool
        Draw the legend.
    caption : bool
        Put the table's provenance (data, preset, hardware, commit) under the plot.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import plot_tradeoff
    >>> ax = plot_tradeoff(table, caption=False)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    import matplotlib.pyplot as plt

    data = tradeoff_points(table, threshold)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5.2), constrained_layout=True)
    below_drawn = False
    for method in FIG3_METHODS:
        label, color, marker = method_style(method)
        entry = data["methods"][method]
        below = [r for r in table.select(method=method, channel="noiseless")
                 if selection_accuracy(r, table) < data["threshold"]]
        if show_below and below:
            ax.plot([r.device_macs for r in below], [r.bits_per_image for r in below], linestyle="none",
                    marker=marker, markersize=5, markerfacecolor="none", markeredgecolor=color, alpha=0.6)
            if not below_drawn:   # one grey legend entry for every method's hollow markers
                ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="0.4",
                        label="hollow: below the threshold (not compared)")
            below_drawn = True
        if show_all and entry["records"]:
            ax.plot([r.device_macs for r in entry["records"]], [r.bits_per_image for r in entry["records"]],
                    linestyle="none", marker=marker, color=color, alpha=0.3, markersize=6)
        if entry["front"]:
            add_curve(ax, [r.device_macs for r in entry["front"]], [r.bits_per_image for r in entry["front"]],
                      label=f"{label}: {len(entry['records'])} of {entry['tried']} settings", color=color,
                      marker=marker, markersize=7, zorder=3)
        else:
            ax.plot([], [], color=color, marker=marker, label=f"{label}: none of {entry['tried']} settings")
    png = table.select(method="png")
    if png:
        ax.axhline(png[0].bits_per_image, linestyle="--", color="0.45", linewidth=1.4,
                   label=f"PNG of the input image ({png[0].bits_per_image:,.0f} bits, server-based)")
    if (device := data["on_device"]) is not None:   # the other end of the plane: every MAC on the device
        ax.plot([device.device_macs], [device.bits_per_image], linestyle="none", marker="*", markersize=14,
                color="0.15", zorder=4, label=f"on-device inference ({device.bits_per_image:.0f}-bit class index)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("on-device computation (MACs per image, incl. encoder; FLOPs = 2 x MACs)")
    ax.set_ylabel("communication (bits per image, real encoded length)")
    ax.set_title(f"Fig. 3: trade-off at accuracy >= {100 * data['threshold']:.2f}%")
    ax.grid(True, which="both", alpha=0.25)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if caption:
        ax.figure.text(0.0, -0.02, f"Data: {table.provenance.describe()}", fontsize=8, ha="left", va="top",
                       transform=ax.transAxes)
    return ax


@figure_style
def fig_tradeoff(table, ax=None):
    """Fig. 3 as the book draws it (Figure 5.1): :func:`plot_tradeoff` at the table's threshold,
    without the provenance caption (the chapter prints it).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff import fig_tradeoff
    >>> fig_tradeoff(load_table(results_dir() / "sweep_quick.json")).axes[0].get_xscale()
    'log'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 5.4), constrained_layout=True)
    return publish(plot_tradeoff(table, ax=ax, caption=False).figure, "tradeoff", alt=_tradeoff_alt(table),
                   table=table, caption="Every method at the accuracy threshold (the paper's Fig. 3)")


def _tradeoff_alt(table) -> str:
    """What Fig. 3 shows: axes, each method's cheapest point at the threshold, the dominance check."""
    check = dominance_check(table, verbose=False)
    points = tradeoff_points(table)["methods"]
    parts = []
    for method, entry in points.items():
        front = entry["front"]
        parts.append(f"{method_style(method).label}: {len(entry['records'])} of {entry['tried']} settings"
                     + (f", fewest bits {min(r.bits_per_image for r in front):,.0f} per image" if front else ""))
    claim = ("no baseline point has both fewer MACs and fewer bits than a point of the framework's front"
             if check["claim_holds"] else "no framework point reaches the threshold" if check["claim_holds"] is None else
             f"{len(check['beats_framework'])} baseline point(s) beat a point of the framework's front")
    return (f"Scatter plot with lines, both axes logarithmic: device computation in MACs per image (x) against "
            f"bits sent per image (y), for every setting that reaches the accuracy threshold "
            f"{100 * check['threshold']:.2f}%; each method's Pareto front is a line, with a marker of its own, "
            f"and a dashed line marks the PNG image. " + "; ".join(parts) + f". The paper's claim checked: {claim}.")


# ----------------------------------------------------------------------------------------------
# Fig. 3 explorers: move the accuracy threshold, watch the fronts and the dominance check
# ----------------------------------------------------------------------------------------------

#: Slider positions: points below the unsplit network's accuracy (0 to 5 in steps of 0.25).
THRESHOLD_DROPS = tuple(k / 4 for k in range(21))


def tradeoff_data(table) -> dict:
    """What the threshold explorers need from ``table`` (JSON-able): every point, the PNG size, the
    unsplit accuracy, and the drop (points) that gives the table's default threshold.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).

    Returns
    -------
    dict
        ``points`` (per record: method, MACs, bits, accuracy, ...), ``png_bits`` (bits per image),
        ``base`` (the unsplit accuracy), ``default_drop`` (percentage points) and ``methods``.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import tradeoff_data
    >>> sorted(tradeoff_data(table))
    ['base', 'default_drop', 'methods', 'png_bits', 'points']
    """
    png = table.select(method="png")
    if not png:
        raise ValueError("the table has no 'png' record (the size of the image, server-based inference)")
    # "acc" and "base" are the accuracies choices are made on (validation; test for an older table),
    # so the threshold a slider sets is decided where every other choice is; "test" is reported.
    selection_threshold(table)                     # checks that the table carries both numbers
    prov = table.provenance
    base = prov.baseline_accuracy if prov.validation is None else prov.baseline_val_accuracy
    drop = prov.accuracy_drop
    return {"base": base, "png_bits": png[0].bits_per_image, "default_drop": min(THRESHOLD_DROPS,
            key=lambda d: abs(d - drop)),
            "methods": [{"key": m, "label": method_style(m).label, "color": hex_color(method_style(m).color)}
                        for m in FIG3_METHODS],
            "points": [{"m": r.method, "split": r.split, "code": r.code_size,
                        "acc": selection_accuracy(r, table), "test": r.accuracy,
                        "x": r.device_macs, "y": r.bits_per_image}
                       for r in table.records if r.method in FIG3_METHODS and r.channel == "noiseless"]}


def tradeoff_summary(data: dict, drop: float) -> dict:
    """The readouts of the twin at ``drop`` points below the unsplit accuracy (what the page shows,
    precomputed here for every slider value; a test compares the page with it).

    Parameters
    ----------
    data : dict
        From :func:`tradeoff_data`.
    drop : float
        Percentage points below the unsplit network's accuracy.

    Returns
    -------
    dict of str to str
        ``threshold``, ``framework`` (configurations at the threshold, of all tried), ``claim``
        (whether the paper's dominance claim holds) and ``free`` (baseline points the framework
        does not dominate).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import tradeoff_data, tradeoff_summary
    >>> tradeoff_summary(tradeoff_data(table), drop=2.0)["threshold"]      # on the validation split
    '89.06%'
    """
    threshold = accuracy_threshold(data["base"], drop)
    ok = [p for p in data["points"] if p["acc"] >= threshold]
    fw = [p for p in ok if p["m"] == "framework"]
    front = [fw[i] for i in pareto_front([(p["x"], p["y"]) for p in fw])]

    def dominates(a, b):
        return a["x"] <= b["x"] and a["y"] <= b["y"] and (a["x"] < b["x"] or a["y"] < b["y"])

    baseline = [p for p in ok if p["m"] != "framework"]
    free = [p for p in baseline if not any(dominates(f, p) for f in fw)]
    beaten = any(dominates(b, f) for b in baseline for f in front)
    return {"threshold": f"{100 * threshold:.2f}%", "framework": f"{len(fw)} of "
            f"{sum(p['m'] == 'framework' for p in data['points'])}",
            "claim": "does not hold" if beaten else ("holds" if fw else "no framework point"),
            "free": str(len(free)) + (": " + ", ".join(f"{p['m']} {p['split']}" for p in free) if free else "")}



def tradeoff_readout(data: dict, drop: float) -> dict:
    """The threshold explorer's whole output at ``drop`` points below the unsplit accuracy: the
    readouts of :func:`tradeoff_summary` and the plot (per method its front as a line, every
    setting at the threshold as dots; the PNG size as a line).

    Parameters
    ----------
    data : dict
        From :func:`tradeoff_data`.
    drop : float
        Percentage points below the unsplit network's accuracy.

    Returns
    -------
    dict
        ``{"text": ..., "plot": ...}`` (see :mod:`coinfer.views.explorer`).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff import tradeoff_data, tradeoff_readout
    >>> out = tradeoff_readout(tradeoff_data(load_table(results_dir() / "sweep_quick.json")), drop=2.0)
    >>> out["text"]["claim"], out["plot"]["hlines"][0]["label"]
    ('holds', 'PNG of the input image')
    """
    threshold = accuracy_threshold(data["base"], drop)
    ok = [p for p in data["points"] if p["acc"] >= threshold]
    series = []
    for m in data["methods"]:
        mine = [p for p in ok if p["m"] == m["key"]]
        if not mine:
            continue
        front = [mine[i] for i in pareto_front([(p["x"], p["y"]) for p in mine])]
        series.append({"label": m["label"], "points": [[p["x"], p["y"]] for p in front], "color": m["color"],
                       "line": True, "size": 4})
        series.append({"label": "", "points": [[p["x"], p["y"]] for p in mine], "color": m["color"],
                       "line": False, "size": 2})
    return {"text": tradeoff_summary(data, drop), "plot": {
        "series": series, "hlines": [{"y": data["png_bits"], "label": "PNG of the input image", "color": "#7f7f7f"}]}}


def _tradeoff_view(table) -> dict:
    data = tradeoff_data(table)
    return dict(sliders=[Slider("drop", "threshold: points below the unsplit accuracy", values=THRESHOLD_DROPS,
                                value=data["default_drop"], labels=[f"-{d:g} points" if d else "0 points" for d in THRESHOLD_DROPS])],
                readout=lambda state: tradeoff_readout(data, state["drop"]),
                readouts=[("threshold", "accuracy threshold (validation split)"),
                          ("framework", "framework settings at the threshold"),
                          ("claim", "paper's claim (framework curve never beaten)"),
                          ("free", "baseline points not dominated")],
                plot=Plot(xlabel="device computation (MACs per image)", ylabel="bits per image", logx=True, logy=True))


def tradeoff_twin(table):
    """Kernel-free threshold explorer (precomputed at every slider position): Fig. 3's fronts and
    the dominance check at a chosen accuracy threshold.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import tradeoff_twin
    >>> 'data-slider="drop"' in tradeoff_twin(table).html
    True
    """
    return with_downloads(precomputed_explorer(
        **_tradeoff_view(table), title="Fig. 3 at any threshold (runs in the page, no kernel)",
        note=f"Data: {table.provenance.describe()}. Lines: Pareto fronts; dots: every setting at the threshold."),
        "threshold-explorer", table=table)


def tradeoff_explorer(table):
    """ipywidgets threshold explorer for Jupyter/Colab: the readouts and plot of :func:`tradeoff_twin`, live.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).

    Returns
    -------
    ipywidgets.VBox
        The threshold slider and the HTML area it redraws.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.tradeoff import tradeoff_explorer
    >>> len(tradeoff_explorer(table).children)         # display(box) in Jupyter or Colab
    2
    """
    return live_explorer(**_tradeoff_view(table))
