"""The benchmark scripts run: each compiles, and the ones whose committed measurements the book cites
(data/results/benchmarks/) or that the prepared device check runs (benchmarks/cuda_check.py) run end
to end on tiny settings and write a report with its provenance.
Their timings are never asserted: they depend on the machine and its load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_script_compiles(script):
    compile(script.read_text(encoding="utf-8"), str(script), "exec")


def test_the_codec_training_benchmark_runs(tmp_path):
    """benchmarks/encode_speed.py called the codec trainer as it was before it trained several codecs at once
    (a TypeError on every run); it runs on a few images here."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "encode_speed.py"), "--images", "64",
                             "--splits", "layer3.1", "--skip-coders", "--out", str(tmp_path / "speed.json")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    speeds = json.loads((tmp_path / "speed.json").read_text())["train_images_per_s"]   # not into the checkout's out/
    assert speeds["layer3.1 precompute=True"] > 0 and speeds["layer3.1 roundtrip_exact"] is True
    assert "layer3.1 precompute=False" in result.stdout and "roundtrip_exact: True" in result.stdout


def test_the_prepared_device_check_runs_every_check_on_the_cpu(tmp_path):
    """benchmarks/cuda_check.py is the one script a GPU session runs, with minutes to spend: its CPU dry
    run must finish every check without an error (the split, the data paths, one paper-preset cell,
    and the benchmarks it runs in child processes: plan_shares.py, codecs_together.py and
    kept_channels.py, whose committed measurements the book cites, and gpu_concurrency.py), each with a
    report and its provenance, and find the paper smoke test it runs on a GPU."""
    out = tmp_path / "cuda_check.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("COINFER_SMOKE", None)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cuda_check.py"), "--steps", "1", "--out", str(out)],
                   check=True, cwd=ROOT, env=env, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    checks = ("split", "data_path", "estimate", "paper_cell", "shares", "together", "kept", "concurrency",
              "codec_concurrency", "compiled_concurrency", "compiled_agreement", "kept_concurrency",
              "codec_steps", "codec_steps_bottlenet", "codec_steps_compiled", "paper_smoke", "together_bottlenet",
              "kept_two_step", "together_compiled")
    failed = {name: report[name]["error"] for name in checks if "error" in report[name]}
    assert not failed, failed
    assert report["device"] == "cpu" and report["provenance"]["git_commit"]
    measured = ("measured_share", "factor", "compile_factor", "images_per_s", "priced_images_per_epoch")
    subs = [report[name] for name in ("shares", "together", "kept", "concurrency", "codec_concurrency",
                                      "compiled_concurrency", "together_bottlenet", "kept_two_step", "together_compiled",
                                      "codec_steps", "codec_steps_bottlenet", "codec_steps_compiled")]
    for sub in subs + [report["kept_concurrency"][kind] for kind in ("masked", "kept")]:
        assert sub["schema"].startswith("coinfer.benchmark.") and sub["provenance"]["hardware"]
        assert " --out " in sub["provenance"]["command"] and sub["provenance"]["command"].endswith(".json")
        assert sub["rows"] and all(next(r[k] for k in measured if k in r) > 0 for r in sub["rows"])
    # the GPU path's one server pass, and its server part with the batch norms folded, timed
    assert all(r["stacked_s"] > 0 and r["fold_factor"] > 0 for r in report["together"]["rows"])
    # and with its frozen parts compiled: the second compiled run timed, the first's compilation apart
    assert all(r["compiled_s"] > 0 and r["compile_s"] > 0 for r in report["together_compiled"]["rows"])
    # without timing again what `together` timed (the codes alone, together, stacked unfolded)
    assert {"folded_s", "compiled_s"} <= set(report["together_compiled"]["rows"][0])
    assert not {"alone_s", "together_s", "stacked_s"} & set(report["together_compiled"]["rows"][0])
    assert "compiled_s" not in report["together"]["rows"][0]
    assert report["data_path"]["cudnn_benchmark_speedup"] > 0
    # compiled without generated kernels (aot_eager, the dry run's), the first step is the eager one's
    assert report["compiled_agreement"]["first_loss_difference"] <= 1e-6
    # the codecs compiled as one module with their server part (aot_eager in the dry run)
    assert report["codec_steps_compiled"]["settings"]["path"]["compile_codecs"]
    assert not report["codec_steps"]["settings"]["path"]["compile_codecs"]
    assert report["compiled_concurrency"]["settings"]["compile"] and report["kept_concurrency"]["kept"]["settings"]["kept"]
    assert set(report["kept_concurrency"]["kept_over_masked"]) == {"2"}
    # the new path's parts one at a time, each against the loader path
    parts = report["data_path"]["over_old_path"]
    assert set(parts) == {"resident_float32_images_per_s", "resident_float32_channels_last_images_per_s",
                          "resident_bf16_images_per_s"} and all(v > 0 for v in parts.values())
    assert report["data_path"]["autocast"] == "bfloat16"       # the CPU rehearses an H100-class GPU's precision
    # On a GPU the paper smoke test runs there; the dry run checks that its selection names that test.
    assert report["paper_smoke"] == {"ran": False,
                                     "test": "tests/test_paper_smoke.py::test_paper_preset_runs_end_to_end_at_full_width"}
    # The sweep's GPU-hours at every measured rate: three seeds cost about three times one.
    estimate = report["estimate"]["new_images_per_s"]
    assert estimate["images_per_s"] == report["data_path"]["new_images_per_s"]
    assert 2.5 < estimate["gpu_hours_3_seeds"] / estimate["gpu_hours_1_seeds"] < 3.5
    # The factors the book's savings table reads from a committed GPU report: every check's ratio, and
    # no concurrency factor, since the dry run times two processes and not one alone (the kept
    # channels' is a ratio at the same count: two).
    assert report["factors"] == {"data_path": round(report["data_path"]["speedup"], 3),
                                 "together": round(report["together"]["factor"], 3),
                                 "stack": round(report["together"]["stack_factor"], 3),
                                 "fold": round(report["together"]["fold_factor"], 3),
                                 "kept": round(report["kept"]["factor"], 3),
                                 "together_bottlenet": round(report["together_bottlenet"]["factor"], 3),
                                 "stack_bottlenet": round(report["together_bottlenet"]["stack_factor"], 3),
                                 "fold_bottlenet": round(report["together_bottlenet"]["fold_factor"], 3),
                                 "kept_two_step": round(report["kept_two_step"]["factor"], 3),
                                 "compile_frozen": round(report["together_compiled"]["compile_factor"], 3),
                                 "kept_concurrency_2": round(report["kept_concurrency"]["kept_over_masked"]["2"], 3)}
    # book/paper_scale.md reads this script's report, once committed, through coinfer.experiments.device_report:
    # the report as written (not a copy of its shape) gives every saving's factor and the run's caption.
    from coinfer.config import get_preset
    from coinfer.experiments.device_report import (factors_text, gpu_measurement, measured_runs, read_device_report,
                                                   report_caption, smoke_on_gpu)
    from coinfer.experiments.plan import sweep_plan

    assert read_device_report(out) == report
    for check, name in (("data_path", "data_path"), ("together", "together"), ("together", "stack"),
                        ("together", "fold"), ("kept", "kept"), ("together_bottlenet", "together_bottlenet"),
                        ("kept_two_step", "kept_two_step"), ("together_compiled", "compile_frozen")):
        assert factors_text(report, name) == f"{report['factors'][name]:.2f}x"
        assert gpu_measurement(report, check, name).startswith(f"**{report['factors'][name]:.2f}x**, measured on cpu")
    assert smoke_on_gpu(report) == "**not run on a GPU yet**: the report's device, cpu, only checked its selection"
    runs = measured_runs(report)
    assert f"**{report['data_path']['old_float32_loader_images_per_s']:,.0f} images/s** on the old data path" in runs
    assert f"(`{report['paper_cell']['cell']}` on the same synthetic images)" in runs and "not run" not in runs
    caption = report_caption(report, sweep_plan(get_preset("paper"), seeds=3))
    assert caption.startswith(f"The last column: `{report['provenance']['command']}` on cpu, torch {report['torch']}")
    assert "as the GPU path runs by default" in caption and "the goal of 3 GPU-hours (the whole sweep on one GPU)" in caption


def test_codecs_together_refuses_compiled_only_without_compile(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "codecs_together.py"), "--compiled-only",
                             "--out", str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode != 0 and "--compiled-only" in result.stderr and "--compile" in result.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("script", ["kept_channels", "plan_shares", "codecs_together"])
def test_the_cpu_benchmarks_take_a_thread_count_and_refuse_none(script, tmp_path):
    # Their timings depend on the threads; each now sets them as prune_step and jscc_time do.
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--threads", "0",
                             "--out", str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "--threads must be >= 1, got 0" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_the_device_check_resumes_a_report_running_only_the_checks_it_lacks(tmp_path):
    """A device call stopped at its limit keeps the checks that finished; ``--resume`` runs the rest
    (here only ``split``), keeps the earlier checks as they were, computes the factors over both, says
    which run the earlier ones came from, and refuses a report from another device."""
    import torch

    earlier = {"gpu": None, "torch": torch.__version__, "device": "cpu", "date": "2026-01-01",
               "provenance": {"command": "python benchmarks/cuda_check.py", "git_commit": "abc1234"}}
    for name in ("data_path", "estimate", "paper_cell", "shares", "together", "kept", "concurrency",
                 "codec_concurrency", "compiled_concurrency", "compiled_agreement", "kept_concurrency", "paper_smoke",
                 "together_bottlenet", "kept_two_step", "together_compiled"):
        earlier[name] = {"marker": name}
    earlier["data_path"]["speedup"] = 2.5
    earlier["kept_seconds"] = 12.5
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "cuda_check.py"), "--resume", str(tmp_path / "earlier.json"),
               "--out", str(tmp_path / "out.json")]
    subprocess.run(command, check=True, cwd=ROOT, env=env, capture_output=True, timeout=300)
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["split"]["max_abs_difference"] < 1e-4 and "split_seconds" in report
    assert all(report[name] == earlier[name] for name in earlier if name not in ("date", "provenance"))
    assert report["factors"] == {"data_path": 2.5}
    assert report["resumed_from"] == [earlier["provenance"]] and report["provenance"]["git_commit"]
    earlier["device"] = "cuda"
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "its device is 'cuda', this run's 'cpu'" in done.stderr
    # A check to run again must be one of its checks, named with them.
    earlier["device"] = "cpu"
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    done = subprocess.run(command + ["--rerun", "data_path", "paper-smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0 and "--rerun paper-smoke: not a check of this run; its checks are split" in done.stderr


def _cuda_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cuda_check", ROOT / "benchmarks" / "cuda_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_device_checks_factors_leave_out_what_failed_or_did_not_run():
    measured_factors = _cuda_check().measured_factors
    report = {"data_path": {"speedup": 2.5}, "together": {"error": "RuntimeError: CUDA out of memory"},
              "kept": {"factor": 1.31, "planned_factor": 1.49},
              "concurrency": {"rows": [{"processes": 1, "images_per_s": 100.0},
                                       {"processes": 2, "images_per_s": 162.0},
                                       {"processes": 4, "images_per_s": None}]},
              "codec_concurrency": {"rows": [{"processes": 2, "over_one_process": 1.4}]}}
    assert measured_factors(report) == {"data_path": 2.5, "kept": 1.31, "concurrency_1": 1.0, "concurrency_2": 1.62,
                                        "codec_concurrency_2": 1.4}
    assert measured_factors({}) == {}


def test_codec_epochs_priced_over_measured_form_the_codec_step_factors_at_the_priced_width():
    """codec_steps.py times codec epochs apart from a pass's one-time work; the factor is the plan's
    price at the report's rate over that time, where the network was the width the plan prices."""
    measured_factors = _cuda_check().measured_factors
    steps = {"settings": {"width": 1.0}, "seconds_per_epoch": 2.0, "priced_images_per_epoch": 10000.0}
    report = {"data_path": {"new_images_per_s": 12500.0}, "codec_steps": steps,
              "codec_steps_bottlenet": {**steps, "seconds_per_epoch": 0.5}}
    factors = measured_factors(report)
    assert factors["codec_step"] == 0.4 and factors["codec_step_bottlenet"] == 1.6
    # None from the dry run's narrow network, a failed check, two runs whose difference came out <= 0,
    # or without the rate the plan prices at.
    narrow = {**steps, "settings": {"width": 0.125}}
    for bad in ({"codec_steps": narrow}, {"codec_steps": {"error": "RuntimeError: x"}},
                {"codec_steps": {**steps, "seconds_per_epoch": -0.01}}, {"data_path": {}}):
        assert not {"codec_step"} & set(measured_factors({**report, **bad}))
    # The codecs compiled: eager over compiled seconds per epoch where both timed a split point.
    rows = {"rows": [{"split": "layer2.1", "seconds_per_epoch": 3.0}, {"split": "layer3.1", "seconds_per_epoch": 1.0}]}
    compiled = {"settings": {"width": 1.0}, "rows": [{"split": "layer2.1", "seconds_per_epoch": 1.2}]}
    assert measured_factors({**report, "codec_steps": {**steps, **rows}, "codec_steps_compiled": compiled})[
        "codec_compile"] == 2.5
    assert "codec_compile" not in measured_factors({**report, "codec_steps": {**steps, **rows}, "codec_steps_compiled": {
        **compiled, "settings": {"width": 0.125}}})


def test_the_timed_sweep_sums_each_stages_seconds_from_the_runs_own_files(tmp_path):
    """Where a timed sweep's worker-seconds went: each pruned part's fine-tune (its checkpoint's meta),
    2-Step Pruning's second steps (their records), and each codec pass once, however many codes shared it."""
    import importlib.util

    from coinfer.core.network import resnet18
    from coinfer.train import save_checkpoint

    spec = importlib.util.spec_from_file_location("sweep_timed", ROOT / "benchmarks" / "sweep_timed.py")
    timed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timed)
    cache, cells = tmp_path / "cache", tmp_path / "cells"
    cells.mkdir()
    net = resnet18(width=1 / 16)
    save_checkpoint(cache / "a" / "control.pt", net, {"kind": "pruned", "fine_tune_s": 30.0})
    save_checkpoint(cache / "b.pt", net, {"kind": "pruned", "fine_tune_s": 12.5})
    save_checkpoint(cache / "baseline.pt", net, {"kind": "baseline", "train_time_s": 99.0})     # not a fine-tune
    records = [("framework", {"train_time_s": 60.0, "trained_together": 3})] * 3 + [
        ("framework", {"train_time_s": 8.0}), ("bottlenet++", {"train_time_s": 9.0, "trained_together": 2}),
        ("bottlenet++", {"train_time_s": 9.0, "trained_together": 2}), ("2-step-pruning", {"fine_tune_s": 4.0}),
        ("png", {})]
    for i, (method, extra) in enumerate(records):
        (cells / f"c{i}.json").write_text(json.dumps({"method": method, "record": {"extra": extra}}))
    assert timed.measured_stages(cells, cache) == {"fine-tunes": 46.5, "codec passes: framework": 68.0,
                                                   "codec passes: BottleNet++": 9.0}


def test_trainings_at_once_count_over_the_faster_of_the_two_one_process_rates():
    """A slow one-process run in the concurrency check must not inflate the workers' factors: N at
    once (compiled or not) counts over the data path check's one process where that was faster and
    trained the same network at the same batch size."""
    measured_factors = _cuda_check().measured_factors
    report = {"data_path": {"new_images_per_s": 130.0, "batch_size": 128},
              "concurrency": {"settings": {"width": 1.0, "batch_size": 128},
                              "rows": [{"processes": 1, "images_per_s": 90.0},
                                       {"processes": 8, "images_per_s": 325.0}]},
              "compiled_concurrency": {"rows": [{"processes": 8, "images_per_s": 390.0}]}}
    factors = measured_factors(report)
    assert factors["concurrency_8"] == 2.5 and factors["compiled_concurrency_8"] == 3.0
    assert factors["concurrency_1"] == round(90 / 130, 3)
    faster_alone = {**report, "concurrency": {**report["concurrency"],
                                              "rows": [{"processes": 1, "images_per_s": 162.5},
                                                       {"processes": 8, "images_per_s": 325.0}]}}
    assert measured_factors(faster_alone)["concurrency_8"] == 2.0
    # A narrower network in the concurrency check (the CPU dry run's) is not the data path's training.
    narrower = {**report, "concurrency": {**report["concurrency"], "settings": {"width": 0.125, "batch_size": 128}}}
    assert measured_factors(narrower)["concurrency_8"] == round(325 / 90, 3)


def test_the_quick_pipeline_check_calls_each_stage_as_it_is_defined(tmp_path, monkeypatch):
    """``--quick`` runs only on a GPU, for minutes, so its calls are checked here against the real
    signatures (it passed an ``out=`` the pruning experiment never took, which only a GPU run would
    have reported, as an error in the report)."""
    import inspect

    import torch

    import coinfer.experiments.encoding as encoding
    import coinfer.experiments.pruning as pruning
    import coinfer.train as train
    from coinfer.core.network import resnet18
    from coinfer.results import LookupTable, Provenance, Record

    def checked(real, result):
        def stand_in(*args, **kwargs):
            inspect.signature(real).bind(*args, **kwargs)          # raises TypeError on a wrong call
            return result
        return stand_in

    table = LookupTable(Provenance(dataset="fashion-mnist", preset="quick", command="x", wall_time_s=0.0))
    table.add(Record(method="framework", split="layer3.1", accuracy=0.9, device_macs=1, device_params=1,
                     server_macs=1, bits_per_image=1.0, code_size="d16-l4"))
    monkeypatch.setattr(train, "get_baseline", checked(train.get_baseline, (resnet18(width=1 / 8), {"test_accuracy": 0.9})))
    monkeypatch.setattr(pruning, "run", checked(pruning.run, table))
    monkeypatch.setattr(encoding, "run", checked(encoding.run, table))
    out = _cuda_check().quick_pipeline(torch.device("cpu"), tmp_path)
    assert [k for k, v in out.items() if "error" in v] == [], out
    assert out["prune"]["records"] and out["encode"]["records"]


TWO_CODES = ["--set", "sweep.code_sizes=('d16-l4', 'd16-k16')"]     # codes that share (or not) a pass and a warm-up


@pytest.mark.parametrize("args", [TWO_CODES, ["--preset", "quick", "--set", "dataset=cifar10", *TWO_CODES,
                                              "--set", "sweep.framework_splits=('layer1.1',)"]], ids=["paper", "quick"])
def test_the_plan_counts_the_flops_the_sweep_executes(args, tmp_path):
    """benchmarks/plan_check.py runs a preset's baseline and sweep at smoke scale under PyTorch's FLOP
    counter: every step of the plan matches what ran (a forgotten pass, or a new one, fails). The
    paper preset trains its codes together on augmented images, the quick one each code alone on cached
    features, with distillation."""
    out = tmp_path / "plan_check.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("COINFER_SMOKE", None)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plan_check.py"), *args, "--out", str(out)],
                   check=True, cwd=ROOT, env=env, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    assert report["schema"] == "coinfer.benchmark.plan-check" and report["provenance"]["git_commit"]
    rows = {r["step"]: r for r in report["rows"]}
    assert {"fine-tune: 2-Step Pruning, step 2", "codec warm-up: framework", "codec training: framework",
            "codec training: BottleNet++", "8-bit Huffman fitting passes"} <= set(rows)
    assert ("feature extraction (cached device parts)" in rows) == ("quick" in args)
    for r in rows.values():
        if r["plan_images"] >= 1:
            assert r["ratio"] == pytest.approx(1, abs=0.03), r
    # what the plan leaves out is the one-image shape and MAC probes: a few images in all
    unplanned = sum(r["metered_images"] for r in rows.values() if r["plan_images"] == 0)
    assert unplanned < 0.03 * report["total"]["metered_images"]


def test_trainings_at_once_through_cuda_mps_count_over_the_same_one_alone():
    """MPS's factors take the same one alone as without it (or MPS's own one process, if faster), so
    that they credit MPS only with what it adds to several at once; codec trainings over the faster of
    their two one-process rates."""
    measured_factors = _cuda_check().measured_factors
    report = {"data_path": {"new_images_per_s": 130.0, "batch_size": 128},
              "concurrency": {"settings": {"width": 1.0, "batch_size": 128},
                              "rows": [{"processes": 1, "images_per_s": 100.0}]},
              "codec_concurrency": {"rows": [{"processes": 1, "images_per_s": 20.0, "over_one_process": 1.0}]},
              "mps_concurrency": {"eager": {"rows": [{"processes": 1, "images_per_s": 120.0},
                                                     {"processes": 8, "images_per_s": 520.0}]},
                                  "compiled": {"rows": [{"processes": 8, "images_per_s": 650.0}]},
                                  "codecs": {"rows": [{"processes": 1, "images_per_s": 25.0},
                                                      {"processes": 8, "images_per_s": 150.0}]}}}
    factors = measured_factors(report)
    assert factors["mps_concurrency_8"] == 4.0 and factors["mps_compiled_concurrency_8"] == 5.0
    assert factors["mps_codec_concurrency_8"] == 6.0 and factors["mps_codec_concurrency_1"] == 1.0
    # a failed MPS check (no daemon on the machine) leaves no factor of it
    failed = {**report, "mps_concurrency": {"error": "RuntimeError: nvidia-cuda-mps-control is not on the PATH"}}
    assert not [name for name in measured_factors(failed) if name.startswith("mps_")]


def test_the_mps_check_starts_its_daemon_in_its_own_folders_and_always_stops_it(tmp_path, monkeypatch):
    """The daemon is started with ``-d`` and told to ``quit`` afterwards, even when a run fails, with
    its pipe and log folders in the check's work folder, where the training processes find them."""
    import torch

    check = _cuda_check()
    log = tmp_path / "control.log"
    control = tmp_path / "nvidia-cuda-mps-control"
    control.write_text(f"#!/bin/sh\necho \"args=$* pipe=$CUDA_MPS_PIPE_DIRECTORY stdin=$(cat -)\" >> {log}\n")
    control.chmod(0o755)
    seen = []

    def fake_benchmark(script, work, *args, env=None):
        seen.append((script, args, env))
        return {"rows": [{"processes": 1, "images_per_s": 1.0}]}

    monkeypatch.setattr(check, "benchmark", fake_benchmark)
    out = check.mps_concurrency(tmp_path / "work", torch.device("cpu"), str(control), ("2",), "aot_eager")
    pipe = tmp_path / "work" / "mps-pipe"
    assert pipe.is_dir() and (tmp_path / "work" / "mps-log").is_dir()
    assert log.read_text().splitlines() == [f"args=-d pipe={pipe} stdin=", f"args= pipe={pipe} stdin=quit"]
    assert [args for _, args, _ in seen] == [
        ("--device", "cpu", "--processes", "2"),
        ("--device", "cpu", "--processes", "2", "--compile", "--compile-backend", "aot_eager"),
        ("--device", "cpu", "--processes", "2", "--work", "codecs")]
    assert all(env["CUDA_MPS_PIPE_DIRECTORY"] == str(pipe) for _, _, env in seen)
    assert set(out) == {"eager", "compiled", "codecs", "control"}
    # A failing run still stops the daemon; no daemon at all is a named error.
    log.unlink()

    def failing(*args, **kwargs):
        raise RuntimeError("a training process exited with code 1")

    monkeypatch.setattr(check, "benchmark", failing)
    with pytest.raises(RuntimeError, match="exited with code 1"):
        check.mps_concurrency(tmp_path / "work", torch.device("cpu"), str(control), ("2",))
    assert log.read_text().splitlines()[-1] == f"args= pipe={pipe} stdin=quit"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="nvidia-cuda-mps-control is not on the PATH"):
        check.mps_concurrency(tmp_path / "work", torch.device("cpu"))


def test_the_timed_sweep_runs_one_seed_through_mps_beside_the_plans_price(tmp_path):
    """benchmarks/sweep_timed.py (the device check's sweep_timed) on the CPU: the baseline, then every
    cell of one seed with two workers, the MPS daemon (a stand-in here) started before and stopped after,
    and the plan's price of the same run from the report's rate and factors through MPS."""
    log = tmp_path / "control.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    control = bin_dir / "nvidia-cuda-mps-control"
    control.write_text(f"#!/bin/sh\necho \"args=$* stdin=$(cat -)\" >> {log}\n")
    control.chmod(0o755)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"data_path": {"new_images_per_s": 500.0},
                                  "factors": {"concurrency_2": 1.5, "mps_concurrency_2": 1.8}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep_timed.py"), "--gpu-report", str(report),
                             "--mps", "--out", str(tmp_path / "timed.json")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    timed = json.loads((tmp_path / "timed.json").read_text())
    assert timed["settings"]["workers"] == 2 and timed["settings"]["mps"] is True
    assert timed["stopped"] is False and timed["cells_done"] == timed["cells"] > 5
    assert timed["peak_gpu_memory_mib"] is None                # no nvidia-smi here
    assert timed["projected"]["sweep_s"] > 0 and timed["sweep_s"] > 0
    assert timed["sweep_over_projected"] == pytest.approx(timed["sweep_s"] / timed["projected"]["sweep_s"], rel=0.02)
    assert [line.split(" stdin=")[0] for line in log.read_text().splitlines()] == ["args=-d", "args="]
    # Where the two workers' seconds went, stage by stage, beside what the projection expects of each.
    stages = {row["stage"]: row for row in timed["stages"]}
    assert list(stages) == ["fine-tunes", "codec passes: framework", "codec passes: BottleNet++", "the rest"]
    assert all(row["measured_s"] > 0 and row["projected_s"] > 0 for row in stages.values())
    assert sum(row["measured_s"] for row in stages.values()) == pytest.approx(2 * timed["sweep_s"], abs=0.3)


def test_the_timed_sweep_stops_its_command_at_the_deadline_and_names_a_failure(tmp_path):
    import importlib.util
    import time

    spec = importlib.util.spec_from_file_location("sweep_timed", ROOT / "benchmarks" / "sweep_timed.py")
    timed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timed)
    start = time.time()
    # A parent that starts a child of its own, as the sweep starts its workers: both are stopped.
    seconds, stopped, _ = timed.timed_run([sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen("
                                           "[sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"],
                                          dict(os.environ), deadline=2, poll_s=0.5)
    assert stopped and 2 <= seconds < 20 and time.time() - start < 30
    assert timed.timed_run([sys.executable, "-c", "pass"], dict(os.environ), poll_s=0.1)[1] is False
    with pytest.raises(RuntimeError, match="exited 3"):
        timed.timed_run([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    with pytest.raises(ValueError, match="the epoch scale must be in \\(0, 1\\], got 1.5"):
        timed.scaled_epochs(None, 1.5)
