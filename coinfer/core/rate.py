"""Rate-accuracy training: a learned categorical prior and a differentiable rate, in bits per image.

Shao & Zhang (2020) train the feature encoder for accuracy alone and leave entropy-constrained
(rate-distortion) training to future work; the range coder's model is then fitted afterwards
(:meth:`coinfer.core.entropy.CategoricalEntropyModel.fit`), so the code's rate is whatever falls
out. Here the encoder learns what the range coder pays for::

    z --quantizer--> symbols s (hard), soft assignment q(j | z) = softmax(-|z - c_j|^2 / T)
      prior p = softmax(logits)            (learned; per symbol position, or one shared row)
      rate   R = sum over positions of -log2 p(s)          forward value: the ideal code length
      dR/d(encoder, codewords) = that of sum_j q(j | z) (-log2 p_j)        (soft, as the quantizer)
      dR/d(logits)             = that of -log2 p(s)                        (maximum likelihood)
    loss = cross-entropy + aux + rate_weight x mean R  (+ mean R for the prior, logits only)

Units: ``R`` in **bits per image**, ``rate_weight`` in loss units (nats of cross-entropy) per bit.
The forward value is the hard symbols' information content under the learned prior, the number
that the range coder reaches up to its termination (about 2 bits per packet, a few bits in all
for one stream of many images); the gradient is the soft assignment's, exactly as the quantizer's
own ("hard forward, soft backward", :mod:`coinfer.core.encoding`). The prior is trained on the hard
symbols, so it converges to their frequencies; the encoder side sees the prior as fixed, so the
rate weight alone decides how hard it pushes.

The trained prior is the one that codes the packets: :class:`LearnedEntropyModel` is a
:class:`~coinfer.core.entropy.CategoricalEntropyModel` whose probabilities are ``softmax(logits)``,
so the range coder (constriction), the fixed-index fallback and :func:`coinfer.core.entropy.sent_bits`
work on it unchanged. :meth:`LearnedEntropyModel.fit` only *initialises* the logits from symbol
counts (at the start of the quantized epochs); it is never refitted after training.

>>> import torch
>>> model = LearnedEntropyModel(positions=2, alphabet=4)
>>> symbols = torch.tensor([[0, 1], [0, 3]])
>>> rate_bits(model, symbols)["rate"]                  # uniform prior: 2 bits per symbol
tensor([4., 4.], dtype=torch.float64)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from coinfer.core.entropy import CategoricalEntropyModel


def check_rate_weight(weight) -> float:
    """``weight`` as a float if it is a usable rate weight (finite, >= 0); else ValueError.

    Parameters
    ----------
    weight : float
        Loss units (nats of cross-entropy) per bit of rate per image.

    Returns
    -------
    float

    Examples
    --------
    >>> check_rate_weight(0.01)
    0.01
    >>> check_rate_weight(-1)
    Traceback (most recent call last):
    ...
    ValueError: rate weight must be a finite number >= 0 (loss per bit per image), got -1
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
            math.isfinite(weight) and weight >= 0):
        raise ValueError(f"rate weight must be a finite number >= 0 (loss per bit per image), got {weight!r}")
    return float(weight)


class LearnedEntropyModel(CategoricalEntropyModel):
    """A categorical prior with learnable logits: per symbol position, or one row shared by all.

    Codes exactly as :class:`~coinfer.core.entropy.CategoricalEntropyModel` (same packets, same
    fixed-index fallback), with ``probabilities = softmax(logits)`` instead of a fitted table, so
    it is trained by gradient descent along with the encoder (:func:`rate_bits`) and saved in the
    codec's ``state_dict`` (the logits).

    The range coder needs the *same* table at both ends, bit for bit, but a softmax is not the same
    on every machine (PyTorch's CPU kernels round differently with AVX2, without it, and on ARM), so
    a device and a server that each computed it from the logits could decode wrong symbols with no
    error. The table the coder uses is therefore computed once, in float64, and kept with the
    logits it came from (buffers ``coding_table``, ``coding_logits``, saved in the ``state_dict``):
    the receiver of a saved codec codes with the sender's table, and the table is computed again
    only where the logits have changed since (in training), never for a loaded codec.

    Parameters
    ----------
    positions : int
        Symbols per image (``d`` for per-element codewords, 1 for a vector codebook).
    alphabet : int
        Symbols per position.
    shared : bool
        One row of logits for every position (an i.i.d. model) instead of one row per position.

    Examples
    --------
    >>> model = LearnedEntropyModel(3, 4, shared=True)
    >>> tuple(model.logits.shape), tuple(model.probabilities.shape)
    ((1, 4), (3, 4))
    """

    def __init__(self, positions: int, alphabet: int, shared: bool = False):
        nn.Module.__init__(self)       # no fitted table: the probabilities come from the logits
        if positions < 1 or alphabet < 2:
            raise ValueError(f"need positions >= 1 and alphabet >= 2, got {positions}, {alphabet}")
        self.positions, self.alphabet, self.shared = int(positions), int(alphabet), bool(shared)
        self.logits = nn.Parameter(torch.zeros(1 if shared else positions, alphabet))
        # the coder's table and the logits it was computed from (NaN: none yet)
        self.register_buffer("coding_table", torch.full((self.positions, self.alphabet), math.nan,
                                                        dtype=torch.float64))
        self.register_buffer("coding_logits", torch.full_like(self.logits, math.nan))

    @property
    def probabilities(self) -> torch.Tensor:
        """``softmax(logits)``, shape (positions, alphabet); differentiable."""
        return torch.softmax(self.logits, dim=1).expand(self.positions, -1)

    def log2_probabilities(self) -> torch.Tensor:
        """``log2 softmax(logits)``, shape (positions, alphabet) (exact in the tails, unlike log2 of p)."""
        return (torch.log_softmax(self.logits, dim=1) / math.log(2)).expand(self.positions, -1)

    def information_bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """Ideal code length ``-sum log2 p`` per image (bits), from float64 log-probabilities: log2 of the
        float32 probabilities reads infinite for a symbol below about 1e-45 that the coder still codes."""
        log2p = (torch.log_softmax(self.logits.double(), dim=1) / math.log(2)).expand(self.positions, -1)
        return _code_lengths(log2p, self._check(symbols))

    @torch.no_grad()
    def range_table(self) -> "np.ndarray":
        """The range coder's table (float64 numpy), the saved one while the logits are those it was made from."""
        if not torch.equal(self.coding_logits, self.logits.detach()):
            self.coding_table.copy_(torch.softmax(self.logits.detach().double(), dim=1).expand(self.positions, -1))
            self.coding_logits.copy_(self.logits.detach())
        return self.coding_table.cpu().numpy()

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self.range_table()                  # a saved codec carries the table its packets were coded with
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        # a codec saved before the table was kept: it is computed here from the logits, as it was then
        missing_keys[:] = [k for k in missing_keys if k not in (prefix + "coding_table", prefix + "coding_logits")]

    @torch.no_grad()
    def fit(self, symbols: torch.Tensor, prior: float = 0.5) -> "LearnedEntropyModel":
        """Initialise the logits to the log of the smoothed symbol counts (pooled when ``shared``).

        Called once, where the quantized epochs start; training then moves the logits.
        """
        if not (math.isfinite(prior) and prior > 0):
            raise ValueError(f"prior must be positive pseudo-counts (they keep every symbol codable), got {prior}")
        symbols = self._check(symbols).cpu()
        counts = torch.zeros(self.positions, self.alphabet, dtype=torch.float64)
        counts.scatter_add_(1, symbols.t(), torch.ones(symbols.t().shape, dtype=torch.float64))
        if self.shared:
            counts = counts.sum(0, keepdim=True)
        self.logits.copy_(torch.log(counts + prior).to(self.logits))
        return self


def _code_lengths(log2p: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
    """``-sum log2 p`` of each row of ``symbols`` (images x positions) under ``log2p`` (positions x alphabet)."""
    return -log2p.to(symbols.device).expand(len(symbols), -1, -1).gather(2, symbols.unsqueeze(2)).squeeze(2).sum(1)


def rate_bits(model: LearnedEntropyModel, symbols: torch.Tensor, soft: torch.Tensor | None = None) -> dict:
    """The differentiable rate of a batch, bits per image.

    Parameters
    ----------
    model : LearnedEntropyModel
        The prior.
    symbols : int tensor, shape (B, positions)
        The quantizer's hard symbols.
    soft : tensor, shape (B, positions, alphabet), optional
        The quantizer's soft assignment (rows sum to 1; ``out["soft"]`` of a quantizer in training).
        Without it the rate has no gradient towards the encoder.

    Returns
    -------
    dict
        ``rate`` (B,): forward value ``-sum log2 p(symbols)`` (the ideal code length under the
        prior), gradient towards the encoder and codewords that of ``sum q log2 1/p`` (prior held
        fixed); ``prior_bits`` (B,): the same value with its gradient towards the logits only (its
        mean is the prior's maximum-likelihood loss); ``soft_bits`` (B,): the soft expectation
        ``sum q log2 1/p`` itself (None without ``soft``).

    Examples
    --------
    >>> import torch
    >>> model = LearnedEntropyModel(1, 2)
    >>> soft = torch.tensor([[[0.9, 0.1]]], requires_grad=True)
    >>> out = rate_bits(model, torch.tensor([[0]]), soft)
    >>> float(out["rate"].detach()), float(out["soft_bits"].detach())
    (1.0, 1.0)
    """
    symbols = torch.as_tensor(symbols).long()
    log2p = model.log2_probabilities().to(symbols.device)
    prior_bits = _code_lengths(log2p, symbols)
    if soft is None:
        return {"rate": prior_bits.detach().double(), "prior_bits": prior_bits, "soft_bits": None}
    if soft.shape != (len(symbols), model.positions, model.alphabet):
        raise ValueError(f"soft assignment must have shape (B, {model.positions}, {model.alphabet}) for "
                         f"{len(symbols)} images, got {tuple(soft.shape)}")
    soft_bits = -(soft * log2p.detach()).sum((1, 2))
    rate = prior_bits.detach() + soft_bits - soft_bits.detach()
    return {"rate": rate, "prior_bits": prior_bits, "soft_bits": soft_bits}
