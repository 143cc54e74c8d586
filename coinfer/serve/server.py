"""The edge server: decodes features and runs the server part, for many devices over TCP.

Shao & Zhang (2020), section II and Fig. 2: the edge server receives the encoded feature, decodes it
and runs the rest of the network. :class:`EdgeServer` serves any number of
:class:`~coinfer.serve.configuration.Configuration` objects on one port, at most ``max_connections``
at a time; frames follow :mod:`coinfer.serve.wire`. :class:`ServerProcess` runs
``python -m coinfer serve`` as a child process (a real second process, as on two machines)::

    device process                                           edge-server process
    image -> device part -> codec.encode -> bytes            bytes -> codec.decode -> server part -> class
                                     |                         ^
                                     v                         |
                    LinkShaper (token bucket, B/s) ---TCP--->  EdgeServer
                                     ^                         |
                                     +------ RESULT frame <----+

Command line::

    python -m coinfer serve --preset quick --config layer2.1:uint8 --port 5000 [--host 0.0.0.0]
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from typing import Sequence

from coinfer.serve import wire
from coinfer.serve.configuration import Configuration
from coinfer.serve.wire import ErrorCode, MessageType

log = logging.getLogger("coinfer.serve.server")


class EdgeServer:
    """A TCP server running the server side of one or more configurations.

    One thread per connection, at most ``max_connections`` at a time (a connection beyond that gets a
    BUSY error and is closed). Each connection may send any number of frames; a frame that breaks the
    wire format closes only that connection (see :mod:`coinfer.serve.wire`); a connection idle for
    ``idle_timeout`` seconds is closed, so a stalled client cannot hold a slot forever.

    Parameters
    ----------
    configurations : list of Configuration
    host, port : str, int
        Where to listen. The default host 127.0.0.1 accepts only this machine; use ``"0.0.0.0"`` to
        accept devices on the network. Port 0 picks a free port (see :attr:`address`).
    max_connections : int
    max_payload : int
        Largest FEATURE payload accepted, bytes.
    idle_timeout : float
        Seconds.
    max_requests : int, optional
        Stop after answering this many FEATURE frames (for tests and scripted runs).

    Example::

        >>> with EdgeServer(configurations) as server:      # doctest: +SKIP
        ...     host, port = server.address
    """

    def __init__(self, configurations: Sequence[Configuration], host: str = "127.0.0.1", port: int = 0,
                 max_connections: int = 8, max_payload: int = wire.DEFAULT_MAX_PAYLOAD,
                 idle_timeout: float = 30.0, max_requests: int | None = None):
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if max_payload < 1:
            raise ValueError(f"max_payload must be >= 1 byte, got {max_payload!r}")
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"max_requests must be >= 1 or None, got {max_requests!r}")
        self.configurations = {c.config_id: c for c in configurations}
        self.max_connections, self.max_payload = max_connections, max_payload
        self.idle_timeout, self.max_requests = idle_timeout, max_requests
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(0.1)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accept_thread: threading.Thread | None = None
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
        """Counters: connections (total, open now, most at once, refused busy), requests, errors by code."""
        with self._lock:
            out = dict(self._stats)
            out["open_connections"] = len(self._open)
            out["errors"] = dict(self._errors)
        for key in ("connections", "max_concurrent_connections", "busy_refused", "requests",
                    "truncated_frames", "idle_closed"):
            out.setdefault(key, 0)
        return out

    # lifecycle
    def start(self) -> "EdgeServer":
        self._accept_thread = threading.Thread(target=self._accept_loop, name="coinfer-accept", daemon=True)
        self._accept_thread.start()
        return self

    def serve_forever(self) -> None:
        """Run until :meth:`stop` (another thread, Ctrl-C) or ``max_requests`` answers."""
        if self._accept_thread is None:
            self.start()
        try:
            while not self._stopped.wait(0.2):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return (safe from a signal handler or another thread)."""
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops; returns whether it did within ``timeout`` seconds."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        self._stopped.set()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._open)
        for conn in conns:  # wake up handlers blocked in recv
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0  # one deadline for all handlers, not 5 s each
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "EdgeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # internals
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._slots.acquire(blocking=False):
                self._count("busy_refused")
                self._send_error(conn, 0, ErrorCode.BUSY,
                                 f"server holds its maximum of {self.max_connections} connections; retry later")
                try:
                    conn.shutdown(socket.SHUT_WR)  # FIN after the reply; the peer may still be sending
                except OSError:
                    pass
                conn.close()
                continue
            with self._lock:
                self._open.add(conn)
                self._stats["connections"] += 1
                self._stats["max_concurrent_connections"] = max(self._stats["max_concurrent_connections"],
                                                                len(self._open))
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve_connection, args=(conn, peer),
                                          name=f"coinfer-conn-{peer}", daemon=True)
                self._threads.append(thread)
            thread.start()

    def _send_error(self, conn: socket.socket, request_id: int, code: ErrorCode, message: str) -> None:
        with self._lock:
            self._errors[code.name] += 1
        try:
            conn.sendall(wire.Frame(MessageType.ERROR, 0, request_id, wire.pack_error(code, message)).to_bytes())
        except OSError:
            pass  # the peer is gone; nothing to tell

    def _serve_connection(self, conn: socket.socket, peer) -> None:
        conn.settimeout(self.idle_timeout)
        try:
            while not self._stopped.is_set():
                try:
                    frame = wire.read_frame(conn, self.max_payload)
                except wire.WireError as error:  # the stream is out of step: say why, then close
                    log.info("closing %s: %s", peer, error)
                    self._send_error(conn, 0, error.code, str(error))
                    self._linger(conn)
                    return
                except wire.ConnectionClosed as closed:
                    if closed.partial:
                        self._count("truncated_frames")
                        log.info("%s disconnected mid-frame: %s", peer, closed)
                    return
                except TimeoutError:
                    self._count("idle_closed")
                    return
                except OSError:
                    return
                if not self._answer(conn, frame):
                    return
        finally:
            with self._lock:
                self._open.discard(conn)
            self._slots.release()
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, conn: socket.socket, frame: wire.Frame) -> bool:
        """Reply to one well-formed frame; returns whether to keep the connection."""
        if frame.type == MessageType.INFO:
            reply = wire.Frame(MessageType.INFO_REPLY, 0, frame.request_id, wire.pack_info(self.info()))
            return self._send(conn, reply)
        if frame.type != MessageType.FEATURE:
            self._send_error(conn, frame.request_id, ErrorCode.UNEXPECTED_TYPE,
                             f"a server accepts FEATURE and INFO frames, not {frame.type.name}")
            return True
        configuration = self.configurations.get(frame.config_id)
        if configuration is None:
            known = ", ".join(f"{c.config_id} ({c.spec})" for c in self.configurations.values())
            self._send_error(conn, frame.request_id, ErrorCode.UNKNOWN_CONFIG,
                             f"no configuration with id {frame.config_id}; this server holds {known}")
            return True
        try:
            logits, decode_s, compute_s = configuration.run_server(frame.payload)
        except ValueError as error:
            self._send_error(conn, frame.request_id, ErrorCode.BAD_PAYLOAD, str(error))
            return True
        except Exception as error:  # a bug or a numerically broken payload must not kill the server
            log.exception("configuration %s failed", configuration.spec)
            self._send_error(conn, frame.request_id, ErrorCode.INTERNAL, f"{type(error).__name__}: {error}")
            return True
        payload = wire.pack_result(int(logits.argmax()), logits.detach().cpu().numpy(), decode_s, compute_s)
        with self._lock:  # counted before the reply leaves, so a device that has its answer sees it counted
            self._stats["requests"] += 1
            done = self.max_requests is not None and self._stats["requests"] >= self.max_requests
        keep = self._send(conn, wire.Frame(MessageType.RESULT, frame.config_id, frame.request_id, payload))
        if done:
            self._stopped.set()
        return keep

    @staticmethod
    def _linger(conn: socket.socket, limit_bytes: int = 1 << 18, limit_s: float = 0.5) -> None:
        """Half-close, then read and drop what the peer already sent (at most ``limit_bytes`` or
        ``limit_s``): closing with unread input would make the kernel send a reset, which can destroy
        the error reply before the peer reads it."""
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(limit_s)
            deadline, dropped = time.monotonic() + limit_s, 0
            while dropped < limit_bytes and time.monotonic() < deadline:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:
            pass

    @staticmethod
    def _send(conn: socket.socket, frame: wire.Frame) -> bool:
        try:
            conn.sendall(frame.to_bytes())
            return True
        except OSError:
            return False


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


