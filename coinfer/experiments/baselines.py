"""The baselines of Fig. 3 (Shao & Zhang 2020, section V-B): training them and making their records.

What each method is, and where it differs from its paper, is told in :mod:`coinfer.core.baselines`;
this module runs them on a preset's data and returns one :class:`~coinfer.results.Record` per
configuration (the sweep, :mod:`coinfer.experiments.sweep`, calls these per cell):

- ``png``: :func:`png_record`;
- ``bottlenet++``: :func:`bottlenet_record`, :func:`bottlenet_records` (several reductions trained in one
  pass by :func:`coinfer.experiments.encoding.train_codecs`), :func:`bottlenet_evaluate` (real bytes);
- ``2-step-pruning``: :func:`two_step_step1`, :func:`two_step_step2` (Taylor pruning fine-tuned by
  :func:`coinfer.experiments.pruning.prune_finetune`), :func:`two_step_record`;
- ``original``: :func:`coinfer.experiments.encoding.original_record`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from coinfer.config import EncodeSettings, PruneSettings
from coinfer.core.baselines import bottlenet_channels, bottlenet_codec
from coinfer.core.costs import module_device
from coinfer.core.encoding import FeatureCodec, codec_costs
from coinfer.core.network import SplitPoint
from coinfer.core.network import split as split_stages
from coinfer.core.pruning import PrunedModel, SparsitySchedule, compact, pruned_costs
from coinfer.core.features import FeatureSource
from coinfer.experiments.encoding import freeze, huffman_8bit, train_codecs
from coinfer.experiments.pruning import prune_finetune
from coinfer.results import Record
from coinfer.tensor_data import DataPath
from coinfer.train import seed_everything

__all__ = ["png_record", "bottlenet_record", "bottlenet_records", "bottlenet_evaluate", "taylor_settings",
           "two_step_step1", "two_step_step2", "two_step_record", "feature_sources"]


# --------------------------------------------------------------------------------------------
# PNG: the server-based method
# --------------------------------------------------------------------------------------------

def png_record(dataset: str, accuracy: float, network_macs: int, images: int | None = None,
               root=None, val_accuracy: float | None = None) -> Record:
    """The server-based method: the input image as PNG, the whole network on the server.

    Bits per image are the PNG's compressed image data (:func:`coinfer.core.costs.png_data_bits`);
    the whole file, container included, is ``extra["png_file_bits"]``.

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
    val_accuracy : float, optional
        The unsplit network's validation accuracy (what choices use).
    """
    from coinfer.data import native_images
    from coinfer.core.costs import input_size

    images = images if images is not None else len(native_images(dataset, train=False, root=root))
    size = input_size(dataset, root=root, limit=images)
    return Record(method="png", split="input", accuracy=float(accuracy), val_accuracy=val_accuracy,
                  device_macs=0, device_params=0,
                  server_macs=int(network_macs), bits_per_image=size.png_bits_mean, code_size="png",
                  extra={"png_bits_std": size.png_bits_std, "png_file_bits": size.png_file_bits_mean,
                         "raw_bits": size.raw_bits,
                         "image_shape": list(size.image_shape), "test_images": size.images})


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
                     test_src: FeatureSource, reduction: int, config: EncodeSettings, seed: int = 0, device=None,
                     log=print, val_src: FeatureSource | None = None) -> Record:
    """Train BottleNet++ at ``point`` in front of the frozen ``server_part``; its :class:`Record`.

    ``train_src``/``test_src`` hold the features of ``device_part`` (the unpruned split of the
    baseline: BottleNet++ does not compress the device model). Training reuses
    :func:`coinfer.experiments.encoding.train_codecs` (straight-through rounding to 8 bits, no warm-up, for
    the framework codec's warm-up and quantized epochs together: the same budget).
    ``val_src``: the validation features, whose accuracy the record's ``val_accuracy`` holds.
    """
    return bottlenet_records(point, device_part, server_part, train_src, test_src, [reduction], config, seed,
                             device, log, val_src)[0]


def bottlenet_records(point: str, device_part: nn.Module, server_part: nn.Module, train_src: FeatureSource,
                      test_src: FeatureSource, reductions: list[int], config: EncodeSettings, seed: int = 0,
                      device=None, log=print, val_src: FeatureSource | None = None) -> list[Record]:
    """:func:`bottlenet_record` for several channel reductions at one split point, trained together.

    The codecs train in one pass (:func:`coinfer.experiments.encoding.train_codecs`): each batch is
    drawn, augmented and run through the frozen device part once for all of them, while every codec,
    built from ``seed`` as if alone, takes exactly the steps it would take alone; every record is
    what :func:`bottlenet_record` gives for its reduction (tested bit for bit on the CPU). Each
    record's ``train_time_s`` is the pass's time and ``trained_together`` the number of codecs in it.
    """
    device = device or train_src.device            # default: where the training features are
    point = SplitPoint(point)
    shape = train_src.feature_shape
    channels = [bottlenet_channels(shape, reduction) for reduction in reductions]
    codecs = []
    for c in channels:
        seed_everything(seed)              # the codec's initial weights: as if built alone
        codecs.append(bottlenet_codec(shape, c, config.kernel_size).to(device))
    t0 = time.time()
    # No warm-up (nothing to quantize but the 8-bit rounding), and the framework's codec budget all the same:
    # its warm-up and quantized epochs together, so that both codecs train for as many epochs.
    histories = train_codecs(codecs, server_part, train_src,
                             replace(config, warmup_epochs=0, epochs=config.warmup_epochs + config.epochs), seed=seed,
                             desc=f"bottlenet++ {point} " + " ".join(f"c{c}" for c in channels))
    train_s = time.time() - t0
    records = []
    for codec, c, reduction, history in zip(codecs, channels, reductions, histories):
        result = bottlenet_evaluate(codec, server_part, test_src, config.eval_batch_size)
        val = bottlenet_evaluate(codec, server_part, val_src, config.eval_batch_size)["accuracy"] if val_src else None
        costs = codec_costs(device_part, codec, server_part)   # counts CPU copies; nothing moves
        log(f"[bottlenet++] {point} c={c}: accuracy {result['accuracy']:.4f}, "
            f"{result['bits_real']:.0f} bits, {train_s:.0f} s" + (f" (trained with {len(codecs) - 1} others)"
                                                                  if len(codecs) > 1 else ""))
        records.append(Record(
            method="bottlenet++", split=point, accuracy=result["accuracy"], val_accuracy=val,
            device_macs=costs.device_macs, device_params=costs.device_params, server_macs=costs.server_macs,
            bits_per_image=result["bits_real"], bits_entropy=result["bits_entropy"], code_size=f"c{c}-8bit",
            extra={"channels": c, "reduction": reduction, "feature_shape": list(shape),
                   "encoder_macs": costs.encoder_macs, "decoder_macs": costs.decoder_macs,
                   "test_images": result["test_images"], "train_images": len(train_src),
                   "train_loss": [round(v, 4) for v in history["loss"]], "train_time_s": round(train_s, 1),
                   **({"trained_together": len(codecs)} if len(codecs) > 1 else {})}))
    return records


# --------------------------------------------------------------------------------------------
# 2-Step Pruning (Shi et al. 2019)
# --------------------------------------------------------------------------------------------

def taylor_settings(config: PruneSettings) -> PruneSettings:
    """``config`` with the Taylor criterion and a linear schedule (Shi et al. prune equal steps per round).

    Everything else is ``config``'s: the fine-tuning recipe (optimizer, learning rate and its
    schedule, distillation, steps) is the framework's, so both methods get the same training.
    """
    schedule = SparsitySchedule(kind="linear", ramp_fraction=config.schedule.ramp_fraction,
                                interval=config.schedule.interval)
    return replace(config, criterion="taylor", schedule=schedule, output_sparsity=None)


def two_step_step1(baseline: nn.Module, sparsity: float, config: PruneSettings, train_loader,
                   device=None, path: DataPath | None = None) -> PrunedModel:
    """Step 1: Taylor-prune every stage of (a copy of) ``baseline`` to ``sparsity``, fine-tuning it.

    The whole network is the "device part" at split point ``output``; its classifier's inputs
    follow the last stream's kept channels. The fine-tuning is the framework's recipe
    (:func:`taylor_settings`), distilling from ``baseline`` when the recipe distils. Returns the
    masked network and its kept channels. ``path``: how the batches are computed, as in
    :func:`~coinfer.experiments.pruning.prune_finetune` (default: the device's).
    """
    return prune_finetune(copy.deepcopy(baseline), "output", sparsity, taylor_settings(config), train_loader,
                          device, desc=f"2-step: step 1, s={sparsity:g}", teacher=baseline, path=path)


def two_step_step2(step1: PrunedModel, point: str, sparsity: float, config: PruneSettings, train_loader,
                   device=None, teacher: nn.Module | None = None, path: DataPath | None = None) -> PrunedModel:
    """Step 2: compact step 1's network, then Taylor-prune only the channels sent at ``point``.

    Every other group keeps all its (step-1) channels; the whole compacted network is fine-tuned by
    the framework's recipe (:func:`taylor_settings`). The returned model is the compacted stage
    sequence (:func:`coinfer.core.network.split`).

    ``teacher``: what the recipe distils from; pass the baseline, as step 1 and the framework do
    (default: step 1's network as it is, a weaker teacher). ``path``: as in :func:`two_step_step1`.
    """
    whole, _ = split_stages(step1.model, "output")
    small, _ = compact(whole, step1.keep)
    config = replace(taylor_settings(config), output_sparsity=sparsity)
    return prune_finetune(small, point, 0.0, config, train_loader, device,
                          desc=f"2-step: step 2, {point} s={sparsity:g}", teacher=teacher, path=path)


def two_step_record(step2: PrunedModel, step1_sparsity: float, train_set, test_set, config: EncodeSettings,
                    device=None, log=print, val_set=None) -> Record:
    """The 2-Step Pruning :class:`Record`: compacted device part, 8-bit Huffman-coded feature
    (``val_set``: the validation images, whose accuracy is the record's ``val_accuracy``)."""
    device = device or module_device(step2.model)  # default: where the pruned network is
    device_part, server_part = step2.parts()
    device_part, server_part = device_part.to(device).eval(), server_part.to(device).eval()
    result = huffman_8bit(device_part, server_part, train_set, test_set, config, device, name=step2.split)
    val = huffman_8bit(device_part, server_part, train_set, val_set, config, device, 0,
                       step2.split)["accuracy"] if val_set is not None else None
    costs = pruned_costs(step2)
    log(f"[2-step] {step2.split} s1={step1_sparsity:g} s2={step2.output_sparsity:g}: accuracy "
        f"{result['accuracy']:.4f}, {result['bits_real']:.0f} bits, device {costs['device_macs'] / 1e6:.2f} MMACs")
    return Record(method="2-step-pruning", split=step2.split, accuracy=result["accuracy"], val_accuracy=val,
                  device_macs=costs["device_macs"], device_params=costs["device_params"],
                  server_macs=costs["server_macs"], bits_per_image=result["bits_real"],
                  bits_entropy=result["bits_entropy"], sparsity=float(step1_sparsity),
                  code_size=f"8bit-huffman-out{step2.output_sparsity:g}",
                  extra={"step1_sparsity": float(step1_sparsity), "step2_sparsity": step2.output_sparsity,
                         "feature_shape": costs["feature_shape"], "accuracy_float": result["accuracy_float"],
                         "bits_fixed": result["bits_fixed"], "bits_huffman": result["bits_huffman"],
                         "range": result["range"], "test_images": result["test_images"],
                         "channels_kept": {g: len(k) for g, k in step2.keep.items()},
                         "fine_tune_s": step2.meta.get("fine_tune_s")})


def feature_sources(device_part: nn.Module, train_set, test_set, config: EncodeSettings, device=None):
    """Train and test :class:`FeatureSource` of a frozen device part (shared by several cells)."""
    device = device or module_device(device_part)  # default: where the device part is (the CPU if empty)
    freeze(device_part)
    return (FeatureSource(device_part, train_set, config.precompute, config.eval_batch_size, device),
            FeatureSource(device_part, test_set, config.precompute, config.eval_batch_size, device))

