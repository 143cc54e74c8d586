"""Channel layers and capacities (coinfer.core.channel): known values, statistics, gradients, errors."""

import math

import pytest
import torch

from coinfer.core import channel as ch


# ----------------------------------------------------------------------------- capacities

def test_awgn_capacity_known_points():
    assert ch.awgn_capacity_per_real_use(0.0) == pytest.approx(0.5)          # SNR 1: 0.5 log2 2
    assert ch.awgn_capacity_bps(0.0, 1e6) == pytest.approx(1e6)              # W log2 2 = W
    # SNR 10*log10(3) dB = 3: 0.5 log2 4 = 1 bit per real use, 2 bit/s/Hz
    snr3 = 10 * math.log10(3)
    assert ch.awgn_capacity_per_real_use(snr3) == pytest.approx(1.0)
    assert ch.awgn_capacity_bps(snr3, 2.5e5) == pytest.approx(5e5)
    # 2W real uses per second times the per-use capacity, at any SNR
    for snr in (-10.0, 3.0, 17.0):
        assert ch.awgn_capacity_bps(snr, 1e6) == pytest.approx(2e6 * ch.awgn_capacity_per_real_use(snr))
    # very low SNR: nearly nothing
    assert ch.awgn_capacity_per_real_use(-60.0) < 1e-6


def test_airtimes_are_consistent():
    W = 1e6
    assert ch.real_uses_per_second(W) == 2e6
    assert ch.awgn_airtime_s(2e6, W) == pytest.approx(1.0)
    # bits at capacity = real uses needed at capacity per use, on the same clock
    bits, snr = 1000.0, 7.0
    uses = bits / ch.awgn_capacity_per_real_use(snr)
    assert ch.capacity_airtime_s(bits, snr, W) == pytest.approx(ch.awgn_airtime_s(uses, W))


def test_bsc_capacity_known_points():
    assert ch.bsc_capacity(0.0) == 1.0
    assert ch.bsc_capacity(0.5) == pytest.approx(0.0)
    assert ch.binary_entropy(0.11) == pytest.approx(0.4999, abs=1e-3)
    assert ch.bsc_channel_uses(100, 0.0) == 100
    assert ch.bsc_channel_uses(100, 0.11) == pytest.approx(200, rel=1e-3)
    assert ch.bsc_channel_uses(100, 0.5) == math.inf
    assert ch.bsc_channel_uses(0, 0.5) == 0.0


@pytest.mark.parametrize("p", [-0.01, 0.51, 1.0, float("nan"), "x", None])
def test_bad_flip_rate(p):
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        ch.bsc_capacity(p)
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        ch.BSCChannel(p)


@pytest.mark.parametrize("snr", [float("inf"), float("-inf"), float("nan"), "loud", None])
def test_bad_snr(snr):
    with pytest.raises(ValueError, match="finite"):
        ch.awgn_capacity_per_real_use(snr)
    with pytest.raises(ValueError, match="finite"):
        ch.AWGNChannel(snr)


@pytest.mark.parametrize("w", [0, -1e6, float("inf"), float("nan")])
def test_bad_bandwidth(w):
    with pytest.raises(ValueError, match="bandwidth_hz"):
        ch.awgn_capacity_bps(10.0, w)
    with pytest.raises(ValueError, match="bandwidth_hz"):
        ch.awgn_airtime_s(10, w)


def test_bad_ranges_and_setters():
    with pytest.raises(ValueError, match="low <= high"):
        ch.AWGNChannel((10.0, 0.0))
    with pytest.raises(ValueError, match="pair"):
        ch.BSCChannel((0.1, 0.2, 0.3))
    layer = ch.AWGNChannel(5.0)
    with pytest.raises(ValueError, match="finite"):
        layer.snr_db = float("nan")
    with pytest.raises(ValueError, match="bits"):
        ch.capacity_airtime_s(-1, 0.0, 1e6)


def test_channel_names_round_trip():
    assert ch.channel_name("awgn", 10.0) == "awgn:10"
    assert ch.parse_channel("awgn:-2.5") == ("awgn", -2.5)
    assert ch.parse_channel(ch.channel_name("bsc", 0.05)) == ("bsc", 0.05)
    with pytest.raises(ValueError, match="awgn"):
        ch.parse_channel("rayleigh:3")
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        ch.parse_channel("bsc:0.7")


# ----------------------------------------------------------------------------- AWGN layer

def test_power_normalization_per_example():
    z = torch.randn(5, 4, 3) * torch.tensor([0.1, 1, 10, 100, 1000]).view(5, 1, 1)
    x = ch.normalize_power(z)
    assert x.shape == z.shape
    assert torch.allclose(x.pow(2).mean(dim=(1, 2)), torch.ones(5), atol=1e-5)
    # direction kept, only the scale changes
    assert torch.allclose(x[2] / x[2].norm(), z[2] / z[2].norm(), atol=1e-6)
    assert torch.equal(ch.normalize_power(torch.zeros(2, 3)), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch"):
        ch.normalize_power(torch.ones(3))


def test_a_weak_example_is_scaled_to_unit_power_and_a_zero_one_keeps_a_finite_gradient():
    # An epsilon added to the power left an example of rms 1e-7 at power 0.01 (SNR 20 dB short).
    z = (torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
         * torch.tensor([1e-5, 1e-7, 0.0]).view(3, 1)).requires_grad_()
    x = ch.normalize_power(z)
    assert torch.allclose(x.pow(2).mean(dim=1), torch.tensor([1.0, 1.0, 0.0]), atol=1e-5)
    x.sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("scale", [300.0, 1e-4])
def test_half_precision_examples_reach_unit_power(dtype, scale):
    # In float16 the squares of 300 overflow and those of 1e-4 underflow: the example came out 0 or
    # tiny, and the AWGN channel then sent pure noise (CPU autocast to float16 does this).
    z = (torch.randn(4, 32, generator=torch.Generator().manual_seed(0)) * scale).to(dtype)
    x = ch.normalize_power(z)
    assert x.dtype == dtype
    assert torch.allclose(x.double().pow(2).mean(dim=1), torch.ones(4, dtype=torch.float64), rtol=0.02)
    assert ch.normalize_power(torch.zeros(0, 4)).shape == (0, 4)      # an empty batch, not a reshape error
    # One weak element among 4096: its root power (1.6e-8) is 0 in float16, so divide before casting back.
    lone = torch.zeros(1, 4096, dtype=dtype)
    lone[0, 0] = 1e-6
    assert ch.normalize_power(lone)[0, 0].item() == pytest.approx(64.0, rel=0.02)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_awgn_empirical_snr(snr_db):
    gen = torch.Generator().manual_seed(0)
    layer = ch.AWGNChannel(snr_db, generator=gen)
    z = torch.randn(200, 500, generator=torch.Generator().manual_seed(1)) * 7 + 3
    x = ch.normalize_power(z)
    y = layer(z)
    noise = y - x
    measured = 10 * math.log10(x.pow(2).mean().item() / noise.pow(2).mean().item())
    assert measured == pytest.approx(snr_db, abs=0.05)       # 100k samples: ~0.02 dB spread
    assert abs(noise.mean().item()) < 0.01 * 10 ** (-snr_db / 20) * 10


def test_awgn_snr_range_drawn_per_batch():
    gen = torch.Generator().manual_seed(0)
    layer = ch.AWGNChannel((0.0, 20.0), generator=gen)
    seen = []
    for _ in range(50):
        layer(torch.randn(4, 8))
        seen.append(layer.last_snr_db)
    assert all(0.0 <= s <= 20.0 for s in seen)
    assert max(seen) - min(seen) > 10            # really spread over the range
    layer.snr_db = 3.0
    layer(torch.randn(4, 8))
    assert layer.last_snr_db == 3.0


def test_awgn_deterministic_with_seed():
    z = torch.randn(3, 16)
    a = ch.AWGNChannel(5.0, generator=torch.Generator().manual_seed(42))(z)
    b = ch.AWGNChannel(5.0, generator=torch.Generator().manual_seed(42))(z)
    c = ch.AWGNChannel(5.0, generator=torch.Generator().manual_seed(43))(z)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(7)
    d = ch.AWGNChannel(5.0)(z)
    torch.manual_seed(7)
    assert torch.equal(d, ch.AWGNChannel(5.0)(z))


def test_awgn_gradient_flows():
    z = torch.randn(4, 10, requires_grad=True)
    ch.AWGNChannel(10.0)(z).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- binarizer and BSC

def test_binarize_values_and_gradient():
    logits = torch.tensor([-2.0, -0.1, 0.1, 3.0], requires_grad=True)
    bits = ch.binarize(logits)
    assert bits.tolist() == [0.0, 0.0, 1.0, 1.0]
    (bits * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    s = torch.sigmoid(logits.detach())
    assert torch.allclose(logits.grad, torch.tensor([1.0, 2.0, 3.0, 4.0]) * s * (1 - s))


def test_stochastic_binarize():
    gen = torch.Generator().manual_seed(0)
    logits = torch.full((20000,), math.log(0.3 / 0.7), requires_grad=True)  # P(1) = 0.3
    bits = ch.binarize(logits, stochastic=True, generator=gen)
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    assert bits.mean().item() == pytest.approx(0.3, abs=0.015)
    bits.sum().backward()
    assert torch.allclose(logits.grad, torch.full_like(logits, 0.21))


@pytest.mark.parametrize("p", [0.0, 0.05, 0.2, 0.5])
def test_bsc_empirical_flip_rate(p):
    gen = torch.Generator().manual_seed(0)
    bits = (torch.rand(100, 1000, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    out = ch.BSCChannel(p, generator=gen)(bits)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    rate = (out != bits).float().mean().item()
    assert rate == pytest.approx(p, abs=0.005)                # 100k bits: sd <= 0.0016


def test_bsc_rejects_non_bits():
    with pytest.raises(ValueError, match="binarize"):
        ch.BSCChannel(0.1)(torch.tensor([[0.0, 0.5, 1.0]]))


def test_bsc_gradient_through_flips():
    logits = torch.tensor([[1.0, -1.0, 2.0, -2.0]], requires_grad=True)
    layer = ch.BSCChannel(0.5, generator=torch.Generator().manual_seed(3))
    bits = ch.binarize(logits)
    out = layer(bits)
    out.sum().backward()
    flipped = (out != bits).float()
    s = torch.sigmoid(logits.detach())
    # d out / d bit = 1 - 2 e: a flipped bit sends the gradient back with its sign reversed
    assert torch.allclose(logits.grad, (1 - 2 * flipped) * s * (1 - s))
    assert flipped.sum() > 0


def test_bsc_deterministic_with_seed():
    bits = (torch.rand(8, 64) < 0.5).float()
    a = ch.BSCChannel(0.1, generator=torch.Generator().manual_seed(5))(bits)
    b = ch.BSCChannel(0.1, generator=torch.Generator().manual_seed(5))(bits)
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- finite block length

def test_dispersion_known_points():
    assert ch.awgn_dispersion(0.0) == pytest.approx(3 / 8 * math.log2(math.e) ** 2)   # SNR 1
    assert ch.bsc_dispersion(0.0) == 0.0 and ch.bsc_dispersion(0.5) == 0.0
    assert ch.bsc_dispersion(0.11) == pytest.approx(0.11 * 0.89 * math.log2(0.89 / 0.11) ** 2)


def test_normal_approximation_uses():
    c, v = ch.awgn_capacity_per_real_use(10.0), ch.awgn_dispersion(10.0)
    small = ch.normal_approximation_uses(12, c, v, 1e-3)
    assert small > 12 / c * 1.5                      # a 12-bit payload is far from capacity
    big = ch.normal_approximation_uses(1e5, c, v, 1e-3)
    assert 1e5 / c < big < 1.03 * 1e5 / c            # long blocks approach capacity
    assert ch.normal_approximation_uses(100, c, v, 1e-6) > ch.normal_approximation_uses(100, c, v, 1e-2)
    # the answer is the smallest n whose approximate payload reaches the target
    q = 3.090232306167813                            # Q^-1(1e-3)
    def carried(n):
        return n * c - math.sqrt(n * v) * q + 0.5 * math.log2(n)
    assert carried(small) >= 12 > carried(small - 1)
    assert ch.normal_approximation_uses(12, 1.0, 0.0) == 12   # noiseless BSC: one bit per use
    assert ch.normal_approximation_uses(0, c, v) == 0          # nothing to send takes no use (was 21)
    assert ch.normal_approximation_uses(0, 0.0, 0.0) == 0 and ch.normal_approximation_uses(1, 0.0, 0.0) == math.inf
    with pytest.raises(ValueError, match="error_prob"):
        ch.normal_approximation_uses(12, c, v, 0.0)
