"""Entropy coding of quantized features into real bytes: a range coder and a canonical Huffman code.

Shao & Zhang (2020), section IV-B, step 2 ("learning-driven source coding") maps every feature to a
few discrete symbols; this module turns those symbols into the bytes a device would actually send,
so that every "bits per image" in coinfer is the length of a real encoded byte string::

    symbols (ints) --range coder + learned categorical model--> payload bytes --frame--> packet
    packet --check header + CRC32--> payload --range decoder--> symbols (exactly the same)

Two coders:

* :class:`CategoricalEntropyModel` — per-position categorical distributions estimated from the
  symbols of the training images and stored with the model (a buffer in its ``state_dict``); the
  symbols are range-coded with `constriction <https://bamler-lab.github.io/constriction/>`_.
  Used by the learned encoder (:mod:`coinfer.core.encoding`).
* :class:`HuffmanCode` — a canonical Huffman code over 256 symbols built from a histogram of
  8-bit training features; the baseline of the paper's Fig. 3 ("Huffman coding is used in the
  original network ... for a fair comparison").

**One packet per image.** Each image is coded into its own self-contained packet, as a device
that sends images one at a time would. Bits per image therefore cannot depend on how many test
images are processed together (tested). Coding many images into one stream would spread the
coder's termination cost over them (:func:`range_stream_bits` measures that, for comparison).

**What is counted.** ``bits = 8 x len(payload)``: the coder's own output, byte-aligned, without
the framing header. The header (1 magic byte, the symbol count as a varint, a CRC32: 6+ bytes)
exists so that a truncated or corrupted packet raises :class:`BitstreamError` instead of
decoding to wrong symbols; a real link layer would carry the length and checksum anyway, so it is
reported separately (:data:`HEADER_BITS_MIN`), never hidden in the payload count.

**Trimming the range coder's output.** constriction's range coder writes 32-bit words, so a
20-bit message would cost 32 or 64 bits. Any number inside the coder's final interval decodes to
the same symbols, and the decoder reads missing bytes as zeros; the encoder therefore keeps the
shortest byte prefix (rounded up by one in its last byte when needed) that *verifiably* decodes to
the same symbols. Every packet is decoded once while it is made, so a packet that leaves
:func:`range_encode` is known to round-trip.
"""

from __future__ import annotations

import heapq
import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

MAGIC_RANGE = 0xC1      # first byte of a range-coded packet
MAGIC_HUFFMAN = 0xC2    # first byte of a Huffman-coded packet
#: Smallest framing header: magic byte + 1-byte varint + CRC32.
HEADER_BITS_MIN = 8 * (1 + 1 + 4)


class BitstreamError(ValueError):
    """A packet is truncated, corrupted, or was made by another coder or model."""


# --------------------------------------------------------------------------------------------
# Framing: magic | varint(symbol count) | CRC32(count + payload) | payload
# --------------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise BitstreamError("packet truncated inside its header (symbol count)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
        if shift > 63:
            raise BitstreamError("packet header is corrupted (symbol count longer than 9 bytes)")


def frame(payload: bytes, n_symbols: int, magic: int) -> bytes:
    """Wrap ``payload`` in a packet that carries the symbol count and a CRC32 of both."""
    count = _varint(int(n_symbols))
    crc = zlib.crc32(count + payload).to_bytes(4, "big")
    return bytes([magic]) + count + crc + payload


def unframe(packet: bytes, magic: int) -> tuple[int, bytes]:
    """``(n_symbols, payload)`` of a packet made by :func:`frame`.

    Raises
    ------
    BitstreamError
        If the packet is empty, made by another coder (wrong magic byte), truncated, or its CRC32
        does not match (any corruption of the count or payload).
    """
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise TypeError(f"a packet must be bytes, got {type(packet).__name__}")
    packet = bytes(packet)
    if not packet:
        raise BitstreamError("empty packet (0 bytes); a packet has at least a 6-byte header")
    if packet[0] != magic:
        raise BitstreamError(f"packet starts with byte 0x{packet[0]:02X}, expected 0x{magic:02X}: "
                             "corrupted, or made by another coder")
    n_symbols, pos = _read_varint(packet, 1)
    if len(packet) < pos + 4:
        raise BitstreamError(f"packet truncated inside its header: {len(packet)} bytes, "
                             f"header alone needs {pos + 4}")
    crc = int.from_bytes(packet[pos:pos + 4], "big")
    payload = packet[pos + 4:]
    if zlib.crc32(packet[1:pos] + payload) != crc:
        raise BitstreamError(f"CRC32 mismatch: the packet ({len(packet)} bytes, {n_symbols} symbols "
                             "announced) is truncated or corrupted")
    return n_symbols, payload


# --------------------------------------------------------------------------------------------
# Range coding (constriction) with byte-level trimming
# --------------------------------------------------------------------------------------------

def _categorical():
    import constriction

    # perfect=False: faster model construction; encoder and decoder must (and do) agree on it.
    return constriction.stream.model.Categorical(perfect=False)


def _words(payload: bytes) -> np.ndarray:
    padded = payload + b"\0" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def _range_decode_raw(payload: bytes, probabilities: np.ndarray) -> np.ndarray:
    import constriction

    decoder = constriction.stream.queue.RangeDecoder(_words(payload))
    try:
        return np.asarray(decoder.decode(_categorical(), probabilities), dtype=np.int64)
    except (AssertionError, ValueError, RuntimeError) as error:  # constriction's "invalid data"
        raise BitstreamError(f"range decoder rejected the payload ({len(payload)} bytes): {error}") from error


def _as_probabilities(probabilities: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D array (positions, alphabet), got shape {p.shape}")
    if p.shape[0] == 1 and n != 1:
        p = np.broadcast_to(p, (n, p.shape[1]))
    if p.shape[0] != n:
        raise ValueError(f"{n} symbols but probabilities for {p.shape[0]} positions")
    return np.ascontiguousarray(p)


def range_encode(symbols: np.ndarray, probabilities: np.ndarray) -> bytes:
    """Range-code ``symbols`` (1-D ints) with one categorical distribution per symbol.

    Parameters
    ----------
    symbols : int array, shape (n,)
        Each in ``[0, alphabet)``.
    probabilities : float array, shape (n, alphabet) or (1, alphabet)
        Need not be normalized; a row of shape (1, alphabet) is used for every symbol.

    Returns
    -------
    bytes
        The payload (no header): the shortest byte prefix of the sealed range-coder output that
        decodes back to ``symbols`` (checked here by decoding it).
    """
    import constriction

    symbols = np.asarray(symbols)
    if symbols.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {symbols.shape}")
    probabilities = _as_probabilities(probabilities, len(symbols))
    alphabet = probabilities.shape[1]
    if len(symbols) and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols must lie in [0, {alphabet}), got range "
                         f"[{symbols.min()}, {symbols.max()}]")
    symbols = symbols.astype(np.int32)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols, _categorical(), probabilities)
    full = encoder.get_compressed().astype(">u4").tobytes()

    def decodes(candidate: bytes) -> bool:
        try:
            return np.array_equal(_range_decode_raw(candidate, probabilities), symbols)
        except BitstreamError:
            return False

    # Shortest first: a prefix cannot be shorter than the information content.
    info_bits = -np.log2(probabilities[np.arange(len(symbols)), symbols]
                         / probabilities.sum(1)).sum() if len(symbols) else 0.0
    for k in range(max(0, int(info_bits // 8) - 1), len(full)):
        prefix = full[:k]
        if decodes(prefix):
            return prefix
        if k:
            up = int.from_bytes(prefix, "big") + 1
            if up < 256 ** k and decodes(up.to_bytes(k, "big")):
                return up.to_bytes(k, "big")
    if not decodes(full):  # cannot happen unless constriction misbehaves; never send a bad packet
        raise RuntimeError("range coder output does not decode back to its symbols")
    return full


def range_decode(payload: bytes, probabilities: np.ndarray, n_symbols: int) -> np.ndarray:
    """Inverse of :func:`range_encode` for ``n_symbols`` symbols."""
    return _range_decode_raw(payload, _as_probabilities(probabilities, n_symbols))


def range_stream_bits(symbols: np.ndarray, probabilities: np.ndarray) -> int:
    """Bits of ONE untrimmed range-coder stream holding all rows of ``symbols`` (images x positions).

    For comparison only: it shows what coding many images together would save over one packet per
    image (the termination cost is paid once). ``probabilities`` has shape (positions, alphabet).
    """
    import constriction

    symbols = np.asarray(symbols)
    n_images, positions = symbols.shape
    p = _as_probabilities(probabilities, positions)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.reshape(-1).astype(np.int32), _categorical(),
                   np.ascontiguousarray(np.tile(p, (n_images, 1))))
    return 32 * len(encoder.get_compressed())


class CategoricalEntropyModel(nn.Module):
    """Per-position categorical distributions over ``alphabet`` symbols, for range coding.

    The probabilities are estimated from the symbols of the training images (:meth:`fit`) and kept
    as a buffer, so they are saved and loaded with the model's ``state_dict``; encoder and decoder
    use the very same float table, so decoding is exact.

    Parameters
    ----------
    positions : int
        Symbols per image (``d`` for per-element codewords, 1 for a vector codebook).
    alphabet : int
        Symbols per position (``L`` levels or ``K`` codewords).
    """

    magic = MAGIC_RANGE

    def __init__(self, positions: int, alphabet: int):
        super().__init__()
        if positions < 1 or alphabet < 2:
            raise ValueError(f"need positions >= 1 and alphabet >= 2, got {positions}, {alphabet}")
        self.positions, self.alphabet = int(positions), int(alphabet)
        self.register_buffer("probabilities", torch.full((positions, alphabet), 1.0 / alphabet))

    @torch.no_grad()
    def fit(self, symbols: torch.Tensor, prior: float = 0.5) -> "CategoricalEntropyModel":
        """Estimate the probabilities from training ``symbols`` (images x positions).

        ``prior`` pseudo-counts per symbol (Krichevsky-Trofimov for 0.5) keep every symbol codable
        even if it never occurred in training.
        """
        symbols = self._check(symbols)
        counts = torch.zeros(self.positions, self.alphabet, dtype=torch.float64)
        counts.scatter_add_(1, symbols.t().cpu(), torch.ones(symbols.t().shape, dtype=torch.float64))
        counts += prior
        self.probabilities.copy_((counts / counts.sum(1, keepdim=True)).to(self.probabilities))
        return self

    def _check(self, symbols: torch.Tensor) -> torch.Tensor:
        symbols = torch.as_tensor(symbols).long()
        if symbols.ndim != 2 or symbols.shape[1] != self.positions:
            raise ValueError(f"symbols must have shape (images, {self.positions}), got {tuple(symbols.shape)}")
        if symbols.numel() and (symbols.min() < 0 or symbols.max() >= self.alphabet):
            raise ValueError(f"symbols must lie in [0, {self.alphabet}), got "
                             f"[{int(symbols.min())}, {int(symbols.max())}]")
        return symbols

    def likelihoods(self, symbols: torch.Tensor) -> torch.Tensor:
        """Model probability of each symbol, shape (images, positions)."""
        symbols = self._check(symbols)
        probs = self.probabilities.to(symbols.device)
        return probs.expand(len(symbols), -1, -1).gather(2, symbols.unsqueeze(2)).squeeze(2)

    def information_bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """Ideal code length ``-sum log2 p`` per image under this model (bits), shape (images,)."""
        return -torch.log2(self.likelihoods(symbols).double()).sum(1)

    def _table(self) -> np.ndarray:
        return self.probabilities.detach().cpu().double().numpy()

    def encode(self, symbols: torch.Tensor) -> list[bytes]:
        """One packet per image (row of ``symbols``)."""
        symbols = self._check(symbols).cpu().numpy()
        table = self._table()
        return [frame(range_encode(row, table), self.positions, self.magic) for row in symbols]

    def decode(self, packets: list[bytes]) -> torch.Tensor:
        """Symbols (images x positions) of packets made by :meth:`encode` with the same model."""
        table = self._table()
        rows = []
        for i, packet in enumerate(packets):
            n, payload = unframe(packet, self.magic)
            if n != self.positions:
                raise BitstreamError(f"packet {i} announces {n} symbols; this model codes "
                                     f"{self.positions} per image")
            rows.append(range_decode(payload, table, n))
        return torch.as_tensor(np.stack(rows) if rows else np.zeros((0, self.positions), np.int64))


def payload_bits(packet: bytes, magic: int = MAGIC_RANGE) -> int:
    """Bits of a packet's payload (what coinfer reports as bits per image): ``8 x len(payload)``."""
    return 8 * len(unframe(packet, magic)[1])


# --------------------------------------------------------------------------------------------
# Empirical entropy
# --------------------------------------------------------------------------------------------

def empirical_entropy_bits(symbols: torch.Tensor | np.ndarray, alphabet: int, shared: bool = False) -> float:
    """Plug-in entropy of ``symbols`` (images x positions), in bits per image.

    ``shared=False``: one distribution per position, entropies summed over positions (what a
    per-position model can reach). ``shared=True``: one distribution pooled over all positions,
    times the number of positions (what a single i.i.d. model such as the Huffman baseline's can).
    """
    s = np.asarray(symbols.cpu() if isinstance(symbols, torch.Tensor) else symbols, dtype=np.int64)
    if s.ndim != 2:
        raise ValueError(f"symbols must be 2-D (images, positions), got shape {s.shape}")
    n, positions = s.shape
    if shared:
        p = np.bincount(s.reshape(-1), minlength=alphabet) / s.size
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum() * positions)
    offsets = np.arange(positions) * alphabet
    counts = np.bincount((s + offsets).reshape(-1), minlength=positions * alphabet).reshape(positions, alphabet)
    p = counts / n
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return float(terms.sum())


# --------------------------------------------------------------------------------------------
# Canonical Huffman code (the baseline's coder)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HuffmanCode:
    """A canonical Huffman code: ``lengths[s]`` bits for symbol ``s``, codes assigned canonically.

    Canonical codes are fixed by the lengths alone, so storing the 256 lengths stores the code.
    Build one with :meth:`from_counts` (every symbol must have a nonzero count: add one to the
    histogram, as :meth:`from_samples` does, so that values unseen in training stay codable).
    """

    lengths: tuple[int, ...]

    magic = MAGIC_HUFFMAN

    def __post_init__(self):
        if len(self.lengths) < 2 or min(self.lengths) < 1 or max(self.lengths) > 62:
            raise ValueError(f"code lengths must be in [1, 62] for >= 2 symbols, got {self.lengths}")
        kraft = sum(2.0 ** -l for l in self.lengths)
        if kraft > 1 + 1e-12:
            raise ValueError(f"lengths violate the Kraft inequality (sum 2^-l = {kraft})")

    @classmethod
    def from_counts(cls, counts) -> "HuffmanCode":
        counts = [int(c) for c in counts]
        if len(counts) < 2 or min(counts) <= 0:
            raise ValueError("Huffman code needs >= 2 symbols, each with a count > 0 "
                             "(add one to a histogram with empty bins)")
        # Heap of (weight, tie-breaker, symbols in subtree); merging adds one bit to each member.
        heap = [(c, s, [s]) for s, c in enumerate(counts)]
        heapq.heapify(heap)
        lengths = [0] * len(counts)
        tie = len(counts)
        while len(heap) > 1:
            w1, _, a = heapq.heappop(heap)
            w2, _, b = heapq.heappop(heap)
            for s in a + b:
                lengths[s] += 1
            heapq.heappush(heap, (w1 + w2, tie, a + b))
            tie += 1
        return cls(tuple(lengths))

    @classmethod
    def from_samples(cls, symbols: np.ndarray, alphabet: int = 256) -> "HuffmanCode":
        """Code built from the histogram of ``symbols`` plus one count per symbol."""
        return cls.from_counts(np.bincount(np.asarray(symbols).reshape(-1), minlength=alphabet) + 1)

    @property
    def alphabet(self) -> int:
        return len(self.lengths)

    def _codes(self) -> np.ndarray:
        # Canonical assignment: sort by (length, symbol); each code is the previous + 1, shifted left
        # when the length grows.
        order = sorted(range(self.alphabet), key=lambda s: (self.lengths[s], s))
        codes = np.zeros(self.alphabet, dtype=np.uint64)
        code, prev = 0, self.lengths[order[0]]
        for i, s in enumerate(order):
            if i:
                code = (code + 1) << (self.lengths[s] - prev)
            prev = self.lengths[s]
            codes[s] = code
        return codes

    def bit_length(self, symbols: np.ndarray) -> np.ndarray:
        """Exact code length in bits of each row of ``symbols`` (before byte padding)."""
        return np.asarray(self.lengths, dtype=np.int64)[np.asarray(symbols)].sum(-1)

    def encode_payload(self, symbols: np.ndarray) -> bytes:
        """The bits of ``symbols`` (1-D) packed MSB first, the last byte padded with zeros."""
        symbols = np.asarray(symbols).reshape(-1).astype(np.int64)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= self.alphabet):
            raise ValueError(f"symbols must lie in [0, {self.alphabet}), got "
                             f"[{symbols.min()}, {symbols.max()}]")
        lengths = np.asarray(self.lengths, dtype=np.int64)[symbols]
        codes = self._codes()[symbols]
        total = int(lengths.sum())
        owner = np.repeat(np.arange(len(symbols)), lengths)
        starts = np.cumsum(lengths) - lengths
        shift = (lengths[owner] - 1 - (np.arange(total) - starts[owner])).astype(np.uint64)
        bits = ((codes[owner] >> shift) & np.uint64(1)).astype(np.uint8)
        return np.packbits(bits).tobytes()

    def decode_payload(self, payload: bytes, n_symbols: int) -> np.ndarray:
        """Inverse of :meth:`encode_payload` for ``n_symbols`` symbols."""
        codes = self._codes()
        table = {(self.lengths[s], int(codes[s])): s for s in range(self.alphabet)}
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        out, code, length, pos = [], 0, 0, 0
        max_len = max(self.lengths)
        while len(out) < n_symbols:
            if pos >= len(bits):
                raise BitstreamError(f"Huffman payload ends after {len(out)} of {n_symbols} symbols")
            code = (code << 1) | int(bits[pos])
            pos += 1
            length += 1
            symbol = table.get((length, code))
            if symbol is not None:
                out.append(symbol)
                code = length = 0
            elif length > max_len:
                raise BitstreamError("invalid Huffman code word in payload (corrupted)")
        if len(bits) - pos >= 8:
            raise BitstreamError(f"Huffman payload has {len(bits) - pos} bits left after {n_symbols} "
                                 "symbols (more than byte padding): corrupted")
        return np.asarray(out, dtype=np.int64)

    def encode(self, symbols: np.ndarray) -> list[bytes]:
        """One packet per image (row of ``symbols``, images x positions)."""
        symbols = np.asarray(symbols)
        if symbols.ndim != 2:
            raise ValueError(f"symbols must be 2-D (images, positions), got shape {symbols.shape}")
        return [frame(self.encode_payload(row), symbols.shape[1], self.magic) for row in symbols]

    def decode(self, packets: list[bytes]) -> np.ndarray:
        rows = []
        for packet in packets:
            n, payload = unframe(packet, self.magic)
            rows.append(self.decode_payload(payload, n))
        return np.stack(rows)

    def entropy_bits(self, counts) -> float:
        """Expected bits per symbol of this code under the distribution ``counts``."""
        p = np.asarray(counts, dtype=np.float64)
        return float((p / p.sum() * np.asarray(self.lengths)).sum())


def bits_per_image(packets: list[bytes], magic: int) -> np.ndarray:
    """Payload bits of each packet (header excluded; see the module docstring)."""
    return np.array([8 * len(unframe(p, magic)[1]) for p in packets], dtype=np.int64)


def fixed_length_bits(positions: int, alphabet: int) -> int:
    """Bits per image of a fixed-length code: ``positions x ceil(log2 alphabet)``."""
    return positions * math.ceil(math.log2(alphabet))
