"""The wire format (coinfer.serve.wire): headers and payloads, without sockets."""

from __future__ import annotations

import pytest

from coinfer.serve import wire


def test_header_round_trip_and_checks():
    header = wire.pack_header(wire.MessageType.FEATURE, 7, 9, 1234)
    assert len(header) == wire.HEADER_SIZE == 20
    assert header[:4] == b"CINF"
    assert wire.unpack_header(header) == (wire.MessageType.FEATURE, 7, 9, 1234)
    bad = {"magic": b"XXXX" + header[4:], "version": header[:4] + b"\x02" + header[5:],
           "type": header[:5] + b"\x63" + header[6:], "flags": header[:6] + b"\x00\x01" + header[8:]}
    for field, frame in bad.items():
        with pytest.raises(wire.WireError, match=field if field != "type" else "message type") as err:
            wire.unpack_header(frame)
        assert err.value.code == wire.ErrorCode.BAD_HEADER
    with pytest.raises(wire.WireError, match="exceeds") as err:
        wire.unpack_header(header, max_payload=1000)
    assert err.value.code == wire.ErrorCode.PAYLOAD_TOO_LARGE
    with pytest.raises(ValueError, match="payload_length"):
        wire.pack_header(wire.MessageType.FEATURE, 1, 1, 2**32)


def test_result_and_error_payloads():
    payload = wire.pack_result(3, [0.5, -1.0, 2.0], 0.001, 0.002)
    result = wire.unpack_result(payload)
    assert result.predicted_class == 3 and result.logits == (0.5, -1.0, 2.0)
    assert (result.server_decode_s, result.server_compute_s) == (0.001, 0.002)
    with pytest.raises(wire.WireError, match="announces 3 logits"):
        wire.unpack_result(payload[:-1])
    assert wire.unpack_error(wire.pack_error(wire.ErrorCode.BUSY, "full")) == (5, "full")


def test_a_long_error_message_is_cut_between_characters():
    # Cut at byte 1,000, the 500th two-byte character was split in half, and a strict UTF-8 decoder
    # (another language's device) refused the whole message.
    for message in ("é" * 600, "a" + "€" * 500, "x" * 999 + "é"):
        payload = wire.pack_error(wire.ErrorCode.INTERNAL, message)
        text = payload[2:].decode("utf-8")   # strict: raises on a split character
        assert len(payload) - 2 <= 1000 and message.startswith(text) and len(text.encode()) > 990


@pytest.mark.parametrize("entry", [1, "s3:uint8", None, [1, "s3:uint8"], {"spec": "s3:uint8"},
                                   {"config_id": 1}, {"config_id": "1", "spec": "s3:uint8"},
                                   {"config_id": True, "spec": "s3:uint8"}, {"config_id": 1, "spec": 3},
                                   {"config_id": -1, "spec": "s3:uint8"}, {"config_id": 2**32, "spec": "s3:uint8"}])
def test_info_reply_entries_must_be_configurations(entry):
    # A device reads entry["config_id"] and entry["spec"] of each: an entry that was not an object
    # ended DeviceClient.check() (and the device command) with an AttributeError traceback.
    good = {"config_id": 7, "spec": "layer2.1:uint8"}
    with pytest.raises(wire.WireError, match="INFO_REPLY configuration 1 must be an object") as err:
        wire.unpack_info(wire.pack_info({"configurations": [good, entry], "max_payload": 10}))
    assert err.value.code == wire.ErrorCode.BAD_PAYLOAD
    assert wire.unpack_info(wire.pack_info({"configurations": [good]}))["configurations"] == [good]


# -- the book's specification of the codecs' packets (book/wire_format.md), byte for byte ---------

def leb128(n: int) -> bytes:
    """The spec's varint: 7 bits at a time, least significant group first, high bit = more follow."""
    out = b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n >> 7 else 0)])
        n >>= 7
        if not n:
            return out


def packet_from_spec(magic: int, n_symbols: int, bits: list[int]) -> bytes:
    """magic, varint count, CRC-32 (big-endian) of count bytes + payload; payload bits MSB first, zero-padded."""
    import zlib

    bits = bits + [0] * (-len(bits) % 8)
    payload = bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
    count = leb128(n_symbols)
    return bytes([magic]) + count + zlib.crc32(count + payload).to_bytes(4, "big") + payload


def test_uint8_packets_follow_the_book_byte_for_byte():
    import struct

    import numpy as np
    import torch

    from coinfer.core.codecs import Uint8Codec

    codec = Uint8Codec((6,))
    # lo 0, hi 510: q = rint(x / 2); 1 -> 0.5, 3 -> 1.5, 5 -> 2.5 round half to even: 0, 2, 2
    x = [0.0, 1.0, 3.0, 5.0, 509.0, 510.0]
    expected = struct.pack("<ff", 0.0, 510.0) + bytes([0, 0, 2, 2, 254, 255])
    assert codec.compress(torch.tensor([x]))[0] == expected
    assert codec.decompress([expected])[0].tolist() == [0.0, 0.0, 4.0, 4.0, 508.0, 510.0]   # lo + q (hi - lo) / 255
    # hi == lo: every level is 0, and a level q decodes as lo + q / 255 (the span is taken as 1)
    constant = struct.pack("<ff", 2.0, 2.0) + bytes(6)
    assert codec.compress(torch.full((1, 6), 2.0))[0] == constant
    crafted = struct.pack("<ff", 2.0, 2.0) + bytes([0, 51, 102, 153, 204, 255])
    assert np.allclose(codec.decompress([crafted])[0].numpy(), 2.0 + np.array([0, 51, 102, 153, 204, 255]) / 255)


def canonical_codes(lengths: list[int]) -> dict[int, str]:
    """The spec's canonical Huffman code: symbols sorted by (length, symbol); each code is the previous
    plus one, shifted left by the growth in length; the first is all zeros."""
    codes, code, previous = {}, 0, None
    for s in sorted(range(len(lengths)), key=lambda s: (lengths[s], s)):
        if previous is not None:
            code = (code + 1) << (lengths[s] - previous)
        previous = lengths[s]
        codes[s] = format(code, f"0{lengths[s]}b")
    return codes


def test_huffman_packets_follow_the_book_byte_for_byte():
    import numpy as np
    import torch

    from coinfer.core.codecs import Huffman8Codec

    rng = np.random.default_rng(3)
    # 300 elements (a 2-byte varint), fitted on 0 .. 255: low 0, high 255, a step of 1; mostly small
    # levels, so the Huffman code is short for such a feature and long for a uniform one
    train = rng.geometric(0.3, (20, 300)) - 1.0
    train[0, :2] = 0.0, 255.0
    codec = Huffman8Codec().fit(torch.tensor(train, dtype=torch.float32))
    assert codec.range == (0.0, 255.0) and codec.feature_shape == (300,)
    codes = canonical_codes(list(codec.code.lengths))
    for name, x in {"coded": np.minimum(rng.geometric(0.3, 300) - 1, 300) + 0.5,   # 300 clips to 255
                    "fixed": rng.integers(0, 256, 300) - 0.5}.items():             # -0.5 clips to 0
        levels = np.clip(np.rint(x), 0, 255).astype(int)   # step 1: q = round(x), half to even, clipped
        huffman = [int(b) for s in levels for b in codes[s]]
        fixed = [int(b) for s in levels for b in format(s, "08b")]   # 8 bits per level, MSB first
        bits = [1] + huffman if len(huffman) < len(fixed) else [0] + fixed   # the flag, then the shorter
        assert bits[0] == (name == "coded")
        packet = codec.compress(torch.tensor(x, dtype=torch.float32)[None])[0]
        assert packet == packet_from_spec(0xC2, 300, bits)
    assert leb128(300) == b"\xac\x02"
