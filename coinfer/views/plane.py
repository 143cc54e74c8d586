"""The communication-computation plane (the paper's Fig. 1), on which chapters 1, 2 and 5 draw.

Each way of splitting the network is a point (on-device computation, bits sent per image).
Server-based inference sits at zero computation and sends the image; on-device inference computes
everything and sends (almost) nothing; every split point in between is a trade-off::

    profile_splits(model) --> [SplitProfile per split point] --+
    input_size(dataset)   --> InputSize (raw, PNG bits)   -----+--> plot_comm_comp_plane(...) --> Axes
    later chapters: pruned / encoded records ---> add_curve(ax, ...) (same plane, more curves)

Units: computation in MACs (multiply-accumulates; FLOPs = 2 x MACs), communication in bits per
image. The x axis is "symlog": linear from 0 to 1 M MACs (so the server-only point, 0 MACs, is
drawn) and logarithmic above.

Example::

    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.plane import InputLine, plot_comm_comp_plane, add_curve
    >>> rows = profile_splits(resnet18(width=1.0))
    >>> ax = plot_comm_comp_plane(rows, inputs=[InputLine(24576, "CIFAR-10 image, raw")])
    >>> # a later chapter adds its own curve to the same plane:
    >>> line = add_curve(ax, [2e6, 1e8], [3e4, 2e3], label="pruned + encoded")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from coinfer.core.costs import decision_bits
from coinfer.core.network import PAPER_SPLIT_POINTS
from coinfer.views.style import CYCLE, PALETTE, hex_color, method_style

__all__ = ["InputLine", "input_lines", "raw_input_line", "plot_comm_comp_plane", "add_curve", "free_colors", "MACS_LINTHRESH"]

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
    color: str = "0.65"     # lighter than the server-based star's grey (the image sent as PNG), not a near twin

    def __post_init__(self):
        if not (isinstance(self.bits, (int, float)) and math.isfinite(self.bits) and self.bits > 0):
            raise ValueError(f"InputLine bits must be a positive number of bits per image, got {self.bits!r}")


def raw_input_line(shape: Sequence[int], label: str, bits_per_value: int = 8, color: str = "0.65") -> InputLine:
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
    >>> from coinfer.views.plane import raw_input_line
    >>> line = raw_input_line((3, 32, 32), "CIFAR-10 image")
    >>> line.bits, line.label
    (24576, 'CIFAR-10 image, raw (24,576 bits)')
    """
    bits = bits_per_value * math.prod(shape)
    return InputLine(bits, f"{label}, raw ({bits:,} bits)", color=color)


def input_lines(size, name: str | None = None, color: str = PALETTE["green"]) -> list[InputLine]:
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
    >>> from coinfer.views.plane import input_lines
    >>> from coinfer.core.costs import InputSize
    >>> size = InputSize("fashion-mnist", (28, 28), raw_bits=6272, png_bits_mean=4064.0, png_bits_std=600.0, images=1000)
    >>> [line.bits for line in input_lines(size, "Fashion-MNIST")]
    [6272, 4064.0]
    """
    name = name or size.dataset
    shape = "x".join(map(str, size.image_shape))
    return [
        InputLine(size.raw_bits, f"{name} image {shape}, raw ({size.raw_bits:,} bits)", color=color),
        InputLine(size.png_bits_mean, f"{name} image, PNG data (mean {size.png_bits_mean:,.0f} bits, "
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
    >>> from coinfer.views.plane import add_curve
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


def free_colors(ax) -> list[str]:
    """The colours of the book's cycle (:data:`coinfer.views.style.CYCLE`) that no line on ``ax``
    has yet, in the cycle's order: for curves added to a plane, so that none shares a colour with
    the network's curve, the input lines or the stars at the ends.

    Parameters
    ----------
    ax : matplotlib Axes
        A plane from :func:`plot_comm_comp_plane` (or any Axes).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.views.plane import free_colors, plot_comm_comp_plane
    >>> ax = plot_comm_comp_plane(profile_splits(resnet18(width=1 / 8)))
    >>> free_colors(ax)[:3]                      # blue (the curve) and black (on-device) are taken
    ['#E69F00', '#009E73', '#D55E00']
    """
    taken = {hex_color(line.get_color()) for line in ax.get_lines()}
    return [c for c in CYCLE if hex_color(c) not in taken]


def plot_comm_comp_plane(rows, inputs: Sequence[InputLine] = (), *, ax=None, bits_per_element: int = 32,
                         label: str | None = None, color=PALETTE["blue"], mark_endpoints: bool = True,
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
        Stars for on-device inference (all layers on the device; it sends the class index; black,
        ``method_style("on-device")``) and server-based inference (0 MACs on the device; it sends
        the image; grey, ``method_style("png")``). A curve added to the plane should take neither
        colour (:func:`free_colors`).
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
    >>> from coinfer.views.plane import plot_comm_comp_plane, raw_input_line
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
            linestyle="none", marker="o", markersize=8, markerfacecolor="none", color=color, markeredgecolor=color,
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
        # The two ends in the colours every chapter gives them (method_style: "png" sends the image,
        # "on-device" its decision), so that no curve drawn on the plane takes one of them.
        ax.plot([0], [server_bits], linestyle="none", marker="*", markersize=16, color=method_style("png").color,
                markeredgecolor="k", zorder=5, label="server-based inference (sends the image)")
        # It sends its decision, the class index (decision_bits, as every table counts it), not its class scores.
        ax.plot([device_only.device_macs], [decision_bits(device_only.feature_elements)], linestyle="none",
                marker="*", markersize=16, color=method_style("on-device").color, markeredgecolor="k", zorder=5,
                label=f"on-device inference (sends the {decision_bits(device_only.feature_elements)}-bit class index)")
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
    bottom = min(r.feature_elements * bits_per_element for r in rows)
    ax.set_ylim(min(bottom, decision_bits(rows[-1].feature_elements) if mark_endpoints else bottom) / 3, top)
    if shade_amplification and inputs:
        ax.axhspan(inputs[0].bits, top, color=PALETTE["vermillion"], alpha=0.06, zorder=0)
        ax.text(0.99, 0.97, "data amplification: more bits than the image", transform=ax.transAxes,
                ha="right", va="top", fontsize=9, color=PALETTE["vermillion"])
    ax.set_xlabel("on-device computation (MACs per image; FLOPs = 2 x MACs)")
    ax.set_ylabel("communication (bits per image)")
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax
