"""Codecs trained together (one pass over the augmented images for several code sizes) are the codecs
trained alone, bit for bit: the saving of the paper preset's sweep, where features are not cached.

``train_codecs`` sums the codecs' losses under one Adam whose parameter groups are each codec's;
each batch is drawn, augmented and run through the frozen device part once. Nothing a codec learns
may depend on the others: the same weights, codewords, entropy model, loss history and record.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from cifar_support import write_tiny_cifar10
from coinfer.config import EncodeSettings, get_preset, sweep_grid
from coinfer.core.encoding import build_codec
from coinfer.core.features import FeatureSource
from coinfer.core.network import resnet18
from coinfer.core.network import split as split_stages
from coinfer.data import ValidationSplit, load_split
from coinfer.experiments.encoding import codec_record, codec_records, train_codec, train_codecs, warm_up_twins
from coinfer.experiments.sweep import VOLATILE_EXTRA, SweepRunner, cells
from coinfer.train import progress_bars, seed_everything

VALIDATION = ValidationSplit(images=20, seed=0)
#: One warm-up and two quantized epochs of 5 batches: enough steps for a difference to show.
CONFIG = EncodeSettings(train_limit=None, precompute=False, augment=True, warmup_epochs=1, epochs=2,
                        batch_size=16, eval_batch_size=40, lr=3e-3)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Width-1/16 network split at layer2.1, and an augmented, uncached training source over 80 images."""
    root = tmp_path_factory.mktemp("cifar")
    write_tiny_cifar10(root, n_train=100, n_test=20)
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).eval()
    device_part, server_part = split_stages(net, "layer2.1")
    data = load_split("cifar10", "train", VALIDATION, root=root, augment=True, trust=True)
    test = load_split("cifar10", "test", VALIDATION, root=root, trust=True)
    return device_part, server_part, data, test


def _codec(shape, code: str, seed: int = 0):
    seed_everything(seed)
    return build_codec(shape, CONFIG.code_size_at(code, shape), CONFIG.kernel_size, CONFIG.temperature,
                       CONFIG.commitment)


def _source(parts):
    device_part, _, data, _ = parts
    return FeatureSource(device_part, data, precompute=False, batch_size=40)


def _same_codec(a, b) -> None:
    assert a.state_dict().keys() == b.state_dict().keys()
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), name


@pytest.mark.parametrize("codes", [("d4-l2", "d8-l4", "d4-k16"), ("d4-k16-r0.1", "d4-k16-r1")])
def test_codecs_trained_together_are_the_codecs_trained_alone(parts, codes):
    _, server_part, _, _ = parts
    shape = _source(parts).feature_shape
    with progress_bars(False):
        alone = []
        for code in codes:
            codec = _codec(shape, code)
            history = train_codec(codec, copy.deepcopy(server_part), _source(parts), CONFIG, seed=3)
            alone.append((codec, history))
        together = [_codec(shape, code) for code in codes]
        histories = train_codecs(together, copy.deepcopy(server_part), _source(parts), CONFIG, seed=3)
    for (codec, history), joint, joint_history in zip(alone, together, histories):
        assert len(history["loss"]) == CONFIG.epochs and len(history["warmup_loss"]) == CONFIG.warmup_epochs
        assert joint_history == history                  # per-epoch mean losses, to the last bit
        _same_codec(codec, joint)
        if codec.entropy_model is not None:               # the fitted (or learned) probabilities too
            assert torch.equal(codec.entropy_model.probabilities, joint.entropy_model.probabilities)
    # The codes did learn something different from each other (the test could fail).
    assert alone[0][1]["loss"] != alone[1][1]["loss"]


def test_codes_of_one_dimension_share_one_warm_up(parts, monkeypatch):
    """The warm-up trains only the encoder and decoder, so codes built alike from one seed (``d4-l2``
    and ``d4-k16``) warm up once; the test above shows the result is theirs alone, bit for bit."""
    from coinfer.core.baselines import bottlenet_codec
    from coinfer.experiments import encoding

    shape = _source(parts).feature_shape
    codecs = [_codec(shape, code) for code in ("d4-l2", "d8-l4", "d4-k16")]
    assert warm_up_twins(codecs) == [[0, 2], [1]]
    assert warm_up_twins([_codec(shape, "d4-l2"), _codec(shape, "d4-l2", seed=1)]) == [[0], [1]]   # other weights
    bottlenets = []
    for _ in range(2):
        seed_everything(0)
        bottlenets.append(bottlenet_codec(shape, 2, 3))
    _same_codec(*bottlenets)
    assert warm_up_twins(bottlenets) == [[0], [1]]    # no codebook quantizer to switch off: never shared
    trained, real = [], encoding._run_epochs
    monkeypatch.setattr(encoding, "_run_epochs", lambda c, *a: trained.append(len(c)) or real(c, *a))
    with progress_bars(False):
        histories = train_codecs(codecs, copy.deepcopy(parts[1]), _source(parts), CONFIG, seed=3)
    assert trained == [2, 3]                     # warm-up: two runs for three codes; then each code
    assert histories[0]["warmup_loss"] == histories[2]["warmup_loss"] != histories[1]["warmup_loss"]
    assert histories[0]["loss"] != histories[2]["loss"]


def test_learned_and_fixed_priors_are_refused_in_one_pass(parts):
    shape = _source(parts).feature_shape
    with pytest.raises(ValueError, match="learned prior and codecs without one train in separate passes"):
        train_codecs([_codec(shape, "d4-k16"), _codec(shape, "d4-k16-r0.1")], parts[1], _source(parts), CONFIG)
    with pytest.raises(ValueError, match="one rate weight \\(or None\\) per codec: 1 codecs, 2 weights"):
        train_codecs([_codec(shape, "d4-l2")], parts[1], _source(parts), CONFIG, rate_weights=[0.1, 0.2])


def test_codec_records_together_equal_codec_record_alone(parts):
    device_part, server_part, data, test = parts
    test_src = FeatureSource(device_part, test, precompute=True, batch_size=40)
    codes = ["d4-l2", "d4-k16-r0.1", "d8-l4"]       # a learned prior among fixed ones: two passes
    with progress_bars(False):
        together = codec_records("layer2.1", device_part, server_part, _source(parts), test_src, codes, CONFIG,
                                 seed=1, log=lambda *_: None)
        alone = [codec_record("layer2.1", device_part, server_part, _source(parts), test_src, code, CONFIG,
                              seed=1, log=lambda *_: None) for code in codes]
    for joint, single, shared in zip(together, alone, (2, 1, 2)):
        assert joint.extra.get("trained_together", 1) == shared
        strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "extra"} | {
            "extra": {k: v for k, v in r.extra.items() if k not in VOLATILE_EXTRA}}
        assert strip(joint) == strip(single)


def test_the_sweep_trains_a_groups_codecs_together_where_features_are_not_cached(tmp_path, monkeypatch, parts):
    """The runner told which cells come (``expect``) trains the framework codes of one (split,
    sparsity) in one pass at the first of them, and keeps the others' records for their turn."""
    from coinfer.experiments import sweep

    grid = sweep_grid("tiny")
    grid = dataclasses.replace(grid, code_sizes=("d4-l2", "d4-l4"),
                               encode={**grid.encode, "precompute": False, "augment": True})
    preset = get_preset("quick", sweep=grid)
    framework = [c for c in cells(preset) if c.method == "framework"]
    assert len(framework) == 2 and framework[0].shares == framework[1].shares
    calls = []
    real = sweep.SweepRunner._framework_record

    def counted(self, cell):
        calls.append(cell.id)
        return real(self, cell)

    monkeypatch.setattr(sweep.SweepRunner, "_framework_record", counted)
    runner = SweepRunner(preset, tmp_path / "cells", tmp_path / "cache", torch.device("cpu"), log=lambda *_: None)
    monkeypatch.setattr(runner, "_features", lambda cell: _tiny_features(parts))
    runner.expect(framework)
    with progress_bars(False):
        first, second = (runner.run(c)["record"] for c in framework)
    assert calls == [framework[0].id]                 # one training pass for both cells
    assert first["extra"]["trained_together"] == second["extra"]["trained_together"] == 2
    assert first["code_size"].endswith("d4-l2") and second["code_size"].endswith("d4-l4")
    # With the features cached (the quick preset) every cell trains alone, as before.
    cached = SweepRunner(get_preset("quick", sweep=sweep_grid("tiny")), tmp_path / "c2", tmp_path / "k2",
                         torch.device("cpu"), log=lambda *_: None)
    assert cached.encode_config.precompute and not runner.encode_config.precompute


def _tiny_features(parts):
    device_part, server_part, data, test = parts
    src = lambda d: FeatureSource(device_part, d, precompute=False, batch_size=40)
    return device_part, server_part, src(data), FeatureSource(device_part, test, batch_size=40), None, src(test)


def test_bottlenet_reductions_trained_together_are_the_ones_trained_alone(parts):
    """BottleNet++'s reductions at one split point share a pass as the framework's codes do."""
    from coinfer.experiments.baselines import bottlenet_record, bottlenet_records

    device_part, server_part, data, test = parts
    test_src = FeatureSource(device_part, test, precompute=True, batch_size=40)
    with progress_bars(False):
        together = bottlenet_records("layer2.1", device_part, server_part, _source(parts), test_src, [2, 4, 8],
                                     CONFIG, seed=1, log=lambda *_: None, val_src=test_src)
        alone = [bottlenet_record("layer2.1", device_part, server_part, _source(parts), test_src, r, CONFIG,
                                  seed=1, log=lambda *_: None, val_src=test_src) for r in (2, 4, 8)]
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "extra"} | {
        "extra": {k: v for k, v in r.extra.items() if k not in VOLATILE_EXTRA}}
    for joint, single in zip(together, alone):
        assert joint.extra["trained_together"] == 3 and "trained_together" not in single.extra
        assert strip(joint) == strip(single)
        # no warm-up, but as many epochs as the framework's codec (warm-up and quantized): the same budget
        assert len(joint.extra["train_loss"]) == CONFIG.warmup_epochs + CONFIG.epochs
    assert len({r.code_size for r in together}) == 3


def test_the_sweep_trains_bottlenet_reductions_together_where_features_are_not_cached(tmp_path, monkeypatch,
                                                                                         parts):
    from coinfer.experiments import baselines

    grid = sweep_grid("tiny")
    grid = dataclasses.replace(grid, bottlenet_reductions=(2, 4),
                               encode={**grid.encode, "precompute": False, "augment": True})
    preset = get_preset("quick", sweep=grid)
    bottlenet = [c for c in cells(preset) if c.method == "bottlenet++"]
    assert len(bottlenet) == 2 and bottlenet[0].shares == bottlenet[1].shares
    calls = []
    real = baselines.bottlenet_records

    def counted(*args, **kwargs):
        calls.append(args[5])
        return real(*args, **kwargs)

    monkeypatch.setattr(baselines, "bottlenet_records", counted)
    runner = SweepRunner(preset, tmp_path / "cells", tmp_path / "cache", torch.device("cpu"), log=lambda *_: None)
    monkeypatch.setattr(runner, "_features", lambda cell: _tiny_features(parts))
    runner.expect(bottlenet)
    with progress_bars(False):
        first, second = (runner.run(c)["record"] for c in bottlenet)
    assert calls == [[2, 4]]                                   # one training pass for both cells
    assert first["extra"]["reduction"] == 2 and second["extra"]["reduction"] == 4
    assert first["extra"]["trained_together"] == second["extra"]["trained_together"] == 2


def test_one_server_pass_on_the_stacked_codes_trains_what_one_pass_per_code_trains(parts, monkeypatch):
    """The GPU path (``DataPath.stack_codes``) runs the frozen server part once per step on every
    code's reconstruction stacked into one batch: the same training in fewer, larger kernels."""
    from coinfer.tensor_data import DataPath

    shape = _source(parts).feature_shape
    codes = ("d4-l2", "d8-l4", "d4-k16")
    trained, server_calls = {}, {}
    for stack in (False, True):
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, s=stack: DataPath(stack_codes=s)))
        server_part = copy.deepcopy(parts[1])
        batches = []
        server_part.register_forward_hook(lambda module, args, out: batches.append(len(args[0])))
        codecs = [_codec(shape, code) for code in codes]
        with progress_bars(False):
            histories = train_codecs(codecs, server_part, _source(parts), CONFIG, seed=3)
        trained[stack], server_calls[stack] = (codecs, histories), batches
    steps = (CONFIG.warmup_epochs + CONFIG.epochs) * 5                     # 80 images in batches of 16
    # warm-ups: d4-l2 and d4-k16 are twins (one run), d8-l4 its own; quantized: all three
    passes_per_step = sum(1 for _ in warm_up_twins([_codec(shape, c) for c in codes]))
    assert len(server_calls[False]) == passes_per_step * 5 * CONFIG.warmup_epochs + len(codes) * 5 * CONFIG.epochs
    assert len(server_calls[True]) == steps and set(server_calls[True]) == {2 * 16, 3 * 16}
    for (a, history_a), (b, history_b) in zip(zip(*trained[False]), zip(*trained[True])):
        assert history_a["loss"] == pytest.approx(history_b["loss"], rel=1e-6)
        for name, value in a.state_dict().items():
            torch.testing.assert_close(b.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_codecs_trained_in_front_of_the_folded_server_part_are_the_unfolded_ones(parts, tiny_net, monkeypatch):
    """The GPU path (``DataPath.fold_batchnorm``) trains the codecs in front of a copy of the frozen
    server part with its batch norms folded into its convolutions: the same training to float32
    rounding, no batch norm run, and the server part itself left as it was."""
    from coinfer.tensor_data import DataPath

    device_part, server = split_stages(tiny_net, "layer2.1")          # batch norms that are not the identity
    source = lambda: FeatureSource(device_part, parts[2], precompute=False, batch_size=40)
    shape = source().feature_shape
    trained, batch_norms_run = {}, {}
    for fold in (False, True):
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, f=fold: DataPath(fold_batchnorm=f)))
        server_part, runs = copy.deepcopy(server), []
        before = copy.deepcopy(server_part.state_dict())
        for m in server_part.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.register_forward_hook(lambda *_: runs.append(1))
        codecs = [_codec(shape, code) for code in ("d4-l2", "d4-k16")]
        with progress_bars(False):
            trained[fold] = codecs, train_codecs(codecs, server_part, source(), CONFIG, seed=3)
        batch_norms_run[fold] = len(runs)
        assert all(torch.equal(value, server_part.state_dict()[name]) for name, value in before.items())
    assert batch_norms_run[False] > 0 and batch_norms_run[True] == 0
    # Rounding differences of 1e-7 grow through 15 steps of Adam and the quantizer's nearest-level
    # choices (the 2-level code's weights end up 2% apart, its loss 2e-4); a batch norm left out
    # would move the loss by far more than the stated 1e-3.
    for (_, history_a), (_, history_b) in zip(zip(*trained[False]), zip(*trained[True])):
        assert history_b["warmup_loss"] == pytest.approx(history_a["warmup_loss"], rel=1e-5)
        assert history_b["loss"] == pytest.approx(history_a["loss"], rel=1e-3)


def test_the_training_path_computes_features_on_a_folded_copy_of_the_device_part(parts, tiny_net, monkeypatch):
    """Shuffled (training) batches on a path that folds: the features of the folded device part in
    channels_last, the same to float32 rounding; batches in order (evaluation, fitting passes) and the
    device part itself as they were."""
    from coinfer.tensor_data import DataPath

    device_part, _ = split_stages(tiny_net, "layer2.1")
    runs = []
    for m in device_part.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.register_forward_hook(lambda *_: runs.append(1))
    batches = {}
    for fold in (False, True):
        path = DataPath(fold_batchnorm=fold, channels_last=fold)
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, p=path: p))
        source = FeatureSource(device_part, parts[2], precompute=False, batch_size=40)
        runs.clear()
        seed_everything(5)                                                 # the crops and flips alike
        batches[fold] = list(source.batches(16, shuffle=True, seed=5))
        assert (len(runs) == 0) == fold                                    # the folded copy ran, not the part
        assert not fold or batches[fold][0][0].is_contiguous(memory_format=torch.channels_last)
        next(source.batches(16))
        assert runs                                                        # in order: the part itself
    for (a, labels_a), (b, labels_b) in zip(batches[False], batches[True]):
        assert torch.equal(labels_a, labels_b)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_codecs_trained_with_compiled_frozen_parts_are_the_eager_ones(parts, tiny_net, monkeypatch):
    """``DataPath.compile_frozen`` (``COINFER_COMPILE=frozen``, a GPU-only candidate: CUDA graphs for
    the frozen parts) runs the device part and the server part behind the codecs through
    ``torch.compile`` (here the CPU's default mode, the same code path): the same training to float32
    rounding, and the compiled graphs, not the eager modules, ran."""
    from torch._dynamo.utils import counters

    from coinfer.tensor_data import DataPath

    device_part, server = split_stages(tiny_net, "layer2.1")
    trained = {}
    for compiled in (False, True):
        path = DataPath(fold_batchnorm=True, compile_frozen=compiled)
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, p=path: p))
        torch._dynamo.reset()
        counters.clear()
        source = FeatureSource(device_part, parts[2], precompute=False, batch_size=40)
        codecs = [_codec(source.feature_shape, code) for code in ("d4-l2", "d8-l4")]
        with progress_bars(False):
            trained[compiled] = codecs, train_codecs(codecs, copy.deepcopy(server), source, CONFIG, seed=3)
        # Two graphs for the device part and the server part (forward, and its backward to the input).
        assert (counters["stats"]["unique_graphs"] >= 2) == compiled, dict(counters["stats"])
    torch._dynamo.reset()
    # As with folding: rounding grows through Adam's steps and the quantizer's nearest-level choices.
    for (_, history_a), (_, history_b) in zip(zip(*trained[False]), zip(*trained[True])):
        assert history_b["warmup_loss"] == pytest.approx(history_a["warmup_loss"], rel=1e-5)
        assert history_b["loss"] == pytest.approx(history_a["loss"], rel=1e-3)


def test_codecs_trained_as_one_compiled_module_are_the_eager_ones(parts, tiny_net, monkeypatch):
    """``DataPath.compile_codecs`` (``COINFER_COMPILE=all``, a GPU-only candidate: CUDA graphs for the
    whole codec step) compiles the codes trained together with their frozen server part as one module,
    warm-up and quantized epochs, a learned prior too (here ``aot_eager``: the same graphs, run
    eagerly): one graph for each, none broken (a range check of the symbols in every step broke
    them), and the same training."""
    from torch._dynamo.utils import counters

    from coinfer.tensor_data import DataPath

    device_part, server = split_stages(tiny_net, "layer2.1")
    trained = {}
    for compiled in (False, True):
        path = DataPath(fold_batchnorm=True, compile_codecs=compiled, compile_backend="aot_eager")
        monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device, p=path: p))
        torch._dynamo.reset()
        counters.clear()
        source = FeatureSource(device_part, parts[2], precompute=False, batch_size=40)
        trained[compiled] = []
        for codes in (("d4-l2", "d8-k16"), ("d4-l2-r0.01",)):
            codecs = [_codec(source.feature_shape, code) for code in codes]
            with progress_bars(False):
                trained[compiled] += zip(codecs, train_codecs(codecs, copy.deepcopy(server), source, CONFIG, seed=3))
        assert counters["stats"]["unique_graphs"] == (4 if compiled else 0), dict(counters["stats"])
        assert not counters["graph_break"]
    torch._dynamo.reset()
    for (codec_a, history_a), (codec_b, history_b) in zip(trained[False], trained[True]):
        assert history_b["warmup_loss"] == pytest.approx(history_a["warmup_loss"], rel=1e-5)
        assert history_b["loss"] == pytest.approx(history_a["loss"], rel=1e-5)
        _same_codec(codec_a, codec_b)
