"""Chapter 5's tables and the numbers its text states (glued): every record, each method's count at
the threshold, and the facts behind the verdict on the paper's Fig. 3 sentence.

    tradeoff_points, dominance_check (coinfer.views.tradeoff) --> summary_frame, tradeoff_facts
    lookup table --> records_frame / records_table (one row per configuration)
"""

from __future__ import annotations

from coinfer.stats import seed_spread, selection_accuracy, selection_threshold
from coinfer.views.tradeoff import FIG3_METHODS, THRESHOLD_DROPS, tradeoff_data, tradeoff_summary

__all__ = ["records_frame", "records_table", "summary_frame", "tradeoff_facts"]


def records_frame(table, threshold: float | None = None):
    """Chapter 5's lookup table: one row per record, by method, split point and device computation.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction for the ``≥ thr.`` column (compared with validation accuracies); default
        :func:`coinfer.stats.selection_threshold`.

    Returns
    -------
    pandas.DataFrame
        Indexed by method; columns: split point, sparsity, code size, test accuracy (``acc. %``),
        whether it reaches the threshold (``≥ thr.``), device MACs (thousands), device parameters,
        server MACs (thousands), bits per image (narrow headers, so that the table fits the page).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff_tables import records_frame
    >>> frame = records_frame(load_table(results_dir() / "sweep_quick.json"))
    >>> list(frame.index[:2]), int(frame["≥ thr."].sum())
    (['png', 'original'], 32)
    """
    import pandas as pd

    from coinfer.core.network import SPLIT_POINTS

    threshold = selection_threshold(table) if threshold is None else threshold
    frame = pd.DataFrame([{
        "method": r.method, "split": r.split, "sparsity": r.sparsity, "code size": r.code_size,
        "acc. %": round(100 * r.accuracy, 2),   # the mean over the seeds, and their standard deviation
        "± sd": None if seed_spread(r) is None else round(100 * seed_spread(r), 2),
        "≥ thr.": selection_accuracy(r, table) >= threshold,
        "dev kMACs": round(r.device_macs / 1e3, 1), "params": r.device_params,
        "srv kMACs": round(r.server_macs / 1e3, 1), "bits": round(r.bits_per_image, 1),
    } for r in table.records])
    rank = {"method": {m: i for i, m in enumerate(("png",) + FIG3_METHODS[1:] + FIG3_METHODS[:1])},
            "split": {p: i for i, p in enumerate(SPLIT_POINTS)}}
    frame = frame.sort_values(["method", "split", "dev kMACs"],
                              key=lambda c: c.map(rank[c.name]) if c.name in rank else c)
    return frame.set_index("method")


def records_table(table, threshold: float | None = None):
    """:func:`records_frame` as the book shows it: each column with its decimals, in a font small
    enough that the eleven columns fit the page without scrolling.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table (``python -m coinfer sweep``).
    threshold : float, optional
        Accuracy fraction, compared with validation accuracies; default the table's
        (:func:`coinfer.stats.selection_threshold`).

    Returns
    -------
    pandas.io.formats.style.Styler

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff_tables import records_frame, records_table
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> f"{records_frame(table)['acc. %'].iloc[0]:.2f}" in records_table(table).to_html()
    True
    """
    formats = {"sparsity": "{:.2f}", "acc. %": "{:.2f}", "± sd": "{:.2f}", "dev kMACs": "{:.1f}",
               "srv kMACs": "{:.1f}", "bits": "{:.1f}"}
    return (records_frame(table, threshold).style.format(formats, na_rep="–")   # –: one run, no spread
            .set_table_styles([{"selector": "", "props": "font-size: 0.85em"}]))


def summary_frame(points: dict):
    """Per method: settings tried, how many reach the threshold, and the fewest MACs and bits among them.

    Parameters
    ----------
    points : dict
        From :func:`tradeoff_points`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff import tradeoff_points
    >>> from coinfer.views.tradeoff_tables import summary_frame
    >>> summary_frame(tradeoff_points(load_table(results_dir() / "sweep_quick.json")))["at threshold"].tolist()
    [13, 5, 3, 9]
    """
    import pandas as pd

    return pd.DataFrame([{
        "method": m, "settings tried": e["tried"], "at threshold": len(e["records"]),
        "fewest MACs at threshold": min((r.device_macs for r in e["records"]), default=None),
        "fewest bits at threshold": min((round(r.bits_per_image, 1) for r in e["records"]), default=None),
    } for m, e in points["methods"].items()])


def tradeoff_facts(table, points: dict, check: dict) -> dict:
    """The numbers chapter 5's text states (glued into it), from the table, its points at the
    threshold and the dominance check.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A sweep table.
    points : dict
        :func:`tradeoff_points` of ``table``.
    check : dict
        :func:`dominance_check` of ``table``.

    Returns
    -------
    dict
        ``bits_ratio`` (original over framework bits at the framework's fewest-bits split point),
        ``fw_at_threshold``, ``fw_tried``, per baseline ``<name>_above_png`` and ``<name>_n``
        (``orig``, ``twostep``, ``bn``), ``claim_verdict``, ``undominated``, ``n_undominated``,
        ``fw_margin_images`` (validation images by which the front's least accurate point clears the
        threshold: every choice is made on the validation split), ``fw_front_n``, ``fw_front`` (its
        points, readable), ``fw_front_se_min``/``fw_front_se_max`` (their margins over the threshold in
        standard errors; nan for one seed), ``fw_pruned_at_threshold`` (pruned framework points at the
        threshold; ``fw_pruned_half_at_threshold`` at 50 % or more), ``fw_cheapest`` (its fewest-MACs
        point at the threshold), ``twostep_at_threshold``, ``undominated_cheaper`` and
        ``undominated_above_png`` (baseline points the framework does not dominate that compute less
        than its cheapest point, and that send more bits than the PNG image) and ``claim_holds_drops``
        (at which of the explorer's thresholds the paper's sentence holds), ``on_device_beats`` (the
        front points on-device inference dominates, in words).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.tradeoff import dominance_check, tradeoff_points
    >>> from coinfer.views.tradeoff_tables import tradeoff_facts
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> facts = tradeoff_facts(table, tradeoff_points(table), dominance_check(table, verbose=False))
    >>> facts["claim_verdict"], facts["fw_at_threshold"], facts["fw_tried"]
    ('holds', 13, 60)
    """
    fw = points["methods"]["framework"]["records"]
    orig = points["methods"]["original"]["records"]
    facts = {"bits_ratio": float("nan")}
    if fw and orig:
        best_fw = min(fw, key=lambda r: r.bits_per_image)
        same_split = [r for r in orig if r.split == best_fw.split]
        if same_split:
            facts["bits_ratio"] = same_split[0].bits_per_image / best_fw.bits_per_image
    facts["fw_at_threshold"] = len(fw)
    facts["fw_tried"] = points["methods"]["framework"]["tried"]
    png_bits = table.select(method="png")[0].bits_per_image
    for name, method in [("orig", "original"), ("twostep", "2-step-pruning"), ("bn", "bottlenet++")]:
        rows = table.select(method=method)
        facts[f"{name}_above_png"] = sum(r.bits_per_image > png_bits for r in rows)
        facts[f"{name}_n"] = len(rows)
    facts["claim_verdict"] = {True: "holds", False: "does not hold", None: "cannot be checked"}[check["claim_holds"]]
    beaten = check.get("beaten_by_on_device", [])
    facts["on_device_beats"] = ("no point of the framework's curve" if not beaten else
                                f"{len(beaten)} point{'s' if len(beaten) > 1 else ''} of the framework's curve ("
                                + "; ".join(f"after {f.split}, code {f.code_size}: {f.bits_per_image:.0f} bits, "
                                            f"{f.device_macs / 1e6:.2f} M MACs" for f in beaten) + ")")
    free = [f"{m} after {r.split}" + (f" ({r.code_size})" if m != "original" else "")
            for m, rows in check["not_dominated"].items() for r in rows]
    facts["undominated"] = "; ".join(free) if free else "none"
    facts["n_undominated"] = len(free)
    front = points["methods"]["framework"]["front"]
    margin = min(selection_accuracy(r, table) for r in front) - points["threshold"] if front else float("nan")
    validation = table.provenance.validation
    images = validation["images"] if validation else (front[0].extra["test_images"] if front else 0)
    facts["fw_margin_images"] = round(margin * images) if front else 0
    facts["fw_front_n"] = len(front)
    facts["fw_front"] = "; ".join(f"{r.split}, " + (f"{r.sparsity:.0%} sparsity, " if r.sparsity else "unpruned, ")
                                  + f"{r.code_size} ({r.bits_per_image:.0f} bits, {r.device_macs / 1e6:.2f} M MACs)"
                                  for r in front) or "none"
    margins = [m for _, m in check.get("front_margins", []) if m is not None]
    facts["fw_front_se_min"] = min(margins) if margins else float("nan")
    facts["fw_front_se_max"] = max(margins) if margins else float("nan")
    facts["fw_pruned_at_threshold"] = sum(r.sparsity > 0 for r in fw)
    facts["twostep_at_threshold"] = len(points["methods"]["2-step-pruning"]["records"])
    facts["fw_pruned_half_at_threshold"] = sum(r.sparsity >= 0.5 for r in fw)
    cheapest = min(fw, key=lambda r: r.device_macs) if fw else None
    facts["fw_cheapest"] = "none" if cheapest is None else (
        f"after {cheapest.split}, " + (f"{cheapest.sparsity:.0%} sparsity, " if cheapest.sparsity else "unpruned, ")
        + f"code {cheapest.code_size}: {cheapest.device_macs / 1e6:.2f} M device MACs and "
        f"{cheapest.bits_per_image:.0f} bits per image")
    facts["undominated_cheaper"] = sum(r.device_macs < cheapest.device_macs for rows in check["not_dominated"].values()
                                       for r in rows) if cheapest is not None else 0
    facts["undominated_above_png"] = sum(r.bits_per_image > png_bits for rows in check["not_dominated"].values()
                                         for r in rows)
    # The verdict at every threshold of the chapter's explorer (0 to 5 points below the baseline).
    data = tradeoff_data(table)
    holds = [d for d in THRESHOLD_DROPS if tradeoff_summary(data, d)["claim"] == "holds"]
    facts["claim_holds_drops"] = (f"{len(holds)} of the {len(THRESHOLD_DROPS)} thresholds from "
                                  f"{THRESHOLD_DROPS[0]:g} to {THRESHOLD_DROPS[-1]:g} points below the baseline"
                                  + (f" (from {min(holds):g} to {max(holds):g} points)" if holds else ""))
    return facts
