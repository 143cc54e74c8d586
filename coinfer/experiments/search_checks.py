"""What the configuration search knows before and during training: bounds, rejections, early stops.

A search trial (``coinfer.experiments.search``) costs one training. Three checks make some trials
cost less or nothing::

    before training  lower bounds of every objective and of the device part's memory, from the
                     network's architecture alone (the pruned part's channel counts are fixed by the
                     sparsity: which channels survive is learned, how many is not)
        memory bound > --device-memory budget      -> rejected: it cannot run on the device
        bounds dominated by a feasible point found -> rejected: it cannot improve the front
    after warm-up    the pruned network that a framework cell (or a 2-step cell's first step)
                     starts from is fine-tuned first and cached; its validation accuracy below
                     threshold - EARLY_STOP_MARGIN -> stopped before the codec is trained

The early stop's premise: a codec in front of the frozen server part reconstructs the pruned
network's feature from fewer bits, so the cell's accuracy stays near the pruned network's. It need
not stay below it (the decoder also fills in the pruned channels), but on the committed quick tables
no codec cell beats its pruned network, on the validation split (which the early stop reads) or on
the test split (``tests/test_search.py`` checks it, and book/08_search.md shows the largest
difference). The margin, 5 points, lies above any such gain; it is a rule of thumb measured on one
small grid, not a bound, so a stopped trial says so and ``--margin`` changes it.

A finished trial stands for its configuration (it is reused, and counts in the front that rejects
others) only while it is current (``current_trial``): its record is a cell of the grid as it is now
(the cell id names every setting and the seed) computed from the baseline checkpoint now on disk; a
study kept across a change of settings or a retrained baseline would otherwise reuse the old results.

The accuracy a trial is judged by is the validation accuracy (``Record.val_accuracy``); a record
without one (tables made before the validation split) falls back to its test accuracy, and the
trial says so (``accuracy_source``).
"""

from __future__ import annotations

import functools
import math

from coinfer.results import Record

#: Objectives a search may minimise (fields of ``coinfer.results.Record``, units as there).
OBJECTIVE_NAMES = ("device_macs", "bits_per_image", "server_macs")
#: The default: the paper's plane. Add ``server_macs`` when the latency chooser needs it (a slow server).
OBJECTIVES = ("device_macs", "bits_per_image")
#: Points of accuracy below the threshold at which a warmed-up trial is stopped (a fraction: 5 points;
#: above anything a codec cell gained over its pruned network on the quick tables: with the
#: distillation recipe the pruned network is fine-tuned to its best, and the codec only loses).
EARLY_STOP_MARGIN = 0.05
#: How the reason of a trial stopped after its warm-up begins (``early_stop``).
EARLY_STOP = "early stop"
#: ``accuracy_source`` of a record judged by its test accuracy because it has no validation accuracy.
TEST_FALLBACK = "test (fallback: the record has no val_accuracy)"


def parse_objectives(text: str | tuple | list) -> tuple[str, ...]:
    """Objective names from ``"device_macs,bits_per_image[,server_macs]"`` (``bits`` for short).

    Parameters
    ----------
    text : str or sequence of str

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        For an unknown or repeated name, or fewer than two.

    Examples
    --------
    >>> from coinfer.experiments.search_checks import parse_objectives
    >>> parse_objectives("device_macs,bits,server_macs")
    ('device_macs', 'bits_per_image', 'server_macs')
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    names = ["bits_per_image" if n == "bits" else n for n in names]
    bad = [n for n in names if n not in OBJECTIVE_NAMES]
    if bad or len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"objectives {text!r}: give two or three distinct names of {', '.join(OBJECTIVE_NAMES)}")
    return tuple(names)


def objectives_tag(objectives) -> str:
    """What names a search's files apart from the default objectives' (``coinfer.paths.search_replay_path``).

    Examples
    --------
    >>> from coinfer.experiments.search_checks import objectives_tag
    >>> objectives_tag(("device_macs", "bits_per_image")), objectives_tag(("device_macs", "bits_per_image", "server_macs"))
    ('', 'server_macs')
    """
    objectives = tuple(objectives)
    if objectives == OBJECTIVES:
        return ""
    extra = [o for o in objectives if o not in OBJECTIVES]
    return "_".join(extra) if set(OBJECTIVES) <= set(objectives) else "_".join(objectives)


def constraint_accuracy(record: Record) -> tuple[float, str]:
    """The accuracy a trial's constraint uses: the validation accuracy, else the test accuracy (a fallback).

    Parameters
    ----------
    record : Record

    Returns
    -------
    (float, str)
        The accuracy (a fraction) and where it comes from: ``"val"`` or :data:`TEST_FALLBACK`.

    Examples
    --------
    >>> from coinfer.results import Record
    >>> from coinfer.experiments.search_checks import constraint_accuracy
    >>> constraint_accuracy(Record("original", "pool", 0.90, 9, 9, 9, 64, val_accuracy=0.91))
    (0.91, 'val')
    >>> constraint_accuracy(Record("original", "pool", 0.90, 9, 9, 9, 64))[1].startswith("test")
    True
    """
    if record.val_accuracy is not None:
        return float(record.val_accuracy), "val"
    return float(record.accuracy), TEST_FALLBACK


# --------------------------------------------------------------------------------------------
# Before training: lower bounds from the architecture
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _profile(width: float) -> dict:
    from coinfer.core.costs import profile_splits
    from coinfer.core.network import resnet18

    return {p.point: p for p in profile_splits(resnet18(width=width))}


def _kept(channels: int, sparsity: float) -> int:
    """Channels a group keeps at ``sparsity`` (``coinfer.core.pruning.smallest_channel_mask``'s count)."""
    return channels - math.floor(sparsity * channels + 1e-9)


@functools.lru_cache(maxsize=64)
def device_part_bounds(width: float, split: str, sparsity: float = 0.0, output_sparsity: float | None = None) -> dict:
    """MACs, parameters, peak activations and sent elements of a device part before any training.

    Builds the untrained device part at ``split``, keeps as many channels per group as pruning at
    ``sparsity`` keeps (``output_sparsity`` for the sent group), compacts it and counts. The counts
    do not depend on which channels survive, so they are those of any trained part of this shape;
    an encoder only adds to them.

    Parameters
    ----------
    width : float
        The network's width multiplier.
    split : str
    sparsity, output_sparsity : float
        Fractions of channels pruned (``output_sparsity`` default ``sparsity``).

    Returns
    -------
    dict
        ``device_macs``, ``device_params``, ``activations`` (elements alive at once, one image) and
        ``feature_elements`` (what the part sends).

    Examples
    --------
    >>> from coinfer.experiments.search_checks import device_part_bounds
    >>> b = device_part_bounds(1 / 8, "layer3.1", 0.5)
    >>> b["feature_elements"], b["device_macs"] < device_part_bounds(1 / 8, "layer3.1")["device_macs"]
    (1024, True)
    """
    import torch

    from coinfer.core.costs import INPUT_SHAPE, count_params, thop_macs
    from coinfer.core.latency import peak_activation_elements
    from coinfer.core.network import resnet18, split as split_stages
    from coinfer.core.pruning import compact, device_layout

    device_part, _ = split_stages(resnet18(width=width), split)
    if not list(device_part.children()):
        return {"device_macs": 0, "device_params": 0, "activations": math.prod(INPUT_SHAPE),
                "feature_elements": math.prod(INPUT_SHAPE)}
    if sparsity > 0 or (output_sparsity or 0) > 0:
        out = sparsity if output_sparsity is None else output_sparsity
        keep = {g.name: list(range(_kept(g.channels, out if g.is_output else sparsity)))
                for g in device_layout(device_part).groups}
        device_part, _ = compact(device_part, keep)
    macs, thop_params = thop_macs(device_part, INPUT_SHAPE)
    with torch.no_grad():
        feature = device_part.eval()(torch.zeros(1, *INPUT_SHAPE))
    return {"device_macs": int(macs), "device_params": int(min(thop_params, count_params(device_part))),
            "activations": peak_activation_elements(device_part, INPUT_SHAPE),
            "feature_elements": int(feature[0].numel())}


def _part(config: tuple, width: float, prune_output: float | None = None) -> dict:
    """``device_part_bounds`` of ``config``'s device part (2-step: step 1's sparsity, then step 2's on the sent group)."""
    method, split, sparsity, setting = config
    if method == "2-step-pruning":
        s2 = float(setting[3:])
        # Step 2 prunes the sent group further; pruning its share of what step 1 kept is the most it can.
        return device_part_bounds(width, split, sparsity, 1 - (1 - sparsity) * (1 - s2))
    if method == "framework":
        return device_part_bounds(width, split, sparsity, prune_output)
    return device_part_bounds(width, split)


def cost_bounds(config: tuple, width: float, objectives=OBJECTIVES, prune_output: float | None = None) -> tuple:
    """Lower bounds of the objectives that hold before a configuration is trained.

    Device MACs: the (compacted) device part's layers (an encoder only adds). Bits per image:
    BottleNet++'s 8-bit code sends exactly ``C/r x H x W x 8`` bits; a Huffman code (the original
    network, 2-Step Pruning) at least one bit per sent element; the framework's range code and PNG
    at least 0. Server MACs: the unpruned server part's layers (a decoder only adds); 0 for PNG's
    whole network and 2-Step Pruning's pruned one is not bounded (0).

    Parameters
    ----------
    config : tuple
        ``(method, split, sparsity, setting)``.
    width : float
        The network's width multiplier (the preset's).
    objectives : sequence of str
        Which bounds, in order (:data:`OBJECTIVE_NAMES`).
    prune_output : float, optional
        The framework's sparsity of the sent group (the pruning settings' ``output_sparsity``;
        default the sparsity).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> from coinfer.experiments.search_checks import cost_bounds
    >>> cost_bounds(("bottlenet++", "layer4.1", 0.0, "r16"), 1 / 8)
    (9179136, 512)
    >>> cost_bounds(("original", "pool", 0.0, "8bit-huffman"), 1 / 8, ("bits_per_image", "server_macs"))
    (64, 640)
    """
    method, split, sparsity, setting = config
    if method == "png":
        bounds = {"device_macs": 0, "bits_per_image": 0, "server_macs": 0}
    else:
        part, profile = _part(config, width, prune_output), _profile(width)[split]
        if method == "bottlenet++":
            c, h, w = profile.feature_shape
            bits = (c // int(setting[1:])) * h * w * 8
        elif method in ("original", "2-step-pruning"):
            bits = part["feature_elements"]
        else:
            bits = 0
        bounds = {"device_macs": part["device_macs"], "bits_per_image": bits,
                  "server_macs": 0 if method == "2-step-pruning" else profile.server_macs}
    return tuple(bounds[name] for name in objectives)


def memory_bound(config: tuple, width: float, prune_output: float | None = None) -> float:
    """Bytes the device part needs at least, under the latency chooser's memory model.

    ``coinfer.core.latency.PAPER_MEMORY`` of the bounded parameters and peak activations
    (``device_part_bounds``): an encoder only adds to both.

    Parameters
    ----------
    config : tuple
    width : float
    prune_output : float, optional
        As in ``cost_bounds``.

    Returns
    -------
    float

    Examples
    --------
    >>> from coinfer.experiments.search_checks import memory_bound
    >>> memory_bound(("original", "pool", 0.0, "8bit-huffman"), 1 / 8) > memory_bound(
    ...     ("original", "layer2.1", 0.0, "8bit-huffman"), 1 / 8)
    True
    """
    from coinfer.core.latency import PAPER_MEMORY

    if config[0] == "png":
        return 0.0
    part = _part(config, width, prune_output)
    return PAPER_MEMORY.footprint_bytes(part["device_params"], part["activations"])


def memory_budget(text: str | float | None) -> float | None:
    """A device's memory budget in bytes: a device of ``coinfer.core.latency.DEVICES`` (its budget),
    bytes (``"40MB"``, ``4e7``), or None (no budget).

    Examples
    --------
    >>> from coinfer.experiments.search_checks import memory_budget
    >>> memory_budget("rpi3"), memory_budget("40MB")
    (360000000.0, 40000000.0)
    """
    if text is None:
        return None
    from coinfer.core.latency import DEVICES
    from coinfer.units import parse_bytes

    if isinstance(text, str) and text in DEVICES:
        return float(DEVICES[text].budget_bytes)
    try:
        value = float(text) if not isinstance(text, str) else parse_bytes(text)
    except ValueError as error:
        raise ValueError(f"device memory {text!r}: give bytes ('40MB', '4e7') or a device of "
                         f"{', '.join(DEVICES)}") from error
    if not value > 0:
        raise ValueError(f"device memory must be positive, got {text!r}")
    return value


def dominated(bounds: tuple, front: list[tuple]) -> bool:
    """Whether a point of ``front`` is at least as good as ``bounds`` in every objective.

    Such a configuration cannot improve the front, whatever its accuracy: the search skips it.

    Parameters
    ----------
    bounds : tuple of float
    front : list of tuple of float
        Objectives of feasible configurations found so far.

    Returns
    -------
    bool

    Examples
    --------
    >>> from coinfer.experiments.search_checks import dominated
    >>> dominated((9179136, 2048), [(9216256, 512)]), dominated((9179136, 2048), [(4158080, 33)])
    (False, True)
    """
    return any(all(p <= b for p, b in zip(point, bounds)) for point in front)


def rejection(config: tuple, width: float, front: list[tuple], objectives=OBJECTIVES, budget: float | None = None,
              prune_output: float | None = None) -> str | None:
    """Why ``config`` need not be trained, or None.

    Parameters
    ----------
    config : tuple
    width : float
    front : list of tuple
        Objectives of the feasible configurations found so far.
    objectives : sequence of str
    budget : float, optional
        The device's memory budget in bytes (``memory_budget``).
    prune_output : float, optional
        As in ``cost_bounds``.

    Returns
    -------
    str or None

    Examples
    --------
    >>> from coinfer.experiments.search_checks import rejection
    >>> rejection(("original", "pool", 0.0, "8bit-huffman"), 1 / 8, [], budget=1e6)[:23]
    'memory: the device part'
    """
    if budget is not None:
        need = memory_bound(config, width, prune_output)
        if need > budget:
            return f"memory: the device part needs at least {need / 1e6:.4g} MB, the device gives {budget / 1e6:.4g} MB"
    bounds = cost_bounds(config, width, objectives, prune_output)
    if dominated(bounds, front):
        return f"bounds {bounds} dominated by a feasible configuration found: it cannot improve the front"
    return None


# --------------------------------------------------------------------------------------------
# After warm-up: the pruned network a cell starts from
# --------------------------------------------------------------------------------------------

def current_trial(trial, cell_ids, baseline: str | None) -> bool:
    """Whether a finished ``trial`` still stands for its configuration: its record's cell is one of
    ``cell_ids`` (the grid as it is now: same settings, same seed), computed from the baseline whose
    digest is ``baseline`` (:func:`coinfer.experiments.cell_files.baseline_digest`; a trial that
    recorded none, from before trials recorded it, is trusted, as cell files are).

    Parameters
    ----------
    trial : optuna.trial.FrozenTrial
        Its ``record`` and ``baseline`` user attributes are read.
    cell_ids : collection of str
    baseline : str or None

    Returns
    -------
    bool

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> trial = SimpleNamespace(user_attrs={"record": {"extra": {"cell": "png_input_s0_png_ab12"}}, "baseline": "f00d"})
    >>> current_trial(trial, {"png_input_s0_png_ab12"}, "f00d"), current_trial(trial, {"png_input_s0_png_cd34"}, "f00d")
    (True, False)
    >>> current_trial(trial, {"png_input_s0_png_ab12"}, "beef")
    False
    """
    from coinfer.experiments.cell_files import stale_baseline

    cell = ((trial.user_attrs.get("record") or {}).get("extra") or {}).get("cell")
    return cell in cell_ids and stale_baseline(trial.user_attrs.get("baseline"), baseline) is None


def warm_network(runner, config: tuple):
    """The fine-tuned network ``config``'s cell starts from, if it has a warm-up stage, else None.

    A framework cell at a sparsity above 0 starts from the pruned, fine-tuned network
    (``SweepRunner.pruned_device``), a 2-step cell from step 1's (``SweepRunner.two_step_step1``);
    both are cached and shared with the cell's other code sizes, so computing them here costs the
    cell nothing more. Other cells start from the baseline, which is above the threshold.

    Returns
    -------
    torch.nn.Module or None
    """
    method, split, sparsity, _ = config
    if method == "framework" and sparsity > 0:
        return runner.pruned_device(split, sparsity).model
    if method == "2-step-pruning":
        return runner.two_step_step1(sparsity).model
    return None


def validation_accuracy(model, preset, device=None, limit: int | None = None) -> float:
    """``model``'s top-1 accuracy on the preset's validation split (``coinfer.data.load_split``).

    Parameters
    ----------
    model : torch.nn.Module
        Images in, class scores out.
    preset : coinfer.config.Preset
    device : torch.device, optional
    limit : int, optional
        The first ``limit`` validation images only.

    Returns
    -------
    float
    """
    from coinfer.data import load_split, make_loader
    from coinfer.train import evaluate

    data = load_split(preset.dataset, "val", preset.validation, limit=limit)
    return evaluate(model.eval(), make_loader(data, preset.eval_batch_size, shuffle=False), device)


def early_stop(accuracy: float, threshold: float, margin: float = EARLY_STOP_MARGIN) -> str | None:
    """Why a warmed-up trial stops, or None: its warm network is ``margin`` or more below the threshold.

    Examples
    --------
    >>> from coinfer.experiments.search_checks import early_stop
    >>> early_stop(0.80, 0.8846) is None, early_stop(0.85, 0.8846) is None
    (False, True)
    """
    if accuracy < threshold - margin:
        return (f"{EARLY_STOP}: the warmed-up network's validation accuracy {accuracy:.4f} is below the threshold "
                f"{threshold:.4f} less the margin {margin:.2f}")
    return None
