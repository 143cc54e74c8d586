import math

import pytest
import torch

from coinfer.core.network import SPLIT_POINTS, resnet18, split
from coinfer.core.costs import (amplifies, count_params, flop_counter_macs, format_table, input_size,
                                profile_splits, thop_macs, time_forward)


@pytest.fixture(scope="module")
def full_rows():
    return profile_splits(resnet18(width=1.0))


def test_full_width_totals_match_the_paper(full_rows):
    """The authors' code reports 555.4M MACs and 11.17M parameters for the whole network."""
    last = full_rows[-1]
    assert last.point == "output" and last.server_macs == 0
    assert abs(last.device_macs - 555.4e6) / 555.4e6 < 0.01
    assert abs(last.device_params - 11.17e6) / 11.17e6 < 0.01


def test_thop_agrees_with_torch_flop_counter():
    """thop counts MACs of conv, linear, BN and pooling; FlopCounterMode counts FLOPs (2 x MACs) of
    conv and matmul only. Their MACs agree within 1%, and FlopCounterMode reproduces the authors'
    555.4M exactly (they counted conv and linear layers)."""
    net = resnet18(width=1.0)
    thop_total, _ = thop_macs(net, (3, 32, 32))
    torch_total = flop_counter_macs(net, (3, 32, 32))
    assert torch_total == pytest.approx(555.42e6, rel=1e-4)
    assert thop_total > torch_total  # thop also counts batch norms
    assert abs(thop_total - torch_total) / torch_total < 0.01


def test_cumulative_costs_equal_profiling_the_device_part(tiny_net):
    rows = profile_splits(tiny_net)
    for row in rows:
        device, server = split(tiny_net, row.point)
        if len(device):
            assert thop_macs(device, (3, 32, 32))[0] == row.device_macs
        assert count_params(device) == row.device_params
        assert row.device_macs + row.server_macs == rows[-1].device_macs


def test_paper_split_points_costs_and_shapes(full_rows):
    by_point = {r.point: r for r in full_rows}
    # Authors' cumulative MACs (conv + linear): s1 1.8M, s2 152.8M, s3 287.0M, s4 421.2M, s5 555.4M;
    # thop adds about 0.5% for batch norms.
    for point, macs in [("stem", 1.8e6), ("layer1.1", 152.8e6), ("layer2.1", 287.0e6),
                        ("layer3.1", 421.2e6), ("pool", 555.4e6)]:
        assert by_point[point].device_macs == pytest.approx(macs, rel=0.15 if point == "stem" else 0.01)
    assert by_point["stem"].feature_shape == (64, 32, 32)
    assert by_point["layer2.1"].feature_shape == (128, 16, 16)
    assert by_point["layer3.1"].feature_shape == (256, 8, 8)
    assert by_point["pool"].feature_shape == (512,)
    assert by_point["pool"].paper_name == "s5"
    assert by_point["layer3.1"].feature_bits_float32 == 32 * 256 * 64
    assert by_point["layer3.1"].feature_bits_8bit == 8 * 256 * 64


def test_data_amplification_at_early_splits(full_rows):
    """Every split before the final pooling sends more float32 bits than a raw 32x32x3 CIFAR image (24,576
    bits): the image itself (4x, in float32) and every stage's output; the pooled feature and the scores do not."""
    raw = 32 * 32 * 3 * 8
    amplified = [r.point for r in full_rows if amplifies(r, raw)]
    assert amplified == list(SPLIT_POINTS[:SPLIT_POINTS.index("pool")])
    assert [r.point for r in full_rows] == list(SPLIT_POINTS)


def test_input_size_of_real_fashion_mnist(fashion_root):
    size = input_size("fashion-mnist", root=fashion_root, limit=200)
    assert size.image_shape == (28, 28) and size.raw_bits == 28 * 28 * 8
    # A PNG of a 28x28 grey Fashion-MNIST image is about 500 bytes (reference notes: ~508 bytes).
    assert 300 * 8 < size.png_bits_mean < 700 * 8
    assert size.images == 200


def test_table_mentions_units(full_rows):
    text = format_table(full_rows)
    assert "MACs" in text and "FLOPs = 2 x MACs" in text
    assert len(text.splitlines()) == len(SPLIT_POINTS) + 3
    assert math.isclose(full_rows[0].feature_bits_float32, 32 * 3 * 32 * 32)


def test_time_forward_counts_repeats(tiny_net):
    times = time_forward(tiny_net, (3, 32, 32), repeats=3, warmup=1)
    assert len(times) == 3 and all(t > 0 for t in times)
    with pytest.raises(ValueError):
        time_forward(tiny_net, (3, 32, 32), repeats=0)
