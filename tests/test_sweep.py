"""Tests of the sweep (coinfer.experiments.sweep): cell ids, kill-and-resume, atomic files, and that the committed
quick table is what the code produces. The 'tiny' grid: a few images and steps per cell."""

from __future__ import annotations

import contextlib
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
    assert {c.method for c in cells(tiny)} == {"png", "on-device", "original", "framework", "bottlenet++",
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
    assert "[sweep] training on cpu in float32" in messages       # says what the cells train in
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
    assert not any("training on" in m for m in messages)         # nothing to train


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
    """Re-run the table's cheapest cells (PNG, original at pool) and compare every number: they train
    nothing, so every seed gives the same record and the committed mean over seeds is that record."""
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
                record = _without_volatile(runner.run(cell)["record"])
                committed = _without_volatile(by_id[cell.id].to_dict())
                per_seed = committed["extra"].pop("per_seed")
                assert committed["seeds"] == len(per_seed["accuracy"]) >= 3
                assert committed.pop("accuracy_std") == committed.pop("val_accuracy_std") == 0.0
                assert all(v == record[k] for k, values in per_seed.items() for v in values)   # each seed's run
                for key in ("seeds", "accuracy_std", "val_accuracy_std"):
                    record.pop(key)
                committed.pop("seeds")
                assert record.keys() == committed.keys()
                # The 8-bit range is an activation's extreme in float32: its last bits depend on the
                # CPU's vector unit (the same table, re-run on another x86 CPU, differs by 1e-7).
                assert record["extra"].pop("range", None) == pytest.approx(committed["extra"].pop("range", None), rel=1e-6)
                for key, value in record.items():
                    assert committed[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value)
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
    # Above every framework point there is nothing to check: not a claim that holds (it said it did).
    strict = dominance_check(table, threshold=0.95)
    assert strict["framework_points"] == 0 and strict["claim_holds"] is None
    assert "cannot be checked: no framework point reaches the threshold" in " ".join(capsys.readouterr().out.split())
    ax = plot_tradeoff(table, caption=False)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("PNG") for label in labels)
    assert any("1 of 2 settings" in label for label in labels)
    assert result["beaten_by_on_device"] == [] and not any("on-device" in label for label in labels)


def test_the_records_table_shows_the_spread_of_the_seeds():
    """Chapter 5's table showed each configuration's mean accuracy alone (some spreads are 5 points)."""
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.views.tradeoff_tables import records_frame, records_table

    table = load_table(results_dir() / "sweep_quick.json")
    frame = records_frame(table)
    stds = {(r.method, r.split, r.sparsity, r.code_size): r.accuracy_std for r in table.records}
    trained = frame.loc["framework"]
    assert (trained["± sd"] >= 0).all() and trained["± sd"].max() == pytest.approx(
        100 * max(s for (m, *_), s in stds.items() if m == "framework"), abs=0.01)
    one_run = _table([("png", "input", 0.90, 0, 4000, "png"), ("framework", "layer2.1", 0.89, 100, 30, "a")])
    assert records_frame(one_run)["± sd"].isna().all() and "–" in records_table(one_run).to_html()   # no spread


def test_a_front_point_that_on_device_inference_beats_is_named_and_the_star_drawn(capsys):
    """On-device inference (all MACs, its decision sent) is no baseline of the paper's Fig. 3, but a
    framework point after the last split that needs more of both is no configuration to use: the
    committed quick table had one on its front (pool, d16-k16: 5 bits) and said nothing."""
    from coinfer.views.tradeoff import dominance_check, plot_tradeoff

    table = _table([
        ("png", "input", 0.90, 0, 4000, "png"),
        ("framework", "layer2.1", 0.89, 100, 30, "a"),
        ("framework", "pool", 0.89, 1001, 5, "b"),            # more MACs and bits than on-device
        ("on-device", "output", 0.90, 1000, 4, ""),
    ])
    result = dominance_check(table)
    assert [(f.split, f.code_size) for f in result["beaten_by_on_device"]] == [("pool", "b")]
    assert result["claim_holds"] and "on-device" not in result["total"]     # not one of the baselines
    assert "dominates 1 point(s) of the framework's front: pool b" in " ".join(capsys.readouterr().out.split())
    star = [line for line in plot_tradeoff(table, caption=False).get_lines()
            if line.get_label() == "on-device inference (4-bit class index)"]
    assert [(x, y) for line in star for x, y in line.get_xydata()] == [(1000, 4)]


def test_bad_shard_is_named(tmp_path):
    with pytest.raises(ValueError, match="0 <= i < n"):
        run_sweep(tiny_preset(), cells_dir=tmp_path, table=tmp_path / "t.json",
                  cache_dir=tmp_path, shard=(3, 3), progress=False)


def test_recorded_command_leaves_out_scheduling_flags():
    from coinfer.cli import _regenerating_argv

    argv = ["sweep", "--preset", "quick", "--cell", "a", "b", "--threads", "1", "--gather", "--shard", "1/2"]
    assert _regenerating_argv(argv) == ["sweep", "--preset", "quick", "--threads", "1"]
    # argparse's --option=value spelling too (it stayed in the table's "regenerate all of it" command)
    assert _regenerating_argv(["sweep", "--preset", "quick", "--shard=0/2", "--cell=abc"]) == ["sweep", "--preset", "quick"]


# ------------------------------------------------------------------------ resume: exact and visible

def _fake_cell(cells_dir: Path, cell) -> Path:
    """A valid result file for ``cell`` (made-up numbers), as SweepRunner.run would write it."""
    from coinfer.experiments.sweep import CELL_SCHEMA
    from coinfer.results import Record, write_json_atomic

    record = Record(method=cell.method, split=cell.split, accuracy=0.5, device_macs=1, device_params=1,
                    server_macs=1, bits_per_image=8.0, sparsity=cell.sparsity, extra={"cell": cell.id})
    path = cells_dir / f"{cell.id}.json"
    write_json_atomic(path, {"schema": CELL_SCHEMA, "id": cell.id, "record": record.to_dict(), "wall_time_s": 0.0})
    return path


def test_list_cells_names_truncated_and_invalid_files(tmp_path, capsys):
    from coinfer.cli import main

    grid = cells(tiny_preset())
    done, truncated, other, wrong = (_fake_cell(tmp_path, c) for c in grid[:4])
    truncated.write_bytes(truncated.read_bytes()[:-7])                   # a file cut short
    other.write_text(json.dumps({**json.loads(other.read_text()), "id": grid[0].id}))
    data = json.loads(wrong.read_text())
    data["record"]["channel"] = "bsc:0.7"
    wrong.write_text(json.dumps(data))
    assert main(["sweep", "--grid", "tiny", "--cells-dir", str(tmp_path), "--list-cells"]) == 0
    states = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert states[grid[0].id] == "done" and states[grid[4].id] == "todo"
    assert states[grid[1].id].startswith("invalid: truncated or not JSON")
    assert states[grid[2].id] == f"invalid: holds cell {grid[0].id!r}"
    assert states[grid[3].id].startswith("invalid:") and "bsc:0.7" in states[grid[3].id]
    assert list(states) == [c.id for c in grid]


def test_resume_counts_finished_cells_and_redoes_invalid_ones(tmp_path, monkeypatch, capsys):
    """The bar starts at the finished cells (3/6, not 0/6); a truncated file is redone, not accepted."""
    grid = cells(tiny_preset())
    for cell in grid[:3]:
        _fake_cell(tmp_path, cell)
    truncated = _fake_cell(tmp_path, grid[3])
    truncated.write_text(truncated.read_text()[:40])
    ran = []

    def fake_run(self, cell):
        ran.append(cell.id)
        _fake_cell(self.cells_dir, cell)

    monkeypatch.setattr(SweepRunner, "run", fake_run)
    messages = []
    result = run_sweep(tiny_preset(), cells_dir=tmp_path, table=tmp_path / "t.json", cache_dir=tmp_path,
                       progress=True, log=messages.append)
    bars = capsys.readouterr().err
    assert len(grid) == 6 and ran == [c.id for c in grid[3:]]
    assert any(f"redoing {grid[3].id}: its file is invalid: truncated" in m for m in messages)
    assert "3/6" in bars and "6/6" in bars and "0/6" not in bars and "1/6" not in bars
    assert "3 cells run, 3 already done" in messages[-2]
    assert len(result.records) == 6 and read_cell(truncated, grid[3].id) is not None


def test_no_progress_silences_the_per_epoch_bars_too(tmp_path, monkeypatch, capsys):
    """progress=False reaches train.fit's bars inside the cells (as ``--no-progress`` does)."""
    from coinfer.train import fit

    def cell_that_trains(self, cell):
        net = torch.nn.Linear(4, 2)
        batches = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))] * 3
        fit(net, batches, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), epochs=2, progress=True)
        _fake_cell(self.cells_dir, cell)

    monkeypatch.setattr(SweepRunner, "run", cell_that_trains)
    run_sweep(tiny_preset(), cells_dir=tmp_path / "a", table=tmp_path / "a.json", cache_dir=tmp_path,
              progress=True, log=lambda *_: None)
    shown = capsys.readouterr().err
    assert "train 1/2" in shown and "sweep quick" in shown            # the bars exist...
    run_sweep(tiny_preset(), cells_dir=tmp_path / "b", table=tmp_path / "b.json", cache_dir=tmp_path,
              progress=False, log=lambda *_: None)
    assert capsys.readouterr().err == ""                              # ...and --no-progress silences all


def _kill_sweep_repeatedly(tmp_path, kills: int, seed: int = 16):
    """Start the tiny sweep ``kills`` times and SIGKILL it after a seeded random delay each time; after
    every kill, check that each cell file is a whole, valid result and that no finished cell was lost
    or redone; between kills, cut one finished file short (it must be listed invalid and redone)."""
    import random

    from coinfer.experiments.sweep import check_cell

    rng = random.Random(seed)
    cells_dir, table, cache = tmp_path / "cells", tmp_path / "sweep.json", tmp_path / "cache"
    command = [sys.executable, "-m", "coinfer", "sweep", "--preset", "quick", "--grid", "tiny", "--threads", "1",
               "--cells-dir", str(cells_dir), "--table", str(table), "--cache", str(cache), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    grid = [c.id for c in cells(tiny_preset())]
    kept: dict[str, bytes] = {}           # finished cells and their exact bytes
    corrupted = None
    outcomes = []
    for _ in range(kills):
        # A random moment of the computing part (the 5 tiny cells take ~5-10 s), counted from the
        # run's "cells to run" line (importing torch first takes as long again on a loaded machine).
        delay = rng.uniform(0.0, 6.0)
        stderr = tmp_path / "stderr.txt"
        with open(stderr, "wb") as err:
            process = subprocess.Popen(command, cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"},
                                       stdout=subprocess.PIPE, stderr=err, text=True)
            for line in process.stdout:
                if "to run" in line:
                    break
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
            process.stdout.close()
        assert "%|" not in stderr.read_text(errors="replace"), "--no-progress printed a bar"
        now = {}
        for path in sorted(cells_dir.glob("*.json")):
            data, state = check_cell(path, path.stem)
            if path.stem == corrupted and state != "done":                  # not redone yet: still invalid
                assert state.startswith("invalid: truncated")
                continue
            assert state == "done", f"{path.name} is {state} after a kill"      # no corrupt file accepted
            now[path.stem] = path.read_bytes()
        for cell_id, content in kept.items():                              # no finished cell lost or redone
            assert now.get(cell_id) == content, f"finished cell {cell_id} was lost or recomputed"
        if corrupted in now:
            corrupted = None                                               # the cut file was redone whole
        outcomes.append((round(delay, 1), process.returncode, len(now)))
        kept = now
        if kept and corrupted is None:                                     # damage one for the next run
            corrupted = rng.choice(sorted(kept))
            path = cells_dir / f"{corrupted}.json"
            path.write_bytes(kept.pop(corrupted)[:-9])
            from coinfer.experiments.sweep import cell_states

            assert dict(cell_states(tiny_preset(), cells_dir))[corrupted].startswith("invalid: truncated")
    torch.set_num_threads(1)
    messages = []
    result = run_sweep(tiny_preset(), cells_dir=cells_dir, table=table, cache_dir=cache, progress=False,
                       log=messages.append)
    for cell_id, content in kept.items():
        assert (cells_dir / f"{cell_id}.json").read_bytes() == content
    assert [r.extra["cell"] for r in result.records] == grid
    assert f"{len(grid) - len(kept)} cells run, {len(kept)} already done" in messages[-2]
    return outcomes


@needs_baseline
@pytest.mark.slow
def test_sweep_killed_at_random_moments_loses_nothing_and_accepts_no_corrupt_file(tmp_path):
    """Three kills (~40 s on a loaded 2-core machine); the ten-kill version is opt-in below."""
    outcomes = _kill_sweep_repeatedly(tmp_path, kills=3)
    print("(delay s, return code, finished cells) per start:", outcomes)
    assert any(rc == -signal.SIGKILL for _, rc, _ in outcomes)


@needs_baseline
@pytest.mark.slow
def test_sweep_killed_at_ten_random_moments(tmp_path, slow_check):
    """Issue 16's check at full size: ten kills (~2 min here; three kills run by default)."""
    outcomes = _kill_sweep_repeatedly(tmp_path, kills=10, seed=1616)
    print("(delay s, return code, finished cells) per start:", outcomes)
    assert sum(rc == -signal.SIGKILL for _, rc, _ in outcomes) >= 5


def test_two_worker_processes_give_the_same_records(tmp_path):
    # Each cell seeds itself and reads shared checkpoints from the cache, so where it runs does not
    # change its record (cell_workers.run_cells), up to the last digits of a training cell, which
    # depend on what its process ran before (the module docstring); only the wall times differ.
    # With sparsity 0 as well, the unpruned framework and BottleNet++ both start from the control,
    # which the two workers' first task prepares (cell_workers.tasks) while the other waits.
    from coinfer.experiments.cell_workers import tasks

    torch.set_num_threads(1)
    preset = tiny_preset(sparsities=(0.0, 0.5))
    assert [t.prepares for t in tasks(cells(preset)) if t.prepares] == [("pruned", None, 0.0)]
    tables = {}
    for workers in (1, 2):
        table = run_sweep(preset, cells_dir=tmp_path / f"cells{workers}", table=tmp_path / f"t{workers}.json",
                          cache_dir=tmp_path / f"cache{workers}", progress=False, log=lambda *_: None,
                          workers=workers)
        tables[workers] = table.records
    assert [r.extra["cell"] for r in tables[1]] == [r.extra["cell"] for r in tables[2]] == \
        [c.id for c in cells(preset)]
    for one, two in zip(tables[1], tables[2]):
        if one.method in ("png", "on-device", "original"):          # nothing trained: exactly equal
            assert {**one.to_dict(), "extra": None} == {**two.to_dict(), "extra": None}
        else:
            assert two.accuracy == pytest.approx(one.accuracy, abs=0.05), one.extra["cell"]
            assert two.bits_per_image == pytest.approx(one.bits_per_image, rel=0.1), one.extra["cell"]
            assert (two.device_macs, two.server_macs) == (one.device_macs, one.server_macs)
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        run_sweep(tiny_preset(), cells_dir=tmp_path / "x", table=tmp_path / "x.json", cache_dir=tmp_path,
                  progress=False, log=lambda *_: None, workers=0)


def test_only_the_cell_tables_take_workers():
    from coinfer.experiments import run_table

    with pytest.raises(ValueError, match="the pruning table runs in one process; workers > 1 is for encoding, sweep"):
        run_table("pruning", "quick", workers=2)


@needs_baseline
def test_codecs_train_on_augmented_images_only_where_features_are_not_cached(tmp_path):
    # As coinfer.experiments.encoding.run: the paper preset computes features per batch and augments
    # the codecs' training images; cached features (the quick preset) come from plain images. The
    # Huffman baselines always fit their code on plain images.
    quick = SweepRunner(get_preset("quick"), tmp_path, tmp_path, device=torch.device("cpu"), log=lambda *_: None)
    assert quick.dataset("codec") is quick.dataset("train")
    per_batch = get_preset("quick", **{"encoding.precompute": False, "encoding.augment": True})
    runner = SweepRunner(per_batch, tmp_path, tmp_path, device=torch.device("cpu"), log=lambda *_: None)
    codec, plain = runner.dataset("codec"), runner.dataset("train")
    assert codec is not plain and len(codec) == len(plain)
    torch.manual_seed(0)
    assert any(not torch.equal(codec[0][0], codec[0][0]) for _ in range(10))       # random crops and flips
    assert all(torch.equal(plain[0][0], plain[0][0]) for _ in range(3))


def _retrained(path: Path) -> str:
    """Overwrite the baseline checkpoint at ``path`` with slightly different weights, as a retraining
    on a GPU (not bitwise deterministic) would; returns the new weights' digest."""
    from coinfer.core.codecs import weights_digest
    from coinfer.train import load_model, save_checkpoint

    model, meta = load_model(path, torch.device("cpu"))
    with torch.no_grad():
        model.fc.bias.add_(1e-3)
    save_checkpoint(path, model, meta)
    return weights_digest(model)


@needs_baseline
def _home_with_the_baseline(tmp_path, monkeypatch):
    """A scratch COINFER_HOME holding the committed quick baseline, and a tiny grid that prunes
    layer3.1 at 50 % on 128 images: (checkpoint path, preset)."""
    import shutil

    monkeypatch.setenv("COINFER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COINFER_DATA", str(ROOT / "data"))
    checkpoint = tmp_path / "home" / "data" / "checkpoints" / "quick" / "baseline.pt"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(BASELINE, checkpoint)
    torch.set_num_threads(1)
    return checkpoint, get_preset("quick", sweep=sweep_grid("tiny"), **{
        "sweep.prune": {}, "pruning.splits": ("layer3.1",), "pruning.sparsities": (0.5,),
        "pruning.train_limit": 128, "pruning.batch_size": 64})


def test_a_pruned_part_does_not_depend_on_what_ran_before_it_in_the_process(tmp_path, monkeypatch):
    """Same seed, same numbers, whichever cell a worker runs first: loading the baseline builds a
    network (its initial values drawn from the global generator) before reading the weights, so a
    part fine-tuned by the first cell of a process once started from another random state than
    the next cell's (committed quick tables up to 78404cc were computed so). Now the draws of
    whatever ran before are behind the seeding."""
    _, preset = _home_with_the_baseline(tmp_path, monkeypatch)
    loaded_first = SweepRunner(preset, tmp_path / "cells-a", tmp_path / "cache-a", log=lambda *_: None)
    state = torch.get_rng_state()
    loaded_first.baseline                                   # as after an earlier cell of the process
    assert torch.equal(torch.get_rng_state(), state)        # loading it draws nothing from the seeded stream
    first = loaded_first.pruned_device("layer3.1", 0.5)
    torch.rand(10_000)                                       # whatever an earlier cell drew
    fresh = SweepRunner(preset, tmp_path / "cells-b", tmp_path / "cache-b", log=lambda *_: None)
    second = fresh.pruned_device("layer3.1", 0.5)            # the baseline loads inside this call
    assert first.keep == second.keep
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_cells_and_pruned_parts_of_another_baseline_are_computed_again(tmp_path, monkeypatch):
    """Cell ids and cached parts are named after settings, not weights: after the baseline is trained
    again, what was computed from the old one is stale, says so, and is computed again."""
    import coinfer.experiments.pruning as pruning
    from coinfer.experiments.sweep import baseline_digest, cell_states
    from coinfer.core.codecs import weights_digest

    checkpoint, preset = _home_with_the_baseline(tmp_path, monkeypatch)
    cells_dir, cache, messages = tmp_path / "cells", tmp_path / "cache", []
    on_device = next(c for c in cells(preset) if c.method == "on-device")
    runner = SweepRunner(preset, cells_dir, cache, log=messages.append)
    old = baseline_digest(preset)
    assert old == runner.baseline_weights == weights_digest(runner.baseline[0])
    runner.run(on_device)
    part = runner.pruned_device("layer3.1", 0.5)
    assert json.loads(runner.cell_path(on_device).read_text())["baseline"] == part.meta["baseline"] == old
    assert dict(cell_states(preset, cells_dir))[on_device.id] == "done"

    new = _retrained(checkpoint)
    assert baseline_digest(preset) == new != old
    stale = f"computed from another baseline (weights {old[:10]}..., the baseline now {new[:10]}...)"
    assert dict(cell_states(preset, cells_dir))[on_device.id] == f"invalid: {stale}"
    with pytest.raises(RuntimeError, match=r"cells have no valid result \(e\.g\. .*another baseline"):
        gather(preset, cells_dir, None)
    fresh = SweepRunner(preset, cells_dir, cache, log=messages.append)
    assert fresh.pending([on_device]) == [on_device]
    assert f"[sweep] redoing {on_device.id}: its file is invalid: {stale}" in messages
    again = fresh.pruned_device("layer3.1", 0.5)                 # fine-tuned again from the new weights
    assert again.meta["baseline"] == new and any("fine-tuned from another baseline" in m for m in messages)
    fresh.run(on_device)
    assert fresh.pending([on_device]) == [] and dict(cell_states(preset, cells_dir))[on_device.id] == "done"

    def trained_again(*args, **kwargs):
        raise AssertionError("a part of the current baseline was fine-tuned again")

    monkeypatch.setattr(pruning, "prune_finetune", trained_again)
    assert SweepRunner(preset, cells_dir, cache).pruned_device("layer3.1", 0.5).keep == again.keep


@needs_baseline
def test_a_sweep_without_a_baseline_trains_it_once_before_any_cell(tmp_path, monkeypatch):
    """Not once per worker process: each would train its own (on a GPU, other) weights."""
    import coinfer.experiments.sweep as sweep
    import coinfer.train as train

    monkeypatch.setenv("COINFER_HOME", str(tmp_path / "home"))
    model, meta = train.load_model(BASELINE, torch.device("cpu"))
    trainings = []

    def train_baseline(preset, data_root=None):
        trainings.append(preset.name)
        return model, meta

    def run_cells(runner, pending, *args):
        assert trainings == ["quick"] and sweep.baseline_digest(runner.preset) is not None
        return 0

    monkeypatch.setattr(train, "train_baseline", train_baseline)
    monkeypatch.setattr(sweep, "run_cells", run_cells)
    messages = []
    assert run_sweep(tiny_preset(), cells_dir=tmp_path / "cells", cache_dir=tmp_path, progress=False,
                     log=messages.append, workers=2) is None
    assert "[sweep] no baseline checkpoint yet: training it first" in messages and trainings == ["quick"]


def test_shards_and_cell_jobs_refuse_to_start_without_a_baseline(tmp_path, monkeypatch):
    """Several commands at once would each train a baseline of their own; one command trains it first."""
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    one = cells(tiny_preset())[0].id
    for kwargs in ({"shard": (0, 2)}, {"only": [one]}):
        with pytest.raises(RuntimeError, match=r"no baseline checkpoint for preset 'quick' yet: train it once .*"
                                               r"python -m coinfer train --preset quick"):
            run_sweep(tiny_preset(), cells_dir=tmp_path / "cells", cache_dir=tmp_path, progress=False, **kwargs)
    assert not (tmp_path / "cells").exists()


@needs_baseline
def test_a_gathered_table_carries_its_threshold(tmp_path):
    """``sweep --gather`` (and a sweep command's own save) wrote a table without the baseline's accuracy
    or the drop: table_threshold, the chooser and the replay all refused it."""
    from coinfer.results import table_threshold
    from coinfer.train import load_checkpoint

    preset = get_preset("quick", sweep=sweep_grid("tiny"), accuracy_drop=3.0)   # its own drop, not the named preset's
    for cell in cells(preset):
        _fake_cell(tmp_path, cell)
    table = gather(preset, tmp_path, None)
    baseline = load_checkpoint(BASELINE)[1]["test_accuracy"]
    assert table.provenance.accuracy_drop == 3.0 and table_threshold(table) == pytest.approx(baseline - 0.03)
    assert table.provenance.validation is None     # its (made-up) records carry no validation accuracy


def test_worker_processes_run_on_the_parent_runners_device(monkeypatch, tmp_path):
    """A worker built its runner on default_device(): CUDA when there is one, whatever the parent ran on."""
    import coinfer.experiments.sweep as sweep
    from coinfer.experiments.cell_workers import _work

    made = []

    class Spy:
        def __init__(self, *args, device=None, **kwargs):
            made.append(device)

        def expect(self, cells):
            pass

    monkeypatch.setattr(sweep, "SweepRunner", Spy)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)   # this process's threads stay as they are
    assert _work(tiny_preset(), [], str(tmp_path), str(tmp_path), 1, "cpu") == 0
    assert made == [torch.device("cpu")]


def test_two_step_pruning_steps_fine_tune_on_the_two_halves_of_the_images(tmp_path, monkeypatch):
    # Both steps took the first half: the method saw half the fine-tuning images of every other one.
    from coinfer.experiments import pruning

    runner = SweepRunner(get_preset("quick", sweep=sweep_grid("tiny")), tmp_path / "cells", tmp_path / "cache",
                         device=torch.device("cpu"), log=lambda *_: None)
    monkeypatch.setattr(runner, "dataset", lambda kind: list(range(10)))
    monkeypatch.setattr(pruning, "fine_tune_batches", lambda images, *args: list(images))
    whole, first, second = runner._prune_loader(), runner._prune_loader(share=2), runner._prune_loader(share=2, part=1)
    assert first == [0, 1, 2, 3, 4] and second == [5, 6, 7, 8, 9] and sorted(first + second) == whole


def test_a_fresh_temporary_cell_file_is_another_writers_and_stays(tmp_path, monkeypatch):
    # Starting a sweep deleted every .tmp in the cells folder, another shard's in-flight file too.
    import os

    from coinfer.experiments import sweep as sweep_module

    cells_dir = tmp_path / "cells"
    cells_dir.mkdir()
    fresh, old = cells_dir / ".a.json.x1.tmp", cells_dir / ".b.json.x2.tmp"
    fresh.write_text("{")
    old.write_text("{")
    os.utime(old, (0, 0))
    monkeypatch.setattr(sweep_module.SweepRunner, "pending", lambda self, todo: [])   # nothing to run
    monkeypatch.setattr(sweep_module, "baseline_digest", lambda preset: "x")
    with contextlib.suppress(Exception):   # whatever it makes of an empty folder: the clean-up runs first
        sweep_module.run(get_preset("quick", sweep=sweep_grid("tiny")), cells_dir=cells_dir, table=tmp_path / "t.json",
                         cache_dir=tmp_path / "cache", progress=False)
    assert fresh.exists() and not old.exists()


def test_the_sweep_gives_2_step_pruning_s_two_steps_the_two_halves(tmp_path, monkeypatch):
    # Both steps were handed the first half; the loader's halves alone (above) do not show which the cell uses.
    from coinfer.experiments import baselines

    grid = sweep_grid("tiny")
    runner = SweepRunner(get_preset("quick", sweep=grid), tmp_path / "cells", tmp_path / "cache",
                         device=torch.device("cpu"), log=lambda *_: None)
    cell = next(c for c in cells(get_preset("quick", sweep=grid)) if c.method == "2-step-pruning")
    handed = {}

    class Stop(Exception):
        pass

    def step(name):
        def record(*args, **kwargs):
            handed[name] = next(a for a in args if isinstance(a, tuple))
            raise Stop
        return record

    monkeypatch.setattr(runner, "_prune_loader", lambda share=1, part=0: (share, part))
    monkeypatch.setattr(baselines, "two_step_step1", step("step1"))
    with pytest.raises(Stop):
        runner.two_step_step1(cell.sparsity)
    monkeypatch.setattr(runner, "two_step_step1", lambda sparsity: "step 1's network")
    monkeypatch.setattr(baselines, "two_step_step2", step("step2"))
    with pytest.raises(Stop):
        runner.run(cell)
    assert handed == {"step1": (2, 0), "step2": (2, 1)}
