"""The package's layers (coinfer/__init__.py): each module imports only from the layers before it.

    units, paths, splits -> results, stats, data, tensor_data -> core/ -> config, train -> experiments/, serve/ -> views/ -> cli

Every ``import`` counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "coinfer"

#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "units": set(), "paths": set(), "splits": set(),
    "results": {"units", "paths", "splits"}, "data": {"units", "paths", "splits"},
    "stats": {"units", "paths", "splits", "results"},
    # the GPU data path: datasets as one device tensor (beside data, which it reads)
    "tensor_data": {"units", "paths", "splits", "data"},
    "core": {"units", "paths", "splits", "results", "stats", "data", "tensor_data"},
    "config": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core"},
    "train": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core", "config"},
    # experiments run the system (the serving table measures a real server), never the reverse
    "experiments": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core", "config", "train", "serve"},
    "serve": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core", "config", "train"},
    # views draw tables; they neither train nor run experiments
    "views": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core", "config"},
    "cli": {"units", "paths", "splits", "results", "stats", "data", "tensor_data", "core", "config", "train", "experiments", "serve",
            "views"},
}


def _layer(parts: tuple[str, ...]) -> str | None:
    """The layer of a module given as its parts below ``coinfer`` (``("core", "network")`` -> core)."""
    if not parts or parts[0] in ("__init__", "__main__"):
        return None
    if parts[0].startswith(("cli", "config", "results")):        # cli_args, config_smoke, results_origin, ...
        return parts[0].split("_")[0]
    return parts[0]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).with_suffix("").parts


def _imports(tree: ast.AST, parts: tuple[str, ...]):
    """Every coinfer module a file imports, as parts below ``coinfer``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                   # relative: resolve against the file
                base = list(("coinfer",) + parts[:-1])[: len(parts) + 1 - node.level]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            ps = name.split(".")
            if ps[0] == "coinfer" and len(ps) > 1:
                yield tuple(ps[1:])


@pytest.mark.parametrize("path,parts", list(_modules()), ids=lambda v: "/".join(v) if isinstance(v, tuple) else "")
def test_a_module_imports_only_from_the_layers_before_it(path, parts):
    layer = _layer(parts)
    if layer is None:
        return
    assert layer in ALLOWED, f"coinfer/{'/'.join(parts)}.py is in no layer: add {layer!r} to ALLOWED and __init__'s map"
    bad = sorted({"coinfer." + ".".join(dep) for dep in _imports(ast.parse(path.read_text()), parts)
                  if _layer(dep) not in ALLOWED[layer] | {layer, None}})
    assert not bad, f"coinfer/{'/'.join(parts)}.py ({layer}) imports {bad}, which are not below it"


def test_no_module_is_over_700_lines():
    long = {str(p.relative_to(PACKAGE)): n for p, _ in _modules() if (n := len(p.read_text().splitlines())) > 700}
    assert not long, f"modules over 700 lines (is each one concept?): {long}"


def test_the_package_docstring_maps_every_module():
    import coinfer

    missing = [".".join(parts) for _, parts in _modules()
               if parts[-1] not in ("__init__", "__main__") and "coinfer." + ".".join(parts) not in coinfer.__doc__
               and "~coinfer." + ".".join(parts) not in coinfer.__doc__ and not parts[0].startswith("cli")]
    assert not missing, f"coinfer/__init__.py's map lacks {missing}"
