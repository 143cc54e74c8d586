"""JSCC through the channel layers (coinfer.core.jscc): tiny forward/backward, training, the Fig. 5 pipeline."""

import math
from dataclasses import replace

import pytest
import torch

from coinfer.core import channel as ch
from coinfer.config import get_preset
from coinfer.core import jscc as jscc
from coinfer.experiments import jscc as jscc_exp
from coinfer.core.features import FeatureSource
from coinfer.views import jscc as jscc_views
from coinfer.core.network import resnet18, split


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).eval()
    return split(net, "layer3.1")


def _features(device_part, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = device_part(torch.randn(n, 3, 32, 32, generator=g))
    return FeatureSource.from_tensors(x, torch.randint(0, 10, (n,), generator=g))


@pytest.mark.parametrize("kind,value", [("awgn", 10.0), ("bsc", 0.1)])
def test_tiny_jscc_forward_backward(parts, kind, value):
    device_part, server_part = parts
    feats = _features(device_part, 8)
    codec = jscc.make_codec(feats.feature_shape, 6, jscc.make_channel(kind, value))
    model = jscc.JSCC(codec, server_part).train()
    enc, dec = codec.encoder, codec.decoder
    assert not server_part.training                      # frozen BN statistics
    sent = model.channel_output(feats.features)
    assert sent.shape == (8, 6)
    if kind == "bsc":
        assert set(sent.unique().tolist()) <= {-1.0, 1.0}
    else:
        # power-normalized symbols + noise of variance 1/SNR: average power about 1 + 0.1
        assert 0.5 < sent.pow(2).mean().item() < 2.0
    logits = model(feats.features)
    assert logits.shape == (8, 10)
    torch.nn.functional.cross_entropy(logits, feats.labels).backward()
    assert all(p.grad is None for p in server_part.parameters())
    for name, module in (("encoder", enc), ("decoder", dec)):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum().item() for g in grads) > 0, name


def test_codec_rejects_bad_code_size():
    with pytest.raises(ValueError, match="code_size"):
        jscc.make_codec((4, 8, 8), 0, jscc.make_channel("bsc", 0.1))
    # 0 became the default quarter, and a 1-D feature dropped the setting without a word
    bsc = jscc.make_channel("bsc", 0.1)
    assert jscc.make_codec((8, 4, 4), 3, bsc, reduced_channels=5).encoder.channels == 5
    for bad, shape in [(0, (8, 4, 4)), (-3, (8, 4, 4)), (2.5, (8, 4, 4)), (5, (16,))]:
        with pytest.raises(ValueError, match=rf"reduced_channels .* got {bad!r} for a feature of shape"):
            jscc.make_codec(shape, 3, bsc, reduced_channels=bad)
    with pytest.raises(TypeError, match="AWGNChannel"):
        jscc.make_codec((4, 8, 8), 4, torch.nn.Identity())
    with pytest.raises(ValueError, match=r"\[0, 0.5\)"):
        replace(get_preset("quick").jscc, flip_rates=(0.0, 0.5))
    with pytest.raises(ValueError, match="bandwidth_hz"):
        replace(get_preset("quick").jscc, bandwidth_hz=0.0)
    with pytest.raises(ValueError, match="awgn"):
        jscc.make_channel("rayleigh", 1.0)


def test_training_learns_and_is_deterministic():
    # A learnable task: label = which of two patterns (plus noise) the feature came from; the frozen
    # "server part" reads class scores off the first two channels' means.
    g = torch.Generator().manual_seed(1)
    base = torch.randn(2, 4, 4, 4, generator=g)
    labels = torch.randint(0, 2, (320,), generator=g)
    x = torch.relu(base[labels] + 0.5 * torch.randn(320, 4, 4, 4, generator=g))
    server = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        server[2].weight.copy_(torch.eye(2, 4))
        server[2].bias.zero_()
    train, test = FeatureSource.from_tensors(x[:256], labels[:256]), FeatureSource.from_tensors(x[256:], labels[256:])
    settings = replace(get_preset("quick").jscc, epochs=8, batch_size=32, lr=1e-2)
    a = jscc_exp.train_jscc(train, server, "bsc", 0.0, 4, settings, seed=3)
    b = jscc_exp.train_jscc(train, server, "bsc", 0.0, 4, settings, seed=3)
    acc_a, acc_b = jscc_exp.evaluate_jscc(a, test), jscc_exp.evaluate_jscc(b, test)
    assert acc_a == acc_b
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert acc_a > 0.9                                   # two classes, learned through 4 bits
    # at p = 0.5 the received bits carry nothing about the feature: chance level
    assert jscc_exp.evaluate_jscc(a, test, 0.5) < 0.75
    assert a.channel.p == 0.0                            # evaluation at another p restores the setting


def test_search_finds_smallest_size():
    class FakeTrainer:
        """Accuracy = min(1, k / need) with ``need`` growing as the channel gets noisier."""
        def __init__(self):
            self.calls = []

        def probe(self, kind, value, k):
            self.calls.append((value, k))
            need = {20.0: 4, 10.0: 8, 0.0: 32}[value]
            return jscc_exp.Probe(kind, value, k, min(1.0, k / need))

    trainer = FakeTrainer()
    found = jscc_exp.smallest_code_sizes(trainer, "awgn", (0.0, 10.0, 20.0), (1, 2, 4, 8, 16, 32), 0.99)
    assert {v: p.code_size for v, (p, _) in found.items()} == {20.0: 4, 10.0: 8, 0.0: 32}
    assert trainer.calls[0] == (20.0, 4)                 # least noisy first, binary search from the middle
    assert all(k >= 4 for v, k in trainer.calls if v != 20.0)   # noisier: never below the cleaner answer
    missing = jscc_exp.smallest_code_sizes(FakeTrainer(), "awgn", (0.0,), (1, 2, 4), 0.99)
    assert missing[0.0][0] is None and missing[0.0][1][-1].code_size == 4


def test_search_on_a_dense_grid_is_a_binary_search():
    """Every integer up to 32, then a coarse grid: the answer is exact, in about log2(36) trainings."""
    sizes = tuple(range(1, 33)) + (48, 64, 96, 128)

    class Trainer:
        calls = 0

        def probe(self, kind, value, k):
            Trainer.calls += 1
            return jscc_exp.Probe(kind, value, k, accuracy=float(k >= 27), val_accuracy=float(k >= 27))

    found = jscc_exp.smallest_code_sizes(Trainer(), "awgn", (0.0,), sizes, 0.5)
    assert found[0.0][0].code_size == 27
    assert Trainer.calls <= 7


def test_search_chooses_on_validation_accuracy():
    """The smallest code is the smallest whose *validation* accuracy meets the threshold; test
    accuracy (here higher for every size) does not choose."""
    class Trainer:
        def probe(self, kind, value, k):
            return jscc_exp.Probe(kind, value, k, accuracy=0.95, val_accuracy=0.80 + 0.01 * k)

    found = jscc_exp.smallest_code_sizes(Trainer(), "bsc", (0.0,), tuple(range(1, 17)), 0.885)
    assert found[0.0][0].code_size == 9                  # 0.80 + 0.09 >= 0.885; test would pick 1
    assert jscc_exp.probe_accuracy(found[0.0][0]) == pytest.approx(0.89)
    old = jscc_exp.Probe("bsc", 0.0, 4, accuracy=0.9)   # a run without a validation split chooses on test
    assert jscc_exp.probe_accuracy(old) == 0.9


def test_cheapest_real_bits():
    assert jscc_exp.cheapest_real_bits(7.2176, 4) == 4.0       # a 16-word vector code: the 4-bit index
    assert jscc_exp.cheapest_real_bits(9228.0, 16384) == 9228.0
    assert jscc_exp.cheapest_real_bits(33.07, 32) == 32.0
    assert jscc_exp.cheapest_real_bits(5.0, None) == 5.0


def test_presets_train_jscc_with_the_source_codecs_budget():
    from coinfer.config import source_codec_budget

    for name in ("quick", "paper"):
        preset = get_preset(name)
        assert preset.jscc.budget() == source_codec_budget(preset.encoding)
    quick = get_preset("quick")
    budget = jscc_exp.training_budget(quick.jscc, quick, quick.jscc.train_images)
    assert budget["equal"] and budget["jscc"]["steps"] == 7 * math.ceil(8000 / 128)
    reduced = replace(quick.jscc, train_images=2000)
    assert not jscc_exp.training_budget(reduced, quick, 2000)["equal"]


def test_run_jscc_rejects_the_output_split():
    with pytest.raises(ValueError, match="output"):
        jscc_exp.run("quick", split_point="output", log=lambda m: None)


def test_jscc_on_a_vector_feature():
    """After ``pool`` the feature is a vector: the codec has no convolution, the rest is the same."""
    torch.manual_seed(0)
    net = resnet18(width=1 / 16).eval()
    device_part, server_part = split(net, "pool")
    with torch.no_grad():
        x = device_part(torch.randn(6, 3, 32, 32))
    codec = jscc.make_codec(tuple(x.shape[1:]), 3, jscc.make_channel("bsc", 0.1))
    out = jscc.JSCC(codec, server_part)(x)
    assert out.shape == (6, 10)


def test_learned_source_payload_reads_encoding_table(tmp_path):
    from coinfer.results import LookupTable, Provenance, Record

    table = LookupTable(Provenance(dataset="fashion-mnist", preset="quick", command="test", wall_time_s=0))
    common = dict(method="framework", split="layer3.1", device_macs=1, device_params=1, server_macs=1)
    table.add(Record(accuracy=0.80, bits_per_image=2.0, code_size="c8-d2-l2", **common))   # below threshold
    table.add(Record(accuracy=0.91, bits_per_image=7.2, code_size="c8-d16-k16", extra={"bits_fixed": 4},
                     **common))                                   # charged its 4-bit index, not 7.2
    table.add(Record(accuracy=0.92, bits_per_image=5.0, code_size="c8-d8-l2", extra={"bits_fixed": 8}, **common))
    table.add(Record(accuracy=0.95, bits_per_image=1.0, code_size="c8-d4-l2", **{**common, "split": "pool"}))
    path = table.save(tmp_path / "encoding_quick.json")
    best = jscc_exp.learned_source_payload("layer3.1", 0.9, "quick", path)
    assert best["bits_per_image"] == 4.0 and best["code_size"] == "c8-d16-k16"
    assert best["bits_coded"] == 7.2 and best["bits_charged"] == "fixed-length index"
    assert jscc_exp.learned_source_payload("layer3.1", 0.99, "quick", path) is None
    assert jscc_exp.learned_source_payload("layer3.1", 0.9, "quick", tmp_path / "missing.json") is None
    # chosen on validation accuracy where the table holds out a validation split: the 4-bit code misses
    # there (0.85 against the validation threshold 0.89 - 0.02)
    from dataclasses import replace as swap
    val = {"c8-d2-l2": 0.80, "c8-d16-k16": 0.85, "c8-d8-l2": 0.90, "c8-d4-l2": 0.95}
    with_val = LookupTable(swap(table.provenance, validation={"images": 5000, "seed": 0}, baseline_accuracy=0.93,
                                baseline_val_accuracy=0.89, accuracy_drop=2.0),
                           [swap(r, val_accuracy=val[r.code_size]) for r in table.records])
    best = jscc_exp.learned_source_payload("layer3.1", None, "quick", with_val.save(tmp_path / "with_val.json"))
    assert best["code_size"] == "c8-d8-l2" and best["bits_per_image"] == 5.0 and best["selected_on"] == "validation"


def test_run_jscc_pipeline(tmp_path, monkeypatch):
    """The whole Fig. 5 pipeline on a few images with an untrained network (structure, not accuracy)."""
    from coinfer.train import save_checkpoint

    # use this run's own learned binary code, whatever encoding table the checkout holds
    monkeypatch.setattr(jscc_exp, "learned_source_payload", lambda *args, **kwargs: None)
    from dataclasses import asdict

    torch.manual_seed(0)
    # a baseline trained with the validation split: choices on it, against its accuracy minus 2 points
    save_checkpoint(tmp_path / "quick" / "baseline.pt", resnet18(width=1 / 8),
                    {"width": 0.125, "test_accuracy": 0.12, "val_accuracy": 0.11,
                     "validation": asdict(get_preset("quick").validation)})
    settings = replace(get_preset("quick").jscc, train_images=64, test_images=64, epochs=1,
                       snrs_db=(0.0, 20.0), flip_rates=(0.0, 0.1), awgn_code_sizes=(2, 4),
                       bsc_code_sizes=(4, 8), mismatch_snrs_db=(0.0, 20.0), mismatch_flip_rates=(0.0, 0.1))
    table = jscc_exp.run("quick", settings, checkpoints=tmp_path, log=lambda m: None)
    assert table.provenance.validation is not None and table.provenance.baseline_val_accuracy == 0.11
    for r in table.select(method="framework-jscc"):
        assert r.val_accuracy is not None and r.extra["selected_on"] == "validation"
        assert r.extra["meets_threshold"] == (r.val_accuracy >= 0.09)
    # every record of a trained configuration carries its validation accuracy, and meets the threshold on it
    for method in ("framework-jscc-mismatch", "original-huffman+capacity", "learned-source-coding+capacity"):
        for r in table.select(method=method):
            assert r.val_accuracy is not None, (method, r.channel)
            assert r.extra["meets_threshold"] == (r.val_accuracy >= 0.09), (method, r.channel)
    # seeds average by configuration: another seed's smallest k (here 8 instead of 4 bits) is the same record
    from coinfer.stats import aggregate_seeds

    other = [replace(r, bits_per_image=2 * r.bits_per_image) if r.method == "framework-jscc" else r
             for r in table.records]
    mean = aggregate_seeds([table, replace(table, records=other, provenance=replace(table.provenance, seed=1))])
    jscc_rows = [r for r in jscc_views.fig5_rows(mean) if r["method"] == "framework-jscc" and r["kind"] == "bsc"]
    single = {r["value"]: r["channel_uses"] for r in jscc_views.fig5_rows(table) if r["method"] == "framework-jscc"
              and r["kind"] == "bsc"}
    assert all(r["channel_uses"] == pytest.approx(1.5 * single[r["value"]]) for r in jscc_rows)
    rows = jscc_views.fig5_rows(table)
    assert {r["method"] for r in rows} == set(jscc_views.FIG5_METHODS)
    own = [r for r in rows if r["method"] == "learned-source-coding+capacity" and r["kind"] == "bsc"]
    assert own[0]["bits_per_image"] in settings.bsc_code_sizes      # the p = 0 binary code, k bits
    for r in rows:
        if r["kind"] == "awgn":
            assert r["latency_s"] == pytest.approx(r["channel_uses"] / 2e6)   # 2W real uses per second
        elif r["method"] != "framework-jscc":
            assert r["channel_uses"] == pytest.approx(ch.bsc_channel_uses(r["bits_per_image"], r["value"]))
    png = [r for r in rows if r["method"] == "png+capacity" and r["kind"] == "awgn"]
    assert png[0]["latency_s"] > png[1]["latency_s"]                          # higher SNR, faster
    trained, tests, grid = jscc_views.mismatch_grid(table, "bsc")
    assert trained == ["bsc:0", "bsc:0.1", "bsc:0..0.1"] and tests == [0.0, 0.1]
    assert not any(math.isnan(a) for a in grid.ravel())
    path = table.save(tmp_path / "jscc.json")
    from coinfer.results import load_table
    assert len(load_table(path).records) == len(table.records)

    rows = jscc_views.fig5_rows(table)
    assert all(r["finite_uses"] >= math.floor(r["channel_uses"]) for r in rows if r["method"] != "framework-jscc")
