#!/usr/bin/env python
"""Benchmark of the ``clickability`` simulator: batched vs one-at-a-time densities.

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clickability.py [--repeats 3] [--n 11]

One 480x640 synthetic image, ``n`` (default 11: baseline + 10 groups) trajectories at one
click step (each with its own error mask), a full-size ``ClickabilityNet`` with random
weights at 416x416. It times ``density_batch`` over all trajectories (one network batch)
against ``density`` called once per trajectory, and prints the medians over the repeats, ms
per density and the ratio. A measurement, not a test: it asserts only that both agree.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _inputs(n: int, h: int = 480, w: int = 640, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (60 + 40 * np.sin(xx / 23.0) + 30 * np.cos(yy / 17.0))[..., None].astype(np.uint8)
    gt = ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2 <= 1.0
    image[gt] = (200, 120, 90)
    errs = []
    for _ in range(n):  # a different partial prediction per trajectory
        cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
        pred = ((yy - cy) / (h / 5)) ** 2 + ((xx - cx) / (w / 6)) ** 2 <= 1.0
        errs.append(gt & ~pred)
    return image, gt, errs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=11, help="trajectories at the click step")
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    import torch

    from rclicks.clickability.simulator import make_clickability

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    sim = make_clickability(random_weights=True, batch_size=args.batch_size)
    image, gt, errs = _inputs(args.n)
    n = args.n
    print(
        f"clickability: {n} trajectories, image 480x640, net at 416x416, "
        f"torch threads {torch.get_num_threads()}, batch_size {args.batch_size}"
    )
    sim.density(image, gt, errs[0])  # warm-up

    batched, single = [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        b = sim.density_batch([image] * n, [gt] * n, errs)
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s = [sim.density(image, gt, e) for e in errs]
        single.append(time.perf_counter() - t0)
        diff = max(float(np.abs(x - y).max()) for x, y in zip(b, s))
        print(f"  repeat {r + 1}: batched {batched[-1]:.2f} s, one at a time {single[-1]:.2f} s")
        assert diff < 1e-4, f"batched and single densities differ by {diff}"
    mb, ms = statistics.median(batched), statistics.median(single)
    print(f"batched (density_batch):      {mb:.2f} s total, {1000 * mb / n:.0f} ms per density")
    print(f"one at a time (density loop): {ms:.2f} s total, {1000 * ms / n:.0f} ms per density")
    print(f"ratio one-at-a-time / batched: {ms / mb:.2f}x (max abs difference {diff:.2e})")


if __name__ == "__main__":
    main()
