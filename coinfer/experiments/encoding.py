"""Training and evaluating feature encoders at several split points and code sizes; the Huffman baseline.

Shao & Zhang (2020), section IV-B and Fig. 3. For each split point a trained backbone is frozen (the
committed table's, :func:`table`: the recipe's control, the baseline fine-tuned by the pruning recipe
with nothing pruned, as in the sweep; :func:`run`'s: the network it is given, default the baseline),
its device part's features are computed once (or per batch, for the paper preset's large features),
and only the encoder, codewords and decoder are trained, end to end through the frozen server part,
for classification accuracy::

    images --frozen device part--> features (cached) --encoder--> z --quantizer--> z_hat
           --decoder--> feature_hat --frozen server part--> logits --cross-entropy--> loss

Schedule (reference notes, section 6): a few unquantized warm-up epochs, k-means initialization of
the codewords on the warmed-up encoder's outputs, then quantized epochs (soft-to-hard gradients,
hard forward values); finally the entropy model is estimated from the training images' symbols.

Every test image is then really coded (:meth:`FeatureCodec.compress`), decoded, and classified
from the decoded feature; bits per image is the payload length of its packet.

The baseline (method ``"original"``): the unmodified baseline's feature (never fine-tuned) at every
split point, quantized to 8 bits over the range seen in training and Huffman-coded with a code built
from the training features' histogram.

Command line: ``python -m coinfer run encoding`` makes the committed table from the sweep's cells
(:func:`table`, three seeds); ``python -m coinfer encode`` runs :func:`run` once, with any settings,
into ``data/results/encode/`` (:func:`coinfer.paths.step_table_path`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coinfer.core.costs import module_device
from coinfer.core.encoding import (FeatureCodec, ScalarCodebookQuantizer, VectorCodebookQuantizer, build_codec,
                                   codec_costs)
from coinfer.core.entropy import empirical_entropy_bits, range_stream_bits, sent_bits
from coinfer.core.rate import LearnedEntropyModel, check_rate_weight, rate_bits
from coinfer.config import EncodeSettings, Preset
from coinfer.core.network import SplitPoint, fold_batchnorm, split
from coinfer.core.pipeline import SplitNetwork
from coinfer.core.features import FeatureSource
from coinfer.results import LookupTable, Provenance, Record

#: Encoder outputs summarized per record: a histogram of the first few elements' values in [-1, 1].
HISTOGRAM_ELEMENTS, HISTOGRAM_BINS = 4, 40


def get_encode_config(preset="quick", **overrides) -> EncodeSettings:
    """The encoding settings of ``preset`` (a name or a :class:`~coinfer.config.Preset`) with ``overrides``.

    Shorthand for ``override(preset.encoding, overrides)`` (:func:`coinfer.config_overrides.override`); list
    values of ``splits``, ``code_sizes`` and ``huffman_splits`` become tuples (anything else, a string
    included, goes to the settings' own check).
    """
    from coinfer.config import get_preset, override

    preset = get_preset(preset) if isinstance(preset, str) else preset
    overrides = {k: tuple(v) if k in ("splits", "code_sizes", "huffman_splits") and isinstance(v, list) else v
                 for k, v in overrides.items()}
    return override(preset.encoding, overrides)


# ---- Training codecs in front of the frozen server part --------------------------------------

def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode with no trainable parameters (its BN statistics stay fixed)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@torch.no_grad()
def _per_codec(codecs: list[FeatureCodec], source: FeatureSource, batch_size: int, fn) -> list[torch.Tensor]:
    """``fn(codec, features)`` over the source's batches in order, for every codec from one pass: the
    device part runs once per batch, and augmented batches are drawn once (as for one codec)."""
    for codec in codecs:
        codec.eval()
    out: list[list[torch.Tensor]] = [[] for _ in codecs]
    for features, _ in source.batches(batch_size):
        for i, codec in enumerate(codecs):
            out[i].append(fn(codec, features).cpu())
    return [torch.cat(o) for o in out]


class _CodecTraining(SplitNetwork):
    """Codecs in front of one frozen server part, each with the quantizer's loss beside its logits.

    ``forward(features)`` gives one dict per codec; their losses are summed, and since no codec's
    output reaches another's parameters, each codec gets exactly the gradient it would get trained
    alone (codecs trained together share a batch and its device-part features, nothing else).

    ``autocast``: the frozen server part (most of a step's arithmetic) runs under ``torch.autocast``
    with this dtype; the codec (encoder, quantizer, decoder, its loss) stays float32, so that no
    codeword choice depends on the precision. ``stack``: one server pass on the codecs' reconstructions
    stacked into one batch (:class:`~coinfer.tensor_data.DataPath`'s ``stack_codes``).
    """

    def __init__(self, codecs: list[FeatureCodec], server_part: nn.Module, autocast: torch.dtype | None = None,
                 stack: bool = False):
        super().__init__(nn.Identity(), nn.ModuleList(codecs), server_part, frozen=("server_part",))
        self.autocast = autocast
        self.stack = stack

    def forward(self, features: torch.Tensor) -> list[dict]:
        outs = [codec(features) for codec in self.codec]
        with torch.autocast(features.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            if self.stack and len(outs) > 1:
                logits = self.server_part(torch.cat([out["feature_hat"] for out in outs])).split(len(features))
            else:
                logits = [self.server_part(out["feature_hat"]) for out in outs]
        return [{"logits": l.float() if self.autocast else l, "aux_loss": out["aux_loss"], "rate": out["rate"]}
                for out, l in zip(outs, logits)]


#: Learning rate of a learned prior's logits, relative to the codec's (:mod:`coinfer.core.rate`): the
#: logits must follow the symbol frequencies as the rate term moves them within a few epochs.
PRIOR_LR_FACTOR = 10.0


def _run_epochs(codecs: list[FeatureCodec], server_part: nn.Module, source: FeatureSource, config: EncodeSettings,
                epochs: int, seed: int, desc: str, quantized: bool, rate_weights: list[float]) -> list[list[float]]:
    """``epochs`` of :func:`coinfer.train.fit` on the codecs (Adam, cosine learning rate per step), on the
    source's :attr:`~coinfer.core.features.FeatureSource.training_path` (images read on CUDA: the GPU path of
    :class:`~coinfer.tensor_data.DataPath`, the codecs in float32). Returns each codec's mean loss per epoch.

    With a learned prior (quantized epochs), a codec's loss adds its ``rate_weight`` x the mean rate
    (bits per image) and the prior's own maximum-likelihood loss, which moves its logits only.
    Several codecs train as one sum of their losses, under one Adam whose parameter groups are each
    codec's own: Adam and the cosine schedule act on each group alone, so every codec follows the
    steps it would follow trained alone."""
    from coinfer.train import fit

    if epochs == 0:
        return [[] for _ in codecs]
    groups = []
    for codec in codecs:
        learned = isinstance(codec.entropy_model, LearnedEntropyModel)
        prior = list(codec.entropy_model.parameters()) if learned else []
        groups.append({"params": [p for p in codec.parameters() if p.requires_grad and all(p is not q for q in prior)]})
        if prior:
            groups.append({"params": prior, "lr": config.lr * PRIOR_LR_FACTOR})
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    steps = epochs * math.ceil(len(source) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    totals: list[list[float]] = [[] for _ in codecs]      # per codec, per epoch: sum of loss x images
    counts: list[int] = []

    def one_loss(out: dict, labels: torch.Tensor, rate_weight: float) -> torch.Tensor:
        loss = F.cross_entropy(out["logits"], labels)
        if not quantized:
            return loss
        loss = loss + config.aux_weight * out["aux_loss"]
        if out["rate"] is not None:
            loss = loss + rate_weight * out["rate"]["rate"].mean() + out["rate"]["prior_bits"].mean()
        return loss

    def loss_fn(outputs: list[dict], labels: torch.Tensor) -> torch.Tensor:
        losses = [one_loss(out, labels, w) for out, w in zip(outputs, rate_weights)]
        for total, loss in zip(totals, losses):      # as fit tallies one codec's loss: on the device
            total[-1] = total[-1] + loss.detach().double() * labels.numel()
        counts[-1] += labels.numel()
        return sum(losses[1:], losses[0])

    def batches(epoch: int):
        for total in totals:
            total.append(0.0)
        counts.append(0)
        return source.batches(config.batch_size, shuffle=True, seed=seed * 1000 + epoch)

    path = source.training_path
    server = fold_batchnorm(server_part) if path.fold_batchnorm else server_part    # folded: a copy
    if path.channels_last:                 # the frozen parts' layout, in place; put back after training
        server.to(memory_format=torch.channels_last)
    model = path.prepare_codecs(lambda frozen: _CodecTraining(codecs, frozen, path.dtype, path.stack_codes), server,
                                source.device)
    try:
        fit(model, batches, optimizer=optimizer, epochs=epochs, loss_fn=loss_fn, scheduler=scheduler,
            device=source.device, desc=desc)
    finally:
        server_part.to(memory_format=torch.contiguous_format)      # as it came (a no-op if never changed)
    return [[float(t) / n for t, n in zip(total, counts) if n] for total in totals]


def train_codec(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource, config: EncodeSettings,
                seed: int = 0, desc: str = "codec", rate_weight: float | None = None) -> dict:
    """Train ``codec`` in front of the frozen ``server_part`` on ``source``; fit its entropy model.

    Warm-up epochs without quantization, k-means initialization of the codewords, quantized
    epochs, then the entropy model from the training symbols (skipped for a codec without one,
    such as BottleNet++'s, which sends fixed-length 8-bit values). Returns the loss history.

    A codec with a learned prior (:class:`coinfer.core.rate.LearnedEntropyModel`, a code size with
    ``-r<weight>``) is trained for rate and accuracy instead: its prior starts from the symbol
    counts after the k-means initialization, the quantized epochs add ``rate_weight`` (default:
    the codec's own, ``codec.rate_weight``, else 0; finite, >= 0, and refused for a codec without a
    learned prior) x the rate in bits per image, and the trained prior is kept as it is: it codes the packets.
    """
    return train_codecs([codec], server_part, source, config, seed, desc, [rate_weight])[0]


def fitting_passes(codecs: list[FeatureCodec]) -> int:
    """Passes :func:`train_codecs` makes over the training images besides its epochs, for ``codecs``
    trained together: one to start the codebooks from k-means, if a quantizer has them, and one to
    fit the entropy models, if a codec has one (before the quantized epochs for a learned prior,
    after them otherwise). The sweep's cost plan (:mod:`coinfer.experiments.plan`) counts them.
    """
    kmeans = any(hasattr(c.bottleneck, "init_kmeans") for c in codecs)
    return int(kmeans) + int(any(c.entropy_model is not None for c in codecs))


def warm_up_twins(codecs: list[FeatureCodec]) -> list[list[int]]:
    """Indices of ``codecs`` grouped by their warm-up, the first of each group the one that trains it.

    The warm-up trains only the encoder and decoder (quantizer off, entropy model unused): codecs with
    the same encoder and decoder layers and starting weights (``d16-l4`` and ``d16-k64`` at one split,
    built from one seed as :func:`codec_records` builds them) warm up identically, step for step;
    :func:`train_codecs` warms up the first of each group and gives the others its weights.
    """
    groups: list[list[int]] = []
    for i, codec in enumerate(codecs):
        twin = next((g for g in groups if _same_warm_up(codecs[g[0]], codec)), None)
        if twin is None:
            groups.append([i])
        else:
            twin.append(i)
    return groups


def _same_warm_up(a: FeatureCodec, b: FeatureCodec) -> bool:
    """Whether ``a`` and ``b`` warm up alike: codebook quantizers, the same encoder and decoder state."""
    def same(x: nn.Module, y: nn.Module) -> bool:
        sx, sy = x.state_dict(), y.state_dict()
        return repr(x) == repr(y) and sx.keys() == sy.keys() and all(
            sx[k].dtype == sy[k].dtype and torch.equal(sx[k], sy[k]) for k in sx)

    quantizers = (ScalarCodebookQuantizer, VectorCodebookQuantizer)
    return (isinstance(a.bottleneck, quantizers) and isinstance(b.bottleneck, quantizers)
            and same(a.encoder, b.encoder) and same(a.decoder, b.decoder))


def _warm_up(codecs: list[FeatureCodec], server_part: nn.Module, source: FeatureSource, config: EncodeSettings,
             seed: int, desc: str, rate_weights: list[float]) -> list[list[float]]:
    """The unquantized warm-up epochs of ``codecs``: one run per group of :func:`warm_up_twins`, whose
    encoder and decoder weights the group's other codecs then take. Returns each codec's losses."""
    groups = warm_up_twins(codecs)
    trained = _run_epochs([codecs[g[0]] for g in groups], server_part, source, config, config.warmup_epochs, seed,
                          f"{desc} warm-up", False, [rate_weights[g[0]] for g in groups])
    losses: list[list[float]] = [[] for _ in codecs]
    for (first, *twins), history in zip(groups, trained):
        losses[first] = history
        for i in twins:
            losses[i] = list(history)
            codecs[i].encoder.load_state_dict(codecs[first].encoder.state_dict())
            codecs[i].decoder.load_state_dict(codecs[first].decoder.state_dict())
    return losses


def train_codecs(codecs: list[FeatureCodec], server_part: nn.Module, source: FeatureSource, config: EncodeSettings,
                 seed: int = 0, desc: str = "codec", rate_weights: list[float | None] | None = None) -> list[dict]:
    """:func:`train_codec` for several codecs in front of one frozen ``server_part``, in one pass.

    Every codec gets exactly what it would get trained alone (the same batches, augmentation and
    steps; tested bit for bit on the CPU), while each batch is drawn, augmented and run through the
    device part once for all of them: the saving where features are not cached (the paper preset,
    ``encoding.precompute=False``). Codecs with a learned prior and codecs without one cannot share
    a pass (their extra pass over the training images would draw a different augmentation before
    the quantized epochs): give them separately. Codecs whose warm-ups are identical
    (:func:`warm_up_twins`) share one. Returns one loss history per codec.
    """
    from coinfer.train import seed_everything

    rate_weights = list(rate_weights) if rate_weights is not None else [None] * len(codecs)
    if len(rate_weights) != len(codecs) or not codecs:
        raise ValueError(f"give one rate weight (or None) per codec: {len(codecs)} codecs, {len(rate_weights)} weights")
    learned = [isinstance(c.entropy_model, LearnedEntropyModel) for c in codecs]
    if len(set(learned)) > 1:
        raise ValueError("codecs with a learned prior and codecs without one train in separate passes")
    given = [check_rate_weight(w) for w in rate_weights if w is not None]
    if given and not learned[0]:     # nothing would weigh it: only a learned prior's rate enters the loss
        raise ValueError(f"rate weight {given[0]!r} given for a codec without a learned prior: give None, or train "
                         "a code size with '-r<weight>'")
    seed_everything(seed)
    freeze(server_part)
    weights = [(w if w is not None else getattr(c, "rate_weight", None)) or 0.0 for c, w in zip(codecs, rate_weights)]
    for codec in codecs:
        codec.bottleneck.enabled = False
    warmup = _warm_up(codecs, server_part, source, config, seed, desc, weights)
    for codec in codecs:
        codec.bottleneck.enabled = True
    kmeans = [c for c in codecs if hasattr(c.bottleneck, "init_kmeans")]
    if kmeans:
        for codec, z in zip(kmeans, _per_codec(kmeans, source, config.eval_batch_size, lambda c, f: c.encoder(f))):
            codec.bottleneck.init_kmeans(z)
    if learned[0]:                                   # a start, not the end
        for codec, symbols in zip(codecs, _per_codec(codecs, source, config.eval_batch_size, lambda c, f: c.symbols(f))):
            codec.entropy_model.fit(symbols)
    quantized = _run_epochs(codecs, server_part, source, config, config.epochs, seed + 1, desc, True, weights)
    fitted = [c for c in codecs if c.entropy_model is not None and not learned[0]]
    for codec in codecs:
        codec.eval()
    if fitted:
        for codec, symbols in zip(fitted, _per_codec(fitted, source, config.eval_batch_size, lambda c, f: c.symbols(f))):
            codec.entropy_model.fit(symbols)
    return [{"warmup_loss": w, "loss": q} for w, q in zip(warmup, quantized)]


@torch.no_grad()
def evaluate_codec(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource,
                   batch_size: int = 500) -> dict:
    """Code every test feature into packets, decode them, classify; bits and accuracy.

    Returns a dict: ``accuracy`` (from decoded packets), ``bits_real`` (mean bits per image the
    packets carry: flag + the shorter form, :func:`coinfer.core.entropy.sent_bits`), ``bits_fixed``
    (the fixed-length index), ``bits_range`` (mean range-coded stream, bit-exact, sent or not),
    ``range_share`` (fraction of images sent range-coded), ``bits_model`` (mean ``-log2`` model
    probability), ``bits_entropy`` (empirical entropy of the test symbols, per position, summed),
    ``bits_one_stream`` (all test images in one range-coder stream, per image),
    ``bits_one_stream_sent`` (that stream as one packet: a flag and the cheaper of the index and
    the stream, per image), ``roundtrip_exact``; with a learned prior also ``bits_soft`` (the
    training's soft rate estimate, :func:`coinfer.core.rate.rate_bits`, on the test features).
    """
    codec.eval()
    server_part.eval()
    correct = total = 0
    bits, range_bits, symbols_all, model_bits, soft_bits, exact = [], [], [], [], [], True
    edges = torch.linspace(-1, 1, HISTOGRAM_BINS + 1)
    histogram = torch.zeros(HISTOGRAM_ELEMENTS, HISTOGRAM_BINS, dtype=torch.long)
    for features, labels in source.batches(batch_size):
        z = codec.encoder(features).cpu()   # torch.histogram exists for CPU tensors only
        for i in range(min(HISTOGRAM_ELEMENTS, z.shape[1])):
            histogram[i] += torch.histogram(z[:, i].float(), bins=edges).hist.long()
        symbols = codec.symbols(features)
        coded = codec.entropy_model.encode_with_costs(symbols)   # range coding runs on the CPU (constriction)
        packets = coded.packets
        decoded = codec.entropy_model.decode(packets)     # int64 on the CPU
        exact &= bool(torch.equal(decoded, symbols.cpu()))
        # The server classifies what it decoded, on the codec's device.
        feature_hat = codec.decoder(codec.bottleneck.dequantize(decoded.to(symbols.device)))
        correct += (server_part(feature_hat).argmax(1) == labels).sum().item()
        total += len(labels)
        bits.append(coded.sent)
        range_bits.append(coded.coded)
        symbols_all.append(symbols.cpu())
        model_bits.append(codec.entropy_model.information_bits(symbols.cpu()))
        if isinstance(codec.entropy_model, LearnedEntropyModel):   # the training's soft estimate, on test
            soft = codec.bottleneck.assignment(codec.encoder(features)).view(len(symbols), *symbols.shape[1:], -1)
            soft_bits.append(rate_bits(codec.entropy_model, symbols, soft)["soft_bits"].cpu())
    symbols_all = torch.cat(symbols_all)
    range_bits, n = np.concatenate(range_bits), len(symbols_all)
    stream = range_stream_bits(symbols_all.cpu().numpy(), codec.entropy_model.range_table())   # the table packets use
    fixed = codec.entropy_model.fixed_bits
    extra = {"bits_soft": float(torch.cat(soft_bits).mean())} if soft_bits else {}
    return {**extra, "accuracy": correct / total, "bits_real": float(np.concatenate(bits).mean()),
            "bits_model": float(torch.cat(model_bits).mean()),
            "bits_entropy": empirical_entropy_bits(symbols_all, codec.bottleneck.alphabet), "bits_fixed": fixed,
            "bits_range": float(range_bits.mean()), "range_share": float((range_bits < fixed).mean()),
            "bits_one_stream": stream / n,
            # The test set as one packet: a flag and the cheaper of the index and the stream (sent_bits).
            "bits_one_stream_sent": float(sent_bits(fixed * n, stream)) / n,
            "roundtrip_exact": exact, "test_images": total, "z_histogram": histogram.tolist()}


# ---- The original network + 8-bit quantization + Huffman coding (the Fig. 3 baseline) --------

@torch.no_grad()
def original_huffman(model: nn.Module, point: str, train_set, test_set, config: EncodeSettings,
                     device: torch.device | None = None, verify_images: int = 2) -> dict:
    """The unmodified network split at ``point``: 8-bit feature, Huffman-coded, per image.

    The 8-bit range and the Huffman code come from ``config.huffman_train_images`` training images;
    test features above the training maximum clip to level 255. Every test image is encoded; the
    first ``verify_images`` packets are also decoded and compared. Returns accuracy (from the 8-bit
    feature), bits per image the packets carry (``bits_real``: flag + the shorter of the plain
    8-bit levels and the Huffman code, :func:`coinfer.core.entropy.sent_bits`), the Huffman code
    alone (``bits_huffman``, bit-exact), pooled empirical entropy, fixed length (8 bits per element).
    """
    device_part, server_part = split(model, point)
    return huffman_8bit(device_part, server_part, train_set, test_set, config, device, verify_images, point)


@torch.no_grad()
def huffman_8bit(device_part: nn.Module, server_part: nn.Module, train_set, test_set, config: EncodeSettings,
                 device: torch.device | None = None, verify_images: int = 2, name: str = "") -> dict:
    """:func:`original_huffman` for any (device part, server part) pair, e.g. a pruned, compacted one.

    The feature ``device_part`` sends is quantized to 8 bits and Huffman-coded per image; the
    server part receives the dequantized feature. 2-Step Pruning (:mod:`coinfer.core.baselines`) uses it.
    Both parts are moved to ``device`` (in place, as ``Module.to`` does), where the images go.
    """
    from coinfer.core.codecs import Huffman8Codec
    from coinfer.data import make_loader

    device = device or module_device(nn.ModuleList([device_part, server_part]))   # default: where the parts are
    # The sweep keeps its baseline on the CPU and hands this a copy with a GPU device: the parts
    # must follow the images there (the paper smoke run on an H200 failed here).
    device_part, server_part = device_part.to(device).eval(), server_part.to(device).eval()

    def train_features():
        # Two streaming passes (range, then histogram) instead of holding every feature: a
        # 64x32x32 float feature of 5,000 images would take 1.3 GB.
        seen = 0
        for images, _ in make_loader(train_set, config.eval_batch_size, shuffle=False):
            images = images[:config.huffman_train_images - seen]
            yield device_part(images.to(device))
            seen += len(images)
            if seen >= config.huffman_train_images:
                return

    codec = Huffman8Codec().fit(train_features)
    correct_q = correct_f = total = 0
    bits, bits_huffman, counts = [], [], np.zeros(256, dtype=np.int64)
    for images, labels in make_loader(test_set, config.eval_batch_size, shuffle=False):
        features = device_part(images.to(device))
        symbols = codec.symbols(features)
        coded = codec.code.encode_with_costs(symbols)   # what codec.compress sends, with both forms' costs
        packets = coded.packets
        feature_q = codec.dequantize(symbols)   # what the server part receives, beside the features
        if total < verify_images:
            n = min(verify_images - total, len(packets))
            if not torch.equal(codec.decompress(packets[:n]), feature_q[:n].cpu()):
                raise RuntimeError(f"Huffman round trip failed at {name}")
        bits.append(coded.sent)
        bits_huffman.append(coded.coded)
        counts += np.bincount(symbols.reshape(-1), minlength=256)
        labels = labels.to(device)
        correct_q += (server_part(feature_q).argmax(1) == labels).sum().item()
        correct_f += (server_part(features).argmax(1) == labels).sum().item()
        total += len(labels)
    elements = symbols.shape[1]
    p = counts[counts > 0] / counts.sum()
    return {"accuracy": correct_q / total, "accuracy_float": correct_f / total,
            "bits_real": float(np.concatenate(bits).mean()), "bits_huffman": float(np.concatenate(bits_huffman).mean()),
            "bits_entropy": float(-(p * np.log2(p)).sum() * elements), "bits_fixed": 8 * elements,
            "bits_float32": 32 * elements, "range": list(codec.range), "test_images": total}


# ---- The whole experiment -> lookup table ----------------------------------------------------

def run(preset="quick", config: EncodeSettings | None = None, model: nn.Module | None = None,
        device_parts: dict[str, nn.Module] | None = None, device: torch.device | None = None,
        command: str | None = None, sparsity: float | dict[str, float] = 0.0, log=print) -> LookupTable:
    """Train and evaluate every (split, code size) of ``config``, plus the Huffman baseline.

    Parameters
    ----------
    preset : str or Preset
        Names the dataset and the baseline network (:func:`coinfer.train.get_baseline`).
    config : EncodeSettings, optional
        Default: ``get_encode_config(preset)``.
    model : nn.Module, optional
        The trained network to split (default: the preset's baseline).
    device_parts : dict, optional
        ``{split: device module}`` replacing the unpruned device part at that split (e.g. a pruned,
        compacted one). Any module works: the encoder takes whatever shape it outputs, and the
        decoder restores the shape the unpruned server part expects.
    sparsity : float or dict
        Recorded in the records (one value, or ``{split: sparsity}``) when ``device_parts`` are pruned.
        Dict keys, here and in ``device_parts``: split points of ``config.splits`` (or their aliases).

    Every record carries its validation accuracy (the preset's ``validation`` images, what choices use).
    """
    from coinfer.data import load_split
    from coinfer.config import get_preset
    from coinfer.train import default_device, get_baseline

    start = time.time()
    preset_obj = get_preset(preset) if isinstance(preset, str) else preset
    config = config or get_encode_config(preset_obj)   # the Preset's own settings, overrides included
    device = device or default_device()
    meta = {}   # the threshold's baselines (test, validation), known when the preset's baseline is used
    if model is None:
        model, meta = get_baseline(preset_obj)
    model = model.to(device).eval()
    freeze(model)
    device_parts = _by_split("device_parts", device_parts or {}, config.splits)
    sparsity = _by_split("sparsity", sparsity, config.splits) if isinstance(sparsity, dict) else sparsity
    # Training images never include the validation split's (as in the committed tables' cells).
    val = preset_obj.validation
    train_set = load_split(preset_obj.dataset, "train", val, limit=config.train_limit,
                           augment=config.augment)
    test_set = load_split(preset_obj.dataset, "test", val, limit=config.test_limit)
    val_set = load_split(preset_obj.dataset, "val", val, limit=config.test_limit)   # as the sweep's cells
    # The Huffman baseline's range and code come from plain (never augmented) training images.
    huffman_train_set = load_split(preset_obj.dataset, "train", val, limit=config.huffman_train_images)
    records: list[Record] = []

    for point in config.splits:
        unpruned_device, server_part = split(model, point)
        device_part = device_parts.get(point, unpruned_device).to(device)   # beside the server part
        point_sparsity = sparsity.get(point, 0.0) if isinstance(sparsity, dict) else sparsity
        t0 = time.time()
        train_src, test_src, val_src = (FeatureSource(device_part, data, config.precompute, config.eval_batch_size,
                                                      device) for data in (train_set, test_set, val_set))
        shape = train_src.feature_shape
        with torch.no_grad():   # what the server part expects (differs if a pruned device part sends fewer channels)
            server_shape = tuple(unpruned_device.eval()(torch.zeros(1, 3, 32, 32, device=device)).shape[1:])
        log(f"[encode] {point}: feature {'x'.join(map(str, shape))}, features in {time.time() - t0:.1f} s")
        for code_size in config.code_sizes:
            records.append(codec_record(point, device_part, server_part, train_src, test_src, code_size, config,
                                        seed=preset_obj.seed, sparsity=point_sparsity, device=device,
                                        output_shape=server_shape, log=log, val_src=val_src))
        del train_src, test_src, val_src

    for point in config.huffman_splits:
        records.append(original_record(model, point, huffman_train_set, test_set, config, device, log, val_set))

    provenance = Provenance.collect(dataset=preset_obj.dataset, preset=preset_obj.name,
                                    wall_time_s=time.time() - start, command=command, seed=preset_obj.seed,
                                    baseline_accuracy=meta.get("test_accuracy"), accuracy_drop=preset_obj.accuracy_drop,
                                    validation=asdict(val))
    return LookupTable(replace(provenance, baseline_val_accuracy=meta.get("val_accuracy")), records)


def _by_split(name: str, values: dict, splits: tuple) -> dict:
    """``values`` keyed by canonical split points (aliases resolved); each key once, each one of ``splits``."""
    keyed = {SplitPoint(k): v for k, v in values.items()}
    if len(keyed) < len(values) or not set(keyed) <= set(splits):
        raise ValueError(f"{name} is keyed by {list(values)}: give each split point once, one of "
                         f"config.splits ({', '.join(splits)})")
    return keyed


def table(preset: Preset, *, cells_dir=None, cache_dir=None, device: torch.device | None = None,
          command: str | None = None, log=print, workers: int = 1) -> LookupTable:
    """The committed encoding table: :func:`coinfer.experiments.sweep.encoding_cells`, run or read.

    Every record is a sweep cell (the unpruned framework on the recipe's control, and the original
    network's 8-bit Huffman code), stored in the sweep's cell folder: a configuration in both
    tables is trained once and has one number, and a run that stops resumes after its last cell.
    :func:`run` stays the tool for encoding any network with any settings.

    Parameters
    ----------
    preset : Preset
        Its ``encoding`` settings name the splits and code sizes; ``seed`` the training seed.
    cells_dir, cache_dir : path, optional
        Default :func:`coinfer.experiments.cell_files.default_paths`.
    device : torch.device, optional
    command : str, optional
        The regenerating command, for the provenance.
    log : callable
    workers : int
        Processes that run the unfinished cells (:func:`coinfer.experiments.cell_workers.run_cells`).

    Returns
    -------
    LookupTable
    """
    from coinfer.experiments.cell_workers import run_cells
    from coinfer.experiments.sweep import SweepRunner, baseline_digest, default_paths, encoding_cells, read_cell
    from coinfer.train import show_progress

    start = time.time()
    paths = default_paths(preset)
    runner = SweepRunner(preset, cells_dir or paths["cells_dir"], cache_dir or paths["cache_dir"], device, log=log)
    todo = encoding_cells(preset)
    run_cells(runner, runner.pending(todo), workers, len(todo), f"encoding {preset.name}", not show_progress())
    records, wall = [], 0.0
    for cell in todo:
        found = read_cell(runner.cell_path(cell), cell.id, baseline_digest(preset))
        if found is None:          # another process retrained the baseline meanwhile
            raise RuntimeError(f"cell {cell.id} has no valid result after the run; run the encoding table again")
        records.append(Record.from_dict(found["record"]))
        wall += found["wall_time_s"]
    log(f"[encode] {len(records)} records in {time.time() - start:.0f} s ({wall:.0f} s of cell time)")
    return LookupTable(Provenance.collect(preset.dataset, preset.name, wall, command=command, seed=preset.seed,
                                          accuracy_drop=preset.accuracy_drop), records)


def codec_record(point: str, device_part: nn.Module, server_part: nn.Module, train_src: FeatureSource,
                 test_src: FeatureSource, code_size: str, config: EncodeSettings, seed: int = 0,
                 sparsity: float = 0.0, device: torch.device | None = None, method: str = "framework",
                 output_shape: tuple[int, ...] | None = None, log=print,
                 val_src: FeatureSource | None = None) -> Record:
    """Build, train and evaluate one codec at ``point``; its :class:`Record`.

    ``val_src``: the validation features; their accuracy is the record's ``val_accuracy`` (what
    choices use; ``accuracy`` is the test split's, only reported).

    ``train_src``/``test_src`` hold the (frozen) ``device_part``'s features; ``code_size`` is
    written without channels (:meth:`EncodeSettings.code_size_at` adds them for this feature).
    ``output_shape``: what the decoder must produce for ``server_part`` (default: the feature's
    shape). Device MACs and parameters include the encoder; server MACs include the decoder.
    """
    return codec_records(point, device_part, server_part, train_src, test_src, [code_size], config, seed, sparsity,
                         device, method, output_shape, log, val_src)[0]


def codec_records(point: str, device_part: nn.Module, server_part: nn.Module, train_src: FeatureSource,
                  test_src: FeatureSource, code_sizes: list[str], config: EncodeSettings, seed: int = 0,
                  sparsity: float = 0.0, device: torch.device | None = None, method: str = "framework",
                  output_shape: tuple[int, ...] | None = None, log=print,
                  val_src: FeatureSource | None = None) -> list[Record]:
    """:func:`codec_record` for several code sizes at one split point, trained together
    (:func:`train_codecs`: one pass over the training batches for the codes without a learned prior,
    one for those with one); every record is what :func:`codec_record` gives for its code size alone.

    Each record's ``train_time_s`` is its pass's whole training time and ``trained_together`` the
    number of codecs that shared it (1: trained alone).
    """
    from coinfer.train import seed_everything

    device = device or train_src.device            # default: where the training features are
    shape = train_src.feature_shape
    sizes = [config.code_size_at(code, shape) for code in code_sizes]
    codecs = []
    for size in sizes:
        seed_everything(seed)   # the codec's initial weights too: as if built alone
        codecs.append(build_codec(shape, size, config.kernel_size, config.temperature, config.commitment,
                                  output_shape=output_shape).to(device))
    histories, train_times, together = [None] * len(codecs), [0.0] * len(codecs), [1] * len(codecs)
    for learned in (False, True):
        group = [i for i, c in enumerate(codecs) if isinstance(c.entropy_model, LearnedEntropyModel) == learned]
        if not group:
            continue
        t1 = time.time()
        trained = train_codecs([codecs[i] for i in group], server_part, train_src, config, seed=seed,
                               desc=f"{point} {' '.join(str(sizes[i]) for i in group)}")
        for i, history in zip(group, trained):
            histories[i], train_times[i], together[i] = history, time.time() - t1, len(group)
    return [_codec_record(point, device_part, server_part, test_src, val_src, codec, size, history, train_s, n,
                          len(train_src), config, sparsity, method, log)
            for codec, size, history, train_s, n in zip(codecs, sizes, histories, train_times, together)]


def _codec_record(point, device_part, server_part, test_src, val_src, codec, size, history, train_s, together,
                  train_images, config, sparsity, method, log) -> Record:
    """The :class:`Record` of one trained codec: evaluated on the test (and validation) features."""
    result = evaluate_codec(codec, server_part, test_src, config.eval_batch_size)
    val = evaluate_codec(codec, server_part, val_src, config.eval_batch_size)["accuracy"] if val_src else None
    costs = codec_costs(device_part, codec, server_part)   # counts CPU copies; nothing moves
    log(f"[encode] {point} {size}: accuracy {result['accuracy']:.4f}, bits sent "
        f"{result['bits_real']:.2f} (fixed {result['bits_fixed']} / range {result['bits_range']:.2f}, "
        f"{100 * result['range_share']:.0f}% range-coded) / model {result['bits_model']:.2f} / entropy "
        f"{result['bits_entropy']:.2f}, {train_s:.0f} s" + (f" (trained with {together - 1} other codes)"
                                                            if together > 1 else ""))
    return Record(
        method=method, split=point, sparsity=sparsity, code_size=str(size),
        accuracy=result["accuracy"], val_accuracy=val, device_macs=costs.device_macs, device_params=costs.device_params,
        server_macs=costs.server_macs, bits_per_image=result["bits_real"], bits_entropy=result["bits_entropy"],
        extra={"bits_model": result["bits_model"], "bits_fixed": result["bits_fixed"],
               "bits_range": result["bits_range"], "range_share": result["range_share"],
               "bits_one_stream": result["bits_one_stream"], "quantizer": size.kind,
               **({"rate_weight": size.rate_weight, "bits_soft": result["bits_soft"],
                   "bits_one_stream_sent": result["bits_one_stream_sent"]} if size.rate_weight is not None else {}),
               "encoder_macs": costs.encoder_macs, "decoder_macs": costs.decoder_macs,
               "network_macs": costs.network_macs, "encoder_share": costs.encoder_share,
               "roundtrip_exact": result["roundtrip_exact"], "test_images": result["test_images"],
               "train_images": train_images, "train_loss": [round(v, 4) for v in history["loss"]],
               "train_time_s": round(train_s, 1), **({"trained_together": together} if together > 1 else {}),
               "codewords": _codewords(codec), "z_histogram": result["z_histogram"]})


def original_record(model: nn.Module, point: str, train_set, test_set, config: EncodeSettings,
                    device: torch.device | None = None, log=print, val_set=None) -> Record:
    """The ``"original"`` baseline's :class:`Record` at ``point``: :func:`original_huffman` plus thop costs.

    ``train_set`` sets the 8-bit range and the Huffman code (plain, never augmented images; the
    first ``config.huffman_train_images``)."""
    from coinfer.core.costs import count_params, thop_macs

    device = device or module_device(model)        # default: where the model is
    point = SplitPoint(point)
    t1 = time.time()
    base = original_huffman(model, point, train_set, test_set, config, device)
    # The validation split's accuracy (what choices use), from the same 8-bit Huffman code.
    val = original_huffman(model, point, train_set, val_set, config, device, 0)["accuracy"] if val_set else None
    device_part, server_part = split(model, point)
    # thop_macs profiles CPU copies, so the model stays on its device.
    device_macs, device_params = (thop_macs(device_part, (3, 32, 32))[0], count_params(device_part)) \
        if len(device_part) else (0, 0)
    with torch.no_grad():
        shape = tuple(device_part(torch.zeros(1, 3, 32, 32, device=device)).shape[1:]) \
            if len(device_part) else (3, 32, 32)
    server_macs = thop_macs(server_part, shape)[0] if len(server_part) else 0
    log(f"[encode] original {point}: accuracy {base['accuracy']:.4f} (float {base['accuracy_float']:.4f}), "
        f"bits sent {base['bits_real']:.0f} / Huffman {base['bits_huffman']:.0f} / entropy {base['bits_entropy']:.0f} / fixed {base['bits_fixed']}, "
        f"{time.time() - t1:.0f} s")
    return Record(
        method="original", split=point, code_size="8bit-huffman", accuracy=base["accuracy"], val_accuracy=val,
        device_macs=device_macs, device_params=device_params, server_macs=server_macs,
        bits_per_image=base["bits_real"], bits_entropy=base["bits_entropy"],
        extra={k: base[k] for k in ("accuracy_float", "bits_huffman", "bits_fixed", "bits_float32",
                                    "range", "test_images")})


def _codewords(codec: FeatureCodec) -> list:
    """The learned codewords, rounded, for plotting (first 4 elements of a scalar quantizer)."""
    q = codec.bottleneck
    if hasattr(q, "codewords"):
        return [[round(v, 4) for v in row] for row in q.codewords.detach().cpu()[:4].tolist()]
    return []
