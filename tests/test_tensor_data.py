"""The GPU data path (coinfer.tensor_data) against the CPU path, run on the CPU device.

Same seed: the same batches, bit for bit, where nothing is augmented; the same distribution of crop
offsets and flips where it is; and the same training losses (bf16 autocast, channels_last) to a
stated tolerance.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cifar_support import write_tiny_cifar10
from coinfer.core.network import resnet18
from coinfer.data import ValidationSplit, load_split, make_loader
from coinfer.tensor_data import DataPath, ResidentLoader, augment_batch, training_batches
from coinfer.train import fit

VALIDATION = ValidationSplit(images=20, seed=0)


def _position_pixels(rng, n):
    """Channel 0 holds the row (1..32), channel 1 the column (1..32), channel 2 noise: a crop's
    offset and flip can be read back from the output (padding is 0)."""
    rows = np.broadcast_to(np.arange(1, 33)[:, None], (32, 32))
    cols = np.broadcast_to(np.arange(1, 33)[None, :], (32, 32))
    image = np.stack([rows, cols, np.zeros((32, 32))]).reshape(1, 3072)
    out = np.repeat(image, n, axis=0)
    out[:, 2048:] = rng.integers(0, 256, size=(n, 1024))
    return out


@pytest.fixture
def cifar_root(tmp_path):
    write_tiny_cifar10(tmp_path, n_train=100, n_test=20)
    return tmp_path


def test_device_loader_gives_the_cpu_loaders_batches_bit_for_bit_without_augmentation(cifar_root):
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    cpu = make_loader(data, 16, shuffle=True, seed=3)
    dev = ResidentLoader(data, 16, shuffle=True, seed=3)
    assert len(dev) == len(cpu) == 5 and not dev.augment
    for _ in range(2):                                   # two epochs: a new order each, the same in both
        pairs = list(zip(list(cpu), list(dev)))         # each run to its end, as fit runs an epoch
        assert len(pairs) == 5
        for (x, y), (xd, yd) in pairs:
            assert torch.equal(y, yd)
            assert torch.equal(x, xd), float((x - xd).abs().max())
    other = [y for _, y in ResidentLoader(data, 16, shuffle=True, seed=4)]
    assert not all(torch.equal(a, b) for a, b in zip(other, [y for _, y in cpu]))   # the seed matters


def test_a_loader_with_workers_draws_the_device_loaders_order_in_every_epoch(cifar_root):
    """Worker processes change no batch of a loader run epoch by epoch: persistent workers drew their
    seed from the loader's generator only in the first epoch, so from the second the order differed."""
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    cpu = make_loader(data, 16, shuffle=True, seed=3, num_workers=2)
    dev = ResidentLoader(data, 16, shuffle=True, seed=3)
    for epoch in range(3):
        pairs = list(zip(list(cpu), list(dev)))
        assert len(pairs) == 5
        assert all(torch.equal(y, yd) for (_, y), (_, yd) in pairs), epoch
        assert all(torch.equal(x, xd) for (x, _), (xd, _) in pairs), epoch


def test_on_a_gpu_host_only_unshuffled_batches_that_draw_nothing_come_from_worker_processes(cifar_root, monkeypatch):
    """Augmentation in workers draws from seeds that depend on the number of workers (without them: from
    the global generator, as the committed results were made), and fit's progress bar (tqdm.auto) makes and
    drops an iterator, which draws a shuffled order only with workers: the default must not change the numbers."""
    import os

    plain = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    augmented = load_split("cifar10", "train", VALIDATION, root=cifar_root, augment=True, trust=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert make_loader(augmented, 16, shuffle=False).num_workers == make_loader(plain, 16, shuffle=True).num_workers == 0
    loader = make_loader(plain, 16, shuffle=False)
    assert loader.num_workers == min(8, os.cpu_count() or 1) and not loader.persistent_workers
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert make_loader(plain, 16, shuffle=False).num_workers == 0


def test_device_loader_matches_fashion_mnist_padding_and_grey_channels(fashion_root):
    data = load_split("fashion-mnist", "test", root=fashion_root, limit=40)
    for (x, y), (xd, yd) in zip(make_loader(data, 16, shuffle=False), ResidentLoader(data, 16, shuffle=False)):
        assert torch.equal(x, xd) and torch.equal(y, yd)


def _offsets(images: torch.Tensor, mean, std) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop offsets (rows, columns, 0..8) and flips read back from normalized position-coded images."""
    pixels = torch.round((images * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)) * 255)
    r, c0, c1 = pixels[:, 0, 15, 15], pixels[:, 1, 15, 15], pixels[:, 1, 15, 16]
    return (r - 12).numpy(), (torch.minimum(c0, c1) - 12).numpy(), (c1 < c0).numpy()


def test_device_augmentation_draws_crops_and_flips_as_the_cpu_transform_does(tmp_path):
    # The CPU transform draws from the global generator: seeded here, so that the draws do not depend
    # on which tests ran before this one in the same process (a 3.4-sigma flip count once did).
    torch.manual_seed(0)
    write_tiny_cifar10(tmp_path, n_train=100, n_test=20, pixels=_position_pixels)
    data = load_split("cifar10", "train", VALIDATION, root=tmp_path, augment=True, trust=True)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    draws = {}
    for name, loader in (("cpu", make_loader(data, 80, shuffle=True, seed=0)),
                         ("device", ResidentLoader(data, 80, shuffle=True, seed=0))):
        found = [_offsets(x, mean, std) for _ in range(30) for x, _ in loader]      # 2,400 images
        draws[name] = [np.concatenate(parts) for parts in zip(*found)]
    for name, (rows, cols, flips) in draws.items():
        n = len(rows)
        for offsets in (rows, cols):
            assert set(np.unique(offsets)) == set(range(9)), name        # every offset 0..8 occurs, no other
            counts = np.bincount(offsets.astype(int), minlength=9)
            chi2 = ((counts - n / 9) ** 2 / (n / 9)).sum()
            assert chi2 < 26.1, (name, counts)                            # uniform (8 dof, p = 0.001)
        assert abs(flips.mean() - 0.5) < 3.3 * 0.5 / np.sqrt(n), name     # one half flipped
    # And the two paths agree with each other (two-sample chi-square on the 9 row offsets).
    a, b = (np.bincount(draws[k][0].astype(int), minlength=9) for k in ("cpu", "device"))
    assert (((a - b) ** 2) / (a + b)).sum() < 26.1


def test_augment_batch_pads_with_zero_and_keeps_every_pixel_of_an_unshifted_crop():
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.int32).view(2, 3, 32, 32)
    out = augment_batch(images, torch.Generator().manual_seed(1), padding=0)       # no room to move
    for i in range(2):
        assert torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1))


def test_augment_batch_fills_what_a_shifted_crop_exposes_with_zero():
    # (the test above pads nothing: a fill of 7 instead of black passed it)
    images = torch.full((64, 3, 32, 32), 200, dtype=torch.uint8)
    out = augment_batch(images, torch.Generator().manual_seed(1), padding=4)
    assert set(out.unique().tolist()) == {0, 200}                  # black where the crop left the image
    for o in out:
        kept = o[0] == 200
        rows, cols = int(kept.any(1).sum()), int(kept.any(0).sum())
        assert int(kept.sum()) == rows * cols and 28 <= rows <= 32 and 28 <= cols <= 32   # one shifted rectangle
        assert torch.equal(o[0] == 200, o[1] == 200)                # every channel alike


def _losses(model, batches, path: DataPath, steps: int) -> list[float]:
    seen = []

    def loss_fn(out, labels):
        loss = torch.nn.functional.cross_entropy(out.float(), labels)
        seen.append(loss.item())
        return loss

    fit(path.prepare(model), batches, optimizer=torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        steps=steps, loss_fn=loss_fn, progress=False, autocast=path.dtype)
    return seen


#: bf16 keeps 8 bits of mantissa: over the first 4 steps (SGD, lr 0.01) the losses of the two paths
#: differ by at most 0.012 (measured; losses of about 2.3 to 2.7); the stated tolerance is 0.03.
LOSS_TOLERANCE = 0.03


def test_device_path_trains_to_the_same_losses_as_the_cpu_path(cifar_root):
    torch.manual_seed(0)
    net = resnet18(width=1 / 8)
    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, trust=True)
    cpu = _losses(copy.deepcopy(net), make_loader(data, 16, shuffle=True, seed=0), DataPath(), 4)
    bf16 = "bfloat16" if torch.amp.is_autocast_available("cpu") else None
    path = DataPath(resident=True, autocast=bf16, channels_last=True)
    device = _losses(copy.deepcopy(net), training_batches(data, 16, 0, "cpu", path), path, 4)
    assert len(cpu) == len(device) == 4
    assert max(abs(a - b) for a, b in zip(cpu, device)) < LOSS_TOLERANCE, (cpu, device)
    # float32 on the device path: the very same images, so the same losses to float rounding.
    exact = _losses(copy.deepcopy(net), training_batches(data, 16, 0, "cpu", DataPath(resident=True)), DataPath(), 4)
    assert max(abs(a - b) for a, b in zip(cpu, exact)) < 1e-4, (cpu, exact)


def test_data_path_is_on_for_cuda_and_off_for_the_cpu_and_refuses_unknown_precisions():
    assert DataPath.for_device("cpu") == DataPath()
    # Not the kept channels: the device check measured them slower on an H200 (DataPath.for_device)
    assert DataPath.for_device("cuda") == DataPath(resident=True, autocast="bfloat16", channels_last=True,
                                                   stack_codes=True, fold_batchnorm=True)
    with pytest.raises(ValueError, match="autocast"):
        DataPath(autocast="int8")


def test_float16_autocast_is_refused_as_the_training_loop_has_no_loss_scaling():
    with pytest.raises(ValueError, match=r"autocast must be None or 'bfloat16', got 'float16'"):
        DataPath(autocast="float16")


@pytest.mark.parametrize("capability, autocast", [((7, 0), None), ((7, 5), None), ((8, 0), "bfloat16"),
                                                  ((8, 9), "bfloat16"), ((9, 0), "bfloat16")],
                         ids=["V100", "T4", "A100", "L4", "H100"])
def test_bf16_autocast_only_where_the_gpu_computes_in_bf16_natively(monkeypatch, capability, autocast):
    """Before compute capability 8.0 (Colab's T4, a V100) bf16 is emulated and cuDNN has no bf16
    convolutions: such a GPU trains in float32, with every other choice of the GPU path kept. The GPU
    asked is the one trained on."""
    from coinfer.tensor_data import native_bf16

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: asked.append(device) or capability)
    assert DataPath.for_device("cuda:1") == DataPath(resident=True, autocast=autocast, channels_last=True,
                                                     stack_codes=True, fold_batchnorm=True)
    assert asked == [torch.device("cuda:1")]
    assert native_bf16(torch.device("cuda")) is (autocast is not None)
    assert not native_bf16("cpu") and asked == [torch.device("cuda:1"), torch.device("cuda")]


def test_compiling_every_network_on_request_and_with_the_kept_channels_refused(monkeypatch):
    monkeypatch.setenv("COINFER_COMPILE", "1")
    assert DataPath.for_device("cuda") == DataPath(resident=True, autocast="bfloat16", channels_last=True,
                                                   compile=True, stack_codes=True, fold_batchnorm=True,
                                                   compile_frozen=True)
    with pytest.raises(ValueError, match="kept_channels and compile"):
        DataPath(compile=True, kept_channels=True)


def test_a_frozen_part_compiled_without_generated_kernels_is_the_same_function_and_unknown_backends_are_refused():
    """``compile_backend="aot_eager"`` (the device check's CPU dry run) traces the frozen part and
    runs it eagerly: the same outputs and input gradients as the module itself."""
    torch.manual_seed(0)
    part = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    compiled = DataPath(compile_frozen=True, compile_backend="aot_eager").prepare_frozen(part, "cpu")
    assert compiled is not part
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    expected = part(x)
    expected.square().sum().backward()
    x_compiled = x.detach().clone().requires_grad_()
    out = compiled(x_compiled)
    torch.testing.assert_close(out, expected.detach())
    out.square().sum().backward()
    torch.testing.assert_close(x_compiled.grad, x.grad)
    with pytest.raises(ValueError, match="compile_backend must be 'inductor' or 'aot_eager', got 'tvm'"):
        DataPath(compile_backend="tvm")


def test_compiling_only_the_frozen_parts_on_request_and_a_bad_value_is_refused(monkeypatch):
    monkeypatch.setenv("COINFER_COMPILE", "frozen")
    assert DataPath.for_device("cuda") == DataPath(resident=True, autocast="bfloat16", channels_last=True,
                                                   stack_codes=True, fold_batchnorm=True, compile_frozen=True)
    assert DataPath(compile_frozen=True, kept_channels=True).kept_channels       # they go together
    assert DataPath.for_device("cpu") == DataPath()
    part = torch.nn.Linear(2, 2)
    assert DataPath().prepare_frozen(part, "cpu") is part
    assert DataPath(compile_frozen=True).prepare_frozen(part, "cpu")._orig_mod is part     # compiled, same weights
    modes = []
    monkeypatch.setattr(torch, "compile", lambda module, mode=None, backend="inductor": modes.append(mode) or module)
    DataPath(compile_frozen=True).prepare_frozen(part, "cuda")
    DataPath(compile_frozen=True).prepare_frozen(part, torch.device("cpu"))
    assert modes == ["reduce-overhead", None]                 # CUDA graphs on CUDA only
    DataPath(compile_frozen=True, compile_backend="aot_eager").prepare_frozen(part, "cuda")
    assert modes[-1] is None                                  # ... and only with inductor's kernels
    # A trained network (COINFER_COMPILE=1) likewise: the whole step's forward and backward in CUDA graphs.
    modes.clear()
    DataPath(compile=True).prepare(part, "cuda")
    DataPath(compile=True).prepare(part)                      # on the CPU, where its weights are
    DataPath(compile=True, compile_backend="aot_eager").prepare(part, "cuda")
    DataPath().prepare(part, "cuda")                          # nothing compiled
    assert modes == ["reduce-overhead", None, None]
    monkeypatch.setenv("COINFER_COMPILE", "forzen")
    with pytest.raises(ValueError, match="COINFER_COMPILE='forzen'.*'frozen'"):
        DataPath.for_device("cpu")


def test_compiling_the_codecs_too_on_request_one_module_with_their_server_part(monkeypatch):
    """``COINFER_COMPILE=all``: ``1`` and the codecs' training steps, which compile as one module with the
    frozen server part (CUDA graphs on CUDA), so that part is not compiled alone as well."""
    monkeypatch.setenv("COINFER_COMPILE", "all")
    assert DataPath.for_device("cuda") == DataPath(resident=True, autocast="bfloat16", channels_last=True,
                                                   compile=True, stack_codes=True, fold_batchnorm=True,
                                                   compile_frozen=True, compile_codecs=True)
    server, built = torch.nn.Linear(2, 2), []

    def training(part):
        built.append(part)
        return torch.nn.Sequential(part)

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module, mode=None, backend="inductor": compiled.append((module, mode))
                        or module)
    DataPath(compile_frozen=True, compile_codecs=True).prepare_codecs(training, server, "cuda")
    assert built == [server] and compiled == [(compiled[0][0], "reduce-overhead")] and compiled[0][0][0] is server
    compiled.clear()
    DataPath(compile_frozen=True).prepare_codecs(training, server, "cuda")     # the server part alone
    assert compiled == [(server, "reduce-overhead")]
    compiled.clear()
    assert DataPath().prepare_codecs(training, server, "cpu")[0] is server and compiled == []


def test_device_path_refuses_a_transform_it_does_not_reproduce(cifar_root):
    from torchvision import transforms

    data = load_split("cifar10", "test", root=cifar_root, trust=True)       # the dataset itself, no Subset
    data.transform = transforms.Compose([transforms.ColorJitter(0.1), *data.transform.transforms])
    with pytest.raises(ValueError, match="ColorJitter"):
        ResidentLoader(data, 4, shuffle=False)


@pytest.mark.parametrize("steps, message", [
    ([lambda t: t.RandomHorizontalFlip()], "flips exactly when it crops, not a flip alone"),   # was never flipped
    ([lambda t: t.Grayscale(1)], "Grayscale"),                                               # was made 3 channels
    ([lambda t: t.Pad(2, fill=255)], "Pad"),                                                 # was padded with 0
    ([lambda t: t.Pad(2)], r"Pad\(padding=2, fill=0.*on colour images"),                    # a colour image never was
    ([lambda t: t.RandomCrop(32, padding=4, fill=255), lambda t: t.RandomHorizontalFlip()], "fill=255"),
    ([lambda t: t.RandomCrop(32, padding=4, padding_mode="reflect"), lambda t: t.RandomHorizontalFlip()],
     "padding_mode='reflect'"),                                                              # ... with zeros
    ([lambda t: t.RandomCrop(32, padding=4, pad_if_needed=True), lambda t: t.RandomHorizontalFlip()],
     "pad_if_needed=True"),
])
def test_device_path_refuses_transforms_it_accepted_but_did_not_reproduce(cifar_root, steps, message):
    from torchvision import transforms

    data = load_split("cifar10", "test", root=cifar_root, trust=True)
    data.transform = transforms.Compose([step(transforms) for step in steps] + list(data.transform.transforms))
    with pytest.raises(ValueError, match=message):
        ResidentLoader(data, 4, shuffle=False)


@pytest.mark.parametrize("change, message", [
    (lambda t, s: [t.Grayscale(3), *s], r"Grayscale\(num_output_channels=3\).*on colour images"),  # CPU: grey
    (lambda t, s: [*s, t.Normalize((0.5,) * 3, (0.5,) * 3)], "at most once"),      # CPU: both, device: the last
    (lambda t, s: [t.RandomCrop(32, padding=4), *s], "at most once"),              # CPU: two shifts, device: one
    (lambda t, s: [*s[:2], s[3], s[2]], "at most once, in the order"),             # Normalize before ToTensor
    (lambda t, s: s[:2] + s[3:], "has ToTensor"),                                   # no ToTensor: no / 255 either
])
def test_device_path_takes_only_the_steps_load_dataset_builds_each_once_in_its_order(cifar_root, change, message):
    from torchvision import transforms

    data = load_split("cifar10", "train", VALIDATION, root=cifar_root, augment=True, trust=True)
    steps = list(data.dataset.transform.transforms)       # RandomCrop, RandomHorizontalFlip, ToTensor, Normalize
    data.dataset.transform = transforms.Compose(change(transforms, steps))
    with pytest.raises(ValueError, match=message):
        ResidentLoader(data, 4, shuffle=False)


def test_device_path_refuses_grey_images_without_three_channels_or_cropped_to_another_size(fashion_root):
    from torchvision import transforms

    data = load_split("fashion-mnist", "test", root=fashion_root, limit=8)
    pad, grey, *rest = data.dataset.transform.transforms
    data.dataset.transform = transforms.Compose([pad, *rest])          # the CPU gives 1 channel, the device 3
    with pytest.raises(ValueError, match="has Grayscale"):
        ResidentLoader(data, 4, shuffle=False)
    crop = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    data.dataset.transform = transforms.Compose([grey, *crop, *rest])  # 28x28 images: the device crops 28x28
    with pytest.raises(ValueError, match=r"RandomCrop.*images of \(28, 28\) pixels"):
        ResidentLoader(data, 4, shuffle=False)
    data.dataset.transform = transforms.Compose([pad, grey, *crop, *rest])   # as load_dataset builds it
    assert ResidentLoader(data, 4, shuffle=False).augment


def test_device_path_refuses_a_target_transform_as_it_reads_the_labels_as_stored(fashion_root):
    data = load_split("fashion-mnist", "test", root=fashion_root, limit=8)
    data.dataset.target_transform = relabel = lambda y: (y + 1) % 10
    for build in (lambda: ResidentLoader(data, 4, shuffle=False), lambda: training_batches(data, 4, 0, "cpu",
                                                                                            DataPath(resident=True))):
        with pytest.raises(ValueError, match=f"target_transform {relabel!r}"):
            build()
