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
from coinfer.experiments import search, search_replay, search_study
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
    if m in ("png", "on-device"):
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
    assert len(grid) == len(sweep.cells(preset)) and {c.id for c in grid} == table_ids
    for cell in grid:
        params = _params(cell)
        config = search.suggest(optuna.trial.FixedTrial(params), space)   # every cell is in the space
        assert search.cell_for(preset, config, grid).id == cell.id
    with pytest.raises(ValueError, match="not a cell"):
        search.cell_for(preset, ("framework", "layer4.1", 0.0, "d16-l4"), grid)


def test_replay_on_the_committed_table_is_fast_and_finds_only_feasible_table_points():
    preset, table = get_preset("quick"), load_table(TABLE)
    start = time.time()
    out = search_replay.replay(preset, table, samplers=["tpe", "nsga2", "random"], seeds=[0, 1], trials=30,
                        log=lambda *a: None)
    assert time.time() - start < 120
    # its own provenance, as every result file's (the Results page showed the sweep table's commit as its own)
    assert out["provenance"]["git_commit"] and out["provenance"]["date"].startswith("20")
    assert "CPU" in out["provenance"]["hardware"]
    keys = {r.extra["cell"].rsplit("_", 1)[0] for r in table.records}
    for run in out["runs"]:
        assert set(run["trained"]) <= keys and len(run["trained"]) == len(set(run["trained"]))  # no cell twice
        curve = run["fraction_by_trainings"]
        assert curve == sorted(curve) and curve[-1] <= 1.0
    # The front a study finds is a subset of the table's feasible points.
    threshold = table_threshold(table)
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), sampler="tpe", seed=0)
    search_study.optimize(study, search_replay.ReplayObjective(preset, table), trials=30, baseline_accuracy=table.provenance.baseline_accuracy,
                          validation=table.provenance.validation, baseline_val_accuracy=table.provenance.baseline_val_accuracy)
    feasible = {(r.device_macs, r.bits_per_image) for r in table.records if r.accuracy >= threshold}
    front = [t for t in study.best_trials if all(v <= 0 for v in t.constraints.values())]
    assert front and {tuple(t.values) for t in front} <= feasible
    exported = search_study.export(study, path=False)
    assert all(r in table.records for r in exported.records)
    # chosen on validation, as the sweep table it is a subset of (it had no held-out split: a test threshold)
    assert exported.provenance.validation == table.provenance.validation
    assert table_threshold(exported, "val") == pytest.approx(table_threshold(table, "val"))
    # The committed replay was made by this code and settings.
    committed = search_replay.load_replay("quick")
    assert committed["grid"]["trainings"] == len(table.records) and committed["settings"]["seeds"] == list(search_replay.REPLAY_SEEDS)
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
    best = search.cell_for(preset, ("framework", "layer3.1", 0.0, "d16-l4"), grid)
    hopeless = search.cell_for(preset, ("bottlenet++", "layer4.1", 0.0, "r4"), grid)
    paths[hopeless.id].unlink()          # not computed yet, but it cannot beat `best`: 2048 bits >= 33
    objective = search.LiveObjective(preset, table_threshold(load_table(TABLE)), tmp_path / "cells",
                                     tmp_path / "cache", log=lambda *a: None)
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    study.enqueue_trial(_params(best))
    study.enqueue_trial(_params(hopeless))
    search_study.optimize(study, objective, trials=20, baseline_accuracy=load_table(TABLE).provenance.baseline_accuracy)
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
    study = search_study.open_study("quick", str(journal))
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(12))                                 # none lost, none twice
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2   # both workers ran trials
    trained = [t.user_attrs["cell"] for t in study.trials if t.user_attrs.get("trained")]
    assert trained and len(trained) == len(set(trained))              # no configuration trained twice
    table = search_study.export(study, path=tmp_path / "found.json")
    assert load_table(tmp_path / "found.json").records == table.records and table.records
    assert round(table_threshold(table), 4) == round(load_table(TABLE).provenance.baseline_accuracy - 0.02, 4)


def _draw_in_thread(objective, trial):
    """Run ``objective`` on ``trial`` in a thread; the event is set when it returns or prunes the trial
    (a twin of an earlier trial is pruned as its repeat)."""
    import threading

    done = threading.Event()

    def draw():
        try:
            objective(trial)
        except optuna.TrialPruned:
            pass
        done.set()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize("same", [True, False])
def test_a_later_trial_waits_for_an_earlier_one_still_drawing_and_trains_a_twin_once(same):
    """The race the two-worker test once lost in CI: trial 0 is RUNNING but has not drawn its
    configuration when trial 1 draws one. Trial 1 waits until trial 0 has drawn; if trial 0 drew the
    same, trial 1 waits for its result and reuses it (not trained twice); if not, trial 1 trains."""
    import socket

    preset, table = get_preset("quick"), load_table(TABLE)
    objective = search_replay.ReplayObjective(preset, table, log=lambda *a: None)
    on_device, other = (next(c for c in sweep.cells(preset) if c.method == m) for m in ("on-device", "original"))
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    earlier = study.ask()                                  # a live worker (this process), still drawing
    earlier.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    study.enqueue_trial(_params(on_device))
    later = study.ask()
    thread, done = _draw_in_thread(objective, later)
    assert not done.wait(1.5), "trial 1 went on while trial 0 had not drawn its configuration"
    drawn = on_device if same else other
    earlier.set_user_attr("cell", search.readable_key(drawn.method, drawn.split, drawn.sparsity, drawn.setting))
    if same:
        assert not done.wait(1.5), "trial 1 went on while trial 0 trained the same configuration"
        record = objective.records[earlier.user_attrs["cell"]]
        earlier.set_user_attr("record", record.to_dict())
        earlier.set_constraint("accuracy", objective.threshold - record.val_accuracy)
        study.tell(earlier, [float(getattr(record, name)) for name in objective.objectives])
    assert done.wait(10) and not thread.is_alive()
    attrs = study.trials[1].user_attrs
    assert attrs["cell"] == search.readable_key("on-device", on_device.split, on_device.sparsity, on_device.setting)
    assert attrs["trained"] is (not same)
    assert attrs.get("repeat_of") == (0 if same else None)       # the twin is trial 0's repeat
    assert study.trials[0].state == (optuna.trial.TrialState.COMPLETE if same else optuna.trial.TrialState.RUNNING)


def test_a_killed_worker_is_recovered_and_its_trial_queued_again(tmp_path):
    journal = tmp_path / "quick.journal"
    worker = _run("--preset", "quick", "--trials", "1", "--seed", "3", "--storage", str(journal),
                  "--oracle", str(TABLE), "--delay", "60")
    deadline = time.time() + 120
    running = []
    while time.time() < deadline and not running:
        time.sleep(0.5)
        if journal.exists():
            study = search_study.open_study("quick", str(journal))
            running = [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                       if "worker" in t.user_attrs and t.params]
    assert running, "the worker never started its trial"
    os.kill(worker.pid, signal.SIGKILL)                               # mid-trial: it sleeps in its 'training'
    worker.wait(timeout=30)
    params = running[0].params
    recovered = _run("--preset", "quick", "--storage", str(journal), "--recover", stdout=subprocess.PIPE, text=True)
    out, _ = recovered.communicate(timeout=120)
    assert recovered.returncode == 0 and "1 stale trial(s)" in out
    study = search_study.open_study("quick", str(journal))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert study.trials[1].state == optuna.trial.TrialState.WAITING and study.trials[1].params == {}
    again = _run("--preset", "quick", "--trials", "1", "--storage", str(journal), "--oracle", str(TABLE))
    assert again.wait(timeout=120) == 0
    study = search_study.open_study("quick", str(journal))
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE and study.trials[1].params == params
    assert study.trials[1].user_attrs["requeued_from"] == 0


# ---------------------------------------------------------------------------------------------
# What is known before training; early stop; three objectives; the validation accuracy
# ---------------------------------------------------------------------------------------------

from coinfer.experiments import search_checks  # noqa: E402


def _config(cell) -> tuple:
    return (cell.method, cell.split, cell.sparsity, cell.setting)


def test_bounds_before_training_hold_for_every_committed_record():
    """Each lower bound is at most the trained record's value, and tight where the architecture fixes it."""
    from coinfer.core.latency import footprint_bytes, split_activations
    from coinfer.core.network import resnet18

    preset = get_preset("quick")
    records = {r.extra["cell"]: r for r in load_table(TABLE).records}
    activations = split_activations(resnet18(width=preset.width))
    for cell in search._grid_cells(preset):
        r, config = records[cell.id], _config(cell)
        bounds = search_checks.cost_bounds(config, preset.width, search_checks.OBJECTIVE_NAMES)
        assert all(b <= v for b, v in zip(bounds, (r.device_macs, r.bits_per_image, r.server_macs))), cell.id
        assert search_checks.memory_bound(config, preset.width) <= footprint_bytes(r, activations=activations)
        if cell.method in ("original", "2-step-pruning"):          # no encoder: the device part is all there is
            assert bounds[0] == r.device_macs
        if cell.method == "bottlenet++":                          # a fixed-length code: exact
            assert bounds[1] == r.bits_per_image
    # Pruning is seen before training: the pruned part's bound is well below the unpruned one.
    half = search_checks.cost_bounds(("framework", "layer3.1", 0.5, "d16-l4"), preset.width)
    assert half[0] < 0.3 * search_checks.cost_bounds(("framework", "layer3.1", 0.0, "d16-l4"), preset.width)[0]


def _live(tmp_path, monkeypatch, preset, **kwargs):
    trained = []

    def run(self, cell):
        trained.append(cell.id)
        return {"record": next(r for r in load_table(TABLE).records if r.extra["cell"] == cell.id).to_dict()}

    monkeypatch.setattr(sweep.SweepRunner, "run", run)
    objective = search.LiveObjective(preset, table_threshold(load_table(TABLE)), tmp_path / "cells", tmp_path / "cache",
                                     log=lambda *a: None, **kwargs)
    return objective, trained


def test_a_configuration_that_cannot_fit_is_rejected_before_training(tmp_path, monkeypatch):
    preset = get_preset("quick")
    paths = _write_cells(tmp_path / "cells", preset)
    grid = search._grid_cells(preset)
    deep = search.cell_for(preset, ("bottlenet++", "layer4.1", 0.0, "r16"), grid)   # needs ~16 MB
    pool = search.cell_for(preset, ("original", "pool", 0.0, "8bit-huffman"), grid)  # cached, needs ~16 MB
    shallow = search.cell_for(preset, ("framework", "layer2.1", 0.5, "d16-l4"), grid)  # needs ~1.2 MB
    budget = search_checks.memory_budget("3MB")
    assert search_checks.memory_bound(_config(deep), preset.width) > budget
    assert search_checks.memory_bound(_config(shallow), preset.width) < budget
    paths[deep.id].unlink()
    paths[shallow.id].unlink()
    objective, trained = _live(tmp_path, monkeypatch, preset, memory_budget=budget, margin=-1)
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    for cell in (deep, pool, shallow):
        study.enqueue_trial(_params(cell))
    search_study.optimize(study, objective, trials=3)
    deep_t, pool_t, shallow_t = study.trials
    assert deep_t.state == pool_t.state == optuna.trial.TrialState.PRUNED
    assert deep_t.user_attrs["rejected"].startswith("memory") and pool_t.user_attrs["rejected"].startswith("memory")
    assert shallow_t.state == optuna.trial.TrialState.COMPLETE and trained == [shallow.id]   # only what fits trained


def test_a_huffman_code_longer_than_a_found_front_point_is_not_trained(tmp_path, monkeypatch):
    """The original network at `stem` sends at least one bit per element (8,192): PNG (0 device MACs, ~4,058
    bits) dominates that before training."""
    preset = get_preset("quick")
    paths = _write_cells(tmp_path / "cells", preset)
    grid = search._grid_cells(preset)
    png, stem = (search.cell_for(preset, c, grid) for c in (("png", "input", 0.0, "png"),
                                                             ("original", "stem", 0.0, "8bit-huffman")))
    paths[stem.id].unlink()
    objective, trained = _live(tmp_path, monkeypatch, preset, margin=-1)
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    study.enqueue_trial(_params(png))
    study.enqueue_trial(_params(stem))
    search_study.optimize(study, objective, trials=2)
    assert study.trials[1].state == optuna.trial.TrialState.PRUNED and trained == []
    assert "dominated" in study.trials[1].user_attrs["rejected"]


def test_a_trial_whose_warm_network_is_far_below_the_threshold_stops_before_its_codec_trains(tmp_path, monkeypatch):
    """Toy: the 'pruned network' is an untrained one (about 10 % on the validation images)."""
    import torch

    from coinfer.core.network import resnet18

    preset = get_preset("quick")
    torch.manual_seed(0)
    untrained = resnet18(width=preset.width)
    monkeypatch.setattr(sweep.SweepRunner, "pruned_device",
                        lambda self, split, sparsity: type("Pruned", (), {"model": untrained})())
    grid = search._grid_cells(preset)
    cell = search.cell_for(preset, ("framework", "layer3.1", 0.5, "d16-l4"), grid)
    for threshold, stops in ((0.8846, True), (0.1, False)):
        objective, trained = _live(tmp_path / str(threshold), monkeypatch, preset)
        objective.threshold = threshold
        study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
        study.enqueue_trial(_params(cell))
        search_study.optimize(study, objective, trials=1)
        trial = study.trials[0]
        assert trial.user_attrs["warm_val_accuracy"] < 0.2
        if stops:
            assert trial.state == optuna.trial.TrialState.PRUNED and trained == []
            assert trial.user_attrs["rejected"].startswith("early stop")
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE and trained == [cell.id]


def test_the_early_stop_margin_lies_above_what_a_codec_gained_over_its_pruned_network():
    pruned = {(r.split, r.sparsity): r.accuracy for r in load_table(results_dir() / "pruning_quick.json").records}
    gains = [r.accuracy - pruned[(r.split, r.sparsity)] for r in load_table(TABLE).records
             if r.method == "framework" and r.sparsity > 0 and (r.split, r.sparsity) in pruned]
    assert len(gains) >= 8 and max(gains) < search_checks.EARLY_STOP_MARGIN


def test_three_objectives_replay_and_the_hypervolume_in_three_dimensions():
    preset, table = get_preset("quick"), load_table(TABLE)
    three = search_checks.parse_objectives("device_macs,bits,server_macs")
    with pytest.raises(ValueError, match="two or three distinct"):
        search_checks.parse_objectives("device_macs,latency")
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0, objectives=three)
    search_study.optimize(study, search_replay.ReplayObjective(preset, table, log=lambda *a: None, objectives=three), trials=15)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.directions) == 3 and done and all(len(t.values) == 3 for t in done)
    out = search_replay.replay(preset, table, samplers=["random"], seeds=[0], trials=40, log=lambda *a: None,
                               objectives=three)
    two = search_replay.replay(preset, table, samplers=["random"], seeds=[0], trials=40, log=lambda *a: None)
    assert out["settings"]["objectives"] == list(three) and len(out["settings"]["reference"]) == 3
    assert set(two["grid"]["front"]) <= set(out["grid"]["front"])         # a third objective only adds to the front
    curve = out["runs"][0]["fraction_by_trainings"]
    assert curve == sorted(curve) and 0 < curve[-1] <= 1.0
    # A third objective shared by every point multiplies the two-objective volume by its extent.
    points = [search_replay.log_objectives(r) for r in search_replay.feasible_records(table)]
    reference = out["settings"]["reference"][:2]
    flat = search_replay.hypervolume([p + (0.5,) for p in points], tuple(reference) + (2.0,))
    assert flat == pytest.approx(1.5 * search_replay.hypervolume(points, tuple(reference)))


def test_the_constraint_uses_validation_accuracy_and_the_old_table_falls_back_to_test_accuracy_with_a_warning():
    from dataclasses import replace

    from coinfer.results import LookupTable
    from coinfer.stats import selection_threshold

    preset, table = get_preset("quick"), load_table(TABLE)
    out = search_replay.replay(preset, table, samplers=["random"], seeds=[0], trials=5, log=lambda *a: None)
    assert out["settings"]["accuracy_source"] == "val" and out["warning"] is None
    assert out["settings"]["threshold"] == pytest.approx(table_threshold(table, "val"))
    committed = search_replay.load_replay("quick")
    assert committed["settings"]["accuracy_source"] == "val" and not committed["warning"]
    # A table made before the validation split: test accuracies against the test threshold, with a warning.
    old = LookupTable(replace(table.provenance, validation=None, baseline_val_accuracy=None),
                      [replace(r, val_accuracy=None) for r in table.records])
    out = search_replay.replay(preset, old, samplers=["random"], seeds=[0], trials=5, log=lambda *a: None)
    assert out["settings"]["accuracy_source"] == search_checks.TEST_FALLBACK and "TEST accuracy" in out["warning"]
    assert out["settings"]["threshold"] == pytest.approx(table_threshold(table, "test"))
    # Records are judged by their validation accuracy: 3 points lower, fewer are feasible.
    lower = LookupTable(table.provenance, [replace(r, val_accuracy=r.val_accuracy - 0.03) for r in table.records])
    assert search_replay.accuracy_source(lower) == "val"
    assert len(search_replay.feasible_records(lower)) < len(search_replay.feasible_records(table))
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    search_study.optimize(study, search_replay.ReplayObjective(preset, lower, log=lambda *a: None), trials=10)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and all(t.user_attrs["accuracy_source"] == "val" for t in done)
    for t in done:
        record = t.user_attrs["record"]
        assert t.constraints["accuracy"] == pytest.approx(selection_threshold(lower) - record["val_accuracy"])


def _oracle_search(tmp_path, *budget: str) -> dict:
    """The summary of ``search`` with ``budget`` (e.g. ``--trials 5``) on the committed table as its oracle."""
    import json

    out = tmp_path / "live.json"
    proc = _run("--preset", "quick", *budget, "--seed", "0", "--storage", str(tmp_path / "q.journal"),
                "--oracle", str(TABLE), "--summary", str(out), stdout=subprocess.PIPE, text=True)
    assert proc.wait(timeout=300) == 0
    return json.loads(out.read_text())


def test_a_search_writes_its_summary_and_the_committed_live_search_is_consistent(tmp_path):
    import json

    from coinfer.paths import search_live_path

    summary = _oracle_search(tmp_path, "--trials", "5")
    assert summary["trials"] == 5 == sum(summary["states"].values()) and 0 < summary["trained"] <= 5
    assert summary["accuracy_source"] == ["val"]
    keys = {c.id.rsplit("_", 1)[0] for c in search._grid_cells(get_preset("quick"))}
    assert summary["front"] and set(summary["front"]) <= keys
    assert summary["git_commit"] and summary["hardware"] and summary["date"].startswith("20")   # its provenance
    live = json.loads(search_live_path("quick").read_text())
    assert live["command"].startswith("python -m coinfer search --preset quick") and live["wall_time_s"] > 0
    assert live["trained"] + len(live["rejected"]) + live["repeats"] <= live["trials"] and set(live["front"]) <= keys
    assert live["stopped"] in search_study.STOPS
    # what its time includes: the networks it fine-tuned (one per trained trial at most, and the control)
    assert isinstance(live["networks_fine_tuned"], int) and 0 <= live["networks_fine_tuned"] <= live["trained"] + 1
    assert not live["git_commit"].endswith("+dirty") and "CPU" in live["hardware"]


def test_trials_of_other_settings_or_of_another_baseline_are_neither_reused_nor_in_the_front(tmp_path):
    """A study outlives a change of settings (another cell id) and a retrained baseline (another
    digest): its old trials must not stand for the configuration now."""
    from types import SimpleNamespace

    from coinfer.results import Record

    objective = search.LiveObjective(get_preset("quick"), 0.5, tmp_path, tmp_path, log=lambda *a: None)
    png = next(c for c in objective.grid_cells if c.method == "png")
    other_seed = next(c for c in sweep.cells(get_preset("quick", seed=1)) if c.method == "png")
    key = search.readable_key(png.method, png.split, png.sparsity, png.setting)
    record = Record(method="png", split="input", accuracy=0.9, device_macs=0, device_params=0, server_macs=1,
                    bits_per_image=3554.0)

    def study_of(cell_id, baseline):
        trial = SimpleNamespace(user_attrs={"cell": key, "record": {**record.to_dict(), "extra": {"cell": cell_id}},
                                            **({"baseline": baseline} if baseline else {})},
                                values=[0.0, 3554.0], constraints={"accuracy": -0.01})
        return SimpleNamespace(get_trials=lambda deepcopy, states: [trial])

    now = objective.baseline
    assert now is not None and len(now) == 64
    for cell_id, baseline, current in ((png.id, now, True), (png.id, None, True),    # recorded before digests: trusted
                                       (other_seed.id, now, False), (png.id, "0" * 64, False)):
        study = study_of(cell_id, baseline)
        assert (objective.completed(study, key) is not None) == current, (cell_id, baseline)
        assert objective.front(study) == ([(0.0, 3554.0)] if current else [])


def _trained(study) -> list[bool]:
    return [bool(t.user_attrs.get("trained")) for t in sorted(study.trials, key=lambda t: t.number)]


def test_a_search_stops_on_its_training_budget_or_when_its_sampler_has_converged():
    preset, table = get_preset("quick"), load_table(TABLE)
    objective = search_replay.ReplayObjective(preset, table, log=lambda *a: None)
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), sampler="tpe", seed=0)
    assert search_study.optimize(study, objective, trainings=7) == "trainings"
    trained = _trained(study)
    assert sum(trained) == 7 and trained[-1]                  # it stops on the seventh training
    # Patience: it ends after that many trials in a row that train nothing, and no sooner.
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), sampler="random", seed=0)
    assert search_study.optimize(study, objective, trials=2000, patience=20) == "patience"
    trained = _trained(study)
    assert not any(trained[-20:]) and trained[-21]
    gaps, idle = [], 0
    for t in trained[:-20]:
        idle = 0 if t else idle + 1
        gaps.append(idle)
    assert max(gaps) < 20 and len(trained) < 2000
    # The same run, read off by the replay's rule, stops where it stopped.
    numbers = [i + 1 for i, t in enumerate(trained) if t]
    assert search_replay.stop_point(numbers, len(trained), 20) == (sum(trained), len(trained))
    assert search_replay.stop_point(numbers, len(trained), 10)[0] <= sum(trained)
    for bad in ({"trials": 0}, {"trainings": -1}, {"patience": 2.5}, {"trials": None, "patience": None}):
        with pytest.raises(ValueError, match="budget"):
            search_study.optimize(study, objective, **bad)


def test_the_replay_reports_what_each_stopping_rule_costs_and_finds():
    preset, table = get_preset("quick"), load_table(TABLE)
    out = search_replay.replay(preset, table, samplers=["random"], seeds=[0, 1], trials=600, patience=40,
                               log=lambda *a: None)
    assert out["settings"]["patience"] == 40
    stopping = out["summary"]["random"]["stopping"]
    assert list(stopping) == ["25", "40"]                     # the summarised rules up to the replay's own
    for run in out["runs"]:
        assert run["stopped"] in search_study.STOPS
        assert len(run["training_trials"]) == run["trainings"] == len(run["trained"])
        assert run["training_trials"] == sorted(run["training_trials"]) and run["training_trials"][-1] <= run["trials"]
        # Read off with the replay's own patience, every run stops where it ended: by patience (its last
        # 40 trials trained nothing) or by the cap on trials.
        assert search_replay.stop_point(run["training_trials"], run["trials"], 40) == (run["trainings"], run["trials"])
        if run["stopped"] == "patience":
            assert run["trials"] - run["training_trials"][-1] >= 40
        else:
            assert run["trials"] == 600
    assert stopping["40"]["trainings"]["max"] == max(r["trainings"] for r in out["runs"])
    assert stopping["25"]["trainings"]["mean"] <= stopping["40"]["trainings"]["mean"]
    assert stopping["25"]["front"] <= stopping["40"]["front"] <= out["summary"]["random"]["reached_front"]
    # The committed replay ran with the defaults, and its rules were read off its runs.
    committed = search_replay.load_replay("quick")
    assert committed["settings"]["patience"] == search_study.PATIENCE
    assert committed["settings"]["trials"] == search_replay.REPLAY_TRIALS
    for name, summary in committed["summary"].items():
        runs = [r for r in committed["runs"] if r["sampler"] == name]
        assert summary["stopping"][str(search_study.PATIENCE)] == search_replay.stopping(runs, search_study.PATIENCE)


def test_the_command_line_spends_a_training_budget_and_refuses_budgets_it_cannot_split(tmp_path):
    summary = _oracle_search(tmp_path, "--trainings", "4")
    assert (summary["trained"], summary["stopped"]) == (4, "trainings")
    for args, said in ((["--trials", "1", "--workers", "2"], "--trials 1 is fewer than --workers 2"),
                       (["--replay", "--trainings", "3"], "--trainings 3"),
                       ([], "--trials N or --trainings N")):
        proc = _run("--preset", "quick", *args, "--storage", str(tmp_path / "r.journal"), "--oracle", str(TABLE),
                    stderr=subprocess.PIPE, text=True)
        assert proc.wait(timeout=120) != 0 and said in proc.stderr.read()


def test_the_search_figure_marks_where_each_samplers_studies_stop():
    import copy

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coinfer.views.search import fig_search

    replay = search_replay.load_replay("quick")
    fig = fig_search(replay)
    bars = fig.axes[0].containers
    assert len(bars) == len(replay["summary"])
    for name, bar in zip(replay["summary"], bars):
        runs = [r for r in replay["runs"] if r["sampler"] == name]
        (x,), (y,) = bar.lines[0].get_data()
        assert x == pytest.approx(sum(r["trainings"] for r in runs) / len(runs))
        assert y == pytest.approx(100 * sum(r["final_fraction"] for r in runs) / len(runs))
    assert "mark where the studies stop" in fig.coinfer.alt
    plt.close(fig)
    old = copy.deepcopy(replay)          # a replay made before the stopping rule: no marks
    del old["settings"]["patience"]
    assert not fig_search(old).axes[0].containers
    plt.close("all")


def test_a_repeated_configuration_is_pruned_as_a_repeat_and_counted_once():
    preset, table = get_preset("quick"), load_table(TABLE)
    objective = search_replay.ReplayObjective(preset, table, log=lambda *a: None)
    on_device = next(c for c in sweep.cells(preset) if c.method == "on-device")
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    for _ in range(3):
        study.enqueue_trial(_params(on_device))
    search_study.optimize(study, objective, trials=3)
    first, *again = study.trials
    assert first.state == optuna.trial.TrialState.COMPLETE and first.user_attrs["trained"]
    assert [(t.state, t.user_attrs["repeat_of"], t.user_attrs["trained"]) for t in again] == \
        [(optuna.trial.TrialState.PRUNED, 0, False)] * 2
    summary = search_study.summarize(study, objective, wall_time_s=0.0)
    assert (summary["trained"], summary["repeats"], summary["rejected"]) == (1, 2, {})
    assert summary["front"] == [search.readable_key(on_device.method, on_device.split, on_device.sparsity,
                                                    on_device.setting)]


# ---------------------------------------------------------------------------------------------
# The command line: worker exit codes, a rehearsal's own journal, what a replay refuses
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codes, rc", [((0, -9), 128 + 9), ((0, 3), 3), ((-15, 0), 128 + 15), ((0, 0), 0)])
def test_a_search_fails_when_any_worker_fails_or_is_killed(codes, rc, tmp_path, monkeypatch, capsys):
    """max() of the workers' exit codes took 0 over a worker killed by SIGKILL (-9): exit 0 after ``kill -9``."""
    from coinfer.cli import main

    waits = iter(codes)

    class Worker:   # the worker processes, stubbed: their exit codes are all the parent reads
        def __init__(self, argv):
            self.code = next(waits)

        def wait(self):
            return self.code

    monkeypatch.setattr(subprocess, "Popen", Worker)
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    assert main(["search", "--trials", "2", "--workers", "2", "--storage", str(tmp_path / "w.journal")]) == rc
    err = capsys.readouterr().err
    assert ("killed by signal 9" in err) == (rc == 137) and ("exited with 3" in err) == (rc == 3)


def test_a_rehearsal_keeps_out_of_the_live_searchs_journal(tmp_path, monkeypatch, capsys):
    """A rehearsal (--oracle) without --storage wrote its table's answers into data/search/<preset>.journal,
    study coinfer-<preset>: a later --export published them as the live search's results."""
    from coinfer.cli import main
    from coinfer.paths import search_journal_path

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    assert main(["search", "--oracle", str(TABLE), "--trials", "2", "--seed", "0"]) == 0
    assert not search_journal_path("quick").exists()
    assert len(search_study.open_study("quick", str(search_journal_path("quick-rehearsal"))).trials) == 2


@pytest.mark.parametrize("option", [["--sampler", "random"], ["--seed", "1"], ["--workers", "2"], ["--grid", "tiny"],
                                    ["--margin", "0.1"], ["--storage", "s.journal"], ["--study", "s"], ["--summary"],
                                    ["--threads", "2"], ["--set", "seed=1"], ["--rate-weights", "0.1"],
                                    ["--delay", "1"], ["--cells-dir", "c"], ["--export"]])
def test_a_replay_refuses_what_it_would_ignore_and_writes_nothing(option, tmp_path, monkeypatch, capsys):
    """--replay ignored these without a word; --grid (or --set) replayed another grid and wrote it over the
    committed replay_<preset>.json."""
    from coinfer.cli import main
    from coinfer.paths import search_replay_path

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    assert main(["search", "--replay", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option[0]}") and "a replay" in err, err
    assert not search_replay_path("quick").exists()


def test_a_replay_of_another_grid_takes_its_table_and_an_output_file():
    from coinfer.cli import build_parser
    from coinfer.cli_search import check_replay

    check_replay(build_parser().parse_args(["search", "--replay", "--grid", "tiny", "--oracle", "t.json", "--out", "r.json",
                                            "--trials", "5", "--patience", "3", "--objectives", "device_macs,bits"]))
    with pytest.raises(ValueError, match="--grid tiny: a replay searches the grid of its table"):
        check_replay(build_parser().parse_args(["search", "--replay", "--grid", "tiny", "--oracle", "t.json"]))


# ---------------------------------------------------------------------------------------------
# What each mode reads, and what it refuses: a missing study, another grid's table, ignored options
# ---------------------------------------------------------------------------------------------

def _studies(journal: Path) -> list[str]:
    from optuna.storages.journal import JournalFileBackend

    return optuna.study.get_all_study_names(optuna.storages.JournalStorage(JournalFileBackend(str(journal))))


def test_export_and_recover_load_an_existing_study_and_refuse_a_missing_one_or_an_empty_export(tmp_path, monkeypatch,
                                                                                                capsys):
    """--export of a misspelt --study or --storage created it and wrote an empty table over the last export."""
    import json

    from coinfer.cli import main

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    journal, out = tmp_path / "q.journal", tmp_path / "found.json"
    assert main(["search", "--oracle", str(TABLE), "--trials", "4", "--seed", "0", "--storage", str(journal)]) == 0
    assert main(["search", "--storage", str(journal), "--export", "--out", str(out)]) == 0
    exported = out.read_text()
    assert json.loads(exported)["records"]
    capsys.readouterr()
    for args in (["--study", "coinfer-qiuck", "--export", "--out", str(out)], ["--study", "coinfer-qiuck", "--recover"]):
        assert main(["search", "--storage", str(journal), *args]) == 2
        err = capsys.readouterr().err
        assert "no study 'coinfer-qiuck'" in err and str(journal) in err and "'coinfer-quick'" in err, err
    typo = tmp_path / "typo.journal"
    for args in (["--export", "--out", str(out)], ["--recover"]):
        assert main(["search", "--storage", str(typo), *args]) == 2
        assert f"no journal file {typo}" in capsys.readouterr().err and not typo.exists()
    assert _studies(journal) == ["coinfer-quick"] and out.read_text() == exported      # nothing made, nothing lost
    # A study with no completed trial: nothing to export, and the last export stays.
    search_study.open_study("quick", str(journal), study_name="empty")
    assert main(["search", "--storage", str(journal), "--study", "empty", "--export", "--out", str(out)]) == 2
    assert "nothing to export" in capsys.readouterr().err and out.read_text() == exported
    assert search_study.export(search_study.open_study("quick", str(journal), study_name="empty"), path=False).records == []


def test_a_replay_or_rehearsal_refuses_a_table_that_is_not_the_presets_grid(tmp_path, monkeypatch, capsys):
    """The replay answered the tiny grid's trials from the quick table by name, and counted the quick table's
    85 records as the grid's trainings and front."""
    from dataclasses import replace

    from coinfer.cli import main
    from coinfer.config import sweep_grid
    from coinfer.results import LookupTable

    table = load_table(TABLE)
    tiny = get_preset("quick", sweep=sweep_grid("tiny"))
    with pytest.raises(ValueError, match=r"not the sweep grid of preset 'quick'.*lacks 1 of the grid's 6 cells "
                                         r"\(framework_layer3.1_s0.5_d4-l2\) and has 80 records beyond"):
        search_replay.ReplayObjective(tiny, table)
    with pytest.raises(ValueError, match="not the sweep grid"):
        search_replay.replay(tiny, table, samplers=["random"], seeds=[0], trials=5, log=lambda *a: None)
    no_png = LookupTable(table.provenance, [r for r in table.records if r.method != "png"])
    with pytest.raises(ValueError, match=r"lacks 1 of the grid's 85 cells \(png_input_s0_png\) and has 0 records"):
        search_replay.ReplayObjective(get_preset("quick"), no_png)
    twice = LookupTable(table.provenance, table.records + table.records[:1])
    with pytest.raises(ValueError, match=r"lacks 0 of .* has 1 records beyond them \(png_input_s0_png\)"):
        search_replay.ReplayObjective(get_preset("quick"), twice)
    # The book's exercise: a grid without PNG and its table without PNG's record.
    quick = get_preset("quick")
    search_replay.ReplayObjective(replace(quick, sweep=replace(quick.sweep, png=False)), no_png)
    # A rehearsal of the tiny grid on the quick table fails before it makes a journal.
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    journal = tmp_path / "r.journal"
    assert main(["search", "--grid", "tiny", "--oracle", str(TABLE), "--trials", "2", "--storage", str(journal)]) == 2
    assert "not the sweep grid" in capsys.readouterr().err and not journal.exists()


def test_the_summary_counts_every_rejected_trial_and_only_this_runs_trials(tmp_path, monkeypatch):
    """`rejected` was keyed by cell (a configuration rejected three times counted once), and a resumed
    journal's summary gave this run's wall time with every earlier run's trials."""
    import json

    from coinfer.cli import main

    preset = get_preset("quick")
    objective = search_replay.ReplayObjective(preset, load_table(TABLE), log=lambda *a: None,
                                              memory_budget=search_checks.memory_budget("3MB"))
    pool = search.cell_for(preset, ("original", "pool", 0.0, "8bit-huffman"))      # needs ~16 MB
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    for _ in range(3):
        study.enqueue_trial(_params(pool))
    search_study.optimize(study, objective, trials=3)
    summary = search_study.summarize(study, objective, wall_time_s=1.0)
    assert (summary["trials"], summary["rejected_trials"], len(summary["rejected"])) == (3, 3, 1)
    assert summary["early_stopped_trials"] == 0
    # Two runs of the command line on one journal: the second's summary is of its own trials.
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    run = ["search", "--oracle", str(TABLE), "--storage", str(tmp_path / "q.journal"), "--sampler", "random"]
    assert main([*run, "--trials", "6", "--seed", "0", "--summary", str(tmp_path / "1.json")]) == 0
    assert main([*run, "--trials", "2", "--seed", "1", "--summary", str(tmp_path / "2.json")]) == 0
    first, second = (json.loads((tmp_path / f"{i}.json").read_text()) for i in (1, 2))
    assert (first["trials"], first["study_trials"], second["trials"], second["study_trials"]) == (6, 6, 2, 8)
    for s in (first, second):
        assert sum(s["states"].values()) == s["trials"] == s["trained"] + s["repeats"] + s["rejected_trials"]


def test_a_budgeted_search_keeps_what_does_not_fit_out_of_its_front(tmp_path):
    """A --device-memory run of a study reported, and rejected others against, an earlier unbudgeted
    run's configurations that do not fit the budget."""
    preset, table = get_preset("quick"), load_table(TABLE)
    pool, png = (search.cell_for(preset, c) for c in (("original", "pool", 0.0, "8bit-huffman"), ("png", "input", 0.0, "png")))
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    for cell in (pool, png):
        study.enqueue_trial(_params(cell))
    search_study.optimize(study, search_replay.ReplayObjective(preset, table, log=lambda *a: None), trials=2)
    keys = [t.user_attrs["cell"] for t in study.trials]
    budget = search_checks.memory_budget("3MB")
    assert search_checks.memory_bound(_config(pool), preset.width) > budget
    budgeted = search_replay.ReplayObjective(preset, table, log=lambda *a: None, memory_budget=budget)
    assert len(search_replay.ReplayObjective(preset, table).front(study)) == 2     # without the budget: both
    assert budgeted.front(study) == [tuple(study.trials[1].values)]
    summary = search_study.summarize(study, budgeted, wall_time_s=1.0)
    assert summary["front"] == [keys[1]] and summary["memory_budget"] == budget


RUNS = {"rehearsal": ["--oracle", str(TABLE), "--trials", "2"], "live": ["--trials", "2"], "export": ["--export"],
        "recover": ["--recover"]}


@pytest.mark.parametrize("mode, option", [
    ("rehearsal", ["--margin", "0.3"]), ("rehearsal", ["--all"]), ("rehearsal", ["--out", "o.json"]),
    ("rehearsal", ["--cells-dir", "c"]), ("live", ["--delay", "1"]), ("live", ["--out", "o.json"]), ("live", ["--all"]),
    ("export", ["--trials", "5"]), ("export", ["--summary"]), ("export", ["--device-memory", "1KB"]),
    ("export", ["--seed", "1"]), ("export", ["--sampler", "random"]), ("export", ["--margin", "0.1"]),
    ("export", ["--cells-dir", "c"]), ("export", ["--all"]), ("recover", ["--export"]), ("recover", ["--out", "o.json"]),
    ("recover", ["--trials", "5"]), ("recover", ["--delay", "1"]), ("recover", ["--device-memory", "3MB"])])
def test_each_mode_refuses_what_it_would_ignore_before_it_opens_a_journal(mode, option, tmp_path, monkeypatch, capsys):
    """A rehearsal took --margin, --all, --out and --cells-dir, --export took --trials, --summary and
    --device-memory, a live search --delay, and ignored them without a word."""
    import coinfer.train
    from coinfer.cli import main

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    monkeypatch.setattr(coinfer.train, "get_baseline", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("trains")))
    journal = tmp_path / "j.journal"
    assert main(["search", *RUNS[mode], "--storage", str(journal), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option[0]}"), err
    assert not journal.exists() and not (tmp_path / "o.json").exists()


def test_the_early_stop_margin_is_documented_as_it_behaves(tmp_path, monkeypatch):
    """LiveObjective's docstring said margin None never stops early; None is the default margin."""
    objective, _ = _live(tmp_path, monkeypatch, get_preset("quick"), margin=None)
    assert objective.margin == search_checks.EARLY_STOP_MARGIN
    doc = " ".join(search.LiveObjective.__doc__.split())
    assert "None: ``search_checks.EARLY_STOP_MARGIN``" in doc and "a negative margin: never stop early" in doc
    monkeypatch.setattr(search, "warm_network", lambda *a: pytest.fail("a negative margin computed the warm network"))
    objective, trained = _live(tmp_path / "n", monkeypatch, get_preset("quick"), margin=-1)
    cell = search.cell_for(get_preset("quick"), ("framework", "layer3.1", 0.5, "d16-l4"))
    assert objective.compute(_config(cell)) is not None and trained == [cell.id]


def test_the_search_modules_docstrings_say_what_the_committed_tables_show():
    """search_checks claimed a codec cell beats its pruned network by up to 3.5 points (at best it loses half a
    point); search_study that the quick grid has 27 cells (85)."""
    import re

    from coinfer.experiments import search_checks as checks

    pruning = load_table(results_dir() / "pruning_quick.json").records
    for field in ("val_accuracy", "accuracy"):           # the early stop reads the first
        pruned = {(r.split, r.sparsity): getattr(r, field) for r in pruning}
        gains = [getattr(r, field) - pruned[(r.split, r.sparsity)] for r in load_table(TABLE).records
                 if r.method == "framework" and r.sparsity > 0 and (r.split, r.sparsity) in pruned]
        assert len(gains) >= 8 and max(gains) <= 0 < checks.EARLY_STOP_MARGIN, field
    assert "no codec cell beats its pruned network" in " ".join(checks.__doc__.split())
    for module in (search, search_study, search_replay, checks):
        for count in re.findall(r"quick grid has (\d+) cells", " ".join(str(v.__doc__) for v in vars(module).values())):
            assert int(count) == len(sweep.cells(get_preset("quick"))), module.__name__


def test_the_book_glues_a_cells_training_time_from_the_sweep_table():
    """The page typed "seconds to a minute" per cell; 23 of the quick sweep's 85 cells took longer."""
    page = (ROOT / "book" / "08_search.md").read_text()
    assert "{glue:text}`cell_seconds_median`" in page and "{glue:text}`cell_seconds_max`" in page
    assert 'glue("cell_seconds_max"' in page and "seconds to a minute" not in page
    times = [float(r.extra["wall_time_s"]) for r in load_table(TABLE).records]          # what the page reads
    assert len(times) == len(sweep.cells(get_preset("quick"))) and min(times) >= 0 and max(times) > 0


def test_a_trial_that_never_named_its_worker_is_stale_after_a_while(monkeypatch):
    """A worker killed inside study.ask() leaves a RUNNING trial without a worker: it blocked every later
    trial's wait for its twin forever, and --recover (without --all) never failed it."""
    preset = get_preset("quick")
    study = search_study.open_study("quick", optuna.storages.InMemoryStorage(), seed=0)
    study.ask()                                             # its worker died before naming itself
    assert search_study.recover(study) == []                # it may still be drawing
    later = study.ask()
    objective = search_replay.ReplayObjective(preset, load_table(TABLE), log=lambda *a: None)
    thread, done = _draw_in_thread(objective, later)
    assert not done.wait(1.0), "a trial went on while an earlier one may still draw the same configuration"
    monkeypatch.setattr(search_study, "UNCLAIMED_S", 0.5)
    assert done.wait(10) and not thread.is_alive()          # no longer waits on it
    assert search_study.recover(study) == [0] and study.trials[0].state == optuna.trial.TrialState.FAIL
