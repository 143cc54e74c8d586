"""What each split point costs the device and what it must send: the paper's Fig. 1 in numbers.

For every split point the device part's multiply-accumulates (MACs, counted by thop) and parameters,
the server part's MACs, and the shape and size of the feature the device sends. Units: **MACs**
throughout (one multiply-accumulate; FLOPs = 2 x MACs); sizes in **bits**.

thop counts convolutions, linear layers, batch norms (4 per element: normalize and scale-shift,
2 each, added to its MAC count) and the average pool;
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
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from coinfer.core.entropy import symbol_width
from coinfer.core.network import PAPER_SPLIT_POINTS, SPLIT_ALIASES, SPLIT_POINTS, CifarResNet18

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

    Parameters
    ----------
    module : torch.nn.Module
        Any module.

    Returns
    -------
    torch.device

    Examples
    --------
    >>> from torch import nn
    >>> from coinfer.core.costs import module_device
    >>> module_device(nn.Linear(4, 2)), module_device(nn.ReLU())
    (device(type='cpu'), device(type='cpu'))
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
    thop counts convolutions, linear layers and batch normalization (4 per element of an affine
    batch norm, added to the MACs); ReLUs and residual additions are free.

    Parameters
    ----------
    module : torch.nn.Module
        Any module; it is copied and put in eval mode, the original is untouched.
    input_shape : tuple of int
        Shape of one input without the batch axis, e.g. ``(3, 32, 32)``.

    Returns
    -------
    macs, params : int
        Multiply-accumulates for one input (FLOPs = 2 x MACs) and parameters as thop counts them.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import thop_macs
    >>> thop_macs(resnet18(width=1 / 16), (3, 32, 32))
    (2427744, 44622)
    """
    macs, params = _thop_profile(module, input_shape)
    return int(macs), int(params)


def thop_module_macs(module: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """MACs of each module of ``module`` that has no submodules, on one input of ``input_shape``,
    keyed by its name in ``module.named_modules()``: one thop pass over a CPU copy, as
    :func:`thop_macs`, whose count is their sum. For a cost per layer (e.g. one that scales with
    the channels a pruner keeps) without profiling every layer on its own.

    Parameters
    ----------
    module : torch.nn.Module
        Any module; it is copied, the original is untouched.
    input_shape : tuple of int
        Shape of one input without the batch axis, e.g. ``(3, 32, 32)``.

    Returns
    -------
    dict
        Module name to its MACs for one input; modules thop counts nothing for (ReLUs) have 0.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import thop_macs, thop_module_macs
    >>> model = resnet18(width=1 / 16)
    >>> per_module = thop_module_macs(model, (3, 32, 32))
    >>> per_module["stem.0"], sum(per_module.values()) == thop_macs(model, (3, 32, 32))[0]
    (110592, True)
    """
    found = {}

    def walk(prefix: str, layers: dict) -> None:
        for name, (macs, _, children) in layers.items():
            if children:
                walk(f"{prefix}{name}.", children)
            else:
                found[f"{prefix}{name}"] = int(macs)

    walk("", _thop_profile(module, input_shape, per_layer=True)[2])
    return found


def _thop_profile(module: nn.Module, input_shape: tuple[int, ...], per_layer: bool = False) -> tuple:
    """thop's profile of a CPU copy of ``module`` in eval mode (see :func:`thop_macs`)."""
    from thop import profile as thop_profile

    module = copy.deepcopy(module).cpu().eval()
    with torch.no_grad():
        return thop_profile(module, inputs=(torch.zeros(1, *input_shape),), verbose=False, ret_layer_info=per_layer)


def flop_counter_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of ``module`` by PyTorch's own ``FlopCounterMode`` (its FLOPs / 2).

    Counts convolutions and matrix products only, unlike thop (see the module docstring): for the
    full-width network it gives the authors' 555.4 M MACs, thop 557.9 M.

    Parameters
    ----------
    module : torch.nn.Module
        Any module; a copy in eval mode is run once on zeros.
    input_shape : tuple of int
        Shape of one input without the batch axis.

    Returns
    -------
    int
        Multiply-accumulates for one input.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import flop_counter_macs
    >>> flop_counter_macs(resnet18(width=1 / 16), (3, 32, 32))
    2273600
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        copy.deepcopy(module).cpu().eval()(torch.zeros(1, *input_shape))   # a CPU copy, as thop_macs
    return counter.get_total_flops() // 2


def count_params(module: nn.Module) -> int:
    """Number of parameters (weights and biases; not BN running statistics) of ``module``.

    Parameters
    ----------
    module : torch.nn.Module
        Any module.

    Returns
    -------
    int
        The sum of ``p.numel()`` over ``module.parameters()``.

    Examples
    --------
    >>> from torch import nn
    >>> from coinfer.core.costs import count_params
    >>> count_params(nn.Conv2d(3, 8, 3))          # 8 x 3 x 3 x 3 weights + 8 biases
    224
    """
    return sum(p.numel() for p in module.parameters())


def profile_splits(model: CifarResNet18, input_shape: tuple[int, ...] = INPUT_SHAPE) -> list[SplitProfile]:
    """A :class:`SplitProfile` for every split point of ``model``, in execution order.

    Each stage is profiled once with thop; a split point's device cost is the sum over the stages
    before it, which equals profiling the device part as a whole (tested).

    Parameters
    ----------
    model : CifarResNet18
        The network; only its shape matters (operation counts need no trained weights).
    input_shape : tuple of int
        One input without the batch axis (default ``(3, 32, 32)``).

    Returns
    -------
    list of SplitProfile
        One per name in :data:`coinfer.splits.SPLIT_POINTS`: device and server MACs and
        parameters, and the feature's shape (its sizes in bits are properties).

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import profile_splits
    >>> rows = profile_splits(resnet18(width=1 / 16))
    >>> s3 = rows[5]
    >>> s3.point, s3.paper_name, s3.device_macs, s3.feature_shape, s3.feature_bits_float32
    ('layer2.1', 's3', 1347584, (8, 16, 16), 65536)
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


def decision_bits(classes: int) -> int:
    """Bits per image that on-device inference sends: its predicted class as a fixed-length index.

    ``ceil(log2 classes)``: 4 bits for 10 classes. This is the one definition of the on-device
    record's bits (the ``output`` split point) in every table, chapter and latency prediction; the
    device does not send its class scores (10 float32 logits would be 320 bits).

    Parameters
    ----------
    classes : int
        Number of classes, >= 2.

    Returns
    -------
    int
        Bits per image.

    Examples
    --------
    >>> decision_bits(10), decision_bits(2)
    (4, 1)
    """
    return symbol_width(int(classes))


#: Bytes of a PNG file around its compressed image data: the 8-byte signature, the IHDR chunk (25)
#: and the IEND chunk (12), 12 per IDAT chunk (length, type, CRC-32), and inside the IDAT data the
#: zlib stream's 2-byte header and 4-byte Adler-32 (:func:`png_data_bits`).
PNG_CONTAINER_BYTES = 8 + 25 + 12 + 12 + 2 + 4


def png_data_bits(png: bytes) -> int:
    """Bits of a PNG file's compressed image data: its deflate stream, without the container.

    The container (signature, chunk lengths, types and CRC-32s, the IHDR and IEND chunks, the zlib
    header and Adler-32 checksum) is framing, like a codec packet's header: coinfer counts it apart,
    as it counts every feature's payload without its framing (:mod:`coinfer.core.entropy`).

    Parameters
    ----------
    png : bytes
        A PNG file.

    Returns
    -------
    int
        ``8 x`` (the IDAT chunks' data bytes - 6).

    Raises
    ------
    ValueError
        If ``png`` is not a whole PNG file (signature, chunks, at least one IDAT chunk).

    Examples
    --------
    >>> from coinfer.data import png_bytes
    >>> png = png_bytes(np.zeros((28, 28), dtype=np.uint8))
    >>> png_data_bits(png) == 8 * (len(png) - PNG_CONTAINER_BYTES)    # one IDAT chunk
    True
    """
    import struct

    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"not a PNG file: it starts with {bytes(png[:8])!r}, not the PNG signature")
    pos, data = 8, 0
    idat = 0
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if pos + 12 + length > len(png):
            raise ValueError(f"PNG chunk {kind!r} at byte {pos} runs past the file's end ({len(png)} bytes)")
        if kind == b"IDAT":
            data += length
            idat += 1
        pos += 12 + length
    if not idat or data < 6:
        raise ValueError("PNG file holds no image data (no IDAT chunk with a zlib stream)")
    return 8 * (data - 6)


@dataclass(frozen=True)
class InputSize:
    """Size of the dataset's own images, as a server-based system would send them.

    ``png_bits_mean`` counts the compressed image data only (:func:`png_data_bits`), as every
    feature's bits are counted without framing; ``png_file_bits_mean`` is the whole PNG file.
    """

    dataset: str
    image_shape: tuple[int, ...]
    raw_bits: int              # uint8 pixels, no container
    png_bits_mean: float       # Pillow PNG's image data (deflate stream), mean over ``images`` images
    png_bits_std: float
    images: int
    png_file_bits_mean: float | None = None   # the whole PNG file, container included

    def to_dict(self) -> dict:
        row = asdict(self)
        row["image_shape"] = list(self.image_shape)
        return row


def input_size(dataset: str, root: str | Path | None = None, limit: int = 1000) -> InputSize:
    """Raw and PNG size of the first ``limit`` test images of ``dataset`` in its native format.

    Parameters
    ----------
    dataset : str
        ``"fashion-mnist"`` (28x28 grey) or ``"cifar10"`` (32x32x3; downloads 170 MB once).
    root : str or Path, optional
        Dataset folder (default :func:`coinfer.paths.data_dir`).
    limit : int
        How many test images to measure (from the first).

    Returns
    -------
    InputSize
        Raw size in bits (8 bits per pixel and colour), the mean and standard deviation of the
        PNG image data in bits (Pillow, default settings; :func:`png_data_bits`, container
        excluded) and the mean size of the whole PNG file.

    Examples
    --------
    >>> from coinfer.core.costs import input_size
    >>> size = input_size("fashion-mnist", limit=10)     # Debian's package, or a download
    >>> size.raw_bits, size.images, size.png_bits_mean > 1000
    (6272, 10, True)
    """
    from coinfer.data import native_images, png_bytes

    images = native_images(dataset, train=False, root=root, limit=limit)
    files = [png_bytes(image) for image in images]
    png_bits = np.array([png_data_bits(png) for png in files], dtype=float)
    return InputSize(
        dataset=dataset,
        image_shape=tuple(images.shape[1:]),
        raw_bits=8 * math.prod(images.shape[1:]),
        png_bits_mean=float(png_bits.mean()),
        png_bits_std=float(png_bits.std()),
        images=len(images),
        png_file_bits_mean=float(np.mean([8 * len(png) for png in files])),
    )


def amplifies(row: SplitProfile, input_bits: float, bits_per_element: int = 32) -> bool:
    """Whether sending ``row``'s feature costs more bits than sending the input (data amplification).

    Parameters
    ----------
    row : SplitProfile
        A split point's profile.
    input_bits : float
        Bits of the input it is compared with (24,576 for a raw CIFAR-10 image).
    bits_per_element : int
        Bits spent on each element of the feature (32 for float32, 8 after 8-bit quantization).

    Returns
    -------
    bool
        ``feature_elements * bits_per_element > input_bits``.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import amplifies, profile_splits
    >>> s3 = profile_splits(resnet18(width=1 / 16))[5]           # 8 x 16 x 16 elements
    >>> amplifies(s3, 24576), amplifies(s3, 24576, bits_per_element=1)
    (True, False)
    """
    return row.feature_elements * bits_per_element > input_bits


def format_table(rows: list[SplitProfile], input_bits: InputSize | None = None) -> str:
    """A plain-text table of ``rows`` (MACs in millions, parameters in millions, sizes in kbit).

    Parameters
    ----------
    rows : list of SplitProfile
        From :func:`profile_splits`.
    input_bits : InputSize, optional
        When given, a last line states the input image's raw and PNG size.

    Returns
    -------
    str
        The table, one line per split point, with the units in its header and footer.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.core.costs import format_table, profile_splits
    >>> print(format_table(profile_splits(resnet18(width=1 / 16))[:2]))   # doctest: +NORMALIZE_WHITESPACE
    split point paper device MMACs device Mparams server MMACs feature shape  float32 kbit 8-bit kbit
    -------------------------------------------------------------------------------------------------
    input                    0.00         0.0000         2.43 3x32x32                98.3       24.6
    stem       s1            0.13         0.0001         2.30 4x32x32               131.1       32.8
    MACs = multiply-accumulates (FLOPs = 2 x MACs), counted by thop; paper split points: stem, layer1.1, layer2.1, layer3.1, pool.
    """
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
                     f"raw {input_bits.raw_bits / 1e3:.1f} kbit, PNG image data {input_bits.png_bits_mean / 1e3:.1f} kbit "
                     f"(mean of {input_bits.images} test images)")
    return "\n".join(lines)


def time_forward(module: nn.Module, input_shape: Sequence[int], repeats: int = 20, warmup: int = 3,
                 batch: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` forward passes of ``module`` on a zero batch, after ``warmup``.

    The measured counterpart of the counted MACs: runs under ``torch.no_grad()`` in eval mode with
    the current ``torch.get_num_threads()``, on the CPU only (a GPU's kernels would run on after
    the clock stops).

    Parameters
    ----------
    module : torch.nn.Module
        On the CPU; set to eval mode.
    input_shape : sequence of int
        One input's shape, without the batch axis (e.g. ``(3, 32, 32)``).
    repeats : int
        Timed passes (>= 1).
    warmup : int
        Untimed passes first (>= 0).
    batch : int
        Images per pass.

    Returns
    -------
    list of float
        Seconds of every timed pass (take the median; the first runs after start-up are the slowest).

    Examples
    --------
    >>> from coinfer.core.costs import time_forward
    >>> from coinfer.core.network import resnet18
    >>> times = time_forward(resnet18(width=1 / 16), (3, 32, 32), repeats=3, warmup=1)
    >>> len(times), all(t > 0 for t in times)
    (3, True)
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    device = module_device(module)
    if device.type != "cpu":   # no synchronization here: GPU kernels would run on after the clock stops
        raise ValueError(f"time_forward times CPU execution; the module is on {device} (move it with .cpu())")
    module = module.eval()
    x = torch.zeros(batch, *input_shape)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            module(x)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed)
    return times
