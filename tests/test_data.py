import pickle

import numpy as np
import pytest
import torch

from coinfer import data
from coinfer.data import DatasetUnavailable, load_dataset, make_loader, native_images, png_bytes


def write_tiny_cifar10(root, n_train=20, n_test=10, seed=0):
    """Write a tiny dataset in CIFAR-10's own on-disk format (cifar-10-batches-py, pickled dicts)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = {}
    batches = [(f"data_batch_{i}", n_train // 5) for i in range(1, 6)] + [("test_batch", n_test)]
    for name, n in batches:
        batch = {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, size=n).tolist(), "batch_label": name}
        labels[name] = batch["labels"]
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(data.CLASS_NAMES["cifar10"])}, f)
    return labels


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    labels = write_tiny_cifar10(tmp_path)
    # torchvision checks the md5 of the real files; these are not the real files.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    return tmp_path, labels


def test_cifar10_loads_from_its_on_disk_format(tiny_cifar):
    root, labels = tiny_cifar
    train = load_dataset("cifar10", train=True, root=root)
    test = load_dataset("cifar10", train=False, root=root)
    assert len(train) == 20 and len(test) == 10
    image, label = test[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label == labels["test_batch"][3]
    raw = native_images("cifar10", root=root)
    assert raw.shape == (10, 32, 32, 3) and raw.dtype == np.uint8


def test_cifar10_normalization_is_per_channel(tiny_cifar):
    root, _ = tiny_cifar
    image, _ = load_dataset("cifar10", train=False, root=root)[0]
    raw = native_images("cifar10", root=root)[0].astype(np.float32) / 255
    mean, std = data._STATS["cifar10"]
    expected = (raw.transpose(2, 0, 1) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-5)


def test_missing_dataset_says_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.urllib.request.urlopen", offline)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", train=False, root=tmp_path)
    message = str(info.value)
    assert "cifar10" in message and str(tmp_path) in message and "internet" in message


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setattr("torchvision.datasets.utils.urllib.request.urlopen",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DatasetUnavailable, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", train=False, root=tmp_path / "root")


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


def test_png_is_lossless(fashion_root):
    from io import BytesIO

    from PIL import Image

    image = native_images("fashion-mnist", root=fashion_root, limit=1)[0]
    decoded = np.array(Image.open(BytesIO(png_bytes(image))))
    assert np.array_equal(decoded, image)
