"""Training a learned codec to serve: section IV-B's two-step encoder at one split point, saved.

Shao & Zhang (2020), section IV-B: in front of the frozen server part, a dimension-reduction encoder,
a learned quantizer and a decoder are trained for classification accuracy. The encoding experiment
(:mod:`coinfer.experiments.encoding`) trains them for its table; :func:`train_learned_codec` runs the
same recipe for one split point and code size and saves the codec as a checkpoint that
``python -m coinfer serve`` / ``device`` / ``measure`` load (:func:`coinfer.serve.configuration.load_learned_codec`)::

    python -m coinfer train-codec --preset quick --split layer3.1 --code-size d16-l4
"""

from __future__ import annotations

import time
from typing import Callable

from torch import nn

from coinfer.core.network import SplitPoint, split
from coinfer.serve.configuration import codec_checkpoint_path, weights_digest


def train_learned_codec(model: nn.Module, point: str, code_size: str, preset: str = "quick",
                        path=None, log: Callable[[str], None] = print, **overrides) -> tuple[nn.Module, dict]:
    """Train a learned codec at ``point`` in front of ``model``'s frozen server part and save it.

    Runs :mod:`coinfer.experiments.encoding`'s recipe (``get_encode_config(preset)`` with ``overrides``:
    features of the frozen device part cached or, with ``precompute=False``, computed per batch from
    images augmented as ``augment`` says; warm-up, k-means codewords, quantized epochs, entropy
    model) and evaluates it on the test split. Saved with :func:`coinfer.train.save_checkpoint` at
    ``path`` (default :func:`codec_checkpoint_path`), with the backbone's digest in the metadata.
    """
    from coinfer.data import load_split
    from coinfer.core.encoding import build_codec
    from coinfer.experiments.encoding import FeatureSource, evaluate_codec, freeze, get_encode_config, train_codec
    from coinfer.config import get_preset
    from coinfer.core.costs import module_device
    from coinfer.train import save_checkpoint, seed_everything

    point = SplitPoint(point)
    preset_obj = get_preset(preset)
    config = get_encode_config(preset, **overrides)
    start = time.time()
    model = freeze(model.eval())
    device_part, server_part = split(model, point)
    train_set = load_split(preset_obj.dataset, "train", preset_obj.validation, limit=config.train_limit,
                           augment=config.augment)     # as encoding.run trains
    test_set = load_split(preset_obj.dataset, "test", preset_obj.validation, limit=config.test_limit)
    # Where the model is: at split "input" the device part is empty, and a source would default to the CPU.
    device = module_device(model)
    train_src = FeatureSource(device_part, train_set, config.precompute, batch_size=config.eval_batch_size,
                              device=device)
    shape = train_src.feature_shape
    size = config.code_size_at(code_size, shape)
    seed_everything(preset_obj.seed)
    # Beside the device part (FeatureSource's features are there), on a GPU if the model is on one.
    codec = build_codec(shape, size, config.kernel_size, config.temperature, config.commitment).to(train_src.device)
    history = train_codec(codec, server_part, train_src, config, seed=preset_obj.seed, desc=f"{point} {size}")
    del train_src
    result = evaluate_codec(codec, server_part,
                            FeatureSource(device_part, test_set, config.precompute, batch_size=config.eval_batch_size,
                                         device=device))
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


