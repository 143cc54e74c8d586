"""The baselines of Fig. 3 (Shao & Zhang 2020, section V-B), each a function that returns a :class:`Record`.

The paper compares its framework with three device-edge co-inference methods and one server-based
method, all on the same network, data and accuracy threshold:

``original``        the unmodified network split at a point; the feature is quantized to 8 bits and
                    Huffman-coded. Implemented in :mod:`coinfer.experiments.encoding`
                    (:func:`~coinfer.experiments.encoding.original_record`); re-exported here.
``2-step-pruning``  Shi et al. 2019 (arXiv 1903.03472). Step 1 prunes filters over the *whole*
                    network by first-order Taylor importance; step 2 prunes only the layer right
                    before the split point (one model per split point); the feature is then 8-bit
                    Huffman-coded like ``original``. Built from :mod:`coinfer.core.pruning` (criterion
                    ``"taylor"``, compaction) and :func:`~coinfer.experiments.encoding.huffman_8bit`.
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
stops at 95% of the starting accuracy; here each step is one :class:`~coinfer.core.pruning.PruneConfig`
run with a linear schedule to a fixed target (the sweep tries several), every channel group is
pruned by the same fraction (their ranking is global over layers), and because a residual addition
couples channels, "the layer right before the split" is the whole residual stream that reaches it
(:func:`coinfer.core.pruning.device_layout`). BottleNet++ is trained here without a noisy channel (Fig. 3
is about noiseless source coding); the original was trained through an AWGN or erasure channel.

Units: MACs (FLOPs = 2 x MACs) per image; bits per image are real encoded lengths.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from coinfer.core.encoding import DimensionReductionDecoder, DimensionReductionEncoder, FeatureCodec, UniformQuantizer, codec_costs
from coinfer.experiments.encoding import (EncodeConfig, FeatureSource, freeze, huffman_8bit, original_record,  # noqa: F401
                                train_codec)
from coinfer.core.network import SplitPoint as canonical_split_point
from coinfer.core.network import split as split_stages
from coinfer.core.pruning import PruneConfig, PrunedModel, compact, prune_finetune, pruned_costs
from coinfer.results import Record

__all__ = ["original_record", "png_record", "bottlenet_channels", "bottlenet_codec", "bottlenet_record",
           "bottlenet_evaluate", "two_step_step1", "two_step_step2", "two_step_record", "feature_sources"]


# --------------------------------------------------------------------------------------------
# PNG: the server-based method
# --------------------------------------------------------------------------------------------

def png_record(dataset: str, accuracy: float, network_macs: int, images: int | None = None,
               root=None) -> Record:
    """The server-based method: the input image as PNG, the whole network on the server.

    Parameters
    ----------
    dataset : str
        Whose test images are PNG-encoded (in their native format, :func:`coinfer.core.costs.input_size`).
    accuracy : float
        The unsplit network's test accuracy (the server runs it unchanged).
    network_macs : int
        MACs of the whole network per image (all on the server).
    images : int, optional
        Test images averaged (default: the whole test split).
    """
    from coinfer.data import native_images
    from coinfer.core.costs import input_size

    images = images if images is not None else len(native_images(dataset, train=False, root=root))
    size = input_size(dataset, root=root, limit=images)
    return Record(method="png", split="input", accuracy=float(accuracy), device_macs=0, device_params=0,
                  server_macs=int(network_macs), bits_per_image=size.png_bits_mean, code_size="png",
                  extra={"png_bits_std": size.png_bits_std, "raw_bits": size.raw_bits,
                         "image_shape": list(size.image_shape), "test_images": size.images})


# --------------------------------------------------------------------------------------------
# BottleNet++
# --------------------------------------------------------------------------------------------

def bottlenet_channels(feature_shape: tuple[int, ...], reduction: int) -> int:
    """BottleNet++'s channels for a ``C x H x W`` feature: ``max(1, C // reduction)``."""
    if isinstance(reduction, bool) or not (isinstance(reduction, int) and reduction >= 1):
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


@torch.no_grad()
def bottlenet_evaluate(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource,
                       batch_size: int = 500) -> dict:
    """Send every test feature as real bytes (one uint8 per value), decode, classify.

    Returns ``accuracy`` (from the decoded bytes), ``bits_real`` (mean payload bits per image),
    ``bits_entropy`` (empirical entropy of the bytes, pooled over positions, times their number).
    """
    codec.eval()
    server_part.eval()
    quantizer = codec.bottleneck
    correct = total = 0
    bits, counts = [], np.zeros(256, dtype=np.int64)
    device = next(codec.parameters()).device
    for features, labels in source.batches(batch_size):
        z = codec.encoder(features)
        symbols = quantizer.quantize(z).cpu().numpy().astype(np.uint8)
        packets = [row.tobytes() for row in symbols.reshape(len(symbols), -1)]
        received = np.stack([np.frombuffer(p, dtype=np.uint8) for p in packets]).reshape(symbols.shape)
        z_hat = quantizer.dequantize(torch.as_tensor(received.astype(np.int64)).to(device))
        correct += (server_part(codec.decoder(z_hat)).argmax(1) == labels).sum().item()
        total += len(labels)
        bits.extend(8 * len(p) for p in packets)
        counts += np.bincount(symbols.reshape(-1), minlength=256)
    p = counts[counts > 0] / counts.sum()
    positions = int(np.prod(symbols.shape[1:]))
    return {"accuracy": correct / total, "bits_real": float(np.mean(bits)),
            "bits_entropy": float(-(p * np.log2(p)).sum() * positions), "test_images": total}


def bottlenet_record(point: str, device_part: nn.Module, server_part: nn.Module, train_src: FeatureSource,
                     test_src: FeatureSource, reduction: int, config: EncodeConfig, seed: int = 0, device=None,
                     log=print) -> Record:
    """Train BottleNet++ at ``point`` in front of the frozen ``server_part``; its :class:`Record`.

    ``train_src``/``test_src`` hold the features of ``device_part`` (the unpruned split of the
    baseline: BottleNet++ does not compress the device model). Training reuses
    :func:`coinfer.experiments.encoding.train_codec` (straight-through rounding to 8 bits, no warm-up).
    """
    from dataclasses import replace

    from coinfer.train import seed_everything

    device = device or torch.device("cpu")
    point = canonical_split_point(point)
    shape = train_src.feature_shape
    channels = bottlenet_channels(shape, reduction)
    seed_everything(seed)
    codec = bottlenet_codec(shape, channels, config.kernel_size).to(device)
    t0 = time.time()
    history = train_codec(codec, server_part, train_src, replace(config, warmup_epochs=0), seed=seed,
                          desc=f"bottlenet++ {point} c{channels}")
    train_s = time.time() - t0
    result = bottlenet_evaluate(codec, server_part, test_src, config.eval_batch_size)
    costs = codec_costs(device_part, codec, server_part)   # counts CPU copies; nothing moves
    log(f"[bottlenet++] {point} c={channels}: accuracy {result['accuracy']:.4f}, "
        f"{result['bits_real']:.0f} bits, {train_s:.0f} s")
    return Record(method="bottlenet++", split=point, accuracy=result["accuracy"], device_macs=costs.device_macs,
                  device_params=costs.device_params, server_macs=costs.server_macs,
                  bits_per_image=result["bits_real"], bits_entropy=result["bits_entropy"],
                  code_size=f"c{channels}-8bit",
                  extra={"channels": channels, "reduction": reduction, "feature_shape": list(shape),
                         "encoder_macs": costs.encoder_macs, "decoder_macs": costs.decoder_macs,
                         "test_images": result["test_images"], "train_images": len(train_src),
                         "train_loss": [round(v, 4) for v in history["loss"]], "train_time_s": round(train_s, 1)})


# --------------------------------------------------------------------------------------------
# 2-Step Pruning (Shi et al. 2019)
# --------------------------------------------------------------------------------------------

def taylor_config(config: PruneConfig) -> PruneConfig:
    """``config`` with the Taylor criterion and a linear schedule (Shi et al. prune equal steps per round)."""
    from dataclasses import replace

    from coinfer.core.pruning import SparsitySchedule

    schedule = SparsitySchedule(kind="linear", ramp_fraction=config.schedule.ramp_fraction,
                                interval=config.schedule.interval)
    return replace(config, criterion="taylor", schedule=schedule, output_sparsity=None)


def two_step_step1(baseline: nn.Module, sparsity: float, config: PruneConfig, train_loader,
                   device=None) -> PrunedModel:
    """Step 1: Taylor-prune every stage of (a copy of) ``baseline`` to ``sparsity``, fine-tuning it.

    The whole network is the "device part" at split point ``output``; its classifier's inputs
    follow the last stream's kept channels. Returns the masked network and its kept channels.
    """
    return prune_finetune(copy.deepcopy(baseline), "output", sparsity, taylor_config(config), train_loader,
                          device, desc=f"2-step: step 1, s={sparsity:g}")


def two_step_step2(step1: PrunedModel, point: str, sparsity: float, config: PruneConfig, train_loader,
                   device=None) -> PrunedModel:
    """Step 2: compact step 1's network, then Taylor-prune only the channels sent at ``point``.

    Every other group keeps all its (step-1) channels; the whole compacted network is fine-tuned.
    The returned model is the compacted stage sequence (:func:`coinfer.core.network.split`).
    """
    from dataclasses import replace

    whole, _ = split_stages(step1.model, "output")
    small, _ = compact(whole, step1.keep)
    config = replace(taylor_config(config), output_sparsity=sparsity)
    return prune_finetune(small, point, 0.0, config, train_loader, device,
                          desc=f"2-step: step 2, {point} s={sparsity:g}")


def two_step_record(step2: PrunedModel, step1_sparsity: float, train_set, test_set, config: EncodeConfig,
                    device=None, log=print) -> Record:
    """The 2-Step Pruning :class:`Record`: compacted device part, 8-bit Huffman-coded feature."""
    device = device or torch.device("cpu")
    device_part, server_part = step2.parts()
    device_part, server_part = device_part.to(device).eval(), server_part.to(device).eval()
    result = huffman_8bit(device_part, server_part, train_set, test_set, config, device, name=step2.split)
    costs = pruned_costs(step2)
    log(f"[2-step] {step2.split} s1={step1_sparsity:g} s2={step2.output_sparsity:g}: accuracy "
        f"{result['accuracy']:.4f}, {result['bits_real']:.0f} bits, device {costs['device_macs'] / 1e6:.2f} MMACs")
    return Record(method="2-step-pruning", split=step2.split, accuracy=result["accuracy"],
                  device_macs=costs["device_macs"], device_params=costs["device_params"],
                  server_macs=costs["server_macs"], bits_per_image=result["bits_real"],
                  bits_entropy=result["bits_entropy"], sparsity=float(step1_sparsity),
                  code_size=f"8bit-huffman-out{step2.output_sparsity:g}",
                  extra={"step1_sparsity": float(step1_sparsity), "step2_sparsity": step2.output_sparsity,
                         "feature_shape": costs["feature_shape"], "accuracy_float": result["accuracy_float"],
                         "bits_fixed": result["bits_fixed"], "range": result["range"],
                         "test_images": result["test_images"],
                         "channels_kept": {g: len(k) for g, k in step2.keep.items()},
                         "fine_tune_s": step2.meta.get("fine_tune_s")})


def feature_sources(device_part: nn.Module, train_set, test_set, config: EncodeConfig, device=None):
    """Train and test :class:`FeatureSource` of a frozen device part (shared by several cells)."""
    device = device or torch.device("cpu")
    freeze(device_part)
    return (FeatureSource(device_part, train_set, config.precompute, config.eval_batch_size, device),
            FeatureSource(device_part, test_set, config.precompute, config.eval_batch_size, device))

