"""Tests of the real co-inference server, client, wire format and link shaper (coinfer.serve.server, coinfer.serve.wire).

Everything runs on 127.0.0.1 with a width-1/16 network and a few Fashion-MNIST test images; every
server is bounded (stopped by the fixture, or by ``--max-requests``), so the file ends by itself.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from coinfer.serve import wire as wire
from coinfer.data import load_dataset
from coinfer.core.network import resnet18
from coinfer.serve.server import (DeviceClient, EdgeServer, Float32Codec, LinkShaper, TokenBucket,
                           Uniform8BitCodec, build_configurations, measure, parse_link_rate)
from coinfer.train import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SPECS = ["layer2.1:float32", "layer2.1:uint8", "pool:float32"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return resnet18(width=1 / 16).eval()


@pytest.fixture(scope="module")
def batch():
    dataset = load_dataset("fashion-mnist", train=False, limit=8)
    return torch.stack([dataset[i][0] for i in range(8)]), torch.tensor([dataset[i][1] for i in range(8)])


@pytest.fixture(scope="module")
def configurations(model):
    return build_configurations(model, SPECS)


@pytest.fixture
def server(configurations):
    with EdgeServer(configurations, max_connections=6, idle_timeout=10) as srv:
        yield srv


def raw_connection(server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=10)
    return sock


def wait_for(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- wire format ---------------------------------------------------------------------------------

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


# -- codecs and rates ----------------------------------------------------------------------------

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


def test_link_rates_are_bytes_per_second():
    assert parse_link_rate("40KB/s") == 40_000
    assert parse_link_rate("1MB/s") == 1_000_000
    assert parse_link_rate("800kbit/s") == 100_000
    assert parse_link_rate("inf") is None
    for bad in ("40", "40KiB/s", "-3KB/s", "fast"):
        with pytest.raises(ValueError, match="link rate"):
            parse_link_rate(bad)


def test_token_bucket_schedule_is_exact_with_a_virtual_clock():
    now = [0.0]
    bucket = TokenBucket(rate=1000.0, burst=0.0, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s + 0.0007))  # always oversleeps
    for k in range(100):
        bucket.consume(100, continuing=k > 0)
    # 10,000 bytes at 1,000 B/s: 10 s; late wake-ups must not accumulate (only the last one counts)
    assert now[0] == pytest.approx(10.0007)
    now[0] = 20.0
    bucket.consume(100)  # after idleness there is no credit: a packet takes its full time
    assert now[0] == pytest.approx(20.1007)
    burst = TokenBucket(rate=1000.0, burst=500.0, clock=lambda: now[0], sleep=lambda s: None)
    now[0] += 5.0  # idle: the bucket is full
    assert burst.consume(500) == 0.0
    assert burst.consume(100) == pytest.approx(0.1)


def shaped_transfer(n: int, rate: float) -> tuple[float, float]:
    """Send ``n`` random bytes through a LinkShaper over loopback; return the rates (bytes/s) seen by
    the sender (n / time to send) and by the receiver (slope of bytes received against time)."""
    listener = socket.create_server(("127.0.0.1", 0))
    arrivals: list[tuple[float, int]] = []

    def receive():
        conn, _ = listener.accept()
        with conn:
            got = 0
            while got < n:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
                arrivals.append((time.perf_counter(), got))

    thread = threading.Thread(target=receive)
    thread.start()
    with socket.create_connection(listener.getsockname()) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        shaper = LinkShaper(sock, rate)
        t0 = time.perf_counter()
        shaper.send(os.urandom(n))
        sender_s = time.perf_counter() - t0
    thread.join(timeout=10)
    listener.close()
    assert arrivals[-1][1] == n
    times, received = np.array(arrivals).T
    return n / sender_s, float(np.polyfit(times - times[0], received, 1)[0])


def test_shaped_rate_within_ten_percent_on_loopback():
    n, rate = 50_000, 200_000.0  # 50 KB at 200 KB/s: 0.25 s
    # The schedule itself is exact (see the virtual-clock test); what can disturb it here is another
    # process taking the CPU at the wrong moment on a busy machine, so a disturbed try is repeated.
    for attempt in range(3):
        sender_rate, receiver_rate = shaped_transfer(n, rate)
        if abs(sender_rate / rate - 1) <= 0.10 and abs(receiver_rate / rate - 1) <= 0.10:
            break
    assert sender_rate == pytest.approx(rate, rel=0.10)
    assert receiver_rate == pytest.approx(rate, rel=0.10)


# -- the server ----------------------------------------------------------------------------------

def test_batch_classes_equal_the_full_model_run_locally(server, configurations, model, batch):
    images, _ = batch
    with torch.inference_mode():
        full_logits = model(images)
    for configuration in configurations:
        local = configuration.run_local(images)
        with DeviceClient(configuration, *server.address) as client:
            client.check()
            runs = [client.infer(image) for image in images]
        classes = [m.predicted_class for m in runs]
        assert classes == local.argmax(1).tolist()
        assert all(m.payload_bytes == len(configuration.run_device(images[0])) for m in runs)
        if configuration.codec.name == "float32":  # lossless: the split network is the full network
            assert classes == full_logits.argmax(1).tolist()
    assert server.stats()["requests"] == len(configurations) * len(images)


def test_result_logits_match_local_logits(server, configurations, batch):
    images, _ = batch
    configuration = configurations[0]
    with DeviceClient(configuration, *server.address) as client:
        sock = client.sock
        payload = configuration.run_device(images[0])
        sock.sendall(wire.Frame(wire.MessageType.FEATURE, configuration.config_id, 42, payload).to_bytes())
        frame = wire.read_frame(sock)
    assert frame.type == wire.MessageType.RESULT and frame.request_id == 42
    result = wire.unpack_result(frame.payload)
    expected = configuration.run_local(images[:1])[0]
    assert np.allclose(result.logits, expected.numpy(), atol=1e-5)


def expect_error(sock, code) -> wire.Frame:
    frame = wire.read_frame(sock)
    assert frame.type == wire.MessageType.ERROR
    got, message = wire.unpack_error(frame.payload)
    assert got == code, message
    return frame


def assert_closed(sock):
    sock.settimeout(5)
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass  # closed, by a reset rather than a FIN


def test_malformed_frames_are_rejected_and_the_server_keeps_serving(server, configurations, batch):
    images, _ = batch
    configuration = configurations[1]
    # 1. garbage instead of a header: error reply, then the connection is closed
    with raw_connection(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        expect_error(sock, wire.ErrorCode.BAD_HEADER)
        assert_closed(sock)
    # 2. an oversized payload is refused from its header alone (nothing is read or allocated)
    with raw_connection(server) as sock:
        sock.sendall(wire.pack_header(wire.MessageType.FEATURE, configuration.config_id, 1, 2**31))
        expect_error(sock, wire.ErrorCode.PAYLOAD_TOO_LARGE)
        assert_closed(sock)
    # 3. well-formed frames the server cannot use: error reply, and the connection stays usable
    with raw_connection(server) as sock:
        sock.sendall(wire.Frame(wire.MessageType.FEATURE, 12345, 2, b"abc").to_bytes())
        assert expect_error(sock, wire.ErrorCode.UNKNOWN_CONFIG).request_id == 2
        sock.sendall(wire.Frame(wire.MessageType.FEATURE, configuration.config_id, 3, b"\x00" * 10).to_bytes())
        expect_error(sock, wire.ErrorCode.BAD_PAYLOAD)
        sock.sendall(wire.Frame(wire.MessageType.RESULT, configuration.config_id, 4, b"").to_bytes())
        expect_error(sock, wire.ErrorCode.UNEXPECTED_TYPE)
        payload = configuration.run_device(images[0])
        sock.sendall(wire.Frame(wire.MessageType.FEATURE, configuration.config_id, 5, payload).to_bytes())
        frame = wire.read_frame(sock)
        assert frame.type == wire.MessageType.RESULT and frame.request_id == 5
    # 4. a fresh, well-behaved device is still served
    with DeviceClient(configuration, *server.address) as client:
        assert client.infer(images[1]).predicted_class == int(configuration.run_local(images[1:2]).argmax())
    errors = server.stats()["errors"]
    assert errors["BAD_HEADER"] == 1 and errors["PAYLOAD_TOO_LARGE"] == 1 and errors["UNKNOWN_CONFIG"] == 1


def test_random_frames_never_take_the_server_down(server, configurations, batch):
    """Seeded fuzzing: valid and broken headers, random payloads of the right and wrong sizes, cuts."""
    rng = np.random.default_rng(0)
    ids = [c.config_id for c in configurations]
    sizes = [len(c.run_device(batch[0][0])) for c in configurations]
    for _ in range(40):
        k = int(rng.integers(len(ids)))
        length = int(rng.choice([0, 1, sizes[k], sizes[k] + 1, int(rng.integers(1, 5000))]))
        header = bytearray(wire.pack_header(wire.MessageType.FEATURE, ids[k], 1, length))
        if rng.random() < 0.3:  # break one header byte
            header[int(rng.integers(wire.HEADER_SIZE))] ^= int(rng.integers(1, 256))
        frame = bytes(header) + rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        if rng.random() < 0.2:
            frame = frame[:int(rng.integers(len(frame) + 1))]
        with raw_connection(server) as sock:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
    stats = server.stats()
    assert "INTERNAL" not in stats["errors"]
    with DeviceClient(configurations[1], *server.address) as client:
        assert client.infer(batch[0][0]).predicted_class == int(configurations[1].run_local(batch[0][:1]).argmax())
    assert wait_for(lambda: server.stats()["open_connections"] == 0)


def test_client_disconnecting_mid_message(server, configurations, batch):
    images, _ = batch
    configuration = configurations[0]
    payload = configuration.run_device(images[0])
    frame = wire.Frame(wire.MessageType.FEATURE, configuration.config_id, 1, payload).to_bytes()
    for cut in (7, wire.HEADER_SIZE + 100):  # inside the header, then inside the payload
        with raw_connection(server) as sock:
            sock.sendall(frame[:cut])
    assert wait_for(lambda: server.stats()["truncated_frames"] == 2)
    assert wait_for(lambda: server.stats()["open_connections"] == 0)
    with DeviceClient(configuration, *server.address) as client:
        client.infer(images[0])


def test_several_concurrent_clients(server, configurations, batch):
    images, _ = batch
    clients = 4
    barrier = threading.Barrier(clients)
    results: dict[int, list[int]] = {}
    failures = []

    def device(k):
        configuration = configurations[k % len(configurations)]
        try:
            with DeviceClient(configuration, *server.address) as client:
                barrier.wait(timeout=20)  # all connected before any sends
                results[k] = [client.infer(image).predicted_class for image in images[:3]]
                barrier.wait(timeout=30)  # all hold their connections until all are done
        except Exception as error:
            failures.append(repr(error))

    threads = [threading.Thread(target=device, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    for k, classes in results.items():
        expected = configurations[k % len(configurations)].run_local(images[:3]).argmax(1).tolist()
        assert classes == expected
    assert len(results) == clients
    assert server.stats()["max_concurrent_connections"] == clients


def test_connections_beyond_the_limit_are_refused_busy(configurations, batch):
    images, _ = batch
    with EdgeServer(configurations, max_connections=1) as srv:
        with DeviceClient(configurations[0], *srv.address) as first:
            first.infer(images[0])  # the server has accepted it: its only slot is taken
            with raw_connection(srv) as second:
                expect_error(second, wire.ErrorCode.BUSY)
                assert_closed(second)
            first.infer(images[1])
        assert srv.stats()["busy_refused"] == 1


def test_idle_connection_is_closed(configurations):
    with EdgeServer(configurations, idle_timeout=0.3) as srv:
        with raw_connection(srv) as sock:
            assert_closed(sock)
        assert wait_for(lambda: srv.stats()["idle_closed"] == 1)


def test_mismatched_weights_are_detected(server, batch):
    torch.manual_seed(123)
    other = build_configurations(resnet18(width=1 / 16).eval(), ["layer2.1:float32"])[0]
    with DeviceClient(other, *server.address) as client:
        with pytest.raises(ValueError, match="other weights"):
            client.check()
        with pytest.raises(wire.RemoteError, match="UNKNOWN_CONFIG"):
            client.infer(batch[0][0])


def test_measure_rows_hold_parts_and_prediction(configurations, batch):
    images, labels = batch
    result = measure(configurations[1:2], images[:2], labels[:2], [parse_link_rate("100KB/s"), None],
                     flops_per_s=1e9, warmup=1)
    shaped, unshaped = result.rows
    assert shaped["rate"] == "100 KB/s" and unshaped["rate"] == "inf"
    frame = shaped["frame_bytes_mean"]
    assert frame == 8 * 16 * 16 + 8 + wire.HEADER_SIZE  # 8x16x16 uint8 + range + header
    assert shaped["predicted"]["send_s"] == pytest.approx(frame / 100_000)
    assert shaped["send_median_s"] >= 0.9 * frame / 100_000  # the shaper held the link back
    assert shaped["ratio"] == pytest.approx(shaped["total_median_s"] / shaped["predicted"]["total_s"])
    assert result.server_stats["requests"] == 2 * (2 + 1)  # 2 rates x (2 images + 1 warm-up)


# -- two processes -------------------------------------------------------------------------------

def test_serve_and_device_commands_in_two_processes(tmp_path, model, batch, capsys):
    from coinfer.cli import main

    checkpoint = save_checkpoint(tmp_path / "net.pt", model, {"width": 1 / 16, "dataset": "fashion-mnist"})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COINFER_HOME": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "coinfer", "serve", "--checkpoint", str(checkpoint), "--config", "s3:uint8",
         "--host", "127.0.0.1", "--port", "0", "--max-requests", "3", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        port = None
        for line in server.stdout:
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, "the server never said where it listens"
        code = main(["device", "--checkpoint", str(checkpoint), "--config", "layer2.1:uint8",
                     "--port", str(port), "--rate", "400KB/s", "--images", "3", "--json"])
        assert code == 0
        assert server.wait(timeout=30) == 0  # --max-requests 3: it stops by itself
    finally:
        if server.poll() is None:
            server.kill()
    import json
    out = json.loads(capsys.readouterr().out)
    configuration = build_configurations(model, ["layer2.1:uint8"])[0]
    assert out["classes"] == configuration.run_local(batch[0][:3]).argmax(1).tolist()
    assert out["frame_bytes_mean"] == 8 * 16 * 16 + 8 + wire.HEADER_SIZE


# -- a learned codec -----------------------------------------------------------------------------

def test_learned_codec_served_with_real_range_coded_bytes(tmp_path, model, batch):
    from coinfer.serve.server import LearnedCodec, load_learned_codec, train_learned_codec

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
