"""Wall time of the Fig. 5 JSCC experiment on this machine (CPU, or the GPU if there is one).

Runs ``coinfer.experiments.jscc.run`` for a preset and prints the total time, the time per trained codec
and the Fig. 5 numbers; writes them to ``benchmarks/out/jscc_<preset>_<device>.json`` (git-ignored)
and the lookup table beside it. Not a test: timings depend on the machine and its load.

    python benchmarks/jscc_time.py --preset quick [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch

from coinfer.experiments.jscc import run as run_jscc
from coinfer.views.jscc import fig5_rows, mismatch_grid
from coinfer.config import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    trainings = []

    def log(message: str) -> None:
        print(message, flush=True)
        match = re.search(r"\((\d+) s(?:, \d+ s CPU)?\)$", message)   # the training line: "(12 s, 11 s CPU)"
        if match and " k=" in message:
            trainings.append(int(match.group(1)))

    start = time.time()
    table = run_jscc(get_preset(args.preset), log=log)
    wall = time.time() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    table.save(out / f"jscc_{args.preset}_{slug}_table.json")
    summary = {"preset": args.preset, "device": name, "wall_s": round(wall, 1), "trainings": len(trainings),
               "seconds_per_training": round(sum(trainings) / max(1, len(trainings)), 1),
               "fig5": fig5_rows(table),
               "mismatch": {kind: [list(x) if not hasattr(x, "tolist") else x.tolist() for x in mismatch_grid(table, kind)]
                            for kind in ("awgn", "bsc")}}
    (out / f"jscc_{args.preset}_{slug}.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"{args.preset} on {name}: {wall:.0f} s, {len(trainings)} codecs trained "
          f"({summary['seconds_per_training']} s each on average)")


if __name__ == "__main__":
    main()
