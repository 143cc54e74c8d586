"""Tests of the two-step feature encoder (coinfer.core.encoding), its bitstreams (coinfer.core.entropy) and the
encoding experiment (coinfer.experiments.encoding). Tiny networks and inputs: seconds on 2 CPU cores."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from coinfer.core.encoding import (CodeSize, DimensionReductionDecoder, DimensionReductionEncoder, FeatureCodec,
                            ScalarCodebookQuantizer, UniformQuantizer, VectorCodebookQuantizer, build_codec,
                            codec_costs)
from coinfer.core.entropy import (FLAG_CODED, FLAG_FIXED, HEADER_BITS_MIN, MAGIC_HUFFMAN, MAGIC_RANGE,
                             BitstreamError, CategoricalEntropyModel, HuffmanCode, bits_per_image,
                             empirical_entropy_bits, fixed_index, frame, range_decode, range_encode,
                             range_encode_bits, read_flag, sent_bits, symbol_width, unframe)
from coinfer.core.network import resnet18, split
from coinfer.core.costs import flop_counter_macs, thop_macs


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return resnet18(width=1 / 16).eval()


def _features(net, point, n=12, seed=0):
    device_part, server_part = split(net, point)
    images = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return device_part(images), device_part, server_part


def _trained_codec(features, code_size):
    """A codec whose codewords and entropy model were set from ``features`` (no training needed)."""
    codec = build_codec(tuple(features.shape[1:]), code_size).eval()
    with torch.no_grad():
        codec.bottleneck.init_kmeans(codec.encoder(features))
    codec.fit_entropy_model(features)
    return codec


# ------------------------------------------------------------------------------- code sizes, shapes

def test_code_size_parse_and_bits():
    size = CodeSize.parse("c4-d16-l4")
    assert (size.channels, size.dim, size.levels, size.kind) == (4, 16, 4, "scalar")
    assert str(size) == "c4-d16-l4" and size.fixed_bits == 32 and size.positions == 16
    vq = CodeSize.parse("d8-k64")
    assert vq.channels is None and vq.kind == "vector" and vq.positions == 1 and vq.fixed_bits == 6
    assert CodeSize.parse("d5-l3").fixed_bits == 5 * 2   # fixed length rounds log2 L up per element


@pytest.mark.parametrize("bad", ["", "d16", "c4-d16-x4", "d0-l4", "d16-l1", "c0-d4-l2"])
def test_bad_code_size_names_the_value(bad):
    with pytest.raises(ValueError, match="code size|must be"):
        CodeSize.parse(bad)


@pytest.mark.parametrize("point, code_size", [("layer1.1", "c2-d16-l4"), ("layer2.1", "c2-d8-k16"),
                                              ("layer3.1", "c4-d16-l2"), ("pool", "d8-l4"), ("pool", "d4-k8")])
def test_shapes_round_trip_to_the_feature_shape(net, point, code_size):
    features, _, server_part = _features(net, point, n=4)
    codec = build_codec(tuple(features.shape[1:]), code_size)
    out = codec(features)
    size = CodeSize.parse(code_size)
    assert out["z"].shape == (4, size.dim)
    assert out["feature_hat"].shape == features.shape
    assert out["symbols"].shape == (4, size.positions) and out["symbols"].dtype == torch.int64
    assert out["likelihoods"].shape == (4, size.positions)
    assert out["z"].abs().max() <= 1            # tanh-bounded
    assert (out["feature_hat"] >= 0).all()      # like the ReLU feature the server expects
    assert server_part(out["feature_hat"]).shape == (4, 10)


def test_mismatched_code_size_and_feature_raise(net):
    features, _, _ = _features(net, "layer2.1", n=2)
    with pytest.raises(ValueError, match="lacks 'c<channels>-'"):
        build_codec(tuple(features.shape[1:]), "d8-l2")
    with pytest.raises(ValueError, match="has none"):
        build_codec((32,), "c2-d8-l2")
    encoder = DimensionReductionEncoder((8, 8, 8), dim=4, channels=2)
    with pytest.raises(ValueError, match=r"expects features of shape \(B, 8, 8, 8\)"):
        encoder(torch.zeros(2, 4, 8, 8))


def test_conv_only_encoder_for_bottlenet_style_use():
    encoder = DimensionReductionEncoder((16, 8, 8), dim=None, channels=2, activation="sigmoid")
    decoder = DimensionReductionDecoder((16, 8, 8), dim=None, channels=2)
    z = encoder(torch.randn(3, 16, 8, 8))
    assert z.shape == (3, 2, 8, 8) and ((z > 0) & (z < 1)).all()
    assert decoder(z).shape == (3, 16, 8, 8)


# ------------------------------------------------------------------------------- MACs

def test_encoder_macs_match_a_hand_count_and_add_up(net):
    features, device_part, server_part = _features(net, "layer2.1", n=2)
    C, H, W = features.shape[1:]                    # 8 x 16 x 16 at width 1/16
    codec = build_codec((C, H, W), "c2-d16-l4")
    c, d, L = 2, 16, 4
    conv_and_linear = C * c * 9 * H * W + c * H * W * d
    assert flop_counter_macs(codec.encoder, (C, H, W)) == conv_and_linear
    # thop also counts the two BatchNorms on top
    bn_macs = thop_macs(torch.nn.BatchNorm2d(c), (c, H, W))[0] + thop_macs(torch.nn.BatchNorm1d(d), (d,))[0]
    assert bn_macs > 0
    assert thop_macs(codec.encoder, (C, H, W))[0] == conv_and_linear + bn_macs
    costs = codec_costs(device_part, codec, server_part)
    assert costs.encoder_macs == thop_macs(codec.encoder, (C, H, W))[0] + d * L   # + codeword search
    assert costs.device_macs == thop_macs(device_part, (3, 32, 32))[0] + costs.encoder_macs
    assert costs.server_macs == thop_macs(server_part, (C, H, W))[0] + costs.decoder_macs
    assert costs.network_macs == thop_macs(net, (3, 32, 32))[0]
    assert costs.device_params == (sum(p.numel() for p in device_part.parameters())
                                   + sum(p.numel() for p in codec.encoder.parameters()) + d * L)
    assert 0 < costs.encoder_share < 0.2


# ------------------------------------------------------------------------------- quantizers

def test_scalar_quantizer_outputs_only_its_codewords_in_training_too():
    torch.manual_seed(1)
    q = ScalarCodebookQuantizer(dim=6, levels=4).train()
    z = torch.rand(50, 6) * 2 - 1
    q.init_kmeans(z)
    out = q(z)
    for i in range(6):
        assert torch.isin(out["z_hat"][:, i], q.codewords[i]).all()
    expected = (z.unsqueeze(2) - q.codewords.unsqueeze(0)).abs().argmin(2)
    assert torch.equal(out["symbols"], expected)                 # the nearest codeword
    assert torch.equal(q.dequantize(out["symbols"]), out["z_hat"].detach())


def test_vector_quantizer_sends_one_index_per_image():
    q = VectorCodebookQuantizer(dim=5, codewords=8).train()
    z = torch.rand(40, 5) * 2 - 1
    q.init_kmeans(z)
    out = q(z)
    assert out["symbols"].shape == (40, 1)
    assert torch.equal(out["z_hat"], q.codebook[out["symbols"][:, 0]])
    assert torch.equal(out["symbols"][:, 0], torch.cdist(z, q.codebook).argmin(1))


@pytest.mark.parametrize("code_size", ["c2-d8-l4", "c2-d8-k16"])
def test_gradients_reach_encoder_and_codewords(net, code_size):
    features, _, server_part = _features(net, "layer2.1", n=16)
    codec = build_codec(tuple(features.shape[1:]), code_size).train()
    with torch.no_grad():
        codec.bottleneck.init_kmeans(codec.encoder(features))
    out = codec(features)
    loss = torch.nn.functional.cross_entropy(server_part(out["feature_hat"]), torch.arange(16) % 10)
    loss.backward()   # task loss only: codewords must still learn (soft-to-hard backward pass)
    assert codec.encoder.net[0].weight.grad.abs().sum() > 0
    codewords = next(codec.bottleneck.parameters())
    assert codewords.grad is not None and codewords.grad.abs().sum() > 0


def test_disabled_quantizer_passes_z_through():
    q = ScalarCodebookQuantizer(dim=3, levels=2)
    q.enabled = False
    z = torch.rand(4, 3)
    out = q(z)
    assert out["z_hat"] is z and out["symbols"] is None


def test_uniform_quantizer_8bit():
    q = UniformQuantizer(8).fit_range(torch.tensor([0.0, 2.55]))
    x = torch.tensor([0.0, 0.004, 0.006, 1.0, 2.55, 9.0])
    s = q.quantize(x)
    assert s.tolist() == [0, 0, 1, 100, 255, 255]          # 9.0 is above the range: clipped to 255
    assert (q.dequantize(s)[:5] - x[:5]).abs().max() <= 0.005 + 1e-6
    with pytest.raises(ValueError, match="bits must be in"):
        UniformQuantizer(0)


# ------------------------------------------------------------------------------- real bitstreams

@pytest.mark.parametrize("code_size", ["c2-d16-l4", "c2-d8-k16"])
def test_compress_decompress_is_exact(net, code_size):
    features, _, _ = _features(net, "layer2.1", n=12)
    codec = _trained_codec(features, code_size)
    packets = codec.compress(features)
    assert len(packets) == 12 and all(isinstance(p, bytes) for p in packets)
    with torch.no_grad():
        expected = codec(features)
    assert torch.equal(codec.entropy_model.decode(packets), expected["symbols"])
    assert torch.equal(codec.decompress(packets), expected["feature_hat"])


def test_bits_are_the_flag_and_the_shorter_form(net):
    features, _, _ = _features(net, "layer2.1", n=12)
    codec = _trained_codec(features, "c2-d16-l4")
    coded = codec.entropy_model.encode_with_costs(codec.symbols(features))
    assert coded.packets == codec.compress(features) and coded.fixed == 32
    assert coded.sent.tolist() == (1 + np.minimum(coded.fixed, coded.coded)).tolist()
    assert (coded.sent == sent_bits(coded.fixed, coded.coded)).all()
    # read back from the packets alone; the payload is those bits padded to a byte, after the header
    assert bits_per_image(coded.packets, codec.entropy_model).tolist() == coded.sent.tolist()
    header_bytes = 1 + 1 + 4          # magic, varint(16), CRC32
    assert [len(p) - header_bytes for p in coded.packets] == [math.ceil(b / 8) for b in coded.sent.tolist()]
    assert HEADER_BITS_MIN == 8 * header_bytes


def _skewed_model(positions=16, alphabet=4, p=(0.85, 0.05, 0.05, 0.05), n=400, seed=0):
    rng = np.random.default_rng(seed)
    symbols = torch.as_tensor(rng.choice(alphabet, size=(n, positions), p=p))
    return CategoricalEntropyModel(positions, alphabet).fit(symbols), symbols


@pytest.mark.parametrize("p, flag", [((0.85, 0.05, 0.05, 0.05), FLAG_CODED), ((0.25, 0.25, 0.25, 0.25), FLAG_FIXED)])
def test_each_branch_round_trips_and_the_shorter_one_is_sent(p, flag):
    """A skewed model range-codes (its stream is shorter than the 32-bit index); a uniform one sends the index."""
    model, symbols = _skewed_model(p=p)
    coded = model.encode_with_costs(symbols)
    assert torch.equal(model.decode(coded.packets), symbols)
    flags = np.array([read_flag(unframe(packet, MAGIC_RANGE)[1])[0] for packet in coded.packets])
    assert (flags == np.where(coded.coded < coded.fixed, FLAG_CODED, FLAG_FIXED)).all()   # the shorter, ties: fixed
    assert (flags == flag).mean() > 0.9
    for packet, row, chosen in zip(coded.packets, symbols.numpy(), flags):
        stream = range_encode_bits(row, model.probabilities.double().numpy())
        index = fixed_index(row, 4)
        body = read_flag(unframe(packet, MAGIC_RANGE)[1])[1]
        sent = stream if chosen == FLAG_CODED else index
        assert len(sent) == min(len(stream), len(index)) and np.array_equal(body[:len(sent)], sent)


def test_range_streams_are_prefix_free_and_never_beat_the_information_content():
    """No length field is counted, so the stream must delimit itself: no stream is a prefix of another."""
    model, symbols = _skewed_model(positions=3, alphabet=4, n=300, seed=1)
    table = model.probabilities.double().numpy()
    streams = {tuple(row): "".join(map(str, range_encode_bits(np.array(row), table)))
               for row in symbols.numpy().tolist()}
    words = sorted(streams.values())
    assert len(set(words)) == len(words)
    assert not any(b.startswith(a) for a, b in zip(words, words[1:]))
    info = model.information_bits(symbols).numpy()
    lengths = np.array([len(streams[tuple(row)]) for row in symbols.numpy().tolist()])
    assert (lengths >= np.floor(info - 1e-6)).all() and lengths.mean() >= info.mean()
    assert (lengths <= info + 3).all()


def test_range_coder_is_close_to_the_information_content():
    rng = np.random.default_rng(0)
    p = np.array([[0.7, 0.2, 0.05, 0.05]])
    symbols = rng.choice(4, size=2000, p=p[0])
    payload = range_encode(symbols, p)
    info = -np.log2(p[0, symbols]).sum()
    assert info <= 8 * len(payload) <= info + 40            # a few bytes of termination at most
    assert np.array_equal(range_decode(payload, p, len(symbols)), symbols)
    # short messages are trimmed to whole bytes, not 32-bit words
    short = rng.choice(4, size=5, p=p[0])
    assert 8 * len(range_encode(short, p)) <= -np.log2(p[0, short]).sum() + 16


def test_bits_per_image_do_not_depend_on_the_batch(net):
    features, _, _ = _features(net, "layer2.1", n=12)
    codec = _trained_codec(features, "c2-d16-l4")
    together = codec.compress(features)
    one_by_one = [codec.compress(features[i:i + 1])[0] for i in range(12)]
    in_threes = sum((codec.compress(features[i:i + 3]) for i in range(0, 12, 3)), [])
    assert together == one_by_one == in_threes


def test_entropy_model_is_saved_with_the_codec(net):
    features, _, _ = _features(net, "layer2.1", n=12)
    codec = _trained_codec(features, "c2-d16-l4")
    packets = codec.compress(features)
    state = codec.state_dict()
    assert "entropy_model.probabilities" in state
    fresh = build_codec(tuple(features.shape[1:]), "c2-d16-l4").eval()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.decompress(packets), codec.decompress(packets))


def test_corrupted_or_truncated_packets_raise(net):
    features, _, _ = _features(net, "layer2.1", n=4)
    codec = _trained_codec(features, "c2-d16-l4")
    packet = max(codec.compress(features), key=len)
    assert len(packet) > 7
    flipped = bytearray(packet)
    flipped[-1] ^= 0x01
    with pytest.raises(BitstreamError, match="CRC32 mismatch"):
        codec.decompress([bytes(flipped)])
    with pytest.raises(BitstreamError, match="CRC32 mismatch"):
        codec.decompress([packet[:-1]])
    with pytest.raises(BitstreamError, match="truncated inside its header"):
        codec.decompress([packet[:4]])
    with pytest.raises(BitstreamError, match="empty packet"):
        codec.decompress([b""])
    with pytest.raises(BitstreamError, match="expected 0xC1"):
        codec.decompress([bytes([MAGIC_HUFFMAN]) + packet[1:]])
    # a valid packet from a model with another number of symbols is refused, not misread
    other = _trained_codec(features, "c2-d8-l4")
    with pytest.raises(BitstreamError, match="announces 8 symbols"):
        codec.decompress(other.compress(features[:1]))


def test_frame_crc_covers_the_symbol_count():
    packet = bytearray(frame(b"\x12\x34", 5, MAGIC_RANGE))
    assert unframe(bytes(packet), MAGIC_RANGE) == (5, b"\x12\x34")
    packet[1] = 6
    with pytest.raises(BitstreamError, match="CRC32"):
        unframe(bytes(packet), MAGIC_RANGE)
    assert zlib.crc32(b"") == 0   # sanity of the library we rely on


def test_a_symbol_count_of_nine_bytes_is_read_and_a_tenth_is_refused():
    largest = 2 ** 63 - 1                                     # 9 varint bytes of 7 bits
    assert unframe(frame(b"", largest, MAGIC_RANGE), MAGIC_RANGE) == (largest, b"")
    ten = bytes([MAGIC_RANGE]) + b"\xff" * 9 + b"\x01" + b"\0" * 4   # a 10-byte count was read before
    with pytest.raises(BitstreamError, match="longer than 9 bytes"):
        unframe(ten, MAGIC_RANGE)


def test_entropy_model_rejects_bad_symbols():
    model = CategoricalEntropyModel(3, 4)
    with pytest.raises(ValueError, match=r"shape \(images, 3\)"):
        model.fit(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        model.encode(torch.tensor([[0, 1, 4]]))


def test_range_coder_codes_rare_and_zero_probability_symbols_in_about_24_bits_each():
    # The coder gives every symbol about 2^-24 at least, so a symbol of probability 1e-12 (what rate
    # training drives unused symbols to) costs about 24 bits: the search for the shortest stream must not
    # start at its 40 ideal bits (it found no stream at all, or one longer than the shortest: 27 bits
    # for one symbol of 1e-9), nor take log2(0) for a zero (it raised OverflowError).
    for p in (np.array([[1.0, 1e-9]]), np.array([[1.0, 1e-12]]), np.array([[1.0, 0.0]])):
        for rare in (1, 2, 3):
            symbols = np.ones(rare, dtype=np.int64)
            stream = range_encode_bits(symbols, p)
            assert len(stream) <= 25 * rare
            for tail in (np.zeros(64, np.uint8), np.ones(64, np.uint8)):   # decodes whatever follows it
                assert np.array_equal(range_decode(np.packbits(np.concatenate([stream, tail])).tobytes(), p, rare),
                                      symbols)
    # and a common symbol still costs next to nothing
    assert len(range_encode_bits(np.zeros(3, dtype=np.int64), np.array([[1.0, 1e-12]]))) <= 2


@pytest.mark.parametrize("bad", [[[-1.0, 2.0]], [[float("nan"), 1.0]], [[float("inf"), 1.0]], [[0.0, 0.0]]])
def test_range_coder_refuses_probabilities_that_are_not_a_distribution(bad):
    with pytest.raises(ValueError, match="finite, non-negative"):
        range_encode_bits(np.array([1]), np.array(bad))


@pytest.mark.parametrize("prior", [0.0, -0.4, float("nan")])
def test_entropy_model_refuses_a_prior_that_leaves_symbols_uncodable(prior):
    with pytest.raises(ValueError, match=f"prior must be positive.*got {prior}"):
        CategoricalEntropyModel(2, 4).fit(torch.zeros(3, 2, dtype=torch.long), prior=prior)


def test_symbols_that_are_not_integers_are_refused_not_truncated():
    with pytest.raises(ValueError, match="must be integers, got float32"):
        CategoricalEntropyModel(2, 4).encode(torch.tensor([[0.9, 2.7]]))
    code = HuffmanCode.from_counts([5, 3, 1, 1])
    with pytest.raises(ValueError, match="must be integers"):
        code.encode_bits(np.array([2.9]))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        code.bit_length(np.array([-1]))          # wrapped round to the last symbol's length before
    assert np.array_equal(code.encode_bits(np.array([2.0, 0.0])), code.encode_bits(np.array([2, 0])))
    assert symbol_width(2 ** 49 + 1) == 50 and symbol_width(2 ** 49) == 49 and symbol_width(2) == 1


def test_empirical_entropy():
    s = np.array([[0, 0], [1, 0], [0, 0], [1, 0]])
    assert empirical_entropy_bits(s, 2) == pytest.approx(1.0)          # 1 bit + 0 bits
    assert empirical_entropy_bits(s, 2, shared=True) == pytest.approx(2 * 0.8112781, rel=1e-6)


# ------------------------------------------------------------------------------- Huffman baseline

def test_huffman_round_trip_and_optimality():
    rng = np.random.default_rng(0)
    train = np.minimum(rng.geometric(0.1, size=50_000), 255)
    code = HuffmanCode.from_samples(train, 256)
    assert sum(2.0 ** -l for l in code.lengths) == pytest.approx(1.0)   # complete prefix code
    test = np.minimum(rng.geometric(0.1, size=(3, 1000)), 255)
    test[0, 0] = 200                                                   # unseen in training: still codable
    packets = code.encode(test)
    assert np.array_equal(code.decode(packets), test)
    bits = bits_per_image(packets, code)
    exact = code.bit_length(test)
    assert (bits == 1 + np.minimum(exact, 8 * 1000)).all()        # flag + the Huffman bits (< 8 per symbol)
    flat = np.full((1, 1000), 200)                                  # rare in training: plain 8 bits are shorter
    assert code.bit_length(flat)[0] > 8000 and bits_per_image(code.encode(flat), code).tolist() == [8001]
    assert np.array_equal(code.decode(code.encode(flat)), flat)
    counts = np.bincount(train, minlength=256) + 1
    p = counts / counts.sum()
    entropy = -(p * np.log2(p)).sum()
    assert entropy <= code.entropy_bits(counts) < entropy + 1           # Huffman's guarantee


def test_huffman_rejects_corruption():
    code = HuffmanCode.from_counts([5, 3, 1, 1])
    packet = code.encode(np.array([[0, 1, 2, 3, 0]]))[0]
    assert np.array_equal(code.decode([packet]), [[0, 1, 2, 3, 0]])
    with pytest.raises(BitstreamError):
        code.decode([packet[:-1]])
    with pytest.raises(ValueError, match="count > 0"):
        HuffmanCode.from_counts([3, 0, 1])


def test_canonical_codes_are_prefix_free():
    code = HuffmanCode.from_counts([40, 20, 10, 10, 5, 5, 5, 5])
    words = [format(int(c), f"0{l}b") for c, l in zip(code._codes(), code.lengths)]
    assert len(set(words)) == len(words)          # two symbols with one codeword passed the check below
    for i, a in enumerate(words):
        for j, b in enumerate(words):
            assert i == j or not b.startswith(a), (a, b)
    assert sum(2.0 ** -len(w) for w in words) == 1.0   # and complete (Kraft), as a Huffman code is


# ------------------------------------------------------------------------------- training, experiment

def _tiny_sources(net, point, n_train=64, n_test=32):
    from coinfer.experiments.encoding import FeatureSource
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    images = torch.randn(n_train + n_test, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (n_train + n_test,), generator=g)
    device_part, server_part = split(net, point)
    train = FeatureSource(device_part, TensorDataset(images[:n_train], labels[:n_train]), precompute=True)
    test = FeatureSource(device_part, TensorDataset(images[n_train:], labels[n_train:]), precompute=True)
    return train, test, server_part


def test_training_is_deterministic_and_evaluation_is_real(net):
    from coinfer.experiments.encoding import evaluate_codec, get_encode_config, train_codec

    train, test, server_part = _tiny_sources(net, "layer3.1")
    config = get_encode_config("quick", warmup_epochs=1, epochs=1, batch_size=16)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        codec = build_codec(train.feature_shape, config.code_size_at("d8-l4", train.feature_shape))
        history = train_codec(codec, server_part, train, config, seed=3)
        runs.append((codec, history, evaluate_codec(codec, server_part, test, batch_size=10)))
    (c1, h1, r1), (c2, h2, r2) = runs
    assert h1 == h2
    assert torch.equal(c1.bottleneck.codewords, c2.bottleneck.codewords)
    r1.pop("z_histogram"), r2.pop("z_histogram")
    assert r1 == r2
    assert r1["roundtrip_exact"] and r1["test_images"] == 32
    assert r1["bits_fixed"] == 16
    assert 0 < r1["bits_entropy"] <= r1["bits_model"] + 1e-9    # Gibbs: plug-in entropy <= cross-entropy
    assert r1["bits_real"] >= r1["bits_model"] - 8       # real bits cannot beat the information content by a byte
    # real bits are what the packets measure
    packets = c1.compress(test.features)
    assert r1["bits_real"] == pytest.approx(bits_per_image(packets, c1.entropy_model).mean())
    assert r1["bits_real"] <= r1["bits_fixed"] + 1 and r1["bits_real"] <= r1["bits_range"] + 1


def test_run_encoding_writes_valid_records(net, tmp_path):
    """End to end on real Fashion-MNIST images (a handful), with an untrained tiny network."""
    from coinfer.data import load_dataset
    from coinfer.experiments.encoding import get_encode_config, run
    from coinfer.results import load_table

    try:
        load_dataset("fashion-mnist", train=False, limit=1)
    except Exception as error:   # pragma: no cover - no dataset on this machine
        pytest.skip(f"Fashion-MNIST unavailable: {error}")
    config = get_encode_config("quick", splits=("layer3.1", "pool"), code_sizes=("d4-l2", "d4-k4"),
                               train_limit=48, test_limit=24, warmup_epochs=1, epochs=1, batch_size=16,
                               huffman_splits=("layer2.1", "pool"), huffman_train_images=16, eval_batch_size=12)
    table = run("quick", config, model=net, command="test", log=lambda *_: None)
    path = table.save(tmp_path / "encoding.json")
    loaded = load_table(path)
    framework = loaded.select(method="framework")
    original = loaded.select(method="original")
    assert {(r.split, r.code_size) for r in framework} == {
        ("layer3.1", "c4-d4-l2"), ("layer3.1", "c4-d4-k4"), ("pool", "d4-l2"), ("pool", "d4-k4")}
    assert {r.split for r in original} == {"layer2.1", "pool"}
    for r in framework:
        assert r.extra["roundtrip_exact"] and r.extra["test_images"] == 24
        # the flag + the cheaper of the two forms, per image: never more than either form + 1
        assert r.bits_per_image <= min(r.extra["bits_fixed"], r.extra["bits_range"]) + 1
        assert 0 <= r.extra["range_share"] <= 1 and r.bits_per_image >= 1
        assert r.device_macs > r.extra["encoder_macs"] > 0
    pool = loaded.select(method="original", split="pool")[0]
    assert pool.extra["bits_fixed"] == 8 * 32 and pool.bits_per_image <= pool.extra["bits_fixed"] + 1
    assert pool.bits_per_image <= pool.extra["bits_huffman"] + 1


def test_any_device_module_can_feed_the_codec(net):
    """A 'pruned' device part sending fewer channels: the decoder restores the server's shape."""
    from coinfer.core.pipeline import SplitNetwork

    device_part, server_part = split(net, "layer2.1")
    pruned = torch.nn.Sequential(device_part, torch.nn.Conv2d(8, 5, 1))     # 5 of 8 channels survive
    codec = build_codec((5, 16, 16), "c2-d8-l4", output_shape=(8, 16, 16))
    model = SplitNetwork(pruned, codec, server_part).eval()
    images = torch.randn(4, 3, 32, 32)
    assert model(images).shape == (4, 10)
    with torch.no_grad():
        codec.bottleneck.init_kmeans(codec.encoder(pruned(images)))
    codec.fit_entropy_model(pruned(images).detach())
    assert torch.equal(model.receive(model.send(images)), model(images))
    costs = codec_costs(pruned, codec, server_part)
    assert costs.device_macs == thop_macs(pruned, (3, 32, 32))[0] + costs.encoder_macs
    assert model.costs() == costs
    with pytest.raises(ValueError, match="same rank"):
        build_codec((5, 16, 16), "c2-d8-l4", output_shape=(8,))


def test_paper_style_settings_compute_features_per_batch(net, tmp_path):
    """The paper preset's path (no cached features, augmentation, a stem split), on a few real images."""
    from coinfer.data import load_dataset
    from coinfer.experiments.encoding import get_encode_config, run

    try:
        load_dataset("fashion-mnist", train=False, limit=1)
    except Exception as error:   # pragma: no cover
        pytest.skip(f"Fashion-MNIST unavailable: {error}")
    paper = get_encode_config("paper")
    assert not paper.precompute and paper.augment and paper.train_limit is None
    config = get_encode_config("paper", splits=("stem",), code_sizes=("d4-l2",), train_limit=32, test_limit=16,
                               warmup_epochs=1, epochs=1, batch_size=16, huffman_splits=(), eval_batch_size=8)
    table = run("quick", config, model=net, command="test", log=lambda *_: None)
    (record,) = table.records
    assert record.split == "stem" and record.code_size == "c1-d4-l2"     # 4 channels // 8, at least 1
    assert record.extra["roundtrip_exact"] and record.extra["test_images"] == 16


def _need_fashion_mnist():
    from coinfer.data import load_dataset

    try:
        load_dataset("fashion-mnist", train=False, limit=1)
    except Exception as error:   # pragma: no cover
        pytest.skip(f"Fashion-MNIST unavailable: {error}")


def _tiny_config(**settings):
    from coinfer.experiments.encoding import get_encode_config

    return get_encode_config("quick", **{"code_sizes": ("d4-l2",), "train_limit": 32, "test_limit": 16,
                                         "warmup_epochs": 1, "epochs": 1, "batch_size": 16, "huffman_splits": (),
                                         "eval_batch_size": 16, **settings})


def test_run_records_validation_accuracies_and_the_split_they_come_from(net, monkeypatch):
    """``python -m coinfer encode`` (:func:`run`) once loaded no validation split: no record had a
    validation accuracy and the provenance none, so every later choice fell to the test split."""
    from dataclasses import asdict

    import coinfer.train
    from coinfer.config import get_preset
    from coinfer.data import load_split
    from coinfer.experiments.encoding import original_huffman, run
    from coinfer.stats import selection_threshold

    _need_fashion_mnist()
    monkeypatch.setattr(coinfer.train, "get_baseline", lambda preset: (net, {"test_accuracy": 0.9, "val_accuracy": 0.92}))
    config = _tiny_config(splits=("pool",), huffman_splits=("pool",), huffman_train_images=16)
    table = run("quick", config, device=torch.device("cpu"), command="test", log=lambda *_: None)
    preset = get_preset("quick")
    assert table.provenance.validation == asdict(preset.validation)
    assert (table.provenance.baseline_accuracy, table.provenance.baseline_val_accuracy) == (0.9, 0.92)
    assert selection_threshold(table) == pytest.approx(0.90)      # the validation baseline's, 2 points below
    assert all(r.val_accuracy is not None and 0 <= r.val_accuracy <= 1 for r in table.records)
    val, train = (load_split(preset.dataset, part, preset.validation, limit=16) for part in ("val", "train"))
    (original,) = table.select(method="original")
    assert original.val_accuracy == original_huffman(net, "pool", train, val, config, torch.device("cpu"))["accuracy"]


def test_run_reads_device_parts_and_sparsities_by_any_name_of_their_split(net):
    """``{"s4": part}`` (an alias of layer3.1) once left the unpruned part in place and the sparsity 0, without a
    word; a key of no split point ``run`` encodes is refused."""
    from coinfer.experiments.encoding import run

    device_part, _ = split(net, "layer3.1")
    channels = device_part(torch.zeros(1, 3, 32, 32)).shape[1]
    pruned = torch.nn.Sequential(device_part, torch.nn.Conv2d(channels, 5, 1))       # sends 5 channels
    config, cpu = _tiny_config(splits=("layer3.1",)), torch.device("cpu")
    for parts, sparsity in (({"pool": pruned}, 0.5), ({}, {"layer2.1": 0.5}), ({"s4": pruned, "layer3.1": pruned}, 0.5)):
        with pytest.raises(ValueError, match=r"give each split point once, one of config.splits \(layer3.1\)"):
            run("quick", config, model=net, device_parts=parts, sparsity=sparsity, device=cpu, log=lambda *_: None)
    _need_fashion_mnist()
    (record,) = run("quick", config, model=net, device_parts={"s4": pruned}, sparsity={"layer3": 0.5}, device=cpu,
                    command="test", log=lambda *_: None).records
    assert record.sparsity == 0.5 and record.code_size == "c1-d4-l2"        # 5 // 4 channels: the pruned part's


@pytest.mark.parametrize("code, weight, message", [
    ("d4-k16-r0.1", float("nan"), "finite number >= 0"), ("d4-k16-r0.1", -50.0, "finite number >= 0"),
    ("d4-k16-r0.1", float("inf"), "finite number >= 0"), ("d4-l4", 5.0, "without a learned prior"),
    ("d4-l4", 0.0, "without a learned prior")])
def test_a_rate_weight_is_checked_and_needs_a_learned_prior(net, code, weight, message):
    """train_codec once trained with any rate weight (NaN, inf, negative) and dropped one given for a codec
    without a learned prior, whose loss has no rate term to weigh."""
    import copy

    from coinfer.experiments.encoding import get_encode_config, train_codec

    train, _, server_part = _tiny_sources(net, "pool")
    codec = build_codec(train.feature_shape, code)
    before = copy.deepcopy(codec.state_dict())
    with pytest.raises(ValueError, match=message) as error:
        train_codec(codec, server_part, train, get_encode_config("quick", warmup_epochs=1, epochs=1, batch_size=16),
                    rate_weight=weight)
    assert repr(weight) in str(error.value)
    assert all(torch.equal(before[k], v) for k, v in codec.state_dict().items())      # refused before training


def test_list_settings_become_tuples_and_a_string_is_refused_not_read_letter_by_letter():
    from coinfer.experiments.encoding import get_encode_config

    config = get_encode_config("quick", splits=["s4"], code_sizes=["d8-l2"], huffman_splits=[])
    assert (config.splits, config.code_sizes, config.huffman_splits) == (("layer3.1",), ("d8-l2",), ())
    for name, value in (("splits", "layer2.1"), ("code_sizes", "d16-l4"), ("huffman_splits", "pool")):
        with pytest.raises(ValueError, match=rf"encoding.{name} must be a tuple, e.g. \('{value}',\)"):
            get_encode_config("quick", **{name: value})


def test_load_candidates_reads_one_path_alone_and_refuses_none():
    """(coinfer.experiments.candidates) One path was read letter by letter (a str) or refused with a
    TypeError (a Path); an empty list raised an IndexError."""
    from coinfer.experiments.candidates import load_candidates
    from coinfer.paths import table_path

    path = table_path("original-float32", "quick")
    n = len(load_candidates([path]).records)
    assert len(load_candidates(path).records) == len(load_candidates(str(path)).records) == n
    with pytest.raises(ValueError, match="needs one or more lookup tables, got none"):
        load_candidates([])


def test_unknown_settings_are_refused():
    from coinfer.experiments.encoding import get_encode_config

    with pytest.raises(ValueError, match=r"unknown preset field\(s\) \['epoch'\]"):
        get_encode_config("quick", epoch=3)
    with pytest.raises(ValueError, match="unknown preset 'cifar'"):
        get_encode_config("cifar")


@pytest.mark.slow
def test_committed_table_is_what_the_command_produces(tmp_path, slow_check):
    """(~55 s on an idle 2-core machine: the control's fine-tune.) Re-run one cell of `python -m coinfer run encoding --preset quick` as the command runs it (a
    sweep cell on the recipe's control, seed 0; the cheapest split point, `pool`) and compare it with
    seed 0's numbers in the committed table (each record keeps every seed's, ``extra["per_seed"]``)."""
    from coinfer.config import get_preset
    from coinfer.experiments.sweep import SweepRunner, encoding_cells
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.train import checkpoint_dir

    preset = get_preset("quick")
    path = results_dir() / "encoding_quick.json"
    if not path.exists() or not (checkpoint_dir(preset) / "baseline.pt").exists():
        pytest.skip("needs the committed table and the quick baseline checkpoint")
    committed = load_table(path)
    assert committed.provenance.seeds and committed.provenance.seeds[0] == preset.seed == 0
    cell = next(c for c in encoding_cells(preset)
                if c.method == "framework" and c.split == "pool" and c.setting == "d8-l2")
    (old,) = [r for r in committed.records if r.extra.get("cell") == cell.id]   # same settings, same id
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as the committed run (thread count can change float sums)
    try:
        fresh = SweepRunner(preset, tmp_path / "cells", tmp_path / "cache", log=lambda *_: None).compute(cell)
    finally:
        torch.set_num_threads(threads)
    seed0 = {name: values[0] for name, values in old.extra["per_seed"].items()}
    # Same seed, same numbers, to the last digit: a cell no longer depends on what its process ran
    # before (857bbd9; the tables made before it differed here by 0.0044 in accuracy).
    assert (fresh.accuracy, fresh.val_accuracy, fresh.bits_per_image, fresh.extra["bits_model"]) == (
        seed0["accuracy"], seed0["val_accuracy"], seed0["bits_per_image"], seed0["bits_model"])
    assert (fresh.device_macs, fresh.server_macs, fresh.code_size) == (old.device_macs, old.server_macs, old.code_size)
