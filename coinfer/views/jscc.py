"""Chapter 4's figures and explorers: Fig. 5 (latency / channel uses per scheme), the robustness grid,
and the SNR / bandwidth / flip-rate explorers, drawn from a JSCC lookup table
(written by the experiment behind ``python -m coinfer jscc``)."""

from __future__ import annotations

import math

import numpy as np

from coinfer.core import channel as ch
from coinfer.core.jscc import FINITE_BLOCK_ERROR, finite_length_uses, jscc_channel_uses
from coinfer.views.publish import publish, with_downloads
from coinfer.views.style import figure_style, hex_color, method_style

# ----------------------------------------------------------------------------- Fig. 5


def fig5_rows(table, finite_error_prob: float = FINITE_BLOCK_ERROR) -> list[dict]:
    """Both panels of Fig. 5 from a JSCC lookup table, one row per (method, channel).

    Each row: ``method``, ``kind`` (awgn/bsc), ``value`` (SNR dB or p), ``accuracy``,
    ``channel_uses`` (real uses for AWGN, binary uses for the BSC), ``latency_s`` (AWGN only),
    ``bits_per_image`` (the source bits, separate schemes; ``None`` for JSCC), ``meets_threshold``,
    and for the separate schemes ``finite_uses`` / ``finite_latency_s``: the same payload with a code of
    finite length at block error ``finite_error_prob`` (:func:`finite_length_uses`). ``uses_per_seed``
    and ``finite_uses_per_seed``: the channel uses of each training seed's record (a table averaged
    over seeds keeps each seed's bits; one value for a single run), for margins in standard errors.
    """
    rows = []
    for r in table.records:
        if r.method not in FIG5_METHODS or r.channel == "noiseless":
            continue
        kind, value = ch.parse_channel(r.channel)
        row = {"method": r.method, "kind": kind, "value": value, "accuracy": r.accuracy,
               "channel_uses": r.extra.get("channel_uses"), "latency_s": r.extra.get("latency_s"),
               "bits_per_image": None if r.method == "framework-jscc" else r.bits_per_image,
               "code_size": r.code_size, "meets_threshold": r.extra.get("meets_threshold", True),
               "finite_uses": None, "finite_latency_s": None}
        seed_bits = r.extra.get("per_seed", {}).get("bits_per_image") or [r.bits_per_image]
        if r.method == "framework-jscc":   # k from the bits: over several seeds, the mean smallest k
            row["channel_uses"] = jscc_channel_uses(r.bits_per_image, kind, value)
            row["uses_per_seed"] = [jscc_channel_uses(b, kind, value) for b in seed_bits]
            if kind == "awgn":
                row["latency_s"] = ch.awgn_airtime_s(row["channel_uses"], r.extra.get("bandwidth_hz", 1e6))
        else:
            # at capacity the channel uses are proportional to the bits
            row["uses_per_seed"] = [row["channel_uses"] * b / r.bits_per_image if r.bits_per_image else
                                    row["channel_uses"] for b in seed_bits]
            row["finite_uses_per_seed"] = [finite_length_uses(b, kind, value, finite_error_prob) for b in seed_bits]
            row["finite_uses"] = finite_length_uses(r.bits_per_image, kind, value, finite_error_prob)
            if kind == "awgn":
                row["finite_latency_s"] = ch.awgn_airtime_s(row["finite_uses"], r.extra.get("bandwidth_hz", 1e6))
        rows.append(row)
    return sorted(rows, key=lambda row: (row["kind"], FIG5_METHODS.index(row["method"]), row["value"]))


#: The four curves of Fig. 5, in legend order.
FIG5_METHODS = ("framework-jscc", "learned-source-coding+capacity", "original-huffman+capacity", "png+capacity")
#: Their legend labels (from the one style table, :mod:`coinfer.views.style`).
FIG5_LABELS = {m: method_style(m).label for m in FIG5_METHODS}


def mismatch_grid(table, kind: str) -> tuple[list[str], list[float], np.ndarray]:
    """The robustness grid: rows = how it was trained, columns = test SNR (dB) or p, values = accuracy."""
    records = [r for r in table.records if r.method == "framework-jscc-mismatch" and r.channel.startswith(kind)]
    trained = sorted({r.extra["train_channel"] for r in records}, key=_train_sort_key)
    tests = sorted({ch.parse_channel(r.channel)[1] for r in records})
    grid = np.full((len(trained), len(tests)), np.nan)
    for r in records:
        grid[trained.index(r.extra["train_channel"]), tests.index(ch.parse_channel(r.channel)[1])] = r.accuracy
    return trained, tests, grid


def _train_sort_key(name: str):
    spec = name.split(":", 1)[1]
    return (1, 0.0) if ".." in spec else (0, float(spec))


@figure_style
def fig_jscc_vs_separate(table, ax=None):
    """Figure 4.1, the paper's Fig. 5: (a) latency vs SNR over AWGN at bandwidth W and (b) channel
    uses vs p over a BSC, for JSCC and the separate schemes at capacity (and, dotted, learned source
    coding with the best finite-length code).

    Parameters
    ----------
    table : LookupTable
        The JSCC table (``data/results/jscc_<preset>.json``).
    ax : sequence of two matplotlib Axes, optional
        Panels (a) and (b); default a new 13 x 4.6 in figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import fig_jscc_vs_separate
    >>> fig = fig_jscc_vs_separate(load_table(results_dir() / "jscc_quick.json"))
    >>> [a.get_title() for a in fig.axes]
    ['(a) AWGN, W = 1 MHz', '(b) binary symmetric channel']
    """
    import matplotlib.pyplot as plt

    axes = plt.subplots(1, 2, figsize=(13, 4.6))[1] if ax is None else ax
    rows = fig5_rows(table)
    styles = {"framework-jscc": "o-", "learned-source-coding+capacity": "s--",
              "original-huffman+capacity": "^:", "png+capacity": "d-."}
    for ax, kind in zip(axes, ("awgn", "bsc")):
        for method in FIG5_METHODS:
            pts = [r for r in rows if r["method"] == method and r["kind"] == kind
                   and math.isfinite(r["latency_s" if kind == "awgn" else "channel_uses"] or math.nan)]
            if not pts:
                continue
            xs = [r["value"] for r in pts]
            ys = [r["latency_s"] * 1e6 if kind == "awgn" else r["channel_uses"] for r in pts]
            ax.plot(xs, ys, styles[method][1:], marker=method_style(method).marker, color=method_style(method).color,
                    label=FIG5_LABELS[method])
            if method == "framework-jscc":
                # JSCC's k is each seed's smallest that meets the threshold: bars one standard deviation of the seeds
                spread = [float(np.std(r["uses_per_seed"], ddof=1)) if len(r["uses_per_seed"]) > 1 else 0.0 for r in pts]
                ax.errorbar(xs, ys, yerr=[y * s / r["channel_uses"] for r, y, s in zip(pts, ys, spread)],
                            fmt="none", ecolor=method_style(method).color, capsize=3, linewidth=1)
                for r, x, y, s in zip(pts, xs, ys, spread):
                    mark = "" if r["meets_threshold"] else " (below threshold)"
                    k = f"k={r['channel_uses']:.3g}" + (f" ± {s:.2g}" if s else "")
                    ax.annotate(f"{k}\n{100 * r['accuracy']:.1f}%{mark}", (x, y),
                                textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7,
                                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        finite = [r for r in rows if r["method"] == "learned-source-coding+capacity" and r["kind"] == kind]
        if finite:
            ax.plot([r["value"] for r in finite],
                    [r["finite_latency_s"] * 1e6 if kind == "awgn" else r["finite_uses"] for r in finite],
                    ":", marker=method_style("learned-source-coding+capacity").marker,
                    color=method_style("learned-source-coding+capacity").color, alpha=0.6, markerfacecolor="none",
                    label=f"learned source coding + best finite-length code (block error {FINITE_BLOCK_ERROR:g})")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_xlabel("SNR per real dimension (dB)")
    axes[0].set_ylabel("communication latency per image (µs)")
    axes[0].set_title(f"(a) AWGN, W = {_bandwidth_hz(table) / 1e6:g} MHz")
    axes[1].set_xlabel("bit flip probability p")
    axes[1].set_ylabel("channel uses per image")
    axes[1].set_title("(b) binary symmetric channel")
    fig = axes[0].figure
    # One legend below both panels: inside (b) it covered the annotations of the noisiest channels.
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return publish(fig, "jscc", alt=_fig5_alt(rows), rows=rows, provenance=table.provenance,
                   caption="JSCC against separate coding, AWGN and BSC (the paper's Fig. 5)")


def _fig5_alt(rows: list[dict]) -> str:
    """What Fig. 5 shows, with JSCC's advantage over learned source coding at capacity, per panel."""
    def ratios(kind, key, what):
        jscc = {r["value"]: r[key] for r in rows if r["method"] == "framework-jscc" and r["kind"] == kind}
        sep = {r["value"]: r[key] for r in rows if r["method"] == "learned-source-coding+capacity" and r["kind"] == kind}
        out = [sep[v] / jscc[v] for v in jscc if v in sep and jscc[v] and sep[v] and math.isfinite(sep[v] / jscc[v])]
        if not out:
            return f"no {what} to compare with JSCC's"
        faster = ("JSCC is ahead everywhere" if min(out) > 1 else "the capacity bound is ahead everywhere"
                  if max(out) < 1 else "neither is ahead everywhere")
        return f"{min(out):.2f} to {max(out):.2f} times JSCC's {what} ({faster})"
    return ("Two line charts, log-scale y. (a) AWGN: communication latency per image in microseconds against the "
            "SNR in dB; (b) binary symmetric channel: channel uses per image against the bit flip probability p. "
            "Lines: learned JSCC (annotated with its channel uses k, mean ± standard deviation over the training seeds, "
            "with bars of one standard deviation, and its accuracy), learned source coding, the "
            "original feature with 8-bit Huffman and the PNG image, each separate scheme at channel capacity "
            "(and learned source coding with a finite-length code, dotted). Learned source coding at capacity "
            f"has {ratios('awgn', 'latency_s', 'latency')} over AWGN and "
            f"{ratios('bsc', 'channel_uses', 'channel uses')} over the BSC; the original feature and PNG need "
            "orders of magnitude more.")


def _bandwidth_hz(table) -> float:
    return next((r.extra["bandwidth_hz"] for r in table.records if "bandwidth_hz" in r.extra), 1e6)


def _uses(point: dict) -> str:
    """A JSCC point's channel uses in words: one number where every seed found it, else the mean and each seed's
    (a mean such as 18.33 is no one code's size)."""
    from coinfer.views.style import format_fixed

    seeds = point.get("seed_k") or [point["k"]]
    if len(set(seeds)) == 1:
        return f"{seeds[0]:g}"
    return f"{format_fixed(point['k'], 1)} (mean of {len(seeds)} seeds: {', '.join(f'{k:g}' for k in seeds)})"


def explorer_data(table) -> dict:
    """The JSON-able numbers behind the chapter's SNR and p explorers, from a JSCC table.

    ``separate``: per separate scheme its source bits per image; ``jscc_awgn`` / ``jscc_bsc``: the JSCC
    operating points (trained value, channel uses ``k``: the mean over seeds, ``seed_k`` each seed's, and
    accuracy), sorted from noisiest.
    """
    rows = fig5_rows(table)
    separate = {}
    for r in rows:
        if r["method"] != "framework-jscc":
            separate[r["method"]] = {"label": FIG5_LABELS[r["method"]], "bits": r["bits_per_image"]}
    jscc_points = {kind: sorted(({"value": r["value"], "k": r["channel_uses"], "accuracy": r["accuracy"],
                                  "meets": bool(r["meets_threshold"]), "seed_k": list(r.get("uses_per_seed") or [])}
                                 for r in rows if r["method"] == "framework-jscc" and r["kind"] == kind),
                                key=lambda p: p["value"])
                   for kind in ("awgn", "bsc")}
    bandwidth = _bandwidth_hz(table)
    return {"separate": [dict(method=m, **v) for m, v in separate.items()],
            "jscc_awgn": jscc_points["awgn"], "jscc_bsc": jscc_points["bsc"],
            "bandwidth_hz": bandwidth}


def _jscc_at(points: list[dict], value: float, kind: str) -> dict | None:
    """The JSCC point trained for the noisiest channel no worse than ``value`` (conservative)."""
    usable = [p for p in points if (p["value"] <= value if kind == "awgn" else p["value"] >= value)]
    if not usable:
        return None
    return max(usable, key=lambda p: p["value"]) if kind == "awgn" else min(usable, key=lambda p: p["value"])


def awgn_readout(data: dict, snr_db: float, bandwidth_hz: float) -> dict:
    """What the AWGN explorers show at ``snr_db`` and ``bandwidth_hz``: capacity and each scheme's latency.

    Separate schemes: ``bits / (W log2(1 + SNR))``. JSCC: ``k / (2W)`` for the point trained at the
    highest SNR not above ``snr_db`` (a code trained for a noisier channel, used on a cleaner one).
    Returns seconds (``latency``), and the capacity per real use and per second.
    """
    out = {"capacity_per_use": ch.awgn_capacity_per_real_use(snr_db),
           "capacity_bps": ch.awgn_capacity_bps(snr_db, bandwidth_hz), "latency": {}}
    for s in data["separate"]:
        out["latency"][s["method"]] = ch.capacity_airtime_s(s["bits"], snr_db, bandwidth_hz)
    point = _jscc_at(data["jscc_awgn"], snr_db, "awgn")
    out["jscc"] = point
    out["latency"]["framework-jscc"] = ch.awgn_airtime_s(point["k"], bandwidth_hz) if point else math.inf
    return out


def bsc_readout(data: dict, p: float) -> dict:
    """What the BSC explorers show at flip rate ``p``: capacity and channel uses per image per scheme."""
    out = {"capacity": ch.bsc_capacity(p), "uses": {}}
    for s in data["separate"]:
        out["uses"][s["method"]] = ch.bsc_channel_uses(s["bits"], p)
    point = _jscc_at(data["jscc_bsc"], p, "bsc")
    out["jscc"] = point
    out["uses"]["framework-jscc"] = point["k"] if point else math.inf
    return out


def _readout_name(method: str) -> str:
    return "".join(c if "a" <= c <= "z" else "_" for c in method)


def _airtime(t: float) -> str:
    """Seconds on the air: µs below a millisecond, else as :func:`~coinfer.views.style.format_seconds`."""
    from coinfer.views.style import format_fixed, format_seconds

    return f"{format_fixed(t * 1e6, 2)} \u00b5s" if t < 1e-3 else format_seconds(t)


def _si(x: float, unit: str) -> str:
    """``2.77e6, "bit/s"`` -> ``"2.77 Mbit/s"`` (the explorers' ``util.si``)."""
    from coinfer.views.style import format_fixed

    for scale, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= scale:
            return format_fixed(x / scale, 2) + prefix + unit
    return format_fixed(x, 0 if x == round(x) else 2) + " " + unit


def _sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits: plenty for a drawn point, and a smaller page."""
    return float(f"{x:.{digits}g}")


def _color(method: str) -> str:
    return hex_color(method_style(method).color)


SNR_SLIDER_DB = tuple(float(x) for x in range(-5, 26))
FLIP_SLIDER = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
BANDWIDTH_SLIDER_MHZ = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def awgn_output(data: dict, state: dict) -> dict:
    """What the AWGN explorer shows at one slider state: capacity, each scheme's latency, the plot.

    The one logic of the explorer (the numbers are :func:`awgn_readout`'s): :func:`awgn_twin`
    precomputes it for every state, :func:`channel_explorer` calls it on every move.

    Parameters
    ----------
    data : dict
        From :func:`explorer_data`.
    state : dict
        ``snr`` (dB, per real dimension) and ``bw`` (bandwidth W in MHz).

    Returns
    -------
    dict
        ``text`` (``cap``, one entry per separate scheme, ``jscc``: latency at the slider's
        bandwidth) and ``plot`` (real channel uses per image against SNR, which the bandwidth does
        not change: latency = uses / 2W; the slider's SNR marked).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import awgn_output, explorer_data
    >>> data = explorer_data(load_table(results_dir() / "jscc_quick.json"))
    >>> awgn_output(data, {"snr": 10.0, "bw": 1.0})["text"]["cap"]
    '1.730 bit per real use, 3.46 Mbit/s'
    """
    from coinfer.views.style import format_fixed

    snr, W = state["snr"], state["bw"] * 1e6
    numbers = awgn_readout(data, snr, W)
    text = {"cap": f"{format_fixed(numbers['capacity_per_use'], 3)} bit per real use, "
                   f"{_si(numbers['capacity_bps'], 'bit/s')}"}
    series, highlight = [], []
    for s in data["separate"]:
        points = [[x, _sig(s["bits"] / ch.awgn_capacity_per_real_use(x))] for x in SNR_SLIDER_DB[::3]]
        series.append({"label": s["label"], "points": points, "color": _color(s["method"]), "line": True,
                       "marker": "none"})
        t = numbers["latency"][s["method"]]
        text[_readout_name(s["method"])] = f"{_airtime(t)} ({format_fixed(s['bits'], 1)} bits)"
        highlight.append({"x": snr, "y": _sig(s["bits"] / numbers["capacity_per_use"]), "color": _color(s["method"])})
    series.append({"label": "JSCC (trained points)", "color": _color("framework-jscc"), "line": True,
                   "points": [[p["value"], p["k"]] for p in data["jscc_awgn"]]})
    point = numbers["jscc"]
    if point:
        t = numbers["latency"]["framework-jscc"]
        text["jscc"] = (f"{_airtime(t)} (k = {_uses(point)} real uses, trained at {point['value']:g} dB, "
                        f"accuracy {format_fixed(100 * point['accuracy'], 1)}%)")
        highlight.append({"x": snr, "y": point["k"], "color": _color("framework-jscc"), "marker": "star",
                          "label": "JSCC"})
    else:
        text["jscc"] = "no JSCC code trained for a channel this noisy"
    return {"text": text, "plot": {"series": series, "highlight": highlight,
                                   "vlines": [{"x": snr, "color": "#999", "dash": "3 3"}]}}


def bsc_output(data: dict, state: dict) -> dict:
    """What the BSC explorer shows at one slider state: capacity, each scheme's channel uses, the plot.

    Parameters
    ----------
    data : dict
        From :func:`explorer_data`.
    state : dict
        ``p``: the bit flip probability.

    Returns
    -------
    dict
        ``text`` (``cap``, one entry per separate scheme, ``jscc``) and ``plot`` (channel uses
        against p, the slider's p marked).

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import bsc_output, explorer_data
    >>> data = explorer_data(load_table(results_dir() / "jscc_quick.json"))
    >>> bsc_output(data, {"p": 0.11})["text"]["cap"]
    '0.5001 bit per channel use'
    """
    from coinfer.views.style import format_fixed

    p = state["p"]
    numbers = bsc_readout(data, p)
    text = {"cap": f"{format_fixed(numbers['capacity'], 4)} bit per channel use"}
    series, highlight = [], []
    for s in data["separate"]:
        points = [[x, _sig(ch.bsc_channel_uses(s["bits"], x))] for x in FLIP_SLIDER]
        series.append({"label": s["label"], "points": points, "color": _color(s["method"]), "line": True,
                       "marker": "none"})
        u = numbers["uses"][s["method"]]
        text[_readout_name(s["method"])] = f"{format_fixed(u, 1)} uses ({format_fixed(s['bits'], 1)} bits)"
        highlight.append({"x": p, "y": _sig(u), "color": _color(s["method"])})
    series.append({"label": "JSCC (trained points)", "color": _color("framework-jscc"), "line": True,
                   "points": [[q["value"], q["k"]] for q in data["jscc_bsc"]]})
    point = numbers["jscc"]
    if point:
        text["jscc"] = (f"{_uses(point)} uses (trained at p = {point['value']:g}, accuracy "
                        f"{format_fixed(100 * point['accuracy'], 1)}%)")
        highlight.append({"x": p, "y": point["k"], "color": _color("framework-jscc"), "marker": "star",
                          "label": "JSCC"})
    else:
        text["jscc"] = "no JSCC code trained for a channel this noisy"
    return {"text": text, "plot": {"series": series, "highlight": highlight,
                                   "vlines": [{"x": p, "color": "#999", "dash": "3 3"}]}}


def _awgn_parts(data: dict, snr_db: float, bandwidth_mhz: float):
    from coinfer.views.explorer import Plot, Slider

    readouts = [("cap", "capacity")] + [(_readout_name(s["method"]), s["label"]) for s in data["separate"]]
    sliders = [Slider("snr", "SNR per real dimension (dB)", SNR_SLIDER_DB, value=float(snr_db)),
               Slider("bw", "bandwidth W (MHz)", BANDWIDTH_SLIDER_MHZ, value=float(bandwidth_mhz))]
    return (sliders, readouts + [("jscc", "JSCC (learned, through the channel)")],
            Plot(xlabel="SNR (dB)", ylabel="real channel uses per image (latency = uses / 2W)", logy=True))


def _bsc_parts(data: dict, p: float):
    from coinfer.views.explorer import Plot, Slider

    readouts = [("cap", "capacity 1 - H2(p)")] + [(_readout_name(s["method"]), s["label"]) for s in data["separate"]]
    return ([Slider("p", "bit flip probability p", FLIP_SLIDER, value=p)],
            readouts + [("jscc", "JSCC (learned, through the channel)")],
            Plot(xlabel="bit flip probability p", ylabel="channel uses per image", logy=True))


def awgn_twin(table, snr_db: float = 10.0, bandwidth_mhz: float = 1.0):
    """Panel (a)'s explorer for the static book: sliders over SNR (dB) and bandwidth W (MHz), every
    state of :func:`awgn_output` precomputed.

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    snr_db, bandwidth_mhz : float
        The state shown first (values of :data:`SNR_SLIDER_DB`, :data:`BANDWIDTH_SLIDER_MHZ`).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import awgn_twin
    >>> 'data-slider="bw"' in awgn_twin(load_table(results_dir() / "jscc_quick.json")).html
    True
    """
    from coinfer.views.explorer import precomputed_explorer

    data = explorer_data(table)
    sliders, readouts, plot = _awgn_parts(data, snr_db, bandwidth_mhz)
    return with_downloads(precomputed_explorer(
        sliders, lambda state: awgn_output(data, state), readouts=readouts, plot=plot,
        title="AWGN: communication latency per image (runs in the page, no kernel)",
        note=("Separate schemes at the Shannon capacity W log2(1 + SNR); JSCC sends k real symbols, 2W per "
              "second. JSCC readout: the code trained at the highest SNR not above the slider's.")),
        "awgn-explorer", table=table)


def bsc_twin(table, p: float = 0.05):
    """Panel (b)'s explorer for the static book: a slider over the bit flip probability p, every
    state of :func:`bsc_output` precomputed.

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    p : float
        The flip probability shown first (a value of :data:`FLIP_SLIDER`).

    Returns
    -------
    coinfer.views.explorer.StaticExplorer

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import bsc_twin
    >>> 'data-slider="p"' in bsc_twin(load_table(results_dir() / "jscc_quick.json")).html
    True
    """
    from coinfer.views.explorer import precomputed_explorer

    data = explorer_data(table)
    sliders, readouts, plot = _bsc_parts(data, p)
    return with_downloads(precomputed_explorer(
        sliders, lambda state: bsc_output(data, state), readouts=readouts, plot=plot,
        title="BSC: channel uses per image (runs in the page, no kernel)",
        note=("Separate schemes: bits / (1 - H2(p)) channel uses with an ideal channel code; JSCC sends k bits. "
              "JSCC readout: the code trained at the lowest p not below the slider's.")),
        "bsc-explorer", table=table)


def channel_explorer(table, snr_db: float = 10.0, bandwidth_mhz: float = 1.0, p: float = 0.05):
    """Both explorers with ipywidgets (Jupyter, Colab): the sliders and outputs of :func:`awgn_twin`
    and :func:`bsc_twin`, computed on every move by :func:`awgn_output` and :func:`bsc_output`.

    Parameters
    ----------
    table : LookupTable
        The JSCC table.
    snr_db, bandwidth_mhz, p : float
        The state shown first.

    Returns
    -------
    ipywidgets.VBox
        The AWGN explorer, then the BSC one.

    Examples
    --------
    >>> from coinfer.paths import results_dir
    >>> from coinfer.results import load_table
    >>> from coinfer.views.jscc import channel_explorer
    >>> box = channel_explorer(load_table(results_dir() / "jscc_quick.json"))
    >>> "bit per real use" in box.children[0].children[-1].value
    True
    """
    import ipywidgets as w

    from coinfer.views.explorer import live_explorer

    data = explorer_data(table)
    sliders, readouts, plot = _awgn_parts(data, snr_db, bandwidth_mhz)
    awgn = live_explorer(sliders, lambda state: awgn_output(data, state), readouts=readouts, plot=plot,
                         title="AWGN: communication latency per image")
    sliders, readouts, plot = _bsc_parts(data, p)
    bsc = live_explorer(sliders, lambda state: bsc_output(data, state), readouts=readouts, plot=plot,
                        title="BSC: channel uses per image")
    return w.VBox([awgn, bsc])
