"""The serving commands of ``python -m coinfer``: ``serve``, ``device``, ``measure``, ``train-codec``.

Thin: each parses nothing itself (``coinfer.cli.build_parser`` declares the options, checked
where they enter), calls ``coinfer.serve`` or :mod:`coinfer.experiments.serving`, and prints.
"""

from __future__ import annotations

import argparse
import json
import sys


def serve_model(args: argparse.Namespace):
    from coinfer.config import get_preset
    from coinfer.experiments.serving import default_specs
    from coinfer.serve.configuration import build_configurations, load_model_for

    preset = get_preset(args.preset)
    model, meta = load_model_for(preset.name, args.checkpoint)
    specs = args.config or default_specs(preset, args.checkpoint)
    return model, meta, build_configurations(model, specs, preset=preset.name, dataset=meta.get("dataset"))


def test_images(meta: dict, preset: str, n: int, offset: int = 0):
    from coinfer.config import get_preset
    from coinfer.serve.configuration import load_test_images

    if n < 1:
        raise ValueError(f"--images must be >= 1, got {n}")
    return load_test_images(meta.get("dataset") or get_preset(preset).dataset, n, offset)


def link_rate(text: str) -> float | None:
    """A ``--rate`` value: bits/s from a rate with a unit (``40KB/s``), or None for ``inf`` (no shaping)."""
    from coinfer.units import parse_rate

    return None if text.strip().lower() == "inf" else parse_rate(text)


def serve(args: argparse.Namespace) -> int:
    import logging

    from coinfer.serve.server import (EdgeServer, check_server_options, default_max_connections,
                                      reserve_file_descriptors)

    options = dict(port=args.port, max_connections=args.max_connections, max_payload=args.max_payload,
                   idle_timeout=args.idle_timeout, handshake_timeout=args.handshake_timeout,
                   frame_timeout=args.frame_timeout, max_requests=args.max_requests)
    # Before the network loads, a bad option fails at once; the default number of connections is
    # found once, by the server, after the network has opened what files it needs.
    check_server_options(**{**options, "max_connections": args.max_connections or default_max_connections()})
    if args.max_connections is not None:
        reserve_file_descriptors(args.max_connections)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    _, meta, configurations = serve_model(args)
    server = EdgeServer(configurations, host=args.host, **options)
    host, port = server.address
    for c in configurations:
        print(f"configuration {c.config_id:>10}  {c.spec:<20} feature {'x'.join(map(str, c.feature_shape))}")
    print(f"coinfer edge server listening on {host}:{port}", flush=True)
    import signal

    # Ctrl-C and SIGTERM stop the server cleanly (set explicitly: a process started in the background
    # by a shell inherits SIGINT as ignored, and Python's default SIGTERM ends it without a word).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.request_stop())
    server.serve_forever()
    print(f"stopped; {json.dumps(server.stats())}", flush=True)
    return 0


def device(args: argparse.Namespace) -> int:
    import numpy as np

    from coinfer.experiments.serving import rate_label
    from coinfer.serve.device import DeviceClient, check_device_options, summarize

    # Every option checked before the network loads: a bad one fails at once, naming itself.
    check_device_options(port=args.port, timeout=args.timeout, burst=args.burst, images=args.images,
                         offset=args.offset)
    rate = link_rate(args.rate)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    _, meta, configurations = serve_model(argparse.Namespace(**{**vars(args), "config": [args.config]}))
    configuration = configurations[0]
    images, labels = test_images(meta, args.preset, args.images, args.offset)
    with DeviceClient(configuration, args.host, args.port, rate_bps=rate, burst=args.burst,
                      timeout=args.timeout) as client:
        client.check()
        runs = [client.infer(image) for image in images]
    correct = int(sum(m.predicted_class == int(y) for m, y in zip(runs, labels)))
    summary = summarize(runs)
    if args.json:
        print(json.dumps({"spec": configuration.spec, "config_id": configuration.config_id,
                          "rate_Bps": rate / 8 if rate else None, "correct": correct, **summary,
                          "classes": [m.predicted_class for m in runs]}, indent=1))
        return 0
    for i, (m, y) in enumerate(zip(runs, labels)):
        if i < args.show:
            print(f"image {args.offset + i:>5}: class {m.predicted_class} (label {int(y)}), "
                  f"{m.frame_bytes} B sent, {m.total_s * 1e3:.1f} ms")
    print(f"{configuration.spec} at {rate_label(rate)}: {correct}/{len(runs)} correct; latency median "
          f"{summary['total_median_s'] * 1e3:.1f} ms, p95 {summary['total_p95_s'] * 1e3:.1f} ms "
          f"(device {summary['device_median_s'] * 1e3:.1f}, send {summary['send_median_s'] * 1e3:.1f}, "
          f"server {summary['server_median_s'] * 1e3:.1f} ms); {int(np.mean([m.frame_bytes for m in runs]))} "
          "B per frame")
    return 0


def measure(args: argparse.Namespace) -> int:
    import os

    from coinfer.experiments.serving import run_measurement
    from coinfer.paths import project_root, table_path
    from coinfer.results import write_json_atomic

    connect = None
    if args.connect:
        host, _, port = args.connect.rpartition(":")
        connect = (host, int(port))
    run = run_measurement(args.preset, specs=args.config, checkpoint=args.checkpoint, images=args.images,
                          rates=[link_rate(r) for r in args.rates.split(",")], burst=args.burst,
                          flops_per_s=args.flops * 1e9 if args.flops else None, connect=connect,
                          clients=args.clients, probe_images=args.probe_images, threads=args.threads,
                          progress=lambda line: print(line, file=sys.stderr, flush=True),
                          per_request=not args.no_per_request)
    result, probe = run.result, run.concurrency
    print(result.table())
    if result.rows:
        from coinfer.views.serving import ratios_within

        within, cells = ratios_within(result.rows, 0.10)
        print(f"{within} of {cells} rows within 10 % of the model (per-request term "
              f"{result.request_s * 1e3:.3f} ms, codec terms measured per configuration)")
    print(f"load average (1 min) of this machine: {result.load_average[0]:.1f} before, "
          f"{result.load_average[1]:.1f} after, on {os.cpu_count()} CPU cores")
    if probe:
        print(f"concurrency: {probe['clients']} clients x {probe['images_per_client']} images at once, "
              f"{len(probe['failures'])} failures, {probe['throughput_images_per_s']:.1f} images/s, "
              f"server held at most {probe.get('server_max_concurrent_connections', '?')} connections at once")
    if args.raw:   # only when asked: an installed package's "project root" is the current folder
        out = (project_root() / "benchmarks" / "out" / f"serve_measure_{args.preset}.json" if args.raw == "default"
               else args.raw)
        write_json_atomic(out, {"rows": result.rows, "flops_per_s": result.flops_per_s, "request_s": result.request_s,
                                "calibration": result.calibration, "load_average_1min": list(result.load_average),
                                "server_stats": result.server_stats, "concurrency": probe})
        print(f"wrote {out}")
    if args.save:
        path = table_path("serve_latency", args.preset) if args.save == "default" else args.save
        run.table(command="python -m coinfer " + " ".join(args.argv)).save(path)
        print(f"wrote {path}")
    return 0


def train_codec(args: argparse.Namespace) -> int:
    from coinfer.experiments.codecs import train_learned_codec
    from coinfer.serve.configuration import load_model_for

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    model, _ = load_model_for(args.preset, args.checkpoint)
    overrides = {k: v for k, v in {"train_limit": args.train_limit, "epochs": args.epochs}.items() if v is not None}
    train_learned_codec(model, args.split, args.code_size, args.preset, path=args.out, **overrides)
    return 0
