"""Entropy coding of quantized features into real bytes: a range coder and a canonical Huffman code.

Shao & Zhang (2020), section IV-B, step 2 ("learning-driven source coding") maps every feature to a
few discrete symbols; this module turns those symbols into the bytes a device would actually send,
so that every "bits per image" in coinfer is the length of a real encoded bit string::

    symbols (ints) --range coder + learned categorical model--> stream bits --+--> 1 flag bit +
                   --fixed-length index, ceil(log2 L) bits each--> index bits --+    the shorter: payload
    payload --frame--> packet --check header + CRC32--> payload --flag--> range decoder or index
            --> symbols (exactly the same)

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

**What is sent, and what is counted.** A packet's payload is a bit string: one **flag bit**, then
the cheaper of two forms of the image's symbols,

* flag 0: the **fixed-length index**, ``ceil(log2 alphabet)`` bits per symbol, most significant
  bit first (:func:`fixed_length_bits`);
* flag 1: the **entropy-coded stream** (the range coder's trimmed output, or the Huffman code).

The encoder writes whichever is shorter for *this* image (a tie sends the fixed-length index), so a
learned entropy model can never cost more than ``1 + fixed`` bits: for a near-uniform index such as
a 16-word codebook the range coder's termination would otherwise cost more than the 4-bit index it
codes. All three forms are prefix-free (the range coder's stream decodes alike whatever follows
it), so the payload delimits itself: its length is not hidden in a length field that goes
uncounted, and a learned model cannot beat the entropy of its symbols. The string is zero-padded
to whole bytes. **Bits per image** (:func:`sent_bits`, the one
definition every table uses) is the length of that bit string, flag included: the payload the
device sends for one image. What a transport adds is reported apart, never hidden in it: the
padding to a whole byte, the framing header below, and the wire's own header
(:mod:`coinfer.serve.wire`). Both forms' costs are kept (``bits_fixed``, ``bits_coded``).

The framing header (1 magic byte, the symbol count as a varint, a CRC32: 6+ bytes,
:data:`HEADER_BITS_MIN`) exists so that a truncated or corrupted packet raises
:class:`BitstreamError` instead of decoding to wrong symbols; a real link layer would carry the
length and checksum anyway, so it is transport frame too.

**Trimming the range coder's output.** constriction's range coder writes 32-bit words, so a
20-bit message would cost 32 or 64 bits. Any number inside the coder's final interval decodes to
the same symbols, and the decoder reads missing bits as zeros; the encoder therefore keeps the
shortest *bit* prefix (rounded up by one in its last bit when needed) that *verifiably* decodes to
the same symbols whatever bits follow it: a prefix-free code word, so no length field is needed
(and none is counted) and its expected length cannot fall below the information content. Every
stream is decoded while it is made, so a packet that leaves :func:`range_encode_bits` is known to
round-trip.
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
#: The payload's first bit: which form of the symbols follows (module docstring).
FLAG_BITS = 1
FLAG_FIXED, FLAG_CODED = 0, 1


class BitstreamError(ValueError):
    """A packet is truncated, corrupted, or was made by another coder or model."""


# ------------------------ Framing: magic | varint(symbol count) | CRC32(count + payload) | payload

def _varint(n: int) -> bytes:
    if n < 0:    # n >> 7 stays -1: the loop below would never end
        raise ValueError(f"a packet's symbol count must be >= 0, got {n}")
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
        byte, pos = data[pos], pos + 1
        value, shift = value | (byte & 0x7F) << shift, shift + 7
        if not byte & 0x80:
            return value, pos
        if shift >= 63:   # 9 bytes carry 63 bits, any count there is; a 10th is corruption
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


# ---------------- The payload: a flag bit, then the fixed-length index or the entropy-coded stream

def to_bits(data: bytes) -> np.ndarray:
    """The bits of ``data``, most significant first, as a uint8 array of 0s and 1s."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))


def from_bits(bits: np.ndarray) -> bytes:
    """Bits (0s and 1s, most significant first) packed into bytes, the last one zero-padded."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def symbol_width(alphabet: int) -> int:
    """Bits of one symbol in the fixed-length index: ``ceil(log2 alphabet)``."""
    if alphabet < 2:
        raise ValueError(f"an alphabet needs at least 2 symbols, got {alphabet}")
    return (int(alphabet) - 1).bit_length()   # exact integer ceil(log2): floats round 2**49 + 1 down


def fixed_length_bits(positions: int, alphabet: int) -> int:
    """Bits per image of a fixed-length code: ``positions x ceil(log2 alphabet)`` (no flag)."""
    return positions * symbol_width(alphabet)


def sent_bits(fixed_bits, coded_bits):
    """Bits per image a packet carries: the flag bit plus the shorter of the two forms.

    This is coinfer's one definition of "bits per image" for an entropy-coded configuration (the
    module docstring says what it excludes). Works on numbers and on arrays (one per image).

    Parameters
    ----------
    fixed_bits : int or array
        The fixed-length index, bits (:func:`fixed_length_bits`).
    coded_bits : int or array
        The entropy-coded stream, bits (bit-exact, not rounded to bytes).

    >>> int(sent_bits(4, 7)), int(sent_bits(32, 30))
    (5, 31)
    """
    return FLAG_BITS + np.minimum(fixed_bits, coded_bits)


def fixed_index(symbols: np.ndarray, alphabet: int) -> np.ndarray:
    """The fixed-length index of ``symbols`` (1-D): ``ceil(log2 alphabet)`` bits each, MSB first."""
    width = symbol_width(alphabet)
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((symbols[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)


def read_fixed_index(bits: np.ndarray, n_symbols: int, alphabet: int) -> np.ndarray:
    """Inverse of :func:`fixed_index`: ``n_symbols`` symbols from the front of ``bits``.

    Raises
    ------
    BitstreamError
        If ``bits`` holds fewer than ``n_symbols`` symbols, more than byte padding after them, or a
        symbol outside ``[0, alphabet)``.
    """
    width = symbol_width(alphabet)
    need = n_symbols * width
    if len(bits) < need:
        raise BitstreamError(f"fixed-length payload ends after {len(bits) // width} of {n_symbols} symbols "
                             f"({len(bits)} bits, {width} bits per symbol)")
    if len(bits) - need >= 8:
        raise BitstreamError(f"fixed-length payload has {len(bits) - need} bits left after {n_symbols} symbols "
                             "(more than byte padding): corrupted")
    weights = 1 << np.arange(width - 1, -1, -1, dtype=np.int64)
    symbols = (np.asarray(bits[:need], dtype=np.int64).reshape(n_symbols, width) * weights).sum(1)
    if n_symbols and symbols.max() >= alphabet:
        raise BitstreamError(f"fixed-length payload holds symbol {int(symbols.max())}; the alphabet has {alphabet}")
    return symbols


def choose_payload(fixed: np.ndarray, coded: np.ndarray) -> tuple[bytes, int]:
    """The payload of one image: the flag bit, then the shorter bit string (a tie sends ``fixed``).

    Returns
    -------
    payload : bytes
        Zero-padded to whole bytes.
    bits : int
        Its length before padding, flag included (:func:`sent_bits` of the two lengths).
    """
    flag, body = (FLAG_CODED, coded) if len(coded) < len(fixed) else (FLAG_FIXED, fixed)
    bits = np.concatenate([np.array([flag], dtype=np.uint8), np.asarray(body, dtype=np.uint8)])
    return from_bits(bits), len(bits)


def read_flag(payload: bytes) -> tuple[int, np.ndarray]:
    """``(flag, the bits after it)`` of a payload made by :func:`choose_payload`."""
    bits = to_bits(payload)
    if not len(bits):
        raise BitstreamError("empty payload: a payload holds at least its 1-bit flag")
    return int(bits[0]), bits[1:]


@dataclass(frozen=True)
class Coded:
    """Packets of a batch of images and what each costs, bits per image (transport excluded):
    ``sent`` (int array: flag + the shorter form, :func:`sent_bits`), ``fixed`` (int: the
    fixed-length index), ``coded`` (int array: each image's entropy-coded stream, sent or not)."""

    packets: list
    sent: np.ndarray
    fixed: int
    coded: np.ndarray


# --------------------------------------------- Range coding (constriction) with bit-level trimming

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
    if p.size and not (np.isfinite(p).all() and (p >= 0).all() and (p.sum(1) > 0).all()):
        raise ValueError("probabilities must be finite, non-negative and not all zero in a row, got "
                         f"values in [{p.min()}, {p.max()}]")
    return np.ascontiguousarray(p)


def _integer_symbols(symbols, alphabet: int) -> np.ndarray:
    """``symbols`` as int64, refused unless each is an integer in ``[0, alphabet)``: none truncated."""
    given = np.asarray(symbols.detach().cpu() if isinstance(symbols, torch.Tensor) else symbols)
    as_int = given.astype(np.int64)
    if given.dtype.kind not in "biu" and not np.array_equal(as_int, given):
        raise ValueError(f"symbols must be integers, got {given.dtype} values such as {given.reshape(-1)[:3]}")
    if as_int.size and (as_int.min() < 0 or as_int.max() >= alphabet):
        raise ValueError(f"symbols must lie in [0, {alphabet}), got range [{as_int.min()}, {as_int.max()}]")
    return as_int


#: Ones appended to a candidate stream to test its interval's upper end: beyond the range coder's
#: 64-bit state, so a stream that passes decodes alike whatever follows it.
_CONTINUATION_BITS = 64


def range_encode_bits(symbols: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Range-code ``symbols`` (1-D ints) with one categorical distribution per symbol.

    Parameters
    ----------
    symbols : int array, shape (n,)
        Each in ``[0, alphabet)``.
    probabilities : float array, shape (n, alphabet) or (1, alphabet)
        Need not be normalized; a row of shape (1, alphabet) is used for every symbol.

    Returns
    -------
    uint8 array of 0s and 1s
        The stream (no header, no flag): the shortest bit string, a prefix of the sealed
        range-coder output or that prefix plus one in its last bit, that decodes back to
        ``symbols`` **whatever bits follow it** (checked here by decoding it followed by zeros and
        followed by ones). The streams of different messages are therefore prefix-free, a code
        that needs no length field: its expected length is at least the information content
        (Kraft), and at most about 2 bits more.
    """
    import constriction

    if (symbols := np.asarray(symbols)).ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {symbols.shape}")
    probabilities = _as_probabilities(probabilities, len(symbols))
    symbols = _integer_symbols(symbols, probabilities.shape[1]).astype(np.int32)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols, _categorical(), probabilities)
    full = to_bits(encoder.get_compressed().astype(">u4").tobytes())
    ones = np.ones(_CONTINUATION_BITS, dtype=np.uint8)

    def decodes(candidate: np.ndarray) -> bool:
        # Decoding is monotone in the code value, so the lowest (zeros) and the highest (ones)
        # continuation decoding right means every continuation does.
        try:
            return all(np.array_equal(_range_decode_raw(from_bits(c), probabilities), symbols)
                       for c in (candidate, np.concatenate([candidate, ones])))
        except BitstreamError:
            return False

    def stream_of(n: int) -> np.ndarray | None:
        prefix = full[:n]
        if decodes(prefix):
            return prefix
        zeros = np.flatnonzero(prefix == 0)
        if len(zeros):   # prefix + 1 in its last bit: the last 0 becomes 1, the 1s after it 0s
            up = prefix.copy()
            up[zeros[-1]], up[zeros[-1] + 1:] = 1, 0
            if decodes(up):
                return up
        return None

    # A prefix-free stream of n bits spans 2^-n of the code space, inside the message's interval of
    # about 2^-info: n >= info, up to the coder's rounding of the probabilities, which gives every
    # symbol about 2^-24 at least (a rarer one costs about 24 bits, a zero-probability one is codable).
    p = np.maximum(probabilities[np.arange(len(symbols)), symbols] / probabilities.sum(1), 2.0 ** -24)
    start = min(max(0, int(-np.log2(p).sum()) - 2), len(full))
    for n in range(start, len(full) + 1):
        if (stream := stream_of(n)) is not None:
            break
    else:
        raise RuntimeError("range coder output does not decode back to its symbols")   # constriction misbehaved
    while n == start > 0 and (shorter := stream_of(n - 1)) is not None:
        stream, n, start = shorter, n - 1, n - 1   # the rounding made the bound loose: keep looking below it
    return stream


def range_encode(symbols: np.ndarray, probabilities: np.ndarray) -> bytes:
    """:func:`range_encode_bits` packed into bytes (zero-padded), which :func:`range_decode` reads."""
    return from_bits(range_encode_bits(symbols, probabilities))


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
        if not (math.isfinite(prior) and prior > 0):
            raise ValueError(f"prior must be positive pseudo-counts (they keep every symbol codable), got {prior}")
        symbols = self._check(symbols)
        counts = torch.zeros(self.positions, self.alphabet, dtype=torch.float64)
        counts.scatter_add_(1, symbols.t().cpu(), torch.ones(symbols.t().shape, dtype=torch.float64))
        counts += prior
        self.probabilities.copy_((counts / counts.sum(1, keepdim=True)).to(self.probabilities))
        return self

    def _check(self, symbols: torch.Tensor) -> torch.Tensor:
        symbols = torch.as_tensor(symbols)
        if symbols.ndim != 2 or symbols.shape[1] != self.positions:
            raise ValueError(f"symbols must have shape (images, {self.positions}), got {tuple(symbols.shape)}")
        if symbols.is_floating_point() or symbols.numel() and (symbols.min() < 0 or symbols.max() >= self.alphabet):
            _integer_symbols(symbols, self.alphabet)   # raises, naming them (the symbols copied only then)
        return symbols.long()

    def likelihoods(self, symbols: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Model probability of each symbol, (images, positions); ``check=False``: symbols in range by construction."""
        symbols = self._check(symbols) if check else symbols.long()      # checking reads them back
        probs = self.probabilities.to(symbols.device)
        return probs.expand(len(symbols), -1, -1).gather(2, symbols.unsqueeze(2)).squeeze(2)

    def information_bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """Ideal code length ``-sum log2 p`` per image under this model (bits), shape (images,)."""
        return -torch.log2(self.likelihoods(symbols).double()).sum(1)

    def range_table(self) -> np.ndarray:
        """The table the range coder codes with (float64, positions x alphabet), at both ends alike."""
        return self.probabilities.detach().cpu().double().numpy()

    @property
    def fixed_bits(self) -> int:
        """Bits of the fixed-length index of one image (no flag)."""
        return fixed_length_bits(self.positions, self.alphabet)

    def encode_with_costs(self, symbols: torch.Tensor) -> Coded:
        """One packet per image (row of ``symbols``), with what each form costs.

        Each payload is the flag and the shorter of the fixed-length index and the range-coded
        stream (module docstring); both lengths are returned.
        """
        symbols = self._check(symbols).cpu().numpy()
        table = self.range_table()
        packets, sent, coded = [], [], []
        for row in symbols:
            stream = range_encode_bits(row, table)
            payload, bits = choose_payload(fixed_index(row, self.alphabet), stream)
            packets.append(frame(payload, self.positions, self.magic))
            sent.append(bits)
            coded.append(len(stream))
        return Coded(packets, np.asarray(sent, dtype=np.int64), self.fixed_bits, np.asarray(coded, dtype=np.int64))

    def encode(self, symbols: torch.Tensor) -> list[bytes]:
        """One packet per image (row of ``symbols``); :meth:`encode_with_costs` tells their costs."""
        return self.encode_with_costs(symbols).packets

    def _payload(self, packet: bytes, i: int = 0) -> tuple[int, np.ndarray]:
        n, payload = unframe(packet, self.magic)
        if n != self.positions:
            raise BitstreamError(f"packet {i} announces {n} symbols; this model codes "
                                 f"{self.positions} per image")
        return read_flag(payload)

    def decode(self, packets: list[bytes]) -> torch.Tensor:
        """Symbols (images x positions) of packets made by :meth:`encode` with the same model."""
        table = self.range_table()
        rows = []
        for i, packet in enumerate(packets):
            flag, bits = self._payload(packet, i)
            if flag == FLAG_FIXED:
                rows.append(read_fixed_index(bits, self.positions, self.alphabet))
            else:
                rows.append(range_decode(from_bits(bits), table, self.positions))
        return torch.as_tensor(np.stack(rows) if rows else np.zeros((0, self.positions), np.int64))

    def payload_bits(self, packet: bytes) -> int:
        """Bits per image this packet carries (:func:`sent_bits`): flag + the form it holds."""
        flag, bits = self._payload(packet)
        if flag == FLAG_FIXED:
            return FLAG_BITS + self.fixed_bits
        # The stream is prefix-free, so its length is not written anywhere: re-encode what it decodes to.
        table = self.range_table()
        return FLAG_BITS + len(range_encode_bits(range_decode(from_bits(bits), table, self.positions), table))


def bits_per_image(packets: list[bytes], coder) -> np.ndarray:
    """Bits per image of each packet, read back from the packets (module docstring: flag included,
    framing excluded). ``coder`` made them: a :class:`CategoricalEntropyModel` or :class:`HuffmanCode`."""
    return np.array([coder.payload_bits(p) for p in packets], dtype=np.int64)


# ------------------------------------------------------------------------------- Empirical entropy

def empirical_entropy_bits(symbols: torch.Tensor | np.ndarray, alphabet: int, shared: bool = False) -> float:
    """Plug-in entropy of ``symbols`` (images x positions), in bits per image.

    ``shared=False``: one distribution per position, entropies summed over positions (what a
    per-position model can reach). ``shared=True``: one distribution pooled over all positions,
    times the number of positions (what a single i.i.d. model such as the Huffman baseline's can).
    """
    s = _integer_symbols(symbols, alphabet)   # one symbol out of range would land in the next position's counts
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


# --------------------------------------------------- Canonical Huffman code (the baseline's coder)

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
        return cls.from_counts(np.bincount(_integer_symbols(np.asarray(symbols).reshape(-1), alphabet),
                                           minlength=alphabet) + 1)

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
        return np.asarray(self.lengths, dtype=np.int64)[_integer_symbols(symbols, self.alphabet)].sum(-1)

    def encode_bits(self, symbols: np.ndarray) -> np.ndarray:
        """The Huffman code of ``symbols`` (1-D) as bits (0s and 1s), MSB first."""
        symbols = _integer_symbols(np.asarray(symbols).reshape(-1), self.alphabet)
        lengths = np.asarray(self.lengths, dtype=np.int64)[symbols]
        codes = self._codes()[symbols]
        total = int(lengths.sum())
        owner = np.repeat(np.arange(len(symbols)), lengths)
        starts = np.cumsum(lengths) - lengths
        shift = (lengths[owner] - 1 - (np.arange(total) - starts[owner])).astype(np.uint64)
        return ((codes[owner] >> shift) & np.uint64(1)).astype(np.uint8)

    def read_bits(self, bits: np.ndarray, n_symbols: int) -> tuple[np.ndarray, int]:
        """Inverse of :meth:`encode_bits`: ``(n_symbols symbols, bits they used)``.

        Raises :class:`BitstreamError` if ``bits`` end first, hold an invalid code word, or hold
        more than byte padding after the symbols.
        """
        codes = self._codes()
        table = {(self.lengths[s], int(codes[s])): s for s in range(self.alphabet)}
        out, code, length, pos = [], 0, 0, 0
        max_len = max(self.lengths)
        while len(out) < n_symbols:
            if pos >= len(bits):
                raise BitstreamError(f"Huffman payload ends after {len(out)} of {n_symbols} symbols")
            code, pos, length = (code << 1) | int(bits[pos]), pos + 1, length + 1
            symbol = table.get((length, code))
            if symbol is not None:
                out.append(symbol)
                code = length = 0
            elif length > max_len:
                raise BitstreamError("invalid Huffman code word in payload (corrupted)")
        if len(bits) - pos >= 8:
            raise BitstreamError(f"Huffman payload has {len(bits) - pos} bits left after {n_symbols} "
                                 "symbols (more than byte padding): corrupted")
        return np.asarray(out, dtype=np.int64), pos

    def encode_with_costs(self, symbols: np.ndarray) -> Coded:
        """One packet per image (row of ``symbols``, images x positions), with what each form costs.

        Each payload is the flag and the shorter of the fixed-length levels (``ceil(log2
        alphabet)`` bits each) and the Huffman code (module docstring).
        """
        symbols = np.asarray(symbols)
        if symbols.ndim != 2:
            raise ValueError(f"symbols must be 2-D (images, positions), got shape {symbols.shape}")
        packets, sent, coded = [], [], []
        for row in symbols:
            stream = self.encode_bits(row)
            payload, bits = choose_payload(fixed_index(row, self.alphabet), stream)
            packets.append(frame(payload, symbols.shape[1], self.magic))
            sent.append(bits)
            coded.append(len(stream))
        return Coded(packets, np.asarray(sent, dtype=np.int64), fixed_length_bits(symbols.shape[1], self.alphabet),
                     np.asarray(coded, dtype=np.int64))

    def encode(self, symbols: np.ndarray) -> list[bytes]:
        """One packet per image (row of ``symbols``, images x positions)."""
        return self.encode_with_costs(symbols).packets

    def _read(self, packet: bytes) -> tuple[np.ndarray, int]:
        n, payload = unframe(packet, self.magic)
        flag, bits = read_flag(payload)
        if flag == FLAG_FIXED:
            return read_fixed_index(bits, n, self.alphabet), FLAG_BITS + fixed_length_bits(n, self.alphabet)
        symbols, used = self.read_bits(bits, n)
        return symbols, FLAG_BITS + used

    def decode(self, packets: list[bytes]) -> np.ndarray:
        return np.stack([self._read(packet)[0] for packet in packets]) if packets else np.zeros((0, 0), np.int64)

    def payload_bits(self, packet: bytes) -> int:
        """Bits per image this packet carries (:func:`sent_bits`): flag + the form it holds (decodes it)."""
        return self._read(packet)[1]

    def entropy_bits(self, counts) -> float:
        """Expected bits per symbol of this code under the distribution ``counts``."""
        p = np.asarray(counts, dtype=np.float64)
        return float((p / p.sum() * np.asarray(self.lengths)).sum())

