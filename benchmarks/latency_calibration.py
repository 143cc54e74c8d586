"""How well does "time = FLOPs / FLOP/s" predict real time? Device parts timed on this CPU.

Section V-C of Shao & Zhang (2020) turns on-device computation into seconds with one number, the
device's FLOP/s. This script times the device part of the CIFAR ResNet18 at several split points,
for the quick preset's width (1/8) and the paper's (1), one image at a time (batch 1, the latency
case), and compares each median time with the FLOP model's prediction at one *effective* FLOP/s
fitted to all of them (total FLOPs / total time). A ratio of 1 means the FLOP model is exact.

    python benchmarks/latency_calibration.py [--threads 1] [--repeats 60] [--out PATH]

Prints a table and writes benchmarks/out/latency_calibration.json (chapter 6 reads the committed
run, data/results/benchmarks/latency_calibration_cpu.json, made with
``--out data/results/benchmarks/latency_calibration_cpu.json``). Timings are not asserted in tests:
they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coinfer.experiments.calibration import calibrate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1: a shared machine)")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.125, 1.0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "latency_calibration.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()

    effective, rows = calibrate(widths=args.widths, repeats=args.repeats, warmup=args.warmup)
    per_width = {}
    for width in args.widths:
        mine = [r for r in rows if r.width == width]
        per_width[width] = sum(2 * r.device_macs for r in mine) / sum(r.measured_s for r in mine)

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), batch 1, median of {args.repeats} runs after {args.warmup} warm-up")
    print(f"effective speed over all parts: {effective / 1e9:.2f} GFLOP/s; per width: "
          + ", ".join(f"{w:g}: {f / 1e9:.2f} GFLOP/s" for w, f in per_width.items()))
    header = f"{'width':>6} {'split':<9} {'device MMACs':>12} {'measured ms':>12} {'predicted ms':>13} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r.width:>6g} {r.split:<9} {r.device_macs / 1e6:>12.2f} {r.measured_s * 1e3:>12.3f} "
              f"{r.predicted_s * 1e3:>13.3f} {r.ratio:>6.2f}")
    print("ratio = measured / predicted at the effective speed; > 1: slower than its FLOPs suggest.")

    from coinfer.results import write_measurement

    out = write_measurement(args.out, "latency-calibration", "random CIFAR-shaped images (batch 1)", "quick and paper widths",
                            time.time() - started, {
        "settings": {"repeats": args.repeats, "warmup": args.warmup, "widths": args.widths},
        "effective_flops": effective, "effective_flops_per_width": {str(k): v for k, v in per_width.items()},
        "rows": [{"width": r.width, "split": r.split, "device_macs": r.device_macs, "measured_s": r.measured_s,
                  "predicted_s": r.predicted_s, "ratio": r.ratio} for r in rows]})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
