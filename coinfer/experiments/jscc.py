"""The experiment of Fig. 5 (Shao & Zhang, V-D): JSCC against separate coding over AWGN and a BSC.

For each channel value, the smallest JSCC code (:mod:`coinfer.core.jscc`) whose accuracy stays at
or above the preset's threshold, found by training encoder/decoder pairs on frozen features; the
separate schemes' payloads sent at capacity; and the robustness grid (trained at one channel,
tested at all). Per image, what each scheme costs on the channel (conventions in
:mod:`coinfer.core.channel`: real channel uses, ``2W`` of them per second):

* **JSCC**: ``k`` channel uses, the smallest ``k`` whose accuracy stays at or above the preset's
  threshold (:func:`coinfer.results.accuracy_threshold`) at that SNR or ``p``;
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
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from coinfer.config import JsccSettings, Preset, get_preset
from coinfer.core import channel as ch
from coinfer.core.jscc import JSCC, make_channel, make_codec
from coinfer.core.network import SplitPoint, split
from coinfer.core.features import FeatureSource
from coinfer.results import LookupTable, accuracy_threshold
from coinfer.train import evaluate, fit

# ----------------------------------------------------------------------------- train and evaluate


def _stable_seed(*parts) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomization or call order)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def train_jscc(train: FeatureSource, server_part: nn.Module, kind: str, value, code_size: int,
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
    codec = make_codec(train.feature_shape, code_size, make_channel(kind, value, noise), settings.reduced_channels)
    if init is not None:
        if init.code_size != code_size:
            raise ValueError(f"cannot start a code of size {code_size} from one of size {init.code_size}")
        codec.encoder.load_state_dict(init.codec.encoder.state_dict())
        codec.decoder.load_state_dict(init.codec.decoder.state_dict())
    model = JSCC(codec, server_part).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    steps_per_epoch = math.ceil(len(train.labels) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, epochs=epochs,
                                                    steps_per_epoch=steps_per_epoch)
    order = torch.Generator().manual_seed(run_seed + 2)

    def batches(epoch):   # one permutation per epoch, drawn from this run's own generator
        perm = torch.randperm(len(train.labels), generator=order)
        for i in range(0, len(perm), settings.batch_size):
            idx = perm[i:i + settings.batch_size]
            yield train.features[idx], train.labels[idx]

    fit(model, batches, optimizer=optimizer, epochs=epochs, scheduler=scheduler, device=device,
        progress=False)
    return model.eval()


@torch.no_grad()
def evaluate_jscc(model: JSCC, test: FeatureSource, value=None, seed: int = 0, batch_size: int = 1000) -> float:
    """Top-1 accuracy over ``test`` with the channel at ``value`` (default: the training value).

    The channel's noise is redrawn from its own generator seeded by ``seed``, so an evaluation repeats
    exactly; the model's channel setting is restored afterwards.
    """
    saved_value = model.channel.snr_db if model.kind == "awgn" else model.channel.p
    saved_generator = model.channel.generator
    try:
        if value is not None:
            if model.kind == "awgn":
                model.channel.snr_db = value
            else:
                model.channel.p = value
        model.channel.generator = torch.Generator().manual_seed(_stable_seed("eval", seed, value))
        return evaluate(model, test.batches(batch_size))
    finally:
        if model.kind == "awgn":
            model.channel.snr_db = saved_value
        else:
            model.channel.p = saved_value
        model.channel.generator = saved_generator


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

    def __init__(self, train: FeatureSource, test: FeatureSource, server_part: nn.Module, settings: JsccSettings,
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
    from coinfer.paths import table_path
    from coinfer.results import load_table

    from pathlib import Path

    path = Path(path) if path is not None else table_path("encoding", preset_name)
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


# ----------------------------------------------------------------------------- the experiment


def _codec_costs(model: JSCC, feature_shape) -> dict:
    """MACs (thop) and parameters of the encoder (device side) and the decoder (server side)."""
    codec = copy.deepcopy(model.codec).cpu().eval()  # thop profiles on the CPU, whatever device trained it
    return {"encoder_macs": codec.encoder_macs(tuple(feature_shape)), "encoder_params": codec.encoder_params(),
            "decoder_macs": codec.decoder_macs((model.code_size,)),
            "decoder_params": sum(p.numel() for p in codec.decoder.parameters())}


def run(preset: str | Preset = "quick", settings: JsccSettings | None = None,
        split_point: str | None = None, source_bits: dict | None = None,
        checkpoints=None, device: torch.device | None = None, log: Callable[[str], None] = print) -> LookupTable:
    """Run the Fig. 5 experiment for ``preset`` and return its :class:`~coinfer.results.LookupTable`.

    Parameters
    ----------
    preset : str or Preset
        Whose baseline network, dataset and accuracy threshold to use.
    settings : JsccSettings, optional
        Default ``preset.jscc``.
    split_point : str, optional
        Override ``settings.split`` (any split point with a ``C x H x W`` feature).
    source_bits : dict, optional
        The learned source coder's measured payload, ``{"bits_per_image", "accuracy", ...}``
        (e.g. from the encoding experiment's table). Default: this experiment's own learned binary
        code, the BSC-trained encoder at ``p = 0`` (fixed-length, ``k`` real bits per image).
    checkpoints : path, optional
        Folder holding ``<preset>/baseline.pt`` (default :func:`coinfer.paths.checkpoints_dir`).
    device : torch.device, optional
        Where to train (default a GPU if there is one).
    log : callable
        Progress messages.
    """
    from coinfer.data import load_dataset
    from coinfer.experiments.encoding import original_huffman
    from coinfer.core.costs import input_size, profile_splits
    from coinfer.results import Provenance, Record
    from coinfer.train import get_baseline, seed_everything

    start_time = time.time()
    preset = get_preset(preset) if isinstance(preset, str) else preset
    settings = settings or preset.jscc
    if split_point is not None:
        settings = replace(settings, split=split_point)
    point = SplitPoint(settings.split)
    if point == "output":
        raise ValueError("split point 'output' leaves nothing to the server (the device sends its decision); "
                         "choose a split point from 'input' to 'pool'")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed_everything(preset.seed)

    model, meta = get_baseline(preset, checkpoints=checkpoints)
    baseline_accuracy = float(meta["test_accuracy"])
    threshold = accuracy_threshold(baseline_accuracy, preset.accuracy_drop)
    log(f"baseline accuracy {baseline_accuracy:.4f}; threshold {threshold:.4f}; split after {point}")
    device_part, server_part = split(model.to(device).eval(), point)
    costs = {r.point: r for r in profile_splits(model.cpu())}[point]
    model.to(device)

    train_set = load_dataset(preset.dataset, train=True, limit=settings.train_images)
    test_set = load_dataset(preset.dataset, train=False, limit=settings.test_images)
    train = FeatureSource(device_part, train_set, batch_size=500, device=device)
    test = FeatureSource(device_part, test_set, batch_size=500, device=device)
    if len(train.feature_shape) not in (1, 3):
        raise ValueError(f"split point {point!r} gives a feature of shape {train.feature_shape}; JSCC needs a "
                         "C x H x W map or a vector")
    log(f"features {tuple(train.features.shape)} train, {tuple(test.features.shape)} test ({time.time() - start_time:.0f} s)")

    trainer = JsccTrainer(train, test, server_part, settings, preset.seed, device, progress=log)
    W = settings.bandwidth_hz
    awgn = smallest_code_sizes(trainer, "awgn", settings.snrs_db, settings.awgn_code_sizes, threshold)
    bsc = smallest_code_sizes(trainer, "bsc", settings.flip_rates, settings.bsc_code_sizes, threshold)

    provenance_extra = {"bandwidth_hz": W, "threshold": threshold, "baseline_accuracy": baseline_accuracy,
                        "settings": settings.to_dict()}
    records: list[Record] = []

    def jscc_record(kind, value, probe: Probe, tried, method="framework-jscc", code_size=None, extra=None):
        c = _codec_costs(probe.model, train.feature_shape)
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
        c = _codec_costs(own.model, train.feature_shape)
        source_bits = {"bits_per_image": float(own.code_size), "accuracy": own.accuracy,
                       "device_macs": costs.device_macs + c["encoder_macs"],
                       "device_params": costs.device_params + c["encoder_params"],
                       "server_macs": costs.server_macs + c["decoder_macs"], "code_size": f"k{own.code_size}",
                       "coder": "learned binary code (BSC encoder trained at p = 0), fixed length",
                       "meets_threshold": own.accuracy >= threshold}
    png = input_size(preset.dataset, limit=len(test.labels))
    huffman = original_huffman(model, point, train_set, test_set, preset.encoding, device)
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
                c = _codec_costs(trained.model, train.feature_shape)
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
                                    command=f"python -m coinfer jscc --preset {preset.name}", seed=preset.seed,
                                    baseline_accuracy=baseline_accuracy, accuracy_drop=preset.accuracy_drop)
    table = LookupTable(provenance=provenance)
    for r in records:
        table.add(r)
    log(f"{len(table.records)} records in {wall:.0f} s")
    return table
