"""The command line's argument checks: one ``type=`` function per kind of value, used by every command.

Each check runs where the value enters (argparse calls it while parsing, before anything loads) and
its message names the value and what is allowed; argparse prefixes the option, e.g.::

    python -m coinfer train: error: argument --epochs: '0' is not allowed: give an integer >= 1

The server's and the device's options go through the library's own checks
(:func:`checked_by`), so the command line and the library say the same words. A check returns the
value in the form the command's body expects (an ``int``, a ``float``, a
:class:`~coinfer.splits.SplitPoint`, or the text itself once it is known to parse).
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = ["checked_by", "attach_negative_values", "positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "width", "sparsity", "preset", "sweep_grid_name", "split_point",
           "rate", "link_rate", "rates", "threshold", "channel", "channel_filter", "shard", "host_port"]


def _fail(text, allowed: str):
    raise argparse.ArgumentTypeError(f"{text!r} is not allowed: {allowed}")


def _integer(text: str, low: int, high: int | None, allowed: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        _fail(text, allowed)
    if value < low or (high is not None and value > high):
        _fail(text, allowed)
    return value


def _number(text: str, allowed: str, ok) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        _fail(text, allowed)
    if not math.isfinite(value) or not ok(value):
        _fail(text, allowed)
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, images, threads, connection and payload caps).

    Examples
    --------
    >>> from coinfer.cli_args import positive_int
    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' is not allowed: give an integer >= 1
    """
    return _integer(text, 1, None, "give an integer >= 1")


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (an offset, a count of lines to show).

    Examples
    --------
    >>> from coinfer.cli_args import nonnegative_int
    >>> nonnegative_int("0")
    0
    """
    return _integer(text, 0, None, "give an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0 (a FLOP rate).

    Examples
    --------
    >>> from coinfer.cli_args import positive_float
    >>> positive_float("2.5")
    2.5
    """
    return _number(text, "give a finite number > 0", lambda v: v > 0)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (a token-bucket depth in bytes).

    Examples
    --------
    >>> from coinfer.cli_args import nonnegative_float
    >>> nonnegative_float("0")
    0.0
    """
    return _number(text, "give a finite number >= 0", lambda v: v >= 0)


def width(text: str) -> float:
    """A ResNet18 width multiplier in (1/128, ``coinfer.config.MAX_WIDTH``] (:func:`coinfer.config.check_width`).

    Examples
    --------
    >>> from coinfer.cli_args import width
    >>> width("0.125")
    0.125
    """
    from coinfer.config import MAX_WIDTH

    return _number(text, f"give a width multiplier in (1/128, {MAX_WIDTH:g}] (1 is the paper's network)",
                   lambda v: 1 / 128 < v <= MAX_WIDTH)


def sparsity(text: str) -> float:
    """A channel sparsity in [0, 1).

    Examples
    --------
    >>> from coinfer.cli_args import sparsity
    >>> sparsity("0.5")
    0.5
    """
    return _number(text, "give a sparsity in [0, 1)", lambda v: 0 <= v < 1)


def preset(text: str) -> str:
    """A preset name (a key of ``coinfer.config.PRESETS``); the one message lists them.

    Examples
    --------
    >>> from coinfer.cli_args import preset
    >>> preset("quick")
    'quick'
    >>> preset("fast")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: unknown preset 'fast'; available: quick, paper
    """
    from coinfer.config import PRESETS, unknown_preset

    if text not in PRESETS:
        raise argparse.ArgumentTypeError(str(unknown_preset(text)))
    return text


def sweep_grid_name(text: str) -> str:
    """A sweep grid name: a preset's or ``tiny``.

    Examples
    --------
    >>> from coinfer.cli_args import sweep_grid_name
    >>> sweep_grid_name("tiny")
    'tiny'
    """
    from coinfer.config import sweep_grid

    try:
        sweep_grid(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def split_point(text: str):
    """A :class:`~coinfer.splits.SplitPoint` (canonical name or alias).

    Examples
    --------
    >>> from coinfer.cli_args import split_point
    >>> split_point("s4")
    'layer3.1'
    """
    from coinfer.core.network import SplitPoint

    try:
        return SplitPoint(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_RATE_HELP = ("give a rate > 0 with a unit: B/s, KB/s, MB/s, GB/s, bit/s, kbit/s, Mbit/s or Gbit/s, "
              "e.g. 40KB/s or '40 KB/s' (1 KB = 1000 bytes)")


def rate(text: str) -> str:
    """A link rate with a unit (:func:`coinfer.units.parse_rate`): ``40KB/s`` or ``40 KB/s``
    (a space between number and unit is allowed); zero, negative, infinite or unit-less rates are not.
    Returns the text; the command parses it.

    Examples
    --------
    >>> from coinfer.cli_args import rate
    >>> rate("5 KB/s")
    '5 KB/s'
    >>> rate("-5KB/s")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: link rate '-5KB/s' is not allowed: give a rate > 0 with a unit: B/s, KB/s, MB/s, GB/s, bit/s, kbit/s, Mbit/s or Gbit/s, e.g. 40KB/s or '40 KB/s' (1 KB = 1000 bytes)
    """
    from coinfer.units import parse_rate

    try:
        parse_rate(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"link rate {text!r} is not allowed: {_RATE_HELP}") from None
    return text


def link_rate(text: str) -> str:
    """A device's uplink rate: :func:`rate`, or ``inf`` for an unshaped link.

    Examples
    --------
    >>> from coinfer.cli_args import link_rate
    >>> link_rate("inf"), link_rate("800kbit/s")
    ('inf', '800kbit/s')
    """
    if text.strip().lower() == "inf":   # the one word the commands read as no shaping (cli_serving.link_rate)
        return text
    try:
        return rate(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}, or inf (no shaping)") from None


def rates(text: str) -> str:
    """Comma-separated link rates, each as :func:`link_rate`.

    Examples
    --------
    >>> from coinfer.cli_args import rates
    >>> rates("10KB/s,40 KB/s,inf")
    '10KB/s,40 KB/s,inf'
    """
    items = text.split(",")
    for item in items:
        try:
            link_rate(item)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{item!r} in {text!r} is not allowed: {_RATE_HELP}, or inf; "
                                             "separate rates with commas") from None
    return text


def threshold(text: str) -> float:
    """An accuracy threshold, ``0.89`` or ``89%``, as a fraction in [0, 1].

    Examples
    --------
    >>> from coinfer.cli_args import threshold
    >>> threshold("89%")
    0.89
    """
    value = text.strip()
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        _fail(text, "give an accuracy threshold as a fraction in [0, 1] (0.89) or a percentage (89%)")
    return number


def channel(text: str) -> str:
    """A channel: ``noiseless``, ``awgn:<SNR dB>`` (finite) or ``bsc:<p>`` (p in [0, 0.5]).

    Examples
    --------
    >>> from coinfer.cli_args import channel
    >>> channel("bsc:0.01")
    'bsc:0.01'
    """
    from coinfer.results import SchemaError, check_channel

    try:
        check_channel(text)
    except SchemaError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def channel_filter(text: str) -> str:
    """:func:`channel`, or ``any`` (every channel).

    Examples
    --------
    >>> from coinfer.cli_args import channel_filter
    >>> channel_filter("any")
    'any'
    """
    if text == "any":
        return text
    try:
        return channel(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}; or 'any'") from None


def shard(text: str) -> str:
    """``I/N``: worker I of N, counting from 0 (0 <= I < N).

    Examples
    --------
    >>> from coinfer.cli_args import shard
    >>> shard("1/4")
    '1/4'
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not int(match.group(1)) < int(match.group(2)):
        _fail(text, "give I/N with 0 <= I < N, e.g. 3/8 (worker 3 of 8, counting from 0)")
    return text


def host_port(text: str) -> str:
    """``HOST:PORT`` of a running server (port 1 to 65535).

    Examples
    --------
    >>> from coinfer.cli_args import host_port
    >>> host_port("127.0.0.1:5000")
    '127.0.0.1:5000'
    """
    host, _, number = text.rpartition(":")
    allowed = "give HOST:PORT, e.g. 127.0.0.1:5000 (port 1 to 65535)"
    if not host or not number.strip().isdigit() or not 1 <= int(number) <= 65535:
        _fail(text, allowed)
    return text


def checked_by(check, name: str, kind=int):
    """A ``type=`` function that reads a ``kind`` and passes it to ``check(**{name: value})``, a
    library function that raises ValueError naming the value and what is allowed (e.g.
    :func:`coinfer.serve.server.check_server_options`): the command line and the library then say
    the same thing.

    Parameters
    ----------
    check : callable or str
        Raises ValueError for a bad value; ``"module:function"`` is imported when first used (the
        server's checks live beside torch, which a command line should not import to parse).
    name : str
        The keyword ``check`` takes the value by.
    kind : type
        ``int`` or ``float``.

    Examples
    --------
    >>> from coinfer.cli_args import checked_by
    >>> from coinfer.serve.server import check_server_options
    >>> checked_by(check_server_options, "port")("5000")
    5000
    """
    def parse(text: str):
        function = check
        if isinstance(function, str):
            import importlib

            module, _, attribute = function.partition(":")
            function = getattr(importlib.import_module(module), attribute)
        try:
            value = kind(str(text).strip())
        except ValueError:
            _fail(text, f"give {'an integer' if kind is int else 'a number'} ({name.replace('_', ' ')})")
        try:
            function(**{name: value})
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return value

    parse.__name__ = name
    return parse


def attach_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with ``--option -5KB/s`` written ``--option=-5KB/s``, for options that take one value.

    argparse reads a value that starts with ``-`` and is not a plain number as another option and
    answers "expected one argument", without naming the value; attached, the value reaches its
    check, whose message names it.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The top-level parser (with sub-commands).
    argv : list of str

    Returns
    -------
    list of str

    Examples
    --------
    >>> from coinfer.cli import build_parser
    >>> attach_negative_values(build_parser(), ["latency", "--rate", "-5KB/s"])
    ['latency', '--rate=-5KB/s']
    """
    takes_value = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for a in sub._actions:
                    if a.option_strings and a.nargs in (None, "?") and not isinstance(a.const, bool) \
                            and a.const is None and a.nargs != 0:
                        takes_value.update(a.option_strings)
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in takes_value and i + 1 < len(argv) and re.match(r"-[\d.]", argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out
