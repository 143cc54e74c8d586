"""Chapter 3's views of the encoding table: summaries, the floor gap, figures and the explorer."""

from __future__ import annotations

import math

import pytest


def _table():
    from coinfer.results import LookupTable, Provenance, Record

    records = []
    for split, acc in (("layer2.1", 0.85), ("pool", 0.89)):
        for size, bits, entropy, kind in (("d16-k16", 7.5, 3.6, "vector"), ("d16-l4", 33.0, 31.0, "scalar")):
            code = f"c4-{size}" if split != "pool" else size
            records.append(Record(method="framework", split=split, code_size=code, accuracy=acc + (bits > 8) * 0.01,
                                  device_macs=1000, device_params=10, server_macs=10, bits_per_image=bits,
                                  bits_entropy=entropy,
                                  extra={"quantizer": kind, "bits_model": entropy + 0.1, "bits_fixed": 4 if kind == "vector" else 32,
                                         "bits_one_stream": entropy + 0.2, "encoder_share": 0.01, "encoder_macs": 10,
                                         "codewords": [[-0.5, 0, 0.5, 0.9]] if kind == "scalar" else [],
                                         "z_histogram": [[1] * 40]}))
        records.append(Record(method="original", split=split, code_size="8bit-huffman", accuracy=0.9, device_macs=900,
                              device_params=9, server_macs=11, bits_per_image=20000.0, bits_entropy=19900.0,
                              extra={"accuracy_float": 0.905, "bits_fixed": 32768}))
    return LookupTable(Provenance(dataset="fashion-mnist", preset="quick", command="test", wall_time_s=0,
                                  baseline_accuracy=0.905, accuracy_drop=2.0), records)


def test_floor_gap_and_summary():
    from coinfer.views.encoding import floor_gap, summary_rows, unsplit_accuracy

    table = _table()
    assert unsplit_accuracy(table) == 0.905
    gap = floor_gap(table)          # threshold 0.905 - 2 points = 0.885
    assert set(gap["best_per_split"]) == {"pool"}
    assert gap["best"].code_size == "d16-k16" and gap["ratio_to_floor"] == pytest.approx(7.5 / math.log2(10))
    assert gap["test_drop_per_split"] == {"pool": pytest.approx(0.905 - gap["best"].accuracy)}
    assert gap["margin_per_split"] == {"pool": None}      # one seed: no spread to state a margin in
    rows = summary_rows(table)
    assert [r["code size"] for r in rows] == ["c4-d16-k16", "c4-d16-l4", "d16-k16", "d16-l4"]
    assert rows[0]["original+Huffman bits"] == 20000
    assert all(r["± sd"] is None for r in rows)                 # one seed: no spread to show
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    committed = summary_rows(load_table(results_dir() / "encoding_quick.json"))   # three seeds: their spread
    assert all(r["± sd"] is not None and r["± sd"] >= 0 for r in committed) and any(r["± sd"] > 0 for r in committed)


def test_overheads_and_summary_compare_means_over_the_seeds_with_means_over_the_seeds():
    """Bits per image are a mean over the seeds; the extras they are compared with were seed 0's (off by up
    to half a bit in the committed table's packet overheads)."""
    from dataclasses import replace

    from coinfer.results import LookupTable
    from coinfer.stats import aggregate_seeds
    from coinfer.views.encoding import coding_overheads, framework_records, summary_rows

    one = _table()
    runs = [LookupTable(replace(one.provenance, seed=seed), [   # seed 1: bits + 1, the extras + 3
        replace(r, bits_per_image=r.bits_per_image + seed, extra={**r.extra, "bits_range": r.bits_per_image + 3 * seed,
                                                                  **{k: r.extra[k] + 3 * seed
                                                                     for k in ("bits_model", "bits_one_stream")}})
        if r.method == "framework" else r for r in one.records]) for seed in (0, 1)]
    table = aggregate_seeds(runs)
    first = {r.key: r for r in runs[0].records}
    fw = table.select(method="framework")
    # the mean overhead: seed 0's + 1/2 - 3/2
    assert coding_overheads(table)["packet"] == pytest.approx(
        [first[r.key].bits_per_image - first[r.key].extra["bits_model"] - 1 for r in fw])
    assert coding_overheads(table)["stream"] == pytest.approx(
        [first[r.key].extra["bits_one_stream"] - first[r.key].extra["bits_model"] for r in fw])
    for row, r in zip(summary_rows(table), framework_records(table)):
        seed0 = first[r.key].extra
        assert (row["bits model"], row["bits one stream"]) == (round(seed0["bits_model"] + 1.5, 2),
                                                               round(seed0["bits_one_stream"] + 1.5, 2))
        assert row["bits range"] == round(seed0["bits_range"] + 1.5, 2)
        assert row["bits sent"] == round(first[r.key].bits_per_image + 0.5, 2)


def test_code_size_readout_matches_the_data():
    from coinfer.views.encoding import code_size_data, code_size_readout

    data = code_size_data(_table())
    entry = data["splits"][1]
    assert entry["split"] == "pool" and [s["code_size"] for s in entry["sizes"]] == ["d16-k16", "d16-l4"]
    out = code_size_readout(data, {"split": "pool", "size": 0})["text"]
    assert out["accuracy"] == "89.00 %"
    assert out["saving"].startswith("2,667 x fewer bits")
    assert out["code"] == "d16-k16 (vector codebook)"
    past = code_size_readout(data, {"split": "pool", "size": 5})["text"]     # past the last size: the last
    assert past["code"] == "d16-l4 (per-element codewords)"


def test_live_explorer_shows_the_same_readout():
    pytest.importorskip("ipywidgets")
    from coinfer.views.encoding import code_size_data, code_size_explorer, code_size_readout

    box = code_size_explorer(_table(), split="pool")
    text = code_size_readout(code_size_data(_table()), {"split": "pool", "size": 0})["text"]
    assert f"<b>{text['accuracy']}</b>" in box.children[-1].value


def test_plots_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coinfer.views.encoding import (_codewords_panel, fig_accuracy_vs_bits, fig_codewords, fig_real_vs_entropy,
                                        framework_records)

    table = _table()
    fig_accuracy_vs_bits(table)
    fig_real_vs_entropy(table)
    fig_codewords(table)
    _codewords_panel(framework_records(table, "pool")[1], plt.subplots()[1])
    with pytest.raises(ValueError, match="no per-element codewords"):
        _codewords_panel(framework_records(table, "pool")[0], plt.subplots()[1])


def test_code_size_twin_is_self_contained():
    pytest.importorskip("coinfer.views.explorer")
    from coinfer.views.encoding import code_size_twin

    html = code_size_twin(_table()).html
    assert "<script" in html
    assert 'src="http' not in html and "src='http" not in html     # nothing fetched from a CDN
    assert "d16-k16" in html




def test_fig_real_vs_entropy_names_every_colour_it_draws_in_its_legend():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    from coinfer.views.encoding import SPLIT_COLORS, fig_real_vs_entropy

    ax = fig_real_vs_entropy(_table()).axes[0]
    drawn = {to_hex(line.get_color()) for line in ax.get_lines() if len(line.get_xdata()) == 1}   # one per record
    assert drawn == {to_hex(SPLIT_COLORS[s]) for s in ("layer2.1", "pool")}
    legend = ax.get_legend()
    shown = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        colour = handle.get_facecolor() if hasattr(handle, "get_facecolor") else handle.get_color()
        shown.setdefault(to_hex(colour), []).append(text.get_text())
    assert drawn <= set(shown), (drawn, shown)
    assert shown[to_hex(SPLIT_COLORS["pool"])] == ["split after pool"]


def test_fig_accuracy_vs_bits_refuses_a_table_without_original_records_before_drawing():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coinfer.views.encoding import fig_accuracy_vs_bits

    table = _table()
    table.records = [r for r in table.records if r.method != "original"]
    plt.close("all")
    with pytest.raises(ValueError, match="no 'original' records"):
        fig_accuracy_vs_bits(table)
    assert plt.get_fignums() == []           # no half-drawn figure left behind
