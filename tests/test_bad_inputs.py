"""Every bad input tried, and the message it must get (issue 16, item 3).

One table: a command line run in-process through ``coinfer.cli.main`` (or a library call) and a
fragment of the message, which names the value and what is allowed. Every option of every command
is checked where it enters (``coinfer/cli_args.py``, before anything loads), so the table runs in
seconds. ``len(BAD_INPUTS)`` is the figure reported for the issue.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from coinfer.cli import main

PRESETS = "unknown preset 'fast'; available: quick, paper"
INT1 = "is not allowed: give an integer >= 1"
RATE = "is not allowed: give a rate > 0 with a unit: B/s, KB/s"
WIDTH = "give a width multiplier in (1/128, 4]"
SPARSITY = "is not allowed: give a sparsity in [0, 1)"
SPLIT = "unknown split point 'layer9'"
CHANNEL = "use 'noiseless', 'awgn:<SNR dB>'"
DEVICE = ["device", "--config", "s3:uint8"]
CODEC = ["train-codec", "--split", "s4", "--code-size", "d16-l4"]


def _preset(**overrides):
    from coinfer.config import get_preset

    return get_preset("quick", **overrides)


def _preset_named(name):
    from coinfer.config import get_preset

    return get_preset(name)


def _record(**fields):
    from coinfer.results import Record

    return Record(**{**dict(method="original", split="layer2.1", accuracy=0.9, device_macs=1, device_params=1,
                            server_macs=1, bits_per_image=8.0), **fields})


def _server(**options):
    from coinfer.serve.server import check_server_options

    return check_server_options(**options)


def _test_images(**arguments):
    from coinfer.serve.configuration import load_test_images

    return load_test_images("fashion-mnist", **arguments)


def _rate(text):
    from coinfer.units import parse_rate

    return parse_rate(text)


#: (command line or (function, keyword arguments), message fragment). ``{bad_table}`` is a lookup
#: table file whose record has channel "bsc:0.7".
BAD_INPUTS = [
    # epochs, images, threads, limits: integers >= 1
    (["train", "--epochs", "0"], f"argument --epochs: '0' {INT1}"),
    (["train", "--epochs", "-3"], f"argument --epochs: '-3' {INT1}"),
    (["train", "--epochs", "three"], f"'three' {INT1}"),
    (["train", "--set", "baseline.epochs=0"], "baseline.epochs must be an integer >= 1, got 0"),
    # the checkpoint is found by the preset's name: another width got the old network under the new name
    (["train", "--set", "width=0.0625"], "baseline.pt was trained with width 0.125, the preset asks for width 0.0625"),
    (["train", "--epochs", "1"], "was trained with epochs 3, the preset asks for epochs 1"),
    # one-cycle SGD cycles its momentum itself: a momentum setting was taken and had no effect
    (["train", "--set", "baseline.momentum=0.5"], "unknown preset field(s) ['baseline.momentum']"),
    (["jscc", "--set", "jscc.epochs=0"], "jscc epochs must be an integer >= 1, got 0"),
    (["prune", "--epochs", "0"], f"'0' {INT1}"),
    (CODEC + ["--epochs", "0"], f"'0' {INT1}"),
    (["prune", "--train-limit", "0"], f"argument --train-limit: '0' {INT1}"),
    (["encode", "--train-limit", "-5"], f"'-5' {INT1}"),
    (CODEC + ["--train-limit", "0"], f"'0' {INT1}"),
    (["encode", "--threads", "0"], f"argument --threads: '0' {INT1}"),
    (["sweep", "--threads", "-1"], f"'-1' {INT1}"),
    (["jscc", "--threads", "two"], f"'two' {INT1}"),
    (["profile", "--images", "0"], f"argument --images: '0' {INT1}"),
    # presets: one message, listing the valid names, in every command
    (["train", "--preset", "fast"], PRESETS),
    (["prune", "--preset", "fast"], PRESETS),
    (["sweep", "--preset", "fast"], PRESETS),
    (["latency", "--rate", "40KB/s", "--preset", "fast"], PRESETS),
    (["encode", "--preset", "fast"], PRESETS),
    (["jscc", "--preset", "fast"], PRESETS),
    (["original-table", "--preset", "fast"], PRESETS),
    (CODEC + ["--preset", "fast"], PRESETS),
    (["serve", "--preset", "fast"], PRESETS),
    (DEVICE + ["--preset", "fast"], PRESETS),
    (["measure", "--preset", "fast"], PRESETS),
    (["figure", "tradeoff", "--preset", "fast"], PRESETS),
    (["search", "--preset", "fast"], PRESETS),
    (["search", "--trials", "0"], f"argument --trials: '0' {INT1}"),
    (["search", "--workers", "0"], f"argument --workers: '0' {INT1}"),
    # taken and ignored before: a replay has no memory budget, workers wrote no summary
    (["search", "--replay", "--device-memory", "1KB"], "--device-memory 1KB: a replay searches the table's points"),
    (["search", "--trials", "4", "--workers", "2", "--summary", "{tmp}/s.json"], "--summary describes one process's"),
    (["search", "--oracle", "t.json", "--delay", "-1"], "argument --delay: '-1' is not allowed: give a finite number >= 0"),
    (["run", "pruning", "--preset", "fast"], PRESETS),
    (["run", "pruning", "--seeds", "-1"], "argument --seeds: '-1' is not allowed: give an integer >= 0"),
    # it printed the list of tables on stdout and exited 2 without a word of what was wrong
    (["run"], "name the table to regenerate: one of original-float32, pruning"),
    # taken and ignored: a table that does not train is measured once
    (["run", "original-float32", "--seeds", "7", "--out", "{tmp}/t.json"],
     "the original-float32 table does not train (it is measured once): seeds [7] (run --seeds) would be ignored"),
    # reached optuna's own error ("Seed must be between 0 and 2**32 - 1") after the journal was made
    (["search", "--seed", "-1", "--trials", "1"], "argument --seed: '-1' is not allowed: give an integer >= 0"),
    # the rate table refused a repeated weight; the encoding and sweep grids got each rate code twice
    (["run", "encoding", "--rate-weights", "0.1", "0.1"], "rate weights must be distinct, got [0.1, 0.1]"),
    (["plan", "--preset", "fast"], PRESETS),
    # refused where it is set, not after the baseline has loaded in 'run jscc' (make_codec refuses it there too)
    (["plan", "--set", "jscc.split=pool", "--set", "jscc.reduced_channels=8"],
     "jscc.reduced_channels is for a (C, H, W) feature; the one after pool has no channels to reduce, got 8"),
    (["plan", "--seeds", "0"], f"argument --seeds: '0' {INT1}"),
    (["plan", "--gpu-rate", "fast"], "argument --gpu-rate: 'fast' is not allowed: give a finite number > 0"),
    (["plan", "--set", "sweep.sparsities=(1.5,)"], "sparsity"),
    (["plan", "--workers", "0"], f"argument --workers: '0' {INT1}"),
    (["plan", "--workers", "2"], "--workers 2 needs --gpu-report"),
    (["plan", "--gpu-report", "no-such-report.json"], "No such file or directory: 'no-such-report.json'"),
    (["run", "pruning", "--threads", "0"], f"argument --threads: '0' {INT1}"),
    (["search", "--grid", "huge"], "unknown sweep grid 'huge'; available: quick, paper, tiny"),
    ((_preset_named, {"name": "fast"}), PRESETS),
    (["figure", "nope"], "unknown figure 'nope'; registered: amplification,"),
    (["sweep", "--grid", "huge"], "unknown sweep grid 'huge'; available: quick, paper, tiny"),
    # widths and other preset fields
    (["profile", "--width", "0"], f"argument --width: '0' is not allowed: {WIDTH}"),
    (["profile", "--width", "-1"], WIDTH),
    (["profile", "--width", "100"], WIDTH),
    (["profile", "--width", "0.0078125"], WIDTH),      # 1/128: the stem's 64 * width rounds to no channel
    (["train", "--set", "width=0.005"], f"width 0.005 is out of range: {WIDTH}"),
    (["profile", "--width", "nan"], WIDTH),
    (["train", "--set", "width=0"], f"width 0 is out of range: {WIDTH}"),
    ((_preset, {"width": 0}), f"width 0 is out of range: {WIDTH}"),
    ((_preset, {"width": -0.5}), "width -0.5 is out of range"),
    ((_preset, {"width": 64}), "width 64 is out of range"),
    ((_preset, {"seed": -1}), "seed -1 must be an integer >= 0"),
    ((_preset, {"accuracy_drop": 150}), "accuracy_drop 150 must be in [0, 100)"),
    ((_preset, {"eval_batch_size": 0}), "eval_batch_size 0 must be an integer >= 1"),
    ((_preset, {"dataset": "imagenet"}), "unknown dataset 'imagenet'; available datasets are cifar10, fashion-mnist"),
    # server options: port, payload and connection caps, timeouts (the server's own checks, same words)
    (["serve", "--port", "70000"], "argument --port: port 70000 is out of range: use 0 (a free port) to 65535"),
    (["serve", "--port", "-1"], "port -1 is out of range: use 0 (a free port) to 65535"),
    (["serve", "--port", "http"], "'http' is not allowed: give an integer (port)"),
    (["serve", "--max-payload", "0"], "argument --max-payload: max_payload must be an integer >= 1, got 0"),
    (["serve", "--max-payload", "-1"], "max_payload must be an integer >= 1, got -1"),
    (["serve", "--max-payload", "4MB"], "'4MB' is not allowed: give an integer (max payload)"),
    (["serve", "--max-connections", "0"], "argument --max-connections: max_connections must be an integer >= 1"),
    (["serve", "--max-requests", "0"], "max_requests must be an integer >= 1 or None, got 0"),
    (["serve", "--idle-timeout", "-1"], "argument --idle-timeout: idle_timeout must be a finite number of "
                                        "seconds > 0, got -1.0"),
    (["serve", "--idle-timeout", "0"], "idle_timeout must be a finite number of seconds > 0, got 0.0"),
    (["serve", "--idle-timeout", "inf"], "idle_timeout must be a finite number of seconds > 0, got inf"),
    (["serve", "--idle-timeout", "nan"], "idle_timeout must be a finite number of seconds > 0, got nan"),
    (["serve", "--idle-timeout", "soon"], "'soon' is not allowed: give a number (idle timeout)"),
    (["serve", "--handshake-timeout", "0"], "handshake_timeout must be a finite number of seconds > 0, got 0.0"),
    (["serve", "--frame-timeout", "-5"], "frame_timeout must be a finite number of seconds > 0, got -5.0"),
    (["serve", "--threads", "0"], f"'0' {INT1}"),
    ((_server, {"port": 70000}), "port 70000 is out of range: use 0 (a free port) to 65535"),
    ((_server, {"idle_timeout": -1}), "idle_timeout must be a finite number of seconds > 0, got -1"),
    ((_server, {"max_payload": 0}), "max_payload must be an integer >= 1, got 0"),
    ((_server, {"max_connections": True}), "max_connections must be an integer >= 1, got True"),   # was 1
    ((_server, {"workers": 0}), "workers must be an integer >= 1 or None, got 0"),   # became the default; -1 hung start()
    ((_test_images, {"n": 5, "offset": 9998}), "images 9998 .. 10002 run past the end of fashion-mnist's test "
                                               "split (10000 images): use offset + n <= 10000"),   # gave 2
    # device options
    (DEVICE + ["--port", "0"], "argument --port: port 0 is out of range: a server listens on a port from 1 to 65535"),
    (DEVICE + ["--port", "65536"], "port 65536 is out of range: a server listens on a port from 1 to 65535"),
    (DEVICE + ["--timeout", "0"], "argument --timeout: timeout must be a finite number of seconds > 0, got 0.0"),
    (DEVICE + ["--burst", "-1"], "argument --burst: burst must be a finite number of bytes >= 0, got -1.0"),
    (DEVICE + ["--images", "0"], "argument --images: images must be an integer >= 1, got 0"),
    (DEVICE + ["--offset", "-1"], "argument --offset: offset must be an integer >= 0, got -1"),
    (DEVICE + ["--show", "-2"], "'-2' is not allowed: give an integer >= 0"),
    (DEVICE + ["--rate", "-5KB/s"], f"argument --rate: link rate '-5KB/s' {RATE}"),
    (DEVICE + ["--rate", "40"], f"link rate '40' {RATE}"),
    (DEVICE + ["--rate", "fast"], "or inf (no shaping)"),
    (DEVICE + ["--rate", "unlimited"], "or inf (no shaping)"),   # passed the parser, then failed in the command
    # measure options
    (["measure", "--rates", "10KB/s,-1KB/s"], "'-1KB/s' in '10KB/s,-1KB/s' is not allowed"),
    (["measure", "--rates", "-1KB/s"], "'-1KB/s' in '-1KB/s' is not allowed"),
    (["measure", "--rates", "10KB/s,,40KB/s"], "'' in '10KB/s,,40KB/s' is not allowed"),
    (["measure", "--images", "0"], f"argument --images: '0' {INT1}"),
    (["measure", "--clients", "0"], f"argument --clients: '0' {INT1}"),
    (["measure", "--probe-images", "0"], f"argument --probe-images: '0' {INT1}"),
    (["measure", "--flops", "0"], "argument --flops: '0' is not allowed: give a finite number > 0"),
    (["measure", "--burst", "-0.5"], "'-0.5' is not allowed: give a finite number >= 0"),
    (["measure", "--connect", "localhost"], "'localhost' is not allowed: give HOST:PORT"),
    (["measure", "--connect", "localhost:70000"], "'localhost:70000' is not allowed: give HOST:PORT"),
    # rates: negative, zero, unit-less, unknown unit, infinite (spaced ones are accepted: see below)
    (["latency", "--rate", "-5KB/s"], f"argument --rate: link rate '-5KB/s' {RATE}"),
    (["latency", "--rate=-5KB/s"], f"link rate '-5KB/s' {RATE}"),
    (["latency", "--rate", "-5 KB/s"], f"link rate '-5 KB/s' {RATE}"),
    (["latency", "--rate", "0KB/s"], f"link rate '0KB/s' {RATE}"),
    (["latency", "--rate", "40"], f"link rate '40' {RATE}"),
    (["latency", "--rate", "40 KB"], f"link rate '40 KB' {RATE}"),
    (["latency", "--rate", "40 XB/s"], f"link rate '40 XB/s' {RATE}"),
    (["latency", "--rate", "inf KB/s"], f"link rate 'inf KB/s' {RATE}"),
    (["latency", "--rate", "1e999KB/s"], f"link rate '1e999KB/s' {RATE}"),
    ((_rate, {"text": "-5KB/s"}), "link rate '-5KB/s' must be finite and > 0"),
    # thresholds
    (["latency", "--rate", "40KB/s", "--threshold", "high"], "argument --threshold: 'high' is not allowed: give "
                                                             "an accuracy threshold as a fraction in [0, 1]"),
    (["latency", "--rate", "40KB/s", "--threshold", "120%"], "'120%' is not allowed"),
    (["latency", "--rate", "40KB/s", "--threshold", "1.5"], "'1.5' is not allowed"),
    (["latency", "--rate", "40KB/s", "--threshold", "-0.1"], "'-0.1' is not allowed"),
    # channels: in options and in results files
    (["latency", "--rate", "40KB/s", "--channel", "bsc:0.7"],
     "channel 'bsc:0.7': a flip probability must be in [0, 0.5]; or 'any'"),
    (["latency", "--rate", "40KB/s", "--channel", "awgn:inf"], "channel 'awgn:inf': an SNR must be a finite number"),
    (["latency", "--rate", "40KB/s", "--channel", "rayleigh:3"], f"unknown channel 'rayleigh:3': {CHANNEL}"),
    (["latency", "--rate", "40KB/s", "--table", "{bad_table}"],
     "record 0: channel 'bsc:0.7': a flip probability must be in [0, 0.5]"),
    ((_record, {"channel": "bsc:0.7"}), "channel 'bsc:0.7': a flip probability must be in [0, 0.5]"),
    ((_record, {"channel": "bsc:-0.1"}), "channel 'bsc:-0.1': a flip probability must be in [0, 0.5]"),
    ((_record, {"channel": "awgn:nan"}), "channel 'awgn:nan': an SNR must be a finite number of dB"),
    ((_record, {"channel": "awgn:-inf"}), "channel 'awgn:-inf': an SNR must be a finite number of dB"),
    ((_record, {"channel": "awgn:ten"}), "channel 'awgn:ten': 'ten' is not a number"),
    ((_record, {"channel": "awgn:"}), f"unknown channel 'awgn:': {CHANNEL}"),
    ((_record, {"channel": "wifi"}), f"unknown channel 'wifi': {CHANNEL}"),
    ((_record, {"channel": ""}), f"unknown channel '': {CHANNEL}"),
    # other results fields
    ((_record, {"accuracy": 91.0}), "accuracy 91.0 must be a fraction in [0, 1]"),
    ((_record, {"sparsity": 1.0}), "sparsity 1.0 must be in [0, 1)"),
    ((_record, {"bits_per_image": -1.0}), "bits_per_image -1.0 must be finite and >= 0"),
    ((_record, {"split": "layer9"}), "split 'layer9' is not a split point"),
    # split points and sparsities
    (["jscc", "--split", "layer9"], f"argument --split: {SPLIT}"),
    (["train-codec", "--split", "layer9", "--code-size", "d16-l4"], SPLIT),
    (["encode", "--splits", "layer2.1", "layer9"], f"argument --splits: {SPLIT}"),
    (["prune", "--splits", "layer9"], SPLIT),
    (["prune", "--sparsities", "1.0"], f"argument --sparsities: '1.0' {SPARSITY}"),
    (["prune", "--sparsities", "0.5", "-0.1"], f"'-0.1' {SPARSITY}"),
    (["prune", "--output-sparsity", "1"], f"argument --output-sparsity: '1' {SPARSITY}"),
    # the sweep's scheduling options
    (["sweep", "--shard", "3/3"], "argument --shard: '3/3' is not allowed: give I/N with 0 <= I < N"),
    (["sweep", "--shard", "half"], "'half' is not allowed: give I/N"),
    (["sweep", "--grid", "tiny", "--cells-dir", "{tmp}", "--cache", "{tmp}", "--cell", "nope"],
     "unknown cell id(s) ['nope']; list them with --list-cells"),
    (["sweep", "--set", "sweep.sparsities=(1.0,)"], "sparsit"),
    (["sweep", "--set", "sweep.code_sizes=('d16-l4', 'd16-l4')", "--list-cells"],
     "sweep.code_sizes lists one value twice: 'd16-l4' and 'd16-l4'"),
    (["sweep", "--set", "sweep.bottlenet_reductions=(4, 4)", "--list-cells"],
     "the sweep grid lists a configuration twice (bottlenet++_"),   # it did not say which
]


@pytest.fixture
def bad_table(tmp_path):
    """A valid lookup table file whose one record's channel is then changed to "bsc:0.7"."""
    from coinfer.results import LookupTable, Provenance

    path = tmp_path / "bad_channel.json"
    LookupTable(Provenance(dataset="fashion-mnist", preset="quick", command="test", wall_time_s=0.0),
                [_record(channel="bsc:0.1")]).save(path)
    data = json.loads(path.read_text())
    data["records"][0]["channel"] = "bsc:0.7"
    path.write_text(json.dumps(data))
    return path


def _id(row) -> str:
    what = row[0]
    return " ".join(what) if isinstance(what, list) else f"{what[0].__name__}{what[1]}"


@pytest.mark.parametrize("what, fragment", BAD_INPUTS, ids=[_id(row) for row in BAD_INPUTS])
def test_bad_input_is_refused_with_a_message_naming_it(what, fragment, bad_table, tmp_path, capsys):
    if isinstance(what, list):
        argv = [a.format(bad_table=bad_table, tmp=tmp_path) for a in what]
        assert main(argv) == 2
        captured = capsys.readouterr()
        message = " ".join((captured.err + captured.out).split())   # argparse wraps long lines
        assert "Traceback" not in message
        assert "error:" in message and fragment in message, message
    else:
        function, kwargs = what
        with pytest.raises(ValueError) as error:
            function(**kwargs)
        assert fragment in str(error.value)


@pytest.mark.parametrize("argv", [["search"], ["search", "--trials", "4", "--workers", "2", "--summary", "s.json"],
                                  ["search", "--trials", "1", "--workers", "2"],
                                  ["search", "--trials", "1", "--seed", "-1"],
                                  ["search", "--trials", "2", "--workers", "2", "--seed", str(2 ** 32 - 1)]])
def test_a_refused_search_leaves_no_journal(argv, tmp_path, monkeypatch):
    # The study (and so the default journal, data/search/<preset>.journal) was opened before these checks:
    # every refused search made the file, and the test suite grew the checkout's own.
    from coinfer.paths import search_journal_path

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    assert main(argv) == 2
    assert not search_journal_path("quick").exists() and search_journal_path("quick").is_relative_to(tmp_path)


def test_the_table_covers_every_command():
    from coinfer.cli import build_parser

    commands = {row[0][0] for row in BAD_INPUTS if isinstance(row[0], list)}
    parser = build_parser()
    every = set(next(a for a in parser._actions if a.dest == "command").choices)
    assert every - commands == set()


@pytest.mark.parametrize("rate", ["5 KB/s", "5KB/s", "40 kbit/s", "1.5 Mbit/s", "40KBps"])
def test_spaced_and_unspaced_rates_are_both_accepted(rate):
    from coinfer.cli import build_parser
    from coinfer.cli_args import attach_negative_values

    parser = build_parser()
    assert parser.parse_args(attach_negative_values(parser, ["latency", "--rate", rate])).rate == rate
    assert parser.parse_args(["device", "--config", "s3:uint8", "--rate", rate]).rate == rate


def test_train_epochs_reach_the_preset(monkeypatch, capsys):
    """``train --epochs 1`` trains 1 epoch (an explicit value is never replaced by the preset's)."""
    import torch

    import coinfer.train

    seen = {}

    def fake_get_baseline(preset, **kwargs):
        seen["epochs"] = preset.baseline.epochs
        return torch.nn.Linear(1, 1), {"test_accuracy": 0.5, "wall_time_s": 0}

    monkeypatch.setattr(coinfer.train, "get_baseline", fake_get_baseline)
    assert main(["train", "--epochs", "1"]) == 0
    assert seen["epochs"] == 1
    assert re.search(r"test accuracy 0\.5000", capsys.readouterr().out)


def test_encode_never_writes_over_the_committed_encoding_table(monkeypatch, tmp_path):
    """``encode`` (one seed, any settings) wrote data/results/encoding_quick.json,
    the committed three-seed table that ``run encoding`` makes from the sweep's cells."""
    import coinfer.experiments.encoding as encoding
    import coinfer.paths
    from coinfer.results import LookupTable, Provenance

    saved = []
    monkeypatch.setattr(encoding, "run", lambda *a, **k: LookupTable(Provenance("fashion-mnist", "quick", "x", 0.0)))
    monkeypatch.setattr(LookupTable, "save", lambda self, path: saved.append(Path(path)) or Path(path))
    assert main(["encode", "--splits", "layer2.1"]) == 0
    assert saved == [coinfer.paths.step_table_path("encode", "quick")] != [coinfer.paths.table_path("encoding", "quick")]
    assert saved[0].parent != coinfer.paths.results_dir()   # not among the committed tables either


def test_sweep_never_writes_one_seed_over_every_seeds_table(monkeypatch, capsys):
    """``sweep --preset quick`` (seed 0 alone) wrote over data/results/sweep_quick.json, the committed table of
    seeds 0, 1 and 2 that ``run sweep`` made; its table goes beside it (git-ignored), and --table still rules."""
    import coinfer.experiments.sweep as sweep
    from coinfer.paths import WORK_DIRS, results_dir, step_table_path, table_path
    from coinfer.results import load_table

    written = []
    monkeypatch.setattr(sweep, "run", lambda preset, table=None, **k: written.append(Path(table)))
    monkeypatch.setattr(sweep, "gather", lambda preset, cells, table, **k: written.append(Path(table)) or
                        type("T", (), {"records": []})())
    assert load_table(table_path("sweep", "quick")).provenance.seeds == [0, 1, 2]
    for argv in (["sweep"], ["sweep", "--gather"], ["sweep", "--cell", "x"], ["sweep", "--shard", "0/2"]):
        assert main(argv) == 0, argv
        assert "holds seeds [0, 1, 2]" in capsys.readouterr().out
    assert set(written) == {step_table_path("sweep", "quick")} != {table_path("sweep", "quick")}
    assert written[0].relative_to(results_dir()).parts[0] in WORK_DIRS
    main(["sweep", "--table", "mine.json"])
    assert written[-1] == Path("mine.json")


@pytest.mark.parametrize("command, module, table", [("prune", "pruning", "pruning"), ("jscc", "jscc", "jscc")])
def test_prune_and_jscc_never_write_over_the_committed_tables(monkeypatch, command, module, table):
    """As encode: ``prune`` and ``jscc`` (one seed) wrote data/results/pruning_quick.json and jscc_quick.json,
    the committed three-seed tables of ``run pruning`` and ``run jscc``; and such a table is no committed one."""
    import importlib

    import coinfer.paths
    from coinfer.results import LookupTable, Provenance

    saved = []
    monkeypatch.setattr(importlib.import_module(f"coinfer.experiments.{module}"), "run",
                        lambda *a, **k: LookupTable(Provenance("fashion-mnist", "quick", "x", 0.0)))
    monkeypatch.setattr(LookupTable, "save", lambda self, path: saved.append(Path(path)) or Path(path))
    main([command])
    assert saved == [coinfer.paths.step_table_path(command, "quick")] != [coinfer.paths.table_path(table, "quick")]
    assert saved[0].relative_to(coinfer.paths.results_dir()).parts[0] in coinfer.paths.WORK_DIRS


#: Every command that loads a dataset, with the arguments it needs to parse.
LOADS_DATA = {"profile": [], "train": [], "serve": [], "device": ["--config", "s3:uint8"], "measure": [],
              "train-codec": ["--split", "s4", "--code-size", "d16-l4"], "encode": [], "jscc": [], "original-table": [],
              "prune": [], "sweep": [], "search": [], "run": ["pruning"]}


@pytest.mark.parametrize("command", sorted(LOADS_DATA))
def test_every_command_that_loads_data_takes_trust_local_data(command):
    """data.py's error tells the user to pass --trust-local-data; 'run' (it loads every table's data) refused it."""
    from coinfer.cli import build_parser

    assert build_parser().parse_args([command, *LOADS_DATA[command], "--trust-local-data"]).trust_local_data is True


def test_run_turns_trust_local_data_on(monkeypatch, capsys):
    from coinfer import data

    monkeypatch.delenv("COINFER_TRUST_LOCAL_DATA", raising=False)
    assert main(["run", "--list", "--trust-local-data"]) == 0 and data.trust_local_data()


def test_measure_writes_its_raw_measurement_only_when_asked(monkeypatch, tmp_path, capsys):
    """measure wrote benchmarks/out/serve_measure_<preset>.json under the project root every time (for an
    installed package: the current folder), which its --help did not say; now --raw asks for it."""
    from types import SimpleNamespace

    from coinfer.experiments import serving

    result = SimpleNamespace(table=lambda: "rows", rows=[], request_s=0.0, load_average=(0.1, 0.2), flops_per_s=1.0,
                             calibration={}, server_stats={})
    monkeypatch.setattr(serving, "run_measurement", lambda *a, **k: SimpleNamespace(result=result, concurrency=None))
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    default = tmp_path / "benchmarks" / "out" / "serve_measure_quick.json"
    assert main(["measure"]) == 0
    assert not default.exists() and not list(tmp_path.rglob("*.json")) and "wrote" not in capsys.readouterr().out
    assert main(["measure", "--raw"]) == 0
    assert json.loads(default.read_text())["load_average_1min"] == [0.1, 0.2]
    assert main(["measure", "--raw", str(tmp_path / "m.json")]) == 0 and (tmp_path / "m.json").exists()
