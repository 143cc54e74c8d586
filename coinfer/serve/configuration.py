"""What a device and an edge server share: a configuration (split point + payload codec + weights).

Shao & Zhang (2020), Fig. 2: the device runs the network up to a split point and encodes the
feature; the server decodes it and runs the rest. A :class:`Configuration` is one such way of
running the network: a split point, a :class:`Codec` that turns the split feature into real
bytes and back, and the weights. Its ``config_id`` (a 32-bit hash of the three) travels in every
frame (:mod:`coinfer.serve.wire`), so a device and a server holding different weights or codecs are
told so instead of computing garbage.

The codecs are :mod:`coinfer.core.codecs`' (the very ones the encoding experiment measures): the
device sends ``codec.compress(features)[0]``, the server decodes ``codec.decompress([payload])``.
``float32`` (:class:`~coinfer.core.codecs.Float32Codec`, the raw feature), ``uint8``
(:class:`~coinfer.core.codecs.Uint8Codec`, 8-bit uniform quantization between the feature's own min
and max), ``huffman`` (:class:`~coinfer.core.codecs.Huffman8Codec`, the paper's "original + Huffman"
baseline, fitted as the encoding table fits it) and ``learned``
(:class:`~coinfer.core.codecs.LearnedCodec`, a trained :class:`coinfer.core.encoding.FeatureCodec`:
section IV-B's encoder, learned quantizer and range coder) are built in; :func:`register_codec` plugs
in others. A spec names one: ``"layer3.1:uint8"``, ``"s4:huffman:2000"``, ``"layer3.1:learned:d16-l4"``.
Learned codecs are trained by :func:`coinfer.experiments.codecs.train_learned_codec`; this module
only loads them.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from coinfer import paths
from coinfer.core.codecs import Codec, Float32Codec, Huffman8Codec, LearnedCodec, Uint8Codec, weights_digest
from coinfer.core.network import SplitPoint, split
from coinfer.serve import wire


@torch.inference_mode()
def fit_huffman_codec(device_part: nn.Module, dataset: str, images: int = 2000,
                      batch_size: int = 500, validation=None) -> Huffman8Codec:
    """The encoding table's 8-bit Huffman codec (:class:`coinfer.core.codecs.Huffman8Codec`), fitted on the
    device part's features of the first ``images`` training images that are not validation images, as
    :func:`coinfer.experiments.encoding.run` fits it (:func:`coinfer.data.load_split`'s ``"train"``
    part): the served code is the one whose bits the table reports.

    The features are computed in float64 on a CPU copy and rounded once to float32, so that a device
    and a server fitting independently (with different numbers of CPU threads, whose float32 sums may
    round differently) get the same range and the same code.

    Parameters
    ----------
    device_part : nn.Module
        The network up to the split point.
    dataset : str
        Whose training split the features come from.
    images, batch_size : int
        The preset's ``encoding.huffman_train_images`` and its batch size (the batch size changes nothing).
    validation : coinfer.data.ValidationSplit, optional
        The preset's held-out images (default: :class:`~coinfer.data.ValidationSplit`'s).

    >>> from coinfer.core.network import resnet18, split
    >>> codec = fit_huffman_codec(split(resnet18(width=1 / 16), "layer1.1")[0], "fashion-mnist", images=4)
    >>> codec.name, codec.feature_shape  # doctest: +SKIP
    ('huffman8', (4, 32, 32))
    """
    import copy

    from coinfer.data import ValidationSplit, load_split, make_loader

    if images < 1:
        raise ValueError(f"need >= 1 training image to fit a Huffman code, got {images!r}")
    train = load_split(dataset, "train", validation or ValidationSplit(), limit=images)
    # A CPU copy: the loader's images are CPU tensors, and the result must not depend on a GPU's sums.
    exact = copy.deepcopy(device_part).cpu().double().eval()

    def features():
        for x, _ in make_loader(train, batch_size, shuffle=False):
            yield exact(x.double()).float()

    return Huffman8Codec().fit(features)


def _huffman_factory(shape: tuple[int, ...], argument: str | None, context: dict) -> Codec:
    """``<split>:huffman[:<training images>]`` (default: the preset's ``encoding.huffman_train_images``,
    the images the encoding table's Huffman code is fitted on)."""
    if context.get("device_part") is None or context.get("dataset") is None:
        raise ValueError("a huffman codec is fitted on training features: build it through build_configurations")
    try:
        images = int(argument) if argument else int(context.get("huffman_images") or 2000)
    except ValueError:
        raise ValueError(f"huffman takes a number of training images, e.g. 'layer3.1:huffman:2000', "
                         f"got {argument!r}") from None
    if len(context["device_part"]) == 0:
        raise ValueError("huffman needs a split point after at least one stage (not 'input')")
    return fit_huffman_codec(context["device_part"], context["dataset"], images,
                             int(context.get("batch_size") or 500), context.get("validation"))


def codec_checkpoint_path(preset: str, point: SplitPoint | str, code_size: str):
    """Where :func:`train_learned_codec` keeps a codec: ``data/checkpoints/<preset>/codec_<split>_<size>.pt``."""
    from coinfer.config import get_preset

    return paths.codec_checkpoint_path(get_preset(preset).name, SplitPoint(point), code_size)


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


def _learned_factory(shape: tuple[int, ...], argument: str | None, context: dict) -> Codec:
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
    if meta["split"] != context["split"] or tuple(meta["feature_shape"]) != tuple(shape):
        raise ValueError(f"codec {path} was trained at {meta['split']} on {meta['feature_shape']} features, "
                         f"not at {context['split']} on {list(shape)}")
    return LearnedCodec(shape, codec, meta["code_size"], source=str(path))


def _without_argument(codec: Callable[[tuple[int, ...]], Codec]) -> Callable[[tuple[int, ...], str | None, dict], Codec]:
    """The factory of a codec that takes no argument: one given is refused, not ignored (``uint8:x``
    would otherwise be a second spelling, and a second configuration id, of ``uint8``)."""
    def factory(shape: tuple[int, ...], argument: str | None, context: dict) -> Codec:
        if argument is not None:
            raise ValueError(f"{codec.name} takes no argument, got {argument!r} in '{context['split']}:"
                             f"{codec.name}:{argument}'; write '{context['split']}:{codec.name}'")
        return codec(shape)
    return factory


#: Codec factories by name: ``factory(feature_shape, argument, context) -> Codec``; ``argument``
#: is the text after a second colon in a configuration spec (``"layer3.1:learned:d16-l4"``) or None;
#: ``context`` holds ``split``, ``weights`` (the network's digest), ``preset``, ``device_part`` (the
#: network's part before the split), ``dataset`` and ``validation`` (its training data less the held-out
#: images, for codecs fitted on features).
CODECS: dict[str, Callable[[tuple[int, ...], str | None, dict], Codec]] = {
    "float32": _without_argument(Float32Codec),
    "uint8": _without_argument(Uint8Codec),
    "learned": _learned_factory,
    "huffman": _huffman_factory,
}


def register_codec(name: str, factory: Callable[[tuple[int, ...], str | None, dict], Codec]) -> None:
    """Make ``"<split>:<name>[:<argument>]"`` configuration specs build codecs with ``factory``.

    The codec's ``fingerprint()`` must tell apart whatever its argument changes: two specs whose codecs
    share a split and a fingerprint are one configuration (:func:`build_configurations` refuses both).
    """
    if not re.fullmatch(r"[A-Za-z0-9_+.-]+", name):
        raise ValueError(f"codec name {name!r} may contain only letters, digits and _+.-")
    CODECS[name] = factory


@dataclass
class Configuration:
    """One runnable co-inference configuration: split point, codec, and the two network parts.

    ``device_macs`` and ``server_macs`` include the codec's own MACs. ``config_id`` is a non-zero
    32-bit hash of ``identity`` (the split and codec, however the spec named them:
    :func:`configuration_identity`; the spec itself when not given), the codec's fingerprint and the
    weights digest.
    """

    spec: str
    split: str
    codec: Codec
    device_part: nn.Module
    server_part: nn.Module
    feature_shape: tuple[int, ...]
    device_macs: int
    server_macs: int
    weights: str
    config_id: int = 0
    identity: str = ""

    def __post_init__(self):
        self.identity = self.identity or self.spec
        text = f"coinfer-config|{wire.VERSION}|{self.identity}|{self.codec.fingerprint()}|{self.weights}"
        self.config_id = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") or 1

    def run_device(self, image: torch.Tensor) -> bytes:
        """One image ``[C, H, W]`` -> the payload bytes (device part, then the codec's encoder)."""
        return self.run_device_timed(image)[0]

    @torch.inference_mode()
    def run_device_timed(self, image: torch.Tensor) -> tuple[bytes, float, float]:
        """One image ``[C, H, W]`` -> ``(payload, compute_s, encode_s)``: the bytes, the device part's
        seconds and the codec's encoder's seconds (``time.perf_counter``)."""
        t0 = time.perf_counter()
        feature = self.device_part(image.unsqueeze(0))
        t1 = time.perf_counter()
        payload = self.codec.compress(feature)[0]
        return payload, t1 - t0, time.perf_counter() - t1

    @torch.inference_mode()
    def run_server(self, payload: bytes) -> tuple[torch.Tensor, float, float]:
        """Payload -> ``(logits, decode_s, compute_s)``; raises ValueError for a payload the codec refuses."""
        t0 = time.perf_counter()
        feature = self.codec.decompress([payload])
        t1 = time.perf_counter()
        logits = self.server_part(feature)[0]
        return logits, t1 - t0, time.perf_counter() - t1

    @torch.inference_mode()
    def run_local(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the whole configuration (device part, encode, decode, server part) in one process."""
        return torch.stack([self.run_server(self.run_device(image))[0] for image in images])

    def describe(self) -> dict:
        return {"config_id": self.config_id, "spec": self.spec, "split": self.split, "codec": self.codec.name,
                "feature_shape": list(self.feature_shape), "device_macs": self.device_macs,
                "server_macs": self.server_macs, "weights_sha256": self.weights}


def parse_spec(spec: str) -> tuple[SplitPoint, str, str | None]:
    """``"s3:uint8"`` -> ``("layer2.1", "uint8", None)``: where a spec enters, its split point is validated."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"configuration spec {spec!r} must read '<split point>:<codec>[:<argument>]', "
                         f"e.g. 'layer2.1:uint8'; codecs: {', '.join(CODECS)}")
    point = SplitPoint(parts[0])
    if parts[1] not in CODECS:
        raise ValueError(f"unknown codec {parts[1]!r} in spec {spec!r}; available codecs: {', '.join(CODECS)}")
    return point, parts[1], parts[2] if len(parts) == 3 else None


def configuration_identity(point: SplitPoint | str, codec_name: str, argument: str | None, codec: Codec) -> str:
    """What a configuration id hashes in place of the spec: the split and the codec, not the spelling.

    A spec's argument only says how to find or fit the codec: ``huffman:2000`` fits on 2,000 images,
    as plain ``huffman`` does with the preset's default; ``learned:d16-l4`` and ``learned:<path>`` may
    load the same checkpoint. The codec's fingerprint, hashed beside this, already holds what they
    produce (the Huffman range and code; the learned code size and weights), so the identity keeps the
    split and the codec's name, and a learned codec's code size as a spec writes it (without its
    channels, which the fingerprint holds): the form of the specs the committed ids were made from,
    so those ids stay. A codec from :func:`register_codec` keeps its argument as written.

    Parameters
    ----------
    point : SplitPoint or str
        The split point (canonical name).
    codec_name : str
        The codec's name in the spec (``"huffman"``).
    argument : str or None
        The text after the spec's second colon.
    codec : Codec
        The codec the spec built.

    Examples
    --------
    >>> configuration_identity("layer3.1", "huffman", "2000", Huffman8Codec())
    'layer3.1:huffman'
    >>> configuration_identity("layer2.1", "uint8", None, Uint8Codec((4,)))
    'layer2.1:uint8'
    """
    from dataclasses import replace

    from coinfer.core.encoding import CodeSize

    if codec_name == "huffman" and isinstance(codec, Huffman8Codec):
        argument = None
    elif codec_name == "learned" and isinstance(codec, LearnedCodec):
        argument = str(replace(CodeSize.parse(codec.code_size), channels=None))
    return f"{point}:{codec_name}" + (f":{argument}" if argument is not None else "")


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
    preset_obj = get_preset(preset or "quick")
    dataset = dataset or preset_obj.dataset
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
                                    "device_part": device_part, "dataset": dataset,
                                    "validation": preset_obj.validation,
                                    "huffman_images": preset_obj.encoding.huffman_train_images,
                                    "batch_size": preset_obj.encoding.eval_batch_size})
        canonical = f"{point}:{codec_name}" + (f":{argument}" if argument is not None else "")
        configuration = Configuration(
            spec=canonical, split=point, codec=codec, device_part=device_part, server_part=server_part,
            feature_shape=tuple(row.feature_shape), device_macs=row.device_macs + codec.device_macs,
            server_macs=row.server_macs + codec.server_macs, weights=digest,
            identity=configuration_identity(point, codec_name, argument, codec))
        # The same codec at the same split, however spelled, is one configuration: served twice it
        # would be one id, or (a registered codec whose argument changes nothing) two ids for one codec.
        for earlier in configurations:
            if earlier.config_id == configuration.config_id or (
                    earlier.split == configuration.split and earlier.codec.fingerprint() == codec.fingerprint()):
                raise ValueError(f"configuration specs {earlier.spec!r} and {canonical!r} name the same codec "
                                 f"at {point} (fingerprint {codec.fingerprint()[:40]}): give it once")
        configurations.append(configuration)
    return configurations


def load_model_for(preset: str | None = None, checkpoint: str | None = None) -> tuple[nn.Module, dict]:
    """The network to serve: ``checkpoint`` if given, else the preset's baseline checkpoint.

    Never trains: serving an untrained network by accident would look like a broken server.
    """
    from coinfer.train import load_model
    from coinfer.config import get_preset

    if checkpoint is None:
        path = paths.checkpoint_path(get_preset(preset or "quick").name)
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
    if offset + n > len(data):   # fewer images than asked would be classified, and counted, silently
        raise ValueError(f"images {offset} .. {offset + n - 1} run past the end of {dataset}'s test split "
                         f"({len(data)} images): use offset + n <= {len(data)}")
    items = [data[i] for i in range(offset, offset + n)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


