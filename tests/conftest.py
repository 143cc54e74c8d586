"""Shared fixtures: small networks and the real Fashion-MNIST files (Debian's package or a download)."""

from __future__ import annotations

import fnmatch
import os
import sys

import pytest
import torch

from coinfer.core.network import resnet18


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test drew: pyplot keeps every open figure, and a worker process runs
    hundreds of tests (matplotlib warns past 20)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def load_book_extension():
    """The book's Sphinx extension (book/_ext/coinfer_book.py) as a module, outside a build."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "book" / "_ext" / "coinfer_book.py"
    spec = importlib.util.spec_from_file_location("coinfer_book", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture
def slow_check(request):
    """Skip a test that takes minutes unless slow checks were asked for: ``-m slow`` or
    ``COINFER_SLOW=1`` (.ci/run sets it; one name for every slow test)."""
    if "slow" not in (request.config.getoption("-m") or "") and os.environ.get("COINFER_SLOW") != "1":
        pytest.skip("a slow check (minutes): run with -m slow or COINFER_SLOW=1")


#: The steps after ``make book`` collect only the files their tests live in (``make browser-test``,
#: ``make pdf``, ``make fresh-env-test``): collecting the whole suite to select a marker took 10 s each.
#: So a test with one of these markers must live in a file whose name matches its pattern.
MARKER_FILES = {"browser": "test_*browser*.py", "pdf": "test_*pdf*.py", "fresh_env": "test_fresh_env*.py"}


def _check_marker_files(items) -> None:
    misplaced = [f"{item.nodeid} (marked {marker}: its file must match {pattern})"
                 for item in items for marker, pattern in MARKER_FILES.items()
                 if item.get_closest_marker(marker) and not fnmatch.fnmatch(item.path.name, pattern)]
    if misplaced:
        raise pytest.UsageError("tests the Makefile would not collect:\n  " + "\n  ".join(misplaced))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``fresh_env`` build a new virtualenv (minutes): run them only when asked,
    with ``-m fresh_env`` or ``COINFER_FRESH_ENV=1`` (``make fresh-env-test``, .ci/run). Every test
    with a marker of ``MARKER_FILES`` must be in a file its pattern matches."""
    _check_marker_files(items)
    if os.environ.get("COINFER_FRESH_ENV") == "1" or "fresh_env" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="builds a new virtualenv: run `make fresh-env-test` (COINFER_FRESH_ENV=1)")
    for item in items:
        if "fresh_env" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, config):
    """Print what tests/test_fresh_env.py measured: the install, then each chapter's run time."""
    times = getattr(config, "_coinfer_fresh_env_times", None)
    if not times:
        return
    terminalreporter.section("fresh environment (benchmarks/out/fresh_env.json)")
    for line in getattr(config, "_coinfer_fresh_env_notes", []):
        terminalreporter.write_line(line)
    for name, seconds in times.items():
        terminalreporter.write_line(f"{name:<28} {seconds:7.1f} s")
