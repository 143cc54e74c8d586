"""The command line: ``python -m coinfer <command>``.

Regenerate any committed lookup table (``data/results/<table>_<preset>.json``)::

    python -m coinfer run --list                                   # the tables, what they hold, their chapter
    python -m coinfer run <table> --preset quick|paper             # e.g. run sweep --preset quick

Other commands::

    python -m coinfer profile [--width W] [--dataset D] [--json]   # Fig. 1's numbers
    python -m coinfer train --preset quick|paper                   # the baseline network
    python -m coinfer latency --rate 40KB/s [--device rpi3|<FLOP/s>,<bytes>] [--server rtx2080ti|<FLOP/s>]
                              [--table PATH ...] [--threshold 0.89|89%] [--scaled] [--channel noiseless]
                              [--json]
    python -m coinfer prune --preset quick|paper                   # pruned device parts, one seed -> data/results/prune/
    python -m coinfer sweep --preset quick|paper                   # every method's grid, one seed (run sweep: every seed)
    python -m coinfer search --preset quick --trials 20 [--workers N] [--storage URL] [--sampler tpe|nsga2|gp|random]
                             [--trainings N] [--patience N] [--objectives device_macs,bits,server_macs]
                             [--device-memory 3MB] [--recover] [--export] [--replay]   # multi-objective search
    python -m coinfer plan [--preset paper|quick] [--gpu-rate N] [--gpu-report R]  # GPU-hours of every table
    python -m coinfer figure NAME [--preset P] [--out F.png|F.svg]  # draw a book figure (--list: which)
    python -m coinfer serve --config layer2.1:uint8 --port 5000    # an edge server (TCP)
    python -m coinfer device --config layer2.1:uint8 --port 5000 --rate 40KB/s --images 20
    python -m coinfer measure --preset quick --images 50 --save    # run serve_latency, with more options [--raw]
    python -m coinfer train-codec --split layer3.1 --code-size d16-l4  # a learned codec to serve

The steps behind ``run``, with their own options: ``prune``, ``encode``, ``jscc``, ``sweep``,
``original-table`` (``--preset quick|paper``; see ``python -m coinfer <command> --help``).
"""

from __future__ import annotations

import argparse
import json
import sys

from coinfer import cli_args as check
from coinfer import cli_search
from coinfer import cli_serving as serving

# The serve and device options are checked by the library's own checks (same messages), imported when used.
check_server_options = "coinfer.serve.server:check_server_options"
check_device_options = "coinfer.serve.device:check_device_options"


def _profile(args: argparse.Namespace) -> int:
    from coinfer.core.network import resnet18
    from coinfer.core.costs import format_table, input_size, profile_splits

    rows = profile_splits(resnet18(width=args.width))
    size = input_size(args.dataset, limit=args.images) if args.dataset else None
    if args.json:
        out = {"width": args.width, "units": {"macs": "multiply-accumulates (FLOPs = 2 x MACs)",
                                              "bits": "bits per image"},
               "splits": [r.to_dict() for r in rows],
               "input": size.to_dict() if size else None}
        print(json.dumps(out, indent=1))
    else:
        print(f"CIFAR ResNet18, width {args.width:g}")
        print(format_table(rows, size))
    return 0


def _train(args: argparse.Namespace) -> int:
    from coinfer.config import get_preset, parse_overrides
    from coinfer.core.codecs import weights_digest
    from coinfer.train import get_baseline

    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["baseline.epochs"] = args.epochs
    preset = get_preset(args.preset, **overrides)
    model, meta = get_baseline(preset, checkpoints=args.checkpoints, retrain=args.retrain)
    # The weights' digest: what every sweep cell and cached pruned part records and is checked against.
    print(f"baseline ({preset.name}, {preset.dataset}, width {preset.width:g}): "
          f"test accuracy {meta['test_accuracy']:.4f}, trained in {meta['wall_time_s']} s, "
          f"weights {weights_digest(model)[:10]}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from coinfer.experiments.encoding import get_encode_config, run as run_encoding
    from coinfer.paths import step_table_path
    from coinfer.config import get_preset

    preset = get_preset(args.preset)
    overrides = {k: v for k, v in {"splits": args.splits, "code_sizes": args.code_sizes,
                                   "train_limit": args.train_limit}.items() if v is not None}
    config = get_encode_config(preset, **overrides)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    table = run_encoding(preset, config, command="python -m coinfer " + " ".join(args.argv))
    # Beside the committed encoding table (run encoding: the sweep's cells, three seeds), never over
    # it: this one is one seed's run of any settings.
    path = args.out or step_table_path("encode", preset.name)
    table.save(path)
    print(f"wrote {len(table.records)} records to {path} in {table.provenance.wall_time_s:.0f} s")
    return 0


def _original_table(args: argparse.Namespace) -> int:
    from coinfer.experiments import run_table

    print(f"wrote {run_table('original-float32', args.preset)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from coinfer.experiments import TABLES, run_table

    if args.list:
        for name, entry in TABLES.items():
            print(f"{name:<{max(map(len, TABLES))}}  {entry.description}  [chapter {entry.chapter}]")
        return 0
    if not args.table:   # a usage error: said on stderr, as every other one (the list was printed as if asked)
        raise ValueError(f"name the table to regenerate: one of {', '.join(TABLES)} (--list says what each holds)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides, command = None, None
    if args.rate_weights:
        from coinfer.config import get_preset
        from coinfer.experiments.rate import rate_weight_overrides

        overrides = rate_weight_overrides(get_preset(args.preset), args.table, args.rate_weights)
        seeds = " --seeds " + " ".join(map(str, args.seeds)) if args.seeds else ""
        weights = " ".join(format(w, "g") for w in args.rate_weights)
        command = f"python -m coinfer run {args.table} --preset {args.preset}{seeds} --rate-weights {weights}"
    path = run_table(args.table, args.preset, args.out, seeds=args.seeds, overrides=overrides,
                     workers=args.workers, command=command)
    print(f"wrote {path}")
    return 0


def _jscc(args: argparse.Namespace) -> int:
    import torch

    from coinfer.experiments.jscc import run as run_jscc
    from coinfer.views.jscc import fig5_rows, mismatch_grid
    from coinfer.paths import step_table_path
    from coinfer.config import get_preset, parse_overrides

    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset, **parse_overrides(args.set))
    table = run_jscc(preset, split_point=args.split)
    path = table.save(args.out or step_table_path("jscc", preset.name))   # not over run jscc's seeds
    for row in fig5_rows(table):
        cost = (f"latency {1e3 * row['latency_s']:.4f} ms" if row["kind"] == "awgn"
                else f"{row['channel_uses']:.1f} channel uses")
        print(f"{row['kind']}:{row['value']:<5g} {row['method']:<32} {cost:<26} accuracy {row['accuracy']:.4f}")
    for kind in ("awgn", "bsc"):
        trained, tests, grid = mismatch_grid(table, kind)
        print(f"{kind} mismatch (rows: trained at; columns: tested at {tests})")
        for name, row in zip(trained, grid):
            print(f"  {name:<14} " + " ".join(f"{a:.4f}" for a in row))
    print(f"wrote {path}")
    return 0


def _latency(args: argparse.Namespace) -> int:
    from coinfer.core.latency import (Choice, Environment, NoFeasibleConfiguration, choose, choose_per_method,
                                      parse_device, parse_server, scale_to_width)
    from coinfer.experiments.candidates import load_candidates
    from coinfer.stats import selection_accuracy
    from coinfer.units import parse_rate

    rate = parse_rate(args.rate)
    device, server = parse_device(args.device), parse_server(args.server)
    candidates = load_candidates(args.table, preset=args.preset)
    if args.scaled:
        device, server = scale_to_width(device, server, candidates.width)
    env = Environment(device, server, rate)
    threshold = args.threshold if args.threshold is not None else candidates.threshold()
    records = [r for r in candidates.records if args.channel == "any" or r.channel == args.channel]
    if not records:
        channels = sorted({r.channel for r in candidates.records})
        raise ValueError(f"no records for channel {args.channel!r}; the tables have {', '.join(channels)} (or 'any')")
    per_method = choose_per_method(records, env, threshold, candidates.activations)
    try:
        overall: Choice | NoFeasibleConfiguration = choose(records, env, threshold,
                                                           activations=candidates.activations)
    except NoFeasibleConfiguration as none:
        overall = none

    def row(choice) -> dict:
        if isinstance(choice, NoFeasibleConfiguration):
            return {"fits": False, "reason": choice.reason, "message": str(choice)}
        r, t = choice.record, choice.latency
        return {"fits": True, "method": r.method, "split": r.split, "sparsity": r.sparsity,
                "code_size": r.code_size, "channel": r.channel, "accuracy": r.accuracy,
                "val_accuracy": r.val_accuracy, "device_macs": r.device_macs, "bits_per_image": r.bits_per_image,
                "device_s": t.device_s, "communication_s": t.communication_s, "server_s": t.server_s,
                "total_s": t.total_s, "footprint_bytes": choice.footprint_bytes,
                "feasible": choice.feasible, "candidates": choice.candidates}

    if args.json:
        print(json.dumps({"environment": env.describe(), "rate_bits_per_s": rate, "threshold": threshold,
                          "tables": candidates.sources, "methods": {m: row(c) for m, c in per_method.items()},
                          "overall": row(overall)}, indent=1))
        return 0
    print(f"environment : {env.describe()}")
    split = "validation" if candidates.baseline_val_accuracy is not None else "test"
    print(f"threshold   : {split} accuracy >= {threshold:.4f}   memory <= {device.budget_bytes / 1e6:.4g} MB "
          f"(footprint = {env.memory.overhead_factor:.3g} x 4 B x (params + peak activations))")
    for source in candidates.sources:
        print(f"table       : {source}")
    w = max([16] + [len(m) for m in per_method])
    c = max([12] + [len(r.code_size) for r in records])
    header = (f"{'method':<{w}} {'split':<9} {'sparsity':>8} {'code':<{c}} {'val acc' if split == 'validation' else 'accuracy':>8} {'kbit':>9} "
              f"{'device ms':>10} {'link ms':>10} {'server ms':>10} {'total ms':>10} {'memory MB':>9}")
    print(header)
    print("-" * len(header))
    for method, choice in list(per_method.items()) + [("OVERALL BEST", overall)]:
        if isinstance(choice, NoFeasibleConfiguration):
            print(f"{method:<{w}} none fits: {str(choice).split(': ', 1)[1]}")
            continue
        r, t = choice.record, choice.latency
        print(f"{method:<{w}} {r.split:<9} {r.sparsity:>8.2f} {r.code_size or '-':<{c}} {selection_accuracy(r):>8.4f} "
              f"{r.bits_per_image / 1e3:>9.3f} {t.device_s * 1e3:>10.3f} {t.communication_s * 1e3:>10.3f} "
              f"{t.server_s * 1e3:>10.4f} {t.total_s * 1e3:>10.3f} {choice.footprint_bytes / 1e6:>9.3g}")
    print("kbit = 1000 bits per image; rates: 1 KB/s = 1000 bytes/s = 8000 bit/s; FLOPs = 2 x MACs.")
    return 0


def _prune(args: argparse.Namespace) -> int:
    import torch

    from coinfer.config import get_preset, parse_overrides
    from coinfer.experiments.pruning import run

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    if args.splits:
        overrides["pruning.splits"] = tuple(args.splits)
    if args.sparsities:
        overrides["pruning.sparsities"] = tuple(args.sparsities)
    for name in ("epochs", "train_limit", "output_sparsity"):
        if getattr(args, name) is not None:
            overrides[f"pruning.{name}"] = getattr(args, name)
    preset = get_preset(args.preset, **overrides)
    from coinfer.paths import step_table_path

    table = run(preset, checkpoints=args.checkpoints, save_checkpoints=not args.no_checkpoints,
                command="python -m coinfer " + " ".join(args.argv))
    path = table.save(args.out or step_table_path("prune", preset.name))   # not over run pruning's seeds
    print(f"{len(table.records)} records in {table.provenance.wall_time_s} s "
          f"({table.provenance.describe()}); wrote {path}")
    return 0


def _regenerating_argv(argv: list[str]) -> list[str]:
    """``argv`` without the flags that only schedule work (which cells, progress bar): the command
    recorded in the table is the one that regenerates all of it."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            if arg.startswith("--"):
                skip = 0
            else:
                continue
        if arg in ("--gather", "--no-progress", "--list-cells") or arg.startswith(("--cell=", "--shard=")):
            continue
        if arg in ("--cell", "--shard"):
            skip = 1
            continue
        out.append(arg)
    return out


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from coinfer.config import get_preset, parse_overrides, sweep_grid
    from coinfer.experiments.sweep import cell_states, default_paths, gather, run

    overrides = parse_overrides(args.set)
    if args.grid:
        overrides = {"sweep": sweep_grid(args.grid), **overrides}
    preset = get_preset(args.preset, **overrides)
    paths = default_paths(preset)
    cells_dir = Path(args.cells_dir) if args.cells_dir else paths["cells_dir"]
    table = Path(args.table) if args.table else paths["table"]
    command = "python -m coinfer " + " ".join(_regenerating_argv(args.argv))
    if args.list_cells:
        for cell_id, state in cell_states(preset, cells_dir):   # done, todo or invalid: <why>
            print(f"{cell_id}\t{state}")
        return 0
    if not args.table and table.exists():
        # one seed's table, never over the one 'run sweep' made of every seed: beside it, git-ignored
        from coinfer.paths import step_table_path
        from coinfer.results import load_table

        if len(seeds := load_table(table).provenance.seeds or []) > 1:
            print(f"{table} holds seeds {seeds} ('python -m coinfer run sweep'); this command's table (seed "
                  f"{preset.seed}) goes to {step_table_path('sweep', preset.name)} (--table to choose)")
            table = step_table_path("sweep", preset.name)
    if args.gather:
        result = gather(preset, cells_dir, table, command=command)
        print(f"wrote {len(result.records)} records to {table}")
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    shard = None
    if args.shard:
        try:
            i, n = (int(v) for v in args.shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard must look like 3/8 (worker 3 of 8, counting from 0), got {args.shard!r}")
        shard = (i, n)
    result = run(preset, cells_dir=cells_dir, table=table, cache_dir=args.cache or paths["cache_dir"],
                 only=args.cell, shard=shard, command=command, progress=not args.no_progress, workers=args.workers)
    if result is None:
        print("some cells are not finished yet; run the sweep again (or --gather once all are done)")
    return 0


def _figure(args: argparse.Namespace) -> int:
    from coinfer.views import FIGURES, draw_figure

    if args.list or not args.name:
        for name, entry in FIGURES.items():
            print(f"{name:<20} chapter {entry.chapter}  {entry.caption}")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    out = args.out or f"{args.name}_{args.preset}.png"
    draw_figure(args.name, args.preset).savefig(out, bbox_inches="tight")
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coinfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def set_arg(p):
        p.add_argument("--set", action="append", default=None, metavar="NAME=VALUE",
                       help="override a preset setting by its dotted name, e.g. pruning.epochs=2 (repeatable)")

    p = commands.add_parser("profile", help="per split point: device/server MACs, parameters, feature size")
    p.add_argument("--width", type=check.width, default=1.0, help="width multiplier (1.0: the paper's network)")
    p.add_argument("--dataset", choices=["cifar10", "fashion-mnist"], default=None,
                   help="also measure this dataset's raw and PNG image size")
    p.add_argument("--images", type=check.positive_int, default=1000, help="test images averaged for the PNG size")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_profile)

    p = commands.add_parser("train", help="train (or load) a preset's baseline network")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.add_argument("--epochs", type=check.positive_int, default=None, help="override the preset's epochs")
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: data/checkpoints)")
    p.add_argument("--retrain", action="store_true", help="train even if a checkpoint exists")
    set_arg(p)
    p.set_defaults(func=_train)

    def model_args(p, many: bool):
        p.add_argument("--preset", type=check.preset, default="quick", help="whose baseline checkpoint to load (default quick)")
        p.add_argument("--checkpoint", default=None, help="a coinfer checkpoint instead of the preset's baseline")
        if many:
            p.add_argument("--config", action="append", default=None, metavar="SPLIT:CODEC",
                           help="configuration to run, e.g. layer2.1:uint8 or s3:float32; repeat for several "
                                "(default: the serving table's, coinfer.experiments.serving.DEFAULT_SERVE_CONFIGS)")
        else:
            p.add_argument("--config", required=True, metavar="SPLIT:CODEC",
                           help="configuration to run, e.g. layer2.1:uint8 (must be one the server holds)")
        p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads (default: torch's)")

    p = commands.add_parser("serve", help="run an edge server: decoder + server part, over TCP")
    model_args(p, many=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=check.checked_by(check_server_options, "port"), default=5000, help="TCP port (0 picks a free one; default 5000)")
    p.add_argument("--max-connections", type=check.checked_by(check_server_options, "max_connections"), default=None,
                   help="connections held at once (default 1024, or fewer where the hard descriptor limit, ulimit -Hn, "
                        "leaves room for fewer)")
    p.add_argument("--max-payload", type=check.checked_by(check_server_options, "max_payload"), default=4 * 1024 * 1024, help="largest payload accepted, bytes")
    p.add_argument("--idle-timeout", type=check.checked_by(check_server_options, "idle_timeout", float), default=30.0,
                   help="close a connection silent between frames for this many s (default 30)")
    p.add_argument("--handshake-timeout", type=check.checked_by(check_server_options, "handshake_timeout", float), default=5.0,
                   help="a new connection must send its first frame's header within this many s (default 5)")
    p.add_argument("--frame-timeout", type=check.checked_by(check_server_options, "frame_timeout", float), default=60.0,
                   help="a frame, once started, must arrive whole within this many s (default 60)")
    p.add_argument("--max-requests", type=check.checked_by(check_server_options, "max_requests"), default=None, help="stop after answering this many features")
    p.set_defaults(func=serving.serve)

    p = commands.add_parser("device", help="run the device part + encoder on test images, classify via a server")
    model_args(p, many=False)
    p.add_argument("--host", default="127.0.0.1", help="the edge server's address")
    p.add_argument("--port", type=check.checked_by(check_device_options, "port"), default=5000)
    p.add_argument("--rate", type=check.link_rate, default="inf", help="uplink rate, e.g. 40KB/s (1 KB = 1000 B), 800kbit/s, or inf")
    p.add_argument("--burst", type=check.checked_by(check_device_options, "burst", float), default=0.0,
                   help="token-bucket depth, bytes (default 0)")
    p.add_argument("--images", type=check.checked_by(check_device_options, "images"), default=10, help="test images to classify")
    p.add_argument("--offset", type=check.checked_by(check_device_options, "offset"), default=0, help="index of the first test image")
    p.add_argument("--show", type=check.nonnegative_int, default=10, help="print this many per-image lines")
    p.add_argument("--timeout", type=check.checked_by(check_device_options, "timeout", float), default=60.0, help="seconds to wait for a reply")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=serving.device)

    p = commands.add_parser("measure", help="measured vs predicted co-inference latency per configuration and rate")
    model_args(p, many=True)
    p.add_argument("--rates", type=check.rates, default="10KB/s,40KB/s,1000KB/s", help="comma-separated link rates")
    p.add_argument("--images", type=check.positive_int, default=20, help="test images per configuration and rate")
    p.add_argument("--burst", type=check.nonnegative_float, default=0.0, help="token-bucket depth, bytes (default 0)")
    p.add_argument("--flops", type=check.positive_float, default=None,
                   help="FLOP rate (GFLOP/s) for the prediction; default: calibrated on this CPU")
    p.add_argument("--connect", type=check.host_port, default=None, metavar="HOST:PORT",
                   help="measure against a running server instead of one started in this process")
    p.add_argument("--no-per-request", action="store_true",
                   help="predict with FLOPs and bits only (the paper's model), without the per-request and codec "
                        "terms calibrated on an unshaped link")
    p.add_argument("--clients", type=check.positive_int, default=4, help="concurrent devices in the concurrency probe (1: skip)")
    p.add_argument("--probe-images", type=check.positive_int, default=5, help="images per client in the concurrency probe")
    p.add_argument("--save", nargs="?", const="default", default=None, metavar="PATH",
                   help="also write a lookup table (default data/results/serve_latency_<preset>.json)")
    p.add_argument("--raw", nargs="?", const="default", default=None, metavar="PATH",
                   help="also write the raw measurement: rows, calibration, load, server statistics, concurrency "
                        "probe (default benchmarks/out/serve_measure_<preset>.json)")
    p.set_defaults(func=serving.measure)

    p = commands.add_parser("train-codec", help="train one learned codec and save it for serve/device/measure")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.add_argument("--checkpoint", default=None, help="the backbone (default: the preset's baseline)")
    p.add_argument("--split", type=check.split_point, required=True, help="split point, e.g. layer3.1 or s4")
    p.add_argument("--code-size", required=True, help="e.g. d16-l4 (scalar codewords) or d16-k16 (vector codebook)")
    p.add_argument("--train-limit", type=check.positive_int, default=None, help="training images (default: the encode preset's)")
    p.add_argument("--epochs", type=check.positive_int, default=None, help="quantized epochs (default: the encode preset's)")
    p.add_argument("--out", default=None, help="checkpoint path (default data/checkpoints/<preset>/codec_<split>_<size>.pt)")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads")
    p.set_defaults(func=serving.train_codec)

    p = commands.add_parser("encode", help="train feature encoders (section IV) and the 8-bit Huffman baseline")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.add_argument("--splits", nargs="+", type=check.split_point, default=None, help="override the preset's split points")
    p.add_argument("--code-sizes", nargs="+", default=None, help="override the code sizes, e.g. d16-l4 d16-k16")
    p.add_argument("--train-limit", type=check.positive_int, default=None, help="training images for the codecs")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/encode/encode_<preset>.json; "
                   "the committed encoding table is 'run encoding''s)")
    p.set_defaults(func=_encode)

    p = commands.add_parser("jscc", help="Fig. 5: learned JSCC vs separate coding at capacity, AWGN and BSC")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.add_argument("--split", type=check.split_point, default=None, help="split point (default: layer3.1, the paper's Conv_4x)")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/jscc/jscc_<preset>.json; "
                   "the committed table comes from 'run jscc', every seed)")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    set_arg(p)
    p.set_defaults(func=_jscc)
    p = commands.add_parser("original-table", help="float32 records of the trained baseline at every split point "
                                                   "(the same as: run original-float32)")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.set_defaults(func=_original_table)

    p = commands.add_parser("run", help="regenerate a committed lookup table: run <table> --preset P (--list names them)",
                            description="Regenerate a committed lookup table (data/results/<table>_<preset>.json) "
                                        "with its experiment's run(preset). --list names the tables, what they hold "
                                        "and the chapter that shows them.")
    p.add_argument("table", nargs="?", default=None, help="the table's name (see --list)")
    p.add_argument("--preset", type=check.preset, default="quick", help="quick (CPU: minutes per step, hours for a table's seeds) or paper (GPU-hours)")
    p.add_argument("--list", action="store_true", help="name the committed tables and exit")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/<table>_<preset>.json)")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seeds", type=check.nonnegative_int, nargs="+", default=None,
                   help="training seeds to average (default 0 1 2; only for tables that train); each finished "
                        "seed is kept under data/results/seeds/ and not run again")
    p.add_argument("--workers", type=check.positive_int, default=1,
                   help="processes running the sweep's cells side by side (sweep and encoding tables; "
                        "2 on a 2-core machine, with --threads 1)")
    p.add_argument("--rate-weights", type=check.nonnegative_float, nargs="+", default=None, metavar="W",
                   help="encoding, sweep: also train every code size with a rate term of these weights (loss per "
                        "bit per image; code sizes such as d16-k64-r0.1); rate: the curve's weights")
    p.set_defaults(func=_run)

    p = commands.add_parser("latency", help="choose the fastest configuration for a device, link and server",
                            description="Section V-C: T = 2 x device MACs / device FLOP/s + bits / rate "
                                        "+ 2 x server MACs / server FLOP/s, among the records that reach "
                                        "the accuracy threshold and fit the device's memory.")
    p.add_argument("--rate", type=check.rate, required=True,
                   help="uplink rate with a unit: B/s, KB/s, MB/s, GB/s, bit/s, kbit/s, Mbit/s, Gbit/s "
                        "(1 KB = 1000 bytes), e.g. 40KB/s")
    p.add_argument("--device", default="rpi3",
                   help="'rpi3' (24 GFLOP/s, 1 GB, 36%% for the model) or '<FLOP/s>,<memory>[,<fraction>]', "
                        "e.g. '24GFLOP/s,360MB'")
    p.add_argument("--server", default="rtx2080ti", help="'rtx2080ti' (13.45 TFLOP/s) or '<FLOP/s>'")
    p.add_argument("--table", nargs="+", default=None,
                   help="lookup table JSON file(s) (default: data/results/sweep_<preset>.json, or the float32 "
                        "original table until the sweep has run)")
    p.add_argument("--preset", type=check.preset, default="quick", help="whose default table to read when --table is not given")
    p.add_argument("--threshold", type=check.threshold, default=None,
                   help="minimum validation accuracy (test accuracy for tables without a validation split), 0.89 "
                        "or 89%% (default: the baseline's on the same split minus the preset's drop)")
    p.add_argument("--scaled", action="store_true",
                   help="slow the hardware down to the tables' network width, so that it runs the narrow "
                        "network as long as the paper's hardware runs the paper's (see scale_to_width)")
    p.add_argument("--channel", type=check.channel_filter, default="noiseless",
                   help="only records of this channel (default: noiseless, as in the paper's Fig. 4; "
                        "e.g. awgn:10, bsc:0.01, or 'any')")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_latency)

    p = commands.add_parser("prune", help="prune the device part at each (split, sparsity) of a preset; "
                                          "one seed's table in data/results/prune/ ('run pruning': every seed)")
    p.add_argument("--preset", type=check.preset, default="quick")
    p.add_argument("--splits", nargs="+", type=check.split_point, default=None, help="split points (default: the preset's)")
    p.add_argument("--sparsities", nargs="+", type=check.sparsity, default=None,
                   help="target channel sparsities in [0, 1) (default: the preset's)")
    p.add_argument("--output-sparsity", type=check.sparsity, default=None,
                   help="sparsity of the sent channels (activation pruning); default: the same target")
    p.add_argument("--epochs", type=check.positive_int, default=None, help="override the fine-tuning epochs")
    p.add_argument("--train-limit", type=check.positive_int, default=None, help="fine-tune on the first N training images")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/prune/prune_<preset>.json; "
                   "the committed table comes from 'run pruning', every seed)")
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: data/checkpoints)")
    p.add_argument("--no-checkpoints", action="store_true", help="do not save the pruned models")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    set_arg(p)
    p.set_defaults(func=_prune)

    p = commands.add_parser("sweep", help="brute-force search over every method's settings (resumable cells) "
                                          "-> data/results/sweep_<preset>.json")
    p.add_argument("--preset", type=check.preset, default="quick", help="dataset, baseline network and seed (quick or paper)")
    p.add_argument("--grid", type=check.sweep_grid_name, default=None, help="sweep grid (default: the preset's; 'tiny' for tests)")
    p.add_argument("--list-cells", action="store_true", help="print every cell id and whether it is done")
    p.add_argument("--cell", nargs="+", default=None, metavar="ID", help="run only these cells")
    p.add_argument("--shard", type=check.shard, default=None, metavar="I/N", help="run only slice I of N of the grid (0-based)")
    p.add_argument("--gather", action="store_true", help="only write the table from finished cells")
    p.add_argument("--cells-dir", default=None, help="cell results folder (default: data/results/cells/<preset>)")
    p.add_argument("--table", default=None, help="table path (default: data/results/sweep_<preset>.json, or data/results/sweep/sweep_<preset>.json "
                   "where the former holds every seed's table from 'run sweep')")
    p.add_argument("--cache", default=None, help="checkpoint cache (default: data/checkpoints/<preset>/sweep)")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    set_arg(p)
    p.add_argument("--workers", type=check.positive_int, default=1,
                   help="processes on this machine running the unfinished cells side by side")
    p.set_defaults(func=_sweep)

    p = commands.add_parser("plan", help="what the sweep will cost: trainings x epochs x images per step, GPU time",
                            description="Counts every training and evaluation of the preset's sweep from its cell "
                                        "plan and converts it to time with one rate (full-network training images/s).")
    p.add_argument("--preset", type=check.preset, default="paper",
                   help="whose sweep and tables to price (default paper, the GPU run; quick for the CPU one)")
    p.add_argument("--gpu-rate", type=check.positive_float, default=None, metavar="IMAGES_PER_S",
                   help="full-network training images per second on your GPU (default: an H200's, measured)")
    p.add_argument("--seeds", type=check.positive_int, default=3, help="training seeds per configuration (default 3)")
    p.add_argument("--gpu-report", default=None, metavar="REPORT",
                   help="a report of benchmarks/cuda_check.py: also project the sweep at its new data path's rate "
                        "(or --gpu-rate) with the speed-ups it measured")
    p.add_argument("--workers", type=check.positive_int, default=1,
                   help="with --gpu-report: trainings at once on the GPU (sweep --workers), at its measured factor")
    p.add_argument("--mps", action="store_true",
                   help="with --gpu-report: the workers share the GPU through CUDA MPS (start the daemon, "
                        "nvidia-cuda-mps-control -d, before the sweep), at the factors measured so")
    set_arg(p)
    p.set_defaults(func=cli_search.plan)

    p = commands.add_parser("search", help="multi-objective search (Optuna) over the sweep's cells: device MACs and "
                                           "bits, accuracy >= threshold",
                            description="Each trial is a sweep cell (same id, same result file): repeats are free. "
                                        "Default storage: the journal data/search/<preset>.journal.")
    p.add_argument("--preset", type=check.preset, default="quick",
                   help="dataset, network and sweep grid (the search space)")
    p.add_argument("--grid", type=check.sweep_grid_name, default=None,
                   help="another sweep grid as the search space (e.g. 'tiny')")
    set_arg(p)
    p.add_argument("--trials", type=check.positive_int, default=None, help="the most trials to run (in all workers "
                   "together); a trial that repeats a known configuration or is rejected trains nothing")
    p.add_argument("--trainings", type=check.positive_int, default=None,
                   help="stop after this many trainings (cells trained, in all workers together)")
    p.add_argument("--patience", type=check.positive_int, default=None,
                   help="stop after this many trials in a row that train nothing: the sampler has converged "
                        "(default 100, per worker)")
    p.add_argument("--seed", type=check.nonnegative_int, default=None,
                   help="sampler seed (worker i gets seed + i; each below 2**32)")
    p.add_argument("--sampler", choices=["tpe", "nsga2", "gp", "random"], default="tpe")
    p.add_argument("--storage", default=None,
                   help="an Optuna URL (postgresql://..., sqlite:///...) or a journal file "
                        "(default data/search/<preset>.journal; with --oracle data/search/<preset>-rehearsal.journal)")
    p.add_argument("--study", default=None, help="study name (default coinfer-<preset>)")
    p.add_argument("--workers", type=check.positive_int, default=1, help="worker processes on this machine, one storage")
    p.add_argument("--recover", action="store_true",
                   help="mark the RUNNING trials of dead workers FAILED and queue their parameters again")
    p.add_argument("--all", action="store_true", help="with --recover: every RUNNING trial (no worker runs anywhere)")
    p.add_argument("--export", action="store_true",
                   help="write the completed trials as a lookup table (default data/results/search_<preset>.json)")
    p.add_argument("--replay", action="store_true",
                   help="replay TPE, NSGA-II and random search on the sweep table as an oracle "
                        "-> data/results/search/replay_<preset>.json (takes --trials, --patience, --objectives, "
                        "--oracle, --out; another grid needs its table as --oracle and an --out)")
    p.add_argument("--oracle", default=None, metavar="TABLE",
                   help="answer trials from this lookup table instead of training (a rehearsal; its default "
                        "journal is its own, never the live search's)")
    p.add_argument("--delay", type=check.nonnegative_float, default=0.0, help="with --oracle: seconds each training takes")
    p.add_argument("--cells-dir", default=None, help="cell results folder (default: the sweep's)")
    p.add_argument("--rate-weights", type=check.nonnegative_float, nargs="+", default=None, metavar="W",
                   help="also search every code size of the grid trained with a rate term of these weights")
    p.add_argument("--objectives", default="device_macs,bits_per_image",
                   help="to minimise: two or three of device_macs, bits_per_image (bits), server_macs")
    p.add_argument("--device-memory", default=None, metavar="BYTES|DEVICE",
                   help="reject untrained what cannot fit: bytes for the device part ('3MB') or a device ('rpi3')")
    p.add_argument("--margin", type=check.nonnegative_float, default=None, help="early stop when the warmed-up "
                   "network's validation accuracy is this far below the threshold (default 0.05)")
    p.add_argument("--summary", nargs="?", const="", default=None, help="write what the live search did (wall time, "
                   "trials, front) there (default data/results/search/live_<preset>.json)")
    p.add_argument("--out", default=None, help="output file of --export or --replay")
    p.add_argument("--threads", type=check.positive_int, default=None, help="torch CPU threads")
    p.set_defaults(func=cli_search.search)

    p = commands.add_parser("figure", help="draw a book figure from the committed tables (--list: which)")
    p.add_argument("name", nargs="?", default=None, help="the figure (see --list)")
    p.add_argument("--list", action="store_true", help="name every figure with its chapter")
    p.add_argument("--preset", type=check.preset, default="quick", help="whose tables to draw")
    p.add_argument("--out", default=None, help="output file, .png or .svg (default: <name>_<preset>.png)")
    p.set_defaults(func=_figure)
    for name in DATA_COMMANDS:
        add_data_arguments(commands.choices[name])
    return parser


#: The commands that load a dataset (profile only with --dataset).
DATA_COMMANDS = ("profile", "train", "serve", "device", "measure", "train-codec", "encode", "jscc",
                 "original-table", "prune", "sweep", "search", "run")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset options every data-loading command shares: ``--trust-local-data``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A command's parser; :func:`main` applies the option before the command runs.

    Examples
    --------
    >>> import argparse
    >>> from coinfer.cli import add_data_arguments
    >>> p = argparse.ArgumentParser()
    >>> add_data_arguments(p)
    >>> p.parse_args(["--trust-local-data"]).trust_local_data
    True
    """
    parser.add_argument("--trust-local-data", action="store_true",
                        help="use a local CIFAR-10 folder whose files differ from the official release "
                             "(skips the md5 check: you vouch for the files; same as "
                             "COINFER_TRUST_LOCAL_DATA=1)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(check.attach_negative_values(parser, sys.argv[1:] if argv is None else list(argv)))
    except SystemExit as exit:   # a bad option: argparse printed the message; 2, as for any bad input
        return exit.code if isinstance(exit.code, int) else 2
    args.argv = list(argv) if argv is not None else sys.argv[1:]   # for provenance
    if getattr(args, "trust_local_data", False):
        from coinfer.data import trust_local_data

        trust_local_data(True)   # the environment carries it to loader workers and sub-processes
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
