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


def test_measure_calibrates_request_and_codec_terms_on_an_unshaped_link(configurations, batch):
    """Behaviour, not timings: the terms come from the calibration requests, enter every prediction and
    add to it; how large they are on this machine is the benchmark's business."""
    from coinfer.core.latency import DEVICES, SERVERS, Environment, latency
    from coinfer.experiments.serving import backbone_macs, configuration_record

    images, labels = batch
    chosen = configurations[1:3]  # layer2.1:uint8 and pool:float32
    result = measure(chosen, images[:3], labels[:3], [parse_rate("100KB/s")],
                     flops_per_s=1e12, warmup=1, per_request=True)
    assert [r["spec"] for r in result.rows] == [c.spec for c in chosen]
    assert result.server_stats["requests"] == 2 * ((1 + 3) + (1 + 3))  # per configuration: calibration, the rate
    calibration = [result.calibration[c.spec] for c in chosen]
    assert all(c["images"] == 3 for c in calibration)
    # one per-request term for all configurations: the median over every calibration request, so it
    # lies between the configurations' own medians; positive, since a round trip takes time
    low, high = sorted(c["request_s"] for c in calibration)
    assert 0 < low <= result.request_s <= high
    # one FLOP/s per side, fitted on the calibration's network times (codecs excluded)
    for speed, side, part, codec in ((result.device_flops_per_s, 0, "device_s", "encode_s"),
                                     (result.server_flops_per_s, 1, "server_s", "decode_s")):
        seconds = sum(c[part] - c[codec] for c in calibration)
        assert speed == pytest.approx(2 * sum(backbone_macs(k)[side] for k in chosen) / seconds)
    for configuration, c, row in zip(chosen, calibration, result.rows):
        # these codecs have no networks: their term is the measured encode + decode time
        assert result.codec_s[configuration.spec] == c["coding_s"] >= 0
        assert c["encode_s"] <= c["device_s"] and c["decode_s"] <= c["server_s"] <= c["total_s"]
        predicted = row["predicted"]
        assert predicted["request_s"] == result.request_s and predicted["codec_s"] == c["coding_s"]
        # the compute terms are the calibration's measured network times, the link bits / rate
        assert predicted["device_s"] == pytest.approx(c["device_s"] - c["encode_s"])
        assert predicted["server_s"] == pytest.approx(c["server_s"] - c["decode_s"])
        assert predicted["send_s"] == pytest.approx(row["frame_bytes_mean"] / 100_000)
        # the coarser model: one FLOP/s per side for every configuration
        flops_model = (2 * configuration.device_macs / result.device_flops_per_s + predicted["send_s"]
                       + 2 * configuration.server_macs / result.server_flops_per_s + c["coding_s"] + result.request_s)
        assert row["ratio_flops"] == pytest.approx(row["total_median_s"] / flops_model)
        assert predicted["total_s"] == pytest.approx(predicted["device_s"] + predicted["send_s"] + predicted["server_s"]
                                                     + predicted["request_s"] + predicted["codec_s"])
        paper = row["frame_bytes_mean"] / 100_000 + 2 * (configuration.device_macs + configuration.server_macs) / 1e12
        assert row["ratio_paper"] == pytest.approx(row["total_median_s"] / paper)  # FLOPs at flops_per_s and bits
        # the same terms in the library's one latency model
        record = configuration_record(configuration, 8 * row["frame_bytes_mean"], 1.0)
        env = Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5, per_request_s=result.request_s)
        paper_model = latency(record, Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5)).total_s
        assert latency(record, env, codec_s=c["coding_s"]).total_s == pytest.approx(
            paper_model + result.request_s + c["coding_s"])
    # the table keeps the terms, and the chapter's ratio table reads them back
    from coinfer.experiments.serving import measurement_table, scheduling_policy
    from coinfer.views.serving import ratio_table, ratios_within

    table = measurement_table(result, chosen, {"dataset": "fashion-mnist"}, "quick", 1.0)
    for record, configuration in zip(table.records, chosen):
        assert record.extra["request_s"] == result.request_s
        assert record.extra["codec_s"] == result.codec_s[configuration.spec]
        assert record.extra["calibration"] == result.calibration[configuration.spec]
        assert record.extra["scheduling_policy"] == scheduling_policy()
        # bits as every table counts them (the codec's count of the payload), header apart
        row = next(r for r in result.rows if r["config_id"] == configuration.config_id)
        assert record.bits_per_image == row["payload_bits_mean"] <= 8 * row["payload_bytes_mean"]
        assert 8 * row["frame_bytes_mean"] - 8 * row["payload_bytes_mean"] == record.extra["header_bits"]
    ratios = ratio_table(table)
    assert list(ratios.index) == [c.spec for c in chosen] and list(ratios.columns) == ["100 KB/s"]
    assert ratios.to_numpy().ravel().tolist() == [r["ratio"] for r in result.rows]
    assert ratios_within(table, 1e9) == (2, 2)
    with pytest.raises(ValueError, match="column must be"):
        ratio_table(table, "speed")
    without = measure(chosen[:1], images[:2], labels[:2], [None], flops_per_s=1e12, warmup=0)
    assert without.request_s == 0 and without.codec_s == {} and without.rows[0]["ratio"] == without.rows[0]["ratio_paper"]
    assert without.device_flops_per_s == without.server_flops_per_s == 1e12
    with pytest.raises(ValueError, match="per_request_s must be finite and >= 0, got -1.0"):
        Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], 8e5, per_request_s=-1)
    with pytest.raises(ValueError, match="codec_s must be finite and >= 0, got -0.5"):
        latency(record, env, codec_s=-0.5)


def test_the_parts_of_a_request_never_overlap(configurations, batch):
    """other = total - device - send - server is never negative: the send ends when the last piece
    is handed to the socket, before the server can start (it used to end when sendall returned,
    after the server had sometimes already run on this core)."""
    images, _ = batch
    with EdgeServer(configurations[:2]) as server:
        for configuration, rate in ((configurations[0], parse_rate("1000KB/s")), (configurations[1], None)):
            with DeviceClient(configuration, *server.address, rate_bps=rate) as client:
                runs = [client.infer(image) for image in images for _ in range(2)]
            assert all(m.other_s >= -1e-6 for m in runs), [m.other_s for m in runs]
            assert all(0 <= m.device_encode_s <= m.device_s for m in runs)
            if rate is not None:  # the shaper held every frame back for all but its last piece
                assert all(m.send_s >= 0.9 * (m.frame_bytes - 1460) * 8 / rate for m in runs)
