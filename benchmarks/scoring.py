#!/usr/bin/env python
"""Benchmark of ``rclicks score-simulator``'s sampled metrics: vectorised vs straightforward.

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scoring.py [--n 30] [--batches 100]

One click set of ``n`` real clicks (RClicks sets hold tens of clicks) against ``batches``
sampled sets of the same size, as score-simulator does per click set and simulator:

- KS: ``rclicks.metrics.ks2d_pvalues`` (all batches at once, NumPy broadcasting) vs the
  reference's structure — a Python loop over the origin points inside a loop over batches
  (written here plainly, with the same statistic);
- WD: ``rclicks.metrics.wasserstein_equal`` (optimal assignment) vs
  ``scipy.stats.wasserstein_distance_nd`` (a linear program), per batch.

Prints medians over ``--repeats`` and the ratios; checks that both ways agree.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _loop_ks(x1, y1, x2, y2):
    """Per-point loops, as the reference's ndtest does."""
    from scipy.stats import kstwobign

    def quad(x0, y0, xs, ys):
        left, below = xs <= x0, ys <= y0
        n = len(xs)
        a = np.sum(left & below) / n
        b = np.sum(left & ~below) / n
        c = np.sum(~left & below) / n
        return np.array([a, b, c, 1 - a - b - c])

    def maxdist(xa, ya, xb, yb):
        d = np.array(
            [quad(xa[i], ya[i], xa, ya) - quad(xa[i], ya[i], xb, yb) for i in range(len(xa))]
        )
        d[:, 0] -= 1 / len(xa)
        return max(-d.min(), d.max() + 1 / len(xa))

    d = (maxdist(x1, y1, x2, y2) + maxdist(x2, y2, x1, y1)) / 2
    n1, n2 = len(x1), len(x2)
    sqen = math.sqrt(n1 * n2 / (n1 + n2))
    r1, r2 = np.corrcoef(x1, y1)[0, 1], np.corrcoef(x2, y2)[0, 1]
    r = math.sqrt(1 - 0.5 * (r1**2 + r2**2))
    return kstwobign.sf(d * sqen / (1 + r * (0.25 - 0.75 / sqen)))


def _median(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    from scipy.stats import wasserstein_distance_nd

    from rclicks.metrics import ks2d_pvalues, wasserstein_equal

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x1, y1 = rng.integers(0, 400, a.n), rng.integers(0, 300, a.n)
    xs, ys = rng.integers(0, 400, (a.batches, a.n)), rng.integers(0, 300, (a.batches, a.n))

    t_vec, p_vec = _median(lambda: ks2d_pvalues(x1, y1, xs, ys), a.repeats)
    t_loop, p_loop = _median(
        lambda: np.array([_loop_ks(x1, y1, xs[b], ys[b]) for b in range(a.batches)]), a.repeats
    )
    assert np.allclose(p_vec, p_loop, rtol=1e-12, atol=1e-14), "KS implementations disagree"

    real = np.stack([y1, x1], 1)
    sets = [np.stack([ys[b], xs[b]], 1) for b in range(a.batches)]
    t_asg, w_asg = _median(lambda: [wasserstein_equal(s, real) for s in sets], a.repeats)
    t_lp, w_lp = _median(lambda: [wasserstein_distance_nd(s, real) for s in sets], a.repeats)
    assert np.allclose(w_asg, w_lp, rtol=1e-6), "Wasserstein implementations disagree"

    print(f"one click set: n={a.n} real clicks, {a.batches} sampled sets, medians of {a.repeats}")
    print(
        f"KS  vectorised {1000 * t_vec:8.2f} ms   per-point loops {1000 * t_loop:8.2f} ms"
        f"   ratio {t_loop / t_vec:6.1f}x"
    )
    print(
        f"WD  assignment {1000 * t_asg:8.2f} ms   scipy LP        {1000 * t_lp:8.2f} ms"
        f"   ratio {t_lp / t_asg:6.1f}x"
    )


if __name__ == "__main__":
    main()
