"""Training a masked device part on its kept channels only: the pruner's function, the compacted MACs.

While :class:`~coinfer.core.pruning.IncrementalPruner` fine-tunes, the device part keeps its full
width and the masked channels are exact zeros: every masked filter and BatchNorm multiplies or adds
nothing, yet a full-width step still computes them. :class:`KeptChannelsNetwork` computes the same
function on the kept channels alone, as :func:`~coinfer.core.pruning.compact` would build it, while
the weights, their gradients and the optimizer stay those of the full-width network::

    full parameters ──index_select (kept channels)──> compacted structure ──> ChannelScatter ──> server part
          ^                                                   |
          └─────── gradients (0 for every dropped entry) ─────┘      running statistics written back

Why it is the same training, not an approximation (tested against the masked network in
``tests/test_kept_channels.py``):

* forward: a masked channel is 0 after its BatchNorm (filter, scale and shift all 0), so it adds
  nothing to any later convolution or residual sum; leaving it out changes only the order of float
  additions. The server part receives the sent channels through the scatter, zeros elsewhere, as before.
* backward: ``index_select`` gives every dropped entry a zero gradient. In the masked network a
  masked filter's gradient is zeroed by the pruner, and the filter entries that read a masked input
  channel get exactly 0 too (their input is 0), so the optimizer (weight decay and momentum
  included) sees the same gradients on the same full-width tensors.
* BatchNorm running statistics: the compacted structure keeps those of the kept channels while it
  trains; they are written back into the full-width BatchNorms whenever the pruner is about to read
  or change its masked tensors and when training ends (the pruner's ``before_change`` callbacks,
  called by its ``restore``, ``start_iteration`` and ``detach``), and those of the masked channels
  decay towards 0 by as many training steps as the masked network's do (a zero channel's batch mean
  and variance are 0). Once per iteration, not per step: per step that would be about a hundred
  small operations (a multiply and a copy per statistic per BatchNorm), each a kernel on a GPU.

The structure is rebuilt whenever the pruner's masks change (its ``version``): once per pruning
iteration, its layers allocated where the network is without drawing initial values
(``compact(..., allocate_only=True)``), so the rebuild is cheap and consumes no random numbers. With
the first-order Taylor criterion (2-Step Pruning), the importance hooks move to each new structure's
BatchNorms and put the kept channels' scores back at their full-width places; a masked channel's
score is 0 in both networks (its activation is 0), so the pruner ranks by the same scores.

    >>> import torch
    >>> from coinfer.core.network import resnet18, split
    >>> from coinfer.core.pruning import IncrementalPruner
    >>> net = resnet18(width=1 / 8).eval()
    >>> device, server = split(net, "layer2.1")
    >>> pruner = IncrementalPruner(device, sparsity=0.5, total_steps=10)
    >>> pruner.step(0)
    >>> kept = KeptChannelsNetwork(pruner, server).eval()
    >>> x = torch.randn(2, 3, 32, 32)
    >>> torch.allclose(kept(x), net(x), atol=1e-5)
    True
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from coinfer.core.pruning import IncrementalPruner, compact


def _take(full: torch.Tensor, out_idx: torch.Tensor | None, in_idx: torch.Tensor | None) -> torch.Tensor:
    """The kept block of ``full`` (rows ``out_idx``, columns ``in_idx``; None: all), differentiably."""
    taken = full if out_idx is None else full.index_select(0, out_idx)
    if in_idx is not None:
        taken = taken.index_select(1, in_idx)
    if taken is not full and full.dim() == 4 and full.is_contiguous(memory_format=torch.channels_last):
        taken = taken.contiguous(memory_format=torch.channels_last)     # keep the path's layout
    return taken


class KeptChannelsNetwork(nn.Module):
    """``server_part(device_part(x))`` with the device part run on the channels ``pruner`` keeps.

    Parameters
    ----------
    pruner : IncrementalPruner
        Prunes the device part (its ``device_part``), by either criterion.
    server_part : torch.nn.Module
        What follows the device part (from :func:`coinfer.core.network.split`; may be empty).

    Hand this module to the training loop instead of the network; the optimizer, the pruner's hooks
    and the saved model stay the full-width network's. ``train()``/``eval()`` and ``.to()`` reach the
    full-width parts (registered here), so a data path's memory layout applies as before.
    """

    def __init__(self, pruner: IncrementalPruner, server_part: nn.Module):
        super().__init__()
        self.device_part = pruner.device_part
        self.server_part = server_part
        self._pruner = pruner
        self._built = None                  # pruner.version the structure below was built for
        self._small: list[nn.Module] = []   # unregistered: not in state_dict, not moved by .to()
        self._scatter = None
        self._slices: dict[str, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = {}
        self._statistics: list[tuple[nn.BatchNorm2d, nn.BatchNorm2d, torch.Tensor | None]] = []
        self._steps = 0                     # training forwards since the statistics were written back
        pruner.before_change.append(self.write_back_statistics)

    def _build(self) -> None:
        """The compacted structure of the current masks and where its parameters come from."""
        pruner, device = self._pruner, self.device_part
        keep = pruner.keep_indices()
        small, scatter = compact(device, keep, allocate_only=True)     # no random draws: as the masked training
        on = next(device.parameters()).device
        index = {g.name: (None if len(keep[g.name]) == g.channels
                          else torch.tensor(sorted(keep[g.name]), dtype=torch.long, device=on))
                 for g in pruner.layout.groups}
        slices, statistics = {}, []
        for conv in pruner.layout.convs:
            full = device.get_submodule(conv.conv)
            out_idx, in_idx = index[conv.out_group], index[conv.in_group] if conv.in_group else None
            slices[f"{conv.conv}.weight"] = (full.weight, out_idx, in_idx)
            if full.bias is not None:
                slices[f"{conv.conv}.bias"] = (full.bias, out_idx, None)
            bn = device.get_submodule(conv.bn)
            slices[f"{conv.bn}.weight"] = (bn.weight, out_idx, None)
            slices[f"{conv.bn}.bias"] = (bn.bias, out_idx, None)
            statistics.append((bn, small.get_submodule(conv.bn), out_idx))
        if pruner.layout.linear is not None:
            linear = device.get_submodule(pruner.layout.linear)
            slices[f"{pruner.layout.linear}.weight"] = (linear.weight, None, index[pruner.layout.linear_in_group])
            slices[f"{pruner.layout.linear}.bias"] = (linear.bias, None, None)
        names = {name for name, _ in small.named_parameters()}
        if names != set(slices):
            raise ValueError(f"the device part has parameters this module does not slice: {sorted(names - set(slices))}")
        if pruner.criterion == "taylor":            # the importance is read where the training runs
            pruner.taylor_importance().hook(small, index)
        self._small, self._scatter, self._slices, self._statistics = [small], scatter, slices, statistics
        self._built = pruner.version

    @torch.no_grad()
    def write_back_statistics(self) -> None:
        """The kept channels' running statistics into the full-width BatchNorms, and the masked
        channels' decayed by the training steps since the last write-back, as the masked network's
        (their batch mean and variance are 0). The pruner calls it (its ``before_change`` callbacks)."""
        steps, self._steps = self._steps, 0
        for full, small, idx in self._statistics:
            if full.momentum is not None:
                decay = (1.0 - full.momentum) ** steps
            else:                           # cumulative average: each step multiplies by (n - 1) / n
                tracked = int(small.num_batches_tracked)
                decay = (tracked - steps) / tracked if tracked else 1.0
            full.num_batches_tracked.copy_(small.num_batches_tracked)
            for name in ("running_mean", "running_var"):
                target, source = getattr(full, name), getattr(small, name)
                if idx is None:
                    target.copy_(source)
                else:
                    target.mul_(decay).index_copy_(0, idx, source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._built != self._pruner.version:
            self._build()
        small = self._small[0]
        if small.training != self.training:            # train()/eval() on this module reach it here
            small.train(self.training)
        params = {name: _take(*where) for name, where in self._slices.items()}
        feature = functional_call(small, params, (x,))
        if self.training:
            self._steps += 1
        if self._scatter is not None:
            feature = self._scatter(feature)
        return self.server_part(feature)
