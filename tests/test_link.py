"""The link shaper (coinfer.serve.link): a rate in bits/s, the token bucket in bytes, a shaped loopback transfer."""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from coinfer.units import parse_rate
from coinfer.serve.link import LinkShaper, TokenBucket


def test_link_rate_is_in_bits_per_second_and_the_bucket_in_bytes():
    shaper = LinkShaper(socket.socket(), parse_rate("40KB/s"))
    assert shaper.rate_bps == 320_000 and shaper.bucket.rate == 40_000  # 40 KB/s: 40,000 bytes a second
    shaper.sock.close()
    assert LinkShaper(socket.socket(), None).bucket is None  # unshaped
    for bad in ("40", "40KiB/s", "-3KB/s", "fast"):
        with pytest.raises(ValueError, match="link rate"):
            parse_rate(bad)


def test_token_bucket_schedule_is_exact_with_a_virtual_clock():
    now = [0.0]
    bucket = TokenBucket(rate=1000.0, burst=0.0, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s + 0.0007))  # always oversleeps
    for k in range(100):
        bucket.consume(100, continuing=k > 0)
    # 10,000 bytes at 1,000 B/s: 10 s; late wake-ups must not accumulate (only the last one counts)
    assert now[0] == pytest.approx(10.0007)
    now[0] = 20.0
    bucket.consume(100)  # after idleness there is no credit: a packet takes its full time
    assert now[0] == pytest.approx(20.1007)
    burst = TokenBucket(rate=1000.0, burst=500.0, clock=lambda: now[0], sleep=lambda s: None)
    now[0] += 5.0  # idle: the bucket is full
    assert burst.consume(500) == 0.0
    assert burst.consume(100) == pytest.approx(0.1)


def shaped_transfer(n: int, rate: float) -> tuple[float, float]:
    """Send ``n`` random bytes through a LinkShaper over loopback; return the rates (bytes/s) seen by
    the sender (n / time to send) and by the receiver (slope of bytes received against time)."""
    listener = socket.create_server(("127.0.0.1", 0))
    arrivals: list[tuple[float, int]] = []

    def receive():
        conn, _ = listener.accept()
        with conn:
            got = 0
            while got < n:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
                arrivals.append((time.perf_counter(), got))

    thread = threading.Thread(target=receive)
    thread.start()
    with socket.create_connection(listener.getsockname()) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        shaper = LinkShaper(sock, 8 * rate)  # bytes/s -> bits/s
        t0 = time.perf_counter()
        shaper.send(os.urandom(n))
        sender_s = time.perf_counter() - t0
    thread.join(timeout=10)
    listener.close()
    assert arrivals[-1][1] == n
    times, received = np.array(arrivals).T
    return n / sender_s, float(np.polyfit(times - times[0], received, 1)[0])


def test_shaped_rate_within_ten_percent_on_loopback():
    n, rate = 50_000, 200_000.0  # 50 KB at 200 KB/s: 0.25 s
    # The schedule itself is exact (see the virtual-clock test); what can disturb it here is another
    # process taking the CPU at the wrong moment on a busy machine, so a disturbed try is repeated (with
    # two busy processes per core, about one try in four was off by more than 10%: five tries, not three).
    for attempt in range(5):
        sender_rate, receiver_rate = shaped_transfer(n, rate)
        if abs(sender_rate / rate - 1) <= 0.10 and abs(receiver_rate / rate - 1) <= 0.10:
            break
    assert sender_rate == pytest.approx(rate, rel=0.10)
    assert receiver_rate == pytest.approx(rate, rel=0.10)


def test_send_returns_when_the_last_piece_was_handed_to_the_socket():
    a, b = socket.socketpair()
    try:
        for rate, data in ((8 * 100_000.0, os.urandom(3000)), (None, b"x" * 10)):
            shaper = LinkShaper(a, rate, packet_bytes=1000)
            start = time.perf_counter()
            handed = shaper.send(data)
            end = time.perf_counter()
            assert start <= handed <= end
            if rate is not None:  # all but the last 1000-byte piece went first, at 100,000 B/s
                assert handed - start >= 0.99 * 2000 / 100_000
            got = b""
            while len(got) < len(data):
                got += b.recv(65536)
            assert got == data
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("rate", [-8000, 0, float("nan"), float("inf"), True, "40KB/s", 5e-324])
def test_a_link_rate_is_checked_in_bits_per_second(rate):
    # It was checked by the token bucket, in bytes/s: -8000 bit/s was refused as "got -1000.0".
    with socket.socket() as sock, pytest.raises(
            ValueError, match=rf"rate_bps must be a finite number of bit/s > 0, or None \(unshaped\), got {rate!r}"):
        LinkShaper(sock, rate)


@pytest.mark.parametrize("rate_bps, seconds", [(8e-300, "1e\\+303"), (8e-320, "inf")])
def test_a_frame_no_sleep_can_shape_is_refused_before_a_byte_is_sent(rate_bps, seconds):
    # 1e-300 B/s passed, and time.sleep raised OverflowError (a traceback) after nothing was sent.
    a, b = socket.socketpair()
    try:
        shaper = LinkShaper(a, rate_bps)
        with pytest.raises(ValueError, match=rf"1000 bytes at .* bytes/s \({rate_bps:g} bit/s\) would take "
                                             rf"{seconds} s to send, more than .*: use a faster link rate"):
            shaper.send(b"x" * 1000)
        b.setblocking(False)
        with pytest.raises(BlockingIOError):   # the stream is still in step: not one byte went
            b.recv(1)
        with pytest.raises(ValueError, match="10 bytes at 1e-300 bytes/s"):
            TokenBucket(1e-300, sleep=lambda s: None).consume(10)
    finally:
        a.close()
        b.close()
