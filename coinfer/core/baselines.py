"""The baselines of Fig. 3 (Shao & Zhang 2020, section V-B); here, the one that is a model of its own: BottleNet++'s codec.

The paper compares its framework with three device-edge co-inference methods and one server-based
method, all on the same network, data and accuracy threshold:

``original``        the unmodified network split at a point; the feature is quantized to 8 bits and
                    Huffman-coded (:func:`coinfer.experiments.encoding.original_record`).
``2-step-pruning``  Shi et al. 2019 (arXiv 1903.03472). Step 1 prunes filters over the *whole*
                    network by first-order Taylor importance; step 2 prunes only the layer right
                    before the split point (one model per split point); the feature is then 8-bit
                    Huffman-coded like ``original``. Built from :mod:`coinfer.core.pruning` (criterion
                    ``"taylor"``, compaction) and :func:`~coinfer.experiments.encoding.huffman_8bit`
                    (:mod:`coinfer.experiments.baselines`).
``bottlenet++``     Shao & Zhang, ICC Workshops 2020. A convolutional encoder (conv + BN + sigmoid)
                    reduces the feature's channels, a decoder restores them; values are sent as
                    8-bit integers, no entropy coding; the on-device model is not compressed. Built
                    from :mod:`coinfer.core.encoding`'s building blocks (:class:`DimensionReductionEncoder`
                    with ``dim=None``, :class:`UniformQuantizer`, :class:`DimensionReductionDecoder`).
``png``             the server-based method: the device sends the input image as a PNG file and
                    runs nothing; accuracy is the unsplit network's.

Data flow of the two pruning-based methods::

    baseline --step 1: Taylor pruning of every stage (split point "output"), fine-tune--> masked net
             --compact--> smaller net (Sequential of stages)
             --step 2 at split s: Taylor pruning of the stream reaching s only, fine-tune-->
             --compact device part--> device | scatter + server --8-bit + Huffman--> Record

Where this differs from Shi et al.: their public code removes 1/16 of the filters per round and
stops at 95% of the starting accuracy; here each step is one :class:`~coinfer.config.PruneSettings`
run with a linear schedule to a fixed target (the sweep tries several), every channel group is
pruned by the same fraction (their ranking is global over layers), and because a residual addition
couples channels, "the layer right before the split" is the whole residual stream that reaches it
(:func:`coinfer.core.pruning.device_layout`). BottleNet++ is trained here without a noisy channel (Fig. 3
is about noiseless source coding); the original was trained through an AWGN or erasure channel.

This module holds the baselines' own building blocks (BottleNet++'s codec); the Taylor criterion is
:class:`coinfer.core.taylor.TaylorImportance` and the PNG sizes :func:`coinfer.core.costs.input_size`.
Training them and making their records is :mod:`coinfer.experiments.baselines`.

Units: MACs (FLOPs = 2 x MACs) per image; bits per image are real encoded lengths.
"""

from __future__ import annotations

from coinfer.core.encoding import DimensionReductionDecoder, DimensionReductionEncoder, FeatureCodec, UniformQuantizer
from coinfer.units import is_count

__all__ = ["bottlenet_channels", "bottlenet_codec"]


# --------------------------------------------------------------------------------------------
# BottleNet++
# --------------------------------------------------------------------------------------------

def bottlenet_channels(feature_shape: tuple[int, ...], reduction: int) -> int:
    """BottleNet++'s channels for a ``C x H x W`` feature: ``max(1, C // reduction)``."""
    if not is_count(reduction):
        raise ValueError(f"channel reduction must be a positive integer, got {reduction!r}")
    if len(feature_shape) != 3:
        raise ValueError(f"BottleNet++ reduces the channels of a C x H x W feature; got shape {tuple(feature_shape)} "
                         "(choose a split point before 'pool')")
    return max(1, feature_shape[0] // reduction)


def bottlenet_codec(feature_shape: tuple[int, ...], channels: int, kernel_size: int = 3) -> FeatureCodec:
    """BottleNet++'s encoder/decoder from :mod:`coinfer.core.encoding`'s blocks.

    Device: conv (C -> c) + BN + sigmoid (values in [0, 1]), rounded to 8 bits; server: conv
    (c -> C) + BN + ReLU. No entropy model: the ``c x H x W`` bytes are sent as they are.
    """
    encoder = DimensionReductionEncoder(feature_shape, dim=None, channels=channels, kernel_size=kernel_size,
                                        activation="sigmoid")
    decoder = DimensionReductionDecoder(feature_shape, dim=None, channels=channels, kernel_size=kernel_size)
    return FeatureCodec(encoder, UniformQuantizer(8, 0.0, 1.0), decoder, entropy_model=None)
