"""What a sweep costs before it runs: trainings x epochs x images per step, and the GPU time.

``python -m coinfer plan --preset paper [--gpu-rate IMAGES_PER_S]`` counts, from the sweep's own
cell plan (:func:`coinfer.experiments.sweep.cells`) and the preset's settings, every training,
fitting pass and evaluation the sweep will run, and converts them into time with one measured rate:
full-network training images per second (forward + backward).

Each image of a step costs its **share** of one full-network training step, from the MACs (thop) of
the networks the sweep really runs: a pruned device part after its fine-tune is the compacted one,
2-Step Pruning's second step fine-tunes the network its first step compacted, and a codec's own
encoder and decoder count. A layer whose weights train costs its MACs' share (forward and backward);
a forward pass a third of that (the backward pass costs about twice the forward); and a frozen part
that gradients flow through (the server part behind a codec) two thirds: its backward computes the
gradient to its input only. Distillation adds the teacher's forward pass to every fine-tune.

Two checks keep the model honest: ``benchmarks/plan_shares.py`` times the shares on a machine, and
``benchmarks/plan_check.py`` runs a sweep under PyTorch's FLOP counter and sets the FLOPs it
executed, per step, beside this plan's count. The book's estimate (``book/paper_scale.md``) is this
function's output, not a typed number. :func:`projected_plan` applies what a GPU's device check
measured and the plan counts nowhere (``plan --gpu-report``).

Example::

    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.plan import sweep_plan
    >>> steps = sweep_plan(get_preset("quick"))
    >>> steps[0].name, steps[2].name
    ('baseline', 'fine-tune: pruned device parts')
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

from coinfer.config import Preset
from coinfer.units import check_positive, is_count

#: Full-width ResNet18 training rate measured on one NVIDIA H200 on the path the sweep takes there
#: (``DataPath.for_device``: images held and augmented on the GPU, bf16, channels_last; batch 128,
#: synthetic CIFAR-10 in its on-disk format): images per second. The ``data_path`` check of the
#: committed device report (benchmarks/cuda_check.py, torch 2.11, 2026-12-04), copied here because
#: this layer reads no files; tests/test_plan.py fails when the two differ.
MEASURED_H200_RATE = 13109.3

#: Images of each dataset's own splits, before the validation images are held out of the training split.
TRAINING_IMAGES = {"cifar10": 50_000, "fashion-mnist": 60_000}
TEST_IMAGES = 10_000

#: A forward pass costs about a third of a training step (the backward pass about twice the forward).
FORWARD_SHARE = 1 / 3

#: A frozen part trained through (the server part behind a codec) costs about two thirds of a training
#: step: the forward, and a backward to its input only (its weights take no gradient: one forward's MACs).
FROZEN_TRAINING_SHARE = 2 / 3

#: Passes of the 8-bit Huffman baseline (``original``, 2-Step Pruning) over its training images per record:
#: :func:`~coinfer.experiments.encoding.huffman_8bit`'s two (range, code), for the test and the validation accuracy.
HUFFMAN_FIT_PASSES = 4

#: Its evaluation runs the server part twice per image: on the 8-bit feature and on the float one.
HUFFMAN_SERVER_PASSES = 2


@dataclass(frozen=True)
class PlanStep:
    """One kind of work in a sweep: ``runs`` trainings (or passes) of ``epochs`` over ``images``.

    ``network_share`` is what one image of it costs, as a fraction of one full-network training
    step (1: the whole network, forward and backward); for a step over several networks, their mean.
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


# --------------------------------------------------------------------------------------------
# The networks a sweep runs, and their MACs
# --------------------------------------------------------------------------------------------

def _keep(layout, sparsity: float, output_sparsity: float | None) -> dict[str, list[int]]:
    """Channels kept per group at ``sparsity`` (the sent group at ``output_sparsity``, if given), as
    many as the pruner keeps (:func:`coinfer.core.pruning.smallest_channel_mask`); which ones does
    not change a MAC count."""
    import torch

    from coinfer.core.pruning import smallest_channel_mask

    def kept(channels, s):
        return list(range(int(smallest_channel_mask(torch.zeros(channels), s).sum())))

    return {g.name: kept(g.channels, output_sparsity if g.is_output and output_sparsity is not None else sparsity)
            for g in layout.groups}


@functools.lru_cache(maxsize=None)
def _network(width: float, step1: float = 0.0):
    """The full-width-``width`` ResNet18 the sweep prunes: as built, or compacted at ``step1`` everywhere
    (2-Step Pruning's first step), as its second step receives it. One network per arguments, shared
    by the counts below, which only read it (they compact and profile copies)."""
    import torch

    from coinfer.core.network import CifarResNet18, ResNetConfig, split
    from coinfer.core.pruning import compact, device_layout

    # The plan counts shapes, never values: zeros, not drawn initial values (drawing them took most
    # of the plan's time, and used the global random state).
    with torch.device("meta"):
        model = CifarResNet18(ResNetConfig(width=width))
    model = model.to_empty(device="cpu")
    for tensor in (*model.parameters(), *model.buffers()):
        tensor.detach().zero_()
    if step1 > 0:
        whole, _ = split(model, "output")
        model, _ = compact(whole, _keep(device_layout(whole), step1, None), allocate_only=True)
    return model


@functools.lru_cache(maxsize=None)
def part_macs(width: float, point: str, sparsity: float = 0.0, output_sparsity: float | None = None,
              step1: float = 0.0) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """MACs of the device and server parts the sweep runs at ``point`` once pruning is done.

    The device part pruned to ``sparsity`` (its sent channels to ``output_sparsity``, if given) is
    the compacted one (:func:`coinfer.core.pruning.compact`); the server part is unchanged. With
    ``step1`` > 0 the network is first compacted at that sparsity everywhere (2-Step Pruning's
    first step), as its second step receives it.

    Returns
    -------
    device_macs, server_macs, feature_shape, server_input_shape
        thop MACs per image; the shape the device part sends, and the one the server part takes.

    Examples
    --------
    >>> from coinfer.experiments.plan import part_macs
    >>> whole, _, _, _ = part_macs(1 / 8, "pool")
    >>> half, _, shape, server_shape = part_macs(1 / 8, "pool", 0.5)
    >>> round(half / whole, 2), shape, server_shape
    (0.26, (32,), (64,))
    """
    import torch

    from coinfer.core.costs import thop_macs
    from coinfer.core.network import split
    from coinfer.core.pruning import compact, device_layout

    device, server = split(_network(width, step1), point)
    with torch.no_grad():
        server_shape = tuple(device.eval()(torch.zeros(1, 3, 32, 32)).shape[1:]) if len(device) else (3, 32, 32)
    if len(device) and (sparsity > 0 or output_sparsity):
        device, _ = compact(device, _keep(device_layout(device), sparsity, output_sparsity), allocate_only=True)
    with torch.no_grad():
        shape = tuple(device.eval()(torch.zeros(1, 3, 32, 32)).shape[1:]) if len(device) else (3, 32, 32)
    device_macs = thop_macs(device, (3, 32, 32))[0] if len(device) else 0
    server_macs = thop_macs(server, server_shape)[0] if len(server) else 0
    return device_macs, server_macs, shape, server_shape


@functools.lru_cache(maxsize=None)
def _device_terms(width: float, point: str, step1: float = 0.0) -> tuple[tuple[int, str | None, int, str | None, int], ...]:
    """thop MACs of each module of the unpruned device part at ``point`` (of the network compacted at
    ``step1``, if > 0), with the channel groups they scale with: ``(macs, output group, its channels,
    input group, its channels)`` (None: not pruned)."""
    from coinfer.core.costs import thop_module_macs
    from coinfer.core.network import split
    from coinfer.core.pruning import device_layout

    device, _ = split(_network(width, step1), point)
    layout = device_layout(device)
    channels = {g.name: g.channels for g in layout.groups}
    groups = {}                                              # module path -> (output group, input group)
    for conv in layout.convs:
        groups[conv.conv], groups[conv.bn] = (conv.out_group, conv.in_group), (conv.out_group, None)
    stream = layout.linear_in_group if layout.linear else layout.output_group.name
    if layout.linear:
        groups[layout.linear] = (None, layout.linear_in_group)
    terms = []
    for name, macs in thop_module_macs(device, (3, 32, 32)).items():     # one thop pass, every module's count
        if not macs:
            continue
        if name not in groups and not name.startswith("pool"):
            raise ValueError(f"no channel group scales the MACs of {name!r} in the device part at {point!r}")
        out, inp = groups.get(name, (stream, None))          # the average pool: the stream reaching it
        terms.append((macs, out, channels.get(out, 0), inp, channels.get(inp, 0)))
    return tuple(terms)


@functools.lru_cache(maxsize=None)
def _layout(width: float, point: str, step1: float = 0.0):
    from coinfer.core.network import split
    from coinfer.core.pruning import device_layout

    return device_layout(split(_network(width, step1), point)[0])


@functools.lru_cache(maxsize=None)
def kept_device_macs(width: float, point: str, sparsity: float, output_sparsity: float | None = None,
                     step1: float = 0.0) -> int:
    """thop MACs of the device part at ``point`` with its channels pruned to ``sparsity`` (the sent ones
    to ``output_sparsity``, if given): what :func:`part_macs` counts for the compacted part, from the
    unpruned part's per-module counts (a convolution scales with its kept output and input channels,
    a batch norm, pool or linear layer with one of them), so fast enough for every pruning iteration.
    ``step1``: of the network 2-Step Pruning's first step compacted, as :func:`part_macs`.

    >>> from coinfer.experiments.plan import kept_device_macs, part_macs
    >>> kept_device_macs(1 / 8, "layer2.1", 0.3) == part_macs(1 / 8, "layer2.1", 0.3)[0]
    True
    """
    kept = {g: len(k) for g, k in _keep(_layout(width, point, step1), sparsity, output_sparsity).items()}
    macs = 0.0
    for count, out, out_channels, inp, in_channels in _device_terms(width, point, step1):
        for group, channels in ((out, out_channels), (inp, in_channels)):
            if group is not None:
                count = count * kept[group] / channels
        macs += count
    return round(macs)


def fine_tune_share(prune, width: float, point: str, sparsity: float, steps: int, kept_channels: bool,
                    step1: float = 0.0) -> float:
    """One image of a pruning fine-tune at (``point``, ``sparsity``) of ``steps`` training steps under
    the settings ``prune`` (a :class:`~coinfer.config.PruneSettings`), as a share of a full-network
    training step (the teacher's forward not included). ``step1`` > 0: the fine-tune of the network
    2-Step Pruning's first step compacted at that sparsity (its second step).

    Masked at full width (``kept_channels`` False) every step costs the whole network it fine-tunes.
    On the kept channels (:class:`coinfer.core.kept_channels.KeptChannelsNetwork`) each pruning
    iteration costs the device part compacted to that iteration's sparsity, plus the unchanged
    server part; by Taylor importance the first iteration prunes nothing (no gradient seen yet).
    """
    schedule, output = prune.schedule, prune.output_sparsity
    device, server, _, _ = part_macs(width, point, step1=step1)
    total = sum(part_macs(width, "input")[:2])
    if not kept_channels or (sparsity == 0 and not output):
        return (device + server) / total
    spent = 0.0
    for i in range(schedule.iterations(steps)):
        fraction = 0.0 if i == 0 and prune.criterion == "taylor" else schedule.fraction(i, steps)
        iteration_steps = min(schedule.interval, steps - i * schedule.interval)
        pruned = kept_device_macs(width, point, fraction * sparsity, None if output is None else fraction * output,
                                  step1)
        spent += iteration_steps * (pruned + server)
    return spent / steps / total


@functools.lru_cache(maxsize=None)
def codec_macs(feature_shape: tuple[int, ...], code_size: str, config, server_shape: tuple[int, ...] | None = None,
               bottlenet_reduction: int = 0) -> tuple[int, int, int]:
    """``(encoder MACs, decoder MACs, fitting passes)`` of the codec the sweep builds for a feature of
    ``feature_shape`` (its decoder restores ``server_shape``) under the encoding settings ``config``:
    the framework's ``code_size``, or BottleNet++'s at ``bottlenet_reduction``. Fitting passes: what
    :func:`coinfer.experiments.encoding.fitting_passes` counts for it."""
    import torch

    from coinfer.core.baselines import bottlenet_channels, bottlenet_codec
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import fitting_passes

    if bottlenet_reduction:
        codec = bottlenet_codec(feature_shape, bottlenet_channels(feature_shape, bottlenet_reduction),
                                config.kernel_size)
    else:
        codec = build_codec(feature_shape, config.code_size_at(code_size, feature_shape), config.kernel_size,
                            output_shape=server_shape)
    with torch.no_grad():
        z_shape = tuple(codec.encoder(torch.zeros(2, *feature_shape)).shape[1:])
    return codec.encoder_macs(feature_shape), codec.decoder_macs(z_shape), fitting_passes([codec])


@functools.lru_cache(maxsize=None)
def warm_up_groups(feature_shape: tuple[int, ...], code_sizes: tuple[str, ...], config,
                   server_shape: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], ...]:
    """Indices of ``code_sizes`` that share one warm-up when trained together at a feature of
    ``feature_shape``: :func:`coinfer.experiments.encoding.warm_up_twins` on the codecs the sweep
    builds for them (each from the same seed, as
    :func:`coinfer.experiments.encoding.codec_records` builds them)."""
    import torch

    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import warm_up_twins

    codecs = []
    with torch.random.fork_rng(devices=[]):           # the caller's random state stays as it was
        for code in code_sizes:
            torch.manual_seed(0)
            codecs.append(build_codec(feature_shape, config.code_size_at(code, feature_shape), config.kernel_size,
                                      config.temperature, config.commitment, output_shape=server_shape))
    return tuple(tuple(group) for group in warm_up_twins(codecs))


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------

def _available(preset: Preset, limit: int | None, train_images: int) -> int:
    available = train_images - preset.validation.images
    return available if limit is None else min(limit, available)


def fine_tune_steps(preset: Preset, prune=None) -> int:
    """Optimizer steps of one pruning fine-tune (every method's budget per configuration): the epochs
    of ``prune`` (default ``preset.pruning``, the pruning table's; the sweep's cells use
    :func:`coinfer.experiments.sweep.prune_settings`, its ``sweep.prune`` overrides applied) over the
    training images left after the validation split (at most ``train_limit``), in batches of ``batch_size``.

    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.plan import fine_tune_steps
    >>> fine_tune_steps(get_preset("quick")), fine_tune_steps(get_preset("paper"))
    (200, 35200)
    """
    prune = preset.pruning if prune is None else prune
    images = _available(preset, prune.train_limit, TRAINING_IMAGES[preset.dataset])
    return prune.epochs * math.ceil(images / prune.batch_size)


def _check_seeds(seeds) -> None:
    """A ValueError unless ``seeds`` is a count of training seeds (every plan's ``seeds``)."""
    if not is_count(seeds):
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


#: The baseline's steps: the sweep trains and evaluates it once, alone, before any worker starts
#: (:meth:`coinfer.experiments.sweep.SweepRunner.pending`).
BASELINE_STEPS = ("baseline", "baseline evaluation (validation + test)")

#: The steps every table shares with the sweep, left out of another table's plan (``shared=True``).
SHARED_STEPS = (*BASELINE_STEPS, "fine-tune: unpruned control")


def sweep_plan(preset: Preset, seeds: int = 1, together: bool = True,
               dataset_images: tuple[int, int] | None = None, kept_channels: bool | None = None,
               grid: list | None = None, shared: bool = False) -> list[PlanStep]:
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
        (:func:`coinfer.experiments.encoding.train_codecs`), and BottleNet++'s reductions of one split
        point alike; False prices one pass per code.
    dataset_images : (int, int), optional
        Training and test images of the dataset (default: the real dataset's,
        ``TRAINING_IMAGES`` and ``TEST_IMAGES``); a tiny test dataset is smaller.
    kept_channels : bool, optional
        Whether the pruning fine-tunes compute on the kept channels only (:func:`fine_tune_share`);
        default: what the GPU path does (``DataPath.for_device("cuda").kept_channels``: no, since the
        device check measured them slower on an H200).
    grid : list of Cell, optional
        The cells to price (default the sweep's, :func:`coinfer.experiments.sweep.cells`), e.g. another
        table's cells that the sweep has not (:mod:`coinfer.experiments.plan_tables`).
    shared : bool
        Leave out :data:`SHARED_STEPS`: the baseline and the unpruned control, which the sweep trains.

    Returns
    -------
    list of PlanStep
        Baseline, pruning fine-tunes (the framework's pruned parts and the unpruned control), 2-Step
        Pruning's steps, codec warm-ups (one per group of codes that warm up alike) and trainings,
        their fitting passes, feature extraction where features are cached, and evaluation. Steps
        with no run are left out.
    """
    from coinfer.core.encoding import CodeSize
    from coinfer.experiments.baselines import taylor_settings
    from coinfer.experiments.sweep import cells, encode_settings, prune_settings
    from coinfer.tensor_data import DataPath

    _check_seeds(seeds)
    train_total, test_total = dataset_images or (TRAINING_IMAGES[preset.dataset], TEST_IMAGES)
    grid = cells(preset) if grid is None else list(grid)
    prune, enc = prune_settings(preset), encode_settings(preset)
    width = preset.width
    total = sum(part_macs(width, "input")[:2])
    cached = enc.precompute
    teacher = FORWARD_SHARE if prune.distill_weight > 0 else 0.0     # the baseline's forward pass

    def parts(c):
        """(device, server) shares of ``c``'s networks and (feature, server input) shapes."""
        if c.method == "2-step-pruning":
            d, s, shape, server_shape = part_macs(width, c.split, 0.0, float(c.setting[3:]), step1=c.sparsity)
        elif c.method == "framework" and c.sparsity > 0:
            d, s, shape, server_shape = part_macs(width, c.split, c.sparsity, prune.output_sparsity)
        else:
            d, s, shape, server_shape = part_macs(width, c.split)
        return d / total, s / total, shape, server_shape

    def codec(c):
        """(encoder, decoder) shares and fitting passes of ``c``'s codec."""
        _, _, shape, server_shape = parts(c)
        reduction = int(c.setting[1:]) if c.method == "bottlenet++" else 0
        e, d, passes = codec_macs(shape, "" if reduction else c.setting, enc,
                                  server_shape if shape != server_shape else None, reduction)
        return e / total, d / total, passes

    fine_tune = _available(preset, prune.train_limit, train_total)
    codec_images = _available(preset, enc.train_limit, train_total)
    huffman_images = min(enc.huffman_train_images, codec_images)
    # The sweep's cells evaluate at most test_limit images of each part, the held-out ones too (SweepRunner.dataset).
    limit = enc.test_limit or test_total
    evaluated = min(limit, preset.validation.images) + min(limit, test_total)
    framework = [c for c in grid if c.method == "framework"]
    bottlenet = [c for c in grid if c.method == "bottlenet++"]
    two_step = [c for c in grid if c.method == "2-step-pruning"]
    huffman = [c for c in grid if c.method in ("original", "2-step-pruning")]
    pruned = {(c.split, c.sparsity) for c in framework if c.sparsity > 0}
    if kept_channels is None:
        kept_channels = DataPath.for_device("cuda").kept_channels
    fine_tune_steps = prune.epochs * math.ceil(fine_tune / prune.batch_size)
    pruned_share = _mean(fine_tune_share(prune, width, point, sparsity, fine_tune_steps, kept_channels)
                         for point, sparsity in sorted(pruned))

    # Training passes of the framework's codes: without a feature cache, those of one (split,
    # sparsity) together (the ones with a learned prior in a pass of their own), each pass running
    # the device part forward per batch once; BottleNet++'s of one split point alike; on cached
    # features one code at a time, as the sweep does.
    def training_pass(c):
        if together and not cached and c.method == "framework":
            return c.shares, CodeSize.parse(c.setting).rate_weight is not None
        if together and not cached and c.method == "bottlenet++":
            return c.shares
        return c.id

    rerun = 0 if cached else 1          # cached features: the device part ran once, before (extraction)
    passes: dict = {}
    for c in framework:
        passes.setdefault(training_pass(c), []).append(c)

    def warm_ups(group):
        """The cells of one training pass that run a warm-up: one per group of twins (codes built alike
        warm up alike; :func:`coinfer.experiments.encoding.warm_up_twins`)."""
        _, _, shape, server_shape = parts(group[0])
        twins = warm_up_groups(shape, tuple(c.setting for c in group), enc, server_shape if shape != server_shape else None)
        return [group[t[0]] for t in twins]

    warming = {key: warm_ups(group) for key, group in passes.items()}
    bottlenet_passes: dict = {}
    for c in bottlenet:
        bottlenet_passes.setdefault(training_pass(c), []).append(c)

    def codec_step(c, shared_by=1):
        """One image of ``c``'s codec training step: the frozen server part trained through, the codec,
        and the device part's forward where features are not cached (shared by ``shared_by`` codecs)."""
        device, server, _, _ = parts(c)
        encoder, decoder, _ = codec(c)
        return FROZEN_TRAINING_SHARE * server + encoder + decoder + rerun * FORWARD_SHARE * device / shared_by

    def fitting_pass(group):
        device = parts(group[0])[0]
        return FORWARD_SHARE * (rerun * device + sum(codec(c)[0] for c in group))

    def evaluation(c):
        device, server, _, _ = parts(c)
        if c.method in ("original", "2-step-pruning"):
            return FORWARD_SHARE * (device + HUFFMAN_SERVER_PASSES * server)
        encoder, decoder, _ = codec(c)
        return FORWARD_SHARE * (rerun * device + encoder + decoder + server)

    fitted = [group for group in passes.values() if codec(group[0])[2]]
    fitting_passes = [codec(group[0])[2] for group in fitted]
    # 2-Step Pruning (Taylor importance): step 1 prunes the whole network, step 2 the sent channels of
    # the network step 1 compacted; each on half the fine-tuning images (one budget for both steps).
    taylor = taylor_settings(prune)
    half_steps = prune.epochs * math.ceil((fine_tune // 2) / prune.batch_size)
    step1 = [fine_tune_share(taylor, width, "output", s, half_steps, kept_channels)
             for s in sorted({c.sparsity for c in two_step})]
    step2 = [fine_tune_share(replace(taylor, output_sparsity=float(c.setting[3:])), width, c.split, 0.0, half_steps,
                             kept_channels, step1=c.sparsity) for c in two_step]
    evaluated_cells = framework + bottlenet + huffman
    steps = [
        PlanStep("baseline", 1, preset.baseline.epochs, _available(preset, preset.baseline.train_limit, train_total),
                 1.0),
        PlanStep("baseline evaluation (validation + test)", 1, 1, preset.validation.images + test_total,
                 FORWARD_SHARE),
        PlanStep("fine-tune: pruned device parts", seeds * len(pruned), prune.epochs, fine_tune, pruned_share + teacher),
        PlanStep("fine-tune: unpruned control", seeds * (1 if any(c.sparsity == 0 for c in framework + bottlenet) else 0),
                 prune.epochs, fine_tune, 1.0 + teacher),
        # Its two steps share one fine-tuning budget: half the images each; the second fine-tunes
        # the network the first compacted.
        PlanStep("fine-tune: 2-Step Pruning, step 1", seeds * len({c.sparsity for c in two_step}), prune.epochs,
                 fine_tune // 2, _mean(step1) + teacher),
        PlanStep("fine-tune: 2-Step Pruning, step 2", seeds * len(two_step), prune.epochs, fine_tune // 2,
                 _mean(step2) + teacher),
        # The unquantized warm-up: one run per group of twins in a pass, the pass's device forward shared by them.
        PlanStep("codec warm-up: framework", seeds * sum(map(len, warming.values())), enc.warmup_epochs, codec_images,
                 _mean(codec_step(c, len(w)) for w in warming.values() for c in w)),
        PlanStep("codec training: framework", seeds * len(framework), enc.epochs, codec_images,
                 _mean(codec_step(c, len(passes[training_pass(c)])) for c in framework)),
        # BottleNet++ trains without the warm-up for the framework's warm-up and quantized epochs together,
        # its reductions at one split point in one pass like the framework's codes
        # (coinfer.experiments.baselines.bottlenet_records).
        PlanStep("codec training: BottleNet++", seeds * len(bottlenet), enc.warmup_epochs + enc.epochs, codec_images,
                 _mean(codec_step(c, len(bottlenet_passes[training_pass(c)])) for c in bottlenet)),
        PlanStep("codec fitting passes (k-means, entropy model)", seeds * len(fitted),
                 _mean(fitting_passes) if fitted else 0, codec_images, _mean(fitting_pass(g) for g in fitted)),
        PlanStep("8-bit Huffman fitting passes", seeds * len(huffman), HUFFMAN_FIT_PASSES, huffman_images,
                 _mean(FORWARD_SHARE * parts(c)[0] for c in huffman)),
    ]
    if cached:
        groups = {c.shares: c for c in framework + bottlenet}
        steps.append(PlanStep("feature extraction (cached device parts)", seeds * len(groups), 1,
                              codec_images + evaluated, _mean(FORWARD_SHARE * parts(c)[0] for c in groups.values())))
    steps.append(PlanStep("evaluation (validation + test)", seeds * len(evaluated_cells), 1, evaluated,
                          _mean(evaluation(c) for c in evaluated_cells)))
    return [s for s in steps if s.runs > 0 and s.epochs > 0 and not (shared and s.name in SHARED_STEPS)]


def plan_summary(steps: list[PlanStep], rate: float) -> dict:
    """Totals of ``steps`` at ``rate`` full-network training images per second.

    Returns
    -------
    dict
        ``trainings`` (fine-tunes and codec trainings), ``equivalent_images`` and ``gpu_hours``.
    """
    check_positive("the GPU rate (images per second)", rate)
    seconds = sum(s.seconds(rate) for s in steps)
    trainings = sum(s.runs for s in steps if s.name.startswith(("fine-tune", "codec training", "baseline"))
                    and "evaluation" not in s.name)
    return {"trainings": trainings, "equivalent_images": sum(s.equivalent_images for s in steps),
            "gpu_hours": seconds / 3600, "rate": rate}


def format_plan(steps: list[PlanStep], rate: float) -> str:
    """The plan as the ``plan`` command prints it: one line per step, then the total."""
    lines = [f"{'step':<46} {'runs':>5} {'epochs':>7} {'images':>8} {'share':>6} {'GPU h':>7}"]
    for s in steps:
        lines.append(f"{s.name:<46} {s.runs:>5} {s.epochs:>7g} {s.images:>8,} {s.network_share:>6.3f} "
                     f"{s.seconds(rate) / 3600:>7.2f}")
    total = plan_summary(steps, rate)
    lines.append(f"{'total':<46} {total['trainings']:>5} trainings, {total['equivalent_images']:,.0f} "
                 f"full-network training images: {total['gpu_hours']:.1f} GPU-hours at {rate:,.0f} images/s")
    return "\n".join(lines)


#: Savings that a device check (``benchmarks/cuda_check.py``) measures as ratios of two times and the
#: plan counts none of, since they change no arithmetic: the steps each was measured on. The codes'
#: stacked server pass and folded batch norms are on for CUDA; the compiled frozen parts only on
#: request (``COINFER_COMPILE``).
RATE_FACTORS = {
    "stack": ("codec warm-up: framework", "codec training: framework"),
    "fold": ("codec warm-up: framework", "codec training: framework"),
    "stack_bottlenet": ("codec training: BottleNet++",),
    "fold_bottlenet": ("codec training: BottleNet++",),
    "compile_frozen": ("codec warm-up: framework", "codec training: framework"),
    # Priced over measured, the codes' epochs as a cell trains them on the GPU path (benchmarks/codec_steps.py):
    # it includes the stacking and folding, which it replaces (CALIBRATED).
    "codec_step": ("codec warm-up: framework", "codec training: framework"),
    "codec_step_bottlenet": ("codec training: BottleNet++",),
}
#: A measured step rate and the savings it already includes.
CALIBRATED = {"codec_step": ("stack", "fold"), "codec_step_bottlenet": ("stack_bottlenet", "fold_bottlenet")}

#: The codec steps: those a codec-training concurrency factor (``codec_concurrency_<N>``) applies to.
CODEC_STEPS = frozenset(RATE_FACTORS["stack"] + RATE_FACTORS["stack_bottlenet"])

#: The whole-network trainings that ``COINFER_COMPILE=1`` compiles (``DataPath.compile``, CUDA graphs on
#: CUDA): the baseline and every fine-tune but 2-Step Pruning's first, whose Taylor importance hooks
#: keep it eager (:func:`coinfer.experiments.pruning.prune_finetune`). The device check measures the
#: factor on the full-width network and the projection extrapolates it to 2-Step Pruning's second step,
#: which trains a compacted, smaller one (whose steps wait on launches no less).
COMPILED_STEPS = ("baseline", "fine-tune: pruned device parts", "fine-tune: unpruned control",
                  "fine-tune: 2-Step Pruning, step 2")


def projected_plan(steps: list[PlanStep], factors: dict[str, float], compile_frozen: bool = False,
                   workers: int = 1, compile_networks: bool = False) -> tuple[list[PlanStep], dict[str, list[str]]]:
    """``steps`` as a GPU whose device check measured ``factors`` would run them.

    Each step of :data:`RATE_FACTORS` costs its share divided by the factors measured for it (the
    compiled frozen parts' only with ``compile_frozen``, compilation aside), and with ``workers`` > 1
    every step but the baseline's (:data:`BASELINE_STEPS`, trained alone before the workers start) is
    divided by ``concurrency_<workers>``, the images/s of that many trainings at once over one alone;
    a codec step (one the stacked server pass applies to) by ``codec_concurrency_<workers>`` instead
    where that was measured: that many processes each training one split point's codes together.
    With ``compile_networks`` (``COINFER_COMPILE=1``) the trainings of :data:`COMPILED_STEPS` take the
    compiled factors instead: ``compile`` (one compiled training over one uncompiled) alone or
    before the workers start, ``compiled_concurrency_<workers>`` (that many compiled at once over one
    uncompiled) in place of ``concurrency_<workers>``.
    A factor below 1 (a slowdown) counts as measured; a measured step rate (``codec_step``) replaces the
    savings it includes (:data:`CALIBRATED`). Savings the plan already counts (codes together, the kept
    channels where priced on them) are not applied again; the rate (the new data path's) is the caller's.

    Parameters
    ----------
    steps : list of PlanStep
        :func:`sweep_plan`'s.
    factors : dict
        Name to measured factor (``benchmarks/cuda_check.py``'s ``factors``); missing ones apply nothing.
    compile_frozen : bool
        Whether the sweep runs with the frozen parts compiled.
    workers : int
        Trainings at once on the one GPU (``sweep --workers``).
    compile_networks : bool
        Whether the sweep compiles the networks it trains (``COINFER_COMPILE=1``).

    Returns
    -------
    (list of PlanStep, dict)
        The steps with their shares divided, and for each step the names of the factors it took.

    Raises
    ------
    ValueError
        If ``workers`` (compiled or not, as asked) has no measured factor, or a factor is not > 0.

    >>> steps = [PlanStep("codec training: framework", 1, 1, 100, 0.5), PlanStep("baseline", 1, 1, 100, 1.0)]
    >>> projected, used = projected_plan(steps, {"stack": 2.0, "concurrency_2": 1.25}, workers=2)
    >>> [s.network_share for s in projected], used["codec training: framework"], used["baseline"]
    ([0.2, 1.0], ['stack', 'concurrency_2'], [])
    >>> projected_plan(steps, {"stack": 2.0, "concurrency_2": 1.25, "codec_concurrency_2": 1.6},
    ...                workers=2)[1]["codec training: framework"]
    ['stack', 'codec_concurrency_2']
    >>> projected_plan(steps, {"stack": 2.0, "codec_step": 0.5})[1]["codec training: framework"]
    ['codec_step']
    >>> projected_plan([PlanStep("fine-tune: pruned device parts", 1, 1, 100, 1.0)], {"compile": 2.0},
    ...                compile_networks=True)[1]
    {'fine-tune: pruned device parts': ['compile']}
    """
    if not is_count(workers):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    concurrency = f"concurrency_{workers}"
    compiled = f"compiled_concurrency_{workers}" if workers > 1 else "compile"
    # The baseline trains alone before the workers start: compiled, it takes ``compile`` in any case.
    needed = ([concurrency] if workers > 1 else []) + (["compile"] if compile_networks else []) + (
        [compiled] if compile_networks and workers > 1 else [])
    missing = [name for name in needed if name not in factors]
    if missing:
        measured = sorted(k for k in factors if "concurrency_" in k or k == "compile")
        raise ValueError(f"no measured factor for {workers} worker(s){', compiled' if compile_networks else ''} "
                         f"({', '.join(missing)}); measured: {measured or 'none'}")
    for name, factor in factors.items():
        check_positive(f"factor {name!r}", factor)
    projected, used = [], {}
    for step in steps:
        names = [n for n, applies in RATE_FACTORS.items() if step.name in applies and n in factors
                 and (compile_frozen or n != "compile_frozen")]
        names = [n for n in names if not any(n in CALIBRATED.get(m, ()) for m in names)]
        codecs = f"codec_{concurrency}" if step.name in CODEC_STEPS and f"codec_{concurrency}" in factors else None
        if compile_networks and step.name in COMPILED_STEPS:
            names += ["compile" if step.name in BASELINE_STEPS else compiled]     # compiled: "compile" alone
        elif workers > 1 and step.name not in BASELINE_STEPS:
            names += [codecs or concurrency]
        projected.append(replace(step, network_share=step.network_share / math.prod(factors[n] for n in names)))
        used[step.name] = names
    return projected, used


#: ``COINFER_COMPILE``'s settings as the projection takes them: (frozen parts, trained networks) compiled.
COMPILE_MODES = {"0": (False, False), "frozen": (True, False), "1": (True, True)}


def projected_hours(steps: list[PlanStep], factors: dict[str, float], rate: float) -> dict[tuple[int, str], float]:
    """GPU-hours of ``steps`` at ``rate`` in every configuration a device check measured: each worker
    count with a ``concurrency_<N>`` factor (and one worker), under each ``COINFER_COMPILE`` setting
    of :data:`COMPILE_MODES` whose factors it measured (``frozen``: ``compile_frozen``; ``1``:
    ``compile`` and, with workers, ``compiled_concurrency_<N>``, with ``compile_frozen`` where it was
    measured). Keys ``(workers, setting)``;
    ``(1, "0")`` is the GPU path's default.

    >>> steps = [PlanStep("codec training: framework", 1, 1, 3600, 1.0)]
    >>> projected_hours(steps, {"compile_frozen": 2.0, "concurrency_2": 1.5}, rate=1.0)
    {(1, '0'): 1.0, (1, 'frozen'): 0.5, (2, '0'): 0.6666666666666666, (2, 'frozen'): 0.3333333333333333}
    """
    workers = [1] + sorted(int(k.split("_")[1]) for k in factors
                           if k.startswith("concurrency_") and k != "concurrency_1")
    hours = {}
    for n in workers:
        for mode, (frozen, networks) in COMPILE_MODES.items():
            if mode == "frozen" and "compile_frozen" not in factors:
                continue
            if networks and ("compile" not in factors or (n > 1 and f"compiled_concurrency_{n}" not in factors)):
                continue
            hours[n, mode] = plan_summary(projected_plan(steps, factors, frozen, n, networks)[0], rate)["gpu_hours"]
    return hours
