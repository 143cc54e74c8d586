"""Figures of the real co-inference measurements (:mod:`coinfer.experiments.serving`): measured beside predicted latency.

The paper's Fig. 4 plots *predicted* latency against the link rate. Here each configuration gets its
measured median end-to-end latency (markers, with the 95th percentile as an upper whisker) and the
latency model's prediction for the same hardware (a line), so a reader sees where the model holds and
where it does not::

    measurements (data/results/serve_latency_<preset>.json or measure()'s rows)
        -> measurement_frame()     one row per (configuration, rate)
        -> fig_measured_latency()  Fig. 7.1: latency [s] vs rate [KB/s], log-log

(Fig. 4's *predicted* latency, each method at its best configuration, is
:func:`coinfer.views.latency.fig_latency_vs_rate`.)
"""

from __future__ import annotations

from typing import Iterable

from coinfer.views.publish import publish
from coinfer.views.style import CYCLE, MARKERS, figure_style


def measurement_frame(source):
    """One row per (configuration, rate) from a :class:`coinfer.results.LookupTable` written by
    ``python -m coinfer measure --save`` or from the ``rows`` of a :class:`coinfer.experiments.serving.MeasureResult`.

    Parameters
    ----------
    source : LookupTable or iterable of dict
        A measurement table or measure()'s rows.

    Returns
    -------
    pandas.DataFrame
        Columns: ``spec``, ``rate_KBps`` (1 KB = 1000 B; NaN for an unshaped link), ``bytes`` (frame,
        with header), ``measured_s``, ``p95_s``, ``device_s``, ``send_s``, ``server_s``, ``other_s``,
        ``predicted_s``, ``ratio`` (measured / predicted), ``paper_ratio`` (measured / the paper's
        FLOPs-and-bits prediction), ``flops_ratio`` (measured / the model with one serving FLOP/s per
        side instead of each configuration's measured compute), ``request_s`` and ``codec_s`` (the prediction's measured terms; NaN
        in tables measured before they existed).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.serving import measurement_frame
    >>> frame = measurement_frame(load_table(results_dir() / "serve_latency_quick.json"))
    >>> sorted(frame["rate_KBps"].unique().tolist())
    [10.0, 40.0, 1000.0]
    """
    import pandas as pd

    rows: Iterable[dict]
    if hasattr(source, "records"):
        rows = [{**m, "spec": r.extra.get("spec", f"{r.split}:{r.code_size}")}
                for r in source.records for m in r.extra.get("measurements", [])]
    else:
        rows = source
    frame = pd.DataFrame([{
        "spec": r["spec"],
        "rate_KBps": r["rate_Bps"] / 1e3 if r.get("rate_Bps") else float("nan"),
        "bytes": r["frame_bytes_mean"],
        "measured_s": r["total_median_s"], "p95_s": r["total_p95_s"],
        "device_s": r["device_median_s"], "send_s": r["send_median_s"],
        "server_s": r["server_median_s"], "other_s": r["other_median_s"],
        "predicted_s": r["predicted"]["total_s"], "ratio": r["ratio"],
        "paper_ratio": r.get("ratio_paper", float("nan")), "flops_ratio": r.get("ratio_flops", float("nan")),
        "request_s": r["predicted"].get("request_s", float("nan")),
        "codec_s": r["predicted"].get("codec_s", float("nan"))} for r in rows])
    return frame


def ratio_table(source, column: str = "ratio"):
    """Measured / modelled latency, one row per configuration and one column per link rate.

    Parameters
    ----------
    source : LookupTable or iterable of dict
        Anything :func:`measurement_frame` reads.
    column : str
        ``"ratio"`` (the model: measured compute, codec and per-request terms, bits / rate),
        ``"flops_ratio"`` (compute at one serving FLOP/s per side) or ``"paper_ratio"`` (FLOPs and
        bits only).

    Returns
    -------
    pandas.DataFrame
        Index: configuration spec (in the table's order); columns ``"<rate> KB/s"`` (``"inf"`` for an
        unshaped link), ascending.

    Examples
    --------
    >>> rows = [{"spec": "a", "rate_Bps": r, "frame_bytes_mean": 30, "total_median_s": t, "total_p95_s": t,
    ...          "device_median_s": 0, "send_median_s": 0, "server_median_s": 0, "other_median_s": 0,
    ...          "predicted": {"total_s": 1.0}, "ratio": t} for r, t in ((1e6, 1.05), (1e4, 0.8))]
    >>> ratio_table(rows).to_dict("records")
    [{'10 KB/s': 0.8, '1000 KB/s': 1.05}]
    >>> ratios_within(rows, 0.10)
    (1, 2)
    """
    import math

    if column not in ("ratio", "flops_ratio", "paper_ratio"):
        raise ValueError(f"column must be 'ratio', 'flops_ratio' or 'paper_ratio', got {column!r}")
    frame = measurement_frame(source)
    pivot = frame.pivot_table(index="spec", columns="rate_KBps", values=column, sort=False, dropna=False)
    pivot = pivot[sorted(pivot.columns, key=lambda c: math.inf if c != c else c)]
    pivot.columns = ["inf" if c != c else f"{c:g} KB/s" for c in pivot.columns]
    pivot.index.name = "configuration"
    return pivot


def ratios_within(source, tolerance: float = 0.10, column: str = "ratio") -> tuple[int, int]:
    """How many (configuration, rate) cells of :func:`ratio_table` lie within ``tolerance`` of 1, and of how many.

    Parameters
    ----------
    source : LookupTable or iterable of dict
    tolerance : float
        Allowed relative deviation (0.10: measured within 10 % of modelled), > 0.
    column : str
        As in :func:`ratio_table`.

    Returns
    -------
    (int, int)
        Cells within the tolerance, cells in all.
    """
    from coinfer.units import check_positive

    tolerance = check_positive("tolerance", tolerance)
    values = ratio_table(source, column).to_numpy().ravel()
    values = values[values == values]
    return int(sum(abs(v - 1) <= tolerance for v in values)), int(len(values))


@figure_style
def fig_measured_latency(table, ax=None, title: str | None = None, paper_reference: bool = True):
    """Figure 7.1: measured median latency (markers, whisker up to p95) and predicted latency (dashed
    line) against the link rate, one colour per configuration; log-log axes.

    Parameters
    ----------
    table : LookupTable or list of dict
        ``data/results/serve_latency_<preset>.json`` or a :class:`coinfer.experiments.serving.MeasureResult`'s
        ``rows`` (anything :func:`measurement_frame` reads).
    ax : matplotlib Axes, optional
        Where to draw; default a new 7.5 x 4.5 in figure.
    title : str, optional
        Default: "Measured (markers) vs predicted (dashed) latency, <preset> preset" for a table.
    paper_reference : bool
        Add the paper's stated ~0.1 s of its framework below 40 KB/s (section V-C; a different
        network and hardware: for scale only).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.serving import fig_measured_latency
    >>> fig = fig_measured_latency(load_table(results_dir() / "serve_latency_quick.json"))
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_title()
    ('log', 'Measured (markers) vs predicted (dashed) latency, quick preset')
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from coinfer.core.latency import PAPER_LOW_RATE_BPS, PAPER_LOW_RATE_LATENCY_S
    from coinfer.units import BITS_PER_BYTE, KILO

    frame = measurement_frame(table)
    if title is None and hasattr(table, "provenance"):
        title = f"Measured (markers) vs predicted (dashed) latency, {table.provenance.preset} preset"
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5))
    shaped = frame[frame["rate_KBps"].notna()]
    for k, (spec, rows) in enumerate(shaped.groupby("spec", sort=False)):
        rows = rows.sort_values("rate_KBps")
        color = CYCLE[k % len(CYCLE)]
        up = np.maximum(rows["p95_s"] - rows["measured_s"], 0)
        ax.errorbar(rows["rate_KBps"], rows["measured_s"], yerr=[np.zeros(len(rows)), up], fmt=MARKERS[k % len(MARKERS)],
                    color=color, capsize=3, label=f"{spec} ({rows['bytes'].iloc[0]:,.0f} B): measured")
        ax.plot(rows["rate_KBps"], rows["predicted_s"], "--", color=color, alpha=0.8)
    ax.plot([], [], "--", color="grey", label="latency model (same line colour)")
    if paper_reference and len(shaped):
        paper_kBps = PAPER_LOW_RATE_BPS / (BITS_PER_BYTE * KILO)
        low = min(shaped["rate_KBps"].min(), paper_kBps)
        ax.plot([low, paper_kBps], [PAPER_LOW_RATE_LATENCY_S] * 2, ":", color="black", lw=2,
                label="paper, Fig. 4: framework ~0.1 s below 40 KB/s (RPi 3, CIFAR-10)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("uplink rate [KB/s] (1 KB = 1000 B)")
    ax.set_ylabel("end-to-end latency per image [s]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if title:
        ax.set_title(title, fontsize=11)
    fastest = shaped.loc[shaped.groupby("rate_KBps")["measured_s"].idxmin()] if len(shaped) else shaped
    alt = (f"Scatter plot with dashed model lines, both axes logarithmic: measured median end-to-end latency per "
           f"image in seconds (markers, whiskers up to the 95th percentile) and the latency model's prediction "
           f"(dashed, same colour) against the uplink rate in KB/s, for {shaped['spec'].nunique()} configurations "
           f"of the running system. Measured over predicted: {shaped['ratio'].min():.2f} to "
           f"{shaped['ratio'].max():.2f}. Fastest measured: "
           + "; ".join(f"{row.spec} at {row.rate_KBps:g} KB/s ({row.measured_s:.3g} s)" for row in fastest.itertuples())
           + ".")
    return publish(ax.figure, "measured-latency", alt=alt, rows=frame.to_dict("records"),
                   provenance=getattr(table, "provenance", None),
                   caption="Measured end-to-end latency against the uplink rate")
