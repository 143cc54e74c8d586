"""The command line: ``python -m coinfer <command>``.

Commands::

    python -m coinfer profile [--width W] [--dataset D] [--json]   # Fig. 1's numbers
    python -m coinfer train --preset quick|paper                   # the baseline network
    python -m coinfer encode --preset quick|paper                  # feature encoders + Huffman baseline
    python -m coinfer original-table --preset quick                # float32 records of the baseline
    python -m coinfer latency --rate 40KB/s [--device rpi3|<FLOP/s>,<bytes>] [--server rtx2080ti|<FLOP/s>]
                              [--table PATH ...] [--threshold 0.89|89%] [--scaled] [--channel noiseless]
                              [--json]
    python -m coinfer prune --preset quick|paper                   # pruned device parts -> data/results/pruning_<preset>.json
"""

from __future__ import annotations

import argparse
import json
import sys


def _profile(args: argparse.Namespace) -> int:
    from .models import resnet18
    from .profile import format_table, input_size, profile_splits

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
    from .presets import get_preset
    from .train import get_baseline

    preset = get_preset(args.preset, **({"epochs": args.epochs} if args.epochs else {}))
    _, meta = get_baseline(preset, checkpoints=args.checkpoints, retrain=args.retrain)
    print(f"baseline ({preset.name}, {preset.dataset}, width {preset.width:g}): "
          f"test accuracy {meta['test_accuracy']:.4f}, trained in {meta['wall_time_s']} s")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from .encode_experiment import get_encode_config, run_encoding
    from .paths import results_dir
    from .presets import get_preset

    preset = get_preset(args.preset)
    overrides = {k: v for k, v in {"splits": args.splits, "code_sizes": args.code_sizes,
                                   "train_limit": args.train_limit}.items() if v is not None}
    config = get_encode_config(preset.name, **overrides)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    table = run_encoding(preset.name, config, command="python -m coinfer " + " ".join(args.argv))
    path = args.out or results_dir() / f"encoding_{preset.name}.json"
    table.save(path)
    print(f"wrote {len(table.records)} records to {path} in {table.provenance.wall_time_s:.0f} s")
    return 0


def _original_table(args: argparse.Namespace) -> int:
    from .latency import write_original_table

    path = write_original_table(args.preset)
    print(f"wrote {path}")
    return 0


def parse_threshold(text: str) -> float:
    """An accuracy threshold from ``"0.89"`` or ``"89%"``, as a fraction in [0, 1]."""
    value = text.strip()
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"cannot read accuracy threshold {text!r}: give a fraction (0.89) or a percentage (89%)") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"accuracy threshold {text!r} must be a fraction in [0, 1] or a percentage in [0%, 100%]")
    return number


def _latency(args: argparse.Namespace) -> int:
    from .latency import (Choice, Environment, load_candidates, parse_device, parse_rate, parse_server,
                          scale_to_width, choose_per_method, choose, NoFeasibleConfiguration)

    rate = parse_rate(args.rate)
    device, server = parse_device(args.device), parse_server(args.server)
    candidates = load_candidates(args.table, preset=args.preset)
    if args.scaled:
        device, server = scale_to_width(device, server, candidates.width)
    env = Environment(device, server, rate)
    threshold = parse_threshold(args.threshold) if args.threshold is not None else candidates.threshold()
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
                "device_macs": r.device_macs, "bits_per_image": r.bits_per_image,
                "device_s": t.device_s, "communication_s": t.communication_s, "server_s": t.server_s,
                "total_s": t.total_s, "footprint_bytes": choice.footprint_bytes,
                "feasible": choice.feasible, "candidates": choice.candidates}

    if args.json:
        print(json.dumps({"environment": env.describe(), "rate_bits_per_s": rate, "threshold": threshold,
                          "tables": candidates.sources, "methods": {m: row(c) for m, c in per_method.items()},
                          "overall": row(overall)}, indent=1))
        return 0
    print(f"environment : {env.describe()}")
    print(f"threshold   : accuracy >= {threshold:.4f}   memory <= {device.budget_bytes / 1e6:.4g} MB "
          f"(footprint = {env.memory.overhead_factor:.3g} x 4 B x (params + peak activations))")
    for source in candidates.sources:
        print(f"table       : {source}")
    w = max([16] + [len(m) for m in per_method])
    c = max([12] + [len(r.code_size) for r in records])
    header = (f"{'method':<{w}} {'split':<9} {'sparsity':>8} {'code':<{c}} {'accuracy':>8} {'kbit':>9} "
              f"{'device ms':>10} {'link ms':>10} {'server ms':>10} {'total ms':>10} {'memory MB':>9}")
    print(header)
    print("-" * len(header))
    for method, choice in list(per_method.items()) + [("OVERALL BEST", overall)]:
        if isinstance(choice, NoFeasibleConfiguration):
            print(f"{method:<{w}} none fits: {str(choice).split(': ', 1)[1]}")
            continue
        r, t = choice.record, choice.latency
        print(f"{method:<{w}} {r.split:<9} {r.sparsity:>8.2f} {r.code_size or '-':<{c}} {r.accuracy:>8.4f} "
              f"{r.bits_per_image / 1e3:>9.3f} {t.device_s * 1e3:>10.3f} {t.communication_s * 1e3:>10.3f} "
              f"{t.server_s * 1e3:>10.4f} {t.total_s * 1e3:>10.3f} {choice.footprint_bytes / 1e6:>9.3g}")
    print("kbit = 1000 bits per image; rates: 1 KB/s = 1000 bytes/s = 8000 bit/s; FLOPs = 2 x MACs.")
    return 0


def _prune(args: argparse.Namespace) -> int:
    import torch

    from .prune import get_prune_config, run_pruning

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    if args.splits:
        overrides["splits"] = tuple(args.splits)
    if args.sparsities:
        overrides["sparsities"] = tuple(args.sparsities)
    for name in ("epochs", "train_limit", "output_sparsity"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = get_prune_config(args.preset, **overrides)
    table = run_pruning(args.preset, config, out=args.out, checkpoints=args.checkpoints,
                        save_checkpoints=not args.no_checkpoints,
                        command="python -m coinfer " + " ".join(args.argv))
    print(f"{len(table.records)} records in {table.provenance.wall_time_s} s "
          f"({table.provenance.describe()})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coinfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("profile", help="per split point: device/server MACs, parameters, feature size")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0: the paper's network)")
    p.add_argument("--dataset", choices=["cifar10", "fashion-mnist"], default=None,
                   help="also measure this dataset's raw and PNG image size")
    p.add_argument("--images", type=int, default=1000, help="test images averaged for the PNG size")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_profile)

    p = commands.add_parser("train", help="train (or load) a preset's baseline network")
    p.add_argument("--preset", default="quick")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: data/checkpoints)")
    p.add_argument("--retrain", action="store_true", help="train even if a checkpoint exists")
    p.set_defaults(func=_train)

    p = commands.add_parser("encode", help="train feature encoders (section IV) and the 8-bit Huffman baseline")
    p.add_argument("--preset", default="quick")
    p.add_argument("--splits", nargs="+", default=None, help="override the preset's split points")
    p.add_argument("--code-sizes", nargs="+", default=None, help="override the code sizes, e.g. d16-l4 d16-k16")
    p.add_argument("--train-limit", type=int, default=None, help="training images for the codecs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/encoding_<preset>.json)")
    p.set_defaults(func=_encode)

    p = commands.add_parser("original-table", help="float32 records of the trained baseline at every split point")
    p.add_argument("--preset", default="quick")
    p.set_defaults(func=_original_table)

    p = commands.add_parser("latency", help="choose the fastest configuration for a device, link and server",
                            description="Section V-C: T = 2 x device MACs / device FLOP/s + bits / rate "
                                        "+ 2 x server MACs / server FLOP/s, among the records that reach "
                                        "the accuracy threshold and fit the device's memory.")
    p.add_argument("--rate", required=True,
                   help="uplink rate with a unit: B/s, KB/s, MB/s, GB/s, bit/s, kbit/s, Mbit/s, Gbit/s "
                        "(1 KB = 1000 bytes), e.g. 40KB/s")
    p.add_argument("--device", default="rpi3",
                   help="'rpi3' (24 GFLOP/s, 1 GB, 36%% for the model) or '<FLOP/s>,<memory>[,<fraction>]', "
                        "e.g. '24GFLOP/s,360MB'")
    p.add_argument("--server", default="rtx2080ti", help="'rtx2080ti' (13.45 TFLOP/s) or '<FLOP/s>'")
    p.add_argument("--table", nargs="+", default=None,
                   help="lookup table JSON file(s) (default: data/results/sweep_<preset>.json, or the float32 "
                        "original table until the sweep has run)")
    p.add_argument("--preset", default="quick", help="whose default table to read when --table is not given")
    p.add_argument("--threshold", default=None,
                   help="minimum accuracy, 0.89 or 89%% (default: the table's baseline minus the preset's drop)")
    p.add_argument("--scaled", action="store_true",
                   help="slow the hardware down to the tables' network width, so that it runs the narrow "
                        "network as long as the paper's hardware runs the paper's (see scale_to_width)")
    p.add_argument("--channel", default="noiseless",
                   help="only records of this channel (default: noiseless, as in the paper's Fig. 4; "
                        "e.g. awgn:10, bsc:0.01, or 'any')")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_latency)

    p = commands.add_parser("prune", help="prune the device part at each (split, sparsity) of a preset; "
                                          "writes data/results/pruning_<preset>.json")
    p.add_argument("--preset", default="quick")
    p.add_argument("--splits", nargs="+", default=None, help="split points (default: the preset's)")
    p.add_argument("--sparsities", nargs="+", type=float, default=None,
                   help="target channel sparsities in [0, 1) (default: the preset's)")
    p.add_argument("--output-sparsity", type=float, default=None,
                   help="sparsity of the sent channels (activation pruning); default: the same target")
    p.add_argument("--epochs", type=int, default=None, help="override the fine-tuning epochs")
    p.add_argument("--train-limit", type=int, default=None, help="fine-tune on the first N training images")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/pruning_<preset>.json)")
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: data/checkpoints)")
    p.add_argument("--no-checkpoints", action="store_true", help="do not save the pruned models")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_prune)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]   # for provenance
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
