"""Tests of the latency model, the memory model and the chooser (coinfer.core.latency)."""

from __future__ import annotations

import math

import pytest
import torch

from coinfer.core.costs import profile_splits
from coinfer.core.latency import (DEVICES, PAPER_MEMORY, PAPER_OVERHEAD_FACTOR, SERVERS, DeviceSpec, Environment,
                                  MemoryModel, NoFeasibleConfiguration, ServerSpec, calibrate_overhead_factor, choose,
                                  choose_per_method, footprint_bytes, latency, parse_device, parse_server,
                                  peak_activation_elements, scale_to_width, split_activations)
from coinfer.core.network import SPLIT_POINTS, resnet18, split
from coinfer.experiments.candidates import default_table_paths, load_candidates
from coinfer.experiments.original import original_records
from coinfer.paths import table_path
from coinfer.results import Record
from coinfer.units import parse_bytes, parse_flops, parse_rate


def rec(split="layer2.1", macs=1_000_000, bits=8_000.0, acc=0.9, params=1000, server=2_000_000,
        method="framework", act=100, **kw) -> Record:
    return Record(method=method, split=split, accuracy=acc, device_macs=macs, device_params=params,
                  server_macs=server, bits_per_image=bits, extra={"device_peak_activations": act}, **kw)


def env(rate="40KB/s", device_flops=1e9, memory=1e9, server_flops=1e12, factor=1.0) -> Environment:
    return Environment(DeviceSpec("d", device_flops, memory), ServerSpec("s", server_flops), parse_rate(rate),
                       MemoryModel(factor))


# ----- the latency model --------------------------------------------------------------------------

def test_latency_arithmetic_with_units():
    # 1e6 MACs = 2e6 FLOPs on a 1 GFLOP/s device: 2 ms. 8000 bits = 1000 bytes = 1 KB at 40 KB/s: 25 ms.
    # 2e6 server MACs = 4e6 FLOPs at 1 TFLOP/s: 4 us.
    t = latency(rec(), env("40KB/s"))
    assert t.device_s == pytest.approx(2e-3)
    assert t.communication_s == pytest.approx(1 / 40)
    assert t.server_s == pytest.approx(4e-6)
    assert t.total_s == pytest.approx(2e-3 + 0.025 + 4e-6)
    # the same link in bits: 320 kbit/s
    assert latency(rec(), env("320kbit/s")).communication_s == pytest.approx(t.communication_s)


def test_paper_hardware_presets(full_records):
    assert DEVICES["rpi3"].flops == 24e9 and DEVICES["rpi3"].memory_bytes == 1e9
    assert SERVERS["rtx2080ti"].flops == 13.45e12 and SERVERS["rtx2080ti"].memory_bytes == 11e9
    # The full-width ResNet18 on the Pi: 557.9M MACs = 1.116 GFLOPs -> about 46 ms.
    whole = full_records["output"]
    t = latency(whole, Environment(DEVICES["rpi3"], SERVERS["rtx2080ti"], parse_rate("40KB/s")))
    assert t.device_s == pytest.approx(0.0465, abs=5e-4)


@pytest.mark.parametrize("bad", [dict(flops=0), dict(flops=-1.0), dict(flops=float("nan")),
                                 dict(memory_bytes=float("inf")), dict(available_fraction=1.5),
                                 dict(available_fraction=0)])
def test_device_spec_rejects_bad_values(bad):
    args = dict(name="d", flops=1e9, memory_bytes=1e9) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        DeviceSpec(**args)


def test_server_spec_rejects_negative_flops():
    with pytest.raises(ValueError, match="flops"):
        ServerSpec("s", -1e12)


def test_parse_device_and_server():
    assert parse_device("rpi3") is DEVICES["rpi3"]
    d = parse_device("24GFLOP/s,1GB")
    assert (d.flops, d.memory_bytes, d.budget_bytes) == (24e9, 1e9, 1e9)
    assert d.name == "device 24GFLOP/s, 1GB"                  # the unit as given, once ("24GFLOP/s FLOP/s" before)
    assert parse_server("13.45TFLOP/s").name == "server 13.45TFLOP/s"
    assert parse_device("24e9,512MB,0.5").budget_bytes == pytest.approx(256e6)
    assert parse_server("rtx2080ti") is SERVERS["rtx2080ti"]
    assert parse_server("13.45TFLOP/s").flops == pytest.approx(13.45e12)
    assert parse_flops("2.5G") == 2.5e9 and parse_bytes("2e6") == 2e6
    for bad in ("24e9", "fast,1GB", "24e9,-1GB", "24e9,1GB,many", "24e9,1GB,2"):
        with pytest.raises(ValueError):
            parse_device(bad)
    with pytest.raises(ValueError, match="rtx2080ti"):
        parse_server("quick")


# ----- memory --------------------------------------------------------------------------------------

def test_peak_activations_of_simple_parts():
    # A lone conv: input 3x32x32 plus output 8x32x32.
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert peak_activation_elements(conv, (3, 32, 32)) == 3 * 1024 + 8 * 1024
    # An in-place ReLU shares its input's storage: counted once.
    assert peak_activation_elements(torch.nn.ReLU(inplace=True), (4, 8, 8)) == 256
    assert peak_activation_elements(torch.nn.ReLU(), (4, 8, 8)) == 512


def test_memory_model_monotone_in_split_point(tiny_net):
    records = original_records(tiny_net, 0.9)
    sizes = [footprint_bytes(r, PAPER_MEMORY) for r in records]
    assert [r.split for r in records] == list(SPLIT_POINTS)
    assert all(a <= b for a, b in zip(sizes, sizes[1:])), sizes
    assert sizes[0] < sizes[-1]


def test_overhead_factor_reproduces_the_papers_memory_statements(full_records):
    # (rel 1e-3: thop's parameter count, used by coinfer.core.costs, can miss a few parameters)
    assert calibrate_overhead_factor() == pytest.approx(PAPER_OVERHEAD_FACTOR, rel=1e-3)
    records = full_records
    # (rel 1e-3: thop's parameter count, used by coinfer.core.costs, can miss a few parameters)
    assert footprint_bytes(records["output"]) == pytest.approx(0.9e9, rel=1e-3)
    budget = DEVICES["rpi3"].budget_bytes
    assert budget == pytest.approx(0.4 * 0.9e9)
    fits = [p for p in SPLIT_POINTS if footprint_bytes(records[p]) <= budget]
    # "roughly 40% of the uncompressed model": the original fits up to s4 (after layer3), not beyond.
    assert fits == list(SPLIT_POINTS[:SPLIT_POINTS.index("layer3.1") + 1])


def test_scale_to_width_keeps_the_papers_proportions(full_records):
    device, server = scale_to_width(DEVICES["rpi3"], SERVERS["rtx2080ti"], 1 / 8)
    r_narrow = {r.split: r for r in original_records(resnet18(width=1 / 8), 0.9)}
    r_full = full_records
    # the whole narrow network takes as long on the scaled Pi as the whole paper network on the Pi
    assert 2 * r_narrow["output"].device_macs / device.flops == pytest.approx(
        2 * r_full["output"].device_macs / DEVICES["rpi3"].flops)
    assert footprint_bytes(r_narrow["output"]) / device.budget_bytes == pytest.approx(
        footprint_bytes(r_full["output"]) / DEVICES["rpi3"].budget_bytes)
    assert device.available_fraction == DEVICES["rpi3"].available_fraction


# ----- the chooser ---------------------------------------------------------------------------------

def test_chooser_picks_minimum_latency():
    records = [rec("stem", macs=100_000, bits=80_000.0), rec("layer2.1", macs=5_000_000, bits=800.0),
               rec("layer3.1", macs=50_000_000, bits=80.0)]
    # slow link: little to send wins; fast link: little to compute wins
    assert choose(records, env("100B/s")).record.split == "layer3.1"
    assert choose(records, env("10KB/s")).record.split == "layer2.1"
    assert choose(records, env("100MB/s")).record.split == "stem"
    for rate in ("100B/s", "10KB/s", "100MB/s"):
        chosen = choose(records, env(rate))
        assert chosen.latency.total_s == min(latency(r, env(rate)).total_s for r in records)
        assert chosen.feasible == chosen.candidates == 3


def test_chooser_respects_threshold_and_memory():
    fast_but_inaccurate = rec("layer3.1", macs=1000, bits=8.0, acc=0.80)
    fast_but_big = rec("layer4.0", macs=1000, bits=8.0, params=10_000_000)
    slow_ok = rec("stem", macs=1000, bits=80_000.0)
    records = [fast_but_inaccurate, fast_but_big, slow_ok]
    e = env("40KB/s", memory=1e6)        # 1 MB; fast_but_big needs 40 MB
    assert choose(records, e, threshold=None).record is fast_but_inaccurate
    assert choose(records, e, threshold=0.85).record is slow_ok
    assert choose(records, env(memory=1e9), threshold=0.85).record is fast_but_big
    # threshold is inclusive
    assert choose([rec(acc=0.85)], e, threshold=0.85).record.accuracy == 0.85


def test_no_fit_names_the_reason():
    records = [rec(acc=0.5), rec("layer4.0", params=10_000_000)]
    with pytest.raises(NoFeasibleConfiguration) as info:
        choose(records, env(memory=1e6), threshold=0.8)
    assert info.value.reason == "accuracy and memory"
    assert "1 below the accuracy threshold 0.8000" in str(info.value) and "over the memory budget 1 MB" in str(info.value)
    with pytest.raises(NoFeasibleConfiguration, match="accuracy") as info:
        choose([rec(acc=0.5)], env(), threshold=0.8)
    assert info.value.reason == "accuracy"
    with pytest.raises(NoFeasibleConfiguration) as info:
        choose([rec(params=10**9)], env(memory=1e6))
    assert info.value.reason == "memory"
    with pytest.raises(NoFeasibleConfiguration, match="no records of method 'png'"):
        choose(records, env(), method="png")


def test_choose_per_method_and_ties():
    a = rec("layer2.1", macs=1000, bits=800.0, method="original")
    b = rec("layer2.1", macs=1000, bits=800.0, method="framework", sparsity=0.5)
    c = rec("layer3.1", macs=1000, bits=800.0, method="framework")
    out = choose_per_method([a, b, c, rec(acc=0.1, method="bottlenet++")], env(), threshold=0.5)
    assert list(out) == ["original", "framework", "bottlenet++"]
    assert out["original"].record is a
    # b and c tie exactly; the earlier split point wins, whatever the order of the table
    assert out["framework"].record is b
    assert choose([c, b], env(), method="framework").record is b
    assert isinstance(out["bottlenet++"], NoFeasibleConfiguration)
    assert choose([a, b, c], env()).record is b     # overall: tie broken by method name


def test_chooser_rejects_bad_threshold_and_missing_activations():
    with pytest.raises(ValueError, match="threshold"):
        choose([rec()], env(), threshold=93)
    bare = Record(method="m", split="stem", accuracy=0.9, device_macs=1, device_params=1, server_macs=1,
                  bits_per_image=1.0)
    with pytest.raises(ValueError, match="split_activations"):
        choose([bare], env())
    assert choose([bare], env(), activations={"stem": 10}).footprint_bytes == 4 * 11


# ----- original records ----------------------------------------------------------------------------

def test_original_records_match_the_profile(tiny_net):
    records = {r.split: r for r in original_records(tiny_net, 0.875)}
    assert all(r.accuracy == 0.875 and r.method == "original" for r in records.values())
    c1 = tiny_net.config.stage_channels[0]
    assert records["stem"].bits_per_image == 32 * c1 * 32 * 32
    assert records["input"].device_macs == 0 and records["input"].bits_per_image == 32 * 3 * 32 * 32
    assert records["output"].bits_per_image == math.ceil(math.log2(10))
    whole = records["output"]
    assert whole.device_params == profile_splits(tiny_net)[-1].device_params
    for r in records.values():
        assert r.device_macs + r.server_macs == whole.device_macs
    # splitting is lossless, which is why the accuracy carries over
    x = torch.randn(2, 3, 32, 32)
    head, tail = split(tiny_net, "layer2.1")
    assert torch.allclose(tail(head(x)), tiny_net(x), atol=1e-5)
    assert records["layer2.1"].extra["device_peak_activations"] == split_activations(tiny_net)["layer2.1"]


@pytest.fixture(scope="module")
def full_records():
    """The paper's full-width network split at every point (profiled once: it takes seconds)."""
    torch.manual_seed(0)
    return {r.split: r for r in original_records(resnet18(width=1.0), 0.95)}


# ----- tables and the command line -----------------------------------------------------------------

def _save(tmp_path, name, records, preset="quick", **provenance):
    from coinfer.results import LookupTable, Provenance

    path = tmp_path / name
    LookupTable(Provenance(dataset="fashion-mnist", preset=preset, command="test", wall_time_s=0.0,
                           baseline_accuracy=0.9, accuracy_drop=2.0, **provenance), records).save(path)
    return path


def test_choices_are_made_on_validation_accuracy(tmp_path):
    # test accuracy above the threshold, validation accuracy below: not chosen (and the other way round)
    fast = rec("layer3.1", macs=1000, bits=8.0, acc=0.90, val_accuracy=0.87)
    slow = rec("stem", macs=1000, bits=80_000.0, acc=0.87, val_accuracy=0.90)
    assert choose([fast, slow], env("40KB/s"), threshold=0.89).record is slow
    with pytest.raises(NoFeasibleConfiguration, match="best accuracy 0.8700"):
        choose([fast], env(), threshold=0.89)
    validated = dict(validation={"images": 5000, "seed": 0}, baseline_val_accuracy=0.91)
    c = load_candidates([_save(tmp_path, "v.json", [fast, slow], **validated)])
    assert c.threshold() == pytest.approx(0.89)                 # the baseline's validation accuracy - 2 points
    assert choose(c.records, env("40KB/s"), c.threshold()).record == slow
    with pytest.raises(ValueError, match="some tables hold out a validation split and some do not"):
        load_candidates([_save(tmp_path, "a.json", [rec(method="original", acc=0.9)]),
                         _save(tmp_path, "b.json", [slow], **validated)])


def test_load_candidates_merges_one_presets_tables(tmp_path):
    a = _save(tmp_path, "a.json", [rec(method="original", acc=0.9)])
    b = _save(tmp_path, "b.json", [rec("stem", method="framework", acc=0.88)])
    c = load_candidates([a, b])
    assert c.methods == ["original", "framework"] and c.width == 0.125
    assert c.threshold() == pytest.approx(0.88)                 # 0.90 - the quick preset's 2 points
    assert c.activations["input"] == 3 * 32 * 32
    with pytest.raises(ValueError, match="different presets"):
        load_candidates([a, _save(tmp_path, "p.json", [rec()], preset="paper")])


def test_cli_latency_prints_choice_and_breakdown(tmp_path, capsys):
    import json

    from coinfer.cli import main

    table = _save(tmp_path, "t.json", [rec("stem", macs=100_000, bits=80_000.0, method="original"),
                                       rec("layer3.1", macs=50_000_000, bits=80.0, method="original")])
    args = ["latency", "--table", str(table), "--device", "1GFLOP/s,1GB", "--server", "1e12"]
    assert main(args + ["--rate", "100B/s"]) == 0
    out = capsys.readouterr().out
    assert "original         layer3.1" in out and "OVERALL BEST" in out and "1 KB/s = 1000 bytes/s" in out
    assert main(args + ["--rate", "100MB/s", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["split"] == "stem" and data["rate_bits_per_s"] == 8e8
    assert data["overall"]["total_s"] == pytest.approx(data["overall"]["device_s"] + data["overall"]["communication_s"]
                                                       + data["overall"]["server_s"])
    assert main(args + ["--rate", "100MB/s", "--threshold", "99%"]) == 0
    assert "none fits" in capsys.readouterr().out
    for bad in (["--rate", "40"], ["--rate", "40KB/s", "--threshold", "high"], ["--rate=-1KB/s"]):
        assert main(args + bad) == 2
        assert "error:" in capsys.readouterr().err


def test_default_tables_prefer_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m coinfer run sweep --preset quick"):
        load_candidates()
    results = tmp_path / "data" / "results"
    results.mkdir(parents=True)
    _save(results, table_path("original-float32", "quick").name, [rec(method="original", code_size="float32")])
    _save(results, "serve_measurements.json", [rec(method="original", acc=1.0, code_size="float32")])
    assert [r.accuracy for r in load_candidates().records] == [0.9]      # other JSON is not read
    _save(results, table_path("sweep", "quick").name, [rec(method="framework"), rec("stem", method="original")])
    assert default_table_paths("quick") == [table_path("sweep", "quick")] == [results / "sweep_quick.json"]
    assert load_candidates().methods == ["framework", "original"]
