"""Several trainings on one GPU at once: training images/s of 1, 2, 4, ... processes together.

At batch 128 a CIFAR ResNet18 leaves a large GPU idle between its kernels (many small kernels,
launched one by one from Python). The sweep can run several cells side by side on one machine
(``python -m coinfer sweep --workers N``; every worker uses the same GPU), so that one process's
kernels fill another's gaps. Whether that pays, and how much, is a measurement: this script starts
N processes together, each training the network of ``--width`` on the data path the sweep takes on
that device (:meth:`coinfer.tensor_data.DataPath.for_device`: on CUDA the images held on the GPU and
augmented there, bf16 autocast, channels_last) on random pixels in CIFAR-10's on-disk format, and
reports the images/s of all of them together over the window in which they all ran, beside one
process alone. The plan (``python -m coinfer plan --gpu-rate``) takes the rate of the number of
workers you will run.

``--compile`` trains each network compiled as ``COINFER_COMPILE=1`` would
(:meth:`coinfer.tensor_data.DataPath.prepare`: on CUDA in CUDA graphs, whose replay launches each
step's forward and backward at once), after warm-up steps that include the compiling; the device
check sets its rates beside one uncompiled process alone (``compiled_concurrency_N``).

``--work prune`` trains in each process one pruning fine-tune of the paper preset (its schedule
compressed to ``--steps`` steps), masked at full width or on the kept channels (``--kept``): alone
the kept channels were slower on the H200 (each step waits on launches, and they add some), but with
the GPU saturated by several trainings the arithmetic they save may count (``kept_concurrency`` in
the device check).

``--work codecs`` times instead what dominates the sweep: each process trains the paper preset's
code sizes of one split point together (:func:`coinfer.experiments.encoding.codec_records`, on the
same data path, so stacked through one server pass and folded on CUDA), a warm-up epoch and
``--epochs`` quantized ones over ``--codec-images`` images, after one such run untimed. A stacked
codec step leaves less of the GPU idle than a whole-network step, so several at once may gain less:
the plan takes this factor (``codec_concurrency_N`` in the device check) for codec training where it
is measured.

    python benchmarks/gpu_concurrency.py --device cuda --processes 1 2 4
    python benchmarks/gpu_concurrency.py --device cuda --processes 1 2 4 --work codecs
    python benchmarks/gpu_concurrency.py --device cuda --processes 1 2 4 --compile
    python benchmarks/gpu_concurrency.py --device cuda --processes 1 8 --work prune [--kept]
    python benchmarks/gpu_concurrency.py                       # a CPU dry run: tiny, means nothing

Writes ``benchmarks/out/gpu_concurrency.json`` (schema, provenance, one row per process count).
Timings depend on the machine and its load; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _codec_work(args: dict, device, root: str):
    """One process's codec training (``--work codecs``): a function that trains the paper preset's code
    sizes at ``args["split"]`` together on ``args["codec_images"]`` images and returns the training
    images it drew (each batch once, for every code)."""
    from coinfer.config import get_preset, override
    from coinfer.core.features import FeatureSource
    from coinfer.core.network import resnet18, split
    from coinfer.data import ValidationSplit, load_split
    from coinfer.experiments.encoding import codec_records
    from coinfer.experiments.sweep import encode_settings
    from coinfer.train import progress_bars

    paper = get_preset("paper")
    config = override(encode_settings(paper), {"warmup_epochs": 1, "epochs": args["epochs"],
                                               "batch_size": args["batch_size"], "eval_batch_size": 256})
    validation = ValidationSplit(images=20, seed=0)
    train = load_split("cifar10", "train", validation, root=root, augment=True, limit=args["codec_images"], trust=True)
    test = load_split("cifar10", "test", validation, root=root, trust=True)
    device_part, server_part = split(resnet18(width=args["width"]).eval().to(device), args["split"])
    test_src = FeatureSource(device_part, test, precompute=True, batch_size=config.eval_batch_size, device=device)

    def work() -> int:
        source = FeatureSource(device_part, train, precompute=False, batch_size=config.eval_batch_size, device=device)
        with progress_bars(False):
            codec_records(args["split"], device_part, server_part, source, test_src, list(config.code_sizes), config,
                          device=device, log=lambda *_: None)
        return len(train) * (config.warmup_epochs + config.epochs)
    return work


def _prune_work(args: dict, device):
    """One process's pruning fine-tune (``--work prune``): the paper preset's (its optimizer and cubic
    schedule, compressed to ``steps`` steps of ``interval``) at ``args["split"]`` and
    ``args["sparsity"]`` on random CIFAR-shaped batches, masked at full width or, with ``--kept``, on
    the kept channels (:class:`coinfer.core.kept_channels.KeptChannelsNetwork`); a function that runs
    it and returns the images it trained on."""
    import copy
    from dataclasses import replace

    import torch

    from coinfer.config import get_preset
    from coinfer.core.network import resnet18
    from coinfer.experiments.pruning import prune_finetune
    from coinfer.tensor_data import DataPath
    from coinfer.train import progress_bars

    paper = get_preset("paper", **{"pruning.epochs": 1, "pruning.schedule.interval": args["interval"]})
    path = replace(DataPath.for_device(device), kept_channels=args["kept"], compile=False)
    net = resnet18(width=args["width"]).to(device)
    batches = [(torch.randn(args["batch_size"], 3, 32, 32, device=device),
                torch.randint(0, 10, (args["batch_size"],), device=device)) for _ in range(args["steps"])]

    def work() -> int:
        with progress_bars(False):
            prune_finetune(copy.deepcopy(net), args["split"], args["sparsity"], paper.pruning, batches, device,
                           path=path)
        return len(batches) * args["batch_size"]
    return work


def _train(rank: int, args: dict, root: str, barrier, results) -> None:
    """One process: warm up, wait for the others, then time ``steps`` training steps (or, with
    ``--work codecs``, one codec training of :func:`_codec_work`)."""
    from dataclasses import replace

    import torch

    from coinfer.core.network import resnet18
    from coinfer.data import ValidationSplit, load_split
    from coinfer.tensor_data import DataPath, training_batches

    torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    if args["work"] in ("codecs", "prune"):
        torch.manual_seed(rank)
        work = _codec_work(args, device, root) if args["work"] == "codecs" else _prune_work(args, device)
        work()                                              # untimed: the process's one-time costs
        barrier.wait()
        start = time.time()
        seen = work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        results.put((rank, start, time.time(), seen))
        return
    path = DataPath.for_device(device)
    if args["compile"]:
        path = replace(path, compile=True, compile_backend=args["compile_backend"])
    data = load_split("cifar10", "train", ValidationSplit(images=100), root=root, augment=True, trust=True)
    torch.manual_seed(rank)
    model = path.prepare(resnet18(width=args["width"]).to(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    batches = training_batches(data, args["batch_size"], rank, device, path)

    def step(images, labels):
        with torch.autocast(device.type, dtype=path.dtype, enabled=path.dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def run(n: int) -> int:
        seen = 0
        while seen < n * args["batch_size"]:
            for images, labels in batches:
                step(images.to(device, non_blocking=True), labels.to(device, non_blocking=True))
                seen += len(labels)
                if seen >= n * args["batch_size"]:
                    break
        if device.type == "cuda":
            torch.cuda.synchronize()
        return seen

    # Compiled, the warm-up covers a whole epoch: its last, smaller batch compiles and records anew,
    # which must not fall into the timed steps (the first compiled H200 run timed 21 s of it).
    run(args["warmup"] + (len(batches) if args["compile"] else 0))
    barrier.wait()
    start = time.time()
    seen = run(args["steps"])
    results.put((rank, start, time.time(), seen))


def measure(processes: int, args: dict, root: str) -> dict:
    """``processes`` trainings started together; their images/s together and each one's own."""
    context = mp.get_context("spawn")                       # CUDA cannot be shared by fork
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_train, args=(rank, args, root, barrier, results)) for rank in range(processes)]
    for w in workers:
        w.start()
    runs = [results.get(timeout=args["timeout"]) for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError(f"a training process exited with code {w.exitcode}")
    window = max(end for _, _, end, _ in runs) - min(start for _, start, _, _ in runs)
    images = sum(seen for *_, seen in runs)
    return {"processes": processes, "images_per_s": images / window, "window_s": window,
            "per_process_images_per_s": [seen / (end - start) for _, start, end, seen in sorted(runs)]}


def main() -> None:
    from cuda_check import add_compile_backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--width", type=float, default=None, help="network width (default: 1 on CUDA, 1/8 on a CPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 on CUDA, 8 on a CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per process (default: 200 on CUDA, 2 on a CPU)")
    parser.add_argument("--train-images", type=int, default=None, help="default: 20,000 on CUDA, 200 on a CPU")
    parser.add_argument("--work", choices=("network", "codecs", "prune"), default="network",
                        help="what each process trains: the whole network (default), one split point's codes, "
                             "or one pruning fine-tune")
    parser.add_argument("--kept", action="store_true",
                        help="with --work prune: fine-tune on the kept channels (default: masked at full width)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="with --work prune: the sparsity (default 0.5)")
    parser.add_argument("--interval", type=int, default=None,
                        help="with --work prune: steps per pruning iteration (default: 20 on CUDA, 1 on a CPU)")
    parser.add_argument("--split", default="layer2.1", help="with --work codecs: the split point (default layer2.1)")
    parser.add_argument("--codec-images", type=int, default=None,
                        help="with --work codecs: training images (default: 2,000 on CUDA, 8 on a CPU)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="with --work codecs: quantized epochs after the warm-up one "
                             "(default: 2 on CUDA, 1 on a CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="train each network compiled (on CUDA in CUDA graphs), as COINFER_COMPILE=1 does")
    add_compile_backend(parser)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "gpu_concurrency.json"))
    args = parser.parse_args()
    for n in args.processes:
        if n < 1:
            raise SystemExit(f"--processes takes counts >= 1, got {n}")
    if args.kept and args.work != "prune":
        raise SystemExit(f"--kept is a pruning fine-tune's: pass --work prune (got --work {args.work})")
    if not 0 <= args.sparsity < 1:
        raise SystemExit(f"--sparsity must be in [0, 1), got {args.sparsity}")
    if args.interval is not None and args.interval < 1:
        raise SystemExit(f"--interval must be >= 1, got {args.interval}")
    if args.compile and args.work == "codecs":
        raise SystemExit("--compile times whole-network training: with --work codecs, the frozen parts "
                         "compile with COINFER_COMPILE=frozen instead")
    for name in ("codec_images", "epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    started = time.time()
    cuda = args.device.startswith("cuda")
    settings = {"device": args.device, "width": args.width or (1.0 if cuda else 0.125),
                "batch_size": args.batch_size or (128 if cuda else 8), "steps": args.steps or (200 if cuda else 2),
                "warmup": 20 if cuda else 1, "threads": 1, "timeout": 1800, "work": args.work, "split": args.split,
                "codec_images": args.codec_images or (2000 if cuda else 8), "epochs": args.epochs or (2 if cuda else 1),
                "compile": args.compile, "compile_backend": args.compile_backend, "kept": args.kept,
                "sparsity": args.sparsity, "interval": args.interval or (20 if cuda else 1)}
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cuda_check import write_synthetic_cifar10

    import torch

    from coinfer.results import write_measurement

    os.environ["COINFER_TRUST_LOCAL_DATA"] = "1"
    root = write_synthetic_cifar10(Path(tempfile.mkdtemp(prefix="gpu-concurrency-")),
                                   args.train_images or (20_000 if cuda else 200), 40)
    rows = [measure(n, settings, str(root)) for n in args.processes]
    alone = next((r["images_per_s"] for r in rows if r["processes"] == 1), None)
    print(f"{settings['device']}, width {settings['width']:g}, batch {settings['batch_size']}, "
          + (f"{settings['steps']} timed steps per process{', compiled' if args.compile else ''}"
             if args.work == "network" else
             f"a pruning fine-tune at {args.split} s={args.sparsity:g} of {settings['steps']} steps, "
             f"{'on the kept channels' if args.kept else 'masked'}, per process" if args.work == "prune" else
             f"the codes of {args.split} trained together, {settings['codec_images']} images, "
             f"1 + {settings['epochs']} epochs per process"))
    for r in rows:
        r["over_one_process"] = r["images_per_s"] / alone if alone else None
        gain = f"{r['over_one_process']:.2f}x one process" if alone else ""
        print(f"{r['processes']} process(es): {r['images_per_s']:,.1f} images/s together {gain}")
    out = write_measurement(args.out, "gpu-concurrency", "random pixels in CIFAR-10's on-disk format", "paper",
                            time.time() - started, {"settings": settings, "rows": rows},
                            gpu=torch.cuda.get_device_name(0) if cuda and torch.cuda.is_available() else None)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
