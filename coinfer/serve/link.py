"""An uplink of a given rate, emulated on loopback: a token bucket in front of a socket.

Shao & Zhang (2020), section V-C, charge ``bits / rate`` seconds for sending a feature over the
device's uplink. On one machine the socket moves bytes at memory speed, so the device side
(:class:`coinfer.serve.device.DeviceClient`) sends every frame through a :class:`LinkShaper`: a
:class:`TokenBucket` releases each packet at the moment its last byte would have arrived over a real
link of that rate.

Units: a link rate is in **bits** per second, as everywhere in coinfer (``parse_rate("40KB/s")`` is
320,000 bit/s: 1 KB = 1000 B, as in the paper); the token bucket counts bytes (a token is a byte, its
rate is in bytes/s); times in seconds.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from typing import Callable

from coinfer.units import BITS_PER_BYTE


def precise_sleep(seconds: float, spin: float = 0.001) -> None:
    """Sleep ``seconds``: ``time.sleep`` for all but the last ``spin`` seconds, then a busy wait, because
    an operating-system sleep can overshoot by a millisecond or more and a link of 1 MB/s moves a
    1460-byte packet in 1.46 ms."""
    deadline = time.perf_counter() + seconds
    if seconds > spin:
        time.sleep(seconds - spin)
    while time.perf_counter() < deadline:
        pass


def check_link_rate(rate_bps) -> None:
    """Raise ValueError unless ``rate_bps`` is a link rate: bits per second, finite and > 0, or None.

    Parameters
    ----------
    rate_bps : float or None
        Bits per second (:func:`coinfer.units.parse_rate`); None for an unshaped link.

    Examples
    --------
    >>> check_link_rate(320_000.0), check_link_rate(None)
    (None, None)
    >>> check_link_rate(-8000)
    Traceback (most recent call last):
    ...
    ValueError: rate_bps must be a finite number of bit/s > 0, or None (unshaped), got -8000
    """
    if rate_bps is None:
        return
    if not (isinstance(rate_bps, (int, float)) and not isinstance(rate_bps, bool)
            and math.isfinite(rate_bps) and rate_bps / BITS_PER_BYTE > 0):   # (5e-324 bit/s is 0 B/s)
        raise ValueError(f"rate_bps must be a finite number of bit/s > 0, or None (unshaped), got {rate_bps!r}")


def _check_wait(seconds: float, n: int, rate: float) -> None:
    """Refuse a wait no sleep can make: an absurdly slow rate (1e-300 B/s) asks for more seconds than
    ``time.sleep`` accepts (OverflowError), or for infinitely many."""
    if not (math.isfinite(seconds) and seconds <= threading.TIMEOUT_MAX):
        raise ValueError(f"{n} bytes at {rate:g} bytes/s ({rate * BITS_PER_BYTE:g} bit/s) would take {seconds:g} s "
                         f"to send, more than the longest wait this platform can sleep ({threading.TIMEOUT_MAX:g} s): "
                         "use a faster link rate")


class TokenBucket:
    """A token bucket of ``rate`` tokens (bytes) per second holding at most ``burst`` tokens.

    Implemented in its equivalent "virtual scheduling" form (the generic cell rate algorithm): the
    bucket remembers the time ``tat`` at which everything granted so far will have drained at
    ``rate``; a request of ``n`` bytes is granted once ``now >= tat + n / rate - burst / rate``.
    With ``burst = 0`` (the default of :class:`LinkShaper`) a packet is released at the moment its
    last byte would have arrived over a link of this rate, which is what the latency model's
    ``bits / rate`` term assumes.

    ``time.sleep`` wakes up late by tens of microseconds to milliseconds. A request made with
    ``continuing=True`` says the sender has been busy since its last grant (the next packet of the same
    message), so the time lost to a late wake-up is made up instead of counted as idleness; the
    long-run rate of a message is then exact.
    """

    def __init__(self, rate: float, burst: float = 0.0,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = precise_sleep):
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive, finite number of bytes/s, got {rate!r}")
        if not (burst >= 0 and math.isfinite(burst)):
            raise ValueError(f"burst must be a finite number of bytes >= 0, got {burst!r}")
        self.rate, self.burst = float(rate), float(burst)
        self._clock, self._sleep = clock, sleep
        self._tat = clock()  # an idle bucket starts full

    def consume(self, n: int, continuing: bool = False) -> float:
        """Block until ``n`` bytes may go; returns the seconds waited."""
        now = self._clock()
        tat = self._tat if continuing else max(self._tat, now)
        new_tat = tat + n / self.rate
        release = new_tat - self.burst / self.rate
        _check_wait(release - now, n, self.rate)
        waited = 0.0
        if release > now:
            self._sleep(release - now)
            waited = release - now
        self._tat = new_tat
        return waited


class LinkShaper:
    """Send bytes on a socket no faster than ``rate_bps`` bits/s, in packets of ``packet_bytes``.

    Parameters
    ----------
    sock : socket.socket
    rate_bps : float or None
        Bits per second (:func:`coinfer.units.parse_rate`); None sends at loopback speed (no shaping).
    burst : float
        Token-bucket depth in bytes: how much an idle link may send at once. 0 (default) emulates a
        link of exactly ``rate_bps``: ``n`` bytes take ``8 n / rate_bps`` seconds to arrive.
    packet_bytes : int
        Largest piece handed to the socket at once (default 1460, an Ethernet TCP segment).
    """

    def __init__(self, sock: socket.socket, rate_bps: float | None, burst: float = 0.0, packet_bytes: int = 1460):
        if packet_bytes < 1:
            raise ValueError(f"packet_bytes must be >= 1, got {packet_bytes!r}")
        check_link_rate(rate_bps)   # in bit/s: the bucket's own check would speak of bytes/s
        self.sock = sock
        self.rate_bps = rate_bps
        self.packet_bytes = packet_bytes
        self.bucket = TokenBucket(rate_bps / BITS_PER_BYTE, burst) if rate_bps is not None else None

    def send(self, data: bytes) -> float:
        """Send ``data`` at the link's rate; returns the ``time.perf_counter()`` at which its last piece
        was handed to the socket.

        That moment, not the return of this call, ends the link's part of a request: once the last
        byte is in the kernel the receiver may wake up and run, and on a loaded machine it may do so
        on this core before ``sendall`` returns here, so a clock read after the call would count the
        receiver's work as sending time.
        """
        if self.bucket is None:
            handed = time.perf_counter()
            self.sock.sendall(data)
            return handed
        # The whole frame's time checked before its first byte goes: refused half-way, the frame would
        # leave the stream out of step.
        _check_wait(len(data) / self.bucket.rate, len(data), self.bucket.rate)
        view = memoryview(data)
        handed = time.perf_counter()
        for start in range(0, len(view), self.packet_bytes):
            packet = view[start:start + self.packet_bytes]
            self.bucket.consume(len(packet), continuing=start > 0)
            handed = time.perf_counter()
            self.sock.sendall(packet)
        return handed


