"""The paper's figures, drawn from coinfer's numbers (profiles and lookup tables) with matplotlib.

Fig. 1 of Shao & Zhang (2020) is the *communication-computation plane*: each way of splitting the
network is a point (on-device computation, bits sent per image). Server-based inference sits at
zero computation and sends the image; on-device inference computes everything and sends (almost)
nothing; every split point in between is a trade-off. When a split point's feature is larger than
the image itself, splitting there is worse than sending the image: *data amplification* (after
JALAD, the paper's [7])::

    profile_splits(model) --> [SplitProfile per split point] --+
    input_size(dataset)   --> InputSize (raw, PNG bits)   -----+--> plot_comm_comp_plane(...) --> Axes
    later chapters: pruned / encoded records ---> add_curve(ax, ...) (same plane, more curves)

Units: computation in MACs (multiply-accumulates; FLOPs = 2 x MACs), communication in bits per
image. The x axis is "symlog": linear from 0 to 1 M MACs (so the server-only point, 0 MACs, is
drawn) and logarithmic above.

Example::

    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.figures import InputLine, plot_comm_comp_plane, add_curve
    >>> rows = profile_splits(resnet18(width=1.0))
    >>> ax = plot_comm_comp_plane(rows, inputs=[InputLine(24576, "CIFAR-10 image, raw")])
    >>> # a later chapter adds its own curve to the same plane:
    >>> line = add_curve(ax, [2e6, 1e8], [3e4, 2e3], label="pruned + encoded")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from coinfer.core.network import PAPER_SPLIT_POINTS

__all__ = ["InputLine", "input_lines", "raw_input_line", "plot_comm_comp_plane", "add_curve",
           "MACS_LINTHRESH", "accuracy_threshold", "pareto_front", "tradeoff_points", "dominance_check",
           "plot_tradeoff", "tradeoff_data", "tradeoff_summary", "tradeoff_twin", "tradeoff_explorer"]

#: Below this many MACs the x axis is linear (so that 0 MACs, server-based inference, is drawn).
MACS_LINTHRESH = 1e6


@dataclass(frozen=True)
class InputLine:
    """A horizontal line at the size of the input image: above it, a split point amplifies data.

    ``bits`` per image; ``label`` says which dataset and encoding (raw pixels, PNG) it measures.
    """

    bits: float
    label: str
    linestyle: str = "--"
    color: str = "0.45"

    def __post_init__(self):
        if not (isinstance(self.bits, (int, float)) and math.isfinite(self.bits) and self.bits > 0):
            raise ValueError(f"InputLine bits must be a positive number of bits per image, got {self.bits!r}")


def raw_input_line(shape: Sequence[int], label: str, bits_per_value: int = 8, color: str = "0.45") -> InputLine:
    """The raw size of an image of ``shape`` (uint8 by default): CIFAR-10's 3x32x32 is 24,576 bits.

    Parameters
    ----------
    shape : sequence of int
        The image's shape, e.g. ``(3, 32, 32)``.
    label : str
        What it is; the legend entry becomes ``"<label>, raw (<bits> bits)"``.
    bits_per_value : int
        Bits per pixel and colour (8 for uint8 images).
    color : str
        Matplotlib colour of the line.

    Returns
    -------
    InputLine

    Examples
    --------
    >>> from coinfer.views.figures import raw_input_line
    >>> line = raw_input_line((3, 32, 32), "CIFAR-10 image")
    >>> line.bits, line.label
    (24576, 'CIFAR-10 image, raw (24,576 bits)')
    """
    bits = bits_per_value * math.prod(shape)
    return InputLine(bits, f"{label}, raw ({bits:,} bits)", color=color)


def input_lines(size, name: str | None = None, color: str = "tab:green") -> list[InputLine]:
    """Raw and PNG lines for a measured :class:`coinfer.core.costs.InputSize` (``name`` defaults to
    its dataset).

    Parameters
    ----------
    size : coinfer.core.costs.InputSize
        From :func:`coinfer.core.costs.input_size`.
    name : str, optional
        Dataset name for the legend (default ``size.dataset``).
    color : str
        Matplotlib colour of both lines (raw dashed, PNG dotted).

    Returns
    -------
    list of InputLine
        ``[raw, PNG]``, in bits per image.

    Examples
    --------
    >>> from coinfer.views.figures import input_lines
    >>> from coinfer.core.costs import InputSize
    >>> size = InputSize("fashion-mnist", (28, 28), raw_bits=6272, png_bits_mean=4064.0, png_bits_std=600.0, images=1000)
    >>> [line.bits for line in input_lines(size, "Fashion-MNIST")]
    [6272, 4064.0]
    """
    name = name or size.dataset
    shape = "x".join(map(str, size.image_shape))
    return [
        InputLine(size.raw_bits, f"{name} image {shape}, raw ({size.raw_bits:,} bits)", color=color),
        InputLine(size.png_bits_mean, f"{name} image, PNG (mean {size.png_bits_mean:,.0f} bits, "
                                      f"{size.images:,} test images)", linestyle=":", color=color),
    ]


def add_curve(ax, device_macs: Sequence[float], bits: Sequence[float], label: str, *,
              color=None, marker: str = "o", linestyle: str = "-", annotations: Sequence[str] | None = None,
              **line_kwargs):
    """Add one trade-off curve (e.g. pruned or encoded configurations) to a plane made by
    :func:`plot_comm_comp_plane`.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The plane, from :func:`plot_comm_comp_plane`.
    device_macs, bits : sequences of equal length
        On-device MACs (>= 0) and bits sent (> 0, the axis is logarithmic), per image.
    label : str
        Legend entry.
    color, marker, linestyle
        Matplotlib style of the curve (default: the next colour, circles, a solid line).
    annotations : sequence of str, optional
        A short text beside each point (e.g. split point names); empty strings are skipped.
    **line_kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib.lines.Line2D

    Raises
    ------
    ValueError
        For sequences of different lengths, an empty curve, bits <= 0 or negative MACs.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from coinfer.views.figures import add_curve
    >>> fig, ax = plt.subplots()
    >>> line = add_curve(ax, [2e6, 1e8], [3e4, 2e3], label="pruned + encoded", annotations=["s2", ""])
    >>> [float(y) for y in line.get_ydata()]
    [30000.0, 2000.0]
    >>> add_curve(ax, [1e6], [0], label="bad")
    Traceback (most recent call last):
    ...
    ValueError: curve 'bad': bits per image must be > 0 on a log axis, got [0]
    """
    device_macs, bits = list(device_macs), list(bits)
    if len(device_macs) != len(bits):
        raise ValueError(f"device_macs and bits must have the same length, got {len(device_macs)} and {len(bits)}")
    if not device_macs:
        raise ValueError(f"curve {label!r} has no points")
    bad = [b for b in bits if not b > 0]
    if bad:
        raise ValueError(f"curve {label!r}: bits per image must be > 0 on a log axis, got {bad[:3]!r}")
    if any(m < 0 for m in device_macs):
        raise ValueError(f"curve {label!r}: device MACs must be >= 0")
    (line,) = ax.plot(device_macs, bits, marker=marker, linestyle=linestyle, color=color, label=label,
                      **line_kwargs)
    if annotations is not None:
        if len(annotations) != len(bits):
            raise ValueError(f"{len(annotations)} annotations for {len(bits)} points")
        for x, y, text in zip(device_macs, bits, annotations):
            if text:
                ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=9,
                            color=line.get_color())
    return line


def plot_comm_comp_plane(rows, inputs: Sequence[InputLine] = (), *, ax=None, bits_per_element: int = 32,
                         label: str | None = None, color="C0", mark_endpoints: bool = True,
                         label_paper_points: bool = True, shade_amplification: bool = True,
                         curves: Sequence[dict] = (), legend: bool = True):
    """The communication-computation plane of the paper's Fig. 1.

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        All split points of one network, from :func:`coinfer.core.costs.profile_splits`, in order
        (``input`` first, ``output`` last).
    inputs : sequence of InputLine
        Input-image sizes drawn as horizontal lines (raw, PNG, ...). The first also places the
        server-based point (the device sends the image) and bounds the shaded amplification region.
    ax : matplotlib Axes, optional
        Draw into this Axes (e.g. a subplot); a new figure is made otherwise.
    bits_per_element : {32, 8}
        Bits per feature element on the link: float32 or 8-bit quantized features.
    label, color
        Legend entry and colour of the network's curve.
    mark_endpoints : bool
        Stars for on-device inference (all layers on the device; it sends the 10 class scores of
        its output row) and server-based inference (0 MACs on the device; it sends the image).
    label_paper_points : bool
        Label the paper's five split points s1..s5.
    shade_amplification : bool
        Shade the region above the first input line.
    curves : sequence of dict
        More curves, each the keyword arguments of :func:`add_curve` (``device_macs``, ``bits``,
        ``label``, ...). Later chapters can equally call :func:`add_curve` on the returned Axes.
    legend : bool
        Draw the legend (outside the axes, on the right).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views.figures import plot_comm_comp_plane, raw_input_line
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> ax = plot_comm_comp_plane(profile_splits(resnet18(width=1.0)), [raw_input_line((3, 32, 32), "CIFAR-10")])
    >>> ax.get_xlabel(), ax.get_yscale()
    ('on-device computation (MACs per image; FLOPs = 2 x MACs)', 'log')
    """
    import matplotlib.pyplot as plt

    if bits_per_element not in (8, 32):
        raise ValueError(f"bits_per_element must be 8 or 32, got {bits_per_element!r}")
    rows = list(rows)
    names = [r.point for r in rows]
    if len(rows) < 3 or names[0] != "input" or names[-1] != "output":
        raise ValueError("rows must be every split point of a network in order, from 'input' to 'output' "
                         f"(profile_splits(model)); got {names!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.8), constrained_layout=True)
    inputs = list(inputs)
    middle = rows[1:-1]
    macs = [r.device_macs for r in middle]
    bits = [r.feature_elements * bits_per_element for r in middle]
    add_curve(ax, macs, bits, label or f"original network, split points ({bits_per_element}-bit features)",
              color=color, marker="o", markersize=4, zorder=3)
    paper = [r for r in middle if r.point in PAPER_SPLIT_POINTS]
    ax.plot([r.device_macs for r in paper], [r.feature_elements * bits_per_element for r in paper],
            linestyle="none", marker="o", markersize=8, markerfacecolor="none", markeredgecolor=color,
            zorder=4, label="the paper's split points s1-s5")
    if label_paper_points:
        for r in paper:
            ax.annotate(r.paper_name or r.point, (r.device_macs, r.feature_elements * bits_per_element),
                        textcoords="offset points", xytext=(-4, 9), fontsize=10, ha="right", color=color)
    for line in inputs:
        ax.axhline(line.bits, linestyle=line.linestyle, color=line.color, linewidth=1.4, label=line.label)
    if mark_endpoints:
        server_bits = inputs[0].bits if inputs else rows[0].feature_elements * bits_per_element
        device_only = rows[-1]
        ax.plot([0], [server_bits], linestyle="none", marker="*", markersize=16, color="tab:blue",
                markeredgecolor="k", zorder=5, label="server-based inference (sends the image)")
        ax.plot([device_only.device_macs], [device_only.feature_elements * bits_per_element], linestyle="none",
                marker="*", markersize=16, color="tab:red", markeredgecolor="k", zorder=5,
                label=f"on-device inference (sends {device_only.feature_elements} class scores)")
    for curve in curves:
        add_curve(ax, **curve)
    ax.set_xscale("symlog", linthresh=MACS_LINTHRESH, linscale=0.35)
    ax.set_yscale("log")
    top = max(r.feature_elements * bits_per_element for r in rows) * 3
    # A little room left of 0 so the server-based star is not cut by the axis.
    right = 10.0 ** math.ceil(math.log10(max(r.device_macs for r in rows) * 1.05))
    ax.set_xlim(-0.25 * MACS_LINTHRESH, right)
    decades = range(int(math.log10(MACS_LINTHRESH)), int(math.ceil(math.log10(ax.get_xlim()[1]))) + 1)
    ax.set_xticks([0] + [10.0 ** k for k in decades])
    ax.set_ylim(min(r.feature_elements * bits_per_element for r in rows) / 3, top)
    if shade_amplification and inputs:
        ax.axhspan(inputs[0].bits, top, color="tab:red", alpha=0.06, zorder=0)
        ax.text(0.99, 0.97, "data amplification: more bits than the image", transform=ax.transAxes,
                ha="right", va="top", fontsize=9, color="tab:red")
    ax.set_xlabel("on-device computation (MACs per image; FLOPs = 2 x MACs)")
    ax.set_ylabel("communication (bits per image)")
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


# ----------------------------------------------------------------------------------------------
# Fig. 3: the trade-off curves of the framework and the baselines at the accuracy threshold
# ----------------------------------------------------------------------------------------------
#
#   lookup table (python -m coinfer sweep) --accuracy >= threshold--> points per method
#        --pareto_front--> one curve per method --plot_tradeoff--> Fig. 3
#        --dominance_check--> which baseline points the framework does not beat (printed)

#: Fig. 3's methods in legend order, with their colours and markers.
FIG3_METHODS = {
    "framework": ("our framework (pruning + two-step encoding)", "tab:red", "o"),
    "original": ("original network + 8-bit Huffman", "tab:blue", "s"),
    "2-step-pruning": ("2-Step Pruning + 8-bit Huffman", "tab:orange", "^"),
    "bottlenet++": ("BottleNet++ (8-bit values)", "tab:purple", "D"),
}
#: The paper's threshold on CIFAR-10 (section V-A): 93% from the unsplit network's ~95%.
PAPER_ACCURACY_THRESHOLD = 0.93


def accuracy_threshold(table) -> float:
    """Fig. 3's accuracy threshold for ``table``: 93% for the paper preset; otherwise the unsplit
    network's accuracy (the table's ``png`` record) minus the preset's ``accuracy_drop`` points.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).

    Returns
    -------
    float
        The threshold as a fraction in [0, 1].

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.figures import accuracy_threshold
    >>> round(accuracy_threshold(table), 4)        # 90.46 % unsplit, minus 2 points
    0.8846
    """
    from coinfer.config import get_preset

    if table.provenance.preset == "paper":
        return PAPER_ACCURACY_THRESHOLD
    png = table.select(method="png")
    if not png:
        raise ValueError("the table has no 'png' record, which carries the unsplit network's accuracy; "
                         "pass threshold= explicitly")
    return png[0].accuracy - get_preset(table.provenance.preset).accuracy_drop / 100


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
    >>> from coinfer.views.figures import pareto_front
    >>> pareto_front([(1, 5), (2, 2), (3, 3), (5, 1)])          # (3, 3) is dominated by (2, 2)
    [0, 1, 3]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1], i))
    front, best = [], math.inf
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

    Returns ``{"threshold": t, "methods": {method: {"records": [...], "front": [...], "tried": n}}}``
    (``tried``: records of that method before the threshold).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction; default :func:`accuracy_threshold`.

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
    >>> from coinfer.views.figures import tradeoff_points
    >>> framework = tradeoff_points(table)["methods"]["framework"]
    >>> len(framework["records"]), framework["tried"]        # at the threshold, of all tried
    (5, 12)
    """
    threshold = accuracy_threshold(table) if threshold is None else float(threshold)
    out = {}
    for method in FIG3_METHODS:
        tried = table.select(method=method, channel="noiseless")
        ok = [r for r in tried if r.accuracy >= threshold]
        front = pareto_front([(r.device_macs, r.bits_per_image) for r in ok])
        out[method] = {"records": ok, "front": [ok[i] for i in front], "tried": len(tried)}
    return {"threshold": threshold, "methods": out}


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
        framework) pairs); ``framework_points``. With ``verbose``, prints a summary.

    Two different questions: ``claim_holds`` asks whether the framework's curve is never beaten;
    ``not_dominated`` asks whether the framework beats every baseline point (it cannot where a
    baseline needs less computation than any framework configuration tried).

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction; default :func:`accuracy_threshold`.
    verbose : bool
        Print a summary.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> from coinfer.views.figures import dominance_check
    >>> check = dominance_check(table, verbose=False)
    >>> check["claim_holds"], check["dominated"]["bottlenet++"], check["total"]["bottlenet++"]
    (True, 3, 3)
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
    result["claim_holds"] = not result["beats_framework"]
    if verbose:
        print(f"accuracy threshold {100 * result['threshold']:.2f}%; framework points at or above it: "
              f"{len(framework)}")
        for method in result["total"]:
            free = result["not_dominated"][method]
            print(f"  {method:>15}: {result['dominated'][method]} of {result['total'][method]} points at the "
                  f"threshold dominated by a framework point"
                  + ("" if not free else "; not dominated: " + ", ".join(
                      f"{r.split} {r.code_size or ''} ({r.device_macs / 1e6:.2f} MMACs, {r.bits_per_image:,.0f} bits)"
                      for r in free))
                  + ("" if not result["above_png"][method] else
                     f" ({len(result['above_png'][method])} of them send more bits than the PNG image)"))
        print("  claim 'no baseline point has both fewer MACs and fewer bits than a point of the framework's "
              "curve': "
              + ("holds" if result["claim_holds"] else
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
        Accuracy fraction; default :func:`accuracy_threshold`.
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
    >>> from coinfer.views.figures import plot_tradeoff
    >>> ax = plot_tradeoff(table, caption=False)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    import matplotlib.pyplot as plt

    data = tradeoff_points(table, threshold)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5.2), constrained_layout=True)
    below_drawn = False
    for method, (label, color, marker) in FIG3_METHODS.items():
        entry = data["methods"][method]
        below = [r for r in table.select(method=method, channel="noiseless") if r.accuracy < data["threshold"]]
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
    >>> from coinfer.views.figures import tradeoff_data
    >>> sorted(tradeoff_data(table))
    ['base', 'default_drop', 'methods', 'png_bits', 'points']
    """
    png = table.select(method="png")
    if not png:
        raise ValueError("the table has no 'png' record (the unsplit network's accuracy)")
    base = png[0].accuracy
    drop = (base - accuracy_threshold(table)) * 100
    return {"base": base, "png_bits": png[0].bits_per_image, "default_drop": min(THRESHOLD_DROPS,
            key=lambda d: abs(d - drop)),
            "methods": [{"key": m, "label": label, "color": _hex(color)}
                        for m, (label, color, _) in FIG3_METHODS.items()],
            "points": [{"m": r.method, "split": r.split, "code": r.code_size, "acc": r.accuracy,
                        "x": r.device_macs, "y": r.bits_per_image}
                       for r in table.records if r.method in FIG3_METHODS and r.channel == "noiseless"]}


def _hex(color: str) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


def tradeoff_summary(data: dict, drop: float) -> dict:
    """The readouts of the twin at ``drop`` points below the unsplit accuracy, computed in Python
    exactly as the twin's JavaScript does (a test compares the two).

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
    >>> from coinfer.views.figures import tradeoff_data, tradeoff_summary
    >>> tradeoff_summary(tradeoff_data(table), drop=2.0)["threshold"]
    '88.46%'
    """
    threshold = data["base"] - drop / 100
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


_TRADEOFF_RENDER = r"""function (data, state, util) {
  var t = data.base - state.drop / 100;
  var ok = data.points.filter(function (p) { return p.acc >= t; });
  function front(pts) {
    var s = pts.slice().sort(function (a, b) { return a.x - b.x || a.y - b.y; }), out = [], best = Infinity;
    s.forEach(function (p) { if (p.y < best) { out.push(p); best = p.y; } });
    return out;
  }
  function dom(a, b) { return a.x <= b.x && a.y <= b.y && (a.x < b.x || a.y < b.y); }
  var fw = ok.filter(function (p) { return p.m === "framework"; }), fwFront = front(fw);
  var base = ok.filter(function (p) { return p.m !== "framework"; });
  var free = base.filter(function (p) { return !fw.some(function (f) { return dom(f, p); }); });
  var beaten = base.some(function (b) { return fwFront.some(function (f) { return dom(b, f); }); });
  var series = [];
  data.methods.forEach(function (m) {
    var mine = ok.filter(function (p) { return p.m === m.key; });
    if (!mine.length) { return; }
    series.push({label: m.label, points: front(mine).map(function (p) { return [p.x, p.y]; }),
                 color: m.color, line: true, size: 4});
    series.push({label: "", points: mine.map(function (p) { return [p.x, p.y]; }), color: m.color,
                 line: false, size: 2});
  });
  var nfw = data.points.filter(function (p) { return p.m === "framework"; }).length;
  return {
    text: {
      threshold: util.fixed(100 * t, 2) + "%",
      framework: fw.length + " of " + nfw,
      claim: beaten ? "does not hold" : (fw.length ? "holds" : "no framework point"),
      free: free.length + (free.length ? ": " + free.map(function (p) { return p.m + " " + p.split; }).join(", ") : "")
    },
    plot: {series: series, hlines: [{y: data.png_bits, label: "PNG of the input image", color: "#7f7f7f"}]}
  };
}"""


def tradeoff_twin(table):
    """Kernel-free twin of :func:`tradeoff_explorer`: a slider over the accuracy threshold (points
    below the unsplit network), the fronts redrawn and the dominance check recomputed in the page.

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
    >>> from coinfer.views.figures import tradeoff_twin
    >>> 'data-slider="drop"' in tradeoff_twin(table).html
    True
    """
    from coinfer.views.explorer import Plot, Slider, static_explorer

    data = tradeoff_data(table)
    return static_explorer(
        data=data,
        sliders=[Slider("drop", "threshold: points below the unsplit accuracy", values=THRESHOLD_DROPS,
                        value=data["default_drop"], labels=[f"-{d:g} points" for d in THRESHOLD_DROPS])],
        readouts=[("threshold", "accuracy threshold"), ("framework", "framework settings at the threshold"),
                  ("claim", "paper's claim (framework curve never beaten)"),
                  ("free", "baseline points not dominated")],
        render=_TRADEOFF_RENDER,
        plot=Plot(xlabel="device computation (MACs per image)", ylabel="bits per image", logx=True, logy=True),
        title="Fig. 3 at any threshold (runs in the page, no kernel)",
        note=f"Data: {table.provenance.describe()}. Lines: Pareto fronts; dots: every setting at the threshold.")


def tradeoff_explorer(table):
    """ipywidgets explorer for Jupyter/Colab: Fig. 3 and the dominance check at a chosen threshold.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).

    Returns
    -------
    ipywidgets.VBox
        The threshold slider and the output area it redraws.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> table = load_table(results_dir() / "sweep_quick.json")        # chapter 5's lookup table
    >>> import contextlib, io
    >>> from coinfer.views.figures import tradeoff_explorer
    >>> with contextlib.redirect_stdout(io.StringIO()):       # display(box) in Jupyter or Colab
    ...     box = tradeoff_explorer(table)
    >>> len(box.children)
    2
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    data = tradeoff_data(table)
    drop = w.SelectionSlider(options=[(f"-{d:g} points", d) for d in THRESHOLD_DROPS], value=data["default_drop"],
                             description="threshold", style={"description_width": "100px"},
                             layout=w.Layout(width="520px"))
    out = w.Output()

    def refresh(*_):
        with out:
            out.clear_output(wait=True)
            threshold = data["base"] - drop.value / 100
            fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
            plot_tradeoff(table, threshold, ax=ax, caption=False)
            plt.show()
            dominance_check(table, threshold)

    drop.observe(refresh, names="value")
    refresh()
    return w.VBox([drop, out])
