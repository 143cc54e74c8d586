"""Presets: every stage's settings in one place, from a quick run on a laptop CPU to the paper's.

``quick``
    Fashion-MNIST, a width-1/8 ResNet18, a few epochs: minutes on a 2-core CPU. CI, the
    offline book build and the committed results use it.
``paper``
    CIFAR-10, the full-width ResNet18, the paper's settings: hours on a GPU.

A :class:`Preset` holds the network and data (``dataset``, ``width``, ``seed``), the accuracy
threshold's drop, and one small settings object per stage: ``baseline`` (:class:`TrainSettings`),
``pruning`` (:class:`PruneSettings`), ``sweep`` (:class:`SweepGrid`), ``encoding``
(:class:`EncodeSettings`), ``jscc`` (:class:`JsccSettings`), ``rate`` (:class:`RateSettings`). A preset name is looked up
once, by :func:`get_preset` (at the command line or a public entry point); everything below it
receives the :class:`Preset` object. Any setting can be overridden by its dotted name::

    >>> from coinfer.config import get_preset
    >>> get_preset("quick").width
    0.125
    >>> get_preset("quick", **{"pruning.epochs": 2, "baseline.lr": 0.05}).pruning.epochs
    2

Every result records the preset that produced it.

``COINFER_SMOKE=1`` (with ``COINFER_HOME`` set to a scratch folder) scales every stage of every
preset (``COINFER_SMOKE=paper``: of that one) down to a handful of steps and images
(:func:`smoke_overrides`), so that e.g. the paper
preset's commands run end to end on a CPU in minutes (``tests/test_paper_smoke.py``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

from coinfer.core import channel as ch
from coinfer.core.encoding import CodeSize
from coinfer.core.network import SPLIT_POINTS, SplitPoint
from coinfer.splits import PAPER_SPLIT_POINTS
from coinfer.core.pruning import CRITERIA, SparsitySchedule, check_sparsity, prunable_split_point
from coinfer.config_overrides import _each, _Settings, override, parse_overrides, setting_names
from coinfer.config_smoke import SMOKE_ENV, smoke, smoke_overrides
from coinfer.data import ValidationSplit
from coinfer.units import is_count


#: The fine-tuning optimizers and learning-rate schedules of :class:`PruneSettings`.
FINE_TUNE_OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("step", "cosine")


def _real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _count(value, low: int = 1) -> bool:
    return is_count(value, low, recorded=True)   # a table records its settings as JSON


#: Field rules of :meth:`_Settings._check`: (what is allowed, in words; the test).
_COUNT, _COUNT0 = ("an integer >= 1", _count), ("an integer >= 0", lambda v: _count(v, 0))
_LIMIT = ("an integer >= 1 or None", lambda v: v is None or _count(v))
_COUNTS = ("one or more integers >= 1 in a tuple", lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(map(_count, v)))
_LR = ("a finite learning rate > 0", lambda v: _real(v) and v > 0)
_POSITIVE, _NONNEG = ("a finite number > 0", _LR[1]), ("a finite number >= 0", lambda v: _real(v) and v >= 0)
_FLAG, _DICT = ("True or False", lambda v: isinstance(v, bool)), ("a dict of settings", lambda v: isinstance(v, dict))
_SNR, _FLIP = ("a finite SNR in dB", _real), ("a flip rate in [0, 0.5) (at 0.5 nothing gets through)",
                                               lambda v: _real(v) and 0 <= v < 0.5)
_NO_CHANNELS = ("a code size written without channels (EncodeSettings.code_size_at derives them), e.g. 'd16-l4'",
                lambda c: CodeSize.parse(c).channels is None)


def _one(rule):
    """A ``parse`` for :func:`_each` from a field rule ``(allowed, test)``: each value as it is, if it passes."""
    def parse(value):
        if not rule[1](value):
            raise ValueError(f"each value must be {rule[0]}, got {value!r}")
        return value
    return parse


def _a(kind) -> tuple:
    """The field rule of a nested settings object: ``--set baseline=1`` once failed on its attributes."""
    return f"a {kind.__name__} (or a dict of its settings)", lambda v: isinstance(v, kind)


@dataclass(frozen=True)
class TrainSettings(_Settings):
    """Baseline (unsplit, unpruned) training: SGD with Nesterov momentum and a one-cycle learning rate.

    ``lr`` is the one-cycle peak (per step); ``train_limit`` uses only the first N training images
    (None: all). The momentum is not a setting: the one-cycle policy cycles it, from 0.95 down to 0.85
    as the learning rate rises and back (``torch.optim.lr_scheduler.OneCycleLR``'s own range).
    """

    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    train_limit: int | None = None

    def __post_init__(self):
        self._check("baseline", epochs=_COUNT, batch_size=_COUNT, lr=_LR, weight_decay=_NONNEG, train_limit=_LIMIT)


@dataclass(frozen=True)
class PruneSettings(_Settings):
    """Pruning and fine-tuning settings (section III-C; :mod:`coinfer.experiments.pruning`).

    The fine-tuning recipe (:func:`coinfer.experiments.pruning.prune_finetune`) is one for every
    method that fine-tunes a network (the framework's pruning, its unpruned control, 2-Step
    Pruning's two steps, the network BottleNet++ starts from): ``optimizer`` (``"adam"``, the
    authors', with L2 ``weight_decay``; or ``"sgd"`` with Nesterov momentum 0.9) at peak learning
    rate ``lr`` (per step), shaped by ``lr_schedule``: ``"step"`` (the authors' StepLR: times
    ``lr_gamma`` every ``lr_step_epochs`` epochs) or ``"cosine"`` (a linear warm-up from 0 over the
    first ``warmup_fraction`` of the steps, then a half cosine that would reach 0 one step after the
    last: the last step's rate is small, not 0).
    ``distill_weight`` in [0, 1] mixes knowledge distillation from the network as it was before
    fine-tuning (the baseline) into the loss: ``(1 - w) * cross-entropy + w * T^2 * KL`` of the
    softmaxes at temperature ``distill_temperature`` (:func:`coinfer.train.distillation_loss`); 0
    trains on the labels alone. ``epochs`` passes over the first ``train_limit`` training-split
    images in batches of ``batch_size``. The whole network is fine-tuned: the device part under
    its masks, the server part unmasked. ``splits`` x ``sparsities`` is the grid of
    ``python -m coinfer run pruning``.
    """

    splits: tuple[str, ...]
    sparsities: tuple[float, ...]
    epochs: int
    schedule: SparsitySchedule = SparsitySchedule()
    output_sparsity: float | None = None     # None: the same target as every other group
    criterion: str = "l2"                    # channel ranking, see coinfer.core.pruning.CRITERIA
    train_limit: int | None = None           # fine-tune on the first N training images (None: all)
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 5e-4
    lr_step_epochs: int = 40
    lr_gamma: float = 0.3
    optimizer: str = "adam"                  # "adam" (the authors') or "sgd" (Nesterov, momentum 0.9)
    lr_schedule: str = "step"                # "step" (StepLR, the authors') or "cosine" (warm-up, then cosine)
    warmup_fraction: float = 0.0             # cosine: fraction of the steps with a linear warm-up, in [0, 1)
    distill_weight: float = 0.0              # share of distillation from the unpruned network, in [0, 1]
    distill_temperature: float = 4.0         # softmax temperature of the distillation, > 0
    # Also fine-tune once without pruning (same recipe; at sparsity 0 the split point makes no
    # difference) and keep its accuracy beside the baseline's: it separates what pruning costs from
    # what the fine-tuning recipe itself costs.
    control: bool = True

    def __post_init__(self):
        self._check("pruning", schedule=_a(SparsitySchedule))
        _each("pruning.sparsities", check_sparsity, self.sparsities)
        if self.output_sparsity is not None:
            check_sparsity(self.output_sparsity, "output_sparsity")
        object.__setattr__(self, "splits", _each("pruning.splits", prunable_split_point, self.splits))   # SplitPoints now
        self._check("pruning", epochs=_COUNT, train_limit=_LIMIT, batch_size=_COUNT, lr=_LR, weight_decay=_NONNEG,
                    lr_step_epochs=_COUNT, lr_gamma=_POSITIVE, control=_FLAG,
                    warmup_fraction=("a fraction of the steps in [0, 1)", lambda v: _real(v) and 0 <= v < 1),
                    distill_weight=("in [0, 1] (0: labels only, 1: the teacher only)", lambda v: _real(v) and 0 <= v <= 1),
                    distill_temperature=_POSITIVE)
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown pruning criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}")
        if self.optimizer not in FINE_TUNE_OPTIMIZERS:
            raise ValueError(f"unknown fine-tuning optimizer {self.optimizer!r}; choose one of "
                             f"{', '.join(FINE_TUNE_OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        if self.warmup_fraction > 0 and self.lr_schedule != "cosine":
            raise ValueError(f"warmup_fraction {self.warmup_fraction!r} needs lr_schedule 'cosine' "
                             f"(the {self.lr_schedule!r} schedule has no warm-up)")


@dataclass(frozen=True)
class SweepGrid(_Settings):
    """The grid of one brute-force sweep (:mod:`coinfer.experiments.sweep`).

    ``prune`` and ``encode`` override fields of the preset's pruning and encoding settings for the
    sweep's cells (their own grids, ``splits`` etc., are ignored: the sweep's grid is here). A
    method's split points may be empty (the sweep leaves that method out); the other grids may not.
    """

    framework_splits: tuple[str, ...]
    sparsities: tuple[float, ...]                  # 0.0: the unpruned device part
    code_sizes: tuple[str, ...]                    # without channels, see EncodeSettings.code_size_at
    original_splits: tuple[str, ...]
    bottlenet_splits: tuple[str, ...]
    bottlenet_reductions: tuple[int, ...]          # BottleNet++ keeps C // reduction channels
    two_step_splits: tuple[str, ...]
    two_step_step1: tuple[float, ...]              # step-1 sparsity (whole network)
    two_step_step2: tuple[float, ...]              # step-2 sparsity (the sent channels)
    png: bool = True
    png_images: int | None = None                  # None: the whole test split
    prune: dict = field(default_factory=dict)
    encode: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("framework_splits", "original_splits", "bottlenet_splits", "two_step_splits"):   # SplitPoints now
            object.__setattr__(self, name, _each(f"sweep.{name}", SplitPoint, getattr(self, name), empty=True))
        for name in ("sparsities", "two_step_step1", "two_step_step2"):
            _each(f"sweep.{name}", check_sparsity, getattr(self, name))
        _each("sweep.code_sizes", _one(_NO_CHANNELS), self.code_sizes)
        self._check("sweep", png=_FLAG, png_images=_LIMIT, prune=_DICT, encode=_DICT, bottlenet_reductions=_COUNTS)


@dataclass(frozen=True)
class EncodeSettings(_Settings):
    """Settings of the encoding experiment (:mod:`coinfer.experiments.encoding`, section IV-B).

    ``code_sizes`` are written without channels (``"d16-l4"``, ``"d16-k16"``); at a split point
    with a ``C x H x W`` feature the convolution keeps ``c = max(1, C // channel_divisor)`` channels.
    ``huffman_splits`` may be empty (no 8-bit Huffman baseline); ``splits`` and ``code_sizes`` may not.
    """

    splits: tuple[str, ...] = ("layer1.1", "layer2.1", "layer3.1", "pool")
    # 4, 8, 16, 32 bits per image at fixed length: a vector-codebook index, then per-element codewords of 2 or 4 levels (Fig. 2)
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

    def __post_init__(self):
        for name in ("splits", "huffman_splits"):     # validated once, here: SplitPoints from now on
            object.__setattr__(self, name, _each(f"encoding.{name}", SplitPoint, getattr(self, name),
                                                 empty=name == "huffman_splits"))
        _each("encoding.code_sizes", _one(_NO_CHANNELS), self.code_sizes)
        if self.augment is True and self.precompute is True:   # features cached once are never augmented
            raise ValueError("encoding.augment=True needs encoding.precompute=False (cached features are not augmented)")
        self._check("encoding", channel_divisor=_COUNT, train_limit=_LIMIT, precompute=_FLAG, augment=_FLAG,
                    warmup_epochs=_COUNT0, epochs=_COUNT, batch_size=_COUNT, lr=_LR, aux_weight=_NONNEG,
                    temperature=_POSITIVE, commitment=_NONNEG, huffman_train_images=_COUNT, eval_batch_size=_COUNT,
                    test_limit=_LIMIT, kernel_size=("an odd integer >= 1 (the feature keeps its size)",
                                                    lambda v: _count(v) and v % 2 == 1))

    def code_size_at(self, code_size: str, feature_shape: tuple[int, ...]) -> CodeSize:
        """The full :class:`CodeSize` at a feature of ``feature_shape``; a ``c..`` written must be the derived one."""
        size = CodeSize.parse(code_size)
        channels = max(1, feature_shape[0] // self.channel_divisor) if len(feature_shape) == 3 else None
        if size.channels not in (None, channels):
            raise ValueError(f"code size {code_size!r}: at a {tuple(feature_shape)} feature the channels are derived "
                             f"({channels or 'none'}, by encoding.channel_divisor): give {str(size).split('-', 1)[1]!r}")
        return replace(size, channels=channels)


def rate_code_sizes(code_sizes, weights) -> tuple[str, ...]:
    """Every code size of ``code_sizes`` trained at every rate weight of ``weights``, as code-size ids.

    Parameters
    ----------
    code_sizes : sequence of str
        Without a rate weight (``"d16-k64"``).
    weights : sequence of float
        Rate weights, loss per bit per image (:mod:`coinfer.core.rate`).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> from coinfer.config import rate_code_sizes
    >>> rate_code_sizes(["d16-k64"], [0, 0.1])
    ('d16-k64-r0', 'd16-k64-r0.1')
    >>> rate_code_sizes(["d16-k64-r0.1"], [0.2])
    Traceback (most recent call last):
    ...
    ValueError: code size 'd16-k64-r0.1' already has a rate weight; give it without '-r...'
    """
    out = []
    for code in code_sizes:
        size = CodeSize.parse(code)
        if size.rate_weight is not None:
            raise ValueError(f"code size {code!r} already has a rate weight; give it without '-r...'")
        out += [str(replace(size, rate_weight=weight)) for weight in weights]   # CodeSize validates each weight
    return tuple(out)


@dataclass(frozen=True)
class RateSettings(_Settings):
    """The rate-accuracy curve (:mod:`coinfer.experiments.rate`): codecs trained with a rate term.

    At every split point of ``splits``, every code size of ``code_sizes`` (written without channels
    and weight) is trained at every rate weight of ``weights`` (loss per bit per image), beside the
    preset's fixed codebooks (``encoding.code_sizes``) at the same splits. The training itself is
    the encoding settings' (one recipe).
    """

    splits: tuple[str, ...] = ("layer2.1", "layer3.1")
    code_sizes: tuple[str, ...] = ("d16-k64",)
    weights: tuple[float, ...] = (0.0, 0.01, 0.03, 0.1, 0.2, 0.3, 1.0)

    def __post_init__(self):
        object.__setattr__(self, "splits", _each("rate.splits", SplitPoint, self.splits))
        _each("rate.code_sizes", _one(_NO_CHANNELS), self.code_sizes)
        _each("rate.weights", _one(_NONNEG), self.weights)
        rate_code_sizes(self.code_sizes, self.weights)      # every code size and weight valid together

    @property
    def rate_code_sizes(self) -> tuple[str, ...]:
        """Every (code size, weight) as a code-size id, e.g. ``d16-k64-r0.1``."""
        return rate_code_sizes(self.code_sizes, self.weights)


def source_codec_budget(encoding: EncodeSettings) -> dict:
    """The training budget of the learned source codec that Fig. 5 compares JSCC with.

    Parameters
    ----------
    encoding : EncodeSettings
        The preset's encoding settings (the codec of ``data/results/encoding_<preset>.json``).

    Returns
    -------
    dict
        ``train_images`` (the first N training images; None: all), ``epochs`` (its unquantized
        warm-up epochs plus its quantized epochs: passes over those images) and ``batch_size``.

    Examples
    --------
    >>> from coinfer.config import EncodeSettings, source_codec_budget
    >>> source_codec_budget(EncodeSettings(train_limit=8000, warmup_epochs=2, epochs=5))
    {'train_images': 8000, 'epochs': 7, 'batch_size': 128}
    """
    return {"train_images": encoding.train_limit, "epochs": encoding.warmup_epochs + encoding.epochs,
            "batch_size": encoding.batch_size}


#: JSCC code sizes searched: every count of channel uses up to 32, then a coarser grid.
DENSE_CODE_SIZES = tuple(range(1, 33))


@dataclass(frozen=True)
class JsccSettings(_Settings):
    """What the Fig. 5 experiment trains and sweeps (:mod:`coinfer.experiments.jscc`, section V-D).

    Code sizes are counted in channel uses per image: real numbers for AWGN, bits for the BSC.
    The training budget (``train_images``, ``epochs``, ``batch_size``) should be the source
    codec's (:func:`source_codec_budget`), so that JSCC and the learned source code it is compared
    with train on the same images for the same number of steps: :meth:`with_budget_of` makes such
    settings, and both presets use it.
    """

    split: str = "layer3.1"                  # the paper's Conv_4x (stage 3)
    bandwidth_hz: float = 1e6                # the paper's W = 1 MHz
    snrs_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    flip_rates: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2)
    awgn_code_sizes: tuple[int, ...] = DENSE_CODE_SIZES + (48, 64, 96, 128)
    bsc_code_sizes: tuple[int, ...] = DENSE_CODE_SIZES + (48, 64, 96, 128, 192, 256)
    # Robustness grid: train at these values (and over the whole range, drawn per batch), test at all.
    mismatch_snrs_db: tuple[float, ...] = (0.0, 10.0, 20.0)
    mismatch_flip_rates: tuple[float, ...] = (0.0, 0.05, 0.2)
    # Training of the encoder/decoder on frozen-backbone features.
    train_images: int | None = 8000          # first N training images (None: all)
    test_images: int | None = None           # first N test images (None: all 10,000)
    epochs: int = 7
    batch_size: int = 128
    lr: float = 5e-3
    reduced_channels: int | None = None      # encoder's conv output channels (None: a quarter)

    def __post_init__(self):
        object.__setattr__(self, "split", SplitPoint(self.split))   # validated once, here
        for name in ("snrs_db", "mismatch_snrs_db", "flip_rates", "mismatch_flip_rates"):   # each grid trains
            _each(f"jscc.{name}", _one(_FLIP if "flip" in name else _SNR), getattr(self, name))
        if not _count(self.epochs):
            raise ValueError(f"jscc epochs must be an integer >= 1, got {self.epochs!r}")
        self._check("jscc", awgn_code_sizes=_COUNTS, bsc_code_sizes=_COUNTS, train_images=_LIMIT, test_images=_LIMIT,
                    batch_size=_COUNT, lr=_LR, reduced_channels=_LIMIT)
        if self.reduced_channels is not None and self.split.index >= SplitPoint("pool").index:   # (C,): no channels
            raise ValueError(f"jscc.reduced_channels is for a (C, H, W) feature; the one after {self.split} has no "
                             f"channels to reduce, got {self.reduced_channels!r}")
        ch.real_uses_per_second(self.bandwidth_hz)  # raises on W <= 0

    @classmethod
    def with_budget_of(cls, encoding: EncodeSettings, **settings) -> "JsccSettings":
        """JSCC settings trained with the source codec's budget (:func:`source_codec_budget`).

        Parameters
        ----------
        encoding : EncodeSettings
            The source codec's settings.
        **settings
            Any other :class:`JsccSettings` field.

        Examples
        --------
        >>> from coinfer.config import EncodeSettings, JsccSettings
        >>> s = JsccSettings.with_budget_of(EncodeSettings(train_limit=6000, warmup_epochs=1, epochs=4))
        >>> s.train_images, s.epochs, s.batch_size
        (6000, 5, 128)
        """
        return cls(**source_codec_budget(encoding), **settings)

    def budget(self) -> dict:
        """This training budget, in the keys of :func:`source_codec_budget`."""
        return {"train_images": self.train_images, "epochs": self.epochs, "batch_size": self.batch_size}


@dataclass(frozen=True)
class Preset(_Settings):
    """One named experimental setting: the network, the data, and every stage's settings.

    ``accuracy_drop`` is in percentage points: the accuracy threshold is the baseline accuracy
    minus this (the paper: 95% -> 93%). ``eval_batch_size`` is the batch size of every test pass.
    ``validation`` holds training images out: every stage trains on the rest, chooses on them
    (``load_split(..., "val")``) and only reports the test split. ``seed`` seeds one run; the
    committed tables are means over several (:func:`coinfer.stats.aggregate_seeds`).
    """

    name: str
    dataset: str
    width: float
    baseline: TrainSettings
    pruning: PruneSettings
    sweep: SweepGrid
    encoding: EncodeSettings = field(default_factory=EncodeSettings)
    jscc: JsccSettings = field(default_factory=JsccSettings)
    rate: RateSettings = field(default_factory=RateSettings)
    seed: int = 0
    accuracy_drop: float = 2.0
    eval_batch_size: int = 500
    # The training images every choice is made on (never the test split); the same for every seed.
    validation: ValidationSplit = field(default_factory=ValidationSplit)

    def __post_init__(self):
        from coinfer.data import DATASETS

        # First: the checks below read the nested settings' fields.
        self._check("", baseline=_a(TrainSettings), pruning=_a(PruneSettings), sweep=_a(SweepGrid),
                    encoding=_a(EncodeSettings), jscc=_a(JsccSettings), rate=_a(RateSettings),
                    validation=_a(ValidationSplit))
        check_width(self.width)
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; available datasets are {', '.join(DATASETS)}")
        if not _count(self.seed, 0):
            raise ValueError(f"seed {self.seed!r} must be an integer >= 0")
        if (isinstance(self.accuracy_drop, bool) or not isinstance(self.accuracy_drop, (int, float))
                or not 0 <= self.accuracy_drop < 100):
            raise ValueError(f"accuracy_drop {self.accuracy_drop!r} must be in [0, 100) percentage points")
        if not _count(self.eval_batch_size):
            raise ValueError(f"eval_batch_size {self.eval_batch_size!r} must be an integer >= 1")
        _each("sweep.prune", lambda d: override(self.pruning, d), (self.sweep.prune,))   # what the cells run
        _each("sweep.encode", lambda d: override(self.encoding, d), (self.sweep.encode,))


#: The widest network a preset may ask for (the paper's is 1.0; wider ones only cost memory and time).
MAX_WIDTH = 4.0


def check_width(width) -> float:
    """``width`` if it is a usable width multiplier, in (1/128, ``MAX_WIDTH``] (the stem's 64 channels keep one); else ValueError.

    Parameters
    ----------
    width : float
        The ResNet18 width multiplier (1.0: the paper's network).

    Returns
    -------
    float

    Examples
    --------
    >>> from coinfer.config import check_width
    >>> check_width(0.125)
    0.125
    >>> check_width(0)
    Traceback (most recent call last):
    ...
    ValueError: width 0 is out of range: give a width multiplier in (1/128, 4] (1 is the paper's network)
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 1 / 128 < width <= MAX_WIDTH:
        raise ValueError(f"width {width!r} is out of range: give a width multiplier in (1/128, {MAX_WIDTH:g}] "
                         "(1 is the paper's network)")
    return width


def unknown_preset(name) -> ValueError:
    """The one error for a preset name that is not in ``PRESETS`` (every command and function
    raises this message).

    Parameters
    ----------
    name : str
        The name given.

    Returns
    -------
    ValueError

    Examples
    --------
    >>> from coinfer.config import unknown_preset
    >>> str(unknown_preset("fast"))
    "unknown preset 'fast'; available: quick, paper"
    """
    return ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")


#: The sweep grid for tests (``python -m coinfer sweep --grid tiny``): a few images and steps, one
#: cell of each method; its numbers mean nothing.
TINY_SWEEP = SweepGrid(
    framework_splits=("layer3.1",), sparsities=(0.5,), code_sizes=("d4-l2",),
    original_splits=("pool",),
    bottlenet_splits=("layer3.1",), bottlenet_reductions=(16,),
    two_step_splits=("layer3.1",), two_step_step1=(0.25,), two_step_step2=(0.5,),
    png_images=50,
    prune={"train_limit": 256, "batch_size": 64},
    encode={"train_limit": 256, "warmup_epochs": 0, "epochs": 1, "test_limit": 200,
            "huffman_train_images": 200, "eval_batch_size": 200},
)

# The source codecs' settings, shared with the JSCC settings that must train on the same budget.
_QUICK_ENCODING = EncodeSettings()
_PAPER_ENCODING = EncodeSettings(
    splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
    code_sizes=("d8-l2", "d16-l2", "d16-l4", "d32-l4", "d16-k16", "d16-k64"),
    channel_divisor=8, train_limit=None, precompute=False, augment=True,
    warmup_epochs=10, epochs=50, lr=1e-3, huffman_train_images=5000)

PRESETS = {
    "quick": Preset(
        name="quick", dataset="fashion-mnist", width=1 / 8,
        baseline=TrainSettings(epochs=3),
        # 200 steps of 128 images (the first 25,600 training-split images, one epoch) per (split,
        # sparsity): 0.18 CPU-s per step at one thread with the teacher (0.15 without), about 47
        # CPU-s per fine-tune with its evaluation on 15,000 images. Constant Adam at 1e-3 alone
        # cost the unpruned control 1.85 points (88.61% vs 90.46% test, before the validation
        # split). The recipe: a 10% warm-up, a cosine to 0, distillation from the baseline (w 0.5,
        # T 4). Chosen on the validation split, seed 0, val/test % (baseline 91.06/90.98):
        #   peak lr          control        layer3.1 50%   layer2.1 75%   layer3.1 75%
        #   3e-4             91.16/91.02    82.06/81.81
        #   1e-3             91.08/90.98    87.36/87.04    81.18/80.61    72.60/71.68
        #   3e-3 (chosen)    90.90/90.81    88.52/88.25    84.62/84.37    80.82/80.73
        # At 3e-3, seed 0, also: layer2.1 25% 90.46/90.46, 50% 89.44/89.00; layer3.1 25%
        # 90.60/90.27 (1e-3: 90.50/90.70, 88.82/88.69, 90.30/90.39); seed 1's control 91.04/90.90.
        # Width 1/4 (measured once, seed 0, not adopted here): baseline 91.46/91.39 (375 CPU-s);
        # control 91.18/91.08 at 3e-3, 91.42/91.39 at 1e-3; layer3.1 50% 90.14/90.04 at 3e-3,
        # 89.94/89.96 at 1e-3 (meets the threshold, which 1/8 misses by 0.5 val points); a
        # fine-tune costs 63-80 CPU-s against 1/8's 30-36 s.
        pruning=PruneSettings(
            splits=("layer1.1", "layer2.1", "layer3.1"),
            sparsities=(0.25, 0.5, 0.75),
            epochs=1,
            train_limit=25_600,
            lr=3e-3,
            lr_schedule="cosine",
            warmup_fraction=0.1,
            distill_weight=0.5,
            distill_temperature=4.0,
            schedule=SparsitySchedule(kind="cubic", ramp_fraction=0.6, interval=10),
        ),
        # The paper's five split points, the encoding chapter's four codes (vector and scalar), the
        # 8-bit baseline at each split, BottleNet++ over four reductions, 2-Step Pruning over two
        # step-2 sparsities, server-based (PNG) and on-device inference: 85 cells per seed, with the
        # encoding chapter's codec settings (one recipe: the same configuration gives the same number).
        # The framework is pruned at 2-Step Pruning's step-1 sparsity (0.25) too: at 0.5 no pruned
        # framework point keeps the accuracy on this narrow network (chapter 2's table).
        sweep=SweepGrid(
            framework_splits=PAPER_SPLIT_POINTS,
            sparsities=(0.0, 0.25, 0.5),
            code_sizes=("d16-k16", "d8-l2", "d8-l4", "d16-l4"),
            original_splits=PAPER_SPLIT_POINTS,
            bottlenet_splits=("layer2.1", "layer3.1", "layer4.1"),
            bottlenet_reductions=(2, 4, 8, 16),
            two_step_splits=("layer2.1", "layer3.1", "layer4.1"),
            two_step_step1=(0.25,),
            two_step_step2=(0.5, 0.75),
        ),
        # About 6 minutes of one CPU core (18 minutes wall on a busy shared 2-core machine): 8,000
        # training images, cached features, 2 + 5 epochs; all 10,000 test images.
        encoding=_QUICK_ENCODING,
        # JSCC trains with the source codec's budget (8,000 images, 2 + 5 = 7 epochs of 128-image
        # batches). One run trained 56 codecs of ~7 s CPU each (binary searches on the dense grid,
        # then the robustness grid): 412 s of one core, 24 minutes wall on the shared 2-core CPU at a
        # load of ~12 (--threads 1); three seeds take three times that.
        jscc=JsccSettings.with_budget_of(_QUICK_ENCODING),
    ),
    "paper": Preset(
        name="paper", dataset="cifar10", width=1.0,
        # The paper does not state the baseline's schedule; the authors' checkpoint reaches 95.5%.
        # 60 one-cycle SGD epochs reach about 95% for this network on CIFAR-10.
        baseline=TrainSettings(epochs=60),
        # The authors' 100 epochs of Adam (lr 1e-4, weight decay 5e-4, StepLR(40, 0.3)) on a GPU.
        pruning=PruneSettings(
            splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
            sparsities=(0.25, 0.5, 0.75),
            epochs=100,
            schedule=SparsitySchedule(kind="cubic", ramp_fraction=0.6, interval=150),
        ),
        # The paper's grid on CIFAR-10 (a GPU; see book/paper_scale.md).
        sweep=SweepGrid(
            framework_splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
            sparsities=(0.0, 0.25, 0.5, 0.75),
            code_sizes=("d8-l2", "d16-l2", "d16-l4", "d32-l4", "d16-k16", "d16-k64"),
            original_splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
            bottlenet_splits=("stem", "layer1.1", "layer2.1", "layer3.1"),
            bottlenet_reductions=(16, 32, 64),
            two_step_splits=("stem", "layer1.1", "layer2.1", "layer3.1", "pool"),
            two_step_step1=(0.25, 0.5),
            two_step_step2=(0.5, 0.75),
        ),
        # CIFAR-10 on a GPU: all 50,000 training images with augmentation, features computed per batch
        # (a 64x32x32 feature of 50,000 images would not fit in memory), the authors' 60 epochs.
        encoding=_PAPER_ENCODING,
        # Paper scale: the source codec's budget (every training image, 10 + 50 epochs; JSCC's cached
        # features are not augmented), the same sweep. A GPU run.
        jscc=JsccSettings.with_budget_of(_PAPER_ENCODING, lr=1e-3),
    ),
}


def get_preset(name: str, /, **overrides) -> Preset:
    """The preset called ``name``, with any settings replaced by ``overrides``.

    Parameters
    ----------
    name : {"quick", "paper"}
        A key of :data:`PRESETS`.
    **overrides
        Settings to replace, by name: a top-level field (``width=1 / 16``), a dotted name of a
        stage's setting (``**{"pruning.epochs": 2}``, ``**{"pruning.schedule.interval": 10}``), a
        dict of a stage's settings (``baseline={"epochs": 1}``) or a whole settings object
        (``sweep=TINY_SWEEP``). Units as in the settings classes (``accuracy_drop`` in percentage
        points). Every replaced setting is validated again.

    Returns
    -------
    Preset
        A frozen dataclass; the stored preset itself is never changed.

    Raises
    ------
    ValueError
        For an unknown preset name or setting (the message lists the valid ones), a bad value, or
        ``name`` among the overrides (another preset is another ``name``, not an override).

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> quick = get_preset("quick")
    >>> quick.dataset, quick.width, quick.baseline.epochs
    ('fashion-mnist', 0.125, 3)
    >>> get_preset("quick", baseline={"epochs": 1}).baseline.epochs
    1
    >>> get_preset("quick", **{"pruning.schedule.interval": 5}).pruning.schedule.interval
    5
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise unknown_preset(name)
    if "name" in overrides:   # tables and checkpoints are found by it: a renamed preset would miss or replace others'
        raise ValueError(f"name={overrides['name']!r} cannot be overridden: choose a preset by its name "
                         f"({', '.join(PRESETS)}; --preset on the command line) and override its settings")
    smoked = smoke(name, known=tuple(PRESETS))
    if smoked and not os.environ.get("COINFER_HOME"):
        # Its checkpoints and tables carry the preset's own name: in the checkout they would replace the
        # real ones (a real run would then load a one-epoch baseline).
        raise ValueError(f"{SMOKE_ENV}=1 writes checkpoints and tables under the preset's own name: set "
                         "COINFER_HOME to a scratch folder (coinfer.paths.project_root) for the smoke run")
    preset = override(PRESETS[name], smoke_overrides(PRESETS[name])) if smoked else PRESETS[name]
    return override(preset, overrides) if overrides else preset


def sweep_grid(name: str) -> SweepGrid:
    """:func:`get_preset`'s sweep grid of ``name`` (scaled by COINFER_SMOKE), or :data:`TINY_SWEEP` for ``"tiny"``.

    Parameters
    ----------
    name : {"quick", "paper", "tiny"}

    Returns
    -------
    SweepGrid

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> from coinfer.config import get_preset, sweep_grid
    >>> get_preset("quick", sweep=sweep_grid("tiny")).sweep.png_images
    50
    """
    if name == "tiny":
        return TINY_SWEEP
    if name not in PRESETS:
        raise ValueError(f"unknown sweep grid {name!r}; available: {', '.join([*PRESETS, 'tiny'])}")
    return get_preset(name).sweep      # COINFER_SMOKE scales it as it scales the preset's own
