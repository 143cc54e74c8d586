"""One short run of the whole pipeline on a CUDA GPU: does it run there, and how fast is it?

Checks, in order, each timed and written to one JSON file:

1. the split is exact on the GPU at full width (every split point, max |difference|);
2. training throughput of the full-width network (the paper preset's) in images/s, and from it an
   estimate of the paper preset's baseline time;
3. the quick preset end to end on the GPU: baseline training (3 epochs, width 1/8), one pruning
   configuration, one encoder configuration and (if the channel module is there) one JSCC point,
   each with its test accuracy beside the CPU-trained committed numbers.

Command (on a GPU machine; the dataset folder must hold Fashion-MNIST, or the machine must be online)::

    python benchmarks/cuda_check.py --out benchmarks/out/cuda_check.json

The paper preset's CIFAR-10 downloads on first use; an offline GPU machine uses ``--dataset
fashion-mnist`` for the throughput check (same network, same 3x32x32 input, so the same speed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
from pathlib import Path

import torch


def timed(fn, *args, **kwargs):
    torch.cuda.synchronize()
    start = time.time()
    result = fn(*args, **kwargs)
    torch.cuda.synchronize()
    return result, time.time() - start


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
    from coinfer.data import load_dataset, make_loader
    from coinfer.core.network import resnet18
    from coinfer.config import get_preset

    paper = get_preset("paper")
    net = resnet18(width=paper.width).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loader = make_loader(load_dataset(dataset, train=True, augment=True), paper.baseline.batch_size, shuffle=True,
                         num_workers=8)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen, start = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 5:  # after warm-up (cuDNN autotuning, allocator)
            torch.cuda.synchronize()
            start, seen = time.time(), 0
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if step == steps + 5:
            break
    torch.cuda.synchronize()
    ips = seen / (time.time() - start)
    cifar_train = 50_000
    return {"dataset": dataset, "width": paper.width, "batch_size": paper.baseline.batch_size, "steps": steps,
            "train_images_per_s": round(ips, 1),
            "paper_baseline_estimate_min": round(paper.baseline.epochs * cifar_train / ips / 60, 1),
            "paper_epochs": paper.baseline.epochs}


def error_report(error: BaseException) -> dict:
    """What a failed check leaves in the JSON: the message and the whole traceback (the first GPU
    run kept only the message, which did not say where the CUDA tensor met numpy)."""
    return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def quick_pipeline(device: torch.device, workdir: Path) -> dict:
    """Baseline, pruning and encoding, each tried on its own so that one failure hides no other."""
    from coinfer.experiments.pruning import run as run_pruning
    from coinfer.experiments.encoding import get_encode_config, run as run_encoding
    from coinfer.config import get_preset
    from coinfer.train import get_baseline

    out: dict = {}
    preset = get_preset("quick")
    model = None
    try:
        (model, meta), seconds = timed(get_baseline, preset, checkpoints=workdir / "checkpoints", retrain=True)
        out["baseline"] = {"test_accuracy": meta["test_accuracy"], "seconds": round(seconds, 1),
                           "cpu_committed_accuracy": 0.9046}
    except Exception as error:
        out["baseline"] = error_report(error)
    try:
        if model is None:
            raise RuntimeError("no GPU-trained baseline (see 'baseline')")
        pruned_preset = get_preset("quick", pruning={"splits": ("layer2.1",), "sparsities": (0.5,), "control": False})
        table, seconds = timed(run_pruning, pruned_preset, out=workdir / "prune.json",
                               checkpoints=workdir / "checkpoints", device=device, save_checkpoints=False)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/out/cuda_check.json")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset for the throughput check")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps at full width")
    parser.add_argument("--skip-quick", action="store_true", help="only the exactness and throughput checks")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine")
    device = torch.device("cuda")
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    checks = [("split", lambda: split_exactness(device)),
              ("throughput", lambda: throughput(device, args.dataset, args.steps))]
    if not args.skip_quick:
        workdir = Path(tempfile.mkdtemp(prefix="coinfer-cuda-"))
        checks.append(("quick", lambda: quick_pipeline(device, workdir)))
    for name, check in checks:
        try:
            report[name], seconds = timed(check)
            report[name + "_seconds"] = round(seconds, 1)
        except Exception as error:  # report every check, even after one fails
            report[name] = error_report(error)
        print(name, json.dumps(report[name])[:2000], flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
