"""How much does fine-tuning on the kept channels save? Pruning fine-tunes timed masked and kept.

A pruning fine-tune masks channels of the device part at full width
(:class:`coinfer.core.pruning.IncrementalPruner`); :class:`coinfer.core.kept_channels.KeptChannelsNetwork`
computes the same training on the kept channels only (``tests/test_kept_channels.py``), which the
GPU path does (:meth:`coinfer.tensor_data.DataPath.for_device`). This script runs the paper preset's
fine-tune (:func:`coinfer.experiments.pruning.prune_finetune`, its optimizer and sparsity schedule) at
each of its (split, sparsity) pairs, both ways on the same batches of random CIFAR-shaped images,
with the schedule compressed to ``--steps`` steps of ``--interval`` (the same cubic ramp over the
first 60% of the iterations), and sets the measured time ratio beside the sweep plan's
(:func:`coinfer.experiments.plan.fine_tune_share` for the same steps).

    python benchmarks/kept_channels.py                      # full width, batch 32, 20 steps of 2
    python benchmarks/kept_channels.py --splits layer3.1 --sparsities 0.5
    python benchmarks/kept_channels.py --device cuda --batch-size 128 --steps 200 --interval 20   # a GPU
    python benchmarks/kept_channels.py --method 2-step-pruning   # its first step: Taylor importance, whole network
    python benchmarks/kept_channels.py --method 2-step-pruning --step 2   # its second step: the sent channels

With ``--method 2-step-pruning`` it times 2-Step Pruning's first step instead (the whole network
pruned by Taylor importance on a linear ramp, :func:`coinfer.experiments.baselines.taylor_settings`,
at the paper grid's step-1 sparsities), whose importance the kept channels gather on the compacted
structure; with ``--step 2`` its second step (:func:`coinfer.experiments.baselines.two_step_step2`:
only the channels sent at each of the grid's split points Taylor-pruned to its step-2 sparsities, in
the network a first step compacted at each step-1 sparsity; the first steps run once beforehand,
untimed, on the same batches).

Prints a table and writes ``benchmarks/out/kept_channels.json`` (the book's page on the paper preset
reads the committed measurement, ``--out data/results/benchmarks/kept_channels_cpu.json``, with its
command and commit). Timings depend on the machine and its load (the two ways alternate, so that
both see the same load); nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import asdict, replace

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--splits", nargs="+", default=None, help="default: the paper preset's pruning splits")
    parser.add_argument("--sparsities", nargs="+", type=float, default=None,
                        help="default: the paper preset's pruning sparsities")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="training steps per fine-tune (default 20)")
    parser.add_argument("--interval", type=int, default=2, help="steps per pruning iteration (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (its data path: bf16, channels_last)")
    parser.add_argument("--method", choices=("framework", "2-step-pruning"), default="framework",
                        help="whose fine-tunes: the framework's (l2) or 2-Step Pruning's (Taylor)")
    parser.add_argument("--step", type=int, choices=(1, 2), default=1,
                        help="2-Step Pruning's first step (the whole network) or its second (the sent channels)")
    parser.add_argument("--out", default="benchmarks/out/kept_channels.json")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's, e.g. OMP_NUM_THREADS); recorded in the output")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    started = time.time()
    for name in ("batch_size", "steps", "interval"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.step == 2 and args.method != "2-step-pruning":
        raise SystemExit(f"--step 2 is 2-Step Pruning's second step: pass --method 2-step-pruning "
                         f"(got --method {args.method})")

    from coinfer.config import get_preset
    from coinfer.core.network import resnet18
    from coinfer.experiments.baselines import taylor_settings, two_step_step1, two_step_step2
    from coinfer.experiments.plan import fine_tune_share
    from coinfer.experiments.pruning import prune_finetune
    from coinfer.results import write_measurement
    from coinfer.tensor_data import DataPath
    from coinfer.train import progress_bars

    paper = get_preset("paper", **{"pruning.epochs": 1, "pruning.schedule.interval": args.interval})
    grid = paper.sweep
    if args.method == "framework":
        settings, splits, sparsities = paper.pruning, list(paper.pruning.splits), list(paper.pruning.sparsities)
    elif args.step == 1:
        settings, splits, sparsities = taylor_settings(paper.pruning), ["output"], list(grid.two_step_step1)
    else:
        settings, splits, sparsities = taylor_settings(paper.pruning), list(grid.two_step_splits), list(grid.two_step_step2)
    splits, sparsities = args.splits or splits, args.sparsities or sparsities
    # Step 2 fine-tunes what a first step left, at each of the grid's step-1 sparsities (0: the method's
    # own first step and the framework's fine-tunes, which start from the full network).
    step1s = list(grid.two_step_step1) if args.step == 2 else [0.0]
    device = torch.device(args.device)
    path = DataPath.for_device(device)
    paths = {"masked": replace(path, kept_channels=False, compile=False),
             "kept": replace(path, kept_channels=True, compile=False)}
    torch.manual_seed(0)
    net = resnet18(width=args.width).to(device)
    batches = [(torch.randn(args.batch_size, 3, 32, 32, device=device),
                torch.randint(0, 10, (args.batch_size,), device=device)) for _ in range(args.steps)]

    with progress_bars(False):
        first_steps = {s1: two_step_step1(net, s1, paper.pruning, batches, device, path=paths["kept"])
                       for s1 in step1s if s1 > 0}

    def fine_tune(kind: str, point: str, sparsity: float, step1: float, steps: list) -> float:
        torch.manual_seed(1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with progress_bars(False):
            if step1 > 0:
                two_step_step2(first_steps[step1], point, sparsity, paper.pruning, steps, device, path=paths[kind])
            else:
                prune_finetune(copy.deepcopy(net), point, sparsity, settings, steps, device, path=paths[kind])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def share(point: str, sparsity: float, step1: float, kept: bool) -> float:
        if step1 > 0:                                   # the sent channels only, of step 1's network
            return fine_tune_share(replace(settings, output_sparsity=sparsity), args.width, point, 0.0, args.steps,
                                   kept, step1=step1)
        return fine_tune_share(settings, args.width, point, sparsity, args.steps, kept)

    for kind in paths:                                  # first calls: allocations, kernel choices
        fine_tune(kind, splits[0], sparsities[0], step1s[0], batches[:2])
    rows = []
    print(f"{'step 1':>6} {'split':<9} {'sparsity':>8} {'masked s':>9} {'kept s':>8} {'factor':>7} {'plan':>6}")
    for step1 in step1s:
        for point in splits:
            for sparsity in sparsities:
                seconds = {kind: fine_tune(kind, point, sparsity, step1, batches) for kind in paths}
                planned = share(point, sparsity, step1, False) / share(point, sparsity, step1, True)
                rows.append({"split": point, "sparsity": sparsity, "step1_sparsity": step1,
                             "masked_s": round(seconds["masked"], 3), "kept_s": round(seconds["kept"], 3),
                             "factor": round(seconds["masked"] / seconds["kept"], 3), "planned_factor": round(planned, 3)})
                print(f"{step1:>6g} {point:<9} {sparsity:>8g} {seconds['masked']:>9.2f} {seconds['kept']:>8.2f} "
                      f"{rows[-1]['factor']:>7.2f} {planned:>6.2f}", flush=True)
    masked, kept = sum(r["masked_s"] for r in rows), sum(r["kept_s"] for r in rows)
    planned = len(rows) / sum(1 / r["planned_factor"] for r in rows)
    print(f"all: masked {masked:.1f} s, kept {kept:.1f} s, factor {masked / kept:.2f} (the plan's {planned:.2f}); "
          f"width {args.width:g}, batch {args.batch_size}, {args.steps} steps, {torch.get_num_threads()} threads")
    out = write_measurement(args.out, "kept-channels", "random CIFAR-shaped images", "paper", time.time() - started,
                            {"settings": {**vars(args), "path": {k: asdict(v) for k, v in paths.items()}},
                             "rows": rows, "masked_s": masked, "kept_s": kept, "factor": masked / kept,
                             "planned_factor": planned})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
