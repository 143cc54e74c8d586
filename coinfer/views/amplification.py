"""Chapter 1 (paper section II-A, Fig. 1): the communication-computation plane and data amplification.

Each way of splitting the network is a point (on-device computation, bits sent per image).
Server-based inference sits at zero computation and sends the image; on-device inference computes
everything and sends (almost) nothing; every split point in between is a trade-off. When a split
point's feature is larger than the image itself, splitting there is worse than sending the image:
*data amplification* (after JALAD, the paper's [7])::

    profile_splits(model) --> [SplitProfile per split point] --+
    input_size(dataset)   --> InputSize (raw, PNG bits)   -----+--> plot_comm_comp_plane(...) --> Axes
    later chapters: pruned / encoded records ---> add_curve(ax, ...) (same plane, more curves)
    fig_amplification(rows)      the book's Figure 1.1
    split_point_twin / split_point_explorer: one readout (split_point_readout), two forms

Units: computation in MACs (multiply-accumulates; FLOPs = 2 x MACs), communication in bits per
image. The x axis is "symlog": linear from 0 to 1 M MACs (so the server-only point, 0 MACs, is
drawn) and logarithmic above.

Example::

    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.amplification import InputLine, plot_comm_comp_plane, add_curve
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
from coinfer.views.explorer import Plot, Slider, live_explorer, precomputed_explorer
from coinfer.views.style import format_fixed, format_int, format_macs, format_seconds, hex_color, method_style

__all__ = ["InputLine", "input_lines", "raw_input_line", "plot_comm_comp_plane", "add_curve", "MACS_LINTHRESH",
           "CIFAR_RAW_BITS", "amplification_inputs", "fig_amplification", "profile_frame", "PROFILE_FORMATS",
           "paper_macs_frame", "AUTHORS_MMACS", "input_size_summary",
           "rate_values_kBps", "split_point_data", "split_point_readout", "split_point_twin",
           "split_point_explorer"]

#: One CIFAR-10 image, uint8 pixels: 3 x 32 x 32 x 8 bits.
CIFAR_RAW_BITS = 24576

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
    >>> from coinfer.views.amplification import raw_input_line
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
    >>> from coinfer.views.amplification import input_lines
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
    >>> from coinfer.views.amplification import add_curve
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
    >>> from coinfer.views.amplification import plot_comm_comp_plane, raw_input_line
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



# --------------------------------------------------------------------------------------------
# Figure 1.1
# --------------------------------------------------------------------------------------------

_DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def amplification_inputs(measured=None) -> list[InputLine]:
    """Figure 1.1's input lines: the raw CIFAR-10 image, then the measured dataset's raw and PNG
    size (only its PNG size when it is CIFAR-10 itself, whose raw line is already drawn).

    Parameters
    ----------
    measured : coinfer.core.costs.InputSize, optional
        From :func:`coinfer.core.costs.input_size` on the preset's dataset.

    Returns
    -------
    list of InputLine

    Examples
    --------
    >>> from coinfer.core.costs import InputSize
    >>> from coinfer.views.amplification import amplification_inputs
    >>> size = InputSize("fashion-mnist", (28, 28), raw_bits=6272, png_bits_mean=4064.0, png_bits_std=600.0, images=1000)
    >>> [line.bits for line in amplification_inputs(size)]
    [24576, 6272, 4064.0]
    """
    lines = [raw_input_line((3, 32, 32), "CIFAR-10 image 32x32x3")]
    if measured is not None:
        measured_lines = input_lines(measured, _DATASET_NAMES.get(measured.dataset, measured.dataset))
        lines += measured_lines[1:] if measured.dataset == "cifar10" else measured_lines
    return lines


def fig_amplification(table=None, ax=None, *, inputs: Sequence[InputLine] | None = None):
    """Figure 1.1: every split point of the full-width ResNet18 on the plane, float32 and 8-bit.

    Parameters
    ----------
    table : list of coinfer.core.costs.SplitProfile, optional
        The split points (:func:`coinfer.core.costs.profile_splits`); default: the full-width
        CIFAR ResNet18's, profiled here (a second; no trained weights needed).
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made otherwise.
    inputs : sequence of InputLine, optional
        Input-size lines (default: :func:`amplification_inputs` without a measured dataset).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views.amplification import fig_amplification
    >>> fig = fig_amplification()
    >>> fig.axes[0].get_title()
    'Full-width CIFAR ResNet18: every split point'
    """
    if table is None:
        from coinfer.core.costs import profile_splits
        from coinfer.core.network import resnet18

        table = profile_splits(resnet18(width=1.0))
    rows = list(table)
    ax = plot_comm_comp_plane(rows, amplification_inputs() if inputs is None else list(inputs), ax=ax)
    middle = rows[1:-1]     # same plane, one more curve: the features quantized to 8 bits per element
    add_curve(ax, [r.device_macs for r in middle], [r.feature_bits_8bit for r in middle],
              label="original network, 8-bit features", color="C1", marker=".", linestyle="--")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("Full-width CIFAR ResNet18: every split point", fontsize=11)
    return ax.figure


# --------------------------------------------------------------------------------------------
# Chapter 1's tables
# --------------------------------------------------------------------------------------------

#: How :func:`profile_frame`'s columns are shown (``frame.style.format(PROFILE_FORMATS)``).
PROFILE_FORMATS = {"device MMACs": "{:.2f}", "device params (M)": "{:.4f}", "server MMACs": "{:.2f}",
                   "float32 bits": "{:,}", "8-bit bits": "{:,}", "float32 / CIFAR raw": "{:.2f}"}

#: Cumulative MACs (millions) of the device part at s1..s5 in the authors' code (the reference notes).
AUTHORS_MMACS = {"s1": 1.8, "s2": 152.8, "s3": 287.0, "s4": 421.2, "s5": 555.4}


def profile_frame(rows, input_bits: float = CIFAR_RAW_BITS):
    """Chapter 1's first table: one row per split point (MACs, parameters, feature size in bits).

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        From :func:`coinfer.core.costs.profile_splits`.
    input_bits : float
        The raw image's bits, for the last column (float32 feature over raw image).

    Returns
    -------
    pandas.DataFrame
        Indexed by split point; show it with ``.style.format(PROFILE_FORMATS)``.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.amplification import profile_frame
    >>> profile_frame(profile_splits(resnet18(width=1.0))).loc["layer2.1", "float32 / CIFAR raw"]
    np.float64(42.666666666666664)
    """
    import pandas as pd

    return pd.DataFrame([{
        "split point": r.point, "paper": r.paper_name, "device MMACs": r.device_macs / 1e6,
        "device params (M)": r.device_params / 1e6, "server MMACs": r.server_macs / 1e6,
        "feature shape": "x".join(map(str, r.feature_shape)), "float32 bits": r.feature_bits_float32,
        "8-bit bits": r.feature_bits_8bit, "float32 / CIFAR raw": r.feature_bits_float32 / input_bits,
    } for r in rows]).set_index("split point")


def paper_macs_frame(rows, net):
    """The device part's MACs at the paper's split points, counted three ways: thop (coinfer's
    count, batch normalizations included), PyTorch's ``FlopCounterMode`` and the authors' code.

    Parameters
    ----------
    rows : list of coinfer.core.costs.SplitProfile
        From :func:`coinfer.core.costs.profile_splits` of ``net``.
    net : torch.nn.Module
        The network ``rows`` profile (split here at each paper split point).

    Returns
    -------
    pandas.DataFrame
        Indexed by the paper's names s1..s5.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.amplification import paper_macs_frame
    >>> net = resnet18(width=1.0)
    >>> paper_macs_frame(profile_splits(net), net).loc["s5", "authors' code MMACs"]
    np.float64(555.4)
    """
    import pandas as pd

    from coinfer.core.costs import flop_counter_macs
    from coinfer.core.network import split

    paper_rows = [r for r in rows if r.point in PAPER_SPLIT_POINTS]
    torch_macs = {r.point: flop_counter_macs(split(net, r.point)[0], (3, 32, 32)) for r in paper_rows}
    return pd.DataFrame([{"paper": r.paper_name, "split point": r.point,
                          "thop MMACs": round(r.device_macs / 1e6, 2),
                          "PyTorch counter MMACs": round(torch_macs[r.point] / 1e6, 2),
                          "authors' code MMACs": AUTHORS_MMACS[r.paper_name],
                          "feature": "x".join(map(str, r.feature_shape))} for r in paper_rows]).set_index("paper")


def input_size_summary(size) -> str:
    """Two lines on a measured input size: the images, their raw and mean PNG bits.

    Parameters
    ----------
    size : coinfer.core.costs.InputSize
        From :func:`coinfer.core.costs.input_size`.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.core.costs import InputSize
    >>> from coinfer.views.amplification import input_size_summary
    >>> print(input_size_summary(InputSize("fashion-mnist", (28, 28), 6272, 4064.0, 600.0, 1000)))
    Fashion-MNIST, first 1,000 test images, 28x28 uint8:
      raw 6,272 bits, PNG mean 4,064 bits (std 600)
    """
    name = _DATASET_NAMES.get(size.dataset, size.dataset)
    return (f"{name}, first {size.images:,} test images, {'x'.join(map(str, size.image_shape))} uint8:\n"
            f"  raw {size.raw_bits:,} bits, PNG mean {size.png_bits_mean:,.0f} bits (std {size.png_bits_std:,.0f})")


# --------------------------------------------------------------------------------------------
# The split-point explorer: one readout, precomputed for the page and live with a kernel
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
    >>> from coinfer.views.amplification import rate_values_kBps
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
    >>> from coinfer.views.amplification import split_point_data
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
    >>> from coinfer.views.amplification import split_point_data, split_point_readout
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


def _split_point_view(rows, bits_per_element, input_bits, input_label, split, rate_kBps) -> dict:
    data = split_point_data(rows, bits_per_element, input_bits, input_label)
    points = data["points"]
    by_point = {p["point"]: p for p in points}
    if split not in by_point:
        raise ValueError(f"unknown split point {split!r}; valid: {', '.join(by_point)}")
    rates = rate_values_kBps()
    server, device = hex_color(method_style("original").color), hex_color("tab:red")
    curve = [[q["device_macs"], q["bits"]] for q in points[1:-1]]

    def readout(state):
        p = by_point[state["split"]]
        hlines = [{"y": input_bits, "label": input_label, "color": "#7f7f7f"}] if input_bits else []
        return {"text": split_point_readout(p, state["rate"], input_bits), "plot": {
            "series": [{"label": f"split points ({bits_per_element}-bit features)", "points": curve,
                        "color": server}],
            "highlight": [{"x": points[0]["device_macs"], "y": points[0]["bits"], "marker": "star",
                           "color": server, "size": 9},
                          {"x": points[-1]["device_macs"], "y": points[-1]["bits"], "marker": "star",
                           "color": device, "size": 9},
                          {"x": p["device_macs"], "y": p["bits"], "label": p["label"], "color": "#ff7f0e"}],
            "hlines": hlines}}

    readouts = [("device", "device computation"), ("shape", "feature shape"),
                ("bits", "bits to send per image"), ("time", "time to send")]
    if input_bits:
        readouts.append(("amplification", "size vs input"))
    nearest = min(rates, key=lambda r: abs(r - rate_kBps))
    return dict(sliders=[Slider("split", "split point", values=list(by_point), value=split,
                                labels=[p["label"] for p in points]),
                         Slider("rate", "link rate (kB/s)", values=rates, value=nearest,
                                labels=[f"{r:g} kB/s" for r in rates])],
                readout=readout, readouts=readouts,
                plot=Plot(xlabel="device computation (MACs per image; 0 drawn at the left edge)",
                          ylabel="bits sent per image", logx=True, logy=True))


def split_point_twin(rows, bits_per_element: int = 32, input_bits: float | None = None,
                     input_label: str = "input image", split: str = "layer2.1", rate_kBps: float = 100):
    """Kernel-free split-point explorer for the static book (precomputed; see :func:`split_point_explorer`).

    Sliders over the split points and the link rate (kB/s); readouts of the device's MACs, the
    feature's shape, bits per image, the time to send them and the amplification over the input
    (:func:`split_point_readout`); the plane with the chosen point highlighted.

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
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.amplification import split_point_twin
    >>> twin = split_point_twin(profile_splits(resnet18(width=1 / 16)), input_bits=24576, split="stem", rate_kBps=40)
    >>> 'data-slider="split"' in twin.html and 'data-slider="rate"' in twin.html
    True
    """
    view = _split_point_view(rows, bits_per_element, input_bits, input_label, split, rate_kBps)
    return precomputed_explorer(**view, title="Split-point explorer (runs in the page, no kernel)",
                                note=("1 kB/s = 8,000 bit/s; MACs = multiply-accumulates (FLOPs = 2 x MACs). "
                                      "Numbers precomputed with coinfer.core.costs.profile_splits."))


def split_point_explorer(rows, bits_per_element: int = 32, input_bits: float | None = None,
                         split: str = "layer2.1", rate_kBps: float = 100, input_label: str = "input image"):
    """ipywidgets split-point explorer for Jupyter/Colab: the same sliders and readouts as
    :func:`split_point_twin`, computed live.

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
        Initial link rate in kB/s (the slider offers :func:`rate_values_kBps`).
    input_label : str
        Legend of the input line.

    Returns
    -------
    ipywidgets.VBox
        The two sliders and an HTML area with the readouts (:func:`split_point_readout`) and the plane.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.views.amplification import split_point_explorer
    >>> box = split_point_explorer(profile_splits(resnet18(width=1 / 16)), input_bits=24576)
    >>> "65,536 bits" in box.children[2].value          # display(box) in Jupyter or Colab
    True
    """
    return live_explorer(**_split_point_view(rows, bits_per_element, input_bits, input_label, split, rate_kBps))
