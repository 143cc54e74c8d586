"""Training and evaluation loops, seeding, and safe checkpoints.

Checkpoints are plain ``state_dict`` tensors plus a JSON-able metadata dict, saved with
``torch.save`` and always loaded with ``torch.load(..., weights_only=True)``: loading never
unpickles arbitrary objects.

The baseline (unsplit, unpruned) network of a preset is trained once and reused::

    python -m coinfer train --preset quick      # data/checkpoints/quick/baseline.pt, ~4 min on 2 CPU cores
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from coinfer.data import load_split, make_loader
from coinfer.core.network import CifarResNet18, ResNetConfig
from coinfer.config import Preset, get_preset
from coinfer.units import is_count

CHECKPOINT_FORMAT = "coinfer.checkpoint/1"

_BARS = [True]   # progress_bars(False) silences every bar below it (a list: one mutable cell)


@contextlib.contextmanager
def progress_bars(enabled: bool):
    """Within the block, every progress bar of :func:`fit`, :func:`evaluate` and the code that runs
    them (codec training, pruning) is shown only if ``enabled`` (and its own ``progress`` says so).

    ``sweep --no-progress`` runs the whole sweep inside ``progress_bars(False)``: the flag reaches
    every per-epoch bar without each function in between taking it as a parameter.

    Parameters
    ----------
    enabled : bool

    Examples
    --------
    >>> from coinfer.train import progress_bars, show_progress
    >>> with progress_bars(False):
    ...     show_progress(True)
    False
    >>> show_progress(True)
    True
    """
    before = _BARS[0]
    _BARS[0] = bool(enabled) and before
    try:
        yield
    finally:
        _BARS[0] = before


def show_progress(progress: bool = True) -> bool:
    """Whether a bar asked for with ``progress`` is shown (False inside ``progress_bars(False)``).

    Parameters
    ----------
    progress : bool
        The caller's own wish.

    Examples
    --------
    >>> from coinfer.train import show_progress
    >>> show_progress(False)
    False
    """
    return bool(progress) and _BARS[0]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a run with the same seed repeats its numbers.

    Parameters
    ----------
    seed : int
        The seed (presets use 0).

    Examples
    --------
    >>> import torch
    >>> from coinfer.train import seed_everything
    >>> seed_everything(0); a = torch.rand(3)
    >>> seed_everything(0); b = torch.rand(3)
    >>> torch.equal(a, b)
    True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    """The first CUDA GPU if there is one, else the CPU.

    Returns
    -------
    torch.device

    Examples
    --------
    >>> import torch
    >>> from coinfer.train import default_device
    >>> default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def evaluate(model: nn.Module, batches, device: torch.device | None = None,
             progress: bool = False) -> float:
    """Top-1 accuracy of ``model`` on ``batches``, a fraction in [0, 1]: the one evaluate of the library.

    Parameters
    ----------
    model : torch.nn.Module
        Maps inputs to class scores; put in eval mode.
    batches : iterable
        Batches of ``(inputs, labels)``: a loader from :func:`coinfer.data.make_loader`, a list of
        tensor pairs, or a generator (e.g. of cached features).
    device : torch.device, optional
        Where to run (default: where the model's parameters are).
    progress : bool
        Show a progress bar.

    Returns
    -------
    float
        Correct predictions / inputs.

    Examples
    --------
    >>> from coinfer.data import load_dataset, make_loader
    >>> from coinfer.train import evaluate, get_baseline
    >>> model, meta = get_baseline("quick")                  # the committed quick checkpoint
    >>> loader = make_loader(load_dataset("fashion-mnist", train=False, limit=200), 100, shuffle=False)
    >>> 0.8 < evaluate(model, loader) <= 1.0
    True
    """
    device = device or next(model.parameters()).device
    model.eval()
    correct = total = 0
    for inputs, labels in tqdm(batches, desc="evaluate", leave=False, disable=not show_progress(progress)):
        predicted = model(inputs.to(device)).argmax(1)
        correct += (predicted == labels.to(predicted.device)).sum().item()
        total += labels.numel()
    if total == 0:
        raise ValueError("evaluate got no images: an accuracy of no images is undefined (is the loader empty?)")
    return correct / total


def check_distillation(weight, temperature) -> tuple[float, float]:
    """``(weight, temperature)`` if they are usable distillation settings; else ValueError.

    Parameters
    ----------
    weight : float
        Share of the distillation term in the loss, in [0, 1] (0: plain cross-entropy).
    temperature : float
        Softmax temperature of both networks' logits, > 0 (1: the plain probabilities).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> from coinfer.train import check_distillation
    >>> check_distillation(0.5, 4.0)
    (0.5, 4.0)
    >>> check_distillation(1.5, 4.0)
    Traceback (most recent call last):
    ...
    ValueError: distillation weight must be in [0, 1] (0: cross-entropy only, 1: the teacher only), got 1.5
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"distillation weight must be in [0, 1] (0: cross-entropy only, 1: the teacher only), "
                         f"got {weight!r}")
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
            or not 0.0 < temperature < float("inf")):
        raise ValueError(f"distillation temperature must be a finite number > 0, got {temperature!r}")
    return float(weight), float(temperature)


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor,
                      weight: float, temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015): ``(1 - weight) * loss + weight * T^2 * KL(p_T || q_T)``.

    ``p_T`` and ``q_T`` are the teacher's and the student's softmax at temperature ``T``; the ``T^2``
    keeps the term's gradients the size of the cross-entropy's whatever ``T`` (its soft-label
    gradients shrink as ``1 / T^2``). At ``weight`` 1 the student only learns to match the teacher's
    soft labels; at 0 it is ``loss`` (the labels' cross-entropy) alone.

    Parameters
    ----------
    logits, teacher_logits : torch.Tensor
        ``(batch, classes)`` class scores of the student and of the teacher (no gradient needed).
    labels : torch.Tensor
        ``(batch,)`` class indices (only ``loss`` uses them; kept for the per-example mean's size).
    loss : torch.Tensor
        The labels' loss of the student (a scalar), mixed in with ``1 - weight``.
    weight, temperature : float
        See :func:`check_distillation`.

    Returns
    -------
    torch.Tensor
        A scalar, per example (the batch mean).

    Examples
    --------
    >>> import torch
    >>> from coinfer.train import distillation_loss
    >>> z = torch.tensor([[2.0, 0.0, -1.0]])
    >>> ce = torch.nn.functional.cross_entropy(z, torch.tensor([0]))
    >>> float(distillation_loss(z, z, torch.tensor([0]), ce, 1.0, 4.0))   # a student equal to its teacher
    0.0
    """
    weight, temperature = check_distillation(weight, temperature)
    if logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(logits.shape)} and teacher logits {tuple(teacher_logits.shape)} "
                         "differ in shape")
    soft = nn.functional.kl_div(nn.functional.log_softmax(logits / temperature, dim=1),
                                nn.functional.log_softmax(teacher_logits.detach() / temperature, dim=1),
                                reduction="batchmean", log_target=True)
    return (1.0 - weight) * loss + weight * temperature ** 2 * soft


#: The progress bar's running loss is read (a wait for the GPU) every this many steps.
PROGRESS_LOSS_STEPS = 25


def fit(model: nn.Module, batches, *, optimizer: torch.optim.Optimizer, epochs: int | None = None,
        steps: int | None = None, loss_fn: Callable | None = None, scheduler=None,
        on_step: Callable[[int], None] | None = None, progress: bool = True,
        device: torch.device | None = None, desc: str = "train", autocast: torch.dtype | None = None,
        teacher: nn.Module | None = None, distill_weight: float | None = None,
        temperature: float | None = None) -> list[float]:
    """Train ``model`` on ``batches``: the one training loop of the library.

    Every step: ``on_step(step)``, forward, ``loss_fn(model(inputs), labels)`` (mixed with the
    teacher's soft labels by :func:`distillation_loss` when a ``teacher`` is given), zero the gradients,
    backward, ``optimizer.step()``, ``scheduler.step()`` (per step, not per epoch). The model is put
    in training mode at the start of every epoch. Randomness (batch order, augmentation, noise) is
    the caller's: seed with :func:`seed_everything` and give the loader its own seed
    (:func:`coinfer.data.make_loader`), or pass ``batches`` as a function of the epoch.

    Parameters
    ----------
    model : torch.nn.Module
        What is trained (only its parameters in ``optimizer`` change).
    batches : iterable or callable
        Batches of ``(inputs, labels)``, iterated again every epoch (a loader, a list), or a
        function ``batches(epoch) -> iterable`` for a batch order of its own per epoch.
    optimizer : torch.optim.Optimizer
        Over the parameters to train.
    epochs : int, optional
        Passes over ``batches``.
    steps : int, optional
        Stop after this many steps in all (instead of ``epochs``; the last pass may be partial).
    loss_fn : callable, optional
        ``loss_fn(output, labels) -> scalar``; default cross-entropy of the class scores. The output
        may be anything the model returns (e.g. a codec's dict): the loss function reads it.
    scheduler : optional
        A learning-rate scheduler, stepped once per step.
    on_step : callable, optional
        ``on_step(step)`` with the global step index (0, 1, ...) before each batch: pruning masks,
        annealing, channel noise.
    progress : bool
        Show a progress bar (with the running mean loss).
    device : torch.device, optional
        Where the inputs are moved (default: where the model's parameters are).
    desc : str
        Label of the progress bar.
    autocast : torch.dtype, optional
        Run the forward pass and the loss under ``torch.autocast`` in ``torch.bfloat16``, the one dtype
        allowed (:class:`coinfer.tensor_data.DataPath` decides it; float16 would need loss scaling, which
        this loop does not do). Default: float32.
    teacher : torch.nn.Module, optional
        Knowledge distillation: a network whose class scores (in eval mode, without gradients, on
        the same inputs) the model's output is pulled towards (:func:`distillation_loss`). It is
        not trained; the model's output must be class scores of the same shape.
    distill_weight, temperature : float, optional
        The distillation's weight in [0, 1] and temperature > 0; both required with a ``teacher``
        and refused without one.

    Returns
    -------
    list of float
        Mean training loss of each (possibly partial) epoch, per example (the mixed loss when
        distilling).

    Examples
    --------
    >>> import torch
    >>> from coinfer.data import load_dataset, make_loader
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.train import fit, seed_everything
    >>> seed_everything(0)
    >>> net = resnet18(width=1 / 16)
    >>> loader = make_loader(load_dataset("fashion-mnist", train=True, limit=64), 32, shuffle=True)
    >>> losses = fit(net, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.05), epochs=2,
    ...              progress=False)
    >>> len(losses), losses[0] > 0
    (2, True)
    >>> len(fit(net, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.05), steps=3, progress=False))
    2
    """
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs and steps")
    limit = epochs if epochs is not None else steps
    if not is_count(limit, 0):
        raise ValueError(f"{'epochs' if epochs is not None else 'steps'} must be a non-negative integer, "
                         f"got {limit!r}")
    if autocast not in (None, torch.bfloat16):       # as DataPath.autocast: float16 needs loss scaling
        raise ValueError(f"autocast must be None or torch.bfloat16, got {autocast!r}")
    if teacher is None and (distill_weight is not None or temperature is not None):
        raise ValueError("distill_weight and temperature are the distillation's: give a teacher with them")
    if teacher is not None:
        if distill_weight is None or temperature is None:
            raise ValueError("distilling from a teacher needs both distill_weight and temperature")
        distill_weight, temperature = check_distillation(distill_weight, temperature)
        trained = {id(p) for p in optimizer_params(optimizer)}
        if any(id(p) in trained for p in teacher.parameters()):
            raise ValueError("the teacher's parameters are in the optimizer: distil from a frozen copy")
    device = device or next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if teacher is not None:
        teacher = teacher.to(device).eval()
    history, step, epoch = [], 0, 0
    shown = show_progress(progress)
    while (epoch < epochs) if epochs is not None else (step < steps):
        model.train()
        # The loss sum stays where the loss is (float64, as Python's float would add it): reading it
        # every step would make the CPU wait for the GPU's step to finish before queueing the next.
        total, count = 0.0, 0
        data = batches(epoch) if callable(batches) else batches
        label = f"{desc} {epoch + 1}/{epochs}" if epochs is not None else f"{desc} {step}/{steps} steps"
        bar = tqdm(data, desc=label, leave=False, disable=not shown,
                   total=len(data) if hasattr(data, "__len__") else None)
        for inputs, labels in bar:
            if on_step is not None:
                on_step(step)
            inputs, labels = inputs.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                output = model(inputs)
                loss = loss_fn(output, labels)
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(inputs)
                    loss = distillation_loss(output, teacher_logits, labels, loss, distill_weight, temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total = total + loss.detach().double() * labels.numel()
            count += labels.numel()
            step += 1
            if shown and step % PROGRESS_LOSS_STEPS == 1:
                bar.set_postfix(loss=f"{float(total) / count:.3f}")
            if steps is not None and step >= steps:
                break
        if count == 0:   # as evaluate: returning no losses would pass an untrained model off as trained
            raise ValueError(f"batches yielded nothing in epoch {epoch + 1}: cannot train on no batches "
                             f"(for {f'{epochs} epochs' if epochs is not None else f'{steps} steps'})")
        history.append(float(total) / count)
        epoch += 1
    return history


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter ``optimizer`` updates (over all its groups).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer

    Returns
    -------
    list of torch.Tensor

    Examples
    --------
    >>> import torch
    >>> from coinfer.train import optimizer_params
    >>> net = torch.nn.Linear(2, 1)
    >>> len(optimizer_params(torch.optim.SGD(net.parameters(), lr=0.1)))
    2
    """
    return [p for group in optimizer.param_groups for p in group["params"]]


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict) -> Path:
    """Save ``model``'s weights and ``meta`` (JSON-able values only) for :func:`load_checkpoint`.

    Written to a temporary file and renamed, so an interrupted save never leaves a broken file.

    Parameters
    ----------
    path : str or Path
        Destination (``.pt`` by convention); its folder is created.
    model : torch.nn.Module
        Its ``state_dict`` is saved, moved to the CPU.
    meta : dict
        Plain values (numbers, strings, lists, dicts) describing the model, e.g. its width.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.train import load_checkpoint, save_checkpoint
    >>> path = save_checkpoint(Path(tempfile.mkdtemp()) / "net.pt", resnet18(width=1 / 16), {"width": 1 / 16})
    >>> state, meta = load_checkpoint(path)
    >>> meta, len(state) > 0
    ({'width': 0.0625}, True)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # One temporary name per process: two sweep workers that compute the same shared checkpoint
    # never write into one file; the later rename wins, with equal content.
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "meta": _plain(meta), "state_dict": state}, tmp)
    tmp.replace(path)
    return path


def _plain(value):
    """``value`` with str subclasses (e.g. a SplitPoint) made plain str, which weights_only loading accepts."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """``(state_dict, meta)`` of a checkpoint written by :func:`save_checkpoint`.

    Uses ``weights_only=True``, so a malicious file cannot run code while loading.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_checkpoint`.
    map_location : str or torch.device
        Where to put the tensors (default the CPU).

    Returns
    -------
    state_dict, meta : dict
        Tensors by parameter name, and the metadata saved with them.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a coinfer checkpoint: truncated, damaged, or a pickle that ``weights_only``
        refuses (the message names the file; never load such a file with ``weights_only=False``
        unless you trust who made it).

    Examples
    --------
    >>> from coinfer.paths import checkpoints_dir
    >>> from coinfer.train import load_checkpoint
    >>> state, meta = load_checkpoint(checkpoints_dir() / "quick" / "baseline.pt")
    >>> meta["dataset"], meta["width"], tuple(state["stem.0.weight"].shape)
    ('fashion-mnist', 0.125, (8, 3, 3, 3))
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as error:   # UnpicklingError, EOFError, OSError, RuntimeError, IndexError ...: bytes are not a checkpoint
        # torch's own messages name no file (a truncated one: "[Errno 22] Invalid argument"; an empty one:
        # nothing; text: "pop from empty list") or advise weights_only=False, which would run what the file holds.
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{path} is not a coinfer checkpoint: it does not load with weights_only=True "
                         f"({type(error).__name__}{': ' + first if first else ''})") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a coinfer checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return payload["state_dict"], payload["meta"]


def checkpoint_dir(preset: Preset, root: str | Path | None = None) -> Path:
    """The folder of ``preset``'s checkpoints: ``<root>/<preset name>``.

    Parameters
    ----------
    preset : Preset
        From :func:`coinfer.config.get_preset`.
    root : str or Path, optional
        Default :func:`coinfer.paths.checkpoints_dir`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.train import checkpoint_dir
    >>> checkpoint_dir(get_preset("quick"), root="/tmp/ckpt").as_posix()
    '/tmp/ckpt/quick'
    """
    from coinfer.paths import checkpoints_dir

    return Path(root if root is not None else checkpoints_dir()) / preset.name


def train_baseline(preset: Preset, data_root: str | Path | None = None,
                   device: torch.device | None = None) -> tuple[CifarResNet18, dict]:
    """Train the unsplit, unpruned network of ``preset`` from scratch.

    SGD with Nesterov momentum and a one-cycle learning rate; random crops and flips. Returns the
    model and its metadata (test accuracy, wall time, preset).

    Parameters
    ----------
    preset : Preset
        Dataset, width, seed and ``baseline`` settings (:class:`coinfer.config.TrainSettings`).
    data_root : str or Path, optional
        Dataset folder (default :func:`coinfer.paths.data_dir`).
    device : torch.device, optional
        Default :func:`default_device`.

    Returns
    -------
    model, meta
        The trained :class:`~coinfer.core.network.CifarResNet18` and a dict with ``test_accuracy`` and
        ``val_accuracy`` (fractions; it trains on the training split less the validation images), ``train_loss`` (per epoch), ``wall_time_s`` (seconds) and the preset's fields.

    Examples
    --------
    A tiny run (the quick preset's real baseline takes about 4 minutes on 2 CPU cores):

    >>> from coinfer.config import get_preset
    >>> from coinfer.train import train_baseline
    >>> tiny = get_preset("quick", width=1 / 16, baseline={"epochs": 1, "train_limit": 256, "batch_size": 64})
    >>> model, meta = train_baseline(tiny)                  # doctest: +SKIP
    >>> 0.0 <= meta["test_accuracy"] <= 1.0                 # doctest: +SKIP
    True
    """
    from coinfer.tensor_data import DataPath, training_batches

    device = device or default_device()
    seed_everything(preset.seed)
    settings = preset.baseline
    path = DataPath.for_device(device)          # on CUDA: images on the device, bf16, channels_last
    train_set = load_split(preset.dataset, "train", preset.validation, root=data_root, augment=True,
                           limit=settings.train_limit)
    train_loader = training_batches(train_set, settings.batch_size, preset.seed, device, path)
    val_loader, test_loader = (make_loader(load_split(preset.dataset, part, preset.validation, root=data_root),
                                           preset.eval_batch_size, shuffle=False) for part in ("val", "test"))
    model = CifarResNet18(ResNetConfig(width=preset.width)).to(device)
    # OneCycleLR replaces the momentum at once and cycles it (0.95 -> 0.85 -> 0.95); SGD only needs a
    # non-zero one to accept nesterov=True.
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.95,
                                weight_decay=settings.weight_decay, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, epochs=settings.epochs,
                                                    steps_per_epoch=len(train_loader))
    start = time.time()
    losses = fit(path.prepare(model), train_loader, optimizer=optimizer, epochs=settings.epochs,
                 scheduler=scheduler, device=device, desc="baseline", autocast=path.dtype)
    model = model.to(memory_format=torch.contiguous_format)   # saved and evaluated as on the CPU path
    wall = time.time() - start
    meta = {"kind": "baseline", "preset": preset.name, "dataset": preset.dataset, "width": preset.width,
            "seed": preset.seed, "epochs": settings.epochs, "baseline_settings": settings.to_dict(),
            "train_images": len(train_set),
            "validation": asdict(preset.validation), "val_accuracy": evaluate(model, val_loader, device),
            "test_accuracy": evaluate(model, test_loader, device), "train_loss": losses,
            "wall_time_s": round(wall, 1), "device": str(device), "data_path": asdict(path)}
    return model, meta


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[CifarResNet18, dict]:
    """A :class:`CifarResNet18` and its metadata from a checkpoint (its width is read from the metadata).

    Parameters
    ----------
    path : str or Path
        A checkpoint of a whole network, written by :func:`save_checkpoint` with ``meta["width"]``.
    device : torch.device, optional
        Default :func:`default_device`.

    Returns
    -------
    model, meta
        The network in eval mode, and the checkpoint's metadata.

    Examples
    --------
    >>> from coinfer.paths import checkpoints_dir
    >>> from coinfer.train import load_model
    >>> model, meta = load_model(checkpoints_dir() / "quick" / "baseline.pt")
    >>> model.config.stage_channels, model.training
    ((8, 16, 32, 64), False)
    """
    state, meta = load_checkpoint(path)
    model = CifarResNet18(ResNetConfig(width=meta["width"]))
    model.load_state_dict(state)
    return model.to(device or default_device()).eval(), meta


def get_baseline(preset: str | Preset = "quick", checkpoints: str | Path | None = None,
                 data_root: str | Path | None = None, retrain: bool = False) -> tuple[CifarResNet18, dict]:
    """The preset's baseline network: loaded from ``checkpoints/<preset>/baseline.pt`` if there,
    else trained (and saved there).

    Parameters
    ----------
    preset : str or Preset
        ``"quick"`` (its checkpoint is committed) or ``"paper"`` (trained on first use: minutes
        on a GPU), or a :class:`~coinfer.config.Preset`.
    checkpoints : str or Path, optional
        Checkpoint root (default :func:`coinfer.paths.checkpoints_dir`).
    data_root : str or Path, optional
        Dataset folder, used only when training.
    retrain : bool
        Train again even if a checkpoint exists (overwrites it).

    Returns
    -------
    model, meta
        The network in eval mode and its metadata (``test_accuracy`` a fraction).

    Examples
    --------
    >>> from coinfer.train import get_baseline
    >>> model, meta = get_baseline("quick")
    >>> meta["preset"], meta["dataset"], round(meta["test_accuracy"], 3)
    ('quick', 'fashion-mnist', 0.91)
    """
    from coinfer.paths import checkpoint_path

    preset = get_preset(preset) if isinstance(preset, str) else preset
    path = checkpoint_path(preset.name, root=checkpoints)
    if path.exists() and not retrain:
        model, meta = load_model(path)
        # The checkpoint is found by the preset's name alone: a preset changed since (--set width=...) must
        # not get the old network under the new settings' name. (Not the seed: a table's training seeds
        # 1 and 2 fine-tune from the one baseline, trained with the preset's seed 0.) A checkpoint without
        # "validation" was trained on every training image, the validation ones included: a mismatch.
        wanted = {"dataset": preset.dataset, "width": preset.width, "epochs": preset.baseline.epochs,
                  "validation": asdict(preset.validation), "baseline_settings": preset.baseline.to_dict()}
        differ = [name for name, value in wanted.items()
                  if (name in meta or name == "validation") and meta.get(name) != value]
        if differ:
            trained = ", ".join(f"{name} {meta[name]!r}" if name in meta else f"no {name} (all training images)"
                                for name in differ)
            asked = ", ".join(f"{name} {wanted[name]!r}" for name in differ)
            raise ValueError(f"{path} was trained with {trained}, the preset asks for {asked}: its accuracies would "
                             "not be comparable; to train one with these settings, add --retrain --checkpoints <a new "
                             f"folder> to the command (retraining into {path.parent} would replace the baseline "
                             "that its tables come from)")
        return model, meta
    model, meta = train_baseline(preset, data_root)
    save_checkpoint(path, model, meta)
    return model.eval(), meta
