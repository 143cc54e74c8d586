"""Learning-driven joint source-channel coding (JSCC) and the experiment of Fig. 5 (Shao & Zhang, IV-B, V-D).

JSCC trains the feature encoder *through* a model of the noisy channel, so it needs no separate
channel code. The network is split (by default after the paper's Conv_4x, our ``layer3.1``); the
device part and the server part are the frozen, pre-trained baseline, and only the encoder and
decoder learn::

    image -> device part (frozen) -> feature --encoder--> k symbols
          AWGN: k reals, power-normalized, + Gaussian noise      (coinfer.core.channel.AWGNChannel)
          BSC:  k bits (straight-through binarizer), flipped w.p. p  (coinfer.core.channel.BSCChannel)
          --decoder--> feature estimate -> server part (frozen) -> class scores

Because the backbone is frozen, the device part runs once over the images (:func:`extract_features`)
and training sees only the small encoder, the channel, the decoder and the server part.

Fig. 5 compares, per image, what each scheme costs on the channel (conventions in
:mod:`coinfer.core.channel`: real channel uses, ``2W`` of them per second):

* **JSCC**: ``k`` channel uses, the smallest ``k`` whose accuracy stays at or above the preset's
  threshold (baseline accuracy minus ``preset.accuracy_drop`` points) at that SNR or ``p``;
* **learned source coding + ideal channel code**: its bits per image sent at the Shannon capacity;
* **PNG of the input image** and **the original feature (8-bit, Huffman-coded)**, also at capacity.

(a) AWGN at ``W = 1 MHz``: latency ``k / (2W)`` seconds for JSCC, ``bits / (W log2(1 + SNR))`` for the
others. (b) BSC: channel uses ``k`` for JSCC, ``bits / (1 - H2(p))`` for the others.

Command line (writes ``data/results/jscc_<preset>.json``)::

    python -m coinfer jscc --preset quick
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from coinfer.core import channel as ch
from coinfer.core.network import SplitPoint as canonical_split_point, split
from coinfer.config import Preset, get_preset

# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class JsccSettings:
    """What the Fig. 5 experiment trains and sweeps (per preset: :data:`JSCC_SETTINGS`).

    Code sizes are counted in channel uses per image: real numbers for AWGN, bits for the BSC.
    """

    split: str = "layer3.1"                  # the paper's Conv_4x (stage 3)
    bandwidth_hz: float = 1e6                # the paper's W = 1 MHz
    snrs_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    flip_rates: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2)
    awgn_code_sizes: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    bsc_code_sizes: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
    # Robustness grid: train at these values (and over the whole range, drawn per batch), test at all.
    mismatch_snrs_db: tuple[float, ...] = (0.0, 10.0, 20.0)
    mismatch_flip_rates: tuple[float, ...] = (0.0, 0.05, 0.2)
    # Training of the encoder/decoder on frozen-backbone features.
    train_images: int | None = 12000         # first N training images (None: all)
    test_images: int | None = None           # first N test images (None: all 10,000)
    epochs: int = 4
    batch_size: int = 128
    lr: float = 5e-3
    reduced_channels: int | None = None      # encoder's conv output channels (None: a quarter)

    def __post_init__(self):
        for snr in self.snrs_db + self.mismatch_snrs_db:
            ch.db_to_linear(snr)  # raises on a non-finite SNR
        for p in self.flip_rates + self.mismatch_flip_rates:
            if not 0.0 <= p < 0.5:
                raise ValueError(f"flip rates must be in [0, 0.5) (at 0.5 nothing gets through), got {p!r}")
        if not (self.awgn_code_sizes and self.bsc_code_sizes) or min(self.awgn_code_sizes + self.bsc_code_sizes) < 1:
            raise ValueError("code sizes must be non-empty lists of positive channel-use counts")
        ch.real_uses_per_second(self.bandwidth_hz)  # raises on W <= 0

    def to_dict(self) -> dict:
        return asdict(self)


JSCC_SETTINGS = {
    # ~10 minutes on 2 shared CPU cores (about 35 trainings of ~15 s each).
    "quick": JsccSettings(),
    # Paper scale: every training image, longer training; the same sweep. A GPU run.
    "paper": JsccSettings(train_images=None, epochs=20, batch_size=128, lr=1e-3),
}


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
        return 2 * self.bsc(bits) - 1


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

    if not (isinstance(code_size, int) and code_size >= 1):
        raise ValueError(f"code_size must be a positive number of channel uses, got {code_size!r}")
    if isinstance(channel, ch.AWGNChannel):
        bottleneck = channel
    elif isinstance(channel, ch.BSCChannel):
        bottleneck = BitChannel(channel)
    else:
        raise TypeError(f"channel must be an AWGNChannel or BSCChannel, got {type(channel).__name__}")
    feature_shape = tuple(feature_shape)
    reduced = None
    if len(feature_shape) == 3:
        reduced = reduced_channels or max(1, feature_shape[0] // 4)
    encoder = DimensionReductionEncoder(feature_shape, code_size, reduced, kernel_size, activation="none")
    decoder = DimensionReductionDecoder(feature_shape, code_size, reduced, kernel_size)
    return FeatureCodec(encoder, bottleneck, decoder)


# ----------------------------------------------------------------------------- the JSCC network


class JSCC(nn.Module):
    """Codec (encoder -> channel -> decoder) followed by the frozen server part, on device features.

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
        super().__init__()
        self.codec, self.server_part = codec, server_part
        for p in self.server_part.parameters():
            p.requires_grad_(False)

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

    def train(self, mode: bool = True):
        super().train(mode)
        self.server_part.eval()
        return self

    def transmit(self, features: torch.Tensor) -> torch.Tensor:
        """What the decoder receives for ``features``: noisy reals (AWGN) or flipped bits as +-1 (BSC)."""
        return self.codec(features)["z_hat"]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.server_part(self.codec(features)["feature_hat"])


# ----------------------------------------------------------------------------- data: frozen features


@dataclass
class Features:
    """Device-part outputs of a dataset split, computed once with the frozen backbone."""

    x: torch.Tensor          # [N, C, H, W] float32
    y: torch.Tensor          # [N] int64

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])


@torch.no_grad()
def extract_features(device_part: nn.Module, dataset, batch_size: int = 500,
                     device: torch.device | None = None) -> Features:
    """Run the frozen ``device_part`` (eval mode) over ``dataset`` once; keep outputs on the CPU."""
    from coinfer.data import make_loader

    device = device or next(iter(device_part.parameters()), torch.zeros(0)).device
    device_part.eval()
    xs, ys = [], []
    for images, labels in tqdm(make_loader(dataset, batch_size, shuffle=False), desc="features", leave=False):
        xs.append(device_part(images.to(device)).cpu())
        ys.append(labels)
    return Features(torch.cat(xs), torch.cat(ys))


# ----------------------------------------------------------------------------- train and evaluate


def _stable_seed(*parts) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomization or call order)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def make_channel(kind: str, value, generator: torch.Generator | None = None) -> nn.Module:
    """``AWGNChannel(value dB)`` or ``BSCChannel(value)``; ``value`` may be a ``(low, high)`` range."""
    if kind == "awgn":
        return ch.AWGNChannel(value, generator=generator)
    if kind == "bsc":
        return ch.BSCChannel(value, generator=generator)
    raise ValueError(f"channel kind must be 'awgn' or 'bsc', got {kind!r}")


def train_jscc(train: Features, server_part: nn.Module, kind: str, value, code_size: int,
               settings: JsccSettings, seed: int = 0, device: torch.device | None = None,
               init: JSCC | None = None, epochs: int | None = None) -> JSCC:
    """Train an encoder/decoder of ``code_size`` channel uses through the channel ``(kind, value)``.

    Adam with a one-cycle learning rate on the cross-entropy of the frozen server part's output;
    deterministic given ``seed`` and the arguments (the model initialization, batch order and channel
    noise each have their own seed).

    Parameters
    ----------
    init : JSCC, optional
        Start from this model's encoder and decoder (same code size) instead of a random
        initialization: fine-tuning a code trained on a cleaner channel.
    epochs : int, optional
        Default ``settings.epochs``.
    """
    device = device or torch.device("cpu")
    epochs = epochs or settings.epochs
    run_seed = _stable_seed(seed, kind, value, code_size)
    torch.manual_seed(run_seed)
    noise = torch.Generator().manual_seed(run_seed + 1)
    codec = make_codec(train.shape, code_size, make_channel(kind, value, noise), settings.reduced_channels)
    if init is not None:
        if init.code_size != code_size:
            raise ValueError(f"cannot start a code of size {code_size} from one of size {init.code_size}")
        codec.encoder.load_state_dict(init.codec.encoder.state_dict())
        codec.decoder.load_state_dict(init.codec.decoder.state_dict())
    model = JSCC(codec, server_part).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    steps_per_epoch = math.ceil(len(train.y) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, epochs=epochs,
                                                    steps_per_epoch=steps_per_epoch)
    order = torch.Generator().manual_seed(run_seed + 2)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(train.y), generator=order)
        for i in range(0, len(perm), settings.batch_size):
            idx = perm[i:i + settings.batch_size]
            x, y = train.x[idx].to(device), train.y[idx].to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


@torch.no_grad()
def evaluate_jscc(model: JSCC, test: Features, value=None, seed: int = 0, batch_size: int = 1000) -> float:
    """Top-1 accuracy over ``test`` with the channel at ``value`` (default: the training value).

    The channel's noise is redrawn from its own generator seeded by ``seed``, so an evaluation repeats
    exactly; the model's channel setting is restored afterwards.
    """
    device = next(model.parameters()).device
    saved_value = model.channel.snr_db if model.kind == "awgn" else model.channel.p
    saved_generator = model.channel.generator
    try:
        if value is not None:
            if model.kind == "awgn":
                model.channel.snr_db = value
            else:
                model.channel.p = value
        model.channel.generator = torch.Generator().manual_seed(_stable_seed("eval", seed, value))
        model.eval()
        correct = 0
        for i in range(0, len(test.y), batch_size):
            logits = model(test.x[i:i + batch_size].to(device))
            correct += (logits.argmax(1).cpu() == test.y[i:i + batch_size]).sum().item()
    finally:
        if model.kind == "awgn":
            model.channel.snr_db = saved_value
        else:
            model.channel.p = saved_value
        model.channel.generator = saved_generator
    return correct / len(test.y)


@dataclass
class Probe:
    """One trained-and-evaluated JSCC configuration."""

    kind: str
    value: float | tuple[float, float]
    code_size: int
    accuracy: float
    model: JSCC | None = field(default=None, repr=False)


class JsccTrainer:
    """Trains JSCC models on demand and remembers them, so that the search and the robustness grid
    never train the same configuration twice."""

    def __init__(self, train: Features, test: Features, server_part: nn.Module, settings: JsccSettings,
                 seed: int = 0, device: torch.device | None = None, progress: Callable[[str], None] | None = None):
        self.train, self.test, self.server_part = train, test, server_part
        self.settings, self.seed, self.device = settings, seed, device
        self.progress = progress or (lambda message: None)
        self.cache: dict[tuple, Probe] = {}

    def probe(self, kind: str, value, code_size: int) -> Probe:
        key = (kind, value, code_size)
        if key not in self.cache:
            start = time.time()
            model = train_jscc(self.train, self.server_part, kind, value, code_size, self.settings,
                               self.seed, self.device)
            test_value = value if not isinstance(value, tuple) else None
            accuracy = evaluate_jscc(model, self.test, test_value, self.seed) if test_value is not None else math.nan
            self.cache[key] = Probe(kind, value, code_size, accuracy, model)
            self.progress(f"{kind} {value} k={code_size}: accuracy {accuracy:.4f} ({time.time() - start:.0f} s)")
        return self.cache[key]


def smallest_code_sizes(trainer: JsccTrainer, kind: str, values: tuple[float, ...], sizes: tuple[int, ...],
                        threshold: float) -> dict[float, tuple[Probe | None, list[Probe]]]:
    """For every channel value, the smallest code size from ``sizes`` whose accuracy is >= ``threshold``.

    Search: channel values from the least to the most noisy. At the first, a binary search over
    ``sizes`` (accuracy assumed to grow with the code size; if even the largest size misses, the
    search ends there). At each next, noisier value the search
    starts from the previous answer and steps up, since a noisier channel is assumed never to need
    fewer channel uses. Returns, per value, the winning probe (``None`` if even the largest size
    misses the threshold) and every probe tried there.
    """
    sizes = tuple(sorted(sizes))
    # least noisy first: highest SNR, lowest p
    order = sorted(values, reverse=(kind == "awgn"))
    results, start = {}, 0
    for n, value in enumerate(order):
        tried: list[Probe] = []

        def ok(i):
            probe = trainer.probe(kind, value, sizes[i])
            if probe not in tried:
                tried.append(probe)
            return probe.accuracy >= threshold

        if n == 0:
            lo, hi = 0, len(sizes) - 1
            while lo < hi:  # invariant: no size below sizes[lo] meets it; sizes[hi] does, or is the last
                mid = (lo + hi) // 2
                if ok(mid):
                    hi = mid
                else:
                    lo = mid + 1
            best = hi if ok(hi) else len(sizes)  # ok() of a size already tried costs nothing
        else:
            best = min(start, len(sizes) - 1)  # after a miss at the largest size, still measure it here
            while best < len(sizes) and not ok(best):
                best += 1
        if best >= len(sizes):
            results[value] = (None, tried)
        else:
            results[value] = (trainer.probe(kind, value, sizes[best]), tried)
        start = min(best, len(sizes))
    return results


# ----------------------------------------------------------------------------- separate-coding payloads


def learned_source_payload(point: str, threshold: float, preset_name: str, path=None) -> dict | None:
    """The learned source coder's smallest real payload at ``point`` meeting ``threshold``.

    Read from the encoding experiment's table (``data/results/encoding_<preset>.json``, written by
    ``python -m coinfer encode``): its ``framework`` records at this split point without pruning, whose
    bits per image are the length of really range-coded packets. ``None`` if the table is missing or
    no record there meets the threshold.
    """
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    from pathlib import Path

    path = Path(path) if path is not None else results_dir() / f"encoding_{preset_name}.json"
    if not path.exists():
        return None
    table = load_table(path)
    candidates = [r for r in table.select(method="framework", split=point)
                  if r.sparsity == 0 and r.accuracy >= threshold]
    if not candidates:
        return None
    best = min(candidates, key=lambda r: (r.bits_per_image, -r.accuracy))
    return {"bits_per_image": best.bits_per_image, "accuracy": best.accuracy, "device_macs": best.device_macs,
            "device_params": best.device_params, "server_macs": best.server_macs, "code_size": best.code_size,
            "bits_entropy": best.bits_entropy, "meets_threshold": True,
            "coder": f"learned quantizer + range coder (coinfer.core.encoding), from {path.name} "
                     f"(commit {table.provenance.git_commit[:10] or 'unknown'})"}


# ----------------------------------------------------------------------------- Fig. 5

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


def fig5_rows(table, finite_error_prob: float = FINITE_BLOCK_ERROR) -> list[dict]:
    """Both panels of Fig. 5 from a JSCC lookup table, one row per (method, channel).

    Each row: ``method``, ``kind`` (awgn/bsc), ``value`` (SNR dB or p), ``accuracy``,
    ``channel_uses`` (real uses for AWGN, binary uses for the BSC), ``latency_s`` (AWGN only),
    ``bits_per_image`` (the source bits, separate schemes; ``None`` for JSCC), ``meets_threshold``,
    and for the separate schemes ``finite_uses`` / ``finite_latency_s``: the same payload with a code of
    finite length at block error ``finite_error_prob`` (:func:`finite_length_uses`).
    """
    rows = []
    for r in table.records:
        if r.method not in FIG5_METHODS or r.channel == "noiseless":
            continue
        kind, value = ch.parse_channel(r.channel)
        row = {"method": r.method, "kind": kind, "value": value, "accuracy": r.accuracy,
               "channel_uses": r.extra.get("channel_uses"), "latency_s": r.extra.get("latency_s"),
               "bits_per_image": None if r.method == "framework-jscc" else r.bits_per_image,
               "code_size": r.code_size, "meets_threshold": r.extra.get("meets_threshold", True),
               "finite_uses": None, "finite_latency_s": None}
        if r.method != "framework-jscc":
            row["finite_uses"] = finite_length_uses(r.bits_per_image, kind, value, finite_error_prob)
            if kind == "awgn":
                row["finite_latency_s"] = ch.awgn_airtime_s(row["finite_uses"], r.extra.get("bandwidth_hz", 1e6))
        rows.append(row)
    return sorted(rows, key=lambda row: (row["kind"], FIG5_METHODS.index(row["method"]), row["value"]))


#: The four curves of Fig. 5, in legend order.
FIG5_METHODS = ("framework-jscc", "learned-source-coding+capacity", "original-huffman+capacity", "png+capacity")
FIG5_LABELS = {
    "framework-jscc": "JSCC (learned, through the channel)",
    "learned-source-coding+capacity": "learned source coding + capacity-achieving code",
    "original-huffman+capacity": "original feature (8-bit Huffman) at capacity",
    "png+capacity": "input image (PNG) at capacity",
}


def mismatch_grid(table, kind: str) -> tuple[list[str], list[float], np.ndarray]:
    """The robustness grid: rows = how it was trained, columns = test SNR (dB) or p, values = accuracy."""
    records = [r for r in table.records if r.method == "framework-jscc-mismatch" and r.channel.startswith(kind)]
    trained = sorted({r.extra["train_channel"] for r in records}, key=_train_sort_key)
    tests = sorted({ch.parse_channel(r.channel)[1] for r in records})
    grid = np.full((len(trained), len(tests)), np.nan)
    for r in records:
        grid[trained.index(r.extra["train_channel"]), tests.index(ch.parse_channel(r.channel)[1])] = r.accuracy
    return trained, tests, grid


def _train_sort_key(name: str):
    spec = name.split(":", 1)[1]
    return (1, 0.0) if ".." in spec else (0, float(spec))


def plot_fig5(table, axes=None):
    """Fig. 5 (a) latency vs SNR over AWGN at W and (b) channel uses vs p over a BSC, from ``table``."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = fig5_rows(table)
    styles = {"framework-jscc": "o-", "learned-source-coding+capacity": "s--",
              "original-huffman+capacity": "^:", "png+capacity": "d-."}
    for ax, kind in zip(axes, ("awgn", "bsc")):
        for method in FIG5_METHODS:
            pts = [r for r in rows if r["method"] == method and r["kind"] == kind
                   and math.isfinite(r["latency_s" if kind == "awgn" else "channel_uses"] or math.nan)]
            if not pts:
                continue
            xs = [r["value"] for r in pts]
            ys = [r["latency_s"] * 1e6 if kind == "awgn" else r["channel_uses"] for r in pts]
            ax.plot(xs, ys, styles[method], color=_COLORS[method], label=FIG5_LABELS[method])
            if method == "framework-jscc":
                for r, x, y in zip(pts, xs, ys):
                    mark = "" if r["meets_threshold"] else " (below threshold)"
                    ax.annotate(f"k={r['channel_uses']:g}\n{100 * r['accuracy']:.1f}%{mark}", (x, y),
                                textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7,
                                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        finite = [r for r in rows if r["method"] == "learned-source-coding+capacity" and r["kind"] == kind]
        if finite:
            ax.plot([r["value"] for r in finite],
                    [r["finite_latency_s"] * 1e6 if kind == "awgn" else r["finite_uses"] for r in finite],
                    "s:", color=_COLORS["learned-source-coding+capacity"], alpha=0.6, markerfacecolor="none",
                    label=f"learned source coding + best finite-length code (block error {FINITE_BLOCK_ERROR:g})")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_xlabel("SNR per real dimension (dB)")
    axes[0].set_ylabel("communication latency per image (µs)")
    bw = table.records[0].extra.get("bandwidth_hz", 1e6) if table.records else 1e6
    axes[0].set_title(f"(a) AWGN, W = {bw / 1e6:g} MHz")
    axes[1].set_xlabel("bit flip probability p")
    axes[1].set_ylabel("channel uses per image")
    axes[1].set_title("(b) binary symmetric channel")
    axes[1].legend(fontsize=8)
    return axes


# ----------------------------------------------------------------------------- the experiment


def _codec_costs(model: JSCC, feature_shape) -> dict:
    """MACs (thop) and parameters of the encoder (device side) and the decoder (server side)."""
    codec = copy.deepcopy(model.codec).cpu().eval()  # thop profiles on the CPU, whatever device trained it
    return {"encoder_macs": codec.encoder_macs(tuple(feature_shape)), "encoder_params": codec.encoder_params(),
            "decoder_macs": codec.decoder_macs((model.code_size,)),
            "decoder_params": sum(p.numel() for p in codec.decoder.parameters())}


def run_jscc(preset: str | Preset = "quick", settings: JsccSettings | None = None,
             split_point: str | None = None, source_bits: dict | None = None,
             checkpoints=None, device: torch.device | None = None, log: Callable[[str], None] = print):
    """Run the Fig. 5 experiment for ``preset`` and return its :class:`~coinfer.results.LookupTable`.

    Parameters
    ----------
    preset : str or Preset
        Whose baseline network, dataset and accuracy threshold to use.
    settings : JsccSettings, optional
        Default :data:`JSCC_SETTINGS` ``[preset.name]``.
    split_point : str, optional
        Override ``settings.split`` (any split point with a ``C x H x W`` feature).
    source_bits : dict, optional
        The learned source coder's measured payload, ``{"bits_per_image", "accuracy", ...}``
        (e.g. from the encoding experiment's table). Default: this experiment's own learned binary
        code, the BSC-trained encoder at ``p = 0`` (fixed-length, ``k`` real bits per image).
    checkpoints : path, optional
        Folder holding ``<preset>/baseline.pt`` (default :func:`coinfer.paths.checkpoints_dir`).
    """
    from coinfer.data import load_dataset
    from coinfer.experiments.encoding import get_encode_config, original_huffman
    from coinfer.core.costs import input_size, profile_splits
    from coinfer.results import LookupTable, Provenance, Record
    from coinfer.train import get_baseline, seed_everything

    start_time = time.time()
    preset = get_preset(preset) if isinstance(preset, str) else preset
    settings = settings or JSCC_SETTINGS[preset.name]
    if split_point is not None:
        settings = replace(settings, split=split_point)
    point = canonical_split_point(settings.split)
    if point == "output":
        raise ValueError("split point 'output' leaves nothing to the server (the device sends its decision); "
                         "choose a split point from 'input' to 'pool'")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed_everything(preset.seed)

    model, meta = get_baseline(preset, checkpoints=checkpoints)
    baseline_accuracy = float(meta["test_accuracy"])
    threshold = baseline_accuracy - preset.accuracy_drop / 100
    log(f"baseline accuracy {baseline_accuracy:.4f}; threshold {threshold:.4f}; split after {point}")
    device_part, server_part = split(model.to(device).eval(), point)
    costs = {r.point: r for r in profile_splits(model.cpu())}[point]
    model.to(device)

    train_set = load_dataset(preset.dataset, train=True, limit=settings.train_images)
    test_set = load_dataset(preset.dataset, train=False, limit=settings.test_images)
    train, test = extract_features(device_part, train_set, device=device), extract_features(device_part, test_set, device=device)
    if len(train.shape) not in (1, 3):
        raise ValueError(f"split point {point!r} gives a feature of shape {train.shape}; JSCC needs a "
                         "C x H x W map or a vector")
    log(f"features {tuple(train.x.shape)} train, {tuple(test.x.shape)} test ({time.time() - start_time:.0f} s)")

    trainer = JsccTrainer(train, test, server_part, settings, preset.seed, device, progress=log)
    W = settings.bandwidth_hz
    awgn = smallest_code_sizes(trainer, "awgn", settings.snrs_db, settings.awgn_code_sizes, threshold)
    bsc = smallest_code_sizes(trainer, "bsc", settings.flip_rates, settings.bsc_code_sizes, threshold)

    provenance_extra = {"bandwidth_hz": W, "threshold": threshold, "baseline_accuracy": baseline_accuracy,
                        "settings": settings.to_dict()}
    records: list[Record] = []

    def jscc_record(kind, value, probe: Probe, tried, method="framework-jscc", code_size=None, extra=None):
        c = _codec_costs(probe.model, train.shape)
        k = probe.code_size
        uses = {"channel_uses": k,
                "channel_use": "real symbol (2W per second)" if kind == "awgn" else "bit",
                "latency_s": ch.awgn_airtime_s(k, W) if kind == "awgn" else None,
                "meets_threshold": probe.accuracy >= threshold,
                "search": [{"code_size": p.code_size, "accuracy": p.accuracy} for p in tried],
                **c, **provenance_extra, **(extra or {})}
        # bits_per_image: bits really sent on a BSC; on AWGN (analog symbols) the most the k uses can carry.
        bits = float(k) if kind == "bsc" else k * ch.awgn_capacity_per_real_use(value)
        uses["bits_per_image_is"] = ("bits sent (k)" if kind == "bsc"
                                     else "capacity-equivalent: k x 0.5 log2(1 + SNR); JSCC sends no bits")
        return Record(method=method, split=point, accuracy=probe.accuracy,
                      device_macs=costs.device_macs + c["encoder_macs"],
                      device_params=costs.device_params + c["encoder_params"],
                      server_macs=costs.server_macs + c["decoder_macs"], bits_per_image=bits,
                      code_size=code_size or f"k{k}", channel=ch.channel_name(kind, value), extra=uses)

    def fallback(kind, value, tried):
        """No size met the threshold: record the largest one tried, marked as missing it."""
        best = max(tried, key=lambda p: (p.code_size, p.accuracy))
        return best

    for kind, found in (("awgn", awgn), ("bsc", bsc)):
        for value, (probe, tried) in found.items():
            probe = probe or fallback(kind, value, tried)
            records.append(jscc_record(kind, value, probe, tried))

    # --- the separate schemes: a source payload sent at capacity
    if source_bits is None:
        source_bits = learned_source_payload(point, threshold, preset.name)
    if source_bits is None:
        if 0.0 not in bsc:
            raise ValueError("no learned source code to compare with: include p = 0 in flip_rates "
                             "(its BSC-trained encoder is the learned binary source code) or pass source_bits")
        own, tried = bsc[0.0]
        own = own or fallback("bsc", 0.0, tried)
        c = _codec_costs(own.model, train.shape)
        source_bits = {"bits_per_image": float(own.code_size), "accuracy": own.accuracy,
                       "device_macs": costs.device_macs + c["encoder_macs"],
                       "device_params": costs.device_params + c["encoder_params"],
                       "server_macs": costs.server_macs + c["decoder_macs"], "code_size": f"k{own.code_size}",
                       "coder": "learned binary code (BSC encoder trained at p = 0), fixed length",
                       "meets_threshold": own.accuracy >= threshold}
    png = input_size(preset.dataset, limit=len(test.y))
    huffman = original_huffman(model, point, train_set, test_set, get_encode_config(preset.name), device)
    separate = {
        "learned-source-coding+capacity": source_bits,
        "original-huffman+capacity": {
            "bits_per_image": huffman["bits_real"], "accuracy": huffman["accuracy"],
            "device_macs": costs.device_macs, "device_params": costs.device_params, "server_macs": costs.server_macs,
            "code_size": "8bit-huffman", "bits_entropy": huffman["bits_entropy"], "bits_fixed": huffman["bits_fixed"],
            "coder": "8-bit uniform quantizer + Huffman (coinfer.experiments.encoding.original_huffman)"},
        "png+capacity": {"bits_per_image": png.png_bits_mean, "accuracy": baseline_accuracy, "device_macs": 0,
                         "device_params": 0, "server_macs": costs.device_macs + costs.server_macs,
                         "code_size": "png", "coder": f"Pillow PNG of the {png.image_shape} uint8 image",
                         "images": png.images},
    }
    log("separate payloads (bits/image): " + ", ".join(f"{m}: {s['bits_per_image']:.1f}" for m, s in separate.items()))
    for method, s in separate.items():
        bits = float(s["bits_per_image"])
        info = {k: v for k, v in s.items() if k not in ("bits_per_image", "accuracy", "device_macs", "bits_entropy",
                                                         "device_params", "server_macs", "code_size")}
        per_channel = [(ch.channel_name("awgn", snr),
                        {"channel_uses": bits / ch.awgn_capacity_per_real_use(snr),
                         "channel_use": "real symbol (2W per second)", "latency_s": ch.capacity_airtime_s(bits, snr, W),
                         "capacity": "0.5 log2(1 + SNR) bits per real use"}) for snr in settings.snrs_db]
        per_channel += [(ch.channel_name("bsc", p), {"channel_uses": ch.bsc_channel_uses(bits, p), "channel_use": "bit",
                                                     "capacity": "1 - H2(p) bits per use"}) for p in settings.flip_rates]
        for name, uses in per_channel:
            records.append(Record(method=method, split="input" if method == "png+capacity" else point,
                                  accuracy=float(s["accuracy"]), device_macs=int(s["device_macs"]),
                                  device_params=int(s["device_params"]), server_macs=int(s["server_macs"]),
                                  bits_per_image=bits, bits_entropy=s.get("bits_entropy"), code_size=s["code_size"],
                                  channel=name, extra={**uses, **info, **provenance_extra}))

    # --- robustness: train at one value (or over the range), test at every value, at one code size
    for kind, found, train_values, test_values in (
            ("awgn", awgn, settings.mismatch_snrs_db, settings.snrs_db),
            ("bsc", bsc, settings.mismatch_flip_rates, settings.flip_rates)):
        middle = sorted(train_values)[len(train_values) // 2]
        probe = found.get(middle, (None, []))[0]
        sizes = settings.awgn_code_sizes if kind == "awgn" else settings.bsc_code_sizes
        k = probe.code_size if probe else max(sizes)
        ranged = (min(test_values), max(test_values))
        for train_value in (*train_values, ranged):
            trained = trainer.probe(kind, train_value, k)
            name = ch.channel_name(kind, train_value) if not isinstance(train_value, tuple) else \
                f"{kind}:{train_value[0]:g}..{train_value[1]:g}"
            for test_value in test_values:
                accuracy = evaluate_jscc(trained.model, test, test_value, preset.seed)
                c = _codec_costs(trained.model, train.shape)
                records.append(Record(
                    method="framework-jscc-mismatch", split=point, accuracy=accuracy,
                    device_macs=costs.device_macs + c["encoder_macs"],
                    device_params=costs.device_params + c["encoder_params"],
                    server_macs=costs.server_macs + c["decoder_macs"],
                    bits_per_image=float(k) if kind == "bsc" else k * ch.awgn_capacity_per_real_use(test_value),
                    code_size=f"k{k}-trained-{name}", channel=ch.channel_name(kind, test_value),
                    extra={"channel_uses": k, "train_channel": name, "test_channel": ch.channel_name(kind, test_value),
                           "meets_threshold": accuracy >= threshold, "threshold": threshold}))
        log(f"{kind} mismatch grid at k={k} done")

    wall = time.time() - start_time
    provenance = Provenance.collect(dataset=preset.dataset, preset=preset.name, wall_time_s=wall,
                                    command=f"python -m coinfer jscc --preset {preset.name}", seed=preset.seed)
    table = LookupTable(provenance=provenance)
    for r in records:
        table.add(r)
    log(f"{len(table.records)} records in {wall:.0f} s")
    return table


# ----------------------------------------------------------------------------- explorers (chapter 4)


def explorer_data(table) -> dict:
    """The JSON-able numbers behind the chapter's SNR and p explorers, from a JSCC table.

    ``separate``: per separate scheme its source bits per image; ``jscc_awgn`` / ``jscc_bsc``: the JSCC
    operating points (trained value, channel uses ``k``, accuracy), sorted from noisiest.
    """
    rows = fig5_rows(table)
    separate = {}
    for r in rows:
        if r["method"] != "framework-jscc":
            separate[r["method"]] = {"label": FIG5_LABELS[r["method"]], "bits": r["bits_per_image"]}
    jscc_points = {kind: sorted(({"value": r["value"], "k": r["channel_uses"], "accuracy": r["accuracy"],
                                  "meets": bool(r["meets_threshold"])}
                                 for r in rows if r["method"] == "framework-jscc" and r["kind"] == kind),
                                key=lambda p: p["value"])
                   for kind in ("awgn", "bsc")}
    bandwidth = next((r.extra["bandwidth_hz"] for r in table.records if "bandwidth_hz" in r.extra), 1e6)
    threshold = next((r.extra["threshold"] for r in table.records if "threshold" in r.extra), None)
    return {"separate": [dict(method=m, **v) for m, v in separate.items()],
            "jscc_awgn": jscc_points["awgn"], "jscc_bsc": jscc_points["bsc"],
            "bandwidth_hz": bandwidth, "threshold": threshold}


def _jscc_at(points: list[dict], value: float, kind: str) -> dict | None:
    """The JSCC point trained for the noisiest channel no worse than ``value`` (conservative)."""
    usable = [p for p in points if (p["value"] <= value if kind == "awgn" else p["value"] >= value)]
    if not usable:
        return None
    return max(usable, key=lambda p: p["value"]) if kind == "awgn" else min(usable, key=lambda p: p["value"])


def awgn_readout(data: dict, snr_db: float, bandwidth_hz: float) -> dict:
    """What the AWGN explorers show at ``snr_db`` and ``bandwidth_hz``: capacity and each scheme's latency.

    Separate schemes: ``bits / (W log2(1 + SNR))``. JSCC: ``k / (2W)`` for the point trained at the
    highest SNR not above ``snr_db`` (a code trained for a noisier channel, used on a cleaner one).
    Returns seconds (``latency``), and the capacity per real use and per second.
    """
    out = {"capacity_per_use": ch.awgn_capacity_per_real_use(snr_db),
           "capacity_bps": ch.awgn_capacity_bps(snr_db, bandwidth_hz), "latency": {}}
    for s in data["separate"]:
        out["latency"][s["method"]] = ch.capacity_airtime_s(s["bits"], snr_db, bandwidth_hz)
    point = _jscc_at(data["jscc_awgn"], snr_db, "awgn")
    out["jscc"] = point
    out["latency"]["framework-jscc"] = ch.awgn_airtime_s(point["k"], bandwidth_hz) if point else math.inf
    return out


def bsc_readout(data: dict, p: float) -> dict:
    """What the BSC explorers show at flip rate ``p``: capacity and channel uses per image per scheme."""
    out = {"capacity": ch.bsc_capacity(p), "uses": {}}
    for s in data["separate"]:
        out["uses"][s["method"]] = ch.bsc_channel_uses(s["bits"], p)
    point = _jscc_at(data["jscc_bsc"], p, "bsc")
    out["jscc"] = point
    out["uses"]["framework-jscc"] = point["k"] if point else math.inf
    return out


_COLORS = {"framework-jscc": "#d62728", "learned-source-coding+capacity": "#1f77b4",
           "original-huffman+capacity": "#2ca02c", "png+capacity": "#7f7f7f"}

_AWGN_RENDER = r"""function (data, state, util) {
  var snr = state.snr, W = state.bw * 1e6, lin = Math.pow(10, snr / 10);
  function time(t) { return !isFinite(t) ? "inf" : (t < 1e-3 ? util.fixed(t * 1e6, 2) + " \u00b5s" : util.seconds(t)); }
  var cUse = 0.5 * Math.log2(1 + lin), cBps = 2 * W * cUse;
  var text = {cap: util.fixed(cUse, 3) + " bit per real use, " + util.si(cBps, "bit/s")};
  var series = [], highlight = [];
  data.separate.forEach(function (s) {
    var pts = data.grid.map(function (x) { return [x, 1e6 * s.bits / (2 * W * 0.5 * Math.log2(1 + Math.pow(10, x / 10)))]; });
    series.push({label: s.label, points: pts, color: data.colors[s.method], line: true, marker: "none"});
    var t = s.bits / cBps;
    text[s.method.replace(/[^a-z]/g, "_")] = time(t) + " (" + util.fixed(s.bits, 1) + " bits)";
    highlight.push({x: snr, y: 1e6 * t, color: data.colors[s.method]});
  });
  var usable = data.jscc_awgn.filter(function (p) { return p.value <= snr; });
  var jpts = data.jscc_awgn.map(function (p) { return [p.value, 1e6 * p.k / (2 * W)]; });
  series.push({label: "JSCC (trained points)", points: jpts, color: data.colors["framework-jscc"], line: true});
  if (usable.length) {
    var p = usable[usable.length - 1], t = p.k / (2 * W);
    text.jscc = time(t) + " (k = " + p.k + " real uses, trained at " + p.value + " dB, accuracy " +
      util.fixed(100 * p.accuracy, 1) + "%)";
    highlight.push({x: snr, y: 1e6 * t, color: data.colors["framework-jscc"], marker: "star", label: "JSCC"});
  } else {
    text.jscc = "no JSCC code trained for a channel this noisy";
  }
  return {text: text, plot: {series: series, highlight: highlight, vlines: [{x: snr, color: "#999", dash: "3 3"}]}};
}"""

_BSC_RENDER = r"""function (data, state, util) {
  var p = state.p;
  function h2(q) { return q <= 0 ? 0 : (q >= 0.5 ? 1 : -q * Math.log2(q) - (1 - q) * Math.log2(1 - q)); }
  var cap = 1 - h2(p);
  var text = {cap: util.fixed(cap, 4) + " bit per channel use"};
  var series = [], highlight = [];
  data.separate.forEach(function (s) {
    var pts = data.grid.map(function (x) { return [x, s.bits / (1 - h2(x))]; });
    series.push({label: s.label, points: pts, color: data.colors[s.method], line: true, marker: "none"});
    var u = cap > 0 ? s.bits / cap : Infinity;
    text[s.method.replace(/[^a-z]/g, "_")] = util.fixed(u, 1) + " uses (" + util.fixed(s.bits, 1) + " bits)";
    highlight.push({x: p, y: u, color: data.colors[s.method]});
  });
  var usable = data.jscc_bsc.filter(function (q) { return q.value >= p; });
  series.push({label: "JSCC (trained points)", points: data.jscc_bsc.map(function (q) { return [q.value, q.k]; }),
               color: data.colors["framework-jscc"], line: true});
  if (usable.length) {
    var q = usable[0];
    text.jscc = q.k + " uses (trained at p = " + q.value + ", accuracy " + util.fixed(100 * q.accuracy, 1) + "%)";
    highlight.push({x: p, y: q.k, color: data.colors["framework-jscc"], marker: "star", label: "JSCC"});
  } else {
    text.jscc = "no JSCC code trained for a channel this noisy";
  }
  return {text: text, plot: {series: series, highlight: highlight, vlines: [{x: p, color: "#999", dash: "3 3"}]}};
}"""


def _readout_name(method: str) -> str:
    return "".join(c if "a" <= c <= "z" else "_" for c in method)


SNR_SLIDER_DB = tuple(float(x) for x in range(-5, 26))
FLIP_SLIDER = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
BANDWIDTH_SLIDER_MHZ = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def awgn_twin(table, snr_db: float = 10.0, bandwidth_mhz: float = 1.0):
    """Kernel-free explorer of panel (a): sliders over SNR (dB) and bandwidth W (MHz)."""
    from coinfer.views.explorer import Plot, Slider, static_explorer

    data = {**explorer_data(table), "grid": list(SNR_SLIDER_DB), "colors": _COLORS}
    readouts = [("cap", "capacity")] + [(_readout_name(s["method"]), s["label"]) for s in data["separate"]]
    readouts.append(("jscc", "JSCC (learned, through the channel)"))
    return static_explorer(
        data=data, render=_AWGN_RENDER, readouts=readouts,
        sliders=[Slider("snr", "SNR per real dimension (dB)", SNR_SLIDER_DB, value=float(snr_db)),
                 Slider("bw", "bandwidth W (MHz)", BANDWIDTH_SLIDER_MHZ, value=float(bandwidth_mhz))],
        plot=Plot(xlabel="SNR (dB)", ylabel="latency per image (µs)", logy=True),
        title="AWGN: communication latency per image (runs in the page, no kernel)",
        note=("Separate schemes at the Shannon capacity W log2(1 + SNR); JSCC sends k real symbols, 2W per "
              "second. JSCC readout: the code trained at the highest SNR not above the slider's."))


def bsc_twin(table, p: float = 0.05):
    """Kernel-free explorer of panel (b): a slider over the bit flip probability p."""
    from coinfer.views.explorer import Plot, Slider, static_explorer

    data = {**explorer_data(table), "grid": [x for x in FLIP_SLIDER], "colors": _COLORS}
    readouts = [("cap", "capacity 1 - H2(p)")] + [(_readout_name(s["method"]), s["label"]) for s in data["separate"]]
    readouts.append(("jscc", "JSCC (learned, through the channel)"))
    return static_explorer(
        data=data, render=_BSC_RENDER, readouts=readouts,
        sliders=[Slider("p", "bit flip probability p", FLIP_SLIDER, value=p)],
        plot=Plot(xlabel="bit flip probability p", ylabel="channel uses per image", logy=True),
        title="BSC: channel uses per image (runs in the page, no kernel)",
        note=("Separate schemes: bits / (1 - H2(p)) channel uses with an ideal channel code; JSCC sends k bits. "
              "JSCC readout: the code trained at the lowest p not below the slider's."))


def channel_explorer(table, snr_db: float = 10.0, bandwidth_mhz: float = 1.0, p: float = 0.05):
    """ipywidgets explorer (Jupyter/Colab): SNR, bandwidth and p sliders over both panels of Fig. 5.

    Calls :func:`awgn_readout` and :func:`bsc_readout` live; needs a kernel (the static book uses
    :func:`awgn_twin` and :func:`bsc_twin`).
    """
    import html as _html

    import ipywidgets as w

    data = explorer_data(table)
    style, layout = {"description_width": "170px"}, w.Layout(width="520px")
    snr = w.FloatSlider(value=snr_db, min=-5, max=25, step=0.5, description="SNR (dB)", style=style, layout=layout)
    bw = w.SelectionSlider(options=list(BANDWIDTH_SLIDER_MHZ), value=bandwidth_mhz, description="bandwidth W (MHz)",
                           style=style, layout=layout)
    flip = w.FloatSlider(value=p, min=0.0, max=0.45, step=0.005, readout_format=".3f",
                         description="flip probability p", style=style, layout=layout)
    shown = w.HTML()

    def fmt_s(t):
        if not math.isfinite(t):
            return "inf"
        return f"{t * 1e6:,.2f} µs" if t < 1e-3 else (f"{t * 1e3:,.2f} ms" if t < 1 else f"{t:,.2f} s")

    def refresh(*_):
        a = awgn_readout(data, snr.value, bw.value * 1e6)
        b = bsc_readout(data, flip.value)
        rows = [("AWGN capacity", f"{a['capacity_per_use']:.3f} bit/real use, {a['capacity_bps'] / 1e6:,.3f} Mbit/s")]
        rows += [(FIG5_LABELS[m], fmt_s(t)) for m, t in a["latency"].items()]
        rows += [("BSC capacity", f"{b['capacity']:.4f} bit/use")]
        rows += [(FIG5_LABELS[m], f"{u:,.1f} channel uses") for m, u in b["uses"].items()]
        shown.value = "<table>" + "".join(f"<tr><td>{_html.escape(k)}</td><td><b>{_html.escape(v)}</b></td></tr>"
                                          for k, v in rows) + "</table>"

    for slider in (snr, bw, flip):
        slider.observe(refresh, names="value")
    refresh()
    return w.VBox([snr, bw, flip, shown])
