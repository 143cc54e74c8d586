"""How many devices at once one edge server holds, and what that does to latency and throughput.

Starts ``python -m coinfer serve`` as a separate process on 127.0.0.1 (the quick baseline, one
configuration), then runs 1, 4, 8 and 16 unshaped devices at once (each classifying the same few test
images over its own connection) and prints, per level, the failures, the median latency per image, the
throughput, and the most connections the server held together. Writes
``benchmarks/out/serve_concurrency.json``.

    python benchmarks/serve_concurrency.py [--config layer3.1:uint8] [--clients 1 4 8 16] [--images 5]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from coinfer.paths import project_root
from coinfer.results import git_commit, hardware, write_json_atomic
from coinfer.serve.configuration import build_configurations, load_model_for, load_test_images
from coinfer.serve.device import concurrency_probe
from coinfer.serve.server import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--config", default="layer3.1:uint8")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--images", type=int, default=5, help="images per device")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each process")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, meta = load_model_for(args.preset)
    configuration = build_configurations(model, [args.config], preset=args.preset)[0]
    images, _ = load_test_images(meta["dataset"], args.images)
    rows = []
    load_before = os.getloadavg()[0]
    with ServerProcess(["--config", configuration.spec, "--preset", args.preset, "--threads", str(args.threads),
                        "--max-connections", str(max(args.clients))]) as server:
        for clients in args.clients:
            probe = concurrency_probe(configuration, server.address, images, clients)
            rows.append(probe)
            print(f"{clients:>3} devices: {len(probe['failures'])} failures, median latency "
                  f"{probe['total_median_s'] * 1e3:.1f} ms, {probe['throughput_images_per_s']:.0f} images/s",
                  flush=True)
        stats = server.stop()
    print(f"server: {stats['connections']} connections, at most {stats['max_concurrent_connections']} at once, "
          f"{stats['requests']} requests, errors {stats['errors']}")
    out = project_root() / "benchmarks" / "out" / "serve_concurrency.json"
    write_json_atomic(out, {"config": configuration.spec, "preset": args.preset, "threads": args.threads,
                            "rows": rows, "server_stats": stats, "hardware": hardware(), "commit": git_commit(),
                            "load_average_1min": [load_before, os.getloadavg()[0]],
                            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
