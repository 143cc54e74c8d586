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
