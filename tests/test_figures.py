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
