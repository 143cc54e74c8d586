"""The pruning experiment (Shao & Zhang 2020, section III-C): pruned device parts and their lookup table.

For every (split point, sparsity) of a preset's :class:`~coinfer.config.PruneSettings`, a copy of the
preset's baseline is pruned by :class:`coinfer.core.pruning.IncrementalPruner` while the whole
network is fine-tuned (:func:`prune_finetune`, on :func:`coinfer.train.fit`), compacted, profiled
and evaluated on the validation and test splits: one :class:`~coinfer.results.Record` each, in the
table ``pruning_<preset>.json``. The fine-tuning recipe (:func:`fine_tune_optimizer`, distillation
from the baseline) is the one every method that fine-tunes uses; :func:`fine_tune` applies it
without pruning (the table's control, and the unpruned start of the sweep's methods).

Command line (one lookup table per preset, one record per (split point, sparsity) and the control;
means over seeds 0, 1, 2)::

    python -m coinfer run pruning --preset quick --threads 1   # data/results/pruning_quick.json
    python -m coinfer run pruning --preset paper               # CIFAR-10, full width, 100 epochs per point: a GPU, hours

A quick fine-tune is 200 steps of 128 images: 0.18 s of one CPU core per step with the teacher's
forward passes (0.15 s without), measured with ``time.process_time`` on the shared 2-core machine;
ten fine-tunes per seed, each followed by evaluating 15,000 images.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from coinfer.config import Preset, PruneSettings
from coinfer.core.kept_channels import KeptChannelsNetwork
from coinfer.core.network import CifarResNet18, ResNetConfig
from coinfer.core.network import split as split_stages
from coinfer.core.pruning import IncrementalPruner, PrunedModel, check_sparsity, prunable_split_point, pruned_costs
from coinfer.results import LookupTable, Provenance, Record
from coinfer.tensor_data import DataPath, training_batches
from coinfer.train import (default_device, evaluate, fit, get_baseline, load_checkpoint,
                           save_checkpoint, seed_everything)
from coinfer.units import is_count

#: The method name of the pruning table's records.
METHOD = "framework-pruned"
#: The method name of its unpruned control: the baseline fine-tuned by the same recipe.
CONTROL_METHOD = "fine-tuned-control"


def fine_tune_optimizer(model: nn.Module, settings: PruneSettings, steps_per_epoch: int):
    """The recipe's optimizer over all of ``model``'s parameters and its per-step learning-rate schedule.

    Parameters
    ----------
    model : torch.nn.Module
        The network to fine-tune.
    settings : PruneSettings
        ``optimizer``, ``lr``, ``weight_decay``, ``lr_schedule`` and its fields, ``epochs``.
    steps_per_epoch : int
        Batches per epoch (the schedule is stepped once per batch).

    Returns
    -------
    optimizer, scheduler
        A :class:`torch.optim.Optimizer` and a scheduler to step once per batch.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.experiments.pruning import fine_tune_optimizer
    >>> settings = get_preset("quick", **{"pruning.lr_schedule": "cosine", "pruning.warmup_fraction": 0.1,
    ...                                    "pruning.lr": 1e-3, "pruning.epochs": 1}).pruning
    >>> opt, sched = fine_tune_optimizer(resnet18(width=1 / 16), settings, steps_per_epoch=100)
    >>> rates = []
    >>> for _ in range(100):
    ...     rates.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
    >>> rates[0], max(rates), round(rates[-1], 7)       # from 0, up to the peak, down to ~0
    (0.0, 0.001, 3e-07)
    """
    if not is_count(steps_per_epoch):
        raise ValueError(f"steps_per_epoch must be a positive number of batches, got {steps_per_epoch!r}")
    if settings.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.9, nesterov=True,
                                    weight_decay=settings.weight_decay)
    if settings.lr_schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step_epochs * steps_per_epoch,
                                                    gamma=settings.lr_gamma)
    else:
        total = settings.epochs * steps_per_epoch
        warmup = round(settings.warmup_fraction * total)

        def factor(step: int) -> float:
            # Linear warm-up to the peak (step 0 at 0: a fresh Adam's first updates are its largest),
            # then a half cosine that reaches 0 one step after the last.
            if step < warmup:
                return step / warmup
            return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return optimizer, scheduler


def fine_tune_batches(train_set, settings: PruneSettings, seed: int, device: torch.device | str):
    """The fine-tuning batches of ``train_set`` for ``device``: :func:`coinfer.tensor_data.training_batches`.

    On a CUDA device the images are held there and augmented there (:class:`~coinfer.tensor_data.ResidentLoader`);
    on the CPU this is :func:`coinfer.data.make_loader` with ``shuffle=True`` and ``seed``, exactly as
    before the device path existed. Pair it with :func:`prune_finetune` on the same ``device``: both
    follow :meth:`coinfer.tensor_data.DataPath.for_device`.

    Parameters
    ----------
    train_set : Dataset
        From :func:`coinfer.data.load_split` (augmented or not), or a ``Subset`` of it.
    settings : PruneSettings
        Its ``batch_size``.
    seed : int
        The batch order's (and the device augmentation's) seed.
    device : torch.device or str

    Returns
    -------
    ResidentLoader or torch.utils.data.DataLoader
    """
    return training_batches(train_set, settings.batch_size, seed, device)


def prune_finetune(model: nn.Module, point: str, sparsity: float, settings: PruneSettings, train_loader,
                   device: torch.device | None = None, desc: str | None = None,
                   teacher: nn.Module | None = None, path: DataPath | None = None) -> PrunedModel:
    """Prune ``model``'s device part at ``point`` to ``sparsity`` while fine-tuning the whole network.

    ``model`` is changed in place (pass a copy of the baseline). Seed before calling for repeatable
    numbers. The recipe is the settings' (:func:`fine_tune_optimizer`, stepped per batch; with
    ``settings.distill_weight`` > 0, distillation from ``teacher`` through :func:`coinfer.train.fit`);
    the pruner refreshes its masks through :func:`coinfer.train.fit`'s ``on_step`` and keeps masked
    weights at zero through optimizer hooks. At sparsity 0 nothing is pruned: that is
    :func:`fine_tune`. How the batches are computed is ``path``'s (default
    :meth:`coinfer.tensor_data.DataPath.for_device`: on CUDA bf16 autocast and channels_last; with
    ``DataPath(kept_channels=True)`` the device part computed on its kept channels only
    (:class:`~coinfer.core.kept_channels.KeptChannelsNetwork`, by either criterion), which
    ``for_device`` leaves off as slower on an H200, with :func:`fine_tune_batches` for ``train_loader``; on the CPU
    float32 at full width as always); the returned model is the full-width masked one, in the
    ordinary memory layout, either way.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~coinfer.core.network.CifarResNet18` or a compacted stage sequence
        (:func:`coinfer.core.network.split`).
    point : str
        Split point whose device part is pruned (one with a convolution).
    sparsity : float
        Target fraction of channels masked per group, in [0, 1).
    settings : PruneSettings
        Epochs, optimizer, schedule, criterion (a preset's ``pruning``).
    train_loader : iterable
        Training batches, iterated once per epoch.
    device : torch.device, optional
        Default: where the model is.
    desc : str, optional
        Progress bar label.
    teacher : torch.nn.Module, optional
        The network distilled from when ``settings.distill_weight`` > 0 (default: a frozen copy of
        ``model`` as it is passed in, i.e. the baseline); ignored without distillation.
    path : DataPath, optional
        Precision, memory layout and compilation of the training (default
        ``DataPath.for_device(device)``); ``train_loader`` should come from the same path.

    Returns
    -------
    PrunedModel
        The masked model, its kept channels per group, and metadata (losses, steps, time).

    Examples
    --------
    >>> import torch
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.experiments.pruning import prune_finetune
    >>> batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(2)]
    >>> settings = get_preset("quick", **{"pruning.schedule.interval": 1}).pruning
    >>> pruned = prune_finetune(resnet18(width=1 / 16), "layer2.1", 0.5, settings, batches)
    >>> pruned.split, len(pruned.keep["layer2_0"])
    ('layer2.1', 4)
    """
    point = prunable_split_point(point)
    sparsity = check_sparsity(sparsity)
    device = torch.device(device or next(model.parameters()).device)
    path = path or DataPath.for_device(device)
    if path.compile and settings.criterion == "taylor":
        # Taylor importance keeps tensors from hooks on every batch norm's output and gradient; a
        # compiled step (CUDA graphs) would overwrite them at its next replay. That fine-tune runs eagerly.
        path = replace(path, compile=False)
    model = model.to(device)
    distill = {}
    if settings.distill_weight > 0:
        # A copy, moved and frozen here: the caller's network (often the shared baseline) is untouched.
        teacher = copy.deepcopy(model if teacher is None else teacher).requires_grad_(False)
        distill = {"teacher": path.prepare(teacher.to(device).eval()), "distill_weight": settings.distill_weight,
                   "temperature": settings.distill_temperature}
    device_part, server_part = split_stages(model, point)
    total_steps = settings.epochs * len(train_loader)
    pruner = IncrementalPruner(device_part, sparsity, total_steps, settings.output_sparsity, settings.schedule,
                               settings.criterion)
    optimizer, scheduler = fine_tune_optimizer(model, settings, len(train_loader))
    pruner.attach(optimizer)
    # The same training on the kept channels only, where the path asks for it and something is pruned.
    kept = path.kept_channels and (pruner.sparsity > 0 or pruner.output_sparsity > 0)
    trained = KeptChannelsNetwork(pruner, server_part) if kept else model
    start = time.time()
    try:
        # path.prepare changes the layout in place (the same parameters): the pruner and optimizer still hold them.
        losses = fit(path.prepare(trained), train_loader, optimizer=optimizer, epochs=settings.epochs,
                     scheduler=scheduler, device=device, desc=desc or f"prune {point} s={sparsity:g}",
                     on_step=pruner.step, autocast=path.dtype, **distill)
    finally:
        pruner.detach()
        if path.channels_last:             # compacted, saved and evaluated in the layout of the CPU path
            model = model.to(memory_format=torch.contiguous_format)
    pruner.finish()
    model.eval()
    meta = {"kind": "pruned", "split": point, "sparsity": sparsity, "output_sparsity": pruner.output_sparsity,
            "train_loss": losses, "train_steps": total_steps, "iterations": pruner.n_iterations,
            "fine_tune_s": round(time.time() - start, 1), "config": settings.to_dict()}
    return PrunedModel(point, sparsity, pruner.output_sparsity, model, pruner.keep_indices(), meta)


def unpruned_control(model: nn.Module, settings: PruneSettings, train_loader, device: torch.device | None = None,
                     teacher: nn.Module | None = None, desc: str = "control: fine-tune, no pruning",
                     path: DataPath | None = None) -> PrunedModel:
    """The recipe's unpruned control: ``model`` (changed in place) fine-tuned by ``settings`` with nothing pruned.

    :func:`prune_finetune` at sparsity 0 with every output kept (whatever ``settings.output_sparsity``
    says), split at ``"output"``: what every unpruned method starts from, so that every method has
    had the same fine-tuning, and the pruning table's control. The split point does not matter when
    nothing is pruned (the same weights at any split point, to the last bit).

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~coinfer.core.network.CifarResNet18` (pass a copy of the baseline).
    settings : PruneSettings
        The recipe (its splits, sparsities and output sparsity are ignored).
    train_loader : iterable
        Training batches, iterated once per epoch.
    device : torch.device, optional
        Default: where the model is.
    teacher : torch.nn.Module, optional
        Distilled from (default: a frozen copy of ``model`` as passed in).
    desc : str
        Progress bar label.
    path : DataPath, optional
        As for :func:`prune_finetune`.

    Returns
    -------
    PrunedModel
        At split ``"output"``, sparsity 0, every channel kept; ``meta`` as :func:`prune_finetune`'s.

    Examples
    --------
    >>> import torch
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.experiments.pruning import unpruned_control
    >>> batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(2)]
    >>> control = unpruned_control(resnet18(width=1 / 16), get_preset("quick").pruning, batches)
    >>> control.split, control.sparsity, control.output_sparsity, control.meta["train_steps"]
    ('output', 0.0, 0.0, 2)
    """
    from dataclasses import replace

    settings = replace(settings, output_sparsity=None)
    return prune_finetune(model, "output", 0.0, settings, train_loader, device, desc=desc, teacher=teacher, path=path)


def fine_tune(model: nn.Module, settings: PruneSettings, train_loader, device: torch.device | None = None,
              teacher: nn.Module | None = None, desc: str = "fine-tune, no pruning",
              path: DataPath | None = None) -> tuple[nn.Module, dict]:
    """Fine-tune ``model`` (in place) by the recipe of ``settings`` without pruning anything.

    :func:`unpruned_control`'s network and the record of its training, for a caller that wants the
    network alone (2-Step Pruning's start, the device check).

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~coinfer.core.network.CifarResNet18` (pass a copy of the baseline).
    settings : PruneSettings
        The recipe (its splits and sparsities are ignored).
    train_loader : iterable
        Training batches, iterated once per epoch.
    device : torch.device, optional
        Default: where the model is.
    teacher : torch.nn.Module, optional
        Distilled from (default: a frozen copy of ``model`` as passed in).
    desc : str
        Progress bar label.
    path : DataPath, optional
        As for :func:`prune_finetune`.

    Returns
    -------
    model, meta
        ``model``, fine-tuned, in eval mode, and a dict of its training: ``train_loss`` (per
        epoch), ``train_steps``, ``fine_tune_s`` (seconds) and ``config`` (the recipe).

    Examples
    --------
    >>> import torch
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.experiments.pruning import fine_tune
    >>> batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(2)]
    >>> net, meta = fine_tune(resnet18(width=1 / 16), get_preset("quick").pruning, batches)
    >>> net.training, meta["train_steps"]
    (False, 2)
    """
    done = unpruned_control(model, settings, train_loader, device, teacher=teacher, desc=desc, path=path)
    return done.model, {k: done.meta[k] for k in ("train_loss", "train_steps", "fine_tune_s", "config")}


def save_pruned(path: str | Path, pruned: PrunedModel) -> Path:
    """Save the masked model with its kept channels, for :func:`load_pruned` (weights only).

    Parameters
    ----------
    path : str or Path
        Destination file.
    pruned : PrunedModel
        Whose model is a :class:`~coinfer.core.network.CifarResNet18`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.pruning import PrunedModel
    >>> from coinfer.experiments.pruning import load_pruned, save_pruned
    >>> keep = {"stem": list(range(4)), "layer1_0.conv1": list(range(4)), "layer1_1.conv1": list(range(4))}
    >>> path = save_pruned(Path(tempfile.mkdtemp()) / "p.pt",
    ...                    PrunedModel("layer1.1", 0.0, 0.0, resnet18(width=1 / 16), keep, {"kind": "pruned"}))
    >>> load_pruned(path, torch.device("cpu")).split
    'layer1.1'
    """
    meta = dict(pruned.meta, split=pruned.split, sparsity=pruned.sparsity,
                output_sparsity=pruned.output_sparsity, keep=pruned.keep,
                width=pruned.model.config.width, num_classes=pruned.model.config.num_classes,
                in_channels=pruned.model.config.in_channels)
    return save_checkpoint(path, pruned.model, meta)


def load_pruned(path: str | Path, device: torch.device | None = None) -> PrunedModel:
    """A :class:`~coinfer.core.pruning.PrunedModel` from :func:`save_pruned`'s checkpoint.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_pruned`.
    device : torch.device, optional
        Default :func:`coinfer.train.default_device`.

    Returns
    -------
    PrunedModel

    Raises
    ------
    ValueError
        If the checkpoint is not a pruned model's.

    Examples
    --------
    See :func:`save_pruned`.
    """
    state, meta = load_checkpoint(path)
    if meta.get("kind") != "pruned":
        raise ValueError(f"{path} is not a pruned-model checkpoint (kind {meta.get('kind')!r})")
    model = CifarResNet18(ResNetConfig(meta["width"], meta["num_classes"], meta["in_channels"]))
    model.load_state_dict(state)
    model = model.to(device or default_device()).eval()
    return PrunedModel(meta["split"], meta["sparsity"], meta["output_sparsity"], model,
                       {g: list(k) for g, k in meta["keep"].items()}, meta)


def cached_pruned(path: str | Path, compute, device: torch.device | None = None, log=print,
                  baseline: str | None = None) -> PrunedModel:
    """The pruned model saved at ``path``, or else ``compute()``'s, saved there first.

    One training per pruned part: the pruning table and the sweep's cells both ask here, at the path
    :func:`coinfer.experiments.cell_files.pruned_part_path` names after every setting the part depends
    on, so whichever runs second reads what the first trained. A damaged file is trained again, and so
    is one fine-tuned from another baseline than ``baseline``: the settings that name the file do not
    name the baseline's weights (:mod:`coinfer.experiments.cell_files`).

    Parameters
    ----------
    path : str or Path
        The cache file (:func:`save_pruned`'s format).
    compute : callable
        ``compute() -> PrunedModel``, called only when the file is missing or unreadable.
    device : torch.device, optional
        Where a loaded model goes (default :func:`coinfer.train.default_device`).
    log : callable
        Says why a file is recomputed.
    baseline : str, optional
        The digest of the baseline ``compute`` starts from
        (:func:`coinfer.core.codecs.weights_digest`): saved with the part, and checked against a
        saved part's.

    Returns
    -------
    PrunedModel

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.pruning import PrunedModel
    >>> from coinfer.experiments.pruning import cached_pruned
    >>> keep = {"stem": list(range(4)), "layer1_0.conv1": list(range(4)), "layer1_1.conv1": list(range(4))}
    >>> path = Path(tempfile.mkdtemp()) / "p.pt"
    >>> trained = []
    >>> def compute():
    ...     trained.append(1)
    ...     return PrunedModel("layer1.1", 0.0, 0.0, resnet18(width=1 / 16), keep, {"kind": "pruned"})
    >>> first = cached_pruned(path, compute, torch.device("cpu"))
    >>> second = cached_pruned(path, compute, torch.device("cpu"))
    >>> len(trained), second.split
    (1, 'layer1.1')
    >>> _ = cached_pruned(path, compute, torch.device("cpu"), baseline="ab" * 32)   # saved without one: trusted
    >>> _ = cached_pruned(path.with_name("q.pt"), compute, torch.device("cpu"), baseline="ab" * 32)
    >>> _ = cached_pruned(path.with_name("q.pt"), compute, torch.device("cpu"), baseline="cd" * 32)
    [prune] recomputing q.pt: fine-tuned from another baseline (weights ababababab..., the baseline now cdcdcdcdcd...)
    >>> len(trained)
    3
    """
    from coinfer.experiments.cell_files import stale_baseline

    path = Path(path)
    if path.exists():
        try:
            pruned = load_pruned(path, device=device)
            stale = stale_baseline(pruned.meta.get("baseline"), baseline)
            if not stale:
                return pruned
            log(f"[prune] recomputing {path.name}: fine-tuned from {stale}")
        except (ValueError, RuntimeError, KeyError) as error:
            # a damaged or foreign cache file (load_checkpoint: ValueError), or one missing what a pruned part holds
            log(f"[prune] recomputing {path.name}: {error}")
    pruned = compute()
    if baseline is not None:
        pruned.meta["baseline"] = baseline
    save_pruned(path, pruned)
    return pruned


def fine_tuned_part(path: str | Path, baseline: nn.Module, point: str, sparsity: float, settings: PruneSettings,
                    batches, device: torch.device | None = None, log=print) -> PrunedModel:
    """The framework's device part pruned at ``(point, sparsity)`` from ``baseline`` (sparsity 0: the
    recipe's unpruned control), read from ``path`` or fine-tuned and saved there (:func:`cached_pruned`).

    Parameters
    ----------
    path : str or Path
        Its cache file (:func:`coinfer.experiments.cell_files.pruned_part_path`).
    baseline : torch.nn.Module
        Copied, never changed.
    point : str
        The split point pruned (ignored at sparsity 0).
    sparsity : float
        Its target sparsity.
    settings : PruneSettings
        The recipe.
    batches : callable
        ``batches()`` gives the seeded fine-tuning batches; called only if the part is fine-tuned.
    device : torch.device, optional
        Where it trains, or where a read part goes: the same place either way (default
        :func:`coinfer.train.default_device`).
    log : callable
        Says why a damaged file, or one fine-tuned from another baseline, is fine-tuned again.

    Returns
    -------
    PrunedModel

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.network import resnet18
    >>> path = Path(tempfile.mkdtemp()) / "control.pt"
    >>> batches = lambda: [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))]
    >>> part = fine_tuned_part(path, resnet18(width=1 / 16), "stem", 0.0, get_preset("quick").pruning, batches)
    >>> part.split, path.exists()
    ('output', True)
    """
    from coinfer.core.codecs import weights_digest

    device = device or default_device()       # one place, whether the part is read or fine-tuned

    def compute():
        if sparsity == 0:
            return unpruned_control(copy.deepcopy(baseline), settings, batches(), device)
        return prune_finetune(copy.deepcopy(baseline), point, sparsity, settings, batches(), device)

    return cached_pruned(path, compute, device, log, baseline=weights_digest(baseline))


def run(preset: Preset, *, checkpoints: str | Path | None = None, data_root: str | Path | None = None,
        device: torch.device | None = None, save_checkpoints: bool = True, command: str | None = None,
        cache_dir: str | Path | None = None) -> LookupTable:
    """Prune at every (split, sparsity) of ``preset.pruning`` from the preset's baseline: the table (not saved).

    Fine-tunes on the training split less the validation images (seed ``preset.seed``); every
    record carries the validation accuracy (``val_accuracy``, what choices are made on) and the test
    accuracy (``accuracy``, reported only) of the compacted pipeline. One record per configuration,
    method ``"framework-pruned"``: thop MACs and parameters of the compacted device part, float32
    bits of the compacted feature (8-bit in ``extra``), server MACs. Sparsity 0 records are the
    baseline itself (not fine-tuned). With ``preset.pruning.control``, one more record, method
    ``"fine-tuned-control"`` at split point ``output``: the baseline fine-tuned by the same recipe
    with nothing pruned, which separates what pruning costs from what the recipe costs.
    ``coinfer.experiments.run_table`` runs this once per seed and saves the aggregate.

    Every pruned part and the control are the sweep's (:func:`cached_pruned`, in the sweep's cache):
    a part that ``python -m coinfer run sweep`` has trained with the same settings is read, not
    trained again, and a part trained here is the sweep's when it runs (on the paper preset, the
    pruning table's 15 fine-tunes and control per seed are all in the sweep's grid).

    Parameters
    ----------
    preset : Preset
        From :func:`coinfer.config.get_preset` (override ``pruning.*`` settings there; ``seed``
        seeds the fine-tuning).
    checkpoints : str or Path, optional
        Checkpoint root (the baseline is read there; pruned models are saved under ``pruned/``,
        one file per seed).
    data_root : str or Path, optional
        Dataset folder.
    device : torch.device, optional
        Default :func:`coinfer.train.default_device`.
    save_checkpoints : bool
        Save every pruned model.
    command : str, optional
        The command line, for the provenance.
    cache_dir : str or Path, optional
        The pruned parts' cache, shared with the sweep (default: the sweep's,
        :func:`coinfer.experiments.cell_files.cache_dir`, ``<checkpoints>/<preset>/sweep``).

    Returns
    -------
    coinfer.results.LookupTable

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.pruning import run
    >>> table = run(get_preset("quick", **{"pruning.splits": ("layer2.1",)}))   # doctest: +SKIP
    """
    from coinfer.core.costs import profile_splits
    from coinfer.data import load_split, make_loader
    from coinfer.experiments.cell_files import cache_dir as sweep_cache_dir, pruned_part_path
    from coinfer.paths import pruned_checkpoint_path

    start = time.time()
    config = preset.pruning
    device = device or default_device()
    baseline, base_meta = get_baseline(preset, checkpoints=checkpoints, data_root=data_root)
    baseline = baseline.cpu()
    train_set = load_split(preset.dataset, "train", preset.validation, root=data_root, augment=True,
                           limit=config.train_limit)
    val_loader, test_loader = (make_loader(load_split(preset.dataset, part, preset.validation, root=data_root),
                                           preset.eval_batch_size, shuffle=False) for part in ("val", "test"))

    def accuracies(model: nn.Module) -> dict:
        model = model.to(device)
        return {"val_accuracy": evaluate(model, val_loader, device), "accuracy": evaluate(model, test_loader, device)}

    def loader():
        seed_everything(preset.seed)          # every fine-tune starts from the same seeded state
        return fine_tune_batches(train_set, config, preset.seed, device)   # on CUDA: held on the device

    cache = Path(cache_dir) if cache_dir is not None else sweep_cache_dir(preset, checkpoints)

    def part(point: str, sparsity: float) -> PrunedModel:
        """The sweep's pruned part (sparsity 0: the control), trained here only if it has none yet."""
        path = pruned_part_path(cache, preset, config, point, sparsity)
        if path.exists():
            print(f"{point if sparsity else 'control'} s={sparsity:g}: the fine-tuned network of {path}", flush=True)
        return fine_tuned_part(path, baseline, point, sparsity, config, loader, device)

    recipe = {"train_images": len(train_set), "epochs": config.epochs, "fine_tune_seed": preset.seed}
    profiles = {p.point: p for p in profile_splits(baseline)}
    records = []
    if config.control:
        control = part("output", 0.0)
        model, meta = control.model, control.meta
        acc = accuracies(model)
        p = profiles["output"]
        records.append(Record(
            method=CONTROL_METHOD, split="output", **acc, device_macs=p.device_macs,
            device_params=p.device_params, server_macs=p.server_macs,
            bits_per_image=float(p.feature_bits_float32), sparsity=0.0,
            extra={"fine_tuned": True, "source": "the baseline fine-tuned by the pruning recipe, nothing pruned",
                   "baseline_val_accuracy": base_meta["val_accuracy"],
                   "baseline_test_accuracy": base_meta["test_accuracy"], **recipe,
                   "train_steps": meta["train_steps"], "final_train_loss": round(meta["train_loss"][-1], 4),
                   "fine_tune_s": meta["fine_tune_s"]}))
        print(f"control (fine-tuned, unpruned): val {acc['val_accuracy']:.4f}, test {acc['accuracy']:.4f} "
              f"(baseline: val {base_meta['val_accuracy']:.4f}, test {base_meta['test_accuracy']:.4f})", flush=True)
    for point in config.splits:              # SplitPoints, validated by PruneSettings
        p = profiles[point]
        records.append(Record(
            method=METHOD, split=point, accuracy=float(base_meta["test_accuracy"]),
            val_accuracy=float(base_meta["val_accuracy"]),
            device_macs=p.device_macs, device_params=p.device_params, server_macs=p.server_macs,
            bits_per_image=float(p.feature_bits_float32), sparsity=0.0,
            extra={"feature_bits_8bit": p.feature_bits_8bit, "feature_shape": list(p.feature_shape),
                   "fine_tuned": False, "source": "baseline checkpoint, unpruned"}))
        for sparsity in config.sparsities:
            pruned = part(point, sparsity)
            acc = accuracies(pruned.pipeline())
            costs = pruned_costs(pruned)
            if save_checkpoints:
                save_pruned(pruned_checkpoint_path(preset.name, point, sparsity, preset.seed, checkpoints), pruned)
            records.append(Record(
                method=METHOD, split=point, **acc, device_macs=costs["device_macs"],
                device_params=costs["device_params"], server_macs=costs["server_macs"],
                bits_per_image=float(costs["feature_bits_float32"]), sparsity=sparsity,
                extra={"feature_bits_8bit": costs["feature_bits_8bit"], "feature_shape": costs["feature_shape"],
                       "output_sparsity": pruned.output_sparsity,
                       "channels_kept": {g: len(k) for g, k in pruned.keep.items()},
                       "unpruned_device_macs": p.device_macs, "fine_tuned": True, **recipe,
                       "train_steps": pruned.meta["train_steps"], "iterations": pruned.meta["iterations"],
                       "final_train_loss": round(pruned.meta["train_loss"][-1], 4),
                       "fine_tune_s": pruned.meta["fine_tune_s"]}))
            print(f"{point:>9} sparsity {sparsity:.2f}: val {acc['val_accuracy']:.4f}, test {acc['accuracy']:.4f}, "
                  f"device {costs['device_macs'] / 1e6:.2f} MMACs (was {p.device_macs / 1e6:.2f}), feature "
                  f"{costs['feature_bits_float32'] / 1e3:.1f} kbit (was {p.feature_bits_float32 / 1e3:.1f}), "
                  f"fine-tune {pruned.meta['fine_tune_s']:.0f} s", flush=True)
    provenance = Provenance.collect(preset.dataset, preset.name, time.time() - start,
                                    command=command, seed=preset.seed)
    return LookupTable(provenance, records)
