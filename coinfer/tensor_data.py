"""The GPU data path: a training set held on the device as one uint8 tensor, augmented and
normalized there, with the precision and memory-layout choices that go with it.

On a GPU the CPU data path (PIL images, one torchvision transform per image, loader processes) can
be the bottleneck of a full-width ResNet18 on 32x32 images, where a machine has few CPU cores for
it: the whole CIFAR-10 training set is 150 MB as uint8, so it is kept on the device and each batch
is cropped, flipped and normalized there in a few tensor operations. (On the device check's H200,
whose 16 cores kept 8 loader processes ahead, one training ran about as fast on either path at batch
128, the loader path's rate varying most between runs; a step there waits on kernel launches, which
``compile`` replays as CUDA graphs. ``book/paper_scale.md`` gives the measurements.) :class:`DataPath` is the one place
that decides what a training run uses; :meth:`DataPath.for_device` turns the GPU path on for CUDA
(bf16 autocast only on a GPU that computes in bf16 natively, :func:`native_bf16`; the kept channels
not, as measured there) and off for the CPU, where the CPU path is left exactly as it was. Every
training on images asks it: the baseline
(:func:`coinfer.train.train_baseline`), the pruning fine-tunes
(:func:`coinfer.experiments.pruning.prune_finetune` with
:func:`~coinfer.experiments.pruning.fine_tune_batches`) and codec training on images
(:attr:`coinfer.core.features.FeatureSource.training_path`). No step waits for the GPU: what a step
draws on the CPU (a batch's indices, a channel's noise) goes there by :func:`copy_to_device`, and
nothing in it reads a value back (``tests/test_host_reads.py``).

    >>> import torch
    >>> from coinfer.tensor_data import DataPath
    >>> DataPath.for_device(torch.device("cpu"))  # doctest: +NORMALIZE_WHITESPACE
    DataPath(resident=False, autocast=None, channels_last=False, compile=False, kept_channels=False, stack_codes=False,
             fold_batchnorm=False, compile_frozen=False, compile_codecs=False, compile_backend='inductor')
    >>> DataPath.for_device(torch.device("cuda")).autocast
    'bfloat16'

:class:`ResidentLoader` is a drop-in for :func:`coinfer.data.make_loader` over a dataset of
:func:`coinfer.data.load_split` or :func:`coinfer.data.load_dataset`: the same batch order for the
same seed (it draws the order with the same sampler and generator), the same images when the
dataset does not augment (bit for bit on the CPU), and the same distribution of crops (4-pixel
zero padding, 9 x 9 offsets) and flips (one half) when it does (``tests/test_tensor_data.py``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Subset

#: Environment switch for ``torch.compile`` on CUDA, off by default, since compiling costs a minute or
#: more per network shape, which only pays off on long runs: ``frozen`` compiles the frozen parts codecs
#: train with (``DataPath.compile_frozen``), ``1`` those and every trained network (``compile``), ``all``
#: the codecs' training steps too (``compile_codecs``).
COMPILE_ENV = "COINFER_COMPILE"
#: ``torch.compile``'s backends a :class:`DataPath` takes (``compile_backend``).
COMPILE_BACKENDS = ("inductor", "aot_eager")
#: Each value: (``compile``, ``compile_frozen``, ``compile_codecs``).
_COMPILE_VALUES = {"": (False, False, False), "0": (False, False, False), "false": (False, False, False),
                   "no": (False, False, False), "off": (False, False, False), "frozen": (False, True, False),
                   "1": (True, True, False), "true": (True, True, False), "yes": (True, True, False),
                   "on": (True, True, False), "all": (True, True, True)}


#: The first CUDA compute capability that computes in bfloat16 natively (Ampere: A100, A10, L4, RTX 30xx
#: and later). Before it, PyTorch emulates bf16 arithmetic in software (slowly) and
#: cuDNN has no bf16 convolution engines, so bf16 autocast there is slow or fails
#: (pytorch/pytorch#148322, huggingface/diffusers#14129): Colab's T4 (7.5) and the V100 (7.0).
NATIVE_BF16_CAPABILITY = (8, 0)


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` is a CUDA GPU that computes in bfloat16 natively (compute capability 8.0 or newer).

    A CUDA device that this process cannot see (no GPU here: the plan, the CPU smoke run, which price
    and rehearse the path of an H100-class GPU) counts as one.

    Parameters
    ----------
    device : torch.device or str

    Returns
    -------
    bool

    Examples
    --------
    >>> from coinfer.tensor_data import native_bf16
    >>> native_bf16("cpu")
    False
    """
    device = torch.device(device)
    if device.type != "cuda":
        return False
    if not torch.cuda.is_available():
        return True
    return tuple(torch.cuda.get_device_capability(device)) >= NATIVE_BF16_CAPABILITY


def copy_to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``, without making the CPU wait for the GPU where it is a CPU tensor bound
    for a CUDA device.

    A plain ``tensor.to("cuda")`` from the CPU synchronizes the stream (PyTorch copies, then waits for
    everything queued before it): in a training step, a batch's indices or a channel's noise drawn
    on the CPU would make the CPU wait for the previous step to finish before it could queue the
    next one, and the GPU idle while it does. Here such a tensor goes through pinned memory by a
    non-blocking copy, which the stream orders like any kernel; PyTorch's caching host allocator
    reuses the pinned block only after the copy has ended. Any other tensor is ``tensor.to(device)``.

    Parameters
    ----------
    tensor : torch.Tensor
    device : torch.device or str

    Returns
    -------
    torch.Tensor
        ``tensor`` itself where it is on ``device`` already.

    Examples
    --------
    >>> import torch
    >>> from coinfer.tensor_data import copy_to_device
    >>> x = torch.arange(3)
    >>> copy_to_device(x, "cpu") is x
    True
    """
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@dataclass(frozen=True)
class DataPath:
    """How a training run moves and computes its images.

    Parameters
    ----------
    resident : bool
        Hold the training images on the device as one uint8 tensor; crop, flip and normalize there
        (:class:`ResidentLoader`) instead of in loader processes.
    autocast : {"bfloat16", None}
        Run the forward pass and the loss under ``torch.autocast`` with this dtype (weights and
        optimizer stay float32). :meth:`for_device` asks for bf16 only where the GPU computes in it
        natively (:func:`native_bf16`). float16 is refused (ValueError): it would need loss scaling,
        which the training loop does not do.
    channels_last : bool
        Images and weights in NHWC memory layout (faster convolutions on tensor cores).
    compile : bool
        Train a ``torch.compile``-d network (the original module keeps the weights); on CUDA in
        ``mode="reduce-overhead"`` (:meth:`prepare`), whose CUDA graphs replay the forward and the
        backward pass each as one launch: at batch 128 a step waits on its many kernel launches (the
        device check's H200 trained 2.2 times as many images/s this way).
    kept_channels : bool
        Fine-tune a pruned device part on the channels its pruner keeps
        (:class:`coinfer.core.kept_channels.KeptChannelsNetwork`): the masked network's training,
        with the compacted network's multiply-accumulates. Not with ``compile`` (the structure
        changes at every pruning iteration, and each new shape would compile anew).
    stack_codes : bool
        Codes trained together (:func:`coinfer.experiments.encoding.train_codecs`) run the frozen
        server part once per step on their reconstructed features stacked into one batch, instead of
        once per code: the same arithmetic in fewer, larger kernels, for a GPU that at batch 128
        waits on kernel launches more than on arithmetic. The same training, since the frozen server
        part is in eval mode and each image's output does not depend on its batch; its activations
        for the backward pass take memory for codes x batch images (six codes of 128: 768).
    fold_batchnorm : bool
        Codecs train in front of copies of the frozen parts (the server part behind them, the device
        part computing their features) whose batch norms are folded into the convolutions before
        them (:func:`coinfer.core.network.fold_batchnorm`): in eval mode a batch norm is a fixed
        affine map, so this is the same function up to float rounding, with a layer fewer per pair to
        run forward and backward (memory-bound kernels on a GPU).
    compile_frozen : bool
        Codecs train in front of a ``torch.compile``-d server part, on features of a compiled device
        part (:meth:`prepare_frozen`); on CUDA in ``mode="reduce-overhead"``, which replays each step
        of a frozen part as one CUDA graph instead of launching its many small kernels one by one.
        The same function to float rounding. Unlike ``compile``, it goes with ``kept_channels``: the
        frozen parts keep their shapes.
    compile_codecs : bool
        Codes trained together train as one ``torch.compile``-d module, their codecs and the frozen
        server part behind them (:meth:`prepare_codecs`; on CUDA with CUDA graphs, the forward and the
        backward pass each one launch): eagerly a step of six codes launches some 700 small kernels
        (the paper grid's at ``layer2.1``, counted on this path's choices), which a GPU at batch 128
        waits on. The codecs stay float32; the same training to float rounding, which may tip a
        codeword choice where two are almost equally near. A candidate, on request only
        (``COINFER_COMPILE=all``) until the device check's ``codec_steps_compiled`` has timed it.
    compile_backend : str
        ``torch.compile``'s backend for ``compile``, ``compile_frozen`` and ``compile_codecs``:
        ``"inductor"`` (generated kernels); ``"aot_eager"`` traces and differentiates the same graphs
        but runs them eagerly, without generating kernels (seconds instead of a minute on a CPU: the
        device check's dry run).
    """

    resident: bool = False
    autocast: str | None = None
    channels_last: bool = False
    compile: bool = False
    kept_channels: bool = False
    stack_codes: bool = False
    fold_batchnorm: bool = False
    compile_frozen: bool = False
    compile_codecs: bool = False
    compile_backend: str = "inductor"

    def __post_init__(self):
        # Not float16: its gradients underflow without loss scaling, which the training loop does not do.
        if self.autocast not in (None, "bfloat16"):
            raise ValueError(f"autocast must be None or 'bfloat16', got {self.autocast!r}")
        if self.compile_backend not in COMPILE_BACKENDS:
            raise ValueError(f"compile_backend must be 'inductor' or 'aot_eager', got {self.compile_backend!r}")
        if self.kept_channels and self.compile:
            raise ValueError("kept_channels and compile exclude each other: the kept channels change at every "
                             "pruning iteration, and every new shape would be compiled anew")

    @classmethod
    def for_device(cls, device: torch.device | str) -> "DataPath":
        """The GPU path for a CUDA device, nothing on a CPU. bf16 autocast only on a GPU with native
        bf16 (:func:`native_bf16`: compute capability 8.0 or newer); an older one (a T4, a V100)
        trains in float32 with the rest of the path. Compiling only on request, with
        ``COINFER_COMPILE``: ``frozen`` compiles the frozen parts of codec training, ``1`` also every
        trained network, ``all`` also the codecs' training steps.

        ``kept_channels`` stays off, on the device check's measurement: on an H200 at batch 128 the
        pruning fine-tunes ran at 0.70 times the masked full-width speed on the kept channels (2-Step
        Pruning's first step 0.68), since a step there waits on kernel launches, not arithmetic, and
        the kept channels add a gather of every weight and a scatter of its gradient per step; and
        with eight fine-tunes at once, which fill the GPU (``sweep --workers 8``), at 0.75 times.
        ``DataPath(kept_channels=True)`` still trains that way (the same training, fewer MACs).

        Parameters
        ----------
        device : torch.device or str

        Returns
        -------
        DataPath

        Raises
        ------
        ValueError
            If ``COINFER_COMPILE`` has a value other than those above (or ``0``, ``true``, ...).
        """
        value = os.environ.get(COMPILE_ENV, "")
        if value.strip().lower() not in _COMPILE_VALUES:
            raise ValueError(f"{COMPILE_ENV}={value!r}: use 'frozen' (the frozen parts of codec training), "
                             "'1' (those and every trained network), 'all' (the codecs' training steps too) or "
                             "'0' (nothing)")
        if torch.device(device).type != "cuda":
            return cls()
        compile_, compile_frozen, compile_codecs = _COMPILE_VALUES[value.strip().lower()]
        return cls(resident=True, autocast="bfloat16" if native_bf16(device) else None, channels_last=True,
                   compile=compile_, stack_codes=True, fold_batchnorm=True, compile_frozen=compile_frozen,
                   compile_codecs=compile_codecs)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype as a torch dtype (None: no autocast)."""
        return getattr(torch, self.autocast) if self.autocast else None

    def prepare(self, model: torch.nn.Module, device: torch.device | str | None = None) -> torch.nn.Module:
        """``model`` in this path's memory layout, compiled if asked: what to hand to the training loop.

        The weights stay in ``model`` itself (changed in place to channels_last), so save ``model``,
        not the returned module. Compiled on CUDA, the returned module's outputs live in CUDA graph
        memory that its next call overwrites: use them (loss, backward) before calling it again.
        ``device``: where ``model`` runs (default: where its parameters are).
        """
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if not self.compile:
            return model
        # CUDA graphs need every tensor of a step on the GPU and fixed addresses for the weights: the
        # training loop and the pruner's masks change the weights in place, so both hold.
        return self._compiled(model, device if device is not None else next(model.parameters()).device)

    def prepare_frozen(self, part: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
        """A frozen part (eval mode, no weight gradients) as codec training runs it on ``device``:
        compiled when ``compile_frozen`` (with CUDA graphs on CUDA), ``part`` itself otherwise."""
        return self._compiled(part, device) if self.compile_frozen else part

    def prepare_codecs(self, training, server_part: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
        """The module that trains codecs in front of their frozen ``server_part`` on ``device``, as
        ``training(server)`` builds it: compiled as one with the server part when ``compile_codecs``
        (with CUDA graphs on CUDA: its outputs are overwritten by its next call, as :meth:`prepare`'s),
        else around the server part as :meth:`prepare_frozen` gives it."""
        if self.compile_codecs:
            return self._compiled(training(server_part), device)
        return training(self.prepare_frozen(server_part, device))

    def _compiled(self, module: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
        cuda_graphs = torch.device(device).type == "cuda" and self.compile_backend == "inductor"
        return torch.compile(module, backend=self.compile_backend, mode="reduce-overhead" if cuda_graphs else None)


def _source(dataset) -> tuple[object, list[int]]:
    """The underlying dataset and the indices into it of a (possibly nested) Subset."""
    indices = None
    while isinstance(dataset, Subset):
        chosen = list(dataset.indices)
        indices = chosen if indices is None else [chosen[i] for i in indices]
        dataset = dataset.dataset
    return dataset, indices if indices is not None else list(range(len(dataset)))


def _steps(dataset) -> tuple[bool, tuple, tuple, int]:
    """``(augment, mean, std, pad)`` read from the dataset's own transform: only the sequences that
    :func:`coinfer.data.load_dataset` builds (each step at most once, in its order) are accepted, and no
    ``target_transform``; anything else is refused, so that the device path never silently differs from
    the CPU path."""
    from torchvision import transforms            # imported here, as in coinfer.data: it takes seconds

    if getattr(dataset, "target_transform", None) is not None:     # resident_images reads the targets as stored
        raise ValueError(f"the device data path does not reproduce the target_transform "
                         f"{dataset.target_transform!r}; use make_loader")
    transform = getattr(dataset, "transform", None)
    steps = transform.transforms if isinstance(transform, transforms.Compose) else [transform]
    data = getattr(dataset, "data", None)
    grey = getattr(data, "ndim", None) == 3     # (N, H, W); colour is (N, H, W, 3)
    order = (transforms.Pad, transforms.Grayscale, transforms.RandomCrop, transforms.RandomHorizontalFlip,
             transforms.ToTensor, transforms.Normalize)
    augment, flip, mean, std, pad, done = False, False, None, None, 0, []
    for step in steps:
        # Only what it does itself: zero padding of grey images (resident_images), 3 grey channels of grey
        # images, a crop of 32x32 images from a 4-pixel zero padding (augment_batch) with a fair flip.
        zeros = getattr(step, "fill", None) == 0 and getattr(step, "padding_mode", None) == "constant"
        if isinstance(step, transforms.Pad) and isinstance(step.padding, int) and zeros and grey:
            kind, pad = transforms.Pad, step.padding
        elif isinstance(step, transforms.Grayscale) and step.num_output_channels == 3 and grey:
            kind = transforms.Grayscale
        elif (isinstance(step, transforms.RandomCrop) and step.size == (32, 32) and step.padding == 4 and zeros
              and not step.pad_if_needed and data is not None and tuple(data.shape[1:3]) == (32 - 2 * pad,) * 2):
            kind, augment = transforms.RandomCrop, True
        elif isinstance(step, transforms.RandomHorizontalFlip) and step.p == 0.5:
            kind, flip = transforms.RandomHorizontalFlip, True
        elif isinstance(step, transforms.ToTensor):
            kind = transforms.ToTensor
        elif isinstance(step, transforms.Normalize):
            kind, mean, std = transforms.Normalize, tuple(step.mean), tuple(step.std)
        else:
            detail = ""
            if isinstance(step, (transforms.Pad, transforms.RandomCrop, transforms.Grayscale)):  # reprs omit these
                size = tuple(data.shape[1:3]) if data is not None else None
                padding = "" if isinstance(step, transforms.Grayscale) else (
                    f"fill={step.fill!r}, padding_mode={step.padding_mode!r}, "
                    f"pad_if_needed={getattr(step, 'pad_if_needed', False)}, ")
                detail = (f" ({padding}on {'grey' if grey else 'colour'} images of {size} pixels: it pads grey images "
                          "only and makes 3 channels of them, and crops 32x32 images from a 4-pixel padding, with "
                          "zeros only)")
            raise ValueError(f"the device data path does not reproduce the transform {step!r}{detail}; use make_loader")
        if done and order.index(kind) <= order.index(done[-1]):
            raise ValueError(f"the device data path takes each step at most once, in the order "
                             f"{', '.join(k.__name__ for k in order)} (as load_dataset builds them), not "
                             f"{step!r} after {', '.join(k.__name__ for k in done)} ({transform!r}); use make_loader")
        done.append(kind)
    needed = (transforms.Grayscale,) * grey + (transforms.ToTensor, transforms.Normalize)
    missing = [k.__name__ for k in needed if k not in done]
    if missing:
        raise ValueError(f"the device data path needs a dataset whose transform has {', '.join(missing)} "
                         f"(as load_dataset builds it), not {transform!r}; use make_loader")
    if flip != augment:   # it flips exactly when it crops
        raise ValueError(f"the device data path flips exactly when it crops, not {'a flip' if flip else 'a crop'} "
                         f"alone ({transform!r}); use make_loader")
    return augment, mean, std, pad


def resident_images(dataset, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``dataset`` as one uint8 tensor ``(N, 3, 32, 32)`` on ``device``, and its labels.

    Grey images (Fashion-MNIST) are padded and repeated over three channels as the CPU transform does.

    Parameters
    ----------
    dataset : Dataset
        From :func:`coinfer.data.load_dataset` or :func:`coinfer.data.load_split`.
    device : torch.device or str

    Returns
    -------
    images, labels : torch.Tensor
        uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.
    """
    base, indices = _source(dataset)
    _, _, _, pad = _steps(base)
    data = base.data if isinstance(base.data, torch.Tensor) else torch.from_numpy(base.data)
    index = torch.as_tensor(indices, dtype=torch.long)
    images = data[index]
    if images.dim() == 3:                                   # grey (N, H, W): pad, then 3 channels
        images = torch.nn.functional.pad(images, (pad, pad, pad, pad)).unsqueeze(1).expand(-1, 3, -1, -1)
    else:                                                   # colour (N, H, W, 3), as torchvision keeps it
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(base.targets)[index] if not isinstance(base.targets, torch.Tensor) else base.targets[index]
    return images.contiguous().to(device), labels.long().to(device)


def augment_batch(images: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4) -> torch.Tensor:
    """Random crops with ``padding`` zero pixels on each side and random horizontal flips, on the device.

    Parameters
    ----------
    images : torch.Tensor
        ``(B, C, H, W)``, any dtype (uint8 here: zero is a black pixel, as torchvision pads).
    generator : torch.Generator, optional
        On ``images``' device.
    padding : int
        Pixels of padding; offsets are uniform in ``0 .. 2 * padding`` on each axis.

    Returns
    -------
    torch.Tensor
        The same shape and dtype.

    Examples
    --------
    >>> import torch
    >>> from coinfer.tensor_data import augment_batch
    >>> out = augment_batch(torch.ones(4, 3, 32, 32, dtype=torch.uint8), torch.Generator().manual_seed(0))
    >>> out.shape, int(out.max())
    (torch.Size([4, 3, 32, 32]), 1)
    """
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dev = images.device
    oy = torch.randint(0, 2 * padding + 1, (b,), device=dev, generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (b,), device=dev, generator=generator)
    flip = torch.rand(b, device=dev, generator=generator) < 0.5
    rows = oy[:, None] + torch.arange(h, device=dev)
    along = torch.arange(w, device=dev)
    cols = ox[:, None] + torch.where(flip[:, None], w - 1 - along, along)
    return padded[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


class ResidentLoader:
    """Batches of ``dataset`` from one uint8 tensor on ``device``, augmented and normalized there.

    A drop-in for :func:`coinfer.data.make_loader` in :func:`coinfer.train.fit`: iterate it once per
    epoch; ``len`` is the number of batches. The batch order is drawn exactly as ``make_loader``
    draws it for the same ``seed``; augmentation (when the dataset's transform has it) uses its own
    generator on the device, seeded by ``seed``.

    Parameters
    ----------
    dataset : Dataset
        From :func:`coinfer.data.load_split` or :func:`coinfer.data.load_dataset`.
    batch_size : int
    shuffle : bool
    seed : int
    device : torch.device or str
    channels_last : bool
        Yield images in NHWC memory layout.

    Examples
    --------
    >>> from coinfer.data import load_dataset
    >>> from coinfer.tensor_data import ResidentLoader
    >>> loader = ResidentLoader(load_dataset("fashion-mnist", train=False, limit=10), 4, shuffle=False)
    >>> [tuple(x.shape) for x, _ in loader], len(loader)
    ([(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)], 3)
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool, seed: int = 0,
                 device: torch.device | str = "cpu", channels_last: bool = False):
        self.augment, mean, std, _ = _steps(_source(dataset)[0])
        self.images, self.labels = resident_images(dataset, device)
        self.device = self.images.device
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        self.channels_last = channels_last
        self.batch_size, self.shuffle = batch_size, shuffle
        self._seed(seed)

    def _seed(self, seed: int) -> None:
        # The same sampler and generator as make_loader: the same order for the same seed.
        self._order = DataLoader(range(len(self.labels)), batch_size=self.batch_size, shuffle=self.shuffle,
                                 generator=torch.Generator().manual_seed(seed))
        self._augmenter = torch.Generator(device=self.device).manual_seed(seed)

    def with_seed(self, seed: int) -> "ResidentLoader":
        """The same images (not copied again), batched as a new ``ResidentLoader(..., seed=seed)`` would be.

        For a caller that draws a new loader per epoch with its own seed (the feature cache's
        shuffled batches): the images go to the device once.

        >>> from coinfer.data import load_dataset
        >>> data = load_dataset("fashion-mnist", train=False, limit=10)
        >>> a = ResidentLoader(data, 4, shuffle=True, seed=0)
        >>> [y.tolist() for _, y in a.with_seed(1)] == [y.tolist() for _, y in ResidentLoader(data, 4, True, seed=1)]
        True
        """
        other = copy.copy(self)
        other._seed(seed)
        return other

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self):
        # Start the order's iterator now, as a DataLoader does when iterated (it draws from its
        # generator then): the same draws as make_loader's, however often a caller calls iter()
        # (tqdm.auto calls it once more than it iterates).
        return self._batches(iter(self._order))

    def _batches(self, order):
        for index in order:
            index = copy_to_device(index, self.device)    # not index.to: it would wait for the last step
            images = self.images[index]
            if self.augment:
                images = augment_batch(images, self._augmenter)
            # As ToTensor then Normalize: float32 / 255, minus the mean, over the std (the same float ops).
            images = images.float().div(255).sub(self.mean).div(self.std)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.labels[index]


def training_batches(dataset, batch_size: int, seed: int, device: torch.device | str, path: DataPath | None = None):
    """Shuffled training batches of ``dataset`` on the path ``path`` (default :meth:`DataPath.for_device`).

    Parameters
    ----------
    dataset : Dataset
        From :func:`coinfer.data.load_split` (augmented or not).
    batch_size, seed : int
    device : torch.device or str
        Where training runs.
    path : DataPath, optional

    Returns
    -------
    ResidentLoader or torch.utils.data.DataLoader
        A :class:`ResidentLoader` on ``device`` when ``path.resident``, else :func:`coinfer.data.make_loader`'s.
    """
    from coinfer.data import make_loader

    path = path or DataPath.for_device(device)
    if path.resident:
        return ResidentLoader(dataset, batch_size, shuffle=True, seed=seed, device=device,
                              channels_last=path.channels_last)
    return make_loader(dataset, batch_size, shuffle=True, seed=seed)
