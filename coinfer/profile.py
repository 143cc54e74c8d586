"""What each split point costs the device and what it must send: the paper's Fig. 1 in numbers.

For every split point the device part's multiply-accumulates (MACs, counted by thop) and parameters,
the server part's MACs, and the shape and size of the feature the device sends. Units: **MACs**
throughout (one multiply-accumulate; FLOPs = 2 x MACs); sizes in **bits**.

thop counts convolutions, linear layers, batch norms (2 MACs per element) and the average pool;
``torch.utils.flop_counter`` counts only convolutions and matrix products, in FLOPs.
:func:`flop_counter_macs` gives the latter for cross-checking (they agree within 1% here).

Data amplification (Shao & Zhang, Fig. 1, after JALAD): a split point amplifies data when its
feature is larger than the input image, raw or PNG-encoded, so that splitting there sends more
than server-based inference would.

Command line::

    python -m coinfer profile --width 1.0            # a readable table
    python -m coinfer profile --width 1.0 --json     # for machines
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .models import PAPER_SPLIT_POINTS, SPLIT_ALIASES, SPLIT_POINTS, CifarResNet18

INPUT_SHAPE = (3, 32, 32)
_PAPER_NAME = {name: alias for alias, name in SPLIT_ALIASES.items() if alias.startswith("s")}


@dataclass(frozen=True)
class SplitProfile:
    """Costs of one split point. MACs are multiply-accumulates (FLOPs = 2 x MACs)."""

    point: str
    paper_name: str          # "s1".."s5" for the paper's five split points, else ""
    device_macs: int
    device_params: int
    server_macs: int
    server_params: int
    feature_shape: tuple[int, ...]

    @property
    def feature_elements(self) -> int:
        return math.prod(self.feature_shape)

    @property
    def feature_bits_float32(self) -> int:
        return 32 * self.feature_elements

    @property
    def feature_bits_8bit(self) -> int:
        return 8 * self.feature_elements

    def to_dict(self) -> dict:
        row = asdict(self)
        row["feature_shape"] = list(self.feature_shape)
        row.update(feature_elements=self.feature_elements,
                   feature_bits_float32=self.feature_bits_float32,
                   feature_bits_8bit=self.feature_bits_8bit)
        return row


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); the CPU for a module holding neither.

    Lets a function that builds its own input (zeros for a shape probe, say) put it where the module
    is, so the same code runs for a model on the CPU and on a GPU.
    """
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def thop_macs(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """MACs and parameters of ``module`` on one input of ``input_shape`` (no batch axis), by thop.

    Profiles a CPU copy: thop attaches counters to the modules it visits, its input is a CPU
    tensor, and counts do not depend on the device, so ``module`` may live anywhere and stays there.
    """
    from thop import profile as thop_profile

    module = copy.deepcopy(module).cpu().eval()
    with torch.no_grad():
        macs, params = thop_profile(module, inputs=(torch.zeros(1, *input_shape),), verbose=False)
    return int(macs), int(params)


def flop_counter_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of ``module`` by PyTorch's own ``FlopCounterMode`` (its FLOPs / 2).

    Counts convolutions and matrix products only, unlike thop (see the module docstring).
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        copy.deepcopy(module).cpu().eval()(torch.zeros(1, *input_shape))   # a CPU copy, as thop_macs
    return counter.get_total_flops() // 2


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def profile_splits(model: CifarResNet18, input_shape: tuple[int, ...] = INPUT_SHAPE) -> list[SplitProfile]:
    """A :class:`SplitProfile` for every split point of ``model``, in execution order.

    Each stage is profiled once with thop; a split point's device cost is the sum over the stages
    before it, which equals profiling the device part as a whole (tested).
    """
    stage_macs, stage_params, shapes = [], [], [tuple(input_shape)]
    x = torch.zeros(1, *input_shape, device=module_device(model))   # the shape probe runs where the model is
    model = model.eval()
    with torch.no_grad():
        for stage in model.stages().values():
            stage_macs.append(thop_macs(stage, tuple(x.shape[1:]))[0])
            # Counted directly: thop's parameter total leaves out some modules' parameters.
            stage_params.append(count_params(stage))
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
    total_macs, total_params = sum(stage_macs), sum(stage_params)
    rows = []
    for k, point in enumerate(SPLIT_POINTS):
        device_macs, device_params = sum(stage_macs[:k]), sum(stage_params[:k])
        rows.append(SplitProfile(
            point=point,
            paper_name=_PAPER_NAME.get(point, ""),
            device_macs=device_macs,
            device_params=device_params,
            server_macs=total_macs - device_macs,
            server_params=total_params - device_params,
            feature_shape=shapes[k],
        ))
    return rows


@dataclass(frozen=True)
class InputSize:
    """Size of the dataset's own images, as a server-based system would send them."""

    dataset: str
    image_shape: tuple[int, ...]
    raw_bits: int              # uint8 pixels, no container
    png_bits_mean: float       # Pillow PNG, mean over ``images`` images
    png_bits_std: float
    images: int

    def to_dict(self) -> dict:
        row = asdict(self)
        row["image_shape"] = list(self.image_shape)
        return row


def input_size(dataset: str, root: str | Path | None = None, limit: int = 1000) -> InputSize:
    """Raw and PNG size of the first ``limit`` test images of ``dataset`` in its native format."""
    from .data import native_images, png_bytes

    images = native_images(dataset, train=False, root=root, limit=limit)
    png_bits = np.array([8 * len(png_bytes(image)) for image in images], dtype=float)
    return InputSize(
        dataset=dataset,
        image_shape=tuple(images.shape[1:]),
        raw_bits=8 * math.prod(images.shape[1:]),
        png_bits_mean=float(png_bits.mean()),
        png_bits_std=float(png_bits.std()),
        images=len(images),
    )


def amplifies(row: SplitProfile, input_bits: float, bits_per_element: int = 32) -> bool:
    """Whether sending ``row``'s feature costs more bits than sending the input (data amplification)."""
    return row.feature_elements * bits_per_element > input_bits


def format_table(rows: list[SplitProfile], input_bits: InputSize | None = None) -> str:
    """A plain-text table of ``rows`` (MACs in millions, parameters in millions, sizes in kbit)."""
    header = (f"{'split point':<10} {'paper':<5} {'device MMACs':>12} {'device Mparams':>14} "
              f"{'server MMACs':>12} {'feature shape':<14} {'float32 kbit':>12} {'8-bit kbit':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.point:<10} {r.paper_name:<5} {r.device_macs / 1e6:>12.2f} {r.device_params / 1e6:>14.4f} "
            f"{r.server_macs / 1e6:>12.2f} {'x'.join(map(str, r.feature_shape)):<14} "
            f"{r.feature_bits_float32 / 1e3:>12.1f} {r.feature_bits_8bit / 1e3:>10.1f}")
    lines.append("MACs = multiply-accumulates (FLOPs = 2 x MACs), counted by thop; "
                 f"paper split points: {', '.join(PAPER_SPLIT_POINTS)}.")
    if input_bits is not None:
        lines.append(f"input image ({input_bits.dataset}, {'x'.join(map(str, input_bits.image_shape))}): "
                     f"raw {input_bits.raw_bits / 1e3:.1f} kbit, PNG {input_bits.png_bits_mean / 1e3:.1f} kbit "
                     f"(mean of {input_bits.images} test images)")
    return "\n".join(lines)
