"""The experiment of Fig. 5 (Shao & Zhang, V-D): JSCC against separate coding over AWGN and a BSC.

For each channel value, the smallest JSCC code (:mod:`coinfer.core.jscc`) whose *validation*
accuracy stays at or above the preset's threshold, found by training encoder/decoder pairs on
frozen features with the source codec's training budget; the separate schemes' payloads sent at
capacity; and the robustness grid (trained at one channel, tested at all). Test accuracy is only
reported. Per image, what each scheme costs on the channel (conventions in
:mod:`coinfer.core.channel`: real channel uses, ``2W`` of them per second):

* **JSCC**: ``k`` channel uses, the smallest ``k`` (searched on every integer up to 32, then a
  coarser grid: :class:`coinfer.config.JsccSettings`) whose validation accuracy stays at or above the
  preset's threshold (:func:`coinfer.results.accuracy_threshold`) at that SNR or ``p``;
* **learned source coding + ideal channel code**: its cheapest real bits per image
  (:func:`cheapest_real_bits`: the fixed-length index or the range-coded payload, whichever is
  shorter) sent at the Shannon capacity;
* **PNG of the input image** and **the original feature (8-bit, Huffman-coded or fixed-length,
  whichever is shorter)**, also at capacity.

(a) AWGN at ``W = 1 MHz``: latency ``k / (2W)`` seconds for JSCC, ``bits / (W log2(1 + SNR))`` for the
others. (b) BSC: channel uses ``k`` for JSCC, ``bits / (1 - H2(p))`` for the others.

Command line (writes ``data/results/jscc_<preset>.json``)::

    python -m coinfer run jscc --preset quick
    python -m coinfer jscc --preset quick --set jscc.train_images=2000   # a reduced check
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
from coinfer.core.jscc import JSCC, jscc_bits, make_channel, make_codec
from coinfer.core.network import SplitPoint, split
from coinfer.core.features import FeatureSource
from coinfer.results import LookupTable, accuracy_threshold
from coinfer.tensor_data import copy_to_device
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
    device = device or train.device                # default: where the training features are
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
            idx = copy_to_device(perm[i:i + settings.batch_size], train.features.device)   # where it indexes
            yield copy_to_device(train.features[idx], device), copy_to_device(train.labels[idx], device)

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
    """One trained-and-evaluated JSCC configuration: test ``accuracy`` (reported) and
    ``val_accuracy`` (what every choice is made on; None without a validation split)."""

    kind: str
    value: float | tuple[float, float]
    code_size: int
    accuracy: float
    val_accuracy: float | None = None
    model: JSCC | None = field(default=None, repr=False)


def probe_accuracy(probe: Probe) -> float:
    """The accuracy a JSCC code is chosen on: its validation accuracy, or its test accuracy when the run
    holds out no validation split (a baseline trained before the split), the rule of
    :func:`coinfer.stats.selection_accuracy` for a probe that is not a record yet.

    Examples
    --------
    >>> from coinfer.experiments.jscc import Probe, probe_accuracy
    >>> probe_accuracy(Probe("awgn", 0.0, 8, accuracy=0.91, val_accuracy=0.89))
    0.89
    """
    return float(probe.val_accuracy if probe.val_accuracy is not None else probe.accuracy)


class JsccTrainer:
    """Trains JSCC models on demand and remembers them, so that the search and the robustness grid
    never train the same configuration twice."""

    def __init__(self, train: FeatureSource, test: FeatureSource, server_part: nn.Module, settings: JsccSettings,
                 seed: int = 0, device: torch.device | None = None, progress: Callable[[str], None] | None = None,
                 val: FeatureSource | None = None):
        self.train, self.val, self.test, self.server_part = train, val, test, server_part
        self.settings, self.seed, self.device = settings, seed, device
        self.progress = progress or (lambda message: None)
        self.cache: dict[tuple, Probe] = {}

    def probe(self, kind: str, value, code_size: int) -> Probe:
        key = (kind, value, code_size)
        if key not in self.cache:
            start, cpu_start = time.time(), time.process_time()
            model = train_jscc(self.train, self.server_part, kind, value, code_size, self.settings,
                               self.seed, self.device)
            test_value = value if not isinstance(value, tuple) else None
            accuracy = evaluate_jscc(model, self.test, test_value, self.seed) if test_value is not None else math.nan
            val_accuracy = None
            if self.val is not None:
                val_accuracy = evaluate_jscc(model, self.val, test_value, self.seed) if test_value is not None \
                    else math.nan
            self.cache[key] = Probe(kind, value, code_size, accuracy, val_accuracy, model)
            val_text = f"validation {val_accuracy:.4f}, " if val_accuracy is not None else ""
            self.progress(f"{kind} {value} k={code_size}: {val_text}test {accuracy:.4f} "
                          f"({time.time() - start:.0f} s, {time.process_time() - cpu_start:.0f} s CPU)")
        return self.cache[key]


def smallest_code_sizes(trainer: JsccTrainer, kind: str, values: tuple[float, ...], sizes: tuple[int, ...],
                        threshold: float, accuracy_of: Callable[[Probe], float] = probe_accuracy,
                        ) -> dict[float, tuple[Probe | None, list[Probe]]]:
    """For every channel value, the smallest code size from ``sizes`` whose accuracy is >= ``threshold``.

    ``accuracy_of(probe)`` is the accuracy the choice is made on (default :func:`probe_accuracy`:
    validation accuracy), ``threshold`` the threshold on that split. Search: channel values from the least to the most noisy; at each, a binary
    search over the sizes from the previous value's answer up (a noisier channel is assumed never to
    need fewer channel uses, and accuracy to grow with the code size); after a miss at the largest
    size, the next value measures only the largest. About ``log2(len(sizes))`` trainings per value.
    Returns, per value, the winning probe (``None`` if even the largest size misses the threshold)
    and every probe tried there.
    """
    sizes = tuple(sorted(set(sizes)))
    # least noisy first: highest SNR, lowest p
    order = sorted(values, reverse=(kind == "awgn"))
    results, start = {}, 0
    for value in order:
        tried: list[Probe] = []

        def ok(i):
            probe = trainer.probe(kind, value, sizes[i])
            if probe not in tried:
                tried.append(probe)
            return accuracy_of(probe) >= threshold

        lo, hi = start, len(sizes) - 1
        while lo < hi:  # invariant: no size below sizes[lo] meets it; sizes[hi] does, or is the last
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid + 1
        if ok(hi):   # a size already tried costs nothing
            results[value] = (trainer.probe(kind, value, sizes[hi]), tried)
            start = hi
        else:
            results[value] = (None, tried)
            start = len(sizes) - 1
    return results


# ----------------------------------------------------------------------------- separate-coding payloads


def cheapest_real_bits(coded_bits: float, fixed_bits: float | None) -> float:
    """Bits per image a coded configuration costs on a channel, the cheaper of two real ways to send it.

    Per image, the device sends the flag bit and the cheaper of the fixed-length index and the
    entropy-coded stream (:func:`coinfer.core.entropy.sent_bits`: every table's ``bits_per_image``).
    A configuration may also always send its fixed-length index (``positions x log2(levels)`` bits):
    both ends then know the form, and no flag is sent. Separate coding is charged the cheaper of the
    two means, so the channel code is never given more bits than needed.

    Parameters
    ----------
    coded_bits : float
        Mean bits per image sent with the per-image choice (flag included, framing excluded).
    fixed_bits : float or None
        Bits of the fixed-length index; None when the configuration has none.

    Returns
    -------
    float
        ``min(coded_bits, fixed_bits)`` (``coded_bits`` without a fixed length).

    Examples
    --------
    >>> from coinfer.experiments.jscc import cheapest_real_bits
    >>> cheapest_real_bits(7.2176, 4)    # a 16-codeword vector code: its 4-bit index is cheaper
    4.0
    >>> cheapest_real_bits(9228.0, 16384)
    9228.0
    """
    if fixed_bits is None:
        return float(coded_bits)
    return float(min(coded_bits, fixed_bits))


def _charged_as(coded_bits: float, fixed_bits: float | None, coded_name: str) -> str:
    return "fixed-length index" if fixed_bits is not None and fixed_bits < coded_bits else coded_name


def learned_source_payload(point: str, threshold: float | None, preset_name: str, path=None) -> dict | None:
    """The learned source coder's cheapest real payload at ``point`` meeting ``threshold``.

    Read from the encoding experiment's table (``data/results/encoding_<preset>.json``, written by
    ``python -m coinfer run encoding``): its ``framework`` records at this split point without
    pruning. A record meets the threshold on :func:`coinfer.stats.selection_accuracy` (validation
    accuracy where the table holds out a validation split): compared with ``threshold``, or with the
    table's own :func:`coinfer.stats.selection_threshold` when ``threshold`` is None. Each costs
    :func:`cheapest_real_bits` of its range-coded payload and its fixed-length index, and the
    cheapest one that meets the threshold is the learned source code. ``None`` if the table is
    missing or no record there meets the threshold.
    """
    from coinfer.stats import selection_accuracy, selection_threshold
    from coinfer.paths import table_path
    from coinfer.results import Provenance, load_table

    from pathlib import Path

    path = Path(path) if path is not None else table_path("encoding", preset_name)
    if not path.exists():
        return None
    table = load_table(path)

    def bits(r):
        return cheapest_real_bits(r.bits_per_image, r.extra.get("bits_fixed"))

    threshold = selection_threshold(table) if threshold is None else threshold
    candidates = [r for r in table.select(method="framework", split=point)
                  if r.sparsity == 0 and selection_accuracy(r, table) >= threshold]
    if not candidates:
        return None
    best = min(candidates, key=lambda r: (bits(r), -selection_accuracy(r, table)))
    fixed = best.extra.get("bits_fixed")
    return {"bits_per_image": bits(best), "bits_coded": best.bits_per_image, "bits_fixed": fixed,
            "bits_charged": _charged_as(best.bits_per_image, fixed, "range-coded payload"),
            "accuracy": best.accuracy, "val_accuracy": best.val_accuracy,
            "selected_on": "test" if table.provenance.validation is None else "validation",
            "device_macs": best.device_macs,
            "device_params": best.device_params, "server_macs": best.server_macs, "code_size": best.code_size,
            "bits_entropy": best.bits_entropy, "meets_threshold": True,
            "train_images": best.extra.get("train_images"),
            "coder": f"learned quantizer, fixed-length index or range coder (coinfer.core.encoding), "
                     f"from {path.name} (commit {Provenance.short_commit(table.provenance.git_commit) or 'unknown'})"}


# ----------------------------------------------------------------------------- the experiment


def _codec_costs(model: JSCC, feature_shape) -> dict:
    """MACs (thop) and parameters of the encoder (device side) and the decoder (server side)."""
    codec = copy.deepcopy(model.codec).cpu().eval()  # thop profiles on the CPU, whatever device trained it
    return {"encoder_macs": codec.encoder_macs(tuple(feature_shape)), "encoder_params": codec.encoder_params(),
            "decoder_macs": codec.decoder_macs((model.code_size,)),
            "decoder_params": sum(p.numel() for p in codec.decoder.parameters())}


def _image_sets(preset: Preset, settings: JsccSettings, validation: bool):
    """``(train, val, test)`` image sets: the first ``settings.train_images`` images of the training
    split less the validation images, the validation split (chooses; None when ``validation`` is
    False: a baseline trained before the split has seen those images) and the test split (reports)."""
    from coinfer.data import load_split

    return (load_split(preset.dataset, "train", preset.validation, limit=settings.train_images),
            load_split(preset.dataset, "val", preset.validation) if validation else None,
            load_split(preset.dataset, "test", preset.validation, limit=settings.test_images))


def training_budget(settings: JsccSettings, preset: Preset, train_images: int) -> dict:
    """JSCC's training budget beside the source codec's (:func:`coinfer.config.source_codec_budget`).

    Parameters
    ----------
    settings : JsccSettings
        The JSCC settings run.
    preset : Preset
        Whose ``encoding`` settings trained the learned source code of the comparison.
    train_images : int
        Training images JSCC really used (``settings.train_images``, or all when that is None).

    Returns
    -------
    dict
        ``jscc`` and ``source_codec``: ``train_images``, ``epochs``, ``batch_size`` and ``steps``
        (optimizer steps per codec: epochs x batches per epoch); ``equal``: whether the two match.
    """
    from coinfer.config import source_codec_budget

    def with_steps(b, images):
        return {**b, "train_images": images, "steps": b["epochs"] * math.ceil(images / b["batch_size"])}

    source = source_codec_budget(preset.encoding)
    source_images = source["train_images"] or train_images
    jscc = with_steps(settings.budget(), train_images)
    source = with_steps(source, source_images)
    return {"jscc": jscc, "source_codec": source, "equal": jscc == source}


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
    # Choices on the validation split, against the baseline's validation accuracy minus the same drop;
    # a baseline trained before the split existed (no "validation" in its checkpoint) chooses on test.
    validation = meta.get("validation")
    baseline_val = meta.get("val_accuracy") if validation is not None else None
    select_threshold = accuracy_threshold(baseline_val, preset.accuracy_drop) if validation is not None else threshold
    log(f"baseline accuracy {baseline_accuracy:.4f}; threshold {threshold:.4f} (test), {select_threshold:.4f} "
        f"({'validation' if validation is not None else 'test'}: chooses); split after {point}")
    device_part, server_part = split(model.to(device).eval(), point)
    costs = {r.point: r for r in profile_splits(model.cpu())}[point]
    model.to(device)

    train_set, val_set, test_set = _image_sets(preset, settings, validation is not None)
    train = FeatureSource(device_part, train_set, batch_size=500, device=device)
    val = FeatureSource(device_part, val_set, batch_size=500, device=device) if val_set is not None else None
    test = FeatureSource(device_part, test_set, batch_size=500, device=device)
    if len(train.feature_shape) not in (1, 3):
        raise ValueError(f"split point {point!r} gives a feature of shape {train.feature_shape}; JSCC needs a "
                         "C x H x W map or a vector")
    log(f"features {tuple(train.features.shape)} train, {len(val) if val else 0} validation, "
        f"{tuple(test.features.shape)} test ({time.time() - start_time:.0f} s)")
    budget = training_budget(settings, preset, len(train))
    log(f"training budget: {budget['jscc']} (source codec: {budget['source_codec']})")

    trainer = JsccTrainer(train, test, server_part, settings, preset.seed, device, progress=log, val=val)
    W = settings.bandwidth_hz
    awgn = smallest_code_sizes(trainer, "awgn", settings.snrs_db, settings.awgn_code_sizes, select_threshold)
    bsc = smallest_code_sizes(trainer, "bsc", settings.flip_rates, settings.bsc_code_sizes, select_threshold)
    selected_on = "validation" if validation is not None else "test"

    provenance_extra = {"bandwidth_hz": W, "threshold": threshold, "selection_threshold": select_threshold,
                        "selected_on": selected_on, "baseline_accuracy": baseline_accuracy,
                        "settings": settings.to_dict(), "training_budget": budget}
    records: list[Record] = []

    # A JSCC record's code_size names the configuration, not its k: the smallest k differs from seed to
    # seed, and records of several seeds are averaged by configuration (k is in channel_uses and the bits).
    def jscc_record(kind, value, probe: Probe, tried, method="framework-jscc", code_size="smallest-k", extra=None):
        c = _codec_costs(probe.model, train.feature_shape)
        k = probe.code_size
        uses = {"channel_uses": k,
                "channel_use": "real symbol (2W per second)" if kind == "awgn" else "bit",
                "latency_s": ch.awgn_airtime_s(k, W) if kind == "awgn" else None,
                "meets_threshold": probe_accuracy(probe) >= select_threshold,
                "search": [{"code_size": p.code_size, "accuracy": p.accuracy, "val_accuracy": p.val_accuracy}
                           for p in tried],
                **c, **provenance_extra, **(extra or {})}
        bits = jscc_bits(k, kind, value)   # bits sent (BSC); on AWGN the most the k uses can carry
        uses["bits_per_image_is"] = ("bits sent (k)" if kind == "bsc"
                                     else "capacity-equivalent: k x 0.5 log2(1 + SNR); JSCC sends no bits")
        return Record(method=method, split=point, accuracy=probe.accuracy, val_accuracy=probe.val_accuracy,
                      device_macs=costs.device_macs + c["encoder_macs"],
                      device_params=costs.device_params + c["encoder_params"],
                      server_macs=costs.server_macs + c["decoder_macs"], bits_per_image=bits,
                      code_size=code_size, channel=ch.channel_name(kind, value), extra=uses)

    def fallback(kind, value, tried):
        """No size met the threshold: record the largest one tried, marked as missing it."""
        return max(tried, key=lambda p: (p.code_size, probe_accuracy(p)))

    for kind, found in (("awgn", awgn), ("bsc", bsc)):
        for value, (probe, tried) in found.items():
            probe = probe or fallback(kind, value, tried)
            records.append(jscc_record(kind, value, probe, tried))

    # --- the separate schemes: a source payload sent at capacity
    if source_bits is None:
        source_bits = learned_source_payload(point, None, preset.name)
    if source_bits is None:
        if 0.0 not in bsc:
            raise ValueError("no learned source code to compare with: include p = 0 in flip_rates "
                             "(its BSC-trained encoder is the learned binary source code) or pass source_bits")
        own, tried = bsc[0.0]
        own = own or fallback("bsc", 0.0, tried)
        c = _codec_costs(own.model, train.feature_shape)
        source_bits = {"bits_per_image": float(own.code_size), "accuracy": own.accuracy,
                       "val_accuracy": own.val_accuracy, "selected_on": selected_on,
                       "bits_fixed": own.code_size, "bits_charged": "fixed-length index",
                       "device_macs": costs.device_macs + c["encoder_macs"],
                       "device_params": costs.device_params + c["encoder_params"],
                       "server_macs": costs.server_macs + c["decoder_macs"], "code_size": f"k{own.code_size}",
                       "coder": "learned binary code (BSC encoder trained at p = 0), fixed length",
                       "meets_threshold": probe_accuracy(own) >= select_threshold, "train_images": len(train)}
    if source_bits.get("train_images") not in (None, len(train)):
        log(f"warning: the learned source code trained on {source_bits['train_images']} images, JSCC on "
            f"{len(train)}: the training budgets differ")
    png = input_size(preset.dataset, limit=len(test.labels))
    huffman = original_huffman(model, point, train_set, test_set, preset.encoding, device)
    # Its validation accuracy decides whether it meets the threshold, as for every other record.
    huffman_val = original_huffman(model, point, train_set, val_set, preset.encoding, device, 0)["accuracy"] \
        if val_set is not None else None
    separate = {
        "learned-source-coding+capacity": source_bits,
        "original-huffman+capacity": {
            "bits_per_image": cheapest_real_bits(huffman["bits_real"], huffman["bits_fixed"]),
            "bits_coded": huffman["bits_real"],
            "bits_charged": _charged_as(huffman["bits_real"], huffman["bits_fixed"], "Huffman-coded payload"),
            "accuracy": huffman["accuracy"], "val_accuracy": huffman_val,
            "meets_threshold": (huffman_val if huffman_val is not None else huffman["accuracy"]) >= select_threshold,
            "device_macs": costs.device_macs, "device_params": costs.device_params, "server_macs": costs.server_macs,
            "code_size": "8bit-huffman", "bits_entropy": huffman["bits_entropy"], "bits_fixed": huffman["bits_fixed"],
            "coder": "8-bit uniform quantizer + Huffman (coinfer.experiments.encoding.original_huffman)"},
        "png+capacity": {"bits_per_image": png.png_bits_mean, "accuracy": baseline_accuracy,
                         "val_accuracy": baseline_val, "device_macs": 0,
                         "device_params": 0, "server_macs": costs.device_macs + costs.server_macs,
                         "code_size": "png", "coder": f"Pillow PNG of the {png.image_shape} uint8 image",
                         "images": png.images},
    }
    log("separate payloads (bits/image): " + ", ".join(f"{m}: {s['bits_per_image']:.1f}" for m, s in separate.items()))
    for method, s in separate.items():
        bits = float(s["bits_per_image"])
        info = {k: v for k, v in s.items() if k not in ("bits_per_image", "accuracy", "device_macs", "bits_entropy",
                                                         "device_params", "server_macs", "code_size",
                                                         "val_accuracy")}
        info.setdefault("bits_charged", "payload")
        per_channel = [(ch.channel_name("awgn", snr),
                        {"channel_uses": bits / ch.awgn_capacity_per_real_use(snr),
                         "channel_use": "real symbol (2W per second)", "latency_s": ch.capacity_airtime_s(bits, snr, W),
                         "capacity": "0.5 log2(1 + SNR) bits per real use"}) for snr in settings.snrs_db]
        per_channel += [(ch.channel_name("bsc", p), {"channel_uses": ch.bsc_channel_uses(bits, p), "channel_use": "bit",
                                                     "capacity": "1 - H2(p) bits per use"}) for p in settings.flip_rates]
        for name, uses in per_channel:
            records.append(Record(method=method, split="input" if method == "png+capacity" else point,
                                  accuracy=float(s["accuracy"]), val_accuracy=s.get("val_accuracy"),
                                  device_macs=int(s["device_macs"]),
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
                val_accuracy = evaluate_jscc(trained.model, val, test_value, preset.seed) if val is not None else None
                c = _codec_costs(trained.model, train.feature_shape)
                records.append(Record(
                    method="framework-jscc-mismatch", split=point, accuracy=accuracy, val_accuracy=val_accuracy,
                    device_macs=costs.device_macs + c["encoder_macs"],
                    device_params=costs.device_params + c["encoder_params"],
                    server_macs=costs.server_macs + c["decoder_macs"],
                    bits_per_image=jscc_bits(k, kind, test_value),
                    code_size=f"trained-{name}", channel=ch.channel_name(kind, test_value),
                    extra={"channel_uses": k, "train_channel": name, "test_channel": ch.channel_name(kind, test_value),
                           "meets_threshold": (val_accuracy if val_accuracy is not None else accuracy)
                           >= select_threshold, "threshold": threshold,
                           "selection_threshold": select_threshold, "selected_on": selected_on}))
        log(f"{kind} mismatch grid at k={k} done")

    wall = time.time() - start_time
    provenance = Provenance.collect(dataset=preset.dataset, preset=preset.name, wall_time_s=wall,
                                    command=f"python -m coinfer run jscc --preset {preset.name}", seed=preset.seed,
                                    baseline_accuracy=baseline_accuracy, accuracy_drop=preset.accuracy_drop,
                                    validation=validation)
    table = LookupTable(provenance=replace(provenance, baseline_val_accuracy=baseline_val))
    for r in records:
        table.add(r)
    log(f"{len(table.records)} records in {wall:.0f} s")
    return table
