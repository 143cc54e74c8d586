"""The brute-force search behind Fig. 3 and the lookup table (Shao & Zhang 2020, sections II-D and V-B).

"All the output models are profiled and stored in a lookup table": the paper tries every split point,
sparsity and code size of its framework, and each baseline's own settings, then reads the trade-off
off the table. Here every configuration is one **cell**: an independent, idempotent job addressed by
its parameters, whose result (one :class:`~coinfer.results.Record`) goes to its own small JSON file::

    sweep grid (preset.sweep) --cells()--> [Cell, ...]          ids like framework_layer2.1_s0.5_d16-l4_3fa1c2d9e0
         for each unfinished cell:                                (the hash covers every setting it depends on)
             shared inputs, computed once and cached:
                 pruned device part (split, sparsity)  -> <cache>/pruned-<split>-s<sparsity>-<hash>.pt
                     (sparsity 0: control-<hash>.pt; the pruning table's parts, the same files)
                 2-Step Pruning's step 1 (sparsity)     -> <cache>/two-step1-s<sparsity>-<hash>.pt
                 the frozen device part's features      -> memory (cells that share them run together)
             run the cell -> Record -> data/results/cells/<preset>/<id>.json   (atomic write)
         all cells done -> gather -> data/results/sweep_<preset>.json          (atomic write, with provenance)

Killing the sweep at any moment loses at most the running cell; the next run skips every cell whose
file holds a whole, valid result (``resume``) and redoes one that does not (a truncated or damaged
file, which ``--list-cells`` lists as ``invalid``). Nothing is ever half-written: files appear by an
atomic rename. On many GPUs, ``--list-cells`` prints the ids and ``--cell ID`` runs one, so a
scheduler can hand them out; ``--gather`` then writes the table.

A cell id hashes everything its result depends on: the preset, the sweep grid's settings, the
pruning and encoding settings of the preset (``preset.pruning`` and the encoding settings, with the
grid's ``prune`` and ``encode`` overrides: :func:`prune_settings`), and for the baselines their
recipe's version (:data:`BASELINE_RECIPE`). Change one of those and the affected cells get new
ids (the committed table then no longer matches the grid, which ``tests/test_sweep.py`` reports);
the next sweep recomputes only those cells. Same seed, settings and CPU thread count give the same
numbers, except that a training cell can differ in the last digits when its process ran other cells
before it (floating-point paths depend on memory layout); seeds, not reruns, give the spread.

Methods and their cells (see :mod:`coinfer.core.baselines` and :mod:`coinfer.experiments.baselines`):

Every configuration gets the same training budget: one fine-tuning of the whole network by the
pruning recipe (:func:`prune_settings`: ``preset.pruning`` with ``sweep.prune``) and, where the method has a
learned codec, one codec training of as many epochs (the encoding settings' warm-up and quantized
epochs); the recipe's unpruned control is the starting point of the unpruned framework and BottleNet++.

``framework``
    split x sparsity x code size: the device part pruned by :mod:`coinfer.core.pruning` (sparsity 0:
    the control), then the encoder of :mod:`coinfer.core.encoding` trained on its frozen features.
``original``
    split: 8-bit + Huffman, the baseline network unchanged.
``2-step-pruning``
    split x step-1 sparsity x step-2 sparsity; its two steps share the fine-tuning budget (half the images each).
``bottlenet++``
    split x channel reduction, on the control's features.
``png``, ``on-device``
    server-based inference (the image as PNG) and on-device inference (the class index): one cell each.

Command line::

    python -m coinfer sweep --preset quick --threads 1 --workers 2   # one seed: 40 min or so on 2 cores
    python -m coinfer sweep --preset paper                 # a GPU, see book/paper_scale.md
    python -m coinfer sweep --preset quick --list-cells    # then --cell <id> for one, --gather for the table
    python -m coinfer sweep --preset paper --shard 3/8     # worker 3 of 8 (e.g. one per GPU)
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from coinfer.experiments import complete_provenance
from coinfer.experiments.cell_workers import run_cells

from coinfer.config import Preset, PruneSettings, override
from coinfer.experiments.cell_files import CELL_SCHEMA, check_cell, default_paths, grid_name, read_cell  # noqa: F401 (re-exported)
from coinfer.experiments.cell_files import (SWEEP_VERSION, baseline_digest, cache_path, digest, preset_key,
                                            pruned_part_path, settings_key)
from coinfer.results import LookupTable, Provenance, Record, write_json_atomic
from coinfer.tensor_data import DataPath
from coinfer.train import progress_bars, show_progress
from coinfer.splits import SplitPoint
from coinfer.units import is_count

METHODS = ("png", "on-device", "original", "framework", "bottlenet++", "2-step-pruning")
#: Record ``extra`` keys that measure time or say how the run was organised (codecs trained
#: together): they differ between two runs of the same cell.
VOLATILE_EXTRA = ("wall_time_s", "train_time_s", "fine_tune_s", "trained_together")


def prune_settings(preset: Preset) -> PruneSettings:
    """The pruning settings of the sweep's cells: ``preset.pruning`` with ``preset.sweep.prune`` applied.

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    PruneSettings

    Examples
    --------
    >>> from coinfer.config import get_preset, sweep_grid
    >>> prune_settings(get_preset("quick", sweep=sweep_grid("tiny"))).batch_size
    64
    """
    return override(preset.pruning, preset.sweep.prune)


def encode_settings(preset: Preset):
    """The encoding settings of the sweep's cells: the preset's with ``preset.sweep.encode`` applied.

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    coinfer.config.EncodeSettings

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> encode_settings(get_preset("quick")).epochs
    5
    """
    from coinfer.experiments.encoding import get_encode_config

    return get_encode_config(preset, **preset.sweep.encode)      # the preset itself: its own overrides count


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One sweep job. ``setting`` is the method's own knob (code size, reduction, step-2 sparsity).

    ``depends`` holds every setting the result depends on (preset, training configs, version);
    the id is readable and ends with a hash of everything, so two different jobs never share an id.
    """

    method: str
    split: str
    sparsity: float
    setting: str
    depends: dict = field(compare=False, repr=False, default_factory=dict)

    @property
    def id(self) -> str:
        key = {"method": self.method, "split": self.split, "sparsity": self.sparsity, "setting": self.setting,
               "depends": self.depends, "version": SWEEP_VERSION}
        readable = f"{self.method}_{self.split}_s{self.sparsity:g}" + (f"_{self.setting}" if self.setting else "")
        return f"{readable}_{digest(key)}"

    @property
    def shares(self) -> tuple:
        """Cells with equal ``shares`` use the same device-part features: run them together."""
        if self.method == "framework":
            return ("features", self.split, self.sparsity)
        if self.method == "bottlenet++":
            return ("features", self.split, 0.0)
        if self.method == "2-step-pruning":
            return ("two-step", self.sparsity)
        return (self.method,)


def cells(preset: Preset) -> list[Cell]:
    """Every cell of ``preset.sweep``, ordered so that cells sharing inputs run one after another.

    Parameters
    ----------
    preset : Preset
        Whose ``sweep`` grid, pruning and encoding settings make the cells.

    Returns
    -------
    list of Cell

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.sweep import cells
    >>> len(cells(get_preset("quick")))
    85
    """
    config = preset.sweep
    p = preset_key(preset)
    prune, encode = settings_key(prune_settings(preset)), settings_key(encode_settings(preset))
    out = []
    if config.png:
        out.append(Cell("png", "input", 0.0, "png", {"preset": p, "images": config.png_images}))
    out.append(Cell("on-device", "output", 0.0, "class-index", {"preset": p}))
    for point in config.original_splits:          # SplitPoints, validated by SweepGrid
        out.append(Cell("original", point, 0.0, "8bit-huffman", {"preset": p, "encode": encode}))
    bottlenet = list(config.bottlenet_splits)
    for point in config.framework_splits:
        # Unpruned first, then BottleNet++ on the same (unpruned) features, then each sparsity.
        for sparsity in sorted(config.sparsities):
            for code in config.code_sizes:
                depends = {"preset": p, "encode": encode, "prune": prune}     # sparsity 0: the control
                out.append(Cell("framework", point, float(sparsity), code, depends))
            if sparsity == min(config.sparsities) and point in bottlenet:
                out += _bottlenet_cells(point, config, p, encode, prune)
    framework = set(config.framework_splits)
    for point in bottlenet:
        if point not in framework:
            out += _bottlenet_cells(point, config, p, encode, prune)
    for s1 in config.two_step_step1:
        for point in config.two_step_splits:
            for s2 in config.two_step_step2:
                out.append(Cell("2-step-pruning", point, float(s1), f"out{s2:g}",
                                {"preset": p, "encode": encode, "prune": prune, "recipe": BASELINE_RECIPE}))
    ids = [c.id for c in out]
    if twice := sorted({cell_id for cell_id in ids if ids.count(cell_id) > 1}):
        raise ValueError(f"the sweep grid lists a configuration twice ({', '.join(twice[:3])}): a split point, "
                         "sparsity, code size or reduction repeated in the preset's sweep settings")
    return out


def encoding_cells(preset: Preset) -> list[Cell]:
    """The encoding table's configurations as sweep cells, so that both tables share one cache.

    The unpruned framework (the recipe's control and a codec) at every (split, code size) of
    ``preset.encoding``, and the original network's 8-bit Huffman code at every
    ``preset.encoding.huffman_splits``: the same ids as the sweep's cells of the same configuration,
    hence the same numbers in both tables.

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    list of Cell

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.sweep import cells, encoding_cells
    >>> quick = get_preset("quick")
    >>> shared = {c.id for c in encoding_cells(quick)} & {c.id for c in cells(quick)}
    >>> len(encoding_cells(quick)), len(shared)
    (26, 21)
    """
    p = preset_key(preset)
    prune, encode = settings_key(prune_settings(preset)), settings_key(encode_settings(preset))
    enc = preset.encoding
    out = [Cell("framework", SplitPoint(point), 0.0, code, {"preset": p, "encode": encode, "prune": prune})
           for point in enc.splits for code in enc.code_sizes]
    return out + [Cell("original", SplitPoint(point), 0.0, "8bit-huffman", {"preset": p, "encode": encode})
                  for point in enc.huffman_splits]


#: The baselines' recipe, in their cells' ids: 2 gives BottleNet++ the framework codec's warm-up and quantized
#: epochs together, 2-Step Pruning's step 2 the other half of the images (both steps had the first half).
BASELINE_RECIPE = 2

#: Seconds after which a cell file's temporary copy was a killed run's, not another shard's writing now.
STALE_TEMP_S = 3600


def _bottlenet_cells(point, config, p, encode, prune) -> list[Cell]:
    return [Cell("bottlenet++", point, 0.0, f"r{r}", {"preset": p, "encode": encode, "prune": prune,
                                                      "recipe": BASELINE_RECIPE})
            for r in config.bottlenet_reductions]


# --------------------------------------------------------------------------------------------
# Running cells
# --------------------------------------------------------------------------------------------

class SweepRunner:
    """Runs cells of one preset's sweep, keeping what consecutive cells share.

    Parameters
    ----------
    preset : Preset
        The preset (dataset, baseline network, seed, the grid's pruning and encoding settings).
    cells_dir : path
        One ``<cell id>.json`` per finished cell.
    cache_dir : path
        Intermediate checkpoints (pruned models), keyed by their parameters.
    """

    def __init__(self, preset: Preset, cells_dir: str | Path, cache_dir: str | Path,
                 device: torch.device | None = None, log=print):
        from coinfer.train import default_device

        self.preset = preset
        self.config = preset.sweep
        self.cells_dir, self.cache_dir = Path(cells_dir), Path(cache_dir)
        self.device = device or default_device()
        self.log = log
        self.prune_config = prune_settings(preset)
        self.encode_config = encode_settings(preset)
        self._baseline, self._baseline_weights = None, None
        self._data: dict = {}
        self._shared_key, self._shared = None, None
        self._expected: list[Cell] = []      # what run_cells will run next (expect)
        self._trained: dict[str, Record] = {}   # records of cells trained beside an earlier one

    def expect(self, cells: list[Cell]) -> None:
        """The cells this runner is about to run. Where the device part's features are not cached
        (``encoding.precompute=False``, the paper preset), the framework cells among them that share
        features train their codecs together when the first of them runs: one pass over the
        augmented training images and the device part for every code size, each codec getting the
        steps it would get alone (:func:`coinfer.experiments.encoding.codec_records`); BottleNet++'s
        reductions at one split point alike (:func:`coinfer.experiments.baselines.bottlenet_records`).
        The others' records wait in memory for their turn; a killed run trains them again."""
        self._expected = list(cells)

    # -- inputs, loaded on first use ----------------------------------------------------------
    @property
    def baseline(self):
        if self._baseline is None:
            from coinfer.train import get_baseline

            # Building the network draws its initial values from the global generator before the
            # weights are read: off the seeded stream, so no cell depends on which one loaded it.
            with torch.random.fork_rng(devices=[]):
                model, meta = get_baseline(self.preset)
            self._baseline = (model.cpu().eval(), meta)
        return self._baseline

    @property
    def baseline_weights(self) -> str:
        """The digest of the baseline this runner computes from (:func:`coinfer.core.codecs.weights_digest`),
        recorded in every cell file and cached part it writes."""
        if self._baseline_weights is None:
            from coinfer.core.codecs import weights_digest

            self._baseline_weights = weights_digest(self.baseline[0])
        return self._baseline_weights

    def dataset(self, kind: str):
        """``"train"`` (Huffman images, never augmented), ``"codec"`` (codec training images, augmented
        where the features are not cached, as :func:`coinfer.experiments.encoding.run` does), ``"val"``
        (every choice), ``"test"`` (reported), or ``"prune"`` (augmented fine-tuning images); training
        images never include validation ones."""
        enc = self.encode_config
        kind = "train" if kind == "codec" and not (enc.augment and not enc.precompute) else kind
        if kind not in self._data:
            from coinfer.data import load_split

            part, augment, limit = {"train": ("train", False, enc.train_limit), "codec": ("train", True, enc.train_limit),
                                    "val": ("val", False, enc.test_limit), "test": ("test", False, enc.test_limit),
                                    "prune": ("train", True, self.prune_config.train_limit)}[kind]
            self._data[kind] = load_split(self.preset.dataset, part, self.preset.validation, augment=augment, limit=limit)
        return self._data[kind]

    def _prune_loader(self, share: int = 1, part: int = 0):
        """Fine-tuning batches (on CUDA held on the device); ``share=2`` gives half of the images, the first
        (``part=0``) or the second (``part=1``): two steps sharing one budget see every image once."""
        from torch.utils.data import Subset

        from coinfer.experiments.pruning import fine_tune_batches

        images = self.dataset("prune")
        size = len(images) // share
        images = Subset(images, range(part * size, (part + 1) * size)) if share > 1 else images
        return fine_tune_batches(images, self.prune_config, self.preset.seed, self.device)

    def pruned_device(self, point: str, sparsity: float):
        """The framework's pruned model at (point, sparsity), from the cache when it is there (sparsity
        0: the recipe's unpruned control, one per seed, shared by the unpruned framework and
        BottleNet++, the same fine-tuning budget as a pruned cell; the pruning table's own)."""
        from coinfer.experiments.pruning import fine_tuned_part
        from coinfer.train import seed_everything

        def batches():
            seed_everything(self.preset.seed)
            return self._prune_loader()

        path = pruned_part_path(self.cache_dir, self.preset, self.prune_config, point, sparsity)
        return fine_tuned_part(path, self.baseline[0], point, sparsity, self.prune_config, batches, self.device,
                               self.log)

    def two_step_step1(self, sparsity: float):
        from coinfer.experiments.baselines import two_step_step1
        from coinfer.experiments.pruning import cached_pruned
        from coinfer.train import seed_everything

        def compute():
            seed_everything(self.preset.seed)
            return two_step_step1(self.baseline[0], sparsity, self.prune_config, self._prune_loader(share=2),
                                  self.device)

        key = {"preset": preset_key(self.preset), "prune": settings_key(self.prune_config), "step1": sparsity}
        return cached_pruned(cache_path(self.cache_dir, f"two-step1-s{sparsity:g}", key), compute, self.device,
                             self.log, baseline=self.baseline_weights)

    def _features(self, cell: Cell):
        """(device part, server part, train, test features, server input shape, validation features) shared by
        ``cell.shares``.

        For a pruned device part, the device part is the compacted one (it computes and sends only
        the kept channels) and the server part is the fine-tuned network's own, unchanged: the
        framework's decoder restores the full feature shape it expects (``output_shape``). At
        sparsity 0 both parts are the unpruned control's, fine-tuned with the same budget.
        """
        from coinfer.core.features import FeatureSource
        from coinfer.experiments.baselines import feature_sources
        from coinfer.core.network import split as split_stages
        from coinfer.core.pruning import compact

        if self._shared_key != cell.shares:
            self._shared = None            # free the previous features first
            pruned = self.pruned_device(cell.split, cell.sparsity)       # sparsity 0: the control
            masked_device, server_part = split_stages(pruned.model, cell.split)
            if cell.sparsity > 0:
                device_part, _ = compact(masked_device, pruned.keep)
            else:
                device_part, masked_device = masked_device, None
            device_part, server_part = device_part.to(self.device), server_part.to(self.device)
            output_shape = None
            if masked_device is not None:
                with torch.no_grad():
                    output_shape = tuple(masked_device.eval()(torch.zeros(1, 3, 32, 32, device=self.device)).shape[1:])
            train_src, test_src = feature_sources(device_part, self.dataset("codec"), self.dataset("test"),
                                                  self.encode_config, self.device)
            val_src = FeatureSource(device_part, self.dataset("val"), self.encode_config.precompute,
                                    self.encode_config.eval_batch_size, self.device)
            self._shared_key = cell.shares
            self._shared = (device_part, server_part, train_src, test_src, output_shape, val_src)
        return self._shared

    def compute(self, cell: Cell) -> Record:
        """Run one cell; its :class:`Record` (not saved)."""
        from coinfer.experiments import baselines
        from coinfer.experiments.encoding import original_record
        from coinfer.core.costs import thop_macs
        from coinfer.train import seed_everything

        seed_everything(self.preset.seed)
        enc, seed = self.encode_config, self.preset.seed
        if cell.method == "png":
            model, meta = self.baseline
            record = baselines.png_record(self.preset.dataset, meta["test_accuracy"],
                                          thop_macs(model, (3, 32, 32))[0], images=self.config.png_images,
                                          val_accuracy=meta.get("val_accuracy"))
        elif cell.method == "on-device":
            from coinfer.experiments.original import original_records

            model, meta = self.baseline
            record = replace(original_records(model, meta["test_accuracy"], points=("output",))[0],
                             method="on-device", code_size="class-index", val_accuracy=meta.get("val_accuracy"))
        elif cell.method == "original":
            record = original_record(copy.deepcopy(self.baseline[0]), cell.split, self.dataset("train"),
                                     self.dataset("test"), enc, self.device, log=self.log, val_set=self.dataset("val"))
        elif cell.method == "framework":
            record = self._trained.pop(cell.id, None) or self._framework_record(cell)
        elif cell.method == "bottlenet++":
            record = self._trained.pop(cell.id, None) or self._bottlenet_record(cell)
        elif cell.method == "2-step-pruning":
            step1 = self.two_step_step1(cell.sparsity)
            seed_everything(seed)
            # Its two steps share the one fine-tuning budget every configuration gets: half the images each.
            step2 = baselines.two_step_step2(step1, cell.split, float(cell.setting[3:]), self.prune_config,
                                             self._prune_loader(share=2, part=1), self.device,
                                             teacher=copy.deepcopy(self.baseline[0]))   # distils from the baseline, as step 1
            record = baselines.two_step_record(step2, cell.sparsity, self.dataset("train"), self.dataset("test"),
                                               enc, self.device, log=self.log, val_set=self.dataset("val"))
        else:
            raise ValueError(f"unknown method {cell.method!r}; methods are {', '.join(METHODS)}")
        return record

    def _together(self, cell: Cell) -> list[Cell]:
        """``cell`` and, where features are not cached, the expected cells of its method that share its
        features and have no result yet (:meth:`expect`): their codecs train in one pass."""
        together = [cell]
        if not self.encode_config.precompute:
            together += [c for c in self._expected if c.method == cell.method and c.shares == cell.shares
                         and c.id != cell.id and c.id not in self._trained and not self.done(c)]
        return together

    def _framework_record(self, cell: Cell) -> Record:
        """``cell``'s record; its codec trains beside those of :meth:`_together`, whose records are
        kept for their turn."""
        from coinfer.experiments.encoding import codec_records

        device_part, server_part, train_src, test_src, output_shape, val_src = self._features(cell)
        together = self._together(cell)
        records = codec_records(cell.split, device_part, server_part, train_src, test_src,
                                [c.setting for c in together], self.encode_config, seed=self.preset.seed,
                                sparsity=cell.sparsity, device=self.device, output_shape=output_shape,
                                log=self.log, val_src=val_src)
        self._trained.update((c.id, r) for c, r in zip(together[1:], records[1:]))
        return records[0]

    def _bottlenet_record(self, cell: Cell) -> Record:
        """``cell``'s BottleNet++ record, trained as :meth:`_framework_record` trains the framework's."""
        from coinfer.experiments.baselines import bottlenet_records

        device_part, server_part, train_src, test_src, _, val_src = self._features(cell)
        together = self._together(cell)
        records = bottlenet_records(cell.split, device_part, server_part, train_src, test_src,
                                    [int(c.setting[1:]) for c in together], self.encode_config,
                                    seed=self.preset.seed, device=self.device, log=self.log, val_src=val_src)
        self._trained.update((c.id, r) for c, r in zip(together[1:], records[1:]))
        return records[0]

    def cell_path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.id}.json"

    def done(self, cell: Cell) -> bool:
        """Whether ``cell`` has a valid result file, computed from the baseline checkpoint now on disk."""
        return read_cell(self.cell_path(cell), cell.id, baseline_digest(self.preset)) is not None

    def pending(self, cells: list[Cell]) -> list[Cell]:
        """The cells of ``cells`` that are not :meth:`done`, saying why each one with an invalid file is redone.

        With no baseline checkpoint yet and cells to run, the baseline is trained first, here and once
        (not by every worker process, each with its own weights), and the finished cells are checked
        against it."""
        def states():
            baseline = baseline_digest(self.preset)
            return [(cell, check_cell(self.cell_path(cell), cell.id, baseline)[1]) for cell in cells]

        found = states()
        if baseline_digest(self.preset) is None and any(state != "done" for _, state in found):
            self.log("[sweep] no baseline checkpoint yet: training it first")
            _ = self.baseline                  # get_baseline trains it and saves the checkpoint
            found = states()
        for cell, state in found:
            if state.startswith("invalid"):
                self.log(f"[sweep] redoing {cell.id}: its file is {state}")
        return [cell for cell, state in found if state != "done"]

    def run(self, cell: Cell) -> dict:
        """Compute ``cell`` and write its file atomically; returns the file's content."""
        from coinfer.results_origin import git_commit, hardware, utc_now

        start = time.time()
        record = self.compute(cell)
        wall = round(time.time() - start, 1)
        record = replace(record, extra={**record.extra, "cell": cell.id, "dataset": self.preset.dataset,
                                        "preset": self.preset.name, "wall_time_s": wall})
        payload = {"schema": CELL_SCHEMA, "id": cell.id, "method": cell.method, "split": cell.split,
                   "sparsity": cell.sparsity, "setting": cell.setting, "depends": cell.depends,
                   "baseline": self.baseline_weights, "record": record.to_dict(), "wall_time_s": wall,
                   "hardware": hardware(), "git_commit": git_commit(), "torch_threads": torch.get_num_threads(),
                   "date": utc_now()}
        write_json_atomic(self.cell_path(cell), payload)
        return payload


def cell_states(preset: Preset, cells_dir: str | Path) -> list[tuple[str, str]]:
    """``(cell id, state)`` for every cell of ``preset``'s grid, in grid order (``sweep --list-cells``);
    states as :func:`check_cell`: ``done``, ``todo`` or ``invalid: <why>`` (an invalid cell is redone
    by the next run), against the baseline checkpoint now on disk.

    Parameters
    ----------
    preset : Preset
    cells_dir : path

    Returns
    -------
    list of (str, str)

    Examples
    --------
    >>> import tempfile
    >>> from coinfer.config import get_preset, sweep_grid
    >>> from coinfer.experiments.sweep import cell_states
    >>> states = cell_states(get_preset("quick", sweep=sweep_grid("tiny")), tempfile.mkdtemp())
    >>> len(states), {state for _, state in states}
    (6, {'todo'})
    """
    baseline = baseline_digest(preset)
    return [(cell.id, check_cell(Path(cells_dir) / f"{cell.id}.json", cell.id, baseline)[1]) for cell in cells(preset)]


# --------------------------------------------------------------------------------------------
# The sweep: run what is missing, gather the table
# --------------------------------------------------------------------------------------------

def gather(preset: Preset, cells_dir: str | Path, table: str | Path | None, command: str | None = None) -> LookupTable:
    """Collect every cell's record, in grid order, into the lookup table at ``table`` (atomic write; None: not saved).

    Raises
    ------
    RuntimeError
        If a cell has no result yet, or one that is not valid (:func:`check_cell`: computed from
        another baseline than the checkpoint now on disk, say), naming how many and the first few.

    The provenance's ``wall_time_s`` is the sum of the cells' own wall times (the compute the
    table cost, however many runs or machines it took).
    """
    settings = preset
    all_cells = cells(preset)
    baseline = baseline_digest(preset)
    checked = [check_cell(Path(cells_dir) / f"{c.id}.json", c.id, baseline) for c in all_cells]
    missing = [c.id for c, (_, state) in zip(all_cells, checked) if state == "todo"]
    invalid = [f"{c.id} ({state})" for c, (_, state) in zip(all_cells, checked) if state.startswith("invalid")]
    if missing or invalid:
        raise RuntimeError(
            "; ".join(f"{len(ids)} of {len(all_cells)} cells {what} (e.g. {', '.join(ids[:3])})"
                      for ids, what in ((missing, "have no result yet"), (invalid, "have no valid result")) if ids)
            + "; run the sweep to finish them")
    found = [data for data, _ in checked]
    wall = sum(f["wall_time_s"] for f in found)
    provenance = Provenance.collect(settings.dataset, settings.name, wall, command=command, seed=settings.seed)
    # With its threshold (baseline accuracies, the drop, the held-out split), as run_table's tables.
    result = complete_provenance(LookupTable(provenance, [Record.from_dict(f["record"]) for f in found]), preset)
    if table is not None:
        result.save(table)
    return result


def run(preset: Preset, *, cells_dir=None, table=None, cache_dir=None, only: list[str] | None = None,
        shard: tuple[int, int] | None = None, device=None, command: str | None = None, progress: bool = True,
        log=print, workers: int = 1, save: bool = True) -> LookupTable | None:
    """Run every unfinished cell (or only the ids in ``only``); gather the table when all are done.

    ``shard=(i, n)`` runs only the i-th (0-based) of n contiguous slices of the grid: n workers
    (e.g. one per GPU) given 0..n-1 cover every cell once, and neighbouring cells, which share
    pruned models and features, mostly land on the same worker.

    Parameters
    ----------
    preset : Preset
        Its ``sweep`` grid is run (e.g. ``get_preset("quick", sweep=sweep_grid("tiny"))``).
    cells_dir, table, cache_dir : path, optional
        Default :func:`coinfer.experiments.cell_files.default_paths`.
    only : list of str, optional
        Cell ids to run.
    shard : (int, int), optional
        ``(i, n)``: the i-th of n slices.
    device : torch.device, optional
    command : str, optional
        The regenerating command, for the provenance.
    progress : bool
        Show progress bars: the sweep's (finished cells count as done from the start) and every
        per-epoch bar below it; False silences them all (``--no-progress``).
    log : callable
        Where progress lines go.
    workers : int
        Processes on this machine (:func:`coinfer.experiments.cell_workers.run_cells`).
    save : bool
        Write the gathered table to ``table`` (``run_table`` saves the seeds' mean itself).

    Returns
    -------
    LookupTable or None
        The table, or None when cells remain (``only``/``shard`` given, or another worker busy).

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> from coinfer.experiments.sweep import run
    >>> table = run(get_preset("quick"), command="python -m coinfer sweep --preset quick")   # doctest: +SKIP
    """
    paths = default_paths(preset)
    cells_dir = Path(cells_dir or paths["cells_dir"])
    table = Path(table or paths["table"])
    runner = SweepRunner(preset, cells_dir, cache_dir or paths["cache_dir"], device, log=log)
    all_cells = cells(preset)
    if only:
        known = {c.id: c for c in all_cells}
        unknown = [i for i in only if i not in known]
        if unknown:
            raise ValueError(f"unknown cell id(s) {unknown}; list them with --list-cells")
        todo = [known[i] for i in only]
    else:
        todo = all_cells
    if shard is not None:
        i, n = shard
        if not (is_count(n) and is_count(i, 0) and i < n):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
        todo = todo[i * len(todo) // n:(i + 1) * len(todo) // n]
    if (shard is not None or only) and baseline_digest(preset) is None:
        # One of several commands (shards, cluster jobs): each would train a baseline of its own (on a
        # GPU, other weights) and the cells of all but the last one written would be stale.
        raise RuntimeError(f"no baseline checkpoint for preset {preset.name!r} yet: train it once before the shards "
                           f"or cell jobs start (python -m coinfer train --preset {preset.name})")
    for stale in cells_dir.glob(".*.tmp") if cells_dir.exists() else []:
        # a killed run's temporary file, not one another shard or job is writing now (those are seconds old)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - stale.stat().st_mtime > STALE_TEMP_S:
                stale.unlink()
    start = time.time()
    pending = runner.pending(todo)
    skipped = len(todo) - len(pending)
    log(f"[sweep] {skipped} of {len(todo)} cells already done, {len(pending)} to run")
    if pending:
        precision = DataPath.for_device(runner.device).autocast or "float32"
        log(f"[sweep] training on {runner.device} in {precision}" + (
            " (this GPU has no native bf16: compute capability below 8.0)"
            if torch.device(runner.device).type == "cuda" and precision == "float32" else ""))
    with progress_bars(progress):
        # Finished cells count as done from the start: a resumed sweep shows 3/5, not 0/5.
        ran = run_cells(runner, pending, workers, len(todo), f"sweep {preset.name}", not show_progress())
    log(f"[sweep] {ran} cells run, {skipped} already done, {time.time() - start:.0f} s")
    if all(runner.done(c) for c in all_cells):
        result = gather(preset, cells_dir, table if save else None, command=command)
        log(f"[sweep] gathered {len(result.records)} records" + (f" into {table}" if save else ""))
        return result
    return None
