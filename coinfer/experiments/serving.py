"""The serving table: measured co-inference latency beside the latency model's prediction.

Shao & Zhang (2020), section V-C, predict the end-to-end latency of a split network from a model:
device FLOPs over device FLOP/s, plus bits over the link rate, plus server FLOPs over server FLOP/s
(:func:`coinfer.core.latency.latency`). This experiment runs the real system
(:mod:`coinfer.serve.server`: a device process and an edge-server process over a shaped TCP link) for every
configuration and link rate, and sets the measurements beside the prediction.

:func:`run` produces ``data/results/serve_latency_<preset>.json``::

    python -m coinfer run serve_latency --preset quick     # = measure --images 30 --threads 1 --save

On a machine shared with other jobs the small latencies are mostly waits for a core; run it when the
machine is quiet, or under a real-time policy (``chrt -f 20 python -m coinfer run serve_latency
--preset quick``, as root), which the table records (:func:`scheduling_policy`).

The prediction adds to the paper's terms (compute on each side + bits / rate) two it leaves out:
each configuration's symbol coding and one per-request cost (round trip and framing); the compute and
these terms are measured on unshaped requests of the same run, the link is the model's bits / rate
(:func:`measure`). Each row also keeps the ratio to the paper's model (FLOPs and bits) and to one FLOP/s
per side. :func:`coinfer.views.serving.ratio_table` reads the measured/modelled ratios back from the table.

Units: rates in bits per second, written as the paper does (``40KB/s`` is 40,000 B/s, 320,000
bit/s; a row keeps ``rate_Bps`` in bytes/s too); times in seconds; MACs are
multiply-accumulates (FLOPs = 2 x MACs).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from coinfer.config import Preset, get_preset
from coinfer.units import BITS_PER_BYTE, FLOPS_PER_MAC, format_rate, parse_rate
from coinfer.results import LookupTable
from coinfer.serve import wire
from coinfer.serve.configuration import (Configuration, build_configurations, codec_checkpoint_path,
                                         load_model_for, load_test_images, parse_spec)
from coinfer.serve.device import DeviceClient, summarize
from coinfer.serve.load import concurrency_probe
from coinfer.serve.link import LinkShaper
from coinfer.serve.server import EdgeServer, ServerProcess

#: Configurations measured when none are named: the raw and 8-bit feature after stage 2, the 8-bit
#: feature after stage 3 plain and Huffman-coded (the paper's "original network" baseline), and the
#: raw pooled feature (paper split points s3, s3, s4, s4, s5).
DEFAULT_SERVE_CONFIGS = ("layer2.1:float32", "layer2.1:uint8", "layer3.1:uint8", "layer3.1:huffman",
                         "pool:float32")

#: Learned codecs added when their checkpoints exist (``python -m coinfer train-codec``).
DEFAULT_LEARNED_CONFIGS = ("layer2.1:learned:d16-l4", "layer3.1:learned:d16-l4")

#: Test images per (configuration, link) in the committed table (``python -m coinfer run serve_latency``).
TABLE_IMAGES = 30

#: Link rates of the committed table, bits/s.
DEFAULT_RATES = tuple(parse_rate(r) for r in ("10KB/s", "40KB/s", "1000KB/s"))


def rate_label(rate_bps: float | None) -> str:
    """A measured row's rate as the paper writes it (``"40 KB/s"``), ``"inf"`` for an unshaped link.

    Parameters
    ----------
    rate_bps : float or None
        Bits per second; None for no shaping.

    Examples
    --------
    >>> rate_label(parse_rate("40KB/s")), rate_label(None)
    ('40 KB/s', 'inf')
    """
    return "inf" if rate_bps is None else format_rate(rate_bps)


def default_specs(preset: Preset, checkpoint=None) -> list[str]:
    """The configurations served and measured when none are named: :data:`DEFAULT_SERVE_CONFIGS`, plus
    :data:`DEFAULT_LEARNED_CONFIGS` whose codec checkpoints exist (only for the preset's own baseline).

    Parameters
    ----------
    preset : Preset
    checkpoint : path, optional
        A backbone other than the preset's baseline: then no stored learned codec fits it.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> default_specs(get_preset("quick"))[:2]
    ['layer2.1:float32', 'layer2.1:uint8']
    """
    specs = list(DEFAULT_SERVE_CONFIGS)
    for spec in DEFAULT_LEARNED_CONFIGS:
        point, _, size = parse_spec(spec)
        if checkpoint is None and codec_checkpoint_path(preset.name, point, size).exists():
            specs.append(spec)
    return specs


def configuration_record(configuration: Configuration, payload_bits: float, accuracy: float):
    """The configuration as a :class:`coinfer.results.Record`; ``bits_per_image`` is ``payload_bits``,
    the payload the device sends per image as its codec counts it (``codec.bits``), header excluded."""
    from coinfer.results import Record

    return Record(method=getattr(configuration.codec, "method", "original"), split=configuration.split,
                  accuracy=accuracy, device_macs=configuration.device_macs,
                  device_params=sum(p.numel() for p in configuration.device_part.parameters())
                  + getattr(configuration.codec, "device_params", 0),
                  server_macs=configuration.server_macs, bits_per_image=payload_bits,
                  code_size=getattr(configuration.codec, "code_size", configuration.codec.name))


def predict_latency(record, rate: float | None, device_flops: float, server_flops: float,
                    per_request_s: float = 0.0, codec_s: float = 0.0) -> dict:
    """:func:`coinfer.core.latency.latency` of ``record`` with both sides at the given FLOP/s, seconds.

    Parameters
    ----------
    record : coinfer.results.Record
        The configuration (:func:`configuration_record`).
    rate : float or None
        Bits/s; None (an unshaped loopback link) is modelled as an infinitely fast link.
    device_flops, server_flops : float
        FLOP/s of the two sides.
    per_request_s : float
        The measured per-request term (``per_request_s`` of :class:`coinfer.core.latency.Environment`); 0 is
        the paper's model.
    codec_s : float
        The configuration's measured symbol-coding term (``codec_s`` of :func:`coinfer.core.latency.latency`);
        0 is the paper's model.

    Returns
    -------
    dict
        ``device_s``, ``send_s``, ``server_s``, ``request_s``, ``codec_s`` and their sum ``total_s``.

    Examples
    --------
    >>> from coinfer.results import Record
    >>> r = Record(method="original", split="pool", accuracy=0.9, device_macs=10**6, device_params=0, server_macs=0,
    ...            bits_per_image=8000)
    >>> p = predict_latency(r, 8000.0, 2e9, 2e9, per_request_s=0.002, codec_s=0.001)
    >>> round(p["device_s"], 6), p["send_s"], p["request_s"], p["codec_s"], round(p["total_s"], 6)
    (0.001, 1.0, 0.002, 0.001, 1.004)
    """
    from coinfer.core.latency import DeviceSpec, Environment, ServerSpec, latency

    memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    env = Environment(DeviceSpec("device process (this CPU)", flops=device_flops, memory_bytes=memory),
                      ServerSpec("server process (this CPU)", flops=server_flops),
                      rate_bps=rate if rate is not None else 1.0, per_request_s=per_request_s)
    breakdown = latency(record, env, codec_s=codec_s)
    send_s = breakdown.communication_s if rate is not None else 0.0
    return {"device_s": breakdown.device_s, "send_s": send_s, "server_s": breakdown.server_s,
            "request_s": breakdown.request_s, "codec_s": breakdown.codec_s,
            "total_s": breakdown.device_s + send_s + breakdown.server_s + breakdown.request_s + breakdown.codec_s}


def calibrate_flops(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32), repeats: int = 20) -> float:
    """This CPU's effective FLOP/s on ``model`` at batch size 1: 2 x MACs (thop) / median forward time
    (:func:`coinfer.core.costs.time_forward`).

    The device and the server share one machine on loopback, so one calibrated speed stands in for the
    paper's 24 GFLOP/s (Raspberry Pi 3) and 13.45 TFLOP/s (RTX 2080 Ti).
    """
    from coinfer.core.costs import thop_macs, time_forward

    macs, _ = thop_macs(model, tuple(input_shape))
    return 2 * macs / float(np.median(time_forward(model, tuple(input_shape), repeats=repeats)))



@dataclass
class MeasureResult:
    """What :func:`measure` found: one row per (configuration, rate), the calibrated terms, the server's counters."""

    rows: list[dict] = field(default_factory=list)
    flops_per_s: float = 0.0
    server_stats: dict = field(default_factory=dict)
    #: The machine's 1-minute load average before and after (other processes' load disturbs timings).
    load_average: tuple[float, float] = (float("nan"), float("nan"))
    #: One FLOP/s per side while serving, fitted on all calibration requests (:func:`serving_flops`,
    #: for ``ratio_flops``; ``flops_per_s`` when there are none).
    device_flops_per_s: float = 0.0
    server_flops_per_s: float = 0.0
    #: The calibrated per-request term (round trip and framing), seconds, one for all configurations.
    request_s: float = 0.0
    #: The calibrated symbol-coding term of each configuration (by spec), seconds.
    codec_s: dict = field(default_factory=dict)
    #: Per configuration (by spec): medians of the unshaped calibration requests (:func:`calibration_summary`).
    calibration: dict = field(default_factory=dict)

    def table(self) -> str:
        head = (f"{'configuration':<23} {'rate':>9} {'bytes':>7} {'median s':>9} {'p95 s':>8} "
                f"{'device':>8} {'send':>8} {'server':>8} {'other':>7} {'codec':>7} {'predicted':>9} "
                f"{'meas/pred':>9} {'flops':>6} {'paper':>6} {'acc':>5}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['spec']:<23} {r['rate']:>9} {r['frame_bytes_mean']:>7.0f} {r['total_median_s']:>9.4f} "
                f"{r['total_p95_s']:>8.4f} {r['device_median_s']:>8.4f} {r['send_median_s']:>8.4f} "
                f"{r['server_median_s']:>8.4f} {r['other_median_s']:>7.4f} {r['predicted']['codec_s']:>7.4f} "
                f"{r['predicted']['total_s']:>9.4f} {r['ratio']:>9.2f} {r['ratio_flops']:>6.2f} {r['ratio_paper']:>6.2f} "
                f"{r['accuracy']:>5.2f}")
        lines.append(f"times in seconds (median over images unless p95); bytes per frame incl. the "
                     f"{wire.HEADER_SIZE}-byte header; prediction: each side's measured compute and the codec term "
                     f"+ frame bits / rate + the per-request term {self.request_s * 1e3:.3f} ms (all measured on "
                     f"unshaped requests); 'flops': compute at one serving FLOP/s per side "
                     f"({self.device_flops_per_s / 1e9:.2f} and {self.server_flops_per_s / 1e9:.2f} GFLOP/s); "
                     f"'paper': FLOPs at {self.flops_per_s / 1e9:.2f} GFLOP/s (a tight loop) and bits alone; "
                     f"server held at most "
                     f"{self.server_stats.get('max_concurrent_connections', 0)} connections at once")
        return "\n".join(lines)


def backbone_macs(configuration: Configuration) -> tuple[int, int]:
    """MACs of the network parts before and after the split, without the codec's own networks."""
    return (configuration.device_macs - configuration.codec.device_macs,
            configuration.server_macs - configuration.codec.server_macs)


def calibration_summary(runs: Sequence, configuration: Configuration) -> dict:
    """Medians (seconds) of one configuration's unshaped calibration requests.

    ``device_s`` (device part and encoder, of which ``encode_s`` the encoder), ``server_s`` (decoder,
    ``decode_s``, and server part), ``total_s``, ``coding_s`` (encode + decode, the codec's whole
    time) and ``request_s``: what a request takes beyond the two sides' measured work (``total -
    device - server``: the trip through the kernels, reading and framing, the hand-over to the
    server's worker thread and the reply).
    """
    return {"images": len(runs),
            "total_s": float(np.median([m.total_s for m in runs])),
            "device_s": float(np.median([m.device_s for m in runs])),
            "encode_s": float(np.median([m.device_encode_s for m in runs])),
            "server_s": float(np.median([m.server_s for m in runs])),
            "decode_s": float(np.median([m.server_decode_s for m in runs])),
            "coding_s": float(np.median([m.device_encode_s + m.server_decode_s for m in runs])),
            "request_s": float(np.median([m.total_s - m.device_s - m.server_s for m in runs]))}


def serving_flops(calibration: dict, configurations: Sequence[Configuration], fallback: float) -> tuple[float, float]:
    """FLOP/s of the device and of the server while serving: each side's network FLOPs over its time.

    One speed per side, as in the paper's model, fitted as total FLOPs / total median time of the
    network parts (codecs excluded) over every configuration's calibration requests (the
    least-work-weighted fit of :func:`coinfer.experiments.calibration.calibrate`). Measured in the
    serving loop rather than in a tight loop of forward passes (:func:`calibrate_flops`), it includes
    what serving costs a network: caches and branch predictors cooled by the socket work and the
    other process between two images. A side whose networks do no work (a split at ``input`` or
    ``output``) gets ``fallback``: its speed multiplies nothing.
    """
    sides = []
    for side, part in ((0, "device"), (1, "server")):
        flops = sum(FLOPS_PER_MAC * backbone_macs(c)[side] for c in configurations)
        seconds = sum(calibration[c.spec][f"{part}_s"] - calibration[c.spec]["encode_s" if side == 0 else "decode_s"]
                      for c in configurations)
        sides.append(flops / seconds if flops > 0 and seconds > 0 else fallback)
    return sides[0], sides[1]


def part_speeds(summary: dict, configuration: Configuration, fallback: float) -> tuple[float, float]:
    """FLOP/s at which this configuration's device and server parts ran in its calibration requests:
    the record's MACs on each side (:func:`configuration_record`) over that side's median time less
    its codec's (``device_s - encode_s``, ``server_s - decode_s``); ``fallback`` for a side with no
    MACs or no time. With them the model's compute terms are the measured times themselves.
    """
    speeds = []
    for macs, seconds in ((configuration.device_macs, summary["device_s"] - summary["encode_s"]),
                          (configuration.server_macs, summary["server_s"] - summary["decode_s"])):
        speeds.append(FLOPS_PER_MAC * macs / seconds if macs > 0 and seconds > 0 else fallback)
    return speeds[0], speeds[1]


def codec_term(summary: dict, configuration: Configuration, device_flops: float, server_flops: float) -> float:
    """The configuration's measured codec term, seconds: its encode + decode time (``summary["coding_s"]``)
    less its networks' MACs at the two sides' FLOP/s (they are in the FLOP terms already); never below 0."""
    codec = configuration.codec
    return max(0.0, summary["coding_s"] - FLOPS_PER_MAC * (codec.device_macs / device_flops
                                                           + codec.server_macs / server_flops))


def measure(configurations: Sequence[Configuration], images: torch.Tensor, labels: torch.Tensor,
            rates: Sequence[float | None], address: tuple[str, int] | None = None,
            flops_per_s: float | None = None, burst: float = 0.0, warmup: int = 2,
            progress: Callable[[str], None] | None = None, per_request: bool = False) -> MeasureResult:
    """Measure every configuration at every link rate (bits/s; None: unshaped), ``len(images)`` images each.

    Starts an :class:`EdgeServer` on loopback in this process unless ``address`` points at a running
    one. ``flops_per_s`` (FLOPs per second; the paper's model's speed, of both sides) defaults to
    :func:`calibrate_flops` on the first configuration's network. Each configuration uses one connection; each of its links (rates) first
    runs ``warmup`` unshaped images that are not counted. Then every image goes through every link,
    in a random order for each image (seeded), so that a burst of load from other processes, or a
    drift of it, falls on all links of a configuration alike rather than on one row; and so that no
    link always follows the same one (a request after a long wait for a slow link finds its caches
    cooled: in a fixed order that cost would fall on one row only).

    With ``per_request`` (as ``python -m coinfer measure`` runs it), each configuration also sends
    every image over an unshaped link in the same round robin: the calibration
    (:func:`calibration_summary`). From it come the model's terms:

    * each configuration's device and server parts at the speeds they ran at (:func:`part_speeds`):
      their measured times, as a profiling latency model (Neurosurgeon's) uses them;
    * each configuration's codec term ``codec_s`` (``codec_s`` of :func:`coinfer.core.latency.latency`):
      its measured encode + decode time, what the FLOP model misses of a range or Huffman coder in
      software;
    * one per-request term ``request_s`` for all configurations (``per_request_s`` of
      :class:`coinfer.core.latency.Environment`): the median over every configuration's calibration
      requests of what they took beyond the two sides' work (round trip and framing do not depend on
      the configuration).

    The link stays bits / rate: the shaped rows test the model rather than refit it. Each row also
    keeps two coarser models' ratios: ``ratio_flops``, one FLOP/s per side fitted on all
    calibration requests (:func:`serving_flops`) with the codec term beyond its MACs
    (:func:`codec_term`) and the per-request term; and ``ratio_paper``, the paper's model (FLOPs at
    ``flops_per_s`` and bits only).
    """
    if flops_per_s is None:
        full = nn.Sequential(configurations[0].device_part, configurations[0].server_part)
        flops_per_s = calibrate_flops(full, tuple(images.shape[1:]))
    server = None
    if address is None:
        server = EdgeServer(configurations).start()
        address = server.address
    result = MeasureResult(flops_per_s=flops_per_s)
    load_before = os.getloadavg()[0]
    links = ["calibration"] * per_request + list(rates)
    measured: list[tuple[Configuration, list[list]]] = []
    try:
        for configuration in configurations:
            with DeviceClient(configuration, *address) as client:
                client.check()
                shapers = [LinkShaper(client.sock, None if link == "calibration" else link, burst) for link in links]
                for _ in links:
                    for image in images[:warmup]:
                        client.infer(image)
                runs: list[list] = [[] for _ in links]
                order = np.random.default_rng(0)
                for image in images:
                    for k in order.permutation(len(links)):
                        client.link = shapers[k]
                        runs[k].append(client.infer(image))
            measured.append((configuration, runs))
            if progress:
                progress(f"{configuration.spec}: median " + ", ".join(
                    f"{float(np.median([m.total_s for m in r])):.4f} s at "
                    f"{'inf (calibration)' if link == 'calibration' else rate_label(link)}"
                    for link, r in zip(links, runs)))
    finally:
        result.load_average = (load_before, os.getloadavg()[0])
        if server is not None:
            result.server_stats = server.stats()
            server.stop()
    result.device_flops_per_s = result.server_flops_per_s = flops_per_s
    if per_request:
        for configuration, runs in measured:
            result.calibration[configuration.spec] = calibration_summary(runs[0], configuration)
        result.device_flops_per_s, result.server_flops_per_s = serving_flops(result.calibration, configurations,
                                                                                flops_per_s)
        for configuration, _ in measured:
            summary = result.calibration[configuration.spec]
            result.codec_s[configuration.spec] = summary["coding_s"]
            summary["device_flops_per_s"], summary["server_flops_per_s"] = part_speeds(summary, configuration,
                                                                                       flops_per_s)
        result.request_s = float(np.median([m.total_s - m.device_s - m.server_s
                                            for _, runs in measured for m in runs[0]]))
    for configuration, runs in measured:
        summary = result.calibration.get(configuration.spec)
        speeds = (summary["device_flops_per_s"], summary["server_flops_per_s"]) if summary else (flops_per_s,) * 2
        codec_s = result.codec_s.get(configuration.spec, 0.0)
        for rate, rate_runs in zip(rates, runs[per_request:]):
            row = summarize(rate_runs)
            correct = sum(int(m.predicted_class == int(y)) for m, y in zip(rate_runs, labels))
            record = configuration_record(configuration, 8 * row["frame_bytes_mean"], correct / len(rate_runs))
            predicted = predict_latency(record, rate, *speeds, result.request_s, codec_s)
            flops_model = predicted["total_s"] if summary is None else predict_latency(
                record, rate, result.device_flops_per_s, result.server_flops_per_s, result.request_s,
                codec_term(summary, configuration, result.device_flops_per_s, result.server_flops_per_s))["total_s"]
            paper = predict_latency(record, rate, flops_per_s, flops_per_s)["total_s"]
            row.update(spec=configuration.spec, split=configuration.split, codec=configuration.codec.name,
                       config_id=configuration.config_id, rate=rate_label(rate),
                       rate_Bps=rate / BITS_PER_BYTE if rate is not None else None,
                       device_macs=configuration.device_macs, server_macs=configuration.server_macs,
                       predicted=predicted, ratio=row["total_median_s"] / predicted["total_s"],
                       ratio_flops=row["total_median_s"] / flops_model, ratio_paper=row["total_median_s"] / paper,
                       accuracy=correct / len(rate_runs))
            result.rows.append(row)
    return result



def scheduling_policy() -> str:
    """This process's CPU scheduling policy (``"SCHED_OTHER"``, ``"SCHED_FIFO"``, ...), kept with a measurement.

    On a machine shared with other jobs, running the measurement under a real-time policy
    (``chrt -f 20 python -m coinfer run serve_latency ...``, as root; the server process inherits it)
    keeps other processes from taking the CPU in the middle of a request; the table records whether it did.
    """
    policy = os.sched_getscheduler(0)
    return next((name for name in ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_IDLE")
                 if getattr(os, name, None) == policy), str(policy))


def measurement_table(result: MeasureResult, configurations: Sequence[Configuration], meta: dict,
                      preset: str, wall_time_s: float, concurrency: dict | None = None,
                      command: str | None = None) -> LookupTable:
    """``result`` as a :class:`coinfer.results.LookupTable`: one record per configuration.

    Methods are named ``measured:<method>`` (e.g. ``measured:framework``), so that merging this table
    with the sweep's never replaces a record measured on the whole test split.

    Each record's ``extra["measurements"]`` holds one row per link rate (medians, p95, parts and the
    prediction, seconds). Its ``accuracy`` is over the measured images only (``extra["accuracy_images"]``
    says how many), not the whole test split. ``bits_per_image`` is the payload in bits as the codec counts it
    (``codec.bits``, as in every other table), without the 20-byte header (``extra["header_bits"]``); the
    link carries whole bytes (``measurements[i]["frame_bytes_mean"]``, header included), and the
    predictions in ``measurements`` charge those.

    Parameters
    ----------
    result : MeasureResult
        What :func:`measure` found.
    configurations : sequence of Configuration
        The measured configurations (records keep this order).
    meta : dict
        The backbone checkpoint's metadata (``dataset``, ``seed``, ``test_accuracy``).
    preset : str
        The preset's name, for the provenance.
    wall_time_s : float
        Seconds the whole measurement took.
    concurrency : dict, optional
        :func:`coinfer.serve.load.concurrency_probe`'s result.
    command : str, optional
        The command line that produced the table.

    Examples
    --------
    >>> table = measurement_table(MeasureResult(), [], {"dataset": "fashion-mnist"}, "quick", 1.0)
    >>> table.provenance.preset, len(table.records)
    ('quick', 0)
    """
    from coinfer.results import Provenance, Record

    table = LookupTable(Provenance.collect(dataset=meta.get("dataset", ""), preset=preset,
                                           wall_time_s=wall_time_s, seed=meta.get("seed"), command=command))
    for configuration in configurations:
        rows = [r for r in result.rows if r["config_id"] == configuration.config_id]
        if not rows:
            continue
        images = sum(r["images"] for r in rows)
        accuracy = sum(r["accuracy"] * r["images"] for r in rows) / images
        keep = ("rate", "rate_Bps", "images", "total_median_s", "total_p95_s", "device_median_s", "send_median_s",
                "server_median_s", "other_median_s", "encode_median_s", "decode_median_s", "frame_bytes_mean",
                "predicted", "ratio", "ratio_flops", "ratio_paper")
        base = configuration_record(configuration, rows[0]["payload_bits_mean"], accuracy).to_dict()
        # A distinct method name keeps these few-image measurements from replacing the full-test-split
        # records of the same configuration when tables are merged.
        base["method"] = f"measured:{base['method']}"
        table.add(Record(**{**base, "extra": {
            "kind": "measured-latency", "spec": configuration.spec, "config_id": configuration.config_id,
            "accuracy_images": images, "header_bits": 8 * wire.HEADER_SIZE,
            "flops_per_s": result.flops_per_s, "device_flops_per_s": result.device_flops_per_s,
            "server_flops_per_s": result.server_flops_per_s, "server_stats": result.server_stats,
            "load_average_1min": list(result.load_average), "torch_threads": torch.get_num_threads(),
            "scheduling_policy": scheduling_policy(),
            "concurrency": concurrency, "baseline_test_accuracy": meta.get("test_accuracy"),
            "request_s": result.request_s, "codec_s": result.codec_s.get(configuration.spec),
            "calibration": result.calibration.get(configuration.spec),
            "measurements": [{k: r[k] for k in keep} for r in rows]}}))
    return table


@dataclass
class ServingRun:
    """One :func:`run_measurement`: what was measured, on what, and how long it took."""

    result: MeasureResult
    configurations: list
    meta: dict
    preset: str
    wall_time_s: float
    concurrency: dict | None = None

    def table(self, command: str | None = None) -> LookupTable:
        """The run as the serving lookup table (:func:`measurement_table`)."""
        return measurement_table(self.result, self.configurations, self.meta, self.preset, self.wall_time_s,
                                 concurrency=self.concurrency, command=command)


def run_measurement(preset: Preset | str = "quick", specs: Sequence[str] | None = None, checkpoint=None,
                    images: int = 20, rates: Sequence[float | None] = DEFAULT_RATES, burst: float = 0.0,
                    flops_per_s: float | None = None, connect: tuple[str, int] | None = None,
                    clients: int = 4, probe_images: int = 5, threads: int | None = None,
                    progress: Callable[[str], None] | None = None, per_request: bool = True) -> ServingRun:
    """Measure the preset's baseline (or ``checkpoint``) through a real server process, as on two machines.

    Starts ``python -m coinfer serve`` (:class:`coinfer.serve.server.ServerProcess`) on 127.0.0.1
    unless ``connect`` names a running server; runs :func:`measure` for every configuration and rate,
    then :func:`coinfer.serve.load.concurrency_probe` with ``clients`` devices at once (1: skip).

    Parameters
    ----------
    preset : Preset or str
    specs : sequence of str, optional
        Configuration specs (default :func:`default_specs`).
    checkpoint : path, optional
        A backbone instead of the preset's baseline.
    images : int
        Test images per configuration and rate.
    rates : sequence of float or None
        Link rates, bits/s (None: unshaped).
    burst, flops_per_s : float
        See :func:`measure`.
    connect : (host, port), optional
    clients, probe_images : int
        The concurrency probe's devices and images per device.
    threads : int, optional
        Torch threads in both processes.
    progress : callable, optional
        Called with a line per (configuration, rate).
    per_request : bool
        Calibrate each configuration's per-request term (see :func:`measure`).

    Examples
    --------
    >>> run = run_measurement("quick", images=20)   # doctest: +SKIP
    >>> run.table().save("serve_latency_quick.json")  # doctest: +SKIP
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    start = time.time()
    if threads:
        torch.set_num_threads(threads)
    model, meta = load_model_for(preset.name, checkpoint)
    configurations = build_configurations(model, specs or default_specs(preset, checkpoint), preset=preset.name,
                                          dataset=meta.get("dataset"))
    test_images, labels = load_test_images(meta.get("dataset") or preset.dataset, images)
    server, address = None, connect
    if address is None:  # a real second process, as on two machines
        serve_args = [a for spec in (c.spec for c in configurations) for a in ("--config", spec)]
        serve_args += ["--preset", preset.name] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
        serve_args += (["--threads", str(threads)] if threads else [])
        server = ServerProcess(serve_args)
        address = server.address
    probe = None
    try:
        result = measure(configurations, test_images, labels, rates, address=address, burst=burst,
                         flops_per_s=flops_per_s, progress=progress, per_request=per_request)
        if clients > 1:
            probe = concurrency_probe(configurations[0], address, test_images[:probe_images], clients)
    finally:
        stats = server.stop() if server is not None else None
    if stats is not None:
        result.server_stats = stats
        if probe is not None:
            probe["server_max_concurrent_connections"] = stats.get("max_concurrent_connections")
    return ServingRun(result, configurations, meta, preset.name, time.time() - start, probe)


def run(preset: Preset | str = "quick", command: str | None = None, **options) -> LookupTable:
    """The serving table ``serve_latency_<preset>.json``: :func:`run_measurement` as a lookup table.

    Parameters
    ----------
    preset : Preset or str
    command : str, optional
        The command line recorded in the provenance.
    **options
        Passed to :func:`run_measurement`; ``images`` defaults to :data:`TABLE_IMAGES` and ``threads`` to 1
        (one torch thread in each process, as the committed table was measured).

    Examples
    --------
    >>> table = run("quick")   # doctest: +SKIP
    """
    options = {"images": TABLE_IMAGES, "threads": 1, **options}
    return run_measurement(preset, **options).table(command=command)
