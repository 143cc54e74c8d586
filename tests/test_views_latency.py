"""Chapter 6's views: Fig. 4's curves and figure, the choice summary and the ipywidgets explorer
(the kernel-free twin is checked in a browser: tests/test_latency_browser.py)."""

from __future__ import annotations

import pytest

from coinfer.core.latency import DeviceSpec, ServerSpec
from coinfer.core.latency import Candidates
from coinfer.experiments.original import original_records
from coinfer.results import Record
from coinfer.views.chooser import latency_explorer
from coinfer.views.latency import fig4_records, fig_latency_vs_rate, latency_curves, rate_grid, summarize_choices


def rec(split="layer2.1", macs=1_000_000, bits=8_000.0, acc=0.9, params=1000, server=2_000_000,
        method="framework", act=100, **kw) -> Record:
    return Record(method=method, split=split, accuracy=acc, device_macs=macs, device_params=params,
                  server_macs=server, bits_per_image=bits, extra={"device_peak_activations": act}, **kw)


def _mixed_records(tiny_net):
    recs = original_records(tiny_net, 0.9)
    recs += [rec("layer2.1", macs=100_000, bits=64.0, acc=0.89, params=500, sparsity=0.5, code_size="c8"),
             rec("layer3.1", macs=200_000, bits=8.0, acc=0.70, params=800, code_size="c1"),
             rec("layer2.1", bits=8.0, method="framework-jscc", channel="awgn:10")]
    return recs


def test_latency_curves_never_rise_with_the_rate(tiny_net):
    import numpy as np


    records = fig4_records(_mixed_records(tiny_net))
    assert {r.method for r in records} == {"original", "framework"}      # no noisy-channel records
    device = DeviceSpec("d", 1e8, 1e9)
    curves = latency_curves(records, device, ServerSpec("s", 1e11), threshold=0.85, rates=rate_grid(num=25))
    assert list(curves) == ["framework", "original"]
    for curve in curves.values():
        totals = curve.total_s
        assert not np.isnan(totals).any()
        assert np.all(np.diff(totals) <= 1e-15), curve.method          # more rate never costs time
    # the framework's 64-bit code wins at low rates; at 10 MB/s the image is sent
    assert curves["framework"].choices[0].record.code_size == "c8"
    assert curves["original"].choices[-1].record.split == "input"
    # the paper's three rates, recomputed exactly
    rows = summarize_choices(records, device, ServerSpec("s", 1e11), 0.85)
    assert [r["rate"] for r in rows] == ["10 KB/s"] * 2 + ["40 KB/s"] * 2 + ["1 MB/s"] * 2
    assert all(r["total_ms"] == pytest.approx(r["device_ms"] + r["link_ms"] + r["server_ms"]) for r in rows)
    assert all(r["accuracy_std"] is None for r in rows)     # one run each: no spread (the table showed means alone)
    from dataclasses import replace

    seeded = [replace(r, accuracy_std=0.012, seeds=3) for r in records]
    assert {r["accuracy_std"] for r in summarize_choices(seeded, device, ServerSpec("s", 1e11), 0.85)} == {0.012}


def test_fig_latency_vs_rate_draws_every_method(tiny_net):
    import matplotlib

    matplotlib.use("Agg")
    tables = Candidates(_mixed_records(tiny_net)[:-1], activations={}, width=1 / 16, preset="quick",
                        accuracy_drop=2.0, sources=["test data"])
    fig = fig_latency_vs_rate(tables, device=DeviceSpec("d", 1e8, 1e4), server=ServerSpec("s", 1e11),
                              threshold=0.85, rates=["1KB/s", "1MB/s"])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # 10 kB of memory: the framework's parts do not fit; the legend says why
    assert any("nothing fits (memory)" in label for label in labels), labels
    assert ax.get_xscale() == "log" and "KB/s" in ax.get_xlabel()


def test_ipywidgets_explorer_follows_its_sliders(tiny_net):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    records = _mixed_records(tiny_net)[:-1]
    box = latency_explorer(records, DeviceSpec("d", 1e8, 1e9), ServerSpec("s", 1e11), threshold=0.85)
    sliders = {s.description: s for s in box.children if hasattr(s, "options")}
    text = next(c for c in box.children if type(c).__name__ == "HTML")
    rate = sliders["link rate (KB/s)"]
    rate.value = rate.options[0][1]
    slow = text.value
    rate.value = rate.options[-1][1]
    assert text.value != slow and "original @ input" in text.value




def test_fig_latency_vs_rate_takes_one_committed_table():
    import matplotlib

    matplotlib.use("Agg")
    from coinfer.experiments.candidates import load_candidates
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    from_table = fig_latency_vs_rate(load_table(results_dir() / "sweep_quick.json"), caption=False)
    from_candidates = fig_latency_vs_rate(load_candidates(preset="quick"), caption=False)
    assert from_table.axes[0].get_title() == from_candidates.axes[0].get_title()
    lines = [[tuple(l.get_ydata()) for l in f.axes[0].get_lines()] for f in (from_table, from_candidates)]
    assert lines[0] == lines[1]


def on_threshold_records(tiny_net, threshold: float) -> list[Record]:
    """_mixed_records and the fastest record of all, whose validation accuracy is exactly ``threshold``."""
    return _mixed_records(tiny_net)[:-1] + [rec("layer3.1", macs=50_000, bits=4.0, acc=0.88, val_accuracy=threshold,
                                                code_size="on-threshold")]


def test_the_explorer_starts_at_the_chapters_threshold_exactly(tiny_net):
    from coinfer.core.latency import choose
    from coinfer.views.chooser import latency_output, latency_twin, slider_environment

    threshold = 0.8906            # 100 * 0.8906 / 100 == 0.8906000000000001: a percent slider missed it
    records = on_threshold_records(tiny_net, threshold)
    device, server = DeviceSpec("d", 1e8, 1e9), ServerSpec("s", 1e11)
    sliders = {s.name: s for s in latency_twin(records, device, server, threshold).sliders}
    state = {name: s.values[s.index] for name, s in sliders.items()}
    env, at = slider_environment(state)
    assert at == threshold and sliders["accuracy"].shown[sliders["accuracy"].index] == "89.06"
    best = choose(records, env, threshold)                       # what the chapter's figures choose
    assert best.record.code_size == "on-threshold"
    assert latency_output(records, state)["text"]["choice"].startswith(
        "framework @ layer3.1, code on-threshold (validation 89.06%")
    # the slider's other values: a quarter point apart, shown in percent, none shown twice
    shown = sliders["accuracy"].shown
    assert len(set(shown)) == len(shown) and shown[-1] == "90.00"
