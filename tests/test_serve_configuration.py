"""Configurations and payload codecs (coinfer.serve.configuration): real bytes, fitted identically on both sides."""

from __future__ import annotations

import struct

import pytest
import torch

from coinfer.serve import wire
from coinfer.config import get_preset, override
from coinfer.core.codecs import Float32Codec, Huffman8Codec, Uint8Codec
from coinfer.core.network import split
from coinfer.data import load_split, make_loader
from coinfer.serve.configuration import build_configurations
from coinfer.serve.device import DeviceClient
from coinfer.serve.server import EdgeServer
from serve_support import batch, expect_error, model  # noqa: F401  (fixtures)


def test_codecs_round_trip_real_bytes():
    torch.manual_seed(1)
    feature = torch.randn(4, 5, 6)
    f32 = Float32Codec(feature.shape)
    payload = f32.compress(feature[None])[0]
    assert len(payload) == 4 * 120
    assert torch.equal(f32.decompress([payload])[0], feature)
    u8 = Uint8Codec(feature.shape)
    payload = u8.compress(feature[None])[0]
    assert len(payload) == 120 + 8
    span = float(feature.max() - feature.min())
    assert float((u8.decompress([payload])[0] - feature).abs().max()) <= span / 510 + 1e-6
    with pytest.raises(ValueError, match="must be 128 bytes, got 127"):
        u8.decompress([payload[:-1]])
    with pytest.raises(ValueError, match="invalid range"):
        u8.decompress([struct.pack("<ff", 1.0, float("nan")) + payload[8:]])
    constant = torch.full((1, 2, 3), 0.25)
    u8_small = Uint8Codec(constant.shape[1:])
    assert torch.allclose(u8_small.decompress(u8_small.compress(constant)), constant)


def test_served_huffman_bits_are_the_encoding_tables_bits(model, batch):
    """The served ``huffman`` codec is the encoding table's: fitted on the preset's
    ``huffman_train_images`` training images less the validation ones (as
    :func:`coinfer.experiments.encoding.run` gives :func:`~coinfer.experiments.encoding.huffman_8bit`
    them), so a served payload carries exactly the bits the table reports. (Fitted on the raw training
    split, validation images included, its code differed from the table's.)"""
    from coinfer.experiments.encoding import huffman_8bit

    images, _ = batch
    preset = get_preset("quick")
    encoding = preset.encoding
    served = build_configurations(model, ["layer2.1:huffman"], preset="quick")[0]
    device_part, server_part = split(model, "layer2.1")
    train = load_split(preset.dataset, "train", preset.validation, limit=encoding.huffman_train_images)
    with torch.no_grad():   # the table's recipe: float32 features in batches of the preset's eval_batch_size
        batches = [device_part(x) for x, _ in make_loader(train, encoding.eval_batch_size, shuffle=False)]
        table_codec = Huffman8Codec().fit(lambda: iter(batches))
        assert served.codec.fingerprint() == table_codec.fingerprint()   # same range, same code
        assert ([served.run_device(image) for image in images]
                == [table_codec.compress(device_part(image[None]))[0] for image in images])

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i], batch[1][i]

    table = huffman_8bit(device_part, server_part, train, Images(), override(encoding, {"eval_batch_size": 8}))
    served_bits = served.codec.bits([served.run_device(image) for image in images])
    assert table["bits_real"] == float(served_bits.mean()) and table["range"] == list(served.codec.range)


@pytest.mark.parametrize("spec", ["layer2.1:uint8:x", "layer2.1:uint8:", "layer2.1:float32:banana"])
def test_a_codec_that_takes_no_argument_refuses_one(model, spec):
    # It was ignored, yet went into the spec and so into the configuration id: 'uint8:x' and 'uint8'
    # were the same codec under two ids, and a server holding one refused a device holding the other.
    codec = spec.split(":")[1]
    with pytest.raises(ValueError, match=f"{codec} takes no argument, got .* write 'layer2.1:{codec}'"):
        build_configurations(model, [spec], preset="quick")


def test_huffman_baseline_served_and_fitted_identically_on_both_sides(model, batch):
    specs = ["layer2.1:huffman:64", "layer2.1:uint8"]
    configurations = build_configurations(model, specs, preset="quick")
    again = build_configurations(model, specs[:1], preset="quick")[0]  # as the other side would
    assert again.config_id == configurations[0].config_id
    huffman, uint8 = configurations
    images, _ = batch
    with EdgeServer(configurations) as server, DeviceClient(huffman, *server.address) as client:
        runs = [client.infer(image) for image in images]
        payload = bytearray(huffman.run_device(images[0]))
        payload[-1] ^= 0x55
        client.sock.sendall(wire.Frame(wire.MessageType.FEATURE, huffman.config_id, 7, bytes(payload)).to_bytes())
        expect_error(client.sock, wire.ErrorCode.BAD_PAYLOAD)
    assert [m.predicted_class for m in runs] == huffman.run_local(images).argmax(1).tolist()
    # a variable-length code: shorter than the 8-bit feature (2048 bytes + 8) on these images
    assert all(m.payload_bytes < len(uint8.run_device(images[0])) for m in runs)
    with pytest.raises(ValueError, match="number of training images"):
        build_configurations(model, ["layer2.1:huffman:many"], preset="quick")


def test_a_configuration_id_does_not_depend_on_how_the_spec_names_the_codec(model, monkeypatch):
    """``huffman`` and ``huffman:<the preset's default>`` fit the same code, and were two ids; so were
    a learned codec named by code size, by a relative and by an absolute path. A device and a server
    that loaded the same codec got UNKNOWN_CONFIG, and serving both spellings passed the duplicate check."""
    import coinfer.config

    real = coinfer.config.get_preset
    monkeypatch.setattr(coinfer.config, "get_preset",   # a default of 64 images: fitted in a second
                        lambda name, **overrides: real(name, **{"encoding.huffman_train_images": 64, **overrides}))
    plain, counted = (build_configurations(model, [spec], preset="quick")[0]
                      for spec in ("layer2.1:huffman", "layer2.1:huffman:64"))
    assert plain.codec.fingerprint() == counted.codec.fingerprint() and plain.config_id == counted.config_id
    assert (plain.spec, counted.spec) == ("layer2.1:huffman", "layer2.1:huffman:64")   # as written, to serve again
    with pytest.raises(ValueError, match="specs 'layer2.1:huffman' and 'layer2.1:huffman:64' name the same codec "
                                         "at layer2.1 .*: give it once"):
        build_configurations(model, ["layer2.1:huffman", "layer2.1:uint8", "layer2.1:huffman:64"], preset="quick")


def test_committed_configuration_ids_hold_however_the_learned_codec_is_named():
    """The ids in the committed serving table stay what they were, and a learned codec named by its
    checkpoint's path (relative or absolute) has the id of the one named by code size."""
    import os

    from coinfer.paths import table_path
    from coinfer.results import load_table
    from coinfer.serve.configuration import codec_checkpoint_path, load_model_for

    checkpoint = codec_checkpoint_path("quick", "layer3.1", "d16-l4")
    if not checkpoint.exists():
        pytest.skip(f"no committed codec checkpoint at {checkpoint}")
    committed = {r.extra["spec"]: r.extra["config_id"] for r in load_table(table_path("serve_latency", "quick")).records}
    model, _ = load_model_for("quick")
    specs = ["layer2.1:uint8", "pool:float32", "layer3.1:learned:d16-l4", "layer2.1:learned:d16-l4"]
    for configuration in build_configurations(model, specs, preset="quick"):
        assert configuration.config_id == committed[configuration.spec], configuration.spec
    for path in (os.path.relpath(checkpoint), checkpoint.resolve()):
        by_path = build_configurations(model, [f"layer3.1:learned:{path}"], preset="quick")[0]
        assert by_path.config_id == committed["layer3.1:learned:d16-l4"] and by_path.spec.endswith(str(path))
    with pytest.raises(ValueError, match="name the same codec at layer3.1"):
        build_configurations(model, ["layer3.1:learned:d16-l4", f"layer3.1:learned:{checkpoint}"], preset="quick")
