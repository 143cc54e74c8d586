"""Units: one convention for bits, bit/s, bytes, MACs and seconds, used everywhere in coinfer.

* **Sizes** are in **bits** (per image); memory in **bytes**; ``BITS_PER_BYTE`` = 8.
* **Link rates** are in **bits per second** inside the library. Rates are quoted in bytes per
  second with decimal prefixes, as the paper does ("40 KBps"): **1 KB = 1000 bytes = 8000 bits**
  (:data:`KILO`), so 40 KB/s = 320,000 bit/s. :func:`parse_rate` reads ``B/s``, ``KB/s``,
  ``MB/s``, ``GB/s``, ``bit/s``, ``kbit/s``, ``Mbit/s`` and ``Gbit/s``; :func:`format_rate`
  writes bytes per second.
* **Work** is counted in **MACs** (multiply-accumulates); **FLOPs = 2 x MACs**; speeds are FLOP/s
  (:func:`parse_flops`).
* **Times** are in **seconds**.
* **Accuracies** are fractions in [0, 1]; an allowed accuracy drop is in percentage points
  (:func:`coinfer.results.accuracy_threshold`).

Example::

    >>> from coinfer.units import format_rate, parse_rate
    >>> parse_rate("40KB/s"), format_rate(320_000)
    (320000.0, '40 KB/s')
"""

from __future__ import annotations

import math
import numbers
import re

BITS_PER_BYTE = 8
#: 1 KB = 1000 bytes (decimal prefixes, as link rates are usually quoted).
KILO = 1000
#: Bytes of one float32 value.
BYTES_PER_FLOAT32 = 4
#: FLOPs per multiply-accumulate.
FLOPS_PER_MAC = 2

#: Decimal SI prefixes (``k`` and ``K`` both mean 1000).
SI_PREFIXES = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_NUMBER = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_RATE_RE = re.compile(_NUMBER + r"\s*([kKMGT]?)(B|bit)(?:/s|ps)$")
#: The units :func:`parse_rate` reads.
RATE_UNITS = ("B/s", "KB/s", "MB/s", "GB/s", "bit/s", "kbit/s", "Mbit/s", "Gbit/s")


def is_count(value, low: int = 1, recorded: bool = False) -> bool:
    """Whether ``value`` is an integer >= ``low``: a Python or NumPy integer, never a ``bool`` or a float.

    The one test behind every count, index and seed a function or setting accepts.

    Parameters
    ----------
    value : Any
    low : int
        The smallest allowed value (1 for a count of things, 0 for an index or a seed).
    recorded : bool
        A setting that a table records as JSON: a Python integer only (a NumPy one is not JSON).

    Examples
    --------
    >>> import numpy as np
    >>> from coinfer.units import is_count
    >>> is_count(3), is_count(np.int64(3)), is_count(0), is_count(0, low=0), is_count(True), is_count(2.0)
    (True, True, False, True, False, False)
    >>> is_count(np.int64(3), recorded=True)
    False
    """
    kind = int if recorded else numbers.Integral
    return bool(isinstance(value, kind) and not isinstance(value, bool) and value >= low)


def check_positive(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a float, or a ValueError naming ``name``, the bad value and what is allowed.

    Parameters
    ----------
    name : str
        How the error message names the quantity (with its unit).
    value : int or float
        The number to check (``bool`` is refused).
    allow_zero : bool
        Accept 0 (default: the value must be > 0).

    Returns
    -------
    float
        ``value``, finite and > 0 (or >= 0 with ``allow_zero``).

    Examples
    --------
    >>> from coinfer.units import check_positive
    >>> check_positive("speed (FLOP/s)", 24e9)
    24000000000.0
    >>> check_positive("speed (FLOP/s)", 0)
    Traceback (most recent call last):
    ...
    ValueError: speed (FLOP/s) must be finite and > 0, got 0.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {allowed}, got {value!r}")
    return value


def parse_rate(text: str | float) -> float:
    """A link rate in bits per second, from a string with a unit (``"40KB/s"``, ``"2 Mbit/s"``).

    ``B`` is bytes (8 bits), ``bit`` is bits; prefixes are decimal (1 KB/s = 8000 bit/s). ``ps``
    may stand for ``/s`` (the paper writes "40KBps"). A bare number is read as bit/s only when it
    is a Python number, never from a string, so that "40" cannot silently mean 40 bit/s.

    Parameters
    ----------
    text : str or float
        A number and one of :data:`RATE_UNITS`, or a Python number of bit/s.

    Returns
    -------
    float
        Bits per second, finite and > 0.

    Raises
    ------
    ValueError
        For a string without a known unit, or a rate that is not finite and > 0.

    Examples
    --------
    >>> from coinfer.units import parse_rate
    >>> parse_rate("40KB/s"), parse_rate("40KBps"), parse_rate("1.5 Mbit/s"), parse_rate(8000)
    (320000.0, 320000.0, 1500000.0, 8000.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return check_positive("link rate (bit/s)", text)
    if not isinstance(text, str):
        raise ValueError(f"link rate must be a string with a unit or a number of bit/s, got {text!r}")
    match = _RATE_RE.match(text.strip())
    if not match:
        raise ValueError(f"cannot read link rate {text!r}: expected a number and one of the units "
                         f"{', '.join(RATE_UNITS)} (e.g. '40KB/s', '1.5 Mbit/s'); 1 KB = 1000 bytes")
    number, prefix, unit = match.groups()
    value = float(number) * SI_PREFIXES[prefix] * (BITS_PER_BYTE if unit == "B" else 1)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"link rate {text!r} must be finite and > 0")
    return value


def format_rate(bits_per_s: float) -> str:
    """A rate in bit/s as the paper would write it, in bytes per second (``"40 KB/s"``).

    Parameters
    ----------
    bits_per_s : float
        The rate in bits per second.

    Returns
    -------
    str
        Four significant digits and the largest of B/s, KB/s, MB/s, GB/s that keeps the number >= 1.

    Examples
    --------
    >>> from coinfer.units import format_rate
    >>> format_rate(320_000), format_rate(8e6), format_rate(80)
    ('40 KB/s', '1 MB/s', '10 B/s')
    """
    bytes_per_s = bits_per_s / BITS_PER_BYTE
    for unit, size in (("GB/s", 1e9), ("MB/s", 1e6), ("KB/s", 1e3)):
        if bytes_per_s >= size:
            return f"{bytes_per_s / size:.4g} {unit}"
    return f"{bytes_per_s:.4g} B/s"


def _parse_quantity(text: str, unit_pattern: str, what: str, example: str) -> float:
    match = re.fullmatch(_NUMBER + r"\s*([kKMGT]?)" + unit_pattern, text.strip())
    if not match:
        raise ValueError(f"cannot read {what} {text!r}: expected a number with an optional SI prefix, "
                         f"e.g. {example}")
    value = float(match.group(1)) * SI_PREFIXES[match.group(2)]
    return check_positive(what, value)


def parse_flops(text: str) -> float:
    """FLOP/s from ``"24e9"``, ``"24G"``, ``"24 GFLOP/s"`` or ``"13.45TFLOPS"``.

    Parameters
    ----------
    text : str
        A number with an optional SI prefix and an optional ``FLOP/s``/``FLOPS``.

    Returns
    -------
    float
        FLOP/s, finite and > 0.

    Examples
    --------
    >>> from coinfer.units import parse_flops
    >>> parse_flops("24 GFLOP/s"), parse_flops("13.45TFLOPS"), parse_flops("2.5G")
    (24000000000.0, 13450000000000.0, 2500000000.0)
    """
    return _parse_quantity(text, r"(?:FLOP/s|FLOPS|flop/s|flops)?", "speed (FLOP/s)", "'24e9' or '24GFLOP/s'")


def parse_bytes(text: str) -> float:
    """Bytes from ``"1e9"``, ``"1GB"`` or ``"512 MB"`` (decimal prefixes).

    Parameters
    ----------
    text : str
        A number with an optional SI prefix and an optional ``B``.

    Returns
    -------
    float
        Bytes, finite and > 0.

    Examples
    --------
    >>> from coinfer.units import parse_bytes
    >>> parse_bytes("1GB"), parse_bytes("512 MB"), parse_bytes("2e6")
    (1000000000.0, 512000000.0, 2000000.0)
    """
    return _parse_quantity(text, r"B?", "memory (bytes)", "'1e9', '1GB' or '512MB'")
