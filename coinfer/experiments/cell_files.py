"""A sweep cell's result file: one JSON object per finished cell, checked before it is trusted.

The sweep (:mod:`coinfer.experiments.sweep`) and the search write and read these files; a file is
"done" only when it is a whole, valid result of its cell, so a killed run's leftovers are redone.
Where a grid's cell files, table and checkpoint cache go: :func:`default_paths`; what names a
cell (its id) and a cached pruned part (:func:`pruned_part_path`): a hash of every setting it
depends on (:func:`preset_key`, :func:`settings_key`, :data:`SWEEP_VERSION`).

Settings do not name the baseline's *weights*: training it again (``train --retrain``, or two
workers that each trained it) gives other weights on a GPU, which is not bitwise deterministic.
So a cell file and a cached pruned part also record the digest of the baseline they were computed
from (:func:`baseline_digest`), and one computed from another baseline than the checkpoint now on
disk is not a result: it is computed again (files written before this was recorded carry no
digest and are trusted, as before).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from coinfer.results import SchemaError, validate_record

if TYPE_CHECKING:
    from coinfer.config import Preset, PruneSettings

CELL_SCHEMA = "coinfer.experiments.sweep-cell"

#: Bumped when a change of the code changes what a cell computes (it is part of every cell id).
#: 2: the Huffman code is built from smoothed counts (every level codable), and the framework's
#: decoder restores the unpruned feature's shape for the server part (no zero-filled channels).
#: 3: a validation split (every record has val_accuracy); one fine-tuning budget per configuration:
#: the unpruned framework and BottleNet++ start from the recipe's unpruned control, 2-Step Pruning's
#: two steps share one fine-tuning budget; the on-device point is a cell; bits per image are the flag
#: bit and the cheaper of the fixed-length index and the entropy-coded stream
#: (coinfer.core.entropy.sent_bits); PNG counts its image data without the container.
SWEEP_VERSION = 3

#: Config fields that do not change what one cell computes: the configs' own grids, and whether the
#: pruning table lists its unpruned control.
_NOT_CELL_FIELDS = ("splits", "code_sizes", "huffman_splits", "sparsities", "control")


def preset_key(preset: Preset) -> dict:
    """What a cell's result depends on of the preset itself: network, data, seed, baseline training.

    Spelled as the flat preset of sweep version 2 was, so that the committed cells keep their ids: with
    the baseline's ``momentum`` of 0.9, a setting until it was found to change nothing (the one-cycle
    schedule replaces it, :class:`coinfer.config.TrainSettings`).
    """
    return {"name": preset.name, "dataset": preset.dataset, "width": preset.width, "seed": preset.seed,
            "accuracy_drop": preset.accuracy_drop, "eval_batch_size": preset.eval_batch_size,
            "validation": preset.validation.__dict__, "momentum": 0.9, **preset.baseline.to_dict()}


def settings_key(config) -> dict:
    """A config's fields that change what one cell computes."""
    return {k: v for k, v in config.to_dict().items() if k not in _NOT_CELL_FIELDS}


def digest(obj) -> str:
    """The first 10 hex digits of the SHA-256 of ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def cache_path(cache_dir, name: str, key: dict) -> Path:
    """``<cache_dir>/<name>-<digest of key and the sweep version>.pt``."""
    return Path(cache_dir) / f"{name}-{digest({**key, 'version': SWEEP_VERSION})}.pt"


def pruned_part_path(cache_dir, preset: Preset, prune_config: PruneSettings, point: str, sparsity: float) -> Path:
    """The cache file of the device part pruned at ``(point, sparsity)`` by ``prune_config``, named
    after everything it depends on; sparsity 0: the recipe's unpruned control (any split point).

    The sweep's cells and the pruning table both read and write it
    (:func:`coinfer.experiments.pruning.cached_pruned`): one training per part.

    Parameters
    ----------
    cache_dir : path
        The sweep's cache (``default_paths(preset)["cache_dir"]``).
    preset : Preset
        Network, data, seed and baseline training (:func:`preset_key`).
    prune_config : PruneSettings
        The fine-tuning recipe (:func:`settings_key`: its grids aside).
    point : str
        The split point pruned (ignored at sparsity 0).
    sparsity : float
        Its target sparsity.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> quick = get_preset("quick")
    >>> pruned_part_path("cache", quick, quick.pruning, "layer2.1", 0.5).name
    'pruned-layer2.1-s0.5-0f8a7b8486.pt'
    >>> pruned_part_path("c", quick, quick.pruning, "stem", 0) == pruned_part_path("c", quick, quick.pruning, "pool", 0)
    True
    >>> from dataclasses import replace
    >>> sent = replace(quick.pruning, output_sparsity=0.25)
    >>> pruned_part_path("c", quick, sent, "stem", 0) == pruned_part_path("c", quick, quick.pruning, "stem", 0)
    True
    """
    from dataclasses import replace

    key = {"preset": preset_key(preset)}
    if sparsity == 0:       # the control keeps every output, whatever the recipe's output sparsity
        recipe = settings_key(replace(prune_config, output_sparsity=None))
        return cache_path(cache_dir, "control", {**key, "prune": recipe, "control": True})
    return cache_path(cache_dir, f"pruned-{point}-s{sparsity:g}",
                      {**key, "prune": settings_key(prune_config), "split": point, "sparsity": sparsity})


_BASELINE_DIGESTS: dict[tuple, str] = {}


def baseline_digest(preset: Preset, checkpoints: str | Path | None = None) -> str | None:
    """The SHA-256 of the weights of ``preset``'s baseline checkpoint now on disk
    (:func:`coinfer.core.codecs.weights_digest`), or None if it has not been trained yet.

    Read once per version of the file (its path, size and modification time), so that asking for
    every cell of a grid costs one read.

    Parameters
    ----------
    preset : Preset
    checkpoints : str or Path, optional
        The checkpoint root (default :func:`coinfer.paths.checkpoints_dir`).

    Returns
    -------
    str or None

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.core.codecs import weights_digest
    >>> from coinfer.train import get_baseline
    >>> baseline_digest(get_preset("quick")) == weights_digest(get_baseline("quick")[0])
    True
    >>> baseline_digest(get_preset("paper"), "/nonexistent") is None
    True
    """
    from coinfer.core.codecs import weights_digest
    from coinfer.paths import checkpoint_path
    from coinfer.train import load_model

    path = checkpoint_path(preset.name, root=checkpoints)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _BASELINE_DIGESTS:
        _BASELINE_DIGESTS[key] = weights_digest(load_model(path, torch.device("cpu"))[0])
    return _BASELINE_DIGESTS[key]


def stale_baseline(recorded: str | None, baseline: str | None) -> str | None:
    """Which other baseline a file was computed from, when it recorded ``recorded`` and the baseline
    is now ``baseline`` (both :func:`baseline_digest`); None when it is the same one, or unknown.

    Parameters
    ----------
    recorded, baseline : str or None

    Returns
    -------
    str or None

    Examples
    --------
    >>> stale_baseline("ab" * 32, "cd" * 32)
    'another baseline (weights ababababab..., the baseline now cdcdcdcdcd...)'
    >>> stale_baseline(None, "cd" * 32) is None, stale_baseline("ab", "ab") is None
    (True, True)
    """
    if recorded is None or baseline is None or recorded == baseline:
        return None
    return f"another baseline (weights {recorded[:10]}..., the baseline now {baseline[:10]}...)"


def read_cell(path: str | Path, cell_id: str | None = None, baseline: str | None = None) -> dict | None:
    """A finished cell's file, or None if it is missing or not a valid cell result (:func:`check_cell`)."""
    return check_cell(path, cell_id, baseline)[0]


def check_cell(path: str | Path, cell_id: str | None = None, baseline: str | None = None) -> tuple[dict | None, str]:
    """A cell file's content and state: ``(data, "done")``, ``(None, "todo")`` when there is no file,
    or ``(None, "invalid: <why>")`` for a file that is not a whole, valid result of ``cell_id``
    (truncated, not JSON, another schema or cell, a record that breaks the schema) or that was
    computed from another baseline than ``baseline``.

    Parameters
    ----------
    path : path
        ``<cells_dir>/<cell id>.json``.
    cell_id : str, optional
        The id the file must carry.
    baseline : str, optional
        The baseline's digest now (:func:`baseline_digest`); a file that records another is stale.

    Returns
    -------
    (dict or None, str)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from coinfer.experiments.cell_files import check_cell
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> check_cell(path, "x")
    (None, 'todo')
    >>> _ = path.write_text('{"schema": "coinfer')
    >>> check_cell(path, "x")[1]
    'invalid: truncated or not JSON (19 bytes)'
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, "todo"
    except (OSError, UnicodeDecodeError) as error:
        return None, f"invalid: unreadable ({error})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, f"invalid: truncated or not JSON ({len(text.encode())} bytes)"
    if not isinstance(data, dict) or data.get("schema") != CELL_SCHEMA:
        return None, "invalid: not a sweep cell file"
    if cell_id is not None and data.get("id") != cell_id:
        return None, f"invalid: holds cell {data.get('id')!r}"
    try:
        validate_record(data["record"], where="record")
        if not isinstance(data["wall_time_s"], (int, float)):
            raise SchemaError("wall_time_s is not a number")
    except KeyError as missing:
        return None, f"invalid: no {missing}"
    except SchemaError as error:
        return None, f"invalid: {error}"
    stale = stale_baseline(data.get("baseline"), baseline)
    if stale:
        return None, f"invalid: computed from {stale}"
    return data, "done"


def grid_name(preset: Preset) -> str:
    """The name of ``preset.sweep``: a preset's whose grid it is, ``"tiny"``, or ``"custom"``.

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.config import get_preset, sweep_grid
    >>> grid_name(get_preset("quick")), grid_name(get_preset("quick", sweep=sweep_grid("tiny")))
    ('quick', 'tiny')
    """
    from coinfer.config import PRESETS, TINY_SWEEP, get_preset

    for name in PRESETS:      # get_preset: the grid as COINFER_SMOKE scales it, if set
        if preset.sweep == get_preset(name).sweep:
            return name
    return "tiny" if preset.sweep == TINY_SWEEP else "custom"


def default_paths(preset: Preset) -> dict:
    """Where cells, the table and the checkpoint cache go for ``preset`` and its grid.

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    dict
        ``cells_dir``, ``table``, ``cache_dir``: ``sweep_<preset>.json`` for the preset's own grid,
        ``sweep_<preset>-<grid>.json`` for another (e.g. ``quick-tiny``).

    Examples
    --------
    >>> from coinfer.config import get_preset, sweep_grid
    >>> default_paths(get_preset("quick", sweep=sweep_grid("tiny")))["table"].name
    'sweep_quick-tiny.json'
    """
    from coinfer.paths import results_dir, table_path

    grid = grid_name(preset)
    name = preset.name if grid == preset.name else f"{preset.name}-{grid}"
    return {"cells_dir": results_dir() / "cells" / name, "table": table_path("sweep", name),
            "cache_dir": cache_dir(preset)}


def cache_dir(preset: Preset, checkpoints: str | Path | None = None) -> Path:
    """The checkpoint cache of ``preset``'s pruned parts, every grid's: ``<checkpoints>/<preset>/sweep``.

    Parameters
    ----------
    preset : Preset
    checkpoints : str or Path, optional
        The checkpoint root (default :func:`coinfer.paths.checkpoints_dir`).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> cache_dir(get_preset("paper"), "/tmp/ckpt").as_posix()
    '/tmp/ckpt/paper/sweep'
    """
    from coinfer.train import checkpoint_dir

    return checkpoint_dir(preset, checkpoints) / "sweep"
