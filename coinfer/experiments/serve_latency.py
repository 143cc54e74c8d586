"""The ``serve_latency`` table: real co-inference over TCP, measured against the latency model.

Chapter 7. A server process holds the server parts (and decoders), the device side runs the device
parts and encoders on test images and sends the features through a link shaped to each rate
(:mod:`coinfer.serve`); every (configuration, rate) is measured and compared with the prediction
of :mod:`coinfer.core.latency`. Regenerate with::

    python -m coinfer run serve_latency --preset quick      # data/results/serve_latency_quick.json
    python -m coinfer measure --preset quick --images 20 --threads 1 --save   # the same, with more options
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from coinfer.config import get_preset
from coinfer.results import LookupTable, Provenance, Record
from coinfer.serve import wire
from coinfer.serve.server import (Configuration, MeasureResult, build_configurations, codec_checkpoint_path,
                                  concurrency_probe, configuration_record, load_model_for, load_test_images,
                                  measure, parse_link_rate, parse_spec)

#: Configurations measured when none are named: the raw and 8-bit feature after stage 2, the 8-bit
#: feature after stage 3 plain and Huffman-coded (the paper's "original network" baseline), and the
#: raw pooled feature (paper split points s3, s3, s4, s4, s5).
DEFAULT_SERVE_CONFIGS = ("layer2.1:float32", "layer2.1:uint8", "layer3.1:uint8", "layer3.1:huffman",
                         "pool:float32")

#: Learned codecs added when their checkpoints exist (``python -m coinfer train-codec``).
DEFAULT_LEARNED_CONFIGS = ("layer2.1:learned:d16-l4", "layer3.1:learned:d16-l4")

#: The link rates measured by default.
DEFAULT_RATES = ("10KB/s", "40KB/s", "1000KB/s")


def serve_model(preset: str = "quick", checkpoint: str | None = None, specs: Sequence[str] | None = None):
    """The network, its metadata and the configurations to serve (default: the configurations above).

    Parameters
    ----------
    preset : str
        Whose baseline checkpoint (and learned codecs) to load.
    checkpoint : str, optional
        A coinfer checkpoint instead of the preset's baseline (then no learned codec is added).
    specs : sequence of str, optional
        ``SPLIT:CODEC`` configurations (default :data:`DEFAULT_SERVE_CONFIGS`, plus the
        :data:`DEFAULT_LEARNED_CONFIGS` whose checkpoints exist).

    Returns
    -------
    model, meta, configurations

    Examples
    --------
    >>> from coinfer.experiments.serve_latency import serve_model
    >>> _, meta, configurations = serve_model("quick", specs=["layer2.1:uint8"])
    >>> [c.spec for c in configurations], meta["dataset"]
    (['layer2.1:uint8'], 'fashion-mnist')
    """
    model, meta = load_model_for(preset, checkpoint)
    if not specs:
        specs = list(DEFAULT_SERVE_CONFIGS)
        for spec in DEFAULT_LEARNED_CONFIGS:
            point, _, size = parse_spec(spec)
            if checkpoint is None and codec_checkpoint_path(preset, point, size).exists():
                specs.append(spec)
    return model, meta, build_configurations(model, specs, preset=preset, dataset=meta.get("dataset"))


def load_images(meta: dict, preset: str, n: int, offset: int = 0):
    """``n`` test images (and labels) of the served network's dataset, from ``offset``.

    Parameters
    ----------
    meta : dict
        The checkpoint's metadata (its ``dataset``, else the preset's).
    preset : str
        The preset whose dataset to use when ``meta`` names none.
    n : int
        How many (>= 1).
    offset : int
        Index of the first.

    Returns
    -------
    images, labels : torch.Tensor

    Examples
    --------
    >>> from coinfer.experiments.serve_latency import load_images
    >>> images, labels = load_images({"dataset": "fashion-mnist"}, "quick", 2)
    >>> tuple(images.shape), len(labels)
    ((2, 3, 32, 32), 2)
    """
    if n < 1:
        raise ValueError(f"--images must be >= 1, got {n}")
    return load_test_images(meta.get("dataset") or get_preset(preset).dataset, n, offset)


def measure_configurations(preset: str = "quick", specs: Sequence[str] | None = None, checkpoint: str | None = None,
                           images: int = 20, rates: Sequence[str] = DEFAULT_RATES, threads: int | None = None,
                           burst: float = 0.0, flops_per_s: float | None = None, connect: str | None = None,
                           clients: int = 4, probe_images: int = 5,
                           progress: Callable[[str], None] | None = None) -> dict:
    """Measure every configuration at every rate against a server in its own process (or at ``connect``).

    Parameters
    ----------
    preset, specs, checkpoint
        What to serve (:func:`serve_model`).
    images : int
        Test images per configuration and rate.
    rates : sequence of str
        Link rates (:func:`coinfer.serve.server.parse_link_rate`).
    threads : int, optional
        torch CPU threads, here and in the server process.
    burst : float
        Token-bucket depth of the link shaper, bytes.
    flops_per_s : float, optional
        FLOP/s for the prediction (default: calibrated on this CPU).
    connect : str, optional
        ``HOST:PORT`` of a running server instead of a new process.
    clients : int
        Concurrent devices in the concurrency probe (1: skip it).
    probe_images : int
        Images per client in the probe.
    progress : callable, optional
        Called with a line per measured pair.

    Returns
    -------
    dict
        ``result`` (:class:`coinfer.serve.server.MeasureResult`), ``probe`` (or None),
        ``configurations``, ``meta`` and ``wall_time_s``.
    """
    start = time.time()
    if threads:
        torch.set_num_threads(threads)
    _, meta, configurations = serve_model(preset, checkpoint, specs)
    rates = [parse_link_rate(r) for r in rates]
    images, labels = load_images(meta, preset, images)
    server, address = None, None
    if connect:
        host, _, port = connect.rpartition(":")
        address = (host, int(port))
    else:  # a real second process, as on two machines
        from coinfer.serve.server import ServerProcess

        serve_args = [a for spec in (c.spec for c in configurations) for a in ("--config", spec)]
        serve_args += ["--preset", preset] + (["--checkpoint", checkpoint] if checkpoint else [])
        serve_args += (["--threads", str(threads)] if threads else [])
        serve_args += ["--max-connections", str(max(8, clients))]
        server = ServerProcess(serve_args)
        address = server.address
    try:
        result = measure(configurations, images, labels, rates, address=address, burst=burst,
                         flops_per_s=flops_per_s, progress=progress)
        probe = None
        if clients > 1:
            probe = concurrency_probe(configurations[0], address, images[:probe_images], clients)
    finally:
        if server is not None:
            result_stats = server.stop()
    if server is not None:
        result.server_stats = result_stats
        if probe is not None:
            probe["server_max_concurrent_connections"] = result_stats.get("max_concurrent_connections")
    return {"result": result, "probe": probe, "configurations": configurations, "meta": meta,
            "wall_time_s": time.time() - start}


def measurement_table(result: MeasureResult, configurations: Sequence[Configuration], meta: dict,
                      preset: str, wall_time_s: float, concurrency: dict | None = None,
                      command: str | None = None) -> LookupTable:
    """``result`` as a :class:`coinfer.results.LookupTable`: one record per configuration.

    Methods are named ``measured:<method>`` (e.g. ``measured:framework``), so that merging this table
    with the sweep's never replaces a record measured on the whole test split.

    Each record's ``extra["measurements"]`` holds one row per link rate (medians, p95, parts and the
    prediction, seconds). Its ``accuracy`` is over the measured images only (``extra["accuracy_images"]``
    says how many), not the whole test split. ``bits_per_image`` is the payload in bits (without the
    20-byte header, ``extra["header_bits"]``; the predictions in ``measurements`` include it).
    """
    table = LookupTable(Provenance.collect(dataset=meta.get("dataset", ""), preset=preset,
                                           wall_time_s=wall_time_s, seed=meta.get("seed"), command=command,
                                           baseline_accuracy=meta.get("test_accuracy"),
                                           accuracy_drop=get_preset(preset).accuracy_drop))
    for configuration in configurations:
        rows = [r for r in result.rows if r["config_id"] == configuration.config_id]
        if not rows:
            continue
        images = sum(r["images"] for r in rows)
        accuracy = sum(r["accuracy"] * r["images"] for r in rows) / images
        keep = ("rate", "rate_Bps", "images", "total_median_s", "total_p95_s", "device_median_s", "send_median_s",
                "server_median_s", "other_median_s", "frame_bytes_mean", "predicted", "ratio")
        base = configuration_record(configuration, rows[0]["payload_bytes_mean"], accuracy).to_dict()
        # A distinct method name keeps these few-image measurements from replacing the full-test-split
        # records of the same configuration when tables are merged.
        base["method"] = f"measured:{base['method']}"
        table.add(Record(**{**base, "extra": {
            "kind": "measured-latency", "spec": configuration.spec, "config_id": configuration.config_id,
            "accuracy_images": images, "header_bits": 8 * wire.HEADER_SIZE,
            "flops_per_s": result.flops_per_s, "server_stats": result.server_stats,
            "load_average_1min": list(result.load_average), "torch_threads": torch.get_num_threads(),
            "concurrency": concurrency, "baseline_test_accuracy": meta.get("test_accuracy"),
            "measurements": [{k: r[k] for k in keep} for r in rows]}}))
    return table


def run(preset: str = "quick", images: int = 20, threads: int | None = 1, command: str | None = None,
        **options) -> LookupTable:
    """Measure the default configurations and return the ``serve_latency`` table.

    Parameters
    ----------
    preset : str
        Whose baseline (and learned codecs) to serve.
    images : int
        Test images per configuration and rate (the committed table: 20).
    threads : int, optional
        torch CPU threads (the committed table: 1).
    command : str, optional
        The command recorded in the provenance.
    **options
        Passed to :func:`measure_configurations` (``rates``, ``clients``, ...).

    Returns
    -------
    LookupTable
        One ``measured:<method>`` record per configuration (:func:`measurement_table`).
    """
    run_ = measure_configurations(preset, images=images, threads=threads, **options)
    command = command or f"python -m coinfer run serve_latency --preset {preset}"
    return measurement_table(run_["result"], run_["configurations"], run_["meta"], preset, run_["wall_time_s"],
                             concurrency=run_["probe"], command=command)
