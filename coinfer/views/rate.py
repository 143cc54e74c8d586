"""Views of the rate-accuracy table for chapter 3's rate section: the curve, its numbers, its slider.

Everything here reads the :class:`coinfer.results.LookupTable` that ``python -m coinfer run rate``
writes (:mod:`coinfer.experiments.rate`): framework records at a few split points, fixed codebooks
(code sizes without ``-r``) and codes trained with a rate term (``-r<weight>``)::

    data/results/rate_quick.json --load_table--> LookupTable
        --> rate_rows        one row per code: weight, accuracies, the estimated, entropy and real bits
        --> rate_summary     at the threshold: the fewest real bits, rate-trained against fixed codebooks
        --> fig_rate_curve   (Fig. 3.4: accuracy against bits, the three measures side by side; log2 10)
        --> rate_twin / rate_explorer   (a slider over the rate weight: static HTML / ipywidgets)

Units: bits per image; accuracies as fractions (shown in percent). Every choice is made on the
validation split (:func:`coinfer.stats.meets_threshold`); test accuracies are only reported.
"""

from __future__ import annotations

import math

from coinfer.core.encoding import CodeSize
from coinfer.core.entropy import sent_bits
from coinfer.results import LookupTable, Record
from coinfer.stats import margin_over_threshold, meets_threshold, seed_mean, selection_threshold
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import GREY, PALETTE, figure_style

#: The information a 10-class decision carries at most (bits): no code that keeps the accuracy sends less.
DECISION_BITS = math.log2(10)

#: How each measure of a rate-trained code is drawn: (label, marker, filled).
MEASURES = {"estimate": ("estimated rate (trained prior)", "o", False),
            "entropy": ("empirical entropy of the symbols", "x", True),
            "one_stream": ("real: test set as one stream", "^", True),
            "sent": ("real: one packet per image", "o", True)}
_SPLIT_COLORS = (PALETTE["orange"], PALETTE["vermillion"], PALETTE["blue"], PALETTE["green"])


def _one_stream_sent(record: Record) -> float | None:
    """The test set coded as one stream and sent as one packet, bits per image: a flag and the
    cheaper of the fixed-length index and the stream (:func:`coinfer.core.entropy.sent_bits`)."""
    sent = seed_mean(record, "bits_one_stream_sent")
    if sent is not None:
        return sent
    stream, fixed, n = seed_mean(record, "bits_one_stream"), record.extra.get("bits_fixed"), \
        record.extra.get("test_images")
    if stream is None or fixed is None or not n:
        return None
    return float(sent_bits(fixed * n, stream * n)) / n          # one flag for the whole stream


def rate_rows(table: LookupTable) -> list[dict]:
    """One row per framework record of the rate table, by split point, fixed codes first, then by weight.

    Parameters
    ----------
    table : LookupTable
        The rate table (``data/results/rate_<preset>.json``).

    Returns
    -------
    list of dict
        ``split``, ``code size``, ``weight`` (None for a fixed codebook), ``val %``, ``val std``,
        ``test %``, ``meets``, and in bits per image ``estimate`` (information content under the
        trained prior; None for a fixed code), ``soft`` (the soft estimate), ``entropy``,
        ``one stream`` (real, the test set as one packet), ``sent`` (real, one packet per image),
        ``gap %`` (one stream over the estimate, in percent), ``margin se`` (validation accuracy above
        the threshold, in standard errors over the seeds: :func:`coinfer.stats.margin_over_threshold`).

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> rows = rate_rows(load_table(table_path("rate", "quick")))
    >>> rows[0]["weight"] is None and any(r["weight"] == 0 for r in rows)
    True
    """
    rows = []
    for r in table.select(method="framework"):
        weight = CodeSize.parse(r.code_size).rate_weight
        estimate = seed_mean(r, "bits_model") if weight is not None else None
        one = _one_stream_sent(r)
        rows.append({"split": r.split, "code size": r.code_size, "weight": weight,
                     "val %": 100 * r.val_accuracy, "val std": 100 * (r.val_accuracy_std or 0.0),
                     "test %": 100 * r.accuracy, "meets": meets_threshold(r, table),
                     "estimate": estimate, "soft": seed_mean(r, "bits_soft") if weight is not None else None,
                     "entropy": r.bits_entropy, "one stream": one, "sent": r.bits_per_image,
                     "gap %": 100 * (one / estimate - 1) if estimate and one else None,
                     "margin se": margin_over_threshold(r, table)})
    splits = list(dict.fromkeys(r.split for r in table.records))
    return sorted(rows, key=lambda row: (splits.index(row["split"]), row["weight"] is not None,
                                         row["weight"] or 0.0, row["sent"]))


def rate_summary(table: LookupTable) -> dict:
    """The rate table's answer, per split point, decided on the validation split.

    Parameters
    ----------
    table : LookupTable
        The rate table.

    Returns
    -------
    dict
        ``threshold`` (validation, a fraction) and ``splits``: per split point, ``best_rate`` and
        ``best_fixed`` (the row of :func:`rate_rows` with the fewest real bits per image, one
        packet each, among the rate-trained codes and among the fixed codebooks meeting the
        threshold; None if none does), ``fixed`` (every fixed codebook's row), ``beats_fixed``
        (the best rate-trained code sends fewer bits than every fixed codebook meeting the
        threshold), ``beats_every_fixed`` (than every fixed codebook at all), ``within_10``
        (its one-stream real bits within 10 % of its estimated rate).

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> s = rate_summary(load_table(table_path("rate", "quick")))
    >>> sorted(s["splits"])
    ['layer2.1', 'layer3.1']
    """
    rows = rate_rows(table)
    out = {"threshold": selection_threshold(table), "splits": {}}
    for split in dict.fromkeys(r["split"] for r in rows):
        mine = [r for r in rows if r["split"] == split]
        fixed = [r for r in mine if r["weight"] is None]
        best_rate = min((r for r in mine if r["weight"] is not None and r["meets"]), key=lambda r: r["sent"],
                        default=None)
        best_fixed = min((r for r in fixed if r["meets"]), key=lambda r: r["sent"], default=None)
        out["splits"][split] = {
            "best_rate": best_rate, "best_fixed": best_fixed, "fixed": fixed,
            "beats_fixed": bool(best_rate and (best_fixed is None or best_rate["sent"] < best_fixed["sent"])),
            "beats_every_fixed": bool(best_rate and all(best_rate["sent"] < r["sent"] for r in fixed)),
            "within_10": bool(best_rate and abs(best_rate["gap %"]) <= 10)}
    return out


@figure_style
def fig_rate_curve(table: LookupTable, ax=None):
    """Figure 3.4: validation accuracy against bits per image for codes trained with a rate term,
    each weight's estimated rate, empirical entropy and real bits side by side; the fixed codebooks.

    Error bars (trained codes and fixed codebooks alike) are one standard deviation over the seeds;
    a code far below the threshold is a triangle on the panel's lower edge, named with its accuracy.

    Parameters
    ----------
    table : LookupTable
        The rate table.
    ax : matplotlib Axes or sequence of them, optional
        One per split point; default a new figure with one panel per split point.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the table has no framework records, or ``ax`` is not one Axes per split point.

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> fig = fig_rate_curve(load_table(table_path("rate", "quick")))
    >>> len(fig.axes), fig.axes[0].get_xscale()
    (2, 'log')
    """
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    rows = rate_rows(table)
    if not rows:
        raise ValueError("the rate table has no 'framework' records (methods: "
                         f"{sorted({r.method for r in table.records})}); make it with python -m coinfer run rate")
    splits = list(dict.fromkeys(r["split"] for r in rows))
    if ax is None:
        axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4.8), squeeze=False)[1][0]
    else:
        axes = list(ax) if hasattr(ax, "__len__") else [ax]
        if len(axes) != len(splits):
            raise ValueError(f"fig_rate_curve draws one panel per split point: {len(splits)} split points "
                             f"({', '.join(splits)}), {len(axes)} axes given")
    threshold = 100 * selection_threshold(table)
    for split, axis, color in zip(splits, axes, _SPLIT_COLORS):
        mine = [r for r in rows if r["split"] == split]
        trained = [r for r in mine if r["weight"] is not None]
        # The y axis starts just below the codes within 12 points of the threshold; the others are
        # marked on its lower edge with their accuracy.
        floor = min(r["val %"] for r in mine if r["val %"] >= threshold - 12) - 1
        ys = [r["val %"] for r in trained]
        for key, (label, marker, filled) in MEASURES.items():
            field = {"one_stream": "one stream"}.get(key, key)
            axis.plot([r[field] for r in trained], ys, marker=marker, linestyle="-" if key == "sent" else "none",
                      color=color, markerfacecolor=color if filled else "none", label=label)
        axis.errorbar([r["sent"] for r in trained], ys, yerr=[r["val std"] for r in trained], fmt="none",
                      ecolor=color, alpha=0.5)
        for r in trained:
            if r["val %"] < floor:
                _edge_marker(axis, r, floor, f"w={r['weight']:g}", color)
            else:
                up = trained.index(r) % 2
                axis.annotate(f"w={r['weight']:g}", (r["sent"], r["val %"]), textcoords="offset points",
                              xytext=(5, 5 if up else -10), fontsize=7, color=color)
        fixed = [r for r in mine if r["weight"] is None]
        shown = [r for r in fixed if r["val %"] >= floor]
        fixed_label = "fixed codebook (one packet per image)"
        if shown:      # error bars: one standard deviation over the seeds, as for the trained codes
            axis.errorbar([r["sent"] for r in shown], [r["val %"] for r in shown], yerr=[r["val std"] for r in shown],
                          fmt="s", color=GREY, ecolor=GREY, capsize=2, label=fixed_label)
        for r in fixed:
            name = r["code size"].split("-", 1)[1]
            if r["val %"] < floor:
                _edge_marker(axis, r, floor, name, GREY, label=None if shown or r is not fixed[0] else fixed_label)
            else:
                axis.annotate(name, (r["sent"], r["val %"]), textcoords="offset points", xytext=(4, 4), fontsize=7,
                              color=GREY)
        axis.axhline(threshold, color="0.5", linestyle="--", linewidth=1, label=f"threshold (validation) {threshold:.2f} %")
        axis.axvline(DECISION_BITS, color="k", linestyle=":", linewidth=1, label="log2(10) = 3.32 bits")
        axis.set_xscale("log")
        axis.set_xticks([t for t in (2, 3, 4, 6, 8, 16, 32, 64)])
        axis.xaxis.set_major_formatter(ticker.ScalarFormatter())
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_title(f"{split}", fontsize=10)
        axis.set_xlabel("bits per image (log scale)")
        axis.grid(True, which="both", alpha=0.3)
        axis.set_ylim(floor, max(max(r["val %"] for r in mine), threshold) + 1)
    axes[0].set_ylabel("validation accuracy (%), mean over seeds")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig = axes[0].figure
    return publish(fig, "rate-curve", alt=_alt(table, rows, splits), table=table,
                   caption="Validation accuracy against bits per image, codes trained with a rate term")


def _edge_marker(axis, row: dict, floor: float, name: str, color: str, label: str | None = None) -> None:
    """A code below the panel's y range: a triangle on its lower edge, named with its accuracy."""
    axis.plot(row["sent"], floor, marker="v", color=color, linestyle="none", clip_on=False, label=label)
    axis.annotate(f"{name}: {row['val %']:.1f} %", (row["sent"], floor), textcoords="offset points",
                  xytext=(4, 4), fontsize=7, color=color)


def _alt(table: LookupTable, rows: list[dict], splits: list[str]) -> str:
    summary = rate_summary(table)
    parts = []
    for split in splits:
        trained = [r for r in rows if r["split"] == split and r["weight"] is not None]
        best, fixed = summary["splits"][split]["best_rate"], summary["splits"][split]["best_fixed"]
        parts.append(f"At {split}, {len(trained)} rate weights from {trained[0]['weight']:g} to "
                     f"{trained[-1]['weight']:g} take the real bits per image from {trained[0]['sent']:.2f} to "
                     f"{trained[-1]['sent']:.2f} and the validation accuracy from {trained[0]['val %']:.2f} % to "
                     f"{trained[-1]['val %']:.2f} %; the fewest bits at the threshold: "
                     + (f"{best['sent']:.2f} (weight {best['weight']:g})" if best else "none")
                     + ", against " + (f"{fixed['sent']:.2f} for the best fixed codebook ({fixed['code size']})"
                                       if fixed else "no fixed codebook at the threshold") + ".")
    return ("Two panels of validation accuracy against bits per image, log scale: for each rate weight "
            "the estimated rate, the empirical entropy and the real bits (one stream, one packet per image) at "
            "the same accuracy, the fixed codebooks as grey squares, the threshold dashed and log2(10) dotted. "
            + " ".join(parts))


# --------------------------------------------------------------------------------------------
# The rate explorer: one readout, precomputed for the book and live with a kernel
# --------------------------------------------------------------------------------------------

def rate_data(table: LookupTable) -> dict:
    """The numbers behind the rate explorer: :func:`rate_rows` and the validation threshold (%).

    Parameters
    ----------
    table : LookupTable
        The rate table.

    Returns
    -------
    dict
        ``rows`` and ``threshold``.

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> 80 < rate_data(load_table(table_path("rate", "quick")))["threshold"] < 100
    True
    """
    return {"rows": rate_rows(table), "threshold": 100 * selection_threshold(table)}


def rate_readout(data: dict, state: dict) -> dict:
    """What the rate explorer shows at one slider state: the readouts and the plot.

    The one logic of the explorer: :func:`rate_twin` calls it for every state when the page is
    built, :func:`rate_explorer` on every slider move.

    Parameters
    ----------
    data : dict
        From :func:`rate_data`.
    state : dict
        ``split`` (a split point of ``rows``) and ``weight`` (a rate weight of the table).

    Returns
    -------
    dict
        ``text`` (``accuracy``, ``estimate``, ``real``, ``fixed``) and ``plot``.

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> data = rate_data(load_table(table_path("rate", "quick")))
    >>> rate_readout(data, {"split": "layer3.1", "weight": 0.0})["text"]["accuracy"][:10]
    'validation'
    """
    from coinfer.views.explorer import format_fixed

    mine = [r for r in data["rows"] if r["split"] == state["split"]]
    trained = [r for r in mine if r["weight"] is not None]
    row = next(r for r in trained if r["weight"] == state["weight"])
    fixed = [r for r in mine if r["weight"] is None]
    best_fixed = min((r for r in fixed if r["meets"]), key=lambda r: r["sent"], default=None)
    verdict = "meets" if row["meets"] else "misses"
    text = {"accuracy": (f"validation {format_fixed(row['val %'], 2)} ± {format_fixed(row['val std'], 2)} % "
                         f"({verdict} the threshold), test {format_fixed(row['test %'], 2)} %"),
            "estimate": (f"{format_fixed(row['estimate'], 2)} bits estimated (soft {format_fixed(row['soft'], 2)}), "
                         f"{format_fixed(row['entropy'], 2)} entropy"),
            "real": (f"{format_fixed(row['one stream'], 2)} bits as one stream ({row['gap %']:+.1f} % over the "
                     f"estimate), {format_fixed(row['sent'], 2)} in one packet per image"),
            "fixed": (f"{best_fixed['code size']}: {format_fixed(best_fixed['sent'], 2)} bits per packet, "
                      f"validation {format_fixed(best_fixed['val %'], 2)} %" if best_fixed
                      else "no fixed codebook meets the threshold here")}
    color = "#E69F00"
    series = [{"label": label, "color": color, "line": key == "sent", "marker": "circle",
               "points": [[r[{"one_stream": "one stream"}.get(key, key)], r["val %"]] for r in trained]}
              for key, (label, _, _) in MEASURES.items() if key in ("sent", "estimate")]
    series.append({"label": "fixed codebooks", "color": GREY, "line": False, "marker": "square",
                   "points": [[r["sent"], r["val %"]] for r in fixed]})
    plot = {"series": series,
            "vlines": [{"x": DECISION_BITS, "label": "log2(10) = 3.32 bits", "color": "#444"}],
            "hlines": [{"y": data["threshold"], "label": "threshold (validation)", "color": "#888"}],
            "highlight": [{"x": row["sent"], "y": row["val %"], "label": f"w = {row['weight']:g}", "color": color}]}
    return {"text": text, "plot": plot}


_READOUTS = [("accuracy", "accuracy"), ("estimate", "estimated rate"), ("real", "real coded bits"),
             ("fixed", "fewest bits of a fixed codebook at the threshold")]


def _sliders(rows: list[dict], split: str | None):
    from coinfer.views.explorer import Slider

    splits = list(dict.fromkeys(r["split"] for r in rows))
    if split is not None and split not in splits:
        raise ValueError(f"no rate records at split {split!r}; available: {', '.join(splits)}")
    weights = sorted({r["weight"] for r in rows if r["weight"] is not None})
    return [Slider("split", "split point", values=splits, value=split or splits[-1]),
            Slider("weight", "rate weight (loss per bit)", values=weights, labels=[f"{w:g}" for w in weights])]


def _plot():
    from coinfer.views.explorer import Plot

    return Plot(xlabel="bits per image (log scale)", ylabel="validation accuracy (%)", logx=True)


def rate_twin(table: LookupTable, split: str | None = None):
    """The rate explorer for the static book: every state of :func:`rate_readout`, precomputed
    (:func:`coinfer.views.explorer.precomputed_explorer`); no kernel needed.

    Parameters
    ----------
    table : LookupTable
        The rate table.
    split : str, optional
        The split point shown first (default the last).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> 'data-slider="weight"' in rate_twin(load_table(table_path("rate", "quick"))).html
    True
    """
    from coinfer.views.explorer import precomputed_explorer

    data = rate_data(table)
    twin = precomputed_explorer(_sliders(data["rows"], split), lambda state: rate_readout(data, state),
                                readouts=_READOUTS,
                                plot=_plot(), title="Rate-weight explorer (runs in the page, no kernel)",
                                note="Precomputed by python -m coinfer run rate; means over the table's seeds.")
    return with_downloads(twin, "rate-explorer", table=table)


def rate_explorer(table: LookupTable, split: str | None = None):
    """The rate explorer with ipywidgets (Jupyter, Colab): the same sliders and :func:`rate_readout`
    as :func:`rate_twin`, computed on every move.

    Parameters
    ----------
    table : LookupTable
        The rate table.
    split : str, optional
        The split point shown first.

    Returns
    -------
    ipywidgets.VBox

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> box = rate_explorer(load_table(table_path("rate", "quick")), split="layer3.1")
    >>> "bits as one stream" in box.children[-1].value
    True
    """
    from coinfer.views.explorer import live_explorer

    data = rate_data(table)
    return live_explorer(_sliders(data["rows"], split), lambda state: rate_readout(data, state),
                         readouts=_READOUTS, plot=_plot())
