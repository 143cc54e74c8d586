"""The benchmark scripts run: each compiles, and the two whose committed measurements the book cites
(data/results/benchmarks/) run end to end on tiny settings and write a report with its provenance.
Their timings are never asserted: they depend on the machine and its load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_script_compiles(script):
    compile(script.read_text(encoding="utf-8"), str(script), "exec")


@pytest.mark.parametrize("script,args", [
    ("plan_shares.py", ["--width", "0.125", "--reps", "1", "--batch-size", "2"]),
    ("codecs_together.py", ["--width", "0.125", "--images", "8", "--splits", "layer3.1"]),
])
def test_the_cited_benchmarks_write_a_report_with_provenance(script, args, tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)],
                   check=True, cwd=ROOT, env=env, capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    assert report["schema"].startswith("coinfer.benchmark.")
    assert report["provenance"]["command"].endswith(f"--out {out}") and report["provenance"]["hardware"]
    assert report["rows"] and all(r.get("measured_share", r.get("factor", 0)) > 0 for r in report["rows"])
