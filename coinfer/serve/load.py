"""Load on an edge server: many legitimate devices at once, and hostile connections beside them.

An edge server is only useful if the devices it serves are answered while other peers misbehave.
:func:`concurrency_probe` runs many :class:`~coinfer.serve.device.DeviceClient` devices at once and
reports their latency; :class:`HostileClients` holds idle, trickling (one byte per interval) and
malformed connections against a server from one event loop in a background thread, reconnecting
whenever the server closes them; :func:`process_memory_bytes` reads a process's resident memory.
The load test of the suite (``tests/test_server.py``) and ``benchmarks/serve_concurrency.py`` use
them, on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter

import numpy as np
import torch

from coinfer.serve import wire
from coinfer.serve.configuration import Configuration
from coinfer.serve.device import DeviceClient


def concurrency_probe(configuration: Configuration, address: tuple[str, int], images: torch.Tensor,
                      clients: int, expected: list[int] | None = None) -> dict:
    """Run ``clients`` devices at once (unshaped), each classifying all ``images``; returns timings.

    All clients connect before any sends, so the server must hold ``clients`` connections together.

    Parameters
    ----------
    configuration : Configuration
        What every device runs (the server must hold it).
    address : (str, int)
        The server's host and port.
    images : torch.Tensor
        ``[n, C, H, W]``: every device classifies all of them.
    clients : int
        Devices at once (>= 1).
    expected : list of int, optional
        The classes ``configuration.run_local(images)`` gives; then ``wrong`` counts the answers that
        differ from them.

    Returns
    -------
    dict
        ``clients``, ``images_per_client``, ``answered`` (requests answered), ``wrong``, ``failures``
        (one line per device that failed), ``wall_s``, ``throughput_images_per_s``,
        ``total_median_s`` and ``total_p95_s`` (latency per image, seconds).

    Examples
    --------
    >>> probe = concurrency_probe(configuration, server.address, images, clients=4)  # doctest: +SKIP
    >>> probe["failures"], probe["answered"]                                          # doctest: +SKIP
    ([], 20)
    """
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients!r}")
    barrier = threading.Barrier(clients)
    times: list[float] = []
    failures: list[str] = []
    wrong = [0]
    lock = threading.Lock()

    def meet(timeout: float) -> None:
        # A barrier broken by a failing device (it reports why, before it breaks it): carry on without
        # it, rather than fail too and lose this device's answers. Broken by a timeout, with no failure
        # reported, the devices did not run together: that is a failure of the probe, said once.
        try:
            barrier.wait(timeout=timeout)
        except threading.BrokenBarrierError:
            with lock:
                if not failures:
                    failures.append(f"the {clients} devices did not all meet within {timeout:g} s: "
                                    "their times are not those of devices running together")

    def one():
        try:
            with DeviceClient(configuration, *address) as client:
                meet(30)
                runs = [client.infer(image) for image in images]
                with lock:   # counted now: what happens while waiting for the others cannot lose them
                    times.extend(m.total_s for m in runs)
                    if expected is not None:
                        wrong[0] += sum(m.predicted_class != c for m, c in zip(runs, expected))
                meet(120)   # every device holds its connection until all are done
        except Exception as error:  # collected and reported, not swallowed
            with lock:        # reported before the barrier breaks, so the others read it as the cause
                failures.append(f"{type(error).__name__}: {error}")
            barrier.abort()   # the others must not wait, up to their timeout, for a device that is gone

    threads = [threading.Thread(target=one) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "images_per_client": len(images), "answered": len(times), "wrong": wrong[0],
            "failures": failures, "wall_s": wall, "throughput_images_per_s": len(times) / wall if wall else 0.0,
            "total_median_s": float(np.median(times)) if times else float("nan"),
            "total_p95_s": float(np.percentile(times, 95)) if times else float("nan")}


class HostileClients:
    """Idle, trickling and malformed connections held against a server until :meth:`stop`.

    * an **idle** client connects and never sends;
    * a **trickling** client sends a valid INFO frame one byte every ``interval`` seconds, forever;
    * a **malformed** client sends 64 random bytes every ``interval`` seconds on a fresh connection.

    Each reconnects (after ``interval``) whenever the server closes it, so the pressure lasts as long
    as the load does. Everything runs in one event loop in a background thread.

    Parameters
    ----------
    address : (str, int)
        The server's host and port.
    idle, trickling, malformed : int
        How many of each.
    interval : float
        Seconds between a trickling client's bytes, and between a malformed client's attempts.

    Examples
    --------
    >>> with HostileClients(server.address, idle=200, trickling=64) as hostile:   # doctest: +SKIP
    ...     probe = concurrency_probe(configuration, server.address, images, clients=16)
    >>> hostile.counts["connected"] >= 264                                        # doctest: +SKIP
    True
    """

    def __init__(self, address: tuple[str, int], idle: int = 200, trickling: int = 64, malformed: int = 0,
                 interval: float = 1.0):
        for name, value in (("idle", idle), ("trickling", trickling), ("malformed", malformed)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 clients, got {value!r}")
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.address, self.interval = address, interval
        self.kinds = {"idle": idle, "trickling": trickling, "malformed": malformed}
        #: ``connected`` (connections opened), ``closed_by_server``, ``clients_cut`` (clients the server
        #: has closed at least once: a deadline reached every one of them), ``connect_failed``, ``bytes_sent``.
        self.counts: Counter = Counter()
        self.open_now = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> "HostileClients":
        """Open every connection; returns once all have connected once (or ``timeout`` s passed)."""
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(ready)), name="coinfer-hostile",
                                        daemon=True)
        self._thread.start()
        ready.wait(timeout)
        return self

    def stop(self) -> None:
        """Close every connection and end the thread."""
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> "HostileClients":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _main(self, ready: threading.Event) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        total = sum(self.kinds.values())
        first = asyncio.Semaphore(0)
        tasks = [asyncio.create_task(self._client(kind, first)) for kind, n in self.kinds.items() for _ in range(n)]
        for _ in range(total):
            await first.acquire()
        ready.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _client(self, kind: str, first: asyncio.Semaphore) -> None:
        frame = wire.Frame(wire.MessageType.INFO, 0, 1, b"").to_bytes()
        announced = cut = False
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(*self.address)
            except OSError:
                self.counts["connect_failed"] += 1
                if not announced:
                    announced = True
                    first.release()
                await asyncio.sleep(self.interval)
                continue
            self.counts["connected"] += 1
            self.open_now += 1
            if not announced:
                announced = True
                first.release()
            try:
                if kind == "idle":
                    await reader.read()  # until the server closes it
                elif kind == "trickling":
                    closed = asyncio.ensure_future(reader.read())
                    while not closed.done():
                        for byte in frame:
                            writer.write(bytes([byte]))
                            self.counts["bytes_sent"] += 1
                            done, _ = await asyncio.wait([closed], timeout=self.interval)
                            if done:
                                break
                    closed.cancel()
                else:
                    writer.write(os.urandom(64))
                    self.counts["bytes_sent"] += 64
                    await reader.read()
                self.counts["closed_by_server"] += 1
            except (ConnectionError, OSError):
                self.counts["closed_by_server"] += 1
            finally:
                self.open_now -= 1
                writer.transport.abort()
            self.counts["clients_cut"] += not cut     # (a stop cancels the task before this line)
            cut = True
            await asyncio.sleep(self.interval if kind != "idle" else 0.05)


def process_memory_bytes(pid: int | None = None) -> int | None:
    """Resident memory (VmRSS) of process ``pid`` (default: this one), bytes; None where /proc is missing.

    Parameters
    ----------
    pid : int, optional
        A process id.

    Examples
    --------
    >>> (process_memory_bytes() or 1) > 0
    True
    """
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
