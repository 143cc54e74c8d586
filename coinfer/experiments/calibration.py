"""How well does "time = FLOPs / FLOP/s" predict real time? Device parts timed on this machine.

Section V-C of Shao & Zhang (2020) turns on-device computation into seconds with one number, the
device's FLOP/s (:mod:`coinfer.core.latency`). :func:`calibrate` times device parts of the CIFAR
ResNet18 (:func:`coinfer.core.costs.time_forward`) and fits one *effective* FLOP/s to them;
chapter 6 and ``benchmarks/latency_calibration.py`` show the gap. A measurement, not a committed
table: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

import torch

from coinfer.core.costs import profile_splits, time_forward
from coinfer.core.network import resnet18, split
from coinfer.units import FLOPS_PER_MAC


@dataclass(frozen=True)
class CalibrationRow:
    """Measured vs FLOP-predicted time of one device part."""

    width: float
    split: str
    device_macs: int
    measured_s: float        # median over repeats
    predicted_s: float       # 2 * MACs / effective FLOP/s

    @property
    def ratio(self) -> float:
        """measured / predicted (1 = the FLOP model is exact)."""
        return self.measured_s / self.predicted_s


def calibrate(widths: Sequence[float] = (0.125, 1.0), points: Sequence[str] = ("stem", "layer1.1", "layer2.1",
              "layer3.1", "pool"), repeats: int = 20, warmup: int = 3, seed: int = 0
              ) -> tuple[float, list[CalibrationRow]]:
    """Time device parts on this machine and compare them with the FLOP model.

    The effective speed is fitted as total FLOPs / total median time over all measured parts
    (a least-work-weighted average, dominated by the largest parts); each row's prediction uses it.

    Parameters
    ----------
    widths : sequence of float
        Network widths to time (1/8: the quick preset; 1: the paper's).
    points : sequence of str
        Split points whose device parts are timed.
    repeats, warmup : int
        Timed rounds, and untimed passes first (see :func:`coinfer.core.costs.time_forward`).
    seed : int
        Seeds the random initialization (the weights do not change the time).

    Returns
    -------
    effective_flops : float
        FLOP/s of this machine for these networks, as the FLOP model sees it.
    rows : list of CalibrationRow

    Examples
    --------
    >>> from coinfer.experiments.calibration import calibrate
    >>> effective, rows = calibrate(widths=(1 / 16,), points=("stem", "pool"), repeats=2, warmup=1)
    >>> [r.split for r in rows], effective > 0
    (['stem', 'pool'], True)
    """
    torch.manual_seed(seed)
    parts = []      # (width, point, MACs, device part)
    for width in widths:
        model = resnet18(width=width).eval()
        macs = {row.point: row.device_macs for row in profile_splits(model)}
        parts += [(width, point, macs[point], split(model, point)[0]) for point in points]
    # Round-robin over the parts, one run each per round, so that a burst of load from other
    # processes slows every part alike instead of a few of them.
    times: list[list[float]] = [[] for _ in parts]
    for _, _, _, part in parts:
        time_forward(part, (3, 32, 32), repeats=1, warmup=warmup)
    for _ in range(repeats):
        for i, (_, _, _, part) in enumerate(parts):
            times[i] += time_forward(part, (3, 32, 32), repeats=1, warmup=0)
    measured = [(w, p, m, statistics.median(t)) for (w, p, m, _), t in zip(parts, times)]
    effective = sum(FLOPS_PER_MAC * m for _, _, m, _ in measured) / sum(s for *_, s in measured)
    rows = [CalibrationRow(w, p, m, s, FLOPS_PER_MAC * m / effective) for w, p, m, s in measured]
    return effective, rows
