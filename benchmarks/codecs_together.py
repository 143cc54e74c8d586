"""How much does training a split point's codes together save where features are not cached?

The paper preset trains its codecs on augmented images, so every codec step runs the frozen device
part forward before its own encoder, decoder and the frozen server part. The codes of one (split,
sparsity) all read the same device part: :func:`coinfer.experiments.encoding.train_codecs` trains
them in one pass, each batch drawn, augmented and run through the device part once, and the codes of
one code dimension warm up once (:func:`~coinfer.experiments.encoding.warm_up_twins`); every codec
gets exactly the steps it would get alone (``tests/test_codecs_together.py``). This script times the
paper preset's code sizes at each split point, alone (one :func:`codec_records` call per code) and
together (one call for all), on the CPU path with the paper preset's network (full width) on a
synthetic CIFAR-10 in its real on-disk format, and reports the measured factor (the sweep plan's
cost model gives its own: ``sweep_plan(preset, together=False)`` against the default).

``--method bottlenet++`` times BottleNet++'s channel reductions at each of its split points the same
way (:func:`coinfer.experiments.baselines.bottlenet_records`; no warm-up).

Together, the frozen server part runs once per code and step, or, as the GPU path does
(:class:`coinfer.tensor_data.DataPath`'s ``stack_codes``), once per step on every code's
reconstruction stacked into one batch: the same arithmetic (the plan counts no saving), in fewer and
larger kernels. Both are timed: ``factor`` is alone over together (one server pass per code),
``stack_factor`` together over stacked. ``fold_factor`` is stacked over stacked with the frozen
parts' batch norms folded into their convolutions (``DataPath``'s ``fold_batchnorm``, also the GPU
path's): the same function to float rounding, a layer fewer per pair. With ``--compile``, the
folded stacked run is timed twice more with the frozen parts compiled (``DataPath``'s
``compile_frozen``, ``COINFER_COMPILE=frozen``; CUDA graphs on a GPU): ``compile_factor`` is folded
over compiled, from the second compiled run (the first pays the compilation, ``compile_s``, from
an empty compile cache: what a sweep's first cell pays, while later ones reuse the cache on disk).
``--compiled-only`` times just those and the folded run they are compared with (after an untimed
one), not the runs above it: the device check's ``together`` has timed those already.

    python benchmarks/codecs_together.py                    # full width, 96 images, 1 + 5 epochs per code
    python benchmarks/codecs_together.py --splits layer3.1 --images 64
    python benchmarks/codecs_together.py --device cuda --images 2000     # on a GPU (benchmarks/cuda_check.py runs it)
    python benchmarks/codecs_together.py --device cuda --images 2000 --splits layer2.1 --compile

Prints a table and writes ``benchmarks/out/codecs_together.json`` (the book's page on the paper preset reads
the committed measurement, ``--out data/results/benchmarks/codecs_together_cpu.json``, with its command
and commit in its provenance). Timings depend on the machine and
its load; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from cuda_check import add_compile_backend, write_synthetic_cifar10


@contextlib.contextmanager
def data_path(stack: bool, fold: bool = False, compile_frozen: bool = False, backend: str = "inductor"):
    """The device's data path (:meth:`DataPath.for_device`) with ``stack_codes`` set to ``stack``,
    ``fold_batchnorm`` to ``fold``, ``compile_frozen`` to ``compile_frozen`` and ``compile_backend``
    to ``backend``."""
    from coinfer.tensor_data import DataPath

    original = DataPath.__dict__["for_device"]
    DataPath.for_device = classmethod(lambda cls, device: replace(original.__func__(cls, device), stack_codes=stack,
                                                                  fold_batchnorm=fold, compile_frozen=compile_frozen,
                                                                  compile_backend=backend))
    try:
        yield
    finally:
        DataPath.for_device = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--images", type=int, default=96, help="training images (default 96)")
    parser.add_argument("--splits", nargs="+", default=None, help="default: the paper grid's, of --method")
    parser.add_argument("--method", choices=("framework", "bottlenet++"), default="framework",
                        help="whose codes: the framework's code sizes or BottleNet++'s channel reductions")
    # The paper preset's 10 warm-up + 50 quantized epochs, scaled down to the same ratio.
    parser.add_argument("--warmup-epochs", type=int, default=1, help="unquantized epochs per code (default 1)")
    parser.add_argument("--epochs", type=int, default=5, help="quantized epochs per code (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (on CUDA: the resident loader, bf16, channels_last)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the folded stacked run with the frozen parts compiled (twice)")
    parser.add_argument("--compiled-only", action="store_true",
                        help="with --compile, time only the folded stacked run and the compiled ones: not the "
                             "codes alone, together or stacked unfolded (the device check's `together` times those)")
    add_compile_backend(parser)
    parser.add_argument("--out", default="benchmarks/out/codecs_together.json")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's, e.g. OMP_NUM_THREADS); recorded in the output")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    started = time.time()
    if args.images < 1:
        raise SystemExit(f"--images must be >= 1, got {args.images}")
    if args.warmup_epochs < 0 or args.epochs < 1:
        raise SystemExit(f"--warmup-epochs must be >= 0 and --epochs >= 1, got {args.warmup_epochs} and {args.epochs}")
    if args.compiled_only and not args.compile:
        raise SystemExit("--compiled-only times the compiled frozen parts: give --compile with it")
    root = write_synthetic_cifar10(Path(tempfile.mkdtemp()), train_images=max(5, args.images + 20), test_images=20)
    os.environ["COINFER_TRUST_LOCAL_DATA"] = "1"
    if args.compile:               # a cold start: no compiled graphs or kernels from an earlier run
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")

    from coinfer.config import get_preset, override
    from coinfer.core.features import FeatureSource
    from coinfer.core.network import resnet18, split
    from coinfer.data import ValidationSplit, load_split
    from coinfer.experiments.baselines import bottlenet_records
    from coinfer.experiments.encoding import codec_records
    from coinfer.experiments.sweep import encode_settings
    from coinfer.results import write_measurement
    from coinfer.train import progress_bars, seed_everything

    paper = get_preset("paper")
    config = override(encode_settings(paper), {"warmup_epochs": args.warmup_epochs, "epochs": args.epochs, "batch_size": 32,
                                               "eval_batch_size": 64})
    if args.method == "framework":
        codes, splits, records = list(config.code_sizes), paper.sweep.framework_splits, codec_records
    else:
        codes, splits, records = list(paper.sweep.bottlenet_reductions), paper.sweep.bottlenet_splits, bottlenet_records
    validation = ValidationSplit(images=20, seed=0)
    train = load_split("cifar10", "train", validation, root=root, augment=True, limit=args.images, trust=True)
    test = load_split("cifar10", "test", validation, root=root, trust=True)
    seed_everything(0)
    device = torch.device(args.device)
    net = resnet18(width=args.width).eval().to(device)
    rows = []
    for point in args.splits or splits:
        device_part, server_part = split(net, point)
        source = lambda: FeatureSource(device_part, train, precompute=False, batch_size=config.eval_batch_size)
        test_src = FeatureSource(device_part, test, precompute=True, batch_size=config.eval_batch_size)
        quiet = dict(seed=0, device=device, log=lambda *_: None)
        seconds = {}
        if not args.compiled_only:
            with progress_bars(False), data_path(stack=False):
                start = time.perf_counter()
                for code in codes:
                    records(point, device_part, server_part, source(), test_src, [code], config, **quiet)
                seconds["alone"] = time.perf_counter() - start
                start = time.perf_counter()
                records(point, device_part, server_part, source(), test_src, codes, config, **quiet)
                seconds["together"] = time.perf_counter() - start
        # Alone, the folded run would be this process's first and pay its one-time costs (the CUDA
        # context's first kernels, cuDNN's algorithm search, the allocator's growth): a run untimed first.
        runs = [("warm", True, False)] if args.compiled_only else [("stacked", False, False)]
        runs += [("folded", True, False)]
        runs += [("compiled_first", True, True), ("compiled", True, True)] if args.compile else []
        for name, fold, compiled in runs:
            with progress_bars(False), data_path(stack=True, fold=fold, compile_frozen=compiled,
                                                 backend=args.compile_backend):
                start = time.perf_counter()
                records(point, device_part, server_part, source(), test_src, codes, config, **quiet)
                seconds[name] = time.perf_counter() - start
        folded, line = seconds["folded"], f"{point:<9} {len(codes)} codes: "
        rows.append({"split": point, "codes": len(codes), "folded_s": round(folded, 2)})
        if not args.compiled_only:
            alone, together, stack = seconds["alone"], seconds["together"], seconds["stacked"]
            rows[-1].update({"alone_s": round(alone, 2), "together_s": round(together, 2), "stacked_s": round(stack, 2),
                             "factor": round(alone / together, 2), "stack_factor": round(together / stack, 2),
                             "fold_factor": round(stack / folded, 2)})
            line += (f"alone {alone:7.1f} s, together {together:7.1f} s, factor {alone / together:.2f}; stacked "
                     f"{stack:7.1f} s, factor {together / stack:.2f}; folded {folded:7.1f} s, factor {stack / folded:.2f}")
        else:
            line += f"folded {folded:7.1f} s"
        if args.compile:
            compiled, compile_s = seconds["compiled"], seconds["compiled_first"] - seconds["compiled"]
            rows[-1].update({"compiled_s": round(compiled, 2), "compile_s": round(compile_s, 2),
                             "compile_factor": round(folded / compiled, 2)})
            line += f"; compiled {compiled:7.1f} s (+{compile_s:.1f} s to compile), factor {folded / compiled:.2f}"
        print(line, flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("alone_s", "together_s", "stacked_s", "folded_s") if k in rows[0]}
    factors = {}
    if not args.compiled_only:
        factors = {"factor": total["alone_s"] / total["together_s"], "stack_factor": total["together_s"] / total["stacked_s"],
                   "fold_factor": total["stacked_s"] / total["folded_s"]}
        print(f"all splits: alone {total['alone_s']:.1f} s, together {total['together_s']:.1f} s, factor "
              f"{factors['factor']:.2f}; stacked {total['stacked_s']:.1f} s, factor {factors['stack_factor']:.2f}; "
              f"folded {total['folded_s']:.1f} s, factor {factors['fold_factor']:.2f} (evaluation included; "
              f"{args.images} images, width {args.width:g}, {torch.get_num_threads()} threads)")
    if args.compile:
        compiled = sum(r["compiled_s"] for r in rows)
        factors.update({"compile_factor": total["folded_s"] / compiled, "compile_s": sum(r["compile_s"] for r in rows)})
        print(f"compiled frozen parts: {compiled:.1f} s, factor {factors['compile_factor']:.2f} over folded "
              f"{total['folded_s']:.1f} s (+{factors['compile_s']:.1f} s to compile; evaluation included; "
              f"{args.images} images, width {args.width:g}, {torch.get_num_threads()} threads)")
    out = write_measurement(args.out, "codecs-together", "synthetic cifar10 (random pixels, real on-disk format)",
                            "paper", time.time() - started,
                            {"settings": vars(args), "codes": codes, "rows": rows, **factors})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
