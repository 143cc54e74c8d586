"""One codec protocol: a batch of split features -> one packet (bytes) per image -> features.

Every way the library sends a feature (section IV-B and its baselines) is a :class:`Codec`:

====================  ======================================================================
``float32``           the raw feature, float32 little-endian (the paper's "original network")
``uint8``             8-bit uniform levels between each image's own minimum and maximum
``huffman8``          8 bits over a range fitted on training features, then a canonical Huffman
                      code fitted on their histogram (the "original + Huffman" baseline of Fig. 3)
``learned``           a trained :class:`~coinfer.core.encoding.FeatureCodec`: encoder, learned
                      quantizer, range coder (the framework's two-step encoder)
====================  ======================================================================

``compress(features)`` runs on the device and returns one self-contained packet per image;
``decompress(packets)`` runs on the server and returns the features the server part receives,
stacked. A codec that must be fitted (``huffman8``) has :meth:`Codec.fit`; the others fit nothing.
``bits(packets)`` is each packet's bits per image, read back from the packet: the payload the device
sends, excluding any framing (:mod:`coinfer.core.entropy`: an entropy-coded packet carries a flag bit
and the shorter of the fixed-length index and the coded stream). ``device_macs``, ``server_macs``
and ``device_params`` are the codec's own costs per image (0 for a codec that is not a network);
``fingerprint()`` identifies its fitted state (range, code, weights).

The encoding experiment (:mod:`coinfer.experiments.encoding`) measures the bits of these codecs,
and the server (``coinfer.serve``) sends exactly the same packets.

>>> import torch
>>> codec = Huffman8Codec().fit(torch.rand(20, 4, 2, 2))
>>> packets = codec.compress(torch.rand(3, 4, 2, 2))
>>> len(packets), codec.decompress(packets).shape
(3, torch.Size([3, 4, 2, 2]))
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from coinfer.core.encoding import CodeSize, FeatureCodec, UniformQuantizer
from coinfer.core.entropy import HuffmanCode, bits_per_image, unframe


class Codec:
    """What every codec offers; see the module docstring.

    Parameters
    ----------
    feature_shape : sequence of int, optional
        The shape of one image's feature (without the batch). A fitted codec learns it in
        :meth:`fit` when not given.

    >>> Float32Codec((2, 3)).decompress(Float32Codec((2, 3)).compress(torch.ones(1, 2, 3))).shape
    torch.Size([1, 2, 3])
    """

    name: str = ""
    device_macs: int = 0
    server_macs: int = 0
    device_params: int = 0

    def __init__(self, feature_shape: Sequence[int] | None = None):
        self.feature_shape = tuple(int(d) for d in feature_shape) if feature_shape is not None else None

    @property
    def feature_elements(self) -> int:
        return math.prod(self.feature_shape)

    def fit(self, features) -> "Codec":
        """Fit whatever the codec needs from training features (nothing, by default); returns ``self``."""
        return self

    def compress(self, features: torch.Tensor) -> list[bytes]:  # pragma: no cover - interface
        """Device side: ``[B, *feature_shape]`` -> one packet per image."""
        raise NotImplementedError

    def decompress(self, packets: Sequence[bytes]) -> torch.Tensor:  # pragma: no cover - interface
        """Server side: packets -> ``[B, *feature_shape]`` float32 features (on the CPU)."""
        raise NotImplementedError

    def bits(self, packets: Sequence[bytes]) -> np.ndarray:
        """Bits per image of each packet: its payload, framing excluded (int64 array).

        A codec without entropy coding sends whole bytes: ``8 x len(packet)``.
        """
        return np.array([8 * len(p) for p in packets], dtype=np.int64)

    def fingerprint(self) -> str:
        """Identifies the codec and its fitted state (goes into a served configuration's id)."""
        return self.name

    def _check_length(self, payload: bytes, expected: int) -> None:
        if len(payload) != expected:
            raise ValueError(f"{self.name} payload for a feature of shape {self.feature_shape} must be "
                             f"{expected} bytes, got {len(payload)}")

    def _stack(self, features: list[torch.Tensor]) -> torch.Tensor:
        if not features:
            return torch.zeros((0, *self.feature_shape))
        return torch.stack(features)


class Float32Codec(Codec):
    """The raw feature: float32 little-endian, ``4 x elements`` bytes per image.

    >>> codec = Float32Codec((3,))
    >>> [len(p) for p in codec.compress(torch.zeros(2, 3))]
    [12, 12]
    """

    name = "float32"

    def compress(self, features: torch.Tensor) -> list[bytes]:
        array = features.detach().to(torch.float32).cpu().numpy().astype("<f4", copy=False)
        return [image.tobytes() for image in array]

    def decompress(self, packets: Sequence[bytes]) -> torch.Tensor:
        out = []
        for payload in packets:
            self._check_length(payload, 4 * self.feature_elements)
            array = np.frombuffer(payload, dtype="<f4").reshape(self.feature_shape)
            if not np.isfinite(array).all():   # a feature is finite; NaN would reach the logits
                raise ValueError(f"float32 payload holds {int((~np.isfinite(array)).sum())} NaN or infinite values")
            out.append(torch.from_numpy(array.astype(np.float32)))
        return self._stack(out)


class Uint8Codec(Codec):
    """8-bit uniform quantization between each image's own minimum and maximum.

    Packet: ``float32 lo, float32 hi`` (little-endian) then one uint8 per element,
    ``q = round(255 (x - lo) / (hi - lo))``; decoding gives ``lo + q (hi - lo) / 255``. That is
    ``elements + 8`` bytes; the maximum error is ``(hi - lo) / 510``.

    >>> codec = Uint8Codec((4,))
    >>> codec.decompress(codec.compress(torch.tensor([[0.0, 1.0, 2.0, 3.0]])))
    tensor([[0., 1., 2., 3.]])
    """

    name = "uint8"
    _RANGE = struct.Struct("<ff")

    def compress(self, features: torch.Tensor) -> list[bytes]:
        packets = []
        for x in features.detach().to(torch.float32).cpu().numpy():
            lo, hi = float(x.min()), float(x.max())
            if not (math.isfinite(lo) and math.isfinite(hi) and hi - lo <= float(np.finfo(np.float32).max)):
                # refused here: decompress could not turn such a range's levels back into float32
                raise ValueError(f"uint8 codec: a feature's range [{lo}, {hi}] is not finite in float32")
            span = hi - lo if hi > lo else 1.0
            q = np.rint((x - lo) * (255.0 / span)).clip(0, 255).astype(np.uint8)
            packets.append(self._RANGE.pack(lo, hi) + q.tobytes())
        return packets

    def decompress(self, packets: Sequence[bytes]) -> torch.Tensor:
        out = []
        for payload in packets:
            self._check_length(payload, self._RANGE.size + self.feature_elements)
            lo, hi = self._RANGE.unpack_from(payload)
            if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
                raise ValueError(f"uint8 payload has an invalid range lo={lo!r}, hi={hi!r}")
            span = hi - lo if hi > lo else 1.0
            q = np.frombuffer(payload, dtype=np.uint8, offset=self._RANGE.size).reshape(self.feature_shape)
            with np.errstate(over="ignore", invalid="ignore"):   # an overflow is refused just below
                feature = (lo + q.astype(np.float32) * np.float32(span / 255.0)).astype(np.float32)
            if not np.isfinite(feature).all():   # e.g. lo=-3e38, hi=3e38: finite ends, levels overflow float32
                raise ValueError(f"uint8 payload's range lo={lo!r}, hi={hi!r} overflows float32")
            out.append(torch.from_numpy(feature))
        return self._stack(out)


def _batches(features) -> Iterable[torch.Tensor]:
    """One pass over ``features``: a tensor (one batch) or a zero-argument function giving batches."""
    if isinstance(features, torch.Tensor):
        return [features]
    return features()


class Huffman8Codec(Codec):
    """The "original network + Huffman" baseline: every element quantized to 8 bits over a range fixed
    on training features, then coded with a canonical Huffman code (:class:`coinfer.core.entropy.HuffmanCode`)
    built from their histogram, plus one count per level (every level stays codable).

    Values outside the training range clip to the end levels. A packet is the code's: a magic byte
    (``0xC2``), the symbol count, a CRC-32, then a flag bit and the shorter of the plain 8-bit
    levels and the Huffman bits.

    >>> codec = Huffman8Codec().fit(torch.linspace(0, 1, 64).view(4, 16))
    >>> codec.feature_shape, codec.range
    ((16,), (0.0, 1.0))
    """

    name = "huffman8"

    def __init__(self, feature_shape: Sequence[int] | None = None):
        super().__init__(feature_shape)
        self.quantizer = UniformQuantizer(8)
        self.code: HuffmanCode | None = None
        self.code_size = "8bit-huffman"

    @torch.no_grad()
    def fit(self, features: torch.Tensor | Callable[[], Iterable[torch.Tensor]]) -> "Huffman8Codec":
        """Fit the 8-bit range, then the Huffman code, on training features.

        Parameters
        ----------
        features : tensor or callable
            ``[N, *feature_shape]`` features, or a function returning an iterable of such batches
            (called twice: one pass for the range, one for the histogram, so that large features
            never need to be held all at once).

        >>> Huffman8Codec().fit(lambda: iter([torch.zeros(2, 3), torch.ones(2, 3)])).range
        (0.0, 1.0)
        """
        low, high, shape = float("inf"), float("-inf"), None
        for batch in _batches(features):
            low, high = min(low, float(batch.min())), max(high, float(batch.max()))
            shape = tuple(batch.shape[1:])
        if shape is None:
            raise ValueError("need at least one training feature to fit an 8-bit Huffman code")
        self.feature_shape = self.feature_shape or shape
        self.quantizer.fit_range(torch.tensor([low, high]))   # the range is stored in float32
        histogram = np.zeros(self.quantizer.alphabet, dtype=np.int64)
        for batch in _batches(features):
            histogram += np.bincount(self.symbols(batch).reshape(-1), minlength=self.quantizer.alphabet)
        self.code = HuffmanCode.from_counts(histogram + 1)
        return self

    @property
    def range(self) -> tuple[float, float]:
        """The fitted 8-bit range ``(low, high)``."""
        return float(self.quantizer.low), float(self.quantizer.high)

    @torch.no_grad()
    def symbols(self, features: torch.Tensor) -> np.ndarray:
        """The 8-bit levels of ``features``, ``[B, elements]`` int64 (computed beside the features)."""
        quantizer = self.quantizer.to(features.device)
        return quantizer.quantize(features.float()).flatten(1).cpu().numpy()

    def _require_fit(self) -> None:
        if self.code is None:
            raise RuntimeError("fit the huffman8 codec on training features first (Huffman8Codec.fit)")

    @torch.no_grad()
    def dequantize(self, symbols: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Levels ``[B, elements]`` -> features ``[B, *feature_shape]``, where the quantizer last ran."""
        symbols = torch.as_tensor(symbols).to(self.quantizer.low.device)
        return self.quantizer.dequantize(symbols).view(len(symbols), *self.feature_shape)

    def compress(self, features: torch.Tensor) -> list[bytes]:
        self._require_fit()
        return self.code.encode(self.symbols(features))

    def decompress(self, packets: Sequence[bytes]) -> torch.Tensor:
        self._require_fit()
        for payload in packets:
            n, _ = unframe(payload, self.code.magic)  # BitstreamError (a ValueError) for a broken packet
            if n != self.feature_elements:
                raise ValueError(f"huffman packet announces {n} symbols; a {self.feature_shape} feature has "
                                 f"{self.feature_elements}")
        if not packets:
            return self._stack([])
        return self.dequantize(self.code.decode(list(packets))).cpu()

    def bits(self, packets: Sequence[bytes]) -> np.ndarray:
        self._require_fit()
        return bits_per_image(list(packets), self.code)

    def fingerprint(self) -> str:
        self._require_fit()
        low, high = self.range
        digest = hashlib.sha256(repr((low, high, tuple(self.code.lengths))).encode()).hexdigest()
        return f"huffman|{digest}"


def weights_digest(*modules: nn.Module) -> str:
    """SHA-256 (hex) over the modules' state dicts, names and values: equal weights, equal digest.

    Parameters
    ----------
    *modules : nn.Module
        Hashed in order.

    >>> len(weights_digest(nn.Linear(2, 2)))
    64
    """
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class LearnedCodec(Codec):
    """A trained :class:`~coinfer.core.encoding.FeatureCodec` (section IV-B's two-step encoder).

    ``compress`` runs the dimension-reduction encoder, the learned quantizer and the range coder;
    ``decompress`` the range decoder, the codewords and the decoder network. A packet is the
    codec's own (magic byte, symbol count, CRC-32, then a flag bit and the shorter of the
    fixed-length index and the range-coded symbols). Its networks' MACs count
    on the device and server sides.

    Parameters
    ----------
    feature_shape : sequence of int
        The device part's feature shape.
    codec : FeatureCodec
        Trained, with a fitted entropy model.
    code_size : str
        Its code size (``"c8-d16-l4"``).

    >>> from coinfer.core.encoding import build_codec
    >>> LearnedCodec((8, 4, 4), build_codec((8, 4, 4), "c2-d4-l2"), "c2-d4-l2").server_macs > 0
    True
    """

    name = "learned"
    method = "framework"

    def __init__(self, feature_shape: Sequence[int], codec: FeatureCodec, code_size: str, source: str = ""):
        super().__init__(feature_shape)
        self.codec = codec.eval()
        self.code_size = str(code_size)
        self.source = source
        size = CodeSize.parse(self.code_size)
        self.device_macs = int(codec.encoder_macs(self.feature_shape))
        self.server_macs = int(codec.decoder_macs((size.dim,)))
        self.device_params = int(codec.encoder_params())
        self._digest = weights_digest(codec)

    def compress(self, features: torch.Tensor) -> list[bytes]:
        return self.codec.compress(features)

    def decompress(self, packets: Sequence[bytes]) -> torch.Tensor:
        return self.codec.decompress(list(packets))  # BitstreamError (a ValueError) for a bad packet

    def bits(self, packets: Sequence[bytes]) -> np.ndarray:
        return bits_per_image(list(packets), self.codec.entropy_model)

    def fingerprint(self) -> str:
        return f"learned|{self.code_size}|{self._digest}"


#: The codecs by name.
CODEC_TYPES: dict[str, type[Codec]] = {c.name: c for c in (Float32Codec, Uint8Codec, Huffman8Codec, LearnedCodec)}
