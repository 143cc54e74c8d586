"""Chapter 2 (paper section III-C): communication-aware pruning, its figures and its sparsity explorer.

Every figure is a function of what the chapter shows::

    device part's channel norms and masks --> fig_channel_norms       Figure 2.1
    the presets' pruning schedules        --> fig_schedule            Figure 2.2
    pruning table (python -m coinfer prune) --> fig_pruning_results   Figure 2.3
                                            --> fig_pruning_plane     Figure 2.4
                                            --> pruning_twin / pruning_explorer (one readout)

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from coinfer.paths import results_dir
>>> from coinfer.results import load_table
>>> from coinfer.views.pruning import fig_pruning_results
>>> fig = fig_pruning_results(load_table(results_dir() / "pruning_quick.json"))
>>> len(fig.axes)
3
"""

from __future__ import annotations

import math

from coinfer.core.network import SPLIT_POINTS
from coinfer.results import table_threshold
from coinfer.stats import seed_spread
from coinfer.views.explorer import Plot, Slider, live_explorer, precomputed_explorer
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import (MARKERS, PALETTE, figure_style, format_fixed, format_int, hex_color,
                                 method_style)

__all__ = ["pruning_records", "channel_groups_frame", "pruning_frame", "PRUNING_FORMATS", "fig_channel_norms", "fig_schedule", "fig_pruning_results", "fig_pruning_plane",
           "pruning_summary", "pruning_data", "pruning_twin", "pruning_explorer"]

_IMAGE = {"fashion-mnist": ((28, 28), "Fashion-MNIST image 28x28"),
          "cifar10": ((3, 32, 32), "CIFAR-10 image 32x32x3")}


def pruning_records(table) -> list:
    """The table's pruned configurations (method ``framework-pruned``), by split point, then sparsity.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        From ``python -m coinfer prune``.

    Returns
    -------
    list of coinfer.results.Record

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_records
    >>> [(r.split, r.sparsity) for r in pruning_records(load_table(results_dir() / "pruning_quick.json"))][:2]
    [('layer1.1', 0.0), ('layer1.1', 0.25)]
    """
    return sorted(table.select(method="framework-pruned"), key=lambda r: (SPLIT_POINTS.index(r.split), r.sparsity))


def _splits(records) -> list[str]:
    return list(dict.fromkeys(r.split for r in records))


def _full_grid(table) -> list:
    """:func:`pruning_records`, refused with the reason unless there are some and every split point
    has every sparsity (the figures and the summary compare them at each)."""
    records = pruning_records(table)
    if not records:
        raise ValueError("the table has no 'framework-pruned' records (methods: "
                         f"{sorted({r.method for r in table.records})}); make it with python -m coinfer prune")
    _check_grid(records, _splits(records))
    if min(r.sparsity for r in records) != 0:
        raise ValueError("the table has no unpruned (sparsity 0) 'framework-pruned' records, the reference "
                         f"of every share; sparsities {sorted({r.sparsity for r in records})}")
    return records


def _check_grid(records, splits) -> None:
    sparsities = sorted({round(rec.sparsity, 6) for rec in records})
    have = {(rec.split, round(rec.sparsity, 6)) for rec in records}
    missing = [(s, p) for s in splits for p in sparsities if (s, p) not in have]
    if missing:
        raise ValueError(f"records miss (split, sparsity) pairs {missing[:4]}"
                         + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
                         + "; every split point needs every sparsity")


def channel_groups_frame(layout):
    """The channel groups of a device part (which channels must be pruned together), one row each.

    Parameters
    ----------
    layout : coinfer.core.pruning.DeviceLayout
        From :func:`coinfer.core.pruning.device_layout`.

    Returns
    -------
    pandas.DataFrame
        Indexed by group: its channels, whether it is a residual stream, whether it is sent, and
        the convolutions writing it.

    Examples
    --------
    >>> from coinfer.core.network import resnet18, split
    >>> from coinfer.core.pruning import device_layout
    >>> from coinfer.views.pruning import channel_groups_frame
    >>> frame = channel_groups_frame(device_layout(split(resnet18(width=1.0), "layer2.1")[0]))
    >>> frame.loc["layer2_0", "sent to the server"]
    'yes (activation pruning)'
    """
    import pandas as pd

    return pd.DataFrame([{"group": g.name, "channels": g.channels,
                          "kind": "residual stream" if g.coupled else "free",
                          "sent to the server": "yes (activation pruning)" if g.is_output else "",
                          "convolutions writing it": ", ".join(g.members)} for g in layout.groups]).set_index("group")


#: How :func:`pruning_frame`'s columns are shown (``frame.style.format(PRUNING_FORMATS)``).
PRUNING_FORMATS = {"accuracy (%)": "{:.2f}", "± sd": "{:.2f}", "device MACs (M)": "{:.3f}", "device params (k)": "{:.2f}",
                   "float32 bits": "{:,}", "8-bit bits": "{:,}", "server MACs (M)": "{:.3f}"}


def pruning_frame(records):
    """Chapter 2's results table: one row per (split point, sparsity).

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations (:func:`pruning_records`).

    Returns
    -------
    pandas.DataFrame
        Indexed by split point and sparsity: accuracy (%, the mean over seeds) and the seeds' standard
        deviation (:func:`coinfer.stats.seed_spread`), device MACs (M) and parameters (k), the
        feature's shape and bits (float32, 8-bit), server MACs (M).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_frame, pruning_records
    >>> frame = pruning_frame(pruning_records(load_table(results_dir() / "pruning_quick.json")))
    >>> frame.loc[("layer2.1", 0.5), "float32 bits"]
    np.int64(65536)
    """
    import pandas as pd

    return pd.DataFrame([{
        "split": r.split, "sparsity": r.sparsity, "accuracy (%)": 100 * r.accuracy,
        "± sd": None if seed_spread(r) is None else 100 * seed_spread(r),   # the seeds' spread
        "device MACs (M)": r.device_macs / 1e6, "device params (k)": r.device_params / 1e3,
        "feature": "x".join(map(str, r.extra["feature_shape"])),
        "float32 bits": int(r.bits_per_image), "8-bit bits": r.extra["feature_bits_8bit"],
        "server MACs (M)": r.server_macs / 1e6} for r in records]).set_index(["split", "sparsity"])


@figure_style
def fig_channel_norms(scores, masks, ax=None, groups=("layer2_1.conv1", "layer2_0")):
    """Figure 2.1: the l2 norm of every output channel of two channel groups; masked ones grey.

    Parameters
    ----------
    scores : dict of str to torch.Tensor
        Per channel group, the norms before masking (:func:`coinfer.core.pruning.channel_scores`).
    masks : dict of str to torch.Tensor
        Per channel group, True where a channel is kept (an ``IncrementalPruner``'s ``masks``).
    ax : sequence of two matplotlib Axes, optional
        Draw here; a new figure is made otherwise.
    groups : pair of str
        The two groups to show; the last one is the stream that is sent.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import torch
    >>> from coinfer.views.pruning import fig_channel_norms
    >>> scores = {"a": torch.tensor([1.0, 3.0]), "b": torch.tensor([2.0, 0.5])}
    >>> masks = {"a": torch.tensor([False, True]), "b": torch.tensor([True, False])}
    >>> len(fig_channel_norms(scores, masks, groups=("a", "b")).axes)
    2
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10, 3), constrained_layout=True)
    for a, group in zip(ax, groups):
        s, keep = np.asarray(scores[group]), np.asarray(masks[group])
        a.bar(np.arange(len(s)), s, color=np.where(keep, PALETTE["blue"], "lightgray"))
        a.set(title=f"group {group} ({'sent' if group == groups[-1] else 'free'})",
              xlabel="output channel", ylabel="l2 norm of the channel's weights")
        a.set_ylim(0, 1.3 * s.max())
    ax[0].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=PALETTE["blue"]), plt.Rectangle((0, 0), 1, 1, color="lightgray")],
                 labels=["kept", "masked (smallest 50%)"], fontsize=8, ncol=2, loc="upper left")
    rows = [{"group": g, "channel": i, "l2_norm": float(v), "kept": bool(k)}
            for g in groups for i, (v, k) in enumerate(zip(np.asarray(scores[g]), np.asarray(masks[g])))]
    counts = "; ".join(f"group {g}: {sum(not r['kept'] for r in rows if r['group'] == g)} of "
                       f"{sum(r['group'] == g for r in rows)} channels masked" for g in groups)
    alt = (f"Two bar charts, one per channel group ({', '.join(groups)}; the last is the feature that is sent): "
           f"the l2 norm of each output channel's weights (y) against the channel index (x); kept channels in "
           f"blue, masked ones in light grey. The masked channels are those with the smallest norms ({counts}).")
    return publish(ax[0].figure, "channel-norms", alt=alt, rows=rows,
                   caption="Channel norms and the masks of one pruning step")


@figure_style
def fig_schedule(table=None, ax=None, target: float = 0.75, presets=("quick", "paper")):
    """Figure 2.2: the sparsity over training of the three schedules, for each preset's settings.

    Parameters
    ----------
    table : ignored
        The schedules come from the presets' pruning settings, not from a table (kept so that every
        figure is called the same way).
    ax : sequence of matplotlib Axes, optional
        One per preset; a new figure is made otherwise.
    target : float
        The target sparsity.
    presets : sequence of str
        The presets to draw, one panel each.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.views.pruning import fig_schedule
    >>> [len(a.get_lines()) for a in fig_schedule().axes]
    [3, 3]
    """
    import matplotlib.pyplot as plt

    from coinfer.config import get_preset
    from coinfer.core.pruning import SparsitySchedule, sparsity_schedule

    if ax is None:
        _, ax = plt.subplots(1, len(presets), figsize=(10, 3.2), constrained_layout=True)
    rows, totals = [], {}
    for a, name in zip(ax, presets):
        config = get_preset(name).pruning
        steps_per_epoch = (config.train_limit or {"quick": 60_000, "paper": 50_000}[name]) // config.batch_size
        total = config.epochs * steps_per_epoch
        for kind, style in [("cubic", "-"), ("linear", "--"), ("constant", ":")]:
            sched = SparsitySchedule(kind, config.schedule.ramp_fraction, config.schedule.interval)
            steps, values = zip(*sparsity_schedule(target, total, sched))
            a.step(steps, values, where="post", linestyle=style, label=kind)
            rows += [{"preset": name, "schedule": kind, "step": s, "sparsity": v} for s, v in zip(steps, values)]
            totals[name] = total
        a.set(title=f"{name} preset: {total:,} steps, a new mask every {config.schedule.interval} steps",
              xlabel="training step (batches)", ylabel=f"channel sparsity (target {target:g})", ylim=(0, 0.8))
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    steps = ", ".join(f"{n}: {t:,} training steps" for n, t in totals.items())
    alt = (f"{len(totals)} step charts, one per preset ({steps}): "
           f"the channel sparsity (y, 0 to 0.8) against the training step (x) under three schedules with "
           f"target {target:g}. Cubic (solid) rises fast and levels off near the target, linear (dashed) rises "
           f"evenly, constant (dotted) is at the target from the first step; each reaches the target part-way "
           f"through training and stays there for fine-tuning.")
    return publish(ax[0].figure, "pruning-schedule", alt=alt, rows=rows,
                   caption=f"Sparsity schedules towards a target of {target:g}")


@figure_style
def fig_pruning_results(table, ax=None, threshold: float | None = None):
    """Figure 2.3: test accuracy, device MACs and bits sent against the channel sparsity, per split point.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        From ``python -m coinfer prune``.
    ax : sequence of three matplotlib Axes, optional
        Draw here; a new figure is made otherwise.
    threshold : float, optional
        The accuracy threshold (a fraction) drawn as a dashed line; default the table's
        (:func:`coinfer.results.table_threshold`).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the table has no ``framework-pruned`` records, a split point misses a sparsity the
        others have (the missing pairs are named), or none is unpruned (sparsity 0).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import fig_pruning_results
    >>> fig = fig_pruning_results(load_table(results_dir() / "pruning_quick.json"))
    >>> fig.axes[1].get_yscale()
    'log'
    """
    import matplotlib.pyplot as plt

    records = _full_grid(table)
    if ax is None:
        _, ax = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
    for k, s in enumerate(_splits(records)):
        rs = [r for r in records if r.split == s]
        sp = [r.sparsity for r in rs]
        line = f"{MARKERS[k % len(MARKERS)]}-"
        # Test accuracy, the mean over the table's seeds; the bars are one standard deviation.
        ax[0].errorbar(sp, [100 * r.accuracy for r in rs], yerr=[100 * (r.accuracy_std or 0) for r in rs],
                       fmt=line, capsize=3, label=f"split after {s}")
        ax[1].plot(sp, [r.device_macs / 1e6 for r in rs], line, label=f"split after {s}")
        ax[2].plot(sp, [r.bits_per_image for r in rs], line, label=f"split after {s}")
    if threshold is None:
        threshold = table_threshold(table)
    drop = table.provenance.accuracy_drop
    ax[0].axhline(100 * threshold, color="gray", linestyle="--", label=f"threshold: baseline - {drop:g} points")
    # The baseline fine-tuned by the same recipe, nothing pruned (its own record; older tables kept
    # its accuracy in the sparsity-0 records' extra).
    controls = table.select(method="fine-tuned-control")
    control = controls[0].accuracy if controls else records[0].extra.get("fine_tuned_control_accuracy")
    spread = controls[0].accuracy_std if controls else None
    if control is not None:
        style = method_style("fine-tuned-control")
        ax[0].errorbar([0], [100 * control], yerr=None if spread is None else [100 * spread], fmt=style.marker,
                       markersize=12, color=style.color, capsize=3, label=style.label)
    seeds = max(r.seeds for r in records)
    ax[0].set(xlabel="channel sparsity of the device part",
              ylabel="test accuracy (%)" + (f", mean ± std of {seeds} seeds" if seeds > 1 else ""))
    ax[1].set(xlabel="channel sparsity of the device part", ylabel="device computation (M MACs per image)",
              yscale="log")
    ax[2].set(xlabel="channel sparsity of the device part", ylabel="bits sent per image (float32)", yscale="log")
    for a in ax:
        a.grid(alpha=0.3)
    ax[0].legend(fontsize=8)
    return publish(ax[0].figure, "pruning-results", alt=_pruning_alt(records, threshold), table=table,
                   caption="Accuracy, device MACs and bits against the sparsity")


def _pruning_alt(records, threshold: float) -> str:
    """What Figure 2.3 shows, from its records: per split point, from sparsity 0 to the largest."""
    parts = []
    for s in _splits(records):
        rs = [r for r in records if r.split == s]
        first, last = rs[0], rs[-1]
        parts.append(f"after {s}, sparsity {last.sparsity:g} keeps {100 * last.device_macs / first.device_macs:.0f}% "
                     f"of the MACs and {100 * last.bits_per_image / first.bits_per_image:.0f}% of the bits, accuracy "
                     f"{100 * first.accuracy:.1f}% to {100 * last.accuracy:.1f}%")
    return (f"Three line charts against the channel sparsity of the device part (x), one line per split point "
            f"({', '.join(_splits(records))}): test accuracy in percent with the threshold "
            f"{100 * threshold:.2f}% as a dashed line, device computation in millions of MACs (log scale) and "
            f"float32 bits sent per image (log scale). Pruning cuts computation and bits together and costs "
            f"accuracy, more at deeper split points: " + "; ".join(parts) + ".")


def _profile(table):
    from coinfer.config import get_preset
    from coinfer.core.costs import profile_splits
    from coinfer.core.network import resnet18

    return profile_splits(resnet18(width=get_preset(table.provenance.preset).width))


@figure_style
def fig_pruning_plane(table, ax=None, rows=None):
    """Figure 2.4: the pruned split points at each sparsity on the communication-computation plane.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        From ``python -m coinfer prune``.
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure is made otherwise.
    rows : list of coinfer.core.costs.SplitProfile, optional
        The unpruned network's split points; default: profiled at the table's preset's width.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the table has no ``framework-pruned`` records, a split point misses a sparsity the
        others have (the missing pairs are named), or none is unpruned (sparsity 0).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import fig_pruning_plane
    >>> fig_pruning_plane(load_table(results_dir() / "pruning_quick.json")).axes[0].get_yscale()
    'log'
    """
    from coinfer.config import get_preset
    from coinfer.views.plane import add_curve, free_colors, plot_comm_comp_plane, raw_input_line

    preset = get_preset(table.provenance.preset)
    rows = _profile(table) if rows is None else rows
    records = _full_grid(table)
    splits = _splits(records)
    shape, name = _IMAGE[preset.dataset]
    ax = plot_comm_comp_plane(rows, [raw_input_line(shape, name)], ax=ax,
                              label=f"original network, width {preset.width:g} (float32 features)")
    sparsities = sorted({r.sparsity for r in records if r.sparsity > 0})
    colors = free_colors(ax)          # none of the original curve's, the input line's or the stars'
    for k, sp in enumerate(sparsities):
        rs = [next(r for r in records if r.split == s and r.sparsity == sp) for s in splits]
        add_curve(ax, [r.device_macs for r in rs], [r.bits_per_image for r in rs], color=colors[k % len(colors)],
                  label=f"pruned, sparsity {sp:.2f} (accuracy {', '.join(f'{100 * r.accuracy:.1f}' for r in rs)} %)",
                  marker="s", linestyle="--", annotations=[s if k == len(sparsities) - 1 else "" for s in splits])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title(f"Pruned device parts on the plane ({preset.name} preset)", fontsize=11)
    deepest = [r for r in records if r.sparsity == sparsities[-1]] if sparsities else []
    alt = (f"Communication-computation plane: device computation in MACs per image (x) against bits sent per "
           f"image (y, log scale). The unpruned network's split points form the upper curve; squares on dashed "
           f"lines, one colour per sparsity ({', '.join(f'{s:g}' for s in sparsities)}), mark the pruned split "
           f"points ({', '.join(splits)}), "
           f"and a dashed line the raw image ({name}). Every sparsity step moves the points left and down"
           + (f"; at sparsity {sparsities[-1]:g} they keep {_share_range(records, deepest)} of their bits"
              if deepest else "") + ".")
    return publish(ax.figure, "pruning-plane", alt=alt, table=table, caption="The pruned split points on the plane")


def _share_range(records, deepest) -> str:
    shares = [100 * r.bits_per_image / next(u for u in records if u.split == r.split and u.sparsity == 0).bits_per_image
              for r in deepest]
    low, high = f"{min(shares):.0f}%", f"{max(shares):.0f}%"
    return low if low == high else f"{low} to {high}"


def pruning_summary(table) -> list[str]:
    """Per split point (two lines each): what the highest sparsity keeps of its MACs and bits, and its accuracy.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        From ``python -m coinfer prune``.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        If the table has no ``framework-pruned`` records, a split point misses a sparsity the
        others have (the missing pairs are named), or none is unpruned (sparsity 0).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_summary
    >>> print(pruning_summary(load_table(results_dir() / "pruning_quick.json"))[1])
     layer2.1 at sparsity 0.75:  8.0% of the MACs, 25.0% of the bits
              ( 5.2 x the raw image), accuracy 83.4% (unpruned 91.0%)
    """
    from coinfer.config import get_preset

    records = _full_grid(table)
    raw_bits = 8 * math.prod(_IMAGE[get_preset(table.provenance.preset).dataset][0])   # uint8 pixels
    top = max(r.sparsity for r in records)
    lines = []
    for s in _splits(records):
        base = next(r for r in records if r.split == s and r.sparsity == 0)
        most = next(r for r in records if r.split == s and r.sparsity == top)
        lines.append(f"{s:>9} at sparsity {top:.2f}: {most.device_macs / base.device_macs:5.1%} of the MACs, "
                     f"{most.bits_per_image / base.bits_per_image:5.1%} of the bits\n"
                     f"{'':>9} ({most.bits_per_image / raw_bits:4.1f} x the raw image), accuracy "
                     f"{100 * most.accuracy:.1f}% (unpruned {100 * base.accuracy:.1f}%)")
    return lines


# --------------------------------------------------------------------------------------------
# The sparsity explorer: one readout, precomputed for the page and live with a kernel
# --------------------------------------------------------------------------------------------

def pruning_data(records, rows, bits_per_element: int = 32) -> dict:
    """The JSON-able numbers behind the sparsity explorers.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations (method ``"framework-pruned"``), several split points and sparsities,
        e.g. ``load_table("data/results/pruning_quick.json").records``.
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points (:func:`coinfer.core.costs.profile_splits`), drawn as the
        original curve.
    bits_per_element : {32, 8}
        32: ``bits_per_image`` of the records (float32 features); 8: their ``extra["feature_bits_8bit"]``.

    Returns
    -------
    dict
        ``splits`` and ``sparsities`` (the grid's axes), ``grid[k][j]`` (accuracy as a fraction,
        device MACs and parameters, bits per image at sparsity ``k`` and split ``j``), ``original``
        (the unpruned curve as ``[MACs, bits]`` pairs) and ``bits_per_element``.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_records
    >>> records = pruning_records(load_table(results_dir() / "pruning_quick.json"))   # chapter 2's
    >>> rows = profile_splits(resnet18(width=1 / 8))
    >>> from coinfer.views.pruning import pruning_data
    >>> data = pruning_data(records, rows)
    >>> data["splits"], data["sparsities"]
    (['layer1.1', 'layer2.1', 'layer3.1'], [0.0, 0.25, 0.5, 0.75])
    """
    if bits_per_element not in (8, 32):
        raise ValueError(f"bits_per_element must be 8 or 32, got {bits_per_element!r}")
    records = list(records)
    if not records:
        raise ValueError("no pruned records to explore")
    splits = [r.point for r in rows if any(rec.split == r.point for rec in records)]
    _check_grid(records, splits)
    sparsities = sorted({round(rec.sparsity, 6) for rec in records})
    by_key = {(rec.split, round(rec.sparsity, 6)): rec for rec in records}

    def bits(rec):
        return rec.bits_per_image if bits_per_element == 32 else rec.extra["feature_bits_8bit"]

    grid = [[{"accuracy": by_key[(s, p)].accuracy, "device_macs": by_key[(s, p)].device_macs,
              "device_params": by_key[(s, p)].device_params, "bits": bits(by_key[(s, p)])}
             for s in splits] for p in sparsities]
    original = [[r.device_macs, r.feature_elements * bits_per_element] for r in rows[1:-1]]
    return {"splits": splits, "sparsities": sparsities, "grid": grid, "original": original,
            "bits_per_element": bits_per_element}




_SPLIT_COLORS = (PALETTE["vermillion"], PALETTE["green"], PALETTE["purple"], PALETTE["black"], PALETTE["sky"])


def _pruning_view(records, rows, bits_per_element, sparsity) -> dict:
    data = pruning_data(records, rows, bits_per_element)
    values = data["sparsities"]
    original, pruned = hex_color(method_style("original").color), hex_color(PALETTE["orange"])

    def readout(state):
        k = values.index(state["sparsity"])
        row, html, highlight = data["grid"][k], {}, []
        for j, s in enumerate(data["splits"]):
            c, base = row[j], data["grid"][0][j]
            html[f"p{j}"] = (f"test accuracy <b>{format_fixed(100 * c['accuracy'], 2)}%</b> &middot; device <b>"
                             f"{format_fixed(c['device_macs'] / 1e6, 3)} M MACs</b> "
                             f"({format_fixed(100 * c['device_macs'] / base['device_macs'], 0)}%) &middot; sends <b>"
                             f"{format_int(c['bits'])} bits</b> ({format_fixed(100 * c['bits'] / base['bits'], 0)}%)")
            highlight.append({"x": c["device_macs"], "y": c["bits"], "label": s,
                              "color": _SPLIT_COLORS[j % len(_SPLIT_COLORS)]})
        return {"html": html, "plot": {
            "series": [{"label": "original network, every split point", "points": data["original"], "color": original},
                       {"label": f"pruned, sparsity {format_fixed(values[k], 2)}", "color": pruned, "dash": "4 3",
                        "points": [[c["device_macs"], c["bits"]] for c in row]}],
            "highlight": highlight}}

    start = values[-1] if sparsity is None else min(values, key=lambda v: abs(v - sparsity))
    return dict(sliders=[Slider("sparsity", "channel sparsity", values=values, value=start,
                                labels=[f"{100 * v:.0f}%" for v in values])],
                readout=readout, readouts=[(f"p{j}", f"split after {s}") for j, s in enumerate(data["splits"])],
                plot=Plot(xlabel="device computation (MACs per image)",
                          ylabel=f"bits sent per image ({bits_per_element}-bit features)", logx=True, logy=True))


def pruning_twin(records, rows, bits_per_element: int = 32, sparsity: float | None = None, note: str = ""):
    """Kernel-free sparsity explorer (precomputed): a slider over the recorded sparsities.

    For each split point of the records: test accuracy, device MACs and bits sent (and their
    fraction of the unpruned values); the communication-computation plane with the original curve
    and the pruned points. :func:`pruning_explorer` shows the same with a kernel.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations, every split point at every sparsity (as for :func:`pruning_data`).
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points.
    bits_per_element : {32, 8}
        Float32 or 8-bit features.
    sparsity : float, optional
        Initial slider position (the nearest recorded sparsity; default the largest).
    note : str
        Small print under the explorer (e.g. the table's provenance).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_records
    >>> records = pruning_records(load_table(results_dir() / "pruning_quick.json"))   # chapter 2's
    >>> from coinfer.views.pruning import pruning_twin
    >>> twin = pruning_twin(records, profile_splits(resnet18(width=1 / 8)), sparsity=0.5)
    >>> 'data-slider="sparsity"' in twin.html
    True
    """
    twin = precomputed_explorer(
        **_pruning_view(records, rows, bits_per_element, sparsity),
        title="Sparsity explorer (runs in the page, no kernel)",
        note=note or ("MACs = multiply-accumulates (FLOPs = 2 x MACs), thop on the compacted device part; "
                      "percentages relative to the unpruned network."))
    return with_downloads(twin, "sparsity-explorer", rows=records, provenance={"description": note} if note else None)


def pruning_explorer(records, rows, bits_per_element: int = 32, sparsity: float | None = None):
    """ipywidgets sparsity explorer for Jupyter/Colab: the readouts and plane of :func:`pruning_twin`, live.

    Parameters
    ----------
    records : sequence of coinfer.results.Record
        Pruned configurations, every split point at every sparsity.
    rows : list of coinfer.core.costs.SplitProfile
        The unpruned network's split points.
    bits_per_element : {32, 8}
        Float32 or 8-bit features.
    sparsity : float, optional
        Initial slider position (default the largest recorded sparsity).

    Returns
    -------
    ipywidgets.VBox
        The slider and the HTML area it redraws.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.paths import results_dir
    >>> from coinfer.core.costs import profile_splits
    >>> from coinfer.results import load_table
    >>> from coinfer.views.pruning import pruning_records
    >>> records = pruning_records(load_table(results_dir() / "pruning_quick.json"))   # chapter 2's
    >>> from coinfer.views.pruning import pruning_explorer
    >>> box = pruning_explorer(records, profile_splits(resnet18(width=1 / 8)))   # display(box) in Jupyter
    >>> len(box.children)
    2
    """
    return live_explorer(**_pruning_view(records, rows, bits_per_element, sparsity))
