"""Communication-aware incremental pruning of the on-device part (Shao & Zhang 2020, section III-C).

Only the device part (the stages before the split point) is pruned; the server part keeps its full
width. Pruning is *structured*: whole output channels of convolutions are switched off, so that the
device really runs fewer multiply-accumulates and, because the last on-device layer loses channels
too (activation pruning), really sends fewer values. That last part is what makes the pruning
*communication-aware*.

One pruning iteration (every ``interval`` training steps), as in the paper::

    start of iteration i
      | (3) drop the masks of iteration i-1; its masked weights get back the values they had
      |     when iteration i-1 started
      | (1) sparsity S_i from the schedule (rising to the target); per channel group, rank the
      |     output channels by the l2 norm of their weights; mask the smallest floor(S_i * C)
      |     (keep a copy of every weight as it is now, for the next restoration)
      v
    training steps of iteration i
        (2) masked weights are 0 in the forward pass; their gradients are zeroed and, after every
            optimizer step, they are set to 0 again: only unmasked weights are updated

A channel is "masked" when its convolution filter **and** its BatchNorm scale and shift are zero:
then the channel's output is exactly 0 after the BatchNorm (in training and evaluation mode), so
the masked network equals a physically smaller one.

Channel groups. A residual addition ties channels together: in ``relu(bn2(conv2(h)) + shortcut(x))``
channel c of the sum mixes channel c of both branches, so channel c can only disappear if it goes
from every tensor that is added, i.e. from the whole *residual stream* of a stage::

    stem.conv ──┬─ layer1.0 (+) ── layer1.1 (+) ──┬─ layer2.0: conv2 (+) shortcut conv ── layer2.1 (+) ─ ...
                └── stream "stem": c1 channels ───┘   stream "layer2_0": c2 channels

    group "stem"      : stem conv, layer1.0.conv2, layer1.1.conv2      (identity shortcuts)
    group "layer2_0"  : layer2.0.conv2, layer2.0.shortcut conv, layer2.1.conv2
    group "<block>.conv1" : one block's first conv, free (nothing is added to it)

A stream group's channels are ranked by the l2 norm of all its member filters together. The group
that reaches the split point is the *output group*: pruning it is the activation pruning (its own
target, ``output_sparsity``, defaults to the others').

Compaction (:func:`compact`) removes the masked channels for real: every convolution keeps only its
group's kept output channels and its input group's kept input channels. The compacted device part
sends only the kept channels of the output group; the server part receives them through a
:class:`ChannelScatter` that writes them back into the full channel layout (zeros elsewhere, no
multiply-accumulates), so the server's weights are used unchanged. Server MACs therefore stay those
of the unpruned server part.

Where this follows the paper and where the authors' public code differs: the paper ranks by l2
norm, raises the sparsity over iterations and prunes the last layer's activations; the authors' code
ranks by L1 norm, keeps one fixed sparsity per run (``SparsitySchedule(kind="constant")`` here),
re-masks every 150 iterations, and prunes neither shortcut convolutions nor activations. We follow
the paper, and prune residual streams as coupled groups.

This module holds the algorithm only. Fine-tuning with the pruner, saving pruned models and the
experiment that writes the pruning table are in :mod:`coinfer.experiments.pruning`; the settings
(:class:`coinfer.config.PruneSettings`) are a section of each :class:`coinfer.config.Preset`.

Example::

    >>> from coinfer.core.network import resnet18, split
    >>> net = resnet18(width=1 / 8)
    >>> device, server = split(net, "layer2.1")
    >>> pruner = IncrementalPruner(device, sparsity=0.5, total_steps=100)
    >>> pruner.step(0)                      # before every training batch (fit's on_step)
    >>> small_device, scatter = compact(device, pruner.keep_indices())
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from coinfer.core.network import BasicBlock, SplitPoint, split
from coinfer.core.taylor import TaylorImportance
from coinfer.units import is_count

SCHEDULE_KINDS = ("cubic", "linear", "constant")
#: How channels are ranked: ``"l2"`` (the paper) or ``"taylor"`` (first-order Taylor importance,
#: Molchanov et al. 2017, used by the 2-Step Pruning baseline of Shi et al. 2019).
CRITERIA = ("l2", "taylor")


# ----------------------------------------------------------------------------------------------
# Configuration and the sparsity schedule
# ----------------------------------------------------------------------------------------------

def check_sparsity(value: float, name: str = "sparsity") -> float:
    """``value`` as a float if it lies in [0, 1), else a ValueError naming it.

    1 is excluded: a layer with every channel pruned would cut the network in two.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (the fraction of channels pruned), got {value!r}")
    return float(value)


def prunable_split_point(point: str) -> SplitPoint:
    """``point`` as a :class:`~coinfer.splits.SplitPoint` if its device part has a convolution to prune."""
    name = SplitPoint(point)
    if name.index == 0:
        raise ValueError(f"split point {point!r} puts no layer on the device, so there is nothing to "
                         "prune; choose a later split point (e.g. 'stem', 'layer1.1', 'layer2.1')")
    return name


@dataclass(frozen=True)
class SparsitySchedule:
    """How the sparsity rises over pruning iterations.

    Parameters
    ----------
    kind : {"cubic", "linear", "constant"}
        ``cubic``: fast at first, slow near the target (Zhu & Gupta 2017, ``1 - (1 - p)^3``);
        ``linear``: equal steps; ``constant``: the target from the first iteration on (the authors'
        public code).
    ramp_fraction : float
        Fraction of the pruning iterations over which the sparsity rises; it stays at the target
        afterwards, so the last iterations fine-tune at the final sparsity. In (0, 1].
    interval : int
        Training steps (batches) per pruning iteration (the authors' code: 150).
    """

    kind: str = "cubic"
    ramp_fraction: float = 0.6
    interval: int = 150

    def __post_init__(self):
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"unknown schedule kind {self.kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}")
        if not 0.0 < self.ramp_fraction <= 1.0:
            raise ValueError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction!r}")
        if not is_count(self.interval):
            raise ValueError(f"interval must be a positive number of training steps, got {self.interval!r}")

    def iterations(self, total_steps: int) -> int:
        """How many pruning iterations ``total_steps`` training steps hold."""
        if not is_count(total_steps):
            raise ValueError(f"total_steps must be a positive number of training steps, got {total_steps!r}")
        return math.ceil(total_steps / self.interval)

    def fraction(self, iteration: int, total_steps: int) -> float:
        """Fraction of the target sparsity used in ``iteration`` (0-based), in (0, 1]."""
        n = self.iterations(total_steps)
        if not 0 <= iteration < n:
            raise ValueError(f"iteration must be in [0, {n}) for {total_steps} steps, got {iteration!r}")
        ramp = max(1, math.ceil(self.ramp_fraction * n))
        progress = min(1.0, (iteration + 1) / ramp)
        shapes = {"cubic": 1.0 - (1.0 - progress) ** 3, "linear": progress}    # "constant": all at once
        return shapes.get(self.kind, 1.0)


def sparsity_schedule(target: float, total_steps: int,
                      schedule: SparsitySchedule = SparsitySchedule()) -> list[tuple[int, float]]:
    """``(first training step, sparsity)`` of every pruning iteration: what the chapter plots.

    Non-decreasing, and equal to ``target`` from the end of the ramp on.
    """
    target = check_sparsity(target)
    return [(i * schedule.interval, target * schedule.fraction(i, total_steps))
            for i in range(schedule.iterations(total_steps))]


# ----------------------------------------------------------------------------------------------
# Channel groups of a device part
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrunedConv:
    """One convolution of the device part and the channel groups of its outputs and inputs.

    ``conv`` and ``bn`` are module paths inside the device part (e.g. ``"layer2_0.shortcut.0"``);
    ``in_group`` is None for the stem, whose inputs are the image's channels (never pruned).
    """

    conv: str
    bn: str
    out_group: str
    in_group: str | None


@dataclass(frozen=True)
class ChannelGroup:
    """Output channels that must be pruned together.

    ``members`` are the convolutions whose outputs are these channels (several for a residual
    stream, one for a block's first convolution); ``is_output``: the group leaves the device.
    """

    name: str
    channels: int
    members: tuple[str, ...]
    is_output: bool = False

    @property
    def coupled(self) -> bool:
        return len(self.members) > 1


@dataclass(frozen=True)
class DeviceLayout:
    """The prunable structure of a device part: its convolutions, groups and trailing linear layer."""

    convs: tuple[PrunedConv, ...]
    groups: tuple[ChannelGroup, ...]
    linear: str | None = None          # the classifier when the whole network is on the device
    linear_in_group: str | None = None

    def group(self, name: str) -> ChannelGroup:
        return next(g for g in self.groups if g.name == name)

    @property
    def output_group(self) -> ChannelGroup | None:
        return next((g for g in self.groups if g.is_output), None)


def device_layout(device_part: nn.Sequential) -> DeviceLayout:
    """Walk a device part made by :func:`coinfer.core.network.split` and find its channel groups.

    Raises
    ------
    ValueError
        If the device part is empty (split point ``input``) or holds a stage this walk does not know.
    """
    stages = list(device_part.named_children())
    if not stages:
        raise ValueError("the device part is empty (split point 'input'): nothing to prune")
    convs: list[PrunedConv] = []
    members: dict[str, list[str]] = {}
    stream: str | None = None            # group of the residual stream flowing between blocks
    linear = linear_in = None
    for name, stage in stages:
        if name == "stem":
            stream = "stem"
            convs.append(PrunedConv(f"{name}.0", f"{name}.1", stream, None))
        elif isinstance(stage, BasicBlock):
            inner = f"{name}.conv1"
            convs.append(PrunedConv(f"{name}.conv1", f"{name}.bn1", inner, stream))
            if len(stage.shortcut) == 0:      # identity shortcut: conv2 joins the incoming stream
                out = stream
            else:                             # projection shortcut: a new stream starts here
                out = name
                convs.append(PrunedConv(f"{name}.shortcut.0", f"{name}.shortcut.1", out, stream))
            convs.append(PrunedConv(f"{name}.conv2", f"{name}.bn2", out, inner))
            stream = out
        elif name == "pool":
            pass                              # average pool + flatten: channels pass through
        elif name == "fc" and isinstance(stage, nn.Linear):
            linear, linear_in = name, stream
        else:
            raise ValueError(f"don't know how to prune stage {name!r} ({type(stage).__name__})")
    for conv in convs:
        members.setdefault(conv.out_group, []).append(conv.conv)
    # The stream reaching the split point is sent (activation pruning), unless the classifier ran
    # on the device, in which case only the decision is sent.
    output = stream if linear is None else None
    groups = tuple(
        ChannelGroup(g, device_part.get_submodule(m[0]).out_channels, tuple(m), is_output=(g == output))
        for g, m in members.items())
    return DeviceLayout(tuple(convs), groups, linear, linear_in)


def channel_scores(device_part: nn.Module, layout: DeviceLayout) -> dict[str, torch.Tensor]:
    """l2 norm of each output channel's weights, per group (all member filters together)."""
    squares: dict[str, torch.Tensor] = {}
    for conv in layout.convs:
        w = device_part.get_submodule(conv.conv).weight.detach()
        sq = w.pow(2).flatten(1).sum(1)
        squares[conv.out_group] = squares[conv.out_group] + sq if conv.out_group in squares else sq
    return {g: s.sqrt() for g, s in squares.items()}


def smallest_channel_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Boolean keep-mask masking the ``floor(sparsity * C)`` channels with the smallest scores.

    Ties are broken by channel index (stable sort), so the mask is deterministic.
    """
    check_sparsity(sparsity)
    n_masked = math.floor(sparsity * scores.numel() + 1e-9)
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if n_masked:
        order = torch.argsort(scores.cpu(), stable=True)[:n_masked]
        keep[order.to(scores.device)] = False
    return keep


# ----------------------------------------------------------------------------------------------
# The pruner: masks, restoration, gradient masking
# ----------------------------------------------------------------------------------------------

class IncrementalPruner:
    """Incremental structured pruning of one device part (see the module docstring).

    Use :meth:`step` before every training batch (``fit(..., on_step=pruner.step)``) and
    :meth:`attach` the optimizer so that masked weights get no update.

    Parameters
    ----------
    device_part : nn.Sequential
        From :func:`coinfer.core.network.split`; pruned in place (it shares modules with the full model).
    sparsity : float
        Target fraction of output channels masked in every group, in [0, 1).
    total_steps : int
        Training steps the pruning runs over (sets the schedule's length).
    output_sparsity : float, optional
        Target of the output group (the sent channels); default ``sparsity``.
    schedule : SparsitySchedule
        How the sparsity rises over the steps (default: cubic, as in Zhu & Gupta).
    criterion : {"l2", "taylor"}
        How channels are ranked at the start of each iteration. ``"taylor"`` uses the importance
        gathered over the previous iteration's training steps (:class:`~coinfer.core.taylor.TaylorImportance`); the
        first iteration, having seen no gradient yet, masks nothing.

    """

    def __init__(self, device_part: nn.Sequential, sparsity: float, total_steps: int,
                 output_sparsity: float | None = None, schedule: SparsitySchedule = SparsitySchedule(),
                 criterion: str = "l2"):
        if criterion not in CRITERIA:
            raise ValueError(f"unknown pruning criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
        self.criterion = criterion
        self.device_part = device_part
        self.layout = device_layout(device_part)
        self.sparsity = check_sparsity(sparsity)
        self.output_sparsity = check_sparsity(sparsity if output_sparsity is None else output_sparsity,
                                              "output_sparsity")
        self.schedule = schedule
        self.total_steps = total_steps
        self.n_iterations = schedule.iterations(total_steps)
        self.iteration = -1
        self.current_fraction = 0.0
        self.masks: dict[str, torch.Tensor] = {}       # group -> bool keep-mask, [channels]
        self.version = 0                                # counts mask changes (KeptChannelsNetwork rebuilds)
        #: Called before the masked tensors are read or changed, and when training ends (:meth:`detach`):
        #: a :class:`~coinfer.core.kept_channels.KeptChannelsNetwork` writes its statistics back then.
        self.before_change: list = []
        self._snapshot: dict[str, torch.Tensor] = {}   # tensor path -> value at iteration start
        self._hooks: list = []
        self._taylor: TaylorImportance | None = None
        self._masked: tuple = (None, [], [])        # (version, parameters, masks): _masked_parameters

    # -- what is masked --------------------------------------------------------------------------
    def target(self, group: ChannelGroup) -> float:
        return self.output_sparsity if group.is_output else self.sparsity

    def keep_indices(self) -> dict[str, list[int]]:
        """Kept channel indices per group (all channels where no mask is set)."""
        return {g.name: (torch.nonzero(self.masks[g.name]).flatten().tolist() if g.name in self.masks
                         else list(range(g.channels))) for g in self.layout.groups}

    def _masked_tensors(self):
        """``(path, tensor, keep-mask)`` of every tensor whose entries a group's mask switches off:
        the conv filters, the BN scale and shift (parameters) and the BN running statistics."""
        for conv in self.layout.convs:
            keep = self.masks.get(conv.out_group)
            if keep is None:
                continue
            w = self.device_part.get_submodule(conv.conv).weight
            yield f"{conv.conv}.weight", w, keep.view(-1, 1, 1, 1)
            bn = self.device_part.get_submodule(conv.bn)
            for attr in ("weight", "bias", "running_mean", "running_var"):
                yield f"{conv.bn}.{attr}", getattr(bn, attr), keep

    def _masked_parameters(self) -> tuple[list[nn.Parameter], list[torch.Tensor]]:
        """The masked parameters (filters, BN scales and shifts) and their keep-masks as float tensors
        of their shapes and layouts, made once per mask change (:attr:`version`): masking them all is
        then one multi-tensor kernel per step, not one kernel each (on a GPU, where the masked
        fine-tune's step waits on its launches, two dozen or more)."""
        if self._masked[0] != self.version:
            pairs = [(t, torch.empty_like(t).copy_(keep.expand_as(t))) for _, t, keep in self._masked_tensors()
                     if isinstance(t, nn.Parameter)]
            self._masked = (self.version, [t for t, _ in pairs], [mask for _, mask in pairs])
        return self._masked[1], self._masked[2]

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Set every masked weight to 0 (filters, BN scale and shift)."""
        params, masks = self._masked_parameters()
        if params:
            torch._foreach_mul_(params, masks)

    @torch.no_grad()
    def mask_gradients(self) -> None:
        """Zero the gradients of masked weights, so that the optimizer's state ignores them."""
        pairs = [(p.grad, mask) for p, mask in zip(*self._masked_parameters()) if p.grad is not None]
        if pairs:
            torch._foreach_mul_([grad for grad, _ in pairs], [mask for _, mask in pairs])

    # -- iterations ------------------------------------------------------------------------------
    @torch.no_grad()
    def restore(self) -> None:
        """Drop the masks; masked entries get back their values from the start of the iteration."""
        self._notify()
        for path, tensor, keep in self._masked_tensors():
            saved = self._snapshot[path]
            tensor.copy_(torch.where(keep.expand_as(tensor), tensor, saved))
        self.masks, self._snapshot = {}, {}
        self.version += 1

    @torch.no_grad()
    def start_iteration(self, fraction: float) -> None:
        """Restore, then mask ``fraction`` of each group's target by the channels' l2 norms."""
        if self.masks:
            self.restore()                  # notifies the listeners itself
        else:
            self._notify()
        if self.criterion == "taylor":
            scores = self.taylor_importance().scores()
            self._taylor.reset()
            if scores is None:               # no gradient seen yet: nothing to rank by
                self.current_fraction = 0.0
                return
        else:
            scores = channel_scores(self.device_part, self.layout)
        self.current_fraction = fraction
        for group in self.layout.groups:
            self.masks[group.name] = smallest_channel_mask(scores[group.name], fraction * self.target(group))
        self._snapshot = {path: tensor.detach().clone() for path, tensor, _ in self._masked_tensors()}
        self.version += 1
        self.apply_masks()

    def step(self, step: int) -> None:
        """Call before training step ``step`` (0-based): starts a new iteration every ``interval``."""
        if step % self.schedule.interval == 0:
            iteration = min(step // self.schedule.interval, self.n_iterations - 1)
            if iteration != self.iteration:
                self.iteration = iteration
                self.start_iteration(self.schedule.fraction(iteration, self.total_steps))

    def _notify(self) -> None:
        for callback in self.before_change:
            callback()

    def finish(self) -> None:
        """Mask at the full target (if training stopped before the ramp's end) and keep the masks."""
        if self.current_fraction < 1.0 or not self.masks:
            self.start_iteration(1.0)

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Hook ``optimizer``: masked gradients zeroed before each step, masked weights re-zeroed after.

        Adam's momentum would otherwise move a masked weight even with a zero gradient.
        """
        self._hooks.append(optimizer.register_step_pre_hook(lambda *_: self.mask_gradients()))
        self._hooks.append(optimizer.register_step_post_hook(lambda *_: self.apply_masks()))
        if self.criterion == "taylor":
            self.taylor_importance()

    def taylor_importance(self) -> TaylorImportance:
        """The Taylor importance this pruner ranks by (criterion ``"taylor"``), hooked on the device
        part when first asked for; a network that trains a compacted copy moves its hooks there."""
        if self.criterion != "taylor":
            raise ValueError(f"this pruner ranks by {self.criterion!r}, not by Taylor importance")
        if self._taylor is None:
            self._taylor = TaylorImportance(self.device_part, self.layout)
        return self._taylor

    def detach(self) -> None:
        """Remove the optimizer hooks (and the Taylor hooks; their last scores are kept for :meth:`finish`)."""
        self._notify()                      # training is over: every tensor of the device part up to date
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        if self._taylor is not None:
            self._taylor.remove()


# ----------------------------------------------------------------------------------------------
# Compaction
# ----------------------------------------------------------------------------------------------

class ChannelScatter(nn.Module):
    """Put the kept channels of a compacted feature back at their places in the full layout.

    ``[N, len(kept), ...] -> [N, channels, ...]`` with zeros in the pruned channels: an index copy,
    no multiply-accumulates. It sits in front of the server part, whose weights stay unchanged.
    """

    def __init__(self, kept: list[int], channels: int):
        super().__init__()
        if not kept or max(kept) >= channels or len(set(kept)) != len(kept):
            raise ValueError(f"kept channels must be distinct indices in [0, {channels}), got {kept!r}")
        self.channels = channels
        self.register_buffer("kept", torch.tensor(kept, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In the input's layout: a channels_last feature (the GPU path) stays channels_last, so the
        # server part behind it is not handed a layout it must convert first.
        layout = (torch.channels_last if x.dim() == 4 and not x.is_contiguous()
                  and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)
        out = torch.empty((x.shape[0], self.channels, *x.shape[2:]), dtype=x.dtype, device=x.device,
                          memory_format=layout).zero_()
        return out.index_copy_(1, self.kept, x)        # in place: the out-of-place copy drops the layout

    def extra_repr(self) -> str:
        return f"{len(self.kept)} -> {self.channels} channels"


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def _layer(cls, *args, like: torch.Tensor, allocate_only: bool, **kwargs) -> nn.Module:
    """A new ``cls(*args, **kwargs)`` where ``like`` lives, whose values the caller overwrites.

    ``allocate_only``: allocated there directly, no initial values drawn (faster, and the global random
    state is untouched); otherwise initialized as a fresh layer is and moved, as compaction always did
    (which advances the global random state: committed results were made that way).
    """
    if allocate_only:
        return torch.nn.utils.skip_init(cls, *args, device=like.device, dtype=like.dtype, **kwargs)
    return cls(*args, **kwargs).to(like.device)


def _slice_conv(conv: nn.Conv2d, out_idx: torch.Tensor, in_idx: torch.Tensor | None,
                allocate_only: bool = False) -> nn.Conv2d:
    weight = conv.weight.detach()[out_idx]
    if in_idx is not None:
        weight = weight[:, in_idx]
    new = _layer(nn.Conv2d, weight.shape[1], weight.shape[0], conv.kernel_size, conv.stride, conv.padding,
                 conv.dilation, bias=conv.bias is not None, like=weight, allocate_only=allocate_only)
    new.weight.data.copy_(weight)
    if conv.bias is not None:
        new.bias.data.copy_(conv.bias.detach()[out_idx])
    return new


def _slice_bn(bn: nn.BatchNorm2d, idx: torch.Tensor, allocate_only: bool = False) -> nn.BatchNorm2d:
    new = _layer(nn.BatchNorm2d, len(idx), eps=bn.eps, momentum=bn.momentum, like=bn.weight,
                 allocate_only=allocate_only)
    new.weight.data.copy_(bn.weight.detach()[idx])
    new.bias.data.copy_(bn.bias.detach()[idx])
    new.running_mean.copy_(bn.running_mean[idx])
    new.running_var.copy_(bn.running_var[idx])
    new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new.train(bn.training)


@torch.no_grad()
def compact(device_part: nn.Sequential, keep: dict[str, list[int]],
            allocate_only: bool = False) -> tuple[nn.Sequential, ChannelScatter | None]:
    """A physically smaller copy of a masked device part, and the scatter the server needs.

    Parameters
    ----------
    device_part : nn.Sequential
        The device part whose masked channels are zero (:meth:`IncrementalPruner.apply_masks`).
    keep : dict
        Kept channel indices per group (:meth:`IncrementalPruner.keep_indices`): at least one, distinct, in [0, channels).
    allocate_only : bool
        Make the smaller layers without drawing initial values for them (they are overwritten
        anyway): faster on a GPU, and the global random state is left as it was. Off by default,
        because compaction has always drawn them and the committed results depend on that state.

    Returns
    -------
    (compact_device, scatter)
        ``scatter(compact_device(x))`` equals ``device_part(x)`` (up to float rounding).
        ``scatter`` is None when the classifier runs on the device (nothing to re-expand).
    """
    layout = device_layout(device_part)
    missing = {g.name for g in layout.groups} - set(keep)
    if missing:
        raise ValueError(f"keep lacks the channel group(s) {sorted(missing)}")
    index = {}
    for g in layout.groups:    # keep may come from a checkpoint: a repeated or foreign index would change the function
        kept = list(keep[g.name])
        if not kept or len(set(kept)) != len(kept) or not all(is_count(i, 0) and i < g.channels for i in kept):
            raise ValueError(f"group {g.name!r} must keep at least one channel, as distinct integer indices in "
                             f"[0, {g.channels}) (sparsity below 1), got {kept!r}")
        index[g.name] = torch.tensor(sorted(kept), dtype=torch.long)
    small = copy.deepcopy(device_part)
    for conv in layout.convs:
        old = device_part.get_submodule(conv.conv)
        out_idx = index[conv.out_group].to(old.weight.device)
        in_idx = index[conv.in_group].to(old.weight.device) if conv.in_group else None
        _set_submodule(small, conv.conv, _slice_conv(old, out_idx, in_idx, allocate_only))
        _set_submodule(small, conv.bn, _slice_bn(device_part.get_submodule(conv.bn), out_idx, allocate_only))
    if layout.linear is not None:
        old = device_part.get_submodule(layout.linear)
        idx = index[layout.linear_in_group].to(old.weight.device)
        new = _layer(nn.Linear, len(idx), old.out_features, like=old.weight, allocate_only=allocate_only)
        new.weight.data.copy_(old.weight.detach()[:, idx])
        new.bias.data.copy_(old.bias.detach())
        _set_submodule(small, layout.linear, new)
        return small, None
    out = layout.output_group
    scatter = ChannelScatter(sorted(keep[out.name]), out.channels).to(next(small.parameters()).device)
    return small, scatter


# ----------------------------------------------------------------------------------------------
# A pruned network and its costs
# ----------------------------------------------------------------------------------------------

@dataclass
class PrunedModel:
    """A pruned network: the masked full model, its kept channels, and the compacted pipeline."""

    split: str
    sparsity: float
    output_sparsity: float
    model: nn.Module                     # full-size, masked device part, fine-tuned server part
                                         # (a CifarResNet18, or a compacted stage sequence: see coinfer.core.network.split)
    keep: dict[str, list[int]]
    meta: dict = field(default_factory=dict)

    def parts(self) -> tuple[nn.Sequential, nn.Sequential]:
        """(compacted device part, server part with the scatter in front)."""
        device, server = split(self.model, self.split)
        small, scatter = compact(device, self.keep)
        if scatter is not None:
            server = nn.Sequential(scatter, *server.children())
        return small, server

    def pipeline(self) -> nn.Sequential:
        """The compacted device part followed by the server part: the deployed network."""
        small, server = self.parts()
        return nn.Sequential(small, server)


def pruned_costs(pruned: PrunedModel, input_shape: tuple[int, ...] = (3, 32, 32)) -> dict:
    """Real costs of the compacted network, counted by thop on one image.

    Returns device/server MACs and parameters, the shape of the sent feature and its size in bits
    (float32 and 8-bit elements).
    """
    from coinfer.core.costs import thop_macs

    small, server = pruned.parts()
    # Copies: the server part holds the model's own modules, which must stay on their device.
    small, server = copy.deepcopy(small).cpu().eval(), copy.deepcopy(server).cpu().eval()
    with torch.no_grad():
        feature = small(torch.zeros(1, *input_shape))
    device_macs, device_params = thop_macs(small, input_shape)
    shape = tuple(feature.shape[1:])
    server_macs, server_params = thop_macs(server, shape)
    elements = math.prod(shape)
    return {"device_macs": device_macs, "device_params": device_params, "server_macs": server_macs,
            "server_params": server_params, "feature_shape": list(shape), "feature_elements": elements,
            "feature_bits_float32": 32 * elements, "feature_bits_8bit": 8 * elements}
