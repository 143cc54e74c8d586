"""Datasets: CIFAR-10 (the paper's) and Fashion-MNIST (the quick preset's), both as 3x32x32 tensors.

CIFAR-10 comes through torchvision and downloads on first use. Fashion-MNIST comes through
torchvision too; where Debian's package ``dataset-fashion-mnist`` is installed (this project's CI
and offline book build), its original files are laid out where torchvision expects them, so that
nothing is downloaded. Fashion-MNIST's 28x28 grey images are padded to 32x32 and repeated over
three channels, so the same network serves both datasets.

Example::

    >>> from coinfer.data import load_dataset
    >>> train = load_dataset("fashion-mnist", train=True)   # 60,000 images, 3x32x32
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms

DATASETS = ("cifar10", "fashion-mnist")

#: Where Debian's ``dataset-fashion-mnist`` puts the original gzip files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Per-channel statistics of the training splits, for input normalization.
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "fashion-mnist": ((0.2860,) * 3, (0.3530,) * 3),
}

CLASS_NAMES = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}


class DatasetUnavailable(RuntimeError):
    """A dataset was asked for and could be neither found on disk nor downloaded."""


def default_root() -> Path:
    """Where datasets live: :func:`coinfer.paths.data_dir`.

    Returns
    -------
    pathlib.Path
        ``$COINFER_DATA`` if set, else ``<checkout>/data``.

    Examples
    --------
    >>> from coinfer.data import default_root
    >>> default_root().name
    'data'
    """
    from coinfer.paths import data_dir

    return data_dir()


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available datasets are {', '.join(DATASETS)}")
    return name


def _transform(name: str, train: bool, augment: bool) -> transforms.Compose:
    mean, std = _STATS[name]
    steps: list = []
    if name == "fashion-mnist":
        steps += [transforms.Pad(2), transforms.Grayscale(num_output_channels=3)]
    if train and augment:
        steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def lay_out_debian_fashion_mnist(root: Path, source: Path | None = None) -> bool:
    """Decompress Debian's Fashion-MNIST files into ``root/FashionMNIST/raw`` for torchvision.

    torchvision refuses the Debian ``.gz`` files as a finished download (their gzip checksums
    differ from its list), but reads the decompressed files. Returns whether the files are in place.

    Parameters
    ----------
    root : pathlib.Path
        The dataset folder torchvision is given (the files go to ``root/FashionMNIST/raw``).
    source : pathlib.Path, optional
        Folder holding the four ``*-ubyte.gz`` files (default :data:`DEBIAN_FASHION_MNIST`).

    Returns
    -------
    bool
        True when the four decompressed files are in place (already, or now); False when
        ``source`` lacks them (then torchvision must download).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from coinfer.data import DEBIAN_FASHION_MNIST, lay_out_debian_fashion_mnist
    >>> root = Path(tempfile.mkdtemp())
    >>> lay_out_debian_fashion_mnist(root) == DEBIAN_FASHION_MNIST.exists()
    True
    >>> lay_out_debian_fashion_mnist(Path(tempfile.mkdtemp()), source=root)   # no .gz files there
    False
    """
    source = Path(source) if source is not None else DEBIAN_FASHION_MNIST
    raw = Path(root) / "FashionMNIST" / "raw"
    if all((raw / f).exists() for f in _FASHION_FILES):
        return True
    if not all((source / f"{f}.gz").exists() for f in _FASHION_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for f in _FASHION_FILES:
        tmp = raw / f"{f}.partial"
        with gzip.open(source / f"{f}.gz", "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(raw / f)  # atomic: a half-written file never looks finished
    return True


def _unavailable(name: str, root: Path, error: Exception) -> DatasetUnavailable:
    if name == "fashion-mnist":
        how = ("install Debian's package (sudo apt-get install dataset-fashion-mnist), "
               "or connect to the internet so torchvision can download it, "
               f"or place the four *-ubyte files in {root / 'FashionMNIST' / 'raw'}")
    else:
        how = ("connect to the internet so torchvision can download it (about 170 MB), "
               f"or place the extracted cifar-10-batches-py folder in {root}")
    return DatasetUnavailable(f"dataset {name!r} is not in {root} and could not be downloaded "
                              f"({type(error).__name__}: {error}); to fix: {how}")


def _torchvision_dataset(name: str, root: Path, train: bool, transform) -> Dataset:
    if name == "fashion-mnist":
        local = lay_out_debian_fashion_mnist(root)
        try:
            return datasets.FashionMNIST(root, train=train, transform=transform, download=not local)
        except Exception as error:  # torchvision raises URLError, RuntimeError, ... offline
            raise _unavailable(name, root, error) from error
    try:
        return datasets.CIFAR10(root, train=train, transform=transform, download=True)
    except Exception as error:
        raise _unavailable(name, root, error) from error


def load_dataset(name: str, train: bool, root: str | Path | None = None, augment: bool = False,
                 limit: int | None = None) -> Dataset:
    """A dataset split as normalized 3x32x32 float tensors with integer labels.

    Parameters
    ----------
    name : {"cifar10", "fashion-mnist"}
        Which dataset. Fashion-MNIST's 28x28 grey images are padded by 2 pixels and repeated
        over 3 channels; both are normalized with their training split's mean and std.
    train : bool
        The training split (50,000 / 60,000 images) or the test split (10,000 images).
    root : path, optional
        Dataset folder; default :func:`default_root`.
    augment : bool
        Random crops (4-pixel padding) and horizontal flips, for training.
    limit : int, optional
        Keep only the first ``limit`` images (for tests and quick runs).

    Raises
    ------
    DatasetUnavailable
        If the data is neither on disk nor downloadable; the message says what to do.

    Returns
    -------
    torch.utils.data.Dataset
        Items are ``(image, label)``: a float tensor ``(3, 32, 32)`` and an int in 0..9.

    Examples
    --------
    >>> from coinfer.data import load_dataset
    >>> test = load_dataset("fashion-mnist", train=False, limit=8)
    >>> image, label = test[0]
    >>> len(test), tuple(image.shape), label
    (8, (3, 32, 32), 9)
    """
    _check_name(name)
    root = Path(root) if root is not None else default_root()
    dataset = _torchvision_dataset(name, root, train, _transform(name, train, augment))
    if limit is not None:
        if not 0 < limit:
            raise ValueError(f"limit must be a positive number of images, got {limit!r}")
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    return dataset


def native_images(name: str, train: bool = False, root: str | Path | None = None,
                  limit: int | None = None) -> np.ndarray:
    """The dataset's images as stored, uint8 ``[N, H, W]`` (grey) or ``[N, H, W, 3]`` (colour).

    These are what a server-based system would send; :func:`coinfer.core.costs.input_size` measures
    their raw and PNG sizes.

    Parameters
    ----------
    name : {"cifar10", "fashion-mnist"}
        Which dataset.
    train : bool
        Training split (default: the test split).
    root : str or Path, optional
        Dataset folder; default :func:`default_root`.
    limit : int, optional
        Keep only the first ``limit`` images.

    Returns
    -------
    numpy.ndarray
        uint8 pixels, 0..255; Fashion-MNIST ``(N, 28, 28)``, CIFAR-10 ``(N, 32, 32, 3)``.

    Examples
    --------
    >>> from coinfer.data import native_images
    >>> images = native_images("fashion-mnist", limit=4)
    >>> images.shape, images.dtype
    ((4, 28, 28), dtype('uint8'))
    """
    _check_name(name)
    root = Path(root) if root is not None else default_root()
    data = _torchvision_dataset(name, root, train, transform=None).data
    # torchvision keeps a dataset's arrays in host memory, so no .cpu() is needed here.
    data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)   # cpu: host-memory dataset
    return data[:limit] if limit is not None else data


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0,
                num_workers: int | None = None) -> DataLoader:
    """A DataLoader whose shuffling order (and augmentation, per worker) is fixed by ``seed``.

    ``num_workers=None`` picks 0 without a GPU (worker processes only cost time on a small CPU) and
    up to 8 with one, where decoding and augmenting images in the main process would starve the GPU
    (a full-width ResNet18 trains at about 9,000 images/s on an H200 with 8 workers).

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        For example from :func:`load_dataset`.
    batch_size : int
        Images per batch (the last batch may be smaller).
    shuffle : bool
        Draw a new order each epoch (reproducible: the same ``seed`` gives the same orders).
    seed : int
        Seed of the loader's own random generator.
    num_workers : int, optional
        Loader processes; default as above (0 on a CPU, up to 8 with a GPU).

    Returns
    -------
    torch.utils.data.DataLoader
        Batches of ``(images, labels)``: ``(B, 3, 32, 32)`` floats and ``(B,)`` ints.

    Examples
    --------
    >>> from coinfer.data import load_dataset, make_loader
    >>> loader = make_loader(load_dataset("fashion-mnist", train=False, limit=10), batch_size=4, shuffle=False)
    >>> [tuple(images.shape) for images, labels in loader]
    [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    """
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1) if torch.cuda.is_available() else 0
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0)


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG encoding of one uint8 image (Pillow, default compression level).

    Parameters
    ----------
    image : numpy.ndarray
        uint8 pixels, ``(H, W)`` grey or ``(H, W, 3)`` colour.

    Returns
    -------
    bytes
        The PNG file; ``8 * len(...)`` is its size in bits.

    Examples
    --------
    >>> import numpy as np
    >>> from coinfer.data import png_bytes
    >>> flat = np.zeros((28, 28), dtype=np.uint8)        # a blank image compresses well
    >>> png = png_bytes(flat)
    >>> png[:4], len(png) < 28 * 28
    (b'\x89PNG', True)
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Feature caches: what a frozen device part sends, computed once
# --------------------------------------------------------------------------------------------


class FeatureSource:
    """Features of a frozen ``device_part`` over ``dataset``, with their labels: the one feature cache.

    The encoding experiment, JSCC and the baselines train small codecs in front of a frozen
    backbone, so the device part's outputs need computing only once. ``precompute=True`` runs the
    device part (eval mode, no gradients) over ``dataset`` in order and keeps ``features`` and
    ``labels`` on the CPU; otherwise every batch runs the device part again (large features,
    augmented images).

    Parameters
    ----------
    device_part : torch.nn.Module
        The frozen part before the split (put in eval mode here).
    dataset : torch.utils.data.Dataset
        ``(image, label)`` pairs, e.g. from :func:`load_dataset`.
    precompute : bool
        Cache the features in memory (default) or run the device part per batch.
    batch_size : int
        Images per device-part batch while computing.
    device : torch.device, optional
        Where the device part runs and batches are delivered; default where its weights are.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> images, labels = torch.randn(10, 3, 4, 4), torch.arange(10)
    >>> source = FeatureSource(torch.nn.Flatten(), TensorDataset(images, labels), batch_size=4)
    >>> len(source), source.feature_shape
    (10, (48,))
    >>> [tuple(f.shape) for f, y in source.batches(6)]
    [(6, 48), (4, 48)]
    """

    def __init__(self, device_part: torch.nn.Module, dataset, precompute: bool = True, batch_size: int = 500,
                 device: torch.device | None = None):
        # Default: where the device part's weights are, so that its input batches go there too.
        self.device_part, self.dataset = device_part.eval(), dataset
        first = next(itertools.chain(device_part.parameters(), device_part.buffers()), None)
        self.device = device or (first.device if first is not None else torch.device("cpu"))
        self.features = self.labels = None
        if precompute:
            feats, labels = [], []
            for images, y in self._loader(batch_size, shuffle=False, seed=0):
                feats.append(self._run(images).cpu())
                labels.append(y)
            self.features, self.labels = torch.cat(feats), torch.cat(labels)

    @classmethod
    def from_tensors(cls, features: torch.Tensor, labels: torch.Tensor,
                     device: torch.device | None = None) -> "FeatureSource":
        """A source over features already computed (kept where they are; batches go to ``device``).

        Parameters
        ----------
        features : torch.Tensor
            ``[N, *feature_shape]``.
        labels : torch.Tensor
            ``[N]`` class indices.
        device : torch.device, optional
            Where :meth:`batches` delivers them (default the CPU).

        >>> FeatureSource.from_tensors(torch.zeros(5, 2, 3), torch.zeros(5, dtype=torch.long)).feature_shape
        (2, 3)
        """
        source = cls.__new__(cls)
        source.device_part, source.dataset = None, None
        source.device = device or torch.device("cpu")
        source.features, source.labels = features, labels
        return source

    def __len__(self) -> int:
        return len(self.labels) if self.features is not None else len(self.dataset)

    def _loader(self, batch_size: int, shuffle: bool, seed: int):
        return make_loader(self.dataset, batch_size, shuffle=shuffle, seed=seed)

    @torch.no_grad()
    def _run(self, images: torch.Tensor) -> torch.Tensor:
        return self.device_part(images.to(self.device))

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """``(features, labels)`` batches on ``self.device`` (labels too: they meet the logits there).

        Parameters
        ----------
        batch_size : int
            Images per batch (the last may be smaller).
        shuffle : bool
            A random order, fixed by ``seed``.
        seed : int
            Seed of the order.

        >>> source = FeatureSource.from_tensors(torch.arange(5.0)[:, None], torch.arange(5))
        >>> [y.tolist() for _, y in source.batches(2)]
        [[0, 1], [2, 3], [4]]
        """
        if self.features is not None:
            if shuffle:
                order = torch.randperm(len(self.features), generator=torch.Generator().manual_seed(seed))
            else:
                order = torch.arange(len(self.features))
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                yield self.features[idx].to(self.device), self.labels[idx].to(self.device)
        else:
            for images, y in self._loader(batch_size, shuffle, seed):
                yield self._run(images), y.to(self.device)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one image's feature."""
        if self.features is not None:
            return tuple(self.features.shape[1:])
        images, _ = next(iter(self._loader(2, shuffle=False, seed=0)))
        return tuple(self._run(images).shape[1:])
