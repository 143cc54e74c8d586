"""Tests of the Fig. 3 baselines (coinfer.core.baselines, coinfer.experiments.baselines) and the Taylor criterion they add to coinfer.core.pruning.
Tiny networks, a few images: seconds on 2 CPU cores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from coinfer.config import PruneSettings
from coinfer.core.baselines import bottlenet_channels, bottlenet_codec
from coinfer.experiments.baselines import (bottlenet_evaluate, png_record, two_step_record, two_step_step1,
                                           two_step_step2)
from coinfer.core.encoding import UniformQuantizer
from coinfer.experiments.encoding import FeatureSource, get_encode_config
from coinfer.core.network import resnet18, split
from coinfer.core.pruning import IncrementalPruner, SparsitySchedule, device_layout
from coinfer.core.taylor import TaylorImportance


def _loader(n=32, batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


TAYLOR = PruneSettings(splits=("layer2.1",), sparsities=(0.5,), epochs=2, criterion="taylor", lr=1e-3,
                       schedule=SparsitySchedule(kind="linear", ramp_fraction=1.0, interval=2))


# ----------------------------------------------------------------------------------- PNG

def test_png_record_is_the_mean_png_image_data_without_its_container(fashion_root):
    from PIL import Image
    import io
    import struct
    import zlib

    from coinfer.data import native_images

    record = png_record("fashion-mnist", 0.9, 1234, images=20, root=fashion_root)
    files, data = [], []
    for image in native_images("fashion-mnist", train=False, root=fashion_root, limit=20):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        png = buffer.getvalue()
        files.append(8 * len(png))
        stream, pos = b"", 8                       # the IDAT chunks' data: one zlib stream
        while pos < len(png):
            length, kind = struct.unpack(">I4s", png[pos:pos + 8])
            stream += png[pos + 8:pos + 8 + length] if kind == b"IDAT" else b""
            pos += 12 + length
        assert len(zlib.decompress(stream)) == 28 * (28 + 1)    # the filtered scanlines: it is the image
        data.append(8 * (len(stream) - 2 - 4))                   # without zlib's header and Adler-32
    assert record.bits_per_image == pytest.approx(np.mean(data))
    assert record.extra["png_file_bits"] == pytest.approx(np.mean(files))
    assert record.extra["png_file_bits"] - record.bits_per_image == 8 * (8 + 25 + 12 + 12 + 6)   # one IDAT
    assert (record.method, record.split, record.device_macs, record.server_macs) == ("png", "input", 0, 1234)
    assert record.accuracy == 0.9 and record.extra["raw_bits"] == 28 * 28 * 8
    assert record.bits_per_image < record.extra["raw_bits"]   # PNG compresses these images


# ----------------------------------------------------------------------------------- BottleNet++

def test_bottlenet_codec_is_conv_bn_sigmoid_8bit_without_entropy_model():
    codec = bottlenet_codec((32, 8, 8), bottlenet_channels((32, 8, 8), 16))
    layers = list(codec.encoder.net)
    assert [type(m) for m in layers] == [nn.Conv2d, nn.BatchNorm2d, nn.Sigmoid]
    assert layers[0].out_channels == 2 and not any(isinstance(m, nn.Linear) for m in codec.modules())
    assert isinstance(codec.bottleneck, UniformQuantizer) and codec.bottleneck.levels == 256
    assert codec.entropy_model is None


@pytest.mark.parametrize("reduction", [0, -2, 1.5, True])
def test_bottlenet_bad_reduction_names_it(reduction):
    with pytest.raises(ValueError, match="reduction"):
        bottlenet_channels((32, 8, 8), reduction)


def test_bottlenet_needs_a_spatial_feature():
    with pytest.raises(ValueError, match="pool"):
        bottlenet_channels((64,), 4)


def test_bottlenet_sends_one_byte_per_value_and_decodes_exactly():
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).eval()
    device_part, server_part = split(net, "layer3.1")
    images = torch.randn(10, 3, 32, 32)
    dataset = torch.utils.data.TensorDataset(images, torch.arange(10) % 10)
    source = FeatureSource(device_part, dataset, precompute=True, batch_size=5)
    shape = source.feature_shape                       # (16, 8, 8) at width 1/16
    codec = bottlenet_codec(shape, bottlenet_channels(shape, 8)).eval()
    result = bottlenet_evaluate(codec, server_part, source, batch_size=5)
    assert result["bits_real"] == 8 * 2 * 8 * 8        # c = 16 // 8 = 2 channels of 8 x 8 bytes
    with torch.no_grad():                              # the same logits as the codec's own eval forward
        expected = server_part(codec(source.features)["feature_hat"]).argmax(1)
    assert result["accuracy"] == pytest.approx((expected == source.labels).float().mean().item())
    assert 0 < result["bits_entropy"] <= result["bits_real"]


# ----------------------------------------------------------------------------------- Taylor criterion

def _taylor_step(autocast: bool):
    """One training step of a whole network hooked by TaylorImportance (in CPU bf16 autocast if
    ``autocast``): the importance, and the first BatchNorm's output and its loss gradient."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).train()
    device_part, _ = split(net, "output")
    importance = TaylorImportance(device_part, device_layout(device_part))
    x, y = _loader(n=6, batch=6)[0]
    saved = {}
    handle = net.layer1[0].bn1.register_forward_hook(lambda m, i, o: saved.setdefault("a", o))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = nn.functional.cross_entropy(net(x), y)
    (grad,) = torch.autograd.grad(loss, saved["a"], retain_graph=True)
    handle.remove()
    loss.backward()
    return importance, saved["a"].detach(), grad


def test_taylor_importance_is_mean_activation_times_gradient():
    importance, activation, grad = _taylor_step(autocast=False)
    # relu(inplace) overwrote a's negative entries, where the gradient is 0 anyway.
    expected = (activation * grad).mean(dim=(2, 3)).abs().mean(0)
    torch.testing.assert_close(importance.scores()["layer1_0.conv1"], expected)
    importance.remove()


def test_taylor_importance_sums_in_float32_under_bf16_autocast():
    """The GPU path trains under bf16 autocast, where the BatchNorm outputs and their gradients are
    bf16: the importance still sums in float32, over a whole pruning interval, and equals the float32
    product of those bf16 tensors."""
    importance, activation, grad = _taylor_step(autocast=True)
    assert activation.dtype == grad.dtype == torch.bfloat16                 # what the hooks receive
    assert all(s.dtype == torch.float32 for s in importance.sums.values())
    expected = (activation.float() * grad.float()).mean(dim=(2, 3)).abs().mean(0)
    torch.testing.assert_close(importance.scores()["layer1_0.conv1"], expected)
    importance.remove()


def test_taylor_pruner_waits_for_a_gradient_then_reaches_the_target():
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).train()
    device_part, _ = split(net, "layer2.1")
    pruner = IncrementalPruner(device_part, 0.5, total_steps=4, criterion="taylor",
                               schedule=SparsitySchedule(kind="linear", ramp_fraction=1.0, interval=2))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    pruner.attach(optimizer)
    pruner.step(0)
    assert pruner.masks == {} and pruner.current_fraction == 0.0      # no gradient seen yet
    for step, (x, y) in enumerate(_loader(n=32, batch=8)):
        pruner.step(step)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    pruner.detach()
    pruner.finish()
    for group in pruner.layout.groups:
        assert len(pruner.keep_indices()[group.name]) == group.channels - math.floor(0.5 * group.channels)


def test_unknown_criterion_names_the_choices():
    net = resnet18(width=1 / 16)
    with pytest.raises(ValueError, match="l2, taylor"):
        IncrementalPruner(split(net, "layer1.1")[0], 0.5, 10, criterion="l1")
    with pytest.raises(ValueError, match="criterion"):
        PruneSettings(splits=("layer1.1",), sparsities=(0.5,), epochs=1, criterion="random")


# ----------------------------------------------------------------------------------- 2-Step Pruning

def test_two_step_prunes_everything_then_only_the_sent_channels(fashion_root):
    from coinfer.data import load_dataset

    torch.manual_seed(0)
    base = resnet18(width=1 / 16).eval()
    step1 = two_step_step1(base, 0.25, TAYLOR, _loader())
    layout1 = device_layout(split(step1.model, "output")[0])
    for group in layout1.groups:     # step 1: every group of the whole network, by the same fraction
        assert len(step1.keep[group.name]) == group.channels - math.floor(0.25 * group.channels)
    assert next(base.parameters()).abs().sum() > 0   # the baseline itself is untouched

    step2 = two_step_step2(step1, "layer3.1", 0.5, TAYLOR, _loader(seed=1))
    kept1 = {g: len(k) for g, k in step1.keep.items()}
    for group in device_layout(split(step2.model, "layer3.1")[0]).groups:
        if group.is_output:          # step 2: only the stream that reaches the split point
            assert len(step2.keep[group.name]) == kept1[group.name] - math.floor(0.5 * kept1[group.name])
        else:
            assert len(step2.keep[group.name]) == kept1[group.name]

    device_part, server_part = step2.parts()
    x = _loader(n=4, batch=4)[0][0]
    with torch.no_grad():            # the compacted pipeline equals the masked compacted network
        torch.testing.assert_close(server_part(device_part(x)), step2.model.eval()(x), atol=1e-5, rtol=1e-4)

    config = get_encode_config("quick", huffman_train_images=20, eval_batch_size=10)
    train = load_dataset("fashion-mnist", True, root=fashion_root, limit=20)
    test = load_dataset("fashion-mnist", False, root=fashion_root, limit=10)
    record = two_step_record(step2, 0.25, train, test, config, log=lambda *_: None)
    sent = record.extra["feature_shape"]
    assert sent[0] == len(step2.keep["layer3_0"])     # the stream of stage 3 reaches layer3.1
    assert record.method == "2-step-pruning" and record.split == "layer3.1" and record.sparsity == 0.25
    assert 0 < record.bits_per_image < 8 * math.prod(sent) + 64     # Huffman beats 8 bits per value (+ header)
    from coinfer.core.costs import thop_macs

    unpruned_server = thop_macs(split(base, "layer3.1")[1], (16, 8, 8))[0]
    assert record.server_macs < unpruned_server                     # the server part was pruned in step 1


def test_taylor_hooks_do_not_keep_activations_alive():
    """Regression: a hook closure holding its own tensor leaked every activation (21 GB in a sweep)."""
    import gc
    import weakref

    torch.manual_seed(0)
    net = resnet18(width=1 / 16).train()
    device_part, _ = split(net, "layer2.1")
    importance = TaylorImportance(device_part, device_layout(device_part))
    refs = []
    handle = net.stem[1].register_forward_hook(lambda m, i, o: refs.append(weakref.ref(o)))
    x, y = _loader(n=4, batch=4)[0]
    nn.functional.cross_entropy(net(x), y).backward()
    handle.remove()
    gc.collect()
    assert importance.scores() is not None and refs[0]() is None


def test_a_taylor_fine_tune_runs_eagerly_on_a_compiling_path_and_an_l2_one_compiles(monkeypatch):
    """Taylor importance keeps tensors from hooks, which a CUDA graph's replay would overwrite: with
    COINFER_COMPILE=1 its fine-tune (2-Step Pruning's first step) trains the network uncompiled."""
    from dataclasses import replace

    from coinfer.experiments.pruning import prune_finetune
    from coinfer.tensor_data import DataPath

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module, mode=None, backend="inductor": compiled.append(module) or module)
    path = DataPath(compile=True, compile_backend="aot_eager")
    prune_finetune(resnet18(width=1 / 16), "layer2.1", 0.5, TAYLOR, _loader(), torch.device("cpu"), path=path)
    assert compiled == []
    prune_finetune(resnet18(width=1 / 16), "layer2.1", 0.5, replace(TAYLOR, criterion="l2"), _loader(),
                   torch.device("cpu"), path=path)
    assert len(compiled) == 1


def test_a_compiled_pruning_fine_tune_is_the_eager_one(monkeypatch):
    """``COINFER_COMPILE=1`` trains the network compiled (here inductor's CPU kernels; CUDA graphs on
    a GPU) while the pruner changes its weights in place between steps: the same masks, losses and
    weights as eagerly, to float32 rounding, and the compiled graph, not the eager module, ran."""
    from dataclasses import replace

    from torch._dynamo.utils import counters

    from coinfer.experiments.pruning import prune_finetune
    from coinfer.tensor_data import DataPath

    settings = replace(TAYLOR, criterion="l2")
    pruned = {}
    for compiled in (False, True):
        torch._dynamo.reset()
        counters.clear()
        torch.manual_seed(0)
        pruned[compiled] = prune_finetune(resnet18(width=1 / 16), "layer2.1", 0.5, settings, _loader(),
                                          torch.device("cpu"), path=DataPath(compile=compiled))
        assert (counters["stats"]["unique_graphs"] >= 1) == compiled, dict(counters["stats"])
    torch._dynamo.reset()
    eager, compiled = pruned[False], pruned[True]
    assert compiled.keep == eager.keep and compiled.meta["iterations"] == eager.meta["iterations"] > 1
    assert compiled.meta["train_loss"] == pytest.approx(eager.meta["train_loss"], rel=1e-4)
    # Adam divides each gradient by its own scale, so float rounding in a near-zero gradient can move a
    # weight by up to a step of lr (1e-3 here): the weights agree to that, the losses far closer.
    for (name, a), b in zip(eager.model.state_dict().items(), compiled.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=settings.lr, msg=name)
        assert torch.equal(a == 0, b == 0) or not a.is_floating_point() or a.dim() != 4, name   # masked filters
