"""Any setting of a preset by its dotted name: the names there are, overriding them, and ``--set``.

:func:`coinfer.config.get_preset` applies overrides with :func:`override`; the command line's
``--set NAME=VALUE`` arrives through :func:`parse_overrides`. Every replaced setting is validated
again by its settings class.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import replace


def setting_names(settings) -> list[str]:
    """Every overridable dotted setting name of a settings dataclass (nested ones included).

    Parameters
    ----------
    settings : dataclass instance
        E.g. a :class:`Preset` or its ``pruning``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from coinfer.config import get_preset, setting_names
    >>> [n for n in setting_names(get_preset("quick")) if n.startswith("pruning.schedule")]
    ['pruning.schedule', 'pruning.schedule.kind', 'pruning.schedule.ramp_fraction', 'pruning.schedule.interval']
    """
    names = []
    for f in dataclasses.fields(settings):
        names.append(f.name)
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            names += [f"{f.name}.{sub}" for sub in setting_names(value)]
    return names


def override(settings, overrides: dict):
    """``settings`` (a dataclass) with the ``overrides`` of :func:`get_preset` applied.

    Parameters
    ----------
    settings : dataclass instance
        A :class:`Preset` or one of its stage settings.
    overrides : dict
        Setting names (plain or dotted) to new values; a dict value for a nested settings object
        overrides its fields.

    Returns
    -------
    A new instance (``settings`` itself is frozen and unchanged).

    Raises
    ------
    ValueError
        For an unknown setting name; the message lists every valid name.

    Examples
    --------
    >>> from coinfer.config import PRESETS, override
    >>> override(PRESETS["quick"].pruning, {"epochs": 3, "schedule.kind": "linear"}).schedule.kind
    'linear'
    """
    flat = _flatten(settings, overrides)
    valid = setting_names(settings)
    unknown = sorted(k for k in flat if k not in valid)
    if unknown:
        raise ValueError(f"unknown preset field(s) {unknown}; fields are {valid}")
    for key in sorted(flat, key=lambda k: k.count(".")):      # whole objects before their fields
        settings = _replace_path(settings, key.split("."), flat[key])
    return settings


def _lookup(settings, dotted: str):
    for name in dotted.split("."):
        if not (dataclasses.is_dataclass(settings) and hasattr(settings, name)):
            return None
        settings = getattr(settings, name)
    return settings


def _flatten(settings, overrides: dict, prefix: str = "") -> dict:
    """Overrides with dict values for nested settings objects spelled out as dotted names."""
    out = {}
    for key, value in overrides.items():
        key = prefix + str(key)
        if isinstance(value, dict) and dataclasses.is_dataclass(_lookup(settings, key)):
            out.update(_flatten(settings, value, key + "."))
        else:
            out[key] = value
    return out


def _replace_path(settings, path: list[str], value):
    head, rest = path[0], path[1:]
    return replace(settings, **{head: _replace_path(getattr(settings, head), rest, value) if rest else value})


def parse_overrides(items: list[str] | None) -> dict:
    """``["pruning.epochs=2", "seed=1"]`` (command-line ``--set`` values) as overrides for :func:`get_preset`.

    Values are read as Python literals (numbers, tuples, None, quoted strings); anything else stays
    a string.

    Parameters
    ----------
    items : list of str
        ``NAME=VALUE`` strings.

    Returns
    -------
    dict

    Examples
    --------
    >>> from coinfer.config import parse_overrides
    >>> parse_overrides(["pruning.epochs=2", "pruning.splits=('layer2.1',)", "pruning.schedule.kind=linear"])
    {'pruning.epochs': 2, 'pruning.splits': ('layer2.1',), 'pruning.schedule.kind': 'linear'}
    """
    out = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        if not eq or not name:
            raise ValueError(f"a setting must look like NAME=VALUE (e.g. pruning.epochs=2), got {item!r}")
        try:
            out[name.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            out[name.strip()] = text.strip()
    return out
