"""Chapter 1 (paper section II-A, Fig. 1): data amplification on the communication-computation plane.

When a split point's feature is larger than the image itself, splitting there is worse than
sending the image: *data amplification* (after JALAD, the paper's [7]). The plane itself is drawn
by :mod:`coinfer.views.plane`; this module holds chapter 1's views of it::

    profile_splits(model) --> profile_frame, paper_macs_frame     the chapter's tables
                          --> fig_amplification(rows)             Figure 1.1
                          --> split_point_twin / split_point_explorer: one readout
                              (split_point_readout), precomputed for the page or live

Example::

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views.amplification import fig_amplification
    >>> fig_amplification().axes[0].get_yscale()
    'log'
"""

from __future__ import annotations

from typing import Sequence

from coinfer.core.network import PAPER_SPLIT_POINTS
from coinfer.views.explorer import Plot, Slider, live_explorer, precomputed_explorer
from coinfer.views.plane import InputLine, add_curve, input_lines, plot_comm_comp_plane, raw_input_line
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import (CYCLE, figure_style, format_fixed, format_int, format_macs, format_seconds,
                                 hex_color, method_style)

__all__ = ["CIFAR_RAW_BITS", "amplification_inputs", "fig_amplification", "profile_frame", "PROFILE_FORMATS",
           "paper_macs_frame", "AUTHORS_MMACS", "input_size_summary",
           "rate_values_kBps", "split_point_data", "split_point_readout", "split_point_twin",
           "split_point_explorer"]

#: One CIFAR-10 image, uint8 pixels: 3 x 32 x 32 x 8 bits.
CIFAR_RAW_BITS = 24576

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
    list of coinfer.views.plane.InputLine

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


@figure_style
def fig_amplification(table=None, ax=None, *, inputs: Sequence[InputLine] | None = None):
    """Figure 1.1: every split point of the full-width ResNet18 on the plane, float32 and 8-bit.

    Parameters
    ----------
    table : list of coinfer.core.costs.SplitProfile, optional
        The split points (:func:`coinfer.core.costs.profile_splits`); default: the full-width
        CIFAR ResNet18's, profiled here (a second; no trained weights needed).
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made otherwise.
    inputs : sequence of coinfer.views.plane.InputLine, optional
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
    inputs = amplification_inputs() if inputs is None else list(inputs)
    ax = plot_comm_comp_plane(rows, inputs, ax=ax)
    middle = rows[1:-1]     # same plane, one more curve: the features quantized to 8 bits per element
    add_curve(ax, [r.device_macs for r in middle], [r.feature_bits_8bit for r in middle],
              label="original network, 8-bit features", color=CYCLE[1], marker=".", linestyle="--")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("Full-width CIFAR ResNet18: every split point", fontsize=11)
    return publish(ax.figure, "amplification", alt=_amplification_alt(middle, inputs),
                   rows=[r.to_dict() for r in rows] + [{"point": "input line", "label": line.label,
                                                        "feature_bits_float32": line.bits} for line in inputs],
                   caption="The communication-computation plane (the paper's Fig. 1)")


def _amplification_alt(middle, inputs) -> str:
    image = inputs[0].bits if inputs else middle[0].feature_bits_8bit
    above = [r.point for r in middle if r.feature_bits_float32 > image]
    above8 = [r for r in middle if r.feature_bits_8bit > image]
    worst = max(middle, key=lambda r: r.feature_bits_float32)
    return (f"Line chart on the communication-computation plane: on-device computation in MACs per image "
            f"(x axis, from 0 to {format_macs(max(r.device_macs for r in middle))}) against the bits sent per "
            f"image (y axis, logarithmic) at each of the {len(middle)} split points of the network, for "
            f"float32 and 8-bit features, with horizontal lines at the input image's size "
            f"({'; '.join(f'{line.label}' for line in inputs)}). {len(above)} of {len(middle)} split points "
            f"send more float32 bits than the raw image ({format_int(image)} bits), {len(above8)} still with "
            f"8-bit features; the largest, after {worst.point}, sends {worst.feature_bits_float32 / image:.0f} "
            f"times the image: splitting alone amplifies the data.")


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
      raw 6,272 bits, PNG image data mean 4,064 bits (std 600)
    """
    name = _DATASET_NAMES.get(size.dataset, size.dataset)
    file = (f"; whole PNG file {size.png_file_bits_mean:,.0f} bits with its container"
            if size.png_file_bits_mean is not None else "")
    return (f"{name}, first {size.images:,} test images, {'x'.join(map(str, size.image_shape))} uint8:\n"
            f"  raw {size.raw_bits:,} bits, PNG image data mean {size.png_bits_mean:,.0f} bits "
            f"(std {size.png_bits_std:,.0f}){file}")


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


#: Under the split-point explorer, in both forms: its units.
_NOTE = "1 kB/s = 8,000 bit/s; MACs = multiply-accumulates (FLOPs = 2 x MACs)."


def _split_point_view(rows, bits_per_element, input_bits, input_label, split, rate_kBps) -> dict:
    data = split_point_data(rows, bits_per_element, input_bits, input_label)
    points = data["points"]
    by_point = {p["point"]: p for p in points}
    if split not in by_point:
        raise ValueError(f"unknown split point {split!r}; valid: {', '.join(by_point)}")
    rates = rate_values_kBps()
    curve_color = hex_color(method_style("original").color)
    # the two ends as Figure 1.1 draws them (coinfer.views.plane.plot_comm_comp_plane)
    server, device = hex_color(method_style("png").color), hex_color(method_style("on-device").color)
    curve = [[q["device_macs"], q["bits"]] for q in points[1:-1]]

    def readout(state):
        p = by_point[state["split"]]
        hlines = [{"y": input_bits, "label": input_label, "color": "#a6a6a6"}] if input_bits else []   # as InputLine
        return {"text": split_point_readout(p, state["rate"], input_bits), "plot": {
            "series": [{"label": f"split points ({bits_per_element}-bit features)", "points": curve,
                        "color": curve_color}],
            "highlight": [{"x": points[0]["device_macs"], "y": points[0]["bits"], "marker": "star",
                           "color": server, "size": 9},
                          {"x": points[-1]["device_macs"], "y": points[-1]["bits"], "marker": "star",
                           "color": device, "size": 9},
                          {"x": p["device_macs"], "y": p["bits"], "label": p["label"], "color": "#e69f00"}],
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
    twin = precomputed_explorer(**view, title="Split-point explorer (runs in the page, no kernel)",
                                note=_NOTE + " Numbers precomputed with coinfer.core.costs.profile_splits.")
    return with_downloads(twin, "split-point-explorer", rows=[r.to_dict() for r in rows])


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
    return live_explorer(**_split_point_view(rows, bits_per_element, input_bits, input_label, split, rate_kBps),
                         note=_NOTE)
