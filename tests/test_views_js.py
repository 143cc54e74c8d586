"""The explorers' JavaScript run in node against their Python forms: the number formats of
``static/explorer.js`` (``util``) and chapter 6's chooser (``static/latency.js``). Skips without
node; the browser tests (tests/test_latency_browser.py) drive the same code in Chromium."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import coinfer.views
from coinfer.views.style import format_fixed, format_int, format_seconds

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

STATIC = Path(coinfer.views.__file__).parent / "static"


def run_node(body: str, payload) -> object:
    """Run ``body`` in node with ``util`` (explorer.js's, as the page builds it) and ``payload`` (JSON)
    defined; ``body`` returns what is sent back (as JSON)."""
    source = (STATIC / "explorer.js").read_text(encoding="utf-8")
    start = source.index("var util = {")
    end = source.index("\n};\n", start) + 3
    script = ("var inputs = {};\n" + source[start:end] + "\nvar payload = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
              "process.stdout.write(JSON.stringify((function () {" + body + "})()));")
    done = subprocess.run(["node", "-e", script], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def _numbers() -> list[float]:
    """Halfway cases (exact in binary, and short decimals that are not: 1.005 is 1.00499...),
    signs and zeros, and random numbers of every size below 1e21."""
    rng = random.Random(0)
    xs = [0.125, 0.375, 2.5, 0.5, 1.5, -0.5, -0.4, -2.5, 89.125, 0.0005, 0.00125, 1234.5, -0.001, 1.005, 0.045,
          -0.0, 0.0, 5e-324, 123456789.125, 89.05, 100 * 0.8905, 1e-7, 999.995, 1e20 + 0.5]
    for _ in range(600):
        xs.append(rng.randrange(-10 ** 6, 10 ** 6) / 2 ** rng.randrange(0, 12))            # many exact ties
        xs.append(rng.randrange(-10 ** 6, 10 ** 6) / 10 ** rng.randrange(0, 6) + 5 * 10 ** -rng.randrange(1, 7))
        xs.append(rng.uniform(-1e4, 1e4))
        bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if abs(bits) < 1e21:                # not nan or inf, and util.fixed's exact range
            xs.append(bits)
    return xs


def test_util_formats_numbers_digit_for_digit_as_the_python_views():
    xs = _numbers()
    js = run_node("return payload.map(function (x) { return [0, 1, 2, 3].map(function (d) { return util.fixed(x, d); })"
                  ".concat([util.int(x), util.seconds(Math.abs(x))]); });", xs)
    wrong = [(x, p, j) for x, j in zip(xs, js)
             for p in [[format_fixed(x, d) for d in range(4)] + [format_int(x), format_seconds(abs(x))]] if p != j]
    assert not wrong, wrong[:5]
    # Python's rounding, halves to even: what the kernel explorers have always shown
    assert js[:3] == [["0", "0.1", "0.12", "0.125", "0", "125.0 ms"], ["0", "0.4", "0.38", "0.375", "0", "375.0 ms"],
                      ["2", "2.5", "2.50", "2.500", "2", "2.50 s"]]
    inf, nan = float("inf"), float("nan")
    assert run_node("return [util.fixed(Infinity, 2), util.fixed(-Infinity, 1), util.fixed(NaN, 2), "
                    "util.seconds(Infinity)];", None) == [format_fixed(inf, 2), format_fixed(-inf, 1),
                                                          format_fixed(nan, 2), format_seconds(inf)]


def test_the_page_chooser_chooses_as_the_chapter_at_its_default_state(tiny_net):
    from test_views_latency import on_threshold_records

    from coinfer.core.latency import DeviceSpec, ServerSpec, choose
    from coinfer.views.chooser import LATENCY_RENDER, explorer_data, latency_output, latency_twin, slider_environment
    from coinfer.views.latency import config_label

    threshold = 0.8906
    records = on_threshold_records(tiny_net, threshold)
    device, server = DeviceSpec("d", 1e8, 1e9), ServerSpec("s", 1e11)
    sliders = latency_twin(records, device, server, threshold).sliders
    states = [{s.name: s.values[s.index] for s in sliders}]                        # where the page starts
    rng = random.Random(1)
    states += [{s.name: rng.choice(s.values) for s in sliders} for _ in range(30)]
    render = LATENCY_RENDER.split("*/", 1)[1]         # the function after its comment
    js = run_node(f"var render = ({render});"
                  "return payload.states.map(function (s) { return render(payload.data, s, util); });",
                  {"data": explorer_data(records), "states": states})
    env, _ = slider_environment(states[0])
    best = choose(records, env, threshold)                  # what the chapter's figures choose
    assert best.record.code_size == "on-threshold"
    assert js[0]["text"]["choice"].startswith(config_label(best.record) + " (validation 89.06%")
    for state, page in zip(states, js):
        assert page == json.loads(json.dumps(latency_output(records, state))), state
