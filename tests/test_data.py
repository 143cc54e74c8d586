import hashlib
import os
import pickle
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from coinfer import data
from coinfer.data import DatasetUnavailable, load_dataset, make_loader, native_images, png_bytes

from cifar_support import write_tiny_cifar10

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything resolves a name or opens a connection."""
    def forbidden(*args, **kwargs):
        pytest.fail(f"the network was touched: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)


@pytest.fixture
def clean_switches(monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV, "0")
    monkeypatch.setenv(data.TRUST_ENV, "0")


@pytest.fixture
def tiny_cifar(tmp_path, clean_switches):
    """A tiny CIFAR-10 folder (not the official files, so it loads only when trusted)."""
    return tmp_path, write_tiny_cifar10(tmp_path)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10_loads_from_its_on_disk_format(tiny_cifar, no_network):
    root, written = tiny_cifar
    train = load_dataset("cifar10", train=True, root=root, trust=True)
    test = load_dataset("cifar10", train=False, root=root, trust=True)
    assert len(train) == 20 and len(test) == 10
    image, label = test[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label == written["test_batch"][1][3]
    raw = native_images("cifar10", root=root, trust=True)
    assert raw.shape == (10, 32, 32, 3) and raw.dtype == np.uint8
    # torchvision's layout: channel-major rows -> (N, 32, 32, 3); batches in order 1..5
    pixels, _ = written["test_batch"]
    assert np.array_equal(raw, pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    train_raw = native_images("cifar10", train=True, root=root, trust=True)
    assert np.array_equal(train_raw[4:8], written["data_batch_2"][0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert [train[i][1] for i in range(20)] == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])


def test_cifar10_normalization_is_per_channel(tiny_cifar):
    root, _ = tiny_cifar
    image, _ = load_dataset("cifar10", train=False, root=root, trust=True)[0]
    raw = native_images("cifar10", root=root, trust=True)[0].astype(np.float32) / 255
    mean, std = data._STATS["cifar10"]
    expected = (raw.transpose(2, 0, 1) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-5)


def test_the_cifar10_release_coinfer_names_is_the_one_torchvision_records():
    """coinfer.data writes the release's names down (importing torchvision takes seconds): they must be
    torchvision's, batch files in its order."""
    release = datasets.CIFAR10
    assert (data.CIFAR10_FOLDER, data.CIFAR10_ARCHIVE, data.CIFAR10_ARCHIVE_MD5, data.CIFAR10_URL) == (
        release.base_folder, release.filename, release.tgz_md5, release.url)
    assert list(data.CIFAR10_TRAIN_FILES.items()) == [tuple(f) for f in release.train_list]
    assert list(data.CIFAR10_TEST_FILES.items()) == [tuple(f) for f in release.test_list]


def test_reading_tables_does_not_import_torchvision():
    """A chapter or command that only reads stored tables does not pay torchvision's import (seconds)."""
    code = ("import sys, coinfer.config, coinfer.train, coinfer.experiments.plan, coinfer.views.tradeoff; "
            "print('torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "False"


def test_cifar10_checksums_are_torchvisions(tiny_cifar):
    """The folder is compared with torchvision's md5 of the official files, file by file."""
    official = {name: m for name, m in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list}
    assert data.cifar10_official_md5() == official and len(official) == 6
    folder = tiny_cifar[0] / "cifar-10-batches-py"
    problems = data.check_cifar10_folder(folder)
    assert problems == [f"{name}: md5 {md5(folder / name)}, expected {official[name]}" for name in official]
    # the comparison itself: the same files against their own md5 check out; one changed byte is named
    own = {name: md5(folder / name) for name in official}
    assert data.check_cifar10_folder(folder, own) == []
    with open(folder / "data_batch_3", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    assert data.check_cifar10_folder(folder, own) == [
        f"data_batch_3: md5 {md5(folder / 'data_batch_3')}, expected {own['data_batch_3']}"]
    (folder / "test_batch").unlink()
    assert data.check_cifar10_folder(folder, own)[-1] == "test_batch: missing"


@pytest.mark.parametrize("offline", ["1", "0"])
def test_cifar10_folder_that_differs_names_the_file_and_both_ways_forward(tiny_cifar, no_network,
                                                                          monkeypatch, offline):
    """A present folder is never replaced by a download, offline or not: the error says what to do."""
    root, _ = tiny_cifar
    monkeypatch.setenv(data.OFFLINE_ENV, offline)
    folder = root / "cifar-10-batches-py"
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", train=False, root=root)
    message = str(info.value)
    first = datasets.CIFAR10.train_list[0]
    assert f"data_batch_1: md5 {md5(folder / 'data_batch_1')}, expected {first[1]}" in message
    assert f"test_batch: md5 {md5(folder / 'test_batch')}" in message
    assert str(folder) in message and "not the official release" in message
    # way 1: the official archive, named with its md5 and where to put it
    assert "cifar-10-python.tar.gz" in message and datasets.CIFAR10.tgz_md5 in message and str(root) in message
    # way 2: vouch for the files
    assert "--trust-local-data" in message and "COINFER_TRUST_LOCAL_DATA=1" in message
    assert "place the extracted" not in message   # no longer tells the user to put it where it is
    with pytest.raises(DatasetUnavailable, match="data_batch_1"):
        native_images("cifar10", root=root)


def test_cifar10_trust_switch_loads_the_tiny_dataset(tiny_cifar, no_network, monkeypatch):
    root, written = tiny_cifar
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setenv(data.TRUST_ENV, "1")
    assert data.trust_local_data() and data.offline()
    test = load_dataset("cifar10", train=False, root=root)
    assert len(test) == 10 and test[5][1] == written["test_batch"][1][5]
    # an explicit trust=False overrides the environment
    with pytest.raises(DatasetUnavailable, match="test_batch: md5"):
        load_dataset("cifar10", train=False, root=root, trust=False)


def test_cli_trust_local_data_flag(tiny_cifar, no_network, monkeypatch, capsys):
    from coinfer.cli import main

    root, _ = tiny_cifar
    monkeypatch.setenv("COINFER_DATA", str(root))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    argv = ["profile", "--width", "0.0625", "--dataset", "cifar10", "--images", "4", "--json"]
    assert main(argv) == 2
    assert "--trust-local-data" in capsys.readouterr().err
    assert main(argv + ["--trust-local-data"]) == 0
    assert os.environ[data.TRUST_ENV] == "1"   # passed on to loader workers and sub-processes
    assert "png" in capsys.readouterr().out.lower()


def test_cifar10_offline_without_the_folder_never_downloads(tmp_path, clean_switches, no_network, monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", train=False, root=tmp_path)
    message = str(info.value)
    assert "COINFER_OFFLINE=1" in message and "absent" in message and str(tmp_path) in message
    assert "cifar-10-python.tar.gz" in message and datasets.CIFAR10.tgz_md5 in message
    # an archive that is not the official one is not extracted either, and not replaced
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(DatasetUnavailable, match="md5 differs"):
        load_dataset("cifar10", train=False, root=tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_cifar10_archive_is_extracted_then_checked(tmp_path, clean_switches, no_network, monkeypatch):
    """A local archive is extracted (no network); its files then face the same checksum."""
    source = tmp_path / "source"
    write_tiny_cifar10(source)
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive_md5 = md5(root / "cifar-10-python.tar.gz")
    monkeypatch.setattr(data, "CIFAR10_ARCHIVE_MD5", archive_md5)   # the archive's, not the batches'
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetUnavailable, match="data_batch_1: md5"):
        load_dataset("cifar10", train=False, root=root)
    assert (root / "cifar-10-batches-py" / "test_batch").exists()
    assert len(load_dataset("cifar10", train=False, root=root, trust=True)) == 10


def _local_archive(tmp_path, monkeypatch):
    """A root holding only a (tiny) CIFAR-10 archive, whose md5 is made the official one; offline."""
    source, root = tmp_path / "source", tmp_path / "root"
    write_tiny_cifar10(source)
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(data, "CIFAR10_ARCHIVE_MD5", md5(root / "cifar-10-python.tar.gz"))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    return root


def _extracting(monkeypatch, halfway):
    """torchvision's extract_archive, member by member, calling ``halfway()`` after the folder and
    its first file (batches.meta) of the first extraction only."""
    calls = []

    def extract(from_path, to_path=None, remove_finished=False):
        calls.append(to_path)
        with tarfile.open(from_path) as tar:
            for i, member in enumerate(tar.getmembers()):
                if i == 2 and len(calls) == 1:
                    halfway()
                tar.extract(member, to_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        return to_path

    monkeypatch.setattr("torchvision.datasets.utils.extract_archive", extract)
    return calls


def test_cifar10_extracted_by_two_workers_at_once_is_never_seen_half_written(tmp_path, clean_switches, no_network,
                                                                              monkeypatch):
    """Two sweep workers on a fresh checkout holding only the archive: the second used to find the first
    one's half-extracted folder and fail. Each extracts into a folder of its own and renames it into place;
    the one that comes second keeps the folder already there."""
    import threading

    root = _local_archive(tmp_path, monkeypatch)
    paused, go = threading.Event(), threading.Event()
    _extracting(monkeypatch, lambda: (paused.set(), go.wait(60)))
    first = []
    worker = threading.Thread(target=lambda: first.append(load_dataset("cifar10", train=False, root=root, trust=True)))
    worker.start()
    try:
        assert paused.wait(60)                           # the first worker is halfway through its extraction
        second = load_dataset("cifar10", train=False, root=root, trust=True)
    finally:
        go.set()
        worker.join(60)
    assert len(second) == len(first[0]) == 10 and second[3][1] == first[0][3][1]
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]  # no leftovers


def test_an_interrupted_cifar10_extraction_leaves_no_folder(tmp_path, clean_switches, no_network, monkeypatch):
    root = _local_archive(tmp_path, monkeypatch)
    calls = _extracting(monkeypatch, lambda: (_ for _ in ()).throw(OSError("No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        load_dataset("cifar10", train=False, root=root, trust=True)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-python.tar.gz"]   # nothing half written
    assert len(load_dataset("cifar10", train=False, root=root, trust=True)) == 10 and len(calls) == 2


def test_cifar10_batches_cannot_run_code(tiny_cifar, no_network, tmp_path):
    """Even a trusted folder is read by a restricted unpickler: a pickle that calls a function fails."""
    root, _ = tiny_cifar
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": Exploit(), "labels": []}, f, protocol=2)
    with pytest.raises(DatasetUnavailable, match="refusing .*system"):
        load_dataset("cifar10", train=False, root=root, trust=True)
    assert not marker.exists()


def test_cifar10_reads_the_default_pickle_protocol_too(tmp_path, clean_switches):
    folder = tmp_path / "cifar-10-batches-py"
    write_tiny_cifar10(tmp_path)
    pixels = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": pixels, "labels": [3, 7]}, f, protocol=pickle.HIGHEST_PROTOCOL)
    assert np.array_equal(native_images("cifar10", root=tmp_path, trust=True)[1],
                          pixels[1].reshape(3, 32, 32).transpose(1, 2, 0))


def test_missing_dataset_says_what_to_do(tmp_path, clean_switches, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.urllib.request.urlopen", unreachable)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", train=False, root=tmp_path)
    message = str(info.value)
    assert "cifar10" in message and str(tmp_path) in message and "internet" in message


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, clean_switches, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setattr("torchvision.datasets.utils.urllib.request.urlopen",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DatasetUnavailable, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", train=False, root=tmp_path / "root")


def test_fashion_mnist_offline_never_downloads(tmp_path, clean_switches, no_network, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DatasetUnavailable, match="COINFER_OFFLINE=1.*dataset-fashion-mnist"):
        load_dataset("fashion-mnist", train=False, root=tmp_path / "root")


def test_fashion_mnist_laid_out_by_two_processes_at_once(tmp_path, monkeypatch):
    # The sweep's workers on a fresh checkout lay Debian's files out at the same time: a second
    # lay-out that starts while the first is still writing must neither write into the first's
    # file nor rename it away. Simulated in one process: the second starts inside the first's copy.
    import gzip
    import shutil

    source = tmp_path / "debian"
    source.mkdir()
    contents = {f: f"{f} bytes ".encode() * 1000 for f in data._FASHION_FILES}
    for f, body in contents.items():
        (source / f"{f}.gz").write_bytes(gzip.compress(body))
    root, copy, nested = tmp_path / "datasets", shutil.copyfileobj, []

    def copy_while_another_starts(src, dst, *args):
        if not nested:
            nested.append("started")
            nested.append(data.lay_out_debian_fashion_mnist(root, source=source))
        return copy(src, dst, *args)

    monkeypatch.setattr(data.shutil, "copyfileobj", copy_while_another_starts)
    assert data.lay_out_debian_fashion_mnist(root, source=source) and nested == ["started", True]
    raw = root / "FashionMNIST" / "raw"
    assert {f: (raw / f).read_bytes() for f in contents} == contents
    assert sorted(p.name for p in raw.iterdir()) == sorted(contents)     # no temporary file left behind


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="cifar10, fashion-mnist"):
        load_dataset("mnist", train=True)


def test_fashion_mnist_is_real_and_brought_to_3x32x32(fashion_root):
    train = load_dataset("fashion-mnist", train=True, root=fashion_root)
    test = load_dataset("fashion-mnist", train=False, root=fashion_root)
    assert len(train) == 60000 and len(test) == 10000
    image, label = test[0]
    assert image.shape == (3, 32, 32) and 0 <= label < 10
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    # the 2-pixel padding is black (the normalized value of 0)
    assert torch.allclose(image[0, 0], torch.full((32,), -0.2860 / 0.3530), atol=1e-4)
    labels = torch.tensor([test[i][1] for i in range(1000)])
    assert len(labels.unique()) == 10


def test_limit_and_seeded_loader_order(fashion_root):
    subset = load_dataset("fashion-mnist", train=True, root=fashion_root, limit=64)
    assert len(subset) == 64
    order = lambda seed: torch.cat([y for _, y in make_loader(subset, 16, shuffle=True, seed=seed)])
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    with pytest.raises(ValueError, match="limit"):
        load_dataset("fashion-mnist", train=True, root=fashion_root, limit=0)
    # native_images sliced a negative limit from the end (-5: 9,995 images); True counted as 1 image
    for bad in (-5, 0, True, 2.5):
        with pytest.raises(ValueError, match=rf"limit must be a positive number of images .* got {bad!r}"):
            native_images("fashion-mnist", train=False, root=fashion_root, limit=bad)
    assert native_images("fashion-mnist", train=False, root=fashion_root, limit=np.int64(3)).shape[0] == 3


def test_png_is_lossless(fashion_root):
    from io import BytesIO

    from PIL import Image

    image = native_images("fashion-mnist", root=fashion_root, limit=1)[0]
    decoded = np.array(Image.open(BytesIO(png_bytes(image))))
    assert np.array_equal(decoded, image)


def test_the_validation_split_is_held_out_of_training_fixed_and_unaugmented(fashion_root):
    from coinfer.data import ValidationSplit, load_split

    split = ValidationSplit(images=500, seed=3)
    train = load_split("fashion-mnist", "train", split, root=fashion_root, augment=True)
    val = load_split("fashion-mnist", "val", split, root=fashion_root, augment=True)
    test = load_split("fashion-mnist", "test", split, root=fashion_root)
    assert (len(train), len(val), len(test)) == (59_500, 500, 10_000)
    assert not set(train.indices) & set(val.indices)                      # never trained on
    assert val.indices == load_split("fashion-mnist", "val", split, root=fashion_root).indices   # fixed by its seed
    assert val.indices != load_split("fashion-mnist", "val", ValidationSplit(500, 4), root=fashion_root).indices
    assert torch.equal(val[0][0], val[0][0])                               # no random crops or flips
    # the same image as the training split's own, unaugmented
    raw = load_dataset("fashion-mnist", train=True, root=fashion_root)
    assert torch.equal(val[7][0], raw[val.indices[7]][0])
    assert len(load_split("fashion-mnist", "train", split, root=fashion_root, limit=64)) == 64


@pytest.mark.parametrize("kwargs,message", [
    ({"part": "validation"}, "unknown part 'validation'; choose one of train, val, test"),
    ({"part": "val", "limit": 0}, "limit must be a positive"),
    ({"part": "val", "validation": "ValidationSplit(images=60000)"}, "leaves nothing to train on"),
])
def test_load_split_refuses_bad_input(fashion_root, kwargs, message):
    from coinfer.data import ValidationSplit, load_split

    if isinstance(kwargs.get("validation"), str):
        kwargs["validation"] = ValidationSplit(images=60_000)
    with pytest.raises(ValueError, match=message):
        load_split("fashion-mnist", root=fashion_root, **kwargs)


@pytest.mark.parametrize("images,seed", [(0, 0), (-5, 0), (True, 0), (10, -1), (10, 1.5)])
def test_a_validation_split_refuses_bad_sizes_and_seeds(images, seed):
    from coinfer.data import ValidationSplit

    with pytest.raises(ValueError, match="validation"):
        ValidationSplit(images=images, seed=seed)


def test_a_numpy_integer_is_a_count_and_a_bool_is_not():
    from coinfer.units import is_count

    assert is_count(np.int64(5)) and is_count(np.uint8(0), low=0) and not is_count(np.int64(0))
    assert not is_count(True) and not is_count(5.0) and not is_count("5") and not is_count(None)
