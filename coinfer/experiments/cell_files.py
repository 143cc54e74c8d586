"""A sweep cell's result file: one JSON object per finished cell, checked before it is trusted.

The sweep (:mod:`coinfer.experiments.sweep`) and the search write and read these files; a file is
"done" only when it is a whole, valid result of its cell, so a killed run's leftovers are redone.
Where a grid's cell files, table and checkpoint cache go: :func:`default_paths`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from coinfer.results import SchemaError, validate_record

if TYPE_CHECKING:
    from coinfer.config import Preset

CELL_SCHEMA = "coinfer.experiments.sweep-cell"


def read_cell(path: str | Path, cell_id: str | None = None) -> dict | None:
    """A finished cell's file, or None if it is missing or not a valid cell result."""
    return check_cell(path, cell_id)[0]


def check_cell(path: str | Path, cell_id: str | None = None) -> tuple[dict | None, str]:
    """A cell file's content and state: ``(data, "done")``, ``(None, "todo")`` when there is no file,
    or ``(None, "invalid: <why>")`` for a file that is not a whole, valid result of ``cell_id``
    (truncated, not JSON, another schema or cell, a record that breaks the schema).

    Parameters
    ----------
    path : path
        ``<cells_dir>/<cell id>.json``.
    cell_id : str, optional
        The id the file must carry.

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
    from coinfer.paths import checkpoints_dir, results_dir, table_path

    grid = grid_name(preset)
    name = preset.name if grid == preset.name else f"{preset.name}-{grid}"
    return {"cells_dir": results_dir() / "cells" / name, "table": table_path("sweep", name),
            "cache_dir": checkpoints_dir() / preset.name / "sweep"}
