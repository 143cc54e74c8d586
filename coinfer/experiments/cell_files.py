"""A sweep cell's result file: one JSON object per finished cell, checked before it is trusted.

The sweep (:mod:`coinfer.experiments.sweep`) and the search write and read these files; a file is
"done" only when it is a whole, valid result of its cell, so a killed run's leftovers are redone.
"""

from __future__ import annotations

import json
from pathlib import Path

from coinfer.results import SchemaError, validate_record

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
