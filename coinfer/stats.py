"""Evidence: which accuracy decides a choice, a table's means over seeds, margins in standard errors.

Every choice (does a configuration meet the threshold?) is made on the validation split
(:func:`selection_accuracy`, :func:`meets_threshold`); the test accuracy is only reported. Every
accuracy in a committed table that trains is the mean over several training seeds
(:func:`aggregate_seeds`, called by ``coinfer.experiments.run_table``); a claim that one
configuration beats another states its margin in standard errors (:func:`margin_in_standard_errors`;
:func:`difference_in_standard_errors` for other numbers measured per seed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

from coinfer.results import LookupTable, Provenance, Record, table_threshold


def selection_accuracy(record: Record, table: LookupTable | None = None) -> float:
    """The accuracy every choice about ``record`` is made on: its validation accuracy.

    A table made before the validation split existed (its provenance has no ``validation``) has
    only test accuracies, which is what it falls back to; :func:`selection_threshold` matches.
    Without ``table`` (records merged from several tables, as the latency chooser holds them), a
    record without a validation accuracy falls back to its test accuracy alike; the threshold it is
    compared with must then come from the same split (:class:`coinfer.core.latency.Candidates`
    gives it).

    Parameters
    ----------
    record : Record
        One of ``table``'s records.
    table : LookupTable, optional
        Its table (the provenance says whether it holds out a validation split).

    Returns
    -------
    float
        A fraction.

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> from coinfer.stats import selection_accuracy
    >>> table = load_table(table_path("original-float32", "quick"))
    >>> 0 < selection_accuracy(table.records[0], table) <= 1
    True
    """
    if table is None:
        return record.accuracy if record.val_accuracy is None else record.val_accuracy
    if table.provenance.validation is None:                      # made before the validation split
        return record.accuracy
    if record.val_accuracy is None:
        raise ValueError(f"record {record.key} has no val_accuracy, though its table holds out a validation "
                         "split; regenerate the table")
    return record.val_accuracy


def selection_threshold(table: LookupTable) -> float:
    """The threshold :func:`selection_accuracy` is compared with: :func:`coinfer.results.table_threshold` on the
    validation split (on the test split for a table made before there was one).

    Parameters
    ----------
    table : LookupTable

    Returns
    -------
    float
        A fraction.

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> from coinfer.stats import selection_threshold
    >>> table = load_table(table_path("original-float32", "quick"))
    >>> selection_threshold(table) <= table.provenance.baseline_accuracy
    True
    """
    return table_threshold(table, "test" if table.provenance.validation is None else "val")


def meets_threshold(record: Record, table: LookupTable) -> bool:
    """Whether ``record`` meets ``table``'s accuracy threshold, decided on the validation split (the
    test accuracy is only reported).

    Parameters
    ----------
    record : Record
        One of ``table``'s records.
    table : LookupTable

    Returns
    -------
    bool

    Examples
    --------
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> from coinfer.stats import meets_threshold
    >>> table = load_table(table_path("original-float32", "quick"))
    >>> meets_threshold(table.records[0], table)
    True
    """
    return selection_accuracy(record, table) >= selection_threshold(table)


#: Record ``extra`` numbers that depend on the seed and are kept per seed (``extra["per_seed"]``) when
#: every run has them: the rate estimates, the one-stream coded length (bits per image) and the share
#: of images sent range-coded.
SEEDED_EXTRA = ("bits_model", "bits_soft", "bits_one_stream", "bits_one_stream_sent", "bits_range", "range_share")


def aggregate_seeds(runs: list[LookupTable]) -> LookupTable:
    """One table from the same experiment run with several training seeds.

    Each configuration's accuracies (test and validation) become their mean with the sample
    standard deviation (``accuracy_std``, ``val_accuracy_std``) and ``seeds``; the bits (which an
    entropy coder makes seed-dependent) and costs are averaged too. The per-seed values stay in
    ``extra["per_seed"]``, with those of the :data:`SEEDED_EXTRA` numbers (the other ``extra``
    values are the first run's). Every configuration must be in every run, and every run is one seed's:
    records that are already means over seeds, and a seed given twice, are refused, as are runs of
    another dataset, preset, validation split or baseline. The table's commit, hardware and version
    name every run's (joined by `` + `` where they differ) and its date is the last run's.

    >>> from dataclasses import replace
    >>> from coinfer.results import LookupTable, Provenance, Record
    >>> from coinfer.stats import aggregate_seeds
    >>> r = Record(method="original", split="pool", accuracy=0.90, device_macs=10, device_params=1,
    ...            server_macs=5, bits_per_image=32, val_accuracy=0.91)
    >>> prov = Provenance("fashion-mnist", "quick", "example", 1.0, seed=0)
    >>> runs = [LookupTable(prov, [r]), LookupTable(replace(prov, seed=1), [replace(r, accuracy=0.92)])]
    >>> m = aggregate_seeds(runs).records[0]
    >>> round(m.accuracy, 4), round(m.accuracy_std, 4), m.seeds
    (0.91, 0.0141, 2)
    """
    if not runs:
        raise ValueError("aggregate_seeds needs the tables of one or more runs, got none")
    for i, run in enumerate(runs):   # a mean of means, or a seed counted twice, would shrink the spread wrongly
        if means := [f"{r.key} over {r.seeds} seeds" for r in run.records if r.seeds != 1]:
            raise ValueError(f"run {i} holds records that are already means over seeds ({means[0]}): "
                             "aggregate single-seed runs")
    seeds = [run.provenance.seed for run in runs]
    if len(runs) > 1 and None in seeds:      # a run without its seed could be another run's twice over
        raise ValueError(f"run {seeds.index(None)} records no training seed ({seeds}): aggregate runs of one seed each")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs repeat a training seed ({seeds}): each seed's run counts once")
    keys = [{r.key: r for r in run.records} for run in runs]
    for i, run_keys in enumerate(keys[1:], start=1):
        if set(run_keys) != set(keys[0]):
            raise ValueError(f"run {i} holds other configurations than run 0: "
                             f"{sorted(set(run_keys) ^ set(keys[0]))[:3]}")

    def mean_std(values):
        if any(v is None for v in values):
            return None, None
        mean = sum(values) / len(values)
        return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                      if len(values) > 1 else None)

    records = []
    for key, first in keys[0].items():
        same = [k[key] for k in keys]
        acc, acc_std = mean_std([r.accuracy for r in same])
        val, val_std = mean_std([r.val_accuracy for r in same])
        avg = {name: sum(getattr(r, name) for r in same) / len(same)
               for name in ("device_macs", "device_params", "server_macs", "bits_per_image")}
        entropy, _ = mean_std([r.bits_entropy for r in same])
        per_seed = {n: [getattr(r, n) for r in same] for n in ("accuracy", "val_accuracy", "bits_per_image")}
        per_seed.update({n: [r.extra[n] for r in same] for n in SEEDED_EXTRA
                         if all(isinstance(r.extra.get(n), (int, float)) for r in same)})
        records.append(Record(**{**first.to_dict(), "accuracy": acc, "accuracy_std": acc_std,
                                 "val_accuracy": val, "val_accuracy_std": val_std, "seeds": len(same),
                                 "bits_per_image": avg["bits_per_image"], "bits_entropy": entropy,
                                 **{n: round(avg[n]) for n in ("device_macs", "device_params", "server_macs")},
                                 "extra": {**first.extra, "per_seed": per_seed}}))
    provs = [run.provenance for run in runs]
    for field in ("dataset", "preset", "validation", "baseline_accuracy", "baseline_val_accuracy", "accuracy_drop"):
        if any(getattr(p, field) != getattr(provs[0], field) for p in provs):
            raise ValueError(f"the runs differ in {field} ({[getattr(p, field) for p in provs]}): aggregate the seeds "
                             "of one experiment (a seed's finished run kept under data/results/seeds/ may be "
                             "another's: delete it to run that seed again)")

    def every(field):   # seeds resumed at another commit or on another machine: name each, in run order
        return " + ".join(dict.fromkeys(v for p in provs if (v := getattr(p, field))))

    return LookupTable(Provenance(**{**asdict(provs[0]), "seed": None, "seeds": seeds,
                                     "wall_time_s": round(sum(p.wall_time_s for p in provs), 1),
                                     "git_commit": every("git_commit"), "hardware": every("hardware"),
                                     "coinfer_version": every("coinfer_version"),
                                     "date": max(p.date for p in provs)}),   # when the last seed finished
                       records)


def seed_spread(record: Record) -> float | None:
    """The standard deviation of ``record``'s test accuracy over its seeds, the spread a table shows
    beside the mean; None for one run (0 where every seed gave the same accuracy, e.g. the baseline
    itself, which no seed retrains).

    Parameters
    ----------
    record : coinfer.results.Record
        A record of a table made over seeds (:func:`aggregate_seeds`) or of one run.

    Examples
    --------
    >>> from coinfer.results import Record
    >>> from coinfer.stats import seed_spread
    >>> r = Record("framework", "layer2.1", 0.9, 1, 1, 1, 100.0, accuracy_std=0.004, seeds=3)
    >>> seed_spread(r), seed_spread(Record("framework", "layer2.1", 0.9, 1, 1, 1, 100.0))
    (0.004, None)
    """
    return record.accuracy_std if record.accuracy_std is not None and record.seeds > 1 else None


def seed_mean(record: Record, name: str) -> float | None:
    """The mean over seeds of one of ``record``'s :data:`SEEDED_EXTRA` numbers, as its bits per image
    are (the ``extra`` value itself for one run; None where the record has none).

    A table over seeds keeps seed 0's ``extra`` beside the means of accuracy and bits; compare a mean
    with a mean, not with seed 0's number.

    Parameters
    ----------
    record : coinfer.results.Record
        A record of a table made over seeds (:func:`aggregate_seeds`) or of one run.
    name : str
        The ``extra`` number, e.g. ``"bits_model"``.

    Examples
    --------
    >>> from coinfer.results import Record
    >>> from coinfer.stats import seed_mean
    >>> r = Record("framework", "pool", 0.9, 1, 1, 1, 5.0, extra={"bits_model": 4.2,
    ...            "per_seed": {"bits_model": [4.2, 3.8, 4.0]}}, seeds=3)
    >>> round(seed_mean(r, "bits_model"), 6), seed_mean(r, "bits_range")
    (4.0, None)
    """
    values = record.extra.get("per_seed", {}).get(name)
    if values:
        return sum(values) / len(values)
    return record.extra.get(name)


def margin_in_standard_errors(a: Record, b: Record) -> float | None:
    """How many standard errors ``a``'s mean test accuracy lies above ``b``'s (negative: below).

    The difference of the means over the standard error of that difference,
    ``sqrt(std_a^2 / n_a + std_b^2 / n_b)``; None where either has no spread (one seed). Where both
    spreads are zero the difference is exact: infinite, or 0 when the means are equal.

    >>> from dataclasses import replace
    >>> from coinfer.results import Record
    >>> from coinfer.stats import margin_in_standard_errors
    >>> r = Record(method="original", split="pool", accuracy=0.90, device_macs=10, device_params=1,
    ...            server_macs=5, bits_per_image=32, accuracy_std=0.01, seeds=4)
    >>> round(margin_in_standard_errors(replace(r, accuracy=0.92), r), 3)
    2.828
    >>> margin_in_standard_errors(replace(r, accuracy_std=0.0), replace(r, accuracy_std=0.0))
    0.0
    """
    if a.accuracy_std is None or b.accuracy_std is None:
        return None
    se = math.sqrt(a.accuracy_std ** 2 / a.seeds + b.accuracy_std ** 2 / b.seeds)
    if se == 0:
        return 0.0 if a.accuracy == b.accuracy else math.copysign(math.inf, a.accuracy - b.accuracy)
    return (a.accuracy - b.accuracy) / se


def difference_in_standard_errors(a: Sequence[float], b: Sequence[float]) -> float | None:
    """How many standard errors the mean of the values ``a`` (one per seed) lies above that of ``b``
    (negative: below), for numbers other than a record's accuracy (channel uses, bits).

    The difference of the means over ``sqrt(var_a / n_a + var_b / n_b)`` (sample variances); None
    where neither has a spread to measure (one value each). Where every seed gives the same value on
    both sides, the difference is exact: infinite (0 if the means are equal).

    >>> from coinfer.stats import difference_in_standard_errors
    >>> round(difference_in_standard_errors([8, 8, 8], [9, 6, 7]), 2)
    0.76
    >>> difference_in_standard_errors([8], [7]) is None
    True
    """
    if len(a) < 2 and len(b) < 2:
        return None

    def mean_and_error(values):
        mean = sum(values) / len(values)
        return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values) if len(values) > 1 else 0.0)

    (mean_a, error_a), (mean_b, error_b) = mean_and_error(a), mean_and_error(b)
    se = math.sqrt(error_a + error_b)
    if se == 0:
        return 0.0 if mean_a == mean_b else math.copysign(math.inf, mean_a - mean_b)
    return (mean_a - mean_b) / se


def margin_over_threshold(record: Record, table: LookupTable) -> float | None:
    """How many standard errors ``record``'s validation accuracy lies above the table's threshold
    (negative: below): ``(mean - threshold) / (std / sqrt(seeds))``, on the accuracy every choice is
    made on (:func:`selection_accuracy`). None for one seed (no spread to measure).

    A point that meets the threshold by less than about two standard errors could fall below it with
    other seeds; the trade-off chapter states each front point's margin.

    >>> from dataclasses import replace
    >>> from coinfer.paths import table_path
    >>> from coinfer.results import load_table
    >>> from coinfer.stats import margin_over_threshold
    >>> table = load_table(table_path("original-float32", "quick"))
    >>> r = replace(table.records[0], accuracy_std=0.002, val_accuracy_std=0.002, seeds=4)
    >>> round(margin_over_threshold(r, table), 1)
    20.0
    """
    std = record.accuracy_std if table.provenance.validation is None else record.val_accuracy_std
    if std is None or record.seeds < 2:
        return None
    gap = selection_accuracy(record, table) - selection_threshold(table)
    se = std / math.sqrt(record.seeds)
    return gap / se if se > 0 else (0.0 if gap == 0 else math.copysign(math.inf, gap))   # as its siblings
