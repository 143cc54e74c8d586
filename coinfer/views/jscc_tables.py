"""Chapter 4's tables: the numbers behind Fig. 5 and the robustness grid, the verdict the chapter
states (glued, never typed), and the training budget, from a JSCC lookup table.

The figures and explorers are in :mod:`coinfer.views.jscc`.
"""

from __future__ import annotations

import math

import numpy as np

from coinfer.core import channel as ch
from coinfer.core.jscc import jscc_channel_uses
from coinfer.stats import difference_in_standard_errors
from coinfer.views.jscc import FIG5_METHODS, _bandwidth_hz, fig5_rows, mismatch_grid


def fig5_frame(table, kind: str):
    """The numbers behind one panel of Fig. 5, one row per SNR (dB) or flip probability p.

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    kind : {"awgn", "bsc"}
        Which panel: AWGN latency in µs per scheme, plus JSCC's channel uses ``k``; or BSC channel
        uses per scheme. Both end with JSCC's accuracy (a fraction).

    Returns
    -------
    pandas.DataFrame
        Columns: the :data:`FIG5_METHODS`, then ``"JSCC k (real uses)"`` (AWGN only) and
        ``"JSCC accuracy"``.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc_tables import fig5_frame
    >>> fig5_frame(load_table(results_dir() / "jscc_quick.json"), "bsc").index.name
    'flip probability p'
    """
    import pandas as pd

    rows = pd.DataFrame(fig5_rows(table))
    rows = rows[rows.kind == kind]
    jscc = rows[rows.method == "framework-jscc"].set_index("value")
    if kind == "awgn":
        frame = rows.pivot(index="value", columns="method", values="latency_s") * 1e6  # µs
        frame = frame[list(FIG5_METHODS)]
        frame["JSCC k (real uses)"] = jscc.channel_uses
    else:
        frame = rows.pivot(index="value", columns="method", values="channel_uses")[list(FIG5_METHODS)]
    frame["JSCC accuracy"] = jscc.accuracy
    frame.index.name = "SNR (dB)" if kind == "awgn" else "flip probability p"
    return frame


def finite_length_frame(table):
    """Learned source coding's channel uses at capacity and with the best finite-length code (block
    error :data:`~coinfer.core.jscc.FINITE_BLOCK_ERROR`), beside JSCC's, per channel.

    Parameters
    ----------
    table : LookupTable
        The JSCC table.

    Returns
    -------
    pandas.DataFrame
        Index (kind, value); columns ``source bits``, ``uses at capacity``,
        ``uses, finite length (eps 1e-3)``, ``JSCC uses``.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc_tables import finite_length_frame
    >>> list(finite_length_frame(load_table(results_dir() / "jscc_quick.json")).columns)[-1]
    'JSCC uses'
    """
    import pandas as pd

    rows = pd.DataFrame(fig5_rows(table))
    lsc = rows[rows.method == "learned-source-coding+capacity"].set_index(["kind", "value"])
    jscc_uses = rows[rows.method == "framework-jscc"].set_index(["kind", "value"]).channel_uses
    return pd.DataFrame({"source bits": lsc.bits_per_image, "uses at capacity": lsc.channel_uses,
                         "uses, finite length (eps 1e-3)": lsc.finite_uses.astype(float),
                         "JSCC uses": jscc_uses})


#: A difference in channel uses counts as clear from this many standard errors of the seeds on.
CLEAR_MARGIN = 2.0


def fig5_verdict(table) -> dict:
    """JSCC against learned source coding in Fig. 5, counted per channel, for the chapter's verdict.

    Per kind (``"awgn"``, ``"bsc"``), from :func:`finite_length_frame`: ``values`` (how many channel
    values), ``fewer_than_capacity`` / ``more_than_capacity`` (values where JSCC needs fewer / more
    channel uses than learned source coding at capacity; ``whole_capacity`` of the latter, those where
    every seed's JSCC sends exactly learned source coding's uses rounded up to a whole number), the same ``_finite`` (with the best code of
    finite length), ``ratio_capacity`` / ``ratio_finite`` (min and max of JSCC's uses over the
    separate scheme's), ``clear_fewer_capacity`` / ``clear_more_capacity`` (and ``_finite``: of those
    values, the ones where the difference is at least :data:`CLEAR_MARGIN` standard errors of the
    training seeds, :func:`coinfer.stats.difference_in_standard_errors`; none for a single seed)
    and ``missed`` (values where no JSCC code searched met the threshold). Plus ``sentence_capacity``
    and ``sentence_finite``: those counts in words.

    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> v = fig5_verdict(load_table(results_dir() / "jscc_quick.json"))
    >>> v["awgn"]["values"], v["bsc"]["values"]
    (5, 5)
    """
    finite, rows, out = finite_length_frame(table), fig5_rows(table), {}
    seeds = {(r["method"], r["kind"], r["value"]): r for r in rows}
    for kind in ("awgn", "bsc"):
        f = finite.loc[kind]
        v = {"values": len(f), "missed": sum(not r["meets_threshold"] for r in rows
                                             if r["method"] == "framework-jscc" and r["kind"] == kind)}
        for key, column, per_seed in (("capacity", "uses at capacity", "uses_per_seed"),
                                      ("finite", "uses, finite length (eps 1e-3)", "finite_uses_per_seed")):
            ratio = f["JSCC uses"] / f[column]
            margins = {value: difference_in_standard_errors(
                seeds[("learned-source-coding+capacity", kind, value)][per_seed],
                seeds[("framework-jscc", kind, value)]["uses_per_seed"]) for value in f.index}
            # More only by whole channel uses: every seed's JSCC sends learned source coding's uses rounded up,
            # the least any code of whole channel uses sends (the margin, with no spread, reads infinite)
            v[f"whole_{key}"] = sum(ratio[x] > 1 and all(
                j == math.ceil(u - 1e-9) for j, u in zip(seeds[("framework-jscc", kind, x)]["uses_per_seed"],
                                                          seeds[("learned-source-coding+capacity", kind, x)][per_seed]))
                for x in f.index)
            v.update({f"fewer_than_{key}": int((ratio < 1).sum()), f"more_than_{key}": int((ratio > 1).sum()),
                      f"clear_fewer_{key}": sum((margins[x] or 0) >= CLEAR_MARGIN for x in f.index),
                      f"clear_more_{key}": sum((margins[x] or 0) <= -CLEAR_MARGIN for x in f.index),
                      f"ratio_{key}": (float(ratio.min()), float(ratio.max()))})
        out[kind] = v

    def sentence(key, against):
        parts = []
        for kind, name, unit in (("awgn", "AWGN", "SNRs"), ("bsc", "the BSC", "flip rates")):
            v, (lo, hi) = out[kind], out[kind][f"ratio_{key}"]
            fewer, more = v[f"fewer_than_{key}"], v[f"more_than_{key}"]
            equal = f", as many at {v['values'] - fewer - more}" if v["values"] - fewer - more else ""
            missed = f"; at {v['missed']} of them no JSCC code searched met the threshold" if v["missed"] else ""
            clear = (f"by {CLEAR_MARGIN:g} or more standard errors of the seeds: fewer at "
                     f"{v[f'clear_fewer_{key}']}, more at {v[f'clear_more_{key}']}")
            whole = (f"; at {v[f'whole_{key}']} of the {more} more, JSCC's uses are exactly {against} rounded up "
                     f"to whole channel uses, the least any code of whole uses sends: a tie"
                     if v[f"whole_{key}"] else "")
            parts.append(f"over {name}, fewer at {fewer} of the {v['values']} {unit}, more at {more}{equal} "
                         f"({clear}{whole}; JSCC's channel uses are {lo:.2f} to {hi:.2f} times {against}{missed})")
        return "; ".join(parts)

    out["sentence_capacity"] = sentence("capacity", "learned source coding's at capacity")
    out["sentence_finite"] = sentence("finite", "those of learned source coding with the best finite-length code")
    return out


def mismatch_frame(table, kind: str):
    """The robustness grid as a labelled table: rows "trained at ...", columns "test ...".

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    kind : {"awgn", "bsc"}
        Which channel (AWGN values in dB).

    Returns
    -------
    (pandas.DataFrame, int)
        Accuracies (fractions), and the code size ``k`` (channel uses) every codec of the grid has
        (its mean over seeds, for a table averaged over seeds).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc_tables import mismatch_frame
    >>> frame, k = mismatch_frame(load_table(results_dir() / "jscc_quick.json"), "bsc")
    >>> frame.index[-1].startswith("trained at 0..")
    True
    """
    import pandas as pd

    unit = " dB" if kind == "awgn" else ""
    trained, tests, grid = mismatch_grid(table, kind)
    k = next(jscc_channel_uses(r.bits_per_image, kind, ch.parse_channel(r.channel)[1]) for r in table.records
             if r.method == "framework-jscc-mismatch" and r.channel.startswith(kind))
    k = int(k) if k == int(k) else k
    return pd.DataFrame(grid, index=[f"trained at {t.split(':', 1)[1]}{unit}" for t in trained],
                        columns=[f"test {v:g}{unit}" for v in tests]), k


def mismatch_code_sizes(table, kind: str) -> list[int]:
    """The code size ``k`` (channel uses) of the robustness grid in each seed of ``table``.

    Each seed's grid is trained at the size that seed's own code-size search found at the middle
    training value, so the seeds' sizes can differ (:func:`mismatch_frame` gives their mean).

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    kind : {"awgn", "bsc"}
        Which channel.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc_tables import mismatch_code_sizes
    >>> len(mismatch_code_sizes(load_table(results_dir() / "jscc_quick.json"), "bsc"))
    3
    """
    record = next(r for r in table.records if r.method == "framework-jscc-mismatch" and r.channel.startswith(kind))
    value = ch.parse_channel(record.channel)[1]
    bits = record.extra.get("per_seed", {}).get("bits_per_image") or [record.bits_per_image]
    return [round(jscc_channel_uses(b, kind, value)) for b in bits]


def training_budget(table) -> dict:
    """``{"jscc", "source_codec", "equal"}``: the training budgets the JSCC table records
    (:func:`coinfer.experiments.jscc.training_budget`); an older table gives its JSCC settings and
    ``source_codec = None``.

    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> sorted(training_budget(load_table(results_dir() / "jscc_quick.json"))["jscc"])
    ['batch_size', 'epochs', 'steps', 'train_images']
    """
    extra = next(r.extra for r in table.records if r.method == "framework-jscc")
    if "training_budget" in extra:
        return extra["training_budget"]
    s = extra["settings"]
    steps = s["epochs"] * math.ceil(s["train_images"] / s["batch_size"]) if s["train_images"] else None
    return {"jscc": {"train_images": s["train_images"], "epochs": s["epochs"], "batch_size": s["batch_size"],
                     "steps": steps}, "source_codec": None, "equal": False}


def code_size_grid(sizes) -> str:
    """A searched grid of code sizes in words.

    >>> code_size_grid(tuple(range(1, 33)) + (48, 64, 96, 128))
    'every integer from 1 to 32, then 48, 64, 96 and 128'
    >>> code_size_grid((2, 4, 8))
    '2, 4 and 8'
    """
    sizes = sorted(int(k) for k in sizes)
    run = next((i for i in range(1, len(sizes)) if sizes[i] != sizes[i - 1] + 1), len(sizes))

    def listed(ks):
        return str(ks[0]) if len(ks) == 1 else ", ".join(map(str, ks[:-1])) + f" and {ks[-1]}"

    if run < 3:
        return listed(sizes)
    coarse = f", then {listed(sizes[run:])}" if run < len(sizes) else ""
    return f"every integer from {sizes[0]} to {sizes[run - 1]}{coarse}"


def mismatch_summary(table, kind: str) -> dict:
    """The robustness grid's findings in accuracy points, for the chapter's prose.

    ``noisy_code_on_clean``: how far the code trained at the noisiest value falls below the best row,
    at worst; ``clean_code_on_noisy``: at the noisiest test value, how many points the code trained
    at the cleanest value loses against the one trained there; ``range_gap``: how far the code
    trained over the whole range falls below the best specialized row, at worst;
    each with its margin (``<name>_se``: the two cells' difference in standard errors of the seeds,
    :func:`coinfer.stats.difference_in_standard_errors`; None for one seed);
    ``noisiest_all_below``: whether every row misses the threshold at the noisiest test value;
    ``noisiest``, ``cleanest``: those channel values (``kind`` is ``"awgn"`` or ``"bsc"``).

    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> summary = mismatch_summary(load_table(results_dir() / "jscc_quick.json"), "bsc")
    >>> summary["noisiest"], summary["cleanest"]
    (0.2, 0.0)
    """
    from coinfer.results import table_threshold

    trained, tests, grid = mismatch_grid(table, kind)
    point = sorted((t for t in trained if ".." not in t), key=lambda t: ch.parse_channel(t)[1],
                   reverse=(kind == "bsc"))              # noisiest first: lowest SNR, highest p
    noisiest = min(tests) if kind == "awgn" else max(tests)
    col, noisy, clean = tests.index(noisiest), trained.index(point[0]), trained.index(point[-1])
    rows = [trained.index(t) for t in point]
    best = grid[rows].max(axis=0)
    ranged = [trained.index(t) for t in trained if ".." in t]
    seeds = {(r.extra["train_channel"], ch.parse_channel(r.channel)[1]): r.extra.get("per_seed", {}).get("accuracy")
             or [r.accuracy] for r in table.records if r.method == "framework-jscc-mismatch" and r.channel.startswith(kind)}

    def margin(row_a, row_b, c):   # cell (row_a, c) above cell (row_b, c), in standard errors of the seeds
        return difference_in_standard_errors(seeds[(trained[row_a], tests[c])], seeds[(trained[row_b], tests[c])])

    def worst(row):                # how far ``row`` falls below the best specialized row, at its worst column
        c = int(np.argmax(best - grid[row]))
        return float(100 * (best - grid[row])[c]), margin(rows[int(np.argmax(grid[rows, c]))], row, c)

    (on_clean, on_clean_se), (gap, gap_se) = worst(noisy), worst(ranged[0]) if ranged else (math.nan, None)
    return {"noisy_code_on_clean": on_clean, "noisy_code_on_clean_se": on_clean_se,
            "clean_code_on_noisy": float(100 * (grid[noisy, col] - grid[clean, col])),
            "clean_code_on_noisy_se": margin(noisy, clean, col),
            "range_gap": gap, "range_gap_se": gap_se,
            "noisiest_all_below": bool((grid[:, col] < table_threshold(table)).all()),
            "noisiest": noisiest, "cleanest": ch.parse_channel(point[-1])[1]}


# ----------------------------------------------------------------------------- explorers (chapter 4)
