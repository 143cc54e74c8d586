"""Datasets: CIFAR-10 (the paper's) and Fashion-MNIST (the quick preset's), both as 3x32x32 tensors.

CIFAR-10 lives in ``<root>/cifar-10-batches-py`` in its own on-disk format. A folder that is there
is used when every batch file has the md5 torchvision records for the official release; when one
does not, :class:`DatasetUnavailable` names the file and the two ways forward (the official
archive, or vouching for the files with ``--trust-local-data`` / ``COINFER_TRUST_LOCAL_DATA=1``,
which skips the checksum). A present folder never triggers a download. Without the folder, the
official archive ``cifar-10-python.tar.gz`` in ``<root>`` is checked and extracted; without it, the
archive is downloaded (170 MB) unless ``COINFER_OFFLINE=1``, which never touches the network.
The batch files are pickles: they are read by a restricted unpickler that builds only dicts,
lists, strings, numbers and numpy arrays, so even a trusted-but-foreign file cannot run code.

Fashion-MNIST comes through torchvision; where Debian's package ``dataset-fashion-mnist`` is
installed (this project's CI and offline book build), its original files are laid out where
torchvision expects them, so that nothing is downloaded. Fashion-MNIST's 28x28 grey images are
padded to 32x32 and repeated over three channels, so the same network serves both datasets.

Example::

    >>> from coinfer.data import load_dataset
    >>> train = load_dataset("fashion-mnist", train=True)   # 60,000 images, 3x32x32
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset

from coinfer.units import is_count

# torchvision is imported where a data set is read or transformed, not here: importing it takes about
# 2 s (it loads torch._dynamo), which every chapter, command and test process that only reads tables paid.

DATASETS = ("cifar10", "fashion-mnist")

#: Where Debian's ``dataset-fashion-mnist`` puts the original gzip files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Normalization constants. CIFAR-10's: the usual per-channel mean and std of all 50,000 training images. Fashion-
# MNIST's: of the unpadded 28x28 images of all 60,000, the 5,000 validation ones included (training part alone
# 0.2859/0.3529; padded to 32x32 0.2190/0.3318): not fitted to it, and kept, as every committed checkpoint used them.
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


def _transform(name: str, train: bool, augment: bool):
    from torchvision import transforms

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
        # A temporary name of this call's own: two processes laying the files out at once (the
        # sweep's workers on a fresh checkout) must not write into, or rename, each other's file.
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f"{f}.", suffix=".partial")
        try:
            with gzip.open(source / f"{f}.gz", "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / f)  # atomic: a half-written file never looks finished
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return True


#: Environment switches (``1`` turns them on): never touch the network; accept a CIFAR-10 folder whose
#: files differ from the official release (the user vouches for them).
OFFLINE_ENV = "COINFER_OFFLINE"
TRUST_ENV = "COINFER_TRUST_LOCAL_DATA"


def _switch(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def offline() -> bool:
    """Whether ``COINFER_OFFLINE`` forbids every download (then nothing here touches the network).

    Returns
    -------
    bool
        True when the environment variable is ``1`` (or ``true``, ``yes``, ``on``).

    Examples
    --------
    >>> import os
    >>> from coinfer.data import offline
    >>> offline() == (os.environ.get("COINFER_OFFLINE", "") in ("1", "true", "yes", "on"))
    True
    """
    return _switch(OFFLINE_ENV)


def trust_local_data(enable: bool | None = None) -> bool:
    """Whether a local CIFAR-10 folder is used without its checksum; ``enable=True`` turns it on.

    ``enable=True`` sets ``COINFER_TRUST_LOCAL_DATA=1`` for this process and the processes it starts
    (data-loader workers, sub-commands); the CLI's ``--trust-local-data`` calls this. With it, the
    user vouches that the files are CIFAR-10: their pixels and labels are not checked (they are still
    read by the restricted unpickler, so they cannot run code).

    Parameters
    ----------
    enable : bool, optional
        True: turn the switch on. None (default): only report it.

    Returns
    -------
    bool
        The switch's state after the call.

    Examples
    --------
    >>> import os
    >>> from coinfer.data import trust_local_data
    >>> trust_local_data() == (os.environ.get("COINFER_TRUST_LOCAL_DATA", "") in ("1", "true", "yes", "on"))
    True
    """
    if enable:
        os.environ[TRUST_ENV] = "1"
    return _switch(TRUST_ENV)


def _unavailable(name: str, root: Path, error: Exception) -> DatasetUnavailable:
    if name == "fashion-mnist":
        how = ("install Debian's package (sudo apt-get install dataset-fashion-mnist), "
               "or connect to the internet so torchvision can download it, "
               f"or place the four *-ubyte files in {root / 'FashionMNIST' / 'raw'}")
    else:
        how = (f"connect to the internet so it can be downloaded (about 170 MB), or place the official "
               f"archive {CIFAR10_ARCHIVE} ({CIFAR10_URL}, md5 {CIFAR10_ARCHIVE_MD5}) "
               f"or its extracted {CIFAR10_FOLDER} folder in {root}")
    return DatasetUnavailable(f"dataset {name!r} is not in {root} and could not be downloaded "
                              f"({type(error).__name__}: {error}); to fix: {how}")


# -- CIFAR-10 ----------------------------------------------------------------------------------------

# The official release (https://www.cs.toronto.edu/~kriz/cifar.html), as torchvision.datasets.CIFAR10
# records it (tests/test_data.py checks that they agree).
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TRAIN_FILES = {"data_batch_1": "c99cafc152244af753f735de768cd75f",
                       "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                       "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                       "data_batch_4": "634d18415352ddfa80567beed471001a",
                       "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb"}
CIFAR10_TEST_FILES = {"test_batch": "40351d587109b95175f43aff81a1287e"}


def cifar10_official_md5() -> dict[str, str]:
    """The md5 of every official CIFAR-10 batch file (``CIFAR10_TRAIN_FILES``, ``CIFAR10_TEST_FILES``).

    Returns
    -------
    dict
        File name (``data_batch_1`` ... ``data_batch_5``, ``test_batch``) -> md5 hex digest.

    Examples
    --------
    >>> from coinfer.data import cifar10_official_md5
    >>> sorted(cifar10_official_md5())[-1], len(cifar10_official_md5())
    ('test_batch', 6)
    """
    return {**CIFAR10_TRAIN_FILES, **CIFAR10_TEST_FILES}


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_cifar10_folder(folder: str | Path, expected: dict[str, str] | None = None) -> list[str]:
    """What is wrong with a ``cifar-10-batches-py`` folder: one line per missing or differing file.

    Parameters
    ----------
    folder : path
        The extracted folder.
    expected : dict, optional
        File name -> md5; default :func:`cifar10_official_md5` (torchvision's record of the release).

    Returns
    -------
    list of str
        Empty when every file is there with its expected md5; else e.g.
        ``"data_batch_1: md5 0f3c..., expected c99c..."`` or ``"test_batch: missing"``.

    Examples
    --------
    >>> import tempfile
    >>> from coinfer.data import check_cifar10_folder
    >>> check_cifar10_folder(tempfile.mkdtemp())[0]
    'data_batch_1: missing'
    """
    expected = cifar10_official_md5() if expected is None else expected
    found = {name: _md5(Path(folder) / name) if (Path(folder) / name).is_file() else None for name in expected}
    return [f"{name}: missing" if found[name] is None else f"{name}: md5 {found[name]}, expected {md5}"
            for name, md5 in expected.items() if found[name] != md5]


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only plain containers, strings, numbers and numpy arrays; any other class is refused,
    so a pickle cannot run code (the CIFAR-10 batches are pickles of a dict of arrays and lists)."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: a CIFAR-10 batch holds only "
                                         "arrays, lists and strings")
        if module == "_codecs":
            return codecs.encode
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        core = np._core if hasattr(np, "_core") else np.core
        return getattr(core.multiarray if name == "_reconstruct" else core.numeric, name)


def _read_cifar10_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [int(y) for y in entry["labels" if "labels" in entry else "fine_labels"]]
    except Exception as error:
        raise DatasetUnavailable(f"{path} is not a CIFAR-10 batch ({type(error).__name__}: {error})") from error
    if len(labels) != len(data):
        raise DatasetUnavailable(f"{path} holds {len(data)} images but {len(labels)} labels")
    return data, labels


class Cifar10(Dataset):
    """CIFAR-10 read from its ``cifar-10-batches-py`` folder: what ``torchvision.datasets.CIFAR10``
    gives (``data`` uint8 ``(N, 32, 32, 3)``, ``targets``, PIL images through ``transform``), without
    executing the pickles. Use :func:`load_dataset`, which checks the files first.

    Parameters
    ----------
    folder : path
        The ``cifar-10-batches-py`` folder.
    train : bool
        ``data_batch_1`` ... ``data_batch_5`` (True) or ``test_batch``.
    transform : callable, optional
        Applied to each PIL image.
    """

    classes = list(CLASS_NAMES["cifar10"])

    def __init__(self, folder: str | Path, train: bool, transform=None):
        names = list(CIFAR10_TRAIN_FILES if train else CIFAR10_TEST_FILES)
        parts = [_read_cifar10_batch(Path(folder) / n) for n in names]
        self.data = np.vstack([d for d, _ in parts]).transpose(0, 2, 3, 1)  # HWC, as torchvision
        self.targets = [y for _, labels in parts for y in labels]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.data[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


def _cifar10(root: Path, train: bool, transform, trust: bool | None) -> Cifar10:
    trust = trust_local_data() if trust is None else trust
    folder = root / CIFAR10_FOLDER
    if not folder.is_dir():
        _fetch_cifar10(root)
    problems = [] if trust else check_cifar10_folder(folder)
    if problems:
        raise DatasetUnavailable(
            f"CIFAR-10 in {folder} is not the official release: {'; '.join(problems)} "
            "(expected: torchvision's md5 of the official files). Two ways forward: "
            f"(1) use the official files: remove {folder} and put the archive {CIFAR10_ARCHIVE} "
            f"(md5 {CIFAR10_ARCHIVE_MD5}, {CIFAR10_URL}) in {root}, where it is checked and extracted, "
            "or let it download (not with COINFER_OFFLINE=1); "
            "(2) if you vouch for these files, pass --trust-local-data or set COINFER_TRUST_LOCAL_DATA=1 "
            "to use them without the checksum")
    return Cifar10(folder, train, transform)


def _fetch_cifar10(root: Path) -> None:
    """Make ``root/cifar-10-batches-py`` from the official archive: a checked local copy, else a download
    (never with ``COINFER_OFFLINE=1``). Both are written in a temporary folder of this call's own, then renamed
    into place: another process (a sweep's worker) never sees a half-written folder; an interruption leaves none."""
    from torchvision.datasets.utils import check_integrity, download_url, extract_archive

    archive, folder = root / CIFAR10_ARCHIVE, root / CIFAR10_FOLDER
    local = check_integrity(str(archive), CIFAR10_ARCHIVE_MD5)
    if not local and offline():
        state = "is not the official one (md5 differs)" if archive.exists() else "is absent"
        raise _unavailable("cifar10", root, OSError(f"{OFFLINE_ENV}=1 forbids downloading; {folder} is absent and {archive} {state}"))
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{CIFAR10_FOLDER}."))
    try:
        if not local:
            try:
                download_url(CIFAR10_URL, str(staging), filename=CIFAR10_ARCHIVE, md5=CIFAR10_ARCHIVE_MD5)
            except Exception as error:  # URLError, RuntimeError (bad md5), ... offline
                raise _unavailable("cifar10", root, error) from error
            os.replace(staging / CIFAR10_ARCHIVE, archive)     # kept for next time, whole or not at all
        extract_archive(str(archive), str(staging))
        if missing := [name for name in cifar10_official_md5() if not (staging / CIFAR10_FOLDER / name).is_file()]:
            raise DatasetUnavailable(f"{archive} lacks {', '.join(f'{CIFAR10_FOLDER}/{m}' for m in missing)}")
        try:
            os.replace(staging / CIFAR10_FOLDER, folder)
        except OSError:              # a folder is there now: another process's, renamed there whole first
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _torchvision_dataset(name: str, root: Path, train: bool, transform, trust: bool | None = None) -> Dataset:
    if name == "fashion-mnist":
        from torchvision import datasets

        local = lay_out_debian_fashion_mnist(root)
        try:
            return datasets.FashionMNIST(root, train=train, transform=transform,
                                         download=not local and not offline())
        except Exception as error:  # torchvision raises URLError, RuntimeError, ... offline
            if offline():
                error = OSError(f"{OFFLINE_ENV}=1 forbids downloading and the files are not in place")
            raise _unavailable(name, root, error) from error
    return _cifar10(root, train, transform, trust)


def load_dataset(name: str, train: bool, root: str | Path | None = None, augment: bool = False,
                 limit: int | None = None, trust: bool | None = None) -> Dataset:
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
    trust : bool, optional
        Use a local CIFAR-10 folder without comparing its files with the official md5 (the caller
        vouches for them); default :func:`trust_local_data` (``COINFER_TRUST_LOCAL_DATA``).

    Raises
    ------
    DatasetUnavailable
        If the data is neither on disk nor downloadable, or a CIFAR-10 folder's files are not the
        official ones; the message names the file and says what to do.

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
    dataset = _torchvision_dataset(name, root, train, _transform(name, train, augment), trust)
    if _checked_limit(limit) is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    return dataset


@dataclass(frozen=True)
class ValidationSplit:
    """The training images held out for choosing: every choice is made on them, never on the test split.

    ``images`` training images, drawn by a random permutation fixed by ``seed``, form the validation
    split; the rest (in their original order) form the training split. The split is the same for
    every training seed, so that runs with different seeds choose on the same images.

    >>> from coinfer.data import ValidationSplit
    >>> train, val = ValidationSplit(images=3, seed=0).indices(10)
    >>> len(train), len(val), sorted(set(train) | set(val)) == list(range(10))
    (7, 3, True)
    """

    images: int = 5000
    seed: int = 0

    def __post_init__(self):
        if not is_count(self.images, recorded=True):   # the table's provenance records them as JSON
            raise ValueError(f"validation images must be an integer >= 1, got {self.images!r}")
        if not is_count(self.seed, 0, recorded=True):
            raise ValueError(f"validation seed must be an integer >= 0, got {self.seed!r}")

    def indices(self, training_images: int) -> tuple[list[int], list[int]]:
        """``(train, val)`` indices into a training set of ``training_images`` images."""
        if self.images >= training_images:
            raise ValueError(f"a validation split of {self.images} images leaves nothing to train on: "
                             f"the training set has {training_images}")
        order = torch.randperm(training_images, generator=torch.Generator().manual_seed(self.seed))
        val = order[:self.images]
        held = torch.zeros(training_images, dtype=torch.bool)
        held[val] = True
        return torch.nonzero(~held).flatten().tolist(), val.tolist()


PARTS = ("train", "val", "test")


def load_split(name: str, part: str, validation: ValidationSplit = ValidationSplit(), root: str | Path | None = None,
               augment: bool = False, limit: int | None = None, trust: bool | None = None) -> Dataset:
    """One part of a dataset: ``"train"`` (the training split less the validation images), ``"val"``
    (the held-out images, never augmented) or ``"test"`` (the test split, for reporting only).

    Every experiment trains on ``"train"``, chooses on ``"val"`` and reports ``"test"``.

    Parameters
    ----------
    name : {"cifar10", "fashion-mnist"}
        Which dataset.
    part : {"train", "val", "test"}
        Which part.
    validation : ValidationSplit
        The held-out images (a preset's ``validation``).
    root, trust : optional
        As in :func:`load_dataset`.
    augment : bool
        Random crops and flips; only the ``"train"`` part is ever augmented.
    limit : int, optional
        Keep only the first ``limit`` images of the part.

    Returns
    -------
    torch.utils.data.Dataset
        ``(image, label)`` pairs as :func:`load_dataset`'s.

    Examples
    --------
    >>> from coinfer.data import load_split
    >>> len(load_split("fashion-mnist", "val")), len(load_split("fashion-mnist", "train"))
    (5000, 55000)
    """
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
    _checked_limit(limit)
    if part == "test":
        return load_dataset(name, train=False, root=root, limit=limit, trust=trust)
    full = load_dataset(name, train=True, root=root, augment=augment and part == "train", trust=trust)
    train, val = validation.indices(len(full))
    chosen = train if part == "train" else val
    return Subset(full, chosen[:limit] if limit is not None else chosen)


def native_images(name: str, train: bool = False, root: str | Path | None = None,
                  limit: int | None = None, trust: bool | None = None) -> np.ndarray:
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
    trust : bool, optional
        As in :func:`load_dataset`.

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
    data = _torchvision_dataset(name, root, train, None, trust).data
    data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)   # cpu: torchvision keeps it in host memory
    return data[:limit] if _checked_limit(limit) is not None else data   # (a negative one would count from the end)


def _checked_limit(limit):
    """``limit`` if it is None or an integer >= 1 (a cap: the first ``limit`` images, all if fewer)."""
    if limit is not None and not is_count(limit):
        raise ValueError(f"limit must be a positive number of images (an integer >= 1) or None, got {limit!r}")
    return limit


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0,
                num_workers: int | None = None) -> DataLoader:
    """A DataLoader whose batch order is fixed by ``seed``: each epoch's, as :class:`~coinfer.tensor_data.ResidentLoader`'s.

    ``seed`` does not fix augmentation (random crops and flips): without workers it draws from the global torch
    generator (seeded by :func:`coinfer.train.seed_everything`, as the committed results were made); in workers
    from seeds that depend on ``seed`` and the number of workers. And an iterator made and dropped (tqdm.auto,
    in :func:`coinfer.train.fit`) draws a shuffled order with workers, not without. So ``num_workers=None`` picks
    0, but on a GPU host up to 8 for an unshuffled dataset whose transform draws nothing: the same batches.

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
        Loader processes; default as above.

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
        num_workers = min(8, os.cpu_count() or 1) if torch.cuda.is_available() and not shuffle and _draws_nothing(dataset) else 0
    # Not persistent: a persistent worker set skips the draw of its seed from the generator at every epoch
    # after the first, which shifts that epoch's order away from num_workers=0's (and ResidentLoader's).
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed),
                      num_workers=num_workers, pin_memory=torch.cuda.is_available(), persistent_workers=False)


def _draws_nothing(dataset) -> bool:
    """Whether ``dataset``'s transform has only fixed steps; any other may draw random numbers."""
    from torchvision import transforms as T

    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    transform = getattr(dataset, "transform", False)
    steps = transform.transforms if isinstance(transform, T.Compose) else [transform]
    return all(step is None or isinstance(step, (T.Pad, T.Grayscale, T.ToTensor, T.Normalize)) for step in steps)


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
