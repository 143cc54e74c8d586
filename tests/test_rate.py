"""Rate-accuracy training (coinfer.core.rate): the learned prior, the rate estimate, the rate weight's id."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from coinfer.core.encoding import CodeSize, ScalarCodebookQuantizer, build_codec
from coinfer.core.entropy import range_stream_bits
from coinfer.core.features import FeatureSource
from coinfer.core.rate import LearnedEntropyModel, check_rate_weight, rate_bits


# --------------------------------------------------------------------------------------------
# The rate weight is part of the code-size id
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, weight", [("c8-d16-k64-r0.01", 0.01), ("d16-l4-r0", 0.0), ("d4-l2-r1e-05", 1e-5),
                                          ("d16-k64-r3", 3.0)])
def test_code_size_carries_its_rate_weight(text, weight):
    size = CodeSize.parse(text)
    assert size.rate_weight == weight
    assert str(size) == text and CodeSize.parse(str(size)) == size
    assert size.fixed_bits == CodeSize.parse(text.rsplit("-r", 1)[0]).fixed_bits


def test_two_weights_never_share_an_id():
    a, b = CodeSize.parse("d16-k64-r0.1"), CodeSize.parse("d16-k64-r0.10000001")
    assert a != b and str(a) != str(b) and CodeSize.parse(str(b)).rate_weight == 0.10000001
    assert str(CodeSize.parse("d16-k64-r0")) != str(CodeSize.parse("d16-k64"))   # r0: a learned prior


@pytest.mark.parametrize("text", ["d16-k64-r-1", "d16-k64-rabc", "d16-k64-rnan", "d16-k64-rinf", "d16-k64-r"])
def test_a_bad_rate_weight_is_refused_by_name(text):
    with pytest.raises(ValueError, match="rate weight"):
        CodeSize.parse(text)


def test_a_bad_rate_weight_is_refused_everywhere():
    with pytest.raises(ValueError, match=r"finite number >= 0"):
        CodeSize(16, 64, "vector", rate_weight=-0.5)
    with pytest.raises(ValueError, match=r"finite number >= 0"):
        check_rate_weight(True)
    from coinfer.config import RateSettings, rate_code_sizes

    with pytest.raises(ValueError, match="already has a rate weight"):
        rate_code_sizes(["d16-k64-r0.1"], [0.2])
    with pytest.raises(ValueError, match="distinct"):
        RateSettings(weights=(0.1, 0.1))
    with pytest.raises(ValueError, match=r"finite number >= 0"):
        RateSettings(weights=(0.1, float("nan")))


def test_the_rate_grid_shares_the_encoding_tables_cells():
    from coinfer.config import get_preset
    from coinfer.experiments.rate import grid, rate_weight_overrides
    from coinfer.experiments.sweep import encoding_cells

    quick = get_preset("quick")
    rate_ids = {c.id for c in encoding_cells(grid(quick))}
    fixed = {c.id for c in encoding_cells(quick) if c.split in quick.rate.splits and c.method == "framework"}
    assert fixed <= rate_ids                                  # the fixed codes are the encoding table's cells
    assert len(rate_ids - fixed) == len(quick.rate.splits) * len(quick.rate.weights) * len(quick.rate.code_sizes)
    enc = get_preset("quick", **rate_weight_overrides(quick, "encoding", [0.1, 0.2]))
    assert enc.encoding.code_sizes[:4] == quick.encoding.code_sizes and "d16-l4-r0.2" in enc.encoding.code_sizes
    assert get_preset("quick", **rate_weight_overrides(quick, "rate", [0.5])).rate.rate_code_sizes == ("d16-k64-r0.5",)


# --------------------------------------------------------------------------------------------
# The rate estimate equals the coded length in expectation
# --------------------------------------------------------------------------------------------

def _toy_source(n: int, seed: int = 0):
    """Symbols of 3 positions over 4 levels, each position with its own known distribution."""
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25], [0.5, 0.3, 0.15, 0.05]])
    rng = np.random.default_rng(seed)
    symbols = np.stack([rng.choice(4, size=n, p=row) for row in p], axis=1)
    return p, torch.as_tensor(symbols)


def test_rate_estimate_equals_coded_length_in_expectation():
    """Tolerance: the estimate (mean of -log2 p over 4,000 images) is within 3 standard errors of the
    source's entropy, and the range coder's one stream of all images within 0.5 % + 0.02 bits of the
    estimate (its termination costs at most 64 bits in all); one packet per image costs between the
    estimate and the estimate + 2 bits (a prefix-free stream: at least the information, at most about 2 over)."""
    p, symbols = _toy_source(4000)
    model = LearnedEntropyModel(3, 4)
    with torch.no_grad():
        model.logits.copy_(torch.log(torch.as_tensor(p)))
    per_image = rate_bits(model, symbols)["rate"]
    estimate = float(per_image.mean())
    entropy = float(-(p * np.log2(p)).sum())
    assert abs(estimate - entropy) < 3 * float(per_image.std()) / math.sqrt(len(symbols))
    table = model.probabilities.detach().double().numpy()
    one_stream = range_stream_bits(symbols.numpy(), table) / len(symbols)
    assert abs(one_stream - estimate) < 0.005 * estimate + 0.02
    coded = model.encode_with_costs(symbols[:300])
    first = float(per_image[:300].mean())
    assert first - 0.05 <= coded.coded.mean() <= first + 2.0
    assert torch.equal(model.decode(coded.packets), symbols[:300])     # the trained prior codes the packets


def test_soft_estimate_tends_to_the_hard_one_on_a_quantized_toy_source():
    """The quantizer's soft assignment on values near their codewords: its expected bits within 2 %
    of the hard symbols' information content (the rate's forward value)."""
    p, symbols = _toy_source(2000, seed=1)
    quantizer = ScalarCodebookQuantizer(3, 4).train()
    z = quantizer.codewords.detach()[torch.arange(3), symbols] + 0.02 * torch.randn(len(symbols), 3,
                                                                                   generator=torch.Generator().manual_seed(0))
    out = quantizer(z)
    assert torch.equal(out["symbols"], symbols)
    model = LearnedEntropyModel(3, 4).fit(out["symbols"])
    rate = rate_bits(model, out["symbols"], out["soft"])
    hard, soft = float(rate["rate"].detach().mean()), float(rate["soft_bits"].detach().mean())
    assert abs(soft - hard) < 0.02 * hard
    rate["rate"].mean().backward()                              # the gradient reaches the encoder side ...
    assert quantizer.codewords.grad is not None and model.logits.grad is None   # ... and not the prior
    rate["prior_bits"].mean().backward()
    assert model.logits.grad is not None


# --------------------------------------------------------------------------------------------
# A larger weight never increases the estimated rate
# --------------------------------------------------------------------------------------------

def _toy_problem(n: int = 768):
    """8-D features whose label is the largest of the first 4 numbers, and a server part that reads it."""
    g = torch.Generator().manual_seed(0)
    features = torch.randn(n, 8, generator=g).abs()
    labels = features[:, :4].argmax(1)
    server = nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        server.weight.copy_(torch.eye(4, 8))
    return FeatureSource.from_tensors(features, labels), server


def test_a_larger_weight_never_increases_the_estimated_rate():
    from coinfer.experiments.encoding import evaluate_codec, get_encode_config, train_codec

    source, server = _toy_problem()
    config = get_encode_config("quick", warmup_epochs=1, epochs=4, batch_size=32, lr=0.01, eval_batch_size=256)
    rates, accuracies = [], []
    for weight in (0.0, 0.03, 0.3, 3.0):
        torch.manual_seed(0)
        codec = build_codec((8,), f"d4-l4-r{weight:g}", config.kernel_size, config.temperature, config.commitment)
        assert codec.rate_weight == weight
        train_codec(codec, server, source, config, seed=0)       # the codec's own weight
        result = evaluate_codec(codec, server, source, batch_size=256)
        rates.append(result["bits_model"])
        accuracies.append(result["accuracy"])
        assert result["roundtrip_exact"]
        # one stream of 768 images: its termination costs at most 64 bits in all, 0.083 per image
        assert result["bits_model"] <= result["bits_one_stream"] + 0.01 <= result["bits_model"] + 0.1
    assert all(b <= a + 1e-9 for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] < 0.75 * rates[0], rates             # the weight does something
    assert accuracies[0] > 0.75 > accuracies[-1], accuracies   # the weightless code learned the task; rate costs it


def test_a_rate_trained_codec_codes_with_its_trained_prior_after_a_reload():
    torch.manual_seed(0)
    codec = build_codec((6,), "d4-k8-r0.1").eval()
    assert isinstance(codec.entropy_model, LearnedEntropyModel)
    with torch.no_grad():
        codec.entropy_model.logits.copy_(torch.tensor([[3.0, 0, 0, 0, -1, -1, -2, -2]]))
    features = torch.randn(20, 6)
    packets = codec.compress(features)
    again = build_codec((6,), "d4-k8-r0.1").eval()
    again.load_state_dict(codec.state_dict())
    assert torch.equal(again.decompress(packets), codec.decompress(packets))
    assert "entropy_model.logits" in codec.state_dict()


def test_a_receiver_whose_softmax_rounds_otherwise_decodes_with_the_senders_table(monkeypatch):
    # A device and a server on different CPUs (AVX2, none, ARM) round a softmax differently; one ulp
    # in the range coder's table decodes wrong symbols without an error, so the saved model carries
    # the sender's table and the receiver never recomputes it from the logits.
    torch.manual_seed(0)
    sender = LearnedEntropyModel(6, 8)
    with torch.no_grad():
        sender.logits.copy_(torch.randn(6, 8) * 2)
    symbols = torch.multinomial(torch.softmax(sender.logits, 1), 300, replacement=True).t()   # as the prior says
    coded = sender.encode_with_costs(symbols)
    assert (coded.sent <= coded.fixed).mean() > 0.5           # most packets range-coded, not the fixed index
    state = sender.state_dict()
    assert torch.equal(state["coding_logits"], state["logits"])
    softmax = torch.softmax
    wobble = 1 + 2.0 ** -16 * (-1) ** torch.arange(8)   # some ulps, unlike per symbol (one ulp fails too, more rarely)
    monkeypatch.setattr(torch, "softmax", lambda x, dim: softmax(x, dim=dim) * wobble.to(x.dtype))   # another CPU
    receiver = LearnedEntropyModel(6, 8)
    receiver.load_state_dict(state)
    assert torch.equal(receiver.decode(coded.packets), symbols)
    # A model saved before the table was kept still loads: its table is computed from its logits, as
    # it was then (here on the other CPU, which is what the kept table prevents).
    old = LearnedEntropyModel(6, 8)
    old.load_state_dict({"logits": state["logits"]})
    assert not np.array_equal(old.range_table(), receiver.range_table())
    # The table is made again where the logits moved (training).
    monkeypatch.setattr(torch, "softmax", softmax)
    with torch.no_grad():
        receiver.logits[0, 0] += 1.0
    assert receiver.range_table()[0, 0] > sender.range_table()[0, 0]


def test_the_learned_prior_refuses_a_bad_prior_and_counts_rare_symbols_finitely():
    model = LearnedEntropyModel(1, 4)
    for bad in (0.0, -1.0, math.nan):      # gave -inf or NaN logits and a NaN rate
        with pytest.raises(ValueError, match="prior must be positive pseudo-counts"):
            model.fit(torch.tensor([[0], [1]]), prior=bad)
    with torch.no_grad():
        model.logits.copy_(torch.tensor([[0.0, -110.0, 0.0, 0.0]]))
    # p(1) = e^-110 / 3 is 0 in float32, but its code length is ~160.3 bits (log2 of the float32 p read inf)
    bits = model.information_bits(torch.tensor([[1], [0]]))
    assert bits[0].item() == pytest.approx(110 / math.log(2) + math.log2(3), rel=1e-5)
    assert bits[1].item() == pytest.approx(math.log2(3), rel=1e-5)


def test_aggregate_keeps_the_rate_numbers_per_seed():
    from dataclasses import replace

    from coinfer.results import LookupTable, Provenance, Record
    from coinfer.stats import aggregate_seeds, seed_mean

    r = Record(method="framework", split="pool", accuracy=0.9, device_macs=1, device_params=1, server_macs=1,
               bits_per_image=5.0, val_accuracy=0.9, code_size="d16-k64-r0.1",
               extra={"bits_model": 4.0, "range_share": 0.25})
    prov = Provenance("fashion-mnist", "quick", "t", 1.0, seed=0)
    runs = [LookupTable(prov, [r]),
            LookupTable(replace(prov, seed=1), [replace(r, extra={"bits_model": 3.0, "range_share": 0.75})])]
    merged = aggregate_seeds(runs).records[0]
    assert merged.extra["per_seed"]["bits_model"] == [4.0, 3.0]
    # the share of images sent range-coded is a seed's too: the mean is over both, not seed 0's 0.25
    assert merged.extra["per_seed"]["range_share"] == [0.25, 0.75] and seed_mean(merged, "range_share") == 0.5


# --------------------------------------------------------------------------------------------
# The committed table and its views
# --------------------------------------------------------------------------------------------

def test_the_committed_rate_table_codes_what_it_estimates():
    """Every rate-trained code of the committed table: its one-stream real bits are within 10 % of its
    estimated rate, above the empirical entropy less a rounding (Gibbs), and one packet per image
    costs at least as much as the one stream."""
    from coinfer.paths import table_path
    from coinfer.results import load_table
    from coinfer.views.rate import rate_rows

    table = load_table(table_path("rate", "quick"))
    assert table.provenance.seeds == [0, 1, 2] and table.provenance.validation is not None
    rows = [r for r in rate_rows(table) if r["weight"] is not None]
    assert len({r["weight"] for r in rows}) >= 5 and {r["split"] for r in rows} == {"layer2.1", "layer3.1"}
    for r in rows:
        assert abs(r["gap %"]) <= 10, r
        assert r["entropy"] <= r["estimate"] + 1e-6 and r["estimate"] <= r["one stream"] + 1e-3, r
        assert r["one stream"] <= r["sent"] + 1e-9, r


def test_the_rate_views_draw_and_every_slider_state_reads_out():
    import matplotlib

    matplotlib.use("Agg")
    from coinfer.paths import table_path
    from coinfer.results import load_table
    from coinfer.views.explorer import slider_states
    from coinfer.views.rate import _sliders, fig_rate_curve, rate_data, rate_readout, rate_summary, rate_twin

    table = load_table(table_path("rate", "quick"))
    data = rate_data(table)
    for _, state in slider_states(_sliders(data["rows"], None)):
        out = rate_readout(data, state)
        assert out["plot"]["highlight"][0]["y"] == next(r["val %"] for r in data["rows"] if r["split"] == state["split"]
                                                        and r["weight"] == state["weight"])
    assert "rate weight" in rate_twin(table).html
    fig = fig_rate_curve(table)
    assert len(fig.axes) == 2
    summary = rate_summary(table)
    best = summary["splits"]["layer3.1"]["best_rate"]
    assert best is None or (best["meets"] and best["val %"] >= 100 * summary["threshold"])
    with pytest.raises(ValueError, match="no rate records at split"):
        _sliders(data["rows"], "pool")


def test_the_commands_take_a_list_of_rate_weights(capsys):
    from coinfer.cli import main
    from coinfer.config import get_preset
    from coinfer.experiments.rate import rate_weight_overrides
    from coinfer.experiments.search import search_space

    assert main(["run", "rate", "--rate-weights", "-1"]) == 2
    assert "finite number >= 0" in capsys.readouterr().err
    assert main(["run", "jscc", "--rate-weights", "0.1"]) != 0
    assert "not 'jscc'" in capsys.readouterr().err
    quick = get_preset("quick")
    space = search_space(get_preset("quick", **rate_weight_overrides(quick, "sweep", [0.1, 0.3])))
    assert {"d16-k16-r0.1", "d16-k16-r0.3", "d16-k16"} <= set(space["framework"]["framework.code_size"])
