"""Task-oriented two-step feature encoding (Shao & Zhang 2020, section IV-B, Fig. 2 step 3).

Step 1, **dimension reduction**: a light encoder on the device shrinks the feature — a convolution
that reduces the channels, then a fully connected layer that reduces the dimension further — and
a decoder with the complementary structure on the server restores the shape the server part expects.
Step 2, **learning-driven source coding**: the reduced vector is quantized to *learned* codewords
(not fixed rounding) and the symbols are entropy-coded into real bytes (:mod:`coinfer.core.entropy`)::

    device                                                         |  server
    feature C x H x W                                              |
      -> Conv k x k (C -> c) + BN + ReLU          c x H x W         |
      -> flatten -> Linear (c*H*W -> d) + BN + tanh    z in (-1,1)^d |
      -> quantizer: nearest learned codeword  symbols (d ints)     |
      -> range coder (learned categorical model)  bytes  ----------+-> range decoder -> symbols
                                                                   |  -> codewords z_hat (d floats)
                                                                   |  -> Linear (d -> c*H*W) + BN + ReLU
                                                                   |  -> Conv k x k (c -> C) + BN + ReLU
                                                                   |  -> feature_hat C x H x W -> server part

A 1-D feature (after ``pool``) skips the convolutions. The BatchNorm before the tanh matters:
without it the tanh saturated after stage 2 in our calibration and every image got the same code.

Modules, each usable alone (CompressAI style):

* :class:`DimensionReductionEncoder` / :class:`DimensionReductionDecoder` — step 1. A channel layer
  (``coinfer.core.channel``, JSCC) or any other bottleneck plugs in between them.
* :class:`ScalarCodebookQuantizer` — the paper's Fig. 2: every element ``i`` of ``z`` has its own
  ``L`` learned codewords, so an image costs ``d x ceil(log2 L)`` bits at fixed length.
* :class:`VectorCodebookQuantizer` — the authors' code at s4/s5: one learned codebook of ``K``
  vectors, one index (``ceil(log2 K)`` bits) per image.
* :class:`UniformQuantizer` — fixed rounding to ``2^b`` levels over a fitted range (the 8-bit
  baseline, BottleNet++'s 8-bit values).
* :class:`FeatureCodec` — encoder + quantizer (or any bottleneck) + decoder + entropy model, with
  ``forward`` for training and ``compress`` / ``decompress`` for real bytes.

**Training the codewords (soft-to-hard with a hard forward pass).** The quantizer's forward value
is always the hard nearest codeword, in training too, so the server part is trained on exactly
what it will receive. Its gradient is that of a *soft* assignment, ``sum_j softmax(-|z - c_j|^2 /
T)_j c_j`` (Agustsson et al., "Soft-to-hard vector quantization", 2017), implemented as
``hard + (soft - soft.detach())``. Unlike plain straight-through rounding, this lets the task
loss move the codewords themselves as well as the encoder: they are learned for accuracy, not for
reconstruction. ``T`` is tied to the spacing of the codewords, so one setting fits every scale.
Two small VQ-VAE terms in ``aux_loss`` help soft and hard agree: a commitment term pulls ``z``
towards its codeword, a codebook term pulls the codeword towards the ``z`` it serves.

Example::

    >>> import torch
    >>> codec = build_codec((32, 8, 8), "c4-d16-l4")     # 16 elements x 2 bits = 32 bits fixed
    >>> feature = torch.randn(2, 32, 8, 8)
    >>> out = codec(feature)                            # dict: feature_hat, symbols, likelihoods, ...
    >>> codec.fit_entropy_model(feature)                # the range coder's model, from training features
    >>> packets = codec.eval().compress(feature)        # one bytes object per image
    >>> codec.decompress(packets).shape                 # == out["feature_hat"] in eval mode
    torch.Size([2, 32, 8, 8])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from coinfer.core.entropy import CategoricalEntropyModel, fixed_length_bits
from coinfer.core.rate import LearnedEntropyModel, check_rate_weight, rate_bits

# --------------------------------------------------------------------------------------------
# Code size: what one encoder configuration is called in records ("c4-d16-l4", "d16-k64")
# --------------------------------------------------------------------------------------------

_CODE_SIZE = re.compile(r"^(?:c(?P<c>\d+)-)?d(?P<d>\d+)-(?P<kind>[lk])(?P<n>\d+)(?:-r(?P<r>.*))?$")


def _format_weight(weight: float) -> str:
    """The shortest text that reads back as exactly ``weight`` (``0.01``, ``1e-05``, ``0``)."""
    text = f"{weight:g}"
    return text if float(text) == weight else repr(weight)


@dataclass(frozen=True)
class CodeSize:
    """One encoder setting.

    Parameters
    ----------
    dim : int
        ``d``, the length of the reduced vector ``z``.
    levels : int
        ``L`` codewords per element (``kind="scalar"``) or ``K`` codewords in the codebook
        (``kind="vector"``).
    kind : {"scalar", "vector"}
    channels : int or None
        ``c``, the channels after the first convolution; ``None`` for 1-D features (no convolution).
    rate_weight : float or None
        ``None``: trained for accuracy alone, the range coder's model fitted afterwards. A number
        >= 0: rate-accuracy training with a learned prior (:mod:`coinfer.core.rate`), this weight
        (loss per bit per image) on the rate; 0 trains the prior but puts no pressure on the rate.

    Written as ``c4-d16-l4`` (scalar: 4 channels, 16 elements, 4 levels each = 32 bits fixed
    length) or ``c4-d16-k64`` (vector: one of 64 codewords = 6 bits fixed length), with ``-r<weight>``
    for rate-accuracy training (``c4-d16-l4-r0.01``): the weight is part of the configuration's id.

    >>> size = CodeSize.parse("c8-d16-l4-r0.01")
    >>> size.rate_weight, str(size), size.fixed_bits
    (0.01, 'c8-d16-l4-r0.01', 32)
    """

    dim: int
    levels: int
    kind: str = "scalar"
    channels: int | None = None
    rate_weight: float | None = None

    def __post_init__(self):
        if self.kind not in ("scalar", "vector"):
            raise ValueError(f"kind must be 'scalar' or 'vector', got {self.kind!r}")
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2 (one codeword carries no information), got {self.levels}")
        if self.channels is not None and self.channels < 1:
            raise ValueError(f"channels must be >= 1 or None, got {self.channels}")
        if self.rate_weight is not None:
            object.__setattr__(self, "rate_weight", check_rate_weight(self.rate_weight))

    @classmethod
    def parse(cls, text: "str | CodeSize") -> "CodeSize":
        if isinstance(text, CodeSize):
            return text
        match = _CODE_SIZE.match(str(text))
        if not match:
            raise ValueError(f"bad code size {text!r}; expected e.g. 'c4-d16-l4' (scalar: c channels, "
                             "d elements, L levels each) or 'c4-d16-k64' (vector codebook of K codewords); "
                             "'c..-' is omitted for 1-D features; '-r<weight>' appended for rate-accuracy "
                             "training, e.g. 'c4-d16-l4-r0.01'")
        weight = None
        if match["r"] is not None:
            try:
                weight = check_rate_weight(float(match["r"]))
            except ValueError:
                raise ValueError(f"bad rate weight {match['r']!r} in code size {text!r}; expected a finite "
                                 "number >= 0 after '-r', e.g. 'c4-d16-l4-r0.01'") from None
        return cls(dim=int(match["d"]), levels=int(match["n"]),
                   kind="scalar" if match["kind"] == "l" else "vector",
                   channels=int(match["c"]) if match["c"] else None, rate_weight=weight)

    def __str__(self) -> str:
        prefix = f"c{self.channels}-" if self.channels is not None else ""
        rate = f"-r{_format_weight(self.rate_weight)}" if self.rate_weight is not None else ""
        return f"{prefix}d{self.dim}-{'l' if self.kind == 'scalar' else 'k'}{self.levels}{rate}"

    @property
    def positions(self) -> int:
        """Symbols per image."""
        return self.dim if self.kind == "scalar" else 1

    @property
    def fixed_bits(self) -> int:
        """Bits per image of a fixed-length code (``d ceil(log2 L)`` or ``ceil(log2 K)``)."""
        return fixed_length_bits(self.positions, self.levels)


# --------------------------------------------------------------------------------------------
# Step 1: dimension reduction
# --------------------------------------------------------------------------------------------

def _activation(name: str) -> nn.Module:
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"activation must be 'tanh', 'sigmoid' or 'none', got {name!r}")


class DimensionReductionEncoder(nn.Module):
    """Device-side encoder: conv (C -> c channels) + BN + ReLU, flatten, linear (-> d) + BN + bounded activation.

    Parameters
    ----------
    feature_shape : tuple
        Shape of one feature without the batch axis: ``(C, H, W)`` or ``(C,)``.
    dim : int or None
        ``d``; ``None`` keeps the convolution's ``c x H x W`` map (no linear layer), as BottleNet++ does.
    channels : int or None
        ``c``; required for 3-D features, must be ``None`` for 1-D ones.
    kernel_size : int
        Of the channel-reducing convolution (3 as in the authors' code).
    activation : {"tanh", "sigmoid", "none"}
        Bounded output for the quantizer; BN comes right before it.

    Output: ``(B, d)`` (or ``(B, c, H, W)`` when ``dim is None``).
    """

    def __init__(self, feature_shape: tuple[int, ...], dim: int | None, channels: int | None = None,
                 kernel_size: int = 3, activation: str = "tanh"):
        super().__init__()
        self.feature_shape = tuple(feature_shape)
        layers: list[nn.Module] = []
        if len(self.feature_shape) == 3:
            if channels is None:
                raise ValueError(f"a {len(self.feature_shape)}-D feature {self.feature_shape} needs `channels` "
                                 "for the channel-reducing convolution")
            C, H, W = self.feature_shape
            layers += [nn.Conv2d(C, channels, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm2d(channels)]
            flat = channels * H * W
            if dim is None:
                layers.append(_activation(activation))
            else:
                layers += [nn.ReLU(inplace=True), nn.Flatten()]
        elif len(self.feature_shape) == 1:
            if channels is not None:
                raise ValueError(f"a 1-D feature {self.feature_shape} has no channels to reduce; "
                                 f"pass channels=None, got {channels}")
            if dim is None:
                raise ValueError("a 1-D feature needs `dim` (the linear layer is the whole encoder)")
            flat = self.feature_shape[0]
        else:
            raise ValueError(f"feature_shape must be (C, H, W) or (C,), got {self.feature_shape}")
        if dim is not None:
            layers += [nn.Linear(flat, dim, bias=False), nn.BatchNorm1d(dim), _activation(activation)]
        self.dim, self.channels = dim, channels
        self.net = nn.Sequential(*layers)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if tuple(feature.shape[1:]) != self.feature_shape:
            raise ValueError(f"encoder expects features of shape (B, {', '.join(map(str, self.feature_shape))}), "
                             f"got {tuple(feature.shape)}")
        return self.net(feature)


class DimensionReductionDecoder(nn.Module):
    """Server-side decoder, the encoder's mirror: linear (d -> c*H*W) + BN + ReLU, conv (c -> C) + BN + ReLU.

    The final ReLU matches what the server part expects: every split point's feature is the
    output of a ReLU (or an average of ReLU outputs), so it is non-negative.
    """

    def __init__(self, feature_shape: tuple[int, ...], dim: int | None, channels: int | None = None,
                 kernel_size: int = 3):
        super().__init__()
        self.feature_shape = tuple(feature_shape)
        layers: list[nn.Module] = []
        if len(self.feature_shape) == 3:
            if channels is None:
                raise ValueError(f"a 3-D feature {self.feature_shape} needs `channels`")
            C, H, W = self.feature_shape
            if dim is not None:
                layers += [nn.Linear(dim, channels * H * W, bias=False), nn.BatchNorm1d(channels * H * W),
                           nn.ReLU(inplace=True), nn.Unflatten(1, (channels, H, W))]
            layers += [nn.Conv2d(channels, C, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm2d(C), nn.ReLU(inplace=True)]
        elif len(self.feature_shape) == 1:
            if dim is None:
                raise ValueError("a 1-D feature needs `dim`")
            layers += [nn.Linear(dim, self.feature_shape[0]), nn.ReLU(inplace=True)]
        else:
            raise ValueError(f"feature_shape must be (C, H, W) or (C,), got {self.feature_shape}")
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


# --------------------------------------------------------------------------------------------
# Step 2: learned quantizers
# --------------------------------------------------------------------------------------------

def _kmeans_1d(values: torch.Tensor, k: int, iters: int = 25) -> torch.Tensor:
    """k-means on each row of ``values`` (rows x samples) -> centres (rows x k), initialized at quantiles."""
    q = (torch.arange(k, dtype=values.dtype) + 0.5) / k
    centres = torch.quantile(values, q.to(values.device), dim=1).t().contiguous()   # rows x k
    for _ in range(iters):
        assign = (values.unsqueeze(2) - centres.unsqueeze(1)).abs().argmin(2)    # rows x samples
        sums = torch.zeros_like(centres).scatter_add_(1, assign, values)
        counts = torch.zeros_like(centres).scatter_add_(1, assign, torch.ones_like(values))
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return centres.sort(1).values


class _CodebookQuantizer(nn.Module):
    """Shared behaviour: on/off switch (for unquantized warm-up), commitment loss, MAC count."""

    def __init__(self, temperature: float, commitment: float):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature, self.commitment = float(temperature), float(commitment)
        self.enabled = True   # False: pass z through unquantized (warm-up epochs)

    @property
    def alphabet(self) -> int:
        return self.levels

    def _check(self, z: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"quantizer expects z of shape (B, {self.dim}), got {tuple(z.shape)}")

    def _output(self, z, hard, soft, symbols, positions, weights=None):
        if not self.enabled:
            return {"z_hat": z, "symbols": None, "aux_loss": z.new_zeros(())}
        # Forward value exactly the hard codeword; gradient that of the soft assignment.
        z_hat = hard + (soft - soft.detach()) if self.training else hard
        aux = self.commitment * F.mse_loss(z, hard.detach()) + F.mse_loss(hard, z.detach())
        out = {"z_hat": z_hat, "symbols": symbols.view(len(z), positions), "aux_loss": aux}
        if weights is not None:   # the soft assignment (B, positions, alphabet): what a rate term differentiates
            out["soft"] = weights.view(len(z), positions, self.levels)
        return out


class ScalarCodebookQuantizer(_CodebookQuantizer):
    """Per-element learned codewords (the paper's Fig. 2): element ``i`` -> nearest of ``codewords[i]``.

    Forward returns ``{"z_hat", "symbols" (B, d) int64, "aux_loss"}``.

    Parameters
    ----------
    dim : int
        Elements of ``z`` (``d``).
    levels : int
        Codewords per element (``L``); an image costs ``d ceil(log2 L)`` bits at fixed length.
    temperature : float
        Softness of the backward pass, relative to the squared gap between neighbouring codewords.
    commitment : float
        Weight of the commitment term ``|z - sg(hard)|^2`` in ``aux_loss`` (which also holds the
        codebook term ``|sg(z) - hard|^2`` with weight 1).

    """

    def __init__(self, dim: int, levels: int, temperature: float = 0.2, commitment: float = 0.25):
        super().__init__(temperature, commitment)
        self.dim, self.levels = int(dim), int(levels)
        self.codewords = nn.Parameter(torch.linspace(-0.9, 0.9, levels).repeat(dim, 1))   # d x L

    @property
    def positions(self) -> int:
        return self.dim

    def forward(self, z: torch.Tensor) -> dict:
        self._check(z)
        dist2 = (z.unsqueeze(2) - self.codewords.unsqueeze(0)) ** 2                   # B x d x L
        symbols = dist2.argmin(2)
        hard = self.codewords.expand(len(z), -1, -1).gather(2, symbols.unsqueeze(2)).squeeze(2)
        soft, weights = hard, None
        if self.training and self.enabled:
            weights = self.assignment(z, dist2)
            soft = (weights * self.codewords.unsqueeze(0)).sum(2)
        return self._output(z, hard, soft, symbols, self.dim, weights)

    def assignment(self, z: torch.Tensor, dist2: torch.Tensor | None = None) -> torch.Tensor:
        """The soft assignment ``softmax(-|z_i - c_ij|^2 / (T gap_i^2))`` over each element's codewords, (B, d, L)."""
        if dist2 is None:
            dist2 = (z.unsqueeze(2) - self.codewords.unsqueeze(0)) ** 2
        gap2 = self.codewords.detach().sort(1).values.diff(dim=1).pow(2).mean(1).clamp(min=1e-8)
        return torch.softmax(-dist2 / (self.temperature * gap2.view(1, -1, 1)), dim=2)

    def dequantize(self, symbols: torch.Tensor) -> torch.Tensor:
        """Codewords of ``symbols`` (B, d) -> ``z_hat`` (B, d)."""
        return self.codewords.detach().expand(len(symbols), -1, -1).gather(
            2, symbols.long().to(self.codewords.device).unsqueeze(2)).squeeze(2)

    @torch.no_grad()
    def init_kmeans(self, z: torch.Tensor) -> None:
        """Set each element's codewords to the k-means centres of that element's values in ``z``."""
        self.codewords.copy_(_kmeans_1d(z.detach().t().float().cpu(), self.levels).to(self.codewords))

    def macs(self) -> int:
        """Nearest-codeword search: one squared difference per element and codeword."""
        return self.dim * self.levels


class VectorCodebookQuantizer(_CodebookQuantizer):
    """One learned codebook of ``K`` vectors: ``z`` -> index of the nearest (the authors' code at s4/s5).

    An image costs ``ceil(log2 K)`` bits at fixed length, however large ``d`` is. Forward returns
    ``{"z_hat", "symbols" (B, 1) int64, "aux_loss"}``; ``aux_loss`` includes VQ-VAE's codebook term.
    """

    def __init__(self, dim: int, codewords: int, temperature: float = 0.2, commitment: float = 0.25):
        super().__init__(temperature, commitment)
        self.dim, self.levels = int(dim), int(codewords)
        generator = torch.Generator().manual_seed(0)
        self.codebook = nn.Parameter(torch.rand(codewords, dim, generator=generator) * 1.8 - 0.9)  # K x d

    @property
    def positions(self) -> int:
        return 1

    def forward(self, z: torch.Tensor) -> dict:
        self._check(z)
        dist2 = torch.cdist(z, self.codebook).pow(2)                                       # B x K
        symbols = dist2.argmin(1)
        hard = self.codebook[symbols]
        soft, weights = hard, None
        if self.training and self.enabled:
            weights = self.assignment(z, dist2)
            soft = weights @ self.codebook
        return self._output(z, hard, soft, symbols, 1, weights)

    def assignment(self, z: torch.Tensor, dist2: torch.Tensor | None = None) -> torch.Tensor:
        """The soft assignment ``softmax(-|z - c_k|^2 / (T mean nearest-neighbour gap^2))``, (B, K)."""
        if dist2 is None:
            dist2 = torch.cdist(z, self.codebook).pow(2)
        cb = self.codebook.detach()
        nearest2 = torch.cdist(cb, cb).pow(2).fill_diagonal_(float("inf")).min(1).values
        return torch.softmax(-dist2 / (self.temperature * nearest2.mean().clamp(min=1e-8)), dim=1)

    def dequantize(self, symbols: torch.Tensor) -> torch.Tensor:
        return self.codebook.detach()[symbols.long().to(self.codebook.device).view(-1)]

    @torch.no_grad()
    def init_kmeans(self, z: torch.Tensor, iters: int = 25, seed: int = 0) -> None:
        """k-means (Lloyd, k-means++ seeding with a fixed seed) of ``z`` into the codebook."""
        z = z.detach().float().cpu()
        generator = torch.Generator().manual_seed(seed)
        centres = [z[torch.randint(len(z), (1,), generator=generator)].squeeze(0)]
        for _ in range(1, self.levels):
            d2 = torch.cdist(z, torch.stack(centres)).pow(2).min(1).values
            centres.append(z[torch.multinomial(d2 + 1e-12, 1, generator=generator)].squeeze(0))
        centres = torch.stack(centres)
        for _ in range(iters):
            assign = torch.cdist(z, centres).argmin(1)
            for k in range(self.levels):
                members = z[assign == k]
                if len(members):
                    centres[k] = members.mean(0)
        self.codebook.copy_(centres.to(self.codebook))

    def macs(self) -> int:
        return self.dim * self.levels


class UniformQuantizer(nn.Module):
    """Fixed rounding of values in ``[low, high]`` to ``2^bits`` evenly spaced levels (not learned).

    ``low``/``high`` are buffers set by :meth:`fit_range` (e.g. from training features); values
    outside are clipped to the end levels — the quantizer's defined behaviour, documented, since
    test features can exceed the training range. Straight-through gradient in training.
    Forward returns ``{"z_hat", "symbols" (B, n) int64, "aux_loss"}`` with ``n`` = elements per sample.
    """

    def __init__(self, bits: int = 8, low: float = 0.0, high: float = 1.0):
        super().__init__()
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in [1, 16], got {bits}")
        self.bits, self.levels = int(bits), 2 ** int(bits)
        self.register_buffer("low", torch.tensor(float(low)))
        self.register_buffer("high", torch.tensor(float(high)))

    @property
    def alphabet(self) -> int:
        return self.levels

    @torch.no_grad()
    def fit_range(self, x: torch.Tensor) -> "UniformQuantizer":
        low, high = float(x.min()), float(x.max())
        if not (math.isfinite(low) and math.isfinite(high) and high - low <= torch.finfo(torch.float32).max):
            raise ValueError(f"the quantizer's range [{low}, {high}] is not finite in float32: "
                             "the training features hold inf or NaN, or span more than float32 can")
        self.low.fill_(low)
        self.high.fill_(high if high > low else low + 1.0)
        return self

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        step = (self.high - self.low) / (self.levels - 1)
        return torch.round((x - self.low) / step).clamp(0, self.levels - 1).long()

    def dequantize(self, symbols: torch.Tensor) -> torch.Tensor:
        step = (self.high - self.low) / (self.levels - 1)
        return self.low + symbols.float() * step

    def forward(self, x: torch.Tensor) -> dict:
        symbols = self.quantize(x)
        hard = self.dequantize(symbols)
        z_hat = x + (hard - x).detach() if self.training else hard
        return {"z_hat": z_hat, "symbols": symbols.flatten(1), "aux_loss": x.new_zeros(())}


# --------------------------------------------------------------------------------------------
# The codec: encoder + bottleneck + decoder (+ entropy model)
# --------------------------------------------------------------------------------------------

class FeatureCodec(nn.Module):
    """Encoder, bottleneck (quantizer, channel, ...), decoder and entropy model, as one module.

    Parameters
    ----------
    encoder, decoder : nn.Module
        Device-side and server-side networks (e.g. the dimension-reduction pair).
    bottleneck : nn.Module
        What happens between them. A quantizer returns a dict with ``z_hat``, ``symbols`` and
        ``aux_loss``; any module returning a tensor (a noisy channel, identity) works too.
    entropy_model : CategoricalEntropyModel, optional
        Needed by :meth:`compress`/:meth:`decompress`; fit it with :meth:`fit_entropy_model`.
    rate_weight : float, optional
        The weight of the rate term its training uses (a code size's ``-r<weight>``,
        :mod:`coinfer.core.rate`); None for a codec trained for accuracy alone.

    ``forward(feature)`` returns a dict:

    ``feature_hat``  what the server part receives (same shape as ``feature``)
    ``z``            the encoder output (B, d)
    ``z_hat``        after the bottleneck
    ``symbols``      (B, positions) int64 or None
    ``likelihoods``  (B, positions) model probabilities of the symbols, or None
    ``rate``         with a learned prior: :func:`coinfer.core.rate.rate_bits`'s dict (bits per
                     image, differentiable); None otherwise
    ``aux_loss``     scalar to add to the task loss (commitment/codebook terms)
    """

    def __init__(self, encoder: nn.Module, bottleneck: nn.Module, decoder: nn.Module,
                 entropy_model: CategoricalEntropyModel | None = None, rate_weight: float | None = None):
        super().__init__()
        self.encoder, self.bottleneck, self.decoder = encoder, bottleneck, decoder
        self.entropy_model = entropy_model
        self.rate_weight = None if rate_weight is None else check_rate_weight(rate_weight)

    @property
    def quantizer(self) -> nn.Module:
        return self.bottleneck

    def forward(self, feature: torch.Tensor) -> dict:
        z = self.encoder(feature)
        out = self.bottleneck(z)
        if isinstance(out, torch.Tensor):
            out = {"z_hat": out, "symbols": None, "aux_loss": z.new_zeros(())}
        symbols = out.get("symbols")
        likelihoods = rate = None
        if symbols is not None and self.entropy_model is not None:
            # The quantizer's symbols, in range: checking them would read them back, on a GPU a wait in every step.
            likelihoods = self.entropy_model.likelihoods(symbols, check=False)
            if isinstance(self.entropy_model, LearnedEntropyModel):
                rate = rate_bits(self.entropy_model, symbols, out.get("soft"))
        return {"feature_hat": self.decoder(out["z_hat"]), "z": z, "z_hat": out["z_hat"],
                "symbols": symbols, "likelihoods": likelihoods, "rate": rate,
                "aux_loss": out.get("aux_loss", z.new_zeros(()))}

    def _require_coder(self):
        if self.entropy_model is None:
            raise RuntimeError("this codec has no entropy model; build it with one and call fit_entropy_model()")
        if not hasattr(self.bottleneck, "dequantize"):
            raise RuntimeError(f"compress() needs a quantizer with dequantize(); the bottleneck is "
                               f"{type(self.bottleneck).__name__}")

    @torch.no_grad()
    def symbols(self, feature: torch.Tensor) -> torch.Tensor:
        """The quantized symbols of ``feature`` (B, positions), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            out = self.bottleneck(self.encoder(feature))
        finally:
            self.train(was_training)
        if out.get("symbols") is None:
            raise RuntimeError("the bottleneck produced no symbols (is the quantizer disabled?)")
        return out["symbols"]

    @torch.no_grad()
    def fit_entropy_model(self, features: torch.Tensor, batch_size: int = 1000) -> None:
        """Estimate the entropy model from the symbols of training ``features``."""
        self._require_coder()
        symbols = torch.cat([self.symbols(features[i:i + batch_size])
                             for i in range(0, len(features), batch_size)])
        self.entropy_model.fit(symbols)

    @torch.no_grad()
    def compress(self, feature: torch.Tensor) -> list[bytes]:
        """Device side: a batch of features -> one self-contained packet (bytes) per image."""
        self._require_coder()
        return self.entropy_model.encode(self.symbols(feature))

    @torch.no_grad()
    def decompress(self, packets: list[bytes]) -> torch.Tensor:
        """Server side: packets -> the features the server part receives (decoder output)."""
        self._require_coder()
        symbols = self.entropy_model.decode(packets)
        was_training = self.training
        self.eval()
        try:
            return self.decoder(self.bottleneck.dequantize(symbols))
        finally:
            self.train(was_training)

    def encoder_macs(self, feature_shape: tuple[int, ...]) -> int:
        """Device-side MACs per image: encoder (thop) + nearest-codeword search."""
        from coinfer.core.costs import thop_macs

        macs, _ = thop_macs(self.encoder, tuple(feature_shape))
        return macs + (self.bottleneck.macs() if hasattr(self.bottleneck, "macs") else 0)

    def decoder_macs(self, z_shape: tuple[int, ...]) -> int:
        """Server-side MACs per image of the decoder (thop)."""
        from coinfer.core.costs import thop_macs

        return thop_macs(self.decoder, tuple(z_shape))[0]

    def encoder_params(self) -> int:
        """Parameters the device stores: encoder and codewords."""
        return (sum(p.numel() for p in self.encoder.parameters())
                + sum(p.numel() for p in self.bottleneck.parameters()))


def build_codec(feature_shape: tuple[int, ...], code_size: "str | CodeSize", kernel_size: int = 3,
                temperature: float = 0.2, commitment: float = 0.25,
                output_shape: tuple[int, ...] | None = None) -> FeatureCodec:
    """The two-step encoder of section IV-B for features of ``feature_shape``, sized by ``code_size``.

    ``code_size`` such as ``"c4-d16-l4"`` (3-D features) or ``"d16-k64"`` (1-D features, after
    ``pool``); see :class:`CodeSize`. ``output_shape`` is what the decoder must produce for the
    server part, if it differs from ``feature_shape`` (a pruned device part may send fewer channels
    than the unpruned server part expects); by default the same.
    """
    size = CodeSize.parse(code_size)
    feature_shape = tuple(feature_shape)
    if len(feature_shape) == 3 and size.channels is None:
        raise ValueError(f"code size {str(size)!r} lacks 'c<channels>-', needed for a {feature_shape} feature")
    if len(feature_shape) == 1 and size.channels is not None:
        raise ValueError(f"code size {str(size)!r} names channels, but a {feature_shape} feature has none; "
                         f"use {str(CodeSize(size.dim, size.levels, size.kind))!r}")
    encoder = DimensionReductionEncoder(feature_shape, size.dim, size.channels, kernel_size)
    output_shape = tuple(output_shape) if output_shape is not None else feature_shape
    if len(output_shape) != len(feature_shape):
        raise ValueError(f"output_shape {output_shape} and feature_shape {feature_shape} must have the same rank")
    decoder = DimensionReductionDecoder(output_shape, size.dim, size.channels, kernel_size)
    quantizer_cls = ScalarCodebookQuantizer if size.kind == "scalar" else VectorCodebookQuantizer
    quantizer = quantizer_cls(size.dim, size.levels, temperature, commitment)
    # A rate-trained code learns its prior (it codes the packets); the others fit one after training.
    prior = (LearnedEntropyModel(size.positions, size.levels) if size.rate_weight is not None
             else CategoricalEntropyModel(size.positions, size.levels))
    return FeatureCodec(encoder, quantizer, decoder, prior, rate_weight=size.rate_weight)


@dataclass(frozen=True)
class CodecCosts:
    """Per-image costs of a co-inference model with a codec. MACs: multiply-accumulates (FLOPs = 2 x MACs)."""

    device_macs: int        # device part + encoder + codeword search
    device_params: int      # device part + encoder + codewords
    server_macs: int        # decoder + server part
    encoder_macs: int
    decoder_macs: int
    network_macs: int       # device part + server part, without the codec

    @property
    def encoder_share(self) -> float:
        """Encoder MACs as a fraction of the whole network's."""
        return self.encoder_macs / self.network_macs


def codec_costs(device_part: nn.Module, codec: FeatureCodec, server_part: nn.Module,
                input_shape: tuple[int, ...] = (3, 32, 32)) -> CodecCosts:
    """Count MACs (thop) and parameters of device part + encoder and decoder + server part.

    Counts on CPU copies in eval mode: the shape probes below are CPU tensors, and the caller's
    modules (possibly on a GPU, possibly training) are left as they are.
    """
    import copy

    from coinfer.core.costs import count_params, thop_macs

    device_part, codec, server_part = (copy.deepcopy(m).cpu().eval() for m in (device_part, codec, server_part))
    with torch.no_grad():
        feature_shape = tuple(device_part(torch.zeros(1, *input_shape)).shape[1:])
        z = codec.encoder(torch.zeros(2, *feature_shape))
        z_shape, server_shape = tuple(z.shape[1:]), tuple(codec.decoder(z).shape[1:])
    device_macs, server_macs = thop_macs(device_part, tuple(input_shape))[0], thop_macs(server_part, server_shape)[0]
    encoder_macs, decoder_macs = codec.encoder_macs(feature_shape), codec.decoder_macs(z_shape)
    return CodecCosts(device_macs=device_macs + encoder_macs,
                      device_params=count_params(device_part) + codec.encoder_params(),
                      server_macs=server_macs + decoder_macs,
                      encoder_macs=encoder_macs, decoder_macs=decoder_macs,
                      network_macs=device_macs + server_macs)
