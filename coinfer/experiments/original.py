"""The float32 ``original`` table: the trained baseline split at every point, sending float32 features.

No training: the preset's baseline checkpoint (``python -m coinfer train``) is profiled at every
split point (:func:`coinfer.core.costs.profile_splits`). Chapter 6 compares the chooser on these
records with the sweep's. Regenerate with::

    python -m coinfer run original-float32 --preset quick      # data/results/original-float32_quick.json
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import torch

from coinfer.config import Preset, get_preset
from coinfer.core.costs import decision_bits, profile_splits
from coinfer.core.latency import ACTIVATIONS_KEY, split_activations
from coinfer.core.network import SPLIT_POINTS, CifarResNet18
from coinfer.paths import checkpoint_path
from coinfer.results import LookupTable, Provenance, Record

#: The table's name (``python -m coinfer run original-float32``; :func:`coinfer.paths.table_path`).
TABLE = "original-float32"


def original_records(model: CifarResNet18, accuracy: float, input_shape: Sequence[int] = (3, 32, 32),
                     points: Sequence[str] = SPLIT_POINTS) -> list[Record]:
    """Records of the uncompressed ``model`` split at each of ``points``, sending float32 features.

    Splitting is lossless, so every record has the unsplit network's ``accuracy``. MACs and
    parameters come from :func:`coinfer.core.costs.profile_splits` (thop). The device sends its
    feature as float32 (``feature_bits_float32``): at ``input`` that is the normalized image tensor
    (the server-based method's PNG is its own baseline); at ``output`` only the decision is sent,
    ceil(log2(classes)) bits (:func:`coinfer.core.costs.decision_bits`). Each record carries its peak activations in
    ``extra["device_peak_activations"]``. (The sweep's ``original`` baseline, with 8-bit features
    and Huffman coding, replaces these records where it exists.)

    Parameters
    ----------
    model : CifarResNet18
        The trained, unpruned network.
    accuracy : float
        Its test accuracy, a fraction.
    input_shape : sequence of int
        One image's shape (no batch axis).
    points : sequence of str
        Canonical split points to keep (default: all).

    Returns
    -------
    list of Record
        Method ``original``, code size ``float32``, in execution order.

    Examples
    --------
    >>> from coinfer.core.network import resnet18
    >>> from coinfer.experiments.original import original_records
    >>> records = original_records(resnet18(width=1 / 16), 0.9, points=("input", "layer2.1", "output"))
    >>> [(r.split, r.bits_per_image) for r in records]
    [('input', 98304.0), ('layer2.1', 65536.0), ('output', 4.0)]
    """
    activations = split_activations(model, input_shape)
    classes = model.config.num_classes
    records = []
    for row in profile_splits(model, tuple(input_shape)):
        if row.point not in points:
            continue
        bits = decision_bits(classes) if row.point == "output" else row.feature_bits_float32
        records.append(Record(
            method="original", split=row.point, accuracy=float(accuracy),
            device_macs=row.device_macs, device_params=row.device_params, server_macs=row.server_macs,
            bits_per_image=float(bits), code_size="float32",
            extra={ACTIVATIONS_KEY: activations[row.point], "width": model.config.width,
                   "feature_shape": list(row.feature_shape)}))
    return records


def run(preset: str | Preset = "quick") -> LookupTable:
    """Profile the preset's trained baseline at every split point: its float32 records as a table.

    The baseline checkpoint must exist (``python -m coinfer train --preset quick``); nothing is
    trained here. Save it with ``coinfer.experiments.run_table`` (or ``python -m coinfer run``).

    Parameters
    ----------
    preset : str or Preset
        Whose baseline checkpoint, dataset and accuracy drop.

    Returns
    -------
    LookupTable
        One ``original`` record per split point; the provenance carries the checkpoint's test
        accuracy and the preset's drop (:func:`coinfer.results.table_threshold`).

    Raises
    ------
    FileNotFoundError
        If the baseline checkpoint is missing.

    Examples
    --------
    >>> from coinfer.experiments.original import run
    >>> table = run("quick")                                       # the committed quick baseline
    >>> len(table.records), table.records[0].split, table.provenance.baseline_accuracy
    (12, 'input', 0.9098)
    """
    from coinfer.train import load_model

    spec = preset if isinstance(preset, Preset) else get_preset(preset)
    checkpoint = checkpoint_path(spec.name)
    if not checkpoint.exists():
        raise FileNotFoundError(f"no baseline checkpoint at {checkpoint}; train it first with "
                                f"'python -m coinfer train --preset {spec.name}'")
    start = time.time()
    model, meta = load_model(checkpoint, torch.device("cpu"))
    records = [replace(r, val_accuracy=meta.get("val_accuracy")) for r in original_records(model, meta["test_accuracy"])]
    return LookupTable(Provenance.collect(spec.dataset, spec.name, time.time() - start,
                                          command=f"python -m coinfer run {TABLE} --preset {spec.name}",
                                          seed=meta.get("seed"), baseline_accuracy=meta["test_accuracy"],
                                          accuracy_drop=spec.accuracy_drop, validation=meta.get("validation")),
                      records)
