"""Running a sweep's unfinished cells in several processes on one machine.

A cell is independent of every other once the shared inputs it needs (the control, a pruned
network, 2-Step Pruning's first step) are in the checkpoint cache, and each cell seeds itself, so
cells can run in any process and give the same record (a training cell up to its last digits,
which depend on what its process ran before: :mod:`coinfer.experiments.sweep`). Two single-threaded
processes keep both cores of a 2-core machine busy where one process's small batches leave a second
thread mostly idle (the quick sweep's 20 new cells of one seed: 1,217 s of cell time in 680 s with
two workers, on a machine shared with other jobs); that keeps a table's regeneration within its
budget.

Each worker gets a contiguous slice of the unfinished cells in grid order, as many as the others
(to one cell): cells that share device-part features (equal
:attr:`~coinfer.experiments.sweep.Cell.shares`) are neighbours in the grid, so they mostly land on
one worker and their features are computed once; a group cut in two costs its features (and, at
worst, its shared checkpoint) twice. Two workers that need the same cached checkpoint both compute
it (written atomically, so the later one simply wins). Equal slices keep both cores busy to the
end; whole groups dealt out did not (the quick sweep's five new groups of four cells: 3 on one
worker, 2 on the other).
"""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm

from coinfer.config import Preset
from coinfer.units import is_count


def deal(cells: Sequence, workers: int) -> list[list]:
    """``cells`` split into ``workers`` contiguous slices of equal size (to one cell), in grid order.

    Parameters
    ----------
    cells : sequence of Cell
        The cells to run, in grid order.
    workers : int
        At least 1.

    Returns
    -------
    list of list of Cell
        One list per worker (empty ones when there are fewer cells than workers).

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.sweep import cells
    >>> todo = cells(get_preset("quick"))
    >>> shares = deal(todo, 2)
    >>> [len(s) for s in shares], [c for s in shares for c in s] == todo
    ([42, 43], True)
    """
    if not is_count(workers):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    n = len(cells)
    return [list(cells[i * n // workers:(i + 1) * n // workers]) for i in range(workers)]


def _work(preset: Preset, cell_ids: list[str], cells_dir: str, cache_dir: str, threads: int,
          device: str | None = None) -> int:
    """One worker process: run the cells ``cell_ids`` of ``preset``'s grid (or its encoding cells) on the
    parent runner's ``device`` (a process left to choose would take CUDA where the parent was asked for the CPU)."""
    from coinfer.experiments.sweep import SweepRunner, cells, encoding_cells
    from coinfer.train import progress_bars

    torch.set_num_threads(threads)
    known = {c.id: c for c in cells(preset) + encoding_cells(preset)}
    runner = SweepRunner(preset, cells_dir, cache_dir, device=torch.device(device) if device else None,
                         log=lambda *_: None)
    runner.expect([known[cell_id] for cell_id in cell_ids])
    with progress_bars(False):          # the parent's bar counts the cells; per-epoch bars would interleave
        for cell_id in cell_ids:
            if not runner.done(known[cell_id]):
                runner.run(known[cell_id])
    return len(cell_ids)


def run_cells(runner, pending: Sequence, workers: int = 1, progress_total: int | None = None,
              desc: str = "sweep", disable: bool = False) -> int:
    """Run ``pending`` cells with ``runner`` (:class:`~coinfer.experiments.sweep.SweepRunner`): in
    this process when ``workers`` is 1, else in ``workers`` new processes (:func:`deal`).

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
    parts = deal(pending, workers)
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
        from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

        threads = max(1, torch.get_num_threads() // workers)
        # spawn, not fork: a forked child would inherit this process's torch thread pools and locks.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_work, runner.preset, [c.id for c in part], str(runner.cells_dir),
                                   str(runner.cache_dir), threads, str(runner.device)) for part in parts if part]
            seen = 0
            while True:
                done, waiting = wait(futures, timeout=5.0, return_when=FIRST_EXCEPTION)
                finished = sum(runner.done(c) for c in pending)
                bar.update(finished - seen)
                seen = finished
                for future in done:
                    future.result()            # re-raises a worker's error here, naming it
                if not waiting:
                    break
        return len(pending)
    finally:
        bar.close()

