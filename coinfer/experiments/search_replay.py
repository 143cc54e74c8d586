"""Replaying the configuration search on a finished sweep table: how many trainings the front costs.

The committed sweep table (:mod:`coinfer.experiments.sweep`) is the oracle: a trial's outcome is the
table's record for its configuration (``ReplayObjective``), so a study of hundreds of trials costs
seconds and trains nothing. The score is the **hypervolume** of the feasible front found so far,
in (log10 device MACs, log10 bits per image[, log10 server MACs]: the study's objectives), as a
share of the hypervolume of every feasible record of the table (the brute-force grid's front).

Feasible means: validation accuracy at or above the threshold on the validation split (the
baseline's validation accuracy less the preset's drop). A table made before the validation split
has no ``val_accuracy``; the replay then judges its records by their **test accuracy** against the
test threshold (``search_checks.TEST_FALLBACK``), says so in its output (``settings.accuracy_source``,
``warning``) and prints the warning. ``replay`` runs TPE, NSGA-II and random search
over several sampler seeds and counts the trainings each needs to reach 95 % of it and the whole
front. A study runs as a live one would (``search_study.optimize``): until the sampler has converged
(``search_study.PATIENCE`` trials in a row that train nothing), has trained as many cells as the grid
has, or ``REPLAY_TRIALS`` trials. What a search costs at equal front quality is what it trains
before it **stops**, not before it happens on the front's last point (which it cannot know): per
stopping rule (``REPLAY_PATIENCES``, read off the same runs by ``stop_point``) the summary gives the
trainings at the stop and how many seeds had the whole front by then::

    python -m coinfer search --preset quick --replay     # -> data/results/search/replay_quick.json

``coinfer.views.search.fig_search`` draws the result (book/08_search.md).
"""

from __future__ import annotations

import math
import time
from typing import Callable

from coinfer.experiments.search import Objective, readable_key
from coinfer.experiments.search_study import PATIENCE, _optuna, open_study, optimize
from coinfer.experiments.search_checks import OBJECTIVES, TEST_FALLBACK, constraint_accuracy
from coinfer.results import LookupTable, Record
from coinfer.results_origin import git_commit, hardware, utc_now
from coinfer.stats import selection_threshold

#: Replay settings: the most trials per study (repeats and rejections are free; a converged sampler
#: stops sooner), samplers and their seeds, and the stopping rules summarised (patiences, at most the
#: replay's own).
REPLAY_TRIALS = 2000
REPLAY_PATIENCES = (25, 50, 100)
REPLAY_SAMPLERS = ("tpe", "nsga2", "random")
REPLAY_SEEDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
REPLAY_SCHEMA = "coinfer.search-replay"
#: The hypervolume's reference point lies this many decades beyond the worst feasible record.
REFERENCE_MARGIN = 0.1


class ReplayObjective(Objective):
    """The committed table as an oracle: a configuration's outcome is its record in ``table``.

    The first time a study meets a configuration counts as a training (``trained``), later times
    are free (the study's completed trial is reused), as cached cells are in a live search; a
    configuration the table lacks is pruned. ``delay_s`` sleeps that long per training, to rehearse
    a multi-worker run whose trainings take time. ``table`` must hold the preset's grid
    (``check_grid``).
    """

    def __init__(self, preset, table: LookupTable, delay_s: float = 0.0, log: Callable = print, **kwargs):
        check_grid(preset, table)
        super().__init__(preset, selection_threshold(table), log, **kwargs)
        self.records = {r.extra["cell"].rsplit("_", 1)[0]: r for r in table.records if "cell" in r.extra}
        self.delay_s = delay_s

    def cached(self, config):
        return None

    def compute(self, config, trial=None):
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.records.get(readable_key(*config))


def check_grid(preset, table: LookupTable) -> None:
    """Refuse ``table`` as an oracle unless its records are the cells of ``preset``'s sweep grid.

    Records and cells are matched by name (``readable_key_of``: the cell id without its settings
    hash), once each: a trial is answered by the record of its name, and the grid's trainings and
    front are counted over every record, so a table of another grid (or with a record twice, or one
    without a cell id) would give meaningless numbers.

    Parameters
    ----------
    preset : coinfer.config.Preset
    table : LookupTable

    Raises
    ------
    ValueError
        Naming the grid's cells the table lacks and the records it has beyond them.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import LookupTable, load_table
    >>> from coinfer.experiments.search_replay import check_grid
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> check_grid(get_preset("quick"), table)
    >>> check_grid(get_preset("quick"), LookupTable(table.provenance, table.records[1:]))
    Traceback (most recent call last):
    ...
    ValueError: the table is not the sweep grid of preset 'quick' (...): it lacks 1 of the grid's 85 cells (png_input_s0_png) and has 0 records beyond them (none); ...
    """
    from collections import Counter

    from coinfer.experiments.sweep import cells

    grid = Counter(cell.id.rsplit("_", 1)[0] for cell in cells(preset))
    held = Counter(readable_key_of(r) for r in table.records)

    def names(counts: Counter) -> str:
        listed = sorted(counts.elements())
        return ", ".join(listed[:6]) + (f", ... {len(listed) - 6} more" if len(listed) > 6 else "")

    missing, extra = grid - held, held - grid
    if missing or extra:
        raise ValueError(f"the table is not the sweep grid of preset {preset.name!r} (its command: "
                         f"{table.provenance.command}): it lacks {sum(missing.values())} of the grid's "
                         f"{sum(grid.values())} cells ({names(missing) or 'none'}) and has {sum(extra.values())} "
                         f"records beyond them ({names(extra) or 'none'}); give the grid's own sweep table (or the "
                         "--grid and --set it was made with)")


# --------------------------------------------------------------------------------------------
# Replay: the committed sweep table as an oracle, hypervolume against trainings
# --------------------------------------------------------------------------------------------

def log_objectives(record: Record, objectives=OBJECTIVES) -> tuple[float, ...]:
    """log10 of each objective of ``record``, floored at 1 (PNG's device runs 0 MACs).

    Parameters
    ----------
    record : Record
    objectives : sequence of str
        Record fields (``search_checks.OBJECTIVE_NAMES``).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> from coinfer.results import Record
    >>> from coinfer.experiments.search_replay import log_objectives
    >>> log_objectives(Record("png", "input", 0.9, 0, 0, 9_180_864, 4_000))
    (0.0, 3.6020599913279625)
    """
    return tuple(math.log10(max(getattr(record, name), 1)) for name in objectives)


def hypervolume(points: list[tuple[float, ...]], reference: tuple[float, ...]) -> float:
    """The volume that ``points`` dominate below ``reference`` (any number of objectives, all minimised).

    Exact, by slicing along the last objective: between consecutive levels of it, the dominated
    region's cross-section is the hypervolume of the points at or below the level in the other
    objectives (two objectives: a sweep). Enough for the tens of points a grid has.

    Parameters
    ----------
    points : list of tuple of float
    reference : tuple of float
        Worse than every point of interest in every objective.

    Returns
    -------
    float

    Examples
    --------
    >>> from coinfer.experiments.search_replay import hypervolume
    >>> hypervolume([(1, 3), (2, 1), (3, 3)], (4, 4))
    7.0
    >>> hypervolume([(1, 3, 0), (2, 1, 0), (3, 3, 0)], (4, 4, 2)), hypervolume([(0, 0, 1), (1, 1, 0)], (2, 2, 2))
    (14.0, 5.0)
    """
    points = [tuple(p) for p in points if all(v < r for v, r in zip(p, reference))]
    if not points:
        return 0.0
    if len(reference) == 2:
        area, best = 0.0, reference[1]
        for x, y in sorted(points):
            if y < best:
                area += (reference[0] - x) * (best - y)
                best = y
        return area
    levels = sorted({p[-1] for p in points}) + [reference[-1]]
    return sum((top - level) * hypervolume([p[:-1] for p in points if p[-1] <= level], reference[:-1])
               for level, top in zip(levels, levels[1:]))


def feasible_records(table: LookupTable) -> list[Record]:
    """The records of ``table`` whose constraint accuracy (``search_checks.constraint_accuracy``: the
    validation accuracy, else the test accuracy) reaches the threshold on the same split
    (``coinfer.stats.selection_threshold``: the baseline's validation accuracy less the drop)."""
    threshold = selection_threshold(table)
    return [r for r in table.records if constraint_accuracy(r)[0] >= threshold]


def accuracy_source(table: LookupTable) -> str:
    """``"val"`` if every record of ``table`` has a validation accuracy, else ``search_checks.TEST_FALLBACK``."""
    return "val" if all(constraint_accuracy(r)[1] == "val" for r in table.records) else TEST_FALLBACK


def grid_reference(table: LookupTable, objectives=OBJECTIVES) -> tuple[tuple[float, ...], list[Record]]:
    """The hypervolume's reference point and the feasible records of ``table``.

    Feasible: ``feasible_records``. The reference lies ``REFERENCE_MARGIN`` decades beyond the
    worst feasible record in each objective.

    Parameters
    ----------
    table : LookupTable
    objectives : sequence of str

    Returns
    -------
    reference, feasible

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.experiments.search_replay import grid_reference
    >>> reference, feasible = grid_reference(load_table(results_dir() / "sweep_quick.json"))
    >>> [round(v, 2) for v in reference], len(feasible)
    ([7.08, 4.69], 32)
    """
    feasible = feasible_records(table)
    logs = [log_objectives(r, objectives) for r in feasible]
    reference = tuple(max(column) + REFERENCE_MARGIN for column in zip(*logs))
    return reference, feasible


def trace(study, reference: tuple[float, ...], objectives=OBJECTIVES) -> list[dict]:
    """Per trial, in order: trainings so far and the hypervolume of the feasible front found so far.

    Feasible: the trial's constraint holds (``Objective`` set it).

    Parameters
    ----------
    study : optuna.Study
    reference : tuple of float
        In log10 units (``grid_reference``).
    objectives : sequence of str

    Returns
    -------
    list of dict
        ``{"trial", "trainings", "hypervolume", "cell"}``.
    """
    optuna = _optuna()
    found: list[tuple[float, ...]] = []
    out, trainings = [], 0
    for t in sorted(study.trials, key=lambda t: t.number):
        trainings += bool(t.user_attrs.get("trained"))
        if t.state == optuna.trial.TrialState.COMPLETE:
            if all(v <= 0 for v in t.constraints.values()):
                found.append(log_objectives(Record.from_dict(t.user_attrs["record"]), objectives))
        out.append({"trial": t.number + 1, "trainings": trainings, "hypervolume": hypervolume(found, reference),
                    "cell": t.user_attrs.get("cell")})
    return out


def _first(rows: list[dict], key: str, target: float) -> int | None:
    for row in rows:
        if row["hypervolume"] >= target:
            return row[key]
    return None


def _stats(values: list[float]) -> dict:
    n = len(values)
    if not n:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": round(mean, 3), "std": round(std, 3), "min": min(values), "max": max(values)}


def _curve(rows: list[dict], key: str, length: int) -> list[float]:
    """Hypervolume after 0..length units of ``key`` (the last value carried on)."""
    curve, value, i = [], 0.0, 0
    for k in range(length + 1):
        while i < len(rows) and rows[i][key] <= k:
            value = rows[i]["hypervolume"]
            i += 1
        curve.append(value)
    return curve


def stop_point(training_trials: list[int], trials: int, patience: int) -> tuple[int, int]:
    """Where a run would have stopped had it waited ``patience`` trials without a training: the
    trainings and trials by then (``search_study.optimize``'s rule, applied to a finished run).

    Parameters
    ----------
    training_trials : list of int
        The (1-based, increasing) numbers of the run's trials that trained a cell.
    trials : int
        How many trials the run had.
    patience : int

    Returns
    -------
    (trainings, trials)

    Examples
    --------
    >>> from coinfer.experiments.search_replay import stop_point
    >>> stop_point([1, 2, 9], trials=20, patience=3)      # trials 3, 4, 5 trained nothing
    (2, 5)
    >>> stop_point([1, 2, 9], trials=20, patience=8), stop_point([1, 2, 9], trials=12, patience=8)
    ((3, 17), (3, 12))
    """
    last = 0
    for done, number in enumerate(training_trials):
        if number - last - 1 >= patience:
            return done, last + patience
        last = number
    return len(training_trials), min(trials, last + patience)


def replay(preset, table: LookupTable, samplers=REPLAY_SAMPLERS, seeds=REPLAY_SEEDS, trials: int = REPLAY_TRIALS,
           target: float = 0.95, command: str | None = None, log: Callable = print, objectives=OBJECTIVES,
           patience: int = PATIENCE) -> dict:
    """Replay the search on ``table`` (a finished sweep) as an oracle: trainings to the grid's front.

    Each sampler runs one study per seed, until ``patience`` trials in a row train nothing, it has
    trained as many cells as the table has, or ``trials`` trials; a trial's outcome is the table's
    record (``ReplayObjective``). The hypervolume is measured in log10 of the ``objectives``
    over the feasible records (``grid_reference``); the grid's hypervolume is that of
    every feasible record, found by the brute-force sweep with ``len(table.records)`` trainings.

    Parameters
    ----------
    preset : coinfer.config.Preset
        Whose sweep grid is the search space (the grid that produced ``table``: ``check_grid``).
    table : LookupTable
    samplers : sequence of str
    seeds : sequence of int
    trials : int
        The most trials per study (repeats and rejected configurations cost no training).
    target : float
        The fraction of the grid's hypervolume to reach.
    command : str, optional
        For the result's provenance.
    objectives : sequence of str
        What the studies minimise (``search_checks.OBJECTIVE_NAMES``).
    patience : int
        A study stops after this many trials in a row that train nothing (``search_study.optimize``).

    Returns
    -------
    dict
        JSON-ready: the grid's cost and hypervolume, each run's trace (what stopped it, the trials
        that trained), and per sampler the trainings and trials to reach ``target`` and the whole
        front (mean, spread), how many seeds reach ``target`` within a third of the grid's
        trainings, per stopping rule (``stopping``: a patience of ``REPLAY_PATIENCES`` up to
        ``patience``) the trainings and trials at the stop and how many seeds had the whole front
        by then, and the hypervolume fraction against trainings (mean, std, min, max per number of
        trainings). The sweep in its own cell order is there too (``grid_order_*``).

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.experiments.search_replay import replay
    >>> out = replay(get_preset("quick"), load_table(results_dir() / "sweep_quick.json"),
    ...              samplers=["random"], seeds=[0], trials=10, log=lambda *a: None)
    >>> out["grid"]["trainings"], out["runs"][0]["sampler"]
    (85, 'random')
    """
    optuna = _optuna()
    check_grid(preset, table)
    reference, feasible = grid_reference(table, objectives)
    threshold, source = selection_threshold(table), accuracy_source(table)
    warning = None
    if source != "val":
        warning = ("the table's records have no validation accuracy (made before the validation split): "
                   "feasibility uses their TEST accuracy, a fallback until the table is regenerated")
        log(f"[replay] warning: {warning}")
    grid_hv = hypervolume([log_objectives(r, objectives) for r in feasible], reference)
    n_grid = len(table.records)
    # The brute-force sweep in its own (grid) order, for comparison.
    order = [{"trainings": i + 1, "hypervolume": hypervolume(
        [log_objectives(r, objectives) for r in table.records[:i + 1] if r in feasible], reference)}
        for i in range(n_grid)]
    runs, summary = [], {}
    start = time.time()
    for name in samplers:
        per = []
        for seed in seeds:
            study = open_study(preset.name, optuna.storages.InMemoryStorage(), sampler=name, seed=seed,
                               objectives=objectives)
            t0 = time.time()
            stopped = optimize(study, ReplayObjective(preset, table, log=lambda *a: None, objectives=objectives),
                               trials=trials, trainings=n_grid, patience=patience)
            rows = trace(study, reference, objectives)
            firsts = [r for i, r in enumerate(rows) if r["trainings"] > (rows[i - 1]["trainings"] if i else 0)]
            full = grid_hv * (1 - 1e-9)
            run = {"sampler": name, "seed": seed, "wall_time_s": round(time.time() - t0, 2), "stopped": stopped,
                   "trials": len(rows), "trainings": rows[-1]["trainings"],
                   "final_fraction": round(rows[-1]["hypervolume"] / grid_hv, 4),
                   "trainings_to_target": _first(rows, "trainings", target * grid_hv),
                   "trials_to_target": _first(rows, "trial", target * grid_hv),
                   "trainings_to_front": _first(rows, "trainings", full),
                   "trained": [r["cell"] for r in firsts], "training_trials": [r["trial"] for r in firsts],
                   "fraction_by_trainings": [round(v / grid_hv, 4) for v in _curve(rows, "trainings", n_grid)]}
            per.append(run)
            log(f"[replay] {name} seed {seed}: {run['trainings']} trainings in {run['trials']} trials (stopped by "
                f"{stopped}), {run['final_fraction']:.1%} of the grid's hypervolume; {target:.0%} after "
                f"{run['trainings_to_target']} trainings ({run['trials_to_target']} trials), the whole front after "
                f"{run['trainings_to_front']}")
        runs += per
        curves = list(zip(*[r["fraction_by_trainings"] for r in per]))
        summary[name] = {
            "runs": len(per),
            "reached": sum(r["trainings_to_target"] is not None for r in per),
            "within_a_third": sum(r["trainings_to_target"] is not None and r["trainings_to_target"] <= n_grid / 3
                                  for r in per),
            "trainings_to_target": _stats([r["trainings_to_target"] for r in per if r["trainings_to_target"]]),
            "trials_to_target": _stats([r["trials_to_target"] for r in per if r["trials_to_target"]]),
            "reached_front": sum(r["trainings_to_front"] is not None for r in per),
            "trainings_to_front": _stats([r["trainings_to_front"] for r in per if r["trainings_to_front"]]),
            "stopping": {str(p): stopping(per, p)
                         for p in sorted({*(q for q in REPLAY_PATIENCES if q < patience), patience})},
            "fraction_by_trainings": {k: [_stats(list(c))[k] for c in curves] for k in ("mean", "std", "min", "max")},
        }
    return {
        "schema": REPLAY_SCHEMA,
        "provenance": {"table": table.provenance.command, "table_commit": table.provenance.git_commit,
                       "preset": preset.name, "command": command, "wall_time_s": round(time.time() - start, 1),
                       "optuna": optuna.__version__,   # and the replay's own code, machine and date
                       "git_commit": git_commit(), "hardware": hardware(), "date": utc_now()},
        "settings": {"trials": trials, "patience": patience, "seeds": list(seeds), "samplers": list(samplers),
                     "target": target,
                     "objectives": list(objectives), "hypervolume_space": "log10 of each objective (floored at 1)",
                     "accuracy_source": source, "threshold": threshold, "reference": list(reference), "reference_margin": REFERENCE_MARGIN},
        "grid": {"trainings": n_grid, "feasible": len(feasible), "hypervolume": grid_hv,
                 "front": [readable_key_of(r) for r in _front(feasible, objectives)],
                 # What the front's first point alone is worth (PNG: 0 device MACs, log10 floored at 0).
                 "fractions_by_record": {readable_key_of(r): round(
                     hypervolume([log_objectives(r, objectives)], reference) / grid_hv, 4) for r in _front(feasible, objectives)},
                 "grid_order_trainings_to_target": _first(order, "trainings", target * grid_hv),
                 "grid_order_fraction_by_trainings": [0.0] + [round(o["hypervolume"] / grid_hv, 4) for o in order]},
        "warning": warning,
        "summary": summary,
        "runs": runs,
    }


def stopping(runs: list[dict], patience: int) -> dict:
    """Over ``runs`` (of one sampler), had each stopped after ``patience`` trials in a row without a
    training (``stop_point``): the trainings and trials at the stop, and how many had found the whole
    front by then (``front``, of ``runs``)."""
    stops = [stop_point(r["training_trials"], r["trials"], patience) for r in runs]
    return {"runs": len(runs), "trainings": _stats([t for t, _ in stops]), "trials": _stats([n for _, n in stops]),
            "front": sum(r["trainings_to_front"] is not None and r["trainings_to_front"] <= t
                         for r, (t, _) in zip(runs, stops))}


def most_complete_stop(out: dict) -> dict:
    """The stopping rule of a replay (``replay``'s result) that most often stops with the whole front,
    the fewer trainings at the stop breaking a tie: what a search costs at (or nearest) equal front
    quality. It is chosen on the replay it is read from, so it flatters the search.

    Parameters
    ----------
    out : dict
        A replay (``replay``, ``load_replay``).

    Returns
    -------
    dict
        ``sampler``, ``patience``, ``runs``, ``front`` (seeds with the whole front at the stop),
        ``complete`` (every seed had it), ``trainings`` (their statistics at the stop, all seeds),
        ``grid`` (the grid's trainings) and ``factor`` (the grid's trainings over the mean at the stop).

    Examples
    --------
    >>> from coinfer.experiments.search_replay import load_replay, most_complete_stop
    >>> best = most_complete_stop(load_replay("quick"))
    >>> best["front"] <= best["runs"] and best["factor"] == best["grid"] / best["trainings"]["mean"]
    True
    """
    rules = [(name, int(patience), stop) for name, summary in out["summary"].items()
             for patience, stop in summary.get("stopping", {}).items()]
    if not rules:
        raise ValueError("the replay has no stopping rules (made before they were summarised): run the replay again")
    name, patience, stop = max(rules, key=lambda r: (r[2]["front"], -r[2]["trainings"]["mean"]))
    return {"sampler": name, "patience": patience, "runs": stop["runs"], "front": stop["front"],
            "complete": stop["front"] == stop["runs"], "trainings": stop["trainings"],
            "grid": out["grid"]["trainings"], "factor": out["grid"]["trainings"] / stop["trainings"]["mean"]}


def readable_key_of(record: Record) -> str:
    """A record's configuration name (its sweep cell id without the hash)."""
    return record.extra.get("cell", "").rsplit("_", 1)[0] or f"{record.method}_{record.split}"


def _front(records: list[Record], objectives=OBJECTIVES) -> list[Record]:
    """The records no other record dominates in the objectives."""
    values = [tuple(getattr(r, name) for name in objectives) for r in records]
    return [r for r, v in zip(records, values)
            if not any(all(a <= b for a, b in zip(o, v)) and o != v for o in values)]


def load_replay(preset: str = "quick", tag: str = "") -> dict:
    """The committed replay of ``preset`` (``replay``'s result, written by ``search --replay``).

    Parameters
    ----------
    preset : str
    tag : str
        ``search_checks.objectives_tag`` of its objectives (``"server_macs"``: three), empty for the default.

    Returns
    -------
    dict

    Examples
    --------
    >>> from coinfer.experiments.search_replay import load_replay
    >>> load_replay("quick")["grid"]["trainings"], load_replay("quick", "server_macs")["settings"]["objectives"][2]
    (85, 'server_macs')
    """
    import json

    from coinfer.paths import search_replay_path

    return json.loads(search_replay_path(preset, tag).read_text())
