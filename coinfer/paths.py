"""Where coinfer keeps datasets, checkpoints and results.

A checkout of the repository (or a Colab clone) is found by walking up from the current directory
to a ``pyproject.toml`` that names coinfer; book chapters run from ``book/`` and scripts from the
top, and both find the same ``data/``. ``$COINFER_HOME`` overrides the search, ``$COINFER_DATA``
the dataset folder alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The coinfer checkout containing ``start`` (default: the current directory).

    Falls back to the current directory when there is none (coinfer installed from a wheel).

    Parameters
    ----------
    start : str or Path, optional
        Where to start walking up (default: the current directory). Ignored when
        ``$COINFER_HOME`` is set.

    Returns
    -------
    pathlib.Path
        The folder holding coinfer's ``pyproject.toml``.

    Examples
    --------
    >>> from coinfer.paths import project_root
    >>> (project_root() / "coinfer" / "paths.py").exists()       # run from inside a checkout
    True
    >>> project_root("book") == project_root()                     # chapters run from book/
    True
    """
    if os.environ.get("COINFER_HOME"):
        return Path(os.environ["COINFER_HOME"])
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        toml = folder / "pyproject.toml"
        if toml.is_file() and 'name = "coinfer"' in toml.read_text(errors="ignore"):
            return folder
    return Path.cwd()


def data_dir() -> Path:
    """Datasets (never committed): ``$COINFER_DATA`` or ``<root>/data``.

    Returns
    -------
    pathlib.Path
        The folder; it may not exist yet (loaders create it).

    Examples
    --------
    >>> from coinfer.paths import data_dir, project_root
    >>> data_dir() == project_root() / "data"                     # unless $COINFER_DATA is set
    True
    """
    return Path(os.environ["COINFER_DATA"]) if os.environ.get("COINFER_DATA") else project_root() / "data"


def results_dir() -> Path:
    """Committed lookup tables: ``<root>/data/results``.

    Returns
    -------
    pathlib.Path
        The folder of the ``*.json`` tables that :func:`coinfer.results.load_table` reads.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> results_dir().relative_to(results_dir().parents[1]).as_posix()
    'data/results'
    """
    return project_root() / "data" / "results"


def checkpoints_dir() -> Path:
    """Model checkpoints: ``<root>/data/checkpoints`` (only the quick preset's are committed).

    Returns
    -------
    pathlib.Path
        Checkpoints are kept per preset below it, e.g. ``quick/baseline.pt``.

    Examples
    --------
    >>> from coinfer.paths import checkpoints_dir
    >>> (checkpoints_dir() / "quick" / "baseline.pt").exists()
    True
    """
    return project_root() / "data" / "checkpoints"


def search_journal_path(preset: str) -> Path:
    """The Optuna journal of ``preset``'s configuration search: ``<root>/data/search/<preset>.journal``.

    The search's default storage (one file per preset, never committed): every worker on this
    machine, or on machines sharing the folder, appends its trials to it.

    Parameters
    ----------
    preset : str
        A preset name, e.g. ``"quick"``.

    Returns
    -------
    pathlib.Path
        The file; it may not exist yet (the search creates it).

    Examples
    --------
    >>> from coinfer.paths import project_root, search_journal_path
    >>> search_journal_path("quick").relative_to(project_root()).as_posix()
    'data/search/quick.journal'
    """
    return project_root() / "data" / "search" / f"{preset}.journal"


def step_table_path(command: str, preset: str) -> Path:
    """Where a one-step command writes its table by default: ``data/results/<command>/<command>_<preset>.json``.

    ``python -m coinfer encode``, ``prune`` and ``jscc`` train one seed of any settings: their tables
    go to a git-ignored folder of their own (:data:`WORK_DIRS`), never over a committed table (those
    come from ``python -m coinfer run``, every seed); so does ``sweep``'s where ``run sweep`` has written
    its table of every seed.

    Parameters
    ----------
    command : {"encode", "prune", "jscc", "sweep"}
        The command.
    preset : str
        The preset the command ran, e.g. ``"quick"``.

    Examples
    --------
    >>> from coinfer.paths import results_dir, step_table_path
    >>> step_table_path("encode", "quick") == results_dir() / "encode" / "encode_quick.json"
    True
    """
    if command not in STEP_COMMANDS:
        raise ValueError(f"unknown step command {command!r}; choose one of {', '.join(STEP_COMMANDS)}")
    return results_dir() / command / f"{command}_{preset}.json"


def search_table_path(preset: str) -> Path:
    """The lookup table a search exports (its completed trials): ``data/results/search_<preset>.json``.

    Parameters
    ----------
    preset : str
        A preset name.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.paths import search_table_path
    >>> search_table_path("quick").name
    'search_quick.json'
    """
    return results_dir() / f"search_{preset}.json"


def search_replay_path(preset: str, tag: str = "") -> Path:
    """The committed replay of the search on ``preset``'s sweep table: ``data/results/search/replay_<preset>[_<tag>].json``.

    Not a lookup table (it holds hypervolume curves), so it lives beside them, in a subfolder.

    Parameters
    ----------
    preset : str
        A preset name.
    tag : str
        What sets this replay apart (e.g. ``"server_macs"``: a third objective), empty for the default.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.paths import results_dir, search_replay_path
    >>> search_replay_path("quick").relative_to(results_dir()).as_posix()
    'search/replay_quick.json'
    >>> search_replay_path("quick", "server_macs").name
    'replay_quick_server_macs.json'
    """
    return results_dir() / "search" / (f"replay_{preset}_{tag}.json" if tag else f"replay_{preset}.json")


def search_live_path(preset: str) -> Path:
    """What a live search did (``search --summary``): ``data/results/search/live_<preset>.json``.

    Parameters
    ----------
    preset : str
        A preset name (with its grid, e.g. ``quick-tiny``, when the search ran on another grid).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.paths import search_live_path
    >>> search_live_path("quick").name
    'live_quick.json'
    """
    return results_dir() / "search" / f"live_{preset}.json"


def device_report_path() -> Path:
    """A GPU's device check report, once a session with a GPU commits it:
    ``data/results/benchmarks/cuda_check_gpu.json`` (``benchmarks/cuda_check.py --out`` this path).

    book/paper_scale.md reads its measurements (:mod:`coinfer.experiments.device_report`) and says
    "not measured yet" wherever it is missing.

    Returns
    -------
    pathlib.Path
        It may not exist.

    Examples
    --------
    >>> from coinfer.paths import device_report_path, results_dir
    >>> device_report_path().relative_to(results_dir()).as_posix()
    'benchmarks/cuda_check_gpu.json'
    """
    return results_dir() / "benchmarks" / "cuda_check_gpu.json"


def table_path(table: str, preset: str) -> Path:
    """The committed lookup table ``table`` of ``preset``: ``<root>/data/results/<table>_<preset>.json``.

    The one place a table's file name is spelled; ``coinfer.experiments.TABLES`` names the tables.

    Parameters
    ----------
    table : str
        The table's name, e.g. ``"sweep"``, ``"encoding"``, ``"original-float32"``
        (``python -m coinfer run --list`` names them all).
    preset : str
        The preset that produced it, e.g. ``"quick"`` (or a variant such as ``"quick-tiny"``).

    Returns
    -------
    pathlib.Path
        Under :func:`results_dir`; the file may not exist yet.

    Examples
    --------
    >>> from coinfer.paths import results_dir, table_path
    >>> table_path("sweep", "quick") == results_dir() / "sweep_quick.json"
    True
    >>> table_path("sweep", "quick").exists()
    True
    """
    return results_dir() / f"{table}_{preset}.json"


#: Folders under :func:`results_dir` that hold a run's working files (a sweep's cells, each seed's
#: table, a one-step command's table), ignored by git and never committed tables; the Results page skips them.
STEP_COMMANDS = ("encode", "prune", "jscc", "sweep")
WORK_DIRS = ("cells", "seeds", *STEP_COMMANDS)   # and the one-step commands' own tables (step_table_path)


def committed_tables(root: Path | None = None) -> list[Path]:
    """Every table file under ``root`` (default :func:`results_dir`), working folders excluded.

    Parameters
    ----------
    root : Path, optional
        A results folder.

    Returns
    -------
    list of pathlib.Path
        Sorted.

    Examples
    --------
    >>> from coinfer.paths import committed_tables, results_dir
    >>> any(p.name == "sweep_quick.json" for p in committed_tables())
    True
    """
    root = Path(root) if root is not None else results_dir()
    return sorted(p for p in root.rglob("*.json") if p.relative_to(root).parts[0] not in WORK_DIRS)


def seed_table_path(table: str, preset: str, seed: int, settings: str = "") -> Path:
    """One seed's run of a table, kept until every seed is done:
    ``<results>/seeds/<table>_<preset>[-<settings>].seed<s>.json``.

    Not committed (the committed table keeps every seed's accuracy in its records); a run that
    stops resumes from the seeds found here. ``settings`` (a digest of the preset's settings and of
    the baseline's weights) keeps runs with other settings or another baseline apart, so a changed
    preset or a retrained baseline never reuses a stale seed.

    Parameters
    ----------
    table : str
        The table's name (``python -m coinfer run --list``).
    preset : str
        The preset that produced it.
    seed : int
        The training seed of this run.
    settings : str
        A short digest of the settings and baseline the run used (empty: none).

    Returns
    -------
    pathlib.Path
        Under :func:`results_dir`; the file may not exist yet.

    Examples
    --------
    >>> from coinfer.paths import results_dir, seed_table_path
    >>> seed_table_path("pruning", "quick", 2) == results_dir() / "seeds" / "pruning_quick.seed2.json"
    True
    """
    return results_dir() / "seeds" / f"{table}_{preset}{'-' + settings if settings else ''}.seed{seed}.json"


def checkpoint_path(preset: str, name: str = "baseline", root: str | Path | None = None) -> Path:
    """A checkpoint of ``preset``: ``<checkpoints>/<preset>/<name>.pt``.

    Parameters
    ----------
    preset : str
        The preset whose checkpoint it is, e.g. ``"quick"``.
    name : str
        The checkpoint's name without ``.pt``: ``"baseline"`` (the trained unsplit network), or a
        name from :func:`codec_checkpoint_path` / :func:`pruned_checkpoint_path`.
    root : str or Path, optional
        The checkpoint folder (default :func:`checkpoints_dir`).

    Returns
    -------
    pathlib.Path
        The file may not exist yet.

    Examples
    --------
    >>> from coinfer.paths import checkpoint_path
    >>> checkpoint_path("quick").as_posix().endswith("data/checkpoints/quick/baseline.pt")
    True
    >>> checkpoint_path("quick").exists()
    True
    """
    return Path(root if root is not None else checkpoints_dir()) / preset / f"{name}.pt"


def codec_checkpoint_path(preset: str, split: str, code_size: str, root: str | Path | None = None) -> Path:
    """A learned feature codec of ``preset``: ``<checkpoints>/<preset>/codec_<split>_<code size>.pt``.

    Parameters
    ----------
    preset : str
        The preset of the backbone the codec was trained on.
    split : str
        The canonical split point (a :class:`coinfer.splits.SplitPoint`).
    code_size : str
        The codec's code size, e.g. ``"d16-l4"``.
    root : str or Path, optional
        The checkpoint folder (default :func:`checkpoints_dir`).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.paths import codec_checkpoint_path
    >>> codec_checkpoint_path("quick", "layer3.1", "d16-l4").name
    'codec_layer3.1_d16-l4.pt'
    """
    return checkpoint_path(preset, f"codec_{split}_{code_size}", root)


def pruned_checkpoint_path(preset: str, split: str, sparsity: float, seed: int,
                           root: str | Path | None = None) -> Path:
    """A pruned network of ``preset``: ``<checkpoints>/<preset>/pruned/<split>_s<sparsity>_seed<seed>.pt``.

    Parameters
    ----------
    preset : str
        The preset of the pruned baseline.
    split : str
        The canonical split point.
    sparsity : float
        The device part's channel sparsity, in [0, 1).
    seed : int
        The fine-tuning seed (each seed's network is kept).
    root : str or Path, optional
        The checkpoint folder (default :func:`checkpoints_dir`).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.paths import pruned_checkpoint_path
    >>> pruned_checkpoint_path("quick", "layer2.1", 0.5, 1).as_posix().endswith(
    ...     "checkpoints/quick/pruned/layer2.1_s0.5_seed1.pt")
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return checkpoint_path(preset, f"pruned/{split}_s{sparsity:g}_seed{seed}", root)
