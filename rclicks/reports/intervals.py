"""95% bootstrap confidence intervals of a run's own numbers (``rclicks report --ci``): NoC,
Sample NoC, ΔSB and ΔGR per dataset × simulator.

Each replicate draws the instances with replacement and, for a clicking-group simulator, the
groups (× repeats) within each drawn instance, then recomputes the statistic exactly as
``summary.json`` defines it (docs/metrics.md); the interval is the 2.5–97.5 percentile range.
Seeded per (dataset, simulator, statistic): the same run gives the same intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from rclicks.clicks import trajectory_rng
from rclicks.reports.comparison import INSTANCE, UNIT, metric_of, trajectory_values
from rclicks.reports.runs import RunData

BASELINE = "baseline"


def _draws(
    n: int, m: int, resamples: int, rng: np.random.Generator, chunk: int = 500
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Chunks of (instance indices R×n, unit indices R×n×m or None for one unit)."""
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        inst = rng.integers(0, n, size=(r, n))
        units = rng.integers(0, m, size=(r, n, m)) if m > 1 else None
        yield inst, units


NAN2 = (float("nan"), float("nan"))


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


class RunIntervals:
    """The intervals of one run, computed on first request and kept."""

    def __init__(self, run: RunData, resamples: int = 10_000, seed: int = 0) -> None:
        self.run = run
        self.resamples = int(resamples)
        self.seed = int(seed)
        self._frames: dict[str, pd.DataFrame] = {}
        self._cache: dict[tuple, tuple[float, float]] = {}

    def _matrix(self, metric: str, dataset: str, simulator: str) -> pd.DataFrame:
        """instances × (group, repeat) values of ``metric`` (rows sorted by instance)."""
        if metric not in self._frames:
            self._frames[metric] = trajectory_values(self.run, metric_of(metric))
        f = self._frames[metric]
        sub = f[(f["dataset"] == dataset) & (f["simulator"] == simulator)]
        return sub.pivot_table(index=INSTANCE, columns=UNIT, values="value")

    def _rng(self, *key: Any) -> np.random.Generator:
        return trajectory_rng(self.seed, "report-ci", *key)

    def noc(self, dataset: str, simulator: str, t: str) -> tuple[float, float]:
        """NoC@t of a single trajectory, or the Sample NoC@t of a clicking-group simulator."""
        key = ("noc", dataset, simulator, t)
        if key not in self._cache:
            m = self._matrix(f"noc@{t}", dataset, simulator).to_numpy()
            if m.size == 0:
                self._cache[key] = NAN2
                return NAN2
            reps = []
            for inst, units in _draws(*m.shape, self.resamples, self._rng(*key)):
                if units is None:
                    reps.append(m[inst, 0].mean(axis=1))
                else:
                    reps.append(m[inst[..., None], units].mean(axis=(1, 2)))
            self._cache[key] = _percentiles(np.concatenate(reps))
        return self._cache[key]

    def delta_sb(self, dataset: str, simulator: str, t: str) -> tuple[float, float]:
        """ΔSB@t: mean over instances of (group-mean NoC − baseline NoC) / baseline NoC."""
        key = ("dSB", dataset, simulator, t)
        if key not in self._cache:
            g = self._matrix(f"noc@{t}", dataset, simulator)
            b = self._matrix(f"noc@{t}", dataset, BASELINE)
            if b.empty or g.empty:
                self._cache[key] = NAN2
                return NAN2
            base = b.reindex(g.index).to_numpy()[:, 0]
            m = g.to_numpy()
            reps = []
            for inst, units in _draws(*m.shape, self.resamples, self._rng(*key)):
                sample = m[inst[..., None], units].mean(axis=2) if units is not None else m[inst, 0]
                with np.errstate(invalid="ignore", divide="ignore"):
                    reps.append(np.nanmean((sample - base[inst]) / base[inst], axis=1))
            self._cache[key] = _percentiles(np.concatenate(reps))
        return self._cache[key]

    def delta_gr(self, dataset: str, simulator: str, t: str) -> tuple[float, float]:
        """ΔGR@t: mean over instances of (NoC in G1 − NoC in GN) / NoC in GN (instances
        resampled; the groups are fixed by definition)."""
        key = ("dGR", dataset, simulator, t)
        if key not in self._cache:
            g = self._matrix(f"noc@{t}", dataset, simulator)
            if g.empty:
                self._cache[key] = NAN2
                return NAN2
            by_group = g.T.groupby(level="group").mean().T  # mean over repeats
            first, last = by_group.iloc[:, 0].to_numpy(), by_group.iloc[:, -1].to_numpy()
            per = (first - last) / last
            reps = []
            n = per.size
            for inst, _ in _draws(n, 1, self.resamples, self._rng(*key)):
                reps.append(np.nanmean(per[inst], axis=1))
            self._cache[key] = _percentiles(np.concatenate(reps))
        return self._cache[key]
