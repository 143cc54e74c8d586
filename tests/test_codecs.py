"""The one codec protocol (coinfer.core.codecs): compress -> one packet per image -> decompress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coinfer.core.codecs import (CODEC_TYPES, Float32Codec, Huffman8Codec, LearnedCodec, Uint8Codec,
                                 weights_digest)
from coinfer.core.encoding import build_codec
from coinfer.core.entropy import MAGIC_HUFFMAN, BitstreamError, HuffmanCode


def _features(n=6, shape=(4, 3, 3), seed=0):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 5


def test_registry_names_every_codec():
    assert set(CODEC_TYPES) == {"float32", "uint8", "huffman8", "learned"}
    assert all(cls.name == name for name, cls in CODEC_TYPES.items())


def test_float32_is_exact_and_four_bytes_per_element():
    x = _features()
    codec = Float32Codec(x.shape[1:])
    packets = codec.compress(x)
    assert [len(p) for p in packets] == [4 * 36] * 6
    assert torch.equal(codec.decompress(packets), x)
    with pytest.raises(ValueError, match="must be 144 bytes"):
        codec.decompress([packets[0][:-1]])


def test_uint8_error_is_within_half_a_level_per_image():
    x = _features()
    codec = Uint8Codec(x.shape[1:])
    packets = codec.compress(x)
    assert [len(p) for p in packets] == [36 + 8] * 6
    out = codec.decompress(packets)
    span = x.flatten(1).amax(1) - x.flatten(1).amin(1)
    assert ((out - x).abs().flatten(1).amax(1) <= span / 510 + 1e-6).all()


def test_huffman8_fits_range_and_code_and_round_trips_to_the_levels():
    train, test = _features(20), _features(5, seed=1)
    codec = Huffman8Codec().fit(train)
    assert codec.feature_shape == (4, 3, 3)
    assert codec.range == (float(train.min()), float(train.max()))
    symbols = codec.symbols(test)
    expected = HuffmanCode.from_counts(np.bincount(codec.symbols(train).reshape(-1), minlength=256) + 1)
    assert codec.code.lengths == expected.lengths                 # histogram of the training levels, +1
    packets = codec.compress(test)
    assert len(packets) == 5 and all(p[0] == MAGIC_HUFFMAN for p in packets)
    assert (codec.bits(packets) == 1 + np.minimum(codec.code.bit_length(symbols), 8 * 36)).all()
    decoded = codec.decompress(packets)
    assert torch.equal(decoded, codec.dequantize(symbols))
    assert (decoded - test.clamp(*codec.range)).abs().max() <= (codec.range[1] - codec.range[0]) / 510 + 1e-5


def test_huffman8_fit_from_batches_equals_fit_from_one_tensor():
    train = _features(30)
    whole = Huffman8Codec().fit(train)
    streamed = Huffman8Codec().fit(lambda: iter(train.split(7)))
    assert whole.range == streamed.range and whole.code.lengths == streamed.code.lengths
    assert whole.fingerprint() == streamed.fingerprint()
    assert Huffman8Codec().fit(train * 2).fingerprint() != whole.fingerprint()


def test_huffman8_refuses_broken_packets_and_an_unfitted_use():
    with pytest.raises(RuntimeError, match="fit"):
        Huffman8Codec((2,)).compress(torch.zeros(1, 2))
    codec = Huffman8Codec().fit(_features(10))
    packet = codec.compress(_features(1))[0]
    with pytest.raises(BitstreamError):
        codec.decompress([packet[:-1] + bytes([packet[-1] ^ 0xFF])])
    other = Huffman8Codec().fit(torch.rand(4, 7))
    with pytest.raises(ValueError, match="announces 36 symbols"):
        other.decompress([packet])


def test_learned_codec_sends_the_feature_codecs_packets():
    torch.manual_seed(0)
    x = _features(8, (8, 4, 4))
    inner = build_codec((8, 4, 4), "c2-d4-l2").eval()
    with torch.no_grad():
        inner.bottleneck.init_kmeans(inner.encoder(x))
    inner.fit_entropy_model(x)
    codec = LearnedCodec((8, 4, 4), inner, "c2-d4-l2")
    packets = codec.compress(x)
    assert packets == inner.compress(x)
    assert torch.equal(codec.decompress(packets), inner.decompress(packets))
    assert codec.device_macs == inner.encoder_macs((8, 4, 4)) and codec.server_macs == inner.decoder_macs((4,))
    assert codec.fingerprint() == f"learned|c2-d4-l2|{weights_digest(inner)}"


def test_empty_batches_decompress_to_no_features():
    assert Float32Codec((2,)).decompress([]).shape == (0, 2)
    assert Huffman8Codec().fit(torch.rand(3, 2)).decompress([]).shape == (0, 2)
    assert HuffmanCode.from_samples(np.arange(4), alphabet=4).decode([]).shape == (0, 0)   # as the range coder


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 3e38])
def test_a_range_float32_cannot_hold_is_refused_where_it_is_made(bad):
    # inf/NaN features, or a finite span beyond float32, gave an infinite quantizer step and
    # garbage symbols (numpy's "negative elements" error), or uint8 packets decompress refuses.
    features = torch.tensor([[0.0, 1.0], [-3e38, bad]]) if bad == 3e38 else torch.tensor([[0.0, 1.0], [2.0, bad]])
    with pytest.raises(ValueError, match=r"range \[.*\] is not finite in float32"):
        Huffman8Codec().fit(features)
    with pytest.raises(ValueError, match=r"range \[.*\] is not finite in float32"):
        Uint8Codec((2,)).compress(features[1:])


def test_symbols_outside_the_alphabet_are_refused_not_counted():
    from coinfer.core.entropy import empirical_entropy_bits, frame

    # Symbol 4 of alphabet 4 landed in the next position's bin 0: a negative entropy, -2 bits.
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\), got range \[0, 4\]"):
        empirical_entropy_bits(np.array([[4, 0], [0, 0]]), 4)
    with pytest.raises(ValueError, match="must be integers"):
        empirical_entropy_bits(np.array([[0.7, 1.2], [0.1, 1.9]]), 4)       # was read as [[0, 1], [0, 1]]: 0 bits
    assert empirical_entropy_bits(np.array([[0, 1], [1, 1]]), 4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 256\), got range \[0, 300\]"):
        HuffmanCode.from_samples(np.array([0, 1, 300]))                     # was a code over 301 symbols
    with pytest.raises(ValueError, match="symbol count must be >= 0, got -1"):
        frame(b"", -1, MAGIC_HUFFMAN)                                        # was an endless loop


@pytest.mark.slow
def test_huffman8_reproduces_the_committed_original_record():
    """The codec behind the served ``huffman8`` gives exactly the bits of the committed encoding table
    (``original`` at ``pool``: 2,000 training images fit the code, 10,000 test images are coded)."""
    from coinfer.config import get_preset
    from coinfer.data import load_split
    from coinfer.experiments.encoding import get_encode_config, original_record
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.train import get_baseline

    preset = get_preset("quick")
    try:
        test = load_split(preset.dataset, "test", preset.validation)
    except Exception as error:   # pragma: no cover - no dataset on this machine
        pytest.skip(f"Fashion-MNIST unavailable: {error}")
    config = get_encode_config("quick")
    model, _ = get_baseline(preset)
    # the sweep cell's training images: the training split less the validation images
    train = load_split(preset.dataset, "train", preset.validation, limit=config.train_limit)
    record = original_record(model.eval(), "pool", train, test, config, log=lambda *_: None)
    committed = load_table(results_dir() / "encoding_quick.json").select(method="original", split="pool")[0]
    if "bits_exact" in committed.extra:
        # A table made before the flag bit counted whole bytes; its bit-exact Huffman length is the
        # Huffman form now, and at pool (about 400 of 512 bits) every image sends it, plus the flag.
        exact = committed.extra["bits_exact"]
        assert record.bits_per_image == pytest.approx(exact + 1, abs=1e-9)
        assert record.extra.pop("bits_huffman") == pytest.approx(exact, abs=1e-9)
        assert record.extra == {k: v for k, v in committed.extra.items() if k != "bits_exact"}
    else:
        # (the committed record is a mean over seeds; its extra also lists each seed's values)
        assert record.bits_per_image == pytest.approx(committed.bits_per_image, abs=1e-9)
        # the 8-bit range, a float32 activation extreme, to float32 precision: its last bits depend on the CPU
        assert record.extra.pop("range") == pytest.approx(committed.extra["range"], rel=1e-6)
        assert record.extra == {k: v for k, v in committed.extra.items() if k in record.extra}
    assert (record.accuracy, record.bits_entropy) == (committed.accuracy, committed.bits_entropy)


# ------------------------------------------------------------------------------- the pipeline

def test_split_network_sends_and_receives_through_any_codec():
    from torch import nn

    from coinfer.core.pipeline import SplitNetwork

    torch.manual_seed(0)
    device_part, server_part = nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(nn.Flatten(), nn.Linear(4 * 9, 5))
    images = torch.randn(6, 3, 3, 3)
    with torch.no_grad():
        features = device_part(images)
    for codec in (Float32Codec((4, 3, 3)), Uint8Codec((4, 3, 3)), Huffman8Codec().fit(features)):
        net = SplitNetwork(device_part, codec, server_part).eval()
        packets = net.send(images)
        assert len(packets) == 6
        logits = net.receive(packets)
        assert torch.equal(logits, net(images))                  # forward goes through the same bytes
        assert torch.equal(logits, server_part(codec.decompress(codec.compress(features))))
    assert torch.equal(SplitNetwork(device_part, Float32Codec((4, 3, 3)), server_part)(images),
                       server_part(features))                     # float32 is lossless
    assert SplitNetwork(device_part, Uint8Codec((4, 3, 3)), server_part).costs((3, 3, 3)).encoder_macs == 0
    # A part that is one layer is counted like any other (it had no children, and was counted 0):
    # the device's convolution 4 x 3 x 3 outputs x 27 MACs, the server's 5 outputs x 36.
    costs = SplitNetwork(device_part, Uint8Codec((4, 3, 3)), nn.Conv2d(4, 5, 3)).costs((3, 3, 3))
    assert (costs.device_macs, costs.server_macs, costs.network_macs) == (972, 180, 1152)


def test_split_network_trains_a_learned_codec_with_frozen_parts():
    from torch import nn

    from coinfer.core.pipeline import SplitNetwork

    torch.manual_seed(0)
    device_part, server_part = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)), nn.Sequential(
        nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 16, 3))
    codec = build_codec((8, 4, 4), "c2-d4-l2")
    net = SplitNetwork(device_part, codec, server_part, frozen=("device_part", "server_part")).train()
    assert codec.training and not device_part.training and not server_part.training
    loss = torch.nn.functional.cross_entropy(net(torch.randn(5, 3, 4, 4)), torch.zeros(5, dtype=torch.long))
    loss.backward()
    assert all(p.grad is None for p in [*device_part.parameters(), *server_part.parameters()])
    assert all(p.grad is not None for p in codec.encoder.parameters())
    with pytest.raises(ValueError, match="frozen"):
        SplitNetwork(device_part, codec, server_part, frozen=("codec",))


@pytest.mark.parametrize("settings, augment, precompute", [
    ({"precompute": False, "augment": True}, True, False),     # the paper preset's recipe
    ({}, False, True)])                                        # the quick preset's
def test_train_codec_follows_the_recipe_s_feature_cache_and_augmentation(settings, augment, precompute, monkeypatch,
                                                                         tmp_path):
    """``python -m coinfer train-codec`` (coinfer.experiments.codecs) once cached features of plain images
    whatever the settings said: the paper preset's per-batch, augmented recipe was never run."""
    from torch.utils.data import TensorDataset

    import coinfer.data
    import coinfer.experiments.encoding as encoding
    from coinfer.core.network import resnet18
    from coinfer.experiments.codecs import train_learned_codec

    class Stop(Exception):
        pass

    seen = {}

    def load_split(name, part, validation=None, root=None, augment=False, limit=None, trust=None):
        seen[part] = augment
        return TensorDataset(torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))

    def feature_source(device_part, dataset, precompute=True, batch_size=500, device=None):
        seen["precompute"] = precompute
        raise Stop

    monkeypatch.setattr(coinfer.data, "load_split", load_split)
    monkeypatch.setattr(encoding, "FeatureSource", feature_source)
    with pytest.raises(Stop):
        train_learned_codec(resnet18(width=1 / 16), "pool", "d4-l2", preset="quick", path=tmp_path / "codec.pt",
                            log=lambda *_: None, **settings)
    assert seen == {"train": augment, "test": False, "precompute": precompute}
