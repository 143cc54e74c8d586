"""coinfer.views.explorer: the kernel-free explorer builder and chapter 1's split-point explorers.

What the JavaScript does in a browser is tested in test_book_browser.py; here: the HTML the
builder writes, its validation, and the numbers both explorers show.
"""

import json
import re
from html.parser import HTMLParser

import pytest

from coinfer.core.network import SPLIT_POINTS, resnet18
from coinfer.core.costs import profile_splits
from coinfer.views.amplification import (rate_values_kBps, split_point_data, split_point_explorer,
                                         split_point_readout, split_point_twin)
from coinfer.views.explorer import (Plot, Slider, columns, format_fixed, format_int, format_macs, format_seconds,
                                    static_explorer)

RENDER = "function (data, state, util) { return {text: {y: util.int(data.y[util.index('i')])}}; }"


class _Tags(HTMLParser):
    """Collects every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html):
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def full_rows():
    return profile_splits(resnet18(width=1.0))


def tiny(**kwargs):
    args = dict(data={"y": [5, 50, 500]}, sliders=[Slider("i", "point", values=[0, 1, 2], value=1)],
                readouts=[("y", "y value")], render=RENDER, plot=Plot("x", "y", logx=True))
    args.update(kwargs)
    return static_explorer(**args)


def test_formatting_matches_the_documented_examples():
    assert format_int(1234567.8) == "1,234,568"
    assert format_fixed(42.666, 2) == "42.67"
    assert format_seconds(0.0262144) == "26.2 ms"
    assert format_seconds(1.048576) == "1.05 s"
    assert format_seconds(float("inf")) == "inf"
    assert format_macs(154_076_160) == "154.08 M MACs"


def test_slider_constructors_and_validation():
    s = Slider.log("rate", "rate (kB/s)", 1, 1000, 4, value=12)
    assert s.values == (1.0, 10.0, 100.0, 1000.0) and s.value == 10.0 and s.index == 1
    lin = Slider.linear("p", "sparsity", 0.0, 0.9, 10)
    assert lin.values[0] == 0.0 and lin.values[-1] == 0.9 and len(lin.values) == 10
    assert Slider("a", "a", ["x", "y"]).shown == ("x", "y")
    with pytest.raises(ValueError, match="JavaScript identifier"):
        Slider("link rate", "x", [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        Slider.log("a", "x", 1, 1.001, 5, digits=2)
    with pytest.raises(ValueError, match="at least 2 values"):
        Slider("a", "x", [1])
    with pytest.raises(ValueError, match="not one of its values"):
        Slider("a", "x", [1, 2], value=3)
    with pytest.raises(ValueError, match="2 labels for 3 values"):
        Slider("a", "x", [1, 2, 3], labels=["one", "two"])
    with pytest.raises(ValueError, match="start and stop > 0"):
        Slider.log("a", "x", 0, 10, 3)


def test_explorer_html_is_self_contained_with_one_range_input_per_slider():
    twin = tiny(sliders=[Slider("i", "point", values=[0, 1, 2], value=1),
                         Slider("j", "other", values=["a", "b"])])
    found = tags(twin.html)
    ranges = [a for t, a in found if t == "input"]
    assert [(a["data-slider"], a["type"], a["min"], a["max"], a["value"]) for a in ranges] == [
        ("i", "range", "0", "2", "1"), ("j", "range", "0", "1", "0")]
    # Nothing is fetched: no script/img/link sources, no stylesheet links, no CSS url().
    assert not [a for t, a in found if "src" in a or (t == "link")]
    assert not [a["href"] for t, a in found if "href" in a]
    assert "@import" not in twin.html and not re.search(r"url\((?!#)", twin.html)  # only url(#clip)
    # Every id is unique and carries the explorer's id.
    ids = [a["id"] for _, a in found if "id" in a]
    assert len(ids) == len(set(ids)) and all(i.startswith(twin.element_id) for i in ids)
    assert twin._repr_html_() == twin.html
    assert twin.to_page().startswith("<!DOCTYPE html>") and twin.html in twin.to_page()


def test_identical_explorers_get_distinct_ids_and_explicit_ids_are_checked():
    a, b = tiny(), tiny()
    assert a.element_id != b.element_id
    assert tiny(element_id="my-twin").element_id == "my-twin"
    with pytest.raises(ValueError, match="element_id"):
        tiny(element_id="1 bad id")


def test_data_round_trips_through_the_embedded_json_and_cannot_close_the_script():
    data = {"y": [5, 50, 500], "note": "</script><script>alert(1)</script> & <b>"}
    twin = tiny(data=data)
    assert twin.html.count("</script>") == 2          # the spec and the runtime, nothing injected
    payload = re.search(r"<script type=\"application/json\" data-spec>(.*?)</script>", twin.html, re.S).group(1)
    spec = json.loads(payload)
    assert spec["data"] == data
    assert spec["sliders"][0] == {"name": "i", "label": "point", "values": [0, 1, 2],
                                  "labels": ["0", "1", "2"], "index": 1}
    assert spec["plot"]["logx"] is True and spec["plot"]["logy"] is False


def test_bad_explorer_definitions_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="NaN"):
        tiny(data={"y": [float("nan")]})
    with pytest.raises(TypeError, match="JSON-serializable"):
        tiny(data={"y": {1, 2}})
    with pytest.raises(ValueError, match="at least one Slider"):
        tiny(sliders=[])
    with pytest.raises(ValueError, match="unique"):
        tiny(sliders=[Slider("i", "a", [1, 2]), Slider("i", "b", [1, 2])])
    with pytest.raises(ValueError, match="function expression"):
        tiny(render="return 1;")
    with pytest.raises(ValueError, match="readout name"):
        tiny(readouts=[("bits sent", "x")])


def test_split_point_data_sends_float32_or_8bit_features_and_the_image_at_input(full_rows):
    data32 = split_point_data(full_rows, 32, input_bits=24576)
    data8 = split_point_data(full_rows, 8)
    by32 = {p["point"]: p for p in data32["points"]}
    by8 = {p["point"]: p for p in data8["points"]}
    assert [p["point"] for p in data32["points"]] == list(SPLIT_POINTS)
    assert by32["layer2.1"]["bits"] == 32 * 128 * 16 * 16 and by8["layer2.1"]["bits"] == 8 * 128 * 16 * 16
    assert by32["layer2.1"]["label"] == "layer2.1 (s3)" and by32["layer2.1"]["shape"] == "128x16x16"
    assert by32["input"]["bits"] == 24576          # the uint8 image, not its float32 tensor
    assert by8["input"]["bits"] == 8 * 3 * 32 * 32  # without input_bits: the tensor at 8 bits
    assert by32["pool"]["bits"] == 32 * 512
    with pytest.raises(ValueError, match="bits_per_element must be 8 or 32"):
        split_point_data(full_rows, 16)
    with pytest.raises(ValueError, match="input_bits"):
        split_point_data(full_rows, 32, input_bits=0)


def test_split_point_readout_numbers(full_rows):
    s3 = {p["point"]: p for p in split_point_data(full_rows, 32)["points"]}["layer2.1"]
    shown = split_point_readout(s3, rate_kBps=100, input_bits=24576)
    # 1,048,576 bits at 100 kB/s = 800,000 bit/s -> 1.31 s; 42.67 times the raw CIFAR-10 image.
    assert shown == {"device": format_macs(s3["device_macs"]), "shape": "128x16x16",
                     "bits": "1,048,576 bits (131.1 kB)", "time": "1.31 s",
                     "amplification": "42.67 x the input"}
    assert split_point_readout(s3, rate_kBps=1000)["time"] == "131.1 ms"
    with pytest.raises(ValueError, match="rate_kBps"):
        split_point_readout(s3, rate_kBps=0)


def test_rate_values_are_increasing_1_2_5_steps():
    rates = rate_values_kBps()
    assert rates[:4] == [1, 2, 5, 10] and rates[-1] == 10_000
    assert all(a < b for a, b in zip(rates, rates[1:]))


def test_split_point_twin_starts_at_the_requested_point_and_rate(full_rows):
    twin = split_point_twin(full_rows, input_bits=24576, split="layer3.1", rate_kBps=40)
    ranges = {a["data-slider"]: a for t, a in tags(twin.html) if t == "input"}
    assert int(ranges["split"]["value"]) == SPLIT_POINTS.index("layer3.1")
    assert int(ranges["split"]["max"]) == len(SPLIT_POINTS) - 1
    assert rate_values_kBps()[int(ranges["rate"]["value"])] == 50    # nearest offered rate to 40
    with pytest.raises(ValueError, match="unknown split point 'layer9'"):
        split_point_twin(full_rows, split="layer9")


def test_ipywidgets_explorer_updates_when_its_sliders_move(full_rows):
    pytest.importorskip("ipywidgets")
    box = split_point_explorer(full_rows, input_bits=24576, split="layer2.1", rate_kBps=100)
    point, rate, shown = box.children
    assert "1.31 s" in shown.value and "42.67 x the input" in shown.value
    point.value = "pool"
    # 512 float32 values = 16,384 bits; at 100 kB/s (800,000 bit/s) that is 20.5 ms.
    assert "16,384 bits" in shown.value and "20.5 ms" in shown.value and "0.67 x the input" in shown.value
    rate.value = 1000
    assert "2.0 ms" in shown.value
    with pytest.raises(ValueError, match="unknown split point"):
        split_point_explorer(full_rows, split="nowhere")


def test_columns_turn_records_into_json_lists():
    from coinfer.results import Record

    records = [Record(method="original", split=s, accuracy=0.9, device_macs=m, device_params=1,
                      server_macs=2, bits_per_image=b) for s, m, b in (("stem", 10, 800.0), ("pool", 99, 16.0))]
    assert columns(records, ["split", "device_macs", "bits_per_image"]) == {
        "split": ["stem", "pool"], "device_macs": [10, 99], "bits_per_image": [800.0, 16.0]}
    assert columns([{"a": 1}, {"a": 2}], ["a"]) == {"a": [1, 2]}
    json.dumps(columns(records, ["extra", "channel"]))
    with pytest.raises(KeyError, match="no field 'latency'"):
        columns(records, ["latency"])


# ---------------------------------------------------------------------------------------------
# One readout, two forms: precomputed (kernel-free) and live (ipywidgets)
# ---------------------------------------------------------------------------------------------

def _spec(html):
    return json.loads(re.search(r'<script type="application/json" data-spec>(.*?)</script>', html, re.S).group(1))


def test_slider_states_are_the_product_of_the_sliders_values():
    from coinfer.views.explorer import slider_states

    states = slider_states([Slider("a", "a", [1, 2, 3]), Slider("b", "b", ["x", "y"])])
    assert len(states) == 6
    assert states[0] == ((0, 0), {"a": 1, "b": "x"}) and states[-1] == ((2, 1), {"a": 3, "b": "y"})


def test_precomputed_explorer_calls_the_readout_once_per_state_and_stores_shared_parts_once():
    from coinfer.views.explorer import precomputed_explorer

    calls = []

    def readout(state):
        calls.append(dict(state))
        return {"text": {"y": f"{state['a'] * 10} {state['b']}"},
                "plot": {"series": [{"label": "a", "points": [[state["a"], 1]]}]}}   # depends on a only

    twin = precomputed_explorer([Slider("a", "a", [1, 2, 3], value=2), Slider("b", "b", ["x", "y"])], readout,
                                readouts=[("y", "y")], plot=Plot("x", "y"))
    assert len(calls) == 6
    data = _spec(twin.html)["data"]
    assert data["sliders"] == ["a", "b"] and len(data["states"]) == 6
    assert len(data["parts"]) == 6 + 3           # six readouts, three series lists (one per value of a)
    assert data["fields"] == [["text", "y"], ["plot", "series"]]
    text, series = data["states"]["2,1"]          # a = 3, b = "y"
    assert data["parts"][text] == "30 y" and data["parts"][series][0]["points"] == [[3, 1]]
    assert "no precomputed output" in twin.html   # the lookup render, from static/lookup.js


def test_precomputed_explorer_axes_hold_every_states_points():
    """The page took its axes from the first state drawn: chapter 3's rate explorer, opened at layer3.1
    (69-91 %), drew layer2.1's points (38 %) and their label outside the plot."""
    from coinfer.views.explorer import precomputed_explorer

    def readout(state):
        y = {"near": [70, 90], "far": [38, 40]}[state["split"]]
        return {"plot": {"series": [{"label": "s", "points": [[10, y[0]], [1000, y[1]]]}],
                         "highlight": [{"x": 10 ** state["w"], "y": y[0], "label": "w"}], "hlines": [{"y": 95}]}}

    twin = precomputed_explorer([Slider("split", "split", ["near", "far"]), Slider("w", "w", [0, 4])], readout,
                                plot=Plot("bits", "accuracy (%)", logx=True))
    plot = _spec(twin.html)["plot"]
    assert plot["ylim"] == pytest.approx([38 - 2.85, 95 + 2.85])     # every state's, padded 5 % as the page pads
    assert plot["xlim"] == [1.0, 10000.0]                            # decades around the highlights at 1 and 10^4
    fixed = precomputed_explorer([Slider("split", "split", ["near", "far"]), Slider("w", "w", [0, 4])], readout,
                                 plot=Plot("bits", "accuracy (%)", logx=True, ylim=(0, 100)))
    assert _spec(fixed.html)["plot"]["ylim"] == [0, 100]            # limits given are kept


def test_the_kernel_plot_draws_a_point_at_zero_on_a_log_axis_at_its_left_edge_as_the_page_does():
    """Chapter 1's 'input' split and chapter 6's PNG choice sit at 0 device MACs: the page draws them at the
    left edge (the axis label says so), matplotlib dropped them from the log axis."""
    import matplotlib

    matplotlib.use("Agg")
    from coinfer.views.explorer import draw_plot

    out = {"series": [{"label": "splits", "points": [[0, 5000], [2e6, 400], [5e8, 20]]}],
           "highlight": [{"x": 0, "y": 5000, "label": "input"}]}
    ax = draw_plot(out, Plot("MACs (0 drawn at the left edge)", "bits", logx=True, logy=True))
    assert ax.get_xlim() == pytest.approx((1e6, 1e9)) and ax.get_ylim() == pytest.approx((10, 1e4))
    series, star = ax.get_lines()
    assert series.get_xdata()[0] == 1e6 and list(star.get_xdata()) == [1e6]   # at the edge, inside the axes
    assert ax.texts[0].xy == (1e6, 5000)


def test_precomputed_explorer_refuses_bad_outputs_and_too_many_states():
    from coinfer.views.explorer import precomputed_explorer

    with pytest.raises(ValueError, match="keys among"):
        precomputed_explorer([Slider("a", "a", [1, 2])], lambda s: {"txt": {}})
    with pytest.raises(ValueError, match="exceed max_states=3"):
        precomputed_explorer([Slider("a", "a", [1, 2]), Slider("b", "b", [1, 2])], lambda s: {}, max_states=3)


def test_runtime_and_style_are_package_data_files():
    from importlib import resources

    static = resources.files("coinfer.views").joinpath("static")
    twin = tiny()
    for name in ("explorer.js", "explorer.css"):
        text = static.joinpath(name).read_text()
        marker = "__ID__" if name.endswith(".js") else "#ID"
        assert text.replace(marker, twin.element_id if marker == "__ID__" else f"#{twin.element_id}") in twin.html


def test_live_explorer_shows_the_same_readout_and_draws_the_plot():
    pytest.importorskip("ipywidgets")
    from coinfer.views.explorer import live_explorer

    def readout(state):
        return {"text": {"y": f"{state['a'] * 10} <units>"}, "html": {"z": "<i>z</i>"},
                "plot": {"series": [{"label": "a", "points": [[1, 1], [state["a"], 2]]}]}}

    box = live_explorer([Slider("a", "a", [1, 2, 3])], readout, readouts=[("y", "y"), ("z", "z")],
                        plot=Plot("x", "y"))
    slider, shown = box.children
    assert "10 &lt;units&gt;" in shown.value and "<i>z</i>" in shown.value and "data:image/png;base64," in shown.value
    slider.value = 3
    assert "30 &lt;units&gt;" in shown.value


def test_draw_plot_draws_series_lines_and_highlights():
    import matplotlib

    matplotlib.use("Agg")
    from coinfer.views.explorer import draw_plot

    ax = draw_plot({"series": [{"label": "s", "points": [[1, 10], [10, 100]], "color": "#ff0000"},
                               {"label": "", "points": [[2, 20]], "line": False}],
                    "hlines": [{"y": 50, "label": "h"}], "highlight": [{"x": 10, "y": 100, "label": "now"}]},
                   Plot("x", "y", logx=True, logy=True, xlim=(1, 100)))
    assert ax.get_xscale() == "log" and ax.get_xlim() == (1, 100)
    assert len(ax.get_lines()) == 4 and "now" in {t.get_text() for t in ax.texts}


def test_every_method_has_one_style():
    from coinfer.views.style import METHOD_STYLES, hex_color, method_style, ordered_methods

    assert method_style("framework") == METHOD_STYLES["framework"]
    assert len({s.color for m, s in METHOD_STYLES.items() if m in ("framework", "original", "2-step-pruning",
                                                                      "bottlenet++", "png")}) == 5
    assert method_style("new-method", 0).label == "new-method"
    assert method_style("a", 0).color != method_style("b", 1).color
    assert ordered_methods(["x", "png", "framework"]) == ["framework", "png", "x"]
    assert hex_color("tab:blue") == "#1f77b4"


def test_every_method_of_the_committed_tables_has_a_style():
    from coinfer.paths import results_dir
    from coinfer.results import load_table
    from coinfer.views.style import METHOD_STYLES

    methods = {r.method for path in results_dir().glob("*.json") for r in load_table(path).records}
    assert methods and methods <= set(METHOD_STYLES), sorted(methods - set(METHOD_STYLES))


def test_the_kernel_form_shows_the_stacked_bar_and_the_note_as_the_page_does():
    """Chapter 6's latency explorer drew its latency bar only in the page: live_explorer dropped ``bars``
    and ``note``."""
    from coinfer.views.explorer import live_explorer

    pytest.importorskip("ipywidgets")
    bars = [{"label": "device 3 ms", "value": 0.003, "color": "#0072b2"},
            {"label": "link 1 ms", "value": 0.001, "color": "#e69f00"}]
    box = live_explorer([Slider("n", "n", [1, 2])], lambda s: {"text": {"t": "x"}, "bars": bars}, readouts=[("t", "t")],
                        bars_label="latency of the chosen configuration", note="1 KB/s = 8000 bit/s")
    shown = box.children[-1].value
    assert "latency of the chosen configuration" in shown and "1 KB/s = 8000 bit/s" in shown
    assert "width:75%;background:#0072b2" in shown and "width:25%;background:#e69f00" in shown
    assert "device 3 ms" in shown and "link 1 ms" in shown
