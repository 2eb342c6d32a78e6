"""How well a click density predicts real clicks: PDE, NSS, 2-D KS, WD, PL1 (CONTRACT §7)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


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
