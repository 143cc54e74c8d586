"""How many devices at once one edge server holds, and what hostile connections beside them cost.

Starts ``python -m coinfer serve`` as a separate process on 127.0.0.1 (the quick baseline, one
configuration). Then, for each level of ``--clients``, runs that many unshaped devices at once (each
classifying the same few test images over its own connection) while ``--idle`` silent connections,
``--trickling`` connections sending one byte a second and ``--malformed`` garbage senders are held
against the same server (:class:`coinfer.serve.load.HostileClients`, reconnecting whenever the server
cuts them). Prints, per level, the failures, wrong answers, median and p95 latency per image, the
throughput, and the server's resident memory; then the server's counters. Writes
``benchmarks/out/serve_concurrency.json``.

    python benchmarks/serve_concurrency.py [--config layer3.1:uint8] [--clients 1 4 8 16] [--images 5] \\
        [--idle 1000] [--trickling 64] [--malformed 16]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from coinfer.paths import project_root
from coinfer.results import write_json_atomic
from coinfer.results_origin import git_commit, hardware
from coinfer.serve.configuration import build_configurations, load_model_for, load_test_images
from coinfer.serve.load import HostileClients, concurrency_probe, process_memory_bytes
from coinfer.serve.server import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--config", default="layer3.1:uint8")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--images", type=int, default=5, help="images per device")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each process")
    parser.add_argument("--idle", type=int, default=1000, help="silent connections held meanwhile")
    parser.add_argument("--trickling", type=int, default=64, help="connections sending one byte a second")
    parser.add_argument("--malformed", type=int, default=16, help="connections sending garbage")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, meta = load_model_for(args.preset)
    configuration = build_configurations(model, [args.config], preset=args.preset)[0]
    images, _ = load_test_images(meta["dataset"], args.images)
    expected = configuration.run_local(images).argmax(1).tolist()
    rows = []
    load_before = os.getloadavg()[0]
    with ServerProcess(["--config", configuration.spec, "--preset", args.preset, "--threads", str(args.threads),
                        "--max-connections", str(max(args.clients) + args.idle + args.trickling
                                                 + args.malformed + 64)]) as server:
        memory_idle = process_memory_bytes(server.process.pid)
        print(f"server memory before any load: {(memory_idle or 0) / 1e6:.0f} MB", flush=True)
        with HostileClients(server.address, idle=args.idle, trickling=args.trickling,
                            malformed=args.malformed) as hostile:
            print(f"hostile connections open: {hostile.open_now} ({args.idle} idle, {args.trickling} trickling, "
                  f"{args.malformed} malformed)", flush=True)
            for clients in args.clients:
                probe = concurrency_probe(configuration, server.address, images, clients, expected=expected)
                probe["server_memory_bytes"] = process_memory_bytes(server.process.pid)
                probe["hostile_open"] = hostile.open_now
                rows.append(probe)
                print(f"{clients:>3} devices: {len(probe['failures'])} failures, {probe['wrong']} wrong, median "
                      f"latency {probe['total_median_s'] * 1e3:.1f} ms (p95 {probe['total_p95_s'] * 1e3:.1f}), "
                      f"{probe['throughput_images_per_s']:.0f} images/s; server memory "
                      f"{(probe['server_memory_bytes'] or 0) / 1e6:.0f} MB, {probe['hostile_open']} hostile open",
                      flush=True)
            hostile_counts = dict(hostile.counts)
        stats = server.stop()
    print(f"server: {stats['connections']} connections, at most {stats['max_concurrent_connections']} at once, "
          f"{stats['requests']} requests, {stats['handshake_timeouts']} handshake and {stats['frame_timeouts']} "
          f"frame deadlines, {stats['busy_refused']} refused busy, errors {stats['errors']}")
    out = project_root() / "benchmarks" / "out" / "serve_concurrency.json"
    write_json_atomic(out, {"config": configuration.spec, "preset": args.preset, "threads": args.threads,
                            "rows": rows, "server_stats": stats, "hostile": hostile_counts,
                            "server_memory_idle_bytes": memory_idle, "hardware": hardware(), "commit": git_commit(),
                            "load_average_1min": [load_before, os.getloadavg()[0]],
                            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
