"""A tiny CIFAR-10 in its real on-disk format, for the tests that load CIFAR-10 without the real files."""

from __future__ import annotations

import pickle

import numpy as np

from coinfer.data import CLASS_NAMES


def write_tiny_cifar10(root, n_train=20, n_test=10, seed=0, pixels=None):
    """Write a tiny dataset in CIFAR-10's own on-disk format: cifar-10-batches-py, one pickled dict
    per batch (protocol 2, as the official Python 2 files), uint8 rows of 3,072 channel-major pixels.
    ``pixels(rng, n)`` makes a batch's rows (default: uniform noise). Returns ``{batch name: (pixels, labels)}``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    batches = [(f"data_batch_{i}", n_train // 5) for i in range(1, 6)] + [("test_batch", n_test)]
    for name, n in batches:
        rows = pixels(rng, n) if pixels is not None else rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        batch = {"data": np.asarray(rows, dtype=np.uint8),
                 "labels": rng.integers(0, 10, size=n).tolist(), "batch_label": name,
                 "filenames": [f"image_{i}.png" for i in range(n)]}
        written[name] = (batch["data"], batch["labels"])
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CLASS_NAMES["cifar10"])}, f, protocol=2)
    return written
