"""Real co-inference: a device process and an edge-server process talking over TCP through a shaped link.

Shao & Zhang (2020), section V-C, predict the end-to-end latency of a split network from a model:
device FLOPs over device FLOP/s, plus bits over the link rate, plus server FLOPs over server FLOP/s.
This module runs the real thing so that the model can be checked::

    device process                                           edge-server process
    image -> device part -> codec.encode -> bytes            bytes -> codec.decode -> server part -> class
                                     |                         ^
                                     v                         |
                    LinkShaper (token bucket, B/s) ---TCP--->  EdgeServer (threads, bounded)
                                     ^                         |
                                     +------ RESULT frame <----+

* A :class:`Configuration` is one way of running the network: a split point, a :class:`PayloadCodec`
  that turns the split feature into real bytes and back, and the weights. Its ``config_id`` (a 32-bit
  hash of the three) travels in every frame, so a device and a server holding different weights or
  codecs are told so instead of computing garbage.
* Codecs are a two-method interface, ``encode(feature) -> bytes`` and ``decode(bytes) -> feature``:
  ``float32`` (the raw feature), ``uint8`` (8-bit uniform quantization between the feature's own
  min and max), ``huffman`` (:class:`HuffmanCodec`, the paper's "original + Huffman" baseline) and
  ``learned`` (:class:`LearnedCodec`, any trained :class:`coinfer.core.encoding.FeatureCodec`: section IV-B's
  encoder, learned quantizer and range coder) are built in; :func:`register_codec` plugs in others.
* :class:`EdgeServer` serves any number of configurations on one port, one thread per connection, at
  most ``max_connections`` at a time; frames follow :mod:`coinfer.serve.wire`.
* :class:`LinkShaper` emulates an uplink of a given rate on loopback with a token bucket.
* :class:`DeviceClient` runs the device side and times every part; :func:`measure` sweeps
  configurations and link rates and sets the measurements beside :mod:`coinfer.core.latency`'s prediction;
  :class:`ServerProcess` runs ``python -m coinfer serve`` as a child process for it.

Command line::

    python -m coinfer serve   --preset quick --config layer2.1:uint8 --port 5000 [--host 0.0.0.0]
    python -m coinfer device  --preset quick --config layer2.1:uint8 --host HOST --port 5000 \\
                              --rate 40KB/s --images 20
    python -m coinfer train-codec --preset quick --split layer3.1 --code-size d16-l4
    python -m coinfer measure --preset quick --images 20 --threads 1 --save   # data/results/serve_latency_quick.json

Units: rates in bytes per second (``40KB/s`` is 40,000 B/s: 1 KB = 1000 B, as in the paper);
times in seconds; MACs are multiply-accumulates (FLOPs = 2 x MACs).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from coinfer.serve import wire
from coinfer.core.network import SplitPoint as canonical_split_point, split
from coinfer.serve.wire import ErrorCode, MessageType

log = logging.getLogger("coinfer.serve.server")


# -- link rates ------------------------------------------------------------------------------------

def parse_link_rate(text: str | float | None) -> float | None:
    """A link rate in **bytes** per second for the shaper, from :func:`coinfer.units.parse_rate`'s
    units (``"40KB/s"`` is 40,000 B/s; ``"800kbit/s"`` is 100,000 B/s), or None for ``"inf"``/None
    (no shaping). A bare Python number is taken as bytes/s."""
    from coinfer.units import parse_rate

    if text is None or (isinstance(text, str) and text.strip().lower() in ("inf", "unlimited", "none")):
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return parse_rate(float(text) * 8) / 8
    return parse_rate(text) / 8


def format_link_rate(rate: float | None) -> str:
    """Bytes/s as the paper writes it (``"40 KB/s"``), ``"inf"`` for None."""
    from coinfer.units import format_rate

    return "inf" if rate is None else format_rate(8 * rate)


# -- the link shaper -------------------------------------------------------------------------------

def precise_sleep(seconds: float, spin: float = 0.001) -> None:
    """Sleep ``seconds``: ``time.sleep`` for all but the last ``spin`` seconds, then a busy wait, because
    an operating-system sleep can overshoot by a millisecond or more and a link of 1 MB/s moves a
    1460-byte packet in 1.46 ms."""
    deadline = time.perf_counter() + seconds
    if seconds > spin:
        time.sleep(seconds - spin)
    while time.perf_counter() < deadline:
        pass


class TokenBucket:
    """A token bucket of ``rate`` tokens (bytes) per second holding at most ``burst`` tokens.

    Implemented in its equivalent "virtual scheduling" form (the generic cell rate algorithm): the
    bucket remembers the time ``tat`` at which everything granted so far will have drained at
    ``rate``; a request of ``n`` bytes is granted once ``now >= tat + n / rate - burst / rate``.
    With ``burst = 0`` (the default of :class:`LinkShaper`) a packet is released at the moment its
    last byte would have arrived over a link of this rate, which is what the latency model's
    ``bits / rate`` term assumes.

    ``time.sleep`` wakes up late by tens of microseconds to milliseconds. A request made with
    ``continuing=True`` says the sender has been busy since its last grant (the next packet of the same
    message), so the time lost to a late wake-up is made up instead of counted as idleness; the
    long-run rate of a message is then exact.
    """

    def __init__(self, rate: float, burst: float = 0.0,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = precise_sleep):
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive, finite number of bytes/s, got {rate!r}")
        if not (burst >= 0 and math.isfinite(burst)):
            raise ValueError(f"burst must be a finite number of bytes >= 0, got {burst!r}")
        self.rate, self.burst = float(rate), float(burst)
        self._clock, self._sleep = clock, sleep
        self._tat = clock()  # an idle bucket starts full

    def consume(self, n: int, continuing: bool = False) -> float:
        """Block until ``n`` bytes may go; returns the seconds waited."""
        now = self._clock()
        tat = self._tat if continuing else max(self._tat, now)
        new_tat = tat + n / self.rate
        release = new_tat - self.burst / self.rate
        waited = 0.0
        if release > now:
            self._sleep(release - now)
            waited = release - now
        self._tat = new_tat
        return waited


class LinkShaper:
    """Send bytes on a socket no faster than ``rate`` bytes/s, in packets of ``packet_bytes``.

    Parameters
    ----------
    sock : socket.socket
    rate : float or None
        Bytes per second; None sends at loopback speed (no shaping).
    burst : float
        Token-bucket depth in bytes: how much an idle link may send at once. 0 (default) emulates a
        link of exactly ``rate``: ``n`` bytes take ``n / rate`` seconds to arrive.
    packet_bytes : int
        Largest piece handed to the socket at once (default 1460, an Ethernet TCP segment).
    """

    def __init__(self, sock: socket.socket, rate: float | None, burst: float = 0.0, packet_bytes: int = 1460):
        if packet_bytes < 1:
            raise ValueError(f"packet_bytes must be >= 1, got {packet_bytes!r}")
        self.sock = sock
        self.rate = rate
        self.packet_bytes = packet_bytes
        self.bucket = TokenBucket(rate, burst) if rate is not None else None

    def send(self, data: bytes) -> None:
        if self.bucket is None:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        for start in range(0, len(view), self.packet_bytes):
            packet = view[start:start + self.packet_bytes]
            self.bucket.consume(len(packet), continuing=start > 0)
            self.sock.sendall(packet)


# -- codecs ----------------------------------------------------------------------------------------

class PayloadCodec:
    """Turns one image's split feature into bytes and back: the only thing a server and device share
    besides the weights.

    Subclasses set ``name`` and implement :meth:`encode` and :meth:`decode`. ``encode`` runs on the
    device (its time counts as device compute), ``decode`` on the server. ``device_macs`` and
    ``server_macs`` are the codec's own multiply-accumulates per image (0 for a codec that is not a
    neural network). ``fingerprint`` goes into the configuration id (e.g. a digest of learned weights).
    """

    name: str = ""
    device_macs: int = 0
    server_macs: int = 0

    def __init__(self, feature_shape: Sequence[int]):
        self.feature_shape = tuple(int(d) for d in feature_shape)
        self.feature_elements = math.prod(self.feature_shape)

    def encode(self, feature: torch.Tensor) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, payload: bytes) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def fingerprint(self) -> str:
        return self.name

    def _check_length(self, payload: bytes, expected: int) -> None:
        if len(payload) != expected:
            raise ValueError(f"{self.name} payload for a feature of shape {self.feature_shape} must be "
                             f"{expected} bytes, got {len(payload)}")


class Float32Codec(PayloadCodec):
    """The raw feature: float32 little-endian, ``4 x elements`` bytes (the paper's "original network")."""

    name = "float32"

    def encode(self, feature: torch.Tensor) -> bytes:
        return feature.detach().to(torch.float32).cpu().numpy().astype("<f4", copy=False).tobytes()

    def decode(self, payload: bytes) -> torch.Tensor:
        self._check_length(payload, 4 * self.feature_elements)
        array = np.frombuffer(payload, dtype="<f4").reshape(self.feature_shape)
        return torch.from_numpy(array.astype(np.float32))


class Uniform8BitCodec(PayloadCodec):
    """8-bit uniform quantization between the feature's own minimum and maximum.

    Payload: ``float32 lo, float32 hi`` (little-endian) then one uint8 per element,
    ``q = round(255 (x - lo) / (hi - lo))``; decoding gives ``lo + q (hi - lo) / 255``. That is
    ``elements + 8`` bytes; the maximum error is ``(hi - lo) / 510``.
    """

    name = "uint8"
    _RANGE = struct.Struct("<ff")

    def encode(self, feature: torch.Tensor) -> bytes:
        x = feature.detach().to(torch.float32).cpu().numpy()
        lo, hi = float(x.min()), float(x.max())
        span = hi - lo if hi > lo else 1.0
        q = np.rint((x - lo) * (255.0 / span)).clip(0, 255).astype(np.uint8)
        return self._RANGE.pack(lo, hi) + q.tobytes()

    def decode(self, payload: bytes) -> torch.Tensor:
        self._check_length(payload, self._RANGE.size + self.feature_elements)
        lo, hi = self._RANGE.unpack_from(payload)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
            raise ValueError(f"uint8 payload has an invalid range lo={lo!r}, hi={hi!r}")
        span = hi - lo if hi > lo else 1.0
        q = np.frombuffer(payload, dtype=np.uint8, offset=self._RANGE.size).reshape(self.feature_shape)
        return torch.from_numpy((lo + q.astype(np.float32) * np.float32(span / 255.0)).astype(np.float32))


class LearnedCodec(PayloadCodec):
    """Adapter for a trained :class:`coinfer.core.encoding.FeatureCodec` (section IV-B's two-step encoder).

    ``encode`` runs the dimension-reduction encoder, the learned quantizer and the range coder
    (:meth:`~coinfer.core.encoding.FeatureCodec.compress`); ``decode`` the range decoder, the codewords and
    the decoder network (:meth:`~coinfer.core.encoding.FeatureCodec.decompress`). The payload is the
    codec's own packet (magic byte, symbol count, CRC-32, range-coded symbols). Its networks' MACs
    count on the device and server sides.
    """

    name = "learned"
    method = "framework"

    def __init__(self, feature_shape: Sequence[int], codec: nn.Module, code_size: str, source: str = ""):
        super().__init__(feature_shape)
        from coinfer.core.encoding import CodeSize

        self.codec = codec.eval()
        self.code_size = str(code_size)
        self.source = source
        size = CodeSize.parse(self.code_size)
        self.device_macs = int(codec.encoder_macs(self.feature_shape))
        self.server_macs = int(codec.decoder_macs((size.dim,)))
        self.device_params = int(codec.encoder_params())
        self._digest = weights_digest(codec)

    def encode(self, feature: torch.Tensor) -> bytes:
        return self.codec.compress(feature.unsqueeze(0))[0]

    def decode(self, payload: bytes) -> torch.Tensor:
        return self.codec.decompress([payload])[0]  # BitstreamError (a ValueError) for a bad packet

    def fingerprint(self) -> str:
        return f"learned|{self.code_size}|{self._digest}"


class HuffmanCodec(PayloadCodec):
    """The paper's "original network + Huffman" baseline on the wire: every element quantized to
    8 bits over a range fixed in advance, then a canonical Huffman code (:class:`coinfer.core.entropy.HuffmanCode`).

    The range and the code are fitted on the device part's features of the first training images
    (:func:`fit_huffman_codec`), the same recipe as :func:`coinfer.experiments.encoding.original_huffman`;
    both sides fit them from the same data and weights, and the configuration id covers the result.
    Values outside the training range clip to the end levels. The payload is the code's packet: a
    magic byte (``0xC2``), the symbol count, a CRC-32, the Huffman bits.
    """

    name = "huffman"

    def __init__(self, feature_shape: Sequence[int], quantizer: nn.Module, code):
        super().__init__(feature_shape)
        self.quantizer, self.code = quantizer, code
        self.code_size = "8bit-huffman"

    def encode(self, feature: torch.Tensor) -> bytes:
        symbols = self.quantizer.quantize(feature.unsqueeze(0)).flatten(1).cpu().numpy()
        return self.code.encode(symbols)[0]

    def decode(self, payload: bytes) -> torch.Tensor:
        from coinfer.core.entropy import unframe

        n, _ = unframe(payload, self.code.magic)  # BitstreamError (a ValueError) for a broken packet
        if n != self.feature_elements:
            raise ValueError(f"huffman packet announces {n} symbols; a {self.feature_shape} feature has "
                             f"{self.feature_elements}")
        symbols = torch.as_tensor(self.code.decode([payload])[0])
        return self.quantizer.dequantize(symbols).view(self.feature_shape)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(repr((float(self.quantizer.low), float(self.quantizer.high),
                                      tuple(self.code.lengths))).encode()).hexdigest()
        return f"huffman|{digest}"


@torch.inference_mode()
def fit_huffman_codec(device_part: nn.Module, dataset: str, images: int = 2000,
                      batch_size: int = 500) -> HuffmanCodec:
    """Fit the 8-bit range and the Huffman code on the features of the first ``images`` training images.

    The features are computed in float64 so that a device and a server fitting independently (with
    different numbers of CPU threads, whose float32 sums may round differently) get the same range
    and the same code; the range is then stored in float32, as the quantizer uses it.
    """
    import copy

    from coinfer.data import load_dataset, make_loader
    from coinfer.core.encoding import UniformQuantizer
    from coinfer.core.entropy import HuffmanCode

    if images < 1:
        raise ValueError(f"need >= 1 training image to fit a Huffman code, got {images!r}")
    train = load_dataset(dataset, train=True, limit=images)
    # A CPU copy: the loader's images are CPU tensors, and the result must not depend on a GPU's sums.
    exact = copy.deepcopy(device_part).cpu().double().eval()
    features = torch.cat([exact(x.double()) for x, _ in make_loader(train, batch_size, shuffle=False)])
    quantizer = UniformQuantizer(8).fit_range(features)  # buffers stay float32
    code = HuffmanCode.from_samples(quantizer.quantize(features.float()).cpu().numpy().reshape(-1),
                                    quantizer.alphabet)
    return HuffmanCodec(tuple(features.shape[1:]), quantizer, code)


def _huffman_factory(shape: tuple[int, ...], argument: str | None, context: dict) -> PayloadCodec:
    """``<split>:huffman[:<training images>]`` (default 2000, as the encoding experiment)."""
    if context.get("device_part") is None or context.get("dataset") is None:
        raise ValueError("a huffman codec is fitted on training features: build it through build_configurations")
    try:
        images = int(argument) if argument else 2000
    except ValueError:
        raise ValueError(f"huffman takes a number of training images, e.g. 'layer3.1:huffman:2000', "
                         f"got {argument!r}") from None
    if len(context["device_part"]) == 0:
        raise ValueError("huffman needs a split point after at least one stage (not 'input')")
    return fit_huffman_codec(context["device_part"], context["dataset"], images)


def codec_checkpoint_path(preset: str, point: str, code_size: str):
    """Where :func:`train_learned_codec` keeps a codec: ``data/checkpoints/<preset>/codec_<split>_<size>.pt``."""
    from coinfer.config import get_preset
    from coinfer.train import checkpoint_dir

    return checkpoint_dir(get_preset(preset)) / f"codec_{canonical_split_point(point)}_{code_size}.pt"


def load_learned_codec(path, weights: str | None = None) -> tuple[nn.Module, dict]:
    """A trained codec and its metadata from a checkpoint of :func:`train_learned_codec` (weights_only).

    ``weights``, the SHA-256 of the network the codec will sit in (:func:`weights_digest`), is checked
    against the digest the codec was trained on: a codec is only valid for its own backbone.
    """
    from coinfer.core.encoding import build_codec
    from coinfer.train import load_checkpoint

    state, meta = load_checkpoint(path)
    if meta.get("kind") != "feature-codec":
        raise ValueError(f"{path} is a {meta.get('kind')!r} checkpoint, not a 'feature-codec' one")
    if weights is not None and meta.get("backbone_weights_sha256") != weights:
        raise ValueError(f"codec {path} was trained on a network with weights "
                         f"{str(meta.get('backbone_weights_sha256'))[:12]}..., not the loaded {weights[:12]}...")
    codec = build_codec(tuple(meta["feature_shape"]), meta["code_size"], meta.get("kernel_size", 3))
    codec.load_state_dict(state)
    return codec.eval(), meta


def train_learned_codec(model: nn.Module, point: str, code_size: str, preset: str = "quick",
                        path=None, log: Callable[[str], None] = print, **overrides) -> tuple[nn.Module, dict]:
    """Train a learned codec at ``point`` in front of ``model``'s frozen server part and save it.

    Runs :mod:`coinfer.experiments.encoding`'s recipe (``get_encode_config(preset)`` with ``overrides``,
    cached features of the frozen device part, warm-up, k-means codewords, quantized epochs, entropy
    model) and evaluates it on the test split. Saved with :func:`coinfer.train.save_checkpoint` at
    ``path`` (default :func:`codec_checkpoint_path`), with the backbone's digest in the metadata.
    """
    from coinfer.data import load_dataset
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import FeatureSource, evaluate_codec, freeze, get_encode_config, train_codec
    from coinfer.config import get_preset
    from coinfer.train import save_checkpoint, seed_everything

    point = canonical_split_point(point)
    preset_obj = get_preset(preset)
    config = get_encode_config(preset, **overrides)
    start = time.time()
    model = freeze(model.eval())
    device_part, server_part = split(model, point)
    train_set = load_dataset(preset_obj.dataset, train=True, limit=config.train_limit)
    test_set = load_dataset(preset_obj.dataset, train=False, limit=config.test_limit)
    train_src = FeatureSource(device_part, train_set, precompute=True, batch_size=config.eval_batch_size)
    shape = train_src.feature_shape
    size = config.code_size_at(code_size, shape)
    seed_everything(preset_obj.seed)
    # Beside the device part (FeatureSource's features are there), on a GPU if the model is on one.
    codec = build_codec(shape, size, config.kernel_size, config.temperature, config.commitment).to(train_src.device)
    history = train_codec(codec, server_part, train_src, config, seed=preset_obj.seed, desc=f"{point} {size}")
    del train_src
    result = evaluate_codec(codec, server_part,
                            FeatureSource(device_part, test_set, precompute=True, batch_size=config.eval_batch_size))
    meta = {"kind": "feature-codec", "split": point, "code_size": str(size), "feature_shape": list(shape),
            "kernel_size": config.kernel_size, "backbone_weights_sha256": weights_digest(model),
            "preset": preset_obj.name, "dataset": preset_obj.dataset, "seed": preset_obj.seed,
            "test_accuracy": result["accuracy"], "bits_real": result["bits_real"],
            "test_images": result["test_images"], "train_loss": [round(v, 4) for v in history["loss"]],
            "encode_config": config.to_dict(), "wall_time_s": round(time.time() - start, 1)}
    path = path or codec_checkpoint_path(preset_obj.name, point, code_size)
    save_checkpoint(path, codec, meta)
    log(f"codec {point} {size}: test accuracy {result['accuracy']:.4f}, {result['bits_real']:.1f} bits per image "
        f"(payload), trained in {meta['wall_time_s']:.0f} s; saved {path}")
    return codec.eval(), meta


def _learned_factory(shape: tuple[int, ...], argument: str | None, context: dict) -> PayloadCodec:
    """``<split>:learned:<path or code size>``: a codec checkpoint by path, or by code size in the
    preset's checkpoint folder (:func:`codec_checkpoint_path`)."""
    from pathlib import Path

    if not argument:
        raise ValueError("a learned codec needs a checkpoint: '<split>:learned:<path.pt>' or "
                         "'<split>:learned:<code size>' (e.g. layer3.1:learned:d16-l4)")
    path = Path(argument)
    if not path.suffix == ".pt":
        path = codec_checkpoint_path(context.get("preset") or "quick", context["split"], argument)
    if not path.exists():
        raise FileNotFoundError(f"no codec checkpoint at {path}; train one with 'python -m coinfer train-codec "
                                f"--preset {context.get('preset') or 'quick'} --split {context['split']} "
                                f"--code-size {argument}'")
    codec, meta = load_learned_codec(path, context.get("weights"))
    if canonical_split_point(meta["split"]) != context["split"] or tuple(meta["feature_shape"]) != tuple(shape):
        raise ValueError(f"codec {path} was trained at {meta['split']} on {meta['feature_shape']} features, "
                         f"not at {context['split']} on {list(shape)}")
    return LearnedCodec(shape, codec, meta["code_size"], source=str(path))


#: Codec factories by name: ``factory(feature_shape, argument, context) -> PayloadCodec``; ``argument``
#: is the text after a second colon in a configuration spec (``"layer3.1:learned:d16-l4"``) or None;
#: ``context`` holds ``split``, ``weights`` (the network's digest), ``preset``, ``device_part`` (the
#: network's part before the split) and ``dataset`` (its training data, for codecs fitted on features).
CODECS: dict[str, Callable[[tuple[int, ...], str | None, dict], PayloadCodec]] = {
    "float32": lambda shape, arg, context: Float32Codec(shape),
    "uint8": lambda shape, arg, context: Uniform8BitCodec(shape),
    "learned": _learned_factory,
    "huffman": _huffman_factory,
}


def register_codec(name: str, factory: Callable[[tuple[int, ...], str | None, dict], PayloadCodec]) -> None:
    """Make ``"<split>:<name>[:<argument>]"`` configuration specs build codecs with ``factory``."""
    if not re.fullmatch(r"[A-Za-z0-9_+.-]+", name):
        raise ValueError(f"codec name {name!r} may contain only letters, digits and _+.-")
    CODECS[name] = factory


# -- configurations --------------------------------------------------------------------------------

def weights_digest(*modules: nn.Module) -> str:
    """SHA-256 (hex) over the modules' state dicts, names and values: equal weights, equal digest."""
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Configuration:
    """One runnable co-inference configuration: split point, codec, and the two network parts.

    ``device_macs`` and ``server_macs`` include the codec's own MACs. ``config_id`` is a non-zero
    32-bit hash of the spec, the codec's fingerprint and the weights digest.
    """

    spec: str
    split: str
    codec: PayloadCodec
    device_part: nn.Module
    server_part: nn.Module
    feature_shape: tuple[int, ...]
    device_macs: int
    server_macs: int
    weights: str
    config_id: int = 0

    def __post_init__(self):
        text = f"coinfer-config|{wire.VERSION}|{self.spec}|{self.codec.fingerprint()}|{self.weights}"
        self.config_id = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") or 1

    @torch.inference_mode()
    def run_device(self, image: torch.Tensor) -> bytes:
        """One image ``[C, H, W]`` -> the payload bytes (device part, then the codec's encoder)."""
        return self.codec.encode(self.device_part(image.unsqueeze(0))[0])

    @torch.inference_mode()
    def run_server(self, payload: bytes) -> tuple[torch.Tensor, float, float]:
        """Payload -> ``(logits, decode_s, compute_s)``; raises ValueError for a payload the codec refuses."""
        t0 = time.perf_counter()
        feature = self.codec.decode(payload)
        t1 = time.perf_counter()
        logits = self.server_part(feature.unsqueeze(0))[0]
        return logits, t1 - t0, time.perf_counter() - t1

    @torch.inference_mode()
    def run_local(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the whole configuration (device part, encode, decode, server part) in one process."""
        return torch.stack([self.run_server(self.run_device(image))[0] for image in images])

    def describe(self) -> dict:
        return {"config_id": self.config_id, "spec": self.spec, "split": self.split, "codec": self.codec.name,
                "feature_shape": list(self.feature_shape), "device_macs": self.device_macs,
                "server_macs": self.server_macs, "weights_sha256": self.weights}


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """``"s3:uint8"`` -> ``("layer2.1", "uint8", None)``; the split point is canonicalized."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"configuration spec {spec!r} must read '<split point>:<codec>[:<argument>]', "
                         f"e.g. 'layer2.1:uint8'; codecs: {', '.join(CODECS)}")
    point = canonical_split_point(parts[0])
    if parts[1] not in CODECS:
        raise ValueError(f"unknown codec {parts[1]!r} in spec {spec!r}; available codecs: {', '.join(CODECS)}")
    return point, parts[1], parts[2] if len(parts) == 3 else None


def build_configurations(model: nn.Module, specs: Iterable[str], preset: str | None = None,
                         dataset: str | None = None) -> list[Configuration]:
    """A :class:`Configuration` for every spec, all sharing ``model``'s weights (no copies).

    MACs come from :func:`coinfer.core.costs.profile_splits` (thop) plus the codec's own. ``preset``
    tells learned codecs given by code size where to find their checkpoints; ``dataset`` (default: the
    preset's) is what codecs fitted on training features (``huffman``) read.
    """
    from coinfer.core.costs import profile_splits

    from coinfer.config import get_preset

    specs = list(specs)
    dataset = dataset or get_preset(preset or "quick").dataset
    model = model.eval()
    profiles = {row.point: row for row in profile_splits(model)}
    digest = weights_digest(model)
    configurations = []
    for spec in specs:
        point, codec_name, argument = parse_spec(spec)
        row = profiles[point]
        device_part, server_part = split(model, point)
        codec = CODECS[codec_name](tuple(row.feature_shape), argument,
                                   {"split": point, "weights": digest, "preset": preset,
                                    "device_part": device_part, "dataset": dataset})
        canonical = f"{point}:{codec_name}" + (f":{argument}" if argument is not None else "")
        configurations.append(Configuration(
            spec=canonical, split=point, codec=codec, device_part=device_part, server_part=server_part,
            feature_shape=tuple(row.feature_shape), device_macs=row.device_macs + codec.device_macs,
            server_macs=row.server_macs + codec.server_macs, weights=digest))
    ids = [c.config_id for c in configurations]
    if len(set(ids)) != len(ids):
        raise ValueError(f"configuration specs {list(specs)} contain duplicates")
    return configurations


def load_model_for(preset: str | None = None, checkpoint: str | None = None) -> tuple[nn.Module, dict]:
    """The network to serve: ``checkpoint`` if given, else the preset's baseline checkpoint.

    Never trains: serving an untrained network by accident would look like a broken server.
    """
    from coinfer.train import checkpoint_dir, load_model
    from coinfer.config import get_preset

    if checkpoint is None:
        path = checkpoint_dir(get_preset(preset or "quick")) / "baseline.pt"
        if not path.exists():
            raise FileNotFoundError(f"no baseline checkpoint at {path}; train it first with "
                                    f"'python -m coinfer train --preset {preset or 'quick'}' or pass --checkpoint")
    else:
        path = checkpoint
    return load_model(path, torch.device("cpu"))


def load_test_images(dataset: str, n: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Test images ``offset .. offset + n - 1`` of ``dataset`` as a batch ``[n, 3, 32, 32]`` and their labels."""
    from coinfer.data import load_dataset

    if n < 1 or offset < 0:
        raise ValueError(f"need n >= 1 images from offset >= 0, got n={n!r}, offset={offset!r}")
    data = load_dataset(dataset, train=False, limit=offset + n)
    items = [data[i] for i in range(offset, len(data))]
    if not items:
        raise ValueError(f"offset {offset} is past the end of {dataset}'s test split ({len(data)} images)")
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


# -- the edge server -------------------------------------------------------------------------------

class EdgeServer:
    """A TCP server running the server side of one or more configurations.

    One thread per connection, at most ``max_connections`` at a time (a connection beyond that gets a
    BUSY error and is closed). Each connection may send any number of frames; a frame that breaks the
    wire format closes only that connection (see :mod:`coinfer.serve.wire`); a connection idle for
    ``idle_timeout`` seconds is closed, so a stalled client cannot hold a slot forever.

    Parameters
    ----------
    configurations : list of Configuration
    host, port : str, int
        Where to listen. The default host 127.0.0.1 accepts only this machine; use ``"0.0.0.0"`` to
        accept devices on the network. Port 0 picks a free port (see :attr:`address`).
    max_connections : int
    max_payload : int
        Largest FEATURE payload accepted, bytes.
    idle_timeout : float
        Seconds.
    max_requests : int, optional
        Stop after answering this many FEATURE frames (for tests and scripted runs).

    Example::

        >>> with EdgeServer(configurations) as server:      # doctest: +SKIP
        ...     host, port = server.address
    """

    def __init__(self, configurations: Sequence[Configuration], host: str = "127.0.0.1", port: int = 0,
                 max_connections: int = 8, max_payload: int = wire.DEFAULT_MAX_PAYLOAD,
                 idle_timeout: float = 30.0, max_requests: int | None = None):
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if max_payload < 1:
            raise ValueError(f"max_payload must be >= 1 byte, got {max_payload!r}")
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"max_requests must be >= 1 or None, got {max_requests!r}")
        self.configurations = {c.config_id: c for c in configurations}
        self.max_connections, self.max_payload = max_connections, max_payload
        self.idle_timeout, self.max_requests = idle_timeout, max_requests
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(0.1)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._stats = Counter()
        self._errors = Counter()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    def info(self) -> dict:
        return {"configurations": [c.describe() for c in self.configurations.values()],
                "max_payload": self.max_payload, "max_connections": self.max_connections,
                "wire_version": wire.VERSION}

    def stats(self) -> dict:
        """Counters: connections (total, open now, most at once, refused busy), requests, errors by code."""
        with self._lock:
            out = dict(self._stats)
            out["open_connections"] = len(self._open)
            out["errors"] = dict(self._errors)
        for key in ("connections", "max_concurrent_connections", "busy_refused", "requests",
                    "truncated_frames", "idle_closed"):
            out.setdefault(key, 0)
        return out

    # lifecycle
    def start(self) -> "EdgeServer":
        self._accept_thread = threading.Thread(target=self._accept_loop, name="coinfer-accept", daemon=True)
        self._accept_thread.start()
        return self

    def serve_forever(self) -> None:
        """Run until :meth:`stop` (another thread, Ctrl-C) or ``max_requests`` answers."""
        if self._accept_thread is None:
            self.start()
        try:
            while not self._stopped.wait(0.2):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return (safe from a signal handler or another thread)."""
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops; returns whether it did within ``timeout`` seconds."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        self._stopped.set()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._open)
        for conn in conns:  # wake up handlers blocked in recv
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0  # one deadline for all handlers, not 5 s each
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "EdgeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # internals
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not self._slots.acquire(blocking=False):
                self._count("busy_refused")
                self._send_error(conn, 0, ErrorCode.BUSY,
                                 f"server holds its maximum of {self.max_connections} connections; retry later")
                try:
                    conn.shutdown(socket.SHUT_WR)  # FIN after the reply; the peer may still be sending
                except OSError:
                    pass
                conn.close()
                continue
            with self._lock:
                self._open.add(conn)
                self._stats["connections"] += 1
                self._stats["max_concurrent_connections"] = max(self._stats["max_concurrent_connections"],
                                                                len(self._open))
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve_connection, args=(conn, peer),
                                          name=f"coinfer-conn-{peer}", daemon=True)
                self._threads.append(thread)
            thread.start()

    def _send_error(self, conn: socket.socket, request_id: int, code: ErrorCode, message: str) -> None:
        with self._lock:
            self._errors[code.name] += 1
        try:
            conn.sendall(wire.Frame(MessageType.ERROR, 0, request_id, wire.pack_error(code, message)).to_bytes())
        except OSError:
            pass  # the peer is gone; nothing to tell

    def _serve_connection(self, conn: socket.socket, peer) -> None:
        conn.settimeout(self.idle_timeout)
        try:
            while not self._stopped.is_set():
                try:
                    frame = wire.read_frame(conn, self.max_payload)
                except wire.WireError as error:  # the stream is out of step: say why, then close
                    log.info("closing %s: %s", peer, error)
                    self._send_error(conn, 0, error.code, str(error))
                    self._linger(conn)
                    return
                except wire.ConnectionClosed as closed:
                    if closed.partial:
                        self._count("truncated_frames")
                        log.info("%s disconnected mid-frame: %s", peer, closed)
                    return
                except TimeoutError:
                    self._count("idle_closed")
                    return
                except OSError:
                    return
                if not self._answer(conn, frame):
                    return
        finally:
            with self._lock:
                self._open.discard(conn)
            self._slots.release()
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, conn: socket.socket, frame: wire.Frame) -> bool:
        """Reply to one well-formed frame; returns whether to keep the connection."""
        if frame.type == MessageType.INFO:
            reply = wire.Frame(MessageType.INFO_REPLY, 0, frame.request_id, wire.pack_info(self.info()))
            return self._send(conn, reply)
        if frame.type != MessageType.FEATURE:
            self._send_error(conn, frame.request_id, ErrorCode.UNEXPECTED_TYPE,
                             f"a server accepts FEATURE and INFO frames, not {frame.type.name}")
            return True
        configuration = self.configurations.get(frame.config_id)
        if configuration is None:
            known = ", ".join(f"{c.config_id} ({c.spec})" for c in self.configurations.values())
            self._send_error(conn, frame.request_id, ErrorCode.UNKNOWN_CONFIG,
                             f"no configuration with id {frame.config_id}; this server holds {known}")
            return True
        try:
            logits, decode_s, compute_s = configuration.run_server(frame.payload)
        except ValueError as error:
            self._send_error(conn, frame.request_id, ErrorCode.BAD_PAYLOAD, str(error))
            return True
        except Exception as error:  # a bug or a numerically broken payload must not kill the server
            log.exception("configuration %s failed", configuration.spec)
            self._send_error(conn, frame.request_id, ErrorCode.INTERNAL, f"{type(error).__name__}: {error}")
            return True
        payload = wire.pack_result(int(logits.argmax()), logits.detach().cpu().numpy(), decode_s, compute_s)
        with self._lock:  # counted before the reply leaves, so a device that has its answer sees it counted
            self._stats["requests"] += 1
            done = self.max_requests is not None and self._stats["requests"] >= self.max_requests
        keep = self._send(conn, wire.Frame(MessageType.RESULT, frame.config_id, frame.request_id, payload))
        if done:
            self._stopped.set()
        return keep

    @staticmethod
    def _linger(conn: socket.socket, limit_bytes: int = 1 << 18, limit_s: float = 0.5) -> None:
        """Half-close, then read and drop what the peer already sent (at most ``limit_bytes`` or
        ``limit_s``): closing with unread input would make the kernel send a reset, which can destroy
        the error reply before the peer reads it."""
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(limit_s)
            deadline, dropped = time.monotonic() + limit_s, 0
            while dropped < limit_bytes and time.monotonic() < deadline:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:
            pass

    @staticmethod
    def _send(conn: socket.socket, frame: wire.Frame) -> bool:
        try:
            conn.sendall(frame.to_bytes())
            return True
        except OSError:
            return False


class ServerProcess:
    """``python -m coinfer serve`` in a child process on 127.0.0.1 and a free port: a real second process
    (its own interpreter, GIL and torch threads), as on two machines.

    ``serve_args`` are passed on (``--config``, ``--preset``/``--checkpoint``, ``--threads``, ...).
    :meth:`stop` interrupts it and returns the counters it prints on the way out (:meth:`EdgeServer.stats`).
    """

    def __init__(self, serve_args: Sequence[str], start_timeout: float = 180.0):
        import subprocess
        import sys
        from pathlib import Path

        package_parent = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [package_parent] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coinfer", "serve", "--host", "127.0.0.1", "--port", "0", *serve_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.address: tuple[str, int] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(start_timeout) or self.address is None:
            self.process.kill()
            self._reader.join(timeout=5)
            raise RuntimeError("the server process did not start listening; its output:\n" + "".join(self.lines[-20:]))

    def _read(self) -> None:  # drain the pipe for the whole life of the process, so it never blocks
        for line in self.process.stdout:
            self.lines.append(line)
            if "listening on" in line and self.address is None:
                host, _, port = line.strip().rpartition(" ")[2].rpartition(":")
                self.address = (host, int(port))
                self._listening.set()
        self._listening.set()

    def stop(self, timeout: float = 30.0) -> dict:
        """Stop the server (SIGTERM, which ``python -m coinfer serve`` handles) and return its final counters.

        Raises RuntimeError, with the server's last output, if it printed none (it crashed or hung).
        """
        import json
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        for line in reversed(self.lines):
            if line.startswith("stopped; "):
                return json.loads(line[len("stopped; "):])
        raise RuntimeError(f"the server process (exit code {self.process.returncode}) printed no final "
                           "counters; its last output:\n" + "".join(self.lines[-20:]))

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.stop()
        except RuntimeError:
            if exc_type is None:  # do not hide the error that is already on its way
                raise


# -- the device ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measurement:
    """One image through a real link. Times in seconds, all from ``time.perf_counter``.

    ``device_s``: device part + codec encoder. ``send_s``: handing the frame (header + payload) to the
    shaped link. ``server_decode_s`` / ``server_compute_s``: measured by the server. ``total_s``: from
    the image entering the device part to the class arriving back; ``other_s`` is what the parts leave
    over (the reply, loopback, thread scheduling).
    """

    predicted_class: int
    payload_bytes: int
    device_s: float
    send_s: float
    server_decode_s: float
    server_compute_s: float
    total_s: float

    @property
    def server_s(self) -> float:
        return self.server_decode_s + self.server_compute_s

    @property
    def other_s(self) -> float:
        return self.total_s - self.device_s - self.send_s - self.server_s

    @property
    def frame_bytes(self) -> int:
        return self.payload_bytes + wire.HEADER_SIZE


class DeviceClient:
    """The device side: runs a configuration's device part and codec, sends through a shaped link.

    Parameters
    ----------
    configuration : Configuration
        Must be one the server holds (same split, codec and weights); checked by :meth:`check`.
    host, port : str, int
    rate : float or None
        Uplink rate in bytes/s (None: unshaped).
    burst : float
        Token-bucket depth in bytes (see :class:`LinkShaper`).
    timeout : float
        Seconds to wait for any reply.
    """

    def __init__(self, configuration: Configuration, host: str, port: int, rate: float | None = None,
                 burst: float = 0.0, timeout: float = 60.0, max_reply: int = 1 << 20):
        self.configuration = configuration
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise ConnectionError(f"cannot reach an edge server at {host}:{port} ({error}); is "
                                  "'python -m coinfer serve' running there, on that port and address?") from error
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.link = LinkShaper(self.sock, rate, burst)
        self.max_reply = max_reply
        self._next_id = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "DeviceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request_id(self) -> int:
        rid, self._next_id = self._next_id, (self._next_id % (2**32 - 1)) + 1
        return rid

    def _reply(self, request_id: int) -> wire.Frame:
        frame = wire.read_frame(self.sock, self.max_reply)
        if frame.type == MessageType.ERROR:
            raise wire.RemoteError(*wire.unpack_error(frame.payload))
        if frame.request_id != request_id:
            raise wire.WireError(ErrorCode.BAD_PAYLOAD, f"reply to request {frame.request_id}, "
                                 f"expected {request_id}")
        return frame

    def info(self) -> dict:
        """The server's configurations and limits (an INFO round trip, unshaped)."""
        rid = self._request_id()
        self.sock.sendall(wire.Frame(MessageType.INFO, 0, rid, b"").to_bytes())
        frame = self._reply(rid)
        if frame.type != MessageType.INFO_REPLY:
            raise wire.WireError(ErrorCode.UNEXPECTED_TYPE, f"expected INFO_REPLY, got {frame.type.name}")
        return wire.unpack_info(frame.payload)

    def check(self) -> None:
        """Raise ValueError unless the server holds this client's configuration (same id)."""
        held = self.info()["configurations"]
        if not any(c.get("config_id") == self.configuration.config_id for c in held):
            same_spec = [c for c in held if c.get("spec") == self.configuration.spec]
            hint = (" (the server has this spec with other weights or codec settings: load the same "
                    "checkpoint on both sides)" if same_spec else "")
            raise ValueError(f"server does not hold configuration {self.configuration.spec!r} "
                             f"(id {self.configuration.config_id}){hint}; it holds "
                             + ", ".join(f"{c.get('spec')} (id {c.get('config_id')})" for c in held))

    def infer(self, image: torch.Tensor) -> Measurement:
        """Classify one image ``[C, H, W]`` through the server, timing each part."""
        t0 = time.perf_counter()
        payload = self.configuration.run_device(image)
        t1 = time.perf_counter()
        rid = self._request_id()
        self.link.send(wire.Frame(MessageType.FEATURE, self.configuration.config_id, rid, payload).to_bytes())
        t2 = time.perf_counter()
        frame = self._reply(rid)
        t3 = time.perf_counter()
        if frame.type != MessageType.RESULT:
            raise wire.WireError(ErrorCode.UNEXPECTED_TYPE, f"expected RESULT, got {frame.type.name}")
        result = wire.unpack_result(frame.payload)
        return Measurement(result.predicted_class, len(payload), t1 - t0, t2 - t1,
                           result.server_decode_s, result.server_compute_s, t3 - t0)


# -- the latency model and measurement -------------------------------------------------------------

def configuration_record(configuration: Configuration, frame_bytes: float, accuracy: float):
    """The configuration as a :class:`coinfer.results.Record`; ``bits_per_image`` is what the link
    carries per image, ``8 x frame_bytes`` (payload and the 20-byte header)."""
    from coinfer.results import Record

    return Record(method=getattr(configuration.codec, "method", "original"), split=configuration.split,
                  accuracy=accuracy, device_macs=configuration.device_macs,
                  device_params=sum(p.numel() for p in configuration.device_part.parameters())
                  + getattr(configuration.codec, "device_params", 0),
                  server_macs=configuration.server_macs, bits_per_image=8 * frame_bytes,
                  code_size=getattr(configuration.codec, "code_size", configuration.codec.name))


def predict_latency(record, rate: float | None, device_flops: float, server_flops: float) -> dict:
    """:func:`coinfer.core.latency.latency` of ``record`` with both sides at the given FLOP/s, seconds.

    ``rate`` in bytes/s; None (an unshaped loopback link) is modelled as an infinitely fast link.
    """
    from coinfer.core.latency import DeviceSpec, Environment, ServerSpec, latency

    memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    env = Environment(DeviceSpec("device process (this CPU)", flops=device_flops, memory_bytes=memory),
                      ServerSpec("server process (this CPU)", flops=server_flops),
                      rate_bps=8 * rate if rate is not None else 1.0)
    breakdown = latency(record, env)
    send_s = breakdown.communication_s if rate is not None else 0.0
    return {"device_s": breakdown.device_s, "send_s": send_s, "server_s": breakdown.server_s,
            "total_s": breakdown.device_s + send_s + breakdown.server_s}


def calibrate_flops(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32), repeats: int = 20) -> float:
    """This CPU's effective FLOP/s on ``model`` at batch size 1: 2 x MACs (thop) / median forward time
    (:func:`coinfer.core.costs.time_forward`).

    The device and the server share one machine on loopback, so one calibrated speed stands in for the
    paper's 24 GFLOP/s (Raspberry Pi 3) and 13.45 TFLOP/s (RTX 2080 Ti).
    """
    from coinfer.core.costs import thop_macs, time_forward

    macs, _ = thop_macs(model, tuple(input_shape))
    return 2 * macs / float(np.median(time_forward(model, tuple(input_shape), repeats=repeats)))


def summarize(measurements: Sequence[Measurement]) -> dict:
    """Median and 95th percentile of the total, and the median of every part (seconds)."""
    def pct(values, q):
        return float(np.percentile(np.asarray(values, dtype=float), q))

    m = measurements
    return {"images": len(m),
            "total_median_s": pct([x.total_s for x in m], 50), "total_p95_s": pct([x.total_s for x in m], 95),
            "device_median_s": pct([x.device_s for x in m], 50), "send_median_s": pct([x.send_s for x in m], 50),
            "server_median_s": pct([x.server_s for x in m], 50), "other_median_s": pct([x.other_s for x in m], 50),
            "payload_bytes_mean": float(np.mean([x.payload_bytes for x in m])),
            "frame_bytes_mean": float(np.mean([x.frame_bytes for x in m]))}


@dataclass
class MeasureResult:
    """What :func:`measure` found: one row per (configuration, rate), plus the server's counters."""

    rows: list[dict] = field(default_factory=list)
    flops_per_s: float = 0.0
    server_stats: dict = field(default_factory=dict)
    #: The machine's 1-minute load average before and after (other processes' load disturbs timings).
    load_average: tuple[float, float] = (float("nan"), float("nan"))

    def table(self) -> str:
        head = (f"{'configuration':<22} {'rate':>9} {'bytes':>7} {'median s':>9} {'p95 s':>8} "
                f"{'device':>8} {'send':>8} {'server':>8} {'other':>7} {'predicted':>9} {'meas/pred':>9} {'acc':>5}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['spec']:<22} {r['rate']:>9} {r['frame_bytes_mean']:>7.0f} {r['total_median_s']:>9.4f} "
                f"{r['total_p95_s']:>8.4f} {r['device_median_s']:>8.4f} {r['send_median_s']:>8.4f} "
                f"{r['server_median_s']:>8.4f} {r['other_median_s']:>7.4f} {r['predicted']['total_s']:>9.4f} "
                f"{r['ratio']:>9.2f} {r['accuracy']:>5.2f}")
        lines.append(f"times in seconds (median over images unless p95); bytes per frame incl. the "
                     f"{wire.HEADER_SIZE}-byte header; prediction: FLOPs / {self.flops_per_s / 1e9:.2f} GFLOP/s "
                     f"(calibrated) + frame bits / rate; server held at most "
                     f"{self.server_stats.get('max_concurrent_connections', 0)} connections at once")
        return "\n".join(lines)


def measure(configurations: Sequence[Configuration], images: torch.Tensor, labels: torch.Tensor,
            rates: Sequence[float | None], address: tuple[str, int] | None = None,
            flops_per_s: float | None = None, burst: float = 0.0, warmup: int = 2,
            progress: Callable[[str], None] | None = None) -> MeasureResult:
    """Measure every configuration at every link rate, ``len(images)`` images each.

    Starts an :class:`EdgeServer` on loopback in this process unless ``address`` points at a running
    one. ``flops_per_s`` (FLOPs per second) defaults to :func:`calibrate_flops` on the first
    configuration's network. Each (configuration, rate) pair first runs ``warmup`` unshaped images
    that are not counted.
    """
    if flops_per_s is None:
        full = nn.Sequential(configurations[0].device_part, configurations[0].server_part)
        flops_per_s = calibrate_flops(full, tuple(images.shape[1:]))
    server = None
    if address is None:
        server = EdgeServer(configurations).start()
        address = server.address
    result = MeasureResult(flops_per_s=flops_per_s)
    load_before = os.getloadavg()[0]
    try:
        for configuration in configurations:
            for rate in rates:
                with DeviceClient(configuration, *address, rate=None) as client:
                    client.check()
                    for image in images[:warmup]:
                        client.infer(image)
                    client.link = LinkShaper(client.sock, rate, burst)
                    runs = [client.infer(image) for image in images]
                row = summarize(runs)
                correct = sum(int(m.predicted_class == int(y)) for m, y in zip(runs, labels))
                record = configuration_record(configuration, row["frame_bytes_mean"], correct / len(runs))
                predicted = predict_latency(record, rate, flops_per_s, flops_per_s)
                row.update(spec=configuration.spec, split=configuration.split, codec=configuration.codec.name,
                           config_id=configuration.config_id, rate=format_link_rate(rate), rate_Bps=rate,
                           device_macs=configuration.device_macs, server_macs=configuration.server_macs,
                           predicted=predicted, ratio=row["total_median_s"] / predicted["total_s"],
                           accuracy=correct / len(runs))
                result.rows.append(row)
                if progress:
                    progress(f"{configuration.spec} at {format_link_rate(rate)}: median {row['total_median_s']:.4f} s, "
                             f"predicted {predicted['total_s']:.4f} s")
    finally:
        result.load_average = (load_before, os.getloadavg()[0])
        if server is not None:
            result.server_stats = server.stats()
            server.stop()
    return result


def concurrency_probe(configuration: Configuration, address: tuple[str, int], images: torch.Tensor,
                      clients: int) -> dict:
    """Run ``clients`` devices at once (unshaped), each classifying all ``images``; returns timings.

    All clients connect before any sends, so the server must hold ``clients`` connections together.
    """
    barrier = threading.Barrier(clients)
    times: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def one():
        try:
            with DeviceClient(configuration, *address) as client:
                barrier.wait(timeout=30)
                runs = [client.infer(image) for image in images]
                barrier.wait(timeout=120)
            with lock:
                times.extend(m.total_s for m in runs)
        except Exception as error:  # collected and reported, not swallowed
            with lock:
                failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=one) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "images_per_client": len(images), "failures": failures,
            "wall_s": wall, "throughput_images_per_s": len(times) / wall if wall else 0.0,
            "total_median_s": float(np.median(times)) if times else float("nan")}
