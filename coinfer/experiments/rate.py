"""The rate-accuracy curve: codecs trained for rate and accuracy, beside the fixed codebooks.

Shao & Zhang (2020) train the encoder for accuracy and fit the entropy coder afterwards; the rate
term of :mod:`coinfer.core.rate` makes the encoder pay for what the range coder sends. This table
trains, at each split point of ``preset.rate``, each of its code sizes at each rate weight (code-size
ids such as ``c8-d16-k64-r0.1``: the weight is part of the configuration's id), beside the
encoding table's fixed codebooks at the same split points::

    preset.rate (splits x code sizes x weights) + preset.encoding.code_sizes
        --grid()--> a preset whose encoding grid is the curve's
        --coinfer.experiments.encoding.table--> sweep cells (one file each, resumable; the fixed
                                                codes are the encoding table's own cells, not retrained)
        --run_table (3 seeds, means)--> data/results/rate_<preset>.json

Every record holds, in bits per image: ``bits_per_image`` (one packet per test image, flag + the
cheaper form: :func:`coinfer.core.entropy.sent_bits`), ``bits_entropy`` (empirical entropy of the
test symbols) and, for a rate-trained code, ``extra["bits_model"]`` (the rate estimate's value:
information content under the trained prior), ``extra["bits_soft"]`` (the soft estimate the gradient
comes from), ``extra["bits_one_stream_sent"]`` (the whole test set coded as one stream, as one
packet). The per-seed values of these are in ``extra["per_seed"]``.

Command line::

    python -m coinfer run rate --preset quick --threads 1
    python -m coinfer run rate --preset quick --rate-weights 0 0.05 0.5     # other weights
"""

from __future__ import annotations

from coinfer.config import Preset, override, rate_code_sizes
from coinfer.core.encoding import CodeSize
from coinfer.results import LookupTable

#: Which grid ``--rate-weights`` extends, per table: the settings whose code sizes it crosses with
#: the weights (``rate``: the weights replace the curve's own).
RATE_WEIGHT_GRIDS = {"encoding": "encoding.code_sizes", "sweep": "sweep.code_sizes", "rate": "rate.weights"}


def grid(preset: Preset) -> Preset:
    """``preset`` with its encoding grid replaced by the rate curve's (the Huffman baseline left out).

    Parameters
    ----------
    preset : Preset

    Returns
    -------
    Preset
        Its ``encoding.splits`` are ``rate.splits``; its ``encoding.code_sizes`` the fixed codebooks
        followed by every rate-trained code size. Training settings are unchanged, so every cell
        has the id it has in the encoding table or the sweep.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> g = grid(get_preset("quick"))
    >>> g.encoding.splits, g.encoding.code_sizes[-1]
    (('layer2.1', 'layer3.1'), 'd16-k64-r1')
    """
    fixed = _fixed(preset.encoding.code_sizes)
    return override(preset, {"encoding.splits": preset.rate.splits, "encoding.huffman_splits": (),
                             "encoding.code_sizes": fixed + preset.rate.rate_code_sizes})


def table(preset: Preset, *, cells_dir=None, cache_dir=None, device=None, command: str | None = None,
          log=print) -> LookupTable:
    """The committed rate-accuracy table: every cell of :func:`grid`, run or read from the cell cache.

    Parameters
    ----------
    preset : Preset
        Its ``rate`` settings name the curve; ``encoding`` the fixed codebooks and the training.
    cells_dir, cache_dir : path, optional
        Default :func:`coinfer.experiments.cell_files.default_paths` (shared with the sweep).
    device : torch.device, optional
    command : str, optional
        The regenerating command, for the provenance.
    log : callable

    Returns
    -------
    LookupTable
    """
    from coinfer.experiments.encoding import table as encoding_table

    return encoding_table(grid(preset), cells_dir=cells_dir, cache_dir=cache_dir, device=device,
                          command=command, log=log)


def rate_weight_overrides(preset: Preset, table_name: str, weights) -> dict:
    """The preset overrides that make table ``table_name`` train at the rate ``weights`` too.

    ``encoding`` and ``sweep``: every fixed code size of the grid is also trained at each weight
    (the fixed ones stay); ``rate``: the weights replace the curve's.

    Parameters
    ----------
    preset : Preset
    table_name : str
        ``"encoding"``, ``"sweep"`` (the search's space too) or ``"rate"``.
    weights : sequence of float
        Loss per bit per image, each finite and >= 0.

    Returns
    -------
    dict
        For :func:`coinfer.config.get_preset` or :func:`coinfer.config_overrides.override`.

    Raises
    ------
    ValueError
        For another table, or a bad weight.

    Examples
    --------
    >>> from coinfer.config import get_preset
    >>> rate_weight_overrides(get_preset("quick"), "encoding", [0.1])["encoding.code_sizes"][-1]
    'd16-l4-r0.1'
    >>> rate_weight_overrides(get_preset("quick"), "jscc", [0.1])
    Traceback (most recent call last):
    ...
    ValueError: rate weights apply to the encoding, sweep and rate tables (and the search), not 'jscc'
    """
    if table_name not in RATE_WEIGHT_GRIDS:
        raise ValueError(f"rate weights apply to the {', '.join(list(RATE_WEIGHT_GRIDS)[:-1])} and "
                         f"{list(RATE_WEIGHT_GRIDS)[-1]} tables (and the search), not {table_name!r}")
    weights = tuple(weights)
    if len(set(weights)) != len(weights):   # a code size twice in a grid would be two cells of one configuration
        raise ValueError(f"rate weights must be distinct, got {list(weights)}")
    name = RATE_WEIGHT_GRIDS[table_name]
    if table_name == "rate":
        return {name: weights}
    codes = preset.encoding.code_sizes if table_name == "encoding" else preset.sweep.code_sizes
    return {name: tuple(codes) + tuple(c for c in rate_code_sizes(_fixed(codes), weights) if c not in codes)}


def _fixed(code_sizes) -> tuple[str, ...]:
    """The code sizes without a rate weight."""
    return tuple(c for c in code_sizes if CodeSize.parse(c).rate_weight is None)
