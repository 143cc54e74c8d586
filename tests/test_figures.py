"""coinfer.views.plane: the communication-computation plane (the paper's Fig. 1) and its extension points."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coinfer.views.plane import (MACS_LINTHRESH, InputLine, add_curve, input_lines,  # noqa: E402
                             plot_comm_comp_plane, raw_input_line)
from coinfer.core.network import PAPER_SPLIT_POINTS, resnet18  # noqa: E402
from coinfer.core.costs import InputSize, profile_splits  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    return profile_splits(resnet18(width=1 / 16))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def line_by_label(ax, label):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


def test_raw_input_line_of_a_cifar_image_is_24576_bits():
    line = raw_input_line((3, 32, 32), "CIFAR-10 image")
    assert line.bits == 24576 and "24,576 bits" in line.label
    with pytest.raises(ValueError, match="positive number of bits"):
        InputLine(0, "nothing")


def test_input_lines_from_a_measured_input_size():
    size = InputSize(dataset="fashion-mnist", image_shape=(28, 28), raw_bits=6272, png_bits_mean=4063.4,
                     png_bits_std=500.0, images=1000)
    raw, png = input_lines(size, "Fashion-MNIST")
    assert (raw.bits, png.bits) == (6272, 4063.4)
    assert "Fashion-MNIST" in raw.label and "raw" in raw.label and "PNG" in png.label and "1,000" in png.label


def test_plane_plots_every_split_point_the_stars_and_the_input_lines(rows):
    cifar = raw_input_line((3, 32, 32), "CIFAR-10 image")
    ax = plot_comm_comp_plane(rows, [cifar], bits_per_element=32)
    middle = rows[1:-1]
    curve = line_by_label(ax, "original network, split points (32-bit features)")
    np.testing.assert_array_equal(curve.get_xdata(), [r.device_macs for r in middle])
    np.testing.assert_array_equal(curve.get_ydata(), [32 * r.feature_elements for r in middle])
    server = line_by_label(ax, "server-based inference (sends the image)")
    assert (server.get_xdata()[0], server.get_ydata()[0]) == (0, 24576) and server.get_marker() == "*"
    # its decision, the 4-bit class index every table counts (it was drawn at 320 bits: 10 float32 scores)
    device = line_by_label(ax, "on-device inference (sends the 4-bit class index)")
    assert device.get_xdata()[0] == rows[-1].device_macs and device.get_ydata()[0] == 4 > ax.get_ylim()[0]
    assert line_by_label(ax, cifar.label).get_ydata()[0] == 24576
    # The paper's five split points are circled and labelled s1..s5.
    paper = line_by_label(ax, "the paper's split points s1-s5")
    assert len(paper.get_xdata()) == len(PAPER_SPLIT_POINTS)
    assert {t.get_text() for t in ax.texts} >= {"s1", "s2", "s3", "s4", "s5"}
    # Units on both axes; log y, and an x axis that shows 0 MACs and is logarithmic above 1 M.
    assert "MACs" in ax.get_xlabel() and "FLOPs = 2 x MACs" in ax.get_xlabel()
    assert "bits per image" in ax.get_ylabel()
    assert ax.get_yscale() == "log" and ax.get_xscale() == "symlog"
    assert ax.get_xlim()[0] < 0 < MACS_LINTHRESH and ax.get_xlim()[1] >= rows[-1].device_macs
    assert ax.get_legend() is not None


def test_8bit_features_are_a_quarter_of_float32(rows):
    ax = plot_comm_comp_plane(rows, bits_per_element=8, mark_endpoints=False, shade_amplification=False)
    curve = line_by_label(ax, "original network, split points (8-bit features)")
    np.testing.assert_array_equal(curve.get_ydata(), [8 * r.feature_elements for r in rows[1:-1]])
    with pytest.raises(ValueError, match="bits_per_element must be 8 or 32"):
        plot_comm_comp_plane(rows, bits_per_element=4)


def test_later_chapters_can_draw_into_given_axes_and_add_curves(rows):
    fig, (left, right) = plt.subplots(1, 2)
    ax = plot_comm_comp_plane(rows, ax=right, curves=[
        dict(device_macs=[1e6, 1e7], bits=[1e4, 1e3], label="encoded", color="C2")])
    assert ax is right and not left.get_lines()
    encoded = line_by_label(right, "encoded")
    np.testing.assert_array_equal(encoded.get_ydata(), [1e4, 1e3])
    pruned = add_curve(right, [5e5, 2e6], [3e4, 2e4], label="pruned", annotations=["a", ""])
    assert pruned in right.get_lines() and "a" in {t.get_text() for t in right.texts}


def test_bad_curves_and_rows_are_refused(rows):
    ax = plot_comm_comp_plane(rows)
    with pytest.raises(ValueError, match="same length"):
        add_curve(ax, [1, 2], [1], label="x")
    with pytest.raises(ValueError, match="must be > 0 on a log axis"):
        add_curve(ax, [1, 2], [1, 0], label="x")
    with pytest.raises(ValueError, match="no points"):
        add_curve(ax, [], [], label="x")
    with pytest.raises(ValueError, match="from 'input' to 'output'"):
        plot_comm_comp_plane(rows[1:])


# ---------------------------------------------------------------------------------------------
# The figure registry and `python -m coinfer figure`
# ---------------------------------------------------------------------------------------------

def test_figure_list_names_every_registered_figure_with_its_chapter(capsys):
    from coinfer.cli import main
    from coinfer.views import FIGURES

    assert main(["figure", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(FIGURES)
    for line, entry in zip(listed, FIGURES.values()):
        assert f"chapter {entry.chapter}" in line


@pytest.mark.parametrize("name", __import__("coinfer.views", fromlist=["FIGURES"]).FIGURES)
def test_every_registered_figure_draws_from_the_committed_tables(name, tmp_path, capsys):
    from coinfer.cli import main

    for suffix in (".png", ".svg"):
        out = tmp_path / f"{name}{suffix}"
        assert main(["figure", name, "--preset", "quick", "--out", str(out)]) == 0
        assert out.stat().st_size > 1000
        plt.close("all")
    assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_an_unknown_figure_is_refused_with_the_registered_names(capsys):
    from coinfer.cli import main

    assert main(["figure", "fig-99"]) == 2
    assert "unknown figure 'fig-99'; registered: amplification" in capsys.readouterr().err


def test_a_figure_whose_table_is_missing_names_the_command_that_makes_it():
    from coinfer.views import figure_table

    with pytest.raises(FileNotFoundError, match=r"python -m coinfer run pruning --preset paper"):
        figure_table("pruning-results", "paper")


# ---------------------------------------------------------------------------------------------
# Which preset a chapter draws (COINFER_PRESET)
# ---------------------------------------------------------------------------------------------

def test_a_chapter_draws_the_requested_preset_only_when_all_its_files_are_there(tmp_path, monkeypatch, capsys):
    from coinfer.paths import checkpoint_path, search_replay_path, table_path
    from coinfer.views import book_preset

    monkeypatch.setenv("COINFER_HOME", str(tmp_path))
    monkeypatch.delenv("COINFER_PRESET", raising=False)
    assert book_preset("sweep") == "quick" and capsys.readouterr().out == ""

    monkeypatch.setenv("COINFER_PRESET", "paper")
    table_path("sweep", "paper").parent.mkdir(parents=True)
    table_path("sweep", "paper").write_text("{}")
    assert book_preset("sweep") == "paper" and capsys.readouterr().out == ""
    # one missing file of the chapter: the whole chapter draws the quick preset's, and says which and how
    assert book_preset("sweep", "pruning", checkpoint_path, search_replay_path) == "quick"
    said = capsys.readouterr().out
    assert said.startswith("COINFER_PRESET=paper: pruning_paper.json, baseline.pt, replay_paper.json not found")
    assert "(make them with: python -m coinfer run pruning --preset paper)" in said
    assert "sweep_paper" not in said


@pytest.mark.parametrize("value", ["papr", "Quick"])
def test_an_unknown_coinfer_preset_is_refused_with_the_presets(value, monkeypatch):
    from coinfer.views import book_preset

    monkeypatch.setenv("COINFER_PRESET", value)
    with pytest.raises(ValueError, match=rf"COINFER_PRESET='{value}': unknown preset '{value}'; available: quick, paper"):
        book_preset("sweep")


# ---------------------------------------------------------------------------------------------
# What the chapters' figures show: spread, every record, one colour per legend entry
# ---------------------------------------------------------------------------------------------

def _committed(name):
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    return load_table(results_dir() / f"{name}_quick.json")


def _bars(ax):
    """The error-bar series of ``ax`` that draw vertical bars."""
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer) and c.has_yerr]


def test_fig_rate_curve_shows_every_code_with_its_spread_or_on_the_lower_edge():
    from dataclasses import replace

    from coinfer.views.rate import fig_rate_curve, rate_rows

    table = _committed("rate")
    # a fixed codebook far below the threshold: drawn on the lower edge, as a rate-trained one is
    table.records = [replace(r, val_accuracy=0.60) if (r.split, r.code_size) == ("layer2.1", "c4-d16-k16") else r
                     for r in table.records]
    rows = rate_rows(table)
    fig = fig_rate_curve(table)
    for ax, split in zip(fig.axes, ("layer2.1", "layer3.1")):
        mine = [r for r in rows if r["split"] == split]
        # two series, both with seeds' spread: the rate-trained codes and the fixed codebooks
        assert all(r["val std"] > 0 for r in mine) and len(_bars(ax)) == 2, split
        low, high = ax.get_ylim()
        points = {(float(x), float(y), line.get_marker()) for line in ax.get_lines()
                  for x, y in zip(line.get_xdata(), line.get_ydata())}
        for r in mine:
            inside = low <= r["val %"] <= high
            assert (r["sent"], r["val %"]) in {(x, y) for x, y, _ in points} if inside else \
                (r["sent"], low, "v") in points, (split, r["code size"])
        assert any((r["sent"], low, "v") in points for r in mine if r["weight"] is None) == (split == "layer2.1")


def test_fig_rate_curve_refuses_a_table_without_framework_records_or_too_few_axes():
    from coinfer.views.rate import fig_rate_curve

    table = _committed("rate")
    with pytest.raises(ValueError, match=r"2 split points \(layer2.1, layer3.1\), 1 axes given"):
        fig_rate_curve(table, ax=plt.subplots()[1])
    table.records = []
    with pytest.raises(ValueError, match="no 'framework' records"):
        fig_rate_curve(table)


def test_fig_pruning_results_draws_the_controls_spread():
    from coinfer.views.pruning import fig_pruning_results

    table = _committed("pruning")
    control = table.select(method="fine-tuned-control")[0]
    assert control.accuracy_std > 0
    ax = fig_pruning_results(table).axes[0]
    bars = _bars(ax)
    assert len(bars) == 3 + 1                                    # three split points and the control
    control_bar = next(c for c in bars if c.get_label() == "control: fine-tuned, unpruned")
    (segment,) = control_bar.lines[2][0].get_segments()
    assert np.allclose(segment[:, 1], 100 * np.array([control.accuracy - control.accuracy_std,
                                                       control.accuracy + control.accuracy_std]))


@pytest.mark.parametrize("drop", ["layer3.1 at 0.75", "every framework-pruned record", "every sparsity 0"])
def test_the_pruning_figures_name_what_an_incomplete_table_misses(drop):
    from coinfer.views.pruning import fig_pruning_plane, fig_pruning_results, pruning_summary

    table = _committed("pruning")
    gone = {"layer3.1 at 0.75": lambda r: (r.split, r.sparsity) == ("layer3.1", 0.75),
            "every framework-pruned record": lambda r: r.method == "framework-pruned",
            "every sparsity 0": lambda r: r.sparsity == 0 and r.method == "framework-pruned"}[drop]
    table.records = [r for r in table.records if not gone(r)]
    reason = {"layer3.1 at 0.75": r"miss \(split, sparsity\) pairs \[\('layer3.1', 0.75\)\]",
              "every framework-pruned record": r"no 'framework-pruned' records \(methods: \['fine-tuned-control'\]\)",
              "every sparsity 0": r"no unpruned \(sparsity 0\)"}[drop]
    for draw in (fig_pruning_results, fig_pruning_plane, pruning_summary):
        with pytest.raises(ValueError, match=reason):
            draw(table)


def _legend_colours(fig):
    """Per legend of ``fig``: the colour of each entry (a hollow ring marks points of another series:
    skipped), as {colour: [labels]}."""
    from matplotlib.colors import to_hex

    out = []
    for legend in [a.get_legend() for a in fig.axes if a.get_legend()] + list(fig.legends):
        colours = {}
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if hasattr(handle, "get_markerfacecolor") and str(handle.get_markerfacecolor()) == "none":
                continue
            colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
            colours.setdefault(to_hex(colour), []).append(text.get_text())
        out.append(colours)
    return out


@pytest.mark.parametrize("name", ["amplification", "pruning-plane"])
def test_no_two_entries_of_a_planes_legend_share_a_colour(name):
    from coinfer.views import figure_function, figure_table
    from coinfer.views.style import hex_color, method_style

    fig = figure_function(name)(figure_table(name))
    (colours,) = _legend_colours(fig)
    assert all(len(labels) == 1 for labels in colours.values()), colours
    # ... nor two near twins (the raw image's line in grey 0.45 beside the server-based star's #7f7f7f)
    from itertools import combinations

    from matplotlib.colors import to_rgb

    for a, b in combinations(colours, 2):
        assert max(abs(x - y) for x, y in zip(to_rgb(a), to_rgb(b))) > 0.1, (colours[a], colours[b])
    # the two ends in the colours every chapter gives them
    assert colours[hex_color(method_style("png").color)] == ["server-based inference (sends the image)"]
    assert colours[hex_color(method_style("on-device").color)][0].startswith("on-device inference")


def test_an_unknown_samplers_line_band_and_stop_share_one_colour():
    import json

    from matplotlib.colors import to_hex

    from coinfer.paths import search_replay_path
    from coinfer.views.search import SAMPLER_STYLE, fig_search

    replay = json.loads(search_replay_path("quick").read_text())
    replay["summary"] = {"cmaes": replay["summary"]["tpe"]}                # a sampler SAMPLER_STYLE does not know
    for run in replay["runs"]:
        run["sampler"] = "cmaes" if run["sampler"] == "tpe" else run["sampler"]
    assert "cmaes" not in SAMPLER_STYLE
    ax = fig_search(replay).axes[0]
    line, band, (stop,) = ax.get_lines()[0], ax.collections[0], ax.containers
    assert to_hex(band.get_facecolor()[0]) == to_hex(line.get_color()) == to_hex(stop.lines[0].get_color())
