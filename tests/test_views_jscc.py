"""Chapter 4's views of the JSCC table: Fig. 5's figure and frames, the robustness grid and the
SNR / p explorers (their pages are checked in a browser: tests/test_jscc_browser.py)."""

from __future__ import annotations

import math

import pytest

from coinfer.paths import results_dir
from coinfer.results import LookupTable, load_table
from coinfer.views import jscc as jscc_views
from coinfer.views import jscc_tables


@pytest.fixture(scope="module")
def table():
    """The committed quick table, cut to two SNRs (0 and 20 dB) and two flip rates (0 and 0.1)."""
    full = load_table(results_dir() / "jscc_quick.json")
    keep = {"awgn:0", "awgn:20", "bsc:0", "bsc:0.1"}
    return LookupTable(full.provenance, [r for r in full.records if r.channel in keep])


def test_readouts_follow_the_capacity_formulas(table):
    data = jscc_views.explorer_data(table)
    lsc = next(s for s in data["separate"] if s["method"] == "learned-source-coding+capacity")
    out = jscc_views.awgn_readout(data, 10.0, 2e6)
    assert out["latency"]["learned-source-coding+capacity"] == pytest.approx(lsc["bits"] / (2e6 * math.log2(11)))
    trained_at = out["jscc"]["value"]
    assert trained_at == 0.0                                     # highest trained SNR not above 10 dB
    assert out["latency"]["framework-jscc"] == pytest.approx(out["jscc"]["k"] / 4e6)
    assert jscc_views.awgn_readout(data, -3.0, 1e6)["latency"]["framework-jscc"] == math.inf
    b = jscc_views.bsc_readout(data, 0.05)
    assert b["jscc"]["value"] == 0.1 and b["uses"]["png+capacity"] > b["uses"]["learned-source-coding+capacity"]


def test_outputs_format_the_readouts(table):
    data = jscc_views.explorer_data(table)
    out = jscc_views.awgn_output(data, {"snr": 10.0, "bw": 2.0})
    numbers = jscc_views.awgn_readout(data, 10.0, 2e6)
    assert out["text"]["cap"].startswith(f"{numbers['capacity_per_use']:.3f} bit per real use")
    assert out["text"]["jscc"].startswith(f"{numbers['latency']['framework-jscc'] * 1e6:,.2f} µs (k = ")
    assert "trained at 0 dB" in out["text"]["jscc"]
    assert jscc_views.awgn_output(data, {"snr": -3.0, "bw": 1.0})["text"]["jscc"].startswith("no JSCC code")
    b = jscc_views.bsc_output(data, {"p": 0.05})
    assert "trained at p = 0.1," in b["text"]["jscc"]
    assert b["text"]["png_capacity"].startswith(f"{jscc_views.bsc_readout(data, 0.05)['uses']['png+capacity']:,.1f} uses")


def test_live_explorers_show_the_same_outputs(table):
    pytest.importorskip("ipywidgets")
    box = jscc_views.channel_explorer(table, snr_db=10.0, bandwidth_mhz=2.0, p=0.05)
    data = jscc_views.explorer_data(table)
    awgn_text = jscc_views.awgn_output(data, {"snr": 10.0, "bw": 2.0})["text"]
    assert f"<b>{awgn_text['jscc']}</b>" in box.children[0].children[-1].value
    bsc_text = jscc_views.bsc_output(data, {"p": 0.05})["text"]
    assert f"<b>{bsc_text['cap']}</b>" in box.children[1].children[-1].value


def test_twins_are_self_contained_html(table):
    for twin in (jscc_views.awgn_twin(table), jscc_views.bsc_twin(table)):
        html = twin._repr_html_()
        assert 'type="range"' in html and "<script" in html and "http" not in html.replace("http://www.w3.org", "")


def test_fig5_figure_and_frames(table):
    import matplotlib

    matplotlib.use("Agg")
    fig = jscc_views.fig_jscc_vs_separate(table)
    assert [a.get_yscale() for a in fig.axes] == ["log", "log"]
    awgn = jscc_tables.fig5_frame(table, "awgn")
    assert list(awgn.index) == [0.0, 20.0] and list(awgn.columns[:4]) == list(jscc_views.FIG5_METHODS)
    assert awgn.loc[0.0, "framework-jscc"] == pytest.approx(awgn.loc[0.0, "JSCC k (real uses)"] / 2)  # µs at 1 MHz
    bsc = jscc_tables.fig5_frame(table, "bsc")
    assert list(bsc.index) == [0.0, 0.1] and "JSCC k (real uses)" not in bsc
    finite = jscc_tables.finite_length_frame(table)
    assert (finite["uses, finite length (eps 1e-3)"] >= finite["uses at capacity"]).all()
    frame, k = jscc_tables.mismatch_frame(table, "awgn")
    assert list(frame.columns) == ["test 0 dB", "test 20 dB"] and frame.index[0] == "trained at 0 dB"
    assert isinstance(k, int) and k > 0


def test_fig5_verdict_counts_follow_the_frames(table):
    verdict = jscc_tables.fig5_verdict(table)
    finite = jscc_tables.finite_length_frame(table)
    for kind in ("awgn", "bsc"):
        f = finite.loc[kind]
        v = verdict[kind]
        assert v["values"] == 2
        assert v["fewer_than_capacity"] == int((f["JSCC uses"] < f["uses at capacity"]).sum())
        assert v["fewer_than_finite"] + v["more_than_finite"] <= v["values"]
        lo, hi = v["ratio_capacity"]
        assert lo == pytest.approx((f["JSCC uses"] / f["uses at capacity"]).min()) and lo <= hi
    assert "of the 2 SNRs" in verdict["sentence_capacity"] and "of the 2 flip rates" in verdict["sentence_finite"]


def test_mismatch_summary_reads_the_grid(table):
    trained, tests, grid = jscc_views.mismatch_grid(table, "awgn")
    summary = jscc_tables.mismatch_summary(table, "awgn")
    assert summary["noisiest"] == 0.0 and summary["cleanest"] == 20.0
    at_0 = tests.index(0.0)
    expected = 100 * (grid[trained.index("awgn:0"), at_0] - grid[trained.index("awgn:20"), at_0])
    assert summary["clean_code_on_noisy"] == pytest.approx(expected)
    assert summary["noisy_code_on_clean"] >= 0 and summary["range_gap"] >= 0 or math.isnan(summary["range_gap"])


def test_code_size_grid_in_words():
    assert jscc_tables.code_size_grid(tuple(range(1, 33)) + (48, 64, 96, 128)) == \
        "every integer from 1 to 32, then 48, 64, 96 and 128"
    assert jscc_tables.code_size_grid((16, 2, 4)) == "2, 4 and 16"
    assert jscc_tables.code_size_grid(range(3, 7)) == "every integer from 3 to 6"


def test_training_budget_of_a_table(table):
    budget = jscc_tables.training_budget(table)
    assert budget["jscc"]["epochs"] >= 1 and budget["jscc"]["steps"] > 0


def test_fig5_verdict_calls_a_difference_clear_only_beyond_two_standard_errors_of_the_seeds(table):
    from coinfer.stats import difference_in_standard_errors

    verdict = jscc_tables.fig5_verdict(table)
    rows = {(r["method"], r["kind"], r["value"]): r for r in jscc_views.fig5_rows(table)}
    for kind in ("awgn", "bsc"):
        values = sorted({value for (_, k, value) in rows if k == kind})
        margins = [difference_in_standard_errors(rows[("learned-source-coding+capacity", kind, v)]["uses_per_seed"],
                                                 rows[("framework-jscc", kind, v)]["uses_per_seed"]) for v in values]
        v = verdict[kind]
        assert v["clear_fewer_capacity"] == sum(m is not None and m >= 2 for m in margins) <= v["fewer_than_capacity"]
        assert v["clear_more_capacity"] == sum(m is not None and m <= -2 for m in margins) <= v["more_than_capacity"]
    assert "standard errors of the seeds: fewer at" in verdict["sentence_capacity"]


def test_a_difference_in_standard_errors_of_values_per_seed():
    from coinfer.stats import difference_in_standard_errors

    # JSCC's k at p = 0 in three seeds against a code of 8 bits in each: 0.76 standard errors apart
    assert difference_in_standard_errors([8, 8, 8], [9, 6, 7]) == pytest.approx(0.756, abs=1e-3)
    assert difference_in_standard_errors([9, 6, 7], [8, 8, 8]) == pytest.approx(-0.756, abs=1e-3)
    assert difference_in_standard_errors([8, 8], [7, 7]) == float("inf")
    assert difference_in_standard_errors([8, 8], [8, 8]) == 0.0
    assert difference_in_standard_errors([8], [7]) is None


def test_more_channel_uses_only_by_rounding_up_to_whole_uses_is_called_a_tie():
    """At 10, 15 and 20 dB every seed's JSCC needs 5, 4 and 3 real channel uses, learned source coding
    4.63, 3.18 and 2.40 at capacity: JSCC sends exactly those rounded up, the least any code of whole
    uses sends, and with no spread the margin read infinite ("more at 5 of 5 by 2 or more standard errors")."""
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    table = load_table(results_dir() / "jscc_quick.json")
    rows = {(r["method"], r["kind"], r["value"]): r for r in jscc_views.fig5_rows(table)}
    verdict = jscc_tables.fig5_verdict(table)
    for kind in ("awgn", "bsc"):
        whole = [v for (m, k, v) in rows if m == "framework-jscc" and k == kind and all(
            j == math.ceil(u - 1e-9) > u for j, u in zip(rows[(m, k, v)]["uses_per_seed"],
                                                     rows[("learned-source-coding+capacity", k, v)]["uses_per_seed"]))]
        assert verdict[kind]["whole_capacity"] == len(whole) <= verdict[kind]["more_than_capacity"]
    assert verdict["awgn"]["whole_capacity"] == 3
    assert "of the 5 more, JSCC's uses are exactly learned source coding's at capacity rounded up" in \
        verdict["sentence_capacity"]


def test_the_robustness_findings_state_their_margins_in_standard_errors():
    """The BSC code trained at p = 0.2 falls 8.7 points below the best row on cleaner channels, but its
    seeds spread by 10 points: 1.5 standard errors, which the chapter did not say."""
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.stats import difference_in_standard_errors

    table = load_table(results_dir() / "jscc_quick.json")
    summary = jscc_tables.mismatch_summary(table, "bsc")
    assert summary["noisy_code_on_clean"] == pytest.approx(8.7, abs=0.05)
    assert summary["noisy_code_on_clean_se"] == pytest.approx(1.48, abs=0.01)
    seeds = {(r.extra["train_channel"], r.channel): r.extra["per_seed"]["accuracy"] for r in table.records
             if r.method == "framework-jscc-mismatch"}
    assert summary["clean_code_on_noisy_se"] == pytest.approx(difference_in_standard_errors(
        seeds[("bsc:0.2", "bsc:0.2")], seeds[("bsc:0", "bsc:0.2")]))
    for kind in ("awgn", "bsc"):
        m = jscc_tables.mismatch_summary(table, kind)
        assert all(m[f"{k}_se"] is not None for k in ("noisy_code_on_clean", "clean_code_on_noisy", "range_gap"))


def test_the_explorers_name_each_seeds_code_size_where_they_differ():
    """The explorers printed a mean over seeds as if it were one code's size ("k = 10.3333 real uses")."""
    from coinfer.paths import results_dir
    from coinfer.results import load_table

    data = jscc_views.explorer_data(load_table(results_dir() / "jscc_quick.json"))
    at = {p["value"]: p for p in data["jscc_bsc"]}
    assert jscc_views._uses(at[0.05]) == "18.3 (mean of 3 seeds: 16, 19, 20)"
    assert jscc_views._uses(at[0.2]) == "96"                          # every seed found the same size
    text = jscc_views.bsc_output(data, {"p": 0.05})["text"]["jscc"]
    assert text.startswith("18.3 (mean of 3 seeds: 16, 19, 20) uses")
