"""The co-inference pipeline, once: device part -> codec -> server part (Shao & Zhang 2020, Fig. 2).

:class:`SplitNetwork` wires the three pieces every configuration of the paper is made of: the
network's part before the split (possibly pruned), a codec, and the rest of the network. The codec
is anything with ``compress(features) -> list[bytes]`` and ``decompress(packets) -> features``
(:mod:`coinfer.core.codecs`, or a :class:`~coinfer.core.encoding.FeatureCodec` itself); when it is
also a network whose ``forward`` returns ``{"feature_hat": ...}`` (a learned encoder/decoder with a
quantizer or a noisy channel in between, as in JSCC), ``forward`` runs it differentiably, so that
the same object trains, measures and serves::

    images --device part--> feature --codec--> packets (bytes) --codec--> feature_hat --server part--> logits

>>> import torch
>>> from torch import nn
>>> from coinfer.core.codecs import Uint8Codec
>>> net = SplitNetwork(nn.Flatten(), Uint8Codec((12,)), nn.Linear(12, 3))
>>> packets = net.send(torch.rand(2, 3, 2, 2))
>>> [len(p) for p in packets], net.receive(packets).shape
([20, 20], torch.Size([2, 3]))
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from coinfer.core.encoding import CodecCosts, codec_costs


class SplitNetwork(nn.Module):
    """Device part -> codec -> server part; ``forward(images)`` gives the logits the server computes.

    Parameters
    ----------
    device_part : nn.Module
        The part before the split (the unpruned split of :func:`coinfer.core.network.split`, a
        pruned and compacted one, or ``nn.Identity()`` when the input is already the feature).
    codec : object
        With ``compress``/``decompress`` (:class:`coinfer.core.codecs.Codec`, FeatureCodec). An
        ``nn.Module`` codec whose forward returns a dict with ``feature_hat`` runs in ``forward``
        directly (with its gradients); any other codec runs through its bytes.
    server_part : nn.Module
        The rest of the network. Its input is the codec's output.
    frozen : sequence of str
        Parts (``"device_part"``, ``"server_part"``) that never learn: no gradients for their
        weights, always in eval mode (their batch-norm statistics never change), even while the
        codec trains.

    >>> from coinfer.core.codecs import Float32Codec
    >>> net = SplitNetwork(nn.Identity(), Float32Codec((4,)), nn.Linear(4, 2), frozen=("server_part",))
    >>> net.train().server_part.training, net(torch.zeros(3, 4)).shape
    (False, torch.Size([3, 2]))
    """

    def __init__(self, device_part: nn.Module, codec, server_part: nn.Module, frozen: Sequence[str] = ()):
        super().__init__()
        self.device_part, self.codec, self.server_part = device_part, codec, server_part
        self.frozen = tuple(frozen)
        for name in self.frozen:
            if name not in ("device_part", "server_part"):
                raise ValueError(f"only 'device_part' and 'server_part' can be frozen, got {name!r}")
            for p in getattr(self, name).parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "SplitNetwork":
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        if not isinstance(self.codec, nn.Module) and hasattr(self.codec, "codec"):
            self.codec.codec.train(mode)
        return self

    def transmit(self, feature: torch.Tensor) -> torch.Tensor:
        """What the server part receives for ``feature``: the codec's output (through bytes for a
        codec that is not a network)."""
        if isinstance(self.codec, nn.Module):
            return self.codec(feature)["feature_hat"]
        with torch.no_grad():
            return self.codec.decompress(self.codec.compress(feature)).to(feature.device)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.server_part(self.transmit(self.device_part(images)))

    @torch.no_grad()
    def send(self, images: torch.Tensor) -> list[bytes]:
        """What the device transmits: one packet per image.

        Parameters
        ----------
        images : torch.Tensor
            A batch of inputs of the device part.
        """
        return self.codec.compress(self.device_part(images))

    @torch.no_grad()
    def receive(self, packets: Sequence[bytes]) -> torch.Tensor:
        """What the server computes from the packets: logits.

        Parameters
        ----------
        packets : sequence of bytes
            From :meth:`send`.
        """
        feature = self.codec.decompress(list(packets))
        device = next(iter(self.server_part.parameters()), feature).device
        return self.server_part(feature.to(device))

    def costs(self, input_shape: tuple[int, ...] = (3, 32, 32)) -> CodecCosts:
        """MACs and parameters per image of both sides, the codec's networks included.

        Parameters
        ----------
        input_shape : tuple of int
            One input of the device part.

        >>> from coinfer.core.encoding import build_codec
        >>> net = SplitNetwork(nn.Conv2d(3, 8, 3, padding=1), build_codec((8, 4, 4), "c2-d4-l2"), nn.Flatten())
        >>> costs = net.costs((3, 4, 4))   # one layer on each side counts too: 8 x 4 x 4 outputs x 27 MACs
        >>> costs.network_macs, costs.device_macs == 3456 + costs.encoder_macs
        (3456, True)
        """
        codec = self.codec if isinstance(self.codec, nn.Module) else getattr(self.codec, "codec", None)
        if codec is None:   # a codec without networks (float32, uint8, huffman8)
            codec = _NoCodec()
        return codec_costs(self.device_part, codec, self.server_part, input_shape)


class _NoCodec(nn.Module):
    """A codec without networks, for counting: no encoder or decoder MACs, no parameters."""

    def __init__(self):
        super().__init__()
        self.encoder = self.decoder = nn.Identity()

    def encoder_macs(self, feature_shape) -> int:
        return 0

    def decoder_macs(self, z_shape) -> int:
        return 0

    def encoder_params(self) -> int:
        return 0
