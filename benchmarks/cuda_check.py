"""One short run of the whole pipeline on a CUDA GPU: does it run there, and how fast is it?

Checks, in order, each timed and written to one JSON file:

1. the split is exact on the GPU at full width (every split point, max |difference|);
2. ``data_path``: training images/s of the full-width network (the paper preset's) on synthetic
   CIFAR-shaped data written in CIFAR-10's real on-disk format, on the old path (PIL transforms in 8
   loader processes, float32) against the new one (:mod:`coinfer.tensor_data`: images on the device,
   augmented there, bf16 autocast where the GPU has it natively, else float32, channels_last; its
   parts one at a time (resident float32, then channels_last, then bf16 alone); again with cuDNN's
   autotuner on; and with ``torch.compile`` when ``--compile``, by default and with CUDA graphs);
   ``estimate``: the paper preset's sweep in GPU-hours (one and three seeds) at each of those rates;
3. ``paper_cell``: one paper-preset sweep cell end to end (``framework`` at layer2.1, sparsity 0.5,
   code d16-l4) on the synthetic CIFAR-10, with one epoch per stage: baseline, pruning fine-tune,
   codec warm-up and training, evaluation; the per-stage times scale to the real epoch counts;
4. ``shares`` and ``together``: ``benchmarks/plan_shares.py`` (the sweep plan's cost shares, measured
   on the device) and ``benchmarks/codecs_together.py`` (the paper preset's codes of one split point
   trained together against one by one), their JSON reports folded in;
   ``kept``: ``benchmarks/kept_channels.py``, the paper preset's pruning fine-tunes masked at full
   width against on the kept channels only (compressed schedule, 200 steps of batch 128);
   ``concurrency``: ``benchmarks/gpu_concurrency.py``, 1, 2, 4, 8 and 16 trainings at once on the one GPU
   (``sweep --workers N``), their images/s together against one alone; ``codec_concurrency``: 1, 8
   and 16 with each process training one split point's codes together (``--work codecs``);
   ``compiled_concurrency``: 1, 8 and 16 with every network compiled as ``COINFER_COMPILE=1`` trains
   it (CUDA graphs), against one uncompiled process; ``compiled_agreement``: one training eager and
   compiled from the same weights on the same batches (losses, weights); ``paper_cell_compiled``: the
   paper cell with ``COINFER_COMPILE=1``; ``compiled_memory``: the GPU memory reserved after each of
   four compiled trainings in one process, as a sweep worker runs its cells (does it grow?);
   ``kept_concurrency``: pruning fine-tunes 1 and 8 at once, masked and on the kept channels;
   ``mps_concurrency``: 1, 8 and 16 whole networks (eager and compiled) and codec trainings at once
   through CUDA's Multi-Process Service, whose daemon the check starts and stops;
   ``codec_steps`` and ``codec_steps_bottlenet``: ``benchmarks/codec_steps.py``, the codec epochs of
   every split point as a sweep cell trains them, one-time work taken out (two runs that differ only in
   their quantized epochs), against the plan's price at the data path's rate (``codec_step``: the
   projection's codec steps, most of the sweep, were priced and never timed);
   ``sweep_timed``: ``benchmarks/sweep_timed.py``, one seed of the paper sweep end to end with 16
   workers through MPS, every network compiled, at a tenth of the epochs, beside the plan's price
   of that run (how far the projection is off, and stage by stage where); ``codec_steps_compiled``:
   the same codec epochs at ``layer2.1`` with the codecs compiled as ``COINFER_COMPILE=all`` trains
   them, a candidate (``codec_compile``: eager over compiled, not yet in the projection);
   ``paper_smoke``: ``tests/test_paper_smoke.py``'s end-to-end test on the GPU (every command of the
   README's paper section at smoke scale, every method on the whole GPU path, bf16 included);
   ``together_bottlenet`` and ``kept_two_step``: the same two benchmarks for BottleNet++'s reductions
   and 2-Step Pruning's first step (100 steps); ``together_compiled``: the codes of one split point
   (layer2.1) with the frozen parts compiled (``COINFER_COMPILE=frozen``: CUDA graphs), against
   folded alone (``--compiled-only``: the runs ``together`` timed are not repeated);
5. (``--quick``) the quick preset end to end on the GPU: baseline, one pruning and one encoder
   configuration, beside the CPU-trained committed numbers;
6. (``--throughput-dataset D``) the old measurement: the float32 loader path on a real dataset.

Its ``factors`` sum up the savings it measured (``measured_factors``). Command (on a GPU machine,
offline is fine: nothing is downloaded; commit the report, which book/paper_scale.md reads)::

    python benchmarks/cuda_check.py --out data/results/benchmarks/cuda_check_gpu.json

(On a machine without network and without coinfer's other needs, carry the wheels that
``tools/device_wheels.sh`` downloads; its header gives the command.)

A device call has minutes: the report is written after each check, so a call stopped at its limit
keeps what finished, and ``--resume REPORT`` runs only the checks that report lacks or that failed
there (on the same GPU), writing the two together to ``--out``; ``--rerun CHECK ...`` runs some of
its checks again as well (the earlier result moves to the report's ``superseded`` once the new one
is in; a rerun that fails keeps it, its error under ``failed_reruns``). A call names the commit it
runs (the machine's copy keeps the session's first commit as its git metadata,
:data:`coinfer.results_origin.COMMIT_ENV`)::

    COINFER_COMMIT=<40-digit commit> python benchmarks/cuda_check.py \
        --resume data/results/benchmarks/cuda_check_gpu.json --out $OUT/cuda_check_gpu.json

The committed H200 report has every check but ``codec_steps``, ``codec_steps_bottlenet``,
``sweep_timed`` and ``codec_steps_compiled``, which the next GPU session runs (one call: about 2
minutes, then the sweep, stopped at 300 s if the projection is far off: the first three under 9
minutes; the same command again runs the fourth, a few minutes with its compiling). Its one codec
training process, timed end to end (building and evaluating the codecs included, and reading every
code's symbols back from the GPU twice a step, which coinfer no longer does), ran at 0.31 times
the speed the plan prices; were every framework codec step that slow, the projected 2.5 GPU-hours
would be 5.5: the two new checks decide which. Through CUDA MPS 8 whole networks trained at 53k
images/s together (60k compiled), against 33k (40k) taking turns without it, and 16 codec trainings
at 7.0x one alone; 16 whole networks gained nothing over 8. Without MPS 16 codec trainings at once
were not measured (1 to 16 outran a 600-s call; ``--rerun codec_concurrency`` measures 1, 8 and 16).

A check whose measurement changed runs again with ``--rerun``, e.g.::

    python benchmarks/cuda_check.py --resume data/results/benchmarks/cuda_check_gpu.json \
        --rerun data_path --compile --out $OUT/cuda_check_gpu.json

(``--compile`` adds the compiled training step, by default and with CUDA graphs, to the data path
check: about a minute of compiling.)

Without CUDA it runs the same checks on the CPU for a few steps (``--steps 3``, the cell with
``COINFER_SMOKE=1``, ``together_compiled`` with ``--compile-backend aot_eager``): a dry run of the
script itself, whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def add_compile_backend(parser: argparse.ArgumentParser, flag: str = "--compile") -> None:
    """The ``--compile-backend`` option of a benchmark that compiles with ``flag``."""
    from coinfer.tensor_data import COMPILE_BACKENDS

    parser.add_argument("--compile-backend", choices=COMPILE_BACKENDS, default=COMPILE_BACKENDS[0],
                        help=f"torch.compile's backend with {flag} (aot_eager: no kernels generated; the device "
                             "check's CPU dry run, which checks the script, not the compiler)")


def timed(fn, *args, **kwargs):
    sync()
    start = time.time()
    result = fn(*args, **kwargs)
    sync()
    return result, time.time() - start


def write_synthetic_cifar10(root: Path, train_images: int, test_images: int) -> Path:
    """Random pixels and labels in CIFAR-10's on-disk format (``cifar-10-batches-py``), loaded with
    ``COINFER_TRUST_LOCAL_DATA=1``: the real loaders and transforms, no download."""
    from coinfer.data import CLASS_NAMES

    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    # Five training batch files as CIFAR-10's, the first ones an image larger where 5 does not divide the count.
    sizes = [train_images // 5 + (i < train_images % 5) for i in range(5)]
    for name, n in [(f"data_batch_{i + 1}", n) for i, n in enumerate(sizes)] + [("test_batch", test_images)]:
        batch = {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, size=n).tolist(), "batch_label": name,
                 "filenames": [f"{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CLASS_NAMES["cifar10"])}, f, protocol=2)
    return root


def _rate(model, batches, steps: int, device, autocast=None, warmup: int = 5) -> float:
    """Training images/s over ``steps`` steps after ``warmup`` (cuDNN autotuning, allocator, compile)."""
    from coinfer.units import is_count

    if not (is_count(steps) and is_count(warmup, 0)):   # it returns at step warmup + steps: never, for fewer
        raise ValueError(f"steps must be an integer >= 1 and warmup one >= 0, got steps={steps!r}, warmup={warmup!r}")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    seen, start, step = 0, None, 0
    while True:
        for x, y in batches:
            if step == warmup:
                sync()
                start, seen = time.time(), 0
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
            step += 1
            if step == warmup + steps:
                sync()
                return seen / (time.time() - start)


def data_path_rates(device: torch.device, root: Path, steps: int, batch_size: int, compile_: bool) -> dict:
    """Full-width training images/s: the old data path against the new one, same data, same network."""
    from dataclasses import replace

    from coinfer.core.network import resnet18
    from coinfer.data import ValidationSplit, load_split, make_loader
    from coinfer.tensor_data import DataPath, training_batches

    data = load_split("cifar10", "train", ValidationSplit(images=100), root=root, augment=True, trust=True)
    out = {"device": str(device), "batch_size": batch_size, "steps": steps, "train_images": len(data)}
    torch.manual_seed(0)
    old = make_loader(data, batch_size, shuffle=True, num_workers=min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    out["old_float32_loader_images_per_s"] = round(_rate(resnet18(width=1.0).to(device), old, steps, device), 1)
    # The precision the sweep trains in on this GPU: bf16 where it is native, float32 on an older one
    # (the CPU dry run rehearses bf16, an H100-class GPU's).
    autocast = DataPath.for_device(device if device.type == "cuda" else "cuda").autocast
    out["autocast"] = autocast or "float32"
    paths = {"new_images_per_s": DataPath(resident=True, autocast=autocast, channels_last=True)}
    if compile_:
        # inductor's default mode (generated kernels, no CUDA graphs), compiled below; DataPath's own
        # compile (CUDA graphs on CUDA) is new_cuda_graphs_images_per_s, after the loop
        paths["new_compiled_images_per_s"] = paths["new_images_per_s"]
    # Its parts one at a time, to say which costs or saves what (the first H200 run had the whole path at 0.87x
    # the loader path at batch 128): the images on the device alone, then channels_last, then bf16.
    paths["resident_float32_images_per_s"] = DataPath(resident=True)
    paths["resident_float32_channels_last_images_per_s"] = DataPath(resident=True, channels_last=True)
    if autocast:
        paths["resident_bf16_images_per_s"] = DataPath(resident=True, autocast=autocast)
    # The new path once more with cuDNN's autotuner on (torch.backends.cudnn.benchmark, off by default
    # and in coinfer): whether the GPU path should turn it on (it may pick other algorithms per run).
    paths["new_cudnn_benchmark_images_per_s"] = paths["new_images_per_s"]
    autotune = torch.backends.cudnn.benchmark
    for name, path in paths.items():
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = name == "new_cudnn_benchmark_images_per_s"
        net = resnet18(width=1.0).to(device)
        batches = training_batches(data, batch_size, 0, device, path)
        try:
            default_mode = name == "new_compiled_images_per_s"
            model = torch.compile(path.prepare(net)) if default_mode else path.prepare(net)
            out[name] = round(_rate(model, batches, steps, device, path.dtype, warmup=30 if default_mode else 5), 1)
        finally:
            torch.backends.cudnn.benchmark = autotune
    if compile_ and device.type == "cuda":
        # The whole training step in CUDA graphs (torch.compile's mode="reduce-overhead"), as
        # DataPath(compile=True) trains on CUDA (COINFER_COMPILE=1): where a step waits on kernel launches.
        path = replace(paths["new_images_per_s"], compile=True)
        torch.manual_seed(0)
        try:
            graphs = path.prepare(resnet18(width=1.0).to(device))
            out["new_cuda_graphs_images_per_s"] = round(_rate(graphs, training_batches(data, batch_size, 0, device, path),
                                                              steps, device, path.dtype, warmup=30), 1)
        except Exception as error:         # the other rates stand without it
            out["cuda_graphs_error"] = f"{type(error).__name__}: {error}"[:2000]
    out["speedup"] = round(out["new_images_per_s"] / out["old_float32_loader_images_per_s"], 2)
    out["cudnn_benchmark_speedup"] = round(out["new_cudnn_benchmark_images_per_s"] / out["new_images_per_s"], 2)
    out["over_old_path"] = {name: round(out[name] / out["old_float32_loader_images_per_s"], 2)
                            for name in paths if name.startswith("resident_")}
    out["decided_for_this_device"] = DataPath.for_device(device).__dict__
    return out


def sweep_estimate(rates: dict) -> dict:
    """The paper preset's sweep in GPU-hours (``python -m coinfer plan``) at each measured rate of the
    ``data_path`` check: what item 5 of issue 17 asks for, straight from the measurement."""
    from coinfer.config import PRESETS
    from coinfer.experiments.plan import plan_summary, sweep_plan

    # The preset as defined, never scaled down (the CPU dry run sets COINFER_SMOKE for its cell).
    plans = {seeds: sweep_plan(PRESETS["paper"], seeds=seeds) for seeds in (1, 3)}
    return {name: {"images_per_s": rate, **{f"gpu_hours_{seeds}_seeds": round(plan_summary(steps, rate)["gpu_hours"], 2)
                                            for seeds, steps in plans.items()}}
            for name, rate in rates.items() if name.endswith("images_per_s") and rate > 0}


def paper_cell(device: torch.device, home: Path) -> dict:
    """One paper-preset framework cell end to end with one epoch per stage, timed per stage."""
    os.environ["COINFER_HOME"] = str(home)                 # its checkpoints and tables stay in the scratch folder
    from coinfer.config import get_preset
    from coinfer.experiments.sweep import cells, run
    from coinfer.train import get_baseline

    one_epoch = {"baseline.epochs": 1, "pruning.epochs": 1, "encoding.warmup_epochs": 1, "encoding.epochs": 1}
    if device.type == "cuda":
        preset = get_preset("paper", **one_epoch, **{"sweep.framework_splits": ("layer2.1",),
                                                    "sweep.sparsities": (0.5,), "sweep.code_sizes": ("d16-l4",)})
    else:                                                   # the dry run: COINFER_SMOKE's handful of steps
        preset = get_preset("paper", **{"sweep.framework_splits": ("layer2.1",), "sweep.sparsities": (0.5,)})
    (_, meta), baseline_s = timed(get_baseline, preset)
    cell = next(c for c in cells(preset) if c.method == "framework")
    _, cell_s = timed(run, preset, only=[cell.id], device=device, progress=False, log=lambda *a: None)
    record = json.loads(next((home / "data" / "results" / "cells").rglob(f"{cell.id}.json")).read_text())
    return {"cell": cell.id, "baseline_epochs": preset.baseline.epochs, "baseline_s": round(baseline_s, 1),
            "baseline_data_path": meta.get("data_path"), "cell_s": round(cell_s, 1),
            "pruning_epochs": preset.pruning.epochs,
            "codec_epochs": preset.encoding.warmup_epochs + preset.encoding.epochs,
            "accuracy": record["record"]["accuracy"], "bits_per_image": record["record"]["bits_per_image"],
            "note": "synthetic data: accuracies mean nothing; times scale with the epochs"}


def paper_cell_compiled(device: torch.device, home: Path) -> dict:
    """:func:`paper_cell` with ``COINFER_COMPILE=1`` in a home of its own (its baseline trains again):
    the baseline and the masked pruning fine-tune compiled, the codecs' frozen parts too."""
    os.environ["COINFER_COMPILE"] = "1"
    try:
        return paper_cell(device, home)
    finally:
        del os.environ["COINFER_COMPILE"]


def _short_training(path, data, batch_size: int, seed: int, steps: int, device: torch.device, width: float):
    """A fresh network of ``width`` (seeded by the caller), the first ``steps`` batches of ``data`` on
    ``path`` (batch order ``seed``) and the SGD the rates above train with: one short training's parts."""
    import itertools

    from coinfer.core.network import resnet18
    from coinfer.tensor_data import training_batches

    net = resnet18(width=width).to(device)
    batches = list(itertools.islice(iter(training_batches(data, batch_size, seed, device, path)), steps))
    return net, batches, torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)


def compiled_agreement(device: torch.device, root: Path, batch_size: int, steps: int, backend: str) -> dict:
    """The same training eager and compiled as ``COINFER_COMPILE=1`` trains (CUDA graphs on CUDA):
    :func:`coinfer.train.fit` from the same weights over the same ``steps`` batches (not augmented),
    on the device's data path. The first step's loss (the same function: it differs by rounding
    only) and the largest weight difference after it; then the mean loss of the other steps, over
    which bf16 rounding differences grow as training does (random labels, a large learning rate)."""
    from dataclasses import replace

    from coinfer.data import ValidationSplit, load_split
    from coinfer.tensor_data import DataPath
    from coinfer.train import fit

    data = load_split("cifar10", "train", ValidationSplit(images=100), root=root, augment=False, trust=True)
    eager = DataPath.for_device(device)
    out, weights = {"steps": steps, "batch_size": batch_size, "autocast": eager.autocast}, {}
    for name, path in {"eager": eager, "compiled": replace(eager, compile=True, compile_backend=backend)}.items():
        torch.manual_seed(0)
        net, batches, optimizer = _short_training(path, data, batch_size, 0, steps, device,
                                                  1.0 if device.type == "cuda" else 0.125)
        trained = path.prepare(net)
        out[f"{name}_first_loss"] = fit(trained, batches[:1], optimizer=optimizer, epochs=1, device=device,
                                        autocast=path.dtype, progress=False)[0]
        weights[name] = torch.cat([p.detach().float().flatten().cpu() for p in net.parameters()])
        out[f"{name}_later_loss"] = fit(trained, batches[1:], optimizer=optimizer, epochs=1, device=device,
                                        autocast=path.dtype, progress=False)[0]
    out["first_loss_difference"] = abs(out["eager_first_loss"] - out["compiled_first_loss"])
    out["max_weight_difference_after_first_step"] = float((weights["eager"] - weights["compiled"]).abs().max())
    out["later_loss_difference"] = abs(out["eager_later_loss"] - out["compiled_later_loss"])
    return out


def compiled_memory(device: torch.device, root: Path, batch_size: int, trainings: int = 4, steps: int = 20) -> dict:
    """GPU memory across several compiled trainings in one process, as a sweep worker runs its cells
    one after another with ``COINFER_COMPILE=1``: each a new full-width network compiled in CUDA graphs
    (from the compile cache after the first), ``steps`` steps, then dropped. Whether the memory the
    graphs hold is given back (flat) or grows with every training (it would run a long sweep out)."""
    import gc
    from dataclasses import replace

    from coinfer.data import ValidationSplit, load_split
    from coinfer.tensor_data import DataPath
    from coinfer.train import fit

    data = load_split("cifar10", "train", ValidationSplit(images=100), root=root, augment=True, trust=True)
    path = replace(DataPath.for_device(device), compile=True)
    reserved, seconds = [], []
    for i in range(trainings):
        start = time.time()
        net, batches, optimizer = _short_training(path, data, batch_size, i, steps, device, 1.0)
        fit(path.prepare(net), batches, optimizer=optimizer, epochs=1, device=device, autocast=path.dtype,
            progress=False)
        del net, optimizer, batches
        gc.collect()
        sync()
        seconds.append(round(time.time() - start, 1))
        reserved.append(round(torch.cuda.memory_reserved(device) / 2**30, 3))
    return {"trainings": trainings, "steps": steps, "batch_size": batch_size, "seconds": seconds,
            "reserved_gib_after_each": reserved, "max_allocated_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 3)}


def split_exactness(device: torch.device) -> dict:
    from coinfer.core.network import SPLIT_POINTS, resnet18, split

    torch.manual_seed(0)
    net = resnet18(width=1.0).to(device).eval()
    x = torch.randn(8, 3, 32, 32, device=device)
    with torch.no_grad():
        full = net(x)
        diffs = {p: float((split(net, p)[1](split(net, p)[0](x)) - full).abs().max()) for p in SPLIT_POINTS}
    return {"max_abs_difference": max(diffs.values()), "per_split": diffs}


def throughput(device: torch.device, dataset: str, steps: int) -> dict:
    """The first measurement (2026-11-28: 9,128 images/s on Fashion-MNIST, the plan's rate until a
    device report replaced it): the float32 loader path on a real dataset, and the paper baseline's
    minutes at that rate on the images it trains on (the training split less the paper preset's
    validation images)."""
    from coinfer.data import load_split, make_loader
    from coinfer.core.network import resnet18
    from coinfer.config import get_preset

    paper = get_preset("paper")
    net = resnet18(width=paper.width).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    train = load_split(dataset, "train", paper.validation, augment=True, limit=paper.baseline.train_limit)
    loader = make_loader(train, paper.baseline.batch_size, shuffle=True, num_workers=8)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen, start = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 5:  # after warm-up (cuDNN autotuning, allocator)
            sync()
            start, seen = time.time(), 0
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if step == steps + 5:
            break
    sync()
    ips = seen / (time.time() - start)
    return {"dataset": dataset, "width": paper.width, "batch_size": paper.baseline.batch_size, "steps": steps,
            "train_images_per_s": round(ips, 1), "train_images": len(train),
            "paper_baseline_estimate_min": round(paper.baseline.epochs * len(train) / ips / 60, 1),
            "paper_epochs": paper.baseline.epochs}


def benchmark(script: str, work: Path, *args: str, env: dict | None = None) -> dict:
    """Run ``benchmarks/<script>`` with ``args`` in a child process (``env``: variables to add); its
    JSON report."""
    out = work / f"{Path(script).stem}.json"
    here = Path(__file__).resolve().parent
    # Its own small settings, not COINFER_SMOKE's (set for the CPU dry run's cell above).
    env = {**{k: v for k, v in os.environ.items() if k != "COINFER_SMOKE"}, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(here.parent), os.environ.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, str(here / script), *args, "--out", str(out)], check=True, env=env)
    return json.loads(out.read_text())


def kept_concurrency(work: Path, device: torch.device) -> dict:
    """Pruning fine-tunes several at once (``gpu_concurrency.py --work prune``), masked at full width
    and on the kept channels: whether the kept channels' saved arithmetic counts once workers saturate
    the GPU (alone, on the H200, they were slower). ``kept_over_masked``: kept images/s over masked, by
    process count."""
    cuda = device.type == "cuda"
    counts = ["--processes", "1", "8"] if cuda else ["--processes", "2", "--steps", "2", "--interval", "1"]
    runs = {kind: benchmark("gpu_concurrency.py", work, "--device", device.type, "--work", "prune",
                            *(["--kept"] if kind == "kept" else []), *counts) for kind in ("masked", "kept")}
    ratio = {str(m["processes"]): k["images_per_s"] / m["images_per_s"]
             for m, k in zip(runs["masked"]["rows"], runs["kept"]["rows"])}
    return {**runs, "kept_over_masked": ratio}


@contextlib.contextmanager
def mps_daemon(work: Path, control: str | None = None):
    """CUDA's Multi-Process Service for the processes started inside: yields the variables
    (``CUDA_MPS_PIPE_DIRECTORY``, ``CUDA_MPS_LOG_DIRECTORY``) that make a child one of its clients.

    The daemon (``control``, default ``nvidia-cuda-mps-control`` on the PATH) is started with its pipe
    and log folders under ``work`` and told to quit afterwards whatever happened: the GPU's own
    settings (compute mode, MIG) are left as they are. A user runs the sweep so by starting the daemon
    first (``nvidia-cuda-mps-control -d``; ``echo quit | nvidia-cuda-mps-control`` ends it)."""
    import shutil

    control = control or shutil.which("nvidia-cuda-mps-control")
    if control is None:
        raise RuntimeError("nvidia-cuda-mps-control is not on the PATH: this machine cannot run CUDA MPS")
    folders = {"CUDA_MPS_PIPE_DIRECTORY": work / "mps-pipe", "CUDA_MPS_LOG_DIRECTORY": work / "mps-log"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    env = {name: str(folder) for name, folder in folders.items()}
    subprocess.run([control, "-d"], env={**os.environ, **env}, stdin=subprocess.DEVNULL, check=True, timeout=60)
    try:
        yield {**env, "control": control}
    finally:
        subprocess.run([control], input="quit\n", text=True, env={**os.environ, **env}, timeout=60)


def mps_concurrency(work: Path, device: torch.device, control: str | None = None, counts: tuple[str, ...] = ("1", "8", "16"),
                    compile_backend: str = "inductor") -> dict:
    """Several trainings at once through CUDA's Multi-Process Service (:func:`mps_daemon`): whole
    networks (eager and compiled, ``gpu_concurrency.py`` and ``--compile``) and codec trainings
    (``--work codecs``), each at ``counts`` processes. Without it the processes of ``sweep --workers
    N`` take turns on the GPU, so many small kernels leave it idle however many run; with it their
    kernels share the GPU at once."""
    with mps_daemon(work, control) as daemon:
        env = {k: v for k, v in daemon.items() if k != "control"}
        at_once = ["--device", device.type, "--processes", *counts]
        runs = {"eager": benchmark("gpu_concurrency.py", work, *at_once, env=env),
                "compiled": benchmark("gpu_concurrency.py", work, *at_once, "--compile",
                                      "--compile-backend", compile_backend, env=env),
                "codecs": benchmark("gpu_concurrency.py", work, *at_once, "--work", "codecs", env=env)}
    return {**runs, "control": daemon["control"]}


def paper_smoke(cuda: bool) -> dict:
    """``tests/test_paper_smoke.py``'s end-to-end test: every command of the README's paper section at
    smoke scale, which on a GPU runs there on the whole GPU path (bf16 included), so that every method's
    code has run on CUDA before a reader's sweep does. The CPU dry run only checks that the selection
    names the one test (``make test`` runs it on the CPU)."""
    root = Path(__file__).resolve().parents[1]
    # Never a run kept by COINFER_SMOKE_KEEP: this check is the GPU's own run.
    env = {k: v for k, v in os.environ.items()
           if k not in ("COINFER_SMOKE", "COINFER_HOME", "COINFER_DATA", "COINFER_SMOKE_KEEP")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_paper_smoke.py", "-k", "end_to_end",
               "-s", "-q", *([] if cuda else ["--collect-only"])]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    if done.returncode:
        # Without the progress bars, whose redraws filled the first GPU run's 4,000 characters.
        quiet = "\n".join(line for line in output.splitlines() if line.strip() and not re.search(r"\d%\|", line))
        raise RuntimeError(f"{' '.join(command[2:])} exited {done.returncode}:\n{quiet[-4000:]}")
    if not cuda:
        selected = [line for line in output.splitlines() if "::test_" in line]
        if len(selected) != 1:
            raise RuntimeError(f"the selection should name one test, not {len(selected)}:\n{output[-4000:]}")
        return {"ran": False, "test": selected[0].strip()}
    # The test prints each command's seconds: "   12.3 s  python -m coinfer run pruning ...".
    seconds = {line.split(" s  python -m coinfer ", 1)[1]: float(line.split()[0])
               for line in output.splitlines() if " s  python -m coinfer " in line}
    if not seconds:
        raise RuntimeError(f"the smoke test printed no command times:\n{output[-4000:]}")
    return {"ran": True, "command_seconds": seconds, "total_s": round(sum(seconds.values()), 1)}


def measured_factors(report: dict) -> dict:
    """One factor per saving that book/paper_scale.md's table lists, each the ratio of two times
    measured on this device by one of the checks: the new data path over the old (``data_path``),
    codes trained together over one by one, one stacked server pass over one per code, folded batch
    norms over unfolded (``together``), fine-tunes on the kept channels over masked (``kept``), N
    trainings at once over one alone (``concurrency_N``, one alone being the faster of the concurrency
    check's one process and the data path check's new path; ``codec_concurrency_N`` for one split
    point's codes trained together), BottleNet++'s reductions together over one
    by one, stacked and folded (``together_bottlenet``, ``stack_bottlenet``, ``fold_bottlenet``), 2-Step Pruning's first step on the kept channels over masked
    (``kept_two_step``), the frozen parts compiled over not (``compile_frozen``, compilation aside) and
    N compiled trainings at once over one uncompiled alone (``compiled_concurrency_N``; one alone,
    ``compile``, from the data path check's CUDA graphs) and N pruning fine-tunes at once on the kept
    channels over N masked (``kept_concurrency_N``); the same three through CUDA MPS
    (``mps_concurrency_N``, ``mps_compiled_concurrency_N``, ``mps_codec_concurrency_N``).
    A check that failed or did not run, or a ratio it could not form, leaves its factor out."""
    def value(check: str, key: str):
        found = report.get(check)
        return found.get(key) if isinstance(found, dict) else None

    def one(rows: list) -> list:
        """The one-process rate among a concurrency check's ``rows``."""
        return [row.get("images_per_s") for row in rows if row.get("processes") == 1]

    def fastest(*rates):
        return max((r for r in rates if isinstance(r, (int, float)) and r > 0), default=None)

    factors = {"data_path": value("data_path", "speedup"), "together": value("together", "factor"),
               "stack": value("together", "stack_factor"), "fold": value("together", "fold_factor"),
               "kept": value("kept", "factor"), "together_bottlenet": value("together_bottlenet", "factor"),
               "stack_bottlenet": value("together_bottlenet", "stack_factor"),
               "fold_bottlenet": value("together_bottlenet", "fold_factor"),
               "kept_two_step": value("kept_two_step", "factor"),
               "compile_frozen": value("together_compiled", "compile_factor")}
    # One training compiled (CUDA graphs) over one uncompiled, both on the new path in one process.
    graphs, new = value("data_path", "new_cuda_graphs_images_per_s"), value("data_path", "new_images_per_s")
    factors["compile"] = graphs / new if isinstance(graphs, (int, float)) and isinstance(new, (int, float)) and new else None
    # N trainings at once (compiled or not) over one uncompiled alone, as the plan's rate is one
    # uncompiled process's. One alone is the faster of the two one-process rates the report measured
    # for the same training (the concurrency check's and the data path check's new path): on the H200
    # three runs of the concurrency check agreed on N at once (32.4k-33.0k images/s with 4 or more)
    # but not on one alone (8.9k-11.8k, against 13.1k in the data path check), and a slow one alone
    # would credit the workers with a gain that is only that run's slow start.
    # The data path check trains the full-width network; it counts only where the concurrency check
    # trained the same (the CPU dry run trains a narrower one).
    settings = value("concurrency", "settings") or {}
    same = settings.get("width") == 1.0 and settings.get("batch_size") == value("data_path", "batch_size")
    alone = fastest(value("data_path", "new_images_per_s") if same else None, *one(value("concurrency", "rows") or []))
    for check in ("concurrency", "compiled_concurrency"):
        for row in value(check, "rows") or []:
            if alone:
                factors[f"{check}_{row.get('processes')}"] = (row.get("images_per_s") or 0) / alone
    # Codec trainings have no second one-process rate: their own one alone.
    for row in value("codec_concurrency", "rows") or []:
        factors[f"codec_concurrency_{row['processes']}"] = row.get("over_one_process")
    # Through CUDA MPS (mps_concurrency): over the same one alone, or over MPS's own one process
    # where that was faster, so that MPS is credited only with what it adds to several at once.
    mps = report.get("mps_concurrency")
    if isinstance(mps, dict) and "error" not in mps:
        def rows(run):
            return (mps.get(run) or {}).get("rows") or []

        network_alone = fastest(alone, *one(rows("eager")))
        codec_alone = fastest(*one(value("codec_concurrency", "rows") or []), *one(rows("codecs")))
        for run, prefix, over in (("eager", "mps_concurrency", network_alone),
                                  ("compiled", "mps_compiled_concurrency", network_alone),
                                  ("codecs", "mps_codec_concurrency", codec_alone)):
            for row in rows(run):
                if over:
                    factors[f"{prefix}_{row.get('processes')}"] = (row.get("images_per_s") or 0) / over
    for processes, ratio in (value("kept_concurrency", "kept_over_masked") or {}).items():
        factors[f"kept_concurrency_{processes}"] = ratio
    # Codec epochs as a cell trains them (codec_steps): the plan's price at its rate (the new path's) over
    # the time measured, at the width it prices (the dry run's narrow network would compare nothing).
    for check, name in (("codec_steps", "codec_step"), ("codec_steps_bottlenet", "codec_step_bottlenet")):
        seconds, priced = value(check, "seconds_per_epoch"), value(check, "priced_images_per_epoch")
        if new and seconds and seconds > 0 and priced and (value(check, "settings") or {}).get("width") == 1.0:
            factors[name] = priced / new / seconds
    # The codecs compiled, at the split point both timed: eager seconds per epoch over compiled.
    eager, compiled = ({r.get("split"): r.get("seconds_per_epoch") for r in value(check, "rows") or []}
                       for check in ("codec_steps", "codec_steps_compiled"))
    both = [p for p in compiled if (eager.get(p) or 0) > 0 and (compiled[p] or 0) > 0]
    if both and (value("codec_steps_compiled", "settings") or {}).get("width") == 1.0:
        factors["codec_compile"] = sum(eager[p] for p in both) / sum(compiled[p] for p in both)
    return {name: round(f, 3) for name, f in factors.items() if isinstance(f, (int, float)) and f > 0}


def error_report(error: BaseException) -> dict:
    """What a failed check leaves in the JSON: the message and the whole traceback (the first GPU
    run kept only the message, which did not say where the CUDA tensor met numpy)."""
    return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def quick_pipeline(device: torch.device, workdir: Path) -> dict:
    """Baseline, pruning and encoding, each tried on its own so that one failure hides no other."""
    from coinfer.experiments.pruning import run as run_pruning
    from coinfer.experiments.encoding import get_encode_config, run as run_encoding
    from coinfer.config import get_preset
    from coinfer.train import get_baseline, load_checkpoint

    out: dict = {}
    preset = get_preset("quick")
    model = None
    try:
        (model, meta), seconds = timed(get_baseline, preset, checkpoints=workdir / "checkpoints", retrain=True)
        # The committed CPU-trained checkpoint of this checkout (not $COINFER_HOME's: the paper cell set it).
        committed = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "quick" / "baseline.pt"
        out["baseline"] = {"test_accuracy": meta["test_accuracy"], "seconds": round(seconds, 1),
                           "cpu_committed_accuracy": load_checkpoint(committed)[1]["test_accuracy"]}
    except Exception as error:
        out["baseline"] = error_report(error)
    try:
        if model is None:
            raise RuntimeError("no GPU-trained baseline (see 'baseline')")
        pruned_preset = get_preset("quick", pruning={"splits": ("layer2.1",), "sparsities": (0.5,), "control": False})
        table, seconds = timed(run_pruning, pruned_preset, checkpoints=workdir / "checkpoints", device=device,
                               save_checkpoints=False)
        out["prune"] = {"records": [(r.split, r.sparsity, r.accuracy, r.device_macs) for r in table.records],
                        "seconds": round(seconds, 1)}
    except Exception as error:
        out["prune"] = error_report(error)
    try:
        if model is None:
            raise RuntimeError("no GPU-trained baseline (see 'baseline')")
        config = get_encode_config("quick", splits=("layer3.1",), code_sizes=("d16-l4",),
                                   huffman_splits=("layer3.1",))
        table, seconds = timed(run_encoding, "quick", config, model=model, device=device, log=lambda *a: None)
        out["encode"] = {"records": [(r.method, r.split, r.code_size, r.accuracy, r.bits_per_image)
                                     for r in table.records], "seconds": round(seconds, 1)}
    except Exception as error:
        out["encode"] = error_report(error)
    return out


def resumed(path: str, report: dict) -> dict:
    """The checks of the earlier report at ``path`` that did not fail (and their times, their
    ``superseded`` results and ``resumed_from``: the provenance of the runs they came from), which
    must come from the same device and torch as ``report``: one report never mixes two machines. A
    failed check (``{"error": ...}``) is left out, so that it runs again. A check to run again
    (``--rerun``) keeps its earlier result until :func:`replaced` files it under ``superseded``: a
    call stopped during the rerun leaves a report that still has it."""
    earlier = json.loads(Path(path).read_text())
    for key in ("gpu", "device", "torch"):
        if earlier.get(key) != report[key]:
            raise SystemExit(f"--resume {path}: its {key} is {earlier.get(key)!r}, this run's {report[key]!r}; "
                             "resume a report only on the device that wrote it")
    checks = {k: v for k, v in earlier.items()
              if k not in report and k not in ("factors", "provenance", "superseded", "resumed_from", "failed_reruns")}
    failed = [k for k, v in checks.items() if isinstance(v, dict) and "error" in v]
    checks = {k: v for k, v in checks.items() if k not in failed and k.removesuffix("_seconds") not in failed}
    # Which runs the checks came from: the earlier report's own provenance after those it resumed.
    return {**checks, **({"superseded": earlier["superseded"]} if earlier.get("superseded") else {}),
            **({"failed_reruns": earlier["failed_reruns"]} if earlier.get("failed_reruns") else {}),
            "resumed_from": earlier.get("resumed_from", []) + [earlier.get("provenance")]}


def replaced(report: dict, name: str, result: dict, seconds: float | None) -> None:
    """Put a check's new ``result`` into ``report``: an earlier measurement of it moves to
    ``superseded`` (check name to its earlier results, oldest first), so that a reader sees how much
    two runs differ; a rerun that failed leaves the earlier measurement in place and its error under
    ``failed_reruns``, so that the report never loses a check it once measured."""
    earlier = report.get(name)
    measured_before = isinstance(earlier, dict) and "error" not in earlier
    if "error" in result and measured_before:
        report.setdefault("failed_reruns", {})[name] = result
        return
    if measured_before:
        report.setdefault("superseded", {}).setdefault(name, []).append(earlier)
    report[name] = result
    report.pop(name + "_seconds", None)
    if seconds is not None:
        report[name + "_seconds"] = round(seconds, 1)


def at_least(least: int):
    """An argparse type: an integer >= ``least``, else an error naming the value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}")
        return value
    return parse


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``, default ``sys.argv[1:]``), checked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/out/cuda_check.json")
    parser.add_argument("--steps", type=at_least(1), default=None,
                        help="timed training steps per path (default 100; 3 on a CPU)")
    parser.add_argument("--train-images", type=at_least(5), default=None,
                        help="synthetic training images, in 5 batch files (default 20,000; 200 on a CPU)")
    parser.add_argument("--compile", action="store_true", help="also time the new path with torch.compile")
    parser.add_argument("--skip-cell", action="store_true", help="no paper-preset cell")
    parser.add_argument("--skip-smoke", action="store_true", help="no paper-preset smoke run (tests/test_paper_smoke.py)")
    parser.add_argument("--quick", action="store_true", help="also run the quick preset end to end")
    parser.add_argument("--throughput-dataset", default=None, help="also time the old path on this real dataset")
    parser.add_argument("--resume", default=None, metavar="REPORT",
                        help="an earlier report of this script on the same device: run only the checks it lacks "
                             "or that failed there")
    parser.add_argument("--rerun", nargs="+", default=(), metavar="CHECK",
                        help="with --resume: run these checks again too (e.g. data_path, after it gained a part to "
                             "time); estimate follows data_path")
    args = parser.parse_args(argv)
    if args.rerun and not args.resume:
        parser.error("--rerun needs --resume REPORT: without one every check runs anyway")
    return args


def main() -> None:
    args = arguments()
    started = time.time()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    steps = args.steps if args.steps is not None else (100 if cuda else 3)
    train_images = args.train_images if args.train_images is not None else (20_000 if cuda else 200)
    work = Path(tempfile.mkdtemp(prefix="coinfer-cuda-"))
    data_root = write_synthetic_cifar10(work / "synthetic", train_images, 1000 if cuda else 40)
    os.environ["COINFER_TRUST_LOCAL_DATA"] = "1"
    os.environ["COINFER_OFFLINE"] = "1"
    os.environ["COINFER_DATA"] = str(data_root)
    if not cuda:
        os.environ["COINFER_SMOKE"] = "1"                   # the dry run: a handful of steps per stage
        torch.set_num_threads(1)
    report = {"gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
              "device": str(device), "date": time.strftime("%Y-%m-%d")}
    rerun = tuple(args.rerun) + (("estimate",) if "data_path" in args.rerun else ())
    earlier = resumed(args.resume, report) if args.resume else {}
    report.update(earlier)
    checks = [("split", lambda: split_exactness(device)),
              ("data_path", lambda: data_path_rates(device, data_root, steps, 128 if cuda else 16, args.compile))]
    checks.append(("estimate", lambda: sweep_estimate(report["data_path"])))
    if not args.skip_cell:
        checks.append(("paper_cell", lambda: paper_cell(device, work / "home")))
    small = [] if cuda else ["--reps", "1", "--batch-size", "4", "--width", "0.125"]
    checks.append(("shares", lambda: benchmark("plan_shares.py", work, "--device", device.type, *small,
                                               *(["--batch-size", "128"] if cuda else []))))
    checks.append(("together", lambda: benchmark("codecs_together.py", work, "--device", device.type,
                                                 *(["--images", "2000"] if cuda else
                                                   ["--images", "8", "--width", "0.125", "--splits", "layer3.1", "--epochs", "1"]))))
    checks.append(("kept", lambda: benchmark("kept_channels.py", work, "--device", device.type,
                                             *(["--batch-size", "128", "--steps", "200", "--interval", "20"] if cuda else
                                               ["--splits", "layer3.1", "--sparsities", "0.5", "--steps", "2",
                                                "--interval", "1", "--width", "0.125", "--batch-size", "4"]))))
    # Up to 16 at once (one per CPU core of the H200's machine). Whole networks gained nothing beyond 4
    # there (2.51x at 4, 8 and 16); codec trainings still gained from 4 to 8 (2.96x to 4.49x), and
    # compiled networks from 4 to 8 a little, so those two go to 16, skipping counts already measured
    # (1 to 16 codec trainings at once outran a 600-s device call).
    at_once = ["--processes", "1", "2", "4", "8", "16"] if cuda else ["--processes", "2"]
    checks.append(("concurrency", lambda: benchmark("gpu_concurrency.py", work, "--device", device.type, *at_once)))
    checks.append(("codec_concurrency", lambda: benchmark(
        "gpu_concurrency.py", work, "--device", device.type, "--work", "codecs",
        *(["--processes", "1", "8", "16"] if cuda else at_once))))
    # Every trained network compiled (COINFER_COMPILE=1; CUDA graphs on CUDA): N at once, against one
    # uncompiled alone (compiled_concurrency_N); the same training eager and compiled; one cell so.
    checks.append(("compiled_concurrency", lambda: benchmark(
        "gpu_concurrency.py", work, "--device", device.type, "--compile",
        *(["--processes", "1", "8", "16"] if cuda else ["--processes", "2", "--compile-backend", "aot_eager"]))))
    checks.append(("compiled_agreement", lambda: compiled_agreement(
        device, data_root, 128 if cuda else 8, 20 if cuda else 3, "inductor" if cuda else "aot_eager")))
    if cuda and not args.skip_cell:                         # inductor's CPU kernels take minutes to generate
        checks.append(("paper_cell_compiled", lambda: paper_cell_compiled(device, work / "home-compiled")))
    if cuda:                                                # CUDA graphs' memory: a GPU's question
        checks.append(("compiled_memory", lambda: compiled_memory(device, data_root, 128)))
    checks.append(("kept_concurrency", lambda: kept_concurrency(work, device)))
    if cuda:                                                # the daemon is CUDA's (its helper is tested on the CPU)
        checks.append(("mps_concurrency", lambda: mps_concurrency(work, device)))
    # Codec epochs as a sweep cell trains them, timed apart from each pass's one-time work, against their
    # price: the projection's codec steps (most of the sweep) were priced, never timed (codec_step).
    for name, method in (("codec_steps", "framework"), ("codec_steps_bottlenet", "bottlenet++")):
        checks.append((name, lambda method=method: benchmark(
            "codec_steps.py", work, "--device", device.type, "--method", method,
            *(["--images", "2000", "--epochs", "3"] if cuda else
              ["--images", "8", "--width", "0.125", "--splits", "layer3.1", "--epochs", "1"]))))
    if cuda:
        # The sweep itself, timed end to end as the best configuration measured on the H200 runs it
        # (16 workers through MPS, every network compiled), one seed at a tenth of the epochs, beside
        # the plan's price of that run from this report (written after every check, codec_steps' too).
        # A tenth, not a fifth: were the codec steps as slow as the one timed codec process implies,
        # a fifth would outrun the deadline, and the stages say where the time went either way.
        checks.append(("sweep_timed", lambda: benchmark(
            "sweep_timed.py", work, "--gpu-report", str(Path(args.out).resolve()), "--workers", "16", "--mps",
            "--compile", "--epoch-scale", "0.1", "--deadline", "300")))
    # A candidate, after what the projection stands on: the codec steps compiled (COINFER_COMPILE=all) at
    # one split point, against codec_steps' eager epochs there (codec_compile).
    checks.append(("codec_steps_compiled", lambda: benchmark(
        "codec_steps.py", work, "--device", device.type, "--compile", *(
            ["--images", "2000", "--epochs", "3", "--splits", "layer2.1"] if cuda else
            ["--images", "8", "--width", "0.125", "--splits", "layer3.1", "--epochs", "1", "--compile-backend",
             "aot_eager"]))))
    if not args.skip_smoke:
        checks.append(("paper_smoke", lambda: paper_smoke(cuda)))
    # Last, as they matter least: the savings the book's table measured only on the CPU so far.
    checks.append(("together_bottlenet", lambda: benchmark(
        "codecs_together.py", work, "--method", "bottlenet++", "--device", device.type,
        *(["--images", "2000"] if cuda else ["--images", "8", "--width", "0.125", "--splits", "layer3.1", "--epochs", "1"]))))
    checks.append(("kept_two_step", lambda: benchmark(
        "kept_channels.py", work, "--method", "2-step-pruning", "--step", "1", "--device", device.type,
        *(["--batch-size", "128", "--steps", "100", "--interval", "20"] if cuda else
          ["--sparsities", "0.25", "--steps", "2", "--interval", "1", "--width", "0.125", "--batch-size", "4"]))))
    checks.append(("together_compiled", lambda: benchmark(
        "codecs_together.py", work, "--compile", "--compiled-only", "--device", device.type,
        *(["--images", "2000", "--splits", "layer2.1"] if cuda else
          # the dry run checks the script: inductor's CPU kernels (a minute to generate) are not what a
          # GPU runs, and tests/test_codecs_together.py compiles the frozen parts with inductor anyway
          ["--images", "8", "--width", "0.125", "--splits", "layer3.1", "--epochs", "1",
           "--compile-backend", "aot_eager"]))))
    if args.quick and cuda:
        checks.append(("quick", lambda: quick_pipeline(device, work)))
    if args.throughput_dataset and cuda:
        checks.append(("throughput", lambda: throughput(device, args.throughput_dataset, steps)))

    unknown = sorted(set(rerun) - {name for name, _ in checks})
    if unknown:
        raise SystemExit(f"--rerun {' '.join(unknown)}: not a check of this run; its checks are "
                         + ", ".join(name for name, _ in checks))

    def save() -> None:
        report["factors"] = measured_factors(report)
        # The command, commit, hardware and date, as every committed measurement carries them.
        from dataclasses import asdict

        from coinfer.results import Provenance

        report["provenance"] = asdict(Provenance.collect("synthetic CIFAR-10 (random pixels, real on-disk format)",
                                                         "paper", time.time() - started))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))

    save()                                                  # sweep_timed prices its run with the report so far
    for name, check in checks:
        if name in earlier and name not in rerun:
            print(name, "(from", args.resume + ")", flush=True)
            continue
        try:
            result, seconds = timed(check)
        except Exception as error:  # report every check, even after one fails
            result, seconds = error_report(error), None
        replaced(report, name, result, seconds)
        print(name, json.dumps(result)[:2000], flush=True)
        save()
    save()


if __name__ == "__main__":
    main()
