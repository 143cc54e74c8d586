"""The search chapter's figure (book/08_search.md): how many trainings the front costs.

Takes the replay result that ``python -m coinfer search --replay`` writes
(``coinfer.experiments.search.replay``, a plain dict), so that this view imports no experiment.
"""

from __future__ import annotations

from coinfer.views.publish import publish
from coinfer.views.style import PALETTE, figure_style

#: One colour and label per sampler of the replay.
SAMPLER_STYLE = {"tpe": ("TPE", "#0072b2"), "nsga2": ("NSGA-II", "#009e73"), "random": ("random search", "#7f7f7f"),
                 "gp": ("Gaussian process", "#cc79a7")}


@figure_style
def fig_search(replay: dict | None = None, ax=None):
    """Hypervolume of the found front against trainings: mean and spread per sampler, beside the grid.

    Parameters
    ----------
    replay : dict, optional
        The replay result (``data/results/search/replay_<preset>.json``); default the committed
        quick preset's (what ``python -m coinfer figure search`` draws).
    ax : matplotlib.axes.Axes, optional
        Drawn into a new figure when missing.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import json
    >>> from coinfer.paths import search_replay_path
    >>> from coinfer.views.search import fig_search
    >>> fig = fig_search(json.loads(search_replay_path("quick").read_text()))
    >>> fig.axes[0].get_xlabel()
    'trainings (configurations trained)'
    """
    import matplotlib.pyplot as plt

    if replay is None:
        import json

        from coinfer.paths import search_replay_path

        replay = json.loads(search_replay_path("quick").read_text())
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    n_grid = replay["grid"]["trainings"]
    target = replay["settings"]["target"]
    x = list(range(n_grid + 1))
    colours = {}           # per sampler: its line's colour (the cycle's next for one not in SAMPLER_STYLE)
    for name, summary in replay["summary"].items():
        label, colour = SAMPLER_STYLE.get(name, (name, None))
        curve = summary["fraction_by_trainings"]
        mean = [100 * v for v in curve["mean"]]
        std = [100 * v for v in curve["std"]]
        (line,) = ax.plot(x, mean, color=colour, label=f"{label} (mean of {summary['runs']} seeds)")
        colours[name] = line.get_color()
        ax.fill_between(x, [m - s for m, s in zip(mean, std)], [min(100, m + s) for m, s in zip(mean, std)],
                        color=colours[name], alpha=0.15, linewidth=0)
    # Where the studies stopped (the replay's own stopping rule): mean trainings and hypervolume there.
    patience, stops = replay["settings"].get("patience"), {}
    for name, summary in replay["summary"].items() if patience else ():
        trainings = summary["stopping"][str(patience)]["trainings"]
        found = [100 * r["final_fraction"] for r in replay["runs"] if r["sampler"] == name]
        stops[name] = (trainings["mean"], sum(found) / len(found))
        label = f"stop: {patience} idle trials (mean, std)" if len(stops) == 1 else None
        ax.errorbar(*stops[name], xerr=trainings["std"], fmt="o", color=colours[name],
                    capsize=3, markersize=5, label=label)
    ax.step(x, [100 * v for v in replay["grid"]["grid_order_fraction_by_trainings"]], where="post", color="black",
            linestyle=":", label="the sweep, in its cell order")
    ax.axhline(100 * target, color=PALETTE["vermillion"], linewidth=0.8, linestyle="--")
    ax.text(n_grid / 3 + 1.5, 100 * target - 2, f"{target:.0%} of the grid's hypervolume", color=PALETTE["vermillion"], fontsize=8)
    ax.axvline(n_grid, color="black", linewidth=1)
    ax.text(n_grid - 0.3, 78, f"the grid: {n_grid} trainings", rotation=90, ha="right", va="bottom", fontsize=8)
    ax.axvline(n_grid / 3, color="black", linewidth=0.8, linestyle="--")
    ax.text(n_grid / 3 + 0.3, 70, "a third", rotation=90, fontsize=8)
    ax.set_xlim(0, n_grid + 0.5)
    ax.set_ylim(60, 101)
    ax.set_xlabel("trainings (configurations trained)")
    ax.set_ylabel("hypervolume found (% of the grid's)")
    ax.legend(loc="lower right", fontsize=8)
    rows = [{"sampler": name, "trainings": n, "mean_fraction": m, "std_fraction": s}
            for name, summary in replay["summary"].items()
            for n, (m, s) in enumerate(zip(summary["fraction_by_trainings"]["mean"], summary["fraction_by_trainings"]["std"]))]
    rows += [{"sampler": "grid order", "trainings": n, "mean_fraction": v, "std_fraction": 0.0}
             for n, v in enumerate(replay["grid"]["grid_order_fraction_by_trainings"])]
    means = "; ".join(f"{SAMPLER_STYLE.get(k, (k,))[0]}: {s['trainings_to_target']['mean']:.1f}"
                      for k, s in replay["summary"].items() if "trainings_to_target" in s)
    alt = (f"Line chart: the share of the grid's hypervolume found (y, percent, 60 to 100) against the number of "
           f"configurations trained (x, 0 to {n_grid}), per sampler as the mean over seeds with one standard "
           f"deviation shaded, and the sweep in its own cell order as a dotted step line; a dashed line marks "
           f"{target:.0%}, vertical lines the whole grid and a third of it. Mean trainings to {target:.0%}: "
           f"{means}." + (" Circles with horizontal bars mark where the studies stop, mean trainings and hypervolume "
                          "there: " + "; ".join(f"{SAMPLER_STYLE.get(k, (k,))[0]} {t:.1f} trainings, {f:.1f} %"
                                                for k, (t, f) in stops.items()) + "." if stops else ""))
    return publish(ax.figure, "search", alt=alt, rows=rows, provenance=replay.get("provenance"),
                   caption="Hypervolume found against trainings, per sampler")
