"""The feature cache: what a frozen device part sends, computed once (:class:`FeatureSource`).

The encoding experiment, JSCC and the baselines train small codecs in front of a frozen backbone;
they read the backbone's features from here.
"""

from __future__ import annotations

import copy
import itertools

import torch

from coinfer.core.network import fold_batchnorm
from coinfer.data import make_loader
from coinfer.tensor_data import DataPath, ResidentLoader, copy_to_device, training_batches


class FeatureSource:
    """Features of a frozen ``device_part`` over ``dataset``, with their labels: the one feature cache.

    The encoding experiment, JSCC and the baselines train small codecs in front of a frozen
    backbone, so the device part's outputs need computing only once. ``precompute=True`` runs the
    device part (eval mode, no gradients) over ``dataset`` in order and keeps ``features`` and
    ``labels`` on the CPU; otherwise every batch runs the device part again (large features,
    augmented images). Shuffled batches without the cache are training batches, on
    :attr:`training_path`: on CUDA the images are held on the device once and augmented there, and
    the frozen device part runs under bf16 autocast, in channels_last and with its batch norms folded
    into its convolutions (a copy; its features are handed on as float32); on the
    CPU they come from :func:`coinfer.data.make_loader` in float32, as always. Batches in order (the
    cache itself, evaluation, k-means, entropy models) are float32 on every device.

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
        self._resident = None              # the training images on the device, once copied there
        self._training_parts = {}          # the device part as a training path runs it, made once per path
        if precompute:
            feats, labels = [], []
            for images, y in self._loader(batch_size, shuffle=False, seed=0):
                feats.append(self._run(images).cpu())
                labels.append(y)
            self.features, self.labels = torch.cat(feats), torch.cat(labels)

    @classmethod
    def from_tensors(cls, features: torch.Tensor, labels: torch.Tensor,
                     device: torch.device | None = None) -> "FeatureSource":
        """A source over ``features`` ``[N, ...]`` and ``labels`` ``[N]`` already computed; batches go to
        ``device`` (default the CPU).

        >>> FeatureSource.from_tensors(torch.zeros(5, 2, 3), torch.zeros(5, dtype=torch.long)).feature_shape
        (2, 3)
        """
        source = cls.__new__(cls)
        source.device_part, source.dataset = None, None
        source.device = device or torch.device("cpu")
        source.features, source.labels, source._resident, source._training_parts = features, labels, None, {}
        return source

    def __len__(self) -> int:
        return len(self.labels) if self.features is not None else len(self.dataset)

    @property
    def training_path(self) -> DataPath:
        """How training on this source's shuffled batches runs: :meth:`DataPath.for_device` when the
        source reads images (no cache), the plain float32 path when its features are cached.

        >>> path = FeatureSource.from_tensors(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)).training_path
        >>> path  # doctest: +NORMALIZE_WHITESPACE
        DataPath(resident=False, autocast=None, channels_last=False, compile=False, kept_channels=False,
                 stack_codes=False, fold_batchnorm=False, compile_frozen=False, compile_codecs=False,
                 compile_backend='inductor')
        """
        return DataPath.for_device(self.device) if self.features is None else DataPath()

    def _loader(self, batch_size: int, shuffle: bool, seed: int):
        if not shuffle:
            return make_loader(self.dataset, batch_size, shuffle=False, seed=seed)
        # Training batches: the one data path (the same batches as make_loader's on the CPU).
        if self._resident is not None and self._resident.batch_size == batch_size:
            return self._resident.with_seed(seed)
        loader = training_batches(self.dataset, batch_size, seed, self.device)
        if isinstance(loader, ResidentLoader):
            self._resident = loader
        return loader

    def _part_for(self, path: DataPath | None) -> torch.nn.Module:
        """The device part as ``path`` runs it: a copy with its batch norms folded
        (:func:`coinfer.core.network.fold_batchnorm`), in channels_last and compiled
        (:meth:`~coinfer.tensor_data.DataPath.prepare_frozen`) where the path asks; the frozen part
        itself otherwise (and for batches in order)."""
        if path is None or not (path.fold_batchnorm or path.channels_last or path.compile_frozen):
            return self.device_part
        key = (path.fold_batchnorm, path.channels_last, path.compile_frozen)
        if key not in self._training_parts:
            part = fold_batchnorm(self.device_part) if path.fold_batchnorm else copy.deepcopy(self.device_part)
            part = part.to(memory_format=torch.channels_last) if path.channels_last else part
            self._training_parts[key] = path.prepare_frozen(part, self.device)
        return self._training_parts[key]

    @torch.no_grad()
    def _run(self, images: torch.Tensor, path: DataPath | None = None) -> torch.Tensor:
        dtype = path.dtype if path is not None else None
        with torch.autocast(torch.device(self.device).type, dtype=dtype, enabled=dtype is not None):
            features = self._part_for(path)(images.to(self.device))
        if path is not None and path.compile_frozen and features.is_cuda:
            # A CUDA graph (compiled frozen parts) writes every replay's output to the same memory.
            return features.to(torch.float32, copy=True)
        return features.float() if dtype is not None else features

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """``(features, labels)`` batches on ``self.device`` (labels too: they meet the logits there), in
        order or, with ``shuffle``, in a random order fixed by ``seed``.

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
                idx = copy_to_device(order[i:i + batch_size], self.features.device)   # where it indexes
                yield copy_to_device(self.features[idx], self.device), copy_to_device(self.labels[idx], self.device)
        else:
            path = self.training_path if shuffle else None
            for images, y in self._loader(batch_size, shuffle, seed):
                yield self._run(images, path), y.to(self.device)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one image's feature."""
        if self.features is not None:
            return tuple(self.features.shape[1:])
        images, _ = next(iter(self._loader(2, shuffle=False, seed=0)))
        return tuple(self._run(images).shape[1:])
