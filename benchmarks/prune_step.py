"""Cost of pruning during training: one masked training step vs a plain one, on the same batch.

A masked step is a plain step (forward, backward, Adam update) plus the pruner's two optimizer
hooks: zero the masked gradients before the update, zero the masked weights after it. The start
of a pruning iteration (restore, re-rank channels, snapshot, mask) happens once per ``interval``
steps and is timed separately. Also reports the quick preset's wall time, read from the
provenance of the committed table ``data/results/pruning_quick.json``.

    python benchmarks/prune_step.py [--width 0.125] [--split layer2.1] [--sparsity 0.5] [--reps 20]
    python benchmarks/prune_step.py --device cuda --width 1 --data random   # the paper preset's step on a GPU

On a GPU the script also estimates the paper preset's fine-tuning time per (split, sparsity):
100 epochs x 391 batches of 128 CIFAR-10 images x the masked step time.

Prints the figures and writes ``benchmarks/out/prune_step.json``. Timings depend on the machine
and its load; plain and masked steps are interleaved so that both see the same load, and medians
are reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from coinfer.data import load_dataset
from coinfer.core.network import resnet18, split
from coinfer.paths import project_root, results_dir
from coinfer.core.pruning import IncrementalPruner, SparsitySchedule
from coinfer.results import load_table, write_json_atomic
from coinfer.results_origin import hardware
from coinfer.train import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1 / 8)
    parser.add_argument("--split", default="layer2.1")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--data", choices=["fashion-mnist", "random"], default="fashion-mnist",
                        help="one batch of real images, or random ones (timing does not depend on content)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    seed_everything(0)

    if args.data == "fashion-mnist":
        data = load_dataset("fashion-mnist", train=True, limit=args.batch)
        images = torch.stack([data[i][0] for i in range(len(data))])
        labels = torch.tensor([data[i][1] for i in range(len(data))])
    else:
        images, labels = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    images, labels = images.to(device), labels.to(device)

    def make():
        torch.manual_seed(0)
        model = resnet18(width=args.width).to(device).train()
        return model, torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-4)

    plain_model, plain_opt = make()
    masked_model, masked_opt = make()
    device_part, _ = split(masked_model, args.split)
    pruner = IncrementalPruner(device_part, args.sparsity, total_steps=10**6,
                               schedule=SparsitySchedule("constant", interval=10**6))
    pruner.attach(masked_opt)
    pruner.step(0)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(model, optimizer) -> float:
        sync()
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        return time.perf_counter() - start

    for _ in range(3):  # warm-up
        step(plain_model, plain_opt), step(masked_model, masked_opt)
    plain, masked, restart = [], [], []
    for _ in range(args.reps):
        plain.append(step(plain_model, plain_opt))
        masked.append(step(masked_model, masked_opt))
        sync()
        start = time.perf_counter()
        pruner.start_iteration(1.0)
        sync()
        restart.append(time.perf_counter() - start)
    plain_s, masked_s, restart_s = (statistics.median(v) for v in (plain, masked, restart))

    quick = results_dir() / "pruning_quick.json"
    quick_wall = None
    if quick.exists():
        table = load_table(quick)
        quick_wall = {"wall_time_s": table.provenance.wall_time_s, "hardware": table.provenance.hardware,
                      "command": table.provenance.command, "records": len(table.records)}

    out = {"width": args.width, "split": args.split, "sparsity": args.sparsity, "batch": args.batch,
           "threads": args.threads, "reps": args.reps, "plain_step_s": plain_s, "masked_step_s": masked_s,
           "masked_over_plain": masked_s / plain_s, "iteration_start_s": restart_s,
           "iteration_start_over_plain_step": restart_s / plain_s, "quick_preset": quick_wall,
           "device": str(device), "hardware": hardware()}
    if device.type == "cuda":
        out["paper_preset_finetune_estimate_s"] = 100 * 391 * masked_s
    print(f"width {args.width:g}, split {args.split}, sparsity {args.sparsity}, batch {args.batch}, "
          f"{args.device} ({hardware()}), {args.threads} CPU thread(s), {args.data} images, median of {args.reps}")
    print(f"plain training step   {plain_s * 1e3:8.1f} ms")
    print(f"masked training step  {masked_s * 1e3:8.1f} ms   ratio masked/plain = {masked_s / plain_s:.3f}")
    print(f"iteration start       {restart_s * 1e3:8.1f} ms   (restore + rank + snapshot + mask; once per interval)")
    if device.type == "cuda":
        print(f"paper preset estimate: 100 epochs x 391 steps x masked step = "
              f"{out['paper_preset_finetune_estimate_s'] / 60:.1f} min per (split, sparsity)")
    if quick_wall:
        print(f"quick preset: {quick_wall['records']} records in {quick_wall['wall_time_s']} s "
              f"on {quick_wall['hardware']} ({quick_wall['command']})")
    else:
        print(f"quick preset: no {quick} yet; run `python -m coinfer run pruning --preset quick`")
    path = write_json_atomic(project_root() / "benchmarks" / "out" / "prune_step.json", out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
