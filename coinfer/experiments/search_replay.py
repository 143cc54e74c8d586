"""Replaying the configuration search on a finished sweep table: how many trainings the front costs.

The committed sweep table (:mod:`coinfer.experiments.sweep`) is the oracle: a trial's outcome is the
table's record for its configuration (``ReplayObjective``), so a study of hundreds of trials costs
seconds and trains nothing. The score is the **hypervolume** of the feasible front found so far,
in (log10 device MACs, log10 bits per image), as a share of the hypervolume of every feasible
record of the table (the brute-force grid's front). ``replay`` runs TPE, NSGA-II and random search
over several sampler seeds and counts the trainings each needs to reach 95 % of it::

    python -m coinfer search --preset quick --replay     # -> data/results/search/replay_quick.json

``coinfer.views.search.fig_search`` draws the result (book/08_search.md).
"""

from __future__ import annotations

import math
import time
from typing import Callable

from coinfer.experiments.search import Objective, _optuna, open_study, readable_key
from coinfer.results import LookupTable, Record, table_threshold

#: Replay settings: trials per study, samplers and their seeds.
REPLAY_TRIALS = 100
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
    a multi-worker run whose trainings take time.
    """

    def __init__(self, preset, table: LookupTable, delay_s: float = 0.0, log: Callable = print):
        super().__init__(preset, table_threshold(table), log)
        self.records = {r.extra["cell"].rsplit("_", 1)[0]: r for r in table.records if "cell" in r.extra}
        self.delay_s = delay_s

    def cached(self, config):
        return None

    def compute(self, config):
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.records.get(readable_key(*config))


# --------------------------------------------------------------------------------------------
# Replay: the committed sweep table as an oracle, hypervolume against trainings
# --------------------------------------------------------------------------------------------

def log_objectives(record: Record) -> tuple[float, float]:
    """``(log10 device MACs, log10 bits per image)``, each floored at 1 (PNG's device runs 0 MACs).

    Parameters
    ----------
    record : Record

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> from coinfer.results import Record
    >>> from coinfer.experiments.search_replay import log_objectives
    >>> log_objectives(Record("png", "input", 0.9, 0, 0, 9_180_864, 4_000))
    (0.0, 3.6020599913279625)
    """
    return (math.log10(max(record.device_macs, 1)), math.log10(max(record.bits_per_image, 1)))


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area that ``points`` dominate below ``reference`` (two objectives, both minimised).

    Parameters
    ----------
    points : list of (float, float)
    reference : (float, float)
        Worse than every point of interest in both objectives.

    Returns
    -------
    float

    Examples
    --------
    >>> from coinfer.experiments.search_replay import hypervolume
    >>> hypervolume([(1, 3), (2, 1), (3, 3)], (4, 4))
    7.0
    """
    area, best = 0.0, reference[1]
    for x, y in sorted(points):
        if x < reference[0] and y < best:
            area += (reference[0] - x) * (best - y)
            best = y
    return area


def grid_reference(table: LookupTable) -> tuple[tuple[float, float], list[Record]]:
    """The hypervolume's reference point and the feasible records of ``table``.

    Feasible: accuracy at or above ``coinfer.results.table_threshold``. The reference lies
    ``REFERENCE_MARGIN`` decades beyond the worst feasible record in each objective.

    Parameters
    ----------
    table : LookupTable

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
    ([7.07, 4.69], 14)
    """
    threshold = table_threshold(table)
    feasible = [r for r in table.records if r.accuracy >= threshold]
    logs = [log_objectives(r) for r in feasible]
    reference = (max(x for x, _ in logs) + REFERENCE_MARGIN, max(y for _, y in logs) + REFERENCE_MARGIN)
    return reference, feasible


def trace(study, reference: tuple[float, float], threshold: float) -> list[dict]:
    """Per trial, in order: trainings so far and the hypervolume of the feasible front found so far.

    Parameters
    ----------
    study : optuna.Study
    reference : (float, float)
        In log10 units (``grid_reference``).
    threshold : float

    Returns
    -------
    list of dict
        ``{"trial", "trainings", "hypervolume", "cell"}``.
    """
    optuna = _optuna()
    found: list[tuple[float, float]] = []
    out, trainings = [], 0
    for t in sorted(study.trials, key=lambda t: t.number):
        trainings += bool(t.user_attrs.get("trained"))
        if t.state == optuna.trial.TrialState.COMPLETE:
            record = Record.from_dict(t.user_attrs["record"])
            if record.accuracy >= threshold:
                found.append(log_objectives(record))
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


def replay(preset, table: LookupTable, samplers=REPLAY_SAMPLERS, seeds=REPLAY_SEEDS, trials: int = REPLAY_TRIALS,
           target: float = 0.95, command: str | None = None, log: Callable = print) -> dict:
    """Replay the search on ``table`` (a finished sweep) as an oracle: trainings to the grid's front.

    Each sampler runs one study per seed of ``trials`` trials; a trial's outcome is the table's
    record (``ReplayObjective``). The hypervolume is measured in (log10 device MACs, log10
    bits) over the feasible records (``grid_reference``); the grid's hypervolume is that of
    every feasible record, found by the brute-force sweep with ``len(table.records)`` trainings.

    Parameters
    ----------
    preset : coinfer.config.Preset
        Whose sweep grid is the search space (the grid that produced ``table``).
    table : LookupTable
    samplers : sequence of str
    seeds : sequence of int
    trials : int
        Trials per study (repeats and rejected configurations cost no training).
    target : float
        The fraction of the grid's hypervolume to reach.
    command : str, optional
        For the result's provenance.

    Returns
    -------
    dict
        JSON-ready: the grid's cost and hypervolume, each run's trace, and per sampler the
        trainings and trials to reach ``target`` and the whole front (mean, spread), how many seeds
        reach ``target`` within a third of the grid's trainings, and the hypervolume fraction
        against trainings (mean, std, min, max per number of trainings). The sweep in its own
        cell order is there too (``grid_order_*``).

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.experiments.search_replay import replay
    >>> out = replay(get_preset("quick"), load_table(results_dir() / "sweep_quick.json"),
    ...              samplers=["random"], seeds=[0], trials=10, log=lambda *a: None)
    >>> out["grid"]["trainings"], out["runs"][0]["sampler"]
    (27, 'random')
    """
    optuna = _optuna()
    reference, feasible = grid_reference(table)
    threshold = table_threshold(table)
    grid_hv = hypervolume([log_objectives(r) for r in feasible], reference)
    n_grid = len(table.records)
    # The brute-force sweep in its own (grid) order, for comparison.
    order = [{"trainings": i + 1, "hypervolume": hypervolume(
        [log_objectives(r) for r in table.records[:i + 1] if r.accuracy >= threshold], reference)}
        for i in range(n_grid)]
    runs, summary = [], {}
    start = time.time()
    for name in samplers:
        per = []
        for seed in seeds:
            study = open_study(preset.name, optuna.storages.InMemoryStorage(), sampler=name, seed=seed)
            t0 = time.time()
            study.optimize(ReplayObjective(preset, table), n_trials=trials)
            rows = trace(study, reference, threshold)
            full = grid_hv * (1 - 1e-9)
            run = {"sampler": name, "seed": seed, "wall_time_s": round(time.time() - t0, 2),
                   "trials": len(rows), "trainings": rows[-1]["trainings"],
                   "final_fraction": round(rows[-1]["hypervolume"] / grid_hv, 4),
                   "trainings_to_target": _first(rows, "trainings", target * grid_hv),
                   "trials_to_target": _first(rows, "trial", target * grid_hv),
                   "trainings_to_front": _first(rows, "trainings", full),
                   "trained": [r["cell"] for i, r in enumerate(rows)
                               if r["trainings"] > (rows[i - 1]["trainings"] if i else 0)],
                   "fraction_by_trainings": [round(v / grid_hv, 4) for v in _curve(rows, "trainings", n_grid)]}
            per.append(run)
            log(f"[replay] {name} seed {seed}: {run['trainings']} trainings, {run['final_fraction']:.1%} of the "
                f"grid's hypervolume; {target:.0%} after {run['trainings_to_target']} trainings "
                f"({run['trials_to_target']} trials)")
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
            "fraction_by_trainings": {k: [_stats(list(c))[k] for c in curves] for k in ("mean", "std", "min", "max")},
        }
    return {
        "schema": REPLAY_SCHEMA,
        "provenance": {"table": table.provenance.command, "table_commit": table.provenance.git_commit,
                       "preset": preset.name, "command": command, "wall_time_s": round(time.time() - start, 1),
                       "optuna": optuna.__version__},
        "settings": {"trials": trials, "seeds": list(seeds), "samplers": list(samplers), "target": target,
                     "objectives": ["log10 device MACs (floored at 1)", "log10 bits per image"],
                     "threshold": threshold, "reference": list(reference), "reference_margin": REFERENCE_MARGIN},
        "grid": {"trainings": n_grid, "feasible": len(feasible), "hypervolume": grid_hv,
                 "front": [readable_key_of(r) for r in _front(feasible)],
                 # What the front's first point alone is worth (PNG: 0 device MACs, log10 floored at 0).
                 "fractions_by_record": {readable_key_of(r): round(hypervolume([log_objectives(r)], reference) / grid_hv, 4)
                                         for r in _front(feasible)},
                 "grid_order_trainings_to_target": _first(order, "trainings", target * grid_hv),
                 "grid_order_fraction_by_trainings": [0.0] + [round(o["hypervolume"] / grid_hv, 4) for o in order]},
        "summary": summary,
        "runs": runs,
    }


def readable_key_of(record: Record) -> str:
    """A record's configuration name (its sweep cell id without the hash)."""
    return record.extra.get("cell", "").rsplit("_", 1)[0] or f"{record.method}_{record.split}"


def _front(records: list[Record]) -> list[Record]:
    """The records no other record dominates in (device MACs, bits)."""
    return [r for r in records
            if not any((o.device_macs <= r.device_macs and o.bits_per_image <= r.bits_per_image)
                       and (o.device_macs, o.bits_per_image) != (r.device_macs, r.bits_per_image) for o in records)]


def load_replay(preset: str = "quick") -> dict:
    """The committed replay of ``preset`` (``replay``'s result, written by ``search --replay``).

    Parameters
    ----------
    preset : str

    Returns
    -------
    dict

    Examples
    --------
    >>> from coinfer.experiments.search_replay import load_replay
    >>> load_replay("quick")["grid"]["trainings"]
    27
    """
    import json

    from coinfer.paths import search_replay_path

    return json.loads(search_replay_path(preset).read_text())
