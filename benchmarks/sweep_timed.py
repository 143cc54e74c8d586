"""One seed of the paper sweep timed end to end with N workers, beside the plan's price of the same run.

The GPU-hours ``book/paper_scale.md`` projects multiply speed-ups each measured alone (the data path,
the codes trained together, compiling, N trainings at once, through CUDA MPS) and deal the sweep's
tasks to its workers on paper (:mod:`coinfer.experiments.plan_schedule`). This runs what they
project: every cell of one seed of the paper preset's sweep, ``python -m coinfer sweep --workers N``
(``COINFER_COMPILE=1`` with ``--compile``; through CUDA MPS with ``--mps``, whose daemon it starts and
stops), on random pixels in CIFAR-10's on-disk format (``--train-images``), every stage's epochs
scaled by ``--epoch-scale`` (at least one each) so that it fits a device call. The plan prices the
same run (the same preset, images and seed, at ``--gpu-report``'s rate and factors): measured over
projected is how far the book's projection is off, the workers' start, every compile and evaluation
included. Where it is off is told stage by stage (``stages``): the worker-seconds the run spent on
the fine-tunes and on the codec passes (from its pruned parts' and cell files' own times) and on
the rest (evaluation, the 8-bit Huffman fits, the workers' start, compiling, the idle tail), each
beside what the projection expects of it (with N at once, N times the stage's GPU-seconds there).

    python benchmarks/sweep_timed.py --gpu-report data/results/benchmarks/cuda_check_gpu.json \\
        --workers 16 --mps --compile --epoch-scale 0.1 --deadline 300

The baseline is trained first (``python -m coinfer train``) and timed apart, as the sweep trains it
once before its workers start. A sweep still running at ``--deadline`` seconds is stopped: the report
then has the cells it finished, and measured over projected is at least the deadline over the
projection. Without CUDA it is a dry run of the script (``COINFER_SMOKE=paper``: a handful of steps
per stage, the numbers mean nothing). Writes ``benchmarks/out/sweep_timed.json``; timings are never
asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scaled_epochs(preset, scale: float) -> dict:
    """Overrides scaling ``preset``'s training epochs (baseline, pruning fine-tunes and their learning
    rate steps, codec warm-up and training) by ``scale``, each at least one (a warm-up of none stays none).

    >>> from coinfer.config import get_preset
    >>> scaled_epochs(get_preset("paper"), 0.2)
    {'baseline.epochs': 12, 'pruning.epochs': 20, 'pruning.lr_step_epochs': 8, 'encoding.warmup_epochs': 2, 'encoding.epochs': 10}
    """
    if not 0 < scale <= 1:
        raise ValueError(f"the epoch scale must be in (0, 1], got {scale!r}")

    def scaled(epochs: int) -> int:
        return max(1, round(epochs * scale)) if epochs else 0

    return {"baseline.epochs": scaled(preset.baseline.epochs), "pruning.epochs": scaled(preset.pruning.epochs),
            "pruning.lr_step_epochs": scaled(preset.pruning.lr_step_epochs),
            "encoding.warmup_epochs": scaled(preset.encoding.warmup_epochs),
            "encoding.epochs": scaled(preset.encoding.epochs)}


def gpu_memory_used_mib() -> int | None:
    """The GPU memory in use on the first GPU, every process's (``nvidia-smi``), or None without one."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10)
        return int(done.stdout.split()[0]) if done.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def timed_run(command: list[str], env: dict, deadline: float | None = None,
              poll_s: float = 5.0) -> tuple[float, bool, int | None]:
    """Run ``command`` (its own process group, so that a stop reaches its workers): its seconds,
    whether it was stopped at ``deadline``, and the most GPU memory in use while it ran (MiB, read
    every ``poll_s`` seconds; None without a GPU): whether N workers fit a smaller GPU. A failure
    raises, naming the command."""
    start = time.time()
    child = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    peak = None
    while child.poll() is None:
        if deadline is not None and time.time() - start > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return time.time() - start, True, peak
        used = gpu_memory_used_mib()
        peak = used if peak is None or (used is not None and used > peak) else peak
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=poll_s)
    if child.returncode:
        raise RuntimeError(f"{' '.join(command[2:])} exited {child.returncode}")
    return time.time() - start, False, peak


#: The plan's steps by what a run records of them: the fine-tunes (each pruned part's ``fine_tune_s``,
#: 2-Step Pruning's second step's in its record) and the codec passes (their records' ``train_time_s``,
#: shared by the ``trained_together`` codes of a pass: warm-up, k-means start, quantized epochs and fits).
STAGES = {"fine-tunes": lambda name: name.startswith("fine-tune"),
          "codec passes: framework": lambda name: name in ("codec warm-up: framework", "codec training: framework",
                                                           "codec fitting passes (k-means, entropy model)"),
          "codec passes: BottleNet++": lambda name: name == "codec training: BottleNet++"}


def measured_stages(cells_dir: Path, cache_dir: Path) -> dict[str, float]:
    """Seconds a run spent in each of :data:`STAGES`, summed over its workers, from its cell files and
    pruned parts (``weights_only`` loads of the run's own checkpoints)."""
    from coinfer.train import load_checkpoint

    seconds = dict.fromkeys(STAGES, 0.0)
    for path in sorted(Path(cache_dir).rglob("*.pt")):
        meta = load_checkpoint(path)[1]
        if meta.get("kind") == "pruned" and isinstance(meta.get("fine_tune_s"), (int, float)):
            seconds["fine-tunes"] += meta["fine_tune_s"]
    for path in sorted(Path(cells_dir).glob("*.json")):
        cell = json.loads(path.read_text())
        extra = cell["record"].get("extra") or {}
        if cell["method"] == "2-step-pruning" and isinstance(extra.get("fine_tune_s"), (int, float)):
            seconds["fine-tunes"] += extra["fine_tune_s"]
        stage = {"framework": "codec passes: framework", "bottlenet++": "codec passes: BottleNet++"}.get(cell["method"])
        if stage and isinstance(extra.get("train_time_s"), (int, float)):
            seconds[stage] += extra["train_time_s"] / extra.get("trained_together", 1)    # a pass's share
    return seconds


def projected_stages(schedule, factors: dict, rate: float, workers: int, compiled: bool) -> dict[str, float]:
    """The worker-seconds the projection expects of each of :data:`STAGES` (and the rest of the sweep)
    in ``schedule`` (:class:`coinfer.experiments.plan_schedule.SweepTasks`, one seed): with ``workers``
    at once, a task takes ``workers`` times its share of the GPU's time, which is its steps' seconds as
    :func:`coinfer.experiments.plan.projected_plan` prices them at that count."""
    from coinfer.experiments.plan import plan_summary, projected_plan

    steps = [s for task in schedule.steps for s in task]
    kinds = {**STAGES, "the rest": lambda name: not any(match(name) for match in STAGES.values())}
    out = {}
    for kind, match in kinds.items():
        mine = [s for s in steps if match(s.name)]
        projected = projected_plan(mine, factors, compiled, workers, compiled)[0] if mine else []
        out[kind] = workers * 3600 * plan_summary(projected, rate)["gpu_hours"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-report", required=True, help="a device check's report: the rate and factors priced")
    parser.add_argument("--workers", type=int, default=None, help="sweep --workers (default 16 on CUDA, 2 on a CPU)")
    parser.add_argument("--mps", action="store_true", help="through CUDA MPS (the daemon is started here)")
    parser.add_argument("--compile", action="store_true", help="COINFER_COMPILE=1: every trained network compiled")
    parser.add_argument("--epoch-scale", type=float, default=0.2, help="every stage's epochs times this (default 0.2)")
    parser.add_argument("--train-images", type=int, default=None, help="synthetic training images (default 20,000)")
    parser.add_argument("--deadline", type=float, default=None, help="stop the sweep after this many seconds")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "sweep_timed.json"))
    args = parser.parse_args()
    started = time.time()

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cuda_check import mps_daemon, write_synthetic_cifar10

    from coinfer.config import get_preset
    from coinfer.experiments.cell_files import default_paths
    from coinfer.experiments.device_report import mps_factors, read_device_report, report_rate
    from coinfer.experiments.plan_schedule import sweep_tasks
    from coinfer.experiments.sweep import cell_states
    from coinfer.results import write_measurement

    cuda = torch.cuda.is_available()
    workers = args.workers or (16 if cuda else 2)
    report = read_device_report(args.gpu_report)
    rate = report_rate(report)
    if not rate:
        raise SystemExit(f"{args.gpu_report} has no data path rate to price the run with")
    factors = mps_factors(report["factors"]) if args.mps else report["factors"]
    mode = "1" if args.compile else "0"
    work = Path(tempfile.mkdtemp(prefix="sweep-timed-"))
    train_images, test_images = args.train_images or (20_000 if cuda else 200), 1_000 if cuda else 40
    env = {**os.environ, "COINFER_HOME": str(work / "home"), "COINFER_TRUST_LOCAL_DATA": "1", "COINFER_OFFLINE": "1",
           "COINFER_DATA": str(write_synthetic_cifar10(work / "data", train_images, test_images)),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if args.compile:
        env["COINFER_COMPILE"] = "1"
    if not cuda:
        env["COINFER_SMOKE"] = "paper"                  # the dry run: a handful of steps per stage
    # The preset as the commands below build it (COINFER_SMOKE and COINFER_HOME read from this process's
    # environment), for the plan's price and the cells' states.
    os.environ.update({k: env[k] for k in ("COINFER_HOME", "COINFER_DATA") + (("COINFER_SMOKE",) if not cuda else ())})
    overrides = scaled_epochs(get_preset("paper"), args.epoch_scale) if cuda else {}
    preset = get_preset("paper", **overrides)
    sets = [a for name, value in overrides.items() for a in ("--set", f"{name}={value}")]
    schedule = sweep_tasks(preset, seeds=1, dataset_images=(train_images, test_images))
    projected = {"baseline_s": 3600 * dataclasses.replace(schedule, tasks=(), steps=()).hours(factors, rate)[1, mode],
                 "sweep_s": 3600 * dataclasses.replace(schedule, baseline=()).hours(factors, rate)[workers, mode]}
    python = [sys.executable, "-m", "coinfer"]
    baseline_s, _, _ = timed_run(python + ["train", "--preset", "paper", *sets], env)
    with mps_daemon(work) if args.mps else contextlib.nullcontext({}) as daemon:
        sweep_env = {**env, **{k: v for k, v in daemon.items() if k != "control"}}
        sweep_s, stopped, peak_mib = timed_run(python + ["sweep", "--preset", "paper", "--workers", str(workers),
                                                         "--no-progress", *sets], sweep_env, args.deadline)
    paths = default_paths(preset)
    cells_dir = Path(paths["cells_dir"])
    states = cell_states(preset, cells_dir)
    # Where the worker-seconds went, stage by stage, against what the projection expects of each.
    measured = measured_stages(cells_dir, Path(paths["cache_dir"]))
    measured["the rest"] = workers * sweep_s - sum(measured.values())
    expected = projected_stages(schedule, factors, rate, workers, args.compile)
    stages = [{"stage": kind, "measured_s": round(measured[kind], 1), "projected_s": round(expected[kind], 1),
               "measured_over_projected": round(measured[kind] / expected[kind], 3) if expected[kind] else None}
              for kind in expected]
    cell_s = [json.loads((cells_dir / f"{cell}.json").read_text())["wall_time_s"] for cell, state in states if state == "done"]
    result = {"settings": {"workers": workers, "mps": args.mps, "compile": args.compile, "epoch_scale": args.epoch_scale,
                           "train_images": train_images, "test_images": test_images, "deadline_s": args.deadline,
                           "overrides": overrides, "rate": rate, "tasks": len(schedule.tasks)},
              "baseline_s": round(baseline_s, 1), "sweep_s": round(sweep_s, 1), "stopped": stopped,
              "peak_gpu_memory_mib": peak_mib,
              "cells_done": len(cell_s), "cells": len(states), "cell_seconds": round(sum(cell_s), 1),
              "projected": {k: round(v, 3) for k, v in projected.items()},
              "sweep_over_projected": round(sweep_s / projected["sweep_s"], 3) if projected["sweep_s"] else None,
              "stages": stages}
    print(f"baseline {baseline_s:.0f} s (projected {projected['baseline_s']:.0f}); sweep of {len(states)} cells with "
          f"{workers} workers{' through MPS' if args.mps else ''}{', compiled' if args.compile else ''}: "
          f"{sweep_s:.0f} s{' (stopped: ' + str(len(cell_s)) + ' cells done)' if stopped else ''}, "
          f"projected {projected['sweep_s']:.0f} s" + (f"; at most {peak_mib:,} MiB of GPU memory in use" if peak_mib else ""))
    for row in stages:
        print(f"  {row['stage']:<28} {row['measured_s']:>9,.1f} worker-s, projected {row['projected_s']:>9,.1f}"
              + (f" ({row['measured_over_projected']:.2f}x)" if row["measured_over_projected"] else ""))
    out = write_measurement(args.out, "sweep-timed", "random pixels in CIFAR-10's on-disk format", "paper",
                            time.time() - started, result, gpu=torch.cuda.get_device_name(0) if cuda else None)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
