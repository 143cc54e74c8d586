"""Training and evaluating feature encoders at several split points and code sizes; the Huffman baseline.

Shao & Zhang (2020), section IV-B and Fig. 3. For each split point the trained backbone is frozen,
its device part's features are computed once (or per batch, for the paper preset's large
features), and only the encoder, codewords and decoder are trained, end to end through the frozen
server part, for classification accuracy::

    images --frozen device part--> features (cached) --encoder--> z --quantizer--> z_hat
           --decoder--> feature_hat --frozen server part--> logits --cross-entropy--> loss

Schedule (reference notes, section 6): a few unquantized warm-up epochs, k-means initialization of
the codewords on the warmed-up encoder's outputs, then quantized epochs (soft-to-hard gradients,
hard forward values); finally the entropy model is estimated from the training images' symbols.

Every test image is then really coded (:meth:`FeatureCodec.compress`), decoded, and classified
from the decoded feature; bits per image is the payload length of its packet.

The baseline (method ``"original"``): the unmodified network's feature at every split point,
quantized to 8 bits over the range seen in training and Huffman-coded with a code built from the
training features' histogram.

Command line (writes ``data/results/encoding_<preset>.json``)::

    python -m coinfer encode --preset quick
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from coinfer.core.encoding import CodeSize, FeatureCodec, build_codec, codec_costs
from coinfer.core.entropy import (MAGIC_HUFFMAN, MAGIC_RANGE, HuffmanCode, bits_per_image, empirical_entropy_bits,
                      range_stream_bits)
from coinfer.core.network import SPLIT_POINTS, SplitPoint as canonical_split_point, split
from coinfer.results import LookupTable, Provenance, Record
from coinfer.train import show_progress

#: Encoder outputs summarized per record: a histogram of the first few elements' values in [-1, 1].
HISTOGRAM_ELEMENTS, HISTOGRAM_BINS = 4, 40

#: log2(10): a 10-class decision can always be sent in this many bits (the information floor).
DECISION_BITS = math.log2(10)


@dataclass(frozen=True)
class EncodeConfig:
    """Settings of the encoding experiment. See :data:`ENCODE_PRESETS` for the per-preset defaults.

    ``code_sizes`` are written without channels (``"d16-l4"``, ``"d16-k16"``); at a split point
    with a ``C x H x W`` feature the convolution keeps ``c = max(1, C // channel_divisor)`` channels.
    """

    splits: tuple[str, ...] = ("layer1.1", "layer2.1", "layer3.1", "pool")
    # 4, 8, 16 and 32 bits per image at fixed length: one vector-codebook index, then per-element
    # codewords with 2 levels (1 bit) or 4 levels (2 bits, as in the paper's Fig. 2).
    code_sizes: tuple[str, ...] = ("d16-k16", "d8-l2", "d8-l4", "d16-l4")
    channel_divisor: int = 4
    kernel_size: int = 3
    train_limit: int | None = 8000        # training images used to train the codec (None: all)
    precompute: bool = True               # cache the device part's features in memory
    augment: bool = False                 # random crops/flips (only without precomputed features)
    warmup_epochs: int = 2                # unquantized
    epochs: int = 5                       # quantized
    batch_size: int = 128
    lr: float = 2e-3
    aux_weight: float = 1.0               # weight of the commitment/codebook loss
    temperature: float = 0.2
    commitment: float = 0.25
    huffman_splits: tuple[str, ...] = SPLIT_POINTS[1:-1]   # every split with a feature to send
    huffman_train_images: int = 2000      # images whose features set the 8-bit range and the code
    eval_batch_size: int = 500
    test_limit: int | None = None         # None: the whole test split

    def code_size_at(self, code_size: str, feature_shape: tuple[int, ...]) -> CodeSize:
        """The full :class:`CodeSize` for a feature of ``feature_shape``."""
        size = CodeSize.parse(code_size)
        if len(feature_shape) == 3:
            return replace(size, channels=max(1, feature_shape[0] // self.channel_divisor))
        return replace(size, channels=None)

    def to_dict(self) -> dict:
        return asdict(self)


#: Encoding settings of each preset (``quick``, ``paper``): training images, epochs, code sizes
#: per split point; ``python -m coinfer encode --preset NAME`` runs them.
ENCODE_PRESETS = {
    # About 6 minutes of one CPU core (18 minutes wall on a busy shared 2-core machine): 8,000
    # training images, cached features, 2 + 5 epochs; all 10,000 test images.
    "quick": EncodeConfig(),
    # CIFAR-10 on a GPU: all 50,000 training images with augmentation, features computed per batch
    # (a 64x32x32 feature of 50,000 images would not fit in memory), the authors' 60 epochs.
    "paper": EncodeConfig(
        splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
        code_sizes=("d8-l2", "d16-l2", "d16-l4", "d32-l4", "d16-k16", "d16-k64"),
        channel_divisor=8, train_limit=None, precompute=False, augment=True,
        warmup_epochs=10, epochs=50, lr=1e-3, huffman_train_images=5000),
}


def get_encode_config(preset: str, **overrides) -> EncodeConfig:
    """The encoding settings of ``preset`` (``quick`` or ``paper``) with ``overrides`` applied."""
    from coinfer.config import pick_settings

    for name in ("splits", "code_sizes", "huffman_splits"):
        if name in overrides and overrides[name] is not None:
            overrides[name] = tuple(overrides[name])
    return pick_settings(ENCODE_PRESETS, preset, overrides, unknown_name="no encoding settings for preset",
                         unknown_field="unknown encoding setting")


# --------------------------------------------------------------------------------------------
# Features of a frozen device part
# --------------------------------------------------------------------------------------------

class FeatureSource:
    """Features of a frozen ``device_part`` over ``dataset``, with their labels.

    ``precompute=True`` computes them once and keeps them in memory (fast training of small
    codecs); otherwise each batch runs the device part (large features, augmentation).
    """

    def __init__(self, device_part: nn.Module, dataset, precompute: bool, batch_size: int = 500,
                 device: torch.device | None = None):
        from coinfer.core.costs import module_device

        # Default: where the device part's weights are, so that its input batches go there too.
        self.device_part, self.dataset = device_part.eval(), dataset
        self.device = device or module_device(device_part)
        self.features = self.labels = None
        if precompute:
            feats, labels = [], []
            for images, y in self._loader(batch_size, shuffle=False, seed=0):
                feats.append(self._run(images).cpu())
                labels.append(y)
            self.features, self.labels = torch.cat(feats), torch.cat(labels)

    def __len__(self) -> int:
        return len(self.dataset)

    def _loader(self, batch_size: int, shuffle: bool, seed: int):
        from coinfer.data import make_loader

        return make_loader(self.dataset, batch_size, shuffle=shuffle, seed=seed)

    @torch.no_grad()
    def _run(self, images: torch.Tensor) -> torch.Tensor:
        return self.device_part(images.to(self.device))

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[tuple]:
        """``(features, labels)`` batches on ``self.device`` (labels too: they meet the logits there)."""
        if self.features is not None:
            if shuffle:
                order = torch.randperm(len(self.features), generator=torch.Generator().manual_seed(seed))
            else:
                order = torch.arange(len(self.features))
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                yield self.features[idx].to(self.device), self.labels[idx].to(self.device)
        else:
            for images, y in self._loader(batch_size, shuffle, seed):
                yield self._run(images), y.to(self.device)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        if self.features is not None:
            return tuple(self.features.shape[1:])
        images, _ = next(iter(self._loader(2, shuffle=False, seed=0)))
        return tuple(self._run(images).shape[1:])


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode with no trainable parameters (its BN statistics stay fixed)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# --------------------------------------------------------------------------------------------
# Training one codec
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def _encoder_outputs(codec: FeatureCodec, source: FeatureSource, batch_size: int) -> torch.Tensor:
    codec.eval()
    return torch.cat([codec.encoder(f).cpu() for f, _ in source.batches(batch_size)])


def _run_epochs(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource, config: EncodeConfig,
                epochs: int, seed: int, desc: str, quantized: bool) -> list[float]:
    if epochs == 0:
        return []
    params = [p for p in codec.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    steps = epochs * math.ceil(len(source) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history = []
    for epoch in range(epochs):
        codec.train()
        server_part.eval()
        total = count = 0.0
        bar = tqdm(source.batches(config.batch_size, shuffle=True, seed=seed * 1000 + epoch),
                   total=math.ceil(len(source) / config.batch_size), desc=f"{desc} {epoch + 1}/{epochs}",
                   leave=False, disable=not show_progress())
        for features, labels in bar:
            out = codec(features)
            loss = F.cross_entropy(server_part(out["feature_hat"]), labels)
            if quantized:
                loss = loss + config.aux_weight * out["aux_loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(labels)
            count += len(labels)
            bar.set_postfix(loss=f"{total / count:.3f}")
        history.append(total / count)
    return history


def train_codec(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource, config: EncodeConfig,
                seed: int = 0, desc: str = "codec") -> dict:
    """Train ``codec`` in front of the frozen ``server_part`` on ``source``; fit its entropy model.

    Warm-up epochs without quantization, k-means initialization of the codewords, quantized
    epochs, then the entropy model from the training symbols (skipped for a codec without one,
    such as BottleNet++'s, which sends fixed-length 8-bit values). Returns the loss history.
    """
    from coinfer.train import seed_everything

    seed_everything(seed)
    freeze(server_part)
    quantizer = codec.bottleneck
    quantizer.enabled = False
    warmup = _run_epochs(codec, server_part, source, config, config.warmup_epochs, seed, f"{desc} warm-up", False)
    quantizer.enabled = True
    if hasattr(quantizer, "init_kmeans"):
        quantizer.init_kmeans(_encoder_outputs(codec, source, config.eval_batch_size))
    quantized = _run_epochs(codec, server_part, source, config, config.epochs, seed + 1, desc, True)
    codec.eval()
    if codec.entropy_model is not None:
        symbols = torch.cat([codec.symbols(f).cpu() for f, _ in source.batches(config.eval_batch_size)])
        codec.entropy_model.fit(symbols)
    return {"warmup_loss": warmup, "loss": quantized}


@torch.no_grad()
def evaluate_codec(codec: FeatureCodec, server_part: nn.Module, source: FeatureSource,
                   batch_size: int = 500) -> dict:
    """Code every test feature into packets, decode them, classify; bits and accuracy.

    Returns a dict: ``accuracy`` (from decoded packets), ``bits_real`` (mean payload bits per
    image), ``bits_model`` (mean ``-log2`` model probability), ``bits_entropy`` (empirical entropy
    of the test symbols, per position, summed), ``bits_fixed``, ``bits_one_stream`` (all test
    images in one range-coder stream, per image), ``roundtrip_exact``.
    """
    codec.eval()
    server_part.eval()
    correct = total = 0
    bits, symbols_all, model_bits, exact = [], [], [], True
    edges = torch.linspace(-1, 1, HISTOGRAM_BINS + 1)
    histogram = torch.zeros(HISTOGRAM_ELEMENTS, HISTOGRAM_BINS, dtype=torch.long)
    for features, labels in source.batches(batch_size):
        z = codec.encoder(features).cpu()   # torch.histogram exists for CPU tensors only
        for i in range(min(HISTOGRAM_ELEMENTS, z.shape[1])):
            histogram[i] += torch.histogram(z[:, i].float(), bins=edges).hist.long()
        symbols = codec.symbols(features)
        packets = codec.entropy_model.encode(symbols)     # range coding runs on the CPU (constriction)
        decoded = codec.entropy_model.decode(packets)     # int64 on the CPU
        exact &= bool(torch.equal(decoded, symbols.cpu()))
        # The server classifies what it decoded, on the codec's device.
        feature_hat = codec.decoder(codec.bottleneck.dequantize(decoded.to(symbols.device)))
        correct += (server_part(feature_hat).argmax(1) == labels).sum().item()
        total += len(labels)
        bits.append(bits_per_image(packets, MAGIC_RANGE))
        symbols_all.append(symbols.cpu())
        model_bits.append(codec.entropy_model.information_bits(symbols.cpu()))
    symbols_all = torch.cat(symbols_all)
    q = codec.bottleneck
    size_positions, alphabet = symbols_all.shape[1], q.alphabet
    return {
        "accuracy": correct / total,
        "bits_real": float(np.concatenate(bits).mean()),
        "bits_model": float(torch.cat(model_bits).mean()),
        "bits_entropy": empirical_entropy_bits(symbols_all, alphabet),
        "bits_fixed": size_positions * math.ceil(math.log2(alphabet)),
        "bits_one_stream": range_stream_bits(symbols_all.cpu().numpy(),
                                             codec.entropy_model.probabilities.detach().cpu().numpy())
        / len(symbols_all),
        "roundtrip_exact": exact,
        "test_images": total,
        "z_histogram": histogram.tolist(),
    }


# --------------------------------------------------------------------------------------------
# The original network + 8-bit quantization + Huffman coding (the Fig. 3 baseline)
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def original_huffman(model: nn.Module, point: str, train_set, test_set, config: EncodeConfig,
                     device: torch.device | None = None, verify_images: int = 2) -> dict:
    """The unmodified network split at ``point``: 8-bit feature, Huffman-coded, per image.

    The 8-bit range and the Huffman code come from ``config.huffman_train_images`` training images;
    test features above the training maximum clip to level 255. Every test image is encoded; the
    first ``verify_images`` packets are also decoded and compared. Returns accuracy (from the 8-bit
    feature), real bits per image, pooled empirical entropy, fixed length (8 bits per element).
    """
    device_part, server_part = split(model, point)
    return huffman_8bit(device_part, server_part, train_set, test_set, config, device, verify_images, point)


@torch.no_grad()
def huffman_8bit(device_part: nn.Module, server_part: nn.Module, train_set, test_set, config: EncodeConfig,
                 device: torch.device | None = None, verify_images: int = 2, name: str = "") -> dict:
    """:func:`original_huffman` for any (device part, server part) pair, e.g. a pruned, compacted one.

    The feature ``device_part`` sends is quantized to 8 bits and Huffman-coded per image; the
    server part receives the dequantized feature. 2-Step Pruning (:mod:`coinfer.core.baselines`) uses it.
    """
    from coinfer.data import make_loader
    from coinfer.core.encoding import UniformQuantizer

    device = device or torch.device("cpu")
    point = name
    device_part.eval(), server_part.eval()

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

    low, high = float("inf"), float("-inf")
    for features in train_features():
        low, high = min(low, float(features.min())), max(high, float(features.max()))
    quantizer = UniformQuantizer(8).fit_range(torch.tensor([low, high])).to(device)   # beside the features
    histogram = np.zeros(256, dtype=np.int64)
    for features in train_features():
        histogram += np.bincount(quantizer.quantize(features).cpu().numpy().reshape(-1), minlength=256)
    code = HuffmanCode.from_counts(histogram + 1)   # +1: every level stays codable
    correct_q = correct_f = total = 0
    bits, bits_exact, counts = [], [], np.zeros(256, dtype=np.int64)
    for images, labels in make_loader(test_set, config.eval_batch_size, shuffle=False):
        features = device_part(images.to(device))
        symbols = quantizer.quantize(features).flatten(1).cpu().numpy()
        packets = code.encode(symbols)
        if total < verify_images:
            n = min(verify_images - total, len(packets))
            if not np.array_equal(code.decode(packets[:n]), symbols[:n]):
                raise RuntimeError(f"Huffman round trip failed at {point}")
        bits.append(bits_per_image(packets, MAGIC_HUFFMAN))
        bits_exact.append(code.bit_length(symbols))
        counts += np.bincount(symbols.reshape(-1), minlength=256)
        feature_q = quantizer.dequantize(torch.as_tensor(symbols).to(device)).view_as(features)
        labels = labels.to(device)
        correct_q += (server_part(feature_q).argmax(1) == labels).sum().item()
        correct_f += (server_part(features).argmax(1) == labels).sum().item()
        total += len(labels)
    elements = symbols.shape[1]
    p = counts[counts > 0] / counts.sum()
    return {
        "accuracy": correct_q / total,
        "accuracy_float": correct_f / total,
        "bits_real": float(np.concatenate(bits).mean()),
        "bits_exact": float(np.concatenate(bits_exact).mean()),
        "bits_entropy": float(-(p * np.log2(p)).sum() * elements),
        "bits_fixed": 8 * elements,
        "bits_float32": 32 * elements,
        "range": [float(quantizer.low), float(quantizer.high)],
        "test_images": total,
    }


# --------------------------------------------------------------------------------------------
# The whole experiment -> lookup table
# --------------------------------------------------------------------------------------------

def run_encoding(preset: str = "quick", config: EncodeConfig | None = None, model: nn.Module | None = None,
                 device_parts: dict[str, nn.Module] | None = None, device: torch.device | None = None,
                 command: str | None = None, sparsity: float | dict[str, float] = 0.0,
                 log=print) -> LookupTable:
    """Train and evaluate every (split, code size) of ``config``, plus the Huffman baseline.

    Parameters
    ----------
    preset : str
        Names the dataset and the baseline network (:func:`coinfer.train.get_baseline`).
    config : EncodeConfig, optional
        Default: ``get_encode_config(preset)``.
    model : nn.Module, optional
        The trained network to split (default: the preset's baseline).
    device_parts : dict, optional
        ``{split: device module}`` replacing the unpruned device part at that split (e.g. a pruned,
        compacted one). Any module works: the encoder takes whatever shape it outputs, and the
        decoder restores the shape the unpruned server part expects.
    sparsity : float or dict
        Recorded in the records (one value, or ``{split: sparsity}``) when ``device_parts`` are pruned.
    """
    from coinfer.data import load_dataset
    from coinfer.config import get_preset
    from coinfer.train import default_device, get_baseline

    start = time.time()
    preset_obj = get_preset(preset)
    config = config or get_encode_config(preset)
    device = device or default_device()
    if model is None:
        model, _ = get_baseline(preset_obj)
    model = model.to(device).eval()
    freeze(model)
    train_set = load_dataset(preset_obj.dataset, train=True, limit=config.train_limit,
                             augment=config.augment and not config.precompute)
    test_set = load_dataset(preset_obj.dataset, train=False, limit=config.test_limit)
    # The Huffman baseline's range and code come from plain (never augmented) training images.
    huffman_train_set = load_dataset(preset_obj.dataset, train=True, limit=config.huffman_train_images)
    records: list[Record] = []

    for point in config.splits:
        point = canonical_split_point(point)
        unpruned_device, server_part = split(model, point)
        device_part = (device_parts or {}).get(point, unpruned_device).to(device)   # beside the server part
        point_sparsity = sparsity.get(point, 0.0) if isinstance(sparsity, dict) else sparsity
        t0 = time.time()
        train_src = FeatureSource(device_part, train_set, config.precompute, config.eval_batch_size, device)
        test_src = FeatureSource(device_part, test_set, config.precompute, config.eval_batch_size, device)
        shape = train_src.feature_shape
        with torch.no_grad():   # what the server part expects (differs if a pruned device part sends fewer channels)
            server_shape = tuple(unpruned_device.eval()(torch.zeros(1, 3, 32, 32, device=device)).shape[1:])
        log(f"[encode] {point}: feature {'x'.join(map(str, shape))}, features in {time.time() - t0:.1f} s")
        for code_size in config.code_sizes:
            records.append(codec_record(point, device_part, server_part, train_src, test_src, code_size, config,
                                        seed=preset_obj.seed, sparsity=point_sparsity, device=device,
                                        output_shape=server_shape, log=log))
        del train_src, test_src

    for point in config.huffman_splits:
        records.append(original_record(model, point, huffman_train_set, test_set, config, device, log=log))

    provenance = Provenance.collect(dataset=preset_obj.dataset, preset=preset_obj.name,
                                    wall_time_s=time.time() - start, command=command, seed=preset_obj.seed)
    return LookupTable(provenance=provenance, records=records)


def codec_record(point: str, device_part: nn.Module, server_part: nn.Module, train_src: FeatureSource,
                 test_src: FeatureSource, code_size: str, config: EncodeConfig, seed: int = 0,
                 sparsity: float = 0.0, device: torch.device | None = None, method: str = "framework",
                 output_shape: tuple[int, ...] | None = None, log=print) -> Record:
    """Build, train and evaluate one codec at ``point``; its :class:`Record`.

    ``train_src``/``test_src`` hold the (frozen) ``device_part``'s features; ``code_size`` is
    written without channels (:meth:`EncodeConfig.code_size_at` adds them for this feature).
    ``output_shape``: what the decoder must produce for ``server_part`` (default: the feature's
    shape). Device MACs and parameters include the encoder; server MACs include the decoder.
    """
    from coinfer.train import seed_everything

    device = device or torch.device("cpu")
    shape = train_src.feature_shape
    size = config.code_size_at(code_size, shape)
    seed_everything(seed)   # the codec's initial weights too
    codec = build_codec(shape, size, config.kernel_size, config.temperature, config.commitment,
                        output_shape=output_shape).to(device)
    t1 = time.time()
    history = train_codec(codec, server_part, train_src, config, seed=seed, desc=f"{point} {size}")
    train_s = time.time() - t1
    result = evaluate_codec(codec, server_part, test_src, config.eval_batch_size)
    costs = codec_costs(device_part, codec, server_part)   # counts CPU copies; nothing moves
    log(f"[encode] {point} {size}: accuracy {result['accuracy']:.4f}, bits real "
        f"{result['bits_real']:.2f} / model {result['bits_model']:.2f} / entropy "
        f"{result['bits_entropy']:.2f} / fixed {result['bits_fixed']}, {train_s:.0f} s")
    return Record(
        method=method, split=point, sparsity=sparsity, code_size=str(size),
        accuracy=result["accuracy"], device_macs=costs.device_macs, device_params=costs.device_params,
        server_macs=costs.server_macs, bits_per_image=result["bits_real"],
        bits_entropy=result["bits_entropy"],
        extra={"bits_model": result["bits_model"], "bits_fixed": result["bits_fixed"],
               "bits_one_stream": result["bits_one_stream"], "quantizer": size.kind,
               "encoder_macs": costs.encoder_macs, "decoder_macs": costs.decoder_macs,
               "network_macs": costs.network_macs, "encoder_share": costs.encoder_share,
               "roundtrip_exact": result["roundtrip_exact"], "test_images": result["test_images"],
               "train_images": len(train_src), "train_loss": [round(v, 4) for v in history["loss"]],
               "train_time_s": round(train_s, 1),
               "codewords": _codewords(codec), "z_histogram": result["z_histogram"]})


def original_record(model: nn.Module, point: str, train_set, test_set, config: EncodeConfig,
                    device: torch.device | None = None, log=print) -> Record:
    """The ``"original"`` baseline's :class:`Record` at ``point``: :func:`original_huffman` plus thop costs.

    ``train_set`` sets the 8-bit range and the Huffman code (plain, never augmented images; the
    first ``config.huffman_train_images``)."""
    from coinfer.core.costs import count_params, thop_macs

    device = device or torch.device("cpu")
    point = canonical_split_point(point)
    t1 = time.time()
    base = original_huffman(model, point, train_set, test_set, config, device)
    device_part, server_part = split(model, point)
    # thop_macs profiles CPU copies, so the model stays on its device.
    device_macs, device_params = (thop_macs(device_part, (3, 32, 32))[0], count_params(device_part)) \
        if len(device_part) else (0, 0)
    with torch.no_grad():
        shape = tuple(device_part(torch.zeros(1, 3, 32, 32, device=device)).shape[1:]) \
            if len(device_part) else (3, 32, 32)
    server_macs = thop_macs(server_part, shape)[0] if len(server_part) else 0
    log(f"[encode] original {point}: accuracy {base['accuracy']:.4f} (float {base['accuracy_float']:.4f}), "
        f"bits real {base['bits_real']:.0f} / entropy {base['bits_entropy']:.0f} / fixed {base['bits_fixed']}, "
        f"{time.time() - t1:.0f} s")
    return Record(
        method="original", split=point, code_size="8bit-huffman", accuracy=base["accuracy"],
        device_macs=device_macs, device_params=device_params, server_macs=server_macs,
        bits_per_image=base["bits_real"], bits_entropy=base["bits_entropy"],
        extra={k: base[k] for k in ("accuracy_float", "bits_exact", "bits_fixed", "bits_float32",
                                    "range", "test_images")})


def _codewords(codec: FeatureCodec) -> list:
    """The learned codewords, rounded, for plotting (first 4 elements of a scalar quantizer)."""
    q = codec.bottleneck
    if hasattr(q, "codewords"):
        return [[round(v, 4) for v in row] for row in q.codewords.detach().cpu()[:4].tolist()]
    return []
