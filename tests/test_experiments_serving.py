"""The serving experiment (coinfer.experiments.serving) and codec training (coinfer.experiments.codecs)."""

from __future__ import annotations

import pytest
import torch

from coinfer.experiments.serving import measure
from coinfer.serve import wire
from coinfer.serve.configuration import build_configurations
from coinfer.serve.device import DeviceClient
from coinfer.units import parse_rate
from coinfer.serve.server import EdgeServer
from serve_support import batch, configurations, expect_error, model  # noqa: F401  (fixtures)


def test_measure_rows_hold_parts_and_prediction(configurations, batch):
    images, labels = batch
    result = measure(configurations[1:2], images[:2], labels[:2], [parse_rate("100KB/s"), None],
                     flops_per_s=1e9, warmup=1)
    shaped, unshaped = result.rows
    assert shaped["rate"] == "100 KB/s" and unshaped["rate"] == "inf"
    frame = shaped["frame_bytes_mean"]
    assert frame == 8 * 16 * 16 + 8 + wire.HEADER_SIZE  # 8x16x16 uint8 + range + header
    assert shaped["predicted"]["send_s"] == pytest.approx(frame / 100_000)
    assert shaped["send_median_s"] >= 0.9 * frame / 100_000  # the shaper held the link back
    assert shaped["ratio"] == pytest.approx(shaped["total_median_s"] / shaped["predicted"]["total_s"])
    assert result.server_stats["requests"] == 2 * (2 + 1)  # 2 rates x (2 images + 1 warm-up)


def test_learned_codec_served_with_real_range_coded_bytes(tmp_path, model, batch):
    from coinfer.experiments.codecs import train_learned_codec
    from coinfer.serve.configuration import LearnedCodec, load_learned_codec

    path = tmp_path / "codec.pt"
    codec, meta = train_learned_codec(model, "pool", "d8-l4", "quick", path=path, log=lambda line: None,
                                      train_limit=256, test_limit=64, warmup_epochs=1, epochs=1)
    assert meta["split"] == "pool" and meta["code_size"] == "d8-l4" and meta["feature_shape"] == [32]
    configuration = build_configurations(model, [f"s5:learned:{path}"])[0]
    assert isinstance(configuration.codec, LearnedCodec) and configuration.spec == f"pool:learned:{path}"
    assert configuration.device_macs > build_configurations(model, ["pool:float32"])[0].device_macs
    images, _ = batch
    with EdgeServer([configuration]) as server, DeviceClient(configuration, *server.address) as client:
        client.check()
        runs = [client.infer(image) for image in images]
        # a corrupted packet is refused by the codec's CRC, and the connection carries on
        payload = bytearray(configuration.run_device(images[0]))
        payload[-1] ^= 0xFF
        client.sock.sendall(wire.Frame(wire.MessageType.FEATURE, configuration.config_id, 99, bytes(payload)).to_bytes())
        expect_error(client.sock, wire.ErrorCode.BAD_PAYLOAD)
        assert client.infer(images[0]).predicted_class == runs[0].predicted_class
    assert [m.predicted_class for m in runs] == configuration.run_local(images).argmax(1).tolist()
    assert all(m.payload_bytes < 16 for m in runs)  # 8 symbols of 2 bits, range coded, plus its framing
    torch.manual_seed(5)
    with pytest.raises(ValueError, match="trained on a network"):
        load_learned_codec(path, weights="0" * 64)


def test_measure_calibrates_a_per_request_term_on_an_unshaped_link(configurations, batch):
    from coinfer.core.latency import DEVICES, SERVERS, Environment, latency
    from coinfer.experiments.serving import configuration_record

    images, labels = batch
    result = measure(configurations[1:2], images[:3], labels[:3], [parse_rate("100KB/s")],
                     flops_per_s=1e12, warmup=1, per_request=True)
    (row,) = result.rows
    term = result.per_request_s[configurations[1].spec]
    assert term > 0  # a real round trip costs more than a width-1/16 net's FLOPs at 1 TFLOP/s
    assert row["predicted"]["request_s"] == term
    assert row["predicted"]["total_s"] == pytest.approx(
        row["predicted"]["device_s"] + row["predicted"]["send_s"] + row["predicted"]["server_s"] + term)
    assert row["ratio_without_request"] > row["ratio"]
    assert result.server_stats["requests"] == (1 + 3) + (1 + 3)  # calibration, then the rate
    # the same term in the library's one latency model
    record = configuration_record(configurations[1], row["frame_bytes_mean"], 1.0)
    env = Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5, per_request_s=term)
    assert latency(record, env).total_s == pytest.approx(latency(record, Environment(
        DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5)).total_s + term)
    with pytest.raises(ValueError, match="per_request_s must be finite and >= 0, got -1.0"):
        Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5, per_request_s=-1)
