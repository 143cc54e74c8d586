"""Whether codec training runs at the plan's price on a GPU, and what the projection gives if it does not.

The plan (:mod:`coinfer.experiments.plan`) prices a codec training step by its MACs at the full
network's training rate; the projection (:func:`coinfer.experiments.plan.projected_plan`) divides
that by what stacking the server pass and folding the batch norms saved, and by what several codec
trainings at once gained over one. All of those are ratios: none of them times a codec step
against its price, and codec steps are over half of the paper sweep's plan. Two measurements do::

    the device check's codec_steps (benchmarks/codec_steps.py): codec epochs as a cell trains them,
        one-time work excluded --measured_factors--> codec_step = priced / measured,
        which the projection takes in place of the stacking and folding it includes
    its codec_concurrency, one process (benchmarks/gpu_concurrency.py --work codecs): one split
        point's codes trained end to end, building and evaluating them included
        --implied_codec_step--> the codec_step that run implies (a pessimistic one: its one-time
        work is counted as if it were per step)

:func:`codec_step_said` tells the book which of the two the projection stands on, and the sweep's
GPU-hours at the implied speed while ``codec_step`` is not measured; and, where the projection is
below it, the time the sweep's priced work takes at the most images/s any training reached on that
GPU (:func:`best_measured_rate`), which only a step doing more per second than any measured beats.
"""

from __future__ import annotations

__all__ = ["codec_pass_steps", "implied_codec_step", "best_measured_rate", "codec_step_said"]

#: The plan's steps that a codec training process of ``gpu_concurrency.py --work codecs`` runs.
CODEC_RUN_STEPS = ("codec warm-up: framework", "codec training: framework",
                   "codec fitting passes (k-means, entropy model)")


def codec_pass_steps(preset, method: str, split: str) -> dict:
    """The plan's steps of one pass: ``method``'s unpruned codes at ``split`` trained together, as a
    sweep cell trains them (the framework's code sizes, or BottleNet++'s reductions).

    Parameters
    ----------
    preset : Preset
    method : str
        ``"framework"`` or ``"bottlenet++"``.
    split : str

    Returns
    -------
    dict
        Step name to :class:`coinfer.experiments.plan.PlanStep` (the real dataset's images).

    Raises
    ------
    ValueError
        If the preset's grid has no such cells.

    Examples
    --------
    >>> from coinfer.config import PRESETS
    >>> step = codec_pass_steps(PRESETS["paper"], "bottlenet++", "layer2.1")["codec training: BottleNet++"]
    >>> step.runs, step.epochs
    (3, 60)
    """
    from coinfer.experiments.plan import sweep_plan
    from coinfer.experiments.sweep import cells

    grid = [c for c in cells(preset) if c.method == method and c.split == split and c.sparsity == 0]
    if not grid:
        raise ValueError(f"the {preset.name} grid has no unpruned {method} cells at {split!r}")
    return {step.name: step for step in sweep_plan(preset, grid=grid)}


def implied_codec_step(report: dict | None) -> float | None:
    """The ``codec_step`` that the report's one codec training process implies: the plan's price of its
    run (one split point's paper codes trained together: a warm-up epoch, the quantized epochs, the
    k-means start and entropy fits, at the report's full-network rate, no factor applied) over the time
    it took, building and evaluating the codecs included. None where the report lacks either.

    Parameters
    ----------
    report : dict or None
        A device check's report (``benchmarks/cuda_check.py``): its ``codec_concurrency`` (and
        ``mps_concurrency``'s codec run) and its data path's rate.

    Returns
    -------
    float or None
        Priced over measured (below 1: slower than priced).

    Examples
    --------
    >>> run = {"settings": {"split": "layer2.1", "codec_images": 1000, "epochs": 2, "width": 1.0},
    ...        "rows": [{"processes": 1, "images_per_s": 3000.0}]}
    >>> round(implied_codec_step({"data_path": {"new_images_per_s": 10000.0}, "codec_concurrency": run}), 3)
    0.598
    >>> implied_codec_step({"data_path": {"new_images_per_s": 10000.0}}) is None
    True
    """
    from coinfer.config import PRESETS, override
    from coinfer.experiments.device_report import report_rate

    rate, run = report_rate(report), (report or {}).get("codec_concurrency")
    if not rate or not isinstance(run, dict) or "rows" not in run or run["settings"].get("width") != 1.0:
        return None
    s = run["settings"]
    # The faster one-process run (without and through MPS), as the codec concurrency factors count from it.
    runs = [run, ((report.get("mps_concurrency") or {}).get("codecs") or {})]
    alone = max((r["images_per_s"] for x in runs for r in x.get("rows", []) if r.get("processes") == 1), default=0)
    if alone <= 0:
        return None
    # The paper preset as defined (never scaled down), with the run's warm-up epoch and quantized epochs.
    paper = override(PRESETS["paper"], {"encoding.warmup_epochs": 1, "encoding.epochs": s["epochs"]})
    priced = sum(step.runs * step.epochs * step.network_share * s["codec_images"]
                 for name, step in codec_pass_steps(paper, "framework", s["split"]).items() if name in CODEC_RUN_STEPS)
    measured = s["codec_images"] * (1 + s["epochs"]) / alone      # its images/s count each epoch's images once
    return priced / rate / measured


def best_measured_rate(report: dict | None) -> tuple[float, str] | None:
    """The most full-network training images/s the report measured, all processes together, and which
    run: one process on a data path (its ``data_path`` check), or N at once, compiled or not, taking
    turns on the GPU or through CUDA MPS. The plan prices every step in those images, so its work at
    this rate is what the GPU gives, unless some step does more per second than any training measured.

    Parameters
    ----------
    report : dict or None

    Returns
    -------
    (float, str) or None
        The rate and its run (``"16 at once through CUDA MPS, compiled"``), or None without one.

    Examples
    --------
    >>> best_measured_rate({"data_path": {"new_images_per_s": 13000.0, "batch_size": 128},
    ...                     "mps_concurrency": {"compiled": {"rows": [{"processes": 16, "images_per_s": 59000.0}]}}})
    (59000.0, '16 at once through CUDA MPS, compiled')
    """
    report = report or {}
    runs = [(rate, "one process (the data path check)") for key, rate in (report.get("data_path") or {}).items()
            if key.endswith("_images_per_s") and isinstance(rate, (int, float))]
    sources = [((report.get("concurrency") or {}), "", ""), ((report.get("compiled_concurrency") or {}), "", ", compiled")]
    mps = report.get("mps_concurrency") or {}
    sources += [(mps.get("eager") or {}, " through CUDA MPS", ""), (mps.get("compiled") or {}, " through CUDA MPS", ", compiled")]
    for run, way, compiled in sources:
        runs += [(row["images_per_s"], f"{row['processes']} at once{way}{compiled}") for row in run.get("rows", [])
                 if isinstance(row.get("images_per_s"), (int, float)) and row["images_per_s"] > 0]
    return max(runs, key=lambda run: run[0]) if runs else None


def codec_step_said(report: dict | None, schedule) -> str:
    """What the projection assumes of the codec steps' speed, and on what: ``codec_step`` where the
    device check measured it, or else the stacking and folding factors, beside the speed the report's
    one codec training process implies (:func:`implied_codec_step`) and the best configuration's
    GPU-hours at that speed.

    Parameters
    ----------
    report : dict or None
        The committed report.
    schedule : coinfer.experiments.plan_schedule.SweepTasks
        The sweep's tasks (three seeds), as the book's configurations are priced.

    Returns
    -------
    str
        Markdown: one or two sentences.

    Examples
    --------
    >>> codec_step_said(None, None)
    'No GPU report is committed: nothing says how fast a codec step runs on a GPU.'
    """
    from coinfer.experiments.device_report import measured_configurations, report_device, report_rate

    rate = report_rate(report)
    if rate is None:
        return "No GPU report is committed: nothing says how fast a codec step runs on a GPU."
    factors, device = report["factors"], report_device(report)
    best = min(measured_configurations(factors, [], rate, schedule).items(), key=lambda item: item[1])
    (workers, mode, mps), hours = best
    where = f"{workers} worker(s){' through CUDA MPS' if mps else ''}, `COINFER_COMPILE={mode}`"
    # The sweep's priced work at the most images/s any training reached on this GPU.
    fastest = best_measured_rate(report)
    work = schedule.seeds * sum(s.equivalent_images for task in schedule.steps for s in task) + sum(
        s.equivalent_images for s in schedule.baseline)
    floor = "" if fastest is None or hours >= work / fastest[0] / 3600 else (
        f" At the most images/s any training reached on {device} ({fastest[0]:,.0f}, {fastest[1]}), the "
        f"sweep's priced work takes {work / fastest[0] / 3600:.2f} GPU-hours: a projection below that "
        "credits some step with more work per second than any training measured (or counts the batch norms that "
        "folding removes from codec steps, which the plan prices as work).")
    if "codec_step" in factors:
        return (f"The codec steps are projected at the speed the device check's `codec_steps` measured on {device}: "
                f"**{factors['codec_step']:.2f}x** their price (one-time work excluded), {hours:.2f} GPU-hours "
                f"with {where}." + floor)
    text = (f"The codec steps are projected at their price times the stacking and folding "
            f"factors ({factors.get('stack', 1) * factors.get('fold', 1):.2f}x); no check on {device} has timed "
            "them against their price yet (the device check's `codec_steps` does).")
    implied = implied_codec_step(report)
    if implied is None:
        return text + floor
    slow = measured_configurations({**factors, "codec_step": implied}, [], rate, schedule)[workers, mode, mps]
    return text + (f" The report's one process training one split point's codes end to end ran at "
                   f"**{implied:.2f}x** their price, building and evaluating them included; were all the framework's codec "
                   f"steps that slow, the best configuration ({where}) would take **{slow:.2f}** GPU-hours, not {hours:.2f}."
                   + floor)
