"""coinfer: device-edge co-inference, after Shao & Zhang, "Communication-Computation Trade-Off in
Resource-Constrained Edge Inference", IEEE Communications Magazine, 2020 (arXiv:2006.02166).

A weak device runs the first layers of a CIFAR ResNet18 and sends the intermediate feature over a
link to an edge server, which runs the rest. The package is built in layers; each imports only
from the layers above it in this list (``tests/test_layers.py`` checks it), and one concept has one
home::

    units, paths, splits  conventions, file names, the split points' names
    results, stats, data  tables of records (results, results_origin), the threshold; means over seeds;
                          datasets, validation split
    tensor_data           the GPU data path (a dataset as one device tensor)
    core/                 the paper's algorithms: no files, no plots, no presets
    config, train         one Preset per run (config, config_*); one training loop
    experiments/, serve/  one module per committed table; the running system over TCP
    views/                one function per figure, one explorer per chapter
    cli                   ``python -m coinfer <command>`` (cli, cli_args, cli_serving, cli_search); the
                          book calls views and experiments

Map (module: what it holds, and the part of the paper it implements)

Conventions
    :mod:`coinfer.units`: bits, bit/s, bytes, MACs, seconds; link-rate parsing (II-D, V-C).
    :mod:`coinfer.paths`: where data, checkpoints and tables live; the only place a file name is spelled.
    :mod:`coinfer.splits`: the split points' names and SplitPoint, the validated value (II-A).
Data and results
    :mod:`coinfer.results`: Record, LookupTable, Provenance, the accuracy threshold (II-D, V-A).
    :mod:`coinfer.results_origin`: what a provenance records: command line, commit, hardware, date.
    :mod:`coinfer.stats`: choices on the validation split; means over seeds, margins in standard errors.
    :mod:`coinfer.data`: CIFAR-10 and Fashion-MNIST loaders, checked offline; the validation split (V-A).
    :mod:`coinfer.tensor_data`: the GPU data path: a training set as one device tensor, augmented there; bf16.
The algorithms (``core/``)
    :mod:`coinfer.core.network`: the CIFAR ResNet18 and split() (II-A).
    :mod:`coinfer.core.features`: FeatureSource, a frozen device part's features computed once.
    :mod:`coinfer.core.costs`: MACs (thop, cross-checked), parameters, feature bits, data amplification (II-A, Fig. 1).
    :mod:`coinfer.core.pruning`: incremental l2 channel masks, schedule, activation pruning, compaction (III-C).
    :mod:`coinfer.core.taylor`: first-order Taylor importance of channels, 2-Step Pruning's ranking (V-B).
    :mod:`coinfer.core.kept_channels`: the masked fine-tune computed on the kept channels only (same training, fewer MACs).
    :mod:`coinfer.core.encoding`: dimension-reduction encoder/decoder, learned quantizers, code sizes (IV-B, Fig. 2).
    :mod:`coinfer.core.entropy`: range coder and canonical Huffman code with framed packets (IV-B).
    :mod:`coinfer.core.rate`: a learned prior and a differentiable rate, bits per image (rate-accuracy training).
    :mod:`coinfer.core.codecs`: one codec protocol, compress/decompress: float32, uint8, Huffman8, learned (IV-B, V-B).
    :mod:`coinfer.core.pipeline`: SplitNetwork, device part -> codec -> server part (Fig. 2).
    :mod:`coinfer.core.channel`: AWGN and BSC with their conventions and capacities (IV-B, V-D).
    :mod:`coinfer.core.jscc`: learned joint source-channel coding (IV-B, Fig. 5).
    :mod:`coinfer.core.baselines`: BottleNet++'s codec (V-B).
    :mod:`coinfer.core.latency`: the latency and memory models and the chooser (V-C, Fig. 4).
Settings and training
    :mod:`coinfer.config`: one Preset (quick, paper) holding every stage's settings.
    :mod:`coinfer.config_smoke`: the smoke run (``COINFER_SMOKE=1``), every stage scaled down.
    :mod:`coinfer.config_overrides`: any setting by its dotted name; ``--set``.
    :mod:`coinfer.train`: fit, evaluate, seeding, weights-only checkpoints.
Experiments (``experiments/``, one per committed table; ``python -m coinfer run --list``)
    :mod:`~coinfer.experiments.original`, :mod:`~coinfer.experiments.pruning` (III-C),
    :mod:`~coinfer.experiments.encoding` (IV-B), :mod:`~coinfer.experiments.rate` (the rate-accuracy
    curve), :mod:`~coinfer.experiments.jscc` (V-D, Fig. 5),
    :mod:`~coinfer.experiments.baselines` and :mod:`~coinfer.experiments.sweep` (V-B, Fig. 3) with
    :mod:`~coinfer.experiments.cell_files` (a cell's checked result file, and what names it),
    :mod:`~coinfer.experiments.cell_workers` (a sweep's cells in several processes),
    :mod:`~coinfer.experiments.plan` (what a sweep costs before it runs),
    :mod:`~coinfer.experiments.plan_tables` (what the other tables add to it),
    :mod:`~coinfer.experiments.plan_schedule` (the sweep's tasks dealt out to its workers),
    :mod:`~coinfer.experiments.device_report` (what a GPU's device check measured, as the plan and the
    book read it), :mod:`~coinfer.experiments.codec_pricing` (whether codec steps run at their price there),
    :mod:`~coinfer.experiments.search`, :mod:`~coinfer.experiments.search_checks` (its bounds,
    rejections, early stop), :mod:`~coinfer.experiments.search_study` (its trials' storage, workers
    and export) and :mod:`~coinfer.experiments.search_replay` (the search the paper leaves to future
    work), :mod:`~coinfer.experiments.candidates` and
    :mod:`~coinfer.experiments.calibration` (V-C), :mod:`~coinfer.experiments.codecs` and
    :mod:`~coinfer.experiments.serving` (the served codecs and measured latency);
    :mod:`~coinfer.experiments.catalog` describes every committed results file (the book's Results page).
The running system (``serve/``)
    :mod:`~coinfer.serve.wire` (frames), :mod:`~coinfer.serve.link` (rate shaping),
    :mod:`~coinfer.serve.configuration`, :mod:`~coinfer.serve.server`, :mod:`~coinfer.serve.device`,
    :mod:`~coinfer.serve.load` (hostile and concurrent clients).
Views (``views/``; ``python -m coinfer figure --list``)
    :mod:`~coinfer.views.style` (one palette, one style per method), :mod:`~coinfer.views.explorer` (the
    explorer runtime), :mod:`~coinfer.views.publish` (alt text and downloads under every figure),
    :mod:`~coinfer.views.plane`; one module per chapter: :mod:`~coinfer.views.amplification`
    (ch. 1), :mod:`~coinfer.views.pruning` (2), :mod:`~coinfer.views.encoding` and :mod:`~coinfer.views.rate` (3),
    :mod:`~coinfer.views.jscc` and :mod:`~coinfer.views.jscc_tables` (4), :mod:`~coinfer.views.tradeoff` and
    :mod:`~coinfer.views.tradeoff_tables` (5), :mod:`~coinfer.views.latency`
    and :mod:`~coinfer.views.chooser` (6), :mod:`~coinfer.views.serving` (7), :mod:`~coinfer.views.search` (8).
"""

__version__ = "0.1.0"
