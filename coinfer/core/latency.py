"""The co-inference latency model, the device's memory constraint, and choosing the best record.

Shao & Zhang (2020), section V-C: a Raspberry Pi 3 (24 GFLOP/s, 1 GB RAM shared by CPU, GPU and
other modules) runs the device part, an RTX 2080 Ti (13.45 TFLOP/s) the server part, and the
configuration to deploy is "the best model from the [lookup] table for the particular edge
environment" (section II-D). As in Neurosurgeon, each compute term is work / speed::

    record (from a LookupTable)                      environment
      device_macs, bits_per_image, server_macs  +    device FLOP/s, link rate, server FLOP/s, memory
                     |
                     v
    T = 2 * device_macs / device_flops          (device computation,  s)
      + bits_per_image  / rate_bits_per_s       (uplink transmission, s)
      + 2 * server_macs / server_flops          (server computation,  s)

    fits if  footprint(device part) <= memory the device gives the model
    best  = argmin T over the records that fit and reach the accuracy threshold

Units are :mod:`coinfer.units`' (stated once there): MACs with FLOPs = 2 x MACs and speeds in
FLOP/s; link rates in **bits per second** inside the library, read from the paper's KB/s with
**1 KB = 1000 bytes = 8000 bits** (:func:`coinfer.units.parse_rate`); memory in bytes.

Not modelled by the paper: queueing, protocol overhead, the downlink of the answer, the time to
encode/decode symbols (only the encoder/decoder networks' MACs are in the records), and the
difference between FLOP/s on paper and FLOP/s in practice (:func:`coinfer.experiments.calibration.calibrate`
measures that gap on this machine; chapter 6 discusses it). Where they matter (small payloads on a
real system), two optional measured terms add the first four (both 0 by default, the paper's model)::

      + per_request_s                            (round trip and framing of one request, s;
                                                  Environment.per_request_s, one number per system)
      + codec_s                                  (encoding and decoding the symbols, s; one number
                                                  per configuration, argument of latency())

:func:`coinfer.experiments.serving.measure` calibrates both on an unshaped link: ``codec_s`` is the
median time of the codec's ``compress`` on the device plus its ``decompress`` on the server, and
``per_request_s`` what a request takes beyond the two sides' measured work.

**The memory model.** The paper reports (i) that its PyTorch ResNet18 "needs more than 0.9 GB" on
the Pi, while the float32 weights are only 44.7 MB, and (ii) that "roughly 40% of the uncompressed
and 90% of the compressed model" fit. A byte-exact model of PyTorch on a Pi (interpreter, libtorch,
allocator caches, convolution workspaces) is out of reach, so coinfer uses the simplest model that
reproduces both statements and says what its two numbers mean::

    footprint(device part) = overhead_factor x 4 bytes x (parameters + peak activation elements)
    budget                 = device RAM x available_fraction

``overhead_factor`` (:data:`PAPER_OVERHEAD_FACTOR`, about 20) is calibrated so that the full-width,
unsplit ResNet18 needs 0.9 GB: it folds everything PyTorch needs beyond the raw float32 tensors into
a proportional cost. ``available_fraction`` (0.36 for the Pi preset) is the share of the Pi's 1 GB
that the model may use (the rest: operating system, GPU share, other modules), chosen so that the
budget is 40% of the 0.9 GB footprint of the uncompressed network. With it, the original network
can be split at most after ``layer3.1`` (the paper's s4, 25% of the parameters); a pruned device
part fits deeper. Peak activations are counted by running the device part once on one image with
forward hooks (:func:`peak_activation_elements`). The model is monotone in the split point.

Example::

    >>> from coinfer.core.latency import Environment, DEVICES, SERVERS, choose
    >>> from coinfer.units import parse_rate
    >>> env = Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], parse_rate("40KB/s"))
    >>> choice = choose(records, env, threshold=0.93)        # doctest: +SKIP
    >>> choice.record.split, choice.latency.total_s          # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from coinfer.core.costs import module_device
from coinfer.core.network import SPLIT_POINTS, CifarResNet18, split
from coinfer.results import LookupTable, Record, accuracy_threshold, merge_tables
from coinfer.stats import selection_accuracy
from coinfer.units import (BITS_PER_BYTE, BYTES_PER_FLOAT32, FLOPS_PER_MAC, KILO, check_positive, format_rate,
                           parse_bytes, parse_flops, parse_rate)

#: The paper's statement: the PyTorch ResNet18 "needs more than 0.9 GB memory" on the Pi.
PAPER_FULL_NETWORK_BYTES = 0.9e9
#: The paper's statement: "roughly ... 40% of the uncompressed model" fits on the Pi.
PAPER_UNCOMPRESSED_FRACTION = 0.40
#: The paper's threshold rate: below ~40 KB/s the framework keeps latency near 0.1 s.
PAPER_LOW_RATE_BPS = 40 * KILO * BITS_PER_BYTE
PAPER_LOW_RATE_LATENCY_S = 0.1


# --------------------------------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceSpec:
    """The edge device: its speed and the memory it gives the device part.

    Parameters
    ----------
    name : str
    flops : float
        Sustained speed in FLOP/s (FLOPs = 2 x MACs).
    memory_bytes : float
        RAM in bytes.
    available_fraction : float
        Share of ``memory_bytes`` the device part may occupy, in (0, 1]; the rest is taken by the
        operating system and other modules. The memory budget is ``memory_bytes * available_fraction``.
    """

    name: str
    flops: float
    memory_bytes: float
    available_fraction: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "flops", check_positive(f"{self.name}: flops (FLOP/s)", self.flops))
        object.__setattr__(self, "memory_bytes",
                           check_positive(f"{self.name}: memory_bytes", self.memory_bytes))
        fraction = check_positive(f"{self.name}: available_fraction", self.available_fraction)
        if fraction > 1:
            raise ValueError(f"{self.name}: available_fraction must be in (0, 1], got {fraction!r}")
        object.__setattr__(self, "available_fraction", fraction)

    @property
    def budget_bytes(self) -> float:
        """Memory the device part may use, in bytes."""
        return self.memory_bytes * self.available_fraction

    def scaled(self, compute: float = 1.0, memory: float = 1.0, name: str | None = None) -> "DeviceSpec":
        """This device with its speed multiplied by ``compute`` and its memory by ``memory``.

        Used to ask the paper's question of a smaller network: a width-1/8 ResNet18 does 1/61 of
        the full network's work, so a Pi slowed down 61 times runs it as long as the real Pi runs
        the paper's network (see :func:`scale_to_width`).
        """
        compute = check_positive("compute scale", compute)
        memory = check_positive("memory scale", memory)
        return replace(self, name=name or f"{self.name} (x{compute:.3g} speed, x{memory:.3g} memory)",
                       flops=self.flops * compute, memory_bytes=self.memory_bytes * memory)


@dataclass(frozen=True)
class ServerSpec:
    """The edge server: its speed in FLOP/s (and memory in bytes, informational; never binding)."""

    name: str
    flops: float
    memory_bytes: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "flops", check_positive(f"{self.name}: flops (FLOP/s)", self.flops))
        if self.memory_bytes is not None:
            object.__setattr__(self, "memory_bytes",
                               check_positive(f"{self.name}: memory_bytes", self.memory_bytes))

    def scaled(self, compute: float = 1.0, name: str | None = None) -> "ServerSpec":
        compute = check_positive("compute scale", compute)
        return replace(self, name=name or f"{self.name} (x{compute:.3g} speed)", flops=self.flops * compute)


#: The paper's edge device (section V-C). 36% of its 1 GB is available to the model: the budget is
#: then 0.36 GB = 40% of the 0.9 GB the uncompressed network needs (see the module docstring).
DEVICES = {
    "rpi3": DeviceSpec("Raspberry Pi 3", flops=24e9, memory_bytes=1e9,
                       available_fraction=PAPER_UNCOMPRESSED_FRACTION * PAPER_FULL_NETWORK_BYTES / 1e9),
}
#: The paper's edge server (section V-C).
SERVERS = {
    "rtx2080ti": ServerSpec("RTX 2080 Ti", flops=13.45e12, memory_bytes=11e9),
}


# --------------------------------------------------------------------------------------------------
# Hardware from the command line (quantities and units: coinfer.units)
# --------------------------------------------------------------------------------------------------

def parse_device(text: str) -> DeviceSpec:
    """A preset name (``rpi3``) or ``<FLOP/s>,<memory>[,<available fraction>]`` (``"24e9,1GB"``).

    A typed device gives the whole of its memory to the model unless a fraction follows.
    """
    if text in DEVICES:
        return DEVICES[text]
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"cannot read device {text!r}: give a preset ({', '.join(DEVICES)}) or "
                         "'<FLOP/s>,<memory>[,<available fraction>]', e.g. '24GFLOP/s,1GB' or '24e9,1e9,0.36'")
    fraction = 1.0
    if len(parts) == 3:
        try:
            fraction = float(parts[2])
        except ValueError:
            raise ValueError(f"device {text!r}: available fraction {parts[2]!r} is not a number in (0, 1]") from None
    return DeviceSpec(f"device {parts[0]}, {parts[1]}", flops=parse_flops(parts[0]),   # as given (its unit too)
                      memory_bytes=parse_bytes(parts[1]), available_fraction=fraction)


def parse_server(text: str) -> ServerSpec:
    """A preset name (``rtx2080ti``) or a speed (``"13.45TFLOP/s"``, ``"1e12"``)."""
    if text in SERVERS:
        return SERVERS[text]
    try:
        flops = parse_flops(text)
    except ValueError as error:
        raise ValueError(f"{error}; or give a server preset: {', '.join(SERVERS)}") from None
    return ServerSpec(f"server {text}", flops=flops)


# --------------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------------

def peak_activation_elements(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Largest number of activation elements alive at once while ``module`` runs on one input.

    Runs ``module`` on one zero input of ``input_shape`` (no batch axis) with forward hooks on
    every submodule. At each leaf module the live set is: its input, its output (once, if computed
    in place), and the inputs held by the containers around it that are not ``nn.Sequential``
    (a residual block keeps its input until the addition). Tensors are identified by their storage,
    so a tensor is never counted twice. This estimates what PyTorch keeps alive; it misses
    temporaries held only in Python locals (e.g. the residual branch's output while the shortcut
    convolution runs), which the memory model's overhead factor absorbs. Parameters are not
    included. The input image counts (it is alive at the start).
    """
    held: list[dict[int, int]] = []
    peak = [math.prod(input_shape)]

    def tensors(value) -> dict[int, int]:
        found = {}
        for t in (value if isinstance(value, (tuple, list)) else (value,)):
            if isinstance(t, torch.Tensor):
                found[t.untyped_storage().data_ptr()] = t.numel()
        return found

    def before(mod, inputs):
        keeps_input = not isinstance(mod, nn.Sequential) and any(True for _ in mod.children())
        held.append(tensors(inputs) if keeps_input else {})

    def after(mod, inputs, output):
        held.pop()
        if any(True for _ in mod.children()):
            return
        live: dict[int, int] = {}
        for group in held:
            live.update(group)
        live.update(tensors(inputs))
        live.update(tensors(output))
        peak[0] = max(peak[0], sum(live.values()))

    handles = []
    for mod in module.modules():
        handles.append(mod.register_forward_pre_hook(before))
        handles.append(mod.register_forward_hook(after))
    try:
        was_training = module.training
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, *input_shape, device=module_device(module)))
        module.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return int(peak[0])


def split_activations(model: CifarResNet18, input_shape: Sequence[int] = (3, 32, 32)) -> dict[str, int]:
    """:func:`peak_activation_elements` of the device part at every split point of ``model``.

    Between stages only the stage's output is alive, so the device part's peak after stage k is the
    largest of the stages' own peaks up to k (each includes the stage's input); the stages are run
    once. At ``input`` the device holds only the image. Pruning never enlarges activations, so these
    values of the unpruned network bound those of a pruned device part at the same split.
    """
    peaks, shape = [math.prod(input_shape)], tuple(input_shape)
    x = torch.zeros(1, *shape, device=module_device(model))
    with torch.no_grad():
        for stage in model.eval().stages().values():
            peaks.append(max(peaks[-1], peak_activation_elements(stage, tuple(x.shape[1:]))))
            x = stage(x)
    return dict(zip(SPLIT_POINTS, peaks))


@dataclass(frozen=True)
class MemoryModel:
    """Footprint of a device part: ``overhead_factor x bytes_per_value x (params + peak activations)``.

    ``overhead_factor`` folds PyTorch's runtime costs into a proportional factor (see the module
    docstring); ``1.0`` gives the raw float32 size.
    """

    overhead_factor: float
    bytes_per_value: int = BYTES_PER_FLOAT32

    def __post_init__(self):
        object.__setattr__(self, "overhead_factor", check_positive("overhead_factor", self.overhead_factor))

    def footprint_bytes(self, params: int, activations: int) -> float:
        """Bytes the device part needs (parameters and activations are element counts)."""
        return self.overhead_factor * (self.bytes_per_value * (params + activations))


def calibrate_overhead_factor(model: CifarResNet18 | None = None,
                              target_bytes: float = PAPER_FULL_NETWORK_BYTES) -> float:
    """The overhead factor that makes the whole ``model`` (default: full-width ResNet18) need ``target_bytes``."""
    _, params, activations = _whole_network(model) if model is not None else _width_totals(1.0)
    return target_bytes / (BYTES_PER_FLOAT32 * (params + activations))


def _whole_network(model: CifarResNet18) -> tuple[int, int, int]:
    """MACs, parameters (as :mod:`coinfer.core.costs` counts them) and peak activations of all of ``model``."""
    from coinfer.core.costs import profile_splits

    whole = profile_splits(model)[-1]
    return whole.device_macs, whole.device_params, split_activations(model)["output"]


@functools.lru_cache(maxsize=8)
def _width_totals(width: float) -> tuple[int, int, int]:
    from coinfer.core.network import resnet18

    return _whole_network(resnet18(width=width))


#: :func:`calibrate_overhead_factor` of the full-width ResNet18 (11,173,962 parameters, 196,608
#: peak activation elements), so that it needs the paper's 0.9 GB; a test recomputes it.
PAPER_OVERHEAD_FACTOR = 0.9e9 / (4 * (11_173_962 + 196_608))
PAPER_MEMORY = MemoryModel(PAPER_OVERHEAD_FACTOR)


# --------------------------------------------------------------------------------------------------
# Latency and the choice
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Environment:
    """Where the inference runs: device, server, uplink rate (bit/s) and the memory model.

    ``per_request_s`` is a measured cost of every request beyond FLOPs, bits and symbol coding (round
    trip, framing, handing the request between threads), seconds; 0 (the default) is the paper's model.
    """

    device: DeviceSpec
    server: ServerSpec
    rate_bps: float
    memory: MemoryModel = PAPER_MEMORY
    per_request_s: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "rate_bps", parse_rate(self.rate_bps))
        object.__setattr__(self, "per_request_s", check_positive("per_request_s", self.per_request_s,
                                                                  allow_zero=True))

    def with_rate(self, rate: str | float) -> "Environment":
        return replace(self, rate_bps=parse_rate(rate))

    def describe(self) -> str:
        return (f"{self.device.name} ({self.device.flops / 1e9:.4g} GFLOP/s, "
                f"{self.device.budget_bytes / 1e6:.4g} MB for the model) -> {format_rate(self.rate_bps)} -> "
                f"{self.server.name} ({self.server.flops / 1e12:.4g} TFLOP/s)")


@dataclass(frozen=True)
class LatencyBreakdown:
    """Seconds per image on the device, on the link and on the server, the per-request term and the
    codec term (symbol coding, both sides)."""

    device_s: float
    communication_s: float
    server_s: float
    request_s: float = 0.0
    codec_s: float = 0.0

    @property
    def total_s(self) -> float:
        # Summed in this order everywhere (the explorer's JavaScript too, whose request and codec terms
        # are 0), so that both agree exactly: adding 0.0 changes no float.
        return self.device_s + self.communication_s + self.server_s + self.request_s + self.codec_s


def latency(record: Record, env: Environment, codec_s: float = 0.0) -> LatencyBreakdown:
    """End-to-end latency of ``record`` in ``env`` (see the module docstring for the formula).

    Parameters
    ----------
    record : Record
    env : Environment
    codec_s : float
        Measured seconds to encode the symbols on ``env``'s device and decode them on its server,
        beyond the MACs the record counts (>= 0; 0, the default, is the paper's model).
    """
    return LatencyBreakdown(device_s=FLOPS_PER_MAC * record.device_macs / env.device.flops,
                            communication_s=record.bits_per_image / env.rate_bps,
                            server_s=FLOPS_PER_MAC * record.server_macs / env.server.flops,
                            request_s=env.per_request_s,
                            codec_s=check_positive("codec_s", codec_s, allow_zero=True))


#: Where a record may carry its own peak activation count (elements, batch of one).
ACTIVATIONS_KEY = "device_peak_activations"


def record_activations(record: Record, activations: Mapping[str, int] | None = None) -> int:
    """Peak activation elements of ``record``'s device part.

    Taken from ``record.extra["device_peak_activations"]`` when the record carries it, else from
    ``activations[record.split]`` (e.g. :func:`split_activations` of the table's unpruned network,
    an upper bound for pruned parts).
    """
    if ACTIVATIONS_KEY in record.extra:
        return int(record.extra[ACTIVATIONS_KEY])
    if activations is None or record.split not in activations:
        raise ValueError(f"record {record.key} has no extra[{ACTIVATIONS_KEY!r}] and no activation count "
                         f"was given for split {record.split!r}; pass activations=split_activations(model)")
    return int(activations[record.split])


def footprint_bytes(record: Record, memory: MemoryModel = PAPER_MEMORY,
                    activations: Mapping[str, int] | None = None) -> float:
    """Memory ``record``'s device part needs under ``memory``, in bytes."""
    return memory.footprint_bytes(record.device_params, record_activations(record, activations))


@dataclass(frozen=True)
class Choice:
    """The best record for an environment, with why it won."""

    record: Record
    latency: LatencyBreakdown
    footprint_bytes: float
    candidates: int     # records of the method(s) considered
    feasible: int       # of which met the accuracy threshold and fit in memory


class NoFeasibleConfiguration(ValueError):
    """No record meets both the accuracy threshold and the memory budget; says which failed how."""

    def __init__(self, method: str | None, candidates: int, below_accuracy: int, over_memory: int,
                 threshold: float | None, budget_bytes: float, best_accuracy: float | None,
                 smallest_footprint: float | None):
        self.method, self.candidates = method, candidates
        self.below_accuracy, self.over_memory = below_accuracy, over_memory
        self.threshold, self.budget_bytes = threshold, budget_bytes
        who = f"method {method!r}" if method else "any method"
        if candidates == 0:
            reason = "the table has no records" + (f" of method {method!r}" if method else "")
        else:
            parts = []
            if below_accuracy:
                parts.append(f"{below_accuracy} below the accuracy threshold {threshold:.4f} "
                             f"(best accuracy {best_accuracy:.4f})")
            if over_memory:
                parts.append(f"{over_memory} over the memory budget {budget_bytes / 1e6:.4g} MB "
                             f"(smallest footprint {smallest_footprint / 1e6:.4g} MB)")
            reason = f"of {candidates} records, " + " and ".join(parts)
        super().__init__(f"no configuration of {who} fits: {reason}")

    @property
    def reason(self) -> str:
        """``"accuracy"``, ``"memory"``, ``"accuracy and memory"`` or ``"no records"``."""
        if self.candidates == 0:
            return "no records"
        return " and ".join(w for w, n in (("accuracy", self.below_accuracy), ("memory", self.over_memory)) if n)


def _sort_key(record: Record, breakdown: LatencyBreakdown) -> tuple:
    # Ties (equal latency to the last bit) go to less device work, then fewer bits, then the higher
    # accuracy, then a fixed order of the key, so the choice never depends on the table's order.
    return (breakdown.total_s, record.device_macs, record.bits_per_image, -selection_accuracy(record),
            record.method, SPLIT_POINTS.index(record.split), record.sparsity, record.code_size, record.channel)


def choose(records: Iterable[Record], env: Environment, threshold: float | None = None,
           method: str | None = None, activations: Mapping[str, int] | None = None) -> Choice:
    """The record with the least latency in ``env`` among those that fit.

    Parameters
    ----------
    records : iterable of Record
    env : Environment
    threshold : float or None
        Minimum accuracy (a fraction); ``None`` accepts every accuracy. It is compared with each
        record's :func:`coinfer.stats.selection_accuracy`, its validation accuracy (its test
        accuracy if it has none), so it must be a threshold on that split:
        :meth:`Candidates.threshold` gives it. The test accuracy is only reported.
    method : str or None
        Consider only this method's records (``None``: all methods, the overall best).
    activations : mapping split point -> elements, optional
        Peak activations for records that do not carry their own (see :func:`record_activations`).

    Raises
    ------
    NoFeasibleConfiguration
        When no record reaches ``threshold`` and fits the device's memory; its message counts the
        records that failed on accuracy and on memory.
    """
    if threshold is not None:
        threshold = check_positive("accuracy threshold", threshold, allow_zero=True)
        if threshold > 1:
            raise ValueError(f"accuracy threshold must be a fraction in [0, 1], got {threshold!r}")
    pool = [r for r in records if method is None or r.method == method]
    budget = env.device.budget_bytes
    best, below, over, feasible = None, 0, 0, 0
    for record in pool:
        size = footprint_bytes(record, env.memory, activations)
        accurate = threshold is None or selection_accuracy(record) >= threshold
        fits = size <= budget
        below += not accurate
        over += not fits
        if accurate and fits:
            feasible += 1
            breakdown = latency(record, env)
            if best is None or _sort_key(record, breakdown) < _sort_key(best[0], best[1]):
                best = (record, breakdown, size)
    if best is None:
        raise NoFeasibleConfiguration(
            method, len(pool), below, over, threshold, budget,
            max((selection_accuracy(r) for r in pool), default=None),
            min((footprint_bytes(r, env.memory, activations) for r in pool), default=None))
    return Choice(best[0], best[1], best[2], candidates=len(pool), feasible=feasible)


def choose_per_method(records: Sequence[Record], env: Environment, threshold: float | None = None,
                      activations: Mapping[str, int] | None = None
                      ) -> dict[str, Choice | NoFeasibleConfiguration]:
    """:func:`choose` for every method in ``records`` (in order of first appearance)."""
    out: dict[str, Choice | NoFeasibleConfiguration] = {}
    for method in dict.fromkeys(r.method for r in records):
        try:
            out[method] = choose(records, env, threshold, method=method, activations=activations)
        except NoFeasibleConfiguration as none_fits:
            out[method] = none_fits
    return out


# --------------------------------------------------------------------------------------------------
# The candidates: records of lookup tables with what the chooser needs
# --------------------------------------------------------------------------------------------------

@dataclass
class Candidates:
    """Records from one or more lookup tables, ready for :func:`choose`.

    ``activations`` bounds the peak activations of records that carry none (those of the unpruned
    network of the tables' width); ``width`` is that network's width; ``baseline_accuracy`` and
    ``accuracy_drop`` come from the tables' provenance (``None`` for tables written before they
    were recorded), and ``baseline_val_accuracy`` where every table holds out a validation split:
    then every choice is made on validation accuracies (:meth:`threshold`); ``sources`` describe
    the tables. Read from files by :func:`coinfer.experiments.candidates.load_candidates`.
    """

    records: list[Record]
    activations: dict[str, int]
    width: float
    preset: str
    baseline_accuracy: float | None = None
    accuracy_drop: float | None = None
    sources: list[str] = field(default_factory=list)
    baseline_val_accuracy: float | None = None

    @classmethod
    def from_tables(cls, tables: Sequence[LookupTable], width: float) -> "Candidates":
        """The merged records of ``tables`` (later tables replace the same configuration in earlier ones).

        Parameters
        ----------
        tables : sequence of LookupTable
            Tables of one preset and one baseline.
        width : float
            Width of the preset's network (its activations bound the records that carry none).

        Returns
        -------
        Candidates

        Raises
        ------
        ValueError
            If the tables come from different presets or baselines, or some hold out a validation
            split and others do not (their records would be chosen on different splits).

        Examples
        --------
        >>> from coinfer.core.latency import Candidates
        >>> from coinfer.paths import table_path
        >>> from coinfer.results import load_table
        >>> tables = Candidates.from_tables([load_table(table_path("original-float32", "quick"))], width=1 / 8)
        >>> len(tables.records), tables.activations["input"], round(tables.threshold(), 4)
        (12, 3072, 0.8906)
        """
        presets = {t.provenance.preset for t in tables}
        if len(presets) != 1:
            raise ValueError(f"the tables come from different presets {sorted(presets)}; "
                             "choose among one preset's tables")
        baselines = {(t.provenance.baseline_accuracy, t.provenance.accuracy_drop) for t in tables
                     if t.provenance.baseline_accuracy is not None}
        if len(baselines) > 1:
            raise ValueError(f"the tables come from different baselines (accuracy, drop) {sorted(baselines)}")
        baseline, drop = baselines.pop() if baselines else (None, None)
        validated = {t.provenance.validation is not None for t in tables}
        if len(validated) > 1:
            raise ValueError("some tables hold out a validation split and some do not: "
                             + ", ".join(f"{t.provenance.describe()} ({'validation' if t.provenance.validation else 'none'})"
                                         for t in tables) + "; regenerate a table made before the validation split, "
                             "and leave out measured ones (serve_latency), which hold no validation accuracy")
        val_baselines = {t.provenance.baseline_val_accuracy for t in tables if t.provenance.validation}
        if None in val_baselines:   # its threshold would fall back to the test split, against validation accuracies
            raise ValueError("a table holds out a validation split but not its baseline's validation accuracy: "
                             "regenerate it (python -m coinfer run <table>) to choose on the validation split")
        if len(val_baselines) > 1:
            raise ValueError(f"the tables come from different baselines (validation accuracy) {sorted(val_baselines)}")
        baseline_val = val_baselines.pop() if val_baselines else None
        from coinfer.core.network import resnet18

        return cls(records=merge_tables(tables), activations=split_activations(resnet18(width=width)),
                   width=width, preset=presets.pop(), baseline_accuracy=baseline, accuracy_drop=drop,
                   sources=[t.provenance.describe() for t in tables], baseline_val_accuracy=baseline_val)

    @property
    def methods(self) -> list[str]:
        """The methods of the records, in order of first appearance."""
        return list(dict.fromkeys(r.method for r in self.records))

    def threshold(self) -> float:
        """The tables' accuracy threshold: their baseline accuracy minus their preset's drop, on the
        validation split where the tables hold one out (the split :func:`choose` compares), else
        on the test split.

        Raises
        ------
        ValueError
            If the tables do not carry their baseline accuracy (give a threshold explicitly).
        """
        if self.baseline_accuracy is None or self.accuracy_drop is None:
            raise ValueError("the tables do not record their baseline accuracy and drop; give the accuracy "
                             "threshold explicitly (e.g. --threshold 88%)")
        if self.baseline_val_accuracy is not None:
            return accuracy_threshold(self.baseline_val_accuracy, self.accuracy_drop)
        return accuracy_threshold(self.baseline_accuracy, self.accuracy_drop)


# --------------------------------------------------------------------------------------------------
# Hardware scaled to a narrower network
# --------------------------------------------------------------------------------------------------

def scale_to_width(device: DeviceSpec, server: ServerSpec, width: float,
                   memory: MemoryModel = PAPER_MEMORY) -> tuple[DeviceSpec, ServerSpec]:
    """``device`` and ``server`` slowed (and the device's memory shrunk) for a ResNet18 of ``width``.

    A width-``w`` network needs less work and memory than the paper's full-width one; dividing the
    hardware's speeds by the ratio of the unsplit networks' MACs, and the device's memory by the
    ratio of their footprints, makes the narrow network take as long and fill as large a share of
    memory as the paper's network does on the paper's hardware. The link is not scaled: that is
    the variable of Fig. 4.
    """
    (macs, params, act), (full_macs, full_params, full_act) = _width_totals(width), _width_totals(1.0)
    size, full_size = memory.footprint_bytes(params, act), memory.footprint_bytes(full_params, full_act)
    label = f"width {width:g}"
    return (device.scaled(compute=macs / full_macs, memory=size / full_size,
                          name=f"{device.name}, scaled to {label}"),
            server.scaled(compute=macs / full_macs, name=f"{server.name}, scaled to {label}"))
