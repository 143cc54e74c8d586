"""The ``search`` and ``plan`` commands: how many trainings a front costs, and what a sweep costs.

Their arguments are declared in :mod:`coinfer.cli` with every other command's.
"""

from __future__ import annotations

import argparse
import sys


def search(args: argparse.Namespace) -> int:
    """The configuration search (coinfer.experiments.search): live, rehearsed on a table, recovery, export."""
    import subprocess
    import time
    from pathlib import Path

    from coinfer.config import get_preset, parse_overrides, sweep_grid
    from coinfer.experiments import search, search_checks, search_replay, search_study
    from coinfer.paths import search_live_path, search_replay_path, table_path
    from coinfer.results import Provenance, load_table, write_json_atomic

    overrides = parse_overrides(args.set)
    if args.grid:
        overrides = {"sweep": sweep_grid(args.grid), **overrides}
    preset = get_preset(args.preset, **overrides)
    if args.rate_weights:      # the grid's code sizes, each also with a rate term of each weight
        from coinfer.experiments.rate import rate_weight_overrides

        preset = get_preset(args.preset, **overrides, **rate_weight_overrides(preset, "sweep", args.rate_weights))
    command = "python -m coinfer " + " ".join(args.argv)
    objectives = search_checks.parse_objectives(args.objectives)
    budget = search_checks.memory_budget(args.device_memory)
    if args.replay:
        table = load_table(args.oracle or table_path("sweep", preset.name))
        if args.trainings:
            raise ValueError(f"--trainings {args.trainings}: a replay's studies train at most the grid's cells; "
                             "give --trials or --patience")
        if args.device_memory:   # it was taken and ignored: the replay's studies search the table as it is
            raise ValueError(f"--device-memory {args.device_memory}: a replay searches the table's points as they "
                             "are; give it to a live search, or choose under a budget with 'python -m coinfer latency'")
        out = search_replay.replay(preset, table, trials=args.trials or search_replay.REPLAY_TRIALS, command=command,
                                   objectives=objectives, patience=args.patience or search_study.PATIENCE)
        tag = search_checks.objectives_tag(objectives)
        path = write_json_atomic(args.out or search_replay_path(preset.name, tag), out)
        for name, s in out["summary"].items():
            t, f = s["trainings_to_target"], s["trainings_to_front"]
            print(f"{name:>7}: {s['reached']}/{s['runs']} seeds reach {out['settings']['target']:.0%} of the grid's "
                  f"hypervolume after {t['mean']} +- {t['std']} trainings (min {t['min']}, max {t['max']}; "
                  f"{s['within_a_third']} within a third of the grid's {out['grid']['trainings']}); "
                  f"the whole front after {f['mean']} +- {f['std']} ({s['reached_front']}/{s['runs']} seeds)")
            for patience, stop in s["stopping"].items():
                print(f"{'':>9}stopping after {patience} trials without a training: {stop['trainings']['mean']} +- "
                      f"{stop['trainings']['std']} trainings, the whole front in {stop['front']}/{stop['runs']} seeds")
        print(f"wrote {path}")
        return 0
    from coinfer.experiments.sweep import grid_name

    if not (args.recover or args.export):   # a search's arguments, checked before its journal is opened (made)
        if not args.trials and not args.trainings:
            raise ValueError("--trials N or --trainings N is needed to search (or --recover, --export, --replay)")
        if args.workers > 1 and args.summary is not None:   # it was dropped: no worker sees the whole search
            raise ValueError("--summary describes one process's search; with --workers N, search first, then "
                             "write the table of all workers' trials with --export")
        for name in ("trials", "trainings"):
            if args.workers > 1 and getattr(args, name) and getattr(args, name) < args.workers:
                raise ValueError(f"--{name} {getattr(args, name)} is fewer than --workers {args.workers}: "
                                 "each worker needs at least one")
    grid = grid_name(preset)          # one study per preset and grid (its search space)
    label = preset.name if grid == preset.name else f"{preset.name}-{grid}"
    study = search_study.open_study(preset.name, args.storage, sampler=args.sampler, seed=args.seed,
                                    study_name=args.study or f"coinfer-{label}", objectives=objectives)
    if args.recover:
        stale = search_study.recover(study, all_running=args.all)
        print(f"{len(stale)} stale trial(s) marked FAILED and queued again: {stale}")
        return 0
    if args.export:
        from coinfer.experiments.sweep import baseline_digest, cells
        from coinfer.paths import search_table_path

        ids, baseline = {c.id for c in cells(preset)}, baseline_digest(preset)   # trials of the grid as it is now
        table = search_study.export(study, path=args.out or search_table_path(label), command=command,
                                    current=lambda trial: search_checks.current_trial(trial, ids, baseline))
        print(f"wrote {len(table.records)} records of {len(study.trials)} trials")
        return 0
    if args.workers > 1:
        # N processes against one storage; each gets its share of the trials and its own seed.
        if args.storage is None:
            from coinfer.paths import search_journal_path

            args.storage = str(search_journal_path(preset.name))

        def share(total, i):   # worker i's part of a budget of all workers together
            return total // args.workers + (i < total % args.workers)

        procs = []
        for i in range(args.workers):
            argv = [sys.executable, "-m", "coinfer", "search", "--preset", preset.name,
                    "--sampler", args.sampler, "--storage", args.storage, "--delay", str(args.delay)]
            argv += ["--trials", str(share(args.trials, i))] if args.trials else []
            argv += ["--trainings", str(share(args.trainings, i))] if args.trainings else []
            argv += ["--patience", str(args.patience)] if args.patience else []
            argv += ["--seed", str(args.seed + i)] if args.seed is not None else []
            argv += ["--study", args.study] if args.study else []
            argv += ["--oracle", args.oracle] if args.oracle else []
            argv += ["--objectives", ",".join(objectives)] + (["--margin", str(args.margin)] if args.margin is not None else [])
            argv += ["--device-memory", args.device_memory] if args.device_memory else []
            argv += ["--grid", args.grid] if args.grid else []
            argv += ["--cells-dir", args.cells_dir] if args.cells_dir else []
            argv += [a for v in args.set or [] for a in ("--set", v)]
            argv += ["--threads", str(args.threads)] if args.threads else []
            argv += ["--rate-weights", *map(str, args.rate_weights)] if args.rate_weights else []
            procs.append(subprocess.Popen(argv))
        codes = [p.wait() for p in procs]
        print(f"{args.workers} workers done (exit codes {codes}); {len(study.trials)} trials in the study")
        return max(codes)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.oracle:
        table = load_table(args.oracle)
        objective = search_replay.ReplayObjective(preset, table, delay_s=args.delay, objectives=objectives,
                                                  memory_budget=budget)
        baseline = table.provenance.baseline_accuracy
        validation, baseline_val = table.provenance.validation, table.provenance.baseline_val_accuracy
    else:
        from coinfer.experiments.sweep import default_paths
        from coinfer.results import accuracy_threshold
        from coinfer.train import get_baseline

        paths = default_paths(preset)
        meta = get_baseline(preset)[1]
        baseline = meta["test_accuracy"]
        validation, baseline_val = meta.get("validation"), meta.get("val_accuracy")
        # The constraint is on validation accuracy: the baseline's own, less the preset's drop.
        val, test = (accuracy_threshold(a, preset.accuracy_drop) for a in (meta.get("val_accuracy") or baseline, baseline))
        objective = search.LiveObjective(preset, val, Path(args.cells_dir or paths["cells_dir"]), paths["cache_dir"],
                                         margin=args.margin, objectives=objectives, memory_budget=budget, test_threshold=test)
    start = time.time()
    stopped = search_study.optimize(study, objective, args.trials, baseline_accuracy=baseline, trainings=args.trainings,
                                    patience=args.patience or search_study.PATIENCE, validation=validation,
                                    baseline_val_accuracy=baseline_val)
    wall = time.time() - start
    run = Provenance.collect(preset.dataset, preset.name, wall, command=command)     # commit, hardware, date
    summary = {**search_study.summarize(study, objective, wall_time_s=wall, command=command),
               "stopped": stopped, "git_commit": run.git_commit, "hardware": run.hardware, "date": run.date}
    if args.summary is not None:
        print(f"wrote {write_json_atomic(args.summary or search_live_path(label), summary)}")
    print(f"stopped by its {stopped} budget; {len(study.trials)} trials in the study ({summary['states']}), "
          f"{summary['trained']} trained, "
          f"{summary['wall_time_s']:.0f} s; feasible front: " + ", ".join(summary["front"]))
    return 0


def plan(args: argparse.Namespace) -> int:
    from coinfer.config import get_preset, parse_overrides
    from coinfer.experiments.plan import MEASURED_H200_RATE, format_plan
    from coinfer.experiments.plan_tables import format_table_plans, table_plans
    from coinfer.experiments.device_report import committed_name
    from coinfer.paths import device_report_path
    from coinfer.tensor_data import COMPILE_ENV, DataPath

    if args.workers != 1 and not args.gpu_report:
        raise ValueError(f"--workers {args.workers} needs --gpu-report: the workers' factor is a device check's "
                         "measurement (benchmarks/cuda_check.py)")
    preset = get_preset(args.preset, **parse_overrides(args.set))
    print(f"sweep of preset {preset.name!r} ({preset.dataset}, width {preset.width:g}), {args.seeds} seed(s); "
          f"one image costs its share of a full-network training step")
    plans = table_plans(preset, seeds=args.seeds)
    print(format_plan(plans["sweep"], args.gpu_rate or MEASURED_H200_RATE))
    if DataPath.for_device("cuda").kept_channels:
        print("(pruning fine-tunes priced on the kept channels, as the GPU path trains them)")
    else:
        print(f"(pruning fine-tunes priced masked at full width: {COMPILE_ENV}=1 turns the kept channels off)")
    if not args.gpu_rate and not args.gpu_report:
        print(f"(rate: {MEASURED_H200_RATE:,.0f} images/s, the full-width network measured on an H200; "
              "measure yours with benchmarks/cuda_check.py and pass --gpu-rate"
              + (f", or --gpu-report {committed_name()} for the committed one's"
                 if device_report_path().exists() else "") + ")")
    print(format_table_plans(plans, args.gpu_rate or MEASURED_H200_RATE))
    if args.gpu_report:
        print(projection(args, plans))
    return 0


def projection(args: argparse.Namespace, plans: dict) -> str:
    """The sweep as the GPU of ``args.gpu_report`` (a device check's report) would run it: at its new
    data path's rate (or ``--gpu-rate``), with the speed-ups it measured (plan.projected_plan); then
    every table of ``plans`` (plan_tables.table_plans) alike, ``--workers`` on the tables that run
    cells in several processes only."""
    import math

    from coinfer.experiments import TABLES
    from coinfer.experiments.device_report import read_device_report, report_device, report_rate
    from coinfer.results import Provenance
    from coinfer.experiments.plan import format_plan, projected_plan
    from coinfer.experiments.plan_tables import format_tables_total
    from coinfer.tensor_data import DataPath

    report = read_device_report(args.gpu_report)
    rate = args.gpu_rate or report_rate(report)
    if not rate:
        raise ValueError(f"{args.gpu_report} has no new data path rate (its data_path check: "
                         f"{str(report.get('data_path'))[:200]}); pass --gpu-rate")
    compiled = DataPath.for_device("cuda").compile_frozen
    steps, used = projected_plan(plans["sweep"], report["factors"], compiled, args.workers)
    tables = {name: steps if name == "sweep" else projected_plan(
        table, report["factors"], compiled, args.workers if TABLES[name].parallel else 1)[0]
        for name, table in plans.items()}
    by_factor = {n: [step for step, names in used.items() if n in names] for names in used.values() for n in names}
    applied = "; ".join(f"{n} {report['factors'][n]:.2f} on " + ("every step" if len(on) == len(used) else ", ".join(on))
                        for n, on in by_factor.items())
    g = report.get("provenance", {})
    compile_s = (report.get("together_compiled") or {}).get("compile_s")
    return "\n".join([
        f"\nprojected on {report_device(report)} ({args.gpu_report}, commit "
        f"{Provenance.short_commit(str(g.get('git_commit')))}, {report.get('date')}), {args.workers} worker(s), "
        f"{'with' if compiled else 'without'} the frozen parts compiled; each step's share divided by the speed-ups "
        f"measured for it ({applied or 'none measured'}):",
        format_plan(steps, rate),
        "(the savings the plan counts, codes together and kept channels, are not applied again"
        + (f"; compiling cost {compile_s:.0f} s at one split point from an empty cache, not counted"
           if compiled and isinstance(compile_s, (int, float)) and math.isfinite(compile_s) else "") + ")",
        format_tables_total(tables, rate, ", projected")])
