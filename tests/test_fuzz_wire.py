"""Property-based fuzzing of the wire format (coinfer.serve.wire) and of a running edge server.

Contract: any byte string either parses into frames that satisfy every header check, or raises
:class:`~coinfer.serve.wire.WireError` (a broken header, a payload over ``max_payload``) or
:class:`~coinfer.serve.wire.ConnectionClosed` (the bytes end mid-frame); the payload length is
checked against ``max_payload`` before one payload byte is read; a server answers every complete
frame with an ERROR, RESULT or INFO_REPLY frame and keeps serving. Inputs are random bytes and
mutations of valid frames (bit flips, truncation, extension, overwritten bytes, the length field
changed), received in random TCP-like chunks. Cases per run: see ``CASES``.
"""

from __future__ import annotations

import socket

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from coinfer.serve import wire
from coinfer.serve.wire import ConnectionClosed, ErrorCode, MessageType, WireError
from fuzz_support import fuzz_settings, mutated, no_hang, peak_allocation

#: max_examples of each test below; their sum is the number of fuzz cases per run.
CASES = {"header": 800, "stream": 1000, "payloads": 400, "server": 100}

MAX_PAYLOAD = 4096   # small, so that length-field mutations cross it often
UINT32 = st.integers(0, 2**32 - 1)


class ChunkedSocket:
    """Bytes delivered in given chunk sizes, like TCP segments, then end of stream.
    ``consumed`` counts the bytes a reader has taken."""

    def __init__(self, data: bytes, chunks: list[int]):
        self.data, self.chunks, self.consumed = data, list(chunks) or [1 << 16], 0

    def recv(self, n: int) -> bytes:
        size = min(n, self.chunks[self.consumed % len(self.chunks)] or 1)
        out = self.data[self.consumed:self.consumed + size]
        self.consumed += len(out)
        return out


frames = st.builds(wire.Frame, st.sampled_from(list(MessageType)), UINT32, UINT32,
                   st.binary(max_size=64))


def _set_length(data: bytearray, draw) -> bytearray:
    """The payload_length field (bytes 16-20) changed: around the bound, or anything."""
    if len(data) >= wire.HEADER_SIZE:
        length = draw(st.one_of(st.sampled_from([0, 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, 2**31, 2**32 - 1]),
                                st.integers(0, 2 * MAX_PAYLOAD), UINT32))
        data[16:20] = length.to_bytes(4, "big")
    return data


def _set_field(data: bytearray, draw) -> bytearray:
    """Version, type or flags set to any value."""
    if len(data) >= wire.HEADER_SIZE:
        offset, size = draw(st.sampled_from([(4, 1), (5, 1), (6, 2)]))
        data[offset:offset + size] = draw(st.integers(0, 256**size - 1)).to_bytes(size, "big")
    return data


HEADER_MUTATIONS = {"length": _set_length, "field": _set_field}


@st.composite
def streams(draw) -> bytes:
    """Random bytes, or one to three valid frames, concatenated and then mutated."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=128))
    valid = b"".join(f.to_bytes() for f in draw(st.lists(frames, min_size=1, max_size=3)))
    return draw(mutated(valid, HEADER_MUTATIONS))


def assert_checked(type_, config_id, request_id, length, max_payload):
    assert isinstance(type_, MessageType)
    assert 0 <= config_id < 2**32 and 0 <= request_id < 2**32 and 0 <= length <= max_payload


@fuzz_settings(CASES["header"])
@given(header=st.one_of(st.binary(max_size=32), frames.map(lambda f: f.to_bytes()[:wire.HEADER_SIZE]).flatmap(
    lambda h: mutated(h, HEADER_MUTATIONS))), max_payload=st.sampled_from([0, 1, MAX_PAYLOAD, 2**32 - 1]))
def test_header_parser_accepts_only_checked_headers(header, max_payload):
    with no_hang():
        try:
            fields = wire.unpack_header(header, max_payload)
        except WireError as error:
            assert error.code in (ErrorCode.BAD_HEADER, ErrorCode.PAYLOAD_TOO_LARGE)
            return
    assert_checked(*fields, max_payload)
    assert wire.pack_header(*fields) == header   # nothing in an accepted header goes unchecked


@fuzz_settings(CASES["stream"])
@given(data=streams(), chunks=st.lists(st.integers(1, 64), max_size=4))
def test_read_frame_parses_or_refuses_mutated_streams(data, chunks):
    sock = ChunkedSocket(data, chunks)
    with no_hang():
        while True:
            before = sock.consumed
            try:
                frame = wire.read_frame(sock, MAX_PAYLOAD)
            except WireError as error:
                assert error.code in (ErrorCode.BAD_HEADER, ErrorCode.PAYLOAD_TOO_LARGE)
                # refused from the header alone: not one payload byte was read
                assert sock.consumed == before + wire.HEADER_SIZE
                return
            except ConnectionClosed as closed:
                assert closed.partial == (sock.consumed > before)
                return
            assert_checked(frame.type, frame.config_id, frame.request_id, len(frame.payload), MAX_PAYLOAD)
            assert sock.consumed == before + wire.HEADER_SIZE + len(frame.payload)
            assert data[before:sock.consumed] == frame.to_bytes()


def test_unmutated_frames_come_back_identical():
    sent = [wire.Frame(t, 7, 2**32 - 1, bytes(range(n))) for t, n in zip(MessageType, (0, 1, 20, 255, 3))]
    sock = ChunkedSocket(b"".join(f.to_bytes() for f in sent), [3])
    assert [wire.read_frame(sock) for _ in sent] == sent


@fuzz_settings(CASES["payloads"])
@given(kind=st.sampled_from(["result", "error", "info"]), data=st.data())
def test_reply_payload_parsers_return_or_raise_wire_error(kind, data):
    """The device's parsers of RESULT, ERROR and INFO_REPLY payloads."""
    valid = {"result": wire.pack_result(3, [0.5, -1.0, 2.0], 0.001, 0.002),
             "error": wire.pack_error(ErrorCode.BAD_PAYLOAD, "bad"),
             "info": wire.pack_info({"configurations": [{"config_id": 1, "spec": "s1:uint8"}],
                                     "max_payload": 10})}[kind]
    scalars = st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=5), st.none())
    entry = st.one_of(scalars, st.lists(scalars, max_size=2),
                      st.fixed_dictionaries({}, optional={"config_id": scalars, "spec": scalars}))
    entries = st.lists(entry, max_size=3)
    payload = data.draw(st.one_of(mutated(valid), st.binary(max_size=64),
                                  st.sampled_from([b"[" * 100_000, b'{"configurations": ' + b"[" * 100_000]),
                                  entries.map(lambda c: wire.pack_info({"configurations": c}))))
    with no_hang():
        if kind == "error":
            code, message = wire.unpack_error(payload)   # never raises: an ERROR is reported as is
            assert 0 <= code < 2**16 and isinstance(message, str)
            return
        try:
            parsed = wire.unpack_result(payload) if kind == "result" else wire.unpack_info(payload)
        except WireError as error:
            assert error.code == ErrorCode.BAD_PAYLOAD
            return
    if kind == "result":
        assert 0 <= parsed.predicted_class < 2**32 and len(payload) == 22 + 4 * len(parsed.logits)
    else:   # every entry is what a device reads (an entry that was not an object crashed DeviceClient.check)
        assert isinstance(parsed, dict) and isinstance(parsed["configurations"], list)
        for entry in parsed["configurations"]:
            assert isinstance(entry, dict) and isinstance(entry["spec"], str)
            assert type(entry["config_id"]) is int and 0 <= entry["config_id"] < 2**32


# -- adversarial lengths: refused before anything is allocated -----------------------------------

def test_huge_claimed_length_is_refused_before_reading_or_allocating():
    header = wire.pack_header(MessageType.FEATURE, 1, 1, 2**32 - 1)
    sock = ChunkedSocket(header + b"x" * 1000, [1 << 16])
    peak, outcome = peak_allocation(wire.read_frame, sock)
    assert isinstance(outcome, WireError) and outcome.code == ErrorCode.PAYLOAD_TOO_LARGE
    assert sock.consumed == wire.HEADER_SIZE and peak < 64 * 1024


def test_receiver_with_a_huge_bound_allocates_only_what_arrives():
    """Even with max_payload at 4 GiB, a peer that announces 4 GiB and sends 100 kB costs ~100 kB."""
    header = wire.pack_header(MessageType.FEATURE, 1, 1, 2**32 - 1)
    sock = ChunkedSocket(header + b"x" * 100_000, [1 << 16])
    peak, outcome = peak_allocation(wire.read_frame, sock, max_payload=2**32 - 1)
    assert isinstance(outcome, ConnectionClosed) and outcome.partial
    assert peak < 1_000_000


def test_result_announcing_many_logits_is_refused_without_allocating():
    payload = wire.pack_result(1, [], 0.0, 0.0)[:-2] + (2**16 - 1).to_bytes(2, "big")
    peak, outcome = peak_allocation(wire.unpack_result, payload)
    assert isinstance(outcome, WireError) and peak < 64 * 1024


def test_deeply_nested_info_reply_is_a_wire_error():
    """json.loads of 100,000 nested brackets raises RecursionError, which is no ValueError."""
    with pytest.raises(WireError, match="INFO_REPLY"):
        wire.unpack_info(b"[" * 100_000)


# -- a running server under fuzzed connections ---------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_server():
    from coinfer.core.network import resnet18
    from coinfer.serve.configuration import build_configurations
    from coinfer.serve.server import EdgeServer

    torch.manual_seed(0)
    configurations = build_configurations(resnet18(width=1 / 16).eval(), ["layer2.1:float32", "layer2.1:uint8"])
    images = torch.randn(3, 3, 32, 32)
    payloads = [[c.run_device(image) for image in images] for c in configurations]   # made once
    with EdgeServer(configurations, max_connections=4, idle_timeout=10, max_payload=64 * 1024) as server:
        yield server, configurations, payloads


@st.composite
def connections(draw, configurations, payloads) -> tuple[bytes, int]:
    """What one client sends: a mutation of an INFO or FEATURE frame (a real payload, or random bytes
    of the right length) or random bytes; and the index of the configuration used."""
    k = draw(st.integers(0, len(configurations) - 1))
    configuration = configurations[k]
    payload = draw(st.sampled_from(payloads[k]))
    if draw(st.booleans()):
        payload = draw(st.binary(min_size=len(payload), max_size=len(payload)))
    frame = draw(st.sampled_from([
        wire.Frame(MessageType.FEATURE, configuration.config_id, draw(UINT32), payload),
        wire.Frame(MessageType.INFO, 0, 1, b"")]))
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=256)), k
    if choice == 1:
        return frame.to_bytes(), k
    return draw(mutated(frame.to_bytes(), HEADER_MUTATIONS)), k


def _exchange(address, data: bytes) -> list[wire.Frame]:
    """Send ``data``, close our side, read every reply until the server closes."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        replies = []
        try:
            while True:
                replies.append(wire.read_frame(sock))
        except ConnectionClosed as closed:
            assert not closed.partial, "the server's reply was cut"
        except ConnectionResetError:
            pass
        return replies


@fuzz_settings(CASES["server"])
@given(data=st.data())
def test_server_answers_every_complete_frame_and_keeps_serving(fuzz_server, data):
    server, configurations, payloads = fuzz_server
    sent, k = data.draw(connections(configurations, payloads))
    with no_hang(30):
        replies = _exchange(server.address, sent)
    for reply in replies:
        assert reply.type in (MessageType.ERROR, MessageType.RESULT, MessageType.INFO_REPLY)
        if reply.type == MessageType.ERROR:
            code, message = wire.unpack_error(reply.payload)
            assert code != ErrorCode.INTERNAL, message   # a bad payload is the client's error, not a failure
        if reply.type == MessageType.RESULT:
            result = wire.unpack_result(reply.payload)
            assert 0 <= result.predicted_class < 10 and len(result.logits) == 10
            assert torch.isfinite(torch.tensor(result.logits)).all(), result.logits
    # a stream that starts with a complete, well-formed frame gets at least one reply
    try:
        sock = ChunkedSocket(sent, [1 << 16])
        wire.read_frame(sock, 64 * 1024)
        complete = True
    except (WireError, ConnectionClosed) as error:
        complete = isinstance(error, WireError)
    if complete:
        assert replies, f"no reply to {sent[:40]!r}..."


def test_server_still_serves_after_the_fuzzing(fuzz_server):
    from coinfer.serve.device import DeviceClient

    server, configurations, _ = fuzz_server
    image = torch.randn(3, 32, 32)
    for configuration in configurations:
        with DeviceClient(configuration, *server.address) as client:
            assert client.infer(image).predicted_class == int(configuration.run_local(image[None]).argmax())
    assert "INTERNAL" not in server.stats()["errors"]
