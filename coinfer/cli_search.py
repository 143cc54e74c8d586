"""The ``search`` and ``plan`` commands: how many trainings a front costs, and what a sweep costs.

Their arguments are declared in :mod:`coinfer.cli` with every other command's.
"""

from __future__ import annotations

import argparse
import sys

#: The options a replay does not read (it runs its own samplers and seeds in memory, on a table): given
#: to ``search --replay``, each is refused by name rather than ignored.
NOT_FOR_REPLAY = ("sampler", "seed", "workers", "storage", "study", "margin", "summary", "threads", "recover", "all",
                  "export", "delay", "cells_dir")
#: The options that change the grid searched: a replay of another grid needs that grid's table and its own output.
REPLAY_GRID = ("grid", "set", "rate_weights")
#: The options each other mode of ``search`` does not read, refused by name (``check_mode``) as a replay's are,
#: with what the mode does take.
NOT_FOR_MODE = {
    "recover": (("trials", "trainings", "patience", "seed", "sampler", "workers", "export", "delay", "cells_dir",
                 "device_memory", "margin", "summary", "out", "threads"),
                "--recover marks dead workers' RUNNING trials FAILED and queues them again; it takes --storage, "
                "--study, --objectives, --oracle (the rehearsal's journal), --all and the grid's options"),
    "export": (("trials", "trainings", "patience", "seed", "sampler", "workers", "all", "delay", "cells_dir",
                "device_memory", "margin", "summary", "threads"),
               "--export writes the study's completed trials as a table; it takes --storage, --study, --objectives, "
               "--oracle (the rehearsal's journal), --out and the grid's options"),
    "rehearsal": (("all", "margin", "cells_dir", "out"),
                  "a rehearsal (--oracle) answers each trial from its table: it trains nothing (no warm-up to stop "
                  "early, no cell files) and writes no table (--out is for --export or --replay, --all for --recover)"),
    "live": (("all", "delay", "out"),
             "a live search trains its trials (--delay is for a rehearsal with --oracle, --out for --export or "
             "--replay, --all for --recover)"),
}


def _option(name: str, value) -> str:
    """``--name value`` as typed (for messages)."""
    shown = "" if value is True or value == "" else " " + " ".join(map(str, value)) if isinstance(value, list) \
        else f" {value}"
    return f"--{name.replace('_', '-')}{shown}"


def _refuse(args: argparse.Namespace, names, why: str) -> None:
    """A ValueError for the first option of ``names`` given a value other than its default (``--name value: why``)."""
    from coinfer.cli import build_parser

    defaults = vars(build_parser().parse_args(["search"]))   # the parser's own, so that they cannot drift
    for name in names:
        if getattr(args, name) != defaults[name]:
            raise ValueError(f"{_option(name, getattr(args, name))}: {why}")


def check_mode(args: argparse.Namespace) -> str:
    """Refuse what a ``search`` that is not a replay would ignore; its mode.

    The mode is ``"recover"``, ``"export"``, ``"rehearsal"`` (``--oracle``) or ``"live"``; every option
    of its :data:`NOT_FOR_MODE` that differs from its default is a ValueError naming it (a replay's:
    ``check_replay``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``search`` command line.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.cli import build_parser
    >>> from coinfer.cli_search import check_mode
    >>> check_mode(build_parser().parse_args(["search", "--export", "--study", "s"]))
    'export'
    >>> check_mode(build_parser().parse_args(["search", "--export", "--trials", "5"]))
    Traceback (most recent call last):
    ...
    ValueError: --trials 5: --export writes the study's completed trials as a table; it takes --storage, --study, --objectives, --oracle (the rehearsal's journal), --out and the grid's options
    """
    mode = "recover" if args.recover else "export" if args.export else "rehearsal" if args.oracle else "live"
    _refuse(args, *NOT_FOR_MODE[mode])
    return mode


def check_replay(args: argparse.Namespace) -> None:
    """Refuse what ``search --replay`` would ignore, or use to overwrite the committed replay.

    A replay reads ``--trials``, ``--patience``, ``--objectives``, ``--oracle`` and ``--out``; every
    option of :data:`NOT_FOR_REPLAY` that differs from its default is a ValueError naming it. An
    option of :data:`REPLAY_GRID` changes the grid searched: allowed only with that grid's table
    (``--oracle``) and an ``--out`` file (the default output is the preset's committed replay).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``search`` command line.

    Examples
    --------
    >>> from coinfer.cli import build_parser
    >>> from coinfer.cli_search import check_replay
    >>> check_replay(build_parser().parse_args(["search", "--replay", "--trials", "50"]))
    >>> check_replay(build_parser().parse_args(["search", "--replay", "--sampler", "random"]))
    Traceback (most recent call last):
    ...
    ValueError: --sampler random: a replay runs its own samplers (TPE, NSGA-II, random) and seeds in memory on a table; it takes --trials, --patience, --objectives, --oracle and --out
    """
    _refuse(args, NOT_FOR_REPLAY, "a replay runs its own samplers (TPE, NSGA-II, random) and seeds in memory on a "
            "table; it takes --trials, --patience, --objectives, --oracle and --out")
    for name in REPLAY_GRID:
        if getattr(args, name) and not (args.oracle and args.out):
            raise ValueError(f"{_option(name, getattr(args, name))}: a replay searches the grid of its table, by "
                             "default the preset's committed sweep table, into its committed replay; to replay "
                             "another grid give that grid's sweep table with --oracle and a file with --out")


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
        if args.trainings:
            raise ValueError(f"--trainings {args.trainings}: a replay's studies train at most the grid's cells; "
                             "give --trials or --patience")
        if args.device_memory:   # it was taken and ignored: the replay's studies search the table as it is
            raise ValueError(f"--device-memory {args.device_memory}: a replay searches the table's points as they "
                             "are; give it to a live search, or choose under a budget with 'python -m coinfer latency'")
        check_replay(args)
        table = load_table(args.oracle or table_path("sweep", preset.name))
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

    mode = check_mode(args)
    if args.seed is not None and args.seed + args.workers - 1 >= 2 ** 32:   # optuna's limit, before a journal is made
        raise ValueError(f"--seed {args.seed} is too large: worker i gets seed + i, and each must be below 2**32 "
                         f"(give --seed <= {2 ** 32 - args.workers})")
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
    table = load_table(args.oracle) if mode == "rehearsal" else None
    if table is not None:   # the preset's grid, checked before a journal is opened (made)
        search_replay.check_grid(preset, table)
    grid = grid_name(preset)          # one study per preset and grid (its search space)
    label = preset.name if grid == preset.name else f"{preset.name}-{grid}"
    if args.oracle and args.storage is None:
        # A rehearsal's trials are a table's answers, not trainings: in the live search's journal a later
        # --export would publish them as the search's results. Its own journal (its workers get it too).
        from coinfer.paths import search_journal_path

        args.storage = str(search_journal_path(f"{preset.name}-rehearsal"))
    # --recover and --export read a search's study: a misspelt --study or --storage is an error, not a new study
    study = search_study.open_study(preset.name, args.storage, sampler=args.sampler, seed=args.seed,
                                    study_name=args.study or f"coinfer-{label}", objectives=objectives,
                                    create=not (args.recover or args.export))
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
        # Any failure fails the search. A worker killed by a signal has a negative code (max() once
        # took 0 over -9): reported as a shell does, 128 + the signal.
        failed = [(i, code) for i, code in enumerate(codes) if code != 0]
        for i, code in failed:
            print(f"error: worker {i} " + (f"was killed by signal {-code}" if code < 0 else f"exited with {code}"),
                  file=sys.stderr)
        return next((128 - code if code < 0 else code for _, code in failed), 0)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cache = None                 # a live search's fine-tuned networks, to count those it trains
    if table is not None:
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
        cache = Path(paths["cache_dir"])
    cached_before = set(cache.glob("*.pt")) if cache is not None else set()
    start, first = time.time(), len(study.trials)   # the summary describes this run's trials
    stopped = search_study.optimize(study, objective, args.trials, baseline_accuracy=baseline, trainings=args.trainings,
                                    patience=args.patience or search_study.PATIENCE, validation=validation,
                                    baseline_val_accuracy=baseline_val)
    wall = time.time() - start
    run = Provenance.collect(preset.dataset, preset.name, wall, command=command)     # commit, hardware, date
    summary = {**search_study.summarize(study, objective, wall_time_s=wall, command=command, first_trial=first),
               "stopped": stopped, "git_commit": run.git_commit, "hardware": run.hardware, "date": run.date}
    if cache is not None:   # its time includes these fine-tunes; networks already in the sweep's cache cost it nothing
        summary["networks_fine_tuned"] = len(set(cache.glob("*.pt")) - cached_before)
    if args.summary is not None:
        print(f"wrote {write_json_atomic(args.summary or search_live_path(label), summary)}")
    print(f"stopped by its {stopped} budget after {summary['trials']} trials ({summary['states']}), "
          f"{summary['trained']} trained, {summary['wall_time_s']:.0f} s; {summary['study_trials']} trials in the "
          "study, its feasible front" + (" within the memory budget" if budget is not None else "") + ": "
          + ", ".join(summary["front"]))
    return 0


def plan(args: argparse.Namespace) -> int:
    from coinfer.config import get_preset, parse_overrides
    from coinfer.experiments.plan import MEASURED_H200_RATE, format_plan
    from coinfer.experiments.plan_tables import format_table_plans, table_plans
    from coinfer.experiments.device_report import committed_name
    from coinfer.paths import device_report_path
    from coinfer.tensor_data import DataPath

    if args.workers != 1 and not args.gpu_report:
        raise ValueError(f"--workers {args.workers} needs --gpu-report: the workers' factor is a device check's "
                         "measurement (benchmarks/cuda_check.py)")
    if args.mps and not args.gpu_report:
        raise ValueError("--mps needs --gpu-report: the factors through CUDA MPS are a device check's measurement "
                         "(benchmarks/cuda_check.py, its mps_concurrency check)")
    report = read_report(args) if args.gpu_report else None   # a bad report fails before the plan is printed
    if args.mps:
        from coinfer.experiments.device_report import mps_factors

        report = {**report, "factors": mps_factors(report["factors"])}
    preset = get_preset(args.preset, **parse_overrides(args.set))
    print(f"sweep of preset {preset.name!r} ({preset.dataset}, width {preset.width:g}), {args.seeds} seed(s); "
          f"one image costs its share of a full-network training step")
    plans = table_plans(preset, seeds=args.seeds)
    print(format_plan(plans["sweep"], args.gpu_rate or MEASURED_H200_RATE))
    if DataPath.for_device("cuda").kept_channels:
        print("(pruning fine-tunes priced on the kept channels, as the GPU path trains them)")
    else:
        print("(pruning fine-tunes priced masked at full width, as the GPU path trains them: DataPath.for_device "
              "leaves the kept channels off, measured slower on an H200)")
    if not args.gpu_rate and not args.gpu_report:
        print(f"(rate: {MEASURED_H200_RATE:,.0f} images/s, the full-width network on the GPU path, measured on an H200; "
              "measure yours with benchmarks/cuda_check.py and pass --gpu-rate"
              + (f", or --gpu-report {committed_name()} for the committed one's"
                 if device_report_path().exists() else "") + ")")
    print(format_table_plans(plans, args.gpu_rate or MEASURED_H200_RATE))
    if report is not None:
        print(projection(args, plans, report, preset))
    return 0


def read_report(args: argparse.Namespace) -> dict:
    """The device check's report of ``args.gpu_report``, checked to give a rate (its own or ``--gpu-rate``).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``plan`` command line.

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError, ValueError
        No such report, not a report, or no rate in it and none given.

    Examples
    --------
    >>> from coinfer.cli import build_parser
    >>> from coinfer.cli_search import read_report
    >>> read_report(build_parser().parse_args(["plan", "--gpu-report", "no-such-report.json"]))
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such file or directory: 'no-such-report.json'
    """
    from coinfer.experiments.device_report import read_device_report, report_rate

    report = read_device_report(args.gpu_report)
    if not (args.gpu_rate or report_rate(report)):
        raise ValueError(f"{args.gpu_report} has no new data path rate (its data_path check: "
                         f"{str(report.get('data_path'))[:200]}); pass --gpu-rate")
    return report


def projection(args: argparse.Namespace, plans: dict, report: dict, preset) -> str:
    """The sweep of ``preset`` as the GPU of ``report`` (:func:`read_report` of ``args.gpu_report``)
    would run it: at its new data path's rate (or ``--gpu-rate``), with the speed-ups it measured
    (plan.projected_plan); then every table of ``plans`` (plan_tables.table_plans) alike, ``--workers``
    on the tables that run cells in several processes only; then every configuration measured, the
    sweep's tasks dealt out as its workers take them (plan_schedule.sweep_tasks)."""
    import math

    from coinfer.experiments import TABLES
    from coinfer.experiments.codec_pricing import codec_step_said
    from coinfer.experiments.device_report import report_device, report_rate
    from coinfer.results import Provenance
    from coinfer.experiments.plan import format_plan, projected_plan
    from coinfer.experiments.plan_schedule import sweep_tasks
    from coinfer.experiments.plan_tables import format_tables_total
    from coinfer.tensor_data import DataPath

    rate = args.gpu_rate or report_rate(report)
    path = DataPath.for_device("cuda")               # what COINFER_COMPILE asks a GPU to compile
    compiled = path.compile_frozen
    steps, used = projected_plan(plans["sweep"], report["factors"], compiled, args.workers, path.compile)
    tables = {name: steps if name == "sweep" else projected_plan(
        table, report["factors"], compiled, args.workers if TABLES[name].parallel else 1, path.compile)[0]
        for name, table in plans.items()}
    by_factor = {n: [step for step, names in used.items() if n in names] for names in used.values() for n in names}
    applied = "; ".join(f"{n} {report['factors'][n]:.2f} on " + ("every step" if len(on) == len(used) else ", ".join(on))
                        for n, on in by_factor.items())
    g = report.get("provenance", {})
    compile_s = (report.get("together_compiled") or {}).get("compile_s")
    return "\n".join([
        f"\nprojected on {report_device(report)} ({args.gpu_report}, commit "
        f"{Provenance.short_commit(str(g.get('git_commit')))}, {report.get('date')}), {args.workers} worker(s)"
        f"{' through CUDA MPS' if args.mps else ''}, "
        f"{'with every network' if path.compile else 'with the frozen parts' if compiled else 'without anything'} "
        f"compiled; each step's share divided by the speed-ups "
        f"measured for it ({applied or 'none measured'}):",
        format_plan(steps, rate),
        "(the savings the plan counts, such as the codes trained together, are not applied again"
        + (f"; compiling cost {compile_s:.0f} s at one split point from an empty cache, not counted"
           if compiled and isinstance(compile_s, (int, float)) and math.isfinite(compile_s) else "")
        + ("; each factor was measured alone, the workers' on whole-network steps, which leave the GPU idler than "
           "stacked codec steps: likely optimistic"
           if args.workers > 1 and f"codec_concurrency_{args.workers}" not in report["factors"] else "") + ")",
        format_tables_total(tables, rate, ", projected"),
        configurations_text(schedule := sweep_tasks(preset, args.seeds), report["factors"], rate, args.mps),
        # What the codec steps' speed stands on: measured, or priced (and what the one timed codec run implies).
        "\n" + codec_step_said(report, schedule).replace("**", "").replace("`", "")])


def configurations_text(schedule, factors: dict, rate: float, mps: bool = False) -> str:
    """Every configuration the report measured, the sweep's GPU-hours in each, its tasks dealt out as
    the workers take them (``schedule``: :func:`coinfer.experiments.plan_schedule.sweep_tasks`):
    workers by ``COINFER_COMPILE`` setting, "-" where a factor was not measured (the projection
    refuses those); ``mps``: ``factors`` are those through CUDA MPS
    (:func:`coinfer.experiments.device_report.mps_factors`)."""
    from coinfer.experiments.device_report import configuration_rows

    rows = configuration_rows(schedule.hours(factors, rate))
    lines = [f"\nthe sweep's GPU-hours in every configuration the report measured, its {len(schedule.tasks)} tasks a "
             f"seed dealt out as the workers take them (sweep --workers N{' through CUDA MPS' if mps else ''}, "
             "by COINFER_COMPILE):",
             f"{'workers':>8}{'=0':>9}{'=frozen':>9}{'=1':>9}"]
    lines += [f"{row['workers']:>8}" + "".join(f"{row[m]:>9.1f}" if row[m] is not None else f"{'-':>9}"
                                                for m in ("0", "frozen", "1")) for row in rows]
    return "\n".join(lines)
