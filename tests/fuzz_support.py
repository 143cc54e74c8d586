"""What the property-based fuzz tests share (tests/test_fuzz_wire.py, tests/test_fuzz_codecs.py):
deterministic hypothesis settings, a per-example hang guard, byte-level mutations of valid inputs,
and an allocation probe.

Every fuzz test asserts the same contract for its parser or decoder: for any input it returns a
valid result or raises the documented error type, within a deadline, without allocating more than
its input justifies. The examples are derandomized (the same cases on every run, no example
database), so a failure reproduces.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import tracemalloc
from contextlib import contextmanager

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Seconds one example may run before it counts as a hang. Examples take milliseconds; the margin
#: is for a machine loaded by other work, so that the guard catches loops, not load.
HANG_S = 10.0


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic settings: derandomized, no example database, hangs caught by :func:`no_hang`."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much],
                    print_blob=True)


class Hang(BaseException):
    """An example ran past :data:`HANG_S` (a BaseException, so no ``except Exception`` swallows it)."""


@contextmanager
def no_hang(seconds: float = HANG_S):
    """Fail with :class:`Hang` when the body runs longer than ``seconds`` (SIGALRM, for Python loops);
    a hang inside native code, which a signal cannot interrupt, ends the process with every thread's
    traceback after twice as long (faulthandler)."""
    def alarm(signum, frame):
        raise Hang(f"example still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(2 * seconds, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


def peak_allocation(fn, *args, **kwargs) -> tuple[int, object]:
    """``(peak bytes traced while fn ran, fn's result or the exception it raised)``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            outcome = fn(*args, **kwargs)
        except Exception as error:  # the caller asserts which
            outcome = error
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


def _flip_bits(data: bytearray, draw) -> bytearray:
    if data:
        for position in draw(st.lists(st.integers(0, 8 * len(data) - 1), min_size=1, max_size=8)):
            data[position // 8] ^= 1 << (position % 8)
    return data


def _truncate(data: bytearray, draw) -> bytearray:
    return data[:draw(st.integers(0, max(0, len(data) - 1)))]


def _extend(data: bytearray, draw) -> bytearray:
    return data + draw(st.binary(min_size=1, max_size=64))


def _overwrite(data: bytearray, draw) -> bytearray:
    if data:
        start = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[start:start + len(chunk)] = chunk
    return data


def _insert_or_delete(data: bytearray, draw) -> bytearray:
    at = draw(st.integers(0, len(data)))
    if data and draw(st.booleans()):
        del data[min(at, len(data) - 1)]
    else:
        data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return data


MUTATIONS = {"flip": _flip_bits, "truncate": _truncate, "extend": _extend, "overwrite": _overwrite,
             "insert/delete": _insert_or_delete}


@st.composite
def mutated(draw, valid: bytes, extra=None) -> bytes:
    """``valid`` after one to three random mutations (bit flips, truncation, extension, overwritten,
    inserted or deleted bytes, plus ``extra``: a dict of name -> fn(bytearray, draw) such as a
    changed length field)."""
    table = dict(MUTATIONS, **(extra or {}))
    data = bytearray(valid)
    for name in draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3)):
        data = table[name](data, draw)
    return bytes(data)
