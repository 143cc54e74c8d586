"""The reader's kit without a browser: every figure's alt text and downloads (coinfer.views.publish),
the one palette (coinfer.views.style), and the Results page's catalog of committed tables
(coinfer.experiments.catalog, book/_ext/coinfer_book.py)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from coinfer.experiments.catalog import table_catalog  # noqa: E402
from coinfer.paths import committed_tables, project_root, results_dir  # noqa: E402
from coinfer.results import LookupTable, Provenance, Record, SchemaError, load_table  # noqa: E402
from coinfer.views import FIGURES, draw_figure  # noqa: E402
from coinfer.views.publish import figure_html, output_folder, publish, with_downloads  # noqa: E402
from coinfer.views.style import CYCLE, GREY, METHOD_STYLES, PALETTE, method_style  # noqa: E402
from conftest import load_book_extension  # noqa: E402

ROOT = project_root()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _links(html: str) -> dict[str, str]:
    return dict((name, href) for href, name in re.findall(r'<a href="([^"]+)" download="([^"]+)"', html))


def _data_uri(href: str) -> bytes:
    assert href.startswith("data:"), href
    return base64.b64decode(href.split(",", 1)[1])


# ------------------------------------------------------------------------------------------------
# publish: alt text and downloads
# ------------------------------------------------------------------------------------------------

def test_a_figure_needs_an_alt_text_and_a_file_name():
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alt text"):
        publish(fig, "x", alt="  ")
    with pytest.raises(ValueError, match="file name"):
        publish(fig, "Fig 3/a", alt="something")


def test_outside_the_book_the_links_carry_the_files_and_nothing_is_written(monkeypatch):
    monkeypatch.delenv("COINFER_BOOK_OUTDIR", raising=False)
    assert output_folder() is None
    table = load_table(results_dir() / "pruning_quick.json")
    fig = draw_figure("pruning-results")
    html = fig._repr_html_()                      # what IPython shows after plt.show()
    assert re.search(r'<img [^>]*alt="Three line charts', html)
    links = _links(html)
    assert set(links) == {"pruning-results.svg", "pruning-results.csv", "pruning-results.json"}
    rows = list(csv.DictReader(io.StringIO(_data_uri(links["pruning-results.csv"]).decode())))
    assert len(rows) == len(table.records)
    assert {r["split"] for r in rows} == {r.split for r in table.records}
    assert rows[0]["method"] == "fine-tuned-control" and "extra.baseline_val_accuracy" in rows[0]
    saved = json.loads(_data_uri(links["pruning-results.json"]))
    assert saved["provenance"]["git_commit"] == table.provenance.git_commit
    assert saved["provenance"]["command"] == table.provenance.command
    assert [Record.from_dict(r) for r in saved["records"]] == table.records
    svg = _data_uri(links["pruning-results.svg"]).decode()
    assert svg.lstrip().startswith("<?xml") and "Three line charts" in svg    # the alt is its <desc>
    assert "figure-data/" not in html


def test_a_published_figure_still_pickles_and_shows_the_same():
    import pickle

    fig = publish(plt.subplots()[0], "pickled", alt="Nothing yet.", rows=[{"a": 1}])
    copy = pickle.loads(pickle.dumps(fig))
    assert copy.coinfer.alt == "Nothing yet." and 'alt="Nothing yet."' in copy._repr_html_()


def test_in_the_book_build_the_files_land_beside_the_page_and_names_do_not_collide(tmp_path, monkeypatch):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "book").mkdir(parents=True)
    monkeypatch.setenv("COINFER_BOOK_SRCDIR", str(src))
    monkeypatch.setenv("COINFER_BOOK_OUTDIR", str(out))
    monkeypatch.chdir(src / "book")              # a page's cells run in its folder
    first = publish(plt.subplots()[0], "twice", alt="First.", rows=[{"a": 1}])
    second = publish(plt.subplots()[0], "twice", alt="Second.", rows=[{"a": 2}, {"a": 3}])
    html1, html2 = figure_html(first), figure_html(second)
    assert figure_html(first) == html1            # shown again: the same files, not a third name
    folder = out / "book" / "figure-data"
    assert _links(html1)["twice.csv"] == "figure-data/twice.csv"
    assert _links(html2)["twice-2.csv"] == "figure-data/twice-2.csv"
    assert (folder / "twice.csv").read_text().splitlines() == ["a", "1"]
    assert (folder / "twice-2.csv").read_text().splitlines() == ["a", "2", "3"]
    assert json.loads((folder / "twice-2.json").read_text())["alt"] == "Second."
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"twice{s}.{e}" for s in ("", "-2") for e in ("svg", "csv", "json"))


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_registered_figure_says_what_it_shows_and_offers_its_data(name):
    fig = draw_figure(name)
    data = fig.coinfer
    assert data.name.startswith(name.split("-")[0])
    assert len(data.alt) > 150 and re.search(r"\d", data.alt), data.alt    # axes and numbers, not a title
    assert data.rows, f"figure {name} offers no records"
    if FIGURES[name].table is not None:
        assert data.provenance is not None


def test_twins_end_with_their_datas_downloads():
    from coinfer.views.tradeoff import tradeoff_twin

    table = load_table(results_dir() / "sweep_quick.json")
    twin = tradeoff_twin(table)
    assert twin.html.startswith('<div class="coinfer-explorer"')
    links = _links(twin.html)
    assert set(links) == {"threshold-explorer.csv", "threshold-explorer.json"}
    assert len(json.loads(_data_uri(links["threshold-explorer.json"]))["records"]) == len(table.records)
    plain = with_downloads(twin, "again", rows=[{"x": 1}])
    assert plain.html.startswith(twin.html) and plain.element_id == twin.element_id


# ------------------------------------------------------------------------------------------------
# One palette, one marker per method
# ------------------------------------------------------------------------------------------------

def test_every_method_has_its_own_marker_and_a_palette_colour():
    markers = [s.marker for s in METHOD_STYLES.values()]
    assert len(set(markers)) == len(markers), markers
    assert {s.color for s in METHOD_STYLES.values()} <= set(PALETTE.values()) | {GREY}
    assert set(CYCLE) == set(PALETTE.values())
    fig3 = [method_style(m).color for m in ("framework", "original", "2-step-pruning", "bottlenet++", "png")]
    assert len(set(fig3)) == len(fig3)
    assert method_style("new-a", 0) != method_style("new-b", 1)


def test_figures_are_drawn_white_in_the_palette():
    fig = draw_figure("tradeoff")
    assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
    from matplotlib.colors import to_hex

    drawn = {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines() if line.get_label()[:1] != "_"}
    framework = to_hex(method_style("framework").color)
    assert framework in drawn and to_hex("tab:orange") not in drawn


# ------------------------------------------------------------------------------------------------
# The Results page
# ------------------------------------------------------------------------------------------------

def test_the_catalog_lists_every_committed_file_with_its_chapters_and_command():
    entries = {e.path: e for e in table_catalog()}
    assert set(entries) == {p.relative_to(results_dir()).as_posix() for p in committed_tables()}
    sweep = entries["sweep_quick.json"]
    assert sweep.records == len(load_table(results_dir() / "sweep_quick.json").records)
    assert [n for n, _, _ in sweep.chapters][:2] == [5, 6]
    assert sweep.command == "python -m coinfer run sweep --preset quick"
    assert entries["search/replay_quick.json"].chapters[0][1] == "book/08_search"
    # The live search's summary has no provenance block: its preset and command are at its top level,
    # and chapter 8 names it by its path function (search_live_path).
    live = entries["search/live_quick.json"]
    assert (live.preset, live.command.split()[:4]) == ("quick", ["python", "-m", "coinfer", "search"])
    assert [n for n, _, _ in live.chapters] == [8]
    # ... and so are its commit, hardware and date (the page said "not recorded")
    assert {k: live.provenance[k] for k in ("git_commit", "hardware", "date")} == \
        {k: json.loads((results_dir() / live.path).read_text())[k] for k in ("git_commit", "hardware", "date")}
    # Files read by a path put together (results_dir() / "benchmarks" / "x.json"), by a tagged replay's
    # loader, and by a page without a chapter number were "no chapter yet"; a glue name "rate" was a use.
    assert [d for _, d, _ in entries["benchmarks/latency_calibration_cpu.json"].chapters] == ["book/06_latency"]
    assert [d for _, d, _ in entries["search/replay_quick_server_macs.json"].chapters] == ["book/08_search"]
    assert "book/paper_scale" in [d for _, d, _ in entries["benchmarks/plan_shares_cpu.json"].chapters]
    summary = "\n".join(load_book_extension().results_rst([entries["sweep_quick.json"]]))
    assert ":doc:`5 </book/05_tradeoff>`" in summary and "</book/paper_scale>`" in summary
    assert ":doc:`9" not in summary            # a page without a chapter number is not given one (it read 95)
    # The threshold that decides is the validation one (the page gave only the test split's)
    p = load_table(results_dir() / "sweep_quick.json").provenance
    assert (f"baseline {100 * p.baseline_val_accuracy:.2f} % minus 2 points on the validation split, which decides; "
            f"{100 * p.baseline_accuracy:.2f} % minus 2 on the test split, which is only reported") in summary
    assert [n for n, _, _ in entries["rate_quick.json"].chapters] == [3]


def test_a_chapter_uses_a_table_when_its_code_names_the_file_not_when_its_prose_says_the_sweeps(tmp_path):
    results, book = tmp_path / "results", tmp_path / "book"
    results.mkdir(), book.mkdir()
    shutil.copy(results_dir() / "sweep_quick.json", results)
    chapters = {1: "the same fine-tunes as the sweep's, trained once", 2: 'load_table(table_path("sweep", PRESET))',
                3: 'path = results / f"sweep_{PRESET}.json"', 4: "`data/results/sweep_quick.json`",
                6: "TABLE = 'sweep'", 7: "a sweep_like name, the sweeping view"}
    for n, text in chapters.items():
        (book / f"0{n}_chapter.md").write_text(f"# {n}. Chapter {n}\n\n{text}\n")
    (entry,) = table_catalog(results, book)
    assert [n for n, _, _ in entry.chapters] == [2, 3, 4, 6]


def test_a_new_table_file_appears_on_the_results_page_by_itself(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(results_dir(), results)
    before = {e.path for e in table_catalog(results, ROOT / "book")}
    table = LookupTable(Provenance(dataset="my-data", preset="tiny", command="python my_run.py --fast",
                                   wall_time_s=75.0, git_commit="0123456789abcdef", hardware="a laptop",
                                   date="2026-12-01T10:00:00+00:00"))
    table.add(Record(method="original", split="layer2.1", accuracy=0.9, device_macs=10, device_params=2,
                     server_macs=5, bits_per_image=100.0))
    table.save(results / "mine_tiny.json")
    entries = {e.path: e for e in table_catalog(results, ROOT / "book")}
    assert set(entries) - before == {"mine_tiny.json"}
    mine = entries["mine_tiny.json"]
    assert (mine.table, mine.preset, mine.records, mine.chapters) == ("mine", "tiny", 1, [])
    assert mine.command == "python my_run.py --fast"          # not a registered table: its own command
    rst = "\n".join(load_book_extension().results_rst(list(entries.values())))
    assert ":download:`mine_tiny.json </data/results/mine_tiny.json>`" in rst
    for expected in ("my-data", "a laptop", "0123456789", "1.2 min", "2026-12-01 10:00:00 UTC",
                     "python my_run.py --fast", ":doc:`5 </book/05_tradeoff>`"):
        assert expected in rst
    # made from uncommitted changes: the page says so (the commit was cut to 10 characters, +dirty with it)
    from dataclasses import replace

    LookupTable(replace(table.provenance, git_commit="0123456789abcdef+dirty"), table.records).save(results / "mine_tiny.json")
    (mine,) = [e for e in table_catalog(results, ROOT / "book") if e.path == "mine_tiny.json"]
    assert "0123456789+dirty" in "\n".join(load_book_extension().results_rst([mine]))


def test_a_broken_table_is_named_not_skipped(tmp_path):
    (tmp_path / "bad_quick.json").write_text('{"schema": "coinfer.lookup-table", "schema_version": 1}')
    with pytest.raises(SchemaError, match="bad_quick.json"):
        table_catalog(tmp_path, ROOT / "book")


def test_the_results_page_skips_a_runs_working_files(tmp_path):
    """A sweep's cells and each seed's table live beside the committed tables while a run works;
    they are not committed tables and the Results page does not list them."""
    import shutil

    from coinfer.experiments.catalog import table_catalog

    results = tmp_path / "results"
    shutil.copytree(results_dir(), results, ignore=shutil.ignore_patterns("cells", "seeds"))
    for work in ("cells/quick", "seeds"):
        (results / work).mkdir(parents=True, exist_ok=True)
        shutil.copy(results / "original-float32_quick.json", results / work / "x.json")
    paths = {e.path for e in table_catalog(results)}
    assert "original-float32_quick.json" in paths
    assert not any(p.startswith(("cells/", "seeds/")) for p in paths)


def _results_commands() -> list[list[str]]:
    """The coinfer commands of ``make results``, as argument lists (make's own functions dropped)."""
    import shlex

    target = (ROOT / "Makefile").read_text().split("\nresults:")[1].split("\n\n")[0].replace("\\\n", " ")
    target = re.sub(r"\$\(if \$\(\w+\),[^)]*\)", "", target)       # $(if $(RETRAIN),--retrain,)
    return [shlex.split(line.split("-m coinfer", 1)[1]) for line in target.splitlines() if "-m coinfer" in line]


def _coinfer_words(command: str) -> list[str]:
    """``command``'s arguments after ``python -m coinfer``."""
    import shlex

    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "coinfer"], command
    return words[3:]


def test_make_results_regenerates_every_committed_result_and_each_of_its_commands_parses():
    from coinfer.cli import build_parser

    commands = _results_commands()
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)            # "--replay 0" once made `make results` stop at its last step
    # Every committed file but the benchmarks' (each regenerated by its own script) comes from one of
    # them: the catalog's command with at most more options (threads, workers) after it.
    for entry in table_catalog():
        if entry.path.startswith("benchmarks/"):
            continue
        wanted = _coinfer_words(entry.command)
        assert any(argv[:len(wanted)] == wanted for argv in commands), (entry.path, entry.command)
