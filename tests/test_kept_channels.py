"""Fine-tuning a masked device part on its kept channels only (coinfer.core.kept_channels).

The claim is that it is the masked network's training, not an approximation: in float64 (where
the only difference, the order of float additions, is about 1e-13) the losses, the masks and every
entry of the state dict, running statistics included, match the masked network's after training
with masks that change every few steps; through :func:`prune_finetune` in float32 they match to
float rounding. And it must really compute less: the FLOPs it executes are the compacted network's.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from coinfer.config import get_preset
from coinfer.core.kept_channels import KeptChannelsNetwork
from coinfer.core.network import resnet18, split
from coinfer.core.pruning import IncrementalPruner, SparsitySchedule, compact, device_layout
from coinfer.experiments.baselines import two_step_step1, two_step_step2
from coinfer.experiments.pruning import prune_finetune
from coinfer.tensor_data import DataPath
from coinfer.train import progress_bars

#: Masks re-ranked every 2 steps over a linear ramp, then at the target: channels come and go.
SCHEDULE = SparsitySchedule(kind="linear", ramp_fraction=0.5, interval=2)
STEPS = 8


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)       # the network and the batches in float64
    yield
    torch.set_default_dtype(before)


def _train(net, point: str, kept: bool, batches, momentum=0.1, criterion="l2", sparsity=0.5, output_sparsity=None):
    """Prune ``point`` to ``sparsity`` over the batches (Adam with weight decay); the network, losses, masks."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = momentum
    device, server = split(net, point)
    pruner = IncrementalPruner(device, sparsity, STEPS, output_sparsity, schedule=SCHEDULE, criterion=criterion)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=5e-4)
    pruner.attach(optimizer)
    model = (KeptChannelsNetwork(pruner, server) if kept else net).train()
    losses = []
    for step, (x, y) in enumerate(batches):
        pruner.step(step)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    pruner.detach()
    pruner.finish()
    return net, losses, pruner.keep_indices()


@pytest.mark.parametrize("criterion", ["l2", "taylor"])
@pytest.mark.parametrize("point", ["stem", "layer1.1", "layer2.1", "layer3.1", "pool", "output"])
def test_training_on_kept_channels_is_the_masked_training(point, criterion, float64):
    """By either criterion: the l2 norms of the full-width weights, or (2-Step Pruning) the Taylor
    importance, gathered on the compacted structure and put back at the kept channels' places."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16)
    batches = [(torch.randn(6, 3, 32, 32), torch.randint(0, 10, (6,))) for _ in range(STEPS)]
    masked, masked_losses, masked_keep = _train(net, point, False, batches, criterion=criterion)
    random_state = torch.get_rng_state()
    kept, kept_losses, kept_keep = _train(net, point, True, batches, criterion=criterion)
    # Rebuilding the structure draws no random numbers (a training that draws its augmentation from
    # the global generator gets the same draws as the masked one).
    assert torch.equal(torch.get_rng_state(), random_state)
    assert kept_keep == masked_keep
    assert any(len(k) < 4 for k in kept_keep.values())                    # something was pruned
    assert max(abs(a - b) for a, b in zip(masked_losses, kept_losses)) < 1e-10
    expected = masked.state_dict()
    for name, value in kept.state_dict().items():                         # weights and statistics
        torch.testing.assert_close(value, expected[name], rtol=0, atol=1e-9, msg=name)
    # The trained weights did move (a test of equality between two frozen networks proves nothing).
    assert not torch.equal(expected["stem.0.weight"], net.state_dict()["stem.0.weight"])


def test_cumulative_batchnorm_statistics_decay_as_the_masked_ones(float64):
    torch.manual_seed(1)
    net = resnet18(width=1 / 16)
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))) for _ in range(STEPS)]
    masked, _, _ = _train(net, "layer2.1", False, batches, momentum=None)
    kept, _, _ = _train(net, "layer2.1", True, batches, momentum=None)
    for name, value in kept.state_dict().items():
        torch.testing.assert_close(value, masked.state_dict()[name], rtol=0, atol=1e-9, msg=name)


def test_it_computes_the_compacted_networks_flops():
    torch.manual_seed(0)
    net = resnet18(width=1 / 8)
    device, server = split(net, "layer3.1")
    pruner = IncrementalPruner(device, 0.5, 1, schedule=SparsitySchedule(kind="constant", interval=1))
    pruner.step(0)
    x = torch.randn(2, 3, 32, 32)

    def flops(run):
        with FlopCounterMode(display=False) as counter:
            run().sum().backward()
        return counter.get_total_flops()

    kept = KeptChannelsNetwork(pruner, server)
    small, scatter = compact(device, pruner.keep_indices())
    small_server = torch.nn.Sequential(scatter, *server.children())
    assert flops(lambda: kept(x)) == flops(lambda: small_server(small(x)))
    assert flops(lambda: kept(x)) < 0.6 * flops(lambda: net(x))         # about half the MACs at 0.5


def test_taylor_scores_on_the_kept_channels_are_the_masked_networks(float64):
    """2-Step Pruning's second step prunes only the sent channels, by Taylor importance: the scores the
    pruner ranks by, read on the compacted structure, are the masked network's (0 where masked)."""
    torch.manual_seed(2)
    net = resnet18(width=1 / 16)
    batches = [(torch.randn(6, 3, 32, 32), torch.randint(0, 10, (6,))) for _ in range(3)]
    scores = {}
    for kept in (False, True):
        device, server = split(copy.deepcopy(net), "layer2.1")
        pruner = IncrementalPruner(device, 0.0, 4, 0.5, schedule=SCHEDULE, criterion="taylor")
        model = (KeptChannelsNetwork(pruner, server) if kept else torch.nn.Sequential(device, server)).train()
        for step, (x, y) in enumerate(batches):
            pruner.step(step)
            torch.nn.functional.cross_entropy(model(x), y).backward()
        scores[kept] = pruner.taylor_importance().scores()
        output = pruner.layout.output_group.name
        assert len(pruner.keep_indices()[output]) < pruner.layout.output_group.channels      # sent channels pruned
        assert all(len(k) == g.channels for g in pruner.layout.groups if g.name != output
                   for k in [pruner.keep_indices()[g.name]])
    assert scores[True].keys() == scores[False].keys()
    for group, value in scores[False].items():
        torch.testing.assert_close(scores[True][group], value, rtol=0, atol=1e-12, msg=group)
    masked = ~pruner.masks[output]
    assert masked.any() and not scores[True][output][masked].any() and scores[True][output][~masked].all()
    with pytest.raises(ValueError, match="ranks by 'l2', not by Taylor"):
        IncrementalPruner(device, 0.5, 4).taylor_importance()


#: The quick recipe (Adam, cosine warm-up, distillation), masks every step, 2 epochs of 3 batches.
RECIPE = get_preset("quick", **{"pruning.schedule.interval": 1, "pruning.epochs": 2}).pruning


def test_prune_finetune_on_kept_channels_gives_the_masked_fine_tunes_numbers():
    torch.manual_seed(0)
    net = resnet18(width=1 / 16)
    batches = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(3)]
    runs = {}
    for name, path in (("masked", DataPath()), ("kept", DataPath(kept_channels=True))):
        torch.manual_seed(1)
        with progress_bars(False):
            runs[name] = prune_finetune(copy.deepcopy(net), "layer2.1", 0.5, RECIPE, batches, path=path)
    masked, kept = runs["masked"], runs["kept"]
    assert kept.keep == masked.keep
    assert len(kept.meta["train_loss"]) == 2
    assert max(abs(a - b) for a, b in zip(kept.meta["train_loss"], masked.meta["train_loss"])) < 1e-4
    for name, value in kept.model.state_dict().items():
        torch.testing.assert_close(value, masked.model.state_dict()[name], rtol=0, atol=1e-4, msg=name)
    assert type(kept.model) is type(net)                                   # the full-width network, saved as always


def test_compacting_without_drawing_initial_values_gives_the_same_network():
    torch.manual_seed(0)
    device, _ = split(resnet18(width=1 / 16).eval(), "output")
    pruner = IncrementalPruner(device, 0.5, 1, schedule=SparsitySchedule(kind="constant", interval=1))
    pruner.step(0)
    x = torch.randn(2, 3, 32, 32)
    state = torch.get_rng_state()
    drawn, _ = compact(device, pruner.keep_indices())
    assert not torch.equal(torch.get_rng_state(), state)                # as compaction always did
    state = torch.get_rng_state()
    allocated, _ = compact(device, pruner.keep_indices(), allocate_only=True)
    assert torch.equal(torch.get_rng_state(), state)
    assert drawn.state_dict().keys() == allocated.state_dict().keys()
    for name, value in drawn.state_dict().items():
        assert torch.equal(allocated.state_dict()[name], value), name
    assert torch.equal(drawn.eval()(x), allocated.eval()(x))


def test_two_step_prunings_steps_on_kept_channels_give_the_masked_numbers(float64):
    """Both steps through their public functions: the second fine-tunes the network the first
    compacted, pruning only its sent channels, so the kept channels there differ from step 1's."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16)
    batches = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(3)]
    runs, executed = {}, {}
    for name, path in (("masked", DataPath()), ("kept", DataPath(kept_channels=True))):
        torch.manual_seed(1)
        with progress_bars(False), FlopCounterMode(display=False) as first:
            step1 = two_step_step1(net, 0.5, RECIPE, batches, path=path)
        with progress_bars(False), FlopCounterMode(display=False) as second:
            runs[name] = (step1, two_step_step2(step1, "layer2.1", 0.5, RECIPE, batches, path=path))
        executed[name] = first.get_total_flops(), second.get_total_flops()
    # Each step really ran on the kept channels (step 2 prunes one group only, and saves less).
    assert executed["kept"][0] < 0.8 * executed["masked"][0] and executed["kept"][1] < 0.97 * executed["masked"][1]
    for (masked, kept) in zip(runs["masked"], runs["kept"]):
        assert kept.keep == masked.keep and kept.output_sparsity == masked.output_sparsity
        assert kept.meta["train_loss"] == pytest.approx(masked.meta["train_loss"], abs=1e-9)
        for name, value in kept.model.state_dict().items():
            torch.testing.assert_close(value, masked.model.state_dict()[name], rtol=0, atol=1e-9, msg=name)
    step2 = runs["kept"][1]
    layout = device_layout(split(step2.model, "layer2.1")[0])      # the network step 1 compacted
    sent = layout.output_group
    assert len(step2.keep[sent.name]) == sent.channels // 2                # its sent channels pruned, only those
    assert all(len(step2.keep[g.name]) == g.channels for g in layout.groups if g is not sent)
