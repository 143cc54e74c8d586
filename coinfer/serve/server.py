"""The edge server: decodes features and runs the server part, for many devices over TCP.

Shao & Zhang (2020), section II and Fig. 2: the edge server receives the encoded feature, decodes it
and runs the rest of the network. :class:`EdgeServer` serves any number of
:class:`~coinfer.serve.configuration.Configuration` objects on one port, at most ``max_connections``
at a time; frames follow :mod:`coinfer.serve.wire`. :class:`ServerProcess` runs
``python -m coinfer serve`` as a child process (a real second process, as on two machines)::

    device process                                           edge-server process
    image -> device part -> codec.compress -> bytes          bytes -> codec.decompress -> server part -> class
                                     |                         ^
                                     v                         |
                    LinkShaper (token bucket, B/s) ---TCP--->  EdgeServer
                                     ^                         |
                                     +------ RESULT frame <----+

Command line::

    python -m coinfer serve --preset quick --config layer2.1:uint8 --port 5000 [--host 0.0.0.0]
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from coinfer.serve import wire
from coinfer.serve.configuration import Configuration
from coinfer.serve.wire import ErrorCode, MessageType
from coinfer.units import is_count

log = logging.getLogger("coinfer.serve.server")


class EdgeServer:
    """A TCP server running the server side of one or more configurations.

    One event loop (:mod:`asyncio` streams) holds every connection, so a connection costs a few
    kilobytes, not a thread; the networks run in a small pool of worker threads. At most
    ``max_connections`` connections are held at a time (one beyond that gets a BUSY error and is
    closed). Each connection may send any number of frames (:mod:`coinfer.serve.wire`); a frame that
    breaks the wire format closes only that connection. Three deadlines keep slow, silent and
    trickling peers from holding slots (each closes the connection, and every exit path frees its slot):

    * ``handshake_timeout``: a new connection must deliver the whole header of its first frame
      within this many seconds;
    * ``frame_timeout``: once a frame's first byte has arrived, the whole frame must arrive within
      this many seconds (a deadline for the frame, not a timeout between bytes, so a peer sending one
      byte a second is cut off as surely as a silent one);
    * ``idle_timeout``: between frames, a connection may stay silent this long.

    Parameters
    ----------
    configurations : list of Configuration
    host, port : str, int
        Where to listen. The default host 127.0.0.1 accepts only this machine; use ``"0.0.0.0"`` to
        accept devices on the network. Port 0 picks a free port (see :attr:`address`).
    max_connections : int, optional
        Connections held at once (>= 1; default :func:`default_max_connections`, 1024 where the
        descriptor limit allows). Each is a file descriptor: the process's limit is checked, and
        raised if it can be, at start-up (:func:`reserve_file_descriptors`).
    max_payload : int
        Largest FEATURE payload accepted, bytes (>= 1).
    idle_timeout, handshake_timeout, frame_timeout : float
        Seconds (> 0), see above.
    max_requests : int, optional
        Stop after answering this many FEATURE frames (for tests and scripted runs).
    workers : int
        Threads that run the networks (default: up to 4, one per CPU core).

    Example::

        >>> with EdgeServer(configurations) as server:      # doctest: +SKIP
        ...     host, port = server.address
    """

    def __init__(self, configurations: Sequence[Configuration], host: str = "127.0.0.1", port: int = 0,
                 max_connections: int | None = None, max_payload: int = wire.DEFAULT_MAX_PAYLOAD,
                 idle_timeout: float = 30.0, max_requests: int | None = None, handshake_timeout: float = 5.0,
                 frame_timeout: float = 60.0, workers: int | None = None):
        if max_connections is None:
            max_connections = default_max_connections()
        check_server_options(port=port, max_connections=max_connections, max_payload=max_payload,
                             idle_timeout=idle_timeout, handshake_timeout=handshake_timeout,
                             frame_timeout=frame_timeout, max_requests=max_requests, workers=workers)
        reserve_file_descriptors(max_connections)   # before the listener: a refusal leaves nothing open
        self.configurations = {c.config_id: c for c in configurations}
        self.max_connections, self.max_payload = max_connections, max_payload
        self.idle_timeout, self.max_requests = idle_timeout, max_requests
        self.handshake_timeout, self.frame_timeout = handshake_timeout, frame_timeout
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6
        self._listener = socket.create_server((host, port), family=family, backlog=1024)
        self._listener.setblocking(False)
        self._lock = threading.Lock()
        self._open = 0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stats = Counter()
        self._errors = Counter()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    def info(self) -> dict:
        return {"configurations": [c.describe() for c in self.configurations.values()],
                "max_payload": self.max_payload, "max_connections": self.max_connections,
                "wire_version": wire.VERSION}

    def stats(self) -> dict:
        """Counters: connections (total, open now, most at once, refused busy), requests, closings by
        deadline (``handshake_timeouts``, ``frame_timeouts``, ``idle_closed``), errors by code."""
        with self._lock:
            out = dict(self._stats)
            out["open_connections"] = self._open
            out["errors"] = dict(self._errors)
        for key in ("connections", "max_concurrent_connections", "busy_refused", "requests",
                    "truncated_frames", "idle_closed", "handshake_timeouts", "frame_timeouts"):
            out.setdefault(key, 0)
        return out

    # lifecycle
    def start(self) -> "EdgeServer":
        """Serve in a background thread (its own event loop); returns at once."""
        if self._thread is None:
            started = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(started,), name="coinfer-server", daemon=True)
            self._thread.start()
            started.wait()
        return self

    def serve_forever(self) -> None:
        """Run until :meth:`stop` (another thread, Ctrl-C) or ``max_requests`` answers."""
        self.start()
        try:
            while not self._stopped.wait(0.2):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask the server to stop (safe from a signal handler or another thread)."""
        self._stopped.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has already closed
                pass

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops; returns whether it did within ``timeout`` seconds."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Stop accepting, close every connection, and wait (at most ~5 s) for the handlers to end."""
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> "EdgeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # internals: everything below runs in the server's event loop
    def _run(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._main(started))
        finally:
            self._stopped.set()

    async def _main(self, started: threading.Event) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        tasks: set[asyncio.Task] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            tasks.add(task)
            try:
                await self._connection(reader, writer, pool)
            except asyncio.CancelledError:
                # The stop cancels every handler (below). Ended by a cancellation, the task makes
                # asyncio's stream callback log "Exception in callback ... CancelledError", one
                # traceback per open connection (Python 3.11); the stop is no error, so end normally.
                pass
            finally:
                tasks.discard(task)

        try:
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix="coinfer-compute")
            server = await asyncio.start_server(on_connect, sock=self._listener, limit=1 << 16)
        finally:
            started.set()  # start() returns, even if the listener failed (then the server is stopped)
        try:
            if not self._stopped.is_set():
                await self._wake.wait()
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5.0)
            except asyncio.TimeoutError:
                log.warning("%d connection handlers did not end within 5 s of the stop", len(tasks))
            pool.shutdown(wait=False, cancel_futures=True)
            self._stopped.set()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pool) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            busy = self._open >= self.max_connections
            if busy:
                self._stats["busy_refused"] += 1
            else:
                self._open += 1
                self._stats["connections"] += 1
                self._stats["max_concurrent_connections"] = max(self._stats["max_concurrent_connections"], self._open)
        try:
            if busy:
                await self._refuse(writer, 0, ErrorCode.BUSY,
                                   f"server holds its maximum of {self.max_connections} connections; retry later")
                return
            await self._serve(reader, writer, pool)
        except (ConnectionError, OSError):
            pass  # the peer went away: nothing to tell it
        finally:
            if not busy:
                with self._lock:
                    self._open -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pool) -> None:
        loop = asyncio.get_running_loop()
        connected = loop.time()
        first = True
        while not self._stopped.is_set():
            # The first byte of a frame: within the handshake deadline for the first frame, else idle_timeout.
            if first:
                limit, timeout_key = connected + self.handshake_timeout - loop.time(), "handshake_timeouts"
            else:
                limit, timeout_key = self.idle_timeout, "idle_closed"
            try:
                start = await asyncio.wait_for(reader.read(1), max(limit, 0.0))
            except asyncio.TimeoutError:
                self._count(timeout_key)
                return
            if not start:
                return  # a clean close between frames
            # The rest of the frame: a deadline for the whole frame, not a timeout between bytes.
            header_deadline = connected + self.handshake_timeout if first else loop.time() + self.frame_timeout
            frame_deadline = loop.time() + self.frame_timeout
            # A timeout is counted under the deadline that ran out: the handshake's only while the first
            # frame's header is still arriving and it ends first; a payload late is always the frame's.
            timeout_key = ("handshake_timeouts" if first and header_deadline <= frame_deadline
                           else "frame_timeouts")
            try:
                header = start + await asyncio.wait_for(reader.readexactly(wire.HEADER_SIZE - 1),
                                                        max(min(header_deadline, frame_deadline) - loop.time(), 0.0))
                timeout_key = "frame_timeouts"
                try:
                    type_, config_id, request_id, length = wire.unpack_header(header, self.max_payload)
                except wire.WireError as error:  # the stream is out of step: say why, then close
                    log.info("closing a connection: %s", error)
                    await self._refuse(writer, 0, error.code, str(error), reader)
                    return
                payload = (await asyncio.wait_for(reader.readexactly(length), max(frame_deadline - loop.time(), 0.0))
                           if length else b"")
            except asyncio.TimeoutError:
                self._count(timeout_key)
                return
            except asyncio.IncompleteReadError:
                self._count("truncated_frames")
                return
            first = False
            if not await self._answer(writer, wire.Frame(type_, config_id, request_id, payload), pool):
                return

    async def _answer(self, writer: asyncio.StreamWriter, frame: wire.Frame, pool) -> bool:
        """Reply to one well-formed frame; returns whether to keep the connection."""
        if frame.type == MessageType.INFO and (frame.payload or frame.config_id):   # the wire format's INFO
            return await self._send_error(writer, frame.request_id, ErrorCode.BAD_PAYLOAD,
                                          f"an INFO frame is empty with config_id 0; got {len(frame.payload)} "
                                          f"payload bytes and config_id {frame.config_id}")
        if frame.type == MessageType.INFO:
            return await self._send(writer, wire.Frame(MessageType.INFO_REPLY, 0, frame.request_id,
                                                       wire.pack_info(self.info())))
        if frame.type != MessageType.FEATURE:
            return await self._send_error(writer, frame.request_id, ErrorCode.UNEXPECTED_TYPE,
                                          f"a server accepts FEATURE and INFO frames, not {frame.type.name}")
        configuration = self.configurations.get(frame.config_id)
        if configuration is None:
            known = ", ".join(f"{c.config_id} ({c.spec})" for c in self.configurations.values())
            return await self._send_error(writer, frame.request_id, ErrorCode.UNKNOWN_CONFIG,
                                          f"no configuration with id {frame.config_id}; this server holds {known}")
        try:
            logits, decode_s, compute_s = await asyncio.get_running_loop().run_in_executor(
                pool, configuration.run_server, frame.payload)
        except ValueError as error:
            return await self._send_error(writer, frame.request_id, ErrorCode.BAD_PAYLOAD, str(error))
        except Exception as error:  # a bug or a numerically broken payload must not kill the server
            log.exception("configuration %s failed", configuration.spec)
            return await self._send_error(writer, frame.request_id, ErrorCode.INTERNAL,
                                          f"{type(error).__name__}: {error}")
        payload = wire.pack_result(int(logits.argmax()), logits.detach().cpu().numpy(), decode_s, compute_s)
        with self._lock:  # counted before the reply leaves, so a device that has its answer sees it counted
            self._stats["requests"] += 1
            done = self.max_requests is not None and self._stats["requests"] >= self.max_requests
        keep = await self._send(writer, wire.Frame(MessageType.RESULT, frame.config_id, frame.request_id, payload))
        if done:
            self.request_stop()
        return keep

    async def _send(self, writer: asyncio.StreamWriter, frame: wire.Frame) -> bool:
        """Send a frame; a peer that does not read it within ``frame_timeout`` is dropped."""
        try:
            writer.write(frame.to_bytes())
            await asyncio.wait_for(writer.drain(), self.frame_timeout)
            return True
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return False

    async def _send_error(self, writer: asyncio.StreamWriter, request_id: int, code: ErrorCode, message: str) -> bool:
        with self._lock:
            self._errors[code.name] += 1
        return await self._send(writer, wire.Frame(MessageType.ERROR, 0, request_id, wire.pack_error(code, message)))

    async def _refuse(self, writer: asyncio.StreamWriter, request_id: int, code: ErrorCode, message: str,
                      reader: asyncio.StreamReader | None = None, limit_bytes: int = 1 << 18,
                      limit_s: float = 0.5) -> None:
        """Send an ERROR, half-close, then read and drop what the peer already sent (at most
        ``limit_bytes`` or ``limit_s``): closing with unread input would make the kernel send a reset,
        which can destroy the error reply before the peer reads it."""
        if not await self._send_error(writer, request_id, code, message):
            return
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            return
        if reader is None:
            return
        deadline, dropped = asyncio.get_running_loop().time() + limit_s, 0
        try:
            while dropped < limit_bytes:
                left = deadline - asyncio.get_running_loop().time()
                chunk = await asyncio.wait_for(reader.read(65536), max(left, 0.0))
                if not chunk:
                    break
                dropped += len(chunk)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass


def check_server_options(port: int = 0, max_connections: int = 1, max_payload: int = 1,
                         idle_timeout: float = 1.0, handshake_timeout: float = 1.0, frame_timeout: float = 1.0,
                         max_requests: int | None = None, workers: int | None = None) -> None:
    """Raise ValueError, naming the value and what is allowed, for any server option out of range.

    Parameters
    ----------
    port : int
        0 (a free port) to 65535.
    max_connections, max_payload : int
        >= 1.
    idle_timeout, handshake_timeout, frame_timeout : float
        Seconds, finite and > 0.
    max_requests : int or None
        >= 1, or None (no limit).
    workers : int or None
        Threads that run the server parts: >= 1, or None (one per core, at most 4).

    Examples
    --------
    >>> check_server_options(port=5000, idle_timeout=30)
    >>> check_server_options(port=70000)
    Traceback (most recent call last):
    ...
    ValueError: port 70000 is out of range: use 0 (a free port) to 65535
    """
    if not (is_count(port, 0) and port <= 65535):
        raise ValueError(f"port {port!r} is out of range: use 0 (a free port) to 65535")
    for name, value in (("max_connections", max_connections), ("max_payload", max_payload)):
        if not is_count(value):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    for name, value in (("idle_timeout", idle_timeout), ("handshake_timeout", handshake_timeout),
                        ("frame_timeout", frame_timeout)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    for name, value in (("max_requests", max_requests), ("workers", workers)):
        if value is not None and not is_count(value):
            raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")


#: File descriptors a server needs beyond its connections and the files already open: the listener,
#: the event loop's selector and wake-up pipe, files a library opens later, and connections accepted
#: only to be refused BUSY (asyncio accepts up to 100 waiting connections at once, start_server's
#: backlog, before it runs any handler).
FD_MARGIN = 128

#: Connections held at once unless told otherwise, where the descriptor limit allows (:func:`default_max_connections`).
DEFAULT_MAX_CONNECTIONS = 1024


def default_max_connections(margin: int = FD_MARGIN) -> int:
    """:data:`DEFAULT_MAX_CONNECTIONS`, or as many as the hard descriptor limit leaves room for if fewer.

    Only the default adapts (a machine whose hard limit is 1024 would refuse the default otherwise);
    a ``max_connections`` someone asks for is checked, never lowered (:func:`reserve_file_descriptors`).

    Parameters
    ----------
    margin : int
        Descriptors kept for everything else (:data:`FD_MARGIN`).

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ValueError
        If the hard limit leaves no room for one connection.

    Examples
    --------
    >>> 1 <= default_max_connections() <= DEFAULT_MAX_CONNECTIONS
    True
    """
    try:
        import resource
    except ImportError:          # Windows: not checked
        return DEFAULT_MAX_CONNECTIONS
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    room = hard - _open_file_descriptors() - margin
    if room < 1:
        raise ValueError(f"the hard file descriptor limit {hard} (ulimit -Hn) leaves no room for a connection beside "
                         f"the {hard - room - margin} descriptors open and {margin} kept: raise ulimit -Hn")
    return min(DEFAULT_MAX_CONNECTIONS, room)


def reserve_file_descriptors(max_connections: int, margin: int = FD_MARGIN) -> int | None:
    """Make sure this process may hold ``max_connections`` connections at once; returns the soft limit.

    Every connection is a file descriptor. Past the soft limit (``ulimit -n``, often 1024) ``accept``
    fails with EMFILE before the server can answer BUSY, and asyncio logs an error at every retry, so
    the limit is checked at start-up: ``max_connections`` plus the descriptors already open plus
    ``margin`` must fit. A soft limit too low is raised (up to the hard limit); a hard limit too low is
    an error, never a silently lower ``max_connections``.

    Parameters
    ----------
    max_connections : int
        Connections the server will hold at once.
    margin : int
        Descriptors kept for everything else (:data:`FD_MARGIN`).

    Returns
    -------
    int or None
        The soft limit now in force (``resource.RLIM_INFINITY`` for none); None where the platform has
        no :mod:`resource` module (Windows), which is not checked.

    Raises
    ------
    ValueError
        If the hard limit is too low (or the soft one cannot be raised), naming both numbers.

    Examples
    --------
    >>> limit = reserve_file_descriptors(16)
    >>> limit is None or limit >= 16 + FD_MARGIN
    True
    """
    try:
        import resource
    except ImportError:
        return None
    need = max_connections + _open_file_descriptors() + margin
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft == unlimited or soft >= need:
        return soft
    if hard == unlimited or hard >= need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            return need
        except (ValueError, OSError):   # (some systems cap it below the hard limit): reported below
            pass
    others = need - max_connections
    fits = (soft if hard == unlimited else max(soft, hard)) - others
    raise ValueError(f"max_connections {max_connections} needs {need} file descriptors (one per connection, "
                     f"{others} for the process itself), but this process may open {soft} (soft limit, "
                     f"ulimit -n; hard limit {'unlimited' if hard == unlimited else hard}): "
                     + (f"lower --max-connections to at most {fits} or raise ulimit -n" if fits >= 1
                        else "raise ulimit -n"))


def _open_file_descriptors() -> int:
    """Descriptors this process holds now (0 where the platform does not list them)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 0


class ServerProcess:
    """``python -m coinfer serve`` in a child process on 127.0.0.1 and a free port: a real second process
    (its own interpreter, GIL and torch threads), as on two machines.

    ``serve_args`` are passed on (``--config``, ``--preset``/``--checkpoint``, ``--threads``, ...).
    :meth:`stop` interrupts it and returns the counters it prints on the way out (:meth:`EdgeServer.stats`).
    """

    def __init__(self, serve_args: Sequence[str], start_timeout: float = 180.0):
        import subprocess
        import sys
        from pathlib import Path

        package_parent = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [package_parent] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coinfer", "serve", "--host", "127.0.0.1", "--port", "0", *serve_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.address: tuple[str, int] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(start_timeout) or self.address is None:
            self.process.kill()
            self._reader.join(timeout=5)
            raise RuntimeError("the server process did not start listening; its output:\n" + "".join(self.lines[-20:]))

    def _read(self) -> None:  # drain the pipe for the whole life of the process, so it never blocks
        for line in self.process.stdout:
            self.lines.append(line)
            if "listening on" in line and self.address is None:
                host, _, port = line.strip().rpartition(" ")[2].rpartition(":")
                self.address = (host, int(port))
                self._listening.set()
        self._listening.set()

    def stop(self, timeout: float = 30.0) -> dict:
        """Stop the server (SIGTERM, which ``python -m coinfer serve`` handles) and return its final counters.

        Raises RuntimeError, with the server's last output, if it printed none (it crashed or hung).
        """
        import json
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        for line in reversed(self.lines):
            if line.startswith("stopped; "):
                return json.loads(line[len("stopped; "):])
        raise RuntimeError(f"the server process (exit code {self.process.returncode}) printed no final "
                           "counters; its last output:\n" + "".join(self.lines[-20:]))

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.stop()
        except RuntimeError:
            if exc_type is None:  # do not hide the error that is already on its way
                raise


