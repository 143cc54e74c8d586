"""Every module's docstring examples are doctests, and they pass.

They quote the committed tables (``load_table(results_dir() / "sweep_quick.json")`` and the like),
so a regenerated table that changes a quoted number fails here, not silently in the API page.
Run from the checkout's top (``project_root`` finds ``data/`` from there), figures closed after
each module.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules_with_docstrings() -> list[str]:
    """Every module and package of coinfer but ``__main__`` (importing it runs the command line)."""
    names = []
    for path in sorted((ROOT / "coinfer").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_list_covers_the_package():
    names = modules_with_docstrings()
    assert {"coinfer", "coinfer.views", "coinfer.views.tradeoff_tables", "coinfer.tensor_data"} <= set(names)
    assert "coinfer.__main__" not in names and len(names) == len(set(names))


@pytest.mark.parametrize("module", modules_with_docstrings())
def test_docstring_examples_pass(module, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(ROOT)
    mod = importlib.import_module(module)
    try:
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    finally:
        plt.close("all")
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {module} failed (above)"
