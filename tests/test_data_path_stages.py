"""Every stage that trains on images takes its data path from one place (DataPath.for_device).

The pruning fine-tune (pruning experiment, the sweep's pruned networks and 2-Step Pruning's steps)
and the codecs trained on images rather than cached features (FeatureSource without the cache:
the paper preset's codecs and BottleNet++) run on the path :meth:`DataPath.for_device` decides. On
the CPU that is the CPU path, unchanged; the device path, forced on the CPU here, gives the same
fine-tuning losses: exactly without augmentation and without autocast, to a stated tolerance with
bf16 autocast or with augmentation (whose crops come from another generator).
"""

from __future__ import annotations

import copy

import pytest
import torch

from cifar_support import write_tiny_cifar10
from coinfer.config import get_preset
from coinfer.core.features import FeatureSource
from coinfer.core.kept_channels import KeptChannelsNetwork
from coinfer.core.network import resnet18
from coinfer.core.network import split as split_stages
from coinfer.data import ValidationSplit, load_split, make_loader
from coinfer.experiments import pruning
from coinfer.experiments.pruning import fine_tune_batches, prune_finetune
from coinfer.tensor_data import DataPath, ResidentLoader, training_batches
from coinfer.train import progress_bars, seed_everything

VALIDATION = ValidationSplit(images=20, seed=0)
#: The quick recipe (Adam, cosine, distillation w 0.5 at T 4), masks refreshed every step, 5 steps per epoch.
RECIPE = get_preset("quick", **{"pruning.schedule.interval": 1, "pruning.batch_size": 16,
                                "pruning.epochs": 2}).pruning
BF16 = "bfloat16" if torch.amp.is_autocast_available("cpu") else None

#: bf16 autocast and channels_last against float32, both on the same (unaugmented) batches: the
#: per-epoch losses of this recipe at width 1/16 differed by at most 0.047 over seeds 0-3 (measured;
#: losses about 1.2; the distillation's T^2 = 16 magnifies the bf16 rounding of a random network's
#: logits, cross-entropy alone differed by at most 0.011). Stated tolerance 0.08.
BF16_TOLERANCE = 0.08
#: Augmented images: the device path draws its crops and flips from its own generator, so the losses
#: agree only to the sampling noise of 80 images: at most 0.035 over seeds 0-3 (measured). Stated 0.1.
AUGMENT_TOLERANCE = 0.1


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_tiny_cifar10(root, n_train=100, n_test=20)
    return root


def _finetune(data, path: DataPath, seed: int = 0):
    """Prune layer2.1 to one half while fine-tuning a fresh width-1/16 network: the PrunedModel."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16)
    seed_everything(seed)
    with progress_bars(False):
        return prune_finetune(net, "layer2.1", 0.5, RECIPE, training_batches(data, RECIPE.batch_size, seed, "cpu", path),
                              torch.device("cpu"), path=path)


def test_prune_finetune_on_the_resident_path_gives_the_cpu_paths_numbers(cifar_root):
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    cpu = _finetune(data, DataPath())
    resident = _finetune(data, DataPath(resident=True))
    assert len(cpu.meta["train_loss"]) == 2
    assert resident.meta["train_loss"] == cpu.meta["train_loss"]          # the same images, bit for bit
    assert resident.keep == cpu.keep
    for name, value in cpu.model.state_dict().items():
        assert torch.equal(resident.model.state_dict()[name], value), name
    if BF16:
        full = _finetune(data, DataPath(resident=True, autocast=BF16, channels_last=True))
        gaps = [abs(a - b) for a, b in zip(full.meta["train_loss"], cpu.meta["train_loss"])]
        assert max(gaps) < BF16_TOLERANCE, (full.meta["train_loss"], cpu.meta["train_loss"])
        # Handed back in the CPU path's layout: compacted, saved and evaluated as always.
        assert all(p.is_contiguous() for p in full.model.parameters())
    augmented = load_split("cifar10", "train", VALIDATION, root=cifar_root, augment=True, trust=True)
    cpu_aug, resident_aug = _finetune(augmented, DataPath()), _finetune(augmented, DataPath(resident=True))
    assert resident_aug.meta["train_loss"] != cpu_aug.meta["train_loss"]   # other crops...
    gaps = [abs(a - b) for a, b in zip(resident_aug.meta["train_loss"], cpu_aug.meta["train_loss"])]
    assert max(gaps) < AUGMENT_TOLERANCE, (resident_aug.meta["train_loss"], cpu_aug.meta["train_loss"])


def test_on_the_cpu_every_stage_gets_the_cpu_loader(cifar_root):
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, augment=True, trust=True)
    loader = fine_tune_batches(data, RECIPE, 3, torch.device("cpu"))
    expected = make_loader(data, RECIPE.batch_size, shuffle=True, seed=3)
    assert type(loader) is type(expected) and not isinstance(loader, ResidentLoader)
    assert [y.tolist() for _, y in loader] == [y.tolist() for _, y in expected]   # the same order


def test_one_place_decides_the_data_path_of_every_training_stage(cifar_root, monkeypatch):
    """Make DataPath.for_device answer with the CUDA path on the CPU: the fine-tune's batches, its
    precision and layout, the sweep's loaders and the feature cache's training batches all follow."""
    from coinfer.experiments.sweep import SweepRunner

    forced = DataPath(resident=True, autocast=BF16, channels_last=True, kept_channels=True)
    monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: forced))
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, augment=True, trust=True)
    cpu = torch.device("cpu")

    loader = fine_tune_batches(data, RECIPE, 0, cpu)
    assert isinstance(loader, ResidentLoader) and loader.channels_last
    seen = {}
    real_fit = pruning.fit

    def spy(model, batches, **kwargs):
        seen.update(autocast=kwargs["autocast"], kept_channels=isinstance(model, KeptChannelsNetwork),
                    channels_last=model.device_part.stem[0].weight.is_contiguous(memory_format=torch.channels_last),
                    teacher=kwargs["teacher"].stem[0].weight.is_contiguous(memory_format=torch.channels_last))
        return real_fit(model, batches, **kwargs)

    monkeypatch.setattr(pruning, "fit", spy)
    torch.manual_seed(0)
    with progress_bars(False):
        pruned = prune_finetune(resnet18(width=1 / 16), "layer2.1", 0.5, RECIPE, loader, cpu)
    assert seen == {"autocast": forced.dtype, "kept_channels": True, "channels_last": True, "teacher": True}
    assert pruned.model.stem[0].weight.is_contiguous()                     # back in the ordinary layout

    runner = SweepRunner(get_preset("quick"), "unused-cells", "unused-cache", device=cpu, log=lambda *_: None)
    runner._data["prune"] = data                                           # instead of Fashion-MNIST
    whole, half = runner._prune_loader(), runner._prune_loader(share=2)
    assert isinstance(whole, ResidentLoader) and isinstance(half, ResidentLoader)
    assert len(half.labels) == len(data) // 2

    # The feature cache's training batches (the paper preset's codecs, BottleNet++): resident,
    # copied to the device once, float32 features from a bf16 device part; its ordered batches stay float32.
    plain = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    torch.manual_seed(0)
    device_part, _ = split_stages(resnet18(width=1 / 16).eval(), "layer2.1")
    source = FeatureSource(device_part, plain, precompute=False, batch_size=40, device=cpu)
    epochs = [list(source.batches(16, shuffle=True, seed=s)) for s in (0, 1)]
    assert isinstance(source._resident, ResidentLoader)
    assert all(f.dtype == torch.float32 for batches in epochs for f, _ in batches)
    order = [[y.tolist() for _, y in make_loader(plain, 16, shuffle=True, seed=s)] for s in (0, 1)]
    assert [[y.tolist() for _, y in batches] for batches in epochs] == order     # make_loader's order per seed
    monkeypatch.undo()                                                      # the float32 CPU path, for reference
    with torch.no_grad():
        reference = [device_part(x) for x, _ in make_loader(plain, 16, shuffle=True, seed=0)]
    for (features, _), expected in zip(epochs[0], reference):
        tolerance = 0.05 * float(expected.abs().max()) if BF16 else 0.0
        torch.testing.assert_close(features, expected, rtol=0, atol=tolerance)


#: Codec training on images with the device part and the server part under bf16 autocast, the codec
#: in float32: its two epochs' losses (about 2.3 and 2.8) differed from float32 by 0.0001 and 0.0016
#: (measured). Stated tolerance 0.02.
CODEC_TOLERANCE = 0.02


def _train_codec(data, forced: DataPath | None, monkeypatch) -> tuple[dict, list]:
    """Train a 1-bit codec at layer2.1 of a width-1/16 network on images (no feature cache)."""
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import get_encode_config, train_codec

    if forced is not None:
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: forced))
    torch.manual_seed(0)
    device_part, server_part = split_stages(resnet18(width=1 / 16).eval(), "layer2.1")
    source = FeatureSource(device_part, data, precompute=False, batch_size=40, device=torch.device("cpu"))
    config = get_encode_config("quick", warmup_epochs=1, epochs=1, batch_size=16)
    seen = []
    server_part.register_forward_hook(lambda module, args, out: seen.append(
        (args[0].dtype, torch.is_autocast_enabled("cpu"), out.dtype)))
    torch.manual_seed(1)
    codec = build_codec(source.feature_shape, config.code_size_at("d8-l2", source.feature_shape))
    with progress_bars(False):
        history = train_codec(codec, server_part, source, config, seed=3)
    assert all(p.is_contiguous() for p in server_part.parameters())      # its layout put back
    monkeypatch.undo()
    return history, seen


def test_codec_training_on_images_takes_the_data_path(cifar_root, monkeypatch):
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    cpu, cpu_seen = _train_codec(data, None, monkeypatch)
    resident, _ = _train_codec(data, DataPath(resident=True), monkeypatch)
    assert resident == cpu                                                  # the same images, bit for bit
    assert {s for s in cpu_seen} == {(torch.float32, False, torch.float32)}
    if BF16:
        full, seen = _train_codec(data, DataPath(resident=True, autocast=BF16, channels_last=True), monkeypatch)
        # The codec hands the server part a float32 feature; the server part computes in bf16.
        assert {s for s in seen if s[1]} == {(torch.float32, True, torch.bfloat16)}
        losses = [(a, b) for key in ("warmup_loss", "loss") for a, b in zip(full[key], cpu[key])]
        assert len(losses) == 2 and max(abs(a - b) for a, b in losses) < CODEC_TOLERANCE, losses


def test_codes_trained_together_take_the_whole_gpu_path(cifar_root, monkeypatch):
    """Two codes of one split point under everything the GPU path does to them (images held as one
    tensor, bf16 server part, channels_last, one server pass on the stacked batch):
    each code's losses are those of the plain float32 path, one server pass per code, to the bf16
    tolerance of one code above."""
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import get_encode_config, train_codecs

    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)   # the same images on both paths
    full = DataPath(resident=True, autocast=BF16, channels_last=True, stack_codes=True)
    runs = {}
    for name, path in (("plain", DataPath()), ("gpu path", full)):
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, p=path: p))
        torch.manual_seed(0)
        device_part, server_part = split_stages(resnet18(width=1 / 16).eval(), "layer2.1")
        source = FeatureSource(device_part, data, precompute=False, batch_size=40, device=torch.device("cpu"))
        config = get_encode_config("quick", warmup_epochs=1, epochs=1, batch_size=16)
        batches = []
        server_part.register_forward_hook(lambda module, args, out: batches.append((len(args[0]), out.dtype)))
        codecs = []
        for code in ("d8-l2", "d4-l2"):
            torch.manual_seed(1)
            codecs.append(build_codec(source.feature_shape, config.code_size_at(code, source.feature_shape)))
        with progress_bars(False):
            runs[name] = (train_codecs(codecs, server_part, source, config, seed=3), batches)
        monkeypatch.undo()
    (plain, plain_batches), (gpu, gpu_batches) = runs["plain"], runs["gpu path"]
    assert max(n for n, _ in plain_batches) == 16                             # one pass per code
    assert max(n for n, _ in gpu_batches) == 2 * 16                           # both codes in one pass
    assert {dtype for _, dtype in gpu_batches} == {getattr(torch, BF16) if BF16 else torch.float32}
    losses = [(a, b) for p, g in zip(plain, gpu) for key in ("warmup_loss", "loss") for a, b in zip(p[key], g[key])]
    assert len(losses) == 4 and max(abs(a - b) for a, b in losses) < CODEC_TOLERANCE, losses
