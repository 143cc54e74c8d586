"""Views of the encoding lookup table for chapter 3: accuracy vs bits, codewords, real vs entropy bits.

Everything here reads a :class:`coinfer.results.LookupTable` written by
``python -m coinfer run encoding`` (records of method ``"framework"`` and ``"original"``), so the chapter
runs in seconds::

    data/results/encoding_quick.json --load_table--> LookupTable
        --> fig_codewords          (Fig. 3.1: learned codewords over the histogram of one element of z)
        --> fig_accuracy_vs_bits   (Fig. 3.2: accuracy vs bits per image, log x; Huffman; log2(10))
        --> fig_real_vs_entropy    (Fig. 3.3: real encoded bits vs empirical entropy)
        --> code_size_twin / code_size_explorer   (slider over code sizes: static HTML / ipywidgets)

Units: bits per image; accuracy as a fraction (shown in percent); MACs = multiply-accumulates.
"""

from __future__ import annotations

import math

from coinfer.core.encoding import CodeSize
from coinfer.core.network import SPLIT_POINTS
from coinfer.results import LookupTable, Record, table_threshold
from coinfer.stats import margin_over_threshold, meets_threshold, seed_mean, seed_spread
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import GREY, PALETTE, figure_style

#: The information a 10-class decision carries at most, log2(10) bits: the floor any encoder that
#: keeps the full accuracy is measured against (sending the label at fixed length costs ceil of it,
#: 4 bits: :func:`coinfer.core.costs.decision_bits`, what on-device inference sends).
DECISION_BITS = math.log2(10)

#: One colour per split point, shared by every plot of the chapter.
SPLIT_COLORS = {"stem": PALETTE["black"], "layer1.0": PALETTE["sky"], "layer1.1": PALETTE["blue"],
                "layer2.0": PALETTE["green"], "layer2.1": PALETTE["orange"], "layer3.0": PALETTE["yellow"],
                "layer3.1": PALETTE["vermillion"], "layer4.0": GREY, "layer4.1": PALETTE["purple"], "pool": "#8C510A"}


def _split_order(split: str) -> int:
    return SPLIT_POINTS.index(split)


def _size_order(record: Record) -> tuple:
    size = CodeSize.parse(record.code_size)
    return (size.fixed_bits, size.kind, size.dim)


def framework_records(table: LookupTable, split: str | None = None) -> list[Record]:
    """Framework records (of one split point), sorted by split point then fixed-length bits."""
    records = [r for r in table.select(method="framework") if split is None or r.split == split]
    return sorted(records, key=lambda r: (_split_order(r.split), _size_order(r)))


def original_records(table: LookupTable) -> list[Record]:
    return sorted(table.select(method="original"), key=lambda r: _split_order(r.split))


def unsplit_accuracy(table: LookupTable) -> float:
    """Accuracy of the unmodified float network (the same at every split point)."""
    values = [r.extra["accuracy_float"] for r in original_records(table) if "accuracy_float" in r.extra]
    if not values:
        raise ValueError("the table has no 'original' records with 'accuracy_float'")
    return max(values)


def _seed_mean(record: Record, name: str) -> float:
    """The mean over seeds of a seed-dependent ``extra`` number, as the record's bits per image are
    (:func:`coinfer.stats.seed_mean`); NaN where the record has none."""
    value = seed_mean(record, name)
    return float("nan") if value is None else value


def summary_rows(table: LookupTable) -> list[dict]:
    """One row per framework record, for a readable table (bits per image, accuracy in % as the mean over
    the seeds with their standard deviation, None for one run; every bits column a mean over the seeds)."""
    originals = {r.split: r for r in original_records(table)}
    rows = []
    for r in framework_records(table):
        base = originals.get(r.split)
        rows.append({
            "split": r.split, "code size": r.code_size, "quantizer": r.extra.get("quantizer", ""),
            "accuracy %": round(100 * r.accuracy, 2),
            "± sd": None if seed_spread(r) is None else round(100 * seed_spread(r), 2),
            "bits sent": round(r.bits_per_image, 2),
            "bits range": round(_seed_mean(r, "bits_range"), 2),
            "bits model": round(_seed_mean(r, "bits_model"), 2),
            "bits entropy": round(r.bits_entropy, 2) if r.bits_entropy is not None else None,
            "bits fixed": r.extra.get("bits_fixed"),
            "bits one stream": round(_seed_mean(r, "bits_one_stream"), 2),
            "original+Huffman bits": round(base.bits_per_image) if base else None,
            "encoder MACs % of net": round(100 * r.extra.get("encoder_share", float("nan")), 3),
            "device MMACs": round(r.device_macs / 1e6, 3),
        })
    return rows


@figure_style
def fig_accuracy_vs_bits(table: LookupTable, ax=None, splits: list[str] | None = None):
    """Figure 3.2: accuracy vs real bits per image (log x) at each split point, with the 8-bit
    Huffman baseline.

    Circles: per-element (scalar) codewords; squares: one vector codebook index per image; stars:
    the original feature, 8-bit + Huffman. Dashed lines: the unsplit network's accuracy and the
    table's threshold (:func:`coinfer.results.table_threshold`); dotted: ``log2(10)`` bits, enough
    to send the decision.

    Parameters
    ----------
    table : LookupTable
        The encoding table (``data/results/encoding_<preset>.json``).
    ax : matplotlib Axes, optional
        Where to draw; default a new 9 x 5 in figure.
    splits : list of str, optional
        Which split points to draw (default all).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the table has no ``original`` records (they give the unsplit network's accuracy).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import fig_accuracy_vs_bits
    >>> fig = fig_accuracy_vs_bits(load_table(results_dir() / "encoding_quick.json"))
    >>> fig.axes[0].get_xscale()
    'log'
    """
    import matplotlib.pyplot as plt

    base = unsplit_accuracy(table)          # refuses a table without 'original' records, before drawing
    ax = ax or plt.subplots(figsize=(9, 5))[1]
    framework = framework_records(table)
    originals = original_records(table)
    splits = splits or sorted({r.split for r in framework}, key=_split_order)
    for split in splits:
        color = SPLIT_COLORS.get(split, "k")
        for kind, marker in (("scalar", "o"), ("vector", "s")):
            pts = sorted((r.bits_per_image, 100 * r.accuracy, 100 * (r.accuracy_std or 0.0)) for r in framework
                         if r.split == split and r.extra.get("quantizer") == kind)
            if pts:
                xs, ys, spread = zip(*pts)       # error bars: one standard deviation over the seeds
                ax.errorbar(xs, ys, yerr=spread, marker=marker, color=color, capsize=2,
                            linestyle="-" if kind == "scalar" else ":",
                            label=f"{split}, {'per-element' if kind == 'scalar' else 'vector'} codewords")
        for r in originals:
            if r.split == split:
                ax.plot(r.bits_per_image, 100 * r.accuracy, marker="*", markersize=13, color=color,
                        markeredgecolor="k", linestyle="none", label=f"{split}, original 8-bit + Huffman")
    ax.axhline(100 * base, color="0.3", linestyle="--", linewidth=1, label=f"unsplit network {100 * base:.2f}%")
    ax.axhline(100 * table_threshold(table), color="0.6", linestyle="--", linewidth=1,
               label=f"threshold ({table.provenance.accuracy_drop:.0f} points below)")
    ax.axvline(DECISION_BITS, color="k", linestyle=":", linewidth=1, label="log2(10) = 3.32 bits")
    ax.set_xscale("log")
    ax.set_xlabel("bits per image (real encoded length, log scale)")
    seeds = max((r.seeds for r in framework), default=1)
    ax.set_ylabel("test accuracy (%)" + (f", mean ± std of {seeds} seeds" if seeds > 1 else ""))
    ax.set_title("Accuracy vs bits per image: learned encoder vs original 8-bit + Huffman", fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.3)
    return publish(ax.figure, "accuracy-vs-bits", alt=_accuracy_alt(table, framework, originals, splits),
                   table=table, caption="Test accuracy against bits per image, per split point")


def _accuracy_alt(table: LookupTable, framework, originals, splits) -> str:
    threshold = table_threshold(table)
    # The fewest bits is a choice: made on the validation split; its test accuracy is reported.
    ok = [r for r in framework if meets_threshold(r, table) and r.split in splits]
    best = min(ok, key=lambda r: r.bits_per_image) if ok else None
    base = next((r for r in originals if best is not None and r.split == best.split), None)
    take = (f"The fewest bits that reach the threshold: {best.bits_per_image:,.1f} bits per image after "
            f"{best.split} ({best.code_size}, {100 * best.accuracy:.1f}%)"
            + (f", against {base.bits_per_image:,.0f} bits for the original feature there." if base else ".")
            if best else "No learned code reaches the threshold.")
    return (f"Line chart of test accuracy in percent (y) against bits per image (x, log scale, real encoded "
            f"length) for {len(splits)} split points, one colour each: learned per-element codes (circles, "
            f"solid), vector codes (squares, dotted) and the original feature with 8-bit Huffman coding "
            f"(stars); dashed lines at the unsplit network's accuracy and at the threshold "
            f"{100 * threshold:.2f}%, a dotted line at log2(10) bits. " + take)


def _codewords_panel(record: Record, ax, element: int = 0):
    """The learned codewords of one element of ``z`` over the histogram of that element's values.

    Reads the record's ``extra["z_histogram"]`` (test images, 40 bins over [-1, 1]) and
    ``extra["codewords"]`` (per-element codewords; scalar quantizers only).
    """
    import numpy as np

    if record.extra.get("quantizer") != "scalar" or not record.extra.get("codewords"):
        raise ValueError(f"record {record.split} {record.code_size} has no per-element codewords to draw")
    counts = np.asarray(record.extra["z_histogram"][element], dtype=float)
    edges = np.linspace(-1, 1, len(counts) + 1)       # the experiment's bins, over tanh's range
    ax.bar(edges[:-1], counts / counts.sum(), width=np.diff(edges), align="edge", color="0.75",
           edgecolor="0.5", label=f"encoder output z[{element}] (test images)")
    for i, c in enumerate(record.extra["codewords"][element]):
        ax.axvline(c, color=PALETTE["vermillion"], linewidth=2, label="learned codewords" if i == 0 else None)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"value of z[{element}] (tanh output)")
    ax.set_ylabel("fraction of images")
    ax.set_title(f"{record.split}, {record.code_size}", fontsize=9)


def codeword_records(table: LookupTable, code: str = "d16-l4") -> list[Record]:
    """The per-element (scalar) records whose code size ends in ``code``, one per split point.

    Parameters
    ----------
    table : LookupTable
        The encoding table.
    code : str
        The end of the code size, e.g. ``"d16-l4"`` (16 elements of 4 learned levels).

    Returns
    -------
    list of Record
        Sorted by split point.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import codeword_records
    >>> [r.split for r in codeword_records(load_table(results_dir() / "encoding_quick.json"))]
    ['layer1.1', 'layer2.1', 'layer3.1', 'pool']
    """
    return [r for r in framework_records(table)
            if r.extra.get("quantizer") == "scalar" and r.code_size.endswith(code)]


@figure_style
def fig_codewords(table: LookupTable, ax=None, element: int = 0):
    """Figure 3.1: the 2-bit codewords learned for ``z[element]``, over that element's histogram,
    one panel per split point (records of :func:`codeword_records`).

    Parameters
    ----------
    table : LookupTable
        The encoding table.
    ax : sequence of matplotlib Axes, optional
        One per split point; default a new row of panels.
    element : int
        Which element of ``z`` to draw.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the table has no per-element codewords to draw.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import fig_codewords
    >>> len(fig_codewords(load_table(results_dir() / "encoding_quick.json")).axes)
    4
    """
    import matplotlib.pyplot as plt
    import numpy as np

    records = codeword_records(table)
    if not records:
        raise ValueError("the table has no per-element codewords to draw (no scalar d16-l4 records)")
    if ax is None:
        fig, ax = plt.subplots(1, len(records), figsize=(3.6 * len(records), 3), sharey=True)
    axes = list(np.atleast_1d(ax))
    for panel, record in zip(axes, records):
        _codewords_panel(record, panel, element)
    axes[0].legend(fontsize=7, loc="upper left")
    fig = axes[0].figure
    fig.suptitle("Learned 2-bit codewords (red) over the values of z[0] (grey), per split point", fontsize=10)
    fig.tight_layout()
    alt = (f"{len(records)} histograms, one per split point ({', '.join(r.split for r in records)}): the fraction of "
           f"test images (y) at each value of the encoder output z[{element}] between -1 and 1 (x), in grey, with "
           f"the learned codewords as vertical lines ("
           + "; ".join(f"{r.split}: " + ", ".join(f"{c:.2f}" for c in r.extra["codewords"][element]) for r in records)
           + "). The codewords are learned for accuracy, not spread evenly: they follow where the values lie.")
    return publish(fig, "codewords", alt=alt, rows=records, provenance=table.provenance,
                   caption="The codewords learned for one element, per split point")


@figure_style
def fig_real_vs_entropy(table: LookupTable, ax=None):
    """Figure 3.3: real encoded bits per image against the empirical entropy, every record (log-log).

    Solid line: real = entropy; dashed: real = entropy + 8 (one byte of alignment per packet).
    Marker: the method (circles learned, stars original); colour: the split point (in the legend).

    Parameters
    ----------
    table : LookupTable
        The encoding table.
    ax : matplotlib Axes, optional
        Where to draw; default a new 6 x 5 in figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import fig_real_vs_entropy
    >>> fig_real_vs_entropy(load_table(results_dir() / "encoding_quick.json")).axes[0].get_yscale()
    'log'
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from matplotlib.patches import Patch

    ax = ax or plt.subplots(figsize=(6, 5))[1]
    splits = set()
    for method, marker, label in (("framework", "o", "learned encoder (range coder)"),
                                  ("original", "*", "original 8-bit (Huffman)")):
        records = [r for r in table.select(method=method) if r.bits_entropy]
        for r in records:
            ax.plot(r.bits_entropy, r.bits_per_image, marker=marker, linestyle="none",
                    color=SPLIT_COLORS.get(r.split, "k"), markersize=9 if marker == "*" else 6)
        if records:
            ax.plot([], [], marker=marker, color="0.3", linestyle="none", label=label)
        splits |= {r.split for r in records}
    lo, hi = 0.5, 2e5
    x = np.logspace(math.log10(lo), math.log10(hi), 100)
    ax.plot(x, x, color="k", linewidth=1, label="real = entropy")
    ax.plot(x, x + 8, color="k", linewidth=1, linestyle="--", label="real = entropy + 8 bits")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("empirical entropy of the sent symbols (bits per image)")
    ax.set_ylabel("real encoded length (bits per image)")
    # The markers' colour is the split point: one legend entry per split point drawn.
    ax.legend(handles=ax.get_legend_handles_labels()[0] + [
        Patch(color=SPLIT_COLORS.get(s, "k"), label=f"split after {s}") for s in sorted(splits, key=_split_order)],
        fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    gaps = {m: [r.bits_per_image - r.bits_entropy for r in table.select(method=m) if r.bits_entropy]
            for m in ("framework", "original")}
    alt = ("Scatter plot, log-log: the real encoded length (y) against the empirical entropy of the sent symbols "
           "(x), both in bits per image, one marker per record (circles: learned encoder with a range coder; "
           "stars: original 8-bit feature with Huffman), coloured by split point, with the lines real = entropy "
           "and real = entropy + 8 bits. " + " ".join(
               f"{'Learned codes' if m == 'framework' else 'Huffman codes'} are {min(g):,.1f} to {max(g):,.1f} "
               f"bits above the entropy." for m, g in gaps.items() if g))
    return publish(ax.figure, "real-vs-entropy", alt=alt, table=table,
                   caption="Real encoded length against empirical entropy")


def floor_gap(table: LookupTable) -> dict:
    """The fewest real bits per image that reach the table's accuracy threshold
    (:func:`coinfer.results.table_threshold`), at each split point and overall, against
    ``log2(10)`` bits.

    Parameters
    ----------
    table : LookupTable
        The encoding table (its provenance carries the baseline accuracy and the preset's drop).

    Returns
    -------
    dict
        ``unsplit_accuracy``, ``threshold``, ``best_per_split`` (split -> Record), ``best`` (the
        fewest bits overall, or None), ``floor_bits`` (log2 10), ``ratio_to_floor``,
        ``saving_per_split`` (split -> the original 8-bit + Huffman bits over the best code's),
        ``test_drop_per_split`` (split -> the unsplit network's test accuracy minus the best code's),
        ``margin_per_split`` (split -> the best code's validation margin over the threshold in standard
        errors, :func:`coinfer.stats.margin_over_threshold`; None for one seed) and ``splits_below``
        (split points where no code size reaches the threshold).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import floor_gap
    >>> gap = floor_gap(load_table(results_dir() / "encoding_quick.json"))
    >>> gap["best"].bits_per_image >= gap["floor_bits"]
    True
    """
    base, threshold = unsplit_accuracy(table), table_threshold(table)
    best = {}
    for r in framework_records(table):       # chosen on the validation split, reported on test
        if meets_threshold(r, table) and (r.split not in best or r.bits_per_image < best[r.split].bits_per_image):
            best[r.split] = r
    overall = min(best.values(), key=lambda r: r.bits_per_image) if best else None
    originals = {r.split: r for r in original_records(table)}
    splits = dict.fromkeys(r.split for r in framework_records(table))
    return {"unsplit_accuracy": base, "threshold": threshold, "best_per_split": best,
            "best": overall, "floor_bits": DECISION_BITS,
            "ratio_to_floor": overall.bits_per_image / DECISION_BITS if overall else None,
            "saving_per_split": {s: originals[s].bits_per_image / r.bits_per_image for s, r in best.items()},
            "test_drop_per_split": {s: base - r.accuracy for s, r in best.items()},
            "margin_per_split": {s: margin_over_threshold(r, table) for s, r in best.items()},
            "splits_below": [s for s in splits if s not in best]}


def encoder_share_range(table: LookupTable):
    """The encoder's MACs as a percentage of the whole network's: min and max over the code sizes,
    one row per split point (a pandas DataFrame, 3 decimals).

    Parameters
    ----------
    table : LookupTable
        The encoding table.

    Returns
    -------
    pandas.DataFrame
        Index ``split``; columns ``min`` and ``max``.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import encoder_share_range
    >>> list(encoder_share_range(load_table(results_dir() / "encoding_quick.json")).columns)
    ['min', 'max']
    """
    import pandas as pd

    shares = pd.DataFrame([{"split": r.split, "% of network": 100 * r.extra["encoder_share"]}
                           for r in framework_records(table)])
    return shares.groupby("split", sort=False)["% of network"].agg(["min", "max"]).round(3)


def original_rows(table: LookupTable) -> list[dict]:
    """One row per 'original' record: 8-bit and float accuracy (%), Huffman, entropy and fixed bits.

    Parameters
    ----------
    table : LookupTable
        The encoding table.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import original_rows
    >>> original_rows(load_table(results_dir() / "encoding_quick.json"))[0]["split"]
    'stem'
    """
    return [{"split": r.split, "accuracy % (8-bit)": 100 * r.accuracy,
             "accuracy % (float)": 100 * r.extra["accuracy_float"],
             "bits sent (Huffman)": r.bits_per_image, "bits entropy": r.bits_entropy,
             "bits fixed (8-bit)": r.extra["bits_fixed"]} for r in original_records(table)]


def coding_overheads(table: LookupTable) -> dict:
    """What one packet per image and entropy coding cost, in bits per image (Fig. 3.3's numbers).

    Parameters
    ----------
    table : LookupTable
        The encoding table.

    Returns
    -------
    dict
        ``packet``: bits sent (flag + the cheaper form) minus the model's information content, per
        framework record (one packet per image); ``stream``: the same with all test images in one stream; ``huffman``:
        the Huffman-coded originals' relative excess over the pooled entropy; ``scalar_saving``:
        per scalar code, the entropy's saving on the fixed length, in %. Lists of floats; every number
        is a mean over the seeds (bits per image are, so the extras they are compared with are too).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import coding_overheads
    >>> min(coding_overheads(load_table(results_dir() / "encoding_quick.json"))["packet"]) >= 0
    True
    """
    fw = table.select(method="framework")
    return {"packet": [r.bits_per_image - seed_mean(r, "bits_model") for r in fw],
            "stream": [seed_mean(r, "bits_one_stream") - seed_mean(r, "bits_model") for r in fw],
            "huffman": [r.bits_per_image / r.bits_entropy - 1 for r in table.select(method="original")],
            "scalar_saving": [100 * (1 - r.bits_entropy / r.extra["bits_fixed"]) for r in fw
                              if r.extra["quantizer"] == "scalar"]}


# --------------------------------------------------------------------------------------------
# The code-size explorer: one readout, precomputed for the book and live with a kernel
# --------------------------------------------------------------------------------------------

def code_size_data(table: LookupTable) -> dict:
    """The numbers behind the code-size explorer: per split point, its records by code size.

    Parameters
    ----------
    table : LookupTable
        The encoding table.

    Returns
    -------
    dict
        ``splits`` (one entry per split point: ``split``, ``color``, ``original_bits``,
        ``original_accuracy`` and ``sizes``, its code sizes from smallest to largest), ``floor``
        (log2 10 bits) and ``unsplit`` (the unsplit network's accuracy, a fraction).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import code_size_data
    >>> data = code_size_data(load_table(results_dir() / "encoding_quick.json"))
    >>> [e["split"] for e in data["splits"]]
    ['layer1.1', 'layer2.1', 'layer3.1', 'pool']
    """
    originals = {r.split: r for r in original_records(table)}
    splits = sorted({r.split for r in framework_records(table)}, key=_split_order)
    data = {"splits": [], "floor": DECISION_BITS, "unsplit": unsplit_accuracy(table)}
    for split in splits:
        records = framework_records(table, split)
        base = originals.get(split)
        data["splits"].append({
            "split": split, "color": SPLIT_COLORS.get(split, "#000"),
            "original_bits": base.bits_per_image if base else None,
            "original_accuracy": base.accuracy if base else None,
            "sizes": [{"code_size": r.code_size, "kind": r.extra.get("quantizer", ""),
                       "accuracy": r.accuracy, "bits": r.bits_per_image, "entropy": r.bits_entropy or 0.0,
                       "fixed": r.extra.get("bits_fixed", 0), "device_macs": r.device_macs,
                       "encoder_share": r.extra.get("encoder_share", 0.0)} for r in records]})
    return data


def code_size_readout(data: dict, state: dict) -> dict:
    """What the code-size explorer shows at one slider state: the readouts and the plot.

    The one logic of the explorer: :func:`code_size_twin` calls it for every state when the page
    is built, :func:`code_size_explorer` on every slider move.

    Parameters
    ----------
    data : dict
        From :func:`code_size_data`.
    state : dict
        ``split`` (a split point of ``data``) and ``size`` (position of the code size, smallest
        first; past a split point's last size, its last).

    Returns
    -------
    dict
        ``text`` (``code``, ``accuracy``, ``bits``, ``device`` and, where the table has the original
        feature, ``saving``) and ``plot`` (every split point's codes, the current one highlighted).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import code_size_data, code_size_readout
    >>> data = code_size_data(load_table(results_dir() / "encoding_quick.json"))
    >>> code_size_readout(data, {"split": "pool", "size": 0})["text"]["code"]
    'd16-k16 (vector codebook)'
    """
    from coinfer.views.explorer import format_fixed, format_int

    entry = next(e for e in data["splits"] if e["split"] == state["split"])
    size = entry["sizes"][min(state["size"], len(entry["sizes"]) - 1)]
    kind = "per-element codewords" if size["kind"] == "scalar" else "vector codebook"
    text = {"code": f"{size['code_size']} ({kind})",
            "accuracy": f"{format_fixed(100 * size['accuracy'], 2)} %",
            "bits": (f"{format_fixed(size['bits'], 1)} bits real, {format_fixed(size['entropy'], 1)} entropy, "
                     f"{size['fixed']} fixed-length"),
            "device": (f"{format_fixed(size['device_macs'] / 1e6, 2)} M MACs (encoder "
                       f"{format_fixed(100 * size['encoder_share'], 2)} % of the network)")}
    if entry["original_bits"]:
        text["saving"] = (f"{format_int(entry['original_bits'] / size['bits'])} x fewer bits than the original "
                          f"8-bit + Huffman feature ({format_int(entry['original_bits'])} bits, "
                          f"{format_fixed(100 * entry['original_accuracy'], 2)} %)")
    series = [{"label": e["split"], "color": e["color"], "line": False,
               "points": [[z["bits"], 100 * z["accuracy"]] for z in e["sizes"]]} for e in data["splits"]]
    plot = {"series": series,
            "vlines": [{"x": data["floor"], "label": "log2(10) = 3.32 bits", "color": "#444"}],
            "hlines": [{"y": 100 * data["unsplit"], "label": "unsplit network", "color": "#888"}],
            "highlight": [{"x": size["bits"], "y": 100 * size["accuracy"],
                           "label": f"{entry['split']} {size['code_size']}", "color": entry["color"]}]}
    return {"text": text, "plot": plot}


_CODE_SIZE_READOUTS = [("code", "code size"), ("accuracy", "test accuracy"), ("bits", "bits per image"),
                       ("device", "device computation"), ("saving", "vs original")]


def _code_size_sliders(data: dict, split: str | None):
    from coinfer.views.explorer import Slider

    names = [e["split"] for e in data["splits"]]
    if split is not None and split not in names:
        raise ValueError(f"no encoder records at split {split!r}; available: {', '.join(names)}")
    n_sizes = max(len(e["sizes"]) for e in data["splits"])
    return [Slider("split", "split point", values=names, value=split or names[len(names) // 2]),
            Slider("size", "code size (smallest to largest)", values=list(range(n_sizes)),
                   labels=[f"#{i + 1}" for i in range(n_sizes)])]


def code_size_twin(table: LookupTable, split: str | None = None):
    """The code-size explorer for the static book: every state of :func:`code_size_readout`,
    precomputed (:func:`coinfer.views.explorer.precomputed_explorer`); no kernel needed.

    Parameters
    ----------
    table : LookupTable
        The encoding table.
    split : str, optional
        The split point shown first (default the middle one).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import code_size_twin
    >>> 'data-slider="size"' in code_size_twin(load_table(results_dir() / "encoding_quick.json")).html
    True
    """
    from coinfer.views.explorer import Plot, precomputed_explorer

    data = code_size_data(table)
    twin = precomputed_explorer(
        _code_size_sliders(data, split), lambda state: code_size_readout(data, state),
        readouts=_CODE_SIZE_READOUTS,
        plot=Plot(xlabel="bits per image (real encoded length)", ylabel="test accuracy (%)", logx=True),
        title="Code-size explorer (runs in the page, no kernel)",
        note="Precomputed by python -m coinfer run encoding; bits are the payload one image sends (a flag bit "
             "and the cheaper of the fixed-length index and the entropy-coded stream).")
    return with_downloads(twin, "code-size-explorer", table=table)


def code_size_explorer(table: LookupTable, split: str | None = None):
    """The code-size explorer with ipywidgets (Jupyter, Colab): the same sliders and
    :func:`code_size_readout` as :func:`code_size_twin`, computed on every move.

    Parameters
    ----------
    table : LookupTable
        The encoding table.
    split : str, optional
        The split point shown first.

    Returns
    -------
    ipywidgets.VBox

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.encoding import code_size_explorer
    >>> box = code_size_explorer(load_table(results_dir() / "encoding_quick.json"), split="pool")
    >>> "vector codebook" in box.children[-1].value
    True
    """
    from coinfer.views.explorer import Plot, live_explorer

    data = code_size_data(table)
    return live_explorer(_code_size_sliders(data, split), lambda state: code_size_readout(data, state),
                         readouts=_CODE_SIZE_READOUTS,
                         plot=Plot(xlabel="bits per image (real encoded length)", ylabel="test accuracy (%)",
                                   logx=True))
