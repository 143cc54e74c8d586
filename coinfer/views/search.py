"""The search chapter's figure (book/08_search.md): how many trainings the front costs.

Takes the replay result that ``python -m coinfer search --replay`` writes
(``coinfer.experiments.search.replay``, a plain dict), so that this view imports no experiment.
"""

from __future__ import annotations

#: One colour and label per sampler of the replay.
SAMPLER_STYLE = {"tpe": ("TPE", "#1f77b4"), "nsga2": ("NSGA-II", "#2ca02c"), "random": ("random search", "#7f7f7f"),
                 "gp": ("Gaussian process", "#9467bd")}


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
    for name, summary in replay["summary"].items():
        label, colour = SAMPLER_STYLE.get(name, (name, None))
        curve = summary["fraction_by_trainings"]
        mean = [100 * v for v in curve["mean"]]
        std = [100 * v for v in curve["std"]]
        ax.plot(x, mean, color=colour, label=f"{label} (mean of {summary['runs']} seeds)")
        ax.fill_between(x, [m - s for m, s in zip(mean, std)], [min(100, m + s) for m, s in zip(mean, std)],
                        color=colour, alpha=0.15, linewidth=0)
    ax.step(x, [100 * v for v in replay["grid"]["grid_order_fraction_by_trainings"]], where="post", color="black",
            linestyle=":", label="the sweep, in its cell order")
    ax.axhline(100 * target, color="tab:red", linewidth=0.8, linestyle="--")
    ax.text(n_grid / 3 + 1.5, 100 * target - 2, f"{target:.0%} of the grid's hypervolume", color="tab:red", fontsize=8)
    ax.axvline(n_grid, color="black", linewidth=1)
    ax.text(n_grid - 0.3, 70, f"the grid: {n_grid} trainings", rotation=90, ha="right", fontsize=8)
    ax.axvline(n_grid / 3, color="black", linewidth=0.8, linestyle="--")
    ax.text(n_grid / 3 + 0.3, 70, "a third", rotation=90, fontsize=8)
    ax.set_xlim(0, n_grid + 0.5)
    ax.set_ylim(60, 101)
    ax.set_xlabel("trainings (configurations trained)")
    ax.set_ylabel("hypervolume found (% of the grid's)")
    ax.legend(loc="lower right", fontsize=8)
    return ax.figure
