import copy
import json
import pickle

import pytest
import torch

from coinfer.core.network import PAPER_SPLIT_POINTS, SPLIT_ALIASES, SPLIT_POINTS, SplitPoint, resnet18, split


def test_every_split_point_composes_to_the_full_model(tiny_net):
    x = torch.randn(4, 3, 32, 32)
    full = tiny_net(x)
    for point in SPLIT_POINTS:
        device, server = split(tiny_net, point)
        assert torch.equal(server(device(x)), full), point


def test_split_points_cover_the_paper_and_every_block():
    assert SPLIT_POINTS[0] == "input" and SPLIT_POINTS[-1] == "output"
    for point in PAPER_SPLIT_POINTS:
        assert point in SPLIT_POINTS
    for stage in range(1, 5):
        assert f"layer{stage}.0" in SPLIT_POINTS and f"layer{stage}.1" in SPLIT_POINTS


def test_aliases_resolve_to_the_paper_points():
    assert [SplitPoint(f"s{i}") for i in range(1, 6)] == list(PAPER_SPLIT_POINTS)
    assert SplitPoint("layer3") == "layer3.1"
    assert all(SplitPoint(a) in SPLIT_POINTS for a in SPLIT_ALIASES)


def test_unknown_split_point_lists_the_valid_ones(tiny_net):
    with pytest.raises(ValueError) as info:
        split(tiny_net, "layer5")
    message = str(info.value)
    assert "'layer5'" in message and "layer2.1" in message and "stem" in message


def test_split_point_is_a_validated_str():
    point = SplitPoint("s4")
    assert isinstance(point, str) and point == "layer3.1" and str(point) == "layer3.1"
    assert SplitPoint(point) is point                       # already validated: returned as is
    assert [SplitPoint(p).index for p in SPLIT_POINTS] == list(range(len(SPLIT_POINTS)))
    assert {point: 1}["layer3.1"] == 1 and json.dumps(point) == '"layer3.1"'
    assert copy.deepcopy(point) == point and pickle.loads(pickle.dumps(point)) == point
    with pytest.raises(ValueError) as info:
        SplitPoint("layer5")
    message = str(info.value)
    assert "'layer5'" in message and all(p in message for p in SPLIT_POINTS) and "s4=layer3.1" in message


def test_split_rejects_other_modules():
    with pytest.raises(ValueError, match="CifarResNet18"):
        split(torch.nn.Sequential(torch.nn.Linear(2, 2)), "layer1.1")


def test_a_sequence_of_the_stages_splits_like_the_network(tiny_net):
    x = torch.randn(2, 3, 32, 32)
    whole, _ = split(tiny_net, "output")
    for point in SPLIT_POINTS:
        device, server = split(whole, point)
        assert [n for n, _ in device.named_children()] == [n for n, _ in split(tiny_net, point)[0].named_children()]
        assert torch.equal(server(device(x)), tiny_net(x)), point


def test_extremes_put_nothing_on_one_side(tiny_net):
    device, server = split(tiny_net, "input")
    assert len(device) == 0 and len(server) == len(SPLIT_POINTS) - 1
    device, server = split(tiny_net, "output")
    assert len(server) == 0
    assert SplitPoint("output").index == len(SPLIT_POINTS) - 1


def test_parts_share_the_model_weights(tiny_net):
    device, _ = split(tiny_net, "layer1.1")
    with torch.no_grad():
        device.stem[0].weight.zero_()
    assert tiny_net.stem[0].weight.abs().sum() == 0


@pytest.mark.parametrize("width, channels", [(1.0, (64, 128, 256, 512)), (0.125, (8, 16, 32, 64))])
def test_width_multiplier_scales_stages(width, channels):
    net = resnet18(width=width)
    assert net.config.stage_channels == channels
    assert net.fc.in_features == channels[-1]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_bad_width_is_rejected():
    with pytest.raises(ValueError, match="width"):
        resnet18(width=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"width": float("inf")}, "width must be a finite number > 1/128 .*got inf"),   # was an OverflowError
    ({"width": float("nan")}, "width must be a finite number > 1/128 .*got nan"),
    ({"width": "0.5"}, "width must be a finite number > 1/128 .*got '0.5'"),         # was a TypeError
    ({"width": True}, "width must be a finite number > 1/128 .*got True"),           # was the full width
    ({"width": 1e-6}, "width must be a finite number > 1/128 .*got 1e-06"),          # was rounded up to 1 channel
    ({"width": 1 / 128}, "width must be a finite number > 1/128 .*got 0.0078125"),   # 64 / 128 rounds to 0
    ({"num_classes": 10.5}, r"num_classes must be an integer >= 2, got 10.5"),
    ({"num_classes": True}, r"num_classes must be an integer >= 2, got True"),
    ({"in_channels": 0}, r"in_channels must be an integer >= 1 \(image channels\), got 0"),
    ({"in_channels": 3.0}, r"in_channels must be an integer >= 1 \(image channels\), got 3.0"),
])
def test_a_bad_network_shape_is_refused_naming_the_value(kwargs, message):
    from coinfer.core.network import ResNetConfig

    with pytest.raises(ValueError, match=message):
        ResNetConfig(**kwargs)
    with pytest.raises(ValueError, match=message):
        resnet18(**kwargs)


def test_the_smallest_width_is_the_one_whose_stem_rounds_to_one_channel_and_none_is_rounded_up():
    import numpy as np

    assert resnet18(width=0.0079).config.stage_channels == (1, 1, 2, 4)      # 64 * 0.0079 = 0.51 rounds to 1
    with pytest.raises(ValueError, match="got 0.0078"):                     # 0.4992 rounds to 0: was made 1
        resnet18(width=0.0078)
    assert resnet18(width=np.float64(0.125), num_classes=np.int64(2), in_channels=1).config.stage_channels == (8, 16, 32, 64)


@pytest.mark.parametrize("point", SPLIT_POINTS)
def test_folding_the_batch_norms_keeps_each_parts_function(tiny_net, point):
    """Both parts at every split point, and a pruned device part compacted to its kept channels: the
    folded copy computes the same outputs and input gradients (float32 rounding), holds no batch
    norm, and leaves the part as it was."""
    from coinfer.core.network import fold_batchnorm
    from coinfer.core.pruning import compact, device_layout

    net = copy.deepcopy(tiny_net)
    for m in net.modules():                          # affine parameters away from 1 and 0, too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    device, server = split(net, point)
    parts = [(device, torch.randn(3, 3, 32, 32)), (server, torch.randn(3, *device(torch.zeros(1, 3, 32, 32)).shape[1:]))]
    if point == "layer2.1":
        layout = device_layout(device)
        small, scatter = compact(device, {g.name: list(range(0, g.channels, 2)) for g in layout.groups})
        parts.append((small, torch.randn(3, 3, 32, 32)))
    for part, x in parts:
        if not any(isinstance(m, torch.nn.BatchNorm2d) for m in part.modules()):
            continue                                  # e.g. the server part after pool: the classifier alone
        before = copy.deepcopy(part.state_dict())
        folded = fold_batchnorm(part)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        grads = []
        for module in (part, folded):
            xi = x.clone().requires_grad_(True)
            out = module(xi)
            out.square().sum().backward()
            grads.append((out.detach(), xi.grad))
        torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-5)
        assert all(torch.equal(v, part.state_dict()[k]) for k, v in before.items())


def test_folding_refuses_a_batch_norm_in_training_mode(tiny_net):
    from coinfer.core.network import fold_batchnorm

    _, server = split(copy.deepcopy(tiny_net).train(), "layer3.1")
    with pytest.raises(ValueError, match=r"eval-mode batch norms only; in training mode: \['layer4_0.bn1'"):
        fold_batchnorm(server)
    with pytest.raises(ValueError, match="no convolution directly before the batch norm"):
        fold_batchnorm(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.BatchNorm2d(4)).eval())
