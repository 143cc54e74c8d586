"""Shared fixtures: small networks and the real Fashion-MNIST files (Debian's package or a download)."""

from __future__ import annotations

import pytest
import torch

from coinfer.models import resnet18


@pytest.fixture
def tiny_net():
    """A width-1/16 ResNet18 in eval mode with non-trivial BN statistics, seeded."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory):
    """A dataset folder holding Fashion-MNIST, laid out from Debian's package when installed."""
    from coinfer.data import DEBIAN_FASHION_MNIST, lay_out_debian_fashion_mnist

    if not DEBIAN_FASHION_MNIST.exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    root = tmp_path_factory.mktemp("datasets")
    assert lay_out_debian_fashion_mnist(root)
    return root


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test (see tests/browser_support.py)."""
    from browser_support import start_chromium

    driver = start_chromium()
    yield driver
    driver.quit()
