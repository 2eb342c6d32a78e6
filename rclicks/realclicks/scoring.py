"""Scoring click simulators against real clicks (the work of ``rclicks score-simulator``).

For every click set of ``clicks.csv`` on the dataset (one image, one object, one round) the
simulator's density is compared with where people really clicked (CONTRACT §7):

- PDE: mean of the sum-normalised density at the real clicks (higher is better);
- NSS: mean of the standardised density at the real clicks (higher is better);
- KS: share of ``batches`` sampled click sets, each as large as the real one, whose 2-D
  two-sample KS p-value against the real clicks exceeds 0.05 (higher is better);
- WD: Wasserstein-1 distance between a sampled set and the real clicks / object box diagonal,
  averaged over the batches (lower is better);
- PL1: mean over all (real, sampled) pairs of |dx| / box width + |dy| / box height, averaged over
  the batches (lower is better).

By default the density counts only inside the error region (what rclicks does with a
simulator); ``whole_map=True`` scores the map as the simulator returns it (the reference
scored the clickability network's map that way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rclicks.clicks import check_density, trajectory_rng
from rclicks.errors import PluginError
from rclicks.metrics import ks2d_pvalues, nss, pde, pl1, wd
from rclicks.protocols import BatchDensity, ClickSimulator, is_indexable
from rclicks.realclicks.clicks_csv import ClickTarget

METRICS = ("PDE", "NSS", "KS", "WD", "PL1")
HIGHER_IS_BETTER = {"PDE": True, "NSS": True, "KS": True, "WD": False, "PL1": False}
KS_ALPHA = 0.05


# -- one click set ----------------------------------------------------------------------------


def sample_from(density: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` pixels drawn proportionally to ``density``: (xs, ys)."""
    flat = np.asarray(density, dtype=np.float64).ravel()
    support = np.flatnonzero(flat > 0)
    p = flat[support]
    idx = support[rng.choice(support.size, size=n, p=p / p.sum())]
    ys, xs = np.divmod(idx, density.shape[1])
    return xs, ys


def score_density(
    density: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    box_hw: tuple[int, int],
    rng: np.random.Generator,
    batches: int = 100,
) -> dict[str, float]:
    """PDE, NSS, KS, WD and PL1 of one density against real clicks (xs, ys)."""
    xs = np.asarray(xs, dtype=np.int64)
    ys = np.asarray(ys, dtype=np.int64)
    n = xs.size
    h, w = (max(int(box_hw[0]), 1), max(int(box_hw[1]), 1))
    out = {"PDE": pde(density, xs, ys), "NSS": nss(density, xs, ys)}
    sx, sy = sample_from(density, n * batches, rng)
    sx = sx.reshape(batches, n).astype(np.float64)
    sy = sy.reshape(batches, n).astype(np.float64)
    if n >= 2:
        p = ks2d_pvalues(xs, ys, sx, sy)
        out["KS"] = float(np.mean(p > KS_ALPHA))  # NaN p-values count as rejections
    else:
        out["KS"] = float("nan")
    real = np.stack([xs, ys], axis=1).astype(np.float64)
    sampled = [np.stack([sx[i], sy[i]], axis=1) for i in range(batches)]
    out["WD"] = float(np.mean([wd(real, s, (h, w)) for s in sampled]))
    out["PL1"] = float(np.mean([pl1(real, s, (h, w)) for s in sampled]))
    return out


# -- a whole dataset --------------------------------------------------------------------------


@dataclass
class ScoreConfig:
    batches: int = 100
    seed: int = 0
    whole_map: bool = False


def _densities(sim: ClickSimulator, group: list[ClickTarget]) -> list[np.ndarray]:
    """Whole H×W density maps (the score may count the map outside the error region)."""
    image = group[0].sample.image
    if isinstance(sim, BatchDensity):
        n = len(group)
        dens = list(sim.density_batch([image] * n, [t.gt for t in group], [t.error for t in group]))
    else:
        dens = [sim.density(image, t.gt, t.error) for t in group]
    out = []
    for t, d in zip(group, dens):
        who = f"simulator {type(sim).__name__} (click set {t.clicks.full_stem})"
        d = np.asarray(d)
        if d.shape != t.gt.shape:
            raise PluginError(f"{who} returned a density of shape {d.shape}, expected {t.gt.shape}")
        try:
            check_density(d, who)
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        out.append(d.astype(np.float64, copy=False))
    return out


def score_targets(
    simulators: dict[str, Any],
    targets: Iterable[ClickTarget],
    config: ScoreConfig,
    dataset: str,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (click set, simulator). Targets of the same image are scored together
    (one ``density_batch`` call per simulator and image). Deterministic per seed: each row's
    sampling generator derives from (seed, dataset, full_stem, simulator)."""
    rows: list[dict[str, Any]] = []
    pending: list[ClickTarget] = []

    def flush() -> None:
        if not pending:
            return
        usable = [t for t in pending if t.xs.size and t.error.any()]
        for name, sim in simulators.items():
            dens = _densities(sim, usable) if usable else []
            for t, d in zip(usable, dens):
                fallback = False
                if not config.whole_map:
                    d = d * t.error
                if not d.any():
                    d, fallback = t.error.astype(np.float64), True
                rng = trajectory_rng(config.seed, dataset, t.clicks.full_stem, name)
                m = score_density(d, t.xs, t.ys, t.box_hw, rng, config.batches)
                row = {
                    "dataset": dataset,
                    "full_stem": t.clicks.full_stem,
                    "sample_id": t.sample.sample_id,
                    "instance_id": t.instance_id,
                    "click_type": t.clicks.click_type,
                    "model_type": t.clicks.model_type,
                    "simulator": name,
                    "clicks": int(t.xs.size),
                    **m,
                    "fallback": fallback,
                }
                rows.append(row)
                if on_row is not None:
                    on_row(row)
        pending.clear()

    for t in targets:
        if pending and t.sample.sample_id != pending[0].sample.sample_id:
            flush()
        pending.append(t)
    flush()
    return rows


def mean_rows(rows: Sequence[dict[str, Any]], by_click_type: bool = True) -> list[dict[str, Any]]:
    """Means of every metric per (dataset, simulator) over click sets (``click_type`` "all"),
    and per click type when ``by_click_type``; NaN values (KS of single clicks) are skipped."""
    keys: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        keys.setdefault((r["dataset"], r["simulator"], "all"), []).append(r)
        if by_click_type:
            keys.setdefault((r["dataset"], r["simulator"], r["click_type"]), []).append(r)
    out = []
    order = {"all": 0, "first": 1, "fn": 2, "fp": 3}
    for (ds, sim, ct), group in sorted(keys.items(), key=lambda kv: (kv[0][0], order[kv[0][2]])):
        entry: dict[str, Any] = {
            "dataset": ds,
            "simulator": sim,
            "click_type": ct,
            "sets": len(group),
        }
        for m in METRICS:
            vals = np.array([g[m] for g in group], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            entry[m] = float(vals.mean()) if vals.size else None
        out.append(entry)
    return out


# -- files -------------------------------------------------------------------------------------


ROW_COLUMNS = (
    "dataset",
    "full_stem",
    "sample_id",
    "instance_id",
    "click_type",
    "model_type",
    "simulator",
    "clicks",
    *METRICS,
    "fallback",
)
MEAN_COLUMNS = ("dataset", "simulator", "click_type", "sets", *METRICS)


def write_csv(path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    import csv
    import os

    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    os.replace(tmp, path)


def samples_for(dataset: Any, wanted: set[str]):
    """The dataset's samples that carry click sets (loading only those when indexable)."""
    if is_indexable(dataset):
        for i, sid in enumerate(dataset.sample_ids()):
            if sid in wanted:
                yield dataset[i]
        return
    for s in dataset:
        if s.sample_id in wanted:
            yield s
