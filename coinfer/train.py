"""Training and evaluation loops, seeding, and safe checkpoints.

Checkpoints are plain ``state_dict`` tensors plus a JSON-able metadata dict, saved with
``torch.save`` and always loaded with ``torch.load(..., weights_only=True)``: loading never
unpickles arbitrary objects.

The baseline (unsplit, unpruned) network of a preset is trained once and reused::

    python -m coinfer train --preset quick      # data/checkpoints/quick/baseline.pt, ~4 min on 2 CPU cores
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import load_dataset, make_loader
from .models import CifarResNet18, ResNetConfig
from .presets import Preset, get_preset

CHECKPOINT_FORMAT = "coinfer.checkpoint/1"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a run with the same seed repeats its numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device | None = None,
             progress: bool = False) -> float:
    """Top-1 accuracy of ``model`` on ``loader``, a fraction in [0, 1]."""
    device = device or next(model.parameters()).device
    model.eval()
    correct = total = 0
    for images, labels in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        logits = model(images.to(device))
        correct += (logits.argmax(1).cpu() == labels).sum().item()
        total += labels.numel()
    return correct / total


def train_epochs(model: nn.Module, loader, optimizer: torch.optim.Optimizer, epochs: int,
                 scheduler=None, loss_fn: Callable | None = None, device: torch.device | None = None,
                 desc: str = "train", on_step: Callable[[int], None] | None = None) -> list[float]:
    """Train ``model`` for ``epochs`` epochs with a progress bar; returns the mean loss per epoch.

    ``scheduler`` is stepped after every batch; ``on_step(step)`` runs before every batch (pruning
    uses it to refresh masks).
    """
    device = device or next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history, step = [], 0
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False)
        for images, labels in bar:
            if on_step is not None:
                on_step(step)
            images, labels = images.to(device), labels.to(device)
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * labels.numel()
            count += labels.numel()
            step += 1
            bar.set_postfix(loss=f"{total / count:.3f}")
        history.append(total / count)
    return history


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict) -> Path:
    """Save ``model``'s weights and ``meta`` (JSON-able values only) for :func:`load_checkpoint`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "meta": meta, "state_dict": state}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """``(state_dict, meta)`` of a checkpoint written by :func:`save_checkpoint`.

    Uses ``weights_only=True``, so a malicious file cannot run code while loading.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a coinfer checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return payload["state_dict"], payload["meta"]


def checkpoint_dir(preset: Preset, root: str | Path | None = None) -> Path:
    from .paths import checkpoints_dir

    return Path(root if root is not None else checkpoints_dir()) / preset.name


def train_baseline(preset: Preset, data_root: str | Path | None = None,
                   device: torch.device | None = None) -> tuple[CifarResNet18, dict]:
    """Train the unsplit, unpruned network of ``preset`` from scratch.

    SGD with Nesterov momentum and a one-cycle learning rate; random crops and flips. Returns the
    model and its metadata (test accuracy, wall time, preset).
    """
    device = device or default_device()
    seed_everything(preset.seed)
    train_set = load_dataset(preset.dataset, train=True, root=data_root, augment=True,
                             limit=preset.train_limit)
    test_set = load_dataset(preset.dataset, train=False, root=data_root)
    train_loader = make_loader(train_set, preset.batch_size, shuffle=True, seed=preset.seed)
    test_loader = make_loader(test_set, preset.eval_batch_size, shuffle=False)
    model = CifarResNet18(ResNetConfig(width=preset.width)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=preset.lr, momentum=preset.momentum,
                                weight_decay=preset.weight_decay, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=preset.lr, epochs=preset.epochs,
                                                    steps_per_epoch=len(train_loader))
    start = time.time()
    losses = train_epochs(model, train_loader, optimizer, preset.epochs, scheduler,
                          device=device, desc="baseline")
    wall = time.time() - start
    accuracy = evaluate(model, test_loader, device)
    meta = {"kind": "baseline", "preset": preset.name, "dataset": preset.dataset, "width": preset.width,
            "seed": preset.seed, "epochs": preset.epochs, "train_images": len(train_set),
            "test_accuracy": accuracy, "train_loss": losses, "wall_time_s": round(wall, 1),
            "device": str(device)}
    return model, meta


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[CifarResNet18, dict]:
    """A :class:`CifarResNet18` and its metadata from a checkpoint (its width is read from the metadata)."""
    state, meta = load_checkpoint(path)
    model = CifarResNet18(ResNetConfig(width=meta["width"]))
    model.load_state_dict(state)
    return model.to(device or default_device()).eval(), meta


def get_baseline(preset: str | Preset = "quick", checkpoints: str | Path | None = None,
                 data_root: str | Path | None = None, retrain: bool = False) -> tuple[CifarResNet18, dict]:
    """The preset's baseline network: loaded from ``checkpoints/<preset>/baseline.pt`` if there,
    else trained (and saved there)."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    path = checkpoint_dir(preset, checkpoints) / "baseline.pt"
    if path.exists() and not retrain:
        return load_model(path)
    model, meta = train_baseline(preset, data_root)
    save_checkpoint(path, model, meta)
    return model.eval(), meta
