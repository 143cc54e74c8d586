"""What a sweep costs before it runs: trainings x epochs x images per step, and the GPU time.

``python -m coinfer plan --preset paper [--gpu-rate IMAGES_PER_S]`` counts, from the sweep's own
cell plan (:func:`coinfer.experiments.sweep.cells`) and the preset's settings, every training and
evaluation the sweep will run, and converts them into time with one measured rate: full-network
training images per second (forward + backward). A pass that runs only part of the network costs
its share of the network's MACs (the server part behind a frozen, cached device part; the device
part forward only while extracting features); a forward pass costs a third of a training pass
(the backward pass costs about twice the forward), and a frozen part that gradients flow through
(the server part behind a codec) two thirds: its backward computes the gradient to its input only.
``benchmarks/plan_shares.py`` measures these shares on a machine, beside the ones charged here. The book's estimate (``book/paper_scale.md``) is
this function's output, not a typed number.

Example::

    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.plan import sweep_plan
    >>> [s.name for s in sweep_plan(get_preset("quick"))][:2]
    ['baseline', 'fine-tune: pruned device parts']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from coinfer.config import Preset

#: Full-width ResNet18 training rate measured on one NVIDIA H200 (float32, batch 128, random crops and
#: flips, 8 loader processes; benchmarks/cuda_check.py, torch 2.11, 2026-11-28): images per second.
MEASURED_H200_RATE = 9128.0

#: Training images of each dataset's own training split, before the validation images are held out.
TRAINING_IMAGES = {"cifar10": 50_000, "fashion-mnist": 60_000}
TEST_IMAGES = 10_000

#: A forward pass costs about a third of a training step (the backward pass about twice the forward).
FORWARD_SHARE = 1 / 3

#: A frozen part trained through (the server part behind a codec) costs about two thirds of a
#: training step: the forward, and a backward to its input only, since its weights take no
#: gradient (about one forward's MACs; the weight gradients are the other).
FROZEN_TRAINING_SHARE = 2 / 3


@dataclass(frozen=True)
class PlanStep:
    """One kind of work in a sweep: ``runs`` trainings (or passes) of ``epochs`` over ``images``.

    ``network_share`` is what one image of it costs, as a fraction of one full-network training
    step (1: the whole network, forward and backward).
    """

    name: str
    runs: int
    epochs: float
    images: int
    network_share: float

    @property
    def image_passes(self) -> float:
        return self.runs * self.epochs * self.images

    @property
    def equivalent_images(self) -> float:
        """Full-network training images that cost as much as this step."""
        return self.image_passes * self.network_share

    def seconds(self, rate: float) -> float:
        return self.equivalent_images / rate


def _train_images(preset: Preset, limit: int | None) -> int:
    available = TRAINING_IMAGES[preset.dataset] - preset.validation.images
    return available if limit is None else min(limit, available)


def sweep_plan(preset: Preset, seeds: int = 1, together: bool = True) -> list[PlanStep]:
    """Every step of ``preset``'s sweep (and its baseline), counted from the cells it will run.

    Parameters
    ----------
    preset : Preset
        Whose sweep grid and training settings are counted.
    seeds : int
        Training seeds the table averages (every step but the baseline runs once per seed).
    together : bool
        Without a feature cache, the framework's codes of one (split, sparsity) train together, the
        device part running forward once per batch for all of them, as the sweep runs them
        (:func:`coinfer.experiments.encoding.train_codecs`); False prices one pass per code.

    Returns
    -------
    list of PlanStep
        Baseline, pruning fine-tunes (the framework's pruned parts and the unpruned control), 2-Step
        Pruning's steps, codec trainings, feature extraction and evaluation.
    """
    from coinfer.core.costs import profile_splits
    from coinfer.core.encoding import CodeSize
    from coinfer.core.network import CifarResNet18, ResNetConfig
    from coinfer.experiments.sweep import cells, encode_settings, prune_settings

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    grid = cells(preset)
    prune, enc = prune_settings(preset), encode_settings(preset)
    profiles = {p.point: p for p in profile_splits(CifarResNet18(ResNetConfig(width=preset.width)))}
    total = profiles["input"].server_macs
    fine_tune = _train_images(preset, prune.train_limit)
    codec_images = _train_images(preset, enc.train_limit)
    evaluated = preset.validation.images + min(enc.test_limit or TEST_IMAGES, TEST_IMAGES)
    framework = [c for c in grid if c.method == "framework"]
    pruned = {(c.split, c.sparsity) for c in framework if c.sparsity > 0}
    coded = [c for c in grid if c.method in ("framework", "bottlenet++")]
    two_step = [c for c in grid if c.method == "2-step-pruning"]
    # A codec step runs the frozen server part forward and backward to its input behind the cached
    # device part; without a cache (precompute=False) the device part also runs forward on every
    # step: once per pass, and a pass trains the framework's codes of one (split, sparsity) together
    # (those with a learned prior in a pass of their own).
    def training_pass(c):
        if together and c.method == "framework":
            return c.shares, CodeSize.parse(c.setting).rate_weight is not None
        return c.id

    forward_splits = [] if enc.precompute else list({training_pass(c): c.split for c in coded}.values())
    codec_share = (sum(FROZEN_TRAINING_SHARE * profiles[c.split].server_macs for c in coded)
                   + sum(FORWARD_SHARE * profiles[s].device_macs for s in forward_splits)) / total / max(1, len(coded))
    extraction_groups = {c.shares: c.split for c in coded}
    steps = [
        PlanStep("baseline", 1, preset.baseline.epochs, _train_images(preset, preset.baseline.train_limit), 1.0),
        PlanStep("fine-tune: pruned device parts", seeds * len(pruned), prune.epochs, fine_tune, 1.0),
        PlanStep("fine-tune: unpruned control", seeds * (1 if any(c.sparsity == 0 for c in coded) else 0),
                 prune.epochs, fine_tune, 1.0),
        # Its two steps share one fine-tuning budget: half the images each.
        PlanStep("fine-tune: 2-Step Pruning, step 1", seeds * len({c.sparsity for c in two_step}), prune.epochs,
                 fine_tune // 2, 1.0),
        PlanStep("fine-tune: 2-Step Pruning, step 2", seeds * len(two_step), prune.epochs, fine_tune // 2, 1.0),
        PlanStep("codec training (framework, BottleNet++)", seeds * len(coded), enc.warmup_epochs + enc.epochs,
                 codec_images, codec_share),
    ]
    if enc.precompute:
        share = sum(FORWARD_SHARE * profiles[s].device_macs / total for s in extraction_groups.values())
        steps.append(PlanStep("feature extraction (cached device parts)", seeds,
                              1, codec_images + evaluated, share))
    steps.append(PlanStep("evaluation (validation + test)", seeds * len(grid), 1, evaluated, FORWARD_SHARE))
    return [s for s in steps if s.runs > 0]


def plan_summary(steps: list[PlanStep], rate: float) -> dict:
    """Totals of ``steps`` at ``rate`` full-network training images per second.

    Returns
    -------
    dict
        ``trainings`` (fine-tunes and codec trainings), ``equivalent_images`` and ``gpu_hours``.
    """
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"the GPU rate must be a positive number of images per second, got {rate!r}")
    seconds = sum(s.seconds(rate) for s in steps)
    trainings = sum(s.runs for s in steps if s.name.startswith(("fine-tune", "codec", "baseline")))
    return {"trainings": trainings, "equivalent_images": sum(s.equivalent_images for s in steps),
            "gpu_hours": seconds / 3600, "rate": rate}


def format_plan(steps: list[PlanStep], rate: float) -> str:
    """The plan as the ``plan`` command prints it: one line per step, then the total."""
    lines = [f"{'step':<42} {'runs':>5} {'epochs':>7} {'images':>8} {'share':>6} {'GPU h':>7}"]
    for s in steps:
        lines.append(f"{s.name:<42} {s.runs:>5} {s.epochs:>7g} {s.images:>8,} {s.network_share:>6.3f} "
                     f"{s.seconds(rate) / 3600:>7.2f}")
    total = plan_summary(steps, rate)
    lines.append(f"{'total':<42} {total['trainings']:>5} trainings, {total['equivalent_images']:,.0f} "
                 f"full-network training images: {total['gpu_hours']:.1f} GPU-hours at {rate:,.0f} images/s")
    return "\n".join(lines)
