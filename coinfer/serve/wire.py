"""The wire format between a device and an edge server: small framed messages over TCP.

Shao & Zhang (2020), section II and Fig. 2: the device runs the front of the network and the feature
encoder, sends the encoded feature, and the edge server decodes it and runs the rest. This module fixes
what travels: every message is one **frame**, a 20-byte header followed by a payload::

    offset size  field           meaning
    0      4     magic           b"CINF"
    4      1     version         1 (a receiver rejects any other)
    5      1     type            1 FEATURE, 2 RESULT, 3 ERROR, 4 INFO, 5 INFO_REPLY
    6      2     flags           0 (reserved; a receiver rejects any other value)
    8      4     config_id       which configuration (split point + codec + weights) the payload is for
    12     4     request_id      chosen by the device, echoed in the reply
    16     4     payload_length  bytes that follow (<= the receiver's ``max_payload``)
    20     ...   payload

Header integers are unsigned big-endian (network order); arrays inside payloads are little-endian
(numpy's ``<f4`` / ``u1``), the native order of nearly every CPU. Payloads, by type:

FEATURE (device -> server)
    Exactly the bytes the configuration's codec produced for one image's feature (see
    :mod:`coinfer.serve.configuration`); nothing is added, so ``8 * payload_length`` is the real number of bits
    the link carries for the feature (plus the 20-byte header, 160 bits, per image). An entropy-coded
    packet (``huffman``, ``learned``) is the codec's frame (magic byte, symbol count, CRC-32), then a
    **flag bit** (0: the fixed-length index, ``ceil(log2 alphabet)`` bits per symbol; 1: the
    entropy-coded stream) and whichever of the two is shorter for this image, zero-padded to a byte
    (:mod:`coinfer.core.entropy`). The tables' bits per image count the flag and that form only
    (``codec.bits(packets)``); the codec's frame, the padding and this header are transport.
RESULT (server -> device)
    ``uint32 predicted_class, float64 server_decode_s, float64 server_compute_s, uint16 n`` then
    ``n`` float32 logits (little-endian, like every array payload). Times are the server's own
    measurements, in seconds.
ERROR (server -> device)
    ``uint16 code`` then a UTF-8 message. Codes: :class:`ErrorCode`.
INFO (device -> server)
    Empty; ``config_id`` 0. Asks which configurations the server holds.
INFO_REPLY (server -> device)
    UTF-8 JSON: ``{"configurations": [{"config_id": ..., "spec": ..., ...}], "max_payload": ...}``.

Nothing is ever deserialized by executing code: payloads are parsed with :mod:`struct`, numpy's
``frombuffer`` on a fixed dtype, or :func:`json.loads`. A receiver reads a header, checks magic,
version, type, flags and ``payload_length <= max_payload`` *before* reading the payload, so a
peer cannot make it allocate more than ``max_payload`` bytes. A frame that fails these checks
gets an ERROR reply and the connection is closed (the stream can no longer be trusted to be in
step); a well-formed frame whose payload the server cannot use (unknown configuration, payload of
the wrong size) gets an ERROR reply and the connection stays open.

The book page ``book/wire_format.md`` restates this specification for readers.
"""

from __future__ import annotations

import enum
import json
import socket
import struct
from dataclasses import dataclass

MAGIC = b"CINF"
VERSION = 1
HEADER = struct.Struct(">4sBBHIII")
HEADER_SIZE = HEADER.size  # 20 bytes
#: Default upper bound on a payload, bytes. The largest raw float32 feature of the full-width
#: network (64 x 32 x 32 after the stem) is 262,144 bytes; 4 MiB leaves room and still bounds memory.
DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024
_MAX_UINT32 = 2**32 - 1

_RESULT_HEAD = struct.Struct(">IddH")


class MessageType(enum.IntEnum):
    FEATURE = 1
    RESULT = 2
    ERROR = 3
    INFO = 4
    INFO_REPLY = 5


class ErrorCode(enum.IntEnum):
    """Why a server refused a frame (the ERROR payload's first field)."""

    BAD_HEADER = 1         # wrong magic, version, type or flags: connection closed
    PAYLOAD_TOO_LARGE = 2  # payload_length > max_payload: connection closed
    UNKNOWN_CONFIG = 3     # no configuration with this id: connection stays open
    BAD_PAYLOAD = 4        # the codec could not decode the payload: connection stays open
    BUSY = 5               # the server holds its maximum number of connections: connection closed
    INTERNAL = 6           # the server failed while computing: connection stays open
    UNEXPECTED_TYPE = 7    # a well-formed frame a server does not accept (e.g. RESULT): stays open


class WireError(ValueError):
    """A frame broke the wire format. ``code`` says how (an :class:`ErrorCode`)."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = ErrorCode(code)


class ConnectionClosed(ConnectionError):
    """The peer closed the connection. ``partial`` is True if it did so in the middle of a frame."""

    def __init__(self, message: str, partial: bool):
        super().__init__(message)
        self.partial = partial


class RemoteError(RuntimeError):
    """The server answered with an ERROR frame."""

    def __init__(self, code: int, message: str):
        super().__init__(f"server error {code} ({_code_name(code)}): {message}")
        self.code = code
        self.message = message


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return "unknown code"


@dataclass(frozen=True)
class Frame:
    """One message: its header fields and its payload bytes."""

    type: MessageType
    config_id: int
    request_id: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """Header + payload, ready for ``sendall``."""
        return pack_header(self.type, self.config_id, self.request_id, len(self.payload)) + self.payload


def pack_header(type: MessageType, config_id: int, request_id: int, payload_length: int) -> bytes:
    """The 20-byte header. Raises ValueError for a field out of its unsigned range."""
    for name, value in (("config_id", config_id), ("request_id", request_id),
                        ("payload_length", payload_length)):
        if not 0 <= value <= _MAX_UINT32:
            raise ValueError(f"{name} must be in [0, 2**32 - 1], got {value!r}")
    return HEADER.pack(MAGIC, VERSION, int(MessageType(type)), 0, config_id, request_id, payload_length)


def unpack_header(header: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[MessageType, int, int, int]:
    """``(type, config_id, request_id, payload_length)`` of a 20-byte header, checked.

    Raises
    ------
    WireError
        ``BAD_HEADER`` for a wrong magic, version, type or non-zero flags; ``PAYLOAD_TOO_LARGE`` when
        ``payload_length > max_payload``. The message names the bad value and what is allowed.
    """
    if len(header) != HEADER_SIZE:
        raise WireError(ErrorCode.BAD_HEADER, f"header must be {HEADER_SIZE} bytes, got {len(header)}")
    magic, version, type_, flags, config_id, request_id, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise WireError(ErrorCode.BAD_HEADER, f"bad magic {magic!r}; expected {MAGIC!r}")
    if version != VERSION:
        raise WireError(ErrorCode.BAD_HEADER, f"unsupported version {version}; this peer speaks {VERSION}")
    if type_ not in MessageType._value2member_map_:
        raise WireError(ErrorCode.BAD_HEADER, f"unknown message type {type_}; known: "
                        + ", ".join(f"{t.value} {t.name}" for t in MessageType))
    if flags != 0:
        raise WireError(ErrorCode.BAD_HEADER, f"flags must be 0 in version {VERSION}, got {flags:#06x}")
    if length > max_payload:
        raise WireError(ErrorCode.PAYLOAD_TOO_LARGE,
                        f"payload_length {length} bytes exceeds this receiver's max_payload {max_payload} bytes")
    return MessageType(type_), config_id, request_id, length


def recv_exactly(sock: socket.socket, n: int, started: bool = False) -> bytes:
    """Read exactly ``n`` bytes from ``sock``.

    Raises :class:`ConnectionClosed` if the peer closes first; ``partial`` tells whether any byte of
    the current frame had been read (``started`` or a non-empty prefix of these ``n`` bytes).
    Socket timeouts propagate as :class:`TimeoutError`.
    """
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 16))
        if not chunk:
            partial = started or got > 0
            raise ConnectionClosed(f"peer closed the connection after {got} of {n} bytes"
                                   + (" (mid-frame)" if partial else ""), partial=partial)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Read and check one frame from ``sock`` (see :func:`unpack_header` for the checks)."""
    header = recv_exactly(sock, HEADER_SIZE)
    type_, config_id, request_id, length = unpack_header(header, max_payload)
    payload = recv_exactly(sock, length, started=True) if length else b""
    return Frame(type_, config_id, request_id, payload)


# -- payloads -------------------------------------------------------------------------------------

def pack_result(predicted_class: int, logits, server_decode_s: float, server_compute_s: float) -> bytes:
    """RESULT payload: the class, the server's two timings (s) and the logits (float32)."""
    import numpy as np

    logits = np.asarray(logits, dtype="<f4").ravel()
    return _RESULT_HEAD.pack(predicted_class, server_decode_s, server_compute_s, len(logits)) + logits.tobytes()


@dataclass(frozen=True)
class Result:
    """A parsed RESULT payload. Times in seconds, measured by the server."""

    predicted_class: int
    server_decode_s: float
    server_compute_s: float
    logits: tuple[float, ...]


def unpack_result(payload: bytes) -> Result:
    import numpy as np

    if len(payload) < _RESULT_HEAD.size:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"RESULT payload of {len(payload)} bytes is shorter "
                        f"than its {_RESULT_HEAD.size}-byte head")
    cls, decode_s, compute_s, n = _RESULT_HEAD.unpack_from(payload)
    if len(payload) != _RESULT_HEAD.size + 4 * n:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"RESULT payload announces {n} logits "
                        f"({_RESULT_HEAD.size + 4 * n} bytes) but has {len(payload)} bytes")
    logits = np.frombuffer(payload, dtype="<f4", offset=_RESULT_HEAD.size, count=n)
    return Result(cls, decode_s, compute_s, tuple(float(v) for v in logits))


def pack_error(code: ErrorCode, message: str) -> bytes:
    """ERROR payload: the code and a UTF-8 message (cut to at most 1,000 bytes, between characters)."""
    # Cut between characters, so the message stays valid UTF-8: a byte cut can split a character,
    # and the decode with errors="ignore" drops just that partial one. (Lone surrogates, which UTF-8
    # cannot carry, become "?".)
    cut = message.encode("utf-8", errors="replace")[:1000].decode("utf-8", errors="ignore")
    return struct.pack(">H", int(code)) + cut.encode("utf-8")


def unpack_error(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return int(ErrorCode.BAD_PAYLOAD), f"malformed ERROR payload of {len(payload)} bytes"
    (code,) = struct.unpack_from(">H", payload)
    return code, payload[2:].decode("utf-8", errors="replace")


def pack_info(info: dict) -> bytes:
    return json.dumps(info, sort_keys=True).encode("utf-8")


def unpack_info(payload: bytes) -> dict:
    try:
        info = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, or nested too deeply
        raise WireError(ErrorCode.BAD_PAYLOAD, f"INFO_REPLY is not UTF-8 JSON ({type(error).__name__}: "
                        f"{str(error)[:100]})") from None
    if not isinstance(info, dict) or not isinstance(info.get("configurations"), list):
        raise WireError(ErrorCode.BAD_PAYLOAD, "INFO_REPLY must be a JSON object with a 'configurations' list")
    # Each entry checked here, where the bytes enter: a device reads config_id and spec of every one.
    for k, entry in enumerate(info["configurations"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("spec"), str)
                and isinstance(entry.get("config_id"), int) and not isinstance(entry["config_id"], bool)
                and 0 <= entry["config_id"] <= _MAX_UINT32):
            raise WireError(ErrorCode.BAD_PAYLOAD, f"INFO_REPLY configuration {k} must be an object with an "
                            f"integer 'config_id' in [0, 2**32 - 1] and a string 'spec', got {str(entry)[:100]}")
    return info
