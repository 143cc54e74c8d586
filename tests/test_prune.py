"""Tests of coinfer.core.pruning (masks, restoration, schedule, residual coupling, compaction) and of
coinfer.experiments.pruning (fine-tuning with the pruner, checkpoints, the committed table).

Tiny networks (width 1/16 or 1/8) and a handful of images, so the whole file runs in seconds.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coinfer.core.network import SPLIT_POINTS, resnet18, split
from coinfer.core.costs import thop_macs
from coinfer.config import PruneSettings, get_preset
from coinfer.paths import project_root
from coinfer.core.pruning import (
    ChannelScatter,
    IncrementalPruner,
    PrunedModel,
    SparsitySchedule,
    channel_scores,
    compact,
    device_layout,
    pruned_costs,
    smallest_channel_mask,
    sparsity_schedule,
)
from coinfer.experiments.pruning import load_pruned, prune_finetune, save_pruned


def get_prune_config(preset: str, **overrides) -> PruneSettings:
    """A preset's pruning settings with ``overrides`` (the API these tests were written against)."""
    return get_preset(preset, **{f"pruning.{k}": v for k, v in overrides.items()}).pruning

INPUT = (3, 32, 32)


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, so that a wrongly kept channel would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model


def tiny_net(width: float = 1 / 16, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_batchnorm(resnet18(width=width), seed)


def pruned_at(point: str, sparsity: float = 0.5, width: float = 1 / 16, **kwargs):
    net = tiny_net(width)
    device, _ = split(net, point)
    pruner = IncrementalPruner(device, sparsity, total_steps=4, schedule=SparsitySchedule(interval=2), **kwargs)
    pruner.finish()
    return net.eval(), device, pruner


def batches(n: int = 16, batch: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(n, *INPUT, generator=g), torch.randint(0, 10, (n,), generator=g))
    return DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed))


# -- masks --------------------------------------------------------------------------------------

def test_mask_masks_the_smallest_scores_and_floor_of_the_fraction():
    scores = torch.tensor([5.0, 1.0, 4.0, 0.5, 3.0, 2.0, 6.0, 7.0])
    keep = smallest_channel_mask(scores, 0.5)
    assert keep.tolist() == [True, False, True, False, False, False, True, True]
    assert smallest_channel_mask(scores, 0.3).sum().item() == 8 - math.floor(0.3 * 8)
    assert smallest_channel_mask(scores, 0.0).all()


def test_free_group_is_ranked_by_the_l2_norm_of_each_output_filter():
    net = tiny_net()
    device, _ = split(net, "layer1.1")
    conv = device.get_submodule("layer1_0.conv1")
    with torch.no_grad():
        # l2 and L1 disagree on purpose: filter 0 has the larger L1 norm but the smaller l2 norm.
        conv.weight.copy_(torch.ones_like(conv.weight))
        conv.weight[0].fill_(0.1)                       # l2 = 0.1 * sqrt(36) = 0.6, L1 = 3.6
        conv.weight[1].zero_()
        conv.weight[1, 0, 0, 0] = 1.0                   # l2 = 1.0, L1 = 1.0
        conv.weight[2].fill_(0.05)                      # l2 = 0.3
    pruner = IncrementalPruner(device, 0.75, total_steps=1)   # 4 channels -> 3 masked
    pruner.start_iteration(1.0)
    assert torch.nonzero(~pruner.masks["layer1_0.conv1"]).flatten().tolist() == [0, 1, 2]


def test_coupled_group_is_ranked_by_all_member_filters_together():
    net = tiny_net()
    device, _ = split(net, "layer2.1")
    layout = device_layout(device)
    group = layout.group("layer2_0")
    scores = channel_scores(device, layout)["layer2_0"]
    expected = sum(device.get_submodule(m).weight.detach().pow(2).flatten(1).sum(1) for m in group.members).sqrt()
    torch.testing.assert_close(scores, expected)


# -- residual coupling ---------------------------------------------------------------------------

def test_residual_streams_are_grouped_across_consecutive_blocks():
    net = tiny_net()
    device, _ = split(net, "layer3.1")
    layout = device_layout(device)
    groups = {g.name: g for g in layout.groups}
    assert set(groups["stem"].members) == {"stem.0", "layer1_0.conv2", "layer1_1.conv2"}
    assert set(groups["layer2_0"].members) == {"layer2_0.conv2", "layer2_0.shortcut.0", "layer2_1.conv2"}
    assert set(groups["layer3_0"].members) == {"layer3_0.conv2", "layer3_0.shortcut.0", "layer3_1.conv2"}
    assert not groups["layer2_1.conv1"].coupled
    assert layout.output_group.name == "layer3_0"
    # A block's first conv reads the stream of the previous stage.
    ins = {c.conv: c.in_group for c in layout.convs}
    assert ins["layer2_0.conv1"] == ins["layer2_0.shortcut.0"] == "stem"
    assert ins["layer3_1.conv1"] == "layer3_0"


def test_coupled_members_are_masked_on_the_same_channels_and_the_sum_is_zero_there():
    net, device, pruner = pruned_at("layer2.1", 0.5)
    for group in pruner.layout.groups:
        masked = ~pruner.masks[group.name]
        assert masked.sum().item() == math.floor(0.5 * group.channels)
        for member in group.members:
            w = device.get_submodule(member).weight
            assert torch.all(w[masked] == 0) and torch.all(w[~masked].abs().sum((1, 2, 3)) > 0)
    with torch.no_grad():
        feature = device(torch.randn(2, *INPUT))
    out_masked = ~pruner.masks[pruner.layout.output_group.name]
    assert torch.all(feature[:, out_masked] == 0) and feature[:, ~out_masked].abs().sum() > 0


# -- training: zero in forward, no update, restoration ------------------------------------------

def test_masked_weights_stay_zero_and_get_no_update_even_with_adam_momentum():
    net = tiny_net()
    device, _ = split(net, "layer2.1")
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=5e-4)
    loader = batches()
    loss_fn = nn.CrossEntropyLoss()
    x, y = next(iter(loader))
    for _ in range(2):          # momentum built up before masking: it would move masked weights
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
    pruner = IncrementalPruner(device, 0.5, total_steps=100, schedule=SparsitySchedule("constant", interval=100))
    pruner.attach(optimizer)
    pruner.step(0)
    activations = {}
    net.get_submodule("layer1.0.bn1").register_forward_hook(lambda m, i, o: activations.update(bn1=o.detach()))
    before = {n: p.detach().clone() for n, p in device.named_parameters()}
    net.train()
    for _ in range(3):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
        masked = ~pruner.masks["layer1_0.conv1"]
        assert torch.all(activations["bn1"][:, masked] == 0)     # zero in the forward pass
    pruner.detach()
    for group in pruner.layout.groups:
        masked = ~pruner.masks[group.name]
        for member in group.members:
            w = device.get_submodule(member).weight
            assert torch.all(w[masked] == 0)
            changed = (w[~masked] - before[member + ".weight"][~masked]).abs().sum()
            assert changed > 0                                  # unmasked weights did train
    bn = device.get_submodule("layer2_0.bn2")
    assert torch.all(bn.weight[~pruner.masks["layer2_0"]] == 0)


def test_a_step_masks_every_weight_and_gradient_in_one_multi_tensor_op_each():
    """The two masking passes of every step are one ``_foreach_mul_`` each (on a GPU one kernel, not
    one per filter, BN scale and shift: 30 each at layer2.1), with the masks made once per mask
    change, in the weights' layouts (channels_last too), and they follow the next change."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            ops.append(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    net = tiny_net().to(memory_format=torch.channels_last)
    device, _ = split(net, "layer2.1")
    pruner = IncrementalPruner(device, 0.5, total_steps=4, schedule=SparsitySchedule("linear", interval=2))
    pruner.step(0)
    nn.CrossEntropyLoss()(net(torch.randn(4, *INPUT)), torch.tensor([0, 1, 2, 3])).backward()
    params, masks = pruner._masked_parameters()
    assert len(params) == 30 and all(m.stride() == p.stride() for p, m in zip(params, masks))
    for mask_step in (pruner.apply_masks, pruner.mask_gradients):
        ops = []
        with Ops():
            mask_step()
        assert ops == ["aten._foreach_mul_"]
    for group in pruner.layout.groups:
        masked = ~pruner.masks[group.name]
        for member in group.members:
            weight = device.get_submodule(member).weight
            assert torch.all(weight[masked] == 0) and torch.all(weight.grad[masked] == 0)
            assert weight.grad[~masked].abs().sum() > 0
    before = {g: int((~m).sum()) for g, m in pruner.masks.items()}
    pruner.step(2)                                         # the next iteration masks more channels
    assert sum(int((~m).sum()) for m in pruner.masks.values()) > sum(before.values())
    pruner.mask_gradients()
    for group in pruner.layout.groups:
        for member in group.members:
            assert torch.all(device.get_submodule(member).weight.grad[~pruner.masks[group.name]] == 0)


def test_next_iteration_restores_masked_weights_to_their_values_at_the_iteration_start():
    net = tiny_net()
    device, _ = split(net, "layer1.1")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    pruner = IncrementalPruner(device, 0.5, total_steps=4, schedule=SparsitySchedule("constant", interval=2))
    pruner.attach(optimizer)
    start = {n: p.detach().clone() for n, p in device.named_parameters()}
    pruner.step(0)
    masks = {g: m.clone() for g, m in pruner.masks.items()}
    x, y = next(iter(batches()))
    for step in (0, 1):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    trained = {n: p.detach().clone() for n, p in device.named_parameters()}
    pruner.restore()                                            # what step(2) does first
    for conv in pruner.layout.convs:
        keep = masks[conv.out_group]
        w = device.get_submodule(conv.conv).weight
        torch.testing.assert_close(w[~keep], start[conv.conv + ".weight"][~keep], rtol=0, atol=0)
        torch.testing.assert_close(w[keep], trained[conv.conv + ".weight"][keep], rtol=0, atol=0)
        bn = device.get_submodule(conv.bn)
        torch.testing.assert_close(bn.weight[~keep], start[conv.bn + ".weight"][~keep], rtol=0, atol=0)
    pruner.step(2)                                              # masks recomputed from restored weights
    assert pruner.iteration == 1 and all(pruner.masks[g].sum() == masks[g].sum() for g in masks)
    pruner.detach()


def test_schedule_rises_monotonically_to_the_target():
    for kind in ("cubic", "linear"):
        values = [s for _, s in sparsity_schedule(0.6, 1000, SparsitySchedule(kind, 0.5, 50))]
        assert len(values) == 20
        assert values[0] > 0 and all(b >= a for a, b in zip(values, values[1:]))
        assert values[9] == pytest.approx(0.6) and values[-1] == pytest.approx(0.6)
        assert values[8] < 0.6
    assert {s for _, s in sparsity_schedule(0.6, 1000, SparsitySchedule("constant", 0.5, 50))} == {0.6}
    cubic = sparsity_schedule(0.6, 1000, SparsitySchedule("cubic", 0.5, 50))
    linear = sparsity_schedule(0.6, 1000, SparsitySchedule("linear", 0.5, 50))
    assert cubic[2][1] > linear[2][1]                           # cubic prunes early, then slowly


def test_pruner_masks_more_channels_as_the_iterations_go():
    net = tiny_net(1 / 8)
    device, _ = split(net, "layer2.1")
    pruner = IncrementalPruner(device, 0.75, total_steps=40, schedule=SparsitySchedule("linear", 1.0, 10))
    masked = []
    for step in range(40):
        pruner.step(step)
        masked.append(sum(int((~m).sum()) for m in pruner.masks.values()))
    assert masked[0] < masked[10] < masked[20] < masked[30] == masked[39]
    assert masked[39] == sum(math.floor(0.75 * g.channels) for g in pruner.layout.groups)


# -- compaction ----------------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["stem", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.1", "pool", "output"])
def test_compacted_device_part_equals_the_masked_one(point):
    net, device, pruner = pruned_at(point, 0.5, width=1 / 8)
    x = torch.randn(3, *INPUT)
    small, scatter = compact(device, pruner.keep_indices())
    with torch.no_grad():
        masked_out, small_out = device(x), small(x)
        full = PrunedModel(point, 0.5, 0.5, net, pruner.keep_indices())
        end_to_end = full.pipeline().eval()(x)
        reference = net(x)
    if scatter is None:
        torch.testing.assert_close(small_out, masked_out, rtol=1e-5, atol=1e-5)
    else:
        kept = pruner.keep_indices()[pruner.layout.output_group.name]
        assert small_out.shape[1] == len(kept) < masked_out.shape[1]
        torch.testing.assert_close(small_out, masked_out[:, kept], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(scatter(small_out), masked_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(end_to_end, reference, rtol=1e-5, atol=1e-5)


def test_compacted_device_part_has_fewer_macs_params_and_feature_bits():
    net, device, pruner = pruned_at("layer2.1", 0.5, width=1 / 8)
    small, _ = compact(device, pruner.keep_indices())
    macs, params = thop_macs(device, INPUT)
    small_macs, small_params = thop_macs(small, INPUT)
    assert small_macs < 0.5 * macs and small_params < 0.5 * params   # in and out channels both halve
    costs = pruned_costs(PrunedModel("layer2.1", 0.5, 0.5, net, pruner.keep_indices()))
    assert costs["device_macs"] == small_macs
    assert costs["feature_shape"] == [8, 16, 16]                      # 16 channels, half sent
    assert costs["feature_bits_float32"] == 32 * 8 * 16 * 16 == 4 * costs["feature_bits_8bit"]


def test_output_sparsity_controls_the_sent_channels_separately():
    _, _, pruner = pruned_at("layer2.1", 0.5, width=1 / 8, output_sparsity=0.75)
    keep = pruner.keep_indices()
    assert len(keep["layer2_0"]) == 4          # output group, 16 channels, 75% pruned
    assert len(keep["stem"]) == 4              # 8 channels, 50%
    assert len(keep["layer2_1.conv1"]) == 8


@pytest.mark.parametrize("group, bad", [
    ("layer1_0.conv1", [0, 0, 1, 2, 3]),   # a repeated channel: a silently different function
    ("layer1_0.conv1", [0, 1, 2, 3, 9]),   # out of range: a bare IndexError
    ("stem", [-1, 0]),                     # negative: counted from the end, silently
    ("stem", [0.0, 1]),                    # not an integer
    ("layer1_1.conv1", []),                # nothing kept
])
def test_compact_refuses_kept_channels_that_are_not_distinct_indices_of_their_group(group, bad):
    """``keep`` comes back from a checkpoint's metadata (load_pruned): each group's must be distinct
    integers in [0, channels)."""
    import re

    device, _ = split(tiny_net(), "layer1.1")                  # width 1/16: 4 channels in every group
    keep = {g.name: list(range(g.channels)) for g in device_layout(device).groups}
    assert sorted(keep) == ["layer1_0.conv1", "layer1_1.conv1", "stem"]
    with pytest.raises(ValueError, match=rf"group '{re.escape(group)}' must keep at least one channel, as distinct "
                                         rf"integer indices in \[0, 4\) .*got {re.escape(repr(bad))}"):
        compact(device, {**keep, group: bad})


def test_scatter_rejects_bad_indices():
    with pytest.raises(ValueError, match="distinct indices"):
        ChannelScatter([0, 9], 8)



@pytest.mark.parametrize("channels_last", [False, True])
def test_scatter_puts_kept_channels_back_in_the_inputs_layout(channels_last):
    x = torch.randn(2, 3, 4, 5)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    out = ChannelScatter([5, 0, 2], 6)(x)
    assert out.shape == (2, 6, 4, 5)
    assert torch.equal(out[:, [5, 0, 2]], x) and not out[:, [1, 3, 4]].any()
    # The GPU path's channels_last feature stays channels_last in front of the server part.
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert out.is_contiguous() != channels_last
    out[:, [5, 0, 2]].sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    # A vector feature (the pool split) is scattered as before.
    assert torch.equal(ChannelScatter([1], 3)(torch.tensor([[7.0]])), torch.tensor([[0.0, 7.0, 0.0]]))

# -- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan"), True])
def test_bad_sparsity_is_refused_with_its_value(bad):
    net = tiny_net()
    device, _ = split(net, "layer1.1")
    with pytest.raises(ValueError, match=r"sparsity must be"):
        IncrementalPruner(device, bad, total_steps=10)
    with pytest.raises(ValueError, match=r"output_sparsity must be"):
        IncrementalPruner(device, 0.5, total_steps=10, output_sparsity=bad)


def test_split_points_with_nothing_to_prune_or_unknown_are_refused():
    with pytest.raises(ValueError, match="nothing to prune"):
        get_prune_config("quick", splits=("input",))
    with pytest.raises(ValueError, match="unknown split point 'layer9'"):
        get_prune_config("quick", splits=("layer9",))
    with pytest.raises(ValueError, match="nothing to prune"):
        device_layout(split(tiny_net(), "input")[0])
    with pytest.raises(ValueError, match="unknown schedule kind"):
        SparsitySchedule(kind="exponential")
    with pytest.raises(ValueError, match=r"unknown preset field\(s\) \['pruning.sparsity'\]"):
        get_prune_config("quick", sparsity=0.5)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        get_prune_config("quick", sparsities=(0.5, 1.0))


def test_presets_use_the_authors_optimizer_for_the_paper():
    paper = get_prune_config("paper")
    assert (paper.lr, paper.weight_decay, paper.lr_step_epochs, paper.lr_gamma, paper.epochs) == (1e-4, 5e-4, 40, 0.3, 100)
    assert paper.schedule.interval == 150
    assert isinstance(get_prune_config("quick"), PruneSettings)


# -- fine-tuning: determinism and checkpoints ----------------------------------------------------

def _finetune(seed: int = 0) -> PrunedModel:
    from coinfer.train import seed_everything

    config = PruneSettings(splits=("layer2.1",), sparsities=(0.5,), epochs=2, lr=1e-3,
                         schedule=SparsitySchedule("cubic", 0.5, interval=1))
    seed_everything(seed)
    return prune_finetune(tiny_net(), "layer2.1", 0.5, config, batches(8, 4, seed), torch.device("cpu"))


def test_finetuning_is_deterministic_and_ends_at_the_target():
    a, b = _finetune(), _finetune()
    assert a.keep == b.keep
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    assert a.meta["iterations"] == 4 and a.meta["train_steps"] == 4
    assert {len(k) for g, k in a.keep.items() if g == "layer2_0"} == {4}


def test_checkpoint_round_trip_rebuilds_the_same_compacted_network(tmp_path):
    pruned = _finetune()
    path = save_pruned(tmp_path / "p.pt", pruned)
    payload = torch.load(path, weights_only=True)           # loadable safely
    assert payload["meta"]["kind"] == "pruned"
    loaded = load_pruned(path, torch.device("cpu"))
    assert loaded.keep == pruned.keep and loaded.split == "layer2.1"
    x = torch.randn(2, *INPUT)
    with torch.no_grad():
        torch.testing.assert_close(loaded.pipeline().eval()(x), pruned.pipeline().eval()(x), rtol=0, atol=0)
    assert pruned_costs(loaded) == pruned_costs(pruned)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pruning_and_compaction_on_a_gpu():
    from coinfer.train import seed_everything

    cuda = torch.device("cuda")
    config = PruneSettings(splits=("layer2.1",), sparsities=(0.5,), epochs=1, lr=1e-3,
                         schedule=SparsitySchedule("cubic", 0.5, interval=1))
    seed_everything(0)
    pruned = prune_finetune(tiny_net(1 / 8), "layer2.1", 0.5, config, batches(16, 4), cuda)
    assert all(p.is_cuda for p in pruned.model.parameters())
    x = torch.randn(4, *INPUT, device=cuda)
    with torch.no_grad():
        torch.testing.assert_close(pruned.pipeline().eval()(x), pruned.model.eval()(x), rtol=1e-4, atol=1e-4)
    assert pruned_costs(pruned)["feature_shape"] == [8, 16, 16]
    assert all(p.is_cuda for p in pruned.model.parameters())          # profiling moved nothing


# -- the fine-tuning recipe -----------------------------------------------------------------------

class CountingTeacher(nn.Module):
    """A network that counts its forward passes (the distillation's teacher)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def _recipe(**overrides) -> PruneSettings:
    return PruneSettings(**{"splits": ("layer2.1",), "sparsities": (0.5,), "epochs": 1, "lr": 1e-3,
                            "schedule": SparsitySchedule("cubic", 0.5, interval=1), **overrides})


def test_prune_finetune_distils_from_the_teacher_every_step_and_leaves_it_untouched():
    from coinfer.train import seed_everything

    teacher = CountingTeacher(tiny_net())
    before = copy.deepcopy(teacher.state_dict())
    seed_everything(0)
    prune_finetune(tiny_net(), "layer2.1", 0.5, _recipe(distill_weight=0.5), batches(8, 4), teacher=teacher)
    assert teacher.calls == 0                       # the copy ran, not the caller's module...
    assert all(p.requires_grad for p in teacher.parameters())       # ...which stays trainable
    for name, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=name)
    # The distillation changes the training (same seed, same batches, weight 0.5 vs 0).
    runs = []
    for weight in (0.0, 0.5):
        seed_everything(0)
        runs.append(prune_finetune(tiny_net(), "layer2.1", 0.5, _recipe(distill_weight=weight), batches(8, 4),
                                   teacher=tiny_net(seed=1)))
    assert runs[0].meta["train_loss"] != runs[1].meta["train_loss"]


def test_fit_gets_the_teacher_once_per_step(monkeypatch):
    import coinfer.experiments.pruning as pruning

    seen = []
    real_fit = pruning.fit

    def spy(model, data, **kwargs):
        seen.append({k: kwargs.get(k) for k in ("distill_weight", "temperature")})
        teacher = kwargs.get("teacher")
        if teacher is not None:
            kwargs["teacher"] = counting = CountingTeacher(teacher)
            out = real_fit(model, data, **kwargs)
            seen[-1]["calls"] = counting.calls
            return out
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(pruning, "fit", spy)
    prune_finetune(tiny_net(), "layer2.1", 0.5, _recipe(distill_weight=0.7, distill_temperature=3.0), batches(8, 4))
    prune_finetune(tiny_net(), "layer2.1", 0.5, _recipe(), batches(8, 4))
    assert seen == [{"distill_weight": 0.7, "temperature": 3.0, "calls": 2}, {"distill_weight": None, "temperature": None}]
    quick = get_prune_config("quick")        # the committed recipe distils, and fit is given it
    assert quick.distill_weight > 0 and quick.lr_schedule == "cosine"
    prune_finetune(tiny_net(), "layer2.1", 0.5, quick, batches(8, 4))
    assert seen[-1] == {"distill_weight": quick.distill_weight, "temperature": quick.distill_temperature, "calls": 2}


def test_cosine_recipe_warms_up_then_decays_and_sgd_is_available():
    from coinfer.experiments.pruning import fine_tune_optimizer

    settings = _recipe(epochs=2, lr=0.01, lr_schedule="cosine", warmup_fraction=0.25, optimizer="sgd")
    opt, sched = fine_tune_optimizer(tiny_net(), settings, steps_per_epoch=20)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["nesterov"]
    rates = []
    for _ in range(40):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[:11] == pytest.approx([0.01 * i / 10 for i in range(11)])   # 10 warm-up steps of 40
    assert all(b < a for a, b in zip(rates[10:], rates[11:]))                  # then only down
    assert rates[25] == pytest.approx(0.005)                                   # half-way down the cosine
    step_opt, step_sched = fine_tune_optimizer(tiny_net(), _recipe(lr_step_epochs=1, lr_gamma=0.5), 3)
    assert isinstance(step_opt, torch.optim.Adam) and isinstance(step_sched, torch.optim.lr_scheduler.StepLR)


def test_fine_tune_prunes_nothing_and_two_step_inherits_the_recipe():
    from coinfer.experiments.baselines import taylor_settings
    from coinfer.experiments.pruning import fine_tune
    from coinfer.train import seed_everything

    seed_everything(0)
    net = tiny_net()
    start = copy.deepcopy(net.state_dict())
    tuned, meta = fine_tune(net, _recipe(distill_weight=0.5, output_sparsity=0.5), batches(8, 4))
    assert tuned is net and not tuned.training and meta["train_steps"] == 2
    assert all((p != 0).any(dim=tuple(range(1, p.dim()))).all() for n, p in tuned.named_parameters()
               if n.endswith("conv1.weight") or n.endswith("conv2.weight"))   # no filter was zeroed
    assert any(not torch.equal(v, start[k]) for k, v in tuned.state_dict().items())
    quick = get_prune_config("quick")
    taylor = taylor_settings(quick)
    recipe = ("optimizer", "lr", "weight_decay", "lr_schedule", "warmup_fraction", "distill_weight",
              "distill_temperature", "epochs", "train_limit", "batch_size")
    assert {k: getattr(taylor, k) for k in recipe} == {k: getattr(quick, k) for k in recipe}
    assert taylor.criterion == "taylor"


def test_the_unpruned_control_is_the_same_network_whatever_the_split_point_and_output_sparsity():
    """The sweep's control (asked for at any split point) and the pruning table's are one training:
    with nothing pruned the split point changes no weight, to the last bit."""
    from coinfer.experiments.pruning import unpruned_control
    from coinfer.train import seed_everything

    recipe = _recipe(distill_weight=0.5, output_sparsity=0.5)
    seed_everything(0)
    control = unpruned_control(tiny_net(), recipe, batches(8, 4))
    seed_everything(0)
    at_split = prune_finetune(tiny_net(), "layer2.1", 0.0, _recipe(distill_weight=0.5), batches(8, 4))
    assert (control.split, control.sparsity, control.output_sparsity) == ("output", 0.0, 0.0)
    assert all(len(k) == len(at_split.keep[g]) for g, k in control.keep.items() if g in at_split.keep)
    state = at_split.model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in control.model.state_dict().items())
    assert control.meta["train_loss"] == at_split.meta["train_loss"]


@pytest.mark.skipif(not (project_root() / "data" / "checkpoints" / "quick" / "baseline.pt").exists(),
                    reason="the quick baseline checkpoint is missing")
def test_pruning_table_and_sweep_fine_tune_each_pruned_part_once(tmp_path, monkeypatch):
    """The pruning table's parts and control are the sweep's cache entries: the table run after the
    sweep trains none of them again and reports the sweep's networks (one number per configuration)."""
    import coinfer.experiments.pruning as pruning
    from coinfer.config import sweep_grid
    from coinfer.experiments.sweep import SweepRunner, prune_settings

    torch.set_num_threads(1)
    preset = get_preset("quick", sweep=sweep_grid("tiny"), **{
        "sweep.prune": {}, "pruning.splits": ("layer3.1",), "pruning.sparsities": (0.5,),
        "pruning.train_limit": 256, "pruning.batch_size": 64})
    assert prune_settings(preset) == preset.pruning
    cache = tmp_path / "cache"
    runner = SweepRunner(preset, tmp_path / "cells", cache, log=print)
    part = runner.pruned_device("layer3.1", 0.5)
    control = runner.pruned_device("layer2.1", 0.0)         # any split point: the one control
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["control", "pruned"]

    def trained_again(*args, **kwargs):
        raise AssertionError("a pruned part was fine-tuned twice")

    monkeypatch.setattr(pruning, "prune_finetune", trained_again)
    monkeypatch.setattr(pruning, "evaluate", lambda model, loader, device: 0.5)   # accuracy is not what is tested
    table = pruning.run(preset, save_checkpoints=False, cache_dir=cache)
    recorded = {(r.method, r.split, r.sparsity): r.extra for r in table.records}
    pruned, tuned = recorded[("framework-pruned", "layer3.1", 0.5)], recorded[("fine-tuned-control", "output", 0.0)]
    assert pruned["channels_kept"] == {g: len(k) for g, k in part.keep.items()}
    assert pruned["final_train_loss"] == round(part.meta["train_loss"][-1], 4)
    assert (tuned["train_steps"], tuned["final_train_loss"]) == (control.meta["train_steps"],
                                                                 round(control.meta["train_loss"][-1], 4))
    assert SweepRunner(preset, tmp_path / "cells", cache).pruned_device("layer3.1", 0.5).keep == part.keep


@pytest.mark.parametrize("field, bad, message", [
    ("optimizer", "rmsprop", "unknown fine-tuning optimizer 'rmsprop'; choose one of adam, sgd"),
    ("lr_schedule", "linear", "unknown learning-rate schedule 'linear'; choose one of step, cosine"),
    ("lr", 0.0, "lr must be a finite learning rate > 0, got 0.0"),
    ("warmup_fraction", 1.0, r"warmup_fraction must be a fraction of the steps in \[0, 1\), got 1.0"),
    ("distill_weight", 1.5, r"distill_weight must be in \[0, 1\]"),
    ("distill_weight", -0.1, r"distill_weight must be in \[0, 1\]"),
    ("distill_temperature", 0, "distill_temperature must be a finite number > 0, got 0"),
    ("distill_temperature", float("inf"), "distill_temperature must be a finite number > 0, got inf"),
])
def test_bad_recipe_settings_are_refused_with_their_value(field, bad, message):
    with pytest.raises(ValueError, match=message):
        _recipe(**{field: bad})
    with pytest.raises(ValueError, match="needs lr_schedule 'cosine'"):
        _recipe(warmup_fraction=0.1, lr_schedule="step")


# -- the committed table and the chapter's explorers ---------------------------------------------

def _quick_table():
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    return load_table(results_dir() / "pruning_quick.json")


def test_committed_quick_table_is_consistent_with_the_network_it_describes():
    from coinfer.core.costs import profile_splits

    table = _quick_table()
    config = get_prune_config("quick")
    assert table.provenance.preset == "quick"
    assert table.provenance.command.startswith(("python -m coinfer prune", "python -m coinfer run pruning"))
    records = table.select(method="framework-pruned")
    assert len(records) == len(config.splits) * (len(config.sparsities) + 1)
    profiles = {p.point: p for p in profile_splits(resnet18(width=1 / 8))}
    for point in config.splits:
        rows = sorted((r for r in records if r.split == point), key=lambda r: r.sparsity)
        assert [r.sparsity for r in rows] == [0.0, *config.sparsities]
        base = profiles[point]
        assert (rows[0].device_macs, rows[0].bits_per_image) == (base.device_macs, base.feature_bits_float32)
        channels = base.feature_shape[0]
        for r in rows:
            kept = channels - math.floor(r.sparsity * channels + 1e-9)
            assert r.bits_per_image == 32 * kept * math.prod(base.feature_shape[1:])
            assert r.extra["feature_bits_8bit"] * 4 == r.bits_per_image
            assert r.server_macs == base.server_macs                      # the server is not pruned
        macs = [r.device_macs for r in rows]
        assert all(b < a for a, b in zip(macs, macs[1:]))
        assert all(0.0 <= r.accuracy <= 1.0 for r in rows) and rows[-1].accuracy > 0.5


def test_pruning_explorer_data_and_twin_from_the_committed_table():
    from coinfer.core.costs import profile_splits
    from coinfer.views.pruning import pruning_data, pruning_records, pruning_twin

    records = pruning_records(_quick_table())     # the pruned records, as chapter 2 reads them
    rows = profile_splits(resnet18(width=1 / 8))
    data = pruning_data(records, rows)
    assert data["splits"] == ["layer1.1", "layer2.1", "layer3.1"]
    assert data["sparsities"] == [0.0, 0.25, 0.5, 0.75]
    assert len(data["grid"]) == 4 and all(len(row) == 3 for row in data["grid"])
    assert data["grid"][0][1]["bits"] == 32 * 16 * 16 * 16
    assert pruning_data(records, rows, bits_per_element=8)["grid"][0][1]["bits"] == 8 * 16 * 16 * 16
    twin = pruning_twin(records, rows)
    assert 'type="range"' in twin.html and "split after layer2.1" in twin.html
    with pytest.raises(ValueError, match="miss"):
        pruning_data([r for r in records if not (r.split == "layer2.1" and r.sparsity == 0.5)], rows)
    with pytest.raises(ValueError, match="bits_per_element"):
        pruning_data(records, rows, bits_per_element=16)


def test_costs_leave_the_model_where_it_is():
    net, device, pruner = pruned_at("layer2.1", 0.5, width=1 / 8)
    pruned = PrunedModel("layer2.1", 0.5, 0.5, net, pruner.keep_indices())
    before = {n: p.data_ptr() for n, p in net.named_parameters()}
    pruned_costs(pruned)
    assert {n: p.data_ptr() for n, p in net.named_parameters()} == before
    assert not any(hasattr(m, "total_ops") for m in net.modules())      # thop counted copies


def test_a_damaged_or_foreign_cached_part_is_fine_tuned_again(tmp_path):
    """Random bytes and a whole pickled module raised weights_only's UnpicklingError instead."""
    import os

    from coinfer.core.pruning import PrunedModel
    from coinfer.experiments.pruning import cached_pruned

    keep = {"stem": list(range(4)), "layer1_0.conv1": list(range(4)), "layer1_1.conv1": list(range(4))}
    trained = []

    def compute():
        trained.append(1)
        return PrunedModel("layer1.1", 0.0, 0.0, resnet18(width=1 / 16), keep, {"kind": "pruned"})

    garbage, foreign = tmp_path / "garbage.pt", tmp_path / "foreign.pt"
    garbage.write_bytes(os.urandom(300))
    torch.save(resnet18(width=1 / 16), foreign)
    said = []
    for path in (garbage, foreign):
        assert cached_pruned(path, compute, torch.device("cpu"), log=said.append).split == "layer1.1"
        assert cached_pruned(path, compute, torch.device("cpu"), log=said.append).split == "layer1.1"   # now cached
    assert len(trained) == 2 and all(message.startswith("[prune] recomputing") for message in said) and len(said) == 2


def test_the_pruning_table_shows_the_spread_of_the_seeds():
    """Chapter 2's table showed mean accuracies alone; now each mean has its seeds' spread (the unpruned rows,
    the one baseline network every seed shares, spread 0)."""
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.views.pruning import pruning_frame, pruning_records

    records = pruning_records(load_table(results_dir() / "pruning_quick.json"))
    frame = pruning_frame(records)
    assert (frame.xs(0.0, level="sparsity")["± sd"] == 0).all()
    pruned = [r for r in records if r.sparsity > 0]
    assert frame.loc[(pruned[0].split, pruned[0].sparsity), "± sd"] == pytest.approx(100 * pruned[0].accuracy_std)
