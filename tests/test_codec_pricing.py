"""Codec steps against their price: the projection takes a measured ``codec_step`` in place of the
stacking and folding it includes, and until one is measured the book says what the report's one
timed codec training process implies, with the GPU-hours at that speed."""

from __future__ import annotations

import pytest

from coinfer.config import PRESETS, override
from coinfer.experiments.codec_pricing import best_measured_rate, codec_step_said, implied_codec_step
from coinfer.experiments.device_report import measured_configurations
from coinfer.experiments.plan import PlanStep, projected_plan, sweep_plan
from coinfer.experiments.plan_schedule import sweep_tasks
from coinfer.experiments.sweep import cells

CODEC_RUN = {"settings": {"split": "layer3.1", "codec_images": 500, "epochs": 4, "width": 1.0},
             "rows": [{"processes": 1, "images_per_s": 2500.0}, {"processes": 8, "images_per_s": 9000.0}]}


def test_a_measured_codec_step_replaces_the_stacking_and_folding_it_includes():
    codec = PlanStep("codec training: framework", 2, 3, 100, 0.6)
    bottlenet = PlanStep("codec training: BottleNet++", 1, 3, 100, 0.4)
    factors = {"stack": 1.5, "fold": 1.2, "compile_frozen": 1.1, "stack_bottlenet": 1.4, "fold_bottlenet": 1.1}
    priced, _ = projected_plan([codec, bottlenet], factors)
    assert priced[0].network_share == pytest.approx(0.6 / 1.8) and priced[1].network_share == pytest.approx(0.4 / 1.54)
    # Measured: its own factor, the stacking and folding no longer (they are in it); BottleNet++'s untouched.
    measured, used = projected_plan([codec, bottlenet], {**factors, "codec_step": 0.5}, compile_frozen=True)
    assert used["codec training: framework"] == ["compile_frozen", "codec_step"]
    assert measured[0].network_share == pytest.approx(0.6 / (1.1 * 0.5))
    assert measured[1].network_share == pytest.approx(0.4 / 1.54)
    bottlenet_measured = projected_plan([bottlenet], {**factors, "codec_step_bottlenet": 0.8})
    assert bottlenet_measured[1]["codec training: BottleNet++"] == ["codec_step_bottlenet"]
    assert bottlenet_measured[0][0].network_share == pytest.approx(0.5)


def _independent_price(split: str, images: int, epochs: int) -> float:
    """The plan's full-network training images for one process's codec run, step by step."""
    paper = override(PRESETS["paper"], {"encoding.warmup_epochs": 1, "encoding.epochs": epochs})
    grid = [c for c in cells(paper) if c.method == "framework" and c.split == split and c.sparsity == 0]
    assert len(grid) == len(paper.sweep.code_sizes)      # every code of the split point, trained together
    steps = {s.name: s for s in sweep_plan(paper, grid=grid)}
    warm, train = steps["codec warm-up: framework"], steps["codec training: framework"]
    fit = steps["codec fitting passes (k-means, entropy model)"]
    assert train.runs == len(grid) and train.epochs == epochs and warm.epochs == 1
    return sum(s.runs * s.epochs * s.network_share * images for s in (warm, train, fit))


def test_the_one_timed_codec_process_implies_its_priced_over_measured_speed():
    report = {"data_path": {"new_images_per_s": 12000.0}, "codec_concurrency": CODEC_RUN}
    measured_s = 500 * (1 + 4) / 2500.0
    expected = _independent_price("layer3.1", 500, 4) / 12000.0 / measured_s
    assert implied_codec_step(report) == pytest.approx(expected)
    # The faster of the runs without and through MPS, as the codec concurrency factors count from it.
    mps = {**report, "mps_concurrency": {"codecs": {"rows": [{"processes": 1, "images_per_s": 5000.0}]}}}
    assert implied_codec_step(mps) == pytest.approx(2 * expected)
    # Nothing to imply from: no rate, no run, a narrower network than the price's.
    assert implied_codec_step({"codec_concurrency": CODEC_RUN}) is None
    assert implied_codec_step({"data_path": {"new_images_per_s": 12000.0}}) is None
    narrow = {**report, "codec_concurrency": {**CODEC_RUN, "settings": {**CODEC_RUN["settings"], "width": 0.125}}}
    assert implied_codec_step(narrow) is None
    assert implied_codec_step(None) is None


@pytest.fixture(scope="module")
def paper_tasks():
    return sweep_tasks(PRESETS["paper"], seeds=3)


def test_the_book_says_what_the_codec_speed_stands_on_and_the_hours_at_the_implied_one(paper_tasks):
    factors = {"stack": 1.4, "fold": 1.05, "concurrency_8": 2.5, "codec_concurrency_8": 4.5}
    report = {"gpu": "NVIDIA H200", "data_path": {"new_images_per_s": 12000.0}, "codec_concurrency": CODEC_RUN,
              "factors": factors}
    implied = implied_codec_step(report)
    hours = measured_configurations(factors, [], 12000.0, paper_tasks)
    slow = measured_configurations({**factors, "codec_step": implied}, [], 12000.0, paper_tasks)
    (best, best_hours) = min(hours.items(), key=lambda item: item[1])
    said = codec_step_said(report, paper_tasks)
    assert "no check on NVIDIA H200 has timed them against their price yet" in said and "(1.47x)" in said
    assert f"**{implied:.2f}x** their price" in said
    assert f"would take **{slow[best]:.2f}** GPU-hours, not {best_hours:.2f}" in said
    assert slow[best] > best_hours             # slower than the stacking and folding factors assume
    # Measured: the projection stands on it, and the sentence says so with the hours it gives.
    measured = {**report, "factors": {**factors, "codec_step": 0.9}}
    hours = measured_configurations(measured["factors"], [], 12000.0, paper_tasks)
    said = codec_step_said(measured, paper_tasks)
    assert said.startswith("The codec steps are projected at the speed the device check's `codec_steps` measured")
    assert f"**0.90x** their price (one-time work excluded), {min(hours.values()):.2f} GPU-hours" in said
    # Without the one timed process, only what the projection stands on.
    bare = {**report, "codec_concurrency": {"error": "RuntimeError: x"}}
    said = codec_step_said(bare, paper_tasks)
    assert "(the device check's `codec_steps` does)." in said and "end to end" not in said


def test_the_fastest_training_measured_bounds_what_the_sweep_can_take(paper_tasks):
    """The plan prices every step in full-network training images: at the most images/s any training
    reached, its work is the least time the GPU gives unless a step does more per second than any
    training measured; the book says so wherever the projection is below that."""
    report = {"gpu": "NVIDIA H200", "data_path": {"new_images_per_s": 12000.0, "new_cuda_graphs_images_per_s": 20000.0},
              "concurrency": {"rows": [{"processes": 8, "images_per_s": 30000.0}]},
              "compiled_concurrency": {"rows": [{"processes": 8, "images_per_s": 40000.0}]},
              "mps_concurrency": {"eager": {"rows": [{"processes": 16, "images_per_s": 45000.0}]},
                                  "compiled": {"rows": [{"processes": 8, "images_per_s": 48000.0},
                                                        {"processes": 16, "images_per_s": None}]},
                                  "codecs": {"rows": [{"processes": 16, "images_per_s": 99000.0}]}},   # not full networks
              "kept_concurrency": {"masked": {"rows": [{"processes": 8, "images_per_s": 99000.0}]}},
              "factors": {"stack": 1.4, "fold": 1.05, "concurrency_8": 2.5, "codec_concurrency_8": 20.0}}
    assert best_measured_rate(report) == (48000.0, "8 at once through CUDA MPS, compiled")
    assert best_measured_rate({"data_path": {"new_images_per_s": 12000.0, "batch_size": 128}}) == (
        12000.0, "one process (the data path check)")
    assert best_measured_rate(None) is None
    work = 3 * sum(s.equivalent_images for task in paper_tasks.steps for s in task) + sum(
        s.equivalent_images for s in paper_tasks.baseline)
    hours = min(measured_configurations(report["factors"], [], 12000.0, paper_tasks).values())
    floor = work / 48000.0 / 3600
    assert hours < floor          # codec steps credited 20 times one alone: more per second than any training
    said = codec_step_said(report, paper_tasks)
    assert f"At the most images/s any training reached on NVIDIA H200 (48,000, 8 at once through CUDA MPS, compiled), " \
           f"the sweep's priced work takes {floor:.2f} GPU-hours" in said
    # A projection at or above it says nothing of the kind.
    modest = {**report, "factors": {**report["factors"], "codec_concurrency_8": 1.0, "concurrency_8": 1.0}}
    assert "the sweep's priced work takes" not in codec_step_said(modest, paper_tasks)
