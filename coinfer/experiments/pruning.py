"""The pruning experiment (Shao & Zhang 2020, section III-C): pruned device parts and their lookup table.

For every (split point, sparsity) of a preset's :class:`~coinfer.config.PruneSettings`, a copy of the
preset's baseline is pruned by :class:`coinfer.core.pruning.IncrementalPruner` while the whole
network is fine-tuned (:func:`prune_finetune`, on :func:`coinfer.train.fit`), compacted, profiled
and evaluated: one :class:`~coinfer.results.Record` each, in the table ``pruning_<preset>.json``.

Command line (one lookup table per preset, one record per (split point, sparsity))::

    python -m coinfer prune --preset quick   # data/results/pruning_quick.json; ~15 min on 2 shared CPU cores
    python -m coinfer prune --preset paper   # CIFAR-10, full width, 100 epochs per point: a GPU, hours
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from torch import nn

from coinfer.config import Preset, PruneSettings
from coinfer.core.network import CifarResNet18, ResNetConfig
from coinfer.core.network import split as split_stages
from coinfer.core.pruning import IncrementalPruner, PrunedModel, check_sparsity, prunable_split_point, pruned_costs
from coinfer.results import LookupTable, Provenance, Record
from coinfer.train import (default_device, evaluate, fit, get_baseline, load_checkpoint,
                           save_checkpoint, seed_everything)

#: The method name of the pruning table's records.
METHOD = "framework-pruned"


def prune_finetune(model: nn.Module, point: str, sparsity: float, settings: PruneSettings, train_loader,
                   device: torch.device | None = None, desc: str | None = None) -> PrunedModel:
    """Prune ``model``'s device part at ``point`` to ``sparsity`` while fine-tuning the whole network.

    ``model`` is changed in place (pass a copy of the baseline). Seed before calling for repeatable
    numbers. The optimizer is the settings' Adam + StepLR (stepped per batch, with the step size
    converted from epochs to batches); the pruner refreshes its masks through :func:`coinfer.train.fit`'s
    ``on_step`` and keeps masked weights at zero through optimizer hooks.

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
    device = device or next(model.parameters()).device
    model = model.to(device)
    device_part, _ = split_stages(model, point)
    total_steps = settings.epochs * len(train_loader)
    pruner = IncrementalPruner(device_part, sparsity, total_steps, settings.output_sparsity, settings.schedule,
                               settings.criterion)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step_epochs * len(train_loader),
                                                gamma=settings.lr_gamma)
    pruner.attach(optimizer)
    start = time.time()
    try:
        losses = fit(model, train_loader, optimizer=optimizer, epochs=settings.epochs, scheduler=scheduler,
                     device=device, desc=desc or f"prune {point} s={sparsity:g}", on_step=pruner.step)
    finally:
        pruner.detach()
    pruner.finish()
    model.eval()
    meta = {"kind": "pruned", "split": point, "sparsity": sparsity, "output_sparsity": pruner.output_sparsity,
            "train_loss": losses, "train_steps": total_steps, "iterations": pruner.n_iterations,
            "fine_tune_s": round(time.time() - start, 1), "config": settings.to_dict()}
    return PrunedModel(point, sparsity, pruner.output_sparsity, model, pruner.keep_indices(), meta)


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


def run(preset: Preset, *, out: str | Path | None = None, checkpoints: str | Path | None = None,
        data_root: str | Path | None = None, device: torch.device | None = None, save_checkpoints: bool = True,
        command: str | None = None) -> LookupTable:
    """Prune at every (split, sparsity) of ``preset.pruning`` from the preset's baseline; write the table.

    One record per configuration, method ``"framework-pruned"``: test accuracy of the compacted
    pipeline on the full test split, thop MACs and parameters of the compacted device part, float32
    bits of the compacted feature (8-bit in ``extra``), server MACs. Sparsity 0 records are the
    baseline itself (not fine-tuned); with ``preset.pruning.control`` their ``extra`` also holds the
    accuracy of the baseline fine-tuned by the same recipe without pruning.

    Parameters
    ----------
    preset : Preset
        From :func:`coinfer.config.get_preset` (override ``pruning.*`` settings there).
    out : str or Path, optional
        Table file (default ``data/results/pruning_<preset>.json``).
    checkpoints : str or Path, optional
        Checkpoint root (the baseline is read there; pruned models are saved under ``pruned/``).
    data_root : str or Path, optional
        Dataset folder.
    device : torch.device, optional
        Default :func:`coinfer.train.default_device`.
    save_checkpoints : bool
        Save every pruned model.
    command : str, optional
        The command line, for the provenance.

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
    from coinfer.data import load_dataset, make_loader
    from coinfer.paths import pruned_checkpoint_path, table_path

    start = time.time()
    config = preset.pruning
    device = device or default_device()
    baseline, base_meta = get_baseline(preset, checkpoints=checkpoints, data_root=data_root)
    baseline = baseline.cpu()
    train_set = load_dataset(preset.dataset, train=True, root=data_root, augment=True, limit=config.train_limit)
    test_loader = make_loader(load_dataset(preset.dataset, train=False, root=data_root),
                              preset.eval_batch_size, shuffle=False)
    profiles = {p.point: p for p in profile_splits(baseline)}
    splits = config.splits                      # SplitPoints, validated by PruneSettings
    control = {}
    if config.control:
        seed_everything(preset.seed)
        loader = make_loader(train_set, config.batch_size, shuffle=True, seed=preset.seed)
        unpruned = prune_finetune(copy.deepcopy(baseline), splits[0], 0.0, config, loader, device,
                                  desc="control: fine-tune, no pruning")
        control = {"fine_tuned_control_accuracy": evaluate(unpruned.pipeline().to(device), test_loader, device),
                   "fine_tuned_control": "the baseline fine-tuned with the same recipe, nothing pruned"}
        print(f"control (fine-tuned, unpruned): accuracy {control['fine_tuned_control_accuracy']:.4f}", flush=True)
    records = []
    for point in splits:
        p = profiles[point]
        records.append(Record(
            method=METHOD, split=point, accuracy=float(base_meta["test_accuracy"]),
            device_macs=p.device_macs, device_params=p.device_params, server_macs=p.server_macs,
            bits_per_image=float(p.feature_bits_float32), sparsity=0.0,
            extra={"feature_bits_8bit": p.feature_bits_8bit, "feature_shape": list(p.feature_shape),
                   "fine_tuned": False, "source": "baseline checkpoint, unpruned", **control}))
        for sparsity in config.sparsities:
            seed_everything(preset.seed)
            loader = make_loader(train_set, config.batch_size, shuffle=True, seed=preset.seed)
            pruned = prune_finetune(copy.deepcopy(baseline), point, sparsity, config, loader, device)
            pipeline = pruned.pipeline().to(device)
            accuracy = evaluate(pipeline, test_loader, device)
            costs = pruned_costs(pruned)
            if save_checkpoints:
                save_pruned(pruned_checkpoint_path(preset.name, point, sparsity, checkpoints), pruned)
            records.append(Record(
                method=METHOD, split=point, accuracy=accuracy, device_macs=costs["device_macs"],
                device_params=costs["device_params"], server_macs=costs["server_macs"],
                bits_per_image=float(costs["feature_bits_float32"]), sparsity=sparsity,
                extra={"feature_bits_8bit": costs["feature_bits_8bit"], "feature_shape": costs["feature_shape"],
                       "output_sparsity": pruned.output_sparsity,
                       "channels_kept": {g: len(k) for g, k in pruned.keep.items()},
                       "unpruned_device_macs": p.device_macs, "fine_tuned": True,
                       "train_images": len(train_set), "epochs": config.epochs,
                       "train_steps": pruned.meta["train_steps"], "iterations": pruned.meta["iterations"],
                       "final_train_loss": round(pruned.meta["train_loss"][-1], 4),
                       "fine_tune_s": pruned.meta["fine_tune_s"]}))
            print(f"{point:>9} sparsity {sparsity:.2f}: accuracy {accuracy:.4f}, device "
                  f"{costs['device_macs'] / 1e6:.2f} MMACs (was {p.device_macs / 1e6:.2f}), feature "
                  f"{costs['feature_bits_float32'] / 1e3:.1f} kbit (was {p.feature_bits_float32 / 1e3:.1f})",
                  flush=True)
    provenance = Provenance.collect(preset.dataset, preset.name, time.time() - start,
                                    command=command, seed=preset.seed)
    table = LookupTable(provenance, records)
    table.save(out if out is not None else table_path("pruning", preset.name))
    return table
