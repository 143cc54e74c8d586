"""Tests of the sweep (coinfer.experiments.sweep): cell ids, kill-and-resume, atomic files, and that the committed
quick table is what the code produces. The 'tiny' grid: a few images and steps per cell."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from coinfer.paths import project_root, results_dir
from coinfer.results import load_table
from coinfer.config import get_preset, sweep_grid
from coinfer.experiments.sweep import VOLATILE_EXTRA, SweepRunner, cells, gather, read_cell, run as run_sweep


def tiny_preset(**sweep_overrides):
    """The quick preset with the tiny grid (``sweep --grid tiny``), grid fields overridden."""
    return get_preset("quick", sweep=sweep_grid("tiny"), **{f"sweep.{k}": v for k, v in sweep_overrides.items()})

ROOT = project_root(Path(__file__).parent)
BASELINE = ROOT / "data" / "checkpoints" / "quick" / "baseline.pt"
needs_baseline = pytest.mark.skipif(not BASELINE.exists(), reason="the quick baseline checkpoint is missing")


def test_cell_ids_are_stable_distinct_and_depend_on_their_settings():
    tiny = tiny_preset()
    ids = [c.id for c in cells(tiny)]
    assert ids == [c.id for c in cells(tiny)] and len(set(ids)) == len(ids)
    changed = tiny_preset(encode={**tiny.sweep.encode, "epochs": 2})
    before = {c.method + c.split + c.setting: c.id for c in cells(tiny)}
    after = {c.method + c.split + c.setting: c.id for c in cells(changed)}
    assert after["pnginputpng"] == before["pnginputpng"]              # PNG does not depend on the codec
    assert after["frameworklayer3.1d4-l2"] != before["frameworklayer3.1d4-l2"]
    assert {c.method for c in cells(tiny)} == {"png", "original", "framework", "bottlenet++",
                                                       "2-step-pruning"}


def test_bad_grid_settings_are_named():
    with pytest.raises(ValueError, match="unknown sweep grid 'huge'"):
        sweep_grid("huge")
    with pytest.raises(ValueError, match="sparsit"):
        tiny_preset(sparsities=(1.0,))
    with pytest.raises(ValueError, match="bottlenet_reductions"):
        tiny_preset(bottlenet_reductions=(0,))
    with pytest.raises(ValueError, match="unknown split point 'layer9'"):
        tiny_preset(original_splits=("layer9",))


@needs_baseline
def test_killed_sweep_keeps_finished_cells_and_resumes(tmp_path):
    cells_dir, table, cache = tmp_path / "cells", tmp_path / "sweep.json", tmp_path / "cache"
    command = [sys.executable, "-m", "coinfer", "sweep", "--preset", "quick", "--grid", "tiny", "--threads", "1",
               "--cells-dir", str(cells_dir), "--table", str(table), "--cache", str(cache), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = len(cells(tiny_preset()))
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cells_dir.glob("*.json"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)                   # mid-run: some cells done, one running
    process.wait()
    finished = sorted(cells_dir.glob("*.json"))
    assert 2 <= len(finished) < total, "the sweep should have been killed part-way"
    assert not table.exists()                             # no table before every cell is done
    stamps = {}
    for path in finished:                                 # every file that exists is a whole result
        assert read_cell(path, path.stem) is not None
        stamps[path.name] = path.stat().st_mtime_ns

    torch.set_num_threads(1)
    messages = []
    result = run_sweep(tiny_preset(), cells_dir=cells_dir, table=table, cache_dir=cache,
                       progress=False, log=messages.append)
    assert f"{len(finished)} already done" in messages[-2]
    assert {p.name: p.stat().st_mtime_ns for p in finished} == stamps    # not recomputed
    assert len(result.records) == total and [r.extra["cell"] for r in result.records] == \
        [c.id for c in cells(tiny_preset())]
    assert load_table(table).to_dict()["records"] == result.to_dict()["records"]
    assert not list(cells_dir.glob(".*.tmp"))

    # A second run finds everything done and recomputes nothing.
    messages.clear()
    run_sweep(tiny_preset(), cells_dir=cells_dir, table=table, cache_dir=cache,
              progress=False, log=messages.append)
    assert f"0 cells run, {total} already done" in messages[-2]


def test_gather_refuses_a_partial_sweep(tmp_path):
    with pytest.raises(RuntimeError, match=r"\d+ of \d+ cells have no result yet"):
        gather(tiny_preset(), tmp_path, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_a_damaged_cell_file_is_not_a_result(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"schema": "coinfer.experiments.sweep-cell", "id": "x", "record": {"method": ')
    assert read_cell(path, "x") is None
    path.write_text(json.dumps({"schema": "coinfer.experiments.sweep-cell", "id": "y", "record": {}}))
    assert read_cell(path, "x") is None


def _without_volatile(record: dict) -> dict:
    return {**record, "extra": {k: v for k, v in record["extra"].items() if k not in VOLATILE_EXTRA}}


@needs_baseline
@pytest.mark.skipif(not (results_dir() / "sweep_quick.json").exists(), reason="no committed quick table")
def test_committed_quick_table_is_what_the_sweep_computes(tmp_path):
    """Re-run the table's cheapest cells (PNG, original at pool) and compare every number exactly."""
    table = load_table(results_dir() / "sweep_quick.json")
    quick = get_preset("quick")
    grid = cells(quick)
    assert [r.extra["cell"] for r in table.records] == [c.id for c in grid]   # the whole grid, in order
    assert table.provenance.preset == "quick" and table.provenance.dataset == "fashion-mnist"
    by_id = {r.extra["cell"]: r for r in table.records}
    runner = SweepRunner(quick, tmp_path / "cells", tmp_path / "cache", device=torch.device("cpu"),
                         log=lambda *_: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # the committed table was made with --threads 1
    try:
        for cell in grid:
            if cell.method == "png" or (cell.method == "original" and cell.split == "pool"):
                payload = runner.run(cell)
                assert _without_volatile(payload["record"]) == _without_volatile(by_id[cell.id].to_dict())
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------- Fig. 3's check

def _table(rows):
    from coinfer.results import LookupTable, Provenance, Record

    prov = Provenance(dataset="fashion-mnist", preset="quick", command="test", wall_time_s=0.0,
                      baseline_accuracy=0.90, accuracy_drop=2.0)
    records = [Record(method=m, split=s, accuracy=a, device_macs=macs, device_params=1, server_macs=1,
                      bits_per_image=bits, code_size=code)
               for m, s, a, macs, bits, code in rows]
    return LookupTable(prov, records)


def test_pareto_front_keeps_only_undominated_points():
    from coinfer.views.tradeoff import pareto_front

    points = [(5, 5), (1, 10), (2, 2), (3, 1), (2, 3), (10, 1), (2, 2)]
    assert pareto_front(points) == [1, 2, 3]
    assert pareto_front([]) == []


def test_dominance_check_names_the_baseline_points_the_framework_does_not_beat(capsys):
    from coinfer.results import table_threshold
    from coinfer.views.tradeoff import dominance_check, plot_tradeoff

    table = _table([
        ("png", "input", 0.90, 0, 4000, "png"),
        ("framework", "layer2.1", 0.89, 100, 30, "a"),
        ("framework", "layer3.1", 0.80, 10, 10, "b"),        # below the threshold: ignored
        ("original", "layer2.1", 0.90, 100, 9000, ""),        # dominated (same MACs, more bits)
        ("2-step-pruning", "layer2.1", 0.89, 50, 5000, ""),   # fewer MACs: not dominated
        ("bottlenet++", "layer2.1", 0.70, 1, 1, ""),          # below the threshold
        ("bottlenet++", "layer3.1", 0.89, 50, 20, ""),        # beats the framework in both
    ])
    assert table_threshold(table) == pytest.approx(0.88)   # 90% minus the quick preset's 2 points
    result = dominance_check(table)
    assert result["framework_points"] == 1
    assert result["dominated"] == {"original": 1, "2-step-pruning": 0, "bottlenet++": 0}
    assert [r.split for r in result["not_dominated"]["2-step-pruning"]] == ["layer2.1"]
    assert len(result["above_png"]["2-step-pruning"]) == 1       # 5000 bits > the PNG's 4000
    assert not result["claim_holds"] and result["beats_framework"][0][0].method == "bottlenet++"
    out = capsys.readouterr().out
    assert "88.00%" in out and "fails" in out
    ax = plot_tradeoff(table, caption=False)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("PNG") for label in labels)
    assert any("1 of 2 settings" in label for label in labels)


def test_bad_shard_is_named(tmp_path):
    with pytest.raises(ValueError, match="0 <= i < n"):
        run_sweep(tiny_preset(), cells_dir=tmp_path, table=tmp_path / "t.json",
                  cache_dir=tmp_path, shard=(3, 3), progress=False)


def test_recorded_command_leaves_out_scheduling_flags():
    from coinfer.cli import _regenerating_argv

    argv = ["sweep", "--preset", "quick", "--cell", "a", "b", "--threads", "1", "--gather", "--shard", "1/2"]
    assert _regenerating_argv(argv) == ["sweep", "--preset", "quick", "--threads", "1"]
