"""The command line: ``python -m coinfer <command>``.

Commands::

    python -m coinfer profile [--width W] [--dataset D] [--json]   # Fig. 1's numbers
    python -m coinfer train --preset quick|paper                   # the baseline network
    python -m coinfer prune --preset quick|paper                   # pruned device parts -> data/results/pruning_<preset>.json
    python -m coinfer encode --preset quick|paper                  # feature encoders + Huffman baseline
    python -m coinfer sweep --preset quick|paper                   # every method's grid -> data/results/sweep_<preset>.json
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
    command = "python -m coinfer encode " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["encode"] else [])
    table = run_encoding(preset.name, config, command=command.strip())
    path = args.out or results_dir() / f"encoding_{preset.name}.json"
    table.save(path)
    print(f"wrote {len(table.records)} records to {path} in {table.provenance.wall_time_s:.0f} s")
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
        if arg in ("--gather", "--no-progress", "--list-cells"):
            continue
        if arg in ("--cell", "--shard"):
            skip = 1
            continue
        out.append(arg)
    return out


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sweep import cells, default_paths, gather, get_sweep_config, run_sweep

    grid = args.grid or args.preset
    config = get_sweep_config(grid)
    paths = default_paths(args.preset, grid)
    cells_dir = Path(args.cells_dir) if args.cells_dir else paths["cells_dir"]
    table = Path(args.table) if args.table else paths["table"]
    command = "python -m coinfer " + " ".join(_regenerating_argv(args.argv))
    if args.list_cells:
        for cell in cells(args.preset, config):
            done = (cells_dir / f"{cell.id}.json").exists()
            print(f"{cell.id}\t{'done' if done else 'todo'}")
        return 0
    if args.gather:
        result = gather(args.preset, config, cells_dir, table, command=command)
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
    result = run_sweep(args.preset, config, cells_dir=cells_dir, table=table,
                       cache_dir=args.cache or paths["cache_dir"], only=args.cell, shard=shard, command=command,
                       progress=not args.no_progress)
    if result is None:
        print("some cells are not finished yet; run the sweep again (or --gather once all are done)")
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


    p = commands.add_parser("encode", help="train feature encoders (section IV) and the 8-bit Huffman baseline")
    p.add_argument("--preset", default="quick")
    p.add_argument("--splits", nargs="+", default=None, help="override the preset's split points")
    p.add_argument("--code-sizes", nargs="+", default=None, help="override the code sizes, e.g. d16-l4 d16-k16")
    p.add_argument("--train-limit", type=int, default=None, help="training images for the codecs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="output JSON (default: data/results/encoding_<preset>.json)")
    p.set_defaults(func=_encode)

    p = commands.add_parser("sweep", help="brute-force search over every method's settings (resumable cells) "
                                          "-> data/results/sweep_<preset>.json")
    p.add_argument("--preset", default="quick", help="dataset, baseline network and seed (quick or paper)")
    p.add_argument("--grid", default=None, help="sweep grid (default: the preset's; 'tiny' for tests)")
    p.add_argument("--list-cells", action="store_true", help="print every cell id and whether it is done")
    p.add_argument("--cell", nargs="+", default=None, metavar="ID", help="run only these cells")
    p.add_argument("--shard", default=None, metavar="I/N", help="run only slice I of N of the grid (0-based)")
    p.add_argument("--gather", action="store_true", help="only write the table from finished cells")
    p.add_argument("--cells-dir", default=None, help="cell results folder (default: data/results/cells/<preset>)")
    p.add_argument("--table", default=None, help="table path (default: data/results/sweep_<preset>.json)")
    p.add_argument("--cache", default=None, help="checkpoint cache (default: data/checkpoints/<preset>/sweep)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]   # for provenance
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
