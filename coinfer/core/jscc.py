"""Learning-driven joint source-channel coding (JSCC) (Shao & Zhang, IV-B, V-D): the model.

JSCC trains the feature encoder *through* a model of the noisy channel, so it needs no separate
channel code. The network is split (by default after the paper's Conv_4x, our ``layer3.1``); the
device part and the server part are the frozen, pre-trained baseline, and only the encoder and
decoder learn::

    image -> device part (frozen) -> feature --encoder--> k symbols
          AWGN: k reals, power-normalized, + Gaussian noise      (coinfer.core.channel.AWGNChannel)
          BSC:  k bits (straight-through binarizer), flipped w.p. p  (coinfer.core.channel.BSCChannel)
          --decoder--> feature estimate -> server part (frozen) -> class scores

Because the backbone is frozen, the device part runs once over the images
(:class:`coinfer.core.features.FeatureSource`) and training sees only the small encoder, the channel, the
decoder and the server part. The experiment of Fig. 5 (training, the search for the smallest code,
the table) is :mod:`coinfer.experiments.jscc`; its figure and explorers are :mod:`coinfer.views.jscc`.
"""

from __future__ import annotations

import torch
from torch import nn

from coinfer.core import channel as ch
from coinfer.core.pipeline import SplitNetwork
from coinfer.units import is_count

# ----------------------------------------------------------------------------- encoder / decoder


class BitChannel(nn.Module):
    """The BSC as a bottleneck between real-valued networks: binarize, flip, map to antipodal.

    ``logits -> bits = binarize(logits) -> y = BSC(bits) -> 2 y - 1`` (values -1/+1 for the decoder).
    The gradient reaches the logits through the straight-through estimator of
    :func:`coinfer.core.channel.binarize`.
    """

    def __init__(self, bsc: ch.BSCChannel, stochastic: bool = False):
        super().__init__()
        self.bsc, self.stochastic = bsc, stochastic

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        bits = ch.binarize(logits, stochastic=self.stochastic and self.training, generator=self.bsc.generator)
        return 2 * self.bsc.flip(bits) - 1        # binarize's bits: no check (it would wait for the GPU)


def make_codec(feature_shape: tuple[int, int, int], code_size: int, channel: nn.Module,
               reduced_channels: int | None = None, kernel_size: int = 3):
    """A JSCC codec: the dimension-reduction encoder, ``channel`` as the bottleneck, the decoder.

    Reuses :class:`coinfer.core.encoding.DimensionReductionEncoder` / ``DimensionReductionDecoder`` (conv to
    ``reduced_channels`` channels, then a fully connected layer to ``code_size`` outputs; the mirror on
    the server), with no bounded activation at the encoder's end: for AWGN its outputs are scaled by the
    channel's power normalization, for the BSC they are the logits of the bits.

    Parameters
    ----------
    feature_shape : (C, H, W) or (C,)
    code_size : int
        ``k``, channel uses per image (real numbers for AWGN, bits for the BSC).
    channel : AWGNChannel or BSCChannel
    reduced_channels : int, optional
        Default ``max(1, C // 4)`` (3-D features only).

    Returns
    -------
    coinfer.core.encoding.FeatureCodec
        ``codec(feature)["feature_hat"]`` is what the server part receives.
    """
    from coinfer.core.encoding import DimensionReductionDecoder, DimensionReductionEncoder, FeatureCodec

    if not is_count(code_size):
        raise ValueError(f"code_size must be a positive number of channel uses, got {code_size!r}")
    if isinstance(channel, ch.AWGNChannel):
        bottleneck = channel
    elif isinstance(channel, ch.BSCChannel):
        bottleneck = BitChannel(channel)
    else:
        raise TypeError(f"channel must be an AWGNChannel or BSCChannel, got {type(channel).__name__}")
    feature_shape = tuple(feature_shape)
    reduced = None
    if reduced_channels is not None and (len(feature_shape) != 3 or not is_count(reduced_channels)):
        raise ValueError(f"reduced_channels must be a positive number of channels, for a 3-D (C, H, W) feature "
                         f"only; got {reduced_channels!r} for a feature of shape {feature_shape}")
    if len(feature_shape) == 3:
        reduced = reduced_channels if reduced_channels is not None else max(1, feature_shape[0] // 4)
    encoder = DimensionReductionEncoder(feature_shape, code_size, reduced, kernel_size, activation="none")
    decoder = DimensionReductionDecoder(feature_shape, code_size, reduced, kernel_size)
    return FeatureCodec(encoder, bottleneck, decoder)


# ----------------------------------------------------------------------------- the JSCC network


class JSCC(SplitNetwork):
    """Codec (encoder -> channel -> decoder) followed by the frozen server part, on device features.

    A :class:`~coinfer.core.pipeline.SplitNetwork` whose input is already the device part's feature
    (the backbone is frozen, so its features are computed once: :class:`coinfer.core.features.FeatureSource`).

    Parameters
    ----------
    codec : coinfer.core.encoding.FeatureCodec
        From :func:`make_codec`. For a BSC the encoder's outputs are logits, binarized
        (:func:`coinfer.core.channel.binarize`) before the channel; the received bits enter the decoder as
        ``2 y - 1`` (antipodal).
    server_part : nn.Module
        The frozen rest of the network; kept in eval mode (its batch-norm statistics never change)
        while gradients pass through it to the decoder.
    """

    def __init__(self, codec: nn.Module, server_part: nn.Module):
        super().__init__(nn.Identity(), codec, server_part, frozen=("server_part",))

    @property
    def channel(self) -> nn.Module:
        """The :class:`~coinfer.core.channel.AWGNChannel` or :class:`~coinfer.core.channel.BSCChannel` inside."""
        bottleneck = self.codec.bottleneck
        return bottleneck.bsc if isinstance(bottleneck, BitChannel) else bottleneck

    @property
    def kind(self) -> str:
        return "awgn" if isinstance(self.channel, ch.AWGNChannel) else "bsc"

    @property
    def code_size(self) -> int:
        return self.codec.encoder.dim

    def channel_output(self, features: torch.Tensor) -> torch.Tensor:
        """What the decoder receives for ``features``: noisy reals (AWGN) or flipped bits as +-1 (BSC)."""
        return self.codec(features)["z_hat"]


# ----------------------------------------------------------------------------- channels


def make_channel(kind: str, value, generator: torch.Generator | None = None) -> nn.Module:
    """``AWGNChannel(value dB)`` or ``BSCChannel(value)``; ``value`` may be a ``(low, high)`` range."""
    if kind == "awgn":
        return ch.AWGNChannel(value, generator=generator)
    if kind == "bsc":
        return ch.BSCChannel(value, generator=generator)
    raise ValueError(f"channel kind must be 'awgn' or 'bsc', got {kind!r}")


# ----------------------------------------------------------------------------- Fig. 5


def jscc_bits(channel_uses: float, kind: str, value: float) -> float:
    """The bits per image a JSCC record carries for ``channel_uses`` (``k``) uses of the channel.

    On the BSC the ``k`` bits really sent; on AWGN, which carries analog symbols and no bits, the
    most that ``k`` real uses can carry: ``k x 0.5 log2(1 + SNR)`` (``value`` in dB).
    :func:`jscc_channel_uses` inverts it, so that tables averaged over seeds give the mean ``k``.

    >>> jscc_bits(8, "bsc", 0.1), round(jscc_bits(6, "awgn", 10.0), 3)
    (8.0, 10.378)
    """
    if kind == "bsc":
        return float(channel_uses)
    return channel_uses * ch.awgn_capacity_per_real_use(value)


def jscc_channel_uses(bits: float, kind: str, value: float) -> float:
    """``k`` from :func:`jscc_bits`'s bits per image (rounded to 6 decimals).

    >>> jscc_channel_uses(jscc_bits(6, "awgn", 10.0), "awgn", 10.0)
    6.0
    """
    return round(bits if kind == "bsc" else bits / ch.awgn_capacity_per_real_use(value), 6)

#: Block error probability of the finite-length reference curve (one image in a thousand lost).
FINITE_BLOCK_ERROR = 1e-3



def finite_length_uses(bits: float, kind: str, value: float, error_prob: float = FINITE_BLOCK_ERROR) -> int:
    """Channel uses for ``bits`` with the best code of finite length at block error ``error_prob``.

    The normal approximation (:func:`coinfer.core.channel.normal_approximation_uses`): real uses of the AWGN
    channel at ``value`` dB, or uses of the BSC with flip probability ``value``. Not in the paper, which
    charges separate schemes at capacity; shown beside it because a payload of a few bits is far from
    the long blocks that capacity assumes.
    """
    if kind == "awgn":
        return ch.normal_approximation_uses(bits, ch.awgn_capacity_per_real_use(value), ch.awgn_dispersion(value),
                                            error_prob)
    return ch.normal_approximation_uses(bits, ch.bsc_capacity(value), ch.bsc_dispersion(value), error_prob)
