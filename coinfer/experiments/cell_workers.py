"""Running a sweep's unfinished cells in several processes on one machine.

A cell is independent of every other once the shared inputs it needs (the control, a pruned
network, 2-Step Pruning's first step) are in the checkpoint cache, and each cell seeds itself, so
cells can run in any process and give the same record (a training cell up to its last digits,
which depend on what its process ran before: :mod:`coinfer.experiments.sweep`). Two single-threaded
processes keep both cores of a 2-core machine busy where one process's small batches leave a second
thread mostly idle (the quick sweep's 20 new cells of one seed: 1,217 s of cell time in 680 s with
two workers, on a machine shared with other jobs), and several processes keep a GPU busier than one
(``book/paper_scale.md``).

The workers take :func:`tasks` one at a time, each the first in order whose input is ready, as they
finish the one before (a free worker never waits while a task could start):

* a **unit** runs in one process: the framework's or BottleNet++'s cells of equal
  :attr:`~coinfer.experiments.sweep.Cell.shares`, which use the same device part's features (and,
  where those are not cached, the paper preset, train their codes in one pass), else one cell;
* a checkpoint that two or more units start from (the unpruned control, a pruned part, 2-Step
  Pruning's first step) is trained by a **preparing** task of its own, first, and the units that
  need it wait for it: two workers never train one checkpoint twice;
* then the units, longest first (``cost``: the plan's price of each,
  :func:`coinfer.experiments.plan_schedule.task_steps`), so that the last to finish are short.

The sweep's first version gave each worker a contiguous slice of the cells, as many as the others:
on the paper preset with 16 workers the longest slice held twice the mean work and groups cut in two
trained their checkpoints and codes twice (:func:`coinfer.experiments.plan_schedule.slices_hours`
prices it, beside these tasks, in ``book/paper_scale.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from coinfer.config import Preset
from coinfer.units import is_count


@dataclass(frozen=True)
class Task:
    """What one worker runs at a time (:func:`tasks`).

    ``cells``: the cells it runs, in grid order; for a preparing task, one cell whose shared
    checkpoint it trains (and no cell is run). ``prepares``: the key (:func:`shared_input`) of the
    checkpoint a preparing task trains, else None. ``needs``: the key of a preparing task that must
    finish first, else None. ``cost``: its price, for the order (any unit: seconds, images)."""

    cells: tuple
    prepares: tuple | None = None
    needs: tuple | None = None
    cost: float = 0.0


def shared_input(cell) -> tuple | None:
    """The key of the cached checkpoint ``cell`` starts from besides the baseline, or None.

    Parameters
    ----------
    cell : coinfer.experiments.sweep.Cell

    Returns
    -------
    tuple or None
        ``("pruned", split, sparsity)`` for the framework's pruned part (sparsity 0: the unpruned
        control, ``("pruned", None, 0.0)``, one for every split point) and BottleNet++'s control,
        ``("two-step", sparsity)`` for 2-Step Pruning's first step; None for the others.

    Examples
    --------
    >>> from coinfer.experiments.sweep import Cell
    >>> shared_input(Cell("framework", "layer2.1", 0.5, "d16-l4")), shared_input(Cell("bottlenet++", "stem", 0.0, "r4"))
    (('pruned', 'layer2.1', 0.5), ('pruned', None, 0.0))
    """
    if cell.method in ("framework", "bottlenet++"):
        return ("pruned", cell.split if cell.sparsity > 0 else None, float(cell.sparsity))
    if cell.method == "2-step-pruning":
        return ("two-step", float(cell.sparsity))
    return None


def tasks(cells: Sequence, cost: Callable[[Task], float] | None = None) -> list[Task]:
    """``cells`` as the workers take them: preparing tasks first, then units longest first.

    Parameters
    ----------
    cells : sequence of Cell
        The cells to run, in grid order.
    cost : callable, optional
        ``cost(task)``, the price the units are ordered by (longest first, grid order among equals);
        default: grid order.

    Returns
    -------
    list of Task
        In the order :func:`next_task` takes them.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.sweep import cells
    >>> paper = tasks(cells(get_preset("paper")))
    >>> len(paper), [t.prepares for t in paper if t.prepares]
    (54, [('pruned', None, 0.0), ('two-step', 0.25), ('two-step', 0.5)])
    """
    units: dict = {}
    for cell in cells:
        together = cell.method in ("framework", "bottlenet++")
        units.setdefault((cell.method, cell.shares) if together else cell.id, []).append(cell)
    needed: dict = {}
    for unit in units.values():
        if (key := shared_input(unit[0])) is not None:
            needed.setdefault(key, []).append(unit)
    prepared = {key: users[0][0] for key, users in needed.items() if len(users) > 1}
    first = [Task((cell,), prepares=key) for key, cell in prepared.items()]
    rest = [Task(tuple(unit), needs=key if key in prepared else None)
            for unit in units.values() for key in [shared_input(unit[0])]]
    if cost is not None:
        first = [replace(t, cost=cost(t)) for t in first]
        rest = sorted((replace(t, cost=cost(t)) for t in rest), key=lambda t: -t.cost)   # stable: grid order among equals
    return first + rest


def next_task(todo: Sequence[Task], prepared: set) -> Task | None:
    """The first task of ``todo`` that can start: it needs nothing, or a checkpoint in ``prepared``.

    Parameters
    ----------
    todo : sequence of Task
        Tasks not started, in :func:`tasks`' order.
    prepared : set of tuple
        Keys of the preparing tasks that have finished.

    Returns
    -------
    Task or None
        None when every task left waits for a preparing task still running.

    Examples
    --------
    >>> waits, free = Task((), needs=("two-step", 0.25)), Task(())
    >>> next_task([waits, free], set()) is free, next_task([waits, free], {("two-step", 0.25)}) is waits
    (True, True)
    """
    return next((t for t in todo if t.needs is None or t.needs in prepared), None)


#: This process's runner, kept between the tasks a worker takes (its baseline and datasets loaded once).
_runner: tuple | None = None


def _work(preset: Preset, cell_ids: list[str], cells_dir: str, cache_dir: str, threads: int,
          device: str | None = None, prepare: bool = False) -> int:
    """One worker process's task: run the cells ``cell_ids`` of ``preset``'s grid (or its encoding
    cells), or with ``prepare`` train the shared checkpoint the first of them starts from
    (:func:`shared_input`), on the parent runner's ``device`` (a process left to choose would take
    CUDA where the parent was asked for the CPU). Returns the cells run."""
    global _runner
    from coinfer.experiments.sweep import SweepRunner, cells, encoding_cells
    from coinfer.train import progress_bars

    torch.set_num_threads(threads)
    known = {c.id: c for c in cells(preset) + encoding_cells(preset)}
    key = (repr(preset), cells_dir, cache_dir, device)
    if _runner is None or _runner[0] != key:
        _runner = (key, SweepRunner(preset, cells_dir, cache_dir, device=torch.device(device) if device else None,
                                    log=lambda *_: None))
    runner = _runner[1]
    todo = [known[cell_id] for cell_id in cell_ids]
    with progress_bars(False):          # the parent's bar counts the cells; per-epoch bars would interleave
        if prepare:
            cell = todo[0]
            if cell.method == "2-step-pruning":
                runner.two_step_step1(cell.sparsity)
            else:
                runner.pruned_device(cell.split, cell.sparsity)
            return 0
        runner.expect(todo)
        for cell in todo:
            if not runner.done(cell):
                runner.run(cell)
    return len(todo)


def run_cells(runner, pending: Sequence, workers: int = 1, progress_total: int | None = None,
              desc: str = "sweep", disable: bool = False) -> int:
    """Run ``pending`` cells with ``runner`` (:class:`~coinfer.experiments.sweep.SweepRunner`): in
    this process when ``workers`` is 1, else in ``workers`` new processes, each taking the next of
    :func:`tasks` (:func:`next_task`) as it finishes one, the units longest first as the plan prices
    them (:func:`coinfer.experiments.plan_schedule.task_steps`).

    Parameters
    ----------
    runner : SweepRunner
        Its preset, cell folder and checkpoint cache are the workers' too.
    pending : sequence of Cell
        Unfinished cells.
    workers : int
        Processes; each gets ``max(1, torch threads // workers)`` torch threads.
    progress_total : int, optional
        Cells in the whole grid, for the progress bar (finished ones count as done from the start).
    desc : str
        The progress bar's label.
    disable : bool
        No progress bar.

    Returns
    -------
    int
        How many cells were run.
    """
    if not is_count(workers):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    total = progress_total if progress_total is not None else len(pending)
    bar = tqdm(total=total, initial=total - len(pending), desc=desc, unit="cell", disable=disable)
    try:
        if workers == 1:
            runner.expect(pending)
            for cell in pending:
                bar.set_postfix_str(cell.id[:48])
                runner.run(cell)
                bar.update(1)
            return len(pending)
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        from coinfer.experiments.plan_schedule import task_steps

        todo = tasks(pending, cost=lambda task: sum(s.equivalent_images for s in task_steps(runner.preset, task)))
        threads = max(1, torch.get_num_threads() // workers)
        prepared, running, seen = set(), {}, 0
        # spawn, not fork: a forked child would inherit this process's torch thread pools and locks.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            while todo or running:
                # One task per free worker, so that the next starts when one finishes, in tasks' order.
                while len(running) < workers and (task := next_task(todo, prepared)) is not None:
                    todo.remove(task)
                    running[pool.submit(_work, runner.preset, [c.id for c in task.cells], str(runner.cells_dir),
                                        str(runner.cache_dir), threads, str(runner.device),
                                        task.prepares is not None)] = task
                done, _ = wait(running, timeout=5.0, return_when=FIRST_COMPLETED)
                finished = sum(runner.done(c) for c in pending)
                bar.update(finished - seen)
                seen = finished
                for future in done:
                    task = running.pop(future)
                    future.result()            # re-raises a worker's error here, naming it
                    if task.prepares is not None:
                        prepared.add(task.prepares)
        return len(pending)
    finally:
        bar.close()
