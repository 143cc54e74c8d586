"""Property-based fuzzing of every payload decoder a server runs on bytes from the network.

The range coder and the learned codec (:class:`~coinfer.core.entropy.CategoricalEntropyModel`,
:class:`~coinfer.core.encoding.FeatureCodec`), the Huffman code (:class:`~coinfer.core.entropy.HuffmanCode`)
and the float32 and uint8 codecs. Contract: any packet decodes to values of the announced shape
and alphabet (finite features) or raises the documented error (:class:`~coinfer.core.entropy.BitstreamError`
for entropy-coded packets; ValueError, of which BitstreamError is one, for float32 and uint8, which
the server answers with BAD_PAYLOAD); within a deadline; and a packet that claims a huge symbol
count is refused before anything is allocated.

Inputs: random bytes and mutations of valid packets (bit flips, truncation, extension, overwritten,
inserted or deleted bytes). Most mutations break the packet's CRC-32, so the packets are also
*re-framed*: the payload is mutated, or the symbol count changed, and the header rebuilt with a
valid CRC, so that the range and Huffman decoders themselves see the garbage. Cases per run:
see ``CASES``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from coinfer.core.entropy import (MAGIC_HUFFMAN, MAGIC_RANGE, BitstreamError, CategoricalEntropyModel,
                                  HuffmanCode, frame, range_decode, unframe)
from coinfer.core.codecs import Float32Codec, Uint8Codec
from fuzz_support import fuzz_settings, mutated, no_hang, peak_allocation

#: max_examples of each test below; their sum is the number of fuzz cases per run.
CASES = {"range": 500, "range_raw": 300, "learned": 200, "huffman": 500, "served": 800}   # served: the server's codecs are core.codecs'

COUNTS = st.one_of(st.integers(0, 300), st.sampled_from([2**31, 2**32, 2**62, 2**63 - 1]))


# -- valid packets to start from (built once) ------------------------------------------------------

@functools.lru_cache(maxsize=None)
def range_models() -> list[tuple[CategoricalEntropyModel, list[bytes]]]:
    """(model, valid packets) for per-element codewords, a vector codebook and a skewed model."""
    rng = np.random.default_rng(0)
    out = []
    for positions, alphabet, skew in ((8, 4, 1.0), (1, 64, 1.0), (24, 16, 4.0)):
        weights = rng.random(alphabet) ** skew
        symbols = torch.as_tensor(rng.choice(alphabet, size=(200, positions), p=weights / weights.sum()))
        model = CategoricalEntropyModel(positions, alphabet).fit(symbols)
        out.append((model, model.encode(symbols[:6])))
    return out


@functools.lru_cache(maxsize=None)
def huffman_codes() -> list[tuple[HuffmanCode, list[bytes]]]:
    rng = np.random.default_rng(1)
    out = []
    for alphabet, positions in ((256, 64), (5, 40)):
        samples = np.minimum(rng.geometric(0.2, size=(100, positions)) - 1, alphabet - 1)
        code = HuffmanCode.from_samples(samples, alphabet)
        out.append((code, code.encode(samples[:6])))
    return out


@functools.lru_cache(maxsize=None)
def learned_codec():
    from coinfer.core.encoding import build_codec

    torch.manual_seed(0)
    codec = build_codec((32,), "d8-l4").eval()
    features = torch.randn(64, 32)
    codec.fit_entropy_model(features)
    return codec, codec.compress(features[:6])


def reframed(packet: bytes, magic: int):
    """A strategy: ``packet`` with its payload mutated and/or its symbol count changed, re-framed with
    a valid CRC-32 (so that the decoder proper sees it)."""
    n, payload = unframe(packet, magic)
    return st.tuples(st.one_of(st.just(payload), mutated(payload), st.binary(max_size=48)),
                     st.one_of(st.just(n), COUNTS)).map(lambda p: frame(p[0], p[1], magic))


def packets_for(valid: list[bytes], magic: int):
    """Random bytes, byte mutations of a valid packet, or re-framed mutations."""
    return st.sampled_from(valid).flatmap(lambda packet: st.one_of(
        st.binary(max_size=48), mutated(packet), reframed(packet, magic), reframed(packet, magic)))


# -- range coder ---------------------------------------------------------------------------------

@fuzz_settings(CASES["range"])
@given(data=st.data())
def test_range_coded_packets_decode_or_raise_bitstream_error(data):
    model, valid = data.draw(st.sampled_from(range_models()))
    packet = data.draw(packets_for(valid, MAGIC_RANGE))
    with no_hang():
        try:
            symbols = model.decode([packet])
        except BitstreamError:
            return
    assert symbols.shape == (1, model.positions)
    assert int(symbols.min()) >= 0 and int(symbols.max()) < model.alphabet


@fuzz_settings(CASES["range_raw"])
@given(data=st.data())
def test_range_decoder_on_raw_garbage(data):
    """The decoder under the framing: any payload for a known symbol count."""
    model, valid = data.draw(st.sampled_from(range_models()))
    payload = data.draw(st.one_of(st.binary(max_size=64), mutated(unframe(valid[0], MAGIC_RANGE)[1])))
    table = model.probabilities.double().numpy()
    with no_hang():
        try:
            symbols = range_decode(payload, table, model.positions)
        except BitstreamError:
            return
    assert symbols.shape == (model.positions,) and symbols.min() >= 0 and symbols.max() < model.alphabet


@fuzz_settings(CASES["learned"])
@given(data=st.data())
def test_learned_codec_decompresses_or_raises_bitstream_error(data):
    codec, valid = learned_codec()
    packet = data.draw(packets_for(valid, MAGIC_RANGE))
    with no_hang():
        try:
            features = codec.decompress([packet])
        except BitstreamError:
            return
    assert features.shape == (1, 32) and torch.isfinite(features).all()


# -- Huffman -------------------------------------------------------------------------------------

@fuzz_settings(CASES["huffman"])
@given(data=st.data())
def test_huffman_packets_decode_or_raise_bitstream_error(data):
    code, valid = data.draw(st.sampled_from(huffman_codes()))
    packet = data.draw(packets_for(valid, MAGIC_HUFFMAN))
    with no_hang():
        try:
            symbols = code.decode([packet])
        except BitstreamError:
            return
    n, payload = unframe(packet, MAGIC_HUFFMAN)
    assert symbols.shape == (1, n) and (n == 0 or (symbols.min() >= 0 and symbols.max() < code.alphabet))
    bits = code.payload_bits(packet)   # flag + the form it holds: fixed 8-bit levels or Huffman bits
    assert bits in (1 + 8 * n, 1 + code.bit_length(symbols[0])) and bits <= 8 * len(payload) < bits + 8


# -- the served float32 and uint8 codecs (coinfer.serve.configuration) ---------------------------

SHAPE = (4, 3, 3)
SPECIAL = st.floats(width=32) | st.sampled_from([3.4e38, -3.4e38, 1e-45, float("nan"), float("inf"), -float("inf")])


@functools.lru_cache(maxsize=None)
def served_codecs() -> dict:
    """Each codec with valid payloads of features at three scales (1e-30, 1, 1e30)."""
    torch.manual_seed(0)
    features = torch.cat([torch.randn(2, *SHAPE) * scale for scale in (1e-30, 1.0, 1e30)])
    return {codec.name: (codec, codec.compress(features))
            for codec in (Float32Codec(SHAPE), Uint8Codec(SHAPE))}


def _with_floats(packet: bytes, draw, offsets) -> bytes:
    """Some float32 fields (at ``offsets``) set to extreme or non-finite values."""
    data = bytearray(packet)
    for offset in draw(st.lists(st.sampled_from(offsets), min_size=1, max_size=3)):
        data[offset:offset + 4] = np.float32(draw(SPECIAL)).astype("<f4").tobytes()
    return bytes(data)


@st.composite
def served_payloads(draw, name):
    _, valid = served_codecs()[name]
    payload = draw(st.sampled_from(valid))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=len(payload) + 8))
    if kind == 1:
        return draw(mutated(payload))
    floats = [0, 4] if name == "uint8" else list(range(0, len(payload), 4))   # uint8: lo, hi
    return _with_floats(payload, draw, floats)


@fuzz_settings(CASES["served"])
@given(name=st.sampled_from(["float32", "uint8"]), data=st.data())
def test_float32_and_uint8_decoders_return_finite_features_or_raise_value_error(name, data):
    codec, _ = served_codecs()[name]
    payload = data.draw(served_payloads(name))
    with no_hang():
        try:
            feature = codec.decompress([payload])[0]
        except ValueError:   # the server answers BAD_PAYLOAD
            return
    assert feature.shape == SHAPE and feature.dtype == torch.float32
    assert torch.isfinite(feature).all(), f"{name} decoded a non-finite feature"
    if name == "float32":
        assert feature.numpy().astype("<f4").tobytes() == payload
    else:
        lo, hi = (float(v) for v in np.frombuffer(payload[:8], dtype="<f4"))
        span = hi - lo if hi > lo else 1.0   # lo == hi: levels 1/255 apart (an encoder sends q = 0)
        slack = 1e-5 * max(span, abs(lo), abs(hi))
        assert lo <= hi and lo - slack <= float(feature.min()) and float(feature.max()) <= lo + span + slack


def test_non_finite_features_are_refused():
    """Found by the fuzzing above: a NaN in a float32 payload, or a uint8 range whose levels overflow
    float32, used to decode into a feature that made the server answer NaN logits."""
    float32, uint8 = Float32Codec(SHAPE), Uint8Codec(SHAPE)
    payload = bytearray(float32.compress(torch.zeros(1, *SHAPE))[0])
    payload[:4] = np.float32("nan").tobytes()
    with pytest.raises(ValueError, match="NaN or infinite"):
        float32.decompress([bytes(payload)])
    wide = np.array([-3.4e38, 3.4e38], dtype="<f4").tobytes() + b"\xff" * math.prod(SHAPE)
    with pytest.raises(ValueError, match="overflows float32"):
        uint8.decompress([wide])


# -- adversarial counts: refused before allocating -------------------------------------------------

def test_range_packet_claiming_huge_symbol_count_is_refused_without_allocating():
    model, valid = range_models()[0]
    n, payload = unframe(valid[0], MAGIC_RANGE)
    packet = frame(payload, 2**63 - 1, MAGIC_RANGE)
    peak, outcome = peak_allocation(model.decode, [packet])
    assert isinstance(outcome, BitstreamError) and "announces" in str(outcome)
    assert peak < 64 * 1024


def test_huffman_packet_claiming_huge_symbol_count_costs_only_its_own_bits():
    code, _ = huffman_codes()[0]
    packet = frame(b"\x55" * 1000, 2**62, MAGIC_HUFFMAN)
    with no_hang():
        peak, outcome = peak_allocation(code.decode, [packet])
    assert isinstance(outcome, BitstreamError) and "ends after" in str(outcome)
    assert peak < 2_000_000   # 8,000 bits unpacked and at most 8,000 symbols, never 2**62


def test_symbol_count_longer_than_a_varint_can_hold_is_refused():
    packet = bytes([MAGIC_RANGE]) + b"\xff" * 20
    with pytest.raises(BitstreamError, match="symbol count"):
        unframe(packet, MAGIC_RANGE)


def test_learned_packet_claiming_another_symbol_count_is_refused():
    codec, valid = learned_codec()
    _, payload = unframe(valid[0], MAGIC_RANGE)
    peak, outcome = peak_allocation(codec.decompress, [frame(payload, 2**40, MAGIC_RANGE)])
    assert isinstance(outcome, BitstreamError) and peak < 64 * 1024
