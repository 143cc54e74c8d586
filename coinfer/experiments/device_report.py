"""A GPU's device check report (``benchmarks/cuda_check.py``), as ``plan --gpu-report`` and the book read it.

The check writes one JSON report: each check's result (or its ``error``), the speed-ups it measured
as ``factors`` (name to ratio of two times), and its ``provenance``. A session with a GPU commits it
as :func:`coinfer.paths.device_report_path`; book/paper_scale.md then says what it measured wherever
it would otherwise say "not measured yet", without editing the page::

    report --report_rate-------> the new data path's images/s (plan's rate)
           --factors_text------> "1.52x" for the savings table, "not measured yet" without it
           --gpu_measurement---> what the prose says of one saving on a GPU
           --smoke_on_gpu------> whether the paper preset's smoke run ran there
           --compiled_on_gpu---> whether a compiled training agrees with the eager one, and its memory
           --measured_runs-----> the training rates on the old and new data path, one paper cell
           --report_caption----> the table's caption: command, GPU, commit, and the sweep it projects

Every function takes ``None`` for "no report committed".

Examples
--------
>>> from coinfer.experiments.device_report import factors_text, gpu_measurement
>>> report = {"gpu": "NVIDIA H200", "together": {"stack_factor": 1.5}, "factors": {"stack": 1.5}}
>>> factors_text(report, "stack"), factors_text(None, "stack")
('1.50x', 'not measured yet')
>>> gpu_measurement(report, "together", "stack")
"**1.50x**, measured on NVIDIA H200 (the device check's `together` check)"
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["committed_name", "read_device_report", "report_rate", "report_device", "factors_text",
           "gpu_measurement", "smoke_on_gpu", "compiled_on_gpu", "measured_runs", "report_caption", "mps_factors",
           "timed_sweep"]


def committed_name() -> str:
    """Where the report is committed, relative to the checkout (:func:`coinfer.paths.device_report_path`),
    as the commands the book and ``plan`` print name it.

    Returns
    -------
    str

    >>> committed_name()
    'data/results/benchmarks/cuda_check_gpu.json'
    """
    from coinfer.paths import device_report_path, project_root

    return device_report_path().relative_to(project_root()).as_posix()


def read_device_report(path: str | Path) -> dict:
    """The report at ``path``, checked to be a device check's.

    Parameters
    ----------
    path : str or pathlib.Path
        A report written by ``benchmarks/cuda_check.py``.

    Returns
    -------
    dict

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not JSON, or not a device check's report (no ``factors`` object), named with the path.

    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cuda_check_gpu.json"
    >>> _ = path.write_text(json.dumps({"gpu": "NVIDIA L4", "factors": {"fold": 1.04}}))
    >>> read_device_report(path)["factors"]
    {'fold': 1.04}
    """
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error}); a device check's report is what "
                         "benchmarks/cuda_check.py --out writes") from None
    if not isinstance(report, dict) or not isinstance(report.get("factors"), dict):
        raise ValueError(f"{path} is not a device check's report: it has no 'factors' object "
                         "(benchmarks/cuda_check.py --out writes one)")
    return report


def report_rate(report: dict | None) -> float | None:
    """The new data path's training images/s that ``report`` measured (its ``data_path`` check), or None.

    Parameters
    ----------
    report : dict or None

    Returns
    -------
    float or None

    >>> report_rate({"data_path": {"new_images_per_s": 30000.0}}), report_rate({"data_path": {"error": "x"}})
    (30000.0, None)
    """
    rate = ((report or {}).get("data_path") or {}).get("new_images_per_s")
    return float(rate) if isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0 else None


def report_device(report: dict) -> str:
    """The GPU's name (``"NVIDIA H200"``), or the device (``"cpu"``) for a dry run's report.

    Parameters
    ----------
    report : dict

    Returns
    -------
    str

    >>> report_device({"gpu": None, "device": "cpu"})
    'cpu'
    """
    return str(report.get("gpu") or report.get("device") or "an unnamed device")


def report_origin(report: dict) -> str:
    """The torch version, date and commit of the run that wrote ``report``.

    Parameters
    ----------
    report : dict

    Returns
    -------
    str

    >>> report_origin({"torch": "2.11.0", "date": "2026-12-04", "provenance": {"git_commit": "8e031a9be69a3721"}})
    'torch 2.11.0, 2026-12-04, commit 8e031a9be6'
    """
    from coinfer.results import Provenance

    commit = str((report.get("provenance") or {}).get("git_commit", "?"))
    return f"torch {report.get('torch', '?')}, {report.get('date', '?')}, commit {Provenance.short_commit(commit)}"


def factors_text(report: dict | None, *names: str) -> str:
    """The measured factors ``names`` as ``"1.31x, 1.52x"``; ``"not measured yet"`` if any is missing.

    Parameters
    ----------
    report : dict or None
    *names : str
        Keys of the report's ``factors`` (``benchmarks/cuda_check.py``'s ``measured_factors``).

    Returns
    -------
    str

    >>> factors_text({"factors": {"concurrency_2": 1.31}}, "concurrency_2", "concurrency_4")
    'not measured yet'
    """
    found = _measured(report, names)
    return ", ".join(f"{f:.2f}x" for f in found) if found else "not measured yet"


def _measured(report: dict | None, names: tuple[str, ...]) -> list[float] | None:
    """The factors ``names`` of ``report``, or None unless every one was measured."""
    found = [((report or {}).get("factors") or {}).get(name) for name in names]
    return found if found and all(found) else None


def _failure(report: dict, check: str) -> str | None:
    """Why ``check`` left no measurement in ``report``, or None when it left one.

    A check that ran a command (``paper_smoke`` runs pytest) fails with "... exited 1:" and the
    command's output; the output's last error line is the cause, so it follows the first line.

    >>> _failure({"smoke": {"error": "RuntimeError: pytest exited 1:\\nbar 10%\\nerror: Input type (cuda) and "
    ...                                "weight type (cpu) differ\\nbar 20%"}}, "smoke")
    'its `smoke` check failed: RuntimeError: pytest exited 1: error: Input type (cuda) and weight type (cpu) differ'
    """
    result = report.get(check)
    if result is None:
        return f"the report has no `{check}` check"
    if isinstance(result, dict) and "error" in result:
        first, *rest = str(result["error"]).splitlines() or [""]
        causes = [line.strip() for line in rest if re.match(r"\s*(error:|\w*(Error|Exception)\b)", line)]
        return f"its `{check}` check failed: {first[:200]}" + (f" {causes[-1][:300]}" if causes else "")
    return None


def gpu_measurement(report: dict | None, check: str, *names: str, labels: tuple[str, ...] = ()) -> str:
    """What the book says of one saving on a GPU: its factors and where they were measured, or why not.

    A Markdown fragment to follow "On a GPU:".

    Parameters
    ----------
    report : dict or None
        The committed report; None when there is none.
    check : str
        The check that measures it (``"together"``, ``"concurrency"``, ...).
    *names : str
        Its factors in the report's ``factors``.
    labels : tuple of str
        One label per factor, written after it (``("with two at once", "with four at once")``); none by
        default.

    Returns
    -------
    str

    >>> gpu_measurement(None, "together", "fold")
    "**not measured yet** (no GPU report is committed; the device check's `together` check measures it)"
    >>> gpu_measurement({"gpu": "L4", "concurrency": {"error": "RuntimeError: CUDA out of memory"}, "factors": {}},
    ...                 "concurrency", "concurrency_2")
    '**not measured yet** (on L4 its `concurrency` check failed: RuntimeError: CUDA out of memory)'
    """
    if report is None:
        return f"**not measured yet** (no GPU report is committed; the device check's `{check}` check measures it)"
    why, found = _failure(report, check), _measured(report, names)
    if why is not None or found is None:
        return f"**not measured yet** (on {report_device(report)} {why or f'its `{check}` check formed no ratio'})"
    values = [f"**{f:.2f}x** {label}".rstrip() for f, label in zip(found, [*labels, *[""] * len(names)])]
    return f"{', '.join(values)}, measured on {report_device(report)} (the device check's `{check}` check)"


def at_once(report: dict | None, check: str = "concurrency") -> tuple[list[str], list[str]]:
    """The factors of ``check`` (``"concurrency"``, ``"codec_concurrency"``, ``"compiled_concurrency"``)
    that the report measured for more than one training at once, each with its label; two, four and
    eight (the checks' counts) where it measured none, so that the book says what is missing.

    Parameters
    ----------
    report : dict or None
        The committed report; None when there is none.
    check : str
        The concurrency check, whose factors are named ``<check>_<N>``.

    Returns
    -------
    (list of str, list of str)
        Factor names (``concurrency_2``, ...) by process count, and their labels.

    >>> at_once({"factors": {"concurrency_1": 1.0, "concurrency_16": 3.0, "concurrency_2": 2.0,
    ...                      "codec_concurrency_4": 2.9}})
    (['concurrency_2', 'concurrency_16'], ['with 2 at once', 'with 16 at once'])
    >>> at_once(None, "compiled_concurrency")[0]
    ['compiled_concurrency_2', 'compiled_concurrency_4', 'compiled_concurrency_8']
    """
    factors = (report or {}).get("factors") or {}
    counts = sorted(int(name.rsplit("_", 1)[1]) for name in factors
                    if re.fullmatch(rf"{check}_\d+", name) and int(name.rsplit("_", 1)[1]) > 1) or [2, 4, 8]
    return [f"{check}_{n}" for n in counts], [f"with {n} at once" for n in counts]


def smoke_on_gpu(report: dict | None) -> str:
    """Whether the paper preset's smoke run (``tests/test_paper_smoke.py``) ran on the report's GPU.

    Parameters
    ----------
    report : dict or None

    Returns
    -------
    str
        A Markdown fragment.

    >>> smoke_on_gpu({"gpu": "NVIDIA H200", "paper_smoke": {"ran": True, "total_s": 212.4}, "factors": {}})
    "**ran** on NVIDIA H200, every command in 212 s (the device check's `paper_smoke` check)"
    """
    if report is None:
        return "**not run on a GPU yet**: no GPU report is committed"
    why = _failure(report, "paper_smoke")
    if why is not None:
        return f"**not run on a GPU yet**: on {report_device(report)} {why}"
    smoke = report["paper_smoke"]
    if not smoke.get("ran"):
        return f"**not run on a GPU yet**: the report's device, {report_device(report)}, only checked its selection"
    return (f"**ran** on {report_device(report)}, every command in {smoke['total_s']:.0f} s "
            "(the device check's `paper_smoke` check)")


def compiled_on_gpu(report: dict | None) -> str:
    """What the device check saw of ``COINFER_COMPILE=1``'s trainings besides their speed: one training
    eager and compiled from the same weights on the same batches (``compiled_agreement``), and the GPU
    memory one process reserves after each of several compiled trainings (``compiled_memory``), as a
    sweep worker trains its cells one after another.

    Parameters
    ----------
    report : dict or None

    Returns
    -------
    str
        A Markdown fragment, a sentence of its own.

    >>> print(compiled_on_gpu({"gpu": "NVIDIA H200", "factors": {},
    ...     "compiled_agreement": {"steps": 20, "autocast": "bfloat16", "first_loss_difference": 0.0007,
    ...                            "later_loss_difference": 0.0019, "eager_later_loss": 3.96},
    ...     "compiled_memory": {"trainings": 4, "steps": 20, "seconds": [0.6, 0.6, 0.6, 0.5],
    ...                         "reserved_gib_after_each": [0.588, 0.607, 0.648, 0.711]}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    On NVIDIA H200 the compiled training's loss differed from the eager one's by 0.0007 at the first
    step and 0.0019 (of 3.96) over 20 steps (bfloat16 autocast; the device check's
    `compiled_agreement`), and one process held 0.59, 0.61, 0.65, 0.71 GiB after each of 4 compiled
    trainings (`compiled_memory`; each took at most 0.6 s for its 20 steps, a new network compiled
    included, once the process had compiled one).
    """
    if report is None:
        return "No GPU report is committed, so neither the compiled training's agreement nor its memory is measured yet."
    parts = []
    why = _failure(report, "compiled_agreement")
    agreement = report.get("compiled_agreement")
    if why is None and isinstance(agreement, dict) and "first_loss_difference" in agreement:
        parts.append(f"the compiled training's loss differed from the eager one's by "
                     f"{agreement['first_loss_difference']:.2g} at the first step and "
                     f"{agreement['later_loss_difference']:.2g} (of {agreement['eager_later_loss']:.2f}) over "
                     f"{agreement['steps']} steps ({agreement['autocast']} autocast; the device check's "
                     "`compiled_agreement`)")
    else:
        parts.append(f"the compiled training's agreement with the eager one is not measured yet "
                     f"({why or 'no `compiled_agreement` check'})")
    why = _failure(report, "compiled_memory")
    memory = report.get("compiled_memory")
    if why is None and isinstance(memory, dict) and memory.get("reserved_gib_after_each"):
        held = ", ".join(f"{gib:.2f}" for gib in memory["reserved_gib_after_each"])
        took = (f"; each took at most {max(memory['seconds']):.1f} s for its {memory['steps']} steps, a new "
                "network compiled included, once the process had compiled one" if memory.get("seconds") else "")
        parts.append(f"one process held {held} GiB after each of {memory['trainings']} compiled trainings "
                     f"(`compiled_memory`{took})")
    else:
        parts.append(f"its memory over several trainings is not measured yet ({why or 'no `compiled_memory` check'})")
    return f"On {report_device(report)} {parts[0]}, and {parts[1]}."


def measured_runs(report: dict | None) -> str:
    """What the device check measured besides the savings: the full-width network's training images/s
    on the old data path and the new (its ``data_path`` check), and one paper-preset cell end to end with
    one epoch per stage (``paper_cell``); or why either is missing.

    Parameters
    ----------
    report : dict or None

    Returns
    -------
    str
        Markdown, one paragraph.

    >>> measured_runs({"gpu": "NVIDIA H200", "factors": {}, "data_path": {"error": "RuntimeError: x"},
    ...                "paper_cell": {"error": "ValueError: y"}})
    'Training images/s on NVIDIA H200: **not measured** (its `data_path` check failed: RuntimeError: x). One paper-preset cell end to end: **not run** (its `paper_cell` check failed: ValueError: y).'
    """
    if report is None:
        return ("The device check also times the full-width network's training on the old data path and on "
                "the new one, and runs one paper-preset cell end to end; no GPU report is committed, so neither "
                "is shown yet.")
    device = report_device(report)
    why = _failure(report, "data_path")
    if why is not None:
        text = f"Training images/s on {device}: **not measured** ({why})."
    else:
        rates = report["data_path"]
        precision = {"bfloat16": "bf16", None: "float32"}.get(rates.get("autocast"), rates.get("autocast"))
        compiled = rates.get("new_compiled_images_per_s")
        text = (f"On {device} the full-width network trains at **{rates['old_float32_loader_images_per_s']:,.0f} "
                f"images/s** on the old data path (transforms in loader processes, float32) and "
                f"**{rates['new_images_per_s']:,.0f}** on the new one ({precision}, the images held on the device, "
                f"channels_last), {rates['new_cudnn_benchmark_images_per_s']:,.0f} with cuDNN's autotuner on"
                + (f" and {compiled:,.0f} compiled in inductor's default mode (no CUDA graphs)" if compiled else "")
                + f" (batch {rates['batch_size']}, {rates['steps']} timed steps, synthetic CIFAR-shaped images)."
                + _data_path_parts(report))
    why = _failure(report, "paper_cell")
    if why is not None:
        return text + f" One paper-preset cell end to end: **not run** ({why})."
    cell = report["paper_cell"]
    text += (
        f" One paper-preset cell end to end (`{cell['cell']}` on the same synthetic images): the baseline's "
        f"{cell['baseline_epochs']} epoch(s) took {cell['baseline_s']:.0f} s, then the cell {cell['cell_s']:.0f} s "
        f"({cell['pruning_epochs']} pruning fine-tune epoch(s), {cell['codec_epochs']} codec epochs, its "
        "evaluations and its file).")
    compiled = report.get("paper_cell_compiled")
    if isinstance(compiled, dict) and "error" not in compiled:
        text += (f" The same with every network compiled (`COINFER_COMPILE=1`): the baseline {compiled['baseline_s']:.0f} s, "
                 f"the cell {compiled['cell_s']:.0f} s, compiling included.")
    elif compiled is not None:
        text += f" The same with every network compiled: **failed** ({_failure(report, 'paper_cell_compiled')})."
    return text


def _data_path_parts(report: dict) -> str:
    """The data path check's parts, each over the old path, its CUDA graphs, and how far an earlier run
    of the check (``superseded``) differed: a sentence or two, or nothing where it measured none.

    >>> _data_path_parts({"data_path": {"old_float32_loader_images_per_s": 100.0, "new_images_per_s": 90.0,
    ...     "over_old_path": {"resident_float32_images_per_s": 0.9}, "new_cuda_graphs_images_per_s": 200.0},
    ...     "superseded": {"data_path": [{"old_float32_loader_images_per_s": 150.0, "new_images_per_s": 91.0}]}})
    ' Its parts one at a time, over the old path: the images held and augmented on the device (float32) 0.90x. The whole step in CUDA graphs (as `COINFER_COMPILE=1` trains): **200 images/s**, 2.22x the new path. An earlier run of this check measured 150 on the old path and 91 on the new one.'
    """
    rates, text = report["data_path"], ""
    labels = {"resident_float32_images_per_s": "the images held and augmented on the device (float32)",
              "resident_float32_channels_last_images_per_s": "that and channels_last",
              "resident_bf16_images_per_s": "the held images with bf16 alone"}
    parts = [f"{labels.get(name, name)} {factor:.2f}x" for name, factor in (rates.get("over_old_path") or {}).items()]
    if parts:
        text += f" Its parts one at a time, over the old path: {', '.join(parts)}."
    graphs = rates.get("new_cuda_graphs_images_per_s")
    if graphs:
        text += (f" The whole step in CUDA graphs (as `COINFER_COMPILE=1` trains): **{graphs:,.0f} images/s**, "
                 f"{graphs / rates['new_images_per_s']:.2f}x the new path.")
    earlier = [run for run in (report.get("superseded") or {}).get("data_path", []) if "new_images_per_s" in run]
    if earlier:
        text += " An earlier run of this check measured " + "; ".join(
            f"{run['old_float32_loader_images_per_s']:,.0f} on the old path and {run['new_images_per_s']:,.0f} on the "
            "new one" for run in earlier) + "."
    return text


def _resumed_runs(report: dict) -> str:
    """The earlier runs a report resumed, one per commit and date with how many ran there.

    >>> _resumed_runs({"resumed_from": [{"git_commit": "a" * 40, "date": "2026-12-04T12:00"},
    ...                                 {"git_commit": "a" * 40, "date": "2026-12-04T13:00"}, None]})
    ', resuming 2 runs at commit aaaaaaaaaa of 2026-12-04'
    """
    from coinfer.results import Provenance

    runs: dict[tuple[str, str], int] = {}
    for run in report.get("resumed_from", []):
        if run:
            key = (Provenance.short_commit(str(run.get("git_commit"))), str(run.get("date"))[:10])
            runs[key] = runs.get(key, 0) + 1
    return "".join(f", resuming {'the run' if n == 1 else f'{n} runs'} at commit {commit} of {date}"
                   for (commit, date), n in runs.items())


#: The factors of several trainings at once (``<name>_<N>``), each also measured through CUDA MPS
#: (``mps_<name>_<N>``, the device check's ``mps_concurrency``).
AT_ONCE = ("concurrency", "compiled_concurrency", "codec_concurrency")


def has_mps(factors: dict) -> bool:
    """Whether ``factors`` hold any measurement through CUDA MPS.

    Parameters
    ----------
    factors : dict
        A device check report's ``factors``.

    Returns
    -------
    bool

    >>> has_mps({"concurrency_8": 2.5}), has_mps({"mps_concurrency_8": 3.5})
    (False, True)
    """
    return any(name.startswith("mps_") for name in factors)


def mps_factors(factors: dict) -> dict:
    """``factors`` as the sweep's workers take them through CUDA MPS (the daemon started before
    ``sweep --workers N``): each ``mps_<name>_<N>`` in place of ``<name>_<N>`` for the trainings at
    once of :data:`AT_ONCE`, and those not measured through MPS left out, so that the plan refuses a
    configuration rather than mixing the two ways of sharing the GPU. The other factors stay.

    Parameters
    ----------
    factors : dict
        A device check report's ``factors``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If nothing was measured through MPS.

    >>> mps_factors({"stack": 1.4, "concurrency_8": 2.5, "mps_concurrency_8": 3.5, "codec_concurrency_8": 4.5})
    {'stack': 1.4, 'concurrency_8': 3.5}
    """
    if not has_mps(factors):
        raise ValueError("nothing was measured through CUDA MPS (the device check's mps_concurrency check); "
                         f"the report's factors: {sorted(factors) or 'none'}")
    at_once = tuple(f"{name}_" for name in AT_ONCE)
    return {**{k: v for k, v in factors.items() if not k.startswith(("mps_", *at_once))},
            **{k.removeprefix("mps_"): v for k, v in factors.items() if k.startswith("mps_")}}


def measured_configurations(factors: dict, sweep_steps: list, rate: float,
                            schedule=None) -> dict[tuple[int, str, bool], float]:
    """The sweep's GPU-hours in every configuration a report's ``factors`` measured:
    :func:`coinfer.experiments.plan.projected_hours` (the GPU full to the end) or, given its tasks
    (``schedule``), those tasks dealt out as the workers take them, with the workers taking turns on
    the GPU, and, where measured, with several workers sharing it through CUDA MPS
    (:func:`mps_factors`; one worker is the same either way, so it is not repeated).

    Parameters
    ----------
    factors : dict
        A device check report's ``factors``.
    sweep_steps : list of coinfer.experiments.plan.PlanStep
        The sweep's plan (used without ``schedule``).
    rate : float
        Full-network training images/s.
    schedule : coinfer.experiments.plan_schedule.SweepTasks, optional
        The sweep's tasks (:func:`coinfer.experiments.plan_schedule.sweep_tasks`).

    Returns
    -------
    dict
        ``(workers, COINFER_COMPILE setting, through MPS)`` to GPU-hours.

    >>> from coinfer.experiments.plan import PlanStep
    >>> steps = [PlanStep("fine-tune: pruned device parts", 1, 1, 3600, 1.0)]
    >>> measured_configurations({"concurrency_2": 1.5, "mps_concurrency_2": 2.0}, steps, rate=1.0)
    {(1, '0', False): 1.0, (2, '0', False): 0.6666666666666666, (2, '0', True): 0.5}
    """
    from coinfer.experiments.plan import projected_hours

    def hours_of(measured):
        return schedule.hours(measured, rate) if schedule is not None else projected_hours(sweep_steps, measured, rate)

    hours = {(n, mode, False): h for (n, mode), h in hours_of(factors).items()}
    if has_mps(factors):
        hours.update({(n, mode, True): h for (n, mode), h in hours_of(mps_factors(factors)).items() if n > 1})
    return hours


def configuration_rows(hours: dict[tuple[int, str], float]) -> list[dict]:
    """:func:`coinfer.experiments.plan.projected_hours` as rows: one per worker count, with the GPU-hours
    under each ``COINFER_COMPILE`` setting (``"0"``, ``"frozen"``, ``"1"``), None where the device
    check did not measure that configuration.

    Parameters
    ----------
    hours : dict
        ``(workers, setting)`` to GPU-hours.

    Returns
    -------
    list of dict
        ``{"workers": N, "0": h, "frozen": h, "1": h}``, by worker count.

    >>> configuration_rows({(1, "0"): 11.2, (1, "1"): 8.2, (8, "0"): 3.4})
    [{'workers': 1, '0': 11.2, 'frozen': None, '1': 8.2}, {'workers': 8, '0': 3.4, 'frozen': None, '1': None}]
    """
    from coinfer.experiments.plan import COMPILE_MODES

    return [{"workers": n, **{mode: hours.get((n, mode)) for mode in COMPILE_MODES}}
            for n in sorted({n for n, _ in hours})]


def timed_sweep(report: dict | None) -> tuple[str, float | None]:
    """What the device check's ``sweep_timed`` check measured (``benchmarks/sweep_timed.py``: one seed
    of the paper sweep end to end, at a fraction of the epochs, beside the plan's price of that run).

    Parameters
    ----------
    report : dict or None
        The committed report.

    Returns
    -------
    (str, float or None)
        Markdown saying what it measured, or why there is nothing; and the sweep's seconds over the
        plan's (None without a measurement; a lower bound where the run was stopped).

    >>> timed_sweep({"sweep_timed": {"settings": {"workers": 16, "mps": True, "compile": True, "epoch_scale": 0.2,
    ...     "train_images": 20000, "deadline_s": 420}, "sweep_s": 250.0, "stopped": False, "cells_done": 159,
    ...     "cells": 159, "projected": {"sweep_s": 200.0}, "sweep_over_projected": 1.25}})[1]
    1.25
    >>> timed_sweep(None)[0]
    'no GPU report is committed'
    """
    if report is None:
        return "no GPU report is committed", None
    failure = _failure(report, "sweep_timed")
    if failure is not None:
        return f"not yet on a GPU ({failure}; `benchmarks/sweep_timed.py`)", None
    run = report["sweep_timed"]
    s, projected = run["settings"], run["projected"]["sweep_s"]
    how = (f"one seed of the paper sweep at {s['epoch_scale']:g} of its epochs on {s['train_images']:,} synthetic "
           f"images, {s['workers']} workers{' through CUDA MPS' if s.get('mps') else ''}"
           f"{', every network compiled' if s.get('compile') else ''}")
    if run.get("stopped"):
        ratio = run["sweep_s"] / projected
        return (f"{how}, was stopped at {run['sweep_s']:.0f} s with {run['cells_done']} of {run['cells']} cells done, "
                f"against {projected:.0f} s projected (at least {ratio:.2f} times the projection)"), ratio
    memory = run.get("peak_gpu_memory_mib")
    return (f"{how}, took {run['sweep_s']:.0f} s against {projected:.0f} s projected "
            f"({run['sweep_over_projected']:.2f} times the projection)"
            + (f", with at most {memory / 1024:.1f} GiB of GPU memory in use" if memory else "")), run["sweep_over_projected"]


def report_caption(report: dict | None, sweep_steps: list, schedule=None) -> str:
    """The caption of the book's savings table: which run measured its last column, and the sweep of
    ``sweep_steps`` (three seeds) at its rate with the speed-ups it measured that the plan does not count.

    Parameters
    ----------
    report : dict or None
        The committed report; None when there is none (the caption says how to make one).
    sweep_steps : list of coinfer.experiments.plan.PlanStep
        The sweep's plan (:func:`coinfer.experiments.plan.sweep_plan`).
    schedule : coinfer.experiments.plan_schedule.SweepTasks, optional
        Its tasks, as the workers take them (:func:`coinfer.experiments.plan_schedule.sweep_tasks`):
        the configurations are priced with them dealt out (:func:`measured_configurations`).

    Returns
    -------
    str
        Markdown.

    >>> report_caption(None, []).startswith("No GPU report is committed yet")
    True
    """
    from coinfer.experiments.codec_pricing import codec_step_said
    from coinfer.experiments.plan import plan_summary

    if report is None:
        return (f"No GPU report is committed yet: a GPU session writes one with `python benchmarks/cuda_check.py "
                f"--out {committed_name()}`, and the last column reads its factors.")
    g = report.get("provenance") or {}
    text = (f"The last column: `{g.get('command', 'benchmarks/cuda_check.py')}` on {report_device(report)}, "
            f"{report_origin(report)}"
            + _resumed_runs(report) + ".")
    rate = report_rate(report)
    if rate is None or not sweep_steps:
        return text
    # From the plan as it stands, not the report's own estimate, made by the plan of the report's commit.
    options = measured_configurations(report["factors"], sweep_steps, rate, schedule)
    text += (f" At its new data path's {rate:,.0f} images/s, the three-seed sweep takes "
             f"{plan_summary(sweep_steps, rate)['gpu_hours']:.1f} GPU-hours.")
    # The best configuration measured, the workers sharing the GPU through CUDA MPS where measured so.
    (workers, compiled, mps), best = min(options.items(), key=lambda item: item[1])
    what = {"0": "", "frozen": " and the frozen parts compiled", "1": " and every network compiled"}[compiled]
    return text + (
        f" With the speed-ups it measured that the plan does not count (the stacked and folded codec steps, "
        f"compiling, several trainings at once), the sweep takes {options[1, '0', False]:.1f} GPU-hours "
        f"as the GPU path runs by default, and {best:.1f} with {workers} worker(s){' through CUDA MPS' if mps else ''}"
        f"{what}{', its tasks dealt out as the workers take them' if schedule is not None and workers > 1 else ''} (`python -m coinfer plan --gpu-report {committed_name()} --workers {workers}{' --mps' if mps else ''}`"
        f"{f', with COINFER_COMPILE={compiled}' if compiled != '0' else ''}, step by step; to run it: "
        f"`{'nvidia-cuda-mps-control -d && ' if mps else ''}"
        f"{f'COINFER_COMPILE={compiled} ' if compiled != '0' else ''}python -m coinfer run sweep --preset paper"
        f"{f' --workers {workers}' if workers > 1 else ''}`): "
        f"{'within' if best <= 3 else 'above'} the goal of 3 GPU-hours (the whole sweep on one GPU)"
        + (f", which that configuration would reach if it ran {best / 3:.2f} times as fast." if best > 3 else ".")
        + (" It is a projection from factors measured one at a time. " + codec_step_said(report, schedule)
           + f" The sweep timed end to end (the device check's `sweep_timed`): {timed_sweep(report)[0]}."
           if workers > 1 and schedule is not None else "")
        + (" Each factor was measured alone and the projection multiplies them: several trainings at once were "
           "timed on whole-network steps, which leave the GPU idler than the stacked codec steps do, so the "
           "projection with workers is likely optimistic."
           if workers > 1 and f"{'mps_' if mps else ''}codec_concurrency_{workers}" not in report["factors"] else ""))
