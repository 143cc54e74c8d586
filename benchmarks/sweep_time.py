"""Where a sweep's time goes: per-method cell counts and wall times from a gathered lookup table.

    python benchmarks/sweep_time.py [--preset quick]

Reads ``data/results/sweep_<preset>.json`` (each record's ``extra["wall_time_s"]`` is its cell's
own wall time; shared work, such as a pruned model, is charged to the first cell that needed it),
prints a summary and writes ``benchmarks/out/sweep_<preset>.json``. Timings are of the machine in
the table's provenance, shared or not; they are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from coinfer.paths import project_root, results_dir
from coinfer.results import load_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    table = load_table(results_dir() / f"sweep_{args.preset}.json")
    per_method: dict = defaultdict(lambda: {"cells": 0, "wall_time_s": 0.0, "slowest_s": 0.0})
    for r in table.records:
        entry = per_method[r.method]
        entry["cells"] += 1
        entry["wall_time_s"] = round(entry["wall_time_s"] + r.extra["wall_time_s"], 1)
        entry["slowest_s"] = max(entry["slowest_s"], r.extra["wall_time_s"])
    total = sum(e["wall_time_s"] for e in per_method.values())
    out = {"preset": args.preset, "hardware": table.provenance.hardware, "command": table.provenance.command,
           "cells": len(table.records), "cell_wall_time_s": round(total, 1),
           "table_bytes": (results_dir() / f"sweep_{args.preset}.json").stat().st_size,
           "per_method": dict(per_method)}
    print(f"{len(table.records)} cells, {total / 60:.1f} min of cell wall time on {table.provenance.hardware}")
    for method, e in per_method.items():
        print(f"  {method:>15}: {e['cells']:3d} cells, {e['wall_time_s'] / 60:5.1f} min, slowest {e['slowest_s']:.0f} s")
    path = project_root() / "benchmarks" / "out" / f"sweep_{args.preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
