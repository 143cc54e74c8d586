"""Search instead of brute force: a multi-objective configuration search over the sweep's cells.

The paper finds its split point, pruning ratio and code size by trying every point of a hand-made
grid (section II-D; ``coinfer.experiments.sweep``). This module asks for the same front with
fewer trainings: an `Optuna <https://optuna.org>`_ study (``pip install coinfer[search]``) that
minimises **device MACs** and **bits per image** (and **server MACs**, ``objectives``, where the
latency chooser needs them) under the constraint **validation accuracy >= threshold**
(``coinfer.results.table_threshold``'s definition), over method x split point x sparsity x code
size, each knob taking the values of the preset's sweep grid::

    trial --suggest--> (method, split, sparsity, setting) --cell_for--> sweep Cell (same id as the sweep's)
        completed in this study?       -> PRUNED as a repeat: the earlier trial stands (Objective.repeat)
        cell file exists?              -> its record, no training (search and sweep share one store)
        memory bound > device budget   -> rejected before training (search_checks)
        bounds dominated by a found feasible configuration -> rejected: it cannot improve the front
        warm network (the pruned one) below threshold - margin -> stopped before the codec trains
        else                           -> SweepRunner.run(cell): trains, writes the cell file atomically
    objectives (device MACs, bits per image[, server MACs]); constraint threshold - val accuracy <= 0

A trial **is** a sweep cell, so a repeated configuration is free, and ``python -m coinfer sweep``
afterwards trains only the cells the search did not. A search runs until its budget of trials or
trainings is spent or its sampler has converged (``search_study.optimize``). Repeats are PRUNED
with the earlier trial's number in their ``repeat_of`` attribute, rejected and stopped trials with
the reason in their ``rejected`` attribute; the checks are in ``coinfer.experiments.search_checks``.
The constraint uses the cell's validation accuracy; a record without one (the committed tables
made before the validation split) is judged by its test accuracy, and the trial's
``accuracy_source`` says so.

Storage is a journal file per preset (``coinfer.paths.search_journal_path``), so no server is
needed; ``--workers N`` runs N processes against it, and any Optuna storage URL (PostgreSQL for many
machines) works the same. A worker killed mid-trial leaves a RUNNING trial and no half-written cell
(cells are written by an atomic rename); ``recover`` marks such trials FAILED and queues their
parameters again (the study's storage, samplers, recovery and export:
``coinfer.experiments.search_study``). A finished trial is reused, and counts in the front, only
while it is a cell of the grid as it is now computed from the baseline now on disk
(``search_checks.current_trial``): a study outlives a change of settings or a retrained baseline.

The replay (``coinfer.experiments.search_replay``) uses a sweep table as an oracle to measure how
many trainings each sampler needs to find the grid's front.

Command line::

    python -m coinfer search --preset quick --trials 20                  # live: trains missing cells
    python -m coinfer search --preset quick --trainings 10               # until 10 cells are trained
    python -m coinfer search --preset quick --trials 20 --workers 2      # two processes, one journal
    python -m coinfer search --preset quick --trials 20 --device-memory 3MB --objectives device_macs,bits,server_macs
    python -m coinfer search --preset quick --recover                    # after a killed worker
    python -m coinfer search --preset quick --export                     # -> data/results/search_quick.json
    python -m coinfer search --preset quick --replay                     # -> data/results/search/replay_quick.json
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

from coinfer.experiments.search_checks import (OBJECTIVES, constraint_accuracy, current_trial, early_stop, rejection,
                                               validation_accuracy, warm_network)
from coinfer.experiments.search_study import _optuna, _worker_alive
from coinfer.results import Record

# --------------------------------------------------------------------------------------------
# The search space: the sweep grid's values, one branch per method
# --------------------------------------------------------------------------------------------

def _grid_cells(preset) -> list:
    from coinfer.experiments.sweep import cells
    return cells(preset)


def search_space(preset) -> dict[str, dict[str, tuple]]:
    """Each method's knobs and their values: the preset's sweep grid, as a conditional search space.

    Parameters
    ----------
    preset : coinfer.config.Preset

    Returns
    -------
    dict
        ``{method: {parameter: choices}}``; a parameter is named ``<method>.<knob>`` so that each
        method's knobs are separate dimensions.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.search import search_space
    >>> space = search_space(get_preset("quick"))
    >>> sorted(space["framework"])
    ['framework.code_size', 'framework.sparsity', 'framework.split']
    >>> space["framework"]["framework.sparsity"]
    (0.0, 0.25, 0.5)
    """
    g = preset.sweep
    # PNG where the grid has it; on-device inference always (coinfer.experiments.sweep.cells)
    space: dict[str, dict[str, tuple]] = {"png": {}, "on-device": {}} if g.png else {"on-device": {}}
    if g.original_splits:
        space["original"] = {"original.split": tuple(map(str, g.original_splits))}
    if g.framework_splits:
        space["framework"] = {"framework.split": tuple(map(str, g.framework_splits)),
                              "framework.sparsity": tuple(sorted(float(s) for s in g.sparsities)),
                              "framework.code_size": tuple(g.code_sizes)}
    if g.bottlenet_splits:
        space["bottlenet++"] = {"bottlenet++.split": tuple(map(str, g.bottlenet_splits)),
                                "bottlenet++.reduction": tuple(int(r) for r in g.bottlenet_reductions)}
    if g.two_step_splits:
        space["2-step-pruning"] = {"2-step-pruning.split": tuple(map(str, g.two_step_splits)),
                                   "2-step-pruning.step1": tuple(float(s) for s in g.two_step_step1),
                                   "2-step-pruning.step2": tuple(float(s) for s in g.two_step_step2)}
    return space


def configuration(method: str, params: dict) -> tuple[str, str, float, str]:
    """``(method, split, sparsity, setting)`` of a sweep cell from a trial's parameters.

    Parameters
    ----------
    method : str
        One of ``coinfer.experiments.sweep.METHODS``.
    params : dict
        The method's knobs, named as in ``search_space``.

    Returns
    -------
    tuple
        The fields of ``coinfer.experiments.sweep.Cell`` that identify it.

    Examples
    --------
    >>> from coinfer.experiments.search import configuration
    >>> configuration("framework", {"framework.split": "layer3.1", "framework.sparsity": 0.25,
    ...                             "framework.code_size": "d16-l4"})
    ('framework', 'layer3.1', 0.25, 'd16-l4')
    >>> configuration("bottlenet++", {"bottlenet++.split": "layer4.1", "bottlenet++.reduction": 16})
    ('bottlenet++', 'layer4.1', 0.0, 'r16')
    """
    p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(method + ".")}
    if method == "png":
        return ("png", "input", 0.0, "png")
    if method == "on-device":
        return ("on-device", "output", 0.0, "class-index")
    if method == "original":
        return ("original", p["split"], 0.0, "8bit-huffman")
    if method == "framework":
        return ("framework", p["split"], float(p["sparsity"]), p["code_size"])
    if method == "bottlenet++":
        return ("bottlenet++", p["split"], 0.0, f"r{int(p['reduction'])}")
    if method == "2-step-pruning":
        return ("2-step-pruning", p["split"], float(p["step1"]), f"out{float(p['step2']):g}")
    raise ValueError(f"unknown method {method!r}")


def suggest(trial, space: dict) -> tuple[str, str, float, str]:
    """Ask ``trial`` for a method and its knobs from ``space`` (``search_space``).

    Parameters
    ----------
    trial : optuna.trial.Trial
    space : dict

    Returns
    -------
    tuple
        ``configuration`` of the suggested parameters.

    Examples
    --------
    >>> import optuna
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.search import search_space, suggest
    >>> trial = optuna.trial.FixedTrial({"method": "original", "original.split": "pool"})
    >>> suggest(trial, search_space(get_preset("quick")))
    ('original', 'pool', 0.0, '8bit-huffman')
    """
    method = trial.suggest_categorical("method", list(space))
    params = {name: trial.suggest_categorical(name, list(choices)) for name, choices in space[method].items()}
    return configuration(method, params)


def readable_key(method: str, split: str, sparsity: float, setting: str) -> str:
    """A configuration's readable name: a sweep cell id without its settings hash.

    Parameters
    ----------
    method, split, sparsity, setting
        As in ``coinfer.experiments.sweep.Cell``.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.experiments.search import readable_key
    >>> readable_key("framework", "layer3.1", 0.25, "d16-l4")
    'framework_layer3.1_s0.25_d16-l4'
    """
    from coinfer.experiments.sweep import Cell

    return Cell(method, split, float(sparsity), setting).id.rsplit("_", 1)[0]


def cell_for(preset, config: tuple, grid_cells: list | None = None):
    """The sweep's ``coinfer.experiments.sweep.Cell`` of ``config``: the same id as the sweep's.

    Parameters
    ----------
    preset : coinfer.config.Preset
    config : tuple
        ``(method, split, sparsity, setting)``, e.g. from ``suggest``.
    grid_cells : list of Cell, optional
        ``coinfer.experiments.sweep.cells(preset)``, if already computed.

    Returns
    -------
    coinfer.experiments.sweep.Cell

    Raises
    ------
    ValueError
        If the configuration is not a cell of the preset's grid.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.search import cell_for
    >>> cell_for(get_preset("quick"), ("original", "pool", 0.0, "8bit-huffman")).id
    'original_pool_s0_8bit-huffman_cdda16a492'
    """
    key = readable_key(*config)
    for cell in grid_cells if grid_cells is not None else _grid_cells(preset):
        if cell.id.rsplit("_", 1)[0] == key:
            return cell
    raise ValueError(f"{key} is not a cell of preset {preset.name!r}'s sweep grid")


# --------------------------------------------------------------------------------------------
# The objective: a trial runs (or reuses) one cell
# --------------------------------------------------------------------------------------------

class Objective:
    """A study's objective: a trial's configuration -> its cell's record -> objectives and constraint.

    Subclasses give ``cached`` and ``compute`` (``LiveObjective`` runs cells,
    ``search_replay.ReplayObjective`` reads a table). Before training, a configuration that cannot fit ``memory_budget`` or whose cost bounds
    are dominated by a feasible record found so far (in this study's storage) is rejected
    (``coinfer.experiments.search_checks.rejection``): the trial is PRUNED, its ``rejected``
    attribute says why. Under a budget, the front (``feasible``) holds only what fits it: a study's
    earlier runs without one may have found configurations that do not.

    Parameters
    ----------
    preset : coinfer.config.Preset
    threshold : float
        The accuracy constraint on the validation accuracy (a fraction).
    objectives : sequence of str
        Record fields to minimise (``search_checks.OBJECTIVE_NAMES``).
    memory_budget : float, optional
        The device's memory for the device part, bytes (``search_checks.memory_budget``).
    test_threshold : float, optional
        The constraint for a record judged by its test accuracy (no ``val_accuracy``); default
        ``threshold``.
    """

    def __init__(self, preset, threshold: float, log: Callable = print, objectives=OBJECTIVES,
                 memory_budget: float | None = None, test_threshold: float | None = None):
        self.preset = preset
        self.threshold = float(threshold)
        self.test_threshold = float(threshold if test_threshold is None else test_threshold)
        self.objectives = tuple(objectives)
        self.memory_budget = memory_budget
        self.space = search_space(preset)
        from coinfer.experiments.sweep import prune_settings

        self.prune_output = prune_settings(preset).output_sparsity   # the framework's sent-group sparsity
        self.log = log

    #: The digest of the baseline the trials compute from, recorded with each (``LiveObjective``).
    baseline: str | None = None

    def current(self, trial) -> bool:
        """Whether a finished ``trial`` still stands for its configuration (``search_checks.current_trial``)."""
        return True

    def cached(self, config: tuple) -> Record | None:
        """The record of ``config`` if it costs no training now, else None."""
        raise NotImplementedError

    def compute(self, config: tuple, trial=None) -> Record | None:
        """Train ``config``'s cell; its record (None: not available, the trial is pruned)."""
        raise NotImplementedError

    def completed(self, study, key: str):
        """The completed trial of ``study`` with the same configuration (and a record), if any."""
        for t in study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.COMPLETE,)):
            if t.user_attrs.get("cell") == key and "record" in t.user_attrs and self.current(t):
                return t
        return None

    def repeat(self, trial, earlier) -> None:
        """Prune ``trial``, a repeat of the completed trial ``earlier``: it costs nothing and adds nothing.

        Completed again, the repeat would count its configuration twice in the sampler's model, and
        TPE, the more so the more it has repeated a configuration, kept drawing the same few: in the
        replay one seed drew 700 trials in a row without a new one. As PRUNED it is neither in the
        front (the earlier trial is) nor counted as a training.
        """
        trial.set_user_attr("trained", False)
        trial.set_user_attr("repeat_of", earlier.number)
        raise _optuna().TrialPruned(f"repeat of trial {earlier.number}")

    def fits(self, trial) -> bool:
        """Whether a finished ``trial``'s configuration fits ``memory_budget`` (always, without one): an
        earlier run of the study without the budget may have completed configurations that do not."""
        if self.memory_budget is None:
            return True
        return self.rejection(configuration(trial.params["method"], trial.params), []) is None   # no front: memory

    def feasible(self, study) -> list:
        """The study's completed trials that meet the constraint, are :meth:`current` and :meth:`fits`."""
        return [t for t in study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.COMPLETE,))
                if all(v <= 0 for v in t.constraints.values()) and self.current(t) and self.fits(t)]

    def front(self, study) -> list[tuple]:
        """Objectives of the study's :meth:`feasible` trials (those that may reject others)."""
        return [tuple(t.values) for t in self.feasible(study)]

    def wait_for_twin(self, trial, key: str, poll_s: float = 0.5) -> None:
        """Wait while an earlier RUNNING trial of a live worker may train the same configuration.

        Two workers that drew the same configuration train it once: the later trial (by number)
        waits until every earlier running trial has drawn its configuration, and while one that
        drew the same trains it; then it is that trial's repeat (``repeat``). A worker of another
        machine counts as live until ``recover(all_running=True)`` fails its trial.
        """
        def blocks(t) -> bool:   # an earlier trial still drawing its configuration may draw this one
            return t.number < trial.number and t.user_attrs.get("cell", key) == key and _worker_alive(t)
        while any(map(blocks, trial.study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.RUNNING,)))):
            time.sleep(poll_s)

    def reject(self, trial, reason: str):
        """Mark ``trial`` rejected for ``reason`` and prune it (no training)."""
        trial.set_user_attr("rejected", reason)
        self.log(f"[search] {trial.user_attrs.get('cell')}: {reason}")
        raise _optuna().TrialPruned(reason)

    def rejection(self, config: tuple, front: list[tuple]) -> str | None:
        """Why ``config`` need not be trained (``search_checks.rejection`` against ``front``), or None."""
        return rejection(config, self.preset.width, front, self.objectives, self.memory_budget, self.prune_output)

    def __call__(self, trial) -> tuple[float, ...]:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        config = suggest(trial, self.space)
        key = readable_key(*config)
        trial.set_user_attr("cell", key)
        self.wait_for_twin(trial, key)
        if self.memory_budget is not None and (reason := self.rejection(config, [])):
            self.reject(trial, reason)   # it cannot run on the device, cached or not
        if (earlier := self.completed(trial.study, key)) is not None:
            self.repeat(trial, earlier)
        record, trained = self.cached(config), False
        if record is None:
            if reason := self.rejection(config, self.front(trial.study)):
                self.reject(trial, reason)
            record, trained = self.compute(config, trial), True
            if record is None:
                self.reject(trial, "no record")
        accuracy, source = constraint_accuracy(record)
        trial.set_user_attr("trained", trained)
        trial.set_user_attr("record", record.to_dict())
        if self.baseline is not None:
            trial.set_user_attr("baseline", self.baseline)
        trial.set_user_attr("accuracy_source", source)
        threshold = self.threshold if source == "val" else self.test_threshold
        trial.set_constraint("accuracy", threshold - accuracy)
        return tuple(float(getattr(record, name)) for name in self.objectives)


class LiveObjective(Objective):
    """Runs the sweep's cells: a configuration's record is its cell file, computed when missing.

    A cell with a warm-up stage (a framework cell at a sparsity above 0: the pruned, fine-tuned
    network; a 2-step cell: step 1) computes it first (cached, shared with the cell's other code
    sizes) and stops there when its validation accuracy is ``margin`` below the threshold
    (``search_checks.early_stop``): the codec is not trained and the trial is PRUNED.

    Parameters
    ----------
    preset : coinfer.config.Preset
    threshold : float
        The accuracy constraint (a fraction).
    cells_dir, cache_dir : path
        The sweep's (``coinfer.experiments.cell_files.default_paths``): search and sweep share them.
    margin : float or None
        The early stop's margin, a fraction; None: ``search_checks.EARLY_STOP_MARGIN``; a negative
        margin: never stop early (the warm network is not even computed first).
    **kwargs
        ``Objective``'s (``objectives``, ``memory_budget``, ``test_threshold``).
    """

    def __init__(self, preset, threshold: float, cells_dir, cache_dir, device=None, log: Callable = print,
                 margin: float | None = None, **kwargs):
        from coinfer.experiments.search_checks import EARLY_STOP_MARGIN

        super().__init__(preset, threshold, log, **kwargs)
        self.cells_dir, self.cache_dir, self.device = Path(cells_dir), Path(cache_dir), device
        self.margin = EARLY_STOP_MARGIN if margin is None else margin
        self.grid_cells = _grid_cells(preset)
        self.cell_ids = {cell.id for cell in self.grid_cells}
        self._runner = None

    @property
    def baseline(self) -> str | None:
        from coinfer.experiments.sweep import baseline_digest

        return baseline_digest(self.preset)

    def current(self, trial) -> bool:
        return current_trial(trial, self.cell_ids, self.baseline)

    @property
    def runner(self):
        if self._runner is None:
            from coinfer.experiments.sweep import SweepRunner

            self._runner = SweepRunner(self.preset, self.cells_dir, self.cache_dir, self.device, log=self.log)
        return self._runner

    def cached(self, config):
        from coinfer.experiments.sweep import read_cell

        cell = cell_for(self.preset, config, self.grid_cells)
        found = read_cell(self.cells_dir / f"{cell.id}.json", cell.id, self.baseline)
        return Record.from_dict(found["record"]) if found else None

    def compute(self, config, trial=None):
        cell = cell_for(self.preset, config, self.grid_cells)
        if self.margin is not None and self.margin >= 0:
            warm = warm_network(self.runner, config)
            if warm is not None:
                accuracy = validation_accuracy(warm, self.preset, self.runner.device)
                if trial is not None:
                    trial.set_user_attr("warm_val_accuracy", accuracy)
                reason = early_stop(accuracy, self.threshold, self.margin)
                if reason and trial is not None:
                    self.reject(trial, reason)
        self.log(f"[search] training {cell.id}")
        return Record.from_dict(self.runner.run(cell)["record"])
