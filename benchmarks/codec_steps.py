"""Codec training epochs as the sweep trains them, timed apart from what a pass does once, beside their price.

The plan prices a codec training step by its MACs at the full network's training rate, and the
projection divides that by what stacking the server pass and folding the batch norms saved
(``codecs_together.py``, whose times include each pass's k-means start, entropy fits and
evaluation). Whether a codec step runs at that price is a measurement of its own: a step of six
small codecs may wait on its kernel launches rather than on arithmetic, which the network's rate
does not show. This times it. At each split point, the paper preset's codes (``--method
bottlenet++``: BottleNet++'s reductions) train together exactly as a sweep cell trains them
(:func:`coinfer.experiments.encoding.codec_records`, :func:`coinfer.experiments.baselines.bottlenet_records`:
the device's data path, the preset's batch size), once with ``--epochs`` quantized epochs and once
with twice as many, after one untimed run. The difference of the two runs is ``--epochs`` quantized
epochs and nothing else: the warm-up, the k-means start, the entropy fits, the evaluation and
building the codecs are the same in both. Beside it, the plan's count of one such epoch in
full-network training images (:func:`coinfer.experiments.plan.sweep_plan`'s ``codec training`` step
for those cells, no measured factor applied): the device check divides that by its full-network
rate, and priced over measured is ``codec_step`` (``codec_step_bottlenet``), which the projection
takes for the codec steps in place of the stacking and folding it includes
(:func:`coinfer.experiments.plan.projected_plan`).

    python benchmarks/codec_steps.py --device cuda                 # the device check runs both methods
    python benchmarks/codec_steps.py --device cuda --method bottlenet++
    python benchmarks/codec_steps.py --width 0.125 --images 8 --splits layer3.1 --epochs 1   # a CPU dry run
    python benchmarks/codec_steps.py --device cuda --splits layer2.1 --compile   # the codecs compiled (a candidate)

With ``--compile`` the codes train as ``COINFER_COMPILE=all`` trains them: their codecs and the frozen
server part behind them as one compiled module, on features of a compiled device part (``DataPath``'s
``compile_codecs`` and ``compile_frozen``; CUDA graphs on a GPU). The untimed run pays the compilation.

Writes ``benchmarks/out/codec_steps.json``; timings depend on the machine and its load and are never
asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cuda_check import _rate, add_compile_backend, sync, write_synthetic_cifar10  # noqa: E402

#: The plan's step for each method's codec training.
PRICED_STEP = {"framework": "codec training: framework", "bottlenet++": "codec training: BottleNet++"}


def priced_epoch(preset, method: str, split: str, images: int) -> float:
    """The plan's price of one quantized epoch of ``method``'s codes at ``split`` trained together on
    ``images`` images, in full-network training images (no measured factor applied).

    >>> from coinfer.config import get_preset
    >>> paper = get_preset("paper")
    >>> 0 < priced_epoch(paper, "bottlenet++", "layer2.1", 100) < priced_epoch(paper, "framework", "layer2.1", 100)
    True
    """
    from coinfer.experiments.codec_pricing import codec_pass_steps

    step = codec_pass_steps(preset, method, split)[PRICED_STEP[method]]
    return step.runs * images * step.network_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (on CUDA: the sweep's GPU data path)")
    parser.add_argument("--method", choices=tuple(PRICED_STEP), default="framework")
    parser.add_argument("--width", type=float, default=1.0, help="network width (the price is the paper preset's, 1)")
    parser.add_argument("--images", type=int, default=4000, help="training images per run (default 4,000)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="quantized epochs of the shorter run; the longer runs twice as many (default 3)")
    parser.add_argument("--splits", nargs="+", default=None, help="default: the paper grid's, of --method")
    parser.add_argument("--rate-steps", type=int, default=None,
                        help="steps timing the network's own training rate on the same path, after 2 untimed "
                             "(default: 50 on CUDA, 3 on a CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="train the codecs compiled, as COINFER_COMPILE=all does (with the frozen parts)")
    add_compile_backend(parser)
    parser.add_argument("--out", default="benchmarks/out/codec_steps.json")
    args = parser.parse_args()
    if args.images < 1 or args.epochs < 1:
        parser.error(f"--images and --epochs must be >= 1, got {args.images} and {args.epochs}")
    started = time.time()
    os.environ["COINFER_TRUST_LOCAL_DATA"] = "1"
    root = write_synthetic_cifar10(Path(tempfile.mkdtemp(prefix="codec-steps-")), args.images + 20, 40)

    from dataclasses import asdict, replace

    from coinfer.config import get_preset
    from coinfer.core.features import FeatureSource
    from coinfer.core.network import resnet18, split
    from coinfer.data import ValidationSplit, load_split
    from coinfer.experiments.baselines import bottlenet_records
    from coinfer.experiments.encoding import codec_records
    from coinfer.experiments.sweep import encode_settings
    from coinfer.results import write_measurement
    from coinfer.tensor_data import DataPath, training_batches
    from coinfer.train import progress_bars, seed_everything

    paper = get_preset("paper")
    device = torch.device(args.device)
    if args.compile:                     # every path this run asks for, the network's rate's included
        for_device = DataPath.__dict__["for_device"].__func__
        DataPath.for_device = classmethod(lambda cls, device: replace(
            for_device(cls, device), compile_frozen=True, compile_codecs=True, compile_backend=args.compile_backend))
    framework = args.method == "framework"
    codes = list(paper.sweep.code_sizes) if framework else list(paper.sweep.bottlenet_reductions)
    splits = args.splits or list(paper.sweep.framework_splits if framework else paper.sweep.bottlenet_splits)
    validation = ValidationSplit(images=20, seed=0)
    train = load_split("cifar10", "train", validation, root=root, augment=True, limit=args.images, trust=True)
    test = load_split("cifar10", "test", validation, root=root, trust=True)
    seed_everything(0)
    net = resnet18(width=args.width).eval().to(device)

    def run(point: str, device_part, server_part, test_src, epochs: int) -> float:
        """Seconds of one pass of ``codes`` at ``point`` with one warm-up epoch and ``epochs`` quantized
        (BottleNet++: no warm-up, the two as one budget)."""
        config = replace(encode_settings(paper), warmup_epochs=1, epochs=epochs)
        source = FeatureSource(device_part, train, precompute=False, batch_size=config.eval_batch_size, device=device)
        records = codec_records if framework else bottlenet_records
        sync()
        start = time.perf_counter()
        with progress_bars(False):
            records(point, device_part, server_part, source, test_src, codes, config, device=device,
                    log=lambda *_: None)
        sync()
        return time.perf_counter() - start

    # The full network's training rate on the same path, in this run: the price's own rate, so that the
    # measurement stands alone (the device check prices with its data path check's rate, the plan's).
    path = DataPath.for_device(device)
    batches = training_batches(train, paper.encoding.batch_size, 0, device, path)
    steps = args.rate_steps or (50 if device.type == "cuda" else 3)
    network_rate = _rate(path.prepare(resnet18(width=args.width).to(device)), batches, steps, device, path.dtype,
                         warmup=2)
    rows = []
    for point in splits:
        device_part, server_part = split(net, point)
        test_src = FeatureSource(device_part, test, precompute=True, batch_size=256, device=device)
        run(point, device_part, server_part, test_src, 1)       # untimed: cuDNN's search, the allocator's growth
        short = run(point, device_part, server_part, test_src, args.epochs)
        long = run(point, device_part, server_part, test_src, 2 * args.epochs)
        per_epoch = (long - short) / args.epochs
        rows.append({"split": point, "codes": len(codes), "short_s": round(short, 3), "long_s": round(long, 3),
                     "seconds_per_epoch": round(per_epoch, 4),
                     "priced_images_per_epoch": round(priced_epoch(paper, args.method, point, len(train)), 1)})
        print(f"{point:<9} {len(codes)} codes: {args.epochs} epochs {short:6.2f} s, {2 * args.epochs} epochs "
              f"{long:6.2f} s: {per_epoch:.3f} s per quantized epoch, priced at "
              f"{rows[-1]['priced_images_per_epoch']:,.0f} full-network training images", flush=True)
    seconds, priced = sum(r["seconds_per_epoch"] for r in rows), sum(r["priced_images_per_epoch"] for r in rows)
    out = write_measurement(args.out, "codec-steps", "synthetic cifar10 (random pixels, real on-disk format)", "paper",
                            time.time() - started,
                            {"settings": {**vars(args), "images": len(train), "batch_size": paper.encoding.batch_size,
                                          "path": asdict(path)},
                             "codes": [str(c) for c in codes], "rows": rows,
                             "seconds_per_epoch": round(seconds, 4), "priced_images_per_epoch": round(priced, 1),
                             "network_images_per_s": round(network_rate, 2),
                             "priced_over_measured": round(priced / network_rate / seconds, 3) if seconds > 0 else None},
                            gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None)
    if seconds > 0:
        print(f"the network trains at {network_rate:,.1f} images/s on the same path: the codec epochs ran at "
              f"{priced / network_rate / seconds:.2f}x the speed the plan prices them at")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
