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
    """Datasets (never committed): ``$COINFER_DATA`` or ``<root>/data``."""
    return Path(os.environ["COINFER_DATA"]) if os.environ.get("COINFER_DATA") else project_root() / "data"


def results_dir() -> Path:
    """Committed lookup tables: ``<root>/data/results``."""
    return project_root() / "data" / "results"


def checkpoints_dir() -> Path:
    """Model checkpoints: ``<root>/data/checkpoints`` (only the quick preset's are committed)."""
    return project_root() / "data" / "checkpoints"
