"""Any setting of a preset by its dotted name: the names there are, overriding them, and ``--set``.

:func:`coinfer.config.get_preset` applies overrides with :func:`override`; the command line's
``--set NAME=VALUE`` arrives through :func:`parse_overrides`. Every replaced setting is validated
again by its settings class, with the field checks they share here (``_Settings``, ``_each``).
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import asdict, replace


class _Settings:
    """``to_dict`` for the settings dataclasses (plain values, nested settings as dicts), and ``_check``."""

    def to_dict(self) -> dict:
        return asdict(self)

    def _check(self, prefix: str, **rules) -> None:
        """A ValueError naming the first field that breaks its rule (``field=(allowed, test)``); a
        top-level field of the preset has no prefix (``""``)."""
        for name, (allowed, ok) in rules.items():
            if not ok(value := getattr(self, name)):
                raise ValueError(f"{prefix + '.' if prefix else ''}{name} must be {allowed}, got {value!r}")


def _each(name: str, parse, values, empty: bool = False) -> tuple:
    """``parse`` of every value of the grid setting ``name`` (split points, code sizes); errors name the setting.

    An empty tuple is refused (an empty grid runs nothing, without a word) unless ``empty``: only where
    leaving the part out is meant (``encoding.huffman_splits``, and the sweep's split points of one
    method, which leave that method out of the sweep).
    """
    if isinstance(values, str) or not isinstance(values, (tuple, list)):   # a string's letters are no split points
        example = f", e.g. ({values!r},)" if values is not None else ""
        raise ValueError(f"{name} must be a tuple{example}, got {values!r}")
    if not values and not empty:
        raise ValueError(f"{name} must hold one or more values (an empty grid runs nothing), got {values!r}")
    try:
        parsed = tuple(parse(value) for value in values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name}: {error}") from None
    if twice := [(values[parsed.index(p)], v) for i, (p, v) in enumerate(zip(parsed, values)) if p in parsed[:i]]:
        # trained twice, kept once
        raise ValueError(f"{name} lists one value twice: {twice[0][0]!r} and {twice[0][1]!r} (give distinct values)")
    return parsed


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
        For an unknown setting name (the message lists every valid name), or a value its settings
        class refuses (the message names the setting).

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
    return _apply(settings, flat)


def _apply(settings, flat: dict, prefix: str = ""):
    """``settings`` with ``flat`` (dotted names below it) replaced, in one ``replace`` per settings object:
    a rule between two fields (``encoding.augment`` needs ``encoding.precompute`` off) sees both new
    values, whichever is named first. A whole object is replaced before its own fields are."""
    changes, nested = {}, {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            changes[head] = value
    try:
        for head, below in nested.items():
            if head in changes and not dataclasses.is_dataclass(changes[head]):
                raise ValueError(f"{prefix}{head} must be a settings object for {', '.join(below)} to be set in it, "
                                 f"got {changes[head]!r}")
            changes[head] = _apply(changes.get(head, getattr(settings, head)), below, f"{prefix}{head}.")
        return replace(settings, **changes)
    except (TypeError, AttributeError) as error:
        # A value of a kind no check expected (a string where a number goes) failed inside a
        # check: a command-line user gets the setting's name, not a traceback.
        named = ", ".join(f"{prefix}{k}={v!r}" for k, v in changes.items() if k not in nested)
        raise ValueError(f"{named or prefix.rstrip('.')} is not allowed: {error}") from None


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
