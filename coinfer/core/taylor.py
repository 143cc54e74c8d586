"""First-order Taylor importance of a device part's output channels (Molchanov et al., "Pruning
convolutional neural networks for resource efficient inference", 2017).

The ranking 2-Step Pruning (Shi et al. 2019, the paper's baseline of section V-B) prunes by, and the
``"taylor"`` criterion of :class:`coinfer.core.pruning.IncrementalPruner`: a channel whose removal
would change the loss least goes first. The channel groups it sums over are
:func:`coinfer.core.pruning.device_layout`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:                       # the layout's type only: pruning imports this module
    from coinfer.core.pruning import DeviceLayout


class TaylorImportance:
    """First-order Taylor importance of every output channel of a device part (Molchanov et al. 2017).

    The importance of channel ``k`` of a layer with output ``a`` is the estimated change of the loss
    when the channel is removed, ``|mean over positions of a_k * dL/da_k|``, averaged over images.
    Hooks on the BatchNorm after every convolution collect it during ordinary training steps (the
    gradient comes from the training loss, so it costs no extra pass). A group's score is the sum over
    its member layers. A masked channel outputs 0, so its importance is 0: it stays pruned. The
    hooks can move (:meth:`hook`) to a compacted copy that runs the kept channels only.
    """

    def __init__(self, device_part: nn.Module, layout: DeviceLayout):
        self.layout = layout
        self.sums: dict[str, torch.Tensor] = {}
        self.images = 0
        self._handles = []
        self.hook(device_part)

    def hook(self, module: nn.Module, kept: dict[str, torch.Tensor | None] | None = None) -> None:
        """Collect from ``module``'s BatchNorms from now on; for a compacted copy of the device part
        (:class:`coinfer.core.kept_channels.KeptChannelsNetwork`), ``kept`` holds each group's kept
        channels at full width, sorted (None: all), where its scores are put back (the others 0)."""
        self.remove()
        channels = {g.name: g.channels for g in self.layout.groups}
        for i, conv in enumerate(self.layout.convs):
            bn = module.get_submodule(conv.bn)
            index = kept.get(conv.out_group) if kept else None
            # Images are counted once per batch, at the first layer.
            self._handles.append(bn.register_forward_hook(
                self._hook(conv.out_group, i == 0, index, channels[conv.out_group])))

    def _hook(self, group: str, counts_images: bool, index: torch.Tensor | None, channels: int):
        def forward_hook(module, inputs, output):
            if not (module.training and torch.is_grad_enabled() and output.requires_grad):
                return

            # Capture a detached alias, never ``output`` itself: a closure holding the tensor it is
            # registered on is a reference cycle through C++ that keeps every activation alive.
            activation = output.detach()

            def grad_hook(grad):
                wide = torch.promote_types(grad.dtype, torch.float32)   # not bf16 (GPU path): sums span an interval
                score = (activation.to(wide) * grad.to(wide)).mean(dim=(2, 3)).abs().sum(0)
                if index is not None:          # a compacted layer: its channels' places at full width
                    score = score.new_zeros(channels).index_copy_(0, index, score)
                self.sums[group] = self.sums[group] + score if group in self.sums else score
                if counts_images:
                    self.images += grad.shape[0]
            output.register_hook(grad_hook)
        return forward_hook

    def scores(self) -> dict[str, torch.Tensor] | None:
        """Mean importance per group since the last :meth:`reset`; None before any gradient was seen."""
        if self.images == 0 or set(self.sums) != {g.name for g in self.layout.groups}:
            return None
        return {g: s / self.images for g, s in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.images = {}, 0

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
