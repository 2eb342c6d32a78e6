"""Metrics (CONTRACT §7) as pure functions over arrays and per-click rows.

Everything in ``summary.json`` can be recomputed from ``per_click.parquet`` with
:func:`summarize`; nothing here needs the engine or torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

THRESHOLDS = (0.85, 0.90, 0.95)


def iou(gt_mask: np.ndarray, pred_mask: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union outside ``ignore`` (integer pixel counts; NaN if both empty)."""
    gt = np.asarray(gt_mask, dtype=bool)
    pred = np.asarray(pred_mask, dtype=bool)
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        gt, pred = gt & keep, pred & keep
    inter = int(np.count_nonzero(gt & pred))
    union = int(np.count_nonzero(gt | pred))
    return inter / union if union else float("nan")


def noc(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """1-based index of the first click with IoU >= threshold, else ``max_clicks``."""
    arr = np.asarray(ious, dtype=np.float64)[:max_clicks]
    hit = np.flatnonzero(arr >= threshold)
    return int(hit[0]) + 1 if hit.size else int(max_clicks)


def nof(nocs: Sequence[int], max_clicks: int = 20) -> int:
    """Number of instances whose NoC equals ``max_clicks`` (the RITM convention)."""
    return int(np.count_nonzero(np.asarray(nocs) == max_clicks))


def iou_auc(ious: Sequence[float], max_clicks: int | None = None) -> float:
    """Trapezoid area under the IoU curve (unit spacing) divided by ``max_clicks - 1``."""
    arr = np.asarray(ious, dtype=np.float64)
    if max_clicks is not None:
        arr = arr[:max_clicks]
    if arr.size == 1:
        return float(arr[0])
    return float(((arr[1:] + arr[:-1]) / 2).sum() / (arr.size - 1))


# -- clickability metrics against real clicks -------------------------------------------------


def _normalised(density: np.ndarray) -> np.ndarray:
    d = np.asarray(density, dtype=np.float64)
    return d / (d.sum() + 1e-9)


def pde(density: np.ndarray, xs: Sequence[int], ys: Sequence[int]) -> float:
    """Probability density estimate: mean of the sum-normalised density at the real clicks."""
    s = _normalised(density)
    return float(np.mean(s[np.asarray(ys, dtype=int), np.asarray(xs, dtype=int)]))


def nss(density: np.ndarray, xs: Sequence[int], ys: Sequence[int]) -> float:
    """Normalised scanpath saliency: mean of the standardised density at the real clicks."""
    s = _normalised(density)
    z = (s - s.mean()) / (s.std() + 1e-9)
    return float(np.mean(z[np.asarray(ys, dtype=int), np.asarray(xs, dtype=int)]))


def _quadrant_fractions(px: np.ndarray, py: np.ndarray, x: np.ndarray, y: np.ndarray):
    """For every origin (px[..., i], py[..., i]): fractions of the points (x, y) (shape
    (..., m), batched alike) in the quadrants (<=, <=), (<=, >), (>, <=) and the rest.
    Returns shape (..., n, 4)."""
    left = x[..., None, :] <= px[..., :, None]
    below = y[..., None, :] <= py[..., :, None]
    m = x.shape[-1]
    a = np.count_nonzero(left & below, axis=-1) / m
    b = np.count_nonzero(left & ~below, axis=-1) / m
    c = np.count_nonzero(~left & below, axis=-1) / m
    return np.stack([a, b, c, 1.0 - a - b - c], axis=-1)


def _max_quadrant_gap(x1, y1, x2, y2) -> np.ndarray:
    """Peacock's maximal quadrant difference with origins at sample 1's points, per batch."""
    n1 = x1.shape[-1]
    d = _quadrant_fractions(x1, y1, x1, y1) - _quadrant_fractions(x1, y1, x2, y2)
    # the origin point itself sits in quadrant 0 of its own sample; counting it on either side
    d[..., 0] -= 1.0 / n1
    flat = d.reshape(d.shape[:-2] + (-1,))
    return np.maximum(-flat.min(axis=-1), flat.max(axis=-1) + 1.0 / n1)


def _ks2d_batches(x1, y1, xs2, ys2) -> np.ndarray:
    """Fasano–Franceschini statistic (mean of both directions) of (x1, y1) against each row
    of the batches (xs2, ys2), shape B × n2."""
    b, n1 = xs2.shape[0], x1.size
    bx1 = np.broadcast_to(x1, (b, n1))
    by1 = np.broadcast_to(y1, (b, n1))
    return 0.5 * (_max_quadrant_gap(bx1, by1, xs2, ys2) + _max_quadrant_gap(xs2, ys2, bx1, by1))


def _floats(*arrays):
    return (np.asarray(v, dtype=np.float64).ravel() for v in arrays)


def ks2d_statistic(x1, y1, x2, y2) -> float:
    """Fasano–Franceschini two-sample 2-D KS statistic (mean of both directions)."""
    x1, y1, x2, y2 = _floats(x1, y1, x2, y2)
    return float(_ks2d_batches(x1, y1, x2[None], y2[None])[0])


def ks2d_pvalues(x1, y1, xs2, ys2) -> np.ndarray:
    """2-D two-sample KS p-values (Peacock / Fasano–Franceschini statistic, analytic p-value
    with the Press et al. correlation correction) of one sample (x1, y1) against each row of
    the batches ``xs2``, ``ys2`` (shape B × n2), all at once (NumPy broadcasting, no Python
    loop over points). NaN where a sample has a constant coordinate (no correlation)."""
    from scipy.stats import kstwobign

    x1, y1 = _floats(x1, y1)
    xs2 = np.atleast_2d(np.asarray(xs2, dtype=np.float64))
    ys2 = np.atleast_2d(np.asarray(ys2, dtype=np.float64))
    n1, n2 = x1.size, xs2.shape[1]
    if x1.size != y1.size or xs2.shape != ys2.shape or n1 < 2 or n2 < 2:
        raise ValueError("ks2d_pvalue needs two samples of at least 2 points, x and y alike")
    d = _ks2d_batches(x1, y1, xs2, ys2)
    sqen = math.sqrt(n1 * n2 / (n1 + n2))
    r1 = _pearson_rows(x1, y1)
    r2 = _pearson_rows(xs2, ys2)
    r = np.sqrt(1.0 - (r1 * r1 + r2 * r2) / 2.0)
    return kstwobign.sf(d * sqen / (1.0 + r * (0.25 - 0.75 / sqen)))


def ks2d_pvalue(x1, y1, x2, y2) -> float:
    """Analytic p-value of the 2-D two-sample KS test (Peacock / Fasano–Franceschini, with the
    Press et al. correlation correction). NaN when a sample has a constant coordinate."""
    x2, y2 = _floats(x2, y2)
    return float(ks2d_pvalues(x1, y1, x2[None], y2[None])[0])


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; NaN for a constant row."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=-1) / den
    return np.where(den == 0, np.nan, np.clip(r, -1.0, 1.0))


def wasserstein_equal(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance (Euclidean ground cost) between two point sets of equal size and
    uniform weights: the optimal assignment's mean cost (Birkhoff: an optimal transport plan
    between such sets is a permutation). Equals ``scipy.stats.wasserstein_distance_nd``."""
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"point sets differ in shape: {a.shape} vs {b.shape}")
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def wd(real_xy: np.ndarray, sampled_xy: np.ndarray, box_hw: tuple[float, float]) -> float:
    """n-D Wasserstein distance between point sets, divided by the box diagonal (equal-size
    sets by optimal assignment, others by scipy's linear program)."""
    h, w = box_hw
    real = np.asarray(real_xy, dtype=np.float64)
    sampled = np.asarray(sampled_xy, dtype=np.float64)
    if real.shape == sampled.shape:
        dist = wasserstein_equal(sampled, real)
    else:
        from scipy.stats import wasserstein_distance_nd

        dist = wasserstein_distance_nd(sampled, real)
    return float(dist / math.hypot(h, w))


def pl1(real_xy: np.ndarray, sampled_xy: np.ndarray, box_hw: tuple[float, float]) -> float:
    """Mean over all (real, sampled) pairs of |dx|/box width + |dy|/box height."""
    h, w = box_hw
    r = np.asarray(real_xy, dtype=np.float64)
    s = np.asarray(sampled_xy, dtype=np.float64)
    dx = np.abs(r[:, None, 0] - s[None, :, 0]) / w
    dy = np.abs(r[:, None, 1] - s[None, :, 1]) / h
    return float((dx + dy).mean())


# -- aggregation over per-click rows ----------------------------------------------------------


def _pct(t: float) -> str:
    return f"{round(t * 100):d}"


def trajectories(columns: dict[str, np.ndarray], max_clicks: int) -> dict[str, Any]:
    """Group per-click rows into trajectories: keys and an (n_traj, max_clicks) IoU array."""
    keys = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat"]
    n = len(columns["click"])
    order = np.lexsort([columns["click"]] + [columns[k] for k in reversed(keys)])
    cols = {k: np.asarray(v)[order] for k, v in columns.items()}
    if n % max_clicks:
        raise ValueError(f"{n} rows is not a whole number of {max_clicks}-click trajectories")
    t = n // max_clicks
    clicks = cols["click"].reshape(t, max_clicks)
    if not (clicks == np.arange(1, max_clicks + 1)[None, :]).all():
        raise ValueError("every trajectory must have clicks 1..max_clicks exactly once")
    out = {k: cols[k][::max_clicks] for k in keys}
    out["iou"] = cols["iou"].astype(np.float64).reshape(t, max_clicks)
    out["seconds"] = cols["seconds"].astype(np.float64).reshape(t, max_clicks)
    return out


def replay_simulators(columns: dict[str, Sequence], max_clicks: int) -> list[str]:
    """Simulators whose rows are replayed real clicks: only single-click trajectories, group 0,
    told apart from simulated ones by their length (< max_clicks) or their repeats (> 1)."""
    sims = np.asarray(columns["simulator"])
    out = []
    for name in np.unique(sims):
        sel = sims == name
        if (np.asarray(columns["group"])[sel] != 0).any():
            continue
        single = bool((np.asarray(columns["click"])[sel] == 1).all())
        many = int(np.max(np.asarray(columns["repeat"])[sel])) > 1
        if single and (max_clicks > 1 or many):
            out.append(str(name))
    return out


def summarize(
    columns: dict[str, Sequence],
    max_clicks: int,
    thresholds: Sequence[float] = THRESHOLDS,
    replay: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One entry per (dataset, simulator), recomputed from the per-click rows alone.
    ``replay``: simulators replaying real users' first clicks (default: recognised from the
    rows, see :func:`replay_simulators`); they get ``kind = "users"`` entries."""
    cols = {k: np.asarray(v) for k, v in columns.items()}
    if len(cols.get("click", [])) == 0:
        return []
    if replay is None:
        replay = replay_simulators(cols, max_clicks)
    rep = np.isin(cols["simulator"], np.asarray(list(replay), dtype=object))
    results = _users({k: v[rep] for k, v in cols.items()}) if rep.any() else []
    if not rep.all():
        results += _simulated({k: v[~rep] for k, v in cols.items()}, max_clicks, thresholds)
    return sorted(results, key=lambda e: (e["dataset"], e["simulator"]))


def _users(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """IoU after each user's first click, and the User NSR (per-instance std / mean of those
    IoUs across users: how unequal the first click leaves people), per dataset and instance."""
    first = cols["click"] == 1
    results = []
    pairs = sorted({(d, s) for d, s in zip(cols["dataset"], cols["simulator"])})
    for dataset, simulator in pairs:
        sel = first & (cols["dataset"] == dataset) & (cols["simulator"] == simulator)
        acc: dict[tuple[str, str], list[float]] = {}
        for sid, iid, v in zip(cols["sample_id"][sel], cols["instance_id"][sel], cols["iou"][sel]):
            acc.setdefault((str(sid), str(iid)), []).append(float(v))
        per = []
        for (sid, iid), vals in sorted(acc.items()):
            a = np.asarray(vals)
            mean, std = float(a.mean()), float(a.std())
            per.append(
                {
                    "sample_id": sid,
                    "instance_id": iid,
                    "users": int(a.size),
                    "IoU@1": mean,
                    "IoU@1_std": std,
                    "User NSR": std / mean if mean > 0 else None,
                }
            )
        nsr = [p["User NSR"] for p in per if p["User NSR"] is not None]
        results.append(
            {
                "dataset": dataset,
                "simulator": simulator,
                "kind": "users",
                "instances": len(per),
                "users": int(np.count_nonzero(sel)),
                "IoU@1": float(np.mean([p["IoU@1"] for p in per])),
                "IoU@1_std": float(np.mean([p["IoU@1_std"] for p in per])),
                "User NSR": float(np.mean(nsr)) if nsr else None,
                "SPC": float(cols["seconds"][sel].mean()),
                "per_instance": per,
            }
        )
    return results


def _simulated(
    cols: dict[str, np.ndarray], max_clicks: int, thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    tr = trajectories(cols, max_clicks)
    ious = tr["iou"]
    nocs = {t: np.array([noc(r, t, max_clicks) for r in ious]) for t in thresholds}
    aucs = np.array([iou_auc(r, max_clicks) for r in ious])
    inst = np.array(
        [f"{s}\x1f{i}" for s, i in zip(tr["sample_id"], tr["instance_id"])], dtype=object
    )
    results = []
    pairs = sorted({(d, s) for d, s in zip(tr["dataset"], tr["simulator"])})
    for dataset, simulator in pairs:
        sel = (tr["dataset"] == dataset) & (tr["simulator"] == simulator)
        base_sel = (tr["dataset"] == dataset) & (tr["simulator"] == "baseline")
        entry: dict[str, Any] = {"dataset": dataset, "simulator": simulator}
        groups = np.unique(tr["group"][sel])
        if groups.size == 1 and groups[0] == 0:
            entry.update(_single(sel, inst, nocs, aucs, ious, tr, max_clicks))
        else:
            entry.update(_grouped(sel, base_sel, inst, nocs, aucs, ious, tr, max_clicks))
        results.append(entry)
    return results


def _per_instance(values: np.ndarray, inst: np.ndarray) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for k, v in zip(inst, values):
        acc.setdefault(k, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _single(sel, inst, nocs, aucs, ious, tr, max_clicks) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "single", "instances": int(len(set(inst[sel])))}
    for t, arr in nocs.items():
        out[f"NoC@{_pct(t)}"] = float(arr[sel].mean())
        out[f"NoF@{_pct(t)}"] = nof(arr[sel], max_clicks)
    out["1-mIoU"] = float(ious[sel, 0].mean())
    if max_clicks >= 5:
        out["5-mIoU"] = float(ious[sel, 4].mean())
    out["IoU-AuC"] = float(aucs[sel].mean())
    out["SPC"] = float(tr["seconds"][sel].mean())
    return out


def _grouped(sel, base_sel, inst, nocs, aucs, ious, tr, max_clicks) -> dict[str, Any]:
    groups = sorted(int(g) for g in np.unique(tr["group"][sel]))
    gsel = {g: sel & (tr["group"] == g) for g in groups}
    instances = sorted(set(inst[sel]))
    out: dict[str, Any] = {
        "kind": "groups",
        "instances": len(instances),
        "groups": len(groups),
        "repeats": int(np.max(tr["repeat"][sel])),
    }

    def table(values: np.ndarray) -> np.ndarray:
        """instances × groups matrix of per-(instance, group) means over repeats."""
        m = np.full((len(instances), len(groups)), np.nan)
        index = {k: i for i, k in enumerate(instances)}
        for j, g in enumerate(groups):
            for k, v in _per_instance(values[gsel[g]], inst[gsel[g]]).items():
                m[index[k], j] = v
        return m

    def base(values: np.ndarray) -> np.ndarray:
        got = _per_instance(values[base_sel], inst[base_sel])
        return np.array([got.get(k, np.nan) for k in instances])

    has_base = bool(base_sel.any())
    per_group: dict[str, list[float]] = {}
    for t, arr in nocs.items():
        p = _pct(t)
        m = table(arr.astype(np.float64))
        out[f"NoC@{p}"] = float(np.nanmean(m.mean(axis=1)))
        out[f"NoC@{p}_std"] = float(np.nanmean(m.std(axis=1)))
        per_group[f"NoC@{p}"] = [float(v) for v in np.nanmean(m, axis=0)]
        nof_g = [
            float(
                np.mean(
                    [
                        nof(arr[gsel[g] & (tr["repeat"] == r)], max_clicks)
                        for r in np.unique(tr["repeat"][gsel[g]])
                    ]
                )
            )
            for g in groups
        ]
        out[f"NoF@{p}"] = float(np.mean(nof_g))
        per_group[f"NoF@{p}"] = nof_g
        out[f"dGR@{p}"] = float(np.nanmean((m[:, 0] - m[:, -1]) / m[:, -1]))
        if has_base:
            b = base(arr.astype(np.float64))
            out[f"dSB@{p}"] = float(np.nanmean((m.mean(axis=1) - b) / b))
        else:
            out[f"dSB@{p}"] = None
    m_auc = table(aucs)
    out["IoU-AuC"] = float(np.nanmean(m_auc.mean(axis=1)))
    out["IoU-AuC_std"] = float(np.nanmean(m_auc.std(axis=1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["NSR"] = float(np.nanmean(m_auc.std(axis=1) / m_auc.mean(axis=1)))
    per_group["IoU-AuC"] = [float(v) for v in np.nanmean(m_auc, axis=0)]
    out["1-mIoU"] = float(np.nanmean(table(ious[:, 0]).mean(axis=1)))
    if max_clicks >= 5:
        out["5-mIoU"] = float(np.nanmean(table(ious[:, 4]).mean(axis=1)))
    out["SPC"] = float(tr["seconds"][sel].mean())
    out["per_group"] = per_group
    return out
