"""The one feature cache (coinfer.data.FeatureSource): a frozen device part's outputs, computed once."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from coinfer.core.features import FeatureSource


def _dataset(n=10):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 3, 4, 4, generator=g), torch.arange(n))


def test_precomputed_and_per_batch_sources_deliver_the_same_features():
    torch.manual_seed(0)
    part = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.BatchNorm2d(2)).train()
    cached = FeatureSource(part, _dataset(), precompute=True, batch_size=4)
    assert not part.training                                    # the device part is frozen in eval mode
    live = FeatureSource(part, _dataset(), precompute=False, batch_size=4)
    assert len(cached) == len(live) == 10 and cached.feature_shape == live.feature_shape == (2, 2, 2)
    with torch.no_grad():
        expected = part(_dataset().tensors[0])
    torch.testing.assert_close(cached.features, expected)
    for (a, ya), (b, yb) in zip(cached.batches(3), live.batches(3)):
        torch.testing.assert_close(a, b)
        assert torch.equal(ya, yb)


def test_shuffled_batches_follow_the_seed_and_cover_everything():
    source = FeatureSource.from_tensors(torch.arange(12.0)[:, None], torch.arange(12))
    first = [y for _, y in source.batches(5, shuffle=True, seed=1)]
    again = [y for _, y in source.batches(5, shuffle=True, seed=1)]
    other = [y for _, y in source.batches(5, shuffle=True, seed=2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert sorted(torch.cat(first).tolist()) == list(range(12))
    assert [len(y) for y in first] == [5, 5, 2]
