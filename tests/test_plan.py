"""The sweep's cost plan (python -m coinfer plan): counted from the cells it will run."""

import json

import pytest
import torch

from coinfer.cli import main
from coinfer.config import get_preset, sweep_grid
from coinfer.experiments.plan import TRAINING_IMAGES, kept_device_macs, part_macs, plan_summary, sweep_plan
from coinfer.experiments.sweep import cells
from coinfer.tensor_data import DataPath


def _step(steps, name):
    return next(s for s in steps if s.name.startswith(name))


def test_the_plan_counts_the_trainings_of_the_grid():
    quick = get_preset("quick")
    grid = cells(quick)
    steps = sweep_plan(quick, seeds=3)
    coded = [c for c in grid if c.method in ("framework", "bottlenet++")]
    pruned = {(c.split, c.sparsity) for c in grid if c.method == "framework" and c.sparsity > 0}
    assert (_step(steps, "codec training: framework").runs + _step(steps, "codec training: BottleNet++").runs
            == 3 * len(coded))
    # BottleNet++ trains without a warm-up, for as many epochs as the framework's codec: the same budget
    assert _step(steps, "codec training: BottleNet++").epochs == quick.encoding.warmup_epochs + quick.encoding.epochs
    assert _step(steps, "fine-tune: pruned").runs == 3 * len(pruned)
    assert _step(steps, "fine-tune: 2-Step Pruning, step 2").runs == 3 * sum(c.method == "2-step-pruning" for c in grid)
    assert _step(steps, "baseline").runs == 1                        # one baseline for every seed
    # fine-tuning images: the preset's limit, never more than the training split less validation
    assert _step(steps, "fine-tune: pruned").images == min(quick.pruning.train_limit,
                                                           TRAINING_IMAGES["fashion-mnist"] - quick.validation.images)
    assert _step(steps, "baseline").images == 55_000
    # 2-Step Pruning's steps share one fine-tuning budget
    assert 2 * _step(steps, "fine-tune: 2-Step Pruning, step 2").images == _step(steps, "fine-tune: pruned").images


def test_codes_built_alike_share_one_warm_up_in_the_plan():
    """The paper preset's codes of one (split, sparsity) train in one pass; those of one code dimension
    warm up once (coinfer.experiments.encoding.warm_up_twins): a warm-up per dimension per pass. One
    code per pass (cached features, or ``together=False``) warms up every code."""
    from coinfer.core.encoding import CodeSize

    paper = get_preset("paper")
    framework = [c for c in cells(paper) if c.method == "framework"]
    passes = len({c.shares for c in framework})
    dimensions = {CodeSize.parse(code).dim for code in paper.sweep.code_sizes}
    assert 1 < len(dimensions) < len(paper.sweep.code_sizes)
    steps, alone = sweep_plan(paper, seeds=2), sweep_plan(paper, seeds=2, together=False)
    assert _step(steps, "codec warm-up: framework").runs == 2 * passes * len(dimensions)
    assert _step(alone, "codec warm-up: framework").runs == _step(steps, "codec training: framework").runs == 2 * len(framework)
    assert _step(steps, "codec warm-up").epochs == paper.encoding.warmup_epochs
    assert _step(steps, "codec training: framework").epochs == paper.encoding.epochs
    # a shared warm-up also shares its pass's device forward among fewer runs: a larger share per run
    assert _step(steps, "codec warm-up").network_share > _step(steps, "codec training: framework").network_share


def test_more_seeds_or_a_bigger_grid_cost_more_and_a_faster_gpu_less():
    quick = get_preset("quick")
    one, three = plan_summary(sweep_plan(quick, 1), 1000.0), plan_summary(sweep_plan(quick, 3), 1000.0)
    assert three["gpu_hours"] > 2.5 * one["gpu_hours"]
    assert plan_summary(sweep_plan(quick, 1), 2000.0)["gpu_hours"] == pytest.approx(one["gpu_hours"] / 2)
    tiny = get_preset("quick", sweep=sweep_grid("tiny"))
    assert plan_summary(sweep_plan(tiny, 1), 1000.0)["gpu_hours"] < one["gpu_hours"]
    # the paper preset's sweep trains the full-width network on CIFAR-10: far more work
    assert plan_summary(sweep_plan(get_preset("paper"), 1), 1000.0)["equivalent_images"] > 20 * one["equivalent_images"]


@pytest.mark.parametrize("seeds,rate,message", [(0, 1.0, "seeds"), (True, 1.0, "seeds"),
                                                (1, 0.0, "GPU rate"), (1, float("nan"), "GPU rate")])
def test_bad_plan_input_is_named(seeds, rate, message):
    with pytest.raises(ValueError, match=message):
        plan_summary(sweep_plan(get_preset("quick"), seeds), rate)


def test_plan_command_prints_each_step_and_the_total(capsys, monkeypatch):
    assert main(["plan", "--preset", "quick", "--gpu-rate", "600", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "codec training" in out and "GPU-hours at 600 images/s" in out
    assert "priced masked at full width, as the GPU path trains them" in out
    assert "jscc table (python -m coinfer run jscc)" in out and "rate table" in out
    sweep_hours = plan_summary(sweep_plan(get_preset("quick"), seeds=1), 600)["gpu_hours"]
    assert f"every table in all (the README's commands for the preset): sweep {sweep_hours:.1f} + pruning" in out
    monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: DataPath(kept_channels=True)))
    assert main(["plan", "--preset", "quick", "--gpu-rate", "600", "--seeds", "1"]) == 0
    assert "priced on the kept channels, as the GPU path trains them" in capsys.readouterr().out
    assert main(["plan", "--gpu-rate", "-3"]) == 2


def test_a_codec_pass_charges_the_frozen_server_two_thirds_and_one_device_forward_per_pass():
    """Without a feature cache a codec step is the device part's forward (a third of its MACs), the
    frozen server part's forward and input-gradient backward (two thirds of its MACs) and the codec's
    own training; the codes of one (split, sparsity) share one device forward per batch."""
    from coinfer.core.costs import profile_splits
    from coinfer.core.network import resnet18

    paper = get_preset("paper", **{"sweep.framework_splits": ("layer3.1",), "sweep.sparsities": (0.0,),
                                   "sweep.bottlenet_splits": ()})
    codes = len(paper.encoding.code_sizes)
    assert codes > 1 and not paper.encoding.precompute
    p = {row.point: row for row in profile_splits(resnet18(width=1))}["layer3.1"]
    total = p.device_macs + p.server_macs
    together = _step(sweep_plan(paper), "codec training: framework").network_share
    alone = _step(sweep_plan(paper, together=False), "codec training: framework").network_share
    assert alone - together == pytest.approx(1 / 3 * p.device_macs / total * (1 - 1 / codes))
    # the codecs' own encoders and decoders train too: a small positive share on top
    codec_share = together - (2 / 3 * p.server_macs + 1 / 3 * p.device_macs / codes) / total
    assert 0 < codec_share < 0.05
    # With cached features (the quick preset) there is no device forward per step to share.
    quick = get_preset("quick")
    assert (_step(sweep_plan(quick), "codec training").network_share
            == _step(sweep_plan(quick, together=False), "codec training").network_share)


def test_bottlenet_reductions_of_one_split_share_one_device_forward_in_the_plan():
    from coinfer.core.costs import profile_splits
    from coinfer.core.network import resnet18

    paper = get_preset("paper", **{"sweep.framework_splits": (), "sweep.bottlenet_splits": ("layer2.1",)})
    reductions = len(paper.sweep.bottlenet_reductions)
    assert reductions == 3 and not paper.encoding.precompute
    p = {row.point: row for row in profile_splits(resnet18(width=1))}["layer2.1"]
    together = _step(sweep_plan(paper), "codec training: BottleNet++")
    alone = _step(sweep_plan(paper, together=False), "codec training: BottleNet++")
    assert together.runs == alone.runs == reductions
    assert alone.network_share - together.network_share == pytest.approx(
        1 / 3 * p.device_macs / (p.device_macs + p.server_macs) * (1 - 1 / reductions))


def test_distillation_charges_the_teachers_forward_and_2_step_pruning_its_compacted_network():
    quick = get_preset("quick")
    assert quick.pruning.distill_weight > 0
    with_teacher = sweep_plan(quick, kept_channels=False)
    without = sweep_plan(get_preset("quick", **{"pruning.distill_weight": 0.0}), kept_channels=False)
    for name in ("fine-tune: pruned", "fine-tune: unpruned", "fine-tune: 2-Step Pruning, step 1",
                 "fine-tune: 2-Step Pruning, step 2"):
        assert _step(with_teacher, name).network_share - _step(without, name).network_share == pytest.approx(1 / 3)
    assert _step(without, "fine-tune: pruned").network_share == 1.0       # masks: the whole network trains
    # Step 2 fine-tunes the network step 1 compacted: about (1 - s1)^2 of the MACs.
    step1 = quick.sweep.two_step_step1
    assert _step(without, "fine-tune: 2-Step Pruning, step 2").network_share == pytest.approx(
        sum((1 - s) ** 2 for s in step1) / len(step1), rel=0.15)


def test_part_macs_are_those_of_the_compacted_network():
    whole = part_macs(1 / 8, "layer2.1")
    pruned = part_macs(1 / 8, "layer2.1", 0.5)
    assert pruned[1] == whole[1] and pruned[3] == whole[3]             # the server part is unchanged
    assert pruned[2][0] == whole[2][0] // 2                             # half the channels are sent
    assert 0.2 < pruned[0] / whole[0] < 0.35                            # about a quarter of the MACs
    with pytest.raises(ValueError, match="sparsity"):
        part_macs(1 / 8, "layer2.1", 1.5)


@pytest.mark.parametrize("point", ["stem", "layer1.1", "layer2.1", "layer3.1", "pool", "output"])
def test_kept_device_macs_are_thops_count_of_the_compacted_part(point):
    for sparsity, output in ((0.1, None), (0.5, 0.25), (0.75, None), (0.9, 0.6)):
        assert kept_device_macs(1 / 8, point, sparsity, output) == part_macs(1 / 8, point, sparsity, output)[0]


def test_fine_tunes_on_kept_channels_cost_the_compacted_network_of_each_iteration(monkeypatch):
    """At a constant sparsity every step costs the compacted part (thop on the real compacted network);
    a rising schedule costs between that and the whole network; masked, the whole network."""
    settings = {"pruning.distill_weight": 0.0}
    constant = get_preset("quick", **settings, **{"pruning.schedule.kind": "constant"})
    pruned = {(c.split, c.sparsity) for c in cells(constant) if c.method == "framework" and c.sparsity > 0}
    total = sum(part_macs(constant.width, "input")[:2])
    expected = sum(part_macs(constant.width, p, s)[0] + part_macs(constant.width, p)[1]
                   for p, s in pruned) / len(pruned) / total
    share = _step(sweep_plan(constant, kept_channels=True), "fine-tune: pruned").network_share
    assert share == pytest.approx(expected, rel=1e-9)
    cubic = get_preset("quick", **settings)
    assert cubic.pruning.schedule.kind == "cubic"
    rising = _step(sweep_plan(cubic, kept_channels=True), "fine-tune: pruned").network_share
    assert share < rising < 1.0
    assert _step(sweep_plan(cubic, kept_channels=False), "fine-tune: pruned").network_share == 1.0
    # The Taylor criterion too, except that its first iteration has nothing to rank by yet.
    taylor = get_preset("quick", **settings, **{"pruning.criterion": "taylor"})
    assert rising < _step(sweep_plan(taylor, kept_channels=True), "fine-tune: pruned").network_share < 1.0
    # By default the plan prices what the GPU path does: masked at full width (the kept channels were
    # slower on an H200), and the kept channels where DataPath.for_device chooses them.
    assert _step(sweep_plan(cubic), "fine-tune: pruned").network_share == 1.0
    monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: DataPath(kept_channels=True)))
    assert _step(sweep_plan(cubic), "fine-tune: pruned").network_share == rising


def test_2_step_pruning_fine_tunes_on_kept_channels_cost_each_iterations_compacted_network():
    """Step 1 prunes the whole network by Taylor importance (nothing in its first iteration: no
    gradient seen yet), step 2 the sent channels of the network step 1 compacted."""
    import math

    from coinfer.experiments.sweep import prune_settings

    paper = get_preset("paper", **{"sweep.two_step_step1": (0.5,), "sweep.two_step_splits": ("layer2.1",),
                                   "sweep.two_step_step2": (0.75,), "pruning.schedule.ramp_fraction": 1e-6})
    total = sum(part_macs(1.0, "input")[:2])
    masked = {s.name: s.network_share for s in sweep_plan(paper, kept_channels=False)}
    kept = {s.name: s.network_share for s in sweep_plan(paper, kept_channels=True)}
    assert masked["fine-tune: 2-Step Pruning, step 1"] == pytest.approx(1.0, rel=1e-12)
    assert masked["fine-tune: 2-Step Pruning, step 2"] == pytest.approx(
        sum(part_macs(1.0, "output", step1=0.5)[:2]) / total, rel=1e-12)
    # A ramp of one iteration (2-Step Pruning's schedule is linear): the first iteration's steps cost the
    # whole network, the others the compacted one.
    prune = prune_settings(paper)
    steps = prune.epochs * math.ceil((45_000 // 2) / prune.batch_size)
    first = prune.schedule.interval
    compacted = part_macs(1.0, "output", 0.5)[0] / total
    assert kept["fine-tune: 2-Step Pruning, step 1"] == pytest.approx(
        (first + (steps - first) * compacted) / steps, rel=1e-9)
    device, server, _, _ = part_macs(1.0, "layer2.1", 0.0, 0.75, step1=0.5)
    step2_compacted = (device + server) / total
    assert kept["fine-tune: 2-Step Pruning, step 2"] == pytest.approx(
        (first * masked["fine-tune: 2-Step Pruning, step 2"] + (steps - first) * step2_compacted) / steps, rel=1e-9)
    assert kept["fine-tune: 2-Step Pruning, step 2"] < masked["fine-tune: 2-Step Pruning, step 2"]


def test_counting_macs_leaves_the_random_state_alone():
    """The plan builds and compacts networks only to count their shapes: it draws no initial values,
    so computing a plan before training (the sweep, the device check) changes no result."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert part_macs(0.3, "layer2.1", 0.0, 0.5, step1=0.25)[0] > 0     # a width no other test uses: built here
    assert torch.equal(torch.get_rng_state(), before)


def test_the_projection_divides_each_step_by_the_speed_ups_measured_for_it():
    """A device check's factors that the plan counts nowhere (the stacked server pass, folded batch
    norms, compiled frozen parts, N trainings at once) divide the steps they were measured on, and
    nothing else; the compiled parts only when the sweep compiles them; no factor, no change."""
    from coinfer.experiments.plan import BASELINE_STEPS, RATE_FACTORS, projected_plan

    steps = sweep_plan(get_preset("paper"), seeds=1)
    factors = {"stack": 1.5, "fold": 1.2, "stack_bottlenet": 1.1, "fold_bottlenet": 1.05, "compile_frozen": 2.0,
               "concurrency_2": 1.6, "kept": 1.4, "together": 1.3, "data_path": 3.0}
    for compiled, workers in ((False, 1), (True, 1), (True, 2)):
        projected, used = projected_plan(steps, factors, compile_frozen=compiled, workers=workers)
        for before, after in zip(steps, projected):
            expected = [n for n, applies in RATE_FACTORS.items() if before.name in applies and n in factors
                        and (compiled or n != "compile_frozen")]
            expected += ["concurrency_2"] if workers == 2 and before.name not in BASELINE_STEPS else []
            assert used[before.name] == expected
            divisor = 1.0
            for name in expected:
                divisor *= factors[name]
            assert after.seconds(1000) == pytest.approx(before.seconds(1000) / divisor)
    codec = {s.name: s for s in projected_plan(steps, factors, compile_frozen=True)[0]}
    plain = {s.name: s for s in steps}
    assert codec["codec training: framework"].network_share == pytest.approx(
        plain["codec training: framework"].network_share / (1.5 * 1.2 * 2.0))
    assert codec["fine-tune: pruned device parts"] == plain["fine-tune: pruned device parts"]    # counted: kept
    assert projected_plan(steps, {})[0] == steps
    with pytest.raises(ValueError, match=r"no measured factor for 4 worker\(s\) \(concurrency_4\).*concurrency_2"):
        projected_plan(steps, factors, workers=4)
    with pytest.raises(ValueError, match="factor 'fold' must be finite and > 0, got 0"):
        projected_plan(steps, {"fold": 0})


def test_plan_command_projects_a_device_checks_report(tmp_path, capsys, monkeypatch):
    from coinfer.experiments.plan import plan_summary, projected_plan

    report = {"gpu": "NVIDIA H200", "date": "2026-12-02", "provenance": {"git_commit": "abcdef123"},
              "data_path": {"new_images_per_s": 30000.0},
              "factors": {"stack": 1.5, "fold": 1.1, "compile_frozen": 1.8, "concurrency_2": 1.4},
              "together_compiled": {"compile_s": 61.0}}
    path = tmp_path / "cuda_check_gpu.json"
    path.write_text(json.dumps(report))
    monkeypatch.setenv("COINFER_COMPILE", "frozen")
    assert main(["plan", "--preset", "paper", "--seeds", "1", "--gpu-report", str(path), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    steps, _ = projected_plan(sweep_plan(get_preset("paper"), seeds=1), report["factors"], True, 2)
    hours = plan_summary(steps, 30000.0)["gpu_hours"]
    assert f"{hours:.1f} GPU-hours at 30,000 images/s" in out
    assert "projected on NVIDIA H200" in out and "with the frozen parts compiled" in out
    assert ("concurrency_2 1.40 on fine-tune: pruned device parts, fine-tune: unpruned control, " in out
            and "evaluation (validation + test); stack 1.50 on codec warm-up: framework, codec training: framework; "
            "fold 1.10 on codec warm-up: framework, codec training: framework; compile_frozen 1.80 on codec warm-up: "
            "framework, codec training: framework)" in out)
    assert "concurrency_2 1.40 on baseline" not in out and "baseline evaluation (validation + test), " not in out
    assert "compiling cost 61 s at one split point from an empty cache, not counted" in out
    # every measured configuration, "-" where a factor is missing (no compile factor: nothing under =1)
    assert "the sweep's GPU-hours in every configuration the report measured" in out
    table = out.split("by COINFER_COMPILE):\n")[1].splitlines()
    assert table[0].split() == ["workers", "=0", "=frozen", "=1"]
    assert [line.split()[0] for line in table[1:3]] == ["1", "2"] and table[1].split()[3] == "-"
    assert "each factor was measured alone, the workers' on whole-network steps" in out and "likely optimistic" in out
    # Every table alike: the rate table's codecs take the codec factors; --workers only where cells run in processes.
    from coinfer.experiments.plan_tables import table_plans

    plans = table_plans(get_preset("paper"), seeds=1)
    rate_steps, used = projected_plan(plans["rate"], report["factors"], True, 1)
    assert used["codec training: framework"] == ["stack", "fold", "compile_frozen"]
    projected = {"sweep": hours, "pruning": plan_summary(projected_plan(plans["pruning"], {}, True)[0], 30000.0),
                 "rate": plan_summary(rate_steps, 30000.0), "jscc": plan_summary(plans["jscc"], 30000.0)}
    total = hours + sum(p["gpu_hours"] for name, p in projected.items() if name != "sweep") + plan_summary(
        projected_plan(plans["encoding"], report["factors"], True, 2)[0], 30000.0)["gpu_hours"]
    assert f"every table in all (the README's commands for the preset), projected: sweep {hours:.1f}" in out
    assert f"= {total:.1f} GPU-hours at 30,000 images/s" in out
    # No rate in the report and none given: named, exit 2.
    path.write_text(json.dumps({**report, "data_path": {"error": "RuntimeError: CUDA out of memory"}}))
    assert main(["plan", "--preset", "paper", "--seeds", "1", "--gpu-report", str(path)]) == 2
    assert "has no new data path rate" in capsys.readouterr().err


def test_the_book_says_what_a_device_report_measured_and_why_not_where_it_did_not(tmp_path):
    """book/paper_scale.md reads a committed device check report through coinfer.experiments.device_report:
    every saving's factor where the report has it, the reason where it does not, and none without one."""
    from coinfer.experiments.device_report import (factors_text, gpu_measurement, measured_runs, read_device_report,
                                                   report_caption, smoke_on_gpu, compiled_on_gpu)
    from coinfer.experiments.plan import projected_hours

    report = {"gpu": "NVIDIA H200", "torch": "2.9.0", "date": "2026-12-02",
              "provenance": {"git_commit": "abcdef123", "command": "python benchmarks/cuda_check.py --out r.json"},
              "data_path": {"new_images_per_s": 30000.0, "speedup": 2.5, "old_float32_loader_images_per_s": 12000.0,
                            "autocast": "bfloat16", "new_cudnn_benchmark_images_per_s": 31000.0, "batch_size": 128,
                            "steps": 100},
              "paper_cell": {"cell": "framework_layer2.1_s0.5_d16-l4_abc", "baseline_epochs": 1, "baseline_s": 5.2,
                             "cell_s": 14.8, "pruning_epochs": 1, "codec_epochs": 2},
              "together": {"stack_factor": 1.5, "fold_factor": 1.1},
              "concurrency": {"error": "RuntimeError: CUDA out of memory\nTraceback ..."},
              "paper_smoke": {"ran": True, "total_s": 212.4},
              "factors": {"data_path": 2.5, "stack": 1.5, "fold": 1.1}}
    path = tmp_path / "cuda_check_gpu.json"
    path.write_text(json.dumps(report))
    assert read_device_report(path) == report
    # The savings table's column: measured factors, "not measured yet" for any one missing.
    assert factors_text(report, "stack") == "1.50x" and factors_text(report, "kept") == "not measured yet"
    assert factors_text(None, "stack") == "not measured yet"
    # The prose: the factor and where it was measured, or why there is none (a failed check by its error).
    assert gpu_measurement(report, "data_path", "data_path", labels=("over the old path",)) == (
        "**2.50x** over the old path, measured on NVIDIA H200 (the device check's `data_path` check)")
    assert gpu_measurement(report, "concurrency", "concurrency_2") == (
        "**not measured yet** (on NVIDIA H200 its `concurrency` check failed: RuntimeError: CUDA out of memory)")
    assert gpu_measurement(report, "together_compiled", "compile_frozen") == (
        "**not measured yet** (on NVIDIA H200 the report has no `together_compiled` check)")
    assert gpu_measurement(None, "together", "fold").startswith("**not measured yet** (no GPU report is committed")
    assert smoke_on_gpu(report) == ("**ran** on NVIDIA H200, every command in 212 s "
                                    "(the device check's `paper_smoke` check)")
    # The compiled training's agreement and memory: each said as measured, or why not.
    said = compiled_on_gpu({**report, "compiled_memory": {"error": "RuntimeError: CUDA out of memory"}})
    assert said == ("On NVIDIA H200 the compiled training's agreement with the eager one is not measured yet (the "
                    "report has no `compiled_agreement` check), and its memory over several trainings is not "
                    "measured yet (its `compiled_memory` check failed: RuntimeError: CUDA out of memory).")
    assert compiled_on_gpu(None).startswith("No GPU report is committed")
    assert smoke_on_gpu({**report, "paper_smoke": {"error": "RuntimeError: exited 1"}}) == (
        "**not run on a GPU yet**: on NVIDIA H200 its `paper_smoke` check failed: RuntimeError: exited 1")
    # a command's failure names its cause, the output's last error line, not the progress bars before it
    failed = "RuntimeError: pytest exited 1:\nencoding 67%|###\nerror: Input type (cuda) and weight type differ\n"
    assert smoke_on_gpu({**report, "paper_smoke": {"error": failed}}).endswith(
        "failed: RuntimeError: pytest exited 1: error: Input type (cuda) and weight type differ")
    # Issue 17's item 5: the training rates on the old and the new data path, and one paper cell end to end.
    runs = measured_runs(report)
    assert ("On NVIDIA H200 the full-width network trains at **12,000 images/s** on the old data path" in runs
            and "**30,000** on the new one (bf16" in runs and "31,000 with cuDNN's autotuner on" in runs)
    assert "(`framework_layer2.1_s0.5_d16-l4_abc` on the same synthetic images)" in runs and "cell 15 s" in runs
    assert "One paper-preset cell end to end: **not run** (on" not in runs
    assert "**not run** (the report has no `paper_cell` check)" in measured_runs(
        {k: v for k, v in report.items() if k != "paper_cell"})
    assert measured_runs(None).endswith("no GPU report is committed, so neither is shown yet.")
    # The caption: the run, and the sweep projected with the measured factors, as plan --gpu-report does.
    steps = sweep_plan(get_preset("paper"), seeds=3)
    caption = report_caption(report, steps)
    default = projected_hours(steps, report["factors"], 30000.0)[1, "0"]
    assert caption.startswith("The last column: `python benchmarks/cuda_check.py --out r.json` on NVIDIA H200, "
                              "torch 2.9.0, 2026-12-02, commit abcdef123.")
    assert f"the sweep takes {default:.1f} GPU-hours as the GPU path runs by default" in caption
    # its sweep at the report's rate, from the plan as it stands (not the report's own estimate)
    assert (f"At its new data path's 30,000 images/s, the three-seed sweep takes "
            f"{plan_summary(steps, 30000.0)['gpu_hours']:.1f} GPU-hours.") in caption
    assert "--gpu-report data/results/benchmarks/cuda_check_gpu.json --workers 1`" in caption
    assert "likely optimistic" not in caption
    # with workers the factors multiply, though each was measured alone: the caption says so
    workers = report_caption({**report, "factors": {**report["factors"], "concurrency_2": 1.8}}, steps)
    assert "with 2 worker(s)" in workers and workers.endswith("so the projection with workers is likely optimistic.")
    # ... unless the codec steps' own factor was measured, which the projection then takes for them
    measured = {**report["factors"], "concurrency_2": 1.8, "codec_concurrency_2": 1.3}
    caption = report_caption({**report, "factors": measured}, steps)
    assert "likely optimistic" not in caption
    assert f"and {projected_hours(steps, measured, 30000.0)[2, '0']:.1f} with 2 worker(s)" in caption
    # compiled networks measured faster: the caption names the setting that projects it
    compiled = report_caption({**report, "factors": {**report["factors"], "compile": 3.0}}, steps)
    assert "with 1 worker(s) and every network compiled" in compiled and "with COINFER_COMPILE=1, step by step" in compiled
    # ... and the command that runs the sweep so
    assert "to run it: `COINFER_COMPILE=1 python -m coinfer run sweep --preset paper`" in compiled
    assert "to run it: `python -m coinfer run sweep --preset paper --workers 2`" in caption
    assert report_caption(None, steps).startswith("No GPU report is committed yet")
    # A file that is not a device check's report is refused by name.
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="cuda_check_gpu.json is not a device check's report"):
        read_device_report(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cuda_check_gpu.json is not JSON"):
        read_device_report(path)


def test_plan_points_to_a_committed_device_report_only_when_there_is_one(tmp_path, capsys, monkeypatch):
    from coinfer.paths import device_report_path

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    assert main(["plan", "--preset", "quick", "--seeds", "1"]) == 0
    assert "--gpu-report" not in capsys.readouterr().out
    device_report_path().parent.mkdir(parents=True)
    device_report_path().write_text(json.dumps({"gpu": "NVIDIA H200", "factors": {}}))
    assert main(["plan", "--preset", "quick", "--seeds", "1"]) == 0
    assert ("pass --gpu-rate, or --gpu-report data/results/benchmarks/cuda_check_gpu.json for the committed one's)"
            in capsys.readouterr().out)


# -- the README's paper section: the other tables, beyond the sweep ---------------------------------

def test_tables_that_share_the_sweeps_networks_are_priced_for_what_they_add():
    from coinfer.experiments import rate
    from coinfer.experiments.plan_tables import table_plans

    paper = get_preset("paper")
    plans = table_plans(paper, seeds=3)
    assert plans["sweep"] == sweep_plan(paper, seeds=3)
    # Every pruned part and the control of the paper's pruning table is a sweep cell's: nothing to fine-tune.
    assert [s.name for s in plans["pruning"]] == ["evaluation (validation + test)"]
    assert plans["pruning"][0].runs == 3 * (len(paper.pruning.splits) * len(paper.pruning.sparsities) + 1)
    # A sweep fine-tuned by another recipe shares nothing: the table trains every part and its control.
    other = table_plans(get_preset("paper", **{"sweep.prune": {"lr": 2e-4}}), seeds=3)["pruning"]
    assert (_step(other, "fine-tune: pruned").runs, _step(other, "fine-tune: unpruned control").runs) == (45, 3)
    assert _step(other, "fine-tune: pruned").epochs == paper.pruning.epochs
    # The encoding table adds only its 8-bit Huffman codes at split points the sweep leaves out.
    assert {s.name for s in plans["encoding"]} == {"8-bit Huffman fitting passes", "evaluation (validation + test)"}
    # The rate table: each rate-trained code once per seed, none of the shared steps again.
    trained = len(paper.rate.splits) * len(rate.grid(paper).encoding.code_sizes) - len(paper.rate.splits) * len(
        paper.encoding.code_sizes)
    assert _step(plans["rate"], "codec training: framework").runs == 3 * trained == 42
    assert not any(s.name in ("baseline", "fine-tune: unpruned control") for s in plans["rate"] + plans["encoding"])


def test_jscc_plan_bounds_the_codecs_its_searches_can_train():
    """The plan prices JSCC at the most its binary searches and robustness grid train: no accuracies
    make them train more, whether they rise with the code size and fall with the noise or not."""
    import random

    from coinfer.experiments.jscc import Probe, smallest_code_sizes
    from coinfer.experiments.plan_tables import jscc_plan

    paper = get_preset("paper")
    settings = paper.jscc
    bound = _step(jscc_plan(paper, seeds=1), "codec training: JSCC").runs

    class Trainer:
        def __init__(self, accuracy):
            self.accuracy, self.trained = accuracy, {}

        def probe(self, kind, value, size):
            key = (kind, value, size)
            if key not in self.trained:
                self.trained[key] = Probe(kind, value, size, self.accuracy(kind, value, size))
            return self.trained[key]

    rng = random.Random(0)
    most = 0
    for trial in range(600):
        scale, slope, jitter = rng.uniform(0.5, 200), rng.uniform(0, 3), 0.0 if trial % 2 else rng.uniform(0, 0.3)

        def accuracy(kind, value, size):
            value = sum(value) / 2 if isinstance(value, tuple) else value     # trained over a range
            noise = (20 - value) / 20 if kind == "awgn" else value / 0.2
            return 1 - 1 / (1 + size / scale) - slope * noise / 10 + rng.uniform(-jitter, jitter)

        trainer, threshold = Trainer(accuracy), rng.uniform(0.3, 1.0)
        for kind, values, sizes, mismatch in (
                ("awgn", settings.snrs_db, settings.awgn_code_sizes, settings.mismatch_snrs_db),
                ("bsc", settings.flip_rates, settings.bsc_code_sizes, settings.mismatch_flip_rates)):
            found = smallest_code_sizes(trainer, kind, values, sizes, threshold, accuracy_of=lambda p: p.accuracy)
            middle = sorted(mismatch)[len(mismatch) // 2]
            k = found[middle][0].code_size if found[middle][0] else max(sizes)
            for value in (*mismatch, (min(values), max(values))):       # the robustness grid, as run() trains it
                trainer.probe(kind, value, k)
        most = max(most, len(trainer.trained))
        assert len(trainer.trained) <= bound
    assert most >= 0.6 * bound          # a bound, not a guess far above what the searches train


def test_the_plan_evaluates_the_images_the_sweep_evaluates(tmp_path):
    """The tiny grid's cells read 200 validation and 200 test images (the encoding's test_limit caps
    both); the plan counted all 5,000 held-out images."""
    from coinfer.experiments.sweep import SweepRunner

    tiny = get_preset("quick", sweep=sweep_grid("tiny"))
    runner = SweepRunner(tiny, tmp_path / "cells", tmp_path / "cache")
    steps = {step.name: step for step in sweep_plan(tiny)}
    assert steps["evaluation (validation + test)"].images == len(runner.dataset("val")) + len(runner.dataset("test"))


def test_a_bad_gpu_report_fails_before_the_plan_is_printed(tmp_path, capsys):
    """plan --gpu-report printed the whole plan, then failed on the report (a missing file, no rate)."""
    assert main(["plan", "--preset", "quick", "--gpu-report", str(tmp_path / "none.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "No such file or directory" in captured.err
    path = tmp_path / "cuda_check_gpu.json"
    path.write_text(json.dumps({"gpu": "NVIDIA H200", "factors": {}, "data_path": {"error": "CUDA out of memory"}}))
    assert main(["plan", "--preset", "quick", "--gpu-report", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "has no new data path rate" in captured.err


def test_plan_is_in_the_command_list_and_its_help_names_the_default_preset(capsys):
    import coinfer.cli

    assert "python -m coinfer plan" in coinfer.cli.__doc__               # the top-level --help's list
    assert main(["plan", "--help"]) == 0
    assert "default paper" in " ".join(capsys.readouterr().out.split())


def test_the_baseline_trained_alone_before_the_workers_takes_no_concurrency_factor():
    """``sweep --workers N`` trains the baseline once, alone, before any worker starts
    (SweepRunner.pending): N trainings at once speed up every other step, not the baseline's."""
    from coinfer.experiments.plan import projected_hours, projected_plan

    alone_steps = ("baseline", "baseline evaluation (validation + test)")
    steps = sweep_plan(get_preset("paper"), seeds=3)
    projected, used = projected_plan(steps, {"concurrency_4": 1.5}, workers=4)
    assert {s.name for s in steps} >= set(alone_steps)
    for before, after in zip(steps, projected):
        alone = before.name in alone_steps
        assert used[before.name] == ([] if alone else ["concurrency_4"]), before.name
        assert after.network_share == pytest.approx(before.network_share / (1.0 if alone else 1.5)), before.name
    baseline = plan_summary([s for s in steps if s.name in alone_steps], 1000.0)["gpu_hours"]
    hours = projected_hours(steps, {"concurrency_4": 1.5}, 1000.0)
    assert hours[(4, "0")] == pytest.approx(baseline + (hours[(1, "0")] - baseline) / 1.5)


@pytest.mark.parametrize("call, message", [
    ("jscc_plan(quick, seeds=-1)", "seeds must be an integer >= 1, got -1"),      # was negative hours
    ("jscc_plan(quick, seeds=0.5)", "seeds must be an integer >= 1, got 0.5"),    # was half a run
    ("jscc_plan(quick, seeds=True)", "seeds must be an integer >= 1, got True"),
    ("pruning_plan(quick, seeds=-2)", "seeds must be an integer >= 1, got -2"),
    ("pruning_plan(quick, seeds=0)", "seeds must be an integer >= 1, got 0"),
    ("plan_summary(one, True)", r"GPU rate \(images per second\) must be a number, got True \(bool\)"),
    ("plan_summary(one, float('inf'))", r"GPU rate \(images per second\) must be finite and > 0, got inf"),
    ("projected_plan(one, {'stack': True})", "factor 'stack' must be a number, got True"),
    ("projected_plan(one, {'stack': float('nan')})", "factor 'stack' must be finite and > 0, got nan"),
])
def test_every_plan_refuses_bad_seeds_rates_and_factors(call, message):
    from coinfer.experiments.plan import PlanStep, projected_plan
    from coinfer.experiments.plan_tables import jscc_plan, pruning_plan

    names = {"quick": get_preset("quick"), "one": [PlanStep("codec training: framework", 1, 1, 3600, 1.0)],
             "jscc_plan": jscc_plan, "pruning_plan": pruning_plan, "plan_summary": plan_summary,
             "projected_plan": projected_plan}
    with pytest.raises(ValueError, match=message):
        eval(call, names)


@pytest.mark.parametrize("sizes", [(8,), (8, 16)])
def test_jscc_plan_bounds_the_searches_with_a_single_code_size_too(sizes):
    """With one code size, ceil(log2(1)) = 0 bisection steps, but the search still trains that size at
    every channel value: every pattern of which values any size meets the threshold at, searched as
    run() searches, trains no more than the plan's bound."""
    import itertools

    from coinfer.experiments.jscc import Probe, smallest_code_sizes
    from coinfer.experiments.plan_tables import jscc_plan

    preset = get_preset("quick", **{"jscc.awgn_code_sizes": sizes, "jscc.bsc_code_sizes": sizes})
    settings = preset.jscc
    bound = _step(jscc_plan(preset), "codec training: JSCC").runs
    most = sum(len(trained) + 1 for trained in (settings.mismatch_snrs_db, settings.mismatch_flip_rates))
    for kind, values in (("awgn", settings.snrs_db), ("bsc", settings.flip_rates)):
        worst = 0
        for pattern in itertools.product([*sizes, None], repeat=len(values)):   # smallest size that suffices
            needed, trained = dict(zip(values, pattern)), set()

            class Trainer:
                def probe(self, kind, value, size):
                    trained.add((kind, value, size))
                    return Probe(kind, value, size, float(needed[value] is not None and size >= needed[value]))

            smallest_code_sizes(Trainer(), kind, values, sizes, 0.5, accuracy_of=lambda p: p.accuracy)
            worst = max(worst, len(trained))
        most += worst
    assert most <= bound


def test_the_plans_default_rate_is_the_committed_device_reports():
    """MEASURED_H200_RATE copies the new data path's rate of data/results/benchmarks/cuda_check_gpu.json
    (the algorithms read no files): a newly committed report must update it."""
    from coinfer.experiments.device_report import read_device_report, report_rate
    from coinfer.experiments.plan import MEASURED_H200_RATE
    from coinfer.paths import device_report_path

    report = read_device_report(device_report_path())
    assert "H200" in report["gpu"] and report_rate(report) == MEASURED_H200_RATE
    # and the one place that decides follows it: the kept channels off where they measured slower
    assert DataPath.for_device("cuda").kept_channels == (report["factors"]["kept"] > 1)


def test_compiled_networks_take_the_compiled_factors_and_only_where_they_were_measured():
    """``COINFER_COMPILE=1`` compiles the baseline and every fine-tune but 2-Step Pruning's first
    (Taylor importance keeps it eager): those steps take ``compile`` alone (and the baseline, trained
    before the workers start, in any case), ``compiled_concurrency_N`` with N workers; the rest keep
    their factors. Without the factor the projection refuses rather than guess."""
    from coinfer.experiments.plan import COMPILED_STEPS, projected_hours, projected_plan

    steps = sweep_plan(get_preset("paper"), seeds=1)
    factors = {"compile": 2.0, "concurrency_2": 1.5, "compiled_concurrency_2": 2.5, "codec_concurrency_2": 1.8}
    assert set(COMPILED_STEPS) <= {s.name for s in steps}
    _, alone = projected_plan(steps, factors, compile_networks=True)
    _, together = projected_plan(steps, factors, workers=2, compile_networks=True)
    assert alone["fine-tune: pruned device parts"] == ["compile"] and alone["fine-tune: 2-Step Pruning, step 1"] == []
    assert together["fine-tune: pruned device parts"] == ["compiled_concurrency_2"]
    assert together["fine-tune: 2-Step Pruning, step 1"] == ["concurrency_2"]             # eager: Taylor's hooks
    assert together["baseline"] == ["compile"] and together["baseline evaluation (validation + test)"] == []
    assert together["codec training: framework"] == ["codec_concurrency_2"]
    with pytest.raises(ValueError, match=r"2 worker\(s\), compiled \(compiled_concurrency_2\)"):
        projected_plan(steps, {"compile": 2.0, "concurrency_2": 1.5}, workers=2, compile_networks=True)
    with pytest.raises(ValueError, match=r"1 worker\(s\), compiled \(compile\); measured: none"):
        projected_plan(steps, {}, compile_networks=True)
    hours = projected_hours(steps, factors, 1000.0)
    assert set(hours) == {(1, "0"), (1, "1"), (2, "0"), (2, "1")}           # no compile_frozen: no "frozen"
    assert hours[1, "1"] < hours[1, "0"] and hours[2, "1"] < hours[2, "0"]
    assert set(projected_hours(steps, {"compile": 2.0, "concurrency_2": 1.5}, 1000.0)) == {(1, "0"), (1, "1"), (2, "0")}


def test_plan_projects_the_workers_through_cuda_mps_only_as_measured_so(tmp_path, capsys):
    """``plan --mps`` takes the factors measured through CUDA MPS in place of the plain ones, leaves
    out what MPS did not measure (the plan then refuses it), and says so; without them it refuses."""
    from coinfer.experiments.device_report import mps_factors
    from coinfer.experiments.plan import plan_summary, projected_plan

    factors = {"stack": 1.5, "concurrency_8": 2.5, "compiled_concurrency_8": 3.1, "codec_concurrency_8": 4.5,
               "compile": 2.2, "mps_concurrency_1": 0.9, "mps_concurrency_8": 3.6, "mps_codec_concurrency_8": 5.0}
    taken = mps_factors(factors)
    assert taken == {"stack": 1.5, "compile": 2.2, "concurrency_1": 0.9, "concurrency_8": 3.6,
                     "codec_concurrency_8": 5.0}                # no compiled workers through MPS measured
    report = {"gpu": "NVIDIA H200", "date": "2026-12-04", "provenance": {"git_commit": "abcdef123"},
              "data_path": {"new_images_per_s": 30000.0}, "factors": factors}
    path = tmp_path / "cuda_check_gpu.json"
    path.write_text(json.dumps(report))
    assert main(["plan", "--preset", "paper", "--seeds", "1", "--gpu-report", str(path), "--workers", "8", "--mps"]) == 0
    out = capsys.readouterr().out
    hours = plan_summary(projected_plan(sweep_plan(get_preset("paper"), seeds=1), taken, False, 8)[0], 30000.0)
    assert "8 worker(s) through CUDA MPS, without anything compiled" in out
    assert f"{hours['gpu_hours']:.1f} GPU-hours at 30,000 images/s" in out
    assert "concurrency_8 3.60 on fine-tune" in out and "codec_concurrency_8 5.00 on codec warm-up" in out
    assert "(sweep --workers N through CUDA MPS, by COINFER_COMPILE):" in out
    table = out.split("through CUDA MPS, by COINFER_COMPILE):\n")[1].splitlines()
    assert [line.split()[0] for line in table[1:3]] == ["1", "8"] and table[2].split()[3] == "-"
    # Nothing measured through MPS, or no report: refused, by name.
    path.write_text(json.dumps({**report, "factors": {"concurrency_8": 2.5}}))
    assert main(["plan", "--preset", "paper", "--gpu-report", str(path), "--mps"]) == 2
    assert "nothing was measured through CUDA MPS" in capsys.readouterr().err
    assert main(["plan", "--preset", "paper", "--mps"]) == 2
    assert "--mps needs --gpu-report" in capsys.readouterr().err


def test_the_books_caption_names_mps_where_its_measured_configuration_is_the_best():
    from coinfer.experiments.device_report import report_caption

    steps = sweep_plan(get_preset("paper"), seeds=3)
    report = {"gpu": "NVIDIA H200", "date": "2026-12-04", "provenance": {"git_commit": "abcdef123"},
              "data_path": {"new_images_per_s": 30000.0},
              "factors": {"concurrency_8": 2.5, "codec_concurrency_8": 4.5}}
    plain = report_caption(report, steps)
    assert "with 8 worker(s) (" in plain and "MPS" not in plain
    faster = {**report["factors"], "mps_concurrency_8": 3.5, "mps_codec_concurrency_8": 6.0}
    caption = report_caption({**report, "factors": faster}, steps)
    assert "with 8 worker(s) through CUDA MPS (`python -m coinfer plan --gpu-report" in caption
    assert "--workers 8 --mps`" in caption
    assert "to run it: `nvidia-cuda-mps-control -d && python -m coinfer run sweep --preset paper --workers 8`" in caption
    # how far the best configuration is from the goal, where it is above it
    best = float(caption.split(" with 8 worker(s) through CUDA MPS")[0].rsplit(" ", 1)[1])
    assert (f"above the goal of 3 GPU-hours (the whole sweep on one GPU), which that configuration would "
            f"reach if it ran {best / 3:.2f} times as fast." in caption) == (best > 3)
    # measured through MPS but slower: the plain workers stay the best
    slower = {**report["factors"], "mps_concurrency_8": 2.0, "mps_codec_concurrency_8": 3.0}
    assert "MPS" not in report_caption({**report, "factors": slower}, steps)
