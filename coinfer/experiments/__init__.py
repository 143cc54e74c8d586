"""One module per committed lookup table: ``run(preset, **options) -> LookupTable``.

:data:`TABLES` names every committed table with the function that produces it, what it holds and
the chapter that shows it; ``python -m coinfer run <table> --preset P`` regenerates one
(:func:`run_table`) and ``python -m coinfer run --list`` names them. Targets are dotted paths,
imported only when run, so listing the tables imports no experiment.

Example::

    >>> from coinfer.experiments import TABLES, experiment
    >>> sorted(TABLES)
    ['encoding', 'jscc', 'original-float32', 'pruning', 'rate', 'serve_latency', 'sweep']
    >>> TABLES["sweep"].chapter
    '5. The trade-off (Fig. 3)'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from coinfer.units import is_count


@dataclass(frozen=True)
class Experiment:
    """A committed table: ``target`` (``"package.module:function"``) produces it, ``run(preset, **options)``.

    ``preset`` is a :class:`coinfer.config.Preset`, looked up once by :func:`run_table`; an
    experiment not yet moved to Preset objects says ``takes="name"`` and gets the preset's name.
    """

    target: str
    description: str
    chapter: str
    takes: str = "preset"
    seeded: bool = True       # trains, so its accuracies are means over seeds (False: measures only)
    parallel: bool = False    # runs sweep cells, so it takes ``workers`` (processes on this machine)
    fixed: dict = field(default_factory=dict)    # options run_table always passes
    # Preset fields the table's results do not read: a change there keeps its finished seeds.
    ignores: tuple[str, ...] = ()
    # Committed tables whose numbers its records take in: a change there makes its finished seeds stale.
    reads: tuple[str, ...] = ()


#: Every committed lookup table by name (the name in its file, :func:`coinfer.paths.table_path`).
TABLES = {
    "original-float32": Experiment("coinfer.experiments.original:run",
                                   "float32 records of the trained baseline at every split point (no training)",
                                   "6. Latency (Fig. 4)", seeded=False),
    "pruning": Experiment("coinfer.experiments.pruning:run",
                          "pruned device parts at each (split point, sparsity)",
                          "2. Communication-aware pruning", ignores=("sweep", "encoding", "jscc", "rate")),
    "encoding": Experiment("coinfer.experiments.encoding:table",
                           "learned feature encoders per (split point, code size), and the 8-bit Huffman baseline",
                           "3. Task-oriented feature encoding", parallel=True),
    "rate": Experiment("coinfer.experiments.rate:table",
                       "codecs trained for rate and accuracy over rate weights, beside the fixed codebooks",
                       "3. Task-oriented feature encoding"),
    "jscc": Experiment("coinfer.experiments.jscc:run",
                       "learned JSCC against separate coding at capacity, over AWGN and BSC",
                       "4. Noisy links (Fig. 5)", ignores=("sweep", "pruning", "rate"),
                       reads=("encoding",)),     # its learned source code (experiments.jscc.learned_source_payload)
    "sweep": Experiment("coinfer.experiments.sweep:run",
                        "every method's settings grid: the framework and three baselines",
                        "5. The trade-off (Fig. 3)", parallel=True,
                        fixed={"save": False}),        # run_table saves the seeds' mean, not one seed's table
    "serve_latency": Experiment("coinfer.experiments.serving:run",
                                "measured vs predicted latency of real co-inference over TCP",
                                "7. Real co-inference", seeded=False),
}


def experiment(name: str) -> Callable:
    """The function that produces the table ``name``, imported now.

    Parameters
    ----------
    name : str
        A key of :data:`TABLES`.

    Returns
    -------
    callable
        ``run(preset, **options) -> LookupTable``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the tables.

    Examples
    --------
    >>> from coinfer.experiments import experiment
    >>> experiment("original-float32").__module__
    'coinfer.experiments.original'
    >>> experiment("fig3")
    Traceback (most recent call last):
    ...
    ValueError: unknown table 'fig3'; the committed tables are encoding, jscc, original-float32, pruning, rate, serve_latency, sweep
    """
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; the committed tables are {', '.join(sorted(TABLES))}")
    module, _, function = TABLES[name].target.partition(":")
    return getattr(importlib.import_module(module), function)


#: The training seeds of every committed table that trains (``run --seeds`` changes them).
SEEDS = (0, 1, 2)


def _seed_file(name: str, spec, seed: int | None, checkpoints=None) -> Path | None:
    """Where the table ``name``'s run of ``spec`` (a Preset) with ``seed`` is kept once finished, or None
    (a table that does not train; no baseline yet, so nothing can have finished).

    Its name carries a digest of every setting the table reads (the seed aside: other settings, other
    file; a setting it ignores, e.g. the sweep grid for the pruning table, does not) and of the
    baseline's weights: after ``train --retrain`` (other weights on a GPU) a finished seed is stale, as
    it is after a new :data:`~coinfer.experiments.cell_files.SWEEP_VERSION` or a change to the numbers
    of a table it reads (:attr:`Experiment.reads`: the JSCC table kept an encoding table's learned code it
    no longer held); when, where and how fast that table was made do not count
    (:func:`coinfer.results.table_content_digest`).
    """
    import hashlib
    import json

    from coinfer.experiments.cell_files import SWEEP_VERSION, baseline_digest
    from coinfer.paths import seed_table_path, table_path
    from coinfer.results import table_content_digest

    baseline = baseline_digest(spec, checkpoints)
    if seed is None or baseline is None:
        return None
    settings = {k: v for k, v in spec.to_dict().items() if k not in TABLES[name].ignores}
    # The sweep's version too: a change to what a cell computes makes a finished seed stale, as its cells.
    reads = {t: table_content_digest(p) if (p := table_path(t, spec.name)).exists() else None
             for t in TABLES[name].reads}
    key = json.dumps({**settings, "seed": None, "baseline": baseline, "version": SWEEP_VERSION,
                      **({"reads": reads} if reads else {})}, sort_keys=True, default=str)
    return seed_table_path(name, spec.name, seed, hashlib.sha256(key.encode()).hexdigest()[:10])


def run_table(name: str, preset: str = "quick", path: str | Path | None = None, seeds=None, workers: int = 1,
              overrides: dict | None = None, command: str | None = None, **options) -> Path:
    """Regenerate the table ``name`` for ``preset`` and save it (default :func:`coinfer.paths.table_path`).

    A table that trains is run once per seed in ``seeds`` (the preset with ``seed=s``); each run is
    kept as it finishes (:func:`coinfer.paths.seed_table_path`, named after the settings it read and
    the weights of the baseline it started from), so a run that stops resumes with the seeds still
    missing, and the saved table is their :func:`~coinfer.stats.aggregate_seeds`: means with
    standard deviations. A table that only measures runs once.

    The provenance gets the baseline checkpoint's test accuracy and the preset's accuracy drop when
    the experiment did not record them, so that :func:`coinfer.results.table_threshold` works on
    every table made here.

    Parameters
    ----------
    name : str
        A key of :data:`TABLES`.
    preset : str
        The preset to run (``quick`` or ``paper``), looked up here once.
    path : str or Path, optional
        Where to save (default: the committed table's path).
    seeds : sequence of int, optional
        Training seeds (default :data:`SEEDS`); refused by tables that do not train (they would be
        ignored: such a table is measured once).
    workers : int
        Processes that run a table's sweep cells side by side (tables marked ``parallel``: the sweep
        and the encoding table); 2 on a 2-core machine roughly halves their time.
    overrides : dict, optional
        Settings of the preset to replace (:func:`coinfer.config.get_preset`), e.g. the rate
        weights of ``run --rate-weights``; they are part of the finished seeds' file names.
    command : str, optional
        The command that regenerates the table, for its provenance (default
        ``python -m coinfer run <name> --preset <preset>`` with ``--seeds`` when not the default;
        give it when ``overrides`` come from other options).
    **options
        Passed to the experiment.

    Returns
    -------
    pathlib.Path
        Where the table was saved.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.experiments import run_table
    >>> from coinfer.results import load_table, table_threshold
    >>> path = run_table("original-float32", "quick", Path(tempfile.mkdtemp()) / "t.json")
    >>> round(table_threshold(load_table(path)), 4)
    0.8898
    """
    from dataclasses import replace

    from coinfer.config import get_preset
    from coinfer.paths import table_path
    from coinfer.results import load_table
    from coinfer.stats import aggregate_seeds

    produce = experiment(name)                     # raises for an unknown name
    if not is_count(workers):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if workers > 1 and not TABLES[name].parallel:
        raise ValueError(f"the {name} table runs in one process; workers > 1 is for "
                         f"{', '.join(n for n, e in TABLES.items() if e.parallel)}")
    options = {**TABLES[name].fixed, **({"workers": workers} if TABLES[name].parallel else {}), **options}
    if seeds is not None and not TABLES[name].seeded:
        raise ValueError(f"the {name} table does not train (it is measured once): seeds {seeds!r} (run "
                         f"--seeds) would be ignored; seeds are for {', '.join(n for n, e in TABLES.items() if e.seeded)}")
    seeds = SEEDS if seeds is None else seeds
    if TABLES[name].seeded:
        seeds = list(seeds)
        if not seeds or len(set(seeds)) != len(seeds) or any(not is_count(s, 0) for s in seeds):
            raise ValueError(f"seeds must be distinct integers >= 0, got {seeds!r}")
    runs = []
    for seed in (seeds if TABLES[name].seeded else [None]):
        spec = get_preset(preset, **(overrides or {}), **({} if seed is None else {"seed": seed}))
        done = _seed_file(name, spec, seed, options.get("checkpoints"))
        if done is not None and done.exists() and load_table(done).provenance.seed == seed:
            runs.append(load_table(done))           # finished before: resume after it
            continue
        table = produce(spec if TABLES[name].takes == "preset" else spec.name, **options)
        if table is None:
            raise RuntimeError(f"the {name} experiment did not finish (some of its parts are still to run); "
                               "run it again")
        done = _seed_file(name, spec, seed, options.get("checkpoints"))   # it may have trained the baseline
        if done is not None:
            table = replace(table, provenance=replace(table.provenance, seed=seed))
            table.save(done)
        runs.append(table)
    table = aggregate_seeds(runs) if len(runs) > 1 else runs[0]
    # The table records the one command that regenerates it (each seed's run may have been started
    # by another, e.g. one seed at a time or into another file, or resumed).
    if command is None:
        command = f"python -m coinfer run {name} --preset {preset}"
        if TABLES[name].seeded and list(seeds) != list(SEEDS):
            command += " --seeds " + " ".join(map(str, seeds))
    table = replace(table, provenance=replace(table.provenance, command=command))
    table = complete_provenance(table, spec, options.get("checkpoints"))
    return table.save(path if path is not None else table_path(name, preset))


def complete_provenance(table, preset, checkpoints=None):
    """``table`` with what its threshold needs that its experiment did not record: the baseline
    checkpoint's test accuracy, ``preset``'s accuracy drop and, where every record carries a validation
    accuracy, the held-out split and the baseline's validation accuracy (choices are made on them).

    Every table a command writes goes through it (:func:`run_table`, ``sweep --gather``, a search's
    export), so each can be read with :func:`coinfer.results.table_threshold`. A table with test
    accuracies only keeps choosing on test, as a table made before the split does (found by the paper
    preset's smoke run, tests/test_paper_smoke.py).

    Parameters
    ----------
    table : coinfer.results.LookupTable
    preset : coinfer.config.Preset
        The preset the table was made with (its own overrides count: its ``accuracy_drop``).
    checkpoints : path, optional
        Where its baseline checkpoint is (default ``data/checkpoints``); without one nothing is added.

    Returns
    -------
    coinfer.results.LookupTable

    Examples
    --------
    >>> from dataclasses import replace
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments import complete_provenance
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table, table_threshold
    >>> table = load_table(table_path("sweep", "quick"))
    >>> bare = replace(table, provenance=replace(table.provenance, baseline_accuracy=None, accuracy_drop=None,
    ...                                          validation=None, baseline_val_accuracy=None))
    >>> round(table_threshold(complete_provenance(bare, get_preset("quick", accuracy_drop=3.0)), "val"), 4)
    0.8806
    """
    from dataclasses import replace

    from coinfer.paths import checkpoint_path
    from coinfer.train import load_checkpoint

    prov = table.provenance
    if prov.accuracy_drop is None:   # the preset's, with or without a checkpoint
        prov = replace(prov, accuracy_drop=preset.accuracy_drop)
    path = checkpoint_path(preset.name, root=checkpoints)
    if None not in (prov.baseline_accuracy, prov.validation, prov.baseline_val_accuracy) or not path.exists():
        return replace(table, provenance=prov)
    _, meta = load_checkpoint(path)
    has_val = bool(table.records) and all(r.val_accuracy is not None for r in table.records)
    return replace(table, provenance=replace(
        prov,
        baseline_accuracy=prov.baseline_accuracy if prov.baseline_accuracy is not None else float(meta["test_accuracy"]),
        validation=prov.validation or (meta.get("validation") if has_val else None),
        baseline_val_accuracy=prov.baseline_val_accuracy if prov.baseline_val_accuracy is not None
        else (meta.get("val_accuracy") if has_val else None)))
