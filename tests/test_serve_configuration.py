"""Configurations and payload codecs (coinfer.serve.configuration): real bytes, fitted identically on both sides."""

from __future__ import annotations

import struct

import pytest
import torch

from coinfer.serve import wire
from coinfer.serve.configuration import Float32Codec, Uniform8BitCodec, build_configurations
from coinfer.serve.device import DeviceClient
from coinfer.serve.server import EdgeServer
from serve_support import batch, expect_error, model  # noqa: F401  (fixtures)


def test_codecs_round_trip_real_bytes():
    torch.manual_seed(1)
    feature = torch.randn(4, 5, 6)
    f32 = Float32Codec(feature.shape)
    payload = f32.encode(feature)
    assert len(payload) == 4 * 120
    assert torch.equal(f32.decode(payload), feature)
    u8 = Uniform8BitCodec(feature.shape)
    payload = u8.encode(feature)
    assert len(payload) == 120 + 8
    span = float(feature.max() - feature.min())
    assert float((u8.decode(payload) - feature).abs().max()) <= span / 510 + 1e-6
    with pytest.raises(ValueError, match="must be 128 bytes, got 127"):
        u8.decode(payload[:-1])
    with pytest.raises(ValueError, match="invalid range"):
        u8.decode(struct.pack("<ff", 1.0, float("nan")) + payload[8:])
    constant = torch.full((2, 3), 0.25)
    u8_small = Uniform8BitCodec(constant.shape)
    assert torch.allclose(u8_small.decode(u8_small.encode(constant)), constant)


def test_huffman_baseline_served_and_fitted_identically_on_both_sides(model, batch):
    specs = ["layer2.1:huffman:64", "layer2.1:uint8"]
    configurations = build_configurations(model, specs, preset="quick")
    again = build_configurations(model, specs[:1], preset="quick")[0]  # as the other side would
    assert again.config_id == configurations[0].config_id
    huffman, uint8 = configurations
    images, _ = batch
    with EdgeServer(configurations) as server, DeviceClient(huffman, *server.address) as client:
        runs = [client.infer(image) for image in images]
        payload = bytearray(huffman.run_device(images[0]))
        payload[-1] ^= 0x55
        client.sock.sendall(wire.Frame(wire.MessageType.FEATURE, huffman.config_id, 7, bytes(payload)).to_bytes())
        expect_error(client.sock, wire.ErrorCode.BAD_PAYLOAD)
    assert [m.predicted_class for m in runs] == huffman.run_local(images).argmax(1).tolist()
    # a variable-length code: shorter than the 8-bit feature (2048 bytes + 8) on these images
    assert all(m.payload_bytes < len(uint8.run_device(images[0])) for m in runs)
    with pytest.raises(ValueError, match="number of training images"):
        build_configurations(model, ["layer2.1:huffman:many"], preset="quick")
