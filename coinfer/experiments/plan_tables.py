"""What the README's paper section costs besides the sweep: the other tables' own trainings.

``python -m coinfer plan`` prices the sweep (:func:`coinfer.experiments.plan.sweep_plan`), but a
reader who runs every command of the paper section also runs ``run pruning``, ``run encoding``,
``run rate`` and ``run jscc``. What a table shares with the sweep is trained once, so each table
here is priced for what it trains that the sweep does not, by the same cost model::

    pruning   its pruned parts and control are the sweep's cache entries
              (coinfer.experiments.pruning.cached_pruned): it fine-tunes only the (split point,
              sparsity) the sweep's grid lacks, then evaluates every record
    encoding  sweep cells (coinfer.experiments.sweep.encoding_cells): only those the sweep lacks
              (the 8-bit Huffman code at split points the sweep leaves out)
    rate      sweep cells too: the codes trained for rate and accuracy
    jscc      its own codecs at one split point, on features the device part computes once; its
              binary searches train as many codecs as the accuracies ask for, so it is priced at
              the most they can train (:func:`jscc_plan`)

Example::

    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.plan_tables import table_plans
    >>> plans = table_plans(get_preset("quick"))
    >>> [s.name for s in plans["pruning"]], plans["encoding"][0].name
    (['fine-tune: pruned device parts', 'evaluation (validation + test)'], '8-bit Huffman fitting passes')
"""

from __future__ import annotations

import math

from coinfer.config import Preset
from coinfer.experiments.plan import (FORWARD_SHARE, FROZEN_TRAINING_SHARE, TEST_IMAGES, TRAINING_IMAGES, PlanStep,
                                      _available, _check_seeds, _mean, fine_tune_share, format_plan, part_macs,
                                      plan_summary, sweep_plan)

__all__ = ["table_plans", "pruning_plan", "jscc_plan", "jscc_codecs_trained", "format_table_plans",
           "format_tables_total"]


def pruning_plan(preset: Preset, seeds: int = 1, kept_channels: bool | None = None,
                 shared: bool = True) -> list[PlanStep]:
    """``run pruning``'s own work: the fine-tunes the sweep's cache will not hold, and the evaluations.

    Parameters
    ----------
    preset : Preset
    seeds : int
        Training seeds.
    kept_channels : bool, optional
        As for :func:`coinfer.experiments.plan.sweep_plan`.
    shared : bool
        Leave out what the sweep's cache holds; False prices every fine-tune, as if it held none.

    Returns
    -------
    list of PlanStep
        Steps with no run are left out.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> [(s.name, s.runs) for s in pruning_plan(get_preset("quick"))]
    [('fine-tune: pruned device parts', 3), ('evaluation (validation + test)', 10)]
    """
    from coinfer.experiments.sweep import cells, prune_settings
    from coinfer.tensor_data import DataPath

    _check_seeds(seeds)
    prune, width = preset.pruning, preset.width
    shared = shared and prune_settings(preset) == prune
    grid = [c for c in cells(preset) if c.method in ("framework", "bottlenet++")] if shared else []
    swept = {(c.split, c.sparsity) for c in grid if c.method == "framework" and c.sparsity > 0}
    parts = [(point, s) for point in prune.splits for s in prune.sparsities]
    own = [part for part in parts if part not in swept]
    control = prune.control and not any(c.sparsity == 0 for c in grid)
    if kept_channels is None:
        kept_channels = DataPath.for_device("cuda").kept_channels
    images = _available(preset, prune.train_limit, TRAINING_IMAGES[preset.dataset])
    steps_per_run = prune.epochs * math.ceil(images / prune.batch_size)
    teacher = FORWARD_SHARE if prune.distill_weight > 0 else 0.0
    total = sum(part_macs(width, "input")[:2])
    evaluated = [sum(part_macs(width, point, s, prune.output_sparsity)[:2]) / total for point, s in parts]
    steps = [
        PlanStep("fine-tune: pruned device parts", seeds * len(own), prune.epochs, images,
                 _mean(fine_tune_share(prune, width, point, s, steps_per_run, kept_channels) for point, s in own)
                 + teacher),
        PlanStep("fine-tune: unpruned control", seeds * int(control), prune.epochs, images, 1.0 + teacher),
        PlanStep("evaluation (validation + test)", seeds * (len(parts) + int(prune.control)), 1,
                 preset.validation.images + TEST_IMAGES,
                 FORWARD_SHARE * _mean(evaluated + [1.0] * int(prune.control))),
    ]
    return [s for s in steps if s.runs > 0]


def jscc_plan(preset: Preset, seeds: int = 1) -> list[PlanStep]:
    """``run jscc``'s work, at the most its binary searches can train.

    At each channel value the search bisects what is left of the code sizes, at most
    ``ceil(log2(sizes))`` trainings and at least one (a single size is trained to test it)
    (:func:`coinfer.experiments.jscc.smallest_code_sizes`); once per
    channel kind at most, when every size it tried missed, it trains the largest size too, and each
    later value then trains that one size only. The robustness grid trains at most one codec per
    training value and one over the whole range. Every codec trains through the frozen server part
    on features the device part computed once, and is evaluated on the validation and test images;
    the robustness grid's codecs on the test images at every channel value. The 8-bit Huffman
    payload it compares with (a few forward passes of the device part) is left out.

    Parameters
    ----------
    preset : Preset
        Its ``jscc`` settings.
    seeds : int
        Training seeds.

    Returns
    -------
    list of PlanStep

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> [(s.name, s.runs) for s in jscc_plan(get_preset("quick"))][1]
    ('codec training: JSCC (at most)', 70)
    """
    from coinfer.core.jscc import make_channel, make_codec

    _check_seeds(seeds)
    settings, width = preset.jscc, preset.width
    total = sum(part_macs(width, "input")[:2])
    device, server, shape, _ = part_macs(width, settings.split)
    grids = (("awgn", settings.snrs_db, settings.awgn_code_sizes, settings.mismatch_snrs_db),
             ("bsc", settings.flip_rates, settings.bsc_code_sizes, settings.mismatch_flip_rates))
    searched = sum(len(values) * max(1, math.ceil(math.log2(len(set(sizes))))) + 1 for _, values, sizes, _ in grids)
    robust = sum(len(trained) + 1 for *_, trained in grids)
    robust_tests = sum((len(trained) + 1) * len(values) for _, values, _, trained in grids)
    # The largest code of each kind bounds a codec's own MACs.
    codecs = [make_codec(shape, max(sizes), make_channel(kind, values[0]), settings.reduced_channels)
              for kind, values, sizes, _ in grids]
    codec = max((c.encoder_macs(shape) + c.decoder_macs((max(sizes),))) / total
                for c, (_, _, sizes, _) in zip(codecs, grids))
    train_images = _available(preset, settings.train_images, TRAINING_IMAGES[preset.dataset])
    test_images = min(settings.test_images or TEST_IMAGES, TEST_IMAGES)
    evaluated = preset.validation.images + test_images
    return [
        PlanStep("feature extraction (device part, once)", seeds, 1, train_images + evaluated,
                 FORWARD_SHARE * device / total),
        PlanStep("codec training: JSCC (at most)", seeds * (searched + robust), settings.epochs, train_images,
                 FROZEN_TRAINING_SHARE * server / total + codec),
        PlanStep("evaluation (validation + test, at most)", seeds * (searched + robust), 1, evaluated,
                 FORWARD_SHARE * (server / total + codec)),
        PlanStep("robustness grid: tests at every channel value", seeds * robust_tests, 1, test_images,
                 FORWARD_SHARE * (server / total + codec)),
    ]


def jscc_codecs_trained(table) -> int:
    """The codecs a ``run jscc`` trained for one seed, read from its table: every code size its searches
    tried at each channel value, and the robustness grid's codecs not among them.

    Parameters
    ----------
    table : coinfer.results.LookupTable
        A JSCC table (``data/results/jscc_<preset>.json``); an averaged one lists one seed's searches.

    Returns
    -------
    int

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> jscc_codecs_trained(load_table(results_dir() / "jscc_quick.json"))
    55
    """
    tried = {(r.channel, p["code_size"]) for r in table.records if r.method == "framework-jscc"
             for p in r.extra["search"]}
    robust = {(r.extra["train_channel"], r.extra["channel_uses"]) for r in table.records
              if r.method == "framework-jscc-mismatch"}
    return len(tried | robust)


def table_plans(preset: Preset, seeds: int = 1, kept_channels: bool | None = None) -> dict[str, list[PlanStep]]:
    """The sweep's plan and every other training table's own, by table name.

    Parameters
    ----------
    preset : Preset
    seeds : int
        Training seeds.
    kept_channels : bool, optional
        As for :func:`coinfer.experiments.plan.sweep_plan`.

    Returns
    -------
    dict
        ``sweep``, ``pruning``, ``encoding``, ``rate``, ``jscc``: lists of PlanStep (empty where a
        table trains nothing the sweep does not).
    """
    from coinfer.experiments import rate
    from coinfer.experiments.sweep import cells, encoding_cells

    swept = {c.id for c in cells(preset)}
    encoding = [c for c in encoding_cells(preset) if c.id not in swept]
    curve = rate.grid(preset)
    planned = swept | {c.id for c in encoding}
    rate_cells = [c for c in encoding_cells(curve) if c.id not in planned]
    return {
        "sweep": sweep_plan(preset, seeds, kept_channels=kept_channels),
        "pruning": pruning_plan(preset, seeds, kept_channels),
        "encoding": sweep_plan(preset, seeds, kept_channels=kept_channels, grid=encoding, shared=True) if encoding else [],
        "rate": sweep_plan(curve, seeds, kept_channels=kept_channels, grid=rate_cells, shared=True) if rate_cells else [],
        "jscc": jscc_plan(preset, seeds),
    }


def format_table_plans(plans: dict[str, list[PlanStep]], rate: float) -> str:
    """Every table but the sweep, as :func:`~coinfer.experiments.plan.format_plan` prints one, then the
    total of them all with the sweep.

    Parameters
    ----------
    plans : dict
        From :func:`table_plans`.
    rate : float
        Full-network training images per second.

    Returns
    -------
    str
    """
    lines = []
    for name, steps in plans.items():
        if name == "sweep":
            continue
        lines.append(f"\n{name} table (python -m coinfer run {name}), beyond what the sweep trains:")
        lines.append(format_plan(steps, rate) if steps else "nothing: every configuration is a sweep cell")
    lines.append("\n" + format_tables_total(plans, rate))
    return "\n".join(lines)


def format_tables_total(plans: dict[str, list[PlanStep]], rate: float, how: str = "") -> str:
    """One line: each table's GPU-hours at ``rate`` and their sum.

    Parameters
    ----------
    plans : dict
        From :func:`table_plans` (or projected, table by table).
    rate : float
        Full-network training images per second.
    how : str
        Said after "every table in all", e.g. ", projected".

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.experiments.plan import PlanStep
    >>> format_tables_total({"sweep": [PlanStep("baseline", 1, 1, 3600, 1.0)], "jscc": []}, 1.0)[:61]
    "every table in all (the README's commands for the preset): sw"
    """
    hours = {name: plan_summary(steps, rate)["gpu_hours"] for name, steps in plans.items()}
    terms = " + ".join(f"{name} {h:.1f}" for name, h in hours.items())
    return (f"every table in all (the README's commands for the preset){how}: {terms} = "
            f"{sum(hours.values()):.1f} GPU-hours at {rate:,.0f} images/s "
            "(the baseline is the sweep's; JSCC at the most its searches train)")
