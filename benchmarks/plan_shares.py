"""Does the sweep plan's cost model hold? Each kind of step's time, measured, beside the share it is charged.

``python -m coinfer plan`` (:mod:`coinfer.experiments.plan`) turns the paper preset's cell plan into
GPU time with one measured rate (full-network training images per second) and charges every other
kind of step a share of a full training step, computed from MACs:

- a forward pass without gradients: a third (``FORWARD_SHARE``);
- a codec step: the frozen device part forward (a third of its MACs' share), then the frozen server
  part forward and backward *to its input only*: its weights take no gradient, so two thirds of its
  MACs' share (``FROZEN_TRAINING_SHARE``) instead of the whole.

This script times each of those on random CIFAR-shaped batches at the paper preset's width, on one
device, and prints the measured share (its time over one full training step's) beside the model's.
A share is a ratio of times on the same machine, so it says how well MACs predict time there; it
does not depend on how fast the machine is.

    python benchmarks/plan_shares.py                       # CPU, full width, batch 32
    python benchmarks/plan_shares.py --device cuda --batch-size 128

Prints a table and writes ``benchmarks/out/plan_shares.json`` (the book's page on the paper preset reads
the committed measurement, ``--out data/results/benchmarks/plan_shares_cpu.json``, with its command
and commit in its provenance). Timings depend on the machine and its
load; every measurement is the median of ``--reps`` repetitions, the kinds interleaved so that all
see the same load. Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from coinfer.core.costs import profile_splits
from coinfer.core.network import resnet18, split
from coinfer.experiments.plan import FORWARD_SHARE, FROZEN_TRAINING_SHARE
from coinfer.results import write_measurement
from coinfer.train import seed_everything

POINTS = ("stem", "layer1.1", "layer2.1", "layer3.1", "pool")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0, help="width multiplier (default 1, the paper's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="benchmarks/out/plan_shares.json")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's, e.g. OMP_NUM_THREADS); recorded in the output")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    started = time.time()
    if args.batch_size < 1 or args.reps < 1:
        raise SystemExit(f"--batch-size and --reps must be >= 1, got {args.batch_size} and {args.reps}")
    device = torch.device(args.device)
    seed_everything(0)
    model = resnet18(width=args.width).to(device)
    total = profile_splits(resnet18(width=args.width))
    macs = {p.point: p for p in total}
    whole = macs["input"].server_macs
    images = torch.randn(args.batch_size, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (args.batch_size,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def full_step() -> None:
        model.requires_grad_(True)           # the frozen steps turn gradients off in shared modules
        model.train()
        model.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()

    def forward() -> None:
        model.eval()
        with torch.no_grad():
            model(images)

    parts = {}
    for point in POINTS:
        device_part, server_part = split(model, point)
        with torch.no_grad():
            feature = device_part.eval()(images)
        parts[point] = (device_part, server_part.eval(), feature)

    def device_forward(point: str) -> None:
        with torch.no_grad():
            parts[point][0].eval()(images)

    def frozen_server_step(point: str) -> None:
        # What a codec step runs behind the codec: the frozen server part forward, and backward to
        # its input (the codec's decoder output), its weights taking no gradient.
        _, server_part, feature = parts[point]
        server_part.requires_grad_(False).eval()
        x = feature.detach().clone().requires_grad_(True)
        loss_fn(server_part(x), labels).backward()

    kinds = {"full training step": full_step, "forward": forward}
    for point in POINTS:
        kinds[f"device forward @ {point}"] = lambda point=point: device_forward(point)
        if macs[point].server_macs > 0.001 * whole:
            kinds[f"frozen server fwd+bwd @ {point}"] = lambda point=point: frozen_server_step(point)
    for fn in kinds.values():                # warm-up: allocator, kernels, thread pools
        fn()
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.reps):
        for name, fn in kinds.items():
            times[name].append(_timed(fn, device))
    median = {name: statistics.median(t) for name, t in times.items()}
    full = median["full training step"]

    def modelled(name: str) -> float:
        if name == "full training step":
            return 1.0
        if name == "forward":
            return FORWARD_SHARE
        kind, point = name.split(" @ ")
        if kind == "device forward":
            return FORWARD_SHARE * macs[point].device_macs / whole
        return FROZEN_TRAINING_SHARE * macs[point].server_macs / whole

    rows = [{"kind": name, "seconds_per_image": median[name] / args.batch_size,
             "measured_share": median[name] / full, "modelled_share": modelled(name),
             "old_model_share": (macs[name.split(" @ ")[1]].server_macs / whole
                                 if name.startswith("frozen") else modelled(name))}
            for name in kinds]
    print(f"width {args.width:g}, batch {args.batch_size}, {args.device}, median of {args.reps}; "
          f"full training step {args.batch_size / full:,.1f} images/s")
    print(f"{'kind':<34} {'ms/image':>9} {'measured':>9} {'model':>7} {'old model':>10}")
    for r in rows:
        print(f"{r['kind']:<34} {1000 * r['seconds_per_image']:>9.2f} {r['measured_share']:>9.3f} "
              f"{r['modelled_share']:>7.3f} {r['old_model_share']:>10.3f}")
    frozen = [r for r in rows if r["kind"].startswith("frozen")]
    # The frozen server part's backward share: measured time over the time of the same MACs trained fully.
    ratios = [r["measured_share"] / r["old_model_share"] for r in frozen]
    print(f"frozen fwd+bwd over a full training step of the same MACs: {min(ratios):.2f} to {max(ratios):.2f} "
          f"(model {FROZEN_TRAINING_SHARE:.2f}, before the correction 1.00)")
    out = write_measurement(args.out, "plan-shares", "random CIFAR-shaped batches", "paper", time.time() - started,
                            {"settings": vars(args), "rows": rows,
                             "frozen_over_full": {"min": min(ratios), "max": max(ratios)}})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
