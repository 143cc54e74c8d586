"""A configuration search's study: where its trials are kept, how they are drawn, run, recovered and read.

The objective (what a trial computes) is :mod:`coinfer.experiments.search`'s; this module holds the
`Optuna <https://optuna.org>`_ study around it:

- ``storage_for``: a journal file per preset (no server), or any Optuna storage URL;
- ``make_sampler``: TPE, NSGA-II, a Gaussian process or random search (``SAMPLERS``);
- ``open_study`` and ``optimize``: one study per preset and grid, shared by worker processes, run until
  a budget of trials or trainings is spent or the sampler has converged (``PATIENCE``);
- ``recover``: a killed worker's RUNNING trial marked FAILED and its parameters queued again;
- ``export`` and ``summarize``: the study's records as a lookup table, and what a live run did.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

from coinfer.experiments.search_checks import EARLY_STOP, OBJECTIVES
from coinfer.results import LookupTable, Provenance, Record
from coinfer.units import is_count

SAMPLERS = ("tpe", "nsga2", "gp", "random")


def _optuna():
    try:
        import optuna
    except ImportError as error:   # pragma: no cover - the extra is installed in tests
        raise RuntimeError("the search needs Optuna: pip install 'coinfer[search]' (optuna>=5)") from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna



def storage_for(preset_name: str, storage: str | None = None):
    """The study's storage: an Optuna URL (``postgresql://...``, ``sqlite:///...``) as given, else a
    journal file (default ``coinfer.paths.search_journal_path``).

    Parameters
    ----------
    preset_name : str
    storage : str, optional
        A URL (contains ``://``) or a journal file path.

    Returns
    -------
    str or optuna.storages.JournalStorage

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.experiments.search_study import storage_for
    >>> type(storage_for("quick", str(Path(tempfile.mkdtemp()) / "q.journal"))).__name__
    'JournalStorage'
    >>> storage_for("quick", "postgresql://user@db.example/coinfer")
    'postgresql://user@db.example/coinfer'
    """
    optuna = _optuna()
    if storage and "://" in storage:
        return storage
    from coinfer.paths import search_journal_path

    path = Path(storage) if storage else search_journal_path(preset_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    # The open lock (O_EXCL on a lock file) also works on NFS and other shared file systems.
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def make_sampler(name: str, seed: int | None = None):
    """An Optuna sampler by name (``SAMPLERS``), set up for a small discrete space.

    TPE starts from 5 random trials (not 10: a small grid such as the quick preset's has few cells to
    spend on them) and models the knobs jointly (``multivariate``, ``group`` for the method's
    branches); NSGA-II evolves populations
    of 8 with mutation probability 0.25. (Its default, 1 / the number of parameters every trial
    shares, is 1 here, the method being the only one: every child's method was drawn afresh, and
    the replay reproduced random search trial for trial.) The Gaussian process does not support a
    conditional space: it models the method and draws each method's knobs at random.

    Parameters
    ----------
    name : {"tpe", "nsga2", "gp", "random"}
    seed : int, optional

    Returns
    -------
    optuna.samplers.BaseSampler

    Examples
    --------
    >>> from coinfer.experiments.search_study import make_sampler
    >>> type(make_sampler("nsga2", seed=0)).__name__
    'NSGAIISampler'
    """
    optuna = _optuna()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True, group=True)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=8, mutation_prob=0.25)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5, warn_independent_sampling=False)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; samplers are {', '.join(SAMPLERS)}")


def open_study(preset_name: str, storage=None, sampler: str = "tpe", seed: int | None = None,
               study_name: str | None = None, objectives=OBJECTIVES, create: bool = True):
    """Create or load the search study of ``preset_name`` (its objectives, all minimised).

    Parameters
    ----------
    preset_name : str
    storage : str or optuna storage, optional
        See ``storage_for``.
    sampler : str
        See ``make_sampler``.
    seed : int, optional
    study_name : str, optional
        Default ``coinfer-<preset>``.
    objectives : sequence of str
        What the study minimises (kept in the study: a study reopened with others is an error).
    create : bool
        False: only load a study that exists (``--export``, ``--recover``); a missing one (a misspelt
        ``--study`` or ``--storage``) is an error, and no journal file is made.

    Returns
    -------
    optuna.Study

    Raises
    ------
    ValueError
        With ``create=False``, if the storage holds no such study: the message names the storage
        and the studies it holds.

    Examples
    --------
    >>> import optuna
    >>> from coinfer.experiments.search_study import open_study
    >>> open_study("quick", optuna.storages.InMemoryStorage()).directions
    [<StudyDirection.MINIMIZE: 1>, <StudyDirection.MINIMIZE: 1>]
    >>> open_study("quick", optuna.storages.InMemoryStorage(), create=False)
    Traceback (most recent call last):
    ...
    ValueError: no study 'coinfer-quick' in the storage InMemoryStorage, which holds no study: give the --study and --storage of an existing search
    """
    optuna = _optuna()
    study_name = study_name or f"coinfer-{preset_name}"
    shown = storage if isinstance(storage, str) else type(storage).__name__
    if storage is None or isinstance(storage, str):
        if not create and not (storage and "://" in storage):
            from coinfer.paths import search_journal_path

            path = Path(storage) if storage else search_journal_path(preset_name)
            if not path.is_file():   # checked first: opening a journal makes its file
                raise ValueError(f"no study {study_name!r}: there is no journal file {path}; give the --storage "
                                 "of an existing search")
            shown = f"journal {path}"
        storage = storage_for(preset_name, storage)
    if not create and study_name not in (names := optuna.study.get_all_study_names(storage)):
        raise ValueError(f"no study {study_name!r} in the storage {shown}, which holds "
                         f"{'the studies ' + ', '.join(map(repr, names)) if names else 'no study'}: give the "
                         "--study and --storage of an existing search")
    study = optuna.create_study(study_name=study_name, storage=storage,
                                directions=["minimize"] * len(objectives), load_if_exists=True,
                                sampler=make_sampler(sampler, seed))
    kept = study.user_attrs.get("objectives")
    if kept is None:
        study.set_user_attr("objectives", list(objectives))
    elif tuple(kept) != tuple(objectives):
        raise ValueError(f"study {study.study_name!r} minimises {', '.join(kept)}, not {', '.join(objectives)}: "
                         f"give --objectives {','.join(kept)} or another --study name")
    return study


#: A search has converged when this many trials in a row train nothing: the sampler only proposes
#: configurations already trained or rejected untrained (``optimize``). The replay reads shorter
#: stopping rules off the same runs (``search_replay.stop_point``).
PATIENCE = 100

STOPS = ("trials", "trainings", "patience")


def optimize(study, objective, trials: int | None = None, baseline_accuracy: float | None = None,
             trainings: int | None = None, patience: int | None = PATIENCE, validation: dict | None = None,
             baseline_val_accuracy: float | None = None) -> str:
    """Run trials of ``objective`` in this process (others may share the study) until a budget is spent.

    A trial that repeats a known configuration or is rejected untrained costs no training, so the
    budget that matters is ``trainings``; ``patience`` ends a search whose sampler has converged
    (it would otherwise draw free trials forever), ``trials`` caps the trials themselves. Each
    counts this process's trials only: ``--workers N`` gives each worker its share.

    Parameters
    ----------
    study : optuna.Study
    objective : coinfer.experiments.search.Objective
    trials : int, optional
        At most this many trials.
    baseline_accuracy : float, optional
        Kept in the study (with the preset's drop) so that ``export`` can give its table a
        threshold.
    trainings : int, optional
        Stop once this many trials have trained a cell. A trial stopped early after its warm-up
        (``search.LiveObjective``) trained the pruned network it shares with its code sizes, not
        a cell: it counts towards ``patience``, not here.
    patience : int or None
        Stop after this many trials in a row that trained nothing; None: never.
    validation, baseline_val_accuracy : optional
        The held-out split the search's constraint was computed on and the baseline's accuracy there
        (the oracle table's, or the baseline checkpoint's): kept too, so that the exported table is
        judged on the validation threshold the search was held to.

    Returns
    -------
    str
        What ended it: ``"trials"``, ``"trainings"`` or ``"patience"`` (``STOPS``).

    Raises
    ------
    ValueError
        If a budget is not a positive integer, or none is given (the search would never end).

    Examples
    --------
    >>> import optuna
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.experiments.search_study import open_study, optimize
    >>> from coinfer.experiments.search_replay import ReplayObjective
    >>> study = open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> optimize(study, ReplayObjective(get_preset("quick"), table), trials=3), len(study.trials)
    ('trials', 3)
    >>> optimize(study, ReplayObjective(get_preset("quick"), table), trainings=2)
    'trainings'
    """
    budgets = {"trials": trials, "trainings": trainings, "patience": patience}
    for name, value in budgets.items():
        if value is not None and not is_count(value):
            raise ValueError(f"{name}={value!r}: a budget is a positive integer (or None: no such budget)")
    if all(value is None for value in budgets.values()):
        raise ValueError("no budget: give trials, trainings or patience, or the search never ends")
    if baseline_accuracy is not None:
        study.set_user_attr("baseline_accuracy", float(baseline_accuracy))
        study.set_user_attr("accuracy_drop", float(objective.preset.accuracy_drop))
        study.set_user_attr("preset", objective.preset.name)
        study.set_user_attr("dataset", objective.preset.dataset)
        if validation is not None and baseline_val_accuracy is not None:
            study.set_user_attr("validation", dict(validation))
            study.set_user_attr("baseline_val_accuracy", float(baseline_val_accuracy))
    spent = {"trainings": 0, "idle": 0, "stop": "trials"}

    def count(study, trial) -> None:
        trained = bool(trial.user_attrs.get("trained"))
        spent["trainings"] += trained
        spent["idle"] = 0 if trained else spent["idle"] + 1
        if trainings is not None and spent["trainings"] >= trainings:
            spent["stop"] = "trainings"
        elif patience is not None and spent["idle"] >= patience:
            spent["stop"] = "patience"
        else:
            return
        study.stop()

    study.optimize(objective, n_trials=trials, catch=(), callbacks=[count])
    return spent["stop"]


#: Seconds a RUNNING trial may go without naming its worker (``search.Objective`` names it first thing,
#: once the sampler has drawn the trial's relative parameters): older, its worker died in between.
UNCLAIMED_S = 300


def recover(study, all_running: bool = False) -> list[int]:
    """Mark a dead worker's RUNNING trials FAILED and queue their parameters again.

    A worker killed mid-trial (SIGKILL, a lost machine) leaves its trial RUNNING and no cell file
    (cells appear by an atomic rename). A RUNNING trial is stale when its worker ran on this
    machine and its process is gone, or when it has named no worker for ``UNCLAIMED_S`` seconds
    (the worker was killed while the sampler drew it); ``all_running`` treats every RUNNING trial
    as stale (use it when no worker runs anywhere, e.g. for workers of other machines).

    Parameters
    ----------
    study : optuna.Study
    all_running : bool

    Returns
    -------
    list of int
        The numbers of the trials marked FAILED; their parameters wait in the queue
        (``enqueue_trial``), and the next worker runs them first.

    Examples
    --------
    >>> import optuna
    >>> from coinfer.experiments.search_study import open_study, recover
    >>> recover(open_study("quick", optuna.storages.InMemoryStorage()))
    []
    """
    optuna = _optuna()
    stale = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not all_running and _worker_alive(t):
            continue
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(dict(t.params), user_attrs={"requeued_from": t.number})
        stale.append(t.number)
    return stale


def _worker_alive(trial) -> bool:
    """Whether ``trial``'s worker may still run: on another machine always, on this one if its process lives;
    a trial that names no worker for ``UNCLAIMED_S`` seconds has none."""
    if "worker" not in trial.user_attrs:
        from datetime import datetime

        started = trial.datetime_start
        return started is None or (datetime.now() - started).total_seconds() < UNCLAIMED_S
    name, _, pid = trial.user_attrs["worker"].rpartition(":")
    if name != socket.gethostname() or not pid.isdigit():
        return True
    return _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # it runs, as another user
        return True
    return True


def export(study, path: str | Path | None = None, command: str | None = None, current=None) -> LookupTable:
    """The study's completed trials as a lookup table (one record per configuration), saved at ``path``.

    ``latency``, the figures and the book read it like the sweep's table: the records are the
    cells' own, and the provenance carries the baseline accuracy and drop, so
    ``coinfer.results.table_threshold`` works on it.

    Parameters
    ----------
    study : optuna.Study
        A study run by ``optimize`` (it keeps the preset, dataset and baseline accuracy).
    path : str or Path or False, optional
        Default ``coinfer.paths.search_table_path`` of the study's preset; ``False``: do not
        save, only return the table.
    command : str, optional
        The regenerating command, for the provenance.
    current : callable, optional
        ``current(trial)``: only the trials it accepts (``search_checks.current_trial``).

    Returns
    -------
    LookupTable

    Raises
    ------
    ValueError
        If it would save a table without records (no completed trial that ``current`` accepts): the
        file at ``path`` is left as it is.

    Examples
    --------
    >>> import optuna
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table, table_threshold
    >>> from coinfer.experiments.search_study import export, open_study, optimize
    >>> from coinfer.experiments.search_replay import ReplayObjective
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> study = open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    >>> objective = ReplayObjective(get_preset("quick"), table, log=lambda *a: None)
    >>> optimize(study, objective, trials=5, baseline_accuracy=0.9046)
    'trials'
    >>> found = export(study, path=False)
    >>> round(table_threshold(found), 4), 1 <= len(found.records) <= 5
    (0.8846, True)
    """
    optuna = _optuna()
    attrs = study.user_attrs
    records: dict[str, Record] = {}
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if "record" in t.user_attrs]
    for t in done:
        if current is None or current(t):
            records.setdefault(t.user_attrs["cell"], Record.from_dict(t.user_attrs["record"]))
    if not records and path is not False:
        raise ValueError(f"study {study.study_name!r} has nothing to export: of its {len(study.trials)} trials "
                         f"{len(done)} completed with a record, none of the grid as it is now (its settings and "
                         "baseline); no table written")
    wall = sum(float(r.extra.get("wall_time_s", 0.0)) for r in records.values())
    provenance = Provenance.collect(attrs.get("dataset", ""), attrs.get("preset", ""), wall, command=command,
                                    baseline_accuracy=attrs.get("baseline_accuracy"),
                                    accuracy_drop=attrs.get("accuracy_drop"))
    # The held-out split the search chose on, as the sweep table's (without it: a test threshold).
    provenance = replace(provenance, validation=attrs.get("validation"),
                         baseline_val_accuracy=attrs.get("baseline_val_accuracy"))
    table = LookupTable(provenance, list(records.values()))
    if path is not False:
        from coinfer.paths import search_table_path

        table.save(path or search_table_path(attrs.get("preset", "custom")))
    return table


def summarize(study, objective, wall_time_s: float, command: str | None = None, first_trial: int = 0) -> dict:
    """What a live search did (JSON-ready).

    Of this run's trials (numbered ``first_trial`` or later and run by this process: a resumed
    journal holds earlier runs' too), with its wall time and machine load: ``trials``, by state,
    trainings, repeats, trials rejected untrained (``rejected_trials``; ``early_stopped_trials`` of
    them stopped after their warm-up) and per configuration the last reason (``rejected``), the
    thresholds (validation; test for records without a validation accuracy), warm networks'
    validation accuracies. Of the whole study: ``study_trials`` and the feasible front (cell:
    objectives) of the trials that stand (``objective.feasible``: current, within the memory budget).

    Parameters
    ----------
    study : optuna.Study
    objective : coinfer.experiments.search.Objective
        The run's objective (its thresholds, objectives, budget).
    wall_time_s : float
        This run's wall time.
    command : str, optional
    first_trial : int
        The number of the study's first trial when this run began (``len(study.trials)``).

    Returns
    -------
    dict

    Examples
    --------
    >>> import optuna
    >>> from coinfer.config import get_preset
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.experiments.search_study import open_study, optimize, summarize
    >>> from coinfer.experiments.search_replay import ReplayObjective
    >>> table = load_table(results_dir() / "sweep_quick.json")
    >>> objective = ReplayObjective(get_preset("quick"), table, log=lambda *a: None)
    >>> study = open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    >>> optimize(study, objective, trials=4), optimize(study, objective, trials=3)
    ('trials', 'trials')
    >>> s = summarize(study, objective, wall_time_s=1.0, first_trial=4)
    >>> s["trials"], s["study_trials"]
    (3, 7)
    """
    from collections import Counter

    me = f"{socket.gethostname()}:{os.getpid()}"    # as search.Objective names its trials' worker
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.number >= first_trial and t.user_attrs.get("worker") == me]
    feasible = objective.feasible(study)
    front = {t.user_attrs["cell"]: t.values for t in feasible       # the undominated ones
             if not any(o.values != t.values and all(a <= b for a, b in zip(o.values, t.values)) for o in feasible)}
    rejected = [t for t in trials if "rejected" in t.user_attrs]
    return {"schema": "coinfer.search-live", "command": command, "preset": objective.preset.name,
            "wall_time_s": round(wall_time_s, 1), "load_average": [round(v, 2) for v in os.getloadavg()],
            "objectives": list(objective.objectives), "threshold": objective.threshold,
            "test_threshold": objective.test_threshold, "memory_budget": objective.memory_budget, "warm_val_accuracy": {
                t.user_attrs.get("cell"): t.user_attrs["warm_val_accuracy"] for t in trials if "warm_val_accuracy" in t.user_attrs},
            "trials": len(trials), "states": dict(Counter(t.state.name for t in trials)),
            "trained": sum(bool(t.user_attrs.get("trained")) for t in trials),
            "repeats": sum("repeat_of" in t.user_attrs for t in trials),
            "rejected_trials": len(rejected),
            "early_stopped_trials": sum(t.user_attrs["rejected"].startswith(EARLY_STOP) for t in rejected),
            "rejected": {t.user_attrs.get("cell"): t.user_attrs["rejected"] for t in rejected},
            "accuracy_source": sorted({t.user_attrs["accuracy_source"] for t in trials if "accuracy_source" in t.user_attrs}),
            "study_trials": len(study.trials), "front": list(front), "front_values": front}
