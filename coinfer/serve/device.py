"""The device side of real co-inference: run the device part and codec, send, time every part.

Shao & Zhang (2020), section V-C: a device computes its part of the network, sends the encoded
feature over its uplink and waits for the class. :class:`DeviceClient` does exactly that against an
:class:`coinfer.serve.server.EdgeServer`, through a :class:`coinfer.serve.link.LinkShaper` of a given
rate, and returns a :class:`Measurement` (seconds per part) for every image; :func:`summarize` gives
medians and percentiles. :mod:`coinfer.serve.load` runs many devices at once.

Command line::

    python -m coinfer device --preset quick --config layer2.1:uint8 --host HOST --port 5000 \\
                             --rate 40KB/s --images 20
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from coinfer.serve import wire
from coinfer.serve.configuration import Configuration
from coinfer.serve.link import LinkShaper, check_link_rate
from coinfer.serve.wire import ErrorCode, MessageType
from coinfer.units import is_count


@dataclass(frozen=True)
class Measurement:
    """One image through a real link. Times in seconds, all from ``time.perf_counter``.

    ``device_s``: device part + codec encoder (``device_encode_s`` of it the encoder). ``send_s``: from
    the frame (header + payload) entering the shaped link to its last piece being handed to the socket
    (:meth:`LinkShaper.send`). ``server_decode_s`` / ``server_compute_s``: measured by the server.
    ``total_s``: from the image entering the device part to the class arriving back.

    ``other_s`` is what the parts leave over: the last piece's trip through the kernels, the server
    reading the frame and handing it to a worker thread, the reply, thread scheduling. It is never
    negative (up to the clocks' resolution): the server cannot start decoding before the last piece
    is handed over, nor reply before it has finished, so its decode and compute lie inside the time
    from that hand-over to the reply.
    """

    predicted_class: int
    payload_bytes: int
    device_s: float
    send_s: float
    server_decode_s: float
    server_compute_s: float
    total_s: float
    device_encode_s: float = 0.0
    # The codec's count of the payload (``codec.bits``: an entropy-coded packet's flag and stream, in
    # bits), the same definition as every table's ``bits_per_image``; the link carries whole bytes.
    payload_bits: float | None = None

    @property
    def server_s(self) -> float:
        return self.server_decode_s + self.server_compute_s

    @property
    def other_s(self) -> float:
        return self.total_s - self.device_s - self.send_s - self.server_s

    @property
    def frame_bytes(self) -> int:
        return self.payload_bytes + wire.HEADER_SIZE


def check_device_options(port: int = 5000, timeout: float = 60.0, burst: float = 0.0, images: int = 1,
                         offset: int = 0) -> None:
    """Raise ValueError, naming the value and what is allowed, for a device option out of range.

    Parameters
    ----------
    port : int
        The server's port, 1 to 65535.
    timeout : float
        Seconds to wait for a reply, finite and > 0.
    burst : float
        Token-bucket depth in bytes, finite and >= 0.
    images : int
        Test images to classify, >= 1.
    offset : int
        Index of the first test image, >= 0.

    Examples
    --------
    >>> check_device_options(port=5000, timeout=10)
    >>> check_device_options(port=0)
    Traceback (most recent call last):
    ...
    ValueError: port 0 is out of range: a server listens on a port from 1 to 65535
    """
    if not (is_count(port) and port <= 65535):
        raise ValueError(f"port {port!r} is out of range: a server listens on a port from 1 to 65535")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    if not (isinstance(burst, (int, float)) and math.isfinite(burst) and burst >= 0):
        raise ValueError(f"burst must be a finite number of bytes >= 0, got {burst!r}")
    if not is_count(images):
        raise ValueError(f"images must be an integer >= 1, got {images!r}")
    if not is_count(offset, 0):
        raise ValueError(f"offset must be an integer >= 0, got {offset!r}")


class DeviceClient:
    """The device side: runs a configuration's device part and codec, sends through a shaped link.

    Parameters
    ----------
    configuration : Configuration
        Must be one the server holds (same split, codec and weights); checked by :meth:`check`.
    host, port : str, int
    rate_bps : float or None
        Uplink rate in bits/s, finite and > 0 (None: unshaped).
    burst : float
        Token-bucket depth in bytes (see :class:`LinkShaper`).
    timeout : float
        Seconds to wait for any reply.
    """

    def __init__(self, configuration: Configuration, host: str, port: int, rate_bps: float | None = None,
                 burst: float = 0.0, timeout: float = 60.0, max_reply: int = 1 << 20):
        check_device_options(port=port, timeout=timeout, burst=burst)
        check_link_rate(rate_bps)   # before connecting: a refused option must not leave a socket open
        self.configuration = configuration
        self.max_reply = max_reply
        self._next_id = 1
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise ConnectionError(f"cannot reach an edge server at {host}:{port} ({error}); is "
                                  "'python -m coinfer serve' running there, on that port and address?") from error
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.link = LinkShaper(self.sock, rate_bps, burst)
        except BaseException:   # no object is returned, so no one else could close the socket
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "DeviceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request_id(self) -> int:
        rid, self._next_id = self._next_id, (self._next_id % (2**32 - 1)) + 1
        return rid

    def _reply(self, request_id: int) -> wire.Frame:
        frame = wire.read_frame(self.sock, self.max_reply)
        if frame.type == MessageType.ERROR:
            raise wire.RemoteError(*wire.unpack_error(frame.payload))
        if frame.request_id != request_id:
            raise wire.WireError(ErrorCode.BAD_PAYLOAD, f"reply to request {frame.request_id}, "
                                 f"expected {request_id}")
        return frame

    def info(self) -> dict:
        """The server's configurations and limits (an INFO round trip, unshaped)."""
        rid = self._request_id()
        self.sock.sendall(wire.Frame(MessageType.INFO, 0, rid, b"").to_bytes())
        frame = self._reply(rid)
        if frame.type != MessageType.INFO_REPLY:
            raise wire.WireError(ErrorCode.UNEXPECTED_TYPE, f"expected INFO_REPLY, got {frame.type.name}")
        return wire.unpack_info(frame.payload)

    def check(self) -> None:
        """Raise ValueError unless the server holds this client's configuration (same id)."""
        held = self.info()["configurations"]
        if not any(c.get("config_id") == self.configuration.config_id for c in held):
            same_spec = [c for c in held if c.get("spec") == self.configuration.spec]
            hint = (" (the server has this spec with other weights or codec settings: load the same "
                    "checkpoint on both sides)" if same_spec else "")
            raise ValueError(f"server does not hold configuration {self.configuration.spec!r} "
                             f"(id {self.configuration.config_id}){hint}; it holds "
                             + ", ".join(f"{c.get('spec')} (id {c.get('config_id')})" for c in held))

    def infer(self, image: torch.Tensor) -> Measurement:
        """Classify one image ``[C, H, W]`` through the server, timing each part."""
        t0 = time.perf_counter()
        payload, _, encode_s = self.configuration.run_device_timed(image)
        t1 = time.perf_counter()
        rid = self._request_id()
        handed = self.link.send(wire.Frame(MessageType.FEATURE, self.configuration.config_id, rid,
                                           payload).to_bytes())
        frame = self._reply(rid)
        t3 = time.perf_counter()
        if frame.type != MessageType.RESULT:
            raise wire.WireError(ErrorCode.UNEXPECTED_TYPE, f"expected RESULT, got {frame.type.name}")
        if frame.config_id != self.configuration.config_id:   # another configuration's answer is not this one's
            raise wire.WireError(ErrorCode.UNKNOWN_CONFIG, f"RESULT for configuration {frame.config_id}, "
                                 f"expected {self.configuration.config_id}")
        result = wire.unpack_result(frame.payload)
        return Measurement(result.predicted_class, len(payload), t1 - t0, handed - t1,
                           result.server_decode_s, result.server_compute_s, t3 - t0, device_encode_s=encode_s,
                           payload_bits=float(self.configuration.codec.bits([payload])[0]))



def summarize(measurements: Sequence[Measurement]) -> dict:
    """Median and 95th percentile of the total, and the median of every part (seconds).

    The parts' medians need not add up to the total's: a median is not additive, and on a machine
    shared with other processes the times are skewed by waits for a core.
    """
    def pct(values, q):
        return float(np.percentile(np.asarray(values, dtype=float), q))

    m = measurements
    return {"images": len(m),
            "total_median_s": pct([x.total_s for x in m], 50), "total_p95_s": pct([x.total_s for x in m], 95),
            "device_median_s": pct([x.device_s for x in m], 50), "send_median_s": pct([x.send_s for x in m], 50),
            "server_median_s": pct([x.server_s for x in m], 50), "other_median_s": pct([x.other_s for x in m], 50),
            "encode_median_s": pct([x.device_encode_s for x in m], 50),
            "decode_median_s": pct([x.server_decode_s for x in m], 50),
            "payload_bytes_mean": float(np.mean([x.payload_bytes for x in m])),
            "payload_bits_mean": float(np.mean([8 * x.payload_bytes if x.payload_bits is None else x.payload_bits
                                                for x in m])),
            "frame_bytes_mean": float(np.mean([x.frame_bytes for x in m]))}
