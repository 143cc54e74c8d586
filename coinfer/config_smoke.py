"""The smoke run: every stage of a preset scaled down to a handful of steps, on the same code paths.

``COINFER_SMOKE=1`` (or ``COINFER_SMOKE=paper``: that preset only) makes
:func:`coinfer.config.get_preset` apply :func:`smoke_overrides`, so that CI runs the paper preset end
to end (full width, CIFAR-10 in its own format) in minutes on a CPU, and builds the book from its
tables (``tests/test_paper_smoke.py``). Only counts shrink; every switch that picks a code path stays.
"""

from __future__ import annotations

import os


#: Environment switch that scales presets down to a handful of steps and images
#: (:func:`smoke_overrides`): the same code paths at the preset's own width and dataset, in minutes on
#: a CPU. ``1`` (or ``true``, ``yes``, ``on``) scales every preset; preset names (``paper``, or
#: ``paper,quick``) scale those only, so that e.g. the book built from the paper preset's smoke tables
#: still reads the committed quick preset's checkpoints as they are. Read in one place, by
#: :func:`coinfer.config.get_preset`. Its tables and checkpoints carry the preset's own name, so run it
#: with ``COINFER_HOME`` pointing at a scratch folder.
SMOKE_ENV = "COINFER_SMOKE"

_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def smoke(preset: str | None = None, known: tuple[str, ...] | None = None) -> bool:
    """Whether ``COINFER_SMOKE`` asks for the smoke run of ``preset`` (of any preset, if None).

    ``known``: the valid preset names; a value that is neither on, off nor made of them is refused.

    >>> import os
    >>> from coinfer.config_smoke import smoke
    >>> saved = os.environ.get("COINFER_SMOKE")
    >>> os.environ["COINFER_SMOKE"] = "paper"
    >>> smoke("paper"), smoke("quick"), smoke()
    (True, False, True)
    >>> os.environ["COINFER_SMOKE"] = "papr"
    >>> smoke("paper", known=("quick", "paper"))
    Traceback (most recent call last):
        ...
    ValueError: COINFER_SMOKE='papr' names no preset: give 1 (every preset), preset names from quick, paper (comma-separated), or 0
    >>> _ = os.environ.pop("COINFER_SMOKE") if saved is None else os.environ.update(COINFER_SMOKE=saved)
    """
    value = os.environ.get(SMOKE_ENV, "").strip().lower()
    if value in _ON or value in _OFF:
        return value in _ON
    names = {name.strip() for name in value.split(",")}
    if known is not None and not names <= set(known):
        raise ValueError(f"{SMOKE_ENV}={os.environ[SMOKE_ENV]!r} names no preset: give 1 (every preset), preset "
                         f"names from {', '.join(known)} (comma-separated), or 0")
    return preset is None or preset in names


def _few(values: tuple, n: int) -> tuple:
    """The first and last of ``values`` (up to ``n`` in all, in order): a cut grid still reaches both ends."""
    values = tuple(values)
    if len(values) <= n:
        return values
    return values[:n - 1] + values[-1:]


def smoke_overrides(preset: "Preset") -> dict:
    """Overrides that scale every stage of ``preset`` down to a handful of steps and images.

    The network, dataset and every switch that chooses a code path (``encoding.precompute``,
    ``augment``, the schedule's kind, the criteria, ``png``) stay the preset's; only counts shrink:
    one epoch of at most 32 training images in batches of 16 (8 when pruning) per training, 20 validation and at most
    20 test images, masks updated every step, and each grid cut to its first and last values (2
    split points, one sparsity besides 0, one scalar and one vector code size). The sweep keeps one
    cell of every method, and the ``original`` feature at every split point (no training: the book's
    chapters compare against it at theirs).

    Parameters
    ----------
    preset : Preset
        The preset to scale down (``get_preset`` applies this when ``COINFER_SMOKE=1``).

    Returns
    -------
    dict
        Overrides for :func:`coinfer.config_overrides.override`, by dotted name.

    Examples
    --------
    >>> from coinfer.config import PRESETS, override
    >>> from coinfer.config_smoke import smoke_overrides
    >>> tiny = override(PRESETS["paper"], smoke_overrides(PRESETS["paper"]))
    >>> tiny.width, tiny.baseline.epochs, tiny.pruning.splits, tiny.encoding.precompute
    (1.0, 1, ('stem', 'pool'), False)
    """
    images, batch, test = 32, 16, 20
    enc, grid, jscc = preset.encoding, preset.sweep, preset.jscc
    # d16-l4 where the preset has it: the encoding chapter draws its codewords.
    scalar = sorted((c for c in enc.code_sizes if "-l" in c), key=lambda c: c != "d16-l4")[:1]
    vector = [c for c in enc.code_sizes if "-k" in c][:1]
    codes = tuple(scalar + vector) or enc.code_sizes[:1]
    nonzero = [s for s in grid.sparsities if s > 0]
    limits = {"train_limit": images, "batch_size": batch}
    # Pruning in batches of 8: 2-Step Pruning's steps (half the images each) then see two pruning
    # iterations, the first of which (by Taylor importance) cannot prune yet.
    prune_limits = {**limits, "batch_size": batch // 2}
    return {
        "validation.images": 20, "eval_batch_size": batch,
        "baseline": {"epochs": 1, **limits},
        "pruning": {"epochs": 1, "lr_step_epochs": 1, "schedule.interval": 1, **prune_limits,
                    "splits": _few(preset.pruning.splits, 2), "sparsities": preset.pruning.sparsities[-1:]},
        "encoding": {"warmup_epochs": min(1, enc.warmup_epochs), "epochs": 1, **limits,
                     "splits": _few(enc.splits, 2), "code_sizes": codes,
                     "huffman_splits": _few(enc.huffman_splits, 2), "huffman_train_images": images,
                     "eval_batch_size": batch, "test_limit": test},
        "rate": {"splits": _few(preset.rate.splits, 2), "weights": _few(preset.rate.weights, 2)},
        "jscc": {"train_images": images, "test_images": test, "epochs": 1, "batch_size": batch,
                 "snrs_db": _few(jscc.snrs_db, 2), "flip_rates": _few(jscc.flip_rates, 2),
                 "awgn_code_sizes": _few(jscc.awgn_code_sizes, 2), "bsc_code_sizes": _few(jscc.bsc_code_sizes, 2),
                 "mismatch_snrs_db": _few(jscc.mismatch_snrs_db, 2),
                 "mismatch_flip_rates": _few(jscc.mismatch_flip_rates, 2)},
        "sweep": {"framework_splits": grid.framework_splits[-1:], "sparsities": (0.0, *nonzero[-1:]),
                  "code_sizes": codes[:1], "original_splits": grid.original_splits,
                  "bottlenet_splits": grid.bottlenet_splits[-1:],
                  "bottlenet_reductions": grid.bottlenet_reductions[-1:],
                  "two_step_splits": grid.two_step_splits[-1:], "two_step_step1": grid.two_step_step1[-1:],
                  "two_step_step2": grid.two_step_step2[-1:], "png_images": test,
                  "prune": {**grid.prune, **prune_limits}, "encode": {**grid.encode, **limits, "test_limit": test,
                                                               "huffman_train_images": images}},
    }
