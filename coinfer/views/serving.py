"""Figures of the real co-inference measurements (:mod:`coinfer.experiments.serving`): measured beside predicted latency.

The paper's Fig. 4 plots *predicted* latency against the link rate. Here each configuration gets its
measured median end-to-end latency (markers, with the 95th percentile as an upper whisker) and the
latency model's prediction for the same hardware (a line), so a reader sees where the model holds and
where it does not::

    measurements (data/results/serve_latency_<preset>.json or measure()'s rows)
        -> measurement_frame()  one row per (configuration, rate)
        -> plot_latency_vs_rate()  latency [s] vs rate [KB/s], log-log
"""

from __future__ import annotations

from typing import Iterable


def measurement_frame(source):
    """One row per (configuration, rate) from a :class:`coinfer.results.LookupTable` written by
    ``python -m coinfer measure --save`` or from the ``rows`` of a :class:`coinfer.experiments.serving.MeasureResult`.

    Columns: ``spec``, ``rate_KBps`` (1 KB = 1000 B; NaN for an unshaped link), ``bytes`` (frame, with
    header), ``measured_s``, ``p95_s``, ``device_s``, ``send_s``, ``server_s``, ``other_s``,
    ``predicted_s``, ``ratio`` (measured / predicted).
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
        "predicted_s": r["predicted"]["total_s"], "ratio": r["ratio"]} for r in rows])
    return frame


#: The paper's statement on Fig. 4 (section V-C): below about 40 KB/s its framework keeps the latency
#: around 0.1 s (Raspberry Pi 3 + RTX 2080 Ti, full-width ResNet18 on CIFAR-10).
PAPER_FRAMEWORK_LATENCY_S, PAPER_LOW_RATE_KBPS = 0.1, 40.0


def plot_latency_vs_rate(frame, ax=None, title: str | None = None, paper_reference: bool = True):
    """Measured median latency (markers, whisker up to p95) and predicted latency (dashed line) against
    the link rate, one colour per configuration; log-log axes. ``paper_reference`` adds the paper's
    stated ~0.1 s of its framework below 40 KB/s (a different network and hardware: for scale only).
    Returns the axes."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5))
    shaped = frame[frame["rate_KBps"].notna()]
    for k, (spec, rows) in enumerate(shaped.groupby("spec", sort=False)):
        rows = rows.sort_values("rate_KBps")
        color = f"C{k % 10}"
        up = np.maximum(rows["p95_s"] - rows["measured_s"], 0)
        ax.errorbar(rows["rate_KBps"], rows["measured_s"], yerr=[np.zeros(len(rows)), up], fmt="o",
                    color=color, capsize=3, label=f"{spec} ({rows['bytes'].iloc[0]:,.0f} B): measured")
        ax.plot(rows["rate_KBps"], rows["predicted_s"], "--", color=color, alpha=0.8)
    ax.plot([], [], "--", color="grey", label="latency model (same line colour)")
    if paper_reference and len(shaped):
        low = min(shaped["rate_KBps"].min(), PAPER_LOW_RATE_KBPS)
        ax.plot([low, PAPER_LOW_RATE_KBPS], [PAPER_FRAMEWORK_LATENCY_S] * 2, ":", color="black", lw=2,
                label="paper, Fig. 4: framework ~0.1 s below 40 KB/s (RPi 3, CIFAR-10)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("uplink rate [KB/s] (1 KB = 1000 B)")
    ax.set_ylabel("end-to-end latency per image [s]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if title:
        ax.set_title(title, fontsize=11)
    return ax
