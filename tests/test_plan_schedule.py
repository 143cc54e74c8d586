"""The sweep's worker tasks (cell_workers.tasks) and their schedule priced by the plan (plan_schedule)."""

import json
from collections import Counter

import pytest

from coinfer.config import get_preset, sweep_grid
from coinfer.experiments.cell_workers import Task, next_task, shared_input, tasks
from coinfer.experiments.plan import BASELINE_STEPS, projected_hours, sweep_plan
from coinfer.experiments.plan_schedule import makespan, slices_hours, sweep_tasks, task_steps
from coinfer.experiments.sweep import cells
from coinfer.paths import device_report_path


def _images(steps):
    return sum(s.equivalent_images for s in steps)


@pytest.mark.parametrize("name", ["paper", "quick"])
def test_the_tasks_run_every_cell_once_and_their_steps_are_the_sweeps(name):
    # Every cell in exactly one unit; the preparing tasks train what two or more units start from;
    # priced by the plan, the tasks together are the sweep's own work (the paper preset's exactly,
    # the quick one's up to BottleNet++'s features, extracted apart from the framework's at its split).
    preset = get_preset(name)
    grid = cells(preset)
    schedule = sweep_tasks(preset)
    units = [t for t in schedule.tasks if t.prepares is None]
    assert Counter(c.id for t in units for c in t.cells) == Counter(c.id for c in grid)
    users = Counter(t.needs for t in units if t.needs is not None)
    assert set(users) == {t.prepares for t in schedule.tasks if t.prepares is not None}
    assert all(count >= 2 for count in users.values())
    assert all(shared_input(c) == t.needs for t in units if t.needs for c in t.cells)
    whole = _images([s for s in sweep_plan(preset) if s.name not in BASELINE_STEPS])
    assert _images(s for steps in schedule.steps for s in steps) == pytest.approx(whole, rel=1e-9 if name == "paper" else 0.01)


def test_the_paper_presets_codes_of_one_split_point_and_sparsity_are_one_task():
    paper = tasks(cells(get_preset("paper")))
    framework = [t for t in paper if t.cells[0].method == "framework" and t.prepares is None]
    assert len(framework) == 20 and {len(t.cells) for t in framework} == {6}
    assert all(len({c.shares for c in t.cells}) == 1 for t in framework)
    # The pruned parts (one unit each) train in their unit; the control and 2-Step Pruning's first
    # steps (several units each) in preparing tasks that come first.
    assert [t.prepares for t in paper[:3]] == [("pruned", None, 0.0), ("two-step", 0.25), ("two-step", 0.5)]
    assert {t.needs for t in framework} == {None, ("pruned", None, 0.0)}
    assert sum(t.needs == ("pruned", None, 0.0) for t in paper) == 5 + 4      # unpruned framework, BottleNet++


def test_units_go_longest_first_in_grid_order_among_equals():
    grid = cells(get_preset("quick", sweep=sweep_grid("tiny")))
    ordered = tasks(grid, cost=lambda t: len(t.cells[0].method))
    costs = [t.cost for t in ordered if t.prepares is None]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) > 1
    same = [t.cells[0].id for t in ordered if t.cost == len("framework")]
    assert same == [c.id for c in grid if len(c.method) == len("framework")]
    assert [t.cells[0].id for t in tasks(grid)] == [c.id for c in grid]       # no cost: grid order


def test_a_task_waits_for_the_checkpoint_it_needs():
    control = Task((), prepares=("pruned", None, 0.0))
    waiting, free = Task((), needs=("pruned", None, 0.0)), Task(())
    assert next_task([waiting, free], set()) is free
    assert next_task([waiting], set()) is None
    assert next_task([waiting, free], {control.prepares}) is waiting
    # The schedule: the control (1) on one worker while the free task (2) runs; then the waiting one (1).
    assert makespan([control, waiting, free], [1.0, 1.0, 2.0], [{1: 1.0, 2: 2.0}] * 3, 2) == pytest.approx(2.0)
    # Taking turns (two at once no faster than one): 4 units of work take 4 whatever the order.
    assert makespan([control, waiting, free], [1.0, 1.0, 2.0], [{1: 1.0, 2: 1.0}] * 3, 2) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="waits for a checkpoint that no task prepares"):
        makespan([waiting], [1.0], [{}], 2)


def test_the_speedup_between_measured_counts_is_linear_and_held_beyond():
    one = [Task(())]
    # Alone (k = 1) the curve's other counts do not matter.
    assert makespan(one, [3.0], [{8: 4.0}], 8) == pytest.approx(3.0)
    # Four equal tasks on four workers with F(8) = 4: F(4) = 1 + 3 * 3/7, each at F(4)/4.
    expected = 1.0 / ((1 + 3 * 3 / 7) / 4)
    assert makespan(one * 4, [1.0] * 4, [{8: 4.0}] * 4, 4) == pytest.approx(expected)
    # Sixteen at once where 8 was the most measured: held at F(8).
    assert makespan(one * 16, [1.0] * 16, [{8: 4.0}] * 16, 16) == pytest.approx(16 / 4.0)


def test_the_control_is_priced_once_and_a_waiting_unit_leaves_it_out():
    paper = get_preset("paper")
    order = tasks(cells(paper))
    control = task_steps(paper, order[0])
    waiting = next(t for t in order if t.needs == ("pruned", None, 0.0))
    assert [s.name for s in control] == ["fine-tune: unpruned control"] and control[0].runs == 1
    assert "fine-tune: unpruned control" not in [s.name for s in task_steps(paper, waiting)]
    alone = next(t for t in order if t.prepares is t.needs is None and t.cells[0].method == "framework")
    assert "fine-tune: pruned device parts" in [s.name for s in task_steps(paper, alone)]


@pytest.mark.skipif(not device_report_path().exists(), reason="no committed GPU report")
def test_dealt_tasks_on_one_worker_cost_what_the_plan_does_and_beat_the_first_slices():
    from coinfer.experiments.device_report import mps_factors

    report = json.loads(device_report_path().read_text())
    paper, rate = get_preset("paper"), 13_000.0
    schedule = sweep_tasks(paper, seeds=3)
    for factors in (report["factors"], mps_factors(report["factors"])):
        dealt = schedule.hours(factors, rate)
        full = projected_hours(sweep_plan(paper, seeds=3), factors, rate)
        assert set(dealt) == set(full)
        for mode in ("0", "1"):
            assert dealt[1, mode] == pytest.approx(full[1, mode], rel=1e-9)
    # Through MPS with 16 workers: the tasks dealt out lose little to the tail (a GPU full to the end
    # is the bound), where the first version's equal slices lost a third.
    factors = mps_factors(report["factors"])
    dealt = schedule.hours(factors, rate)[16, "1"]
    full = projected_hours(sweep_plan(paper, seeds=3), factors, rate)[16, "1"]
    slices = slices_hours(paper, factors, rate, 16, "1", seeds=3)
    assert dealt == pytest.approx(full, rel=0.05) and slices > 1.3 * dealt


def test_the_caption_says_what_the_timed_sweep_measured_beside_the_projection():
    from coinfer.experiments.device_report import report_caption, timed_sweep

    settings = {"workers": 16, "mps": True, "compile": True, "epoch_scale": 0.2, "train_images": 20000, "deadline_s": 420}
    finished = {"settings": settings, "sweep_s": 250.0, "stopped": False, "cells_done": 159, "cells": 159,
                "projected": {"sweep_s": 200.0}, "sweep_over_projected": 1.25}
    stopped = {**finished, "sweep_s": 420.3, "stopped": True, "cells_done": 120}
    text, ratio = timed_sweep({"sweep_timed": finished})
    assert ratio == 1.25 and text.endswith("took 250 s against 200 s projected (1.25 times the projection)")
    assert "16 workers through CUDA MPS, every network compiled" in text and "0.2 of its epochs" in text
    assert timed_sweep({"sweep_timed": {**finished, "peak_gpu_memory_mib": 40960}})[0].endswith(
        "(1.25 times the projection), with at most 40.0 GiB of GPU memory in use")
    text, ratio = timed_sweep({"sweep_timed": stopped})
    assert ratio == pytest.approx(420.3 / 200) and "stopped at 420 s with 120 of 159 cells done" in text
    assert "at least 2.10 times" in text
    assert timed_sweep({"sweep_timed": {"error": "RuntimeError: boom"}})[0].startswith(
        "not yet on a GPU (its `sweep_timed` check failed: RuntimeError: boom")
    assert "the report has no `sweep_timed` check" in timed_sweep({})[0]
    # The caption of a report whose workers were measured says it, beside the projection.
    report = {"gpu": "NVIDIA H200", "data_path": {"new_images_per_s": 13000.0}, "sweep_timed": finished,
              "factors": {"concurrency_2": 1.5, "codec_concurrency_2": 1.6}}
    caption = report_caption(report, sweep_plan(get_preset("paper"), seeds=3), sweep_tasks(get_preset("paper"), 3))
    assert "with 2 worker(s), its tasks dealt out as the workers take them" in caption
    assert "The sweep timed end to end (the device check's `sweep_timed`): one seed" in caption


@pytest.mark.parametrize("name", ["paper", "quick"])
def test_the_encoding_tables_cells_are_dealt_as_tasks_too(name):
    # encoding.run's workers take its cells (the unpruned framework at every split and code size,
    # the 8-bit Huffman code) as the sweep's do: the control first, then one unit per split point.
    from coinfer.experiments.sweep import encoding_cells

    preset = get_preset(name)
    todo = tasks(encoding_cells(preset),
                 cost=lambda t: sum(s.equivalent_images for s in task_steps(preset, t)))
    assert todo[0].prepares == ("pruned", None, 0.0)
    framework = [t for t in todo[1:] if t.cells[0].method == "framework"]
    assert len(framework) == len(preset.encoding.splits) and all(t.needs == todo[0].prepares for t in framework)
    assert all(t.cost > 0 for t in framework) and todo[0].cost > 0
