"""Tests of the configuration search (coinfer.experiments.search): a trial is a sweep cell, the replay on the
committed quick table, cached cells cost no training, two workers share one journal, a killed worker is recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from coinfer.config import get_preset
from coinfer.experiments import search, search_replay
from coinfer.experiments import sweep
from coinfer.paths import project_root, results_dir
from coinfer.results import load_table, table_threshold, write_json_atomic

ROOT = project_root(Path(__file__).parent)
TABLE = results_dir() / "sweep_quick.json"


def _run(*args, timeout=240, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "coinfer", "search", *args], cwd=ROOT, env=env, **kwargs)


def _params(cell) -> dict:
    """Trial parameters naming ``cell`` (the inverse of search.configuration)."""
    m = cell.method
    if m == "png":
        return {"method": m}
    if m == "original":
        return {"method": m, "original.split": cell.split}
    if m == "framework":
        return {"method": m, "framework.split": cell.split, "framework.sparsity": cell.sparsity,
                "framework.code_size": cell.setting}
    if m == "bottlenet++":
        return {"method": m, "bottlenet++.split": cell.split, "bottlenet++.reduction": int(cell.setting[1:])}
    return {"method": m, "2-step-pruning.split": cell.split, "2-step-pruning.step1": cell.sparsity,
            "2-step-pruning.step2": float(cell.setting[3:])}


def test_a_trial_is_the_sweeps_cell_with_the_same_id():
    preset = get_preset("quick")
    grid = search._grid_cells(preset)
    space = search.search_space(preset)
    table_ids = {r.extra["cell"] for r in load_table(TABLE).records}
    assert len(grid) == 27 and {c.id for c in grid} == table_ids
    for cell in grid:
        params = _params(cell)
        config = search.suggest(optuna.trial.FixedTrial(params), space)   # every cell is in the space
        assert search.cell_for(preset, config, grid).id == cell.id
    with pytest.raises(ValueError, match="not a cell"):
        search.cell_for(preset, ("framework", "pool", 0.0, "d16-l4"), grid)


def test_replay_on_the_committed_table_is_fast_and_finds_only_feasible_table_points():
    preset, table = get_preset("quick"), load_table(TABLE)
    start = time.time()
    out = search_replay.replay(preset, table, samplers=["tpe", "nsga2", "random"], seeds=[0, 1], trials=30,
                        log=lambda *a: None)
    assert time.time() - start < 120
    keys = {r.extra["cell"].rsplit("_", 1)[0] for r in table.records}
    for run in out["runs"]:
        assert set(run["trained"]) <= keys and len(run["trained"]) == len(set(run["trained"]))  # no cell twice
        curve = run["fraction_by_trainings"]
        assert curve == sorted(curve) and curve[-1] <= 1.0
    # The front a study finds is a subset of the table's feasible points.
    threshold = table_threshold(table)
    study = search.open_study("quick", optuna.storages.InMemoryStorage(), sampler="tpe", seed=0)
    search.optimize(study, search_replay.ReplayObjective(preset, table), trials=30, baseline_accuracy=0.9046)
    feasible = {(r.device_macs, r.bits_per_image) for r in table.records if r.accuracy >= threshold}
    front = [t for t in study.best_trials if all(v <= 0 for v in t.constraints.values())]
    assert front and {tuple(t.values) for t in front} <= feasible
    assert all(r in table.records for r in search.export(study, path=False).records)
    # The committed replay was made by this code and settings.
    committed = search_replay.load_replay("quick")
    assert committed["grid"]["trainings"] == 27 and committed["settings"]["seeds"] == list(search_replay.REPLAY_SEEDS)
    assert set(committed["summary"]) == set(search_replay.REPLAY_SAMPLERS)


def _write_cells(cells_dir: Path, preset) -> dict:
    """The committed table's records as the sweep's cell files (what a finished sweep leaves)."""
    records = {r.extra["cell"]: r for r in load_table(TABLE).records}
    paths = {}
    for cell in search._grid_cells(preset):
        payload = {"schema": sweep.CELL_SCHEMA, "id": cell.id, "method": cell.method, "split": cell.split,
                   "sparsity": cell.sparsity, "setting": cell.setting, "depends": cell.depends,
                   "record": records[cell.id].to_dict(), "wall_time_s": 1.0}
        paths[cell.id] = write_json_atomic(cells_dir / f"{cell.id}.json", payload)
    return paths


def test_cached_cells_are_reused_and_dominated_ones_skipped_without_training(tmp_path, monkeypatch):
    preset = get_preset("quick")
    paths = _write_cells(tmp_path / "cells", preset)
    trained = []
    monkeypatch.setattr(sweep.SweepRunner, "run", lambda self, cell: trained.append(cell.id))
    monkeypatch.setattr(sweep.SweepRunner, "compute", lambda self, cell: trained.append(cell.id))
    grid = search._grid_cells(preset)
    best = search.cell_for(preset, ("framework", "layer3.1", 0.25, "d16-l4"), grid)
    hopeless = search.cell_for(preset, ("bottlenet++", "layer4.1", 0.0, "r4"), grid)
    paths[hopeless.id].unlink()          # not computed yet, but it cannot beat `best`: 2048 bits >= 33
    objective = search.LiveObjective(preset, table_threshold(load_table(TABLE)), tmp_path / "cells",
                                     tmp_path / "cache", log=lambda *a: None)
    study = search.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    study.enqueue_trial(_params(best))
    study.enqueue_trial(_params(hopeless))
    search.optimize(study, objective, trials=20, baseline_accuracy=0.9046)
    states = [t.state for t in study.trials]
    assert trained == [] and objective._runner is None            # nothing trained, no runner even built
    assert states[0] == optuna.trial.TrialState.COMPLETE and states[1] == optuna.trial.TrialState.PRUNED
    assert not any(t.user_attrs.get("trained") for t in study.trials)
    assert all(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states)


def test_two_workers_share_one_journal_without_losing_or_repeating_a_trial(tmp_path):
    journal = tmp_path / "quick.journal"
    proc = _run("--preset", "quick", "--trials", "12", "--workers", "2", "--seed", "0", "--storage", str(journal),
                "--oracle", str(TABLE), "--delay", "0.3")
    assert proc.wait(timeout=300) == 0
    study = search.open_study("quick", str(journal))
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(12))                                 # none lost, none twice
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2   # both workers ran trials
    trained = [t.user_attrs["cell"] for t in study.trials if t.user_attrs.get("trained")]
    assert trained and len(trained) == len(set(trained))              # no configuration trained twice
    table = search.export(study, path=tmp_path / "found.json")
    assert load_table(tmp_path / "found.json").records == table.records and table.records
    assert round(table_threshold(table), 4) == 0.8846


def test_a_killed_worker_is_recovered_and_its_trial_queued_again(tmp_path):
    journal = tmp_path / "quick.journal"
    worker = _run("--preset", "quick", "--trials", "1", "--seed", "3", "--storage", str(journal),
                  "--oracle", str(TABLE), "--delay", "60")
    deadline = time.time() + 120
    running = []
    while time.time() < deadline and not running:
        time.sleep(0.5)
        if journal.exists():
            study = search.open_study("quick", str(journal))
            running = [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                       if "worker" in t.user_attrs and t.params]
    assert running, "the worker never started its trial"
    os.kill(worker.pid, signal.SIGKILL)                               # mid-trial: it sleeps in its 'training'
    worker.wait(timeout=30)
    params = running[0].params
    recovered = _run("--preset", "quick", "--storage", str(journal), "--recover", stdout=subprocess.PIPE, text=True)
    out, _ = recovered.communicate(timeout=120)
    assert recovered.returncode == 0 and "1 stale trial(s)" in out
    study = search.open_study("quick", str(journal))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert study.trials[1].state == optuna.trial.TrialState.WAITING and study.trials[1].params == {}
    again = _run("--preset", "quick", "--trials", "1", "--storage", str(journal), "--oracle", str(TABLE))
    assert again.wait(timeout=120) == 0
    study = search.open_study("quick", str(journal))
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE and study.trials[1].params == params
    assert study.trials[1].user_attrs["requeued_from"] == 0
