"""A training step never reads a tensor back into Python: on a GPU that would make the CPU wait.

``.item()``, ``bool(tensor)``, ``float(tensor)`` and ops whose output shape depends on values
(``nonzero``, boolean masks) copy from the GPU to the host, so the CPU waits there for every kernel
queued before, and the GPU idles while the CPU then queues the next ones. One such read in a step
of the sweep's codec training (a range check of every code's symbols, twice per code) or of a BSC
code (a check that its bits are bits) would do that thousands of times per training.

Counted here on the CPU, where the same Python runs the same ops: a ``TorchDispatchMode`` sees
every op that reads a value back, with the number of optimizer steps taken when it ran. Reads are
allowed between epochs (the loss history, a fitting pass) and inside the optimizer's own step
(Adam keeps its step counters on the CPU); none inside an epoch. The GPU path's choices are
forced on (resident images, bf16, channels_last, stacked and folded codecs) as on CUDA.

Host-to-device copies synchronize too (a plain ``cpu_tensor.to("cuda")``), but on the CPU there
is nothing to copy: :func:`coinfer.tensor_data.copy_to_device` avoids them, and ``tests/test_cuda.py``
checks it and a step's batches under ``torch.cuda.set_sync_debug_mode("error")`` on a GPU.
"""

from __future__ import annotations

import copy
import dataclasses
import traceback

import pytest
import torch
import torch.optim.optimizer as torch_optimizer
from torch.utils._python_dispatch import TorchDispatchMode

from cifar_support import write_tiny_cifar10
from coinfer.config import EncodeSettings, JsccSettings, get_preset
from coinfer.core.encoding import build_codec
from coinfer.core.features import FeatureSource
from coinfer.core.network import resnet18
from coinfer.core.network import split as split_stages
from coinfer.data import ValidationSplit, load_split
from coinfer.experiments.encoding import train_codecs
from coinfer.experiments.jscc import train_jscc
from coinfer.experiments.pruning import fine_tune_batches, prune_finetune
from coinfer.tensor_data import DataPath
from coinfer.train import progress_bars, seed_everything

#: The ops that read a tensor's values back to the host.
READS = frozenset({"aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.is_nonzero",
                   "aten.equal", "aten._unique2", "aten.unique_consecutive", "aten.repeat_interleave"})
GPU_PATH = DataPath(resident=True, autocast="bfloat16", channels_last=True, stack_codes=True, fold_batchnorm=True)
#: 80 training images in batches of 16: five steps an epoch.
IMAGES, BATCH = 80, 16
STEPS_PER_EPOCH = IMAGES // BATCH


class HostReads(TorchDispatchMode):
    """Every read (an op of :data:`READS`) outside an optimizer step, as ``(optimizer steps taken, where)``."""

    def __init__(self):
        super().__init__()
        self.steps, self.in_optimizer, self.reads = 0, False, []

    def __enter__(self):
        self._hooks = [torch_optimizer.register_optimizer_step_pre_hook(lambda *_: self._optimizer(True)),
                       torch_optimizer.register_optimizer_step_post_hook(lambda *_: self._optimizer(False))]
        return super().__enter__()

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()
        return super().__exit__(*exc)

    def _optimizer(self, entering: bool) -> None:
        self.in_optimizer = entering
        self.steps += not entering

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func.overloadpacket) in READS and not self.in_optimizer:
            ours = [f for f in traceback.extract_stack() if "/coinfer/" in f.filename]
            where = f"{ours[-1].filename.split('/coinfer/')[-1]}:{ours[-1].lineno}" if ours else "?"
            self.reads.append((self.steps, f"{func.overloadpacket} at {where}"))
        return func(*args, **(kwargs or {}))

    def inside_epochs(self, steps_per_epoch: int) -> list[tuple[int, str]]:
        """The reads made between two steps of one epoch."""
        return [read for read in self.reads if read[0] % steps_per_epoch]


def reads_while(train, steps_per_epoch: int) -> HostReads:
    counter = HostReads()
    with progress_bars(False), counter:
        train()
    assert counter.steps > steps_per_epoch        # more than one epoch: the steps between two epochs too
    assert counter.reads                           # it sees reads: the history's, between epochs
    return counter


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_tiny_cifar10(root, n_train=IMAGES + 20, n_test=20)
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).eval()
    data = load_split("cifar10", "train", ValidationSplit(images=20, seed=0), root=root, augment=True, trust=True)
    return net, data


@pytest.fixture
def gpu_path(monkeypatch):
    monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: GPU_PATH))


@pytest.mark.parametrize("codes", [("d16-l4", "d8-k16"), ("d16-l4-r0.01",)], ids=["codebooks", "learned-prior"])
def test_a_codec_training_step_reads_nothing_back(parts, gpu_path, codes):
    """The sweep's codec training on the GPU path (a warm-up and two quantized epochs): the codes'
    symbols, their likelihoods and rates stay on the device. (Each code's symbol range was checked
    twice per step: 2,400 reads per epoch of CIFAR-10 for six codes.)"""
    net, data = parts
    device_part, server_part = split_stages(net, "layer2.1")
    source = FeatureSource(device_part, data, precompute=False, batch_size=40)
    config = EncodeSettings(train_limit=None, precompute=False, augment=True, warmup_epochs=1, epochs=2,
                            batch_size=BATCH, eval_batch_size=40, lr=3e-3)
    seed_everything(0)
    codecs = [build_codec(source.feature_shape, config.code_size_at(c, source.feature_shape)) for c in codes]
    counter = reads_while(lambda: train_codecs(codecs, server_part, source, config), STEPS_PER_EPOCH)
    assert counter.inside_epochs(STEPS_PER_EPOCH) == []


@pytest.mark.parametrize("kind, value", [("awgn", 10.0), ("bsc", 0.05)])
def test_a_jscc_training_step_reads_nothing_back(parts, kind, value):
    """JSCC on cached features: the BSC's bits are binarize's, used unchecked (its check read every bit back)."""
    net, data = parts
    device_part, server_part = split_stages(net, "layer3.1")
    source = FeatureSource(device_part, data, precompute=True, batch_size=40)
    settings = dataclasses.replace(JsccSettings(), batch_size=BATCH, epochs=2)
    counter = reads_while(lambda: train_jscc(source, server_part, kind, value, 8, settings), STEPS_PER_EPOCH)
    assert counter.inside_epochs(STEPS_PER_EPOCH) == []


def test_a_pruning_fine_tune_step_reads_nothing_back(parts, gpu_path):
    """The paper recipe's masked fine-tune (distilled, the masks refreshed every three steps) on the
    resident images: neither the steps nor the pruner's refreshes read anything back."""
    net, data = parts
    paper = get_preset("paper").pruning
    settings = dataclasses.replace(paper, epochs=2, batch_size=BATCH, train_limit=None,
                                   schedule=dataclasses.replace(paper.schedule, interval=3))
    batches = fine_tune_batches(data, settings, 0, "cpu")
    counter = reads_while(lambda: prune_finetune(copy.deepcopy(net), "layer2.1", 0.5, settings, batches, teacher=net),
                          STEPS_PER_EPOCH)
    assert counter.inside_epochs(STEPS_PER_EPOCH) == []


def test_the_counter_sees_a_read_inside_an_epoch(parts, gpu_path):
    """What the tests above would catch: the symbols' range check, made in every step, as it was."""
    from coinfer.core.entropy import CategoricalEntropyModel

    original = CategoricalEntropyModel.likelihoods
    checked = lambda self, symbols, check=True: original(self, symbols)   # noqa: E731 (always checked)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CategoricalEntropyModel, "likelihoods", checked)
        with pytest.raises(AssertionError):
            test_a_codec_training_step_reads_nothing_back(parts, None, ("d16-l4",))
