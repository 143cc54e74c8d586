"""Noisy channels as layers of a network, and their Shannon capacities (Shao & Zhang, IV-B, V-D).

Learning-driven joint source-channel coding (JSCC) "models a noisy channel as a non-trainable layer in
the DNN" (section IV-B). This module holds those layers and the capacities that the separate schemes
of Fig. 5 are charged at::

    device features --encoder--> z (k reals) --AWGNChannel(SNR)--> z + n --decoder--> server
    device features --encoder--> logits (k) --binarize--> bits --BSCChannel(p)--> bits ^ e --decoder-->

Conventions (used by every function here, by :mod:`coinfer.core.jscc` and by chapter 4)
---------------------------------------------------------------------------------------
**AWGN, real channel uses.** The encoder emits ``k`` real numbers per image; each is one *real
channel use*. :func:`normalize_power` scales every image's ``k`` numbers to unit average power per real
symbol, ``sum(x**2) / k == 1`` (a per-image, not per-batch, constraint: every transmission meets it).
The channel adds independent Gaussian noise of variance ``sigma**2 = 1 / SNR`` to each real
dimension, so the SNR is the ratio of signal power to noise power per real dimension,
``SNR = 10 ** (snr_db / 10)``.

**Channel uses and time.** A channel of (complex baseband) bandwidth ``W`` Hz carries ``W`` complex
symbols per second (Nyquist), i.e. ``2 W`` real channel uses per second: a complex symbol is two real
channel uses, its in-phase and quadrature parts, each with noise variance ``1/SNR`` (complex noise
variance ``2/SNR`` against complex symbol power 2: the same SNR). So ``k`` reals take
``k / (2 W)`` seconds (:func:`awgn_airtime_s`).

**AWGN capacity.** Per real channel use ``C = 0.5 * log2(1 + SNR)`` bits
(:func:`awgn_capacity_per_real_use`); per second at bandwidth ``W``, ``2 W`` real uses times that,
``C = W * log2(1 + SNR)`` bits/s (:func:`awgn_capacity_bps`). A source of ``b`` bits sent with an ideal
(capacity-achieving) channel code takes ``b / C`` seconds (:func:`capacity_airtime_s`): the same
bookkeeping, so JSCC and separate coding are compared on one clock.

**BSC.** One bit per channel use; each bit is flipped independently with probability ``p`` in
[0, 0.5]. Capacity ``C = 1 - H2(p)`` bits per channel use (:func:`bsc_capacity`); ``b`` source bits
need ``b / C`` channel uses with an ideal channel code (:func:`bsc_channel_uses`). At ``p = 0.5`` the
output is independent of the input: capacity 0, and no number of channel uses suffices (infinity).

**Binarization.** A network cannot back-propagate through a hard threshold (its derivative is zero
almost everywhere). :func:`binarize` sends hard bits ``1[logit > 0]`` forward and, backward, the
gradient of the relaxation ``sigmoid(logit)`` (the "straight-through" estimator with a sigmoid
surrogate, Bengio et al. 2013): what the channel sees is always exactly 0 or 1, what the optimizer
sees is the slope of a smooth bit. The BSC flip ``y = b + e (1 - 2b)`` (XOR with the error pattern
``e``) is differentiable in ``b``: a flipped bit passes the gradient with its sign reversed.

Randomness: noise and flips are drawn from a ``torch.Generator`` if one is given, else from torch's
global generator (seeded by :func:`coinfer.train.seed_everything`); same seed, same numbers.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from coinfer.tensor_data import copy_to_device

# ----------------------------------------------------------------------------- parameter checks


def _check_snr_db(snr_db, name: str = "snr_db") -> float:
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number of decibels, got {snr_db!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of decibels, got {snr_db!r}")
    return value


def _check_flip_rate(p, name: str = "p") -> float:
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{name} (bit flip probability) must be a number in [0, 0.5], got {p!r}") from None
    if not 0.0 <= value <= 0.5:  # also rejects NaN
        raise ValueError(f"{name} (bit flip probability) must be in [0, 0.5], got {p!r}; "
                         "a BSC with p > 0.5 is a BSC with 1 - p followed by an inverter")
    return value


def _check_bandwidth(bandwidth_hz) -> float:
    try:
        value = float(bandwidth_hz)
    except (TypeError, ValueError):
        raise ValueError(f"bandwidth_hz must be a positive, finite number of hertz, got {bandwidth_hz!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"bandwidth_hz must be a positive, finite number of hertz, got {bandwidth_hz!r}")
    return value


def _check_nonnegative(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _check_range(value, check, name: str) -> float | tuple[float, float]:
    """A single value, or a ``(low, high)`` range with ``low <= high``, each passed through ``check``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}")
        low, high = check(value[0], f"{name}[0]"), check(value[1], f"{name}[1]")
        if low > high:
            raise ValueError(f"{name} range must have low <= high, got {value!r}")
        return (low, high)
    return check(value, name)


def db_to_linear(snr_db: float) -> float:
    """``10 ** (snr_db / 10)``: an SNR in decibels as a power ratio."""
    return 10.0 ** (_check_snr_db(snr_db) / 10.0)


# ----------------------------------------------------------------------------- capacities


def awgn_capacity_per_real_use(snr_db: float) -> float:
    """Shannon capacity of the real AWGN channel, bits per real channel use: ``0.5 log2(1 + SNR)``.

    Parameters
    ----------
    snr_db : float
        Signal power over noise power per real dimension, in dB (finite).

    Examples
    --------
    >>> awgn_capacity_per_real_use(0.0)   # SNR = 1
    0.5
    """
    return 0.5 * math.log2(1.0 + db_to_linear(snr_db))


def awgn_capacity_bps(snr_db: float, bandwidth_hz: float) -> float:
    """Shannon capacity at bandwidth ``W``, bits per second: ``W log2(1 + SNR)``.

    ``2 W`` real channel uses per second times :func:`awgn_capacity_per_real_use` (equivalently ``W``
    complex uses of ``log2(1 + SNR)`` bits each).

    Parameters
    ----------
    snr_db : float
        SNR in dB (finite).
    bandwidth_hz : float
        Bandwidth ``W`` in hertz, > 0.

    Examples
    --------
    >>> awgn_capacity_bps(0.0, 1e6)       # 1 MHz at 0 dB: 1 Mbit/s
    1000000.0
    """
    return real_uses_per_second(bandwidth_hz) * awgn_capacity_per_real_use(snr_db)


def real_uses_per_second(bandwidth_hz: float) -> float:
    """Real channel uses per second at bandwidth ``W``: ``2 W`` (``W`` complex symbols per second)."""
    return 2.0 * _check_bandwidth(bandwidth_hz)


def awgn_airtime_s(real_uses: float, bandwidth_hz: float) -> float:
    """Seconds to send ``real_uses`` real symbols over bandwidth ``W``: ``real_uses / (2 W)``."""
    return _check_nonnegative(real_uses, "real_uses") / real_uses_per_second(bandwidth_hz)


def capacity_airtime_s(bits: float, snr_db: float, bandwidth_hz: float) -> float:
    """Seconds to send ``bits`` source bits at the AWGN capacity (an ideal channel code).

    ``bits / (W log2(1 + SNR))``; the lower bound for any separate source-then-channel scheme.
    """
    return _check_nonnegative(bits, "bits") / awgn_capacity_bps(snr_db, bandwidth_hz)


def binary_entropy(p: float) -> float:
    """``H2(p) = -p log2 p - (1 - p) log2(1 - p)`` in bits, with ``H2(0) = 0``; ``p`` in [0, 0.5]."""
    p = _check_flip_rate(p)
    if p == 0.0:
        return 0.0
    return -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)


def bsc_capacity(p: float) -> float:
    """Capacity of the binary symmetric channel, bits per channel use: ``1 - H2(p)``.

    Examples
    --------
    >>> bsc_capacity(0.0), bsc_capacity(0.5)
    (1.0, 0.0)
    """
    return 1.0 - binary_entropy(p)


def bsc_channel_uses(bits: float, p: float) -> float:
    """Channel uses to send ``bits`` source bits over a BSC(p) with an ideal channel code.

    ``bits / (1 - H2(p))``; infinity at ``p = 0.5`` (for ``bits > 0``), where nothing gets through.
    """
    bits = _check_nonnegative(bits, "bits")
    capacity = bsc_capacity(p)
    if capacity == 0.0:
        return math.inf if bits > 0 else 0.0
    return bits / capacity


# ----------------------------------------------------------------------------- finite block length


def awgn_dispersion(snr_db: float) -> float:
    """Channel dispersion of the real AWGN channel, bits^2 per real use: ``SNR(SNR+2) / (2 (SNR+1)^2) log2(e)^2``."""
    snr = db_to_linear(snr_db)
    return snr * (snr + 2) / (2 * (snr + 1) ** 2) * math.log2(math.e) ** 2


def bsc_dispersion(p: float) -> float:
    """Channel dispersion of the BSC, bits^2 per use: ``p (1 - p) log2((1 - p) / p)^2`` (0 at ``p = 0``)."""
    p = _check_flip_rate(p)
    return 0.0 if p in (0.0, 0.5) else p * (1 - p) * math.log2((1 - p) / p) ** 2


def normal_approximation_uses(bits: float, capacity: float, dispersion: float,
                              error_prob: float = 1e-3) -> int | float:
    """Fewest channel uses ``n`` that carry ``bits`` with block error ``error_prob``, by the normal approximation.

    Polyanskiy, Poor and Verdu (2010): the best code of length ``n`` carries about
    ``n C - sqrt(n V) Q^-1(eps) + 0.5 log2(n)`` bits (capacity ``C`` and dispersion ``V`` per use). Shannon's
    capacity is the ``n -> infinity`` limit; a payload of a few bits needs noticeably more uses than
    ``bits / C``. An approximation, accurate to a few uses for ``n`` beyond ~100, rougher below.

    Parameters
    ----------
    bits : float
        Payload, > 0.
    capacity, dispersion : float
        Per channel use (from :func:`awgn_capacity_per_real_use` and :func:`awgn_dispersion`, or the BSC's).
    error_prob : float
        Target block error probability, in (0, 0.5).

    Returns
    -------
    int or float
        The number of uses; 0 for no bits, ``math.inf`` for bits over a channel of zero capacity.
    """
    from statistics import NormalDist

    bits = _check_nonnegative(bits, "bits")
    if not 0.0 < error_prob < 0.5:
        raise ValueError(f"error_prob must be in (0, 0.5), got {error_prob!r}")
    if bits == 0:        # nothing to send (the search below starts at one use)
        return 0
    if capacity <= 0:
        return math.inf
    if dispersion == 0.0:  # noiseless: exactly bits / C uses
        return math.ceil(bits / capacity - 1e-9)
    q = NormalDist().inv_cdf(1 - error_prob)

    def carried(n):
        return n * capacity - math.sqrt(n * dispersion) * q + 0.5 * math.log2(n)

    n = max(1, math.ceil(bits / capacity))
    while carried(n) < bits:
        n = n * 2 if carried(2 * n) < bits else n + 1
    # carried() grows with n beyond its minimum; step back to the smallest n that suffices
    while n > 1 and carried(n - 1) >= bits and n - 1 >= bits / capacity:
        n -= 1
    return n


# ----------------------------------------------------------------------------- layers


def normalize_power(z: torch.Tensor) -> torch.Tensor:
    """Scale each example to unit average power per real symbol.

    Parameters
    ----------
    z : Tensor, shape ``[batch, ...]``
        Real encoder output; every element after the batch axis is one real channel use.

    Returns
    -------
    Tensor, same shape
        ``z * sqrt(k / sum(z**2))`` per example, so that ``mean(x**2) == 1`` over each example's
        ``k`` elements, however small its power (unless its squares underflow to 0 in float32 or wider: below
        about 1e-23 in float32). An all-zero example stays zero.

    Examples
    --------
    >>> import torch
    >>> from coinfer.core.channel import normalize_power
    >>> x = normalize_power(torch.tensor([[3.0, 4.0], [1e-6, 0.0], [0.0, 0.0]]))
    >>> [round(power, 6) for power in x.pow(2).mean(dim=1).tolist()]
    [1.0, 1.0, 0.0]
    """
    if z.dim() < 2:
        raise ValueError(f"expected a batch of encoder outputs [batch, ...], got shape {tuple(z.shape)}")
    flat = z.flatten(1)
    # The power in float32 at least: squares of float16 overflow above 256 and underflow below 1e-4,
    # which would zero the example or leave it tiny (a bfloat16 mean is also off by about 0.6 %).
    power = flat.to(torch.promote_types(flat.dtype, torch.float32)).pow(2).mean(dim=1, keepdim=True)
    # Only an all-zero example divides by 1 instead (a small epsilon added to every power would scale
    # a weak example short of unit power; torch.where on the divisor keeps the gradient finite).
    root = torch.where(power > 0, power, torch.ones_like(power)).sqrt()   # divided in that dtype too:
    return (flat.to(root.dtype) / root).to(flat.dtype).reshape(z.shape)     # a float16 root can round to 0


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    if low == high:
        return low
    u = torch.rand((), generator=generator).item()
    return low + (high - low) * u


class AWGNChannel(nn.Module):
    """Additive white Gaussian noise channel over real channel uses, with power normalization.

    ``y = normalize_power(z) + n``, ``n ~ N(0, 1/SNR)`` independently per real element (see the
    module docstring for the real/complex convention and how channel uses map to time).

    Parameters
    ----------
    snr_db : float or (float, float)
        SNR per real dimension in dB. A ``(low, high)`` pair draws one SNR uniformly in dB per
        forward call (per batch), for training an encoder that is robust over the range.
    normalize : bool
        Apply :func:`normalize_power` first (default). Turn off only if the input already meets the
        power constraint.
    generator : torch.Generator, optional
        Source of the noise (and of the SNR draws); default torch's global generator.

    Notes
    -----
    Noise is added in training *and* evaluation: the channel is part of the physical system, not a
    regularizer. Change ``snr_db`` between evaluations to test at an SNR other than the training one.
    ``last_snr_db`` holds the SNR used by the latest forward call.
    """

    def __init__(self, snr_db: float | tuple[float, float], normalize: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.snr_db = snr_db
        self.normalize = normalize
        self.generator = generator
        self.last_snr_db: float | None = None

    @property
    def snr_db(self):
        return self._snr_db

    @snr_db.setter
    def snr_db(self, value):
        self._snr_db = _check_range(value, _check_snr_db, "snr_db")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = normalize_power(z) if self.normalize else z
        snr_db = self._snr_db if not isinstance(self._snr_db, tuple) else _uniform(*self._snr_db, self.generator)
        self.last_snr_db = snr_db
        sigma = math.sqrt(10.0 ** (-snr_db / 10.0))
        noise = copy_to_device(torch.randn(x.shape, generator=self.generator, dtype=x.dtype), x.device)
        return x + sigma * noise

    def extra_repr(self) -> str:
        return f"snr_db={self._snr_db}, normalize={self.normalize}"


class _SigmoidStraightThrough(torch.autograd.Function):
    """Forward: the given hard bits; backward: the derivative of ``sigmoid(logit)``.

    (A custom function rather than ``hard + s - s.detach()``, whose value is 1 only up to rounding.)
    """

    @staticmethod
    def forward(ctx, logits, hard):
        ctx.save_for_backward(logits)
        return hard

    @staticmethod
    def backward(ctx, grad_output):
        (logits,) = ctx.saved_tensors
        s = torch.sigmoid(logits)
        return grad_output * s * (1 - s), None


def binarize(logits: torch.Tensor, stochastic: bool = False,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Bits in {0, 1} from real logits, differentiable by the straight-through estimator.

    Parameters
    ----------
    logits : Tensor
        Encoder output; ``sigmoid(logit)`` is read as the probability of a 1.
    stochastic : bool
        ``False`` (default): the bit is ``1[logit > 0]`` (deterministic, what a deployed encoder
        sends). ``True``: the bit is drawn ``Bernoulli(sigmoid(logit))`` (as in NECST), a noisier
        estimator sometimes used during training.
    generator : torch.Generator, optional
        For the stochastic draws.

    Returns
    -------
    Tensor, same shape, values exactly 0.0 or 1.0
        Gradient w.r.t. ``logits``: that of ``sigmoid(logits)`` (both modes).
    """
    with torch.no_grad():
        if stochastic:
            u = copy_to_device(torch.rand(logits.shape, generator=generator, dtype=logits.dtype), logits.device)
            hard = (u < torch.sigmoid(logits)).to(logits.dtype)
        else:
            hard = (logits > 0).to(logits.dtype)
    return _SigmoidStraightThrough.apply(logits, hard)


class BSCChannel(nn.Module):
    """Binary symmetric channel: each bit flips independently with probability ``p``.

    Parameters
    ----------
    p : float or (float, float)
        Flip probability in [0, 0.5]; a ``(low, high)`` pair draws one ``p`` uniformly per forward
        call (per batch), for robust training.
    generator : torch.Generator, optional
        Source of the flips; default torch's global generator.

    Notes
    -----
    Input must be bits (exactly 0.0 or 1.0, e.g. from :func:`binarize`); anything else raises,
    because flipping a non-bit has no meaning. Output ``y = b + e (1 - 2b)`` = ``b XOR e``, with
    ``e ~ Bernoulli(p)``; it is differentiable in ``b`` (``dy/db = 1 - 2e``). Flips happen in training
    and evaluation alike.
    """

    def __init__(self, p: float | tuple[float, float], generator: torch.Generator | None = None):
        super().__init__()
        self.p = p
        self.generator = generator
        self.last_p: float | None = None

    @property
    def p(self):
        return self._p

    @p.setter
    def p(self, value):
        self._p = _check_range(value, _check_flip_rate, "p")

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if not ((bits == 0) | (bits == 1)).all():
                bad = bits[(bits != 0) & (bits != 1)].flatten()[:3].tolist()
                raise ValueError(f"BSCChannel expects bits (0.0 or 1.0), got values such as {bad}; "
                                 "binarize the encoder output first (coinfer.core.channel.binarize)")
        return self.flip(bits)

    def flip(self, bits: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without its check, for bits that are 0.0 or 1.0 by construction
        (:func:`binarize`'s): the check reads the bits back, which on a GPU makes the CPU wait for it."""
        p = self._p if not isinstance(self._p, tuple) else _uniform(*self._p, self.generator)
        self.last_p = p
        flips = copy_to_device((torch.rand(bits.shape, generator=self.generator) < p).to(bits.dtype), bits.device)
        return bits + flips * (1 - 2 * bits)

    def extra_repr(self) -> str:
        return f"p={self._p}"


def parse_channel(spec: str) -> tuple[str, float]:
    """``"awgn:<snr_db>"`` or ``"bsc:<p>"`` (the records' ``channel`` field) as ``(kind, value)``."""
    kind, _, value = spec.partition(":")
    if kind == "awgn":
        return kind, _check_snr_db(value, "SNR in " + repr(spec))
    if kind == "bsc":
        return kind, _check_flip_rate(value, "p in " + repr(spec))
    raise ValueError(f"channel {spec!r} is not 'awgn:<snr_db>' or 'bsc:<p>'")


def channel_name(kind: str, value: float) -> str:
    """The records' ``channel`` field for a channel: ``"awgn:10"``, ``"bsc:0.05"``."""
    if kind == "awgn":
        return f"awgn:{_check_snr_db(value):g}"
    if kind == "bsc":
        return f"bsc:{_check_flip_rate(value):g}"
    raise ValueError(f"channel kind must be 'awgn' or 'bsc', got {kind!r}")
