"""The CIFAR ResNet18 of the paper, with a width multiplier and named split points.

Shao & Zhang (2020), section V-A: "We use the classical ResNet18 [He et al. 2016] as a classifier"
on CIFAR-10. This is the CIFAR variant used by the authors' public code: a 3x3 stem with stride 1 and
no max-pool, four stages of two BasicBlocks (64/128/256/512 channels), global average pooling and a
fully connected classifier::

    input 3x32x32
      -> stem        conv3x3(64) + BN + ReLU              64 x 32 x 32   (paper split s1)
      -> layer1.0/1  BasicBlock(64)  x 2                  64 x 32 x 32   (s2 = after layer1.1)
      -> layer2.0/1  BasicBlock(128) x 2, first stride 2  128 x 16 x 16  (s3 = after layer2.1)
      -> layer3.0/1  BasicBlock(256) x 2, first stride 2  256 x 8 x 8    (s4 = after layer3.1)
      -> layer4.0/1  BasicBlock(512) x 2, first stride 2  512 x 4 x 4
      -> pool        global average pool + flatten        512            (s5)
      -> fc          linear 512 -> 10                     10

The network is held as an ordered sequence of stages, and ``forward`` runs them one after another, so
that splitting it after any stage and running the two parts in turn gives exactly the full output.

Example::

    >>> from coinfer.core.network import resnet18, split
    >>> net = resnet18(width=1.0)
    >>> device_part, server_part = split(net, "layer2")  # the paper's s3
"""

from __future__ import annotations

import copy
import math
import numbers
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

# The split points' names live below every layer (records are validated against them).
from coinfer.splits import PAPER_SPLIT_POINTS, SPLIT_ALIASES, SPLIT_POINTS, STAGES, SplitPoint
from coinfer.units import is_count


@dataclass(frozen=True)
class ResNetConfig:
    """Shape of a CIFAR ResNet18.

    ``width`` scales every stage's channel count (1.0 is the paper's 64/128/256/512; the quick
    preset uses 1/8, i.e. 8/16/32/64), rounded to the nearest integer; it must be a finite number
    above 1/128, so that every stage keeps at least one channel (the stem's 64 * width rounds to 1 or more).
    ``num_classes`` is an integer >= 2, ``in_channels`` an integer >= 1.
    """

    width: float = 1.0
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self):
        # A width whose stem would round to 0 channels is refused rather than rounded up to 1: the
        # network built would not be the one asked for.
        if (isinstance(self.width, bool) or not isinstance(self.width, numbers.Real)
                or not math.isfinite(self.width) or round(64 * self.width) < 1):
            raise ValueError(f"width must be a finite number > 1/128 (so that the stem's 64 * width rounds to at "
                             f"least 1 channel), got {self.width!r}")
        if not is_count(self.num_classes, 2):
            raise ValueError(f"num_classes must be an integer >= 2, got {self.num_classes!r}")
        if not is_count(self.in_channels, 1):
            raise ValueError(f"in_channels must be an integer >= 1 (image channels), got {self.in_channels!r}")

    @property
    def stage_channels(self) -> tuple[int, int, int, int]:
        return tuple(round(c * self.width) for c in (64, 128, 256, 512))   # each >= 1: width is checked


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al. 2016, Fig. 2).

    When the block changes resolution or width, the shortcut is a strided 1x1 convolution + BN.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """CIFAR ResNet18 as an ordered sequence of named stages (see the module docstring)."""

    def __init__(self, config: ResNetConfig = ResNetConfig()):
        super().__init__()
        self.config = config
        c1, c2, c3, c4 = config.stage_channels
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, c1, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(inplace=True),
        )
        self.layer1 = nn.Sequential(BasicBlock(c1, c1), BasicBlock(c1, c1))
        self.layer2 = nn.Sequential(BasicBlock(c1, c2, 2), BasicBlock(c2, c2))
        self.layer3 = nn.Sequential(BasicBlock(c2, c3, 2), BasicBlock(c3, c3))
        self.layer4 = nn.Sequential(BasicBlock(c3, c4, 2), BasicBlock(c4, c4))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c4, config.num_classes)

    def stages(self) -> "OrderedDict[str, nn.Module]":
        """The stages in execution order, keyed by the names in :data:`STAGES`."""
        return OrderedDict((name, self.get_submodule(name)) for name in STAGES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages().values():
            x = stage(x)
        return x


def resnet18(width: float = 1.0, num_classes: int = 10, in_channels: int = 3) -> CifarResNet18:
    """A CIFAR ResNet18 with every stage's channels scaled by ``width`` (freshly initialized).

    Parameters
    ----------
    width : float
        Multiplier of the channel counts 64/128/256/512 (rounded); 1.0 is the paper's network
        (11.17 M parameters, 557.9 M MACs per 32x32 image by thop), the quick preset uses 1/8.
        Must be a finite number > 1/128 (every stage keeps at least one channel).
    num_classes : int
        Outputs of the final linear layer (10 for CIFAR-10 and Fashion-MNIST).
    in_channels : int
        Channels of the input image (3: grey images are repeated to 3 channels by
        :mod:`coinfer.data`).

    Returns
    -------
    CifarResNet18
        In training mode; call ``.eval()`` before inference.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> net = resnet18(width=1 / 16)
    >>> net.config.stage_channels
    (4, 8, 16, 32)
    >>> sum(p.numel() for p in net.parameters())
    44622
    """
    return CifarResNet18(ResNetConfig(width=width, num_classes=num_classes, in_channels=in_channels))


def split(model: "CifarResNet18 | nn.Sequential", point: "str | SplitPoint") -> tuple[nn.Sequential, nn.Sequential]:
    """Split ``model`` after ``point`` into a device part and a server part.

    The parts hold the model's own stage modules (no copy): training or pruning a part changes the
    model. ``server_part(device_part(x))`` equals ``model(x)`` exactly. At ``input`` the device
    part is empty (identity); at ``output`` the server part is.

    Parameters
    ----------
    model : CifarResNet18 or torch.nn.Sequential
        The network to split (its modules are shared with the parts, not copied), or a sequence of
        its stages under the parts' names (``stem``, ``layer1_0``, ..., ``fc``), such as
        :func:`coinfer.core.pruning.compact` makes of a whole pruned network.
    point : str or SplitPoint
        A name from :data:`SPLIT_POINTS` or :data:`SPLIT_ALIASES` (validated here, see
        :class:`SplitPoint`).

    Returns
    -------
    device_part, server_part : torch.nn.Sequential
        The stages before and after ``point``. The device part maps a batch of images
        ``(N, 3, 32, 32)`` to the intermediate feature; the server part maps that to class scores
        ``(N, num_classes)``.

    Raises
    ------
    ValueError
        For an unknown split point, or a ``model`` that is neither a :class:`CifarResNet18` nor a
        sequence of its stages.

    Examples
    --------
    >>> import torch
    >>> from coinfer.core.network import resnet18, split
    >>> net = resnet18(width=1 / 16).eval()
    >>> device_part, server_part = split(net, "s3")          # after layer2.1
    >>> x = torch.zeros(2, 3, 32, 32)
    >>> device_part(x).shape                                 # the feature the device sends
    torch.Size([2, 8, 16, 16])
    >>> torch.equal(server_part(device_part(x)), net(x))
    True
    >>> whole, _ = split(net, "output")                      # a Sequential of the stages splits alike
    >>> [len(part) for part in split(whole, "s3")]
    [5, 6]
    """
    if isinstance(model, CifarResNet18):
        # Module names may not contain dots, so "layer2.1" becomes "layer2_1" inside the parts.
        stages = [(name.replace(".", "_"), module) for name, module in model.stages().items()]
    else:
        stages = list(model.named_children())
        names, expected = [name for name, _ in stages], [name.replace(".", "_") for name in STAGES]
        if not isinstance(model, nn.Sequential) or names != expected:
            raise ValueError(f"can only split a CifarResNet18 or a Sequential of its stages {expected}, got "
                             f"{type(model).__name__} with children {names}")
    k = SplitPoint(point).index
    return nn.Sequential(OrderedDict(stages[:k])), nn.Sequential(OrderedDict(stages[k:]))


@torch.no_grad()
def fold_batchnorm(part: nn.Module) -> nn.Module:
    """A copy of the eval-mode ``part`` with every batch norm folded into the convolution before it.

    In eval mode a batch norm is a fixed per-channel affine map, so the convolution it follows can
    absorb it (``torch.nn.utils.fusion.fuse_conv_bn_eval``: scaled weights and a bias): the same
    function up to float rounding, with one layer fewer to run and to back-propagate through per
    pair. For a frozen part only, whose batch norms never update (a codec's server part). The pairs
    are those of this network: consecutive children of a ``Sequential`` (the stem, a shortcut) and a
    :class:`BasicBlock`'s ``conv1``/``bn1`` and ``conv2``/``bn2``.

    Parameters
    ----------
    part : torch.nn.Module
        A :class:`CifarResNet18`, one of its parts (:func:`split`) or a compacted part, its batch
        norms in eval mode; it is not changed.

    Returns
    -------
    torch.nn.Module
        The folded copy, its parameters as trainable as ``part``'s.

    Raises
    ------
    ValueError
        If a batch norm of ``part`` is in training mode (it normalizes by batch statistics there), or
        holds a batch norm with no convolution directly before it.

    Examples
    --------
    >>> import torch
    >>> from coinfer.core.network import fold_batchnorm, resnet18, split
    >>> _, server = split(resnet18(width=1 / 16).eval(), "layer2.1")
    >>> folded = fold_batchnorm(server)
    >>> any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    False
    >>> x = torch.randn(2, 8, 16, 16)
    >>> torch.allclose(folded(x), server(x), atol=1e-5)
    True
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    training = [name for name, m in part.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if training:
        raise ValueError(f"fold_batchnorm folds eval-mode batch norms only; in training mode: {training[:3]} "
                         "(call .eval() first)")
    folded = copy.deepcopy(part)
    for module in folded.modules():
        if isinstance(module, BasicBlock):
            pairs = [("conv1", "bn1"), ("conv2", "bn2")]
        elif isinstance(module, nn.Sequential):
            names = list(module._modules)
            pairs = list(zip(names, names[1:]))
        else:
            continue
        for conv, bn in pairs:
            if isinstance(module._modules[conv], nn.Conv2d) and isinstance(module._modules[bn], nn.BatchNorm2d):
                # A convolution's mode changes nothing it computes (compact makes them in training mode).
                module._modules[conv] = fuse_conv_bn_eval(module._modules[conv].eval(), module._modules[bn])
                module._modules[bn] = nn.Identity()
    left = [name for name, m in folded.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise ValueError(f"fold_batchnorm found no convolution directly before the batch norm(s) {left[:3]}")
    return folded
