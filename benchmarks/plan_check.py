"""Does the sweep plan count the work the sweep does? FLOPs executed, step by step, beside the plan.

``python -m coinfer plan`` (:mod:`coinfer.experiments.plan`) prices a sweep from its cell plan: every
training, fitting pass and evaluation, each image weighted by its share of a full-network training
step. This script runs the baseline training and the sweep of a preset for real (``python -m coinfer
train`` and ``run sweep``, in this process) under PyTorch's FLOP counter
(``torch.utils.flop_counter.FlopCounterMode``: every convolution and matrix product, forward and
backward, with only the gradients each backward computes), attributes the FLOPs to the plan's steps
by the function that ran them, and sets each beside the plan's count for the same settings and
dataset. Both are in full-network training images (the FLOPs of one image's training step of the
whole network, counted the same way).

It runs the preset at smoke scale (``COINFER_SMOKE=1``: one epoch of 32 images per training, the grid
cut to one cell per method, at the preset's own width) on random pixels written in CIFAR-10's real
on-disk format, in a scratch ``COINFER_HOME``: a CPU minute for the paper preset. The runs compute
what the GPU path computes (:meth:`coinfer.tensor_data.DataPath.for_device` for CUDA: pruning
fine-tunes on the kept channels only if it chooses them; it does not, since they were slower on an
H200), in float32. At smoke scale the
fixed passes (fitting passes, evaluations) weigh far more than at paper scale, so a pass the plan
forgot shows up.

    python benchmarks/plan_check.py                    # the paper preset, one seed
    python benchmarks/plan_check.py --out data/results/benchmarks/plan_check_paper_smoke.json

Prints a table and writes ``benchmarks/out/plan_check.json`` by default. The FLOP counter does not
count batch norms, activations or the optimizer; thop, behind the plan's shares, counts batch norms
too (under 1% of a convolution's MACs here).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP_DEFAULT = "evaluation (validation + test)"
COUNTING = "MAC counting and shape probes (one image)"


class Meter:
    """One FLOP counter, with the FLOPs attributed to the innermost labelled function running them."""

    def __init__(self):
        from torch.utils.flop_counter import FlopCounterMode

        self.counter = FlopCounterMode(display=False)
        self.frames: list[list] = []        # [label, FLOPs at entry, FLOPs of labelled callees]
        self.flops: dict[str, int] = {}
        self.markers: list[str] = []

    def _enter(self, label: str) -> None:
        self.frames.append([label, self.counter.get_total_flops(), 0])

    def _exit(self) -> None:
        label, start, callees = self.frames.pop()
        spent = self.counter.get_total_flops() - start
        self.flops[label] = self.flops.get(label, 0) + spent - callees
        if self.frames:
            self.frames[-1][2] += spent

    def run(self, label: str, fn, *args):
        """``fn(*args)`` counted, with ``label`` for what no labelled callee claims."""
        with self.counter:
            self._enter(label)
            try:
                return fn(*args)
            finally:
                self._exit()

    def label(self, owner, name: str, label) -> None:
        """Attribute what ``owner.name`` runs to ``label`` (a string, or a function of its arguments and
        the active markers); ``label=None`` only marks that it is running."""
        attribute = vars(owner).get(name) if isinstance(owner, type) else None
        if isinstance(attribute, property):                 # a property: its getter, wrapped
            getter = types.SimpleNamespace(get=attribute.fget)
            self.label(getter, "get", label)
            setattr(owner, name, property(getter.get))
            return
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def counted(*args, **kwargs):
            if label is None:
                self.markers.append(name)
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.markers.pop()
            self._enter(label(args, self.markers) if callable(label) else label)
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit()

        setattr(owner, name, counted)


def attribute(meter: Meter) -> None:
    """Label the functions that run each plan step (the sweep calls them through their modules)."""
    import coinfer.core.costs as costs
    import coinfer.experiments.baselines as baselines
    import coinfer.experiments.encoding as encoding
    import coinfer.experiments.original as original
    import coinfer.train as train
    from coinfer.core.codecs import Huffman8Codec
    from coinfer.core.features import FeatureSource
    from coinfer.experiments.sweep import SweepRunner

    meter.label(train, "evaluate", "baseline evaluation (validation + test)")
    meter.label(SweepRunner, "pruned_device", lambda args, _: "fine-tune: pruned device parts" if args[2] > 0
                else "fine-tune: unpruned control")
    meter.label(SweepRunner, "two_step_step1", "fine-tune: 2-Step Pruning, step 1")
    meter.label(baselines, "two_step_step2", "fine-tune: 2-Step Pruning, step 2")
    meter.label(baselines, "bottlenet_records", None)
    meter.label(encoding, "_warm_up", None)

    def codec_step(_, markers):
        if "bottlenet_records" in markers:
            return "codec training: BottleNet++"
        return "codec warm-up: framework" if "_warm_up" in markers else "codec training: framework"

    meter.label(encoding, "_run_epochs", codec_step)
    meter.label(encoding, "_per_codec", "codec fitting passes (k-means, entropy model)")
    meter.label(Huffman8Codec, "fit", "8-bit Huffman fitting passes")
    meter.label(FeatureSource, "__init__", "feature extraction (cached device parts)")
    # A record's MACs and shapes come from running its networks on one image (not in the plan).
    for owner, name in ((costs, "thop_macs"), (costs, "flop_counter_macs"), (encoding, "codec_costs"),
                        (baselines, "codec_costs"), (baselines, "pruned_costs"), (original, "original_records"),
                        (FeatureSource, "feature_shape")):
        meter.label(owner, name, COUNTING)


def training_image_flops(width: float) -> float:
    """FLOPs of one image's full-network training step (forward and backward), by the same counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from coinfer.core.network import resnet18

    model = resnet18(width=width)
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(images), labels).backward()
    return counter.get_total_flops() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--train-images", type=int, default=100, help="images of the written training split")
    parser.add_argument("--test-images", type=int, default=40)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a preset setting for the runs and the plan alike, e.g. dataset=cifar10")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "plan_check.json"))
    args = parser.parse_args()
    started = time.time()
    home = Path(tempfile.mkdtemp(prefix="plan-check-"))
    os.environ.update({"COINFER_HOME": str(home), "COINFER_SMOKE": "1", "COINFER_TRUST_LOCAL_DATA": "1",
                       "COINFER_OFFLINE": "1", "TQDM_DISABLE": "1"})
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cuda_check import write_synthetic_cifar10

    from coinfer.cli import main as coinfer
    from coinfer.config import get_preset, parse_overrides
    from coinfer.experiments.plan import sweep_plan
    from coinfer.results import write_measurement

    from coinfer.tensor_data import DataPath

    # The plan prices the GPU path; on this CPU the runs compute as it does where that changes the work
    # (pruning fine-tunes on the kept channels only, if it chooses them), in float32 with the CPU loaders.
    kept_channels = DataPath.for_device("cuda").kept_channels
    DataPath.for_device = classmethod(lambda cls, device: cls(kept_channels=kept_channels))
    preset = get_preset(args.preset, **parse_overrides(args.set))     # and the smoke overrides (COINFER_SMOKE=1)
    if preset.dataset != "cifar10":
        raise SystemExit(f"plan_check writes a tiny CIFAR-10; preset {args.preset!r} uses {preset.dataset!r}")
    write_synthetic_cifar10(home / "data", args.train_images, args.test_images)
    meter = Meter()
    attribute(meter)
    sets = [word for item in args.set for word in ("--set", item)]
    for label, command in (("baseline", ["train", "--preset", args.preset, *sets]),
                           (SWEEP_DEFAULT, ["sweep", "--preset", args.preset, "--no-progress", *sets])):
        code = meter.run(label, coinfer, command)
        if code != 0:
            raise SystemExit(f"python -m coinfer {' '.join(command)} failed (exit {code})")
    unit = training_image_flops(preset.width)
    steps = sweep_plan(preset, seeds=1, dataset_images=(args.train_images, args.test_images), kept_channels=kept_channels)
    rows = [{"step": s.name, "plan_images": s.equivalent_images, "metered_images": meter.flops.pop(s.name, 0) / unit}
            for s in steps]
    rows += [{"step": name, "plan_images": 0.0, "metered_images": flops / unit} for name, flops in meter.flops.items()
             if flops]
    for r in rows:
        r["ratio"] = r["metered_images"] / r["plan_images"] if r["plan_images"] else None
    plan_total, metered_total = sum(r["plan_images"] for r in rows), sum(r["metered_images"] for r in rows)
    print(f"preset {args.preset} at smoke scale, {args.train_images} training and {args.test_images} test images; "
          f"full-network training images (one = {unit / 1e9:.2f} GFLOPs)")
    print(f"{'step':<46} {'plan':>9} {'metered':>9} {'metered/plan':>13}")
    for r in rows + [{"step": "total", "plan_images": plan_total, "metered_images": metered_total,
                      "ratio": metered_total / plan_total}]:
        ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "not in plan"
        print(f"{r['step']:<46} {r['plan_images']:>9.1f} {r['metered_images']:>9.1f} {ratio:>13}")
    out = write_measurement(args.out, "plan-check", "random pixels in CIFAR-10's on-disk format (smoke scale)",
                            args.preset, time.time() - started,
                            {"settings": {**vars(args), "smoke": True, "seeds": 1, "image_flops": unit},
                             "rows": rows, "total": {"plan_images": plan_total, "metered_images": metered_total,
                                                     "ratio": metered_total / plan_total}})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
