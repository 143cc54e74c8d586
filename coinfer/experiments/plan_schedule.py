"""How long the sweep takes when N workers share one GPU, dealt out as its workers take their tasks.

:func:`coinfer.experiments.plan.projected_hours` divides the sweep's work by what N trainings at once
measured together: a GPU kept full to the end. But the workers take whole tasks
(:func:`coinfer.experiments.cell_workers.tasks`: one split point's codes training in one pass, a
shared checkpoint's fine-tune), some of them a twentieth of a seed's work, so near the end fewer run
at once and the GPU is less busy. Here every task is priced by the plan (:func:`task_steps`) and the
tasks are dealt to N workers in the order ``run_cells`` deals them (:func:`makespan`)::

    sweep cells --cell_workers.tasks--> tasks (preparing ones first, then the units longest first)
        each task --task_steps--> its PlanSteps --projected_hours--> its hours alone, and with k at once
        N workers take the next ready task as one finishes; k tasks running at once each advance
        at F(k)/k of their speed alone, F(k) the speed-up measured for k trainings of that task at
        once (its hours alone over its hours at k), linear between the counts measured (1 alone: 1)
        and held beyond the largest
    seeds x the makespan + the baseline (trained once, before the workers start) = GPU-hours

The first version of ``run_cells`` gave each worker a contiguous slice of the cells, as many as the
others; :func:`slices_hours` prices that the same way, for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from coinfer.config import Preset

__all__ = ["task_steps", "SweepTasks", "sweep_tasks", "makespan", "slices_hours"]

#: The fine-tune a preparing task trains (its key's kind, :func:`coinfer.experiments.cell_workers.shared_input`).
PREPARED_STEPS = {"control": "fine-tune: unpruned control", "pruned": "fine-tune: pruned device parts",
                  "two-step": "fine-tune: 2-Step Pruning, step 1"}


def _prepared_step(key: tuple) -> str:
    return PREPARED_STEPS["control" if key[0] == "pruned" and key[2] == 0 else key[0]]


def task_steps(preset: Preset, task, dataset_images: tuple[int, int] | None = None) -> list:
    """The plan's steps of one worker task: what it trains and evaluates, without the baseline.

    A preparing task is the one fine-tune of the checkpoint it trains; a unit that waits for one
    leaves that fine-tune out (the preparing task trains it); a unit that needs none pays for the
    checkpoint it trains itself (a pruned part only it uses, the control where one unit uses it).

    Parameters
    ----------
    preset : Preset
    task : coinfer.experiments.cell_workers.Task
    dataset_images : (int, int), optional
        Training and test images (:func:`coinfer.experiments.plan.sweep_plan`).

    Returns
    -------
    list of coinfer.experiments.plan.PlanStep

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.cell_workers import tasks
    >>> from coinfer.experiments.sweep import cells
    >>> paper = get_preset("paper")
    >>> control = tasks(cells(paper))[0]
    >>> [(s.name, s.runs, s.epochs) for s in task_steps(paper, control)]
    [('fine-tune: unpruned control', 1, 100)]
    """
    from coinfer.experiments.plan import BASELINE_STEPS, sweep_plan

    steps = [s for s in sweep_plan(preset, grid=list(task.cells), dataset_images=dataset_images)
             if s.name not in BASELINE_STEPS]
    if task.prepares is not None:
        return [s for s in steps if s.name == _prepared_step(task.prepares)]
    if task.needs is not None:
        return [s for s in steps if s.name != _prepared_step(task.needs)]
    return steps


@dataclass(frozen=True)
class SweepTasks:
    """A sweep's worker tasks in ``run_cells``' order (``tasks``), each with its plan steps
    (``steps``), for ``seeds`` seeds run one after another, and its ``baseline`` steps (trained once)."""

    tasks: tuple
    steps: tuple
    seeds: int
    baseline: tuple

    def hours(self, factors: dict, rate: float) -> dict[tuple[int, str], float]:
        """GPU-hours in every configuration ``factors`` measured (the keys of
        :func:`coinfer.experiments.plan.projected_hours`), the tasks dealt out as the workers take them.

        Parameters
        ----------
        factors : dict
            A device check report's factors (:func:`coinfer.experiments.device_report.mps_factors`'s
            for the workers sharing the GPU through CUDA MPS).
        rate : float
            One uncompiled training's full-network images/s.

        Returns
        -------
        dict
            ``(workers, COINFER_COMPILE setting)`` to GPU-hours.
        """
        from coinfer.experiments.plan import projected_hours

        per_task = [projected_hours(list(steps), factors, rate) for steps in self.steps]
        baseline = projected_hours(list(self.baseline), factors, rate)
        out = {}
        for n, mode in projected_hours(list(self.baseline) + [s for steps in self.steps for s in steps],
                                       factors, rate):
            alone = [hours[1, mode] for hours in per_task]
            # A task's speed-up with k at once: its hours alone over its hours with k workers.
            curves = [{k: hours[1, mode] / h if h else 1.0 for (k, m), h in hours.items() if m == mode}
                      for hours in per_task]
            out[n, mode] = (self.seeds * makespan(list(self.tasks), alone, curves, n) + baseline.get((1, mode), 0.0))
        return out


def sweep_tasks(preset: Preset, seeds: int = 1, dataset_images: tuple[int, int] | None = None) -> SweepTasks:
    """``preset``'s sweep as its workers take it: :func:`coinfer.experiments.cell_workers.tasks`,
    each priced by :func:`task_steps` and ordered by it, as ``python -m coinfer run sweep --workers N``
    orders them.

    Parameters
    ----------
    preset : Preset
    seeds : int
        Seeds the table averages; each seed's sweep runs after the one before.
    dataset_images : (int, int), optional
        Training and test images (:func:`coinfer.experiments.plan.sweep_plan`).

    Returns
    -------
    SweepTasks

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> paper = sweep_tasks(get_preset("paper"), seeds=3)
    >>> len(paper.tasks), paper.tasks[0].prepares, [s.name for s in paper.baseline]
    (54, ('pruned', None, 0.0), ['baseline', 'baseline evaluation (validation + test)'])
    """
    from coinfer.experiments.cell_workers import tasks
    from coinfer.experiments.sweep import cells

    grid = cells(preset)
    priced: dict = {}

    def cost(task) -> float:
        priced[task.cells, task.prepares] = task_steps(preset, task, dataset_images)
        return sum(s.equivalent_images for s in priced[task.cells, task.prepares])

    order = tasks(grid, cost=cost)
    return SweepTasks(tuple(order), tuple(tuple(priced[t.cells, t.prepares]) for t in order), seeds,
                      _baseline_steps(preset, dataset_images))


def _baseline_steps(preset: Preset, dataset_images: tuple[int, int] | None) -> tuple:
    """The baseline's steps, trained once before the workers start."""
    from coinfer.experiments.plan import BASELINE_STEPS, sweep_plan

    return tuple(s for s in sweep_plan(preset, grid=[], dataset_images=dataset_images) if s.name in BASELINE_STEPS)


def makespan(tasks: list, alone: list[float], curves: list[dict[int, float]], workers: int) -> float:
    """When the last of ``tasks`` finishes, ``workers`` taking them as ``run_cells`` does.

    Parameters
    ----------
    tasks : list of coinfer.experiments.cell_workers.Task
        In the order the workers take them (:func:`coinfer.experiments.cell_workers.next_task`).
    alone : list of float
        Each task's time alone (any unit; the result is in it).
    curves : list of dict
        Each task's speed-up with k at once (``{k: F(k)}``, ``F(1) = 1``), as measured for k.
    workers : int
        Tasks running at once, at most.

    Returns
    -------
    float
        The time from the first start to the last finish.

    Examples
    --------
    Three equal tasks on two workers whose two at once run 1.5 times one alone: two run together
    (each at 0.75), then the third alone:

    >>> from coinfer.experiments.cell_workers import Task
    >>> makespan([Task(()), Task(()), Task(())], [1.0, 1.0, 1.0], [{1: 1.0, 2: 1.5}] * 3, 2)
    2.333333333333333
    """
    from coinfer.experiments.cell_workers import next_task

    todo, prepared, running, clock = list(range(len(tasks))), set(), {}, 0.0
    while todo or running:
        while len(running) < workers and (task := next_task([tasks[i] for i in todo], prepared)) is not None:
            i = todo.pop([tasks[i] for i in todo].index(task))
            running[i] = alone[i]
        if not running:
            raise ValueError("a task waits for a checkpoint that no task prepares")
        at_once = len(running)
        speed = {i: _speedup(curves[i], at_once) / at_once for i in running}
        step = min(left / speed[i] for i, left in running.items())
        clock += step
        for i in list(running):
            running[i] -= speed[i] * step
            if running[i] <= 1e-12 * max(1.0, alone[i]):
                del running[i]
                if tasks[i].prepares is not None:
                    prepared.add(tasks[i].prepares)
    return clock


def _speedup(curve: dict[int, float], at_once: int) -> float:
    """``curve`` at ``at_once``: linear between the counts measured (1 alone: 1), held beyond the largest."""
    points = sorted({1: 1.0, **curve}.items())
    below = max((p for p in points if p[0] <= at_once), key=lambda p: p[0])
    above = [p for p in points if p[0] > at_once]
    if below[0] == at_once or not above:
        return below[1]
    (k0, f0), (k1, f1) = below, above[0]
    return f0 + (f1 - f0) * (at_once - k0) / (k1 - k0)


def slices_hours(preset: Preset, factors: dict, rate: float, workers: int, mode: str = "0", seeds: int = 1,
                 dataset_images: tuple[int, int] | None = None) -> float:
    """GPU-hours of the sweep as the first ``run_cells`` dealt it: each of ``workers`` a contiguous
    slice of the cells in grid order, as many as the others, the slices' codes and checkpoints
    trained in each slice that needs them.

    Parameters
    ----------
    preset : Preset
    factors : dict
        A device check report's factors.
    rate : float
        One uncompiled training's full-network images/s.
    workers : int
        A worker count the factors measured.
    mode : str
        The ``COINFER_COMPILE`` setting (``"0"``, ``"frozen"``, ``"1"``).
    seeds : int
    dataset_images : (int, int), optional

    Returns
    -------
    float
    """
    from coinfer.experiments.cell_workers import Task
    from coinfer.experiments.sweep import cells

    grid = cells(preset)
    slices = [Task(tuple(grid[i * len(grid) // workers:(i + 1) * len(grid) // workers])) for i in range(workers)]
    # One task per worker: dealt out as the workers take tasks, each runs its slice from start to end.
    return SweepTasks(tuple(slices), tuple(tuple(task_steps(preset, t, dataset_images)) for t in slices), seeds,
                      _baseline_steps(preset, dataset_images)).hours(factors, rate)[workers, mode]
