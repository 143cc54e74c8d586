"""The edge server (coinfer.serve.server) with real devices (coinfer.serve.device) on 127.0.0.1.

Malformed, truncated and random frames, busy and idle connections, mismatched weights, several
devices at once, and the ``serve`` / ``device`` commands in two processes.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch

from coinfer.core.network import resnet18
from coinfer.serve import wire
from coinfer.serve.configuration import build_configurations
from coinfer.serve.device import DeviceClient
from coinfer.serve.server import EdgeServer
from coinfer.train import save_checkpoint
from serve_support import (ROOT, assert_closed, batch, configurations, expect_error, model,  # noqa: F401
                           raw_connection, server, wait_for)


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
        for config_id, extra in ((0, b"x"), (configuration.config_id, b"")):   # INFO is empty, config_id 0 (was answered)
            sock.sendall(wire.Frame(wire.MessageType.INFO, config_id, 6, extra).to_bytes())
            assert expect_error(sock, wire.ErrorCode.BAD_PAYLOAD).request_id == 6
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
            sock.sendall(wire.Frame(wire.MessageType.INFO, 0, 1, b"").to_bytes())  # a first frame, then silence
            assert wire.read_frame(sock).type == wire.MessageType.INFO_REPLY
            assert_closed(sock)
        assert wait_for(lambda: srv.stats()["idle_closed"] == 1)


def trickle(sock, data: bytes, interval: float) -> float:
    """Send ``data`` one byte every ``interval`` s until the server closes; returns the seconds it took."""
    t0 = time.monotonic()
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(interval)
        sock.settimeout(10)
        sock.recv(1)
    except OSError:
        pass
    return time.monotonic() - t0


def test_deadlines_are_per_frame_not_per_byte(configurations):
    """A silent or trickling peer is cut off by a deadline, however steadily it sends single bytes."""
    frame = wire.Frame(wire.MessageType.INFO, 0, 1, b"").to_bytes()
    with EdgeServer(configurations, handshake_timeout=0.5, frame_timeout=0.5, idle_timeout=30) as srv:
        with raw_connection(srv) as sock:  # never sends: the handshake deadline closes it
            assert_closed(sock)
        with raw_connection(srv) as sock:  # its first header, one byte every 0.1 s (2 s in all): cut at 0.5 s
            assert trickle(sock, frame, 0.1) < 1.5
        assert wait_for(lambda: srv.stats()["handshake_timeouts"] == 2)
        with raw_connection(srv) as sock:  # a good first frame, then a frame trickled: the frame deadline
            sock.sendall(frame)
            assert wire.read_frame(sock).type == wire.MessageType.INFO_REPLY
            assert trickle(sock, frame, 0.1) < 1.5
        assert wait_for(lambda: srv.stats()["frame_timeouts"] == 1)
        assert wait_for(lambda: srv.stats()["open_connections"] == 0)
        with raw_connection(srv) as sock:  # and the server still answers
            sock.sendall(frame)
            assert wire.read_frame(sock).type == wire.MessageType.INFO_REPLY


@pytest.mark.parametrize("option, value, message", [
    ("port", 70000, "port 70000 is out of range: use 0"), ("port", -1, "port -1 is out of range"),
    ("idle_timeout", -1, "idle_timeout must be a finite number of seconds > 0, got -1"),
    ("idle_timeout", 0, "idle_timeout must be .* > 0, got 0"),
    ("handshake_timeout", float("nan"), "handshake_timeout must be"),
    ("frame_timeout", 0, "frame_timeout must be"),
    ("max_connections", 0, "max_connections must be an integer >= 1, got 0"),
    ("max_payload", 0, "max_payload must be an integer >= 1, got 0"),
    ("max_requests", 0, "max_requests must be an integer >= 1 or None, got 0"),
])
def test_server_options_are_checked_with_a_message_naming_the_value(configurations, option, value, message):
    with pytest.raises(ValueError, match=message):
        EdgeServer(configurations, **{option: value})


@pytest.mark.parametrize("argv, message", [
    (["serve", "--port", "70000"], "port 70000 is out of range"),
    (["serve", "--idle-timeout", "-1"], "idle_timeout must be a finite number of seconds > 0, got -1.0"),
    (["serve", "--idle-timeout", "0"], "idle_timeout must be .* > 0, got 0.0"),
    (["serve", "--max-connections", "0"], "max_connections must be an integer >= 1, got 0"),
    (["device", "--config", "s3:uint8", "--port", "0"], "port 0 is out of range: a server listens on a port from 1"),
    (["device", "--config", "s3:uint8", "--timeout", "-2"], "timeout must be a finite number of seconds > 0"),
    (["device", "--config", "s3:uint8", "--images", "0"], "images must be an integer >= 1, got 0"),
    (["device", "--config", "s3:uint8", "--rate=-5KB/s"], "link rate .-5KB/s."),
])
def test_serve_and_device_commands_refuse_bad_options_before_loading_anything(argv, message, capsys):
    from coinfer.cli import main

    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_mismatched_weights_are_detected(server, batch):
    torch.manual_seed(123)
    other = build_configurations(resnet18(width=1 / 16).eval(), ["layer2.1:float32"])[0]
    with DeviceClient(other, *server.address) as client:
        with pytest.raises(ValueError, match="other weights"):
            client.check()
        with pytest.raises(wire.RemoteError, match="UNKNOWN_CONFIG"):
            client.infer(batch[0][0])


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
    out = json.loads(capsys.readouterr().out)
    configuration = build_configurations(model, ["layer2.1:uint8"])[0]
    assert out["classes"] == configuration.run_local(batch[0][:3]).argmax(1).tolist()
    assert out["frame_bytes_mean"] == 8 * 16 * 16 + 8 + wire.HEADER_SIZE


# -- under load ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_legitimate_devices_are_served_while_hostile_clients_hold_connections(tmp_path, model, batch, capsys):
    """64 clients trickling one byte a second, 200 idle and 8 malformed connections, and 16 devices.

    The server is a real second process (``python -m coinfer serve``); every device's every request
    must be answered with the right class, the server must hold every connection at once, cut the
    hostile ones by its deadlines, and still answer after.
    """
    from coinfer.serve.load import HostileClients, concurrency_probe, process_memory_bytes
    from coinfer.serve.server import ServerProcess

    checkpoint = save_checkpoint(tmp_path / "net.pt", model, {"width": 1 / 16, "dataset": "fashion-mnist"})
    configuration = build_configurations(model, ["layer2.1:uint8"])[0]
    images = batch[0][:4]
    expected = configuration.run_local(images).argmax(1).tolist()
    with ServerProcess(["--checkpoint", str(checkpoint), "--config", "layer2.1:uint8", "--threads", "1",
                        "--handshake-timeout", "3", "--frame-timeout", "3"]) as server:
        pid = server.process.pid
        memory_before = process_memory_bytes(pid)
        with HostileClients(server.address, idle=200, trickling=64, malformed=8, interval=1.0) as hostile:
            assert hostile.open_now >= 250, hostile.counts  # (malformed ones come and go)
            probe = concurrency_probe(configuration, server.address, images, clients=16, expected=expected)
            memory_during = process_memory_bytes(pid)
            # past the deadlines (3 s from each accept): every hostile client is cut once, and comes back;
            # waited for, not slept for (3.5 s left no slack where the server accepted them slowly)
            assert wait_for(lambda: hostile.counts["clients_cut"] >= 200 + 64 + 8, timeout=60), hostile.counts
            again = concurrency_probe(configuration, server.address, images, clients=16, expected=expected)
            counts = dict(hostile.counts)
        with DeviceClient(configuration, *server.address) as client:  # alive after
            client.check()
            assert client.infer(images[0]).predicted_class == expected[0]
        stats = server.stop()
    for run in (probe, again):
        assert run["failures"] == [] and run["wrong"] == 0
        assert run["answered"] == 16 * len(images)
    assert stats["max_concurrent_connections"] >= 200 + 64 + 16
    assert stats["handshake_timeouts"] >= 200 + 64  # every idle and trickling connection was cut at least once
    assert counts["closed_by_server"] >= 200 + 64
    assert "INTERNAL" not in stats["errors"] and stats["busy_refused"] == 0
    with capsys.disabled():
        print(f"\nload test: server held {stats['max_concurrent_connections']} connections at once "
              f"({stats['connections']} in all, {stats['handshake_timeouts']} cut by the handshake deadline, "
              f"{stats['frame_timeouts']} by the frame deadline); 16 devices x {len(images)} images answered "
              f"twice, median latency {probe['total_median_s'] * 1e3:.1f} ms then "
              f"{again['total_median_s'] * 1e3:.1f} ms (p95 {probe['total_p95_s'] * 1e3:.1f} ms); server memory "
              f"{(memory_before or 0) / 1e6:.0f} MB before, {(memory_during or 0) / 1e6:.0f} MB under load")


def test_a_result_for_another_configuration_is_refused_by_the_device(configurations, batch):
    """A server (or anything on the port) answering with another configuration's RESULT: the device took
    its class as its own."""
    listener = socket.create_server(("127.0.0.1", 0))
    own = configurations[0]

    def answer_for_another():
        conn, _ = listener.accept()
        with conn:
            request = wire.read_frame(conn)
            conn.sendall(wire.Frame(wire.MessageType.RESULT, own.config_id ^ 1, request.request_id,
                                    wire.pack_result(3, [0.0] * 10, 0.0, 0.0)).to_bytes())

    thread = threading.Thread(target=answer_for_another)
    thread.start()
    try:
        with DeviceClient(own, *listener.getsockname()) as client:
            with pytest.raises(wire.WireError, match=f"RESULT for configuration {own.config_id ^ 1}, "
                                                     f"expected {own.config_id}"):
                client.infer(batch[0][0])
    finally:
        thread.join(10)
        listener.close()


# -- stopping, limits and deadlines ---------------------------------------------------------------

def test_stopping_a_server_that_holds_connections_logs_no_traceback(configurations, caplog):
    # A stop cancels every connection's handler; asyncio (Python 3.11) logged "Exception in callback
    # ... CancelledError", a traceback per open connection, on every stop and Ctrl-C.
    caplog.set_level(logging.INFO)
    srv = EdgeServer(configurations, handshake_timeout=30).start()
    socks = [raw_connection(srv) for _ in range(3)]
    try:
        assert wait_for(lambda: srv.stats()["open_connections"] == 3)
        srv.stop()
        assert srv.wait(0)
    finally:
        for sock in socks:
            sock.close()
    assert "Exception in callback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resource limits as Linux sets them")
def test_max_connections_must_fit_the_file_descriptor_limit():
    """Each connection is a file descriptor: under ``ulimit -n 256`` a server of 1,024 connections hit
    EMFILE at about 250, and asyncio logged an error at every retry of accept()."""
    pytest.importorskip("resource")
    script = """if True:
        import resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, int(sys.argv[1])))
        from coinfer.serve.server import EdgeServer
        try:
            server = EdgeServer([], **({} if sys.argv[2] == "default" else {"max_connections": int(sys.argv[2])}))
            server.stop()
        except ValueError as error:
            print("refused:", error)
        else:
            print("holds", server.max_connections, "soft limit", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        """

    def run(hard: int, max_connections: int) -> str:
        out = subprocess.run([sys.executable, "-c", script, str(hard), str(max_connections)], env={
            **os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    refused = run(256, 1024)
    assert re.search(r"refused: max_connections 1024 needs \d+ file descriptors .* may open 256 \(soft limit, "
                     r"ulimit -n; hard limit 256\): lower --max-connections to at most \d+ or raise ulimit -n",
                     refused), refused
    fits = int(re.search(r"at most (\d+)", refused).group(1))
    assert run(256, fits - 8) == f"holds {fits - 8} soft limit 256\n"   # what fits needs no change (8: files opened or not)
    # The default is what fits under a hard limit too low for 1,024 (a machine capped at 1,024 must
    # still start a server); a number asked for is never lowered (above).
    holds = int(run(256, "default").split()[1])
    assert fits - 8 <= holds < 256 - 100
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 2048:   # a soft limit below the hard one is raised to fit
        soft = int(run(2048, 1024).split()[-1])
        assert run(2048, "default").startswith("holds 1024 ")
        assert 1024 < soft <= 2048


def test_a_failing_device_does_not_hold_up_the_others_in_a_probe(configurations, batch):
    # The device refused BUSY never reached the second barrier: the other waited 120 s there, failed
    # with BrokenBarrierError, and its three answers were lost.
    from coinfer.serve.load import concurrency_probe

    with EdgeServer(configurations, max_connections=1) as srv:
        probe = concurrency_probe(configurations[1], srv.address, batch[0][:3], clients=2)
    assert probe["answered"] == 3 and len(probe["failures"]) == 1, probe["failures"]
    assert "BrokenBarrier" not in probe["failures"][0]


def test_devices_that_never_meet_make_a_failed_probe_not_a_quiet_one(configurations, batch, monkeypatch):
    # A barrier that times out breaks as one a failing device aborts; with no failure reported, the
    # probe counted nothing against throughput measured as if the devices had run together.
    import threading

    from coinfer.serve import load

    class NeverMet(threading.Barrier):
        def wait(self, timeout=None):
            raise threading.BrokenBarrierError

    monkeypatch.setattr(load.threading, "Barrier", NeverMet)
    with EdgeServer(configurations) as srv:
        probe = load.concurrency_probe(configurations[1], srv.address, batch[0][:2], clients=2)
    assert probe["answered"] == 4
    assert probe["failures"] == ["the 2 devices did not all meet within 30 s: their times are not those of "
                                 "devices running together"]


@pytest.mark.parametrize("rate", [-8000.0, 0.0, float("nan"), float("inf")])
def test_a_bad_link_rate_is_refused_in_bits_per_second_before_connecting(configurations, rate):
    # It was refused after connecting, by the token bucket, in bytes/s ("got -1000.0" for -8000), and
    # the socket was left open (a ResourceWarning when collected).
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def construct() -> str:
        try:
            DeviceClient(configurations[0], *listener.getsockname(), rate_bps=rate)
        except ValueError as error:
            return str(error)
        return "no error"

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            message = construct()
            gc.collect()
        assert message == f"rate_bps must be a finite number of bit/s > 0, or None (unshaped), got {rate!r}"
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        with pytest.raises(socket.timeout):   # it never connected
            listener.accept()[0].close()
    finally:
        listener.close()


def test_a_first_frame_whose_payload_is_late_is_a_frame_timeout(configurations):
    # The first frame's header arrived in time; its payload missed the frame deadline. That was
    # counted as a handshake timeout.
    with EdgeServer(configurations, handshake_timeout=30, frame_timeout=0.3) as srv:
        with raw_connection(srv) as sock:
            sock.sendall(wire.pack_header(wire.MessageType.FEATURE, configurations[0].config_id, 1, 100) + b"x" * 10)
            assert_closed(sock)
        assert wait_for(lambda: srv.stats()["frame_timeouts"] == 1)
        assert srv.stats()["handshake_timeouts"] == 0
        with raw_connection(srv) as sock:   # a first header cut by the frame deadline, shorter here: the frame's
            sock.sendall(wire.pack_header(wire.MessageType.INFO, 0, 1, 0)[:10])
            assert_closed(sock)
        assert wait_for(lambda: srv.stats()["frame_timeouts"] == 2)
        assert srv.stats()["handshake_timeouts"] == 0
