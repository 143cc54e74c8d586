"""Shared pieces of the serving tests (test_server.py, test_serve_configuration.py, test_experiments_serving.py).

Everything runs on 127.0.0.1 with a width-1/16 network and a few Fashion-MNIST test images; every
server is bounded (stopped by the fixture, or by ``--max-requests``), so every test ends by itself.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch

from coinfer.core.network import resnet18
from coinfer.data import load_dataset
from coinfer.serve import wire
from coinfer.serve.configuration import build_configurations
from coinfer.serve.server import EdgeServer

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
